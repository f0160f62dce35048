/* Inside the VM backend: what its files share (not for the lifecycle or
   the engine: they use vm.h and isolation.h). */
#ifndef BERTH_VM_INTERNAL_H
#define BERTH_VM_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/runtime/container.h"
#include "lib/vm/protocol.h"

#define SHIM_SOCK "vm.sock"
#define FS_PID "fs.pid"      /* the VM's virtiofsd, for pod members' mounts */
#define CREATED_MARK "start" /* berth_state_status: "created" while it exists */
#define MAX_CLIENTS 32
/* The guest's own memory beyond the container's limit: kernel and agent. */
#define GUEST_BASE_MIB 128
#define DEFAULT_MEM_MIB 256

/* The fds a VM's shim holds at fixed numbers (create.c puts them there),
   QEMU's first: QEMU is given them by number on its command line
   (qemu.c), never a path from the spec.  Absent ones hold /dev/null, so
   that the numbers stay fixed. */
enum vm_fd
{
  VM_FD_AGENT_QEMU = 3, /* QEMU's end of the agent channel (virtio-serial) */
  VM_FD_ROOTFS,         /* the root filesystem image (virtio-blk, read-only) */
  VM_FD_KERNEL,         /* the guest kernel */
  VM_FD_INITRD,         /* the initramfs with berth-agent */
  VM_FD_AGENT,          /* the shim's end of the agent channel */
  VM_FD_REPORT,         /* to create: "ok PID ..." or an error */
  VM_FD_STATE_DIR,      /* the container's state directory */
  VM_FD_CONSOLE,        /* the console socket's pty master, or /dev/null */
  VM_FD_VFS_QEMU,       /* QEMU's end of the file server's socket */
  VM_FD_VFS_SERVER,     /* virtiofsd's end */
  VM_FD_TAP,            /* the VM's tap, when it has a network */
  VM_FD_RAM,            /* guest RAM, for a template or a VM restored from one */
  VM_FD_MIGRATE,        /* the device state, sent to QEMU over QMP to save or restore */
  VM_FD_QMP,            /* QEMU's end of its monitor, to save or restore a template */
  VM_FD_QMP_HOST,       /* ours */
  VM_FD_TEMPLATE_RAM,   /* the template's RAM, which the shim copies into VM_FD_RAM */
  VM_FD_JAIL_LEASE,     /* the lease of QEMU's uid (jail.c), locked while the VM lives */
  VM_FD_DNS,            /* Docker's embedded DNS server, for the guest's queries (netdev.h) */
  VM_FD_END             /* the first fd above the layout */
};

/* Everything QEMU's command line depends on, and so everything a template
   must match to be restored (template.c keys on it with the files'). */
struct vm_machine
{
  char *qemu;        /* QEMU's binary, resolved (vm_qemu_path); NULL: none */
  const char *accel; /* "kvm" or "tcg" */
  const char *cpu;   /* the CPU model */
  long mem_mib;
  int cpus;
  bool fs;   /* a file server (vhost-user-fs, which QEMU cannot migrate) */
  bool acpi; /* the microvm's ACPI tables */
  bool net;  /* a NIC */
  char *append;
};

enum vm_start_kind
{
  VM_START_COLD,     /* boots the kernel */
  VM_START_TEMPLATE, /* boots the kernel, to be saved as a template */
  VM_START_RESTORE,  /* restores a template: -incoming */
};

/* How a VM restored from a template maps the template's RAM. */
enum vm_template_mode
{
  VM_TEMPLATE_OFF,
  VM_TEMPLATE_PRIVATE, /* each VM a private copy: no page shared between VMs */
  VM_TEMPLATE_SHARED,  /* every VM maps one sealed copy, copy-on-write */
};

/* A template ready to restore, for one VM. */
struct vm_template
{
  char key[33];
  char guest_kernel[128];
  long long boot_ms;
  enum vm_template_mode mode;
  int state_fd; /* the saved device state */
  int ram_fd;   /* the VM's RAM: its own copy, or the sealed shared one */
  bool reused;  /* shared: another VM's shim holds ram_fd's memfd */
  char *holder; /* shared: the record naming the shim that holds it */
  char *dir;    /* the templates' directory */
  int src_fd;   /* the template's RAM file, to fill ram_fd from */
  off_t ram_size;
  char ram_digest[80];
};

struct vm_qmp
{
  int fd;
  size_t len;
  char buf[65536];
};
int vm_qmp_open (struct vm_qmp *q, int fd, int timeout_ms, berth_err_t *err);
/* Runs CMD (ARGS released); *RET, when asked, its "return". */
int vm_qmp_command (struct vm_qmp *q, const char *cmd, json_t *args, json_t **ret, int timeout_ms, berth_err_t *err);
/* Sets x-ignore-shared (RAM is in the file QEMU maps, not in the stream)
   and starts the migration: out to MIGRATE_FD (save) or in from it; the
   fd is handed to QEMU over the monitor. */
int vm_qmp_migrate (struct vm_qmp *q, bool incoming, int migrate_fd, int timeout_ms, berth_err_t *err);

/* BERTH_QEMU, else qemu-system-x86_64 from PATH. */
const char *vm_qemu_binary (void);
/* The same resolved as execvp would (and with symlinks resolved), or NULL. */
char *vm_qemu_path (void);

/* QEMU's jail (jail.c). */
struct berth_cgroup;
struct vm_jail
{
  bool on;
  uid_t uid;
  gid_t gid;
  int lease; /* flock held while the VM lives: the uid is ours */
  struct berth_cgroup *cg;
};
/* False when BERTH_VM_JAIL=off or the host config's vm.jail is "off";
 *WHY names which. */
bool vm_jail_wanted (const char **why);
/* Leases a uid and makes the VM's cgroup (memory: MEM_MIB plus QEMU's
   overhead; pids), unless the jail is off. */
int vm_jail_prepare (struct vm_jail *j, long mem_mib, int cpus, berth_err_t *err);
/* fork, or with the jail on a clone into new mount, PID and IPC
   namespaces. */
pid_t vm_jail_fork (const struct vm_jail *j);
/* In QEMU's process, before exec: its cgroup, its root (QEMU at QEMU if
   outside /usr), its credentials. */
int vm_jail_enter (const struct vm_jail *j, bool kvm, const char *qemu, berth_err_t *err);
/* Once QEMU is gone: the cgroup removed, the uid free. */
void vm_jail_release (struct vm_jail *j);
void vm_jail_cleanup (unsigned long uid);
/* "vm": {KEY: "..."} of the host configuration (/etc/berth/config.json or
   $BERTH_CONFIG), or NULL. */
char *vm_config_string (const char *key);
void vm_machine_init (struct vm_machine *m, json_t *config, const char *kernel, bool fs, bool net);
void vm_machine_release (struct vm_machine *m);
enum vm_template_mode vm_template_mode (const char **why);
/* A template's placeholder disk: a clone's disk may be no larger. */
#define VM_TEMPLATE_DISK_MAX (1LL << 40)
/* A template for M, made first if there is none (under a lock: one maker
   at a time), checked, and this VM's RAM made from it: 1 and *T.  0 when
   the VM must boot cold (also for a disk of DISK_BYTES larger than
   VM_TEMPLATE_DISK_MAX), *WHY saying why.  Never fails otherwise. */
int vm_template_get (const struct vm_machine *m, const char *kernel, int kernel_fd, const char *initrd, int initrd_fd,
                     long long disk_bytes, struct vm_template **t, char **why);
void vm_template_free (struct vm_template *t);
/* Copies the template's RAM (SRC_FD) into the VM's (RAM_FD), checking its
   digest; a mismatch removes the template and fails with status EBADMSG
   (the caller tries again: it is rebuilt). */
int vm_template_fill (const struct vm_template *t, int ram_fd, int src_fd, berth_err_t *err);
/* Shared memory: SHIM, which keeps fd VM_FD_RAM, holds T's sealed memfd
   for the VMs after it. */
void vm_template_hold (const struct vm_template *t, pid_t shim);

/* ------------------------------------------------------------- shim */

struct client
{
  int fd;
  uint32_t sid;
  uint8_t pending; /* the request awaiting OK/ERROR */
  bool exec;       /* an exec session: EXIT closes it */
  struct berth_frame_reader rd;
};

struct shim
{
  const char *dir;
  int dirfd;
  int agent;
  struct berth_frame_reader ard;
  pid_t qemu;
  pid_t virtiofsd;
  bool fs;         /* a file server, even with no share yet: a pod's VM */
  json_t *sockets; /* [{source, mode}] */
  struct
  {
    uint32_t sid;
    int fd;
  } conns[64];
  int n_conns;
  int qemu_status;
  bool qemu_gone;
  int tty_slave; /* -1 without a terminal */
  bool stdin_open;
  int listen;
  struct client clients[MAX_CLIENTS];
  int n_clients;
  uint32_t next_sid;
  int exit_code;
  bool exited;
  bool reason_set; /* exit-reason written: the first cause is the one kept */
  /* The container's changes are kept when it exits (changes.tar), at
     most CHANGES_MAX bytes of them (0: no limit). */
  bool save_changes;
  long long changes_max;
  int sfd;
  const struct vm_template *restore; /* restored from it, else NULL (booted) */
  struct vm_jail jail;
  const char *qemu_path;
  int dns; /* VM_FD_DNS, or -1: no DNS relay */
  /* Guest queries in flight to it, by the query ID the shim gave them
     (the guest's own IDs could collide across its processes). */
  struct
  {
    uint32_t sid;
    uint16_t guest_id, id;
    long long at; /* 0: a free slot */
  } dns_q[64];
  uint16_t dns_next_id;
};

typedef int (*reply_parser) (const struct berth_frame *f, void *out, berth_err_t *err);

/* A bundle's rootfs directory (config.json's root.path, absolute or
   under BUNDLE). */
char *vm_bundle_rootfs (json_t *config, const char *bundle);
/* The most a guest may send as its writable layer: the layer is a tmpfs
   in its MEM_MIB of memory; twice that, for tar's headers of many small
   files, plus 64 MiB. */
long long vm_layer_max (long mem_mib);

/* What a helper session in the guest sends back (archive, extract): its
   stdout into OUT_FD (-1: dropped), at most MAX bytes (0: no limit), its
   stderr kept for the error, its exit code. */
struct vm_sink
{
  int out_fd;
  long long max, sent;
  const char *what; /* names the sender in errors */
  char msg[2049];
  size_t msg_len;
  int code; /* -1 until its exit */
};
/* Takes one frame of the session: -1 with *ERR on a flood or a failed
   write. */
int vm_sink_frame (struct vm_sink *k, const struct berth_frame *f, berth_err_t *err);
/* After its exit: 0 when it succeeded, else its stderr as the error. */
int vm_sink_result (struct vm_sink *k, berth_err_t *err);

/* Shared between the backend's files. */
/* A process that stands on the host for one in the guest: it carries
   the session's stdio (on SLAVE, a pty, when there is one) and exits with
   its exit code. */
pid_t vm_spawn_relay (int fd, struct berth_frame_reader *rd, int slave, bool die_with_parent, berth_err_t *err);
/* Reads until the reply (OK or ERROR) to the request just sent: 0 with *F
   the OK frame.  Frames that came after it stay in RD. */
int vm_await_reply (int fd, struct berth_frame_reader *rd, const char *id, struct berth_frame *f, berth_err_t *err);
int vm_shim_connect (const char *root, const char *id, berth_err_t *err);
/* Size of the VM from the spec's resources: the container's memory limit
   plus the guest's own, CPUs rounded up from the quota. */
void vm_size (json_t *config, long *mem_mib, int *cpus);
/* The spec the guest's runtime gets: host paths it cannot see are
   replaced by what the VM carries (small files travel in the create
   request), and anything that would reach back into the host refused. */
int vm_guest_config (json_t *config, const char *bundle, const char *share_prefix, json_t **out, json_t **files,
                     json_t **shares, json_t **sockets, char **netns, berth_err_t *err);
int vm_open_regular (const char *path, const char *what, berth_err_t *err);
/* QEMU's argv.  Every resource is an fd we opened (agent socket 3, root
   image 4, kernel 5, initrd 6): nothing from the spec becomes a path or an
   option QEMU parses, except the validated numbers. */
char **vm_qemu_argv (const char *id, const struct vm_machine *m, enum vm_start_kind kind, bool shared_ram,
                     const char *mac);
/* Moves SRC (in enum vm_fd's order from VM_FD_AGENT_QEMU, -1 for none:
   /dev/null holds its place) to the fixed numbers, closing everything
   else; false if that fails. */
bool vm_fds_place (int src[VM_FD_END - VM_FD_AGENT_QEMU]);
void vm_drop_boot_images (pid_t qemu, const struct stat *files, size_t n_files);
/* A host pty for a guest terminal: the master goes to CONSOLE, *SLAVE
   (raw: the guest's pty does the line discipline) to the relay. */
int vm_console_pty (int console, int *slave, berth_err_t *err);
/* The guest's pty does the line discipline; a host-side one of ours
   only passes bytes. */
void vm_make_raw (int tty);
/* Where a terminal's pty master goes: the caller's fd (CONSOLE_FD >= 0)
   or its --console-socket. */
int vm_console_connect (int console_fd, const char *console_socket, berth_err_t *err);
int vm_reply_error (const struct berth_frame *f, berth_err_t *err);
int vm_wait_qemu (struct shim *s, int timeout_ms);
void __attribute__ ((noreturn)) vm_shim_main (struct shim *s, int report, char **argv, json_t *create_req,
                                              int console_fd, bool tty, const char *accel, json_t *shares);
void vm_kill_qemu (struct shim *s);
void vm_stop_virtiofsd (struct shim *s);
/* A member's directories join the running pod VM's file server: each is
   cloned here (read-only when asked, before the guest can see it) and
   attached in virtiofsd's namespace at c-<member>/m<i>, which the guest
   sees at /run/berth/share/c-<member>/m<i>. */
int vm_member_mounts_attach (const char *root, const char *pod, const char *member, json_t *shares, berth_err_t *err);
/* The file server for the container's shared directories.  Its mounts
   live in a mount namespace of its own: when it dies, they go with it. */
int vm_start_virtiofsd (struct shim *s, json_t *shares, int listen_fd, pid_t *out, berth_err_t *err);
/* virtiofsd wants a listening socket; QEMU gets the connected end.  The
   name exists only until we have connected: nobody else can. */
int vm_vfs_sockets (int dirfd, int out[2], berth_err_t *err);

#endif
