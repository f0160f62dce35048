/* rtnetlink through libmnl: the few link, address and route operations
   berth's networking needs.  Every call takes a socket opened by
   berth_nl_open, so that one opened inside a container's network
   namespace acts there. */
#ifndef BERTH_NETLINK_H
#define BERTH_NETLINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"

struct berth_nl;

/* A socket in the caller's current network namespace; NETNS_FD >= 0: in
   that one instead (entered and left again around the socket call). */
int berth_nl_open (int netns_fd, struct berth_nl **out, berth_err_t *err);
void berth_nl_close (struct berth_nl *nl);

/* 0 and *index when NAME exists, -1 with ENODEV in err otherwise. */
int berth_nl_link_index (struct berth_nl *nl, const char *name, int *index, berth_err_t *err);
int berth_nl_bridge_add (struct berth_nl *nl, const char *name, berth_err_t *err);
/* A veth pair: NAME here, PEER (named PEER_NAME, with MAC when not NULL)
   straight into the namespace PEER_NETNS_FD. */
int berth_nl_veth_add (struct berth_nl *nl, const char *name, const char *peer_name, const uint8_t *peer_mac,
                       int peer_netns_fd, berth_err_t *err);
int berth_nl_link_set (struct berth_nl *nl, const char *name, bool up, int master_index, int mtu, berth_err_t *err);
int berth_nl_link_del (struct berth_nl *nl, const char *name, berth_err_t *err);
/* The deletion of links in the host's namespace, from a thread of its own
   (its own socket) between begin and end: a deletion waits out RCU grace
   periods after the kernel lets go of rtnl (~20 ms for a veth, ~45 for a
   bridge), which the caller spends on other work meanwhile.  N <= 2: two
   links (a veth and its bridge) go in one request (tagged with a group of
   their own, then the group deleted): the kernel then unregisters them
   together and waits once, where two requests waited ~70 ms even side by
   side.  Best effort,
   as teardowns delete (a link may be gone already); without a thread the
   deletion happens in begin, on NL. */
struct berth_nl_del
{
  pthread_t thread;
  bool threaded;
  int n;
  char names[2][16];
};
void berth_nl_links_del_begin (struct berth_nl_del *d, struct berth_nl *nl, const char *const *names, int n);
void berth_nl_link_del_end (struct berth_nl_del *d);
/* IPv4 only: ADDR in network order. */
int berth_nl_addr_add (struct berth_nl *nl, const char *name, uint32_t addr, int prefix, berth_err_t *err);
int berth_nl_route_default (struct berth_nl *nl, uint32_t gateway, berth_err_t *err);

/* Does any route of the host's main table overlap NET/PREFIX (other than
   through EXCEPT_DEV)?  Its destination in ROUTE_OUT. */
int berth_nl_route_overlaps (struct berth_nl *nl, uint32_t net, int prefix, const char *except_dev, bool *overlaps,
                             char route_out[64], berth_err_t *err);

#endif
