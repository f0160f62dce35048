#include <getopt.h>

#include "lib/runtime/container.h"
#include "runtime.h"

int
cmd_delete (int argc, char **argv)
{
  static const struct option opts[]
      = { { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  berth_err_t err = NULL, warning = NULL;
  bool force = false;
  int c;
  while ((c = getopt_long_only (argc, argv, "fh", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        force = true;
        break;
      case 'h':
        print_help ("delete [--force] ID",
                    "  -f, --force   kill a running container first; a missing one is not an error\n"
                    "A created container is deleted (its init killed) as runc does;\n"
                    "with the global --strict-spec, that is an error as runtime-spec says.\n");
        return 0;
      default:
        return usage_error ("delete", "unknown option");
      }
  if (argc - optind != 1)
    return usage_error ("delete", "expects exactly one container id");
  if (berth_container_delete (g.root, argv[optind],
                              (force ? BERTH_DELETE_FORCE : 0) | (g.strict ? BERTH_DELETE_STRICT : 0), &warning, &err)
      < 0)
    return report_error (&err);
  report_warning (&warning);
  return 0;
}
