/* A container's files from the host: export, diff, cp and commit.  They
   work on the container's root as the host sees it: the overlay of its
   image and its writable layer (mounted for the call when the container
   is not running).  A running VM container's files live in its guest:
   its agent does the same work there (vm/client.c).  Paths are resolved in the root
   (open_in_root): nothing a container made, symlinks included, leads
   outside it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/engine/records.h"
#include "lib/image/image.h"
#include "lib/image/copy.h"
#include "lib/image/imgarchive.h"
#include "lib/image/layer.h"
#include "lib/image/pack.h"
#include "lib/runtime/container.h"
#include "lib/vm/vm.h"

struct ctr_root
{
  int fd; /* O_PATH, the merged root; -1 for a running VM's */
  char *rootfs;
  bool mounted, running;
  bool vm; /* running in a VM: its guest's agent does the work */
  json_t *rec;
};

static void
root_close (struct ctr_root *r)
{
  if (r->fd >= 0)
    close (r->fd);
  if (r->mounted)
    umount2 (r->rootfs, MNT_DETACH);
  free (r->rootfs);
  json_decref (r->rec);
  r->fd = -1;
  r->rootfs = NULL;
  r->rec = NULL;
}

/* Running in a VM: its files are in its guest, its agent does the work. */
static bool
in_guest (json_t *rec)
{
  const char *st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "";
  const char *iso = json_string_value (json_object_get (rec, "Isolation")) ?: "process";
  return strcmp (st, "running") == 0 && strcmp (iso, "process") != 0;
}

/* A nameless file under the root's tmp (gone with its last fd). */
static int
scratch_file (struct berth_engine *e, berth_err_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp", e->root);
  int fd;
  if (mkdir_p (tmp, 0700, err) < 0)
    return -1;
  fd = open (tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return berth_error (err, errno, "a scratch file in `%s`", tmp);
  return fd;
}

static int
root_open (struct berth_engine *e, const char *id, const char *what, struct ctr_root *r, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  *r = (struct ctr_root){ .fd = -1 };
  if (berth_engine_refresh (e, id, &r->rec, err) < 0)
    return -1;
  r->running
      = strcmp (json_string_value (json_object_get (json_object_get (r->rec, "State"), "Status")) ?: "", "running")
        == 0;
  /* A running VM's root is in its guest: the caller asks the agent. */
  r->vm = in_guest (r->rec);
  if (r->vm)
    return 0;
  /* Running: its root as its init sees it (the overlay is mounted in its
     own mount namespace); else the overlay, mounted for the call. */
  if (r->running)
    r->rootfs = xasprintf ("/proc/%d/root",
                           (int)json_integer_value (json_object_get (json_object_get (r->rec, "State"), "Pid")));
  else
    {
      r->rootfs = xasprintf ("%s/rootfs", dir);
      if (berth_engine_mount_rootfs (e, id, r->rec, err) < 0)
        {
          root_close (r);
          return -1;
        }
      r->mounted = true;
    }
  r->fd = open (r->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (r->fd < 0)
    {
      int e2 = errno;
      root_close (r);
      return berth_error (err, e2, "open the root of %.12s", id);
    }
  return 0;
}

int
berth_engine_export (struct berth_engine *e, const char *id, int out_fd, berth_err_t *err)
{
  struct ctr_root r;
  int ret;
  if (root_open (e, id, "export", &r, err) < 0)
    return -1;
  ret = r.vm ? berth_vm_archive (e->runtime_root, id, BERTH_VM_ARCHIVE_ROOT, out_fd, err)
             : berth_pack_tree (r.fd, ".", "", out_fd, BERTH_PACK_ONE_FS, -1, err);
  root_close (&r);
  return ret;
}

/* ------------------------------------------------------------------ diff */

struct diff
{
  int *lowers;
  size_t n_lowers;
  json_t *out;
  berth_err_t *err;
};

static bool
in_lower (struct diff *d, const char *rel)
{
  struct stat st;
  for (size_t i = 0; i < d->n_lowers; i++)
    if (fstatat (d->lowers[i], rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
      return true;
  return false;
}

static void
diff_add (struct diff *d, const char *rel, int kind)
{
  json_array_append_new (d->out, json_pack ("{s:o,s:i}", "Path", json_sprintf ("/%s", rel), "Kind", kind));
}

/* REL's entries in the writable layer (DIRFD); HIDDEN: an opaque directory
   above, so nothing below it comes from the image. */
static int
diff_dir (struct diff *d, int at, const char *rel, bool hidden)
{
  cleanup_dir DIR *dir = NULL;
  struct dirent *de;
  int fd = openat (at, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (dir = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return berth_error (d->err, errno, "read the writable layer at `/%s`", rel);
    }
  while ((de = readdir (dir)))
    {
      cleanup_free char *path = NULL;
      struct stat st;
      char opq[2];
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      path = xasprintf ("%s%s%s", rel, *rel ? "/" : "", de->d_name);
      if (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (S_ISCHR (st.st_mode) && major (st.st_rdev) == 0 && minor (st.st_rdev) == 0)
        {
          diff_add (d, path, 2);
          continue;
        }
      diff_add (d, path, !hidden && in_lower (d, path) ? 0 : 1);
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int sub = openat (dirfd (dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          bool opaque = sub >= 0 && fgetxattr (sub, "trusted.overlay.opaque", opq, sizeof (opq)) == 1 && opq[0] == 'y';
          if (sub >= 0 && diff_dir (d, sub, path, hidden || opaque) < 0)
            return -1;
        }
    }
  return 0;
}

static int
path_cmp (const void *a, const void *b)
{
  return strcmp (json_string_value (json_object_get (*(json_t *const *)a, "Path")),
                 json_string_value (json_object_get (*(json_t *const *)b, "Path")));
}

/* A running VM container's writable layer, from its guest as an OCI
   layer, into a scratch directory *DIR_OUT in overlayfs's form (the
   unpacker's): what its upper directory would be on a host. */
static int
vm_upper (struct berth_engine *e, const char *id, char **dir_out, berth_err_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp", e->root);
  cleanup_close int lfd = scratch_file (e, err);
  *dir_out = NULL;
  if (lfd < 0)
    return -1;
  if (berth_vm_archive (e->runtime_root, id, BERTH_VM_ARCHIVE_UPPER, lfd, err) < 0)
    return -1;
  if (lseek (lfd, 0, SEEK_SET) < 0)
    return berth_error (err, errno, "rewind the writable layer");
  *dir_out = xasprintf ("%s/diff-XXXXXX", tmp);
  if (mkdtemp (*dir_out) == NULL)
    {
      int e2 = errno;
      free (*dir_out);
      *dir_out = NULL;
      return berth_error (err, e2, "a scratch directory in `%s`", tmp);
    }
  if (berth_unpack_fd (lfd, *dir_out, NULL, NULL, err) < 0)
    {
      berth_err_t e2 = NULL;
      rm_rf_at (AT_FDCWD, *dir_out, &e2);
      berth_error_release (&e2);
      free (*dir_out);
      *dir_out = NULL;
      return berth_error_wrap (err, "the writable layer of %.12s", id);
    }
  return 0;
}

int
berth_engine_diff (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  cleanup_free char *lowers = NULL, *scratch = NULL;
  cleanup_close int ufd = -1;
  struct diff d = { .err = err };
  json_t *rec = NULL;
  int ret = -1;
  *out = NULL;
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  /* A running VM's changes are in its guest: its agent sends them. */
  if (in_guest (rec))
    {
      if (vm_upper (e, id, &scratch, err) < 0)
        {
          json_decref (rec);
          return -1;
        }
      free (upper);
      upper = xstrdup (scratch);
    }
  lowers = berth_engine_lowerdirs (e, rec, err);
  json_decref (rec);
  if (lowers == NULL)
    return -1;
  for (char *save = NULL, *p = strtok_r (lowers, ":", &save); p; p = strtok_r (NULL, ":", &save))
    {
      int fd = open (p, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        {
          berth_error (err, errno, "open layer `%s`", p);
          goto out;
        }
      d.lowers = xrealloc (d.lowers, (d.n_lowers + 1) * sizeof (int));
      d.lowers[d.n_lowers++] = fd;
    }
  d.out = json_array ();
  ufd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* No writable layer yet: nothing changed. */
  if (ufd >= 0 && diff_dir (&d, ufd, "", false) < 0)
    goto out;
  {
    size_t n = json_array_size (d.out);
    json_t **items = xcalloc (n + 1, sizeof (json_t *));
    for (size_t i = 0; i < n; i++)
      items[i] = json_incref (json_array_get (d.out, i));
    qsort (items, n, sizeof (json_t *), path_cmp);
    json_array_clear (d.out);
    for (size_t i = 0; i < n; i++)
      json_array_append_new (d.out, items[i]);
    free (items);
  }
  *out = d.out;
  d.out = NULL;
  ret = 0;
out:
  for (size_t i = 0; i < d.n_lowers; i++)
    close (d.lowers[i]);
  free (d.lowers);
  json_decref (d.out);
  if (scratch)
    {
      berth_err_t e2 = NULL;
      rm_rf_at (AT_FDCWD, scratch, &e2);
      berth_error_release (&e2);
    }
  return ret;
}

/* -------------------------------------------------------------------- cp */

int
berth_engine_cp_out (struct berth_engine *e, const char *id, const char *path, int out_fd, int owner, berth_err_t *err)
{
  struct ctr_root r;
  int ret;
  if (root_open (e, id, "cp", &r, err) < 0)
    return -1;
  ret = r.vm ? berth_vm_copy_out (e->runtime_root, id, path, owner, out_fd, err)
             : berth_copy_out (r.fd, path, out_fd, owner, id, err);
  root_close (&r);
  return ret;
}

int
berth_engine_cp_in (struct berth_engine *e, const char *id, const char *dest, int in_fd, const char *src_base,
                    berth_err_t *err)
{
  struct ctr_root r;
  int ret;
  if (root_open (e, id, "cp", &r, err) < 0)
    return -1;
  ret = r.vm ? berth_vm_copy_in (e->runtime_root, id, dest, src_base, in_fd, err)
             : berth_copy_in (r.fd, dest, in_fd, src_base, id, err);
  root_close (&r);
  return ret;
}

/* ---------------------------------------------------------------- commit */

int
berth_engine_image_config (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err)
{
  json_t *rec = NULL;
  struct berth_image *img = NULL;
  int ret;
  if (berth_engine_load (e, id, &rec, err) < 0)
    return -1;
  ret = berth_image_load (e->store, json_string_value (json_object_get (rec, "Manifest")) ?: "", &img, err);
  json_decref (rec);
  if (ret < 0)
    return -1;
  *out = json_deep_copy (json_object_get (img->config, "config"));
  if (*out == NULL)
    *out = json_object ();
  berth_image_free (img);
  return 0;
}

int
berth_engine_commit (struct berth_engine *e, const char *id, json_t *config, const char *comment, const char *author,
                     const char *name, char *md_out, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_close int ufd = -1, lfd = -1;
  json_t *rec = NULL;
  const char *st;
  bool paused = false;
  int ret = -1;
  struct berth_image_commit c = { config, "berth commit", comment, author, name };
  bool vm;
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "";
  /* A running VM's changes are in its guest: its agent sends them as the
     layer, the container frozen in the guest meanwhile. */
  vm = in_guest (rec);
  /* docker pauses a running container for the commit: one consistent
     layer. */
  if (!vm && strcmp (st, "running") == 0 && !json_is_true (json_object_get (json_object_get (rec, "State"), "Paused")))
    {
      if (berth_container_pause (e->runtime_root, id, true, err) < 0)
        goto out;
      paused = true;
    }
  if (!vm)
    {
      cleanup_free char *upper = xasprintf ("%s/upper", dir);
      ufd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (ufd < 0)
        {
          berth_error (err, errno, "commit: the writable layer of %.12s", id);
          goto out;
        }
    }
  lfd = scratch_file (e, err);
  if (lfd < 0)
    {
      berth_error_wrap (err, "commit");
      goto out;
    }
  if (vm ? berth_vm_archive (e->runtime_root, id, BERTH_VM_ARCHIVE_UPPER, lfd, err) < 0
         : berth_pack_tree (ufd, ".", "", lfd, BERTH_PACK_OVERLAY, -1, err) < 0)
    goto out;
  if (paused)
    {
      berth_err_t e2 = NULL;
      berth_container_pause (e->runtime_root, id, false, &e2);
      berth_error_release (&e2);
      paused = false;
    }
  if (lseek (lfd, 0, SEEK_SET) < 0)
    {
      berth_error (err, errno, "commit: rewind the layer");
      goto out;
    }
  ret = berth_image_add_layer (e->store, json_string_value (json_object_get (rec, "Manifest")) ?: "", lfd, &c, md_out,
                               err);
out:
  if (paused)
    {
      berth_err_t e2 = NULL;
      berth_container_pause (e->runtime_root, id, false, &e2);
      berth_error_release (&e2);
    }
  json_decref (rec);
  return ret;
}
