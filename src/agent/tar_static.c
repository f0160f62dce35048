/* libarchive's table of writers (archive_write_set_format.c) names every
   format, so linking its tar writer statically would pull in the xar
   writer too, which needs libxml2 and, through it, ICU's tens of MiB of
   data.  The agent writes tar only: this stands in for the xar writer,
   and refuses. */
#include <archive.h>
#include <errno.h>

int archive_write_set_format_xar (struct archive *a);

int
archive_write_set_format_xar (struct archive *a)
{
  archive_set_error (a, EINVAL, "berth-agent writes tar only: no xar");
  return ARCHIVE_FATAL;
}
