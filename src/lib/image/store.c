#include "lib/image/store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/utils.h"

/* Work in progress is named <what>.<pid>.<random>: what a killed process
   (^C, a crash) left behind is removed by the next one to open the store. */
static void
sweep_stale_tmp (const char *root)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp", root);
  cleanup_dir DIR *d = opendir (tmp);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      const char *dot = strchr (de->d_name, '.');
      char *end;
      long pid;
      berth_err_t e = NULL;
      if (de->d_name[0] == '.' || dot == NULL)
        continue;
      pid = strtol (dot + 1, &end, 10);
      if (pid <= 0 || *end != '.' || kill ((pid_t)pid, 0) == 0 || errno != ESRCH)
        continue;
      rm_rf_at (dirfd (d), de->d_name, &e);
      berth_error_release (&e);
    }
}

int
berth_store_open (const char *root, struct berth_store **out, berth_err_t *err)
{
  static const char *dirs[] = { "blobs/sha256", "layers/sha256", "tmp" };
  struct berth_store *s = xcalloc (1, sizeof (*s));
  cleanup_free char *lock = NULL;

  s->root = xstrdup (root);
  s->lock_fd = -1;
  for (size_t i = 0; i < ARRAY_SIZE (dirs); i++)
    {
      cleanup_free char *d = xasprintf ("%s/%s", root, dirs[i]);
      if (mkdir_p (d, 0700, err) < 0)
        {
          berth_store_close (s);
          return berth_error_wrap (err, "image store `%s`", root);
        }
    }
  sweep_stale_tmp (root);
  lock = xasprintf ("%s/store.lock", root);
  s->lock_fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd < 0)
    {
      int e = errno;
      berth_store_close (s);
      return berth_error (err, e, "open `%s`", lock);
    }
  *out = s;
  return 0;
}

void
berth_store_close (struct berth_store *s)
{
  if (s == NULL)
    return;
  if (s->lock_fd >= 0)
    close (s->lock_fd);
  free (s->root);
  free (s);
}

int
berth_store_lock (struct berth_store *s, berth_err_t *err)
{
  while (flock (s->lock_fd, LOCK_EX) < 0)
    if (errno != EINTR)
      return berth_error (err, errno, "lock the image store");
  return 0;
}

void
berth_store_unlock (struct berth_store *s)
{
  flock (s->lock_fd, LOCK_UN);
}

char *
berth_blob_path (struct berth_store *s, const char *digest)
{
  return xasprintf ("%s/blobs/sha256/%s", s->root, berth_digest_hex (digest));
}

bool
berth_blob_exists (struct berth_store *s, const char *digest)
{
  cleanup_free char *p = NULL;
  if (!berth_digest_valid (digest))
    return false;
  p = berth_blob_path (s, digest);
  return access (p, F_OK) == 0;
}

char *
berth_store_tmpdir (struct berth_store *s, const char *what, berth_err_t *err)
{
  char *p = xasprintf ("%s/tmp/%s.%d.XXXXXX", s->root, what, getpid ());
  if (mkdtemp (p) == NULL)
    {
      berth_error (err, errno, "mkdtemp `%s`", p);
      free (p);
      return NULL;
    }
  return p;
}

/* Writes into a temp file in tmp/, hashing as it goes, and publishes it
   under its digest only when everything matched. */
static int
blob_publish (struct berth_store *s, const char *tmp, struct berth_sha256 *h, const char *expect, char *digest_out,
              berth_err_t *err)
{
  char digest[BERTH_DIGEST_LEN + 1];
  cleanup_free char *final = NULL;
  berth_sha256_final (h, digest);
  if (expect && strcmp (expect, digest) != 0)
    {
      unlink (tmp);
      return berth_error (err, 0, "digest mismatch: expected %s, got %s", expect, digest);
    }
  final = berth_blob_path (s, digest);
  if (rename (tmp, final) < 0)
    {
      int e = errno;
      unlink (tmp);
      return berth_error (err, e, "publish blob %s", digest);
    }
  if (digest_out)
    strcpy (digest_out, digest);
  return 0;
}

int
berth_blob_put_fd (struct berth_store *s, int fd, const char *expect, int64_t size, char *digest_out, berth_err_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp/blob.%d.XXXXXX", s->root, getpid ());
  cleanup_close int out = -1;
  struct berth_sha256 *h;
  char buf[65536];
  int64_t total = 0;

  if (expect && berth_digest_check (expect, "blob", err) < 0)
    return -1;
  h = berth_sha256_new (err);
  if (h == NULL)
    return -1;
  out = mkostemp (tmp, O_CLOEXEC);
  if (out < 0)
    {
      int e = errno;
      berth_sha256_free (h);
      return berth_error (err, e, "create `%s`", tmp);
    }
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof (buf));
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          berth_error (err, errno, "read blob");
          goto fail;
        }
      if (n == 0)
        break;
      total += n;
      if (size >= 0 && total > size)
        {
          berth_error (err, 0, "blob is larger than its declared %lld bytes", (long long)size);
          goto fail;
        }
      berth_sha256_update (h, buf, (size_t)n);
      if (write_all (out, buf, (size_t)n) < 0)
        {
          berth_error (err, errno, "write `%s`", tmp);
          goto fail;
        }
    }
  if (size >= 0 && total != size)
    {
      berth_error (err, 0, "blob is %lld bytes, its descriptor says %lld", (long long)total, (long long)size);
      goto fail;
    }
  if (fsync (out) < 0)
    {
      berth_error (err, errno, "fsync `%s`", tmp);
      goto fail;
    }
  return blob_publish (s, tmp, h, expect, digest_out, err);

fail:
  berth_sha256_free (h);
  unlink (tmp);
  return -1;
}

int
berth_blob_put_mem (struct berth_store *s, const void *data, size_t len, char *digest_out, berth_err_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp/blob.%d.XXXXXX", s->root, getpid ());
  cleanup_close int out = mkostemp (tmp, O_CLOEXEC);
  struct berth_sha256 *h;
  if (out < 0)
    return berth_error (err, errno, "create `%s`", tmp);
  if (write_all (out, data, len) < 0 || fsync (out) < 0)
    {
      int e = errno;
      unlink (tmp);
      return berth_error (err, e, "write `%s`", tmp);
    }
  h = berth_sha256_new (err);
  if (h == NULL)
    {
      unlink (tmp);
      return -1;
    }
  berth_sha256_update (h, data, len);
  return blob_publish (s, tmp, h, NULL, digest_out, err);
}

int
berth_blob_read (struct berth_store *s, const char *digest, char **data, size_t *len, berth_err_t *err)
{
  cleanup_free char *p = NULL;
  if (berth_digest_check (digest, "blob", err) < 0)
    return -1;
  p = berth_blob_path (s, digest);
  if (read_file_at (AT_FDCWD, p, data, len, err) < 0)
    return berth_error_wrap (err, "blob %s", digest);
  return 0;
}

int
berth_blob_read_json (struct berth_store *s, const char *digest, json_t **out, berth_err_t *err)
{
  cleanup_free char *data = NULL;
  size_t len;
  json_error_t jerr;
  if (berth_blob_read (s, digest, &data, &len, err) < 0)
    return -1;
  *out = json_loadb (data, len, 0, &jerr);
  if (*out == NULL)
    return berth_error (err, 0, "blob %s: line %d: %s", digest, jerr.line, jerr.text);
  return 0;
}

struct berth_blob_writer
{
  struct berth_store *s;
  char *tmp;
  int fd;
  struct berth_sha256 *h;
  int64_t size;
};

int
berth_blob_writer_begin (struct berth_store *s, struct berth_blob_writer **w, berth_err_t *err)
{
  struct berth_sha256 *h = berth_sha256_new (err);
  struct berth_blob_writer *b;
  if (h == NULL)
    return -1;
  b = xcalloc (1, sizeof (*b));
  b->s = s;
  b->h = h;
  b->tmp = xasprintf ("%s/tmp/blob.%d.XXXXXX", s->root, getpid ());
  b->fd = mkostemp (b->tmp, O_CLOEXEC);
  if (b->fd < 0)
    {
      int e = errno;
      berth_sha256_free (h);
      free (b->tmp);
      free (b);
      return berth_error (err, e, "create a blob in `%s/tmp`", s->root);
    }
  *w = b;
  return 0;
}

int
berth_blob_writer_write (struct berth_blob_writer *w, const void *data, size_t len, berth_err_t *err)
{
  if (write_all (w->fd, data, len) < 0)
    return berth_error (err, errno, "write `%s`", w->tmp);
  berth_sha256_update (w->h, data, len);
  w->size += (int64_t)len;
  return 0;
}

void
berth_blob_writer_abort (struct berth_blob_writer *w)
{
  if (w == NULL)
    return;
  close (w->fd);
  unlink (w->tmp);
  berth_sha256_free (w->h);
  free (w->tmp);
  free (w);
}

int
berth_blob_writer_commit (struct berth_blob_writer *w, const char *expect, int64_t size, char *digest_out,
                          berth_err_t *err)
{
  int ret;
  if (size >= 0 && w->size != size)
    {
      berth_error (err, 0, "blob is %lld bytes, its descriptor says %lld", (long long)w->size, (long long)size);
      berth_blob_writer_abort (w);
      return -1;
    }
  if (fsync (w->fd) < 0)
    {
      berth_error (err, errno, "fsync `%s`", w->tmp);
      berth_blob_writer_abort (w);
      return -1;
    }
  close (w->fd);
  ret = blob_publish (w->s, w->tmp, w->h, expect, digest_out, err);
  free (w->tmp);
  free (w);
  return ret;
}
