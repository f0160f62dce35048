/* Addresses: leases of a network's subnet, one file per container. */
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
/* ------------------------------------------------------------ IPAM */

static bool
container_exists (const char *root, const char *id)
{
  cleanup_free char *p = xasprintf ("%s/containers/%s/container.json", root, id);
  cleanup_free char *d = xasprintf ("%s/containers/%s", root, id);
  /* A container being made has its directory before its record. */
  return access (p, F_OK) == 0 || access (d, F_OK) == 0;
}

/* Each lease is a file named by its address: O_EXCL makes a second
   holder impossible, and a crash leaves at worst a lease whose container
   is gone, which the next allocation reclaims. */
static void
reconcile (const char *root, const char *name)
{
  cleanup_free char *dir = xasprintf ("%s/networks/%s.ipam", root, name);
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      cleanup_free char *id = NULL;
      berth_err_t e2 = NULL;
      int dfd = dirfd (d);
      if (de->d_name[0] == '.')
        continue;
      if (read_file_at (dfd, de->d_name, &id, NULL, &e2) < 0)
        {
          berth_error_release (&e2);
          continue;
        }
      if (strlen (id) != 64 || !container_exists (root, id))
        unlinkat (dfd, de->d_name, 0);
    }
}

int
berth_net_members (const char *root, const char *name, json_t **out, berth_err_t *err)
{
  cleanup_free char *dir = xasprintf ("%s/networks/%s.ipam", root, name);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  reconcile (root, name);
  d = opendir (dir);
  *out = json_object ();
  if (d == NULL)
    return errno == ENOENT ? 0 : berth_error (err, errno, "open `%s`", dir);
  while ((de = readdir (d)))
    {
      cleanup_free char *id = NULL;
      berth_err_t e2 = NULL;
      if (de->d_name[0] == '.')
        continue;
      if (read_file_at (dirfd (d), de->d_name, &id, NULL, &e2) == 0)
        json_object_set_new (*out, id, json_string (de->d_name));
      berth_error_release (&e2);
    }
  return 0;
}

int
berth_net_allocate (const char *root, json_t *net, const char *id, const char *want, char ip_out[16], berth_err_t *err)
{
  const char *name = json_string_value (json_object_get (net, "Name"));
  cleanup_free char *dir = xasprintf ("%s/networks/%s.ipam", root, name);
  cleanup_close int lock = -1, dfd = -1;
  uint32_t sub, gw, lo, hi;
  int prefix;
  struct in_addr g;
  if (berth_net_parse_cidr (json_string_value (json_object_get (net, "Subnet")) ?: "", &sub, &prefix, err) < 0
      || inet_pton (AF_INET, json_string_value (json_object_get (net, "Gateway")) ?: "", &g) != 1)
    return berth_error (err, 0, "network %s: its record has no valid subnet and gateway", name);
  gw = ntohl (g.s_addr);
  lock = net_lock (root, err);
  if (lock < 0 || mkdir_p (dir, 0700, err) < 0)
    return -1;
  reconcile (root, name);
  dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return berth_error (err, errno, "open `%s`", dir);
  lo = ntohl (sub) + 1;
  hi = ntohl (sub) + (1u << (32 - prefix)) - 2;
  if (want)
    {
      struct in_addr a;
      if (inet_pton (AF_INET, want, &a) != 1 || ntohl (a.s_addr) < lo || ntohl (a.s_addr) > hi
          || ntohl (a.s_addr) == gw)
        return berth_error (err, 0, "--ip %s is not a free host address of %s (%s)", want, name,
                            json_string_value (json_object_get (net, "Subnet")));
      lo = hi = ntohl (a.s_addr);
    }
  for (uint32_t h = lo; h <= hi; h++)
    {
      cleanup_free char *s = NULL;
      int fd;
      if (h == gw)
        continue;
      s = net_ip_str (htonl (h));
      fd = openat (dfd, s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0 && errno == EEXIST)
        continue;
      if (fd < 0)
        return berth_error (err, errno, "lease %s on %s", s, name);
      if (write_all (fd, id, 64) < 0 || fsync (fd) < 0)
        {
          int e = errno;
          close (fd);
          unlinkat (dfd, s, 0);
          return berth_error (err, e, "lease %s on %s", s, name);
        }
      close (fd);
      strcpy (ip_out, s);
      return 0;
    }
  return berth_error (err, 0, want ? "the address %s is already in use on %s" : "%s%s: no free address left",
                      want ? want : "network ", name);
}

void
berth_net_release (const char *root, const char *net_name, const char *id)
{
  cleanup_free char *dir = xasprintf ("%s/networks/%s.ipam", root, net_name);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  berth_err_t e2 = NULL;
  cleanup_close int lock = net_lock (root, &e2);
  (void)lock; /* held until we return */
  berth_error_release (&e2);
  d = opendir (dir);
  while (d && (de = readdir (d)))
    {
      cleanup_free char *who = NULL;
      if (de->d_name[0] == '.')
        continue;
      if (read_file_at (dirfd (d), de->d_name, &who, NULL, &e2) == 0 && strcmp (who, id) == 0)
        unlinkat (dirfd (d), de->d_name, 0);
      berth_error_release (&e2);
    }
}

int
berth_net_remove (const char *root, const char *name, berth_err_t *err)
{
  cleanup_close int lock = -1;
  json_t *net = NULL, *members = NULL;
  cleanup_free char *dir = net_dir (root);
  if (strcmp (name, BERTH_NET_DEFAULT) == 0 || strcmp (name, "none") == 0 || strcmp (name, "host") == 0)
    return berth_error (err, 0, "\"%s\" is a predefined network and cannot be removed", name);
  /* An unreadable record can still be removed (its containers are found
     by name, as for any other); only a missing one is an error. */
  {
    berth_err_t e2 = NULL;
    if (net_load (root, name, &net, &e2) < 0 && e2->status == ENOENT)
      {
        *err = e2;
        return -1;
      }
    berth_error_release (&e2);
    json_decref (net);
  }
  lock = net_lock (root, err);
  if (lock < 0 || berth_net_members (root, name, &members, err) < 0)
    return -1;
  if (json_object_size (members) > 0)
    {
      const char *id = json_object_iter_key (json_object_iter (members));
      int r
          = berth_error (err, 0, "network %s has %zu attached container(s) (%.12s...): remove or disconnect them first",
                         name, json_object_size (members), id);
      json_decref (members);
      return r;
    }
  json_decref (members);
  {
    static const char *subs[] = { "ipam", "active", "dns" };
    int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; dfd >= 0 && i < ARRAY_SIZE (subs); i++)
      {
        cleanup_free char *n = xasprintf ("%s.%s", name, subs[i]);
        berth_err_t e2 = NULL;
        rm_rf_at (dfd, n, &e2);
        berth_error_release (&e2);
      }
    if (dfd >= 0)
      close (dfd);
  }
  {
    cleanup_free char *p = xasprintf ("%s/%s.json", dir, name);
    if (unlink (p) < 0)
      return berth_error (err, errno, "remove `%s`", p);
  }
  return 0;
}
