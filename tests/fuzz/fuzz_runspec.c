/* libFuzzer: what `berth run` takes as text that becomes the OCI spec:
   -v, --mount, --tmpfs, --device, --ulimit, --user and
   --cap-add/--cap-drop.  Each
   input is lines; the first byte picks the option every line goes to.
   The invariant: an error naming the option, or a spec, never a crash or
   a leak; nothing is written (the root and /etc files are a scratch
   directory made once). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/engine/ocispec.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char *scratch;

static void
scratch_remove (void)
{
  rmdir (scratch);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct berth_run_opts o = { 0 };
  json_t *lines = json_array (), *ic, *out = NULL, *tmpfs = NULL;
  berth_err_t err = NULL;
  const char *start;
  char *text;
  size_t n;
  if (scratch == NULL)
    {
      char tmpl[] = "/tmp/berth-fuzz-runspec.XXXXXX";
      if (mkdtemp (tmpl) == NULL)
        abort ();
      scratch = strdup (tmpl);
      atexit (scratch_remove);
    }
  if (size == 0)
    {
      json_decref (lines);
      return 0;
    }
  text = malloc (size);
  memcpy (text, data + 1, size - 1);
  text[size - 1] = '\0';
  for (start = text; (n = strcspn (start, "\n")), *start || n; start += n + (start[n] != '\0'))
    {
      char *line = strndup (start, n);
      json_array_append_new (lines, json_string (line) ?: json_string (""));
      free (line);
      if (start[n] == '\0')
        break;
    }
  switch (data[0] % 7)
    {
    case 6:
      {
        /* --mount: each line as the CLI hands it over, then the -v and
           --tmpfs entries it became. */
        size_t i;
        json_t *l, *vols = json_array ();
        tmpfs = json_array ();
        json_array_foreach (lines, i, l)
        {
          if (berth_ocispec_mount_option (json_string_value (l), vols, tmpfs, &err) < 0)
            berth_error_release (&err);
        }
        json_decref (lines);
        o.volumes = lines = vols;
        o.tmpfs = tmpfs;
      }
      break;
    case 0:
      o.volumes = lines;
      break;
    case 1:
      o.tmpfs = lines;
      break;
    case 2:
      o.devices = lines;
      break;
    case 3:
      o.ulimits = lines;
      break;
    case 4:
      o.user = json_string_value (json_array_get (lines, 0));
      break;
    default:
      o.cap_add = lines;
      break;
    }
  o.cmd = json_pack ("[s]", "true");
  ic = json_pack ("{s:[s]}", "Env", "PATH=/bin");
  if (berth_ocispec_build (ic, &o, "fuzz", scratch, scratch, &out, &err) == 0)
    json_decref (out);
  berth_error_release (&err);
  json_decref (ic);
  json_decref (o.cmd);
  json_decref (lines);
  json_decref (tmpfs);
  free (text);
  return 0;
}
