#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"
#include "lib/runtime/cgroup.h"
#include "lib/engine/engine.h"
#include "lib/image/image.h"
#include "lib/base/utils.h"
#include "lib/vm/vm.h"

int
cmd_info (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  json_t *list = NULL, *imgs = NULL;
  struct utsname u;
  const char *iso = berth_default_isolation ();
  int mode = berth_cgroup_mode ();
  size_t running = 0, i;
  json_t *c;
  (void)argv;
  if (argc > 1 && cli_help (argc, argv, "info", NULL))
    return 0;
  if (berth_engine_open (cli.root, &e, &err) < 0 || berth_engine_list (e, &list, &err) < 0)
    {
      berth_engine_close (e);
      return cli_error (&err);
    }
  json_array_foreach (list, i, c) running
      += strcmp (json_string_value (json_object_get (json_object_get (c, "State"), "Status")) ?: "", "running") == 0;
  uname (&u);
  if (berth_image_list (e->store, &imgs, &err) < 0)
    berth_error_release (&err);
  printf ("Containers: %zu\n Running: %zu\n Stopped: %zu\nImages: %zu\n", json_array_size (list), running,
          json_array_size (list) - running, json_array_size (imgs));
  {
    const char *mgr;
    berth_err_t e2 = NULL;
    if (berth_engine_cgroup_manager (&mgr, &e2) < 0)
      mgr = e2->msg;
    printf ("Root Dir: %s\nCgroup Driver: %s\nCgroup Version: %s\n", cli.root, mgr,
            mode == CGROUP_V2       ? "2"
            : mode == CGROUP_HYBRID ? "1 (hybrid)"
                                    : "1");
    berth_error_release (&e2);
  }
  {
    const char *why, *accel = berth_vm_accel_why (&why);
    cleanup_free char *k = NULL, *i2 = NULL;
    berth_err_t e2 = NULL;
    bool have = berth_vm_default_kernel (&k, &i2, &e2) == 0;
    berth_error_release (&e2);
    printf ("Default Isolation: %s\nIsolations: process, vm%s\n", iso, have ? "" : " (no guest kernel installed)");
    printf ("VM Accelerator: %s (%s)\n", strcmp (accel, "kvm") == 0 ? "kvm" : "tcg, software emulation: slow", why);
    printf ("VM Guest Kernel: %s\n", k);
    {
      cleanup_free char *tdir = berth_vm_templates_dir ();
      cleanup_free char *jail = berth_vm_jail_describe ();
      printf ("VM Templates: %s (%s)\n", berth_vm_templates_mode (), tdir);
      printf ("VM Jail: %s\n", jail);
    }
  }
  printf ("Kernel Version: %s\nOperating System: %s\nCPUs: %ld\n", u.release, u.sysname,
          sysconf (_SC_NPROCESSORS_ONLN));
  json_decref (list);
  json_decref (imgs);
  berth_engine_close (e);
  return 0;
}

int
cmd_restart (int argc, char **argv)
{
  struct berth_engine *e = NULL;
  berth_err_t err = NULL;
  int rc = 0;
  if (cli_help (argc, argv, "restart CONTAINER...", NULL))
    return 0;
  if (argc < 2)
    return cli_usage ("restart", "requires at least one container");
  if (berth_engine_open (cli.root, &e, &err) < 0)
    return cli_error (&err);
  for (int i = 1; i < argc; i++)
    {
      char id[65];
      if (berth_engine_resolve (e, argv[i], id, &err) < 0 || berth_engine_stop (e, id, -1, &err) < 0
          || berth_engine_start (e, id, false, NULL, &err) < 0)
        {
          fprintf (stderr, "berth: %s\n", err->msg);
          berth_error_release (&err);
          rc = 1;
          continue;
        }
      printf ("%s\n", argv[i]);
    }
  berth_engine_close (e);
  return rc;
}
