#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void
emit (const char *line, bool timestamps, const char *since)
{
  json_t *j = json_loads (line, 0, NULL);
  const char *log = json_string_value (json_object_get (j, "log"));
  const char *stream = json_string_value (json_object_get (j, "stream"));
  const char *t = json_string_value (json_object_get (j, "time"));
  if (log && (since == NULL || (t && strcmp (t, since) >= 0)))
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
  static const struct option opts[] = { { "follow", no_argument, NULL, 'f' },
                                        { "tail", required_argument, NULL, 'n' },
                                        { "timestamps", no_argument, NULL, 't' },
                                        { "since", required_argument, NULL, 's' },
                                        { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  bool follow = false, timestamps = false;
  long tail = -1;
  const char *since = NULL;
  char id[65];
  cleanup_free char *path = NULL;
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  char **ring = NULL;
  long count = 0;
  int o;
  if (cli_help (argc, argv, "logs [-f] [--tail N] [--timestamps] [--since RFC3339] CONTAINER", NULL))
    return 0;
  while ((o = getopt_long (argc, argv, "fn:t", opts, NULL)) != -1)
    switch (o)
      {
      case 'f':
        follow = true;
        break;
      case 'n':
        tail = strcmp (optarg, "all") == 0 ? -1 : atol (optarg);
        break;
      case 't':
        timestamps = true;
        break;
      case 's':
        since = optarg;
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
  f = fopen (path, "re");
  if (f == NULL)
    {
      berth_engine_close (e);
      return 0;
    }
  if (tail >= 0)
    ring = xcalloc ((size_t)tail + 1, sizeof (char *));
  while (getline (&line, &cap, f) > 0)
    {
      if (tail < 0)
        emit (line, timestamps, since);
      else if (tail > 0)
        {
          free (ring[count % tail]);
          ring[count % tail] = xstrdup (line);
          count++;
        }
    }
  if (ring)
    {
      long start = count > tail ? count - tail : 0;
      for (long k = start; k < count; k++)
        emit (ring[k % tail], timestamps, since);
      for (long k = 0; k < tail; k++)
        free (ring[k]);
      free (ring);
    }
  while (follow)
    {
      struct timespec ts = { 0, 100 * 1000 * 1000 };
      clearerr (f);
      while (getline (&line, &cap, f) > 0)
        emit (line, timestamps, since);
      if (!running (e, id))
        {
          clearerr (f);
          while (getline (&line, &cap, f) > 0)
            emit (line, timestamps, since);
          break;
        }
      nanosleep (&ts, NULL);
    }
  free (line);
  fclose (f);
  berth_engine_close (e);
  return 0;
}
