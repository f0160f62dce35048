/* The VM shim: the container's stand-in on the host.  It runs QEMU,
   speaks the agent protocol to the guest, relays stdio and serves the
   control socket that the other verbs (client.c) use. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/mount.h>

#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/net/netdev.h"
#include "lib/runtime/ns.h"
#include "lib/vm/protocol.h"
#include "lib/vm/internal.h"
#include "lib/vm/vm.h"

static void
shim_reason (struct shim *s, const char *fmt, ...)
{
  va_list ap;
  char buf[512];
  berth_err_t e = NULL;
  /* What went wrong first is the reason; what follows from it (QEMU
     killed because its file server died) is not. */
  if (s->reason_set)
    return;
  s->reason_set = true;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof (buf), fmt, ap);
  va_end (ap);
  write_file_at (s->dirfd, "exit-reason", buf, strlen (buf), &e);
  berth_error_release (&e);
}

/* The guest's last words, if it panicked. */
static void
panic_line (struct shim *s, char *out, size_t n)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  berth_err_t e = NULL;
  char *p;
  out[0] = 0;
  if (read_file_at (s->dirfd, "console.log", &data, &len, &e) < 0)
    {
      berth_error_release (&e);
      return;
    }
  p = data ? strstr (data, "Kernel panic") : NULL;
  if (p)
    snprintf (out, n, "%.*s", (int)strcspn (p, "\r\n"), p);
}

/* The console's last line: why QEMU or the guest gave up at start. */
static void
console_tail (struct shim *s, char *out, size_t n)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  berth_err_t e = NULL;
  out[0] = 0;
  if (read_file_at (s->dirfd, "console.log", &data, &len, &e) < 0 || len == 0)
    {
      berth_error_release (&e);
      return;
    }
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
    data[--len] = 0;
  {
    char *l = memrchr (data, '\n', len);
    snprintf (out, n, "%s", l ? l + 1 : data);
    for (char *c = out; *c; c++)
      if ((unsigned char)*c < 0x20 || *c == 0x7f)
        *c = '?';
  }
}

static void
qemu_exited (struct shim *s, int status)
{
  char pl[256];
  s->qemu_gone = true;
  s->qemu_status = status;
  if (s->exited)
    return;
  panic_line (s, pl, sizeof (pl));
  if (pl[0])
    shim_reason (s, "the guest kernel panicked: %s", pl);
  else if (WIFSIGNALED (status))
    shim_reason (s, "the VM process (qemu) was killed by signal %d before the container exited", WTERMSIG (status));
  else
    shim_reason (s, "the VM stopped (qemu exited with status %d) before the container exited", WEXITSTATUS (status));
}

int
vm_wait_qemu (struct shim *s, int timeout_ms)
{
  /* QEMU's pidfd wakes us the moment it exits (sleeping between checks
     cost every VM's stop up to 10 ms); without one, a 10 ms sleep. */
  cleanup_close int pidfd = s->qemu_gone ? -1 : (int)syscall (SYS_pidfd_open, s->qemu, 0);
  for (int waited = 0; !s->qemu_gone; waited += 10)
    {
      int status;
      pid_t w = waitpid (s->qemu, &status, WNOHANG);
      if (w == s->qemu)
        {
          qemu_exited (s, status);
          break;
        }
      if (waited >= timeout_ms)
        return -1;
      if (pidfd >= 0)
        (void)poll (&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 10);
      else
        usleep (10000);
    }
  return 0;
}

void
vm_stop_virtiofsd (struct shim *s)
{
  if (s->virtiofsd > 0)
    {
      kill (s->virtiofsd, SIGKILL);
      waitpid (s->virtiofsd, NULL, 0);
      s->virtiofsd = 0;
      unlinkat (s->dirfd, "share", AT_REMOVEDIR);
    }
}

void
vm_kill_qemu (struct shim *s)
{
  if (!s->qemu_gone)
    {
      kill (s->qemu, SIGKILL);
      vm_wait_qemu (s, 10000);
    }
}

/* The agent asks for the wall clock while it creates the container (a VM
   restored from a template has the template's). */
static void
shim_send_clock (struct shim *s)
{
  struct timespec ts;
  berth_err_t e = NULL;
  clock_gettime (CLOCK_REALTIME, &ts);
  berth_frame_write_json (s->agent, BERTH_F_CLOCK, 0,
                          json_pack ("{s:I,s:I}", "sec", (json_int_t)ts.tv_sec, "nsec", (json_int_t)ts.tv_nsec), &e);
  berth_error_release (&e);
}

/* How long a guest may take to boot and answer create: 30 s under KVM,
   120 s under TCG (a slow host's first boot), or BERTH_VM_BOOT_TIMEOUT
   seconds.  A guest that says nothing in that time is given up on. */
static int
boot_timeout_ms (const char *accel)
{
  const char *env = getenv ("BERTH_VM_BOOT_TIMEOUT");
  int s = env ? atoi (env) : 0;
  if (s > 0 && s <= 3600)
    return s * 1000;
  return strcmp (accel, "kvm") == 0 ? 30000 : 120000;
}

/* The agent's next frame, outside the loop (boot, create, the end);
   a guest clock request is answered on the way. */
static int
shim_next (struct shim *s, struct berth_frame *f, long long deadline, berth_err_t *err)
{
  for (;;)
    {
      struct pollfd p = { .fd = s->agent, .events = POLLIN };
      int r = berth_frame_next (&s->ard, f, err);
      long long now;
      if (r < 0)
        return -1;
      if (r == 1)
        {
          if (f->sid == 0 && f->type == BERTH_F_CLOCK)
            {
              shim_send_clock (s);
              continue;
            }
          return 0;
        }
      now = monotonic_ms ();
      if (now >= deadline)
        return berth_error (err, ETIMEDOUT, "the VM did not answer in time (see %s/console.log)", s->dir);
      r = poll (&p, 1, 100 < deadline - now ? 100 : (int)(deadline - now));
      if (r < 0 && errno != EINTR)
        return berth_error (err, errno, "poll");
      if (r > 0)
        {
          r = berth_frame_fill (&s->ard, s->agent, err);
          if (r < 0)
            return -1;
          if (r == 0)
            return berth_error (err, EPIPE, "the VM closed the agent channel");
        }
      {
        int status;
        if (s->virtiofsd > 0 && waitpid (s->virtiofsd, &status, WNOHANG) == s->virtiofsd)
          {
            char pl[256];
            s->virtiofsd = 0;
            console_tail (s, pl, sizeof (pl));
            return berth_error (err, ECHILD, "the VM's file server (virtiofsd) exited %s: %s",
                                s->exited ? "at the end" : "while starting", pl);
          }
        if (waitpid (s->qemu, &status, WNOHANG) == s->qemu)
          {
            char pl[256];
            s->qemu_gone = true;
            panic_line (s, pl, sizeof (pl));
            if (!pl[0])
              console_tail (s, pl, sizeof (pl));
            return berth_error (err, ECHILD, "the VM stopped %s: %s", s->exited ? "at the end" : "while starting",
                                pl[0] ? pl : "qemu exited");
          }
      }
    }
}

/* Waits for one frame from the agent during boot and create; the
   container's console may speak before create is done. */
static int
shim_expect (struct shim *s, uint32_t sid, struct berth_frame *f, int timeout_ms, berth_err_t *err)
{
  long long deadline = monotonic_ms () + timeout_ms;
  for (;;)
    {
      if (shim_next (s, f, deadline, err) < 0)
        {
          if ((*err)->status != ETIMEDOUT)
            return -1;
          berth_error_release (err);
          return berth_error (err, ETIMEDOUT, "the VM did not answer within %d s (see %s/console.log)",
                              timeout_ms / 1000, s->dir);
        }
      if (f->sid == sid && (f->type == BERTH_F_READY || f->type == BERTH_F_OK || f->type == BERTH_F_ERROR))
        return 0;
    }
}

int
vm_reply_error (const struct berth_frame *f, berth_err_t *err)
{
  json_t *j = NULL;
  const char *msg;
  int e;
  if (berth_frame_json (f, &j, err) < 0)
    return -1;
  msg = json_string_value (json_object_get (j, "message"));
  e = (int)json_integer_value (json_object_get (j, "errno"));
  if (e < 0 || e > 4095)
    e = EPROTO;
  /* The guest's words, bounded and marked as such. */
  berth_error (err, 0, "in the VM: %.1000s", msg ? msg : "unknown error");
  (*err)->status = e;
  json_decref (j);
  return -1;
}

static void
client_drop (struct shim *s, int k)
{
  struct client *c = &s->clients[k];
  if (c->exec && !s->exited)
    {
      /* The exec's caller went away: so does its process. */
      berth_err_t e = NULL;
      berth_frame_write_json (s->agent, BERTH_F_SIGNAL, c->sid, json_pack ("{s:i,s:b}", "signal", SIGKILL, "own", 1),
                              &e);
      berth_error_release (&e);
    }
  close (c->fd);
  berth_frame_reader_free (&c->rd);
  s->clients[k] = s->clients[--s->n_clients];
}

static struct client *
client_by_sid (struct shim *s, uint32_t sid)
{
  for (int k = 0; k < s->n_clients; k++)
    if (s->clients[k].sid == sid)
      return &s->clients[k];
  return NULL;
}

static void
to_client (struct shim *s, struct client *c, const struct berth_frame *f)
{
  berth_err_t e = NULL;
  if (berth_frame_write (c->fd, f->type, 0, f->data, f->len, &e) < 0)
    berth_error_release (&e);
}

static int
conn_index (struct shim *s, uint32_t sid)
{
  for (int k = 0; k < s->n_conns; k++)
    if (s->conns[k].sid == sid)
      return k;
  return -1;
}

static void
conn_drop (struct shim *s, int k)
{
  close (s->conns[k].fd);
  s->conns[k] = s->conns[--s->n_conns];
}

/* A connection to a mapped socket, opened by a process in the guest.
   The guest names only the socket's index: the host path is ours. */
static void
shim_socket_frame (struct shim *s, struct berth_frame *f)
{
  berth_err_t e = NULL;
  int k = conn_index (s, f->sid);
  if (f->type == BERTH_F_CONNECT)
    {
      json_t *j = NULL;
      json_t *sock;
      struct sockaddr_un addr = { .sun_family = AF_UNIX };
      int fd = -1;
      if (k >= 0 || berth_frame_json (f, &j, &e) < 0)
        goto refuse;
      {
        json_t *idx = json_object_get (j, "socket");
        sock = json_is_integer (idx) && json_integer_value (idx) >= 0
                   ? json_array_get (s->sockets, (size_t)json_integer_value (idx))
                   : NULL;
      }
      json_decref (j);
      if (sock == NULL || s->n_conns >= (int)ARRAY_SIZE (s->conns))
        goto refuse;
      if (snprintf (addr.sun_path, sizeof (addr.sun_path), "%s", json_string_value (json_object_get (sock, "source")))
          >= (int)sizeof (addr.sun_path))
        goto refuse;
      fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
        {
          if (fd >= 0)
            close (fd);
          goto refuse;
        }
      s->conns[s->n_conns].sid = f->sid;
      s->conns[s->n_conns++].fd = fd;
      return;
    refuse:
      berth_error_release (&e);
      berth_frame_write (s->agent, BERTH_F_CLOSE, f->sid, "{}", 2, &e);
      berth_error_release (&e);
      return;
    }
  if (k < 0)
    return;
  if (f->type == BERTH_F_DATA)
    {
      if (write_all (s->conns[k].fd, f->data, f->len) < 0)
        {
          conn_drop (s, k);
          berth_frame_write (s->agent, BERTH_F_CLOSE, f->sid, "{}", 2, &e);
          berth_error_release (&e);
        }
    }
  else if (f->type == BERTH_F_CLOSE)
    shutdown (s->conns[k].fd, SHUT_WR);
}

/* A guest query for Docker's embedded DNS server (netdev.h): sent under
   an ID of ours, so that queries of different guest processes with the
   same ID keep apart.  The guest is hostile: only a DNS-sized message is
   sent, only to that server, and a full table drops the oldest query (the
   guest's resolver asks again). */
static void
shim_dns_query (struct shim *s, const struct berth_frame *f)
{
  unsigned char msg[BERTH_DNS_MAX];
  int k = 0;
  if (s->dns < 0 || f->len < 12 || f->len > sizeof (msg))
    return;
  for (int i = 0; i < (int)ARRAY_SIZE (s->dns_q); i++)
    if (s->dns_q[i].at < s->dns_q[k].at)
      k = i;
  memcpy (msg, f->data, f->len);
  s->dns_q[k].sid = f->sid;
  s->dns_q[k].guest_id = (uint16_t)(msg[0] << 8 | msg[1]);
  s->dns_q[k].at = monotonic_ms ();
  /* The slot's index in the low bits finds the answer's slot. */
  s->dns_next_id = (uint16_t)(s->dns_next_id + ARRAY_SIZE (s->dns_q));
  s->dns_q[k].id = (uint16_t)(s->dns_next_id + k);
  msg[0] = (unsigned char)(s->dns_q[k].id >> 8);
  msg[1] = (unsigned char)s->dns_q[k].id;
  if (send (s->dns, msg, f->len, MSG_DONTWAIT) < 0)
    s->dns_q[k].at = 0;
}

/* The server's answer goes back to the query it answers, under the guest's
   ID; anything else that arrives is dropped. */
static void
shim_dns_answer (struct shim *s)
{
  unsigned char msg[BERTH_DNS_MAX];
  ssize_t n;
  while ((n = recv (s->dns, msg, sizeof (msg), MSG_DONTWAIT)) >= 12)
    {
      uint16_t id = (uint16_t)(msg[0] << 8 | msg[1]);
      int k = id % ARRAY_SIZE (s->dns_q);
      berth_err_t e = NULL;
      if (s->dns_q[k].at == 0 || s->dns_q[k].id != id || monotonic_ms () - s->dns_q[k].at > 10000)
        continue;
      msg[0] = (unsigned char)(s->dns_q[k].guest_id >> 8);
      msg[1] = (unsigned char)s->dns_q[k].guest_id;
      s->dns_q[k].at = 0;
      if (berth_frame_write (s->agent, BERTH_F_DNS, s->dns_q[k].sid, msg, (size_t)n, &e) < 0)
        berth_error_release (&e);
    }
}

static void
shim_agent_frame (struct shim *s, struct berth_frame *f)
{
  berth_err_t e = NULL;
  if (f->type == BERTH_F_DNS)
    return shim_dns_query (s, f);
  if (f->sid == 0)
    {
      switch (f->type)
        {
        case BERTH_F_STDOUT:
        case BERTH_F_STDERR:
          (void)write_all (s->tty_slave >= 0 ? s->tty_slave : (f->type == BERTH_F_STDOUT ? 1 : 2), f->data, f->len);
          return;
        case BERTH_F_EXIT:
          if (berth_frame_exit_code (f, &s->exit_code, &e) < 0)
            {
              shim_reason (s, "%s", e->msg);
              berth_error_release (&e);
              s->exit_code = 255;
            }
          {
            /* The guest saw its memory limit kill: inspect's OOMKilled. */
            long kills = berth_frame_exit_oom_kills (f);
            char num[24];
            int n = snprintf (num, sizeof (num), "%ld", kills);
            if (kills > 0 && write_file_at (s->dirfd, "oom-kills", num, (size_t)n, &e) < 0)
              berth_error_release (&e);
          }
          s->exited = true;
          return;
        case BERTH_F_CLOCK:
          shim_send_clock (s);
          return;
        default:
          return;
        }
    }
  if (f->sid >= BERTH_SID_GUEST)
    return shim_socket_frame (s, f);
  {
    struct client *c = client_by_sid (s, f->sid);
    if (c == NULL)
      return;
    if ((f->type == BERTH_F_OK || f->type == BERTH_F_ERROR) && c->pending == BERTH_F_START && f->type == BERTH_F_OK)
      unlinkat (s->dirfd, CREATED_MARK, 0);
    to_client (s, c, f);
  }
}

static void
shim_client_frame (struct shim *s, struct client *c, struct berth_frame *f)
{
  berth_err_t e = NULL;
  switch (f->type)
    {
    case BERTH_F_CREATE: /* a pod member */
    case BERTH_F_START:
    case BERTH_F_EXEC:
    case BERTH_F_STDIN:
    case BERTH_F_STDIN_CLOSE:
    case BERTH_F_RESIZE:
    case BERTH_F_SIGNAL:
    case BERTH_F_PS:
    case BERTH_F_STATS:
    case BERTH_F_UPDATE:
    case BERTH_F_ARCHIVE:
    case BERTH_F_EXTRACT:
      break;
    default:
      berth_frame_write_json (c->fd, BERTH_F_ERROR, 0,
                              json_pack ("{s:s,s:i}", "message", "request not allowed", "errno", EPERM), &e);
      berth_error_release (&e);
      return;
    }
  if (f->type != BERTH_F_STDIN && f->type != BERTH_F_STDIN_CLOSE && f->type != BERTH_F_RESIZE)
    c->pending = f->type;
  /* An exec, a pod member or a files helper: its process goes with its
     client. */
  if (f->type == BERTH_F_EXEC || f->type == BERTH_F_CREATE || f->type == BERTH_F_ARCHIVE || f->type == BERTH_F_EXTRACT)
    c->exec = true;
  if (berth_frame_write (s->agent, f->type, c->sid, f->data, f->len, &e) < 0)
    berth_error_release (&e);
}

static void
shim_send_size (struct shim *s)
{
  struct winsize ws;
  berth_err_t e = NULL;
  if (s->tty_slave >= 0 && ioctl (s->tty_slave, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
    berth_frame_write_json (s->agent, BERTH_F_RESIZE, 0, json_pack ("{s:i,s:i}", "rows", ws.ws_row, "cols", ws.ws_col),
                            &e);
  berth_error_release (&e);
}

static int
conn_index_by_fd (struct shim *s, int fd)
{
  for (int m = 0; m < s->n_conns; m++)
    if (s->conns[m].fd == fd)
      return m;
  return -1;
}

/* Frames from the guest; false once the VM is done with (EOF, or a guest
   that breaks the protocol: stopped, not trusted). */
static bool
shim_agent_readable (struct shim *s, short revents)
{
  berth_err_t e = NULL;
  struct berth_frame f;
  int r = berth_frame_fill (&s->ard, s->agent, &e);
  while (r > 0 && (r = berth_frame_next (&s->ard, &f, &e)) == 1)
    shim_agent_frame (s, &f);
  if (r < 0 || (revents & POLLHUP && r == 0))
    {
      if (r < 0)
        shim_reason (s, "the VM broke the agent protocol: %s", e->msg);
      berth_error_release (&e);
      vm_kill_qemu (s);
      s->exit_code = 255;
      return false;
    }
  return true;
}

/* SIGWINCH: the terminal's size to the guest; a stop signal ends the VM;
   SIGCHLD: QEMU or its file server exited. */
static void
shim_signals (struct shim *s)
{
  struct signalfd_siginfo si;
  int status;
  while (read (s->sfd, &si, sizeof (si)) == (ssize_t)sizeof (si))
    {
      if (si.ssi_signo == SIGWINCH)
        shim_send_size (s);
      else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP)
        {
          shim_reason (s, "the VM shim was stopped by signal %d", si.ssi_signo);
          vm_kill_qemu (s);
          s->exit_code = 128 + (int)si.ssi_signo;
        }
      else if (si.ssi_signo == SIGCHLD)
        {
          /* QEMU hangs rather than exits when its file server goes: the
             shim ends the VM itself. */
          if (s->virtiofsd > 0 && waitpid (s->virtiofsd, &status, WNOHANG) == s->virtiofsd)
            {
              s->virtiofsd = 0;
              shim_reason (s, "the VM's file server (virtiofsd) exited");
              vm_kill_qemu (s);
              s->exit_code = 255;
            }
          if (waitpid (s->qemu, &status, WNOHANG) == s->qemu)
            {
              bool cause_known = s->reason_set;
              qemu_exited (s, status);
              if (!cause_known)
                s->exit_code = WIFSIGNALED (status) ? 128 + WTERMSIG (status) : 255;
            }
        }
    }
}

static void
shim_accept (struct shim *s)
{
  int c = accept4 (s->listen, NULL, NULL, SOCK_CLOEXEC);
  if (c >= 0 && s->n_clients < MAX_CLIENTS)
    s->clients[s->n_clients++] = (struct client){ .fd = c, .sid = ++s->next_sid };
  else if (c >= 0)
    close (c);
}

/* The container's stdin, from ours (or the pty we made). */
static void
shim_stdin (struct shim *s, int in_fd)
{
  char buf[32768];
  ssize_t n = read (in_fd, buf, sizeof (buf));
  berth_err_t e = NULL;
  if (n <= 0)
    {
      s->stdin_open = false;
      berth_frame_write (s->agent, BERTH_F_STDIN_CLOSE, 0, "{}", 2, &e);
    }
  else
    berth_frame_write (s->agent, BERTH_F_STDIN, 0, buf, (size_t)n, &e);
  berth_error_release (&e);
}

/* Data from the host end of a relayed socket connection. */
static void
shim_conn_readable (struct shim *s, int fd)
{
  char buf[65536];
  ssize_t n;
  berth_err_t e = NULL;
  int ci = conn_index_by_fd (s, fd);
  if (ci < 0)
    return;
  n = read (fd, buf, sizeof (buf));
  if (n > 0)
    berth_frame_write (s->agent, BERTH_F_DATA, s->conns[ci].sid, buf, (size_t)n, &e);
  else
    {
      /* The host side is done: so is the connection. */
      berth_frame_write (s->agent, BERTH_F_CLOSE, s->conns[ci].sid, "{}", 2, &e);
      conn_drop (s, ci);
    }
  berth_error_release (&e);
}

/* Requests from a control socket client; EOF or garbage drops it. */
static void
shim_client_readable (struct shim *s, int fd)
{
  struct client *c = NULL;
  berth_err_t e = NULL;
  struct berth_frame f;
  int r, ci = -1;
  for (int m = 0; m < s->n_clients; m++)
    if (s->clients[m].fd == fd)
      ci = m;
  if (ci < 0)
    return;
  c = &s->clients[ci];
  r = berth_frame_fill (&c->rd, c->fd, &e);
  if (r > 0)
    {
      int nr;
      while ((nr = berth_frame_next (&c->rd, &f, &e)) == 1)
        shim_client_frame (s, c, &f);
      if (nr < 0)
        r = -1;
    }
  berth_error_release (&e);
  if (r <= 0)
    client_drop (s, ci);
}

/* The container exited but its writable layer is still in the guest's
   memory: kept as <dir>/changes.tar (written whole or not at all) for
   the engine to lay onto the container's own layer on the host, so that
   its next start, cp and commit see them, as docker's do.  A guest that
   sends more than its memory could hold is cut off. */
static int
shim_save_changes (struct shim *s, berth_err_t *err)
{
  static const char tmp[] = "changes.tar.tmp";
  uint32_t sid = ++s->next_sid;
  cleanup_close int out = -1;
  struct vm_sink k = { .max = s->changes_max, .what = "the container's changes", .code = -1 };
  long long deadline;
  struct berth_frame f;
  if (berth_frame_write_json (s->agent, BERTH_F_ARCHIVE, sid, json_pack ("{s:s}", "what", "upper"), err) < 0
      || shim_expect (s, sid, &f, 30000, err) < 0)
    return -1;
  if (f.type == BERTH_F_ERROR)
    return vm_reply_error (&f, err);
  out = openat (s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0)
    return berth_error (err, errno, "create `%s/%s`", s->dir, tmp);
  k.out_fd = out;
  deadline = monotonic_ms () + 60000;
  while (k.code < 0)
    {
      if (shim_next (s, &f, deadline, err) < 0)
        goto fail;
      if (f.sid != sid)
        continue;
      /* The guest is still sending: more time. */
      deadline = monotonic_ms () + 60000;
      if (vm_sink_frame (&k, &f, err) < 0)
        goto fail;
    }
  if (vm_sink_result (&k, err) < 0)
    goto fail;
  if (fsync (out) < 0 || renameat (s->dirfd, tmp, s->dirfd, "changes.tar") < 0)
    {
      berth_error (err, errno, "keep `%s/changes.tar`", s->dir);
      goto fail;
    }
  return 0;
fail:
  unlinkat (s->dirfd, tmp, 0);
  return -1;
}

/* The container is done: its changes kept where asked, then the VM
   stopped.  Nothing else in the guest outlives it and nothing there needs
   writing out (the image is read-only, shared files written through, the
   rest memory; the agent's shutdown syncs nothing either), so once the
   container has exited QEMU is stopped outright: the guest's own reboot
   path took ~15-20 ms of every exit under TCG.  Otherwise the guest is
   asked to power off, and a guest that halts instead is not waited for
   long. */
static void __attribute__ ((noreturn)) shim_finish (struct shim *s)
{
  berth_err_t e = NULL;
  if (s->exited && !s->qemu_gone && s->save_changes && shim_save_changes (s, &e) < 0)
    {
      shim_reason (s, "its changes were not kept: %s", e->msg);
      berth_error_release (&e);
    }
  if (s->exited)
    vm_kill_qemu (s);
  else if (!s->qemu_gone)
    {
      berth_frame_write (s->agent, BERTH_F_SHUTDOWN, 0, "{}", 2, &e);
      berth_error_release (&e);
      if (vm_wait_qemu (s, 1000) < 0)
        vm_kill_qemu (s);
    }
  for (int k = 0; k < s->n_clients; k++)
    close (s->clients[k].fd);
  vm_stop_virtiofsd (s);
  vm_jail_release (&s->jail);
  unlinkat (s->dirfd, SHIM_SOCK, 0);
  _exit (s->exit_code & 0xff);
}

static void __attribute__ ((noreturn)) shim_loop (struct shim *s)
{
  while (!s->exited && !s->qemu_gone)
    {
      struct pollfd p[5 + MAX_CLIENTS + 64];
      int np = 0, nc, in_fd = s->tty_slave >= 0 ? s->tty_slave : 0;
      p[np++] = (struct pollfd){ .fd = s->agent, .events = POLLIN };
      p[np++] = (struct pollfd){ .fd = s->sfd, .events = POLLIN };
      p[np++] = (struct pollfd){ .fd = s->listen, .events = POLLIN };
      p[np++] = (struct pollfd){ .fd = s->stdin_open ? in_fd : -1, .events = POLLIN };
      p[np++] = (struct pollfd){ .fd = s->dns, .events = POLLIN };
      for (int k = 0; k < s->n_clients; k++)
        p[np++] = (struct pollfd){ .fd = s->clients[k].fd, .events = POLLIN };
      nc = np;
      for (int k = 0; k < s->n_conns; k++)
        p[np++] = (struct pollfd){ .fd = s->conns[k].fd, .events = POLLIN };
      if (poll (p, (nfds_t)np, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[0].revents && !shim_agent_readable (s, p[0].revents))
        break;
      if (p[1].revents)
        shim_signals (s);
      if (p[2].revents)
        shim_accept (s);
      if (p[3].revents)
        shim_stdin (s, in_fd);
      if (p[4].revents)
        shim_dns_answer (s);
      for (int k = nc; k < np; k++)
        if (p[k].revents)
          shim_conn_readable (s, p[k].fd);
      for (int k = 5; k < nc; k++)
        if (p[k].revents)
          shim_client_readable (s, p[k].fd);
    }
  shim_finish (s);
}

static int
listen_at (int dirfd, const char *name, berth_err_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_error (err, errno, "socket");
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/%s", dirfd, name);
  unlinkat (dirfd, name, 0);
  if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0 || listen (fd, 16) < 0)
    {
      int e = errno;
      close (fd);
      return berth_error (err, e, "listen on `%s`", name);
    }
  return fd;
}

/* The shim's whole life; REPORT gets "ok <qemu pid> <guest kernel>" or an
   encoded error, then the shim serves until the container is gone. */
/* The guest's pty does the line discipline; a host-side one of ours
   only passes bytes. */
void
vm_make_raw (int tty)
{
  struct termios t;
  if (tcgetattr (tty, &t) == 0)
    {
      cfmakeraw (&t);
      tcsetattr (tty, TCSANOW, &t);
    }
}

/* Where a terminal's pty master goes: the caller's fd (CONSOLE_FD >= 0)
   or its --console-socket. */
int
vm_console_connect (int console_fd, const char *console_socket, berth_err_t *err)
{
  int fd;
  if (console_fd >= 0)
    {
      fd = fcntl (console_fd, F_DUPFD_CLOEXEC, 3);
      return fd < 0 ? berth_error (err, errno, "dup the console fd") : fd;
    }
  if (console_socket)
    return berth_console_socket_connect (console_socket, err);
  return berth_error (err, EINVAL, "process.terminal is true: --console-socket is required");
}

/* A host pty for a guest terminal: the master goes to CONSOLE, *SLAVE
   (raw: the guest's pty does the line discipline) to the relay. */
int
vm_console_pty (int console, int *slave, berth_err_t *err)
{
  cleanup_free char *name = NULL;
  int m, r;
  if (berth_pty_open (&m, slave, &name, 0, 0, err) < 0)
    return -1;
  vm_make_raw (*slave);
  r = berth_send_fd (console, m, "console", err);
  close (m);
  if (r < 0)
    {
      close (*slave);
      *slave = -1;
    }
  return r;
}

/* Loads the template's saved state into the QEMU just started; it runs
   the VM when done.  A QEMU that dies meanwhile closes the monitor. */
static int
vm_restore (struct shim *s, berth_err_t *err)
{
  struct vm_qmp *q = xmalloc (sizeof (*q));
  int r = vm_qmp_open (q, VM_FD_QMP_HOST, 30000, err);
  if (r == 0)
    r = vm_qmp_migrate (q, true, VM_FD_MIGRATE, 30000, err);
  free (q);
  close (VM_FD_QMP_HOST);
  if (r < 0)
    {
      char tail[256];
      /* QEMU's own words, when it exited. */
      if (vm_wait_qemu (s, 200) == 0)
        {
          console_tail (s, tail, sizeof (tail));
          if (tail[0])
            berth_error_wrap (err, "%s", tail);
        }
      return berth_error_wrap (err, "restoring the VM from template %s", s->restore->key);
    }
  return 0;
}

/* The shim is the one privileged piece of a VM container; once the VM
   runs it keeps only what it still uses: signalling QEMU and its cgroup's
   processes (another uid: CAP_KILL) and reaching the host sockets and
   files the container maps whatever their owner (the DAC capabilities).
   Best effort: a failure leaves it as it was, never half-dropped. */
static void
shim_drop_privileges (void)
{
  static const int keep[] = { CAP_KILL, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH };
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];
  uint64_t mask = 0;
  for (size_t i = 0; i < ARRAY_SIZE (keep); i++)
    mask |= 1ULL << keep[i];
  memset (data, 0, sizeof (data));
  data[0].effective = data[0].permitted = (uint32_t)mask;
  data[1].effective = data[1].permitted = (uint32_t)(mask >> 32);
  for (int c = 0; c <= CAP_LAST_CAP; c++)
    if (!(mask & (1ULL << c)))
      (void)prctl (PR_CAPBSET_DROP, c, 0, 0, 0);
  if (syscall (SYS_capset, &hdr, data) == 0)
    (void)prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

void __attribute__ ((noreturn)) vm_shim_main (struct shim *s, int report, char **argv, json_t *create_req,
                                              int console_fd, bool tty, const char *accel, json_t *shares)
{
  berth_err_t err = NULL;
  struct berth_frame f;
  sigset_t mask;
  pid_t q;
  int cons_log, agent_peer = s->agent;
  char kernel[128] = "";
  struct stat boot_files[2];
  long long boot_ms = 0;

  setsid ();
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigaddset (&mask, SIGWINCH);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGHUP);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  signal (SIGPIPE, SIG_IGN);
  s->sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  cons_log = openat (s->dirfd, "console.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (s->fs)
    {
      char num[16];
      int n;
      if (mkdirat (s->dirfd, "share", 0700) < 0 && errno != EEXIST)
        {
          berth_error (&err, errno, "mkdir `%s/share`", s->dir);
          goto fail;
        }
      if (vm_start_virtiofsd (s, shares, VM_FD_VFS_SERVER, &s->virtiofsd, &err) < 0)
        goto fail;
      close (VM_FD_VFS_SERVER);
      /* Where pod members' directories are mounted (vm_member_mounts_attach). */
      n = snprintf (num, sizeof (num), "%d", (int)s->virtiofsd);
      {
        cleanup_free char *path = xasprintf ("%s/" FS_PID, s->dir);
        if (write_file_atomic (path, num, (size_t)n, 0600, &err) < 0)
          goto fail;
      }
    }

  /* The kernel and initramfs QEMU gets, to find its
     mappings of them later. */
  if (fstat (VM_FD_KERNEL, &boot_files[0]) < 0 || fstat (VM_FD_INITRD, &boot_files[1]) < 0)
    {
      berth_error (&err, errno, "stat the guest kernel and initramfs");
      goto fail;
    }
  q = vm_jail_fork (&s->jail);
  if (q < 0)
    {
      berth_error (&err, errno, "fork qemu");
      goto fail;
    }
  if (q == 0)
    {
      /* QEMU goes with us whatever kills us. */
      int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (getppid () == 1)
        _exit (1);
      sigprocmask (SIG_UNBLOCK, &mask, NULL);
      if (vm_jail_enter (&s->jail, strcmp (accel, "kvm") == 0, s->qemu_path, &err) < 0)
        {
          berth_error_to_log (cons_log >= 0 ? cons_log : 2, &err);
          _exit (127);
        }
      /* QEMU's own: the agent channel, images, kernel, initrd, the file
         server's socket and the tap. */
      for (int fd = VM_FD_AGENT_QEMU; fd <= VM_FD_INITRD; fd++)
        fcntl (fd, F_SETFD, 0);
      fcntl (VM_FD_VFS_QEMU, F_SETFD, 0);
      fcntl (VM_FD_TAP, F_SETFD, 0);
      fcntl (VM_FD_RAM, F_SETFD, 0);
      fcntl (VM_FD_QMP, F_SETFD, 0);
      dup2 (null, 0);
      dup2 (cons_log >= 0 ? cons_log : null, 1);
      dup2 (cons_log >= 0 ? cons_log : null, 2);
      /* Under TCG, transparent huge pages bought nothing measurable and
         cost ~3.5 MiB of each idle VM: QEMU madvises its translation
         buffer for them, and a huge page is resident whole once touched
         (10 idle clones: 83 -> 79 MiB PSS each).  Under KVM they back the
         guest's RAM, where they pay.  Only memory is at stake: where the
         kernel refuses (before 3.15), QEMU runs as it always did. */
      if (strcmp (accel, "kvm") != 0)
        (void)prctl (PR_SET_THP_DISABLE, 1, 0, 0, 0);
      execv (s->qemu_path, argv);
      {
        berth_err_t e = NULL;
        berth_error (&e, errno, "exec %s", argv[0]);
        berth_error_to_log (2, &e);
      }
      _exit (127);
    }
  s->qemu = q;
  (void)agent_peer;
  close (VM_FD_QMP);
  /* The template's RAM is copied while QEMU starts; the restore waits
     for it. */
  if (s->restore
      && (vm_template_fill (s->restore, VM_FD_RAM, VM_FD_TEMPLATE_RAM, &err) < 0 || vm_restore (s, &err) < 0))
    goto fail;
  close (VM_FD_TEMPLATE_RAM);
  close (VM_FD_MIGRATE);
  /* The request waits in the channel while the guest boots: the agent
     finds it the moment it opens its port. */
  if (berth_frame_write_json (s->agent, BERTH_F_CREATE, 0, create_req, &err) < 0)
    goto fail;
  create_req = NULL;
  /* QEMU's alone from here; but a shared template's sealed memory stays
     open here for the VMs after this one (vm_template_hold). */
  if (s->restore == NULL || s->restore->mode != VM_TEMPLATE_SHARED)
    close (VM_FD_RAM);
  if (s->restore)
    /* The template's agent said ready before it was saved: a restored
       VM's first word is the answer to create. */
    snprintf (kernel, sizeof (kernel), "%s", s->restore->guest_kernel);
  else
    {
      if (shim_expect (s, 0, &f, boot_timeout_ms (accel), &err) < 0)
        goto fail;
      if (f.type != BERTH_F_READY)
        {
          berth_error (&err, EPROTO, "the VM's agent did not say ready");
          goto fail;
        }
      vm_drop_boot_images (q, boot_files, ARRAY_SIZE (boot_files));
      if (berth_frame_ready (&f, kernel, sizeof (kernel), &boot_ms, &err) < 0)
        goto fail;
    }
  if (tty)
    {
      if (vm_console_pty (console_fd, &s->tty_slave, &err) < 0)
        goto fail;
      ioctl (s->tty_slave, TIOCSCTTY, 0);
    }
  if (shim_expect (s, 0, &f, s->restore ? boot_timeout_ms (accel) : 60000, &err) < 0)
    {
      if (s->restore)
        berth_error_wrap (&err, "restoring the VM from template %s", s->restore->key);
      goto fail;
    }
  if (s->restore)
    vm_drop_boot_images (q, boot_files, ARRAY_SIZE (boot_files));
  if (f.type == BERTH_F_ERROR)
    {
      vm_reply_error (&f, &err);
      goto fail;
    }
  s->listen = listen_at (s->dirfd, SHIM_SOCK, &err);
  if (s->listen < 0)
    goto fail;
  {
    char msg[256];
    int n = snprintf (msg, sizeof (msg), "ok %d %lld %s", (int)q, (long long)boot_ms, kernel);
    (void)write_all (report, msg, (size_t)n);
    close (report);
  }
  shim_drop_privileges ();
  /* What setting the VM up took (the request, the template's buffers) is
     free now: back to the host, for the shim lives as long as the VM. */
  malloc_trim (0);
  s->stdin_open = true;
  shim_send_size (s);
  shim_loop (s);

fail:
  {
    char buf[4096];
    int n = berth_error_encode (err, buf, sizeof (buf));
    (void)write_all (report, buf, (size_t)n);
  }
  json_decref (create_req);
  if (s->qemu > 0)
    vm_kill_qemu (s);
  vm_stop_virtiofsd (s);
  vm_jail_release (&s->jail);
  _exit (1);
}
