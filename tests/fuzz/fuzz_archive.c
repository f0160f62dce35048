/* libFuzzer: `berth load` on hostile archives: docker save's tar
   (manifest.json, repositories, configs and layers by path) and OCI
   layouts (oci-layout, index.json, blobs/sha256/...), plain or compressed.
   The invariant: an error or images loaded into a scratch store, and
   nothing written outside it whatever the archive names; never a crash
   or a leak. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "fuzz_util.h"
#include "lib/image/imgarchive.h"
#include "lib/image/store.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char base[] = "/tmp/berth-fuzz-archive.XXXXXX";
static char *store_dir, *input, *canary;

static void
cleanup (void)
{
  fuzz_remove (base);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  berth_err_t err = NULL;
  struct berth_store *s = NULL;
  json_t *loaded = NULL;
  if (store_dir == NULL)
    {
      if (mkdtemp (base) == NULL)
        abort ();
      atexit (cleanup);
      store_dir = xasprintf ("%s/store", base);
      input = xasprintf ("%s/input.tar", base);
      canary = xasprintf ("%s/canary", base);
      if (write_file_at (AT_FDCWD, canary, "x", 1, &err) < 0)
        abort ();
    }
  if (write_file_at (AT_FDCWD, input, data, size, &err) < 0 || berth_store_open (store_dir, &s, &err) < 0)
    abort ();
  if (berth_image_load_archive (s, input, &loaded, &err) < 0)
    berth_error_release (&err);
  json_decref (loaded);
  berth_store_close (s);
  /* The store, the input and the canary, and nothing else beside them. */
  if (fuzz_entries (base) != 3)
    abort ();
  rm_rf_at (AT_FDCWD, store_dir, &err);
  berth_error_release (&err);
  return 0;
}
