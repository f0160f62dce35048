#include "lib/vm/request.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "lib/base/utils.h"

/* A JSON string that is all text: jansson keeps a \u0000 inside one, which
   C's string functions would cut short. */
static const char *
plain_string (json_t *v)
{
  const char *s = json_string_value (v);
  return s && strlen (s) == json_string_length (v) ? s : NULL;
}

static int
bool_field (json_t *req, const char *key, bool *out, berth_err_t *err)
{
  json_t *v = json_object_get (req, key);
  if (v && !json_is_boolean (v))
    return berth_error (err, EINVAL, "%s must be true or false", key);
  *out = json_is_true (v);
  return 0;
}

void
berth_req_files_free (struct berth_req_file *files, size_t n)
{
  for (size_t i = 0; files && i < n; i++)
    {
      free (files[i].name);
      free (files[i].data);
    }
  free (files);
}

int
berth_req_files (json_t *files, struct berth_req_file **out, size_t *n, berth_err_t *err)
{
  const char *k;
  json_t *v;
  *out = NULL;
  *n = 0;
  if (files == NULL)
    return 0;
  if (!json_is_object (files) || json_object_size (files) > BERTH_REQ_FILES_MAX)
    return berth_error (err, EINVAL, "files must be an object of at most %d entries", BERTH_REQ_FILES_MAX);
  *out = xcalloc (json_object_size (files), sizeof (**out));
  json_object_foreach (files, k, v)
  {
    struct berth_req_file *f = &(*out)[*n];
    /* One name in one directory: nothing that climbs out or hides. */
    if (!*k || strchr (k, '/') || k[0] == '.' || strlen (k) > 255 || !plain_string (v))
      return berth_error (err, EINVAL, "files: bad entry `%.64s`", k);
    if (base64_decode (json_string_value (v), json_string_length (v), &f->data, &f->len) < 0)
      return berth_error (err, EINVAL, "files: `%s` is not base64", k);
    f->name = xstrdup (k);
    (*n)++;
  }
  return 0;
}

static int
identity (json_t *id, struct berth_req_create *r, berth_err_t *err)
{
  const char *entropy = plain_string (json_object_get (id, "entropy"));
  cleanup_free unsigned char *data = NULL;
  size_t len = 0;
  if (!json_is_object (id) || entropy == NULL)
    return berth_error (err, EINVAL, "identity needs entropy and hostname");
  if (base64_decode (entropy, strlen (entropy), &data, &len) < 0 || len < BERTH_REQ_ENTROPY_MIN
      || len > BERTH_REQ_ENTROPY_MAX)
    {
      if (data)
        explicit_bzero (data, len);
      return berth_error (err, EINVAL, "identity.entropy must be %d to %d bytes of base64", BERTH_REQ_ENTROPY_MIN,
                          BERTH_REQ_ENTROPY_MAX);
    }
  memcpy (r->entropy, data, len);
  explicit_bzero (data, len);
  r->entropy_len = len;
  r->hostname = plain_string (json_object_get (id, "hostname"));
  if (r->hostname == NULL || !*r->hostname || strlen (r->hostname) > BERTH_REQ_HOSTNAME_MAX)
    return berth_error (err, EINVAL, "identity.hostname must be 1 to %d bytes", BERTH_REQ_HOSTNAME_MAX);
  return 0;
}

static int
sockets (json_t *list, struct berth_req_create *r, berth_err_t *err)
{
  json_t *v;
  size_t i;
  if (list == NULL)
    return 0;
  if (!json_is_array (list) || json_array_size (list) > BERTH_MAX_SOCKETS)
    return berth_error (err, EINVAL, "sockets must be an array of at most %d", BERTH_MAX_SOCKETS);
  json_array_foreach (list, i, v)
  {
    json_t *mode = json_object_get (v, "mode");
    if (!json_is_object (v) || !json_is_integer (mode) || json_integer_value (mode) < 0
        || json_integer_value (mode) > 07777)
      return berth_error (err, EINVAL, "sockets[%zu] needs a mode from 0 to 07777", i);
    r->socket_modes[i] = (mode_t)json_integer_value (mode) & 0777;
  }
  r->n_sockets = json_array_size (list);
  return 0;
}

static int
network (json_t *list, struct berth_req_create *r, berth_err_t *err)
{
  if (list == NULL || (json_is_array (list) && json_array_size (list) == 0))
    return 0;
  if (!json_is_array (list) || json_array_size (list) > 1)
    return berth_error (err, EINVAL, "network must be a list of at most one interface");
  if (berth_netdev_config_parse ("eth0", json_array_get (list, 0), &r->iface, err) < 0)
    return -1;
  r->has_iface = true;
  return 0;
}

/* A classic BPF program: 8-byte records, at most BPF_MAXINSNS (4096). */
static int
seccomp_program (json_t *v, struct berth_req_create *r, berth_err_t *err)
{
  const char *b64 = plain_string (v);
  if (v == NULL)
    return 0;
  if (b64 == NULL || base64_decode (b64, strlen (b64), &r->seccomp_bpf, &r->seccomp_bpf_len) < 0
      || r->seccomp_bpf_len == 0 || r->seccomp_bpf_len % 8 != 0 || r->seccomp_bpf_len > 4096 * 8)
    {
      free (r->seccomp_bpf);
      r->seccomp_bpf = NULL;
      r->seccomp_bpf_len = 0;
      return berth_error (err, EINVAL, "seccomp_bpf must be base64 of 1 to 4096 BPF instructions");
    }
  return 0;
}

static int
create_fields (json_t *req, struct berth_req_create *r, berth_err_t *err)
{
  static const char *const fstypes[] = { "erofs", "ext4", "squashfs" };
  json_t *size = json_object_get (req, "image_size");
  bool known = false;
  if (!json_is_object (req))
    return berth_error (err, EINVAL, "the request must be an object");
  r->config = json_object_get (req, "config");
  if (!json_is_object (r->config))
    return berth_error (err, EINVAL, "config must be an object");
  if (bool_field (req, "member", &r->member, err) < 0
      || berth_req_files (json_object_get (req, "files"), &r->files, &r->n_files, err) < 0)
    return -1;
  if (r->member)
    {
      /* The image follows as stdin frames, this many bytes of it. */
      if (!json_is_integer (size) || json_integer_value (size) <= 0)
        return berth_error (err, EINVAL, "image_size must be a positive integer");
      r->image_size = json_integer_value (size);
      return 0;
    }
  if (bool_field (req, "restored", &r->restored, err) < 0 || bool_field (req, "shared", &r->shared, err) < 0
      || bool_field (req, "dns_relay", &r->dns_relay, err) < 0)
    return -1;
  r->rootfs_device = plain_string (json_object_get (req, "rootfs_device"));
  r->rootfs_fstype = plain_string (json_object_get (req, "rootfs_fstype"));
  if (r->rootfs_device == NULL || r->rootfs_fstype == NULL)
    return berth_error (err, EINVAL, "rootfs_device and rootfs_fstype are required");
  /* The image is a disk the host attached, nothing else the guest has. */
  if (strncmp (r->rootfs_device, "/dev/vd", 7) != 0 || strlen (r->rootfs_device) > 16
      || strchr (r->rootfs_device + 7, '/'))
    return berth_error (err, EINVAL, "rootfs_device `%.32s` is not a virtio disk", r->rootfs_device);
  for (size_t i = 0; i < sizeof (fstypes) / sizeof (*fstypes); i++)
    known = known || strcmp (r->rootfs_fstype, fstypes[i]) == 0;
  if (!known)
    return berth_error (err, EINVAL, "rootfs_fstype `%.32s` is not an image file system", r->rootfs_fstype);
  return identity (json_object_get (req, "identity"), r, err) < 0
                 || sockets (json_object_get (req, "sockets"), r, err) < 0
                 || network (json_object_get (req, "network"), r, err) < 0
                 || seccomp_program (json_object_get (req, "seccomp_bpf"), r, err) < 0
             ? -1
             : 0;
}

int
berth_req_create (json_t *req, struct berth_req_create *out, berth_err_t *err)
{
  *out = (struct berth_req_create){ 0 };
  if (create_fields (req, out, err) < 0)
    return berth_error_wrap (err, "create");
  return 0;
}

void
berth_req_create_clear (struct berth_req_create *r)
{
  berth_req_files_free (r->files, r->n_files);
  free (r->seccomp_bpf);
  explicit_bzero (r->entropy, sizeof (r->entropy));
  *r = (struct berth_req_create){ 0 };
}

int
berth_req_target (json_t *req, const char **id, berth_err_t *err)
{
  json_t *c = json_object_get (req, "container");
  *id = NULL;
  if (c == NULL)
    return 0;
  *id = plain_string (c);
  if (*id == NULL || !**id || strlen (*id) > BERTH_REQ_ID_MAX)
    {
      *id = NULL;
      return berth_error (err, EINVAL, "container must name a pod member");
    }
  return 0;
}

int
berth_req_signal (json_t *req, int *sig, bool *all, bool *own, berth_err_t *err)
{
  json_t *s = json_object_get (req, "signal");
  if (!json_is_integer (s) || json_integer_value (s) < 1 || json_integer_value (s) > 64)
    return berth_error (err, EINVAL, "signal: bad signal number");
  *sig = (int)json_integer_value (s);
  if (bool_field (req, "all", all, err) < 0 || bool_field (req, "own", own, err) < 0)
    return berth_error_wrap (err, "signal");
  return 0;
}

int
berth_req_resize (json_t *req, unsigned short *rows, unsigned short *cols, berth_err_t *err)
{
  json_t *r = json_object_get (req, "rows"), *c = json_object_get (req, "cols");
  if (!json_is_integer (r) || !json_is_integer (c) || json_integer_value (r) < 0 || json_integer_value (r) > 65535
      || json_integer_value (c) < 0 || json_integer_value (c) > 65535)
    return berth_error (err, EINVAL, "resize: rows and cols must be 0 to 65535");
  *rows = (unsigned short)json_integer_value (r);
  *cols = (unsigned short)json_integer_value (c);
  return 0;
}

int
berth_req_exec (json_t *req, json_t **process, bool *terminal, berth_err_t *err)
{
  *process = json_object_get (req, "process");
  if (!json_is_object (*process))
    return berth_error (err, EINVAL, "exec: process must be an object");
  if (bool_field (*process, "terminal", terminal, err) < 0)
    return berth_error_wrap (err, "exec: process");
  return 0;
}

int
berth_req_update (json_t *req, json_t **resources, berth_err_t *err)
{
  *resources = json_object_get (req, "resources");
  if (!json_is_object (*resources))
    return berth_error (err, EINVAL, "update: resources must be an object");
  return 0;
}

/* A path in the container as docker cp takes it: absolute, bounded, text. */
static const char *
container_path (json_t *v)
{
  const char *p = plain_string (v);
  return p && p[0] == '/' && strlen (p) < 4096 ? p : NULL;
}

int
berth_req_archive (json_t *req, struct berth_req_archive *out, berth_err_t *err)
{
  static const char *const names[] = { "root", "upper", "path" };
  const char *what = plain_string (json_object_get (req, "what"));
  json_t *owner = json_object_get (req, "owner");
  size_t i;
  *out = (struct berth_req_archive){ .owner = -1 };
  for (i = 0; what && i < sizeof (names) / sizeof (*names); i++)
    if (strcmp (what, names[i]) == 0)
      break;
  if (what == NULL || i == sizeof (names) / sizeof (*names))
    return berth_error (err, EINVAL, "archive: what must be root, upper or path");
  out->what = (enum berth_req_archive_what)i;
  if (bool_field (req, "freeze", &out->freeze, err) < 0)
    return berth_error_wrap (err, "archive");
  if (out->what != BERTH_ARCHIVE_PATH)
    return 0;
  out->path = container_path (json_object_get (req, "path"));
  if (out->path == NULL)
    return berth_error (err, EINVAL, "archive: path must be an absolute path");
  if (owner && (!json_is_integer (owner) || json_integer_value (owner) < 0 || json_integer_value (owner) > 0x7fffffff))
    return berth_error (err, EINVAL, "archive: owner must be a uid");
  if (owner)
    out->owner = (int)json_integer_value (owner);
  return 0;
}

int
berth_req_extract (json_t *req, const char **dest, const char **src_base, berth_err_t *err)
{
  json_t *base = json_object_get (req, "src_base");
  *dest = container_path (json_object_get (req, "dest"));
  *src_base = NULL;
  if (*dest == NULL)
    return berth_error (err, EINVAL, "extract: dest must be an absolute path");
  if (base && !json_is_null (base))
    {
      *src_base = plain_string (base);
      /* "." (a directory's contents) or one name: the tar's top entry. */
      if (*src_base == NULL || !**src_base || strchr (*src_base, '/') || strcmp (*src_base, "..") == 0
          || strlen (*src_base) > 255)
        return berth_error (err, EINVAL, "extract: src_base must be one name");
    }
  return 0;
}

int
berth_req_clock (json_t *req, struct timespec *ts, berth_err_t *err)
{
  json_t *s = json_object_get (req, "sec"), *ns = json_object_get (req, "nsec");
  if (!json_is_integer (s) || !json_is_integer (ns) || json_integer_value (s) <= 0 || json_integer_value (ns) < 0
      || json_integer_value (ns) >= 1000000000)
    return berth_error (err, EINVAL, "clock: a bad time from the host");
  ts->tv_sec = (time_t)json_integer_value (s);
  ts->tv_nsec = (long)json_integer_value (ns);
  return 0;
}
