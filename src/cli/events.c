/* berth events: the journal of container and image events (base/events.c),
   past ones between --since and --until, then new ones as they happen
   until --until (or an interrupt), as docker events streams them. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lib/base/utils.h"

static const char *const event_filter_keys[] = { "type", "event", "container", "image", "label", NULL };

static const char *
attr (json_t *ev, const char *key)
{
  return json_string_value (json_object_get (json_object_get (json_object_get (ev, "Actor"), "Attributes"), key));
}

static bool
event_filter (const char *key, const char *value, json_t *ev, void *ctx)
{
  const char *type = json_string_value (json_object_get (ev, "Type")) ?: "";
  const char *id = json_string_value (json_object_get (json_object_get (ev, "Actor"), "ID")) ?: "";
  (void)ctx;
  if (strcmp (key, "type") == 0)
    return strcmp (type, value) == 0;
  if (strcmp (key, "event") == 0)
    return strcmp (json_string_value (json_object_get (ev, "Action")) ?: "", value) == 0;
  if (strcmp (key, "container") == 0)
    return strcmp (type, "container") == 0
           && ((strlen (value) >= 4 && strncmp (id, value, strlen (value)) == 0)
               || strcmp (attr (ev, "name") ?: "", value) == 0);
  if (strcmp (key, "image") == 0)
    {
      cleanup_free char *want = NULL;
      const char *name = strcmp (type, "image") == 0 ? attr (ev, "name") : attr (ev, "image");
      if (name && strcmp (name, value) == 0)
        return true;
      /* "busybox" is docker.io/library/busybox:latest, as pulls name it. */
      want = xasprintf (strchr (value, ':') ? "docker.io/library/%s" : "docker.io/library/%s:latest", value);
      return (name && strcmp (name, want) == 0) || strcmp (id, value) == 0;
    }
  {
    const char *eq = strchr (value, '=');
    cleanup_free char *k = eq ? strndup (value, (size_t)(eq - value)) : xstrdup (value);
    const char *v = attr (ev, k);
    return v && (eq == NULL || strcmp (v, eq + 1) == 0);
  }
}

struct events_opts
{
  bool since_set, until_set;
  long long since, until;
  const char *format; /* NULL: docker's text line */
  struct cli_filters filters;
};

/* docker's line: TIME TYPE ACTION ID (k=v, ...), attributes by name. */
static void
print_text (json_t *ev)
{
  long long ns = json_integer_value (json_object_get (ev, "timeNano"));
  time_t sec = (time_t)(ns / 1000000000);
  struct tm tm;
  char when[40];
  json_t *attrs = json_object_get (json_object_get (ev, "Actor"), "Attributes");
  const char **keys = xcalloc (json_object_size (attrs) + 1, sizeof (char *));
  const char *k;
  json_t *v;
  size_t n = 0;
  gmtime_r (&sec, &tm);
  strftime (when, sizeof (when), "%Y-%m-%dT%H:%M:%S", &tm);
  printf ("%s.%09lldZ %s %s %s", when, ns % 1000000000, json_string_value (json_object_get (ev, "Type")) ?: "",
          json_string_value (json_object_get (ev, "Action")) ?: "",
          json_string_value (json_object_get (json_object_get (ev, "Actor"), "ID")) ?: "");
  json_object_foreach (attrs, k, v) keys[n++] = k;
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp (keys[j - 1], keys[j]) > 0; j--)
      {
        const char *t = keys[j];
        keys[j] = keys[j - 1];
        keys[j - 1] = t;
      }
  for (size_t i = 0; i < n; i++)
    printf ("%s%s=%s", i ? ", " : " (", keys[i], json_string_value (json_object_get (attrs, keys[i])) ?: "");
  printf ("%s\n", n ? ")" : "");
  free (keys);
}

/* One journal line: printed if it is in the window and passes the
   filters; 0, or -1 (said) when the template fails on it. */
static int
show (const char *line, const struct events_opts *o)
{
  json_t *ev = json_loads (line, 0, NULL);
  long long ns = json_integer_value (json_object_get (ev, "timeNano"));
  berth_err_t err = NULL;
  int ret = 0;
  if (!json_is_object (ev) || (o->since_set && ns < o->since) || (o->until_set && ns > o->until)
      || !cli_filters_match (&o->filters, event_filter, ev, NULL))
    {
      json_decref (ev);
      return 0;
    }
  if (o->format == NULL)
    print_text (ev);
  else if (strcmp (o->format, "json") == 0 || strcmp (o->format, "{{json .}}") == 0)
    {
      json_dumpf (ev, stdout, JSON_COMPACT);
      putchar ('\n');
    }
  else if (cli_format_json_lenient (o->format, ev, stdout, &err) < 0)
    {
      cli_error (&err);
      ret = -1;
    }
  fflush (stdout);
  json_decref (ev);
  return ret;
}

static long long
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
cmd_events (int argc, char **argv)
{
  static const struct option opts[] = { { "since", required_argument, NULL, 's' },
                                        { "until", required_argument, NULL, 'u' },
                                        { "filter", required_argument, NULL, 'f' },
                                        { "format", required_argument, NULL, 'F' },
                                        { NULL, 0, NULL, 0 } };
  struct events_opts o = { .filters = { .cmd = "events", .keys = event_filter_keys } };
  berth_err_t err = NULL;
  cleanup_free char *path = NULL;
  char *line = NULL;
  size_t cap = 0;
  FILE *f = NULL;
  int c, rc = 0;
  if (cli_help (argc, argv, "events [--since WHEN] [--until WHEN] [--filter K=V] [--format json|TEMPLATE]",
                "  WHEN: an RFC 3339 time, a Unix time, or a duration before now (10m)\n"
                "  --filter type=container|image, event=ACTION, container=NAME|ID, image=NAME, label=K[=V]\n"
                "  Without --until, new events follow until interrupted.\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "f:", opts, NULL)) != -1)
    switch (c)
      {
      case 's':
      case 'u':
        if (cli_parse_when (c == 's' ? "since" : "until", optarg, c == 's' ? &o.since : &o.until, &err) < 0)
          return cli_error (&err);
        *(c == 's' ? &o.since_set : &o.until_set) = true;
        break;
      case 'f':
        if ((rc = cli_filter_add (&o.filters, optarg)) != 0)
          return rc;
        break;
      case 'F':
        o.format = optarg;
        break;
      default:
        return cli_usage ("events", "unknown option");
      }
  if (optind != argc)
    return cli_usage ("events", "takes no arguments");
  if (o.format && strcmp (o.format, "json") != 0)
    {
      /* Checked on a sample before anything is printed. */
      json_t *sample = json_pack ("{s:s,s:s,s:{s:s,s:{}},s:s,s:I,s:I,s:s,s:s,s:s}", "Type", "container", "Action",
                                  "start", "Actor", "ID", "0", "Attributes", "scope", "local", "time", (json_int_t)0,
                                  "timeNano", (json_int_t)0, "status", "start", "id", "0", "from", "");
      /* Attributes differ by event: any key may be asked there. */
      FILE *null = fopen ("/dev/null", "we");
      int r = null ? cli_format_json_lenient (o.format, sample, null, &err) : 0;
      if (null)
        fclose (null);
      json_decref (sample);
      if (!strstr (o.format, "{{"))
        return cli_usage ("events", "--format: \"%s\" is neither json nor a template", o.format);
      if (r < 0)
        return cli_error (&err);
    }
  path = xasprintf ("%s/events.jsonl", cli.root);
  {
    cleanup_free char *old = xasprintf ("%s.1", path);
    FILE *of = fopen (old, "re");
    while (of && getline (&line, &cap, of) > 0)
      if (show (line, &o) < 0)
        {
          rc = 125;
          break;
        }
    if (of)
      fclose (of);
  }
  f = fopen (path, "re");
  for (;;)
    {
      while (rc == 0 && f && getline (&line, &cap, f) > 0)
        if (show (line, &o) < 0)
          rc = 125;
      if (rc != 0 || (o.until_set && now_ns () > o.until))
        break;
      /* The journal was rotated: the rest of the old file is read above. */
      if (cli_follow_reopen (&f, path))
        continue;
      if (f)
        clearerr (f);
      usleep (100 * 1000);
    }
  free (line);
  if (f)
    fclose (f);
  return rc;
}
