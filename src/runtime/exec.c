#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/container.h"
#include "lib/runtime/spec.h"
#include "lib/base/utils.h"
#include "runtime.h"

static const char exec_options[] = "  -p, --process FILE        the process to run (runtime-spec JSON)\n"
                                   "  -d, --detach              do not wait for the process\n"
                                   "      --pid-file FILE       write the process's pid to FILE\n"
                                   "      --console-socket PATH send the pty master to this unix socket\n"
                                   "  -t, --tty                 allocate a pty\n"
                                   "  -e, --env NAME=VALUE      add an environment variable\n"
                                   "      --cwd DIR             working directory in the container\n"
                                   "  -u, --user UID[:GID]      run as this user\n"
                                   "  -g, --additional-gids GID add a supplementary group\n"
                                   "  -c, --cap CAP             add a capability\n"
                                   "      --no-new-privs        set no_new_privs\n"
                                   "      --preserve-fds N      pass N more fds to the process\n";

static int
add_cap (json_t *proc, const char *cap)
{
  json_t *caps = json_object_get (proc, "capabilities");
  const char *sets[] = { "bounding", "effective", "permitted" };
  if (!json_is_object (caps))
    {
      caps = json_object ();
      json_object_set_new (proc, "capabilities", caps);
    }
  for (size_t i = 0; i < ARRAY_SIZE (sets); i++)
    {
      json_t *a = json_object_get (caps, sets[i]);
      if (!json_is_array (a))
        {
          a = json_array ();
          json_object_set_new (caps, sets[i], a);
        }
      json_array_append_new (a, json_string (cap));
    }
  return 0;
}

int
cmd_exec (int argc, char **argv)
{
  static const struct option opts[] = {
    { "process", required_argument, NULL, 'p' },
    { "detach", no_argument, NULL, 'd' },
    { "pid-file", required_argument, NULL, 'P' },
    { "console-socket", required_argument, NULL, 'C' },
    { "tty", no_argument, NULL, 't' },
    { "env", required_argument, NULL, 'e' },
    { "cwd", required_argument, NULL, 'w' },
    { "user", required_argument, NULL, 'u' },
    { "additional-gids", required_argument, NULL, 'g' },
    { "cap", required_argument, NULL, 'c' },
    { "no-new-privs", no_argument, NULL, 'n' },
    { "preserve-fds", required_argument, NULL, 'F' },
    { "process-label", required_argument, NULL, 'L' },
    { "apparmor", required_argument, NULL, 'A' },
    { "ignore-paused", no_argument, NULL, 'I' },
    { "cgroup", required_argument, NULL, 'G' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct berth_exec_request r = { 0 };
  berth_err_t err = NULL;
  const char *process_file = NULL, *cwd = NULL, *user = NULL, *apparmor = NULL;
  bool tty = false, nnp = false;
  json_t *envs = json_array (), *gids = json_array (), *caps = json_array (), *proc = NULL;
  int c, status = 0;
  char *end;

  while ((c = getopt_long_only (argc, argv, "+p:dte:u:g:c:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'p':
        process_file = optarg;
        break;
      case 'd':
        r.detach = true;
        break;
      case 'P':
        r.pid_file = optarg;
        break;
      case 'C':
        r.console_socket = optarg;
        break;
      case 't':
        tty = true;
        break;
      case 'e':
        if (strchr (optarg, '=') == NULL)
          return usage_error ("exec", "--env: \"%s\" is not NAME=VALUE", optarg);
        json_array_append_new (envs, json_string (optarg));
        break;
      case 'w':
        cwd = optarg;
        break;
      case 'u':
        user = optarg;
        break;
      case 'g':
        {
          long gid = strtol (optarg, &end, 10);
          if (*end || gid < 0)
            return usage_error ("exec", "--additional-gids: \"%s\" is not a group id", optarg);
          json_array_append_new (gids, json_integer (gid));
        }
        break;
      case 'c':
        json_array_append_new (caps, json_string (optarg));
        break;
      case 'n':
        nnp = true;
        break;
      case 'F':
        r.preserve_fds = (int)strtol (optarg, &end, 10);
        if (*end || r.preserve_fds < 0)
          return usage_error ("exec", "--preserve-fds: \"%s\" is not a count", optarg);
        break;
      case 'A':
        apparmor = optarg;
        break;
      case 'L':
      case 'I':
      case 'G':
        break;
      case 'h':
        print_help ("exec [options] ID [COMMAND [ARGS...]]", exec_options);
        return 0;
      default:
        return usage_error ("exec", "unknown option");
      }
  if (optind >= argc)
    return usage_error ("exec", "expects a container id");

  if (process_file)
    {
      json_error_t jerr;
      proc = json_load_file (process_file, JSON_REJECT_DUPLICATES, &jerr);
      if (proc == NULL)
        {
          berth_error (&err, 0, "%s: line %d column %d: %s", process_file, jerr.line, jerr.column, jerr.text);
          return report_error (&err);
        }
      if (!json_is_object (proc))
        {
          berth_error (&err, 0, "%s: expected a process object", process_file);
          return report_error (&err);
        }
    }
  else
    {
      json_t *args = json_array ();
      if (optind + 1 >= argc)
        return usage_error ("exec", "expects a command, or --process");
      if (berth_container_process_template (g.root, argv[optind], &proc, &err) < 0)
        return report_error (&err);
      for (int i = optind + 1; i < argc; i++)
        json_array_append_new (args, json_string (argv[i]));
      json_object_set_new (proc, "args", args);
      json_object_set_new (proc, "terminal", json_boolean (tty));
      json_object_del (proc, "consoleSize");
    }
  if (json_array_size (envs))
    {
      json_t *env = json_object_get (proc, "env");
      if (!json_is_array (env))
        {
          env = json_array ();
          json_object_set_new (proc, "env", env);
        }
      json_array_extend (env, envs);
    }
  if (cwd)
    json_object_set_new (proc, "cwd", json_string (cwd));
  if (user)
    {
      long uid, gid = 0;
      uid = strtol (user, &end, 10);
      if (*end == ':')
        gid = strtol (end + 1, &end, 10);
      if (*end || uid < 0 || gid < 0)
        return usage_error ("exec", "--user: \"%s\" is not UID[:GID]", user);
      json_object_set_new (proc, "user", json_pack ("{s:I,s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid));
    }
  if (json_array_size (gids))
    {
      json_t *u = json_object_get (proc, "user");
      if (!json_is_object (u))
        {
          u = json_object ();
          json_object_set_new (proc, "user", u);
        }
      json_object_set (u, "additionalGids", gids);
    }
  for (size_t i = 0; i < json_array_size (caps); i++)
    add_cap (proc, json_string_value (json_array_get (caps, i)));
  if (nnp)
    json_object_set_new (proc, "noNewPrivileges", json_true ());
  if (apparmor)
    json_object_set_new (proc, "apparmorProfile", json_string (apparmor));
  if (tty)
    json_object_set_new (proc, "terminal", json_true ());

  r.process = proc;
  if (berth_container_exec (g.root, argv[optind], &r, &status, &err) < 0)
    {
      json_decref (proc);
      return report_error (&err);
    }
  json_decref (proc);
  json_decref (envs);
  json_decref (gids);
  json_decref (caps);
  return status;
}
