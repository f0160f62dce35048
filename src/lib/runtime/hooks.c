#include "lib/runtime/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "lib/base/cloned_binary.h"
#include "lib/base/utils.h"
#include <sched.h>

const char *
berth_hook_kind_name (int kind)
{
  static const char *names[HOOK_KIND_COUNT]
      = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" };
  return kind >= 0 && kind < HOOK_KIND_COUNT ? names[kind] : "unknown";
}

static int
run_hook (struct berth_hook *h, int kind_id, size_t idx, const char *state, berth_err_t *err)
{
  const char *kind = berth_hook_kind_name (kind_id);
  int in[2];
  pid_t pid;
  int status;
  cleanup_close int pidfd = -1;

  if (pipe2 (in, O_CLOEXEC) < 0)
    return berth_error (err, errno, "hooks.%s[%zu]: pipe", kind, idx);
  pid = fork ();
  if (pid < 0)
    {
      close (in[0]);
      close (in[1]);
      return berth_error (err, errno, "hooks.%s[%zu]: fork", kind, idx);
    }
  if (pid == 0)
    {
      char *default_args[] = { h->path, NULL };
      /* Hooks of the runtime namespace run in the host's mount namespace,
         not in the private one the runtime may have moved to. */
      if (kind_id != HOOK_CREATE_CONTAINER && kind_id != HOOK_START_CONTAINER && berth_host_mntns () >= 0
          && setns (berth_host_mntns (), CLONE_NEWNS) < 0)
        _exit (126);
      dup2 (in[0], 0);
      /* A hook's output must not end up in the container's stdout (which
         may be the caller's pipe): send it to our stderr. */
      dup2 (2, 1);
      setpgid (0, 0);
      /* No env in the hook: the runtime's own, as runc and crun run it. */
      execve (h->path, h->args ? h->args : default_args, h->env ? h->env : environ);
      _exit (127);
    }
  close (in[0]);
  /* The hook may not read stdin at all: ignore EPIPE. */
  {
    struct sigaction sa = { .sa_handler = SIG_IGN }, old;
    sigaction (SIGPIPE, &sa, &old);
    (void)write_all (in[1], state, strlen (state));
    sigaction (SIGPIPE, &old, NULL);
  }
  close (in[1]);

  pidfd = (int)syscall (SYS_pidfd_open, pid, 0);
  if (h->timeout > 0)
    {
      struct timespec start, now;
      clock_gettime (CLOCK_MONOTONIC, &start);
      for (;;)
        {
          pid_t r = waitpid (pid, &status, WNOHANG);
          long elapsed;
          if (r == pid)
            break;
          if (r < 0 && errno != EINTR)
            return berth_error (err, errno, "hooks.%s[%zu]: waitpid", kind, idx);
          clock_gettime (CLOCK_MONOTONIC, &now);
          elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
          if (elapsed >= h->timeout * 1000L)
            {
              kill (-pid, SIGKILL);
              kill (pid, SIGKILL);
              waitpid (pid, &status, 0);
              return berth_error (err, ETIMEDOUT, "hooks.%s[%zu]: `%s` did not finish within %d s", kind, idx, h->path,
                                  h->timeout);
            }
          if (pidfd >= 0)
            {
              struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
              poll (&pfd, 1, (int)(h->timeout * 1000L - elapsed));
            }
          else
            usleep (1000);
        }
    }
  else
    while (waitpid (pid, &status, 0) < 0)
      if (errno != EINTR)
        return berth_error (err, errno, "hooks.%s[%zu]: waitpid", kind, idx);

  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  if (WIFEXITED (status))
    return berth_error (err, 0, "hooks.%s[%zu]: `%s` exited with status %d", kind, idx, h->path, WEXITSTATUS (status));
  return berth_error (err, 0, "hooks.%s[%zu]: `%s` was killed by signal %d", kind, idx, h->path, WTERMSIG (status));
}

int
berth_run_hooks (struct berth_spec *spec, int kind, const char *state, berth_err_t *err)
{
  for (size_t i = 0; i < spec->n_hooks[kind]; i++)
    if (run_hook (&spec->hooks[kind][i], kind, i, state, err) < 0)
      return -1;
  return 0;
}

int
berth_run_hooks_all (struct berth_spec *spec, int kind, const char *state, berth_err_t *err)
{
  int ret = 0;
  for (size_t i = 0; i < spec->n_hooks[kind]; i++)
    {
      berth_err_t e = NULL;
      if (run_hook (&spec->hooks[kind][i], kind, i, state, &e) < 0)
        {
          if (*err == NULL)
            *err = e;
          else
            berth_error_release (&e);
          ret = -1;
        }
    }
  return ret;
}
