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
#include "lib/base/events.h"
#include "lib/base/utils.h"
#include "lib/image/registry_internal.h"

static const char *manifest_accept = MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST;

/* ------------------------------------------------------------------ pull */

static int
fetch_manifest (struct reg *r, struct berth_store *s, const char *ref, const char *expect, char *digest_out,
                json_t **out, berth_err_t *err)
{
  cleanup_free char *url = xasprintf ("%s/v2/%s/manifests/%s", r->base, r->repo, ref);
  struct resp resp;
  json_error_t jerr;
  if (reg_request (r, "GET", url, manifest_accept, NULL, -1, 0, NULL, 0, &resp, true, err) < 0)
    return -1;
  if (resp.status != 200)
    {
      reg_status_error (r, resp.status == 404 ? "manifest unknown" : "fetch manifest", &resp, err);
      reg_resp_clear (&resp);
      return -1;
    }
  /* By digest, the content must hash to it; by tag, it is what we name it. */
  {
    char got[BERTH_DIGEST_LEN + 1];
    if (berth_sha256_of (resp.body ? resp.body : "", resp.len, got, err) < 0)
      {
        reg_resp_clear (&resp);
        return -1;
      }
    if (expect && strcmp (expect, got) != 0)
      {
        reg_resp_clear (&resp);
        return berth_error (err, 0, "registry %s: manifest %s has digest %s", r->domain, expect, got);
      }
    *out = json_loadb (resp.body ? resp.body : "", resp.len, 0, &jerr);
    if (*out == NULL || !json_is_object (*out))
      {
        reg_resp_clear (&resp);
        json_decref (*out);
        return berth_error (err, 0, "registry %s: manifest %s is not JSON: %s", r->domain, ref, jerr.text);
      }
    if (berth_blob_put_mem (s, resp.body, resp.len, digest_out, err) < 0)
      {
        reg_resp_clear (&resp);
        json_decref (*out);
        return -1;
      }
  }
  reg_resp_clear (&resp);
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
/* Starts the download of descriptor D (INDEX 0 is the config, the rest
   layers, unpacked by a thread as they stream): 1 if started, 0 if the
   blob is already stored, -1 on an error. */
static int
transfer_start (struct reg *r, struct berth_store *s, CURLM *multi, json_t *d, size_t index, struct transfer *x,
                berth_err_t *err)
{
  int pp[2];
  strcpy (x->digest, json_string_value (json_object_get (d, "digest")));
  if (berth_blob_exists (s, x->digest))
    {
      if (r->o->progress)
        r->o->progress (r->o->progress_data, x->digest, 0, 0, true);
      return 0;
    }
  x->url = xasprintf ("%s/v2/%s/blobs/%s", r->base, r->repo, x->digest);
  x->s.resp = &x->resp;
  x->s.o = r->o;
  x->s.digest = x->digest;
  x->s.expect_size = json_integer_value (json_object_get (d, "size"));
  x->s.fd = -1;
  x->s.pipe_w = -1;
  if (berth_blob_writer_begin (s, &x->s.w, err) < 0)
    return -1;
  if (index > 0)
    {
      x->u.dir = berth_store_tmpdir (s, "layer", err);
      if (x->u.dir == NULL)
        return -1;
      if (pipe2 (pp, O_CLOEXEC) < 0)
        return berth_error (err, errno, "pipe");
      chmod (x->u.dir, 0755);
      fcntl (pp[1], F_SETPIPE_SZ, 1 << 20);
      x->u.fd = pp[0];
      x->s.pipe_w = pp[1];
      if (pthread_create (&x->u.thread, NULL, unpack_thread, &x->u) != 0)
        {
          close (pp[0]);
          close (pp[1]);
          x->s.pipe_w = -1;
          return berth_error (err, EAGAIN, "start an unpacker");
        }
      x->u.started = true;
    }
  x->h = reg_auth_headers (r, NULL);
  x->c = reg_easy (r, "GET", x->url, x->h, &x->s);
  if (x->c == NULL)
    return berth_error (err, ENOMEM, "libcurl: set up a request to %s", x->url);
  curl_easy_setopt (x->c, CURLOPT_PRIVATE, x);
  curl_multi_add_handle (multi, x->c);
  return 1;
}

/* A finished download: its unpacker joined, the blob verified and stored,
   the layer published. */
static int
transfer_done (struct reg *r, struct berth_store *s, struct transfer *x, CURLcode result, long status, berth_err_t *err)
{
  int ret = 0;
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
  else if (result != CURLE_OK)
    ret = berth_error (err, 0, "registry %s: blob %s: %s", r->domain, x->digest, curl_easy_strerror (result));
  else if (status != 200)
    ret = berth_error (err, 0, "registry %s: blob %s: HTTP %ld", r->domain, x->digest, status);
  if (ret < 0)
    {
      berth_blob_writer_abort (x->s.w);
      x->s.w = NULL;
      return -1;
    }
  ret = berth_blob_writer_commit (x->s.w, x->digest, x->s.expect_size, NULL, err);
  x->s.w = NULL;
  if (ret < 0)
    return berth_error_wrap (err, "registry %s: blob %s", r->domain, x->digest);
  if (x->u.dir && x->u.ret < 0)
    {
      *err = x->u.err;
      x->u.err = NULL;
      return berth_error_wrap (err, "layer %s", x->digest);
    }
  if (x->u.dir && publish_streamed (s, x, err) < 0)
    return -1;
  if (r->o->progress)
    r->o->progress (r->o->progress_data, x->digest, x->s.done, x->s.expect_size, true);
  return 0;
}

static void
transfer_free (CURLM *multi, struct transfer *x)
{
  berth_err_t e2 = NULL;
  if (x->s.pipe_w >= 0)
    close (x->s.pipe_w);
  if (x->u.started)
    pthread_join (x->u.thread, NULL);
  if (x->u.dir)
    {
      rm_rf_at (AT_FDCWD, x->u.dir, &e2);
      berth_error_release (&e2);
      free (x->u.dir);
    }
  berth_error_release (&x->u.err);
  if (x->c)
    {
      curl_multi_remove_handle (multi, x->c);
      curl_easy_cleanup (x->c);
    }
  if (x->s.w)
    berth_blob_writer_abort (x->s.w);
  berth_error_release (&x->s.err);
  curl_slist_free_all (x->h);
  free (x->url);
  reg_resp_clear (&x->resp);
}

/* Every blob of DESCS, a few at a time (o->parallel, 3 by default). */
static int
fetch_blobs (struct reg *r, struct berth_store *s, json_t *descs, berth_err_t *err)
{
  size_t n = json_array_size (descs), next = 0, running = 0, done = 0;
  int parallel = r->o->parallel > 0 ? r->o->parallel : 3;
  struct transfer *t = xcalloc (n + 1, sizeof (*t));
  CURLM *multi = curl_multi_init ();
  int ret = 0;

  if (multi == NULL)
    ret = berth_error (err, ENOMEM, "libcurl: set up the downloads");
  while (ret == 0 && done < n)
    {
      int still, started;
      CURLMsg *msg;
      while (ret == 0 && running < (size_t)parallel && next < n)
        {
          started = transfer_start (r, s, multi, json_array_get (descs, next), next, &t[next], err);
          next++;
          if (started < 0)
            ret = -1;
          else if (started)
            running++;
          else
            done++;
        }
      if (ret < 0 || done >= n)
        break;
      curl_multi_perform (multi, &still);
      while (ret == 0 && (msg = curl_multi_info_read (multi, &still)))
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
          ret = transfer_done (r, s, x, msg->data.result, status, err);
        }
      if (ret == 0 && running)
        curl_multi_poll (multi, NULL, 0, 1000, NULL);
    }
  for (size_t i = 0; i < n; i++)
    transfer_free (multi, &t[i]);
  free (t);
  if (multi)
    curl_multi_cleanup (multi);
  return ret;
}

/* An image asked for by --platform must be of it, index or not (docker
   refuses a single-platform image of another platform too). */
static int
check_platform (struct berth_store *s, json_t *manifest, const char *platform, const char *name, berth_err_t *err)
{
  json_t *cfg = NULL;
  const char *os, *arch, *variant;
  cleanup_free char *want = NULL, *got = NULL;
  char *wv;
  int ret;
  if (platform == NULL)
    return 0;
  if (berth_blob_read_json (s, json_string_value (json_object_get (json_object_get (manifest, "config"), "digest")),
                            &cfg, err)
      < 0)
    return -1;
  os = json_string_value (json_object_get (cfg, "os")) ?: "linux";
  arch = json_string_value (json_object_get (cfg, "architecture")) ?: "amd64";
  variant = json_string_value (json_object_get (cfg, "variant"));
  want = xstrdup (platform);
  got = xasprintf ("%s/%s%s%s", os, arch, variant ? "/" : "", variant ? variant : "");
  /* os/arch must match; a variant only when the platform names one. */
  wv = strchr (want, '/') ? strchr (strchr (want, '/') + 1, '/') : NULL;
  ret = 0;
  if (wv ? strcmp (want, got) != 0
         : strncmp (got, want, strlen (want)) != 0 || (got[strlen (want)] != '\0' && got[strlen (want)] != '/'))
    ret = berth_error_code (err, EINVAL, "%s is an image for %s, not for %s (--platform)", name, got, platform);
  json_decref (cfg);
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
  if (fetch_blobs (&r, s, descs, err) < 0 || check_platform (s, m, o->platform, name, err) < 0)
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
  {
    cleanup_free char *canon = berth_ref_string (ref);
    berth_event (s->root, "image", "pull", canon, json_pack ("{s:s}", "name", canon));
  }
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
  if (reg_request (r, "HEAD", head, NULL, NULL, -1, 0, NULL, 0, &resp, true, err) < 0)
    return -1;
  if (resp.status == 200)
    {
      reg_resp_clear (&resp);
      return 0;
    }
  reg_resp_clear (&resp);
  if (reg_request (r, "POST", start, NULL, NULL, -1, 0, NULL, 0, &resp, true, err) < 0)
    return -1;
  if (resp.status != 202 || resp.location == NULL)
    {
      reg_status_error (r, "start a blob upload", &resp, err);
      reg_resp_clear (&resp);
      return -1;
    }
  if (resp.location[0] == '/')
    put = xasprintf ("%s%s%sdigest=%s", r->base, resp.location, strchr (resp.location, '?') ? "&" : "?", digest);
  else
    put = xasprintf ("%s%sdigest=%s", resp.location, strchr (resp.location, '?') ? "&" : "?", digest);
  reg_resp_clear (&resp);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0)
    return berth_error (err, errno, "blob %s", digest);
  if (reg_request (r, "PUT", put, NULL, "application/octet-stream", fd, st.st_size, NULL, 0, &resp, true, err) < 0)
    return -1;
  if (resp.status != 201)
    {
      reg_status_error (r, "upload a blob", &resp, err);
      reg_resp_clear (&resp);
      return -1;
    }
  reg_resp_clear (&resp);
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
  if (reg_request (&r, "PUT", url, NULL,
                   json_string_value (json_object_get (img->manifest, "mediaType")) ?: MT_OCI_MANIFEST, -1, 0, body,
                   len, &resp, true, err)
      < 0)
    goto out;
  if (resp.status != 201)
    {
      reg_status_error (&r, "put the manifest", &resp, err);
      reg_resp_clear (&resp);
      goto out;
    }
  reg_resp_clear (&resp);
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
  cleanup_free char *path = o->auth_file ? xstrdup (o->auth_file) : reg_default_auth_file ();
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
  if (reg_request (&r, "GET", url, NULL, NULL, -1, 0, NULL, 0, &resp, true, err) < 0)
    goto out;
  if (resp.status != 200)
    {
      berth_error (err, 0, "login to %s failed: HTTP %ld%s", registry, resp.status,
                   resp.status == 401 ? " (wrong user name or password)" : "");
      reg_resp_clear (&resp);
      goto out;
    }
  reg_resp_clear (&resp);
  j = reg_auth_file_load (path);
  if (!json_is_object (j))
    {
      json_decref (j);
      j = json_object ();
    }
  if (!json_is_object (json_object_get (j, "auths")))
    json_object_set_new (j, "auths", json_object ());
  {
    cleanup_free char *up = xasprintf ("%s:%s", user, password);
    cleanup_free char *enc = reg_b64 (up);
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
  cleanup_free char *path = auth_file ? xstrdup (auth_file) : reg_default_auth_file ();
  json_t *j = reg_auth_file_load (path);
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
