/* The container's file system: mounts resolved inside the rootfs without
   following a symlink out of it, devices, pivot_root, masked and read-only
   paths. */
#ifndef BERTH_MOUNT_H
#define BERTH_MOUNT_H

#include <stdbool.h>

#include "lib/runtime/cgroup.h"
#include "lib/base/error.h"
#include "lib/runtime/spec.h"

struct berth_rootfs
{
  struct berth_spec *spec;
  const char *rootfs; /* absolute host path */
  bool userns;        /* a new user namespace: mknod is impossible */
  /* With userns: linux.devices made by the runtime outside it, with their
     owner and mode, as O_PATH fds by index, opened by the init in its own
     copy of the runtime's mounts before it became the namespace's root
     (NULL: none; the host's node is bound instead). */
  const int *devnode_fds;
  bool cgroupns; /* a new cgroup namespace */
  struct berth_cgroup *cgroup;
  /* Called once before the cgroup file system is mounted: the init joins
     its cgroup namespace there, so that the (slow, on v1) cgroup attach can
     run in the parent while the other mounts are made. */
  int (*before_cgroup_mount) (void *data, berth_err_t *err);
  void *data;
};

/* Before pivot_root: propagation, rootfs bind, spec mounts, /dev. */
int berth_rootfs_prepare (struct berth_rootfs *r, berth_err_t *err);
int berth_rootfs_pivot (struct berth_rootfs *r, bool no_pivot, berth_err_t *err);
/* After pivot_root: masked and read-only paths, read-only root, sysctls. */
int berth_rootfs_finalize (struct berth_rootfs *r, berth_err_t *err);
/* Bind-mounts the pty slave on /dev/console (after pivot). */
int berth_mount_console (const char *slave_path, berth_err_t *err);

/* True when the fd is the real /dev/null (character device 1:3). */
bool berth_is_dev_null (int fd);

#endif
