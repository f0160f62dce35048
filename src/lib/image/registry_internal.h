/* Inside the registry client: registry.c (pull, push, login) over
   registry_http.c (requests through libcurl, credentials, bearer tokens). */
#ifndef BERTH_REGISTRY_INTERNAL_H
#define BERTH_REGISTRY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/base/curl_dl.h"
#include "lib/image/reference.h"
#include "lib/image/registry.h"
#include "lib/image/store.h"

#define MAX_DOC (4 << 20) /* manifests, indexes, tokens */

struct reg
{
  char *base; /* https://host:port */
  char *domain;
  char *repo;
  char *token;
  char *user, *password;
  const struct berth_registry_opts *o;
  const char *actions; /* "pull" or "pull,push" */
};

struct resp
{
  long status;
  char *body;
  size_t len;
  char *www_auth;
  char *location;
  char *content_type;
  char *docker_digest;
};

struct sink
{
  struct resp *resp;
  size_t limit;
  /* streaming blob downloads */
  struct berth_blob_writer *w;
  int64_t expect_size, done;
  const char *digest;
  const struct berth_registry_opts *o;
  berth_err_t err;
  int fd;     /* uploads */
  int pipe_w; /* a layer also streams into its unpacker (-1: none) */
};

int reg_request (struct reg *r, const char *method, const char *url, const char *accept, const char *ctype,
                 int upload_fd, int64_t upload_size, const void *body, size_t body_len, struct resp *out,
                 bool retry_auth, berth_err_t *err);
/* Every entry point loads what the registry code calls: curl, and
   libcrypto for digests and the credentials' base64. */
int registry_libs_load (berth_err_t *err);
int reg_init (struct reg *r, const struct berth_ref *ref, const struct berth_registry_opts *o, const char *actions);
void reg_free (struct reg *r);
struct curl_slist *reg_auth_headers (struct reg *r, struct curl_slist *h);
char *reg_default_auth_file (void);
/* The realm and service of a WWW-Authenticate Bearer challenge (hostile
   input: fuzzed); the realm must be https (or http with ALLOW_HTTP). */
int reg_challenge_parse (const char *challenge, bool allow_http, char **realm, char **service, berth_err_t *err);
/* The token of a token server's JSON reply (token or access_token). */
int reg_token_parse (const char *body, size_t len, char **token, berth_err_t *err);
json_t *reg_auth_file_load (const char *path);
CURL *reg_easy (struct reg *r, const char *method, const char *url, struct curl_slist *headers, struct sink *s);
void reg_resp_clear (struct resp *r);
int reg_status_error (struct reg *r, const char *what, struct resp *resp, berth_err_t *err);
char *reg_b64 (const char *s);

#endif
