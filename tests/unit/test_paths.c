/* Path resolution inside a root: no symlink, "..", or absolute path may
   leave it (CVE-2021-30465 and hostile image layers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <unistd.h>

#include "lib/base/utils.h"

static char base[256];
static char root[300];
static int rootfd = -1;

static int
setup (void **state)
{
  char p[600];
  strcpy (base, "/tmp/berth-unit-XXXXXX");
  if (mkdtemp (base) == NULL)
    return -1;
  snprintf (root, sizeof (root), "%s/root", base);
  mkdir (root, 0755);
  snprintf (p, sizeof (p), "%s/etc", root);
  mkdir (p, 0755);
  snprintf (p, sizeof (p), "%s/etc/passwd", root);
  close (open (p, O_CREAT | O_WRONLY, 0644));
  snprintf (p, sizeof (p), "%s/outside", base);
  close (open (p, O_CREAT | O_WRONLY, 0644));
  snprintf (p, sizeof (p), "%s/abs", root);
  symlink ("/etc", p);
  snprintf (p, sizeof (p), "%s/rel", root);
  symlink ("../../../../../etc", p);
  snprintf (p, sizeof (p), "%s/toroot", root);
  symlink ("/", p);
  snprintf (p, sizeof (p), "%s/loop", root);
  symlink ("loop", p);
  rootfd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return rootfd < 0 ? -1 : 0;
}

static int
teardown (void **state)
{
  berth_err_t err = NULL;
  close (rootfd);
  rm_rf_at (AT_FDCWD, base, &err);
  berth_error_release (&err);
  return 0;
}

static void
assert_same_file (int fd, const char *path)
{
  struct stat a, b;
  assert_int_equal (fstat (fd, &a), 0);
  assert_int_equal (stat (path, &b), 0);
  assert_true (a.st_ino == b.st_ino && a.st_dev == b.st_dev);
}

static void
symlinks_stay_inside (void **state)
{
  char want[600];
  const char *paths[]
      = { "abs/passwd", "rel/passwd", "toroot/etc/passwd", "/../../etc/passwd", "etc/../../etc/passwd" };
  snprintf (want, sizeof (want), "%s/etc/passwd", root);
  for (size_t i = 0; i < sizeof (paths) / sizeof (paths[0]); i++)
    {
      berth_err_t err = NULL;
      int fd = open_in_root (rootfd, paths[i], O_PATH, 0, &err);
      if (fd < 0)
        fail_msg ("%s: %s", paths[i], err->msg);
      assert_same_file (fd, want);
      close (fd);
      /* The fallback walker must agree with openat2. */
      fd = berth_open_in_root_walk (rootfd, paths[i], O_PATH, 0);
      if (fd < 0)
        fail_msg ("walk %s: %s", paths[i], strerror (errno));
      assert_same_file (fd, want);
      close (fd);
    }
}

static void
cannot_reach_outside (void **state)
{
  berth_err_t err = NULL;
  assert_true (open_in_root (rootfd, "../outside", O_PATH, 0, &err) < 0);
  assert_int_equal (err->status, ENOENT);
  berth_error_release (&err);
  assert_true (berth_open_in_root_walk (rootfd, "../outside", O_PATH, 0) < 0);
  assert_int_equal (errno, ENOENT);
  assert_true (open_in_root (rootfd, "loop/x", O_PATH, 0, &err) < 0);
  assert_int_equal (err->status, ELOOP);
  berth_error_release (&err);
}

static void
mkdir_through_symlink_lands_inside (void **state)
{
  char inside[600], host[600];
  berth_err_t err = NULL;
  int fd = mkdir_open_in_root (rootfd, "/abs/berth-made/deeper", false, &err);
  if (fd < 0)
    fail_msg ("%s", err->msg);
  close (fd);
  snprintf (inside, sizeof (inside), "%s/etc/berth-made/deeper", root);
  snprintf (host, sizeof (host), "/etc/berth-made");
  assert_int_equal (access (inside, F_OK), 0);
  assert_int_equal (access (host, F_OK), -1);
  fd = mkdir_open_in_root (rootfd, "rel/newfile", true, &err);
  if (fd < 0)
    fail_msg ("%s", err->msg);
  close (fd);
  snprintf (inside, sizeof (inside), "%s/etc/newfile", root);
  assert_int_equal (access (inside, F_OK), 0);
  assert_int_equal (access ("/etc/newfile", F_OK), -1);
}

static void
signals_parse (void **state)
{
  int s;
  assert_int_equal (parse_signal ("KILL", &s), 0);
  assert_int_equal (s, 9);
  assert_int_equal (parse_signal ("SIGTERM", &s), 0);
  assert_int_equal (s, 15);
  assert_int_equal (parse_signal ("9", &s), 0);
  assert_int_equal (s, 9);
  assert_int_equal (parse_signal ("sigusr1", &s), 0);
  assert_int_equal (s, 10);
  assert_int_equal (parse_signal ("NOPE", &s), -1);
  assert_int_equal (parse_signal ("0", &s), -1);
  assert_int_equal (parse_signal ("99", &s), -1);
}

static void
errors_carry_context (void **state)
{
  berth_err_t err = NULL, back = NULL;
  char buf[256];
  berth_error (&err, ENOENT, "open `%s`", "/x");
  berth_error_wrap (&err, "mounts[%d]", 2);
  assert_string_equal (err->msg, "mounts[2]: open `/x`: No such file or directory");
  assert_int_equal (err->status, ENOENT);
  berth_error_decode (&back, buf, (size_t)berth_error_encode (err, buf, sizeof (buf)));
  assert_string_equal (back->msg, err->msg);
  assert_int_equal (back->status, ENOENT);
  berth_error_release (&err);
  berth_error_release (&back);
  berth_error_decode (&back, "garbage", 7);
  assert_non_null (strstr (back->msg, "malformed"));
  berth_error_release (&back);
}

/* A missing record is told apart from an unreadable one by the open
   itself (a racing writer renames records into place). */
static void
json_records_load (void **state)
{
  berth_err_t err = NULL;
  json_t *j = NULL;
  char p[600];
  (void)state;
  snprintf (p, sizeof (p), "%s/rec.json", base);
  assert_int_equal (json_load_path (p, &j, &err), 1);
  assert_null (err);
  assert_null (j);
  assert_int_equal (write_file_atomic (p, "{\"a\": 1", 7, 0600, &err), 0);
  assert_int_equal (json_load_path (p, &j, &err), -1);
  assert_non_null (strstr (err->msg, "rec.json: line"));
  berth_error_release (&err);
  assert_int_equal (write_file_atomic (p, "{\"a\": 1}", 8, 0600, &err), 0);
  assert_int_equal (json_load_path (p, &j, &err), 0);
  assert_int_equal (json_integer_value (json_object_get (j, "a")), 1);
  json_decref (j);
  unlink (p);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (symlinks_stay_inside),
    cmocka_unit_test (cannot_reach_outside),
    cmocka_unit_test (mkdir_through_symlink_lands_inside),
    cmocka_unit_test (signals_parse),
    cmocka_unit_test (errors_carry_context),
    cmocka_unit_test (json_records_load),
  };
  return cmocka_run_group_tests_name ("paths", tests, setup, teardown);
}
