/* Making a VM its own machine.  A VM restored from a template resumes the
   template's kernel: its RNG state, wall clock and hostname are the
   template's, the same in every clone.  The host sends entropy and a
   hostname in create; the clock is asked for last, so that the time set is
   the host's of now, not of when the request was queued. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/random.h>

#include "agent/agent.h"

#define CLOCK_WAIT_MS 5000

static int
reseed (const unsigned char *data, size_t len, berth_err_t *err)
{
  cleanup_free struct rand_pool_info *info = NULL;
  cleanup_close int fd = -1;
  info = xmalloc (sizeof (*info) + len);
  info->entropy_count = (int)(len * 8);
  info->buf_size = (int)len;
  memcpy (info->buf, data, len);
  fd = open ("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return berth_error (err, errno, "open /dev/urandom");
  /* Credited, then the CRNG rekeyed at once: without the reseed the
     template's key would serve reads until the next scheduled one. */
  if (ioctl (fd, RNDADDENTROPY, info) < 0)
    return berth_error (err, errno, "add the host's entropy (RNDADDENTROPY)");
  explicit_bzero (info->buf, len);
  if (ioctl (fd, RNDRESEEDCRNG) < 0)
    return berth_error (err, errno, "reseed the CRNG (RNDRESEEDCRNG)");
  return 0;
}

/* Asks the host for its wall clock and waits for the answer.  Only the
   shim talks to us while create is pending, so the next frame is it. */
static int
sync_clock (berth_err_t *err)
{
  long long deadline = now_ms () + CLOCK_WAIT_MS;
  struct berth_frame f;
  send_json (BERTH_F_CLOCK, 0, json_object ());
  for (;;)
    {
      int r = berth_frame_next (&port_rd, &f, err);
      long long left;
      if (r < 0)
        return -1;
      if (r == 1 && f.type == BERTH_F_CLOCK && f.sid == 0)
        {
          json_t *j = NULL;
          struct timespec ts;
          int r;
          if (berth_frame_json (&f, &j, err) < 0)
            return -1;
          r = berth_req_clock (j, &ts, err);
          json_decref (j);
          if (r < 0)
            return -1;
          if (clock_settime (CLOCK_REALTIME, &ts) < 0)
            return berth_error (err, errno, "set the clock");
          return 0;
        }
      if (r == 1)
        {
          logmsg ("clock: dropped a %s frame that came first", berth_frame_type_name (f.type));
          continue;
        }
      left = deadline - now_ms ();
      if (left <= 0)
        return berth_error (err, ETIMEDOUT, "clock: the host did not answer");
      if (poll (&(struct pollfd){ .fd = port, .events = POLLIN }, 1, (int)left) < 0 && errno != EINTR)
        return berth_error (err, errno, "poll");
      r = berth_frame_fill (&port_rd, port, err);
      if (r < 0 && err && *err && (*err)->status == EAGAIN)
        berth_error_release (err);
      else if (r < 0)
        return -1;
    }
}

int
apply_identity (const struct berth_req_create *r, berth_err_t *err)
{
  const char *hostname = r->hostname;
  if (reseed (r->entropy, r->entropy_len, err) < 0)
    return -1;
  if (sethostname (hostname, strlen (hostname)) < 0)
    return berth_error (err, errno, "set the VM's hostname `%s`", hostname);
  if (sync_clock (err) < 0)
    return -1;
  trace_step ("identity");
  return 0;
}
