/* The monitor's relay: the container's output to its log, the attached
   CLI and `berth attach` clients; their input (and terminal size) to the
   container; ctrl-p ctrl-q lets an attached CLI go. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/runtime/cgroup.h"
#include "lib/monitor/internal.h"

int
monitor_attach_listen (struct monitor *m)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_close int dfd = open (m->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (dfd < 0 || fd < 0)
    {
      if (fd >= 0)
        close (fd);
      return -1;
    }
  /* Through the directory fd: the path may be longer than a socket
     address holds. */
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/attach.sock", dfd);
  unlinkat (dfd, "attach.sock", 0);
  if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0 || listen (fd, 4) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

void
monitor_attach_close (struct monitor *m)
{
  if (m->listen_fd >= 0)
    {
      cleanup_free char *sp = xasprintf ("%s/attach.sock", m->dir);
      close (m->listen_fd);
      m->listen_fd = -1;
      unlink (sp);
    }
  for (int k = 0; k < m->n_clients; k++)
    close (m->clients[k]);
  m->n_clients = 0;
}

static void
drop_client (struct monitor *m, int k)
{
  close (m->clients[k]);
  m->n_clients--;
  m->clients[k] = m->clients[m->n_clients];
  m->client_reads[k] = m->client_reads[m->n_clients];
}

static void
accept_client (struct monitor *m)
{
  int c = accept4 (m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0)
    return;
  if (m->n_clients >= MONITOR_MAX_CLIENTS)
    {
      close (c);
      return;
    }
  m->client_reads[m->n_clients] = true;
  m->clients[m->n_clients++] = c;
}

/* Input from a client goes to the container; a client that closed its
   input still gets output. */
static void
client_input (struct monitor *m, int k)
{
  char buf[65536];
  ssize_t n = read (m->clients[k], buf, sizeof (buf));
  if (n <= 0)
    m->client_reads[k] = false;
  else if (m->tty && m->master >= 0)
    (void)write_all (m->master, buf, (size_t)n);
  else if (m->in[1] >= 0)
    (void)write_all (m->in[1], buf, (size_t)n);
}

static void
resize (struct monitor *m)
{
  struct winsize ws;
  if (m->tty && m->master >= 0 && m->cli_in >= 0 && ioctl (m->cli_in, TIOCGWINSZ, &ws) == 0)
    ioctl (m->master, TIOCSWINSZ, &ws);
}

/* SIGWINCH from the attached CLI's terminal, or SIGCHLD. */
static void
signal_event (struct monitor *m, bool *exited)
{
  struct signalfd_siginfo si;
  if (read (m->sfd, &si, sizeof (si)) == (ssize_t)sizeof (si) && si.ssi_signo == SIGWINCH)
    {
      resize (m);
      return;
    }
  if (waitpid (m->pid, &m->status, WNOHANG) == m->pid)
    {
      *exited = true;
      /* The kernel spaces memory.events' notifications 10 ms apart, so
         the oom_kill one may not have come yet: read the count now, while
         the cgroup is likelier still there. */
      berth_oom_watch_update (&m->oom);
    }
}

/* ctrl-p ctrl-q: the CLI lets go, the container runs on. */
static void
detach_cli (struct monitor *m, bool *stdin_open)
{
  if (m->status_fd >= 0)
    {
      (void)write_all (m->status_fd, "detached\n", 9);
      close (m->status_fd);
      m->status_fd = -1;
    }
  *stdin_open = false;
  m->attach = false;
  close (m->cli_in);
  m->cli_in = -1;
}

static void
cli_input (struct monitor *m, bool *stdin_open)
{
  char buf[65536];
  ssize_t n = read (m->cli_in, buf, sizeof (buf)), upto;
  bool detach = false;
  if (n <= 0)
    {
      /* The CLI's input ended: so does the container's. */
      *stdin_open = false;
      if (m->tty)
        (void)write_all (m->master, "\x04", 1);
      else
        {
          close (m->in[1]);
          m->in[1] = -1;
        }
      return;
    }
  upto = n;
  for (ssize_t q = 0; m->tty && q < n; q++)
    {
      if (m->prev_ctrl_p && buf[q] == 0x11)
        {
          upto = q > 0 ? q - 1 : 0;
          detach = true;
          break;
        }
      m->prev_ctrl_p = buf[q] == 0x10;
    }
  if (upto > 0)
    (void)write_all (m->tty ? m->master : m->in[1], buf, (size_t)upto);
  if (detach)
    detach_cli (m, stdin_open);
}

/* Output of the container on FD: to the log, the CLI and every client
   (one too slow to take it is dropped). */
static void
output (struct monitor *m, int fd)
{
  char buf[65536];
  ssize_t n = read (fd, buf, sizeof (buf));
  int stream = fd == m->errp[0] ? 2 : 1;
  if (n <= 0)
    {
      int *ends[] = { &m->out[0], &m->errp[0], &m->master };
      for (size_t k = 0; k < ARRAY_SIZE (ends); k++)
        if (*ends[k] == fd)
          {
            close (fd);
            *ends[k] = -1;
          }
      return;
    }
  monitor_log_data (&m->log, stream, buf, (size_t)n);
  if (m->attach)
    (void)write_all (stream == 2 ? m->cli_err : m->cli_out, buf, (size_t)n);
  for (int k = 0; k < m->n_clients; k++)
    if (send (m->clients[k], buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
      drop_client (m, k--);
}

static int
client_index (struct monitor *m, int fd)
{
  for (int k = 0; k < m->n_clients; k++)
    if (m->clients[k] == fd)
      return k;
  return -1;
}

void
monitor_relay (struct monitor *m)
{
  bool exited = false, stdin_open = m->attach && m->interactive;
  for (;;)
    {
      /* stdio 3, signals, listen, clients, OOM 2 */
      struct pollfd p[7 + MONITOR_MAX_CLIENTS];
      /* As polled: an update may close them mid-loop. */
      int oom_fds[2] = { exited ? -1 : m->oom.fd, exited ? -1 : m->oom.parent_fd };
      int np = 0, r;
      int srcs[3] = { m->tty ? m->master : m->out[0], m->tty ? -1 : m->errp[0], stdin_open ? m->cli_in : -1 };
      for (int k = 0; k < 3; k++)
        if (srcs[k] >= 0)
          p[np++] = (struct pollfd){ .fd = srcs[k], .events = POLLIN };
      p[np++] = (struct pollfd){ .fd = m->sfd, .events = POLLIN };
      if (np == 1 && exited)
        break;
      if (m->listen_fd >= 0 && !exited)
        p[np++] = (struct pollfd){ .fd = m->listen_fd, .events = POLLIN };
      for (int k = 0; k < m->n_clients && !exited; k++)
        if (m->client_reads[k])
          p[np++] = (struct pollfd){ .fd = m->clients[k], .events = POLLIN };
      /* cgroup v2 signals a changed memory.events with POLLPRI. */
      for (int k = 0; k < 2; k++)
        if (oom_fds[k] >= 0)
          p[np++] = (struct pollfd){ .fd = oom_fds[k], .events = POLLPRI };
      r = poll (p, (nfds_t)np, exited ? 200 : -1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0 && exited)
        break; /* something in the container still holds the pipes */
      for (int k = 0; k < np; k++)
        {
          int ci;
          if (!p[k].revents)
            continue;
          if (p[k].fd == oom_fds[0] || p[k].fd == oom_fds[1])
            berth_oom_watch_update (&m->oom);
          else if (p[k].fd == m->listen_fd)
            accept_client (m);
          else if ((ci = client_index (m, p[k].fd)) >= 0)
            client_input (m, ci);
          else if (p[k].fd == m->sfd)
            signal_event (m, &exited);
          else if (p[k].fd == m->cli_in)
            cli_input (m, &stdin_open);
          else
            output (m, p[k].fd);
        }
    }
  if (!exited)
    waitpid (m->pid, &m->status, 0);
}
