/* The engine's side of networking (engine_net.c): what --network, -p, -P
   and --expose make of a new container, its /etc files, and the start
   and stop of its network (net.c does the wiring). */
#ifndef BERTH_ENGINE_NET_H
#define BERTH_ENGINE_NET_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/engine/engine.h"
#include "lib/net/net.h"
#include "lib/runtime/isolation.h"

struct berth_engine_net
{
  char *mode;       /* NetworkMode: "bridge", "none", "host", "container:<id>" or a network's name */
  char *netns;      /* the namespace to join; NULL: a private one with loopback only; "": the host's */
  char *share_etc;  /* container:<id>: that container's directory, for its hosts and resolv.conf */
  char *ip, *dns;   /* the first network's address and name server (user networks) */
  json_t *networks; /* NetworkSettings.Networks */
  json_t *bindings; /* HostConfig.PortBindings */
  json_t *exposed;  /* Config.ExposedPorts */
  bool publish_all;
  char *pod; /* own-kernel isolation, container:<id>: the container whose machine it joins */
};

/* Checks the request, leases addresses for container ID (whose directory
   exists) and fills N; on failure nothing stays leased. */
int berth_engine_net_prepare (struct berth_engine *e, const struct berth_create_request *r,
                              const struct berth_isolation *iso, json_t *image_config, const char *id,
                              struct berth_engine_net *n, berth_err_t *err);
/* A network mode with an address of its own (not none, host or
   container:X). */
bool berth_engine_net_bridge_like (const char *mode);
/* An endpoint on NET for container ID: an address leased now. */
int berth_engine_net_endpoint (struct berth_engine *e, json_t *net, const char *id, const char *want, json_t *aliases,
                               int index, json_t **out, berth_err_t *err);
void berth_engine_net_free (struct berth_engine_net *n);
/* Releases the leases of every network in NETWORKS. */
void berth_engine_net_release (struct berth_engine *e, const char *id, json_t *networks);
/* hostname, hosts and resolv.conf in DIR/etc, with R's --add-host,
   --dns, --dns-search and --dns-option. */
int berth_engine_net_write_etc (const char *dir, const char *hostname, const struct berth_engine_net *n,
                                const struct berth_create_request *r, berth_err_t *err);
/* The spec's network namespace as N wants it. */
void berth_engine_net_spec (json_t *spec, const struct berth_engine_net *n);
/* The record's HostConfig and NetworkSettings. */
void berth_engine_net_record (json_t *rec, const struct berth_engine_net *n);

/* Run by the monitor before the container is made: the namespace, its
   interfaces and the published ports, recorded in REC.  HELD keeps the
   host ports until the container is gone. */
int berth_engine_net_start (struct berth_engine *e, const char *id, json_t *rec, struct berth_net_ports *held,
                            berth_err_t *err);
/* Undoes start (also after a crash); clears the record's Ports. */
void berth_engine_net_stop (struct berth_engine *e, const char *id, json_t *rec);

#endif
