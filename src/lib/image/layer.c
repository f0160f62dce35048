#include "lib/image/layer.h"

#include "lib/base/archive_dl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/base/utils.h"

char *
berth_layer_path (struct berth_store *s, const char *diffid)
{
  return xasprintf ("%s/layers/sha256/%s", s->root, berth_digest_hex (diffid));
}

bool
berth_layer_exists (struct berth_store *s, const char *diffid)
{
  cleanup_free char *p = NULL;
  if (!berth_digest_valid (diffid))
    return false;
  p = berth_layer_path (s, diffid);
  return access (p, F_OK) == 0;
}

int
berth_layer_unpack (struct berth_store *s, const char *blob, const char *expect_diffid, char *diffid_out,
                    berth_err_t *err)
{
  cleanup_free char *blob_path = NULL;
  cleanup_free char *tmp = NULL;
  cleanup_free char *final = NULL;
  cleanup_close int fd = -1;
  char diffid[BERTH_DIGEST_LEN + 1];

  if (berth_digest_check (blob, "layer", err) < 0)
    return -1;
  if (expect_diffid && berth_layer_exists (s, expect_diffid))
    {
      strcpy (diffid_out, expect_diffid);
      return 0;
    }
  blob_path = berth_blob_path (s, blob);
  fd = open (blob_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "layer %s", blob);
  tmp = berth_store_tmpdir (s, "layer", err);
  if (tmp == NULL)
    return -1;
  chmod (tmp, 0755);
  if (berth_unpack_fd (fd, tmp, diffid, NULL, err) < 0)
    goto fail;
  if (expect_diffid && strcmp (expect_diffid, diffid) != 0)
    {
      berth_error (err, 0, "layer %s: its content is %s, the image config says %s", blob, diffid, expect_diffid);
      goto fail;
    }
  final = berth_layer_path (s, diffid);
  /* Two unpacks of the same layer may race: the first rename wins and the
     other copy is dropped. */
  if (rename (tmp, final) < 0 && errno != EEXIST && errno != ENOTEMPTY)
    {
      berth_error (err, errno, "publish layer %s", diffid);
      goto fail;
    }
  if (access (tmp, F_OK) == 0)
    {
      berth_err_t e2 = NULL;
      rm_rf_at (AT_FDCWD, tmp, &e2);
      berth_error_release (&e2);
    }
  strcpy (diffid_out, diffid);
  return 0;

fail:
  {
    berth_err_t e2 = NULL;
    rm_rf_at (AT_FDCWD, tmp, &e2);
    berth_error_release (&e2);
  }
  return -1;
}
