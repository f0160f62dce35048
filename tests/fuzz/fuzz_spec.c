/* libFuzzer: config.json through the runtime's parser and its sysctl
   check.  The invariant: an error or a spec, never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>

#include "lib/base/utils.h"
#include "lib/runtime/spec.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct berth_spec *spec = NULL;
  berth_err_t err = NULL;
  if (berth_spec_load_string ((const char *)data, size, "config.json", &spec, &err) == 0)
    {
      if (berth_spec_check_sysctls (spec, &err) < 0)
        berth_error_release (&err);
      berth_spec_free (spec);
    }
  berth_error_release (&err);
  return 0;
}
