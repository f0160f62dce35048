/* VM isolation on this host: the accelerator, where the guest kernel
   and initramfs are, and building a root filesystem image. */
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
  const char *env = getenv ("BERTH_VM_DIR");
  char *dir;
  if (env && *env)
    return xstrdup (env);
  dir = berth_asset_path ("vm", "lib/berth/vm", F_OK);
  return dir ? dir : berth_asset_default ("lib/berth/vm");
}

char *
vm_config_string (const char *key)
{
  return berth_config_string ("vm", key);
}

int
berth_vm_default_kernel (char **kernel, char **initrd, berth_err_t *err)
{
  /* The host configuration's guest kernel: "vm": {"kernel": DIR}, a
     directory like build/vm. */
  cleanup_free char *conf = vm_config_string ("kernel");
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
