/* QEMU's command line for a container's VM, and giving back the boot
   images QEMU keeps mapped once the guest is up. */
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

static long
tsc_khz (void)
{
  /* The cloud kernel's early TSC calibration hangs under TCG unless the
     frequency is given: the host's is as good as any. */
  FILE *f = fopen ("/proc/cpuinfo", "re");
  char line[256];
  double mhz = 0;
  while (f && fgets (line, sizeof (line), f))
    if (sscanf (line, "cpu MHz : %lf", &mhz) == 1)
      break;
  if (f)
    fclose (f);
  return mhz > 0 ? (long)(mhz * 1000) : 2000000;
}

/* The CPU model TCG emulates: BERTH_VM_CPU when it is a plain model name. */
static const char *
tcg_cpu (void)
{
  const char *c = getenv ("BERTH_VM_CPU");
  if (c && *c && strspn (c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == strlen (c))
    return c;
  return "max";
}

static const char *
qemu_binary (void)
{
  const char *q = getenv ("BERTH_QEMU");
  return q && *q ? q : "qemu-system-x86_64";
}

/* A short, safe token of the id for QEMU's -name (its option syntax
   treats commas specially). */
static void
safe_name (const char *id, char *out, size_t n)
{
  size_t j = 0;
  for (size_t i = 0; id[i] && j + 1 < n; i++)
    if ((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9')
        || id[i] == '-' || id[i] == '_')
      out[j++] = id[i];
  out[j] = 0;
}

/* QEMU's argv.  Every resource is an fd we opened (enum vm_fd): nothing
   from the spec becomes a path or an option QEMU parses, except the
   validated numbers. */
char **
vm_qemu_argv (const char *id, const char *accel, long mem_mib, int cpus, bool fs, bool acpi, const char *mac)
{
  char **a = xcalloc (80, sizeof (char *));
  int n = 0;
  char tok[16];
  bool kvm = strcmp (accel, "kvm") == 0;
  safe_name (id, tok, 13);
  a[n++] = xstrdup (qemu_binary ());
  a[n++] = xstrdup ("-name");
  a[n++] = xasprintf ("berth-%s,process=berth-vm-%.6s", tok, tok);
  a[n++] = xstrdup ("-machine");
  /* virtiofs needs guest memory the file server can map, and modern
     virtio-mmio. */
  a[n++] = xasprintf ("microvm%s%s", acpi ? "" : ",acpi=off", fs ? ",memory-backend=mem" : "");
  if (fs)
    {
      a[n++] = xstrdup ("-object");
      a[n++] = xasprintf ("memory-backend-memfd,id=mem,size=%ldM,share=on", mem_mib);
      a[n++] = xstrdup ("-global");
      a[n++] = xstrdup ("virtio-mmio.force-legacy=false");
    }
  a[n++] = xstrdup ("-accel");
  /* TCG's translation cache is the bulk of QEMU's own memory: bounded. */
  a[n++] = xstrdup (kvm ? "kvm" : "tcg,tb-size=32");
  a[n++] = xstrdup ("-cpu");
  a[n++] = xstrdup (kvm ? "host" : tcg_cpu ());
  a[n++] = xstrdup ("-m");
  a[n++] = xasprintf ("%ldM", mem_mib);
  a[n++] = xstrdup ("-smp");
  a[n++] = xasprintf ("%d", cpus);
  a[n++] = xstrdup ("-nodefaults");
  a[n++] = xstrdup ("-no-user-config");
  a[n++] = xstrdup ("-display");
  a[n++] = xstrdup ("none");
  a[n++] = xstrdup ("-no-reboot");
  a[n++] = xstrdup ("-serial");
  a[n++] = xstrdup ("stdio");
  a[n++] = xstrdup ("-kernel");
  a[n++] = xasprintf ("/proc/self/fd/%d", VM_FD_KERNEL);
  a[n++] = xstrdup ("-initrd");
  a[n++] = xasprintf ("/proc/self/fd/%d", VM_FD_INITRD);
  a[n++] = xstrdup ("-append");
  /* cryptomgr.notests: the self-tests of every crypto algorithm the
     kernel registers (Debian's kernels run them) took ~350 ms of each
     boot under TCG; a throwaway guest has no use for them. */
  a[n++] = xasprintf ("console=ttyS0 quiet panic=-1 reboot=t i8042.nokbd i8042.noaux pci=off tsc=reliable "
                      "no_timer_check random.trust_cpu=on cryptomgr.notests rdinit=/init%s%s",
                      getenv ("BERTH_VM_APPEND") ? " " : "", getenv ("BERTH_VM_APPEND") ?: "");
  if (!kvm)
    {
      char *o = a[n - 1];
      a[n - 1] = xasprintf ("%s tsc_early_khz=%ld", o, tsc_khz ());
      free (o);
    }
  a[n++] = xstrdup ("-chardev");
  a[n++] = xasprintf ("socket,id=agent,fd=%d", VM_FD_AGENT_QEMU);
  a[n++] = xstrdup ("-device");
  /* Two ports (0 is reserved for a console): the default 31 cost the
     guest ~20 ms of virtqueue set-up at boot under TCG. */
  a[n++] = xstrdup ("virtio-serial-device,max_ports=2");
  a[n++] = xstrdup ("-device");
  a[n++] = xstrdup ("virtserialport,chardev=agent,name=berth.agent");
  a[n++] = xstrdup ("-add-fd");
  a[n++] = xasprintf ("fd=%d,set=1,opaque=rootfs", VM_FD_ROOTFS);
  a[n++] = xstrdup ("-drive");
  a[n++] = xstrdup ("file=/dev/fdset/1,if=none,id=root,format=raw,readonly=on");
  a[n++] = xstrdup ("-device");
  a[n++] = xstrdup ("virtio-blk-device,drive=root");
  /* The guest hands back the memory it frees (its agent loads the driver
     once the container runs), so QEMU's resident set follows what the
     guest uses rather than the most it ever touched. */
  a[n++] = xstrdup ("-device");
  a[n++] = xstrdup ("virtio-balloon-device,free-page-reporting=on");
  if (fs)
    {
      a[n++] = xstrdup ("-chardev");
      a[n++] = xasprintf ("socket,id=vfs,fd=%d", VM_FD_VFS_QEMU);
      a[n++] = xstrdup ("-device");
      a[n++] = xstrdup ("vhost-user-fs-device,chardev=vfs,tag=berth");
    }
  if (mac)
    {
      a[n++] = xstrdup ("-netdev");
      a[n++] = xasprintf ("tap,id=net0,fd=%d", VM_FD_TAP);
      a[n++] = xstrdup ("-device");
      a[n++] = xasprintf ("virtio-net-device,netdev=net0,mac=%s", mac);
    }
  a[n++] = xstrdup ("-sandbox");
  a[n++] = xstrdup ("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
  return a;
}

/* QEMU keeps the guest kernel and initramfs it loaded mapped for a
   system reset, which berth's VMs never do (-no-reboot: a reboot ends the
   VM).  Once the guest is up, those pages (~48 MiB with Debian's kernel)
   go back to the host.  Best effort: a host without process_madvise or
   MADV_PAGEOUT keeps them, and so does one whose maps name another device
   than stat does for the files (overlayfs). */
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
void
vm_drop_boot_images (pid_t qemu, const struct stat *files, size_t n_files)
{
  char path[64], line[512];
  struct iovec iov[16];
  size_t n = 0;
  cleanup_file FILE *f = NULL;
  cleanup_close int pidfd = -1;
  snprintf (path, sizeof (path), "/proc/%d/maps", (int)qemu);
  f = fopen (path, "re");
  if (f == NULL)
    return;
  while (n < ARRAY_SIZE (iov) && fgets (line, sizeof (line), f))
    {
      unsigned long start, end, ino;
      unsigned maj, min;
      if (sscanf (line, "%lx-%lx %*s %*s %x:%x %lu", &start, &end, &maj, &min, &ino) != 5 || ino == 0)
        continue;
      for (size_t i = 0; i < n_files; i++)
        if (files[i].st_ino == ino && files[i].st_dev == makedev (maj, min))
          {
            iov[n].iov_base = (void *)start;
            iov[n++].iov_len = end - start;
            break;
          }
    }
  if (n == 0)
    return;
  pidfd = (int)syscall (SYS_pidfd_open, qemu, 0);
  if (pidfd >= 0)
    (void)syscall (SYS_process_madvise, pidfd, iov, n, MADV_PAGEOUT, 0);
}
