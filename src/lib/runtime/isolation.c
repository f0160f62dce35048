#include "lib/runtime/isolation.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/utils.h"

/* Two backends and one alias today: a fixed table is enough. */
static struct
{
  const char *name;
  const struct berth_isolation *iso;
} registry[8] = { { "process", &berth_process_isolation } };

void
berth_isolation_register (const struct berth_isolation *iso, const char *alias)
{
  const char *names[2] = { iso->name, alias };
  for (size_t k = 0; k < 2; k++)
    for (size_t i = 0; names[k] && i < ARRAY_SIZE (registry); i++)
      if (registry[i].name == NULL || strcmp (registry[i].name, names[k]) == 0)
        {
          registry[i].name = names[k];
          registry[i].iso = iso;
          break;
        }
}

const struct berth_isolation *
berth_isolation_find (const char *name, berth_err_t *err)
{
  cleanup_free char *known = xstrdup ("");
  for (size_t i = 0; i < ARRAY_SIZE (registry) && registry[i].name; i++)
    if (strcmp (registry[i].name, name) == 0)
      return registry[i].iso;
  /* Not found: the error lists what is. */
  for (size_t i = 0; i < ARRAY_SIZE (registry) && registry[i].name; i++)
    {
      char *k = xasprintf ("%s%s%s", known, known[0] ? ", " : "", registry[i].name);
      free (known);
      known = k;
    }
  berth_error (err, 0, "isolation \"%s\" is not available here (%s)", name, known);
  return NULL;
}

const struct berth_isolation *
berth_isolation_pick (json_t *config, const char *option, berth_err_t *err)
{
  const char *name = option;
  if (name == NULL)
    name = json_string_value (json_object_get (json_object_get (config, "annotations"), BERTH_ANNOTATION_ISOLATION));
  return berth_isolation_find (name && *name ? name : "process", err);
}

const struct berth_isolation *
berth_isolation_of (struct berth_state *st, berth_err_t *err)
{
  const struct berth_isolation *iso = berth_isolation_find (st->isolation ? st->isolation : "process", err);
  if (iso == NULL)
    berth_error_wrap (err, "container `%s`", st->id);
  return iso;
}

int
berth_isolation_unsupported (const struct berth_isolation *iso, const char *verb, berth_err_t *err)
{
  return berth_error_code (err, ENOTSUP, "%s is not supported with %s isolation", verb, iso->name);
}

void
berth_isolation_add_init (json_t *spec, const char *src)
{
  json_t *proc = json_object_get (spec, "process");
  json_t *args = json_array ();
  json_array_append_new (args, json_string ("/sbin/berth-init"));
  json_array_append_new (args, json_string ("--"));
  json_array_extend (args, json_object_get (proc, "args"));
  json_object_set_new (proc, "args", args);
  json_array_append_new (json_object_get (spec, "mounts"),
                         json_pack ("{s:s,s:s,s:s,s:[sss]}", "destination", "/sbin/berth-init", "type", "bind",
                                    "source", src, "options", "bind", "ro", "nosuid"));
}

int
berth_isolation_host_agent (char **out, berth_err_t *err)
{
  const char *vmdir = getenv ("BERTH_VM_DIR");
  *out = NULL;
  /* Beside the VM directory (BERTH_VM_DIR), where make puts it. */
  if (vmdir && *vmdir)
    {
      char *p = xasprintf ("%s/../berth-agent", vmdir);
      if (access (p, X_OK) == 0)
        {
          *out = p;
          return 0;
        }
      free (p);
    }
  *out = berth_asset_path ("berth-agent", "lib/berth/berth-agent", X_OK);
  if (*out == NULL)
    {
      cleanup_free char *where = berth_asset_default ("lib/berth/berth-agent");
      return berth_error (err, ENOENT, "berth-agent (berth-init) is not installed beside berth nor at %s", where);
    }
  return 0;
}
