/* Container state under the runtime's root directory: one directory per
   container, state.json written atomically, a per-container lock. */
#ifndef BERTH_STATE_H
#define BERTH_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/runtime/cgroup.h"
#include "lib/base/error.h"

#define BERTH_DEFAULT_ROOT "/run/berth-runtime"
#define BERTH_OCI_VERSION "1.2.0"

struct berth_state
{
  char *id;
  pid_t pid;
  unsigned long long start_time; /* tells our pid from a reused one */
  char *bundle;
  char *rootfs;
  char *created;
  char *owner;
  json_t *config; /* the spec as created: hooks and exec need it later */
  struct berth_cgroup *cgroup;
  bool systemd_cgroup;
  /* The isolation backend's name (isolation.h) and what it records of
     its own (a VM: {pid, accel, kernel, ...}); NULL: none. */
  char *isolation;
  json_t *backend;
};

int berth_validate_id (const char *id, berth_err_t *err);
char *berth_state_dir (const char *root, const char *id);
/* Locks the container's directory (flock); *fd is released by closing. */
int berth_state_lock (const char *root, const char *id, int *fd, berth_err_t *err);
int berth_state_save (const char *root, struct berth_state *st, berth_err_t *err);
int berth_state_load (const char *root, const char *id, struct berth_state **out, berth_err_t *err);
void berth_state_free (struct berth_state *st);
int berth_state_remove (const char *root, const char *id, berth_err_t *err);
int berth_state_list (const char *root, char ***ids, berth_err_t *err);

/* "created", "running", "paused" or "stopped", from the live system. */
const char *berth_state_status (const char *root, struct berth_state *st);
bool berth_state_alive (struct berth_state *st);
/* The OCI state document ({ociVersion, id, status, pid, bundle, ...}). */
json_t *berth_state_json (const char *root, struct berth_state *st, const char *status_override);

#endif
