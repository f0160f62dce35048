#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "lib/image/image.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

int
cmd_rmi (int argc, char **argv)
{
  static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  struct berth_store *s = NULL;
  bool force = false;
  int c, r, rc = 0;
  if (cli_help (argc, argv, "rmi [-f] IMAGE...", "  -f, --force   remove every name of an image given by ID\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "f", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        force = true;
        break;
      default:
        return cli_usage ("rmi", "unknown option");
      }
  if (optind >= argc)
    return cli_usage ("rmi", "requires at least one image");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  for (int i = optind; i < argc; i++)
    {
      berth_err_t err = NULL;
      json_t *removed = NULL, *x;
      size_t k;
      if (berth_image_remove (s, argv[i], force, &removed, &err) < 0)
        {
          rc = 1;
          fprintf (stderr, "berth: %s\n", err->msg);
          berth_error_release (&err);
        }
      json_array_foreach (removed, k, x)
      {
        cleanup_free char *fam = berth_ref_familiar (json_string_value (json_object_get (x, "Untagged")));
        printf ("Untagged: %s\n", fam);
      }
      json_decref (removed);
    }
  {
    /* The VM block images of what is gone go with it. */
    berth_err_t err = NULL;
    if (berth_image_prune_vm_images (s, &err) < 0)
      {
        fprintf (stderr, "berth: %s\n", err->msg);
        berth_error_release (&err);
        rc = 1;
      }
  }
  berth_store_close (s);
  return rc;
}
