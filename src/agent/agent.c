/* berth-agent: PID 1 of a VM-isolated container's guest.  It mounts the
   guest's own /proc, /sys, /dev and cgroup2, loads the modules the
   initramfs carries, and serves the host over the virtio-serial port
   named berth.agent (docs/agent-protocol.md).  The container itself is
   made by the same runtime library as on the host, so inside the VM it
   still gets its namespaces, cgroup, capabilities and seccomp filter. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/loop.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/vm/agent_proto.h"
#include "lib/runtime/container.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/net/netdev.h"

#define STATE_ROOT "/run/berth/state"
#define BUNDLE "/run/berth/bundle"
#define CTR_ID "ctr"
#define MAX_PROCS 64

struct proc
{
  bool used;
  uint32_t sid;
  pid_t pid;
  int in, out, err, master;
  bool exited, tty;
  int status;
  long long exited_at;
};

static struct proc procs[MAX_PROCS];

/* Mapped host sockets: we listen in their place; each connection becomes
   a session the host completes to the real socket. */
static int sock_listen[BERTH_MAX_SOCKETS];
static int n_socks;
#define MAX_CONNS 64
static struct
{
  bool used, rd_done, wr_done;
  uint32_t sid;
  int fd;
} conns[MAX_CONNS];
static uint32_t next_conn_sid = BERTH_SID_GUEST;
static int port = -1;
static pid_t init_pid = -1;
static bool created, started;

/* The serial console, kept apart from fds 0-2, which carry each new
   container's stdio while the runtime creates it. */
static int console_fd = 2;

static void
logmsg (const char *fmt, ...)
{
  /* The host keeps the console in the container's console log. */
  va_list ap;
  va_start (ap, fmt);
  dprintf (console_fd, "berth-agent: ");
  vdprintf (console_fd, fmt, ap);
  dprintf (console_fd, "\n");
  va_end (ap);
}

/* With berth_debug=1 on the kernel command line (BERTH_VM_APPEND): when
   each step of the guest's part happened, in ms since boot. */
static void
trace_step (const char *step)
{
  static int on = -1;
  struct timespec ts;
  if (on < 0)
    on = getenv ("berth_debug") != NULL;
  if (!on)
    return;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  logmsg ("t=%lld ms %s", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, step);
}

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void
send_json (uint8_t type, uint32_t sid, json_t *j)
{
  berth_err_t err = NULL;
  if (berth_frame_write_json (port, type, sid, j, &err) < 0)
    {
      logmsg ("%s", err->msg);
      berth_error_release (&err);
    }
}

static void
send_error (uint32_t sid, berth_err_t *err)
{
  send_json (BERTH_F_ERROR, sid,
             json_pack ("{s:s,s:i}", "message", (*err)->msg ? (*err)->msg : "error", "errno", (*err)->status));
  berth_error_release (err);
}

static void
send_ok (uint32_t sid, json_t *j)
{
  send_json (BERTH_F_OK, sid, j ? j : json_object ());
}

/* ------------------------------------------------------------- boot */

static void
mount_or_log (const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
  mkdir (dst, 0755);
  if (mount (src, dst, type, flags, data) < 0 && errno != EBUSY)
    logmsg ("mount %s on %s: %s", type, dst, strerror (errno));
}

static void
load_modules (void)
{
  /* /lib/modules/order lists the initramfs's modules in dependency order;
     a kernel with the drivers built in has none. */
  FILE *f = fopen ("/lib/modules/order", "re");
  char line[256];
  if (f == NULL)
    return;
  while (fgets (line, sizeof (line), f))
    {
      char path[300];
      int fd;
      line[strcspn (line, "\n")] = 0;
      if (!*line)
        continue;
      snprintf (path, sizeof (path), "/lib/modules/%s", line);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (syscall (SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
        logmsg ("load %s: %s", line, strerror (errno));
      close (fd);
      trace_step (line);
    }
  fclose (f);
}

static int
open_port (void)
{
  /* The port's name, not its number, says which one is ours. */
  for (int tries = 0; tries < 500; tries++)
    {
      DIR *d = opendir ("/sys/class/virtio-ports");
      struct dirent *de;
      while (d && (de = readdir (d)))
        {
          char p[300], name[64] = "";
          int fd;
          ssize_t n;
          if (de->d_name[0] == '.')
            continue;
          snprintf (p, sizeof (p), "/sys/class/virtio-ports/%s/name", de->d_name);
          fd = open (p, O_RDONLY | O_CLOEXEC);
          if (fd < 0)
            continue;
          n = read (fd, name, sizeof (name) - 1);
          close (fd);
          if (n > 0 && strncmp (name, "berth.agent", 11) == 0)
            {
              snprintf (p, sizeof (p), "/dev/%s", de->d_name);
              fd = open (p, O_RDWR | O_CLOEXEC);
              if (fd >= 0)
                {
                  closedir (d);
                  return fd;
                }
            }
        }
      if (d)
        closedir (d);
      usleep (10000);
    }
  return -1;
}

/* The initramfs is rootfs, which pivot_root cannot leave, and a chroot
   is no wall for a container root with CAP_SYS_CHROOT.  So PID 1 first
   moves what it needs onto a tmpfs mounted over / and chroots into it:
   the containers' pivot_root then works from the tmpfs. */
static long long boot_start_ms;

/* Free page reporting (QEMU's virtio-balloon, free-page-reporting=on):
   guest memory the kernel frees, boot's page cache and what a container
   used and released, goes back to the host instead of staying in QEMU's
   resident set.  0: not due, or done. */
#define BALLOON_DELAY_MS 1000
static long long balloon_due_ms;

static long long
boottime_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Modules only some containers need (virtiofs for shared directories):
   loaded when asked, to keep them off every boot.  They stay in rootfs,
   reached through this directory fd after the switch to the tmpfs root. */
static int lazy_dir = -1;

static int
load_lazy_module (const char *name, berth_err_t *err)
{
  char path[128];
  int fd;
  snprintf (path, sizeof (path), "%s.ko", name);
  fd = lazy_dir >= 0 ? openat (lazy_dir, path, O_RDONLY | O_CLOEXEC) : -1;
  if (lazy_dir < 0)
    errno = ENOENT;
  if (fd < 0)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open %s", path); /* built in, or none */
  if (syscall (SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
    {
      int e = errno;
      close (fd);
      return berth_error (err, e, "load the %s module", name);
    }
  close (fd);
  return 0;
}

/* Loads the balloon driver when due; until then, shortens the poll's
 *TIMEOUT to that moment. */
static void
balloon_tick (int *timeout)
{
  berth_err_t err = NULL;
  long long left;
  if (balloon_due_ms == 0)
    return;
  left = balloon_due_ms - boottime_ms ();
  if (left > 0)
    {
      if (*timeout < 0 || left < *timeout)
        *timeout = (int)left;
      return;
    }
  balloon_due_ms = 0;
  if (load_lazy_module ("virtio_balloon", &err) < 0)
    {
      logmsg ("%s", err->msg);
      berth_error_release (&err);
    }
}

static void
switch_root (void)
{
  load_modules ();
  trace_step ("modules");
  lazy_dir = open ("/lib/modules/lazy", O_PATH | O_DIRECTORY | O_CLOEXEC);
  mkdir ("/newroot", 0755);
  if (mount ("tmpfs", "/newroot", "tmpfs", 0, "mode=0755") < 0)
    {
      logmsg ("mount the root tmpfs: %s", strerror (errno));
      return;
    }
  {
    /* The agent binary, bound (not copied) where --init finds it. */
    int fd = open ("/newroot/init", O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    if (fd < 0 || close (fd) < 0 || mount ("/init", "/newroot/init", NULL, MS_BIND, NULL) < 0)
      {
        logmsg ("bind the agent into the root tmpfs: %s", strerror (errno));
        return;
      }
  }
  /* The loaded modules are memory nobody can reach again: freed. */
  {
    DIR *d = opendir ("/lib/modules");
    struct dirent *de;
    while (d && (de = readdir (d)))
      if (de->d_name[0] != '.')
        unlinkat (dirfd (d), de->d_name, 0);
    if (d)
      closedir (d);
  }
  if (chdir ("/newroot") < 0 || mount (".", "/", NULL, MS_MOVE, NULL) < 0 || chroot (".") < 0 || chdir ("/") < 0)
    {
      logmsg ("switch to the root tmpfs: %s", strerror (errno));
      return;
    }
  /* No re-exec from the tmpfs: rootfs's /init stays anyway (the bind's
     source), and an exec costs ~60 ms of guest boot under TCG. */
}

static void
boot (void)
{
  switch_root ();
  mount_or_log ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_or_log ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_or_log ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  mount_or_log ("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  mount_or_log ("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  {
    /* Controllers for the container's cgroup, below the root. */
    int fd = open ("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
    const char *c[] = { "+cpu", "+cpuset", "+memory", "+pids", "+io" };
    for (size_t i = 0; fd >= 0 && i < ARRAY_SIZE (c); i++)
      if (write (fd, c[i], strlen (c[i])) < 0)
        logmsg ("enable %s: %s", c[i], strerror (errno));
    if (fd >= 0)
      close (fd);
  }
  mkdir ("/run/berth", 0700);
  sethostname ("berth-vm", 8);
}

/* ------------------------------------------------------------ procs */

static struct proc *
proc_new (uint32_t sid)
{
  for (int i = 0; i < MAX_PROCS; i++)
    if (!procs[i].used)
      {
        procs[i] = (struct proc){ .used = true, .sid = sid, .pid = -1, .in = -1, .out = -1, .err = -1, .master = -1 };
        return &procs[i];
      }
  return NULL;
}

static struct proc *
proc_by_sid (uint32_t sid)
{
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i].used && procs[i].sid == sid)
      return &procs[i];
  return NULL;
}

static void
closep (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static void
proc_free (struct proc *p)
{
  closep (&p->in);
  closep (&p->out);
  closep (&p->err);
  closep (&p->master);
  p->used = false;
}

/* Stdio for a new process: pipes, or a console socketpair for a tty.  The
   child's ends become our 0/1/2 for the runtime to hand on. */
static int
stdio_prepare (struct proc *p, bool tty, int child_fds[3], int cons[2], berth_err_t *err)
{
  int in[2], out[2], er[2];
  cons[0] = cons[1] = -1;
  if (tty)
    {
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)
        return berth_error (err, errno, "socketpair");
      child_fds[0] = child_fds[1] = child_fds[2] = open ("/dev/null", O_RDWR | O_CLOEXEC);
      p->tty = true;
      return 0;
    }
  if (pipe2 (in, O_CLOEXEC) < 0 || pipe2 (out, O_CLOEXEC) < 0 || pipe2 (er, O_CLOEXEC) < 0)
    return berth_error (err, errno, "pipe");
  p->in = in[1];
  p->out = out[0];
  p->err = er[0];
  child_fds[0] = in[0];
  child_fds[1] = out[1];
  child_fds[2] = er[1];
  return 0;
}

static void
stdio_install (const int child_fds[3])
{
  for (int i = 0; i < 3; i++)
    dup2 (child_fds[i], i);
}

static void
stdio_restore (int child_fds[3])
{
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  for (int i = 0; i < 3; i++)
    dup2 (null, i);
  close (null);
  if (child_fds[0] == child_fds[1])
    close (child_fds[0]);
  else
    for (int i = 0; i < 3; i++)
      close (child_fds[i]);
}

/* After create or exec (R its result): our 0-2 back, the pty master
   taken from the console socket; on failure the process is killed and
   the request answered with the error. */
static int
stdio_finish (struct proc *p, int child_fds[3], int cons[2], int r, pid_t pid, uint32_t sid, berth_err_t *err)
{
  stdio_restore (child_fds);
  closep (&cons[1]);
  if (r == 0 && p->tty && berth_recv_fd (cons[0], &p->master, err) < 0)
    r = -1;
  closep (&cons[0]);
  if (r == 0)
    return 0;
  if (pid > 0)
    kill (pid, SIGKILL);
  proc_free (p);
  send_error (sid, err);
  return -1;
}

/* -------------------------------------------------------- requests */

static int
write_files (json_t *files, const char *dir, berth_err_t *err)
{
  const char *k;
  json_t *v;
  if (mkdir_p (dir, 0755, err) < 0)
    return -1;
  json_object_foreach (files, k, v)
  {
    cleanup_free char *p = NULL;
    if (!json_is_string (v) || strchr (k, '/') || k[0] == '.' || !*k)
      return berth_error (err, EINVAL, "create: files: bad entry `%s`", k);
    p = xasprintf ("%s/%s", dir, k);
    {
      cleanup_free unsigned char *data = NULL;
      size_t len = 0;
      if (base64_decode (json_string_value (v), json_string_length (v), &data, &len) < 0)
        return berth_error (err, EINVAL, "create: files: `%s` is not base64", k);
      if (write_file_at (AT_FDCWD, p, data, len, err) < 0)
        return -1;
    }
  }
  return 0;
}

static int
mount_rootfs (json_t *req, berth_err_t *err)
{
  const char *dev = json_string_value (json_object_get (req, "rootfs_device"));
  const char *fstype = json_string_value (json_object_get (req, "rootfs_fstype"));
  if (dev == NULL || fstype == NULL)
    return berth_error (err, EINVAL, "create: rootfs_device and rootfs_fstype are required");
  if (mkdir_p ("/run/berth/lower", 0755, err) < 0 || mkdir_p (BUNDLE "/rootfs", 0755, err) < 0)
    return -1;
  if (mount (dev, "/run/berth/lower", fstype, MS_RDONLY, NULL) < 0)
    return berth_error (err, errno, "mount the image (%s, %s)", dev, fstype);
  /* The writable layer lives in guest memory: it goes with the VM. */
  if (mkdir_p ("/run/berth/rw", 0755, err) < 0)
    return -1;
  if (mount ("tmpfs", "/run/berth/rw", "tmpfs", 0, "mode=0755") < 0)
    return berth_error (err, errno, "mount the writable layer");
  if (mkdir_p ("/run/berth/rw/upper", 0755, err) < 0 || mkdir_p ("/run/berth/rw/work", 0755, err) < 0)
    return -1;
  if (mount ("overlay", BUNDLE "/rootfs", "overlay", 0,
             "lowerdir=/run/berth/lower,upperdir=/run/berth/rw/upper,workdir=/run/berth/rw/work")
      < 0)
    return berth_error (err, errno, "mount the container's overlay");
  if (json_is_true (json_object_get (req, "shared")))
    {
      /* The host's shared directories, one subdirectory per mount. */
      if (load_lazy_module ("fuse", err) < 0 || load_lazy_module ("virtiofs", err) < 0
          || mkdir_p ("/run/berth/share", 0755, err) < 0)
        return -1;
      if (mount ("berth", "/run/berth/share", "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0)
        return berth_error (err, errno, "mount the shared directories (virtiofs)");
    }
  return 0;
}

static int
make_sockets (json_t *list, berth_err_t *err)
{
  json_t *v;
  size_t i;
  if (list == NULL)
    return 0;
  if (!json_is_array (list) || json_array_size (list) > BERTH_MAX_SOCKETS)
    return berth_error (err, EINVAL, "create: sockets must be an array of at most %d", BERTH_MAX_SOCKETS);
  if (json_array_size (list) && mkdir_p ("/run/berth/sockets", 0755, err) < 0)
    return -1;
  json_array_foreach (list, i, v)
  {
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
      return berth_error (err, errno, "socket");
    snprintf (addr.sun_path, sizeof (addr.sun_path), "/run/berth/sockets/s%zu", i);
    if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0 || listen (fd, 64) < 0
        || chmod (addr.sun_path, (mode_t)json_integer_value (json_object_get (v, "mode")) & 0777) < 0)
      {
        close (fd);
        return berth_error (err, errno, "listen on %s", addr.sun_path);
      }
    sock_listen[n_socks++] = fd;
  }
  return 0;
}

static void
conn_done (int k)
{
  if (conns[k].rd_done && conns[k].wr_done)
    {
      close (conns[k].fd);
      conns[k].used = false;
    }
}

static void
socket_frame (struct berth_frame *f)
{
  for (int k = 0; k < MAX_CONNS; k++)
    if (conns[k].used && conns[k].sid == f->sid)
      {
        if (f->type == BERTH_F_DATA && !conns[k].wr_done)
          {
            if (write_all (conns[k].fd, f->data, f->len) < 0)
              conns[k].wr_done = true;
          }
        else if (f->type == BERTH_F_CLOSE)
          {
            shutdown (conns[k].fd, SHUT_WR);
            conns[k].wr_done = true;
            /* Refused by the host before any byte: nothing more to read. */
            conn_done (k);
          }
        return;
      }
}

static void
socket_accept (int idx)
{
  int fd = accept4 (sock_listen[idx], NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return;
  for (int k = 0; k < MAX_CONNS; k++)
    if (!conns[k].used)
      {
        conns[k] = (typeof (conns[k])){ .used = true, .sid = next_conn_sid++, .fd = fd };
        if (next_conn_sid < BERTH_SID_GUEST)
          next_conn_sid = BERTH_SID_GUEST;
        send_json (BERTH_F_CONNECT, conns[k].sid, json_pack ("{s:i}", "socket", idx));
        return;
      }
  close (fd);
}

/* The container ID from BUNDLE (its config.json written here, with the
   root at BUNDLE/rootfs), its stdio on session SID's process.  On failure
   the error has been sent to SID. */
static int
guest_create (uint32_t sid, const char *id, const char *bundle, json_t *config, pid_t *pid)
{
  berth_err_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/config.json", bundle);
  int child_fds[3] = { -1, -1, -1 }, cons[2] = { -1, -1 }, r;
  struct proc *p;
  char *text;
  *pid = -1;
  json_object_set_new (json_object_get (config, "root") ? json_object_get (config, "root") : config, "path",
                       json_string ("rootfs"));
  /* Compact: only the runtime library reads it, on every create. */
  text = json_dumps (config, JSON_COMPACT);
  r = write_file_at (AT_FDCWD, path, text, strlen (text), &err);
  free (text);
  if (r == 0 && (p = proc_new (sid)) == NULL)
    r = berth_error (&err, EMFILE, "create: too many processes");
  if (r < 0)
    {
      send_error (sid, &err);
      return -1;
    }
  if (stdio_prepare (p, json_is_true (json_object_get (json_object_get (config, "process"), "terminal")), child_fds,
                     cons, &err)
      < 0)
    {
      proc_free (p);
      send_error (sid, &err);
      return -1;
    }
  stdio_install (child_fds);
  {
    struct berth_create_opts o
        = { .root = STATE_ROOT, .id = id, .bundle = bundle, .console_fd = cons[1], .isolation = "process" };
    r = berth_container_create (&o, pid, &err);
  }
  if (stdio_finish (p, child_fds, cons, r, *pid, sid, &err) < 0)
    return -1;
  p->pid = *pid;
  return 0;
}

/* ------------------------------------------------------ pod members */

/* Containers that joined this VM's pod (berth.vm.pod): each arrives on
   its own session as a create request followed by its root image (erofs)
   in stdin frames; it runs beside the pod's container, in the guest's
   network namespace, with its own namespaces, cgroup and PID space. */
#define MAX_MEMBERS 16
static struct member
{
  bool used, loading;
  uint32_t sid;
  char id[16];
  int image_fd;
  long long size, got;
  json_t *req;
} members[MAX_MEMBERS];
static int next_member = 1;

static struct member *
member_by_sid (uint32_t sid)
{
  for (int i = 0; i < MAX_MEMBERS; i++)
    if (members[i].used && members[i].sid == sid)
      return &members[i];
  return NULL;
}

/* The container a request names ("container": a member), else the pod's
   own; NULL (and an error) for a name we do not know. */
static const char *
target_id (json_t *req, berth_err_t *err)
{
  json_t *c = json_object_get (req, "container");
  if (c == NULL)
    return CTR_ID;
  for (int i = 0; json_is_string (c) && i < MAX_MEMBERS; i++)
    if (members[i].used && !members[i].loading && strcmp (members[i].id, json_string_value (c)) == 0)
      return members[i].id;
  berth_error (err, ESRCH, "no such container in this VM");
  return NULL;
}

static void
member_free (struct member *m)
{
  cleanup_free char *dir = xasprintf ("/run/berth/members/%s", m->id);
  cleanup_free char *rootfs = xasprintf ("%s/bundle/rootfs", dir);
  cleanup_free char *lower = xasprintf ("%s/lower", dir);
  berth_err_t err = NULL;
  if (m->image_fd >= 0)
    close (m->image_fd);
  if (!m->loading)
    berth_container_delete (STATE_ROOT, m->id, true, NULL, &err);
  berth_error_release (&err);
  umount2 (rootfs, MNT_DETACH);
  umount2 (lower, MNT_DETACH); /* the loop device clears itself */
  rm_rf_at (AT_FDCWD, dir, &err);
  berth_error_release (&err);
  json_decref (m->req);
  memset (m, 0, sizeof (*m));
}

static void
member_fail (struct member *m, berth_err_t *err)
{
  send_error (m->sid, err);
  member_free (m);
}

static void
member_begin (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  struct member *m = NULL;
  json_t *size = json_object_get (req, "image_size");
  struct sysinfo si;
  cleanup_free char *dir = NULL, *img = NULL;
  if (!created || !json_is_true (json_object_get (req, "member")) || member_by_sid (sid) || proc_by_sid (sid))
    {
      berth_error (&err, EINVAL, "create: %s", !created ? "the pod's container is not there" : "bad member request");
      return send_error (sid, &err);
    }
  sysinfo (&si);
  /* The image lives in guest memory: it must leave room for the rest. */
  if (!json_is_integer (size) || json_integer_value (size) <= 0
      || (unsigned long long)json_integer_value (size) > (unsigned long long)si.freeram * si.mem_unit / 2)
    {
      berth_error (&err, ENOMEM, "create: a pod member's image must fit in half of the VM's free memory");
      return send_error (sid, &err);
    }
  for (int i = 0; i < MAX_MEMBERS && m == NULL; i++)
    if (!members[i].used)
      m = &members[i];
  if (m == NULL)
    {
      berth_error (&err, EMFILE, "create: this VM has %d pod members already", MAX_MEMBERS);
      return send_error (sid, &err);
    }
  *m = (struct member){ .used = true,
                        .loading = true,
                        .sid = sid,
                        .image_fd = -1,
                        .size = json_integer_value (size),
                        .req = json_incref (req) };
  snprintf (m->id, sizeof (m->id), "m%d", next_member++);
  dir = xasprintf ("/run/berth/members/%s", m->id);
  img = xasprintf ("%s/image.erofs", dir);
  if (mkdir_p (dir, 0700, &err) < 0)
    return member_fail (m, &err);
  m->image_fd = open (img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (m->image_fd < 0)
    {
      berth_error (&err, errno, "create `%s`", img);
      return member_fail (m, &err);
    }
}

/* The image, read-only through a loop device (which clears itself when
   the mount goes). */
static int
loop_mount (const char *file, const char *target, berth_err_t *err)
{
  cleanup_close int ctl = -1, dev = -1, ffd = -1;
  char path[32];
  int nr;
  struct loop_config cfg;
  ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0 && load_lazy_module ("loop", err) < 0)
    return -1;
  /* devtmpfs makes the node a moment after the module registers it. */
  for (int i = 0; ctl < 0 && i < 100; i++)
    {
      ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC);
      if (ctl < 0)
        usleep (10000);
    }
  if (ctl < 0)
    return berth_error (err, errno, "open /dev/loop-control");
  nr = ioctl (ctl, LOOP_CTL_GET_FREE);
  if (nr < 0)
    return berth_error (err, errno, "find a free loop device");
  snprintf (path, sizeof (path), "/dev/loop%d", nr);
  dev = open (path, O_RDWR | O_CLOEXEC);
  ffd = open (file, O_RDONLY | O_CLOEXEC);
  if (dev < 0 || ffd < 0)
    return berth_error (err, errno, "open %s", dev < 0 ? path : file);
  memset (&cfg, 0, sizeof (cfg));
  cfg.fd = (unsigned)ffd;
  cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
  if (ioctl (dev, LOOP_CONFIGURE, &cfg) < 0)
    return berth_error (err, errno, "attach %s to %s", file, path);
  if (mount (path, target, "erofs", MS_RDONLY, NULL) < 0)
    return berth_error (err, errno, "mount the pod member's image");
  return 0;
}

static void
member_create (struct member *m)
{
  berth_err_t err = NULL;
  cleanup_free char *dir = xasprintf ("/run/berth/members/%s", m->id);
  cleanup_free char *img = xasprintf ("%s/image.erofs", dir);
  cleanup_free char *lower = xasprintf ("%s/lower", dir);
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  cleanup_free char *work = xasprintf ("%s/work", dir);
  cleanup_free char *bundle = xasprintf ("%s/bundle", dir);
  cleanup_free char *rootfs = xasprintf ("%s/bundle/rootfs", dir);
  cleanup_free char *files = xasprintf ("%s/files", dir);
  cleanup_free char *ovl = NULL;
  json_t *config = json_object_get (m->req, "config"), *mounts, *mt;
  pid_t pid = -1;
  size_t i;
  close (m->image_fd);
  m->image_fd = -1;
  if (!json_is_object (config))
    {
      berth_error (&err, EINVAL, "create: config must be an object");
      return member_fail (m, &err);
    }
  if (mkdir_p (lower, 0755, &err) < 0 || mkdir_p (upper, 0755, &err) < 0 || mkdir_p (work, 0755, &err) < 0
      || mkdir_p (rootfs, 0755, &err) < 0 || loop_mount (img, lower, &err) < 0)
    return member_fail (m, &err);
  ovl = xasprintf ("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
  if (mount ("overlay", rootfs, "overlay", 0, ovl) < 0)
    {
      berth_error (&err, errno, "mount the pod member's overlay");
      return member_fail (m, &err);
    }
  unlink (img); /* the loop device holds it */
  if (write_files (json_object_get (m->req, "files"), files, &err) < 0)
    return member_fail (m, &err);
  /* Its small files (hosts, hostname, ...) are its own, not the pod's. */
  mounts = json_object_get (config, "mounts");
  json_array_foreach (mounts, i, mt)
  {
    const char *src = json_string_value (json_object_get (mt, "source"));
    if (src && str_has_prefix (src, "/run/berth/files/"))
      json_object_set_new (mt, "source", json_sprintf ("%s/%s", files, src + strlen ("/run/berth/files/")));
  }
  {
    /* The pod's network is the namespace of its first container, here. */
    json_t *nss = json_object_get (json_object_get (config, "linux"), "namespaces"), *ns;
    json_array_foreach (nss, i, ns)
    {
      if (strcmp (json_string_value (json_object_get (ns, "type")) ?: "", "network") == 0)
        {
          json_array_remove (nss, i);
          break;
        }
    }
    if (json_is_array (nss))
      json_array_append_new (
          nss, json_pack ("{s:s,s:o}", "type", "network", "path", json_sprintf ("/proc/%d/ns/net", (int)init_pid)));
  }
  m->loading = false;
  if (guest_create (m->sid, m->id, bundle, config, &pid) < 0)
    {
      member_free (m); /* guest_create answered */
      return;
    }
  send_ok (m->sid, json_pack ("{s:i,s:s}", "pid", pid, "id", m->id));
}

static void
member_data (struct member *m, const void *data, size_t len)
{
  berth_err_t err = NULL;
  if (m->got + (long long)len > m->size)
    {
      berth_error (&err, EPROTO, "create: more image bytes than announced");
      return member_fail (m, &err);
    }
  if (write_all (m->image_fd, data, len) < 0)
    {
      berth_error (&err, errno, "write the pod member's image");
      return member_fail (m, &err);
    }
  m->got += (long long)len;
  if (m->got == m->size)
    member_create (m);
}

/* The NIC the host adopted from the container's network namespace: the
   same MAC, address and gateway the container would have had there. */
static int
setup_network (json_t *list, berth_err_t *err)
{
  json_t *iface;
  size_t i;
  if (berth_netdev_up ("lo", err) < 0)
    return -1;
  if (json_array_size (list) == 0)
    return 0;
  if (!json_is_array (list) || json_array_size (list) > 1)
    return berth_error (err, EINVAL, "create: network must be a list of at most one interface");
  if (load_lazy_module ("failover", err) < 0 || load_lazy_module ("net_failover", err) < 0
      || load_lazy_module ("virtio_net", err) < 0)
    return -1;
  json_array_foreach (list, i, iface)
  {
    char name[24];
    snprintf (name, sizeof (name), "eth%u", (unsigned)i);
    if (!json_is_object (iface) || berth_netdev_configure (name, iface, err) < 0)
      return berth_error_wrap (err, "the guest's network");
  }
  return 0;
}

static void
do_create (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  json_t *config = json_object_get (req, "config");
  pid_t pid = -1;
  if (sid != 0)
    return member_begin (sid, req);
  trace_step ("create");
  if (created)
    {
      berth_error (&err, EEXIST, "create: the container exists already");
      return send_error (sid, &err);
    }
  if (!json_is_object (config))
    {
      berth_error (&err, EINVAL, "create: config must be an object");
      return send_error (sid, &err);
    }
  if (write_files (json_object_get (req, "files"), "/run/berth/files", &err) < 0 || mount_rootfs (req, &err) < 0
      || make_sockets (json_object_get (req, "sockets"), &err) < 0
      || setup_network (json_object_get (req, "network"), &err) < 0)
    return send_error (sid, &err);
  trace_step ("root mounted");
  if (guest_create (0, CTR_ID, BUNDLE, config, &pid) < 0)
    return;
  trace_step ("created");
  init_pid = pid;
  created = true;
  send_ok (sid, json_pack ("{s:i}", "pid", pid));
}

static void
do_start (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL, warning = NULL;
  const char *id = target_id (req, &err);
  if (id == NULL)
    return send_error (sid, &err);
  if (strcmp (id, CTR_ID) != 0)
    {
      /* A pod member: started when its host side says so. */
      if (berth_container_start (STATE_ROOT, id, &warning, &err) < 0)
        {
          berth_error_release (&warning);
          return send_error (sid, &err);
        }
      berth_error_release (&warning);
      return send_ok (sid, NULL);
    }
  if (!created || started)
    {
      berth_error (&err, EINVAL, "start: the container is %s", created ? "started already" : "not created");
      return send_error (sid, &err);
    }
  if (berth_container_start (STATE_ROOT, CTR_ID, &warning, &err) < 0)
    {
      berth_error_release (&warning);
      return send_error (sid, &err);
    }
  berth_error_release (&warning);
  trace_step ("started");
  started = true;
  /* The balloon driver once the container settles (not on every boot:
     a short-lived container never pays for it). */
  balloon_due_ms = boottime_ms () + BALLOON_DELAY_MS;
  send_ok (sid, NULL);
}

static void
do_exec (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  json_t *process = json_object_get (req, "process");
  struct proc *p;
  int child_fds[3], cons[2];
  pid_t pid = -1;
  int status = 0, r;
  const char *id = target_id (req, &err);
  if (id == NULL)
    return send_error (sid, &err);
  if (!started || !json_is_object (process) || proc_by_sid (sid))
    {
      berth_error (&err, EINVAL, "exec: %s", !started ? "the container is not running" : "bad request");
      return send_error (sid, &err);
    }
  p = proc_new (sid);
  if (p == NULL)
    {
      berth_error (&err, EMFILE, "exec: too many processes");
      return send_error (sid, &err);
    }
  if (stdio_prepare (p, json_is_true (json_object_get (process, "terminal")), child_fds, cons, &err) < 0)
    {
      proc_free (p);
      return send_error (sid, &err);
    }
  stdio_install (child_fds);
  {
    struct berth_exec_request x = { .process = process, .detach = true, .console_fd = cons[1], .pid_out = &pid };
    r = berth_container_exec (STATE_ROOT, id, &x, &status, &err);
  }
  if (stdio_finish (p, child_fds, cons, r, pid, sid, &err) < 0)
    return;
  p->pid = pid;
  send_ok (sid, json_pack ("{s:i}", "pid", pid));
}

static void
do_signal (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  json_t *s = json_object_get (req, "signal");
  int sig = (int)json_integer_value (s);
  const char *id = target_id (req, &err);
  if (id == NULL)
    return send_error (sid, &err);
  if (!json_is_integer (s) || sig < 1 || sig > 64)
    {
      berth_error (&err, EINVAL, "signal: bad signal number");
      return send_error (sid, &err);
    }
  /* "own": the session's own process (an exec), else the container. */
  if (json_is_true (json_object_get (req, "own")))
    {
      struct proc *p = proc_by_sid (sid);
      struct member *m = member_by_sid (sid);
      if (m && m->loading)
        {
          /* Its host side went away before the image was all here. */
          member_free (m);
          return send_ok (sid, NULL);
        }
      if (p == NULL || p->exited || kill (p->pid, sig) < 0)
        {
          berth_error (&err, ESRCH, "signal: no such process");
          return send_error (sid, &err);
        }
      return send_ok (sid, NULL);
    }
  if (!created)
    {
      berth_error (&err, ESRCH, "signal: the container is not running");
      return send_error (sid, &err);
    }
  if (berth_container_kill (STATE_ROOT, id, sig, json_is_true (json_object_get (req, "all")), &err) < 0)
    return send_error (sid, &err);
  send_ok (sid, NULL);
}

static void
do_resize (uint32_t sid, json_t *req)
{
  struct proc *p = proc_by_sid (sid);
  struct winsize ws = { .ws_row = (unsigned short)json_integer_value (json_object_get (req, "rows")),
                        .ws_col = (unsigned short)json_integer_value (json_object_get (req, "cols")) };
  if (p && p->master >= 0)
    ioctl (p->master, TIOCSWINSZ, &ws);
}

/* `ps -ef` from /proc, for the processes of the container's cgroup: the
   guest has no ps of its own. */
static void
do_ps (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  pid_t *pids = NULL;
  size_t n = 0;
  json_t *lines = json_array ();
  struct sysinfo si;
  long hz = sysconf (_SC_CLK_TCK);
  time_t boot;
  const char *id = target_id (req, &err);
  if (id == NULL)
    {
      json_decref (lines);
      return send_error (sid, &err);
    }
  if (berth_container_pids (STATE_ROOT, id, &pids, &n, &err) < 0)
    {
      json_decref (lines);
      return send_error (sid, &err);
    }
  sysinfo (&si);
  boot = time (NULL) - si.uptime;
  json_array_append_new (lines, json_string ("UID        PID  PPID  C STIME TTY          TIME CMD"));
  for (size_t i = 0; i < n; i++)
    {
      char path[64], sbuf[1024] = "", cmd[512] = "", *rp, tty[16] = "?";
      unsigned long long ut = 0, st = 0, start = 0;
      int ppid = 0, tty_nr = 0, fd;
      ssize_t len;
      struct stat sb;
      char stime[16], tm[64], line[700];
      snprintf (path, sizeof (path), "/proc/%d/stat", pids[i]);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      len = read (fd, sbuf, sizeof (sbuf) - 1);
      close (fd);
      if (len <= 0 || (rp = strrchr (sbuf, ')')) == NULL)
        continue;
      sscanf (rp + 2, "%*c %d %*d %*d %d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu", &ppid,
              &tty_nr, &ut, &st, &start);
      snprintf (path, sizeof (path), "/proc/%d/cmdline", pids[i]);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      len = fd >= 0 ? read (fd, cmd, sizeof (cmd) - 1) : -1;
      if (fd >= 0)
        close (fd);
      if (len > 0)
        {
          for (ssize_t k = 0; k < len - 1; k++)
            if (cmd[k] == 0)
              cmd[k] = ' ';
        }
      else
        {
          char *l = strchr (sbuf, '(');
          snprintf (cmd, sizeof (cmd), "[%.*s]", l ? (int)(rp - l - 1) : 0, l ? l + 1 : "");
        }
      snprintf (path, sizeof (path), "/proc/%d", pids[i]);
      if (stat (path, &sb) < 0)
        continue;
      if (tty_nr)
        snprintf (tty, sizeof (tty), "pts/%d", (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00));
      {
        time_t t = boot + (time_t)(start / (unsigned long long)hz);
        struct tm tmv;
        unsigned long long cpu = (ut + st) / (unsigned long long)hz;
        gmtime_r (&t, &tmv);
        strftime (stime, sizeof (stime), "%H:%M", &tmv);
        snprintf (tm, sizeof (tm), "%02llu:%02llu:%02llu", cpu / 3600, cpu / 60 % 60, cpu % 60);
      }
      snprintf (line, sizeof (line), "%-8u %5d %5d  0 %s %-8s %8s %s", sb.st_uid, pids[i], ppid, stime, tty, tm, cmd);
      json_array_append_new (lines, json_string (line));
    }
  free (pids);
  send_ok (sid, json_pack ("{s:o}", "lines", lines));
}

static long long
read_ll (const char *path, const char *key)
{
  char buf[4096];
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0)
    return -1;
  n = read (fd, buf, sizeof (buf) - 1);
  close (fd);
  if (n <= 0)
    return -1;
  buf[n] = 0;
  if (key)
    {
      char *p = strstr (buf, key);
      return p ? atoll (p + strlen (key)) : -1;
    }
  return strncmp (buf, "max", 3) == 0 ? -1 : atoll (buf);
}

static void
do_stats (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  json_t *state = NULL;
  struct sysinfo si;
  char cg[512] = "";
  const char *id = target_id (req, &err);
  /* The container's cgroup: the one its init is in. */
  if (id == NULL || berth_container_state (STATE_ROOT, id, &state, &err) < 0)
    return send_error (sid, &err);
  {
    char p[64], line[512];
    FILE *f;
    snprintf (p, sizeof (p), "/proc/%d/cgroup", (int)json_integer_value (json_object_get (state, "pid")));
    f = fopen (p, "re");
    if (f && fgets (line, sizeof (line), f) && strncmp (line, "0::", 3) == 0)
      {
        line[strcspn (line, "\n")] = 0;
        snprintf (cg, sizeof (cg), "/sys/fs/cgroup%.400s", line + 3);
      }
    if (f)
      fclose (f);
  }
  json_decref (state);
  sysinfo (&si);
  {
    cleanup_free char *mem = xasprintf ("%s/memory.current", cg);
    cleanup_free char *max = xasprintf ("%s/memory.max", cg);
    cleanup_free char *cpu = xasprintf ("%s/cpu.stat", cg);
    cleanup_free char *pids = xasprintf ("%s/pids.current", cg);
    long long limit = read_ll (max, NULL);
    send_ok (sid,
             json_pack ("{s:I,s:I,s:I,s:I,s:I,s:I}", "memory", (json_int_t)read_ll (mem, NULL), "memory_limit",
                        (json_int_t)(limit > 0 ? limit : (long long)si.totalram * si.mem_unit), "cpu_ns",
                        (json_int_t)(read_ll (cpu, "usage_usec ") * 1000), "pids", (json_int_t)read_ll (pids, NULL),
                        "guest_memory_used", (json_int_t)((si.totalram - si.freeram) * si.mem_unit),
                        "guest_memory_free", (json_int_t)si.freeram * si.mem_unit));
  }
}

static void
handle_frame (struct berth_frame *f)
{
  berth_err_t err = NULL;
  json_t *j = NULL;
  struct proc *p;
  if (f->sid >= BERTH_SID_GUEST)
    return socket_frame (f);
  switch (f->type)
    {
    case BERTH_F_STDIN:
      {
        struct member *m = member_by_sid (f->sid);
        if (m && m->loading)
          return member_data (m, f->data, f->len);
      }
      p = proc_by_sid (f->sid);
      if (p && (p->tty ? p->master : p->in) >= 0)
        (void)write_all (p->tty ? p->master : p->in, f->data, f->len);
      return;
    case BERTH_F_STDIN_CLOSE:
      p = proc_by_sid (f->sid);
      if (p && p->tty && p->master >= 0)
        (void)write_all (p->master, "\x04", 1);
      else if (p)
        closep (&p->in);
      return;
    case BERTH_F_START:
    case BERTH_F_PS:
    case BERTH_F_STATS:
      /* A body names a pod member; none means the pod's own container. */
      if (f->len > 0 && berth_frame_json (f, &j, &err) < 0)
        return send_error (f->sid, &err);
      if (f->type == BERTH_F_START)
        do_start (f->sid, j);
      else if (f->type == BERTH_F_PS)
        do_ps (f->sid, j);
      else
        do_stats (f->sid, j);
      json_decref (j);
      return;
    case BERTH_F_SHUTDOWN:
      /* Nothing to sync: the image is read-only, the rest is memory.  A
         reboot is a triple fault (reboot=t) that QEMU, run with
         -no-reboot, takes as its exit: no ACPI needed. */
      trace_step ("shutdown");
      reboot (RB_AUTOBOOT);
      return;
    default:
      break;
    }
  if (berth_frame_json (f, &j, &err) < 0)
    return send_error (f->sid, &err);
  switch (f->type)
    {
    case BERTH_F_CREATE:
      do_create (f->sid, j);
      break;
    case BERTH_F_EXEC:
      do_exec (f->sid, j);
      break;
    case BERTH_F_SIGNAL:
      do_signal (f->sid, j);
      break;
    case BERTH_F_RESIZE:
      do_resize (f->sid, j);
      break;
    default:
      berth_error (&err, EPROTO, "unexpected %s frame", berth_frame_type_name (f->type));
      send_error (f->sid, &err);
    }
  json_decref (j);
}

/* A process is done when it has exited and its output is drained (or
   something it left behind still holds the pipe: then after a grace). */
static void
maybe_finish (struct proc *p)
{
  if (!p->exited || ((p->out >= 0 || p->err >= 0 || p->master >= 0) && now_ms () - p->exited_at < 300))
    return;
  {
    int code = WIFEXITED (p->status) ? WEXITSTATUS (p->status) : 128 + WTERMSIG (p->status);
    struct member *m = p->sid ? member_by_sid (p->sid) : NULL;
    {
      if (p->sid == 0)
        trace_step ("exit");
      send_json (BERTH_F_EXIT, p->sid, json_pack ("{s:i}", "code", code));
    }
    proc_free (p);
    /* A pod member whose init is gone: its container goes too. */
    if (m && !m->loading)
      member_free (m);
  }
}

/* berth-init: the same binary as a container's PID 1 (run --init), as
   docker's tini: it forwards signals to the command, reaps every orphan,
   and exits with the command's status (128+N for a signal). */
static int
init_main (int argc, char **argv)
{
  sigset_t all, old;
  pid_t child;
  int first = 1;
  if (argc > 1 && strcmp (argv[1], "--") == 0)
    first = 2;
  if (first >= argc)
    {
      fprintf (stderr, "berth-init: usage: berth-init [--] COMMAND [ARG...]\n");
      return 2;
    }
  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, &old);
  child = fork ();
  if (child < 0)
    {
      perror ("berth-init: fork");
      return 1;
    }
  if (child == 0)
    {
      sigprocmask (SIG_SETMASK, &old, NULL);
      /* The command gets the terminal's foreground, as it would alone. */
      setpgid (0, 0);
      tcsetpgrp (0, getpid ());
      execvp (argv[first], argv + first);
      fprintf (stderr, "berth-init: exec %s: %s\n", argv[first], strerror (errno));
      _exit (errno == ENOENT ? 127 : 126);
    }
  setpgid (child, child);
  for (;;)
    {
      siginfo_t si;
      int sig = sigwaitinfo (&all, &si);
      if (sig < 0)
        continue;
      if (sig != SIGCHLD)
        {
          kill (child, sig);
          continue;
        }
      for (;;)
        {
          int status;
          pid_t w = waitpid (-1, &status, WNOHANG);
          if (w <= 0)
            break;
          if (w == child)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        }
    }
}

int
main (int argc, char **argv)
{
  {
    const char *base = strrchr (argv[0], '/') ? strrchr (argv[0], '/') + 1 : argv[0];
    if (strcmp (base, "berth-init") == 0)
      return init_main (argc, argv);
  }
  sigset_t mask;
  int sfd;
  struct berth_frame_reader rd = { 0 };
  struct utsname un;
  struct sysinfo si;

  if (getpid () != 1)
    {
      fprintf (stderr, "berth-agent: runs as the guest's init (PID 1), inside a berth VM\n");
      return 1;
    }
  (void)argc;
  {
    int c = fcntl (2, F_DUPFD_CLOEXEC, 10);
    if (c >= 0)
      console_fd = c;
  }
  boot_start_ms = boottime_ms ();
  trace_step ("agent");
  boot ();
  trace_step ("booted");
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  signal (SIGPIPE, SIG_IGN);
  port = open_port ();
  if (port < 0)
    {
      logmsg ("no berth.agent virtio port: powering off");
      reboot (RB_POWER_OFF);
    }
  uname (&un);
  (void)si;
  trace_step ("ready");
  /* Boot timing as the guest saw it: kernel until our start, then ours. */
  send_json (BERTH_F_READY, 0,
             json_pack ("{s:s,s:I,s:I}", "kernel", un.release, "uptime_ms", (json_int_t)boottime_ms (),
                        "agent_start_ms", (json_int_t)boot_start_ms));

  for (;;)
    {
      struct pollfd pf[2 + 3 * MAX_PROCS + BERTH_MAX_SOCKETS + MAX_CONNS];
      struct proc *owner[2 + 3 * MAX_PROCS];
      int np = 0, timeout = -1, nsock;
      pf[np] = (struct pollfd){ .fd = port, .events = POLLIN };
      owner[np++] = NULL;
      pf[np] = (struct pollfd){ .fd = sfd, .events = POLLIN };
      owner[np++] = NULL;
      for (int i = 0; i < MAX_PROCS; i++)
        {
          struct proc *p = &procs[i];
          int fds[3] = { p->out, p->err, p->master };
          if (!p->used)
            continue;
          for (int k = 0; k < 3; k++)
            if (fds[k] >= 0)
              {
                pf[np] = (struct pollfd){ .fd = fds[k], .events = POLLIN };
                owner[np++] = p;
              }
          if (p->exited)
            timeout = 100;
        }
      balloon_tick (&timeout);
      nsock = np;
      for (int i = 0; i < n_socks; i++)
        pf[np++] = (struct pollfd){ .fd = sock_listen[i], .events = POLLIN };
      for (int k = 0; k < MAX_CONNS; k++)
        pf[np++] = (struct pollfd){ .fd = conns[k].used && !conns[k].rd_done ? conns[k].fd : -1, .events = POLLIN };
      if (poll (pf, (nfds_t)np, timeout) < 0 && errno != EINTR)
        {
          logmsg ("poll: %s", strerror (errno));
          break;
        }
      for (int i = 0; i < n_socks; i++)
        if (pf[nsock + i].revents)
          socket_accept (i);
      for (int k = 0; k < MAX_CONNS; k++)
        {
          char buf[65536];
          ssize_t n;
          berth_err_t err = NULL;
          if (!pf[nsock + n_socks + k].revents || !conns[k].used)
            continue;
          n = read (conns[k].fd, buf, sizeof (buf));
          if (n > 0)
            berth_frame_write (port, BERTH_F_DATA, conns[k].sid, buf, (size_t)n, &err);
          else
            {
              berth_frame_write (port, BERTH_F_CLOSE, conns[k].sid, "{}", 2, &err);
              conns[k].rd_done = true;
              conn_done (k);
            }
          berth_error_release (&err);
        }
      for (int k = 2; k < nsock; k++)
        {
          struct proc *p = owner[k];
          char buf[65536];
          ssize_t n;
          if (!pf[k].revents || !p->used)
            continue;
          n = read (pf[k].fd, buf, sizeof (buf));
          if (n <= 0)
            {
              if (pf[k].fd == p->out)
                closep (&p->out);
              else if (pf[k].fd == p->err)
                closep (&p->err);
              else
                closep (&p->master);
              continue;
            }
          {
            berth_err_t err = NULL;
            if (berth_frame_write (port, pf[k].fd == p->err ? BERTH_F_STDERR : BERTH_F_STDOUT, p->sid, buf, (size_t)n,
                                   &err)
                < 0)
              berth_error_release (&err);
          }
        }
      if (pf[1].revents)
        {
          struct signalfd_siginfo si2;
          while (read (sfd, &si2, sizeof (si2)) > 0)
            ;
          for (;;)
            {
              int status;
              pid_t w = waitpid (-1, &status, WNOHANG);
              if (w <= 0)
                break;
              for (int i = 0; i < MAX_PROCS; i++)
                if (procs[i].used && procs[i].pid == w)
                  {
                    procs[i].exited = true;
                    procs[i].status = status;
                    procs[i].exited_at = now_ms ();
                    if (procs[i].sid == 0)
                      trace_step ("reaped");
                  }
            }
        }
      if (pf[0].revents)
        {
          berth_err_t err = NULL;
          struct berth_frame f;
          int r = berth_frame_fill (&rd, port, &err);
          if (r < 0 && err->status != EAGAIN)
            {
              logmsg ("%s", err->msg);
              berth_error_release (&err);
              usleep (10000);
            }
          berth_error_release (&err);
          /* A virtio port reads 0 while the host side is not connected. */
          if (r == 0)
            usleep (10000);
          while (r > 0 && (r = berth_frame_next (&rd, &f, &err)) == 1)
            handle_frame (&f);
          if (r < 0)
            {
              logmsg ("%s: resetting the channel", err->msg);
              berth_error_release (&err);
              rd.len = rd.consumed = 0;
            }
        }
      for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].used)
          maybe_finish (&procs[i]);
    }
  reboot (RB_POWER_OFF);
  return 0;
}
