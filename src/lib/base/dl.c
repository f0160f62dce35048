#define BERTH_DL_IMPL
#include "lib/base/dl.h"

#include <dlfcn.h>
#include <stdbool.h>

#include "lib/base/archive_dl.h"
#include "lib/base/crypto_dl.h"
#include "lib/base/curl_dl.h"
#include "lib/base/nft_dl.h"
#include "lib/base/systemd_dl.h"

int
berth_dl_load (void **handle, const char *soname, const char *what, const struct berth_dl_sym *syms, size_t n,
               void *table, berth_err_t *err)
{
  void *lib;

  if (*handle)
    return 0;
  lib = dlopen (soname, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    return berth_error (err, 0, "%s needs %s: %s", what, soname, dlerror ());
  for (size_t i = 0; i < n; i++)
    {
      void *p = dlsym (lib, syms[i].name);
      if (p == NULL)
        {
          berth_error (err, 0, "%s: %s has no %s: %s", what, soname, syms[i].name, dlerror ());
          dlclose (lib);
          return -1;
        }
      /* POSIX lets dlsym's object pointer hold a function's address. */
      *(void **)((char *)table + syms[i].off) = p;
    }
  *handle = lib;
  return 0;
}

/* Each library's table, filled from the list in its *_dl.h. */
#define SYM(f) { #f, offsetof (struct TABLE, f) },
#define LOAD(table, soname, what)                                                                                      \
  static void *lib;                                                                                                    \
  static const struct berth_dl_sym syms[] = { FUNCS (SYM) };                                                           \
  return berth_dl_load (&lib, soname, what, syms, sizeof (syms) / sizeof (syms[0]), &table, err)

struct berth_archive_api berth_archive;
struct berth_crypto_api berth_crypto;
struct berth_curl_api berth_curl;
struct berth_nft_api berth_nft;
struct berth_systemd_api berth_systemd;

int
berth_archive_load (berth_err_t *err)
{
#define TABLE berth_archive_api
#define FUNCS BERTH_ARCHIVE_FUNCS
  LOAD (berth_archive, BERTH_SONAME_ARCHIVE, "image layers and archives");
#undef TABLE
#undef FUNCS
}

int
berth_crypto_load (berth_err_t *err)
{
#define TABLE berth_crypto_api
#define FUNCS BERTH_CRYPTO_FUNCS
  LOAD (berth_crypto, BERTH_SONAME_CRYPTO, "sha256 digests");
#undef TABLE
#undef FUNCS
}

int
berth_nft_load (berth_err_t *err)
{
#define TABLE berth_nft_api
#define FUNCS BERTH_NFT_FUNCS
  LOAD (berth_nft, BERTH_SONAME_NFTABLES, "NAT and port publishing");
#undef TABLE
#undef FUNCS
}

int
berth_systemd_load (berth_err_t *err)
{
#define TABLE berth_systemd_api
#define FUNCS BERTH_SYSTEMD_FUNCS
  LOAD (berth_systemd, BERTH_SONAME_SYSTEMD, "systemd's cgroup driver");
#undef TABLE
#undef FUNCS
}

static int
curl_open (berth_err_t *err)
{
#define TABLE berth_curl_api
#define FUNCS BERTH_CURL_FUNCS
  LOAD (berth_curl, BERTH_SONAME_CURL, "registries");
#undef TABLE
#undef FUNCS
}

int
berth_curl_load (berth_err_t *err)
{
  static bool initialised;
  if (curl_open (err) < 0)
    return -1;
  if (!initialised && berth_curl.curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return berth_error (err, 0, "registries: curl_global_init failed");
  initialised = true;
  return 0;
}
