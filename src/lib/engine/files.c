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

/* A VM container's image with the changes its earlier runs kept. */
#define VM_CHANGED_IMAGE "rootfs.erofs"

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

/* Is directory PATH empty (or missing)? */
static bool
dir_empty (const char *path)
{
  cleanup_dir DIR *d = opendir (path);
  struct dirent *de;
  if (d == NULL)
    return true;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      return false;
  return true;
}

/* A running VM container's writable layer into a scratch directory
   *DIR_OUT (its upper/ in overlayfs's form, the unpacker's): what its
   upper directory would be on a host.  The guest sends what changed
   since this start; what earlier runs kept (the host's upper) lies
   below it: both are laid, in order, on an overlay of the image. */
static int
vm_upper (struct berth_engine *e, const char *id, json_t *rec, char **dir_out, berth_err_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp", e->root);
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *kept = xasprintf ("%s/upper", dir);
  cleanup_free char *s = NULL, *upper = NULL, *lowers = NULL, *data = NULL, *mnt = NULL;
  cleanup_close int lfd = scratch_file (e, err);
  int ret = -1;
  *dir_out = NULL;
  if (lfd < 0)
    return -1;
  if (berth_vm_archive (e->runtime_root, id, BERTH_VM_ARCHIVE_UPPER, lfd, err) < 0)
    return -1;
  if (lseek (lfd, 0, SEEK_SET) < 0)
    return berth_error (err, errno, "rewind the writable layer");
  s = xasprintf ("%s/diff-XXXXXX", tmp);
  if (mkdtemp (s) == NULL)
    return berth_error (err, errno, "a scratch directory in `%s`", tmp);
  upper = xasprintf ("%s/upper", s);
  if (mkdir (upper, 0755) < 0)
    {
      berth_error (err, errno, "mkdir `%s`", upper);
      goto out;
    }
  if (dir_empty (kept))
    {
      if (berth_unpack_fd (lfd, upper, NULL, NULL, err) < 0)
        goto out;
    }
  else
    {
      /* The kept changes copied (as a layer, whiteouts and all), then
         this run's laid on them through an overlay of the image. */
      cleanup_close int kfd = open (kept, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      cleanup_close int cfd = scratch_file (e, err);
      cleanup_free char *work = xasprintf ("%s/work", s);
      if (kfd < 0)
        {
          berth_error (err, errno, "open `%s`", kept);
          goto out;
        }
      if (cfd < 0 || berth_pack_tree (kfd, ".", "", cfd, BERTH_PACK_OVERLAY, -1, err) < 0)
        goto out;
      if (lseek (cfd, 0, SEEK_SET) < 0)
        {
          berth_error (err, errno, "rewind the kept changes");
          goto out;
        }
      if (berth_unpack_fd (cfd, upper, NULL, NULL, err) < 0)
        goto out;
      lowers = berth_engine_lowerdirs (e, rec, err);
      if (lowers == NULL)
        goto out;
      mnt = xasprintf ("%s/root", s);
      data = xasprintf ("lowerdir=%s,upperdir=%s,workdir=%s", lowers, upper, work);
      if (mkdir (work, 0700) < 0 || mkdir (mnt, 0700) < 0)
        {
          berth_error (err, errno, "mkdir in `%s`", s);
          goto out;
        }
      if (mount ("overlay", mnt, "overlay", 0, data) < 0)
        {
          berth_error (err, errno, "mount an overlay of %.12s's changes", id);
          goto out;
        }
      {
        int r = berth_unpack_changes (lfd, mnt, err);
        umount2 (mnt, MNT_DETACH);
        if (r < 0)
          goto out;
      }
    }
  *dir_out = steal_pointer (&upper);
  ret = 0;
out:
  if (ret < 0)
    {
      berth_err_t e2 = NULL;
      rm_rf_at (AT_FDCWD, s, &e2);
      berth_error_release (&e2);
      return berth_error_wrap (err, "the writable layer of %.12s", id);
    }
  return 0;
}

/* Removes the scratch directory vm_upper made (UPPER is in it). */
static void
vm_upper_done (char *upper)
{
  berth_err_t e2 = NULL;
  char *slash = upper ? strrchr (upper, '/') : NULL;
  if (slash == NULL)
    return;
  *slash = '\0';
  rm_rf_at (AT_FDCWD, upper, &e2);
  berth_error_release (&e2);
}

/* The files berth mounts over the image's /etc. */
static bool
mounted_etc_file (const char *path)
{
  static const char *const mine[] = { "/etc/hostname", "/etc/hosts", "/etc/resolv.conf" };
  for (size_t k = 0; k < ARRAY_SIZE (mine); k++)
    if (strcmp (path, mine[k]) == 0)
      return true;
  return false;
}

/* Those files left their mountpoints in the writable layer where the
   image had none, and /etc copied up for them: not the container's
   changes (docker's are in its init layer, out of diff). */
static void
diff_drop_mountpoints (json_t *out)
{
  bool other_etc = false;
  size_t i;
  json_t *v;
  for (i = json_array_size (out); i-- > 0;)
    {
      const char *path = json_string_value (json_object_get (json_array_get (out, i), "Path"));
      if (json_integer_value (json_object_get (json_array_get (out, i), "Kind")) == 1 && mounted_etc_file (path))
        json_array_remove (out, i);
      else if (str_has_prefix (path, "/etc/"))
        other_etc = true;
    }
  if (other_etc)
    return;
  json_array_foreach (out, i, v)
  {
    if (strcmp (json_string_value (json_object_get (v, "Path")), "/etc") == 0
        && json_integer_value (json_object_get (v, "Kind")) == 0)
      {
        json_array_remove (out, i);
        break;
      }
  }
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
      if (vm_upper (e, id, rec, &scratch, err) < 0)
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
  diff_drop_mountpoints (d.out);
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
  vm_upper_done (scratch);
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
  /* A stopped VM container's image with its changes is out of date. */
  if (r.mounted)
    {
      cleanup_free char *dir = berth_engine_dir (e, id);
      cleanup_free char *image = xasprintf ("%s/" VM_CHANGED_IMAGE, dir);
      unlink (image);
    }
  root_close (&r);
  return ret;
}

/* ----------------------------------------------------- a VM's changes */

/* The image a VM container boots is read-only and its writable layer
   lives in guest memory; what it changed is kept at its exit (its shim's
   changes.tar) in its writable layer on the host, as a process
   container's is, and its next start boots an image with them. */
int
berth_engine_keep_vm_changes (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", dir);
  cleanup_free char *image = xasprintf ("%s/" VM_CHANGED_IMAGE, dir);
  cleanup_close int fd = -1;
  int ret;
  if (berth_vm_take_changes (e->runtime_root, id, &fd, err) < 0)
    return -1;
  if (fd < 0)
    return 0;
  if (berth_engine_mount_rootfs (e, id, rec, err) < 0)
    return berth_error_wrap (err, "keep the changes of %.12s", id);
  ret = berth_unpack_changes (fd, rootfs, err);
  umount2 (rootfs, MNT_DETACH);
  /* Out of date now, whatever was laid. */
  unlink (image);
  return ret < 0 ? berth_error_wrap (err, "keep the changes of %.12s", id) : 0;
}

int
berth_engine_vm_image (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", dir);
  cleanup_free char *image = xasprintf ("%s/" VM_CHANGED_IMAGE, dir);
  cleanup_free char *cfg = xasprintf ("%s/config.json", dir);
  json_t *spec = NULL, *an;
  int r;
  /* Unchanged: the image's own, shared by its containers. */
  if (dir_empty (upper))
    return 0;
  if (access (image, F_OK) < 0)
    {
      if (berth_engine_mount_rootfs (e, id, rec, err) < 0)
        return -1;
      r = berth_vm_build_image (rootfs, image, err);
      umount2 (rootfs, MNT_DETACH);
      if (r < 0)
        return berth_error_wrap (err, "the image of %.12s with its changes", id);
    }
  r = json_load_path (cfg, &spec, err);
  if (r != 0)
    return r > 0 ? berth_error (err, ENOENT, "`%s`", cfg) : -1;
  an = json_object_get (spec, "annotations");
  r = 0;
  if (json_is_object (an)
      && strcmp (json_string_value (json_object_get (an, BERTH_ANNOTATION_VM_IMAGE)) ?: "", image) != 0)
    {
      char *text;
      json_object_set_new (an, BERTH_ANNOTATION_VM_IMAGE, json_string (image));
      text = json_dumps (spec, JSON_INDENT (1));
      r = write_file_atomic (cfg, text, strlen (text), 0600, err);
      free (text);
    }
  json_decref (spec);
  return r;
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
  cleanup_free char *scratch = NULL;
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
  /* A running VM's changes are laid on what earlier runs kept. */
  if (vm && vm_upper (e, id, rec, &scratch, err) < 0)
    goto out;
  {
    cleanup_free char *upper = scratch ? xstrdup (scratch) : xasprintf ("%s/upper", dir);
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
  if (berth_pack_tree (ufd, ".", "", lfd, BERTH_PACK_OVERLAY, -1, err) < 0)
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
  vm_upper_done (scratch);
  json_decref (rec);
  return ret;
}
