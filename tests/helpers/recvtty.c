/* Test helper: a --console-socket peer.  Listens on PATH, takes one pty
   master over SCM_RIGHTS, then copies everything it reads to stdout (and
   stdin, if given, to the pty) until the container's side closes. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char buf[4096], cbuf[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { .iov_base = buf, .iov_len = sizeof (buf) };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof (cbuf) };
  struct cmsghdr *c;
  int ls, conn, master;

  if (argc != 2 || strlen (argv[1]) >= sizeof (addr.sun_path))
    {
      fprintf (stderr, "usage: recvtty SOCKET\n");
      return 2;
    }
  strcpy (addr.sun_path, argv[1]);
  ls = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink (argv[1]);
  if (ls < 0 || bind (ls, (struct sockaddr *) &addr, sizeof (addr)) < 0 || listen (ls, 1) < 0)
    {
      perror ("recvtty: listen");
      return 1;
    }
  conn = accept4 (ls, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0 || recvmsg (conn, &msg, MSG_CMSG_CLOEXEC) <= 0)
    {
      perror ("recvtty: receive");
      return 1;
    }
  c = CMSG_FIRSTHDR (&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS)
    {
      fprintf (stderr, "recvtty: no fd received\n");
      return 1;
    }
  memcpy (&master, CMSG_DATA (c), sizeof (int));
  printf ("recvtty: got a terminal\n");
  fflush (stdout);
  for (;;)
    {
      struct pollfd p[2] = { { .fd = master, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
      ssize_t n;
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[0].revents)
        {
          n = read (master, buf, sizeof (buf));
          if (n <= 0)
            break;
          fwrite (buf, 1, (size_t) n, stdout);
          fflush (stdout);
        }
      if (p[1].revents)
        {
          n = read (0, buf, sizeof (buf));
          if (n > 0)
            (void) !write (master, buf, (size_t) n);
        }
    }
  return 0;
}
