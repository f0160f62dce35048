#include "cloned_binary.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utils.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int
berth_is_cloned_binary (void)
{
  cleanup_close int fd = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  int seals;
  if (fd < 0)
    return 0;
  seals = fcntl (fd, F_GET_SEALS);
  return seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS;
}

int
berth_ensure_cloned_binary (char **argv, char **envp, berth_err_t *err)
{
  cleanup_close int exe = -1;
  cleanup_close int mfd = -1;
  struct stat st;
  off_t off = 0;

  if (berth_is_cloned_binary ())
    return 0;
  exe = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (exe < 0)
    return berth_error (err, errno, "open /proc/self/exe");
  if (fstat (exe, &st) < 0)
    return berth_error (err, errno, "stat /proc/self/exe");
  mfd = memfd_create ("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    return berth_error (err, errno, "memfd_create");
  while (off < st.st_size)
    {
      ssize_t n = sendfile (mfd, exe, &off, (size_t) (st.st_size - off));
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
