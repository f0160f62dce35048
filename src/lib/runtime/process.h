/* The last steps before a container process runs: limits, working
   directory, user, capabilities, no_new_privs, seccomp, fds, execve. */
#ifndef BERTH_PROCESS_H
#define BERTH_PROCESS_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/base/error.h"
#include "lib/runtime/spec.h"

struct berth_exec_opts
{
  json_t *seccomp; /* linux.seccomp or NULL */
  /* linux.seccomp compiled already (berth_seccomp_export): loaded as is,
     instead of SECCOMP.  NULL: SECCOMP is built here. */
  const void *seccomp_bpf;
  size_t seccomp_bpf_len;
  int preserve_fds;  /* fds 3 .. 3+n-1 reach the process */
  bool create_cwd;   /* the init creates a missing cwd, as runc does */
  bool setgroups_ok; /* false in a user namespace whose setgroups is denied */
  int notify_sock;   /* SCMP_ACT_NOTIFY: where the listener fd goes (-1) */
};

/* Applies everything and execs; returns only on failure. */
int berth_process_exec (struct berth_process *p, const struct berth_exec_opts *o, berth_err_t *err);

/* Resolves ARGV0 in the PATH of ENV, as the container will see it. */
int berth_find_executable (const char *argv0, char *const *env, char **out, berth_err_t *err);

int berth_apply_rlimits (struct berth_process *p, berth_err_t *err);
int berth_apply_caps (struct berth_process *p, berth_err_t *err);

#endif
