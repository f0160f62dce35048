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
  /* systemd's driver: the transient scope and its slice (NULL with
     cgroupfs).  Until the first process enters, dirs is empty and the
     resources wait in pending: a scope starts with its first PID. */
  char *unit;
  char *slice;
  json_t *pending;
};

int berth_cgroup_mode (void);
/* In a container's state directory: {cgroupsPath, systemd}, what its
   cgroup is made from, written by create before the cgroup and the state. */
#define BERTH_CGROUP_NOTE "cgroup.json"
/* cgroupsPath as the spec gives it ("/a/b", "a/b", "slice:prefix:name" with
   systemd) to a path under each hierarchy's root. */
int berth_cgroup_resolve_path (const char *spec_path, const char *id, bool systemd, char **out, berth_err_t *err);
/* The parent of containers' cgroups when the spec names none. */
#define BERTH_CGROUP_PARENT "/berth"
/* On a cgroup v2 host, the work every container's cgroup below
   BERTH_CGROUP_PARENT would start with, done once: the parent made with
   the root's controllers and its own handed down, and the device filter
   for DEVICES (linux.resources.devices) loaded and kept.  For the VM
   agent, whose template then holds both for every clone. */
int berth_cgroup_prepare (json_t *devices, berth_err_t *err);
/* Makes the directories and applies RESOURCES; on failure nothing is left. */
int berth_cgroup_create (const char *rel_path, json_t *resources, struct berth_cgroup **out, berth_err_t *err);
/* A container's cgroup from its spec: with SYSTEMD on a host whose PID 1
   is systemd, a transient scope that systemd makes when the first process
   enters (berth_cgroup_enter); else cgroupfs directories made now, the
   systemd form of the path translated as runc does without systemd. */
int berth_cgroup_create_spec (const char *spec_path, const char *id, bool systemd, json_t *resources,
                              struct berth_cgroup **out, berth_err_t *err);
/* PID 1 is systemd (sd_booted's test). */
bool berth_systemd_booted (void);
/* The unit and slice that "slice:prefix:name" names, by runc's rules;
   path_out (may be NULL) gets the scope's cgroup path. */
int berth_systemd_parse_path (const char *spec_path, const char *id, char **slice_out, char **unit_out, char **path_out,
                              berth_err_t *err);
int berth_cgroup_enter (struct berth_cgroup *cg, pid_t pid, berth_err_t *err);
/* On a cgroup v2 host: the container's cgroup directory as an O_PATH fd,
   for clone3's CLONE_INTO_CGROUP; -1 elsewhere (v1 or hybrid). */
int berth_cgroup_open_v2 (struct berth_cgroup *cg);
int berth_cgroup_update (struct berth_cgroup *cg, json_t *resources, berth_err_t *err);
/* The cgroup a spec's path names, found without the state that recorded
   it (a state file that cannot be read): every process in it killed and
   its directories removed; with SYSTEMD on a systemd host, its scope
   stopped too.  Nothing there is no error. */
int berth_cgroup_purge_spec (const char *spec_path, const char *id, bool systemd, berth_err_t *err);
/* Kills what is left (when asked), then removes every directory. */
int berth_cgroup_destroy (struct berth_cgroup *cg, bool kill_procs, berth_err_t *err);
int berth_cgroup_pids (struct berth_cgroup *cg, pid_t **pids, size_t *n, berth_err_t *err);
int berth_cgroup_freeze (struct berth_cgroup *cg, bool frozen, berth_err_t *err);
/* Thaws whatever freezer PID is in now (its own cgroup's, or one it was
   moved into), v1 or v2, best effort: a frozen task takes no SIGKILL. */
void berth_cgroup_thaw_pid (pid_t pid);
int berth_cgroup_is_frozen (struct berth_cgroup *cg);
/* OOM kills in the container's cgroup so far: memory.events' oom_kill on
   v2, memory.oom_control's on v1; -1 where it cannot be read. */
long berth_cgroup_oom_kills (struct berth_cgroup *cg);
/* OOM kills followed while the container runs.  The count stays readable
   only while the cgroup exists, and a systemd scope goes as its last
   process does, often before its monitor has read the last kill.  So on
   v2 the parent's count (memory.events is hierarchical) is watched too,
   with BASE what it counted besides this cgroup at the last look: when
   the cgroup has gone, the parent's growth since then is its last kills
   (another child's kill in the milliseconds between would count too). */
struct berth_oom_watch
{
  int fd, parent_fd; /* poll(POLLPRI) both; -1 where there is none */
  long kills;        /* -1: never read */
  long base;         /* -1: unknown */
  bool gone;         /* the cgroup went while watched */
};
#define BERTH_OOM_WATCH_INIT                                                                                           \
  {                                                                                                                    \
    .fd = -1, .parent_fd = -1, .kills = -1, .base = -1                                                                 \
  }
/* Opens W's files (FD -1 where the controller is absent). */
void berth_cgroup_oom_watch (struct berth_cgroup *cg, struct berth_oom_watch *w);
/* Reads the counts again: on each POLLPRI and when the container ends. */
void berth_oom_watch_update (struct berth_oom_watch *w);
void berth_oom_watch_close (struct berth_oom_watch *w);
/* The container's cgroup directory for one controller (NULL if absent). */
const char *berth_cgroup_dir_for (struct berth_cgroup *cg, const char *controller);

json_t *berth_cgroup_to_json (struct berth_cgroup *cg);
int berth_cgroup_from_json (json_t *j, struct berth_cgroup **out, berth_err_t *err);
void berth_cgroup_free (struct berth_cgroup *cg);

#endif
