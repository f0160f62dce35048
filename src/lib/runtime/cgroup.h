/* cgroups on v1, v2 and hybrid hosts: one container cgroup per hierarchy,
   resources from the spec applied to it, removed again on delete. */
#ifndef BERTH_CGROUP_H
#define BERTH_CGROUP_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"

enum berth_cgroup_mode
{
  CGROUP_V1 = 1,
  CGROUP_HYBRID,
  CGROUP_V2,
};

struct berth_cgroup_dir
{
  char *controllers; /* "memory", "cpu,cpuacct", "name=systemd" or "" for v2 */
  char *path;        /* absolute directory of the container's cgroup */
};

struct berth_cgroup
{
  int mode;
  char *rel_path; /* the cgroup path as given (after systemd expansion) */
  struct berth_cgroup_dir *dirs;
  size_t n_dirs;
};

int berth_cgroup_mode (void);
/* cgroupsPath as the spec gives it ("/a/b", "a/b", "slice:prefix:name" with
   systemd) to a path under each hierarchy's root. */
int berth_cgroup_resolve_path (const char *spec_path, const char *id, bool systemd, char **out, berth_err_t *err);
/* Makes the directories and applies RESOURCES; on failure nothing is left. */
int berth_cgroup_create (const char *rel_path, json_t *resources, struct berth_cgroup **out, berth_err_t *err);
int berth_cgroup_enter (struct berth_cgroup *cg, pid_t pid, berth_err_t *err);
/* On a cgroup v2 host: the container's cgroup directory as an O_PATH fd,
   for clone3's CLONE_INTO_CGROUP; -1 elsewhere (v1 or hybrid). */
int berth_cgroup_open_v2 (struct berth_cgroup *cg);
int berth_cgroup_update (struct berth_cgroup *cg, json_t *resources, berth_err_t *err);
/* Kills what is left (when asked), then removes every directory. */
int berth_cgroup_destroy (struct berth_cgroup *cg, bool kill_procs, berth_err_t *err);
int berth_cgroup_pids (struct berth_cgroup *cg, pid_t **pids, size_t *n, berth_err_t *err);
int berth_cgroup_freeze (struct berth_cgroup *cg, bool frozen, berth_err_t *err);
/* Thaws whatever freezer PID is in now (its own cgroup's, or one it was
   moved into), v1 or v2, best effort: a frozen task takes no SIGKILL. */
void berth_cgroup_thaw_pid (pid_t pid);
int berth_cgroup_is_frozen (struct berth_cgroup *cg);
/* The container's cgroup directory for one controller (NULL if absent). */
const char *berth_cgroup_dir_for (struct berth_cgroup *cg, const char *controller);

json_t *berth_cgroup_to_json (struct berth_cgroup *cg);
int berth_cgroup_from_json (json_t *j, struct berth_cgroup **out, berth_err_t *err);
void berth_cgroup_free (struct berth_cgroup *cg);

#endif
