#include "lib/image/builtin.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "lib/image/image.h"
#include "lib/image/imgarchive.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

char *
berth_builtin_busybox_path (void)
{
  const char *env = getenv ("BERTH_BUILTIN_BUSYBOX");
  if (env && *env)
    return access (env, R_OK) == 0 ? xstrdup (env) : NULL;
  return berth_asset_path ("images/busybox.tar", "share/berth/busybox.tar", R_OK);
}

int
berth_builtin_ensure (struct berth_store *s, const char *name, bool *imported, berth_err_t *err)
{
  struct berth_ref *r = NULL;
  cleanup_free char *canon = NULL;
  cleanup_free char *tar = NULL;
  char md[BERTH_DIGEST_LEN + 1];
  json_t *config;
  int ret;

  *imported = false;
  if (berth_ref_parse (name, &r, err) < 0)
    {
      berth_error_release (err);
      return 0;
    }
  canon = berth_ref_string (r);
  berth_ref_free (r);
  if (strcmp (canon, BERTH_BUILTIN_REF) != 0)
    return 0;
  if (berth_image_resolve (s, canon, md, err) == 0)
    return 0;
  berth_error_release (err);
  tar = berth_builtin_busybox_path ();
  if (tar == NULL)
    return 0;
  config = json_pack ("{s:[s],s:[s]}", "Env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                      "Cmd", "sh");
  ret = berth_image_import (s, tar, canon, config, NULL, err);
  json_decref (config);
  if (ret == 0)
    *imported = true;
  return ret < 0 ? berth_error_wrap (err, "built-in busybox image `%s`", tar) : 0;
}
