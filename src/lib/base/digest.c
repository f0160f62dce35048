#include "lib/base/digest.h"

#include "lib/base/crypto_dl.h"
#include "lib/base/utils.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
/* Inlined: no library to link or load at run time (the agent and
   berth-runtime are static). */
#define XXH_INLINE_ALL
#include <xxhash.h>

struct berth_sha256
{
  EVP_MD_CTX *ctx;
};

struct berth_sha256 *
berth_sha256_new (berth_err_t *err)
{
  struct berth_sha256 *h;
  if (berth_crypto_load (err) < 0)
    return NULL;
  h = xcalloc (1, sizeof (*h));
  h->ctx = EVP_MD_CTX_new ();
  if (h->ctx == NULL || EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL) != 1)
    {
      if (h->ctx)
        EVP_MD_CTX_free (h->ctx);
      free (h);
      berth_error (err, ENOMEM, "libcrypto: set up a sha256 digest");
      return NULL;
    }
  return h;
}

void
berth_sha256_update (struct berth_sha256 *h, const void *data, size_t len)
{
  EVP_DigestUpdate (h->ctx, data, len);
}

/* "ALGO:" and N bytes in lowercase hex, terminated. */
static void
digest_format (char *out, const char *algo, const unsigned char *md, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  size_t at = strlen (algo);
  memcpy (out, algo, at);
  out[at++] = ':';
  for (size_t i = 0; i < n; i++)
    {
      out[at++] = hex[md[i] >> 4];
      out[at++] = hex[md[i] & 15];
    }
  out[at] = '\0';
}

void
berth_sha256_final (struct berth_sha256 *h, char *out)
{
  unsigned char md[32];
  unsigned int n = 0;
  EVP_DigestFinal_ex (h->ctx, md, &n);
  digest_format (out, "sha256", md, sizeof (md));
  berth_sha256_free (h);
}

void
berth_sha256_free (struct berth_sha256 *h)
{
  if (h == NULL)
    return;
  EVP_MD_CTX_free (h->ctx);
  free (h);
}

struct berth_checksum
{
  XXH3_state_t *st;
};

struct berth_checksum *
berth_checksum_new (void)
{
  struct berth_checksum *h = xcalloc (1, sizeof (*h));
  h->st = XXH3_createState ();
  if (h->st == NULL)
    abort (); /* as xmalloc */
  XXH3_128bits_reset (h->st);
  return h;
}

void
berth_checksum_update (struct berth_checksum *h, const void *data, size_t len)
{
  XXH3_128bits_update (h->st, data, len);
}

void
berth_checksum_final (struct berth_checksum *h, char *out)
{
  XXH128_canonical_t c;
  XXH128_canonicalFromHash (&c, XXH3_128bits_digest (h->st));
  digest_format (out, "xxh3-128", c.digest, sizeof (c.digest));
  berth_checksum_free (h);
}

void
berth_checksum_free (struct berth_checksum *h)
{
  if (h == NULL)
    return;
  XXH3_freeState (h->st);
  free (h);
}

int
berth_sha256_of (const void *data, size_t len, char *out, berth_err_t *err)
{
  struct berth_sha256 *h = berth_sha256_new (err);
  if (h == NULL)
    return -1;
  berth_sha256_update (h, data, len);
  berth_sha256_final (h, out);
  return 0;
}

bool
berth_digest_valid (const char *d)
{
  if (d == NULL || strncmp (d, "sha256:", 7) != 0 || strlen (d) != BERTH_DIGEST_LEN)
    return false;
  for (const char *p = d + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

int
berth_digest_check (const char *d, const char *what, berth_err_t *err)
{
  if (!berth_digest_valid (d))
    return berth_error (err, 0, "%s: \"%s\" is not a sha256 digest", what, d ? d : "(none)");
  return 0;
}

const char *
berth_digest_hex (const char *d)
{
  return d + 7;
}
