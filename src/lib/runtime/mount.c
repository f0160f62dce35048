#include "lib/runtime/mount.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/base/utils.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

#define PROPAGATION_MASK (MS_PRIVATE | MS_SHARED | MS_SLAVE | MS_UNBINDABLE)

/* Flags the kernel locks on a mount made in a less privileged user
   namespace; a remount must repeat them. */
static unsigned long
locked_flags (const char *path)
{
  struct statvfs s;
  unsigned long f = 0;
  if (statvfs (path, &s) < 0)
    return 0;
  if (s.f_flag & ST_NOSUID)
    f |= MS_NOSUID;
  if (s.f_flag & ST_NODEV)
    f |= MS_NODEV;
  if (s.f_flag & ST_NOEXEC)
    f |= MS_NOEXEC;
  if (s.f_flag & ST_RDONLY)
    f |= MS_RDONLY;
  if (s.f_flag & ST_NOATIME)
    f |= MS_NOATIME;
  if (s.f_flag & ST_NODIRATIME)
    f |= MS_NODIRATIME;
  if (s.f_flag & ST_RELATIME)
    f |= MS_RELATIME;
  return f;
}

bool
berth_is_dev_null (int fd)
{
  struct stat st;
  return fstat (fd, &st) == 0 && S_ISCHR (st.st_mode) && st.st_rdev == makedev (1, 3);
}

/* Re-resolves DEST inside the root: after a mount the old fd still points
   at the directory underneath, not at the new mount. */
static int
reopen (int rootfd, const char *dest, berth_err_t *err)
{
  return open_in_root (rootfd, dest, O_PATH, 0, err);
}

static int
remount_bind (int rootfd, const char *dest, unsigned long flags, bool userns, berth_err_t *err)
{
  char p[FD_PATH_MAX];
  cleanup_close int fd = reopen (rootfd, dest, err);
  if (fd < 0)
    return -1;
  fd_path (fd, p);
  if (userns)
    flags |= locked_flags (p) & ~MS_RDONLY;
  if (mount (NULL, p, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
    return berth_error (err, errno, "remount `%s`", dest);
  return 0;
}

static int
set_propagation (int rootfd, const char *dest, unsigned long prop, berth_err_t *err)
{
  char p[FD_PATH_MAX];
  cleanup_close int fd = -1;
  if (prop == 0)
    return 0;
  fd = reopen (rootfd, dest, err);
  if (fd < 0)
    return -1;
  if (mount (NULL, fd_path (fd, p), NULL, prop, NULL) < 0)
    return berth_error (err, errno, "set propagation of `%s`", dest);
  return 0;
}

static const char *
hierarchy_name (const char *controllers)
{
  if (str_has_prefix (controllers, "name="))
    return controllers + 5;
  return controllers;
}

/* /sys/fs/cgroup inside the container.  With a cgroup namespace the real
   hierarchies are mounted (the namespace roots them at the container's
   cgroup); without one, the container's own directories are bind-mounted so
   that the host's tree stays hidden. */
static int
mount_cgroup (struct berth_rootfs *r, int rootfd, struct berth_mount *m, berth_err_t *err)
{
  struct berth_cgroup *cg = r->cgroup;
  unsigned long flags = m->flags & ~MS_RDONLY;
  char p[FD_PATH_MAX];
  cleanup_close int fd = -1;
  if (r->before_cgroup_mount && r->before_cgroup_mount (r->data, err) < 0)
    return -1;
  fd = mkdir_open_in_root (rootfd, m->destination, false, err);
  if (fd < 0)
    return -1;
  if (cg == NULL || cg->mode == CGROUP_V2)
    {
      if (r->cgroupns || cg == NULL)
        {
          if (mount ("cgroup2", fd_path (fd, p), "cgroup2", m->flags, NULL) < 0)
            return berth_error (err, errno, "mount cgroup2 on `%s`", m->destination);
        }
      else if (mount (cg->dirs[0].path, fd_path (fd, p), NULL, MS_BIND | MS_REC, NULL) < 0
               || remount_bind (rootfd, m->destination, m->flags, r->userns, err) < 0)
        return *err ? -1 : berth_error (err, errno, "bind `%s` on `%s`", cg->dirs[0].path, m->destination);
      return 0;
    }
  if (mount ("cgroup", fd_path (fd, p), "tmpfs", flags, "mode=755") < 0)
    return berth_error (err, errno, "mount tmpfs on `%s`", m->destination);
  for (size_t i = 0; i < cg->n_dirs; i++)
    {
      const char *ctrl = cg->dirs[i].controllers;
      const char *name = ctrl[0] ? hierarchy_name (ctrl) : "unified";
      cleanup_free char *sub = xasprintf ("%s/%s", m->destination, name);
      cleanup_close int sfd = mkdir_open_in_root (rootfd, sub, false, err);
      if (sfd < 0)
        return -1;
      fd_path (sfd, p);
      if (r->cgroupns)
        {
          int rc = ctrl[0] ? mount ("cgroup", p, "cgroup", m->flags, ctrl)
                           : mount ("cgroup2", p, "cgroup2", m->flags, NULL);
          if (rc < 0)
            return berth_error (err, errno, "mount cgroup `%s` on `%s`", ctrl, sub);
        }
      else
        {
          if (mount (cg->dirs[i].path, p, NULL, MS_BIND, NULL) < 0)
            return berth_error (err, errno, "bind `%s` on `%s`", cg->dirs[i].path, sub);
          if (remount_bind (rootfd, sub, m->flags, r->userns, err) < 0)
            return -1;
        }
      /* cpu,cpuacct is also reachable as cpu and cpuacct, as on the host. */
      if (strchr (name, ','))
        {
          cleanup_free char *copy = xstrdup (name);
          char *save = NULL;
          cleanup_free char *parent = xasprintf ("%s", m->destination);
          cleanup_close int pfd = open_in_root (rootfd, parent, O_PATH | O_DIRECTORY, 0, err);
          if (pfd < 0)
            return -1;
          for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
            if (symlinkat (name, pfd, t) < 0 && errno != EEXIST)
              return berth_error (err, errno, "symlink `%s/%s`", m->destination, t);
        }
    }
  if (m->flags & MS_RDONLY)
    return remount_bind (rootfd, m->destination, m->flags | MS_RDONLY, r->userns, err) < 0 ? -1 : 0;
  return 0;
}

static int
do_mount (struct berth_rootfs *r, int rootfd, struct berth_mount *m, berth_err_t *err)
{
  char p[FD_PATH_MAX];
  cleanup_close int dst = -1;
  cleanup_close int src = -1;

  if (m->type && strcmp (m->type, "cgroup") == 0 && !m->bind)
    return mount_cgroup (r, rootfd, m, err);

  if (m->bind)
    {
      struct stat st;
      /* The source is a host path; open it once and mount that very file,
         so a swap between check and mount cannot redirect the mount. */
      src = open (m->source, O_PATH | O_CLOEXEC);
      if (src < 0)
        return berth_error (err, errno, "bind mount source `%s`", m->source);
      if (fstat (src, &st) < 0)
        return berth_error (err, errno, "stat `%s`", m->source);
      dst = mkdir_open_in_root (rootfd, m->destination, !S_ISDIR (st.st_mode), err);
      if (dst < 0)
        return -1;
      {
        char sp[FD_PATH_MAX];
        if (mount (fd_path (src, sp), fd_path (dst, p), NULL, MS_BIND | (m->recursive ? MS_REC : 0), NULL) < 0)
          return berth_error (err, errno, "bind mount `%s` on `%s`", m->source, m->destination);
      }
      if ((m->flags & ~(MS_REMOUNT)) != 0 || m->clear_flags)
        if (remount_bind (rootfd, m->destination, m->flags & ~MS_REMOUNT, r->userns, err) < 0)
          return -1;
      return set_propagation (rootfd, m->destination, m->propagation, err);
    }

  dst = mkdir_open_in_root (rootfd, m->destination, false, err);
  if (dst < 0)
    return -1;
  fd_path (dst, p);
  if (mount (m->source ? m->source : m->type, p, m->type, m->flags, m->data) < 0)
    {
      int e = errno;
      /* In a user namespace that does not own the network namespace, sysfs
         cannot be mounted: fall back to binding the host's, read-only. */
      if (e == EPERM && r->userns && strcmp (m->type, "sysfs") == 0)
        {
          if (mount ("/sys", p, NULL, MS_BIND | MS_REC, NULL) == 0)
            return remount_bind (rootfd, m->destination, m->flags | MS_RDONLY, true, err);
        }
      return berth_error (err, e, "mount %s on `%s`", m->type, m->destination);
    }
  return set_propagation (rootfd, m->destination, m->propagation, err);
}

static const struct
{
  const char *path;
  unsigned major, minor;
} default_devices[] = {
  { "/dev/null", 1, 3 },   { "/dev/zero", 1, 5 },    { "/dev/full", 1, 7 },
  { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

static int
make_device (struct berth_rootfs *r, int rootfd, const char *path, char type, unsigned major, unsigned minor,
             mode_t mode, bool has_owner, uid_t uid, gid_t gid, const char *premade, berth_err_t *err)
{
  cleanup_free char *parent = xstrdup (path);
  char *slash = strrchr (parent, '/');
  const char *name = slash + 1;
  cleanup_close int pfd = -1;
  mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;

  *slash = '\0';
  pfd = mkdir_open_in_root (rootfd, parent[0] ? parent : "/", false, err);
  if (pfd < 0)
    return -1;
  if (*name == '\0')
    return berth_error (err, 0, "device path `%s` has no name", path);
  if (r->userns && kind != S_IFIFO)
    {
      /* mknod is refused in a user namespace: bind the host's node. */
      char p[FD_PATH_MAX];
      cleanup_close int fd = -1;
      cleanup_close int host = open (premade ? premade : path, O_PATH | O_CLOEXEC);
      struct stat st;
      if (host < 0 || fstat (host, &st) < 0 || (st.st_mode & S_IFMT) != kind || st.st_rdev != makedev (major, minor))
        return berth_error (err, host < 0 ? errno : 0, "device `%s`: no matching device on the host to bind", path);
      fd = openat (pfd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0 && errno != EEXIST)
        return berth_error (err, errno, "create `%s`", path);
      close (fd);
      fd = open_in_root (rootfd, path, O_PATH | O_NOFOLLOW, 0, err);
      if (fd < 0)
        return -1;
      {
        char hp[FD_PATH_MAX];
        if (mount (fd_path (host, hp), fd_path (fd, p), NULL, MS_BIND, NULL) < 0)
          return berth_error (err, errno, "bind `%s`", path);
      }
      return 0;
    }
  if (unlinkat (pfd, name, 0) < 0 && errno != ENOENT && errno != EISDIR)
    return berth_error (err, errno, "unlink `%s`", path);
  if (mknodat (pfd, name, kind | (mode & 07777), makedev (major, minor)) < 0)
    return berth_error (err, errno, "mknod `%s`", path);
  /* mknod applies the umask: set the mode the spec asked for. */
  if (fchmodat (pfd, name, mode & 07777, 0) < 0)
    return berth_error (err, errno, "chmod `%s`", path);
  if (has_owner && fchownat (pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_error (err, errno, "chown `%s`", path);
  return 0;
}

static int
setup_dev (struct berth_rootfs *r, int rootfd, berth_err_t *err)
{
  struct berth_spec *s = r->spec;
  bool dev_mounted = false;
  static const char *links[][2] = {
    { "/proc/self/fd", "/dev/fd" },       { "/proc/self/fd/0", "/dev/stdin" }, { "/proc/self/fd/1", "/dev/stdout" },
    { "/proc/self/fd/2", "/dev/stderr" }, { "pts/ptmx", "/dev/ptmx" },
  };

  for (size_t i = 0; i < s->n_mounts; i++)
    if (strcmp (s->mounts[i].destination, "/dev") == 0 && !s->mounts[i].bind)
      dev_mounted = true;

  if (dev_mounted)
    {
      for (size_t i = 0; i < ARRAY_SIZE (default_devices); i++)
        {
          bool in_spec = false;
          for (size_t k = 0; k < s->n_devices; k++)
            in_spec |= strcmp (s->devices[k].path, default_devices[i].path) == 0;
          if (!in_spec
              && make_device (r, rootfd, default_devices[i].path, 'c', default_devices[i].major,
                              default_devices[i].minor, 0666, false, 0, 0, NULL, err)
                     < 0)
            return -1;
        }
      for (size_t i = 0; i < ARRAY_SIZE (links); i++)
        {
          cleanup_close int dev = open_in_root (rootfd, "/dev", O_PATH | O_DIRECTORY, 0, err);
          if (dev < 0)
            return -1;
          if (symlinkat (links[i][0], dev, links[i][1] + 5) < 0 && errno != EEXIST)
            return berth_error (err, errno, "symlink `%s`", links[i][1]);
        }
    }
  for (size_t k = 0; k < s->n_devices; k++)
    {
      struct berth_device *d = &s->devices[k];
      cleanup_free char *premade
          = r->devnode_fds && r->devnode_fds[k] >= 0 ? xasprintf ("/proc/self/fd/%d", r->devnode_fds[k]) : NULL;
      if (make_device (r, rootfd, d->path, d->type == 'u' ? 'c' : d->type, (unsigned)d->major, (unsigned)d->minor,
                       d->has_mode ? d->mode : 0666, d->has_uid || d->has_gid, d->has_uid ? d->uid : 0,
                       d->has_gid ? d->gid : 0, premade, err)
          < 0)
        return berth_error_wrap (err, "linux.devices[%zu]", k);
    }
  return 0;
}

int
berth_rootfs_prepare (struct berth_rootfs *r, berth_err_t *err)
{
  struct berth_spec *s = r->spec;
  unsigned long prop = MS_SLAVE | MS_REC;
  cleanup_close int rootfd = -1;

  /* Host mounts must not propagate into the container, nor ours out. */
  if (mount (NULL, "/", NULL, prop, NULL) < 0)
    return berth_error (err, errno, "make / a slave mount");
  /* pivot_root needs the new root to be a mount point of its own. */
  if (mount (r->rootfs, r->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    return berth_error (err, errno, "bind mount the rootfs `%s`", r->rootfs);
  if (mount (NULL, r->rootfs, NULL, MS_PRIVATE, NULL) < 0)
    return berth_error (err, errno, "make the rootfs private");

  rootfd = open (r->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return berth_error (err, errno, "open the rootfs `%s`", r->rootfs);

  for (size_t i = 0; i < s->n_mounts; i++)
    if (do_mount (r, rootfd, &s->mounts[i], err) < 0)
      return berth_error_wrap (err, "mounts[%zu]", i);
  if (setup_dev (r, rootfd, err) < 0)
    return -1;
  return 0;
}

int
berth_rootfs_pivot (struct berth_rootfs *r, bool no_pivot, berth_err_t *err)
{
  cleanup_close int oldroot = -1;
  cleanup_close int newroot = -1;

  newroot = open (r->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (newroot < 0)
    return berth_error (err, errno, "open the rootfs `%s`", r->rootfs);
  if (no_pivot)
    {
      if (fchdir (newroot) < 0)
        return berth_error (err, errno, "chdir to the rootfs");
      if (mount (r->rootfs, "/", NULL, MS_MOVE, NULL) < 0)
        return berth_error (err, errno, "move the rootfs to /");
      if (chroot (".") < 0)
        return berth_error (err, errno, "chroot");
      if (chdir ("/") < 0)
        return berth_error (err, errno, "chdir /");
      return 0;
    }
  oldroot = open ("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0)
    return berth_error (err, errno, "open /");
  if (fchdir (newroot) < 0)
    return berth_error (err, errno, "chdir to the rootfs");
  /* pivot_root(".", ".") stacks the old root on the new one; unmounting
     "." afterwards removes it without needing a directory for it. */
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    return berth_error (err, errno, "pivot_root");
  if (fchdir (oldroot) < 0)
    return berth_error (err, errno, "chdir to the old root");
  if (mount (NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    return berth_error (err, errno, "make the old root a slave");
  if (umount2 (".", MNT_DETACH) < 0)
    return berth_error (err, errno, "unmount the old root");
  if (chdir ("/") < 0)
    return berth_error (err, errno, "chdir /");
  return 0;
}

/* Masked and read-only paths that the rootfs lacks are nothing to do:
   1 with *fd open, 0 when absent, -1 on error. */
static int
open_if_present (int rootfd, const char *path, int *fd, berth_err_t *err)
{
  *fd = open_in_root (rootfd, path, O_PATH, 0, err);
  if (*fd >= 0)
    return 1;
  if ((*err)->status == ENOENT || (*err)->status == ELOOP)
    {
      berth_error_release (err);
      return 0;
    }
  return -1;
}

static int
mask_path (int rootfd, int nullfd, const char *path, berth_err_t *err)
{
  char p[FD_PATH_MAX], np[FD_PATH_MAX];
  struct stat st;
  cleanup_close int fd = -1;
  int r = open_if_present (rootfd, path, &fd, err);
  if (r <= 0)
    return r;
  if (fstat (fd, &st) < 0)
    return berth_error (err, errno, "stat `%s`", path);
  if (S_ISDIR (st.st_mode))
    {
      if (mount ("tmpfs", fd_path (fd, p), "tmpfs", MS_RDONLY, "size=0k,mode=0555") < 0)
        return berth_error (err, errno, "mask `%s`", path);
      return 0;
    }
  if (mount (fd_path (nullfd, np), fd_path (fd, p), NULL, MS_BIND, NULL) < 0)
    return berth_error (err, errno, "mask `%s`", path);
  return 0;
}

static int
readonly_path (int rootfd, const char *path, bool userns, berth_err_t *err)
{
  char p[FD_PATH_MAX];
  cleanup_close int fd = -1;
  int r = open_if_present (rootfd, path, &fd, err);
  if (r <= 0)
    return r;
  if (mount (fd_path (fd, p), p, NULL, MS_BIND | MS_REC, NULL) < 0)
    return berth_error (err, errno, "bind `%s`", path);
  return remount_bind (rootfd, path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, userns, err);
}

static int
apply_sysctls (struct berth_spec *s, berth_err_t *err)
{
  for (size_t i = 0; i < s->n_sysctls; i++)
    {
      cleanup_free char *path = xasprintf ("/proc/sys/%s", s->sysctls[i].key);
      cleanup_close int proc = open ("/proc/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
      cleanup_close int fd = -1;
      if (strstr (s->sysctls[i].key, "..") || strchr (s->sysctls[i].key, '/'))
        return berth_error (err, 0, "linux.sysctl: invalid key \"%s\"", s->sysctls[i].key);
      for (char *c = path + 10; *c; c++)
        if (*c == '.')
          *c = '/';
      if (proc < 0)
        return berth_error (err, errno, "linux.sysctl: /proc/sys is not mounted");
      fd = open_in_root (proc, path + 10, O_WRONLY | O_NOFOLLOW, 0, err);
      if (fd < 0)
        return berth_error_wrap (err, "linux.sysctl[\"%s\"]", s->sysctls[i].key);
      if (write_all (fd, s->sysctls[i].value, strlen (s->sysctls[i].value)) < 0)
        return berth_error (err, errno, "linux.sysctl[\"%s\"]: write \"%s\"", s->sysctls[i].key, s->sysctls[i].value);
    }
  return 0;
}

int
berth_rootfs_finalize (struct berth_rootfs *r, berth_err_t *err)
{
  struct berth_spec *s = r->spec;
  cleanup_close int rootfd = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int nullfd = -1;

  if (rootfd < 0)
    return berth_error (err, errno, "open /");
  /* Before readonlyPaths makes /proc/sys read-only. */
  if (apply_sysctls (s, err) < 0)
    return -1;
  if (s->masked_paths && s->masked_paths[0])
    {
      /* A container-made /dev/null (a symlink to a sysctl, say) would turn
         masking into an escape (CVE-2025-31133): check it is the device. */
      nullfd = open_in_root (rootfd, "/dev/null", O_PATH | O_NOFOLLOW, 0, err);
      if (nullfd < 0)
        return berth_error_wrap (err, "linux.maskedPaths");
      if (!berth_is_dev_null (nullfd))
        return berth_error (err, 0, "linux.maskedPaths: /dev/null in the container is not the null device");
      for (size_t i = 0; s->masked_paths[i]; i++)
        if (mask_path (rootfd, nullfd, s->masked_paths[i], err) < 0)
          return berth_error_wrap (err, "linux.maskedPaths[%zu]", i);
    }
  for (size_t i = 0; s->readonly_paths && s->readonly_paths[i]; i++)
    if (readonly_path (rootfd, s->readonly_paths[i], r->userns, err) < 0)
      return berth_error_wrap (err, "linux.readonlyPaths[%zu]", i);
  if (s->rootfs_propagation)
    {
      static const struct
      {
        const char *n;
        unsigned long f;
      } props[] = { { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
                    { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
                    { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
                    { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC } };
      for (size_t i = 0; i < ARRAY_SIZE (props); i++)
        if (strcmp (props[i].n, s->rootfs_propagation) == 0 && mount (NULL, "/", NULL, props[i].f, NULL) < 0)
          return berth_error (err, errno, "linux.rootfsPropagation: set \"%s\" on /", s->rootfs_propagation);
    }
  if (s->root_readonly)
    {
      unsigned long f = MS_BIND | MS_REMOUNT | MS_RDONLY;
      if (r->userns)
        f |= locked_flags ("/");
      if (mount (NULL, "/", NULL, f, NULL) < 0)
        return berth_error (err, errno, "root.readonly: remount / read-only");
    }
  return 0;
}

int
berth_mount_console (const char *slave_path, berth_err_t *err)
{
  cleanup_close int rootfd = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int fd = -1;
  char p[FD_PATH_MAX];
  if (rootfd < 0)
    return berth_error (err, errno, "open /");
  fd = mkdir_open_in_root (rootfd, "/dev/console", true, err);
  if (fd < 0)
    return -1;
  if (mount (slave_path, fd_path (fd, p), NULL, MS_BIND, NULL) < 0)
    return berth_error (err, errno, "bind `%s` on /dev/console", slave_path);
  return 0;
}
