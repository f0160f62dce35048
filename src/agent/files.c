/* A running container's files for the host (cp, export, diff, commit).
   A helper process of the agent's writes or reads them as a tar on its
   stdio, which the host sees as its session's stdout and stdin, the same
   as an exec's.  Paths resolve in the root as the container's init sees
   it (/proc/PID/root: its volumes too), with the host's rules for a
   process container (image/copy.c), never through a symlink out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/image/copy.h"
#include "lib/image/pack.h"

/* The running container's init and writable layer: the VM's own or a pod
   member's. */
static pid_t
target (const char *id, char **upper)
{
  struct proc *p;
  *upper = NULL;
  if (strcmp (id, CTR_ID) == 0)
    {
      if (!started || init_pid <= 0)
        return -1;
      *upper = xstrdup ("/run/berth/rw/upper");
      return init_pid;
    }
  for (int i = 0; i < MAX_MEMBERS; i++)
    if (members[i].used && !members[i].loading && strcmp (members[i].id, id) == 0 && (p = proc_by_sid (members[i].sid))
        && !p->exited)
      {
        *upper = xasprintf ("/run/berth/members/%s/upper", id);
        return p->pid;
      }
  return -1;
}

static int
archive_child (const struct berth_req_archive *a, const char *id, pid_t pid, const char *upper, berth_err_t *err)
{
  char root[64];
  cleanup_close int fd = -1;
  snprintf (root, sizeof (root), "/proc/%d/root", (int)pid);
  if (a->what == BERTH_ARCHIVE_UPPER)
    {
      fd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        return berth_error (err, errno, "open the writable layer");
      return berth_pack_tree (fd, ".", "", STDOUT_FILENO, BERTH_PACK_OVERLAY, -1, err);
    }
  fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open the container's root");
  if (a->what == BERTH_ARCHIVE_ROOT)
    return berth_pack_tree (fd, ".", "", STDOUT_FILENO, BERTH_PACK_ONE_FS, -1, err);
  return berth_copy_out (fd, a->path, STDOUT_FILENO, a->owner, NULL, err);
}

static int
extract_child (const char *dest, const char *src_base, pid_t pid, berth_err_t *err)
{
  char root[64];
  cleanup_close int fd = -1;
  snprintf (root, sizeof (root), "/proc/%d/root", (int)pid);
  fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open the container's root");
  return berth_copy_in (fd, dest, STDIN_FILENO, src_base, NULL, err);
}

void
thaw_now (const char *id)
{
  berth_err_t err = NULL;
  if (id && *id && berth_container_pause (STATE_ROOT, id, false, &err) < 0)
    {
      logmsg ("thaw %s: %s", id, err->msg);
      berth_error_release (&err);
    }
}

/* Forks the helper with a session's stdio; its exit ends the session as
   an exec's does.  THAW: a container to thaw when it ends, however. */
static void
spawn_helper (uint32_t sid, int type, const void *req, const char *id, pid_t pid, const char *upper, const char *thaw)
{
  berth_err_t err = NULL;
  int child_fds[3], cons[2];
  struct proc *p = proc_new (sid);
  pid_t child;
  if (p == NULL || stdio_prepare (p, false, child_fds, cons, &err) < 0)
    {
      if (p)
        proc_free (p);
      else
        berth_error (&err, EMFILE, "too many processes");
      thaw_now (thaw);
      return send_error (sid, &err);
    }
  stdio_install (child_fds);
  child = fork ();
  if (child == 0)
    {
      const struct berth_req_extract_args *x = req;
      int r;
      /* No exec follows to close the agent's fds (O_CLOEXEC), and one of
         them is the write end of this helper's own stdin. */
      r = close_fds_from (3, false, &err);
      if (r == 0)
        r = type == BERTH_F_ARCHIVE ? archive_child (req, id, pid, upper, &err)
                                    : extract_child (x->dest, x->src_base, pid, &err);
      if (r < 0)
        dprintf (STDERR_FILENO, "%s\n", err && err->msg ? err->msg : "failed");
      _exit (r < 0 ? 1 : 0);
    }
  if (child < 0)
    berth_error (&err, errno, "fork");
  if (stdio_finish (p, child_fds, cons, child < 0 ? -1 : 0, child, sid, &err) < 0)
    return thaw_now (thaw);
  p->pid = child;
  if (thaw)
    snprintf (p->thaw, sizeof (p->thaw), "%s", thaw);
  send_ok (sid, json_pack ("{s:i}", "pid", child));
}

/* The request's container, running, on a session with no process yet:
   its init's pid (with *UPPER), or -1 with the error sent. */
static pid_t
helper_target (uint32_t sid, json_t *req, const char *what, const char **id, char **upper)
{
  berth_err_t err = NULL;
  pid_t pid = -1;
  if ((*id = target_id (req, &err)) == NULL)
    {
      send_error (sid, &err);
      return -1;
    }
  if (proc_by_sid (sid) || (pid = target (*id, upper)) <= 0)
    {
      berth_error (&err, EINVAL, "%s: %s", what, proc_by_sid (sid) ? "session in use" : "the container is not running");
      send_error (sid, &err);
      return -1;
    }
  return pid;
}

void
do_archive (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  struct berth_req_archive a;
  cleanup_free char *upper = NULL;
  const char *id;
  pid_t pid;
  if (berth_req_archive (req, &a, &err) < 0)
    return send_error (sid, &err);
  if ((pid = helper_target (sid, req, "archive", &id, &upper)) < 0)
    return;
  /* One consistent layer, as docker pauses a container for commit. */
  if (a.freeze && berth_container_pause (STATE_ROOT, id, true, &err) < 0)
    return send_error (sid, &err);
  spawn_helper (sid, BERTH_F_ARCHIVE, &a, id, pid, upper, a.freeze ? id : NULL);
}

void
do_extract (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  struct berth_req_extract_args x;
  cleanup_free char *upper = NULL;
  const char *id;
  pid_t pid;
  if (berth_req_extract (req, &x.dest, &x.src_base, &err) < 0)
    return send_error (sid, &err);
  if ((pid = helper_target (sid, req, "extract", &id, &upper)) < 0)
    return;
  spawn_helper (sid, BERTH_F_EXTRACT, &x, id, pid, NULL, NULL);
}
