#include "lib/base/utils.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/random.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <time.h>

void
cleanup_freep (void *p)
{
  free (*(void **)p);
}

void
cleanup_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
}

void
cleanup_filep (FILE **f)
{
  if (*f)
    fclose (*f);
}

void
cleanup_dirp (DIR **d)
{
  if (*d)
    closedir (*d);
}

void
cleanup_strvp (char ***v)
{
  strv_free (*v);
}

void *
xmalloc (size_t size)
{
  void *p = malloc (size ? size : 1);
  if (p == NULL)
    abort ();
  return p;
}

void *
xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size ? size : 1);
  if (p == NULL)
    abort ();
  return p;
}

void *
xrealloc (void *p, size_t size)
{
  p = realloc (p, size ? size : 1);
  if (p == NULL)
    abort ();
  return p;
}

char *
xstrdup (const char *s)
{
  char *r;
  if (s == NULL)
    return NULL;
  r = strdup (s);
  if (r == NULL)
    abort ();
  return r;
}

char *
xasprintf (const char *fmt, ...)
{
  va_list ap;
  char *r;
  va_start (ap, fmt);
  if (vasprintf (&r, fmt, ap) < 0)
    abort ();
  va_end (ap);
  return r;
}

void
strv_free (char **v)
{
  if (v == NULL)
    return;
  for (char **p = v; *p; p++)
    free (*p);
  free (v);
}

size_t
strv_len (char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

int
write_all (int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      p += w;
      len -= (size_t)w;
    }
  return 0;
}

int
read_all_fd (int fd, const char *what, char **out, size_t *len, berth_err_t *err)
{
  size_t cap = 4096, n = 0;
  cleanup_free char *buf = xmalloc (cap + 1);

  for (;;)
    {
      ssize_t r;
      if (n == cap)
        {
          cap *= 2;
          buf = xrealloc (buf, cap + 1);
        }
      r = read (fd, buf + n, cap - n);
      if (r < 0)
        {
          if (errno == EINTR)
            continue;
          return berth_error (err, errno, "read `%s`", what);
        }
      if (r == 0)
        break;
      n += (size_t)r;
    }
  buf[n] = '\0';
  if (len)
    *len = n;
  *out = steal_pointer (&buf);
  return 0;
}

int
read_file_at (int dirfd, const char *path, char **out, size_t *len, berth_err_t *err)
{
  cleanup_close int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open `%s`", path);
  return read_all_fd (fd, path, out, len, err);
}

int
write_file_at (int dirfd, const char *path, const void *data, size_t len, berth_err_t *err)
{
  cleanup_close int fd = openat (dirfd, path, O_WRONLY | O_CLOEXEC | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return berth_error (err, errno, "open `%s`", path);
  if (write_all (fd, data, len) < 0)
    return berth_error (err, errno, "write `%s`", path);
  return 0;
}

const char *
berth_config_path (void)
{
  const char *c = getenv ("BERTH_CONFIG");
  return c && *c ? c : "/etc/berth/config.json";
}

char *
berth_config_string (const char *section, const char *key)
{
  json_t *j = NULL, *o;
  const char *v;
  char *out;
  berth_err_t e2 = NULL;
  if (json_load_path (berth_config_path (), &j, &e2) != 0)
    {
      berth_error_release (&e2);
      return NULL;
    }
  o = section ? json_object_get (j, section) : j;
  v = json_string_value (json_object_get (o, key));
  out = v && *v ? xstrdup (v) : NULL;
  json_decref (j);
  return out;
}

#ifndef BERTH_PREFIX
#define BERTH_PREFIX "/usr/local"
#endif

char *
berth_asset_default (const char *install_rel)
{
  return xasprintf ("%s/%s", BERTH_PREFIX, install_rel);
}

char *
berth_asset_path (const char *build_rel, const char *install_rel, int mode)
{
  char exe[PATH_MAX];
  char *cand[3] = { NULL, NULL, berth_asset_default (install_rel) };
  char *found = NULL, *slash;
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof (exe) - 1);
  if (n > 0)
    {
      exe[n] = '\0';
      slash = strrchr (exe, '/');
      if (slash)
        {
          *slash = '\0';
          cand[0] = xasprintf ("%s/%s", exe, build_rel);
          cand[1] = xasprintf ("%s/../%s", exe, install_rel);
        }
    }
  for (size_t i = 0; i < ARRAY_SIZE (cand); i++)
    {
      if (found == NULL && cand[i] && access (cand[i], mode) == 0)
        found = steal_pointer (&cand[i]);
      free (cand[i]);
    }
  if (found)
    {
      /* An install's "bin/../lib" reads better as "lib" in messages and
         inspect. */
      char real[PATH_MAX];
      if (realpath (found, real))
        {
          free (found);
          found = xstrdup (real);
        }
    }
  return found;
}

int
json_load_path (const char *path, json_t **out, berth_err_t *err)
{
  json_error_t jerr;
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *buf = NULL;
  size_t len;
  *out = NULL;
  if (fd < 0)
    return errno == ENOENT ? 1 : berth_error (err, errno, "open %s", path);
  /* One read, not jansson's json_loadfd, which reads a byte per syscall
     (~20k syscalls for a container record). */
  if (read_all_fd (fd, path, &buf, &len, err) < 0)
    return -1;
  *out = json_loadb (buf, len, 0, &jerr);
  if (*out == NULL)
    return berth_error (err, 0, "%s: line %d: %s", path, jerr.line, jerr.text);
  return 0;
}

int
write_file_atomic (const char *path, const void *data, size_t len, mode_t mode, berth_err_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s.tmp.%d", path, getpid ());
  return write_file_atomic_via (path, tmp, data, len, mode, err);
}

int
write_file_atomic_via (const char *path, const char *tmp, const void *data, size_t len, mode_t mode, berth_err_t *err)
{
  cleanup_close int fd = -1;

  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    return berth_error (err, errno, "create `%s`", tmp);
  if (write_all (fd, data, len) < 0 || fsync (fd) < 0)
    {
      int e = errno;
      unlink (tmp);
      return berth_error (err, e, "write `%s`", tmp);
    }
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return berth_error (err, e, "rename `%s` to `%s`", tmp, path);
    }
  return 0;
}

int
mkdir_p (const char *path, mode_t mode, berth_err_t *err)
{
  cleanup_free char *p = xstrdup (path);
  for (char *s = p + 1; *s; s++)
    {
      if (*s != '/')
        continue;
      *s = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST)
        return berth_error (err, errno, "mkdir `%s`", p);
      *s = '/';
    }
  if (mkdir (p, mode) < 0 && errno != EEXIST)
    return berth_error (err, errno, "mkdir `%s`", p);
  return 0;
}

int
rm_rf_at (int parentfd, const char *name, berth_err_t *err)
{
  cleanup_close int fd = -1;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;

  if (unlinkat (parentfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return berth_error (err, errno, "unlink `%s`", name);
  fd = openat (parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open `%s`", name);
  d = fdopendir (fd);
  if (d == NULL)
    return berth_error (err, errno, "fdopendir `%s`", name);
  fd = -1;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (rm_rf_at (dirfd (d), de->d_name, err) < 0)
        return -1;
    }
  if (unlinkat (parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return berth_error (err, errno, "rmdir `%s`", name);
  return 0;
}

const char *
fd_path (int fd, char buf[FD_PATH_MAX])
{
  snprintf (buf, FD_PATH_MAX, "/proc/self/fd/%d", fd);
  return buf;
}

/* Resolution without openat2: walk one component at a time with O_NOFOLLOW,
   expanding symlinks ourselves and clamping ".." and absolute targets at the
   root, which is what RESOLVE_IN_ROOT does in the kernel. */
int
berth_open_in_root_walk (int rootfd, const char *path, int flags, mode_t mode)
{
  char *work = NULL, *rest;
  int cur, depth = 0, links = 0;
  int *stack = NULL;
  size_t stack_len = 0;

  cur = openat (rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0)
    return -1;
  work = strdup (path);
  if (work == NULL)
    {
      close (cur);
      errno = ENOMEM;
      return -1;
    }
  rest = work;
  for (;;)
    {
      char *comp, *slash;
      int next;
      struct stat st;
      bool last;

      while (*rest == '/')
        rest++;
      if (*rest == '\0')
        break;
      comp = rest;
      slash = strchr (rest, '/');
      if (slash)
        {
          *slash = '\0';
          rest = slash + 1;
        }
      else
        rest = comp + strlen (comp);
      while (*rest == '/')
        rest++;
      last = *rest == '\0';

      if (strcmp (comp, ".") == 0)
        continue;
      if (strcmp (comp, "..") == 0)
        {
          if (depth > 0)
            {
              close (cur);
              cur = stack[--stack_len];
              depth--;
            }
          continue;
        }
      if (last)
        next = openat (cur, comp, (flags | O_NOFOLLOW | O_CLOEXEC) & ~O_CREAT, mode);
      else
        next = openat (cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && last && (flags & O_CREAT) && errno == ENOENT)
        next = openat (cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
      if (next < 0 && errno != ELOOP && !(errno == ENOTDIR && (flags & O_NOFOLLOW) == 0))
        goto fail;
      if (next >= 0 && fstat (next, &st) == 0 && !S_ISLNK (st.st_mode))
        {
          if (!last && !S_ISDIR (st.st_mode))
            {
              close (next);
              errno = ENOTDIR;
              goto fail;
            }
          stack = realloc (stack, sizeof (int) * (stack_len + 1));
          stack[stack_len++] = cur;
          depth++;
          cur = next;
          if (last)
            break;
          continue;
        }
      /* A symlink: splice its target in front of the rest of the path. */
      {
        char target[4096];
        ssize_t n;
        char *nw;
        if (next >= 0)
          close (next);
        if (++links > 40)
          {
            errno = ELOOP;
            goto fail;
          }
        n = readlinkat (cur, comp, target, sizeof (target) - 1);
        if (n < 0)
          goto fail;
        target[n] = '\0';
        if (asprintf (&nw, "%s/%s", target, rest) < 0)
          {
            errno = ENOMEM;
            goto fail;
          }
        if (target[0] == '/')
          {
            while (stack_len > 0)
              {
                close (cur);
                cur = stack[--stack_len];
              }
            depth = 0;
          }
        free (work);
        work = rest = nw;
      }
    }
  if (depth == 0 || (flags & O_PATH) == 0)
    {
      /* The path named the root itself, or the final open must be redone
         with the caller's flags. */
      int fd = openat (cur, ".", (flags & ~O_CREAT) | O_CLOEXEC);
      if (depth == 0 || fd >= 0)
        {
          close (cur);
          cur = fd;
        }
    }
  while (stack_len > 0)
    close (stack[--stack_len]);
  free (stack);
  free (work);
  return cur;

fail:
  {
    int e = errno;
    close (cur);
    while (stack_len > 0)
      close (stack[--stack_len]);
    free (stack);
    free (work);
    errno = e;
    return -1;
  }
}

int
open_in_root (int rootfd, const char *path, int flags, mode_t mode, berth_err_t *err)
{
  static int have_openat2 = -1;
  struct open_how how = {
    .flags = (uint64_t)(flags | O_CLOEXEC),
    .mode = (flags & O_CREAT) ? mode : 0,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  int fd;

  if (have_openat2 != 0)
    {
      fd = (int)syscall (SYS_openat2, rootfd, path, &how, sizeof (how));
      if (fd >= 0)
        {
          have_openat2 = 1;
          return fd;
        }
      if (errno != ENOSYS)
        {
          if (errno == EAGAIN || errno == EXDEV)
            goto walk;
          return berth_error (err, errno, "open `%s` inside the root", path);
        }
      have_openat2 = 0;
    }
walk:
  fd = berth_open_in_root_walk (rootfd, path, flags, mode);
  if (fd < 0)
    return berth_error (err, errno, "open `%s` inside the root", path);
  return fd;
}

static int
mkdir_open_in_root_depth (int rootfd, const char *path, bool is_file, int depth, berth_err_t *err)
{
  cleanup_free char *copy = xstrdup (path);
  cleanup_free char *prefix = xcalloc (strlen (path) + 2, 1);
  cleanup_close int parent = -1;
  char *save = NULL, *comp, *next_comp;
  int fd;

  if (depth > 40)
    return berth_error (err, ELOOP, "create `%s` inside the root", path);
  fd = open_in_root (rootfd, path, O_PATH, 0, err);
  if (fd >= 0)
    return fd;
  if ((*err)->status != ENOENT)
    return -1;
  berth_error_release (err);

  parent = open_in_root (rootfd, "/", O_PATH | O_DIRECTORY, 0, err);
  if (parent < 0)
    return -1;
  for (comp = strtok_r (copy, "/", &save); comp; comp = next_comp)
    {
      int next;
      size_t plen = strlen (prefix);
      next_comp = strtok_r (NULL, "/", &save);
      strcat (prefix, "/");
      strcat (prefix, comp);
      next = open_in_root (rootfd, prefix, O_PATH, 0, err);
      if (next < 0 && (*err)->status == ENOENT)
        {
          char target[4096];
          ssize_t n;
          berth_error_release (err);
          /* A dangling symlink: create what it points to, resolved inside
             the root like everything else. */
          n = readlinkat (parent, comp, target, sizeof (target) - 1);
          if (n > 0)
            {
              cleanup_free char *redirected = NULL;
              const char *rest = next_comp ? path + (size_t)(next_comp - copy) : "";
              target[n] = '\0';
              prefix[plen] = '\0';
              redirected
                  = target[0] == '/' ? xasprintf ("%s/%s", target, rest) : xasprintf ("%s/%s/%s", prefix, target, rest);
              return mkdir_open_in_root_depth (rootfd, redirected, is_file, depth + 1, err);
            }
          /* PARENT is a directory already resolved inside the root, and COMP
             a single name: what is created cannot land outside. */
          if (next_comp == NULL && is_file)
            {
              int f = openat (parent, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
              if (f < 0 && errno != EEXIST)
                return berth_error (err, errno, "create `%s`", prefix);
              if (f >= 0)
                close (f);
            }
          else if (mkdirat (parent, comp, 0755) < 0 && errno != EEXIST)
            return berth_error (err, errno, "mkdir `%s`", prefix);
          next = open_in_root (rootfd, prefix, O_PATH, 0, err);
        }
      if (next < 0)
        return -1;
      close (parent);
      parent = next;
    }
  return steal_fd (&parent);
}

int
mkdir_open_in_root (int rootfd, const char *path, bool is_file, berth_err_t *err)
{
  return mkdir_open_in_root_depth (rootfd, path, is_file, 0, err);
}

unsigned long long
process_start_time (pid_t pid)
{
  char path[64], buf[1024];
  cleanup_close int fd = -1;
  ssize_t n;
  char *p;
  unsigned long long start = 0;

  snprintf (path, sizeof (path), "/proc/%d/stat", pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  n = read (fd, buf, sizeof (buf) - 1);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  p = strrchr (buf, ')');
  if (p == NULL)
    return 0;
  /* After ") " comes field 3 (state); start time is field 22. */
  p += 2;
  if (*p == 'Z' || *p == 'X')
    return 0;
  for (int field = 3; field < 22 && p; field++)
    {
      p = strchr (p, ' ');
      if (p)
        p++;
    }
  if (p == NULL || sscanf (p, "%llu", &start) != 1)
    return 0;
  return start;
}

int
close_fds_from (int from, bool cloexec_only, berth_err_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;

  if (syscall (SYS_close_range, (unsigned)from, ~0U, cloexec_only ? 4 /* CLOSE_RANGE_CLOEXEC */ : 0) == 0)
    return 0;
  d = opendir ("/proc/self/fd");
  if (d == NULL)
    return berth_error (err, errno, "opendir /proc/self/fd");
  while ((de = readdir (d)))
    {
      int fd = atoi (de->d_name);
      if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd < from || fd == dirfd (d))
        continue;
      if (cloexec_only)
        {
          int fl = fcntl (fd, F_GETFD);
          if (fl >= 0 && fcntl (fd, F_SETFD, fl | FD_CLOEXEC) < 0)
            return berth_error (err, errno, "fcntl fd %d", fd);
        }
      else
        close (fd);
    }
  return 0;
}

static const struct
{
  const char *name;
  int sig;
} signals[] = {
  { "HUP", SIGHUP },   { "INT", SIGINT },       { "QUIT", SIGQUIT }, { "ILL", SIGILL },     { "TRAP", SIGTRAP },
  { "ABRT", SIGABRT }, { "IOT", SIGIOT },       { "BUS", SIGBUS },   { "FPE", SIGFPE },     { "KILL", SIGKILL },
  { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },     { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE },   { "ALRM", SIGALRM },
  { "TERM", SIGTERM }, { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },   { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },     { "TTOU", SIGTTOU }, { "URG", SIGURG },     { "XCPU", SIGXCPU },
  { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
  { "POLL", SIGPOLL }, { "PWR", SIGPWR },       { "SYS", SIGSYS },
};

int
parse_signal (const char *s, int *sig)
{
  char *end;
  long n;

  if (s == NULL || *s == '\0')
    return -1;
  n = strtol (s, &end, 10);
  if (*end == '\0')
    {
      if (n <= 0 || n > SIGRTMAX)
        return -1;
      *sig = (int)n;
      return 0;
    }
  if (strncasecmp (s, "SIG", 3) == 0)
    s += 3;
  for (size_t i = 0; i < ARRAY_SIZE (signals); i++)
    if (strcasecmp (s, signals[i].name) == 0)
      {
        *sig = signals[i].sig;
        return 0;
      }
  if (strncasecmp (s, "RTMIN", 5) == 0 || strncasecmp (s, "RTMAX", 5) == 0)
    {
      bool min = strncasecmp (s, "RTMIN", 5) == 0;
      long off = 0;
      if (s[5] != '\0')
        {
          off = strtol (s + 5, &end, 10);
          if (*end != '\0')
            return -1;
        }
      n = min ? SIGRTMIN + off : SIGRTMAX + off;
      if (n < SIGRTMIN || n > SIGRTMAX)
        return -1;
      *sig = (int)n;
      return 0;
    }
  return -1;
}

const char *
signal_name (int sig)
{
  for (size_t i = 0; i < ARRAY_SIZE (signals); i++)
    if (signals[i].sig == sig)
      return signals[i].name;
  return NULL;
}

long long
monotonic_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

char *
timestamp_rfc3339 (void)
{
  struct timespec ts;
  struct tm tm;
  char buf[64];

  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  strftime (buf, sizeof (buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return xasprintf ("%s.%09ldZ", buf, ts.tv_nsec);
}

void
random_bytes (void *out, size_t n)
{
  ssize_t got;
  /* getrandom(2) reads up to 256 bytes whole and fails only when
     interrupted: no file to open, nothing to report. */
  if (n > 256)
    abort ();
  do
    got = getrandom (out, n, 0);
  while (got < 0 && errno == EINTR);
  if (got != (ssize_t)n)
    abort (); /* a kernel before 3.17: as out of memory, see utils.h */
}

void
random_hex (char *out, size_t n)
{
  unsigned char b[64];
  if (n > sizeof (b))
    n = sizeof (b);
  random_bytes (b, n);
  for (size_t i = 0; i < n; i++)
    sprintf (out + 2 * i, "%02x", b[i]);
}

bool
str_has_prefix (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
base64_encode (const void *data, size_t len)
{
  const unsigned char *p = data;
  char *out = xmalloc ((len + 2) / 3 * 4 + 1), *o = out;
  for (size_t i = 0; i < len; i += 3)
    {
      unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < len ? p[i + 2] : 0);
      *o++ = b64[v >> 18 & 63];
      *o++ = b64[v >> 12 & 63];
      *o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
      *o++ = i + 2 < len ? b64[v & 63] : '=';
    }
  *o = 0;
  return out;
}

int
base64_decode (const char *in, size_t n, unsigned char **out, size_t *out_len)
{
  unsigned char *o;
  size_t k = 0;
  if (n % 4 != 0)
    return -1;
  o = xmalloc (n / 4 * 3 + 1);
  for (size_t i = 0; i < n; i += 4)
    {
      int v[4];
      for (int j = 0; j < 4; j++)
        {
          const char *c = in[i + j] == '=' ? NULL : strchr (b64, in[i + j]);
          /* Padding only at the very end, and only as "x=" or "xx==". */
          if (in[i + j] == 0
              || (c == NULL && (in[i + j] != '=' || i + 4 != n || j < 2 || (j == 2 && in[i + 3] != '='))))
            {
              free (o);
              return -1;
            }
          v[j] = c ? (int)(c - b64) : -1;
        }
      o[k++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
      if (v[2] >= 0)
        o[k++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
      if (v[3] >= 0)
        o[k++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
    }
  *out = o;
  *out_len = k;
  return 0;
}

int
berth_run_argv (char *const argv[], berth_err_t *err)
{
  int status;
  pid_t pid = fork ();
  if (pid < 0)
    return berth_error (err, errno, "fork");
  if (pid == 0)
    {
      int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
      dup2 (null, 0);
      dup2 (null, 1);
      execvp (argv[0], argv);
      _exit (127);
    }
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return berth_error (err, errno, "waitpid");
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return berth_error (err, 0, "%s failed (status %d)%s", argv[0], WIFEXITED (status) ? WEXITSTATUS (status) : -1,
                        WIFEXITED (status) && WEXITSTATUS (status) == 127 ? ": not installed?" : "");
  return 0;
}

bool
berth_name_valid (const char *n, size_t min, size_t max)
{
  size_t len = strlen (n);
  if (len < min || len > max)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9')
          || (i > 0 && strchr ("_.-", n[i]))))
      return false;
  return true;
}

int64_t
parse_bytes (const char *s, bool *ok)
{
  char *end;
  double v = strtod (s, &end);
  int64_t mul = 1;
  *ok = end != s;
  switch (*end)
    {
    case 'b':
    case 'B':
      end++;
      break;
    case 'k':
    case 'K':
      mul = 1024;
      end++;
      break;
    case 'm':
    case 'M':
      mul = 1024 * 1024;
      end++;
      break;
    case 'g':
    case 'G':
      mul = 1024LL * 1024 * 1024;
      end++;
      break;
    case '\0':
      break;
    default:
      *ok = false;
    }
  if (*end == 'b' || *end == 'B')
    end++;
  if (*end != '\0')
    *ok = false;
  return (int64_t)(v * (double)mul);
}

static int64_t du_total;

static int
du_one (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)path;
  (void)flag;
  (void)ftw;
  du_total += (int64_t)sb->st_blocks * 512;
  return 0;
}

int64_t
disk_usage (const char *path)
{
  du_total = 0;
  /* Physical (no symlink followed), and not into other file systems
     mounted below (a running container's volumes). */
  if (nftw (path, du_one, 16, FTW_PHYS | FTW_MOUNT) < 0)
    return 0;
  return du_total;
}
