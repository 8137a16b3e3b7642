/* NcDb lifecycle: open (data directory lock, snapshot + WAL recovery,
 * module load), role and write-block state, /health, /metrics, and the
 * snapshot schedule. Transactions are in transaction.c, the module-facing
 * API in core-api.c. */
#define G_LOG_DOMAIN "nornicdb-db"

#include "db-private.h"
#include "backup.h"
#include "errors.h"
#include "module-loader.h"
#include "snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static const double latency_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25, 0.5, 1, 2.5, 5, 10 };

NcStore *nc_db_store (NcDb *db) { return db->store; }
NcConfig *nc_db_config (NcDb *db) { return db->config; }
NcMetrics *nc_db_metrics (NcDb *db) { return db->metrics; }
NcUsers *nc_db_users (NcDb *db) { return db->users; }
const char *nc_db_data_dir (NcDb *db) { return db->data_dir; }

/* ---- visibility ---------------------------------------------------------- */

void
nc_db_publish (NcDb *db, guint64 index)
{
  g_mutex_lock (&db->visible_lock);
  nc_store_publish (db->store, index);
  g_cond_broadcast (&db->visible_cond);
  g_mutex_unlock (&db->visible_lock);
}

gboolean
nc_db_wait_visible (NcDb *db, guint64 index, gint64 timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * 1000;
  g_mutex_lock (&db->visible_lock);
  while (nc_store_visible_index (db->store) < index)
    {
      if (!g_cond_wait_until (&db->visible_cond, &db->visible_lock, deadline) &&
          nc_store_visible_index (db->store) < index)
        {
          guint64 have = nc_store_visible_index (db->store);
          g_mutex_unlock (&db->visible_lock);
          g_set_error (error, NC_ERROR, NC_ERROR_BOOKMARK_TIMEOUT,
                       _("Database has not caught up with the bookmark: it requires transaction %" PRIu64
                         " but this node has applied up to %" PRIu64 " after waiting %" PRId64 " ms"),
                       index, have, timeout_ms);
          return FALSE;
        }
    }
  g_mutex_unlock (&db->visible_lock);
  return TRUE;
}

/* ---- role and write block ---------------------------------------------------- */

const NornicRoleInfo *
nc_db_role (NcDb *db)
{
  return &db->role;
}

void
nc_db_set_write_block (NcDb *db, const char *reason)
{
  g_mutex_lock (&db->role_lock);
  if (g_strcmp0 (db->write_block, reason) != 0)
    {
      g_free (db->write_block);
      db->write_block = g_strdup (reason);
      if (reason != NULL)
        g_warning (_("Writes are now refused: %s"), reason);
      else
        g_message (_("Writes are accepted again"));
    }
  g_mutex_unlock (&db->role_lock);
}

char *
nc_db_write_block_reason (NcDb *db)
{
  g_mutex_lock (&db->role_lock);
  char *r = g_strdup (db->write_block);
  g_mutex_unlock (&db->role_lock);
  return r;
}

/* ---- routing -------------------------------------------------------------- */

void
nc_routing_table_free (NornicRoutingTable *rt)
{
  if (rt == NULL)
    return;
  g_clear_pointer (&rt->writers, g_ptr_array_unref);
  g_clear_pointer (&rt->readers, g_ptr_array_unref);
  g_clear_pointer (&rt->routers, g_ptr_array_unref);
  g_free (rt);
}

NornicRoutingTable *
nc_db_routing_table (NcDb *db)
{
  if (db->vt->routing_table == NULL)
    return NULL;
  return db->vt->routing_table (db->mod);
}

/* ---- admin routes --------------------------------------------------------- */

static const char *const known_admin_paths[] = {
  "/admin/cluster/status", "/admin/raft/state", "/admin/replication/lag",
  "/admin/raft/step-down", "/admin/raft/transfer-leadership", "/admin/cluster/transfer-leadership",
  "/admin/wal/position", "/admin/raft/snapshot", "/admin/promote", "/admin/cluster/add",
  "/admin/cluster/remove", "/admin/region/promote", "/admin/region/conflicts",
  "/admin/region/conflicts/resolve", "/admin/ha/discarded", NULL
};

gboolean
nc_db_is_known_admin_path (const char *path)
{
  for (guint i = 0; known_admin_paths[i] != NULL; i++)
    if (strcmp (known_admin_paths[i], path) == 0)
      return TRUE;
  return FALSE;
}

NornicHttpHandler
nc_db_find_admin_handler (NcDb *db, const char *method, const char *path, NornicModule **module)
{
  for (guint i = 0; i < db->admin_routes->len; i++)
    {
      NcAdminRoute *r = g_ptr_array_index (db->admin_routes, i);
      if (g_ascii_strcasecmp (r->method, method) == 0 && strcmp (r->path, path) == 0)
        {
          *module = db->mod;
          return r->handler;
        }
    }
  return NULL;
}

static void
admin_route_free (gpointer p)
{
  NcAdminRoute *r = p;
  g_free (r->method);
  g_free (r->path);
  g_free (r);
}

/* ---- health and metrics ------------------------------------------------------- */

char *
nc_db_health_json (NcDb *db, gboolean *healthy)
{
  gboolean mod_healthy = TRUE;
  g_autofree char *reason = NULL;
  g_autofree char *block = db->vt->health_json ? db->vt->health_json (db->mod, &mod_healthy, &reason) : NULL;
  g_autofree char *wblock = nc_db_write_block_reason (db);
  gboolean ok = mod_healthy && wblock == NULL;

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, ok ? "healthy" : "unhealthy");
  if (!ok)
    {
      json_builder_set_member_name (b, "reason");
      json_builder_add_string_value (b, wblock ? wblock : (reason ? reason : "replication unhealthy"));
    }
  if (block != NULL)
    {
      g_autoptr (JsonParser) p = json_parser_new ();
      if (json_parser_load_from_data (p, block, -1, NULL))
        {
          json_builder_set_member_name (b, "replication");
          json_builder_add_value (b, json_node_copy (json_parser_get_root (p)));
        }
    }
  json_builder_end_object (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  if (healthy)
    *healthy = ok;
  return json_generator_to_data (gen, NULL);
}

static double
resident_bytes (void)
{
  g_autofree char *statm = NULL;
  if (!g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
    return 0;
  unsigned long size = 0, resident = 0;
  if (sscanf (statm, "%lu %lu", &size, &resident) != 2)
    return 0;
  return (double) resident * (double) sysconf (_SC_PAGESIZE);
}

void
nc_db_render_metrics (NcDb *db, GString *out)
{
  NcWalStats ws = { 0 };
  nc_wal_get_stats (db->wal, &ws);
  NcTxn *txn = nc_store_begin_read (db->store);
  gint64 nodes = nc_txn_count_nodes (txn, NC_TOKEN_NONE);
  gint64 rels = nc_txn_count_rels (txn);
  nc_txn_rollback (txn);
  g_autofree char *wblock = nc_db_write_block_reason (db);

  nc_metrics_append (out, "nornicdb_info", "gauge", "Server version and replication mode",
                     NULL, 1);
  nc_metrics_append (out, "nornicdb_uptime_seconds", "gauge", "Seconds since the server started", NULL,
                     (g_get_monotonic_time () - db->started_us) / 1e6);
  nc_metrics_append (out, "nornicdb_nodes", "gauge", "Visible nodes", NULL, (double) nodes);
  nc_metrics_append (out, "nornicdb_relationships", "gauge", "Visible relationships", NULL, (double) rels);
  nc_metrics_append (out, "nornicdb_wal_position", "gauge", "Last WAL index written", NULL,
                     (double) nc_wal_last_index (db->wal));
  nc_metrics_append (out, "nornicdb_wal_durable_position", "gauge", "Last WAL index made durable", NULL,
                     (double) nc_wal_durable_index (db->wal));
  nc_metrics_append (out, "nornicdb_wal_records_total", "counter", "WAL records written", NULL, (double) ws.records);
  nc_metrics_append (out, "nornicdb_wal_bytes_total", "counter", "WAL bytes written", NULL, (double) ws.bytes);
  nc_metrics_append (out, "nornicdb_wal_fsyncs_total", "counter", "WAL fdatasync calls", NULL, (double) ws.fsyncs);
  nc_metrics_append (out, "nornicdb_visible_index", "gauge", "Highest index visible to readers", NULL,
                     (double) nc_store_visible_index (db->store));
  nc_metrics_append (out, "nornicdb_writes_blocked", "gauge", "1 when writes are refused (fsync failure, fenced)", NULL,
                     wblock ? 1 : 0);
  nc_metrics_append (out, "nornicdb_active_transactions", "gauge", "Open transactions", NULL,
                     g_atomic_int_get (&db->active_transactions));
  nc_metrics_append (out, "nornicdb_process_resident_memory_bytes", "gauge", "Resident memory of the server", NULL,
                     resident_bytes ());
  nc_metrics_render (db->metrics, out);
  if (db->vt->metrics)
    db->vt->metrics (db->mod, out);
}

/* ---- snapshots ---------------------------------------------------------------- */

static guint64
oldest_snapshot_index (const char *data_dir, guint64 fallback)
{
  g_autofree char *dir = g_build_filename (data_dir, "snapshots", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint64 oldest = fallback;
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      guint64 idx;
      if (g_str_has_prefix (name, "snapshot-") && g_str_has_suffix (name, ".snap") &&
          sscanf (name, "snapshot-%" G_GUINT64_FORMAT ".snap", &idx) == 1)
        oldest = MIN (oldest, idx);
    }
  return oldest;
}

char *
nc_db_snapshot_now (NcDb *db, GError **error)
{
  g_mutex_lock (&db->snapshot_lock);
  NcTxn *txn = nc_store_begin_read (db->store);
  guint64 index = nc_txn_snapshot (txn);
  guint64 term = index > 0 ? nc_wal_term_at (db->wal, index) : 0;
  char *path = NULL;

  if (index == db->last_snapshot_index && index > 0)
    {
      /* Nothing new since the last snapshot: hand back that one. */
      path = nc_snapshot_find_latest (db->data_dir, NULL, NULL);
    }
  if (path == NULL)
    {
      /* Taken after the read snapshot: every user change up to `index` is
       * applied before `index` is published, so this table is at least as
       * new as the store image (a newer one is harmless: replaying the log
       * after `index` sets the table again, to the same end state). */
      g_autoptr (NcWriteSet) users = nc_db_users_snapshot_meta (db);
      path = nc_snapshot_write_extra (db->data_dir, txn, index, term, users, error);
    }
  nc_txn_rollback (txn);
  if (path != NULL)
    {
      db->last_snapshot_index = index;
      db->last_snapshot_us = g_get_monotonic_time ();
      if (db->core_schedules_snapshots)
        {
          nc_snapshot_prune (db->data_dir, (guint) nc_config_get_int (db->config, "NORNICDB_SNAPSHOT_KEEP"));
          /* Keep the WAL from the OLDEST kept snapshot on, so that a newest
           * snapshot found damaged at start-up can fall back to an older one
           * plus the log. */
          nc_wal_compact (db->wal, oldest_snapshot_index (db->data_dir, index));
        }
      nc_metrics_inc (db->metrics, "nornicdb_snapshots_total", NULL, 1);
      g_message (_("Snapshot at index %" PRIu64 " written to %s"), index, path);
    }
  g_mutex_unlock (&db->snapshot_lock);
  return path;
}

static gpointer
snapshot_thread (gpointer data)
{
  NcDb *db = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = nc_db_snapshot_now (db, &error);
  if (path == NULL)
    g_warning (_("Scheduled snapshot failed: %s"), error->message);
  g_atomic_int_dec_and_test (&db->active_transactions);
  return NULL;
}

static gboolean
snapshot_tick_cb (gpointer data)
{
  NcDb *db = data;
  guint64 visible = nc_store_visible_index (db->store);
  guint64 since = visible - MIN (visible, db->last_snapshot_index);
  gint64 interval_ms = nc_config_get_duration_ms (db->config, "NORNICDB_SNAPSHOT_INTERVAL");
  gint64 threshold = nc_config_get_int (db->config, "NORNICDB_SNAPSHOT_THRESHOLD");
  gboolean due = (threshold > 0 && since >= (guint64) threshold) ||
                 (interval_ms > 0 && since > 0 &&
                  g_get_monotonic_time () - db->last_snapshot_us >= interval_ms * 1000);
  if (due && g_mutex_trylock (&db->snapshot_lock))
    {
      g_mutex_unlock (&db->snapshot_lock);
      g_atomic_int_inc (&db->active_transactions);
      g_thread_unref (g_thread_new ("nc-snapshot", snapshot_thread, db));
    }
  return G_SOURCE_CONTINUE;
}

/* ---- users (replicated table, core/users.h) -------------------------------------- */

void
nc_db_apply_users_effects (NcDb *db, const NcWriteSet *ws, guint64 index)
{
  for (guint i = 0; i < nc_writeset_len (ws); i++)
    {
      const NcEffect *e = nc_writeset_get (ws, i);
      if (e->kind != NC_EFFECT_META || g_strcmp0 (e->name, NC_USERS_META_KEY) != 0)
        continue;
      g_autoptr (GError) error = NULL;
      /* The change is committed whatever happens here: a disk that refuses
       * users.json must not stop the node from applying the log. */
      if (!nc_users_replace (db->users, &e->value, &error))
        g_warning (_("Index %" PRIu64 ": the replicated user table could not be stored: %s"), index,
                   error->message);
    }
}

NcWriteSet *
nc_db_users_snapshot_meta (NcDb *db)
{
  NcWriteSet *ws = nc_writeset_new ();
  NcEffect e = { .kind = NC_EFFECT_META, .name = (char *) NC_USERS_META_KEY, .value = nc_users_export (db->users) };
  nc_writeset_append (ws, &e);
  nc_value_clear (&e.value);
  return ws;
}

void
nc_db_snapshot_meta_cb (const NcEffect *effect, guint64 index, gpointer user_data)
{
  NcDb *db = user_data;
  g_autoptr (NcWriteSet) ws = nc_writeset_new ();
  nc_writeset_append (ws, effect);
  nc_db_apply_users_effects (db, ws, index);
}

static gboolean
recheck_record_cb (guint64 index, guint64 term, const guint8 *payload, gsize len, gpointer user_data)
{
  NcDb *db = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) ws = nc_writeset_decode (payload, len, &error);
  if (ws != NULL)
    nc_db_apply_users_effects (db, ws, index);
  else
    g_warning (_("Index %" PRIu64 ": %s"), index, error->message);
  return FALSE; /* just this one record */
}

void
nc_db_users_applied_through (NcDb *db, guint64 index)
{
  g_mutex_lock (&db->users_change_lock);
  if (db->users_unsure_index != 0 && db->users_unsure_index <= index)
    db->users_unsure_index = 0;
  g_mutex_unlock (&db->users_change_lock);
}

void
nc_db_recheck_users (NcDb *db, guint64 index)
{
  g_mutex_lock (&db->users_change_lock);
  guint64 unsure = db->users_unsure_index;
  if (unsure == 0 || unsure > index)
    {
      g_mutex_unlock (&db->users_change_lock);
      return;
    }
  db->users_unsure_index = 0;
  g_mutex_unlock (&db->users_change_lock);
  /* The record at `unsure` is now committed: it is either our change (the
   * next leader kept it) or whatever replaced it; apply what it holds. */
  g_autoptr (GError) error = NULL;
  if (!nc_wal_read (db->wal, unsure, recheck_record_cb, db, &error))
    g_warning (_("Index %" PRIu64 ": cannot re-read the log for a user change: %s"), unsure, error->message);
}

/* ---- recovery ------------------------------------------------------------------ */

typedef struct {
  NcDb *db;
  guint64 limit;
  guint64 applied;
  GError *error;
} ReplayState;

static gboolean
replay_record_cb (guint64 index, guint64 term, const guint8 *payload, gsize len, gpointer user_data)
{
  ReplayState *st = user_data;
  if (index > st->limit)
    return FALSE;
  g_autoptr (NcWriteSet) ws = nc_writeset_decode (payload, len, &st->error);
  if (ws == NULL)
    {
      g_prefix_error (&st->error, _("WAL record %" PRIu64 ": "), index);
      return FALSE;
    }
  if (!nc_store_apply_writeset (st->db->store, ws, index, &st->error))
    {
      g_prefix_error (&st->error, _("applying WAL record %" PRIu64 ": "), index);
      return FALSE;
    }
  /* Before the index is published: a reader (or a snapshot) that sees
   * index N also sees the user table as of N. */
  nc_db_apply_users_effects (st->db, ws, index);
  nc_db_users_applied_through (st->db, index);
  st->applied = index;
  return TRUE;
}

gboolean
nc_db_apply_log (NcDb *db, guint64 limit, GError **error)
{
  guint64 from = nc_store_applied_index (db->store) + 1;
  limit = MIN (limit, nc_wal_last_index (db->wal));
  if (from > limit)
    {
      if (limit > nc_store_visible_index (db->store))
        nc_db_publish (db, limit);
      return TRUE;
    }
  ReplayState st = { db, limit, 0, NULL };
  if (!nc_wal_read (db->wal, from, replay_record_cb, &st, error))
    return FALSE;
  if (st.error != NULL)
    {
      g_propagate_error (error, st.error);
      return FALSE;
    }
  if (st.applied > 0)
    nc_db_publish (db, st.applied);
  return TRUE;
}

static gboolean
lock_data_dir (NcDb *db, GError **error)
{
  g_autofree char *lock_path = g_build_filename (db->data_dir, "LOCK", NULL);
  db->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (db->lock_fd < 0 || flock (db->lock_fd, LOCK_EX | LOCK_NB) != 0)
    {
      int e = errno;
      g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE,
                   _("cannot lock data directory %s: %s (is another nornicdb using it?)"),
                   db->data_dir, g_strerror (e));
      return FALSE;
    }
  return TRUE;
}

static char *
load_or_make_node_id (NcDb *db)
{
  const char *configured = nc_config_get (db->config, "NORNICDB_CLUSTER_NODE_ID");
  if (configured != NULL)
    return g_strdup (configured);
  g_autofree char *path = g_build_filename (db->data_dir, "node_id", NULL);
  char *id = NULL;
  if (g_file_get_contents (path, &id, NULL, NULL))
    return g_strstrip (id);
  id = g_strdup_printf ("node-%08x", g_random_int ());
  g_file_set_contents_full (path, id, -1, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                            0600, NULL);
  if (g_strcmp0 (nc_config_get (db->config, "NORNICDB_CLUSTER_MODE"), "standalone") != 0)
    g_message (_("NORNICDB_CLUSTER_NODE_ID is not set: this node is %s from now on (kept in %s); peers must name it so"),
               id, path);
  return id;
}

static gboolean
recover (NcDb *db, GError **error)
{
  guint64 snap_index = 0, snap_term = 0;
  g_autofree char *snap = nc_snapshot_find_latest (db->data_dir, &snap_index, &snap_term);

  if (snap != NULL)
    {
      if (!nc_snapshot_load_meta (snap, db->store, &snap_index, &snap_term, nc_db_snapshot_meta_cb, db, error))
        {
          g_prefix_error (error, _("loading snapshot %s: "), snap);
          return FALSE;
        }
      nc_db_publish (db, snap_index);
      db->last_snapshot_index = snap_index;
      g_message (_("Loaded snapshot %s (index %" PRIu64 ")"), snap, snap_index);
    }

  NcWalOptions opts = { .segment_size = nc_config_get_size (db->config, "NORNICDB_WAL_SEGMENT_SIZE") };
  db->wal = nc_wal_open (db->data_dir, &opts, snap_index + 1, error);
  if (db->wal == NULL)
    return FALSE;
  guint64 first = nc_wal_first_index (db->wal), last = nc_wal_last_index (db->wal);
  if (last >= first && first > snap_index + 1)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN,
                   _("the WAL in %s starts at index %" PRIu64 " but the newest usable snapshot only covers up to %" PRIu64
                     "; records in between are missing, refusing to start"),
                   db->data_dir, first, snap_index);
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_module (NcDb *db, GError **error)
{
  const char *mode = nc_config_get (db->config, "NORNICDB_CLUSTER_MODE");
  g_autofree char *dir = nc_module_dir (nc_config_get (db->config, "NORNICDB_MODULE_DIR"));
  g_autofree char *path = nc_module_path (dir, mode);

  if (!nc_module_load (path, &db->gmodule, &db->module_info, error))
    return FALSE;
  db->vt = db->module_info->vtable;
  nc_core_api_init (db, &db->api);
  db->mod = db->vt->create (&db->api, error);
  if (db->mod == NULL)
    {
      g_prefix_error (error, _("%s mode: "), mode);
      return FALSE;
    }
  g_message (_("Loaded replication module %s %s from %s"), db->module_info->name,
             db->module_info->version ? db->module_info->version : "", path);
  return TRUE;
}

static void
fsync_observe_cb (double seconds, gpointer data)
{
  NcDb *db = data;
  nc_histogram_observe (db->fsync_latency, seconds);
}

NcDb *
nc_db_open (NcConfig *config, GMainContext *main_context, GError **error)
{
  g_autoptr (GError) local = NULL;
  NcDb *db = g_new0 (NcDb, 1);
  db->config = config;
  db->lock_fd = -1;
  db->started_us = g_get_monotonic_time ();
  db->last_snapshot_us = db->started_us;
  db->main_context = main_context ? g_main_context_ref (main_context) : g_main_context_ref_thread_default ();
  g_mutex_init (&db->role_lock);
  g_mutex_init (&db->visible_lock);
  g_cond_init (&db->visible_cond);
  g_mutex_init (&db->snapshot_lock);
  g_mutex_init (&db->users_change_lock);
  g_cond_init (&db->users_change_cond);
  db->admin_routes = g_ptr_array_new_with_free_func (admin_route_free);
  db->role.role = NORNIC_ROLE_STANDALONE;
  db->role.accepts_writes = FALSE; /* until the module says otherwise */

  char *dd = g_canonicalize_filename (nc_config_get (config, "NORNICDB_DATA_DIR"), NULL);
  db->data_dir = dd;
  if (g_mkdir_with_parents (db->data_dir, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE, _("cannot create data directory %s: %s"),
                   db->data_dir, g_strerror (e));
      goto fail;
    }
  if (!lock_data_dir (db, error))
    goto fail;
  db->node_id = load_or_make_node_id (db);
  const char *cdd = nc_config_get (config, "NORNICDB_CLUSTER_DATA_DIR");
  db->module_data_dir = cdd ? g_canonicalize_filename (cdd, NULL) : g_build_filename (db->data_dir, "replication", NULL);
  if (!nc_backup_prepare_restore (db->data_dir, db->module_data_dir, error))
    goto fail;
  g_mkdir_with_parents (db->module_data_dir, 0700);

  db->metrics = nc_metrics_new ();
  db->query_latency = nc_metrics_histogram (db->metrics, "nornicdb_query_duration_seconds", latency_bounds, G_N_ELEMENTS (latency_bounds));
  nc_metrics_declare (db->metrics, "nornicdb_query_duration_seconds", "histogram", "Query execution time");
  db->fsync_latency = nc_metrics_histogram (db->metrics, "nornicdb_wal_fsync_duration_seconds", latency_bounds, G_N_ELEMENTS (latency_bounds));
  nc_metrics_declare (db->metrics, "nornicdb_wal_fsync_duration_seconds", "histogram", "WAL fdatasync time");
  db->commit_latency = nc_metrics_histogram (db->metrics, "nornicdb_commit_duration_seconds", latency_bounds, G_N_ELEMENTS (latency_bounds));
  nc_metrics_declare (db->metrics, "nornicdb_commit_duration_seconds", "histogram", "Time from commit request to durable acknowledgement");
  nc_metrics_declare (db->metrics, "nornicdb_queries_total", "counter", "Queries run, by type (read, write, schema)");
  nc_metrics_declare (db->metrics, "nornicdb_query_errors_total", "counter", "Failed queries by Neo4j status code");
  nc_metrics_declare (db->metrics, "nornicdb_transactions_total", "counter", "Transactions by outcome");
  nc_metrics_declare (db->metrics, "nornicdb_snapshots_total", "counter", "Snapshots written");
  nc_backup_declare_metrics (db->metrics);

  db->users = nc_users_open (db->data_dir, nc_config_get (config, "NORNICDB_AUTH"), error);
  if (db->users == NULL)
    goto fail;
  db->cache = nc_cypher_cache_new ((guint) nc_config_get_int (config, "NORNICDB_QUERY_CACHE_SIZE"));
  db->store = nc_store_new ();

  if (!recover (db, error))
    goto fail;
  nc_wal_set_fsync_observer (db->wal, fsync_observe_cb, db);
  if (!load_module (db, error))
    goto fail;
  guint64 limit = db->vt->replay_limit ? db->vt->replay_limit (db->mod) : G_MAXUINT64;
  if (!nc_db_apply_log (db, limit, error))
    {
      g_prefix_error (error, _("recovering %s: "), db->data_dir);
      goto fail;
    }
  g_message (_("Recovered to index %" PRIu64 " (WAL %" PRIu64 "..%" PRIu64 ")"),
             nc_store_visible_index (db->store), nc_wal_first_index (db->wal), nc_wal_last_index (db->wal));

  if (db->vt->start && !db->vt->start (db->mod, error))
    goto fail;

  const char *mode = nc_config_get (config, "NORNICDB_CLUSTER_MODE");
  db->core_schedules_snapshots = strcmp (mode, "standalone") == 0 || strcmp (mode, "ha_standby") == 0;
  if (db->core_schedules_snapshots)
    {
      GSource *src = g_timeout_source_new_seconds (1);
      g_source_set_callback (src, snapshot_tick_cb, db, NULL);
      db->snapshot_source = g_source_attach (src, db->main_context);
      g_source_unref (src);
    }
  return db;

fail:
  nc_db_close (db);
  return NULL;
}

void
nc_db_close (NcDb *db)
{
  if (db == NULL)
    return;
  if (db->snapshot_source)
    {
      GSource *src = g_main_context_find_source_by_id (db->main_context, db->snapshot_source);
      if (src)
        g_source_destroy (src);
    }
  /* Wait (bounded) for in-flight transactions and snapshot threads. */
  for (int i = 0; i < 3000 && g_atomic_int_get (&db->active_transactions) > 0; i++)
    g_usleep (10000);
  if (db->mod != NULL)
    {
      if (db->vt->stop)
        db->vt->stop (db->mod);
    }
  if (db->wal != NULL)
    {
      g_autoptr (GError) error = NULL;
      if (!nc_wal_flush (db->wal, &error))
        g_warning (_("Final WAL flush failed: %s"), error->message);
    }
  if (db->mod != NULL && db->vt->destroy)
    db->vt->destroy (db->mod);
  if (db->wal != NULL)
    nc_wal_close (db->wal);
  if (db->gmodule != NULL)
    g_module_close (db->gmodule);
  nc_store_free (db->store);
  nc_cypher_cache_free (db->cache);
  if (db->users)
    nc_users_free (db->users);
  nc_metrics_free (db->metrics);
  g_ptr_array_unref (db->admin_routes);
  if (db->lock_fd >= 0)
    close (db->lock_fd);
  g_main_context_unref (db->main_context);
  g_mutex_clear (&db->role_lock);
  g_mutex_clear (&db->visible_lock);
  g_cond_clear (&db->visible_cond);
  g_mutex_clear (&db->snapshot_lock);
  g_mutex_clear (&db->users_change_lock);
  g_cond_clear (&db->users_change_cond);
  g_free (db->write_block);
  g_free (db->node_id);
  g_free (db->module_data_dir);
  g_free (db->data_dir);
  g_free (db);
}

char *
nc_bookmark_format (guint64 index)
{
  return g_strdup_printf ("nornicdb:%" G_GUINT64_FORMAT, index);
}

gboolean
nc_bookmark_parse (const char *bookmark, guint64 *index)
{
  if (bookmark == NULL || !g_str_has_prefix (bookmark, "nornicdb:"))
    return FALSE;
  const char *num = bookmark + strlen ("nornicdb:");
  char *end = NULL;
  errno = 0;
  guint64 v = g_ascii_strtoull (num, &end, 10);
  if (errno != 0 || end == num || *end != '\0')
    return FALSE;
  *index = v;
  return TRUE;
}
