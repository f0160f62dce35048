#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/runtime/container.h"

/* `docker top`: the container's processes as its kernel's ps shows them
   (the host's, with host PIDs, in process isolation; the guest's in a VM). */
int
cmd_top (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  char **lines = NULL;
  char id[65];
  int ret;
  if (cli_help (argc, argv, "top CONTAINER [ps OPTIONS]", NULL))
    return 0;
  if (argc < 2)
    return cli_usage ("top", "requires a container");
  ret = berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_resolve (e, argv[1], id, &err) < 0
                || berth_container_top (e->runtime_root, id, argc > 2 ? argv + 2 : NULL, &lines, &err) < 0
            ? -1
            : 0;
  berth_engine_close (e);
  if (ret < 0)
    return cli_error (&err);
  for (char **l = lines; l && *l; l++)
    printf ("%s\n", *l);
  strv_free (lines);
  return 0;
}
