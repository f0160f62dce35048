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

char *
vm_qemu_path (void)
{
  const char *q = vm_qemu_binary ();
  cleanup_free char *dirs = NULL;
  char *save = NULL;
  if (strchr (q, '/'))
    return realpath (q, NULL) ?: xstrdup (q);
  dirs = xstrdup (getenv ("PATH") ?: "/usr/local/bin:/usr/bin:/bin");
  for (char *d = strtok_r (dirs, ":", &save); d; d = strtok_r (NULL, ":", &save))
    {
      cleanup_free char *p = xasprintf ("%s/%s", d, q);
      struct stat st;
      if (stat (p, &st) == 0 && S_ISREG (st.st_mode) && access (p, X_OK) == 0)
        return realpath (p, NULL) ?: xstrdup (p);
    }
  return NULL;
}

const char *
vm_qemu_binary (void)
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

/* ACPI unless the annotation says off or the kernel has a no-acpi file
   beside it. */
static bool
vm_acpi (json_t *annotations, const char *kernel)
{
  cleanup_free char *kdir = xstrdup (kernel);
  cleanup_free char *marker = NULL;
  char *slash = strrchr (kdir, '/');
  if (strcmp (json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_ACPI)) ?: "", "off") == 0)
    return false;
  if (slash)
    *slash = 0;
  marker = xasprintf ("%s/no-acpi", slash ? kdir : ".");
  return access (marker, F_OK) < 0;
}

void
vm_machine_init (struct vm_machine *m, json_t *config, const char *kernel, bool fs, bool net)
{
  const char *extra = getenv ("BERTH_VM_APPEND");
  bool kvm;
  m->qemu = vm_qemu_path ();
  m->accel = berth_vm_accel ();
  kvm = strcmp (m->accel, "kvm") == 0;
  m->cpu = kvm ? "host" : tcg_cpu ();
  vm_size (config, &m->mem_mib, &m->cpus);
  m->fs = fs;
  m->net = net;
  m->acpi = vm_acpi (json_object_get (config, "annotations"), kernel);
  /* cryptomgr.notests: the self-tests of every crypto algorithm the
     kernel registers (Debian's kernels run them) took ~350 ms of each
     boot under TCG; a throwaway guest has no use for them. */
  m->append = xasprintf ("console=ttyS0 quiet panic=-1 reboot=t i8042.nokbd i8042.noaux pci=off tsc=reliable "
                         "no_timer_check random.trust_cpu=on cryptomgr.notests rdinit=/init%s%s",
                         extra ? " " : "", extra ?: "");
  if (!kvm)
    {
      char *o = m->append;
      m->append = xasprintf ("%s tsc_early_khz=%ld", o, tsc_khz ());
      free (o);
    }
}

void
vm_machine_release (struct vm_machine *m)
{
  free (m->append);
  free (m->qemu);
  m->append = m->qemu = NULL;
}

/* QEMU's argv.  Every resource is an fd we opened (enum vm_fd): nothing
   from the spec becomes a path or an option QEMU parses, except the
   validated numbers.  A template is saved and restored with the same
   devices: only their backends differ (a placeholder disk and an
   unconnected NIC while it is made). */
char **
vm_qemu_argv (const char *id, const struct vm_machine *m, enum vm_start_kind kind, bool shared_ram, const char *mac)
{
  char **a = xcalloc (96, sizeof (char *));
  int n = 0;
  char tok[16];
  bool kvm = strcmp (m->accel, "kvm") == 0;
  bool ram_fd = kind != VM_START_COLD;
  safe_name (id, tok, 13);
  a[n++] = xstrdup (vm_qemu_binary ());
  a[n++] = xstrdup ("-name");
  a[n++] = xasprintf ("berth-%s,process=berth-vm-%.6s", tok, tok);
  a[n++] = xstrdup ("-machine");
  /* virtiofs needs guest memory the file server can map, and modern
     virtio-mmio; a template's RAM is a file we hand over. */
  a[n++] = xasprintf ("microvm%s%s", m->acpi ? "" : ",acpi=off", m->fs || ram_fd ? ",memory-backend=mem" : "");
  if (ram_fd)
    {
      /* Saved with x-ignore-shared: the RAM stays in the file, only device
         state goes into the stream.  A restored VM maps its own copy
         shared (it is nobody else's), or the one sealed copy of every VM
         privately (copy-on-write: QEMU cannot write the file). */
      a[n++] = xstrdup ("-object");
      a[n++] = xasprintf ("memory-backend-file,id=mem,size=%ldM,mem-path=/proc/self/fd/%d,share=%s", m->mem_mib,
                          VM_FD_RAM, shared_ram ? "off" : "on");
    }
  else if (m->fs)
    {
      a[n++] = xstrdup ("-object");
      a[n++] = xasprintf ("memory-backend-memfd,id=mem,size=%ldM,share=on", m->mem_mib);
    }
  if (m->fs)
    {
      a[n++] = xstrdup ("-global");
      a[n++] = xstrdup ("virtio-mmio.force-legacy=false");
    }
  a[n++] = xstrdup ("-accel");
  /* TCG's translation cache is the bulk of QEMU's own memory: bounded. */
  a[n++] = xstrdup (kvm ? "kvm" : "tcg,tb-size=32");
  a[n++] = xstrdup ("-cpu");
  a[n++] = xstrdup (m->cpu);
  a[n++] = xstrdup ("-m");
  a[n++] = xasprintf ("%ldM", m->mem_mib);
  a[n++] = xstrdup ("-smp");
  a[n++] = xasprintf ("%d", m->cpus);
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
  a[n++] = xstrdup (m->append);
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
  if (m->fs)
    {
      a[n++] = xstrdup ("-chardev");
      a[n++] = xasprintf ("socket,id=vfs,fd=%d", VM_FD_VFS_QEMU);
      a[n++] = xstrdup ("-device");
      a[n++] = xstrdup ("vhost-user-fs-device,chardev=vfs,tag=berth");
    }
  if (m->net)
    {
      a[n++] = xstrdup ("-netdev");
      a[n++] = kind == VM_START_TEMPLATE ? xstrdup ("hubport,id=net0,hubid=0")
                                         : xasprintf ("tap,id=net0,fd=%d", VM_FD_TAP);
      a[n++] = xstrdup ("-device");
      a[n++]
          = mac ? xasprintf ("virtio-net-device,netdev=net0,mac=%s", mac) : xstrdup ("virtio-net-device,netdev=net0");
    }
  if (kind != VM_START_COLD)
    {
      /* Its monitor, to save it or to restore it (x-ignore-shared is a
         capability to set first, not an option). */
      a[n++] = xstrdup ("-chardev");
      a[n++] = xasprintf ("socket,id=qmp,fd=%d", VM_FD_QMP);
      a[n++] = xstrdup ("-mon");
      a[n++] = xstrdup ("chardev=qmp,mode=control");
    }
  if (kind == VM_START_TEMPLATE)
    {
      /* Saved stopped, without the run state: a restored VM runs as soon
         as it is loaded. */
      a[n++] = xstrdup ("-global");
      a[n++] = xstrdup ("migration.store-global-state=off");
    }
  if (kind == VM_START_RESTORE)
    {
      a[n++] = xstrdup ("-incoming");
      a[n++] = xstrdup ("defer");
    }
  a[n++] = xstrdup ("-sandbox");
  a[n++] = xstrdup ("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
  return a;
}

bool
vm_fds_place (int src[VM_FD_END - VM_FD_AGENT_QEMU])
{
  berth_err_t e = NULL;
  int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  /* Above every target first, so that no dup2 overwrites a source. */
  for (int i = 0; i < VM_FD_END - VM_FD_AGENT_QEMU; i++)
    if ((src[i] = fcntl (src[i] >= 0 ? src[i] : null, F_DUPFD_CLOEXEC, 64)) < 0)
      return false;
  for (int i = 0; i < VM_FD_END - VM_FD_AGENT_QEMU; i++)
    if (dup3 (src[i], VM_FD_AGENT_QEMU + i, O_CLOEXEC) < 0)
      return false;
  if (close_fds_from (VM_FD_END, false, &e) < 0)
    {
      berth_error_release (&e);
      return false;
    }
  return true;
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
