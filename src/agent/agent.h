/* berth-agent: PID 1 of a VM-isolated container's guest.  It mounts the
   guest's own /proc, /sys, /dev and cgroup2, loads the modules the
   initramfs carries, and serves the host over the virtio-serial port
   named berth.agent (docs/agent-protocol.md).  The container itself is
   made by the same runtime library as on the host, so inside the VM it
   still gets its namespaces, cgroup, capabilities and seccomp filter.

   The agent's files share this header: its state (one process, one
   container, so globals) and every function of one file another calls. */
#ifndef BERTH_AGENT_H
#define BERTH_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/vm/protocol.h"
#include "lib/vm/request.h"
#include "lib/runtime/container.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/net/netdev.h"

#define STATE_ROOT "/run/berth/state"
#define BUNDLE "/run/berth/bundle"
#define CTR_ID "ctr"
/* The VM's NIC, when it has one, and its IPv6 switch. */
#define NIC "eth0"
#define NIC_IPV6_OFF "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"
#define MAX_PROCS 64
#define MAX_CONNS 64
/* Free page reporting (QEMU's virtio-balloon, free-page-reporting=on):
   guest memory the kernel frees, boot's page cache and what a container
   used and released, goes back to the host instead of staying in QEMU's
   resident set.  The driver is loaded this long after the container starts
   (balloon_due_ms; 0: not due, or done). */
#define BALLOON_DELAY_MS 1000
/* ------------------------------------------------------ pod members */

/* Containers that joined this VM's pod (berth.vm.pod): each arrives on
   its own session as a create request followed by its root image (erofs)
   in stdin frames; it runs beside the pod's container, in the guest's
   network namespace, with its own namespaces, cgroup and PID space. */
#define MAX_MEMBERS 16

struct proc
{
  bool used;
  uint32_t sid;
  pid_t pid;
  int in, out, err, master;
  bool exited, tty;
  int status;
  long long exited_at;
  char thaw[16]; /* a files helper's: the container it froze */
};

struct conn
{
  bool used, rd_done, wr_done;
  uint32_t sid;
  int fd;
};

struct member
{
  bool used, loading;
  uint32_t sid;
  char id[16];
  int image_fd;
  long long size, got;
  json_t *req;
  struct berth_req_file *files; /* its create's, written at member_create */
  size_t n_files;
};

extern struct proc procs[MAX_PROCS];
extern int sock_listen[BERTH_MAX_SOCKETS];
extern int n_socks;
extern struct conn conns[MAX_CONNS];
extern uint32_t next_conn_sid;
extern int port;
/* What the host sent on the port, not yet handled. */
extern struct berth_frame_reader port_rd;
extern pid_t init_pid;
extern bool created, started;
extern int console_fd;
extern int next_member;
extern long long boot_start_ms;
extern long long balloon_due_ms;
extern int lazy_dir;
extern struct member members[MAX_MEMBERS];

/* Docker's embedded DNS server, relayed through the host (sockets.c). */
extern int dns_fd;
int make_dns_relay (bool on, berth_err_t *err);
void dns_readable (void);
void dns_answer (const struct berth_frame *f);

void logmsg (const char *fmt, ...);
void trace_step (const char *step);
long long now_ms (void);
void send_json (uint8_t type, uint32_t sid, json_t *j);
void send_error (uint32_t sid, berth_err_t *err);
void send_ok (uint32_t sid, json_t *j);
void mount_or_log (const char *src, const char *dst, const char *type, unsigned long flags, const char *data);
void load_modules (void);
int open_port (void);
long long boottime_ms (void);
int load_lazy_module (const char *name, berth_err_t *err);
void balloon_tick (int *timeout);
void switch_root (void);
void boot (void);
/* The VM's own identity, before any container process runs: host entropy
   into the kernel's RNG, the host's wall clock, a hostname.  A VM restored
   from a template starts with the template's (identity.c). */
int apply_identity (const struct berth_req_create *r, berth_err_t *err);
struct proc *proc_new (uint32_t sid);
struct proc *proc_by_sid (uint32_t sid);
void closep (int *fd);
void proc_free (struct proc *p);
int stdio_prepare (struct proc *p, bool tty, int child_fds[3], int cons[2], berth_err_t *err);
void stdio_install (const int child_fds[3]);
void stdio_restore (int child_fds[3]);
int stdio_finish (struct proc *p, int child_fds[3], int cons[2], int r, pid_t pid, uint32_t sid, berth_err_t *err);
void maybe_finish (struct proc *p);
int make_sockets (const struct berth_req_create *r, berth_err_t *err);
void conn_done (int k);
void socket_frame (struct berth_frame *f);
void socket_accept (int idx);
const char *target_id (json_t *req, berth_err_t *err);
struct member *member_by_sid (uint32_t sid);
void member_free (struct member *m);
void member_fail (struct member *m, berth_err_t *err);
/* Takes R's files (the request was read whole by berth_req_create). */
void member_begin (uint32_t sid, json_t *req, struct berth_req_create *r);
int loop_mount (const char *file, const char *target, berth_err_t *err);
void member_create (struct member *m);
void member_data (struct member *m, const void *data, size_t len);
int write_files (const struct berth_req_file *files, size_t n, const char *dir, berth_err_t *err);
int mount_rootfs (const struct berth_req_create *r, berth_err_t *err);
/* SECCOMP_BPF (LEN bytes, or NULL): the config's linux.seccomp as the
   host compiled it. */
int guest_create (uint32_t sid, const char *id, const char *bundle, json_t *config, const void *seccomp_bpf, size_t len,
                  pid_t *pid);
int setup_network (const struct berth_req_create *r, berth_err_t *err);
void do_create (uint32_t sid, json_t *req);
void do_start (uint32_t sid, json_t *req);
void do_exec (uint32_t sid, json_t *req);
void do_signal (uint32_t sid, json_t *req);
void do_archive (uint32_t sid, json_t *req);
/* Thaws container ID (NULL: none) that a files helper froze. */
void thaw_now (const char *id);
void do_extract (uint32_t sid, json_t *req);
void do_resize (uint32_t sid, json_t *req);
void do_ps (uint32_t sid, json_t *req);
long long read_ll (const char *path, const char *key);
void do_stats (uint32_t sid, json_t *req);
void do_update (uint32_t sid, json_t *req);
void handle_frame (struct berth_frame *f);
int init_main (int argc, char **argv);

#endif
