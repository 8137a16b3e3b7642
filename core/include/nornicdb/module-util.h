/* Helpers shared by the replication modules. Header-only: a module links no
 * core symbols, it only uses the NornicCoreApi table it is handed. */
#pragma once

#include <string.h>
#include "module.h"

/* The Bolt host:port this node tells drivers and peers: the advertise
 * address when set, else the listen address (this host's name for a
 * wildcard bind) and the Bolt port. (transfer full) */
static inline char *
nornic_module_advertised_bolt_address (const NornicCoreApi *api)
{
  const char *adv = api->config_get (api->core, "NORNICDB_BOLT_ADVERTISE_ADDRESS");
  if (adv != NULL)
    return g_strdup (adv);
  const char *addr = api->config_get (api->core, "NORNICDB_BOLT_ADDRESS");
  gint64 port = api->config_get_int (api->core, "NORNICDB_BOLT_PORT");
  if (addr == NULL || strcmp (addr, "0.0.0.0") == 0 || strcmp (addr, "::") == 0)
    return g_strdup_printf ("%s:%" G_GINT64_FORMAT, g_get_host_name (), port);
  return g_strdup_printf ("%s:%" G_GINT64_FORMAT, addr, port);
}

/* Adds an idle source that calls `func (data)` on api->main_context at
 * `priority` (until it returns G_SOURCE_REMOVE); returns its id. Any thread. */
static inline guint
nornic_module_add_idle (const NornicCoreApi *api, int priority, GSourceFunc func, gpointer data)
{
  GSource *s = g_idle_source_new ();
  g_source_set_priority (s, priority);
  g_source_set_callback (s, func, data, NULL);
  guint id = g_source_attach (s, api->main_context);
  g_source_unref (s);
  return id;
}

/* Removes the main-loop source `*id` (a timeout or idle the module added to
 * api->main_context) if it still exists, and clears `*id`. */
static inline void
nornic_module_remove_source (const NornicCoreApi *api, guint *id)
{
  if (*id == 0)
    return;
  GSource *s = g_main_context_find_source_by_id (api->main_context, *id);
  if (s)
    g_source_destroy (s);
  *id = 0;
}
