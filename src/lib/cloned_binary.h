/* CVE-2019-5736: a container process that can open /proc/PID/exe of the
   runtime while it enters the container could overwrite the host binary.
   The runtime re-executes itself from a sealed, read-only memfd copy, so
   that file is all a container can ever reach. */
#ifndef BERTH_CLONED_BINARY_H
#define BERTH_CLONED_BINARY_H

#include "error.h"

/* Returns 0 when already running from a sealed copy; otherwise re-executes
   (and returns only on failure). */
int berth_ensure_cloned_binary (char **argv, char **envp, berth_err_t *err);
int berth_is_cloned_binary (void);

#endif
