#include "lib/net/netdev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/base/nscall.h"
#include "lib/base/utils.h"

#define VM_BRIDGE "vmbr0"
#define VM_TAP "tap0"

static int
ifreq_ioctl (int s, unsigned long req, struct ifreq *ifr, const char *what, berth_err_t *err)
{
  if (ioctl (s, req, ifr) < 0)
    return berth_error (err, errno, "%s (%s)", what, ifr->ifr_name);
  return 0;
}

static void
ifr_set (struct ifreq *ifr, const char *name)
{
  memset (ifr, 0, sizeof (*ifr));
  snprintf (ifr->ifr_name, IFNAMSIZ, "%s", name);
}

static int
set_flags (int s, const char *name, short on, short off, berth_err_t *err)
{
  struct ifreq ifr;
  ifr_set (&ifr, name);
  if (ifreq_ioctl (s, SIOCGIFFLAGS, &ifr, "read the interface flags", err) < 0)
    return -1;
  ifr.ifr_flags = (short)((ifr.ifr_flags | on) & ~off);
  return ifreq_ioctl (s, SIOCSIFFLAGS, &ifr, "set the interface flags", err);
}

int
berth_netdev_up (const char *name, berth_err_t *err)
{
  cleanup_close int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return berth_error (err, errno, "socket");
  return set_flags (s, name, IFF_UP, 0, err);
}

/* The default route's gateway from /proc/net/route (of our namespace). */
static uint32_t
default_gateway (const char *dev)
{
  cleanup_file FILE *f = fopen ("/proc/net/route", "re");
  char line[256];
  if (f == NULL)
    return 0;
  while (fgets (line, sizeof (line), f))
    {
      char ifn[IFNAMSIZ + 1];
      unsigned long dst, gw;
      if (sscanf (line, "%16s %lx %lx", ifn, &dst, &gw) == 3 && dst == 0 && gw != 0 && strcmp (ifn, dev) == 0)
        return (uint32_t)gw; /* already in network order */
    }
  return 0;
}

static int
adopt_here (json_t **ifaces, int *tap_fd, berth_err_t *err)
{
  struct ifaddrs *ifa = NULL, *i;
  cleanup_close int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  char name[IFNAMSIZ] = "";
  uint32_t addr = 0, mask = 0, gw;
  unsigned char mac[6], fresh[6];
  int mtu, prefix, tap;
  struct sockaddr_in *sin;
  char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], m[18];
  *ifaces = json_array ();
  *tap_fd = -1;
  if (s < 0)
    return berth_error (err, errno, "socket");
  if (getifaddrs (&ifa) < 0)
    return berth_error (err, errno, "list the interfaces of the container's network namespace");
  for (i = ifa; i; i = i->ifa_next)
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && !(i->ifa_flags & IFF_LOOPBACK) && i->ifa_netmask)
      {
        snprintf (name, sizeof (name), "%s", i->ifa_name);
        addr = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
        mask = ((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr;
        break;
      }
  freeifaddrs (ifa);
  if (name[0] == '\0')
    return 0; /* only loopback: the guest gets no NIC */
  gw = default_gateway (name);
  ifr_set (&ifr, name);
  if (ifreq_ioctl (s, SIOCGIFHWADDR, &ifr, "read the MAC address", err) < 0)
    return -1;
  memcpy (mac, ifr.ifr_hwaddr.sa_data, 6);
  ifr_set (&ifr, name);
  if (ifreq_ioctl (s, SIOCGIFMTU, &ifr, "read the MTU", err) < 0)
    return -1;
  mtu = ifr.ifr_mtu;
  prefix = __builtin_popcount (mask);

  /* The address leaves the namespace's own stack (the route goes with
     it): from now on only the guest answers for it. */
  ifr_set (&ifr, name);
  sin = (struct sockaddr_in *)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = 0;
  if (ifreq_ioctl (s, SIOCSIFADDR, &ifr, "remove the address", err) < 0)
    return -1;
  /* The guest takes the veth's MAC: the veth gets another, or the bridge
     would take the guest's frames for its own. */
  {
    int rnd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rnd < 0 || read (rnd, fresh, 6) != 6)
      {
        if (rnd >= 0)
          close (rnd);
        return berth_error (err, errno, "read /dev/urandom");
      }
    close (rnd);
  }
  fresh[0] = (unsigned char)((fresh[0] & 0xfe) | 0x02);
  if (set_flags (s, name, 0, IFF_UP, err) < 0)
    return -1;
  ifr_set (&ifr, name);
  ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
  memcpy (ifr.ifr_hwaddr.sa_data, fresh, 6);
  if (ifreq_ioctl (s, SIOCSIFHWADDR, &ifr, "change the MAC address", err) < 0)
    return -1;

  tap = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tap < 0)
    return berth_error (err, errno, "open /dev/net/tun");
  ifr_set (&ifr, VM_TAP);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ifreq_ioctl (tap, TUNSETIFF, &ifr, "create the VM's tap", err) < 0)
    goto fail;
  /* The tap lives as long as the namespace, not as its last fd: deleting
     a device waits ~20 ms for RCU, which the VM's exit would otherwise
     spend (the fd's last holder is QEMU or the shim), while the
     namespace's clean-up deletes it beside the veth, off anyone's path. */
  if (ioctl (tap, TUNSETPERSIST, 1) < 0)
    {
      berth_error (err, errno, "make the VM's tap persistent");
      goto fail;
    }
  if (ioctl (s, SIOCBRADDBR, VM_BRIDGE) < 0 && errno != EEXIST)
    {
      berth_error (err, errno, "create the bridge %s in the container's network namespace", VM_BRIDGE);
      goto fail;
    }
  {
    const char *ports[] = { name, VM_TAP };
    for (size_t k = 0; k < 2; k++)
      {
        ifr_set (&ifr, VM_BRIDGE);
        ifr.ifr_ifindex = (int)if_nametoindex (ports[k]);
        if (ifr.ifr_ifindex == 0 || ioctl (s, SIOCBRADDIF, &ifr) < 0)
          {
            berth_error (err, errno, "add %s to the bridge %s", ports[k], VM_BRIDGE);
            goto fail;
          }
        ifr_set (&ifr, ports[k]);
        ifr.ifr_mtu = mtu;
        if (ifreq_ioctl (s, SIOCSIFMTU, &ifr, "set the MTU", err) < 0 || set_flags (s, ports[k], IFF_UP, 0, err) < 0)
          goto fail;
      }
  }
  if (set_flags (s, VM_BRIDGE, IFF_UP, 0, err) < 0)
    goto fail;
  inet_ntop (AF_INET, &addr, a, sizeof (a));
  inet_ntop (AF_INET, &gw, g, sizeof (g));
  snprintf (m, sizeof (m), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  json_array_append_new (*ifaces, json_pack ("{s:s,s:s,s:s,s:i,s:s,s:i}", "name", "eth0", "mac", m, "address", a,
                                             "prefix", prefix, "gateway", gw ? g : "", "mtu", mtu));
  *tap_fd = tap;
  return 0;
fail:
  /* Not persistent any more: the tap goes with this fd. */
  (void)ioctl (tap, TUNSETPERSIST, 0);
  close (tap);
  return -1;
}

static int
adopt_cb (void *arg, int *fd_out, char **text_out, berth_err_t *err)
{
  json_t *ifaces = NULL;
  (void)arg;
  if (adopt_here (&ifaces, fd_out, err) < 0)
    return -1;
  *text_out = json_dumps (ifaces, JSON_COMPACT);
  json_decref (ifaces);
  return 0;
}

static int
dns_socket_cb (void *arg, int *fd_out, char **text_out, berth_err_t *err)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (53) };
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  (void)arg;
  (void)text_out;
  if (fd < 0)
    return berth_error (err, errno, "socket");
  sa.sin_addr.s_addr = htonl (0x7f00000b); /* 127.0.0.11 */
  if (connect (fd, (struct sockaddr *)&sa, sizeof (sa)) < 0)
    {
      close (fd);
      return berth_error (err, errno, "connect to 127.0.0.11:53");
    }
  *fd_out = fd;
  return 0;
}

int
berth_netdev_dns_socket (const char *netns_path, int *fd, berth_err_t *err)
{
  cleanup_close int ns = open (netns_path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *text = NULL;
  *fd = -1;
  if (ns < 0)
    return berth_error (err, errno, "open the network namespace `%s`", netns_path);
  if (berth_ns_call (ns, CLONE_NEWNET, dns_socket_cb, NULL, fd, &text, err) < 0)
    return berth_error_wrap (err, "the network namespace `%s`", netns_path);
  if (*fd < 0)
    return berth_error (err, EPROTO, "the network namespace `%s`: no DNS socket came back", netns_path);
  return 0;
}

int
berth_netdev_adopt (const char *netns_path, json_t **ifaces, int *tap_fd, berth_err_t *err)
{
  cleanup_close int ns = open (netns_path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *text = NULL;
  *ifaces = NULL;
  if (ns < 0)
    return berth_error (err, errno, "open the network namespace `%s`", netns_path);
  if (berth_ns_call (ns, CLONE_NEWNET, adopt_cb, NULL, tap_fd, &text, err) < 0)
    return berth_error_wrap (err, "the network namespace `%s`", netns_path);
  *ifaces = text ? json_loads (text, 0, NULL) : NULL;
  if (!json_is_array (*ifaces))
    {
      json_decref (*ifaces);
      *ifaces = NULL;
      if (*tap_fd >= 0)
        close (*tap_fd);
      *tap_fd = -1;
      return berth_error (err, EPROTO, "the network namespace `%s`: no interface list came back", netns_path);
    }
  return 0;
}

int
berth_netdev_config_parse (const char *name, json_t *iface, struct berth_netdev_config *cfg, berth_err_t *err)
{
  json_t *prefix = json_object_get (iface, "prefix"), *mtu = json_object_get (iface, "mtu");
  json_t *gw = json_object_get (iface, "gateway"), *mac = json_object_get (iface, "mac");
  *cfg = (struct berth_netdev_config){ 0 };
  if (!json_is_object (iface))
    return berth_error (err, EINVAL, "network: %s must be an object", name);
  if (inet_pton (AF_INET, json_string_value (json_object_get (iface, "address")) ?: "", &cfg->addr) != 1
      || !json_is_integer (prefix) || json_integer_value (prefix) < 1 || json_integer_value (prefix) > 32)
    return berth_error (err, EINVAL, "network: a bad address or prefix for %s", name);
  cfg->prefix = (int)json_integer_value (prefix);
  /* Out of range is the driver's default, as adopt reports a veth's. */
  if (mtu && !json_is_integer (mtu))
    return berth_error (err, EINVAL, "network: a bad MTU for %s", name);
  if (json_integer_value (mtu) >= 576 && json_integer_value (mtu) <= 65535)
    cfg->mtu = (int)json_integer_value (mtu);
  if (mac && !json_is_null (mac))
    {
      unsigned int b[6];
      char end;
      if (!json_is_string (mac)
          || sscanf (json_string_value (mac), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                     &end)
                 != 6
          || (b[0] & 1))
        return berth_error (err, EINVAL, "network: a bad MAC address for %s", name);
      for (int i = 0; i < 6; i++)
        cfg->mac[i] = (uint8_t)b[i];
      cfg->has_mac = true;
    }
  if (gw && !json_is_null (gw) && !(json_is_string (gw) && json_string_length (gw) == 0))
    {
      if (!json_is_string (gw) || inet_pton (AF_INET, json_string_value (gw), &cfg->gateway) != 1)
        return berth_error (err, EINVAL, "network: a bad gateway for %s", name);
      cfg->has_gateway = true;
    }
  return 0;
}

int
berth_netdev_configure (const char *name, const struct berth_netdev_config *cfg, berth_err_t *err)
{
  cleanup_close int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  if (s < 0)
    return berth_error (err, errno, "socket");
  if (cfg->mtu)
    {
      ifr_set (&ifr, name);
      ifr.ifr_mtu = cfg->mtu;
      if (ifreq_ioctl (s, SIOCSIFMTU, &ifr, "set the MTU", err) < 0)
        return -1;
    }
  /* A VM restored from a template has the template's MAC in its NIC's
     migrated state, whatever QEMU's command line says: set it. */
  if (cfg->has_mac)
    {
      ifr_set (&ifr, name);
      ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
      memcpy (ifr.ifr_hwaddr.sa_data, cfg->mac, 6);
      /* Most drivers (virtio-net among them) take a new MAC while up;
         the others only while down, and are brought up below. */
      if (ioctl (s, SIOCSIFHWADDR, &ifr) < 0)
        {
          if (errno != EBUSY)
            return berth_error (err, errno, "set the MAC address (%s)", name);
          if (set_flags (s, name, 0, IFF_UP, err) < 0
              || ifreq_ioctl (s, SIOCSIFHWADDR, &ifr, "set the MAC address", err) < 0)
            return -1;
        }
    }
  ifr_set (&ifr, name);
  sin->sin_family = AF_INET;
  sin->sin_addr = cfg->addr;
  if (ifreq_ioctl (s, SIOCSIFADDR, &ifr, "set the address", err) < 0)
    return -1;
  ifr_set (&ifr, name);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl ((uint32_t)(0xffffffffull << (32 - cfg->prefix)));
  if (ifreq_ioctl (s, SIOCSIFNETMASK, &ifr, "set the netmask", err) < 0 || set_flags (s, name, IFF_UP, 0, err) < 0)
    return -1;
  if (cfg->has_gateway)
    {
      struct rtentry rt;
      char gws[INET_ADDRSTRLEN];
      memset (&rt, 0, sizeof (rt));
      ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
      ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
      ((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
      ((struct sockaddr_in *)&rt.rt_gateway)->sin_addr = cfg->gateway;
      rt.rt_flags = RTF_UP | RTF_GATEWAY;
      rt.rt_dev = (char *)name;
      if (ioctl (s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
        return berth_error (err, errno, "add the default route via %s",
                            inet_ntop (AF_INET, &cfg->gateway, gws, sizeof (gws)) ?: "?");
    }
  return 0;
}
