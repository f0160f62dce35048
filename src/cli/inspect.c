#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/engine/volume.h"
#include "lib/net/net.h"

int
cli_inspect_options (int *argc, char ***argv, const char **format, const char **type)
{
  char **in = *argv, **names = xcalloc ((size_t)*argc + 1, sizeof (char *));
  int n = 0;
  names[n++] = in[0];
  for (int i = 1; i < *argc; i++)
    {
      const char *a = in[i], **to = NULL, *val = NULL;
      if (strcmp (a, "-f") == 0 || strcmp (a, "--format") == 0)
        to = format;
      else if (strncmp (a, "--format=", 9) == 0)
        to = format, val = a + 9;
      else if (type && strcmp (a, "--type") == 0)
        to = type;
      else if (type && strncmp (a, "--type=", 7) == 0)
        to = type, val = a + 7;
      else if (strcmp (a, "-s") == 0 || strcmp (a, "--size") == 0)
        {
          free (names);
          return cli_usage (in[0], "%s (sizes of a container's writable layer) is not supported", a);
        }
      else if (a[0] == '-' && a[1])
        {
          free (names);
          return cli_usage (in[0], "unknown option %s", a);
        }
      if (to == NULL)
        {
          names[n++] = in[i];
          continue;
        }
      if (val == NULL && (val = i + 1 < *argc ? in[++i] : NULL) == NULL)
        {
          free (names);
          return cli_usage (in[0], "%s needs a value", a);
        }
      *to = val;
    }
  /* Lives as long as the process, as argv does. */
  *argv = names;
  *argc = n;
  return 0;
}

static bool
wants (const char *type, const char *kind)
{
  return type == NULL || strcmp (type, kind) == 0;
}

/* docker inspect: containers, then images, volumes and networks, or only
   the --type asked for. */
int
cmd_inspect (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  const char *format = NULL, *type = NULL;
  json_t *out;
  int rc = 0, r;
  if (cli_help (argc, argv, "inspect [-f FORMAT] [--type container|image|volume|network] NAME...",
                "  -f, --format T   a Go template per object: {{.State.Status}}, {{json .Config}},\n"
                "                   {{index .Config.Labels \"k\"}}\n"
                "      --type T     only objects of this type\n"))
    return 0;
  if ((r = cli_inspect_options (&argc, &argv, &format, &type)) != 0)
    return r;
  if (type && !wants (type, "container") && !wants (type, "image") && !wants (type, "volume")
      && !wants (type, "network"))
    return cli_usage ("inspect", "--type %s: not container, image, volume or network", type);
  if (argc < 2)
    return cli_usage ("inspect", "requires at least one name");
  if (berth_engine_open (cli.root, &e, &err) < 0)
    return cli_error (&err);
  out = json_array ();
  for (int i = 1; i < argc; i++)
    {
      char id[65];
      json_t *rec = NULL;
      if (wants (type, "container"))
        {
          if (berth_engine_resolve (e, argv[i], id, &err) == 0 && berth_engine_refresh (e, id, &rec, &err) == 0)
            {
              /* docker's inspect names a container as a path ("/web"):
                 scripts strip the slash. */
              const char *name = json_string_value (json_object_get (rec, "Name"));
              if (name)
                json_object_set_new (rec, "Name", json_sprintf ("/%s", name));
              json_array_append_new (out, rec);
              continue;
            }
          berth_error_release (&err);
        }
      if (wants (type, "image"))
        {
          if (s == NULL && (r = cli_open_store (&s)) != 0)
            {
              rc = r;
              break;
            }
          if (cli_image_record (s, argv[i], &rec, &err) == 0)
            {
              json_array_append_new (out, rec);
              continue;
            }
          berth_error_release (&err);
        }
      if (wants (type, "volume") && berth_volume_name_valid (argv[i]))
        {
          if (berth_volume_get (cli.root, argv[i], &rec, &err) == 0)
            {
              json_array_append_new (out, rec);
              continue;
            }
          berth_error_release (&err);
        }
      if (wants (type, "network") && (rec = cli_network_record (argv[i], &err)) != NULL)
        {
          json_array_append_new (out, rec);
          continue;
        }
      berth_error_release (&err);
      fprintf (stderr, "berth: no such %s: %s\n", type ? type : "object", argv[i]);
      rc = 1;
    }
  r = cli_print_inspect (out, format);
  json_decref (out);
  if (s)
    berth_store_close (s);
  berth_engine_close (e);
  return r ? r : rc;
}
