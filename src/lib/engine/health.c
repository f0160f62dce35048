/* Health checks (docker's HEALTHCHECK and --health-*): while the container
   runs, a child of its monitor runs the check as an exec every interval,
   in either isolation mode (berth_container_exec), and keeps State.Health
   ({Status, FailingStreak, Log}) in the record, as docker's inspect shows
   it; a change of status is a health_status event. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/engine/records.h"
#include "lib/runtime/container.h"

#define HEALTH_LOG_KEEP 5
#define HEALTH_OUTPUT_MAX 4096

static long long
ns_or (json_t *hc, const char *key, long long dflt)
{
  json_int_t v = json_integer_value (json_object_get (hc, key));
  return v > 0 ? v : dflt;
}

json_t *
berth_engine_healthcheck (json_t *image_config, json_t *overrides, bool none)
{
  json_t *img = json_object_get (json_object_get (image_config, "config"), "Healthcheck");
  json_t *hc = json_is_object (img) ? json_deep_copy (img) : json_object ();
  if (none)
    {
      json_decref (hc);
      return json_pack ("{s:[s]}", "Test", "NONE");
    }
  /* --health-* override the image's HEALTHCHECK field by field. */
  if (json_is_object (overrides))
    json_object_update (hc, overrides);
  if (json_object_size (hc) == 0)
    {
      json_decref (hc);
      return NULL;
    }
  return hc;
}

bool
berth_engine_health_wanted (json_t *rec)
{
  json_t *test = json_object_get (json_object_get (json_object_get (rec, "Config"), "Healthcheck"), "Test");
  const char *kind = json_string_value (json_array_get (test, 0));
  return kind && (strcmp (kind, "CMD") == 0 || strcmp (kind, "CMD-SHELL") == 0) && json_array_size (test) > 1;
}

/* One run of the check: its exit code (-1: it timed out or could not
   run) and up to 4 KiB of its output. */
static int
probe (struct berth_engine *e, const char *id, json_t *test, long long timeout_ns, char *out, size_t outsz)
{
  int p[2], status = 0;
  size_t n = 0;
  long long deadline;
  struct timespec ts;
  pid_t pid;
  out[0] = '\0';
  if (pipe2 (p, O_CLOEXEC) < 0)
    {
      snprintf (out, outsz, "pipe: %s", strerror (errno));
      return -1;
    }
  pid = fork ();
  if (pid < 0)
    {
      snprintf (out, outsz, "fork: %s", strerror (errno));
      close (p[0]);
      close (p[1]);
      return -1;
    }
  if (pid == 0)
    {
      struct berth_exec_request req = { 0 };
      json_t *proc = NULL, *args = json_array ();
      berth_err_t err = NULL;
      int code = 0, null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      dup2 (null, 0);
      dup2 (p[1], 1);
      dup2 (p[1], 2);
      if (strcmp (json_string_value (json_array_get (test, 0)), "CMD-SHELL") == 0)
        {
          json_array_append_new (args, json_string ("/bin/sh"));
          json_array_append_new (args, json_string ("-c"));
        }
      for (size_t i = 1; i < json_array_size (test); i++)
        json_array_append (args, json_array_get (test, i));
      if (berth_container_process_template (e->runtime_root, id, &proc, &err) < 0)
        {
          fprintf (stderr, "%s\n", err->msg);
          _exit (126);
        }
      json_object_set_new (proc, "args", args);
      json_object_set_new (proc, "terminal", json_false ());
      req.process = proc;
      if (berth_container_exec (e->runtime_root, id, &req, &code, &err) < 0)
        {
          fprintf (stderr, "%s\n", err->msg);
          _exit (err->status == ENOENT ? 127 : 126);
        }
      _exit (code & 0xff);
    }
  close (p[1]);
  clock_gettime (CLOCK_MONOTONIC, &ts);
  deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ns / 1000000;
  for (;;)
    {
      struct pollfd pfd = { .fd = p[0], .events = POLLIN };
      long long now;
      int r;
      clock_gettime (CLOCK_MONOTONIC, &ts);
      now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
      if (now >= deadline)
        {
          /* docker's words for a check that took too long. */
          kill (pid, SIGKILL);
          waitpid (pid, NULL, 0);
          close (p[0]);
          snprintf (out, outsz, "Health check exceeded timeout (%llds)", timeout_ns / 1000000000);
          return -1;
        }
      r = poll (&pfd, 1, (int)(deadline - now));
      if (r < 0 && errno == EINTR)
        continue;
      if (r > 0)
        {
          char buf[1024];
          ssize_t k = read (p[0], buf, sizeof (buf));
          if (k <= 0)
            break;
          if (n + 1 < outsz)
            {
              size_t take = (size_t)k < outsz - 1 - n ? (size_t)k : outsz - 1 - n;
              memcpy (out + n, buf, take);
              n += take;
              out[n] = '\0';
            }
        }
    }
  close (p[0]);
  if (waitpid (pid, &status, 0) < 0)
    return -1;
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

struct result
{
  int code;
  const char *output, *start, *end;
  int retries;
  bool in_start_period;
  char changed[16]; /* the new status when it changed */
};

static int
record_result (json_t *rec, void *arg, berth_err_t *err)
{
  struct result *r = arg;
  json_t *st = json_object_get (rec, "State");
  json_t *h = json_object_get (st, "Health"), *log;
  char was_buf[16];
  const char *was;
  json_int_t streak;
  const char *now_status;
  (void)err;
  if (!json_is_object (h))
    {
      h = json_pack ("{s:s,s:i,s:[]}", "Status", "starting", "FailingStreak", 0, "Log");
      json_object_set_new (st, "Health", h);
    }
  /* A copy: the status string is replaced below. */
  snprintf (was_buf, sizeof (was_buf), "%s", json_string_value (json_object_get (h, "Status")) ?: "starting");
  was = was_buf;
  streak = json_integer_value (json_object_get (h, "FailingStreak"));
  log = json_object_get (h, "Log");
  json_array_append_new (
      log, json_pack ("{s:s,s:s,s:i,s:s}", "Start", r->start, "End", r->end, "ExitCode", r->code, "Output", r->output));
  while (json_array_size (log) > HEALTH_LOG_KEEP)
    json_array_remove (log, 0);
  now_status = was;
  if (r->code == 0)
    {
      streak = 0;
      now_status = "healthy";
    }
  else if (!r->in_start_period || strcmp (was, "starting") != 0)
    {
      /* Failures in the start period do not count, unless it was
         healthy once already (docker's rule). */
      streak++;
      if (streak >= r->retries)
        now_status = "unhealthy";
    }
  json_object_set_new (h, "FailingStreak", json_integer (streak));
  json_object_set_new (h, "Status", json_string (now_status));
  r->changed[0] = '\0';
  if (strcmp (was, now_status) != 0)
    snprintf (r->changed, sizeof (r->changed), "%s", now_status);
  return 0;
}

static int
set_starting (json_t *rec, void *arg, berth_err_t *err)
{
  (void)arg;
  (void)err;
  json_object_set_new (json_object_get (rec, "State"), "Health",
                       json_pack ("{s:s,s:i,s:[]}", "Status", "starting", "FailingStreak", 0, "Log"));
  return 0;
}

void
berth_engine_health_loop (struct berth_engine *e, const char *id)
{
  json_t *rec = NULL, *hc, *test;
  berth_err_t err = NULL;
  long long interval, timeout, start_period, began;
  int retries;
  struct timespec ts;
  if (berth_engine_load (e, id, &rec, &err) < 0)
    goto out;
  hc = json_object_get (json_object_get (rec, "Config"), "Healthcheck");
  test = json_deep_copy (json_object_get (hc, "Test"));
  interval = ns_or (hc, "Interval", 30000000000LL);
  timeout = ns_or (hc, "Timeout", 30000000000LL);
  start_period = ns_or (hc, "StartPeriod", 0);
  retries = (int)ns_or (hc, "Retries", 3);
  json_decref (rec);
  rec = NULL;
  if (berth_engine_update (e, id, set_starting, NULL, NULL, &err) < 0)
    goto out_test;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  began = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
  for (;;)
    {
      char output[HEALTH_OUTPUT_MAX];
      cleanup_free char *start = NULL, *end = NULL;
      struct timespec iv = { (time_t)(interval / 1000000000LL), (long)(interval % 1000000000LL) };
      struct result r = { 0 };
      long long now;
      nanosleep (&iv, NULL);
      start = timestamp_rfc3339 ();
      r.code = probe (e, id, test, timeout, output, sizeof (output));
      end = timestamp_rfc3339 ();
      clock_gettime (CLOCK_MONOTONIC, &ts);
      now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
      r.output = output;
      r.start = start;
      r.end = end;
      r.retries = retries;
      r.in_start_period = now - began < start_period;
      if (berth_engine_update (e, id, record_result, &r, &rec, &err) < 0)
        break;
      if (r.changed[0])
        {
          cleanup_free char *action = xasprintf ("health_status: %s", r.changed);
          berth_engine_event (e, id, rec, action, NULL);
        }
      json_decref (rec);
      rec = NULL;
    }
out_test:
  json_decref (test);
out:
  json_decref (rec);
  berth_error_release (&err);
}
