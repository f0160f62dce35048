/* QEMU's jail: the VM's last wall (docs/security.md).  Each VM's QEMU runs
   as a uid and gid of its own, leased from a range that owns nothing on
   the host, with no capabilities and no_new_privs, in its own mount, PID
   and IPC namespaces whose root holds /usr read-only, its own /proc and a
   few device nodes, in a cgroup of its own with memory and pids limits,
   under QEMU's own seccomp sandbox.  Every resource it uses is an fd
   handed to it before the jail closed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "lib/base/utils.h"
#include "lib/runtime/cgroup.h"
#include "lib/vm/internal.h"

#define LEASE_DIR "/run/berth-vm-ids"
#define DEFAULT_BASE 0x70000000u
#define DEFAULT_COUNT 65536u
/* QEMU's own memory beyond the guest's RAM: TCG's translation cache (32
   MiB), its binary, heap, page tables and I/O buffers. */
#define OVERHEAD_MIB 256
#define JAIL_ROOT "/tmp"

bool
vm_jail_wanted (const char **why)
{
  const char *env = getenv ("BERTH_VM_JAIL");
  cleanup_free char *conf = vm_config_string ("jail");
  const char *v = env && *env ? env : conf;
  *why = env && *env ? "BERTH_VM_JAIL" : "the host config's vm.jail";
  return v == NULL || strcmp (v, "off") != 0;
}

/* The uids (and gids, the same numbers) VMs' QEMUs take: BERTH_VM_JAIL_IDS
   or the host config's vm.jail_ids ("BASE:COUNT"), else the subordinate
   range of a user berth-vm in /etc/subuid, else 0x70000000:65536. */
static void
id_range (unsigned long *base, unsigned long *count)
{
  const char *env = getenv ("BERTH_VM_JAIL_IDS");
  cleanup_free char *conf = vm_config_string ("jail_ids");
  const char *v = env && *env ? env : conf;
  *base = DEFAULT_BASE;
  *count = DEFAULT_COUNT;
  if (v && sscanf (v, "%lu:%lu", base, count) == 2 && *base > 0 && *count > 0 && *base + *count < 0xfffffffful)
    return;
  *base = DEFAULT_BASE;
  *count = DEFAULT_COUNT;
  {
    cleanup_file FILE *f = fopen ("/etc/subuid", "re");
    char line[256];
    while (f && fgets (line, sizeof (line), f))
      {
        unsigned long b, c;
        if (sscanf (line, "berth-vm:%lu:%lu", &b, &c) == 2 && b > 0 && c > 0 && b + c < 0xfffffffful)
          {
            *base = b;
            *count = c;
            return;
          }
      }
  }
}

/* A uid no other VM holds: a lease file locked for the VM's life (the
   lock goes with the last fd: a killed shim frees its id). */
static int
lease_id (struct vm_jail *j, berth_err_t *err)
{
  unsigned long base, count;
  cleanup_close int dir = -1;
  id_range (&base, &count);
  if (mkdir (LEASE_DIR, 0700) < 0 && errno != EEXIST)
    return berth_error (err, errno, "mkdir " LEASE_DIR);
  dir = open (LEASE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0)
    return berth_error (err, errno, "open " LEASE_DIR);
  for (unsigned long k = 0, start = (unsigned long)getpid () % count; k < count; k++)
    {
      unsigned long id = base + (start + k) % count;
      char name[24];
      int fd;
      snprintf (name, sizeof (name), "%lu", id);
      fd = openat (dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0)
        return berth_error (err, errno, "open the lease `" LEASE_DIR "/%s`", name);
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        {
          j->uid = (uid_t)id;
          j->gid = (gid_t)id;
          j->lease = fd;
          return 0;
        }
      close (fd);
      if (errno != EWOULDBLOCK)
        return berth_error (err, errno, "lock the lease `" LEASE_DIR "/%s`", name);
    }
  return berth_error (err, EAGAIN,
                      "no free id for the VM's jail: all %lu of %lu-%lu are taken (BERTH_VM_JAIL_IDS=BASE:COUNT "
                      "gives more)",
                      count, base, base + count - 1);
}

int
vm_jail_prepare (struct vm_jail *j, long mem_mib, int cpus, berth_err_t *err)
{
  const char *why;
  cleanup_free char *rel = NULL;
  json_t *res;
  int r;
  memset (j, 0, sizeof (*j));
  j->lease = -1;
  if (!vm_jail_wanted (&why))
    return 0;
  if (lease_id (j, err) < 0)
    return berth_error_wrap (err, "jail the VM (BERTH_VM_JAIL=off runs QEMU as root)");
  rel = xasprintf ("/berth-vm/%lu", (unsigned long)j->uid);
  /* What a VM killed with its shim left under this id goes first. */
  {
    struct berth_cgroup *old = NULL;
    berth_err_t e = NULL;
    /* destroy frees it. */
    if (berth_cgroup_create (rel, NULL, &old, &e) == 0)
      berth_cgroup_destroy (old, true, &e);
    berth_error_release (&e);
  }
  res = json_pack ("{s:{s:I},s:{s:I}}", "memory", "limit", (json_int_t)(mem_mib + OVERHEAD_MIB) << 20, "pids", "limit",
                   (json_int_t)(128 + 2 * cpus));
  r = berth_cgroup_create (rel, res, &j->cg, err);
  json_decref (res);
  if (r < 0)
    {
      close (j->lease);
      j->lease = -1;
      return berth_error_wrap (err, "the VM's cgroup");
    }
  j->on = true;
  return 0;
}

void
vm_jail_release (struct vm_jail *j)
{
  berth_err_t e = NULL;
  if (j->cg)
    {
      berth_cgroup_destroy (j->cg, true, &e); /* and frees it */
      berth_error_release (&e);
      j->cg = NULL;
    }
  if (j->lease >= 0)
    close (j->lease);
  j->lease = -1;
  j->on = false;
}

pid_t
vm_jail_fork (const struct vm_jail *j)
{
  if (!j->on)
    return fork ();
  /* fork's semantics with new namespaces: QEMU is PID 1 of its own, and
     has no network but the tap it is handed. */
  return (pid_t)syscall (SYS_clone, (unsigned long)(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD),
                         NULL, NULL, NULL, NULL);
}

/* An empty file or directory at PATH in the jail, for a bind mount. */
static int
bind_into (const char *src, const char *dst, unsigned long extra, berth_err_t *err)
{
  struct stat st;
  if (stat (src, &st) < 0)
    return berth_error (err, errno, "stat `%s`", src);
  if (S_ISDIR (st.st_mode))
    {
      if (mkdir_p (dst, 0755, err) < 0)
        return -1;
    }
  else
    {
      int fd = open (dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (fd < 0)
        return berth_error (err, errno, "create `%s`", dst);
      close (fd);
    }
  if (mount (src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
    return berth_error (err, errno, "bind `%s`", src);
  if (mount (NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra, NULL) < 0)
    return berth_error (err, errno, "make `%s` read-only", dst);
  return 0;
}

/* The jail's root: /usr read-only (QEMU, its libraries, modules and
   firmware), the merged-/usr links, /proc of its PID namespace, /dev with
   null, zero, random, urandom (and kvm). */
static int
build_root (bool kvm, const char *qemu, berth_err_t *err)
{
  static const char *const links[] = { "bin", "lib", "lib64", "sbin" };
  static const char *const devs[] = { "null", "zero", "random", "urandom", "kvm" };
  /* Opened before the jail's tmpfs can hide it (a QEMU under /tmp). */
  cleanup_close int qfd = open (qemu, O_PATH | O_CLOEXEC);
  char qsrc[64];
  if (qfd < 0)
    return berth_error (err, errno, "open `%s`", qemu);
  snprintf (qsrc, sizeof (qsrc), "/proc/self/fd/%d", qfd);
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return berth_error (err, errno, "make the mounts private");
  if (mount ("tmpfs", JAIL_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
    return berth_error (err, errno, "mount the jail's root");
  if (bind_into ("/usr", JAIL_ROOT "/usr", MS_NODEV, err) < 0)
    return -1;
  for (size_t i = 0; i < ARRAY_SIZE (links); i++)
    {
      char src[32], dst[64], target[64];
      ssize_t n;
      snprintf (src, sizeof (src), "/%s", links[i]);
      snprintf (dst, sizeof (dst), JAIL_ROOT "/%s", links[i]);
      n = readlink (src, target, sizeof (target) - 1);
      if (n > 0)
        {
          target[n] = 0;
          if (symlink (target, dst) < 0)
            return berth_error (err, errno, "link `%s`", dst);
        }
      else if (access (src, F_OK) == 0 && bind_into (src, dst, MS_NODEV, err) < 0)
        return -1;
    }
  /* A QEMU outside /usr (BERTH_QEMU) comes in too, alone. */
  if (strncmp (qemu, "/usr/", 5) != 0)
    {
      cleanup_free char *dst = xasprintf (JAIL_ROOT "%s", qemu);
      char *slash = strrchr (dst, '/');
      *slash = 0;
      if (mkdir_p (dst, 0755, err) < 0)
        return -1;
      *slash = '/';
      if (bind_into (qsrc, dst, MS_NODEV, err) < 0)
        return -1;
    }
  if (mkdir (JAIL_ROOT "/dev", 0755) < 0 || mkdir (JAIL_ROOT "/proc", 0555) < 0)
    return berth_error (err, errno, "mkdir in the jail");
  for (size_t i = 0; i < ARRAY_SIZE (devs); i++)
    {
      char src[32], dst[64];
      if (strcmp (devs[i], "kvm") == 0 && !kvm)
        continue;
      snprintf (src, sizeof (src), "/dev/%s", devs[i]);
      snprintf (dst, sizeof (dst), JAIL_ROOT "/dev/%s", devs[i]);
      if (bind_into (src, dst, 0, err) < 0)
        return -1;
    }
  if (mount ("proc", JAIL_ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") < 0)
    return berth_error (err, errno, "mount the jail's /proc");
  if (chdir (JAIL_ROOT) < 0 || syscall (SYS_pivot_root, ".", ".") < 0 || umount2 (".", MNT_DETACH) < 0
      || chdir ("/") < 0)
    return berth_error (err, errno, "pivot into the jail");
  if (mount (NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
    return berth_error (err, errno, "make the jail's root read-only");
  return 0;
}

static int
drop_privileges (const struct vm_jail *j, bool kvm, berth_err_t *err)
{
  gid_t groups[1];
  int ngroups = 0;
  struct stat st;
  /* /dev/kvm belongs to group kvm: the jail's uid joins it for that. */
  if (kvm && stat ("/dev/kvm", &st) == 0 && st.st_gid != 0)
    groups[ngroups++] = st.st_gid;
  for (int c = 0; c <= CAP_LAST_CAP; c++)
    if (prctl (PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      return berth_error (err, errno, "drop capability %d from the bounding set", c);
  if (setgroups ((size_t)ngroups, groups) < 0 || setresgid (j->gid, j->gid, j->gid) < 0
      || setresuid (j->uid, j->uid, j->uid) < 0)
    return berth_error (err, errno, "become uid %lu", (unsigned long)j->uid);
  /* From root to another uid the kernel clears the permitted and
     effective sets; the ambient set too. */
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return berth_error (err, errno, "clear the ambient capabilities");
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return berth_error (err, errno, "no_new_privs");
  return 0;
}

int
vm_jail_enter (const struct vm_jail *j, bool kvm, const char *qemu, berth_err_t *err)
{
  if (!j->on)
    return 0;
  /* Into its cgroup while /sys is still there; "0" is the writer. */
  if (berth_cgroup_enter (j->cg, 0, err) < 0)
    return berth_error_wrap (err, "join the VM's cgroup");
  if (build_root (kvm, qemu, err) < 0)
    return berth_error_wrap (err, "build the VM's jail");
  if (drop_privileges (j, kvm, err) < 0)
    return -1;
  /* A change of uid cleared it: QEMU still goes with its shim. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0)
    return berth_error (err, errno, "PR_SET_PDEATHSIG");
  return 0;
}

/* A VM whose shim was killed leaves its (empty) cgroup: removed at the
   container's release if no VM has taken its uid since. */
void
vm_jail_cleanup (unsigned long uid)
{
  char path[64];
  cleanup_close int fd = -1;
  struct berth_cgroup *cg = NULL;
  berth_err_t e = NULL;
  /* Normally the shim removed it: then there is nothing to do. */
  snprintf (path, sizeof (path), "/sys/fs/cgroup/pids/berth-vm/%lu", uid);
  if (access (path, F_OK) < 0)
    {
      snprintf (path, sizeof (path), "/sys/fs/cgroup/berth-vm/%lu", uid);
      if (access (path, F_OK) < 0)
        return;
    }
  snprintf (path, sizeof (path), LEASE_DIR "/%lu", uid);
  fd = open (path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0)
    return;
  snprintf (path, sizeof (path), "/berth-vm/%lu", uid);
  if (berth_cgroup_create (path, NULL, &cg, &e) == 0)
    berth_cgroup_destroy (cg, true, &e);
  berth_error_release (&e);
}

char *
berth_vm_jail_describe (void)
{
  const char *why;
  unsigned long base, count;
  if (!vm_jail_wanted (&why))
    return xasprintf ("off (%s): QEMU runs as root", why);
  id_range (&base, &count);
  return xasprintf ("on: QEMU as uids %lu-%lu, no capabilities, its own mount, PID, IPC and network namespaces and "
                    "cgroup",
                    base, base + count - 1);
}
