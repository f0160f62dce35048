#include "lib/engine/ocispec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/runtime/spec.h"
#include "lib/base/utils.h"

static const char *docker_caps[] = { "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
                                     "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
                                     "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                                     "CAP_KILL",    "CAP_AUDIT_WRITE" };

/* What docker's default profile ends up refusing (EPERM): the calls that
   reach past a container's namespaces into the host. */
static const char *denied_syscalls[] = {
  "acct",
  "add_key",
  "bpf",
  "clock_adjtime",
  "clock_settime",
  "create_module",
  "delete_module",
  "finit_module",
  "get_kernel_syms",
  "get_mempolicy",
  "init_module",
  "ioperm",
  "iopl",
  "kcmp",
  "kexec_file_load",
  "kexec_load",
  "keyctl",
  "lookup_dcookie",
  "mbind",
  "mount",
  "move_pages",
  "name_to_handle_at",
  "nfsservctl",
  "open_by_handle_at",
  "perf_event_open",
  "pivot_root",
  "process_vm_readv",
  "process_vm_writev",
  "ptrace",
  "query_module",
  "quotactl",
  "reboot",
  "request_key",
  "set_mempolicy",
  "setns",
  "settimeofday",
  "stime",
  "swapon",
  "swapoff",
  "sysfs",
  "_sysctl",
  "umount",
  "umount2",
  "unshare",
  "uselib",
  "userfaultfd",
  "ustat",
  "vm86",
  "vm86old",
  "open_tree",
  "move_mount",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "mount_setattr",
};

json_t *
berth_default_seccomp (void)
{
  json_t *names = json_array ();
  for (size_t i = 0; i < ARRAY_SIZE (denied_syscalls); i++)
    json_array_append_new (names, json_string (denied_syscalls[i]));
  /* personality: only the harmless domains, as docker allows them. */
  return json_pack (
      "{s:s,s:[sss],s:[{s:o,s:s,s:i},{s:[s],s:s,s:i,s:[{s:i,s:i,s:s},{s:i,s:i,s:s},{s:i,s:i,s:s},{s:i,s:i,s:s}]}]}",
      "defaultAction", "SCMP_ACT_ALLOW", "architectures", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
      "syscalls", "names", names, "action", "SCMP_ACT_ERRNO", "errnoRet", 1, "names", "personality", "action",
      "SCMP_ACT_ERRNO", "errnoRet", 1, "args", "index", 0, "value", 0, "op", "SCMP_CMP_NE", "index", 0, "value", 8,
      "op", "SCMP_CMP_NE", "index", 0, "value", 131072, "op", "SCMP_CMP_NE", "index", 0, "value", 0xffffffff, "op",
      "SCMP_CMP_NE");
}

/* Looks NAME up in the container's /etc/passwd or /etc/group (resolved
   inside the rootfs: the image is not trusted). */
static int
lookup_id (const char *rootfs, const char *file, const char *name, long *id, long *gid, berth_err_t *err)
{
  cleanup_close int root = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int fd = -1;
  cleanup_free char *text = NULL;
  char *save = NULL;
  if (root < 0)
    return berth_error (err, errno, "open `%s`", rootfs);
  fd = open_in_root (root, file, O_RDONLY, 0, err);
  if (fd < 0)
    {
      berth_error_release (err);
      return berth_error (err, ENOENT, "unable to find %s %s: no matching entries in %s",
                          strstr (file, "group") ? "group" : "user", name, file);
    }
  if (read_all_fd (fd, file, &text, NULL, err) < 0)
    return -1;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *f[4] = { 0 };
      char *p = line;
      for (int i = 0; i < 4 && p; i++)
        {
          f[i] = p;
          p = strchr (p, ':');
          if (p)
            *p++ = '\0';
        }
      if (f[0] && f[2] && strcmp (f[0], name) == 0)
        {
          *id = atol (f[2]);
          if (gid && f[3])
            *gid = atol (f[3]);
          return 0;
        }
    }
  return berth_error (err, ENOENT, "unable to find %s %s: no matching entries in %s",
                      strstr (file, "group") ? "group" : "user", name, file);
}

int
berth_ocispec_resolve_user (const char *rootfs, const char *spec, json_t **out, berth_err_t *err)
{
  cleanup_free char *copy = xstrdup (spec);
  char *group = strchr (copy, ':'), *end;
  long uid, gid = 0;
  if (group)
    *group++ = '\0';
  uid = strtol (copy, &end, 10);
  if (*copy == '\0' || *end != '\0')
    {
      if (lookup_id (rootfs, "/etc/passwd", copy, &uid, &gid, err) < 0)
        return -1;
    }
  else if (group == NULL)
    gid = 0;
  if (group)
    {
      gid = strtol (group, &end, 10);
      if (*group == '\0' || *end != '\0')
        if (lookup_id (rootfs, "/etc/group", group, &gid, NULL, err) < 0)
          return -1;
    }
  if (uid < 0 || gid < 0)
    return berth_error (err, 0, "--user: \"%s\" is not a valid user", spec);
  *out = json_pack ("{s:I,s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid);
  return 0;
}

static void
env_set (json_t *env, const char *kv)
{
  size_t n = strcspn (kv, "=");
  json_t *v;
  size_t i;
  json_array_foreach (env, i, v)
  {
    const char *s = json_string_value (v);
    if (s && strncmp (s, kv, n) == 0 && s[n] == '=')
      {
        json_array_set_new (env, i, json_string (kv));
        return;
      }
  }
  json_array_append_new (env, json_string (kv));
}

/* 1: named explicitly, 2: through "ALL", 0: not at all. */
static int
has_cap (json_t *arr, const char *cap)
{
  json_t *v;
  size_t i;
  int r = 0;
  json_array_foreach (arr, i, v)
  {
    const char *s = json_string_value (v);
    if (s && (strcasecmp (s, cap) == 0 || strcasecmp (s, cap + 4) == 0))
      return 1;
    if (s && strcasecmp (s, "ALL") == 0)
      r = 2;
  }
  return r;
}

static int
build_caps (const struct berth_run_opts *o, json_t **out, berth_err_t *err)
{
  json_t *caps = json_array (), *v;
  size_t i;
  /* Every name given must exist. */
  for (int k = 0; k < 2; k++)
    json_array_foreach (k ? o->cap_drop : o->cap_add, i, v)
    {
      const char *s = json_string_value (v);
      cleanup_free char *full = s && strncasecmp (s, "CAP_", 4) ? xasprintf ("CAP_%s", s) : xstrdup (s ?: "");
      for (char *c = full; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
      if (strcmp (full, "CAP_ALL") != 0 && berth_cap_from_name (full) < 0)
        {
          json_decref (caps);
          return berth_error (err, 0, "--cap-%s: unknown capability \"%s\"", k ? "drop" : "add", s ? s : "");
        }
    }
  for (int c = 0; c <= berth_cap_last (); c++)
    {
      const char *name = berth_cap_name (c);
      bool dflt = false;
      if (name == NULL)
        continue;
      for (size_t k = 0; k < ARRAY_SIZE (docker_caps); k++)
        dflt |= strcmp (docker_caps[k], name) == 0;
      /* docker: an explicit --cap-add wins over --cap-drop ALL. */
      int add = has_cap (o->cap_add, name), drop = has_cap (o->cap_drop, name);
      if (o->privileged || add == 1 || ((dflt || add) && !drop))
        json_array_append_new (caps, json_string (name));
    }
  *out = json_pack ("{s:O,s:O,s:O,s:O}", "bounding", caps, "effective", caps, "permitted", caps, "inheritable", caps);
  json_decref (caps);
  return 0;
}

int
berth_ocispec_mount_option (const char *spec, json_t *volumes, json_t *tmpfs, berth_err_t *err)
{
  cleanup_free char *copy = xstrdup (spec);
  const char *type = "volume", *src = NULL, *dst = NULL;
  bool ro = false;
  char *save = NULL;
  for (char *kv = strtok_r (copy, ",", &save); kv; kv = strtok_r (NULL, ",", &save))
    {
      char *eq = strchr (kv, '=');
      if (eq)
        *eq++ = '\0';
      if (strcmp (kv, "type") == 0 && eq)
        type = eq;
      else if ((strcmp (kv, "source") == 0 || strcmp (kv, "src") == 0) && eq)
        src = eq;
      else if ((strcmp (kv, "target") == 0 || strcmp (kv, "destination") == 0 || strcmp (kv, "dst") == 0) && eq)
        dst = eq;
      else if ((strcmp (kv, "readonly") == 0 || strcmp (kv, "ro") == 0)
               && (eq == NULL || strcmp (eq, "true") == 0 || strcmp (eq, "1") == 0 || strcmp (eq, "false") == 0
                   || strcmp (eq, "0") == 0))
        ro = eq == NULL || strcmp (eq, "true") == 0 || strcmp (eq, "1") == 0;
      else
        return berth_error (err, EINVAL, "--mount: unknown field or value \"%s\"", kv);
    }
  if (dst == NULL || dst[0] != '/')
    return berth_error (err, EINVAL, "--mount: target= must be an absolute path");
  /* It becomes a -v entry, where ':' separates the fields. */
  if (strchr (dst, ':') || (src && strchr (src, ':')))
    return berth_error (err, EINVAL, "--mount: a source or target with ':' is not supported");
  if (strcmp (type, "tmpfs") == 0)
    {
      if (src)
        return berth_error (err, EINVAL, "--mount type=tmpfs: takes no source=");
      json_array_append_new (tmpfs, json_string (dst));
    }
  else if (strcmp (type, "bind") == 0 || strcmp (type, "volume") == 0)
    {
      if (strcmp (type, "bind") == 0 && (src == NULL || src[0] != '/'))
        return berth_error (err, EINVAL, "--mount type=bind: source= must be an absolute host path");
      if (strcmp (type, "volume") == 0 && src && src[0] == '/')
        return berth_error (err, EINVAL, "--mount type=volume: source= is a volume name, not a path (type=bind)");
      json_array_append_new (volumes,
                             src ? json_sprintf ("%s:%s%s", src, dst, ro ? ":ro" : "") : json_sprintf ("%s", dst));
    }
  else
    return berth_error (err, EINVAL, "--mount: type \"%s\" is not bind, volume or tmpfs", type);
  return 0;
}

int
berth_ocispec_resources (const struct berth_run_opts *o, json_t *res, berth_err_t *err)
{
  if (o->memory > 0)
    {
      json_t *mem = json_pack ("{s:I}", "limit", (json_int_t)o->memory);
      /* docker: swap defaults to twice the memory; -1 is unlimited. */
      if (o->memory_swap != 0)
        json_object_set_new (mem, "swap", json_integer (o->memory_swap));
      json_object_set_new (res, "memory", mem);
    }
  else if (o->memory_swap > 0)
    return berth_error (err, 0, "--memory-swap needs --memory");
  if (o->cpus > 0 || o->cpu_shares > 0 || o->cpuset_cpus)
    {
      json_t *cpu = json_object ();
      if (o->cpus > 0)
        {
          json_object_set_new (cpu, "period", json_integer (100000));
          json_object_set_new (cpu, "quota", json_integer ((json_int_t)(o->cpus * 100000)));
        }
      if (o->cpu_shares > 0)
        json_object_set_new (cpu, "shares", json_integer (o->cpu_shares));
      if (o->cpuset_cpus)
        json_object_set_new (cpu, "cpus", json_string (o->cpuset_cpus));
      json_object_set_new (res, "cpu", cpu);
    }
  if (o->pids_limit != 0)
    json_object_set_new (res, "pids", json_pack ("{s:I}", "limit", (json_int_t)o->pids_limit));
  return 0;
}

static int
add_ulimits (json_t *proc, json_t *ulimits, berth_err_t *err)
{
  json_t *rl = json_object_get (proc, "rlimits"), *v;
  size_t i;
  json_array_foreach (ulimits, i, v)
  {
    const char *s = json_string_value (v);
    cleanup_free char *name = NULL;
    cleanup_free char *type = NULL;
    const char *eq = s ? strchr (s, '=') : NULL;
    char *end;
    long long soft, hard;
    if (eq == NULL)
      return berth_error (err, 0, "--ulimit: \"%s\" is not name=soft[:hard]", s ? s : "");
    name = strndup (s, (size_t)(eq - s));
    soft = strtoll (eq + 1, &end, 10);
    hard = *end == ':' ? strtoll (end + 1, &end, 10) : soft;
    if (*end || soft < 0 || hard < soft)
      return berth_error (err, 0, "--ulimit: \"%s\" is not name=soft[:hard]", s);
    for (char *c = name; *c; c++)
      *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    type = xasprintf ("RLIMIT_%s", name);
    json_array_append_new (
        rl, json_pack ("{s:s,s:I,s:I}", "type", type, "soft", (json_int_t)soft, "hard", (json_int_t)hard));
  }
  return 0;
}

static int
add_devices (json_t *spec, json_t *devices, berth_err_t *err)
{
  json_t *lin = json_object_get (spec, "linux"), *v;
  json_t *devs = json_array (), *rules = json_object_get (json_object_get (lin, "resources"), "devices");
  size_t i;
  json_array_foreach (devices, i, v)
  {
    cleanup_free char *copy = xstrdup (json_string_value (v) ?: "");
    char *host = copy, *ctr, *perms = NULL;
    struct stat st;
    ctr = strchr (copy, ':');
    if (ctr)
      {
        *ctr++ = '\0';
        perms = strchr (ctr, ':');
        if (perms)
          *perms++ = '\0';
        else if (strspn (ctr, "rwm") == strlen (ctr) && *ctr != '/')
          {
            perms = ctr;
            ctr = host;
          }
      }
    else
      ctr = host;
    if (stat (host, &st) < 0)
      {
        json_decref (devs);
        return berth_error (err, errno, "--device `%s`", host);
      }
    if (!S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
      {
        json_decref (devs);
        return berth_error (err, 0, "--device `%s`: not a device node", host);
      }
    json_array_append_new (devs,
                           json_pack ("{s:s,s:s,s:I,s:I,s:i}", "path", ctr, "type", S_ISCHR (st.st_mode) ? "c" : "b",
                                      "major", (json_int_t)major (st.st_rdev), "minor", (json_int_t)minor (st.st_rdev),
                                      "fileMode", (int)(st.st_mode & 0777)));
    json_array_append_new (rules, json_pack ("{s:b,s:s,s:I,s:I,s:s}", "allow", 1, "type",
                                             S_ISCHR (st.st_mode) ? "c" : "b", "major", (json_int_t)major (st.st_rdev),
                                             "minor", (json_int_t)minor (st.st_rdev), "access", perms ? perms : "rwm"));
  }
  json_object_set_new (lin, "devices", devs);
  return 0;
}

static int
path_depth (const char *p)
{
  int d = 0;
  for (; p && *p; p++)
    if (*p == '/' && p[1] && p[1] != '/')
      d++;
  return d;
}

/* Entrypoint and Cmd, as docker combines them. */
static int
spec_args (json_t *ic, const struct berth_run_opts *o, json_t *proc, berth_err_t *err)
{
  json_t *args = json_array (), *ep = json_object_get (ic, "Entrypoint"), *cmd = json_object_get (ic, "Cmd");
  if (o->entrypoint)
    {
      if (o->entrypoint[0])
        json_array_append_new (args, json_string (o->entrypoint));
      json_array_extend (args, o->cmd);
    }
  else
    {
      if (json_is_array (ep))
        json_array_extend (args, ep);
      if (json_array_size (o->cmd))
        json_array_extend (args, o->cmd);
      else if (json_is_array (cmd))
        json_array_extend (args, cmd);
    }
  if (json_array_size (args) == 0)
    {
      json_decref (args);
      return berth_error (err, 0, "no command specified: the image has no Cmd or Entrypoint and none was given");
    }
  json_object_set_new (proc, "args", args);
  return 0;
}

/* PATH, the image's Env, HOSTNAME, TERM with a tty, then -e. */
static int
spec_env (json_t *ic, const struct berth_run_opts *o, const char *hostname, json_t *proc, berth_err_t *err)
{
  json_t *env = json_array (), *v;
  cleanup_free char *h = xasprintf ("HOSTNAME=%s", hostname);
  size_t i;
  json_array_append_new (env, json_string ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  json_array_foreach (json_object_get (ic, "Env"), i, v)
  {
    if (json_string_value (v) && strchr (json_string_value (v), '='))
      env_set (env, json_string_value (v));
  }
  env_set (env, h);
  if (o->tty)
    env_set (env, "TERM=xterm");
  json_array_foreach (o->env, i, v)
  {
    const char *s = json_string_value (v);
    if (s == NULL || strchr (s, '=') == NULL || s[0] == '=')
      {
        json_decref (env);
        return berth_error (err, 0, "-e: \"%s\" is not NAME=VALUE", s ? s : "");
      }
    env_set (env, s);
  }
  json_object_set_new (proc, "env", env);
  return 0;
}

/* --group-add: gids, or names from the container's /etc/group, as
   additional groups of the process. */
static int
spec_group_add (json_t *groups, const char *rootfs, json_t *proc, berth_err_t *err)
{
  json_t *user = json_object_get (proc, "user"), *g, *gids = json_array ();
  size_t i;
  if (user == NULL)
    {
      user = json_pack ("{s:i,s:i}", "uid", 0, "gid", 0);
      json_object_set_new (proc, "user", user);
    }
  json_object_set_new (user, "additionalGids", gids);
  json_array_foreach (groups, i, g)
  {
    const char *s = json_string_value (g) ?: "";
    char *end;
    long gid = strtol (s, &end, 10);
    if (*s == '\0' || *end != '\0')
      {
        if (lookup_id (rootfs, "/etc/group", s, &gid, NULL, err) < 0)
          return berth_error_wrap (err, "--group-add");
      }
    if (gid < 0 || gid > 0xfffffffeL)
      return berth_error (err, EINVAL, "--group-add: \"%s\" is not a group", s);
    json_array_append_new (gids, json_integer (gid));
  }
  return 0;
}

/* The process object's user, capabilities and rlimits. */
static int
spec_identity (json_t *ic, const struct berth_run_opts *o, const char *rootfs, json_t *proc, berth_err_t *err)
{
  const char *user = o->user ? o->user : json_string_value (json_object_get (ic, "User"));
  json_t *caps = NULL;
  struct rlimit rl;
  long nofile = 1048576;
  if (user && user[0])
    {
      json_t *u = NULL;
      if (berth_ocispec_resolve_user (rootfs, user, &u, err) < 0)
        return -1;
      json_object_set_new (proc, "user", u);
    }
  if (json_array_size (o->group_add) > 0 && spec_group_add (o->group_add, rootfs, proc, err) < 0)
    return -1;
  json_object_set_new (proc, "terminal", json_boolean (o->tty));
  json_object_set_new (proc, "noNewPrivileges", json_boolean (o->no_new_privileges));
  if (build_caps (o, &caps, err) < 0)
    return -1;
  json_object_set_new (proc, "capabilities", caps);
  /* docker's 1048576 open files, within our own hard limit: raising it
     needs CAP_SYS_RESOURCE, which not every host gives root. */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < (rlim_t)nofile)
    nofile = (long)rl.rlim_max;
  json_object_set_new (
      proc, "rlimits",
      json_pack ("[{s:s,s:I,s:I}]", "type", "RLIMIT_NOFILE", "hard", (json_int_t)nofile, "soft", (json_int_t)nofile));
  return add_ulimits (proc, o->ulimits, err);
}

/* --tmpfs PATH[:OPTIONS] */
static int
spec_tmpfs (json_t *mounts, json_t *tmpfs, berth_err_t *err)
{
  json_t *v;
  size_t i;
  json_array_foreach (tmpfs, i, v)
  {
    cleanup_free char *copy = xstrdup (json_string_value (v) ?: "");
    char *opts = strchr (copy, ':'), *save = NULL;
    json_t *m;
    if (opts)
      *opts++ = '\0';
    if (copy[0] != '/')
      return berth_error (err, 0, "--tmpfs: \"%s\" is not an absolute path", copy);
    m = json_pack ("{s:s,s:s,s:s,s:[sss]}", "destination", copy, "type", "tmpfs", "source", "tmpfs", "options",
                   "nosuid", "nodev", "noexec");
    for (char *t = opts ? strtok_r (opts, ",", &save) : NULL; t; t = strtok_r (NULL, ",", &save))
      json_array_append_new (json_object_get (m, "options"), json_string (t));
    json_array_append_new (mounts, m);
  }
  return 0;
}

/* -v /host/path:/container/path[:ro|rw] (named volumes are host paths by
   now). */
static int
spec_binds (json_t *mounts, json_t *volumes, berth_err_t *err)
{
  json_t *v;
  size_t i;
  json_array_foreach (volumes, i, v)
  {
    cleanup_free char *copy = xstrdup (json_string_value (v) ?: "");
    char *ctr = strchr (copy, ':'), *mode;
    if (ctr == NULL || copy[0] != '/')
      return berth_error (err, 0, "-v: \"%s\" is not /host/path:/container/path[:ro]", copy);
    *ctr++ = '\0';
    mode = strchr (ctr, ':');
    if (mode)
      *mode++ = '\0';
    if (ctr[0] != '/' || (mode && strcmp (mode, "ro") != 0 && strcmp (mode, "rw") != 0))
      return berth_error (err, 0, "-v: \"%s\" is not /host/path:/container/path[:ro]", json_string_value (v));
    if (access (copy, F_OK) < 0)
      return berth_error (err, errno, "-v: host path `%s`", copy);
    json_array_append_new (mounts,
                           json_pack ("{s:s,s:s,s:s,s:[ss]}", "destination", ctr, "type", "bind", "source", copy,
                                      "options", "rbind", mode && strcmp (mode, "ro") == 0 ? "ro" : "rw"));
  }
  return 0;
}

/* The engine's /etc files, --tmpfs and -v, parents before children as
   docker orders them: a volume on /etc must not hide the /etc/hostname
   mounted before it. */
static int
spec_mounts (const struct berth_run_opts *o, const char *etc, json_t *mounts, berth_err_t *err)
{
  static const char *files[] = { "hostname", "hosts", "resolv.conf" };
  size_t n;
  for (size_t k = 0; k < ARRAY_SIZE (files); k++)
    {
      cleanup_free char *src = xasprintf ("%s/%s", etc, files[k]);
      cleanup_free char *dst = xasprintf ("/etc/%s", files[k]);
      json_array_append_new (mounts, json_pack ("{s:s,s:s,s:s,s:[sss]}", "destination", dst, "type", "bind", "source",
                                                src, "options", "rbind", "rprivate", o->read_only ? "ro" : "rw"));
    }
  if (spec_tmpfs (mounts, o->tmpfs, err) < 0 || spec_binds (mounts, o->volumes, err) < 0)
    return -1;
  if (o->shm_size > 0)
    {
      json_t *m;
      size_t i;
      json_array_foreach (mounts, i, m)
      {
        json_t *opts = json_object_get (m, "options"), *opt;
        size_t k;
        if (strcmp (json_string_value (json_object_get (m, "destination")) ?: "", "/dev/shm") != 0)
          continue;
        json_array_foreach (opts, k, opt) if (strncmp (json_string_value (opt) ?: "", "size=", 5) == 0)
        {
          json_array_remove (opts, k);
          break;
        }
        json_array_append_new (opts, json_sprintf ("size=%lldk", (long long)((o->shm_size + 1023) / 1024)));
      }
    }
  n = json_array_size (mounts);
  for (size_t a = 1; a < n; a++)
    for (size_t b = a; b > 0; b--)
      {
        json_t *x = json_array_get (mounts, b - 1), *y = json_array_get (mounts, b);
        if (path_depth (json_string_value (json_object_get (x, "destination")))
            <= path_depth (json_string_value (json_object_get (y, "destination"))))
          break;
        json_incref (x);
        json_array_set (mounts, b - 1, y);
        json_array_set_new (mounts, b, x);
      }
  return 0;
}

/* linux: resources, devices, --privileged, sysctls and seccomp. */
static int
spec_linux (json_t *spec, const struct berth_run_opts *o, berth_err_t *err)
{
  json_t *lin = json_object_get (spec, "linux"), *prof;
  int r;
  json_object_set_new (lin, "resources", json_pack ("{s:[{s:b,s:s}]}", "devices", "allow", 0, "access", "rwm"));
  if (berth_ocispec_resources (o, json_object_get (lin, "resources"), err) < 0
      || add_devices (spec, o->devices, err) < 0)
    return -1;
  if (o->privileged)
    {
      json_object_del (lin, "maskedPaths");
      json_object_del (lin, "readonlyPaths");
      json_array_set_new (json_object_get (json_object_get (lin, "resources"), "devices"), 0,
                          json_pack ("{s:b,s:s}", "allow", 1, "access", "rwm"));
    }
  if (json_is_object (o->sysctls))
    json_object_set (lin, "sysctl", o->sysctls);
  if (o->seccomp == NULL)
    {
      if (!o->privileged)
        json_object_set_new (lin, "seccomp", berth_default_seccomp ());
      return 0;
    }
  if (strcmp (o->seccomp, "unconfined") == 0)
    return 0;
  r = json_load_path (o->seccomp, &prof, err);
  if (r != 0)
    return r < 0 ? berth_error_wrap (err, "--security-opt seccomp")
                 : berth_error (err, ENOENT, "--security-opt seccomp=%s", o->seccomp);
  json_object_set_new (lin, "seccomp", prof);
  return 0;
}

int
berth_ocispec_build (json_t *image_config, const struct berth_run_opts *o, const char *id, const char *rootfs,
                     const char *etc, json_t **out, berth_err_t *err)
{
  json_t *spec = berth_spec_default (o->tty);
  json_t *ic = json_object_get (image_config, "config");
  json_t *proc = json_object_get (spec, "process");
  const char *wd = json_string_value (json_object_get (ic, "WorkingDir"));
  cleanup_free char *shortid = strndup (id, 12);
  const char *hostname = o->hostname ? o->hostname : shortid;

  json_object_set_new (spec, "ociVersion", json_string ("1.2.0"));
  json_object_set_new (proc, "cwd", json_string (o->workdir ? o->workdir : (wd && wd[0] ? wd : "/")));
  json_object_set_new (spec, "root", json_pack ("{s:s,s:b}", "path", rootfs, "readonly", o->read_only));
  json_object_set_new (spec, "hostname", json_string (hostname));
  if (spec_args (ic, o, proc, err) < 0 || spec_env (ic, o, hostname, proc, err) < 0
      || spec_identity (ic, o, rootfs, proc, err) < 0 || spec_mounts (o, etc, json_object_get (spec, "mounts"), err) < 0
      || spec_linux (spec, o, err) < 0)
    {
      json_decref (spec);
      return -1;
    }
  *out = spec;
  return 0;
}
