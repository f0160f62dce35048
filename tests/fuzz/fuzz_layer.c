/* libFuzzer: the layer unpacker on hostile tar streams (plain, gzip or
   zstd), as a layer and as a guest's changes.  The invariant is the one layers rely on: nothing is written
   outside the scratch root, whatever the entries name (.., absolute
   paths, symlinks, hardlinks, whiteouts). */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "fuzz_util.h"
#include "lib/image/layer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char base[] = "/tmp/berth-fuzz-layer.XXXXXX";
static char *root, *outside;

static const char *
canary_path (const char *dir)
{
  static char p[4096];
  snprintf (p, sizeof (p), "%s/canary", dir);
  return p;
}

static void
cleanup (void)
{
  fuzz_remove (base);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  berth_err_t err = NULL;
  char diffid[BERTH_DIGEST_LEN + 1];
  int64_t n;
  int fd;
  if (root == NULL)
    {
      if (mkdtemp (base) == NULL)
        abort ();
      atexit (cleanup);
      root = xasprintf ("%s/root", base);
      outside = xasprintf ("%s/outside", base);
      if (mkdir (outside, 0755) < 0 || write_file_at (AT_FDCWD, canary_path (outside), "x", 1, &err) < 0)
        abort ();
    }
  if (mkdir (root, 0755) < 0)
    abort ();
  fd = memfd_create ("layer", MFD_CLOEXEC);
  if (fd < 0 || write_all (fd, data, size) < 0 || lseek (fd, 0, SEEK_SET) < 0)
    abort ();
  if (berth_unpack_fd (fd, root, diffid, &n, &err) < 0)
    berth_error_release (&err);
  /* The same stream again as a VM guest's changes laid on what is there
     (whiteouts delete, opaque directories are emptied): no more reach. */
  if (lseek (fd, 0, SEEK_SET) < 0)
    abort ();
  if (berth_unpack_changes (fd, root, &err) < 0)
    berth_error_release (&err);
  close (fd);
  /* Only root and outside next to each other, outside as it was, and
     nothing new in /tmp's top named like our entries. */
  if (fuzz_entries (base) != 2 || fuzz_entries (outside) != 1)
    abort ();
  rm_rf_at (AT_FDCWD, root, &err);
  berth_error_release (&err);
  return 0;
}
