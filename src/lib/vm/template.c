/* VM templates: a VM booted until its agent waits for a container, saved
   (device state, and guest RAM beside it), restored for each new VM
   container instead of booting a kernel (docs/architecture.md).

   A template is a directory <templates>/<key>/ with meta.json, state (the
   migration stream QEMU wrote with x-ignore-shared: devices only) and ram
   (the guest's memory, sparse: only its non-zero pages).  The key hashes
   everything a restore must match (template_inputs).  Made under a lock
   per key, in a temporary directory renamed into place when whole;
   checked (inputs, sizes, digests of state and of every non-zero RAM
   page) each time it is used, and rebuilt rather than restored when
   anything differs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/digest.h"
#include "lib/base/utils.h"
#include "lib/vm/internal.h"
#include "lib/vm/protocol.h"
#include "lib/vm/vm.h"

#define TEMPLATE_FORMAT 4
#define PAGE 4096
#define CHUNK (1 << 20)
#define QMP_TIMEOUT_MS 30000

char *
berth_vm_templates_dir (void)
{
  const char *env = getenv ("BERTH_VM_TEMPLATES");
  char *conf;
  if (env && *env)
    return xstrdup (env);
  conf = vm_config_string ("templates");
  return conf ? conf : xstrdup ("/var/cache/berth/vm-templates");
}

enum vm_template_mode
vm_template_mode (const char **why)
{
  const char *env = getenv ("BERTH_VM_TEMPLATE");
  cleanup_free char *conf = vm_config_string ("template");
  const char *v = env && *env ? env : conf;
  *why = env && *env ? "BERTH_VM_TEMPLATE" : "the host config's vm.template";
  if (v == NULL || strcmp (v, "on") == 0 || strcmp (v, "private") == 0)
    return VM_TEMPLATE_PRIVATE;
  if (strcmp (v, "shared") == 0)
    return VM_TEMPLATE_SHARED;
  return VM_TEMPLATE_OFF;
}

const char *
berth_vm_templates_mode (void)
{
  const char *why;
  switch (vm_template_mode (&why))
    {
    case VM_TEMPLATE_OFF:
      return "off";
    case VM_TEMPLATE_SHARED:
      return "shared";
    default:
      return "private";
    }
}

/* What identifies a file's contents without reading it: a rewrite or a
   reinstall changes its inode, size or times. */
static json_t *
fingerprint (const struct stat *st)
{
  return json_pack ("{s:I,s:I,s:I,s:I,s:I}", "dev", (json_int_t)st->st_dev, "ino", (json_int_t)st->st_ino, "size",
                    (json_int_t)st->st_size, "mtime_ns",
                    (json_int_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec, "ctime_ns",
                    (json_int_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec);
}

/* Everything a restore must match. */
static json_t *
template_inputs (const struct vm_machine *m, int kfd, int ifd, char **why)
{
  struct stat q, k, i;
  /* QEMU's build is part of the key, not only its version. */
  if (m->qemu == NULL || stat (m->qemu, &q) < 0)
    {
      *why = xasprintf ("cannot find QEMU (%s): %s", vm_qemu_binary (), strerror (errno));
      return NULL;
    }
  if (fstat (kfd, &k) < 0 || fstat (ifd, &i) < 0)
    {
      *why = xasprintf ("stat the guest kernel: %s", strerror (errno));
      return NULL;
    }
  return json_pack ("{s:i,s:s,s:o,s:o,s:o,s:s,s:s,s:s,s:I,s:i,s:b,s:b,s:s}", "format", TEMPLATE_FORMAT, "qemu", m->qemu,
                    "qemu_build", fingerprint (&q), "kernel", fingerprint (&k), "initrd", fingerprint (&i), "append",
                    m->append, "cpu", m->cpu, "accel", m->accel, "memory_mib", (json_int_t)m->mem_mib, "cpus", m->cpus,
                    "acpi", m->acpi, "net", m->net, "machine", "microvm");
}

static void
template_key (json_t *inputs, char key[33])
{
  cleanup_free char *text = json_dumps (inputs, JSON_COMPACT | JSON_SORT_KEYS);
  char d[BERTH_DIGEST_LEN + 1];
  berth_err_t e = NULL;
  if (berth_sha256_of (text, strlen (text), d, &e) < 0)
    {
      /* No libcrypto: still a key, never a match with a real one. */
      berth_error_release (&e);
      snprintf (key, 33, "nodigest%024zx", strlen (text));
      return;
    }
  memcpy (key, berth_digest_hex (d), 32);
  key[32] = 0;
}

static bool
page_is_zero (const unsigned char *p)
{
  static const unsigned char zero[PAGE];
  return memcmp (p, zero, PAGE) == 0;
}

static int
pwrite_all (int fd, const unsigned char *p, size_t len, off_t at)
{
  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, len, at);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = ENOSPC;
          return -1;
        }
      p += n;
      at += n;
      len -= (size_t)n;
    }
  return 0;
}

/* One of the two halves copy_pages splits the work into: every other
   CHUNK-aligned run of the file, STRIPE the first one's index. */
struct stripe
{
  int src, dst, stripe;
  off_t size;
  char digest[BERTH_CHECKSUM_LEN + 1];
  long long bytes;
  berth_err_t err;
  int ret;
};

/* SRC's non-zero pages of the stripe to DST at the same offsets (DST
   stays sparse), hashing each page with its offset, so that the digest
   does not depend on how a filesystem reports holes.  Runs of pages go in
   one write: a page fault costs ~20 us on a nested host, a 1 MiB write
   into a memfd ~0.3 ms. */
static int
copy_stripe (struct stripe *s)
{
  cleanup_free unsigned char *buf = xmalloc (CHUNK);
  struct berth_checksum *h = berth_checksum_new ();
  off_t pos = 0;
  s->bytes = 0;
  while (pos < s->size)
    {
      off_t data = lseek (s->src, pos, SEEK_DATA), hole;
      if (data < 0 && errno == ENXIO)
        break;
      if (data < 0 || (hole = lseek (s->src, data, SEEK_HOLE)) < 0)
        goto fail_errno;
      data &= ~(off_t)(PAGE - 1);
      if (hole > s->size)
        hole = s->size;
      for (off_t at = data; at < hole;)
        {
          off_t chunk_end = (at / CHUNK + 1) * CHUNK;
          size_t want = (size_t)((hole < chunk_end ? hole : chunk_end) - at);
          ssize_t n, run = -1;
          if ((at / CHUNK) % 2 != s->stripe)
            {
              at += (off_t)want;
              continue;
            }
          n = pread (s->src, buf, want, at);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0 || n % PAGE)
            {
              berth_checksum_free (h);
              return berth_error (&s->err, n < 0 ? errno : EIO, "read the template's RAM at %lld", (long long)at);
            }
          for (ssize_t o = 0; o <= n; o += PAGE)
            {
              bool zero = o == n || page_is_zero (buf + o);
              if (!zero)
                {
                  uint64_t off = (uint64_t)(at + o);
                  berth_checksum_update (h, &off, sizeof (off));
                  berth_checksum_update (h, buf + o, PAGE);
                  s->bytes += PAGE;
                  if (run < 0)
                    run = o;
                  continue;
                }
              if (run >= 0 && pwrite_all (s->dst, buf + run, (size_t)(o - run), at + run) < 0)
                goto fail_errno;
              run = -1;
            }
          at += n;
        }
      pos = hole;
    }
  berth_checksum_final (h, s->digest);
  return 0;
fail_errno:
  berth_checksum_free (h);
  return berth_error (&s->err, errno ? errno : EIO, "copy the template's RAM");
}

static void *
copy_stripe_thread (void *data)
{
  struct stripe *s = data;
  s->ret = copy_stripe (s);
  return NULL;
}

/* Copies SRC's non-zero pages to DST, in two threads, for the clone's
   QEMU waits for it (a 256 MiB guest's ~70 MiB).  Their checksum is XXH3,
   not sha256: sha256 was ~40 of ~70 ms, and the digest guards against
   damage only (whoever could forge one could rewrite meta.json too).  The
   digest is that of the two stripes' digests. */
static int
copy_pages (int src, int dst, off_t size, char *digest, long long *bytes, berth_err_t *err)
{
  struct stripe st[2] = { { .src = src, .dst = dst, .stripe = 0, .size = size },
                          { .src = src, .dst = dst, .stripe = 1, .size = size } };
  struct berth_checksum *h;
  pthread_t t;
  bool threaded = pthread_create (&t, NULL, copy_stripe_thread, &st[1]) == 0;
  st[0].ret = copy_stripe (&st[0]);
  if (threaded)
    pthread_join (t, NULL);
  else
    st[1].ret = copy_stripe (&st[1]);
  for (int k = 0; k < 2; k++)
    if (st[k].ret < 0)
      {
        *err = st[k].err;
        st[k].err = NULL;
        berth_error_release (&st[1 - k].err);
        return -1;
      }
  h = berth_checksum_new ();
  berth_checksum_update (h, st[0].digest, strlen (st[0].digest));
  berth_checksum_update (h, st[1].digest, strlen (st[1].digest));
  berth_checksum_final (h, digest);
  *bytes = st[0].bytes + st[1].bytes;
  return 0;
}

static int
file_digest (int fd, char *digest, off_t *size, berth_err_t *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (lseek (fd, 0, SEEK_SET) < 0 || read_all_fd (fd, "the template's state", &data, &len, err) < 0)
    return -1;
  *size = (off_t)len;
  return berth_sha256_of (data, len, digest, err);
}

/* ------------------------------------------------------------ making */

struct maker
{
  int dirfd; /* the temporary directory */
  struct vm_jail jail;
  pid_t qemu;
  int agent, qmp;
  char kernel[128];
  long long boot_ms;
};

/* QEMU for the template: the layout of enum vm_fd, with a placeholder
   disk of zeros (sparse: it costs nothing), as large as any clone's disk
   may be: a clone's kernel keeps the size its driver read here. */
static int
maker_spawn (struct maker *mk, const struct vm_machine *m, int kfd, int ifd, int ram, berth_err_t *err)
{
  cleanup_close int disk = memfd_create ("berth-template-disk", MFD_CLOEXEC);
  cleanup_close int log = openat (mk->dirfd, "console.log", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int agent[2], qmp[2];
  cleanup_strv char **argv = NULL;
  cleanup_close int disk_ro = -1;
  if (disk < 0 || ftruncate (disk, VM_TEMPLATE_DISK_MAX) < 0 || log < 0)
    return berth_error (err, errno, "the template's placeholder disk and log");
  {
    /* QEMU takes a read-only drive's fd only if it is open read-only. */
    char p[64];
    snprintf (p, sizeof (p), "/proc/self/fd/%d", disk);
    disk_ro = open (p, O_RDONLY | O_CLOEXEC);
    if (disk_ro < 0)
      return berth_error (err, errno, "reopen the placeholder disk read-only");
  }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, agent) < 0)
    return berth_error (err, errno, "socketpair");
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0)
    {
      close (agent[0]);
      close (agent[1]);
      return berth_error (err, errno, "socketpair");
    }
  mk->agent = agent[0];
  mk->qmp = qmp[0];
  argv = vm_qemu_argv ("template", m, VM_START_TEMPLATE, false, NULL);
  mk->qemu = vm_jail_fork (&mk->jail);
  if (mk->qemu == 0)
    {
      int src[VM_FD_END - VM_FD_AGENT_QEMU];
      int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      for (size_t i = 0; i < ARRAY_SIZE (src); i++)
        src[i] = -1;
      src[VM_FD_AGENT_QEMU - VM_FD_AGENT_QEMU] = agent[1];
      src[VM_FD_ROOTFS - VM_FD_AGENT_QEMU] = disk_ro;
      src[VM_FD_KERNEL - VM_FD_AGENT_QEMU] = kfd;
      src[VM_FD_INITRD - VM_FD_AGENT_QEMU] = ifd;
      src[VM_FD_RAM - VM_FD_AGENT_QEMU] = ram;
      src[VM_FD_QMP - VM_FD_AGENT_QEMU] = qmp[1];
      src[VM_FD_REPORT - VM_FD_AGENT_QEMU] = log; /* QEMU's stdout and stderr, below */
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (null < 0 || dup2 (null, 0) < 0 || !vm_fds_place (src) || dup2 (VM_FD_REPORT, 1) < 0
          || dup2 (VM_FD_REPORT, 2) < 0)
        _exit (127);
      {
        berth_err_t e = NULL;
        if (vm_jail_enter (&mk->jail, strcmp (m->accel, "kvm") == 0, m->qemu, &e) < 0)
          {
            berth_error_to_log (2, &e);
            _exit (127);
          }
      }
      for (int fd = VM_FD_AGENT_QEMU; fd < VM_FD_END; fd++)
        if (fd != VM_FD_REPORT && fd != VM_FD_MIGRATE && fd != VM_FD_JAIL_LEASE)
          fcntl (fd, F_SETFD, 0);
      execv (m->qemu, argv);
      _exit (127);
    }
  close (agent[1]);
  close (qmp[1]);
  if (mk->qemu < 0)
    return berth_error (err, errno, "fork QEMU for the template");
  return 0;
}

/* The agent's ready frame: the guest is up, waiting for a container. */
static int
maker_await_ready (struct maker *mk, int timeout_ms, berth_err_t *err)
{
  struct berth_frame_reader rd = { 0 };
  long long deadline = monotonic_ms () + timeout_ms;
  int ret = -1;
  for (;;)
    {
      struct berth_frame f;
      int r = berth_frame_next (&rd, &f, err), status;
      if (r < 0)
        break;
      if (r == 1 && f.type == BERTH_F_READY)
        {
          ret = berth_frame_ready (&f, mk->kernel, sizeof (mk->kernel), &mk->boot_ms, err);
          break;
        }
      if (r == 1)
        continue;
      if (waitpid (mk->qemu, &status, WNOHANG) == mk->qemu)
        {
          mk->qemu = 0;
          berth_error (err, ECHILD, "QEMU exited while the template booted (see its console.log)");
          break;
        }
      if (monotonic_ms () >= deadline)
        {
          berth_error (err, ETIMEDOUT, "the template's guest did not say ready within %d s", timeout_ms / 1000);
          break;
        }
      if (poll (&(struct pollfd){ .fd = mk->agent, .events = POLLIN }, 1, 100) > 0)
        {
          r = berth_frame_fill (&rd, mk->agent, err);
          if (r == 0)
            berth_error (err, EPIPE, "the template's guest closed the agent channel");
          if (r <= 0)
            break;
        }
    }
  berth_frame_reader_free (&rd);
  return ret;
}

/* Stopped, then saved: devices into the state file, RAM left in its
   file (x-ignore-shared); stopped first so that RAM and devices are of
   one instant. */
static int
maker_save (struct maker *mk, int state, berth_err_t *err)
{
  struct vm_qmp *q = xmalloc (sizeof (*q));
  long long deadline = monotonic_ms () + QMP_TIMEOUT_MS;
  int ret = -1;
  if (vm_qmp_open (q, mk->qmp, QMP_TIMEOUT_MS, err) < 0
      || vm_qmp_command (q, "stop", NULL, NULL, QMP_TIMEOUT_MS, err) < 0
      || vm_qmp_migrate (q, false, state, QMP_TIMEOUT_MS, err) < 0)
    goto out;
  for (;;)
    {
      json_t *st = NULL;
      const char *status;
      if (vm_qmp_command (q, "query-migrate", NULL, &st, QMP_TIMEOUT_MS, err) < 0)
        goto out;
      status = json_string_value (json_object_get (st, "status")) ?: "";
      if (strcmp (status, "completed") == 0)
        {
          json_decref (st);
          break;
        }
      if (strcmp (status, "failed") == 0 || strcmp (status, "cancelled") == 0)
        {
          berth_error (err, EIO, "saving the template failed: %.300s",
                       json_string_value (json_object_get (st, "error-desc")) ?: status);
          json_decref (st);
          goto out;
        }
      json_decref (st);
      if (monotonic_ms () >= deadline)
        {
          berth_error (err, ETIMEDOUT, "saving the template took more than %d s", QMP_TIMEOUT_MS / 1000);
          goto out;
        }
      usleep (5000);
    }
  ret = 0;
out:
  free (q);
  return ret;
}

static void
maker_stop (struct maker *mk)
{
  if (mk->qemu > 0)
    {
      kill (mk->qemu, SIGKILL);
      waitpid (mk->qemu, NULL, 0);
      mk->qemu = 0;
    }
  vm_jail_release (&mk->jail);
  if (mk->agent >= 0)
    close (mk->agent);
  if (mk->qmp >= 0)
    close (mk->qmp);
  mk->agent = mk->qmp = -1;
}

/* Boots the template's VM in DIRFD (a fresh directory), saves it, and
   writes ram and meta.json there, all synced. */
static int
template_make_in (int dirfd, const struct vm_machine *m, int kfd, int ifd, json_t *inputs, const char *key,
                  berth_err_t *err)
{
  struct maker mk = { .dirfd = dirfd, .agent = -1, .qmp = -1, .jail = { .lease = -1 } };
  off_t size = (off_t)m->mem_mib << 20, state_size;
  cleanup_close int ram = memfd_create ("berth-template-ram", MFD_CLOEXEC);
  cleanup_close int state = openat (dirfd, "state", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  cleanup_close int out = -1;
  char state_digest[BERTH_DIGEST_LEN + 1], ram_digest[BERTH_CHECKSUM_LEN + 1];
  long long bytes = 0, t0 = monotonic_ms ();
  json_t *meta;
  cleanup_free char *text = NULL, *created = timestamp_rfc3339 ();
  if (ram < 0 || ftruncate (ram, size) < 0 || state < 0)
    return berth_error (err, errno, "the template's RAM and state files");
  if (vm_jail_prepare (&mk.jail, m->mem_mib, m->cpus, err) < 0 || maker_spawn (&mk, m, kfd, ifd, ram, err) < 0)
    goto fail;
  if (maker_await_ready (&mk, strcmp (m->accel, "kvm") == 0 ? 30000 : 120000, err) < 0
      || maker_save (&mk, state, err) < 0)
    goto fail_vm;
  maker_stop (&mk);
  out = openat (dirfd, "ram", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0 || ftruncate (out, size) < 0)
    {
      berth_error (err, errno, "create the template's RAM file");
      goto fail;
    }
  if (copy_pages (ram, out, size, ram_digest, &bytes, err) < 0
      || file_digest (state, state_digest, &state_size, err) < 0)
    goto fail;
  if (fsync (out) < 0 || fsync (state) < 0)
    {
      berth_error (err, errno, "sync the template");
      goto fail;
    }
  meta = json_pack ("{s:i,s:s,s:O,s:s,s:I,s:I,s:s,s:I,s:s,s:I,s:s,s:I}", "format", TEMPLATE_FORMAT, "key", key,
                    "inputs", inputs, "guest_kernel", mk.kernel, "boot_ms", (json_int_t)mk.boot_ms, "make_ms",
                    (json_int_t)(monotonic_ms () - t0), "state_sha256", state_digest, "state_size",
                    (json_int_t)state_size, "ram_xxh3", ram_digest, "ram_size", (json_int_t)size, "created", created,
                    "ram_data", (json_int_t)bytes);
  text = json_dumps (meta, JSON_INDENT (1) | JSON_SORT_KEYS);
  json_decref (meta);
  {
    cleanup_close int mf = openat (dirfd, "meta.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (mf < 0 || write_all (mf, text, strlen (text)) < 0 || fsync (mf) < 0 || fsync (dirfd) < 0)
      {
        berth_error (err, errno, "write the template's meta.json");
        goto fail;
      }
  }
  return 0;
fail:
  maker_stop (&mk);
  return -1;
fail_vm:
  maker_stop (&mk);
  {
    /* QEMU's or the guest's last line says more than a closed channel. */
    cleanup_free char *log = NULL;
    size_t len = 0;
    berth_err_t e = NULL;
    if (read_file_at (dirfd, "console.log", &log, &len, &e) == 0 && len > 0)
      {
        char *l;
        while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == '\r'))
          log[--len] = 0;
        l = memrchr (log, '\n', len);
        l = l ? l + 1 : log;
        for (char *c = l; *c; c++)
          if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
        berth_error_wrap (err, "%.300s", l);
      }
    berth_error_release (&e);
  }
  return -1;
}

/* ------------------------------------------------------------ using */

static int
meta_load (int dirfd, json_t **meta, berth_err_t *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_close int fd = openat (dirfd, "meta.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  json_error_t je;
  if (fd < 0 || read_all_fd (fd, "meta.json", &text, &len, err) < 0)
    return fd < 0 ? berth_error (err, errno, "meta.json") : -1;
  *meta = json_loadb (text, len, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_object (*meta))
    {
      json_decref (*meta);
      *meta = NULL;
      return berth_error (err, EINVAL, "meta.json: %s", je.text);
    }
  return 0;
}

static int lock_key (int top, const char *key, berth_err_t *err);
static void unlock_removed (int top, const char *key, int lock);
static void template_discard (int top, const char *key);

/* Shared memory: the sealed copy of a template's RAM is held open by the
   shim of a VM that maps it (its fd VM_FD_RAM); <key>.holder in the
   templates' directory names that shim.  A new VM opens the same memfd
   through /proc, after checking that the holder is still that process and
   the memfd still sealed.  When the holder exits, the next VM makes a new
   sealed copy and holds it: running VMs keep the pages they map. */
#define SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static int
holder_open (int top, const char *key, off_t size)
{
  char name[64], path[64];
  cleanup_free char *text = NULL;
  size_t len = 0;
  berth_err_t e = NULL;
  json_t *j;
  struct stat st;
  pid_t pid;
  int fd, rfd;
  snprintf (name, sizeof (name), "%s.holder", key);
  if (read_file_at (top, name, &text, &len, &e) < 0)
    {
      berth_error_release (&e);
      return -1;
    }
  j = json_loadb (text, len, 0, NULL);
  pid = (pid_t)json_integer_value (json_object_get (j, "pid"));
  rfd = (int)json_integer_value (json_object_get (j, "fd"));
  snprintf (path, sizeof (path), "/proc/%d/fd/%d", (int)pid, rfd);
  fd = pid > 1 && process_start_time (pid) == (unsigned long long)json_integer_value (json_object_get (j, "start"))
           ? open (path, O_RDONLY | O_CLOEXEC)
           : -1;
  if (fd >= 0
      && (fstat (fd, &st) < 0 || st.st_ino != (ino_t)json_integer_value (json_object_get (j, "ino"))
          || st.st_size != size || fcntl (fd, F_GET_SEALS) != SEALS))
    {
      close (fd);
      fd = -1;
    }
  json_decref (j);
  return fd;
}

void
vm_template_hold (const struct vm_template *t, pid_t shim)
{
  struct stat st;
  cleanup_free char *text = NULL;
  berth_err_t e = NULL;
  if (t == NULL || t->mode != VM_TEMPLATE_SHARED || t->reused || t->holder == NULL || fstat (t->ram_fd, &st) < 0)
    return;
  text = xasprintf ("{\"pid\":%d,\"fd\":%d,\"ino\":%llu,\"start\":%llu}", (int)shim, VM_FD_RAM,
                    (unsigned long long)st.st_ino, process_start_time (shim));
  if (write_file_atomic (t->holder, text, strlen (text), 0600, &e) < 0)
    berth_error_release (&e);
}

/* Removes the template whose RAM is open as SRC, if it is still the one in
   place (not already rebuilt by another berth). */
static void
template_invalidate (const struct vm_template *t, int src)
{
  cleanup_close int top = open (t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), lock = -1;
  char path[80];
  struct stat a, b;
  berth_err_t e = NULL;
  snprintf (path, sizeof (path), "%s/ram", t->key);
  if (top < 0 || (lock = lock_key (top, t->key, &e)) < 0)
    {
      berth_error_release (&e);
      return;
    }
  if (fstat (src, &a) == 0 && fstatat (top, path, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino
      && a.st_dev == b.st_dev)
    template_discard (top, t->key);
}

int
vm_template_fill (const struct vm_template *t, int ram_fd, int src_fd, berth_err_t *err)
{
  char digest[BERTH_CHECKSUM_LEN + 1];
  long long bytes;
  if (t->reused)
    return 0;
  if (copy_pages (src_fd, ram_fd, t->ram_size, digest, &bytes, err) < 0)
    return berth_error_wrap (err, "VM template %s", t->key);
  if (strcmp (digest, t->ram_digest) != 0)
    {
      template_invalidate (t, src_fd);
      return berth_error_code (err, EBADMSG,
                               "VM template %s: its RAM's digest is %.19s..., not what meta.json says: removed", t->key,
                               digest);
    }
  /* Shared: sealed, so that no QEMU mapping it (privately) and nobody
     else can change what the next VM starts from. */
  if (t->mode == VM_TEMPLATE_SHARED && fcntl (ram_fd, F_ADD_SEALS, SEALS) < 0)
    return berth_error (err, errno, "seal the RAM of VM template %s", t->key);
  return 0;
}

/* Checks the template in DIRFD against INPUTS and makes this VM's RAM
   from it: 0, or -1 with why it cannot be used. */
static int
template_open (int top, int dirfd, json_t *inputs, const char *key, enum vm_template_mode mode, struct vm_template *t,
               berth_err_t *err)
{
  json_t *meta = NULL;
  cleanup_close int ram = -1, state = -1;
  char digest[BERTH_DIGEST_LEN + 1];
  struct stat st;
  off_t state_size, size;
  int ret = -1;
  if (meta_load (dirfd, &meta, err) < 0)
    return -1;
  size = (off_t)json_integer_value (json_object_get (meta, "ram_size"));
  if (json_integer_value (json_object_get (meta, "format")) != TEMPLATE_FORMAT
      || strcmp (json_string_value (json_object_get (meta, "key")) ?: "", key) != 0
      || !json_equal (json_object_get (meta, "inputs"), inputs))
    {
      berth_error (err, EINVAL, "it was made for another machine (meta.json's key or inputs differ)");
      goto out;
    }
  state = openat (dirfd, "state", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  ram = openat (dirfd, "ram", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (state < 0 || ram < 0 || fstat (ram, &st) < 0)
    {
      berth_error (err, errno, "open its state and ram");
      goto out;
    }
  if (st.st_size != size
      || size != (off_t)json_integer_value (json_object_get (json_object_get (meta, "inputs"), "memory_mib")) << 20)
    {
      berth_error (err, EINVAL, "its ram is %lld bytes, not %lld", (long long)st.st_size, (long long)size);
      goto out;
    }
  if (file_digest (state, digest, &state_size, err) < 0)
    goto out;
  if (state_size != (off_t)json_integer_value (json_object_get (meta, "state_size"))
      || strcmp (digest, json_string_value (json_object_get (meta, "state_sha256")) ?: "") != 0)
    {
      berth_error (err, EINVAL, "its state is %lld bytes with digest %.19s..., not what meta.json says",
                   (long long)state_size, digest);
      goto out;
    }
  if (lseek (state, 0, SEEK_SET) < 0)
    {
      berth_error (err, errno, "rewind its state");
      goto out;
    }
  if (mode == VM_TEMPLATE_SHARED && (t->ram_fd = holder_open (top, key, size)) >= 0)
    t->reused = true;
  else
    {
      /* This VM's RAM: a memfd of its own, which the shim fills with the
         template's pages, checking them, while QEMU starts
         (vm_template_fill). */
      cleanup_close int mem = memfd_create ("berth-vm-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
      if (mem < 0 || ftruncate (mem, size) < 0)
        {
          berth_error (err, errno, "the VM's RAM");
          goto out;
        }
      t->ram_fd = steal_fd (&mem);
      t->src_fd = steal_fd (&ram);
      t->ram_size = size;
      snprintf (t->ram_digest, sizeof (t->ram_digest), "%s",
                json_string_value (json_object_get (meta, "ram_xxh3")) ?: "");
    }
  t->state_fd = steal_fd (&state);
  snprintf (t->guest_kernel, sizeof (t->guest_kernel), "%s",
            json_string_value (json_object_get (meta, "guest_kernel")) ?: "?");
  t->boot_ms = json_integer_value (json_object_get (meta, "boot_ms"));
  ret = 0;
out:
  json_decref (meta);
  return ret;
}

/* Makes the template KEY in TOP (a directory of templates), under its
   lock held by the caller. */
static int
template_make (int top, const char *key, const struct vm_machine *m, int kfd, int ifd, json_t *inputs, berth_err_t *err)
{
  char tmp[64], rnd[9];
  cleanup_close int dirfd = -1;
  random_hex (rnd, 4);
  snprintf (tmp, sizeof (tmp), "%s.tmp.%s", key, rnd);
  if (mkdirat (top, tmp, 0700) < 0)
    return berth_error (err, errno, "mkdir the template's directory");
  dirfd = openat (top, tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0)
    {
      berth_error (err, errno, "open the template's directory");
      goto fail;
    }
  {
    /* O_PATH cannot be fsynced: a real fd for the directory. */
    cleanup_close int d = openat (top, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0 || template_make_in (d, m, kfd, ifd, inputs, key, err) < 0)
      {
        if (d < 0)
          berth_error (err, errno, "open the template's directory");
        goto fail;
      }
  }
  if (renameat (top, tmp, top, key) < 0 || fsync (top) < 0)
    {
      berth_error (err, errno, "put the template in place");
      goto fail;
    }
  return 0;
fail:
  {
    berth_err_t e = NULL;
    rm_rf_at (top, tmp, &e);
    berth_error_release (&e);
  }
  return berth_error_wrap (err, "make a VM template");
}

/* A template found bad or superseded, its shared memory's holder record,
   and leftovers of makers that died: only with the key's lock held. */
static void
template_discard (int top, const char *key)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  berth_err_t e = NULL;
  size_t kl = strlen (key);
  int fd = openat (top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  while ((de = readdir (d)))
    if (strncmp (de->d_name, key, kl) == 0
        && (de->d_name[kl] == 0 || strncmp (de->d_name + kl, ".tmp.", 5) == 0
            || strcmp (de->d_name + kl, ".holder") == 0))
      {
        rm_rf_at (top, de->d_name, &e);
        berth_error_release (&e);
      }
}

/* Templates of the same machine from files that have changed since (a
   new kernel, initramfs or QEMU build at the same paths) are of no more
   use once their successor exists: removed, each under its own lock. */
static void
template_supersede (int top, const char *key, json_t *inputs)
{
  static const char *const files[] = { "qemu_build", "kernel", "initrd" };
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  json_t *mine = json_deep_copy (inputs);
  int fd = openat (top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (size_t i = 0; i < ARRAY_SIZE (files); i++)
    json_object_del (mine, files[i]);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      json_decref (mine);
      return;
    }
  while ((de = readdir (d)))
    {
      cleanup_close int dfd = -1, lock = -1;
      json_t *meta = NULL, *theirs;
      berth_err_t e = NULL;
      char name[64];
      bool same;
      if (de->d_name[0] == '.' || strchr (de->d_name, '.') || strcmp (de->d_name, key) == 0
          || strlen (de->d_name) >= 40)
        continue;
      dfd = openat (top, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (dfd < 0 || meta_load (dfd, &meta, &e) < 0)
        {
          berth_error_release (&e);
          continue;
        }
      theirs = json_deep_copy (json_object_get (meta, "inputs"));
      for (size_t i = 0; i < ARRAY_SIZE (files); i++)
        json_object_del (theirs, files[i]);
      same = json_equal (mine, theirs);
      json_decref (theirs);
      json_decref (meta);
      snprintf (name, sizeof (name), "%s", de->d_name);
      if (!same || (lock = lock_key (top, name, &e)) < 0)
        {
          berth_error_release (&e);
          continue;
        }
      berth_debug ("VM template %s is superseded by %s: removed", name, key);
      template_discard (top, name);
      unlock_removed (top, name, steal_fd (&lock));
    }
  json_decref (mine);
}

/* <key>.lock, locked.  Whoever removes a template removes its lock file
   too, holding it (unlock_removed): a berth that waited on the file it had
   opened finds it is no longer the one at the path once it gets the lock,
   and locks the path's new file instead, so that two never hold two files
   of one key. */
static int
lock_key (int top, const char *key, berth_err_t *err)
{
  char name[64];
  snprintf (name, sizeof (name), "%s.lock", key);
  for (;;)
    {
      struct stat held, there;
      int fd = openat (top, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0)
        return berth_error (err, errno, "open the template's lock");
      while (flock (fd, LOCK_EX) < 0)
        if (errno != EINTR)
          {
            close (fd);
            return berth_error (err, errno, "lock the template");
          }
      if (fstat (fd, &held) < 0)
        {
          close (fd);
          return berth_error (err, errno, "stat the template's lock");
        }
      if (fstatat (top, name, &there, AT_SYMLINK_NOFOLLOW) == 0 && there.st_ino == held.st_ino
          && there.st_dev == held.st_dev)
        return fd;
      close (fd);
    }
}

/* The template KEY is gone: its lock file goes too, while LOCK (its
   lock) is held. */
static void
unlock_removed (int top, const char *key, int lock)
{
  char name[80];
  snprintf (name, sizeof (name), "%s.lock", key);
  unlinkat (top, name, 0);
  close (lock);
}

/* Opens the template if it is good; otherwise makes it (once, under the
   lock) and opens that. */
static int
template_acquire (int top, const char *key, const struct vm_machine *m, int kfd, int ifd, json_t *inputs,
                  enum vm_template_mode mode, struct vm_template *t, char **why)
{
  berth_err_t err = NULL;
  cleanup_close int lock = -1;
  cleanup_close int dirfd = openat (top, key, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd >= 0 && template_open (top, dirfd, inputs, key, mode, t, &err) == 0)
    return 1;
  if (dirfd >= 0)
    {
      berth_debug ("VM template %s cannot be used (%s): it is made again", key, err->msg);
      berth_error_release (&err);
    }
  lock = lock_key (top, key, &err);
  if (lock < 0)
    goto fail;
  /* Another berth may have made it while we waited for the lock. */
  if (dirfd >= 0)
    close (dirfd);
  dirfd = openat (top, key, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd >= 0 && template_open (top, dirfd, inputs, key, mode, t, &err) == 0)
    return 1;
  berth_error_release (&err);
  template_discard (top, key);
  if (template_make (top, key, m, kfd, ifd, inputs, &err) < 0)
    goto fail;
  template_supersede (top, key, inputs);
  if (dirfd >= 0)
    close (dirfd);
  dirfd = openat (top, key, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0 && berth_error (&err, errno, "open the template just made") < 0)
    goto fail;
  if (template_open (top, dirfd, inputs, key, mode, t, &err) == 0)
    return 1;
fail:
  *why = xasprintf ("no usable template: %s", err ? err->msg : "unknown error");
  berth_error_release (&err);
  /* Nothing made (a full disk, a QEMU that died): nothing of the key
     stays, its lock file included. */
  if (lock >= 0 && faccessat (top, key, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
    unlock_removed (top, key, steal_fd (&lock));
  return 0;
}

int
vm_template_get (const struct vm_machine *m, const char *kernel, int kernel_fd, const char *initrd, int initrd_fd,
                 long long disk_bytes, struct vm_template **out, char **why)
{
  const char *mode_why;
  enum vm_template_mode mode = vm_template_mode (&mode_why);
  cleanup_free char *topdir = NULL;
  cleanup_close int top = -1;
  json_t *inputs;
  struct vm_template *t;
  berth_err_t err = NULL;
  int r;
  *out = NULL;
  if (mode == VM_TEMPLATE_OFF)
    {
      *why = xasprintf ("templates are off (%s)", mode_why);
      return 0;
    }
  if (m->fs)
    {
      *why = xstrdup ("it shares host directories: QEMU 7.2 cannot save a VM with vhost-user-fs (virtiofs)");
      return 0;
    }
  if (disk_bytes > VM_TEMPLATE_DISK_MAX)
    {
      *why = xasprintf ("its image's disk (%lld bytes) is larger than a template's placeholder disk (%lld bytes)",
                        disk_bytes, (long long)VM_TEMPLATE_DISK_MAX);
      return 0;
    }
  inputs = template_inputs (m, kernel_fd, initrd_fd, why);
  if (inputs == NULL)
    return 0;
  json_object_set_new (inputs, "kernel_path", json_string (kernel));
  json_object_set_new (inputs, "initrd_path", json_string (initrd));
  topdir = berth_vm_templates_dir ();
  if (mkdir_p (topdir, 0700, &err) < 0 || (top = open (topdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    {
      *why = xasprintf ("the templates' directory `%s`: %s", topdir, err ? err->msg : strerror (errno));
      berth_error_release (&err);
      json_decref (inputs);
      return 0;
    }
  t = xcalloc (1, sizeof (*t));
  t->ram_fd = t->state_fd = t->src_fd = -1;
  t->mode = mode;
  template_key (inputs, t->key);
  t->holder = xasprintf ("%s/%s.holder", topdir, t->key);
  t->dir = xstrdup (topdir);
  {
    long long t0 = monotonic_ms ();
    r = template_acquire (top, t->key, m, kernel_fd, initrd_fd, inputs, mode, t, why);
    berth_debug ("VM template %s: ready to restore in %lld ms", t->key, monotonic_ms () - t0);
  }
  json_decref (inputs);
  if (r == 0)
    {
      vm_template_free (t);
      return 0;
    }
  *out = t;
  return 1;
}

void
vm_template_free (struct vm_template *t)
{
  if (t == NULL)
    return;
  if (t->ram_fd >= 0)
    close (t->ram_fd);
  if (t->state_fd >= 0)
    close (t->state_fd);
  if (t->src_fd >= 0)
    close (t->src_fd);
  free (t->holder);
  free (t->dir);
  free (t);
}

/* ------------------------------------------------------------ listing */

int
berth_vm_templates_list (json_t **out, berth_err_t *err)
{
  cleanup_free char *topdir = berth_vm_templates_dir ();
  cleanup_dir DIR *d = opendir (topdir);
  struct dirent *de;
  *out = json_array ();
  if (d == NULL)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open `%s`", topdir);
  while ((de = readdir (d)))
    {
      cleanup_close int fd = -1;
      json_t *meta = NULL, *in;
      berth_err_t e = NULL;
      struct stat st;
      long long disk = 0;
      if (de->d_name[0] == '.' || strchr (de->d_name, '.'))
        continue;
      fd = openat (dirfd (d), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (meta_load (fd, &meta, &e) < 0)
        {
          json_array_append_new (*out, json_pack ("{s:s,s:s}", "key", de->d_name, "error", e->msg));
          berth_error_release (&e);
          continue;
        }
      for (const char *f = "ram"; f; f = strcmp (f, "ram") == 0 ? "state" : NULL)
        if (fstatat (fd, f, &st, AT_SYMLINK_NOFOLLOW) == 0)
          disk += (long long)st.st_blocks * 512;
      in = json_object_get (meta, "inputs");
      json_array_append_new (
          *out, json_pack ("{s:s,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:I}", "key", de->d_name, "created",
                           json_object_get (meta, "created"), "guest_kernel", json_object_get (meta, "guest_kernel"),
                           "accel", json_object_get (in, "accel"), "cpu", json_object_get (in, "cpu"), "memory_mib",
                           json_object_get (in, "memory_mib"), "cpus", json_object_get (in, "cpus"), "net",
                           json_object_get (in, "net"), "ram_data", json_object_get (meta, "ram_data"), "make_ms",
                           json_object_get (meta, "make_ms"), "disk_bytes", (json_int_t)disk));
      json_decref (meta);
    }
  return 0;
}

int
berth_vm_template_remove (const char *key, berth_err_t *err)
{
  cleanup_free char *topdir = berth_vm_templates_dir ();
  cleanup_close int top = open (topdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int lock = -1;
  if (!berth_name_valid (key, 1, 40) || strchr (key, '.'))
    return berth_error (err, EINVAL, "`%s` is not a template key", key);
  if (top < 0)
    return berth_error (err, errno, "open `%s`", topdir);
  if (faccessat (top, key, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_error (err, ENOENT, "no template `%s`", key);
  /* Not while one is being made: its maker holds the lock. */
  lock = lock_key (top, key, err);
  if (lock < 0)
    return -1;
  template_discard (top, key);
  unlock_removed (top, key, steal_fd (&lock));
  return 0;
}
