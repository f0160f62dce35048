#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/engine/engine.h"

/* Containers first, then images, as docker resolves `inspect NAME`. */
int
cmd_inspect (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  json_t *out = json_array ();
  int rc = 0;
  if (cli_help (argc, argv, "inspect CONTAINER|IMAGE...", NULL))
    return 0;
  if (argc < 2)
    return cli_usage ("inspect", "requires at least one name");
  if (berth_engine_open (cli.root, &e, &err) < 0)
    return cli_error (&err);
  for (int i = 1; i < argc; i++)
    {
      char id[65];
      json_t *rec = NULL;
      if (berth_engine_resolve (e, argv[i], id, &err) == 0 && berth_engine_refresh (e, id, &rec, &err) == 0)
        {
          json_array_append_new (out, rec);
          continue;
        }
      berth_error_release (&err);
      {
        char *sub[] = { (char *)"inspect", argv[i], NULL };
        berth_engine_close (e);
        e = NULL;
        if (json_array_size (out) == 0 && argc == 2)
          {
            json_decref (out);
            return cmd_image_inspect (2, sub);
          }
        if (berth_engine_open (cli.root, &e, &err) < 0)
          return cli_error (&err);
        fprintf (stderr, "berth: no such container or image: %s\n", argv[i]);
        rc = 1;
      }
    }
  json_dumpf (out, stdout, JSON_INDENT (4));
  putchar ('\n');
  json_decref (out);
  berth_engine_close (e);
  return rc;
}
