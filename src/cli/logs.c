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
    in = t && cli_parse_rfc3339 (t, &at) && (!w->since_set || at >= w->since) && (!w->until_set || at <= w->until);
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
  FILE *f = NULL;
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
        if (cli_parse_when (o == 's' ? "since" : "until", optarg, o == 's' ? &w.since : &w.until, &err) < 0)
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
        ssize_t n;
        while ((n = getline (&line, &cap, f)) > 0)
          {
            /* A line not ended is one being written (or given back on a
               full disk): not a line yet. */
            if (line[n - 1] != '\n')
              {
                /* Followed: read again once it is whole. */
                if (k == 0 && follow)
                  {
                    fseeko (f, -(off_t)n, SEEK_CUR);
                    break;
                  }
                continue;
              }
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
      bool done = !running (e, id);
      if (f)
        {
          ssize_t n;
          clearerr (f);
          while ((n = getline (&line, &cap, f)) > 0)
            {
              if (line[n - 1] != '\n')
                {
                  fseeko (f, -(off_t)n, SEEK_CUR);
                  break;
                }
              emit (line, timestamps, &w);
            }
        }
      /* Rotated under us: what the old file still had is read above;
         the new one from its start. */
      if (cli_follow_reopen (&f, path))
        continue;
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
