#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lib/image/image.h"
#include "lib/image/imgarchive.h"
#include "lib/base/utils.h"

int
cmd_import (int argc, char **argv)
{
  struct berth_store *s = NULL;
  berth_err_t err = NULL;
  char md[BERTH_DIGEST_LEN + 1];
  cleanup_free char *tmp = NULL;
  const char *file;
  struct berth_image *img = NULL;
  int r;

  if (cli_help (argc, argv, "import FILE|- [REPOSITORY[:TAG]]", NULL))
    return 0;
  if (argc < 2 || argc > 3)
    return cli_usage ("import", "requires a file (or -) and an optional name");
  if ((r = cli_open_store (&s)) != 0)
    return r;
  file = argv[1];
  if (strcmp (file, "-") == 0)
    {
      char buf[65536];
      ssize_t n;
      int fd;
      tmp = xasprintf ("%s/tmp/import.%d.XXXXXX", cli.root, getpid ());
      fd = mkostemp (tmp, O_CLOEXEC);
      if (fd < 0)
        {
          berth_error (&err, errno, "create `%s`", tmp);
          berth_store_close (s);
          return cli_error (&err);
        }
      while ((n = read (0, buf, sizeof (buf))) > 0)
        if (write_all (fd, buf, (size_t)n) < 0)
          break;
      close (fd);
      file = tmp;
    }
  r = berth_image_import (s, file, argc == 3 ? argv[2] : NULL, NULL, md, &err);
  if (tmp)
    unlink (tmp);
  if (r == 0 && berth_image_load (s, md, &img, &err) == 0)
    {
      printf ("%s\n", img->config_digest);
      berth_image_free (img);
    }
  berth_store_close (s);
  return r < 0 ? cli_error (&err) : 0;
}
