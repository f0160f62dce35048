/* Tar streams out of a directory tree, for export, cp and commit.  The
   tree may be a container's (hostile): it is walked with *at calls from
   directory fds, never following a symlink (a link is stored as a link),
   so nothing outside the tree is read whatever the container made of it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/base/archive_dl.h"
#include "lib/base/utils.h"
#include "lib/image/pack.h"

struct pack
{
  struct archive *a;
  unsigned flags;
  int owner;
  uint64_t mnt_id; /* BERTH_PACK_ONE_FS: the top's mount */
  berth_err_t *err;
};

/* The mount an entry is on (statx's stx_mnt_id); 0 if unknown. */
static uint64_t
mount_id (int parent, const char *name)
{
  struct statx stx;
  if (statx (parent, name, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
    return 0;
  return stx.stx_mnt_id;
}

static int
put_header (struct pack *p, const char *path, const struct stat *st, const char *link)
{
  struct archive_entry *e = archive_entry_new ();
  int r;
  archive_entry_copy_stat (e, st);
  archive_entry_set_pathname (e, path);
  if (link)
    archive_entry_set_symlink (e, link);
  if (p->owner >= 0)
    {
      archive_entry_set_uid (e, p->owner);
      archive_entry_set_gid (e, p->owner);
    }
  r = archive_write_header (p->a, e);
  archive_entry_free (e);
  if (r < ARCHIVE_WARN)
    return berth_error (p->err, 0, "tar `%s`: %s", path, archive_error_string (p->a));
  return 0;
}

/* An empty regular file: the OCI whiteouts. */
static int
put_marker (struct pack *p, const char *path, const struct stat *like)
{
  struct stat st = *like;
  st.st_mode = S_IFREG | 0644;
  st.st_size = 0;
  st.st_rdev = 0;
  return put_header (p, path, &st, NULL);
}

static int
put_data (struct pack *p, int fd, const char *path)
{
  char buf[65536];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof (buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return berth_error (p->err, errno, "read `%s`", path);
      if (n == 0)
        return 0;
      if (archive_write_data (p->a, buf, (size_t)n) < 0)
        return berth_error (p->err, 0, "tar `%s`: %s", path, archive_error_string (p->a));
    }
}

static int pack_entry (struct pack *p, int parent, const char *name, const char *path);

static int
pack_dir (struct pack *p, int fd, const char *path, const struct stat *st)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  char opq[2];
  int dfd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (dfd < 0)
    return berth_error (p->err, errno, "dup");
  d = fdopendir (dfd);
  if (d == NULL)
    {
      close (dfd);
      return berth_error (p->err, errno, "read directory `%s`", path);
    }
  /* overlayfs's opaque directory is OCI's .wh..wh..opq inside it. */
  if ((p->flags & BERTH_PACK_OVERLAY) && fgetxattr (fd, "trusted.overlay.opaque", opq, sizeof (opq)) == 1
      && opq[0] == 'y')
    {
      cleanup_free char *m = xasprintf ("%s%s.wh..wh..opq", path, *path ? "/" : "");
      if (put_marker (p, m, st) < 0)
        return -1;
    }
  while ((errno = 0, de = readdir (d)))
    {
      cleanup_free char *child = NULL;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      child = xasprintf ("%s%s%s", path, *path ? "/" : "", de->d_name);
      if (pack_entry (p, dirfd (d), de->d_name, child) < 0)
        return -1;
    }
  if (errno)
    return berth_error (p->err, errno, "read directory `%s`", path);
  return 0;
}

static int
pack_entry (struct pack *p, int parent, const char *name, const char *path)
{
  struct stat st;
  cleanup_close int fd = -1;
  if (fstatat (parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_error (p->err, errno, "stat `%s`", path);
  /* Another mount (a running container's /proc, volumes, its /etc/hosts):
     not the container's file system, as docker export leaves it out. */
  if ((p->flags & BERTH_PACK_ONE_FS) && *path && mount_id (parent, name) != p->mnt_id)
    return 0;
  if (S_ISSOCK (st.st_mode))
    return 0; /* tar has no sockets; docker leaves them out too */
  if ((p->flags & BERTH_PACK_OVERLAY) && S_ISCHR (st.st_mode) && major (st.st_rdev) == 0 && minor (st.st_rdev) == 0)
    {
      /* overlayfs's whiteout is OCI's .wh.NAME. */
      const char *slash = strrchr (path, '/');
      cleanup_free char *m
          = slash ? xasprintf ("%.*s/.wh.%s", (int)(slash - path), path, slash + 1) : xasprintf (".wh.%s", path);
      return put_marker (p, m, &st);
    }
  if (S_ISLNK (st.st_mode))
    {
      char link[PATH_MAX];
      ssize_t n = readlinkat (parent, name, link, sizeof (link) - 1);
      if (n < 0)
        return berth_error (p->err, errno, "readlink `%s`", path);
      link[n] = '\0';
      return *path ? put_header (p, path, &st, link) : 0;
    }
  if (S_ISREG (st.st_mode) || S_ISDIR (st.st_mode))
    {
      fd = openat (parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR (st.st_mode) ? O_DIRECTORY : 0));
      if (fd < 0)
        return berth_error (p->err, errno, "open `%s`", path);
      /* Stat what was opened: the entry may have changed since. */
      if (fstat (fd, &st) < 0)
        return berth_error (p->err, errno, "stat `%s`", path);
    }
  /* The top of the tree itself has no name in the archive. */
  if (*path && put_header (p, path, &st, NULL) < 0)
    return -1;
  if (S_ISREG (st.st_mode))
    return put_data (p, fd, path);
  if (S_ISDIR (st.st_mode))
    return pack_dir (p, fd, path, &st);
  return 0;
}

int
berth_pack_tree (int parent, const char *name, const char *arcname, int out_fd, unsigned flags, int owner,
                 berth_err_t *err)
{
  struct pack p = { .flags = flags, .owner = owner, .err = err };
  int ret;
  if (berth_archive_load (err) < 0)
    return -1;
  if (flags & BERTH_PACK_ONE_FS)
    {
      p.mnt_id = mount_id (parent, name);
      if (p.mnt_id == 0)
        return berth_error (err, ENOTSUP, "tar: this kernel does not tell mounts apart (statx STATX_MNT_ID)");
    }
  p.a = archive_write_new ();
  archive_write_set_format_pax_restricted (p.a);
  if (archive_write_open_fd (p.a, out_fd) != ARCHIVE_OK)
    {
      berth_error (err, 0, "tar: %s", archive_error_string (p.a));
      archive_write_free (p.a);
      return -1;
    }
  ret = pack_entry (&p, parent, name, arcname);
  if (archive_write_close (p.a) != ARCHIVE_OK && ret == 0)
    ret = berth_error (err, 0, "tar: %s", archive_error_string (p.a));
  archive_write_free (p.a);
  return ret;
}
