/* One error convention for all of berth: a failing function returns a
   negative value and fills *err with the errno and a message that carries
   context.  Callers add context with berth_error_wrap and pass it up; only
   the CLI prints. */
#ifndef BERTH_ERROR_H
#define BERTH_ERROR_H

#include <stdarg.h>
#include <stddef.h>

struct berth_error
{
  int status; /* errno, 0 when the failure is not a system call's */
  char *msg;
};
typedef struct berth_error *berth_err_t;

/* Fills *err (when it is empty) and returns -1.  errno_ == 0 means the
   message alone describes the problem; otherwise strerror is appended. */
int berth_error (berth_err_t *err, int errno_, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
int berth_verror (berth_err_t *err, int errno_, const char *fmt, va_list ap);

/* Like berth_error, with STATUS recorded for callers to test but not
   spelled out in the message ("no such image: x", not "...: No such file"). */
int berth_error_code (berth_err_t *err, int status, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

/* Prepends "context: " to an existing error; returns -1. */
int berth_error_wrap (berth_err_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

void berth_error_release (berth_err_t *err);

/* Serialises an error into a buffer (for passing across a process boundary)
   and back. */
int berth_error_encode (berth_err_t err, char *buf, size_t len);
int berth_error_decode (berth_err_t *err, const char *buf, size_t len);

#define cleanup_error __attribute__ ((cleanup (berth_error_release)))

/* A forked child's last word before _exit: E's message as one line on
   FD, a log file the parent reads back (a VM's console log), never the
   user's terminal.  Releases E. */
void berth_error_to_log (int fd, berth_err_t *e);

/* Debug messages: the library never prints, it hands them to the sink a
   program installs (berth --debug, berth-runtime --debug); without one
   they are dropped. */
typedef void (*berth_debug_sink) (const char *msg);
void berth_debug_set_sink (berth_debug_sink sink);
void berth_debug (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#endif
