/* The processes the agent runs for the host (the container's init and
   each exec): their stdio and their end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/loop.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/runtime/container.h"
#include "agent/agent.h"

/* ------------------------------------------------------------ procs */

struct proc *
proc_new (uint32_t sid)
{
  for (int i = 0; i < MAX_PROCS; i++)
    if (!procs[i].used)
      {
        procs[i] = (struct proc){ .used = true, .sid = sid, .pid = -1, .in = -1, .out = -1, .err = -1, .master = -1 };
        return &procs[i];
      }
  return NULL;
}

struct proc *
proc_by_sid (uint32_t sid)
{
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i].used && procs[i].sid == sid)
      return &procs[i];
  return NULL;
}

void
closep (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

void
proc_free (struct proc *p)
{
  closep (&p->in);
  closep (&p->out);
  closep (&p->err);
  closep (&p->master);
  p->used = false;
}

/* Stdio for a new process: pipes, or a console socketpair for a tty.  The
   child's ends become our 0/1/2 for the runtime to hand on. */
int
stdio_prepare (struct proc *p, bool tty, int child_fds[3], int cons[2], berth_err_t *err)
{
  int in[2], out[2], er[2];
  cons[0] = cons[1] = -1;
  if (tty)
    {
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)
        return berth_error (err, errno, "socketpair");
      child_fds[0] = child_fds[1] = child_fds[2] = open ("/dev/null", O_RDWR | O_CLOEXEC);
      p->tty = true;
      return 0;
    }
  if (pipe2 (in, O_CLOEXEC) < 0 || pipe2 (out, O_CLOEXEC) < 0 || pipe2 (er, O_CLOEXEC) < 0)
    return berth_error (err, errno, "pipe");
  p->in = in[1];
  p->out = out[0];
  p->err = er[0];
  child_fds[0] = in[0];
  child_fds[1] = out[1];
  child_fds[2] = er[1];
  return 0;
}

void
stdio_install (const int child_fds[3])
{
  for (int i = 0; i < 3; i++)
    dup2 (child_fds[i], i);
}

void
stdio_restore (int child_fds[3])
{
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  for (int i = 0; i < 3; i++)
    dup2 (null, i);
  close (null);
  if (child_fds[0] == child_fds[1])
    close (child_fds[0]);
  else
    for (int i = 0; i < 3; i++)
      close (child_fds[i]);
}

/* After create or exec (R its result): our 0-2 back, the pty master
   taken from the console socket; on failure the process is killed and
   the request answered with the error. */
int
stdio_finish (struct proc *p, int child_fds[3], int cons[2], int r, pid_t pid, uint32_t sid, berth_err_t *err)
{
  stdio_restore (child_fds);
  closep (&cons[1]);
  if (r == 0 && p->tty && berth_recv_fd (cons[0], &p->master, err) < 0)
    r = -1;
  closep (&cons[0]);
  if (r == 0)
    return 0;
  if (pid > 0)
    kill (pid, SIGKILL);
  proc_free (p);
  send_error (sid, err);
  return -1;
}

/* A process is done when it has exited and its output is drained (or
   something it left behind still holds the pipe: then after a grace). */
void
maybe_finish (struct proc *p)
{
  if (!p->exited || ((p->out >= 0 || p->err >= 0 || p->master >= 0) && now_ms () - p->exited_at < 300))
    return;
  {
    int code = WIFEXITED (p->status) ? WEXITSTATUS (p->status) : 128 + WTERMSIG (p->status);
    struct member *m = p->sid ? member_by_sid (p->sid) : NULL;
    {
      if (p->sid == 0)
        trace_step ("exit");
      {
        /* The container's cgroup still exists (deleted later): whether
           its memory limit killed something, for inspect's OOMKilled. */
        long kills = p->sid == 0 ? berth_container_oom_kills (STATE_ROOT, CTR_ID)
                     : m         ? berth_container_oom_kills (STATE_ROOT, m->id)
                                 : 0;
        json_t *j = json_pack ("{s:i}", "code", code);
        if (kills > 0)
          json_object_set_new (j, "oom_kills", json_integer (kills));
        send_json (BERTH_F_EXIT, p->sid, j);
      }
    }
    thaw_now (p->thaw);
    p->thaw[0] = '\0';
    proc_free (p);
    /* A pod member whose init is gone: its container goes too. */
    if (m && !m->loading)
      member_free (m);
  }
}
