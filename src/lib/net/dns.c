/* A user network's DNS server (dnsmasq on its gateway). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/cloned_binary.h"
#include "lib/base/nft_dl.h"
#include "lib/base/terminal.h"
#include "lib/base/utils.h"
#include "lib/net/internal.h"
#include "lib/net/net.h"
#include "lib/net/netlink.h"
/* --------------------------------------------------------- dnsmasq */

static pid_t
dns_pid (const char *root, const char *name)
{
  cleanup_free char *p = xasprintf ("%s/networks/%s.dns/pid", root, name);
  cleanup_free char *text = NULL, *comm = NULL, *cp = NULL;
  berth_err_t e2 = NULL;
  pid_t pid;
  if (read_file_at (AT_FDCWD, p, &text, NULL, &e2) < 0)
    {
      berth_error_release (&e2);
      return 0;
    }
  pid = (pid_t)atoi (text);
  cp = xasprintf ("/proc/%d/comm", (int)pid);
  if (pid <= 0 || read_file_at (AT_FDCWD, cp, &comm, NULL, &e2) < 0 || strncmp (comm, "dnsmasq", 7) != 0)
    {
      berth_error_release (&e2);
      return 0;
    }
  return pid;
}

int
net_dns_start (const char *root, json_t *net, berth_err_t *err)
{
  const char *name = json_string_value (json_object_get (net, "Name"));
  cleanup_free char *dir = xasprintf ("%s/networks/%s.dns", root, name);
  cleanup_free char *hosts = xasprintf ("%s/hosts", dir);
  cleanup_free char *a_pid = xasprintf ("--pid-file=%s/pid", dir);
  cleanup_free char *a_hosts = xasprintf ("--hostsdir=%s", hosts);
  cleanup_free char *a_listen = xasprintf ("--listen-address=%s", json_string_value (json_object_get (net, "Gateway")));
  if (dns_pid (root, name) > 0)
    return 0;
  if (mkdir_p (hosts, 0700, err) < 0)
    return -1;
  {
    /* Names of the network's containers; anything else goes to the host's
       resolvers.  Root, as netavark's aardvark-dns: the hosts files live
       under berth's private root.  dnsmasq returns once its daemon
       listens (or says why it cannot). */
    char *argv[] = { (char *)"dnsmasq",
                     (char *)"--conf-file=/dev/null",
                     (char *)"--no-hosts",
                     (char *)"--bind-interfaces",
                     (char *)"--except-interface=lo",
                     a_listen,
                     a_hosts,
                     a_pid,
                     (char *)"--user=root",
                     (char *)"--group=root",
                     (char *)"--no-negcache",
                     (char *)"--domain-needed",
                     (char *)"--local-service",
                     (char *)"--cache-size=0",
                     NULL };
    if (berth_run_argv (argv, err) < 0)
      return berth_error_wrap (err, "name resolution for network %s", name);
  }
  return 0;
}

void
net_dns_stop (const char *root, const char *name)
{
  pid_t pid = dns_pid (root, name);
  cleanup_free char *p = xasprintf ("%s/networks/%s.dns/pid", root, name);
  if (pid > 0)
    kill (pid, SIGTERM);
  unlink (p);
}
