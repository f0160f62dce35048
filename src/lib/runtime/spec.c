#include "lib/runtime/spec.h"
#include "lib/runtime/spec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "lib/base/nscall.h"
#include "lib/base/utils.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

/* ------------------------------------------------------------------ mounts */

static const struct
{
  const char *name;
  bool clear;
  unsigned long flag;
} mount_flags[] = {
  { "defaults", false, 0 },
  { "ro", false, MS_RDONLY },
  { "rw", true, MS_RDONLY },
  { "suid", true, MS_NOSUID },
  { "nosuid", false, MS_NOSUID },
  { "dev", true, MS_NODEV },
  { "nodev", false, MS_NODEV },
  { "exec", true, MS_NOEXEC },
  { "noexec", false, MS_NOEXEC },
  { "sync", false, MS_SYNCHRONOUS },
  { "async", true, MS_SYNCHRONOUS },
  { "dirsync", false, MS_DIRSYNC },
  { "remount", false, MS_REMOUNT },
  { "mand", false, MS_MANDLOCK },
  { "nomand", true, MS_MANDLOCK },
  { "atime", true, MS_NOATIME },
  { "noatime", false, MS_NOATIME },
  { "diratime", true, MS_NODIRATIME },
  { "nodiratime", false, MS_NODIRATIME },
  { "relatime", false, MS_RELATIME },
  { "norelatime", true, MS_RELATIME },
  { "strictatime", false, MS_STRICTATIME },
  { "nostrictatime", true, MS_STRICTATIME },
  { "lazytime", false, MS_LAZYTIME },
  { "nolazytime", true, MS_LAZYTIME },
  { "symfollow", true, MS_NOSYMFOLLOW },
  { "nosymfollow", false, MS_NOSYMFOLLOW },
};

static const struct
{
  const char *name;
  unsigned long flag;
} propagation_flags[] = {
  { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
  { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
  { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
  { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

int
berth_parse_mount_options (struct berth_mount *m, const char *path, berth_err_t *err)
{
  size_t data_len = 0;
  cleanup_free char *data = NULL;

  if (m->type && (strcmp (m->type, "bind") == 0 || strcmp (m->type, "rbind") == 0))
    {
      m->bind = true;
      m->recursive = strcmp (m->type, "rbind") == 0;
    }
  for (size_t i = 0; m->options && m->options[i]; i++)
    {
      const char *o = m->options[i];
      size_t k;
      bool done = false;

      if (strcmp (o, "bind") == 0 || strcmp (o, "rbind") == 0)
        {
          m->bind = true;
          m->recursive |= o[0] == 'r';
          continue;
        }
      for (k = 0; k < ARRAY_SIZE (mount_flags) && !done; k++)
        if (strcmp (o, mount_flags[k].name) == 0)
          {
            if (mount_flags[k].clear)
              {
                m->flags &= ~mount_flags[k].flag;
                m->clear_flags |= mount_flags[k].flag;
              }
            else
              {
                m->flags |= mount_flags[k].flag;
                m->clear_flags &= ~mount_flags[k].flag;
              }
            done = true;
          }
      for (k = 0; k < ARRAY_SIZE (propagation_flags) && !done; k++)
        if (strcmp (o, propagation_flags[k].name) == 0)
          {
            m->propagation = propagation_flags[k].flag;
            done = true;
          }
      if (done)
        continue;
      if (strcmp (o, "idmap") == 0 || strcmp (o, "ridmap") == 0 || strcmp (o, "rro") == 0 || strcmp (o, "rrw") == 0)
        return berth_error (err, 0, "%s.options[%zu]: mount option \"%s\" is not supported", path, i, o);
      if (o[0] == '\0')
        return berth_error (err, 0, "%s.options[%zu]: empty mount option", path, i);
      /* Anything else is file-system data (mode=755, size=64k, newinstance). */
      data = xrealloc (data, data_len + strlen (o) + 2);
      if (data_len)
        data[data_len++] = ',';
      strcpy (data + data_len, o);
      data_len += strlen (o);
    }
  m->readonly = (m->flags & MS_RDONLY) != 0;
  m->data = steal_pointer (&data);
  return 0;
}

static void
mount_free (struct berth_mount *m)
{
  free (m->destination);
  free (m->type);
  free (m->source);
  strv_free (m->options);
  free (m->data);
}

static int
parse_mounts (json_t *root, struct berth_spec *spec, berth_err_t *err)
{
  json_t *arr, *v;
  size_t i;
  int ret = spec_get_array (root, "mounts", "", &arr, err);
  if (ret <= 0)
    return ret;
  spec->mounts = xcalloc (json_array_size (arr), sizeof (*spec->mounts));
  json_array_foreach (arr, i, v)
  {
    cleanup_free char *e = spec_elem ("mounts", i);
    struct berth_mount *m = &spec->mounts[spec->n_mounts];
    if (!json_is_object (v))
      return spec_type_error (e, "an object", v, err);
    spec->n_mounts++;
    if (spec_get_string (v, "destination", e, true, &m->destination, err) < 0
        || spec_get_string (v, "type", e, false, &m->type, err) < 0
        || spec_get_string (v, "source", e, false, &m->source, err) < 0
        || spec_get_strv (v, "options", e, &m->options, err) < 0)
      return -1;
    if (m->destination[0] != '/')
      return berth_error (err, 0, "%s.destination: \"%s\" is not an absolute path", e, m->destination);
    if (json_object_get (v, "uidMappings") || json_object_get (v, "gidMappings"))
      return berth_error (err, 0, "%s: idmapped mounts are not supported", e);
    if (berth_parse_mount_options (m, e, err) < 0)
      return -1;
    if (m->type == NULL && !m->bind)
      return berth_error (err, 0, "%s: a mount needs a type or the bind option", e);
    if (m->bind && (m->source == NULL || m->source[0] == '\0'))
      return berth_error (err, 0, "%s.source: a bind mount needs a source", e);
  }
  return 0;
}

/* ------------------------------------------------------------------- hooks */

static void
hook_free (struct berth_hook *h)
{
  free (h->path);
  strv_free (h->args);
  strv_free (h->env);
}

static int
parse_hooks (json_t *root, struct berth_spec *spec, berth_err_t *err)
{
  static const char *names[HOOK_KIND_COUNT]
      = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" };
  json_t *hooks, *arr, *v;
  size_t i;
  int ret = spec_get_object (root, "hooks", "", &hooks, err);
  if (ret <= 0)
    return ret;
  for (int k = 0; k < HOOK_KIND_COUNT; k++)
    {
      cleanup_free char *kp = spec_child ("hooks", names[k]);
      ret = spec_get_array (hooks, names[k], "hooks", &arr, err);
      if (ret < 0)
        return ret;
      if (ret == 0)
        continue;
      spec->hooks[k] = xcalloc (json_array_size (arr), sizeof (struct berth_hook));
      json_array_foreach (arr, i, v)
      {
        cleanup_free char *e = spec_elem (kp, i);
        struct berth_hook *h = &spec->hooks[k][spec->n_hooks[k]];
        int64_t t = 0;
        if (!json_is_object (v))
          return spec_type_error (e, "an object", v, err);
        spec->n_hooks[k]++;
        if (spec_get_string (v, "path", e, true, &h->path, err) < 0 || spec_get_strv (v, "args", e, &h->args, err) < 0
            || spec_get_strv (v, "env", e, &h->env, err) < 0)
          return -1;
        if (h->path[0] != '/')
          return berth_error (err, 0, "%s.path: \"%s\" is not an absolute path", e, h->path);
        ret = spec_get_int (v, "timeout", e, INT32_MIN, INT32_MAX, &t, err);
        if (ret < 0)
          return -1;
        if (ret > 0 && t <= 0)
          return berth_error (err, 0, "%s.timeout: must be greater than zero", e);
        h->timeout = (int)t;
      }
    }
  return 0;
}

/* ------------------------------------------------------------------- linux */

static const struct
{
  const char *name;
  int type;
} ns_names[] = {
  { "pid", CLONE_NEWPID }, { "network", CLONE_NEWNET }, { "mount", CLONE_NEWNS },      { "ipc", CLONE_NEWIPC },
  { "uts", CLONE_NEWUTS }, { "user", CLONE_NEWUSER },   { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

static int
parse_id_maps (json_t *lin, const char *key, struct berth_id_map **out, size_t *n, berth_err_t *err)
{
  json_t *arr, *v;
  size_t i;
  cleanup_free char *kp = spec_child ("linux", key);
  int ret = spec_get_array (lin, key, "linux", &arr, err);
  if (ret <= 0)
    return ret;
  *out = xcalloc (json_array_size (arr), sizeof (**out));
  json_array_foreach (arr, i, v)
  {
    cleanup_free char *e = spec_elem (kp, i);
    int64_t c = 0, h = 0, s = 0;
    if (!json_is_object (v))
      return spec_type_error (e, "an object", v, err);
    if (spec_get_int (v, "containerID", e, 0, UINT32_MAX, &c, err) <= 0
        || spec_get_int (v, "hostID", e, 0, UINT32_MAX, &h, err) <= 0
        || spec_get_int (v, "size", e, 1, UINT32_MAX, &s, err) <= 0)
      {
        if (*err)
          return -1;
        return berth_error (err, 0, "%s: containerID, hostID and size are required", e);
      }
    (*out)[*n].container_id = (uint32_t)c;
    (*out)[*n].host_id = (uint32_t)h;
    (*out)[*n].size = (uint32_t)s;
    (*n)++;
  }
  return 0;
}

static int
parse_devices (json_t *lin, struct berth_spec *spec, berth_err_t *err)
{
  json_t *arr, *v;
  size_t i;
  int ret = spec_get_array (lin, "devices", "linux", &arr, err);
  if (ret <= 0)
    return ret;
  spec->devices = xcalloc (json_array_size (arr), sizeof (*spec->devices));
  json_array_foreach (arr, i, v)
  {
    cleanup_free char *e = spec_elem ("linux.devices", i);
    cleanup_free char *type = NULL;
    struct berth_device *d = &spec->devices[spec->n_devices];
    int64_t n;
    if (!json_is_object (v))
      return spec_type_error (e, "an object", v, err);
    spec->n_devices++;
    if (spec_get_string (v, "type", e, true, &type, err) < 0 || spec_get_string (v, "path", e, true, &d->path, err) < 0)
      return -1;
    if (strlen (type) != 1 || strchr ("cbup", type[0]) == NULL)
      return berth_error (err, 0, "%s.type: unknown device type \"%s\"", e, type);
    d->type = type[0];
    if (d->path[0] != '/')
      return berth_error (err, 0, "%s.path: \"%s\" is not an absolute path", e, d->path);
    if (d->type != 'p')
      {
        if (spec_get_int (v, "major", e, 0, INT32_MAX, &d->major, err) <= 0
            || spec_get_int (v, "minor", e, 0, INT32_MAX, &d->minor, err) <= 0)
          {
            if (*err)
              return -1;
            return berth_error (err, 0, "%s: major and minor are required for type %c", e, d->type);
          }
      }
    ret = spec_get_int (v, "fileMode", e, 0, 07777, &n, err);
    if (ret < 0)
      return -1;
    d->has_mode = ret > 0;
    d->mode = (mode_t)n;
    ret = spec_get_int (v, "uid", e, 0, UINT32_MAX, &n, err);
    if (ret < 0)
      return -1;
    d->has_uid = ret > 0;
    d->uid = (uid_t)n;
    ret = spec_get_int (v, "gid", e, 0, UINT32_MAX, &n, err);
    if (ret < 0)
      return -1;
    d->has_gid = ret > 0;
    d->gid = (gid_t)n;
  }
  return 0;
}

static int
parse_time_offsets (json_t *lin, struct berth_spec *spec, berth_err_t *err)
{
  json_t *offs, *clk;
  int64_t n;
  int ret = spec_get_object (lin, "timeOffsets", "linux", &offs, err);
  if (ret <= 0)
    return ret;
  spec->has_time_offsets = true;
  for (int k = 0; k < 2; k++)
    {
      const char *name = k == 0 ? "boottime" : "monotonic";
      cleanup_free char *cp = spec_child ("linux.timeOffsets", name);
      int64_t *secs = k == 0 ? &spec->boottime_secs : &spec->monotonic_secs;
      uint32_t *nsecs = k == 0 ? &spec->boottime_nsecs : &spec->monotonic_nsecs;
      if (spec_get_object (offs, name, "linux.timeOffsets", &clk, err) < 0)
        return -1;
      if (clk == NULL)
        continue;
      if (spec_get_int (clk, "secs", cp, INT64_MIN, INT64_MAX, secs, err) < 0)
        return -1;
      if (spec_get_int (clk, "nanosecs", cp, 0, 999999999, &n, err) < 0)
        return -1;
      *nsecs = json_object_get (clk, "nanosecs") ? (uint32_t)n : 0;
    }
  return 0;
}

static int
parse_linux (json_t *root, struct berth_spec *spec, berth_err_t *err)
{
  json_t *lin, *arr, *v, *obj;
  size_t i;
  const char *key;
  int ret = spec_get_object (root, "linux", "", &lin, err);
  if (ret <= 0)
    return ret;

  if (spec_get_array (lin, "namespaces", "linux", &arr, err) < 0)
    return -1;
  if (arr)
    {
      spec->namespaces = xcalloc (json_array_size (arr), sizeof (*spec->namespaces));
      json_array_foreach (arr, i, v)
      {
        cleanup_free char *e = spec_elem ("linux.namespaces", i);
        cleanup_free char *type = NULL;
        struct berth_namespace *ns = &spec->namespaces[spec->n_namespaces];
        size_t k;
        if (!json_is_object (v))
          return spec_type_error (e, "an object", v, err);
        if (spec_get_string (v, "type", e, true, &type, err) < 0
            || spec_get_string (v, "path", e, false, &ns->path, err) < 0)
          return -1;
        spec->n_namespaces++;
        for (k = 0; k < ARRAY_SIZE (ns_names); k++)
          if (strcmp (ns_names[k].name, type) == 0)
            break;
        if (k == ARRAY_SIZE (ns_names))
          return berth_error (err, 0, "%s.type: unknown namespace \"%s\"", e, type);
        ns->type = ns_names[k].type;
        for (size_t j = 0; j + 1 < spec->n_namespaces; j++)
          if (spec->namespaces[j].type == ns->type)
            return berth_error (err, 0, "%s.type: namespace \"%s\" is given twice", e, type);
        if (ns->path && ns->path[0] != '/')
          return berth_error (err, 0, "%s.path: \"%s\" is not an absolute path", e, ns->path);
      }
    }
  if (parse_id_maps (lin, "uidMappings", &spec->uid_maps, &spec->n_uid_maps, err) < 0
      || parse_id_maps (lin, "gidMappings", &spec->gid_maps, &spec->n_gid_maps, err) < 0)
    return -1;
  if (spec_get_string (lin, "cgroupsPath", "linux", false, &spec->cgroups_path, err) < 0)
    return -1;
  if (spec_get_object (lin, "resources", "linux", &spec->resources, err) < 0)
    return -1;
  if (spec_get_object (lin, "seccomp", "linux", &spec->seccomp, err) < 0)
    return -1;
  if (spec_get_object (lin, "sysctl", "linux", &obj, err) < 0)
    return -1;
  if (obj)
    {
      spec->sysctls = xcalloc (json_object_size (obj), sizeof (*spec->sysctls));
      json_object_foreach (obj, key, v)
      {
        if (!json_is_string (v))
          {
            cleanup_free char *kp = xasprintf ("linux.sysctl[\"%s\"]", key);
            return spec_type_error (kp, "a string", v, err);
          }
        spec->sysctls[spec->n_sysctls].key = xstrdup (key);
        spec->sysctls[spec->n_sysctls].value = xstrdup (json_string_value (v));
        spec->n_sysctls++;
      }
    }
  if (spec_get_string (lin, "rootfsPropagation", "linux", false, &spec->rootfs_propagation, err) < 0)
    return -1;
  if (spec->rootfs_propagation)
    {
      bool ok = false;
      for (size_t k = 0; k < ARRAY_SIZE (propagation_flags); k++)
        ok |= strcmp (spec->rootfs_propagation, propagation_flags[k].name) == 0;
      if (!ok)
        return berth_error (err, 0, "linux.rootfsPropagation: unknown propagation \"%s\"", spec->rootfs_propagation);
    }
  if (spec_get_strv (lin, "maskedPaths", "linux", &spec->masked_paths, err) < 0
      || spec_get_strv (lin, "readonlyPaths", "linux", &spec->readonly_paths, err) < 0)
    return -1;
  if (parse_devices (lin, spec, err) < 0 || parse_time_offsets (lin, spec, err) < 0)
    return -1;
  if (spec_get_string (lin, "mountLabel", "linux", false, &spec->mount_label, err) < 0)
    return -1;
  return 0;
}

int
berth_spec_has_namespace (const struct berth_spec *spec, int type, const char **path)
{
  for (size_t i = 0; i < spec->n_namespaces; i++)
    if (spec->namespaces[i].type == type)
      {
        if (path)
          *path = spec->namespaces[i].path;
        return 1;
      }
  if (path)
    *path = NULL;
  return 0;
}

/* Cross-field rules of the spec. */
static int
validate (struct berth_spec *spec, berth_err_t *err)
{
  const char *p;
  bool userns = berth_spec_has_namespace (spec, CLONE_NEWUSER, &p);
  bool new_userns = userns && p == NULL;
  bool uts = berth_spec_has_namespace (spec, CLONE_NEWUTS, &p);

  if (spec->hostname && spec->hostname[0] && !uts)
    return berth_error (err, 0, "hostname: setting a hostname needs a new uts namespace in linux.namespaces");
  if (spec->domainname && spec->domainname[0] && !uts)
    return berth_error (err, 0, "domainname: setting a domainname needs a new uts namespace in linux.namespaces");
  if (new_userns && (spec->n_uid_maps == 0 || spec->n_gid_maps == 0))
    return berth_error (err, 0, "linux.uidMappings: a new user namespace needs uid and gid mappings");
  if (!userns && (spec->n_uid_maps || spec->n_gid_maps))
    return berth_error (err, 0, "linux.uidMappings: mappings are given but there is no user namespace");
  if (spec->has_time_offsets && !berth_spec_has_namespace (spec, CLONE_NEWTIME, NULL))
    return berth_error (err, 0, "linux.timeOffsets: time offsets need a time namespace");
  return 0;
}

void
berth_spec_free (struct berth_spec *spec)
{
  if (spec == NULL)
    return;
  free (spec->oci_version);
  free (spec->root_path);
  free (spec->hostname);
  free (spec->domainname);
  berth_process_free (spec->process);
  for (size_t i = 0; i < spec->n_mounts; i++)
    mount_free (&spec->mounts[i]);
  free (spec->mounts);
  for (int k = 0; k < HOOK_KIND_COUNT; k++)
    {
      for (size_t i = 0; i < spec->n_hooks[k]; i++)
        hook_free (&spec->hooks[k][i]);
      free (spec->hooks[k]);
    }
  for (size_t i = 0; i < spec->n_namespaces; i++)
    free (spec->namespaces[i].path);
  free (spec->namespaces);
  free (spec->uid_maps);
  free (spec->gid_maps);
  free (spec->cgroups_path);
  for (size_t i = 0; i < spec->n_sysctls; i++)
    {
      free (spec->sysctls[i].key);
      free (spec->sysctls[i].value);
    }
  free (spec->sysctls);
  free (spec->rootfs_propagation);
  strv_free (spec->masked_paths);
  strv_free (spec->readonly_paths);
  for (size_t i = 0; i < spec->n_devices; i++)
    free (spec->devices[i].path);
  free (spec->devices);
  free (spec->mount_label);
  json_decref (spec->json);
  free (spec);
}

void
berth_spec_freep (struct berth_spec **spec)
{
  berth_spec_free (*spec);
}

int
berth_spec_from_json (json_t *root, struct berth_spec **out, berth_err_t *err)
{
  struct berth_spec *spec;
  json_t *r, *proc;

  if (!json_is_object (root))
    return berth_error (err, 0, "config.json: the top level must be an object");
  spec = xcalloc (1, sizeof (*spec));
  spec->json = json_incref (root);

  if (spec_get_string (root, "ociVersion", "", true, &spec->oci_version, err) < 0)
    goto fail;
  if (strncmp (spec->oci_version, "1.", 2) != 0)
    {
      berth_error (err, 0, "ociVersion: unsupported version \"%s\" (1.0 to 1.2 are)", spec->oci_version);
      goto fail;
    }
  if (spec_get_object (root, "root", "", &r, err) < 0)
    goto fail;
  if (r)
    {
      if (spec_get_string (r, "path", "root", true, &spec->root_path, err) < 0)
        goto fail;
      if (spec_get_bool (r, "readonly", "root", &spec->root_readonly, err) < 0)
        goto fail;
    }
  if (spec_get_string (root, "hostname", "", false, &spec->hostname, err) < 0
      || spec_get_string (root, "domainname", "", false, &spec->domainname, err) < 0)
    goto fail;
  if (spec_get_object (root, "process", "", &proc, err) < 0)
    goto fail;
  if (proc && berth_process_from_json (proc, "process", &spec->process, err) < 0)
    goto fail;
  if (spec_get_object (root, "annotations", "", &spec->annotations, err) < 0)
    goto fail;
  if (spec->annotations)
    {
      const char *k;
      json_t *v;
      json_object_foreach (spec->annotations, k, v) if (!json_is_string (v))
      {
        cleanup_free char *kp = xasprintf ("annotations[\"%s\"]", k);
        spec_type_error (kp, "a string", v, err);
        goto fail;
      }
    }
  if (parse_mounts (root, spec, err) < 0 || parse_hooks (root, spec, err) < 0 || parse_linux (root, spec, err) < 0
      || validate (spec, err) < 0)
    goto fail;
  *out = spec;
  return 0;

fail:
  berth_spec_free (spec);
  return -1;
}

/* jansson stops at INT64_MAX, but the spec's uint64 fields (rlimits,
   memory) may be written as 18446744073709551615.  Such numbers get a ".0"
   so they parse as reals, which get_u64 accepts. */
static char *
widen_big_integers (const char *text, size_t len, size_t *out_len)
{
  char *out = xmalloc (len + len / 8 + 16);
  size_t o = 0;
  bool in_string = false;
  for (size_t i = 0; i < len;)
    {
      char ch = text[i];
      if (in_string)
        {
          out[o++] = ch;
          if (ch == '\\' && i + 1 < len)
            out[o++] = text[++i];
          else if (ch == '"')
            in_string = false;
          i++;
          continue;
        }
      if (ch == '"')
        in_string = true;
      if (ch >= '0' && ch <= '9' && (i == 0 || strchr ("-+.eE0123456789", text[i - 1]) == NULL))
        {
          size_t j = i;
          while (j < len && text[j] >= '0' && text[j] <= '9')
            j++;
          memcpy (out + o, text + i, j - i);
          o += j - i;
          if (j - i >= 19 && (j >= len || strchr (".eE", text[j]) == NULL)
              && (j - i > 19 || memcmp (text + i, "9223372036854775807", 19) > 0))
            {
              out[o++] = '.';
              out[o++] = '0';
            }
          i = j;
          continue;
        }
      out[o++] = ch;
      i++;
    }
  *out_len = o;
  return out;
}

int
berth_spec_load_string (const char *text, size_t len, const char *name, struct berth_spec **out, berth_err_t *err)
{
  json_error_t jerr;
  size_t wlen;
  cleanup_free char *wide = widen_big_integers (text, len, &wlen);
  json_t *root = json_loadb (wide, wlen, JSON_REJECT_DUPLICATES, &jerr);
  int ret;
  if (root == NULL)
    return berth_error (err, 0, "%s: line %d column %d: %s", name, jerr.line, jerr.column, jerr.text);
  ret = berth_spec_from_json (root, out, err);
  json_decref (root);
  if (ret < 0)
    return berth_error_wrap (err, "%s", name);
  return 0;
}

int
berth_spec_load_file (const char *path, struct berth_spec **out, berth_err_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (read_file_at (AT_FDCWD, path, &text, &len, err) < 0)
    return -1;
  return berth_spec_load_string (text, len, path, out, err);
}

/* ------------------------------------------------------------- sysctls */

/* The namespace of TYPE the container has apart from the host's: a new
   one, or a path that is not ours (the runtime runs in the host's). */
static bool
own_namespace (const struct berth_spec *spec, int type)
{
  const char *path = NULL;
  cleanup_free char *mine = NULL;
  struct stat a, b;
  if (!berth_spec_has_namespace (spec, type, &path))
    return false;
  if (path == NULL)
    return true;
  mine = xasprintf ("/proc/self/ns/%s", berth_ns_proc_name (type));
  if (stat (path, &a) < 0 || stat (mine, &b) < 0)
    return true; /* joining it fails later, with its own error */
  return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

static bool
is_ipc_sysctl (const char *key)
{
  static const char *const keys[] = { "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced" };
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    if (strcmp (key, keys[i]) == 0)
      return true;
  return str_has_prefix (key, "fs.mqueue.");
}

int
berth_spec_check_sysctls (const struct berth_spec *spec, berth_err_t *err)
{
  for (size_t i = 0; i < spec->n_sysctls; i++)
    {
      const char *key = spec->sysctls[i].key, *value = spec->sysctls[i].value, *ns, *field = NULL;
      int type;
      if (is_ipc_sysctl (key))
        type = CLONE_NEWIPC, ns = "ipc";
      else if (str_has_prefix (key, "net."))
        type = CLONE_NEWNET, ns = "network";
      else if (strcmp (key, "kernel.hostname") == 0 || strcmp (key, "kernel.domainname") == 0)
        type = CLONE_NEWUTS, ns = "uts",
        field = strcmp (key, "kernel.hostname") == 0 ? spec->hostname : spec->domainname;
      else
        return berth_error (
            err, EPERM, "linux.sysctl[\"%s\"]: not in a separate kernel namespace: it would change the host's value",
            key);
      if (!own_namespace (spec, type))
        return berth_error (err, EPERM,
                            "linux.sysctl[\"%s\"]: not allowed in the host's %s namespace (the container has no %s "
                            "namespace of its own)",
                            key, ns, ns);
      if (field && *field && strcmp (field, value) != 0)
        return berth_error (err, EINVAL, "linux.sysctl[\"%s\"]: \"%s\" contradicts %s \"%s\"", key, value,
                            strcmp (key, "kernel.hostname") == 0 ? "hostname" : "domainname", field);
    }
  return 0;
}
