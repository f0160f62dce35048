/* Image references as docker resolves them: "busybox" is
   docker.io/library/busybox:latest; "localhost:5000/a/b:t",
   "name@sha256:..." and "name:tag@sha256:..." are understood. */
#ifndef BERTH_REFERENCE_H
#define BERTH_REFERENCE_H

#include "lib/base/error.h"

struct berth_ref
{
  char *domain; /* docker.io, 127.0.0.1:5000 */
  char *path;   /* library/busybox */
  char *tag;    /* NULL when only a digest was given */
  char *digest; /* NULL unless given */
};

int berth_ref_parse (const char *s, struct berth_ref **out, berth_err_t *err);
void berth_ref_free (struct berth_ref *r);
/* "docker.io/library/busybox:latest" (or "...@sha256:..."). */
char *berth_ref_string (const struct berth_ref *r);
/* The short form docker shows: "busybox:latest", "127.0.0.1:5000/a:t". */
char *berth_ref_familiar (const char *canonical);
/* The repository alone: "docker.io/library/busybox". */
char *berth_ref_repository (const struct berth_ref *r);

#endif
