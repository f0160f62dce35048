/* docker cp's rules on a root given as a directory fd (copy.h).  Paths
   are resolved in the root (open_in_root): nothing a container made,
   symlinks included, leads outside it. */
#include "lib/image/copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/image/layer.h"
#include "lib/image/pack.h"

/* How errors name the container: by ID, or (the agent's, which knows no
   host ID) as "the container". */
static const char *
who (const char *id, char buf[32])
{
  if (id == NULL)
    return "the container";
  snprintf (buf, 32, "container %.12s", id);
  return buf;
}

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
berth_copy_out (int rootfd, const char *path, int out_fd, int owner, const char *id, berth_err_t *err)
{
  cleanup_free char *dir = NULL, *base = NULL;
  cleanup_close int dfd = -1;
  char whobuf[32];
  split_path (path, &dir, &base);
  dfd = open_in_root (rootfd, dir, O_PATH | O_DIRECTORY, 0, err);
  if (dfd < 0)
    return berth_error_wrap (err, "cp: %s in %s", path, who (id, whobuf));
  if (strcmp (base, ".") != 0)
    {
      struct stat st;
      if (fstatat (dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return berth_error (err, errno, "cp: could not find the file %s in %s", path, who (id, whobuf));
    }
  /* "DIR/." is the directory's contents (docker's rule), "/" the root's. */
  return berth_pack_tree (dfd, base, strcmp (base, ".") == 0 ? "" : base, out_fd, 0, owner, err);
}

int
berth_copy_in (int rootfd, const char *dest, int in_fd, const char *src_base, const char *id, berth_err_t *err)
{
  cleanup_close int dfd = -1;
  cleanup_free char *dir = NULL, *base = NULL;
  const char *rename_from = NULL, *rename_to = NULL;
  char tmpname[64] = "", whobuf[32];
  struct stat st;
  int ret = -1;
  /* docker's rule: into DEST when it is a directory (a tar stream must
     go into one), else DEST is the new name of SRC_BASE in its parent. */
  dfd = open_in_root (rootfd, dest, O_PATH, 0, err);
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
          berth_error (err, ENOTDIR, "cp: the destination %s in %s must be a directory for a tar stream", dest,
                       who (id, whobuf));
          goto out;
        }
      split_path (dest, &dir, &base);
      rename_from = src_base;
      rename_to = base;
    }
  if (dfd < 0)
    dfd = open_in_root (rootfd, dir, O_PATH | O_DIRECTORY, 0, err);
  if (dfd < 0)
    {
      berth_error_wrap (err, "cp: the destination directory %s in %s", dir, who (id, whobuf));
      goto out;
    }
  {
    /* The layer unpacker writes the tar confined to the directory (no
       entry may leave it, whatever it names); with a new name, into a
       scratch directory first, then renamed into place. */
    cleanup_free char *dest = NULL;
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
    if (berth_unpack_plain (in_fd, dest, err) < 0)
      {
        berth_error_wrap (err, "cp into %s in %s", dir, who (id, whobuf));
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
  return ret;
}
