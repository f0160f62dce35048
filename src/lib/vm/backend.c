/* The VM backend's table (isolation.h): each container in a QEMU microvm
   of its own, reached through its shim (shim.c, client.c). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/image/layer.h"
#include "lib/runtime/hooks.h"
#include "lib/runtime/isolation.h"
#include "lib/runtime/spec.h"
#include "lib/runtime/state.h"
#include "lib/vm/internal.h"
#include "lib/vm/vm.h"

/* ------------------------------------------------------------------ create */

static int
vm_prestart_hooks (const struct berth_create_opts *o, struct berth_spec *spec, pid_t *holder_out, int *holder_fd,
                   berth_err_t *err)
{
  cleanup_free char *hs = NULL;
  const char *nspath = NULL;
  int p[2] = { -1, -1 }, r;
  bool netns;
  pid_t holder = -1;
  *holder_out = -1;
  if (!spec->n_hooks[HOOK_PRESTART] && !spec->n_hooks[HOOK_CREATE_RUNTIME])
    return 0;
  netns = berth_spec_has_namespace (spec, CLONE_NEWNET, &nspath);
  if (netns)
    {
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
        return berth_error (err, errno, "socketpair");
      holder = fork ();
      if (holder < 0)
        {
          close (p[0]);
          close (p[1]);
          return berth_error (err, errno, "fork");
        }
      if (holder == 0)
        {
          char c;
          int fd = nspath ? open (nspath, O_RDONLY | O_CLOEXEC) : -1;
          close (p[1]);
          if (nspath ? (fd < 0 || setns (fd, CLONE_NEWNET) < 0) : unshare (CLONE_NEWNET) < 0)
            _exit (1);
          /* In the namespace now; then until our caller lets go. */
          if (write (p[0], "r", 1) != 1)
            _exit (1);
          while (read (p[0], &c, 1) < 0 && errno == EINTR)
            ;
          _exit (0);
        }
      close (p[0]);
      {
        char c;
        ssize_t n;
        while ((n = read (p[1], &c, 1)) < 0 && errno == EINTR)
          ;
        if (n != 1)
          {
            close (p[1]);
            berth_backend_reap (holder);
            return berth_error (err, 0, "could not make the network namespace for the prestart hooks");
          }
      }
    }
  /* Without a network namespace of its own the container has the host's:
     so has the pid the hooks see. */
  hs = berth_backend_hook_state (o, spec, "created", holder > 0 ? holder : getpid ());
  r = berth_run_hooks (spec, HOOK_PRESTART, hs, err) < 0 || berth_run_hooks (spec, HOOK_CREATE_RUNTIME, hs, err) < 0
          ? -1
          : 0;
  if (holder > 0 && (r < 0 || nspath))
    {
      close (p[1]);
      berth_backend_reap (holder);
      return r;
    }
  if (holder > 0)
    {
      /* The new namespace, for the VM to take: the holder keeps it until
         then (closing p[1] lets it go). */
      json_t *nss = json_object_get (json_object_get (spec->json, "linux"), "namespaces"), *ns;
      size_t i;
      json_array_foreach (nss, i, ns)
      {
        if (strcmp (json_string_value (json_object_get (ns, "type")) ?: "", "network") == 0)
          json_object_set_new (ns, "path", json_sprintf ("/proc/%d/ns/net", (int)holder));
      }
      *holder_out = holder;
      /* Closing it lets the holder go: the caller does, once the VM has
         taken the namespace over. */
      *holder_fd = p[1];
    }
  return r;
}

static void
vm_holder_release (struct berth_spec *spec, pid_t holder, int holder_fd)
{
  json_t *nss = json_object_get (json_object_get (spec->json, "linux"), "namespaces"), *ns;
  size_t i;
  if (holder <= 0)
    return;
  json_array_foreach (nss, i, ns)
  {
    if (strcmp (json_string_value (json_object_get (ns, "type")) ?: "", "network") == 0)
      json_object_del (ns, "path");
  }
  close (holder_fd);
  berth_backend_reap (holder);
}

/* The VM backend's create: the same state directory, lock and state
   file, with the VM shim standing in for the init process. */
static int
vm_isolation_create (const struct berth_create_opts *o, const char *bundle, struct berth_spec *spec, pid_t *pid_out,
                     berth_err_t *err)
{
  cleanup_free char *dir = NULL;
  cleanup_close int dirfd = -1;
  cleanup_close int mark = -1;
  struct berth_state st = { 0 };
  json_t *vm = NULL;
  pid_t pid = -1;
  int ret;

  if (berth_backend_make_state_dir (o, &dir, err) < 0)
    return -1;
  if (berth_state_lock (o->root, o->id, &dirfd, err) < 0)
    goto fail;
  /* "created" until the shim has started the container. */
  mark = openat (dirfd, "start", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (mark < 0)
    {
      berth_error (err, errno, "create `%s/start`", dir);
      goto fail;
    }
  {
    pid_t holder = -1;
    int holder_fd = -1;
    int r = vm_prestart_hooks (o, spec, &holder, &holder_fd, err);
    if (r == 0)
      r = berth_vm_create (o, bundle, dir, spec->json, &pid, &vm, err);
    vm_holder_release (spec, holder, holder_fd);
    if (r < 0)
      goto fail;
  }
  st.pid = pid;
  st.bundle = (char *)bundle;
  st.rootfs = (char *)"";
  st.config = spec->json;
  st.isolation = (char *)"vm";
  st.backend = vm;
  ret = berth_backend_save_created (o, &st, err);
  json_decref (vm);
  if (ret < 0)
    goto fail;
  if (pid_out)
    *pid_out = pid;
  return 0;

fail:
  if (pid > 0)
    {
      kill (pid, SIGKILL);
      berth_backend_reap (pid);
    }
  {
    berth_err_t e2 = NULL;
    berth_state_remove (o->root, o->id, &e2);
    berth_error_release (&e2);
  }
  return -1;
}

/* ------------------------------------------------------ the other verbs */

static int
vm_isolation_start (const char *root, struct berth_state *st, berth_err_t *warning, berth_err_t *err)
{
  /* As with runc, a container that failed to start is gone when start
     returns: containerd's shim counts on the exit coming first. */
  if (berth_vm_start (root, st->id, err) < 0)
    {
      berth_backend_wait_gone (st->pid, 5000);
      return -1;
    }
  return 0;
}

static bool vm_isolation_paused (struct berth_state *st);

static int
vm_isolation_kill (const char *root, struct berth_state *st, int sig, bool all, berth_err_t *err)
{
  /* A stopped VM cannot hear the agent: SIGKILL ends it (and the
     container) from here; another signal would wait for a resume. */
  if (vm_isolation_paused (st))
    {
      if (sig == SIGKILL)
        return berth_backend_signal (st, SIGKILL, err);
      return berth_error (err, 0, "container `%s` is paused (its VM is stopped): resume it first", st->id);
    }
  return berth_vm_kill (root, st->id, sig, all, err);
}

/* The shim is the container's stand-in: the VM goes with it. */
static int
vm_isolation_delete (const char *root, struct berth_state *st, berth_err_t *err)
{
  return berth_backend_signal (st, SIGKILL, err);
}

/* A bundle from another engine (Docker, containerd, podman: no image of
   berth's): the changes its guest kept at exit are written into the
   bundle's rootfs, where runc's container would have written them, so
   that the engine's cp, diff, commit and next start see them.  Best
   effort: the container goes either way. */
static void
vm_write_back (const char *root, struct berth_state *st)
{
  json_t *r = json_object_get (st->config, "root");
  cleanup_free char *rootfs = NULL;
  cleanup_close int fd = -1;
  berth_err_t e = NULL;
  if (st->bundle == NULL || json_is_true (json_object_get (r, "readonly"))
      || json_object_get (json_object_get (st->config, "annotations"), BERTH_ANNOTATION_VM_IMAGE))
    return;
  if (berth_vm_take_changes (root, st->id, &fd, &e) < 0 || fd < 0)
    {
      berth_error_release (&e);
      return;
    }
  rootfs = vm_bundle_rootfs (st->config, st->bundle);
  if (berth_unpack_changes (fd, rootfs, &e) < 0)
    {
      berth_debug ("container %s: its changes were not all written back to %s: %s", st->id, rootfs, e->msg);
      berth_error_release (&e);
    }
}

static int
vm_isolation_release (const char *root, struct berth_state *st, berth_err_t *err)
{
  const char *pod = json_string_value (json_object_get (st->backend, "pod"));
  json_t *uid = json_object_get (st->backend, "jail_uid");
  vm_write_back (root, st);
  if (pod)
    berth_vm_member_release (root, pod, st->id);
  else if (json_is_integer (uid))
    vm_jail_cleanup ((unsigned long)json_integer_value (uid));
  return 0;
}

static int
vm_isolation_exec (const char *root, struct berth_state *st, const struct berth_exec_request *r, int *exit_status,
                   berth_err_t *err)
{
  return berth_vm_exec (root, st->id, r, exit_status, err);
}

/* QEMU's host pid and its state letter (R, S, T...), checked: still the
   child of this container's shim (which berth_state_alive checks); 0 when
   it is gone. */
static pid_t
vm_qemu (struct berth_state *st, char *state)
{
  pid_t pid = (pid_t)json_integer_value (json_object_get (st->backend, "pid"));
  char path[64], s = 0;
  cleanup_free char *text = NULL;
  const char *close_paren;
  berth_err_t e = NULL;
  int ppid = 0;
  if (pid <= 0 || !berth_state_alive (st))
    return 0;
  snprintf (path, sizeof (path), "/proc/%d/stat", (int)pid);
  if (read_file_at (AT_FDCWD, path, &text, NULL, &e) < 0)
    {
      berth_error_release (&e);
      return 0;
    }
  /* "pid (comm) S ppid ...": comm may hold anything, so from the last ')'. */
  close_paren = strrchr (text, ')');
  if (close_paren == NULL || sscanf (close_paren + 1, " %c %d", &s, &ppid) != 2 || ppid != st->pid)
    return 0;
  if (state)
    *state = s;
  return pid;
}

/* The whole VM stops: QEMU (all its vCPU and I/O threads) gets SIGSTOP, as
   a guest paused by its hypervisor; its file server and the shim keep
   running, and SIGCONT resumes it where it was. */
static int
vm_isolation_pause (const char *root, struct berth_state *st, bool pause, berth_err_t *err)
{
  pid_t q = vm_qemu (st, NULL);
  char s = 0;
  (void)root;
  if (q <= 0)
    return berth_error (err, ESRCH, "container `%s`: its VM is not running", st->id);
  if (kill (q, pause ? SIGSTOP : SIGCONT) < 0)
    return berth_error (err, errno, "%s the VM of container `%s`", pause ? "stop" : "continue", st->id);
  /* Stopping is asynchronous: report once it took effect. */
  for (int i = 0; i < 500 && vm_qemu (st, &s) > 0 && (s == 'T') != pause; i++)
    usleep (2000);
  if ((s == 'T') != pause)
    return berth_error (err, EIO, "the VM of container `%s` did not %s", st->id, pause ? "stop" : "continue");
  return 0;
}

static bool
vm_isolation_paused (struct berth_state *st)
{
  char s = 0;
  return vm_qemu (st, &s) > 0 && s == 'T';
}

/* The guest applies the limits to the container's cgroup; the VM's own
   size is fixed when it starts, so a memory limit above it is refused. */
static int
vm_isolation_update (const char *root, struct berth_state *st, json_t *resources, berth_err_t *err)
{
  json_int_t vm_mib = json_integer_value (json_object_get (st->backend, "memory_mib"));
  json_t *limit = json_object_get (json_object_get (resources, "memory"), "limit");
  if (vm_isolation_paused (st))
    return berth_error (err, 0, "container `%s` is paused: its guest cannot answer until it is resumed", st->id);
  if (json_is_integer (limit) && vm_mib > 0 && json_integer_value (limit) > vm_mib * 1024 * 1024)
    return berth_error (err, EINVAL,
                        "memory limit %lld MiB is more than the VM's %lld MiB (a VM's memory is set when it starts)",
                        (long long)(json_integer_value (limit) >> 20), (long long)vm_mib);
  return berth_vm_update (root, st->id, resources, err);
}

/* On the host a VM container is its shim and the VM process. */
static int
vm_isolation_pids (const char *root, struct berth_state *st, pid_t **pids, size_t *n, berth_err_t *err)
{
  *pids = xmalloc (2 * sizeof (pid_t));
  (*pids)[0] = st->pid;
  (*pids)[1] = (pid_t)json_integer_value (json_object_get (st->backend, "pid"));
  *n = (*pids)[1] > 0 ? 2 : 1;
  return 0;
}

/* A VM container's processes exist only in its guest: the guest's view,
   with the guest's PIDs (as docker top of a Hyper-V isolated container
   shows). */
static int
vm_isolation_top (const char *root, struct berth_state *st, char *const *ps_args, char ***lines, berth_err_t *err)
{
  if (ps_args && ps_args[0])
    return berth_error (err, EINVAL, "ps options are not available for a VM-isolated container (the guest has no ps)");
  if (vm_isolation_paused (st))
    return berth_error (err, 0, "container `%s` is paused: its guest cannot answer until it is resumed", st->id);
  return berth_vm_ps (root, st->id, lines, err);
}

/* The guest measures its container's cgroup. */
static int
vm_isolation_stats (const char *root, struct berth_state *st, json_t **out, berth_err_t *err)
{
  if (vm_isolation_paused (st))
    return berth_error (err, 0, "container `%s` is paused: its guest cannot answer until it is resumed", st->id);
  return berth_vm_stats (root, st->id, out, err);
}

static char *
vm_isolation_exit_reason (const char *root, struct berth_state *st, int wait_status)
{
  char *why = berth_vm_exit_reason (root, st->id);
  /* The shim exits with the container's code: a signal is its own death. */
  if (why == NULL && WIFSIGNALED (wait_status))
    why = xasprintf ("the VM shim was killed by signal %d", WTERMSIG (wait_status));
  return why;
}

static long
vm_isolation_oom_kills (const char *root, struct berth_state *st)
{
  cleanup_free char *p = xasprintf ("%s/%s/oom-kills", root, st->id);
  cleanup_free char *data = NULL;
  berth_err_t e = NULL;
  if (read_file_at (AT_FDCWD, p, &data, NULL, &e) < 0)
    {
      /* None written: the guest reported none. */
      berth_error_release (&e);
      return 0;
    }
  return strtol (data, NULL, 10);
}

/* What the runtime knows of the VM, in docker-style names. */
static json_t *
vm_isolation_describe (struct berth_state *st)
{
  json_t *vm = st->backend;
  if (vm == NULL)
    return NULL;
  json_t *d = json_pack ("{s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "GuestBootMs", json_object_get (vm, "guest_boot_ms"), "Pid",
                         json_object_get (vm, "pid"), "Accelerator", json_object_get (vm, "accel"), "Kernel",
                         json_object_get (vm, "kernel"), "GuestKernel", json_object_get (vm, "guest_kernel"),
                         "MemoryMiB", json_object_get (vm, "memory_mib"), "CPUs", json_object_get (vm, "cpus"));
  /* How it started: "template" (restored) or "cold" (booted), and why. */
  if (json_object_get (vm, "start"))
    json_object_set (d, "Start", json_object_get (vm, "start"));
  if (json_object_get (vm, "template"))
    {
      json_object_set (d, "Template", json_object_get (vm, "template"));
      json_object_set (d, "TemplateMemory", json_object_get (vm, "template_memory"));
    }
  if (json_object_get (vm, "cold_reason"))
    json_object_set (d, "ColdBootReason", json_object_get (vm, "cold_reason"));
  /* QEMU's uid in its jail (absent: it ran as root, BERTH_VM_JAIL=off). */
  if (json_object_get (vm, "jail_uid"))
    json_object_set (d, "JailUid", json_object_get (vm, "jail_uid"));
  return d;
}

static char *
vm_isolation_notice (void)
{
  const char *why;
  if (strcmp (berth_vm_accel_why (&why), "tcg") != 0)
    return NULL;
  return xasprintf ("VM isolation runs under TCG software emulation (%s): it is slow", why);
}

const struct berth_isolation berth_vm_isolation = {
  .name = "vm",
  .flags = BERTH_ISOLATION_OWN_KERNEL | BERTH_ISOLATION_FIXED_NETDEVS,
  .create = vm_isolation_create,
  .start = vm_isolation_start,
  .kill = vm_isolation_kill,
  .delete = vm_isolation_delete,
  .release = vm_isolation_release,
  .exec = vm_isolation_exec,
  .pids = vm_isolation_pids,
  .top = vm_isolation_top,
  .stats = vm_isolation_stats,
  .pause = vm_isolation_pause,
  .paused = vm_isolation_paused,
  .update = vm_isolation_update,
  .exit_reason = vm_isolation_exit_reason,
  .oom_kills = vm_isolation_oom_kills,
  .describe = vm_isolation_describe,
  .prepare = berth_vm_prepare,
  .notice = vm_isolation_notice,
};

void
berth_vm_register (void)
{
  berth_isolation_register (&berth_vm_isolation, "hyperv");
}
