/* -e and --env-file, as docker reads them: NAME=VALUE as given; a bare
   NAME takes the caller's value, and is left out when the caller has
   none. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

void
cli_env_add (json_t *env, const char *kv)
{
  const char *v;
  if (strchr (kv, '=') != NULL)
    {
      json_array_append_new (env, json_string (kv));
      return;
    }
  v = getenv (kv);
  if (v)
    json_array_append_new (env, json_sprintf ("%s=%s", kv, v));
}

int
cli_env_file (json_t *env, const char *path, berth_err_t *err)
{
  FILE *f = fopen (path, "re");
  char line[8192];
  int n = 0;
  if (f == NULL)
    return berth_error (err, errno, "--env-file %s", path);
  while (fgets (line, sizeof (line), f))
    {
      size_t len = strcspn (line, "\r\n");
      n++;
      if (line[len] == '\0' && !feof (f))
        {
          fclose (f);
          return berth_error (err, E2BIG, "--env-file %s: line %d is longer than %zu bytes", path, n,
                              sizeof (line) - 2);
        }
      line[len] = '\0';
      if (line[0] == '=')
        {
          fclose (f);
          return berth_error (err, EINVAL, "--env-file %s: line %d: no variable name before `=`", path, n);
        }
      if (line[strspn (line, " \t")] && line[strspn (line, " \t")] != '#')
        cli_env_add (env, line + strspn (line, " \t"));
    }
  fclose (f);
  return 0;
}
