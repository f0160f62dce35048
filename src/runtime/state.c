#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "lib/runtime/container.h"
#include "runtime.h"

int
cmd_state (int argc, char **argv)
{
  berth_err_t err = NULL;
  json_t *st;
  if (argc == 2 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0))
    {
      print_help ("state ID", NULL);
      return 0;
    }
  if (argc != 2)
    return usage_error ("state", "expects exactly one container id");
  if (berth_container_state (g.root, argv[1], &st, &err) < 0)
    return report_error (&err);
  json_dumpf (st, stdout, JSON_INDENT (2));
  putchar ('\n');
  json_decref (st);
  return 0;
}
