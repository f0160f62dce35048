#include "lib/runtime/process_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/mount.h>
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

/* ------------------------------------------------------- parent <-> child */

int
berth_sync_send (int fd, int type, int value, berth_err_t e)
{
  struct berth_sync_msg m = { .type = type, .value = value };
  size_t len = offsetof (struct berth_sync_msg, data);
  if (type == SYNC_ERROR)
    len += (size_t)berth_error_encode (e, m.data, sizeof (m.data)) + 1;
  while (send (fd, &m, len, MSG_NOSIGNAL) < 0)
    if (errno != EINTR)
      return -1;
  return 0;
}

int
berth_sync_recv (int fd, struct berth_sync_msg *m, berth_err_t *err)
{
  ssize_t n;
  do
    n = recv (fd, m, sizeof (*m), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return berth_error (err, errno, "read from the container init");
  if (n == 0)
    return 0;
  if ((size_t)n < offsetof (struct berth_sync_msg, data))
    return berth_error (err, EPROTO, "short message from the container init");
  if (m->type == SYNC_ERROR)
    {
      berth_error_decode (err, m->data, (size_t)n - offsetof (struct berth_sync_msg, data));
      return -1;
    }
  return m->type;
}

int
berth_sync_expect (int fd, int type, struct berth_sync_msg *m, berth_err_t *err)
{
  int r = berth_sync_recv (fd, m, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return berth_error (err, EPIPE, "the container init exited before it was ready");
  if (r != type)
    return berth_error (err, EPROTO, "unexpected message %d from the container init (wanted %d)", r, type);
  return 0;
}

void
berth_sync_fail (int sync, berth_err_t *err)
{
  berth_sync_send (sync, SYNC_ERROR, 0, *err);
  _exit (1);
}

pid_t
berth_raw_clone (unsigned long flags)
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
  return berth_raw_clone (flags);
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
  /* The runtime's side only: namespaces entered before the init's clone,
     by an intermediate process (pid and time apply to children only, and
     a joined user namespace comes first). */
  int join_user, join_pid, join_time;
  bool new_time;
  /* With a new user namespace: where the spec's devices were made for it
     (make_devnodes). */
  const char *devnodes;
};

static int
hook_state (struct init_ctx *c, const char *status, pid_t pid, char **out)
{
  *out = berth_backend_hook_state (c->o, c->spec, status, pid);
  return 0;
}

/* Waits until the parent has put us in the container's cgroup, then
   unshares the cgroup namespace so that cgroup becomes its root. */
static int
enter_cgroup (void *data, berth_err_t *err)
{
  struct init_ctx *c = data;
  struct berth_sync_msg m;
  if (c->in_cgroup)
    return 0;
  if (berth_sync_expect (c->sync, SYNC_CGROUP_DONE, &m, err) < 0)
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
  struct berth_sync_msg m;
  struct berth_rootfs rfs = { .spec = s,
                              .rootfs = c->rootfs,
                              .userns = c->new_userns,

                              .cgroupns = c->new_cgroupns,
                              .cgroup = c->cgroup,
                              .before_cgroup_mount = enter_cgroup,
                              .data = c };
  int conn;

  close (c->lock_fd);
  if (berth_sync_expect (c->sync, SYNC_GO, &m, &err) < 0)
    berth_sync_fail (c->sync, &err);
  if (c->devnodes)
    {
      /* Opened while we are still the host's root: the state directory is
         not the namespace's root's to look into. */
      int *fds = xmalloc (s->n_devices * sizeof (int));
      for (size_t k = 0; k < s->n_devices; k++)
        {
          cleanup_free char *node = xasprintf ("%s/%zu", c->devnodes, k);
          fds[k] = open (node, O_PATH | O_CLOEXEC);
        }
      rfs.devnode_fds = fds;
    }
  if (c->new_userns)
    {
      /* The maps are written now: become root of the new namespace. */
      if (setresgid (0, 0, 0) < 0 && errno != EINVAL)
        {
          berth_error (&err, errno, "setgid 0 in the user namespace");
          berth_sync_fail (c->sync, &err);
        }
      if (setresuid (0, 0, 0) < 0 && errno != EINVAL)
        {
          berth_error (&err, errno, "setuid 0 in the user namespace");
          berth_sync_fail (c->sync, &err);
        }
    }
  for (int i = 0; i < c->n_join; i++)
    if (berth_ns_join (c->join_fd[i], c->join_type[i], &err) < 0)
      berth_sync_fail (c->sync, &err);
  if (s->hostname && s->hostname[0] && sethostname (s->hostname, strlen (s->hostname)) < 0)
    {
      berth_error (&err, errno, "hostname: sethostname \"%s\"", s->hostname);
      berth_sync_fail (c->sync, &err);
    }
  if (s->domainname && s->domainname[0] && setdomainname (s->domainname, strlen (s->domainname)) < 0)
    {
      berth_error (&err, errno, "domainname: setdomainname \"%s\"", s->domainname);
      berth_sync_fail (c->sync, &err);
    }
  /* Without a mount namespace of its own the container shares the host's:
     no mount may be made there, so the rootfs is entered with chroot and
     the spec's mounts are not performed (as runc does). */
  if (c->new_mountns && berth_rootfs_prepare (&rfs, &err) < 0)
    berth_sync_fail (c->sync, &err);
  if (enter_cgroup (c, &err) < 0)
    berth_sync_fail (c->sync, &err);

  berth_sync_send (c->sync, SYNC_MOUNTS_DONE, 0, NULL);
  if (berth_sync_expect (c->sync, SYNC_HOOKS_DONE, &m, &err) < 0)
    berth_sync_fail (c->sync, &err);
  if (s->n_hooks[HOOK_CREATE_CONTAINER] && berth_run_hooks (s, HOOK_CREATE_CONTAINER, c->state_json, &err) < 0)
    berth_sync_fail (c->sync, &err);

  if (!c->new_mountns)
    {
      /* Sharing the host's mount namespace means the host's, not the
         private one the runtime re-executed in (cloned_binary.c). */
      if (c->host_mountns && berth_host_mntns () >= 0 && setns (berth_host_mntns (), CLONE_NEWNS) < 0)
        {
          berth_error (&err, errno, "join the host's mount namespace");
          berth_sync_fail (c->sync, &err);
        }
      if (chroot (c->rootfs) < 0 || chdir ("/") < 0)
        {
          berth_error (&err, errno, "chroot to `%s`", c->rootfs);
          berth_sync_fail (c->sync, &err);
        }
    }
  else if (berth_rootfs_pivot (&rfs, c->o->no_pivot, &err) < 0 || berth_rootfs_finalize (&rfs, &err) < 0)
    berth_sync_fail (c->sync, &err);

  if (s->process && s->process->terminal)
    {
      int master, slave;
      cleanup_free char *slave_path = NULL;
      if (berth_pty_open (&master, &slave, &slave_path, s->process->console_height, s->process->console_width, &err) < 0
          || berth_send_fd (c->console, master, "console", &err) < 0)
        berth_sync_fail (c->sync, &err);
      close (master);
      close (c->console);
      if ((c->new_mountns && berth_mount_console (slave_path, &err) < 0) || berth_pty_become_tty (slave, &err) < 0)
        berth_sync_fail (c->sync, &err);
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
        berth_sync_fail (c->sync, &err);
    }
  berth_sync_send (c->sync, SYNC_READY, 0, NULL);
  /* Only a container whose state is written waits for start: a create
     killed before that leaves no init that nothing knows of. */
  {
    struct berth_sync_msg m;
    if (berth_sync_expect (c->sync, SYNC_SAVED, &m, &err) < 0)
      _exit (1);
  }
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
                                  .seccomp_bpf = s->seccomp ? c->o->seccomp_bpf : NULL,
                                  .seccomp_bpf_len = c->o->seccomp_bpf_len,
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
close_joins (struct init_ctx *c)
{
  int extra[3] = { c->join_user, c->join_pid, c->join_time };
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

/* Where the cgroup will be, noted before it is made: a create killed
   before it wrote the state leaves this for delete --force.  No fsync on
   the start path: the note is only needed while this host runs, and one
   cut short can only be one from before the cgroup existed. */
static int
note_cgroup (int dirfd, const char *cgroups_path, bool systemd, berth_err_t *err)
{
  json_t *j = json_pack ("{s:s?,s:b}", "cgroupsPath", cgroups_path, "systemd", systemd);
  char *text = json_dumps (j, JSON_COMPACT);
  int r = write_file_at (dirfd, BERTH_CGROUP_NOTE, text, strlen (text), err);
  if (r < 0)
    berth_error_wrap (err, "the container's state directory");
  json_decref (j);
  free (text);
  return r;
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

/* Namespaces: new ones come from clone, joined ones are opened here while
   the host's /proc is still ours. */
static int
open_namespaces (struct init_ctx *c, struct berth_spec *spec, berth_err_t *err)
{
  for (size_t i = 0; i < spec->n_namespaces; i++)
    {
      struct berth_namespace *ns = &spec->namespaces[i];
      int fd;
      if (ns->path == NULL)
        {
          if (ns->type == CLONE_NEWCGROUP)
            c->new_cgroupns = true;
          else if (ns->type == CLONE_NEWTIME)
            c->new_time = true;
          else
            c->clone_flags |= ns->type;
          continue;
        }
      fd = berth_ns_open (ns->path, ns->type, err);
      if (fd < 0)
        return berth_error_wrap (err, "linux.namespaces[%zu]", i);
      if (ns->type == CLONE_NEWUSER)
        c->join_user = fd;
      else if (ns->type == CLONE_NEWPID)
        c->join_pid = fd;
      else if (ns->type == CLONE_NEWTIME)
        c->join_time = fd;
      else
        {
          c->join_fd[c->n_join] = fd;
          c->join_type[c->n_join++] = ns->type;
        }
    }
  c->new_userns = (c->clone_flags & CLONE_NEWUSER) != 0;
  c->new_mountns = (c->clone_flags & CLONE_NEWNS) != 0;
  c->host_mountns = !berth_spec_has_namespace (spec, CLONE_NEWNS, NULL);
  return 0;
}

/* The intermediate process: into the namespaces that apply to children
   only, then the init cloned as our parent's child (CLONE_PARENT), so
   that a foreground run can wait for it; it reports the init's pid. */
static void __attribute__ ((noreturn)) intermediate_main (struct init_ctx *c, int sync)
{
  berth_err_t e = NULL;
  pid_t p;
  if ((c->join_user >= 0 && berth_ns_join (c->join_user, CLONE_NEWUSER, &e) < 0)
      || (c->join_pid >= 0 && berth_ns_join (c->join_pid, CLONE_NEWPID, &e) < 0)
      || (c->join_time >= 0 && berth_ns_join (c->join_time, CLONE_NEWTIME, &e) < 0))
    berth_sync_fail (sync, &e);
  if (c->new_time)
    {
      if (unshare (CLONE_NEWTIME) < 0)
        {
          berth_error (&e, errno, "unshare the time namespace");
          berth_sync_fail (sync, &e);
        }
      if (berth_write_time_offsets (0, c->spec, &e) < 0)
        berth_sync_fail (sync, &e);
    }
  p = berth_raw_clone ((unsigned long)c->clone_flags | CLONE_PARENT);
  if (p < 0)
    {
      berth_error (&e, errno, "clone the container init");
      berth_sync_fail (sync, &e);
    }
  if (p == 0)
    container_init (c);
  berth_sync_send (sync, SYNC_PID, p, NULL);
  _exit (0);
}

/* The init: cloned straight into its cgroup where it can be, else through
   the intermediate process. */
static int
spawn_init (struct init_ctx *c, int sync[2], pid_t *pid, bool *born_in_cgroup, berth_err_t *err)
{
  struct berth_sync_msg m;
  pid_t mid;
  *born_in_cgroup = false;
  if (c->join_user < 0 && c->join_pid < 0 && c->join_time < 0 && !c->new_time)
    {
      cleanup_close int cgroup_fd = berth_cgroup_open_v2 (c->cgroup);
      *pid = clone_into ((unsigned long)c->clone_flags, cgroup_fd, born_in_cgroup);
      if (*pid < 0)
        return berth_error (err, errno, "clone the container init");
      if (*pid == 0)
        {
          close (sync[0]);
          container_init (c);
        }
      return 0;
    }
  mid = fork ();
  if (mid < 0)
    return berth_error (err, errno, "fork");
  if (mid == 0)
    {
      close (sync[0]);
      intermediate_main (c, sync[1]);
    }
  berth_backend_reap (mid);
  if (berth_sync_expect (sync[0], SYNC_PID, &m, err) < 0)
    return -1;
  *pid = m.value;
  return 0;
}

/* The parent's part while the init makes its mounts: id maps, the cgroup,
   rlimits and the OOM score. */
static int
configure_init (struct init_ctx *c, int sync, pid_t pid, bool born_in_cgroup, berth_err_t *err)
{
  struct berth_spec *spec = c->spec;
  if (c->new_userns && berth_write_id_maps (pid, spec, err) < 0)
    return -1;
  /* The init makes its mounts while we attach it to the cgroup: on v1 the
     attach waits for an RCU grace period, milliseconds spent idle. */
  berth_sync_send (sync, SYNC_GO, 0, NULL);
  if (!born_in_cgroup && berth_cgroup_enter (c->cgroup, pid, err) < 0)
    return -1;
  /* Rlimits from here, as runc sets them: raising a hard limit needs
     CAP_SYS_RESOURCE, which the spec may not leave the container. */
  for (size_t i = 0; spec->process && i < spec->process->n_rlimits; i++)
    {
      struct rlimit rl = { .rlim_cur = spec->process->rlimits[i].soft, .rlim_max = spec->process->rlimits[i].hard };
      if (prlimit (pid, spec->process->rlimits[i].resource, &rl, NULL) < 0)
        return berth_error (err, errno, "process.rlimits[%zu]: prlimit", i);
    }
  if (spec->process && spec->process->has_oom_score_adj)
    {
      cleanup_free char *p = xasprintf ("/proc/%d/oom_score_adj", pid);
      cleanup_free char *v = xasprintf ("%d", spec->process->oom_score_adj);
      if (write_file_at (AT_FDCWD, p, v, strlen (v), err) < 0)
        return berth_error_wrap (err, "process.oomScoreAdj");
    }
  berth_sync_send (sync, SYNC_CGROUP_DONE, 0, NULL);
  return 0;
}

/* prestart and createRuntime hooks once the init's mounts are made, then
   until the init waits for start. */
static int
run_create_hooks (struct init_ctx *c, int sync, pid_t pid, berth_err_t *err)
{
  struct berth_sync_msg m;
  cleanup_free char *hs = NULL;
  if (berth_sync_expect (sync, SYNC_MOUNTS_DONE, &m, err) < 0)
    return -1;
  hook_state (c, "created", pid, &hs);
  if (berth_run_hooks (c->spec, HOOK_PRESTART, hs, err) < 0
      || berth_run_hooks (c->spec, HOOK_CREATE_RUNTIME, hs, err) < 0)
    return -1;
  berth_sync_send (sync, SYNC_HOOKS_DONE, 0, NULL);
  return berth_sync_expect (sync, SYNC_READY, &m, err);
}

static int
save_created (struct init_ctx *c, const char *bundle, pid_t pid, berth_err_t *err)
{
  struct berth_state st = { .pid = pid,
                            .bundle = (char *)bundle,
                            .rootfs = (char *)c->rootfs,
                            .config = c->spec->json,
                            .cgroup = c->cgroup,
                            .systemd_cgroup = c->o->systemd_cgroup };
  return berth_backend_save_created (c->o, &st, err);
}

/* The container's host uid (or gid) for ID in the container: through the
   user namespace's map; unmapped, the overflow id (nobody). */
static uint32_t
host_id (const struct berth_id_map *maps, size_t n, uint32_t id)
{
  for (size_t i = 0; i < n; i++)
    if (id >= maps[i].container_id && id - maps[i].container_id < maps[i].size)
      return maps[i].host_id + (id - maps[i].container_id);
  return 65534;
}

/* In a new user namespace the init cannot mknod (and a tmpfs it mounts
   there is nodev): the spec's devices are made here, outside it, on a
   tmpfs of our own under the state directory, with the owner (mapped to
   the host's ids) and mode the spec asks for; the init binds them
   (mount.c).  The tmpfs is ours to unmount once the init has. */
struct devnodes
{
  char *path;
};

static void
drop_devnodes (struct devnodes *d)
{
  if (d->path)
    {
      umount2 (d->path, MNT_DETACH);
      rmdir (d->path);
      free (d->path);
      d->path = NULL;
    }
}

static int
make_devnodes (struct berth_spec *spec, const char *dir, struct devnodes *out, berth_err_t *err)
{
  cleanup_free char *path = xasprintf ("%s/devnodes", dir);
  if (spec->n_devices == 0)
    return 0;
  if (mkdir (path, 0700) < 0)
    return berth_error (err, errno, "mkdir `%s`", path);
  if (mount ("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0700,size=64k") < 0)
    {
      int e = errno;
      rmdir (path);
      return berth_error (err, e, "mount a tmpfs on `%s`", path);
    }
  out->path = steal_pointer (&path);
  for (size_t k = 0; k < spec->n_devices; k++)
    {
      struct berth_device *d = &spec->devices[k];
      cleanup_free char *node = xasprintf ("%s/%zu", out->path, k);
      mode_t kind = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
      mode_t mode = d->has_mode ? d->mode & 07777 : 0666;
      uid_t uid = host_id (spec->uid_maps, spec->n_uid_maps, d->has_uid ? d->uid : 0);
      gid_t gid = host_id (spec->gid_maps, spec->n_gid_maps, d->has_gid ? d->gid : 0);
      if (mknod (node, kind | mode, makedev ((unsigned)d->major, (unsigned)d->minor)) < 0 || chmod (node, mode) < 0
          || chown (node, uid, gid) < 0)
        {
          berth_error (err, errno, "linux.devices[%zu]: make `%s`", k, d->path);
          drop_devnodes (out);
          return -1;
        }
    }
  return 0;
}

/* The container's init, cloned into its namespaces and cgroup; it waits
   on the state directory's start socket for start.  On a failure every
   step so far is undone: the init killed, the cgroup and the state
   directory removed. */
int
berth_process_backend_create (const struct berth_create_opts *o, const char *bundle, struct berth_spec *spec,
                              pid_t *pid_out, berth_err_t *err)
{
  cleanup_free char *rootfs = NULL;
  cleanup_free char *dir = NULL;
  cleanup_free char *creating_state = NULL;
  cleanup_close int dirfd = -1;
  cleanup_close int start_listen = -1;
  cleanup_close int console = -1;
  int sync[2] = { -1, -1 };
  struct init_ctx c = { .spec = spec, .o = o, .join_user = -1, .join_pid = -1, .join_time = -1 };
  pid_t pid = -1;
  bool born_in_cgroup = false;
  struct devnodes devnodes = { 0 };

  for (int i = 0; i < 8; i++)
    c.join_fd[i] = -1;
  if (resolve_rootfs (bundle, spec->root_path, &rootfs, err) < 0)
    return berth_error_wrap (err, "%s/config.json", bundle);
  if (spec->process && spec->process->terminal && o->console_socket == NULL && o->console_fd < 0)
    return berth_error (err, 0, "process.terminal is true: --console-socket is required");
  if (berth_backend_make_state_dir (o, &dir, err) < 0)
    return -1;
  c.rootfs = rootfs;
  if (berth_state_lock (o->root, o->id, &dirfd, err) < 0
      || note_cgroup (dirfd, spec->cgroups_path, o->systemd_cgroup, err) < 0
      || berth_cgroup_create_spec (spec->cgroups_path, o->id, o->systemd_cgroup, spec->resources, &c.cgroup, err) < 0
      || open_namespaces (&c, spec, err) < 0)
    goto fail;
  if (spec->process && spec->process->terminal)
    {
      console = o->console_fd >= 0 ? fcntl (o->console_fd, F_DUPFD_CLOEXEC, 3)
                                   : berth_console_socket_connect (o->console_socket, err);
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
    hook_state (&c, "creating", 0, &creating_state);
  c.sync = sync[1];
  c.lock_fd = dirfd;
  c.start_listen = start_listen;
  c.console = console;
  c.state_json = creating_state;

  if (c.new_userns && make_devnodes (spec, dir, &devnodes, err) < 0)
    goto fail;
  c.devnodes = devnodes.path;
  if (spawn_init (&c, sync, &pid, &born_in_cgroup, err) < 0)
    goto fail;
  close (sync[1]);
  sync[1] = -1;
  if (configure_init (&c, sync[0], pid, born_in_cgroup, err) < 0 || run_create_hooks (&c, sync[0], pid, err) < 0
      || save_created (&c, bundle, pid, err) < 0)
    goto fail;
  berth_sync_send (sync[0], SYNC_SAVED, 0, NULL);
  close (sync[0]);
  close_joins (&c);
  berth_cgroup_free (c.cgroup);
  /* The init has bound its devices by now (it is ready). */
  drop_devnodes (&devnodes);
  if (pid_out)
    *pid_out = pid;
  return 0;

fail:
  if (pid > 0)
    {
      kill (pid, SIGKILL);
      /* Our child in both paths (CLONE_PARENT): reap it. */
      berth_backend_reap (pid);
    }
  for (int k = 0; k < 2; k++)
    if (sync[k] >= 0)
      close (sync[k]);
  close_joins (&c);
  drop_devnodes (&devnodes);
  if (c.cgroup)
    {
      berth_err_t e2 = NULL;
      if (berth_cgroup_destroy (c.cgroup, true, &e2) < 0)
        berth_cgroup_free (c.cgroup);
      berth_error_release (&e2);
    }
  {
    berth_err_t e2 = NULL;
    berth_state_remove (o->root, o->id, &e2);
    berth_error_release (&e2);
  }
  return -1;
}
