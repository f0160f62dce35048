/* libFuzzer: image references as docker normalises them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utils.h"
#include "lib/image/reference.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s = malloc (size + 1);
  struct berth_ref *r = NULL;
  berth_err_t err = NULL;
  memcpy (s, data, size);
  s[size] = '\0';
  if (berth_ref_parse (s, &r, &err) == 0)
    berth_ref_free (r);
  berth_error_release (&err);
  free (s);
  return 0;
}
