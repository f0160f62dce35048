#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/runtime/container.h"
#include "lib/base/utils.h"
#include "runtime.h"

/* Table output runs ps(1) and keeps the header and our pids' lines, as runc
   does, so that `ps` options given after the id work. */
static int
ps_table (pid_t *pids, size_t n, int argc, char **argv)
{
  char **args = xcalloc ((size_t)argc + 3, sizeof (char *));
  int pfd[2], status, pid_col = -1;
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  bool header = true;
  pid_t child;

  args[0] = (char *)"ps";
  if (argc == 0)
    args[1] = (char *)"-ef";
  for (int i = 0; i < argc; i++)
    args[i + 1] = argv[i];
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return 1;
  child = fork ();
  if (child == 0)
    {
      dup2 (pfd[1], 1);
      execvp ("ps", args);
      _exit (127);
    }
  close (pfd[1]);
  free (args);
  f = fdopen (pfd[0], "r");
  while (f && getline (&line, &cap, f) > 0)
    {
      if (header)
        {
          /* Find the PID column. */
          char *save = NULL, *copy = xstrdup (line);
          int col = 0;
          for (char *t = strtok_r (copy, " \t\n", &save); t; t = strtok_r (NULL, " \t\n", &save), col++)
            if (strcmp (t, "PID") == 0)
              pid_col = col;
          free (copy);
          fputs (line, stdout);
          header = false;
          continue;
        }
      {
        char *save = NULL, *copy = xstrdup (line);
        int col = 0;
        for (char *t = strtok_r (copy, " \t\n", &save); t; t = strtok_r (NULL, " \t\n", &save), col++)
          if (col == pid_col)
            {
              pid_t p = (pid_t)atoi (t);
              for (size_t i = 0; i < n; i++)
                if (pids[i] == p)
                  fputs (line, stdout);
              break;
            }
        free (copy);
      }
    }
  free (line);
  if (f)
    fclose (f);
  waitpid (child, &status, 0);
  return pid_col < 0 ? 1 : 0;
}

int
cmd_ps (int argc, char **argv)
{
  static const struct option opts[]
      = { { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  berth_err_t err = NULL;
  const char *format = "table";
  pid_t *pids = NULL;
  size_t n = 0;
  int c;
  while ((c = getopt_long_only (argc, argv, "+f:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        format = optarg;
        break;
      case 'h':
        print_help ("ps [--format table|json] ID [ps options]", "  -f, --format FORMAT   table (default) or json\n");
        return 0;
      default:
        return usage_error ("ps", "unknown option");
      }
  if (optind >= argc)
    return usage_error ("ps", "expects a container id");
  if (strcmp (format, "json") != 0 && strcmp (format, "table") != 0)
    return usage_error ("ps", "--format: \"%s\" is not table or json", format);
  if (berth_container_pids (g.root, argv[optind], &pids, &n, &err) < 0)
    return report_error (&err);
  if (strcmp (format, "json") == 0)
    {
      json_t *a = json_array ();
      for (size_t i = 0; i < n; i++)
        json_array_append_new (a, json_integer (pids[i]));
      json_dumpf (a, stdout, JSON_COMPACT);
      putchar ('\n');
      json_decref (a);
      free (pids);
      return 0;
    }
  c = ps_table (pids, n, argc - optind - 1, argv + optind + 1);
  free (pids);
  return c;
}
