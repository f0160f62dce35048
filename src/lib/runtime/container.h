/* The container lifecycle as runc defines it: create, start, state, kill,
   delete, exec, pause, resume, update, ps; and top and stats as docker
   has them.  The CLI and the engine call these and nothing below them;
   each reaches the container's isolation backend (isolation.h). */
#ifndef BERTH_CONTAINER_H
#define BERTH_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"

struct berth_create_opts
{
  const char *root;
  const char *id;
  const char *bundle;
  const char *pid_file;
  const char *console_socket;
  int preserve_fds;
  bool no_pivot;
  bool systemd_cgroup;
  /* Set by run: the console socket is one end of our own socketpair. */
  int console_fd;
  /* The isolation backend by name ("process", "vm" or "hyperv"); NULL:
     the bundle's berth.isolation annotation decides, else process. */
  const char *isolation;
  /* vm: the shim stops the VM when its parent (the engine's monitor)
     dies, as the container's stand-in must not outlive its watcher. */
  bool die_with_parent;
  /* A VM's guest: the host checked linux.sysctl against the namespaces the
     config had there; in the guest the container shares the VM's network
     namespace on purpose. */
  bool sysctls_checked;
  /* A VM's guest: linux.seccomp as its host compiled it
     (berth_seccomp_export), loaded as is by the container's process. */
  const void *seccomp_bpf;
  size_t seccomp_bpf_len;
  /* Receives what the config asked for that was left out (capabilities
     this kernel does not know), as one warning; NULL: not wanted. */
  berth_err_t *warning;
};

int berth_container_create (const struct berth_create_opts *o, pid_t *pid, berth_err_t *err);
/* WARNING receives a failing poststart hook, which does not fail start. */
int berth_container_start (const char *root, const char *id, berth_err_t *warning, berth_err_t *err);
/* create + start; in the foreground waits and deletes, giving the exit
   status as a shell would (128+signal). */
int berth_container_run (const struct berth_create_opts *o, bool detach, int *exit_status, berth_err_t *err);
int berth_container_kill (const char *root, const char *id, int sig, bool all, berth_err_t *err);
enum
{
  BERTH_DELETE_FORCE = 1 << 0,  /* kill a running container first */
  BERTH_DELETE_STRICT = 1 << 1, /* runtime-spec: a created one is an error */
};
/* As runc: a stopped or created container goes (a created one's init is
   killed first); a running one only with BERTH_DELETE_FORCE, which also
   removes one whose state was never written or cannot be read (its
   cgroup's processes killed). */
int berth_container_delete (const char *root, const char *id, unsigned flags, berth_err_t *warning, berth_err_t *err);
int berth_container_state (const char *root, const char *id, json_t **out, berth_err_t *err);
int berth_container_pause (const char *root, const char *id, bool pause, berth_err_t *err);
int berth_container_update (const char *root, const char *id, json_t *resources, berth_err_t *err);
/* The host processes of the container (a VM container: its shim and VM). */
int berth_container_pids (const char *root, const char *id, pid_t **pids, size_t *n, berth_err_t *err);
/* `ps` lines of the container's processes as its kernel sees them, header
   first; PS_ARGS: ps options (NULL: -ef). */
int berth_container_top (const char *root, const char *id, char *const *ps_args, char ***lines, berth_err_t *err);
/* {memory, memory_limit, cpu_ns, pids, ...}: one sample. */
int berth_container_stats (const char *root, const char *id, json_t **out, berth_err_t *err);
/* The container's isolation backend by name and what it tells of itself
   for inspect (NULL: nothing); either out pointer may be NULL. */
int berth_container_describe (const char *root, const char *id, char **isolation, json_t **backend, berth_err_t *err);
/* Why the container ended on its own (a killed VM, a guest panic), given
   the wait status of its recorded pid; NULL: it did not. */
char *berth_container_exit_reason (const char *root, const char *id, int wait_status);
/* OOM kills in the container (its cgroup's count, systemd's word on a
   scope that went, a VM's guest's word), -1 when unknown; the watch
   follows them while it runs (cgroup.h), its fds -1 where the backend
   has none. */
struct berth_oom_watch;
long berth_container_oom_kills (const char *root, const char *id);
void berth_container_oom_watch (const char *root, const char *id, struct berth_oom_watch *w);

struct berth_exec_request
{
  json_t *process; /* a runtime-spec process object */
  bool detach;
  const char *pid_file;
  const char *console_socket;
  int preserve_fds;
  /* > 0: the pty master goes to this socket (the VM agent's own). */
  int console_fd;
  /* With detach: receives the exec process's pid. */
  pid_t *pid_out;
  /* As berth_create_opts' warning. */
  berth_err_t *warning;
};
/* The container's own process object, for exec without --process. */
int berth_container_process_template (const char *root, const char *id, json_t **out, berth_err_t *err);
int berth_container_exec (const char *root, const char *id, const struct berth_exec_request *r, int *exit_status,
                          berth_err_t *err);

#endif
