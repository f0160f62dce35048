#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/runtime/container.h"
#include "lib/engine/engine.h"
#include "lib/base/utils.h"

int
cmd_exec (int argc, char **argv)
{
  static const struct option opts[]
      = { { "interactive", no_argument, NULL, 'i' },   { "tty", no_argument, NULL, 't' },
          { "detach", no_argument, NULL, 'd' },        { "env", required_argument, NULL, 'e' },
          { "workdir", required_argument, NULL, 'w' }, { "user", required_argument, NULL, 'u' },
          { "env-file", required_argument, NULL, 1 },  { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  struct berth_exec_request req = { 0 };
  json_t *proc = NULL, *args = json_array (), *env = json_array ();
  const char *wd = NULL, *user = NULL;
  bool tty = false;
  char id[65];
  int c, status = 0;
  if (cli_help (argc, argv,
                "exec [-i] [-t] [-d] [-e K=V] [--env-file F] [-w DIR] [-u USER[:GROUP]] CONTAINER COMMAND [ARG...]",
                "  -u, --user USER[:GROUP]  names or ids; names from the container's /etc/passwd and /etc/group\n"
                "      --env-file FILE      NAME=VALUE lines; a bare NAME takes the caller's value\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "+itde:w:u:", opts, NULL)) != -1)
    switch (c)
      {
      case 'i':
        break;
      case 't':
        tty = true;
        break;
      case 'd':
        req.detach = true;
        break;
      case 'e':
        cli_env_add (env, optarg);
        break;
      case 1:
        if (cli_env_file (env, optarg, &err) < 0)
          return cli_error (&err);
        break;
      case 'w':
        wd = optarg;
        break;
      case 'u':
        user = optarg;
        break;
      default:
        return cli_usage ("exec", "unknown option");
      }
  if (optind + 2 > argc)
    return cli_usage ("exec", "requires a container and a command");
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_resolve (e, argv[optind], id, &err) < 0
      || berth_container_process_template (e->runtime_root, id, &proc, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  for (int i = optind + 1; i < argc; i++)
    json_array_append_new (args, json_string (argv[i]));
  json_object_set_new (proc, "args", args);
  json_object_set_new (proc, "terminal", json_boolean (tty));
  json_array_extend (json_object_get (proc, "env"), env);
  if (wd)
    json_object_set_new (proc, "cwd", json_string (wd));
  if (user)
    {
      json_t *u = NULL;
      if (berth_engine_exec_user (e, id, user, &u, &err) < 0)
        {
          json_decref (proc);
          berth_engine_close (e);
          return cli_error (&err);
        }
      json_object_set_new (proc, "user", u);
    }
  req.process = proc;
  if (berth_container_exec (e->runtime_root, id, &req, &status, &err) < 0)
    {
      int code = err->status == ENOENT ? 127 : err->status == EACCES ? 126 : 125;
      fprintf (stderr, "berth: %s\n", err->msg);
      berth_error_release (&err);
      status = code;
    }
  json_decref (proc);
  json_decref (env);
  berth_engine_close (e);
  return status;
}
