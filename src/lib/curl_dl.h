/* libcurl, loaded when a registry is first reached rather than at every
   start of berth: its dependencies (TLS, Kerberos, LDAP, HTTP/2, ...) are
   about 30 shared libraries, some 7 ms of dynamic loading per exec, and
   `berth run` execs twice.  registry.c includes this instead of
   <curl/curl.h>; the calls go through the table berth_curl_load fills. */
#ifndef BERTH_CURL_DL_H
#define BERTH_CURL_DL_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "error.h"

struct berth_curl_api
{
  CURLcode (*global_init) (long);
  CURL *(*easy_init) (void);
  CURLcode (*easy_setopt) (CURL *, CURLoption, ...);
  CURLcode (*easy_perform) (CURL *);
  CURLcode (*easy_getinfo) (CURL *, CURLINFO, ...);
  void (*easy_cleanup) (CURL *);
  const char *(*easy_strerror) (CURLcode);
  char *(*easy_escape) (CURL *, const char *, int);
  void (*free) (void *);
  struct curl_slist *(*slist_append) (struct curl_slist *, const char *);
  void (*slist_free_all) (struct curl_slist *);
  CURLM *(*multi_init) (void);
  CURLMcode (*multi_add_handle) (CURLM *, CURL *);
  CURLMcode (*multi_perform) (CURLM *, int *);
  CURLMcode (*multi_poll) (CURLM *, struct curl_waitfd *, unsigned int, int, int *);
  CURLMsg *(*multi_info_read) (CURLM *, int *);
  CURLMcode (*multi_remove_handle) (CURLM *, CURL *);
  CURLMcode (*multi_cleanup) (CURLM *);
};

extern struct berth_curl_api berth_curl;

/* Loads libcurl once and runs curl_global_init; safe to call again. */
int berth_curl_load (berth_err_t *err);

#define curl_global_init(f) berth_curl.global_init (f)
#define curl_easy_init() berth_curl.easy_init ()
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_setopt(h, o, ...) berth_curl.easy_setopt (h, o, __VA_ARGS__)
#define curl_easy_perform(h) berth_curl.easy_perform (h)
#define curl_easy_getinfo(h, i, ...) berth_curl.easy_getinfo (h, i, __VA_ARGS__)
#define curl_easy_cleanup(h) berth_curl.easy_cleanup (h)
#define curl_easy_strerror(c) berth_curl.easy_strerror (c)
#define curl_easy_escape(h, s, n) berth_curl.easy_escape (h, s, n)
#define curl_free(p) berth_curl.free (p)
#define curl_slist_append(l, s) berth_curl.slist_append (l, s)
#define curl_slist_free_all(l) berth_curl.slist_free_all (l)
#define curl_multi_init() berth_curl.multi_init ()
#define curl_multi_add_handle(m, h) berth_curl.multi_add_handle (m, h)
#define curl_multi_perform(m, r) berth_curl.multi_perform (m, r)
#define curl_multi_poll(m, e, n, t, r) berth_curl.multi_poll (m, e, n, t, r)
#define curl_multi_info_read(m, q) berth_curl.multi_info_read (m, q)
#define curl_multi_remove_handle(m, h) berth_curl.multi_remove_handle (m, h)
#define curl_multi_cleanup(m) berth_curl.multi_cleanup (m)

#endif
