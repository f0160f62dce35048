/* Test helper: a linux.seccomp.listenerPath peer.  Accepts connections on
   SOCKET; each brings the container process state (JSON, written to
   STATEFILE) and a seccomp notify fd.  Every notified syscall is answered
   with errno EXDEV, so a test can see that the listener decided. */
#include <errno.h>
#include <poll.h>
#include <seccomp.h>
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
  int ls, fds[16], nfds = 0;

  if (argc != 3 || strlen (argv[1]) >= sizeof (addr.sun_path))
    {
      fprintf (stderr, "usage: seccomp-listener SOCKET STATEFILE\n");
      return 2;
    }
  strcpy (addr.sun_path, argv[1]);
  unlink (argv[1]);
  ls = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0 || bind (ls, (struct sockaddr *) &addr, sizeof (addr)) < 0 || listen (ls, 4) < 0)
    {
      perror ("seccomp-listener: listen");
      return 1;
    }
  for (;;)
    {
      struct pollfd p[17];
      p[0].fd = ls;
      p[0].events = POLLIN;
      for (int i = 0; i < nfds; i++)
        {
          p[i + 1].fd = fds[i];
          p[i + 1].events = POLLIN;
        }
      int polled = nfds;
      if (poll (p, (nfds_t) nfds + 1, -1) < 0)
        continue;
      if (p[0].revents & POLLIN)
        {
          char buf[8192], cbuf[CMSG_SPACE (sizeof (int))];
          struct iovec iov = { .iov_base = buf, .iov_len = sizeof (buf) - 1 };
          struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof (cbuf) };
          int c = accept (ls, NULL, NULL);
          ssize_t n = c < 0 ? -1 : recvmsg (c, &msg, 0);
          struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR (&msg) : NULL;
          if (cm && cm->cmsg_type == SCM_RIGHTS && nfds < 16)
            {
              FILE *f = fopen (argv[2], "a");
              buf[n] = '\0';
              if (f)
                {
                  fprintf (f, "%s\n", buf);
                  fclose (f);
                }
              memcpy (&fds[nfds++], CMSG_DATA (cm), sizeof (int));
            }
          if (c >= 0)
            close (c);
        }
      {
        for (int k = 0; k < polled; k++)
          {
            int fd = p[k + 1].fd;
            struct seccomp_notif *req;
            struct seccomp_notif_resp *resp;
            if (p[k + 1].revents == 0)
              continue;
            if (p[k + 1].revents & (POLLHUP | POLLERR))
              {
                /* the filter's last user is gone */
                for (int i = 0; i < nfds; i++)
                  if (fds[i] == fd)
                    fds[i] = fds[--nfds];
                close (fd);
                continue;
              }
            if (seccomp_notify_alloc (&req, &resp) < 0)
              continue;
            if (seccomp_notify_receive (fd, req) == 0)
              {
                resp->id = req->id;
                resp->val = 0;
                resp->error = -EXDEV;
                resp->flags = 0;
                seccomp_notify_respond (fd, resp);
              }
            seccomp_notify_free (req, resp);
          }
      }
    }
}
