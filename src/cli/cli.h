/* berth, the engine's command line.  Each subcommand is a file that parses
   its options and calls the library. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

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
/* An RFC 3339 time as ns since the epoch; false if S is not one (when.c). */
bool cli_parse_rfc3339 (const char *s, long long *ns);
/* --since/--until (OPT) WHEN: RFC 3339, a Unix time or a duration before
   now (10m, 1h30m), as ns since the epoch. */
int cli_parse_when (const char *opt, const char *s, long long *ns, berth_err_t *err);
/* A Go duration ("10m", "1h30m", "1.5s", "250ms") in ns; false if S is
   not one. */
bool cli_parse_duration (const char *s, long long *ns);
/* Following PATH with *F (NULL: not open yet): true when PATH is now
   another file (rotated, or made) and *F was reopened on it, after the
   caller read the old one to its end. */
bool cli_follow_reopen (FILE **f, const char *path);
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
/* LABELS (may be NULL): the row's labels, for {{.Label "k"}} and {{json .}}. */
int cli_format_row (const char *format, const struct cli_field *fields, size_t n, json_t *labels, berth_err_t *err);
/* --format's first check for a list command CMD: table, json or a template
   of FIELDS; 0, or the exit code of the error it printed. */
int cli_format_begin (const char *cmd, const char *format, const struct cli_field *fields, size_t n, bool quiet);
/* --filter KEY=VALUE, docker's rules: filters of one key are
   alternatives, of different keys all required (filter.c). */
#define CLI_MAX_FILTERS 32
struct cli_filters
{
  const char *cmd;
  const char *const *keys; /* the keys this command knows, NULL-ended */
  char *v[CLI_MAX_FILTERS];
  size_t n;
};
/* One --filter more, checked: 0, or the command's exit code (said). */
int cli_filter_add (struct cli_filters *f, char *arg);
/* Is there a filter with KEY? */
bool cli_filter_has (const struct cli_filters *f, const char *key);
typedef bool (*cli_filter_fn) (const char *key, const char *value, json_t *rec, void *ctx);
bool cli_filters_match (const struct cli_filters *f, cli_filter_fn match, json_t *rec, void *ctx);
/* label=KEY or label=KEY=VALUE against a Labels object. */
bool cli_filter_label (const char *value, json_t *labels);
/* volume prune's work, for system prune too: volumes no container uses
   (anonymous ones, or with ALL every one) passing FILTERS (NULL: all);
   prints their names; *FREED grows by their size. */
int cli_volume_prune (const struct cli_filters *filters, bool all, int64_t *freed);
/* inspect -f: TMPL over the JSON record ROOT, one line to OUT (format.c). */
int cli_format_json (const char *tmpl, json_t *root, FILE *out, berth_err_t *err);
/* The same where records differ in their keys (events' Attributes): a
   key missing under an object prints "<no value>", as docker's. */
int cli_format_json_lenient (const char *tmpl, json_t *root, FILE *out, berth_err_t *err);
/* Prints an inspect result: the JSON array, or with FORMAT one line per
   record; 125 (after the lines before it) when the template fails on one. */
int cli_print_inspect (json_t *records, const char *format);
/* Takes -f/--format T (and with TYPE, --type T) out of ARGV, leaving the
   command and its names; 0, or the exit code of a usage error. */
int cli_inspect_options (int *argc, char ***argv, const char **format, const char **type);
/* -e NAME[=VALUE] and --env-file's lines into ENV, as docker reads them
   (env.c). */
void cli_env_add (json_t *env, const char *kv);
int cli_env_file (json_t *env, const char *path, berth_err_t *err);
/* NAME[=VALUE] lines of PATH (blank lines and # comments skipped) to ADD,
   as docker reads --env-file and --label-file; OPT and NOUN ("variable",
   "label") name them in errors. */
int cli_kv_file (const char *opt, const char *noun, const char *path, void (*add) (json_t *, const char *),
                 json_t *into, berth_err_t *err);
/* One image's inspect record (image.c); one network's (network.c). */
int cli_image_record (struct berth_store *s, const char *name, json_t **out, berth_err_t *err);
json_t *cli_network_record (const char *name, berth_err_t *err);
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
int cmd_pause (int argc, char **argv);
int cmd_update (int argc, char **argv);
int cmd_events (int argc, char **argv);
int cmd_export (int argc, char **argv);
int cmd_diff (int argc, char **argv);
int cmd_cp (int argc, char **argv);
int cmd_commit (int argc, char **argv);
int cmd_system (int argc, char **argv);
int cmd_container_prune (int argc, char **argv);
int cmd_unpause (int argc, char **argv);
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
int cmd_rename (int argc, char **argv);
int cmd_container (int argc, char **argv);

#endif
