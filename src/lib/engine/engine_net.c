#include "lib/engine/engine_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/utils.h"

bool
berth_engine_net_bridge_like (const char *mode)
{
  return strcmp (mode, "none") != 0 && strcmp (mode, "host") != 0 && !str_has_prefix (mode, "container:");
}

void
berth_engine_net_free (struct berth_engine_net *n)
{
  free (n->mode);
  free (n->netns);
  free (n->share_etc);
  free (n->ip);
  free (n->dns);
  free (n->pod);
  json_decref (n->networks);
  json_decref (n->bindings);
  json_decref (n->exposed);
  memset (n, 0, sizeof (*n));
}

void
berth_engine_net_release (struct berth_engine *e, const char *id, json_t *networks)
{
  const char *name;
  json_t *ep;
  json_object_foreach (networks, name, ep) berth_net_release (e->root, name, id);
}

int
berth_engine_net_endpoint (struct berth_engine *e, json_t *net, const char *id, const char *want, json_t *aliases,
                           int index, json_t **out, berth_err_t *err)
{
  char ip[16], mac[18];
  struct in_addr a;
  uint32_t h;
  const char *subnet = json_string_value (json_object_get (net, "Subnet")) ?: "";
  json_t *al = json_array ();
  if (berth_net_allocate (e->root, net, id, want, ip, err) < 0)
    {
      json_decref (al);
      return -1;
    }
  inet_pton (AF_INET, ip, &a);
  h = ntohl (a.s_addr);
  /* As net.c derives it for the interface. */
  snprintf (mac, sizeof (mac), "02:42:%02x:%02x:%02x:%02x", h >> 24, (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
  if (json_is_true (json_object_get (net, "Dns")))
    json_array_extend (al, aliases);
  *out = json_pack ("{s:O,s:O,s:s,s:i,s:O,s:s,s:o,s:i}", "NetworkID", json_object_get (net, "Id"), "NetworkName",
                    json_object_get (net, "Name"), "IPAddress", ip, "IPPrefixLen",
                    strchr (subnet, '/') ? atoi (strchr (subnet, '/') + 1) : 0, "Gateway",
                    json_object_get (net, "Gateway"), "MacAddress", mac, "Aliases", al, "Index", index);
  return 0;
}

int
berth_engine_net_prepare (struct berth_engine *e, const struct berth_create_request *r,
                          const struct berth_isolation *iso, json_t *image_config, const char *id,
                          struct berth_engine_net *n, berth_err_t *err)
{
  const char *mode = r->network && *r->network ? r->network : BERTH_NET_DEFAULT;
  bool own_kernel = (iso->flags & BERTH_ISOLATION_OWN_KERNEL) != 0;
  json_t *ex = json_object_get (json_object_get (image_config, "config"), "ExposedPorts"), *v;
  const char *key;
  memset (n, 0, sizeof (*n));
  if (strcmp (mode, "default") == 0)
    mode = BERTH_NET_DEFAULT;
  n->networks = json_object ();
  n->bindings = r->publish ? json_deep_copy (r->publish) : json_object ();
  n->exposed = json_object ();
  json_object_foreach (ex, key, v)
  {
    if (berth_net_parse_expose (key, n->exposed, err) < 0)
      return berth_error_wrap (err, "the image's ExposedPorts");
  }
  json_object_update (n->exposed, r->expose);
  json_object_foreach (n->bindings, key, v) json_object_set_new (n->exposed, key, json_object ());
  if (!berth_engine_net_bridge_like (mode) && json_object_size (n->bindings) > 0)
    return berth_error (err, 0, "-p: a container with --network=%s has no ports of its own to publish", mode);
  if (!berth_engine_net_bridge_like (mode) && r->ip)
    return berth_error (err, 0, "--ip: a container with --network=%s has no address of its own", mode);
  if (strcmp (mode, "host") == 0)
    {
      if (own_kernel)
        return berth_error (err, 0,
                            "--network=host: a container with %s isolation has its own kernel and network stack and "
                            "cannot share the host's (publish ports with -p instead)",
                            iso->name);
      n->mode = xstrdup (mode);
      n->netns = xstrdup ("");
      return 0;
    }
  if (strcmp (mode, "none") == 0)
    {
      n->mode = xstrdup (mode);
      return 0;
    }
  if (str_has_prefix (mode, "container:"))
    {
      char other[65];
      json_t *orec = NULL;
      const char *omode, *oiso;
      int ret = 0;
      if (berth_engine_resolve (e, mode + 10, other, err) < 0)
        return berth_error_wrap (err, "--network=%s", mode);
      if (berth_engine_load (e, other, &orec, err) < 0)
        return -1;
      omode = json_string_value (json_object_get (json_object_get (orec, "HostConfig"), "NetworkMode")) ?: "none";
      oiso = json_string_value (json_object_get (orec, "Isolation")) ?: "process";
      /* Namespaces are shared within one kernel: the host's, or a
         machine's of its own (then the new container joins that machine). */
      if (strcmp (iso->name, oiso) != 0)
        ret = berth_error (err, 0,
                           "--network=%s: a container with %s isolation cannot join the network of one with %s "
                           "isolation (run it with --isolation=%s and it %s)",
                           mode, iso->name, oiso, oiso, own_kernel ? "shares that kernel" : "joins that machine");
      else if (str_has_prefix (omode, "container:"))
        ret = berth_error (err, 0, "--network=%s: that container shares another's network (%s): join that one", mode,
                           omode);
      else if (strcmp (omode, "none") == 0)
        ret = berth_error (err, 0, "--network=%s: that container has no network namespace to share (--network=none)",
                           mode);
      else
        {
          n->mode = xasprintf ("container:%s", other);
          n->netns = strcmp (omode, "host") == 0 ? xstrdup ("") : berth_net_netns_path (e->root, other);
          n->share_etc = berth_engine_dir (e, other);
          /* Both with a kernel of their own: one machine per pod, the new
             container runs in the other's. */
          if (own_kernel)
            n->pod = xstrdup (other);
        }
      json_decref (orec);
      return ret;
    }
  {
    json_t *net = NULL, *ep = NULL;
    if (berth_net_get (e->root, mode, &net, err) < 0)
      return berth_error_wrap (err, "--network");
    if (!json_is_true (json_object_get (net, "Dns")) && json_array_size (r->aliases) > 0)
      {
        json_decref (net);
        return berth_error (err, 0, "--network-alias: only containers on user networks have aliases");
      }
    if (berth_engine_net_endpoint (e, net, id, r->ip, r->aliases, 0, &ep, err) < 0)
      {
        json_decref (net);
        return -1;
      }
    n->mode = xstrdup (mode);
    n->netns = berth_net_netns_path (e->root, id);
    n->ip = xstrdup (json_string_value (json_object_get (ep, "IPAddress")));
    if (json_is_true (json_object_get (net, "Dns")))
      n->dns = xstrdup (json_string_value (json_object_get (net, "Gateway")));
    json_object_set_new (n->networks, mode, ep);
    json_decref (net);
  }
  n->publish_all = r->publish_all;
  if (r->publish_all)
    json_object_foreach (n->exposed, key, v)
    {
      if (json_object_get (n->bindings, key) == NULL)
        json_object_set_new (n->bindings, key, json_pack ("[{s:s,s:s}]", "HostIp", "", "HostPort", ""));
    }
  return 0;
}

/* host-gateway in --add-host: the host as the container reaches it, the
   gateway of its first network (the host itself with --network host). */
static int
host_gateway (const struct berth_engine_net *n, const char **out, berth_err_t *err)
{
  const char *k;
  json_t *ep;
  json_object_foreach (n->networks, k, ep)
  {
    const char *gw = json_string_value (json_object_get (ep, "Gateway"));
    if (gw && *gw)
      {
        *out = gw;
        return 0;
      }
  }
  if (n->netns && n->netns[0] == '\0')
    {
      *out = "127.0.0.1";
      return 0;
    }
  return berth_error (err, EINVAL, "--add-host: host-gateway: network %s has no gateway to the host",
                      n->mode ? n->mode : "none");
}

/* The lines of TEXT that start with WORD (and a blank), joined. */
static char *
resolv_lines (const char *text, const char *word)
{
  char *out = xstrdup ("");
  size_t wl = strlen (word);
  for (const char *p = text; p && *p;)
    {
      const char *nl = strchr (p, '\n');
      size_t len = nl ? (size_t)(nl - p) + 1 : strlen (p);
      if (strncmp (p, word, wl) == 0 && (p[wl] == ' ' || p[wl] == '\t'))
        {
          char *t = xasprintf ("%s%.*s%s", out, (int)len, p, nl ? "" : "\n");
          free (out);
          out = t;
        }
      p += len;
    }
  return out;
}

/* "WORD a b\n" from LIST ("." stands for nothing), or "" when empty. */
static char *
resolv_words (const char *word, json_t *list)
{
  char *out = xstrdup (word);
  json_t *v;
  size_t i;
  json_array_foreach (list, i, v)
  {
    char *t;
    if (strcmp (json_string_value (v) ?: ".", ".") == 0)
      continue;
    t = xasprintf ("%s %s", out, json_string_value (v));
    free (out);
    out = t;
  }
  if (strcmp (out, word) == 0)
    out[0] = '\0';
  else
    {
      char *t = xasprintf ("%s\n", out);
      free (out);
      out = t;
    }
  return out;
}

/* docker's rule: --dns, --dns-search and --dns-option each replace their
   part of the resolv.conf the container would get; on a network with
   berth's name server, that server stays first so names of containers
   still resolve. */
static char *
resolv_custom (const char *base, const struct berth_engine_net *n, const struct berth_create_request *r)
{
  cleanup_free char *ns = NULL, *search = NULL, *opts = NULL;
  json_t *v;
  size_t i;
  if (json_array_size (r->dns) > 0)
    {
      ns = n->dns ? xasprintf ("nameserver %s\n", n->dns) : xstrdup ("");
      json_array_foreach (r->dns, i, v)
      {
        char *t = xasprintf ("%snameserver %s\n", ns, json_string_value (v));
        free (ns);
        ns = t;
      }
    }
  else
    ns = resolv_lines (base, "nameserver");
  search = json_array_size (r->dns_search) > 0 ? resolv_words ("search", r->dns_search)
                                               : resolv_lines (base, "search");
  opts = json_array_size (r->dns_options) > 0 ? resolv_words ("options", r->dns_options)
                                              : resolv_lines (base, "options");
  return xasprintf ("%s%s%s", search, ns, opts);
}

int
berth_engine_net_write_etc (const char *dir, const char *hostname, const struct berth_engine_net *n,
                            const struct berth_create_request *r, berth_err_t *err)
{
  cleanup_free char *etc = xasprintf ("%s/etc", dir);
  cleanup_free char *hn = xasprintf ("%s/hostname", etc);
  cleanup_free char *hosts = xasprintf ("%s/hosts", etc);
  cleanup_free char *resolv = xasprintf ("%s/resolv.conf", etc);
  cleanup_free char *hn_text = xasprintf ("%s\n", hostname);
  cleanup_free char *hosts_text = NULL, *resolv_text = NULL;
  bool custom_dns = json_array_size (r->dns) + json_array_size (r->dns_search) + json_array_size (r->dns_options) > 0;
  json_t *h;
  size_t i;
  if (custom_dns && n->share_etc)
    return berth_error (err, EINVAL,
                        "--dns, --dns-search and --dns-option cannot be used with --network container:X (it "
                        "shares that container's resolv.conf)");
  if (mkdir (etc, 0755) < 0 && errno != EEXIST)
    return berth_error (err, errno, "mkdir `%s`", etc);
  if (n->share_etc)
    {
      /* A pod: the files of the container whose network it joins. */
      cleanup_free char *oh = xasprintf ("%s/etc/hosts", n->share_etc);
      cleanup_free char *orr = xasprintf ("%s/etc/resolv.conf", n->share_etc);
      if (read_file_at (AT_FDCWD, oh, &hosts_text, NULL, err) < 0
          || read_file_at (AT_FDCWD, orr, &resolv_text, NULL, err) < 0)
        return -1;
    }
  else if (n->netns && n->netns[0] == '\0')
    {
      if (read_file_at (AT_FDCWD, "/etc/hosts", &hosts_text, NULL, err) < 0)
        return -1;
    }
  else
    hosts_text = xasprintf ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n",
                            n->ip ? n->ip : "127.0.1.1", hostname);
  json_array_foreach (r->add_hosts, i, h)
  {
    /* --add-host name:ip (checked by the CLI); ip may be host-gateway. */
    const char *s = json_string_value (h) ?: "";
    const char *c = strchr (s, ':'), *ip;
    char *t;
    if (c == NULL)
      continue;
    ip = c + 1;
    if (strcmp (ip, "host-gateway") == 0 && host_gateway (n, &ip, err) < 0)
      return -1;
    t = xasprintf ("%s%s\t%.*s\n", hosts_text, ip, (int)(c - s), s);
    free (hosts_text);
    hosts_text = t;
  }
  if (resolv_text == NULL && n->dns)
    resolv_text = xasprintf ("nameserver %s\noptions ndots:0\n", n->dns);
  if (resolv_text == NULL)
    {
      /* The host's resolvers, unless they are local stubs a container's
         own network namespace cannot reach. */
      berth_err_t e2 = NULL;
      if (read_file_at (AT_FDCWD, "/etc/resolv.conf", &resolv_text, NULL, &e2) < 0)
        {
          berth_error_release (&e2);
          resolv_text = xstrdup ("");
        }
      if ((!n->netns || n->netns[0]) && (strstr (resolv_text, "127.0.0.") || resolv_text[0] == '\0'))
        {
          free (resolv_text);
          resolv_text = xstrdup ("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        }
    }
  if (custom_dns)
    {
      char *t = resolv_custom (resolv_text, n, r);
      free (resolv_text);
      resolv_text = t;
    }
  if (write_file_at (AT_FDCWD, hn, hn_text, strlen (hn_text), err) < 0
      || write_file_at (AT_FDCWD, hosts, hosts_text, strlen (hosts_text), err) < 0
      || write_file_at (AT_FDCWD, resolv, resolv_text, strlen (resolv_text), err) < 0)
    return -1;
  return 0;
}

void
berth_engine_net_spec (json_t *spec, const struct berth_engine_net *n)
{
  json_t *nss = json_object_get (json_object_get (spec, "linux"), "namespaces"), *ns;
  size_t i;
  json_array_foreach (nss, i, ns)
  {
    if (strcmp (json_string_value (json_object_get (ns, "type")) ?: "", "network") != 0)
      continue;
    if (n->netns && n->netns[0] == '\0')
      json_array_remove (nss, i);
    else if (n->netns)
      json_object_set_new (ns, "path", json_string (n->netns));
    return;
  }
}

void
berth_engine_net_record (json_t *rec, const struct berth_engine_net *n)
{
  json_t *cfg = json_object_get (rec, "Config");
  json_object_set_new (rec, "HostConfig",
                       json_pack ("{s:s,s:O,s:b}", "NetworkMode", n->mode, "PortBindings", n->bindings,
                                  "PublishAllPorts", n->publish_all));
  json_object_set_new (rec, "NetworkSettings",
                       json_pack ("{s:O,s:o,s:s}", "Networks", n->networks, "Ports", json_object (), "SandboxKey",
                                  n->netns ? n->netns : ""));
  if (cfg)
    json_object_set (cfg, "ExposedPorts", n->exposed);
}

static int
set_ports (json_t *rec, void *arg, berth_err_t *err)
{
  (void)err;
  json_object_set (json_object_get (rec, "NetworkSettings"), "Ports", arg);
  return 0;
}

int
berth_engine_net_start (struct berth_engine *e, const char *id, json_t *rec, struct berth_net_ports *held,
                        berth_err_t *err)
{
  json_t *hc = json_object_get (rec, "HostConfig"), *ns = json_object_get (rec, "NetworkSettings"), *ports = NULL;
  const char *mode = json_string_value (json_object_get (hc, "NetworkMode")) ?: "none";
  const char *name = json_string_value (json_object_get (rec, "Name")) ?: id;
  held->n = 0;
  /* A pod member's network is the other container's (berth_engine_start
     checked that it runs). */
  if (str_has_prefix (mode, "container:"))
    return 0;
  if (json_object_size (json_object_get (ns, "Networks")) == 0)
    return 0;
  if (berth_net_setup (e->root, id, name, json_object_get (ns, "Networks"), json_object_get (hc, "PortBindings"),
                       &ports, held, err)
      < 0)
    return -1;
  json_object_set_new (ns, "Ports", ports);
  /* Saved now: a crash from here on must find the ports to unpublish. */
  if (berth_engine_update (e, id, set_ports, ports, NULL, err) < 0)
    {
      berth_err_t e2 = NULL;
      berth_net_teardown (e->root, id, json_object_get (ns, "Networks"), ports, &e2);
      berth_error_release (&e2);
      berth_net_ports_release (held);
      json_object_set_new (ns, "Ports", json_object ());
      return -1;
    }
  return 0;
}

void
berth_engine_net_stop (struct berth_engine *e, const char *id, json_t *rec)
{
  json_t *ns = json_object_get (rec, "NetworkSettings");
  berth_err_t e2 = NULL;
  if (json_object_size (json_object_get (ns, "Networks")) == 0)
    return;
  berth_net_teardown (e->root, id, json_object_get (ns, "Networks"), json_object_get (ns, "Ports"), &e2);
  berth_error_release (&e2);
  json_object_set_new (ns, "Ports", json_object ());
}
