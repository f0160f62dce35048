/* What the fuzz targets share. */
#ifndef BERTH_FUZZ_UTIL_H
#define BERTH_FUZZ_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utils.h"

/* The entries of DIR (a scratch directory: aborts if it is gone). */
static inline size_t
fuzz_entries (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  size_t n = 0;
  if (d == NULL)
    abort ();
  while ((de = readdir (d)))
    n += strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0;
  closedir (d);
  return n;
}

/* A scratch directory and everything in it gone (at exit). */
static inline void
fuzz_remove (const char *dir)
{
  berth_err_t err = NULL;
  rm_rf_at (AT_FDCWD, dir, &err);
  berth_error_release (&err);
}

#endif
