/* libnftables, loaded on first use (dl.h says why).  Include this instead of
   <nftables/libnftables.h>. */
#ifndef BERTH_NFT_DL_H
#define BERTH_NFT_DL_H

#include <nftables/libnftables.h>

#include "lib/base/error.h"

#define BERTH_NFT_FUNCS(X)                                                                                             \
  X (nft_ctx_buffer_error)                                                                                             \
  X (nft_ctx_buffer_output)                                                                                            \
  X (nft_ctx_free)                                                                                                     \
  X (nft_ctx_get_error_buffer)                                                                                         \
  X (nft_ctx_get_output_buffer)                                                                                        \
  X (nft_ctx_new)                                                                                                      \
  X (nft_run_cmd_from_buffer)

struct berth_nft_api
{
#define BERTH_DL_SLOT(f) __typeof__ (f) *f;
  BERTH_NFT_FUNCS (BERTH_DL_SLOT)
#undef BERTH_DL_SLOT
};

extern struct berth_nft_api berth_nft;

/* Loads libnftables once; every call below needs it done first. */
int berth_nft_load (berth_err_t *err);

#ifndef BERTH_DL_IMPL
#define nft_ctx_buffer_error (*berth_nft.nft_ctx_buffer_error)
#define nft_ctx_buffer_output (*berth_nft.nft_ctx_buffer_output)
#define nft_ctx_free (*berth_nft.nft_ctx_free)
#define nft_ctx_get_error_buffer (*berth_nft.nft_ctx_get_error_buffer)
#define nft_ctx_get_output_buffer (*berth_nft.nft_ctx_get_output_buffer)
#define nft_ctx_new (*berth_nft.nft_ctx_new)
#define nft_run_cmd_from_buffer (*berth_nft.nft_run_cmd_from_buffer)

#endif

#endif
