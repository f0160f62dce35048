/* Interface configuration through the classic ioctls (no netlink library):
   what the statically linked runtime and the guest agent need to hand a
   container's network to a VM.

   A VM container's network namespace is made as a process container's
   (by berth's engine, Docker or containerd: a veth with the address and a
   default route).  berth_netdev_adopt moves that identity to the guest:
   the address and route leave the veth, a bridge in the namespace joins
   the veth to a tap for QEMU, and the guest's NIC takes the veth's MAC,
   address and gateway, so the outside cannot tell the modes apart. */
#ifndef BERTH_NETDEV_H
#define BERTH_NETDEV_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"

/* In the namespace NETNS_PATH: *IFACES gets [{name, mac, address, prefix,
   gateway, mtu}] for the first interface with an IPv4 address (or []),
   *TAP_FD the tap QEMU serves it with (-1 without one). */
int berth_netdev_adopt (const char *netns_path, json_t **ifaces, int *tap_fd, berth_err_t *err);
/* A UDP socket made in NETNS_PATH and connected to Docker's embedded DNS
   server there (127.0.0.11:53, which Docker's rules in that namespace send
   to its resolver): the VM's shim relays the guest's queries through it,
   since the guest's own 127.0.0.11 is the guest's loopback. */
int berth_netdev_dns_socket (const char *netns_path, int *fd, berth_err_t *err);

/* One interface as berth_netdev_adopt lists it, read and checked. */
struct berth_netdev_config
{
  struct in_addr addr, gateway;
  bool has_gateway, has_mac;
  int prefix;
  int mtu; /* 0: the driver's */
  uint8_t mac[6];
};

/* Reads IFACE ({mac, address, prefix, gateway, mtu}); NAME is for errors. */
int berth_netdev_config_parse (const char *name, json_t *iface, struct berth_netdev_config *cfg, berth_err_t *err);
/* In the guest: configure NAME (up, address, route) as CFG says. */
int berth_netdev_configure (const char *name, const struct berth_netdev_config *cfg, berth_err_t *err);
int berth_netdev_up (const char *name, berth_err_t *err);

#endif
