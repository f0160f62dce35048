/* Frame codec of the host-agent protocol (agent_proto.h).  Everything
   here may see bytes written by a hostile guest: lengths are bounded,
   headers are checked field by field, and nothing is guessed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/vm/protocol.h"
#include "lib/base/utils.h"

static const char *const names[] = {
  [BERTH_F_READY] = "ready",   [BERTH_F_CREATE] = "create",     [BERTH_F_START] = "start",
  [BERTH_F_EXEC] = "exec",     [BERTH_F_STDIN] = "stdin",       [BERTH_F_STDIN_CLOSE] = "stdin-close",
  [BERTH_F_RESIZE] = "resize", [BERTH_F_SIGNAL] = "signal",     [BERTH_F_PS] = "ps",
  [BERTH_F_STATS] = "stats",   [BERTH_F_SHUTDOWN] = "shutdown", [BERTH_F_OK] = "ok",
  [BERTH_F_ERROR] = "error",   [BERTH_F_STDOUT] = "stdout",     [BERTH_F_STDERR] = "stderr",
  [BERTH_F_EXIT] = "exit",     [BERTH_F_CONNECT] = "connect",   [BERTH_F_DATA] = "data",
  [BERTH_F_CLOSE] = "close",   [BERTH_F_CLOCK] = "clock",       [BERTH_F_DNS] = "dns",
  [BERTH_F_UPDATE] = "update", [BERTH_F_ARCHIVE] = "archive",   [BERTH_F_EXTRACT] = "extract",
};

const char *
berth_frame_type_name (uint8_t type)
{
  if (type == 0 || type > BERTH_F_MAX_TYPE)
    return "unknown";
  return names[type];
}

static uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
put_le32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

int
berth_frame_parse (const uint8_t *buf, size_t len, struct berth_frame *f, size_t *used, berth_err_t *err)
{
  uint32_t plen;
  if (len < 1)
    return 0;
  if (buf[0] != BERTH_FRAME_MAGIC)
    return berth_error (err, EPROTO, "agent protocol: bad frame magic 0x%02x", buf[0]);
  if (len >= 2 && (buf[1] == 0 || buf[1] > BERTH_F_MAX_TYPE))
    return berth_error (err, EPROTO, "agent protocol: unknown frame type %u", buf[1]);
  if (len >= 4 && (buf[2] != 0 || buf[3] != 0))
    return berth_error (err, EPROTO, "agent protocol: reserved header bytes are not zero");
  if (len < BERTH_FRAME_HDR)
    return 0;
  plen = le32 (buf + 8);
  if (plen > BERTH_FRAME_MAX)
    return berth_error (err, EPROTO, "agent protocol: %s frame of %u bytes exceeds the limit of %u",
                        berth_frame_type_name (buf[1]), plen, BERTH_FRAME_MAX);
  if (len - BERTH_FRAME_HDR < plen)
    return 0;
  f->type = buf[1];
  f->sid = le32 (buf + 4);
  f->len = plen;
  f->data = buf + BERTH_FRAME_HDR;
  *used = BERTH_FRAME_HDR + plen;
  return 1;
}

int
berth_frame_fill (struct berth_frame_reader *r, int fd, berth_err_t *err)
{
  ssize_t n;
  /* Drop what the caller has consumed before growing. */
  if (r->consumed > 0)
    {
      memmove (r->buf, r->buf + r->consumed, r->len - r->consumed);
      r->len -= r->consumed;
      r->consumed = 0;
    }
  if (r->cap - r->len < 65536)
    {
      /* Never more than one maximal frame plus one read's worth. */
      size_t ncap = r->cap ? r->cap * 2 : 131072;
      if (ncap > BERTH_FRAME_MAX + BERTH_FRAME_HDR + 65536)
        ncap = BERTH_FRAME_MAX + BERTH_FRAME_HDR + 65536;
      if (ncap <= r->len)
        return berth_error (err, EPROTO, "agent protocol: frame buffer full");
      r->buf = xrealloc (r->buf, ncap);
      r->cap = ncap;
    }
  do
    n = read (fd, r->buf + r->len, r->cap - r->len);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return berth_error (err, errno, "read from the agent channel");
  if (n == 0)
    return 0;
  r->len += (size_t)n;
  return 1;
}

int
berth_frame_next (struct berth_frame_reader *r, struct berth_frame *f, berth_err_t *err)
{
  size_t used = 0;
  int ret = berth_frame_parse (r->buf + r->consumed, r->len - r->consumed, f, &used, err);
  if (ret == 1)
    r->consumed += used;
  return ret;
}

void
berth_frame_reader_free (struct berth_frame_reader *r)
{
  free (r->buf);
  memset (r, 0, sizeof (*r));
}

int
berth_frame_write (int fd, uint8_t type, uint32_t sid, const void *data, size_t len, berth_err_t *err)
{
  uint8_t hdr[BERTH_FRAME_HDR] = { BERTH_FRAME_MAGIC, type, 0, 0 };
  struct iovec iov[2] = { { hdr, sizeof (hdr) }, { (void *)data, len } };
  size_t total = sizeof (hdr) + len, done = 0;
  if (len > BERTH_FRAME_MAX)
    return berth_error (err, EMSGSIZE, "agent protocol: %s frame of %zu bytes is too big", berth_frame_type_name (type),
                        len);
  put_le32 (hdr + 4, sid);
  put_le32 (hdr + 8, (uint32_t)len);
  /* One writev for the common case; the rest of a short write by hand. */
  while (done < total)
    {
      ssize_t n;
      struct iovec v[2];
      int nv = 0;
      if (done < sizeof (hdr))
        v[nv++] = (struct iovec){ hdr + done, sizeof (hdr) - done };
      if (len > 0)
        {
          size_t off = done > sizeof (hdr) ? done - sizeof (hdr) : 0;
          v[nv++] = (struct iovec){ (uint8_t *)data + off, len - off };
        }
      n = writev (fd, v, nv);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return berth_error (err, errno, "write %s frame", berth_frame_type_name (type));
      done += (size_t)n;
    }
  (void)iov;
  return 0;
}

int
berth_frame_write_json (int fd, uint8_t type, uint32_t sid, json_t *j, berth_err_t *err)
{
  char *s = json_dumps (j ? j : json_object (), JSON_COMPACT);
  int ret;
  if (j == NULL)
    ret = berth_frame_write (fd, type, sid, "{}", 2, err);
  else
    ret = berth_frame_write (fd, type, sid, s, strlen (s), err);
  free (s);
  json_decref (j);
  return ret;
}

int
berth_frame_json (const struct berth_frame *f, json_t **out, berth_err_t *err)
{
  json_error_t je;
  json_t *j;
  if (f->len == 0)
    return berth_error (err, EPROTO, "agent protocol: empty %s frame", berth_frame_type_name (f->type));
  j = json_loadb ((const char *)f->data, f->len, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL)
    return berth_error (err, EPROTO, "agent protocol: %s frame: %s", berth_frame_type_name (f->type), je.text);
  if (!json_is_object (j))
    {
      json_decref (j);
      return berth_error (err, EPROTO, "agent protocol: %s frame is not a JSON object",
                          berth_frame_type_name (f->type));
    }
  *out = j;
  return 0;
}

long
berth_frame_exit_oom_kills (const struct berth_frame *f)
{
  json_t *j = NULL, *k;
  berth_err_t e = NULL;
  long n = 0;
  if (f->type != BERTH_F_EXIT || berth_frame_json (f, &j, &e) < 0)
    {
      berth_error_release (&e);
      return 0;
    }
  k = json_object_get (j, "oom_kills");
  if (json_is_integer (k) && json_integer_value (k) > 0 && json_integer_value (k) < (1LL << 31))
    n = (long)json_integer_value (k);
  json_decref (j);
  return n;
}

int
berth_frame_exit_code (const struct berth_frame *f, int *code, berth_err_t *err)
{
  json_t *j = NULL, *c;
  if (f->type != BERTH_F_EXIT)
    return berth_error (err, EPROTO, "agent protocol: expected an exit frame, got %s", berth_frame_type_name (f->type));
  if (berth_frame_json (f, &j, err) < 0)
    return -1;
  c = json_object_get (j, "code");
  if (!json_is_integer (c) || json_integer_value (c) < 0 || json_integer_value (c) > 255)
    {
      json_decref (j);
      return berth_error (err, EPROTO, "agent protocol: exit frame: code must be an integer 0-255");
    }
  *code = (int)json_integer_value (c);
  json_decref (j);
  return 0;
}

int
berth_frame_ps_lines (const struct berth_frame *f, char ***out, berth_err_t *err)
{
  json_t *j = NULL, *a, *v;
  size_t i;
  char **lines;
  if (berth_frame_json (f, &j, err) < 0)
    return -1;
  a = json_object_get (j, "lines");
  if (!json_is_array (a) || json_array_size (a) == 0 || json_array_size (a) > BERTH_PS_MAX_LINES)
    {
      json_decref (j);
      return berth_error (err, EPROTO, "agent protocol: ps reply: lines must be an array of 1-%d strings",
                          BERTH_PS_MAX_LINES);
    }
  lines = xcalloc (json_array_size (a) + 1, sizeof (char *));
  json_array_foreach (a, i, v)
  {
    const char *s = json_string_value (v);
    size_t n = json_string_length (v);
    if (s == NULL || n > BERTH_PS_MAX_LINE || strlen (s) != n)
      {
        strv_free (lines);
        json_decref (j);
        return berth_error (err, EPROTO, "agent protocol: ps reply: line %zu is not a short string", i);
      }
    lines[i] = xstrdup (s);
    /* What reaches the user's terminal carries no control sequences. */
    for (char *p = lines[i]; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        *p = '?';
  }
  json_decref (j);
  *out = lines;
  return 0;
}

int
berth_frame_ready (const struct berth_frame *f, char *kernel, size_t n, long long *boot_ms, berth_err_t *err)
{
  json_t *j = NULL;
  if (berth_frame_json (f, &j, err) < 0)
    return -1;
  snprintf (kernel, n, "%.100s", json_string_value (json_object_get (j, "kernel")) ?: "?");
  *boot_ms = json_integer_value (json_object_get (j, "uptime_ms"));
  for (char *c = kernel; *c; c++)
    if (*c <= ' ' || *c > '~')
      *c = '?';
  json_decref (j);
  return 0;
}
