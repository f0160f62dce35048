/* berth update: docker's resource flags on one or more containers, live
   in both isolation modes and kept for their later starts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lib/base/utils.h"
#include "lib/engine/engine.h"
#include "lib/engine/ocispec.h"

static const char update_options[] = "  -m, --memory BYTES      memory limit (k, m, g suffixes)\n"
                                     "      --memory-swap BYTES memory plus swap limit (-1: unlimited)\n"
                                     "      --cpus N            CPU quota (e.g. 1.5)\n"
                                     "  -c, --cpu-shares N      CPU weight\n"
                                     "      --cpuset-cpus LIST  CPUs to run on\n"
                                     "      --pids-limit N      process limit (-1: unlimited)\n"
                                     "      --restart POLICY    no, on-failure[:N], always or unless-stopped\n";

int
cmd_update (int argc, char **argv)
{
  static const struct option opts[] = {
    { "memory", required_argument, NULL, 'm' },    { "memory-swap", required_argument, NULL, 1 },
    { "cpus", required_argument, NULL, 2 },        { "cpu-shares", required_argument, NULL, 'c' },
    { "cpuset-cpus", required_argument, NULL, 3 }, { "pids-limit", required_argument, NULL, 4 },
    { "restart", required_argument, NULL, 5 },     { NULL, 0, NULL, 0 },
  };
  struct berth_run_opts o = { 0 };
  json_t *policy = NULL;
  bool limits = false;
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  bool any = false, ok;
  char *end;
  int c, rc = 0;
  if (cli_help (argc, argv, "update [OPTIONS] CONTAINER...", update_options))
    return 0;
  while ((c = getopt_long (argc, argv, "m:c:", opts, NULL)) != -1)
    {
      any = true;
      limits = limits || c != 5;
      switch (c)
        {
        case 'm':
          o.memory = parse_bytes (optarg, &ok);
          if (!ok || o.memory <= 0)
            return cli_usage ("update", "--memory: \"%s\" is not a size", optarg);
          break;
        case 1:
          o.memory_swap = strcmp (optarg, "-1") == 0 ? -1 : parse_bytes (optarg, &ok);
          if (strcmp (optarg, "-1") != 0 && (!ok || o.memory_swap <= 0))
            return cli_usage ("update", "--memory-swap: \"%s\" is not a size", optarg);
          break;
        case 2:
          o.cpus = strtod (optarg, &end);
          if (end == optarg || *end || o.cpus <= 0)
            return cli_usage ("update", "--cpus: \"%s\" is not a positive number", optarg);
          break;
        case 'c':
          o.cpu_shares = strtoll (optarg, &end, 10);
          if (end == optarg || *end || o.cpu_shares <= 0)
            return cli_usage ("update", "--cpu-shares: \"%s\" is not a positive number", optarg);
          break;
        case 3:
          if (*optarg == '\0' || strspn (optarg, "0123456789,-") != strlen (optarg))
            return cli_usage ("update", "--cpuset-cpus: \"%s\" is not a CPU list (0-3,5)", optarg);
          o.cpuset_cpus = optarg;
          break;
        case 4:
          o.pids_limit = strtoll (optarg, &end, 10);
          if (end == optarg || *end || o.pids_limit == 0 || o.pids_limit < -1)
            return cli_usage ("update", "--pids-limit: \"%s\" is not a count (or -1)", optarg);
          break;
        case 5:
          json_decref (policy);
          if (berth_restart_policy_parse (optarg, &policy, &err) < 0)
            return cli_error (&err);
          break;
        default:
          return cli_usage ("update", "unknown option");
        }
    }
  if (!any)
    return cli_usage ("update", "give at least one limit to change");
  if (optind >= argc)
    return cli_usage ("update", "requires at least one container");
  if (berth_engine_open (cli.root, &e, &err) < 0)
    return cli_error (&err);
  for (int i = optind; i < argc; i++)
    {
      char id[65];
      if (berth_engine_resolve (e, argv[i], id, &err) < 0
          || (limits && berth_engine_update_resources (e, id, &o, &err) < 0)
          || (policy && berth_engine_set_restart_policy (e, id, policy, &err) < 0))
        {
          fprintf (stderr, "berth: %s: %s\n", argv[i], err->msg);
          berth_error_release (&err);
          rc = 1;
        }
      else
        printf ("%s\n", argv[i]);
    }
  berth_engine_close (e);
  json_decref (policy);
  return rc;
}
