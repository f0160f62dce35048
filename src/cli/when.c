/* What logs and events share: times on the command line (--since,
   --until: RFC 3339, Unix times, durations before now) and following a
   file that is rotated. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "lib/base/utils.h"

/* An RFC 3339 time ("2026-12-05T21:00:00.5Z", "+01:00" offsets, a date
   alone, no zone: UTC) as ns since the epoch; false if S is not one. */
bool
cli_parse_rfc3339 (const char *s, long long *ns)
{
  struct tm tm = { 0 };
  long long frac = 0, scale = 1000000000LL;
  const char *p = strptime (s, "%Y-%m-%d", &tm);
  int sign = 0, oh = 0, om = 0;
  if (p == NULL)
    return false;
  if (*p == 'T' || *p == 't' || *p == ' ')
    {
      p = strptime (p + 1, "%H:%M:%S", &tm);
      if (p == NULL)
        return false;
      if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
          if (scale > 1)
            {
              scale /= 10;
              frac += (*p - '0') * scale;
            }
      if (*p == 'Z' || *p == 'z')
        p++;
      else if ((*p == '+' || *p == '-') && sscanf (p + 1, "%2d:%2d", &oh, &om) == 2)
        {
          sign = *p == '+' ? 1 : -1;
          p += 6;
        }
    }
  if (*p)
    return false;
  *ns = ((long long)timegm (&tm) - sign * (oh * 3600LL + om * 60LL)) * 1000000000LL + frac;
  return true;
}

/* --since/--until as docker takes them: an RFC 3339 time, a Unix time
   (seconds, with a fraction), or a Go duration before now ("10m",
   "1h30m", "1.5h", "250ms"). */
bool
cli_parse_duration (const char *s, long long *ns)
{
  static const struct
  {
    const char *unit;
    double ns;
  } units[] = { { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 } };
  double total = 0;
  const char *p = s;
  char *end;
  if (!*p)
    return false;
  while (*p)
    {
      double v = strtod (p, &end);
      size_t best = 0;
      int which = -1;
      if (end == p || v < 0)
        return false;
      for (size_t i = 0; i < ARRAY_SIZE (units); i++)
        if (strncmp (end, units[i].unit, strlen (units[i].unit)) == 0 && strlen (units[i].unit) > best
            && !(strcmp (units[i].unit, "m") == 0 && end[1] == 's'))
          {
            best = strlen (units[i].unit);
            which = (int)i;
          }
      if (which < 0)
        return false;
      total += v * units[which].ns;
      p = end + best;
    }
  *ns = (long long)total;
  return true;
}

int
cli_parse_when (const char *opt, const char *s, long long *ns, berth_err_t *err)
{
  struct timespec now;
  char *end;
  double secs;
  clock_gettime (CLOCK_REALTIME, &now);
  if (cli_parse_rfc3339 (s, ns))
    return 0;
  secs = strtod (s, &end);
  if (end != s && *end == 0 && secs >= 0)
    {
      *ns = (long long)(secs * 1e9);
      return 0;
    }
  {
    long long d;
    if (!cli_parse_duration (s, &d))
      goto bad;
    *ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec - d;
    return 0;
  }
bad:
  return berth_error_code (
      err, EINVAL, "--%s: \"%s\" is not a time: give an RFC 3339 time, a Unix time or a duration such as 10m", opt, s);
}

bool
cli_follow_reopen (FILE **f, const char *path)
{
  struct stat now, cur;
  if (stat (path, &now) < 0 || (*f && (fstat (fileno (*f), &cur) < 0 || cur.st_ino == now.st_ino)))
    return false;
  if (*f)
    fclose (*f);
  *f = fopen (path, "re");
  return *f != NULL;
}
