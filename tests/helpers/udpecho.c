/* udpecho PORT: a UDP server for the networking tests, static so that it
   runs in any container (bind-mounted in): answers each datagram with
   "echo: " and the datagram. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int
main (int argc, char **argv)
{
  struct sockaddr_in sa = { .sin_family = AF_INET };
  int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (argc != 2 || s < 0)
    return 2;
  sa.sin_port = htons ((unsigned short) atoi (argv[1]));
  if (bind (s, (struct sockaddr *) &sa, sizeof (sa)) < 0)
    {
      perror ("bind");
      return 1;
    }
  for (;;)
    {
      char buf[2048], out[2100];
      struct sockaddr_in from;
      socklen_t fl = sizeof (from);
      ssize_t n = recvfrom (s, buf, sizeof (buf), 0, (struct sockaddr *) &from, &fl);
      int m;
      if (n < 0)
        continue;
      m = snprintf (out, sizeof (out), "echo: %.*s", (int) n, buf);
      sendto (s, out, (size_t) m, 0, (struct sockaddr *) &from, fl);
    }
}
