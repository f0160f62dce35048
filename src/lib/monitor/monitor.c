/* The per-container monitor, in the spirit of conmon: it outlives the CLI,
   holds the container's stdio (or pty), writes the json-file log, copies
   output to an attached client, reaps the exit code and time, and removes
   --rm containers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/runtime/container.h"
#include "lib/engine/engine.h"
#include "lib/engine/engine_net.h"
#include "lib/runtime/state.h"
#include "lib/runtime/isolation.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"

/* Rotate past 10 MiB ($BERTH_LOG_MAX_SIZE to change), keeping one old file. */
static off_t
log_max (void)
{
  const char *v = getenv ("BERTH_LOG_MAX_SIZE");
  long long n = v ? atoll (v) : 0;
  return n > 0 ? (off_t)n : (off_t)(10 << 20);
}

struct logger
{
  char *path;
  int fd;
  off_t size;
  char *partial[3]; /* per stream: a line not yet ended */
  size_t plen[3];
};

static void
log_write_line (struct logger *l, const char *stream, const char *data, size_t len)
{
  cleanup_free char *ts = timestamp_rfc3339 ();
  json_t *j = json_pack ("{s:s%,s:s,s:s}", "log", data, len, "stream", stream, "time", ts);
  char *text = json_dumps (j, JSON_COMPACT);
  size_t n = strlen (text);
  json_decref (j);
  if (l->size + (off_t)n + 1 > log_max ())
    {
      cleanup_free char *old = xasprintf ("%s.1", l->path);
      close (l->fd);
      rename (l->path, old);
      l->fd = open (l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      l->size = 0;
    }
  text[n] = '\n';
  if (l->fd >= 0 && write_all (l->fd, text, n + 1) == 0)
    l->size += (off_t)n + 1;
  free (text);
}

/* Splits output into lines for the log; a line longer than 16 KiB is
   written in pieces, as docker does. */
static void
log_data (struct logger *l, int s, const char *data, size_t len)
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

static void
log_flush (struct logger *l)
{
  static const char *names[] = { "stdin", "stdout", "stderr" };
  for (int s = 1; s < 3; s++)
    if (l->plen[s])
      {
        log_write_line (l, names[s], l->partial[s], l->plen[s]);
        l->plen[s] = 0;
      }
}

#define MAX_CLIENTS 16

static void
drop_client (int *clients, bool *reads, int *n, int fd)
{
  for (int i = 0; i < *n; i++)
    if (clients[i] == fd)
      {
        close (fd);
        --*n;
        clients[i] = clients[*n];
        reads[i] = reads[*n];
        return;
      }
}

static int
attach_socket (const char *dir)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_close int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (dfd < 0 || fd < 0)
    {
      if (fd >= 0)
        close (fd);
      return -1;
    }
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/attach.sock", dfd);
  unlinkat (dfd, "attach.sock", 0);
  if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0 || listen (fd, 4) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static void
report (int fd, berth_err_t *err)
{
  char buf[4096];
  int n = berth_error_encode (*err, buf, sizeof (buf));
  if (fd >= 0)
    (void)write_all (fd, buf, (size_t)n);
  berth_error_release (err);
}

int
berth_monitor_main (struct berth_engine *e, const char *id, int status_fd, int ready_fd, bool attach)
{
  berth_err_t err = NULL;
  json_t *rec = NULL, *st;
  cleanup_free char *dir = berth_ctr_dir (e, id);
  struct logger log = { 0 };
  int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, in[2] = { -1, -1 }, cons[2] = { -1, -1 };
  int cli_in = -1, cli_out = -1, cli_err = -1, master = -1, null, sfd;
  bool tty, interactive, started = false, host_rootfs;
  pid_t pid = -1;
  int status = 0, exit_code = 255;
  int listen_fd = -1, clients[MAX_CLIENTS], n_clients = 0;
  bool prev_ctrl_p = false;
  bool client_reads[MAX_CLIENTS];
  struct berth_net_ports held = { .n = 0 };
  sigset_t mask;

  if (berth_ctr_load (e, id, &rec, &err) < 0)
    {
      report (ready_fd, &err);
      return 1;
    }
  tty = json_is_true (json_object_get (json_object_get (rec, "Config"), "Tty"));
  {
    const struct berth_isolation *iso
        = berth_isolation_find (json_string_value (json_object_get (rec, "Isolation")) ?: "process", &err);
    if (iso == NULL)
      {
        report (ready_fd, &err);
        json_decref (rec);
        return 1;
      }
    host_rootfs = (iso->flags & BERTH_ISOLATION_HOST_ROOTFS) != 0;
  }
  interactive = json_is_true (json_object_get (json_object_get (rec, "Config"), "OpenStdin"));
  log.path = xasprintf ("%s/container.log", dir);
  log.fd = open (log.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  {
    struct stat sb;
    if (log.fd >= 0 && fstat (log.fd, &sb) == 0)
      log.size = sb.st_size;
  }
  if (attach)
    {
      cli_in = fcntl (0, F_DUPFD_CLOEXEC, 3);
      cli_out = fcntl (1, F_DUPFD_CLOEXEC, 3);
      cli_err = fcntl (2, F_DUPFD_CLOEXEC, 3);
    }
  null = open ("/dev/null", O_RDWR | O_CLOEXEC);

  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  /* The attached CLI sends SIGWINCH when its terminal changes size. */
  sigaddset (&mask, SIGWINCH);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC);
  /* The container must not die with us if our session goes away. */
  signal (SIGHUP, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);

  /* The network first: a taken host port fails before anything runs.  A
     VM container's root reaches its guest as a block image. */
  if (berth_ctr_net_start (e, id, rec, &held, &err) < 0 || (host_rootfs && berth_ctr_mount_rootfs (e, id, rec, &err) < 0))
    goto fail_start;
  if (tty)
    {
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)
        {
          berth_error (&err, errno, "socketpair");
          goto fail_start;
        }
      dup2 (null, 0);
      dup2 (null, 1);
      dup2 (null, 2);
    }
  else
    {
      if (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0 || (interactive && pipe2 (in, O_CLOEXEC) < 0))
        {
          berth_error (&err, errno, "pipe");
          goto fail_start;
        }
      /* What create hands the container as its stdio. */
      dup2 (interactive ? in[0] : null, 0);
      dup2 (out[1], 1);
      dup2 (errp[1], 2);
    }
  {
    struct berth_create_opts co
        = { .root = e->runtime_root, .id = id, .bundle = dir, .console_fd = cons[1], .die_with_parent = true };
    berth_err_t warning = NULL;
    if (berth_container_create (&co, &pid, &err) < 0)
      goto fail_start;
    dup2 (null, 0);
    dup2 (null, 1);
    dup2 (null, 2);
    if (out[1] >= 0)
      {
        close (out[1]);
        close (errp[1]);
        out[1] = errp[1] = -1;
      }
    if (in[0] >= 0)
      {
        close (in[0]);
        in[0] = -1;
      }
    if (tty)
      {
        close (cons[1]);
        cons[1] = -1;
        if (berth_recv_fd (cons[0], &master, &err) < 0)
          goto fail_start;
        {
          struct winsize ws;
          if (cli_in >= 0 && ioctl (cli_in, TIOCGWINSZ, &ws) == 0)
            ioctl (master, TIOCSWINSZ, &ws);
        }
      }
    if (berth_container_start (e->runtime_root, id, &warning, &err) < 0)
      {
        berth_error_release (&warning);
        goto fail_start;
      }
    berth_error_release (&warning);
  }
  started = true;
  st = json_object_get (rec, "State");
  {
    cleanup_free char *now = timestamp_rfc3339 ();
    json_object_set_new (st, "Status", json_string ("running"));
    json_object_set_new (st, "Running", json_true ());
    json_object_set_new (st, "Pid", json_integer (pid));
    json_object_set_new (st, "ExitCode", json_integer (0));
    json_object_set_new (st, "StartedAt", json_string (now));
    json_object_set_new (st, "FinishedAt", json_string (""));
    json_object_del (st, "Error");
    {
      /* What the backend tells of itself (a VM: accelerator, kernel...). */
      json_t *b = NULL;
      berth_err_t e2 = NULL;
      if (berth_container_describe (e->runtime_root, id, NULL, &b, &e2) == 0 && b)
        json_object_set_new (rec, "VM", b);
      berth_error_release (&e2);
    }
    json_object_set_new (rec, "MonitorPid", json_integer (getpid ()));
    json_object_set_new (rec, "MonitorStart", json_integer ((json_int_t)process_start_time (getpid ())));
    if (berth_ctr_save (e, id, rec, &err) < 0)
      goto fail_start;
  }
  (void)write_all (ready_fd, "ok", 2);
  close (ready_fd);
  ready_fd = -1;

  /* `berth attach` connects here; through the directory fd, as the path
     may be longer than a socket address holds. */
  listen_fd = attach_socket (dir);

  /* Copy until the container is gone and its output drained. */
  {
    bool exited = false, stdin_open = attach && interactive;
    for (;;)
      {
        struct pollfd p[4 + MAX_CLIENTS];
        int np = 0, r;
        int srcs[3] = { tty ? master : out[0], tty ? -1 : errp[0], stdin_open ? cli_in : -1 };
        for (int k = 0; k < 3; k++)
          if (srcs[k] >= 0)
            p[np++] = (struct pollfd){ .fd = srcs[k], .events = POLLIN };
        p[np++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        if (np == 1 && exited)
          break;
        if (listen_fd >= 0 && !exited)
          p[np++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
        for (int k = 0; k < n_clients && !exited; k++)
          if (client_reads[k])
            p[np++] = (struct pollfd){ .fd = clients[k], .events = POLLIN };
        r = poll (p, (nfds_t)np, exited ? 200 : -1);
        if (r < 0 && errno == EINTR)
          continue;
        if (r == 0 && exited)
          break; /* something in the container still holds the pipes */
        for (int k = 0; k < np; k++)
          {
            char buf[65536];
            ssize_t n;
            if (!p[k].revents)
              continue;
            if (p[k].fd == listen_fd)
              {
                int c = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (c >= 0 && n_clients < MAX_CLIENTS)
                  {
                    client_reads[n_clients] = true;
                    clients[n_clients++] = c;
                  }
                else if (c >= 0)
                  close (c);
                continue;
              }
            {
              int ci = -1;
              for (int m = 0; m < n_clients; m++)
                if (clients[m] == p[k].fd)
                  ci = m;
              if (ci >= 0)
                {
                  n = read (p[k].fd, buf, sizeof (buf));
                  /* The client closed its input: it still gets output. */
                  if (n <= 0)
                    client_reads[ci] = false;
                  else if (tty && master >= 0)
                    (void)write_all (master, buf, (size_t)n);
                  else if (in[1] >= 0)
                    (void)write_all (in[1], buf, (size_t)n);
                  continue;
                }
            }
            if (p[k].fd == sfd)
              {
                struct signalfd_siginfo si;
                if (read (sfd, &si, sizeof (si)) == (ssize_t)sizeof (si) && si.ssi_signo == SIGWINCH)
                  {
                    struct winsize ws;
                    if (tty && master >= 0 && cli_in >= 0 && ioctl (cli_in, TIOCGWINSZ, &ws) == 0)
                      ioctl (master, TIOCSWINSZ, &ws);
                    continue;
                  }
                if (waitpid (pid, &status, WNOHANG) == pid)
                  exited = true;
                continue;
              }
            n = read (p[k].fd, buf, sizeof (buf));
            if (p[k].fd == cli_in)
              {
                if (n <= 0)
                  {
                    stdin_open = false;
                    if (tty)
                      (void)write_all (master, "\x04", 1);
                    else
                      {
                        close (in[1]);
                        in[1] = -1;
                      }
                  }
                else
                  {
                    /* ctrl-p ctrl-q: the CLI lets go, the container runs on. */
                    ssize_t upto = n;
                    bool detach = false;
                    for (ssize_t q = 0; tty && q < n; q++)
                      {
                        if (prev_ctrl_p && buf[q] == 0x11)
                          {
                            upto = q > 0 ? q - 1 : 0;
                            detach = true;
                            break;
                          }
                        prev_ctrl_p = buf[q] == 0x10;
                      }
                    if (upto > 0)
                      (void)write_all (tty ? master : in[1], buf, (size_t)upto);
                    if (detach)
                      {
                        if (status_fd >= 0)
                          {
                            (void)write_all (status_fd, "detached\n", 9);
                            close (status_fd);
                            status_fd = -1;
                          }
                        stdin_open = false;
                        attach = false;
                        close (cli_in);
                        cli_in = -1;
                      }
                  }
                continue;
              }
            if (n <= 0)
              {
                if (p[k].fd == out[0])
                  {
                    close (out[0]);
                    out[0] = -1;
                  }
                else if (p[k].fd == errp[0])
                  {
                    close (errp[0]);
                    errp[0] = -1;
                  }
                else if (p[k].fd == master)
                  {
                    close (master);
                    master = -1;
                  }
                continue;
              }
            {
              int stream = p[k].fd == errp[0] ? 2 : 1;
              log_data (&log, stream, buf, (size_t)n);
              if (attach)
                (void)write_all (stream == 2 ? cli_err : cli_out, buf, (size_t)n);
              for (int m = 0; m < n_clients; m++)
                if (send (clients[m], buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
                  drop_client (clients, client_reads, &n_clients, clients[m--]);
            }
          }
      }
    if (!exited)
      waitpid (pid, &status, 0);
  }
  log_flush (&log);
  exit_code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
  {
    /* It ended on its own (a killed VM, a guest panic): say why. */
    cleanup_free char *why = berth_container_exit_reason (e->runtime_root, id, status);
    if (why)
      json_object_set_new (json_object_get (rec, "State"), "Error", json_string (why));
  }
  if (listen_fd >= 0)
    {
      cleanup_free char *sp = xasprintf ("%s/attach.sock", dir);
      close (listen_fd);
      unlink (sp);
    }
  for (int m = 0; m < n_clients; m++)
    close (clients[m]);
  goto finish;

fail_start:
  if (pid > 0)
    {
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
    }
  {
    /* The error goes to whoever started us; the record says it too. */
    cleanup_free char *msg = xstrdup (err && err->msg ? err->msg : "unknown error");
    int es = err ? err->status : 0;
    /* Reported at the end: a --rm container is gone by the time the
       caller hears why it did not start. */
    st = json_object_get (rec, "State");
    json_object_set_new (st, "Error", json_string (msg));
    exit_code = es == ENOENT && strstr (msg, "exec") ? 127 : (es == EACCES && strstr (msg, "exec") ? 126 : 125);
  }
finish:
  {
    berth_err_t e2 = NULL;
    cleanup_free char *now = timestamp_rfc3339 ();
    berth_ctr_cleanup (e, id, rec, &e2);
    berth_net_ports_release (&held);
    berth_error_release (&e2);
    st = json_object_get (rec, "State");
    json_object_set_new (st, "Status", json_string (started ? "exited" : "created"));
    json_object_set_new (st, "Running", json_false ());
    json_object_set_new (st, "Pid", json_integer (0));
    json_object_set_new (st, "ExitCode", json_integer (started ? exit_code : 0));
    if (started)
      json_object_set_new (st, "FinishedAt", json_string (now));
    json_object_del (rec, "MonitorPid");
    berth_ctr_save (e, id, rec, &e2);
    berth_error_release (&e2);
    /* --rm: whether it ran or could not start, nothing is left (as
       docker), and the caller hears the outcome only after that. */
    if (json_is_true (json_object_get (rec, "AutoRemove")))
      {
        berth_ctr_remove (e, id, true, &e2);
        berth_error_release (&e2);
      }
    if (!started)
      report (ready_fd, &err);
    if (status_fd >= 0)
      {
        char code[16];
        int n = snprintf (code, sizeof (code), "%d\n", started ? exit_code : -1);
        (void)write_all (status_fd, code, (size_t)n);
      }
  }
  json_decref (rec);
  return started ? 0 : 1;
}
