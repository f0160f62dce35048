/* The engine: docker-style containers made from images, each with its own
   directory under <root>/containers/<id>, run by berth's runtime library
   and watched by a per-container monitor (monitor.c).

     <root>/containers/<id>/container.json   the record (written atomically)
     <root>/containers/<id>/config.json      the OCI bundle's spec
     <root>/containers/<id>/rootfs           overlay of the image's layers
     <root>/containers/<id>/upper, work      the writable layer
     <root>/containers/<id>/etc/             hostname, hosts, resolv.conf
     <root>/containers/<id>/container.log    json-file log
     <root>/runtime/                         the runtime's state root
     <root>/holds/<id>                       keeps the image from rmi/prune */
#ifndef BERTH_ENGINE_H
#define BERTH_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/engine/ocispec.h"
#include "lib/image/store.h"

struct berth_engine
{
  char *root;
  char *runtime_root;
  struct berth_store *store;
};

/* The host default isolation: /etc/berth/config.json's "isolation"
   (BERTH_CONFIG names another file), then $BERTH_ISOLATION, then process. */
const char *berth_default_isolation (void);
/* Who makes containers' cgroups: "systemd" (a scope in berth.slice that
   systemd makes, as docker and podman do on a systemd host) or "cgroupfs"
   (/berth/ID by hand).  $BERTH_CGROUP_MANAGER, then the host config's
   "cgroup_manager", else systemd where it is PID 1; systemd asked for
   where it is not PID 1 is an error that says so. */
int berth_engine_cgroup_manager (const char **out, berth_err_t *err);

int berth_engine_open (const char *root, struct berth_engine **out, berth_err_t *err);

/* A container's monitor is a program of its own (berth's hidden __monitor
   command, which calls berth_monitor_main): the program that uses the
   engine says how to run it.  The argv runs the monitor of container ID
   under ROOT, reporting on READY_FD (and the exit status on STATUS_FD, -1:
   none), attached to our stdio or not; it is exec'd from a fresh child. */
typedef char **(*berth_monitor_argv_fn) (const char *root, const char *id, int ready_fd, int status_fd, bool attach);
void berth_engine_set_monitor (berth_monitor_argv_fn fn);
void berth_engine_close (struct berth_engine *e);

struct berth_create_request
{
  const char *image;
  const char *name;      /* NULL: a generated one */
  const char *isolation; /* "process" or "vm"; NULL: the host default */
  const char *kernel;    /* vm: a guest kernel file, or a directory with vmlinuz and initrd.img */
  bool auto_remove;
  bool init; /* --init: berth-init as PID 1 */
  bool interactive, tty;
  json_t *labels;
  int stop_timeout; /* seconds, -1: default 10 */
  /* --network: NULL or "bridge", "none", "host", "container:ID" or a
     user network's name; -p as PortBindings, -P, --expose, --ip and
     --network-alias. */
  const char *network;
  json_t *publish;
  bool publish_all;
  json_t *expose;
  const char *ip;
  json_t *aliases;
  json_t *add_hosts;      /* "name:ip", ip may be host-gateway */
  json_t *dns;            /* --dns servers (array of addresses) */
  json_t *dns_search;     /* --dns-search domains ("." alone: none) */
  json_t *dns_options;    /* --dns-option entries */
  json_t *log_config;     /* HostConfig.LogConfig.Config: max-size, max-file */
  json_t *restart_policy; /* {Name, MaximumRetryCount} (berth_restart_policy_parse); NULL: no */
  json_t *healthcheck;    /* --health-*: {Test, Interval, Timeout, Retries, StartPeriod} (ns), any of them */
  bool no_healthcheck;
  const char *stop_signal;
  struct berth_run_opts run;
};

int berth_engine_create (struct berth_engine *e, const struct berth_create_request *r, char *id_out, berth_err_t *err);
/* ID, a unique ID prefix or a name. */
int berth_engine_resolve (struct berth_engine *e, const char *ref, char *id_out, berth_err_t *err);
/* Only by name: a name may look like the start of another container's ID. */
int berth_engine_resolve_name (struct berth_engine *e, const char *name, char *id_out, berth_err_t *err);
int berth_engine_load (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err);
int berth_engine_save (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err);
/* The record's lock (an fd to close), held by every read-modify-write of
   it: the monitor, rename, network connect and the CLI write the same
   record, and none may lose another's change. */
int berth_engine_lock (struct berth_engine *e, const char *id, berth_err_t *err);
/* Under the lock: the record as it is now, changed by FN, saved; *OUT
   (when not NULL) gets the saved record.  FN must not take the lock. */
typedef int (*berth_record_fn) (json_t *rec, void *arg, berth_err_t *err);
int berth_engine_update (struct berth_engine *e, const char *id, berth_record_fn fn, void *arg, json_t **out,
                         berth_err_t *err);
/* Reconciles the record with the system (a dead monitor, a reboot). */
int berth_engine_refresh (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err);
int berth_engine_list (struct berth_engine *e, json_t **out, berth_err_t *err);
/* The same, and in *BROKEN the containers whose record cannot be read
   (truncated, corrupt), which the list leaves out: [{Id, Error}], the
   error naming the file. */
int berth_engine_list_all (struct berth_engine *e, json_t **out, json_t **broken, berth_err_t *err);
char *berth_engine_dir (struct berth_engine *e, const char *id);

/* Spawns the monitor, which creates and starts the container.  With
   ATTACH the monitor copies the container's output to our stdout/stderr
   (and our stdin to it) and *status_fd receives the exit code. */
int berth_engine_start (struct berth_engine *e, const char *id, bool attach, int *status_fd, berth_err_t *err);
int berth_engine_kill (struct berth_engine *e, const char *id, int sig, berth_err_t *err);
/* Health checks (health.c): does the record's Config.Healthcheck ask for
   one; the loop a child of the monitor runs while the container runs. */
bool berth_engine_health_wanted (json_t *rec);
/* Config.Healthcheck from the image's HEALTHCHECK and --health-*
   (OVERRIDES), or {Test: [NONE]} with NONE; NULL: there is none. */
json_t *berth_engine_healthcheck (json_t *image_config, json_t *overrides, bool none);
void berth_engine_health_loop (struct berth_engine *e, const char *id);
/* Restart policies (restart.c): "no", "on-failure[:N]", "always",
   "unless-stopped" into docker's {Name, MaximumRetryCount}. */
int berth_restart_policy_parse (const char *s, json_t **out, berth_err_t *err);
/* Marks the container stopped by hand (stop, kill), or not (start). */
int berth_engine_set_manual_stop (struct berth_engine *e, const char *id, bool manual, berth_err_t *err);
/* update --restart: POLICY (parsed) for the container from now on. */
int berth_engine_set_restart_policy (struct berth_engine *e, const char *id, json_t *policy, berth_err_t *err);
/* start as the restart policy does it: a stop by hand stays marked. */
int berth_engine_start_for_policy (struct berth_engine *e, const char *id, berth_err_t *err);
/* Run by the monitor once the container ended with EXIT_CODE: applies
   the policy (back-off, then a start that spawns the next monitor). */
void berth_engine_restart_policy (struct berth_engine *e, const char *id, int exit_code);
/* docker update: the limits of O (memory, swap, cpus, shares, cpuset,
   pids) on a running container and in its bundle for later starts. */
int berth_engine_update_resources (struct berth_engine *e, const char *id, const struct berth_run_opts *o,
                                   berth_err_t *err);
/* docker pause/unpause: the freezer in process isolation, the whole VM
   stopped in VM isolation; State.Paused in the record. */
int berth_engine_pause (struct berth_engine *e, const char *id, bool pause, berth_err_t *err);
int berth_engine_stop (struct berth_engine *e, const char *id, int timeout, berth_err_t *err);
/* Waits until the container has exited; its exit code. */
int berth_engine_wait (struct berth_engine *e, const char *id, int *exit_code, berth_err_t *err);
int berth_engine_remove (struct berth_engine *e, const char *id, bool force, berth_err_t *err);
/* With VOLUMES (rm -v), the container's anonymous volumes go too. */
int berth_engine_remove_volumes (struct berth_engine *e, const char *id, bool force, bool volumes, berth_err_t *err);

/* Rootfs overlay and cleanup after the container's process is gone; run by
   the monitor, and by refresh when the monitor died. */
int berth_engine_mount_rootfs (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err);
/* exec -u: USER[:GROUP] of container ID as a process.user object.  Names
   are looked up in the container's files: its root as its init sees it in
   process isolation; in VM isolation, whose root lives in the guest, the
   image's (mounted read-only for the lookup). */
/* docker rename: NAME for the container REF, refused while another has
   it; a running container's user networks answer to the new name. */
int berth_engine_rename (struct berth_engine *e, const char *ref, const char *name, berth_err_t *err);
int berth_engine_exec_user (struct berth_engine *e, const char *id, const char *user, json_t **out, berth_err_t *err);
/* REC: the record in the caller's hands (its NetworkSettings.Ports are
   cleared), or NULL to read it. */
int berth_engine_cleanup (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err);

/* Networking of a created container: connect it to one more network, or
   disconnect it (live when it runs in process isolation). */
int berth_engine_connect (struct berth_engine *e, const char *id, const char *network, const char *ip, json_t *aliases,
                          berth_err_t *err);
int berth_engine_disconnect (struct berth_engine *e, const char *id, const char *network, berth_err_t *err);

/* An event of container ID (REC: its record, or NULL to read it) in the
   journal, with its labels, image and name, and EXTRA (stolen, may be
   NULL); never fails the caller. */
void berth_engine_event (struct berth_engine *e, const char *id, json_t *rec, const char *action, json_t *extra);

/* The image layers of record REC as overlayfs' lowerdir (top first). */
char *berth_engine_lowerdirs (struct berth_engine *e, json_t *rec, berth_err_t *err);

/* The container's files (files.c): export, diff, cp and commit work on
   its root as the host sees it (process isolation, or a VM container
   that is not running: its writes lived in the guest). */
int berth_engine_export (struct berth_engine *e, const char *id, int out_fd, berth_err_t *err);
/* [{Path, Kind}] with docker's kinds: 0 changed, 1 added, 2 deleted. */
int berth_engine_diff (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err);
/* A tar of PATH (resolved in the container's root) on OUT_FD, named by its
   last component, owned by OWNER (-1: as it is). */
int berth_engine_cp_out (struct berth_engine *e, const char *id, const char *path, int out_fd, int owner,
                         berth_err_t *err);
/* The tar on IN_FD into the container at DEST (resolved in its root), as
   docker cp does: into DEST when it is a directory, else the tar's entry
   SRC_BASE becomes DEST (SRC_BASE NULL: a tar stream, DEST must be a
   directory). */
int berth_engine_cp_in (struct berth_engine *e, const char *id, const char *dest, int in_fd, const char *src_base,
                        berth_err_t *err);
/* commit: the container's changes as a new layer on its image, with the
   image config CONFIG (the image's, changed by the caller), named NAME
   (NULL: untagged); the new image's manifest digest in MD_OUT. */
int berth_engine_commit (struct berth_engine *e, const char *id, json_t *config, const char *comment,
                         const char *author, const char *name, char *md_out, berth_err_t *err);
/* A VM container that exited: the changes its guest kept (a shim's
   changes.tar) laid on its writable layer on the host, where cp, diff,
   export and commit of the stopped container find them. */
int berth_engine_keep_vm_changes (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err);
/* Before a VM container starts: with changes kept, its bundle names an
   image of its own with them (built when they changed) instead of its
   image's. */
int berth_engine_vm_image (struct berth_engine *e, const char *id, json_t *rec, berth_err_t *err);
/* The image config of the container's image (for commit --change). */
int berth_engine_image_config (struct berth_engine *e, const char *id, json_t **out, berth_err_t *err);

/* The monitor's main (berth __monitor ID ...). */
int berth_monitor_main (struct berth_engine *e, const char *id, int status_fd, int ready_fd, bool attach);

#endif
