/* The pure builders behind a container: the engine's OCI spec from an
   image config and run options, a VM's guest config and size, and QEMU's
   command line (src/lib/engine/ocispec.c, src/lib/vm/guest.c, qemu.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/base/utils.h"
#include "lib/engine/ocispec.h"
#include "lib/vm/internal.h"
#include "lib/vm/vm.h"

/* A scratch directory with a root filesystem and the engine's etc/. */
struct scratch
{
  char dir[64];
  char rootfs[96];
  char etc[96];
};

static int
scratch_setup (void **state)
{
  struct scratch *s = calloc (1, sizeof (*s));
  strcpy (s->dir, "/tmp/berth-unit.XXXXXX");
  if (mkdtemp (s->dir) == NULL)
    return -1;
  snprintf (s->rootfs, sizeof (s->rootfs), "%s/rootfs", s->dir);
  snprintf (s->etc, sizeof (s->etc), "%s/etc", s->dir);
  if (mkdir (s->rootfs, 0755) < 0 || mkdir (s->etc, 0755) < 0)
    return -1;
  *state = s;
  return 0;
}

static int
scratch_teardown (void **state)
{
  struct scratch *s = *state;
  berth_err_t err = NULL;
  rm_rf_at (AT_FDCWD, s->dir, &err);
  berth_error_release (&err);
  free (s);
  return 0;
}

static json_t *
image_config (const char *text)
{
  json_error_t jerr;
  json_t *j = json_loads (text, 0, &jerr);
  if (j == NULL)
    fail_msg ("bad test JSON: %s", jerr.text);
  return j;
}

static struct berth_run_opts
run_opts (void)
{
  struct berth_run_opts o = { 0 };
  o.cmd = json_array ();
  o.env = json_array ();
  o.cap_add = json_array ();
  o.cap_drop = json_array ();
  o.ulimits = json_array ();
  o.sysctls = json_object ();
  o.tmpfs = json_array ();
  o.volumes = json_array ();
  o.devices = json_array ();
  return o;
}

static void
run_opts_free (struct berth_run_opts *o)
{
  json_t *all[] = { o->cmd, o->env, o->cap_add, o->cap_drop, o->ulimits, o->sysctls, o->tmpfs, o->volumes, o->devices };
  for (size_t i = 0; i < ARRAY_SIZE (all); i++)
    json_decref (all[i]);
}

static const char *
env_value (json_t *spec, const char *name)
{
  json_t *v;
  size_t i, n = strlen (name);
  json_array_foreach (json_object_get (json_object_get (spec, "process"), "env"), i, v)
  {
    const char *s = json_string_value (v);
    if (strncmp (s, name, n) == 0 && s[n] == '=')
      return s + n + 1;
  }
  return NULL;
}

static json_t *
mount_at (json_t *spec, const char *dst)
{
  json_t *m;
  size_t i;
  json_array_foreach (json_object_get (spec, "mounts"), i, m)
  {
    if (strcmp (json_string_value (json_object_get (m, "destination")), dst) == 0)
      return m;
  }
  return NULL;
}

static void
ocispec_entrypoint_cmd_env_and_hostname (void **state)
{
  struct scratch *s = *state;
  json_t *ic = image_config ("{\"config\": {\"Entrypoint\": [\"/bin/ep\"], \"Cmd\": [\"a\"], "
                             "\"Env\": [\"PATH=/img\", \"FOO=img\"], \"WorkingDir\": \"/w\"}}");
  struct berth_run_opts o = run_opts ();
  json_t *spec = NULL, *args;
  berth_err_t err = NULL;

  json_array_append_new (o.cmd, json_string ("b"));
  json_array_append_new (o.env, json_string ("FOO=cli"));
  o.tty = true;
  assert_int_equal (berth_ocispec_build (ic, &o, "0123456789abcdef", s->rootfs, s->etc, &spec, &err), 0);
  args = json_object_get (json_object_get (spec, "process"), "args");
  /* docker's rule: the image's Entrypoint, then the given command in
     place of the image's Cmd. */
  assert_int_equal (json_array_size (args), 2);
  assert_string_equal (json_string_value (json_array_get (args, 0)), "/bin/ep");
  assert_string_equal (json_string_value (json_array_get (args, 1)), "b");
  assert_string_equal (env_value (spec, "PATH"), "/img");
  assert_string_equal (env_value (spec, "FOO"), "cli");
  assert_string_equal (env_value (spec, "TERM"), "xterm");
  assert_string_equal (env_value (spec, "HOSTNAME"), "0123456789ab");
  assert_string_equal (json_string_value (json_object_get (spec, "hostname")), "0123456789ab");
  assert_string_equal (json_string_value (json_object_get (json_object_get (spec, "process"), "cwd")), "/w");
  assert_true (json_is_true (json_object_get (json_object_get (spec, "process"), "terminal")));
  /* The default seccomp profile unless privileged. */
  assert_non_null (json_object_get (json_object_get (spec, "linux"), "seccomp"));
  json_decref (spec);

  /* --entrypoint "": no entrypoint, only the command. */
  o.entrypoint = "";
  assert_int_equal (berth_ocispec_build (ic, &o, "0123456789abcdef", s->rootfs, s->etc, &spec, &err), 0);
  args = json_object_get (json_object_get (spec, "process"), "args");
  assert_int_equal (json_array_size (args), 1);
  assert_string_equal (json_string_value (json_array_get (args, 0)), "b");
  json_decref (spec);
  json_decref (ic);
  run_opts_free (&o);
}

static void
ocispec_refuses_what_is_wrong (void **state)
{
  struct scratch *s = *state;
  json_t *empty = image_config ("{\"config\": {}}"), *ic = image_config ("{\"config\": {\"Cmd\": [\"sh\"]}}");
  struct berth_run_opts o = run_opts ();
  json_t *spec = NULL;
  berth_err_t err = NULL;

  assert_int_equal (berth_ocispec_build (empty, &o, "0123456789abcdef", s->rootfs, s->etc, &spec, &err), -1);
  assert_non_null (strstr (err->msg, "no command specified"));
  berth_error_release (&err);

  json_array_append_new (o.env, json_string ("NOEQUALS"));
  assert_int_equal (berth_ocispec_build (ic, &o, "0123456789abcdef", s->rootfs, s->etc, &spec, &err), -1);
  assert_non_null (strstr (err->msg, "-e: \"NOEQUALS\" is not NAME=VALUE"));
  berth_error_release (&err);
  json_array_clear (o.env);

  json_array_append_new (o.tmpfs, json_string ("relative"));
  assert_int_equal (berth_ocispec_build (ic, &o, "0123456789abcdef", s->rootfs, s->etc, &spec, &err), -1);
  assert_non_null (strstr (err->msg, "--tmpfs: \"relative\" is not an absolute path"));
  berth_error_release (&err);
  json_array_clear (o.tmpfs);

  json_array_append_new (o.volumes, json_string ("/nonexistent-berth-unit:/data"));
  assert_int_equal (berth_ocispec_build (ic, &o, "0123456789abcdef", s->rootfs, s->etc, &spec, &err), -1);
  assert_non_null (strstr (err->msg, "-v: host path `/nonexistent-berth-unit`"));
  berth_error_release (&err);
  assert_null (spec);
  json_decref (empty);
  json_decref (ic);
  run_opts_free (&o);
}

static void
ocispec_mounts_parents_first (void **state)
{
  struct scratch *s = *state;
  json_t *ic = image_config ("{\"config\": {\"Cmd\": [\"sh\"]}}");
  struct berth_run_opts o = run_opts ();
  json_t *spec = NULL, *m;
  berth_err_t err = NULL;
  char vol[160];
  size_t i, etc_at = 0, hostname_at = 0;

  snprintf (vol, sizeof (vol), "%s:/etc:ro", s->dir);
  json_array_append_new (o.volumes, json_string (vol));
  json_array_append_new (o.tmpfs, json_string ("/scratch:size=1m"));
  assert_int_equal (berth_ocispec_build (ic, &o, "0123456789abcdef", s->rootfs, s->etc, &spec, &err), 0);
  /* A volume on /etc must not hide /etc/hostname: parents first. */
  json_array_foreach (json_object_get (spec, "mounts"), i, m)
  {
    const char *d = json_string_value (json_object_get (m, "destination"));
    if (strcmp (d, "/etc") == 0)
      etc_at = i;
    if (strcmp (d, "/etc/hostname") == 0)
      hostname_at = i;
  }
  assert_true (etc_at > 0 && hostname_at > etc_at);
  m = mount_at (spec, "/etc");
  assert_string_equal (json_string_value (json_array_get (json_object_get (m, "options"), 1)), "ro");
  m = mount_at (spec, "/scratch");
  assert_non_null (m);
  assert_string_equal (json_string_value (json_object_get (m, "type")), "tmpfs");
  assert_string_equal (json_string_value (json_array_get (json_object_get (m, "options"), 3)), "size=1m");
  json_decref (spec);
  json_decref (ic);
  run_opts_free (&o);
}

static void
vm_guest_config_shares_sockets_and_files (void **state)
{
  struct scratch *s = *state;
  char sock[128], file[128], cfgtext[1024];
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);
  json_t *config, *guest = NULL, *files = NULL, *shares = NULL, *sockets = NULL;
  char *netns = NULL;
  berth_err_t err = NULL;
  long mem;
  int cpus;

  snprintf (sock, sizeof (sock), "%s/s.sock", s->dir);
  snprintf (file, sizeof (file), "%s/f.txt", s->dir);
  assert_true (strlen (sock) < sizeof (addr.sun_path));
  memcpy (addr.sun_path, sock, strlen (sock) + 1);
  assert_true (fd >= 0 && bind (fd, (struct sockaddr *)&addr, sizeof (addr)) == 0);
  assert_int_equal (write_file_atomic (file, "hello", 5, 0644, &err), 0);
  snprintf (cfgtext, sizeof (cfgtext),
            "{\"annotations\": {\"berth.isolation\": \"vm\", \"keep\": \"me\"}, \"hooks\": {},"
            " \"linux\": {\"namespaces\": [{\"type\": \"network\", \"path\": \"/proc/1/ns/net\"}, {\"type\": \"pid\"}],"
            "  \"resources\": {\"memory\": {\"limit\": 104857600}, \"cpu\": {\"quota\": 150000, \"period\": 100000}}},"
            " \"mounts\": [{\"destination\": \"/d\", \"type\": \"bind\", \"source\": \"%s\", \"options\": [\"rbind\", "
            "\"ro\"]},"
            "  {\"destination\": \"/s\", \"type\": \"bind\", \"source\": \"%s\"},"
            "  {\"destination\": \"/f\", \"type\": \"none\", \"source\": \"%s\", \"options\": [\"bind\"]},"
            "  {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"}]}",
            s->dir, sock, file);
  config = image_config (cfgtext);
  assert_int_equal (vm_guest_config (config, s->dir, "", &guest, &files, &shares, &sockets, &netns, &err), 0);
  /* The host's network namespace becomes the VM's, not the guest
     container's; the VM annotations and host hooks stay on the host. */
  assert_string_equal (netns, "/proc/1/ns/net");
  assert_int_equal (json_array_size (json_object_get (json_object_get (guest, "linux"), "namespaces")), 1);
  assert_null (json_object_get (json_object_get (guest, "annotations"), "berth.isolation"));
  assert_string_equal (json_string_value (json_object_get (json_object_get (guest, "annotations"), "keep")), "me");
  assert_null (json_object_get (guest, "hooks"));
  /* A directory is shared read-only, a socket relayed, a small file
     copied; the guest never sees a host path. */
  assert_int_equal (json_array_size (shares), 1);
  assert_true (json_is_true (json_object_get (json_array_get (shares, 0), "ro")));
  assert_string_equal (
      json_string_value (json_object_get (json_array_get (json_object_get (guest, "mounts"), 0), "source")),
      "/run/berth/share/m0");
  assert_int_equal (json_array_size (sockets), 1);
  assert_string_equal (
      json_string_value (json_object_get (json_array_get (json_object_get (guest, "mounts"), 1), "source")),
      "/run/berth/sockets/s0");
  assert_string_equal (json_string_value (json_object_get (files, "f2")), "aGVsbG8=");
  vm_size (config, &mem, &cpus);
  /* 100 MiB for the container and the guest's own 128. */
  assert_int_equal (mem, 100 + 128);
  assert_true (cpus >= 1 && cpus <= 2);
  json_decref (guest);
  json_decref (files);
  json_decref (shares);
  json_decref (sockets);
  free (netns);
  json_decref (config);
  close (fd);
}

static void
vm_guest_config_refuses_what_cannot_cross (void **state)
{
  struct scratch *s = *state;
  char fifo[128], cfgtext[512];
  json_t *config, *guest = NULL, *files = NULL, *shares = NULL, *sockets = NULL;
  char *netns = NULL;
  berth_err_t err = NULL;

  snprintf (fifo, sizeof (fifo), "%s/fifo", s->dir);
  assert_int_equal (mkfifo (fifo, 0600), 0);
  snprintf (cfgtext, sizeof (cfgtext),
            "{\"mounts\": [{\"destination\": \"/p\", \"type\": \"bind\", \"source\": \"%s\"}]}", fifo);
  config = image_config (cfgtext);
  assert_int_equal (vm_guest_config (config, s->dir, "", &guest, &files, &shares, &sockets, &netns, &err), -1);
  assert_non_null (strstr (err->msg, "a FIFO cannot cross into a VM"));
  berth_error_release (&err);
  json_decref (config);
  json_decref (files);
  json_decref (shares);
  json_decref (sockets);

  config = image_config ("{\"linux\": {\"namespaces\": [{\"type\": \"ipc\", \"path\": \"/proc/1/ns/ipc\"}]}}");
  assert_int_equal (vm_guest_config (config, s->dir, "", &guest, &files, &shares, &sockets, &netns, &err), -1);
  if (strstr (err->msg, "joining a host namespace (ipc) is not possible in VM isolation") == NULL)
    fail_msg ("%s", err->msg);
  berth_error_release (&err);
  json_decref (config);
  json_decref (files);
  json_decref (shares);
  json_decref (sockets);
}

static bool
has_pair (char **argv, const char *opt, const char *value)
{
  for (size_t i = 0; argv[i] && argv[i + 1]; i++)
    if (strcmp (argv[i], opt) == 0 && strcmp (argv[i + 1], value) == 0)
      return true;
  return false;
}

static bool
has_arg (char **argv, const char *needle)
{
  for (size_t i = 0; argv[i]; i++)
    if (strstr (argv[i], needle))
      return true;
  return false;
}

static void
qemu_argv_names_only_fds (void **state)
{
  struct vm_machine m = { .accel = "tcg",
                          .cpu = "max",
                          .mem_mib = 256,
                          .cpus = 2,
                          .fs = true,
                          .acpi = false,
                          .net = true,
                          .append = (char *)"console=ttyS0" };
  char **a = vm_qemu_argv ("abc/../def", &m, VM_START_COLD, false, "02:42:ac:11:00:02");
  char fd[128];
  (void)state;
  assert_true (has_pair (a, "-m", "256M"));
  assert_true (has_pair (a, "-smp", "2"));
  assert_true (has_pair (a, "-accel", "tcg,tb-size=32"));
  assert_true (has_pair (a, "-machine", "microvm,acpi=off,memory-backend=mem"));
  /* Every resource by the fd the shim holds at its fixed number. */
  snprintf (fd, sizeof (fd), "socket,id=agent,fd=%d", VM_FD_AGENT_QEMU);
  assert_true (has_pair (a, "-chardev", fd));
  snprintf (fd, sizeof (fd), "/proc/self/fd/%d", VM_FD_KERNEL);
  assert_true (has_pair (a, "-kernel", fd));
  snprintf (fd, sizeof (fd), "/proc/self/fd/%d", VM_FD_INITRD);
  assert_true (has_pair (a, "-initrd", fd));
  snprintf (fd, sizeof (fd), "fd=%d,set=1,opaque=rootfs", VM_FD_ROOTFS);
  assert_true (has_pair (a, "-add-fd", fd));
  snprintf (fd, sizeof (fd), "tap,id=net0,fd=%d", VM_FD_TAP);
  assert_true (has_pair (a, "-netdev", fd));
  snprintf (fd, sizeof (fd), "socket,id=vfs,fd=%d", VM_FD_VFS_QEMU);
  assert_true (has_pair (a, "-chardev", fd));
  assert_true (has_arg (a, "mac=02:42:ac:11:00:02"));
  /* The id reaches QEMU only as a name of safe characters. */
  assert_false (has_arg (a, "abc/../def"));
  assert_true (has_pair (a, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
  strv_free (a);

  /* No file server, no network, KVM: none of their devices. */
  m = (struct vm_machine){
    .accel = "kvm", .cpu = "host", .mem_mib = 192, .cpus = 1, .acpi = true, .append = (char *)"console=ttyS0"
  };
  a = vm_qemu_argv ("x", &m, VM_START_COLD, false, NULL);
  assert_true (has_pair (a, "-accel", "kvm"));
  assert_true (has_pair (a, "-cpu", "host"));
  assert_true (has_pair (a, "-machine", "microvm"));
  assert_false (has_arg (a, "vhost-user-fs"));
  assert_false (has_arg (a, "virtio-net"));
  assert_false (has_arg (a, "-incoming"));
  assert_false (has_arg (a, "-mon"));
  strv_free (a);

  /* A template is made with the same devices, a NIC with no backend, its
     RAM a file handed over, a monitor to save it, no run state saved. */
  m.net = true;
  a = vm_qemu_argv ("t", &m, VM_START_TEMPLATE, false, NULL);
  snprintf (fd, sizeof (fd), "memory-backend-file,id=mem,size=192M,mem-path=/proc/self/fd/%d,share=on", VM_FD_RAM);
  assert_true (has_pair (a, "-object", fd));
  assert_true (has_pair (a, "-machine", "microvm,memory-backend=mem"));
  assert_true (has_pair (a, "-netdev", "hubport,id=net0,hubid=0"));
  snprintf (fd, sizeof (fd), "socket,id=qmp,fd=%d", VM_FD_QMP);
  assert_true (has_pair (a, "-chardev", fd));
  assert_true (has_pair (a, "-global", "migration.store-global-state=off"));
  assert_false (has_arg (a, "-incoming"));
  strv_free (a);

  /* Restored: -incoming defer (the stream comes over QMP); the shared
     template's sealed RAM mapped privately. */
  a = vm_qemu_argv ("r", &m, VM_START_RESTORE, true, "02:42:ac:11:00:03");
  snprintf (fd, sizeof (fd), "memory-backend-file,id=mem,size=192M,mem-path=/proc/self/fd/%d,share=off", VM_FD_RAM);
  assert_true (has_pair (a, "-object", fd));
  assert_true (has_pair (a, "-incoming", "defer"));
  snprintf (fd, sizeof (fd), "tap,id=net0,fd=%d", VM_FD_TAP);
  assert_true (has_pair (a, "-netdev", fd));
  assert_false (has_arg (a, "store-global-state"));
  strv_free (a);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (ocispec_entrypoint_cmd_env_and_hostname, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown (ocispec_refuses_what_is_wrong, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown (ocispec_mounts_parents_first, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown (vm_guest_config_shares_sockets_and_files, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown (vm_guest_config_refuses_what_cannot_cross, scratch_setup, scratch_teardown),
    cmocka_unit_test (qemu_argv_names_only_fds),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
