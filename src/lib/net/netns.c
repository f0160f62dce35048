/* Network namespaces of containers, bind-mounted under the root. */
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
/* ------------------------------------------------------ namespaces */

void
net_netns_remove (const char *path)
{
  if (berth_host_mntns () >= 0)
    {
      /* Unmounted where it was mounted: the host's namespace. */
      pid_t pid = fork ();
      if (pid == 0)
        {
          if (setns (berth_host_mntns (), CLONE_NEWNS) < 0)
            _exit (1);
          umount2 (path, MNT_DETACH);
          _exit (0);
        }
      if (pid > 0)
        waitpid (pid, NULL, 0);
    }
  /* Ours, maybe twice: propagated from the host's and our own. */
  while (umount2 (path, MNT_DETACH) == 0)
    ;
  unlink (path);
}

int
net_netns_create (const char *path, berth_err_t *err)
{
  int fd, status, sp[2], nsfd = -1;
  pid_t pid;
  cleanup_free char *dir = xstrdup (path);
  *strrchr (dir, '/') = 0;
  if (mkdir_p (dir, 0700, err) < 0)
    return -1;
  fd = open (path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return berth_error (err, errno, "create `%s`", path);
  close (fd);
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    {
      unlink (path);
      return berth_error (err, errno, "socketpair");
    }
  pid = fork ();
  if (pid < 0)
    {
      close (sp[0]);
      close (sp[1]);
      unlink (path);
      return berth_error (err, errno, "fork");
    }
  if (pid == 0)
    {
      /* The namespace lives on in the bind mount after we exit.  It is
         mounted in the host's mount namespace (we may run in berth's own
         slave one), where every berth process started later sees it. */
      berth_err_t e2 = NULL;
      int self;
      close (sp[0]);
      if (berth_host_mntns () >= 0 && setns (berth_host_mntns (), CLONE_NEWNS) < 0)
        _exit (3);
      if (unshare (CLONE_NEWNET) < 0)
        _exit (1);
      if (mount ("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
        _exit (2);
      /* The parent takes the namespace only when it has a mount namespace
         of its own to mount it in too: otherwise nobody reads this. */
      if (berth_host_mntns () < 0)
        _exit (0);
      self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
      if (self < 0 || berth_send_fd (sp[1], self, "netns", &e2) < 0)
        _exit (4);
      _exit (0);
    }
  close (sp[1]);
  if (berth_host_mntns () >= 0)
    {
      berth_err_t e2 = NULL;
      if (berth_recv_fd (sp[0], &nsfd, &e2) < 0)
        berth_error_release (&e2);
    }
  close (sp[0]);
  if (waitpid (pid, &status, 0) < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      if (nsfd >= 0)
        close (nsfd);
      net_netns_remove (path);
      return berth_error (err, 0, "could not create a network namespace at `%s` (step %d)", path,
                          WIFEXITED (status) ? WEXITSTATUS (status) : -1);
    }
  if (nsfd >= 0)
    {
      /* And in ours, made before it existed. */
      char src[64];
      int r;
      snprintf (src, sizeof (src), "/proc/self/fd/%d", nsfd);
      r = mount (src, path, NULL, MS_BIND, NULL);
      close (nsfd);
      if (r < 0)
        {
          int e = errno;
          net_netns_remove (path);
          return berth_error (err, e, "mount the network namespace at `%s`", path);
        }
    }
  return 0;
}
