#include "lib/runtime/cgroup_bpf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/base/utils.h"

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

struct rule
{
  char type; /* a, b, c */
  int64_t major, minor;
  int access; /* BPF_DEVCG_ACC_* bits */
  bool allow;
};

static int
access_bits (const char *s)
{
  int a = 0;
  for (; *s; s++)
    a |= *s == 'r' ? BPF_DEVCG_ACC_READ : *s == 'w' ? BPF_DEVCG_ACC_WRITE : *s == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
  return a;
}

static int
rule_from_json (json_t *j, size_t i, struct rule *r, berth_err_t *err)
{
  json_t *v;
  const char *t = "a", *acc = "rwm";
  if (!json_is_object (j) || !json_is_boolean (json_object_get (j, "allow")))
    return berth_error (err, 0, "linux.resources.devices[%zu]: expected an object with a boolean \"allow\"", i);
  r->allow = json_is_true (json_object_get (j, "allow"));
  if ((v = json_object_get (j, "type")) && !json_is_null (v))
    t = json_string_value (v);
  if ((v = json_object_get (j, "access")) && !json_is_null (v))
    acc = json_string_value (v);
  if (t == NULL || strlen (t) != 1 || strchr ("abc", t[0]) == NULL)
    return berth_error (err, 0, "linux.resources.devices[%zu].type: must be \"a\", \"b\" or \"c\"", i);
  if (acc == NULL || acc[0] == '\0' || strspn (acc, "rwm") != strlen (acc))
    return berth_error (err, 0, "linux.resources.devices[%zu].access: must be made of r, w and m", i);
  r->type = t[0];
  r->access = access_bits (acc);
  r->major = json_is_integer (json_object_get (j, "major")) ? json_integer_value (json_object_get (j, "major")) : -1;
  r->minor = json_is_integer (json_object_get (j, "minor")) ? json_integer_value (json_object_get (j, "minor")) : -1;
  return 0;
}

static int
rule_from_string (const char *s, struct rule *r)
{
  char type, maj[16], min[16], acc[8];
  if (sscanf (s, "%c %15[^:]:%15s %7s", &type, maj, min, acc) != 4)
    return -1;
  r->type = type;
  r->major = strcmp (maj, "*") == 0 ? -1 : atoll (maj);
  r->minor = strcmp (min, "*") == 0 ? -1 : atoll (min);
  r->access = access_bits (acc);
  r->allow = true;
  return 0;
}

/* One block per rule, tried from the last rule to the first: the first that
   matches decides, which gives the later rules priority as in cgroup v1. */
int
berth_bpf_devices_program (json_t *rules, const char **extra, size_t n_extra, struct bpf_insn **out, berth_err_t *err)
{
  size_t n_json = json_array_size (rules), n = n_json + n_extra, cap = 8 + n * 8, len = 0;
  cleanup_free struct rule *rs = xcalloc (n + 1, sizeof (*rs));
  struct bpf_insn *p = xcalloc (cap, sizeof (*p));

  for (size_t i = 0; i < n_json; i++)
    if (rule_from_json (json_array_get (rules, i), i, &rs[i], err) < 0)
      {
        free (p);
        return -1;
      }
  for (size_t i = 0; i < n_extra; i++)
    if (rule_from_string (extra[i], &rs[n_json + i]) < 0)
      {
        free (p);
        return berth_error (err, 0, "internal device rule \"%s\" is malformed", extra[i]);
      }

  /* r2 = type, r3 = access, r4 = major, r5 = minor */
  p[len++] = INSN (BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0);
  p[len++] = INSN (BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xFFFF);
  p[len++] = INSN (BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, 0, 0);
  p[len++] = INSN (BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
  p[len++] = INSN (BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0);
  p[len++] = INSN (BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0);

  bool unconditional = false;
  for (size_t k = n; k-- > 0 && !unconditional;)
    {
      struct rule *r = &rs[k];
      struct bpf_insn blk[8];
      size_t bl = 0, jumps[4], nj = 0;
      if (r->type != 'a')
        {
          jumps[nj++] = bl;
          blk[bl++] = INSN (BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0,
                            r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
        }
      if (r->access != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD))
        {
          /* Every requested access bit must be in the rule's set. */
          blk[bl++] = INSN (BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
          blk[bl++] = INSN (BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, ~r->access & 7);
          jumps[nj++] = bl;
          blk[bl++] = INSN (BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 0);
        }
      if (r->type != 'a' && r->major >= 0)
        {
          jumps[nj++] = bl;
          blk[bl++] = INSN (BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (int32_t)r->major);
        }
      if (r->type != 'a' && r->minor >= 0)
        {
          jumps[nj++] = bl;
          blk[bl++] = INSN (BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (int32_t)r->minor);
        }
      /* A rule that matches every device decides for all rules before it:
         code after it would be unreachable, which the verifier refuses. */
      unconditional = nj == 0;
      blk[bl++] = INSN (BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow ? 1 : 0);
      blk[bl++] = INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
      for (size_t j = 0; j < nj; j++)
        blk[jumps[j]].off = (int16_t)(bl - jumps[j] - 1);
      if (len + bl + 2 > cap)
        {
          cap = (len + bl + 2) * 2;
          p = xrealloc (p, cap * sizeof (*p));
        }
      memcpy (p + len, blk, bl * sizeof (*blk));
      len += bl;
    }
  if (!unconditional)
    {
      p[len++] = INSN (BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
      p[len++] = INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }
  *out = p;
  return (int)len;
}

static int
bpf (int cmd, union bpf_attr *attr)
{
  return (int)syscall (SYS_bpf, cmd, attr, sizeof (*attr));
}

/* The last filter loaded, kept for the next cgroup with the same rules:
   a long-lived caller (the VM agent, whose template loads berth's default
   filter before it is saved) attaches it again instead of paying the
   verifier, ~12 ms a container in a TCG guest.  A loaded program cannot
   change, and one program may be attached to many cgroups. */
static struct
{
  struct bpf_insn *insns;
  int len;
  int fd;
} kept = { NULL, 0, -1 };

/* The loaded program for RULES and EXTRA: the kept one where it is the
   same, else a new one, kept from then on.  The fd stays the cache's. */
static int
load_devices_program (json_t *rules, const char **extra, size_t n_extra, berth_err_t *err)
{
  cleanup_free struct bpf_insn *prog = NULL;
  union bpf_attr attr;
  char log[4096] = "";
  int fd, len = berth_bpf_devices_program (rules, extra, n_extra, &prog, err);
  if (len < 0)
    return -1;
  if (kept.fd >= 0 && kept.len == len && memcmp (kept.insns, prog, (size_t)len * sizeof (*prog)) == 0)
    return kept.fd;

  memset (&attr, 0, sizeof (attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)prog;
  attr.insn_cnt = (uint32_t)len;
  attr.license = (uint64_t)(uintptr_t) "GPL";
  /* The verifier's log only to say why it refused: writing it on every
     load took a quarter of the load's time (~4 ms under TCG). */
  fd = bpf (BPF_PROG_LOAD, &attr);
  if (fd < 0)
    {
      attr.log_buf = (uint64_t)(uintptr_t)log;
      attr.log_size = sizeof (log);
      attr.log_level = 1;
      fd = bpf (BPF_PROG_LOAD, &attr);
      if (fd >= 0)
        log[0] = '\0';
    }
  if (fd < 0)
    return berth_error (err, errno, "load the cgroup v2 device filter%s%s", log[0] ? ": " : "", log);
  if (kept.fd >= 0)
    close (kept.fd);
  free (kept.insns);
  kept.insns = prog;
  prog = NULL;
  kept.len = len;
  kept.fd = fd;
  return fd;
}

int
berth_cgroup_bpf_devices_load (json_t *rules, const char **extra, size_t n_extra, berth_err_t *err)
{
  return load_devices_program (rules, extra, n_extra, err) < 0 ? -1 : 0;
}

int
berth_cgroup_bpf_devices (const char *dir, json_t *rules, const char **extra, size_t n_extra, berth_err_t *err)
{
  cleanup_close int cgfd = -1;
  union bpf_attr attr;
  uint32_t old_ids[64];
  uint32_t n_old = 0, prog_id = 0;
  bool attached = false;
  int progfd = load_devices_program (rules, extra, n_extra, err);
  if (progfd < 0)
    return -1;

  cgfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgfd < 0)
    return berth_error (err, errno, "open `%s`", dir);

  memset (&attr, 0, sizeof (attr));
  attr.query.target_fd = (uint32_t)cgfd;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = (uint64_t)(uintptr_t)old_ids;
  attr.query.prog_cnt = ARRAY_SIZE (old_ids);
  if (bpf (BPF_PROG_QUERY, &attr) == 0)
    n_old = attr.query.prog_cnt;
  if (n_old > 0)
    {
      /* An update to the rules the cgroup has: the kept program may be
         attached there already (the kernel refuses it twice, EINVAL). */
      struct bpf_prog_info info;
      memset (&info, 0, sizeof (info));
      memset (&attr, 0, sizeof (attr));
      attr.info.bpf_fd = (uint32_t)progfd;
      attr.info.info_len = sizeof (info);
      attr.info.info = (uint64_t)(uintptr_t)&info;
      if (bpf (BPF_OBJ_GET_INFO_BY_FD, &attr) == 0)
        prog_id = info.id;
      for (uint32_t i = 0; i < n_old && prog_id != 0; i++)
        attached |= old_ids[i] == prog_id;
    }

  memset (&attr, 0, sizeof (attr));
  attr.target_fd = (uint32_t)cgfd;
  attr.attach_bpf_fd = (uint32_t)progfd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (!attached && bpf (BPF_PROG_ATTACH, &attr) < 0)
    return berth_error (err, errno, "attach the device filter to `%s`", dir);

  /* With the new filter in place, drop the ones it replaces (update). */
  for (uint32_t i = 0; i < n_old; i++)
    {
      int fd;
      if (old_ids[i] == prog_id)
        continue;
      memset (&attr, 0, sizeof (attr));
      attr.prog_id = old_ids[i];
      fd = bpf (BPF_PROG_GET_FD_BY_ID, &attr);
      if (fd < 0)
        continue;
      memset (&attr, 0, sizeof (attr));
      attr.target_fd = (uint32_t)cgfd;
      attr.attach_bpf_fd = (uint32_t)fd;
      attr.attach_type = BPF_CGROUP_DEVICE;
      bpf (BPF_PROG_DETACH, &attr);
      close (fd);
    }
  return 0;
}
