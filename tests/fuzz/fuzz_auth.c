/* libFuzzer: what a registry's auth says, both hostile: a WWW-Authenticate
   Bearer challenge and a token server's JSON reply.  The input's first
   line is the challenge, the rest the reply. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utils.h"
#include "lib/image/registry_internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nl = memchr (data, '\n', size);
  size_t clen = nl ? (size_t)(nl - data) : size;
  char *challenge = malloc (clen + 1);
  char *realm = NULL, *service = NULL, *token = NULL;
  berth_err_t err = NULL;
  memcpy (challenge, data, clen);
  challenge[clen] = '\0';
  for (int http = 0; http < 2; http++)
    {
      if (reg_challenge_parse (challenge, http, &realm, &service, &err) == 0)
        {
          /* What the caller relies on. */
          if (realm == NULL || (strncmp (realm, "https://", 8) != 0 && !(http && strncmp (realm, "http://", 7) == 0))
              || strpbrk (realm, "\r\n"))
            abort ();
          free (realm);
          free (service);
        }
      berth_error_release (&err);
    }
  if (nl && reg_token_parse ((const char *)nl + 1, size - clen - 1, &token, &err) == 0)
    {
      if (*token == '\0' || strpbrk (token, "\r\n") || strlen (token) > 65536)
        abort ();
      free (token);
    }
  berth_error_release (&err);
  free (challenge);
  return 0;
}
