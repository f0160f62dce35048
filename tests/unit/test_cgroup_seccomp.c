/* cgroup path handling, the v2 device filter and seccomp compilation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/runtime/cgroup.h"
#include "lib/runtime/cgroup_bpf.h"
#include "lib/runtime/seccomp.h"
#include "lib/base/utils.h"

static void
cgroup_paths (void **state)
{
  char *p = NULL;
  berth_err_t err = NULL;
  assert_int_equal (berth_cgroup_resolve_path (NULL, "abc", false, &p, &err), 0);
  assert_string_equal (p, "/berth/abc");
  free (p);
  assert_int_equal (berth_cgroup_resolve_path ("system.slice:berth:abc", "abc", true, &p, &err), 0);
  assert_string_equal (p, "/system.slice/berth-abc.scope");
  free (p);
  assert_int_equal (berth_cgroup_resolve_path ("a-b-c.slice:p:n", "x", true, &p, &err), 0);
  assert_string_equal (p, "/a.slice/a-b.slice/a-b-c.slice/p-n.scope");
  free (p);
  assert_int_equal (berth_cgroup_resolve_path ("/x/../../etc", "x", false, &p, &err), -1);
  assert_non_null (strstr (err->msg, "must not contain"));
  berth_error_release (&err);
}

/* runc's rules for systemd's slice:prefix:name. */
static void
systemd_unit_names (void **state)
{
  static const struct
  {
    const char *in, *slice, *unit, *path;
  } good[] = {
    { NULL, "system.slice", "berth-id1.scope", "/system.slice/berth-id1.scope" },
    { ":p:n", "system.slice", "p-n.scope", "/system.slice/p-n.scope" },
    { "kubepods-burstable-pod12.slice:cri-containerd:abc", "kubepods-burstable-pod12.slice", "cri-containerd-abc.scope",
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/cri-containerd-abc.scope" },
    { "-.slice:p:n", "-.slice", "p-n.scope", "/p-n.scope" },
    { "machine.slice::n", "machine.slice", "n.scope", "/machine.slice/n.scope" },
  };
  static const char *bad[] = { "a--b.slice:p:n",  "-a.slice:p:n",           "a-.slice:p:n",      "noslice:p:n",
                               ".slice:p:n",      "a/b.slice:p:n",          "system.slice:p",    "system.slice:p:n:x",
                               "system.slice:p:", "system.slice:p:n.slice", "system.slice:p:a/b" };
  berth_err_t err = NULL;
  for (size_t i = 0; i < ARRAY_SIZE (good); i++)
    {
      char *slice = NULL, *unit = NULL, *path = NULL;
      assert_int_equal (berth_systemd_parse_path (good[i].in, "id1", &slice, &unit, &path, &err), 0);
      assert_string_equal (slice, good[i].slice);
      assert_string_equal (unit, good[i].unit);
      assert_string_equal (path, good[i].path);
      free (slice);
      free (unit);
      free (path);
    }
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      char *slice = NULL, *unit = NULL, *path = NULL;
      assert_int_equal (berth_systemd_parse_path (bad[i], "id1", &slice, &unit, &path, &err), -1);
      assert_non_null (strstr (err->msg, "linux.cgroupsPath"));
      assert_non_null (strstr (err->msg, bad[i]));
      berth_error_release (&err);
      assert_null (unit);
    }
}

static void
device_filter_program (void **state)
{
  json_error_t jerr;
  json_t *rules = json_loads ("[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,"
                              "\"minor\":3,\"access\":\"rw\"}]",
                              0, &jerr);
  const char *extra[] = { "c 136:* rwm" };
  struct bpf_insn *prog = NULL;
  berth_err_t err = NULL;
  int n = berth_bpf_devices_program (rules, extra, 1, &prog, &err);
  assert_true (n > 8);
  /* The program ends in "deny" and every jump stays inside it. */
  assert_int_equal (prog[n - 1].code, BPF_JMP | BPF_EXIT);
  assert_int_equal (prog[n - 2].imm, 0);
  for (int i = 0; i < n; i++)
    if ((prog[i].code & 0x07) == BPF_JMP && (prog[i].code & 0xf0) == BPF_JNE)
      assert_true (i + 1 + prog[i].off < n);
  free (prog);
  json_decref (rules);
  rules = json_loads ("[{\"allow\":true,\"type\":\"x\"}]", 0, &jerr);
  assert_int_equal (berth_bpf_devices_program (rules, NULL, 0, &prog, &err), -1);
  assert_non_null (strstr (err->msg, "devices[0].type"));
  berth_error_release (&err);
  json_decref (rules);
}

static void
seccomp_profiles (void **state)
{
  json_error_t jerr;
  scmp_filter_ctx ctx = NULL;
  berth_err_t err = NULL;
  json_t *ok = json_loads (
      "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
      "\"syscalls\":[{\"names\":[\"getcwd\",\"no_such_call\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1},"
      "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_"
      "NE\"},"
      "{\"index\":0,\"value\":131072,\"op\":\"SCMP_CMP_NE\"}]}]}",
      0, &jerr);
  json_t *bad_action = json_loads (
      "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_NOPE\"}]}", 0,
      &jerr);
  json_t *bad_arch
      = json_loads ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_VAX\"]}", 0, &jerr);
  json_t *bad_op = json_loads (
      "{\"defaultAction\":\"SCMP_ACT_KILL\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\","
      "\"args\":[{\"index\":9,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
      0, &jerr);
  assert_int_equal (berth_seccomp_build (ok, &ctx, &err), 0);
  seccomp_release (ctx);
  assert_int_equal (berth_seccomp_build (bad_action, &ctx, &err), -1);
  assert_string_equal (err->msg, "linux.seccomp.syscalls[0]: unknown seccomp action \"SCMP_ACT_NOPE\"");
  berth_error_release (&err);
  assert_int_equal (berth_seccomp_build (bad_arch, &ctx, &err), -1);
  assert_non_null (strstr (err->msg, "architectures[0]"));
  berth_error_release (&err);
  assert_int_equal (berth_seccomp_build (bad_op, &ctx, &err), -1);
  assert_non_null (strstr (err->msg, "args[0].index"));
  berth_error_release (&err);
  json_decref (ok);
  json_decref (bad_action);
  json_decref (bad_arch);
  json_decref (bad_op);
}

/* A program compiled in one place (a VM's host) and loaded as is in
   another (its guest) denies what the profile denies; profiles that need
   libseccomp's own load are left to it. */
static void
seccomp_exported (void **state)
{
  json_error_t jerr;
  berth_err_t err = NULL;
  void *bpf = NULL;
  size_t len = 0;
  pid_t pid;
  int status;
  json_t *deny = json_loads ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
                             "\"syscalls\":[{\"names\":[\"getcwd\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13}]}",
                             0, &jerr);
  json_t *flagged
      = json_loads ("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"]}", 0, &jerr);
  json_t *notify = json_loads (
      "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}", 0,
      &jerr);
  json_t *broken = json_loads ("{\"defaultAction\":\"SCMP_ACT_NOPE\"}", 0, &jerr);
  (void)state;
  assert_int_equal (berth_seccomp_export (deny, &bpf, &len, &err), 1);
  assert_true (len > 0 && len % 8 == 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      char buf[256];
      berth_err_t e2 = NULL;
      if (berth_seccomp_load_program (bpf, len, &e2) < 0)
        _exit (2);
      /* Denied with the profile's errno; everything else still works. */
      _exit (getcwd (buf, sizeof (buf)) == NULL && errno == 13 && getpid () > 0 ? 0 : 1);
    }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  free (bpf);
  assert_int_equal (berth_seccomp_export (flagged, &bpf, &len, &err), 0);
  assert_null (bpf);
  assert_int_equal (berth_seccomp_export (notify, &bpf, &len, &err), 0);
  assert_int_equal (berth_seccomp_export (broken, &bpf, &len, &err), 0);
  assert_null (err);
  /* Not a whole number of instructions: refused before the kernel. */
  assert_int_equal (berth_seccomp_load_program ("1234567", 7, &err), -1);
  berth_error_release (&err);
  json_decref (deny);
  json_decref (flagged);
  json_decref (notify);
  json_decref (broken);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (cgroup_paths),          cmocka_unit_test (systemd_unit_names),
    cmocka_unit_test (device_filter_program), cmocka_unit_test (seccomp_profiles),
    cmocka_unit_test (seccomp_exported),
  };
  return cmocka_run_group_tests_name ("cgroup_seccomp", tests, NULL, NULL);
}
