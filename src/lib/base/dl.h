/* Libraries that only some commands need are loaded when first needed, not
   at every start of berth: libarchive (with libxml2, ICU and libstdc++),
   libcrypto, libnftables (with libnftnl, libxtables, GMP) and libcurl are
   about 6 ms of dynamic loading per exec, and `berth run` execs twice
   (CLI, monitor) while needing none of them for an image already
   unpacked.  Each *_dl.h names a library's functions once; a file that
   includes it keeps the library's own names at its call sites, which go
   through the table the matching berth_*_load fills. */
#ifndef BERTH_DL_H
#define BERTH_DL_H

#include <stddef.h>

#include "lib/base/error.h"

struct berth_dl_sym
{
  const char *name;
  size_t off; /* of its function pointer in the table */
};

/* Opens soname once (*handle caches it) and fills the table's pointers;
   all or nothing.  what names the feature in the error. */
int berth_dl_load (void **handle, const char *soname, const char *what, const struct berth_dl_sym *syms, size_t n,
                   void *table, berth_err_t *err);

#endif
