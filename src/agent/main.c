/* berth-agent's main: berth-init, or PID 1 of a VM's guest serving the
   host until the container is gone. */
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

#include "agent/agent.h"

/* berth-init: the same binary as a container's PID 1 (run --init), as
   docker's tini: it forwards signals to the command, reaps every orphan,
   and exits with the command's status (128+N for a signal). */
int
init_main (int argc, char **argv)
{
  sigset_t all, old;
  pid_t child;
  int first = 1;
  if (argc > 1 && strcmp (argv[1], "--") == 0)
    first = 2;
  if (first >= argc)
    {
      fprintf (stderr, "berth-init: usage: berth-init [--] COMMAND [ARG...]\n");
      return 2;
    }
  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, &old);
  child = fork ();
  if (child < 0)
    {
      perror ("berth-init: fork");
      return 1;
    }
  if (child == 0)
    {
      sigprocmask (SIG_SETMASK, &old, NULL);
      /* The command gets the terminal's foreground, as it would alone. */
      setpgid (0, 0);
      tcsetpgrp (0, getpid ());
      execvp (argv[first], argv + first);
      fprintf (stderr, "berth-init: exec %s: %s\n", argv[first], strerror (errno));
      _exit (errno == ENOENT ? 127 : 126);
    }
  setpgid (child, child);
  for (;;)
    {
      siginfo_t si;
      int sig = sigwaitinfo (&all, &si);
      if (sig < 0)
        continue;
      if (sig != SIGCHLD)
        {
          kill (child, sig);
          continue;
        }
      for (;;)
        {
          int status;
          pid_t w = waitpid (-1, &status, WNOHANG);
          if (w <= 0)
            break;
          if (w == child)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        }
    }
}

/* Output of a connection from a mapped socket, to the host. */
static void
conn_readable (int k)
{
  char buf[65536];
  ssize_t n;
  berth_err_t err = NULL;
  if (!conns[k].used)
    return;
  n = read (conns[k].fd, buf, sizeof (buf));
  if (n > 0)
    berth_frame_write (port, BERTH_F_DATA, conns[k].sid, buf, (size_t)n, &err);
  else
    {
      berth_frame_write (port, BERTH_F_CLOSE, conns[k].sid, "{}", 2, &err);
      conns[k].rd_done = true;
      conn_done (k);
    }
  berth_error_release (&err);
}

/* Output of a process (FD is its stdout, stderr or pty), to the host. */
static void
proc_readable (struct proc *p, int fd)
{
  char buf[65536];
  ssize_t n;
  berth_err_t err = NULL;
  if (!p->used)
    return;
  n = read (fd, buf, sizeof (buf));
  if (n <= 0)
    {
      if (fd == p->out)
        closep (&p->out);
      else if (fd == p->err)
        closep (&p->err);
      else
        closep (&p->master);
      return;
    }
  if (berth_frame_write (port, fd == p->err ? BERTH_F_STDERR : BERTH_F_STDOUT, p->sid, buf, (size_t)n, &err) < 0)
    berth_error_release (&err);
}

/* SIGCHLD: every exited child, ours or an orphan (we are PID 1). */
static void
reap_children (int sfd)
{
  struct signalfd_siginfo si;
  while (read (sfd, &si, sizeof (si)) > 0)
    ;
  for (;;)
    {
      int status;
      pid_t w = waitpid (-1, &status, WNOHANG);
      if (w <= 0)
        return;
      for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].used && procs[i].pid == w)
          {
            procs[i].exited = true;
            procs[i].status = status;
            procs[i].exited_at = now_ms ();
            if (procs[i].sid == 0)
              trace_step ("reaped");
          }
    }
}

/* Frames from the host; a broken frame resets the channel. */
static void
port_readable (struct berth_frame_reader *rd)
{
  berth_err_t err = NULL;
  struct berth_frame f;
  int r = berth_frame_fill (rd, port, &err);
  if (r < 0 && err->status != EAGAIN)
    {
      logmsg ("%s", err->msg);
      berth_error_release (&err);
      usleep (10000);
    }
  berth_error_release (&err);
  /* A virtio port reads 0 while the host side is not connected. */
  if (r == 0)
    usleep (10000);
  while (r > 0 && (r = berth_frame_next (rd, &f, &err)) == 1)
    handle_frame (&f);
  if (r < 0)
    {
      logmsg ("%s: resetting the channel", err->msg);
      berth_error_release (&err);
      rd->len = rd->consumed = 0;
    }
}

/* Serves the host until the poll fails (the guest then powers off). */
static void
serve (int sfd)
{
  struct berth_frame_reader *rd = &port_rd;
  for (;;)
    {
      struct pollfd pf[3 + 3 * MAX_PROCS + BERTH_MAX_SOCKETS + MAX_CONNS];
      struct proc *owner[2 + 3 * MAX_PROCS];
      int np = 0, timeout = -1, nsock;
      pf[np] = (struct pollfd){ .fd = port, .events = POLLIN };
      owner[np++] = NULL;
      pf[np] = (struct pollfd){ .fd = sfd, .events = POLLIN };
      owner[np++] = NULL;
      for (int i = 0; i < MAX_PROCS; i++)
        {
          struct proc *p = &procs[i];
          int fds[3] = { p->out, p->err, p->master };
          if (!p->used)
            continue;
          for (int k = 0; k < 3; k++)
            if (fds[k] >= 0)
              {
                pf[np] = (struct pollfd){ .fd = fds[k], .events = POLLIN };
                owner[np++] = p;
              }
          if (p->exited)
            timeout = 100;
        }
      balloon_tick (&timeout);
      nsock = np;
      for (int i = 0; i < n_socks; i++)
        pf[np++] = (struct pollfd){ .fd = sock_listen[i], .events = POLLIN };
      for (int k = 0; k < MAX_CONNS; k++)
        pf[np++] = (struct pollfd){ .fd = conns[k].used && !conns[k].rd_done ? conns[k].fd : -1, .events = POLLIN };
      pf[np++] = (struct pollfd){ .fd = dns_fd, .events = POLLIN };
      if (poll (pf, (nfds_t)np, timeout) < 0 && errno != EINTR)
        {
          logmsg ("poll: %s", strerror (errno));
          return;
        }
      for (int i = 0; i < n_socks; i++)
        if (pf[nsock + i].revents)
          socket_accept (i);
      for (int k = 0; k < MAX_CONNS; k++)
        if (pf[nsock + n_socks + k].revents)
          conn_readable (k);
      if (pf[nsock + n_socks + MAX_CONNS].revents)
        dns_readable ();
      for (int k = 2; k < nsock; k++)
        if (pf[k].revents)
          proc_readable (owner[k], pf[k].fd);
      if (pf[1].revents)
        reap_children (sfd);
      if (pf[0].revents)
        port_readable (rd);
      for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].used)
          maybe_finish (&procs[i]);
    }
}

int
main (int argc, char **argv)
{
  const char *base = strrchr (argv[0], '/') ? strrchr (argv[0], '/') + 1 : argv[0];
  sigset_t mask;
  int sfd, c;
  struct utsname un;

  if (strcmp (base, "berth-init") == 0)
    return init_main (argc, argv);
  if (getpid () != 1)
    {
      fprintf (stderr, "berth-agent: runs as the guest's init (PID 1), inside a berth VM\n");
      return 1;
    }
  c = fcntl (2, F_DUPFD_CLOEXEC, 10);
  if (c >= 0)
    console_fd = c;
  boot_start_ms = boottime_ms ();
  trace_step ("agent");
  boot ();
  trace_step ("booted");
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  signal (SIGPIPE, SIG_IGN);
  port = open_port ();
  if (port < 0)
    {
      logmsg ("no berth.agent virtio port: powering off");
      reboot (RB_POWER_OFF);
    }
  uname (&un);
  trace_step ("ready");
  /* Boot timing as the guest saw it: kernel until our start, then ours. */
  send_json (BERTH_F_READY, 0,
             json_pack ("{s:s,s:I,s:I}", "kernel", un.release, "uptime_ms", (json_int_t)boottime_ms (),
                        "agent_start_ms", (json_int_t)boot_start_ms));
  serve (sfd);
  reboot (RB_POWER_OFF);
  return 0;
}
