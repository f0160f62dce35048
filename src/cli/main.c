#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "lib/base/cloned_binary.h"
#include "lib/engine/engine.h"
#include "lib/vm/vm.h"
#include "lib/base/utils.h"

struct cli_globals cli = { .root = BERTH_DEFAULT_STORE };

static const struct
{
  const char *name;
  int (*fn) (int, char **);
  const char *help;
} commands[] = {
  { "run", cmd_run, "create and start a container" },
  { "create", cmd_create, "create a container" },
  { "start", cmd_start, "start containers" },
  { "ps", cmd_ps, "list containers" },
  { "logs", cmd_logs, "show a container's output" },
  { "exec", cmd_exec, "run a command in a running container" },
  { "stop", cmd_stop, "stop containers (TERM, then KILL)" },
  { "kill", cmd_kill, "send a signal to containers" },
  { "pause", cmd_pause, "pause containers (freeze them; a VM container's whole VM)" },
  { "unpause", cmd_unpause, "resume paused containers" },
  { "cp", cmd_cp, "copy files between a container and the host" },
  { "export", cmd_export, "write a container's file system as a tar" },
  { "diff", cmd_diff, "list what changed in a container's file system" },
  { "commit", cmd_commit, "make an image of a container's changes" },
  { "update", cmd_update, "change a container's CPU, memory and process limits" },
  { "rm", cmd_rm, "remove containers" },
  { "wait", cmd_wait, "wait for containers to exit" },
  { "inspect", cmd_inspect, "show containers or images as JSON" },
  { "top", cmd_top, "a container's processes (host PIDs)" },
  { "attach", cmd_attach, "attach to a running container (detach: ctrl-p ctrl-q)" },
  { "stats", cmd_stats, "a container's CPU, memory and process counts" },
  { "restart", cmd_restart, "stop and start containers" },
  { "rename", cmd_rename, "give a container another name" },
  { "container", cmd_container, "manage containers (ls, inspect, rm, start, stop, ... as the commands above)" },
  { "system", cmd_system, "disk usage and pruning (df, prune), info, events" },
  { "events", cmd_events, "show container and image events (past, then as they happen)" },
  { "info", cmd_info, "show what this host runs" },
  { "volume", cmd_volume, "manage named volumes (create, ls, inspect, rm, prune)" },
  { "network", cmd_network, "manage networks (create, ls, inspect, rm, connect, disconnect)" },
  { "port", cmd_port, "list a container's published ports" },
  { "pull", cmd_pull, "pull an image from a registry" },
  { "push", cmd_push, "push an image to a registry" },
  { "login", cmd_login, "save credentials for a registry" },
  { "logout", cmd_logout, "forget the credentials for a registry" },
  { "images", cmd_images, "list images" },
  { "image", cmd_image, "manage images (ls, inspect, rm, prune, load, save, import, tag)" },
  { "load", cmd_load, "load images from a docker save or OCI archive" },
  { "save", cmd_save, "save images to an archive" },
  { "import", cmd_import, "import a root filesystem tarball as an image" },
  { "tag", cmd_tag, "give an image another name" },
  { "rmi", cmd_rmi, "remove images" },
  { "vm", cmd_vm, "manage VM templates (vm template ls, rm)" },
  { "version", cmd_version, "show the version" },
};

int
cli_error (berth_err_t *err)
{
  fprintf (stderr, "berth: %s\n", err && *err ? (*err)->msg : "unknown error");
  berth_error_release (err);
  return 125;
}

int
cli_usage (const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "berth %s: ", cmd);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nSee 'berth %s --help'.\n", cmd);
  return 125;
}

bool
cli_help (int argc, char **argv, const char *usage, const char *options)
{
  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
      {
        printf ("Usage: berth %s\n", usage);
        if (options)
          printf ("\nOptions:\n%s", options);
        return true;
      }
  return false;
}

int
cli_open_store (struct berth_store **s)
{
  berth_err_t err = NULL;
  if (berth_store_open (cli.root, s, &err) < 0)
    return cli_error (&err);
  return 0;
}

void
cli_human_size (double b, char *buf, size_t len)
{
  const char *units[] = { "B", "kB", "MB", "GB", "TB" };
  int u = 0;
  while (b >= 1000 && u < 4)
    {
      b /= 1000;
      u++;
    }
  snprintf (buf, len, u == 0 ? "%.0f%s" : "%.3g%s", b, units[u]);
}

void
cli_human_ago (const char *ts, char *buf, size_t len)
{
  struct tm tm = { 0 };
  time_t t, now = time (NULL);
  double d;
  if (ts == NULL || strptime (ts, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
    {
      snprintf (buf, len, "N/A");
      return;
    }
  t = timegm (&tm);
  d = difftime (now, t);
  if (d < 60)
    snprintf (buf, len, "%s", d < 2 ? "Less than a second ago" : "Less than a minute ago");
  else if (d < 3600)
    snprintf (buf, len, "%d minutes ago", (int)(d / 60));
  else if (d < 86400)
    snprintf (buf, len, "%d hours ago", (int)(d / 3600));
  else if (d < 86400 * 60)
    snprintf (buf, len, "%d days ago", (int)(d / 86400));
  else
    snprintf (buf, len, "%d months ago", (int)(d / (86400 * 30)));
}

int
cmd_version (int argc, char **argv)
{
  (void)argc;
  (void)argv;
  printf ("berth version 0.1.0\n");
  return 0;
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: berth [--root DIR] COMMAND [options]\n\nCommands:\n");
  for (size_t i = 0; i < ARRAY_SIZE (commands); i++)
    fprintf (out, "  %-9s %s\n", commands[i].name, commands[i].help);
  fprintf (out, "\nGlobal options:\n  --root DIR   store and state (default " BERTH_DEFAULT_STORE ")\n");
}

/* The engine starts each container's monitor as `berth --root R __monitor
   ID READY_FD STATUS_FD attach|detach` (handled in main below). */
static char **
monitor_argv (const char *root, const char *id, int ready_fd, int status_fd, bool attach)
{
  char **a = xcalloc (9, sizeof (char *));
  a[0] = xstrdup ("berth");
  a[1] = xstrdup ("--root");
  a[2] = xstrdup (root);
  a[3] = xstrdup ("__monitor");
  a[4] = xstrdup (id);
  a[5] = xasprintf ("%d", ready_fd);
  a[6] = xasprintf ("%d", status_fd);
  a[7] = xstrdup (attach ? "attach" : "detach");
  return a;
}

static void
debug_to_stderr (const char *msg)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  fprintf (stderr, "berth: debug: [%lld.%03ld] %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000, msg);
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = { { "root", required_argument, NULL, 'r' },
                                        { "debug", no_argument, NULL, 'D' },
                                        { "help", no_argument, NULL, 'h' },
                                        { "version", no_argument, NULL, 'v' },
                                        { NULL, 0, NULL, 0 } };
  int c;
  const char *env = getenv ("BERTH_ROOT");
  /* Lives as long as the process: cli.root may point into it. */
  char *conf_root = berth_config_string (NULL, "root");
  berth_host_mntns_init ();
  berth_vm_register ();
  berth_engine_set_monitor (monitor_argv);
  /* --root, then $BERTH_ROOT, then the host config's "root". */
  if (conf_root)
    cli.root = conf_root;
  if (env && *env)
    cli.root = env;
  while ((c = getopt_long (argc, argv, "+hvD", opts, NULL)) != -1)
    switch (c)
      {
      case 'r':
        cli.root = optarg;
        break;
      case 'D':
        cli.debug = true;
        /* The monitor, which creates the container, inherits it. */
        setenv ("BERTH_DEBUG", "1", 1);
        break;
      case 'v':
        return cmd_version (0, NULL);
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 125;
      }
  if (getenv ("BERTH_DEBUG") && *getenv ("BERTH_DEBUG"))
    berth_debug_set_sink (debug_to_stderr);
  if (optind >= argc)
    {
      usage (stderr);
      return 125;
    }
  if (strcmp (argv[optind], "__monitor") == 0 && argc - optind == 5)
    {
      /* The per-container monitor (engine.c starts it).  It creates the
         container, so it runs from a protected copy (CVE-2019-5736). */
      struct berth_engine *e = NULL;
      berth_err_t err = NULL;
      extern char **environ;
      if (berth_ensure_cloned_binary (argv, environ, true, &err) < 0 || berth_engine_open (cli.root, &e, &err) < 0)
        return cli_error (&err);
      return berth_monitor_main (e, argv[optind + 1], atoi (argv[optind + 3]), atoi (argv[optind + 2]),
                                 strcmp (argv[optind + 4], "attach") == 0);
    }
  for (size_t i = 0; i < ARRAY_SIZE (commands); i++)
    if (strcmp (argv[optind], commands[i].name) == 0)
      {
        argv += optind;
        argc -= optind;
        /* 0, not 1: glibc resets its argument permutation only then, and
           a command's options after its operands need that. */
        optind = 0;
        return commands[i].fn (argc, argv);
      }
  fprintf (stderr, "berth: unknown command \"%s\"\n", argv[optind]);
  usage (stderr);
  return 125;
}
