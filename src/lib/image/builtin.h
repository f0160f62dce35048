/* The built-in busybox image: `make` turns Debian's busybox-static into a
   root filesystem tarball, imported as docker.io/library/busybox:latest the
   first time it is asked for, so that berth works with no registry. */
#ifndef BERTH_BUILTIN_H
#define BERTH_BUILTIN_H

#include <stdbool.h>

#include "lib/base/error.h"
#include "lib/image/store.h"

#define BERTH_BUILTIN_REF "docker.io/library/busybox:latest"

/* The tarball: $BERTH_BUILTIN_BUSYBOX, else images/busybox.tar beside the
   berth binary, else the installed copy.  NULL when there is none. */
char *berth_builtin_busybox_path (void);
/* True (and the image imported) when NAME is the built-in image and it was
   missing from the store. */
int berth_builtin_ensure (struct berth_store *s, const char *name, bool *imported, berth_err_t *err);

#endif
