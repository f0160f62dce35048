/* CVE-2019-5736: a process in the container that reaches /proc/PID/exe of
   a runtime process inside it (the init before start, an exec helper) could
   reopen the host's runtime binary for writing once it exits.  The runtime
   therefore never runs from a writable host file when it enters a
   container:
   - if its binary already sits on a read-only mount, nothing is needed;
   - otherwise it re-executes itself from a read-only bind mount of its own
     binary made in a private mount namespace (a slave of the host's, so
     nothing leaks back), which costs no copy;
   - where that is impossible, from a sealed memfd copy. */
#ifndef BERTH_CLONED_BINARY_H
#define BERTH_CLONED_BINARY_H

#include <stdbool.h>

#include "lib/base/error.h"

/* Returns 0 when already protected; otherwise re-executes (and returns only
   on failure).  ALLOW_PRIVATE_MOUNTNS is false when the container must share
   the runtime's mount namespace with the host. */
int berth_ensure_cloned_binary (char **argv, char **envp, bool allow_private_mountns, berth_err_t *err);
bool berth_exe_is_protected (void);

/* The host's mount namespace when the runtime moved to a private one (-1
   otherwise): hooks that run "in the runtime namespace" go back to it. */
int berth_host_mntns (void);
/* Called early in main after a re-exec: picks up the inherited fd. */
void berth_host_mntns_init (void);

#endif
