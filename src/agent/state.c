/* The agent's state and its replies to the host. */
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

struct proc procs[MAX_PROCS];

/* Mapped host sockets: we listen in their place; each connection becomes
   a session the host completes to the real socket. */
int sock_listen[BERTH_MAX_SOCKETS];
int n_socks;

struct conn conns[MAX_CONNS];
uint32_t next_conn_sid = BERTH_SID_GUEST;
int port = -1;
struct berth_frame_reader port_rd;
pid_t init_pid = -1;
bool created, started;

/* The serial console, kept apart from fds 0-2, which carry each new
   container's stdio while the runtime creates it. */
int console_fd = 2;

void
logmsg (const char *fmt, ...)
{
  /* The host keeps the console in the container's console log. */
  va_list ap;
  va_start (ap, fmt);
  dprintf (console_fd, "berth-agent: ");
  vdprintf (console_fd, fmt, ap);
  dprintf (console_fd, "\n");
  va_end (ap);
}

/* With berth_debug=1 on the kernel command line (BERTH_VM_APPEND): when
   each step of the guest's part happened, in ms since boot. */
void
trace_step (const char *step)
{
  static int on = -1;
  struct timespec ts;
  if (on < 0)
    on = getenv ("berth_debug") != NULL;
  if (!on)
    return;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  logmsg ("t=%lld ms %s", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, step);
}

long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void
send_json (uint8_t type, uint32_t sid, json_t *j)
{
  berth_err_t err = NULL;
  if (berth_frame_write_json (port, type, sid, j, &err) < 0)
    {
      logmsg ("%s", err->msg);
      berth_error_release (&err);
    }
}

void
send_error (uint32_t sid, berth_err_t *err)
{
  send_json (BERTH_F_ERROR, sid,
             json_pack ("{s:s,s:i}", "message", (*err)->msg ? (*err)->msg : "error", "errno", (*err)->status));
  berth_error_release (err);
}

void
send_ok (uint32_t sid, json_t *j)
{
  send_json (BERTH_F_OK, sid, j ? j : json_object ());
}

struct member members[MAX_MEMBERS];
int next_member = 1;
