/* Host unix sockets mapped into the container: the agent listens in their
   place and carries each connection as a session. */
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
#include <netinet/in.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"

int
make_sockets (const struct berth_req_create *r, berth_err_t *err)
{
  if (r->n_sockets && mkdir_p ("/run/berth/sockets", 0755, err) < 0)
    return -1;
  for (size_t i = 0; i < r->n_sockets; i++)
    {
      struct sockaddr_un addr = { .sun_family = AF_UNIX };
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0)
        return berth_error (err, errno, "socket");
      snprintf (addr.sun_path, sizeof (addr.sun_path), "/run/berth/sockets/s%zu", i);
      if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0 || listen (fd, 64) < 0
          || chmod (addr.sun_path, r->socket_modes[i]) < 0)
        {
          close (fd);
          return berth_error (err, errno, "listen on %s", addr.sun_path);
        }
      sock_listen[n_socks++] = fd;
    }
  return 0;
}

void
conn_done (int k)
{
  if (conns[k].rd_done && conns[k].wr_done)
    {
      close (conns[k].fd);
      conns[k].used = false;
    }
}

void
socket_frame (struct berth_frame *f)
{
  for (int k = 0; k < MAX_CONNS; k++)
    if (conns[k].used && conns[k].sid == f->sid)
      {
        if (f->type == BERTH_F_DATA && !conns[k].wr_done)
          {
            if (write_all (conns[k].fd, f->data, f->len) < 0)
              conns[k].wr_done = true;
          }
        else if (f->type == BERTH_F_CLOSE)
          {
            shutdown (conns[k].fd, SHUT_WR);
            conns[k].wr_done = true;
            /* Refused by the host before any byte: nothing more to read. */
            conn_done (k);
          }
        return;
      }
}

void
socket_accept (int idx)
{
  int fd = accept4 (sock_listen[idx], NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return;
  for (int k = 0; k < MAX_CONNS; k++)
    if (!conns[k].used)
      {
        conns[k] = (typeof (conns[k])){ .used = true, .sid = next_conn_sid++, .fd = fd };
        if (next_conn_sid < BERTH_SID_GUEST)
          next_conn_sid = BERTH_SID_GUEST;
        send_json (BERTH_F_CONNECT, conns[k].sid, json_pack ("{s:i}", "socket", idx));
        return;
      }
  close (fd);
}

/* ------------------------------------------------------ Docker's DNS */

/* The container's resolv.conf names Docker's embedded DNS server,
   127.0.0.11, which here is the guest's own loopback: the agent answers
   there and hands each query to the shim, which asks Docker's server in
   the container's network namespace on the host (shim.c). */
int dns_fd = -1;
static struct
{
  uint32_t sid;
  struct sockaddr_in from;
  long long at; /* 0: a free slot */
} dns_q[64];

int
make_dns_relay (bool on, berth_err_t *err)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (53) };
  if (!on)
    return 0;
  dns_fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (dns_fd < 0)
    return berth_error (err, errno, "socket");
  sa.sin_addr.s_addr = htonl (0x7f00000b); /* 127.0.0.11 */
  if (bind (dns_fd, (struct sockaddr *)&sa, sizeof (sa)) < 0)
    {
      close (dns_fd);
      dns_fd = -1;
      return berth_error (err, errno, "listen on 127.0.0.11:53 for Docker's DNS");
    }
  return 0;
}

void
dns_readable (void)
{
  unsigned char msg[BERTH_DNS_MAX];
  struct sockaddr_in from;
  socklen_t fl = sizeof (from);
  ssize_t n;
  while ((n = recvfrom (dns_fd, msg, sizeof (msg), 0, (struct sockaddr *)&from, &fl)) >= 0)
    {
      berth_err_t err = NULL;
      int k = 0;
      if (n >= 12)
        {
          for (int i = 0; i < (int)ARRAY_SIZE (dns_q); i++)
            if (dns_q[i].at < dns_q[k].at)
              k = i;
          dns_q[k].sid = next_conn_sid++;
          if (next_conn_sid < BERTH_SID_GUEST)
            next_conn_sid = BERTH_SID_GUEST;
          dns_q[k].from = from;
          dns_q[k].at = now_ms ();
          if (berth_frame_write (port, BERTH_F_DNS, dns_q[k].sid, msg, (size_t)n, &err) < 0)
            berth_error_release (&err);
        }
      fl = sizeof (from);
    }
}

void
dns_answer (const struct berth_frame *f)
{
  for (int k = 0; k < (int)ARRAY_SIZE (dns_q); k++)
    if (dns_q[k].at && dns_q[k].sid == f->sid)
      {
        (void)sendto (dns_fd, f->data, f->len, MSG_DONTWAIT, (struct sockaddr *)&dns_q[k].from, sizeof (dns_q[k].from));
        dns_q[k].at = 0;
        return;
      }
}
