#include "container.h"

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

#include "cgroup.h"
#include "cloned_binary.h"
#include "hooks.h"
#include "mount.h"
#include "ns.h"
#include "process.h"
#include "spec.h"
#include "state.h"
#include "terminal.h"
#include "utils.h"
#include "vm.h"

/* ------------------------------------------------------- parent <-> child */

enum
{
  SYNC_PID = 1,     /* intermediate -> parent: the init's pid */
  SYNC_GO,          /* parent -> init: id maps written */
  SYNC_CGROUP_DONE, /* parent -> init: in the container's cgroup */
  SYNC_MOUNTS_DONE, /* init -> parent: run prestart/createRuntime now */
  SYNC_HOOKS_DONE,  /* parent -> init */
  SYNC_READY,       /* init -> parent: waiting for start */
  SYNC_ERROR,       /* either way: data holds an encoded error */
};

struct sync_msg
{
  int32_t type;
  int32_t value;
  char data[3840];
};

static int
sync_send (int fd, int type, int value, berth_err_t e)
{
  struct sync_msg m = { .type = type, .value = value };
  size_t len = offsetof (struct sync_msg, data);
  if (type == SYNC_ERROR)
    len += (size_t)berth_error_encode (e, m.data, sizeof (m.data)) + 1;
  while (send (fd, &m, len, MSG_NOSIGNAL) < 0)
    if (errno != EINTR)
      return -1;
  return 0;
}

/* Returns the message type, 0 on EOF, -1 on error.  A SYNC_ERROR is turned
   into *err and reported as -1. */
static int
sync_recv (int fd, struct sync_msg *m, berth_err_t *err)
{
  ssize_t n;
  do
    n = recv (fd, m, sizeof (*m), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return berth_error (err, errno, "read from the container init");
  if (n == 0)
    return 0;
  if ((size_t)n < offsetof (struct sync_msg, data))
    return berth_error (err, EPROTO, "short message from the container init");
  if (m->type == SYNC_ERROR)
    {
      berth_error_decode (err, m->data, (size_t)n - offsetof (struct sync_msg, data));
      return -1;
    }
  return m->type;
}

static int
expect (int fd, int type, struct sync_msg *m, berth_err_t *err)
{
  int r = sync_recv (fd, m, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return berth_error (err, EPIPE, "the container init exited before it was ready");
  if (r != type)
    return berth_error (err, EPROTO, "unexpected message %d from the container init (wanted %d)", r, type);
  return 0;
}

static void __attribute__ ((noreturn)) child_fail (int sync, berth_err_t *err)
{
  sync_send (sync, SYNC_ERROR, 0, *err);
  _exit (1);
}

static pid_t
raw_clone (unsigned long flags)
{
  return (pid_t)syscall (SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
}

/* The init born in its cgroup (cgroup v2, Linux 5.7+): no migration
   afterwards, whose wait for an RCU grace period cost each create ~10 ms
   natively and ~30 ms in a VM's guest under TCG.  *INTO says whether it
   worked; a kernel without clone3 gets a plain clone. */
static pid_t
clone_into (unsigned long flags, int cgroup_fd, bool *into)
{
  *into = false;
  if (cgroup_fd >= 0)
    {
      struct clone_args a
          = { .flags = flags | CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroup_fd };
      pid_t pid = (pid_t)syscall (SYS_clone3, &a, sizeof (a));
      if (pid >= 0)
        {
          *into = true;
          return pid;
        }
      if (errno != ENOSYS && errno != E2BIG && errno != EINVAL)
        return -1;
    }
  return raw_clone (flags);
}

/* ---------------------------------------------------------------- the init */

struct init_ctx
{
  struct berth_spec *spec;
  const struct berth_create_opts *o;
  const char *rootfs;
  const char *state_json; /* for hooks run in the container */
  struct berth_cgroup *cgroup;
  int sync;
  int lock_fd; /* the state directory's flock: not ours to hold */
  int start_listen;
  int console; /* connected console socket or -1 */
  int join_fd[8];
  int join_type[8];
  int n_join;
  bool new_userns, new_cgroupns, new_mountns;
  bool host_mountns; /* no mount namespace in the spec at all */
  bool in_cgroup;
  int clone_flags;
};

static int
hook_state (struct init_ctx *c, const char *status, pid_t pid, char **out)
{
  json_t *j = json_pack ("{s:s,s:s,s:s,s:I,s:s}", "ociVersion", BERTH_OCI_VERSION, "id", c->o->id, "status", status,
                         "pid", (json_int_t)pid, "bundle", c->o->bundle);
  if (c->spec->annotations)
    json_object_set (j, "annotations", c->spec->annotations);
  *out = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  return 0;
}

/* Waits until the parent has put us in the container's cgroup, then
   unshares the cgroup namespace so that cgroup becomes its root. */
static int
enter_cgroup (void *data, berth_err_t *err)
{
  struct init_ctx *c = data;
  struct sync_msg m;
  if (c->in_cgroup)
    return 0;
  if (expect (c->sync, SYNC_CGROUP_DONE, &m, err) < 0)
    return -1;
  c->in_cgroup = true;
  if (c->new_cgroupns && unshare (CLONE_NEWCGROUP) < 0)
    return berth_error (err, errno, "unshare the cgroup namespace");
  return 0;
}

static void __attribute__ ((noreturn)) container_init (struct init_ctx *c)
{
  berth_err_t err = NULL;
  struct berth_spec *s = c->spec;
  struct sync_msg m;
  struct berth_rootfs rfs = { .spec = s,
                              .rootfs = c->rootfs,
                              .userns = c->new_userns,
                              .cgroupns = c->new_cgroupns,
                              .cgroup = c->cgroup,
                              .before_cgroup_mount = enter_cgroup,
                              .data = c };
  int conn;

  close (c->lock_fd);
  if (expect (c->sync, SYNC_GO, &m, &err) < 0)
    child_fail (c->sync, &err);
  if (c->new_userns)
    {
      /* The maps are written now: become root of the new namespace. */
      if (setresgid (0, 0, 0) < 0 && errno != EINVAL)
        {
          berth_error (&err, errno, "setgid 0 in the user namespace");
          child_fail (c->sync, &err);
        }
      if (setresuid (0, 0, 0) < 0 && errno != EINVAL)
        {
          berth_error (&err, errno, "setuid 0 in the user namespace");
          child_fail (c->sync, &err);
        }
    }
  for (int i = 0; i < c->n_join; i++)
    if (berth_ns_join (c->join_fd[i], c->join_type[i], &err) < 0)
      child_fail (c->sync, &err);
  if (s->hostname && s->hostname[0] && sethostname (s->hostname, strlen (s->hostname)) < 0)
    {
      berth_error (&err, errno, "hostname: sethostname \"%s\"", s->hostname);
      child_fail (c->sync, &err);
    }
  if (s->domainname && s->domainname[0] && setdomainname (s->domainname, strlen (s->domainname)) < 0)
    {
      berth_error (&err, errno, "domainname: setdomainname \"%s\"", s->domainname);
      child_fail (c->sync, &err);
    }
  /* Without a mount namespace of its own the container shares the host's:
     no mount may be made there, so the rootfs is entered with chroot and
     the spec's mounts are not performed (as runc does). */
  if (c->new_mountns && berth_rootfs_prepare (&rfs, &err) < 0)
    child_fail (c->sync, &err);
  if (enter_cgroup (c, &err) < 0)
    child_fail (c->sync, &err);

  sync_send (c->sync, SYNC_MOUNTS_DONE, 0, NULL);
  if (expect (c->sync, SYNC_HOOKS_DONE, &m, &err) < 0)
    child_fail (c->sync, &err);
  if (s->n_hooks[HOOK_CREATE_CONTAINER] && berth_run_hooks (s, HOOK_CREATE_CONTAINER, c->state_json, &err) < 0)
    child_fail (c->sync, &err);

  if (!c->new_mountns)
    {
      /* Sharing the host's mount namespace means the host's, not the
         private one the runtime re-executed in (cloned_binary.c). */
      if (c->host_mountns && berth_host_mntns () >= 0 && setns (berth_host_mntns (), CLONE_NEWNS) < 0)
        {
          berth_error (&err, errno, "join the host's mount namespace");
          child_fail (c->sync, &err);
        }
      if (chroot (c->rootfs) < 0 || chdir ("/") < 0)
        {
          berth_error (&err, errno, "chroot to `%s`", c->rootfs);
          child_fail (c->sync, &err);
        }
    }
  else if (berth_rootfs_pivot (&rfs, c->o->no_pivot, &err) < 0 || berth_rootfs_finalize (&rfs, &err) < 0)
    child_fail (c->sync, &err);

  if (s->process && s->process->terminal)
    {
      int master, slave;
      cleanup_free char *slave_path = NULL;
      if (berth_pty_open (&master, &slave, &slave_path, s->process->console_height, s->process->console_width, &err) < 0
          || berth_send_fd (c->console, master, "console", &err) < 0)
        child_fail (c->sync, &err);
      close (master);
      close (c->console);
      if ((c->new_mountns && berth_mount_console (slave_path, &err) < 0) || berth_pty_become_tty (slave, &err) < 0)
        child_fail (c->sync, &err);
      if (slave > 2)
        close (slave);
    }
  else if (c->console >= 0)
    close (c->console);

  /* A command that is not there fails create, as runc's does (callers
     such as podman tell 127 from 126 by the failing step). */
  if (s->process && s->process->args && s->process->args[0]
      && (s->process->args[0][0] == '/' || strchr (s->process->args[0], '/') == NULL))
    {
      cleanup_free char *exe = NULL;
      if (berth_find_executable (s->process->args[0], s->process->env, &exe, &err) < 0)
        child_fail (c->sync, &err);
    }
  sync_send (c->sync, SYNC_READY, 0, NULL);
  close (c->sync);

  /* Wait for `start`: it connects to the socket in the state directory. */
  do
    conn = accept4 (c->start_listen, NULL, NULL, SOCK_CLOEXEC);
  while (conn < 0 && errno == EINTR);
  if (conn < 0)
    _exit (1);
  close (c->start_listen);
  {
    char b;
    if (read (conn, &b, 1) != 1)
      _exit (1);
  }
  if (s->process == NULL)
    {
      berth_error (&err, 0, "process: not set in config.json, there is nothing to start");
      goto fail_start;
    }
  if (s->n_hooks[HOOK_START_CONTAINER] && berth_run_hooks (s, HOOK_START_CONTAINER, c->state_json, &err) < 0)
    goto fail_start;
  {
    struct berth_exec_opts eo = { .seccomp = s->seccomp,
                                  .preserve_fds = c->o->preserve_fds,
                                  .create_cwd = true,
                                  .setgroups_ok = true,
                                  .notify_sock = conn };
    berth_process_exec (s->process, &eo, &err);
  }
fail_start:
  {
    char buf[4096];
    int n = berth_error_encode (err, buf, sizeof (buf));
    (void)write_all (conn, buf, (size_t)n);
  }
  _exit (127);
}

/* ------------------------------------------------------------------ create */

static void
close_joins (struct init_ctx *c, int user, int pid, int time_ns)
{
  int extra[3] = { user, pid, time_ns };
  for (int i = 0; i < c->n_join; i++)
    close (c->join_fd[i]);
  for (int i = 0; i < 3; i++)
    if (extra[i] >= 0)
      close (extra[i]);
}

static int
resolve_rootfs (const char *bundle, const char *root_path, char **out, berth_err_t *err)
{
  cleanup_free char *joined = NULL;
  char real[PATH_MAX];
  struct stat st;
  if (root_path == NULL)
    return berth_error (err, 0, "root.path: required field is missing");
  joined = root_path[0] == '/' ? xstrdup (root_path) : xasprintf ("%s/%s", bundle, root_path);
  if (realpath (joined, real) == NULL)
    return berth_error (err, errno, "root.path: `%s`", joined);
  if (stat (real, &st) < 0 || !S_ISDIR (st.st_mode))
    return berth_error (err, ENOTDIR, "root.path: `%s`", real);
  *out = xstrdup (real);
  return 0;
}

static int
write_pid_file (const char *path, pid_t pid, berth_err_t *err)
{
  char buf[32];
  int n = snprintf (buf, sizeof (buf), "%d", pid);
  return write_file_atomic (path, buf, (size_t)n, 0644, err);
}

static int
make_start_socket (int dirfd, const char *dir, berth_err_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_error (err, errno, "socket");
  /* Through the directory fd: the state path may be longer than sun_path. */
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/start", dirfd);
  if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    return berth_error (err, errno, "bind `%s/start`", dir);
  if (listen (fd, 1) < 0)
    return berth_error (err, errno, "listen on `%s/start`", dir);
  return steal_fd (&fd);
}

static bool
wait_gone (pid_t pid, int timeout_ms)
{
  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, pid, 0);
  if (pidfd < 0)
    return errno == ESRCH;
  {
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    return poll (&p, 1, timeout_ms) > 0;
  }
}

static void
reap (pid_t pid)
{
  int status;
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
}

/* The container's state directory, new: an existing one means the id is
   taken. */
static int
make_state_dir (const struct berth_create_opts *o, char **dir, berth_err_t *err)
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

/* A VM container's prestart and createRuntime hooks run on the host
   before its VM starts.  Docker wires the network in one: libnetwork's
   setkey moves the interfaces into the network namespace of the pid it is
   given.  A holder process stands for the VM there: in the spec's
   namespace, or in a new one when the spec asks for a new one, which the
   VM then takes (*HOLDER, until the VM has taken its interfaces over). */
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
            reap (holder);
            return berth_error (err, 0, "could not make the network namespace for the prestart hooks");
          }
      }
    }
  /* Without a network namespace of its own the container has the host's:
     so has the pid the hooks see. */
  hook_state (&(struct init_ctx){ .spec = spec, .o = o }, "created", holder > 0 ? holder : getpid (), &hs);
  r = berth_run_hooks (spec, HOOK_PRESTART, hs, err) < 0 || berth_run_hooks (spec, HOOK_CREATE_RUNTIME, hs, err) < 0
          ? -1
          : 0;
  if (holder > 0 && (r < 0 || nspath))
    {
      close (p[1]);
      reap (holder);
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
  reap (holder);
}

/* The VM backend's create: the same state directory, lock and state
   file, with the VM shim standing in for the init process. */
static int
vm_create (const struct berth_create_opts *o, const char *bundle, struct berth_spec *spec, pid_t *pid_out,
           berth_err_t *err)
{
  cleanup_free char *dir = NULL;
  cleanup_close int dirfd = -1;
  cleanup_close int mark = -1;
  struct berth_state st = { 0 };
  json_t *vm = NULL;
  pid_t pid = -1;
  int ret;

  if (make_state_dir (o, &dir, err) < 0)
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
  st.id = (char *)o->id;
  st.pid = pid;
  st.start_time = process_start_time (pid);
  st.bundle = (char *)bundle;
  st.rootfs = (char *)"";
  st.created = timestamp_rfc3339 ();
  st.owner = (char *)"root";
  st.config = spec->json;
  st.vm = vm;
  ret = berth_state_save (o->root, &st, err);
  free (st.created);
  json_decref (vm);
  if (ret < 0 || (o->pid_file && write_pid_file (o->pid_file, pid, err) < 0))
    goto fail;
  if (pid_out)
    *pid_out = pid;
  return 0;

fail:
  if (pid > 0)
    {
      kill (pid, SIGKILL);
      reap (pid);
    }
  {
    berth_err_t e2 = NULL;
    berth_state_remove (o->root, o->id, &e2);
    berth_error_release (&e2);
  }
  return -1;
}

int
berth_container_create (const struct berth_create_opts *o, pid_t *pid_out, berth_err_t *err)
{
  cleanup_spec struct berth_spec *spec = NULL;
  cleanup_free char *bundle = NULL;
  cleanup_free char *rootfs = NULL;
  cleanup_free char *dir = NULL;
  cleanup_free char *cg_path = NULL;
  cleanup_free char *config_path = NULL;
  cleanup_free char *creating_state = NULL;
  cleanup_close int dirfd = -1;
  cleanup_close int start_listen = -1;
  cleanup_close int console = -1;
  int sync[2] = { -1, -1 };
  struct berth_cgroup *cgroup = NULL;
  struct init_ctx c = { 0 };
  struct berth_state st = { 0 };
  pid_t pid = -1;
  bool dir_made = false;
  int clone_flags = 0, join_user = -1, join_pid = -1, join_time = -1;
  bool new_time = false, intermediate, born_in_cgroup = false;
  struct sync_msg m;
  char real[PATH_MAX];

  for (int i = 0; i < 8; i++)
    c.join_fd[i] = -1;
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
  if (berth_vm_wanted (spec->json, o->isolation))
    return vm_create (o, bundle, spec, pid_out, err);
  if (resolve_rootfs (bundle, spec->root_path, &rootfs, err) < 0)
    return berth_error_wrap (err, "%s", config_path);
  if (spec->process && spec->process->terminal && o->console_socket == NULL && o->console_fd < 0)
    return berth_error (err, 0, "process.terminal is true: --console-socket is required");

  if (make_state_dir (o, &dir, err) < 0)
    return -1;
  dir_made = true;
  if (berth_state_lock (o->root, o->id, &dirfd, err) < 0)
    goto fail;

  if (berth_cgroup_resolve_path (spec->cgroups_path, o->id, o->systemd_cgroup, &cg_path, err) < 0)
    goto fail;
  if (berth_cgroup_create (cg_path, spec->resources, &cgroup, err) < 0)
    goto fail;

  /* Namespaces: new ones come from clone, joined ones are opened here while
     the host's /proc is still ours. */
  for (size_t i = 0; i < spec->n_namespaces; i++)
    {
      struct berth_namespace *ns = &spec->namespaces[i];
      if (ns->path == NULL)
        {
          if (ns->type == CLONE_NEWCGROUP)
            c.new_cgroupns = true;
          else if (ns->type == CLONE_NEWTIME)
            new_time = true;
          else
            clone_flags |= ns->type;
          continue;
        }
      {
        int fd = berth_ns_open (ns->path, ns->type, err);
        if (fd < 0)
          {
            berth_error_wrap (err, "linux.namespaces[%zu]", i);
            goto fail;
          }
        if (ns->type == CLONE_NEWUSER)
          join_user = fd;
        else if (ns->type == CLONE_NEWPID)
          join_pid = fd;
        else if (ns->type == CLONE_NEWTIME)
          join_time = fd;
        else
          {
            c.join_fd[c.n_join] = fd;
            c.join_type[c.n_join++] = ns->type;
          }
      }
    }
  c.new_userns = (clone_flags & CLONE_NEWUSER) != 0;
  c.new_mountns = (clone_flags & CLONE_NEWNS) != 0;
  c.host_mountns = !berth_spec_has_namespace (spec, CLONE_NEWNS, NULL);
  /* pid and time namespaces apply to children only, and a joined user
     namespace must come first: those go through an intermediate process. */
  intermediate = join_user >= 0 || join_pid >= 0 || join_time >= 0 || new_time;

  if (spec->process && spec->process->terminal)
    {
      if (o->console_fd >= 0)
        console = fcntl (o->console_fd, F_DUPFD_CLOEXEC, 3);
      else
        console = berth_console_socket_connect (o->console_socket, err);
      if (console < 0)
        {
          if (*err == NULL)
            berth_error (err, errno, "console socket");
          goto fail;
        }
    }
  start_listen = make_start_socket (dirfd, dir, err);
  if (start_listen < 0)
    goto fail;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0)
    {
      berth_error (err, errno, "socketpair");
      goto fail;
    }
  if (spec->n_hooks[HOOK_CREATE_CONTAINER] || spec->n_hooks[HOOK_START_CONTAINER])
    hook_state (&(struct init_ctx){ .spec = spec, .o = o }, "creating", 0, &creating_state);

  c.spec = spec;
  c.o = o;
  c.rootfs = rootfs;
  c.cgroup = cgroup;
  c.sync = sync[1];
  c.lock_fd = dirfd;
  c.start_listen = start_listen;
  c.console = console;
  c.clone_flags = clone_flags;
  c.state_json = creating_state;

  if (!intermediate)
    {
      cleanup_close int cgroup_fd = berth_cgroup_open_v2 (cgroup);
      pid = clone_into ((unsigned long)clone_flags, cgroup_fd, &born_in_cgroup);
      if (pid < 0)
        {
          berth_error (err, errno, "clone the container init");
          goto fail;
        }
      if (pid == 0)
        {
          close (sync[0]);
          container_init (&c);
        }
    }
  else
    {
      pid_t mid = fork ();
      if (mid < 0)
        {
          berth_error (err, errno, "fork");
          goto fail;
        }
      if (mid == 0)
        {
          berth_err_t e = NULL;
          pid_t p;
          close (sync[0]);
          if ((join_user >= 0 && berth_ns_join (join_user, CLONE_NEWUSER, &e) < 0)
              || (join_pid >= 0 && berth_ns_join (join_pid, CLONE_NEWPID, &e) < 0)
              || (join_time >= 0 && berth_ns_join (join_time, CLONE_NEWTIME, &e) < 0))
            child_fail (sync[1], &e);
          if (new_time)
            {
              if (unshare (CLONE_NEWTIME) < 0)
                {
                  berth_error (&e, errno, "unshare the time namespace");
                  child_fail (sync[1], &e);
                }
              if (berth_write_time_offsets (0, spec, &e) < 0)
                child_fail (sync[1], &e);
            }
          /* CLONE_PARENT: the init is our parent's child, so a foreground
             run can wait for it. */
          p = raw_clone ((unsigned long)clone_flags | CLONE_PARENT);
          if (p < 0)
            {
              berth_error (&e, errno, "clone the container init");
              child_fail (sync[1], &e);
            }
          if (p == 0)
            container_init (&c);
          sync_send (sync[1], SYNC_PID, p, NULL);
          _exit (0);
        }
      reap (mid);
      if (expect (sync[0], SYNC_PID, &m, err) < 0)
        goto fail;
      pid = m.value;
    }
  close (sync[1]);
  sync[1] = -1;

  if (c.new_userns && berth_write_id_maps (pid, spec, err) < 0)
    goto fail;
  /* The init makes its mounts while we attach it to the cgroup: on v1 the
     attach waits for an RCU grace period, milliseconds spent idle. */
  sync_send (sync[0], SYNC_GO, 0, NULL);
  if (!born_in_cgroup && berth_cgroup_enter (cgroup, pid, err) < 0)
    goto fail;
  /* Rlimits from here, as runc sets them: raising a hard limit needs
     CAP_SYS_RESOURCE, which the spec may not leave the container. */
  for (size_t i = 0; spec->process && i < spec->process->n_rlimits; i++)
    {
      struct rlimit rl = { .rlim_cur = spec->process->rlimits[i].soft, .rlim_max = spec->process->rlimits[i].hard };
      if (prlimit (pid, spec->process->rlimits[i].resource, &rl, NULL) < 0)
        {
          berth_error (err, errno, "process.rlimits[%zu]: prlimit", i);
          goto fail;
        }
    }
  if (spec->process && spec->process->has_oom_score_adj)
    {
      cleanup_free char *p = xasprintf ("/proc/%d/oom_score_adj", pid);
      cleanup_free char *v = xasprintf ("%d", spec->process->oom_score_adj);
      if (write_file_at (AT_FDCWD, p, v, strlen (v), err) < 0)
        {
          berth_error_wrap (err, "process.oomScoreAdj");
          goto fail;
        }
    }
  sync_send (sync[0], SYNC_CGROUP_DONE, 0, NULL);

  if (expect (sync[0], SYNC_MOUNTS_DONE, &m, err) < 0)
    goto fail;
  {
    cleanup_free char *hs = NULL;
    hook_state (&c, "created", pid, &hs);
    if (berth_run_hooks (spec, HOOK_PRESTART, hs, err) < 0 || berth_run_hooks (spec, HOOK_CREATE_RUNTIME, hs, err) < 0)
      goto fail;
  }
  sync_send (sync[0], SYNC_HOOKS_DONE, 0, NULL);
  if (expect (sync[0], SYNC_READY, &m, err) < 0)
    goto fail;

  st.id = (char *)o->id;
  st.pid = pid;
  st.start_time = process_start_time (pid);
  st.bundle = bundle;
  st.rootfs = rootfs;
  st.created = timestamp_rfc3339 ();
  st.owner = (char *)"root";
  st.config = spec->json;
  st.cgroup = cgroup;
  st.systemd_cgroup = o->systemd_cgroup;
  if (berth_state_save (o->root, &st, err) < 0)
    {
      free (st.created);
      goto fail;
    }
  free (st.created);
  if (o->pid_file && write_pid_file (o->pid_file, pid, err) < 0)
    goto fail;

  close (sync[0]);
  close_joins (&c, join_user, join_pid, join_time);
  berth_cgroup_free (cgroup);
  if (pid_out)
    *pid_out = pid;
  return 0;

fail:
  if (pid > 0)
    {
      kill (pid, SIGKILL);
      /* Our child in both paths (CLONE_PARENT): reap it. */
      reap (pid);
    }
  if (sync[0] >= 0)
    close (sync[0]);
  if (sync[1] >= 0)
    close (sync[1]);
  close_joins (&c, join_user, join_pid, join_time);
  if (cgroup)
    {
      berth_err_t e2 = NULL;
      if (berth_cgroup_destroy (cgroup, true, &e2) < 0)
        berth_cgroup_free (cgroup);
      berth_error_release (&e2);
    }
  if (dir_made)
    {
      berth_err_t e2 = NULL;
      berth_state_remove (o->root, o->id, &e2);
      berth_error_release (&e2);
    }
  return -1;
}

/* ------------------------------------------------------------------- start */

static int
connect_start (const char *root, const char *id, int *out, berth_err_t *err)
{
  cleanup_free char *dir = berth_state_dir (root, id);
  cleanup_close int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (dfd < 0)
    return berth_error (err, errno, "open `%s`", dir);
  if (fd < 0)
    return berth_error (err, errno, "socket");
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/start", dfd);
  if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    return berth_error (err, errno, "connect to the container init of `%s`", id);
  /* From now on the container counts as started. */
  if (unlinkat (dfd, "start", 0) < 0)
    return berth_error (err, errno, "remove `%s/start`", dir);
  *out = steal_fd (&fd);
  return 0;
}

/* runtime-spec: the listener gets the container process state (with the
   fd named "seccompFd") and the notify fd itself over SCM_RIGHTS. */
static int
send_to_seccomp_listener (const char *root, struct berth_state *st, int notify_fd, berth_err_t *err)
{
  json_t *sec = json_object_get (json_object_get (st->config, "linux"), "seccomp");
  const char *path = json_string_value (json_object_get (sec, "listenerPath"));
  const char *meta = json_string_value (json_object_get (sec, "listenerMetadata"));
  cleanup_close int sock = -1;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char cbuf[CMSG_SPACE (sizeof (int))];
  struct iovec iov;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof (cbuf) };
  struct cmsghdr *c;
  json_t *j;
  char *text;
  ssize_t n;

  if (path == NULL || strlen (path) >= sizeof (addr.sun_path))
    {
      close (notify_fd);
      return berth_error (err, 0, "linux.seccomp.listenerPath: missing or too long");
    }
  strcpy (addr.sun_path, path);
  sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || connect (sock, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    {
      int e = errno;
      close (notify_fd);
      return berth_error (err, e, "linux.seccomp.listenerPath: connect to `%s`", path);
    }
  j = json_pack ("{s:s,s:[s],s:I,s:s,s:o}", "ociVersion", BERTH_OCI_VERSION, "fds", "seccompFd", "pid",
                 (json_int_t)st->pid, "metadata", meta ? meta : "", "state", berth_state_json (root, st, "running"));
  text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  iov.iov_base = text;
  iov.iov_len = strlen (text);
  memset (cbuf, 0, sizeof (cbuf));
  c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &notify_fd, sizeof (int));
  n = sendmsg (sock, &msg, MSG_NOSIGNAL);
  free (text);
  close (notify_fd);
  if (n < 0)
    return berth_error (err, errno, "linux.seccomp.listenerPath: send to `%s`", path);
  return 0;
}

static int
do_start (const char *root, struct berth_state *st, berth_err_t *warning, berth_err_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *reply = NULL;
  size_t len = 0;
  int notify_fd = -1;
  const char *status = berth_state_status (root, st);

  if (strcmp (status, "created") != 0)
    return berth_error (err, 0, "cannot start container `%s`: it is %s, not created", st->id, status);
  if (st->vm)
    {
      /* As with runc, a container that failed to start is gone when start
         returns: containerd's shim counts on the exit coming first. */
      if (berth_vm_start (root, st->id, err) < 0)
        {
          wait_gone (st->pid, 5000);
          return -1;
        }
      return 0;
    }
  if (connect_start (root, st->id, &fd, err) < 0)
    return -1;
  if (write_all (fd, "s", 1) < 0)
    return berth_error (err, errno, "start `%s`", st->id);
  /* EOF without a word means the exec succeeded (the socket is CLOEXEC);
     a seccomp listener fd may come first, as a one-byte "N" message. */
  reply = xmalloc (4096);
  for (;;)
    {
      int got = -1;
      ssize_t n = berth_recv_msg (fd, reply + len, 4095 - len, &got, err);
      if (n < 0)
        return -1;
      if (got >= 0)
        {
          if (notify_fd >= 0)
            close (notify_fd);
          notify_fd = got;
          if (n == 1 && reply[len] == 'N')
            continue;
        }
      if (n == 0 || len + (size_t)n >= 4095)
        break;
      len += (size_t)n;
    }
  if (len > 0)
    {
      if (notify_fd >= 0)
        close (notify_fd);
      berth_error_decode (err, reply, len);
      return -1;
    }
  if (notify_fd >= 0 && send_to_seccomp_listener (root, st, notify_fd, err) < 0)
    return -1;
  if (st->config && json_object_get (st->config, "hooks"))
    {
      cleanup_spec struct berth_spec *spec = NULL;
      json_t *sj;
      char *text;
      if (berth_spec_from_json (st->config, &spec, err) < 0)
        return -1;
      sj = berth_state_json (root, st, "running");
      text = json_dumps (sj, JSON_COMPACT);
      json_decref (sj);
      berth_run_hooks_all (spec, HOOK_POSTSTART, text, warning);
      free (text);
    }
  return 0;
}

int
berth_container_start (const char *root, const char *id, berth_err_t *warning, berth_err_t *err)
{
  cleanup_close int lock = -1;
  struct berth_state *st = NULL;
  int ret;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  if (berth_state_lock (root, id, &lock, err) < 0)
    {
      berth_state_free (st);
      return -1;
    }
  ret = do_start (root, st, warning, err);
  berth_state_free (st);
  return ret;
}

/* --------------------------------------------------------------------- run */

static int delete_loaded (const char *root, struct berth_state *st, bool force, berth_err_t *warning, berth_err_t *err);

static volatile sig_atomic_t forward_pid;

static void
forward_signal (int sig)
{
  if (forward_pid > 0)
    kill (forward_pid, sig);
}

static void
install_forwarding (pid_t pid)
{
  static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP };
  struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
  forward_pid = pid;
  for (size_t i = 0; i < ARRAY_SIZE (sigs); i++)
    sigaction (sigs[i], &sa, NULL);
}

static int
wait_status (pid_t pid, int *exit_status, berth_err_t *err)
{
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return berth_error (err, errno, "wait for the container process");
  *exit_status = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
  return 0;
}

int
berth_container_run (const struct berth_create_opts *o, bool detach, int *exit_status, berth_err_t *err)
{
  struct berth_create_opts co = *o;
  cleanup_close int console_parent = -1;
  cleanup_close int console_child = -1;
  cleanup_close int master = -1;
  berth_err_t warning = NULL;
  struct berth_state *st = NULL;
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
    install_forwarding (pid);
  if (berth_state_load (o->root, o->id, &st, err) < 0)
    return -1;
  {
    cleanup_close int lock = -1;
    ret = berth_state_lock (o->root, o->id, &lock, err);
    if (ret == 0)
      ret = do_start (o->root, st, &warning, err);
  }
  berth_error_release (&warning);
  if (ret < 0)
    {
      berth_err_t e2 = NULL;
      delete_loaded (o->root, st, true, NULL, &e2);
      berth_error_release (&e2);
      berth_state_free (st);
      if (!detach)
        reap (pid);
      return -1;
    }
  if (detach)
    {
      berth_state_free (st);
      return 0;
    }
  {
    /* Only a terminal container sends a master over the socket. */
    struct pollfd p = { .fd = console_parent, .events = POLLIN };
    if (console_parent >= 0 && poll (&p, 1, 0) > 0 && berth_recv_fd (console_parent, &master, err) == 0)
      berth_pty_proxy (master, err);
    berth_error_release (err);
  }
  ret = wait_status (pid, exit_status, err);
  forward_pid = 0;
  {
    berth_err_t e2 = NULL;
    if (delete_loaded (o->root, st, true, NULL, &e2) < 0 && ret == 0)
      {
        *err = e2;
        ret = -1;
      }
    else
      berth_error_release (&e2);
  }
  berth_state_free (st);
  return ret;
}

/* -------------------------------------------------------- kill and delete */

static int
signal_process (struct berth_state *st, int sig, berth_err_t *err)
{
  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, st->pid, 0);
  if (pidfd < 0)
    {
      if (errno == ESRCH)
        return berth_error_code (err, ESRCH, "container `%s` is not running", st->id);
      if (kill (st->pid, sig) < 0)
        return berth_error (err, errno, "kill %d", st->pid);
      return 0;
    }
  /* The pidfd pins the process: checking the start time now rules out a
     recycled pid for the signal that follows. */
  if (process_start_time (st->pid) != st->start_time)
    return berth_error_code (err, ESRCH, "container `%s` is not running", st->id);
  if (syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return berth_error (err, errno, "send signal %d to `%s`", sig, st->id);
  return 0;
}

int
berth_container_kill (const char *root, const char *id, int sig, bool all, berth_err_t *err)
{
  struct berth_state *st = NULL;
  int ret = 0;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  if (!berth_state_alive (st))
    {
      berth_state_free (st);
      return berth_error_code (err, ESRCH, "container `%s` is not running", id);
    }
  if (st->vm)
    ret = berth_vm_kill (root, id, sig, all, err);
  else if (all && st->cgroup)
    {
      pid_t *pids = NULL;
      size_t n = 0;
      ret = berth_cgroup_pids (st->cgroup, &pids, &n, err);
      for (size_t i = 0; ret == 0 && i < n; i++)
        kill (pids[i], sig);
      free (pids);
    }
  else
    ret = signal_process (st, sig, err);
  berth_state_free (st);
  return ret;
}

int
berth_container_delete (const char *root, const char *id, bool force, berth_err_t *warning, berth_err_t *err)
{
  struct berth_state *st = NULL;
  int ret;

  if (berth_state_load (root, id, &st, err) < 0)
    {
      if (force && (*err)->status == ENOENT)
        {
          berth_error_release (err);
          return 0;
        }
      return -1;
    }
  ret = delete_loaded (root, st, force, warning, err);
  berth_state_free (st);
  return ret;
}

static int
delete_loaded (const char *root, struct berth_state *st, bool force, berth_err_t *warning, berth_err_t *err)
{
  const char *id = st->id;
  cleanup_close int lock = -1;
  const char *status;
  int ret = -1;

  if (berth_state_lock (root, id, &lock, err) < 0)
    goto out;
  status = berth_state_status (root, st);
  /* The spec: deleting a container that is not stopped is an error. */
  if (!force && strcmp (status, "stopped") != 0)
    {
      berth_error (err, 0, "cannot delete container `%s`: it is %s (use --force)", id, status);
      goto out;
    }
  if (strcmp (status, "stopped") != 0)
    {
      berth_err_t e2 = NULL;
      if (strcmp (status, "paused") == 0 && st->cgroup)
        berth_cgroup_freeze (st->cgroup, false, &e2);
      berth_error_release (&e2);
      signal_process (st, SIGKILL, &e2);
      berth_error_release (&e2);
      if (st->cgroup)
        {
          pid_t *pids = NULL;
          size_t n = 0;
          if (berth_cgroup_pids (st->cgroup, &pids, &n, &e2) == 0)
            for (size_t i = 0; i < n; i++)
              kill (pids[i], SIGKILL);
          berth_error_release (&e2);
          free (pids);
        }
      if (!wait_gone (st->pid, 10000))
        {
          berth_error (err, EBUSY, "container `%s`: the init process did not exit", id);
          goto out;
        }
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
  if (st->cgroup)
    {
      if (berth_cgroup_destroy (st->cgroup, true, err) < 0)
        goto out;
      st->cgroup = NULL;
    }
  if (st->vm && json_is_string (json_object_get (st->vm, "pod")))
    berth_vm_member_release (root, json_string_value (json_object_get (st->vm, "pod")), id);
  ret = berth_state_remove (root, id, err);
out:
  return ret;
}

/* ------------------------------------------------------ state, pause, ps */

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
  struct berth_state *st = NULL;
  const char *status;
  int ret = -1;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  status = berth_state_status (root, st);
  if (pause && strcmp (status, "running") != 0)
    berth_error (err, 0, "cannot pause container `%s`: it is %s", id, status);
  else if (!pause && strcmp (status, "paused") != 0)
    berth_error (err, 0, "cannot resume container `%s`: it is %s, not paused", id, status);
  else if (st->cgroup == NULL)
    berth_error (err, 0, "container `%s` has no cgroup", id);
  else
    ret = berth_cgroup_freeze (st->cgroup, pause, err);
  berth_state_free (st);
  return ret;
}

int
berth_container_update (const char *root, const char *id, json_t *resources, berth_err_t *err)
{
  struct berth_state *st = NULL;
  cleanup_close int lock = -1;
  int ret = -1;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  if (berth_state_lock (root, id, &lock, err) == 0)
    {
      if (!berth_state_alive (st))
        berth_error (err, 0, "cannot update container `%s`: it is stopped", id);
      else if (st->cgroup == NULL)
        berth_error (err, 0, "container `%s` has no cgroup", id);
      else if (berth_cgroup_update (st->cgroup, resources, err) == 0)
        {
          /* Keep the config in step so a later `features`/`inspect` agrees. */
          json_t *lin = json_object_get (st->config, "linux");
          if (json_is_object (lin))
            {
              json_t *old = json_object_get (lin, "resources");
              if (json_is_object (old))
                json_object_update_recursive (old, resources);
              else
                json_object_set (lin, "resources", resources);
            }
          ret = berth_state_save (root, st, err);
        }
    }
  berth_state_free (st);
  return ret;
}

int
berth_container_pids (const char *root, const char *id, pid_t **pids, size_t *n, berth_err_t *err)
{
  struct berth_state *st = NULL;
  int ret;
  *pids = NULL;
  *n = 0;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  if (!berth_state_alive (st))
    ret = 0;
  else if (st->vm)
    {
      /* On the host a VM container is its shim and the VM process. */
      *pids = xmalloc (2 * sizeof (pid_t));
      (*pids)[0] = st->pid;
      (*pids)[1] = (pid_t)json_integer_value (json_object_get (st->vm, "pid"));
      *n = (*pids)[1] > 0 ? 2 : 1;
      ret = 0;
    }
  else if (st->cgroup)
    ret = berth_cgroup_pids (st->cgroup, pids, n, err);
  else
    {
      *pids = xmalloc (sizeof (pid_t));
      (*pids)[0] = st->pid;
      *n = 1;
      ret = 0;
    }
  berth_state_free (st);
  return ret;
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

static const int exec_ns_order[] = { CLONE_NEWUSER, CLONE_NEWIPC,    CLONE_NEWUTS,  CLONE_NEWNET,
                                     CLONE_NEWPID,  CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWNS };

int
berth_container_exec (const char *root, const char *id, const struct berth_exec_request *r, int *exit_status,
                      berth_err_t *err)
{
  struct berth_state *st = NULL;
  struct berth_process *proc = NULL;
  cleanup_spec struct berth_spec *spec = NULL;
  cleanup_close int console = -1;
  cleanup_close int console_parent = -1;
  cleanup_close int master = -1;
  int ns_fd[ARRAY_SIZE (exec_ns_order)];
  int sync[2] = { -1, -1 };
  pid_t child = -1, pid = -1;
  struct sync_msg m;
  int ret = -1, notify_fd = -1;
  const char *status;

  for (size_t i = 0; i < ARRAY_SIZE (ns_fd); i++)
    ns_fd[i] = -1;
  *exit_status = 0;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  status = berth_state_status (root, st);
  if (strcmp (status, "running") != 0 && strcmp (status, "created") != 0)
    {
      berth_error (err, 0, "cannot exec in container `%s`: it is %s", id, status);
      goto out;
    }
  if (berth_spec_from_json (st->config, &spec, err) < 0)
    goto out;
  if (berth_process_from_json (r->process, "process", &proc, err) < 0)
    goto out;
  if (st->vm)
    {
      ret = berth_vm_exec (root, id, r, exit_status, err);
      goto out;
    }
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
      berth_error_code (err, ESRCH, "container `%s` is not running", id);
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
        child_fail (sync[1], &e);
      if (proc->has_oom_score_adj)
        {
          char v[16];
          snprintf (v, sizeof (v), "%d", proc->oom_score_adj);
          if (write_file_at (AT_FDCWD, "/proc/self/oom_score_adj", v, strlen (v), &e) < 0)
            child_fail (sync[1], &e);
        }
      for (size_t i = 0; i < ARRAY_SIZE (exec_ns_order); i++)
        if (ns_fd[i] >= 0 && berth_ns_join (ns_fd[i], exec_ns_order[i], &e) < 0)
          child_fail (sync[1], &e);
      /* The pid and time namespaces take effect for children: fork once
         more, as a sibling, so the caller can wait for it. */
      p = raw_clone (CLONE_PARENT);
      if (p < 0)
        {
          berth_error (&e, errno, "clone the exec process");
          child_fail (sync[1], &e);
        }
      if (p > 0)
        {
          sync_send (sync[1], SYNC_PID, p, NULL);
          _exit (0);
        }
      if (proc->terminal)
        {
          int mst, slv;
          cleanup_free char *sp = NULL;
          if (berth_pty_open (&mst, &slv, &sp, proc->console_height, proc->console_width, &e) < 0
              || berth_send_fd (console, mst, "console", &e) < 0 || berth_pty_become_tty (slv, &e) < 0)
            child_fail (sync[1], &e);
          close (mst);
          close (console);
          if (slv > 2)
            close (slv);
        }
      else if (setsid () < 0 && errno != EPERM)
        {
          berth_error (&e, errno, "setsid");
          child_fail (sync[1], &e);
        }
      {
        struct berth_exec_opts eo = { .seccomp = spec->seccomp,
                                      .preserve_fds = r->preserve_fds,
                                      .create_cwd = false,
                                      .setgroups_ok = true,
                                      .notify_sock = sync[1] };
        berth_process_exec (proc, &eo, &e);
      }
      child_fail (sync[1], &e);
    }
  close (sync[1]);
  sync[1] = -1;
  reap (child);
  if (expect (sync[0], SYNC_PID, &m, err) < 0)
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
      if (n > 0 && (size_t)n > offsetof (struct sync_msg, data) && m.type == SYNC_ERROR)
        berth_error_decode (err, m.data, (size_t)n - offsetof (struct sync_msg, data));
      else if (n > 0)
        berth_error (err, EPROTO, "unexpected message from the exec process");
      if (notify_fd >= 0)
        close (notify_fd);
      reap (pid);
      goto out;
    }
  if (notify_fd >= 0)
    {
      struct berth_state tmp = *st;
      tmp.pid = pid;
      if (send_to_seccomp_listener (root, &tmp, notify_fd, err) < 0)
        {
          kill (pid, SIGKILL);
          reap (pid);
          goto out;
        }
    }
  if (r->pid_file && write_pid_file (r->pid_file, pid, err) < 0)
    {
      kill (pid, SIGKILL);
      reap (pid);
      goto out;
    }
  if (r->detach)
    {
      if (r->pid_out)
        *r->pid_out = pid;
      ret = 0;
      goto out;
    }
  install_forwarding (pid);
  if (console_parent >= 0)
    {
      if (berth_recv_fd (console_parent, &master, err) == 0)
        berth_pty_proxy (master, err);
      berth_error_release (err);
    }
  ret = wait_status (pid, exit_status, err);
  forward_pid = 0;

out:
  for (size_t i = 0; i < ARRAY_SIZE (ns_fd); i++)
    if (ns_fd[i] >= 0)
      close (ns_fd[i]);
  if (sync[0] >= 0)
    close (sync[0]);
  if (sync[1] >= 0)
    close (sync[1]);
  berth_process_free (proc);
  berth_state_free (st);
  return ret;
}
