#include "lib/image/reference.h"

#include <stdbool.h>
#include <string.h>

#include "lib/base/digest.h"
#include "lib/base/utils.h"

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool
valid_component (const char *c, size_t n)
{
  size_t i = 0;
  if (n == 0 || !is_lower_alnum (c[0]) || !is_lower_alnum (c[n - 1]))
    return false;
  while (i < n)
    {
      if (is_lower_alnum (c[i]))
        {
          i++;
          continue;
        }
      if (c[i] == '.' || c[i] == '-' || c[i] == '_')
        {
          size_t j = i;
          while (j < n && c[j] == '-')
            j++;
          if (c[i] == '_' && i + 1 < n && c[i + 1] == '_')
            j = i + 2;
          else if (j == i)
            j = i + 1;
          if (j >= n || !is_lower_alnum (c[j]))
            return false;
          i = j;
          continue;
        }
      return false;
    }
  return true;
}

static bool
valid_tag (const char *t)
{
  size_t n = strlen (t);
  if (n == 0 || n > 128)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = t[i];
      bool w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      if (!(w || (i > 0 && (c == '.' || c == '-'))))
        return false;
    }
  return true;
}

static bool
valid_domain (const char *d)
{
  if (*d == '\0')
    return false;
  for (const char *p = d; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'
          || *p == ':' || *p == '[' || *p == ']'))
      return false;
  return true;
}

void
berth_ref_free (struct berth_ref *r)
{
  if (r == NULL)
    return;
  free (r->domain);
  free (r->path);
  free (r->tag);
  free (r->digest);
  free (r);
}

int
berth_ref_parse (const char *s, struct berth_ref **out, berth_err_t *err)
{
  cleanup_free char *copy = xstrdup (s);
  struct berth_ref *r = xcalloc (1, sizeof (*r));
  char *at, *name = copy, *slash, *colon;

  if (strlen (s) == 0 || strlen (s) > 512)
    goto bad;
  at = strchr (copy, '@');
  if (at)
    {
      *at = '\0';
      if (!berth_digest_valid (at + 1))
        {
          berth_ref_free (r);
          return berth_error (err, 0, "invalid reference \"%s\": \"%s\" is not a sha256 digest", s, at + 1);
        }
      r->digest = xstrdup (at + 1);
    }
  /* A tag is after the last colon that follows the last slash. */
  slash = strrchr (name, '/');
  colon = strrchr (slash ? slash : name, ':');
  if (colon)
    {
      *colon = '\0';
      if (!valid_tag (colon + 1))
        {
          berth_ref_free (r);
          return berth_error (err, 0, "invalid reference \"%s\": bad tag \"%s\"", s, colon + 1);
        }
      r->tag = xstrdup (colon + 1);
    }
  slash = strchr (name, '/');
  if (slash
      && (memchr (name, '.', (size_t)(slash - name)) || memchr (name, ':', (size_t)(slash - name))
          || strncmp (name, "localhost/", 10) == 0))
    {
      *slash = '\0';
      r->domain = xstrdup (name);
      name = slash + 1;
      if (!valid_domain (r->domain))
        goto bad;
    }
  else
    r->domain = xstrdup ("docker.io");
  if (strcmp (r->domain, "index.docker.io") == 0)
    {
      free (r->domain);
      r->domain = xstrdup ("docker.io");
    }
  if (strcmp (r->domain, "docker.io") == 0 && strchr (name, '/') == NULL)
    r->path = xasprintf ("library/%s", name);
  else
    r->path = xstrdup (name);
  for (char *p = r->path, *e; *p; p = e + 1)
    {
      e = strchr (p, '/');
      if (!valid_component (p, e ? (size_t)(e - p) : strlen (p)))
        goto bad;
      if (e == NULL)
        break;
    }
  if (r->tag == NULL && r->digest == NULL)
    r->tag = xstrdup ("latest");
  *out = r;
  return 0;

bad:
  berth_ref_free (r);
  return berth_error (err, 0, "invalid reference \"%s\": use [registry/]name[:tag][@sha256:digest] in lowercase", s);
}

char *
berth_ref_repository (const struct berth_ref *r)
{
  return xasprintf ("%s/%s", r->domain, r->path);
}

char *
berth_ref_string (const struct berth_ref *r)
{
  if (r->digest && r->tag)
    return xasprintf ("%s/%s:%s@%s", r->domain, r->path, r->tag, r->digest);
  if (r->digest)
    return xasprintf ("%s/%s@%s", r->domain, r->path, r->digest);
  return xasprintf ("%s/%s:%s", r->domain, r->path, r->tag);
}

char *
berth_ref_familiar (const char *canonical)
{
  if (str_has_prefix (canonical, "docker.io/library/"))
    return xstrdup (canonical + 18);
  if (str_has_prefix (canonical, "docker.io/"))
    return xstrdup (canonical + 10);
  return xstrdup (canonical);
}
