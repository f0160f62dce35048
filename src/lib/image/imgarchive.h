/* Images in and out of files: `docker save` tarballs and OCI image layouts
   (tar or directory) in, either format out, and plain root filesystem
   tarballs imported as one-layer images. */
#ifndef BERTH_IMGARCHIVE_H
#define BERTH_IMGARCHIVE_H

#include <jansson.h>

#include "lib/base/error.h"
#include "lib/image/store.h"

/* Loads every image of PATH (a tar file, possibly compressed, or an OCI
   layout directory); *loaded gets the references (or IDs) made. */
int berth_image_load_archive (struct berth_store *s, const char *path, json_t **loaded, berth_err_t *err);
/* Writes NAMES (a JSON array of strings) to PATH as "oci" or "docker". */
int berth_image_save_archive (struct berth_store *s, json_t *names, const char *path, const char *format,
                              berth_err_t *err);
/* A root filesystem tarball (plain, gzip or zstd) as a one-layer image.
   CONFIG (may be NULL) is merged into the image config's "config". */
/* commit: a new image made of BASE's layers and one more (the tar on
   LAYER_FD), with CONFIG as its config's "config" (NULL: BASE's). */
struct berth_image_commit
{
  json_t *config;
  const char *created_by, *comment, *author;
  const char *name; /* NULL: untagged */
};
int berth_image_add_layer (struct berth_store *s, const char *base, int layer_fd, const struct berth_image_commit *c,
                           char *manifest_out, berth_err_t *err);
int berth_image_import (struct berth_store *s, const char *path, const char *name, json_t *config, char *manifest_out,
                        berth_err_t *err);

#endif
