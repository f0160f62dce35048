/* Restart policies (docker's --restart): no, on-failure[:N], always,
   unless-stopped.  The container's monitor applies them when the
   container ends: with docker's back-off (100 ms, doubling up to a
   minute, back to 100 ms once a run lasted 10 s) it starts the container
   again through the same path `berth start` takes, which spawns the next
   monitor.  stop and kill mark the container stopped by hand
   (State.ManualStop) so that no policy brings it back until a start;
   after a host reboot `berth start --all --filter restart-policy=...`
   (the berth-restart systemd unit) brings back always and unless-stopped
   ones. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/engine/records.h"

int
berth_restart_policy_parse (const char *s, json_t **out, berth_err_t *err)
{
  const char *colon = strchr (s, ':');
  size_t nl = colon ? (size_t)(colon - s) : strlen (s);
  long max = 0;
  static const char *const names[] = { "no", "on-failure", "always", "unless-stopped" };
  size_t i;
  for (i = 0; i < ARRAY_SIZE (names); i++)
    if (strlen (names[i]) == nl && strncmp (s, names[i], nl) == 0)
      break;
  if (i == ARRAY_SIZE (names))
    return berth_error (err, EINVAL, "--restart: \"%s\" is not no, on-failure[:N], always or unless-stopped", s);
  if (colon)
    {
      char *end;
      if (i != 1)
        return berth_error (err, EINVAL, "--restart: only on-failure takes a count (\"%s\")", s);
      max = strtol (colon + 1, &end, 10);
      if (end == colon + 1 || *end || max < 0)
        return berth_error (err, EINVAL, "--restart: \"%s\": the count must be a number of at least 0", s);
    }
  *out = json_pack ("{s:s,s:i}", "Name", names[i], "MaximumRetryCount", (int)max);
  return 0;
}

static int
set_manual (json_t *rec, void *arg, berth_err_t *err)
{
  (void)err;
  json_object_set_new (json_object_get (rec, "State"), "ManualStop", json_boolean (*(bool *)arg));
  /* A start by hand starts the back-off afresh, as docker's. */
  if (!*(bool *)arg)
    json_object_del (json_object_get (rec, "State"), "RestartDelayMs");
  return 0;
}

int
berth_engine_set_manual_stop (struct berth_engine *e, const char *id, bool manual, berth_err_t *err)
{
  return berth_engine_update (e, id, set_manual, &manual, NULL, err);
}

/* Would POLICY bring the container of record REC back after EXIT_CODE? */
static bool
restart_wanted (json_t *rec, int exit_code)
{
  json_t *p = json_object_get (json_object_get (rec, "HostConfig"), "RestartPolicy");
  json_t *st = json_object_get (rec, "State");
  const char *name = json_string_value (json_object_get (p, "Name")) ?: "no";
  json_int_t max = json_integer_value (json_object_get (p, "MaximumRetryCount"));
  if (json_is_true (json_object_get (st, "ManualStop")))
    return false;
  if (strcmp (name, "always") == 0 || strcmp (name, "unless-stopped") == 0)
    return true;
  return strcmp (name, "on-failure") == 0 && exit_code != 0
         && (max == 0 || json_integer_value (json_object_get (st, "RestartCount")) < max);
}

static int
set_policy (json_t *rec, void *arg, berth_err_t *err)
{
  (void)err;
  json_object_set (json_object_get (rec, "HostConfig"), "RestartPolicy", arg);
  return 0;
}

int
berth_engine_set_restart_policy (struct berth_engine *e, const char *id, json_t *policy, berth_err_t *err)
{
  json_t *rec = NULL;
  bool auto_remove;
  if (berth_engine_load (e, id, &rec, err) < 0)
    return -1;
  auto_remove = json_is_true (json_object_get (rec, "AutoRemove"));
  json_decref (rec);
  if (auto_remove && strcmp (json_string_value (json_object_get (policy, "Name")) ?: "no", "no") != 0)
    return berth_error (err, EINVAL, "--restart: container %.12s is removed when it exits (--rm)", id);
  return berth_engine_update (e, id, set_policy, policy, NULL, err);
}

struct restarting
{
  long delay_ms;
  int exit_code;
};

static int
set_restarting (json_t *rec, void *arg, berth_err_t *err)
{
  struct restarting *r = arg;
  json_t *st = json_object_get (rec, "State");
  long long started = 0, now = (long long)time (NULL);
  long prev = (long)json_integer_value (json_object_get (st, "RestartDelayMs"));
  struct tm tm = { 0 };
  const char *s = json_string_value (json_object_get (st, "StartedAt")) ?: "";
  (void)err;
  /* A run of 10 s or more resets the back-off. */
  if (strptime (s, "%Y-%m-%dT%H:%M:%S", &tm))
    started = (long long)timegm (&tm);
  r->delay_ms = prev <= 0 || now - started >= 10 ? 100 : (prev * 2 > 60000 ? 60000 : prev * 2);
  json_object_set_new (st, "Status", json_string ("restarting"));
  json_object_set_new (st, "Restarting", json_true ());
  json_object_set_new (st, "RestartDelayMs", json_integer (r->delay_ms));
  json_object_set_new (st, "RestartCount",
                       json_integer (json_integer_value (json_object_get (st, "RestartCount")) + 1));
  /* While it waits, this process is the container's monitor: a dead one
     is found by refresh. */
  json_object_set_new (rec, "MonitorPid", json_integer (getpid ()));
  json_object_set_new (rec, "MonitorStart", json_integer ((json_int_t)process_start_time (getpid ())));
  return 0;
}

static int
set_given_up (json_t *rec, void *arg, berth_err_t *err)
{
  json_t *st = json_object_get (rec, "State");
  (void)arg;
  (void)err;
  if (strcmp (json_string_value (json_object_get (st, "Status")) ?: "", "restarting") == 0)
    json_object_set_new (st, "Status", json_string ("exited"));
  json_object_set_new (st, "Restarting", json_false ());
  json_object_del (rec, "MonitorPid");
  return 0;
}

void
berth_engine_restart_policy (struct berth_engine *e, const char *id, int exit_code)
{
  json_t *rec = NULL;
  berth_err_t err = NULL;
  bool waited = false;
  for (;;)
    {
      struct restarting r = { 0, exit_code };
      bool stop = false;
      if (berth_engine_load (e, id, &rec, &err) < 0)
        break; /* removed */
      if (!restart_wanted (rec, exit_code))
        break;
      json_decref (rec);
      rec = NULL;
      if (berth_engine_update (e, id, set_restarting, &r, NULL, &err) < 0)
        break;
      waited = true;
      /* The back-off, watching for a stop, a removal or a policy of no. */
      for (long ms = 0; ms < r.delay_ms && !stop; ms += 50)
        {
          usleep (50 * 1000);
          if (berth_engine_load (e, id, &rec, &err) < 0)
            stop = true;
          else
            stop = json_is_true (json_object_get (json_object_get (rec, "State"), "ManualStop"))
                   || strcmp (json_string_value (json_object_get (
                                  json_object_get (json_object_get (rec, "HostConfig"), "RestartPolicy"), "Name"))
                                  ?: "no",
                              "no")
                          == 0;
          json_decref (rec);
          rec = NULL;
        }
      if (stop)
        break;
      if (berth_engine_start_for_policy (e, id, &err) == 0)
        return; /* the next monitor has it */
      /* It could not start (an image gone, a port taken): count it as a
         failed run, and try again as the policy says. */
      berth_debug ("restart of %.12s: %s", id, err->msg);
      berth_error_release (&err);
      exit_code = 125;
    }
  json_decref (rec);
  berth_error_release (&err);
  /* Only a container this monitor marked restarting: any other write
     would race a removal (the lock file made again in its directory). */
  if (waited && berth_engine_update (e, id, set_given_up, NULL, NULL, &err) < 0)
    berth_error_release (&err);
}
