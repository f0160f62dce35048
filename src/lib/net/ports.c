/* Published ports: -p specs, and host ports held while they are set up. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/cloned_binary.h"
#include "lib/base/nft_dl.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/net/internal.h"
#include "lib/net/net.h"
#include "lib/net/netlink.h"
/* ----------------------------------------------------------- ports */

int
net_parse_range (const char *s, int *lo, int *hi)
{
  char *end;
  long a = strtol (s, &end, 10), b = a;
  if (end == s)
    return -1;
  if (*end == '-')
    {
      const char *t = end + 1;
      b = strtol (t, &end, 10);
      if (end == t)
        return -1;
    }
  if (*end || a < 1 || b > 65535 || b < a)
    return -1;
  *lo = (int)a;
  *hi = (int)b;
  return 0;
}

int
berth_net_parse_publish (const char *spec, json_t *bindings, berth_err_t *err)
{
  cleanup_free char *copy = xstrdup (spec);
  char *proto = strrchr (copy, '/'), *parts[3];
  int n = 0, clo, chi, hlo = 0, hhi = 0;
  const char *hostip = "";
  struct in_addr a;
  if (proto)
    {
      *proto++ = 0;
      if (strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0)
        return berth_error (err, 0, "-p %s: the protocol must be tcp or udp", spec);
    }
  else
    proto = (char *)"tcp";
  /* IP:HOST:CTR, HOST:CTR or CTR; the IP may be empty ("::80" style). */
  for (char *p = copy, *c;; p = c + 1)
    {
      parts[n++] = p;
      c = strchr (p, ':');
      if (c == NULL || n == 3)
        break;
      *c = 0;
    }
  if (n == 3 && strchr (parts[2], ':'))
    return berth_error (err, 0, "-p %s: use [IP:]HOSTPORT:CONTAINERPORT[/PROTO] (IPv4 only)", spec);
  if (n == 3)
    {
      hostip = parts[0];
      if (hostip[0] && inet_pton (AF_INET, hostip, &a) != 1)
        return berth_error (err, 0, "-p %s: \"%s\" is not an IPv4 address", spec, hostip);
    }
  if (net_parse_range (parts[n - 1], &clo, &chi) < 0)
    return berth_error (err, 0, "-p %s: \"%s\" is not a container port or range (1-65535)", spec, parts[n - 1]);
  if (n >= 2 && parts[n - 2][0] && net_parse_range (parts[n - 2], &hlo, &hhi) < 0)
    return berth_error (err, 0, "-p %s: \"%s\" is not a host port or range (1-65535)", spec, parts[n - 2]);
  if (hlo && hhi - hlo != chi - clo && clo != chi)
    return berth_error (err, 0, "-p %s: the host and container ranges differ in length", spec);
  for (int c = clo; c <= chi; c++)
    {
      cleanup_free char *key = xasprintf ("%d/%s", c, proto);
      json_t *list = json_object_get (bindings, key);
      json_t *hp;
      if (hlo == 0)
        hp = json_string ("");
      else if (clo == chi && hlo != hhi)
        hp = json_sprintf ("%d-%d", hlo, hhi); /* one port, chosen from the range at start */
      else
        hp = json_sprintf ("%d", hlo + (c - clo));
      if (list == NULL)
        {
          list = json_array ();
          json_object_set_new (bindings, key, list);
        }
      json_array_append_new (list, json_pack ("{s:s,s:o}", "HostIp", hostip, "HostPort", hp));
    }
  return 0;
}

int
berth_net_parse_expose (const char *spec, json_t *ports, berth_err_t *err)
{
  cleanup_free char *copy = xstrdup (spec);
  char *proto = strchr (copy, '/');
  int lo, hi;
  if (proto)
    *proto++ = 0;
  if ((proto && strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0) || net_parse_range (copy, &lo, &hi) < 0)
    return berth_error (err, 0, "port \"%s\": use PORT[-PORT][/tcp|/udp]", spec);
  for (int p = lo; p <= hi; p++)
    {
      cleanup_free char *k = xasprintf ("%d/%s", p, proto ? proto : "tcp");
      json_object_set_new (ports, k, json_object ());
    }
  return 0;
}

/* Binds the host port without listening: nothing else can take it while
   the container runs, and DNAT sends the traffic past it to the container. */
int
net_reserve_port (const char *hostip, int port, bool udp, int *fd_out, int *port_out)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t)port) };
  socklen_t sl = sizeof (sa);
  int fd = socket (AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (hostip && hostip[0])
    inet_pton (AF_INET, hostip, &sa.sin_addr);
  if (bind (fd, (struct sockaddr *)&sa, sizeof (sa)) < 0 || getsockname (fd, (struct sockaddr *)&sa, &sl) < 0)
    {
      int e = errno;
      close (fd);
      return -e;
    }
  *fd_out = fd;
  *port_out = ntohs (sa.sin_port);
  return 0;
}

void
berth_net_ports_release (struct berth_net_ports *held)
{
  for (int i = 0; i < held->n; i++)
    close (held->fds[i]);
  held->n = 0;
}
