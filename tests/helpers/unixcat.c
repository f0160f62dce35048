/* unixcat PATH: stdin to a unix stream socket, the socket to stdout; a
   static client the tests put into containers (busybox's nc has no unix
   sockets). */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  char buf[4096];
  int fd, in_open = 1;
  if (argc != 2 || strlen (argv[1]) >= sizeof (a.sun_path))
    return fprintf (stderr, "usage: unixcat PATH\n"), 2;
  strcpy (a.sun_path, argv[1]);
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *)&a, sizeof (a)) < 0)
    return perror ("unixcat: connect"), 1;
  for (;;)
    {
      struct pollfd p[2] = { { .fd = in_open ? 0 : -1, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
      ssize_t n;
      if (poll (p, 2, -1) < 0)
        return 1;
      if (p[0].revents)
        {
          n = read (0, buf, sizeof (buf));
          if (n <= 0)
            {
              shutdown (fd, SHUT_WR);
              in_open = 0;
            }
          else if (write (fd, buf, (size_t)n) != n)
            return 1;
        }
      if (p[1].revents)
        {
          n = read (fd, buf, sizeof (buf));
          if (n <= 0)
            return 0;
          if (write (1, buf, (size_t)n) != n)
            return 1;
        }
    }
}
