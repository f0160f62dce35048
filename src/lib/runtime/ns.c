#include "lib/runtime/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/terminal.h"
#include "lib/base/utils.h"

int
berth_ns_open (const char *path, int type, berth_err_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  int kind;
  if (fd < 0)
    return berth_error (err, errno, "open %s namespace `%s`", berth_ns_proc_name (type), path);
  kind = ioctl (fd, NS_GET_NSTYPE);
  if (kind >= 0 && kind != type)
    return berth_error (err, 0, "`%s` is not a %s namespace", path, berth_ns_proc_name (type));
  return steal_fd (&fd);
}

int
berth_ns_join (int fd, int type, berth_err_t *err)
{
  if (setns (fd, type) < 0)
    return berth_error (err, errno, "join the %s namespace", berth_ns_proc_name (type));
  return 0;
}

static int
write_map (pid_t pid, const char *file, struct berth_id_map *m, size_t n, berth_err_t *err)
{
  cleanup_free char *path = xasprintf ("/proc/%d/%s", pid, file);
  cleanup_free char *buf = xstrdup ("");
  for (size_t i = 0; i < n; i++)
    {
      char *nb = xasprintf ("%s%u %u %u\n", buf, m[i].container_id, m[i].host_id, m[i].size);
      free (buf);
      buf = nb;
    }
  /* The kernel takes the whole map in one write. */
  if (write_file_at (AT_FDCWD, path, buf, strlen (buf), err) < 0)
    return berth_error_wrap (err, "linux.%s", strcmp (file, "uid_map") == 0 ? "uidMappings" : "gidMappings");
  return 0;
}

int
berth_write_id_maps (pid_t pid, struct berth_spec *spec, berth_err_t *err)
{
  if (write_map (pid, "uid_map", spec->uid_maps, spec->n_uid_maps, err) < 0)
    return -1;
  return write_map (pid, "gid_map", spec->gid_maps, spec->n_gid_maps, err);
}

int
berth_write_time_offsets (pid_t pid, struct berth_spec *spec, berth_err_t *err)
{
  cleanup_free char *path = pid ? xasprintf ("/proc/%d/timens_offsets", pid) : xstrdup ("/proc/self/timens_offsets");
  cleanup_free char *buf = xasprintf ("monotonic %lld %u\nboottime %lld %u\n", (long long)spec->monotonic_secs,
                                      spec->monotonic_nsecs, (long long)spec->boottime_secs, spec->boottime_nsecs);
  if (!spec->has_time_offsets)
    return 0;
  if (write_file_at (AT_FDCWD, path, buf, strlen (buf), err) < 0)
    return berth_error_wrap (err, "linux.timeOffsets");
  return 0;
}
