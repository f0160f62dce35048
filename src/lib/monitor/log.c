/* The container's json-file log (docker's format): one JSON object per
   line of output, rotated past max-size into container.log.1 .. .N-1
   (max-file N), as docker's json-file driver. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/base/utils.h"
#include "lib/monitor/internal.h"

/* Without --log-opt: 10 MiB ($BERTH_LOG_MAX_SIZE to change), one old file. */
static off_t
log_max_default (void)
{
  const char *v = getenv ("BERTH_LOG_MAX_SIZE");
  long long n = v ? atoll (v) : 0;
  return n > 0 ? (off_t)n : (off_t)(10 << 20);
}

/* container.log -> .1 -> .2 ...; the oldest beyond max-file goes.  With
   max-file 1 the log starts again empty. */
static void
log_rotate (struct logger *l)
{
  close (l->fd);
  if (l->max_files <= 1)
    unlink (l->path);
  for (int k = l->max_files - 1; k >= 1; k--)
    {
      cleanup_free char *to = xasprintf ("%s.%d", l->path, k);
      cleanup_free char *from = k > 1 ? xasprintf ("%s.%d", l->path, k - 1) : xstrdup (l->path);
      rename (from, to);
    }
  l->fd = open (l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  l->size = 0;
}

static void
log_write_line (struct logger *l, const char *stream, const char *data, size_t len)
{
  cleanup_free char *ts = timestamp_rfc3339 ();
  json_t *j = json_pack ("{s:s%,s:s,s:s}", "log", data, len, "stream", stream, "time", ts);
  char *text = json_dumps (j, JSON_COMPACT);
  size_t n = strlen (text);
  json_decref (j);
  if (l->size > 0 && l->size + (off_t)n + 1 > l->max_size)
    log_rotate (l);
  text[n] = '\n';
  if (l->full_until_ms && monotonic_ms () < l->full_until_ms)
    ; /* dropped: see below */
  else if (l->fd >= 0 && write_all (l->fd, text, n + 1) == 0)
    {
      l->size += (off_t)n + 1;
      l->full_until_ms = 0;
    }
  else if (l->fd >= 0)
    {
      /* A full disk: the line is lost (the container runs on, as under
         docker), but not half of it, which would hide the lines before
         it from `logs --tail` and run into the next one written.  Tried
         again a second later, not at every line: a chatty container would
         keep the file's end changing under its readers. */
      if (ftruncate (l->fd, l->size) < 0)
        l->size = lseek (l->fd, 0, SEEK_END);
      l->full_until_ms = monotonic_ms () + 1000;
    }
  free (text);
}

/* Splits output into lines for the log; a line longer than 16 KiB is
   written in pieces, as docker does. */
void
monitor_log_data (struct logger *l, int s, const char *data, size_t len)
{
  static const char *names[] = { "stdin", "stdout", "stderr" };
  while (len > 0)
    {
      const char *nl = memchr (data, '\n', len);
      size_t take = nl ? (size_t)(nl - data) + 1 : len;
      l->partial[s] = xrealloc (l->partial[s], l->plen[s] + take + 1);
      memcpy (l->partial[s] + l->plen[s], data, take);
      l->plen[s] += take;
      if (nl || l->plen[s] >= 16384)
        {
          log_write_line (l, names[s], l->partial[s], l->plen[s]);
          l->plen[s] = 0;
        }
      data += take;
      len -= take;
    }
}

void
monitor_log_flush (struct logger *l)
{
  static const char *names[] = { "stdin", "stdout", "stderr" };
  for (int s = 1; s < 3; s++)
    if (l->plen[s])
      {
        log_write_line (l, names[s], l->partial[s], l->plen[s]);
        l->plen[s] = 0;
      }
}

int
monitor_log_open (struct logger *l, const char *dir, json_t *log_config)
{
  struct stat sb;
  const char *ms = json_string_value (json_object_get (log_config, "max-size"));
  const char *mf = json_string_value (json_object_get (log_config, "max-file"));
  bool ok = false;
  int64_t size = ms ? parse_bytes (ms, &ok) : 0;
  /* Checked by the CLI; a record edited since falls back to the default. */
  l->max_size = ok && size > 0 ? (off_t)size : log_max_default ();
  l->max_files = mf && atoi (mf) >= 1 ? atoi (mf) : 2;
  l->path = xasprintf ("%s/container.log", dir);
  l->fd = open (l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (l->fd >= 0 && fstat (l->fd, &sb) == 0)
    l->size = sb.st_size;
  return l->fd;
}
