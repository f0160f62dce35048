/* A network's bridge, brought up with its first container and down with
   its last. */
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

char *
net_active_dir (const char *root, const char *name)
{
  return xasprintf ("%s/networks/%s.active", root, name);
}

int
net_bridge_up (const char *root, struct berth_nl *nl, json_t *net, berth_err_t *err)
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
    if (net_nft_with_table (cmd, err) < 0)
      return -1;
  }
  if (json_is_true (json_object_get (net, "Dns")) && net_dns_start (root, net, err) < 0)
    return -1;
  return 0;
}

/* Entries of PATH, but for one named EXCEPT. */
static int
count_dir (const char *path, const char *except)
{
  cleanup_dir DIR *d = opendir (path);
  struct dirent *de;
  int n = 0;
  while (d && (de = readdir (d)))
    if (de->d_name[0] != '.' && (except == NULL || strcmp (de->d_name, except) != 0))
      n++;
  return n;
}

/* Containers on any network of this root, but for EXCEPT. */
static int
root_users (const char *root, const char *except)
{
  json_t *all = NULL, *bad = NULL, *n;
  size_t i;
  berth_err_t e2 = NULL;
  int users = 0;
  if (berth_net_list (root, &all, &bad, &e2) < 0)
    {
      berth_error_release (&e2);
      return -1;
    }
  /* A network whose record is unreadable still has its containers. */
  json_array_extend (all, bad);
  json_array_foreach (all, i, n)
  {
    cleanup_free char *ad = net_active_dir (root, json_string_value (json_object_get (n, "Name")));
    users += count_dir (ad, except);
  }
  json_decref (all);
  json_decref (bad);
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
  if (net_nft_run_out ("list set " NFT_TABLE " bridges", true, &out, &e2) < 0)
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

/* Whether NET's last container is LEAVING (or it has none): its bridge
   goes then. */
bool
net_bridge_unused (const char *root, json_t *net, const char *leaving)
{
  cleanup_free char *ad = net_active_dir (root, json_string_value (json_object_get (net, "Name")));
  return count_dir (ad, leaving) == 0;
}

/* What an unused bridge held but the link (which the caller deletes):
   its dnsmasq and nft elements, and the table with them when nothing
   else is left in it (one nft run instead of one per element). */
void
net_bridge_release (const char *root, json_t *net, const char *leaving)
{
  const char *br = json_string_value (json_object_get (net, "Bridge"));
  berth_err_t e2 = NULL;
  net_dns_stop (root, json_string_value (json_object_get (net, "Name")));
  if (root_users (root, leaving) == 0 && table_holds_only (br))
    net_nft_run ("delete table " NFT_TABLE, true, &e2);
  else
    {
      cleanup_free char *cmd = xasprintf ("delete element " NFT_TABLE " bridges { \"%s\" }", br);
      cleanup_free char *cmd2 = xasprintf ("delete element " NFT_TABLE " subnets { %s }",
                                           json_string_value (json_object_get (net, "Subnet")));
      net_nft_run (cmd, true, &e2);
      berth_error_release (&e2);
      net_nft_run (cmd2, true, &e2);
    }
  berth_error_release (&e2);
}
