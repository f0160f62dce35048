/* A QMP client, just enough to save a template: QEMU's monitor over a
   socketpair end handed to it as an fd (no path anyone else could open).
   QMP speaks one JSON object per line; events may come between a command
   and its answer and are skipped. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/vm/internal.h"

/* The next line QEMU wrote, as JSON. */
static int
qmp_read (struct vm_qmp *q, json_t **out, int timeout_ms, berth_err_t *err)
{
  long long deadline = monotonic_ms () + timeout_ms;
  for (;;)
    {
      char *nl = memchr (q->buf, '\n', q->len);
      ssize_t n;
      if (nl)
        {
          json_error_t je;
          size_t line = (size_t)(nl - q->buf) + 1;
          *out = json_loadb (q->buf, line, 0, &je);
          memmove (q->buf, q->buf + line, q->len - line);
          q->len -= line;
          if (!json_is_object (*out))
            {
              json_decref (*out);
              *out = NULL;
              return berth_error (err, EPROTO, "QMP: a reply that is not a JSON object: %s", je.text);
            }
          return 0;
        }
      if (q->len == sizeof (q->buf))
        return berth_error (err, EPROTO, "QMP: a line longer than %zu bytes", sizeof (q->buf));
      {
        long long left = deadline - monotonic_ms ();
        int r;
        if (left <= 0)
          return berth_error (err, ETIMEDOUT, "QMP: QEMU did not answer within %d ms", timeout_ms);
        r = poll (&(struct pollfd){ .fd = q->fd, .events = POLLIN }, 1, (int)left);
        if (r < 0 && errno != EINTR)
          return berth_error (err, errno, "QMP: poll");
        if (r <= 0)
          continue;
      }
      n = read (q->fd, q->buf + q->len, sizeof (q->buf) - q->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return berth_error (err, errno, "QMP: read");
      if (n == 0)
        return berth_error (err, EPIPE, "QMP: QEMU closed its monitor (it exited)");
      q->len += (size_t)n;
    }
}

int
vm_qmp_open (struct vm_qmp *q, int fd, int timeout_ms, berth_err_t *err)
{
  json_t *greeting = NULL;
  q->fd = fd;
  q->len = 0;
  if (qmp_read (q, &greeting, timeout_ms, err) < 0)
    return -1;
  if (json_object_get (greeting, "QMP") == NULL)
    {
      json_decref (greeting);
      return berth_error (err, EPROTO, "QMP: no greeting");
    }
  json_decref (greeting);
  return vm_qmp_command (q, "qmp_capabilities", NULL, NULL, timeout_ms, err);
}

/* Sends TEXT, with FD attached (SCM_RIGHTS) when it is not -1. */
static int
qmp_send (int sock, const char *text, int fd)
{
  size_t len = strlen (text);
  struct iovec iov = { .iov_base = (void *)text, .iov_len = len };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  ssize_t n;
  if (fd >= 0)
    {
      struct cmsghdr *c;
      memset (&u, 0, sizeof (u));
      msg.msg_control = u.buf;
      msg.msg_controllen = sizeof (u.buf);
      c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &fd, sizeof (int));
    }
  do
    n = sendmsg (sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -1;
  return write_all (sock, text + n, len - (size_t)n);
}

static int
qmp_command_fd (struct vm_qmp *q, const char *cmd, json_t *args, int fd, json_t **ret, int timeout_ms, berth_err_t *err)
{
  json_t *req = json_pack ("{s:s}", "execute", cmd);
  cleanup_free char *text = NULL;
  if (args)
    json_object_set_new (req, "arguments", args);
  text = json_dumps (req, JSON_COMPACT);
  json_decref (req);
  if (ret)
    *ret = NULL;
  if (qmp_send (q->fd, text, fd) < 0 || write_all (q->fd, "\n", 1) < 0)
    return berth_error (err, errno, "QMP: send %s", cmd);
  for (;;)
    {
      json_t *r = NULL, *e;
      if (qmp_read (q, &r, timeout_ms, err) < 0)
        return berth_error_wrap (err, "QMP %s", cmd);
      if (json_object_get (r, "event"))
        {
          json_decref (r);
          continue;
        }
      e = json_object_get (r, "error");
      if (e)
        {
          berth_error (err, EIO, "QMP %s: %.300s", cmd, json_string_value (json_object_get (e, "desc")) ?: "failed");
          json_decref (r);
          return -1;
        }
      if (ret)
        *ret = json_incref (json_object_get (r, "return"));
      json_decref (r);
      return 0;
    }
}

int
vm_qmp_command (struct vm_qmp *q, const char *cmd, json_t *args, json_t **ret, int timeout_ms, berth_err_t *err)
{
  return qmp_command_fd (q, cmd, args, -1, ret, timeout_ms, err);
}

int
vm_qmp_migrate (struct vm_qmp *q, bool incoming, int migrate_fd, int timeout_ms, berth_err_t *err)
{
  /* The stream's fd goes over the monitor socket: QMP's fd: URIs name
     fds given this way, not inherited numbers. */
  if (qmp_command_fd (q, "getfd", json_pack ("{s:s}", "fdname", "berth-migrate"), migrate_fd, NULL, timeout_ms, err) < 0
      || vm_qmp_command (q, "migrate-set-capabilities",
                         json_pack ("{s:[{s:s,s:b}]}", "capabilities", "capability", "x-ignore-shared", "state", 1),
                         NULL, timeout_ms, err)
             < 0)
    return -1;
  return vm_qmp_command (q, incoming ? "migrate-incoming" : "migrate", json_pack ("{s:s}", "uri", "fd:berth-migrate"),
                         NULL, timeout_ms, err);
}
