/* --filter KEY=VALUE for the list commands (ps, images, volume ls,
   network ls).  A key the command does not know is an error, never
   ignored: a script that filters must not get every row. */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "lib/base/utils.h"

int
cli_filter_add (struct cli_filters *f, char *arg)
{
  const char *eq = strchr (arg, '=');
  berth_err_t err = NULL;
  if (f->n == CLI_MAX_FILTERS)
    return cli_usage (f->cmd, "at most %d filters", CLI_MAX_FILTERS);
  if (eq == NULL || eq == arg)
    return cli_usage (f->cmd, "--filter: \"%s\" is not KEY=VALUE", arg);
  for (const char *const *k = f->keys; *k; k++)
    if (strlen (*k) == (size_t)(eq - arg) && strncmp (*k, arg, (size_t)(eq - arg)) == 0)
      {
        f->v[f->n++] = arg;
        return 0;
      }
  berth_error_code (&err, EINVAL, "--filter: \"%.*s\" is not a filter of %s; there are", (int)(eq - arg), arg, f->cmd);
  for (const char *const *k = f->keys; *k; k++)
    {
      char *m = xasprintf ("%s%s %s", err->msg, k == f->keys ? "" : ",", *k);
      free (err->msg);
      err->msg = m;
    }
  return cli_error (&err);
}

bool
cli_filter_has (const struct cli_filters *f, const char *key)
{
  size_t kl = strlen (key);
  for (size_t i = 0; i < f->n; i++)
    if (strncmp (f->v[i], key, kl) == 0 && f->v[i][kl] == '=')
      return true;
  return false;
}

bool
cli_filters_match (const struct cli_filters *f, cli_filter_fn match, json_t *rec, void *ctx)
{
  for (size_t i = 0; i < f->n; i++)
    {
      size_t klen = (size_t)(strchr (f->v[i], '=') - f->v[i]);
      cleanup_free char *key = strndup (f->v[i], klen);
      bool any = false;
      for (size_t j = 0; j < f->n && !any; j++)
        if (strncmp (f->v[j], f->v[i], klen + 1) == 0)
          any = match (key, f->v[j] + klen + 1, rec, ctx);
      if (!any)
        return false;
    }
  return true;
}

bool
cli_filter_label (const char *value, json_t *labels)
{
  const char *eq = strchr (value, '=');
  cleanup_free char *key = eq ? strndup (value, (size_t)(eq - value)) : xstrdup (value);
  json_t *l = json_object_get (labels, key);
  return l && (eq == NULL || strcmp (json_string_value (l) ?: "", eq + 1) == 0);
}
