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
cli_kv_file (const char *opt, const char *noun, const char *path, void (*add) (json_t *, const char *), json_t *into,
             berth_err_t *err)
{
  FILE *f = fopen (path, "re");
  char line[8192];
  int n = 0;
  if (f == NULL)
    return berth_error (err, errno, "%s %s", opt, path);
  while (fgets (line, sizeof (line), f))
    {
      size_t len = strcspn (line, "\r\n");
      char *l;
      n++;
      if (line[len] == '\0' && !feof (f))
        {
          fclose (f);
          return berth_error (err, E2BIG, "%s %s: line %d is longer than %zu bytes", opt, path, n, sizeof (line) - 2);
        }
      line[len] = '\0';
      l = line + strspn (line, " \t");
      if (*l == '\0' || *l == '#')
        continue;
      if (*l == '=')
        {
          fclose (f);
          return berth_error (err, EINVAL, "%s %s: line %d: no %s name before `=`", opt, path, n, noun);
        }
      add (into, l);
    }
  fclose (f);
  return 0;
}

int
cli_env_file (json_t *env, const char *path, berth_err_t *err)
{
  return cli_kv_file ("--env-file", "variable", path, cli_env_add, env, err);
}
