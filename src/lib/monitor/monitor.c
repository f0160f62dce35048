/* The per-container monitor, in the spirit of conmon: it outlives the CLI,
   holds the container's stdio (or pty), writes the json-file log, copies
   output to an attached client, reaps the exit code and time, and removes
   --rm containers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <unistd.h>

#include "lib/runtime/cgroup.h"
#include "lib/runtime/container.h"
#include "lib/engine/engine.h"
#include "lib/engine/engine_net.h"
#include "lib/runtime/state.h"
#include "lib/runtime/isolation.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/monitor/internal.h"

static void
report (int fd, berth_err_t *err)
{
  char buf[4096];
  int n = berth_error_encode (*err, buf, sizeof (buf));
  if (fd >= 0)
    (void)write_all (fd, buf, (size_t)n);
  berth_error_release (err);
}

/* The container's stdio: a console socket that brings back the pty master
   (tty), or pipes; what create hands the container is our 0-2. */
static int
stdio_prepare (struct monitor *m, int cons[2], berth_err_t *err)
{
  if (m->tty)
    {
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)
        return berth_error (err, errno, "socketpair");
      dup2 (m->null, 0);
      dup2 (m->null, 1);
      dup2 (m->null, 2);
      return 0;
    }
  if (pipe2 (m->out, O_CLOEXEC) < 0 || pipe2 (m->errp, O_CLOEXEC) < 0
      || (m->interactive && pipe2 (m->in, O_CLOEXEC) < 0))
    return berth_error (err, errno, "pipe");
  dup2 (m->interactive ? m->in[0] : m->null, 0);
  dup2 (m->out[1], 1);
  dup2 (m->errp[1], 2);
  return 0;
}

/* After create: the container's ends closed here, the pty master taken. */
static int
stdio_finish (struct monitor *m, int cons[2], berth_err_t *err)
{
  int *ends[] = { &m->out[1], &m->errp[1], &m->in[0], &cons[1] };
  dup2 (m->null, 0);
  dup2 (m->null, 1);
  dup2 (m->null, 2);
  for (size_t k = 0; k < ARRAY_SIZE (ends); k++)
    if (*ends[k] >= 0)
      {
        close (*ends[k]);
        *ends[k] = -1;
      }
  if (m->tty)
    {
      struct winsize ws;
      if (berth_recv_fd (cons[0], &m->master, err) < 0)
        return -1;
      if (m->cli_in >= 0 && ioctl (m->cli_in, TIOCGWINSZ, &ws) == 0)
        ioctl (m->master, TIOCSWINSZ, &ws);
    }
  return 0;
}

/* The record of a container that runs now, written on the record as it
   is (a rename, say, may have changed it since the monitor read it). */
static int
set_running (json_t *rec, void *arg, berth_err_t *err)
{
  struct monitor *m = arg;
  json_t *st = json_object_get (rec, "State"), *b = NULL;
  cleanup_free char *now = timestamp_rfc3339 ();
  berth_err_t e2 = NULL;
  (void)err;
  json_object_set_new (st, "Status", json_string ("running"));
  json_object_set_new (st, "Running", json_true ());
  json_object_set_new (st, "Paused", json_false ());
  json_object_set_new (st, "Restarting", json_false ());
  json_object_set_new (st, "Pid", json_integer (m->pid));
  json_object_set_new (st, "ExitCode", json_integer (0));
  json_object_set_new (st, "StartedAt", json_string (now));
  json_object_set_new (st, "FinishedAt", json_string (""));
  json_object_del (st, "Error");
  /* What the backend tells of itself (a VM: accelerator, kernel...). */
  if (m->iso->describe && berth_container_describe (m->e->runtime_root, m->id, NULL, &b, &e2) == 0 && b)
    json_object_set_new (rec, "VM", b);
  berth_error_release (&e2);
  json_object_set_new (rec, "MonitorPid", json_integer (getpid ()));
  json_object_set_new (rec, "MonitorStart", json_integer ((json_int_t)process_start_time (getpid ())));
  return 0;
}

static int
record_running (struct monitor *m, berth_err_t *err)
{
  json_t *rec = NULL;
  if (berth_engine_update (m->e, m->id, set_running, m, &rec, err) < 0)
    return -1;
  json_decref (m->rec);
  m->rec = rec;
  berth_engine_event (m->e, m->id, rec, "start", NULL);
  return 0;
}

/* Network, root filesystem, stdio, then the container created and
   started through the lifecycle.  The network first: a taken host port
   fails before anything runs. */
static int
start_container (struct monitor *m, struct berth_net_ports *held, berth_err_t *err)
{
  int cons[2] = { -1, -1 };
  const char *mgr = json_string_value (json_object_get (m->rec, "CgroupManager"));
  struct berth_create_opts co = { .root = m->e->runtime_root,
                                  .id = m->id,
                                  .bundle = m->dir,
                                  .die_with_parent = true,
                                  .systemd_cgroup = mgr && strcmp (mgr, "systemd") == 0 };
  berth_err_t warning = NULL;
  int ret = -1;
  if (berth_engine_net_start (m->e, m->id, m->rec, held, err) < 0
      || ((m->iso->flags & BERTH_ISOLATION_HOST_ROOTFS) ? berth_engine_mount_rootfs (m->e, m->id, m->rec, err)
                                                        : berth_engine_vm_image (m->e, m->id, m->rec, err))
             < 0
      || stdio_prepare (m, cons, err) < 0)
    goto out;
  co.console_fd = cons[1];
  if (berth_container_create (&co, &m->pid, err) < 0 || stdio_finish (m, cons, err) < 0)
    goto out;
  /* Watched from before it runs: a systemd scope's cgroup, and its count,
     go with the last process, which an OOM kill at once may be. */
  berth_container_oom_watch (m->e->runtime_root, m->id, &m->oom);
  if (berth_container_start (m->e->runtime_root, m->id, &warning, err) < 0)
    goto out;
  ret = record_running (m, err);
out:
  berth_error_release (&warning);
  for (int k = 0; k < 2; k++)
    if (cons[k] >= 0)
      close (cons[k]);
  return ret;
}

/* The record once the container is gone (or never started); --rm removes
   it, and whoever waits hears the outcome only after that. */
struct finished
{
  struct monitor *m;
  bool started;
  int exit_code;
};

/* On the record as it is now: the networks a `network connect` added
   while the container ran are undone too. */
static int
set_finished (json_t *rec, void *arg, berth_err_t *err)
{
  struct finished *f = arg;
  cleanup_free char *now = timestamp_rfc3339 ();
  json_t *st = json_object_get (rec, "State");
  berth_err_t e2 = NULL;
  (void)err;
  /* Before the runtime's side goes: a VM's changes wait in it. */
  if (f->started && !(f->m->iso->flags & BERTH_ISOLATION_HOST_ROOTFS)
      && berth_engine_keep_vm_changes (f->m->e, f->m->id, rec, &e2) < 0)
    {
      json_object_set_new (json_object_get (f->m->rec, "State"), "Error", json_string (e2->msg));
      berth_error_release (&e2);
    }
  berth_engine_cleanup (f->m->e, f->m->id, rec, &e2);
  berth_error_release (&e2);
  json_object_set_new (st, "Status", json_string (f->started ? "exited" : "created"));
  json_object_set_new (st, "Running", json_false ());
  json_object_set_new (st, "Paused", json_false ());
  json_object_set_new (st, "Pid", json_integer (0));
  json_object_set_new (st, "ExitCode", json_integer (f->started ? f->exit_code : 0));
  json_object_set_new (st, "OOMKilled", json_boolean (f->started && f->m->oom_killed));
  if (f->started)
    json_object_set_new (st, "FinishedAt", json_string (now));
  /* Why it ended, as this monitor found (a VM killed, a guest panic, a
     start that failed). */
  if (json_object_get (json_object_get (f->m->rec, "State"), "Error"))
    json_object_set (st, "Error", json_object_get (json_object_get (f->m->rec, "State"), "Error"));
  json_object_del (rec, "MonitorPid");
  /* In the journal before the record says exited: `stop`, which waits
     for that, writes its own event after these (docker's kill, die, stop). */
  if (f->started && f->m->oom_killed)
    berth_engine_event (f->m->e, f->m->id, rec, "oom", NULL);
  if (f->started)
    berth_engine_event (f->m->e, f->m->id, rec, "die",
                        json_pack ("{s:o}", "exitCode", json_sprintf ("%d", f->exit_code)));
  return 0;
}

static void
finish (struct monitor *m, bool started, int exit_code, struct berth_net_ports *held)
{
  berth_err_t e2 = NULL;
  struct finished f = { m, started, exit_code };
  json_t *rec = NULL;
  if (berth_engine_update (m->e, m->id, set_finished, &f, &rec, &e2) == 0)
    {
      json_decref (m->rec);
      m->rec = rec;
    }
  else
    {
      /* The record is gone or unreadable: undo what this monitor knows of. */
      berth_error_release (&e2);
      berth_engine_cleanup (m->e, m->id, m->rec, &e2);
    }
  berth_error_release (&e2);
  berth_net_ports_release (held);
  if (json_is_true (json_object_get (m->rec, "AutoRemove")))
    {
      berth_engine_remove (m->e, m->id, true, &e2);
      berth_error_release (&e2);
    }
}

/* docker's exit codes for a container that could not start: 127 for a
   command not found, 126 for one not executable, else 125. */
static int
start_failure_code (berth_err_t err)
{
  const char *msg = err && err->msg ? err->msg : "";
  int es = err ? err->status : 0;
  if (es == ENOENT && strstr (msg, "exec"))
    return 127;
  return es == EACCES && strstr (msg, "exec") ? 126 : 125;
}

/* The health checker: a child that lives as long as the container runs
   (killed when it ends), holding none of our ends of its streams. */
static pid_t
health_start (struct monitor *m)
{
  pid_t pid;
  if (!berth_engine_health_wanted (m->rec))
    return -1;
  pid = fork ();
  if (pid != 0)
    return pid;
  {
    int drop[] = { m->cli_in, m->cli_out, m->cli_err, m->status_fd, m->listen_fd, m->master,
                   m->out[0], m->errp[0], m->in[1],   m->sfd,       m->oom.fd,    m->oom.parent_fd };
    sigset_t none;
    for (size_t i = 0; i < ARRAY_SIZE (drop); i++)
      if (drop[i] >= 0)
        close (drop[i]);
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    signal (SIGPIPE, SIG_DFL);
    berth_engine_health_loop (m->e, m->id);
    _exit (0);
  }
}

int
berth_monitor_main (struct berth_engine *e, const char *id, int status_fd, int ready_fd, bool attach)
{
  berth_err_t err = NULL;
  cleanup_free char *dir = berth_engine_dir (e, id);
  struct monitor m = { .e = e,
                       .id = id,
                       .dir = dir,
                       .attach = attach,
                       .cli_in = -1,
                       .cli_out = -1,
                       .cli_err = -1,
                       .status_fd = status_fd,
                       .out = { -1, -1 },
                       .errp = { -1, -1 },
                       .in = { -1, -1 },
                       .master = -1,
                       .pid = -1,
                       .listen_fd = -1,
                       .oom = BERTH_OOM_WATCH_INIT };
  struct berth_net_ports held = { .n = 0 };
  bool started = false;
  int exit_code = 255;
  pid_t health = -1;
  sigset_t mask;

  if (berth_engine_load (e, id, &m.rec, &err) < 0)
    {
      report (ready_fd, &err);
      return 1;
    }
  m.iso = berth_isolation_find (json_string_value (json_object_get (m.rec, "Isolation")) ?: "process", &err);
  if (m.iso == NULL)
    {
      report (ready_fd, &err);
      json_decref (m.rec);
      return 1;
    }
  m.tty = json_is_true (json_object_get (json_object_get (m.rec, "Config"), "Tty"));
  m.interactive = json_is_true (json_object_get (json_object_get (m.rec, "Config"), "OpenStdin"));
  monitor_log_open (&m.log, dir,
                    json_object_get (json_object_get (json_object_get (m.rec, "HostConfig"), "LogConfig"), "Config"));
  if (attach)
    {
      m.cli_in = fcntl (0, F_DUPFD_CLOEXEC, 3);
      m.cli_out = fcntl (1, F_DUPFD_CLOEXEC, 3);
      m.cli_err = fcntl (2, F_DUPFD_CLOEXEC, 3);
    }
  m.null = open ("/dev/null", O_RDWR | O_CLOEXEC);

  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  /* The attached CLI sends SIGWINCH when its terminal changes size. */
  sigaddset (&mask, SIGWINCH);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  m.sfd = signalfd (-1, &mask, SFD_CLOEXEC);
  /* The container must not die with us if our session goes away. */
  signal (SIGHUP, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);

  if (start_container (&m, &held, &err) < 0)
    {
      json_t *st = json_object_get (m.rec, "State");
      if (m.pid > 0)
        {
          kill (m.pid, SIGKILL);
          waitpid (m.pid, NULL, 0);
        }
      /* The error goes to whoever started us (at the end: a --rm
         container is gone by the time the caller hears why it did not
         start); the record says it too. */
      json_object_set_new (st, "Error", json_string (err && err->msg ? err->msg : "unknown error"));
      exit_code = start_failure_code (err);
      berth_oom_watch_close (&m.oom);
    }
  else
    {
      started = true;
      (void)write_all (ready_fd, "ok", 2);
      close (ready_fd);
      ready_fd = -1;
      m.listen_fd = monitor_attach_listen (&m);
      health = health_start (&m);
      monitor_relay (&m);
      if (health > 0)
        {
          kill (health, SIGKILL);
          waitpid (health, NULL, 0);
        }
      monitor_log_flush (&m.log);
      exit_code = WIFEXITED (m.status) ? WEXITSTATUS (m.status) : 128 + WTERMSIG (m.status);
      {
        /* It ended on its own (a killed VM, a guest panic): say why. */
        cleanup_free char *why
            = m.iso->exit_reason ? berth_container_exit_reason (e->runtime_root, id, m.status) : NULL;
        if (why)
          json_object_set_new (json_object_get (m.rec, "State"), "Error", json_string (why));
      }
      {
        /* The watch's last word; where it had none to give, the
           backend's: a VM's guest's count (never watched here), or
           systemd's result for a scope that went with a SIGKILL'd init
           (what an OOM kill under systemd 252 ends in) before the parent's
           count could tell.  Not on every exit: that asks systemd. */
        long kills;
        berth_oom_watch_update (&m.oom);
        berth_oom_watch_close (&m.oom);
        kills = m.oom.kills;
        if (kills < 0 || (kills == 0 && m.oom.gone && WIFSIGNALED (m.status) && WTERMSIG (m.status) == SIGKILL))
          kills = berth_container_oom_kills (e->runtime_root, id);
        m.oom_killed = kills > 0;
      }
      monitor_attach_close (&m);
    }
  finish (&m, started, exit_code, &held);
  if (!started)
    report (ready_fd, &err);
  if (m.status_fd >= 0)
    {
      char code[16];
      int n = snprintf (code, sizeof (code), "%d\n", started ? exit_code : -1);
      (void)write_all (m.status_fd, code, (size_t)n);
      close (m.status_fd);
      m.status_fd = -1;
    }
  /* Its restart policy (the attached CLI has its exit code already). */
  if (started)
    berth_engine_restart_policy (e, id, exit_code);
  json_decref (m.rec);
  return started ? 0 : 1;
}
