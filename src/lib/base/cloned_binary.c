#include "lib/base/cloned_binary.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/base/utils.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define HOST_MNTNS_ENV "_BERTH_HOST_MNTNS"

static int host_mntns = -1;

int
berth_host_mntns (void)
{
  return host_mntns;
}

void
berth_host_mntns_init (void)
{
  const char *v = getenv (HOST_MNTNS_ENV);
  char *end;
  long fd;
  if (v == NULL)
    return;
  fd = strtol (v, &end, 10);
  if (*end == '\0' && fd > 2 && fd < INT_MAX && fcntl ((int)fd, F_SETFD, FD_CLOEXEC) == 0)
    host_mntns = (int)fd;
  unsetenv (HOST_MNTNS_ENV);
}

bool
berth_exe_is_protected (void)
{
  cleanup_close int fd = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  struct statvfs sv;
  int seals;
  if (fd < 0)
    return false;
  seals = fcntl (fd, F_GET_SEALS);
  if (seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS)
    return true;
  return fstatvfs (fd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

static int
reexec_memfd (char **argv, char **envp, berth_err_t *err)
{
  cleanup_close int exe = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  cleanup_close int mfd = -1;
  struct stat st;
  off_t off = 0;

  if (exe < 0)
    return berth_error (err, errno, "open /proc/self/exe");
  if (fstat (exe, &st) < 0)
    return berth_error (err, errno, "stat /proc/self/exe");
  mfd = memfd_create ("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    return berth_error (err, errno, "memfd_create");
  while (off < st.st_size)
    {
      ssize_t n = sendfile (mfd, exe, &off, (size_t)(st.st_size - off));
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return berth_error (err, errno, "copy the runtime binary");
        }
      if (n == 0)
        break;
    }
  if (fchmod (mfd, 0555) < 0)
    return berth_error (err, errno, "fchmod the memfd");
  if (fcntl (mfd, F_ADD_SEALS, REQUIRED_SEALS) < 0)
    return berth_error (err, errno, "seal the runtime copy");
  fexecve (mfd, argv, envp);
  return berth_error (err, errno, "re-execute from the sealed copy");
}

/* Returns -1 (errno set) when the bind mount cannot be made: the caller
   falls back to the memfd copy. */
static int
reexec_ro_bind (char **argv, char **envp)
{
  char path[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", path, sizeof (path) - 1);
  int ns;
  char num[16];

  if (n <= 0 || (size_t)n >= sizeof (path) - 1 || path[0] != '/')
    return -1;
  path[n] = '\0';
  if (strstr (path, " (deleted)"))
    return -1;
  /* Kept open (without CLOEXEC) across the exec for the hooks. */
  ns = open ("/proc/self/ns/mnt", O_RDONLY);
  if (ns < 0)
    return -1;
  if (unshare (CLONE_NEWNS) < 0)
    goto fail;
  /* A slave: host mounts still reach us, ours never reach the host. */
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 || mount (path, path, NULL, MS_BIND, NULL) < 0
      || mount (NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
    {
      /* Back where we were, so the memfd fallback runs in the host's
         namespace. */
      int e = errno;
      setns (ns, CLONE_NEWNS);
      errno = e;
      goto fail;
    }
  snprintf (num, sizeof (num), "%d", ns);
  setenv (HOST_MNTNS_ENV, num, 1);
  (void)envp; /* setenv changed environ */
  {
    extern char **environ;
    execve (path, argv, environ);
  }
  {
    int e = errno;
    unsetenv (HOST_MNTNS_ENV);
    setns (ns, CLONE_NEWNS);
    errno = e;
  }
fail:
  {
    int e = errno;
    close (ns);
    errno = e;
  }
  return -1;
}

int
berth_ensure_cloned_binary (char **argv, char **envp, bool allow_private_mountns, berth_err_t *err)
{
  if (berth_exe_is_protected ())
    return 0;
  if (allow_private_mountns)
    reexec_ro_bind (argv, envp);
  return reexec_memfd (argv, envp, err);
}
