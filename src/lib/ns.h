/* Namespaces: names, joining by path, user namespace id maps and time
   namespace offsets. */
#ifndef BERTH_NS_H
#define BERTH_NS_H

#include <sys/types.h>

#include "error.h"
#include "spec.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* "net", "mnt"... as in /proc/PID/ns. */
const char *berth_ns_proc_name (int type);
/* Opens the namespace file at PATH and checks that it is of TYPE. */
int berth_ns_open (const char *path, int type, berth_err_t *err);
int berth_ns_join (int fd, int type, berth_err_t *err);
int berth_write_id_maps (pid_t pid, struct berth_spec *spec, berth_err_t *err);
int berth_write_time_offsets (pid_t pid, struct berth_spec *spec, berth_err_t *err);

/* Runs FN in the namespace NS_FD (of type NSTYPE, CLONE_NEW*) from a child
   process, so that the caller never leaves its own (a failure to come
   back would leave it half in a container's namespace).  FN's fd (-1:
   none) and text (NULL: none) are handed back; its error too. */
typedef int (*berth_ns_fn) (void *arg, int *fd_out, char **text_out, berth_err_t *err);
int berth_ns_call (int ns_fd, int nstype, berth_ns_fn fn, void *arg, int *fd_out, char **text_out, berth_err_t *err);

#endif
