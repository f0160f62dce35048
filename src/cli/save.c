#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lib/image/builtin.h"
#include "lib/image/imgarchive.h"
#include "lib/base/utils.h"

int
cmd_save (int argc, char **argv)
{
  static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                        { "format", required_argument, NULL, 'f' },
                                        { NULL, 0, NULL, 0 } };
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  const char *output = NULL, *format = "oci";
  json_t *names = json_array ();
  int c, r;

  if (cli_help (argc, argv, "save -o FILE [--format docker|oci] IMAGE...",
                "  -o, --output FILE   where to write (stdout if not a terminal)\n"
                "      --format F      oci (default; also readable by docker) or docker\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "o:", opts, NULL)) != -1)
    switch (c)
      {
      case 'o':
        output = optarg;
        break;
      case 'f':
        format = optarg;
        break;
      default:
        return cli_usage ("save", "unknown option");
      }
  if (optind >= argc)
    return cli_usage ("save", "requires at least one image");
  if (output == NULL && isatty (1))
    return cli_usage ("save", "cowardly refusing to write to a terminal (use -o FILE)");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  for (int i = optind; i < argc; i++)
    {
      bool imported;
      if (berth_builtin_ensure (s, argv[i], &imported, &err) < 0)
        {
          berth_store_close (s);
          return cli_error (&err);
        }
      json_array_append_new (names, json_string (argv[i]));
    }
  if (output)
    r = berth_image_save_archive (s, names, output, format, &err);
  else
    {
      cleanup_free char *tmp = xasprintf ("%s/tmp/save.%d.tar", cli.root, getpid ());
      r = berth_image_save_archive (s, names, tmp, format, &err);
      if (r == 0)
        {
          cleanup_free char *data = NULL;
          size_t len;
          r = read_file_at (AT_FDCWD, tmp, &data, &len, &err);
          if (r == 0 && write_all (1, data, len) < 0)
            r = berth_error (&err, errno, "write to stdout");
        }
      unlink (tmp);
    }
  json_decref (names);
  berth_store_close (s);
  return r < 0 ? cli_error (&err) : 0;
}
