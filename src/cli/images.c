#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/image/builtin.h"
#include "lib/image/image.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

int
cmd_images (int argc, char **argv)
{
  static const struct option opts[] = { { "quiet", no_argument, NULL, 'q' },
                                        { "format", required_argument, NULL, 'f' },
                                        { "all", no_argument, NULL, 'a' },
                                        { "no-trunc", no_argument, NULL, 'N' },
                                        { NULL, 0, NULL, 0 } };
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  json_t *list = NULL, *img;
  const char *format = "table";
  bool quiet = false, notrunc = false;
  size_t i;
  int c, r;

  if (cli_help (argc, argv, "images [-q] [--format table|json] [--no-trunc]", NULL))
    return 0;
  while ((c = getopt_long (argc, argv, "qaf:", opts, NULL)) != -1)
    switch (c)
      {
      case 'q':
        quiet = true;
        break;
      case 'f':
        format = optarg;
        break;
      case 'N':
        notrunc = true;
        break;
      case 'a':
        break;
      default:
        return cli_usage ("images", "unknown option");
      }
  if (strcmp (format, "table") != 0 && strcmp (format, "json") != 0)
    return cli_usage ("images", "--format must be table or json");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  if (berth_image_list (s, &list, &err) < 0)
    {
      berth_store_close (s);
      return cli_error (&err);
    }
  if (strcmp (format, "json") == 0)
    {
      json_dumpf (list, stdout, JSON_COMPACT);
      putchar ('\n');
    }
  else
    {
      if (!quiet)
        printf ("%-40s %-16s %-14s %-22s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
      json_array_foreach (list, i, img)
      {
        cleanup_free char *fam = berth_ref_familiar (json_string_value (json_object_get (img, "ref")));
        const char *id = json_string_value (json_object_get (img, "id")) + 7;
        char *colon = strrchr (fam, ':');
        char ago[64], size[32];
        if (quiet)
          {
            printf ("%.*s\n", notrunc ? 64 : 12, id);
            continue;
          }
        if (colon && strchr (colon, '/') == NULL)
          *colon++ = '\0';
        else
          colon = (char *)"<none>";
        cli_human_ago (json_string_value (json_object_get (img, "created")), ago, sizeof (ago));
        cli_human_size ((double)json_integer_value (json_object_get (img, "size")), size, sizeof (size));
        printf ("%-40s %-16s %-14.*s %-22s %s\n", fam, colon, notrunc ? 71 : 12, id, ago, size);
      }
    }
  json_decref (list);
  berth_store_close (s);
  return 0;
}
