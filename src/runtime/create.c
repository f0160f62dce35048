#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/container.h"
#include "runtime.h"

static const char create_options[] = "  -b, --bundle DIR          the bundle (default: the current directory)\n"
                                     "      --pid-file FILE       write the init's pid to FILE\n"
                                     "      --console-socket PATH send the pty master to this unix socket\n"
                                     "      --preserve-fds N      pass N more fds (3 .. 3+N-1) to the container\n"
                                     "      --no-pivot            use MS_MOVE and chroot instead of pivot_root\n"
                                     "      --no-new-keyring      accepted for runc compatibility\n";

/* Options shared by create and run; run adds --detach and --keep. */
int
parse_create_options (const char *cmd, int argc, char **argv, struct berth_create_opts *o, bool *detach)
{
  static const struct option opts[] = {
    { "bundle", required_argument, NULL, 'b' },
    { "pid-file", required_argument, NULL, 'p' },
    { "console-socket", required_argument, NULL, 'c' },
    { "preserve-fds", required_argument, NULL, 'P' },
    { "no-pivot", no_argument, NULL, 'n' },
    { "no-new-keyring", no_argument, NULL, 'k' },
    { "detach", no_argument, NULL, 'd' },
    { "keep", no_argument, NULL, 'K' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  char *end;

  memset (o, 0, sizeof (*o));
  o->root = g.root;
  o->bundle = ".";
  o->console_fd = -1;
  o->systemd_cgroup = g.systemd_cgroup;
  o->isolation = g.isolation;
  while ((c = getopt_long_only (argc, argv, "b:dh", opts, NULL)) != -1)
    switch (c)
      {
      case 'b':
        o->bundle = optarg;
        break;
      case 'p':
        o->pid_file = optarg;
        break;
      case 'c':
        o->console_socket = optarg;
        break;
      case 'P':
        o->preserve_fds = (int)strtol (optarg, &end, 10);
        if (*end || o->preserve_fds < 0 || o->preserve_fds > 1000)
          return usage_error (cmd, "--preserve-fds: \"%s\" is not a count of fds", optarg) ? -1 : -1;
        break;
      case 'n':
        o->no_pivot = true;
        break;
      case 'k':
      case 'K':
        break;
      case 'd':
        if (detach == NULL)
          return usage_error (cmd, "unknown option --detach"), -1;
        *detach = true;
        break;
      case 'h':
        print_help (detach ? "run [options] ID" : "create [options] ID", create_options);
        if (detach)
          printf ("  -d, --detach              return once the container has started\n");
        exit (0);
      default:
        return usage_error (cmd, "unknown option"), -1;
      }
  if (optind + 1 != argc)
    return usage_error (cmd, "expects exactly one container id"), -1;
  o->id = argv[optind];
  return 0;
}

int
cmd_create (int argc, char **argv)
{
  struct berth_create_opts o;
  berth_err_t err = NULL, warning = NULL;
  int ret;
  if (parse_create_options ("create", argc, argv, &o, NULL) < 0)
    return 1;
  o.warning = &warning;
  ret = berth_container_create (&o, NULL, &err);
  report_warning (&warning);
  return ret < 0 ? report_error (&err) : 0;
}
