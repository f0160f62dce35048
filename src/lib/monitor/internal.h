/* Inside the monitor: its state, shared by its log (log.c), its relay of
   the container's stdio to the attached CLI and clients (attach.c) and its
   life cycle (monitor.c). */
#ifndef BERTH_MONITOR_INTERNAL_H
#define BERTH_MONITOR_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/engine/engine.h"
#include "lib/runtime/cgroup.h"
#include "lib/runtime/isolation.h"

#define MONITOR_MAX_CLIENTS 16

/* The container's json-file log, rotated past a size. */
struct logger
{
  char *path;
  int fd;
  off_t size;
  off_t max_size;   /* rotate past this many bytes */
  int max_files;    /* the log and its rotated files, at most */
  char *partial[3]; /* per stream: a line not yet ended */
  size_t plen[3];
  long long full_until_ms; /* the disk was full: lines dropped until then */
};

struct monitor
{
  struct berth_engine *e;
  const char *id;
  const char *dir;
  json_t *rec;
  struct logger log;
  const struct berth_isolation *iso;
  bool tty, interactive;
  /* The CLI that started us is attached: its stdio (dups, -1: none) and
     the status fd its exit code goes to. */
  bool attach;
  int cli_in, cli_out, cli_err, status_fd;
  /* The container's stdio: pipes, or a pty master (tty). */
  int out[2], errp[2], in[2], master;
  int null, sfd;
  pid_t pid;
  int status;
  /* `berth attach` clients; those that still send input read[i]. */
  int listen_fd;
  int clients[MONITOR_MAX_CLIENTS];
  bool client_reads[MONITOR_MAX_CLIENTS];
  int n_clients;
  bool prev_ctrl_p; /* the last input byte was ctrl-p (detach keys) */
  /* The container's OOM kills, watched while it runs. */
  struct berth_oom_watch oom;
  bool oom_killed;
};

/* LOG_CONFIG: HostConfig.LogConfig.Config (max-size, max-file), or NULL. */
int monitor_log_open (struct logger *l, const char *dir, json_t *log_config);
void monitor_log_data (struct logger *l, int stream, const char *data, size_t len);
void monitor_log_flush (struct logger *l);

/* Listens on <dir>/attach.sock for `berth attach`. */
int monitor_attach_listen (struct monitor *m);
void monitor_attach_close (struct monitor *m);
/* Copies the container's output to the log, the CLI and the clients, and
   input the other way, until the container is gone and its output
   drained; m->status gets its wait status. */
void monitor_relay (struct monitor *m);

#endif
