/* Container networking for the engine, as docker's bridge driver does it:
   bridge networks (the default "bridge" on berth0, and user networks on
   which containers find each other by name), a veth per container and
   network into a network namespace of berth's own, addresses from an
   allocator that never hands one out twice, and published ports through
   DNAT in an nftables table that belongs to berth alone.

     <root>/networks/<name>.json          the network (written atomically)
     <root>/networks/<name>.ipam/<ip>     a lease: the container's ID
     <root>/networks/<name>.active/<id>   a running container on it
     <root>/networks/<name>.dns/          dnsmasq's pid file and hosts dir
     <root>/networks/.lock                held while any of it changes
     <root>/netns/<id>                    the container's network namespace

   The bridge, its dnsmasq and berth's nft elements exist only while a
   container on the network runs; the table goes with the last of them. */
#ifndef BERTH_NET_H
#define BERTH_NET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"

#define BERTH_NET_DEFAULT "bridge"

/* The default network's record, made on first use: its subnet from
   /etc/berth/config.json's "network": {"subnet": ...} ($BERTH_CONFIG),
   else the first of 10.88.0.0/16, 10.87.0.0/16, ... that no host route
   overlaps. */
int berth_net_get (const char *root, const char *name, json_t **out, berth_err_t *err);
/* A running container renamed: its line on network NET_NAME's DNS (when
   it has one there) names it CTR_NAME; EP is its endpoint record. */
int berth_net_dns_rename (const char *root, const char *net_name, const char *id, json_t *ep, const char *ctr_name,
                          berth_err_t *err);
/* SUBNET NULL: a free /24 from 10.89.0.0/16. */
int berth_net_create (const char *root, const char *name, const char *subnet, const char *gateway, bool internal,
                      json_t *labels, json_t **out, berth_err_t *err);
/* BAD (may be NULL): the records that could not be read, as
   {Name, Error}, so that a caller can name them instead of leaving them
   out in silence. */
int berth_net_list (const char *root, json_t **out, json_t **bad, berth_err_t *err);
/* Refused while a container is attached (created or running). */
int berth_net_remove (const char *root, const char *name, berth_err_t *err);
/* The containers attached to NAME: {id: ip}. */
int berth_net_members (const char *root, const char *name, json_t **out, berth_err_t *err);

/* An address for container ID on the network (WANT: a given one); leases
   whose container no longer exists are released first. */
int berth_net_allocate (const char *root, json_t *net, const char *id, const char *want, char ip_out[16],
                        berth_err_t *err);
void berth_net_release (const char *root, const char *net_name, const char *id);

/* -p specs to docker's PortBindings ({"80/tcp": [{"HostIp","HostPort"}]});
   HostPort "" asks for a free port at start, "A-B" for one in that range. */
int berth_net_parse_publish (const char *spec, json_t *bindings, berth_err_t *err);
/* "80", "80/udp", "8000-8010/tcp" (--expose, EXPOSE) into PORTS as keys. */
int berth_net_parse_expose (const char *spec, json_t *ports, berth_err_t *err);

struct berth_net_ports
{
  int fds[256]; /* sockets that keep the host ports ours while the container runs */
  int n;
};

/* Makes the namespace at NETNS, wires the container's networks
   (NETWORKS: NetworkSettings.Networks) into it, reserves and publishes
   BINDINGS (HostConfig.PortBindings) to the first network's address.
   *PORTS_OUT gets the ports as bound (NetworkSettings.Ports).  On failure
   nothing is left behind. */
int berth_net_setup (const char *root, const char *id, const char *name, json_t *networks, json_t *bindings,
                     json_t **ports_out, struct berth_net_ports *held, berth_err_t *err);
/* Undoes setup; safe to repeat and after a crash half-way. */
int berth_net_teardown (const char *root, const char *id, json_t *networks, json_t *ports, berth_err_t *err);
void berth_net_ports_release (struct berth_net_ports *held);
char *berth_net_netns_path (const char *root, const char *id);

/* In a container's namespace: a live connect of one more network. */
int berth_net_connect_live (const char *root, const char *id, const char *name, json_t *network, int index,
                            berth_err_t *err);
int berth_net_disconnect_live (const char *root, const char *id, const char *name, json_t *network, int index,
                               berth_err_t *err);

/* "10.88.0.0/16" into network-order address and prefix. */
int berth_net_parse_cidr (const char *s, uint32_t *addr, int *prefix, berth_err_t *err);

#endif
