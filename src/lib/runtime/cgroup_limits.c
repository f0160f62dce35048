/* linux.resources into a container's cgroup: the v1 controllers' files
   or the unified hierarchy's (with the eBPF device filter). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "lib/base/utils.h"
#include "lib/runtime/cgroup_bpf.h"
#include "lib/runtime/cgroup_internal.h"

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
v1_memory (struct berth_cgroup *cg, json_t *o, berth_err_t *err)
{
  int64_t v;
  const char *dir = NULL;
  int64_t limit = 0, swap = 0;
  bool has_limit = res_int (o, "limit", &limit), has_swap = res_int (o, "swap", &swap);
  if (need_dir (cg, "memory", "linux.resources.memory", &dir, err) < 0)
    return -1;
  if (res_int (o, "reservation", &v) && cg_writef (dir, "memory.soft_limit_in_bytes", err, "%lld", (long long)v) < 0)
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
  if (res_int (o, "kernelTCP", &v) && cg_writef (dir, "memory.kmem.tcp.limit_in_bytes", err, "%lld", (long long)v) < 0)
    return -1;
  if (res_int (o, "swappiness", &v) && v >= 0 && cg_writef (dir, "memory.swappiness", err, "%lld", (long long)v) < 0)
    return -1;
  if (json_is_true (json_object_get (o, "disableOOMKiller")) && cg_write (dir, "memory.oom_control", "1", err) < 0)
    return -1;
  return 0;
}

static int
v1_cpu (struct berth_cgroup *cg, json_t *o, berth_err_t *err)
{
  int64_t v;
  const char *dir = NULL;
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
  if (res_int (o, "realtimePeriod", &v) && v > 0 && cg_writef (dir, "cpu.rt_period_us", err, "%lld", (long long)v) < 0)
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
  return 0;
}

static int
v1_pids (struct berth_cgroup *cg, json_t *o, berth_err_t *err)
{
  int64_t v;
  const char *dir = NULL;
  if (!res_int (o, "limit", &v))
    return 0;
  if (need_dir (cg, "pids", "linux.resources.pids", &dir, err) < 0)
    return -1;
  if (v > 0 ? cg_writef (dir, "pids.max", err, "%lld", (long long)v) < 0 : cg_write (dir, "pids.max", "max", err) < 0)
    return -1;
  return 0;
}

static int
v1_blkio (struct berth_cgroup *cg, json_t *o, berth_err_t *err)
{
  int64_t v;
  const char *dir = NULL;
  json_t *wd, *d;
  size_t i;
  if (need_dir (cg, "blkio", "linux.resources.blockIO", &dir, err) < 0)
    return -1;
  /* 0 is "unset" to Docker, which always sends it, and to runc. */
  if (res_int (o, "weight", &v) && v != 0)
    {
      const char *f = cg_file_exists (dir, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
      if (!cg_file_exists (dir, f))
        return berth_error (err, 0, "linux.resources.blockIO.weight: this kernel has no blkio weight (no CFQ or BFQ)");
      if (cg_writef (dir, f, err, "%lld", (long long)v) < 0)
        return -1;
    }
  if (res_int (o, "leafWeight", &v) && v != 0 && cg_writef (dir, "blkio.leaf_weight", err, "%lld", (long long)v) < 0)
    return -1;
  wd = json_object_get (o, "weightDevice");
  json_array_foreach (wd, i, d)
  {
    int64_t maj, min, w;
    if (!res_int (d, "major", &maj) || !res_int (d, "minor", &min))
      return berth_error (err, 0, "linux.resources.blockIO.weightDevice[%zu]: major and minor are required", i);
    if (res_int (d, "weight", &w)
        && cg_writef (dir, "blkio.weight_device", err, "%lld:%lld %lld", (long long)maj, (long long)min, (long long)w)
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
  return 0;
}

static int
v1_hugetlb (struct berth_cgroup *cg, json_t *o, berth_err_t *err)
{
  const char *dir = NULL;
  if (json_array_size (o) == 0)
    return 0;
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
  return 0;
}

static int
v1_network (struct berth_cgroup *cg, json_t *o, berth_err_t *err)
{
  int64_t v;
  const char *dir = NULL;
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
  return 0;
}

/* The v1 controllers, each in its own hierarchy: linux.resources' keys in
   the order runc writes them. */
int
apply_v1 (struct berth_cgroup *cg, json_t *res, berth_err_t *err)
{
  static const struct
  {
    const char *key;
    int (*apply) (struct berth_cgroup *cg, json_t *o, berth_err_t *err);
  } controllers[]
      = { { "memory", v1_memory },          { "cpu", v1_cpu },        { "pids", v1_pids }, { "blockIO", v1_blkio },
          { "hugepageLimits", v1_hugetlb }, { "network", v1_network } };
  json_t *o;
  const char *dir;
  for (size_t i = 0; i < ARRAY_SIZE (controllers); i++)
    if ((o = json_object_get (res, controllers[i].key)) && controllers[i].apply (cg, o, err) < 0)
      return -1;
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

int
devices_preload_v2 (json_t *devices, berth_err_t *err)
{
  return berth_cgroup_bpf_devices_load (devices, default_device_rules, ARRAY_SIZE (default_device_rules), err);
}

int
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
      /* Docker's update sends kernel: 0; only a real limit is refused. */
      if ((res_int (o, "kernel", &v) && v > 0) || (res_int (o, "kernelTCP", &v) && v > 0))
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
