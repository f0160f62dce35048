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
  static const struct option opts[] = { { "interactive", no_argument, NULL, 'i' },
                                        { "tty", no_argument, NULL, 't' },
                                        { "detach", no_argument, NULL, 'd' },
                                        { "env", required_argument, NULL, 'e' },
                                        { "workdir", required_argument, NULL, 'w' },
                                        { "user", required_argument, NULL, 'u' },
                                        { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  struct berth_exec_request req = { 0 };
  json_t *proc = NULL, *args = json_array (), *env = json_array ();
  const char *wd = NULL, *user = NULL;
  bool tty = false;
  char id[65];
  int c, status = 0;
  if (cli_help (argc, argv, "exec [-i] [-t] [-d] [-e K=V] [-w DIR] [-u UID[:GID]] CONTAINER COMMAND [ARG...]", NULL))
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
        json_array_append_new (env, json_string (optarg));
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
      long uid = 0, gid = 0;
      char *end;
      uid = strtol (user, &end, 10);
      if (*end == ':')
        gid = strtol (end + 1, &end, 10);
      if (*end)
        return cli_usage ("exec", "--user takes UID[:GID]");
      json_object_set_new (proc, "user", json_pack ("{s:I,s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid));
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
