#include "ns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "terminal.h"
#include "utils.h"

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
berth_ns_open (const char *path, int type, berth_err_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  int kind;
  if (fd < 0)
    return berth_error (err, errno, "open %s namespace `%s`", berth_ns_proc_name (type), path);
  kind = ioctl (fd, NS_GET_NSTYPE);
  if (kind >= 0 && kind != type)
    return berth_error (err, 0, "`%s` is not a %s namespace", path, berth_ns_proc_name (type));
  return steal_fd (&fd);
}

int
berth_ns_join (int fd, int type, berth_err_t *err)
{
  if (setns (fd, type) < 0)
    return berth_error (err, errno, "join the %s namespace", berth_ns_proc_name (type));
  return 0;
}

static int
write_map (pid_t pid, const char *file, struct berth_id_map *m, size_t n, berth_err_t *err)
{
  cleanup_free char *path = xasprintf ("/proc/%d/%s", pid, file);
  cleanup_free char *buf = xstrdup ("");
  for (size_t i = 0; i < n; i++)
    {
      char *nb = xasprintf ("%s%u %u %u\n", buf, m[i].container_id, m[i].host_id, m[i].size);
      free (buf);
      buf = nb;
    }
  /* The kernel takes the whole map in one write. */
  if (write_file_at (AT_FDCWD, path, buf, strlen (buf), err) < 0)
    return berth_error_wrap (err, "linux.%s", strcmp (file, "uid_map") == 0 ? "uidMappings" : "gidMappings");
  return 0;
}

int
berth_write_id_maps (pid_t pid, struct berth_spec *spec, berth_err_t *err)
{
  if (write_map (pid, "uid_map", spec->uid_maps, spec->n_uid_maps, err) < 0)
    return -1;
  return write_map (pid, "gid_map", spec->gid_maps, spec->n_gid_maps, err);
}

int
berth_write_time_offsets (pid_t pid, struct berth_spec *spec, berth_err_t *err)
{
  cleanup_free char *path = pid ? xasprintf ("/proc/%d/timens_offsets", pid) : xstrdup ("/proc/self/timens_offsets");
  cleanup_free char *buf = xasprintf ("monotonic %lld %u\nboottime %lld %u\n", (long long)spec->monotonic_secs,
                                      spec->monotonic_nsecs, (long long)spec->boottime_secs, spec->boottime_nsecs);
  if (!spec->has_time_offsets)
    return 0;
  if (write_file_at (AT_FDCWD, path, buf, strlen (buf), err) < 0)
    return berth_error_wrap (err, "linux.timeOffsets");
  return 0;
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
