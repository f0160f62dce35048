#include "lib/net/net.h"

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
#include "lib/net/netlink.h"
#include "lib/base/nft_dl.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"

#define NFT_TABLE "ip berth"

static void
nl_closep (struct berth_nl **p)
{
  berth_nl_close (*p);
}
#define cleanup_nl __attribute__ ((cleanup (nl_closep)))

static char *
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
static int
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

static char *
ip_str (uint32_t a)
{
  char buf[INET_ADDRSTRLEN];
  inet_ntop (AF_INET, &a, buf, sizeof (buf));
  return xstrdup (buf);
}

static bool
overlap (uint32_t a, int pa, uint32_t b, int pb)
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
  cleanup_free char *s = ip_str (net);
  if (berth_net_list (root, &all, err) < 0)
    return -1;
  json_array_foreach (all, i, n)
  {
    uint32_t a;
    int p;
    berth_err_t e2 = NULL;
    if (self && strcmp (json_string_value (json_object_get (n, "Name")) ?: "", self) == 0)
      continue;
    if (berth_net_parse_cidr (json_string_value (json_object_get (n, "Subnet")) ?: "", &a, &p, &e2) == 0
        && overlap (a, p, net, prefix))
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
  cleanup_free char *s = ip_str (sub), *g = ip_str (gw);
  cleanup_free char *cidr = xasprintf ("%s/%d", s, prefix);
  random_hex (id, 32);
  return json_pack ("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:o}", "Name", name, "Id", id, "Created", created,
                    "Driver", "bridge", "Scope", "local", "Subnet", cidr, "Gateway", g, "Bridge", bridge, "Internal",
                    internal, "Dns", strcmp (name, BERTH_NET_DEFAULT) != 0, "Labels",
                    labels ? json_incref (labels) : json_object ());
}

static int
load_net (const char *root, const char *name, json_t **out, berth_err_t *err)
{
  cleanup_free char *dir = net_dir (root);
  cleanup_free char *p = xasprintf ("%s/%s.json", dir, name);
  json_error_t je;
  if (strchr (name, '/') || name[0] == '.')
    return berth_error_code (err, ENOENT, "no such network: %s", name);
  *out = json_load_file (p, 0, &je);
  if (*out == NULL)
    return access (p, F_OK) < 0 ? berth_error_code (err, ENOENT, "no such network: %s", name)
                                : berth_error (err, 0, "%s: %s", p, je.text);
  return 0;
}

static const char *
config_path (void)
{
  const char *c = getenv ("BERTH_CONFIG");
  return c && *c ? c : "/etc/berth/config.json";
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

int
berth_net_get (const char *root, const char *name, json_t **out, berth_err_t *err)
{
  char bridge[16];
  cleanup_close int lock = -1;
  json_t *cfg, *net;
  const char *want;
  uint32_t sub = 0, gw;
  int prefix = 16;
  berth_err_t e2 = NULL;
  if (load_net (root, name, out, &e2) == 0 || e2->status != ENOENT || strcmp (name, BERTH_NET_DEFAULT) != 0)
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
  if (load_net (root, name, out, &e2) == 0)
    return 0;
  berth_error_release (&e2);
  default_bridge (root, bridge);
  cfg = json_load_file (config_path (), 0, NULL);
  want = json_string_value (json_object_get (json_object_get (cfg, "network"), "subnet"));
  if (want)
    {
      int r = berth_net_parse_cidr (want, &sub, &prefix, err);
      if (r == 0)
        r = subnet_free (root, name, sub, prefix, bridge, err);
      json_decref (cfg);
      if (r < 0)
        return berth_error_wrap (err, "%s: network.subnet", config_path ());
    }
  else
    {
      json_decref (cfg);
      for (int second = 88; second > 60; second--)
        {
          sub = htonl ((10u << 24) | ((uint32_t)second << 16));
          if (subnet_free (root, name, sub, 16, bridge, &e2) == 0)
            break;
          if (e2->status != EEXIST || second == 61)
            {
              *err = e2;
              return berth_error_wrap (err, "no free subnet for the default network (set network.subnet in %s)",
                                       config_path ());
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
  if (load_net (root, name, &net, &e2) == 0)
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
berth_net_list (const char *root, json_t **out, berth_err_t *err)
{
  cleanup_free char *dir = net_dir (root);
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  *out = json_array ();
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
      if (load_net (root, name, &net, &e2) == 0)
        json_array_append_new (*out, net);
      berth_error_release (&e2);
    }
  return 0;
}

/* ------------------------------------------------------------ IPAM */

static bool
container_exists (const char *root, const char *id)
{
  cleanup_free char *p = xasprintf ("%s/containers/%s/container.json", root, id);
  cleanup_free char *d = xasprintf ("%s/containers/%s", root, id);
  /* A container being made has its directory before its record. */
  return access (p, F_OK) == 0 || access (d, F_OK) == 0;
}

/* Each lease is a file named by its address: O_EXCL makes a second
   holder impossible, and a crash leaves at worst a lease whose container
   is gone, which the next allocation reclaims. */
static void
reconcile (const char *root, const char *name)
{
  cleanup_free char *dir = xasprintf ("%s/networks/%s.ipam", root, name);
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      cleanup_free char *id = NULL;
      berth_err_t e2 = NULL;
      int dfd = dirfd (d);
      if (de->d_name[0] == '.')
        continue;
      if (read_file_at (dfd, de->d_name, &id, NULL, &e2) < 0)
        {
          berth_error_release (&e2);
          continue;
        }
      if (strlen (id) != 64 || !container_exists (root, id))
        unlinkat (dfd, de->d_name, 0);
    }
}

int
berth_net_members (const char *root, const char *name, json_t **out, berth_err_t *err)
{
  cleanup_free char *dir = xasprintf ("%s/networks/%s.ipam", root, name);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  reconcile (root, name);
  d = opendir (dir);
  *out = json_object ();
  if (d == NULL)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open `%s`", dir);
  while ((de = readdir (d)))
    {
      cleanup_free char *id = NULL;
      berth_err_t e2 = NULL;
      if (de->d_name[0] == '.')
        continue;
      if (read_file_at (dirfd (d), de->d_name, &id, NULL, &e2) == 0)
        json_object_set_new (*out, id, json_string (de->d_name));
      berth_error_release (&e2);
    }
  return 0;
}

int
berth_net_allocate (const char *root, json_t *net, const char *id, const char *want, char ip_out[16], berth_err_t *err)
{
  const char *name = json_string_value (json_object_get (net, "Name"));
  cleanup_free char *dir = xasprintf ("%s/networks/%s.ipam", root, name);
  cleanup_close int lock = -1, dfd = -1;
  uint32_t sub, gw, lo, hi;
  int prefix;
  struct in_addr g;
  if (berth_net_parse_cidr (json_string_value (json_object_get (net, "Subnet")) ?: "", &sub, &prefix, err) < 0
      || inet_pton (AF_INET, json_string_value (json_object_get (net, "Gateway")) ?: "", &g) != 1)
    return berth_error (err, 0, "network %s: its record has no valid subnet and gateway", name);
  gw = ntohl (g.s_addr);
  lock = net_lock (root, err);
  if (lock < 0 || mkdir_p (dir, 0700, err) < 0)
    return -1;
  reconcile (root, name);
  dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return berth_error (err, errno, "open `%s`", dir);
  lo = ntohl (sub) + 1;
  hi = ntohl (sub) + (1u << (32 - prefix)) - 2;
  if (want)
    {
      struct in_addr a;
      if (inet_pton (AF_INET, want, &a) != 1 || ntohl (a.s_addr) < lo || ntohl (a.s_addr) > hi
          || ntohl (a.s_addr) == gw)
        return berth_error (err, 0, "--ip %s is not a free host address of %s (%s)", want, name,
                            json_string_value (json_object_get (net, "Subnet")));
      lo = hi = ntohl (a.s_addr);
    }
  for (uint32_t h = lo; h <= hi; h++)
    {
      cleanup_free char *s = NULL;
      int fd;
      if (h == gw)
        continue;
      s = ip_str (htonl (h));
      fd = openat (dfd, s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0 && errno == EEXIST)
        continue;
      if (fd < 0)
        return berth_error (err, errno, "lease %s on %s", s, name);
      if (write_all (fd, id, 64) < 0 || fsync (fd) < 0)
        {
          int e = errno;
          close (fd);
          unlinkat (dfd, s, 0);
          return berth_error (err, e, "lease %s on %s", s, name);
        }
      close (fd);
      strcpy (ip_out, s);
      return 0;
    }
  return berth_error (err, 0, want ? "the address %s is already in use on %s" : "%s%s: no free address left",
                      want ? want : "network ", name);
}

void
berth_net_release (const char *root, const char *net_name, const char *id)
{
  cleanup_free char *dir = xasprintf ("%s/networks/%s.ipam", root, net_name);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  berth_err_t e2 = NULL;
  cleanup_close int lock = net_lock (root, &e2);
  berth_error_release (&e2);
  d = opendir (dir);
  while (d && (de = readdir (d)))
    {
      cleanup_free char *who = NULL;
      if (de->d_name[0] == '.')
        continue;
      if (read_file_at (dirfd (d), de->d_name, &who, NULL, &e2) == 0 && strcmp (who, id) == 0)
        unlinkat (dirfd (d), de->d_name, 0);
      berth_error_release (&e2);
    }
}

int
berth_net_remove (const char *root, const char *name, berth_err_t *err)
{
  cleanup_close int lock = -1;
  json_t *net = NULL, *members = NULL;
  cleanup_free char *dir = net_dir (root);
  if (strcmp (name, BERTH_NET_DEFAULT) == 0 || strcmp (name, "none") == 0 || strcmp (name, "host") == 0)
    return berth_error (err, 0, "\"%s\" is a predefined network and cannot be removed", name);
  if (load_net (root, name, &net, err) < 0)
    return -1;
  json_decref (net);
  lock = net_lock (root, err);
  if (lock < 0 || berth_net_members (root, name, &members, err) < 0)
    return -1;
  if (json_object_size (members) > 0)
    {
      const char *id = json_object_iter_key (json_object_iter (members));
      int r
          = berth_error (err, 0, "network %s has %zu attached container(s) (%.12s...): remove or disconnect them first",
                         name, json_object_size (members), id);
      json_decref (members);
      return r;
    }
  json_decref (members);
  {
    static const char *subs[] = { "ipam", "active", "dns" };
    int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; dfd >= 0 && i < ARRAY_SIZE (subs); i++)
      {
        cleanup_free char *n = xasprintf ("%s.%s", name, subs[i]);
        berth_err_t e2 = NULL;
        rm_rf_at (dfd, n, &e2);
        berth_error_release (&e2);
      }
    if (dfd >= 0)
      close (dfd);
  }
  {
    cleanup_free char *p = xasprintf ("%s/%s.json", dir, name);
    if (unlink (p) < 0)
      return berth_error (err, errno, "remove `%s`", p);
  }
  return 0;
}

/* ----------------------------------------------------------- ports */

static int
parse_range (const char *s, int *lo, int *hi)
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
  if (parse_range (parts[n - 1], &clo, &chi) < 0)
    return berth_error (err, 0, "-p %s: \"%s\" is not a container port or range (1-65535)", spec, parts[n - 1]);
  if (n >= 2 && parts[n - 2][0] && parse_range (parts[n - 2], &hlo, &hhi) < 0)
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
  if ((proto && strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0) || parse_range (copy, &lo, &hi) < 0)
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
static int
reserve_port (const char *hostip, int port, bool udp, int *fd_out, int *port_out)
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

/* ------------------------------------------------------------- nft */

/* One command; *OUT (when asked) gets what nft printed. */
static int
nft_run_out (const char *cmd, bool quiet_missing, char **out, berth_err_t *err)
{
  struct nft_ctx *ctx;
  int r;
  if (berth_nft_load (err) < 0)
    return -1;
  ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  if (ctx == NULL)
    return berth_error (err, ENOMEM, "nftables context");
  nft_ctx_buffer_output (ctx);
  nft_ctx_buffer_error (ctx);
  r = nft_run_cmd_from_buffer (ctx, cmd);
  if (r != 0 && !quiet_missing)
    {
      const char *e = nft_ctx_get_error_buffer (ctx);
      cleanup_free char *line = xstrdup (e ? e : "");
      char *nl = strchr (line, '\n');
      if (nl)
        *nl = 0;
      berth_error (err, 0, "nftables: %s (%s)", line, cmd);
    }
  if (r == 0 && out)
    *out = xstrdup (nft_ctx_get_output_buffer (ctx) ?: "");
  nft_ctx_free (ctx);
  return r == 0 ? 0 : -1;
}

static int
nft_run (const char *cmd, bool quiet_missing, berth_err_t *err)
{
  return nft_run_out (cmd, quiet_missing, NULL, err);
}

static const char nft_table_def[]
    = "table " NFT_TABLE " {\n"
      " set bridges { type ifname; }\n"
      " set subnets { type ipv4_addr; flags interval; }\n"
      " map ports_any { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
      " map ports_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }\n"
      " chain published {\n"
      "  dnat ip to ip daddr . meta l4proto . th dport map @ports_ip\n"
      "  fib daddr type local dnat ip to meta l4proto . th dport map @ports_any\n"
      " }\n"
      " chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump published; }\n"
      " chain output { type nat hook output priority -100; policy accept; jump published; }\n"
      " chain postrouting {\n"
      "  type nat hook postrouting priority srcnat; policy accept;\n"
      "  ip saddr 127.0.0.0/8 oifname @bridges masquerade\n"
      "  ip saddr @subnets oifname != @bridges masquerade\n"
      " }\n"
      " chain forward {\n"
      "  type filter hook forward priority filter; policy accept;\n"
      "  ct state established,related accept\n"
      "  oifname @bridges ct status dnat accept\n"
      "  iifname @bridges accept\n"
      "  oifname @bridges drop\n"
      " }\n"
      "}\n";

/* Adds CMD to berth's table, creating the table with it when it is not
   there: one transaction, so the table appears whole or not at all, and
   one nft run fewer for the first container. */
static int
nft_with_table (const char *cmd, berth_err_t *err)
{
  berth_err_t e2 = NULL;
  cleanup_free char *all = NULL;
  if (nft_run ("list table " NFT_TABLE, true, &e2) == 0)
    return nft_run (cmd, false, err);
  berth_error_release (&e2);
  all = xasprintf ("%s%s\n", nft_table_def, cmd);
  return nft_run (all, false, err);
}

/* The elements of one binding, for add and delete alike. */
static char *
port_element (const char *hostip, int hport, const char *proto, const char *ip, int cport)
{
  bool any = hostip == NULL || hostip[0] == 0 || strcmp (hostip, "0.0.0.0") == 0;
  if (ip == NULL)
    return any ? xasprintf ("ports_any { %s . %d }", proto, hport)
               : xasprintf ("ports_ip { %s . %s . %d }", hostip, proto, hport);
  return any ? xasprintf ("ports_any { %s . %d : %s . %d }", proto, hport, ip, cport)
             : xasprintf ("ports_ip { %s . %s . %d : %s . %d }", hostip, proto, hport, ip, cport);
}

/* --------------------------------------------------------- dnsmasq */

static pid_t
dns_pid (const char *root, const char *name)
{
  cleanup_free char *p = xasprintf ("%s/networks/%s.dns/pid", root, name);
  cleanup_free char *text = NULL, *comm = NULL, *cp = NULL;
  berth_err_t e2 = NULL;
  pid_t pid;
  if (read_file_at (AT_FDCWD, p, &text, NULL, &e2) < 0)
    {
      berth_error_release (&e2);
      return 0;
    }
  pid = (pid_t)atoi (text);
  cp = xasprintf ("/proc/%d/comm", (int)pid);
  if (pid <= 0 || read_file_at (AT_FDCWD, cp, &comm, NULL, &e2) < 0 || strncmp (comm, "dnsmasq", 7) != 0)
    {
      berth_error_release (&e2);
      return 0;
    }
  return pid;
}

static int
dns_start (const char *root, json_t *net, berth_err_t *err)
{
  const char *name = json_string_value (json_object_get (net, "Name"));
  cleanup_free char *dir = xasprintf ("%s/networks/%s.dns", root, name);
  cleanup_free char *hosts = xasprintf ("%s/hosts", dir);
  cleanup_free char *a_pid = xasprintf ("--pid-file=%s/pid", dir);
  cleanup_free char *a_hosts = xasprintf ("--hostsdir=%s", hosts);
  cleanup_free char *a_listen = xasprintf ("--listen-address=%s", json_string_value (json_object_get (net, "Gateway")));
  if (dns_pid (root, name) > 0)
    return 0;
  if (mkdir_p (hosts, 0700, err) < 0)
    return -1;
  {
    /* Names of the network's containers; anything else goes to the host's
       resolvers.  Root, as netavark's aardvark-dns: the hosts files live
       under berth's private root.  dnsmasq returns once its daemon
       listens (or says why it cannot). */
    char *argv[] = { (char *)"dnsmasq",
                     (char *)"--conf-file=/dev/null",
                     (char *)"--no-hosts",
                     (char *)"--bind-interfaces",
                     (char *)"--except-interface=lo",
                     a_listen,
                     a_hosts,
                     a_pid,
                     (char *)"--user=root",
                     (char *)"--group=root",
                     (char *)"--no-negcache",
                     (char *)"--domain-needed",
                     (char *)"--local-service",
                     (char *)"--cache-size=0",
                     NULL };
    if (berth_run_argv (argv, err) < 0)
      return berth_error_wrap (err, "name resolution for network %s", name);
  }
  return 0;
}

static void
dns_stop (const char *root, const char *name)
{
  pid_t pid = dns_pid (root, name);
  cleanup_free char *p = xasprintf ("%s/networks/%s.dns/pid", root, name);
  if (pid > 0)
    kill (pid, SIGTERM);
  unlink (p);
}

/* ------------------------------------------------------ namespaces */

static void
netns_remove (const char *path)
{
  if (berth_host_mntns () >= 0)
    {
      /* Unmounted where it was mounted: the host's namespace. */
      pid_t pid = fork ();
      if (pid == 0)
        {
          if (setns (berth_host_mntns (), CLONE_NEWNS) < 0)
            _exit (1);
          umount2 (path, MNT_DETACH);
          _exit (0);
        }
      if (pid > 0)
        waitpid (pid, NULL, 0);
    }
  /* Ours, maybe twice: propagated from the host's and our own. */
  while (umount2 (path, MNT_DETACH) == 0)
    ;
  unlink (path);
}

static int
netns_create (const char *path, berth_err_t *err)
{
  int fd, status, sp[2], nsfd = -1;
  pid_t pid;
  cleanup_free char *dir = xstrdup (path);
  *strrchr (dir, '/') = 0;
  if (mkdir_p (dir, 0700, err) < 0)
    return -1;
  fd = open (path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return berth_error (err, errno, "create `%s`", path);
  close (fd);
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    {
      unlink (path);
      return berth_error (err, errno, "socketpair");
    }
  pid = fork ();
  if (pid < 0)
    {
      close (sp[0]);
      close (sp[1]);
      unlink (path);
      return berth_error (err, errno, "fork");
    }
  if (pid == 0)
    {
      /* The namespace lives on in the bind mount after we exit.  It is
         mounted in the host's mount namespace (we may run in berth's own
         slave one), where every berth process started later sees it. */
      berth_err_t e2 = NULL;
      int self;
      close (sp[0]);
      if (berth_host_mntns () >= 0 && setns (berth_host_mntns (), CLONE_NEWNS) < 0)
        _exit (3);
      if (unshare (CLONE_NEWNET) < 0)
        _exit (1);
      if (mount ("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
        _exit (2);
      self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
      if (self < 0 || berth_send_fd (sp[1], self, "netns", &e2) < 0)
        _exit (4);
      _exit (0);
    }
  close (sp[1]);
  if (berth_host_mntns () >= 0)
    {
      berth_err_t e2 = NULL;
      if (berth_recv_fd (sp[0], &nsfd, &e2) < 0)
        berth_error_release (&e2);
    }
  close (sp[0]);
  if (waitpid (pid, &status, 0) < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      if (nsfd >= 0)
        close (nsfd);
      netns_remove (path);
      return berth_error (err, 0, "could not create a network namespace at `%s` (step %d)", path,
                          WIFEXITED (status) ? WEXITSTATUS (status) : -1);
    }
  if (nsfd >= 0)
    {
      /* And in ours, made before it existed. */
      char src[64];
      int r;
      snprintf (src, sizeof (src), "/proc/self/fd/%d", nsfd);
      r = mount (src, path, NULL, MS_BIND, NULL);
      close (nsfd);
      if (r < 0)
        {
          int e = errno;
          netns_remove (path);
          return berth_error (err, e, "mount the network namespace at `%s`", path);
        }
    }
  return 0;
}

/* ---------------------------------------------------------- bridges */

static int
write_sysctl (const char *path, const char *value)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  int r;
  if (fd < 0)
    return -errno;
  r = write_all (fd, value, strlen (value));
  close (fd);
  return r;
}

static char *
active_dir (const char *root, const char *name)
{
  return xasprintf ("%s/networks/%s.active", root, name);
}

static int
bridge_up (const char *root, struct berth_nl *nl, json_t *net, berth_err_t *err)
{
  const char *br = json_string_value (json_object_get (net, "Bridge"));
  const char *name = json_string_value (json_object_get (net, "Name"));
  struct in_addr gw;
  uint32_t sub;
  int prefix, idx;
  berth_err_t e2 = NULL;
  if (berth_net_parse_cidr (json_string_value (json_object_get (net, "Subnet")) ?: "", &sub, &prefix, err) < 0
      || inet_pton (AF_INET, json_string_value (json_object_get (net, "Gateway")) ?: "", &gw) != 1)
    return berth_error_wrap (err, "network %s", name);
  if (berth_nl_link_index (nl, br, &idx, &e2) < 0)
    {
      char route[64];
      bool ov = false;
      berth_error_release (&e2);
      /* The host may have gained a route into the subnet since. */
      if (berth_nl_route_overlaps (nl, sub, prefix, NULL, &ov, route, err) < 0)
        return -1;
      if (ov)
        return berth_error (err, 0, "network %s: its subnet %s now overlaps the host's route %s", name,
                            json_string_value (json_object_get (net, "Subnet")), route);
      if (berth_nl_bridge_add (nl, br, err) < 0)
        return -1;
    }
  if (berth_nl_addr_add (nl, br, gw.s_addr, prefix, err) < 0 || berth_nl_link_set (nl, br, true, 0, 0, err) < 0)
    return -1;
  {
    /* Forwarding for the containers' traffic, as docker turns it on; and
       127.0.0.1:PORT on the host reaching a published port. */
    cleanup_free char *rl = xasprintf ("/proc/sys/net/ipv4/conf/%s/route_localnet", br);
    write_sysctl ("/proc/sys/net/ipv4/ip_forward", "1");
    write_sysctl (rl, "1");
  }
  {
    cleanup_free char *cmd
        = xasprintf ("add element " NFT_TABLE " bridges { \"%s\" }; add element " NFT_TABLE " subnets { %s }", br,
                     json_string_value (json_object_get (net, "Subnet")));
    if (nft_with_table (cmd, err) < 0)
      return -1;
  }
  if (json_is_true (json_object_get (net, "Dns")) && dns_start (root, net, err) < 0)
    return -1;
  return 0;
}

static int
count_dir (const char *path)
{
  cleanup_dir DIR *d = opendir (path);
  struct dirent *de;
  int n = 0;
  while (d && (de = readdir (d)))
    if (de->d_name[0] != '.')
      n++;
  return n;
}

/* Containers on any network of this root. */
static int
root_users (const char *root)
{
  json_t *all = NULL, *n;
  size_t i;
  berth_err_t e2 = NULL;
  int users = 0;
  if (berth_net_list (root, &all, &e2) < 0)
    {
      berth_error_release (&e2);
      return -1;
    }
  json_array_foreach (all, i, n)
  {
    cleanup_free char *ad = active_dir (root, json_string_value (json_object_get (n, "Name")));
    users += count_dir (ad);
  }
  json_decref (all);
  return users;
}

/* Whether BR is the only bridge in berth's table: only then may the
   table go, for another berth root on this host may have bridges in it. */
static bool
table_holds_only (const char *br)
{
  berth_err_t e2 = NULL;
  cleanup_free char *out = NULL, *ours = xasprintf ("\"%s\"", br);
  char *el, *end, *hit;
  if (nft_run_out ("list set " NFT_TABLE " bridges", true, &out, &e2) < 0)
    {
      berth_error_release (&e2);
      return false;
    }
  el = strstr (out, "elements");
  if (el == NULL)
    return true;
  el = strchr (el, '{');
  end = el ? strchr (el, '}') : NULL;
  if (end == NULL)
    return false;
  *end = '\0';
  /* Names are quoted: exactly one, and it is ours. */
  hit = strstr (el, ours);
  return hit && strchr (el, '"') == hit && strchr (hit + strlen (ours), '"') == NULL;
}

/* The last container on NET is gone: its bridge, dnsmasq and nft
   elements go, and the table with them when nothing else is left in it
   (one nft run instead of one per element). */
static void
bridge_down_if_unused (const char *root, struct berth_nl *nl, json_t *net)
{
  const char *br = json_string_value (json_object_get (net, "Bridge"));
  const char *name = json_string_value (json_object_get (net, "Name"));
  cleanup_free char *ad = active_dir (root, name);
  berth_err_t e2 = NULL;
  if (count_dir (ad) > 0)
    return;
  dns_stop (root, name);
  if (nl)
    berth_nl_link_del (nl, br, &e2);
  berth_error_release (&e2);
  if (root_users (root) == 0 && table_holds_only (br))
    nft_run ("delete table " NFT_TABLE, true, &e2);
  else
    {
      cleanup_free char *cmd = xasprintf ("delete element " NFT_TABLE " bridges { \"%s\" }", br);
      cleanup_free char *cmd2 = xasprintf ("delete element " NFT_TABLE " subnets { %s }",
                                           json_string_value (json_object_get (net, "Subnet")));
      nft_run (cmd, true, &e2);
      berth_error_release (&e2);
      nft_run (cmd2, true, &e2);
    }
  berth_error_release (&e2);
}

/* ---------------------------------------------------------- endpoints */

static void
veth_name (const char *id, int index, char out[16])
{
  snprintf (out, 16, "vb%.10s%d", id, index);
}

static void
mac_for (uint32_t ip, uint8_t mac[6])
{
  uint32_t h = ntohl (ip);
  /* Locally administered, derived from the address, as docker's 02:42. */
  mac[0] = 0x02;
  mac[1] = 0x42;
  mac[2] = (uint8_t)(h >> 24);
  mac[3] = (uint8_t)(h >> 16);
  mac[4] = (uint8_t)(h >> 8);
  mac[5] = (uint8_t)h;
}

static int
endpoint_add (const char *root, struct berth_nl *host, int nsfd, const char *id, const char *ctr_name, json_t *net,
              json_t *ep, int index, berth_err_t *err)
{
  const char *ipstr = json_string_value (json_object_get (ep, "IPAddress"));
  const char *name = json_string_value (json_object_get (net, "Name"));
  cleanup_nl struct berth_nl *in = NULL;
  char veth[16], ifname[16];
  struct in_addr ip, gw;
  uint8_t mac[6];
  uint32_t sub;
  int prefix, bidx;
  if (ipstr == NULL || inet_pton (AF_INET, ipstr, &ip) != 1
      || inet_pton (AF_INET, json_string_value (json_object_get (net, "Gateway")) ?: "", &gw) != 1
      || berth_net_parse_cidr (json_string_value (json_object_get (net, "Subnet")) ?: "", &sub, &prefix, err) < 0)
    return berth_error (err, 0, "network %s: the container has no valid address on it", name);
  veth_name (id, index, veth);
  snprintf (ifname, sizeof (ifname), "eth%d", index);
  mac_for (ip.s_addr, mac);
  {
    /* Marked active first: a failure below still counts as a user, so
       the teardown that follows sees the bridge through. */
    cleanup_free char *ad = active_dir (root, name);
    cleanup_free char *mark = xasprintf ("%s/%s", ad, id);
    if (mkdir_p (ad, 0700, err) < 0 || write_file_at (AT_FDCWD, mark, "", 0, err) < 0)
      return -1;
  }
  if (bridge_up (root, host, net, err) < 0
      || berth_nl_link_index (host, json_string_value (json_object_get (net, "Bridge")), &bidx, err) < 0
      || berth_nl_veth_add (host, veth, ifname, mac, nsfd, err) < 0
      || berth_nl_link_set (host, veth, true, bidx, 0, err) < 0 || berth_nl_open (nsfd, &in, err) < 0
      || berth_nl_addr_add (in, ifname, ip.s_addr, prefix, err) < 0
      || berth_nl_link_set (in, ifname, true, 0, 0, err) < 0)
    return -1;
  if (index == 0 && !json_is_true (json_object_get (net, "Internal"))
      && berth_nl_route_default (in, gw.s_addr, err) < 0)
    return -1;
  if (json_is_true (json_object_get (net, "Dns")))
    {
      /* dnsmasq reads the directory as it changes. */
      cleanup_free char *p = xasprintf ("%s/networks/%s.dns/hosts/%s", root, name, id);
      cleanup_free char *line = NULL;
      json_t *al = json_object_get (ep, "Aliases"), *a;
      size_t k;
      line = xasprintf ("%s %s %.12s", ipstr, ctr_name, id);
      json_array_foreach (al, k, a)
      {
        char *l2 = xasprintf ("%s %s", line, json_string_value (a) ?: "");
        free (line);
        line = l2;
      }
      {
        char *l2 = xasprintf ("%s\n", line);
        free (line);
        line = l2;
      }
      if (write_file_atomic (p, line, strlen (line), 0644, err) < 0)
        return -1;
    }
  return 0;
}

static void
endpoint_remove (const char *root, struct berth_nl *host, const char *id, json_t *net, int index)
{
  const char *name = json_string_value (json_object_get (net, "Name"));
  cleanup_free char *ad = active_dir (root, name);
  cleanup_free char *mark = xasprintf ("%s/%s", ad, id);
  cleanup_free char *hosts = xasprintf ("%s/networks/%s.dns/hosts/%s", root, name, id);
  char veth[16];
  berth_err_t e2 = NULL;
  veth_name (id, index, veth);
  unlink (hosts);
  unlink (mark);
  /* The bridge first: the kernel's clean-up of the container's network
     namespace, freed just before, deletes the veth meanwhile (each
     deletion waits ~50 ms for RCU; these two overlap). */
  bridge_down_if_unused (root, host, net);
  if (host)
    berth_nl_link_del (host, veth, &e2); /* usually gone with the namespace */
  berth_error_release (&e2);
}

static int
publish (json_t *ports, const char *ip, bool add, berth_err_t *err)
{
  const char *key;
  json_t *list;
  json_object_foreach (ports, key, list)
  {
    int cport = atoi (key);
    const char *proto = strchr (key, '/') ? strchr (key, '/') + 1 : "tcp";
    size_t i;
    json_t *b;
    json_array_foreach (list, i, b)
    {
      const char *hip = json_string_value (json_object_get (b, "HostIp"));
      int hport = atoi (json_string_value (json_object_get (b, "HostPort")) ?: "0");
      cleanup_free char *el = port_element (hip, hport, proto, add ? ip : NULL, cport);
      cleanup_free char *cmd = xasprintf ("%s element " NFT_TABLE " %s", add ? "add" : "delete", el);
      berth_err_t e2 = NULL;
      if (hport <= 0)
        continue;
      if (nft_run (cmd, !add, add ? err : &e2) < 0 && add)
        return -1;
      berth_error_release (&e2);
    }
  }
  return 0;
}

/* Networks in the order of their interfaces: the record keeps an Index. */
static json_t *
ordered (json_t *networks)
{
  json_t *arr = json_array (), *ep;
  const char *name;
  size_t n = json_object_size (networks);
  for (size_t want = 0; want < 64 && json_array_size (arr) < n; want++)
    json_object_foreach (networks, name, ep) if ((size_t)json_integer_value (json_object_get (ep, "Index")) == want)
        json_array_append_new (arr, json_string (name));
  return arr;
}

int
berth_net_setup (const char *root, const char *id, const char *ctr_name, json_t *networks, json_t *bindings,
                 json_t **ports_out, struct berth_net_ports *held, berth_err_t *err)
{
  cleanup_free char *path = berth_net_netns_path (root, id);
  cleanup_close int lock = -1, nsfd = -1;
  cleanup_nl struct berth_nl *host = NULL, *in = NULL;
  json_t *order = ordered (networks), *v, *ports = json_object ();
  const char *first_ip = NULL;
  size_t i;
  held->n = 0;
  /* Ports first: a taken host port fails the run before anything is made. */
  {
    const char *key;
    json_t *list;
    json_object_foreach (bindings, key, list)
    {
      bool udp = strstr (key, "/udp") != NULL;
      json_t *b, *out = json_array ();
      size_t k;
      json_object_set_new (ports, key, out);
      json_array_foreach (list, k, b)
      {
        const char *hip = json_string_value (json_object_get (b, "HostIp")) ?: "";
        const char *hp = json_string_value (json_object_get (b, "HostPort")) ?: "";
        int lo = 0, hi = 0, got = 0, fd = -1, r = -EADDRINUSE;
        if (hp[0] && parse_range (hp, &lo, &hi) < 0)
          {
            berth_error (err, 0, "port %s: bad host port \"%s\"", key, hp);
            goto fail;
          }
        if (held->n >= (int)ARRAY_SIZE (held->fds))
          {
            berth_error (err, 0, "too many published ports (at most %zu)", ARRAY_SIZE (held->fds));
            goto fail;
          }
        for (int p = lo; p <= hi && r == -EADDRINUSE; p++)
          r = reserve_port (hip, p, udp, &fd, &got);
        if (r < 0)
          {
            if (r == -EADDRINUSE)
              berth_error (err, 0, "cannot publish %s%s%s:%s: host port %s%s is already in use", hip, hip[0] ? ":" : "",
                           hp[0] ? hp : "*", key, hp[0] ? hp : "(any)", strchr (key, '/'));
            else
              berth_error (err, -r, "cannot publish %s%s%s:%s", hip, hip[0] ? ":" : "", hp[0] ? hp : "*", key);
            goto fail;
          }
        held->fds[held->n++] = fd;
        json_array_append_new (
            out, json_pack ("{s:s,s:o}", "HostIp", hip[0] ? hip : "0.0.0.0", "HostPort", json_sprintf ("%d", got)));
      }
    }
  }
  lock = net_lock (root, err);
  if (lock < 0)
    goto fail;
  netns_remove (path); /* a leftover of a crash */
  if (netns_create (path, err) < 0)
    goto fail;
  nsfd = open (path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    {
      berth_error (err, errno, "open `%s`", path);
      goto fail;
    }
  if (berth_nl_open (-1, &host, err) < 0 || berth_nl_open (nsfd, &in, err) < 0
      || berth_nl_link_set (in, "lo", true, 0, 0, err) < 0)
    goto fail;
  json_array_foreach (order, i, v)
  {
    json_t *net = NULL, *ep = json_object_get (networks, json_string_value (v));
    int r;
    /* Loaded, never made: we hold the lock that making one takes. */
    if (load_net (root, json_string_value (v), &net, err) < 0)
      goto fail;
    r = endpoint_add (root, host, nsfd, id, ctr_name, net, ep, (int)i, err);
    json_decref (net);
    if (r < 0)
      goto fail;
    if (first_ip == NULL)
      first_ip = json_string_value (json_object_get (ep, "IPAddress"));
  }
  if (json_object_size (ports) > 0 && first_ip && publish (ports, first_ip, true, err) < 0)
    goto fail;
  json_decref (order);
  *ports_out = ports;
  return 0;
fail:
  {
    berth_err_t e2 = NULL;
    if (lock >= 0)
      {
        close (lock);
        lock = -1;
      }
    berth_net_teardown (root, id, networks, ports, &e2);
    berth_error_release (&e2);
    berth_net_ports_release (held);
    json_decref (order);
    json_decref (ports);
    return -1;
  }
}

int
berth_net_teardown (const char *root, const char *id, json_t *networks, json_t *ports, berth_err_t *err)
{
  cleanup_free char *path = berth_net_netns_path (root, id);
  cleanup_close int lock = net_lock (root, err);
  cleanup_nl struct berth_nl *host = NULL;
  json_t *order = ordered (networks), *v;
  berth_err_t e2 = NULL;
  size_t i;
  if (lock < 0)
    {
      json_decref (order);
      return -1;
    }
  publish (ports, NULL, false, &e2);
  berth_error_release (&e2);
  netns_remove (path);
  if (berth_nl_open (-1, &host, &e2) < 0)
    berth_error_release (&e2);
  json_array_foreach (order, i, v)
  {
    json_t *net = NULL;
    if (load_net (root, json_string_value (v), &net, &e2) == 0)
      endpoint_remove (root, host, id, net, (int)i);
    berth_error_release (&e2);
    json_decref (net);
  }
  json_decref (order);
  return 0;
}

int
berth_net_connect_live (const char *root, const char *id, const char *ctr_name, json_t *network, int index,
                        berth_err_t *err)
{
  cleanup_free char *path = berth_net_netns_path (root, id);
  cleanup_close int lock = -1, nsfd = open (path, O_RDONLY | O_CLOEXEC);
  cleanup_nl struct berth_nl *host = NULL;
  json_t *net = NULL;
  const char *name = json_string_value (json_object_get (network, "NetworkName"));
  int r;
  if (nsfd < 0)
    return berth_error (err, errno, "the container's network namespace `%s`", path);
  if (berth_net_get (root, name, &net, err) < 0)
    return -1;
  lock = net_lock (root, err);
  r = lock < 0 || berth_nl_open (-1, &host, err) < 0
          ? -1
          : endpoint_add (root, host, nsfd, id, ctr_name, net, network, index, err);
  if (r < 0)
    endpoint_remove (root, host, id, net, index);
  json_decref (net);
  return r;
}

int
berth_net_disconnect_live (const char *root, const char *id, const char *name, json_t *network, int index,
                           berth_err_t *err)
{
  cleanup_close int lock = net_lock (root, err);
  cleanup_nl struct berth_nl *host = NULL;
  json_t *net = NULL;
  berth_err_t e2 = NULL;
  (void)network;
  if (lock < 0 || load_net (root, name, &net, err) < 0)
    return -1;
  if (berth_nl_open (-1, &host, &e2) < 0)
    berth_error_release (&e2);
  endpoint_remove (root, host, id, net, index);
  json_decref (net);
  return 0;
}
