#include "lib/engine/volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/utils.h"

bool
berth_volume_name_valid (const char *n)
{
  return berth_name_valid (n, 2, 128);
}

static char *
vol_dir (const char *root, const char *name)
{
  return xasprintf ("%s/volumes/%s", root, name);
}

int
berth_volume_get (const char *root, const char *name, json_t **out, berth_err_t *err)
{
  cleanup_free char *p = NULL;
  int r;
  if (!berth_volume_name_valid (name))
    return berth_error (err, 0, "invalid volume name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]+", name);
  p = xasprintf ("%s/volumes/%s/volume.json", root, name);
  r = json_load_path (p, out, err);
  if (r > 0)
    return berth_error_code (err, ENOENT, "no such volume: %s", name);
  return r;
}

int
berth_volume_create (const char *root, const char *name, json_t *labels, bool anonymous, json_t **out, berth_err_t *err)
{
  char gen[65];
  cleanup_free char *dir = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *meta = NULL;
  cleanup_free char *now = timestamp_rfc3339 ();
  json_t *v;
  char *text;
  int r;
  if (name == NULL)
    {
      random_hex (gen, 32);
      name = gen;
    }
  if (berth_volume_get (root, name, out, err) == 0)
    return 0; /* docker: creating an existing volume is a no-op */
  if ((*err)->status != ENOENT)
    return -1;
  berth_error_release (err);
  dir = vol_dir (root, name);
  data = xasprintf ("%s/_data", dir);
  meta = xasprintf ("%s/volume.json", dir);
  if (mkdir_p (data, 0755, err) < 0)
    return -1;
  v = json_pack ("{s:s,s:s,s:s,s:s,s:O,s:s,s:b}", "Name", name, "Driver", "local", "Mountpoint", data, "CreatedAt", now,
                 "Labels", labels ? labels : json_object (), "Scope", "local", "Anonymous", anonymous);
  text = json_dumps (v, JSON_INDENT (1));
  r = write_file_atomic (meta, text, strlen (text), 0600, err);
  free (text);
  if (r < 0)
    {
      berth_err_t e2 = NULL;
      json_decref (v);
      rm_rf_at (AT_FDCWD, dir, &e2);
      berth_error_release (&e2);
      return -1;
    }
  *out = v;
  return 0;
}

int
berth_volume_list (const char *root, json_t **out, berth_err_t *err)
{
  cleanup_free char *d = xasprintf ("%s/volumes", root);
  cleanup_dir DIR *dir = opendir (d);
  struct dirent *de;
  *out = json_array ();
  if (dir == NULL)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open `%s`", d);
  while ((de = readdir (dir)))
    {
      json_t *v = NULL;
      berth_err_t e2 = NULL;
      if (de->d_name[0] == '.')
        continue;
      if (berth_volume_get (root, de->d_name, &v, &e2) == 0)
        json_array_append_new (*out, v);
      berth_error_release (&e2);
    }
  return 0;
}

int
berth_volume_users (const char *root, const char *name, json_t **in_use, berth_err_t *err)
{
  cleanup_free char *cd = xasprintf ("%s/containers", root);
  cleanup_free char *src = xasprintf ("%s/volumes/%s/_data", root, name);
  cleanup_dir DIR *dir = opendir (cd);
  struct dirent *de;
  *in_use = json_array ();
  while (dir && (de = readdir (dir)))
    {
      cleanup_free char *cfg = NULL;
      json_t *spec = NULL, *m;
      berth_err_t e2 = NULL;
      size_t i;
      if (de->d_name[0] == '.')
        continue;
      cfg = xasprintf ("%s/%s/config.json", cd, de->d_name);
      /* A container being made or removed may have no config yet. */
      if (json_load_path (cfg, &spec, &e2) < 0)
        berth_error_release (&e2);
      json_array_foreach (json_object_get (spec, "mounts"), i,
                          m) if (strcmp (json_string_value (json_object_get (m, "source")) ?: "", src) == 0)
      {
        json_array_append_new (*in_use, json_string (de->d_name));
        break;
      }
      json_decref (spec);
    }
  (void)err;
  return 0;
}

int
berth_volume_remove (const char *root, const char *name, bool force, berth_err_t *err)
{
  json_t *v = NULL, *users = NULL;
  cleanup_free char *dir = NULL;
  if (berth_volume_get (root, name, &v, err) < 0)
    return -1;
  json_decref (v);
  if (berth_volume_users (root, name, &users, err) < 0)
    return -1;
  if (json_array_size (users) && !force)
    {
      int r = berth_error (err, EBUSY, "volume %s is in use by container %.12s", name,
                           json_string_value (json_array_get (users, 0)));
      json_decref (users);
      return r;
    }
  json_decref (users);
  dir = vol_dir (root, name);
  return rm_rf_at (AT_FDCWD, dir, err);
}

/* Copies what the image has at PATH into DATA (resolved inside ROOTFS:
   a symlink in the image cannot point the copy at the host). */
static int
copy_tree (int srcdir, int dstdir, berth_err_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int dup = fcntl (srcdir, F_DUPFD_CLOEXEC, 3);
  if (dup < 0 || (d = fdopendir (dup)) == NULL)
    return berth_error (err, errno, "read a volume's seed");
  while ((de = readdir (d)))
    {
      struct stat st;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return berth_error (err, errno, "stat `%s`", de->d_name);
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int s = openat (dirfd (d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          cleanup_close int t = -1;
          if (mkdirat (dstdir, de->d_name, st.st_mode & 07777) < 0 && errno != EEXIST)
            return berth_error (err, errno, "mkdir `%s`", de->d_name);
          t = openat (dstdir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (s < 0 || t < 0 || copy_tree (s, t, err) < 0)
            return *err ? -1 : berth_error (err, errno, "copy `%s`", de->d_name);
        }
      else if (S_ISLNK (st.st_mode))
        {
          char target[4096];
          ssize_t n = readlinkat (dirfd (d), de->d_name, target, sizeof (target) - 1);
          if (n < 0)
            return berth_error (err, errno, "readlink `%s`", de->d_name);
          target[n] = '\0';
          if (symlinkat (target, dstdir, de->d_name) < 0 && errno != EEXIST)
            return berth_error (err, errno, "symlink `%s`", de->d_name);
        }
      else if (S_ISREG (st.st_mode))
        {
          cleanup_close int s = openat (dirfd (d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
          cleanup_close int t
              = openat (dstdir, de->d_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
          char buf[65536];
          ssize_t n;
          if (s < 0 || t < 0)
            return berth_error (err, errno, "copy `%s`", de->d_name);
          while ((n = read (s, buf, sizeof (buf))) > 0)
            if (write_all (t, buf, (size_t)n) < 0)
              return berth_error (err, errno, "copy `%s`", de->d_name);
        }
      else
        continue; /* devices and sockets are not volume content */
      fchownat (dstdir, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    }
  return 0;
}

int
berth_volume_seed (const char *data_dir, const char *rootfs, const char *path, berth_err_t *err)
{
  cleanup_close int root = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int src = -1;
  cleanup_close int dst = open (data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *check = NULL;
  struct dirent *de;
  struct stat st;
  if (root < 0 || dst < 0)
    return berth_error (err, errno, "seed volume `%s`", data_dir);
  /* Only an empty volume is filled. */
  check = opendir (data_dir);
  while (check && (de = readdir (check)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      return 0;
  src = open_in_root (root, path, O_RDONLY | O_DIRECTORY, 0, err);
  if (src < 0)
    {
      berth_error_release (err);
      return 0; /* nothing there in the image */
    }
  if (fstat (src, &st) == 0)
    {
      fchmod (dst, st.st_mode & 07777);
      fchown (dst, st.st_uid, st.st_gid);
    }
  return copy_tree (src, dst, err);
}
