/* The host's requests: create, start, exec, signal, resize, ps, stats. */
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

#include "agent/agent.h"

/* -------------------------------------------------------- requests */

int
write_files (const struct berth_req_file *files, size_t n, const char *dir, berth_err_t *err)
{
  if (mkdir_p (dir, 0755, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", dir, files[i].name);
      if (write_file_at (AT_FDCWD, p, files[i].data, files[i].len, err) < 0)
        return -1;
    }
  return 0;
}

/* A VM restored from a template resumes a kernel that probed the
   template's placeholder disk: all zeros, and at least as large as any
   disk a clone may have (the host boots larger ones cold), so the size the
   driver keeps covers this VM's disk.  What the kernel cached of the
   placeholder must not be read as this disk: the partition scan's pages
   go at the disk's last close, and whatever else did not is dropped here.
   Binding the driver again did both, at ~80 ms under TCG. */
static int
forget_placeholder (const char *dev, berth_err_t *err)
{
  cleanup_close int fd = open (dev, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open the VM's disk %s", dev);
  if (ioctl (fd, BLKFLSBUF, 0) < 0)
    return berth_error (err, errno, "drop the cached blocks of the VM's disk %s", dev);
  trace_step ("disk ready");
  return 0;
}

int
mount_rootfs (const struct berth_req_create *r, berth_err_t *err)
{
  const char *dev = r->rootfs_device, *fstype = r->rootfs_fstype;
  if ((r->restored && forget_placeholder (dev, err) < 0) || mkdir_p ("/run/berth/lower", 0755, err) < 0
      || mkdir_p (BUNDLE "/rootfs", 0755, err) < 0)
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
  if (r->shared)
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

/* The container ID from BUNDLE (its config.json written here, with the
   root at BUNDLE/rootfs), its stdio on session SID's process.  On failure
   the error has been sent to SID. */
int
guest_create (uint32_t sid, const char *id, const char *bundle, json_t *config, const void *seccomp_bpf, size_t len,
              pid_t *pid)
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
    struct berth_create_opts o = { .root = STATE_ROOT,
                                   .id = id,
                                   .bundle = bundle,
                                   .console_fd = cons[1],
                                   .isolation = "process",
                                   .sysctls_checked = true,
                                   .seccomp_bpf = seccomp_bpf,
                                   .seccomp_bpf_len = len };
    r = berth_container_create (&o, pid, &err);
  }
  if (stdio_finish (p, child_fds, cons, r, *pid, sid, &err) < 0)
    return -1;
  p->pid = *pid;
  return 0;
}

/* The NIC the host adopted from the container's network namespace: the
   same MAC, address and gateway the container would have had there. */
int
setup_network (const struct berth_req_create *r, berth_err_t *err)
{
  if (berth_netdev_up ("lo", err) < 0)
    return -1;
  if (!r->has_iface)
    return 0;
  if (load_lazy_module ("failover", err) < 0 || load_lazy_module ("net_failover", err) < 0
      || load_lazy_module ("virtio_net", err) < 0)
    return -1;
  if (berth_netdev_configure (NIC, &r->iface, err) < 0)
    return berth_error_wrap (err, "the guest's network");
  /* IPv6 back (off since boot, see boot.c): a link-local address of the
     container's MAC, as its interface would have had in a namespace. */
  if (access (NIC_IPV6_OFF, F_OK) == 0 && write_file_at (AT_FDCWD, NIC_IPV6_OFF, "0", 1, err) < 0)
    return berth_error_wrap (err, "the guest's network");
  return 0;
}

void
do_create (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  cleanup_req_create struct berth_req_create r = { 0 };
  pid_t pid = -1;
  /* Every field read and checked before anything is done. */
  if (berth_req_create (req, &r, &err) < 0)
    return send_error (sid, &err);
  /* Session 0 creates the VM's own container, any other a pod member. */
  if ((sid != 0) != r.member)
    {
      berth_error (&err, EINVAL, "create: a pod member's create comes on its own session, the VM's on session 0");
      return send_error (sid, &err);
    }
  if (sid != 0)
    return member_begin (sid, req, &r);
  trace_step ("create");
  if (created)
    {
      berth_error (&err, EEXIST, "create: the container exists already");
      return send_error (sid, &err);
    }
  if (apply_identity (&r, &err) < 0 || write_files (r.files, r.n_files, "/run/berth/files", &err) < 0
      || mount_rootfs (&r, &err) < 0 || make_sockets (&r, &err) < 0 || setup_network (&r, &err) < 0
      || make_dns_relay (r.dns_relay, &err) < 0)
    return send_error (sid, &err);
  trace_step ("root mounted");
  if (guest_create (0, CTR_ID, BUNDLE, r.config, r.seccomp_bpf, r.seccomp_bpf_len, &pid) < 0)
    return;
  trace_step ("created");
  init_pid = pid;
  created = true;
  send_ok (sid, json_pack ("{s:i}", "pid", pid));
}

void
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

void
do_exec (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  json_t *process;
  struct proc *p;
  int child_fds[3], cons[2];
  pid_t pid = -1;
  int status = 0, r;
  bool terminal;
  const char *id;
  if (berth_req_exec (req, &process, &terminal, &err) < 0 || (id = target_id (req, &err)) == NULL)
    return send_error (sid, &err);
  if (!started || proc_by_sid (sid))
    {
      berth_error (&err, EINVAL, "exec: %s", !started ? "the container is not running" : "session in use");
      return send_error (sid, &err);
    }
  p = proc_new (sid);
  if (p == NULL)
    {
      berth_error (&err, EMFILE, "exec: too many processes");
      return send_error (sid, &err);
    }
  if (stdio_prepare (p, terminal, child_fds, cons, &err) < 0)
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

void
do_signal (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  int sig;
  bool all, own;
  const char *id;
  if (berth_req_signal (req, &sig, &all, &own, &err) < 0 || (id = target_id (req, &err)) == NULL)
    return send_error (sid, &err);
  /* "own": the session's own process (an exec), else the container. */
  if (own)
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
  if (berth_container_kill (STATE_ROOT, id, sig, all, &err) < 0)
    return send_error (sid, &err);
  send_ok (sid, NULL);
}

/* update: the container's cgroup in the guest, by the guest's lifecycle
   (the host checked the limits against the VM's size). */
void
do_update (uint32_t sid, json_t *req)
{
  berth_err_t err = NULL;
  json_t *res;
  const char *id;
  if (berth_req_update (req, &res, &err) < 0 || (id = target_id (req, &err)) == NULL)
    return send_error (sid, &err);
  if (berth_container_update (STATE_ROOT, id, res, &err) < 0)
    return send_error (sid, &err);
  send_ok (sid, NULL);
}

void
do_resize (uint32_t sid, json_t *req)
{
  struct proc *p = proc_by_sid (sid);
  struct winsize ws = { 0 };
  berth_err_t err = NULL;
  /* No reply: the host sends resizes without waiting for one. */
  if (berth_req_resize (req, &ws.ws_row, &ws.ws_col, &err) < 0)
    {
      logmsg ("%s", err->msg);
      berth_error_release (&err);
      return;
    }
  if (p && p->master >= 0)
    ioctl (p->master, TIOCSWINSZ, &ws);
}

/* `ps -ef` from /proc, for the processes of the container's cgroup: the
   guest has no ps of its own. */
void
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

long long
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

void
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

void
handle_frame (struct berth_frame *f)
{
  berth_err_t err = NULL;
  json_t *j = NULL;
  struct proc *p;
  if (f->type == BERTH_F_DNS)
    return dns_answer (f);
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
    case BERTH_F_UPDATE:
      do_update (f->sid, j);
      break;
    case BERTH_F_SIGNAL:
      do_signal (f->sid, j);
      break;
    case BERTH_F_RESIZE:
      do_resize (f->sid, j);
      break;
    case BERTH_F_ARCHIVE:
      do_archive (f->sid, j);
      break;
    case BERTH_F_EXTRACT:
      do_extract (f->sid, j);
      break;
    default:
      berth_error (&err, EPROTO, "unexpected %s frame", berth_frame_type_name (f->type));
      send_error (f->sid, &err);
    }
  json_decref (j);
}
