/* libcurl, loaded when a registry is first reached (dl.h says why; its
   own dependencies, TLS, Kerberos, LDAP, HTTP/2, ..., are about 30 more
   shared libraries).  Include this instead of <curl/curl.h>. */
#ifndef BERTH_CURL_DL_H
#define BERTH_CURL_DL_H

/* Plain functions instead of curl's type-checking macros, so that the
   names below can be redirected. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "lib/base/error.h"

#define BERTH_CURL_FUNCS(X)                                                                                            \
  X (curl_easy_cleanup)                                                                                                \
  X (curl_easy_escape)                                                                                                 \
  X (curl_easy_getinfo)                                                                                                \
  X (curl_easy_init)                                                                                                   \
  X (curl_easy_perform)                                                                                                \
  X (curl_easy_setopt)                                                                                                 \
  X (curl_easy_strerror)                                                                                               \
  X (curl_free)                                                                                                        \
  X (curl_global_init)                                                                                                 \
  X (curl_multi_add_handle)                                                                                            \
  X (curl_multi_cleanup)                                                                                               \
  X (curl_multi_info_read)                                                                                             \
  X (curl_multi_init)                                                                                                  \
  X (curl_multi_perform)                                                                                               \
  X (curl_multi_poll)                                                                                                  \
  X (curl_multi_remove_handle)                                                                                         \
  X (curl_slist_append)                                                                                                \
  X (curl_slist_free_all)

struct berth_curl_api
{
#define BERTH_DL_SLOT(f) __typeof__ (f) *f;
  BERTH_CURL_FUNCS (BERTH_DL_SLOT)
#undef BERTH_DL_SLOT
};

extern struct berth_curl_api berth_curl;

/* Loads libcurl once and runs curl_global_init; every call below needs it
   done first. */
int berth_curl_load (berth_err_t *err);

#ifndef BERTH_DL_IMPL
/* curl.h's own pass-through macros for these two */
#undef curl_easy_getinfo
#undef curl_easy_setopt
#define curl_easy_cleanup (*berth_curl.curl_easy_cleanup)
#define curl_easy_escape (*berth_curl.curl_easy_escape)
#define curl_easy_getinfo (*berth_curl.curl_easy_getinfo)
#define curl_easy_init (*berth_curl.curl_easy_init)
#define curl_easy_perform (*berth_curl.curl_easy_perform)
#define curl_easy_setopt (*berth_curl.curl_easy_setopt)
#define curl_easy_strerror (*berth_curl.curl_easy_strerror)
#define curl_free (*berth_curl.curl_free)
#define curl_global_init (*berth_curl.curl_global_init)
#define curl_multi_add_handle (*berth_curl.curl_multi_add_handle)
#define curl_multi_cleanup (*berth_curl.curl_multi_cleanup)
#define curl_multi_info_read (*berth_curl.curl_multi_info_read)
#define curl_multi_init (*berth_curl.curl_multi_init)
#define curl_multi_perform (*berth_curl.curl_multi_perform)
#define curl_multi_poll (*berth_curl.curl_multi_poll)
#define curl_multi_remove_handle (*berth_curl.curl_multi_remove_handle)
#define curl_slist_append (*berth_curl.curl_slist_append)
#define curl_slist_free_all (*berth_curl.curl_slist_free_all)
#endif

#endif
