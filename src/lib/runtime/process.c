#include "lib/runtime/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/runtime/seccomp.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

int
berth_apply_rlimits (struct berth_process *p, berth_err_t *err)
{
  for (size_t i = 0; i < p->n_rlimits; i++)
    {
      struct rlimit rl = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
      if (setrlimit (p->rlimits[i].resource, &rl) < 0)
        return berth_error (err, errno, "process.rlimits[%zu]: setrlimit", i);
    }
  return 0;
}

static int
capset_sets (uint64_t eff, uint64_t perm, uint64_t inh, berth_err_t *err)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++)
    {
      data[i].effective = (uint32_t)(eff >> (32 * i));
      data[i].permitted = (uint32_t)(perm >> (32 * i));
      data[i].inheritable = (uint32_t)(inh >> (32 * i));
    }
  if (syscall (SYS_capset, &hdr, data) < 0)
    return berth_error (err, errno, "capset");
  return 0;
}

/* Bounding set first (dropping needs CAP_SETPCAP, which may go next). */
static int
drop_bounding (uint64_t keep, berth_err_t *err)
{
  for (int c = 0; c <= berth_cap_last (); c++)
    {
      if (keep & (1ULL << c))
        continue;
      if (prctl (PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
        return berth_error (err, errno, "drop %s from the bounding set", berth_cap_name (c) ?: "capability");
    }
  return 0;
}

int
berth_apply_caps (struct berth_process *p, berth_err_t *err)
{
  if (capset_sets (p->caps[CAP_SET_EFFECTIVE], p->caps[CAP_SET_PERMITTED], p->caps[CAP_SET_INHERITABLE], err) < 0)
    return -1;
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return berth_error (err, errno, "clear the ambient capabilities");
  for (int c = 0; c <= berth_cap_last (); c++)
    if (p->caps[CAP_SET_AMBIENT] & (1ULL << c))
      /* A cap missing from permitted or inheritable cannot be ambient: the
         kernel refuses, and runc too ignores that. */
      (void)prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  return 0;
}

static int
change_user (struct berth_process *p, const struct berth_exec_opts *o, berth_err_t *err)
{
  if (o->setgroups_ok)
    {
      gid_t *gids = xcalloc (p->n_additional_gids + 1, sizeof (gid_t));
      for (size_t i = 0; i < p->n_additional_gids; i++)
        gids[i] = p->additional_gids[i];
      if (setgroups (p->n_additional_gids, gids) < 0)
        {
          free (gids);
          return berth_error (err, errno, "setgroups");
        }
      free (gids);
    }
  if (setresgid (p->gid, p->gid, p->gid) < 0)
    return berth_error (err, errno, "setgid %u", p->gid);
  if (setresuid (p->uid, p->uid, p->uid) < 0)
    return berth_error (err, errno, "setuid %u", p->uid);
  return 0;
}

/* Why a command cannot run, worded as runc words it ("no such file or
   directory", "permission denied", lowercase): Docker and containerd pick
   the exit code (127, 126) by matching those words in the runtime's error. */
static int
exec_error (berth_err_t *err, int e, const char *argv0)
{
  char reason[128];
  snprintf (reason, sizeof (reason), "%s", strerror (e));
  if (reason[0] >= 'A' && reason[0] <= 'Z')
    reason[0] = (char)(reason[0] - 'A' + 'a');
  return berth_error_code (err, e, "exec `%s`: %s", argv0, reason);
}
int
berth_find_executable (const char *argv0, char *const *env, char **out, berth_err_t *err)
{
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  cleanup_free char *copy = NULL;
  char *save = NULL;
  int last_errno = ENOENT;

  if (argv0 == NULL || argv0[0] == '\0')
    return berth_error (err, 0, "process.args: no command given");
  if (strchr (argv0, '/'))
    {
      struct stat st;
      if (stat (argv0, &st) < 0)
        return exec_error (err, errno, argv0);
      if (S_ISDIR (st.st_mode))
        return berth_error_code (err, EACCES, "exec `%s`: is a directory", argv0);
      *out = xstrdup (argv0);
      return 0;
    }
  for (size_t i = 0; env && env[i]; i++)
    if (str_has_prefix (env[i], "PATH="))
      path = env[i] + 5;
  copy = xstrdup (path);
  for (char *d = strtok_r (copy, ":", &save); d; d = strtok_r (NULL, ":", &save))
    {
      cleanup_free char *cand = xasprintf ("%s/%s", d[0] ? d : ".", argv0);
      struct stat st;
      if (stat (cand, &st) == 0 && S_ISREG (st.st_mode))
        {
          if (access (cand, X_OK) == 0)
            {
              *out = steal_pointer (&cand);
              return 0;
            }
          last_errno = EACCES;
        }
    }
  if (last_errno == EACCES)
    return exec_error (err, EACCES, argv0);
  return berth_error_code (err, ENOENT, "exec `%s`: executable file not found in $PATH", argv0);
}

static int
enter_cwd (const char *cwd, bool create, berth_err_t *err)
{
  /* Resolved inside "/" without magic links: a cwd of /proc/self/fd/N must
     not reach a directory outside the container (CVE-2024-21626). */
  cleanup_close int root = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int fd = -1;
  char buf[16];
  if (root < 0)
    return berth_error (err, errno, "open /");
  fd = open_in_root (root, cwd, O_PATH | O_DIRECTORY, 0, err);
  if (fd < 0 && create && (*err)->status == ENOENT)
    {
      berth_error_release (err);
      fd = mkdir_open_in_root (root, cwd, false, err);
    }
  if (fd < 0)
    return berth_error_wrap (err, "process.cwd");
  if (fchdir (fd) < 0)
    return berth_error (err, errno, "process.cwd: chdir `%s`", cwd);
  /* getcwd reports "(unreachable)" for a directory outside our root. */
  if (getcwd (buf, sizeof (buf)) == NULL && errno != ERANGE)
    return berth_error (err, errno, "process.cwd: `%s` is outside the container", cwd);
  return 0;
}

static const char *
env_get (char **env, const char *name)
{
  size_t n = strlen (name);
  for (size_t i = 0; env && env[i]; i++)
    if (strncmp (env[i], name, n) == 0 && env[i][n] == '=')
      return env[i] + n + 1;
  return NULL;
}

/* Sets NAME=VALUE in *ENV, replacing what is there. */
static void
env_put (char ***env, const char *name, const char *value)
{
  size_t n = strlen (name), len = strv_len (*env);
  for (size_t i = 0; i < len; i++)
    if (strncmp ((*env)[i], name, n) == 0 && (*env)[i][n] == '=')
      {
        free ((*env)[i]);
        (*env)[i] = xasprintf ("%s=%s", name, value);
        return;
      }
  *env = xrealloc (*env, (len + 2) * sizeof (char *));
  (*env)[len] = xasprintf ("%s=%s", name, value);
  (*env)[len + 1] = NULL;
}

/* HOME from the container's /etc/passwd entry of UID ("/" without one), as
   runc and crun set it; read in the container's root (we are past
   pivot_root), before the user change. */
static char *
passwd_home (uid_t uid)
{
  cleanup_free char *text = NULL;
  berth_err_t e = NULL;
  char *save = NULL;
  if (read_file_at (AT_FDCWD, "/etc/passwd", &text, NULL, &e) < 0)
    {
      berth_error_release (&e);
      return xstrdup ("/");
    }
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *f[7] = { 0 }, *rest = line;
      int k = 0;
      while (k < 7 && (f[k] = strsep (&rest, ":")))
        k++;
      if (k >= 6 && f[2][0] && strspn (f[2], "0123456789") == strlen (f[2])
          && strtoul (f[2], NULL, 10) == (unsigned long)uid && f[5][0])
        return xstrdup (f[5]);
    }
  return xstrdup ("/");
}

/* The filter, built here (FILTER) or compiled already (O's program). */
static int
load_seccomp (scmp_filter_ctx filter, const struct berth_exec_opts *o, int *notify_fd, berth_err_t *err)
{
  return filter ? berth_seccomp_load (filter, notify_fd, err)
                : berth_seccomp_load_program (o->seccomp_bpf, o->seccomp_bpf_len, err);
}

int
berth_process_exec (struct berth_process *p, const struct berth_exec_opts *o, berth_err_t *err)
{
  scmp_filter_ctx filter = NULL;
  cleanup_free char *exe = NULL;
  int notify_fd = -1;
  bool seccomp_loaded = false, seccomp = false;
  int ret = -1;

  if (p->args == NULL || p->args[0] == NULL)
    return berth_error (err, 0, "process.args: no command given");
  if (berth_apply_rlimits (p, err) < 0)
    return -1;
  if (p->has_io_priority
      && syscall (SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (p->io_priority_class << 13) | p->io_priority) < 0)
    return berth_error (err, errno, "process.ioPriority: ioprio_set");
  if (p->apparmor_profile && p->apparmor_profile[0])
    {
      /* Asked of the kernel, not of /sys/kernel/security: that is the
         host's, and the container's mounts are in place by now.  The
         LSM's own file first (5.8+), then the shared one. */
      cleanup_free char *v = xasprintf ("exec %s", p->apparmor_profile);
      berth_err_t e2 = NULL;
      if (write_file_at (AT_FDCWD, "/proc/self/attr/apparmor/exec", v, strlen (v), &e2) < 0)
        {
          berth_error_release (&e2);
          if (write_file_at (AT_FDCWD, "/proc/self/attr/exec", v, strlen (v), &e2) < 0)
            {
              int e = e2->status;
              berth_error_release (&e2);
              return berth_error (err, e,
                                  "process.apparmorProfile \"%s\": AppArmor is not enabled on this host or has no "
                                  "such profile loaded",
                                  p->apparmor_profile);
            }
        }
    }
  if (enter_cwd (p->cwd, o->create_cwd, err) < 0)
    return -1;
  if (env_get (p->env, "HOME") == NULL)
    {
      cleanup_free char *home = passwd_home (p->uid);
      env_put (&p->env, "HOME", home);
    }
  /* Socket activation: the fds passed on are ours, and systemd's protocol
     says whose they are by pid (the one that execs, ours). */
  if (o->preserve_fds > 0 && env_get (p->env, "LISTEN_FDS"))
    {
      char pid[16];
      snprintf (pid, sizeof (pid), "%d", (int)getpid ());
      env_put (&p->env, "LISTEN_PID", pid);
    }
  if (o->seccomp && o->seccomp_bpf == NULL && berth_seccomp_build (o->seccomp, &filter, err) < 0)
    return -1;
  seccomp = filter || o->seccomp_bpf;

  if (p->has_caps && drop_bounding (p->caps[CAP_SET_BOUNDING], err) < 0)
    goto out;
  /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the
     user change below may take away: load it now (runc does the same). */
  if (seccomp && !p->no_new_privileges)
    {
      if (load_seccomp (filter, o, &notify_fd, err) < 0)
        goto out;
      seccomp_loaded = true;
    }
  if (p->has_caps && prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    {
      berth_error (err, errno, "prctl PR_SET_KEEPCAPS");
      goto out;
    }
  if (change_user (p, o, err) < 0)
    goto out;
  if (p->has_caps)
    {
      if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        {
          berth_error (err, errno, "prctl PR_SET_KEEPCAPS");
          goto out;
        }
      if (berth_apply_caps (p, err) < 0)
        goto out;
    }
  if (p->umask >= 0)
    umask ((mode_t)p->umask);
  if (p->no_new_privileges && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    {
      berth_error (err, errno, "prctl PR_SET_NO_NEW_PRIVS");
      goto out;
    }
  /* Look the command up before seccomp: the filter may deny stat. */
  if (berth_find_executable (p->args[0], p->env, &exe, err) < 0)
    goto out;
  if (seccomp && !seccomp_loaded && load_seccomp (filter, o, &notify_fd, err) < 0)
    goto out;
  /* The notify fd goes to whoever waits for our exec; it passes it on to
     linux.seccomp.listenerPath with the container's state. */
  if (notify_fd >= 0)
    {
      if (o->notify_sock < 0)
        {
          berth_error (err, 0, "linux.seccomp: SCMP_ACT_NOTIFY has nobody to hand the listener fd to");
          goto out;
        }
      if (berth_send_fd (o->notify_sock, notify_fd, "N", err) < 0)
        goto out;
      close (notify_fd);
    }
  /* Only stdio and the preserved fds reach the process (CVE-2024-21626). */
  if (close_fds_from (3 + o->preserve_fds, true, err) < 0)
    goto out;
  execve (exe, p->args, p->env ? p->env : (char *[]){ NULL });
  exec_error (err, errno, p->args[0]);
out:
  if (filter)
    seccomp_release (filter);
  return ret;
}
