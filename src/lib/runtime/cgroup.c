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
      *out = xasprintf ("/berth/%s", id);
      return 0;
    }
  if (systemd && strchr (spec_path, ':'))
    {
      /* "slice:prefix:name" -> "/a.slice/a-b.slice/prefix-name.scope" */
      cleanup_free char *copy = xstrdup (spec_path);
      char *slice = copy, *prefix, *name, *c;
      cleanup_free char *expanded = xstrdup ("");
      prefix = strchr (slice, ':');
      *prefix++ = '\0';
      name = strchr (prefix, ':');
      if (name == NULL)
        return berth_error (err, 0, "linux.cgroupsPath: \"%s\" is not of the form slice:prefix:name", spec_path);
      *name++ = '\0';
      if (slice[0] == '\0')
        slice = (char *)"system.slice";
      if (strchr (slice, '/') || strchr (name, '/') || strchr (prefix, '/') || !strstr (slice, ".slice"))
        return berth_error (err, 0, "linux.cgroupsPath: invalid systemd path \"%s\"", spec_path);
      if (strcmp (slice, "-.slice") != 0)
        {
          /* Every dash-separated prefix of the slice name is a parent slice. */
          for (c = strchr (slice, '-'); c; c = strchr (c + 1, '-'))
            {
              char *n = xasprintf ("%s/%.*s.slice", expanded, (int)(c - slice), slice);
              free (expanded);
              expanded = n;
            }
          {
            char *n = xasprintf ("%s/%s", expanded, slice);
            free (expanded);
            expanded = n;
          }
        }
      *out = prefix[0] ? xasprintf ("%s/%s-%s.scope", expanded, prefix, name) : xasprintf ("%s/%s", expanded, name);
      return 0;
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

static int
cg_write (const char *dir, const char *file, const char *value, berth_err_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open `%s`", path);
  if (write (fd, value, strlen (value)) < 0)
    return berth_error (err, errno, "write `%s` to `%s`", value, path);
  return 0;
}

static int cg_writef (const char *dir, const char *file, berth_err_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
static int
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

static int
need_dir (struct berth_cgroup *cg, const char *controller, const char *field, const char **dir, berth_err_t *err)
{
  *dir = berth_cgroup_dir_for (cg, controller);
  if (*dir == NULL)
    return berth_error (err, 0, "%s: the %s cgroup controller is not available on this host", field, controller);
  return 0;
}

static bool
cg_file_exists (const char *dir, const char *file)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, file);
  return access (p, F_OK) == 0;
}

/* Signed integers in resources: jansson gives int64. */
static bool
res_int (json_t *obj, const char *key, int64_t *out)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL || !json_is_integer (v))
    return false;
  *out = json_integer_value (v);
  return true;
}

static int
check_types (json_t *res, berth_err_t *err)
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

/* ------------------------------------------------------------------ v1 */

static int
device_rule_string (json_t *rule, size_t i, char *buf, size_t len, bool *allow, berth_err_t *err)
{
  json_t *type = json_object_get (rule, "type"), *access = json_object_get (rule, "access");
  json_t *a = json_object_get (rule, "allow");
  int64_t major = -1, minor = -1;
  char smaj[24] = "*", smin[24] = "*";
  const char *t = "a", *acc = "rwm";

  if (!json_is_object (rule) || !json_is_boolean (a))
    return berth_error (err, 0, "linux.resources.devices[%zu]: expected an object with a boolean \"allow\"", i);
  *allow = json_is_true (a);
  if (type && !json_is_null (type))
    {
      t = json_string_value (type);
      if (t == NULL || strlen (t) != 1 || strchr ("abc", t[0]) == NULL)
        return berth_error (err, 0, "linux.resources.devices[%zu].type: must be \"a\", \"b\" or \"c\"", i);
    }
  if (access && !json_is_null (access))
    {
      acc = json_string_value (access);
      if (acc == NULL || acc[0] == '\0' || strspn (acc, "rwm") != strlen (acc))
        return berth_error (err, 0, "linux.resources.devices[%zu].access: must be made of r, w and m", i);
    }
  if (res_int (rule, "major", &major) && major >= 0)
    snprintf (smaj, sizeof (smaj), "%lld", (long long)major);
  if (res_int (rule, "minor", &minor) && minor >= 0)
    snprintf (smin, sizeof (smin), "%lld", (long long)minor);
  if (t[0] == 'a')
    snprintf (buf, len, "a");
  else
    snprintf (buf, len, "%s %s:%s %s", t, smaj, smin, acc);
  return 0;
}

/* Devices every container may use, appended after the spec's own rules as
   runc does, so that a spec starting with "deny all" still gets them. */
static const char *default_device_rules[] = {
  "c *:* m",   "b *:* m",   "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",   "c 1:8 rwm",
  "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
};

static int
apply_devices_v1 (const char *dir, json_t *devices, berth_err_t *err)
{
  json_t *rule;
  size_t i;
  if (cg_write (dir, "devices.deny", "a", err) < 0)
    return -1;
  json_array_foreach (devices, i, rule)
  {
    char buf[128];
    bool allow = false;
    if (device_rule_string (rule, i, buf, sizeof (buf), &allow, err) < 0)
      return -1;
    if (cg_write (dir, allow ? "devices.allow" : "devices.deny", buf, err) < 0)
      return -1;
  }
  for (i = 0; i < ARRAY_SIZE (default_device_rules); i++)
    if (cg_write (dir, "devices.allow", default_device_rules[i], err) < 0)
      return -1;
  return 0;
}

static int
apply_throttle_v1 (const char *dir, json_t *blkio, const char *key, const char *file, berth_err_t *err)
{
  json_t *arr = json_object_get (blkio, key), *d;
  size_t i;
  json_array_foreach (arr, i, d)
  {
    int64_t maj, min, rate;
    if (!res_int (d, "major", &maj) || !res_int (d, "minor", &min) || !res_int (d, "rate", &rate))
      return berth_error (err, 0, "linux.resources.blockIO.%s[%zu]: major, minor and rate are required", key, i);
    if (cg_writef (dir, file, err, "%lld:%lld %lld", (long long)maj, (long long)min, (long long)rate) < 0)
      return -1;
  }
  return 0;
}

static int
apply_v1 (struct berth_cgroup *cg, json_t *res, berth_err_t *err)
{
  json_t *o;
  int64_t v;
  const char *dir = NULL;

  if ((o = json_object_get (res, "memory")))
    {
      int64_t limit = 0, swap = 0;
      bool has_limit = res_int (o, "limit", &limit), has_swap = res_int (o, "swap", &swap);
      if (need_dir (cg, "memory", "linux.resources.memory", &dir, err) < 0)
        return -1;
      if (res_int (o, "reservation", &v)
          && cg_writef (dir, "memory.soft_limit_in_bytes", err, "%lld", (long long)v) < 0)
        return -1;
      /* memsw must never be below the memory limit: write in the order that
         keeps that true. */
      if (has_limit && cg_writef (dir, "memory.limit_in_bytes", err, "%lld", (long long)limit) < 0)
        {
          if (!has_swap)
            return -1;
          berth_error_release (err);
          if (cg_writef (dir, "memory.memsw.limit_in_bytes", err, "%lld", (long long)swap) < 0
              || cg_writef (dir, "memory.limit_in_bytes", err, "%lld", (long long)limit) < 0)
            return -1;
          has_swap = false;
        }
      if (has_swap)
        {
          if (!cg_file_exists (dir, "memory.memsw.limit_in_bytes"))
            return berth_error (err, 0, "linux.resources.memory.swap: swap accounting is not enabled on this host");
          if (cg_writef (dir, "memory.memsw.limit_in_bytes", err, "%lld", (long long)swap) < 0)
            return -1;
        }
      if (res_int (o, "kernel", &v) && cg_writef (dir, "memory.kmem.limit_in_bytes", err, "%lld", (long long)v) < 0)
        return -1;
      if (res_int (o, "kernelTCP", &v)
          && cg_writef (dir, "memory.kmem.tcp.limit_in_bytes", err, "%lld", (long long)v) < 0)
        return -1;
      if (res_int (o, "swappiness", &v) && v >= 0
          && cg_writef (dir, "memory.swappiness", err, "%lld", (long long)v) < 0)
        return -1;
      if (json_is_true (json_object_get (o, "disableOOMKiller")) && cg_write (dir, "memory.oom_control", "1", err) < 0)
        return -1;
    }
  if ((o = json_object_get (res, "cpu")))
    {
      json_t *s;
      bool any = res_int (o, "shares", &v) || res_int (o, "quota", &v) || res_int (o, "period", &v)
                 || res_int (o, "realtimeRuntime", &v) || res_int (o, "realtimePeriod", &v);
      if (any && need_dir (cg, "cpu", "linux.resources.cpu", &dir, err) < 0)
        return -1;
      if (res_int (o, "shares", &v) && v > 0 && cg_writef (dir, "cpu.shares", err, "%lld", (long long)v) < 0)
        return -1;
      if (res_int (o, "period", &v) && v > 0 && cg_writef (dir, "cpu.cfs_period_us", err, "%lld", (long long)v) < 0)
        return -1;
      if (res_int (o, "quota", &v) && v != 0 && cg_writef (dir, "cpu.cfs_quota_us", err, "%lld", (long long)v) < 0)
        return -1;
      if (res_int (o, "realtimePeriod", &v) && v > 0
          && cg_writef (dir, "cpu.rt_period_us", err, "%lld", (long long)v) < 0)
        return -1;
      if (res_int (o, "realtimeRuntime", &v) && v != 0
          && cg_writef (dir, "cpu.rt_runtime_us", err, "%lld", (long long)v) < 0)
        return -1;
      if ((s = json_object_get (o, "cpus")) && json_string_value (s) && json_string_value (s)[0])
        {
          if (need_dir (cg, "cpuset", "linux.resources.cpu.cpus", &dir, err) < 0
              || cg_write (dir, "cpuset.cpus", json_string_value (s), err) < 0)
            return -1;
        }
      if ((s = json_object_get (o, "mems")) && json_string_value (s) && json_string_value (s)[0])
        {
          if (need_dir (cg, "cpuset", "linux.resources.cpu.mems", &dir, err) < 0
              || cg_write (dir, "cpuset.mems", json_string_value (s), err) < 0)
            return -1;
        }
    }
  if ((o = json_object_get (res, "pids")) && res_int (o, "limit", &v))
    {
      if (need_dir (cg, "pids", "linux.resources.pids", &dir, err) < 0)
        return -1;
      if (v > 0 ? cg_writef (dir, "pids.max", err, "%lld", (long long)v) < 0
                : cg_write (dir, "pids.max", "max", err) < 0)
        return -1;
    }
  if ((o = json_object_get (res, "blockIO")))
    {
      json_t *wd, *d;
      size_t i;
      if (need_dir (cg, "blkio", "linux.resources.blockIO", &dir, err) < 0)
        return -1;
      /* 0 is "unset" to Docker, which always sends it, and to runc. */
      if (res_int (o, "weight", &v) && v != 0)
        {
          const char *f = cg_file_exists (dir, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
          if (!cg_file_exists (dir, f))
            return berth_error (err, 0,
                                "linux.resources.blockIO.weight: this kernel has no blkio weight (no CFQ or BFQ)");
          if (cg_writef (dir, f, err, "%lld", (long long)v) < 0)
            return -1;
        }
      if (res_int (o, "leafWeight", &v) && v != 0
          && cg_writef (dir, "blkio.leaf_weight", err, "%lld", (long long)v) < 0)
        return -1;
      wd = json_object_get (o, "weightDevice");
      json_array_foreach (wd, i, d)
      {
        int64_t maj, min, w;
        if (!res_int (d, "major", &maj) || !res_int (d, "minor", &min))
          return berth_error (err, 0, "linux.resources.blockIO.weightDevice[%zu]: major and minor are required", i);
        if (res_int (d, "weight", &w)
            && cg_writef (dir, "blkio.weight_device", err, "%lld:%lld %lld", (long long)maj, (long long)min,
                          (long long)w)
                   < 0)
          return -1;
        if (res_int (d, "leafWeight", &w)
            && cg_writef (dir, "blkio.leaf_weight_device", err, "%lld:%lld %lld", (long long)maj, (long long)min,
                          (long long)w)
                   < 0)
          return -1;
      }
      if (apply_throttle_v1 (dir, o, "throttleReadBpsDevice", "blkio.throttle.read_bps_device", err) < 0
          || apply_throttle_v1 (dir, o, "throttleWriteBpsDevice", "blkio.throttle.write_bps_device", err) < 0
          || apply_throttle_v1 (dir, o, "throttleReadIOPSDevice", "blkio.throttle.read_iops_device", err) < 0
          || apply_throttle_v1 (dir, o, "throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", err) < 0)
        return -1;
    }
  if ((o = json_object_get (res, "hugepageLimits")) && json_array_size (o))
    {
      json_t *h;
      size_t i;
      if (need_dir (cg, "hugetlb", "linux.resources.hugepageLimits", &dir, err) < 0)
        return -1;
      json_array_foreach (o, i, h)
      {
        const char *size = json_string_value (json_object_get (h, "pageSize"));
        cleanup_free char *file = NULL;
        int64_t limit;
        if (size == NULL || !res_int (h, "limit", &limit) || strchr (size, '/'))
          return berth_error (err, 0, "linux.resources.hugepageLimits[%zu]: pageSize and limit are required", i);
        file = xasprintf ("hugetlb.%s.limit_in_bytes", size);
        if (cg_writef (dir, file, err, "%lld", (long long)limit) < 0)
          return -1;
      }
    }
  if ((o = json_object_get (res, "network")))
    {
      json_t *prios = json_object_get (o, "priorities"), *p;
      size_t i;
      if (res_int (o, "classID", &v))
        {
          if (need_dir (cg, "net_cls", "linux.resources.network.classID", &dir, err) < 0
              || cg_writef (dir, "net_cls.classid", err, "%lld", (long long)v) < 0)
            return -1;
        }
      json_array_foreach (prios, i, p)
      {
        const char *name = json_string_value (json_object_get (p, "name"));
        int64_t prio;
        if (name == NULL || !res_int (p, "priority", &prio))
          return berth_error (err, 0, "linux.resources.network.priorities[%zu]: name and priority are required", i);
        if (need_dir (cg, "net_prio", "linux.resources.network.priorities", &dir, err) < 0
            || cg_writef (dir, "net_prio.ifpriomap", err, "%s %lld", name, (long long)prio) < 0)
          return -1;
      }
    }
  if ((o = json_object_get (res, "devices")) && (dir = berth_cgroup_dir_for (cg, "devices")))
    if (apply_devices_v1 (dir, o, err) < 0)
      return -1;
  return 0;
}

/* ------------------------------------------------------------------ v2 */

static int
apply_io_max (const char *dir, json_t *blkio, const char *key, const char *what, berth_err_t *err)
{
  json_t *arr = json_object_get (blkio, key), *d;
  size_t i;
  json_array_foreach (arr, i, d)
  {
    int64_t maj, min, rate;
    if (!res_int (d, "major", &maj) || !res_int (d, "minor", &min) || !res_int (d, "rate", &rate))
      return berth_error (err, 0, "linux.resources.blockIO.%s[%zu]: major, minor and rate are required", key, i);
    if (cg_writef (dir, "io.max", err, "%lld:%lld %s=%lld", (long long)maj, (long long)min, what, (long long)rate) < 0)
      return -1;
  }
  return 0;
}

static int
apply_v2 (struct berth_cgroup *cg, json_t *res, berth_err_t *err)
{
  const char *dir = cg->dirs[0].path;
  json_t *o, *s;
  int64_t v;

  if ((o = json_object_get (res, "memory")))
    {
      int64_t limit = -1, swap;
      bool has_limit = res_int (o, "limit", &limit);
      if (has_limit
          && (limit > 0 ? cg_writef (dir, "memory.max", err, "%lld", (long long)limit) < 0
                        : cg_write (dir, "memory.max", "max", err) < 0))
        return -1;
      if (res_int (o, "reservation", &v) && cg_writef (dir, "memory.low", err, "%lld", (long long)v) < 0)
        return -1;
      if (res_int (o, "swap", &swap))
        {
          /* The spec's swap is memory+swap, v2's swap.max is swap alone. */
          if (swap == -1)
            {
              if (cg_write (dir, "memory.swap.max", "max", err) < 0)
                return -1;
            }
          else if (!has_limit || limit <= 0 || swap < limit)
            return berth_error (err, 0, "linux.resources.memory.swap: must be at least memory.limit");
          else if (cg_writef (dir, "memory.swap.max", err, "%lld", (long long)(swap - limit)) < 0)
            return -1;
        }
      if (res_int (o, "kernel", &v) || res_int (o, "kernelTCP", &v))
        return berth_error (err, 0, "linux.resources.memory.kernel: kernel memory limits do not exist on cgroup v2");
      if (json_is_true (json_object_get (o, "disableOOMKiller")))
        return berth_error (err, 0, "linux.resources.memory.disableOOMKiller: not supported on cgroup v2");
    }
  if ((o = json_object_get (res, "cpu")))
    {
      int64_t quota = 0, period = 0;
      bool hq = res_int (o, "quota", &quota), hp = res_int (o, "period", &period);
      if (res_int (o, "shares", &v) && v > 0)
        {
          /* runc's conversion of [2, 262144] shares to [1, 10000] weight. */
          uint64_t w = 1 + (((uint64_t)v - 2) * 9999) / 262142;
          if (cg_writef (dir, "cpu.weight", err, "%llu", (unsigned long long)w) < 0)
            return -1;
        }
      if (hq || hp)
        {
          if (!hp || period <= 0)
            period = 100000;
          if (hq && quota > 0 ? cg_writef (dir, "cpu.max", err, "%lld %lld", (long long)quota, (long long)period) < 0
                              : cg_writef (dir, "cpu.max", err, "max %lld", (long long)period) < 0)
            return -1;
        }
      if ((s = json_object_get (o, "cpus")) && json_string_value (s) && json_string_value (s)[0]
          && cg_write (dir, "cpuset.cpus", json_string_value (s), err) < 0)
        return -1;
      if ((s = json_object_get (o, "mems")) && json_string_value (s) && json_string_value (s)[0]
          && cg_write (dir, "cpuset.mems", json_string_value (s), err) < 0)
        return -1;
    }
  if ((o = json_object_get (res, "pids")) && res_int (o, "limit", &v))
    if (v > 0 ? cg_writef (dir, "pids.max", err, "%lld", (long long)v) < 0 : cg_write (dir, "pids.max", "max", err) < 0)
      return -1;
  if ((o = json_object_get (res, "blockIO")))
    {
      json_t *wd, *d;
      size_t i;
      if (res_int (o, "weight", &v) && v != 0)
        {
          const char *f = cg_file_exists (dir, "io.bfq.weight") ? "io.bfq.weight" : "io.weight";
          if (cg_writef (dir, f, err, "%lld", (long long)v) < 0)
            return -1;
        }
      wd = json_object_get (o, "weightDevice");
      json_array_foreach (wd, i, d)
      {
        int64_t maj, min, w;
        if (res_int (d, "major", &maj) && res_int (d, "minor", &min) && res_int (d, "weight", &w)
            && cg_writef (dir, "io.weight", err, "%lld:%lld %lld", (long long)maj, (long long)min, (long long)w) < 0)
          return -1;
      }
      if (apply_io_max (dir, o, "throttleReadBpsDevice", "rbps", err) < 0
          || apply_io_max (dir, o, "throttleWriteBpsDevice", "wbps", err) < 0
          || apply_io_max (dir, o, "throttleReadIOPSDevice", "riops", err) < 0
          || apply_io_max (dir, o, "throttleWriteIOPSDevice", "wiops", err) < 0)
        return -1;
    }
  if ((o = json_object_get (res, "hugepageLimits")))
    {
      json_t *h;
      size_t i;
      json_array_foreach (o, i, h)
      {
        const char *size = json_string_value (json_object_get (h, "pageSize"));
        cleanup_free char *file = NULL;
        int64_t limit;
        if (size == NULL || !res_int (h, "limit", &limit) || strchr (size, '/'))
          return berth_error (err, 0, "linux.resources.hugepageLimits[%zu]: pageSize and limit are required", i);
        file = xasprintf ("hugetlb.%s.max", size);
        if (cg_writef (dir, file, err, "%lld", (long long)limit) < 0)
          return -1;
      }
    }
  if ((o = json_object_get (res, "network")) && json_object_size (o))
    return berth_error (err, 0, "linux.resources.network: net_cls and net_prio do not exist on cgroup v2");
  if ((o = json_object_get (res, "unified")))
    {
      const char *k;
      json_t *val;
      json_object_foreach (o, k, val)
      {
        if (!json_is_string (val))
          return berth_error (err, 0, "linux.resources.unified[\"%s\"]: expected a string", k);
        if (strchr (k, '/') || k[0] == '.' || k[0] == '\0')
          return berth_error (err, 0, "linux.resources.unified[\"%s\"]: not a cgroup file name", k);
        if (cg_write (dir, k, json_string_value (val), err) < 0)
          return -1;
      }
    }
  if ((o = json_object_get (res, "devices")))
    {
      if (berth_cgroup_bpf_devices (dir, o, default_device_rules, ARRAY_SIZE (default_device_rules), err) < 0)
        return -1;
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
      if (v2)
        {
          /* Controllers must be enabled in every ancestor. */
          cleanup_free char *ctrls = NULL;
          cleanup_free char *cf = xasprintf ("%s/cgroup.controllers", path);
          if (read_file_at (AT_FDCWD, cf, &ctrls, NULL, err) == 0)
            {
              char *save = NULL;
              for (char *c = strtok_r (ctrls, " \n", &save); c; c = strtok_r (NULL, " \n", &save))
                {
                  cleanup_free char *plus = xasprintf ("+%s", c);
                  if (cg_write (path, "cgroup.subtree_control", plus, err) < 0)
                    berth_error_release (err);
                }
            }
          else
            berth_error_release (err);
        }
      *s = '/';
    }
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return berth_error (err, errno, "mkdir `%s`", path);
  if (cpuset && copy_parent_cpuset (path, err) < 0)
    return -1;
  return 0;
}

static void
enable_root_controllers_v2 (const char *root)
{
  cleanup_free char *ctrls = NULL;
  cleanup_free char *cf = xasprintf ("%s/cgroup.controllers", root);
  berth_err_t err = NULL;
  if (read_file_at (AT_FDCWD, cf, &ctrls, NULL, &err) == 0)
    {
      char *save = NULL;
      for (char *c = strtok_r (ctrls, " \n", &save); c; c = strtok_r (NULL, " \n", &save))
        {
          cleanup_free char *plus = xasprintf ("+%s", c);
          cg_write (root, "cgroup.subtree_control", plus, &err);
          berth_error_release (&err);
        }
    }
  berth_error_release (&err);
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
  if (resources && !json_is_object (resources))
    {
      berth_error (err, 0, "linux.resources: expected an object");
      goto fail;
    }
  if (resources && check_types (resources, err) < 0)
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
        enable_root_controllers_v2 (h[i].mountpoint);
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
berth_cgroup_enter (struct berth_cgroup *cg, pid_t pid, berth_err_t *err)
{
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
  if (!json_is_object (resources))
    return berth_error (err, 0, "resources: expected an object");
  if (check_types (resources, err) < 0)
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

json_t *
berth_cgroup_to_json (struct berth_cgroup *cg)
{
  json_t *dirs = json_array ();
  for (size_t i = 0; i < cg->n_dirs; i++)
    json_array_append_new (dirs,
                           json_pack ("{s:s,s:s}", "controllers", cg->dirs[i].controllers, "path", cg->dirs[i].path));
  return json_pack ("{s:i,s:s,s:o}", "mode", cg->mode, "path", cg->rel_path, "dirs", dirs);
}

int
berth_cgroup_from_json (json_t *j, struct berth_cgroup **out, berth_err_t *err)
{
  struct berth_cgroup *cg = xcalloc (1, sizeof (*cg));
  json_t *dirs = json_object_get (j, "dirs"), *d;
  size_t i;
  cg->mode = (int)json_integer_value (json_object_get (j, "mode"));
  cg->rel_path = xstrdup (json_string_value (json_object_get (j, "path")) ?: "");
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
  free (cg);
}
