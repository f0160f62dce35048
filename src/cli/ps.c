#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lib/engine/engine.h"
#include "lib/image/reference.h"
#include "lib/base/utils.h"

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
      snprintf (buf, len, "Up %s", ago);
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

int
cmd_ps (int argc, char **argv)
{
  static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
                                        { "quiet", no_argument, NULL, 'q' },
                                        { "format", required_argument, NULL, 'f' },
                                        { "no-trunc", no_argument, NULL, 'N' },
                                        { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  json_t *list = NULL, *c, *out = json_array ();
  bool all = false, quiet = false, notrunc = false;
  const char *format = "table";
  size_t i;
  int o;
  if (cli_help (argc, argv, "ps [-a] [-q] [--format table|json|TEMPLATE] [--no-trunc]",
                "  --format 'table {{.ID}}\\t{{.Names}}' or '{{.Names}}': fields ID, Names, Image, Command, Status,\n"
                "           State, Ports, Isolation, CreatedAt\n"))
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
      default:
        return cli_usage ("ps", "unknown option");
      }
  if (strcmp (format, "table") != 0 && strcmp (format, "json") != 0)
    {
      /* Checked before anything is printed: a template berth cannot
         render is an error, never the default table. */
      static const struct cli_field names[]
          = { { "ID", "" },    { "Names", "" }, { "Image", "" },     { "Command", "" },  { "Status", "" },
              { "State", "" }, { "Ports", "" }, { "Isolation", "" }, { "CreatedAt", "" } };
      if (!strstr (format, "{{"))
        return cli_usage ("ps", "--format: \"%s\" is neither table, json nor a template", format);
      if (cli_format_check (format, names, ARRAY_SIZE (names), &err) < 0
          || (!quiet && cli_format_header (format, names, ARRAY_SIZE (names), &err) < 0))
        return cli_error (&err);
    }
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_list (e, &list, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  json_array_foreach (list, i, c)
  {
    const char *s = json_string_value (json_object_get (json_object_get (c, "State"), "Status"));
    if (all || (s && strcmp (s, "running") == 0))
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
              { "State", json_string_value (json_object_get (json_object_get (c, "State"), "Status")) },
              { "Ports", ports },
              { "Isolation", json_string_value (json_object_get (c, "Isolation")) ?: "process" },
              { "CreatedAt", json_string_value (json_object_get (c, "Created")) },
            };
            if (cli_format_row (format, f, ARRAY_SIZE (f), &err) < 0)
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
