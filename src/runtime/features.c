#include <jansson.h>
#include <stdio.h>

#include "lib/runtime/seccomp.h"
#include "lib/runtime/spec.h"
#include "lib/runtime/state.h"
#include "runtime.h"

int
cmd_features (int argc, char **argv)
{
  json_t *caps = json_array ();
  json_t *f;
  for (int c = 0; c <= berth_cap_last (); c++)
    if (berth_cap_name (c))
      json_array_append_new (caps, json_string (berth_cap_name (c)));
  f = json_pack ("{s:s,s:s,s:[sssssss],s:[ssssss],s:[s],s:{s:[ssssssss],s:o,s:{s:b,s:b,s:b,s:b},s:o,s:{s:b},s:{s:b},"
                 "s:{s:b},s:{s:b}},s:{s:s}}",
                 "ociVersionMin", "1.0.0", "ociVersionMax", BERTH_OCI_VERSION, "hooks", "prestart", "createRuntime",
                 "createContainer", "startContainer", "poststart", "poststop", "isolation", "mountOptions", "bind",
                 "rbind", "ro", "rw", "nosuid", "nodev", "mountOptionsNote", "see docs", "linux", "namespaces",
                 "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts", "capabilities", caps, "cgroup",
                 "v1", 1, "v2", 1, "systemd", 1, "systemdUser", 0, "seccomp", berth_seccomp_features (), "apparmor",
                 "enabled", 0, "selinux", "enabled", 0, "intelRdt", "enabled", 0, "mountExtensions", "idmap", 0,
                 "annotations", "org.opencontainers.runc.version", "berth");
  if (f == NULL)
    return 1;
  /* The mount option list runc prints; the isolation entry is berth's. */
  json_object_set_new (f, "mountOptions",
                       json_pack ("[ssssssssssssssssssssssssssssssssss]", "async", "atime", "bind", "defaults", "dev",
                                  "diratime", "dirsync", "exec", "lazytime", "mand", "noatime", "nodev", "nodiratime",
                                  "noexec", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid",
                                  "nosymfollow", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared",
                                  "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid"));
  json_object_del (f, "isolation");
  json_object_del (f, "mountOptionsNote");
  json_dumpf (f, stdout, JSON_INDENT (4));
  putchar ('\n');
  json_decref (f);
  (void)argc;
  (void)argv;
  return 0;
}
