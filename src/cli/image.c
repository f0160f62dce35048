#include <errno.h>
#include <fcntl.h>
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
cli_image_record (struct berth_store *s, const char *name, json_t **out, berth_err_t *err)
{
  char md[BERTH_DIGEST_LEN + 1];
  struct berth_image *img = NULL;
  json_t *tags, *v, *cfg, *refs = NULL, *diff;
  const char *k;
  int64_t size = 0;
  bool imported;
  if (berth_builtin_ensure (s, name, &imported, err) < 0 || berth_image_resolve (s, name, md, err) < 0
      || berth_image_load (s, md, &img, err) < 0)
    return -1;
  if (berth_refs_load (s, &refs, err) < 0)
    {
      berth_image_free (img);
      return -1;
    }
  tags = json_array ();
  json_object_foreach (refs, k, v) if (strcmp (json_string_value (v), md) == 0)
  {
    cleanup_free char *fam = berth_ref_familiar (k);
    json_array_append_new (tags, json_string (fam));
  }
  json_decref (refs);
  for (size_t l = 0; l < img->n_layers; l++)
    size += img->layers[l].size;
  cfg = img->config;
  diff = json_object_get (json_object_get (cfg, "rootfs"), "diff_ids");
  *out = json_pack ("{s:s,s:o,s:s,s:s,s:s,s:s,s:O,s:{s:s,s:O},s:I,s:s}", "Id", img->config_digest, "RepoTags", tags,
                    "Created", json_string_value (json_object_get (cfg, "created")) ?: "", "Architecture",
                    json_string_value (json_object_get (cfg, "architecture")) ?: "", "Os",
                    json_string_value (json_object_get (cfg, "os")) ?: "", "Manifest", md, "Config",
                    json_object_get (cfg, "config") ?: json_null (), "RootFS", "Type", "layers", "Layers",
                    diff ? diff : json_null (), "Size", (json_int_t)size, "ManifestMediaType",
                    json_string_value (json_object_get (img->manifest, "mediaType")) ?: MT_OCI_MANIFEST);
  berth_image_free (img);
  return 0;
}

int
cmd_image_inspect (int argc, char **argv)
{
  struct berth_store *s = NULL;
  const char *format = NULL;
  json_t *out;
  int r, rc = 0;
  if (cli_help (argc, argv, "image inspect [-f FORMAT] IMAGE...",
                "  -f, --format T  a Go template per image ({{.Id}}, {{json .Config}})\n"))
    return 0;
  if ((r = cli_inspect_options (&argc, &argv, &format, NULL)) != 0)
    return r;
  if (argc < 2)
    return cli_usage ("image inspect", "requires at least one image");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  out = json_array ();
  for (int i = 1; i < argc; i++)
    {
      berth_err_t err = NULL;
      json_t *rec = NULL;
      if (cli_image_record (s, argv[i], &rec, &err) < 0)
        {
          fprintf (stderr, "berth: %s\n", err->msg);
          berth_error_release (&err);
          rc = 1;
          continue;
        }
      json_array_append_new (out, rec);
    }
  r = cli_print_inspect (out, format);
  json_decref (out);
  berth_store_close (s);
  return r ? r : rc;
}

int
cmd_image_prune (int argc, char **argv)
{
  static const struct option opts[]
      = { { "all", no_argument, NULL, 'a' }, { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  bool all = false;
  int64_t freed = 0;
  json_t *untagged = NULL;
  char human[32];
  int c, r;
  if (cli_help (argc, argv, "image prune [-a] [-f]",
                "  -a, --all     also remove tagged images no container uses\n  -f, --force   do not ask\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "af", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        all = true;
        break;
      case 'f':
        break;
      default:
        return cli_usage ("image prune", "unknown option");
      }
  if ((r = cli_open_store (&s)) != 0)
    return r;
  if (berth_image_prune (s, all, &freed, &untagged, &err) < 0)
    goto fail;
  if (json_array_size (untagged))
    {
      json_t *v;
      size_t i;
      printf ("Deleted Images:\n");
      json_array_foreach (untagged, i, v) printf ("untagged: %s\n", json_string_value (v));
    }
  json_decref (untagged);
  cli_human_size ((double)freed, human, sizeof (human));
  printf ("Total reclaimed space: %s\n", human);
  berth_store_close (s);
  return 0;
fail:
  json_decref (untagged);
  berth_store_close (s);
  return cli_error (&err);
}

int
cmd_image (int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*fn) (int, char **);
  } sub[] = { { "ls", cmd_images }, { "list", cmd_images },       { "inspect", cmd_image_inspect },
              { "rm", cmd_rmi },    { "prune", cmd_image_prune }, { "load", cmd_load },
              { "save", cmd_save }, { "import", cmd_import },     { "tag", cmd_tag },
              { "pull", cmd_pull }, { "push", cmd_push } };
  if (argc < 2 || strcmp (argv[1], "--help") == 0)
    {
      printf ("Usage: berth image COMMAND\n\nCommands: ls inspect rm prune load save import tag\n");
      return argc < 2 ? 125 : 0;
    }
  for (size_t i = 0; i < ARRAY_SIZE (sub); i++)
    if (strcmp (argv[1], sub[i].name) == 0)
      {
        optind = 0;
        return sub[i].fn (argc - 1, argv + 1);
      }
  return cli_usage ("image", "unknown command \"%s\"", argv[1]);
}
