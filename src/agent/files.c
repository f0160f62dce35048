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

/* One request's work: an archive's, or an extract's fields. */
struct job
{
  int type; /* BERTH_F_ARCHIVE or BERTH_F_EXTRACT */
  struct berth_req_archive a;
  const char *dest, *src_base;
  const char *id;
  pid_t pid; /* the container's init */
};

/* The running container's init: the VM's own or a pod member's. */
static pid_t
target (const char *id)
{
  struct proc *p;
  if (strcmp (id, CTR_ID) == 0)
    return started && (p = proc_by_sid (0)) && !p->exited ? p->pid : -1;
  for (int i = 0; i < MAX_MEMBERS; i++)
    if (members[i].used && !members[i].loading && strcmp (members[i].id, id) == 0 && (p = proc_by_sid (members[i].sid))
        && !p->exited)
      return p->pid;
  return -1;
}

/* In the helper: the tar on its stdout, or from its stdin. */
static int
run_job (const struct job *j, berth_err_t *err)
{
  char root[64];
  cleanup_close int fd = -1;
  if (j->type == BERTH_F_ARCHIVE && j->a.what == BERTH_ARCHIVE_UPPER)
    {
      /* The writable layer mount_rootfs (or a member's create) made. */
      cleanup_free char *upper = strcmp (j->id, CTR_ID) == 0 ? xstrdup ("/run/berth/rw/upper")
                                                             : xasprintf ("/run/berth/members/%s/upper", j->id);
      fd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        return berth_error (err, errno, "open the writable layer");
      return berth_pack_tree (fd, ".", "", STDOUT_FILENO, BERTH_PACK_OVERLAY, -1, err);
    }
  snprintf (root, sizeof (root), "/proc/%d/root", (int)j->pid);
  fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open the container's root");
  if (j->type == BERTH_F_EXTRACT)
    return berth_copy_in (fd, j->dest, STDIN_FILENO, j->src_base, NULL, err);
  if (j->a.what == BERTH_ARCHIVE_ROOT)
    return berth_pack_tree (fd, ".", "", STDOUT_FILENO, BERTH_PACK_ONE_FS, -1, err);
  return berth_copy_out (fd, j->a.path, STDOUT_FILENO, j->a.owner, NULL, err);
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
spawn_helper (uint32_t sid, const struct job *j, const char *thaw)
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
      /* No exec follows to close the agent's fds (O_CLOEXEC), and one of
         them is the write end of this helper's own stdin. */
      int r = close_fds_from (3, false, &err);
      if (r == 0)
        r = run_job (j, &err);
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
   J's id and pid, or -1 with the error sent. */
static int
job_target (uint32_t sid, json_t *req, struct job *j)
{
  berth_err_t err = NULL;
  const char *what = j->type == BERTH_F_ARCHIVE ? "archive" : "extract";
  if ((j->id = target_id (req, &err)) == NULL)
    {
      send_error (sid, &err);
      return -1;
    }
  /* The VM's own writable layer outlives its init until the VM goes:
     the shim keeps it then (shim_save_changes). */
  if (!proc_by_sid (sid) && j->type == BERTH_F_ARCHIVE && j->a.what == BERTH_ARCHIVE_UPPER
      && strcmp (j->id, CTR_ID) == 0 && started && target (j->id) <= 0)
    {
      j->pid = -1;
      if (j->a.freeze)
        {
          berth_error (&err, EINVAL, "archive: nothing runs to freeze");
          send_error (sid, &err);
          return -1;
        }
      return 0;
    }
  if (proc_by_sid (sid) || (j->pid = target (j->id)) <= 0)
    {
      berth_error (&err, EINVAL, "%s: %s", what, proc_by_sid (sid) ? "session in use" : "the container is not running");
      send_error (sid, &err);
      return -1;
    }
  return 0;
}

void
do_archive (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  struct job j = { .type = BERTH_F_ARCHIVE };
  if (berth_req_archive (req, &j.a, &err) < 0)
    return send_error (sid, &err);
  if (job_target (sid, req, &j) < 0)
    return;
  /* One consistent layer, as docker pauses a container for commit. */
  if (j.a.freeze && berth_container_pause (STATE_ROOT, j.id, true, &err) < 0)
    return send_error (sid, &err);
  spawn_helper (sid, &j, j.a.freeze ? j.id : NULL);
}

void
do_extract (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  struct job j = { .type = BERTH_F_EXTRACT };
  if (berth_req_extract (req, &j.dest, &j.src_base, &err) < 0)
    return send_error (sid, &err);
  if (job_target (sid, req, &j) < 0)
    return;
  spawn_helper (sid, &j, NULL);
}
