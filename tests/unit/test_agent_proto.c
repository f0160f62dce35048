/* The host's parser of the agent protocol (agent_proto.c): every byte from
   a guest is hostile.  Known-bad frames are refused with a reason, and a
   fuzz loop (random bytes, and valid frames with bytes flipped, cut and
   lengths forged) must never crash, read out of bounds (run under ASan in
   CI) or accept a frame that breaks the rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/vm/protocol.h"
#include "lib/vm/request.h"
#include "lib/base/utils.h"

static size_t
frame (uint8_t *buf, uint8_t type, uint32_t sid, const char *payload, uint32_t claimed_len)
{
  size_t n = payload ? strlen (payload) : 0;
  buf[0] = 'B';
  buf[1] = type;
  buf[2] = buf[3] = 0;
  memcpy (buf + 4, &sid, 4); /* the tests run on little-endian x86 */
  memcpy (buf + 8, &claimed_len, 4);
  if (n)
    memcpy (buf + 12, payload, n);
  return 12 + n;
}

static void
good_frames_parse (void **state)
{
  uint8_t buf[256];
  struct berth_frame f;
  size_t used = 0, n = frame (buf, BERTH_F_EXIT, 7, "{\"code\":42}", 11);
  berth_err_t err = NULL;
  int code = -1;
  (void)state;
  /* Partial input asks for more, at every cut. */
  for (size_t cut = 0; cut < n; cut++)
    assert_int_equal (berth_frame_parse (buf, cut, &f, &used, &err), 0);
  assert_int_equal (berth_frame_parse (buf, n, &f, &used, &err), 1);
  assert_int_equal (used, n);
  assert_int_equal (f.sid, 7);
  assert_int_equal (berth_frame_exit_code (&f, &code, &err), 0);
  assert_int_equal (code, 42);
}

static void
expect_refused (const uint8_t *buf, size_t n, const char *why)
{
  struct berth_frame f;
  size_t used;
  berth_err_t err = NULL;
  assert_int_equal (berth_frame_parse (buf, n, &f, &used, &err), -1);
  if (strstr (err->msg, why) == NULL)
    fail_msg ("error \"%s\" does not say \"%s\"", err->msg, why);
  berth_error_release (&err);
}

static void
bad_headers_are_refused (void **state)
{
  uint8_t buf[64];
  (void)state;
  frame (buf, BERTH_F_OK, 0, NULL, 0);
  buf[0] = 'X';
  expect_refused (buf, 12, "magic");
  frame (buf, 0, 0, NULL, 0);
  expect_refused (buf, 12, "unknown frame type");
  frame (buf, BERTH_F_MAX_TYPE + 1, 0, NULL, 0);
  expect_refused (buf, 2, "unknown frame type");
  frame (buf, BERTH_F_OK, 0, NULL, 0);
  buf[3] = 1;
  expect_refused (buf, 12, "reserved");
  /* A length past the limit is refused from the header alone: the host
     never buffers what a guest claims. */
  frame (buf, BERTH_F_STDOUT, 0, NULL, BERTH_FRAME_MAX + 1);
  expect_refused (buf, 12, "exceeds the limit");
  frame (buf, BERTH_F_STDOUT, 0, NULL, 0xffffffffu);
  expect_refused (buf, 12, "exceeds the limit");
}

static void
bad_payloads_are_refused (void **state)
{
  static const char *const exits[] = { "{\"code\":256}", "{\"code\":-1}",           "{\"code\":\"0\"}", "{}", "[1]",
                                       "{\"code\":1",    "{\"code\":1,\"code\":2}", "nul\x01l" };
  static const char *const ps[] = { "{\"lines\":[]}", "{\"lines\":\"x\"}", "{\"lines\":[1]}", "{}" };
  uint8_t buf[256];
  struct berth_frame f;
  size_t used;
  berth_err_t err = NULL;
  int code;
  char **lines = NULL;
  (void)state;
  for (size_t i = 0; i < ARRAY_SIZE (exits); i++)
    {
      size_t n = frame (buf, BERTH_F_EXIT, 0, exits[i], (uint32_t)strlen (exits[i]));
      assert_int_equal (berth_frame_parse (buf, n, &f, &used, &err), 1);
      if (berth_frame_exit_code (&f, &code, &err) == 0)
        fail_msg ("exit payload %s accepted", exits[i]);
      berth_error_release (&err);
    }
  for (size_t i = 0; i < ARRAY_SIZE (ps); i++)
    {
      size_t n = frame (buf, BERTH_F_OK, 0, ps[i], (uint32_t)strlen (ps[i]));
      assert_int_equal (berth_frame_parse (buf, n, &f, &used, &err), 1);
      if (berth_frame_ps_lines (&f, &lines, &err) == 0)
        fail_msg ("ps payload %s accepted", ps[i]);
      berth_error_release (&err);
    }
  /* Control characters in a process listing never reach a terminal. */
  {
    const char *p = "{\"lines\":[\"PID CMD\",\"1 \\u001b[2Jevil\\u0007\"]}";
    size_t n = frame (buf, BERTH_F_OK, 0, p, (uint32_t)strlen (p));
    assert_int_equal (berth_frame_parse (buf, n, &f, &used, &err), 1);
    assert_int_equal (berth_frame_ps_lines (&f, &lines, &err), 0);
    assert_string_equal (lines[1], "1 ?[2Jevil?");
    strv_free (lines);
  }
}

static void
reader_over_a_socket (void **state)
{
  int sp[2];
  struct berth_frame_reader rd = { 0 };
  struct berth_frame f;
  berth_err_t err = NULL;
  char *big = xmalloc (300000);
  int got = 0;
  (void)state;
  memset (big, 'x', 300000);
  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sp), 0);
  if (fork () == 0)
    {
      berth_frame_write (sp[1], BERTH_F_STDOUT, 1, "hello", 5, &err);
      berth_frame_write (sp[1], BERTH_F_STDERR, 2, big, 300000, &err);
      berth_frame_write_json (sp[1], BERTH_F_EXIT, 1, json_pack ("{s:i}", "code", 9), &err);
      _exit (0);
    }
  close (sp[1]);
  while (got < 3)
    {
      int r = berth_frame_fill (&rd, sp[0], &err);
      assert_int_equal (r, 1);
      while (berth_frame_next (&rd, &f, &err) == 1)
        {
          if (got == 0)
            assert_true (f.type == BERTH_F_STDOUT && f.len == 5 && memcmp (f.data, "hello", 5) == 0);
          if (got == 1)
            assert_true (f.type == BERTH_F_STDERR && f.len == 300000 && f.data[299999] == 'x');
          if (got == 2)
            {
              int code;
              assert_int_equal (berth_frame_exit_code (&f, &code, &err), 0);
              assert_int_equal (code, 9);
            }
          got++;
        }
    }
  assert_int_equal (berth_frame_fill (&rd, sp[0], &err), 0);
  berth_frame_reader_free (&rd);
  close (sp[0]);
  free (big);
}

/* Every accepted frame must satisfy the rules, whatever came in. */
static void
check_accepted (const uint8_t *buf, size_t n)
{
  size_t off = 0;
  for (;;)
    {
      struct berth_frame f;
      size_t used = 0;
      berth_err_t err = NULL;
      int r = berth_frame_parse (buf + off, n - off, &f, &used, &err);
      if (r <= 0)
        {
          if (r < 0)
            assert_non_null (err);
          berth_error_release (&err);
          return;
        }
      assert_true (f.type >= 1 && f.type <= BERTH_F_MAX_TYPE);
      assert_true (f.len <= BERTH_FRAME_MAX);
      assert_true (used == 12 + (size_t)f.len && off + used <= n);
      assert_ptr_equal (f.data, buf + off + 12);
      {
        json_t *j = NULL;
        int code;
        char **lines = NULL;
        if (berth_frame_json (&f, &j, &err) == 0)
          {
            assert_true (json_is_object (j));
            json_decref (j);
          }
        berth_error_release (&err);
        if (berth_frame_exit_code (&f, &code, &err) == 0)
          assert_true (code >= 0 && code <= 255);
        berth_error_release (&err);
        if (berth_frame_ps_lines (&f, &lines, &err) == 0)
          {
            for (char **l = lines; *l; l++)
              for (char *c = *l; *c; c++)
                assert_true ((unsigned char)*c >= 0x20 && *c != 0x7f);
            strv_free (lines);
          }
        berth_error_release (&err);
      }
      off += used;
    }
}

static void
fuzz (void **state)
{
  static const char *const seeds[]
      = { "{\"code\":0}", "{\"lines\":[\"a\",\"b\"]}", "{\"kernel\":\"6.1\",\"uptime_ms\":1}",
          "{\"message\":\"x\",\"errno\":2}", "raw stdout bytes" };
  uint8_t buf[4096];
  unsigned seed = getenv ("BERTH_FUZZ_SEED") ? (unsigned)atoi (getenv ("BERTH_FUZZ_SEED")) : 12345;
  int iters = getenv ("BERTH_FUZZ_ITERS") ? atoi (getenv ("BERTH_FUZZ_ITERS")) : 200000;
  (void)state;
  srand (seed);
  for (int it = 0; it < iters; it++)
    {
      size_t n;
      if (it % 3 == 0)
        {
          /* Random bytes, often starting with a plausible header. */
          n = (size_t)(rand () % 200);
          for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand ();
          if (n > 12 && rand () % 2)
            {
              buf[0] = 'B';
              buf[1] = (uint8_t)(1 + rand () % BERTH_F_MAX_TYPE);
              buf[2] = buf[3] = 0;
            }
        }
      else
        {
          /* Valid frames in a row, then mutated. */
          n = 0;
          for (int k = rand () % 4 + 1; k > 0 && n < 3000; k--)
            {
              const char *p = seeds[rand () % ARRAY_SIZE (seeds)];
              n += frame (buf + n, (uint8_t)(1 + rand () % BERTH_F_MAX_TYPE), (uint32_t)rand (), p,
                          (uint32_t)strlen (p));
            }
          for (int m = rand () % 4; m > 0; m--)
            {
              switch (rand () % 4)
                {
                case 0:
                  buf[rand () % n] = (uint8_t)rand ();
                  break;
                case 1:
                  n = (size_t)(rand () % (int)n) + 1;
                  break;
                case 2:
                  {
                    /* Forge a length: sometimes past the buffer. */
                    uint32_t l = (uint32_t)rand () % 5000;
                    if (n >= 12)
                      memcpy (buf + 8, &l, 4);
                  }
                  break;
                default:
                  buf[rand () % n] ^= 0x80;
                }
            }
        }
      check_accepted (buf, n);
    }
}

/* Files cross into the guest as base64: round trips, and refusals. */
static void
base64 (void **state)
{
  static const char *const bad[] = { "A", "AB=C", "A===", "====", "AB\x01=", "AAAA=AAA", "AB=A" };
  unsigned char buf[300], *out = NULL;
  size_t n = 0;
  (void)state;
  for (size_t len = 0; len < sizeof (buf); len++)
    {
      char *e;
      for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 7 + len);
      e = base64_encode (buf, len);
      assert_int_equal (base64_decode (e, strlen (e), &out, &n), 0);
      assert_int_equal (n, len);
      assert_memory_equal (out, buf, len);
      free (out);
      free (e);
    }
  assert_int_equal (base64_decode ("aGk=", 4, &out, &n), 0);
  assert_int_equal (n, 2);
  assert_memory_equal (out, "hi", 2);
  free (out);
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    if (base64_decode (bad[i], strlen (bad[i]), &out, &n) == 0)
      fail_msg ("\"%s\" decoded", bad[i]);
}

/* A create request as the host sends it, with FIELD set to VALUE (JSON
   text; NULL removes it). */
static json_t *
create_with (const char *field, const char *value)
{
  json_t *req = json_pack (
      "{s:{s:s},s:{s:s},s:s,s:s,s:b,s:[{s:i}],s:[{s:s,s:s,s:i,s:s,s:i}],s:{s:s,s:s},s:b,s:b}", "config", "ociVersion",
      "1.0.2", "files", "hosts", "MTI3LjAuMC4xIGxvY2FsaG9zdAo=", "rootfs_device", "/dev/vda", "rootfs_fstype", "erofs",
      "shared", 1, "sockets", "mode", 04755, "network", "mac", "02:42:ac:11:00:02", "address", "172.17.0.2", "prefix",
      16, "gateway", "172.17.0.1", "mtu", 1500, "identity", "entropy",
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "hostname", "web", "restored", 0, "dns_relay", 1);
  if (field && value)
    {
      json_t *v = json_loads (value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
      assert_non_null (v);
      json_object_set_new (req, field, v);
    }
  else if (field)
    json_object_del (req, field);
  return req;
}

static void
create_requests (void **state)
{
  static const struct
  {
    const char *field, *value, *why;
  } bad[] = {
    { "config", "[]", "config must be an object" },
    { "config", NULL, "config must be an object" },
    { "files", "{\"../x\":\"eA==\"}", "bad entry" },
    { "files", "{\".hidden\":\"eA==\"}", "bad entry" },
    { "files", "{\"hosts\":\"not base64!\"}", "not base64" },
    { "files", "{\"hosts\":\"a\\u0000b\"}", "bad entry" },
    { "rootfs_device", "\"/dev/sda\"", "not a virtio disk" },
    { "rootfs_device", "\"/dev/vd/../sda\"", "not a virtio disk" },
    { "rootfs_fstype", "\"proc\"", "not an image file system" },
    { "rootfs_fstype", NULL, "are required" },
    { "shared", "\"yes\"", "shared must be true or false" },
    { "identity", "{\"entropy\":\"AAEC\",\"hostname\":\"web\"}", "32 to 512 bytes" },
    { "identity", "{\"entropy\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\",\"hostname\":\"\"}",
      "hostname must be 1 to 64" },
    { "identity", "{\"entropy\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\",\"hostname\":\"a\\u0000b\"}",
      "hostname must be 1 to 64" },
    { "identity", NULL, "identity needs entropy and hostname" },
    { "sockets", "[{\"mode\":65536}]", "mode from 0 to 07777" },
    { "sockets", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]", "at most 16" },
    { "network", "[{\"address\":\"10.0.0.2\",\"prefix\":33}]", "bad address or prefix" },
    { "network", "[{\"address\":\"10.0.0.2\",\"prefix\":8,\"mac\":\"01:00:5e:00:00:01\"}]", "bad MAC" },
    { "network", "[{\"address\":\"10.0.0.2\",\"prefix\":8,\"gateway\":\"10.0.0\"}]", "bad gateway" },
    { "network", "[{},{}]", "at most one interface" },
    { "seccomp_bpf", "\"AAECAwQFBg==\"", "1 to 4096 BPF instructions" }, /* 7 bytes */
    { "seccomp_bpf", "\"\"", "1 to 4096 BPF instructions" },
    { "seccomp_bpf", "\"not base64!\"", "1 to 4096 BPF instructions" },
    { "seccomp_bpf", "8", "1 to 4096 BPF instructions" },
  };
  struct berth_req_create r;
  berth_err_t err = NULL;
  json_t *req = create_with (NULL, NULL);
  (void)state;
  assert_int_equal (berth_req_create (req, &r, &err), 0);
  assert_string_equal (r.hostname, "web");
  assert_int_equal (r.entropy_len, 32);
  assert_int_equal (r.n_files, 1);
  assert_string_equal (r.files[0].name, "hosts");
  assert_int_equal (r.files[0].len, strlen ("127.0.0.1 localhost\n"));
  assert_int_equal (r.n_sockets, 1);
  assert_int_equal (r.socket_modes[0], 0755); /* never set-id bits */
  assert_true (r.has_iface && r.iface.has_gateway && r.iface.has_mac && r.iface.prefix == 16 && r.iface.mtu == 1500);
  assert_true (r.shared && r.dns_relay && !r.restored && !r.member);
  assert_null (r.seccomp_bpf);
  berth_req_create_clear (&r);
  json_decref (req);
  /* The host's compiled seccomp program: whole instructions. */
  req = create_with ("seccomp_bpf", "\"AAECAwQFBgc=\"");
  assert_int_equal (berth_req_create (req, &r, &err), 0);
  assert_true (r.seccomp_bpf_len == 8 && r.seccomp_bpf[7] == 7);
  berth_req_create_clear (&r);
  json_decref (req);
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      req = create_with (bad[i].field, bad[i].value);
      if (berth_req_create (req, &r, &err) == 0)
        fail_msg ("%s = %s was taken", bad[i].field, bad[i].value ?: "(none)");
      if (strstr (err->msg, bad[i].why) == NULL)
        fail_msg ("%s = %s: \"%s\" does not say \"%s\"", bad[i].field, bad[i].value ?: "(none)", err->msg, bad[i].why);
      berth_error_release (&err);
      berth_req_create_clear (&r);
      json_decref (req);
    }
  /* A pod member's: config, files and the image's size, nothing else. */
  req = json_pack ("{s:{},s:{},s:I,s:b}", "config", "files", "image_size", (json_int_t)4096, "member", 1);
  assert_int_equal (berth_req_create (req, &r, &err), 0);
  assert_true (r.member && r.image_size == 4096);
  berth_req_create_clear (&r);
  json_object_set_new (req, "image_size", json_integer (0));
  assert_int_equal (berth_req_create (req, &r, &err), -1);
  berth_error_release (&err);
  berth_req_create_clear (&r);
  json_decref (req);
}

static void
other_requests (void **state)
{
  berth_err_t err = NULL;
  int sig;
  bool all, own, tty;
  unsigned short rows, cols;
  const char *id;
  json_t *j, *obj;
  struct timespec ts;
  (void)state;
#define REQ(text) (j = json_loads (text, JSON_ALLOW_NUL, NULL))
  assert_int_equal (berth_req_signal (REQ ("{\"signal\":15,\"all\":true}"), &sig, &all, &own, &err), 0);
  assert_true (sig == 15 && all && !own);
  json_decref (j);
  assert_int_equal (berth_req_signal (REQ ("{\"signal\":65}"), &sig, &all, &own, &err), -1);
  berth_error_release (&err);
  json_decref (j);
  assert_int_equal (berth_req_signal (REQ ("{\"signal\":9,\"own\":1}"), &sig, &all, &own, &err), -1);
  berth_error_release (&err);
  json_decref (j);
  assert_int_equal (berth_req_resize (REQ ("{\"rows\":45,\"cols\":123}"), &rows, &cols, &err), 0);
  assert_true (rows == 45 && cols == 123);
  json_decref (j);
  assert_int_equal (berth_req_resize (REQ ("{\"rows\":65536,\"cols\":1}"), &rows, &cols, &err), -1);
  berth_error_release (&err);
  json_decref (j);
  assert_int_equal (berth_req_exec (REQ ("{\"process\":{\"terminal\":true}}"), &obj, &tty, &err), 0);
  assert_true (tty && json_is_object (obj));
  json_decref (j);
  assert_int_equal (berth_req_exec (REQ ("{\"process\":[]}"), &obj, &tty, &err), -1);
  berth_error_release (&err);
  json_decref (j);
  assert_int_equal (berth_req_update (REQ ("{\"resources\":1}"), &obj, &err), -1);
  berth_error_release (&err);
  json_decref (j);
  assert_int_equal (berth_req_target (REQ ("{}"), &id, &err), 0);
  assert_null (id);
  json_decref (j);
  assert_int_equal (berth_req_target (REQ ("{\"container\":\"m1\"}"), &id, &err), 0);
  assert_string_equal (id, "m1");
  json_decref (j);
  assert_int_equal (berth_req_target (REQ ("{\"container\":\"m\\u00001\"}"), &id, &err), -1);
  berth_error_release (&err);
  json_decref (j);
  assert_int_equal (berth_req_clock (REQ ("{\"sec\":1796000000,\"nsec\":5}"), &ts, &err), 0);
  assert_true (ts.tv_sec == 1796000000 && ts.tv_nsec == 5);
  json_decref (j);
  assert_int_equal (berth_req_clock (REQ ("{\"sec\":1,\"nsec\":1000000000}"), &ts, &err), -1);
  berth_error_release (&err);
  json_decref (j);
  {
    struct berth_req_archive a;
    const char *dest, *base;
    assert_int_equal (berth_req_archive (REQ ("{\"what\":\"path\",\"path\":\"/etc\",\"owner\":1000}"), &a, &err), 0);
    assert_true (a.what == BERTH_ARCHIVE_PATH && strcmp (a.path, "/etc") == 0 && a.owner == 1000);
    json_decref (j);
    assert_int_equal (berth_req_archive (REQ ("{\"what\":\"upper\",\"freeze\":true}"), &a, &err), 0);
    assert_true (a.what == BERTH_ARCHIVE_UPPER && a.freeze);
    json_decref (j);
    assert_int_equal (berth_req_archive (REQ ("{\"what\":\"path\",\"path\":\"etc\"}"), &a, &err), -1);
    berth_error_release (&err);
    json_decref (j);
    assert_int_equal (berth_req_archive (REQ ("{\"what\":\"everything\"}"), &a, &err), -1);
    berth_error_release (&err);
    json_decref (j);
    assert_int_equal (berth_req_extract (REQ ("{\"dest\":\"/tmp\",\"src_base\":\"f.txt\"}"), &dest, &base, &err), 0);
    assert_string_equal (base, "f.txt");
    json_decref (j);
    assert_int_equal (berth_req_extract (REQ ("{\"dest\":\"/tmp\",\"src_base\":\"../f\"}"), &dest, &base, &err), -1);
    berth_error_release (&err);
    json_decref (j);
    assert_int_equal (berth_req_extract (REQ ("{\"dest\":\"/t\\u0000mp\"}"), &dest, &base, &err), -1);
    berth_error_release (&err);
    json_decref (j);
  }
#undef REQ
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (good_frames_parse),
    cmocka_unit_test (bad_headers_are_refused),
    cmocka_unit_test (bad_payloads_are_refused),
    cmocka_unit_test (reader_over_a_socket),
    cmocka_unit_test (fuzz),
    cmocka_unit_test (base64),
    cmocka_unit_test (create_requests),
    cmocka_unit_test (other_requests),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
