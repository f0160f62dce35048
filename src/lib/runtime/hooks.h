/* OCI hooks: each gets the container state on stdin and may have a
   timeout; a failing or timed-out hook fails the operation. */
#ifndef BERTH_HOOKS_H
#define BERTH_HOOKS_H

#include "lib/base/error.h"
#include "lib/runtime/spec.h"

const char *berth_hook_kind_name (int kind);
/* Runs every hook of KIND in order with STATE (JSON text) on stdin. */
int berth_run_hooks (struct berth_spec *spec, int kind, const char *state, berth_err_t *err);

/* The same, but a failing hook does not stop the others (poststart and
   poststop: failures are warnings); *err holds the first failure. */
int berth_run_hooks_all (struct berth_spec *spec, int kind, const char *state, berth_err_t *err);

#endif
