#include "lib/image/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/image/layer.h"
#include "lib/image/reference.h"
#include "lib/base/events.h"
#include "lib/base/utils.h"

void
berth_image_free (struct berth_image *img)
{
  if (img == NULL)
    return;
  for (size_t i = 0; i < img->n_layers; i++)
    free (img->layers[i].media_type);
  free (img->layers);
  json_decref (img->manifest);
  json_decref (img->config);
  free (img);
}

static int
descriptor (json_t *d, const char *what, char *digest, int64_t *size, const char **media_type, berth_err_t *err)
{
  const char *dg = json_string_value (json_object_get (d, "digest"));
  json_t *sz = json_object_get (d, "size");
  if (!json_is_object (d))
    return berth_error (err, 0, "%s: expected a descriptor object", what);
  if (berth_digest_check (dg, what, err) < 0)
    return -1;
  if (!json_is_integer (sz) || json_integer_value (sz) < 0)
    return berth_error (err, 0, "%s: size must be a non-negative integer", what);
  strcpy (digest, dg);
  *size = json_integer_value (sz);
  if (media_type)
    *media_type = json_string_value (json_object_get (d, "mediaType"));
  return 0;
}

int
berth_image_load (struct berth_store *s, const char *manifest_digest, struct berth_image **out, berth_err_t *err)
{
  struct berth_image *img = xcalloc (1, sizeof (*img));
  json_t *layers, *diff_ids, *l;
  int64_t size;
  size_t i;

  if (berth_digest_check (manifest_digest, "manifest", err) < 0)
    goto fail;
  strcpy (img->manifest_digest, manifest_digest);
  if (berth_blob_read_json (s, manifest_digest, &img->manifest, err) < 0)
    goto fail;
  if (json_integer_value (json_object_get (img->manifest, "schemaVersion")) != 2)
    {
      berth_error (err, 0, "manifest %s: schemaVersion must be 2", manifest_digest);
      goto fail;
    }
  if (descriptor (json_object_get (img->manifest, "config"), "manifest.config", img->config_digest, &size, NULL, err)
      < 0)
    goto fail;
  if (berth_blob_read_json (s, img->config_digest, &img->config, err) < 0)
    goto fail;
  layers = json_object_get (img->manifest, "layers");
  diff_ids = json_object_get (json_object_get (img->config, "rootfs"), "diff_ids");
  if (!json_is_array (layers) || !json_is_array (diff_ids) || json_array_size (layers) != json_array_size (diff_ids))
    {
      berth_error (err, 0, "image %s: the manifest lists %zu layers, the config %zu diff_ids", manifest_digest,
                   json_array_size (layers), json_array_size (diff_ids));
      goto fail;
    }
  img->layers = xcalloc (json_array_size (layers) + 1, sizeof (*img->layers));
  json_array_foreach (layers, i, l)
  {
    cleanup_free char *what = xasprintf ("manifest.layers[%zu]", i);
    const char *mt = NULL;
    const char *diffid = json_string_value (json_array_get (diff_ids, i));
    if (descriptor (l, what, img->layers[i].digest, &img->layers[i].size, &mt, err) < 0)
      goto fail;
    if (berth_digest_check (diffid, "config.rootfs.diff_ids", err) < 0)
      goto fail;
    strcpy (img->layers[i].diffid, diffid);
    img->layers[i].media_type = xstrdup (mt ? mt : MT_OCI_LAYER);
    img->n_layers++;
  }
  *out = img;
  return 0;
fail:
  berth_image_free (img);
  return -1;
}

int
berth_image_unpack (struct berth_store *s, const char *manifest_digest, berth_err_t *err)
{
  struct berth_image *img = NULL;
  int ret = 0;
  if (berth_image_load (s, manifest_digest, &img, err) < 0)
    return -1;
  for (size_t i = 0; i < img->n_layers && ret == 0; i++)
    {
      char got[BERTH_DIGEST_LEN + 1];
      if (berth_layer_exists (s, img->layers[i].diffid))
        continue;
      if (!berth_blob_exists (s, img->layers[i].digest))
        ret = berth_error (err, ENOENT, "image %s: layer %s is missing from the store", manifest_digest,
                           img->layers[i].digest);
      else
        ret = berth_layer_unpack (s, img->layers[i].digest, img->layers[i].diffid, got, err);
    }
  berth_image_free (img);
  return ret;
}

/* ------------------------------------------------------------ references */

int
berth_refs_load (struct berth_store *s, json_t **refs, berth_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/refs.json", s->root);
  json_t *j;
  int r = json_load_path (p, &j, err);
  if (r < 0)
    return -1;
  if (r > 0)
    {
      *refs = json_object ();
      return 0;
    }
  if (!json_is_object (json_object_get (j, "refs")))
    {
      json_decref (j);
      return berth_error (err, 0, "%s: no \"refs\" object", p);
    }
  *refs = json_incref (json_object_get (j, "refs"));
  json_decref (j);
  return 0;
}

int
berth_refs_save (struct berth_store *s, json_t *refs, berth_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/refs.json", s->root);
  json_t *j = json_pack ("{s:O}", "refs", refs);
  char *text = json_dumps (j, JSON_INDENT (1) | JSON_SORT_KEYS);
  int r = write_file_atomic (p, text, strlen (text), 0600, err);
  free (text);
  json_decref (j);
  return r;
}

int
berth_image_tag (struct berth_store *s, const char *name, const char *manifest_digest, berth_err_t *err)
{
  struct berth_ref *r = NULL;
  cleanup_free char *canon = NULL;
  json_t *refs = NULL;
  int ret;
  if (berth_ref_parse (name, &r, err) < 0)
    return -1;
  if (r->digest)
    {
      berth_ref_free (r);
      return berth_error (err, 0, "cannot tag with a digest reference \"%s\"", name);
    }
  canon = berth_ref_string (r);
  berth_ref_free (r);
  if (berth_store_lock (s, err) < 0)
    return -1;
  ret = berth_refs_load (s, &refs, err);
  if (ret == 0)
    {
      json_object_set_new (refs, canon, json_string (manifest_digest));
      ret = berth_refs_save (s, refs, err);
    }
  json_decref (refs);
  berth_store_unlock (s);
  return ret;
}

/* Image IDs are config digests: map one back to a manifest. */
static int
find_by_id (struct berth_store *s, json_t *refs, const char *id, char *manifest_digest, berth_err_t *err)
{
  const char *k;
  json_t *v;
  size_t idlen;
  int found = 0;
  if (str_has_prefix (id, "sha256:"))
    id += 7;
  idlen = strlen (id);
  if (idlen < 4 || idlen > 64 || strspn (id, "0123456789abcdef") != idlen)
    return 0;
  json_object_foreach (refs, k, v)
  {
    const char *md = json_string_value (v);
    struct berth_image *img = NULL;
    berth_err_t e2 = NULL;
    if (md && strncmp (md + 7, id, idlen) == 0)
      {
        strcpy (manifest_digest, md);
        found = 1;
        break;
      }
    if (berth_image_load (s, md, &img, &e2) == 0)
      {
        if (strncmp (img->config_digest + 7, id, idlen) == 0)
          {
            strcpy (manifest_digest, md);
            found = 1;
          }
        berth_image_free (img);
      }
    berth_error_release (&e2);
    if (found)
      break;
  }
  (void)err;
  return found;
}

int
berth_image_resolve (struct berth_store *s, const char *name, char *manifest_digest, berth_err_t *err)
{
  json_t *refs = NULL;
  struct berth_ref *r = NULL;
  int ret = -1;

  if (berth_refs_load (s, &refs, err) < 0)
    return -1;
  if (find_by_id (s, refs, name, manifest_digest, err) > 0)
    ret = 0;
  else if (berth_ref_parse (name, &r, err) == 0)
    {
      cleanup_free char *canon = berth_ref_string (r);
      const char *md = json_string_value (json_object_get (refs, canon));
      if (md == NULL && r->digest)
        {
          /* name@digest: the digest itself names the manifest. */
          if (berth_blob_exists (s, r->digest))
            md = r->digest;
        }
      if (md)
        {
          strcpy (manifest_digest, md);
          ret = 0;
        }
      else
        {
          cleanup_free char *fam = berth_ref_familiar (canon);
          ret = berth_error_code (err, ENOENT, "no such image: %s", fam);
        }
      berth_ref_free (r);
    }
  else if (*err && strspn (name, "0123456789abcdef") == strlen (name))
    {
      berth_error_release (err);
      ret = berth_error_code (err, ENOENT, "no such image: %s", name);
    }
  json_decref (refs);
  return ret;
}

int
berth_image_list (struct berth_store *s, json_t **out, berth_err_t *err)
{
  json_t *refs = NULL, *v;
  const char *k;
  if (berth_refs_load (s, &refs, err) < 0)
    return -1;
  *out = json_array ();
  json_object_foreach (refs, k, v)
  {
    struct berth_image *img = NULL;
    berth_err_t e2 = NULL;
    int64_t size = 0;
    if (berth_image_load (s, json_string_value (v), &img, &e2) < 0)
      {
        berth_error_release (&e2);
        continue;
      }
    for (size_t i = 0; i < img->n_layers; i++)
      size += img->layers[i].size;
    json_array_append_new (*out, json_pack ("{s:s,s:s,s:s,s:s,s:I}", "ref", k, "id", img->config_digest, "manifest",
                                            img->manifest_digest, "created",
                                            json_string_value (json_object_get (img->config, "created")) ?: "", "size",
                                            (json_int_t)size));
    berth_image_free (img);
  }
  json_decref (refs);
  return 0;
}

/* ------------------------------------------------------------- removal */

static void
mark (json_t *live, const char *d)
{
  if (d)
    json_object_set_new (live, d, json_true ());
}

static int
sweep (const char *dir, json_t *live, int64_t *freed, berth_err_t *err)
{
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  if (d == NULL)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open `%s`", dir);
  while ((de = readdir (d)))
    {
      char digest[BERTH_DIGEST_LEN + 1];
      struct stat st;
      if (de->d_name[0] == '.' || strlen (de->d_name) != 64)
        continue;
      memcpy (digest, "sha256:", 7);
      memcpy (digest + 7, de->d_name, 65);
      if (json_object_get (live, digest))
        continue;
      if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && freed)
        *freed += S_ISDIR (st.st_mode) ? 0 : st.st_size;
      if (rm_rf_at (dirfd (d), de->d_name, err) < 0)
        return -1;
    }
  return 0;
}

int
berth_store_gc (struct berth_store *s, int64_t *freed, berth_err_t *err)
{
  json_t *refs = NULL, *live = json_object (), *v;
  const char *k;
  cleanup_free char *blobs = xasprintf ("%s/blobs/sha256", s->root);
  cleanup_free char *layers = xasprintf ("%s/layers/sha256", s->root);
  cleanup_free char *holds = xasprintf ("%s/holds", s->root);
  cleanup_dir DIR *hd = NULL;
  struct dirent *de;
  int ret = -1;

  if (freed)
    *freed = 0;
  if (berth_refs_load (s, &refs, err) < 0)
    goto out;
  /* Containers hold their image (a file per container naming its manifest)
     so that rmi and prune leave them alone. */
  hd = opendir (holds);
  while (hd && (de = readdir (hd)))
    {
      cleanup_free char *text = NULL;
      if (de->d_name[0] == '.')
        continue;
      if (read_file_at (dirfd (hd), de->d_name, &text, NULL, err) < 0)
        goto out;
      text[strcspn (text, "\n")] = '\0';
      if (berth_digest_valid (text))
        json_object_set_new (refs, de->d_name, json_string (text));
    }
  json_object_foreach (refs, k, v)
  {
    struct berth_image *img = NULL;
    berth_err_t e2 = NULL;
    mark (live, json_string_value (v));
    if (berth_image_load (s, json_string_value (v), &img, &e2) == 0)
      {
        mark (live, img->config_digest);
        for (size_t i = 0; i < img->n_layers; i++)
          {
            mark (live, img->layers[i].digest);
            mark (live, img->layers[i].diffid);
          }
        berth_image_free (img);
      }
    berth_error_release (&e2);
  }
  if (sweep (blobs, live, freed, err) < 0 || sweep (layers, live, NULL, err) < 0)
    goto out;
  ret = 0;
out:
  json_decref (refs);
  json_decref (live);
  return ret;
}

int
berth_image_remove (struct berth_store *s, const char *name, bool force, json_t **removed, berth_err_t *err)
{
  char md[BERTH_DIGEST_LEN + 1];
  json_t *refs = NULL, *v;
  const char *k;
  void *tmp;
  struct berth_ref *r = NULL;
  int ret = -1, n_refs = 0;
  bool by_id = false;

  *removed = json_array ();
  if (berth_store_lock (s, err) < 0)
    return -1;
  if (berth_image_resolve (s, name, md, err) < 0 || berth_refs_load (s, &refs, err) < 0)
    goto out;
  json_object_foreach (refs, k, v) n_refs += strcmp (json_string_value (v), md) == 0;
  if (berth_ref_parse (name, &r, err) == 0)
    {
      cleanup_free char *canon = berth_ref_string (r);
      by_id = json_object_get (refs, canon) == NULL;
      if (!by_id)
        {
          json_array_append_new (*removed, json_pack ("{s:s}", "Untagged", canon));
          json_object_del (refs, canon);
        }
      berth_ref_free (r);
    }
  else
    {
      berth_error_release (err);
      by_id = true;
    }
  if (by_id)
    {
      if (n_refs > 1 && !force)
        {
          berth_error (err, 0, "image %s is referenced by %d names: remove them one by one, or use --force", name,
                       n_refs);
          goto out;
        }
      json_object_foreach_safe (refs, tmp, k, v) if (strcmp (json_string_value (v), md) == 0)
      {
        json_array_append_new (*removed, json_pack ("{s:s}", "Untagged", k));
        json_object_del (refs, k);
      }
    }
  if (berth_refs_save (s, refs, err) < 0)
    goto out;
  ret = berth_store_gc (s, NULL, err);
  if (ret == 0)
    {
      json_t *u;
      size_t i;
      bool left = false;
      json_array_foreach (*removed, i, u)
          berth_event (s->root, "image", "untag", md, json_pack ("{s:O}", "name", json_object_get (u, "Untagged")));
      json_object_foreach (refs, k, v) left = left || strcmp (json_string_value (v) ?: "", md) == 0;
      if (!left)
        berth_event (s->root, "image", "delete", md, NULL);
    }
out:
  json_decref (refs);
  berth_store_unlock (s);
  return ret;
}

int
berth_store_hold (struct berth_store *s, const char *name, const char *manifest, berth_err_t *err)
{
  cleanup_free char *holds = xasprintf ("%s/holds", s->root);
  cleanup_free char *hold = xasprintf ("%s/%s", holds, name);
  if (mkdir_p (holds, 0700, err) < 0)
    return -1;
  return write_file_atomic (hold, manifest, strlen (manifest), 0600, err);
}

void
berth_store_collect (struct berth_store *s)
{
  berth_err_t err = NULL;
  if (berth_store_lock (s, &err) == 0)
    {
      berth_store_gc (s, NULL, &err);
      berth_store_unlock (s);
    }
  berth_error_release (&err);
}

int
berth_image_prune_vm_images (struct berth_store *s, berth_err_t *err)
{
  cleanup_free char *dir = xasprintf ("%s/vm-images", s->root);
  cleanup_dir DIR *d = opendir (dir);
  json_t *list = NULL;
  struct dirent *de;
  if (d == NULL)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open `%s`", dir);
  if (berth_image_list (s, &list, err) < 0)
    return -1;
  {
    /* Images held by containers (their names may be gone) stay too. */
    cleanup_free char *holds = xasprintf ("%s/holds", s->root);
    cleanup_dir DIR *hd = opendir (holds);
    struct dirent *he;
    while (hd && (he = readdir (hd)))
      {
        cleanup_free char *md = NULL;
        size_t len = 0;
        struct berth_image *img = NULL;
        berth_err_t e2 = NULL;
        if (he->d_name[0] == '.' || read_file_at (dirfd (hd), he->d_name, &md, &len, &e2) < 0
            || berth_image_load (s, md, &img, &e2) < 0)
          {
            berth_error_release (&e2);
            continue;
          }
        json_array_append_new (list, json_pack ("{s:s}", "id", img->config_digest));
        berth_image_free (img);
      }
  }
  while ((de = readdir (d)))
    {
      size_t n = strlen (de->d_name), i;
      json_t *img;
      bool used = false;
      if (n != 64 + 6 || strcmp (de->d_name + 64, ".erofs") != 0)
        continue;
      json_array_foreach (list, i, img)
      {
        const char *id = json_string_value (json_object_get (img, "id"));
        const char *hex = id && strchr (id, ':') ? strchr (id, ':') + 1 : id;
        if (hex && strncmp (hex, de->d_name, 64) == 0)
          used = true;
      }
      if (!used && unlinkat (dirfd (d), de->d_name, 0) < 0 && errno != ENOENT)
        {
          json_decref (list);
          return berth_error (err, errno, "remove `%s/%s`", dir, de->d_name);
        }
    }
  json_decref (list);
  return 0;
}

int
berth_image_prune (struct berth_store *s, bool all, int64_t *freed, json_t **untagged, berth_err_t *err)
{
  cleanup_free char *holds = xasprintf ("%s/holds", s->root);
  json_t *held = json_object (), *refs = NULL, *v;
  const char *k;
  void *tmp;
  int ret = -1;
  *untagged = json_array ();
  *freed = 0;
  if (berth_store_lock (s, err) < 0)
    {
      json_decref (held);
      return -1;
    }
  {
    /* Dangling images are the untagged ones, held only by their hold;
       every other hold (a container's, a pull by digest) keeps its image. */
    cleanup_dir DIR *d = opendir (holds);
    struct dirent *de;
    while (d && (de = readdir (d)))
      {
        cleanup_free char *md = NULL;
        berth_err_t e2 = NULL;
        if (de->d_name[0] == '.')
          continue;
        if (str_has_prefix (de->d_name, "untagged-"))
          {
            unlinkat (dirfd (d), de->d_name, 0);
            continue;
          }
        if (read_file_at (dirfd (d), de->d_name, &md, NULL, &e2) == 0)
          json_object_set_new (held, md, json_true ());
        berth_error_release (&e2);
      }
  }
  if (all)
    {
      /* -a: every tag of an image no container uses. */
      if (berth_refs_load (s, &refs, err) < 0)
        goto out;
      json_object_foreach_safe (refs, tmp, k, v) if (!json_object_get (held, json_string_value (v) ?: ""))
      {
        json_array_append_new (*untagged, json_string (k));
        berth_event (s->root, "image", "untag", json_string_value (v) ?: "", json_pack ("{s:s}", "name", k));
        json_object_del (refs, k);
      }
      if (berth_refs_save (s, refs, err) < 0)
        goto out;
    }
  if (berth_store_gc (s, freed, err) < 0 || berth_image_prune_vm_images (s, err) < 0)
    goto out;
  ret = 0;
out:
  json_decref (refs);
  json_decref (held);
  berth_store_unlock (s);
  return ret;
}
