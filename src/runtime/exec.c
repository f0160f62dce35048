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

/* runc exec's flags over the process object. */
struct exec_flags
{
  const char *process_file, *cwd, *user, *apparmor;
  bool tty, nnp;
  json_t *envs, *gids, *caps;
};

static int
parse_flags (int argc, char **argv, struct exec_flags *f, struct berth_exec_request *r)
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
  int c;
  char *end;
  long gid;
  while ((c = getopt_long_only (argc, argv, "+p:dte:u:g:c:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'p':
        f->process_file = optarg;
        break;
      case 'd':
        r->detach = true;
        break;
      case 'P':
        r->pid_file = optarg;
        break;
      case 'C':
        r->console_socket = optarg;
        break;
      case 't':
        f->tty = true;
        break;
      case 'e':
        if (strchr (optarg, '=') == NULL)
          return usage_error ("exec", "--env: \"%s\" is not NAME=VALUE", optarg);
        json_array_append_new (f->envs, json_string (optarg));
        break;
      case 'w':
        f->cwd = optarg;
        break;
      case 'u':
        f->user = optarg;
        break;
      case 'g':
        gid = strtol (optarg, &end, 10);
        if (*end || gid < 0)
          return usage_error ("exec", "--additional-gids: \"%s\" is not a group id", optarg);
        json_array_append_new (f->gids, json_integer (gid));
        break;
      case 'c':
        json_array_append_new (f->caps, json_string (optarg));
        break;
      case 'n':
        f->nnp = true;
        break;
      case 'F':
        r->preserve_fds = (int)strtol (optarg, &end, 10);
        if (*end || r->preserve_fds < 0)
          return usage_error ("exec", "--preserve-fds: \"%s\" is not a count", optarg);
        break;
      case 'A':
        f->apparmor = optarg;
        break;
      case 'L':
      case 'I':
      case 'G':
        break;
      case 'h':
        print_help ("exec [options] ID [COMMAND [ARGS...]]", exec_options);
        return -2;
      default:
        return usage_error ("exec", "unknown option");
      }
  if (optind >= argc)
    return usage_error ("exec", "expects a container id");
  return 0;
}

/* --process FILE, or the container's own process with ARGV as its args. */
static int
load_process (const struct exec_flags *f, const char *id, int argc, char **argv, json_t **proc, berth_err_t *err)
{
  json_error_t jerr;
  json_t *args;
  if (f->process_file)
    {
      *proc = json_load_file (f->process_file, JSON_REJECT_DUPLICATES, &jerr);
      if (*proc == NULL)
        return berth_error (err, 0, "%s: line %d column %d: %s", f->process_file, jerr.line, jerr.column, jerr.text);
      if (!json_is_object (*proc))
        return berth_error (err, 0, "%s: expected a process object", f->process_file);
      return 0;
    }
  if (berth_container_process_template (g.root, id, proc, err) < 0)
    return -1;
  args = json_array ();
  for (int i = 0; i < argc; i++)
    json_array_append_new (args, json_string (argv[i]));
  json_object_set_new (*proc, "args", args);
  json_object_set_new (*proc, "terminal", json_boolean (f->tty));
  json_object_del (*proc, "consoleSize");
  return 0;
}

/* The flags that change the process object. */
static int
apply_flags (const struct exec_flags *f, json_t *proc)
{
  if (json_array_size (f->envs))
    {
      json_t *env = json_object_get (proc, "env");
      if (!json_is_array (env))
        {
          env = json_array ();
          json_object_set_new (proc, "env", env);
        }
      json_array_extend (env, f->envs);
    }
  if (f->cwd)
    json_object_set_new (proc, "cwd", json_string (f->cwd));
  if (f->user)
    {
      char *end;
      long uid = strtol (f->user, &end, 10), gid = 0;
      if (*end == ':')
        gid = strtol (end + 1, &end, 10);
      if (*end || uid < 0 || gid < 0)
        return usage_error ("exec", "--user: \"%s\" is not UID[:GID]", f->user);
      json_object_set_new (proc, "user", json_pack ("{s:I,s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid));
    }
  if (json_array_size (f->gids))
    {
      json_t *u = json_object_get (proc, "user");
      if (!json_is_object (u))
        {
          u = json_object ();
          json_object_set_new (proc, "user", u);
        }
      json_object_set (u, "additionalGids", f->gids);
    }
  for (size_t i = 0; i < json_array_size (f->caps); i++)
    add_cap (proc, json_string_value (json_array_get (f->caps, i)));
  if (f->nnp)
    json_object_set_new (proc, "noNewPrivileges", json_true ());
  if (f->apparmor)
    json_object_set_new (proc, "apparmorProfile", json_string (f->apparmor));
  if (f->tty)
    json_object_set_new (proc, "terminal", json_true ());
  return 0;
}

int
cmd_exec (int argc, char **argv)
{
  struct exec_flags f = { .envs = json_array (), .gids = json_array (), .caps = json_array () };
  struct berth_exec_request r = { 0 };
  berth_err_t err = NULL;
  json_t *proc = NULL;
  int status = 0, ret;

  ret = parse_flags (argc, argv, &f, &r);
  if (ret == 0 && f.process_file == NULL && optind + 1 >= argc)
    ret = usage_error ("exec", "expects a command, or --process");
  if (ret == 0)
    {
      if (load_process (&f, argv[optind], argc - optind - 1, argv + optind + 1, &proc, &err) < 0)
        ret = report_error (&err);
      else if ((ret = apply_flags (&f, proc)) == 0)
        {
          berth_err_t warning = NULL;
          r.process = proc;
          r.warning = &warning;
          ret = berth_container_exec (g.root, argv[optind], &r, &status, &err);
          report_warning (&warning);
          ret = ret < 0 ? report_error (&err) : status;
        }
    }
  else if (ret == -2)
    ret = 0; /* --help */
  json_decref (proc);
  json_decref (f.envs);
  json_decref (f.gids);
  json_decref (f.caps);
  return ret;
}
