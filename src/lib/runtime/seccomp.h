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
/* The filter as the BPF program seccomp_load would install (sock_filter
   records, in *BPF, *LEN bytes): 1.  0 when it cannot be loaded as a bare
   program (flags, SCMP_ACT_NOTIFY rules: they need libseccomp's load) or
   does not build (the loader then builds it and says why); -1 on other
   failures.  A VM's host compiles a guest's filter so: ~12-20 ms of the
   guest's start under TCG, ~1 ms here. */
int berth_seccomp_export (json_t *seccomp, void **bpf, size_t *len, berth_err_t *err);
/* Loads such a program into the calling thread, as seccomp_load does. */
int berth_seccomp_load_program (const void *bpf, size_t len, berth_err_t *err);
/* The names libseccomp knows, for `features`. */
json_t *berth_seccomp_features (void);

#endif
