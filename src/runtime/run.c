#include "lib/runtime/container.h"
#include "runtime.h"

int parse_create_options (const char *cmd, int argc, char **argv, struct berth_create_opts *o, bool *detach);

int
cmd_run (int argc, char **argv)
{
  struct berth_create_opts o;
  berth_err_t err = NULL, warning = NULL;
  bool detach = false;
  int status = 0, ret;
  if (parse_create_options ("run", argc, argv, &o, &detach) < 0)
    return 1;
  o.warning = &warning;
  ret = berth_container_run (&o, detach, &status, &err);
  report_warning (&warning);
  return ret < 0 ? report_error (&err) : status;
}
