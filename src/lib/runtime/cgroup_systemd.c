/* systemd's cgroup driver.  On a host whose PID 1 is systemd, systemd owns
   the cgroup tree: a cgroup it did not make is one it may move processes
   out of or remove on a daemon-reload.  With --systemd-cgroup the
   container's cgroup is therefore a transient scope that systemd makes
   over D-Bus and delegates to us (Delegate=yes), as runc and crun do; the
   spec's resources become unit properties where systemd has them, so that
   systemd's idea of the limits is ours, and are written to the scope's
   files as well (systemd has no property for most of them). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/base/systemd_dl.h"
#include "lib/base/utils.h"
#include "lib/runtime/cgroup.h"
#include "lib/runtime/cgroup_internal.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
/* runc's bound on a unit's start or stop job. */
#define SD_JOB_TIMEOUT_USEC (30ULL * 1000 * 1000)

bool
berth_systemd_booted (void)
{
  /* sd_booted()'s own test, without loading libsystemd for it. */
  struct stat st;
  return lstat ("/run/systemd/system", &st) == 0 && S_ISDIR (st.st_mode);
}

static void
bus_closep (sd_bus **b)
{
  if (*b)
    sd_bus_flush_close_unref (*b);
}

static void
msg_unrefp (sd_bus_message **m)
{
  if (*m)
    sd_bus_message_unref (*m);
}

static void
slot_unrefp (sd_bus_slot **s)
{
  if (*s)
    sd_bus_slot_unref (*s);
}

static void
bus_error_freep (sd_bus_error *e)
{
  if (e->name)
    sd_bus_error_free (e);
}

#define cleanup_bus __attribute__ ((cleanup (bus_closep)))
#define cleanup_msg __attribute__ ((cleanup (msg_unrefp)))
#define cleanup_slot __attribute__ ((cleanup (slot_unrefp)))
#define cleanup_bus_error __attribute__ ((cleanup (bus_error_freep)))

static int
bus_fail (berth_err_t *err, int r, const sd_bus_error *e, const char *what, const char *unit)
{
  if (e && e->message)
    return berth_error (err, r < 0 ? -r : EIO, "systemd: %s %s: %s", what, unit, e->message);
  return berth_error (err, r < 0 ? -r : EIO, "systemd: %s %s", what, unit);
}

static int
open_bus (sd_bus **bus, berth_err_t *err)
{
  int r;
  if (berth_systemd_load (err) < 0)
    return -1;
  r = sd_bus_open_system (bus);
  if (r < 0)
    return berth_error (err, -r, "systemd's cgroup driver: connect to the system bus");
  return 0;
}

/* ------------------------------------------------------------ unit names */

/* runc's rules for "slice:prefix:name": the slice ends in .slice, has no
   '/' and no empty dash-separated part ("a--b.slice", "-a.slice"), "-.slice"
   is the root; an empty slice is system.slice; the unit is
   prefix-name.scope (name.scope without a prefix). */
int
berth_systemd_parse_path (const char *spec_path, const char *id, char **slice_out, char **unit_out, char **path_out,
                          berth_err_t *err)
{
  cleanup_free char *copy = NULL, *expanded = NULL;
  char *slice, *prefix, *name;
  size_t len;

  if (spec_path == NULL || spec_path[0] == '\0')
    {
      /* Where docker and podman put theirs: system.slice/<engine>-<id>.scope. */
      copy = xasprintf ("system.slice:berth:%s", id);
    }
  else
    copy = xstrdup (spec_path);
  slice = copy;
  prefix = strchr (slice, ':');
  name = prefix ? strchr (prefix + 1, ':') : NULL;
  if (prefix == NULL || name == NULL || strchr (name + 1, ':'))
    return berth_error (err, 0,
                        "linux.cgroupsPath: \"%s\": with systemd's cgroup driver it must be slice:prefix:name "
                        "(e.g. system.slice:berth:%s)",
                        spec_path, id);
  *prefix++ = '\0';
  *name++ = '\0';
  if (slice[0] == '\0')
    slice = (char *)"system.slice";
  len = strlen (slice);
  if (len <= strlen (".slice") || strcmp (slice + len - strlen (".slice"), ".slice") != 0 || strchr (slice, '/'))
    return berth_error (err, 0, "linux.cgroupsPath: \"%s\": the slice \"%s\" is not a systemd slice name (NAME.slice)",
                        spec_path, slice);
  if (name[0] == '\0' || strchr (name, '/') || strchr (prefix, '/'))
    return berth_error (err, 0, "linux.cgroupsPath: \"%s\": the name must be non-empty and without '/'", spec_path);
  if (strlen (name) > strlen (".slice") && strcmp (name + strlen (name) - strlen (".slice"), ".slice") == 0)
    return berth_error (err, 0,
                        "linux.cgroupsPath: \"%s\": a slice as the container's own unit is not supported; "
                        "give a scope name",
                        spec_path);
  expanded = xstrdup ("");
  if (strcmp (slice, "-.slice") != 0)
    {
      size_t base_len = len - strlen (".slice");
      for (size_t i = 0; i <= base_len; i++)
        if (i == base_len || slice[i] == '-')
          {
            char *n;
            /* "a--b.slice", "-a.slice" and "a-.slice" name no slice. */
            if (i == 0 || slice[i - 1] == '-')
              return berth_error (err, 0, "linux.cgroupsPath: \"%s\": invalid slice name \"%s\"", spec_path, slice);
            n = xasprintf ("%s/%.*s.slice", expanded, (int)i, slice);
            free (expanded);
            expanded = n;
          }
    }
  *unit_out = prefix[0] ? xasprintf ("%s-%s.scope", prefix, name) : xasprintf ("%s.scope", name);
  *slice_out = xstrdup (slice);
  if (path_out)
    *path_out = xasprintf ("%s/%s", expanded, *unit_out);
  return 0;
}

/* ------------------------------------------------------------ properties */

static int
append_u64 (sd_bus_message *m, const char *name, uint64_t v)
{
  return sd_bus_message_append (m, "(sv)", name, "t", v);
}

/* The resources systemd has properties for, in its units: bytes, usec,
   weights; the rest only ever goes to the files. */
static int
append_resources (sd_bus_message *m, json_t *res, bool v2)
{
  json_t *o;
  int64_t v, limit = 0;
  int r = 0;

  if (res == NULL || !v2)
    return 0;
  if ((o = json_object_get (res, "memory")))
    {
      bool has_limit = res_int (o, "limit", &limit);
      if (has_limit && (r = append_u64 (m, "MemoryMax", limit > 0 ? (uint64_t)limit : UINT64_MAX)) < 0)
        return r;
      if (res_int (o, "reservation", &v) && v > 0 && (r = append_u64 (m, "MemoryLow", (uint64_t)v)) < 0)
        return r;
      if (res_int (o, "swap", &v))
        {
          if (v == -1)
            r = append_u64 (m, "MemorySwapMax", UINT64_MAX);
          else if (has_limit && limit > 0 && v >= limit)
            r = append_u64 (m, "MemorySwapMax", (uint64_t)(v - limit));
          if (r < 0)
            return r;
        }
    }
  if ((o = json_object_get (res, "cpu")))
    {
      int64_t quota = 0, period = 0;
      bool hq = res_int (o, "quota", &quota), hp = res_int (o, "period", &period);
      if (res_int (o, "shares", &v) && v > 0
          && (r = append_u64 (m, "CPUWeight", 1 + (((uint64_t)v - 2) * 9999) / 262142)) < 0)
        return r;
      if (hq || hp)
        {
          if (!hp || period <= 0)
            period = 100000;
          if ((r = append_u64 (m, "CPUQuotaPeriodUSec", (uint64_t)period)) < 0)
            return r;
          /* systemd counts the quota per second of wall time. */
          if ((r = append_u64 (m, "CPUQuotaPerSecUSec",
                               hq && quota > 0 ? (uint64_t)quota * 1000000 / (uint64_t)period : UINT64_MAX))
              < 0)
            return r;
        }
    }
  if ((o = json_object_get (res, "pids")) && res_int (o, "limit", &v)
      && (r = append_u64 (m, "TasksMax", v > 0 ? (uint64_t)v : UINT64_MAX)) < 0)
    return r;
  return 0;
}

/* ------------------------------------------------------------------ jobs */

struct job_wait
{
  const char *path; /* the job we wait for, NULL until the call returned */
  char result[32];
  bool done;
};

static int
on_job_removed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  struct job_wait *w = userdata;
  uint32_t id;
  const char *path, *unit, *result;
  (void)ret_error;
  if (sd_bus_message_read (m, "uoss", &id, &path, &unit, &result) < 0 || w->path == NULL || strcmp (path, w->path) != 0)
    return 0;
  snprintf (w->result, sizeof (w->result), "%s", result);
  w->done = true;
  return 0;
}

static uint64_t
now_usec (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Sends CALL (a StartTransientUnit or StopUnit) and waits for its job.
   The JobRemoved match is in place before the call, so that a job that
   ends at once is still seen. */
static int
run_job (sd_bus *bus, sd_bus_message *call, const char *what, const char *unit, bool missing_ok, berth_err_t *err)
{
  cleanup_bus_error sd_bus_error e = SD_BUS_ERROR_NULL;
  cleanup_msg sd_bus_message *reply = NULL;
  cleanup_slot sd_bus_slot *slot = NULL;
  cleanup_free char *job = NULL;
  struct job_wait w = { 0 };
  const char *path;
  uint64_t deadline;
  int r;

  r = sd_bus_match_signal (bus, &slot, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved", on_job_removed, &w);
  if (r < 0)
    return bus_fail (err, r, NULL, "watch the jobs of", unit);
  r = sd_bus_call_method (bus, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe", &e, NULL, "");
  if (r < 0)
    return bus_fail (err, r, &e, "subscribe for", unit);
  r = sd_bus_call (bus, call, SD_JOB_TIMEOUT_USEC, &e, &reply);
  if (r < 0)
    {
      if (missing_ok
          && (sd_bus_error_has_name (&e, "org.freedesktop.systemd1.NoSuchUnit")
              || sd_bus_error_has_name (&e, "org.freedesktop.systemd1.NoSuchUnitError")))
        return 0;
      return bus_fail (err, r, &e, what, unit);
    }
  r = sd_bus_message_read (reply, "o", &path);
  if (r < 0)
    return bus_fail (err, r, NULL, what, unit);
  job = xstrdup (path);
  w.path = job;
  deadline = now_usec () + SD_JOB_TIMEOUT_USEC;
  while (!w.done)
    {
      uint64_t now = now_usec ();
      r = sd_bus_process (bus, NULL);
      if (r < 0)
        return bus_fail (err, r, NULL, what, unit);
      if (r > 0)
        continue;
      if (now >= deadline)
        return berth_error (err, ETIMEDOUT, "systemd: %s %s: its job did not finish in 30 s", what, unit);
      r = sd_bus_wait (bus, deadline - now);
      if (r < 0)
        return bus_fail (err, r, NULL, what, unit);
    }
  if (strcmp (w.result, "done") != 0)
    return berth_error (err, EIO, "systemd: %s %s: the job ended \"%s\" (journalctl -u %s says why)", what, unit,
                        w.result, unit);
  return 0;
}

/* --------------------------------------------------------- scope's life */

/* A scope that failed (its start, or an OOM kill in it: systemd's result
   "oom-kill") stays listed as failed until reset; runc resets it too. */
static void
reset_failed (sd_bus *bus, const char *unit)
{
  sd_bus_error e = SD_BUS_ERROR_NULL;
  sd_bus_call_method (bus, SD_DEST, SD_PATH, SD_MANAGER, "ResetFailedUnit", &e, NULL, "s", unit);
  sd_bus_error_free (&e);
}

int
berth_systemd_start_scope (struct berth_cgroup *cg, pid_t pid, berth_err_t *err)
{
  cleanup_bus sd_bus *bus = NULL;
  cleanup_msg sd_bus_message *m = NULL;
  bool v2 = cg->mode == CGROUP_V2;
  int r;

  if (open_bus (&bus, err) < 0)
    return -1;
  r = sd_bus_message_new_method_call (bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "StartTransientUnit");
  if (r >= 0)
    r = sd_bus_message_append (m, "ss", cg->unit, "fail");
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'a', "(sv)");
  if (r >= 0)
    r = sd_bus_message_append (m, "(sv)(sv)(sv)(sv)", "Description", "s", "berth container", "Slice", "s", cg->slice,
                               "PIDs", "au", 1, (uint32_t)pid, "Delegate", "b", 1);
  /* A container is not part of the boot: no ordering against shutdown.target
     that would hold it back, as runc sets it. */
  if (r >= 0)
    r = sd_bus_message_append (m, "(sv)", "DefaultDependencies", "b", 0);
  if (r >= 0)
    r = sd_bus_message_append (m, "(sv)(sv)(sv)(sv)", "MemoryAccounting", "b", 1, "CPUAccounting", "b", 1,
                               "IOAccounting", "b", 1, "TasksAccounting", "b", 1);
  if (r >= 0)
    r = append_resources (m, cg->pending, v2);
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  if (r >= 0)
    r = sd_bus_message_append (m, "a(sa(sv))", 0);
  if (r < 0)
    return bus_fail (err, r, NULL, "build the request for", cg->unit);
  if (run_job (bus, m, "start", cg->unit, false, err) < 0)
    {
      reset_failed (bus, cg->unit);
      return -1;
    }
  return 0;
}

int
berth_systemd_stop_scope (struct berth_cgroup *cg, berth_err_t *err)
{
  cleanup_bus sd_bus *bus = NULL;
  cleanup_msg sd_bus_message *m = NULL;
  int r;

  if (open_bus (&bus, err) < 0)
    return -1;
  r = sd_bus_message_new_method_call (bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "StopUnit");
  if (r >= 0)
    r = sd_bus_message_append (m, "ss", cg->unit, "replace");
  if (r < 0)
    return bus_fail (err, r, NULL, "build the request for", cg->unit);
  /* A scope whose processes all ended is gone already: that is success. */
  if (run_job (bus, m, "stop", cg->unit, true, err) < 0)
    return -1;
  reset_failed (bus, cg->unit);
  return 0;
}

int
berth_systemd_oom_result (struct berth_cgroup *cg)
{
  cleanup_bus sd_bus *bus = NULL;
  cleanup_msg sd_bus_message *unit = NULL, *prop = NULL;
  cleanup_bus_error sd_bus_error e = SD_BUS_ERROR_NULL;
  const char *path = NULL, *result = NULL;
  berth_err_t err = NULL;
  if (open_bus (&bus, &err) < 0)
    {
      berth_error_release (&err);
      return 0;
    }
  /* GetUnit fails for a scope systemd has let go: nothing to say then. */
  if (sd_bus_call_method (bus, SD_DEST, SD_PATH, SD_MANAGER, "GetUnit", &e, &unit, "s", cg->unit) < 0
      || sd_bus_message_read (unit, "o", &path) < 0
      || sd_bus_call_method (bus, SD_DEST, path, "org.freedesktop.DBus.Properties", "Get", &e, &prop, "ss",
                             "org.freedesktop.systemd1.Scope", "Result")
             < 0
      || sd_bus_message_read (prop, "v", "s", &result) < 0)
    return 0;
  return strcmp (result, "oom-kill") == 0;
}

int
berth_systemd_set_properties (struct berth_cgroup *cg, json_t *resources, berth_err_t *err)
{
  cleanup_bus sd_bus *bus = NULL;
  cleanup_msg sd_bus_message *m = NULL, *reply = NULL;
  cleanup_bus_error sd_bus_error e = SD_BUS_ERROR_NULL;
  int r;

  if (cg->mode != CGROUP_V2)
    return 0;
  if (open_bus (&bus, err) < 0)
    return -1;
  r = sd_bus_message_new_method_call (bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "SetUnitProperties");
  if (r >= 0)
    r = sd_bus_message_append (m, "sb", cg->unit, 1);
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'a', "(sv)");
  if (r >= 0)
    r = append_resources (m, resources, true);
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  if (r < 0)
    return bus_fail (err, r, NULL, "build the request for", cg->unit);
  r = sd_bus_call (bus, m, SD_JOB_TIMEOUT_USEC, &e, &reply);
  if (r < 0)
    return bus_fail (err, r, &e, "set the properties of", cg->unit);
  return 0;
}
