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

struct exec_ctx
{
  struct berth_spec *spec;
  struct berth_process *proc;
  const struct berth_exec_request *r;
  int ns_fd[ARRAY_SIZE (exec_ns_order)];
  int console;        /* the console socket the pty master goes to */
  int console_parent; /* our end when we hold the master ourselves */
  int sync[2];
};

/* A terminal: the pty master goes to the caller's console socket (or the
   VM agent's fd), or to us when we proxy it to our own stdio. */
static int
exec_console (struct exec_ctx *x, berth_err_t *err)
{
  const struct berth_exec_request *r = x->r;
  int sp[2];
  if (!x->proc->terminal)
    return 0;
  if (r->console_fd > 0)
    {
      x->console = fcntl (r->console_fd, F_DUPFD_CLOEXEC, 3);
      return x->console < 0 ? berth_error (err, errno, "dup the console socket") : 0;
    }
  if (r->console_socket)
    {
      x->console = berth_console_socket_connect (r->console_socket, err);
      return x->console < 0 ? -1 : 0;
    }
  if (r->detach)
    return berth_error (err, 0, "process.terminal is true: --console-socket is required with --detach");
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    return berth_error (err, errno, "socketpair");
  x->console_parent = sp[0];
  x->console = sp[1];
  return 0;
}

/* Open every namespace of the init before joining any: once in its mount
   namespace, the host's /proc is gone.  Ours already are skipped. */
static int
open_exec_namespaces (struct exec_ctx *x, struct berth_state *st, berth_err_t *err)
{
  for (size_t i = 0; i < ARRAY_SIZE (exec_ns_order); i++)
    {
      cleanup_free char *mine = xasprintf ("/proc/self/ns/%s", berth_ns_proc_name (exec_ns_order[i]));
      cleanup_free char *theirs = xasprintf ("/proc/%d/ns/%s", st->pid, berth_ns_proc_name (exec_ns_order[i]));
      struct stat a, b;
      if (stat (theirs, &b) < 0)
        continue;
      if (stat (mine, &a) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        continue;
      x->ns_fd[i] = berth_ns_open (theirs, exec_ns_order[i], err);
      if (x->ns_fd[i] < 0)
        return -1;
    }
  if (process_start_time (st->pid) != st->start_time)
    return berth_error_code (err, ESRCH, "container `%s` is not running", st->id);
  return 0;
}

/* The forked child: into the container's cgroup and namespaces, then a
   sibling (CLONE_PARENT, so the caller can wait for it) that becomes the
   process; the pid and time namespaces take effect only for children. */
static void __attribute__ ((noreturn)) exec_child (struct exec_ctx *x, struct berth_state *st)
{
  struct berth_process *proc = x->proc;
  int sync = x->sync[1];
  berth_err_t e = NULL;
  pid_t p;
  close (x->sync[0]);
  if (st->cgroup && berth_cgroup_enter (st->cgroup, getpid (), &e) < 0)
    berth_sync_fail (sync, &e);
  if (proc->has_oom_score_adj)
    {
      char v[16];
      snprintf (v, sizeof (v), "%d", proc->oom_score_adj);
      if (write_file_at (AT_FDCWD, "/proc/self/oom_score_adj", v, strlen (v), &e) < 0)
        berth_sync_fail (sync, &e);
    }
  for (size_t i = 0; i < ARRAY_SIZE (exec_ns_order); i++)
    if (x->ns_fd[i] >= 0 && berth_ns_join (x->ns_fd[i], exec_ns_order[i], &e) < 0)
      berth_sync_fail (sync, &e);
  p = berth_raw_clone (CLONE_PARENT);
  if (p < 0)
    {
      berth_error (&e, errno, "clone the exec process");
      berth_sync_fail (sync, &e);
    }
  if (p > 0)
    {
      berth_sync_send (sync, SYNC_PID, p, NULL);
      _exit (0);
    }
  if (proc->terminal)
    {
      int mst, slv;
      cleanup_free char *sp = NULL;
      if (berth_pty_open (&mst, &slv, &sp, proc->console_height, proc->console_width, &e) < 0
          || berth_send_fd (x->console, mst, "console", &e) < 0 || berth_pty_become_tty (slv, &e) < 0)
        berth_sync_fail (sync, &e);
      close (mst);
      close (x->console);
      if (slv > 2)
        close (slv);
    }
  else if (setsid () < 0 && errno != EPERM)
    {
      berth_error (&e, errno, "setsid");
      berth_sync_fail (sync, &e);
    }
  {
    struct berth_exec_opts eo = { .seccomp = x->spec->seccomp,
                                  .preserve_fds = x->r->preserve_fds,
                                  .create_cwd = false,
                                  .setgroups_ok = true,
                                  .notify_sock = sync };
    berth_process_exec (proc, &eo, &e);
  }
  berth_sync_fail (sync, &e);
}

/* Until the process exec'd (EOF on the sync socket): before it a seccomp
   listener fd ("N") may come, instead of it an error.  *PID is reaped on
   an error. */
static int
await_exec (struct exec_ctx *x, pid_t child, pid_t *pid, int *notify_fd, berth_err_t *err)
{
  struct berth_sync_msg m;
  berth_backend_reap (child);
  if (berth_sync_expect (x->sync[0], SYNC_PID, &m, err) < 0)
    return -1;
  *pid = m.value;
  for (;;)
    {
      int got = -1;
      ssize_t n = berth_recv_msg (x->sync[0], (char *)&m, sizeof (m), &got, err);
      if (n == 1 && got >= 0 && ((char *)&m)[0] == 'N')
        {
          if (*notify_fd >= 0)
            close (*notify_fd);
          *notify_fd = got;
          continue;
        }
      if (got >= 0)
        close (got);
      if (n == 0)
        return 0;
      if (n > 0 && (size_t)n > offsetof (struct berth_sync_msg, data) && m.type == SYNC_ERROR)
        berth_error_decode (err, m.data, (size_t)n - offsetof (struct berth_sync_msg, data));
      else if (n > 0)
        berth_error (err, EPROTO, "unexpected message from the exec process");
      if (*notify_fd >= 0)
        close (*notify_fd);
      *notify_fd = -1;
      berth_backend_reap (*pid);
      return -1;
    }
}

/* After the exec: the seccomp listener gets its fd, the pid file is
   written; a failure kills the process. */
static int
exec_started (const char *root, struct berth_state *st, const struct berth_exec_request *r, pid_t pid, int notify_fd,
              berth_err_t *err)
{
  if (notify_fd >= 0)
    {
      struct berth_state tmp = *st;
      tmp.pid = pid;
      if (berth_process_seccomp_listener (root, &tmp, notify_fd, err) < 0)
        goto kill;
    }
  if (r->pid_file && berth_backend_write_pid_file (r->pid_file, pid, err) < 0)
    goto kill;
  return 0;
kill:
  kill (pid, SIGKILL);
  berth_backend_reap (pid);
  return -1;
}

int
berth_process_backend_exec (const char *root, struct berth_state *st, const struct berth_exec_request *r,
                            int *exit_status, berth_err_t *err)
{
  cleanup_spec struct berth_spec *spec = NULL;
  cleanup_close int master = -1;
  struct exec_ctx x = { .r = r, .console = -1, .console_parent = -1, .sync = { -1, -1 } };
  pid_t child, pid = -1;
  int ret = -1, notify_fd = -1;

  for (size_t i = 0; i < ARRAY_SIZE (x.ns_fd); i++)
    x.ns_fd[i] = -1;
  if (berth_spec_from_json (st->config, &spec, err) < 0
      || berth_process_from_json (r->process, "process", &x.proc, err) < 0)
    goto out;
  x.spec = spec;
  if (x.proc->args == NULL || x.proc->args[0] == NULL)
    {
      berth_error (err, 0, "process.args: must name a command");
      goto out;
    }
  if (exec_console (&x, err) < 0 || open_exec_namespaces (&x, st, err) < 0)
    goto out;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x.sync) < 0)
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
    exec_child (&x, st);
  close (x.sync[1]);
  x.sync[1] = -1;
  if (await_exec (&x, child, &pid, &notify_fd, err) < 0 || exec_started (root, st, r, pid, notify_fd, err) < 0)
    goto out;
  if (r->detach)
    {
      if (r->pid_out)
        *r->pid_out = pid;
      ret = 0;
      goto out;
    }
  berth_backend_forward_signals (pid);
  if (x.console_parent >= 0)
    {
      if (berth_recv_fd (x.console_parent, &master, err) == 0)
        berth_pty_proxy (master, err);
      berth_error_release (err);
    }
  ret = berth_backend_wait_status (pid, exit_status, err);
  berth_backend_forward_signals (0);

out:
  for (size_t i = 0; i < ARRAY_SIZE (x.ns_fd); i++)
    if (x.ns_fd[i] >= 0)
      close (x.ns_fd[i]);
  int *fds[] = { &x.sync[0], &x.sync[1], &x.console, &x.console_parent };
  for (size_t i = 0; i < ARRAY_SIZE (fds); i++)
    if (*fds[i] >= 0)
      close (*fds[i]);
  berth_process_free (x.proc);
  return ret;
}
