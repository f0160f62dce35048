#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "lib/runtime/spec.h"
#include "lib/base/utils.h"
#include "runtime.h"

int
cmd_spec (int argc, char **argv)
{
  static const struct option opts[] = { { "bundle", required_argument, NULL, 'b' },
                                        { "rootless", no_argument, NULL, 'r' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  const char *bundle = ".";
  berth_err_t err = NULL;
  cleanup_free char *path = NULL;
  char *text;
  json_t *spec;
  int c, ret;
  while ((c = getopt_long_only (argc, argv, "b:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'b':
        bundle = optarg;
        break;
      case 'r':
        return usage_error ("spec", "--rootless is not supported");
      case 'h':
        print_help ("spec [--bundle DIR]", "  -b, --bundle DIR   where to write config.json\n");
        return 0;
      default:
        return usage_error ("spec", "unknown option");
      }
  path = xasprintf ("%s/config.json", bundle);
  if (access (path, F_OK) == 0)
    {
      berth_error (&err, EEXIST, "`%s`", path);
      return report_error (&err);
    }
  spec = berth_spec_default (true);
  text = json_dumps (spec, JSON_INDENT (2));
  json_decref (spec);
  ret = write_file_atomic (path, text, strlen (text), 0644, &err);
  free (text);
  if (ret < 0)
    return report_error (&err);
  return 0;
}
