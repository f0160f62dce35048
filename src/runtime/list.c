#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "lib/runtime/container.h"
#include "lib/runtime/state.h"
#include "lib/base/utils.h"
#include "runtime.h"

int
cmd_list (int argc, char **argv)
{
  static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
                                        { "quiet", no_argument, NULL, 'q' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  berth_err_t err = NULL;
  const char *format = "table";
  bool quiet = false;
  cleanup_strv char **ids = NULL;
  json_t *all = json_array ();
  int c;
  while ((c = getopt_long_only (argc, argv, "f:qh", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        format = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      case 'h':
        print_help ("list [--format table|json] [--quiet]",
                    "  -f, --format FORMAT   table (default) or json\n  -q, --quiet           ids only\n");
        return 0;
      default:
        return usage_error ("list", "unknown option");
      }
  if (strcmp (format, "json") != 0 && strcmp (format, "table") != 0)
    return usage_error ("list", "--format: \"%s\" is not table or json", format);
  if (berth_state_list (g.root, &ids, &err) < 0)
    return report_error (&err);
  for (size_t i = 0; ids[i]; i++)
    {
      json_t *st;
      if (berth_container_state (g.root, ids[i], &st, &err) < 0)
        {
          berth_error_release (&err);
          continue;
        }
      json_array_append_new (all, st);
    }
  if (quiet)
    {
      for (size_t i = 0; i < json_array_size (all); i++)
        printf ("%s\n", json_string_value (json_object_get (json_array_get (all, i), "id")));
    }
  else if (strcmp (format, "json") == 0)
    {
      json_dumpf (all, stdout, JSON_COMPACT);
      putchar ('\n');
    }
  else
    {
      printf ("%-24s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
      for (size_t i = 0; i < json_array_size (all); i++)
        {
          json_t *s = json_array_get (all, i);
          printf ("%-24s %-8lld %-10s %-40s %-32s %s\n", json_string_value (json_object_get (s, "id")),
                  (long long)json_integer_value (json_object_get (s, "pid")),
                  json_string_value (json_object_get (s, "status")), json_string_value (json_object_get (s, "bundle")),
                  json_string_value (json_object_get (s, "created")), json_string_value (json_object_get (s, "owner")));
        }
    }
  json_decref (all);
  return 0;
}
