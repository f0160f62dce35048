#include "lib/runtime/process_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>

#include "lib/runtime/cgroup.h"
#include "lib/base/cloned_binary.h"
#include "lib/runtime/hooks.h"
#include "lib/runtime/mount.h"
#include "lib/runtime/ns.h"
#include "lib/runtime/process.h"
#include "lib/runtime/spec.h"
#include "lib/runtime/state.h"
#include "lib/runtime/isolation.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"

static const int exec_ns_order[] = { CLONE_NEWUSER, CLONE_NEWIPC,    CLONE_NEWUTS,  CLONE_NEWNET,
                                     CLONE_NEWPID,  CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWNS };

int
berth_process_backend_exec (const char *root, struct berth_state *st, const struct berth_exec_request *r, int *exit_status,
                    berth_err_t *err)
{
  struct berth_process *proc = NULL;
  cleanup_spec struct berth_spec *spec = NULL;
  cleanup_close int console = -1;
  cleanup_close int console_parent = -1;
  cleanup_close int master = -1;
  int ns_fd[ARRAY_SIZE (exec_ns_order)];
  int sync[2] = { -1, -1 };
  pid_t child = -1, pid = -1;
  struct berth_sync_msg m;
  int ret = -1, notify_fd = -1;

  for (size_t i = 0; i < ARRAY_SIZE (ns_fd); i++)
    ns_fd[i] = -1;
  if (berth_spec_from_json (st->config, &spec, err) < 0)
    goto out;
  if (berth_process_from_json (r->process, "process", &proc, err) < 0)
    goto out;
  if (proc->args == NULL || proc->args[0] == NULL)
    {
      berth_error (err, 0, "process.args: must name a command");
      goto out;
    }
  if (proc->terminal)
    {
      if (r->console_fd > 0)
        {
          console = fcntl (r->console_fd, F_DUPFD_CLOEXEC, 3);
          if (console < 0)
            berth_error (err, errno, "dup the console socket");
        }
      else if (r->console_socket)
        console = berth_console_socket_connect (r->console_socket, err);
      else if (r->detach)
        berth_error (err, 0, "process.terminal is true: --console-socket is required with --detach");
      else
        {
          int sp[2];
          if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
            berth_error (err, errno, "socketpair");
          else
            {
              console_parent = sp[0];
              console = sp[1];
            }
        }
      if (console < 0)
        goto out;
    }

  /* Open every namespace of the init before joining any: once in its
     mount namespace, the host's /proc is gone. */
  for (size_t i = 0; i < ARRAY_SIZE (exec_ns_order); i++)
    {
      cleanup_free char *mine = xasprintf ("/proc/self/ns/%s", berth_ns_proc_name (exec_ns_order[i]));
      cleanup_free char *theirs = xasprintf ("/proc/%d/ns/%s", st->pid, berth_ns_proc_name (exec_ns_order[i]));
      struct stat a, b;
      if (stat (theirs, &b) < 0)
        continue;
      if (stat (mine, &a) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        continue;
      ns_fd[i] = berth_ns_open (theirs, exec_ns_order[i], err);
      if (ns_fd[i] < 0)
        goto out;
    }
  if (process_start_time (st->pid) != st->start_time)
    {
      berth_error_code (err, ESRCH, "container `%s` is not running", st->id);
      goto out;
    }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0)
    {
      berth_error (err, errno, "socketpair");
      goto out;
    }

  child = fork ();
  if (child < 0)
    {
      berth_error (err, errno, "fork");
      goto out;
    }
  if (child == 0)
    {
      berth_err_t e = NULL;
      pid_t p;
      close (sync[0]);
      if (st->cgroup && berth_cgroup_enter (st->cgroup, getpid (), &e) < 0)
        berth_sync_fail (sync[1], &e);
      if (proc->has_oom_score_adj)
        {
          char v[16];
          snprintf (v, sizeof (v), "%d", proc->oom_score_adj);
          if (write_file_at (AT_FDCWD, "/proc/self/oom_score_adj", v, strlen (v), &e) < 0)
            berth_sync_fail (sync[1], &e);
        }
      for (size_t i = 0; i < ARRAY_SIZE (exec_ns_order); i++)
        if (ns_fd[i] >= 0 && berth_ns_join (ns_fd[i], exec_ns_order[i], &e) < 0)
          berth_sync_fail (sync[1], &e);
      /* The pid and time namespaces take effect for children: fork once
         more, as a sibling, so the caller can wait for it. */
      p = berth_raw_clone (CLONE_PARENT);
      if (p < 0)
        {
          berth_error (&e, errno, "clone the exec process");
          berth_sync_fail (sync[1], &e);
        }
      if (p > 0)
        {
          berth_sync_send (sync[1], SYNC_PID, p, NULL);
          _exit (0);
        }
      if (proc->terminal)
        {
          int mst, slv;
          cleanup_free char *sp = NULL;
          if (berth_pty_open (&mst, &slv, &sp, proc->console_height, proc->console_width, &e) < 0
              || berth_send_fd (console, mst, "console", &e) < 0 || berth_pty_become_tty (slv, &e) < 0)
            berth_sync_fail (sync[1], &e);
          close (mst);
          close (console);
          if (slv > 2)
            close (slv);
        }
      else if (setsid () < 0 && errno != EPERM)
        {
          berth_error (&e, errno, "setsid");
          berth_sync_fail (sync[1], &e);
        }
      {
        struct berth_exec_opts eo = { .seccomp = spec->seccomp,
                                      .preserve_fds = r->preserve_fds,
                                      .create_cwd = false,
                                      .setgroups_ok = true,
                                      .notify_sock = sync[1] };
        berth_process_exec (proc, &eo, &e);
      }
      berth_sync_fail (sync[1], &e);
    }
  close (sync[1]);
  sync[1] = -1;
  berth_backend_reap (child);
  if (berth_sync_expect (sync[0], SYNC_PID, &m, err) < 0)
    goto out;
  pid = m.value;
  for (;;)
    {
      /* EOF: the process exec'd.  Before it, a seccomp listener fd ("N"),
         or instead of it, an error. */
      int got = -1;
      ssize_t n = berth_recv_msg (sync[0], (char *)&m, sizeof (m), &got, err);
      if (n == 1 && got >= 0 && ((char *)&m)[0] == 'N')
        {
          if (notify_fd >= 0)
            close (notify_fd);
          notify_fd = got;
          continue;
        }
      if (got >= 0)
        close (got);
      if (n == 0)
        break;
      if (n > 0 && (size_t)n > offsetof (struct berth_sync_msg, data) && m.type == SYNC_ERROR)
        berth_error_decode (err, m.data, (size_t)n - offsetof (struct berth_sync_msg, data));
      else if (n > 0)
        berth_error (err, EPROTO, "unexpected message from the exec process");
      if (notify_fd >= 0)
        close (notify_fd);
      berth_backend_reap (pid);
      goto out;
    }
  if (notify_fd >= 0)
    {
      struct berth_state tmp = *st;
      tmp.pid = pid;
      if (berth_process_seccomp_listener (root, &tmp, notify_fd, err) < 0)
        {
          kill (pid, SIGKILL);
          berth_backend_reap (pid);
          goto out;
        }
    }
  if (r->pid_file && berth_backend_write_pid_file (r->pid_file, pid, err) < 0)
    {
      kill (pid, SIGKILL);
      berth_backend_reap (pid);
      goto out;
    }
  if (r->detach)
    {
      if (r->pid_out)
        *r->pid_out = pid;
      ret = 0;
      goto out;
    }
  berth_backend_forward_signals (pid);
  if (console_parent >= 0)
    {
      if (berth_recv_fd (console_parent, &master, err) == 0)
        berth_pty_proxy (master, err);
      berth_error_release (err);
    }
  ret = berth_backend_wait_status (pid, exit_status, err);
  berth_backend_forward_signals (0);

out:
  for (size_t i = 0; i < ARRAY_SIZE (ns_fd); i++)
    if (ns_fd[i] >= 0)
      close (ns_fd[i]);
  if (sync[0] >= 0)
    close (sync[0]);
  if (sync[1] >= 0)
    close (sync[1]);
  berth_process_free (proc);
  return ret;
}
