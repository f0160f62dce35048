#include "lib/image/registry.h"

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

static void
resp_clear (struct resp *r)
{
  free (r->body);
  free (r->www_auth);
  free (r->location);
  free (r->content_type);
  free (r->docker_digest);
  memset (r, 0, sizeof (*r));
}

static void
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
static int
registry_libs_load (berth_err_t *err)
{
  return berth_curl_load (err) < 0 || berth_crypto_load (err) < 0 ? -1 : 0;
}

static char *
b64 (const char *s)
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

static char *
default_auth_file (void)
{
  const char *home = getenv ("BERTH_AUTH_FILE");
  if (home && *home)
    return xstrdup (home);
  return xstrdup ("/etc/berth/auth.json");
}

static void
load_credentials (struct reg *r)
{
  cleanup_free char *path = r->o->auth_file ? xstrdup (r->o->auth_file) : default_auth_file ();
  json_t *j = json_load_file (path, 0, NULL);
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

static int
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

static CURL *
easy (struct reg *r, const char *method, const char *url, struct curl_slist *headers, struct sink *s)
{
  CURL *c = curl_easy_init ();
  if (c == NULL)
    abort ();
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

static struct curl_slist *
auth_headers (struct reg *r, struct curl_slist *h)
{
  if (r->token)
    {
      cleanup_free char *a = xasprintf ("Authorization: Bearer %s", r->token);
      h = curl_slist_append (h, a);
    }
  else if (r->user)
    {
      cleanup_free char *up = xasprintf ("%s:%s", r->user, r->password);
      cleanup_free char *enc = b64 (up);
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

static int request (struct reg *r, const char *method, const char *url, const char *accept, const char *ctype,
                    int upload_fd, int64_t upload_size, const void *body, size_t body_len, struct resp *out,
                    bool retry_auth, berth_err_t *err);

static int
fetch_token (struct reg *r, const char *challenge, berth_err_t *err)
{
  cleanup_free char *realm = challenge_param (challenge, "realm");
  cleanup_free char *service = challenge_param (challenge, "service");
  cleanup_free char *url = NULL;
  struct resp resp = { 0 };
  json_t *j;
  const char *tok;
  CURL *c = curl_easy_init ();
  char *es = NULL, *esc = NULL;
  cleanup_free char *scope = xasprintf ("repository:%s:%s", r->repo, r->actions);
  int ret = -1;

  if (realm == NULL
      || !(str_has_prefix (realm, "https://") || (!r->o->tls_verify && str_has_prefix (realm, "http://"))))
    {
      curl_easy_cleanup (c);
      return berth_error (err, 0, "registry %s: the token realm \"%s\" is not usable", r->domain, realm ? realm : "");
    }
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
    ret = request (r, "GET", url, NULL, NULL, -1, 0, NULL, 0, &resp, false, err);
    r->token = saved;
  }
  if (ret < 0)
    return -1;
  if (resp.status != 200)
    {
      ret = berth_error (err, 0, "registry %s: the token server answered %ld%s", r->domain, resp.status,
                         resp.status == 401 ? " (wrong credentials? see berth login)" : "");
      resp_clear (&resp);
      return ret;
    }
  j = json_loadb (resp.body ? resp.body : "", resp.len, 0, NULL);
  tok = json_string_value (json_object_get (j, "token"));
  if (tok == NULL)
    tok = json_string_value (json_object_get (j, "access_token"));
  if (tok == NULL || strlen (tok) > 65536 || strpbrk (tok, "\r\n"))
    ret = berth_error (err, 0, "registry %s: the token server's reply has no usable token", r->domain);
  else
    {
      free (r->token);
      r->token = xstrdup (tok);
      ret = 0;
    }
  json_decref (j);
  resp_clear (&resp);
  return ret;
}

static int
request (struct reg *r, const char *method, const char *url, const char *accept, const char *ctype, int upload_fd,
         int64_t upload_size, const void *body, size_t body_len, struct resp *out, bool retry_auth, berth_err_t *err)
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
  h = auth_headers (r, h);
  c = easy (r, method, url, h, &s);
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
          resp_clear (out);
          return berth_error (err, 0, "registry %s: authentication required (berth login %s)", r->domain, r->domain);
        }
      if (upload_fd >= 0 && lseek (upload_fd, 0, SEEK_SET) < 0)
        return berth_error (err, errno, "rewind the upload");
      resp_clear (out);
      return request (r, method, url, accept, ctype, upload_fd, upload_size, body, body_len, out, false, err);
    }
  return 0;
}

static const char *manifest_accept = MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST;

static int
status_error (struct reg *r, const char *what, struct resp *resp, berth_err_t *err)
{
  const char *msg = NULL;
  json_t *j = resp->body ? json_loads (resp->body, 0, NULL) : NULL;
  msg = json_string_value (json_object_get (json_array_get (json_object_get (j, "errors"), 0), "message"));
  berth_error (err, 0, "registry %s: %s: HTTP %ld%s%s", r->domain, what, resp->status, msg ? ": " : "", msg ? msg : "");
  json_decref (j);
  return -1;
}

/* ------------------------------------------------------------------ pull */

static int
fetch_manifest (struct reg *r, struct berth_store *s, const char *ref, const char *expect, char *digest_out,
                json_t **out, berth_err_t *err)
{
  cleanup_free char *url = xasprintf ("%s/v2/%s/manifests/%s", r->base, r->repo, ref);
  struct resp resp;
  json_error_t jerr;
  if (request (r, "GET", url, manifest_accept, NULL, -1, 0, NULL, 0, &resp, true, err) < 0)
    return -1;
  if (resp.status != 200)
    {
      status_error (r, resp.status == 404 ? "manifest unknown" : "fetch manifest", &resp, err);
      resp_clear (&resp);
      return -1;
    }
  /* By digest, the content must hash to it; by tag, it is what we name it. */
  {
    char got[BERTH_DIGEST_LEN + 1];
    if (berth_sha256_of (resp.body ? resp.body : "", resp.len, got, err) < 0)
      {
        resp_clear (&resp);
        return -1;
      }
    if (expect && strcmp (expect, got) != 0)
      {
        resp_clear (&resp);
        return berth_error (err, 0, "registry %s: manifest %s has digest %s", r->domain, expect, got);
      }
    *out = json_loadb (resp.body ? resp.body : "", resp.len, 0, &jerr);
    if (*out == NULL || !json_is_object (*out))
      {
        resp_clear (&resp);
        json_decref (*out);
        return berth_error (err, 0, "registry %s: manifest %s is not JSON: %s", r->domain, ref, jerr.text);
      }
    if (berth_blob_put_mem (s, resp.body, resp.len, digest_out, err) < 0)
      {
        resp_clear (&resp);
        json_decref (*out);
        return -1;
      }
  }
  resp_clear (&resp);
  return 0;
}

static int
select_platform (struct reg *r, json_t *index, const char *platform, char *digest, berth_err_t *err)
{
  cleanup_free char *want = xstrdup (platform ? platform : "linux/amd64");
  char *arch = strchr (want, '/'), *variant;
  json_t *m;
  size_t i;
  if (arch == NULL)
    return berth_error (err, 0, "--platform: \"%s\" is not os/arch[/variant]", want);
  *arch++ = '\0';
  variant = strchr (arch, '/');
  if (variant)
    *variant++ = '\0';
  json_array_foreach (json_object_get (index, "manifests"), i, m)
  {
    json_t *p = json_object_get (m, "platform");
    const char *os = json_string_value (json_object_get (p, "os"));
    const char *ar = json_string_value (json_object_get (p, "architecture"));
    const char *va = json_string_value (json_object_get (p, "variant"));
    const char *d = json_string_value (json_object_get (m, "digest"));
    if (os && ar && strcmp (os, want) == 0 && strcmp (ar, arch) == 0 && (!variant || (va && strcmp (va, variant) == 0))
        && berth_digest_valid (d))
      {
        strcpy (digest, d);
        return 0;
      }
  }
  return berth_error (err, 0, "registry %s: %s has no image for %s", r->domain, r->repo,
                      platform ? platform : "linux/amd64");
}

/* A layer is unpacked while it downloads: the unpacker reads the bytes the
   transfer writes to the blob, through a pipe, in a thread of its own. */
struct unpacker
{
  pthread_t thread;
  bool started;
  int fd;
  char *dir;
  char diffid[BERTH_DIGEST_LEN + 1];
  berth_err_t err;
  int ret;
};

static void *
unpack_thread (void *p)
{
  struct unpacker *u = p;
  char buf[65536];
  u->ret = berth_unpack_fd (u->fd, u->dir, u->diffid, NULL, &u->err);
  /* Drain, so the writer never blocks on a reader that stopped. */
  while (read (u->fd, buf, sizeof (buf)) > 0)
    ;
  close (u->fd);
  return NULL;
}

struct transfer
{
  struct unpacker u;
  CURL *c;
  struct curl_slist *h;
  struct sink s;
  char digest[BERTH_DIGEST_LEN + 1];
  char *url;
  struct resp resp;
};

/* The unpacked layer goes under its diff_id (its content's digest);
   berth_image_unpack then checks it against the config's diff_ids. */
static int
publish_streamed (struct berth_store *s, struct transfer *x, berth_err_t *err)
{
  cleanup_free char *final = berth_layer_path (s, x->u.diffid);
  if (rename (x->u.dir, final) < 0 && errno != EEXIST && errno != ENOTEMPTY)
    return berth_error (err, errno, "publish layer %s", x->u.diffid);
  return 0;
}

/* Blobs download in parallel, each verified as it streams. */
static int
fetch_blobs (struct reg *r, struct berth_store *s, json_t *descs, berth_err_t *err)
{
  size_t n = json_array_size (descs), next = 0, running = 0, done = 0;
  int parallel = r->o->parallel > 0 ? r->o->parallel : 3;
  struct transfer *t = xcalloc (n + 1, sizeof (*t));
  CURLM *multi = curl_multi_init ();
  int ret = 0;

  while (done < n && ret == 0)
    {
      int still;
      CURLMsg *msg;
      while (running < (size_t)parallel && next < n)
        {
          json_t *d = json_array_get (descs, next);
          struct transfer *x = &t[next++];
          strcpy (x->digest, json_string_value (json_object_get (d, "digest")));
          if (berth_blob_exists (s, x->digest))
            {
              done++;
              if (r->o->progress)
                r->o->progress (r->o->progress_data, x->digest, 0, 0, true);
              continue;
            }
          x->url = xasprintf ("%s/v2/%s/blobs/%s", r->base, r->repo, x->digest);
          x->s.resp = &x->resp;
          x->s.o = r->o;
          x->s.digest = x->digest;
          x->s.expect_size = json_integer_value (json_object_get (d, "size"));
          x->s.fd = -1;
          x->s.pipe_w = -1;
          if (berth_blob_writer_begin (s, &x->s.w, err) < 0)
            {
              ret = -1;
              break;
            }
          if (next > 1) /* descriptor 0 is the config */
            {
              int pp[2];
              x->u.dir = berth_store_tmpdir (s, "layer", err);
              if (x->u.dir == NULL || pipe2 (pp, O_CLOEXEC) < 0)
                {
                  if (*err == NULL)
                    berth_error (err, errno, "pipe");
                  ret = -1;
                  break;
                }
              chmod (x->u.dir, 0755);
              fcntl (pp[1], F_SETPIPE_SZ, 1 << 20);
              x->u.fd = pp[0];
              x->s.pipe_w = pp[1];
              if (pthread_create (&x->u.thread, NULL, unpack_thread, &x->u) != 0)
                {
                  close (pp[0]);
                  close (pp[1]);
                  x->s.pipe_w = -1;
                  ret = berth_error (err, EAGAIN, "start an unpacker");
                  break;
                }
              x->u.started = true;
            }
          x->h = auth_headers (r, NULL);
          x->c = easy (r, "GET", x->url, x->h, &x->s);
          curl_easy_setopt (x->c, CURLOPT_PRIVATE, x);
          curl_multi_add_handle (multi, x->c);
          running++;
        }
      if (ret < 0 || done >= n)
        break;
      curl_multi_perform (multi, &still);
      while ((msg = curl_multi_info_read (multi, &still)))
        {
          struct transfer *x = NULL;
          long status = 0;
          if (msg->msg != CURLMSG_DONE)
            continue;
          curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
          curl_easy_getinfo (msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
          curl_multi_remove_handle (multi, x->c);
          running--;
          done++;
          if (x->s.pipe_w >= 0)
            {
              close (x->s.pipe_w);
              x->s.pipe_w = -1;
            }
          if (x->u.started)
            {
              pthread_join (x->u.thread, NULL);
              x->u.started = false;
            }
          if (x->s.err)
            {
              *err = x->s.err;
              x->s.err = NULL;
              ret = -1;
            }
          else if (msg->data.result != CURLE_OK)
            ret = berth_error (err, 0, "registry %s: blob %s: %s", r->domain, x->digest,
                               curl_easy_strerror (msg->data.result));
          else if (status != 200)
            ret = berth_error (err, 0, "registry %s: blob %s: HTTP %ld", r->domain, x->digest, status);
          if (ret == 0)
            {
              ret = berth_blob_writer_commit (x->s.w, x->digest, x->s.expect_size, NULL, err);
              if (ret < 0)
                berth_error_wrap (err, "registry %s: blob %s", r->domain, x->digest);
              else if (x->u.dir && x->u.ret < 0)
                {
                  *err = x->u.err;
                  x->u.err = NULL;
                  ret = berth_error_wrap (err, "layer %s", x->digest);
                }
              else if (x->u.dir)
                ret = publish_streamed (s, x, err);
              if (ret == 0 && r->o->progress)
                r->o->progress (r->o->progress_data, x->digest, x->s.done, x->s.expect_size, true);
            }
          else
            berth_blob_writer_abort (x->s.w);
          x->s.w = NULL;
        }
      if (running)
        curl_multi_poll (multi, NULL, 0, 1000, NULL);
    }
  for (size_t i = 0; i < n; i++)
    {
      if (t[i].s.pipe_w >= 0)
        close (t[i].s.pipe_w);
      if (t[i].u.started)
        pthread_join (t[i].u.thread, NULL);
      if (t[i].u.dir)
        {
          berth_err_t e2 = NULL;
          rm_rf_at (AT_FDCWD, t[i].u.dir, &e2);
          berth_error_release (&e2);
          free (t[i].u.dir);
        }
      berth_error_release (&t[i].u.err);
      if (t[i].c)
        {
          curl_multi_remove_handle (multi, t[i].c);
          curl_easy_cleanup (t[i].c);
        }
      if (t[i].s.w)
        berth_blob_writer_abort (t[i].s.w);
      berth_error_release (&t[i].s.err);
      curl_slist_free_all (t[i].h);
      free (t[i].url);
      resp_clear (&t[i].resp);
    }
  free (t);
  curl_multi_cleanup (multi);
  return ret;
}

int
berth_registry_pull (struct berth_store *s, const char *name, const struct berth_registry_opts *o, char *manifest_out,
                     berth_err_t *err)
{
  struct berth_ref *ref = NULL;
  struct reg r;
  json_t *m = NULL, *descs = NULL, *layers;
  char md[BERTH_DIGEST_LEN + 1];
  const char *mt;
  size_t i;
  int ret = -1;

  if (berth_ref_parse (name, &ref, err) < 0)
    return -1;
  if (registry_libs_load (err) < 0)
    {
      berth_ref_free (ref);
      return -1;
    }
  reg_init (&r, ref, o, "pull");
  if (fetch_manifest (&r, s, ref->digest ? ref->digest : ref->tag, ref->digest, md, &m, err) < 0)
    goto out;
  mt = json_string_value (json_object_get (m, "mediaType"));
  if ((mt && (strcmp (mt, MT_OCI_INDEX) == 0 || strcmp (mt, MT_DOCKER_LIST) == 0))
      || (!mt && json_is_array (json_object_get (m, "manifests"))))
    {
      char pick[BERTH_DIGEST_LEN + 1];
      if (select_platform (&r, m, o->platform, pick, err) < 0)
        goto out;
      json_decref (m);
      m = NULL;
      if (fetch_manifest (&r, s, pick, pick, md, &m, err) < 0)
        goto out;
    }
  if (json_integer_value (json_object_get (m, "schemaVersion")) != 2 || !json_is_object (json_object_get (m, "config")))
    {
      berth_error (err, 0, "registry %s: %s: not a schema 2 image manifest", r.domain, name);
      goto out;
    }
  descs = json_array ();
  json_array_append (descs, json_object_get (m, "config"));
  layers = json_object_get (m, "layers");
  if (!json_is_array (layers))
    {
      berth_error (err, 0, "registry %s: %s: the manifest has no layers array", r.domain, name);
      goto out;
    }
  json_array_extend (descs, layers);
  json_array_foreach (descs, i, layers)
  {
    json_t *sz = json_object_get (layers, "size");
    if (!berth_digest_valid (json_string_value (json_object_get (layers, "digest"))) || !json_is_integer (sz)
        || json_integer_value (sz) < 0)
      {
        berth_error (err, 0, "registry %s: %s: descriptor %zu has no valid digest and size", r.domain, name, i);
        goto out;
      }
  }
  if (fetch_blobs (&r, s, descs, err) < 0)
    goto out;
  if (berth_image_unpack (s, md, err) < 0)
    goto out;
  if (ref->tag)
    {
      struct berth_ref plain = *ref;
      cleanup_free char *canon = NULL;
      plain.digest = NULL;
      canon = berth_ref_string (&plain);
      if (berth_image_tag (s, canon, md, err) < 0)
        goto out;
    }
  else
    {
      cleanup_free char *canon = berth_ref_string (ref);
      if (berth_image_tag (s, canon, md, err) < 0)
        {
          /* name@digest cannot be a tag: hold it instead. */
          cleanup_free char *hold = xasprintf ("pulled-%s", berth_digest_hex (md));
          berth_error_release (err);
          if (berth_store_hold (s, hold, md, err) < 0)
            goto out;
        }
    }
  if (manifest_out)
    strcpy (manifest_out, md);
  ret = 0;
out:
  if (ret < 0)
    {
      berth_store_collect (s);
    }
  json_decref (m);
  json_decref (descs);
  reg_free (&r);
  berth_ref_free (ref);
  return ret;
}

/* ------------------------------------------------------------------ push */

static int
push_blob (struct reg *r, struct berth_store *s, const char *digest, berth_err_t *err)
{
  cleanup_free char *head = xasprintf ("%s/v2/%s/blobs/%s", r->base, r->repo, digest);
  cleanup_free char *start = xasprintf ("%s/v2/%s/blobs/uploads/", r->base, r->repo);
  cleanup_free char *put = NULL;
  cleanup_free char *path = berth_blob_path (s, digest);
  cleanup_close int fd = -1;
  struct resp resp;
  struct stat st;
  if (request (r, "HEAD", head, NULL, NULL, -1, 0, NULL, 0, &resp, true, err) < 0)
    return -1;
  if (resp.status == 200)
    {
      resp_clear (&resp);
      return 0;
    }
  resp_clear (&resp);
  if (request (r, "POST", start, NULL, NULL, -1, 0, NULL, 0, &resp, true, err) < 0)
    return -1;
  if (resp.status != 202 || resp.location == NULL)
    {
      status_error (r, "start a blob upload", &resp, err);
      resp_clear (&resp);
      return -1;
    }
  if (resp.location[0] == '/')
    put = xasprintf ("%s%s%sdigest=%s", r->base, resp.location, strchr (resp.location, '?') ? "&" : "?", digest);
  else
    put = xasprintf ("%s%sdigest=%s", resp.location, strchr (resp.location, '?') ? "&" : "?", digest);
  resp_clear (&resp);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0)
    return berth_error (err, errno, "blob %s", digest);
  if (request (r, "PUT", put, NULL, "application/octet-stream", fd, st.st_size, NULL, 0, &resp, true, err) < 0)
    return -1;
  if (resp.status != 201)
    {
      status_error (r, "upload a blob", &resp, err);
      resp_clear (&resp);
      return -1;
    }
  resp_clear (&resp);
  return 0;
}

int
berth_registry_push (struct berth_store *s, const char *local, const char *remote, const struct berth_registry_opts *o,
                     berth_err_t *err)
{
  struct berth_ref *ref = NULL;
  struct berth_image *img = NULL;
  char md[BERTH_DIGEST_LEN + 1];
  cleanup_free char *body = NULL;
  cleanup_free char *url = NULL;
  size_t len;
  struct reg r;
  struct resp resp;
  int ret = -1;

  if (berth_image_resolve (s, local, md, err) < 0 || berth_image_load (s, md, &img, err) < 0)
    return -1;
  if (berth_ref_parse (remote, &ref, err) < 0)
    {
      berth_image_free (img);
      return -1;
    }
  if (registry_libs_load (err) < 0)
    {
      berth_image_free (img);
      berth_ref_free (ref);
      return -1;
    }
  reg_init (&r, ref, o, "pull,push");
  for (size_t i = 0; i < img->n_layers; i++)
    if (push_blob (&r, s, img->layers[i].digest, err) < 0)
      goto out;
  if (push_blob (&r, s, img->config_digest, err) < 0)
    goto out;
  if (berth_blob_read (s, md, &body, &len, err) < 0)
    goto out;
  url = xasprintf ("%s/v2/%s/manifests/%s", r.base, r.repo, ref->tag ? ref->tag : md);
  if (request (&r, "PUT", url, NULL,
               json_string_value (json_object_get (img->manifest, "mediaType")) ?: MT_OCI_MANIFEST, -1, 0, body, len,
               &resp, true, err)
      < 0)
    goto out;
  if (resp.status != 201)
    {
      status_error (&r, "put the manifest", &resp, err);
      resp_clear (&resp);
      goto out;
    }
  resp_clear (&resp);
  ret = 0;
out:
  reg_free (&r);
  berth_ref_free (ref);
  berth_image_free (img);
  return ret;
}

/* ------------------------------------------------------------ login */

int
berth_registry_login (const char *registry, const char *user, const char *password, const struct berth_registry_opts *o,
                      berth_err_t *err)
{
  struct berth_ref ref = { .domain = (char *)registry, .path = (char *)"berth/login-check", .tag = (char *)"latest" };
  struct reg r;
  struct resp resp;
  cleanup_free char *url = NULL;
  cleanup_free char *path = o->auth_file ? xstrdup (o->auth_file) : default_auth_file ();
  json_t *j;
  char *text;
  int ret = -1;

  if (registry_libs_load (err) < 0)
    return -1;
  reg_init (&r, &ref, o, "pull");
  free (r.user);
  free (r.password);
  r.user = xstrdup (user);
  r.password = xstrdup (password);
  url = xasprintf ("%s/v2/", r.base);
  if (request (&r, "GET", url, NULL, NULL, -1, 0, NULL, 0, &resp, true, err) < 0)
    goto out;
  if (resp.status != 200)
    {
      berth_error (err, 0, "login to %s failed: HTTP %ld%s", registry, resp.status,
                   resp.status == 401 ? " (wrong user name or password)" : "");
      resp_clear (&resp);
      goto out;
    }
  resp_clear (&resp);
  j = json_load_file (path, 0, NULL);
  if (!json_is_object (j))
    {
      json_decref (j);
      j = json_object ();
    }
  if (!json_is_object (json_object_get (j, "auths")))
    json_object_set_new (j, "auths", json_object ());
  {
    cleanup_free char *up = xasprintf ("%s:%s", user, password);
    cleanup_free char *enc = b64 (up);
    cleanup_free char *dir = xstrdup (path);
    char *slash = strrchr (dir, '/');
    json_object_set_new (json_object_get (j, "auths"), registry, json_pack ("{s:s}", "auth", enc));
    if (slash && slash != dir)
      {
        *slash = '\0';
        if (mkdir_p (dir, 0700, err) < 0)
          {
            json_decref (j);
            goto out;
          }
      }
  }
  text = json_dumps (j, JSON_INDENT (1));
  json_decref (j);
  /* Credentials: readable by their owner alone. */
  ret = write_file_atomic (path, text, strlen (text), 0600, err);
  free (text);
out:
  reg_free (&r);
  return ret;
}

int
berth_registry_logout (const char *registry, const char *auth_file, berth_err_t *err)
{
  cleanup_free char *path = auth_file ? xstrdup (auth_file) : default_auth_file ();
  json_t *j = json_load_file (path, 0, NULL);
  char *text;
  int ret;
  if (json_object_get (json_object_get (j, "auths"), registry) == NULL)
    {
      json_decref (j);
      return berth_error (err, 0, "not logged in to %s", registry);
    }
  json_object_del (json_object_get (j, "auths"), registry);
  text = json_dumps (j, JSON_INDENT (1));
  json_decref (j);
  ret = write_file_atomic (path, text, strlen (text), 0600, err);
  free (text);
  return ret;
}
