/* The host-agent protocol (docs/agent-protocol.md): frames over the
   virtio-serial port between the VM shim on the host and berth-agent, the
   guest's PID 1, and over the shim's control socket between the shim and
   the berth commands that talk to a VM container (start, kill, exec, top,
   stats).  A frame is a 12-byte header and a payload:

     byte 0     magic 'B'
     byte 1     type (enum berth_frame_type)
     bytes 2-3  zero
     bytes 4-7  session id, little-endian: 0 is the container's own process,
                every other session is one request or one exec
     bytes 8-11 payload length, little-endian, at most BERTH_FRAME_MAX

   Control payloads are one JSON object; stream payloads are raw bytes.
   The host treats every frame from the guest as hostile: the parser
   below rejects anything out of shape instead of guessing. */
#ifndef BERTH_AGENT_PROTO_H
#define BERTH_AGENT_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#define BERTH_FRAME_MAGIC 'B'
#define BERTH_FRAME_HDR 12
#define BERTH_FRAME_MAX (1u << 20)
/* Caps on what a JSON payload from the guest may hold. */
#define BERTH_PS_MAX_LINES 4096
#define BERTH_PS_MAX_LINE 4096
/* Socket connections the guest opens take session ids from here up. */
#define BERTH_SID_GUEST 0x80000000u
#define BERTH_MAX_SOCKETS 16
/* The largest DNS message relayed to Docker's embedded DNS server (EDNS0's
   usual UDP size). */
#define BERTH_DNS_MAX 4096

enum berth_frame_type
{
  BERTH_F_READY = 1,   /* g->h {kernel, uptime_ms} */
  BERTH_F_CREATE,      /* h->g {config, files} */
  BERTH_F_START,       /* h->g {} */
  BERTH_F_EXEC,        /* h->g {process} */
  BERTH_F_STDIN,       /* h->g raw */
  BERTH_F_STDIN_CLOSE, /* h->g {} */
  BERTH_F_RESIZE,      /* h->g {rows, cols} */
  BERTH_F_SIGNAL,      /* h->g {signal, all} */
  BERTH_F_PS,          /* h->g {} -> OK {lines} */
  BERTH_F_STATS,       /* h->g {} -> OK {memory, memory_limit, cpu_ns, pids} */
  BERTH_F_SHUTDOWN,    /* h->g {} */
  BERTH_F_OK,          /* g->h reply, JSON object */
  BERTH_F_ERROR,       /* g->h {message, errno} */
  BERTH_F_STDOUT,      /* g->h raw */
  BERTH_F_STDERR,      /* g->h raw */
  BERTH_F_EXIT,        /* g->h {code} */
  BERTH_F_CONNECT,     /* g->h {socket}: a container process connected to mapped socket N */
  BERTH_F_DATA,        /* either way, raw: bytes of a socket connection */
  BERTH_F_CLOSE,       /* either way {}: that side of the connection is done */
  BERTH_F_CLOCK,       /* g->h {} asks the host's wall clock; h->g {sec, nsec} */
  BERTH_F_DNS,         /* either way, raw: a DNS query (g->h) or its answer (h->g) */
  BERTH_F_UPDATE,      /* h->g {resources, container?} -> OK {} */
  BERTH_F_ARCHIVE,     /* h->g {what, path?, owner?, container?} -> OK {pid}, then a tar as STDOUT, EXIT */
  BERTH_F_EXTRACT,     /* h->g {dest, src_base?, container?} -> OK {pid}; a tar as STDIN, then EXIT */
  BERTH_F_MAX_TYPE = BERTH_F_EXTRACT,
};

struct berth_frame
{
  uint8_t type;
  uint32_t sid;
  uint32_t len;
  const uint8_t *data; /* points into the parser's buffer */
};

/* Parses one frame from BUF.  Returns 1 and fills *F and *USED when a
   whole frame is there, 0 when more bytes are needed, -1 on a malformed
   header (the stream cannot be trusted after that). */
int berth_frame_parse (const uint8_t *buf, size_t len, struct berth_frame *f, size_t *used, berth_err_t *err);

/* Buffered reading from a stream fd. */
struct berth_frame_reader
{
  uint8_t *buf;
  size_t len, cap, consumed;
};
/* Reads what the fd has (one read) into the buffer: 1 bytes came, 0 EOF,
   -1 error (EAGAIN included, as errno in the error). */
int berth_frame_fill (struct berth_frame_reader *r, int fd, berth_err_t *err);
/* The next whole frame in the buffer: 1, 0 for none yet, -1 malformed. */
int berth_frame_next (struct berth_frame_reader *r, struct berth_frame *f, berth_err_t *err);
void berth_frame_reader_free (struct berth_frame_reader *r);

int berth_frame_write (int fd, uint8_t type, uint32_t sid, const void *data, size_t len, berth_err_t *err);
/* Writes J (and releases it). */
int berth_frame_write_json (int fd, uint8_t type, uint32_t sid, json_t *j, berth_err_t *err);

/* A control payload as a JSON object, strictly: valid UTF-8 JSON, an
   object, no duplicate keys. */
int berth_frame_json (const struct berth_frame *f, json_t **out, berth_err_t *err);
/* Validated replies from the guest. */
int berth_frame_exit_code (const struct berth_frame *f, int *code, berth_err_t *err);
/* The OOM kills an exit frame reports (its optional oom_kills), 0 when it
   has none or a malformed one: the guest speaks only for its own VM. */
long berth_frame_exit_oom_kills (const struct berth_frame *f);
int berth_frame_ps_lines (const struct berth_frame *f, char ***lines, berth_err_t *err);
/* A ready frame: the guest kernel's release (at most 100 printable
   bytes into KERNEL) and its boot time. */
int berth_frame_ready (const struct berth_frame *f, char *kernel, size_t n, long long *boot_ms, berth_err_t *err);
const char *berth_frame_type_name (uint8_t type);

#endif
