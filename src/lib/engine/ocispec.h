/* From an image config and `berth run` options to the OCI runtime spec, as
   docker builds it: Entrypoint and Cmd, Env, WorkingDir, User, docker's
   default capabilities and seccomp profile, masked paths, /dev/shm and the
   per-container /etc/hostname, /etc/hosts and /etc/resolv.conf. */
#ifndef BERTH_OCISPEC_H
#define BERTH_OCISPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"

struct berth_run_opts
{
  json_t *cmd;            /* array: arguments after the image, may be empty */
  const char *entrypoint; /* NULL: the image's; "": none */
  json_t *env;            /* array of NAME=VALUE (-e, --env-file) */
  const char *workdir;
  const char *user;
  const char *hostname;
  bool tty, interactive, read_only, privileged, no_new_privileges;
  const char *seccomp; /* NULL: default, "unconfined", or a file */
  int64_t memory, memory_swap, cpu_shares, pids_limit;
  double cpus;
  const char *cpuset_cpus;
  json_t *cap_add, *cap_drop; /* arrays of names, "ALL" allowed */
  json_t *ulimits;            /* array of "name=soft[:hard]" */
  json_t *sysctls;            /* object */
  json_t *tmpfs;              /* array of "path[:opts]" */
  json_t *volumes;            /* array of "host:ctr[:ro]" */
  json_t *devices;            /* array of "/dev/x[:/dev/y][:rwm]" */
  const char *stop_signal;
  json_t *group_add; /* array: --group-add names or gids */
  int64_t shm_size;  /* bytes of /dev/shm; 0: 64 MiB */
};

/* ROOTFS is the container's mounted root; ETC holds hostname, hosts and
   resolv.conf for it. */
/* USER[:GROUP], names or ids, into a process.user object; names are
   looked up in ROOTFS's /etc/passwd and /etc/group, inside the root. */
int berth_ocispec_resolve_user (const char *rootfs, const char *spec, json_t **out, berth_err_t *err);
int berth_ocispec_build (json_t *image_config, const struct berth_run_opts *o, const char *id, const char *rootfs,
                         const char *etc, json_t **out, berth_err_t *err);
/* docker's --mount (type=bind|volume|tmpfs,source=S,target=T[,readonly]) as
   the -v or --tmpfs entry it amounts to, appended to VOLUMES or TMPFS. */
int berth_ocispec_mount_option (const char *spec, json_t *volumes, json_t *tmpfs, berth_err_t *err);
/* O's --memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus and
   --pids-limit into RES, an OCI linux.resources object. */
int berth_ocispec_resources (const struct berth_run_opts *o, json_t *res, berth_err_t *err);
/* docker's default seccomp profile, as berth ships it. */
json_t *berth_default_seccomp (void);

#endif
