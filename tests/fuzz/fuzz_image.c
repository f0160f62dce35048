/* libFuzzer: an image's manifest and config as a registry or an archive
   hands them over (both hostile), read as the store reads them and the
   config then made into the container's OCI spec as `berth run` does.
   The input is the manifest, a NUL, then the config; a manifest that
   names the config by "@CONFIG" gets the config's real digest, so that
   inputs reach past the digest check.  The invariant: an error naming
   what was wrong, or an image and a spec; never a crash or a leak. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/engine/ocispec.h"
#include "lib/image/image.h"
#include "lib/image/store.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char base[] = "/tmp/berth-fuzz-image.XXXXXX";
static struct berth_store *store;

static void
cleanup (void)
{
  berth_store_close (store);
  fuzz_remove (base);
}

/* TEXT with every "@CONFIG" replaced by DIGEST. */
static char *
with_digest (const char *text, const char *digest)
{
  size_t n = 0;
  const char *p;
  char *out, *o;
  for (p = text; (p = strstr (p, "@CONFIG")); p += 7)
    n++;
  out = o = xcalloc (1, strlen (text) + n * strlen (digest) + 1);
  for (p = text; *p;)
    if (strncmp (p, "@CONFIG", 7) == 0)
      {
        o = stpcpy (o, digest);
        p += 7;
      }
    else
      *o++ = *p++;
  return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  berth_err_t err = NULL;
  char cd[BERTH_DIGEST_LEN + 1], md[BERTH_DIGEST_LEN + 1];
  char *text = xcalloc (1, size + 2), *config, *manifest;
  struct berth_image *img = NULL;
  if (store == NULL)
    {
      if (mkdtemp (base) == NULL || berth_store_open (base, &store, &err) < 0)
        abort ();
      atexit (cleanup);
    }
  memcpy (text, data, size);
  config = text + strlen (text) + 1; /* after the first NUL, or "" */
  if (berth_blob_put_mem (store, config, strlen (config), cd, &err) < 0)
    abort ();
  manifest = with_digest (text, cd);
  if (berth_blob_put_mem (store, manifest, strlen (manifest), md, &err) < 0)
    abort ();
  if (berth_image_load (store, md, &img, &err) == 0)
    {
      struct berth_run_opts o = { 0 };
      json_t *spec = NULL;
      if (berth_ocispec_build (json_object_get (img->config, "config"), &o, "fuzz", base, base, &spec, &err) == 0)
        json_decref (spec);
      berth_image_free (img);
    }
  berth_error_release (&err);
  free (manifest);
  free (text);
  return 0;
}
