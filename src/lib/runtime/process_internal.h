/* The process backend's parts (isolation_process.c is its table): the
   messages between the runtime and the init it clones, the create that
   clones it and the exec that joins it. */
#ifndef BERTH_PROCESS_INTERNAL_H
#define BERTH_PROCESS_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/runtime/container.h"
#include "lib/runtime/spec.h"
#include "lib/runtime/state.h"

enum
{
  SYNC_PID = 1,     /* intermediate -> parent: the init's pid */
  SYNC_GO,          /* parent -> init: id maps written */
  SYNC_CGROUP_DONE, /* parent -> init: in the container's cgroup */
  SYNC_MOUNTS_DONE, /* init -> parent: run prestart/createRuntime now */
  SYNC_HOOKS_DONE,  /* parent -> init */
  SYNC_READY,       /* init -> parent: ready for start */
  SYNC_SAVED,       /* parent -> init: the state is written, wait for start */
  SYNC_ERROR,       /* either way: data holds an encoded error */
};

struct berth_sync_msg
{
  int32_t type;
  int32_t value;
  char data[3840];
};

int berth_sync_send (int fd, int type, int value, berth_err_t e);
/* The message type, 0 on EOF, -1 on error (a SYNC_ERROR becomes *err). */
int berth_sync_recv (int fd, struct berth_sync_msg *m, berth_err_t *err);
/* The next message must be TYPE. */
int berth_sync_expect (int fd, int type, struct berth_sync_msg *m, berth_err_t *err);
/* A child's failure: the error to the parent, then _exit. */
void __attribute__ ((noreturn)) berth_sync_fail (int sync, berth_err_t *err);
pid_t berth_raw_clone (unsigned long flags);

int berth_process_backend_create (const struct berth_create_opts *o, const char *bundle, struct berth_spec *spec,
                                  pid_t *pid, berth_err_t *err);
int berth_process_backend_exec (const char *root, struct berth_state *st, const struct berth_exec_request *r,
                                int *exit_status, berth_err_t *err);
/* Hands a seccomp notify fd to the spec's listenerPath (consumes it). */
int berth_process_seccomp_listener (const char *root, struct berth_state *st, int notify_fd, berth_err_t *err);

#endif
