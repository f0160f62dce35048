/* The process backend: the container is a tree of host processes in its
   own namespaces and cgroup (process_create.c clones its init,
   process_exec.c joins it). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/runtime/cgroup.h"
#include "lib/runtime/hooks.h"
#include "lib/runtime/isolation.h"
#include "lib/runtime/process_internal.h"
#include "lib/runtime/spec.h"
#include "lib/runtime/state.h"

/* ------------------------------------------------------------------- start */

static int
connect_start (const char *root, const char *id, int *out, berth_err_t *err)
{
  cleanup_free char *dir = berth_state_dir (root, id);
  cleanup_close int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (dfd < 0)
    return berth_error (err, errno, "open `%s`", dir);
  if (fd < 0)
    return berth_error (err, errno, "socket");
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/start", dfd);
  if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    return berth_error (err, errno, "connect to the container init of `%s`", id);
  /* From now on the container counts as started. */
  if (unlinkat (dfd, "start", 0) < 0)
    return berth_error (err, errno, "remove `%s/start`", dir);
  *out = steal_fd (&fd);
  return 0;
}

/* runtime-spec: the listener gets the container process state (with the
   fd named "seccompFd") and the notify fd itself over SCM_RIGHTS. */
int
berth_process_seccomp_listener (const char *root, struct berth_state *st, int notify_fd, berth_err_t *err)
{
  json_t *sec = json_object_get (json_object_get (st->config, "linux"), "seccomp");
  const char *path = json_string_value (json_object_get (sec, "listenerPath"));
  const char *meta = json_string_value (json_object_get (sec, "listenerMetadata"));
  cleanup_close int sock = -1;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char cbuf[CMSG_SPACE (sizeof (int))];
  struct iovec iov;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof (cbuf) };
  struct cmsghdr *c;
  json_t *j;
  char *text;
  ssize_t n;

  if (path == NULL || strlen (path) >= sizeof (addr.sun_path))
    {
      close (notify_fd);
      return berth_error (err, 0, "linux.seccomp.listenerPath: missing or too long");
    }
  strcpy (addr.sun_path, path);
  sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || connect (sock, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    {
      int e = errno;
      close (notify_fd);
      return berth_error (err, e, "linux.seccomp.listenerPath: connect to `%s`", path);
    }
  j = json_pack ("{s:s,s:[s],s:I,s:s,s:o}", "ociVersion", BERTH_OCI_VERSION, "fds", "seccompFd", "pid",
                 (json_int_t)st->pid, "metadata", meta ? meta : "", "state", berth_state_json (root, st, "running"));
  text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  iov.iov_base = text;
  iov.iov_len = strlen (text);
  memset (cbuf, 0, sizeof (cbuf));
  c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &notify_fd, sizeof (int));
  n = sendmsg (sock, &msg, MSG_NOSIGNAL);
  free (text);
  close (notify_fd);
  if (n < 0)
    return berth_error (err, errno, "linux.seccomp.listenerPath: send to `%s`", path);
  return 0;
}

static int
process_start (const char *root, struct berth_state *st, berth_err_t *warning, berth_err_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *reply = NULL;
  size_t len = 0;
  int notify_fd = -1;

  if (connect_start (root, st->id, &fd, err) < 0)
    return -1;
  if (write_all (fd, "s", 1) < 0)
    return berth_error (err, errno, "start `%s`", st->id);
  /* EOF without a word means the exec succeeded (the socket is CLOEXEC);
     a seccomp listener fd may come first, as a one-byte "N" message. */
  reply = xmalloc (4096);
  for (;;)
    {
      int got = -1;
      ssize_t n = berth_recv_msg (fd, reply + len, 4095 - len, &got, err);
      if (n < 0)
        return -1;
      if (got >= 0)
        {
          if (notify_fd >= 0)
            close (notify_fd);
          notify_fd = got;
          if (n == 1 && reply[len] == 'N')
            continue;
        }
      if (n == 0 || len + (size_t)n >= 4095)
        break;
      len += (size_t)n;
    }
  if (len > 0)
    {
      if (notify_fd >= 0)
        close (notify_fd);
      berth_error_decode (err, reply, len);
      return -1;
    }
  if (notify_fd >= 0 && berth_process_seccomp_listener (root, st, notify_fd, err) < 0)
    return -1;
  if (st->config && json_object_get (st->config, "hooks"))
    {
      cleanup_spec struct berth_spec *spec = NULL;
      json_t *sj;
      char *text;
      if (berth_spec_from_json (st->config, &spec, err) < 0)
        return -1;
      sj = berth_state_json (root, st, "running");
      text = json_dumps (sj, JSON_COMPACT);
      json_decref (sj);
      berth_run_hooks_all (spec, HOOK_POSTSTART, text, warning);
      free (text);
    }
  return 0;
}

/* ----------------------------------------------------- kill, delete, pids */

static int
process_kill (const char *root, struct berth_state *st, int sig, bool all, berth_err_t *err)
{
  pid_t *pids = NULL;
  size_t n = 0;
  if (!all || st->cgroup == NULL)
    return berth_backend_signal (st, sig, err);
  if (berth_cgroup_pids (st->cgroup, &pids, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    kill (pids[i], sig);
  free (pids);
  return 0;
}

static int
process_delete (const char *root, struct berth_state *st, berth_err_t *err)
{
  berth_err_t e2 = NULL;
  pid_t *pids = NULL;
  size_t n = 0;
  /* A frozen task would hold the SIGKILLs until thawed: the container's
     cgroup, and any freezer its processes were moved into. */
  if (st->cgroup && berth_cgroup_is_frozen (st->cgroup) == 1)
    berth_cgroup_freeze (st->cgroup, false, &e2);
  berth_error_release (&e2);
  berth_cgroup_thaw_pid (st->pid);
  if (st->cgroup && berth_cgroup_pids (st->cgroup, &pids, &n, &e2) == 0)
    for (size_t i = 0; i < n; i++)
      berth_cgroup_thaw_pid (pids[i]);
  berth_error_release (&e2);
  free (pids);
  berth_backend_signal (st, SIGKILL, &e2);
  berth_error_release (&e2);
  return process_kill (root, st, SIGKILL, true, err);
}

static int
process_release (const char *root, struct berth_state *st, berth_err_t *err)
{
  if (st->cgroup == NULL)
    return 0;
  if (berth_cgroup_destroy (st->cgroup, true, err) < 0)
    return -1;
  st->cgroup = NULL;
  return 0;
}

static int
process_pids (const char *root, struct berth_state *st, pid_t **pids, size_t *n, berth_err_t *err)
{
  if (st->cgroup)
    return berth_cgroup_pids (st->cgroup, pids, n, err);
  *pids = xmalloc (sizeof (pid_t));
  (*pids)[0] = st->pid;
  *n = 1;
  return 0;
}

/* The host's ps, filtered to the container's pids: they are host
   processes with host PIDs (as docker top shows them). */
static int
process_top (const char *root, struct berth_state *st, char *const *ps_args, char ***lines_out, berth_err_t *err)
{
  cleanup_free pid_t *pids = NULL;
  size_t n = 0, nargs = 0, nl = 0;
  char **args, **lines = NULL, *line = NULL;
  size_t cap = 0;
  int pfd[2], status, pid_col = -1;
  bool header = true;
  FILE *f;
  pid_t child;

  if (process_pids (root, st, &pids, &n, err) < 0)
    return -1;
  while (ps_args && ps_args[nargs])
    nargs++;
  args = xcalloc (nargs + 2, sizeof (char *));
  args[0] = (char *)"ps";
  if (nargs == 0)
    args[1] = (char *)"-ef";
  for (size_t i = 0; i < nargs; i++)
    args[i + 1] = ps_args[i];
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    {
      free (args);
      return berth_error (err, errno, "pipe");
    }
  child = fork ();
  if (child < 0)
    {
      free (args);
      close (pfd[0]);
      close (pfd[1]);
      return berth_error (err, errno, "fork");
    }
  if (child == 0)
    {
      dup2 (pfd[1], 1);
      execvp ("ps", args);
      _exit (127);
    }
  free (args);
  close (pfd[1]);
  f = fdopen (pfd[0], "r");
  if (f == NULL)
    {
      close (pfd[0]);
      berth_backend_reap (child);
      return berth_error (err, errno, "fdopen");
    }
  while (getline (&line, &cap, f) > 0)
    {
      char *copy = xstrdup (line), *save = NULL;
      bool keep = header;
      int col = 0;
      line[strcspn (line, "\n")] = '\0';
      for (char *t = strtok_r (copy, " \t\n", &save); t; t = strtok_r (NULL, " \t\n", &save), col++)
        {
          if (header && strcmp (t, "PID") == 0)
            pid_col = col;
          if (!header && col == pid_col)
            {
              for (size_t k = 0; k < n; k++)
                keep |= pids[k] == (pid_t)atoi (t);
              break;
            }
        }
      if (keep)
        {
          lines = xrealloc (lines, (nl + 2) * sizeof (char *));
          lines[nl++] = xstrdup (line);
          lines[nl] = NULL;
        }
      header = false;
      free (copy);
    }
  free (line);
  fclose (f);
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  if (pid_col < 0)
    {
      strv_free (lines);
      return berth_error (err, 0, "ps printed no PID column (ps options must keep it)");
    }
  *lines_out = lines;
  return 0;
}

static long long
read_num (const char *dir, const char *file)
{
  cleanup_free char *p = NULL;
  cleanup_free char *t = NULL;
  berth_err_t err = NULL;
  if (dir == NULL)
    return -1;
  p = xasprintf ("%s/%s", dir, file);
  if (read_file_at (AT_FDCWD, p, &t, NULL, &err) < 0)
    {
      berth_error_release (&err);
      return -1;
    }
  return strncmp (t, "max", 3) == 0 ? -1 : atoll (t);
}

/* One sample from the container's cgroup (v1 or v2). */
static int
process_stats (const char *root, struct berth_state *st, json_t **out, berth_err_t *err)
{
  struct berth_cgroup *cg = st->cgroup;
  bool v2;
  const char *mem, *cpu, *pids;
  long long cpu_ns = -1;
  if (cg == NULL)
    return berth_error (err, 0, "container %s has no cgroup", st->id);
  v2 = cg->mode == CGROUP_V2;
  mem = berth_cgroup_dir_for (cg, v2 ? "" : "memory");
  cpu = berth_cgroup_dir_for (cg, v2 ? "" : "cpuacct");
  pids = berth_cgroup_dir_for (cg, v2 ? "" : "pids");
  if (v2)
    {
      cleanup_free char *p = xasprintf ("%s/cpu.stat", cpu);
      cleanup_free char *t = NULL;
      berth_err_t e2 = NULL;
      if (read_file_at (AT_FDCWD, p, &t, NULL, &e2) == 0 && strstr (t, "usage_usec "))
        cpu_ns = atoll (strstr (t, "usage_usec ") + 11) * 1000;
      berth_error_release (&e2);
    }
  else
    cpu_ns = read_num (cpu, "cpuacct.usage");
  *out = json_pack ("{s:I,s:I,s:I,s:I}", "memory", read_num (mem, v2 ? "memory.current" : "memory.usage_in_bytes"),
                    "memory_limit", read_num (mem, v2 ? "memory.max" : "memory.limit_in_bytes"), "cpu_ns", cpu_ns,
                    "pids", read_num (pids, "pids.current"));
  return 0;
}

static int
process_pause (const char *root, struct berth_state *st, bool pause, berth_err_t *err)
{
  if (st->cgroup == NULL)
    return berth_error (err, 0, "container `%s` has no cgroup", st->id);
  return berth_cgroup_freeze (st->cgroup, pause, err);
}

static int
process_update (const char *root, struct berth_state *st, json_t *resources, berth_err_t *err)
{
  if (st->cgroup == NULL)
    return berth_error (err, 0, "container `%s` has no cgroup", st->id);
  return berth_cgroup_update (st->cgroup, resources, err);
}

/* The engine's bundle: an --init from the host (berth-agent is also
   berth-init).  A kernel is a VM's. */
static int
process_prepare (const struct berth_isolation_prepare *p, json_t *spec, berth_err_t *err)
{
  if (p->kernel)
    return berth_error (err, 0, "--kernel: only a container with a kernel of its own has one (--isolation=vm)");
  if (p->init)
    {
      cleanup_free char *agent = NULL;
      if (berth_isolation_host_agent (&agent, err) < 0)
        return berth_error_wrap (err, "--init");
      berth_isolation_add_init (spec, agent);
    }
  return 0;
}

static long
process_oom_kills (const char *root, struct berth_state *st)
{
  (void)root;
  return st->cgroup ? berth_cgroup_oom_kills (st->cgroup) : -1;
}

static void
process_oom_watch (const char *root, struct berth_state *st, struct berth_oom_watch *w)
{
  (void)root;
  if (st->cgroup)
    berth_cgroup_oom_watch (st->cgroup, w);
}

const struct berth_isolation berth_process_isolation = {
  .name = "process",
  .flags = BERTH_ISOLATION_HOST_ROOTFS,
  .create = berth_process_backend_create,
  .start = process_start,
  .kill = process_kill,
  .delete = process_delete,
  .release = process_release,
  .exec = berth_process_backend_exec,
  .pids = process_pids,
  .top = process_top,
  .stats = process_stats,
  .pause = process_pause,
  .update = process_update,
  .oom_kills = process_oom_kills,
  .oom_watch = process_oom_watch,
  .prepare = process_prepare,
};
