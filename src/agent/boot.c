/* The guest's boot: its own mounts, modules, the agent's port, the
   switch to a tmpfs root, and the balloon driver loaded later. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/loop.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/runtime/cgroup.h"
#include "lib/runtime/spec.h"

/* ------------------------------------------------------------- boot */

void
mount_or_log (const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
  mkdir (dst, 0755);
  if (mount (src, dst, type, flags, data) < 0 && errno != EBUSY)
    logmsg ("mount %s on %s: %s", type, dst, strerror (errno));
}

void
load_modules (void)
{
  /* /lib/modules/order lists the initramfs's modules in dependency order;
     a kernel with the drivers built in has none. */
  FILE *f = fopen ("/lib/modules/order", "re");
  char line[256];
  if (f == NULL)
    return;
  while (fgets (line, sizeof (line), f))
    {
      char path[300];
      int fd;
      line[strcspn (line, "\n")] = 0;
      if (!*line)
        continue;
      snprintf (path, sizeof (path), "/lib/modules/%s", line);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (syscall (SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
        logmsg ("load %s: %s", line, strerror (errno));
      close (fd);
      trace_step (line);
    }
  fclose (f);
}

int
open_port (void)
{
  /* The port's name, not its number, says which one is ours. */
  for (int tries = 0; tries < 500; tries++)
    {
      DIR *d = opendir ("/sys/class/virtio-ports");
      struct dirent *de;
      while (d && (de = readdir (d)))
        {
          char p[300], name[64] = "";
          int fd;
          ssize_t n;
          if (de->d_name[0] == '.')
            continue;
          snprintf (p, sizeof (p), "/sys/class/virtio-ports/%s/name", de->d_name);
          fd = open (p, O_RDONLY | O_CLOEXEC);
          if (fd < 0)
            continue;
          n = read (fd, name, sizeof (name) - 1);
          close (fd);
          if (n > 0 && strncmp (name, "berth.agent", 11) == 0)
            {
              snprintf (p, sizeof (p), "/dev/%s", de->d_name);
              fd = open (p, O_RDWR | O_CLOEXEC);
              if (fd >= 0)
                {
                  closedir (d);
                  return fd;
                }
            }
        }
      if (d)
        closedir (d);
      usleep (10000);
    }
  return -1;
}

/* The initramfs is rootfs, which pivot_root cannot leave, and a chroot
   is no wall for a container root with CAP_SYS_CHROOT.  So PID 1 first
   moves what it needs onto a tmpfs mounted over / and chroots into it:
   the containers' pivot_root then works from the tmpfs. */
long long boot_start_ms;

long long balloon_due_ms;

long long
boottime_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Modules only some containers need (virtiofs for shared directories):
   loaded when asked, to keep them off every boot.  They stay in rootfs,
   reached through this directory fd after the switch to the tmpfs root. */
int lazy_dir = -1;

int
load_lazy_module (const char *name, berth_err_t *err)
{
  char path[128];
  int fd;
  /* Loaded already (at boot, by the template): finit_module would read
     and unpack the whole file again only to say EEXIST. */
  snprintf (path, sizeof (path), "/sys/module/%s", name);
  if (access (path, F_OK) == 0)
    return 0;
  snprintf (path, sizeof (path), "%s.ko", name);
  fd = lazy_dir >= 0 ? openat (lazy_dir, path, O_RDONLY | O_CLOEXEC) : -1;
  if (lazy_dir < 0)
    errno = ENOENT;
  if (fd < 0)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open %s", path); /* built in, or none */
  if (syscall (SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
    {
      int e = errno;
      close (fd);
      return berth_error (err, e, "load the %s module", name);
    }
  close (fd);
  return 0;
}

/* Loads the balloon driver when due; until then, shortens the poll's
 *TIMEOUT to that moment. */
void
balloon_tick (int *timeout)
{
  berth_err_t err = NULL;
  long long left;
  if (balloon_due_ms == 0)
    return;
  left = balloon_due_ms - boottime_ms ();
  if (left > 0)
    {
      if (*timeout < 0 || left < *timeout)
        *timeout = (int)left;
      return;
    }
  balloon_due_ms = 0;
  if (load_lazy_module ("virtio_balloon", &err) < 0)
    {
      logmsg ("%s", err->msg);
      berth_error_release (&err);
    }
}

/* Whether the VM has a virtio device of TYPE (1: a NIC). */
static bool
has_virtio_device (int type)
{
  DIR *d = opendir ("/sys/bus/virtio/devices");
  struct dirent *de;
  bool found = false;
  while (d && !found && (de = readdir (d)))
    {
      char p[300], id[16] = "";
      int fd;
      if (de->d_name[0] == '.')
        continue;
      snprintf (p, sizeof (p), "/sys/bus/virtio/devices/%s/device", de->d_name);
      fd = open (p, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (read (fd, id, sizeof (id) - 1) > 0 && strtol (id, NULL, 16) == type)
        found = true;
      close (fd);
    }
  if (d)
    closedir (d);
  return found;
}

void
switch_root (void)
{
  load_modules ();
  trace_step ("modules");
  lazy_dir = open ("/lib/modules/lazy", O_PATH | O_DIRECTORY | O_CLOEXEC);
  mkdir ("/newroot", 0755);
  if (mount ("tmpfs", "/newroot", "tmpfs", 0, "mode=0755") < 0)
    {
      logmsg ("mount the root tmpfs: %s", strerror (errno));
      return;
    }
  {
    /* The agent binary, bound (not copied) where --init finds it. */
    int fd = open ("/newroot/init", O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    if (fd < 0 || close (fd) < 0 || mount ("/init", "/newroot/init", NULL, MS_BIND, NULL) < 0)
      {
        logmsg ("bind the agent into the root tmpfs: %s", strerror (errno));
        return;
      }
  }
  /* The loaded modules are memory nobody can reach again: freed. */
  {
    DIR *d = opendir ("/lib/modules");
    struct dirent *de;
    while (d && (de = readdir (d)))
      if (de->d_name[0] != '.')
        unlinkat (dirfd (d), de->d_name, 0);
    if (d)
      closedir (d);
  }
  if (chdir ("/newroot") < 0 || mount (".", "/", NULL, MS_MOVE, NULL) < 0 || chroot (".") < 0 || chdir ("/") < 0)
    {
      logmsg ("switch to the root tmpfs: %s", strerror (errno));
      return;
    }
  /* No re-exec from the tmpfs: rootfs's /init stays anyway (the bind's
     source), and an exec costs ~60 ms of guest boot under TCG. */
}

void
boot (void)
{
  switch_root ();
  mount_or_log ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_or_log ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_or_log ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  mount_or_log ("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  mount_or_log ("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  {
    /* What every container's create starts with, done before a template
       is saved so that no clone pays for it (~40 ms under TCG): the
       cgroup parent with its controllers, the default device filter
       (berth's and docker's: a container's own devices load their own),
       the loopback up. */
    berth_err_t err = NULL;
    json_t *spec = berth_spec_default (false);
    json_t *res = json_object_get (json_object_get (spec, "linux"), "resources");
    if (berth_cgroup_prepare (json_object_get (res, "devices"), &err) < 0 || berth_netdev_up ("lo", &err) < 0)
      {
        logmsg ("%s", err->msg);
        berth_error_release (&err);
      }
    json_decref (spec);
  }
  mkdir ("/run/berth", 0700);
  sethostname ("berth-vm", 8);
  /* A VM with a NIC gets its driver at boot (sysfs is needed to see it),
     so that a VM restored from a template has it already: ~40 ms under
     TCG off every clone's create.  Its MAC is set at create. */
  if (has_virtio_device (1))
    {
      berth_err_t err = NULL;
      /* Up too, ~15 ms under TCG (virtio-net's receive buffers) that a
         clone then does not pay; without IPv6 until create, which sets
         the container's MAC first: a link-local address made now would
         be of this MAC, every clone's. */
      if (load_lazy_module ("failover", &err) < 0 || load_lazy_module ("net_failover", &err) < 0
          || load_lazy_module ("virtio_net", &err) < 0
          || (access (NIC_IPV6_OFF, F_OK) == 0 && write_file_at (AT_FDCWD, NIC_IPV6_OFF, "1", 1, &err) < 0)
          || berth_netdev_up (NIC, &err) < 0)
        {
          logmsg ("%s", err->msg);
          berth_error_release (&err);
        }
      trace_step ("net modules");
    }
}
