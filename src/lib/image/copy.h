/* docker cp's rules on a container's root given as a directory fd.  The
   engine calls them for a root the host sees; the guest agent for a
   container in a VM, whose root only the guest sees. */
#ifndef BERTH_COPY_H
#define BERTH_COPY_H

#include "lib/base/error.h"

/* A tar of PATH in ROOTFD to OUT_FD ("DIR/." is the directory's contents,
   "/" the root's); OWNER >= 0 stores every entry as owned by it.  ID
   names the container in errors. */
int berth_copy_out (int rootfd, const char *path, int out_fd, int owner, const char *id, berth_err_t *err);

/* The tar on IN_FD into DEST in ROOTFD: into DEST when it is a directory,
   else (with SRC_BASE, the tar's top entry) as DEST, a new name in DEST's
   parent.  Entries never leave the directory they are written into. */
int berth_copy_in (int rootfd, const char *dest, int in_fd, const char *src_base, const char *id, berth_err_t *err);

#endif
