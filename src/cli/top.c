#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "lib/container.h"
#include "lib/engine.h"
#include "lib/utils.h"
#include "lib/vm.h"

/* `docker top`: the container's processes as ps(1) shows them, with host
   PIDs in process isolation. */
int
cmd_top (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  pid_t *pids = NULL;
  size_t n = 0;
  char id[65];
  int pfd[2], pid_col = -1, status;
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  bool header = true;
  pid_t child;
  if (cli_help (argc, argv, "top CONTAINER [ps OPTIONS]", NULL))
    return 0;
  if (argc < 2)
    return cli_usage ("top", "requires a container");
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_ctr_resolve (e, argv[1], id, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  {
    /* A VM container's processes exist only in its guest: the guest's
       view, with the guest's PIDs (as docker top of a Hyper-V isolated
       container shows). */
    json_t *rec = NULL;
    bool vm = berth_ctr_load (e, id, &rec, &err) == 0
              && strcmp (json_string_value (json_object_get (rec, "Isolation")) ?: "", "vm") == 0;
    json_decref (rec);
    berth_error_release (&err);
    if (vm)
      {
        char **lines = NULL;
        if (argc > 2)
          {
            berth_engine_close (e);
            return cli_usage ("top", "ps options are not available for a VM-isolated container (the guest has no ps)");
          }
        if (berth_vm_ps (e->runtime_root, id, &lines, &err) < 0)
          {
            berth_engine_close (e);
            return cli_error (&err);
          }
        for (char **l = lines; *l; l++)
          printf ("%s\n", *l);
        strv_free (lines);
        berth_engine_close (e);
        return 0;
      }
  }
  if (berth_container_pids (e->runtime_root, id, &pids, &n, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  berth_engine_close (e);
  if (n == 0)
    {
      fprintf (stderr, "berth: container %s is not running\n", argv[1]);
      return 1;
    }
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return 125;
  child = fork ();
  if (child == 0)
    {
      char **args = xcalloc ((size_t)argc + 2, sizeof (char *));
      args[0] = (char *)"ps";
      if (argc == 2)
        args[1] = (char *)"-ef";
      for (int i = 2; i < argc; i++)
        args[i - 1] = argv[i];
      dup2 (pfd[1], 1);
      close (pfd[0]);
      close (pfd[1]);
      execvp ("ps", args);
      _exit (127);
    }
  close (pfd[1]);
  f = fdopen (pfd[0], "r");
  while (f && getline (&line, &cap, f) > 0)
    {
      char *copy = xstrdup (line), *save = NULL;
      int col = 0;
      for (char *t = strtok_r (copy, " \t\n", &save); t; t = strtok_r (NULL, " \t\n", &save), col++)
        {
          if (header && strcmp (t, "PID") == 0)
            pid_col = col;
          if (!header && col == pid_col)
            {
              for (size_t k = 0; k < n; k++)
                if (pids[k] == (pid_t)atoi (t))
                  fputs (line, stdout);
              break;
            }
        }
      if (header)
        fputs (line, stdout);
      header = false;
      free (copy);
    }
  free (line);
  if (f)
    fclose (f);
  waitpid (child, &status, 0);
  free (pids);
  return pid_col < 0 ? 1 : 0;
}
