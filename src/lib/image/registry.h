/* The OCI distribution (registry v2) client: pull and push through libcurl,
   with anonymous, Bearer-token (the WWW-Authenticate realm flow) and basic
   authentication.  Everything a registry sends is checked: manifests and
   blobs against their digests and sizes while they stream, nothing kept on
   a mismatch. */
#ifndef BERTH_REGISTRY_H
#define BERTH_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/image/store.h"

struct berth_registry_opts
{
  bool tls_verify;       /* false: plain http (and no certificate checks) */
  const char *platform;  /* "linux/amd64" by default */
  const char *auth_file; /* credentials saved by login */
  /* Progress: called with the layer's digest, bytes so far and total. */
  void (*progress) (void *data, const char *digest, int64_t done, int64_t total, bool finished);
  void *progress_data;
  int parallel; /* layers downloaded at once (default 3) */
};

int berth_registry_pull (struct berth_store *s, const char *name, const struct berth_registry_opts *o,
                         char *manifest_out, berth_err_t *err);
int berth_registry_push (struct berth_store *s, const char *local, const char *remote,
                         const struct berth_registry_opts *o, berth_err_t *err);
/* Checks USER/PASSWORD against the registry, then saves them (mode 0600). */
int berth_registry_login (const char *registry, const char *user, const char *password,
                          const struct berth_registry_opts *o, berth_err_t *err);
int berth_registry_logout (const char *registry, const char *auth_file, berth_err_t *err);
/* Is the registry named insecure by $BERTH_INSECURE_REGISTRIES? */
bool berth_registry_insecure (const char *registry);

#endif
