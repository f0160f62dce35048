/* Typed getters over config.json with the JSON path in every error
   ("process.user.uid: expected an integer, got a string"). */
#include "lib/runtime/spec.h"
#include "lib/runtime/spec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "lib/base/utils.h"

/* ---------------------------------------------------------------- helpers */

const char *
spec_json_type_name (json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
      return "an integer";
    case JSON_REAL:
      return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    default:
      return "null";
    }
}

int
spec_type_error (const char *path, const char *want, json_t *v, berth_err_t *err)
{
  return berth_error (err, 0, "%s: expected %s, got %s", path, want, spec_json_type_name (v));
}

/* Child path "parent.key" (or "key" at the top). */
char *
spec_child (const char *parent, const char *key)
{
  return parent[0] ? xasprintf ("%s.%s", parent, key) : xstrdup (key);
}

char *
spec_elem (const char *parent, size_t i)
{
  return xasprintf ("%s[%zu]", parent, i);
}

int
spec_get_object (json_t *obj, const char *key, const char *parent, json_t **out, berth_err_t *err)
{
  json_t *v = json_object_get (obj, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_object (v))
    {
      cleanup_free char *p = spec_child (parent, key);
      return spec_type_error (p, "an object", v, err);
    }
  *out = v;
  return 1;
}

int
spec_get_array (json_t *obj, const char *key, const char *parent, json_t **out, berth_err_t *err)
{
  json_t *v = json_object_get (obj, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_array (v))
    {
      cleanup_free char *p = spec_child (parent, key);
      return spec_type_error (p, "an array", v, err);
    }
  *out = v;
  return 1;
}

int
spec_get_string (json_t *obj, const char *key, const char *parent, bool required, char **out, berth_err_t *err)
{
  json_t *v = json_object_get (obj, key);
  cleanup_free char *p = spec_child (parent, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    {
      if (required)
        return berth_error (err, 0, "%s: required field is missing", p);
      return 0;
    }
  if (!json_is_string (v))
    return spec_type_error (p, "a string", v, err);
  *out = xstrdup (json_string_value (v));
  return 1;
}

int
spec_get_bool (json_t *obj, const char *key, const char *parent, bool *out, berth_err_t *err)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_boolean (v))
    {
      cleanup_free char *p = spec_child (parent, key);
      return spec_type_error (p, "a boolean", v, err);
    }
  *out = json_is_true (v);
  return 1;
}

int
spec_get_int (json_t *obj, const char *key, const char *parent, int64_t min, int64_t max, int64_t *out,
              berth_err_t *err)
{
  json_t *v = json_object_get (obj, key);
  cleanup_free char *p = spec_child (parent, key);
  json_int_t n;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_integer (v))
    return spec_type_error (p, "an integer", v, err);
  n = json_integer_value (v);
  if (n < min || n > max)
    return berth_error (err, 0, "%s: %lld is out of range [%lld, %lld]", p, (long long)n, (long long)min,
                        (long long)max);
  *out = n;
  return 1;
}

/* uint64 fields: jansson keeps integers as signed 64-bit, so values above
   INT64_MAX (rlimits of "unlimited" written as 18446744073709551615) arrive
   as reals. */
int
spec_get_u64 (json_t *obj, const char *key, const char *parent, uint64_t *out, berth_err_t *err)
{
  json_t *v = json_object_get (obj, key);
  cleanup_free char *p = spec_child (parent, key);
  if (v == NULL || json_is_null (v))
    return 0;
  if (json_is_integer (v))
    {
      if (json_integer_value (v) < 0)
        return berth_error (err, 0, "%s: must not be negative", p);
      *out = (uint64_t)json_integer_value (v);
      return 1;
    }
  if (json_is_real (v) && json_real_value (v) >= 9.2e18 && json_real_value (v) <= 1.85e19)
    {
      *out = json_real_value (v) >= 1.8446744073709e19 ? UINT64_MAX : (uint64_t)json_real_value (v);
      return 1;
    }
  return spec_type_error (p, "an unsigned integer", v, err);
}

int
spec_get_strv (json_t *obj, const char *key, const char *parent, char ***out, berth_err_t *err)
{
  json_t *arr, *v;
  size_t i;
  cleanup_free char *p = spec_child (parent, key);
  int ret = spec_get_array (obj, key, parent, &arr, err);
  *out = NULL;
  if (ret <= 0)
    return ret;
  *out = xcalloc (json_array_size (arr) + 1, sizeof (char *));
  json_array_foreach (arr, i, v)
  {
    if (!json_is_string (v))
      {
        cleanup_free char *e = spec_elem (p, i);
        strv_free (*out);
        *out = NULL;
        return spec_type_error (e, "a string", v, err);
      }
    (*out)[i] = xstrdup (json_string_value (v));
  }
  return 1;
}
