#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <jansson.h>

#include "lib/base/cloned_binary.h"
#include "lib/runtime/isolation.h"
#include "lib/runtime/state.h"
#include "lib/vm/vm.h"
#include "lib/base/utils.h"
#include "runtime.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "0.1.0"
#endif

struct global_opts g = { .root = BERTH_DEFAULT_ROOT };

static const struct
{
  const char *name;
  command_fn fn;
  bool enters_container; /* runs from a sealed copy (CVE-2019-5736) */
  const char *help;
} commands[] = {
  { "create", cmd_create, true, "create a container" },
  { "start", cmd_start, false, "start a created container" },
  { "run", cmd_run, true, "create and start a container" },
  { "state", cmd_state, false, "output the state of a container" },
  { "kill", cmd_kill, false, "send a signal to the container's init process" },
  { "delete", cmd_delete, false, "delete a container and what it holds" },
  { "exec", cmd_exec, true, "run a new process inside a container" },
  { "ps", cmd_ps, false, "list the processes of a container" },
  { "list", cmd_list, false, "list the containers" },
  { "pause", cmd_pause, false, "freeze every process of a container" },
  { "resume", cmd_resume, false, "thaw a paused container" },
  { "update", cmd_update, false, "update the resource limits of a container" },
  { "features", cmd_features, false, "show what this runtime supports" },
  { "spec", cmd_spec, false, "write a default config.json" },
};

static void
log_line (const char *level, const char *msg)
{
  cleanup_close int fd = -1;
  cleanup_free char *line = NULL;
  cleanup_free char *ts = NULL;
  if (g.log_file == NULL)
    return;
  fd = open (g.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  ts = timestamp_rfc3339 ();
  if (g.log_json)
    {
      json_t *j = json_pack ("{s:s,s:s,s:s}", "level", level, "msg", msg, "time", ts);
      char *s = json_dumps (j, JSON_COMPACT);
      line = xasprintf ("%s\n", s);
      free (s);
      json_decref (j);
    }
  else
    line = xasprintf ("time=\"%s\" level=%s msg=\"%s\"\n", ts, level, msg);
  (void)write_all (fd, line, strlen (line));
}

/* --debug: the library's debug messages go to the log, as runc's do
   (to stderr without one). */
static void
debug_line (const char *msg)
{
  if (g.log_file)
    log_line ("debug", msg);
  else
    fprintf (stderr, "berth-runtime: debug: %s\n", msg);
}

int
report_error (berth_err_t *err)
{
  const char *msg = (err && *err && (*err)->msg) ? (*err)->msg : "unknown error";
  log_line ("error", msg);
  fprintf (stderr, "berth-runtime: %s\n", msg);
  berth_error_release (err);
  return 1;
}

void
report_warning (berth_err_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  log_line ("warning", (*err)->msg);
  fprintf (stderr, "berth-runtime: warning: %s\n", (*err)->msg);
  berth_error_release (err);
}

int
usage_error (const char *cmd, const char *fmt, ...)
{
  va_list ap;
  char *msg;
  berth_err_t err = NULL;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  berth_error (&err, 0, "%s: %s (see `berth-runtime %s --help`)", cmd, msg, cmd);
  free (msg);
  return report_error (&err);
}

void
print_help (const char *usage, const char *options)
{
  printf ("Usage: berth-runtime [global options] %s\n", usage);
  if (options && options[0])
    printf ("\nOptions:\n%s", options);
}

static void
main_usage (FILE *out)
{
  fprintf (out, "Usage: berth-runtime [global options] COMMAND [options] ARGS\n\n"
                "An OCI runtime with runc's command line.\n\nCommands:\n");
  for (size_t i = 0; i < ARRAY_SIZE (commands); i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf (out, "\nGlobal options:\n"
                "  --root DIR            state directory (default " BERTH_DEFAULT_ROOT ")\n"
                "  --log FILE            also write log lines to FILE\n"
                "  --log-format FORMAT   text or json (default text)\n"
                "  --debug               log debug messages\n"
                "  --systemd-cgroup      cgroupsPath is slice:prefix:name\n"
                "  --isolation MODE      process or vm (hyperv); default: vm when called\n"
                "                        as berth-runtime-vm, else the bundle's\n"
                "                        berth.isolation annotation, else process\n"
                "  --strict-spec         hold to runtime-spec where runc departs from it\n"
                "                        (delete of a created container is an error)\n"
                "  -v, --version         print the version\n"
                "  -h, --help            print this help\n");
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "root", required_argument, NULL, 'r' },
    { "log", required_argument, NULL, 'l' },
    { "log-format", required_argument, NULL, 'f' },
    { "debug", no_argument, NULL, 'd' },
    { "systemd-cgroup", no_argument, NULL, 's' },
    { "rootless", required_argument, NULL, 'R' },
    { "criu", required_argument, NULL, 'C' },
    { "isolation", required_argument, NULL, 'I' },
    { "strict-spec", no_argument, NULL, 'S' },
    { "version", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  const char *name = strrchr (argv[0], '/') ? strrchr (argv[0], '/') + 1 : argv[0];

  g.argv0 = argv[0];
  /* Called as berth-runtime-vm (make install's link), VM isolation is the
     default: containerd's runc shim passes no runtime arguments, so its
     BinaryName alone then picks the mode. */
  if (strcmp (name, "berth-runtime-vm") == 0)
    g.isolation = "vm";
  berth_host_mntns_init ();
  berth_vm_register ();
  /* "+": stop at the subcommand; its options are its own. */
  while ((c = getopt_long_only (argc, argv, "+vh", opts, NULL)) != -1)
    {
      switch (c)
        {
        case 'r':
          g.root = optarg;
          break;
        case 'l':
          g.log_file = optarg;
          break;
        case 'f':
          if (strcmp (optarg, "json") == 0)
            g.log_json = true;
          else if (strcmp (optarg, "text") == 0)
            g.log_json = false;
          else
            {
              fprintf (stderr, "berth-runtime: --log-format: unknown format \"%s\" (text or json)\n", optarg);
              return 1;
            }
          break;
        case 'd':
          g.debug = true;
          berth_debug_set_sink (debug_line);
          break;
        case 's':
          g.systemd_cgroup = true;
          break;
        case 'S':
          g.strict = true;
          break;
        case 'I':
          {
            berth_err_t ierr = NULL;
            const struct berth_isolation *iso = berth_isolation_find (optarg, &ierr);
            if (iso == NULL)
              {
                fprintf (stderr, "berth-runtime: --isolation: %s\n", ierr->msg);
                berth_error_release (&ierr);
                return 1;
              }
            /* The default backend leaves the choice to the bundle's
               annotation, as no flag does. */
            g.isolation = iso == &berth_process_isolation ? NULL : iso->name;
          }
          break;
        case 'R':
        case 'C':
          break; /* accepted for runc compatibility */
        case 'v':
          printf ("berth-runtime version %s\nspec: %s\n", BERTH_VERSION, BERTH_OCI_VERSION);
          return 0;
        case 'h':
          main_usage (stdout);
          return 0;
        default:
          main_usage (stderr);
          return 1;
        }
    }
  if (optind >= argc)
    {
      main_usage (stderr);
      return 1;
    }
  if (g.root[0] != '/')
    {
      char *abs = realpath (g.root, NULL);
      if (abs == NULL)
        {
          if (mkdir (g.root, 0700) < 0 && errno != EEXIST)
            {
              fprintf (stderr, "berth-runtime: --root `%s`: %s\n", g.root, strerror (errno));
              return 1;
            }
          abs = realpath (g.root, NULL);
        }
      if (abs)
        g.root = abs;
    }
  for (size_t i = 0; i < ARRAY_SIZE (commands); i++)
    if (strcmp (argv[optind], commands[i].name) == 0)
      {
        if (commands[i].enters_container)
          {
            berth_err_t err = NULL;
            extern char **environ;
            if (berth_ensure_cloned_binary (argv, environ, true, &err) < 0)
              return report_error (&err);
          }
        argv += optind;
        argc -= optind;
        /* 0, not 1: glibc resets its argument permutation only then, and
           a command's options after its operands need that. */
        optind = 0;
        return commands[i].fn (argc, argv);
      }
  fprintf (stderr, "berth-runtime: unknown command \"%s\"\n", argv[optind]);
  main_usage (stderr);
  return 1;
}
