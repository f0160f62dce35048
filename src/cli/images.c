#include <fnmatch.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/image/builtin.h"
#include "lib/image/image.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

/* reference=PATTERN (docker's: a glob over the short name, with or
   without its tag) and dangling= (berth keeps no untagged image). */
static const char *const image_filter_keys[] = { "reference", "dangling", NULL };

static bool
image_filter (const char *key, const char *value, json_t *img, void *ctx)
{
  cleanup_free char *fam = berth_ref_familiar (json_string_value (json_object_get (img, "ref")) ?: "");
  char *colon = strrchr (fam, ':');
  (void)ctx;
  if (strcmp (key, "dangling") == 0)
    return strcmp (value, "false") == 0 || strcmp (value, "0") == 0;
  if (fnmatch (value, fam, 0) == 0)
    return true;
  if (colon && strchr (colon, '/') == NULL)
    *colon = '\0';
  return fnmatch (value, fam, 0) == 0;
}

int
cmd_images (int argc, char **argv)
{
  static const struct option opts[]
      = { { "quiet", no_argument, NULL, 'q' },        { "format", required_argument, NULL, 'f' },
          { "all", no_argument, NULL, 'a' },          { "no-trunc", no_argument, NULL, 'N' },
          { "filter", required_argument, NULL, 'F' }, { NULL, 0, NULL, 0 } };
  static const struct cli_field names[]
      = { { "Repository", "" },   { "Tag", "" },  { "ID", "" },    { "CreatedAt", "" },
          { "CreatedSince", "" }, { "Size", "" }, { "Digest", "" } };
  struct cli_filters filters = { .cmd = "images", .keys = image_filter_keys };
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  json_t *list = NULL, *img, *out = json_array ();
  const char *format = "table";
  bool quiet = false, notrunc = false;
  size_t i;
  int c, r;

  if (cli_help (argc, argv,
                "images [-q] [--filter reference=PATTERN|dangling=BOOL] [--format table|json|TEMPLATE] [--no-trunc]",
                "  --format fields: Repository, Tag, ID, CreatedAt, CreatedSince, Size, Digest; {{json .}}\n"))
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
        break; /* berth keeps no intermediate images: -a lists the same */
      case 'F':
        if (strncmp (optarg, "dangling=", 9) == 0 && strcmp (optarg + 9, "true") != 0
            && strcmp (optarg + 9, "false") != 0 && strcmp (optarg + 9, "1") != 0 && strcmp (optarg + 9, "0") != 0)
          return cli_usage ("images", "--filter: dangling takes true or false, not \"%s\"", optarg + 9);
        if ((r = cli_filter_add (&filters, optarg)) != 0)
          return r;
        break;
      default:
        return cli_usage ("images", "unknown option");
      }
  /* images REPOSITORY[:TAG]: docker's positional reference filter. */
  if (optind + 1 < argc)
    return cli_usage ("images", "takes at most one REPOSITORY[:TAG]");
  if (optind < argc)
    {
      cleanup_free char *f = xasprintf ("reference=%s", argv[optind]);
      if ((r = cli_filter_add (&filters, f)) != 0)
        return r;
      steal_pointer (&f); /* the filters keep it until exit */
    }
  if ((r = cli_format_begin ("images", format, names, ARRAY_SIZE (names), quiet)) != 0)
    return r;
  if ((r = cli_open_store (&s)) != 0)
    return r;
  if (berth_image_list (s, &list, &err) < 0)
    {
      berth_store_close (s);
      return cli_error (&err);
    }
  json_array_foreach (list, i, img) if (cli_filters_match (&filters, image_filter, img, NULL))
      json_array_append (out, img);
  if (strcmp (format, "json") == 0 && !quiet)
    {
      json_dumpf (out, stdout, JSON_COMPACT);
      putchar ('\n');
    }
  else
    {
      bool tmpl = strcmp (format, "table") != 0 && strcmp (format, "json") != 0;
      if (!quiet && !tmpl)
        printf ("%-40s %-16s %-14s %-22s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
      json_array_foreach (out, i, img)
      {
        cleanup_free char *fam = berth_ref_familiar (json_string_value (json_object_get (img, "ref")));
        const char *id = json_string_value (json_object_get (img, "id")) + 7;
        char *colon = strrchr (fam, ':');
        char ago[64], size[32], sid[72];
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
        if (tmpl)
          {
            const struct cli_field f[] = {
              { "Repository", fam },
              { "Tag", colon },
              { "ID", sid },
              { "CreatedAt", json_string_value (json_object_get (img, "created")) },
              { "CreatedSince", ago },
              { "Size", size },
              { "Digest", json_string_value (json_object_get (img, "manifest")) },
            };
            snprintf (sid, sizeof (sid), "%.*s", notrunc ? 71 : 12, notrunc ? id - 7 : id);
            if (cli_format_row (format, f, ARRAY_SIZE (f), NULL, &err) < 0)
              {
                json_decref (out);
                json_decref (list);
                berth_store_close (s);
                return cli_error (&err);
              }
            continue;
          }
        printf ("%-40s %-16s %-14.*s %-22s %s\n", fam, colon, notrunc ? 71 : 12, id, ago, size);
      }
    }
  json_decref (out);
  json_decref (list);
  berth_store_close (s);
  return 0;
}
