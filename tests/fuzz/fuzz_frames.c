/* libFuzzer: the host-agent protocol as either end reads it, the bytes
   from a hostile peer (a guest, or whatever reaches the agent's port):
   frames split at every boundary a stream may cut them, and each payload
   through the validators the host and the agent apply. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utils.h"
#include "lib/vm/protocol.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_payload (const struct berth_frame *f)
{
  berth_err_t err = NULL;
  json_t *j = NULL;
  char **lines = NULL;
  int code;
  if (berth_frame_json (f, &j, &err) == 0)
    json_decref (j);
  berth_error_release (&err);
  if (berth_frame_exit_code (f, &code, &err) < 0)
    berth_error_release (&err);
  if (berth_frame_ps_lines (f, &lines, &err) == 0)
    strv_free (lines);
  berth_error_release (&err);
  (void)berth_frame_type_name (f->type);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  size_t off = 0;
  /* The first byte says where the stream is cut, as a short read would. */
  size_t cut = size ? data[0] % 17 + 1 : 1;
  uint8_t *buf = malloc (size + 1);
  size_t have = 0;
  memcpy (buf, data, size);
  while (off < size)
    {
      struct berth_frame f;
      size_t used = 0;
      berth_err_t err = NULL;
      size_t more = size - have < cut ? size - have : cut;
      int r;
      have += more;
      r = berth_frame_parse (buf + off, have - off, &f, &used, &err);
      if (r < 0)
        {
          berth_error_release (&err);
          break;
        }
      if (r == 0)
        {
          if (have == size)
            break;
          continue;
        }
      if (used == 0 || used > have - off)
        abort (); /* the parser must consume what it reports, within the bytes it has */
      check_payload (&f);
      off += used;
    }
  free (buf);
  return 0;
}
