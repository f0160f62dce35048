/* berth, the engine's command line.  Each subcommand is a file that parses
   its options and calls the library. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <stdbool.h>

#include "lib/base/error.h"
#include "lib/image/store.h"

struct cli_globals
{
  const char *root; /* the store and state root, /var/lib/berth */
  bool debug;
};

extern struct cli_globals cli;

int cli_error (berth_err_t *err);
int cli_usage (const char *cmd, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
bool cli_help (int argc, char **argv, const char *usage, const char *options);
int cli_open_store (struct berth_store **s);
/* --format with Go-template placeholders (format.c): a field is a name
   and its text for one row. */
struct cli_field
{
  const char *name;
  const char *value;
};
/* Fails, naming what is wrong, on a template berth cannot render. */
int cli_format_check (const char *format, const struct cli_field *fields, size_t n, berth_err_t *err);
/* "table {{.A}}\t{{.B}}": prints "A\tB"; nothing without "table ". */
int cli_format_header (const char *format, const struct cli_field *fields, size_t n, berth_err_t *err);
int cli_format_row (const char *format, const struct cli_field *fields, size_t n, berth_err_t *err);
/* "3.1MB", "2 hours ago": what docker prints. */
void cli_human_size (double bytes, char *buf, size_t len);
void cli_human_ago (const char *rfc3339, char *buf, size_t len);

int cmd_images (int argc, char **argv);
int cmd_load (int argc, char **argv);
int cmd_save (int argc, char **argv);
int cmd_import (int argc, char **argv);
int cmd_tag (int argc, char **argv);
int cmd_rmi (int argc, char **argv);
int cmd_image (int argc, char **argv);
int cmd_image_inspect (int argc, char **argv);
int cmd_image_prune (int argc, char **argv);
int cmd_version (int argc, char **argv);
int cmd_pull (int argc, char **argv);
int cmd_run (int argc, char **argv);
int cmd_create (int argc, char **argv);
int cmd_start (int argc, char **argv);
int cmd_ps (int argc, char **argv);
int cmd_logs (int argc, char **argv);
int cmd_stop (int argc, char **argv);
int cmd_kill (int argc, char **argv);
int cmd_rm (int argc, char **argv);
int cmd_wait (int argc, char **argv);
int cmd_inspect (int argc, char **argv);
int cmd_exec (int argc, char **argv);
int cmd_top (int argc, char **argv);
int cmd_network (int argc, char **argv);
int cmd_port (int argc, char **argv);
int cmd_attach (int argc, char **argv);
int cmd_volume (int argc, char **argv);
int cmd_stats (int argc, char **argv);
int cmd_info (int argc, char **argv);
int cmd_vm (int argc, char **argv);
int cmd_restart (int argc, char **argv);
int cmd_push (int argc, char **argv);
int cmd_login (int argc, char **argv);
int cmd_logout (int argc, char **argv);

#endif
