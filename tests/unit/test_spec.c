/* config.json parsing: every error names its field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/capability.h>
#include <sys/resource.h>

#include "lib/runtime/spec.h"
#include "lib/base/utils.h"

static const char *
parse_error (const char *text)
{
  static char buf[1024];
  struct berth_spec *spec = NULL;
  berth_err_t err = NULL;
  int r = berth_spec_load_string (text, strlen (text), "config.json", &spec, &err);
  assert_int_equal (r, -1);
  assert_null (spec);
  assert_non_null (err);
  snprintf (buf, sizeof (buf), "%s", err->msg);
  berth_error_release (&err);
  return buf;
}

static struct berth_spec *
parse_ok (const char *text)
{
  struct berth_spec *spec = NULL;
  berth_err_t err = NULL;
  int r = berth_spec_load_string (text, strlen (text), "config.json", &spec, &err);
  if (r < 0)
    fail_msg ("unexpected error: %s", err->msg);
  return spec;
}

static void
malformed_json_has_line_and_column (void **state)
{
  const char *m = parse_error ("{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {,\n}");
  assert_non_null (strstr (m, "config.json: line 3 column"));
}

static void
unknown_capability_names_the_field (void **state)
{
  /* A name that is no Linux capability maps to nothing: an error
     (runtime-spec), naming the field. */
  const char *m
      = parse_error ("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"],\"capabilities\":{\"bounding\":"
                     "[\"CAP_KILL\",\"CAP_CHOWN\",\"CAP_NET_RAW\",\"CAP_TEST\"]}}}");
  struct berth_spec *spec;
  assert_string_equal (m, "config.json: process.capabilities.bounding[3]: unknown capability \"CAP_TEST\"");
  m = parse_error ("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"],\"capabilities\":{\"bounding\":"
                   "[\"CAP_KILL\",\"KILL\"]}}}");
  assert_string_equal (m, "config.json: process.capabilities.bounding[1]: \"KILL\" is not a capability name (CAP_...)");
  /* A real capability newer than the kernel (as BERTH_CAP_LAST pretends):
     left out, with a warning naming it. */
  setenv ("BERTH_CAP_LAST", "37", 1);
  spec = parse_ok ("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"],\"capabilities\":{"
                   "\"bounding\":[\"CAP_KILL\",\"CAP_BPF\"]}}}");
  unsetenv ("BERTH_CAP_LAST");
  assert_non_null (spec->process->warnings);
  assert_string_equal (spec->process->warnings,
                       "process.capabilities.bounding[1]: capability \"CAP_BPF\" is not known to this kernel: ignored");
  assert_true (spec->process->caps[CAP_SET_BOUNDING] & (1ULL << CAP_KILL));
  assert_false (spec->process->caps[CAP_SET_BOUNDING] & (1ULL << CAP_BPF));
  berth_spec_free (spec);
}

static void
wrong_type_names_the_field (void **state)
{
  assert_string_equal (parse_error ("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":\"sh\"}}"),
                       "config.json: process.args: expected an array, got a string");
  assert_string_equal (parse_error ("{\"ociVersion\":\"1.0.2\",\"mounts\":[{\"destination\":7}]}"),
                       "config.json: mounts[0].destination: expected a string, got an integer");
  assert_string_equal (parse_error ("{\"ociVersion\":\"1.0.2\",\"process\":{\"user\":{\"uid\":-1}}}"),
                       "config.json: process.user.uid: -1 is out of range [0, 4294967295]");
}

static void
missing_and_bad_values (void **state)
{
  assert_string_equal (parse_error ("{\"process\":{}}"), "config.json: ociVersion: required field is missing");
  assert_non_null (strstr (parse_error ("{\"ociVersion\":\"2.0.0\"}"), "unsupported version"));
  assert_string_equal (parse_error ("{\"ociVersion\":\"1.0.0\",\"linux\":{\"namespaces\":[{\"type\":\"foo\"}]}}"),
                       "config.json: linux.namespaces[0].type: unknown namespace \"foo\"");
  assert_string_equal (
      parse_error ("{\"ociVersion\":\"1.0.0\",\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\"}]}}"),
      "config.json: linux.namespaces[1].type: namespace \"pid\" is given twice");
  assert_string_equal (
      parse_error (
          "{\"ociVersion\":\"1.0.0\",\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_FOO\",\"soft\":1,\"hard\":1}]}}"),
      "config.json: process.rlimits[0].type: unknown rlimit \"RLIMIT_FOO\"");
  assert_string_equal (
      parse_error ("{\"ociVersion\":\"1.0.0\",\"hooks\":{\"prestart\":[{\"path\":\"/bin/true\",\"timeout\":0}]}}"),
      "config.json: hooks.prestart[0].timeout: must be greater than zero");
  assert_string_equal (parse_error ("{\"ociVersion\":\"1.0.0\",\"hostname\":\"x\"}"),
                       "config.json: hostname: setting a hostname needs a new uts namespace in linux.namespaces");
  assert_string_equal (parse_error ("{\"ociVersion\":\"1.0.0\",\"process\":{\"cwd\":\"tmp\"}}"),
                       "config.json: process.cwd: \"tmp\" is not an absolute path");
  assert_string_equal (parse_error ("{\"ociVersion\":\"1.0.0\",\"process\":{\"env\":[\"NOEQUALS\"]}}"),
                       "config.json: process.env[0]: \"NOEQUALS\" is not of the form NAME=VALUE");
}

static void
full_spec_parses (void **state)
{
  struct berth_spec *s = parse_ok (
      "{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"h\","
      "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/"
      "\",\"user\":{\"uid\":1,\"gid\":2,\"additionalGids\":[3,4],\"umask\":18},"
      "\"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"ambient\":[\"CAP_CHOWN\"]},"
      "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":20},"
      "{\"type\":\"RLIMIT_CORE\",\"soft\":18446744073709551615,\"hard\":18446744073709551615}],"
      "\"noNewPrivileges\":true,\"oomScoreAdj\":100},"
      "\"mounts\":[{\"destination\":\"/"
      "tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"ro\",\"size=1k\",\"rshared\"]}],"
      "\"linux\":{\"namespaces\":[{\"type\":\"uts\"},{\"type\":\"mount\"},{\"type\":\"user\"}],"
      "\"uidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":10}],\"gidMappings\":[{\"containerID\":0,"
      "\"hostID\":1000,\"size\":10}],"
      "\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},\"devices\":[{\"type\":\"c\",\"path\":\"/dev/"
      "fuse\",\"major\":10,\"minor\":229}]}}");
  assert_true (s->root_readonly);
  assert_int_equal (s->process->uid, 1);
  assert_int_equal (s->process->n_additional_gids, 2);
  assert_int_equal (s->process->umask, 18);
  assert_int_equal (s->process->caps[CAP_SET_BOUNDING], 1ULL << 5);
  assert_int_equal (s->process->n_rlimits, 2);
  assert_int_equal (s->process->rlimits[0].resource, RLIMIT_NOFILE);
  assert_true (s->process->rlimits[1].hard == RLIM_INFINITY);
  assert_int_equal (s->n_mounts, 1);
  assert_int_equal (s->mounts[0].flags, MS_NOSUID | MS_RDONLY);
  assert_int_equal (s->mounts[0].propagation, MS_SHARED | MS_REC);
  assert_string_equal (s->mounts[0].data, "size=1k");
  assert_int_equal (s->n_uid_maps, 1);
  assert_int_equal (s->uid_maps[0].host_id, 1000);
  assert_int_equal (s->n_sysctls, 1);
  assert_int_equal (s->n_devices, 1);
  assert_int_equal (s->devices[0].major, 10);
  berth_spec_free (s);
}

static void
mount_options (void **state)
{
  struct berth_mount m = { .type = (char *)"bind" };
  char *opts[] = { (char *)"rbind", (char *)"ro", (char *)"rw", (char *)"nodev", (char *)"private", NULL };
  berth_err_t err = NULL;
  m.options = opts;
  assert_int_equal (berth_parse_mount_options (&m, "mounts[0]", &err), 0);
  assert_true (m.bind);
  assert_true (m.recursive);
  assert_false (m.readonly);
  assert_int_equal (m.flags, MS_NODEV);
  assert_int_equal (m.clear_flags, MS_RDONLY);
  assert_int_equal (m.propagation, MS_PRIVATE);
  assert_null (m.data);
}

static void
capability_names (void **state)
{
  assert_int_equal (berth_cap_from_name ("CAP_SYS_ADMIN"), 21);
  assert_int_equal (berth_cap_from_name ("CAP_sys_admin"), 21);
  assert_int_equal (berth_cap_from_name ("SYS_ADMIN"), -1);
  assert_int_equal (berth_cap_from_name ("CAP_TEST"), -1);
  assert_int_equal (berth_cap_from_name ("CAP_21"), -1);
  assert_string_equal (berth_cap_name (0), "CAP_CHOWN");
}

static void
default_spec_is_valid (void **state)
{
  json_t *j = berth_spec_default (false);
  struct berth_spec *s = NULL;
  berth_err_t err = NULL;
  assert_int_equal (berth_spec_from_json (j, &s, &err), 0);
  assert_false (s->process->terminal);
  assert_int_equal (s->n_namespaces, 6);
  berth_spec_free (s);
  json_decref (j);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (malformed_json_has_line_and_column),
    cmocka_unit_test (unknown_capability_names_the_field),
    cmocka_unit_test (wrong_type_names_the_field),
    cmocka_unit_test (missing_and_bad_values),
    cmocka_unit_test (full_spec_parses),
    cmocka_unit_test (mount_options),
    cmocka_unit_test (capability_names),
    cmocka_unit_test (default_spec_is_valid),
  };
  return cmocka_run_group_tests_name ("spec", tests, NULL, NULL);
}
