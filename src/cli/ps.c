#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/engine/engine.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

/* docker's State: "paused" is a running container that is paused. */
static const char *
state_name (json_t *st)
{
  const char *s = json_string_value (json_object_get (st, "Status")) ?: "";
  return strcmp (s, "running") == 0 && json_is_true (json_object_get (st, "Paused")) ? "paused" : s;
}

static void
status_text (json_t *st, char *buf, size_t len)
{
  const char *s = json_string_value (json_object_get (st, "Status"));
  char ago[64];
  if (s && strcmp (s, "running") == 0)
    {
      cli_human_ago (json_string_value (json_object_get (st, "StartedAt")), ago, sizeof (ago));
      /* "Up 3 minutes": docker's wording from "3 minutes ago". */
      if (strstr (ago, " ago"))
        *strstr (ago, " ago") = '\0';
      {
        const char *h = json_string_value (json_object_get (json_object_get (st, "Health"), "Status"));
        char health[32] = "";
        if (h)
          snprintf (health, sizeof (health), strcmp (h, "starting") == 0 ? " (health: %s)" : " (%s)", h);
        snprintf (buf, len, "Up %s%s%s", ago, json_is_true (json_object_get (st, "Paused")) ? " (Paused)" : "", health);
      }
    }
  else if (s && strcmp (s, "restarting") == 0)
    {
      cli_human_ago (json_string_value (json_object_get (st, "FinishedAt")), ago, sizeof (ago));
      snprintf (buf, len, "Restarting (%lld) %s", (long long)json_integer_value (json_object_get (st, "ExitCode")),
                ago);
    }
  else if (s && strcmp (s, "exited") == 0)
    {
      cli_human_ago (json_string_value (json_object_get (st, "FinishedAt")), ago, sizeof (ago));
      snprintf (buf, len, "Exited (%lld) %s", (long long)json_integer_value (json_object_get (st, "ExitCode")), ago);
    }
  else
    snprintf (buf, len, "Created");
}

/* "0.0.0.0:8080->80/tcp, ...", as docker's PORTS column. */
static char *
ports_text (json_t *c)
{
  json_t *ports = json_object_get (json_object_get (c, "NetworkSettings"), "Ports"), *list, *b;
  const char *key;
  char *out = xstrdup ("");
  json_object_foreach (ports, key, list)
  {
    size_t i;
    json_array_foreach (list, i, b)
    {
      char *n = xasprintf ("%s%s%s:%s->%s", out, out[0] ? ", " : "",
                           json_string_value (json_object_get (b, "HostIp")) ?: "",
                           json_string_value (json_object_get (b, "HostPort")) ?: "", key);
      free (out);
      out = n;
    }
  }
  return out;
}

/* docker's ps filters berth's records carry. */
static const char *const ps_filter_keys[]
    = { "id", "name", "label", "status", "ancestor", "exited", "isolation", "health", NULL };

static bool
ps_filter (const char *key, const char *value, json_t *c, void *ctx)
{
  json_t *st = json_object_get (c, "State");
  (void)ctx;
  if (strcmp (key, "id") == 0)
    return strncmp (json_string_value (json_object_get (c, "Id")) ?: "", value, strlen (value)) == 0;
  if (strcmp (key, "name") == 0)
    return strstr (json_string_value (json_object_get (c, "Name")) ?: "", value) != NULL;
  if (strcmp (key, "label") == 0)
    return cli_filter_label (value, json_object_get (json_object_get (c, "Config"), "Labels"));
  if (strcmp (key, "status") == 0)
    return strcmp (state_name (st), value) == 0;
  if (strcmp (key, "exited") == 0)
    {
      char code[24];
      snprintf (code, sizeof (code), "%lld", (long long)json_integer_value (json_object_get (st, "ExitCode")));
      return strcmp (json_string_value (json_object_get (st, "Status")) ?: "", "exited") == 0
             && strcmp (code, value) == 0;
    }
  if (strcmp (key, "health") == 0)
    {
      /* docker's: starting, healthy, unhealthy, or none (no check). */
      const char *h = json_string_value (json_object_get (json_object_get (st, "Health"), "Status"));
      return strcmp (h ? h : "none", value) == 0;
    }
  if (strcmp (key, "isolation") == 0)
    return strcmp (json_string_value (json_object_get (c, "Isolation")) ?: "process", value) == 0;
  {
    /* ancestor: the image by name (without a tag: any tag of that
       repository), by its id or an id prefix. */
    const char *iid = json_string_value (json_object_get (c, "ImageID")) ?: "";
    struct berth_ref *want = NULL, *have = NULL;
    berth_err_t e = NULL;
    bool same = false;
    size_t vl;
    if (berth_ref_parse (value, &want, &e) == 0
        && berth_ref_parse (json_string_value (json_object_get (c, "Image")) ?: "", &have, &e) == 0)
      {
        cleanup_free char *wr = berth_ref_repository (want);
        cleanup_free char *hr = berth_ref_repository (have);
        cleanup_free char *ws = berth_ref_string (want);
        cleanup_free char *hs = berth_ref_string (have);
        same = strchr (value, ':') == NULL && strchr (value, '@') == NULL ? strcmp (wr, hr) == 0 : strcmp (ws, hs) == 0;
      }
    berth_error_release (&e);
    berth_ref_free (want);
    berth_ref_free (have);
    if (same)
      return true;
    if (strncmp (iid, "sha256:", 7) == 0)
      iid += 7;
    if (strncmp (value, "sha256:", 7) == 0)
      value += 7;
    vl = strlen (value);
    return vl >= 4 && strspn (value, "0123456789abcdef") == vl && strncmp (iid, value, vl) == 0;
  }
}

/* Values docker checks: a typo is an error, not an empty list. */
static int
ps_filter_add (struct cli_filters *f, char *arg)
{
  static const char *const states[]
      = { "created", "running", "paused", "restarting", "removing", "exited", "dead", NULL };
  if (strncmp (arg, "status=", 7) == 0)
    {
      const char *const *s = states;
      while (*s && strcmp (*s, arg + 7) != 0)
        s++;
      if (*s == NULL)
        return cli_usage ("ps",
                          "--filter: status \"%s\" is none of created, running, paused, restarting, removing, "
                          "exited, dead",
                          arg + 7);
    }
  if (strncmp (arg, "health=", 7) == 0 && strcmp (arg + 7, "starting") != 0 && strcmp (arg + 7, "healthy") != 0
      && strcmp (arg + 7, "unhealthy") != 0 && strcmp (arg + 7, "none") != 0)
    return cli_usage ("ps", "--filter: health \"%s\" is none of starting, healthy, unhealthy, none", arg + 7);
  if (strncmp (arg, "isolation=", 10) == 0 && strcmp (arg + 10, "process") != 0 && strcmp (arg + 10, "vm") != 0)
    return cli_usage ("ps", "--filter: isolation \"%s\" is neither process nor vm", arg + 10);
  if (strncmp (arg, "exited=", 7) == 0 && (arg[7] == '\0' || strspn (arg + 7, "0123456789") != strlen (arg + 7)))
    return cli_usage ("ps", "--filter: exited takes an exit code, not \"%s\"", arg + 7);
  return cli_filter_add (f, arg);
}

int
cmd_ps (int argc, char **argv)
{
  static const struct option opts[]
      = { { "all", no_argument, NULL, 'a' },          { "quiet", no_argument, NULL, 'q' },
          { "format", required_argument, NULL, 'f' }, { "no-trunc", no_argument, NULL, 'N' },
          { "filter", required_argument, NULL, 'F' }, { NULL, 0, NULL, 0 } };
  static const struct cli_field names[]
      = { { "ID", "" },    { "Names", "" }, { "Image", "" },     { "Command", "" },  { "Status", "" },
          { "State", "" }, { "Ports", "" }, { "Isolation", "" }, { "CreatedAt", "" } };
  struct cli_filters filters = { .cmd = "ps", .keys = ps_filter_keys };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  json_t *list = NULL, *broken = NULL, *c, *out = json_array ();
  bool all = false, quiet = false, notrunc = false;
  const char *format = "table";
  size_t i;
  int o;
  if (cli_help (argc, argv, "ps [-a] [-q] [--filter KEY=VALUE] [--format table|json|TEMPLATE] [--no-trunc]",
                "  --format 'table {{.ID}}\\t{{.Names}}' or '{{.Names}}': fields ID, Names, Image, Command, Status,\n"
                "           State, Ports, Isolation, CreatedAt; {{.Label \"key\"}}; {{json .}}\n"
                "  --filter id=, name=, label=KEY[=VALUE], status=, ancestor=IMAGE, exited=CODE,\n"
                "           isolation=process|vm (one key: any of them; several keys: all)\n"))
    return 0;
  while ((o = getopt_long (argc, argv, "aqf:", opts, NULL)) != -1)
    switch (o)
      {
      case 'a':
        all = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'f':
        format = optarg;
        break;
      case 'N':
        notrunc = true;
        break;
      case 'F':
        if ((o = ps_filter_add (&filters, optarg)) != 0)
          return o;
        break;
      default:
        return cli_usage ("ps", "unknown option");
      }
  if (optind != argc)
    return cli_usage ("ps", "takes no arguments");
  /* docker: a status filter looks at every container, as -a. */
  if (cli_filter_has (&filters, "status") || cli_filter_has (&filters, "exited"))
    all = true;
  if ((o = cli_format_begin ("ps", format, names, ARRAY_SIZE (names), quiet)) != 0)
    return o;
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_list_all (e, &list, &broken, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  {
    /* A record that cannot be read is said, never silently left out. */
    json_t *b;
    json_array_foreach (broken, i, b)
        fprintf (stderr, "berth: warning: container %.12s is left out: %s (berth rm -f %.12s removes it)\n",
                 json_string_value (json_object_get (b, "Id")), json_string_value (json_object_get (b, "Error")),
                 json_string_value (json_object_get (b, "Id")));
    json_decref (broken);
  }
  json_array_foreach (list, i, c)
  {
    const char *s = json_string_value (json_object_get (json_object_get (c, "State"), "Status"));
    if ((all || (s && strcmp (s, "running") == 0)) && cli_filters_match (&filters, ps_filter, c, NULL))
      json_array_append (out, c);
  }
  if (strcmp (format, "json") == 0)
    {
      json_dumpf (out, stdout, JSON_COMPACT);
      putchar ('\n');
    }
  else
    {
      bool tmpl = strcmp (format, "table") != 0;
      if (!tmpl && !quiet)
        printf ("%-12s   %-20s %-22s %-26s %-10s %-24s %s\n", "CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "ISOLATION",
                "PORTS", "NAMES");
      json_array_foreach (out, i, c)
      {
        char st[96], cmdline[64] = "", id[65];
        json_t *a;
        size_t k;
        cleanup_free char *img = berth_ref_familiar (json_string_value (json_object_get (c, "Image")) ?: "");
        cleanup_free char *ports = ports_text (c);
        snprintf (id, sizeof (id), "%.*s", notrunc ? 64 : 12, json_string_value (json_object_get (c, "Id")) ?: "");
        if (quiet)
          {
            printf ("%s\n", id);
            continue;
          }
        json_array_foreach (json_object_get (c, "Args"), k, a)
        {
          strncat (cmdline, k ? " " : "\"", sizeof (cmdline) - strlen (cmdline) - 1);
          strncat (cmdline, json_string_value (a) ?: "", sizeof (cmdline) - strlen (cmdline) - 1);
        }
        if (strlen (cmdline) > 19 && !notrunc)
          strcpy (cmdline + 17, "…");
        strncat (cmdline, "\"", sizeof (cmdline) - strlen (cmdline) - 1);
        status_text (json_object_get (c, "State"), st, sizeof (st));
        if (tmpl)
          {
            const struct cli_field f[] = {
              { "ID", id },
              { "Names", json_string_value (json_object_get (c, "Name")) },
              { "Image", img },
              { "Command", cmdline },
              { "Status", st },
              { "State", state_name (json_object_get (c, "State")) },
              { "Ports", ports },
              { "Isolation", json_string_value (json_object_get (c, "Isolation")) ?: "process" },
              { "CreatedAt", json_string_value (json_object_get (c, "Created")) },
            };
            if (cli_format_row (format, f, ARRAY_SIZE (f), json_object_get (json_object_get (c, "Config"), "Labels"),
                                &err)
                < 0)
              goto fail;
            continue;
          }
        printf ("%-12s   %-20s %-22s %-26s %-10s %-24s %s\n", id, img, cmdline, st,
                json_string_value (json_object_get (c, "Isolation")) ?: "process", ports,
                json_string_value (json_object_get (c, "Name")));
      }
    }
  json_decref (out);
  json_decref (list);
  berth_engine_close (e);
  return 0;
fail:
  json_decref (out);
  json_decref (list);
  berth_engine_close (e);
  return cli_error (&err);
}
