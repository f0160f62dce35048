/* The OCI runtime spec (config.json, versions 1.0 to 1.2) parsed and
   validated.  Every error names the field: "process.capabilities.bounding[3]:
   unknown capability "CAP_TEST"". */
#ifndef BERTH_SPEC_H
#define BERTH_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"

enum
{
  CAP_SET_BOUNDING,
  CAP_SET_EFFECTIVE,
  CAP_SET_INHERITABLE,
  CAP_SET_PERMITTED,
  CAP_SET_AMBIENT,
  CAP_SET_COUNT
};

enum berth_hook_kind
{
  HOOK_PRESTART,
  HOOK_CREATE_RUNTIME,
  HOOK_CREATE_CONTAINER,
  HOOK_START_CONTAINER,
  HOOK_POSTSTART,
  HOOK_POSTSTOP,
  HOOK_KIND_COUNT
};

struct berth_id_map
{
  uint32_t container_id, host_id, size;
};

struct berth_rlimit
{
  int resource;
  uint64_t soft, hard;
};

struct berth_process
{
  bool terminal;
  unsigned console_height, console_width;
  uint32_t uid, gid;
  int umask; /* -1: leave as it is */
  uint32_t *additional_gids;
  size_t n_additional_gids;
  char **args;
  char **env;
  char *cwd;
  bool has_caps;
  uint64_t caps[CAP_SET_COUNT]; /* bit masks */
  struct berth_rlimit *rlimits;
  size_t n_rlimits;
  bool no_new_privileges;
  bool has_oom_score_adj;
  int oom_score_adj;
  char *apparmor_profile;
  char *selinux_label;
  bool has_io_priority;
  int io_priority_class, io_priority;
  /* What was left out, for the caller to warn about (NULL: nothing). */
  char *warnings;
};

struct berth_mount
{
  char *destination;
  char *type;
  char *source;
  char **options;
  /* Derived from options. */
  unsigned long flags;       /* MS_* flags applied when mounting */
  unsigned long clear_flags; /* flags a "rw"-style option turned off */
  unsigned long propagation; /* MS_PRIVATE, MS_SHARED... (with MS_REC) */
  bool bind, recursive, readonly;
  char *data; /* the options the kernel takes as fs data */
};

struct berth_hook
{
  char *path;
  char **args;
  char **env;
  int timeout; /* seconds, 0 = none */
};

struct berth_namespace
{
  int type; /* CLONE_NEW* */
  char *path;
};

struct berth_device
{
  char type; /* c, b, u or p */
  char *path;
  int64_t major, minor;
  bool has_mode;
  mode_t mode;
  bool has_uid, has_gid;
  uid_t uid;
  gid_t gid;
};

struct berth_sysctl
{
  char *key, *value;
};

struct berth_spec
{
  json_t *json; /* the whole document, for hooks' state and annotations */
  char *oci_version;
  char *root_path;
  bool root_readonly;
  char *hostname, *domainname;
  struct berth_process *process;
  struct berth_mount *mounts;
  size_t n_mounts;
  struct berth_hook *hooks[HOOK_KIND_COUNT];
  size_t n_hooks[HOOK_KIND_COUNT];
  json_t *annotations; /* borrowed from json */

  struct berth_namespace *namespaces;
  size_t n_namespaces;
  struct berth_id_map *uid_maps, *gid_maps;
  size_t n_uid_maps, n_gid_maps;
  char *cgroups_path;
  json_t *resources; /* borrowed; parsed by cgroup.c */
  json_t *seccomp;   /* borrowed; parsed by seccomp.c */
  struct berth_sysctl *sysctls;
  size_t n_sysctls;
  char *rootfs_propagation;
  char **masked_paths, **readonly_paths;
  struct berth_device *devices;
  size_t n_devices;
  bool has_time_offsets;
  int64_t boottime_secs, monotonic_secs;
  uint32_t boottime_nsecs, monotonic_nsecs;
  char *mount_label;
};

int berth_spec_load_file (const char *path, struct berth_spec **out, berth_err_t *err);
int berth_spec_load_string (const char *text, size_t len, const char *name, struct berth_spec **out, berth_err_t *err);
int berth_spec_from_json (json_t *root, struct berth_spec **out, berth_err_t *err);
void berth_spec_free (struct berth_spec *spec);
#define cleanup_spec __attribute__ ((cleanup (berth_spec_freep)))
void berth_spec_freep (struct berth_spec **spec);

/* A process object alone (exec --process). */
int berth_process_from_json (json_t *obj, const char *path, struct berth_process **out, berth_err_t *err);
void berth_process_free (struct berth_process *p);

int berth_spec_has_namespace (const struct berth_spec *spec, int type, const char **path);

/* Capability names <-> numbers. */
int berth_cap_from_name (const char *name);
const char *berth_cap_name (int cap);
int berth_cap_last (void);

/* Mount options table, exported for the unit tests. */
int berth_parse_mount_options (struct berth_mount *m, const char *path, berth_err_t *err);

/* A default spec as `runc spec` writes it. */
json_t *berth_spec_default (bool terminal);

/* linux.sysctl against the namespaces, as runc checks them: IPC sysctls
   (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*) need an IPC
   namespace, net.* a network namespace, kernel.hostname and
   kernel.domainname a UTS namespace (and must agree with hostname and
   domainname), each the container's own (new, or joined by a path that is
   not the host's); any other sysctl is the host's and refused. */
int berth_spec_check_sysctls (const struct berth_spec *spec, berth_err_t *err);

#endif
