/* A container's files from the host: export, diff, cp and commit.  They
   work on the container's root as the host sees it: the overlay of its
   image and its writable layer (mounted for the call when the container
   is not running).  A running VM container's files live in its guest and
   are refused with the reason.  Paths are resolved in the root
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
#include "lib/image/imgarchive.h"
#include "lib/image/layer.h"
#include "lib/image/pack.h"
#include "lib/runtime/container.h"

struct ctr_root
{
  int fd; /* O_PATH, the merged root */
  char *rootfs;
  bool mounted, running;
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

static int
root_open (struct berth_engine *e, const char *id, const char *what, struct ctr_root *r, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  const char *st, *iso;
  *r = (struct ctr_root){ .fd = -1 };
  if (berth_engine_refresh (e, id, &r->rec, err) < 0)
    return -1;
  st = json_string_value (json_object_get (json_object_get (r->rec, "State"), "Status")) ?: "";
  iso = json_string_value (json_object_get (r->rec, "Isolation")) ?: "process";
  r->running = strcmp (st, "running") == 0;
  if (r->running && strcmp (iso, "process") != 0)
    {
      berth_error (err, ENOTSUP,
                   "%s: container %.12s runs in %s isolation: its files live in its guest until it stops (stop it "
                   "first, or use exec)",
                   what, id, iso);
      root_close (r); /* ISO is the record's */
      return -1;
    }
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
  ret = berth_pack_tree (r.fd, ".", "", out_fd, BERTH_PACK_ONE_FS, -1, err);
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

int
berth_engine_diff (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  cleanup_free char *lowers = NULL;
  cleanup_close int ufd = -1;
  struct diff d = { .err = err };
  json_t *rec = NULL;
  const char *iso, *st;
  int ret = -1;
  *out = NULL;
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  iso = json_string_value (json_object_get (rec, "Isolation")) ?: "process";
  st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "";
  if (strcmp (st, "running") == 0 && strcmp (iso, "process") != 0)
    {
      berth_error (err, ENOTSUP,
                   "diff: container %.12s runs in %s isolation: its changes live in its guest until it stops", id, iso);
      json_decref (rec); /* ISO is the record's */
      return -1;
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
  return ret;
}

/* -------------------------------------------------------------------- cp */

/* PATH's directory and last component; "/" is the root itself ("."). */
static void
split_path (const char *path, char **dir, char **base)
{
  cleanup_free char *p = xstrdup (path);
  size_t n = strlen (p);
  char *slash;
  while (n > 1 && p[n - 1] == '/')
    p[--n] = '\0';
  slash = strrchr (p, '/');
  if (strcmp (p, "/") == 0 || *p == '\0')
    {
      *dir = xstrdup ("/");
      *base = xstrdup (".");
      return;
    }
  *base = xstrdup (slash ? slash + 1 : p);
  *dir = slash == NULL ? xstrdup ("/") : slash == p ? xstrdup ("/") : strndup (p, (size_t)(slash - p));
}

int
berth_engine_cp_out (struct berth_engine *e, const char *id, const char *path, int out_fd, int owner, berth_err_t *err)
{
  struct ctr_root r;
  cleanup_free char *dir = NULL, *base = NULL;
  cleanup_close int dfd = -1;
  int ret = -1;
  if (root_open (e, id, "cp", &r, err) < 0)
    return -1;
  split_path (path, &dir, &base);
  dfd = open_in_root (r.fd, dir, O_PATH | O_DIRECTORY, 0, err);
  if (dfd < 0)
    {
      berth_error_wrap (err, "cp: %s:%s", id, path);
      goto out;
    }
  if (strcmp (base, ".") != 0)
    {
      struct stat st;
      if (fstatat (dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          berth_error (err, errno, "cp: could not find the file %s in container %.12s", path, id);
          goto out;
        }
    }
  /* "DIR/." is the directory's contents (docker's rule), "/" the root's. */
  ret = berth_pack_tree (dfd, base, strcmp (base, ".") == 0 ? "" : base, out_fd, 0, owner, err);
out:
  root_close (&r);
  return ret;
}

int
berth_engine_cp_in (struct berth_engine *e, const char *id, const char *dest, int in_fd, const char *src_base,
                    berth_err_t *err)
{
  struct ctr_root r;
  cleanup_close int dfd = -1;
  cleanup_free char *dir = NULL, *base = NULL;
  const char *rename_from = NULL, *rename_to = NULL;
  char tmpname[64] = "";
  struct stat st;
  int ret = -1;
  if (root_open (e, id, "cp", &r, err) < 0)
    return -1;
  /* docker's rule: into DEST when it is a directory (a tar stream must
     go into one), else DEST is the new name of SRC_BASE in its parent. */
  dfd = open_in_root (r.fd, dest, O_PATH, 0, err);
  if (dfd >= 0 && fstat (dfd, &st) == 0 && S_ISDIR (st.st_mode))
    dir = xstrdup (dest);
  else
    {
      if (dfd >= 0)
        close (dfd);
      dfd = -1;
      berth_error_release (err);
      if (src_base == NULL)
        {
          berth_error (err, ENOTDIR, "cp: the destination %s in %.12s must be a directory for a tar stream", dest, id);
          goto out;
        }
      split_path (dest, &dir, &base);
      rename_from = src_base;
      rename_to = base;
    }
  if (dfd < 0)
    dfd = open_in_root (r.fd, dir, O_PATH | O_DIRECTORY, 0, err);
  if (dfd < 0)
    {
      berth_error_wrap (err, "cp: the destination directory %s in %.12s", dir, id);
      goto out;
    }
  {
    /* The layer unpacker writes the tar confined to the directory (no
       entry may leave it, whatever it names); with a new name, into a
       scratch directory first, then renamed into place. */
    cleanup_free char *dest = NULL;
    char diffid[BERTH_DIGEST_LEN + 1];
    int64_t size;
    cleanup_close int tfd = -1;
    if (rename_from)
      {
        snprintf (tmpname, sizeof (tmpname), ".berth-cp-%d", (int)getpid ());
        tfd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0 || mkdirat (tfd, tmpname, 0700) < 0)
          {
            berth_error (err, errno, "cp: make a scratch directory in %s", dir);
            tmpname[0] = '\0';
            goto out;
          }
        dest = xasprintf ("/proc/self/fd/%d/%s", dfd, tmpname);
      }
    else
      dest = xasprintf ("/proc/self/fd/%d", dfd);
    if (berth_unpack_fd (in_fd, dest, diffid, &size, err) < 0)
      {
        berth_error_wrap (err, "cp into %.12s:%s", id, dir);
        goto out;
      }
    if (rename_from)
      {
        /* "SRC/." is its contents: the scratch directory itself. */
        cleanup_free char *from
            = strcmp (rename_from, ".") == 0 ? xstrdup (tmpname) : xasprintf ("%s/%s", tmpname, rename_from);
        cleanup_close int wfd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (wfd < 0 || renameat (wfd, from, wfd, rename_to) < 0)
          {
            berth_error (err, errno, "cp: put %s in place as %s/%s", rename_from, dir, rename_to);
            goto out;
          }
      }
  }
  ret = 0;
out:
  if (tmpname[0])
    {
      berth_err_t e2 = NULL;
      cleanup_close int wfd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (wfd >= 0)
        rm_rf_at (wfd, tmpname, &e2);
      berth_error_release (&e2);
    }
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
  cleanup_free char *tmp = xasprintf ("%s/tmp", e->root);
  cleanup_close int ufd = -1, lfd = -1;
  json_t *rec = NULL;
  const char *st, *iso;
  bool paused = false;
  int ret = -1;
  struct berth_image_commit c = { config, "berth commit", comment, author, name };
  if (berth_engine_refresh (e, id, &rec, err) < 0)
    return -1;
  st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "";
  iso = json_string_value (json_object_get (rec, "Isolation")) ?: "process";
  if (strcmp (st, "running") == 0 && strcmp (iso, "process") != 0)
    {
      berth_error (err, ENOTSUP,
                   "commit: container %.12s runs in %s isolation: its changes live in its guest until it stops", id,
                   iso);
      goto out;
    }
  /* docker pauses a running container for the commit: one consistent
     layer. */
  if (strcmp (st, "running") == 0 && !json_is_true (json_object_get (json_object_get (rec, "State"), "Paused")))
    {
      if (berth_container_pause (e->runtime_root, id, true, err) < 0)
        goto out;
      paused = true;
    }
  {
    cleanup_free char *upper = xasprintf ("%s/upper", dir);
    ufd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ufd < 0)
      {
        berth_error (err, errno, "commit: the writable layer of %.12s", id);
        goto out;
      }
  }
  if (mkdir_p (tmp, 0700, err) < 0)
    goto out;
  lfd = open (tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (lfd < 0)
    {
      berth_error (err, errno, "commit: a scratch file in `%s`", tmp);
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
  json_decref (rec);
  return ret;
}
