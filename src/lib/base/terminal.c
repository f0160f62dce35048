#include "lib/base/terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "lib/base/utils.h"

int
berth_console_socket_connect (const char *path, berth_err_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_error (err, errno, "console socket: socket");
  if (strlen (path) >= sizeof (addr.sun_path))
    return berth_error (err, ENAMETOOLONG, "console socket `%s`", path);
  strcpy (addr.sun_path, path);
  if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    return berth_error (err, errno, "connect to the console socket `%s`", path);
  return steal_fd (&fd);
}

int
berth_pty_open (int *master, int *slave, char **slave_path, unsigned rows, unsigned cols, berth_err_t *err)
{
  cleanup_close int m = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  char name[64];
  int s;
  if (m < 0)
    return berth_error (err, errno, "open /dev/ptmx");
  if (unlockpt (m) < 0)
    return berth_error (err, errno, "unlockpt");
  if (ptsname_r (m, name, sizeof (name)) != 0)
    return berth_error (err, errno, "ptsname");
  /* Open the slave through the master (TIOCGPTPEER) when possible: a path
     lookup could be raced inside a hostile container. */
  s = ioctl (m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0)
    s = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0)
    return berth_error (err, errno, "open the pty slave `%s`", name);
  if (rows && cols)
    {
      struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
      ioctl (s, TIOCSWINSZ, &ws);
    }
  *master = steal_fd (&m);
  *slave = s;
  *slave_path = xstrdup (name);
  return 0;
}

int
berth_pty_become_tty (int slave, berth_err_t *err)
{
  if (setsid () < 0 && errno != EPERM)
    return berth_error (err, errno, "setsid");
  if (ioctl (slave, TIOCSCTTY, 0) < 0)
    return berth_error (err, errno, "set the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2 (slave, fd) < 0)
      return berth_error (err, errno, "dup2 the pty to fd %d", fd);
  return 0;
}

int
berth_send_fd (int sock, int fd, const char *name, berth_err_t *err)
{
  char buf[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen (name) ? strlen (name) : 1 };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof (buf) };
  struct cmsghdr *c;
  memset (buf, 0, sizeof (buf));
  c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &fd, sizeof (int));
  while (sendmsg (sock, &msg, MSG_NOSIGNAL) < 0)
    if (errno != EINTR)
      return berth_error (err, errno, "send the terminal over the console socket");
  return 0;
}

int
berth_recv_fd (int sock, int *fd, berth_err_t *err)
{
  char buf[CMSG_SPACE (sizeof (int))], data[256];
  struct iovec iov = { .iov_base = data, .iov_len = sizeof (data) };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof (buf) };
  struct cmsghdr *c;
  ssize_t n;
  do
    n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return berth_error (err, errno, "receive the terminal");
  c = CMSG_FIRSTHDR (&msg);
  if (n == 0 || c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN (sizeof (int)))
    return berth_error (err, EPROTO, "receive the terminal: no fd in the message");
  memcpy (fd, CMSG_DATA (c), sizeof (int));
  return 0;
}

ssize_t
berth_recv_msg (int sock, char *buf, size_t len, int *fd, berth_err_t *err)
{
  char cbuf[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { .iov_base = buf, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof (cbuf) };
  struct cmsghdr *c;
  ssize_t n;
  *fd = -1;
  do
    n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return berth_error (err, errno, "recvmsg");
  for (c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN (sizeof (int)))
      memcpy (fd, CMSG_DATA (c), sizeof (int));
  return n;
}

static struct termios saved_termios;
static bool termios_saved;

static void
restore_terminal (void)
{
  if (termios_saved)
    tcsetattr (0, TCSANOW, &saved_termios);
}

int
berth_pty_proxy (int master, berth_err_t *err)
{
  struct pollfd fds[2] = { { .fd = 0, .events = POLLIN }, { .fd = master, .events = POLLIN } };
  char buf[8192];
  bool stdin_open = true;

  if (isatty (0) && tcgetattr (0, &saved_termios) == 0)
    {
      struct termios raw = saved_termios;
      cfmakeraw (&raw);
      termios_saved = true;
      atexit (restore_terminal);
      tcsetattr (0, TCSANOW, &raw);
      {
        struct winsize ws;
        if (ioctl (0, TIOCGWINSZ, &ws) == 0)
          ioctl (master, TIOCSWINSZ, &ws);
      }
    }
  for (;;)
    {
      int r;
      fds[0].fd = stdin_open ? 0 : -1;
      r = poll (fds, 2, -1);
      if (r < 0)
        {
          if (errno == EINTR)
            continue;
          restore_terminal ();
          return berth_error (err, errno, "poll");
        }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (master, buf, sizeof (buf));
          if (n <= 0)
            break;
          if (write_all (1, buf, (size_t)n) < 0)
            break;
        }
      if (stdin_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        {
          ssize_t n = read (0, buf, sizeof (buf));
          if (n <= 0)
            {
              /* End of input: send EOF to the container's terminal. */
              stdin_open = false;
              (void)write_all (master, "\x04", 1);
            }
          else if (write_all (master, buf, (size_t)n) < 0)
            break;
        }
    }
  restore_terminal ();
  return 0;
}
