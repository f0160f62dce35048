/* The event journal behind `berth events`: one JSON object per line, in
   docker's shape ({Type, Action, Actor: {ID, Attributes}, time,
   timeNano, ...}), appended to <root>/events.jsonl.  Bounded: past
   1 MiB the file becomes events.jsonl.1 (the older one goes), so the
   journal holds the last ~1-2 MiB of events. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/events.h"
#include "lib/base/utils.h"

static off_t
events_max (void)
{
  const char *v = getenv ("BERTH_EVENTS_MAX_SIZE");
  long long n = v ? atoll (v) : 0;
  return n > 0 ? (off_t)n : (off_t)(1 << 20);
}

int
berth_event_append (const char *root, const char *type, const char *action, const char *id, json_t *attrs,
                    berth_err_t *err)
{
  cleanup_free char *path = xasprintf ("%s/events.jsonl", root);
  cleanup_free char *lockp = xasprintf ("%s/events.lock", root);
  cleanup_close int lock = -1, fd = -1;
  struct timespec now;
  struct stat sb;
  json_t *ev;
  char *text;
  size_t n;
  int ret;
  clock_gettime (CLOCK_REALTIME, &now);
  ev = json_pack ("{s:s,s:s,s:{s:s,s:o},s:s,s:I,s:I}", "Type", type, "Action", action, "Actor", "ID", id, "Attributes",
                  attrs ? attrs : json_object (), "scope", "local", "time", (json_int_t)now.tv_sec, "timeNano",
                  (json_int_t)now.tv_sec * 1000000000 + now.tv_nsec);
  if (ev == NULL)
    return berth_error (err, EINVAL, "event %s %s: attributes must be an object of strings", type, action);
  /* docker's older fields, which some tools still read. */
  if (strcmp (type, "container") == 0 || strcmp (type, "image") == 0)
    {
      json_t *from = json_object_get (json_object_get (json_object_get (ev, "Actor"), "Attributes"), "image");
      json_object_set_new (ev, "status", json_string (action));
      json_object_set_new (ev, "id", json_string (id));
      if (from)
        json_object_set (ev, "from", from);
    }
  text = json_dumps (ev, JSON_COMPACT);
  json_decref (ev);
  n = strlen (text);
  text = xrealloc (text, n + 2);
  text[n++] = '\n';
  text[n] = '\0';
  lock = open (lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || flock (lock, LOCK_EX) < 0)
    {
      free (text);
      return berth_error (err, errno, "lock `%s`", lockp);
    }
  if (stat (path, &sb) == 0 && sb.st_size + (off_t)n > events_max ())
    {
      cleanup_free char *old = xasprintf ("%s.1", path);
      if (rename (path, old) < 0)
        {
          free (text);
          return berth_error (err, errno, "rotate `%s`", path);
        }
    }
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      free (text);
      return berth_error (err, errno, "open `%s`", path);
    }
  /* One write of the whole line: readers never see half an event. */
  ret = write_all (fd, text, n) < 0 ? berth_error (err, errno, "write `%s`", path) : 0;
  free (text);
  return ret;
}

void
berth_event (const char *root, const char *type, const char *action, const char *id, json_t *attrs)
{
  berth_err_t e = NULL;
  if (berth_event_append (root, type, action, id, attrs, &e) < 0)
    berth_error_release (&e);
}
