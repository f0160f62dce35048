#include <string.h>

#include "lib/runtime/container.h"
#include "runtime.h"

static int
pause_resume (const char *cmd, int argc, char **argv, bool pause)
{
  berth_err_t err = NULL;
  if (argc == 2 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0))
    {
      print_help (pause ? "pause ID" : "resume ID", NULL);
      return 0;
    }
  if (argc != 2)
    return usage_error (cmd, "expects exactly one container id");
  if (berth_container_pause (g.root, argv[1], pause, &err) < 0)
    return report_error (&err);
  return 0;
}

int
cmd_pause (int argc, char **argv)
{
  return pause_resume ("pause", argc, argv, true);
}

int
cmd_resume (int argc, char **argv)
{
  return pause_resume ("resume", argc, argv, false);
}
