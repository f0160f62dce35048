/* One isolation interface, two implementations: the process backend
   (namespaces and cgroups on the host kernel, isolation_process.c) and the
   VM backend (a QEMU microvm per container, src/lib/vm/backend.c).

   The lifecycle (container.h) picks a backend once, at create, from the
   caller's option, the bundle's berth.isolation annotation or the process
   backend by default, and records its name in the state.  Every later verb
   loads the state and calls through the table; a NULL entry is a verb the
   backend does not support, refused with "<verb> is not supported with
   <name> isolation".  Nothing outside the two implementations asks which
   one a container has: the engine and the CLI ask the table (its entries
   and its flags) instead.

   The process backend is built in.  The VM backend lives above the runtime
   (it needs the network code), so a program that wants it registers it
   (berth_isolation_register) before its first create; berth-runtime and
   berth do, berth-agent (which is itself inside a VM) does not. */
#ifndef BERTH_ISOLATION_H
#define BERTH_ISOLATION_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/runtime/container.h"
#include "lib/runtime/spec.h"
#include "lib/runtime/state.h"

/* The backend has a kernel of its own: it cannot share the host's network
   stack, and a container joining its network joins its machine (a pod). */
#define BERTH_ISOLATION_OWN_KERNEL (1u << 0)
/* Its network devices are fixed when it starts: no live connect. */
#define BERTH_ISOLATION_FIXED_NETDEVS (1u << 1)
/* Its root filesystem is the host's mounted overlay of the image (the
   engine mounts it before start); otherwise the backend reads the image's
   layers itself (prepare). */
#define BERTH_ISOLATION_HOST_ROOTFS (1u << 2)

/* What the engine hands a backend to finish a bundle it built from an
   image (prepare). */
struct berth_isolation_prepare
{
  /* The image's layer directories, lowest first, and a name for the
     image (its config digest) to cache per-image work under CACHE_DIR. */
  const char *const *layers;
  size_t n_layers;
  const char *image_key;
  const char *cache_dir;
  /* --kernel: a kernel file or a directory with vmlinux/vmlinuz. */
  const char *kernel;
  /* --init: mount an init at /sbin/berth-init that runs the command. */
  bool init;
  /* --network=container:X of a backend with OWN_KERNEL: X's id. */
  const char *pod;
  /* The container outlives its exits (not --rm): a backend whose writes
     live apart from the host keeps them when it exits. */
  bool keep_changes;
};

struct berth_isolation
{
  const char *name;
  unsigned flags;

  /* Creates the container: the state directory O->root/O->id does not
     exist yet, and exists with the state saved (recording NAME) when this
     returns 0; nothing is left behind when it fails.  SPEC is the parsed
     bundle config. */
  int (*create) (const struct berth_create_opts *o, const char *bundle, struct berth_spec *spec, pid_t *pid,
                 berth_err_t *err);
  /* The container is "created" and its state directory locked. */
  int (*start) (const char *root, struct berth_state *st, berth_err_t *warning, berth_err_t *err);
  /* The container is alive. */
  int (*kill) (const char *root, struct berth_state *st, int sig, bool all, berth_err_t *err);
  /* delete --force of a container that is not stopped: ends at once what
     still runs of it (the lifecycle then waits for its recorded pid). */
  int (*delete) (const char *root, struct berth_state *st, berth_err_t *err);
  /* delete: after the container's processes are gone (and poststop hooks
     ran), releases what the backend holds for it besides the state. */
  int (*release) (const char *root, struct berth_state *st, berth_err_t *err);
  int (*exec) (const char *root, struct berth_state *st, const struct berth_exec_request *r, int *exit_status,
               berth_err_t *err);
  /* The host processes that make the container (what a host's ps sees). */
  int (*pids) (const char *root, struct berth_state *st, pid_t **pids, size_t *n, berth_err_t *err);
  /* The container's processes as its own kernel sees them, `ps` lines,
     header first; PS_ARGS are ps options (NULL: -ef). */
  int (*top) (const char *root, struct berth_state *st, char *const *ps_args, char ***lines, berth_err_t *err);
  /* {memory, memory_limit, cpu_ns, pids} and what else the backend knows
     (a VM: guest_memory_used, guest_memory_free). */
  int (*stats) (const char *root, struct berth_state *st, json_t **out, berth_err_t *err);
  /* Freeze (PAUSE) or thaw. */
  int (*pause) (const char *root, struct berth_state *st, bool pause, berth_err_t *err);
  /* Paused by a means of its own (a stopped VM); NULL: a frozen cgroup
     tells. */
  bool (*paused) (struct berth_state *st);
  int (*update) (const char *root, struct berth_state *st, json_t *resources, berth_err_t *err);
  /* Why it ended on its own (a killed VM, a guest panic), or NULL;
     WAIT_STATUS is its recorded pid's. */
  char *(*exit_reason) (const char *root, struct berth_state *st, int wait_status);
  /* OOM kills in the container so far (-1: unknown); watch (NULL: none)
     follows them while it runs (cgroup.h). */
  long (*oom_kills) (const char *root, struct berth_state *st);
  void (*oom_watch) (const char *root, struct berth_state *st, struct berth_oom_watch *w);
  /* What inspect shows of the backend ({Accelerator, Kernel, ...}), or NULL. */
  json_t *(*describe) (struct berth_state *st);
  /* The engine's bundle: completes SPEC (built from an image) for this
     backend. */
  int (*prepare) (const struct berth_isolation_prepare *p, json_t *spec, berth_err_t *err);
  /* A line for a user about to start a container here (e.g. "runs under
     software emulation: slow"), or NULL. */
  char *(*notice) (void);
};

extern const struct berth_isolation berth_process_isolation;

/* Makes ISO available by its name (and ALIAS, which may be NULL). */
void berth_isolation_register (const struct berth_isolation *iso, const char *alias);
/* The backend called NAME ("process", "vm", "hyperv"), or NULL with an
   error naming what is available. */
const struct berth_isolation *berth_isolation_find (const char *name, berth_err_t *err);
/* The backend a new container gets: OPTION if set, else the config's
   berth.isolation annotation, else process. */
const struct berth_isolation *berth_isolation_pick (json_t *config, const char *option, berth_err_t *err);
/* The backend recorded in a container's state. */
const struct berth_isolation *berth_isolation_of (struct berth_state *st, berth_err_t *err);
/* "VERB is not supported with NAME isolation". */
int berth_isolation_unsupported (const struct berth_isolation *iso, const char *verb, berth_err_t *err);

#define BERTH_ANNOTATION_ISOLATION "berth.isolation"

/* For the backends: the steps every create and delete share. */

/* The container's state directory, new: an existing one means the id is
   taken. */
int berth_backend_make_state_dir (const struct berth_create_opts *o, char **dir, berth_err_t *err);
int berth_backend_write_pid_file (const char *path, pid_t pid, berth_err_t *err);
/* The state of a container just created: ST as the backend fills it (pid,
   bundle, rootfs, config, ...), with the id, start time, creation time and
   owner added here; then --pid-file. */
int berth_backend_save_created (const struct berth_create_opts *o, struct berth_state *st, berth_err_t *err);
/* Whether PID is gone (or went within TIMEOUT_MS). */
bool berth_backend_wait_gone (pid_t pid, int timeout_ms);
void berth_backend_reap (pid_t pid);
/* The OCI state a hook gets on its stdin (JSON text). */
char *berth_backend_hook_state (const struct berth_create_opts *o, struct berth_spec *spec, const char *status,
                                pid_t pid);
/* Signals the container's recorded process (its init, or the VM's shim),
   through a pidfd checked against its start time. */
int berth_backend_signal (struct berth_state *st, int sig, berth_err_t *err);
/* A foreground caller passes its signals on to PID (0: stops). */
void berth_backend_forward_signals (pid_t pid);
/* Waits for PID; its status as a shell gives it (128+signal). */
int berth_backend_wait_status (pid_t pid, int *exit_status, berth_err_t *err);

/* --init: /sbin/berth-init, bound read-only from SRC, runs the command.
   berth-agent, static, is also berth-init. */
void berth_isolation_add_init (json_t *spec, const char *src);
/* The host's berth-agent: beside $BERTH_VM_DIR, beside our binary, or
   in the install's lib/berth. */
int berth_isolation_host_agent (char **out, berth_err_t *err);

#endif
