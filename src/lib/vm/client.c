/* The other verbs, through the shim's control socket: start, kill, ps,
   stats, exec. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <linux/mount.h>

#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/net/netdev.h"
#include "lib/runtime/ns.h"
#include "lib/vm/protocol.h"
#include "lib/vm/internal.h"
#include "lib/vm/vm.h"

/* ------------------------------------------------------------ clients */

int
vm_shim_connect (const char *root, const char *id, berth_err_t *err)
{
  cleanup_free char *dir = berth_state_dir (root, id);
  cleanup_close int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;
  if (dfd < 0)
    return berth_error_code (err, ENOENT, "container `%s` does not exist", id);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_error (err, errno, "socket");
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/" SHIM_SOCK, dfd);
  if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    {
      close (fd);
      return berth_error_code (err, ESRCH, "container `%s`: container not running (its VM is gone)", id);
    }
  return fd;
}

/* Where requests for ID go: its own shim, or, for a pod member, the shim
   of the pod's VM with the member's name in the guest (*MEMBER). */
static int
member_connect (const char *root, const char *id, char **member, berth_err_t *err)
{
  struct berth_state *st = NULL;
  const char *pod;
  int fd;
  *member = NULL;
  if (berth_state_load (root, id, &st, err) < 0)
    return -1;
  pod = json_string_value (json_object_get (st->backend, "pod"));
  if (pod == NULL)
    {
      berth_state_free (st);
      return vm_shim_connect (root, id, err);
    }
  *member = xstrdup (json_string_value (json_object_get (st->backend, "member")) ?: "");
  fd = vm_shim_connect (root, pod, err);
  berth_state_free (st);
  if (fd < 0)
    {
      free (*member);
      *member = NULL;
    }
  return fd;
}

/* Reads until the reply (OK or ERROR) to the request just sent: 0 with *F
   the OK frame.  Frames that came after it stay in RD. */
int
vm_await_reply (int fd, struct berth_frame_reader *rd, const char *id, struct berth_frame *f, berth_err_t *err)
{
  for (;;)
    {
      int r = berth_frame_next (rd, f, err);
      if (r < 0)
        return -1;
      if (r == 1 && f->type == BERTH_F_ERROR)
        return vm_reply_error (f, err);
      if (r == 1 && f->type == BERTH_F_OK)
        return 0;
      if (r == 1)
        continue;
      r = berth_frame_fill (rd, fd, err);
      if (r < 0)
        return -1;
      if (r == 0)
        return berth_error_code (err, ESRCH, "container `%s`: the VM went away", id);
    }
}

static int
parse_json (const struct berth_frame *f, void *out, berth_err_t *err)
{
  return berth_frame_json (f, out, err);
}

static int
parse_ps (const struct berth_frame *f, void *out, berth_err_t *err)
{
  return berth_frame_ps_lines (f, out, err);
}

/* One request, one reply, given to PARSE when there is one. */
static int
shim_request (const char *root, const char *id, uint8_t type, json_t *req, reply_parser parse, void *out,
              berth_err_t *err)
{
  cleanup_free char *member = NULL;
  cleanup_close int fd = member_connect (root, id, &member, err);
  struct berth_frame_reader rd = { 0 };
  struct berth_frame f;
  int ret = -1;
  if (fd < 0)
    {
      json_decref (req);
      return -1;
    }
  if (member)
    {
      if (req == NULL)
        req = json_object ();
      json_object_set_new (req, "container", json_string (member));
    }
  if (berth_frame_write_json (fd, type, 0, req, err) < 0)
    return -1;
  if (vm_await_reply (fd, &rd, id, &f, err) == 0)
    ret = parse ? parse (&f, out, err) : 0;
  berth_frame_reader_free (&rd);
  return ret;
}

int
berth_vm_start (const char *root, const char *id, berth_err_t *err)
{
  cleanup_free char *mark = NULL;
  if (shim_request (root, id, BERTH_F_START, NULL, NULL, NULL, err) < 0)
    return -1;
  /* A pod member's shim is the pod's: the mark is ours to clear. */
  mark = xasprintf ("%s/%s/" CREATED_MARK, root, id);
  unlink (mark);
  return 0;
}

int
berth_vm_kill (const char *root, const char *id, int sig, bool all, berth_err_t *err)
{
  return shim_request (root, id, BERTH_F_SIGNAL, json_pack ("{s:i,s:b}", "signal", sig, "all", all), NULL, NULL, err);
}

int
berth_vm_update (const char *root, const char *id, json_t *resources, berth_err_t *err)
{
  return shim_request (root, id, BERTH_F_UPDATE, json_pack ("{s:O}", "resources", resources), NULL, NULL, err);
}

int
berth_vm_ps (const char *root, const char *id, char ***lines, berth_err_t *err)
{
  return shim_request (root, id, BERTH_F_PS, NULL, parse_ps, lines, err);
}

int
berth_vm_stats (const char *root, const char *id, json_t **out, berth_err_t *err)
{
  static const char *const keys[] = { "memory", "memory_limit", "cpu_ns", "pids", "guest_memory_used" };
  if (shim_request (root, id, BERTH_F_STATS, NULL, parse_json, out, err) < 0)
    return -1;
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    if (!json_is_integer (json_object_get (*out, keys[i])))
      {
        json_decref (*out);
        *out = NULL;
        return berth_error (err, EPROTO, "agent protocol: stats reply: %s must be an integer", keys[i]);
      }
  /* Newer agents also say how much of the guest's memory is free. */
  if (json_object_get (*out, "guest_memory_free") && !json_is_integer (json_object_get (*out, "guest_memory_free")))
    {
      json_decref (*out);
      *out = NULL;
      return berth_error (err, EPROTO, "agent protocol: stats reply: guest_memory_free must be an integer");
    }
  return 0;
}

int
berth_vm_take_changes (const char *root, const char *id, int *fd, berth_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/%s/changes.tar", root, id);
  *fd = open (p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (*fd < 0 && errno != ENOENT)
    return berth_error (err, errno, "open `%s`", p);
  return 0;
}

char *
berth_vm_exit_reason (const char *root, const char *id)
{
  cleanup_free char *p = xasprintf ("%s/%s/exit-reason", root, id);
  char *data = NULL;
  size_t len = 0;
  berth_err_t e = NULL;
  if (read_file_at (AT_FDCWD, p, &data, &len, &e) < 0)
    {
      berth_error_release (&e);
      return NULL;
    }
  return data;
}

/* Relays one exec session between our stdio (or a pty slave) and the
   shim.  Returns the process's exit code. */
static int
exec_relay (int fd, struct berth_frame_reader *rdp, int tty_slave, bool raw_stdin, int *code, berth_err_t *err)
{
  /* What came with the reply to exec (output, even the exit) is already
     in the reader: consume it before reading more. */
  struct berth_frame_reader rd = *rdp;
  struct berth_frame f;
  bool pending = true;
  sigset_t mask, old;
  int sfd, in_fd = tty_slave >= 0 ? tty_slave : 0, out_fd = tty_slave >= 0 ? tty_slave : 1;
  int err_fd = tty_slave >= 0 ? tty_slave : 2;
  bool stdin_open = true, done = false;
  struct termios saved;
  bool restore = false;
  int ret = -1;

  sigemptyset (&mask);
  sigaddset (&mask, SIGWINCH);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGHUP);
  sigaddset (&mask, SIGQUIT);
  sigprocmask (SIG_BLOCK, &mask, &old);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (raw_stdin && isatty (0) && tcgetattr (0, &saved) == 0)
    {
      struct termios t = saved;
      cfmakeraw (&t);
      tcsetattr (0, TCSANOW, &t);
      restore = true;
    }
  {
    struct winsize ws;
    int szfd = tty_slave >= 0 ? tty_slave : (raw_stdin ? 0 : -1);
    if (szfd >= 0 && ioctl (szfd, TIOCGWINSZ, &ws) == 0 && ws.ws_row)
      berth_frame_write_json (fd, BERTH_F_RESIZE, 0, json_pack ("{s:i,s:i}", "rows", ws.ws_row, "cols", ws.ws_col),
                              err);
    berth_error_release (err);
  }
  while (!done)
    {
      struct pollfd p[3] = { { .fd = fd, .events = POLLIN },
                             { .fd = sfd, .events = POLLIN },
                             { .fd = stdin_open ? in_fd : -1, .events = POLLIN } };
      int r;
      if (poll (p, 3, pending ? 0 : -1) < 0)
        {
          if (errno == EINTR)
            continue;
          berth_error (err, errno, "poll");
          break;
        }
      if (p[1].revents)
        {
          struct signalfd_siginfo si;
          while (read (sfd, &si, sizeof (si)) == (ssize_t)sizeof (si))
            {
              struct winsize ws;
              int szfd = tty_slave >= 0 ? tty_slave : 0;
              if (si.ssi_signo == SIGWINCH && ioctl (szfd, TIOCGWINSZ, &ws) == 0)
                berth_frame_write_json (fd, BERTH_F_RESIZE, 0,
                                        json_pack ("{s:i,s:i}", "rows", ws.ws_row, "cols", ws.ws_col), err);
              else if (si.ssi_signo != SIGWINCH)
                berth_frame_write_json (fd, BERTH_F_SIGNAL, 0,
                                        json_pack ("{s:i,s:b}", "signal", (int)si.ssi_signo, "own", 1), err);
              berth_error_release (err);
            }
        }
      if (p[2].revents)
        {
          char buf[32768];
          ssize_t n = read (in_fd, buf, sizeof (buf));
          if (n <= 0)
            {
              stdin_open = false;
              berth_frame_write (fd, BERTH_F_STDIN_CLOSE, 0, "{}", 2, err);
            }
          else
            berth_frame_write (fd, BERTH_F_STDIN, 0, buf, (size_t)n, err);
          berth_error_release (err);
        }
      if (p[0].revents || pending)
        {
          if (!pending)
            {
              r = berth_frame_fill (&rd, fd, err);
              if (r <= 0)
                {
                  if (r == 0)
                    berth_error_code (err, ESRCH, "the VM went away during exec");
                  break;
                }
            }
          pending = false;
          while ((r = berth_frame_next (&rd, &f, err)) == 1)
            {
              if (f.type == BERTH_F_STDOUT || f.type == BERTH_F_STDERR)
                (void)write_all (f.type == BERTH_F_STDOUT ? out_fd : err_fd, f.data, f.len);
              else if (f.type == BERTH_F_EXIT)
                {
                  if (berth_frame_exit_code (&f, code, err) == 0)
                    ret = 0;
                  done = true;
                  break;
                }
            }
          if (r < 0)
            break;
        }
    }
  if (restore)
    tcsetattr (0, TCSANOW, &saved);
  close (sfd);
  sigprocmask (SIG_SETMASK, &old, NULL);
  berth_frame_reader_free (&rd);
  return ret;
}

/* A process that stands on the host for one in the guest: it carries
   the session's stdio (on SLAVE, a pty, when there is one) and exits with
   its exit code. */
pid_t
vm_spawn_relay (int fd, struct berth_frame_reader *rd, int slave, bool die_with_parent, berth_err_t *err)
{
  pid_t relay = fork ();
  if (relay < 0)
    return berth_error (err, errno, "fork");
  if (relay == 0)
    {
      berth_err_t e = NULL;
      int code = 255;
      setsid ();
      if (die_with_parent)
        prctl (PR_SET_PDEATHSIG, SIGKILL);
      /* Nothing of the caller's but stdio: not its locks (the container's
         state lock is held around create), not its pipes. */
      fd = fcntl (fd, F_DUPFD_CLOEXEC, 64);
      slave = slave >= 0 ? fcntl (slave, F_DUPFD_CLOEXEC, 64) : -1;
      if (fd < 0 || dup3 (fd, 3, O_CLOEXEC) < 0 || (slave >= 0 && dup3 (slave, 4, O_CLOEXEC) < 0))
        _exit (255);
      fd = 3;
      slave = slave >= 0 ? 4 : -1;
      close_fds_from (5, false, &e);
      berth_error_release (&e);
      if (slave >= 0)
        ioctl (slave, TIOCSCTTY, 0);
      exec_relay (fd, rd, slave, false, &code, &e);
      _exit (code);
    }
  return relay;
}

/* ------------------------------------------------------------- files */

int
vm_sink_frame (struct vm_sink *k, const struct berth_frame *f, berth_err_t *err)
{
  if (f->type == BERTH_F_STDOUT)
    {
      if (k->max > 0 && (k->sent += f->len) > k->max)
        return berth_error (err, EFBIG, "%s: its guest sent more than %lld MiB, more than its writable layer can hold",
                            k->what, k->max >> 20);
      if (k->out_fd >= 0 && write_all (k->out_fd, f->data, f->len) < 0)
        return berth_error (err, errno, "%s: write the archive", k->what);
    }
  else if (f->type == BERTH_F_STDERR)
    for (uint32_t i = 0; i < f->len && k->msg_len < sizeof (k->msg) - 1; i++)
      k->msg[k->msg_len++] = f->data[i] >= ' ' || f->data[i] == '\n' ? (char)f->data[i] : '?';
  else if (f->type == BERTH_F_EXIT && berth_frame_exit_code (f, &k->code, err) < 0)
    return -1;
  return 0;
}

int
vm_sink_result (struct vm_sink *k, berth_err_t *err)
{
  while (k->msg_len && k->msg[k->msg_len - 1] == '\n')
    k->msg_len--;
  k->msg[k->msg_len] = '\0';
  if (k->code != 0)
    return berth_error (err, EIO, "in the VM: %s", k->msg_len ? k->msg : "the helper failed");
  return 0;
}

long long
vm_layer_max (long mem_mib)
{
  return mem_mib > 0 ? (2 * (long long)mem_mib + 64) << 20 : 0;
}

/* One helper session in the guest: REQ, then IN_FD's bytes as its stdin
   (if IN_FD >= 0), its stdout to OUT_FD (if >= 0; at most MAX bytes when
   MAX > 0), its stderr kept for the error, until its exit. */
static int
vm_stream (const char *root, const char *id, uint8_t type, json_t *req, int in_fd, int out_fd, long long max,
           berth_err_t *err)
{
  cleanup_free char *member = NULL;
  cleanup_close int fd = member_connect (root, id, &member, err);
  cleanup_free char *what = xasprintf ("container `%s`", id);
  struct berth_frame_reader rd = { 0 };
  struct berth_frame f;
  struct vm_sink k = { .out_fd = out_fd, .max = max, .what = what, .code = -1 };
  bool in_open = in_fd >= 0;
  int ret = -1;
  if (fd < 0)
    {
      json_decref (req);
      return -1;
    }
  if (member)
    json_object_set_new (req, "container", json_string (member));
  if (berth_frame_write_json (fd, type, 0, req, err) < 0 || vm_await_reply (fd, &rd, id, &f, err) < 0)
    goto out;
  while (k.code < 0)
    {
      struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = in_open ? in_fd : -1, .events = POLLIN } };
      int r = berth_frame_next (&rd, &f, err);
      if (r < 0)
        goto out;
      if (r == 1)
        {
          if (vm_sink_frame (&k, &f, err) < 0)
            goto out;
          continue;
        }
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          berth_error (err, errno, "poll");
          goto out;
        }
      if (p[1].revents)
        {
          char buf[65536];
          ssize_t n = read (in_fd, buf, sizeof (buf));
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            {
              berth_error (err, errno, "read the archive to copy");
              goto out;
            }
          if ((n > 0 ? berth_frame_write (fd, BERTH_F_STDIN, 0, buf, (size_t)n, err)
                     : berth_frame_write_json (fd, BERTH_F_STDIN_CLOSE, 0, json_object (), err))
              < 0)
            goto out;
          in_open = n > 0;
        }
      if (p[0].revents)
        {
          r = berth_frame_fill (&rd, fd, err);
          if (r < 0)
            goto out;
          if (r == 0)
            {
              berth_error_code (err, ESRCH, "container `%s`: the VM went away", id);
              goto out;
            }
        }
    }
  ret = vm_sink_result (&k, err);
out:
  berth_frame_reader_free (&rd);
  return ret;
}

int
berth_vm_archive (const char *root, const char *id, enum berth_vm_archive_what what, int out_fd, berth_err_t *err)
{
  long long max = 0;
  if (what == BERTH_VM_ARCHIVE_UPPER)
    {
      /* The layer is a tmpfs in guest memory: a stream much longer than
         that memory is a guest's flood, not its changes (twice, for tar's
         headers of many small files). */
      struct berth_state *st = NULL;
      berth_err_t e2 = NULL;
      if (berth_state_load (root, id, &st, &e2) == 0)
        {
          max = vm_layer_max ((long)json_integer_value (json_object_get (st->backend, "memory_mib")));
          berth_state_free (st);
        }
      berth_error_release (&e2);
    }
  return vm_stream (root, id, BERTH_F_ARCHIVE,
                    what == BERTH_VM_ARCHIVE_UPPER ? json_pack ("{s:s,s:b}", "what", "upper", "freeze", 1)
                                                   : json_pack ("{s:s}", "what", "root"),
                    -1, out_fd, max, err);
}

/* docker takes a relative container path as from the root. */
static char *
abs_path (const char *path)
{
  return path[0] == '/' ? xstrdup (path) : xasprintf ("/%s", path);
}

int
berth_vm_copy_out (const char *root, const char *id, const char *path, int owner, int out_fd, berth_err_t *err)
{
  cleanup_free char *p = abs_path (path);
  json_t *req = json_pack ("{s:s,s:s}", "what", "path", "path", p);
  if (owner >= 0)
    json_object_set_new (req, "owner", json_integer (owner));
  return vm_stream (root, id, BERTH_F_ARCHIVE, req, -1, out_fd, 0, err);
}

int
berth_vm_copy_in (const char *root, const char *id, const char *dest, const char *src_base, int in_fd, berth_err_t *err)
{
  cleanup_free char *p = abs_path (dest);
  return vm_stream (root, id, BERTH_F_EXTRACT, json_pack ("{s:s,s:s*}", "dest", p, "src_base", src_base), in_fd, -1, 0,
                    err);
}

int
berth_vm_exec (const char *root, const char *id, const struct berth_exec_request *r, int *exit_status, berth_err_t *err)
{
  cleanup_close int fd = -1;
  cleanup_close int console = -1;
  struct berth_frame_reader rd = { 0 };
  struct berth_frame f;
  bool tty = json_is_true (json_object_get (r->process, "terminal"));
  int slave = -1;
  pid_t relay;

  *exit_status = 0;
  if (tty && (r->console_socket || r->console_fd > 0))
    {
      /* An exec request's console_fd is 0 when there is none. */
      console = vm_console_connect (r->console_fd > 0 ? r->console_fd : -1, r->console_socket, err);
      if (console < 0 || vm_console_pty (console, &slave, err) < 0)
        return -1;
    }
  else if (tty && r->detach)
    return berth_error (err, 0, "process.terminal is true: --console-socket is required with --detach");
  {
    cleanup_free char *member = NULL;
    fd = member_connect (root, id, &member, err);
    if (fd < 0
        || berth_frame_write_json (fd, BERTH_F_EXEC, 0,
                                   json_pack ("{s:O,s:s*}", "process", r->process, "container", member), err)
               < 0
        || vm_await_reply (fd, &rd, id, &f, err) < 0)
      goto fail;
  }
  if (!r->detach)
    {
      int code = 0;
      if (slave >= 0)
        {
          /* A pty of ours for the caller's console: relay from a child
             whose controlling terminal it is, so resizes reach us. */
          relay = fork ();
          if (relay == 0)
            {
              berth_err_t e = NULL;
              setsid ();
              ioctl (slave, TIOCSCTTY, 0);
              _exit (exec_relay (fd, &rd, slave, false, &code, &e) < 0 ? 255 : code);
            }
          close (slave);
          berth_frame_reader_free (&rd);
          if (relay < 0)
            return berth_error (err, errno, "fork");
          waitpid (relay, exit_status, 0);
          *exit_status = WEXITSTATUS (*exit_status);
          return 0;
        }
      if (exec_relay (fd, &rd, -1, tty, &code, err) < 0)
        return -1;
      *exit_status = code;
      return 0;
    }
  /* Detached: a relay process stands for the exec's process on the host
     (the caller's pid file names it). */
  relay = vm_spawn_relay (fd, &rd, slave, false, err);
  if (relay < 0)
    goto fail;
  if (slave >= 0)
    close (slave);
  berth_frame_reader_free (&rd);
  if (r->pid_out)
    *r->pid_out = relay;
  if (r->pid_file)
    {
      char buf[16];
      int n = snprintf (buf, sizeof (buf), "%d", relay);
      if (write_file_atomic (r->pid_file, buf, (size_t)n, 0644, err) < 0)
        return -1;
    }
  return 0;

fail:
  berth_frame_reader_free (&rd);
  if (slave >= 0)
    close (slave);
  return -1;
}
