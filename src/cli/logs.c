#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lib/engine/engine.h"
#include "lib/base/utils.h"

static bool
running (struct berth_engine *e, const char *id)
{
  json_t *rec = NULL;
  berth_err_t err = NULL;
  bool r = false;
  if (berth_engine_refresh (e, id, &rec, &err) == 0)
    r = strcmp (json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "", "running") == 0;
  berth_error_release (&err);
  json_decref (rec);
  return r;
}

/* An RFC 3339 time ("2026-12-05T21:00:00.5Z", "+01:00" offsets, a date
   alone, no zone: UTC) as ns since the epoch; false if S is not one. */
static bool
parse_rfc3339 (const char *s, long long *ns)
{
  struct tm tm = { 0 };
  long long frac = 0, scale = 1000000000LL;
  const char *p = strptime (s, "%Y-%m-%d", &tm);
  int sign = 0, oh = 0, om = 0;
  if (p == NULL)
    return false;
  if (*p == 'T' || *p == 't' || *p == ' ')
    {
      p = strptime (p + 1, "%H:%M:%S", &tm);
      if (p == NULL)
        return false;
      if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
          if (scale > 1)
            {
              scale /= 10;
              frac += (*p - '0') * scale;
            }
      if (*p == 'Z' || *p == 'z')
        p++;
      else if ((*p == '+' || *p == '-') && sscanf (p + 1, "%2d:%2d", &oh, &om) == 2)
        {
          sign = *p == '+' ? 1 : -1;
          p += 6;
        }
    }
  if (*p)
    return false;
  *ns = ((long long)timegm (&tm) - sign * (oh * 3600LL + om * 60LL)) * 1000000000LL + frac;
  return true;
}

/* --since/--until as docker takes them: an RFC 3339 time, a Unix time
   (seconds, with a fraction), or a Go duration before now ("10m",
   "1h30m", "1.5h", "250ms"). */
static int
parse_when (const char *opt, const char *s, long long *ns, berth_err_t *err)
{
  struct timespec now;
  char *end;
  double secs;
  clock_gettime (CLOCK_REALTIME, &now);
  if (parse_rfc3339 (s, ns))
    return 0;
  secs = strtod (s, &end);
  if (end != s && *end == 0 && secs >= 0)
    {
      *ns = (long long)(secs * 1e9);
      return 0;
    }
  {
    static const struct
    {
      const char *unit;
      double ns;
    } units[] = { { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 } };
    double total = 0;
    const char *p = s;
    if (!*p)
      goto bad;
    while (*p)
      {
        double v = strtod (p, &end);
        size_t best = 0;
        int which = -1;
        if (end == p || v < 0)
          goto bad;
        for (size_t i = 0; i < ARRAY_SIZE (units); i++)
          if (strncmp (end, units[i].unit, strlen (units[i].unit)) == 0 && strlen (units[i].unit) > best
              && !(strcmp (units[i].unit, "m") == 0 && end[1] == 's'))
            {
              best = strlen (units[i].unit);
              which = (int)i;
            }
        if (which < 0)
          goto bad;
        total += v * units[which].ns;
        p = end + best;
      }
    *ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec - (long long)total;
    return 0;
  }
bad:
  return berth_error_code (
      err, EINVAL, "--%s: \"%s\" is not a time: give an RFC 3339 time, a Unix time or a duration such as 10m", opt, s);
}

struct window
{
  bool since_set, until_set;
  long long since, until;
};

static void
emit (const char *line, bool timestamps, const struct window *w)
{
  json_t *j = json_loads (line, 0, NULL);
  const char *log = json_string_value (json_object_get (j, "log"));
  const char *stream = json_string_value (json_object_get (j, "stream"));
  const char *t = json_string_value (json_object_get (j, "time"));
  long long at = 0;
  bool in = true;
  if (w->since_set || w->until_set)
    in = t && parse_rfc3339 (t, &at) && (!w->since_set || at >= w->since) && (!w->until_set || at <= w->until);
  if (log && in)
    {
      FILE *f = stream && strcmp (stream, "stderr") == 0 ? stderr : stdout;
      if (timestamps && t)
        fprintf (f, "%s ", t);
      fputs (log, f);
      fflush (f);
    }
  json_decref (j);
}

int
cmd_logs (int argc, char **argv)
{
  static const struct option opts[]
      = { { "follow", no_argument, NULL, 'f' },      { "tail", required_argument, NULL, 'n' },
          { "timestamps", no_argument, NULL, 't' },  { "since", required_argument, NULL, 's' },
          { "until", required_argument, NULL, 'u' }, { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  bool follow = false, timestamps = false;
  long tail = -1;
  struct window w = { 0 };
  char id[65];
  cleanup_free char *path = NULL;
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  char **ring = NULL;
  long count = 0;
  int o;
  if (cli_help (
          argc, argv, "logs [-f] [--tail N] [--timestamps] [--since WHEN] [--until WHEN] CONTAINER",
          "  WHEN: an RFC 3339 time (2026-12-05T21:00:00Z), a Unix time, or a duration before now (10m, 1h30m)\n"))
    return 0;
  while ((o = getopt_long (argc, argv, "fn:t", opts, NULL)) != -1)
    switch (o)
      {
      case 'f':
        follow = true;
        break;
      case 'n':
        {
          char *end;
          tail = strcmp (optarg, "all") == 0 ? -1 : strtol (optarg, &end, 10);
          if (strcmp (optarg, "all") != 0 && (end == optarg || *end || tail < 0))
            return cli_usage ("logs", "--tail: \"%s\" is not a number of lines (or all)", optarg);
        }
        break;
      case 't':
        timestamps = true;
        break;
      case 's':
      case 'u':
        if (parse_when (o == 's' ? "since" : "until", optarg, o == 's' ? &w.since : &w.until, &err) < 0)
          return cli_error (&err);
        if (o == 's')
          w.since_set = true;
        else
          w.until_set = true;
        break;
      default:
        return cli_usage ("logs", "unknown option");
      }
  if (optind + 1 != argc)
    return cli_usage ("logs", "requires exactly one container");
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_resolve (e, argv[optind], id, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  path = xasprintf ("%s/containers/%s/container.log", cli.root, id);
  if (tail >= 0)
    ring = xcalloc ((size_t)tail + 1, sizeof (char *));
  /* The rotated files first, oldest (highest number) first. */
  {
    int top = 0;
    for (;;)
      {
        cleanup_free char *p = xasprintf ("%s.%d", path, top + 1);
        if (access (p, F_OK) < 0)
          break;
        top++;
      }
    for (int k = top; k >= 0; k--)
      {
        cleanup_free char *p = k ? xasprintf ("%s.%d", path, k) : xstrdup (path);
        f = fopen (p, "re");
        if (f == NULL)
          continue;
        while (getline (&line, &cap, f) > 0)
          {
            if (tail < 0)
              emit (line, timestamps, &w);
            else if (tail > 0)
              {
                free (ring[count % tail]);
                ring[count % tail] = xstrdup (line);
                count++;
              }
          }
        if (k > 0 || !follow)
          {
            fclose (f);
            f = NULL;
          }
      }
  }
  if (ring)
    {
      long start = count > tail ? count - tail : 0;
      for (long k = start; k < count; k++)
        emit (ring[k % tail], timestamps, &w);
      for (long k = 0; k < tail; k++)
        free (ring[k]);
      free (ring);
    }
  while (follow)
    {
      struct timespec ts = { 0, 100 * 1000 * 1000 };
      struct stat now, cur;
      bool done = !running (e, id);
      if (f)
        {
          clearerr (f);
          while (getline (&line, &cap, f) > 0)
            emit (line, timestamps, &w);
        }
      /* Rotated under us: what the old file still had is read above;
         the new one from its start. */
      if (stat (path, &now) == 0 && (f == NULL || (fstat (fileno (f), &cur) == 0 && cur.st_ino != now.st_ino)))
        {
          if (f)
            fclose (f);
          f = fopen (path, "re");
          if (f)
            continue;
        }
      if (done)
        break;
      nanosleep (&ts, NULL);
    }
  free (line);
  if (f)
    fclose (f);
  berth_engine_close (e);
  return 0;
}
