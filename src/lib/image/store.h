/* The image store: content-addressed blobs, unpacked layers shared by
   every image and container, and the references that name images.

     <root>/blobs/sha256/<hex>        blobs (manifests, configs, layers)
     <root>/layers/sha256/<hex>/      a layer unpacked, named by its diff_id
     <root>/refs.json                 name -> manifest digest
     <root>/tmp/                      work in progress, never published

   Everything appears under its final name only once complete and verified
   (temp name, fsync, rename), so a crash never leaves something that looks
   whole and is not. */
#ifndef BERTH_STORE_H
#define BERTH_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/digest.h"
#include "lib/base/error.h"

#define BERTH_DEFAULT_STORE "/var/lib/berth"

struct berth_store
{
  char *root;
  int lock_fd; /* flock held while the refs or the set of blobs change */
};

int berth_store_open (const char *root, struct berth_store **out, berth_err_t *err);
void berth_store_close (struct berth_store *s);
int berth_store_lock (struct berth_store *s, berth_err_t *err);
void berth_store_unlock (struct berth_store *s);

char *berth_blob_path (struct berth_store *s, const char *digest);
bool berth_blob_exists (struct berth_store *s, const char *digest);
/* Streams FD into the store; with EXPECT (a digest) and/or SIZE (>= 0) the
   content is verified while it streams and nothing is kept on mismatch. */
int berth_blob_put_fd (struct berth_store *s, int fd, const char *expect, int64_t size, char *digest_out,
                       berth_err_t *err);
int berth_blob_put_mem (struct berth_store *s, const void *data, size_t len, char *digest_out, berth_err_t *err);
int berth_blob_read (struct berth_store *s, const char *digest, char **data, size_t *len, berth_err_t *err);
int berth_blob_read_json (struct berth_store *s, const char *digest, json_t **out, berth_err_t *err);

/* Streaming writes: begin, write any number of chunks, then commit (which
   verifies and publishes) or abort.  Used by pulls and by archive loads. */
struct berth_blob_writer;
int berth_blob_writer_begin (struct berth_store *s, struct berth_blob_writer **w, berth_err_t *err);
int berth_blob_writer_write (struct berth_blob_writer *w, const void *data, size_t len, berth_err_t *err);
int berth_blob_writer_commit (struct berth_blob_writer *w, const char *expect, int64_t size, char *digest_out,
                              berth_err_t *err);
void berth_blob_writer_abort (struct berth_blob_writer *w);

/* A unique directory under <root>/tmp for work in progress. */
char *berth_store_tmpdir (struct berth_store *s, const char *what, berth_err_t *err);

#endif
