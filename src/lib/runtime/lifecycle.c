/* The container lifecycle: state, locks and the checks every verb makes,
   then the container's isolation backend (isolation.h) does the work. */
#include "lib/runtime/container.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/runtime/hooks.h"
#include "lib/runtime/isolation.h"
#include "lib/runtime/process.h"
#include "lib/runtime/spec.h"
#include "lib/runtime/state.h"

/* ------------------------------------------------------ shared by backends */

int
berth_backend_make_state_dir (const struct berth_create_opts *o, char **dir, berth_err_t *err)
{
  if (mkdir_p (o->root, 0700, err) < 0)
    return -1;
  *dir = berth_state_dir (o->root, o->id);
  if (mkdir (*dir, 0711) < 0)
    {
      if (errno == EEXIST)
        return berth_error_code (err, EEXIST, "container `%s` already exists", o->id);
      return berth_error (err, errno, "mkdir `%s`", *dir);
    }
  return 0;
}

int
berth_backend_write_pid_file (const char *path, pid_t pid, berth_err_t *err)
{
  char buf[32];
  int n = snprintf (buf, sizeof (buf), "%d", pid);
  return write_file_atomic (path, buf, (size_t)n, 0644, err);
}

int
berth_backend_save_created (const struct berth_create_opts *o, struct berth_state *st, berth_err_t *err)
{
  int ret;
  st->id = (char *)o->id;
  st->start_time = process_start_time (st->pid);
  st->created = timestamp_rfc3339 ();
  st->owner = (char *)"root";
  ret = berth_state_save (o->root, st, err);
  free (st->created);
  st->created = NULL;
  if (ret == 0 && o->pid_file)
    ret = berth_backend_write_pid_file (o->pid_file, st->pid, err);
  return ret;
}

bool
berth_backend_wait_gone (pid_t pid, int timeout_ms)
{
  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, pid, 0);
  if (pidfd < 0)
    return errno == ESRCH;
  {
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    return poll (&p, 1, timeout_ms) > 0;
  }
}

void
berth_backend_reap (pid_t pid)
{
  int status;
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
}

char *
berth_backend_hook_state (const struct berth_create_opts *o, struct berth_spec *spec, const char *status, pid_t pid)
{
  json_t *j = json_pack ("{s:s,s:s,s:s,s:I,s:s}", "ociVersion", BERTH_OCI_VERSION, "id", o->id, "status", status, "pid",
                         (json_int_t)pid, "bundle", o->bundle);
  char *out;
  if (spec->annotations)
    json_object_set (j, "annotations", spec->annotations);
  out = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  return out;
}

/* "container not running" is runc's wording, which containerd's shim
   matches to take a kill of an exited container as done. */
int
berth_backend_signal (struct berth_state *st, int sig, berth_err_t *err)
{
  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, st->pid, 0);
  if (pidfd < 0)
    {
      if (errno == ESRCH)
        return berth_error_code (err, ESRCH, "container `%s`: container not running", st->id);
      if (kill (st->pid, sig) < 0)
        return berth_error (err, errno, "kill %d", st->pid);
      return 0;
    }
  /* The pidfd pins the process: checking the start time now rules out a
     recycled pid for the signal that follows. */
  if (process_start_time (st->pid) != st->start_time)
    return berth_error_code (err, ESRCH, "container `%s`: container not running", st->id);
  if (syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return berth_error (err, errno, "send signal %d to `%s`", sig, st->id);
  return 0;
}

static volatile sig_atomic_t forward_pid;

static void
forward_signal (int sig)
{
  if (forward_pid > 0)
    kill (forward_pid, sig);
}

void
berth_backend_forward_signals (pid_t pid)
{
  static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP };
  struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
  forward_pid = pid;
  if (pid == 0)
    return;
  for (size_t i = 0; i < ARRAY_SIZE (sigs); i++)
    sigaction (sigs[i], &sa, NULL);
}

int
berth_backend_wait_status (pid_t pid, int *exit_status, berth_err_t *err)
{
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return berth_error (err, errno, "wait for the container process");
  *exit_status = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
  return 0;
}

/* A loaded state and its backend, released together. */
struct loaded
{
  struct berth_state *st;
  const struct berth_isolation *iso;
};

static void
loaded_free (struct loaded *l)
{
  berth_state_free (l->st);
}
#define cleanup_loaded __attribute__ ((cleanup (loaded_free)))

static int
load (const char *root, const char *id, struct loaded *l, berth_err_t *err)
{
  if (berth_state_load (root, id, &l->st, err) < 0)
    return -1;
  l->iso = berth_isolation_of (l->st, err);
  return l->iso ? 0 : -1;
}

/* ------------------------------------------------------------------ create */

int
berth_container_create (const struct berth_create_opts *o, pid_t *pid_out, berth_err_t *err)
{
  cleanup_spec struct berth_spec *spec = NULL;
  cleanup_free char *bundle = NULL;
  cleanup_free char *config_path = NULL;
  const struct berth_isolation *iso;
  char real[PATH_MAX];

  if (berth_validate_id (o->id, err) < 0)
    return -1;
  if (realpath (o->bundle ? o->bundle : ".", real) == NULL)
    return berth_error (err, errno, "bundle `%s`", o->bundle ? o->bundle : ".");
  bundle = xstrdup (real);
  config_path = xasprintf ("%s/config.json", bundle);
  if (berth_spec_load_file (config_path, &spec, err) < 0)
    return -1;
  /* process is optional until start (runtime-spec: start fails then). */
  if (spec->process && (spec->process->args == NULL || spec->process->args[0] == NULL))
    return berth_error (err, 0, "%s: process.args: must name a command", config_path);
  /* Both backends: a VM's guest applies them to its own kernel, but the
     rules are the same as on the host (runc's). */
  if (o->warning && spec->process && spec->process->warnings)
    berth_error (o->warning, 0, "%s", spec->process->warnings);
  if (!o->sysctls_checked && berth_spec_check_sysctls (spec, err) < 0)
    return berth_error_wrap (err, "%s", config_path);
  iso = berth_isolation_pick (spec->json, o->isolation, err);
  if (iso == NULL)
    return -1;
  return iso->create (o, bundle, spec, pid_out, err);
}

/* ------------------------------------------------------------------- start */

static int
start_loaded (const char *root, struct loaded *l, berth_err_t *warning, berth_err_t *err)
{
  const char *status = berth_state_status (root, l->st);
  if (strcmp (status, "created") != 0)
    return berth_error (err, 0, "cannot start container `%s`: it is %s, not created", l->st->id, status);
  return l->iso->start (root, l->st, warning, err);
}

int
berth_container_start (const char *root, const char *id, berth_err_t *warning, berth_err_t *err)
{
  cleanup_close int lock = -1;
  cleanup_loaded struct loaded l = { 0 };
  if (load (root, id, &l, err) < 0 || berth_state_lock (root, id, &lock, err) < 0)
    return -1;
  return start_loaded (root, &l, warning, err);
}

/* ------------------------------------------------------------------ delete */

static int
delete_loaded (const char *root, struct loaded *l, unsigned flags, berth_err_t *warning, berth_err_t *err)
{
  struct berth_state *st = l->st;
  cleanup_close int lock = -1;
  const char *status;

  if (berth_state_lock (root, st->id, &lock, err) < 0)
    return -1;
  status = berth_state_status (root, st);
  /* runc deletes a created container, and containerd and Docker count on
     it to clean up after a failed start; runtime-spec calls it an error,
     which BERTH_DELETE_STRICT keeps (the conformance suite checks it). */
  if (!(flags & BERTH_DELETE_FORCE) && strcmp (status, "stopped") != 0
      && (strcmp (status, "created") != 0 || (flags & BERTH_DELETE_STRICT)))
    return berth_error (err, 0, "cannot delete container `%s`: it is %s (use --force)", st->id, status);
  if (strcmp (status, "stopped") != 0)
    {
      berth_err_t e2 = NULL;
      l->iso->delete (root, st, &e2);
      berth_error_release (&e2);
      if (!berth_backend_wait_gone (st->pid, 10000))
        return berth_error (err, EBUSY, "container `%s`: the init process did not exit", st->id);
    }
  if (st->config && json_object_get (st->config, "hooks"))
    {
      cleanup_spec struct berth_spec *spec = NULL;
      berth_err_t e2 = NULL;
      if (berth_spec_from_json (st->config, &spec, &e2) == 0)
        {
          json_t *sj = berth_state_json (root, st, "stopped");
          char *text = json_dumps (sj, JSON_COMPACT);
          json_decref (sj);
          /* A failing poststop hook is a warning: the container goes. */
          berth_run_hooks_all (spec, HOOK_POSTSTOP, text, warning ? warning : &e2);
          free (text);
        }
      berth_error_release (&e2);
    }
  if (l->iso->release && l->iso->release (root, st, err) < 0)
    return -1;
  return berth_state_remove (root, st->id, err);
}

/* --force of a container whose state cannot be loaded (*ERR says why):
   never written (a create killed before it) or broken.  What create noted
   before making the cgroup finds it: every process in it killed, the
   cgroup and the directory removed.  A broken state with no note (a VM's,
   whose shim only its state names) is left, with the load's error. */
static int
delete_unloaded (const char *root, const char *id, berth_err_t *err)
{
  berth_err_t why = *err;
  cleanup_free char *note = NULL, *state = NULL;
  cleanup_close int lock = -1;
  json_t *j = NULL;
  int r = 0;
  *err = NULL;
  if (berth_validate_id (id, err) < 0 || berth_state_lock (root, id, &lock, err) < 0)
    {
      berth_error_release (&why);
      if ((*err)->status != ENOENT)
        return -1;
      berth_error_release (err);
      return 0;
    }
  note = xasprintf ("%s/%s/" BERTH_CGROUP_NOTE, root, id);
  state = xasprintf ("%s/%s/state.json", root, id);
  if (json_load_path (note, &j, err) == 0)
    r = berth_cgroup_purge_spec (json_string_value (json_object_get (j, "cgroupsPath")), id,
                                 json_is_true (json_object_get (j, "systemd")), err);
  else if (access (state, F_OK) == 0)
    {
      berth_error_release (err);
      *err = why;
      return -1;
    }
  else
    berth_error_release (err); /* a create killed before its cgroup */
  berth_error_release (&why);
  json_decref (j);
  if (r < 0)
    return berth_error_wrap (err, "container `%s`: its cgroup", id);
  return berth_state_remove (root, id, err);
}

int
berth_container_delete (const char *root, const char *id, unsigned flags, berth_err_t *warning, berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  if (load (root, id, &l, err) < 0)
    {
      if (!(flags & BERTH_DELETE_FORCE))
        return -1;
      return delete_unloaded (root, id, err);
    }
  return delete_loaded (root, &l, flags, warning, err);
}

/* --------------------------------------------------------------------- run */

int
berth_container_run (const struct berth_create_opts *o, bool detach, int *exit_status, berth_err_t *err)
{
  struct berth_create_opts co = *o;
  cleanup_close int console_parent = -1;
  cleanup_close int console_child = -1;
  cleanup_close int master = -1;
  cleanup_loaded struct loaded l = { 0 };
  berth_err_t warning = NULL;
  pid_t pid;
  int ret;

  *exit_status = 0;
  if (!detach && o->console_socket == NULL)
    {
      /* A terminal container without a console socket: we hold the master
         ourselves and connect it to our stdio. */
      int sp[2];
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        return berth_error (err, errno, "socketpair");
      console_parent = sp[0];
      console_child = sp[1];
      co.console_fd = console_child;
    }
  else
    co.console_fd = -1;
  if (berth_container_create (&co, &pid, err) < 0)
    return -1;
  if (console_child >= 0)
    {
      close (console_child);
      console_child = -1;
    }
  if (!detach)
    berth_backend_forward_signals (pid);
  if (load (o->root, o->id, &l, err) < 0)
    return -1;
  {
    cleanup_close int lock = -1;
    ret = berth_state_lock (o->root, o->id, &lock, err);
    if (ret == 0)
      ret = start_loaded (o->root, &l, &warning, err);
  }
  berth_error_release (&warning);
  if (ret < 0)
    {
      berth_err_t e2 = NULL;
      delete_loaded (o->root, &l, BERTH_DELETE_FORCE, NULL, &e2);
      berth_error_release (&e2);
      if (!detach)
        berth_backend_reap (pid);
      return -1;
    }
  if (detach)
    return 0;
  {
    /* Only a terminal container sends a master over the socket. */
    struct pollfd p = { .fd = console_parent, .events = POLLIN };
    if (console_parent >= 0 && poll (&p, 1, 0) > 0 && berth_recv_fd (console_parent, &master, err) == 0)
      berth_pty_proxy (master, err);
    berth_error_release (err);
  }
  ret = berth_backend_wait_status (pid, exit_status, err);
  berth_backend_forward_signals (0);
  {
    berth_err_t e2 = NULL;
    if (delete_loaded (o->root, &l, BERTH_DELETE_FORCE, NULL, &e2) < 0 && ret == 0)
      {
        *err = e2;
        ret = -1;
      }
    else
      berth_error_release (&e2);
  }
  return ret;
}

/* ------------------------------------------------- kill, state, pause, ... */

int
berth_container_kill (const char *root, const char *id, int sig, bool all, berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  if (load (root, id, &l, err) < 0)
    return -1;
  if (!berth_state_alive (l.st))
    return berth_error_code (err, ESRCH, "container `%s`: container not running", id);
  if (l.iso->kill == NULL)
    return berth_isolation_unsupported (l.iso, "kill", err);
  return l.iso->kill (root, l.st, sig, all, err);
}

int
berth_container_state (const char *root, const char *id, json_t **out, berth_err_t *err)
{
  struct berth_state *st = NULL;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  *out = berth_state_json (root, st, NULL);
  berth_state_free (st);
  return 0;
}

int
berth_container_pause (const char *root, const char *id, bool pause, berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  const char *status;
  if (load (root, id, &l, err) < 0)
    return -1;
  if (l.iso->pause == NULL)
    return berth_isolation_unsupported (l.iso, pause ? "pause" : "resume", err);
  status = berth_state_status (root, l.st);
  if (pause && strcmp (status, "running") != 0)
    return berth_error (err, 0, "cannot pause container `%s`: it is %s", id, status);
  if (!pause && strcmp (status, "paused") != 0)
    return berth_error (err, 0, "cannot resume container `%s`: it is %s, not paused", id, status);
  return l.iso->pause (root, l.st, pause, err);
}

int
berth_container_update (const char *root, const char *id, json_t *resources, berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  cleanup_close int lock = -1;
  json_t *lin;
  if (load (root, id, &l, err) < 0 || berth_state_lock (root, id, &lock, err) < 0)
    return -1;
  if (l.iso->update == NULL)
    return berth_isolation_unsupported (l.iso, "update", err);
  if (!berth_state_alive (l.st))
    return berth_error (err, 0, "cannot update container `%s`: it is stopped", id);
  if (l.iso->update (root, l.st, resources, err) < 0)
    return -1;
  /* Keep the config in step so a later `features`/`inspect` agrees. */
  lin = json_object_get (l.st->config, "linux");
  if (json_is_object (lin))
    {
      json_t *old = json_object_get (lin, "resources");
      if (json_is_object (old))
        json_object_update_recursive (old, resources);
      else
        json_object_set (lin, "resources", resources);
    }
  return berth_state_save (root, l.st, err);
}

int
berth_container_pids (const char *root, const char *id, pid_t **pids, size_t *n, berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  *pids = NULL;
  *n = 0;
  if (load (root, id, &l, err) < 0)
    return -1;
  if (!berth_state_alive (l.st))
    return 0;
  if (l.iso->pids == NULL)
    return berth_isolation_unsupported (l.iso, "ps", err);
  return l.iso->pids (root, l.st, pids, n, err);
}

int
berth_container_top (const char *root, const char *id, char *const *ps_args, char ***lines, berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  *lines = NULL;
  if (load (root, id, &l, err) < 0)
    return -1;
  if (!berth_state_alive (l.st))
    return berth_error_code (err, ESRCH, "container %s is not running", id);
  if (l.iso->top == NULL)
    return berth_isolation_unsupported (l.iso, "top", err);
  return l.iso->top (root, l.st, ps_args, lines, err);
}

int
berth_container_stats (const char *root, const char *id, json_t **out, berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  *out = NULL;
  if (load (root, id, &l, err) < 0)
    return -1;
  if (l.iso->stats == NULL)
    return berth_isolation_unsupported (l.iso, "stats", err);
  return l.iso->stats (root, l.st, out, err);
}

int
berth_container_describe (const char *root, const char *id, char **isolation, json_t **backend, berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  if (load (root, id, &l, err) < 0)
    return -1;
  if (isolation)
    *isolation = xstrdup (l.iso->name);
  if (backend)
    *backend = l.iso->describe ? l.iso->describe (l.st) : NULL;
  return 0;
}

char *
berth_container_exit_reason (const char *root, const char *id, int wait_status)
{
  cleanup_loaded struct loaded l = { 0 };
  berth_err_t e2 = NULL;
  if (load (root, id, &l, &e2) < 0)
    {
      berth_error_release (&e2);
      return NULL;
    }
  return l.iso->exit_reason ? l.iso->exit_reason (root, l.st, wait_status) : NULL;
}

long
berth_container_oom_kills (const char *root, const char *id)
{
  cleanup_loaded struct loaded l = { 0 };
  berth_err_t e2 = NULL;
  if (load (root, id, &l, &e2) < 0)
    {
      berth_error_release (&e2);
      return -1;
    }
  return l.iso->oom_kills ? l.iso->oom_kills (root, l.st) : -1;
}

void
berth_container_oom_watch (const char *root, const char *id, struct berth_oom_watch *w)
{
  cleanup_loaded struct loaded l = { 0 };
  berth_err_t e2 = NULL;
  *w = (struct berth_oom_watch)BERTH_OOM_WATCH_INIT;
  if (load (root, id, &l, &e2) < 0)
    {
      berth_error_release (&e2);
      return;
    }
  if (l.iso->oom_watch)
    l.iso->oom_watch (root, l.st, w);
}

/* -------------------------------------------------------------------- exec */

int
berth_container_process_template (const char *root, const char *id, json_t **out, berth_err_t *err)
{
  struct berth_state *st = NULL;
  json_t *p;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  p = json_object_get (st->config, "process");
  *out = json_is_object (p) ? json_deep_copy (p) : json_object ();
  berth_state_free (st);
  return 0;
}

int
berth_container_exec (const char *root, const char *id, const struct berth_exec_request *r, int *exit_status,
                      berth_err_t *err)
{
  cleanup_loaded struct loaded l = { 0 };
  struct berth_process *proc = NULL;
  const char *status;
  *exit_status = 0;
  if (load (root, id, &l, err) < 0)
    return -1;
  status = berth_state_status (root, l.st);
  if (strcmp (status, "running") != 0 && strcmp (status, "created") != 0)
    return berth_error (err, 0, "cannot exec in container `%s`: it is %s", id, status);
  if (l.iso->exec == NULL)
    return berth_isolation_unsupported (l.iso, "exec", err);
  /* Both backends take the same process object: check it once here. */
  if (berth_process_from_json (r->process, "process", &proc, err) < 0)
    return -1;
  if (r->warning && proc->warnings)
    berth_error (r->warning, 0, "%s", proc->warnings);
  berth_process_free (proc);
  return l.iso->exec (root, l.st, r, exit_status, err);
}
