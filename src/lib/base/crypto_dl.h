/* libcrypto, loaded on first use (dl.h says why).  Include this instead of
   <openssl/evp.h>. */
#ifndef BERTH_CRYPTO_DL_H
#define BERTH_CRYPTO_DL_H

#include <openssl/evp.h>

#include "lib/base/error.h"

#define BERTH_CRYPTO_FUNCS(X)                                                                                          \
  X (EVP_DecodeBlock)                                                                                                  \
  X (EVP_DigestFinal_ex)                                                                                               \
  X (EVP_DigestInit_ex)                                                                                                \
  X (EVP_DigestUpdate)                                                                                                 \
  X (EVP_EncodeBlock)                                                                                                  \
  X (EVP_MD_CTX_free)                                                                                                  \
  X (EVP_MD_CTX_new)                                                                                                   \
  X (EVP_sha256)

struct berth_crypto_api
{
#define BERTH_DL_SLOT(f) __typeof__ (f) *f;
  BERTH_CRYPTO_FUNCS (BERTH_DL_SLOT)
#undef BERTH_DL_SLOT
};

extern struct berth_crypto_api berth_crypto;

/* Loads libcrypto once; every call below needs it done first. */
int berth_crypto_load (berth_err_t *err);

#ifndef BERTH_DL_IMPL
#define EVP_DecodeBlock (*berth_crypto.EVP_DecodeBlock)
#define EVP_DigestFinal_ex (*berth_crypto.EVP_DigestFinal_ex)
#define EVP_DigestInit_ex (*berth_crypto.EVP_DigestInit_ex)
#define EVP_DigestUpdate (*berth_crypto.EVP_DigestUpdate)
#define EVP_EncodeBlock (*berth_crypto.EVP_EncodeBlock)
#define EVP_MD_CTX_free (*berth_crypto.EVP_MD_CTX_free)
#define EVP_MD_CTX_new (*berth_crypto.EVP_MD_CTX_new)
#define EVP_sha256 (*berth_crypto.EVP_sha256)

#endif

#endif
