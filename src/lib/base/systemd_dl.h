/* libsystemd's sd-bus, loaded when systemd's cgroup driver is first used
   (dl.h says why; most runs never talk to systemd).  Include this instead
   of <systemd/sd-bus.h>. */
#ifndef BERTH_SYSTEMD_DL_H
#define BERTH_SYSTEMD_DL_H

#include <systemd/sd-bus.h>

#include "lib/base/error.h"

#define BERTH_SYSTEMD_FUNCS(X)                                                                                         \
  X (sd_bus_call)                                                                                                      \
  X (sd_bus_call_method)                                                                                               \
  X (sd_bus_error_free)                                                                                                \
  X (sd_bus_error_has_name)                                                                                            \
  X (sd_bus_flush_close_unref)                                                                                         \
  X (sd_bus_match_signal)                                                                                              \
  X (sd_bus_message_append)                                                                                            \
  X (sd_bus_message_close_container)                                                                                   \
  X (sd_bus_message_new_method_call)                                                                                   \
  X (sd_bus_message_open_container)                                                                                    \
  X (sd_bus_message_read)                                                                                              \
  X (sd_bus_message_unref)                                                                                             \
  X (sd_bus_open_system)                                                                                               \
  X (sd_bus_process)                                                                                                   \
  X (sd_bus_slot_unref)                                                                                                \
  X (sd_bus_wait)

struct berth_systemd_api
{
#define BERTH_DL_SLOT(f) __typeof__ (f) *f;
  BERTH_SYSTEMD_FUNCS (BERTH_DL_SLOT)
#undef BERTH_DL_SLOT
};

extern struct berth_systemd_api berth_systemd;

/* Loads libsystemd once; every call below needs it done first. */
int berth_systemd_load (berth_err_t *err);

#ifndef BERTH_DL_IMPL
#define sd_bus_call (*berth_systemd.sd_bus_call)
#define sd_bus_call_method (*berth_systemd.sd_bus_call_method)
#define sd_bus_error_free (*berth_systemd.sd_bus_error_free)
#define sd_bus_error_has_name (*berth_systemd.sd_bus_error_has_name)
#define sd_bus_flush_close_unref (*berth_systemd.sd_bus_flush_close_unref)
#define sd_bus_match_signal (*berth_systemd.sd_bus_match_signal)
#define sd_bus_message_append (*berth_systemd.sd_bus_message_append)
#define sd_bus_message_close_container (*berth_systemd.sd_bus_message_close_container)
#define sd_bus_message_new_method_call (*berth_systemd.sd_bus_message_new_method_call)
#define sd_bus_message_open_container (*berth_systemd.sd_bus_message_open_container)
#define sd_bus_message_read (*berth_systemd.sd_bus_message_read)
#define sd_bus_message_unref (*berth_systemd.sd_bus_message_unref)
#define sd_bus_open_system (*berth_systemd.sd_bus_open_system)
#define sd_bus_process (*berth_systemd.sd_bus_process)
#define sd_bus_slot_unref (*berth_systemd.sd_bus_slot_unref)
#define sd_bus_wait (*berth_systemd.sd_bus_wait)
#endif

#endif
