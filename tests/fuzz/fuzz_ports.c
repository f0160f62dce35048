/* libFuzzer: the network specs a command line gives: -p (publish),
   --expose and subnets (CIDR).  The first byte picks which. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utils.h"
#include "lib/net/net.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  berth_err_t err = NULL;
  json_t *out = json_object ();
  char *s;
  uint32_t addr;
  int prefix;
  if (size == 0)
    {
      json_decref (out);
      return 0;
    }
  s = malloc (size);
  memcpy (s, data + 1, size - 1);
  s[size - 1] = '\0';
  switch (data[0] % 3)
    {
    case 0:
      berth_net_parse_publish (s, out, &err);
      break;
    case 1:
      berth_net_parse_expose (s, out, &err);
      break;
    default:
      berth_net_parse_cidr (s, &addr, &prefix, &err);
      break;
    }
  berth_error_release (&err);
  json_decref (out);
  free (s);
  return 0;
}
