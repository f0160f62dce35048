/* The engine's container records: <root>/containers/<id>/container.json,
   found by id, id prefix or name. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/events.h"
#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/engine/records.h"
#include "lib/image/store.h"

int
berth_engine_open (const char *root, struct berth_engine **out, berth_err_t *err)
{
  struct berth_engine *e = xcalloc (1, sizeof (*e));
  cleanup_free char *cdir = xasprintf ("%s/containers", root);
  e->root = xstrdup (root);
  e->runtime_root = xasprintf ("%s/runtime", root);
  if (berth_store_open (root, &e->store, err) < 0 || mkdir_p (cdir, 0700, err) < 0
      || mkdir_p (e->runtime_root, 0700, err) < 0)
    {
      berth_engine_close (e);
      return -1;
    }
  *out = e;
  return 0;
}

void
berth_engine_close (struct berth_engine *e)
{
  if (e == NULL)
    return;
  berth_store_close (e->store);
  free (e->root);
  free (e->runtime_root);
  free (e);
}

char *
berth_engine_dir (struct berth_engine *e, const char *id)
{
  return xasprintf ("%s/containers/%s", e->root, id);
}

int
berth_engine_load (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/containers/%s/container.json", e->root, id);
  int r = json_load_path (p, out, err);
  if (r > 0)
    return berth_error_code (err, ENOENT, "no such container: %s", id);
  return r;
}

int
berth_engine_save (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/containers/%s/container.json", e->root, id);
  char *text = json_dumps (rec, JSON_INDENT (1));
  int r = write_file_atomic (p, text, strlen (text), 0600, err);
  free (text);
  return r;
}

int
berth_engine_lock (struct berth_engine *e, const char *id, berth_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/containers/%s/container.lock", e->root, id);
  int fd = open (p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return berth_error_code (err, errno == ENOENT ? ENOENT : errno, "lock the record of %.12s", id);
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      {
        berth_error (err, errno, "lock the record of %.12s", id);
        close (fd);
        return -1;
      }
  return fd;
}

int
berth_engine_update (struct berth_engine *e, const char *id, berth_record_fn fn, void *arg, json_t **out,
                     berth_err_t *err)
{
  cleanup_close int lock = berth_engine_lock (e, id, err);
  json_t *rec = NULL;
  int r;
  if (out)
    *out = NULL;
  if (lock < 0 || berth_engine_load (e, id, &rec, err) < 0)
    return -1;
  r = fn (rec, arg, err);
  if (r == 0)
    r = berth_engine_save (e, id, rec, err);
  if (r == 0 && out)
    *out = rec;
  else
    json_decref (rec);
  return r;
}

char *
berth_engine_random_name (void)
{
  static const char *adj[] = { "brave", "calm",  "eager", "fancy", "gentle", "happy",  "jolly", "keen", "lucid",
                               "merry", "nifty", "proud", "quiet", "sharp",  "tender", "vivid", "wise", "zesty" };
  static const char *noun[] = { "anchor", "harbor",   "jetty", "keel", "mast",  "pier", "quay", "rudder",
                                "sail",   "schooner", "skiff", "tide", "wharf", "buoy", "cove", "dock" };
  unsigned char r[2];
  random_bytes (r, sizeof (r));
  return xasprintf ("%s_%s", adj[r[0] % ARRAY_SIZE (adj)], noun[r[1] % ARRAY_SIZE (noun)]);
}

int
berth_engine_list (struct berth_engine *e, json_t **out, berth_err_t *err)
{
  return berth_engine_list_all (e, out, NULL, err);
}

/* A directory with no record whose create is gone (killed before it
   wrote one: its lock is free) goes; its image hold goes with it
   (reap_holds), its address leases at the next look at its networks.  A
   create under way holds its lock and is left alone.  ID may be
   ".new-ID": a create killed before its directory was renamed into
   place. */
static void
reap_unmade (struct berth_engine *e, const char *id)
{
  cleanup_free char *dir = berth_engine_dir (e, id);
  cleanup_free char *lock = xasprintf ("%s/container.lock", dir);
  cleanup_free char *json = xasprintf ("%s/container.json", dir);
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", dir);
  cleanup_close int fd = open (lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  berth_err_t e2 = NULL;
  /* No lock at all: a removal killed half-way (a create has its lock from
     the start). */
  if (fd >= 0 ? flock (fd, LOCK_EX | LOCK_NB) < 0 : errno != ENOENT)
    return;
  if (access (json, F_OK) == 0)
    return; /* made after all, just now */
  umount2 (rootfs, MNT_DETACH);
  rm_rf_at (AT_FDCWD, dir, &e2);
  berth_error_release (&e2);
}

/* Image holds of containers that are gone (a removal killed between the
   directory and the hold; a create killed writing it, ID.tmp.PID): they
   would keep the image from rmi for ever.  A create makes its directory
   before its hold, so a hold with no directory is never one being made. */
static void
reap_holds (struct berth_engine *e)
{
  cleanup_free char *holds = xasprintf ("%s/holds", e->root);
  cleanup_dir DIR *d = opendir (holds);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      char id[65];
      cleanup_free char *dir = NULL;
      size_t n = strspn (de->d_name, "0123456789abcdef");
      if (n != 64 || (de->d_name[64] != '\0' && !str_has_prefix (de->d_name + 64, ".tmp.")))
        continue;
      memcpy (id, de->d_name, 64);
      id[64] = '\0';
      dir = berth_engine_dir (e, id);
      if (access (dir, F_OK) < 0 && errno == ENOENT)
        unlinkat (dirfd (d), de->d_name, 0);
    }
}

int
berth_engine_list_all (struct berth_engine *e, json_t **out, json_t **broken, berth_err_t *err)
{
  cleanup_free char *cdir = xasprintf ("%s/containers", e->root);
  cleanup_dir DIR *d = opendir (cdir);
  struct dirent *de;
  *out = json_array ();
  if (broken)
    *broken = json_array ();
  if (d == NULL)
    return berth_error (err, errno, "open `%s`", cdir);
  while ((de = readdir (d)))
    {
      json_t *rec = NULL;
      berth_err_t e2 = NULL;
      if (str_has_prefix (de->d_name, ".new-") && strlen (de->d_name) == 69)
        reap_unmade (e, de->d_name);
      if (de->d_name[0] == '.' || strlen (de->d_name) != 64)
        continue;
      if (berth_engine_refresh (e, de->d_name, &rec, &e2) == 0)
        json_array_append_new (*out, rec);
      /* No record yet is a container being made (or one a killed create
         left), not a broken one. */
      else if (e2->status == ENOENT)
        reap_unmade (e, de->d_name);
      else if (broken)
        json_array_append_new (*broken, json_pack ("{s:s,s:s}", "Id", de->d_name, "Error", e2->msg));
      berth_error_release (&e2);
    }
  reap_holds (e);
  return 0;
}

/* NAMES_ONLY: a container named REF, never one whose ID begins with it
   (a name may look like another container's ID prefix: "db", "b"). */
static int
resolve (struct berth_engine *e, const char *ref, bool names_only, char *id_out, berth_err_t *err)
{
  cleanup_free char *cdir = xasprintf ("%s/containers", e->root);
  cleanup_dir DIR *d = opendir (cdir);
  struct dirent *de;
  int matches = 0;
  size_t n = strlen (ref);
  if (d == NULL)
    return berth_error (err, errno, "open `%s`", cdir);
  while ((de = readdir (d)))
    {
      json_t *rec = NULL;
      berth_err_t e2 = NULL;
      if (de->d_name[0] == '.' || strlen (de->d_name) != 64)
        continue;
      if (berth_engine_load (e, de->d_name, &rec, &e2) == 0)
        {
          const char *name = json_string_value (json_object_get (rec, "Name"));
          if (name && (strcmp (name, ref) == 0 || (name[0] == '/' && strcmp (name + 1, ref) == 0)))
            {
              strcpy (id_out, de->d_name);
              json_decref (rec);
              return 0;
            }
          json_decref (rec);
        }
      berth_error_release (&e2);
      if (!names_only && n >= 1 && n <= 64 && strncmp (de->d_name, ref, n) == 0)
        {
          strcpy (id_out, de->d_name);
          matches++;
        }
    }
  if (matches == 1)
    return 0;
  if (matches > 1)
    return berth_error (err, 0, "multiple containers match \"%s\": use more of the ID", ref);
  return berth_error_code (err, ENOENT, "no such container: %s", ref);
}

int
berth_engine_resolve (struct berth_engine *e, const char *ref, char *id_out, berth_err_t *err)
{
  return resolve (e, ref, false, id_out, err);
}

int
berth_engine_resolve_name (struct berth_engine *e, const char *name, char *id_out, berth_err_t *err)
{
  return resolve (e, name, true, id_out, err);
}

bool
berth_engine_name_taken (struct berth_engine *e, const char *name)
{
  char id[65];
  berth_err_t err = NULL;
  bool taken = resolve (e, name, true, id, &err) == 0;
  berth_error_release (&err);
  return taken;
}

void
berth_engine_event (struct berth_engine *e, const char *id, json_t *rec, const char *action, json_t *extra)
{
  json_t *loaded = NULL, *attrs = json_object (), *v;
  const char *k;
  berth_err_t e2 = NULL;
  if (rec == NULL && berth_engine_load (e, id, &loaded, &e2) == 0)
    rec = loaded;
  berth_error_release (&e2);
  /* docker's attributes: the container's labels, its image and name. */
  json_object_foreach (json_object_get (json_object_get (rec, "Config"), "Labels"), k, v) json_object_set (attrs, k, v);
  json_object_set_new (attrs, "image", json_string (json_string_value (json_object_get (rec, "Image")) ?: ""));
  json_object_set_new (attrs, "name", json_string (json_string_value (json_object_get (rec, "Name")) ?: ""));
  if (extra)
    json_object_update (attrs, extra);
  json_decref (extra);
  json_decref (loaded);
  berth_event (e->root, "container", action, id, attrs);
}
