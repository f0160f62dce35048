#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/engine/volume.h"

int
cmd_volume (int argc, char **argv)
{
  berth_err_t err = NULL;
  const char *sub = argc > 1 ? argv[1] : "";
  int rc = 0;
  if (argc < 2 || strcmp (sub, "--help") == 0)
    {
      printf ("Usage: berth volume create [NAME] | ls [-q] | inspect NAME... | rm [-f] NAME... | prune [-f]\n");
      return argc < 2 ? 125 : 0;
    }
  if (strcmp (sub, "create") == 0)
    {
      json_t *v = NULL;
      if (argc > 3)
        return cli_usage ("volume create", "takes at most one name");
      if (berth_volume_create (cli.root, argc == 3 ? argv[2] : NULL, NULL, false, &v, &err) < 0)
        return cli_error (&err);
      printf ("%s\n", json_string_value (json_object_get (v, "Name")));
      json_decref (v);
      return 0;
    }
  if (strcmp (sub, "ls") == 0 || strcmp (sub, "list") == 0)
    {
      json_t *list = NULL, *v;
      size_t i;
      bool quiet = argc > 2 && strcmp (argv[2], "-q") == 0;
      if (berth_volume_list (cli.root, &list, &err) < 0)
        return cli_error (&err);
      if (!quiet)
        printf ("%-10s %s\n", "DRIVER", "VOLUME NAME");
      json_array_foreach (list, i, v)
      {
        if (quiet)
          printf ("%s\n", json_string_value (json_object_get (v, "Name")));
        else
          printf ("%-10s %s\n", "local", json_string_value (json_object_get (v, "Name")));
      }
      json_decref (list);
      return 0;
    }
  if (strcmp (sub, "inspect") == 0)
    {
      json_t *out = json_array ();
      for (int i = 2; i < argc; i++)
        {
          json_t *v = NULL;
          if (berth_volume_get (cli.root, argv[i], &v, &err) < 0)
            {
              fprintf (stderr, "berth: %s\n", err->msg);
              berth_error_release (&err);
              rc = 1;
              continue;
            }
          json_array_append_new (out, v);
        }
      json_dumpf (out, stdout, JSON_INDENT (4));
      putchar ('\n');
      json_decref (out);
      return rc;
    }
  if (strcmp (sub, "rm") == 0 || strcmp (sub, "remove") == 0)
    {
      bool force = false;
      for (int i = 2; i < argc; i++)
        {
          if (strcmp (argv[i], "-f") == 0 || strcmp (argv[i], "--force") == 0)
            {
              force = true;
              continue;
            }
          if (berth_volume_remove (cli.root, argv[i], force, &err) < 0)
            {
              fprintf (stderr, "berth: %s\n", err->msg);
              berth_error_release (&err);
              rc = 1;
              continue;
            }
          printf ("%s\n", argv[i]);
        }
      return rc;
    }
  if (strcmp (sub, "prune") == 0)
    {
      json_t *list = NULL, *v;
      size_t i;
      if (berth_volume_list (cli.root, &list, &err) < 0)
        return cli_error (&err);
      printf ("Deleted Volumes:\n");
      json_array_foreach (list, i, v)
      {
        const char *name = json_string_value (json_object_get (v, "Name"));
        json_t *users = NULL;
        /* docker prunes anonymous volumes only, unless --all. */
        bool all = argc > 2 && (strcmp (argv[2], "-a") == 0 || strcmp (argv[2], "--all") == 0);
        if (!all && !json_is_true (json_object_get (v, "Anonymous")))
          continue;
        if (berth_volume_users (cli.root, name, &users, &err) == 0 && json_array_size (users) == 0
            && berth_volume_remove (cli.root, name, false, &err) == 0)
          printf ("%s\n", name);
        berth_error_release (&err);
        json_decref (users);
      }
      json_decref (list);
      return 0;
    }
  return cli_usage ("volume", "unknown command \"%s\"", sub);
}
