#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lib/image/imgarchive.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

int
cmd_load (int argc, char **argv)
{
  static const struct option opts[]
      = { { "input", required_argument, NULL, 'i' }, { "quiet", no_argument, NULL, 'q' }, { NULL, 0, NULL, 0 } };
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  const char *input = NULL;
  cleanup_free char *tmp = NULL;
  json_t *loaded = NULL, *n;
  bool quiet = false;
  size_t i;
  int c, r;

  if (cli_help (argc, argv, "load [-i FILE|DIR] [-q]",
                "  -i, --input FILE   a docker save tarball, an OCI layout (tar or directory); default stdin\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "i:q", opts, NULL)) != -1)
    switch (c)
      {
      case 'i':
        input = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      default:
        return cli_usage ("load", "unknown option");
      }
  if (optind != argc)
    return cli_usage ("load", "takes no arguments (use -i FILE)");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  if (input == NULL)
    {
      /* Read stdin into the store's tmp: the archive needs a second look. */
      int fd;
      char buf[65536];
      ssize_t n2;
      if (isatty (0))
        {
          berth_store_close (s);
          return cli_usage ("load", "requested load from stdin, but stdin is a terminal (use -i FILE)");
        }
      tmp = xasprintf ("%s/tmp/load.%d.XXXXXX", cli.root, getpid ());
      fd = mkostemp (tmp, O_CLOEXEC);
      if (fd < 0)
        {
          berth_error (&err, errno, "create `%s`", tmp);
          berth_store_close (s);
          return cli_error (&err);
        }
      while ((n2 = read (0, buf, sizeof (buf))) > 0)
        if (write_all (fd, buf, (size_t)n2) < 0)
          break;
      close (fd);
      input = tmp;
    }
  r = berth_image_load_archive (s, input, &loaded, &err);
  if (tmp)
    unlink (tmp);
  berth_store_close (s);
  if (r < 0)
    {
      json_decref (loaded);
      return cli_error (&err);
    }
  json_array_foreach (loaded, i, n)
  {
    const char *v = json_string_value (n);
    if (quiet)
      continue;
    if (str_has_prefix (v, "sha256:"))
      printf ("Loaded image ID: %s\n", v);
    else
      {
        cleanup_free char *fam = berth_ref_familiar (v);
        printf ("Loaded image: %s\n", fam);
      }
  }
  json_decref (loaded);
  return 0;
}
