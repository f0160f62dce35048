/* Inside the spec parser (spec.c, spec_process.c): the typed JSON
   getters of spec_json.c.  Each names the JSON path of what was wrong. */
#ifndef BERTH_SPEC_INTERNAL_H
#define BERTH_SPEC_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"

const char *spec_json_type_name (json_t *v);
int spec_type_error (const char *path, const char *want, json_t *v, berth_err_t *err);
/* Child path "parent.key" (or "key" at the top). */
char *spec_child (const char *parent, const char *key);
char *spec_elem (const char *parent, size_t i);
int spec_get_object (json_t *obj, const char *key, const char *parent, json_t **out, berth_err_t *err);
int spec_get_array (json_t *obj, const char *key, const char *parent, json_t **out, berth_err_t *err);
int spec_get_string (json_t *obj, const char *key, const char *parent, bool required, char **out, berth_err_t *err);
int spec_get_bool (json_t *obj, const char *key, const char *parent, bool *out, berth_err_t *err);
int spec_get_int (json_t *obj, const char *key, const char *parent, int64_t min, int64_t max, int64_t *out,
                  berth_err_t *err);
/* uint64 fields: jansson keeps integers as signed 64-bit, so values above
   INT64_MAX (rlimits of "unlimited" written as 18446744073709551615) arrive
   as reals. */
int spec_get_u64 (json_t *obj, const char *key, const char *parent, uint64_t *out, berth_err_t *err);
int spec_get_strv (json_t *obj, const char *key, const char *parent, char ***out, berth_err_t *err);

#endif
