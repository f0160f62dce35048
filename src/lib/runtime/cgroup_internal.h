/* Inside the cgroup code: cgroup.c (hierarchies, paths, life cycle) and
   cgroup_limits.c (linux.resources written to v1 or v2 files). */
#ifndef BERTH_CGROUP_INTERNAL_H
#define BERTH_CGROUP_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/runtime/cgroup.h"

/* Signed integers in resources: jansson gives int64. */
bool res_int (json_t *obj, const char *key, int64_t *out);
/* linux.resources is an object, its integer fields integers, its objects
   objects. */
int cg_check_types (json_t *res, berth_err_t *err);
int need_dir (struct berth_cgroup *cg, const char *controller, const char *field, const char **dir, berth_err_t *err);
bool cg_file_exists (const char *dir, const char *file);
int cg_write (const char *dir, const char *file, const char *value, berth_err_t *err);
int cg_writef (const char *dir, const char *file, berth_err_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/* The v1 controllers, each in its own hierarchy: linux.resources' keys in
   the order runc writes them. */
int apply_v1 (struct berth_cgroup *cg, json_t *res, berth_err_t *err);
int apply_v2 (struct berth_cgroup *cg, json_t *res, berth_err_t *err);
/* Loads (and keeps) the device filter apply_v2 would attach for DEVICES. */
int devices_preload_v2 (json_t *devices, berth_err_t *err);
/* cgroup_systemd.c: the scope over D-Bus. */
int berth_systemd_start_scope (struct berth_cgroup *cg, pid_t pid, berth_err_t *err);
int berth_systemd_stop_scope (struct berth_cgroup *cg, berth_err_t *err);
int berth_systemd_set_properties (struct berth_cgroup *cg, json_t *resources, berth_err_t *err);
/* 1 when systemd says the scope ended on an OOM kill (its Result is
   "oom-kill"), 0 when not or when it no longer knows the scope. */
int berth_systemd_oom_result (struct berth_cgroup *cg);

#endif
