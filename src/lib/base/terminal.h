/* Container terminals: a pty made inside the container, its master handed
   to the caller over --console-socket with SCM_RIGHTS, as runc does. */
#ifndef BERTH_TERMINAL_H
#define BERTH_TERMINAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"

/* Connects to the caller's console socket (a unix stream socket path). */
int berth_console_socket_connect (const char *path, berth_err_t *err);
/* Opens a new pty in the current mount namespace; *slave_path names the
   slave (e.g. /dev/pts/0). */
int berth_pty_open (int *master, int *slave, char **slave_path, unsigned rows, unsigned cols, berth_err_t *err);
/* Makes SLAVE stdin, stdout, stderr and the controlling terminal. */
int berth_pty_become_tty (int slave, berth_err_t *err);

int berth_send_fd (int sock, int fd, const char *name, berth_err_t *err);
int berth_recv_fd (int sock, int *fd, berth_err_t *err);
/* Reads one message: its bytes into BUF (returns their count, 0 at EOF) and
   an fd it carries into *fd (-1 when none). */
ssize_t berth_recv_msg (int sock, char *buf, size_t len, int *fd, berth_err_t *err);

/* Copies between our stdio and MASTER until the container closes it:
   the foreground `run` of a terminal container without a console socket. */
int berth_pty_proxy (int master, berth_err_t *err);

#endif
