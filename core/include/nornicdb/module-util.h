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

/* An empty routing table (the core frees it) whose writers, readers and
 * routers own their strings. (transfer full) */
static inline NornicRoutingTable *
nornic_module_routing_table_new (guint ttl_seconds)
{
  NornicRoutingTable *rt = g_new0 (NornicRoutingTable, 1);
  rt->ttl_seconds = ttl_seconds;
  rt->writers = g_ptr_array_new_with_free_func (g_free);
  rt->readers = g_ptr_array_new_with_free_func (g_free);
  rt->routers = g_ptr_array_new_with_free_func (g_free);
  return rt;
}

/* Commit callbacks are collected while the module holds its lock and run
 * after it lets go (a callback may re-enter the module). `done` is a list
 * the adders prepend to; nornic_commit_done_run runs it in the order added. */
typedef struct {
  NornicCommitCb cb;
  gpointer user_data;
  guint64 index;
  GError *error;
} NornicCommitDone;

/* Adds a callback to `done` (`error`: transfer full, NULL for success);
 * returns the new list head. */
static inline GSList *
nornic_commit_done_add (GSList *done, NornicCommitCb cb, gpointer user_data, guint64 index, GError *error)
{
  NornicCommitDone *d = g_new0 (NornicCommitDone, 1);
  d->cb = cb;
  d->user_data = user_data;
  d->index = index;
  d->error = error;
  return g_slist_prepend (done, d);
}

/* Runs and frees every callback in `done`, oldest first. Call without the
 * module's lock. */
static inline void
nornic_commit_done_run (GSList *done)
{
  done = g_slist_reverse (done);
  for (GSList *l = done; l; l = l->next)
    {
      NornicCommitDone *d = l->data;
      d->cb (d->index, d->error == NULL, d->error, d->user_data);
      g_clear_error (&d->error);
      g_free (d);
    }
  g_slist_free (done);
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
