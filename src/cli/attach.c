#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "lib/engine/engine.h"
#include "lib/base/utils.h"

/* Attaches to a running container's monitor: its output here, our input
   there.  ctrl-p ctrl-q detaches and leaves the container running. */
int
cmd_attach (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct termios saved, raw;
  bool restore = false, prev_ctrl_p = false, stdin_open = true;
  char id[65];
  cleanup_free char *dir = NULL;
  cleanup_close int dfd = -1;
  cleanup_close int fd = -1;
  int code = 0;

  if (cli_help (argc, argv, "attach CONTAINER", "  detach with ctrl-p ctrl-q\n"))
    return 0;
  if (argc != 2)
    return cli_usage ("attach", "requires exactly one container");
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_resolve (e, argv[1], id, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  dir = berth_engine_dir (e, id);
  dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  snprintf (addr.sun_path, sizeof (addr.sun_path), "/proc/self/fd/%d/attach.sock", dfd);
  if (dfd < 0 || fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    {
      berth_engine_close (e);
      fprintf (stderr, "berth: cannot attach to %s: it is not running\n", argv[1]);
      return 1;
    }
  if (isatty (0) && tcgetattr (0, &saved) == 0)
    {
      raw = saved;
      cfmakeraw (&raw);
      tcsetattr (0, TCSANOW, &raw);
      restore = true;
    }
  for (;;)
    {
      struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = stdin_open ? 0 : -1, .events = POLLIN } };
      char buf[65536];
      ssize_t n;
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[0].revents)
        {
          n = read (fd, buf, sizeof (buf));
          if (n <= 0)
            break; /* the container is gone */
          (void)write_all (1, buf, (size_t)n);
        }
      if (p[1].revents)
        {
          n = read (0, buf, sizeof (buf));
          if (n <= 0)
            {
              stdin_open = false;
              shutdown (fd, SHUT_WR);
              continue;
            }
          for (ssize_t k = 0; k < n; k++)
            {
              if (prev_ctrl_p && buf[k] == 0x11)
                {
                  /* What came before the escape still goes in. */
                  if (k > 1)
                    (void)write_all (fd, buf, (size_t)(k - 1));
                  if (restore)
                    tcsetattr (0, TCSANOW, &saved);
                  fprintf (stderr, "\r\nread escape sequence\r\n");
                  berth_engine_close (e);
                  return 0;
                }
              prev_ctrl_p = buf[k] == 0x10;
            }
          (void)write_all (fd, buf, (size_t)n);
        }
    }
  if (restore)
    tcsetattr (0, TCSANOW, &saved);
  if (berth_engine_wait (e, id, &code, &err) < 0)
    code = cli_error (&err);
  berth_engine_close (e);
  return code;
}
