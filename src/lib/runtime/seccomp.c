#include "lib/runtime/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/base/utils.h"

static const struct
{
  const char *name;
  uint32_t action; /* errno/trace actions get their data later */
} actions[] = {
  { "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD },
  { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
  { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS },
  { "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
  { "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO (0) },
  { "SCMP_ACT_TRACE", SCMP_ACT_TRACE (0) },
  { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW },
  { "SCMP_ACT_LOG", SCMP_ACT_LOG },
  { "SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY },
};

static const struct
{
  const char *name;
  enum scmp_compare op;
} ops[] = {
  { "SCMP_CMP_NE", SCMP_CMP_NE },
  { "SCMP_CMP_LT", SCMP_CMP_LT },
  { "SCMP_CMP_LE", SCMP_CMP_LE },
  { "SCMP_CMP_EQ", SCMP_CMP_EQ },
  { "SCMP_CMP_GE", SCMP_CMP_GE },
  { "SCMP_CMP_GT", SCMP_CMP_GT },
  { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static const struct
{
  const char *name;
  enum scmp_filter_attr attr;
} flags[] = {
  { "SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC },
  { "SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG },
  { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB },
};

static int
parse_action (json_t *v, json_t *errno_ret, const char *path, uint32_t *out, berth_err_t *err)
{
  const char *name = json_string_value (v);
  int64_t ret = EPERM;
  if (name == NULL)
    return berth_error (err, 0, "%s: expected a string", path);
  if (errno_ret && !json_is_null (errno_ret))
    {
      if (!json_is_integer (errno_ret) || json_integer_value (errno_ret) < 0 || json_integer_value (errno_ret) > 0xffff)
        return berth_error (err, 0, "%s: errnoRet must be an integer in [0, 65535]", path);
      ret = json_integer_value (errno_ret);
    }
  for (size_t i = 0; i < ARRAY_SIZE (actions); i++)
    if (strcmp (actions[i].name, name) == 0)
      {
        if (strcmp (name, "SCMP_ACT_ERRNO") == 0)
          *out = SCMP_ACT_ERRNO ((uint16_t)ret);
        else if (strcmp (name, "SCMP_ACT_TRACE") == 0)
          *out = SCMP_ACT_TRACE ((uint16_t)ret);
        else
          *out = actions[i].action;
        return 0;
      }
  return berth_error (err, 0, "%s: unknown seccomp action \"%s\"", path, name);
}

static int
add_rule (scmp_filter_ctx ctx, uint32_t action, int nr, const char *name, struct scmp_arg_cmp *args, unsigned n,
          const char *path, berth_err_t *err)
{
  int r = seccomp_rule_add_exact_array (ctx, action, nr, n, args);
  if (r == -EACCES || r == -EOPNOTSUPP)
    /* Not representable on one of the arches (multiplexed calls on x86):
       libseccomp can still place it when it may rewrite the rule. */
    r = seccomp_rule_add_array (ctx, action, nr, n, args);
  if (r < 0)
    return berth_error (err, -r, "%s: add rule for syscall \"%s\"", path, name);
  return 0;
}

static int
add_architectures (scmp_filter_ctx ctx, json_t *arr, berth_err_t *err)
{
  json_t *v;
  size_t i;
  if (arr && !json_is_array (arr))
    return berth_error (err, 0, "linux.seccomp.architectures: expected an array");
  json_array_foreach (arr, i, v)
  {
    const char *a = json_string_value (v);
    char lower[32];
    uint32_t token;
    size_t k;
    int r;
    if (a == NULL || !str_has_prefix (a, "SCMP_ARCH_") || strlen (a) - 10 >= sizeof (lower))
      return berth_error (err, 0, "linux.seccomp.architectures[%zu]: unknown architecture \"%s\"", i, a ? a : "");
    for (k = 0; a[10 + k]; k++)
      lower[k] = (char)(a[10 + k] >= 'A' && a[10 + k] <= 'Z' ? a[10 + k] - 'A' + 'a' : a[10 + k]);
    lower[k] = '\0';
    token = seccomp_arch_resolve_name (lower);
    if (token == 0)
      return berth_error (err, 0, "linux.seccomp.architectures[%zu]: unknown architecture \"%s\"", i, a);
    r = seccomp_arch_add (ctx, token);
    if (r < 0 && r != -EEXIST)
      return berth_error (err, -r, "linux.seccomp.architectures[%zu]: add \"%s\"", i, a);
  }
  return 0;
}

static int
set_flags (scmp_filter_ctx ctx, json_t *arr, berth_err_t *err)
{
  json_t *v;
  size_t i;
  json_array_foreach (arr, i, v)
  {
    const char *f = json_string_value (v);
    size_t k;
    for (k = 0; f && k < ARRAY_SIZE (flags); k++)
      if (strcmp (flags[k].name, f) == 0)
        break;
    if (f == NULL || k == ARRAY_SIZE (flags))
      return berth_error (err, 0, "linux.seccomp.flags[%zu]: unknown flag \"%s\"", i, f ? f : "");
    if (seccomp_attr_set (ctx, flags[k].attr, 1) < 0)
      return berth_error (err, 0, "linux.seccomp.flags[%zu]: \"%s\" is not supported by this kernel", i, f);
  }
  return 0;
}

/* A rule's argument conditions; *DUP_INDEX: two of them test one
   argument. */
static int
parse_args (json_t *args, const char *path, struct scmp_arg_cmp cmp[6], unsigned *n_args, bool *dup_index,
            berth_err_t *err)
{
  json_t *n;
  size_t j;
  *n_args = 0;
  *dup_index = false;
  if (args && !json_is_array (args) && !json_is_null (args))
    return berth_error (err, 0, "%s.args: expected an array", path);
  if (json_array_size (args) > 6)
    return berth_error (err, 0, "%s.args: at most 6 argument conditions", path);
  json_array_foreach (args, j, n)
  {
    json_t *idx = json_object_get (n, "index"), *op = json_object_get (n, "op");
    json_t *val = json_object_get (n, "value"), *val2 = json_object_get (n, "valueTwo");
    struct scmp_arg_cmp *c = &cmp[*n_args];
    size_t k;
    if (!json_is_integer (idx) || json_integer_value (idx) < 0 || json_integer_value (idx) > 5)
      return berth_error (err, 0, "%s.args[%zu].index: must be an integer in [0, 5]", path, j);
    for (k = 0; json_string_value (op) && k < ARRAY_SIZE (ops); k++)
      if (strcmp (ops[k].name, json_string_value (op)) == 0)
        break;
    if (json_string_value (op) == NULL || k == ARRAY_SIZE (ops))
      return berth_error (err, 0, "%s.args[%zu].op: unknown operator \"%s\"", path, j,
                          json_string_value (op) ? json_string_value (op) : "");
    if ((val && !json_is_integer (val) && !json_is_real (val))
        || (val2 && !json_is_integer (val2) && !json_is_real (val2) && !json_is_null (val2)))
      return berth_error (err, 0, "%s.args[%zu]: value and valueTwo must be integers", path, j);
    c->arg = (unsigned)json_integer_value (idx);
    c->op = ops[k].op;
    c->datum_a = json_is_real (val) ? (scmp_datum_t)json_real_value (val) : (scmp_datum_t)json_integer_value (val);
    c->datum_b = json_is_real (val2) ? (scmp_datum_t)json_real_value (val2) : (scmp_datum_t)json_integer_value (val2);
    for (unsigned m = 0; m < *n_args; m++)
      *dup_index |= cmp[m].arg == c->arg;
    (*n_args)++;
  }
  return 0;
}

/* One entry of linux.seccomp.syscalls: its action for each name this
   libseccomp knows (unknown names are skipped, as runc does). */
static int
add_syscall_rule (scmp_filter_ctx ctx, json_t *sec, json_t *v, const char *path, uint32_t def, berth_err_t *err)
{
  json_t *names = json_object_get (v, "names"), *n;
  struct scmp_arg_cmp cmp[6];
  unsigned n_args = 0;
  bool dup_index = false;
  uint32_t action;
  size_t j;

  if (!json_is_object (v) || !json_is_array (names) || json_array_size (names) == 0)
    return berth_error (err, 0, "%s: expected an object with a non-empty \"names\" array", path);
  if (parse_action (json_object_get (v, "action"), json_object_get (v, "errnoRet"), path, &action, err) < 0)
    return -1;
  if (action == SCMP_ACT_NOTIFY && json_object_get (sec, "listenerPath") == NULL)
    return berth_error (err, 0, "%s: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath", path);
  if (parse_args (json_object_get (v, "args"), path, cmp, &n_args, &dup_index, err) < 0)
    return -1;
  if (action == def)
    return 0; /* libseccomp rejects a rule that repeats the default */
  json_array_foreach (names, j, n)
  {
    const char *name = json_string_value (n);
    int nr;
    if (name == NULL)
      return berth_error (err, 0, "%s.names[%zu]: expected a string", path, j);
    nr = seccomp_syscall_resolve_name (name);
    if (nr == __NR_SCMP_ERROR)
      continue;
    if (dup_index)
      {
        /* Two conditions on one argument cannot be ANDed by libseccomp:
           like runc, each becomes a rule of its own. */
        for (unsigned m = 0; m < n_args; m++)
          if (add_rule (ctx, action, nr, name, &cmp[m], 1, path, err) < 0)
            return -1;
      }
    else if (add_rule (ctx, action, nr, name, cmp, n_args, path, err) < 0)
      return -1;
  }
  return 0;
}

int
berth_seccomp_build (json_t *sec, scmp_filter_ctx *out, berth_err_t *err)
{
  uint32_t def;
  scmp_filter_ctx ctx;
  json_t *v, *syscalls;
  size_t i;

  if (!json_is_object (sec))
    return berth_error (err, 0, "linux.seccomp: expected an object");
  if (json_object_get (sec, "defaultAction") == NULL)
    return berth_error (err, 0, "linux.seccomp.defaultAction: required field is missing");
  if (parse_action (json_object_get (sec, "defaultAction"), json_object_get (sec, "defaultErrnoRet"),
                    "linux.seccomp.defaultAction", &def, err)
      < 0)
    return -1;
  if (def == SCMP_ACT_NOTIFY)
    return berth_error (err, 0, "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action");

  ctx = seccomp_init (def);
  if (ctx == NULL)
    return berth_error (err, ENOMEM, "seccomp_init");
  /* libseccomp would set no_new_privs on load; whether the process gets it
     is process.noNewPrivileges' decision alone. */
  if (seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0) < 0)
    {
      berth_error (err, EINVAL, "seccomp: clear the no_new_privs attribute");
      goto fail;
    }
  if (add_architectures (ctx, json_object_get (sec, "architectures"), err) < 0
      || set_flags (ctx, json_object_get (sec, "flags"), err) < 0)
    goto fail;
  syscalls = json_object_get (sec, "syscalls");
  if (syscalls && !json_is_array (syscalls))
    {
      berth_error (err, 0, "linux.seccomp.syscalls: expected an array");
      goto fail;
    }
  json_array_foreach (syscalls, i, v)
  {
    cleanup_free char *path = xasprintf ("linux.seccomp.syscalls[%zu]", i);
    if (add_syscall_rule (ctx, sec, v, path, def, err) < 0)
      goto fail;
  }
  *out = ctx;
  return 0;

fail:
  seccomp_release (ctx);
  return -1;
}

int
berth_seccomp_load (scmp_filter_ctx ctx, int *notify_fd, berth_err_t *err)
{
  int r = seccomp_load (ctx);
  if (r < 0)
    return berth_error (err, -r, "load the seccomp filter");
  if (notify_fd)
    {
      *notify_fd = seccomp_notify_fd (ctx);
      if (*notify_fd < 0)
        *notify_fd = -1;
    }
  return 0;
}

int
berth_seccomp_export (json_t *sec, void **bpf, size_t *len, berth_err_t *err)
{
  scmp_filter_ctx ctx = NULL;
  berth_err_t e2 = NULL;
  cleanup_close int fd = -1;
  json_t *v;
  size_t i;
  off_t size;
  int r;
  *bpf = NULL;
  *len = 0;
  if (json_array_size (json_object_get (sec, "flags")) > 0)
    return 0;
  json_array_foreach (json_object_get (sec, "syscalls"), i, v)
  {
    const char *a = json_string_value (json_object_get (v, "action"));
    if (a && strcmp (a, "SCMP_ACT_NOTIFY") == 0)
      return 0;
  }
  if (berth_seccomp_build (sec, &ctx, &e2) < 0)
    {
      berth_error_release (&e2);
      return 0;
    }
  fd = memfd_create ("berth-seccomp", MFD_CLOEXEC);
  if (fd < 0)
    {
      seccomp_release (ctx);
      return berth_error (err, errno, "compile the seccomp filter: memfd_create");
    }
  r = seccomp_export_bpf (ctx, fd);
  seccomp_release (ctx);
  if (r < 0)
    return berth_error (err, -r, "compile the seccomp filter: seccomp_export_bpf");
  size = lseek (fd, 0, SEEK_END);
  if (size <= 0 || size % sizeof (struct sock_filter) != 0 || size > BPF_MAXINSNS * (off_t)sizeof (struct sock_filter))
    return berth_error (err, EINVAL, "the exported seccomp filter has %lld bytes", (long long)size);
  *bpf = xmalloc ((size_t)size);
  if (pread (fd, *bpf, (size_t)size, 0) != size)
    {
      free (*bpf);
      *bpf = NULL;
      return berth_error (err, errno ?: EIO, "read the exported seccomp filter");
    }
  *len = (size_t)size;
  return 1;
}

int
berth_seccomp_load_program (const void *bpf, size_t len, berth_err_t *err)
{
  struct sock_fprog prog
      = { .len = (unsigned short)(len / sizeof (struct sock_filter)), .filter = (struct sock_filter *)bpf };
  if (len == 0 || len % sizeof (struct sock_filter) != 0 || len > BPF_MAXINSNS * sizeof (struct sock_filter))
    return berth_error (err, EINVAL, "a seccomp program of %zu bytes", len);
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
    return berth_error (err, errno, "load the seccomp filter");
  return 0;
}

json_t *
berth_seccomp_features (void)
{
  json_t *acts = json_array (), *opers = json_array (), *archs = json_array (), *fl = json_array ();
  static const char *arch_names[]
      = { "SCMP_ARCH_X86",         "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",       "SCMP_ARCH_ARM",     "SCMP_ARCH_AARCH64",
          "SCMP_ARCH_MIPS",        "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64",
          "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",    "SCMP_ARCH_PPC64",     "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
          "SCMP_ARCH_S390X",       "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",  "SCMP_ARCH_RISCV64" };
  const struct scmp_version *ver = seccomp_version ();
  for (size_t i = 0; i < ARRAY_SIZE (actions); i++)
    json_array_append_new (acts, json_string (actions[i].name));
  for (size_t i = 0; i < ARRAY_SIZE (ops); i++)
    json_array_append_new (opers, json_string (ops[i].name));
  for (size_t i = 0; i < ARRAY_SIZE (arch_names); i++)
    json_array_append_new (archs, json_string (arch_names[i]));
  for (size_t i = 0; i < ARRAY_SIZE (flags); i++)
    json_array_append_new (fl, json_string (flags[i].name));
  return json_pack ("{s:b,s:o,s:o,s:o,s:o,s:o,s:{s:s}}", "enabled", 1, "actions", acts, "operators", opers, "archs",
                    archs, "knownFlags", fl, "supportedFlags", json_deep_copy (fl), "lib", "version",
                    ver ? xasprintf ("%u.%u.%u", ver->major, ver->minor, ver->micro) : "unknown");
}
