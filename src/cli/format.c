/* --format's Go templates, the part docker's users write: "{{.Field}}"
   placeholders among text, "\t" and "\n", {{json .}} (the row as a JSON
   object), {{.Label "key"}}, an optional "table " prefix that prints a
   header, and "json"/"table" as whole values.  Anything else ({{range}},
   an unknown field) is an error naming it: a script must never get the
   default table when it asked for a format. */
#include <errno.h>
#include <jansson.h>
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

/* One {{ACTION}}, trimmed to S..E, rendered into OUT. */
typedef int (*action_fn) (void *ctx, const char *s, const char *e, FILE *out, berth_err_t *err);

/* A template's text, its "\t" and "\n" escapes, and each action handed to
   FN; then a newline. */
static int
template_walk (const char *tmpl, action_fn fn, void *ctx, FILE *out, berth_err_t *err)
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
          if (end == NULL)
            return berth_error_code (err, EINVAL, "--format: `{{` without `}}`");
          for (e = end; s < e && *s == ' '; s++)
            ;
          while (e > s && e[-1] == ' ')
            e--;
          if (fn (ctx, s, e, out, err) < 0)
            return -1;
          p = end + 2;
          continue;
        }
      fputc (*p++, out);
    }
  fputc ('\n', out);
  return 0;
}

struct row
{
  const struct cli_field *fields;
  size_t n;
  json_t *labels;
  bool header;
};

/* "k=v,k2=v2", as docker's Labels column. */
static char *
labels_text (json_t *labels)
{
  const char *k;
  json_t *v;
  char *out = xstrdup ("");
  json_object_foreach (labels, k, v)
  {
    char *n = xasprintf ("%s%s%s=%s", out, *out ? "," : "", k, json_string_value (v) ?: "");
    free (out);
    out = n;
  }
  return out;
}

/* {{json .}}: the row's fields (and Labels) as one JSON object. */
static void
row_json (struct row *r, FILE *out)
{
  json_t *o = json_object ();
  char *text;
  for (size_t i = 0; i < r->n; i++)
    json_object_set_new (o, r->fields[i].name, json_string (r->fields[i].value ?: ""));
  if (r->labels)
    {
      cleanup_free char *l = labels_text (r->labels);
      json_object_set_new (o, "Labels", json_string (l));
    }
  text = json_dumps (o, JSON_COMPACT);
  fputs (text ?: "{}", out);
  free (text);
  json_decref (o);
}

/* A row's field, or with HEADER the field's upper-case name. */
static int
row_action (void *ctx, const char *s, const char *e, FILE *out, berth_err_t *err)
{
  struct row *r = ctx;
  const char *v;
  if (e - s == 6 && strncmp (s, "json .", 6) == 0)
    {
      if (r->header)
        fputs ("JSON", out);
      else
        row_json (r, out);
      return 0;
    }
  if (e - s > 9 && strncmp (s, ".Label \"", 8) == 0 && e[-1] == '"')
    {
      cleanup_free char *key = strndup (s + 8, (size_t)(e - s - 9));
      if (r->header)
        fputs ("LABEL", out);
      else
        fputs (json_string_value (json_object_get (r->labels, key)) ?: "", out);
      return 0;
    }
  if (s >= e || *s != '.' || memchr (s, ' ', (size_t)(e - s)))
    return berth_error_code (err, EINVAL,
                             "--format: `{{%.*s}}` is not supported (only {{.Field}}, {{.Label \"key\"}} and "
                             "{{json .}})",
                             (int)(e - s), s);
  v = field_value (r->fields, r->n, s + 1, (size_t)(e - s - 1));
  if (v == NULL)
    {
      berth_error_code (err, EINVAL, "--format: no field `%.*s`; there are", (int)(e - s - 1), s + 1);
      for (size_t i = 0; i < r->n; i++)
        {
          char *m = xasprintf ("%s%s .%s", (*err)->msg, i ? "," : "", r->fields[i].name);
          free ((*err)->msg);
          (*err)->msg = m;
        }
      return -1;
    }
  if (r->header)
    for (const char *c = s + 1; c < e; c++)
      fputc (*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c, out);
  else
    fputs (v, out);
  return 0;
}

/* Renders TMPL (without "table ") for one row into OUT, or with HEADER the
   header. */
static int
render (const char *tmpl, const struct cli_field *fields, size_t n, json_t *labels, bool header, FILE *out,
        berth_err_t *err)
{
  struct row r = { fields, n, labels, header };
  return template_walk (tmpl, row_action, &r, out, err);
}

int
cli_format_check (const char *format, const struct cli_field *fields, size_t n, berth_err_t *err)
{
  FILE *null = fopen ("/dev/null", "we");
  int r;
  const char *t = strncmp (format, "table ", 6) == 0 ? format + 6 : format;
  if (null == NULL)
    return berth_error (err, errno, "open /dev/null");
  r = render (t, fields, n, NULL, false, null, err);
  fclose (null);
  return r;
}

int
cli_format_header (const char *format, const struct cli_field *fields, size_t n, berth_err_t *err)
{
  if (strncmp (format, "table ", 6) != 0)
    return 0;
  return render (format + 6, fields, n, NULL, true, stdout, err);
}

int
cli_format_row (const char *format, const struct cli_field *fields, size_t n, json_t *labels, berth_err_t *err)
{
  return render (strncmp (format, "table ", 6) == 0 ? format + 6 : format, fields, n, labels, false, stdout, err);
}

int
cli_format_begin (const char *cmd, const char *format, const struct cli_field *fields, size_t n, bool quiet)
{
  berth_err_t err = NULL;
  if (strcmp (format, "table") == 0 || strcmp (format, "json") == 0)
    return 0;
  /* Checked before anything is printed: a template berth cannot render
     is an error, never the default table. */
  if (!strstr (format, "{{"))
    return cli_usage (cmd, "--format: \"%s\" is neither table, json nor a template", format);
  if (cli_format_check (format, fields, n, &err) < 0 || (!quiet && cli_format_header (format, fields, n, &err) < 0))
    return cli_error (&err);
  return 0;
}

/* ------------------------------------------------ templates over JSON */

/* inspect -f: the same templates over a JSON record, with docker's
   actions scripts use: {{.A.B}} (a path), {{json PATH}}, {{index PATH
   "key"}} (or an array index) and {{.}}.  A value prints as text: a string
   as it is, null as "<no value>", an object or array as compact JSON
   (docker prints Go's map[...] there; scripts ask for {{json}}).  A key
   that is not there is an error, never an empty answer. */
struct json_ctx
{
  json_t *root;
  bool lenient; /* a missing key below the top prints "<no value>", as Go's for a map */
};

static int
json_path (struct json_ctx *c, const char *s, size_t len, json_t **out, berth_err_t *err)
{
  json_t *root = c->root;
  json_t *v = root;
  size_t i = 1;
  if (len == 0 || s[0] != '.')
    return berth_error_code (err, EINVAL, "--format: `%.*s` is not a field (.Field or .A.B)", (int)len, s);
  while (i < len)
    {
      size_t j = i;
      while (j < len && s[j] != '.')
        j++;
      if (j == i)
        return berth_error_code (err, EINVAL, "--format: `%.*s` is not a field", (int)len, s);
      {
        cleanup_free char *key = strndup (s + i, j - i);
        json_t *next = json_is_object (v) ? json_object_get (v, key) : NULL;
        /* Lenient below the top: the record's own fields are fixed. */
        if (next == NULL && c->lenient && json_is_object (v) && v != root)
          {
            *out = json_null ();
            return 0;
          }
        if (next == NULL)
          return berth_error_code (err, EINVAL, "--format: `%.*s`: no field `%s` there", (int)len, s, key);
        v = next;
      }
      i = j + 1;
    }
  *out = v;
  return 0;
}

static void
print_value (json_t *v, FILE *out)
{
  char *text;
  if (json_is_string (v))
    fputs (json_string_value (v), out);
  else if (json_is_null (v))
    fputs ("<no value>", out);
  else if (json_is_true (v) || json_is_false (v))
    fputs (json_is_true (v) ? "true" : "false", out);
  else if ((text = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL)
    {
      fputs (text, out);
      free (text);
    }
}

/* One action, between "{{" and "}}" (trimmed): S..E. */
static int
json_action (void *ctx, const char *s, const char *e, FILE *out, berth_err_t *err)
{
  struct json_ctx *root = ctx;
  json_t *v = NULL;
  const char *arg;
  if (e - s > 5 && strncmp (s, "json ", 5) == 0)
    {
      char *text;
      for (arg = s + 5; *arg == ' '; arg++)
        ;
      if (json_path (root, arg, (size_t)(e - arg), &v, err) < 0)
        return -1;
      text = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
      fputs (text ? text : "null", out);
      free (text);
      return 0;
    }
  if (e - s > 6 && strncmp (s, "index ", 6) == 0)
    {
      const char *sp, *k;
      for (arg = s + 6; *arg == ' '; arg++)
        ;
      sp = memchr (arg, ' ', (size_t)(e - arg));
      if (sp == NULL)
        return berth_error_code (err, EINVAL, "--format: `index` takes a field and a key");
      if (json_path (root, arg, (size_t)(sp - arg), &v, err) < 0)
        return -1;
      for (k = sp; *k == ' '; k++)
        ;
      if (e - k >= 2 && *k == '"' && e[-1] == '"' && json_is_object (v))
        {
          cleanup_free char *key = strndup (k + 1, (size_t)(e - k - 2));
          json_t *x = json_object_get (v, key);
          if (x == NULL)
            return berth_error_code (err, EINVAL, "--format: `%.*s`: no key \"%s\" there", (int)(sp - arg), arg, key);
          print_value (x, out);
          return 0;
        }
      if (e > k && *k >= '0' && *k <= '9' && json_is_array (v))
        {
          char *end;
          unsigned long ix = strtoul (k, &end, 10);
          if (end == e && ix < json_array_size (v))
            {
              print_value (json_array_get (v, ix), out);
              return 0;
            }
        }
      return berth_error_code (err, EINVAL, "--format: `index %.*s`: no such key or index", (int)(e - arg), arg);
    }
  if (json_path (root, s, (size_t)(e - s), &v, err) < 0)
    {
      if (memchr (s, ' ', (size_t)(e - s)))
        {
          berth_error_release (err);
          return berth_error_code (err, EINVAL,
                                   "--format: `{{%.*s}}` is not supported (only {{.Field}}, {{json .Field}} and "
                                   "{{index .Field \"key\"}})",
                                   (int)(e - s), s);
        }
      return -1;
    }
  print_value (v, out);
  return 0;
}

int
cli_format_json (const char *tmpl, json_t *root, FILE *out, berth_err_t *err)
{
  struct json_ctx c = { root, false };
  return template_walk (tmpl, json_action, &c, out, err);
}

int
cli_format_json_lenient (const char *tmpl, json_t *root, FILE *out, berth_err_t *err)
{
  struct json_ctx c = { root, true };
  return template_walk (tmpl, json_action, &c, out, err);
}

int
cli_print_inspect (json_t *records, const char *format)
{
  json_t *rec;
  size_t i;
  if (format == NULL)
    {
      json_dumpf (records, stdout, JSON_INDENT (4));
      putchar ('\n');
      return 0;
    }
  json_array_foreach (records, i, rec)
  {
    berth_err_t err = NULL;
    if (cli_format_json (format, rec, stdout, &err) < 0)
      {
        fflush (stdout);
        return cli_error (&err);
      }
  }
  return 0;
}
