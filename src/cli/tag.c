#include <stdio.h>

#include "cli.h"
#include "lib/base/events.h"
#include "lib/image/builtin.h"
#include "lib/image/image.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

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
  if (r == 0)
    {
      /* Named as pulls and untags name it: docker.io/library/x:latest. */
      struct berth_ref *ref = NULL;
      berth_err_t e2 = NULL;
      cleanup_free char *canon = berth_ref_parse (argv[2], &ref, &e2) == 0 ? berth_ref_string (ref) : xstrdup (argv[2]);
      berth_ref_free (ref);
      berth_error_release (&e2);
      berth_event (cli.root, "image", "tag", md, json_pack ("{s:s}", "name", canon));
    }
  berth_store_close (s);
  return r < 0 ? cli_error (&err) : 0;
}
