/* standalone.so: one node, durable local commit through the WAL.
 *
 * Every write-set gets the next log index and is appended to the WAL; the
 * commit completes when the WAL writer thread has fdatasync'ed the batch
 * holding it (group commit). This node is always the writer, the only
 * reader and the only router. */
#include <gmodule.h>
#include <string.h>

#include "nornicdb/module.h"
#include "nornicdb/module-util.h"

#define LOG_DOMAIN "nornicdb-standalone"

struct _NornicModule {
  const NornicCoreApi *api;
  char *bolt_address;
  char *node_id;
  guint64 commits;
};

static NornicModule *
standalone_create (const NornicCoreApi *api, GError **error)
{
  NornicModule *mod = g_new0 (NornicModule, 1);
  mod->api = api;
  mod->bolt_address = nornic_module_advertised_bolt_address (api);
  const char *id = api->config_get (api->core, "NORNICDB_CLUSTER_NODE_ID");
  mod->node_id = g_strdup (id ? id : "standalone");
  return mod;
}

static gboolean standalone_cluster_status (NornicModule *mod, const char *method, const char *path,
                                           const char *body, gsize body_len, NornicHttpReply *reply);
static gboolean standalone_wal_position (NornicModule *mod, const char *method, const char *path,
                                         const char *body, gsize body_len, NornicHttpReply *reply);

static void
register_routes (NornicModule *mod)
{
  mod->api->register_http (mod->api->core, "GET", "/admin/cluster/status", standalone_cluster_status);
  mod->api->register_http (mod->api->core, "GET", "/admin/wal/position", standalone_wal_position);
}

static gboolean
standalone_start (NornicModule *mod, GError **error)
{
  NornicRoleInfo role = {
    .role = NORNIC_ROLE_STANDALONE,
    .accepts_writes = TRUE,
    .writer_bolt_address = mod->bolt_address,
    .term = 1,
  };
  mod->api->set_role (mod->api->core, &role);
  register_routes (mod);
  return TRUE;
}

static void
standalone_stop (NornicModule *mod)
{
}

static void
standalone_destroy (NornicModule *mod)
{
  g_free (mod->bolt_address);
  g_free (mod->node_id);
  g_free (mod);
}

static guint64
standalone_submit (NornicModule *mod, const NornicWriteSet *ws, NornicCommitCb cb, gpointer user_data,
                   GError **error)
{
  /* Called with the store's writer lock held: indexes are assigned in
   * commit order without further locking. */
  guint64 index = mod->api->wal_last_index (mod->api->core) + 1;
  if (!mod->api->wal_append (mod->api->core, index, 1, ws, cb, user_data, error))
    return 0;
  mod->commits++;
  return index;
}

static NornicRoutingTable *
standalone_routing_table (NornicModule *mod)
{
  NornicRoutingTable *rt = nornic_module_routing_table_new (300);
  g_ptr_array_add (rt->writers, g_strdup (mod->bolt_address));
  g_ptr_array_add (rt->readers, g_strdup (mod->bolt_address));
  g_ptr_array_add (rt->routers, g_strdup (mod->bolt_address));
  return rt;
}

static char *
standalone_health_json (NornicModule *mod, gboolean *healthy, char **reason)
{
  guint64 applied = mod->api->applied_index (mod->api->core);
  guint64 last = mod->api->wal_last_index (mod->api->core);
  *healthy = TRUE;
  g_autofree char *node_id = g_strescape (mod->node_id, NULL);
  return g_strdup_printf ("{\"mode\": \"standalone\", \"node_id\": \"%s\", \"role\": \"standalone\", "
                          "\"is_leader\": true, \"state\": \"ready\", \"commit_index\": %" G_GUINT64_FORMAT
                          ", \"applied_index\": %" G_GUINT64_FORMAT ", \"peers\": []}",
                          node_id, last, applied);
}

static void
standalone_metrics (NornicModule *mod, GString *out)
{
  const NornicCoreApi *api = mod->api;
  guint64 last = api->wal_last_index (api->core);
  api->append_metric (out, "nornicdb_replication_mode", NORNIC_METRIC_GAUGE,
                      "Active replication mode", "mode=\"standalone\"", 1);
  api->append_metric (out, "nornicdb_replication_is_leader", NORNIC_METRIC_GAUGE,
                      "1 when this node accepts writes", NULL, 1);
  api->append_metric (out, "nornicdb_replication_commit_index", NORNIC_METRIC_GAUGE,
                      "Highest committed log index", NULL, (double) last);
  api->append_metric (out, "nornicdb_replication_applied_index", NORNIC_METRIC_GAUGE,
                      "Highest log index applied to the store", NULL,
                      (double) api->applied_index (api->core));
  api->append_metric (out, "nornicdb_replication_lag_seconds", NORNIC_METRIC_GAUGE,
                      "Time this node is behind the writer", NULL, 0);
}

/* GET /admin/cluster/status and /admin/wal/position exist in every mode;
 * standalone answers with its single member. */
static gboolean
standalone_cluster_status (NornicModule *mod, const char *method, const char *path, const char *body,
                           gsize body_len, NornicHttpReply *reply)
{
  /* No cluster listener in standalone: the member has no cluster address
   * (null) and no cluster id; its Bolt address is what clients use. */
  const NornicCoreApi *api = mod->api;
  g_autofree char *id = g_strescape (mod->node_id, NULL);
  g_autofree char *bolt = g_strescape (mod->bolt_address ? mod->bolt_address : "", NULL);
  reply->status = 200;
  reply->json = g_strdup_printf (
    "{\"cluster_id\": null, \"mode\": \"standalone\", \"node_id\": \"%s\", "
    "\"leader\": {\"id\": \"%s\", \"address\": null, \"bolt_address\": \"%s\"}, "
    "\"members\": [{\"id\": \"%s\", \"address\": null, \"bolt_address\": \"%s\", \"state\": \"standalone\", "
    "\"voter\": true, \"healthy\": true}], "
    "\"commit_index\": %" G_GUINT64_FORMAT ", \"applied_index\": %" G_GUINT64_FORMAT ", \"term\": 1}",
    id, id, bolt, id, bolt, api->wal_last_index (api->core), api->applied_index (api->core));
  return TRUE;
}

static gboolean
standalone_wal_position (NornicModule *mod, const char *method, const char *path, const char *body,
                         gsize body_len, NornicHttpReply *reply)
{
  const NornicCoreApi *api = mod->api;
  reply->status = 200;
  reply->json = g_strdup_printf ("{\"mode\": \"standalone\", \"last_index\": %" G_GUINT64_FORMAT
                                 ", \"last_term\": %" G_GUINT64_FORMAT ", \"applied_index\": %" G_GUINT64_FORMAT "}",
                                 api->wal_last_index (api->core), api->wal_last_term (api->core),
                                 api->applied_index (api->core));
  return TRUE;
}

static const NornicModuleVTable standalone_vtable = {
  .abi_major = NORNIC_MODULE_ABI_MAJOR,
  .abi_minor = NORNIC_MODULE_ABI_MINOR,
  .struct_size = sizeof (NornicModuleVTable),
  .create = standalone_create,
  .start = standalone_start,
  .stop = standalone_stop,
  .destroy = standalone_destroy,
  .submit = standalone_submit,
  .routing_table = standalone_routing_table,
  .health_json = standalone_health_json,
  .metrics = standalone_metrics,
  .can_serve_read = NULL,
  .replay_limit = NULL,
};

static const NornicModuleInfo standalone_info = {
  .abi_major = NORNIC_MODULE_ABI_MAJOR,
  .abi_minor = NORNIC_MODULE_ABI_MINOR,
  .struct_size = sizeof (NornicModuleInfo),
  .name = "standalone",
  .version = "1.0",
  .vtable = &standalone_vtable,
};

G_MODULE_EXPORT const NornicModuleInfo *nornic_module_entry (void);

G_MODULE_EXPORT const NornicModuleInfo *
nornic_module_entry (void)
{
  return &standalone_info;
}
