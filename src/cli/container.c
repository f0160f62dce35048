/* berth rename, and the `container` command group, as docker has them:
   `berth container ls|inspect|rm|...` is the command of the same verb
   (ls is ps; inspect is inspect --type container). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/engine/engine.h"

int
cmd_rename (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  int rc = 0;
  if (cli_help (argc, argv, "rename CONTAINER NEW_NAME", NULL))
    return 0;
  if (argc != 3)
    return cli_usage ("rename", "requires a container and its new name");
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_rename (e, argv[1], argv[2], &err) < 0)
    rc = cli_error (&err);
  berth_engine_close (e);
  return rc;
}

static const struct
{
  const char *verb;
  int (*fn) (int, char **);
} verbs[] = {
  { "ls", cmd_ps },
  { "list", cmd_ps },
  { "ps", cmd_ps },
  { "run", cmd_run },
  { "create", cmd_create },
  { "start", cmd_start },
  { "stop", cmd_stop },
  { "restart", cmd_restart },
  { "kill", cmd_kill },
  { "pause", cmd_pause },
  { "unpause", cmd_unpause },
  { "update", cmd_update },
  { "rm", cmd_rm },
  { "remove", cmd_rm },
  { "wait", cmd_wait },
  { "logs", cmd_logs },
  { "exec", cmd_exec },
  { "top", cmd_top },
  { "attach", cmd_attach },
  { "stats", cmd_stats },
  { "port", cmd_port },
  { "rename", cmd_rename },
  { "prune", cmd_container_prune },
  { "cp", cmd_cp },
  { "export", cmd_export },
  { "diff", cmd_diff },
  { "commit", cmd_commit },
  { "inspect", NULL },
};

int
cmd_container (int argc, char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      printf ("Usage: berth container COMMAND\n\nCommands:");
      for (size_t i = 0; i < sizeof (verbs) / sizeof (verbs[0]); i++)
        printf (" %s", verbs[i].verb);
      printf ("\n(each as the top-level command of that name; ls is ps)\n");
      return argc < 2 ? 125 : 0;
    }
  for (size_t i = 0; i < sizeof (verbs) / sizeof (verbs[0]); i++)
    if (strcmp (argv[1], verbs[i].verb) == 0)
      {
        if (verbs[i].fn == NULL)
          {
            /* inspect --type container NAME... */
            char *sub[argc + 3];
            int n = 0;
            sub[n++] = (char *)"inspect";
            sub[n++] = (char *)"--type";
            sub[n++] = (char *)"container";
            for (int k = 2; k < argc; k++)
              sub[n++] = argv[k];
            sub[n] = NULL;
            return cmd_inspect (n, sub);
          }
        return verbs[i].fn (argc - 1, argv + 1);
      }
  return cli_usage ("container", "unknown command \"%s\"", argv[1]);
}
