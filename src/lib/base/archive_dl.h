/* libarchive, loaded on first use (dl.h says why).  Include this instead of
   <archive.h>, <archive_entry.h>. */
#ifndef BERTH_ARCHIVE_DL_H
#define BERTH_ARCHIVE_DL_H

#include <archive.h>
#include <archive_entry.h>

#include "lib/base/error.h"

#define BERTH_ARCHIVE_FUNCS(X)                                                                                         \
  X (archive_entry_atime)                                                                                              \
  X (archive_entry_copy_stat)                                                                                          \
  X (archive_entry_set_symlink)                                                                                        \
  X (archive_entry_set_uid)                                                                                            \
  X (archive_entry_set_gid)                                                                                            \
  X (archive_entry_atime_nsec)                                                                                         \
  X (archive_entry_filetype)                                                                                           \
  X (archive_entry_free)                                                                                               \
  X (archive_entry_gid)                                                                                                \
  X (archive_entry_hardlink)                                                                                           \
  X (archive_entry_mtime)                                                                                              \
  X (archive_entry_mtime_nsec)                                                                                         \
  X (archive_entry_new)                                                                                                \
  X (archive_entry_pathname)                                                                                           \
  X (archive_entry_perm)                                                                                               \
  X (archive_entry_rdevmajor)                                                                                          \
  X (archive_entry_rdevminor)                                                                                          \
  X (archive_entry_set_filetype)                                                                                       \
  X (archive_entry_set_mtime)                                                                                          \
  X (archive_entry_set_pathname)                                                                                       \
  X (archive_entry_set_perm)                                                                                           \
  X (archive_entry_set_size)                                                                                           \
  X (archive_entry_size)                                                                                               \
  X (archive_entry_size_is_set)                                                                                        \
  X (archive_entry_symlink)                                                                                            \
  X (archive_entry_uid)                                                                                                \
  X (archive_entry_xattr_next)                                                                                         \
  X (archive_entry_xattr_reset)                                                                                        \
  X (archive_errno)                                                                                                    \
  X (archive_error_string)                                                                                             \
  X (archive_read_data)                                                                                                \
  X (archive_read_data_block)                                                                                          \
  X (archive_read_free)                                                                                                \
  X (archive_read_new)                                                                                                 \
  X (archive_read_next_header)                                                                                         \
  X (archive_read_open)                                                                                                \
  X (archive_read_open_fd)                                                                                             \
  X (archive_read_open_filename)                                                                                       \
  X (archive_read_support_filter_all)                                                                                  \
  X (archive_read_support_format_gnutar)                                                                               \
  X (archive_read_support_format_raw)                                                                                  \
  X (archive_read_support_format_tar)                                                                                  \
  X (archive_set_error)                                                                                                \
  X (archive_write_close)                                                                                              \
  X (archive_write_data)                                                                                               \
  X (archive_write_free)                                                                                               \
  X (archive_write_header)                                                                                             \
  X (archive_write_new)                                                                                                \
  X (archive_write_open_filename)                                                                                      \
  X (archive_write_open_fd)                                                                                            \
  X (archive_write_set_format_pax_restricted)

struct berth_archive_api
{
#define BERTH_DL_SLOT(f) __typeof__ (f) *f;
  BERTH_ARCHIVE_FUNCS (BERTH_DL_SLOT)
#undef BERTH_DL_SLOT
};

extern struct berth_archive_api berth_archive;

/* Loads libarchive once; every call below needs it done first. */
int berth_archive_load (berth_err_t *err);

/* The guest agent links libarchive statically (there is no loader in its
   initramfs): its copies of the code that use it call it directly. */
#ifdef BERTH_ARCHIVE_STATIC
#define berth_archive_load(err) ((void)(err), 0)
#elif !defined(BERTH_DL_IMPL)
#define archive_entry_atime (*berth_archive.archive_entry_atime)
#define archive_entry_copy_stat (*berth_archive.archive_entry_copy_stat)
#define archive_entry_set_symlink (*berth_archive.archive_entry_set_symlink)
#define archive_entry_set_uid (*berth_archive.archive_entry_set_uid)
#define archive_entry_set_gid (*berth_archive.archive_entry_set_gid)
#define archive_entry_atime_nsec (*berth_archive.archive_entry_atime_nsec)
#define archive_entry_filetype (*berth_archive.archive_entry_filetype)
#define archive_entry_free (*berth_archive.archive_entry_free)
#define archive_entry_gid (*berth_archive.archive_entry_gid)
#define archive_entry_hardlink (*berth_archive.archive_entry_hardlink)
#define archive_entry_mtime (*berth_archive.archive_entry_mtime)
#define archive_entry_mtime_nsec (*berth_archive.archive_entry_mtime_nsec)
#define archive_entry_new (*berth_archive.archive_entry_new)
#define archive_entry_pathname (*berth_archive.archive_entry_pathname)
#define archive_entry_perm (*berth_archive.archive_entry_perm)
#define archive_entry_rdevmajor (*berth_archive.archive_entry_rdevmajor)
#define archive_entry_rdevminor (*berth_archive.archive_entry_rdevminor)
#define archive_entry_set_filetype (*berth_archive.archive_entry_set_filetype)
#define archive_entry_set_mtime (*berth_archive.archive_entry_set_mtime)
#define archive_entry_set_pathname (*berth_archive.archive_entry_set_pathname)
#define archive_entry_set_perm (*berth_archive.archive_entry_set_perm)
#define archive_entry_set_size (*berth_archive.archive_entry_set_size)
#define archive_entry_size (*berth_archive.archive_entry_size)
#define archive_entry_size_is_set (*berth_archive.archive_entry_size_is_set)
#define archive_entry_symlink (*berth_archive.archive_entry_symlink)
#define archive_entry_uid (*berth_archive.archive_entry_uid)
#define archive_entry_xattr_next (*berth_archive.archive_entry_xattr_next)
#define archive_entry_xattr_reset (*berth_archive.archive_entry_xattr_reset)
#define archive_errno (*berth_archive.archive_errno)
#define archive_error_string (*berth_archive.archive_error_string)
#define archive_read_data (*berth_archive.archive_read_data)
#define archive_read_data_block (*berth_archive.archive_read_data_block)
#define archive_read_free (*berth_archive.archive_read_free)
#define archive_read_new (*berth_archive.archive_read_new)
#define archive_read_next_header (*berth_archive.archive_read_next_header)
#define archive_read_open (*berth_archive.archive_read_open)
#define archive_read_open_fd (*berth_archive.archive_read_open_fd)
#define archive_read_open_filename (*berth_archive.archive_read_open_filename)
#define archive_read_support_filter_all (*berth_archive.archive_read_support_filter_all)
#define archive_read_support_format_gnutar (*berth_archive.archive_read_support_format_gnutar)
#define archive_read_support_format_raw (*berth_archive.archive_read_support_format_raw)
#define archive_read_support_format_tar (*berth_archive.archive_read_support_format_tar)
#define archive_set_error (*berth_archive.archive_set_error)
#define archive_write_close (*berth_archive.archive_write_close)
#define archive_write_data (*berth_archive.archive_write_data)
#define archive_write_free (*berth_archive.archive_write_free)
#define archive_write_header (*berth_archive.archive_write_header)
#define archive_write_new (*berth_archive.archive_write_new)
#define archive_write_open_filename (*berth_archive.archive_write_open_filename)
#define archive_write_open_fd (*berth_archive.archive_write_open_fd)
#define archive_write_set_format_pax_restricted (*berth_archive.archive_write_set_format_pax_restricted)

#endif

#endif
