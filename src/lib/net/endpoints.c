/* A container's endpoints: its namespace, veths, addresses, routes, DNS
   names and published ports, set up at start and torn down at stop. */
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

/* The container's line on the network's DNS: its address, name, short ID
   and aliases (dnsmasq reads the directory as it changes). */
static int
dns_names_write (const char *root, const char *name, const char *id, const char *ipstr, const char *ctr_name,
                 json_t *ep, berth_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/networks/%s.dns/hosts/%s", root, name, id);
  /* A dot file: dnsmasq skips those.  A dnsmasq starting up reads every
     other file of the directory, a temporary one too, and keeps its
     names for good (no event ever removes a file it saw only then): a
     renamed container answered to its old name on as well. */
  cleanup_free char *tmp = xasprintf ("%s/networks/%s.dns/hosts/.%s.tmp.%d", root, name, id, (int)getpid ());
  cleanup_free char *line = xasprintf ("%s %s %.12s", ipstr, ctr_name, id);
  json_t *al = json_object_get (ep, "Aliases"), *a;
  size_t k;
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
  return write_file_atomic_via (p, tmp, line, strlen (line), 0644, err);
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
    cleanup_free char *ad = net_active_dir (root, name);
    cleanup_free char *mark = xasprintf ("%s/%s", ad, id);
    if (mkdir_p (ad, 0700, err) < 0 || write_file_at (AT_FDCWD, mark, "", 0, err) < 0)
      return -1;
  }
  if (net_bridge_up (root, host, net, err) < 0
      || berth_nl_link_index (host, json_string_value (json_object_get (net, "Bridge")), &bidx, err) < 0
      || berth_nl_veth_add (host, veth, ifname, mac, nsfd, err) < 0
      || berth_nl_link_set (host, veth, true, bidx, 0, err) < 0 || berth_nl_open (nsfd, &in, err) < 0
      || berth_nl_addr_add (in, ifname, ip.s_addr, prefix, err) < 0
      || berth_nl_link_set (in, ifname, true, 0, 0, err) < 0)
    return -1;
  if (index == 0 && !json_is_true (json_object_get (net, "Internal"))
      && berth_nl_route_default (in, gw.s_addr, err) < 0)
    return -1;
  if (json_is_true (json_object_get (net, "Dns")) && dns_names_write (root, name, id, ipstr, ctr_name, ep, err) < 0)
    return -1;
  return 0;
}

int
berth_net_dns_rename (const char *root, const char *net_name, const char *id, json_t *ep, const char *ctr_name,
                      berth_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/networks/%s.dns/hosts/%s", root, net_name, id);
  const char *ip = json_string_value (json_object_get (ep, "IPAddress"));
  /* Only where the container has a name on the network's DNS now. */
  if (ip == NULL || access (p, F_OK) < 0)
    return 0;
  return dns_names_write (root, net_name, id, ip, ctr_name, ep, err);
}

static void
endpoint_remove (const char *root, struct berth_nl *host, const char *id, json_t *net, int index)
{
  const char *name = json_string_value (json_object_get (net, "Name"));
  cleanup_free char *ad = net_active_dir (root, name);
  cleanup_free char *mark = xasprintf ("%s/%s", ad, id);
  cleanup_free char *hosts = xasprintf ("%s/networks/%s.dns/hosts/%s", root, name, id);
  char veth[16];
  veth_name (id, index, veth);
  unlink (hosts);
  /* The mark goes last: without it, this endpoint has been undone in
     full (or never begun), and a second teardown (the monitor's, then
     --rm's) spends no link deletion that would wait on the kernel's
     clean-up of the namespace (~15 ms each, for nothing). */
  if (access (mark, F_OK) < 0 && errno == ENOENT)
    return;
  {
    /* The veth (its peer's namespace was freed just before, but the
       kernel deletes that pair later, in the background) and, where this
       was the bridge's last container, the bridge in one request, while
       the bridge's dnsmasq and nft elements go. */
    const char *br = json_string_value (json_object_get (net, "Bridge"));
    const char *links[2] = { veth, br };
    bool last = br && net_bridge_unused (root, net, id);
    struct berth_nl_del d;
    berth_nl_links_del_begin (&d, host, links, last ? 2 : 1);
    if (last)
      net_bridge_release (root, net, id);
    berth_nl_link_del_end (&d);
  }
  unlink (mark);
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
      cleanup_free char *el = net_port_element (hip, hport, proto, add ? ip : NULL, cport);
      cleanup_free char *cmd = xasprintf ("%s element " NFT_TABLE " %s", add ? "add" : "delete", el);
      berth_err_t e2 = NULL;
      if (hport <= 0)
        continue;
      if (net_nft_run (cmd, !add, add ? err : &e2) < 0 && add)
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
        if (hp[0] && net_parse_range (hp, &lo, &hi) < 0)
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
          r = net_reserve_port (hip, p, udp, &fd, &got);
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
  net_netns_remove (path); /* a leftover of a crash */
  if (net_netns_create (path, err) < 0)
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
    if (net_load (root, json_string_value (v), &net, err) < 0)
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
  net_netns_remove (path);
  if (berth_nl_open (-1, &host, &e2) < 0)
    berth_error_release (&e2);
  json_array_foreach (order, i, v)
  {
    json_t *net = NULL;
    /* An unreadable record still has a bridge, marks and a DNS server to
       undo: not leaked for want of it. */
    if (net_load (root, json_string_value (v), &net, &e2) < 0 && e2->status != ENOENT)
      net = net_record_guess (root, json_string_value (v), json_object_get (networks, json_string_value (v)));
    if (net)
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
  if (lock < 0 || net_load (root, name, &net, err) < 0)
    return -1;
  if (berth_nl_open (-1, &host, &e2) < 0)
    berth_error_release (&e2);
  endpoint_remove (root, host, id, net, index);
  json_decref (net);
  return 0;
}
