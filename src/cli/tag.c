#include <stdio.h>

#include "cli.h"
#include "lib/image/builtin.h"
#include "lib/image/image.h"

int
cmd_tag (int argc, char **argv)
{
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  char md[BERTH_DIGEST_LEN + 1];
  bool imported;
  int r;
  if (cli_help (argc, argv, "tag SOURCE_IMAGE TARGET_IMAGE[:TAG]", NULL))
    return 0;
  if (argc != 3)
    return cli_usage ("tag", "requires exactly 2 arguments");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  r = berth_builtin_ensure (s, argv[1], &imported, &err);
  if (r == 0)
    r = berth_image_resolve (s, argv[1], md, &err);
  if (r == 0)
    r = berth_image_tag (s, argv[2], md, &err);
  berth_store_close (s);
  return r < 0 ? cli_error (&err) : 0;
}
