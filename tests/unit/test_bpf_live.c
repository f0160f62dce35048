/* The cgroup v2 device filter, loaded into this kernel and attached to a
   real cgroup2 directory: the verifier must accept the program and the
   kernel must enforce it.  Needs root and a cgroup2 mount; skipped
   otherwise (this is the one unit test that touches the system). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/runtime/cgroup_bpf.h"
#include "lib/base/utils.h"

static char dir[256];

static const char *
cgroup2_root (void)
{
  static const char *cands[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
  struct statfs st;
  for (size_t i = 0; i < 2; i++)
    if (statfs (cands[i], &st) == 0 && st.f_type == 0x63677270)
      return cands[i];
  return NULL;
}

static void
filter_is_enforced (void **state)
{
  const char *root = cgroup2_root ();
  json_error_t jerr;
  json_t *rules;
  berth_err_t err = NULL;
  pid_t pid;
  int status;

  if (geteuid () != 0 || root == NULL)
    skip ();
  snprintf (dir, sizeof (dir), "%s/berth-unit-bpf-%d", root, getpid ());
  assert_int_equal (mkdir (dir, 0755), 0);
  /* deny everything, then allow reading /dev/zero only */
  rules = json_loads (
      "[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":5,\"access\":\"r\"}]",
      0, &jerr);
  if (berth_cgroup_bpf_devices (dir, rules, NULL, 0, &err) < 0)
    {
      rmdir (dir);
      fail_msg ("%s", err->msg);
    }
  json_decref (rules);
  pid = fork ();
  if (pid == 0)
    {
      char p[300], me[16];
      int fd, e1, e2, ok;
      snprintf (p, sizeof (p), "%s/cgroup.procs", dir);
      snprintf (me, sizeof (me), "%d", getpid ());
      fd = open (p, O_WRONLY);
      if (fd < 0 || write (fd, me, strlen (me)) < 0)
        _exit (10);
      close (fd);
      fd = open ("/dev/null", O_WRONLY);
      e1 = fd < 0 ? errno : 0;
      fd = open ("/dev/zero", O_WRONLY);
      e2 = fd < 0 ? errno : 0;
      ok = open ("/dev/zero", O_RDONLY) >= 0;
      _exit (e1 == EPERM && e2 == EPERM && ok ? 0 : 20);
    }
  assert_true (pid > 0);
  waitpid (pid, &status, 0);
  rmdir (dir);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (filter_is_enforced) };
  return cmocka_run_group_tests_name ("bpf_live", tests, NULL, NULL);
}
