/* Inside the network code: what its files share (the engine and the VM
   use net.h, netdev.h and netlink.h). */
#ifndef BERTH_NET_INTERNAL_H
#define BERTH_NET_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "lib/base/error.h"
#include "lib/net/net.h"
#include "lib/net/netlink.h"

#define NFT_TABLE "ip berth"

static inline void
nl_closep (struct berth_nl **p)
{
  berth_nl_close (*p);
}
#define cleanup_nl __attribute__ ((cleanup (nl_closep)))

char *net_ip_str (uint32_t a);
int net_load (const char *root, const char *name, json_t **out, berth_err_t *err);
/* For a teardown when network NAME's record cannot be read: what undoing
   a container's endpoint EP needs of it (its bridge and subnet), rebuilt
   from EP and the rules that named them.  NULL if EP cannot tell. */
json_t *net_record_guess (const char *root, const char *name, json_t *ep);
bool net_overlap (uint32_t a, int pa, uint32_t b, int pb);
char *net_dir (const char *root);
/* One lock for every network change: allocation, bridges, the table. */
int net_lock (const char *root, berth_err_t *err);
int net_parse_range (const char *s, int *lo, int *hi);
/* Binds the host port without listening: nothing else can take it while
   the container runs, and DNAT sends the traffic past it to the container. */
int net_reserve_port (const char *hostip, int port, bool udp, int *fd_out, int *port_out);
int net_nft_run (const char *cmd, bool quiet_missing, berth_err_t *err);
/* One command; *OUT (when asked) gets what nft printed. */
int net_nft_run_out (const char *cmd, bool quiet_missing, char **out, berth_err_t *err);
/* Adds CMD to berth's table, creating the table with it when it is not
   there: one transaction, so the table appears whole or not at all, and
   one nft run fewer for the first container. */
int net_nft_with_table (const char *cmd, berth_err_t *err);
/* The elements of one binding, for add and delete alike. */
char *net_port_element (const char *hostip, int hport, const char *proto, const char *ip, int cport);
int net_dns_start (const char *root, json_t *net, berth_err_t *err);
void net_dns_stop (const char *root, const char *name);
int net_netns_create (const char *path, berth_err_t *err);
void net_netns_remove (const char *path);
char *net_active_dir (const char *root, const char *name);
/* Whether NET's last container is LEAVING (whose mark goes after its
   links), or it has none: then its bridge goes (the caller deletes the
   link, with the leaving veth in one request), and release takes its
   dnsmasq and nft elements, and the table with them when nothing else is
   left in it (one nft run instead of one per element). */
bool net_bridge_unused (const char *root, json_t *net, const char *leaving);
void net_bridge_release (const char *root, json_t *net, const char *leaving);
int net_bridge_up (const char *root, struct berth_nl *nl, json_t *net, berth_err_t *err);

#endif
