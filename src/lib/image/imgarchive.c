#include "lib/image/imgarchive.h"

#include "lib/base/archive_dl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/image/image.h"
#include "lib/image/layer.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

#define MAX_METADATA (16 << 20)

static int64_t
blob_size (struct berth_store *s, const char *digest)
{
  cleanup_free char *p = berth_blob_path (s, digest);
  struct stat st;
  return stat (p, &st) == 0 ? (int64_t)st.st_size : -1;
}

static const char *
sniff_layer_type (struct berth_store *s, const char *digest)
{
  cleanup_free char *p = berth_blob_path (s, digest);
  cleanup_close int fd = open (p, O_RDONLY | O_CLOEXEC);
  unsigned char m[4] = { 0 };
  if (fd >= 0 && read (fd, m, 4) == 4)
    {
      if (m[0] == 0x1f && m[1] == 0x8b)
        return MT_OCI_LAYER_GZIP;
      if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return MT_OCI_LAYER_ZSTD;
    }
  return MT_OCI_LAYER;
}

static int
put_json_blob (struct berth_store *s, json_t *j, char *digest, int64_t *size, berth_err_t *err)
{
  char *text = json_dumps (j, JSON_COMPACT);
  int r = berth_blob_put_mem (s, text, strlen (text), digest, err);
  if (size)
    *size = (int64_t)strlen (text);
  free (text);
  return r;
}

/* Names an image from an archive: a full reference, or a bare tag, which
   the OCI layout's ref.name annotation may be. */
static char *
canonical_name (const char *n)
{
  struct berth_ref *r = NULL;
  berth_err_t err = NULL;
  char *out;
  if (berth_ref_parse (n, &r, &err) < 0)
    {
      berth_error_release (&err);
      return NULL;
    }
  out = berth_ref_string (r);
  berth_ref_free (r);
  return out;
}

/* Makes an image complete and tags it; NAMES may be empty. */
static int
finish_image (struct berth_store *s, const char *manifest, json_t *names, json_t *loaded, berth_err_t *err)
{
  json_t *n;
  size_t i;
  if (berth_image_unpack (s, manifest, err) < 0)
    return -1;
  json_array_foreach (names, i, n)
  {
    cleanup_free char *canon = json_string_value (n) ? canonical_name (json_string_value (n)) : NULL;
    if (canon == NULL)
      return berth_error (err, 0, "archive names an image \"%s\", which is not a valid reference",
                          json_string_value (n) ? json_string_value (n) : "");
    if (berth_image_tag (s, canon, manifest, err) < 0)
      return -1;
    json_array_append_new (loaded, json_string (canon));
  }
  if (json_array_size (names) == 0)
    {
      struct berth_image *img = NULL;
      if (berth_image_load (s, manifest, &img, err) < 0)
        return -1;
      /* Untagged images need a hold, or the next gc would take them. */
      {
        cleanup_free char *hold = xasprintf ("untagged-%s", berth_digest_hex (manifest));
        if (berth_store_hold (s, hold, manifest, err) < 0)
          {
            berth_image_free (img);
            return -1;
          }
      }
      json_array_append_new (loaded, json_string (img->config_digest));
      berth_image_free (img);
    }
  return 0;
}

static int
load_docker_manifest (struct berth_store *s, json_t *manifest_json, json_t *paths, json_t *loaded, berth_err_t *err)
{
  json_t *entry;
  size_t i;
  if (!json_is_array (manifest_json))
    return berth_error (err, 0, "manifest.json: expected an array");
  json_array_foreach (manifest_json, i, entry)
  {
    const char *cfg_path = json_string_value (json_object_get (entry, "Config"));
    const char *cfg = cfg_path ? json_string_value (json_object_get (paths, cfg_path)) : NULL;
    json_t *layers = json_object_get (entry, "Layers"), *l, *descs = json_array ();
    char md[BERTH_DIGEST_LEN + 1];
    size_t k;
    json_t *m;
    if (cfg == NULL)
      {
        json_decref (descs);
        return berth_error (err, 0, "manifest.json[%zu].Config: \"%s\" is not in the archive", i,
                            cfg_path ? cfg_path : "");
      }
    if (!json_is_array (layers))
      {
        json_decref (descs);
        return berth_error (err, 0, "manifest.json[%zu].Layers: expected an array", i);
      }
    json_array_foreach (layers, k, l)
    {
      const char *d = json_string_value (l) ? json_string_value (json_object_get (paths, json_string_value (l))) : NULL;
      if (d == NULL)
        {
          json_decref (descs);
          return berth_error (err, 0, "manifest.json[%zu].Layers[%zu]: \"%s\" is not in the archive", i, k,
                              json_string_value (l) ? json_string_value (l) : "");
        }
      json_array_append_new (descs, json_pack ("{s:s,s:s,s:I}", "mediaType", sniff_layer_type (s, d), "digest", d,
                                               "size", (json_int_t)blob_size (s, d)));
    }
    m = json_pack ("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "config",
                   "mediaType", MT_OCI_CONFIG, "digest", cfg, "size", (json_int_t)blob_size (s, cfg), "layers", descs);
    if (put_json_blob (s, m, md, NULL, err) < 0)
      {
        json_decref (m);
        return -1;
      }
    json_decref (m);
    {
      json_t *tags = json_object_get (entry, "RepoTags");
      json_t *names = json_is_array (tags) ? json_incref (tags) : json_array ();
      int r = finish_image (s, md, names, loaded, err);
      json_decref (names);
      if (r < 0)
        return -1;
    }
  }
  return 0;
}

/* A manifest list or OCI index: the linux/amd64 entry. */
static int
pick_platform (struct berth_store *s, const char *digest, char *out, berth_err_t *err)
{
  json_t *j = NULL, *ms, *m;
  size_t i;
  const char *mt;
  if (berth_blob_read_json (s, digest, &j, err) < 0)
    return -1;
  mt = json_string_value (json_object_get (j, "mediaType"));
  ms = json_object_get (j, "manifests");
  if (!json_is_array (ms) || (mt && strcmp (mt, MT_OCI_INDEX) != 0 && strcmp (mt, MT_DOCKER_LIST) != 0))
    {
      strcpy (out, digest);
      json_decref (j);
      return 0;
    }
  json_array_foreach (ms, i, m)
  {
    json_t *p = json_object_get (m, "platform");
    const char *d = json_string_value (json_object_get (m, "digest"));
    const char *os = json_string_value (json_object_get (p, "os"));
    const char *arch = json_string_value (json_object_get (p, "architecture"));
    if ((p == NULL || (os && strcmp (os, "linux") == 0 && arch && strcmp (arch, "amd64") == 0))
        && berth_digest_valid (d) && berth_blob_exists (s, d))
      {
        strcpy (out, d);
        json_decref (j);
        return 0;
      }
  }
  json_decref (j);
  return berth_error (err, 0, "image index %s has no linux/amd64 image in the archive", digest);
}

static int
load_oci_index (struct berth_store *s, json_t *index, json_t *loaded, berth_err_t *err)
{
  json_t *ms = json_object_get (index, "manifests"), *m;
  size_t i;
  if (!json_is_array (ms))
    return berth_error (err, 0, "index.json: manifests must be an array");
  json_array_foreach (ms, i, m)
  {
    const char *d = json_string_value (json_object_get (m, "digest"));
    json_t *ann = json_object_get (m, "annotations");
    const char *name = json_string_value (json_object_get (ann, "io.containerd.image.name"));
    const char *refname = json_string_value (json_object_get (ann, "org.opencontainers.image.ref.name"));
    char md[BERTH_DIGEST_LEN + 1];
    json_t *names = json_array ();
    int r;
    if (berth_digest_check (d, "index.json manifest", err) < 0 || !berth_blob_exists (s, d))
      {
        json_decref (names);
        return *err ? -1 : berth_error (err, 0, "index.json: manifest %s is not in the archive", d);
      }
    if (pick_platform (s, d, md, err) < 0)
      {
        json_decref (names);
        return -1;
      }
    /* ref.name is often a bare tag ("latest"), which names nothing alone. */
    if (name == NULL && refname && (strchr (refname, '/') || strchr (refname, ':')))
      name = refname;
    if (name)
      json_array_append_new (names, json_string (name));
    r = finish_image (s, md, names, loaded, err);
    json_decref (names);
    if (r < 0)
      return -1;
  }
  return 0;
}

static int
read_small (struct archive *a, const char *name, json_t **out, berth_err_t *err)
{
  char *buf = xmalloc (MAX_METADATA + 1);
  size_t len = 0;
  la_ssize_t n;
  json_error_t jerr;
  while ((n = archive_read_data (a, buf + len, MAX_METADATA - len)) > 0)
    len += (size_t)n;
  if (n < 0 || len >= MAX_METADATA)
    {
      free (buf);
      return berth_error (err, 0, "%s: %s", name, n < 0 ? archive_error_string (a) : "too large");
    }
  *out = json_loadb (buf, len, 0, &jerr);
  free (buf);
  if (*out == NULL)
    return berth_error (err, 0, "%s: line %d: %s", name, jerr.line, jerr.text);
  return 0;
}

static int
load_tar (struct berth_store *s, const char *path, json_t **index, json_t **manifest, json_t *paths, berth_err_t *err)
{
  struct archive *a;
  struct archive_entry *e;
  int r, ret = -1;
  if (berth_archive_load (err) < 0)
    return -1;
  a = archive_read_new ();
  archive_read_support_filter_all (a);
  archive_read_support_format_tar (a);
  archive_read_support_format_gnutar (a);
  if (archive_read_open_filename (a, path, 65536) != ARCHIVE_OK)
    {
      berth_error (err, 0, "%s: %s", path, archive_error_string (a));
      goto out;
    }
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      const char *name = archive_entry_pathname (e);
      while (str_has_prefix (name, "./"))
        name += 2;
      if (archive_entry_filetype (e) != AE_IFREG)
        continue;
      if (strcmp (name, "index.json") == 0 || strcmp (name, "manifest.json") == 0)
        {
          json_t **slot = name[0] == 'i' ? index : manifest;
          json_decref (*slot);
          if (read_small (a, name, slot, err) < 0)
            goto out;
          continue;
        }
      if (strcmp (name, "oci-layout") == 0 || strcmp (name, "repositories") == 0)
        continue;
      {
        struct berth_blob_writer *w = NULL;
        char digest[BERTH_DIGEST_LEN + 1], buf[65536];
        const char *expect = NULL;
        char named[BERTH_DIGEST_LEN + 1];
        la_ssize_t n;
        /* blobs/sha256/<hex> must hold what its name says. */
        if (str_has_prefix (name, "blobs/sha256/") && strlen (name) == 13 + 64)
          {
            snprintf (named, sizeof (named), "sha256:%s", name + 13);
            expect = named;
          }
        if (berth_blob_writer_begin (s, &w, err) < 0)
          goto out;
        while ((n = archive_read_data (a, buf, sizeof (buf))) > 0)
          if (berth_blob_writer_write (w, buf, (size_t)n, err) < 0)
            {
              berth_blob_writer_abort (w);
              goto out;
            }
        if (n < 0)
          {
            berth_blob_writer_abort (w);
            berth_error (err, 0, "%s: %s: %s", path, name, archive_error_string (a));
            goto out;
          }
        if (berth_blob_writer_commit (w, expect, archive_entry_size_is_set (e) ? archive_entry_size (e) : -1, digest,
                                      err)
            < 0)
          {
            berth_error_wrap (err, "%s: %s", path, name);
            goto out;
          }
        json_object_set_new (paths, name, json_string (digest));
      }
    }
  if (r != ARCHIVE_EOF)
    {
      berth_error (err, 0, "%s: %s", path, archive_error_string (a));
      goto out;
    }
  ret = 0;
out:
  archive_read_free (a);
  return ret;
}

static int
load_dir (struct berth_store *s, const char *path, json_t **index, berth_err_t *err)
{
  cleanup_free char *ip = xasprintf ("%s/index.json", path);
  cleanup_free char *bd = xasprintf ("%s/blobs/sha256", path);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int r = json_load_path (ip, index, err);
  if (r < 0)
    return -1;
  if (r > 0)
    return berth_error (err, ENOENT, "`%s`", ip);
  d = opendir (bd);
  if (d == NULL)
    return berth_error (err, errno, "open `%s`", bd);
  while ((de = readdir (d)))
    {
      char expect[BERTH_DIGEST_LEN + 1];
      cleanup_close int fd = -1;
      if (de->d_name[0] == '.')
        continue;
      snprintf (expect, sizeof (expect), "sha256:%.64s", de->d_name);
      if (strlen (de->d_name) != 64 || !berth_digest_valid (expect))
        return berth_error (err, 0, "%s/%s: not named by a sha256 digest", bd, de->d_name);
      fd = openat (dirfd (d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return berth_error (err, errno, "open `%s/%s`", bd, de->d_name);
      if (berth_blob_put_fd (s, fd, expect, -1, NULL, err) < 0)
        return berth_error_wrap (err, "%s/%s", bd, de->d_name);
    }
  return 0;
}

int
berth_image_load_archive (struct berth_store *s, const char *path, json_t **loaded, berth_err_t *err)
{
  json_t *index = NULL, *manifest = NULL, *paths = json_object ();
  struct stat st;
  int ret = -1;

  *loaded = json_array ();
  if (stat (path, &st) < 0)
    {
      berth_error (err, errno, "`%s`", path);
      goto out;
    }
  if (S_ISDIR (st.st_mode) ? load_dir (s, path, &index, err) < 0
                           : load_tar (s, path, &index, &manifest, paths, err) < 0)
    goto out;
  /* Docker's manifest.json names images with tags; an OCI index alone may
     only have ref.name annotations. */
  if (manifest)
    ret = load_docker_manifest (s, manifest, paths, *loaded, err);
  else if (index)
    ret = load_oci_index (s, index, *loaded, err);
  else
    ret = berth_error (err, 0, "%s: neither a docker save archive (manifest.json) nor an OCI layout (index.json)",
                       path);
out:
  if (ret < 0)
    {
      /* What this load stored but nothing names goes again. */
      berth_store_collect (s);
    }
  json_decref (index);
  json_decref (manifest);
  json_decref (paths);
  return ret;
}

/* ------------------------------------------------------------------ save */

/* A write of entry NAME failed: the system's reason where there is one
   (a full disk says so), else libarchive's. */
static int
write_failed (struct archive *a, const char *name, berth_err_t *err)
{
  if (archive_errno (a) > 0)
    return berth_error (err, archive_errno (a), "write `%s`", name);
  return berth_error (err, 0, "write `%s`: %s", name, archive_error_string (a));
}

static int
write_entry (struct archive *a, const char *name, const void *data, size_t len, berth_err_t *err)
{
  struct archive_entry *e = archive_entry_new ();
  int r;
  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, (la_int64_t)len);
  archive_entry_set_mtime (e, 0, 0);
  r = archive_write_header (a, e);
  archive_entry_free (e);
  if (r != ARCHIVE_OK || (len && archive_write_data (a, data, len) != (la_ssize_t)len))
    return write_failed (a, name, err);
  return 0;
}

static int
write_blob (struct archive *a, struct berth_store *s, const char *digest, json_t *written, berth_err_t *err)
{
  cleanup_free char *p = berth_blob_path (s, digest);
  cleanup_free char *name = xasprintf ("blobs/sha256/%s", berth_digest_hex (digest));
  cleanup_close int fd = -1;
  struct archive_entry *e;
  struct stat st;
  char buf[65536];
  ssize_t n;
  int r;
  if (json_object_get (written, digest))
    return 0;
  fd = open (p, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0)
    return berth_error (err, errno, "blob %s", digest);
  e = archive_entry_new ();
  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, st.st_size);
  archive_entry_set_mtime (e, 0, 0);
  r = archive_write_header (a, e);
  archive_entry_free (e);
  if (r != ARCHIVE_OK)
    return write_failed (a, name, err);
  while ((n = read (fd, buf, sizeof (buf))) > 0)
    if (archive_write_data (a, buf, (size_t)n) != n)
      return write_failed (a, name, err);
  if (n < 0)
    return berth_error (err, errno, "read blob %s", digest);
  json_object_set_new (written, digest, json_true ());
  return 0;
}

int
berth_image_save_archive (struct berth_store *s, json_t *names, const char *path, const char *format, berth_err_t *err)
{
  bool docker = strcmp (format, "docker") == 0;
  cleanup_free char *tmp = xasprintf ("%s.tmp.%d", path, getpid ());
  struct archive *a = NULL;
  json_t *written = json_object (), *index = json_array (), *dmanifest = json_array (), *n;
  size_t i;
  int ret = -1;

  if (!docker && strcmp (format, "oci") != 0)
    {
      berth_error (err, 0, "--format: \"%s\" is neither docker nor oci", format);
      goto out;
    }
  if (berth_archive_load (err) < 0)
    goto out;
  a = archive_write_new ();
  archive_write_set_format_pax_restricted (a);
  if (archive_write_open_filename (a, tmp) != ARCHIVE_OK)
    {
      berth_error (err, 0, "%s: %s", tmp, archive_error_string (a));
      goto out;
    }
  json_array_foreach (names, i, n)
  {
    char md[BERTH_DIGEST_LEN + 1];
    struct berth_image *img = NULL;
    const char *name = json_string_value (n);
    cleanup_free char *canon = canonical_name (name);
    json_t *layers = json_array ();
    if (berth_image_resolve (s, name, md, err) < 0 || berth_image_load (s, md, &img, err) < 0)
      {
        json_decref (layers);
        goto out;
      }
    if (write_blob (a, s, md, written, err) < 0 || write_blob (a, s, img->config_digest, written, err) < 0)
      {
        json_decref (layers);
        berth_image_free (img);
        goto out;
      }
    for (size_t k = 0; k < img->n_layers; k++)
      {
        cleanup_free char *lp = xasprintf ("blobs/sha256/%s", berth_digest_hex (img->layers[k].digest));
        if (write_blob (a, s, img->layers[k].digest, written, err) < 0)
          {
            json_decref (layers);
            berth_image_free (img);
            goto out;
          }
        json_array_append_new (layers, json_string (lp));
      }
    {
      json_t *desc = json_pack ("{s:s,s:s,s:I}", "mediaType",
                                json_string_value (json_object_get (img->manifest, "mediaType")) ?: MT_OCI_MANIFEST,
                                "digest", md, "size", (json_int_t)blob_size (s, md));
      /* Name the image fully, as docker 25 and skopeo read it back. */
      /* As docker 25 writes it: the full name, and the tag as ref.name. */
      if (canon && strrchr (canon, ':') && !strchr (canon, '@'))
        json_object_set_new (desc, "annotations",
                             json_pack ("{s:s,s:s}", "io.containerd.image.name", canon,
                                        "org.opencontainers.image.ref.name", strrchr (canon, ':') + 1));
      json_array_append_new (index, desc);
    }
    {
      cleanup_free char *cp = xasprintf ("blobs/sha256/%s", berth_digest_hex (img->config_digest));
      cleanup_free char *fam = canon ? berth_ref_familiar (canon) : NULL;
      json_array_append_new (dmanifest, json_pack ("{s:s,s:[],s:o}", "Config", cp, "RepoTags", "Layers", layers));
      if (fam && strchr (fam, '@') == NULL)
        json_array_append_new (
            json_object_get (json_array_get (dmanifest, json_array_size (dmanifest) - 1), "RepoTags"),
            json_string (fam));
    }
    berth_image_free (img);
  }
  {
    char *text = json_dumps (dmanifest, JSON_COMPACT);
    int r = write_entry (a, "manifest.json", text, strlen (text), err);
    free (text);
    if (r < 0)
      goto out;
  }
  if (!docker)
    {
      static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
      json_t *idx = json_pack ("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests", index);
      char *text = json_dumps (idx, JSON_COMPACT);
      int r = write_entry (a, "oci-layout", layout, strlen (layout), err);
      if (r == 0)
        r = write_entry (a, "index.json", text, strlen (text), err);
      free (text);
      json_decref (idx);
      if (r < 0)
        goto out;
    }
  if (archive_write_close (a) != ARCHIVE_OK)
    {
      write_failed (a, "the end of the archive", err);
      goto out;
    }
  if (rename (tmp, path) < 0)
    {
      berth_error (err, errno, "rename `%s` to `%s`", tmp, path);
      goto out;
    }
  ret = 0;
out:
  if (a)
    archive_write_free (a);
  if (ret < 0)
    unlink (tmp);
  json_decref (written);
  json_decref (index);
  json_decref (dmanifest);
  return ret;
}

/* ---------------------------------------------------------------- import */

/* CONFIG and MANIFEST (its config descriptor filled in here) stored, and
   the image published under NAME (NULL: untagged, held). */
static int
publish_image (struct berth_store *s, json_t *config, json_t *manifest, const char *name, char *manifest_out,
               berth_err_t *err)
{
  char cfg[BERTH_DIGEST_LEN + 1], md[BERTH_DIGEST_LEN + 1];
  int64_t cfg_size;
  json_t *names = json_array (), *loaded = json_array ();
  int ret = -1;
  if (put_json_blob (s, config, cfg, &cfg_size, err) < 0)
    goto out;
  json_object_set_new (
      manifest, "config",
      json_pack ("{s:s,s:s,s:I}", "mediaType", MT_OCI_CONFIG, "digest", cfg, "size", (json_int_t)cfg_size));
  if (put_json_blob (s, manifest, md, NULL, err) < 0)
    goto out;
  if (name)
    json_array_append_new (names, json_string (name));
  if (finish_image (s, md, names, loaded, err) < 0)
    goto out;
  if (manifest_out)
    strcpy (manifest_out, md);
  ret = 0;
out:
  json_decref (names);
  json_decref (loaded);
  return ret;
}

int
berth_image_import (struct berth_store *s, const char *path, const char *name, json_t *config, char *manifest_out,
                    berth_err_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  char blob[BERTH_DIGEST_LEN + 1], diffid[BERTH_DIGEST_LEN + 1];
  cleanup_free char *ts = timestamp_rfc3339 ();
  json_t *c = NULL, *m = NULL;
  int ret = -1;

  if (fd < 0)
    {
      berth_error (err, errno, "import `%s`", path);
      goto out;
    }
  if (berth_blob_put_fd (s, fd, NULL, -1, blob, err) < 0 || berth_layer_unpack (s, blob, NULL, diffid, err) < 0)
    goto out;
  c = json_pack ("{s:s,s:s,s:s,s:{s:s,s:[s]},s:[{s:s,s:s}]}", "architecture", "amd64", "os", "linux", "created", ts,
                 "rootfs", "type", "layers", "diff_ids", diffid, "history", "created", ts, "created_by",
                 "berth import");
  json_object_set (c, "config", config ? config : json_object ());
  m = json_pack ("{s:i,s:s,s:[{s:s,s:s,s:I}]}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "layers", "mediaType",
                 sniff_layer_type (s, blob), "digest", blob, "size", (json_int_t)blob_size (s, blob));
  if (publish_image (s, c, m, name, manifest_out, err) < 0)
    goto out;
  ret = 0;
out:
  if (ret < 0)
    {
      /* The blob and anything else stored for this import go again. */
      berth_store_collect (s);
    }
  json_decref (c);
  json_decref (m);
  return ret;
}

int
berth_image_add_layer (struct berth_store *s, const char *base, int layer_fd, const struct berth_image_commit *c,
                       char *manifest_out, berth_err_t *err)
{
  struct berth_image *img = NULL;
  char blob[BERTH_DIGEST_LEN + 1], diffid[BERTH_DIGEST_LEN + 1];
  cleanup_free char *ts = timestamp_rfc3339 ();
  json_t *conf = NULL, *m = NULL, *hist;
  int ret = -1;
  if (berth_image_load (s, base, &img, err) < 0)
    goto out;
  if (berth_blob_put_fd (s, layer_fd, NULL, -1, blob, err) < 0 || berth_layer_unpack (s, blob, NULL, diffid, err) < 0)
    goto out;
  /* The image's config with the new layer and its history entry. */
  conf = json_deep_copy (img->config);
  if (c->config)
    json_object_set (conf, "config", c->config);
  json_object_set_new (conf, "created", json_string (ts));
  if (c->author && *c->author)
    json_object_set_new (conf, "author", json_string (c->author));
  if (!json_is_array (json_object_get (json_object_get (conf, "rootfs"), "diff_ids")))
    {
      berth_error (err, EINVAL, "image %s: its config has no rootfs.diff_ids", base);
      goto out;
    }
  json_array_append_new (json_object_get (json_object_get (conf, "rootfs"), "diff_ids"), json_string (diffid));
  hist = json_object_get (conf, "history");
  if (!json_is_array (hist))
    {
      hist = json_array ();
      json_object_set_new (conf, "history", hist);
    }
  {
    json_t *h = json_pack ("{s:s,s:s}", "created", ts, "created_by", c->created_by ? c->created_by : "berth commit");
    if (c->comment && *c->comment)
      json_object_set_new (h, "comment", json_string (c->comment));
    if (c->author && *c->author)
      json_object_set_new (h, "author", json_string (c->author));
    json_array_append_new (hist, h);
  }
  m = json_deep_copy (img->manifest);
  json_object_set_new (m, "mediaType", json_string (MT_OCI_MANIFEST));
  if (!json_is_array (json_object_get (m, "layers")))
    json_object_set_new (m, "layers", json_array ());
  json_array_append_new (json_object_get (m, "layers"),
                         json_pack ("{s:s,s:s,s:I}", "mediaType", sniff_layer_type (s, blob), "digest", blob, "size",
                                    (json_int_t)blob_size (s, blob)));
  if (publish_image (s, conf, m, c->name, manifest_out, err) < 0)
    goto out;
  ret = 0;
out:
  if (ret < 0)
    berth_store_collect (s);
  berth_image_free (img);
  json_decref (conf);
  json_decref (m);
  return ret;
}
