#include <string.h>

#include "lib/runtime/container.h"
#include "runtime.h"

int
cmd_start (int argc, char **argv)
{
  berth_err_t err = NULL, warning = NULL;
  if (argc == 2 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0))
    {
      print_help ("start ID", NULL);
      return 0;
    }
  if (argc != 2)
    return usage_error ("start", "expects exactly one container id");
  if (berth_container_start (g.root, argv[1], &warning, &err) < 0)
    return report_error (&err);
  report_warning (&warning);
  return 0;
}
