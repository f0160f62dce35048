/* libFuzzer: the host's requests as the guest agent reads them, from
   whatever reaches the agent's port.  The first byte picks the request
   (create, exec, signal, resize, update, clock, archive, extract, or a
   body naming a pod member), the rest is the frame's body.  What the agent would act on
   must hold what the readers promise; the parts the runtime reads later
   (create's config, exec's process) go through its parsers too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utils.h"
#include "lib/runtime/spec.h"
#include "lib/vm/protocol.h"
#include "lib/vm/request.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CHECK(c)                                                                                                       \
  do                                                                                                                   \
    {                                                                                                                  \
      if (!(c))                                                                                                        \
        abort ();                                                                                                      \
    }                                                                                                                  \
  while (0)

static void
check_create (json_t *req)
{
  berth_err_t err = NULL;
  cleanup_req_create struct berth_req_create r = { 0 };
  if (berth_req_create (req, &r, &err) < 0)
    {
      CHECK (err && err->msg && *err->msg);
      berth_error_release (&err);
      return;
    }
  CHECK (json_is_object (r.config));
  for (size_t i = 0; i < r.n_files; i++)
    CHECK (r.files[i].name[0] && r.files[i].name[0] != '.' && !strchr (r.files[i].name, '/'));
  if (r.member)
    CHECK (r.image_size > 0);
  else
    {
      CHECK (r.hostname && strlen (r.hostname) >= 1 && strlen (r.hostname) <= BERTH_REQ_HOSTNAME_MAX);
      CHECK (r.entropy_len >= BERTH_REQ_ENTROPY_MIN && r.entropy_len <= BERTH_REQ_ENTROPY_MAX);
      CHECK (strncmp (r.rootfs_device, "/dev/vd", 7) == 0 && !strchr (r.rootfs_device + 7, '/'));
      CHECK (r.n_sockets <= BERTH_MAX_SOCKETS);
      for (size_t i = 0; i < r.n_sockets; i++)
        CHECK ((r.socket_modes[i] & ~0777u) == 0);
      if (r.has_iface)
        CHECK (r.iface.prefix >= 1 && r.iface.prefix <= 32 && (r.iface.mtu == 0 || r.iface.mtu >= 576)
               && !(r.has_iface && r.iface.has_mac && (r.iface.mac[0] & 1)));
    }
  /* The runtime reads the config as the container's config.json. */
  {
    json_t *copy = json_deep_copy (r.config);
    struct berth_spec *spec = NULL;
    if (copy && berth_spec_from_json (copy, &spec, &err) == 0)
      berth_spec_free (spec);
    berth_error_release (&err);
    json_decref (copy);
  }
}

static void
check_request (uint8_t which, json_t *req)
{
  berth_err_t err = NULL;
  const char *id;
  switch (which % 9)
    {
    case 0:
      check_create (req);
      break;
    case 1:
      {
        json_t *process;
        bool terminal;
        struct berth_process *p = NULL;
        if (berth_req_exec (req, &process, &terminal, &err) == 0)
          {
            CHECK (json_is_object (process));
            if (berth_process_from_json (process, "process", &p, &err) == 0)
              berth_process_free (p);
          }
        break;
      }
    case 2:
      {
        int sig = 0;
        bool all, own;
        if (berth_req_signal (req, &sig, &all, &own, &err) == 0)
          CHECK (sig >= 1 && sig <= 64);
        break;
      }
    case 3:
      {
        unsigned short rows, cols;
        (void)berth_req_resize (req, &rows, &cols, &err);
        break;
      }
    case 4:
      {
        json_t *res;
        if (berth_req_update (req, &res, &err) == 0)
          CHECK (json_is_object (res));
        break;
      }
    case 5:
      {
        struct timespec ts;
        if (berth_req_clock (req, &ts, &err) == 0)
          CHECK (ts.tv_sec > 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
        break;
      }
    case 6:
      {
        struct berth_req_archive a;
        if (berth_req_archive (req, &a, &err) == 0 && a.what == BERTH_ARCHIVE_PATH)
          CHECK (a.path && a.path[0] == '/' && a.owner >= -1);
        break;
      }
    case 7:
      {
        const char *dest, *base;
        if (berth_req_extract (req, &dest, &base, &err) == 0)
          CHECK (dest[0] == '/' && (base == NULL || (*base && !strchr (base, '/') && strcmp (base, "..") != 0)));
        break;
      }
    default:
      if (berth_req_target (req, &id, &err) == 0 && id)
        CHECK (*id && strlen (id) <= BERTH_REQ_ID_MAX);
      break;
    }
  berth_error_release (&err);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* As the agent gets it: a frame's body through the protocol's reader. */
  struct berth_frame f = { .type = BERTH_F_CREATE };
  berth_err_t err = NULL;
  json_t *req = NULL;
  if (size < 1 || size - 1 > BERTH_FRAME_MAX)
    return 0;
  f.data = data + 1;
  f.len = (uint32_t)(size - 1);
  if (berth_frame_json (&f, &req, &err) < 0)
    {
      berth_error_release (&err);
      return 0;
    }
  check_request (data[0], req);
  json_decref (req);
  return 0;
}
