/* The event journal of `berth events` (events.c). */
#ifndef BERTH_EVENTS_H
#define BERTH_EVENTS_H

#include <jansson.h>

#include "lib/base/error.h"

/* Appends one event under ROOT: TYPE (container, image, network,
   volume), ACTION (create, start, die, ...), the object's ID and ATTRS
   (an object of strings, stolen; NULL: none). */
int berth_event_append (const char *root, const char *type, const char *action, const char *id, json_t *attrs,
                        berth_err_t *err);
/* The same for callers whose own work must not fail because the journal
   could not be written (a full disk): the event is then lost. */
void berth_event (const char *root, const char *type, const char *action, const char *id, json_t *attrs);

#endif
