/* Requests to a registry through libcurl: credentials, Basic and bearer
   token authentication (WWW-Authenticate), bounded replies. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/crypto_dl.h"
#include "lib/base/curl_dl.h"
#include "lib/image/image.h"
#include "lib/image/layer.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"
#include "lib/image/registry_internal.h"

void
reg_resp_clear (struct resp *r)
{
  free (r->body);
  free (r->www_auth);
  free (r->location);
  free (r->content_type);
  free (r->docker_digest);
  memset (r, 0, sizeof (*r));
}

void
reg_free (struct reg *r)
{
  free (r->base);
  free (r->domain);
  free (r->repo);
  free (r->token);
  free (r->user);
  free (r->password);
}

bool
berth_registry_insecure (const char *registry)
{
  const char *list = getenv ("BERTH_INSECURE_REGISTRIES");
  cleanup_free char *copy = NULL;
  char *save = NULL;
  if (list == NULL)
    return false;
  copy = xstrdup (list);
  for (char *t = strtok_r (copy, ", ", &save); t; t = strtok_r (NULL, ", ", &save))
    if (strcmp (t, registry) == 0)
      return true;
  return false;
}

/* Every entry point loads what the registry code calls: curl, and
   libcrypto for digests and the credentials' base64. */
int
registry_libs_load (berth_err_t *err)
{
  return berth_curl_load (err) < 0 || berth_crypto_load (err) < 0 ? -1 : 0;
}

char *
reg_b64 (const char *s)
{
  size_t n = strlen (s);
  char *out = xmalloc (4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock ((unsigned char *)out, (const unsigned char *)s, (int)n);
  return out;
}

static char *
unb64 (const char *s)
{
  size_t n = strlen (s);
  unsigned char *out = xmalloc (n + 1);
  int m = EVP_DecodeBlock (out, (const unsigned char *)s, (int)n);
  if (m < 0)
    {
      free (out);
      return NULL;
    }
  while (m > 0 && n > 0 && s[n - 1] == '=')
    {
      m--;
      n--;
    }
  out[m] = '\0';
  return (char *)out;
}

char *
reg_default_auth_file (void)
{
  const char *home = getenv ("BERTH_AUTH_FILE");
  if (home && *home)
    return xstrdup (home);
  return xstrdup ("/etc/berth/auth.json");
}

/* The credentials file, or NULL when it is missing or unreadable: a
   registry is then asked without credentials, as docker does. */
json_t *
reg_auth_file_load (const char *path)
{
  json_t *j;
  berth_err_t e = NULL;
  if (json_load_path (path, &j, &e) < 0)
    berth_error_release (&e);
  return j;
}

static void
load_credentials (struct reg *r)
{
  cleanup_free char *path = r->o->auth_file ? xstrdup (r->o->auth_file) : reg_default_auth_file ();
  json_t *j = reg_auth_file_load (path);
  const char *a
      = json_string_value (json_object_get (json_object_get (json_object_get (j, "auths"), r->domain), "auth"));
  if (a)
    {
      cleanup_free char *plain = unb64 (a);
      char *colon = plain ? strchr (plain, ':') : NULL;
      if (colon)
        {
          *colon = '\0';
          r->user = xstrdup (plain);
          r->password = xstrdup (colon + 1);
        }
    }
  json_decref (j);
}

int
reg_init (struct reg *r, const struct berth_ref *ref, const struct berth_registry_opts *o, const char *actions)
{
  const char *host = strcmp (ref->domain, "docker.io") == 0 ? "registry-1.docker.io" : ref->domain;
  bool tls = o->tls_verify && !berth_registry_insecure (ref->domain);
  memset (r, 0, sizeof (*r));
  r->o = o;
  r->domain = xstrdup (ref->domain);
  r->repo = xstrdup (ref->path);
  r->base = xasprintf ("%s://%s", tls ? "https" : "http", host);
  r->actions = actions;
  load_credentials (r);
  return 0;
}

/* --------------------------------------------------------------- http */

static size_t
on_body (char *data, size_t size, size_t n, void *p)
{
  struct sink *s = p;
  size_t len = size * n;
  if (s->w)
    {
      s->done += (int64_t)len;
      if (s->expect_size >= 0 && s->done > s->expect_size)
        {
          berth_error (&s->err, 0, "blob %s: the registry sent more than its %lld bytes", s->digest,
                       (long long)s->expect_size);
          return 0;
        }
      if (berth_blob_writer_write (s->w, data, len, &s->err) < 0)
        return 0;
      /* The unpacker may have given up (a hostile entry): the download
         goes on, its error is reported when both are done. */
      if (s->pipe_w >= 0 && write_all (s->pipe_w, data, len) < 0)
        {
          close (s->pipe_w);
          s->pipe_w = -1;
        }
      if (s->o->progress)
        s->o->progress (s->o->progress_data, s->digest, s->done, s->expect_size, false);
      return len;
    }
  if (s->resp->len + len > s->limit)
    {
      berth_error (&s->err, 0, "the registry's reply is larger than %zu bytes", s->limit);
      return 0;
    }
  s->resp->body = xrealloc (s->resp->body, s->resp->len + len + 1);
  memcpy (s->resp->body + s->resp->len, data, len);
  s->resp->len += len;
  s->resp->body[s->resp->len] = '\0';
  return len;
}

static size_t
on_header (char *data, size_t size, size_t n, void *p)
{
  struct sink *s = p;
  size_t len = size * n;
  static const struct
  {
    const char *name;
    size_t off;
  } keep[] = {
    { "www-authenticate:", offsetof (struct resp, www_auth) },
    { "location:", offsetof (struct resp, location) },
    { "content-type:", offsetof (struct resp, content_type) },
    { "docker-content-digest:", offsetof (struct resp, docker_digest) },
  };
  for (size_t i = 0; i < ARRAY_SIZE (keep); i++)
    {
      size_t kl = strlen (keep[i].name);
      if (len > kl && strncasecmp (data, keep[i].name, kl) == 0 && len < 8192)
        {
          char **slot = (char **)((char *)s->resp + keep[i].off);
          const char *v = data + kl;
          size_t vl = len - kl;
          while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
          while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
          free (*slot);
          *slot = xmalloc (vl + 1);
          memcpy (*slot, v, vl);
          (*slot)[vl] = '\0';
        }
    }
  return len;
}

static size_t
on_upload (char *buf, size_t size, size_t n, void *p)
{
  struct sink *s = p;
  ssize_t r = read (s->fd, buf, size * n);
  return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
}

CURL *
reg_easy (struct reg *r, const char *method, const char *url, struct curl_slist *headers, struct sink *s)
{
  CURL *c = curl_easy_init ();
  /* curl_easy_init fails only without memory: the caller says so. */
  if (c == NULL)
    return NULL;
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp (method, "HEAD") == 0)
    curl_easy_setopt (c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, s);
  curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (c, CURLOPT_HEADERDATA, s);
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, strcmp (method, "GET") == 0 ? 1L : 0L);
  curl_easy_setopt (c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS_STR, r->o->tls_verify ? "https" : "http,https");
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 30L);
  /* A registry that stops sending is a failed pull, not a hang. */
  curl_easy_setopt (c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt (c, CURLOPT_USERAGENT, "berth/0.1");
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  if (!r->o->tls_verify)
    {
      curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  return c;
}

struct curl_slist *
reg_auth_headers (struct reg *r, struct curl_slist *h)
{
  if (r->token)
    {
      cleanup_free char *a = xasprintf ("Authorization: Bearer %s", r->token);
      h = curl_slist_append (h, a);
    }
  else if (r->user)
    {
      cleanup_free char *up = xasprintf ("%s:%s", r->user, r->password);
      cleanup_free char *enc = reg_b64 (up);
      cleanup_free char *a = xasprintf ("Authorization: Basic %s", enc);
      h = curl_slist_append (h, a);
    }
  return h;
}

/* key="value" pairs of a WWW-Authenticate challenge. */
static char *
challenge_param (const char *h, const char *key)
{
  cleanup_free char *pat = xasprintf ("%s=\"", key);
  const char *p = h;
  while ((p = strstr (p, pat)))
    {
      if (p == h || p[-1] == ' ' || p[-1] == ',')
        {
          const char *v = p + strlen (pat), *e = strchr (v, '"');
          if (e == NULL)
            return NULL;
          return strndup (v, (size_t)(e - v));
        }
      p++;
    }
  return NULL;
}

int
reg_challenge_parse (const char *challenge, bool allow_http, char **realm, char **service, berth_err_t *err)
{
  *realm = challenge_param (challenge, "realm");
  *service = challenge_param (challenge, "service");
  if (*realm == NULL || !(str_has_prefix (*realm, "https://") || (allow_http && str_has_prefix (*realm, "http://")))
      || strpbrk (*realm, " \r\n\t"))
    {
      berth_error (err, 0, "the token realm \"%s\" is not usable", *realm ? *realm : "");
      free (*realm);
      free (*service);
      *realm = *service = NULL;
      return -1;
    }
  return 0;
}

int
reg_token_parse (const char *body, size_t len, char **token, berth_err_t *err)
{
  json_t *j = json_loadb (body ? body : "", len, 0, NULL);
  const char *tok = json_string_value (json_object_get (j, "token"));
  if (tok == NULL)
    tok = json_string_value (json_object_get (j, "access_token"));
  /* It goes into a header line: no line breaks, a bounded size. */
  if (tok == NULL || *tok == '\0' || strlen (tok) > 65536 || strpbrk (tok, "\r\n"))
    {
      json_decref (j);
      return berth_error (err, 0, "the token server's reply has no usable token");
    }
  *token = xstrdup (tok);
  json_decref (j);
  return 0;
}

static int
fetch_token (struct reg *r, const char *challenge, berth_err_t *err)
{
  cleanup_free char *realm = NULL;
  cleanup_free char *service = NULL;
  cleanup_free char *url = NULL;
  struct resp resp = { 0 };
  char *tok = NULL;
  CURL *c;
  char *es = NULL, *esc = NULL;
  cleanup_free char *scope = xasprintf ("repository:%s:%s", r->repo, r->actions);
  int ret = -1;

  if (reg_challenge_parse (challenge, !r->o->tls_verify, &realm, &service, err) < 0)
    return berth_error_wrap (err, "registry %s", r->domain);
  c = curl_easy_init ();
  if (c == NULL)
    return berth_error (err, ENOMEM, "registry %s: curl_easy_init", r->domain);
  es = service ? curl_easy_escape (c, service, 0) : NULL;
  esc = curl_easy_escape (c, scope, 0);
  url = xasprintf ("%s%sservice=%s&scope=%s", realm, strchr (realm, '?') ? "&" : "?", es ? es : "", esc);
  curl_free (es);
  curl_free (esc);
  curl_easy_cleanup (c);
  {
    /* The token endpoint gets the basic credentials, never a token. */
    char *saved = r->token;
    r->token = NULL;
    ret = reg_request (r, "GET", url, NULL, NULL, -1, 0, NULL, 0, &resp, false, err);
    r->token = saved;
  }
  if (ret < 0)
    return -1;
  if (resp.status != 200)
    {
      ret = berth_error (err, 0, "registry %s: the token server answered %ld%s", r->domain, resp.status,
                         resp.status == 401 ? " (wrong credentials? see berth login)" : "");
      reg_resp_clear (&resp);
      return ret;
    }
  ret = reg_token_parse (resp.body, resp.len, &tok, err);
  reg_resp_clear (&resp);
  if (ret < 0)
    return berth_error_wrap (err, "registry %s", r->domain);
  free (r->token);
  r->token = tok;
  return 0;
}

int
reg_request (struct reg *r, const char *method, const char *url, const char *accept, const char *ctype, int upload_fd,
             int64_t upload_size, const void *body, size_t body_len, struct resp *out, bool retry_auth,
             berth_err_t *err)
{
  struct sink s = { .resp = out, .limit = MAX_DOC, .expect_size = -1, .o = r->o, .fd = upload_fd };
  struct curl_slist *h = NULL;
  CURL *c;
  CURLcode cc;
  char errbuf[CURL_ERROR_SIZE] = "";

  memset (out, 0, sizeof (*out));
  if (accept)
    {
      cleanup_free char *a = xasprintf ("Accept: %s", accept);
      h = curl_slist_append (h, a);
    }
  if (ctype)
    {
      cleanup_free char *a = xasprintf ("Content-Type: %s", ctype);
      h = curl_slist_append (h, a);
    }
  h = reg_auth_headers (r, h);
  c = reg_easy (r, method, url, h, &s);
  if (c == NULL)
    {
      curl_slist_free_all (h);
      return berth_error (err, ENOMEM, "libcurl: set up a request to %s", url);
    }
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, errbuf);
  if (upload_fd >= 0)
    {
      curl_easy_setopt (c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt (c, CURLOPT_READFUNCTION, on_upload);
      curl_easy_setopt (c, CURLOPT_READDATA, &s);
      curl_easy_setopt (c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upload_size);
    }
  else if (body)
    {
      curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
      curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
  else if (strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0)
    {
      curl_easy_setopt (c, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
  cc = curl_easy_perform (c);
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_easy_cleanup (c);
  curl_slist_free_all (h);
  if (s.err)
    {
      *err = s.err;
      return -1;
    }
  if (cc != CURLE_OK)
    return berth_error (err, 0, "registry %s: %s %s: %s", r->domain, method, url,
                        errbuf[0] ? errbuf : curl_easy_strerror (cc));
  if (out->status == 401 && retry_auth && out->www_auth)
    {
      cleanup_free char *ch = xstrdup (out->www_auth);
      free (out->body);
      out->body = NULL;
      if (strncasecmp (ch, "Bearer ", 7) == 0)
        {
          if (fetch_token (r, ch, err) < 0)
            return -1;
        }
      else if (strncasecmp (ch, "Basic", 5) != 0 || r->user == NULL)
        {
          reg_resp_clear (out);
          return berth_error (err, 0, "registry %s: authentication required (berth login %s)", r->domain, r->domain);
        }
      if (upload_fd >= 0 && lseek (upload_fd, 0, SEEK_SET) < 0)
        return berth_error (err, errno, "rewind the upload");
      reg_resp_clear (out);
      return reg_request (r, method, url, accept, ctype, upload_fd, upload_size, body, body_len, out, false, err);
    }
  return 0;
}

int
reg_status_error (struct reg *r, const char *what, struct resp *resp, berth_err_t *err)
{
  const char *msg = NULL;
  json_t *j = resp->body ? json_loads (resp->body, 0, NULL) : NULL;
  msg = json_string_value (json_object_get (json_array_get (json_object_get (j, "errors"), 0), "message"));
  berth_error (err, 0, "registry %s: %s: HTTP %ld%s%s", r->domain, what, resp->status, msg ? ": " : "", msg ? msg : "");
  json_decref (j);
  return -1;
}
