/* The host's requests as the guest agent reads them.  Each request is read
   and checked whole before the agent acts on any of it, so that a bad
   field fails the request with nothing done; these functions touch
   nothing but memory, which is what lets tests/fuzz/fuzz_requests.c feed
   them whatever a hostile peer on the agent's port could send. */
#ifndef BERTH_VM_REQUEST_H
#define BERTH_VM_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "lib/base/error.h"
#include "lib/net/netdev.h"
#include "lib/vm/protocol.h"

#define BERTH_REQ_FILES_MAX 64
#define BERTH_REQ_HOSTNAME_MAX 64
#define BERTH_REQ_ENTROPY_MIN 32
#define BERTH_REQ_ENTROPY_MAX 512
#define BERTH_REQ_ID_MAX 64

/* A file create hands the container (resolv.conf, hosts, hostname...). */
struct berth_req_file
{
  char *name; /* one plain name: no '/', not hidden, not empty */
  unsigned char *data;
  size_t len;
};

struct berth_req_create
{
  json_t *config; /* the request's own (borrowed): an object */
  bool member;    /* a pod member's create: config, files and image_size */
  long long image_size;
  unsigned char entropy[BERTH_REQ_ENTROPY_MAX];
  size_t entropy_len;
  const char *hostname; /* borrowed */
  struct berth_req_file *files;
  size_t n_files;
  const char *rootfs_device, *rootfs_fstype; /* borrowed */
  bool restored, shared, dns_relay;
  mode_t socket_modes[BERTH_MAX_SOCKETS];
  size_t n_sockets;
  bool has_iface;
  struct berth_netdev_config iface;
  /* The config's linux.seccomp as the host compiled it (sock_filter
     records), or NULL: the guest builds it. */
  unsigned char *seccomp_bpf;
  size_t seccomp_bpf_len;
};

/* REQ, a create frame's body, into *OUT (berth_req_create_clear frees it,
   also after a failure). */
int berth_req_create (json_t *req, struct berth_req_create *out, berth_err_t *err);
void berth_req_create_clear (struct berth_req_create *r);
#define cleanup_req_create __attribute__ ((cleanup (berth_req_create_clear)))

/* The files object ({name: base64}) alone, for a pod member's create. */
int berth_req_files (json_t *files, struct berth_req_file **out, size_t *n, berth_err_t *err);
void berth_req_files_free (struct berth_req_file *files, size_t n);

/* The request's "container" (a pod member's ID) in *ID, or NULL for the
   VM's own container. */
int berth_req_target (json_t *req, const char **id, berth_err_t *err);

/* signal: {signal 1..64, all?, own?}. */
int berth_req_signal (json_t *req, int *sig, bool *all, bool *own, berth_err_t *err);

/* resize: {rows, cols}, each 0..65535. */
int berth_req_resize (json_t *req, unsigned short *rows, unsigned short *cols, berth_err_t *err);

/* exec: {process (an object), container?}; *PROCESS is borrowed. */
int berth_req_exec (json_t *req, json_t **process, bool *terminal, berth_err_t *err);

/* update: {resources (an object), container?}; *RESOURCES is borrowed. */
int berth_req_update (json_t *req, json_t **resources, berth_err_t *err);

/* archive: what the host wants as a tar of a running container's files. */
enum berth_req_archive_what
{
  BERTH_ARCHIVE_ROOT,  /* its root file system (export) */
  BERTH_ARCHIVE_UPPER, /* its writable layer as an OCI layer (diff, commit) */
  BERTH_ARCHIVE_PATH,  /* one path in its root (cp out) */
};
struct berth_req_archive
{
  enum berth_req_archive_what what;
  const char *path; /* PATH's: absolute, borrowed */
  int owner;        /* PATH's: -1, or the uid and gid every entry gets */
  bool freeze;      /* UPPER's: the container frozen while it is read */
};
/* {what: "root"|"upper"|"path", path?, owner?, freeze?, container?} */
int berth_req_archive (json_t *req, struct berth_req_archive *out, berth_err_t *err);

/* extract: {dest (absolute), src_base?, container?}; the tar follows as
   stdin.  *DEST and *SRC_BASE are borrowed; SRC_BASE is one name. */
int berth_req_extract (json_t *req, const char **dest, const char **src_base, berth_err_t *err);

/* clock: the host's {sec, nsec}, a time after the epoch. */
int berth_req_clock (json_t *req, struct timespec *ts, berth_err_t *err);

#endif
