/* The guest's side of a VM container: the config its agent gets (mounts
   become shares, sockets and files), and the VM's size. */
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
#include "lib/runtime/ns.h"
#include "lib/vm/protocol.h"
#include "lib/vm/internal.h"
#include "lib/vm/vm.h"

int
vm_open_regular (const char *path, const char *what, berth_err_t *err)
{
  struct stat sb;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return berth_error (err, errno, "%s `%s`", what, path);
  if (fstat (fd, &sb) < 0 || !S_ISREG (sb.st_mode))
    {
      close (fd);
      return berth_error (err, EINVAL, "%s `%s` is not a regular file", what, path);
    }
  return fd;
}

/* The spec the guest's runtime gets: host paths it cannot see are
   replaced by what the VM carries (small files travel in the create
   request), and anything that would reach back into the host refused. */
int
vm_guest_config (json_t *config, const char *bundle, const char *share_prefix, json_t **out, json_t **files,
                 json_t **shares, json_t **sockets, char **netns, berth_err_t *err)
{
  json_t *c = json_deep_copy (config), *mounts, *m, *nss, *ns;
  size_t i;
  *files = json_object ();
  *shares = json_array ();
  *sockets = json_array ();
  json_object_del (c, "hooks");
  {
    /* Inside the VM the container is an ordinary process-isolated one. */
    json_t *an = json_object_get (c, "annotations");
    json_object_del (an, BERTH_ANNOTATION_ISOLATION);
    json_object_del (an, BERTH_ANNOTATION_VM_IMAGE);
    json_object_del (an, BERTH_ANNOTATION_VM_KERNEL);
    json_object_del (an, BERTH_ANNOTATION_VM_INITRD);
    json_object_del (an, BERTH_ANNOTATION_VM_ACPI);
    json_object_del (an, BERTH_ANNOTATION_VM_POD);
    json_object_del (an, BERTH_ANNOTATION_VM_KEEP_CHANGES);
  }
  nss = json_object_get (json_object_get (c, "linux"), "namespaces");
  *netns = NULL;
  json_array_foreach (nss, i, ns)
  {
    const char *type = json_string_value (json_object_get (ns, "type")) ?: "";
    if (json_object_get (ns, "path") && strcmp (type, "network") == 0 && *netns == NULL)
      {
        /* The namespace made for the container (by berth, Docker or
           containerd) is the VM's network: the guest's container lives in
           the guest's own, where the adopted NIC is. */
        *netns = xstrdup (json_string_value (json_object_get (ns, "path")) ?: "");
        json_array_remove (nss, i);
        i--;
        continue;
      }
    if (json_object_get (ns, "path"))
      {
        /* The error first: its type string goes with C. */
        berth_error (err, EINVAL,
                     "linux.namespaces[%zu]: joining a host namespace (%s) is not possible in VM isolation", i,
                     json_string_value (json_object_get (ns, "type")) ?: "?");
        free (*netns);
        *netns = NULL;
        json_decref (c);
        return -1;
      }
  }
  mounts = json_object_get (c, "mounts");
  json_array_foreach (mounts, i, m)
  {
    const char *type = json_string_value (json_object_get (m, "type"));
    const char *src = json_string_value (json_object_get (m, "source"));
    json_t *opts = json_object_get (m, "options");
    bool bind = type && strcmp (type, "bind") == 0;
    size_t k;
    json_t *o;
    json_array_foreach (opts, k, o)
    {
      if (json_is_string (o)
          && (strcmp (json_string_value (o), "bind") == 0 || strcmp (json_string_value (o), "rbind") == 0))
        bind = true;
    }
    if (!bind)
      continue;
    /* --init in a VM: the guest's own agent binary, already there. */
    if (src && strcmp (src, "/init") == 0
        && strcmp (json_string_value (json_object_get (m, "destination")) ?: "", "/sbin/berth-init") == 0)
      continue;
    {
      cleanup_free char *path = src && src[0] != '/' ? xasprintf ("%s/%s", bundle, src) : xstrdup (src ? src : "");
      cleanup_free char *data = NULL;
      cleanup_close int fd = -1;
      struct stat sb;
      size_t len = 0;
      char key[32];
      if (stat (path, &sb) < 0)
        {
          json_decref (c);
          return berth_error (err, errno, "mounts[%zu]: bind mount source `%s`", i, path);
        }
      if (S_ISDIR (sb.st_mode))
        {
          /* Directories (volumes, -v) reach the guest through virtiofs:
             the host side binds them into the shared tree, read-only
             there when asked, so the guest cannot write whatever it does. */
          bool ro = false;
          json_array_foreach (opts, k, o)
          {
            if (json_is_string (o) && strcmp (json_string_value (o), "ro") == 0)
              ro = true;
          }
          json_array_append_new (*shares, json_pack ("{s:s,s:b}", "source", path, "ro", ro));
          json_object_set_new (m, "source",
                               json_sprintf ("/run/berth/share/%sm%zu", share_prefix, json_array_size (*shares) - 1));
          continue;
        }
      if (S_ISSOCK (sb.st_mode) && json_array_size (*sockets) < BERTH_MAX_SOCKETS)
        {
          /* A host unix socket: the agent listens in its place and each
             connection is carried over the agent channel to the host. */
          json_array_append_new (*sockets, json_pack ("{s:s,s:i}", "source", path, "mode", (int)(sb.st_mode & 07777)));
          json_object_set_new (m, "source", json_sprintf ("/run/berth/sockets/s%zu", json_array_size (*sockets) - 1));
          continue;
        }
      if (!S_ISREG (sb.st_mode) || sb.st_size > 65536)
        {
          json_decref (c);
          return berth_error (err, ENOTSUP,
                              "mounts[%zu]: `%s`: a %s cannot cross into a VM; VM isolation carries directories, "
                              "unix sockets and small files (use process isolation for FIFOs and devices)",
                              i, path,
                              S_ISSOCK (sb.st_mode)   ? "17th unix socket"
                              : S_ISFIFO (sb.st_mode) ? "FIFO"
                              : S_ISREG (sb.st_mode)  ? "file over 64 KiB"
                                                      : "device");
        }
      fd = vm_open_regular (path, "mount source", err);
      if (fd < 0 || read_all_fd (fd, path, &data, &len, err) < 0)
        {
          json_decref (c);
          return -1;
        }
      snprintf (key, sizeof (key), "f%zu", i);
      {
        /* Any bytes: base64 keeps the JSON valid. */
        cleanup_free char *enc = base64_encode (data, len);
        json_object_set_new (*files, key, json_string (enc));
      }
      json_object_set_new (m, "source", json_sprintf ("/run/berth/files/%s", key));
    }
  }
  *out = c;
  return 0;
}

static int
host_cpus (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* Size of the VM from the spec's resources: the container's memory limit
   plus the guest's own, CPUs rounded up from the quota. */
void
vm_size (json_t *config, long *mem_mib, int *cpus)
{
  json_t *res = json_object_get (json_object_get (config, "linux"), "resources");
  json_int_t limit = json_integer_value (json_object_get (json_object_get (res, "memory"), "limit"));
  json_int_t quota = json_integer_value (json_object_get (json_object_get (res, "cpu"), "quota"));
  json_int_t period = json_integer_value (json_object_get (json_object_get (res, "cpu"), "period"));
  *mem_mib = DEFAULT_MEM_MIB;
  if (limit > 0)
    {
      long need = (long)((limit + (1 << 20) - 1) >> 20) + GUEST_BASE_MIB;
      *mem_mib = need < 192 ? 192 : need;
    }
  *cpus = 1;
  if (quota > 0 && period > 0)
    *cpus = (int)((quota + period - 1) / period);
  if (*cpus > host_cpus ())
    *cpus = host_cpus ();
  if (*cpus < 1)
    *cpus = 1;
}
