/* berth's nftables table (through libnftables): NAT for published ports
   and the bridges' masquerading. */
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
/* ------------------------------------------------------------- nft */

/* One command; *OUT (when asked) gets what nft printed. */
int
net_nft_run_out (const char *cmd, bool quiet_missing, char **out, berth_err_t *err)
{
  struct nft_ctx *ctx;
  int r;
  if (berth_nft_load (err) < 0)
    return -1;
  ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  if (ctx == NULL)
    return berth_error (err, ENOMEM, "nftables context");
  nft_ctx_buffer_output (ctx);
  nft_ctx_buffer_error (ctx);
  r = nft_run_cmd_from_buffer (ctx, cmd);
  if (r != 0 && !quiet_missing)
    {
      const char *e = nft_ctx_get_error_buffer (ctx);
      cleanup_free char *line = xstrdup (e ? e : "");
      char *nl = strchr (line, '\n');
      if (nl)
        *nl = 0;
      berth_error (err, 0, "nftables: %s (%s)", line, cmd);
    }
  if (r == 0 && out)
    *out = xstrdup (nft_ctx_get_output_buffer (ctx) ?: "");
  nft_ctx_free (ctx);
  return r == 0 ? 0 : -1;
}

int
net_nft_run (const char *cmd, bool quiet_missing, berth_err_t *err)
{
  return net_nft_run_out (cmd, quiet_missing, NULL, err);
}

static const char nft_table_def[]
    = "table " NFT_TABLE " {\n"
      " set bridges { type ifname; }\n"
      " set subnets { type ipv4_addr; flags interval; }\n"
      " map ports_any { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
      " map ports_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }\n"
      " chain published {\n"
      "  dnat ip to ip daddr . meta l4proto . th dport map @ports_ip\n"
      "  fib daddr type local dnat ip to meta l4proto . th dport map @ports_any\n"
      " }\n"
      " chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump published; }\n"
      " chain output { type nat hook output priority -100; policy accept; jump published; }\n"
      " chain postrouting {\n"
      "  type nat hook postrouting priority srcnat; policy accept;\n"
      "  ip saddr 127.0.0.0/8 oifname @bridges masquerade\n"
      "  ip saddr @subnets oifname != @bridges masquerade\n"
      " }\n"
      " chain forward {\n"
      "  type filter hook forward priority filter; policy accept;\n"
      "  ct state established,related accept\n"
      "  oifname @bridges ct status dnat accept\n"
      "  iifname @bridges accept\n"
      "  oifname @bridges drop\n"
      " }\n"
      "}\n";

/* Adds CMD to berth's table, creating the table with it when it is not
   there: one transaction, so the table appears whole or not at all, and
   one nft run fewer for the first container. */
int
net_nft_with_table (const char *cmd, berth_err_t *err)
{
  berth_err_t e2 = NULL;
  cleanup_free char *all = NULL;
  if (net_nft_run ("list table " NFT_TABLE, true, &e2) == 0)
    return net_nft_run (cmd, false, err);
  berth_error_release (&e2);
  all = xasprintf ("%s%s\n", nft_table_def, cmd);
  return net_nft_run (all, false, err);
}

/* The elements of one binding, for add and delete alike. */
char *
net_port_element (const char *hostip, int hport, const char *proto, const char *ip, int cport)
{
  bool any = hostip == NULL || hostip[0] == 0 || strcmp (hostip, "0.0.0.0") == 0;
  if (ip == NULL)
    return any ? xasprintf ("ports_any { %s . %d }", proto, hport)
               : xasprintf ("ports_ip { %s . %s . %d }", hostip, proto, hport);
  return any ? xasprintf ("ports_any { %s . %d : %s . %d }", proto, hport, ip, cport)
             : xasprintf ("ports_ip { %s . %s . %d : %s . %d }", hostip, proto, hport, ip, cport);
}
