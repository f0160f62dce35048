/* The engine's own helpers over its records (records.c). */
#ifndef BERTH_ENGINE_RECORDS_H
#define BERTH_ENGINE_RECORDS_H

#include <stdbool.h>

#include "lib/engine/engine.h"

/* adjective_noun, as docker names containers. */
char *berth_engine_random_name (void);
bool berth_engine_name_taken (struct berth_engine *e, const char *name);

#endif
