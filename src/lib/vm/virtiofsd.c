/* The VM's file server (virtiofsd, in a mount namespace of its own),
   and the directories pod members add to it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/mount.h>

#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/net/netdev.h"
#include "lib/runtime/ns.h"
#include "lib/vm/protocol.h"
#include "lib/vm/internal.h"
#include "lib/vm/vm.h"

static const char *
virtiofsd_binary (void)
{
  const char *v = getenv ("BERTH_VIRTIOFSD");
  return v && *v ? v : "/usr/lib/qemu/virtiofsd";
}

/* The file server for the container's shared directories.  Its mounts
   live in a mount namespace of its own: when it dies, they go with it. */
int
vm_start_virtiofsd (struct shim *s, json_t *shares, int listen_fd, pid_t *out, berth_err_t *err)
{
  pid_t pid = fork ();
  if (pid < 0)
    return berth_error (err, errno, "fork virtiofsd");
  if (pid == 0)
    {
      json_t *sh;
      size_t i;
      char share[PATH_MAX];
      int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
      /* Its complaints go to the console log, beside the guest's. */
      int log = openat (s->dirfd, "console.log", O_WRONLY | O_APPEND | O_CLOEXEC);
      berth_err_t e = NULL;
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      /* By name: an fd of the old mount namespace cannot be a mount
         point in the new one. */
      snprintf (share, sizeof (share), "%s/share", s->dir);
      if (log >= 0)
        dup2 (log, 2);
      if (unshare (CLONE_NEWNS) < 0 || mount ("", "/", NULL, MS_REC | MS_SLAVE, NULL) < 0
          || mount ("tmpfs", share, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        {
          berth_error (&e, errno, "virtiofsd's mounts");
          berth_error_to_log (2, &e);
          _exit (126);
        }
      json_array_foreach (shares, i, sh)
      {
        char dst[PATH_MAX + 32];
        snprintf (dst, sizeof (dst), "%s/m%zu", share, i);
        if (mkdir (dst, 0755) < 0
            || mount (json_string_value (json_object_get (sh, "source")), dst, NULL, MS_BIND | MS_REC, NULL) < 0)
          {
            berth_error (&e, errno, "share %s", json_string_value (json_object_get (sh, "source")));
            berth_error_to_log (2, &e);
            _exit (126);
          }
        if (json_is_true (json_object_get (sh, "ro")))
          {
            struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
            if (syscall (SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof (attr)) < 0
                && mount (NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
              _exit (126);
          }
      }
      if (dup2 (listen_fd, 3) < 0)
        _exit (126);
      dup2 (null, 0);
      dup2 (null, 1);
      if (log < 0)
        dup2 (null, 2);
      close_fds_from (4, false, &e);
      {
        char src[PATH_MAX + 16];
        snprintf (src, sizeof (src), "source=%s", share);
        /* Its capabilities: what serving files as their owners takes
           (chown, DAC, fowner, fsetid, setuid, setgid), not mknod or
           file capabilities (no xattrs). */
        execl (virtiofsd_binary (), "virtiofsd", "--fd=3", "-o", src, "-o", "cache=auto", "-o", "sandbox=namespace",
               "-o", "no_posix_lock", "-o", "no_xattr", "-o", "modcaps=-mknod:-setfcap", "--thread-pool-size=2",
               (char *)NULL);
      }
      _exit (127);
    }
  *out = pid;
  return 0;
}

/* virtiofsd wants a listening socket; QEMU gets the connected end.  The
   name exists only until we have connected: nobody else can. */
int
vm_vfs_sockets (int dirfd, int out[2], berth_err_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int l = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1;
  if (l < 0)
    return berth_error (err, errno, "socket");
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/vfs.sock", dirfd);
  unlinkat (dirfd, "vfs.sock", 0);
  if (bind (l, (struct sockaddr *)&addr, sizeof (addr)) < 0 || listen (l, 1) < 0
      || (c = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0
      || connect (c, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    {
      int e = errno;
      close (l);
      if (c >= 0)
        close (c);
      unlinkat (dirfd, "vfs.sock", 0);
      return berth_error (err, e, "the virtiofs socket");
    }
  unlinkat (dirfd, "vfs.sock", 0);
  out[0] = c;
  out[1] = l;
  return 0;
}

/* ------------------------------------------------------ pod members */

/* The pod VM's file server, whose mount namespace (virtiofsd's sandbox,
   its root the directory the guest sees at /run/berth/share) takes the
   members' directories; -1 when the pod's VM has none. */
static int
pod_fs_ns (const char *root, const char *pod, berth_err_t *err)
{
  cleanup_free char *dir = berth_state_dir (root, pod);
  cleanup_free char *path = xasprintf ("%s/" FS_PID, dir);
  cleanup_free char *text = NULL, *comm = NULL, *ns = NULL;
  size_t len = 0;
  long pid;
  char *end;
  int fd;

  if (read_file_at (AT_FDCWD, path, &text, &len, err) < 0)
    {
      if ((*err)->status != ENOENT)
        return -1;
      berth_error_release (err);
      return berth_error (err, EINVAL,
                          "the VM of `%.12s` has no file server for its members' directories (a Kubernetes "
                          "sandbox's VM, or a VM container started with a -v directory, has one)",
                          pod);
    }
  pid = strtol (text, &end, 10);
  if (end == text || pid <= 1 || pid > INT32_MAX)
    return berth_error (err, EINVAL, "`%s`: not a pid", path);
  /* Still the pod's: the shim has not reaped it (and never reuses it). */
  comm = xasprintf ("/proc/%ld/comm", pid);
  free (text);
  text = NULL;
  if (read_file_at (AT_FDCWD, comm, &text, &len, err) < 0 || strncmp (text, "virtiofsd", 9) != 0)
    {
      berth_error_release (err);
      return berth_error (err, ESRCH, "the file server of `%s`'s VM is gone", pod);
    }
  ns = xasprintf ("/proc/%ld/ns/mnt", pid);
  fd = open (ns, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open `%s`", ns);
  return fd;
}

struct member_mounts
{
  const char *name; /* c-<member id> */
  int *trees;       /* detached mounts, one per share */
  size_t n;
};

/* In the file server's namespace (whose root setns made ours): whatever
   /<name> holds goes. */
static int
member_umount (const char *name, berth_err_t *err)
{
  cleanup_free char *top = xasprintf ("/%s", name);
  cleanup_dir DIR *d = opendir (top);
  struct dirent *de;
  if (d == NULL)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open `%s`", top);
  while ((de = readdir (d)))
    if (de->d_name[0] != '.')
      {
        cleanup_free char *p = xasprintf ("%s/%s", top, de->d_name);
        while (umount2 (p, MNT_DETACH) == 0)
          ;
        rmdir (p);
      }
  if (rmdir (top) < 0 && errno != ENOENT)
    return berth_error (err, errno, "rmdir `%s` in the pod's shared directory", top);
  return 0;
}

static int
member_umount_cb (void *arg, int *fd_out, char **text_out, berth_err_t *err)
{
  struct member_mounts *mm = arg;
  return member_umount (mm->name, err);
}

/* In the file server's namespace: /<name>/m<i> for each tree, all or
   none. */
static int
member_mounts_cb (void *arg, int *fd_out, char **text_out, berth_err_t *err)
{
  struct member_mounts *mm = arg;
  /* Left by a member of the same id whose delete never ran (its id is
     free again, so nothing else of it is alive). */
  if (member_umount (mm->name, err) < 0)
    return -1;
  {
    cleanup_free char *top = xasprintf ("/%s", mm->name);
    if (mkdir (top, 0755) < 0)
      return berth_error (err, errno, "mkdir `%s` in the pod's shared directory", top);
  }
  for (size_t i = 0; i < mm->n; i++)
    {
      cleanup_free char *dst = xasprintf ("/%s/m%zu", mm->name, i);
      if (mkdir (dst, 0755) < 0)
        {
          berth_error (err, errno, "mkdir `%s` in the pod's shared directory", dst);
          goto undo;
        }
      if (syscall (SYS_move_mount, mm->trees[i], "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        {
          berth_error (err, errno, "attach the member's directory %zu at `%s`", i, dst);
          goto undo;
        }
    }
  return 0;
undo:
  {
    berth_err_t e2 = NULL;
    member_umount (mm->name, &e2);
    berth_error_release (&e2);
  }
  return -1;
}

/* A member's directories join the running pod VM's file server: each is
   cloned here (read-only when asked, before the guest can see it) and
   attached in virtiofsd's namespace at c-<member>/m<i>, which the guest
   sees at /run/berth/share/c-<member>/m<i>. */
int
vm_member_mounts_attach (const char *root, const char *pod, const char *member, json_t *shares, berth_err_t *err)
{
  cleanup_close int ns = -1;
  cleanup_free char *name = xasprintf ("c-%s", member);
  cleanup_free char *text = NULL;
  cleanup_free int *trees = xcalloc (json_array_size (shares), sizeof (int));
  struct member_mounts mm = { .name = name, .trees = trees, .n = 0 };
  json_t *sh;
  size_t i;
  int fd = -1, ret = -1;

  ns = pod_fs_ns (root, pod, err);
  if (ns < 0)
    return -1;
  json_array_foreach (shares, i, sh)
  {
    const char *src = json_string_value (json_object_get (sh, "source"));
    trees[i] = (int)syscall (SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (trees[i] < 0)
      {
        berth_error (err, errno, "clone the mount of `%s`", src);
        goto out;
      }
    mm.n++;
    if (json_is_true (json_object_get (sh, "ro")))
      {
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
        if (syscall (SYS_mount_setattr, trees[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof (attr)) < 0)
          {
            berth_error (err, errno, "make the mount of `%s` read-only", src);
            goto out;
          }
      }
  }
  ret = berth_ns_call (ns, CLONE_NEWNS, member_mounts_cb, &mm, &fd, &text, err);
out:
  for (i = 0; i < mm.n; i++)
    close (trees[i]);
  return ret;
}

void
berth_vm_member_release (const char *root, const char *pod, const char *member)
{
  berth_err_t e = NULL;
  cleanup_free char *name = xasprintf ("c-%s", member);
  cleanup_free char *text = NULL;
  struct member_mounts mm = { .name = name };
  int fd = -1;
  cleanup_close int ns = pod_fs_ns (root, pod, &e);
  /* No file server: the pod's VM is gone, and its mounts with it. */
  if (ns >= 0)
    berth_ns_call (ns, CLONE_NEWNS, member_umount_cb, &mm, &fd, &text, &e);
  berth_error_release (&e);
}
