/* The engine's bundle for a VM container: the image as a read-only erofs
   block device, the guest kernel it asked for, and berth-init from the
   guest's own /init. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/runtime/isolation.h"
#include "lib/vm/vm.h"

/* The image as an erofs image for its VMs, built once and kept in the
   cache: <cache_dir>/<image key>.erofs. */
static int
vm_image (const struct berth_isolation_prepare *p, char **out, berth_err_t *err)
{
  const char *key = strchr (p->image_key, ':') ? strchr (p->image_key, ':') + 1 : p->image_key;
  cleanup_free char *path = xasprintf ("%s/%s.erofs", p->cache_dir, key);
  cleanup_free char *mnt = NULL;
  cleanup_free char *lower = xstrdup ("");
  cleanup_free char *data = NULL;
  char suffix[9];
  int ret;
  if (access (path, F_OK) == 0)
    {
      *out = steal_pointer (&path);
      return 0;
    }
  if (mkdir_p (p->cache_dir, 0700, err) < 0)
    return -1;
  if (p->n_layers == 1)
    {
      if (berth_vm_build_image (p->layers[0], path, err) < 0)
        return -1;
      *out = steal_pointer (&path);
      return 0;
    }
  /* The layers merged by a read-only overlay (whiteouts applied). */
  random_hex (suffix, 4);
  mnt = xasprintf ("%s/.mnt.%d.%s", p->cache_dir, (int)getpid (), suffix);
  for (size_t i = p->n_layers; i-- > 0;)
    {
      char *n = xasprintf ("%s%s%s", lower, lower[0] ? ":" : "", p->layers[i]);
      free (lower);
      lower = n;
    }
  if (mkdir (mnt, 0700) < 0)
    return berth_error (err, errno, "mkdir `%s`", mnt);
  data = xasprintf ("lowerdir=%s", lower);
  if (mount ("overlay", mnt, "overlay", MS_RDONLY, data) < 0)
    {
      ret = berth_error (err, errno, "mount the image's layers for its VM image");
      rmdir (mnt);
      return ret;
    }
  ret = berth_vm_build_image (mnt, path, err);
  umount2 (mnt, MNT_DETACH);
  rmdir (mnt);
  if (ret < 0)
    return -1;
  *out = steal_pointer (&path);
  return 0;
}

/* --kernel: a kernel file, or a directory with vmlinux (or vmlinuz), an
   optional initrd.img and a `no-acpi` marker. */
static int
vm_kernel (const char *kernel, json_t *an, berth_err_t *err)
{
  struct stat sb;
  if (kernel == NULL)
    {
      cleanup_free char *k = NULL, *i = NULL;
      return berth_vm_default_kernel (&k, &i, err);
    }
  if (stat (kernel, &sb) < 0)
    return berth_error (err, errno, "--kernel `%s`", kernel);
  if (S_ISREG (sb.st_mode))
    {
      json_object_set_new (an, BERTH_ANNOTATION_VM_KERNEL, json_string (kernel));
      return 0;
    }
  if (!S_ISDIR (sb.st_mode))
    return berth_error (err, EINVAL, "--kernel `%s`: not a file or a directory", kernel);
  {
    cleanup_free char *k = xasprintf ("%s/vmlinux", kernel);
    cleanup_free char *i = xasprintf ("%s/initrd.img", kernel);
    cleanup_free char *na = xasprintf ("%s/no-acpi", kernel);
    if (access (k, R_OK) < 0)
      {
        free (k);
        k = xasprintf ("%s/vmlinuz", kernel);
      }
    if (access (k, R_OK) < 0)
      return berth_error (err, errno, "--kernel `%s`: no vmlinux or vmlinuz in it", kernel);
    json_object_set_new (an, BERTH_ANNOTATION_VM_KERNEL, json_string (k));
    if (access (i, R_OK) == 0)
      json_object_set_new (an, BERTH_ANNOTATION_VM_INITRD, json_string (i));
    if (access (na, F_OK) == 0)
      json_object_set_new (an, BERTH_ANNOTATION_VM_ACPI, json_string ("off"));
  }
  return 0;
}

int
berth_vm_prepare (const struct berth_isolation_prepare *p, json_t *spec, berth_err_t *err)
{
  cleanup_free char *image = NULL;
  json_t *an = json_object_get (spec, "annotations");
  if (an == NULL)
    {
      an = json_object ();
      json_object_set_new (spec, "annotations", an);
    }
  /* In a VM the guest's own copy of berth-agent (its /init) is berth-init. */
  if (p->init)
    berth_isolation_add_init (spec, "/init");
  if (vm_kernel (p->kernel, an, err) < 0 || vm_image (p, &image, err) < 0)
    return -1;
  json_object_set_new (an, BERTH_ANNOTATION_ISOLATION, json_string ("vm"));
  json_object_set_new (an, BERTH_ANNOTATION_VM_IMAGE, json_string (image));
  if (p->pod)
    json_object_set_new (an, BERTH_ANNOTATION_VM_POD, json_string (p->pod));
  else if (p->keep_changes)
    json_object_set_new (an, BERTH_ANNOTATION_VM_KEEP_CHANGES, json_string ("true"));
  return 0;
}
