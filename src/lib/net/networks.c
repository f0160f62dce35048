/* Networks: their records under <root>/networks, created, listed,
   inspected and removed (docker network). */
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

char *
net_dir (const char *root)
{
  return xasprintf ("%s/networks", root);
}

char *
berth_net_netns_path (const char *root, const char *id)
{
  return xasprintf ("%s/netns/%s", root, id);
}

/* One lock for every network change: allocation, bridges, the table. */
int
net_lock (const char *root, berth_err_t *err)
{
  cleanup_free char *dir = net_dir (root);
  cleanup_free char *p = xasprintf ("%s/.lock", dir);
  int fd;
  if (mkdir_p (dir, 0700, err) < 0)
    return -1;
  fd = open (p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return berth_error (err, errno, "open `%s`", p);
  if (flock (fd, LOCK_EX) < 0)
    {
      close (fd);
      return berth_error (err, errno, "lock `%s`", p);
    }
  return fd;
}

int
berth_net_parse_cidr (const char *s, uint32_t *addr, int *prefix, berth_err_t *err)
{
  char buf[32];
  char *slash, *end;
  long p;
  struct in_addr a;
  if (strlen (s) >= sizeof (buf))
    return berth_error (err, 0, "\"%s\" is not an IPv4 subnet (A.B.C.D/N)", s);
  strcpy (buf, s);
  slash = strchr (buf, '/');
  if (slash == NULL)
    return berth_error (err, 0, "\"%s\" is not an IPv4 subnet (A.B.C.D/N)", s);
  *slash = 0;
  p = strtol (slash + 1, &end, 10);
  if (*end || slash[1] == 0 || p < 8 || p > 30 || inet_pton (AF_INET, buf, &a) != 1)
    return berth_error (err, 0, "\"%s\" is not an IPv4 subnet (A.B.C.D/N, N from 8 to 30)", s);
  if ((ntohl (a.s_addr) & ((1u << (32 - p)) - 1)) != 0)
    return berth_error (err, 0, "\"%s\": the address has bits set beyond the /%ld prefix", s, p);
  *addr = a.s_addr;
  *prefix = (int)p;
  return 0;
}

char *
net_ip_str (uint32_t a)
{
  char buf[INET_ADDRSTRLEN];
  inet_ntop (AF_INET, &a, buf, sizeof (buf));
  return xstrdup (buf);
}

bool
net_overlap (uint32_t a, int pa, uint32_t b, int pb)
{
  int p = pa < pb ? pa : pb;
  uint32_t m = htonl (p ? 0xffffffffu << (32 - p) : 0);
  return (a & m) == (b & m);
}

/* Refuses a subnet that a host route or another berth network covers. */
static int
subnet_free (const char *root, const char *self, uint32_t net, int prefix, const char *bridge, berth_err_t *err)
{
  cleanup_nl struct berth_nl *nl = NULL;
  json_t *all = NULL, *n;
  size_t i;
  bool ov = false;
  char route[64];
  cleanup_free char *s = net_ip_str (net);
  if (berth_net_list (root, &all, NULL, err) < 0)
    return -1;
  json_array_foreach (all, i, n)
  {
    uint32_t a;
    int p;
    berth_err_t e2 = NULL;
    if (self && strcmp (json_string_value (json_object_get (n, "Name")) ?: "", self) == 0)
      continue;
    if (berth_net_parse_cidr (json_string_value (json_object_get (n, "Subnet")) ?: "", &a, &p, &e2) == 0
        && net_overlap (a, p, net, prefix))
      {
        int r = berth_error_code (err, EEXIST, "the subnet %s/%d overlaps the network \"%s\" (%s)", s, prefix,
                                  json_string_value (json_object_get (n, "Name")),
                                  json_string_value (json_object_get (n, "Subnet")));
        json_decref (all);
        return r;
      }
    berth_error_release (&e2);
  }
  json_decref (all);
  if (berth_nl_open (-1, &nl, err) < 0 || berth_nl_route_overlaps (nl, net, prefix, bridge, &ov, route, err) < 0)
    return -1;
  if (ov)
    return berth_error_code (err, EEXIST, "the subnet %s/%d overlaps the host's route %s", s, prefix, route);
  return 0;
}

static int
save_net (const char *root, json_t *net, berth_err_t *err)
{
  cleanup_free char *dir = net_dir (root);
  cleanup_free char *p = xasprintf ("%s/%s.json", dir, json_string_value (json_object_get (net, "Name")));
  char *text = json_dumps (net, JSON_INDENT (1));
  int r = write_file_atomic (p, text, strlen (text), 0600, err);
  free (text);
  return r;
}

static json_t *
net_record (const char *name, uint32_t sub, int prefix, uint32_t gw, const char *bridge, bool internal, json_t *labels)
{
  char id[65];
  cleanup_free char *created = timestamp_rfc3339 ();
  cleanup_free char *s = net_ip_str (sub), *g = net_ip_str (gw);
  cleanup_free char *cidr = xasprintf ("%s/%d", s, prefix);
  random_hex (id, 32);
  return json_pack ("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:o}", "Name", name, "Id", id, "Created", created,
                    "Driver", "bridge", "Scope", "local", "Subnet", cidr, "Gateway", g, "Bridge", bridge, "Internal",
                    internal, "Dns", strcmp (name, BERTH_NET_DEFAULT) != 0, "Labels",
                    labels ? json_incref (labels) : json_object ());
}

int
net_load (const char *root, const char *name, json_t **out, berth_err_t *err)
{
  cleanup_free char *dir = net_dir (root);
  cleanup_free char *p = xasprintf ("%s/%s.json", dir, name);
  int r;
  if (strchr (name, '/') || name[0] == '.')
    return berth_error_code (err, ENOENT, "no such network: %s", name);
  r = json_load_path (p, out, err);
  if (r > 0)
    return berth_error_code (err, ENOENT, "no such network: %s", name);
  return r;
}

/* berth0 for the host's berth (/var/lib/berth); another state root gets
   a bridge of its own, so that two roots never share one bridge under two
   address allocators. */
static void
default_bridge (const char *root, char out[16])
{
  char real[4096];
  uint32_t h = 2166136261u;
  if (realpath (root, real) == NULL)
    snprintf (real, sizeof (real), "%s", root);
  if (strcmp (real, "/var/lib/berth") == 0)
    {
      strcpy (out, "berth0");
      return;
    }
  for (const char *c = real; *c; c++)
    h = (h ^ (uint8_t)*c) * 16777619u;
  snprintf (out, 16, "berth-%06x", h & 0xffffff);
}

json_t *
net_record_guess (const char *root, const char *name, json_t *ep)
{
  const char *nid = json_string_value (json_object_get (ep, "NetworkID"));
  const char *ip = json_string_value (json_object_get (ep, "IPAddress"));
  json_int_t prefix = json_integer_value (json_object_get (ep, "IPPrefixLen"));
  struct in_addr a;
  char bridge[16];
  cleanup_free char *sub = NULL, *cidr = NULL;
  if (ip == NULL || inet_pton (AF_INET, ip, &a) != 1 || prefix < 1 || prefix > 30)
    return NULL;
  if (strcmp (name, BERTH_NET_DEFAULT) == 0)
    default_bridge (root, bridge);
  else if (nid && strlen (nid) >= 12)
    snprintf (bridge, sizeof (bridge), "br-%.12s", nid);
  else
    return NULL;
  sub = net_ip_str (a.s_addr & htonl (~0u << (32 - prefix)));
  cidr = xasprintf ("%s/%d", sub, (int)prefix);
  return json_pack ("{s:s,s:s,s:s}", "Name", name, "Bridge", bridge, "Subnet", cidr);
}

int
berth_net_get (const char *root, const char *name, json_t **out, berth_err_t *err)
{
  char bridge[16];
  cleanup_close int lock = -1;
  json_t *net;
  cleanup_free char *want = NULL;
  uint32_t sub = 0, gw;
  int prefix = 16;
  berth_err_t e2 = NULL;
  if (net_load (root, name, out, &e2) == 0 || e2->status != ENOENT || strcmp (name, BERTH_NET_DEFAULT) != 0)
    {
      if (e2)
        {
          *err = e2;
          return -1;
        }
      return 0;
    }
  berth_error_release (&e2);
  lock = net_lock (root, err);
  if (lock < 0)
    return -1;
  if (net_load (root, name, out, &e2) == 0)
    return 0;
  berth_error_release (&e2);
  default_bridge (root, bridge);
  want = berth_config_string ("network", "subnet");
  if (want)
    {
      int r = berth_net_parse_cidr (want, &sub, &prefix, err);
      if (r == 0)
        r = subnet_free (root, name, sub, prefix, bridge, err);
      if (r < 0)
        return berth_error_wrap (err, "%s: network.subnet", berth_config_path ());
    }
  else
    {
      for (int second = 88; second > 60; second--)
        {
          sub = htonl ((10u << 24) | ((uint32_t)second << 16));
          if (subnet_free (root, name, sub, 16, bridge, &e2) == 0)
            break;
          if (e2->status != EEXIST || second == 61)
            {
              *err = e2;
              return berth_error_wrap (err, "no free subnet for the default network (set network.subnet in %s)",
                                       berth_config_path ());
            }
          berth_error_release (&e2);
        }
    }
  gw = htonl (ntohl (sub) + 1);
  net = net_record (name, sub, prefix, gw, bridge, false, NULL);
  if (save_net (root, net, err) < 0)
    {
      json_decref (net);
      return -1;
    }
  *out = net;
  return 0;
}

int
berth_net_create (const char *root, const char *name, const char *subnet, const char *gateway, bool internal,
                  json_t *labels, json_t **out, berth_err_t *err)
{
  cleanup_close int lock = -1;
  json_t *net = NULL;
  uint32_t sub = 0, gw;
  int prefix = 24;
  berth_err_t e2 = NULL;
  char bridge[16];
  if (!berth_name_valid (name, 1, 64))
    return berth_error (err, 0, "invalid network name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*", name);
  if (strcmp (name, "none") == 0 || strcmp (name, "host") == 0 || strcmp (name, BERTH_NET_DEFAULT) == 0)
    return berth_error (err, 0, "\"%s\" is a predefined network and cannot be created", name);
  if (berth_net_get (root, BERTH_NET_DEFAULT, &net, err) < 0) /* its subnet is taken first */
    return -1;
  json_decref (net);
  lock = net_lock (root, err);
  if (lock < 0)
    return -1;
  if (net_load (root, name, &net, &e2) == 0)
    {
      json_decref (net);
      return berth_error_code (err, EEXIST, "network with name %s already exists", name);
    }
  berth_error_release (&e2);
  if (subnet)
    {
      if (berth_net_parse_cidr (subnet, &sub, &prefix, err) < 0)
        return berth_error_wrap (err, "--subnet");
      if (subnet_free (root, name, sub, prefix, NULL, err) < 0)
        return berth_error_wrap (err, "--subnet");
    }
  else
    {
      int third;
      for (third = 0; third < 256; third++)
        {
          sub = htonl ((10u << 24) | (89u << 16) | ((uint32_t)third << 8));
          if (subnet_free (root, name, sub, 24, NULL, &e2) == 0)
            break;
          berth_error_release (&e2);
        }
      if (third == 256)
        return berth_error (err, 0, "no free subnet left in 10.89.0.0/16: give one with --subnet");
    }
  gw = htonl (ntohl (sub) + 1);
  if (gateway)
    {
      struct in_addr a;
      uint32_t m = htonl (0xffffffffu << (32 - prefix));
      if (inet_pton (AF_INET, gateway, &a) != 1 || (a.s_addr & m) != sub || a.s_addr == sub
          || (a.s_addr | m) == 0xffffffffu)
        return berth_error (err, 0, "--gateway %s is not a host address of %s", gateway,
                            subnet ? subnet : "the subnet");
      gw = a.s_addr;
    }
  net = net_record (name, sub, prefix, gw, "", internal, labels);
  snprintf (bridge, sizeof (bridge), "br-%.12s", json_string_value (json_object_get (net, "Id")));
  json_object_set_new (net, "Bridge", json_string (bridge));
  if (save_net (root, net, err) < 0)
    {
      json_decref (net);
      return -1;
    }
  *out = net;
  return 0;
}

int
berth_net_list (const char *root, json_t **out, json_t **bad, berth_err_t *err)
{
  cleanup_free char *dir = net_dir (root);
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  *out = json_array ();
  if (bad)
    *bad = json_array ();
  if (d == NULL)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open `%s`", dir);
  while ((de = readdir (d)))
    {
      size_t n = strlen (de->d_name);
      json_t *net = NULL;
      berth_err_t e2 = NULL;
      cleanup_free char *name = NULL;
      if (de->d_name[0] == '.' || n < 6 || strcmp (de->d_name + n - 5, ".json") != 0)
        continue;
      name = strndup (de->d_name, n - 5);
      if (net_load (root, name, &net, &e2) == 0)
        json_array_append_new (*out, net);
      else if (bad && e2->status != ENOENT) /* ENOENT: removed since readdir */
        json_array_append_new (*bad, json_pack ("{s:s,s:s}", "Name", name, "Error", e2->msg));
      berth_error_release (&e2);
    }
  return 0;
}
