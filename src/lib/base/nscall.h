/* Namespace helpers below the runtime: the /proc name of a namespace type
   and running a function inside another namespace from a child process
   (net and vm use it for taps and netlink sockets in a container's network
   namespace). */
#ifndef BERTH_NSCALL_H
#define BERTH_NSCALL_H

#include <sched.h>

#include "lib/base/error.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* "net", "mnt"... as in /proc/PID/ns. */
const char *berth_ns_proc_name (int type);

/* Runs FN in the namespace NS_FD (of type NSTYPE, CLONE_NEW*) from a child
   process, so that the caller never leaves its own (a failure to come
   back would leave it half in a container's namespace).  FN's fd (-1:
   none) and text (NULL: none) are handed back; its error too. */
typedef int (*berth_ns_fn) (void *arg, int *fd_out, char **text_out, berth_err_t *err);
int berth_ns_call (int ns_fd, int nstype, berth_ns_fn fn, void *arg, int *fd_out, char **text_out, berth_err_t *err);

#endif
