/* Layer unpacking: a tar stream (plain, gzip or zstd) written into a
   directory as overlayfs expects it (whiteouts as 0:0 character devices,
   opaque directories marked with trusted.overlay.opaque).  Every layer is
   hostile: no entry may write outside the directory, whatever "..",
   absolute paths, symlinks or hardlinks it tries. */
#ifndef BERTH_LAYER_H
#define BERTH_LAYER_H

#include <stdint.h>

#include "lib/base/digest.h"
#include "lib/base/error.h"
#include "lib/image/store.h"

/* Unpacks the archive on FD into DEST (an existing, empty directory).
   diffid_out (unless NULL) gets the sha256 of the uncompressed stream. */
int berth_unpack_fd (int fd, const char *dest, char *diffid_out, int64_t *size_out, berth_err_t *err);
/* The same for a plain tar (cp into a container): a name starting ".wh."
   is a file of that name, not a whiteout. */
int berth_unpack_plain (int fd, const char *dest, berth_err_t *err);
/* An OCI layer laid on DEST, a container's mounted root: a whiteout
   deletes what it names, an opaque directory is emptied first (the
   overlay records both), the rest as berth_unpack_fd. */
int berth_unpack_changes (int fd, const char *dest, berth_err_t *err);

/* Unpacks blob BLOB into layers/sha256/<diff_id> unless already there.
   With EXPECT_DIFFID the result must match it. */
int berth_layer_unpack (struct berth_store *s, const char *blob, const char *expect_diffid, char *diffid_out,
                        berth_err_t *err);
char *berth_layer_path (struct berth_store *s, const char *diffid);
bool berth_layer_exists (struct berth_store *s, const char *diffid);

#endif
