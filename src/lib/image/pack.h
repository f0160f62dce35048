/* Tar streams out of directory trees (pack.c): export, cp and commit. */
#ifndef BERTH_PACK_H
#define BERTH_PACK_H

#include "lib/base/error.h"

/* overlayfs's whiteouts and opaque directories become OCI's .wh. files
   (a layer made from an upper directory). */
#define BERTH_PACK_OVERLAY 1u
/* Only what is on the top's mount: a live container's root seen through
   /proc/PID/root holds its /proc, /sys, /dev and volumes too. */
#define BERTH_PACK_ONE_FS 2u

/* Writes a tar of entry NAME of directory PARENT (NAME "." for PARENT
   itself) to OUT_FD, its paths under ARCNAME ("" : the entry's contents
   at the top).  Symlinks are stored, never followed; sockets are left out.
   OWNER >= 0 stores every entry as owned by that uid and gid. */
int berth_pack_tree (int parent, const char *name, const char *arcname, int out_fd, unsigned flags, int owner,
                     berth_err_t *err);

#endif
