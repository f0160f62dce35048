#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "lib/engine/engine.h"
#include "lib/image/builtin.h"
#include "lib/image/image.h"
#include "lib/image/registry.h"
#include "lib/net/net.h"
#include "lib/runtime/isolation.h"
#include "lib/base/utils.h"

/* -l and --label-file's K[=V]: a bare K is an empty label. */
static void
label_add (json_t *labels, const char *kv)
{
  const char *eq = strchr (kv, '=');
  cleanup_free char *k = eq ? strndup (kv, (size_t)(eq - kv)) : strdup (kv);
  json_object_set_new (labels, k, json_string (eq ? eq + 1 : ""));
}

/* --cidfile: where the new container's ID goes (create and run). */
static const char *cidfile;

/* The file is made before the container, as docker does: one that exists
   fails the command before anything is created; it is removed again if
   the container is not made. */
static int
cidfile_open (const char *cmd)
{
  int fd;
  if (cidfile == NULL)
    return -1;
  fd = open (cidfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    fprintf (stderr, "berth %s: --cidfile %s: %s%s\n", cmd, cidfile, strerror (errno),
             errno == EEXIST ? " (another container may use it: remove it first)" : "");
  return fd;
}

static int
cidfile_write (int fd, const char *id)
{
  if (fd < 0)
    return 0;
  if (write_all (fd, id, strlen (id)) < 0 || fsync (fd) < 0)
    {
      fprintf (stderr, "berth: --cidfile %s: %s\n", cidfile, strerror (errno));
      close (fd);
      return -1;
    }
  close (fd);
  return 0;
}

static void
cidfile_abandon (int fd)
{
  if (fd < 0)
    return;
  close (fd);
  unlink (cidfile);
}

static const char run_options[]
    = "  -d, --detach            run in the background and print the ID\n"
      "  -i, --interactive       keep stdin open\n"
      "  -t, --tty               allocate a pseudo-terminal\n"
      "      --rm                remove the container when it exits\n"
      "      --name NAME         name the container\n"
      "  -e, --env K=V           set an environment variable (repeatable)\n"
      "      --env-file FILE     read environment variables from FILE\n"
      "      --label-file FILE   read labels (K=V lines) from FILE\n"
      "      --cidfile FILE      write the container's ID to FILE (which must not exist)\n"
      "  -w, --workdir DIR       working directory\n"
      "  -u, --user USER[:GROUP] user (name or id)\n"
      "      --entrypoint CMD    override the image's entrypoint\n"
      "  -h, --hostname NAME     container host name\n"
      "      --read-only         mount the root file system read-only\n"
      "  -m, --memory BYTES      memory limit (k, m, g suffixes)\n"
      "      --memory-swap BYTES memory plus swap limit (-1: unlimited)\n"
      "      --cpus N            CPU quota (e.g. 1.5)\n"
      "      --cpu-shares N      CPU weight\n"
      "      --cpuset-cpus LIST  CPUs to run on\n"
      "      --pids-limit N      process limit\n"
      "      --ulimit NAME=S[:H] resource limit (repeatable)\n"
      "      --cap-add CAP       add a capability (repeatable)\n"
      "      --cap-drop CAP      drop a capability (repeatable)\n"
      "      --privileged        every capability and device, no seccomp or masked paths\n"
      "      --security-opt OPT  no-new-privileges, seccomp=FILE or seccomp=unconfined\n"
      "      --device DEV        expose a host device (/dev/x[:/dev/y][:rwm])\n"
      "      --sysctl K=V        a namespaced sysctl (repeatable)\n"
      "      --tmpfs PATH[:OPT]  mount a tmpfs (repeatable)\n"
      "  -v, --volume H:C[:ro]   bind-mount a host path (repeatable)\n"
      "  -l, --label K=V         label (repeatable)\n"
      "      --stop-signal SIG   signal for stop (default TERM)\n"
      "      --stop-timeout N    seconds before stop kills (default 10)\n"
      "      --init              run an init as PID 1 that forwards signals and reaps orphans\n"
      "      --isolation MODE    process or vm (hyperv)\n"
      "      --kernel PATH       vm: guest kernel file, or a directory with vmlinuz and initrd.img\n"
      "      --network NET       bridge (default), none, host, container:NAME|ID or a user network\n"
      "      --ip ADDR           the container's IPv4 address on its network\n"
      "      --network-alias N   another name on a user network (repeatable)\n"
      "  -p, --publish SPEC      [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp], ranges too (repeatable)\n"
      "  -P, --publish-all       publish every exposed port on a free host port\n"
      "      --expose PORT       expose a port or range (repeatable)\n"
      "      --add-host NAME:IP  an /etc/hosts entry; IP may be IPv6 or host-gateway (repeatable)\n"
      "      --dns IP            a name server (repeatable)\n"
      "      --dns-search DOMAIN a search domain (repeatable; . for none)\n"
      "      --dns-option OPT    a resolver option such as ndots:2 (repeatable)\n"
      "      --group-add GROUP   an additional group, name or id (repeatable)\n"
      "      --shm-size BYTES    size of /dev/shm (default 64m)\n"
      "      --log-opt K=V       json-file log: max-size=SIZE, max-file=N (default 10m, 2)\n"
      "      --log-driver json-file  the only driver\n"
      "      --restart POLICY    no, on-failure[:N], always or unless-stopped\n"
      "      --health-cmd CMD    a health check, run with /bin/sh -c in the container\n"
      "      --health-interval D, --health-timeout D, --health-start-period D (30s, 30s, 0s), --health-retries N (3)\n"
      "      --no-healthcheck    disable the image's HEALTHCHECK\n"
      "      --pull POLICY       missing (default: pull the image if it is not here), always or never\n"
      "      --platform OS/ARCH  which image of a multi-platform index to pull (linux/amd64)\n";

static char *cid_for_signals;
static struct berth_engine *eng_for_signals;

static void
forward (int sig)
{
  berth_err_t err = NULL;
  if (cid_for_signals)
    berth_engine_kill (eng_for_signals, cid_for_signals, sig, &err);
  berth_error_release (&err);
}

static pid_t monitor_pid;

static void
winch (int sig)
{
  if (monitor_pid > 0)
    kill (monitor_pid, sig);
}

/* --pull and --platform: what run and create do about the image. */
static const char *pull_policy = "missing", *pull_platform;

/* The image, pulled first as docker does: when it is missing (the
   default), always, or never (then a missing image is an error). */
static int
ensure_image (const char *cmd, const char *image)
{
  struct berth_store *s = NULL;
  struct berth_registry_opts o = { .tls_verify = true, .platform = pull_platform };
  berth_err_t err = NULL;
  char md[BERTH_DIGEST_LEN + 1];
  bool imported = false, have;
  int rc;
  if ((rc = cli_open_store (&s)) != 0)
    return rc;
  have = berth_builtin_ensure (s, image, &imported, &err) == 0 && berth_image_resolve (s, image, md, &err) == 0;
  if (!have && err && err->status != ENOENT)
    {
      berth_store_close (s);
      return cli_error (&err);
    }
  berth_error_release (&err);
  if (strcmp (pull_policy, "never") == 0 || (have && strcmp (pull_policy, "missing") == 0))
    {
      berth_store_close (s);
      if (!have)
        {
          fprintf (stderr, "berth %s: no such image: %s (--pull=never)\n", cmd, image);
          return 125;
        }
      return 0;
    }
  if (!have)
    fprintf (stderr, "Unable to find image '%s' locally\n", image);
  rc = berth_registry_pull (s, image, &o, md, &err);
  berth_store_close (s);
  if (rc < 0)
    return cli_error (&err);
  fprintf (stderr, "Digest: %s\nStatus: Downloaded image for %s\n", md, image);
  return 0;
}

static struct termios saved;
static bool raw_mode;

static void
restore_tty (void)
{
  if (raw_mode)
    tcsetattr (0, TCSANOW, &saved);
}

/* What the container's backend has to say before it starts (VM isolation
   without KVM works, slowly): once per container. */
static void
cli_warn_isolation (struct berth_engine *e, const char *id)
{
  json_t *rec = NULL;
  berth_err_t err = NULL;
  const struct berth_isolation *iso;
  if (berth_engine_load (e, id, &rec, &err) < 0)
    {
      berth_error_release (&err);
      return;
    }
  iso = berth_isolation_find (json_string_value (json_object_get (rec, "Isolation")) ?: "process", &err);
  berth_error_release (&err);
  if (iso && iso->notice)
    {
      cleanup_free char *note = iso->notice ();
      if (note)
        fprintf (stderr, "berth: warning: %s\n", note);
    }
  json_decref (rec);
}

/* One option of the command, its environment and the container's name and life: 1 if it was one of these, 0 if not, -1
   on an error (said). */
static int
option_process (const char *cmd, int c, struct berth_create_request *r, bool *detach)
{
  char *end;
  switch (c)
    {
    case 'd':
      if (detach == NULL)
        return cli_usage (cmd, "unknown option --detach"), -1;
      *detach = true;
      break;
    case 'i':
      r->interactive = r->run.interactive = true;
      break;
    case 't':
      r->tty = r->run.tty = true;
      break;
    case 1:
      r->auto_remove = true;
      break;
    case 2:
      r->name = optarg;
      break;
    case 'e':
      cli_env_add (r->run.env, optarg);
      break;
    case 3:
      {
        berth_err_t err = NULL;
        if (cli_env_file (r->run.env, optarg, &err) < 0)
          return cli_usage (cmd, "%s", err->msg), berth_error_release (&err), -1;
      }
      break;
    case 'w':
      r->run.workdir = optarg;
      break;
    case 'u':
      r->run.user = optarg;
      break;
    case 4:
      r->run.entrypoint = optarg;
      break;
    case 'h':
      r->run.hostname = optarg;
      break;
    case 5:
      r->run.read_only = true;
      break;
    case 'l':
      label_add (r->labels, optarg);
      break;
    case 36:
      {
        berth_err_t err = NULL;
        if (cli_kv_file ("--label-file", "label", optarg, label_add, r->labels, &err) < 0)
          return cli_usage (cmd, "%s", err->msg), berth_error_release (&err), -1;
      }
      break;
    case 37:
      cidfile = optarg;
      break;
    case 19:
      r->stop_signal = optarg;
      break;
    case 20:
      r->stop_timeout = (int)strtol (optarg, &end, 10);
      if (*end || r->stop_timeout < 0)
        return cli_usage (cmd, "--stop-timeout: \"%s\" is not seconds", optarg), -1;
      break;
    case 22:
      r->init = true;
      break;
    case 24:
      printf ("Usage: berth %s [options] IMAGE [COMMAND [ARG...]]\n\nOptions:\n%s", cmd, run_options);
      exit (0);
    default:
      return 0;
    }
  return 1;
}

/* One option of resource limits: 1 if it was one of these, 0 if not, -1 on an
   error (said). */
/* --health-*: docker's fields, durations in ns (Go durations: 30s, 1m30s,
   500ms; more than 0; the timeout and interval at least 1 ms). */
static int
option_health (const char *cmd, int c, struct berth_create_request *r)
{
  static const char *const keys[] = { "Interval", "Timeout", "StartPeriod" };
  long long ns;
  char *end;
  if (r->healthcheck == NULL)
    r->healthcheck = json_object ();
  switch (c)
    {
    case 45:
      if (*optarg == '\0')
        return cli_usage (cmd, "--health-cmd: empty command"), -1;
      json_object_set_new (r->healthcheck, "Test", json_pack ("[ss]", "CMD-SHELL", optarg));
      return 1;
    case 46:
    case 47:
    case 48:
      if (!cli_parse_duration (optarg, &ns) || (c != 48 && ns < 1000000))
        return cli_usage (cmd, "--%s: \"%s\" is not a duration (30s, 1m30s, 500ms)",
                          c == 46   ? "health-interval"
                          : c == 47 ? "health-timeout"
                                    : "health-start-period",
                          optarg),
               -1;
      json_object_set_new (r->healthcheck, keys[c - 46], json_integer (ns));
      return 1;
    case 49:
      {
        long n = strtol (optarg, &end, 10);
        if (end == optarg || *end || n < 1)
          return cli_usage (cmd, "--health-retries: \"%s\" is not a count of at least 1", optarg), -1;
        json_object_set_new (r->healthcheck, "Retries", json_integer (n));
        return 1;
      }
    default:
      r->no_healthcheck = true;
      return 1;
    }
}

/* --log-opt KEY=VALUE of the json-file log: max-size (a size, at least
   4 KiB) and max-file (at least 1); anything else is refused. */
static int
log_opt (const char *cmd, const char *arg, json_t *cfg)
{
  const char *eq = strchr (arg, '=');
  cleanup_free char *key = NULL;
  bool ok;
  if (eq == NULL)
    return cli_usage (cmd, "--log-opt: \"%s\" is not KEY=VALUE", arg), -1;
  if (strncmp (arg, "max-size=", 9) == 0)
    {
      long long n = parse_bytes (eq + 1, &ok);
      if (!ok || n < 4096)
        return cli_usage (cmd, "--log-opt max-size: \"%s\" is not a size of at least 4k", eq + 1), -1;
    }
  else if (strncmp (arg, "max-file=", 9) == 0)
    {
      char *end;
      long n = strtol (eq + 1, &end, 10);
      if (end == eq + 1 || *end || n < 1 || n > 1000)
        return cli_usage (cmd, "--log-opt max-file: \"%s\" is not a count from 1 to 1000", eq + 1), -1;
    }
  else
    return cli_usage (cmd, "--log-opt: \"%.*s\" is not supported (the json-file log takes max-size and max-file)",
                      (int)(eq - arg), arg),
           -1;
  key = strndup (arg, (size_t)(eq - arg));
  json_object_set_new (cfg, key, json_string (eq + 1));
  return 1;
}

static int
option_resources (const char *cmd, int c, struct berth_create_request *r, bool *detach)
{
  bool ok;
  char *end;
  switch (c)
    {
    case 'm':
      r->run.memory = parse_bytes (optarg, &ok);
      if (!ok || r->run.memory <= 0)
        return cli_usage (cmd, "--memory: \"%s\" is not a size", optarg), -1;
      break;
    case 6:
      r->run.memory_swap = strcmp (optarg, "-1") == 0 ? -1 : parse_bytes (optarg, &ok);
      if (strcmp (optarg, "-1") != 0 && !ok)
        return cli_usage (cmd, "--memory-swap: \"%s\" is not a size", optarg), -1;
      break;
    case 7:
      r->run.cpus = strtod (optarg, &end);
      if (*end || r->run.cpus <= 0)
        return cli_usage (cmd, "--cpus: \"%s\" is not a number of CPUs", optarg), -1;
      break;
    case 8:
      r->run.cpu_shares = strtol (optarg, &end, 10);
      if (*end)
        return cli_usage (cmd, "--cpu-shares: \"%s\" is not a number", optarg), -1;
      break;
    case 9:
      r->run.cpuset_cpus = optarg;
      break;
    case 10:
      r->run.pids_limit = strtol (optarg, &end, 10);
      if (*end)
        return cli_usage (cmd, "--pids-limit: \"%s\" is not a number", optarg), -1;
      break;
    case 11:
      json_array_append_new (r->run.ulimits, json_string (optarg));
      break;
    case 28:
      r->run.shm_size = parse_bytes (optarg, &ok);
      if (!ok || r->run.shm_size <= 0)
        return cli_usage (cmd, "--shm-size: \"%s\" is not a size", optarg), -1;
      break;
    case 41:
      json_array_append_new (r->run.group_add, json_string (optarg));
      break;
    case 42:
      return log_opt (cmd, optarg, r->log_config);
    case 45:
    case 46:
    case 47:
    case 48:
    case 49:
    case 50:
      return option_health (cmd, c, r);
    case 44:
      {
        berth_err_t err = NULL;
        json_decref (r->restart_policy);
        if (berth_restart_policy_parse (optarg, &r->restart_policy, &err) < 0)
          return cli_error (&err), -1;
      }
      break;
    case 43:
      if (strcmp (optarg, "json-file") != 0)
        return cli_usage (cmd, "--log-driver: \"%s\" is not supported (berth logs as json-file)", optarg), -1;
      break;
    default:
      return 0;
    }
  return 1;
}

/* One option of capabilities, security options, devices, sysctls, namespaces and isolation: 1 if it was one of these, 0
   if not, -1 on an error (said). */
static int
option_isolation (const char *cmd, int c, struct berth_create_request *r, bool *detach)
{
  switch (c)
    {
    case 12:
      json_array_append_new (r->run.cap_add, json_string (optarg));
      break;
    case 13:
      json_array_append_new (r->run.cap_drop, json_string (optarg));
      break;
    case 14:
      r->run.privileged = true;
      break;
    case 15:
      if (strcmp (optarg, "no-new-privileges") == 0 || strcmp (optarg, "no-new-privileges:true") == 0)
        r->run.no_new_privileges = true;
      else if (strncmp (optarg, "seccomp=", 8) == 0 || strncmp (optarg, "seccomp:", 8) == 0)
        r->run.seccomp = optarg + 8;
      else
        return cli_usage (cmd, "--security-opt: \"%s\" is not supported", optarg), -1;
      break;
    case 16:
      json_array_append_new (r->run.devices, json_string (optarg));
      break;
    case 17:
      {
        char *eq = strchr (optarg, '=');
        if (eq == NULL)
          return cli_usage (cmd, "--sysctl: \"%s\" is not KEY=VALUE", optarg), -1;
        *eq = '\0';
        json_object_set_new (r->run.sysctls, optarg, json_string (eq + 1));
      }
      break;
    case 21:
      r->isolation = optarg;
      break;
    case 29:
      r->kernel = optarg;
      break;
    case 25:
      /* Each container has its own IPC objects: sharing them is the kind
         of piercing berth does not allow, in either isolation mode. */
      if (strcmp (optarg, "private") != 0 && strcmp (optarg, "none") != 0)
        return cli_usage (cmd,
                          "--ipc=%s: berth does not share IPC namespaces or shared memory between containers "
                          "or with the host (the isolation model keeps them per container)",
                          optarg),
               -1;
      break;
    case 26:
      return cli_usage (cmd,
                        "--pid=%s: berth does not share PID namespaces (each container has its own process "
                        "ID space)",
                        optarg),
             -1;
    default:
      return 0;
    }
  return 1;
}

/* One option of volumes, mounts and tmpfs: 1 if it was one of these, 0 if not, -1 on an
   error (said). */
static int
option_storage (const char *cmd, int c, struct berth_create_request *r, bool *detach)
{
  switch (c)
    {
    case 34:
      if (strcmp (optarg, "missing") != 0 && strcmp (optarg, "always") != 0 && strcmp (optarg, "never") != 0
          && strcmp (optarg, "newer") != 0)
        return cli_usage (cmd, "--pull: \"%s\" is not always, missing or never", optarg), -1;
      /* docker's "newer" pulls when the registry has another digest:
         which is what always does, pulling only the layers not here. */
      pull_policy = strcmp (optarg, "newer") == 0 ? "always" : optarg;
      break;
    case 35:
      pull_platform = optarg;
      break;
    case 18:
      json_array_append_new (r->run.tmpfs, json_string (optarg));
      break;
    case 'v':
      json_array_append_new (r->run.volumes, json_string (optarg));
      break;
    case 23:
      {
        berth_err_t err = NULL;
        if (berth_ocispec_mount_option (optarg, r->run.volumes, r->run.tmpfs, &err) < 0)
          {
            cli_usage (cmd, "%s", err->msg);
            berth_error_release (&err);
            return -1;
          }
      }
      break;
    default:
      return 0;
    }
  return 1;
}

/* One option of networks, ports and names: 1 if it was one of these, 0 if not, -1 on an
   error (said). */
static int
option_network (const char *cmd, int c, struct berth_create_request *r, bool *detach)
{
  switch (c)
    {
    case 27:
      r->network = optarg;
      break;
    case 'p':
      {
        berth_err_t err = NULL;
        if (berth_net_parse_publish (optarg, r->publish, &err) < 0)
          return cli_error (&err), -1;
      }
      break;
    case 'P':
      r->publish_all = true;
      break;
    case 30:
      {
        berth_err_t err = NULL;
        if (berth_net_parse_expose (optarg, r->expose, &err) < 0)
          return cli_error (&err), -1;
      }
      break;
    case 31:
      r->ip = optarg;
      break;
    case 32:
      json_array_append_new (r->aliases, json_string (optarg));
      break;
    case 33:
      {
        /* NAME:IP (the first colon: an IPv6 address has more), or docker's
           NAME=IP; IP may be host-gateway. */
        const char *sep = strpbrk (optarg, ":="), *ip;
        unsigned char a[16];
        if (sep == NULL || sep == optarg)
          return cli_usage (cmd, "--add-host %s: use NAME:IP", optarg), -1;
        ip = sep + 1;
        if (*ip == '[' && ip[strlen (ip) - 1] == ']')
          {
            cleanup_free char *in = strndup (ip + 1, strlen (ip) - 2);
            if (inet_pton (AF_INET6, in, a) != 1)
              return cli_usage (cmd, "--add-host %s: \"%s\" is not an IP address", optarg, ip), -1;
            json_array_append_new (r->add_hosts, json_sprintf ("%.*s:%s", (int)(sep - optarg), optarg, in));
            break;
          }
        if (strcmp (ip, "host-gateway") != 0 && inet_pton (AF_INET, ip, a) != 1 && inet_pton (AF_INET6, ip, a) != 1)
          return cli_usage (cmd, "--add-host %s: \"%s\" is neither an IP address nor host-gateway", optarg, ip), -1;
        json_array_append_new (r->add_hosts, json_sprintf ("%.*s:%s", (int)(sep - optarg), optarg, ip));
      }
      break;
    case 38:
      {
        unsigned char a[16];
        if (inet_pton (AF_INET, optarg, a) != 1 && inet_pton (AF_INET6, optarg, a) != 1)
          return cli_usage (cmd, "--dns: \"%s\" is not an IP address", optarg), -1;
        json_array_append_new (r->dns, json_string (optarg));
      }
      break;
    case 39:
      if (*optarg == '\0' || strpbrk (optarg, " \t\n/") || strlen (optarg) > 253)
        return cli_usage (cmd, "--dns-search: \"%s\" is not a domain", optarg), -1;
      json_array_append_new (r->dns_search, json_string (optarg));
      break;
    case 40:
      if (*optarg == '\0' || strpbrk (optarg, " \t\n"))
        return cli_usage (cmd, "--dns-option: \"%s\" is not a resolver option (ndots:2, edns0, ...)", optarg), -1;
      json_array_append_new (r->dns_options, json_string (optarg));
      break;
    default:
      return 0;
    }
  return 1;
}

/* Shared by create and run: options into a request. */
int
cli_parse_create (const char *cmd, int argc, char **argv, struct berth_create_request *r, bool *detach)
{
  static const struct option opts[] = {
    { "detach", no_argument, NULL, 'd' },
    { "interactive", no_argument, NULL, 'i' },
    { "tty", no_argument, NULL, 't' },
    { "rm", no_argument, NULL, 1 },
    { "name", required_argument, NULL, 2 },
    { "env", required_argument, NULL, 'e' },
    { "env-file", required_argument, NULL, 3 },
    { "workdir", required_argument, NULL, 'w' },
    { "user", required_argument, NULL, 'u' },
    { "entrypoint", required_argument, NULL, 4 },
    { "hostname", required_argument, NULL, 'h' },
    { "read-only", no_argument, NULL, 5 },
    { "memory", required_argument, NULL, 'm' },
    { "memory-swap", required_argument, NULL, 6 },
    { "cpus", required_argument, NULL, 7 },
    { "cpu-shares", required_argument, NULL, 8 },
    { "cpuset-cpus", required_argument, NULL, 9 },
    { "pids-limit", required_argument, NULL, 10 },
    { "ulimit", required_argument, NULL, 11 },
    { "cap-add", required_argument, NULL, 12 },
    { "cap-drop", required_argument, NULL, 13 },
    { "privileged", no_argument, NULL, 14 },
    { "security-opt", required_argument, NULL, 15 },
    { "device", required_argument, NULL, 16 },
    { "sysctl", required_argument, NULL, 17 },
    { "tmpfs", required_argument, NULL, 18 },
    { "volume", required_argument, NULL, 'v' },
    { "label", required_argument, NULL, 'l' },
    { "stop-signal", required_argument, NULL, 19 },
    { "stop-timeout", required_argument, NULL, 20 },
    { "isolation", required_argument, NULL, 21 },
    { "init", no_argument, NULL, 22 },
    { "mount", required_argument, NULL, 23 },
    { "help", no_argument, NULL, 24 },
    { "ipc", required_argument, NULL, 25 },
    { "pid", required_argument, NULL, 26 },
    { "network", required_argument, NULL, 27 },
    { "net", required_argument, NULL, 27 },
    { "publish", required_argument, NULL, 'p' },
    { "shm-size", required_argument, NULL, 28 },
    { "kernel", required_argument, NULL, 29 },
    { "publish-all", no_argument, NULL, 'P' },
    { "expose", required_argument, NULL, 30 },
    { "ip", required_argument, NULL, 31 },
    { "network-alias", required_argument, NULL, 32 },
    { "add-host", required_argument, NULL, 33 },
    { "pull", required_argument, NULL, 34 },
    { "platform", required_argument, NULL, 35 },
    { "label-file", required_argument, NULL, 36 },
    { "cidfile", required_argument, NULL, 37 },
    { "dns", required_argument, NULL, 38 },
    { "dns-search", required_argument, NULL, 39 },
    { "dns-option", required_argument, NULL, 40 },
    { "dns-opt", required_argument, NULL, 40 },
    { "group-add", required_argument, NULL, 41 },
    { "log-opt", required_argument, NULL, 42 },
    { "log-driver", required_argument, NULL, 43 },
    { "restart", required_argument, NULL, 44 },
    { "health-cmd", required_argument, NULL, 45 },
    { "health-interval", required_argument, NULL, 46 },
    { "health-timeout", required_argument, NULL, 47 },
    { "health-start-period", required_argument, NULL, 48 },
    { "health-retries", required_argument, NULL, 49 },
    { "no-healthcheck", no_argument, NULL, 50 },
    { NULL, 0, NULL, 0 },
  };
  int c;
  memset (r, 0, sizeof (*r));
  r->stop_timeout = -1;
  r->run.cmd = json_array ();
  r->run.env = json_array ();
  r->run.cap_add = json_array ();
  r->run.cap_drop = json_array ();
  r->run.ulimits = json_array ();
  r->run.tmpfs = json_array ();
  r->run.volumes = json_array ();
  r->run.devices = json_array ();
  r->run.sysctls = json_object ();
  r->labels = json_object ();
  r->publish = json_object ();
  r->expose = json_object ();
  r->aliases = json_array ();
  r->add_hosts = json_array ();
  r->dns = json_array ();
  r->dns_search = json_array ();
  r->dns_options = json_array ();
  r->run.group_add = json_array ();
  r->log_config = json_object ();
  while ((c = getopt_long (argc, argv, "+dite:w:u:h:m:v:l:p:P", opts, NULL)) != -1)
    {
      static int (*const groups[]) (const char *, int, struct berth_create_request *, bool *)
          = { option_process, option_resources, option_isolation, option_storage, option_network };
      int handled = 0;
      for (size_t g = 0; g < ARRAY_SIZE (groups) && handled == 0; g++)
        handled = groups[g](cmd, c, r, detach);
      if (handled < 0)
        return -1;
      if (handled == 0)
        return cli_usage (cmd, "unknown option"), -1;
    }
  if (optind >= argc)
    return cli_usage (cmd, "requires an image"), -1;
  if (r->no_healthcheck && r->healthcheck && json_object_get (r->healthcheck, "Test"))
    return cli_usage (cmd, "--no-healthcheck conflicts with --health-cmd"), -1;
  if (r->auto_remove && r->restart_policy
      && strcmp (json_string_value (json_object_get (r->restart_policy, "Name")) ?: "no", "no") != 0)
    return cli_usage (cmd, "conflicting options: --restart and --rm"), -1;
  r->image = argv[optind];
  for (int i = optind + 1; i < argc; i++)
    json_array_append_new (r->run.cmd, json_string (argv[i]));
  return 0;
}

static int
start_error (berth_err_t *err)
{
  /* docker's codes: 126 cannot run the command, 127 not found. */
  int code = 125;
  if (*err && strstr ((*err)->msg, "exec"))
    code = (*err)->status == ENOENT ? 127 : (*err)->status == EACCES ? 126 : 125;
  fprintf (stderr, "berth: %s\n", (*err)->msg);
  berth_error_release (err);
  return code;
}

/* The image (pulled as --pull says), the engine and the container, with
   its --cidfile; 0 with *E open, or the exit code (nothing left behind). */
static int
create_container (const char *cmd, struct berth_create_request *r, struct berth_engine **e, char id[65])
{
  berth_err_t err = NULL;
  int cid = -1, code;
  *e = NULL;
  if (cidfile && (cid = cidfile_open (cmd)) < 0)
    return 125;
  if ((code = ensure_image (cmd, r->image)) != 0)
    {
      cidfile_abandon (cid);
      return code;
    }
  if (berth_engine_open (cli.root, e, &err) < 0 || berth_engine_create (*e, r, id, &err) < 0)
    {
      cidfile_abandon (cid);
      berth_engine_close (*e);
      *e = NULL;
      return cli_error (&err);
    }
  if (cidfile_write (cid, id) < 0)
    {
      berth_engine_remove (*e, id, true, &err);
      berth_error_release (&err);
      berth_engine_close (*e);
      *e = NULL;
      return 125;
    }
  cli_warn_isolation (*e, id);
  return 0;
}

int
cmd_run (int argc, char **argv)
{
  struct berth_create_request r;
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  char id[65];
  bool detach = false;
  int status_fd = -1, code = 0;
  char buf[32];
  ssize_t n;

  if (cli_parse_create ("run", argc, argv, &r, &detach) < 0)
    return 125;
  if ((code = create_container ("run", &r, &e, id)) != 0)
    return code;
  if (!detach && r.tty && isatty (0) && tcgetattr (0, &saved) == 0)
    {
      struct termios raw = saved;
      cfmakeraw (&raw);
      tcsetattr (0, TCSANOW, &raw);
      raw_mode = true;
      atexit (restore_tty);
    }
  if (berth_engine_start (e, id, !detach, detach ? NULL : &status_fd, &err) < 0)
    {
      berth_err_t e2 = NULL;
      restore_tty ();
      if (r.auto_remove)
        berth_engine_remove (e, id, true, &e2);
      berth_error_release (&e2);
      berth_engine_close (e);
      return start_error (&err);
    }
  if (detach)
    {
      printf ("%s\n", id);
      berth_engine_close (e);
      return 0;
    }
  cid_for_signals = id;
  eng_for_signals = e;
  if (r.tty)
    {
      /* Terminal size changes go to the monitor, which holds the pty. */
      json_t *rec = NULL;
      if (berth_engine_load (e, id, &rec, &err) == 0)
        monitor_pid = (pid_t)json_integer_value (json_object_get (rec, "MonitorPid"));
      berth_error_release (&err);
      json_decref (rec);
      struct sigaction sa = { .sa_handler = winch, .sa_flags = SA_RESTART };
      sigaction (SIGWINCH, &sa, NULL);
    }
  if (!r.tty)
    {
      struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
      sigaction (SIGINT, &sa, NULL);
      sigaction (SIGTERM, &sa, NULL);
      sigaction (SIGHUP, &sa, NULL);
      sigaction (SIGQUIT, &sa, NULL);
    }
  /* The monitor writes the exit code when the container is gone. */
  do
    n = read (status_fd, buf, sizeof (buf) - 1);
  while (n < 0 && errno == EINTR);
  restore_tty ();
  if (n > 0 && strncmp (buf, "detached", 8) == 0)
    {
      /* ctrl-p ctrl-q: the container runs on. */
      fprintf (stderr, "\r\n");
      berth_engine_close (e);
      return 0;
    }
  if (n > 0)
    {
      buf[n] = '\0';
      code = atoi (buf);
    }
  else if (berth_engine_wait (e, id, &code, &err) < 0)
    code = cli_error (&err);
  berth_engine_close (e);
  return code < 0 ? 125 : code;
}

int
cmd_create (int argc, char **argv)
{
  struct berth_create_request r;
  struct berth_engine *e = NULL;
  char id[65];
  int rc;
  if (cli_parse_create ("create", argc, argv, &r, NULL) < 0)
    return 125;
  if ((rc = create_container ("create", &r, &e, id)) != 0)
    return rc;
  printf ("%s\n", id);
  berth_engine_close (e);
  return 0;
}

/* start --all --filter restart-policy=P: what the berth-restart unit
   runs at boot.  always comes back even after a stop by hand;
   unless-stopped only if it was not stopped by hand (docker's rules for
   a daemon start). */
static bool
policy_wanted (json_t *rec, char **policies, int n)
{
  const char *name = json_string_value (json_object_get (
                         json_object_get (json_object_get (rec, "HostConfig"), "RestartPolicy"), "Name"))
                         ?: "no";
  bool manual = json_is_true (json_object_get (json_object_get (rec, "State"), "ManualStop"));
  for (int i = 0; i < n; i++)
    if (strcmp (policies[i], name) == 0)
      return strcmp (name, "unless-stopped") != 0 || !manual;
  return false;
}

int
cmd_start (int argc, char **argv)
{
  static const struct option opts[] = { { "attach", no_argument, NULL, 'a' },
                                        { "all", no_argument, NULL, 'A' },
                                        { "filter", required_argument, NULL, 'f' },
                                        { NULL, 0, NULL, 0 } };
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  bool attach = false, all = false;
  char *policies[8];
  int npol = 0, rc = 0, c;
  json_t *names = json_array ();
  if (cli_help (argc, argv, "start [-a] CONTAINER... | start --all [--filter restart-policy=POLICY]...",
                "  -a, --attach   attach and wait for the exit code\n"
                "      --all      every container that is not running (with --filter, those with that restart\n"
                "                 policy: always, unless-stopped (unless stopped by hand), on-failure, no)\n"))
    return 0;
  while ((c = getopt_long (argc, argv, "a", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        attach = true;
        break;
      case 'A':
        all = true;
        break;
      case 'f':
        if (strncmp (optarg, "restart-policy=", 15) != 0)
          return cli_usage ("start", "--filter: only restart-policy=POLICY is a start filter, not \"%s\"", optarg);
        if (npol == (int)ARRAY_SIZE (policies))
          return cli_usage ("start", "too many filters");
        policies[npol++] = optarg + 15;
        break;
      default:
        return cli_usage ("start", "unknown option");
      }
  if (npol && !all)
    return cli_usage ("start", "--filter goes with --all");
  if (all && (optind < argc || attach))
    return cli_usage ("start", "--all takes no containers and no --attach");
  if (!all && optind >= argc)
    return cli_usage ("start", "requires at least one container");
  if (berth_engine_open (cli.root, &e, &err) < 0)
    return cli_error (&err);
  if (all)
    {
      json_t *list = NULL, *rec;
      size_t k;
      if (berth_engine_list (e, &list, &err) < 0)
        {
          berth_engine_close (e);
          return cli_error (&err);
        }
      json_array_foreach (list, k, rec)
      {
        const char *st = json_string_value (json_object_get (json_object_get (rec, "State"), "Status")) ?: "";
        if (strcmp (st, "running") == 0 || strcmp (st, "restarting") == 0
            || (npol && !policy_wanted (rec, policies, npol)))
          continue;
        json_array_append (names, json_object_get (rec, "Id"));
      }
      json_decref (list);
    }
  else
    for (int i = optind; i < argc; i++)
      json_array_append_new (names, json_string (argv[i]));
  for (size_t i = 0; i < json_array_size (names); i++)
    {
      const char *name = json_string_value (json_array_get (names, i));
      char id[65];
      int status_fd = -1;
      if (berth_engine_resolve (e, name, id, &err) < 0
          || berth_engine_start (e, id, attach, attach ? &status_fd : NULL, &err) < 0)
        {
          rc = start_error (&err);
          continue;
        }
      if (attach)
        {
          char buf[32];
          ssize_t n = read (status_fd, buf, sizeof (buf) - 1);
          rc = n > 0 ? (buf[n] = '\0', atoi (buf)) : 125;
        }
      else
        printf ("%s\n", name);
    }
  json_decref (names);
  berth_engine_close (e);
  return rc;
}
