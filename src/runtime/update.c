#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/container.h"
#include "lib/base/utils.h"
#include "runtime.h"

static const char update_options[] = "  -r, --resources FILE   linux.resources JSON (- for stdin)\n"
                                     "      --memory BYTES     --memory-swap BYTES  --memory-reservation BYTES\n"
                                     "      --cpu-shares N     --cpu-quota N        --cpu-period N\n"
                                     "      --cpuset-cpus LIST --cpuset-mems LIST   --pids-limit N\n"
                                     "      --blkio-weight N\n";

static int
set_int (json_t *res, const char *obj, const char *key, const char *val)
{
  char *end;
  long long n = strtoll (val, &end, 10);
  json_t *o;
  if (*end)
    return -1;
  o = json_object_get (res, obj);
  if (o == NULL)
    {
      o = json_object ();
      json_object_set_new (res, obj, o);
    }
  json_object_set_new (o, key, json_integer (n));
  return 0;
}

int
cmd_update (int argc, char **argv)
{
  static const struct option opts[] = {
    { "resources", required_argument, NULL, 'r' },
    { "memory", required_argument, NULL, 1 },
    { "memory-swap", required_argument, NULL, 2 },
    { "memory-reservation", required_argument, NULL, 3 },
    { "cpu-shares", required_argument, NULL, 4 },
    { "cpu-quota", required_argument, NULL, 5 },
    { "cpu-period", required_argument, NULL, 6 },
    { "cpuset-cpus", required_argument, NULL, 7 },
    { "cpuset-mems", required_argument, NULL, 8 },
    { "pids-limit", required_argument, NULL, 9 },
    { "blkio-weight", required_argument, NULL, 10 },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  static const struct
  {
    const char *obj, *key;
  } map[] = { { NULL, NULL },      { "memory", "limit" }, { "memory", "swap" },   { "memory", "reservation" },
              { "cpu", "shares" }, { "cpu", "quota" },    { "cpu", "period" },    { "cpu", "cpus" },
              { "cpu", "mems" },   { "pids", "limit" },   { "blockIO", "weight" } };
  berth_err_t err = NULL;
  json_t *res = json_object ();
  const char *file = NULL;
  int c, ret;

  while ((c = getopt_long_only (argc, argv, "r:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'r':
        file = optarg;
        break;
      case 7:
      case 8:
        {
          json_t *o = json_object_get (res, "cpu");
          if (o == NULL)
            json_object_set_new (res, "cpu", o = json_object ());
          json_object_set_new (o, map[c].key, json_string (optarg));
        }
        break;
      case 'h':
        print_help ("update [options] ID", update_options);
        return 0;
      default:
        if (c >= 1 && c <= 10)
          {
            if (set_int (res, map[c].obj, map[c].key, optarg) < 0)
              return usage_error ("update", "--%s: \"%s\" is not a number", opts[c].name, optarg);
            break;
          }
        return usage_error ("update", "unknown option");
      }
  if (argc - optind != 1)
    return usage_error ("update", "expects exactly one container id");
  if (file)
    {
      json_error_t jerr;
      json_t *r = strcmp (file, "-") == 0 ? json_loadf (stdin, 0, &jerr) : json_load_file (file, 0, &jerr);
      if (r == NULL)
        {
          berth_error (&err, 0, "%s: line %d column %d: %s", strcmp (file, "-") == 0 ? "stdin" : file, jerr.line,
                       jerr.column, jerr.text);
          return report_error (&err);
        }
      if (!json_is_object (r))
        {
          berth_error (&err, 0, "resources: expected an object");
          return report_error (&err);
        }
      /* Flags win over the file, as in runc. */
      json_object_update_recursive (r, res);
      json_decref (res);
      res = r;
    }
  ret = berth_container_update (g.root, argv[optind], res, &err);
  json_decref (res);
  if (ret < 0)
    return report_error (&err);
  return 0;
}
