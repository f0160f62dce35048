#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lib/cgroup.h"
#include "lib/vm.h"
#include "lib/engine.h"
#include "lib/state.h"
#include "lib/utils.h"

static long long
read_num (const char *dir, const char *file)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, file);
  cleanup_free char *t = NULL;
  berth_err_t err = NULL;
  if (dir == NULL || read_file_at (AT_FDCWD, p, &t, NULL, &err) < 0)
    {
      berth_error_release (&err);
      return -1;
    }
  return strncmp (t, "max", 3) == 0 ? -1 : atoll (t);
}

/* One sample from the container's cgroup (v1 or v2). */
static json_t *
sample (struct berth_state *st)
{
  struct berth_cgroup *cg = st->cgroup;
  bool v2 = cg->mode == CGROUP_V2;
  const char *mem = berth_cgroup_dir_for (cg, v2 ? "" : "memory");
  const char *cpu = berth_cgroup_dir_for (cg, v2 ? "" : "cpuacct");
  const char *pids = berth_cgroup_dir_for (cg, v2 ? "" : "pids");
  long long usage = read_num (mem, v2 ? "memory.current" : "memory.usage_in_bytes");
  long long limit = read_num (mem, v2 ? "memory.max" : "memory.limit_in_bytes");
  long long cpu_ns = -1;
  if (v2)
    {
      cleanup_free char *p = xasprintf ("%s/cpu.stat", cpu);
      cleanup_free char *t = NULL;
      berth_err_t err = NULL;
      if (read_file_at (AT_FDCWD, p, &t, NULL, &err) == 0 && strstr (t, "usage_usec "))
        cpu_ns = atoll (strstr (t, "usage_usec ") + 11) * 1000;
      berth_error_release (&err);
    }
  else
    cpu_ns = read_num (cpu, "cpuacct.usage");
  return json_pack ("{s:I,s:I,s:I,s:I}", "memory_usage", usage, "memory_limit", limit, "cpu_ns", cpu_ns, "pids",
                    read_num (pids, v2 ? "pids.current" : "pids.current"));
}

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
      struct berth_state *st = NULL;
      json_t *s1, *s2, *rec = NULL;
      double cpu;
      if (berth_ctr_resolve (e, argv[i], id, &err) == 0 && berth_ctr_load (e, id, &rec, &err) == 0
          && strcmp (json_string_value (json_object_get (rec, "Isolation")) ?: "", "vm") == 0)
        {
          /* The guest measures its container's cgroup. */
          json_t *a = NULL, *b = NULL;
          if (berth_vm_stats (e->runtime_root, id, &a, &err) < 0
              || (usleep (200000), berth_vm_stats (e->runtime_root, id, &b, &err)) < 0)
            {
              fprintf (stderr, "berth: %s\n", err->msg);
              berth_error_release (&err);
              json_decref (a);
              json_decref (rec);
              continue;
            }
          cpu = 100.0
                * (double)(json_integer_value (json_object_get (b, "cpu_ns"))
                           - json_integer_value (json_object_get (a, "cpu_ns")))
                / 200e6;
          s2 = json_pack ("{s:O,s:O,s:O,s:f,s:s,s:O,s:O}", "memory_usage", json_object_get (b, "memory"),
                          "memory_limit", json_object_get (b, "memory_limit"), "pids", json_object_get (b, "pids"),
                          "cpu_percent", cpu, "id", id, "name", json_object_get (rec, "Name"), "guest_memory_used",
                          json_object_get (b, "guest_memory_used"));
          if (json_object_get (b, "guest_memory_free"))
            json_object_set (s2, "guest_memory_free", json_object_get (b, "guest_memory_free"));
          json_array_append_new (out, s2);
          json_decref (a);
          json_decref (b);
          json_decref (rec);
          continue;
        }
      if (err || berth_state_load (e->runtime_root, id, &st, &err) < 0 || st->cgroup == NULL)
        {
          if (err == NULL)
            berth_error (&err, 0, "container %s has no cgroup", argv[i]);
          fprintf (stderr, "berth: %s\n", err->msg);
          berth_error_release (&err);
          json_decref (rec);
          berth_state_free (st);
          continue;
        }
      /* CPU % over a short interval, as docker's first sample does. */
      s1 = sample (st);
      usleep (200000);
      s2 = sample (st);
      cpu = 100.0
            * (double)(json_integer_value (json_object_get (s2, "cpu_ns"))
                       - json_integer_value (json_object_get (s1, "cpu_ns")))
            / 200e6;
      json_object_set_new (s2, "cpu_percent", json_real (cpu));
      json_object_set_new (s2, "id", json_string (id));
      json_object_set (s2, "name", json_object_get (rec, "Name"));
      json_array_append_new (out, s2);
      json_decref (s1);
      json_decref (rec);
      berth_state_free (st);
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
