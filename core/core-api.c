/* The NornicCoreApi table handed to replication modules: the only way a
 * module reaches the core (WAL, store, snapshots, roles, admin routes,
 * metrics, durable state). */
#define G_LOG_DOMAIN "nornicdb-db"

#include "db-private.h"
#include "errors.h"
#include "snapshot.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#define DB(core) ((NcDb *) (core))

static const char *
api_config_get (NornicCore *core, const char *name)
{
  const char *v = nc_config_get (DB (core)->config, name);
  /* NORNICDB_CLUSTER_NODE_ID defaults to an id generated once and kept in
   * the data directory (db.c), so every module sees the same stable id. */
  if (v == NULL && strcmp (name, "NORNICDB_CLUSTER_NODE_ID") == 0)
    return DB (core)->node_id;
  return v;
}

static gint64
api_config_get_int (NornicCore *core, const char *name)
{
  return nc_config_get_int (DB (core)->config, name);
}

static gint64
api_config_get_duration_ms (NornicCore *core, const char *name)
{
  return nc_config_get_duration_ms (DB (core)->config, name);
}

static gboolean
api_config_get_bool (NornicCore *core, const char *name)
{
  return nc_config_get_bool (DB (core)->config, name);
}

static void
api_log (NornicCore *core, GLogLevelFlags level, const char *fmt, ...)
{
  NcDb *db = DB (core);
  g_autofree char *domain = g_strdup_printf ("nornicdb-%s", db->module_info ? db->module_info->name : "module");
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_log_structured_standard (domain, level, __FILE__, G_STRINGIFY (__LINE__), G_STRFUNC, "%s", msg);
}

/* ---- WAL ------------------------------------------------------------------- */

typedef struct {
  NcDb *db;
  NornicCommitCb cb;
  gpointer user_data;
} AppendCtx;

static void
append_done_cb (guint64 index, const GError *error, gpointer user_data)
{
  AppendCtx *ctx = user_data;
  if (error != NULL && error->domain == NC_WAL_ERROR && error->code == NC_WAL_ERROR_FAILED)
    nc_db_set_write_block (ctx->db, error->message);
  if (ctx->cb)
    ctx->cb (index, error == NULL, error, ctx->user_data);
  g_free (ctx);
}

static gboolean
api_wal_append_encoded (NornicCore *core, guint64 index, guint64 term, GBytes *encoded,
                        NornicCommitCb cb, gpointer user_data, GError **error)
{
  AppendCtx *ctx = g_new0 (AppendCtx, 1);
  ctx->db = DB (core);
  ctx->cb = cb;
  ctx->user_data = user_data;
  if (!nc_wal_append (DB (core)->wal, index, term, encoded, append_done_cb, ctx, error))
    {
      g_free (ctx);
      return FALSE;
    }
  return TRUE;
}

static gboolean
api_wal_append (NornicCore *core, guint64 index, guint64 term, const NornicWriteSet *ws,
                NornicCommitCb cb, gpointer user_data, GError **error)
{
  g_autoptr (GBytes) bytes = nc_writeset_encode (ws);
  return api_wal_append_encoded (core, index, term, bytes, cb, user_data, error);
}

static guint64
api_wal_last_index (NornicCore *core)
{
  return nc_wal_last_index (DB (core)->wal);
}

static guint64
api_wal_last_term (NornicCore *core)
{
  return nc_wal_last_term (DB (core)->wal);
}

static guint64
api_wal_term_at (NornicCore *core, guint64 index)
{
  return nc_wal_term_at (DB (core)->wal, index);
}

typedef struct {
  GPtrArray *out;
  guint max_records;
  gsize max_bytes;
  gsize bytes;
} ReadCtx;

static gboolean
read_record_cb (guint64 index, guint64 term, const guint8 *payload, gsize len, gpointer user_data)
{
  ReadCtx *rc = user_data;
  if (rc->out->len >= rc->max_records || (rc->out->len > 0 && rc->bytes + len > rc->max_bytes))
    return FALSE;
  guint8 *buf = g_malloc (16 + len);
  guint64 le_index = GUINT64_TO_LE (index), le_term = GUINT64_TO_LE (term);
  memcpy (buf, &le_index, 8);
  memcpy (buf + 8, &le_term, 8);
  memcpy (buf + 16, payload, len);
  g_ptr_array_add (rc->out, g_bytes_new_take (buf, 16 + len));
  rc->bytes += len;
  return TRUE;
}

static GPtrArray *
api_wal_read (NornicCore *core, guint64 from, guint max_records, gsize max_bytes, GError **error)
{
  ReadCtx rc = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref), max_records, max_bytes, 0 };
  if (!nc_wal_read (DB (core)->wal, from, read_record_cb, &rc, error))
    {
      g_ptr_array_unref (rc.out);
      return NULL;
    }
  return rc.out;
}

static gboolean
api_wal_truncate_after (NornicCore *core, guint64 index, GError **error)
{
  return nc_wal_truncate_after (DB (core)->wal, index, error);
}

static void
api_wal_compact (NornicCore *core, guint64 index)
{
  nc_wal_compact (DB (core)->wal, index);
}

/* ---- durable module state ---------------------------------------------------- */

static char *
state_path (NcDb *db, const char *key)
{
  g_autofree char *file = g_strconcat (key, ".state", NULL);
  return g_build_filename (db->module_data_dir, file, NULL);
}

static gboolean
api_state_save (NornicCore *core, const char *key, const char *value, GError **error)
{
  g_autofree char *path = state_path (DB (core), key);
  return g_file_set_contents_full (path, value, -1,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   0600, error);
}

static char *
api_state_load (NornicCore *core, const char *key)
{
  g_autofree char *path = state_path (DB (core), key);
  char *value = NULL;
  if (!g_file_get_contents (path, &value, NULL, NULL))
    return NULL;
  return value;
}

/* ---- store ----------------------------------------------------------------------- */

static gboolean
api_apply_committed (NornicCore *core, guint64 index, GError **error)
{
  NcDb *db = DB (core);
  guint64 applied = nc_store_applied_index (db->store);
  if (index <= applied)
    {
      /* A leader applied its own writes at submit time: only publish. */
      nc_db_recheck_users (db, index);
      if (index > nc_store_visible_index (db->store))
        nc_db_publish (db, index);
      return TRUE;
    }
  return nc_db_apply_log (db, index, error);
}

static void
api_discard_uncommitted (NornicCore *core, guint64 index)
{
  NcDb *db = DB (core);
  /* Wait for the writer so no transaction holds versions being dropped. */
  NcTxn *w = nc_store_begin_write (db->store);
  nc_txn_rollback (w);
  nc_store_truncate_after (db->store, index);
}

static guint64
api_applied_index (NornicCore *core)
{
  return nc_store_applied_index (DB (core)->store);
}

/* ---- snapshots --------------------------------------------------------------------- */

static char *
api_snapshot_create (NornicCore *core, guint64 *index, guint64 *term, GError **error)
{
  char *path = nc_db_snapshot_now (DB (core), error);
  if (path != NULL)
    g_free (nc_snapshot_find_latest (DB (core)->data_dir, index, term));
  return path;
}

static char *
api_snapshot_latest (NornicCore *core, guint64 *index, guint64 *term)
{
  return nc_snapshot_find_latest (DB (core)->data_dir, index, term);
}

static gboolean
api_snapshot_install (NornicCore *core, const char *path, GError **error)
{
  NcDb *db = DB (core);
  guint64 index = 0, term = 0;
  g_atomic_int_inc (&db->store_generation);
  /* Waits for an open writer. Client reads running on this node now read
   * nothing and end with a transient error (drivers retry them); reads that
   * begin until nc_store_end_install fail the same way, as the store is
   * empty or half loaded meanwhile. */
  nc_store_begin_install (db->store);
  gboolean loaded = nc_snapshot_load_meta (path, db->store, &index, &term, nc_db_snapshot_meta_cb, db, error);
  g_atomic_int_inc (&db->store_generation);
  if (!loaded)
    {
      /* The store holds part of a snapshot: keep reads failing (with a
       * transient error) rather than serve it, until an install succeeds. */
      g_message ("snapshot %s could not be installed; reads fail until the next install", path);
      return FALSE;
    }
  nc_store_end_install (db->store);
  if (!nc_wal_reset (db->wal, index + 1, error))
    return FALSE;
  nc_db_publish (db, index);
  /* Keep a copy as our own newest snapshot so a restart starts from it. */
  g_autoptr (GError) local = NULL;
  NcTxn *r = nc_store_begin_read (db->store);
  g_autoptr (NcWriteSet) users = nc_db_users_snapshot_meta (db);
  g_autofree char *own = nc_snapshot_write_extra (db->data_dir, r, index, term, users, &local);
  nc_txn_rollback (r);
  if (own == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

/* ---- roles, admin, metrics ------------------------------------------------------- */

static void
api_set_role (NornicCore *core, const NornicRoleInfo *info)
{
  NcDb *db = DB (core);
  g_mutex_lock (&db->role_lock);
  db->role = *info;
  /* Interned: readers on other threads may hold the pointer indefinitely. */
  db->role.writer_bolt_address = g_intern_string (info->writer_bolt_address);
  g_mutex_unlock (&db->role_lock);
}

static void
api_register_http (NornicCore *core, const char *method, const char *path, NornicHttpHandler handler)
{
  NcAdminRoute *r = g_new0 (NcAdminRoute, 1);
  r->method = g_strdup (method);
  r->path = g_strdup (path);
  r->handler = handler;
  g_ptr_array_add (DB (core)->admin_routes, r);
}

static void
api_append_metric (GString *out, const char *name, NornicMetricType type, const char *help,
                   const char *labels, double value)
{
  nc_metrics_append (out, name, type == NORNIC_METRIC_COUNTER ? "counter" : "gauge", help, labels, value);
}

static const char *
api_module_data_dir (NornicCore *core)
{
  return DB (core)->module_data_dir;
}

static void
api_set_write_block (NornicCore *core, const char *reason)
{
  nc_db_set_write_block (DB (core), reason);
}

static GBytes *
api_writeset_encode (const NornicWriteSet *ws)
{
  return nc_writeset_encode (ws);
}

void
nc_core_api_init (NcDb *db, NornicCoreApi *api)
{
  memset (api, 0, sizeof *api);
  api->abi_major = NORNIC_MODULE_ABI_MAJOR;
  api->abi_minor = NORNIC_MODULE_ABI_MINOR;
  api->struct_size = sizeof *api;
  api->core = (NornicCore *) db;
  api->main_context = db->main_context;
  api->config_get = api_config_get;
  api->config_get_int = api_config_get_int;
  api->config_get_duration_ms = api_config_get_duration_ms;
  api->config_get_bool = api_config_get_bool;
  api->log = api_log;
  api->wal_append = api_wal_append;
  api->wal_append_encoded = api_wal_append_encoded;
  api->wal_last_index = api_wal_last_index;
  api->wal_last_term = api_wal_last_term;
  api->wal_term_at = api_wal_term_at;
  api->wal_read = api_wal_read;
  api->wal_truncate_after = api_wal_truncate_after;
  api->state_save = api_state_save;
  api->state_load = api_state_load;
  api->apply_committed = api_apply_committed;
  api->discard_uncommitted = api_discard_uncommitted;
  api->applied_index = api_applied_index;
  api->snapshot_create = api_snapshot_create;
  api->snapshot_latest = api_snapshot_latest;
  api->snapshot_install = api_snapshot_install;
  api->wal_compact = api_wal_compact;
  api->set_role = api_set_role;
  api->register_http = api_register_http;
  api->append_metric = api_append_metric;
  api->module_data_dir = api_module_data_dir;
  api->set_write_block = api_set_write_block;
  api->writeset_encode = api_writeset_encode;
}
