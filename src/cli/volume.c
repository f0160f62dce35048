#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/base/utils.h"
#include "lib/engine/volume.h"

/* --filter name=SUBSTRING, dangling=true|false, label=KEY[=VALUE]. */
static const char *const volume_filter_keys[] = { "name", "label", "dangling", NULL };

static bool
volume_filter (const char *key, const char *value, json_t *v, void *ctx)
{
  const char *name = json_string_value (json_object_get (v, "Name")) ?: "";
  (void)ctx;
  if (strcmp (key, "name") == 0)
    return strstr (name, value) != NULL;
  if (strcmp (key, "label") == 0)
    return cli_filter_label (value, json_object_get (v, "Labels"));
  {
    bool want = strcmp (value, "true") == 0 || strcmp (value, "1") == 0;
    json_t *users = NULL;
    berth_err_t e = NULL;
    bool dangling = berth_volume_users (cli.root, name, &users, &e) == 0 && json_array_size (users) == 0;
    berth_error_release (&e);
    json_decref (users);
    return dangling == want;
  }
}

/* dangling takes a boolean: anything else is an error, not "false". */
static int
volume_filter_add (struct cli_filters *f, char *arg)
{
  if (strncmp (arg, "dangling=", 9) == 0 && strcmp (arg + 9, "true") != 0 && strcmp (arg + 9, "false") != 0
      && strcmp (arg + 9, "1") != 0 && strcmp (arg + 9, "0") != 0)
    return cli_usage (f->cmd, "--filter: dangling takes true or false, not \"%s\"", arg + 9);
  return cli_filter_add (f, arg);
}

static int
volume_ls (int argc, char **argv)
{
  static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' },
                                        { "filter", required_argument, NULL, 'F' },
                                        { "format", required_argument, NULL, 'f' },
                                        { NULL, 0, NULL, 0 } };
  static const struct cli_field names[]
      = { { "Name", "" }, { "Driver", "" }, { "Mountpoint", "" }, { "CreatedAt", "" } };
  berth_err_t err = NULL;
  json_t *list = NULL, *v, *out = json_array ();
  struct cli_filters filters = { .cmd = "volume ls", .keys = volume_filter_keys };
  size_t i;
  bool quiet = false;
  const char *format = "table";
  int o;
  if (cli_help (argc, argv, "volume ls [-q] [--filter name=|label=|dangling=...] [--format table|json|TEMPLATE]", NULL))
    return 0;
  optind = 0;
  while ((o = getopt_long (argc, argv, "qf:", opts, NULL)) != -1)
    switch (o)
      {
      case 'q':
        quiet = true;
        break;
      case 'F':
        if ((o = volume_filter_add (&filters, optarg)) != 0)
          return o;
        break;
      case 'f':
        format = optarg;
        break;
      default:
        return cli_usage ("volume ls", "unknown option");
      }
  if (optind != argc)
    return cli_usage ("volume ls", "takes no arguments");
  if ((o = cli_format_begin ("volume ls", format, names, ARRAY_SIZE (names), quiet)) != 0)
    return o;
  if (berth_volume_list (cli.root, &list, &err) < 0)
    return cli_error (&err);
  json_array_foreach (list, i, v) if (cli_filters_match (&filters, volume_filter, v, NULL)) json_array_append (out, v);
  if (strcmp (format, "json") == 0 && !quiet)
    {
      json_dumpf (out, stdout, JSON_COMPACT);
      putchar ('\n');
    }
  else
    {
      bool tmpl = strcmp (format, "table") != 0;
      if (!quiet && !tmpl)
        printf ("%-10s %s\n", "DRIVER", "VOLUME NAME");
      json_array_foreach (out, i, v)
      {
        const char *name = json_string_value (json_object_get (v, "Name"));
        if (quiet)
          printf ("%s\n", name);
        else if (tmpl)
          {
            const struct cli_field f[] = { { "Name", name },
                                           { "Driver", "local" },
                                           { "Mountpoint", json_string_value (json_object_get (v, "Mountpoint")) },
                                           { "CreatedAt", json_string_value (json_object_get (v, "CreatedAt")) } };
            if (cli_format_row (format, f, ARRAY_SIZE (f), json_object_get (v, "Labels"), &err) < 0)
              goto fail;
          }
        else
          printf ("%-10s %s\n", "local", name);
      }
    }
  json_decref (out);
  json_decref (list);
  return 0;
fail:
  json_decref (out);
  json_decref (list);
  return cli_error (&err);
}

/* docker's: unused anonymous volumes, or with -a every unused one. */
static int
volume_prune (int argc, char **argv)
{
  static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
                                        { "force", no_argument, NULL, 'f' },
                                        { "filter", required_argument, NULL, 'F' },
                                        { NULL, 0, NULL, 0 } };
  struct cli_filters filters = { .cmd = "volume prune", .keys = volume_filter_keys };
  bool all = false;
  int o;
  if (cli_help (argc, argv, "volume prune [-a] [-f] [--filter name=|label=...]", NULL))
    return 0;
  optind = 0;
  while ((o = getopt_long (argc, argv, "af", opts, NULL)) != -1)
    switch (o)
      {
      case 'a':
        all = true;
        break;
      case 'f':
        break; /* berth does not ask */
      case 'F':
        if ((o = volume_filter_add (&filters, optarg)) != 0)
          return o;
        break;
      default:
        return cli_usage ("volume prune", "unknown option");
      }
  if (optind != argc)
    return cli_usage ("volume prune", "takes no arguments");
  {
    int64_t freed = 0;
    char human[32];
    if ((o = cli_volume_prune (&filters, all, &freed)) != 0)
      return o;
    cli_human_size ((double)freed, human, sizeof (human));
    printf ("Total reclaimed space: %s\n", human);
  }
  return 0;
}

int
cli_volume_prune (const struct cli_filters *filters, bool all, int64_t *freed)
{
  berth_err_t err = NULL;
  json_t *list = NULL, *v;
  size_t i;
  bool header = false;
  if (berth_volume_list (cli.root, &list, &err) < 0)
    return cli_error (&err);
  json_array_foreach (list, i, v)
  {
    const char *name = json_string_value (json_object_get (v, "Name"));
    int64_t size = disk_usage (json_string_value (json_object_get (v, "Mountpoint")) ?: "");
    json_t *users = NULL;
    if ((!all && !json_is_true (json_object_get (v, "Anonymous")))
        || (filters && !cli_filters_match (filters, volume_filter, v, NULL)))
      continue;
    if (berth_volume_users (cli.root, name, &users, &err) == 0 && json_array_size (users) == 0
        && berth_volume_remove (cli.root, name, false, &err) == 0)
      {
        if (!header)
          printf ("Deleted Volumes:\n");
        header = true;
        printf ("%s\n", name);
        *freed += size;
      }
    berth_error_release (&err);
    json_decref (users);
  }
  if (header)
    putchar ('\n');
  json_decref (list);
  return 0;
}

int
cmd_volume (int argc, char **argv)
{
  berth_err_t err = NULL;
  const char *sub = argc > 1 ? argv[1] : "";
  int rc = 0, r;
  if (argc < 2 || strcmp (sub, "--help") == 0)
    {
      printf ("Usage: berth volume create [-l K=V] [NAME] | ls [-q] [--filter K=V] [--format F] | inspect NAME... | rm "
              "[-f] "
              "NAME... | prune [-a] [-f] [--filter K=V]\n");
      return argc < 2 ? 125 : 0;
    }
  if (strcmp (sub, "create") == 0)
    {
      json_t *v = NULL, *labels = json_object ();
      const char *name = NULL;
      for (int i = 2; i < argc; i++)
        {
          const char *a = argv[i], *val = NULL;
          bool driver = strcmp (a, "-d") == 0 || strcmp (a, "--driver") == 0 || strncmp (a, "--driver=", 9) == 0;
          if (strcmp (a, "-l") == 0 || strcmp (a, "--label") == 0 || strcmp (a, "-d") == 0
              || strcmp (a, "--driver") == 0)
            val = i + 1 < argc ? argv[++i] : NULL;
          else if (strncmp (a, "--label=", 8) == 0 || strncmp (a, "--driver=", 9) == 0)
            val = strchr (a, '=') + 1;
          else if (a[0] == '-')
            {
              json_decref (labels);
              return cli_usage ("volume create", "%s is not supported (--label K=V and --driver local are)", a);
            }
          else if (name == NULL)
            {
              name = a;
              continue;
            }
          else
            {
              json_decref (labels);
              return cli_usage ("volume create", "takes at most one name");
            }
          if (val == NULL)
            {
              json_decref (labels);
              return cli_usage ("volume create", "%s needs a value", a);
            }
          if (driver)
            {
              if (strcmp (val, "local") != 0)
                {
                  json_decref (labels);
                  return cli_usage ("volume create", "--driver %s: only the local driver exists", val);
                }
              continue;
            }
          {
            cleanup_free char *k = xstrdup (val);
            char *eq = strchr (k, '=');
            if (eq)
              *eq = '\0';
            if (k[0] == '\0')
              {
                json_decref (labels);
                return cli_usage ("volume create", "--label %s: no key", val);
              }
            json_object_set_new (labels, k, json_string (eq ? eq + 1 : ""));
          }
        }
      r = berth_volume_create (cli.root, name, labels, false, &v, &err);
      json_decref (labels);
      if (r < 0)
        return cli_error (&err);
      printf ("%s\n", json_string_value (json_object_get (v, "Name")));
      json_decref (v);
      return 0;
    }
  if (strcmp (sub, "ls") == 0 || strcmp (sub, "list") == 0)
    return volume_ls (argc - 1, argv + 1);
  if (strcmp (sub, "inspect") == 0)
    {
      json_t *out;
      const char *format = NULL;
      int nargc = argc - 1, r;
      char **nargv = argv + 1;
      if ((r = cli_inspect_options (&nargc, &nargv, &format, NULL)) != 0)
        return r;
      if (nargc < 2)
        return cli_usage ("volume inspect", "requires at least one volume");
      out = json_array ();
      for (int i = 1; i < nargc; i++)
        {
          json_t *v = NULL;
          if (berth_volume_get (cli.root, nargv[i], &v, &err) < 0)
            {
              fprintf (stderr, "berth: %s\n", err->msg);
              berth_error_release (&err);
              rc = 1;
              continue;
            }
          json_array_append_new (out, v);
        }
      r = cli_print_inspect (out, format);
      json_decref (out);
      return r ? r : rc;
    }
  if (strcmp (sub, "rm") == 0 || strcmp (sub, "remove") == 0)
    {
      bool force = false;
      for (int i = 2; i < argc; i++)
        {
          if (strcmp (argv[i], "-f") == 0 || strcmp (argv[i], "--force") == 0)
            {
              force = true;
              continue;
            }
          if (berth_volume_remove (cli.root, argv[i], force, &err) < 0)
            {
              fprintf (stderr, "berth: %s\n", err->msg);
              berth_error_release (&err);
              rc = 1;
              continue;
            }
          printf ("%s\n", argv[i]);
        }
      return rc;
    }
  if (strcmp (sub, "prune") == 0)
    return volume_prune (argc - 1, argv + 1);
  return cli_usage ("volume", "unknown command \"%s\"", sub);
}
