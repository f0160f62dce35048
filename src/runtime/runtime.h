/* berth-runtime: runc's command line over libberth.  Each subcommand is a
   file that parses its options and calls the library. */
#ifndef BERTH_RUNTIME_H
#define BERTH_RUNTIME_H

#include <stdbool.h>

#include "lib/base/error.h"

struct global_opts
{
  const char *root;
  const char *log_file;
  bool log_json;
  bool debug;
  bool systemd_cgroup;
  bool strict; /* --strict-spec: runtime-spec's MUSTs where runc departs */
  const char *isolation; /* --isolation: process or vm */
  const char *argv0;
};

extern struct global_opts g;

typedef int (*command_fn) (int argc, char **argv);

/* Reports ERR (stderr, and the --log file in its format); returns 1. */
int report_error (berth_err_t *err);
void report_warning (berth_err_t *err);
int usage_error (const char *cmd, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Standard "-h/--help" output for a subcommand. */
void print_help (const char *usage, const char *options);

int cmd_create (int argc, char **argv);
int cmd_start (int argc, char **argv);
int cmd_run (int argc, char **argv);
int cmd_state (int argc, char **argv);
int cmd_kill (int argc, char **argv);
int cmd_delete (int argc, char **argv);
int cmd_exec (int argc, char **argv);
int cmd_ps (int argc, char **argv);
int cmd_list (int argc, char **argv);
int cmd_pause (int argc, char **argv);
int cmd_resume (int argc, char **argv);
int cmd_update (int argc, char **argv);
int cmd_features (int argc, char **argv);
int cmd_spec (int argc, char **argv);

#endif
