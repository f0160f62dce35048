#include "lib/base/error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

int
berth_verror (berth_err_t *err, int errno_, const char *fmt, va_list ap)
{
  char *msg = NULL;
  char *full = NULL;

  if (err == NULL)
    return -1;
  /* The first (innermost) error wins: later ones are usually consequences. */
  if (*err != NULL)
    return -1;

  if (vasprintf (&msg, fmt, ap) < 0)
    msg = NULL;
  if (msg && errno_ != 0)
    {
      if (asprintf (&full, "%s: %s", msg, strerror (errno_)) < 0)
        full = NULL;
      free (msg);
      msg = full;
    }

  *err = calloc (1, sizeof (**err));
  if (*err == NULL)
    {
      free (msg);
      return -1;
    }
  (*err)->status = errno_;
  (*err)->msg = msg ? msg : strdup ("out of memory");
  return -1;
}

int
berth_error (berth_err_t *err, int errno_, const char *fmt, ...)
{
  va_list ap;
  int ret;

  va_start (ap, fmt);
  ret = berth_verror (err, errno_, fmt, ap);
  va_end (ap);
  return ret;
}

int
berth_error_code (berth_err_t *err, int status, const char *fmt, ...)
{
  va_list ap;
  bool fresh = err && *err == NULL;
  va_start (ap, fmt);
  berth_verror (err, 0, fmt, ap);
  va_end (ap);
  if (fresh && *err)
    (*err)->status = status;
  return -1;
}

int
berth_error_wrap (berth_err_t *err, const char *fmt, ...)
{
  va_list ap;
  char *ctx = NULL;
  char *full = NULL;

  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  if (vasprintf (&ctx, fmt, ap) < 0)
    ctx = NULL;
  va_end (ap);
  if (ctx == NULL)
    return -1;
  if (asprintf (&full, "%s: %s", ctx, (*err)->msg) >= 0)
    {
      free ((*err)->msg);
      (*err)->msg = full;
    }
  free (ctx);
  return -1;
}

void
berth_error_release (berth_err_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

/* Wire format: "<status> <message>", NUL-terminated, truncated to len. */
int
berth_error_encode (berth_err_t err, char *buf, size_t len)
{
  int n;

  if (err == NULL)
    n = snprintf (buf, len, "%d %s", EIO, "unknown error");
  else
    n = snprintf (buf, len, "%d %s", err->status, err->msg ? err->msg : "");
  if (n < 0)
    return -1;
  return (size_t)n >= len ? (int)len - 1 : n;
}

int
berth_error_decode (berth_err_t *err, const char *buf, size_t len)
{
  char tmp[4096];
  char *end = NULL;
  long status;

  if (len >= sizeof (tmp))
    len = sizeof (tmp) - 1;
  memcpy (tmp, buf, len);
  tmp[len] = '\0';
  errno = 0;
  status = strtol (tmp, &end, 10);
  if (end == tmp || *end != ' ' || status < 0 || status > 4095)
    return berth_error (err, 0, "malformed error report: %s", tmp);
  berth_error (err, 0, "%s", end + 1);
  if (*err)
    (*err)->status = (int)status;
  return -1;
}

void
berth_error_to_log (int fd, berth_err_t *e)
{
  if (*e)
    {
      struct iovec iov[3] = { { (void *)"berth: ", 7 }, { (*e)->msg, strlen ((*e)->msg) }, { (void *)"\n", 1 } };
      (void)!writev (fd, iov, 3);
    }
  berth_error_release (e);
}

static berth_debug_sink debug_sink;

void
berth_debug_set_sink (berth_debug_sink sink)
{
  debug_sink = sink;
}

void
berth_debug (const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  if (debug_sink == NULL)
    return;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof (buf), fmt, ap);
  va_end (ap);
  debug_sink (buf);
}
