/* sha256 digests as OCI writes them: "sha256:" and 64 lowercase hex. */
#ifndef BERTH_DIGEST_H
#define BERTH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#define BERTH_DIGEST_LEN 71 /* "sha256:" + 64 */

struct berth_sha256;
/* NULL when libcrypto cannot be loaded (err says why). */
struct berth_sha256 *berth_sha256_new (berth_err_t *err);
void berth_sha256_update (struct berth_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (BERTH_DIGEST_LEN + 1 bytes) and frees h. */
void berth_sha256_final (struct berth_sha256 *h, char *out);
void berth_sha256_free (struct berth_sha256 *h);
int berth_sha256_of (const void *data, size_t len, char *out, berth_err_t *err);

/* A fast digest that is no cryptographic hash (XXH3, 128 bits):
   "xxh3-128:" and 32 lowercase hex.  For large local files checked
   against damage (truncated, torn, bit rot) where whoever could forge one
   could as well rewrite the record it is checked against: ~20x faster
   than sha256 here, where a VM waits for it. */
#define BERTH_CHECKSUM_LEN 41 /* "xxh3-128:" + 32 */
struct berth_checksum;
struct berth_checksum *berth_checksum_new (void);
void berth_checksum_update (struct berth_checksum *h, const void *data, size_t len);
/* Writes "xxh3-128:<hex>" into out (BERTH_CHECKSUM_LEN + 1 bytes) and
   frees h. */
void berth_checksum_final (struct berth_checksum *h, char *out);
void berth_checksum_free (struct berth_checksum *h);

/* Strict: algorithm sha256 and exactly 64 lowercase hex digits, so that a
   digest can name a file without escaping anything. */
bool berth_digest_valid (const char *d);
int berth_digest_check (const char *d, const char *what, berth_err_t *err);
/* The hex part. */
const char *berth_digest_hex (const char *d);

#endif
