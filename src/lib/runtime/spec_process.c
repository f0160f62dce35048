/* config.json's process object: args, env, user, capabilities, rlimits
   and the rest (also exec --process). */
#include "lib/runtime/spec.h"
#include "lib/runtime/spec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "lib/base/utils.h"

/* ------------------------------------------------------------ capabilities */

int
berth_cap_last (void)
{
  static int last = -1;
  if (last < 0)
    {
      last = (int)cap_max_bits () - 1;
      if (last < CAP_LAST_CAP)
        last = CAP_LAST_CAP;
      if (last > 63)
        last = 63;
    }
  return last;
}

/* Every capability Linux has defined (linux/capability.h, 6.x): a name
   from a list written for a newer kernel than ours is one of these. */
static bool
linux_capability (const char *name)
{
  static const char *const names[]
      = { "CAP_CHOWN",           "CAP_DAC_OVERRIDE",     "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
          "CAP_FSETID",          "CAP_KILL",             "CAP_SETGID",          "CAP_SETUID",
          "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE",  "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
          "CAP_NET_ADMIN",       "CAP_NET_RAW",          "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
          "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",        "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
          "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",        "CAP_SYS_BOOT",        "CAP_SYS_NICE",
          "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",         "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
          "CAP_LEASE",           "CAP_AUDIT_WRITE",      "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
          "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",        "CAP_SYSLOG",          "CAP_WAKE_ALARM",
          "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",       "CAP_PERFMON",         "CAP_BPF",
          "CAP_CHECKPOINT_RESTORE" };
  for (size_t i = 0; i < ARRAY_SIZE (names); i++)
    if (strcmp (names[i], name) == 0)
      return true;
  return false;
}

/* The last capability the spec may grant.  BERTH_CAP_LAST lowers it (the
   tests of lists written for newer kernels run on a kernel that knows
   them all); it only ever leaves capabilities out. */
static int
cap_last_known (void)
{
  const char *v = getenv ("BERTH_CAP_LAST");
  int last = berth_cap_last ();
  if (v && *v && strspn (v, "0123456789") == strlen (v) && atoi (v) < last)
    last = atoi (v);
  return last;
}

int
berth_cap_from_name (const char *name)
{
  cap_value_t c;
  char lower[64];
  size_t i;

  if (strncmp (name, "CAP_", 4) != 0 || strlen (name) >= sizeof (lower))
    return -1;
  for (i = 0; name[i]; i++)
    lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
  lower[i] = '\0';
  /* libcap also takes numbers; the spec wants names only. */
  if (lower[4] >= '0' && lower[4] <= '9')
    return -1;
  if (cap_from_name (lower, &c) < 0 || c < 0 || c > 63)
    return -1;
  return c;
}

const char *
berth_cap_name (int cap)
{
  static char names[64][40];
  if (cap < 0 || cap > 63)
    return NULL;
  if (names[cap][0] == '\0')
    {
      char *n = cap_to_name (cap);
      if (n == NULL)
        return NULL;
      snprintf (names[cap], sizeof (names[cap]), "%s", n);
      for (char *s = names[cap]; *s; s++)
        if (*s >= 'a' && *s <= 'z')
          *s = (char)(*s - 'a' + 'A');
      cap_free (n);
    }
  return names[cap];
}

static int
parse_caps (json_t *obj, const char *parent, struct berth_process *p, berth_err_t *err)
{
  static const char *sets[CAP_SET_COUNT] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  json_t *caps, *arr, *v;
  size_t i;
  int ret = spec_get_object (obj, "capabilities", parent, &caps, err);
  cleanup_free char *cp = spec_child (parent, "capabilities");
  if (ret <= 0)
    return ret;
  p->has_caps = true;
  for (int s = 0; s < CAP_SET_COUNT; s++)
    {
      cleanup_free char *sp = spec_child (cp, sets[s]);
      ret = spec_get_array (caps, sets[s], cp, &arr, err);
      if (ret < 0)
        return ret;
      if (ret == 0)
        continue;
      json_array_foreach (arr, i, v)
      {
        int c;
        cleanup_free char *e = spec_elem (sp, i);
        if (!json_is_string (v))
          return spec_type_error (e, "a string", v, err);
        c = berth_cap_from_name (json_string_value (v));
        if (!str_has_prefix (json_string_value (v), "CAP_") || strlen (json_string_value (v)) == 4)
          return berth_error (err, 0, "%s: \"%s\" is not a capability name (CAP_...)", e, json_string_value (v));
        /* runtime-spec: a name that maps to no kernel capability is an
           error.  But Docker and Kubernetes send lists written for newer
           kernels: a real Linux capability this kernel or libcap does not
           know is left out, with a warning, as runc and crun do. */
        if (c < 0 && !linux_capability (json_string_value (v)))
          return berth_error (err, 0, "%s: unknown capability \"%s\"", e, json_string_value (v));
        if (c < 0 || c > cap_last_known ())
          {
            char *w = xasprintf ("%s%s%s: capability \"%s\" is not known to this %s: ignored",
                                 p->warnings ? p->warnings : "", p->warnings ? "; " : "", e, json_string_value (v),
                                 c < 0 ? "libcap" : "kernel");
            free (p->warnings);
            p->warnings = w;
            continue;
          }
        p->caps[s] |= 1ULL << c;
      }
    }
  return 0;
}

/* ----------------------------------------------------------------- rlimits */

static const struct
{
  const char *name;
  int resource;
} rlimit_names[] = {
  { "RLIMIT_AS", RLIMIT_AS },
  { "RLIMIT_CORE", RLIMIT_CORE },
  { "RLIMIT_CPU", RLIMIT_CPU },
  { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_FSIZE", RLIMIT_FSIZE },
  { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE },
  { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_NPROC", RLIMIT_NPROC },
  { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
  { "RLIMIT_RTTIME", RLIMIT_RTTIME },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_STACK", RLIMIT_STACK },
};

static int
parse_rlimits (json_t *obj, const char *parent, struct berth_process *p, berth_err_t *err)
{
  json_t *arr, *v;
  size_t i;
  cleanup_free char *rp = spec_child (parent, "rlimits");
  int ret = spec_get_array (obj, "rlimits", parent, &arr, err);
  if (ret <= 0)
    return ret;
  p->rlimits = xcalloc (json_array_size (arr), sizeof (*p->rlimits));
  json_array_foreach (arr, i, v)
  {
    cleanup_free char *e = spec_elem (rp, i);
    cleanup_free char *type = NULL;
    size_t k;
    if (!json_is_object (v))
      return spec_type_error (e, "an object", v, err);
    if (spec_get_string (v, "type", e, true, &type, err) < 0)
      return -1;
    for (k = 0; k < ARRAY_SIZE (rlimit_names); k++)
      if (strcmp (rlimit_names[k].name, type) == 0)
        break;
    if (k == ARRAY_SIZE (rlimit_names))
      return berth_error (err, 0, "%s.type: unknown rlimit \"%s\"", e, type);
    for (size_t j = 0; j < p->n_rlimits; j++)
      if (p->rlimits[j].resource == rlimit_names[k].resource)
        return berth_error (err, 0, "%s.type: rlimit \"%s\" is given twice", e, type);
    p->rlimits[p->n_rlimits].resource = rlimit_names[k].resource;
    if (spec_get_u64 (v, "soft", e, &p->rlimits[p->n_rlimits].soft, err) <= 0
        || spec_get_u64 (v, "hard", e, &p->rlimits[p->n_rlimits].hard, err) <= 0)
      {
        if (*err)
          return -1;
        return berth_error (err, 0, "%s: soft and hard are required", e);
      }
    if (p->rlimits[p->n_rlimits].soft > p->rlimits[p->n_rlimits].hard)
      return berth_error (err, 0, "%s: soft limit exceeds the hard limit", e);
    p->n_rlimits++;
  }
  return 0;
}

/* ----------------------------------------------------------------- process */

void
berth_process_free (struct berth_process *p)
{
  if (p == NULL)
    return;
  free (p->additional_gids);
  strv_free (p->args);
  strv_free (p->env);
  free (p->cwd);
  free (p->rlimits);
  free (p->apparmor_profile);
  free (p->selinux_label);
  free (p->warnings);
  free (p);
}

int
berth_process_from_json (json_t *obj, const char *path, struct berth_process **out, berth_err_t *err)
{
  struct berth_process *p = xcalloc (1, sizeof (*p));
  json_t *user, *cs, *gids, *v, *iop;
  int64_t n;
  size_t i;
  cleanup_free char *up = spec_child (path, "user");

  p->umask = -1;
  if (spec_get_bool (obj, "terminal", path, &p->terminal, err) < 0)
    goto fail;
  if (spec_get_object (obj, "consoleSize", path, &cs, err) < 0)
    goto fail;
  if (cs)
    {
      cleanup_free char *csp = spec_child (path, "consoleSize");
      if (spec_get_int (cs, "height", csp, 0, UINT16_MAX, &n, err) < 0)
        goto fail;
      p->console_height = (unsigned)(json_object_get (cs, "height") ? n : 0);
      if (spec_get_int (cs, "width", csp, 0, UINT16_MAX, &n, err) < 0)
        goto fail;
      p->console_width = (unsigned)(json_object_get (cs, "width") ? n : 0);
    }
  if (spec_get_object (obj, "user", path, &user, err) < 0)
    goto fail;
  if (user)
    {
      if (spec_get_int (user, "uid", up, 0, UINT32_MAX, &n, err) < 0)
        goto fail;
      p->uid = json_object_get (user, "uid") ? (uint32_t)n : 0;
      if (spec_get_int (user, "gid", up, 0, UINT32_MAX, &n, err) < 0)
        goto fail;
      p->gid = json_object_get (user, "gid") ? (uint32_t)n : 0;
      if (spec_get_int (user, "umask", up, 0, 0777, &n, err) < 0)
        goto fail;
      if (json_object_get (user, "umask") && !json_is_null (json_object_get (user, "umask")))
        p->umask = (int)n;
      if (spec_get_array (user, "additionalGids", up, &gids, err) < 0)
        goto fail;
      if (gids)
        {
          cleanup_free char *gp = spec_child (up, "additionalGids");
          p->additional_gids = xcalloc (json_array_size (gids), sizeof (uint32_t));
          json_array_foreach (gids, i, v)
          {
            cleanup_free char *e = spec_elem (gp, i);
            if (!json_is_integer (v) || json_integer_value (v) < 0 || json_integer_value (v) > UINT32_MAX)
              {
                berth_error (err, 0, "%s: expected a group id", e);
                goto fail;
              }
            p->additional_gids[p->n_additional_gids++] = (uint32_t)json_integer_value (v);
          }
        }
    }
  if (spec_get_strv (obj, "args", path, &p->args, err) < 0)
    goto fail;
  if (spec_get_strv (obj, "env", path, &p->env, err) < 0)
    goto fail;
  if (p->env)
    for (i = 0; p->env[i]; i++)
      if (strchr (p->env[i], '=') == NULL || p->env[i][0] == '=')
        {
          cleanup_free char *ep = spec_child (path, "env");
          berth_error (err, 0, "%s[%zu]: \"%s\" is not of the form NAME=VALUE", ep, i, p->env[i]);
          goto fail;
        }
  if (spec_get_string (obj, "cwd", path, false, &p->cwd, err) < 0)
    goto fail;
  if (p->cwd == NULL)
    p->cwd = xstrdup ("/");
  if (p->cwd[0] != '/')
    {
      cleanup_free char *cp = spec_child (path, "cwd");
      berth_error (err, 0, "%s: \"%s\" is not an absolute path", cp, p->cwd);
      goto fail;
    }
  if (parse_caps (obj, path, p, err) < 0)
    goto fail;
  if (parse_rlimits (obj, path, p, err) < 0)
    goto fail;
  if (spec_get_bool (obj, "noNewPrivileges", path, &p->no_new_privileges, err) < 0)
    goto fail;
  if (spec_get_int (obj, "oomScoreAdj", path, -1000, 1000, &n, err) < 0)
    goto fail;
  if (json_object_get (obj, "oomScoreAdj") && !json_is_null (json_object_get (obj, "oomScoreAdj")))
    {
      p->has_oom_score_adj = true;
      p->oom_score_adj = (int)n;
    }
  if (spec_get_string (obj, "apparmorProfile", path, false, &p->apparmor_profile, err) < 0)
    goto fail;
  if (spec_get_string (obj, "selinuxLabel", path, false, &p->selinux_label, err) < 0)
    goto fail;
  if (spec_get_object (obj, "ioPriority", path, &iop, err) < 0)
    goto fail;
  if (iop)
    {
      cleanup_free char *ip = spec_child (path, "ioPriority");
      cleanup_free char *cls = NULL;
      if (spec_get_string (iop, "class", ip, true, &cls, err) < 0)
        goto fail;
      if (strcmp (cls, "IOPRIO_CLASS_RT") == 0)
        p->io_priority_class = 1;
      else if (strcmp (cls, "IOPRIO_CLASS_BE") == 0)
        p->io_priority_class = 2;
      else if (strcmp (cls, "IOPRIO_CLASS_IDLE") == 0)
        p->io_priority_class = 3;
      else
        {
          berth_error (err, 0, "%s.class: unknown I/O priority class \"%s\"", ip, cls);
          goto fail;
        }
      if (spec_get_int (iop, "priority", ip, 0, 7, &n, err) < 0)
        goto fail;
      p->io_priority = json_object_get (iop, "priority") ? (int)n : 0;
      p->has_io_priority = true;
    }
  *out = p;
  return 0;

fail:
  berth_process_free (p);
  return -1;
}
