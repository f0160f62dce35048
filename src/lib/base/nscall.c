#include "lib/base/nscall.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/terminal.h"
#include "lib/base/utils.h"

const char *
berth_ns_proc_name (int type)
{
  switch (type)
    {
    case CLONE_NEWPID:
      return "pid";
    case CLONE_NEWNET:
      return "net";
    case CLONE_NEWNS:
      return "mnt";
    case CLONE_NEWIPC:
      return "ipc";
    case CLONE_NEWUTS:
      return "uts";
    case CLONE_NEWUSER:
      return "user";
    case CLONE_NEWCGROUP:
      return "cgroup";
    case CLONE_NEWTIME:
      return "time";
    default:
      return "unknown";
    }
}

int
berth_ns_call (int ns_fd, int nstype, berth_ns_fn fn, void *arg, int *fd_out, char **text_out, berth_err_t *err)
{
  int sp[2], status, fd = -1;
  char *buf;
  ssize_t n;
  pid_t pid;
  *fd_out = -1;
  *text_out = NULL;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    return berth_error (err, errno, "socketpair");
  pid = fork ();
  if (pid < 0)
    {
      close (sp[0]);
      close (sp[1]);
      return berth_error (err, errno, "fork");
    }
  if (pid == 0)
    {
      /* One message back: "o" and the text (with the fd), or "e" and the
         error. */
      berth_err_t e = NULL;
      char *text = NULL, ebuf[4096];
      int cfd = -1;
      close (sp[0]);
      if (setns (ns_fd, nstype) < 0)
        berth_error (&e, errno, "enter the %s namespace", berth_ns_proc_name (nstype));
      else if (fn (arg, &cfd, &text, &e) == 0)
        {
          cleanup_free char *msg = xasprintf ("o%s", text ? text : "");
          if (cfd >= 0 ? berth_send_fd (sp[1], cfd, msg, &e) < 0 : send (sp[1], msg, strlen (msg), MSG_NOSIGNAL) < 0)
            _exit (1);
          _exit (0);
        }
      ebuf[0] = 'e';
      n = berth_error_encode (e, ebuf + 1, sizeof (ebuf) - 1);
      (void)!send (sp[1], ebuf, (size_t)n + 1, MSG_NOSIGNAL);
      _exit (1);
    }
  close (sp[1]);
  buf = xmalloc (65536);
  n = berth_recv_msg (sp[0], buf, 65535, &fd, err);
  close (sp[0]);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (n > 0 && buf[0] == 'o')
    {
      buf[n] = 0;
      *fd_out = fd;
      *text_out = n > 1 ? xstrdup (buf + 1) : NULL;
      free (buf);
      return 0;
    }
  if (fd >= 0)
    close (fd);
  if (n > 1 && buf[0] == 'e')
    berth_error_decode (err, buf + 1, (size_t)n - 1);
  else if (n >= 0)
    berth_error (err, EPROTO, "the helper in the %s namespace died (status %d)", berth_ns_proc_name (nstype), status);
  free (buf);
  return -1;
}
