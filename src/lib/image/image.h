/* Images in the store: a manifest (OCI or Docker schema 2) naming a config
   and layers, reachable by references.  The image ID, as docker shows it,
   is the config's digest. */
#ifndef BERTH_IMAGE_H
#define BERTH_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/image/store.h"

struct berth_layer_desc
{
  char digest[BERTH_DIGEST_LEN + 1];
  char diffid[BERTH_DIGEST_LEN + 1];
  char *media_type;
  int64_t size;
};

struct berth_image
{
  char manifest_digest[BERTH_DIGEST_LEN + 1];
  char config_digest[BERTH_DIGEST_LEN + 1];
  json_t *manifest;
  json_t *config;
  struct berth_layer_desc *layers;
  size_t n_layers;
};

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* Reads and checks a manifest and its config from the store. */
int berth_image_load (struct berth_store *s, const char *manifest_digest, struct berth_image **out, berth_err_t *err);
void berth_image_free (struct berth_image *img);

/* Makes MANIFEST_DIGEST (whose blobs are in the store) a complete image:
   every layer unpacked and checked against the config's diff_ids. */
int berth_image_unpack (struct berth_store *s, const char *manifest_digest, berth_err_t *err);

/* References (all under the store lock). */
int berth_refs_load (struct berth_store *s, json_t **refs, berth_err_t *err);
int berth_refs_save (struct berth_store *s, json_t *refs, berth_err_t *err);
int berth_image_tag (struct berth_store *s, const char *name, const char *manifest_digest, berth_err_t *err);
/* NAME: a reference, a full or short image ID, or a manifest digest. */
int berth_image_resolve (struct berth_store *s, const char *name, char *manifest_digest, berth_err_t *err);
/* Removes a reference (or, given an ID, every reference to that image) and
   collects what nothing uses any more. */
int berth_image_remove (struct berth_store *s, const char *name, bool force, json_t **removed, berth_err_t *err);
/* Keeps MANIFEST alive without a name: holds/<name>. */
int berth_store_hold (struct berth_store *s, const char *name, const char *manifest, berth_err_t *err);
/* After a failed load, import or pull: collect what it left, best effort. */
void berth_store_collect (struct berth_store *s);
/* Deletes blobs and layers that no reference (nor a hold) reaches. */
int berth_store_gc (struct berth_store *s, int64_t *freed, berth_err_t *err);

/* { "ref": ..., "id": ..., "manifest": ..., "created": ..., "size": ... } for each reference. */
int berth_image_list (struct berth_store *s, json_t **out, berth_err_t *err);
/* Deletes the VM block images (<root>/vm-images/<config hex>.erofs) of
   images that are gone; after rmi and prune. */
int berth_image_prune_vm_images (struct berth_store *s, berth_err_t *err);
/* image prune: dangling images, and with ALL the tags of every image no
   container uses (*UNTAGGED: their names); *FREED: bytes given back. */
int berth_image_prune (struct berth_store *s, bool all, int64_t *freed, json_t **untagged, berth_err_t *err);

#endif
