#include "curl_dl.h"

#include <dlfcn.h>
#include <stddef.h>

struct berth_curl_api berth_curl;

int
berth_curl_load (berth_err_t *err)
{
  static const struct
  {
    const char *name;
    size_t off;
  } syms[] = {
#define S(f, n) { n, offsetof (struct berth_curl_api, f) }
    S (global_init, "curl_global_init"),   S (easy_init, "curl_easy_init"),
    S (easy_setopt, "curl_easy_setopt"),   S (easy_perform, "curl_easy_perform"),
    S (easy_getinfo, "curl_easy_getinfo"), S (easy_cleanup, "curl_easy_cleanup"),
    S (easy_strerror, "curl_easy_strerror"), S (easy_escape, "curl_easy_escape"),
    S (free, "curl_free"),                 S (slist_append, "curl_slist_append"),
    S (slist_free_all, "curl_slist_free_all"), S (multi_init, "curl_multi_init"),
    S (multi_add_handle, "curl_multi_add_handle"), S (multi_perform, "curl_multi_perform"),
    S (multi_poll, "curl_multi_poll"),     S (multi_info_read, "curl_multi_info_read"),
    S (multi_remove_handle, "curl_multi_remove_handle"), S (multi_cleanup, "curl_multi_cleanup"),
#undef S
  };
  static void *lib;
  if (lib)
    return 0;
  /* The soname of Debian's libcurl4 (the OpenSSL flavour berth builds
     against; libcurl3-gnutls has another name). */
  lib = dlopen ("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    return berth_error (err, 0, "registries need libcurl: %s", dlerror ());
  for (size_t i = 0; i < sizeof (syms) / sizeof (syms[0]); i++)
    {
      void *p = dlsym (lib, syms[i].name);
      if (p == NULL)
        {
          dlclose (lib);
          lib = NULL;
          return berth_error (err, 0, "libcurl: no %s: %s", syms[i].name, dlerror ());
        }
      *(void **) ((char *) &berth_curl + syms[i].off) = p;
    }
  berth_curl.global_init (CURL_GLOBAL_DEFAULT);
  return 0;
}
