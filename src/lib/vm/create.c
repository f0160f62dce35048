/* Creating a VM container: a new VM (with its shim), or a pod member
   in a running one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/mount.h>

#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/net/netdev.h"
#include "lib/runtime/cgroup.h"
#include "lib/runtime/ns.h"
#include "lib/runtime/seccomp.h"
#include "lib/vm/protocol.h"
#include "lib/vm/internal.h"
#include "lib/vm/vm.h"

char *
vm_bundle_rootfs (json_t *config, const char *bundle)
{
  const char *rp = json_string_value (json_object_get (json_object_get (config, "root"), "path"));
  return rp && rp[0] == '/' ? xstrdup (rp) : xasprintf ("%s/%s", bundle, rp ? rp : "rootfs");
}

/* A bundle from Docker or containerd: its rootfs becomes this container's
   own image, in its state directory. */
static int
bundle_image (json_t *config, const char *bundle, const char *dir, char **built, berth_err_t *err)
{
  cleanup_free char *rootfs = vm_bundle_rootfs (config, bundle);
  *built = xasprintf ("%s/rootfs.erofs", dir);
  return berth_vm_build_image (rootfs, *built, err);
}

static int vm_create_member (const struct berth_create_opts *o, const char *bundle, const char *dir, json_t *config,
                             const char *pod, pid_t *pid_out, json_t **vm_out, berth_err_t *err);

/* The guest kernel and initramfs: the annotations', else the host's
   default (berth_vm_default_kernel). */
static int
vm_kernel_paths (json_t *annotations, char **kernel, char **initrd, berth_err_t *err)
{
  const char *akernel = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_KERNEL));
  const char *ainitrd = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_INITRD));
  if (berth_vm_default_kernel (kernel, initrd, err) < 0 && akernel == NULL)
    return -1;
  berth_error_release (err);
  if (akernel)
    {
      free (*kernel);
      *kernel = xstrdup (akernel);
      if (ainitrd)
        {
          free (*initrd);
          *initrd = xstrdup (ainitrd);
        }
    }
  return 0;
}

/* The pod VM a container joins (berth.vm.pod, or Kubernetes' sandbox of an
   app container), else NULL; *SANDBOX: it is a Kubernetes sandbox. */
static const char *
vm_pod_of (json_t *annotations, bool *sandbox)
{
  const char *pod = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_POD));
  const char *ctype = json_string_value (json_object_get (annotations, "io.kubernetes.cri.container-type"));
  const char *sandbox_id = json_string_value (json_object_get (annotations, "io.kubernetes.cri.sandbox-id"));
  *sandbox = ctype && strcmp (ctype, "sandbox") == 0;
  if (pod == NULL && ctype && strcmp (ctype, "container") == 0 && sandbox_id)
    pod = sandbox_id;
  return pod;
}

/* What makes this VM its own machine, whether it boots or is restored
   from a template (agent/identity.c): host entropy and a hostname, the
   container's or one from its id. */
static json_t *
vm_identity (const char *id, json_t *guest)
{
  unsigned char seed[64];
  cleanup_free char *b64 = NULL;
  char host[64];
  const char *h = json_string_value (json_object_get (guest, "hostname"));
  size_t j = 0;
  for (const char *c = h && *h ? h : id; *c && j < 63; c++)
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.')
      host[j++] = *c;
  host[j] = 0;
  random_bytes (seed, sizeof (seed));
  b64 = base64_encode (seed, sizeof (seed));
  explicit_bzero (seed, sizeof (seed));
  return json_pack ("{s:s,s:s}", "entropy", b64, "hostname", j ? host : "berth-vm");
}

/* The agent's create request.  The guest learns each socket's mode, never
   its host path. */
static json_t *
vm_agent_request (const char *id, json_t *guest, json_t *files, bool fs, json_t *sockets, json_t *ifaces, bool restored,
                  bool dns_relay)
{
  json_t *req = json_pack ("{s:O,s:O,s:s,s:s,s:b,s:[],s:o,s:o,s:b,s:b}", "config", guest, "files", files,
                           "rootfs_device", "/dev/vda", "rootfs_fstype", "erofs", "shared", fs, "sockets", "network",
                           ifaces ? json_incref (ifaces) : json_array (), "identity", vm_identity (id, guest),
                           "restored", restored, "dns_relay", dns_relay);
  json_t *sk, *sec = json_object_get (json_object_get (guest, "linux"), "seccomp");
  size_t k;
  json_array_foreach (sockets, k, sk) json_array_append_new (json_object_get (req, "sockets"),
                                                             json_pack ("{s:O}", "mode", json_object_get (sk, "mode")));
  if (sec)
    {
      /* Compiled here: building it in the guest took ~12-20 ms of a start
         under TCG.  Where it cannot be (or fails), the guest builds it and
         says why. */
      cleanup_free void *bpf = NULL;
      size_t len = 0;
      berth_err_t e2 = NULL;
      if (berth_seccomp_export (sec, &bpf, &len, &e2) == 1)
        {
          cleanup_free char *b64 = base64_encode (bpf, len);
          json_object_set_new (req, "seccomp_bpf", json_string (b64));
        }
      berth_error_release (&e2);
    }
  return req;
}

/* The shim's process: the fds at their fixed numbers (enum vm_fd), QEMU's
   first, ours above them; nothing else of our caller's (its log, its
   sockets) stays open here.  SRC is in enum vm_fd's order, -1 for an
   absent one (it holds /dev/null, so that the numbers stay fixed). */
static void __attribute__ ((noreturn))
vm_shim_child (struct shim *s, int src[VM_FD_END - VM_FD_AGENT_QEMU], char **argv, json_t *req, bool tty,
               const char *accel, json_t *shares)
{
  bool console = src[VM_FD_CONSOLE - VM_FD_AGENT_QEMU] >= 0;
  if (!vm_fds_place (src))
    _exit (1);
  s->agent = VM_FD_AGENT;
  s->dirfd = VM_FD_STATE_DIR;
  vm_shim_main (s, VM_FD_REPORT, argv, req, console ? VM_FD_CONSOLE : -1, tty, accel, shares);
}

/* The shim's report: "ok QEMU_PID BOOT_MS GUEST_KERNEL", or an error. */
static int
vm_await_shim (int rep, pid_t shim, const char *kernel, const struct vm_machine *m, json_t **vm_out, berth_err_t *err)
{
  char buf[4096];
  ssize_t n;
  size_t len = 0;
  char *sp, *sp2;
  while ((n = read (rep, buf + len, sizeof (buf) - 1 - len)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      len += (size_t)n;
  buf[len] = 0;
  if (len <= 3 || strncmp (buf, "ok ", 3) != 0)
    {
      if (len > 0)
        berth_error_decode (err, buf, len);
      else
        berth_error (err, EPROTO, "the VM shim died while starting the VM");
      berth_backend_reap (shim);
      return -1;
    }
  sp = strchr (buf + 3, ' ');
  sp2 = sp ? strchr (sp + 1, ' ') : NULL;
  *vm_out = json_pack ("{s:i,s:s,s:s,s:s,s:I,s:i,s:I}", "pid", atoi (buf + 3), "accel", m->accel, "kernel", kernel,
                       "guest_kernel", sp2 ? sp2 + 1 : "", "memory_mib", (json_int_t)m->mem_mib, "cpus", m->cpus,
                       "guest_boot_ms", (json_int_t)(sp ? atoll (sp + 1) : 0));
  return 0;
}

/* How the VM starts: restored from a template when one fits, else booted,
   with the reason (for inspect and --debug). */
static void
vm_start_record (json_t *vm, const struct vm_template *t, const char *why)
{
  if (t)
    {
      json_object_set_new (vm, "start", json_string ("template"));
      json_object_set_new (vm, "template", json_string (t->key));
      json_object_set_new (vm, "template_memory", json_string (t->mode == VM_TEMPLATE_SHARED ? "shared" : "private"));
    }
  else
    {
      json_object_set_new (vm, "start", json_string ("cold"));
      json_object_set_new (vm, "cold_reason", json_string (why ? why : ""));
    }
}

/* QEMU opens the kernel and initramfs again through /proc/self/fd (it
   takes only paths for them): in its jail, as a user of its own, they
   must be readable by others. */
static int
vm_jail_readable (int fd, const char *path, const char *what, berth_err_t *err)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return berth_error (err, errno, "stat `%s`", path);
  if (!(st.st_mode & S_IROTH))
    return berth_error (err, EACCES,
                        "the %s `%s` (mode %04o) cannot be read by QEMU's unprivileged user in its jail: make it "
                        "readable by others, or run QEMU as root with BERTH_VM_JAIL=off",
                        what, path, (unsigned)(st.st_mode & 07777));
  return 0;
}

/* Whether the container's resolv.conf names Docker's embedded DNS server
   (127.0.0.11, Docker's user networks): in the guest that address is the
   guest's loopback, so the agent answers there and the shim relays. */
static bool
vm_docker_dns (json_t *config, const char *bundle)
{
  json_t *m;
  size_t i;
  json_array_foreach (json_object_get (config, "mounts"), i, m)
  {
    const char *dst = json_string_value (json_object_get (m, "destination"));
    const char *src = json_string_value (json_object_get (m, "source"));
    cleanup_free char *path = NULL, *text = NULL;
    if (dst == NULL || src == NULL || strcmp (dst, "/etc/resolv.conf") != 0)
      continue;
    path = src[0] == '/' ? xstrdup (src) : xasprintf ("%s/%s", bundle, src);
    {
      berth_err_t e2 = NULL;
      if (read_file_at (AT_FDCWD, path, &text, NULL, &e2) < 0)
        {
          berth_error_release (&e2);
          return false;
        }
    }
    char *save = NULL;
    for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
      {
        char addr[64];
        if (sscanf (line, " nameserver %63s", addr) == 1 && strcmp (addr, "127.0.0.11") == 0)
          return true;
      }
  }
  return false;
}

/* What a VM container's VM is made of, for vm_launch. */
struct vm_launch
{
  const struct berth_create_opts *o;
  const char *dir, *kernel, *initrd;
  int dirfd, rootfd, kfd, ifd, console, tap, dns, vfs[2];
  json_t *guest, *files, *shares, *sockets, *ifaces;
  bool fs, tty, keep_changes;
  struct vm_machine m;
};

/* One try at the VM: restored from a template when one fits, booted
   otherwise.  Fails with status EBADMSG when the template's RAM turned out
   corrupt as the shim copied it (the template is gone: a second try
   makes it again). */
static int
vm_launch (struct vm_launch *l, pid_t *pid_out, json_t **vm_out, berth_err_t *err)
{
  const struct berth_create_opts *o = l->o;
  struct vm_template *t = NULL;
  struct vm_jail jail;
  cleanup_free char *why = NULL;
  int rep[2] = { -1, -1 }, agent[2] = { -1, -1 }, qmp[2] = { -1, -1 }, ret = -1;
  json_t *req;
  char **argv;
  pid_t shim, parent;
  long long disk;

  if (l->m.qemu == NULL)
    return berth_error (err, ENOENT, "VM isolation needs QEMU: %s is not in PATH", vm_qemu_binary ());
  if (vm_jail_prepare (&jail, l->m.mem_mib, l->m.cpus, err) < 0)
    return -1;
  if (jail.on
      && (vm_jail_readable (l->kfd, l->kernel, "guest kernel", err) < 0
          || vm_jail_readable (l->ifd, l->initrd, "guest initramfs", err) < 0))
    {
      vm_jail_release (&jail);
      return -1;
    }
  {
    struct stat st;
    if (fstat (l->rootfd, &st) < 0)
      {
        berth_error (err, errno, "stat the VM's disk");
        vm_jail_release (&jail);
        return -1;
      }
    disk = st.st_size;
  }
  if (vm_template_get (&l->m, l->kernel, l->kfd, l->initrd, l->ifd, disk, &t, &why) == 0)
    berth_debug ("container %s: its VM boots cold: %s", o->id, why);
  else
    berth_debug ("container %s: its VM is restored from template %s (%s memory)", o->id, t->key,
                 t->mode == VM_TEMPLATE_SHARED ? "shared" : "private");
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rep) < 0
      || socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, agent) < 0
      || (t && socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0))
    {
      berth_error (err, errno, "socketpair");
      vm_jail_release (&jail);
      goto out;
    }
  req = vm_agent_request (o->id, l->guest, l->files, l->fs, l->sockets, l->ifaces, t != NULL, l->dns >= 0);
  argv = vm_qemu_argv (o->id, &l->m, t ? VM_START_RESTORE : VM_START_COLD, t && t->mode == VM_TEMPLATE_SHARED,
                       l->tap >= 0 ? json_string_value (json_object_get (json_array_get (l->ifaces, 0), "mac")) : NULL);
  parent = getpid ();
  shim = fork ();
  if (shim == 0)
    {
      struct shim s = { .dir = l->dir,
                        .tty_slave = -1,
                        .listen = -1,
                        .sockets = l->sockets,
                        .fs = l->fs,
                        .restore = t,
                        .jail = jail,
                        .qemu_path = l->m.qemu,
                        .dns = l->dns >= 0 ? VM_FD_DNS : -1,
                        .save_changes = l->keep_changes,
                        .changes_max = vm_layer_max (l->m.mem_mib) };
      int src[] = { agent[1],
                    l->rootfd,
                    l->kfd,
                    l->ifd,
                    agent[0],
                    rep[1],
                    l->dirfd,
                    l->console,
                    l->vfs[0],
                    l->vfs[1],
                    l->tap,
                    t ? t->ram_fd : -1,
                    t ? t->state_fd : -1,
                    qmp[1],
                    qmp[0],
                    t ? t->src_fd : -1,
                    jail.lease,
                    l->dns };
      s.jail.lease = jail.on ? VM_FD_JAIL_LEASE : -1;
      _Static_assert(ARRAY_SIZE (src) == VM_FD_END - VM_FD_AGENT_QEMU, "src follows enum vm_fd");
      close (rep[0]);
      if (o->die_with_parent && (prctl (PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid () != parent))
        _exit (1);
      vm_shim_child (&s, src, argv, req, l->tty, l->m.accel, l->shares);
    }
  strv_free (argv);
  json_decref (req);
  if (shim < 0)
    {
      berth_error (err, errno, "fork the VM shim");
      vm_jail_release (&jail);
      goto out;
    }
  /* The shim holds the jail now (its lease, its cgroup). */
  if (jail.lease >= 0)
    close (jail.lease);
  berth_cgroup_free (jail.cg);
  jail.cg = NULL;
  close (rep[1]);
  rep[1] = -1;
  if (vm_await_shim (rep[0], shim, l->kernel, &l->m, vm_out, err) < 0)
    goto out;
  vm_template_hold (t, shim);
  vm_start_record (*vm_out, t, why);
  if (jail.on)
    json_object_set_new (*vm_out, "jail_uid", json_integer ((json_int_t)jail.uid));
  *pid_out = shim;
  ret = 0;
out:
  for (int i = 0; i < 2; i++)
    {
      if (rep[i] >= 0)
        close (rep[i]);
      if (agent[i] >= 0)
        close (agent[i]);
      if (qmp[i] >= 0)
        close (qmp[i]);
    }
  vm_template_free (t);
  return ret;
}

int
berth_vm_create (const struct berth_create_opts *o, const char *bundle, const char *dir, json_t *config, pid_t *pid_out,
                 json_t **vm_out, berth_err_t *err)
{
  json_t *annotations = json_object_get (config, "annotations");
  const char *image = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_IMAGE));
  cleanup_free char *kernel = NULL, *initrd = NULL, *built = NULL, *netns = NULL;
  struct vm_launch l = { .o = o,
                         .dir = dir,
                         .dirfd = -1,
                         .rootfd = -1,
                         .kfd = -1,
                         .ifd = -1,
                         .console = -1,
                         .tap = -1,
                         .dns = -1,
                         .vfs = { -1, -1 } };
  const char *pod;
  bool sandbox_vm;
  int ret = -1;

  if (vm_kernel_paths (annotations, &kernel, &initrd, err) < 0)
    return -1;
  if (json_object_get (config, "process") == NULL)
    return berth_error (err, EINVAL, "VM isolation needs process in config.json at create");
  pod = vm_pod_of (annotations, &sandbox_vm);
  if (pod)
    return vm_create_member (o, bundle, dir, config, pod, pid_out, vm_out, err);
  l.kernel = kernel;
  l.initrd = initrd;
  l.tty = json_is_true (json_object_get (json_object_get (config, "process"), "terminal"));
  /* Another engine's bundle: its rootfs gets them back at delete, where
     runc's container would have written them (vm_write_back). */
  l.keep_changes
      = image == NULL
        || strcmp (json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_KEEP_CHANGES)) ?: "", "true")
               == 0;
  l.dirfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (l.dirfd < 0)
    return berth_error (err, errno, "open `%s`", dir);
  if (vm_guest_config (config, bundle, "", &l.guest, &l.files, &l.shares, &l.sockets, &netns, err) < 0)
    goto out;
  if (netns && berth_netdev_adopt (netns, &l.ifaces, &l.tap, err) < 0)
    {
      berth_error_wrap (err, "hand the container's network to its VM");
      goto out;
    }
  if (netns && vm_docker_dns (config, bundle) && berth_netdev_dns_socket (netns, &l.dns, err) < 0)
    {
      berth_error_wrap (err, "reach Docker's DNS server for the VM");
      goto out;
    }
  if (image == NULL && bundle_image (config, bundle, dir, &built, err) < 0)
    goto out;
  if ((l.rootfd = vm_open_regular (image ? image : built, "VM image", err)) < 0
      || (l.kfd = vm_open_regular (kernel, "guest kernel", err)) < 0
      || (l.ifd = vm_open_regular (initrd, "guest initramfs", err)) < 0)
    goto out;
  if (l.tty && (l.console = vm_console_connect (o->console_fd, o->console_socket, err)) < 0)
    goto out;
  /* A file server for the shares; a Kubernetes sandbox's VM always gets
     one, for the directories (service account tokens, volumes) its
     members bring after boot. */
  l.fs = sandbox_vm || json_array_size (l.shares) > 0;
  if (l.fs && vm_vfs_sockets (l.dirfd, l.vfs, err) < 0)
    goto out;
  vm_machine_init (&l.m, config, kernel, l.fs, l.tap >= 0);
  ret = vm_launch (&l, pid_out, vm_out, err);
  if (ret < 0 && (*err)->status == EBADMSG)
    {
      berth_debug ("container %s: %s: trying again", o->id, (*err)->msg);
      berth_error_release (err);
      ret = vm_launch (&l, pid_out, vm_out, err);
    }

out:
  for (int i = 0; i < 2; i++)
    if (l.vfs[i] >= 0)
      close (l.vfs[i]);
  {
    int fds[] = { l.dirfd, l.rootfd, l.kfd, l.ifd, l.console, l.tap, l.dns };
    for (size_t i = 0; i < ARRAY_SIZE (fds); i++)
      if (fds[i] >= 0)
        close (fds[i]);
  }
  vm_machine_release (&l.m);
  json_decref (l.guest);
  json_decref (l.files);
  json_decref (l.shares);
  json_decref (l.sockets);
  json_decref (l.ifaces);
  if (ret < 0 && built)
    unlink (built);
  return ret;
}

/* containerd puts a pod's app containers into the sandbox's IPC and UTS
   namespaces by path (/proc/<sandbox pid>/ns/...).  In the pod's VM the
   sandbox's UTS namespace is the guest's own, with the pod's hostname,
   which the member shares by leaving the entry out; IPC stays per
   container there (docs/kubernetes.md).  A path to any other namespace is
   left for vm_guest_config to refuse.  Returns a copy of CONFIG. */
static json_t *
vm_member_config (json_t *config, pid_t sandbox_pid)
{
  json_t *c = json_deep_copy (config);
  json_t *nss = json_object_get (json_object_get (c, "linux"), "namespaces"), *ns;
  size_t i;
  json_array_foreach (nss, i, ns)
  {
    const char *type = json_string_value (json_object_get (ns, "type")) ?: "";
    const char *path = json_string_value (json_object_get (ns, "path"));
    cleanup_free char *pod_ns = NULL;
    struct stat a, b;
    if (path == NULL || (strcmp (type, "ipc") != 0 && strcmp (type, "uts") != 0))
      continue;
    pod_ns = xasprintf ("/proc/%d/ns/%s", (int)sandbox_pid, type);
    if (stat (path, &a) < 0 || stat (pod_ns, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
      continue;
    if (strcmp (type, "uts") == 0)
      {
        json_array_remove (nss, i);
        i--;
      }
    else
      json_object_del (ns, "path");
  }
  return c;
}

/* A container that joins a running VM container's VM (one VM per pod, as
   Kata and Hyper-V isolated pods): its image is streamed to the guest
   over the pod's agent channel, the agent makes it a second container
   there, in the guest's network namespace, and a relay process (the
   member's pid on the host) carries its stdio and exit code. */
static int
vm_create_member (const struct berth_create_opts *o, const char *bundle, const char *dir, json_t *config,
                  const char *pod, pid_t *pid_out, json_t **vm_out, berth_err_t *err)
{
  json_t *annotations = json_object_get (config, "annotations");
  const char *image = json_string_value (json_object_get (annotations, BERTH_ANNOTATION_VM_IMAGE));
  json_t *guest = NULL, *files = NULL, *shares = NULL, *sockets = NULL, *reply = NULL, *req;
  cleanup_free char *netns = NULL, *built = NULL;
  cleanup_close int fd = -1, img = -1, console = -1;
  struct berth_frame_reader rd = { 0 };
  struct berth_frame f;
  struct berth_state *pst = NULL;
  bool tty = json_is_true (json_object_get (json_object_get (config, "process"), "terminal"));
  bool mounted = false;
  int slave = -1, ret = -1;
  struct stat sb;
  pid_t relay;

  if (berth_state_load (o->root, pod, &pst, err) < 0)
    return berth_error_wrap (err, "the pod's VM container");
  if (pst->backend == NULL || json_object_get (pst->backend, "pod"))
    {
      berth_error (err, EINVAL, "container `%s` does not run a VM of its own: it cannot take pod members", pod);
      goto out;
    }
  if (!berth_name_valid (o->id, 1, 100))
    {
      berth_error (err, EINVAL, "a pod member's id must be a plain name of at most 100 characters");
      goto out;
    }
  {
    cleanup_free char *prefix = xasprintf ("c-%s/", o->id);
    json_t *member = vm_member_config (config, pst->pid);
    int r = vm_guest_config (member, bundle, prefix, &guest, &files, &shares, &sockets, &netns, err);
    json_decref (member);
    if (r < 0)
      goto out;
  }
  if (json_array_size (sockets) > 0)
    {
      berth_error (err, EINVAL,
                   "a pod member runs in the VM of `%s`, whose devices are fixed at boot: it cannot bring "
                   "unix sockets of its own (give them to the pod's first container)",
                   pod);
      goto out;
    }
  if (json_array_size (shares) > 0)
    {
      if (vm_member_mounts_attach (o->root, pod, o->id, shares, err) < 0)
        goto out;
      mounted = true;
    }
  if (image == NULL)
    {
      if (bundle_image (config, bundle, dir, &built, err) < 0)
        goto out;
      image = built;
    }
  if ((img = vm_open_regular (image, "VM image", err)) < 0)
    goto out;
  if (fstat (img, &sb) < 0)
    {
      berth_error (err, errno, "stat `%s`", image);
      goto out;
    }
  if (tty
      && ((console = vm_console_connect (o->console_fd, o->console_socket, err)) < 0
          || vm_console_pty (console, &slave, err) < 0))
    goto out;
  fd = vm_shim_connect (o->root, pod, err);
  if (fd < 0)
    goto out;
  req = json_pack ("{s:O,s:O,s:I,s:b}", "config", guest, "files", files, "image_size", (json_int_t)sb.st_size, "member",
                   1);
  if (berth_frame_write_json (fd, BERTH_F_CREATE, 0, req, err) < 0)
    goto out;
  for (;;)
    {
      char buf[65536];
      ssize_t n = read (img, buf, sizeof (buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          berth_error (err, errno, "read `%s`", image);
          goto out;
        }
      if (n == 0)
        break;
      if (berth_frame_write (fd, BERTH_F_STDIN, 0, buf, (size_t)n, err) < 0)
        goto out;
    }
  if (vm_await_reply (fd, &rd, o->id, &f, err) < 0 || berth_frame_json (&f, &reply, err) < 0)
    goto out;
  if (!json_is_string (json_object_get (reply, "id"))
      || strlen (json_string_value (json_object_get (reply, "id"))) > 32)
    {
      berth_error (err, EPROTO, "agent protocol: the reply to a pod member's create has no id");
      goto out;
    }
  relay = vm_spawn_relay (fd, &rd, slave, o->die_with_parent, err);
  if (relay < 0)
    goto out;
  *pid_out = relay;
  /* The pod's VM (its QEMU pid, kernel, size), and which member we are. */
  *vm_out = json_deep_copy (pst->backend);
  json_object_set_new (*vm_out, "pod", json_string (pod));
  json_object_set (*vm_out, "member", json_object_get (reply, "id"));
  ret = 0;
out:
  if (slave >= 0)
    close (slave);
  berth_frame_reader_free (&rd);
  berth_state_free (pst);
  json_decref (reply);
  json_decref (guest);
  json_decref (files);
  json_decref (shares);
  json_decref (sockets);
  if (ret < 0 && built)
    unlink (built);
  if (ret < 0 && mounted)
    berth_vm_member_release (o->root, pod, o->id);
  return ret;
}
