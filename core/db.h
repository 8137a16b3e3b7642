/* NcDb: one database instance — the store, the WAL, snapshots, the loaded
 * replication module, users, metrics — and the transaction API that the
 * protocols (Bolt, HTTP) use.
 *
 * Threads: nc_db_open/nc_db_close run on the main thread. Transactions run
 * on query worker threads (never on the main loop): nc_db_begin may block on
 * the writer lock or a bookmark, nc_transaction_commit blocks until the
 * module reports the write durable.
 */
#pragma once

#include <glib.h>
#include "config.h"
#include "store.h"
#include "value.h"
#include "metrics.h"
#include "users.h"
#include "nornicdb/module.h"

G_BEGIN_DECLS

typedef struct _NcDb NcDb;
typedef struct _NcTransaction NcTransaction;
typedef struct _NcResult NcResult;

/* Opens the data directory (recovering snapshot + WAL), loads and starts the
 * configured module. (transfer full) */
NcDb *nc_db_open (NcConfig *config, GMainContext *main_context, GError **error);
/* Stops the module, waits for in-flight commits, flushes and closes. */
void nc_db_close (NcDb *db);

NcStore *nc_db_store (NcDb *db);
NcConfig *nc_db_config (NcDb *db);
NcMetrics *nc_db_metrics (NcDb *db);
NcUsers *nc_db_users (NcDb *db);
/* Data directory (transfer none). */
const char *nc_db_data_dir (NcDb *db);
/* Current role as reported by the module. (transfer none) valid until the
 * next role change on the main thread; copy what you keep. */
const NornicRoleInfo *nc_db_role (NcDb *db);
/* Reason writes are blocked (fsync failure, fenced), NULL when writable. (transfer full) */
char *nc_db_write_block_reason (NcDb *db);
/* (transfer full) NULL on error. */
NornicRoutingTable *nc_db_routing_table (NcDb *db);
void nc_routing_table_free (NornicRoutingTable *rt);
/* JSON of /health and whether healthy. (transfer full) */
char *nc_db_health_json (NcDb *db, gboolean *healthy);
/* Appends the database's and the module's Prometheus samples. */
void nc_db_render_metrics (NcDb *db, GString *out);
/* Writes a snapshot now; returns its path. (transfer full) */
char *nc_db_snapshot_now (NcDb *db, GError **error);

/* Admin endpoints registered by the module: looks one up (main thread). */
NornicHttpHandler nc_db_find_admin_handler (NcDb *db, const char *method, const char *path,
                                            NornicModule **module);
/* Names of every admin path any module could register (for 400/409 on a
 * documented path in a mode where it does not apply). */
gboolean nc_db_is_known_admin_path (const char *path);

/* ---- transactions ---------------------------------------------------------- */

typedef enum {
  NC_ACCESS_WRITE = 0,
  NC_ACCESS_READ = 1,
} NcAccessMode;

typedef struct {
  NcAccessMode mode;
  /* Bookmarks the client presents ("nornicdb:<index>"); the transaction
   * waits (bounded by the configured bookmark timeout) until this node has
   * applied the highest one. NULL-terminated, may be NULL. */
  const char *const *bookmarks;
  /* 0 = configured default. */
  gint64 timeout_ms;
  /* Free-form metadata from the client (Bolt tx_metadata); may carry
   * "consistency" for multi-region. (transfer none) may be NULL. */
  const NcMap *metadata;
  /* Authenticated user and roles, for access checks. */
  const char *user;
  gboolean may_write;   /* role allows writes */
  gboolean is_admin;    /* role allows user/schema administration */
} NcTxOptions;

/* Explicit transaction. A WRITE transaction takes the writer lock when it
 * begins; a READ transaction reads a snapshot and rejects writes with
 * Neo.ClientError.Statement.AccessMode. */
NcTransaction *nc_db_begin (NcDb *db, const NcTxOptions *opts, GError **error);

/* Runs one statement inside the transaction. The result streams: rows are
 * produced as nc_result_next() pulls them. Only one result may be open per
 * transaction at a time; opening the next one exhausts the previous one
 * (its rows are buffered) first. A failing statement marks the transaction
 * failed: it can then only be rolled back. */
NcResult *nc_transaction_run (NcTransaction *tx, const char *query, const NcMap *params,
                              GError **error);
/* Blocks until the write is durable per the mode. Returns the bookmark
 * (transfer full) — also for read-only transactions (the snapshot index). */
gboolean nc_transaction_commit (NcTransaction *tx, char **bookmark, GError **error);
void nc_transaction_rollback (NcTransaction *tx);
gboolean nc_transaction_is_failed (NcTransaction *tx);
/* Frees (rolling back if still open). */
void nc_transaction_free (NcTransaction *tx);

/* Auto-commit: parses the query, picks READ or WRITE by whether it updates,
 * runs it in its own transaction; the result commits when it is exhausted
 * (nc_result_next returns FALSE without error) or is discarded with
 * nc_result_finish(). */
NcResult *nc_db_run_autocommit (NcDb *db, const NcTxOptions *opts, const char *query,
                                const NcMap *params, GError **error);

/* ---- results ------------------------------------------------------------- */

typedef struct {
  gint64 nodes_created, nodes_deleted;
  gint64 relationships_created, relationships_deleted;
  gint64 properties_set;
  gint64 labels_added, labels_removed;
  gint64 indexes_added, indexes_removed;
  gint64 constraints_added, constraints_removed;
  gint64 system_updates;
} NcQueryStats;

typedef enum {
  NC_QUERY_READ = 0,        /* "r" */
  NC_QUERY_WRITE,           /* "w" */
  NC_QUERY_READ_WRITE,      /* "rw" */
  NC_QUERY_SCHEMA,          /* "s" */
} NcQueryType;

/* (transfer none) NULL-terminated column names. */
const char *const *nc_result_fields (NcResult *res);
guint nc_result_n_fields (NcResult *res);
/* Pulls the next row: TRUE with `row` pointing at n_fields values
 * (transfer none, valid until the next call). FALSE at the end, or with
 * error set when the statement fails. Node and relationship values in rows
 * are materialised (labels, type, properties, endpoints). */
gboolean nc_result_next (NcResult *res, const NcValue **row, GError **error);
/* Discards the remaining rows (still running the statement's writes to the
 * end) and, for auto-commit, commits. Returns FALSE with error when that
 * fails. `bookmark` (nullable) receives the commit bookmark for auto-commit. */
gboolean nc_result_finish (NcResult *res, char **bookmark, GError **error);
/* After the end (or finish): statistics and query type. */
const NcQueryStats *nc_result_stats (NcResult *res);
NcQueryType nc_result_query_type (NcResult *res);
/* For EXPLAIN/PROFILE: the plan as a map in Neo4j's shape (operatorType,
 * identifiers, arguments, children, rows/dbHits for PROFILE), NULL value
 * otherwise. (transfer full) */
NcValue nc_result_plan (NcResult *res);
/* Notifications (list of maps: code, title, description, severity), NULL
 * value when none. (transfer full) */
NcValue nc_result_notifications (NcResult *res);
/* Bookmark after an auto-commit result finished. (transfer none) */
const char *nc_result_bookmark (NcResult *res);
void nc_result_free (NcResult *res);

/* Bookmark helpers: "nornicdb:<index>". */
char *nc_bookmark_format (guint64 index);
gboolean nc_bookmark_parse (const char *bookmark, guint64 *index);

/* ---- users (appended) -------------------------------------------------------
 * User management as replicated state (docs/architecture.md, "Users"): each
 * call validates on this node (same checks and messages as nc_users_*), then
 * commits the whole new user table as a write transaction through the
 * replication module and returns once that commit is acknowledged and the
 * table applied here. On a node that does not accept writes it fails like a
 * graph write (Neo.ClientError.Cluster.NotALeader, or the write-block
 * reason). Blocks: call from a worker thread, never the main loop. */
gboolean nc_db_create_user (NcDb *db, const char *user, const char *password, NcUserRole role,
                            gboolean if_not_exists, GError **error);
gboolean nc_db_drop_user (NcDb *db, const char *user, gboolean if_exists, GError **error);
gboolean nc_db_set_user_password (NcDb *db, const char *user, const char *password, GError **error);
gboolean nc_db_set_user_role (NcDb *db, const char *user, NcUserRole role, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcTransaction, nc_transaction_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcResult, nc_result_free)

G_END_DECLS
