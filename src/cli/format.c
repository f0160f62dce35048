/* --format's Go templates, the part docker's users write: "{{.Field}}"
   placeholders among text, "\t" and "\n", an optional "table " prefix that
   prints a header, and "json"/"table" as whole values.  Anything else
   ({{range}}, {{json .X}}, an unknown field) is an error naming it: a
   script must never get the default table when it asked for a format. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/base/utils.h"

static const char *
field_value (const struct cli_field *fields, size_t n, const char *name, size_t len)
{
  for (size_t i = 0; i < n; i++)
    if (strlen (fields[i].name) == len && strncmp (fields[i].name, name, len) == 0)
      return fields[i].value ? fields[i].value : "";
  return NULL;
}

/* Renders TMPL (without "table ") for one row into OUT, or with HEADER the
   header: each field's upper-case name. */
static int
render (const char *tmpl, const struct cli_field *fields, size_t n, bool header, FILE *out, berth_err_t *err)
{
  for (const char *p = tmpl; *p;)
    {
      if (p[0] == '\\' && (p[1] == 't' || p[1] == 'n'))
        {
          fputc (p[1] == 't' ? '\t' : '\n', out);
          p += 2;
          continue;
        }
      if (p[0] == '{' && p[1] == '{')
        {
          const char *end = strstr (p, "}}"), *s = p + 2, *e;
          const char *v;
          if (end == NULL)
            return berth_error_code (err, EINVAL, "--format: `{{` without `}}`");
          e = end;
          while (s < e && *s == ' ')
            s++;
          while (e > s && e[-1] == ' ')
            e--;
          if (s >= e || *s != '.' || memchr (s, ' ', (size_t)(e - s)))
            return berth_error_code (err, EINVAL, "--format: `%.*s` is not supported (only {{.Field}})",
                                     (int)(end + 2 - p), p);
          v = field_value (fields, n, s + 1, (size_t)(e - s - 1));
          if (v == NULL)
            {
              berth_error_code (err, EINVAL, "--format: no field `%.*s`; there are", (int)(e - s - 1), s + 1);
              for (size_t i = 0; i < n; i++)
                {
                  char *m = xasprintf ("%s%s .%s", (*err)->msg, i ? "," : "", fields[i].name);
                  free ((*err)->msg);
                  (*err)->msg = m;
                }
              return -1;
            }
          if (header)
            for (const char *c = s + 1; c < e; c++)
              fputc (*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c, out);
          else
            fputs (v, out);
          p = end + 2;
          continue;
        }
      fputc (*p++, out);
    }
  fputc ('\n', out);
  return 0;
}

int
cli_format_check (const char *format, const struct cli_field *fields, size_t n, berth_err_t *err)
{
  FILE *null = fopen ("/dev/null", "we");
  int r;
  const char *t = strncmp (format, "table ", 6) == 0 ? format + 6 : format;
  if (null == NULL)
    return berth_error (err, errno, "open /dev/null");
  r = render (t, fields, n, false, null, err);
  fclose (null);
  return r;
}

int
cli_format_header (const char *format, const struct cli_field *fields, size_t n, berth_err_t *err)
{
  if (strncmp (format, "table ", 6) != 0)
    return 0;
  return render (format + 6, fields, n, true, stdout, err);
}

int
cli_format_row (const char *format, const struct cli_field *fields, size_t n, berth_err_t *err)
{
  return render (strncmp (format, "table ", 6) == 0 ? format + 6 : format, fields, n, false, stdout, err);
}
