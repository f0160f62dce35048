/* cgroup v2 has no devices.allow: access is decided by an eBPF program
   attached to the cgroup, generated here from the spec's device rules. */
#ifndef BERTH_CGROUP_BPF_H
#define BERTH_CGROUP_BPF_H

#include <jansson.h>
#include <stddef.h>

#include "lib/base/error.h"

struct bpf_insn;

/* Builds the program for RULES (the spec's linux.resources.devices) followed
   by EXTRA rules in v1 syntax ("c 1:3 rwm").  Returns the instruction count. */
int berth_bpf_devices_program (json_t *rules, const char **extra, size_t n_extra, struct bpf_insn **out,
                               berth_err_t *err);
/* Loads the program and attaches it to the cgroup at DIR, replacing what
   berth attached before.  The last program loaded is kept, and attached
   again where the next rules make the same one. */
int berth_cgroup_bpf_devices (const char *dir, json_t *rules, const char **extra, size_t n_extra, berth_err_t *err);
/* Loads (and keeps) the program for RULES without attaching it anywhere. */
int berth_cgroup_bpf_devices_load (json_t *rules, const char **extra, size_t n_extra, berth_err_t *err);

#endif
