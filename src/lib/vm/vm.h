/* VM isolation: the second backend behind the container lifecycle
   (backend.c is its isolation.h table; berth_vm_register makes it
   available).

   create forks a VM shim, the container's stand-in on the host: it starts
   QEMU with the guest kernel and an initramfs whose PID 1 is berth-agent,
   speaks the agent protocol (agent_proto.h) over a virtio-serial port,
   relays the container's stdio to its own 0/1/2 (or a pty), and exits with
   the container's exit code after powering the VM off.  Other commands
   reach it through a control socket in the container's state directory.
   The shim's PID is the container's PID in the runtime's state; the QEMU
   process's PID is recorded beside it. */
#ifndef BERTH_VM_H
#define BERTH_VM_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/runtime/container.h"
#include "lib/runtime/isolation.h"

/* A prepared read-only image (erofs) of the root filesystem; without it
   create builds one from the bundle's rootfs. */
#define BERTH_ANNOTATION_VM_IMAGE "berth.vm.image"
#define BERTH_ANNOTATION_VM_KERNEL "berth.vm.kernel"
#define BERTH_ANNOTATION_VM_INITRD "berth.vm.initrd"
/* "off": the kernel has no ACPI; QEMU passes the devices on its command
   line (a kernel directory with a `no-acpi` file asks for this). */
#define BERTH_ANNOTATION_VM_ACPI "berth.vm.acpi"
/* A pod member: the ID (in the same state root) of the VM container whose
   VM, and so whose network, this container shares.  containerd's CRI
   annotations (io.kubernetes.cri.container-type "container" and
   io.kubernetes.cri.sandbox-id) say the same for Kubernetes pods. */
#define BERTH_ANNOTATION_VM_POD "berth.vm.pod"
/* "true": when the container exits, its writable layer (in the guest's
   memory) is kept as changes.tar in its state directory
   (berth_vm_take_changes), for the engine to keep as docker keeps a
   stopped container's files. */
#define BERTH_ANNOTATION_VM_KEEP_CHANGES "berth.vm.keep-changes"

/* "kvm" when /dev/kvm is usable by QEMU (real hardware KVM), else "tcg". */
const char *berth_vm_accel (void);
/* The same, with the reason in *WHY.  BERTH_VM_ACCEL=kvm|tcg overrides. */
const char *berth_vm_accel_why (const char **why);
/* Where the guest kernel and initramfs live: $BERTH_VM_DIR, else the vm/
   directory beside our binary, else the install's lib/berth/vm. */
char *berth_vm_dir (void);
/* The default kernel and initrd paths, and whether they exist. */
int berth_vm_default_kernel (char **kernel, char **initrd, berth_err_t *err);

extern const struct berth_isolation berth_vm_isolation;
/* Makes "vm" (and "hyperv") isolation available to the lifecycle. */
void berth_vm_register (void);
/* isolation.h's prepare for VMs. */
int berth_vm_prepare (const struct berth_isolation_prepare *p, json_t *spec, berth_err_t *err);

/* Creates the container in a new VM; DIR is its (locked) state directory.
 *VM receives what the state records ({pid, accel, kernel, ...}). */
int berth_vm_create (const struct berth_create_opts *o, const char *bundle, const char *dir, json_t *config, pid_t *pid,
                     json_t **vm, berth_err_t *err);
int berth_vm_start (const char *root, const char *id, berth_err_t *err);
/* A deleted pod member's directories leave the pod VM's file server. */
void berth_vm_member_release (const char *root, const char *pod, const char *member);
int berth_vm_kill (const char *root, const char *id, int sig, bool all, berth_err_t *err);
int berth_vm_exec (const char *root, const char *id, const struct berth_exec_request *r, int *exit_status,
                   berth_err_t *err);
/* The guest's `ps -ef` of the container's processes, header first. */
int berth_vm_ps (const char *root, const char *id, char ***lines, berth_err_t *err);
/* linux.resources for the container's cgroup in the guest. */
int berth_vm_update (const char *root, const char *id, json_t *resources, berth_err_t *err);
/* {memory, memory_limit, cpu_ns, pids, guest_memory_used} from the guest. */
int berth_vm_stats (const char *root, const char *id, json_t **out, berth_err_t *err);
/* A running VM container's files, through its guest's agent: a tar of
   its root file system (export: what is on its root's own mount), or of
   its writable layer as an OCI layer (whiteouts as .wh. files; the
   container frozen while it is read), to OUT_FD. */
enum berth_vm_archive_what
{
  BERTH_VM_ARCHIVE_ROOT,
  BERTH_VM_ARCHIVE_UPPER,
};
int berth_vm_archive (const char *root, const char *id, enum berth_vm_archive_what what, int out_fd, berth_err_t *err);
/* docker cp's rules (image/copy.h), applied in the guest to the root as
   the container's init sees it (its volumes included). */
int berth_vm_copy_out (const char *root, const char *id, const char *path, int owner, int out_fd, berth_err_t *err);
int berth_vm_copy_in (const char *root, const char *id, const char *dest, const char *src_base, int in_fd,
                      berth_err_t *err);
/* Why the VM ended before the container exited (a killed QEMU, a guest
   panic), or NULL. */
char *berth_vm_exit_reason (const char *root, const char *id);
/* The changes an exited container's shim kept (BERTH_ANNOTATION_VM_KEEP_CHANGES):
   a tar of its writable layer as an OCI layer, open for reading in *FD;
   *FD is -1 when there are none. */
int berth_vm_take_changes (const char *root, const char *id, int *fd, berth_err_t *err);

/* VM templates (template.c): where they are ($BERTH_VM_TEMPLATES, the
   host config's vm.templates, else /var/cache/berth/vm-templates), what
   is there ([{key, created, guest_kernel, accel, memory_mib, ...}]), and
   removing one (waits while it is being made). */
char *berth_vm_templates_dir (void);
/* "private" (the default: each VM a copy of the template's memory),
   "shared" (one sealed copy mapped copy-on-write by all) or "off":
   BERTH_VM_TEMPLATE, else the host config's vm.template. */
const char *berth_vm_templates_mode (void);
int berth_vm_templates_list (json_t **out, berth_err_t *err);
int berth_vm_template_remove (const char *key, berth_err_t *err);

/* QEMU's jail, for info: "on: QEMU as uids A-B, ..." or "off (why)". */
char *berth_vm_jail_describe (void);

/* Builds an erofs image of DIR at PATH (atomically). */
int berth_vm_build_image (const char *dir, const char *path, berth_err_t *err);

#endif
