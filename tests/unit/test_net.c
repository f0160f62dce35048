/* -p, --expose and subnets parse as docker's do, and bad ones say why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "lib/net/net.h"
#include "lib/base/utils.h"

/* SPEC's bindings as "key=ip:port key=ip:port ..." in key order. */
static char *
publish (const char *spec)
{
  json_t *b = json_object ();
  berth_err_t err = NULL;
  const char *key;
  json_t *list;
  char *out = xstrdup ("");
  if (berth_net_parse_publish (spec, b, &err) < 0)
    fail_msg ("%s: %s", spec, err->msg);
  json_object_foreach (b, key, list)
  {
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v)
    {
      char *n
          = xasprintf ("%s%s%s=%s:%s", out, out[0] ? " " : "", key, json_string_value (json_object_get (v, "HostIp")),
                       json_string_value (json_object_get (v, "HostPort")));
      free (out);
      out = n;
    }
  }
  json_decref (b);
  return out;
}

static void
want (const char *spec, const char *expected)
{
  char *got = publish (spec);
  if (strcmp (got, expected) != 0)
    fail_msg ("%s: got \"%s\", want \"%s\"", spec, got, expected);
  free (got);
}

static void
refused (const char *spec, const char *why)
{
  json_t *b = json_object ();
  berth_err_t err = NULL;
  if (berth_net_parse_publish (spec, b, &err) == 0)
    fail_msg ("%s was accepted", spec);
  if (strstr (err->msg, why) == NULL)
    fail_msg ("%s: \"%s\" does not say \"%s\"", spec, err->msg, why);
  berth_error_release (&err);
  json_decref (b);
}

static void
publish_forms (void **state)
{
  (void)state;
  want ("80", "80/tcp=:");
  want ("8080:80", "80/tcp=:8080");
  want ("127.0.0.1:8080:80/udp", "80/udp=127.0.0.1:8080");
  want ("127.0.0.1::80", "80/tcp=127.0.0.1:");
  want ("8000-8001:80-81", "80/tcp=:8000 81/tcp=:8001");
  want ("8000-8010:80", "80/tcp=:8000-8010");
  want ("90-91", "90/tcp=: 91/tcp=:");
}

static void
publish_refusals (void **state)
{
  (void)state;
  refused ("80/sctp", "tcp or udp");
  refused ("0", "not a container port");
  refused ("65536", "not a container port");
  refused ("x:80", "not a host port");
  refused ("1.2.3:80:80", "not an IPv4 address");
  refused ("80-82:90-91", "ranges differ");
  refused ("90-80", "not a container port");
  refused ("::1:80:80", "IPv4 only");
}

static void
expose_and_cidr (void **state)
{
  json_t *p = json_object ();
  berth_err_t err = NULL;
  uint32_t a;
  int prefix;
  (void)state;
  assert_int_equal (berth_net_parse_expose ("80", p, &err), 0);
  assert_int_equal (berth_net_parse_expose ("53/udp", p, &err), 0);
  assert_int_equal (berth_net_parse_expose ("7000-7001/tcp", p, &err), 0);
  assert_int_equal (json_object_size (p), 4);
  assert_non_null (json_object_get (p, "53/udp"));
  assert_non_null (json_object_get (p, "7001/tcp"));
  assert_int_equal (berth_net_parse_expose ("80/icmp", p, &err), -1);
  berth_error_release (&err);
  json_decref (p);

  assert_int_equal (berth_net_parse_cidr ("10.88.0.0/16", &a, &prefix, &err), 0);
  assert_int_equal (prefix, 16);
  assert_int_equal (a, inet_addr ("10.88.0.0"));
  assert_int_equal (berth_net_parse_cidr ("10.88.0.1/16", &a, &prefix, &err), -1);
  assert_non_null (strstr (err->msg, "bits set beyond"));
  berth_error_release (&err);
  assert_int_equal (berth_net_parse_cidr ("10.88.0.0/31", &a, &prefix, &err), -1);
  berth_error_release (&err);
  assert_int_equal (berth_net_parse_cidr ("10.88.0.0", &a, &prefix, &err), -1);
  berth_error_release (&err);
  assert_int_equal (berth_net_parse_cidr ("300.0.0.0/8", &a, &prefix, &err), -1);
  berth_error_release (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (publish_forms),
    cmocka_unit_test (publish_refusals),
    cmocka_unit_test (expose_and_cidr),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
