/* Namespaces: names, joining by path, user namespace id maps and time
   namespace offsets. */
#ifndef BERTH_NS_H
#define BERTH_NS_H

#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/base/nscall.h"
#include "lib/runtime/spec.h"

/* Opens the namespace file at PATH and checks that it is of TYPE. */
int berth_ns_open (const char *path, int type, berth_err_t *err);
int berth_ns_join (int fd, int type, berth_err_t *err);
int berth_write_id_maps (pid_t pid, struct berth_spec *spec, berth_err_t *err);
int berth_write_time_offsets (pid_t pid, struct berth_spec *spec, berth_err_t *err);

#endif
