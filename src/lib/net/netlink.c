#include "lib/net/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/net/netdev.h"
#include "lib/base/nscall.h"
#include "lib/base/utils.h"

struct berth_nl
{
  struct mnl_socket *sock;
  unsigned int seq, portid;
};

static int
socket_cb (void *arg, int *fd_out, char **text_out, berth_err_t *err)
{
  (void)arg;
  (void)text_out;
  *fd_out = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  return *fd_out < 0 ? berth_error (err, errno, "netlink socket") : 0;
}

int
berth_nl_open (int netns_fd, struct berth_nl **out, berth_err_t *err)
{
  struct berth_nl *nl = xcalloc (1, sizeof (*nl));
  int fd = -1;
  /* A netlink socket acts in the namespace it was made in: one for a
     container's namespace is made there by a helper process. */
  if (netns_fd >= 0)
    {
      cleanup_free char *unused = NULL;
      if (berth_ns_call (netns_fd, CLONE_NEWNET, socket_cb, NULL, &fd, &unused, err) < 0)
        {
          free (nl);
          return berth_error_wrap (err, "the container's network namespace");
        }
      nl->sock = mnl_socket_fdopen (fd);
    }
  else
    nl->sock = mnl_socket_open2 (NETLINK_ROUTE, SOCK_CLOEXEC);
  if (nl->sock == NULL || mnl_socket_bind (nl->sock, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int e = errno;
      if (nl->sock)
        mnl_socket_close (nl->sock);
      else if (fd >= 0)
        close (fd);
      free (nl);
      return berth_error (err, e, "netlink socket");
    }
  nl->portid = mnl_socket_get_portid (nl->sock);
  nl->seq = (unsigned int)time (NULL);
  *out = nl;
  return 0;
}

void
berth_nl_close (struct berth_nl *nl)
{
  if (nl == NULL)
    return;
  mnl_socket_close (nl->sock);
  free (nl);
}

/* Sends one request and runs CB over the replies until the ack (or the
   end of a dump); a negative errno from the kernel becomes the result. */
static int
nl_talk (struct berth_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  int ret;
  nlh->nlmsg_seq = ++nl->seq;
  if ((nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
    nlh->nlmsg_flags |= NLM_F_ACK;
  if (mnl_socket_sendto (nl->sock, nlh, nlh->nlmsg_len) < 0)
    return -errno;
  for (;;)
    {
      ssize_t n = mnl_socket_recvfrom (nl->sock, buf, sizeof (buf));
      if (n < 0)
        return -errno;
      ret = mnl_cb_run (buf, (size_t)n, nl->seq, nl->portid, cb, data);
      if (ret < 0)
        return -errno;
      if (ret == MNL_CB_STOP)
        return 0;
    }
}

static struct nlmsghdr *
new_msg (char *buf, int type, int flags)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = (uint16_t)type;
  nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
  return nlh;
}

static int
link_cb (const struct nlmsghdr *nlh, void *data)
{
  struct ifinfomsg *ifm = mnl_nlmsg_get_payload (nlh);
  *(int *)data = ifm->ifi_index;
  return MNL_CB_OK;
}

int
berth_nl_link_index (struct berth_nl *nl, const char *name, int *index, berth_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_GETLINK, 0);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm));
  int r, i = 0;
  ifm->ifi_family = AF_UNSPEC;
  /* Asked through the socket: it may be in another namespace than we are. */
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  r = nl_talk (nl, nlh, link_cb, &i);
  if (r < 0 || i <= 0)
    return berth_error (err, r < 0 ? -r : ENODEV, "network interface %s", name);
  *index = i;
  return 0;
}

int
berth_nl_bridge_add (struct berth_nl *nl, const char *name, berth_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm));
  struct nlattr *info;
  int r;
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  info = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
  mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "bridge");
  mnl_attr_nest_end (nlh, info);
  r = nl_talk (nl, nlh, NULL, NULL);
  if (r < 0)
    return berth_error (err, -r, "create the bridge %s", name);
  return 0;
}

int
berth_nl_veth_add (struct berth_nl *nl, const char *name, const char *peer_name, const uint8_t *peer_mac,
                   int peer_netns_fd, berth_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm)), *peer;
  struct nlattr *info, *data, *pn;
  int r;
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  info = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
  mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "veth");
  data = mnl_attr_nest_start (nlh, IFLA_INFO_DATA);
  pn = mnl_attr_nest_start (nlh, VETH_INFO_PEER);
  /* The peer's own ifinfomsg, then its attributes. */
  peer = (struct ifinfomsg *)((char *)nlh + nlh->nlmsg_len);
  memset (peer, 0, sizeof (*peer));
  nlh->nlmsg_len += MNL_ALIGN (sizeof (*peer));
  mnl_attr_put_strz (nlh, IFLA_IFNAME, peer_name);
  if (peer_mac)
    mnl_attr_put (nlh, IFLA_ADDRESS, 6, peer_mac);
  if (peer_netns_fd >= 0)
    mnl_attr_put_u32 (nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
  mnl_attr_nest_end (nlh, pn);
  mnl_attr_nest_end (nlh, data);
  mnl_attr_nest_end (nlh, info);
  r = nl_talk (nl, nlh, NULL, NULL);
  if (r < 0)
    return berth_error (err, -r, "create the veth pair %s/%s", name, peer_name);
  return 0;
}

int
berth_nl_link_set (struct berth_nl *nl, const char *name, bool up, int master_index, int mtu, berth_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_NEWLINK, 0);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm));
  int r;
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = up ? IFF_UP : 0;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  if (master_index > 0)
    mnl_attr_put_u32 (nlh, IFLA_MASTER, (uint32_t)master_index);
  if (mtu > 0)
    mnl_attr_put_u32 (nlh, IFLA_MTU, (uint32_t)mtu);
  r = nl_talk (nl, nlh, NULL, NULL);
  if (r < 0)
    return berth_error (err, -r, "configure the network interface %s", name);
  return 0;
}

static int
link_set_group (struct berth_nl *nl, const char *name, uint32_t group)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_NEWLINK, 0);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  mnl_attr_put_u32 (nlh, IFLA_GROUP, group);
  return nl_talk (nl, nlh, NULL, NULL);
}

static int
group_del (struct berth_nl *nl, uint32_t group)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_DELLINK, 0);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_u32 (nlh, IFLA_GROUP, group);
  return nl_talk (nl, nlh, NULL, NULL);
}

static void
links_del (struct berth_nl *nl, struct berth_nl_del *d)
{
  berth_err_t e2 = NULL;
  if (d->n > 1)
    {
      /* A group no one else uses: random, high bit set (the groups people
         set by hand are small numbers), never 0 (the kernel's default). */
      uint32_t group;
      int tagged = 0;
      random_bytes (&group, sizeof (group));
      group |= 0x80000000u;
      for (int i = 0; i < d->n; i++)
        tagged += link_set_group (nl, d->names[i], group) == 0;
      if (tagged > 1 && group_del (nl, group) == 0)
        return;
    }
  /* One link, one left (the other gone already), or a kernel that would
     not delete the group: each by its name. */
  for (int i = 0; i < d->n; i++)
    {
      berth_nl_link_del (nl, d->names[i], &e2);
      berth_error_release (&e2);
    }
}

static void *
link_del_thread (void *data)
{
  struct berth_nl_del *d = data;
  struct berth_nl *nl = NULL;
  berth_err_t e2 = NULL;
  if (berth_nl_open (-1, &nl, &e2) == 0)
    links_del (nl, d);
  berth_error_release (&e2);
  berth_nl_close (nl);
  return NULL;
}

void
berth_nl_links_del_begin (struct berth_nl_del *d, struct berth_nl *nl, const char *const *names, int n)
{
  d->n = n < 2 ? n : 2;
  for (int i = 0; i < d->n; i++)
    snprintf (d->names[i], sizeof (d->names[i]), "%s", names[i]);
  d->threaded = pthread_create (&d->thread, NULL, link_del_thread, d) == 0;
  if (!d->threaded && nl)
    links_del (nl, d);
}

void
berth_nl_link_del_end (struct berth_nl_del *d)
{
  if (d->threaded)
    pthread_join (d->thread, NULL);
  d->threaded = false;
}

int
berth_nl_link_del (struct berth_nl *nl, const char *name, berth_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_DELLINK, 0);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm));
  int r;
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  r = nl_talk (nl, nlh, NULL, NULL);
  if (r < 0)
    return berth_error (err, -r, "delete the network interface %s", name);
  return 0;
}

int
berth_nl_addr_add (struct berth_nl *nl, const char *name, uint32_t addr, int prefix, berth_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifa));
  int idx, r;
  uint32_t bcast = prefix < 32 ? addr | htonl ((uint32_t)(0xffffffffu >> prefix)) : addr;
  if (berth_nl_link_index (nl, name, &idx, err) < 0)
    return -1;
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)prefix;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = (unsigned)idx;
  mnl_attr_put_u32 (nlh, IFA_LOCAL, addr);
  mnl_attr_put_u32 (nlh, IFA_ADDRESS, addr);
  mnl_attr_put_u32 (nlh, IFA_BROADCAST, bcast);
  r = nl_talk (nl, nlh, NULL, NULL);
  if (r < 0)
    {
      char a[INET_ADDRSTRLEN];
      inet_ntop (AF_INET, &addr, a, sizeof (a));
      return berth_error (err, -r, "add the address %s/%d to %s", a, prefix, name);
    }
  return 0;
}

int
berth_nl_route_default (struct berth_nl *nl, uint32_t gateway, berth_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  struct rtmsg *rtm = mnl_nlmsg_put_extra_header (nlh, sizeof (*rtm));
  int r;
  rtm->rtm_family = AF_INET;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put_u32 (nlh, RTA_GATEWAY, gateway);
  r = nl_talk (nl, nlh, NULL, NULL);
  if (r < 0)
    return berth_error (err, -r, "add the default route");
  return 0;
}

struct overlap_ctx
{
  uint32_t net, mask;
  int except;
  bool found;
  char *out;
};

static int
route_attr_cb (const struct nlattr *attr, void *data)
{
  const struct nlattr **tb = data;
  int type = mnl_attr_get_type (attr);
  if (mnl_attr_type_valid (attr, RTA_MAX) < 0)
    return MNL_CB_OK;
  tb[type] = attr;
  return MNL_CB_OK;
}

static int
route_cb (const struct nlmsghdr *nlh, void *data)
{
  struct overlap_ctx *c = data;
  struct rtmsg *rtm = mnl_nlmsg_get_payload (nlh);
  const struct nlattr *tb[RTA_MAX + 1] = { 0 };
  uint32_t dst = 0, mask;
  int oif = 0;
  if (rtm->rtm_family != AF_INET || rtm->rtm_table != RT_TABLE_MAIN || rtm->rtm_dst_len == 0)
    return MNL_CB_OK; /* the default route overlaps everything, and means nothing here */
  mnl_attr_parse (nlh, sizeof (*rtm), route_attr_cb, tb);
  if (tb[RTA_DST])
    dst = mnl_attr_get_u32 (tb[RTA_DST]);
  if (tb[RTA_OIF])
    oif = (int)mnl_attr_get_u32 (tb[RTA_OIF]);
  if (c->except > 0 && oif == c->except)
    return MNL_CB_OK;
  mask = htonl (0xffffffffu << (32 - rtm->rtm_dst_len));
  /* Two prefixes overlap when either contains the other. */
  mask = ntohl (mask) < ntohl (c->mask) ? mask : c->mask;
  if ((dst & mask) == (c->net & mask) && !c->found)
    {
      char a[INET_ADDRSTRLEN], ifn[IF_NAMESIZE] = "?";
      inet_ntop (AF_INET, &dst, a, sizeof (a));
      if (oif)
        if_indextoname ((unsigned)oif, ifn);
      snprintf (c->out, 64, "%s/%d dev %s", a, rtm->rtm_dst_len, ifn);
      c->found = true;
    }
  return MNL_CB_OK;
}

int
berth_nl_route_overlaps (struct berth_nl *nl, uint32_t net, int prefix, const char *except_dev, bool *overlaps,
                         char route_out[64], berth_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = new_msg (buf, RTM_GETROUTE, NLM_F_DUMP);
  struct rtmsg *rtm = mnl_nlmsg_put_extra_header (nlh, sizeof (*rtm));
  struct overlap_ctx c = { .net = net, .mask = prefix ? htonl (0xffffffffu << (32 - prefix)) : 0, .out = route_out };
  int r;
  rtm->rtm_family = AF_INET;
  if (except_dev)
    c.except = (int)if_nametoindex (except_dev);
  route_out[0] = '\0';
  r = nl_talk (nl, nlh, route_cb, &c);
  if (r < 0)
    return berth_error (err, -r, "list the host's routes");
  *overlaps = c.found;
  return 0;
}
