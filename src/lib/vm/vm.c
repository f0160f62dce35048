/* VM isolation backend (vm.h): the VM shim and its clients. */
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

#include "lib/vm/agent_proto.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/vm/vm.h"
#include "lib/net/netdev.h"
#include "lib/runtime/ns.h"

#define SHIM_SOCK "vm.sock"
#define FS_PID "fs.pid"      /* the VM's virtiofsd, for pod members' mounts */
#define CREATED_MARK "start" /* berth_state_status: "created" while it exists */
#define MAX_CLIENTS 32
/* The guest's own memory beyond the container's limit: kernel and agent. */
#define GUEST_BASE_MIB 128
#define DEFAULT_MEM_MIB 256

const char *
berth_vm_accel_why (const char **why)
{
  const char *force = getenv ("BERTH_VM_ACCEL");
  int fd;
  if (force && (strcmp (force, "kvm") == 0 || strcmp (force, "tcg") == 0))
    {
      *why = "chosen by BERTH_VM_ACCEL";
      return force;
    }
  fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      *why = errno == ENOENT ? "no /dev/kvm" : "/dev/kvm cannot be opened";
      return "tcg";
    }
  close (fd);
  /* A /dev/kvm served by another hypervisor flavour (PVM, for nested
     guests without hardware virtualisation) hangs QEMU's KVM guests. */
  if (access ("/sys/module/kvm_intel", F_OK) < 0 && access ("/sys/module/kvm_amd", F_OK) < 0)
    {
      *why = access ("/sys/module/kvm_pvm", F_OK) == 0 ? "/dev/kvm is kvm_pvm, which QEMU cannot drive"
                                                       : "/dev/kvm has neither kvm_intel nor kvm_amd behind it";
      return "tcg";
    }
  *why = "/dev/kvm is usable";
  return "kvm";
}

const char *
berth_vm_accel (void)
{
  const char *why;
  return berth_vm_accel_why (&why);
}

char *
berth_vm_dir (void)
{
  char exe[PATH_MAX];
  ssize_t n;
  const char *env = getenv ("BERTH_VM_DIR");
  if (env && *env)
    return xstrdup (env);
  n = readlink ("/proc/self/exe", exe, sizeof (exe) - 1);
  if (n > 0)
    {
      char *slash, *p;
      exe[n] = 0;
      slash = strrchr (exe, '/');
      if (slash)
        {
          *slash = 0;
          p = xasprintf ("%s/vm", exe);
          if (access (p, F_OK) == 0)
            return p;
          free (p);
        }
    }
  return xstrdup ("/usr/lib/berth/vm");
}

/* The host configuration's guest kernel: "vm": {"kernel": DIR} in
   /etc/berth/config.json (or $BERTH_CONFIG), a directory like build/vm. */
static char *
configured_kernel_dir (void)
{
  const char *path
      = getenv ("BERTH_CONFIG") && *getenv ("BERTH_CONFIG") ? getenv ("BERTH_CONFIG") : "/etc/berth/config.json";
  json_t *j = json_load_file (path, 0, NULL);
  const char *k = json_string_value (json_object_get (json_object_get (j, "vm"), "kernel"));
  char *out = k && *k ? xstrdup (k) : NULL;
  json_decref (j);
  return out;
}

int
berth_vm_default_kernel (char **kernel, char **initrd, berth_err_t *err)
{
  cleanup_free char *conf = configured_kernel_dir ();
  cleanup_free char *dir = conf ? xstrdup (conf) : berth_vm_dir ();
  /* The uncompressed kernel boots faster; the bzImage does as well. */
  *kernel = xasprintf ("%s/vmlinux", dir);
  if (access (*kernel, R_OK) < 0)
    {
      free (*kernel);
      *kernel = xasprintf ("%s/vmlinuz", dir);
    }
  *initrd = xasprintf ("%s/initrd.img", dir);
  if (access (*kernel, R_OK) < 0 || access (*initrd, R_OK) < 0)
    return berth_error (err, ENOENT,
                        "VM isolation needs a guest kernel and initramfs in %s (vmlinux or vmlinuz, initrd.img): "
                        "run scripts/install-deps.sh and make, or set BERTH_VM_DIR",
                        dir);
  return 0;
}

/* ------------------------------------------------------------ helpers */

int
berth_vm_build_image (const char *dir, const char *path, berth_err_t *err)
{
  char suffix[9];
  cleanup_free char *tmp = NULL;
  random_hex (suffix, 4);
  tmp = xasprintf ("%s.%d.%s", path, (int)getpid (), suffix);
  {
    /* Uncompressed: a block image read by one guest at a time boots
       faster than a smaller one the guest must decompress. */
    char *argv[] = { (char *)"mkfs.erofs", (char *)"--quiet", (char *)"-T0", tmp, (char *)dir, NULL };
    if (berth_run_argv (argv, err) < 0)
      {
        unlink (tmp);
        return berth_error_wrap (err, "build the VM image of `%s`", dir);
      }
  }
  {
    int fd = open (tmp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
      {
        fsync (fd);
        close (fd);
      }
  }
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return berth_error (err, e, "rename `%s`", tmp);
    }
  return 0;
}

static int
open_regular (const char *path, const char *what, berth_err_t *err)
{
  struct stat sb;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return berth_error (err, errno, "%s `%s`", what, path);
  if (fstat (fd, &sb) < 0 || !S_ISREG (sb.st_mode))
    {
      close (fd);
      return berth_error (err, EINVAL, "%s `%s` is not a regular file", what, path);
    }
  return fd;
}

/* The spec the guest's runtime gets: host paths it cannot see are
   replaced by what the VM carries (small files travel in the create
   request), and anything that would reach back into the host refused. */
static int
guest_config (json_t *config, const char *bundle, const char *share_prefix, json_t **out, json_t **files,
              json_t **shares, json_t **sockets, char **netns, berth_err_t *err)
{
  json_t *c = json_deep_copy (config), *mounts, *m, *nss, *ns;
  size_t i;
  *files = json_object ();
  *shares = json_array ();
  *sockets = json_array ();
  json_object_del (c, "hooks");
  {
    /* Inside the VM the container is an ordinary process-isolated one. */
    json_t *an = json_object_get (c, "annotations");
    json_object_del (an, BERTH_ANNOTATION_ISOLATION);
    json_object_del (an, BERTH_ANNOTATION_VM_IMAGE);
    json_object_del (an, BERTH_ANNOTATION_VM_KERNEL);
    json_object_del (an, BERTH_ANNOTATION_VM_INITRD);
    json_object_del (an, BERTH_ANNOTATION_VM_ACPI);
    json_object_del (an, BERTH_ANNOTATION_VM_POD);
  }
  nss = json_object_get (json_object_get (c, "linux"), "namespaces");
  *netns = NULL;
  json_array_foreach (nss, i, ns)
  {
    const char *type = json_string_value (json_object_get (ns, "type")) ?: "";
    if (json_object_get (ns, "path") && strcmp (type, "network") == 0 && *netns == NULL)
      {
        /* The namespace made for the container (by berth, Docker or
           containerd) is the VM's network: the guest's container lives in
           the guest's own, where the adopted NIC is. */
        *netns = xstrdup (json_string_value (json_object_get (ns, "path")) ?: "");
        json_array_remove (nss, i);
        i--;
        continue;
      }
    if (json_object_get (ns, "path"))
      {
        free (*netns);
        *netns = NULL;
        json_decref (c);
        return berth_error (err, EINVAL,
                            "linux.namespaces[%zu]: joining a host namespace (%s) is not possible in VM isolation", i,
                            json_string_value (json_object_get (ns, "type")) ?: "?");
      }
  }
  mounts = json_object_get (c, "mounts");
  json_array_foreach (mounts, i, m)
  {
    const char *type = json_string_value (json_object_get (m, "type"));
    const char *src = json_string_value (json_object_get (m, "source"));
    json_t *opts = json_object_get (m, "options");
    bool bind = type && strcmp (type, "bind") == 0;
    size_t k;
    json_t *o;
    json_array_foreach (opts, k, o)
    {
      if (json_is_string (o)
          && (strcmp (json_string_value (o), "bind") == 0 || strcmp (json_string_value (o), "rbind") == 0))
        bind = true;
    }
    if (!bind)
      continue;
    /* --init in a VM: the guest's own agent binary, already there. */
    if (src && strcmp (src, "/init") == 0
        && strcmp (json_string_value (json_object_get (m, "destination")) ?: "", "/sbin/berth-init") == 0)
      continue;
    {
      cleanup_free char *path = src && src[0] != '/' ? xasprintf ("%s/%s", bundle, src) : xstrdup (src ? src : "");
      cleanup_free char *data = NULL;
      cleanup_close int fd = -1;
      struct stat sb;
      size_t len = 0;
      char key[32];
      if (stat (path, &sb) < 0)
        {
          json_decref (c);
          return berth_error (err, errno, "mounts[%zu]: bind mount source `%s`", i, path);
        }
      if (S_ISDIR (sb.st_mode))
        {
          /* Directories (volumes, -v) reach the guest through virtiofs:
             the host side binds them into the shared tree, read-only
             there when asked, so the guest cannot write whatever it does. */
          bool ro = false;
          json_array_foreach (opts, k, o)
          {
            if (json_is_string (o) && strcmp (json_string_value (o), "ro") == 0)
              ro = true;
          }
          json_array_append_new (*shares, json_pack ("{s:s,s:b}", "source", path, "ro", ro));
          json_object_set_new (m, "source",
                               json_sprintf ("/run/berth/share/%sm%zu", share_prefix, json_array_size (*shares) - 1));
          continue;
        }
      if (S_ISSOCK (sb.st_mode) && json_array_size (*sockets) < BERTH_MAX_SOCKETS)
        {
          /* A host unix socket: the agent listens in its place and each
             connection is carried over the agent channel to the host. */
          json_array_append_new (*sockets, json_pack ("{s:s,s:i}", "source", path, "mode", (int)(sb.st_mode & 07777)));
          json_object_set_new (m, "source", json_sprintf ("/run/berth/sockets/s%zu", json_array_size (*sockets) - 1));
          continue;
        }
      if (!S_ISREG (sb.st_mode) || sb.st_size > 65536)
        {
          json_decref (c);
          return berth_error (err, ENOTSUP,
                              "mounts[%zu]: `%s`: a %s cannot cross into a VM; VM isolation carries directories, "
                              "unix sockets and small files (use process isolation for FIFOs and devices)",
                              i, path,
                              S_ISSOCK (sb.st_mode)   ? "17th unix socket"
                              : S_ISFIFO (sb.st_mode) ? "FIFO"
                              : S_ISREG (sb.st_mode)  ? "file over 64 KiB"
                                                      : "device");
        }
      fd = open_regular (path, "mount source", err);
      if (fd < 0 || read_all_fd (fd, path, &data, &len, err) < 0)
        {
          json_decref (c);
          return -1;
        }
      snprintf (key, sizeof (key), "f%zu", i);
      {
        /* Any bytes: base64 keeps the JSON valid. */
        cleanup_free char *enc = base64_encode (data, len);
        json_object_set_new (*files, key, json_string (enc));
      }
      json_object_set_new (m, "source", json_sprintf ("/run/berth/files/%s", key));
    }
  }
  *out = c;
  return 0;
}

static int
host_cpus (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* Size of the VM from the spec's resources: the container's memory limit
   plus the guest's own, CPUs rounded up from the quota. */
static void
vm_size (json_t *config, long *mem_mib, int *cpus)
{
  json_t *res = json_object_get (json_object_get (config, "linux"), "resources");
  json_int_t limit = json_integer_value (json_object_get (json_object_get (res, "memory"), "limit"));
  json_int_t quota = json_integer_value (json_object_get (json_object_get (res, "cpu"), "quota"));
  json_int_t period = json_integer_value (json_object_get (json_object_get (res, "cpu"), "period"));
  *mem_mib = DEFAULT_MEM_MIB;
  if (limit > 0)
    {
      long need = (long)((limit + (1 << 20) - 1) >> 20) + GUEST_BASE_MIB;
      *mem_mib = need < 192 ? 192 : need;
    }
  *cpus = 1;
  if (quota > 0 && period > 0)
    *cpus = (int)((quota + period - 1) / period);
  if (*cpus > host_cpus ())
    *cpus = host_cpus ();
  if (*cpus < 1)
    *cpus = 1;
}

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

/* QEMU's argv.  Every resource is an fd we opened (agent socket 3, root
   image 4, kernel 5, initrd 6): nothing from the spec becomes a path or an
   option QEMU parses, except the validated numbers. */
static char **
qemu_argv (const char *id, const char *accel, long mem_mib, int cpus, bool fs, bool acpi, const char *mac)
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
  a[n++] = xstrdup ("/proc/self/fd/5");
  a[n++] = xstrdup ("-initrd");
  a[n++] = xstrdup ("/proc/self/fd/6");
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
  a[n++] = xstrdup ("socket,id=agent,fd=3");
  a[n++] = xstrdup ("-device");
  /* Two ports (0 is reserved for a console): the default 31 cost the
     guest ~20 ms of virtqueue set-up at boot under TCG. */
  a[n++] = xstrdup ("virtio-serial-device,max_ports=2");
  a[n++] = xstrdup ("-device");
  a[n++] = xstrdup ("virtserialport,chardev=agent,name=berth.agent");
  a[n++] = xstrdup ("-add-fd");
  a[n++] = xstrdup ("fd=4,set=1,opaque=rootfs");
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
      a[n++] = xstrdup ("socket,id=vfs,fd=11");
      a[n++] = xstrdup ("-device");
      a[n++] = xstrdup ("vhost-user-fs-device,chardev=vfs,tag=berth");
    }
  if (mac)
    {
      a[n++] = xstrdup ("-netdev");
      a[n++] = xstrdup ("tap,id=net0,fd=13");
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
static void
drop_boot_images (pid_t qemu, const struct stat *files, size_t n_files)
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

/* ------------------------------------------------------------- shim */

struct client
{
  int fd;
  uint32_t sid;
  uint8_t pending; /* the request awaiting OK/ERROR */
  bool exec;       /* an exec session: EXIT closes it */
  struct berth_frame_reader rd;
};

struct shim
{
  const char *dir;
  int dirfd;
  int agent;
  struct berth_frame_reader ard;
  pid_t qemu;
  pid_t virtiofsd;
  bool fs;         /* a file server, even with no share yet: a pod's VM */
  json_t *sockets; /* [{source, mode}] */
  struct
  {
    uint32_t sid;
    int fd;
  } conns[64];
  int n_conns;
  int qemu_status;
  bool qemu_gone;
  int tty_slave; /* -1 without a terminal */
  bool stdin_open;
  int listen;
  struct client clients[MAX_CLIENTS];
  int n_clients;
  uint32_t next_sid;
  int exit_code;
  bool exited;
  int sfd;
};

static void
shim_reason (struct shim *s, const char *fmt, ...)
{
  va_list ap;
  char buf[512];
  berth_err_t e = NULL;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof (buf), fmt, ap);
  va_end (ap);
  write_file_at (s->dirfd, "exit-reason", buf, strlen (buf), &e);
  berth_error_release (&e);
}

/* The guest's last words, if it panicked. */
static void
panic_line (struct shim *s, char *out, size_t n)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  berth_err_t e = NULL;
  char *p;
  out[0] = 0;
  if (read_file_at (s->dirfd, "console.log", &data, &len, &e) < 0)
    {
      berth_error_release (&e);
      return;
    }
  p = data ? strstr (data, "Kernel panic") : NULL;
  if (p)
    snprintf (out, n, "%.*s", (int)strcspn (p, "\r\n"), p);
}

/* The console's last line: why QEMU or the guest gave up at start. */
static void
console_tail (struct shim *s, char *out, size_t n)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  berth_err_t e = NULL;
  out[0] = 0;
  if (read_file_at (s->dirfd, "console.log", &data, &len, &e) < 0 || len == 0)
    {
      berth_error_release (&e);
      return;
    }
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
    data[--len] = 0;
  {
    char *l = memrchr (data, '\n', len);
    snprintf (out, n, "%s", l ? l + 1 : data);
    for (char *c = out; *c; c++)
      if ((unsigned char)*c < 0x20 || *c == 0x7f)
        *c = '?';
  }
}

static void
qemu_exited (struct shim *s, int status)
{
  char pl[256];
  s->qemu_gone = true;
  s->qemu_status = status;
  if (s->exited)
    return;
  panic_line (s, pl, sizeof (pl));
  if (pl[0])
    shim_reason (s, "the guest kernel panicked: %s", pl);
  else if (WIFSIGNALED (status))
    shim_reason (s, "the VM process (qemu) was killed by signal %d before the container exited", WTERMSIG (status));
  else
    shim_reason (s, "the VM stopped (qemu exited with status %d) before the container exited", WEXITSTATUS (status));
}

static int
wait_qemu (struct shim *s, int timeout_ms)
{
  /* QEMU's pidfd wakes us the moment it exits (sleeping between checks
     cost every VM's stop up to 10 ms); without one, a 10 ms sleep. */
  cleanup_close int pidfd = s->qemu_gone ? -1 : (int)syscall (SYS_pidfd_open, s->qemu, 0);
  for (int waited = 0; !s->qemu_gone; waited += 10)
    {
      int status;
      pid_t w = waitpid (s->qemu, &status, WNOHANG);
      if (w == s->qemu)
        {
          qemu_exited (s, status);
          break;
        }
      if (waited >= timeout_ms)
        return -1;
      if (pidfd >= 0)
        (void)poll (&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 10);
      else
        usleep (10000);
    }
  return 0;
}

static void
stop_virtiofsd (struct shim *s)
{
  if (s->virtiofsd > 0)
    {
      kill (s->virtiofsd, SIGKILL);
      waitpid (s->virtiofsd, NULL, 0);
      s->virtiofsd = 0;
      unlinkat (s->dirfd, "share", AT_REMOVEDIR);
    }
}

static void
kill_qemu (struct shim *s)
{
  if (!s->qemu_gone)
    {
      kill (s->qemu, SIGKILL);
      wait_qemu (s, 10000);
    }
}

/* Waits for one frame from the agent during boot and create. */
static int
shim_expect (struct shim *s, uint32_t sid, struct berth_frame *f, int timeout_ms, berth_err_t *err)
{
  long long deadline;
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  deadline = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 + timeout_ms;
  for (;;)
    {
      struct pollfd p = { .fd = s->agent, .events = POLLIN };
      int r = berth_frame_next (&s->ard, f, err);
      long long now;
      if (r < 0)
        return -1;
      if (r == 1)
        {
          /* The console of the container may speak before create is done. */
          if (f->sid == sid && (f->type == BERTH_F_READY || f->type == BERTH_F_OK || f->type == BERTH_F_ERROR))
            return 0;
          continue;
        }
      clock_gettime (CLOCK_MONOTONIC, &ts);
      now = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
      if (now >= deadline)
        return berth_error (err, ETIMEDOUT, "the VM did not answer within %d s (see %s/console.log)", timeout_ms / 1000,
                            s->dir);
      r = poll (&p, 1, 100 < deadline - now ? 100 : (int)(deadline - now));
      if (r < 0 && errno != EINTR)
        return berth_error (err, errno, "poll");
      if (r > 0)
        {
          r = berth_frame_fill (&s->ard, s->agent, err);
          if (r < 0)
            return -1;
          if (r == 0)
            return berth_error (err, EPIPE, "the VM closed the agent channel");
        }
      {
        int status;
        if (s->virtiofsd > 0 && waitpid (s->virtiofsd, &status, WNOHANG) == s->virtiofsd)
          {
            char pl[256];
            s->virtiofsd = 0;
            console_tail (s, pl, sizeof (pl));
            return berth_error (err, ECHILD, "the VM's file server (virtiofsd) exited while starting: %s", pl);
          }
        if (waitpid (s->qemu, &status, WNOHANG) == s->qemu)
          {
            char pl[256];
            s->qemu_gone = true;
            panic_line (s, pl, sizeof (pl));
            if (!pl[0])
              console_tail (s, pl, sizeof (pl));
            return berth_error (err, ECHILD, "the VM stopped while starting: %s", pl[0] ? pl : "qemu exited");
          }
      }
    }
}

static int
reply_error (const struct berth_frame *f, berth_err_t *err)
{
  json_t *j = NULL;
  const char *msg;
  int e;
  if (berth_frame_json (f, &j, err) < 0)
    return -1;
  msg = json_string_value (json_object_get (j, "message"));
  e = (int)json_integer_value (json_object_get (j, "errno"));
  if (e < 0 || e > 4095)
    e = EPROTO;
  /* The guest's words, bounded and marked as such. */
  berth_error (err, 0, "in the VM: %.1000s", msg ? msg : "unknown error");
  (*err)->status = e;
  json_decref (j);
  return -1;
}

static void
client_drop (struct shim *s, int k)
{
  struct client *c = &s->clients[k];
  if (c->exec && !s->exited)
    {
      /* The exec's caller went away: so does its process. */
      berth_err_t e = NULL;
      berth_frame_write_json (s->agent, BERTH_F_SIGNAL, c->sid, json_pack ("{s:i,s:b}", "signal", SIGKILL, "own", 1),
                              &e);
      berth_error_release (&e);
    }
  close (c->fd);
  berth_frame_reader_free (&c->rd);
  s->clients[k] = s->clients[--s->n_clients];
}

static struct client *
client_by_sid (struct shim *s, uint32_t sid)
{
  for (int k = 0; k < s->n_clients; k++)
    if (s->clients[k].sid == sid)
      return &s->clients[k];
  return NULL;
}

static void
to_client (struct shim *s, struct client *c, const struct berth_frame *f)
{
  berth_err_t e = NULL;
  if (berth_frame_write (c->fd, f->type, 0, f->data, f->len, &e) < 0)
    berth_error_release (&e);
}

static int
conn_index (struct shim *s, uint32_t sid)
{
  for (int k = 0; k < s->n_conns; k++)
    if (s->conns[k].sid == sid)
      return k;
  return -1;
}

static void
conn_drop (struct shim *s, int k)
{
  close (s->conns[k].fd);
  s->conns[k] = s->conns[--s->n_conns];
}

/* A connection to a mapped socket, opened by a process in the guest.
   The guest names only the socket's index: the host path is ours. */
static void
shim_socket_frame (struct shim *s, struct berth_frame *f)
{
  berth_err_t e = NULL;
  int k = conn_index (s, f->sid);
  if (f->type == BERTH_F_CONNECT)
    {
      json_t *j = NULL;
      json_t *sock;
      struct sockaddr_un addr = { .sun_family = AF_UNIX };
      int fd = -1;
      if (k >= 0 || berth_frame_json (f, &j, &e) < 0)
        goto refuse;
      {
        json_t *idx = json_object_get (j, "socket");
        sock = json_is_integer (idx) && json_integer_value (idx) >= 0
                   ? json_array_get (s->sockets, (size_t)json_integer_value (idx))
                   : NULL;
      }
      json_decref (j);
      if (sock == NULL || s->n_conns >= (int)ARRAY_SIZE (s->conns))
        goto refuse;
      if (snprintf (addr.sun_path, sizeof (addr.sun_path), "%s", json_string_value (json_object_get (sock, "source")))
          >= (int)sizeof (addr.sun_path))
        goto refuse;
      fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
        {
          if (fd >= 0)
            close (fd);
          goto refuse;
        }
      s->conns[s->n_conns].sid = f->sid;
      s->conns[s->n_conns++].fd = fd;
      return;
    refuse:
      berth_error_release (&e);
      berth_frame_write (s->agent, BERTH_F_CLOSE, f->sid, "{}", 2, &e);
      berth_error_release (&e);
      return;
    }
  if (k < 0)
    return;
  if (f->type == BERTH_F_DATA)
    {
      if (write_all (s->conns[k].fd, f->data, f->len) < 0)
        {
          conn_drop (s, k);
          berth_frame_write (s->agent, BERTH_F_CLOSE, f->sid, "{}", 2, &e);
          berth_error_release (&e);
        }
    }
  else if (f->type == BERTH_F_CLOSE)
    shutdown (s->conns[k].fd, SHUT_WR);
}

static void
shim_agent_frame (struct shim *s, struct berth_frame *f)
{
  berth_err_t e = NULL;
  if (f->sid == 0)
    {
      switch (f->type)
        {
        case BERTH_F_STDOUT:
        case BERTH_F_STDERR:
          (void)write_all (s->tty_slave >= 0 ? s->tty_slave : (f->type == BERTH_F_STDOUT ? 1 : 2), f->data, f->len);
          return;
        case BERTH_F_EXIT:
          if (berth_frame_exit_code (f, &s->exit_code, &e) < 0)
            {
              shim_reason (s, "%s", e->msg);
              berth_error_release (&e);
              s->exit_code = 255;
            }
          s->exited = true;
          return;
        default:
          return;
        }
    }
  if (f->sid >= BERTH_SID_GUEST)
    return shim_socket_frame (s, f);
  {
    struct client *c = client_by_sid (s, f->sid);
    if (c == NULL)
      return;
    if ((f->type == BERTH_F_OK || f->type == BERTH_F_ERROR) && c->pending == BERTH_F_START && f->type == BERTH_F_OK)
      unlinkat (s->dirfd, CREATED_MARK, 0);
    to_client (s, c, f);
  }
}

static void
shim_client_frame (struct shim *s, struct client *c, struct berth_frame *f)
{
  berth_err_t e = NULL;
  switch (f->type)
    {
    case BERTH_F_CREATE: /* a pod member */
    case BERTH_F_START:
    case BERTH_F_EXEC:
    case BERTH_F_STDIN:
    case BERTH_F_STDIN_CLOSE:
    case BERTH_F_RESIZE:
    case BERTH_F_SIGNAL:
    case BERTH_F_PS:
    case BERTH_F_STATS:
      break;
    default:
      berth_frame_write_json (c->fd, BERTH_F_ERROR, 0,
                              json_pack ("{s:s,s:i}", "message", "request not allowed", "errno", EPERM), &e);
      berth_error_release (&e);
      return;
    }
  if (f->type != BERTH_F_STDIN && f->type != BERTH_F_STDIN_CLOSE && f->type != BERTH_F_RESIZE)
    c->pending = f->type;
  /* An exec or a pod member: its process goes with its client. */
  if (f->type == BERTH_F_EXEC || f->type == BERTH_F_CREATE)
    c->exec = true;
  if (berth_frame_write (s->agent, f->type, c->sid, f->data, f->len, &e) < 0)
    berth_error_release (&e);
}

static void
shim_send_size (struct shim *s)
{
  struct winsize ws;
  berth_err_t e = NULL;
  if (s->tty_slave >= 0 && ioctl (s->tty_slave, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
    berth_frame_write_json (s->agent, BERTH_F_RESIZE, 0, json_pack ("{s:i,s:i}", "rows", ws.ws_row, "cols", ws.ws_col),
                            &e);
  berth_error_release (&e);
}

static int __attribute__ ((noreturn)) shim_loop (struct shim *s)
{
  for (;;)
    {
      struct pollfd p[4 + MAX_CLIENTS + 64];
      int np = 0, nc, in_fd = s->tty_slave >= 0 ? s->tty_slave : 0;
      if (s->exited || s->qemu_gone)
        break;
      p[np++] = (struct pollfd){ .fd = s->agent, .events = POLLIN };
      p[np++] = (struct pollfd){ .fd = s->sfd, .events = POLLIN };
      p[np++] = (struct pollfd){ .fd = s->listen, .events = POLLIN };
      p[np++] = (struct pollfd){ .fd = s->stdin_open ? in_fd : -1, .events = POLLIN };
      for (int k = 0; k < s->n_clients; k++)
        p[np++] = (struct pollfd){ .fd = s->clients[k].fd, .events = POLLIN };
      nc = np;
      for (int k = 0; k < s->n_conns; k++)
        p[np++] = (struct pollfd){ .fd = s->conns[k].fd, .events = POLLIN };
      if (poll (p, (nfds_t)np, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[0].revents)
        {
          berth_err_t e = NULL;
          struct berth_frame f;
          int r = berth_frame_fill (&s->ard, s->agent, &e);
          while (r > 0 && (r = berth_frame_next (&s->ard, &f, &e)) == 1)
            shim_agent_frame (s, &f);
          if (r < 0 || (p[0].revents & POLLHUP && r == 0))
            {
              /* A guest that breaks the protocol is stopped, not trusted. */
              if (r < 0)
                shim_reason (s, "the VM broke the agent protocol: %s", e->msg);
              berth_error_release (&e);
              kill_qemu (s);
              s->exit_code = 255;
              break;
            }
        }
      if (p[1].revents)
        {
          struct signalfd_siginfo si;
          while (read (s->sfd, &si, sizeof (si)) == (ssize_t)sizeof (si))
            {
              if (si.ssi_signo == SIGWINCH)
                shim_send_size (s);
              else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP)
                {
                  shim_reason (s, "the VM shim was stopped by signal %d", si.ssi_signo);
                  kill_qemu (s);
                  s->exit_code = 128 + (int)si.ssi_signo;
                }
              else if (si.ssi_signo == SIGCHLD)
                {
                  int status;
                  /* QEMU hangs rather than exits when its file server
                     goes: the shim ends the VM itself. */
                  if (s->virtiofsd > 0 && waitpid (s->virtiofsd, &status, WNOHANG) == s->virtiofsd)
                    {
                      s->virtiofsd = 0;
                      shim_reason (s, "the VM's file server (virtiofsd) exited");
                      kill_qemu (s);
                      s->exit_code = 255;
                    }
                  if (waitpid (s->qemu, &status, WNOHANG) == s->qemu)
                    {
                      qemu_exited (s, status);
                      s->exit_code = WIFSIGNALED (status) ? 128 + WTERMSIG (status) : 255;
                    }
                }
            }
        }
      if (p[2].revents)
        {
          int c = accept4 (s->listen, NULL, NULL, SOCK_CLOEXEC);
          if (c >= 0 && s->n_clients < MAX_CLIENTS)
            s->clients[s->n_clients++] = (struct client){ .fd = c, .sid = ++s->next_sid };
          else if (c >= 0)
            close (c);
        }
      if (p[3].revents)
        {
          char buf[32768];
          ssize_t n = read (in_fd, buf, sizeof (buf));
          berth_err_t e = NULL;
          if (n <= 0)
            {
              s->stdin_open = false;
              berth_frame_write (s->agent, BERTH_F_STDIN_CLOSE, 0, "{}", 2, &e);
            }
          else
            berth_frame_write (s->agent, BERTH_F_STDIN, 0, buf, (size_t)n, &e);
          berth_error_release (&e);
        }
      for (int k = nc; k < np; k++)
        {
          char buf[65536];
          ssize_t n;
          int ci = -1;
          berth_err_t e = NULL;
          if (!p[k].revents)
            continue;
          for (int m = 0; m < s->n_conns; m++)
            if (s->conns[m].fd == p[k].fd)
              ci = m;
          if (ci < 0)
            continue;
          n = read (p[k].fd, buf, sizeof (buf));
          if (n > 0)
            berth_frame_write (s->agent, BERTH_F_DATA, s->conns[ci].sid, buf, (size_t)n, &e);
          else
            {
              /* The host side is done: so is the connection. */
              berth_frame_write (s->agent, BERTH_F_CLOSE, s->conns[ci].sid, "{}", 2, &e);
              conn_drop (s, ci);
            }
          berth_error_release (&e);
        }
      for (int k = 4; k < nc; k++)
        {
          struct client *c = NULL;
          berth_err_t e = NULL;
          struct berth_frame f;
          int r, ci = -1;
          if (!p[k].revents)
            continue;
          for (int m = 0; m < s->n_clients; m++)
            if (s->clients[m].fd == p[k].fd)
              ci = m;
          if (ci < 0)
            continue;
          c = &s->clients[ci];
          r = berth_frame_fill (&c->rd, c->fd, &e);
          if (r > 0)
            {
              int nr;
              while ((nr = berth_frame_next (&c->rd, &f, &e)) == 1)
                shim_client_frame (s, c, &f);
              if (nr < 0)
                r = -1;
            }
          berth_error_release (&e);
          /* EOF or garbage: the client is done. */
          if (r <= 0)
            client_drop (s, ci);
        }
    }
  {
    berth_err_t e = NULL;
    /* The container is done: power the guest off, then make sure. */
    if (!s->qemu_gone)
      {
        berth_frame_write (s->agent, BERTH_F_SHUTDOWN, 0, "{}", 2, &e);
        berth_error_release (&e);
        /* Nothing in the guest outlives it (the image is read-only, the
           writable layer memory, shared files written through): a guest
           that halts instead of powering off is not waited for long. */
        if (wait_qemu (s, 1000) < 0)
          kill_qemu (s);
      }
    for (int k = 0; k < s->n_clients; k++)
      close (s->clients[k].fd);
    stop_virtiofsd (s);
    unlinkat (s->dirfd, SHIM_SOCK, 0);
    _exit (s->exit_code & 0xff);
  }
}

static int
listen_at (int dirfd, const char *name, berth_err_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_error (err, errno, "socket");
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/%s", dirfd, name);
  unlinkat (dirfd, name, 0);
  if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0 || listen (fd, 16) < 0)
    {
      int e = errno;
      close (fd);
      return berth_error (err, e, "listen on `%s`", name);
    }
  return fd;
}

/* The shim's whole life; REPORT gets "ok <qemu pid> <guest kernel>" or an
   encoded error, then the shim serves until the container is gone. */
/* The guest's pty does the line discipline; a host-side one of ours
   only passes bytes. */
static void
make_raw (int tty)
{
  struct termios t;
  if (tcgetattr (tty, &t) == 0)
    {
      cfmakeraw (&t);
      tcsetattr (tty, TCSANOW, &t);
    }
}

/* Where a terminal's pty master goes: the caller's fd (CONSOLE_FD >= 0)
   or its --console-socket. */
static int
console_connect (int console_fd, const char *console_socket, berth_err_t *err)
{
  int fd;
  if (console_fd >= 0)
    {
      fd = fcntl (console_fd, F_DUPFD_CLOEXEC, 3);
      return fd < 0 ? berth_error (err, errno, "dup the console fd") : fd;
    }
  if (console_socket)
    return berth_console_socket_connect (console_socket, err);
  return berth_error (err, EINVAL, "process.terminal is true: --console-socket is required");
}

/* A host pty for a guest terminal: the master goes to CONSOLE, *SLAVE
   (raw: the guest's pty does the line discipline) to the relay. */
static int
console_pty (int console, int *slave, berth_err_t *err)
{
  cleanup_free char *name = NULL;
  int m, r;
  if (berth_pty_open (&m, slave, &name, 0, 0, err) < 0)
    return -1;
  make_raw (*slave);
  r = berth_send_fd (console, m, "console", err);
  close (m);
  if (r < 0)
    {
      close (*slave);
      *slave = -1;
    }
  return r;
}

static const char *
virtiofsd_binary (void)
{
  const char *v = getenv ("BERTH_VIRTIOFSD");
  return v && *v ? v : "/usr/lib/qemu/virtiofsd";
}

/* The file server for the container's shared directories.  Its mounts
   live in a mount namespace of its own: when it dies, they go with it. */
static int
start_virtiofsd (struct shim *s, json_t *shares, int listen_fd, pid_t *out, berth_err_t *err)
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
          fprintf (stderr, "berth: virtiofsd's mounts: %s\n", strerror (errno));
          _exit (126);
        }
      json_array_foreach (shares, i, sh)
      {
        char dst[PATH_MAX + 32];
        snprintf (dst, sizeof (dst), "%s/m%zu", share, i);
        if (mkdir (dst, 0755) < 0
            || mount (json_string_value (json_object_get (sh, "source")), dst, NULL, MS_BIND | MS_REC, NULL) < 0)
          {
            fprintf (stderr, "berth: share %s: %s\n", json_string_value (json_object_get (sh, "source")),
                     strerror (errno));
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
        execl (virtiofsd_binary (), "virtiofsd", "--fd=3", "-o", src, "-o", "cache=auto", "-o", "sandbox=namespace",
               "-o", "no_posix_lock", "-o", "no_xattr", "--thread-pool-size=2", (char *)NULL);
      }
      _exit (127);
    }
  *out = pid;
  return 0;
}

static void __attribute__ ((noreturn)) shim_main (struct shim *s, int report, char **argv, json_t *create_req,
                                                  int console_fd, bool tty, const char *accel, json_t *shares)
{
  berth_err_t err = NULL;
  struct berth_frame f;
  sigset_t mask;
  pid_t q;
  int cons_log, agent_peer = s->agent;
  char kernel[128] = "";
  struct stat boot_files[2];
  json_int_t boot_ms = 0;

  setsid ();
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigaddset (&mask, SIGWINCH);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGHUP);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  signal (SIGPIPE, SIG_IGN);
  s->sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  cons_log = openat (s->dirfd, "console.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (s->fs)
    {
      char num[16];
      int n;
      if (mkdirat (s->dirfd, "share", 0700) < 0 && errno != EEXIST)
        {
          berth_error (&err, errno, "mkdir `%s/share`", s->dir);
          goto fail;
        }
      if (start_virtiofsd (s, shares, 12, &s->virtiofsd, &err) < 0)
        goto fail;
      close (12);
      /* Where pod members' directories are mounted (member_mounts_attach). */
      n = snprintf (num, sizeof (num), "%d", (int)s->virtiofsd);
      {
        cleanup_free char *path = xasprintf ("%s/" FS_PID, s->dir);
        if (write_file_atomic (path, num, (size_t)n, 0600, &err) < 0)
          goto fail;
      }
    }

  /* The kernel and initramfs QEMU gets (fds 5 and 6), to find its
     mappings of them later. */
  if (fstat (5, &boot_files[0]) < 0 || fstat (6, &boot_files[1]) < 0)
    {
      berth_error (&err, errno, "stat the guest kernel and initramfs");
      goto fail;
    }
  q = fork ();
  if (q < 0)
    {
      berth_error (&err, errno, "fork qemu");
      goto fail;
    }
  if (q == 0)
    {
      /* QEMU goes with us whatever kills us. */
      int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (getppid () == 1)
        _exit (1);
      sigprocmask (SIG_UNBLOCK, &mask, NULL);
      /* QEMU's own: the agent channel, images, kernel, initrd (3-6), the
         file server's socket (11) and the tap (13). */
      for (int fd = 3; fd <= 6; fd++)
        fcntl (fd, F_SETFD, 0);
      fcntl (11, F_SETFD, 0);
      fcntl (13, F_SETFD, 0); /* the tap, when the VM has a network */
      dup2 (null, 0);
      dup2 (cons_log >= 0 ? cons_log : null, 1);
      dup2 (cons_log >= 0 ? cons_log : null, 2);
      execvp (argv[0], argv);
      fprintf (stderr, "exec %s: %s\n", argv[0], strerror (errno));
      _exit (127);
    }
  s->qemu = q;
  (void)agent_peer;
  /* The request waits in the channel while the guest boots: the agent
     finds it the moment it opens its port. */
  if (berth_frame_write_json (s->agent, BERTH_F_CREATE, 0, create_req, &err) < 0)
    goto fail;
  create_req = NULL;
  if (shim_expect (s, 0, &f, strcmp (accel, "kvm") == 0 ? 30000 : 120000, &err) < 0)
    goto fail;
  if (f.type != BERTH_F_READY)
    {
      berth_error (&err, EPROTO, "the VM's agent did not say ready");
      goto fail;
    }
  drop_boot_images (q, boot_files, ARRAY_SIZE (boot_files));
  {
    json_t *j = NULL;
    if (berth_frame_json (&f, &j, &err) < 0)
      goto fail;
    snprintf (kernel, sizeof (kernel), "%.100s", json_string_value (json_object_get (j, "kernel")) ?: "?");
    boot_ms = json_integer_value (json_object_get (j, "uptime_ms"));
    for (char *c = kernel; *c; c++)
      if (*c <= ' ' || *c > '~')
        *c = '?';
    json_decref (j);
  }
  if (tty)
    {
      if (console_pty (console_fd, &s->tty_slave, &err) < 0)
        goto fail;
      ioctl (s->tty_slave, TIOCSCTTY, 0);
    }
  if (shim_expect (s, 0, &f, 60000, &err) < 0)
    goto fail;
  if (f.type == BERTH_F_ERROR)
    {
      reply_error (&f, &err);
      goto fail;
    }
  s->listen = listen_at (s->dirfd, SHIM_SOCK, &err);
  if (s->listen < 0)
    goto fail;
  {
    char msg[256];
    int n = snprintf (msg, sizeof (msg), "ok %d %lld %s", (int)q, (long long)boot_ms, kernel);
    (void)write_all (report, msg, (size_t)n);
    close (report);
  }
  s->stdin_open = true;
  shim_send_size (s);
  shim_loop (s);

fail:
  {
    char buf[4096];
    int n = berth_error_encode (err, buf, sizeof (buf));
    (void)write_all (report, buf, (size_t)n);
  }
  json_decref (create_req);
  if (s->qemu > 0)
    kill_qemu (s);
  stop_virtiofsd (s);
  _exit (1);
}

/* virtiofsd wants a listening socket; QEMU gets the connected end.  The
   name exists only until we have connected: nobody else can. */
static int
vfs_sockets (int dirfd, int out[2], berth_err_t *err)
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

/* A bundle from Docker or containerd: its rootfs becomes this container's
   own image, in its state directory. */
static int
bundle_image (json_t *config, const char *bundle, const char *dir, char **built, berth_err_t *err)
{
  const char *rp = json_string_value (json_object_get (json_object_get (config, "root"), "path"));
  cleanup_free char *rootfs = rp && rp[0] == '/' ? xstrdup (rp) : xasprintf ("%s/%s", bundle, rp ? rp : "rootfs");
  *built = xasprintf ("%s/rootfs.erofs", dir);
  return berth_vm_build_image (rootfs, *built, err);
}

static int vm_create_member (const struct berth_create_opts *o, const char *bundle, const char *dir, json_t *config,
                             const char *pod, pid_t *pid_out, json_t **vm_out, berth_err_t *err);

int
berth_vm_create (const struct berth_create_opts *o, const char *bundle, const char *dir, json_t *config, pid_t *pid_out,
                 json_t **vm_out, berth_err_t *err)
{
  json_t *annotations = json_object_get (config, "annotations");
  const char *image = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_IMAGE));
  const char *akernel = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_KERNEL));
  const char *ainitrd = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_INITRD));
  cleanup_free char *kernel = NULL, *initrd = NULL, *built = NULL;
  cleanup_close int dirfd = -1, agent_host = -1, agent_qemu = -1, rootfd = -1, kfd = -1, ifd = -1, console = -1,
                    tap = -1;
  cleanup_free char *netns = NULL;
  json_t *guest = NULL, *files = NULL, *shares = NULL, *sockets = NULL, *ifaces = NULL, *req;
  int vfs[2] = { -1, -1 };
  const char *accel = berth_vm_accel ();
  long mem;
  int cpus, rep[2] = { -1, -1 };
  bool tty = json_is_true (json_object_get (json_object_get (config, "process"), "terminal"));
  bool sandbox_vm = false, fs;
  char **argv;
  pid_t shim, parent;

  if (berth_vm_default_kernel (&kernel, &initrd, err) < 0 && akernel == NULL)
    return -1;
  berth_error_release (err);
  if (akernel)
    {
      free (kernel);
      kernel = xstrdup (akernel);
      if (ainitrd)
        {
          free (initrd);
          initrd = xstrdup (ainitrd);
        }
    }
  if (json_object_get (config, "process") == NULL)
    return berth_error (err, EINVAL, "VM isolation needs process in config.json at create");
  {
    const char *pod = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_POD));
    const char *ctype = json_string_value (json_object_get (annotations, "io.kubernetes.cri.container-type"));
    const char *sandbox = json_string_value (json_object_get (annotations, "io.kubernetes.cri.sandbox-id"));
    /* Kubernetes: an app container joins its pod sandbox's VM. */
    if (pod == NULL && ctype && strcmp (ctype, "container") == 0 && sandbox)
      pod = sandbox;
    if (pod)
      return vm_create_member (o, bundle, dir, config, pod, pid_out, vm_out, err);
    sandbox_vm = ctype && strcmp (ctype, "sandbox") == 0;
  }
  dirfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return berth_error (err, errno, "open `%s`", dir);
  if (guest_config (config, bundle, "", &guest, &files, &shares, &sockets, &netns, err) < 0)
    return -1;
  if (netns && berth_netdev_adopt (netns, &ifaces, &tap, err) < 0)
    {
      berth_error_wrap (err, "hand the container's network to its VM");
      goto fail;
    }
  if (image == NULL)
    {
      if (bundle_image (config, bundle, dir, &built, err) < 0)
        goto fail;
      image = built;
    }
  if ((rootfd = open_regular (image, "VM image", err)) < 0 || (kfd = open_regular (kernel, "guest kernel", err)) < 0
      || (ifd = open_regular (initrd, "guest initramfs", err)) < 0)
    goto fail;
  if (tty && (console = console_connect (o->console_fd, o->console_socket, err)) < 0)
    goto fail;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rep) < 0)
    {
      berth_error (err, errno, "socketpair");
      goto fail;
    }
  {
    int sp[2];
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
      {
        berth_error (err, errno, "socketpair");
        goto fail;
      }
    agent_host = sp[0];
    agent_qemu = sp[1];
  }
  /* A file server for the shares; a Kubernetes sandbox's VM always gets
     one, for the directories (service account tokens, volumes) its
     members bring after boot. */
  fs = sandbox_vm || json_array_size (shares) > 0;
  if (fs && vfs_sockets (dirfd, vfs, err) < 0)
    goto fail;
  vm_size (config, &mem, &cpus);
  req = json_pack ("{s:O,s:O,s:s,s:s,s:b,s:[],s:o}", "config", guest, "files", files, "rootfs_device", "/dev/vda",
                   "rootfs_fstype", "erofs", "shared", fs, "sockets", "network",
                   ifaces ? json_incref (ifaces) : json_array ());
  {
    /* The guest learns each socket's mode, never its host path. */
    json_t *sk;
    size_t k;
    json_array_foreach (sockets, k, sk) json_array_append_new (
        json_object_get (req, "sockets"), json_pack ("{s:O}", "mode", json_object_get (sk, "mode")));
  }
  {
    /* A kernel without ACPI says so with a no-acpi file beside it. */
    cleanup_free char *kdir = xstrdup (kernel);
    cleanup_free char *marker = NULL;
    bool acpi = strcmp (json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_ACPI)) ?: "", "off") != 0;
    char *slash = strrchr (kdir, '/');
    if (slash)
      *slash = 0;
    marker = xasprintf ("%s/no-acpi", slash ? kdir : ".");
    if (access (marker, F_OK) == 0)
      acpi = false;
    argv = qemu_argv (o->id, accel, mem, cpus, fs, acpi,
                      tap >= 0 ? json_string_value (json_object_get (json_array_get (ifaces, 0), "mac")) : NULL);
  }
  parent = getpid ();
  shim = fork ();
  if (shim < 0)
    {
      berth_error (err, errno, "fork the VM shim");
      strv_free (argv);
      json_decref (req);
      goto fail;
    }
  if (shim == 0)
    {
      struct shim s = { .dir = dir, .tty_slave = -1, .listen = -1, .sockets = sockets, .fs = fs };
      berth_err_t e = NULL;
      close (rep[0]);
      if (o->die_with_parent && (prctl (PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid () != parent))
        _exit (1);
      /* Fixed fds for QEMU (3-6) and for us above them; nothing else of
         our caller's (its log, its sockets) stays open here. */
      int src[11] = { agent_qemu, rootfd, kfd, ifd, agent_host, rep[1], dirfd, console, vfs[0], vfs[1], tap };
      int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      /* Above every target first, so that no dup2 overwrites a source;
         absent ones hold /dev/null, so the numbers stay fixed. */
      for (int i = 0; i < 11; i++)
        if ((src[i] = fcntl (src[i] >= 0 ? src[i] : null, F_DUPFD_CLOEXEC, 64)) < 0)
          _exit (1);
      for (int i = 0; i < 11; i++)
        if (dup3 (src[i], 3 + i, O_CLOEXEC) < 0)
          _exit (1);
      close_fds_from (14, false, &e);
      s.agent = 7;
      s.dirfd = 9;
      shim_main (&s, 8, argv, req, console >= 0 ? 10 : -1, tty, accel, shares);
    }
  strv_free (argv);
  json_decref (req);
  close (rep[1]);
  rep[1] = -1;
  {
    char buf[4096];
    ssize_t n;
    size_t len = 0;
    while ((n = read (rep[0], buf + len, sizeof (buf) - 1 - len)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0)
        len += (size_t)n;
    buf[len] = 0;
    if (len > 3 && strncmp (buf, "ok ", 3) == 0)
      {
        char *sp = strchr (buf + 3, ' ');
        char *sp2 = sp ? strchr (sp + 1, ' ') : NULL;
        *vm_out = json_pack ("{s:i,s:s,s:s,s:s,s:I,s:i,s:I}", "pid", atoi (buf + 3), "accel", accel, "kernel", kernel,
                             "guest_kernel", sp2 ? sp2 + 1 : "", "memory_mib", (json_int_t)mem, "cpus", cpus,
                             "guest_boot_ms", (json_int_t)(sp ? atoll (sp + 1) : 0));
        *pid_out = shim;
      }
    else
      {
        int status;
        if (len > 0)
          berth_error_decode (err, buf, len);
        else
          berth_error (err, EPROTO, "the VM shim died while starting the VM");
        waitpid (shim, &status, 0);
        goto fail;
      }
  }
  close (rep[0]);
  for (int i = 0; i < 2; i++)
    if (vfs[i] >= 0)
      close (vfs[i]);
  json_decref (guest);
  json_decref (files);
  json_decref (shares);
  json_decref (sockets);
  json_decref (ifaces);
  return 0;

fail:
  if (rep[0] >= 0)
    close (rep[0]);
  if (rep[1] >= 0)
    close (rep[1]);
  for (int i = 0; i < 2; i++)
    if (vfs[i] >= 0)
      close (vfs[i]);
  json_decref (guest);
  json_decref (files);
  json_decref (shares);
  json_decref (sockets);
  json_decref (ifaces);
  if (built)
    unlink (built);
  return -1;
}

/* ------------------------------------------------------------ clients */

static int
shim_connect (const char *root, const char *id, berth_err_t *err)
{
  cleanup_free char *dir = berth_state_dir (root, id);
  cleanup_close int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;
  if (dfd < 0)
    return berth_error_code (err, ENOENT, "container `%s` does not exist", id);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_error (err, errno, "socket");
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/" SHIM_SOCK, dfd);
  if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    {
      close (fd);
      return berth_error_code (err, ESRCH, "container `%s` is not running (its VM is gone)", id);
    }
  return fd;
}

/* Where requests for ID go: its own shim, or, for a pod member, the shim
   of the pod's VM with the member's name in the guest (*MEMBER). */
static int
member_connect (const char *root, const char *id, char **member, berth_err_t *err)
{
  struct berth_state *st = NULL;
  const char *pod;
  int fd;
  *member = NULL;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  pod = json_string_value (json_object_get (st->backend, "pod"));
  if (pod == NULL)
    {
      berth_state_free (st);
      return shim_connect (root, id, err);
    }
  *member = xstrdup (json_string_value (json_object_get (st->backend, "member")) ?: "");
  fd = shim_connect (root, pod, err);
  berth_state_free (st);
  if (fd < 0)
    {
      free (*member);
      *member = NULL;
    }
  return fd;
}

/* Reads until the reply (OK or ERROR) to the request just sent: 0 with *F
   the OK frame.  Frames that came after it stay in RD. */
static int
await_reply (int fd, struct berth_frame_reader *rd, const char *id, struct berth_frame *f, berth_err_t *err)
{
  for (;;)
    {
      int r = berth_frame_next (rd, f, err);
      if (r < 0)
        return -1;
      if (r == 1 && f->type == BERTH_F_ERROR)
        return reply_error (f, err);
      if (r == 1 && f->type == BERTH_F_OK)
        return 0;
      if (r == 1)
        continue;
      r = berth_frame_fill (rd, fd, err);
      if (r < 0)
        return -1;
      if (r == 0)
        return berth_error_code (err, ESRCH, "container `%s`: the VM went away", id);
    }
}

typedef int (*reply_parser) (const struct berth_frame *f, void *out, berth_err_t *err);

static int
parse_json (const struct berth_frame *f, void *out, berth_err_t *err)
{
  return berth_frame_json (f, out, err);
}

static int
parse_ps (const struct berth_frame *f, void *out, berth_err_t *err)
{
  return berth_frame_ps_lines (f, out, err);
}

/* One request, one reply, given to PARSE when there is one. */
static int
shim_request (const char *root, const char *id, uint8_t type, json_t *req, reply_parser parse, void *out,
              berth_err_t *err)
{
  cleanup_free char *member = NULL;
  cleanup_close int fd = member_connect (root, id, &member, err);
  struct berth_frame_reader rd = { 0 };
  struct berth_frame f;
  int ret = -1;
  if (fd < 0)
    {
      json_decref (req);
      return -1;
    }
  if (member)
    {
      if (req == NULL)
        req = json_object ();
      json_object_set_new (req, "container", json_string (member));
    }
  if (berth_frame_write_json (fd, type, 0, req, err) < 0)
    return -1;
  if (await_reply (fd, &rd, id, &f, err) == 0)
    ret = parse ? parse (&f, out, err) : 0;
  berth_frame_reader_free (&rd);
  return ret;
}

int
berth_vm_start (const char *root, const char *id, berth_err_t *err)
{
  cleanup_free char *mark = NULL;
  if (shim_request (root, id, BERTH_F_START, NULL, NULL, NULL, err) < 0)
    return -1;
  /* A pod member's shim is the pod's: the mark is ours to clear. */
  mark = xasprintf ("%s/%s/" CREATED_MARK, root, id);
  unlink (mark);
  return 0;
}

int
berth_vm_kill (const char *root, const char *id, int sig, bool all, berth_err_t *err)
{
  return shim_request (root, id, BERTH_F_SIGNAL, json_pack ("{s:i,s:b}", "signal", sig, "all", all), NULL, NULL, err);
}

int
berth_vm_ps (const char *root, const char *id, char ***lines, berth_err_t *err)
{
  return shim_request (root, id, BERTH_F_PS, NULL, parse_ps, lines, err);
}

int
berth_vm_stats (const char *root, const char *id, json_t **out, berth_err_t *err)
{
  static const char *const keys[] = { "memory", "memory_limit", "cpu_ns", "pids", "guest_memory_used" };
  if (shim_request (root, id, BERTH_F_STATS, NULL, parse_json, out, err) < 0)
    return -1;
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    if (!json_is_integer (json_object_get (*out, keys[i])))
      {
        json_decref (*out);
        *out = NULL;
        return berth_error (err, EPROTO, "agent protocol: stats reply: %s must be an integer", keys[i]);
      }
  /* Newer agents also say how much of the guest's memory is free. */
  if (json_object_get (*out, "guest_memory_free") && !json_is_integer (json_object_get (*out, "guest_memory_free")))
    {
      json_decref (*out);
      *out = NULL;
      return berth_error (err, EPROTO, "agent protocol: stats reply: guest_memory_free must be an integer");
    }
  return 0;
}

char *
berth_vm_exit_reason (const char *root, const char *id)
{
  cleanup_free char *p = xasprintf ("%s/%s/exit-reason", root, id);
  char *data = NULL;
  size_t len = 0;
  berth_err_t e = NULL;
  if (read_file_at (AT_FDCWD, p, &data, &len, &e) < 0)
    {
      berth_error_release (&e);
      return NULL;
    }
  return data;
}

/* Relays one exec session between our stdio (or a pty slave) and the
   shim.  Returns the process's exit code. */
static int
exec_relay (int fd, struct berth_frame_reader *rdp, int tty_slave, bool raw_stdin, int *code, berth_err_t *err)
{
  /* What came with the reply to exec (output, even the exit) is already
     in the reader: consume it before reading more. */
  struct berth_frame_reader rd = *rdp;
  struct berth_frame f;
  bool pending = true;
  sigset_t mask, old;
  int sfd, in_fd = tty_slave >= 0 ? tty_slave : 0, out_fd = tty_slave >= 0 ? tty_slave : 1;
  int err_fd = tty_slave >= 0 ? tty_slave : 2;
  bool stdin_open = true, done = false;
  struct termios saved;
  bool restore = false;
  int ret = -1;

  sigemptyset (&mask);
  sigaddset (&mask, SIGWINCH);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGHUP);
  sigaddset (&mask, SIGQUIT);
  sigprocmask (SIG_BLOCK, &mask, &old);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (raw_stdin && isatty (0) && tcgetattr (0, &saved) == 0)
    {
      struct termios t = saved;
      cfmakeraw (&t);
      tcsetattr (0, TCSANOW, &t);
      restore = true;
    }
  {
    struct winsize ws;
    int szfd = tty_slave >= 0 ? tty_slave : (raw_stdin ? 0 : -1);
    if (szfd >= 0 && ioctl (szfd, TIOCGWINSZ, &ws) == 0 && ws.ws_row)
      berth_frame_write_json (fd, BERTH_F_RESIZE, 0, json_pack ("{s:i,s:i}", "rows", ws.ws_row, "cols", ws.ws_col),
                              err);
    berth_error_release (err);
  }
  while (!done)
    {
      struct pollfd p[3] = { { .fd = fd, .events = POLLIN },
                             { .fd = sfd, .events = POLLIN },
                             { .fd = stdin_open ? in_fd : -1, .events = POLLIN } };
      int r;
      if (poll (p, 3, pending ? 0 : -1) < 0)
        {
          if (errno == EINTR)
            continue;
          berth_error (err, errno, "poll");
          break;
        }
      if (p[1].revents)
        {
          struct signalfd_siginfo si;
          while (read (sfd, &si, sizeof (si)) == (ssize_t)sizeof (si))
            {
              struct winsize ws;
              int szfd = tty_slave >= 0 ? tty_slave : 0;
              if (si.ssi_signo == SIGWINCH && ioctl (szfd, TIOCGWINSZ, &ws) == 0)
                berth_frame_write_json (fd, BERTH_F_RESIZE, 0,
                                        json_pack ("{s:i,s:i}", "rows", ws.ws_row, "cols", ws.ws_col), err);
              else if (si.ssi_signo != SIGWINCH)
                berth_frame_write_json (fd, BERTH_F_SIGNAL, 0,
                                        json_pack ("{s:i,s:b}", "signal", (int)si.ssi_signo, "own", 1), err);
              berth_error_release (err);
            }
        }
      if (p[2].revents)
        {
          char buf[32768];
          ssize_t n = read (in_fd, buf, sizeof (buf));
          if (n <= 0)
            {
              stdin_open = false;
              berth_frame_write (fd, BERTH_F_STDIN_CLOSE, 0, "{}", 2, err);
            }
          else
            berth_frame_write (fd, BERTH_F_STDIN, 0, buf, (size_t)n, err);
          berth_error_release (err);
        }
      if (p[0].revents || pending)
        {
          if (!pending)
            {
              r = berth_frame_fill (&rd, fd, err);
              if (r <= 0)
                {
                  if (r == 0)
                    berth_error_code (err, ESRCH, "the VM went away during exec");
                  break;
                }
            }
          pending = false;
          while ((r = berth_frame_next (&rd, &f, err)) == 1)
            {
              if (f.type == BERTH_F_STDOUT || f.type == BERTH_F_STDERR)
                (void)write_all (f.type == BERTH_F_STDOUT ? out_fd : err_fd, f.data, f.len);
              else if (f.type == BERTH_F_EXIT)
                {
                  if (berth_frame_exit_code (&f, code, err) == 0)
                    ret = 0;
                  done = true;
                  break;
                }
            }
          if (r < 0)
            break;
        }
    }
  if (restore)
    tcsetattr (0, TCSANOW, &saved);
  close (sfd);
  sigprocmask (SIG_SETMASK, &old, NULL);
  berth_frame_reader_free (&rd);
  return ret;
}

/* A process that stands on the host for one in the guest: it carries
   the session's stdio (on SLAVE, a pty, when there is one) and exits with
   its exit code. */
static pid_t
spawn_relay (int fd, struct berth_frame_reader *rd, int slave, bool die_with_parent, berth_err_t *err)
{
  pid_t relay = fork ();
  if (relay < 0)
    return berth_error (err, errno, "fork");
  if (relay == 0)
    {
      berth_err_t e = NULL;
      int code = 255;
      setsid ();
      if (die_with_parent)
        prctl (PR_SET_PDEATHSIG, SIGKILL);
      /* Nothing of the caller's but stdio: not its locks (the container's
         state lock is held around create), not its pipes. */
      fd = fcntl (fd, F_DUPFD_CLOEXEC, 64);
      slave = slave >= 0 ? fcntl (slave, F_DUPFD_CLOEXEC, 64) : -1;
      if (fd < 0 || dup3 (fd, 3, O_CLOEXEC) < 0 || (slave >= 0 && dup3 (slave, 4, O_CLOEXEC) < 0))
        _exit (255);
      fd = 3;
      slave = slave >= 0 ? 4 : -1;
      close_fds_from (5, false, &e);
      berth_error_release (&e);
      if (slave >= 0)
        ioctl (slave, TIOCSCTTY, 0);
      exec_relay (fd, rd, slave, false, &code, &e);
      _exit (code);
    }
  return relay;
}

int
berth_vm_exec (const char *root, const char *id, const struct berth_exec_request *r, int *exit_status, berth_err_t *err)
{
  cleanup_close int fd = -1;
  cleanup_close int console = -1;
  struct berth_frame_reader rd = { 0 };
  struct berth_frame f;
  bool tty = json_is_true (json_object_get (r->process, "terminal"));
  int slave = -1;
  pid_t relay;

  *exit_status = 0;
  if (tty && (r->console_socket || r->console_fd > 0))
    {
      /* An exec request's console_fd is 0 when there is none. */
      console = console_connect (r->console_fd > 0 ? r->console_fd : -1, r->console_socket, err);
      if (console < 0 || console_pty (console, &slave, err) < 0)
        return -1;
    }
  else if (tty && r->detach)
    return berth_error (err, 0, "process.terminal is true: --console-socket is required with --detach");
  {
    cleanup_free char *member = NULL;
    fd = member_connect (root, id, &member, err);
    if (fd < 0
        || berth_frame_write_json (fd, BERTH_F_EXEC, 0,
                                   json_pack ("{s:O,s:s*}", "process", r->process, "container", member), err)
               < 0
        || await_reply (fd, &rd, id, &f, err) < 0)
      goto fail;
  }
  if (!r->detach)
    {
      int code = 0;
      if (slave >= 0)
        {
          /* A pty of ours for the caller's console: relay from a child
             whose controlling terminal it is, so resizes reach us. */
          relay = fork ();
          if (relay == 0)
            {
              berth_err_t e = NULL;
              setsid ();
              ioctl (slave, TIOCSCTTY, 0);
              _exit (exec_relay (fd, &rd, slave, false, &code, &e) < 0 ? 255 : code);
            }
          close (slave);
          berth_frame_reader_free (&rd);
          if (relay < 0)
            return berth_error (err, errno, "fork");
          waitpid (relay, exit_status, 0);
          *exit_status = WEXITSTATUS (*exit_status);
          return 0;
        }
      if (exec_relay (fd, &rd, -1, tty, &code, err) < 0)
        return -1;
      *exit_status = code;
      return 0;
    }
  /* Detached: a relay process stands for the exec's process on the host
     (the caller's pid file names it). */
  relay = spawn_relay (fd, &rd, slave, false, err);
  if (relay < 0)
    goto fail;
  if (slave >= 0)
    close (slave);
  berth_frame_reader_free (&rd);
  if (r->pid_out)
    *r->pid_out = relay;
  if (r->pid_file)
    {
      char buf[16];
      int n = snprintf (buf, sizeof (buf), "%d", relay);
      if (write_file_atomic (r->pid_file, buf, (size_t)n, 0644, err) < 0)
        return -1;
    }
  return 0;

fail:
  berth_frame_reader_free (&rd);
  if (slave >= 0)
    close (slave);
  return -1;
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
static int
member_mounts_attach (const char *root, const char *pod, const char *member, json_t *shares, berth_err_t *err)
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

/* A container that joins a running VM container's VM (one VM per pod, as
   Kata and Hyper-V isolated pods): its image is streamed to the guest
   over the pod's agent channel, the agent makes it a second container
   there, in the guest's network namespace, and a relay process (the
   member's pid on the host) carries its stdio and exit code. */
static int
vm_create_member (const struct berth_create_opts *o, const char *bundle, const char *dir, json_t *config,
                  const char *pod, pid_t *pid_out, json_t **vm_out, berth_err_t *err)
{
  json_t *annotations = json_object_get (config, "annotations");
  const char *image = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_IMAGE));
  json_t *guest = NULL, *files = NULL, *shares = NULL, *sockets = NULL, *reply = NULL, *req;
  cleanup_free char *netns = NULL, *built = NULL;
  cleanup_close int fd = -1, img = -1, console = -1;
  struct berth_frame_reader rd = { 0 };
  struct berth_frame f;
  struct berth_state *pst = NULL;
  bool tty = json_is_true (json_object_get (json_object_get (config, "process"), "terminal"));
  bool mounted = false;
  int slave = -1, ret = -1;
  struct stat sb;
  pid_t relay;

  if (berth_state_load (o->root, pod, &pst, err) < 0)
    return berth_error_wrap (err, "the pod's VM container");
  if (pst->backend == NULL || json_object_get (pst->backend, "pod"))
    {
      berth_error (err, EINVAL, "container `%s` does not run a VM of its own: it cannot take pod members", pod);
      goto out;
    }
  if (!berth_name_valid (o->id, 1, 100))
    {
      berth_error (err, EINVAL, "a pod member's id must be a plain name of at most 100 characters");
      goto out;
    }
  {
    cleanup_free char *prefix = xasprintf ("c-%s/", o->id);
    if (guest_config (config, bundle, prefix, &guest, &files, &shares, &sockets, &netns, err) < 0)
      goto out;
  }
  if (json_array_size (sockets) > 0)
    {
      berth_error (err, EINVAL,
                   "a pod member runs in the VM of `%s`, whose devices are fixed at boot: it cannot bring "
                   "unix sockets of its own (give them to the pod's first container)",
                   pod);
      goto out;
    }
  if (json_array_size (shares) > 0)
    {
      if (member_mounts_attach (o->root, pod, o->id, shares, err) < 0)
        goto out;
      mounted = true;
    }
  if (image == NULL)
    {
      if (bundle_image (config, bundle, dir, &built, err) < 0)
        goto out;
      image = built;
    }
  if ((img = open_regular (image, "VM image", err)) < 0)
    goto out;
  if (fstat (img, &sb) < 0)
    {
      berth_error (err, errno, "stat `%s`", image);
      goto out;
    }
  if (tty
      && ((console = console_connect (o->console_fd, o->console_socket, err)) < 0
          || console_pty (console, &slave, err) < 0))
    goto out;
  fd = shim_connect (o->root, pod, err);
  if (fd < 0)
    goto out;
  req = json_pack ("{s:O,s:O,s:I,s:b}", "config", guest, "files", files, "image_size", (json_int_t)sb.st_size, "member",
                   1);
  if (berth_frame_write_json (fd, BERTH_F_CREATE, 0, req, err) < 0)
    goto out;
  for (;;)
    {
      char buf[65536];
      ssize_t n = read (img, buf, sizeof (buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          berth_error (err, errno, "read `%s`", image);
          goto out;
        }
      if (n == 0)
        break;
      if (berth_frame_write (fd, BERTH_F_STDIN, 0, buf, (size_t)n, err) < 0)
        goto out;
    }
  if (await_reply (fd, &rd, o->id, &f, err) < 0 || berth_frame_json (&f, &reply, err) < 0)
    goto out;
  if (!json_is_string (json_object_get (reply, "id"))
      || strlen (json_string_value (json_object_get (reply, "id"))) > 32)
    {
      berth_error (err, EPROTO, "agent protocol: the reply to a pod member's create has no id");
      goto out;
    }
  relay = spawn_relay (fd, &rd, slave, o->die_with_parent, err);
  if (relay < 0)
    goto out;
  *pid_out = relay;
  /* The pod's VM (its QEMU pid, kernel, size), and which member we are. */
  *vm_out = json_deep_copy (pst->backend);
  json_object_set_new (*vm_out, "pod", json_string (pod));
  json_object_set (*vm_out, "member", json_object_get (reply, "id"));
  ret = 0;
out:
  if (slave >= 0)
    close (slave);
  berth_frame_reader_free (&rd);
  berth_state_free (pst);
  json_decref (reply);
  json_decref (guest);
  json_decref (files);
  json_decref (shares);
  json_decref (sockets);
  if (ret < 0 && built)
    unlink (built);
  if (ret < 0 && mounted)
    berth_vm_member_release (o->root, pod, o->id);
  return ret;
}
