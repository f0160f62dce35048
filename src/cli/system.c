/* berth system df|prune and berth container prune: what the root holds,
   and giving back what nothing uses, as docker's commands of those names. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/engine/volume.h"
#include "lib/image/image.h"
#include "lib/net/net.h"

static bool
running (json_t *c)
{
  return strcmp (json_string_value (json_object_get (json_object_get (c, "State"), "Status")) ?: "", "running") == 0;
}

static const char *const prune_filter_keys[] = { "label", "until", NULL };

static bool
prune_filter (const char *key, const char *value, json_t *c, void *ctx)
{
  (void)ctx;
  if (strcmp (key, "label") == 0)
    return cli_filter_label (value, json_object_get (json_object_get (c, "Config"), "Labels"));
  {
    /* until: made before that time. */
    long long until = 0, created = 0;
    berth_err_t e = NULL;
    bool ok = cli_parse_when ("filter until", value, &until, &e) == 0
              && cli_parse_rfc3339 (json_string_value (json_object_get (c, "Created")) ?: "", &created);
    berth_error_release (&e);
    return ok && created < until;
  }
}

/* Removes every container that is not running (and passes FILTERS);
   prints their ids; *FREED: their bytes on disk. */
static int
prune_containers (struct cli_filters *filters, int64_t *freed)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  json_t *list = NULL, *c;
  size_t i;
  bool header = false;
  *freed = 0;
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_list (e, &list, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  json_array_foreach (list, i, c)
  {
    const char *id = json_string_value (json_object_get (c, "Id")) ?: "";
    cleanup_free char *dir = berth_engine_dir (e, id);
    int64_t size;
    if (running (c) || !cli_filters_match (filters, prune_filter, c, NULL))
      continue;
    size = disk_usage (dir);
    if (berth_engine_remove (e, id, false, &err) < 0)
      {
        /* Started since it was listed: not ours to remove. */
        berth_error_release (&err);
        continue;
      }
    if (!header)
      printf ("Deleted Containers:\n");
    header = true;
    printf ("%s\n", id);
    *freed += size;
  }
  if (header)
    putchar ('\n');
  json_decref (list);
  berth_engine_close (e);
  return 0;
}

static int
prune_filter_add (struct cli_filters *f, char *arg)
{
  long long ns;
  berth_err_t err = NULL;
  if (strncmp (arg, "until=", 6) == 0 && cli_parse_when ("filter until", arg + 6, &ns, &err) < 0)
    return cli_error (&err);
  return cli_filter_add (f, arg);
}

int
cmd_container_prune (int argc, char **argv)
{
  static const struct option opts[]
      = { { "force", no_argument, NULL, 'f' }, { "filter", required_argument, NULL, 'F' }, { NULL, 0, NULL, 0 } };
  struct cli_filters filters = { .cmd = "container prune", .keys = prune_filter_keys };
  int64_t freed = 0;
  char human[32];
  int c, r;
  if (cli_help (argc, argv, "container prune [-f] [--filter label=K[=V]|until=WHEN]",
                "  removes every container that is not running\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "f", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        break; /* berth does not ask */
      case 'F':
        if ((r = prune_filter_add (&filters, optarg)) != 0)
          return r;
        break;
      default:
        return cli_usage ("container prune", "unknown option");
      }
  if (optind != argc)
    return cli_usage ("container prune", "takes no arguments");
  if ((r = prune_containers (&filters, &freed)) != 0)
    return r;
  cli_human_size ((double)freed, human, sizeof (human));
  printf ("Total reclaimed space: %s\n", human);
  return 0;
}

/* User networks with no container on them. */
static void
prune_networks (void)
{
  json_t *list = NULL, *n;
  berth_err_t err = NULL;
  size_t i;
  bool header = false;
  if (berth_net_list (cli.root, &list, NULL, &err) < 0)
    {
      berth_error_release (&err);
      return;
    }
  json_array_foreach (list, i, n)
  {
    const char *name = json_string_value (json_object_get (n, "Name")) ?: "";
    if (strcmp (name, BERTH_NET_DEFAULT) == 0)
      continue;
    if (berth_net_remove (cli.root, name, &err) == 0)
      {
        if (!header)
          printf ("Deleted Networks:\n");
        header = true;
        printf ("%s\n", name);
      }
    berth_error_release (&err);
  }
  if (header)
    putchar ('\n');
  json_decref (list);
}

static int
system_prune (int argc, char **argv)
{
  static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
                                        { "force", no_argument, NULL, 'f' },
                                        { "volumes", no_argument, NULL, 'V' },
                                        { "filter", required_argument, NULL, 'F' },
                                        { NULL, 0, NULL, 0 } };
  struct cli_filters filters = { .cmd = "system prune", .keys = prune_filter_keys };
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  json_t *untagged = NULL, *v;
  bool all = false, volumes = false;
  int64_t freed = 0, f2 = 0;
  char human[32];
  size_t i;
  int c, r;
  optind = 0;
  while ((c = getopt_long (argc, argv, "af", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        all = true;
        break;
      case 'f':
        break;
      case 'V':
        volumes = true;
        break;
      case 'F':
        if ((r = prune_filter_add (&filters, optarg)) != 0)
          return r;
        break;
      default:
        return cli_usage ("system prune", "unknown option");
      }
  if (optind != argc)
    return cli_usage ("system prune", "takes no arguments");
  /* Containers first: what they held (images, volumes, networks) is then
     free to go. */
  if ((r = prune_containers (&filters, &freed)) != 0)
    return r;
  prune_networks ();
  if (volumes && (r = cli_volume_prune (NULL, false, &freed)) != 0)
    return r;
  if ((r = cli_open_store (&s)) != 0)
    return r;
  if (berth_image_prune (s, all, &f2, &untagged, &err) < 0)
    {
      berth_store_close (s);
      return cli_error (&err);
    }
  berth_store_close (s);
  if (json_array_size (untagged))
    {
      printf ("Deleted Images:\n");
      json_array_foreach (untagged, i, v) printf ("untagged: %s\n", json_string_value (v));
      putchar ('\n');
    }
  json_decref (untagged);
  cli_human_size ((double)(freed + f2), human, sizeof (human));
  printf ("Total reclaimed space: %s\n", human);
  return 0;
}

/* docker's four rows (build cache is always empty: berth does not build). */
static int
system_df (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  json_t *ctrs = NULL, *imgs = NULL, *vols = NULL, *x, *used_images = json_object ();
  int64_t isize = 0, ireclaim = 0, csize = 0, creclaim = 0, vsize = 0, vreclaim = 0;
  size_t i, iactive = 0, cactive = 0, vactive = 0, nimages = 0;
  bool verbose = argc > 1 && (strcmp (argv[1], "-v") == 0 || strcmp (argv[1], "--verbose") == 0);
  int r;
  if (argc > (verbose ? 2 : 1))
    return cli_usage ("system df", "takes only -v");
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_list (e, &ctrs, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  if ((r = cli_open_store (&s)) != 0)
    {
      berth_engine_close (e);
      json_decref (ctrs);
      return r;
    }
  if (berth_image_list (s, &imgs, &err) < 0 || berth_volume_list (cli.root, &vols, &err) < 0)
    {
      r = cli_error (&err);
      goto out;
    }
  if (verbose)
    printf ("Containers space usage:\n\n%-14s %-20s %-10s %s\n", "CONTAINER ID", "NAMES", "SIZE", "STATUS");
  json_array_foreach (ctrs, i, x)
  {
    const char *id = json_string_value (json_object_get (x, "Id")) ?: "";
    cleanup_free char *dir = berth_engine_dir (e, id);
    cleanup_free char *upper = xasprintf ("%s/upper", dir);
    int64_t sz = disk_usage (upper);
    char h[32];
    json_object_set_new (used_images, json_string_value (json_object_get (x, "ImageID")) ?: "", json_true ());
    csize += sz;
    if (running (x))
      cactive++;
    else
      creclaim += sz;
    cli_human_size ((double)sz, h, sizeof (h));
    if (verbose)
      printf ("%-14.12s %-20s %-10s %s\n", id, json_string_value (json_object_get (x, "Name")) ?: "", h,
              json_string_value (json_object_get (json_object_get (x, "State"), "Status")) ?: "");
  }
  {
    /* One image under several names counts once. */
    json_t *seen = json_object ();
    json_array_foreach (imgs, i, x)
    {
      const char *iid = json_string_value (json_object_get (x, "id")) ?: "";
      int64_t sz = json_integer_value (json_object_get (x, "size"));
      if (json_object_get (seen, iid))
        continue;
      json_object_set_new (seen, iid, json_true ());
      isize += sz;
      if (json_object_get (used_images, iid))
        iactive++;
      else
        ireclaim += sz;
    }
    nimages = json_object_size (seen);
    json_decref (seen);
  }
  if (verbose)
    printf ("\nLocal Volumes space usage:\n\n%-30s %-8s %s\n", "VOLUME NAME", "LINKS", "SIZE");
  json_array_foreach (vols, i, x)
  {
    const char *name = json_string_value (json_object_get (x, "Name")) ?: "";
    int64_t sz = disk_usage (json_string_value (json_object_get (x, "Mountpoint")) ?: "");
    json_t *users = NULL;
    berth_err_t e2 = NULL;
    size_t links = berth_volume_users (cli.root, name, &users, &e2) == 0 ? json_array_size (users) : 0;
    char h[32];
    berth_error_release (&e2);
    json_decref (users);
    vsize += sz;
    if (links)
      vactive++;
    else
      vreclaim += sz;
    cli_human_size ((double)sz, h, sizeof (h));
    if (verbose)
      printf ("%-30s %-8zu %s\n", name, links, h);
  }
  if (verbose)
    putchar ('\n');
  {
    struct
    {
      const char *type;
      size_t total, active;
      int64_t size, reclaim;
    } rows[] = { { "Images", nimages, iactive, isize, ireclaim },
                 { "Containers", json_array_size (ctrs), cactive, csize, creclaim },
                 { "Local Volumes", json_array_size (vols), vactive, vsize, vreclaim },
                 { "Build Cache", 0, 0, 0, 0 } };
    printf ("%-15s %-7s %-8s %-10s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
    for (size_t k = 0; k < ARRAY_SIZE (rows); k++)
      {
        char sz[32], rc[32];
        cli_human_size ((double)rows[k].size, sz, sizeof (sz));
        cli_human_size ((double)rows[k].reclaim, rc, sizeof (rc));
        printf ("%-15s %-7zu %-8zu %-10s %s (%d%%)\n", rows[k].type, rows[k].total, rows[k].active, sz, rc,
                rows[k].size ? (int)(rows[k].reclaim * 100 / rows[k].size) : 0);
      }
  }
  r = 0;
out:
  json_decref (ctrs);
  json_decref (imgs);
  json_decref (vols);
  json_decref (used_images);
  berth_store_close (s);
  berth_engine_close (e);
  return r;
}

int
cmd_system (int argc, char **argv)
{
  const char *sub = argc > 1 ? argv[1] : "";
  if (strcmp (sub, "df") == 0)
    return system_df (argc - 1, argv + 1);
  if (strcmp (sub, "prune") == 0)
    {
      if (cli_help (argc - 1, argv + 1, "system prune [-a] [--volumes] [-f] [--filter label=|until=]",
                    "  removes stopped containers, networks no container uses, dangling images\n"
                    "  -a, --all      every image no container uses\n"
                    "      --volumes  anonymous volumes no container uses\n"))
        return 0;
      return system_prune (argc - 1, argv + 1);
    }
  if (strcmp (sub, "info") == 0)
    return cmd_info (argc - 1, argv + 1);
  if (strcmp (sub, "events") == 0)
    return cmd_events (argc - 1, argv + 1);
  printf ("Usage: berth system df [-v] | prune [-a] [--volumes] [-f] | info | events\n");
  return strcmp (sub, "--help") == 0 ? 0 : 125;
}
