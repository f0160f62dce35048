/* berth network create|ls|inspect|rm|connect|disconnect, and berth port. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/engine/engine.h"
#include "lib/net/net.h"
#include "lib/base/utils.h"

static const char network_usage[]
    = "Usage: berth network create [--subnet CIDR] [--gateway IP] [--internal] [-l K=V] NAME\n"
      "       berth network ls [-q] [--filter name=|id=|driver=|label=|type=builtin|custom] [--format F]\n"
      "       berth network inspect NAME...\n"
      "       berth network rm NAME...\n"
      "       berth network connect [--ip IP] [--alias NAME] NETWORK CONTAINER\n"
      "       berth network disconnect NETWORK CONTAINER\n";

/* The network with its attached containers, as docker inspect shows it. */
static json_t *
with_containers (struct berth_engine *e, json_t *net)
{
  json_t *members = NULL, *cs = json_object ();
  const char *id;
  json_t *ip;
  berth_err_t err = NULL;
  if (berth_net_members (cli.root, json_string_value (json_object_get (net, "Name")), &members, &err) < 0)
    berth_error_release (&err);
  json_object_foreach (members, id, ip)
  {
    json_t *rec = NULL;
    const char *name = "";
    if (berth_engine_load (e, id, &rec, &err) == 0)
      name = json_string_value (json_object_get (rec, "Name")) ?: "";
    berth_error_release (&err);
    json_object_set_new (cs, id, json_pack ("{s:s,s:O}", "Name", name, "IPv4Address", ip));
    json_decref (rec);
  }
  json_decref (members);
  json_object_set_new (net, "Containers", cs);
  return net;
}

json_t *
cli_network_record (const char *name, berth_err_t *err)
{
  struct berth_engine *e = NULL;
  json_t *n = NULL;
  if (berth_net_get (cli.root, name, &n, err) < 0)
    return NULL;
  if (berth_engine_open (cli.root, &e, err) < 0)
    {
      json_decref (n);
      return NULL;
    }
  n = with_containers (e, n);
  berth_engine_close (e);
  return n;
}

static int
net_create (int argc, char **argv)
{
  static const struct option opts[]
      = { { "subnet", required_argument, NULL, 's' }, { "gateway", required_argument, NULL, 'g' },
          { "internal", no_argument, NULL, 'i' },     { "label", required_argument, NULL, 'l' },
          { "driver", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
  const char *subnet = NULL, *gateway = NULL;
  bool internal = false;
  json_t *labels = json_object (), *net = NULL;
  berth_err_t err = NULL;
  int o;
  optind = 0;
  while ((o = getopt_long (argc, argv, "l:d:", opts, NULL)) != -1)
    switch (o)
      {
      case 's':
        subnet = optarg;
        break;
      case 'g':
        gateway = optarg;
        break;
      case 'i':
        internal = true;
        break;
      case 'l':
        {
          const char *eq = strchr (optarg, '=');
          cleanup_free char *k = eq ? strndup (optarg, (size_t)(eq - optarg)) : xstrdup (optarg);
          json_object_set_new (labels, k, json_string (eq ? eq + 1 : ""));
        }
        break;
      case 'd':
        if (strcmp (optarg, "bridge") != 0)
          return cli_usage ("network create", "--driver %s: berth has the bridge driver only", optarg);
        break;
      default:
        return cli_usage ("network create", "unknown option");
      }
  if (optind != argc - 1)
    return cli_usage ("network create", "requires exactly one network name");
  if (berth_net_create (cli.root, argv[optind], subnet, gateway, internal, labels, &net, &err) < 0)
    {
      json_decref (labels);
      return cli_error (&err);
    }
  printf ("%s\n", json_string_value (json_object_get (net, "Id")));
  json_decref (net);
  json_decref (labels);
  return 0;
}

static const char *const net_filter_keys[] = { "name", "id", "driver", "label", "type", NULL };

static bool
net_filter (const char *key, const char *value, json_t *n, void *ctx)
{
  (void)ctx;
  if (strcmp (key, "name") == 0)
    return strstr (json_string_value (json_object_get (n, "Name")) ?: "", value) != NULL;
  if (strcmp (key, "id") == 0)
    return strncmp (json_string_value (json_object_get (n, "Id")) ?: "", value, strlen (value)) == 0;
  if (strcmp (key, "driver") == 0)
    return strcmp (json_string_value (json_object_get (n, "Driver")) ?: "", value) == 0;
  if (strcmp (key, "label") == 0)
    return cli_filter_label (value, json_object_get (n, "Labels"));
  /* type: docker's builtin (host, none, the default bridge) or custom. */
  return strcmp (value,
                 json_is_true (json_object_get (n, "Builtin"))
                         || strcmp (json_string_value (json_object_get (n, "Name")) ?: "", BERTH_NET_DEFAULT) == 0
                     ? "builtin"
                     : "custom")
         == 0;
}

/* network ls [-q] [--filter K=V] [--format F] [--no-trunc] */
static int
net_ls (int argc, char **argv)
{
  static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' },
                                        { "filter", required_argument, NULL, 'F' },
                                        { "format", required_argument, NULL, 'f' },
                                        { "no-trunc", no_argument, NULL, 'N' },
                                        { NULL, 0, NULL, 0 } };
  static const struct cli_field names[] = { { "ID", "" },    { "Name", "" },     { "Driver", "" },   { "Subnet", "" },
                                            { "Scope", "" }, { "Internal", "" }, { "CreatedAt", "" } };
  struct cli_filters filters = { .cmd = "network ls", .keys = net_filter_keys };
  json_t *list = NULL, *bad = NULL, *n, *def = NULL, *out = json_array ();
  berth_err_t err = NULL;
  const char *format = "table";
  bool quiet = false, notrunc = false;
  size_t i;
  int o;
  optind = 0;
  while ((o = getopt_long (argc, argv, "qf:", opts, NULL)) != -1)
    switch (o)
      {
      case 'q':
        quiet = true;
        break;
      case 'F':
        if ((o = cli_filter_add (&filters, optarg)) != 0)
          goto done;
        break;
      case 'f':
        format = optarg;
        break;
      case 'N':
        notrunc = true;
        break;
      default:
        o = cli_usage ("network ls", "unknown option");
        goto done;
      }
  if (optind != argc)
    {
      o = cli_usage ("network ls", "takes no arguments");
      goto done;
    }
  /* The default network is always listed, made on first use. */
  if (berth_net_get (cli.root, BERTH_NET_DEFAULT, &def, &err) < 0 || berth_net_list (cli.root, &list, &bad, &err) < 0)
    {
      o = cli_error (&err);
      goto done;
    }
  /* Named, never dropped in silence; the rest are listed. */
  json_array_foreach (bad, i, n)
  {
    const char *name = json_string_value (json_object_get (n, "Name"));
    fprintf (stderr, "berth: warning: network %s is left out: %s (berth network rm %s removes it)\n", name,
             json_string_value (json_object_get (n, "Error")), name);
  }
  json_array_foreach (list, i, n) if (cli_filters_match (&filters, net_filter, n, NULL)) json_array_append (out, n);
  {
    /* host and none, as docker lists them. */
    json_t *h = json_pack ("{s:s,s:s,s:s,s:s,s:b}", "Id", "host", "Name", "host", "Driver", "host", "Scope", "local",
                           "Builtin", 1);
    json_t *z = json_pack ("{s:s,s:s,s:s,s:s,s:b}", "Id", "none", "Name", "none", "Driver", "null", "Scope", "local",
                           "Builtin", 1);
    if (cli_filters_match (&filters, net_filter, h, NULL))
      json_array_append (out, h);
    if (cli_filters_match (&filters, net_filter, z, NULL))
      json_array_append (out, z);
    json_decref (h);
    json_decref (z);
  }
  if ((o = cli_format_begin ("network ls", format, names, ARRAY_SIZE (names), quiet)) != 0)
    goto done;
  if (strcmp (format, "json") == 0 && !quiet)
    {
      json_dumpf (out, stdout, JSON_COMPACT);
      putchar ('\n');
      goto done;
    }
  if (!quiet && strcmp (format, "table") == 0)
    printf ("%-12s   %-20s %-8s %-18s %s\n", "NETWORK ID", "NAME", "DRIVER", "SUBNET", "SCOPE");
  json_array_foreach (out, i, n)
  {
    char id[65];
    snprintf (id, sizeof (id), "%.*s", notrunc ? 64 : 12, json_string_value (json_object_get (n, "Id")) ?: "");
    if (quiet)
      printf ("%s\n", id);
    else if (strcmp (format, "table") == 0)
      printf ("%-12s   %-20s %-8s %-18s %s\n", id, json_string_value (json_object_get (n, "Name")),
              json_string_value (json_object_get (n, "Driver")) ?: "bridge",
              json_string_value (json_object_get (n, "Subnet")) ?: "", "local");
    else
      {
        const struct cli_field f[] = {
          { "ID", id },
          { "Name", json_string_value (json_object_get (n, "Name")) },
          { "Driver", json_string_value (json_object_get (n, "Driver")) ?: "bridge" },
          { "Subnet", json_string_value (json_object_get (n, "Subnet")) },
          { "Scope", "local" },
          { "Internal", json_is_true (json_object_get (n, "Internal")) ? "true" : "false" },
          { "CreatedAt", json_string_value (json_object_get (n, "Created")) },
        };
        if (cli_format_row (format, f, ARRAY_SIZE (f), json_object_get (n, "Labels"), &err) < 0)
          {
            o = cli_error (&err);
            goto done;
          }
      }
  }
  o = 0;
done:
  json_decref (def);
  json_decref (list);
  json_decref (bad);
  json_decref (out);
  return o;
}

int
cmd_network (int argc, char **argv)
{
  berth_err_t err = NULL;
  const char *sub = argc > 1 ? argv[1] : "";
  struct berth_engine *e = NULL;
  int rc = 0;
  if (argc < 2 || strcmp (sub, "--help") == 0)
    {
      fputs (network_usage, argc < 2 ? stderr : stdout);
      return argc < 2 ? 125 : 0;
    }
  if (strcmp (sub, "create") == 0)
    return net_create (argc - 1, argv + 1);
  if (berth_engine_open (cli.root, &e, &err) < 0)
    return cli_error (&err);
  if (strcmp (sub, "ls") == 0 || strcmp (sub, "list") == 0)
    rc = net_ls (argc - 1, argv + 1);
  else if (strcmp (sub, "inspect") == 0)
    {
      json_t *out = json_array ();
      const char *format = NULL;
      int nargc = argc - 1;
      char **nargv = argv + 1;
      rc = cli_inspect_options (&nargc, &nargv, &format, NULL);
      if (rc == 0 && nargc < 2)
        rc = cli_usage ("network inspect", "requires at least one network");
      for (int i = 1; i < nargc && rc == 0; i++)
        {
          json_t *n = NULL;
          if (berth_net_get (cli.root, nargv[i], &n, &err) < 0)
            {
              fprintf (stderr, "berth: %s\n", err->msg);
              berth_error_release (&err);
              rc = 1;
              continue;
            }
          json_array_append_new (out, with_containers (e, n));
        }
      if (json_array_size (out))
        {
          int r = cli_print_inspect (out, format);
          rc = r ? r : rc;
        }
      json_decref (out);
    }
  else if (strcmp (sub, "rm") == 0 || strcmp (sub, "remove") == 0)
    {
      if (argc < 3)
        rc = cli_usage ("network rm", "requires at least one network");
      for (int i = 2; i < argc; i++)
        {
          if (berth_net_remove (cli.root, argv[i], &err) < 0)
            {
              fprintf (stderr, "berth: %s\n", err->msg);
              berth_error_release (&err);
              rc = 1;
            }
          else
            printf ("%s\n", argv[i]);
        }
    }
  else if (strcmp (sub, "connect") == 0 || strcmp (sub, "disconnect") == 0)
    {
      static const struct option opts[] = { { "ip", required_argument, NULL, 'i' },
                                            { "alias", required_argument, NULL, 'a' },
                                            { "force", no_argument, NULL, 'f' },
                                            { NULL, 0, NULL, 0 } };
      const char *ip = NULL;
      json_t *aliases = json_array ();
      char id[65];
      int o;
      bool connect = strcmp (sub, "connect") == 0;
      optind = 0;
      while ((o = getopt_long (argc - 1, argv + 1, "f", opts, NULL)) != -1)
        {
          if (o == 'i' && connect)
            ip = optarg;
          else if (o == 'a' && connect)
            json_array_append_new (aliases, json_string (optarg));
          else if (o != 'f')
            {
              json_decref (aliases);
              berth_engine_close (e);
              return cli_usage (connect ? "network connect" : "network disconnect", "unknown option");
            }
        }
      if (optind + 2 != argc - 1)
        rc = cli_usage (connect ? "network connect" : "network disconnect", "requires a network and a container");
      else if (berth_engine_resolve (e, argv[optind + 2], id, &err) < 0
               || (connect ? berth_engine_connect (e, id, argv[optind + 1], ip, aliases, &err)
                           : berth_engine_disconnect (e, id, argv[optind + 1], &err))
                      < 0)
        rc = cli_error (&err);
      json_decref (aliases);
    }
  else
    {
      fputs (network_usage, stderr);
      rc = 125;
    }
  berth_engine_close (e);
  return rc;
}

/* berth port CONTAINER [PORT[/PROTO]] */
int
cmd_port (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  json_t *rec = NULL, *ports, *list, *b;
  char id[65];
  const char *key;
  int found = 0;
  if (cli_help (argc, argv, "port CONTAINER [PORT[/PROTO]]", NULL))
    return 0;
  if (argc < 2 || argc > 3)
    return cli_usage ("port", "requires a container and at most one port");
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_resolve (e, argv[1], id, &err) < 0
      || berth_engine_refresh (e, id, &rec, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  ports = json_object_get (json_object_get (rec, "NetworkSettings"), "Ports");
  json_object_foreach (ports, key, list)
  {
    size_t i;
    if (argc == 3)
      {
        cleanup_free char *want = strchr (argv[2], '/') ? xstrdup (argv[2]) : xasprintf ("%s/tcp", argv[2]);
        if (strcmp (want, key) != 0)
          continue;
      }
    json_array_foreach (list, i, b)
    {
      found++;
      if (argc == 3)
        printf ("%s:%s\n", json_string_value (json_object_get (b, "HostIp")),
                json_string_value (json_object_get (b, "HostPort")));
      else
        printf ("%s -> %s:%s\n", key, json_string_value (json_object_get (b, "HostIp")),
                json_string_value (json_object_get (b, "HostPort")));
    }
  }
  json_decref (rec);
  berth_engine_close (e);
  if (argc == 3 && found == 0)
    {
      fprintf (stderr, "berth: no public port '%s' published for %s\n", argv[2], argv[1]);
      return 1;
    }
  return 0;
}
