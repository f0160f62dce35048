#include <getopt.h>
#include <signal.h>

#include "lib/runtime/container.h"
#include "lib/base/utils.h"
#include "runtime.h"

int
cmd_kill (int argc, char **argv)
{
  static const struct option opts[]
      = { { "all", no_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  berth_err_t err = NULL;
  bool all = false;
  int c, sig = SIGTERM;
  while ((c = getopt_long_only (argc, argv, "ah", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        all = true;
        break;
      case 'h':
        print_help ("kill [--all] ID [SIGNAL]", "  -a, --all   signal every process of the container\n");
        return 0;
      default:
        return usage_error ("kill", "unknown option");
      }
  if (argc - optind < 1 || argc - optind > 2)
    return usage_error ("kill", "expects a container id and an optional signal");
  if (argc - optind == 2 && parse_signal (argv[optind + 1], &sig) < 0)
    return usage_error ("kill", "unknown signal \"%s\"", argv[optind + 1]);
  if (berth_container_kill (g.root, argv[optind], sig, all, &err) < 0)
    return report_error (&err);
  return 0;
}
