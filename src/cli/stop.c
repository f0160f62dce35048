#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lib/engine/engine.h"
#include "lib/base/utils.h"

/* stop, kill, rm and wait: each takes one or more containers. */
static int
each (const char *cmd, int argc, char **argv, int first,
      int (*fn) (struct berth_engine *, const char *, void *, berth_err_t *), void *data, bool print_name)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  int rc = 0;
  if (first >= argc)
    return cli_usage (cmd, "requires at least one container");
  if (berth_engine_open (cli.root, &e, &err) < 0)
    return cli_error (&err);
  for (int i = first; i < argc; i++)
    {
      char id[65];
      if (berth_engine_resolve (e, argv[i], id, &err) < 0 || fn (e, id, data, &err) < 0)
        {
          fprintf (stderr, "berth: %s\n", err->msg);
          berth_error_release (&err);
          rc = 1;
        }
      else if (print_name)
        printf ("%s\n", argv[i]);
    }
  berth_engine_close (e);
  return rc;
}

static int
do_stop (struct berth_engine *e, const char *id, void *data, berth_err_t *err)
{
  return berth_engine_stop (e, id, *(int *)data, err);
}

static int
do_kill (struct berth_engine *e, const char *id, void *data, berth_err_t *err)
{
  return berth_engine_kill (e, id, *(int *)data, err);
}

struct rm_opts
{
  bool force, volumes;
};

static int
do_rm (struct berth_engine *e, const char *id, void *data, berth_err_t *err)
{
  struct rm_opts *o = data;
  return berth_engine_remove_volumes (e, id, o->force, o->volumes, err);
}

static int
do_wait (struct berth_engine *e, const char *id, void *data, berth_err_t *err)
{
  int code;
  if (berth_engine_wait (e, id, &code, err) < 0)
    return -1;
  printf ("%d\n", code);
  return 0;
}

int
cmd_stop (int argc, char **argv)
{
  static const struct option opts[] = { { "time", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 } };
  int t = -1, c;
  if (cli_help (argc, argv, "stop [-t SECONDS] CONTAINER...", "  -t, --time N   seconds to wait before killing\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "t:", opts, NULL)) != -1)
    if (c == 't')
      t = atoi (optarg);
    else
      return cli_usage ("stop", "unknown option");
  return each ("stop", argc, argv, optind, do_stop, &t, true);
}

int
cmd_kill (int argc, char **argv)
{
  static const struct option opts[] = { { "signal", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 } };
  int sig = SIGKILL, c;
  if (cli_help (argc, argv, "kill [-s SIGNAL] CONTAINER...", NULL))
    return 0;
  while ((c = getopt_long (argc, argv, "s:", opts, NULL)) != -1)
    if (c != 's' || parse_signal (optarg, &sig) < 0)
      return cli_usage ("kill", "bad signal \"%s\"", optarg ? optarg : "");
  return each ("kill", argc, argv, optind, do_kill, &sig, true);
}

int
cmd_rm (int argc, char **argv)
{
  static const struct option opts[]
      = { { "force", no_argument, NULL, 'f' }, { "volumes", no_argument, NULL, 'v' }, { NULL, 0, NULL, 0 } };
  struct rm_opts o = { 0 };
  int c;
  if (cli_help (
          argc, argv, "rm [-f] [-v] CONTAINER...",
          "  -f, --force     stop a running container first\n  -v, --volumes   remove its anonymous volumes too\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "fv", opts, NULL)) != -1)
    if (c == 'f')
      o.force = true;
    else if (c == 'v')
      o.volumes = true;
    else
      return cli_usage ("rm", "unknown option");
  return each ("rm", argc, argv, optind, do_rm, &o, true);
}

int
cmd_wait (int argc, char **argv)
{
  if (cli_help (argc, argv, "wait CONTAINER...", NULL))
    return 0;
  return each ("wait", argc, argv, 1, do_wait, NULL, false);
}

static int
do_pause (struct berth_engine *e, const char *id, void *data, berth_err_t *err)
{
  return berth_engine_pause (e, id, *(bool *)data, err);
}

/* pause and unpause: the freezer in process isolation, the whole VM in
   VM isolation. */
static int
pause_cmd (const char *cmd, int argc, char **argv, bool pause)
{
  if (cli_help (argc, argv, pause ? "pause CONTAINER..." : "unpause CONTAINER...", NULL))
    return 0;
  for (int i = 1; i < argc; i++)
    if (argv[i][0] == '-')
      return cli_usage (cmd, "unknown option \"%s\"", argv[i]);
  return each (cmd, argc, argv, 1, do_pause, &pause, true);
}

int
cmd_pause (int argc, char **argv)
{
  return pause_cmd ("pause", argc, argv, true);
}

int
cmd_unpause (int argc, char **argv)
{
  return pause_cmd ("unpause", argc, argv, false);
}
