/* Image references resolve as docker's do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "lib/base/digest.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

static void
canon (const char *in, const char *want)
{
  struct berth_ref *r = NULL;
  berth_err_t err = NULL;
  char *s;
  if (berth_ref_parse (in, &r, &err) < 0)
    fail_msg ("%s: %s", in, err->msg);
  s = berth_ref_string (r);
  if (strcmp (s, want) != 0)
    fail_msg ("%s: got %s, want %s", in, s, want);
  free (s);
  berth_ref_free (r);
}

static void
bad (const char *in)
{
  struct berth_ref *r = NULL;
  berth_err_t err = NULL;
  if (berth_ref_parse (in, &r, &err) == 0)
    fail_msg ("%s parsed", in);
  assert_non_null (strstr (err->msg, "invalid reference"));
  berth_error_release (&err);
}

static void
normalisation (void **state)
{
  const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char *with = xasprintf ("busybox@%s", d);
  char *want = xasprintf ("docker.io/library/busybox@%s", d);
  canon ("busybox", "docker.io/library/busybox:latest");
  canon ("busybox:1.36", "docker.io/library/busybox:1.36");
  canon ("library/busybox", "docker.io/library/busybox:latest");
  canon ("user/app", "docker.io/user/app:latest");
  canon ("index.docker.io/user/app:v2", "docker.io/user/app:v2");
  canon ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c");
  canon ("localhost/app", "localhost/app:latest");
  canon ("localhost:5000/app", "localhost:5000/app:latest");
  canon ("quay.io/a.b/c_d-e:t.1", "quay.io/a.b/c_d-e:t.1");
  canon (with, want);
  free (with);
  free (want);
  bad ("");
  bad ("Upper");
  bad ("a:b:c");
  bad ("a/../b");
  bad ("app@sha256:xyz");
  bad ("-leading");
  bad ("app:-tag");
}

static void
familiar_names (void **state)
{
  char *f = berth_ref_familiar ("docker.io/library/busybox:latest");
  assert_string_equal (f, "busybox:latest");
  free (f);
  f = berth_ref_familiar ("docker.io/user/app:1");
  assert_string_equal (f, "user/app:1");
  free (f);
  f = berth_ref_familiar ("127.0.0.1:5000/x:1");
  assert_string_equal (f, "127.0.0.1:5000/x:1");
  free (f);
}

static void
digests (void **state)
{
  char out[BERTH_DIGEST_LEN + 1];
  assert_int_equal (berth_sha256_of ("", 0, out, NULL), 0);
  assert_string_equal (out, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_true (berth_digest_valid (out));
  assert_false (berth_digest_valid ("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
  assert_false (berth_digest_valid ("sha256:../../../../etc/passwd"));
  assert_false (berth_digest_valid ("md5:d41d8cd98f00b204e9800998ecf8427e"));
}

/* XXH3-128 as xxhsum -H2 prints it, whole or fed in pieces. */
static void
checksums (void **state)
{
  char out[BERTH_CHECKSUM_LEN + 1];
  struct berth_checksum *h = berth_checksum_new ();
  (void)state;
  berth_checksum_final (h, out);
  assert_string_equal (out, "xxh3-128:99aa06d3014798d86001c324468d497f");
  h = berth_checksum_new ();
  berth_checksum_update (h, "a", 1);
  berth_checksum_update (h, "bc", 2);
  berth_checksum_final (h, out);
  assert_string_equal (out, "xxh3-128:06b05ab6733a618578af5f94892f3950");
  berth_checksum_free (NULL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (normalisation),
    cmocka_unit_test (familiar_names),
    cmocka_unit_test (digests),
    cmocka_unit_test (checksums),
  };
  return cmocka_run_group_tests_name ("reference", tests, NULL, NULL);
}
