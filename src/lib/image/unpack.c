/* The layer unpacker (layer.h says what it guarantees), apart from the
   store so that the guest agent links it for cp into a running VM. */
#include "lib/image/layer.h"

#include "lib/base/archive_dl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/base/utils.h"

struct stream
{
  struct archive *outer;
  struct berth_sha256 *hash;
  int64_t size;
  char buf[65536];
  bool failed;
};

/* The tar reader pulls decompressed bytes through here, so the diff_id
   (sha256 of the uncompressed tar) is computed in the same pass. */
static la_ssize_t
stream_read (struct archive *a, void *data, const void **out)
{
  struct stream *st = data;
  la_ssize_t n = archive_read_data (st->outer, st->buf, sizeof (st->buf));
  (void)a;
  if (n < 0)
    {
      st->failed = true;
      archive_set_error (a, EIO, "%s", archive_error_string (st->outer));
      return -1;
    }
  if (st->hash)
    berth_sha256_update (st->hash, st->buf, (size_t)n);
  st->size += n;
  *out = st->buf;
  return n;
}

/* A path from the archive as components: leading "/" and "./" dropped,
   ".." refused (a layer has no business climbing). */
static int
clean_path (const char *raw, char **out, berth_err_t *err)
{
  cleanup_free char *copy = xstrdup (raw);
  char *save = NULL;
  size_t len = 0;
  char *res = xcalloc (strlen (raw) + 2, 1);
  for (char *c = strtok_r (copy, "/", &save); c; c = strtok_r (NULL, "/", &save))
    {
      if (strcmp (c, ".") == 0)
        continue;
      if (strcmp (c, "..") == 0)
        {
          free (res);
          return berth_error (err, 0, "layer entry \"%s\": \"..\" is not allowed in a layer path", raw);
        }
      if (len)
        res[len++] = '/';
      strcpy (res + len, c);
      len += strlen (c);
    }
  *out = res;
  return 0;
}

static int
remove_existing (int parent, const char *name, bool keep_dir, berth_err_t *err)
{
  struct stat st;
  if (fstatat (parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : berth_error (err, errno, "stat `%s`", name);
  if (S_ISDIR (st.st_mode))
    return keep_dir ? 1 : rm_rf_at (parent, name, err);
  if (unlinkat (parent, name, 0) < 0)
    return berth_error (err, errno, "unlink `%s`", name);
  return 0;
}

/* Everything in directory PARENT goes (an opaque directory's changes
   laid on a mounted overlay: what the image had there is hidden). */
static int
clear_dir (int parent, const char *path, berth_err_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd = openat (parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return berth_error (err, e, "layer entry \"%s\": open its directory", path);
    }
  while ((errno = 0, de = readdir (d)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0 && rm_rf_at (dirfd (d), de->d_name, err) < 0)
      return berth_error_wrap (err, "layer entry \"%s\"", path);
  if (errno)
    return berth_error (err, errno, "layer entry \"%s\": read its directory", path);
  return 0;
}

static int
apply_xattrs (struct archive_entry *e, int fd, const char *path, berth_err_t *err)
{
  const char *name;
  const void *value;
  size_t size;
  char p[FD_PATH_MAX];
  archive_entry_xattr_reset (e);
  while (archive_entry_xattr_next (e, &name, &value, &size) == ARCHIVE_OK)
    {
      /* overlayfs trusts trusted.overlay.* (redirects, opaque): a layer
         must not set them itself. */
      if (str_has_prefix (name, "trusted.") || str_has_prefix (name, "security.selinux"))
        continue;
      if (setxattr (fd_path (fd, p), name, value, size, 0) < 0 && errno != ENOTSUP)
        return berth_error (err, errno, "layer entry \"%s\": set xattr %s", path, name);
    }
  return 0;
}

enum unpack_mode
{
  UNPACK_PLAIN,   /* a tar (cp): every name is a file's */
  UNPACK_LAYER,   /* an OCI layer into a directory of its own, for overlayfs */
  UNPACK_CHANGES, /* an OCI layer laid on a mounted root: whiteouts delete */
};

struct dir_time
{
  char *path;
  struct timespec ts[2];
};

/* One entry of a hostile layer onto disk.  One piece, ~170 lines, on
   purpose: every check between the archive's bytes and a file written
   (the name, `..`, whiteouts, the type, hardlink targets, xattrs, modes)
   reads in order here, so that a reviewer sees each path an entry can take
   to the disk without following it through helpers. */
static int
extract_entry (struct archive *a, struct archive_entry *e, int rootfd, enum unpack_mode how, struct dir_time **dirs,
               size_t *n_dirs, berth_err_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_free char *parent_path = NULL;
  cleanup_close int parent = -1;
  cleanup_close int fd = -1;
  const char *base;
  mode_t type = archive_entry_filetype (e);
  mode_t mode = archive_entry_perm (e) & 07777;
  uid_t uid = (uid_t)archive_entry_uid (e);
  gid_t gid = (gid_t)archive_entry_gid (e);
  struct timespec ts[2] = { { archive_entry_atime (e), archive_entry_atime_nsec (e) },
                            { archive_entry_mtime (e), archive_entry_mtime_nsec (e) } };
  char *slash;

  if (clean_path (archive_entry_pathname (e), &path, err) < 0)
    return -1;
  if (path[0] == '\0')
    return 0; /* the layer's root itself */
  parent_path = xstrdup (path);
  slash = strrchr (parent_path, '/');
  if (slash)
    {
      *slash = '\0';
      base = path + (slash - parent_path) + 1;
    }
  else
    {
      parent_path[0] = '\0';
      base = path;
    }
  /* Parents resolve inside the layer: a symlink planted by an earlier entry
     can only lead to another place inside it. */
  parent = mkdir_open_in_root (rootfd, parent_path[0] ? parent_path : "/", false, err);
  if (parent < 0)
    return berth_error_wrap (err, "layer entry \"%s\"", archive_entry_pathname (e));
  {
    struct stat pst;
    if (fstat (parent, &pst) < 0 || !S_ISDIR (pst.st_mode))
      return berth_error (err, ENOTDIR, "layer entry \"%s\": parent is not a directory", archive_entry_pathname (e));
  }

  /* A layer's whiteouts; in a plain tar (cp) the name is just a name.
     Changes laid on a mounted overlay delete: the overlay then records the
     whiteout in its own way. */
  if (how != UNPACK_PLAIN && str_has_prefix (base, ".wh."))
    {
      if (strcmp (base, ".wh..wh..opq") == 0)
        {
          char p[FD_PATH_MAX];
          if (how == UNPACK_CHANGES)
            return clear_dir (parent, path, err);
          if (setxattr (fd_path (parent, p), "trusted.overlay.opaque", "y", 1, 0) < 0)
            return berth_error (err, errno, "layer entry \"%s\": mark opaque", path);
          return 0;
        }
      base += 4;
      if (*base == '\0' || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
        return berth_error (err, 0, "layer entry \"%s\": malformed whiteout", path);
      if (remove_existing (parent, base, false, err) < 0)
        return -1;
      if (how == UNPACK_CHANGES)
        return 0;
      if (mknodat (parent, base, S_IFCHR | 0, makedev (0, 0)) < 0)
        return berth_error (err, errno, "layer entry \"%s\": create whiteout", path);
      return 0;
    }

  if (archive_entry_hardlink (e))
    {
      cleanup_free char *target = NULL;
      cleanup_close int tfd = -1;
      struct stat tst;
      if (clean_path (archive_entry_hardlink (e), &target, err) < 0)
        return -1;
      tfd = open_in_root (rootfd, target, O_PATH | O_NOFOLLOW, 0, err);
      if (tfd < 0)
        return berth_error_wrap (err, "layer entry \"%s\": hardlink target", path);
      if (fstat (tfd, &tst) < 0 || S_ISDIR (tst.st_mode))
        return berth_error (err, EPERM, "layer entry \"%s\": hardlink to a directory", path);
      if (remove_existing (parent, base, false, err) < 0)
        return -1;
      if (linkat (tfd, "", parent, base, AT_EMPTY_PATH) < 0)
        return berth_error (err, errno, "layer entry \"%s\": hardlink", path);
      return 0;
    }

  switch (type)
    {
    case AE_IFDIR:
      if (remove_existing (parent, base, true, err) < 0)
        return -1;
      if (mkdirat (parent, base, 0700) < 0 && errno != EEXIST)
        return berth_error (err, errno, "layer entry \"%s\": mkdir", path);
      fd = openat (parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return berth_error (err, errno, "layer entry \"%s\": open", path);
      if (fchown (fd, uid, gid) < 0 || fchmod (fd, mode) < 0)
        return berth_error (err, errno, "layer entry \"%s\": set owner and mode", path);
      if (apply_xattrs (e, fd, path, err) < 0)
        return -1;
      *dirs = xrealloc (*dirs, sizeof (**dirs) * (*n_dirs + 1));
      (*dirs)[*n_dirs].path = xstrdup (path);
      memcpy ((*dirs)[*n_dirs].ts, ts, sizeof (ts));
      (*n_dirs)++;
      return 0;

    case AE_IFREG:
      {
        const void *buf;
        size_t size;
        la_int64_t off, end = 0;
        int r;
        mode_t um;
        if (remove_existing (parent, base, false, err) < 0)
          return -1;
        /* Created with its final mode and owner where possible: a layer has
           thousands of files and every syscall saved shows. */
        fd = openat (parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
          return berth_error (err, errno, "layer entry \"%s\": create", path);
        while ((r = archive_read_data_block (a, &buf, &size, &off)) == ARCHIVE_OK)
          {
            if (pwrite (fd, buf, size, off) != (ssize_t)size)
              return berth_error (err, errno, "layer entry \"%s\": write", path);
            end = off + (la_int64_t)size;
          }
        if (r != ARCHIVE_EOF)
          return berth_error (err, 0, "layer entry \"%s\": %s", path, archive_error_string (a));
        /* A sparse file's hole at the end is not a data block. */
        if (end < archive_entry_size (e) && ftruncate (fd, archive_entry_size (e)) < 0)
          return berth_error (err, errno, "layer entry \"%s\": truncate", path);
        if ((uid != geteuid () || gid != getegid ()) && fchown (fd, uid, gid) < 0)
          return berth_error (err, errno, "layer entry \"%s\": chown", path);
        um = umask (0);
        umask (um);
        /* chown clears set-id bits, and the umask may have masked some. */
        if (((mode & um) || (mode & 06000)) && fchmod (fd, mode) < 0)
          return berth_error (err, errno, "layer entry \"%s\": chmod", path);
        if (apply_xattrs (e, fd, path, err) < 0)
          return -1;
        if (futimens (fd, ts) < 0)
          return berth_error (err, errno, "layer entry \"%s\": set times", path);
        return 0;
      }

    case AE_IFLNK:
      if (remove_existing (parent, base, false, err) < 0)
        return -1;
      if (symlinkat (archive_entry_symlink (e) ? archive_entry_symlink (e) : "", parent, base) < 0)
        return berth_error (err, errno, "layer entry \"%s\": symlink", path);
      if (fchownat (parent, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return berth_error (err, errno, "layer entry \"%s\": chown", path);
      utimensat (parent, base, ts, AT_SYMLINK_NOFOLLOW);
      return 0;

    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
      if (remove_existing (parent, base, false, err) < 0)
        return -1;
      if (mknodat (parent, base, type | mode, makedev (archive_entry_rdevmajor (e), archive_entry_rdevminor (e))) < 0)
        return berth_error (err, errno, "layer entry \"%s\": mknod", path);
      if (fchownat (parent, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 || fchmodat (parent, base, mode, 0) < 0)
        return berth_error (err, errno, "layer entry \"%s\": set owner and mode", path);
      utimensat (parent, base, ts, AT_SYMLINK_NOFOLLOW);
      return 0;

    default:
      return berth_error (err, 0, "layer entry \"%s\": unsupported file type 0%o", path, type);
    }
}

static int
unpack (int fd, const char *dest, enum unpack_mode mode, char *diffid_out, int64_t *size_out, berth_err_t *err)
{
  struct archive *outer, *inner;
  struct archive_entry *e;
  struct stream st = { 0 };
  struct dir_time *dirs = NULL;
  size_t n_dirs = 0;
  cleanup_close int rootfd = -1;
  int ret = -1, r;

  if (berth_archive_load (err) < 0 || (diffid_out && (st.hash = berth_sha256_new (err)) == NULL))
    return -1;
  outer = st.outer = archive_read_new ();
  inner = archive_read_new ();
  rootfd = open (dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    {
      berth_error (err, errno, "open `%s`", dest);
      goto out;
    }
#ifdef BERTH_ARCHIVE_STATIC
  /* What the static libarchive can read without more static libraries. */
  archive_read_support_filter_gzip (outer);
  archive_read_support_filter_bzip2 (outer);
  archive_read_support_filter_xz (outer);
#else
  archive_read_support_filter_all (outer);
#endif
  archive_read_support_format_raw (outer);
  if (archive_read_open_fd (outer, fd, 65536) != ARCHIVE_OK || archive_read_next_header (outer, &e) != ARCHIVE_OK)
    {
      berth_error (err, 0, "layer: %s", archive_error_string (outer));
      goto out;
    }
  archive_read_support_format_tar (inner);
  archive_read_support_format_gnutar (inner);
  if (archive_read_open (inner, &st, NULL, stream_read, NULL) != ARCHIVE_OK)
    {
      berth_error (err, 0, "layer: %s", archive_error_string (inner));
      goto out;
    }
  while ((r = archive_read_next_header (inner, &e)) == ARCHIVE_OK)
    if (extract_entry (inner, e, rootfd, mode, &dirs, &n_dirs, err) < 0)
      goto out;
  if (r != ARCHIVE_EOF)
    {
      berth_error (err, 0, "layer: %s", archive_error_string (inner));
      goto out;
    }
  /* The tar ends with padding the reader does not ask for: it still counts
     in the diff_id. */
  for (;;)
    {
      la_ssize_t n = archive_read_data (outer, st.buf, sizeof (st.buf));
      if (n < 0)
        {
          berth_error (err, 0, "layer: %s", archive_error_string (outer));
          goto out;
        }
      if (n == 0)
        break;
      if (st.hash)
        berth_sha256_update (st.hash, st.buf, (size_t)n);
      st.size += n;
    }
  /* Directory times last: creating their children changed them. */
  for (size_t i = n_dirs; i-- > 0;)
    utimensat (rootfd, dirs[i].path, dirs[i].ts, AT_SYMLINK_NOFOLLOW);
  if (st.hash)
    berth_sha256_final (st.hash, diffid_out);
  st.hash = NULL;
  if (size_out)
    *size_out = st.size;
  ret = 0;
out:
  for (size_t i = 0; i < n_dirs; i++)
    free (dirs[i].path);
  free (dirs);
  berth_sha256_free (st.hash);
  archive_read_free (inner);
  archive_read_free (outer);
  return ret;
}

int
berth_unpack_fd (int fd, const char *dest, char *diffid_out, int64_t *size_out, berth_err_t *err)
{
  return unpack (fd, dest, UNPACK_LAYER, diffid_out, size_out, err);
}

int
berth_unpack_plain (int fd, const char *dest, berth_err_t *err)
{
  return unpack (fd, dest, UNPACK_PLAIN, NULL, NULL, err);
}

int
berth_unpack_changes (int fd, const char *dest, berth_err_t *err)
{
  return unpack (fd, dest, UNPACK_CHANGES, NULL, NULL, err);
}
