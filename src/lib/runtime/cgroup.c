#include "lib/runtime/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "lib/runtime/cgroup_bpf.h"
#include "lib/runtime/cgroup_internal.h"
#include "lib/base/utils.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CGROUP_ROOT "/sys/fs/cgroup"

int
berth_cgroup_mode (void)
{
  static int mode;
  struct statfs st;
  if (mode)
    return mode;
  if (statfs (CGROUP_ROOT, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
    mode = CGROUP_V2;
  else if (statfs (CGROUP_ROOT "/unified", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
    mode = CGROUP_HYBRID;
  else
    mode = CGROUP_V1;
  return mode;
}

static bool
is_v1_controller (const char *s)
{
  static const char *known[] = { "cpu",      "cpuacct",    "cpuset", "memory",  "devices", "freezer", "net_cls",
                                 "net_prio", "perf_event", "blkio",  "hugetlb", "pids",    "rdma",    "misc" };
  if (str_has_prefix (s, "name="))
    return true;
  for (size_t i = 0; i < ARRAY_SIZE (known); i++)
    if (strcmp (s, known[i]) == 0)
      return true;
  return false;
}

/* The hierarchies mounted on this host: (controllers, mountpoint). */
struct hierarchy
{
  char controllers[128];
  char mountpoint[256];
  bool v2;
};

static int
list_hierarchies (struct hierarchy **out, size_t *n, berth_err_t *err)
{
  cleanup_file FILE *f = fopen ("/proc/self/mountinfo", "re");
  cleanup_free char *line = NULL;
  size_t cap = 0;
  struct hierarchy *h = NULL;
  size_t count = 0;

  if (f == NULL)
    return berth_error (err, errno, "open /proc/self/mountinfo");
  while (getline (&line, &cap, f) > 0)
    {
      char *fields[12] = { 0 }, *save = NULL, *tok, *sep;
      int nf = 0;
      sep = strstr (line, " - ");
      if (sep == NULL)
        continue;
      *sep = '\0';
      for (tok = strtok_r (line, " ", &save); tok && nf < 6; tok = strtok_r (NULL, " ", &save))
        fields[nf++] = tok;
      if (nf < 5)
        continue;
      {
        char *save2 = NULL;
        char *fstype = strtok_r (sep + 3, " ", &save2);
        char *source = strtok_r (NULL, " ", &save2);
        char *super = strtok_r (NULL, " \n", &save2);
        struct hierarchy hh = { 0 };
        (void)source;
        if (fstype == NULL || !str_has_prefix (fields[4], CGROUP_ROOT))
          continue;
        if (strcmp (fstype, "cgroup2") == 0)
          hh.v2 = true;
        else if (strcmp (fstype, "cgroup") != 0)
          continue;
        snprintf (hh.mountpoint, sizeof (hh.mountpoint), "%s", fields[4]);
        if (!hh.v2 && super)
          {
            char *s3 = NULL;
            for (char *o = strtok_r (super, ",", &s3); o; o = strtok_r (NULL, ",", &s3))
              if (is_v1_controller (o))
                {
                  if (hh.controllers[0])
                    strncat (hh.controllers, ",", sizeof (hh.controllers) - strlen (hh.controllers) - 1);
                  strncat (hh.controllers, o, sizeof (hh.controllers) - strlen (hh.controllers) - 1);
                }
            if (hh.controllers[0] == '\0')
              continue;
          }
        h = xrealloc (h, sizeof (*h) * (count + 1));
        h[count++] = hh;
      }
    }
  *out = h;
  *n = count;
  return 0;
}

/* This process's own cgroup in the hierarchy that holds CONTROLLERS. */
static char *
own_cgroup (const char *controllers, bool v2)
{
  cleanup_file FILE *f = fopen ("/proc/self/cgroup", "re");
  cleanup_free char *line = NULL;
  size_t cap = 0;
  if (f == NULL)
    return xstrdup ("/");
  while (getline (&line, &cap, f) > 0)
    {
      char *c1 = strchr (line, ':'), *c2;
      if (c1 == NULL || (c2 = strchr (c1 + 1, ':')) == NULL)
        continue;
      *c2 = '\0';
      c2[strcspn (c2 + 1, "\n") + 1] = '\0';
      if ((v2 && c1[1] == '\0') || (!v2 && strcmp (c1 + 1, controllers) == 0))
        return xstrdup (c2 + 1);
    }
  return xstrdup ("/");
}

int
berth_cgroup_resolve_path (const char *spec_path, const char *id, bool systemd, char **out, berth_err_t *err)
{
  if (spec_path == NULL || spec_path[0] == '\0')
    {
      *out = xasprintf (BERTH_CGROUP_PARENT "/%s", id);
      return 0;
    }
  if (systemd && strchr (spec_path, ':'))
    {
      /* No systemd to ask: the scope's path, made by hand. */
      cleanup_free char *slice = NULL, *unit = NULL;
      return berth_systemd_parse_path (spec_path, id, &slice, &unit, out, err);
    }
  if (strstr (spec_path, ".."))
    {
      /* A path component ".." could climb out of the hierarchy. */
      cleanup_free char *copy = xstrdup (spec_path);
      char *save = NULL;
      for (char *t = strtok_r (copy, "/", &save); t; t = strtok_r (NULL, "/", &save))
        if (strcmp (t, "..") == 0)
          return berth_error (err, 0, "linux.cgroupsPath: \"%s\" must not contain \"..\"", spec_path);
    }
  *out = xstrdup (spec_path);
  return 0;
}

/* Whether WORD is one of LIST's words (spaces and newlines between). */
static bool
word_in_list (const char *list, const char *word)
{
  size_t n = strlen (word);
  for (const char *p = list; (p = strstr (p, word)) != NULL; p += n)
    if ((p == list || p[-1] == ' ' || p[-1] == '\n') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
      return true;
  return false;
}

int
cg_write (const char *dir, const char *file, const char *value, berth_err_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && berth_cgroup_mode () == CGROUP_V2 && strchr (file, '.'))
    {
      /* v2 shows a controller's files only where the parent hands it down. */
      cleanup_free char *ctrl = xasprintf ("%.*s", (int)strcspn (file, "."), file);
      cleanup_free char *have = NULL;
      cleanup_free char *cf = xasprintf ("%s/cgroup.controllers", dir);
      berth_err_t e2 = NULL;
      if (strcmp (ctrl, "cgroup") != 0 && read_file_at (AT_FDCWD, cf, &have, NULL, &e2) == 0
          && !word_in_list (have, ctrl))
        return berth_error (err, ENOENT,
                            "%s: the %s controller is not delegated to %s (its parent's cgroup.subtree_control "
                            "lacks it)",
                            file, ctrl, dir);
      berth_error_release (&e2);
      errno = ENOENT;
    }
  if (fd < 0)
    return berth_error (err, errno, "open `%s`", path);
  if (write (fd, value, strlen (value)) < 0)
    return berth_error (err, errno, "write `%s` to `%s`", value, path);
  return 0;
}

int
cg_writef (const char *dir, const char *file, berth_err_t *err, const char *fmt, ...)
{
  va_list ap;
  cleanup_free char *v = NULL;
  va_start (ap, fmt);
  if (vasprintf (&v, fmt, ap) < 0)
    abort ();
  va_end (ap);
  return cg_write (dir, file, v, err);
}

const char *
berth_cgroup_dir_for (struct berth_cgroup *cg, const char *controller)
{
  for (size_t i = 0; i < cg->n_dirs; i++)
    {
      const char *c = cg->dirs[i].controllers;
      size_t l = strlen (controller);
      if (controller[0] == '\0' && c[0] == '\0')
        return cg->dirs[i].path;
      if (cg->mode == CGROUP_V2)
        return cg->dirs[i].path;
      for (const char *p = c; (p = strstr (p, controller)); p++)
        if ((p == c || p[-1] == ',') && (p[l] == '\0' || p[l] == ','))
          return cg->dirs[i].path;
    }
  return NULL;
}

int
need_dir (struct berth_cgroup *cg, const char *controller, const char *field, const char **dir, berth_err_t *err)
{
  *dir = berth_cgroup_dir_for (cg, controller);
  if (*dir == NULL)
    return berth_error (err, 0, "%s: the %s cgroup controller is not available on this host", field, controller);
  return 0;
}

bool
cg_file_exists (const char *dir, const char *file)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, file);
  return access (p, F_OK) == 0;
}

/* Signed integers in resources: jansson gives int64. */
bool
res_int (json_t *obj, const char *key, int64_t *out)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL || !json_is_integer (v))
    return false;
  *out = json_integer_value (v);
  return true;
}

int
cg_check_types (json_t *res, berth_err_t *err)
{
  static const struct
  {
    const char *obj, *key;
  } ints[] = {
    { "memory", "limit" },     { "memory", "reservation" },  { "memory", "swap" },        { "memory", "kernel" },
    { "memory", "kernelTCP" }, { "memory", "swappiness" },   { "cpu", "shares" },         { "cpu", "quota" },
    { "cpu", "period" },       { "cpu", "realtimeRuntime" }, { "cpu", "realtimePeriod" }, { "pids", "limit" },
    { "blockIO", "weight" },   { "blockIO", "leafWeight" },  { "network", "classID" },
  };
  if (!json_is_object (res))
    return berth_error (err, 0, "linux.resources: expected an object");
  for (size_t i = 0; i < ARRAY_SIZE (ints); i++)
    {
      json_t *o = json_object_get (res, ints[i].obj), *v;
      if (o == NULL || json_is_null (o))
        continue;
      if (!json_is_object (o))
        return berth_error (err, 0, "linux.resources.%s: expected an object", ints[i].obj);
      v = json_object_get (o, ints[i].key);
      if (v && !json_is_null (v) && !json_is_integer (v))
        return berth_error (err, 0, "linux.resources.%s.%s: expected an integer", ints[i].obj, ints[i].key);
    }
  {
    json_t *v = json_object_get (res, "devices");
    if (v && !json_is_array (v))
      return berth_error (err, 0, "linux.resources.devices: expected an array");
  }
  return 0;
}

/* -------------------------------------------------------------- lifecycle */

static int
copy_parent_cpuset (const char *dir, berth_err_t *err)
{
  /* v1 cpuset cgroups start empty and refuse tasks until cpus and mems are
     set; ancestors created by us need the same. */
  cleanup_free char *parent = xstrdup (dir);
  char *slash = strrchr (parent, '/');
  const char *files[] = { "cpuset.cpus", "cpuset.mems" };
  if (slash == NULL)
    return 0;
  *slash = '\0';
  for (size_t i = 0; i < 2; i++)
    {
      cleanup_free char *mine = NULL, *theirs = NULL;
      cleanup_free char *mp = xasprintf ("%s/%s", dir, files[i]);
      cleanup_free char *pp = xasprintf ("%s/%s", parent, files[i]);
      if (read_file_at (AT_FDCWD, mp, &mine, NULL, err) < 0)
        return -1;
      if (mine[0] != '\n' && mine[0] != '\0')
        continue;
      if (read_file_at (AT_FDCWD, pp, &theirs, NULL, err) < 0)
        return -1;
      if ((theirs[0] == '\n' || theirs[0] == '\0') && copy_parent_cpuset (parent, err) < 0)
        return -1;
      free (theirs);
      theirs = NULL;
      if (read_file_at (AT_FDCWD, pp, &theirs, NULL, err) < 0 || cg_write (dir, files[i], theirs, err) < 0)
        return -1;
    }
  return 0;
}

/* Hands every controller DIR has down to its children (best effort: one
   the kernel refuses is left off, and whoever needs it names it).  Only
   those not handed down yet: each write of subtree_control costs the
   kernel a pass over the subtree, ~1 ms a controller in a TCG guest,
   where every container's create went through all of them twice. */
static void
enable_subtree_v2 (const char *dir)
{
  cleanup_free char *ctrls = NULL, *on = NULL;
  cleanup_free char *cf = xasprintf ("%s/cgroup.controllers", dir);
  cleanup_free char *sf = xasprintf ("%s/cgroup.subtree_control", dir);
  berth_err_t err = NULL;
  char *save = NULL;
  if (read_file_at (AT_FDCWD, cf, &ctrls, NULL, &err) < 0 || read_file_at (AT_FDCWD, sf, &on, NULL, &err) < 0)
    {
      berth_error_release (&err);
      return;
    }
  for (char *c = strtok_r (ctrls, " \n", &save); c; c = strtok_r (NULL, " \n", &save))
    {
      cleanup_free char *plus = NULL;
      if (word_in_list (on, c))
        continue;
      plus = xasprintf ("+%s", c);
      cg_write (dir, "cgroup.subtree_control", plus, &err);
      berth_error_release (&err);
    }
}

/* mkdir -p that records how deep the new directories start, so destroy
   removes exactly what create made. */
static int
make_cgroup_dir (const char *root, const char *rel, bool cpuset, bool v2, berth_err_t *err)
{
  cleanup_free char *path = xasprintf ("%s%s%s", root, rel[0] == '/' ? "" : "/", rel);
  for (char *s = path + strlen (root) + 1; s && *s; s = strchr (s + 1, '/'))
    {
      char saved = *s;
      if (saved != '/')
        continue;
      *s = '\0';
      if (mkdir (path, 0755) < 0 && errno != EEXIST)
        return berth_error (err, errno, "mkdir `%s`", path);
      if (cpuset && copy_parent_cpuset (path, err) < 0)
        return -1;
      /* Controllers must be enabled in every ancestor. */
      if (v2)
        enable_subtree_v2 (path);
      *s = '/';
    }
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return berth_error (err, errno, "mkdir `%s`", path);
  if (cpuset && copy_parent_cpuset (path, err) < 0)
    return -1;
  return 0;
}

int
berth_cgroup_prepare (json_t *devices, berth_err_t *err)
{
  if (berth_cgroup_mode () != CGROUP_V2)
    return 0;
  enable_subtree_v2 (CGROUP_ROOT);
  if (mkdir (CGROUP_ROOT BERTH_CGROUP_PARENT, 0755) < 0 && errno != EEXIST)
    return berth_error (err, errno, "mkdir `%s`", CGROUP_ROOT BERTH_CGROUP_PARENT);
  enable_subtree_v2 (CGROUP_ROOT BERTH_CGROUP_PARENT);
  return devices_preload_v2 (devices, err);
}

int
berth_cgroup_create (const char *rel_path, json_t *resources, struct berth_cgroup **out, berth_err_t *err)
{
  struct hierarchy *h = NULL;
  size_t nh = 0;
  struct berth_cgroup *cg = xcalloc (1, sizeof (*cg));
  bool relative = rel_path[0] != '/';

  cg->mode = berth_cgroup_mode ();
  cg->rel_path = xstrdup (rel_path);
  if (resources && cg_check_types (resources, err) < 0)
    goto fail;
  if (list_hierarchies (&h, &nh, err) < 0)
    goto fail;
  for (size_t i = 0; i < nh; i++)
    {
      cleanup_free char *base = NULL;
      struct berth_cgroup_dir *d;
      if (cg->mode == CGROUP_V2 ? !h[i].v2 : (h[i].v2 && cg->mode != CGROUP_HYBRID))
        continue;
      cleanup_free char *joined = NULL;
      if (relative)
        {
          base = own_cgroup (h[i].controllers, h[i].v2);
          joined = xasprintf ("%s/%s", strcmp (base, "/") == 0 ? "" : base, rel_path);
        }
      else
        joined = xstrdup (rel_path);
      cg->dirs = xrealloc (cg->dirs, sizeof (*cg->dirs) * (cg->n_dirs + 1));
      d = &cg->dirs[cg->n_dirs++];
      d->controllers = xstrdup (h[i].controllers);
      d->path = xasprintf ("%s%s", h[i].mountpoint, joined);
      if (h[i].v2 && cg->mode == CGROUP_V2)
        enable_subtree_v2 (h[i].mountpoint);
      if (make_cgroup_dir (h[i].mountpoint, joined, strstr (h[i].controllers, "cpuset") != NULL,
                           h[i].v2 && cg->mode == CGROUP_V2, err)
          < 0)
        goto fail_destroy;
    }
  free (h);
  h = NULL;
  if (cg->n_dirs == 0)
    {
      berth_error (err, 0, "no cgroup hierarchy is mounted under " CGROUP_ROOT);
      goto fail;
    }
  if (resources)
    {
      int r = cg->mode == CGROUP_V2 ? apply_v2 (cg, resources, err) : apply_v1 (cg, resources, err);
      if (r < 0)
        goto fail_destroy;
    }
  *out = cg;
  return 0;

fail_destroy:
  {
    berth_err_t e2 = NULL;
    berth_cgroup_destroy (cg, false, &e2);
    berth_error_release (&e2);
    free (h);
    return -1;
  }
fail:
  free (h);
  berth_cgroup_free (cg);
  return -1;
}

int
berth_cgroup_create_spec (const char *spec_path, const char *id, bool systemd, json_t *resources,
                          struct berth_cgroup **out, berth_err_t *err)
{
  cleanup_free char *path = NULL;
  struct berth_cgroup *cg;

  if (!systemd || !berth_systemd_booted ())
    {
      if (berth_cgroup_resolve_path (spec_path, id, systemd, &path, err) < 0)
        return -1;
      return berth_cgroup_create (path, resources, out, err);
    }
  if (resources && cg_check_types (resources, err) < 0)
    return -1;
  cg = xcalloc (1, sizeof (*cg));
  cg->mode = berth_cgroup_mode ();
  if (berth_systemd_parse_path (spec_path, id, &cg->slice, &cg->unit, &cg->rel_path, err) < 0)
    {
      berth_cgroup_free (cg);
      return -1;
    }
  cg->pending = resources ? json_incref (resources) : NULL;
  *out = cg;
  return 0;
}

int
berth_cgroup_purge_spec (const char *spec_path, const char *id, bool systemd, berth_err_t *err)
{
  struct berth_cgroup *cg = NULL, *dirs = NULL;
  int ret = -1;
  if (berth_cgroup_create_spec (spec_path, id, systemd, NULL, &cg, err) < 0)
    return -1;
  /* (destroy frees what it removed) */
  if (cg->unit == NULL)
    {
      if ((ret = berth_cgroup_destroy (cg, true, err)) == 0)
        cg = NULL;
    }
  /* A scope's directories are where systemd put them, which is the path
     its name expands to: its processes killed there first (a stop job
     would wait for them), then the scope stopped. */
  else if (berth_cgroup_create (cg->rel_path, NULL, &dirs, err) == 0 && berth_cgroup_destroy (dirs, true, err) == 0)
    {
      dirs = NULL;
      ret = berth_systemd_stop_scope (cg, err);
    }
  berth_cgroup_free (dirs);
  berth_cgroup_free (cg);
  return ret;
}

/* The scope's directories, as systemd made them: where PID is now, in
   each hierarchy berth_cgroup_create would use. */
static int
dirs_of_pid (struct berth_cgroup *cg, pid_t pid, berth_err_t *err)
{
  struct hierarchy *h = NULL;
  size_t nh = 0;
  cleanup_free char *text = NULL;
  cleanup_free char *proc = xasprintf ("/proc/%d/cgroup", (int)pid);

  if (read_file_at (AT_FDCWD, proc, &text, NULL, err) < 0 || list_hierarchies (&h, &nh, err) < 0)
    return -1;
  for (size_t i = 0; i < nh; i++)
    {
      char *save = NULL;
      cleanup_free char *copy = xstrdup (text);
      if (cg->mode == CGROUP_V2 ? !h[i].v2 : (h[i].v2 && cg->mode != CGROUP_HYBRID))
        continue;
      for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
        {
          char *c1 = strchr (line, ':'), *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
          if (c2 == NULL)
            continue;
          *c2 = '\0';
          if (h[i].v2 ? c1[1] != '\0' : strcmp (c1 + 1, h[i].controllers) != 0)
            continue;
          if (strstr (c2 + 1, "/..") || c2[1] != '/')
            break;
          cg->dirs = xrealloc (cg->dirs, sizeof (*cg->dirs) * (cg->n_dirs + 1));
          cg->dirs[cg->n_dirs].controllers = xstrdup (h[i].controllers);
          cg->dirs[cg->n_dirs].path = xasprintf ("%s%s", h[i].mountpoint, c2 + 1);
          cg->n_dirs++;
          break;
        }
    }
  free (h);
  if (cg->n_dirs == 0)
    return berth_error (err, 0, "systemd: %s started, but process %d is in none of its cgroups", cg->unit, (int)pid);
  return 0;
}

int
berth_cgroup_enter (struct berth_cgroup *cg, pid_t pid, berth_err_t *err)
{
  if (cg->unit && cg->n_dirs == 0)
    {
      /* The first process starts the scope; systemd moves it in. */
      json_t *res = cg->pending;
      if (berth_systemd_start_scope (cg, pid, err) < 0)
        return -1;
      if (dirs_of_pid (cg, pid, err) < 0)
        {
          berth_err_t e2 = NULL;
          berth_systemd_stop_scope (cg, &e2);
          berth_error_release (&e2);
          return -1;
        }
      cg->pending = NULL;
      if (res)
        {
          int r = cg->mode == CGROUP_V2 ? apply_v2 (cg, res, err) : apply_v1 (cg, res, err);
          json_decref (res);
          if (r < 0)
            return -1;
        }
      return 0;
    }
  for (size_t i = 0; i < cg->n_dirs; i++)
    if (cg_writef (cg->dirs[i].path, "cgroup.procs", err, "%d", pid) < 0)
      return -1;
  return 0;
}

int
berth_cgroup_open_v2 (struct berth_cgroup *cg)
{
  if (cg->mode != CGROUP_V2 || cg->n_dirs != 1)
    return -1;
  return open (cg->dirs[0].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int
berth_cgroup_update (struct berth_cgroup *cg, json_t *resources, berth_err_t *err)
{
  if (cg_check_types (resources, err) < 0)
    return -1;
  if (cg->unit && berth_systemd_set_properties (cg, resources, err) < 0)
    return -1;
  return cg->mode == CGROUP_V2 ? apply_v2 (cg, resources, err) : apply_v1 (cg, resources, err);
}

static int
read_pids (const char *dir, pid_t **pids, size_t *n, berth_err_t *err)
{
  cleanup_free char *text = NULL;
  cleanup_free char *path = xasprintf ("%s/cgroup.procs", dir);
  char *save = NULL;
  if (read_file_at (AT_FDCWD, path, &text, NULL, err) < 0)
    return -1;
  for (char *t = strtok_r (text, "\n", &save); t; t = strtok_r (NULL, "\n", &save))
    {
      *pids = xrealloc (*pids, sizeof (pid_t) * (*n + 1));
      (*pids)[(*n)++] = (pid_t)atoi (t);
    }
  return 0;
}

int
berth_cgroup_pids (struct berth_cgroup *cg, pid_t **pids, size_t *n, berth_err_t *err)
{
  const char *dir = berth_cgroup_dir_for (cg, cg->mode == CGROUP_V2 ? "" : "pids");
  if (dir == NULL)
    dir = berth_cgroup_dir_for (cg, "memory");
  if (dir == NULL && cg->n_dirs)
    dir = cg->dirs[0].path;
  *pids = NULL;
  *n = 0;
  if (dir == NULL)
    return 0;
  return read_pids (dir, pids, n, err);
}

int
berth_cgroup_destroy (struct berth_cgroup *cg, bool kill_procs, berth_err_t *err)
{
  if (cg == NULL)
    return 0;
  if (cg->unit && cg->n_dirs)
    {
      /* Ours to kill first: a stop job would give them SIGTERM and wait
         up to systemd's 90 s before SIGKILL. */
      for (int attempt = 0; kill_procs && attempt < 500; attempt++)
        {
          pid_t *pids = NULL;
          size_t n = 0;
          berth_err_t e2 = NULL;
          struct timespec ts = { 0, 10 * 1000 * 1000 };
          if (read_pids (cg->dirs[0].path, &pids, &n, &e2) < 0 || n == 0)
            {
              berth_error_release (&e2);
              free (pids);
              break;
            }
          for (size_t k = 0; k < n; k++)
            kill (pids[k], SIGKILL);
          free (pids);
          nanosleep (&ts, NULL);
        }
      if (berth_systemd_stop_scope (cg, err) < 0)
        return -1;
    }
  for (size_t i = 0; i < cg->n_dirs; i++)
    {
      const char *dir = cg->dirs[i].path;
      for (int attempt = 0; attempt < 500; attempt++)
        {
          struct timespec ts = { 0, 10 * 1000 * 1000 };
          if (rmdir (dir) == 0 || errno == ENOENT)
            break;
          if (errno != EBUSY)
            return berth_error (err, errno, "rmdir `%s`", dir);
          if (kill_procs)
            {
              pid_t *pids = NULL;
              size_t n = 0;
              berth_err_t e2 = NULL;
              if (read_pids (dir, &pids, &n, &e2) == 0)
                for (size_t k = 0; k < n; k++)
                  kill (pids[k], SIGKILL);
              berth_error_release (&e2);
              free (pids);
            }
          nanosleep (&ts, NULL);
        }
      if (access (dir, F_OK) == 0)
        return berth_error (err, EBUSY, "rmdir `%s`", dir);
    }
  berth_cgroup_free (cg);
  return 0;
}

int
berth_cgroup_freeze (struct berth_cgroup *cg, bool frozen, berth_err_t *err)
{
  const char *dir;
  if (cg->mode == CGROUP_V2)
    return cg_write (cg->dirs[0].path, "cgroup.freeze", frozen ? "1" : "0", err);
  if (need_dir (cg, "freezer", "pause", &dir, err) < 0)
    return -1;
  if (cg_write (dir, "freezer.state", frozen ? "FROZEN" : "THAWED", err) < 0)
    return -1;
  /* FREEZING is transitional: wait until the kernel says FROZEN. */
  for (int i = 0; frozen && i < 1000; i++)
    {
      cleanup_free char *state = NULL;
      cleanup_free char *p = xasprintf ("%s/freezer.state", dir);
      struct timespec ts = { 0, 1000 * 1000 };
      if (read_file_at (AT_FDCWD, p, &state, NULL, err) < 0)
        return -1;
      if (str_has_prefix (state, "FROZEN"))
        return 0;
      nanosleep (&ts, NULL);
    }
  return 0;
}

int
berth_cgroup_is_frozen (struct berth_cgroup *cg)
{
  cleanup_free char *state = NULL;
  cleanup_free char *p = NULL;
  berth_err_t err = NULL;
  const char *dir;
  if (cg->mode == CGROUP_V2)
    {
      p = xasprintf ("%s/cgroup.events", cg->dirs[0].path);
      if (read_file_at (AT_FDCWD, p, &state, NULL, &err) < 0)
        {
          berth_error_release (&err);
          return 0;
        }
      return strstr (state, "frozen 1") != NULL;
    }
  dir = berth_cgroup_dir_for (cg, "freezer");
  if (dir == NULL)
    return 0;
  p = xasprintf ("%s/freezer.state", dir);
  if (read_file_at (AT_FDCWD, p, &state, NULL, &err) < 0)
    {
      berth_error_release (&err);
      return 0;
    }
  return str_has_prefix (state, "FROZEN");
}

static int
oom_open (const char *dir, bool v2)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, v2 ? "memory.events" : "memory.oom_control");
  return open (p, O_RDONLY | O_CLOEXEC);
}

static long
oom_read (int fd)
{
  char buf[512];
  ssize_t n = fd < 0 ? -1 : pread (fd, buf, sizeof (buf) - 1, 0);
  const char *k;
  if (n < 0)
    return -1;
  buf[n] = '\0';
  for (k = buf; (k = strstr (k, "oom_kill ")); k++)
    if (k == buf || k[-1] == '\n')
      return strtol (k + strlen ("oom_kill "), NULL, 10);
  return 0;
}

void
berth_cgroup_oom_watch (struct berth_cgroup *cg, struct berth_oom_watch *w)
{
  bool v2 = cg->mode == CGROUP_V2;
  const char *dir = berth_cgroup_dir_for (cg, v2 ? "" : "memory");
  *w = (struct berth_oom_watch)BERTH_OOM_WATCH_INIT;
  if (dir == NULL)
    return;
  w->fd = oom_open (dir, v2);
  if (w->fd >= 0 && v2)
    {
      cleanup_free char *parent = xstrdup (dir);
      char *slash = strrchr (parent, '/');
      if (slash && slash != parent)
        {
          *slash = '\0';
          w->parent_fd = oom_open (parent, true);
        }
    }
  berth_oom_watch_update (w);
}

void
berth_oom_watch_update (struct berth_oom_watch *w)
{
  long n = -1, p = -1, p2;
  if (w->fd < 0)
    return;
  p2 = oom_read (w->parent_fd);
  /* The parent read on both sides, so that a kill between the reads
     cannot skew BASE. */
  for (int tries = 0; tries < 3 && (tries == 0 || p != p2); tries++)
    {
      p = p2;
      n = oom_read (w->fd);
      p2 = oom_read (w->parent_fd);
    }
  if (p2 < 0 && w->parent_fd >= 0)
    {
      close (w->parent_fd);
      w->parent_fd = -1;
    }
  if (n >= 0)
    {
      if (n > w->kills)
        w->kills = n;
      if (p >= 0 && p == p2)
        w->base = p - n;
      return;
    }
  if (p2 >= 0 && w->base >= 0 && p2 - w->base > w->kills)
    w->kills = p2 - w->base;
  w->gone = true;
  berth_oom_watch_close (w);
}

void
berth_oom_watch_close (struct berth_oom_watch *w)
{
  if (w->fd >= 0)
    close (w->fd);
  if (w->parent_fd >= 0)
    close (w->parent_fd);
  w->fd = w->parent_fd = -1;
}

long
berth_cgroup_oom_kills (struct berth_cgroup *cg)
{
  bool v2 = cg->mode == CGROUP_V2;
  const char *dir = berth_cgroup_dir_for (cg, v2 ? "" : "memory");
  cleanup_close int fd = dir ? oom_open (dir, v2) : -1;
  long n = oom_read (fd);
  /* systemd removes a scope's cgroup with its last process, an OOM-killed
     one too, and keeps the scope as failed with the result "oom-kill"
     until it is reset (delete does): ask it. */
  if (n < 0 && cg->unit && cg->mode == CGROUP_V2)
    n = berth_systemd_oom_result (cg);
  return n;
}

json_t *
berth_cgroup_to_json (struct berth_cgroup *cg)
{
  json_t *dirs = json_array ();
  for (size_t i = 0; i < cg->n_dirs; i++)
    json_array_append_new (dirs,
                           json_pack ("{s:s,s:s}", "controllers", cg->dirs[i].controllers, "path", cg->dirs[i].path));
  json_t *j = json_pack ("{s:i,s:s,s:o}", "mode", cg->mode, "path", cg->rel_path, "dirs", dirs);
  if (cg->unit)
    {
      json_object_set_new (j, "unit", json_string (cg->unit));
      json_object_set_new (j, "slice", json_string (cg->slice));
    }
  return j;
}

int
berth_cgroup_from_json (json_t *j, struct berth_cgroup **out, berth_err_t *err)
{
  struct berth_cgroup *cg = xcalloc (1, sizeof (*cg));
  json_t *dirs = json_object_get (j, "dirs"), *d;
  size_t i;
  cg->mode = (int)json_integer_value (json_object_get (j, "mode"));
  cg->rel_path = xstrdup (json_string_value (json_object_get (j, "path")) ?: "");
  if (json_string_value (json_object_get (j, "unit")))
    {
      const char *unit = json_string_value (json_object_get (j, "unit"));
      const char *slice = json_string_value (json_object_get (j, "slice"));
      if (slice == NULL || strchr (unit, '/') || strchr (slice, '/') || strlen (unit) < strlen (".scope")
          || strcmp (unit + strlen (unit) - strlen (".scope"), ".scope") != 0)
        {
          berth_cgroup_free (cg);
          return berth_error (err, 0, "state: malformed systemd unit in the cgroup entry");
        }
      cg->unit = xstrdup (unit);
      cg->slice = xstrdup (slice);
    }
  cg->dirs = xcalloc (json_array_size (dirs) + 1, sizeof (*cg->dirs));
  json_array_foreach (dirs, i, d)
  {
    const char *c = json_string_value (json_object_get (d, "controllers"));
    const char *p = json_string_value (json_object_get (d, "path"));
    if (c == NULL || p == NULL || !str_has_prefix (p, CGROUP_ROOT "/"))
      {
        berth_cgroup_free (cg);
        return berth_error (err, 0, "state: malformed cgroup entry %zu", i);
      }
    cg->dirs[cg->n_dirs].controllers = xstrdup (c);
    cg->dirs[cg->n_dirs].path = xstrdup (p);
    cg->n_dirs++;
  }
  *out = cg;
  return 0;
}

void
berth_cgroup_free (struct berth_cgroup *cg)
{
  if (cg == NULL)
    return;
  for (size_t i = 0; i < cg->n_dirs; i++)
    {
      free (cg->dirs[i].controllers);
      free (cg->dirs[i].path);
    }
  free (cg->dirs);
  free (cg->rel_path);
  free (cg->unit);
  free (cg->slice);
  json_decref (cg->pending);
  free (cg);
}

void
berth_cgroup_thaw_pid (pid_t pid)
{
  cleanup_free char *path = xasprintf ("/proc/%d/cgroup", (int)pid);
  cleanup_free char *text = NULL;
  berth_err_t e = NULL;
  char *save = NULL;
  if (read_file_at (AT_FDCWD, path, &text, NULL, &e) < 0)
    {
      berth_error_release (&e);
      return;
    }
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      /* "N:freezer:/path" (v1) or "0::/path" (v2, unified here or under
         /unified on a hybrid host). */
      char *c1 = strchr (line, ':'), *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
      cleanup_free char *dir = NULL;
      if (c2 == NULL || strstr (c2 + 1, "..") || c2[1] != '/')
        continue;
      *c2 = '\0';
      if (strcmp (c1 + 1, "freezer") == 0)
        {
          dir = xasprintf (CGROUP_ROOT "/freezer%s", c2 + 1);
          cg_write (dir, "freezer.state", "THAWED", &e);
        }
      else if (c1[1] == '\0')
        {
          dir = xasprintf ("%s%s", berth_cgroup_mode () == CGROUP_V2 ? CGROUP_ROOT : CGROUP_ROOT "/unified", c2 + 1);
          if (cg_file_exists (dir, "cgroup.freeze"))
            cg_write (dir, "cgroup.freeze", "0", &e);
        }
      berth_error_release (&e);
    }
}
