/* Named volumes: directories berth owns under <root>/volumes/<name>/_data
   that outlive containers, filled from the image's content at the mount
   point the first time a container mounts them, as docker does. */
#ifndef BERTH_VOLUME_H
#define BERTH_VOLUME_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/base/error.h"

int berth_volume_create (const char *root, const char *name, json_t *labels, bool anonymous, json_t **out,
                         berth_err_t *err);
int berth_volume_get (const char *root, const char *name, json_t **out, berth_err_t *err);
int berth_volume_list (const char *root, json_t **out, berth_err_t *err);
/* IN_USE: the container IDs whose spec mounts it. */
int berth_volume_users (const char *root, const char *name, json_t **in_use, berth_err_t *err);
int berth_volume_remove (const char *root, const char *name, bool force, berth_err_t *err);
bool berth_volume_name_valid (const char *name);
/* Copies ROOTFS/PATH (resolved inside ROOTFS) into an empty volume. */
int berth_volume_seed (const char *data_dir, const char *rootfs, const char *path, berth_err_t *err);

#endif
