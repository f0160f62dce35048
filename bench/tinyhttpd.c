/* tinyhttpd PORT DIR: a one-process HTTP/1.0 file server for bench/net.sh,
   static so that it runs unchanged on the host, in a container and in a
   VM.  It never forks, so what the benchmark measures is the network path
   (and not process creation, which software emulation makes slow). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  struct sockaddr_in sa = { .sin_family = AF_INET };
  int one = 1, s = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (argc != 3 || s < 0)
    return 2;
  sa.sin_port = htons ((unsigned short) atoi (argv[1]));
  setsockopt (s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
  if (bind (s, (struct sockaddr *) &sa, sizeof (sa)) < 0 || listen (s, 64) < 0 || chdir (argv[2]) < 0)
    {
      perror ("tinyhttpd");
      return 1;
    }
  for (;;)
    {
      char req[4096], path[256], head[256];
      ssize_t n;
      int c = accept4 (s, NULL, NULL, SOCK_CLOEXEC), f;
      struct stat sb;
      if (c < 0)
        continue;
      n = read (c, req, sizeof (req) - 1);
      if (n <= 0)
        {
          close (c);
          continue;
        }
      req[n] = 0;
      /* "GET /name HTTP/1.x": only plain names in DIR. */
      if (sscanf (req, "GET /%255[A-Za-z0-9._-] ", path) != 1 || (f = open (path, O_RDONLY | O_CLOEXEC)) < 0)
        {
          static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
          (void) !write (c, nf, sizeof (nf) - 1);
          close (c);
          continue;
        }
      fstat (f, &sb);
      n = snprintf (head, sizeof (head), "HTTP/1.0 200 OK\r\nContent-Length: %lld\r\n\r\n", (long long) sb.st_size);
      setsockopt (c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
      if (write (c, head, (size_t) n) == n)
        {
          off_t off = 0;
          while (off < sb.st_size && sendfile (c, f, &off, (size_t) (sb.st_size - off)) > 0)
            ;
        }
      close (f);
      close (c);
    }
}
