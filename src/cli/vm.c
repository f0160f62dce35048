/* berth vm template ls|rm: the VM templates VM containers are restored
   from (src/lib/vm/template.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/base/utils.h"
#include "lib/vm/vm.h"

static const char usage_ls[] = "vm template ls [--quiet|-q] [--format json]";
static const char usage_rm[] = "vm template rm KEY... | --all";

static int
template_ls (int argc, char **argv)
{
  static const struct option opts[]
      = { { "quiet", no_argument, NULL, 'q' }, { "format", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  bool quiet = false, as_json = false;
  json_t *list = NULL, *t;
  berth_err_t err = NULL;
  size_t i;
  int c;
  if (cli_help (argc, argv, usage_ls, "  -q, --quiet       only the keys\n      --format json as JSON\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "+q", opts, NULL)) != -1)
    switch (c)
      {
      case 'q':
        quiet = true;
        break;
      case 'f':
        if (strcmp (optarg, "json") != 0)
          return cli_usage ("vm template ls", "--format: only json is known, not \"%s\"", optarg);
        as_json = true;
        break;
      default:
        return cli_usage ("vm template ls", "%s", usage_ls);
      }
  if (optind != argc)
    return cli_usage ("vm template ls", "%s", usage_ls);
  if (berth_vm_templates_list (&list, &err) < 0)
    return cli_error (&err);
  if (as_json)
    {
      char *s = json_dumps (list, JSON_INDENT (2));
      printf ("%s\n", s);
      free (s);
      json_decref (list);
      return 0;
    }
  if (!quiet)
    printf ("%-34s %-22s %-6s %-5s %-6s %-5s %-9s %s\n", "KEY", "GUEST KERNEL", "ACCEL", "CPUS", "MEMORY", "NIC",
            "RAM DATA", "CREATED");
  json_array_foreach (list, i, t)
  {
    char ago[64] = "", data[32] = "", mem[32];
    if (quiet)
      {
        printf ("%s\n", json_string_value (json_object_get (t, "key")));
        continue;
      }
    if (json_object_get (t, "error"))
      {
        printf ("%-34s (unreadable: %s)\n", json_string_value (json_object_get (t, "key")),
                json_string_value (json_object_get (t, "error")));
        continue;
      }
    cli_human_ago (json_string_value (json_object_get (t, "created")) ?: "", ago, sizeof (ago));
    cli_human_size ((double)json_integer_value (json_object_get (t, "ram_data")), data, sizeof (data));
    snprintf (mem, sizeof (mem), "%lldM", (long long)json_integer_value (json_object_get (t, "memory_mib")));
    printf ("%-34s %-22.22s %-6s %-5lld %-6s %-5s %-9s %s\n", json_string_value (json_object_get (t, "key")),
            json_string_value (json_object_get (t, "guest_kernel")) ?: "?",
            json_string_value (json_object_get (t, "accel")) ?: "?",
            (long long)json_integer_value (json_object_get (t, "cpus")), mem,
            json_is_true (json_object_get (t, "net")) ? "yes" : "no", data, ago);
  }
  json_decref (list);
  return 0;
}

static int
template_rm (int argc, char **argv)
{
  bool all = argc > 1 && strcmp (argv[1], "--all") == 0;
  json_t *list = NULL, *t;
  berth_err_t err = NULL;
  int rc = 0;
  size_t i;
  if (cli_help (argc, argv, usage_rm, "      --all   every template\n"))
    return 0;
  if (argc < 2 || (all && argc != 2))
    return cli_usage ("vm template rm", "%s", usage_rm);
  if (!all)
    {
      for (int k = 1; k < argc; k++)
        {
          if (berth_vm_template_remove (argv[k], &err) < 0)
            {
              fprintf (stderr, "berth: %s\n", err->msg);
              berth_error_release (&err);
              rc = 1;
              continue;
            }
          printf ("%s\n", argv[k]);
        }
      return rc;
    }
  if (berth_vm_templates_list (&list, &err) < 0)
    return cli_error (&err);
  json_array_foreach (list, i, t)
  {
    const char *key = json_string_value (json_object_get (t, "key"));
    if (berth_vm_template_remove (key, &err) < 0)
      {
        fprintf (stderr, "berth: %s\n", err->msg);
        berth_error_release (&err);
        rc = 1;
        continue;
      }
    printf ("%s\n", key);
  }
  json_decref (list);
  return rc;
}

int
cmd_vm (int argc, char **argv)
{
  static const char usage[] = "vm template ls|rm ...";
  if (argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0))
    {
      printf ("Usage: berth %s\n\nVM templates: booted VMs saved once, restored for each VM container.\n"
              "  ls   list them (--quiet, --format json)\n  rm   remove them (KEY... or --all)\n",
              usage);
      return 0;
    }
  if (argc < 3 || strcmp (argv[1], "template") != 0)
    return cli_usage ("vm", "%s", usage);
  argv += 2;
  argc -= 2;
  optind = 0;
  if (strcmp (argv[0], "ls") == 0 || strcmp (argv[0], "list") == 0)
    return template_ls (argc, argv);
  if (strcmp (argv[0], "rm") == 0 || strcmp (argv[0], "remove") == 0)
    return template_rm (argc, argv);
  return cli_usage ("vm", "unknown template command \"%s\" (ls or rm)", argv[0]);
}
