#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lib/runtime/cgroup.h"
#include "lib/vm/vm.h"
#include "lib/engine/engine.h"
#include "lib/runtime/state.h"
#include "lib/base/utils.h"

int
cmd_stats (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  bool json = false;
  json_t *out = json_array ();
  int first = 1;
  if (cli_help (argc, argv, "stats --no-stream [--format json] CONTAINER...", NULL))
    return 0;
  while (first < argc && argv[first][0] == '-')
    {
      if (strcmp (argv[first], "--format") == 0 && first + 1 < argc)
        json = strcmp (argv[++first], "json") == 0;
      else if (strcmp (argv[first], "--no-stream") != 0)
        return cli_usage ("stats", "unknown option %s (berth stats samples once: --no-stream)", argv[first]);
      first++;
    }
  if (first >= argc)
    return cli_usage ("stats", "requires at least one container");
  if (berth_engine_open (cli.root, &e, &err) < 0)
    return cli_error (&err);
  for (int i = first; i < argc; i++)
    {
      char id[65];
      json_t *s1 = NULL, *s2 = NULL, *rec = NULL;
      double cpu;
      /* CPU % over a short interval, as docker's first sample does. */
      if (berth_engine_resolve (e, argv[i], id, &err) < 0 || berth_engine_load (e, id, &rec, &err) < 0
          || berth_container_stats (e->runtime_root, id, &s1, &err) < 0
          || (usleep (200000), berth_container_stats (e->runtime_root, id, &s2, &err)) < 0)
        {
          fprintf (stderr, "berth: %s\n", err->msg);
          berth_error_release (&err);
          json_decref (s1);
          json_decref (rec);
          continue;
        }
      cpu = 100.0
            * (double)(json_integer_value (json_object_get (s2, "cpu_ns"))
                       - json_integer_value (json_object_get (s1, "cpu_ns")))
            / 200e6;
      /* docker's names; what else the backend measured goes as it is. */
      json_object_set (s2, "memory_usage", json_object_get (s2, "memory"));
      json_object_del (s2, "memory");
      json_object_del (s2, "cpu_ns");
      json_object_set_new (s2, "cpu_percent", json_real (cpu));
      json_object_set_new (s2, "id", json_string (id));
      json_object_set (s2, "name", json_object_get (rec, "Name"));
      json_array_append_new (out, s2);
      json_decref (s1);
      json_decref (rec);
    }
  if (json)
    {
      json_dumpf (out, stdout, JSON_COMPACT);
      putchar ('\n');
    }
  else
    {
      json_t *s;
      size_t k;
      printf ("%-12s   %-20s %-8s %-22s %s\n", "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS");
      json_array_foreach (out, k, s)
      {
        char u[32], l[32], both[72];
        long long lim = json_integer_value (json_object_get (s, "memory_limit"));
        cli_human_size ((double)json_integer_value (json_object_get (s, "memory_usage")), u, sizeof (u));
        if (lim <= 0 || lim >= (1LL << 60))
          snprintf (l, sizeof (l), "unlimited");
        else
          cli_human_size ((double)lim, l, sizeof (l));
        snprintf (both, sizeof (both), "%s / %s", u, l);
        printf ("%-12.12s   %-20s %-8.2f %-22s %lld\n", json_string_value (json_object_get (s, "id")),
                json_string_value (json_object_get (s, "name")), json_real_value (json_object_get (s, "cpu_percent")),
                both, (long long)json_integer_value (json_object_get (s, "pids")));
      }
    }
  json_decref (out);
  berth_engine_close (e);
  return 0;
}
