/* linux.seccomp turned into a libseccomp filter: every action, the listed
   architectures and argument conditions. */
#ifndef BERTH_SECCOMP_H
#define BERTH_SECCOMP_H

#include <jansson.h>
#include <seccomp.h>

#include "lib/base/error.h"

/* Validates and compiles; nothing is loaded.  Unknown syscall names are
   skipped, as profiles list calls that not every architecture has. */
int berth_seccomp_build (json_t *seccomp, scmp_filter_ctx *out, berth_err_t *err);
/* Loads the filter into the calling thread.  With SCMP_ACT_NOTIFY rules the
   listener fd is returned in *notify_fd (else -1). */
int berth_seccomp_load (scmp_filter_ctx ctx, int *notify_fd, berth_err_t *err);
/* The names libseccomp knows, for `features`. */
json_t *berth_seccomp_features (void);

#endif
