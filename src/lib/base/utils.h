/* Small helpers shared by every part of the library: cleanup attributes,
   checked allocation, file I/O, atomic writes and safe path resolution. */
#ifndef BERTH_UTILS_H
#define BERTH_UTILS_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "lib/base/error.h"

#define UNLIKELY(x) __builtin_expect (!!(x), 0)
#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

void cleanup_freep (void *p);
void cleanup_closep (int *fd);
void cleanup_filep (FILE **f);
void cleanup_dirp (DIR **d);
void cleanup_strvp (char ***v);

#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_file __attribute__ ((cleanup (cleanup_filep)))
#define cleanup_dir __attribute__ ((cleanup (cleanup_dirp)))
#define cleanup_strv __attribute__ ((cleanup (cleanup_strvp)))

/* Hands ownership out of a cleanup variable. */
#define steal_pointer(pp)                                                                                              \
  ({                                                                                                                   \
    __typeof__ (*(pp)) _p = *(pp);                                                                                     \
    *(pp) = NULL;                                                                                                      \
    _p;                                                                                                                \
  })
#define steal_fd(fdp)                                                                                                  \
  ({                                                                                                                   \
    int _fd = *(fdp);                                                                                                  \
    *(fdp) = -1;                                                                                                       \
    _fd;                                                                                                               \
  })

/* Allocation failure is not recoverable in a runtime; abort like glib.
   These, random_hex and berth_spec_default (a constant document) are the
   only library functions that abort; every other failure is returned. */
void *xmalloc (size_t size);
void *xcalloc (size_t n, size_t size);
void *xrealloc (void *p, size_t size);
char *xstrdup (const char *s);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

void strv_free (char **v);
size_t strv_len (char *const *v);

/* "64m", "1.5g", "4096": bytes (b, k, m, g suffixes, docker's 1024s);
 *OK false when S is not a size. */
int64_t parse_bytes (const char *s, bool *ok);
/* Bytes PATH takes on disk (du): its tree, symlinks not followed, other
   file systems mounted below not counted; 0 when it cannot be read. */
int64_t disk_usage (const char *path);
int read_all_fd (int fd, const char *what, char **out, size_t *len, berth_err_t *err);
int read_file_at (int dirfd, const char *path, char **out, size_t *len, berth_err_t *err);
int write_file_at (int dirfd, const char *path, const void *data, size_t len, berth_err_t *err);
int write_all (int fd, const void *data, size_t len);
/* temp file + fsync + rename: readers, and a crash, see the old or the new
   content, never a partial one. */
int write_file_atomic (const char *path, const void *data, size_t len, mode_t mode, berth_err_t *err);
/* The same, through the temporary file TMP (in PATH's directory). */
int write_file_atomic_via (const char *path, const char *tmp, const void *data, size_t len, mode_t mode,
                           berth_err_t *err);

/* Loads a JSON record through an O_CLOEXEC fd.  Returns 1, with no error,
   when the file does not exist: "missing" is decided by the open itself, so
   a record renamed into place by a concurrent writer is never misread. */
struct json_t;

/* The host configuration file: $BERTH_CONFIG, else /etc/berth/config.json
   (etc/config.json in the source tree documents its keys). */
const char *berth_config_path (void);
/* SECTION.KEY (SECTION NULL: a top-level key) of the host configuration,
   as a new string; NULL when the file, the key or a string value is
   missing. */
char *berth_config_string (const char *section, const char *key);

/* berth's own files (the VM assets, berth-agent, the built-in image):
   BUILD_REL beside the binary in a build tree (build/vm), else INSTALL_REL
   under the binary's prefix (<bindir>/../lib/berth/vm), which holds
   wherever PREFIX and DESTDIR put an install, else under the PREFIX it was
   built for.  Returns the first that passes access(MODE); NULL when none
   does. */
char *berth_asset_path (const char *build_rel, const char *install_rel, int mode);
/* Where an install under the compiled-in PREFIX keeps INSTALL_REL (for
   messages that say where a missing file was looked for). */
char *berth_asset_default (const char *install_rel);
int json_load_path (const char *path, struct json_t **out, berth_err_t *err);

int mkdir_p (const char *path, mode_t mode, berth_err_t *err);
int rm_rf_at (int parentfd, const char *name, berth_err_t *err);

/* Opens PATH relative to ROOTFD as if ROOTFD were "/": ".." and symlinks,
   absolute or relative, never leave ROOTFD.  Uses openat2(RESOLVE_IN_ROOT)
   and falls back to a component-by-component walk on old kernels. */
int open_in_root (int rootfd, const char *path, int flags, mode_t mode, berth_err_t *err);
/* The fallback alone (raw fd or -1 with errno), exported for the tests. */
int berth_open_in_root_walk (int rootfd, const char *path, int flags, mode_t mode);
/* Like open_in_root, creating missing directories on the way; the last
   component is created as a directory or (is_file) an empty file. */
int mkdir_open_in_root (int rootfd, const char *path, bool is_file, berth_err_t *err);

/* "/proc/self/fd/N" for mounting through an fd. */
#define FD_PATH_MAX 32
const char *fd_path (int fd, char buf[FD_PATH_MAX]);

/* Start time (field 22 of /proc/PID/stat), to tell a process from a later
   one that reused its PID.  0 when the process does not exist. */
unsigned long long process_start_time (pid_t pid);

/* Closes (or marks close-on-exec) every fd >= from. */
int close_fds_from (int from, bool cloexec_only, berth_err_t *err);
/* Runs ARGV (found on $PATH) with stdin and stdout on /dev/null and waits
   for it; a non-zero exit is an error naming the program. */
int berth_run_argv (char *const argv[], berth_err_t *err);

int parse_signal (const char *s, int *sig);
const char *signal_name (int sig);

char *timestamp_rfc3339 (void);
/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
long long monotonic_ms (void);
/* 2*N (N <= 64) lowercase hex digits from getrandom(2) into OUT; it
   cannot fail on Linux 3.17+ short of an interrupt, which is retried. */
void random_hex (char *out, size_t n);
/* N (<= 256) bytes from getrandom(2), as random_hex. */
void random_bytes (void *out, size_t n);
bool str_has_prefix (const char *s, const char *prefix);
/* Docker's rule for container, volume and network names:
   [a-zA-Z0-9][a-zA-Z0-9_.-]*, MIN to MAX characters. */
bool berth_name_valid (const char *n, size_t min, size_t max);

/* Standard base64 (RFC 4648) with padding; decode returns -1 on anything
   else.  Binary file contents travel in JSON this way. */
char *base64_encode (const void *data, size_t len);
int base64_decode (const char *in, size_t in_len, unsigned char **out, size_t *out_len);

#endif
