#include "lib/runtime/state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/runtime/isolation.h"

int
berth_validate_id (const char *id, berth_err_t *err)
{
  size_t n = strlen (id);
  if (n == 0 || n > 1024)
    return berth_error (err, 0, "invalid container id: must be 1 to 1024 characters");
  for (size_t i = 0; i < n; i++)
    {
      char c = id[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
                || c == '.' || c == '+';
      if (!ok || (i == 0 && (c == '.' || c == '-')))
        return berth_error (err, 0, "invalid container id \"%s\": use letters, digits and _.+-", id);
    }
  return 0;
}

char *
berth_state_dir (const char *root, const char *id)
{
  return xasprintf ("%s/%s", root, id);
}

int
berth_state_lock (const char *root, const char *id, int *fd, berth_err_t *err)
{
  cleanup_free char *dir = berth_state_dir (root, id);
  int f = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (f < 0)
    {
      if (errno == ENOENT)
        return berth_error_code (err, ENOENT, "container `%s` does not exist", id);
      return berth_error (err, errno, "open `%s`", dir);
    }
  if (flock (f, LOCK_EX) < 0)
    {
      int e = errno;
      close (f);
      return berth_error (err, e, "lock `%s`", dir);
    }
  *fd = f;
  return 0;
}

int
berth_state_save (const char *root, struct berth_state *st, berth_err_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s/state.json", root, st->id);
  json_t *j
      = json_pack ("{s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:O,s:b}", "id", st->id, "pid", (json_int_t)st->pid, "start_time",
                   (json_int_t)st->start_time, "bundle", st->bundle, "rootfs", st->rootfs, "created", st->created,
                   "owner", st->owner ? st->owner : "", "config", st->config, "systemd_cgroup", st->systemd_cgroup);
  char *text;
  int ret;
  if (j == NULL)
    return berth_error (err, 0, "encode the state of `%s`", st->id);
  if (st->cgroup)
    json_object_set_new (j, "cgroup", berth_cgroup_to_json (st->cgroup));
  json_object_set_new (j, "isolation", json_string (st->isolation ? st->isolation : "process"));
  if (st->backend)
    json_object_set (j, "backend", st->backend);
  text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  ret = write_file_atomic (path, text, strlen (text), 0600, err);
  free (text);
  return ret;
}

void
berth_state_free (struct berth_state *st)
{
  if (st == NULL)
    return;
  free (st->id);
  free (st->bundle);
  free (st->rootfs);
  free (st->created);
  free (st->owner);
  json_decref (st->config);
  free (st->isolation);
  json_decref (st->backend);
  berth_cgroup_free (st->cgroup);
  free (st);
}

int
berth_state_load (const char *root, const char *id, struct berth_state **out, berth_err_t *err)
{
  cleanup_free char *path = NULL;
  int r;
  json_t *j, *cg;
  struct berth_state *st;

  if (berth_validate_id (id, err) < 0)
    return -1;
  path = xasprintf ("%s/%s/state.json", root, id);
  r = json_load_path (path, &j, err);
  if (r < 0)
    return -1;
  if (r > 0)
    return berth_error_code (err, ENOENT, "container `%s` does not exist", id);
  st = xcalloc (1, sizeof (*st));
  st->id = xstrdup (id);
  st->pid = (pid_t)json_integer_value (json_object_get (j, "pid"));
  st->start_time = (unsigned long long)json_integer_value (json_object_get (j, "start_time"));
  st->bundle = xstrdup (json_string_value (json_object_get (j, "bundle")) ?: "");
  st->rootfs = xstrdup (json_string_value (json_object_get (j, "rootfs")) ?: "");
  st->created = xstrdup (json_string_value (json_object_get (j, "created")) ?: "");
  st->owner = xstrdup (json_string_value (json_object_get (j, "owner")) ?: "");
  st->config = json_incref (json_object_get (j, "config"));
  st->systemd_cgroup = json_is_true (json_object_get (j, "systemd_cgroup"));
  st->isolation = xstrdup (json_string_value (json_object_get (j, "isolation")) ?: "process");
  st->backend = json_incref (json_object_get (j, "backend"));
  cg = json_object_get (j, "cgroup");
  if (cg && berth_cgroup_from_json (cg, &st->cgroup, err) < 0)
    {
      json_decref (j);
      berth_state_free (st);
      return -1;
    }
  json_decref (j);
  *out = st;
  return 0;
}

int
berth_state_remove (const char *root, const char *id, berth_err_t *err)
{
  cleanup_close int fd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open `%s`", root);
  return rm_rf_at (fd, id, err);
}

int
berth_state_list (const char *root, char ***ids, berth_err_t *err)
{
  cleanup_dir DIR *d = opendir (root);
  struct dirent *de;
  size_t n = 0;
  *ids = xcalloc (1, sizeof (char *));
  if (d == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return berth_error (err, errno, "open `%s`", root);
    }
  while ((de = readdir (d)))
    {
      cleanup_free char *sp = NULL;
      if (de->d_name[0] == '.')
        continue;
      sp = xasprintf ("%s/%s/state.json", root, de->d_name);
      if (access (sp, F_OK) < 0)
        continue;
      *ids = xrealloc (*ids, sizeof (char *) * (n + 2));
      (*ids)[n++] = xstrdup (de->d_name);
      (*ids)[n] = NULL;
    }
  return 0;
}

bool
berth_state_alive (struct berth_state *st)
{
  return st->pid > 0 && process_start_time (st->pid) == st->start_time;
}

const char *
berth_state_status (const char *root, struct berth_state *st)
{
  cleanup_free char *sock = NULL;
  if (!berth_state_alive (st))
    return "stopped";
  sock = xasprintf ("%s/%s/start", root, st->id);
  if (access (sock, F_OK) == 0)
    return "created";
  if (st->cgroup && berth_cgroup_is_frozen (st->cgroup))
    return "paused";
  {
    berth_err_t e = NULL;
    const struct berth_isolation *iso = berth_isolation_of (st, &e);
    berth_error_release (&e);
    if (iso && iso->paused && iso->paused (st))
      return "paused";
  }
  return "running";
}

json_t *
berth_state_json (const char *root, struct berth_state *st, const char *status_override)
{
  const char *status = status_override ? status_override : berth_state_status (root, st);
  json_t *annotations = json_object_get (st->config, "annotations");
  json_t *j = json_pack ("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "ociVersion", BERTH_OCI_VERSION, "id", st->id, "status",
                         status, "pid", (json_int_t)(strcmp (status, "stopped") == 0 ? 0 : st->pid), "bundle",
                         st->bundle, "rootfs", st->rootfs, "created", st->created, "owner", st->owner);
  if (json_is_object (annotations))
    json_object_set (j, "annotations", annotations);
  return j;
}
