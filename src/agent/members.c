/* Pod members: containers that join this VM, each with its own image. */
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

struct member *
member_by_sid (uint32_t sid)
{
  for (int i = 0; i < MAX_MEMBERS; i++)
    if (members[i].used && members[i].sid == sid)
      return &members[i];
  return NULL;
}

/* The container a request names ("container": a member), else the pod's
   own; NULL (and an error) for a name we do not know. */
const char *
target_id (json_t *req, berth_err_t *err)
{
  const char *c;
  if (berth_req_target (req, &c, err) < 0)
    return NULL;
  if (c == NULL)
    return CTR_ID;
  for (int i = 0; i < MAX_MEMBERS; i++)
    if (members[i].used && !members[i].loading && strcmp (members[i].id, c) == 0)
      return members[i].id;
  berth_error (err, ESRCH, "no such container in this VM");
  return NULL;
}

void
member_free (struct member *m)
{
  cleanup_free char *dir = xasprintf ("/run/berth/members/%s", m->id);
  cleanup_free char *rootfs = xasprintf ("%s/bundle/rootfs", dir);
  cleanup_free char *lower = xasprintf ("%s/lower", dir);
  berth_err_t err = NULL;
  if (m->image_fd >= 0)
    close (m->image_fd);
  if (!m->loading)
    berth_container_delete (STATE_ROOT, m->id, BERTH_DELETE_FORCE, NULL, &err);
  berth_error_release (&err);
  umount2 (rootfs, MNT_DETACH);
  umount2 (lower, MNT_DETACH); /* the loop device clears itself */
  rm_rf_at (AT_FDCWD, dir, &err);
  berth_error_release (&err);
  json_decref (m->req);
  berth_req_files_free (m->files, m->n_files);
  memset (m, 0, sizeof (*m));
}

void
member_fail (struct member *m, berth_err_t *err)
{
  send_error (m->sid, err);
  member_free (m);
}

void
member_begin (uint32_t sid, json_t *req, struct berth_req_create *r)
{
  berth_err_t err = NULL;
  struct member *m = NULL;
  struct sysinfo si;
  cleanup_free char *dir = NULL, *img = NULL;
  if (!created || member_by_sid (sid) || proc_by_sid (sid))
    {
      berth_error (&err, EINVAL, "create: %s", !created ? "the pod's container is not there" : "bad member request");
      return send_error (sid, &err);
    }
  sysinfo (&si);
  /* The image lives in guest memory: it must leave room for the rest. */
  if ((unsigned long long)r->image_size > (unsigned long long)si.freeram * si.mem_unit / 2)
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
                        .size = r->image_size,
                        .req = json_incref (req),
                        .files = steal_pointer (&r->files),
                        .n_files = r->n_files };
  r->n_files = 0;
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
int
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

void
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
  if (write_files (m->files, m->n_files, files, &err) < 0)
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
  if (guest_create (m->sid, m->id, bundle, config, NULL, 0, &pid) < 0)
    {
      member_free (m); /* guest_create answered */
      return;
    }
  send_ok (m->sid, json_pack ("{s:i,s:s}", "pid", pid, "id", m->id));
}

void
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
