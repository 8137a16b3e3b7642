/* Internals shared by db.c (lifecycle, recovery, role, health, metrics),
 * transaction.c (transactions and results) and core-api.c (the table handed
 * to replication modules). Not for protocols or modules. */
#pragma once

#include <gmodule.h>

#include "db.h"
#include "wal.h"
#include "cypher/cypher.h"

G_BEGIN_DECLS

typedef struct {
  char *method;
  char *path;
  NornicHttpHandler handler;
} NcAdminRoute;

struct _NcDb {
  NcConfig *config;
  char *data_dir;
  char *node_id;
  GMainContext *main_context;
  int lock_fd;

  NcStore *store;
  NcWal *wal;
  NcMetrics *metrics;
  NcUsers *users;
  NcCypherCache *cache;

  /* replication module */
  GModule *gmodule;
  const NornicModuleInfo *module_info;
  const NornicModuleVTable *vt;
  NornicModule *mod;
  NornicCoreApi api;
  char *module_data_dir;

  /* role and write block (role_lock) */
  GMutex role_lock;
  NornicRoleInfo role;
  char *write_block;

  /* visibility waits (bookmarks) */
  GMutex visible_lock;
  GCond visible_cond;

  /* admin routes registered by the module (main thread only) */
  GPtrArray *admin_routes;

  /* snapshots */
  GMutex snapshot_lock;       /* one snapshot at a time */
  guint snapshot_source;
  gint64 last_snapshot_us;
  guint64 last_snapshot_index;
  gboolean core_schedules_snapshots;

  /* in-flight transactions, for clean shutdown */
  gint active_transactions;

  /* Odd while api_snapshot_install replaces the store's contents; bumped
   * twice per install, so a long reader (a backup) can tell that what it
   * read may mix the old and the new contents. */
  gint store_generation;

  /* User table changes (transaction.c): at most one is staged or in flight
   * at a time, from staging on the writer until it is applied locally, so
   * that each change starts from the table the previous one left. A flag
   * rather than a GMutex because an explicit transaction may end on
   * another thread than the one that staged its change. */
  GMutex users_change_lock;
  GCond users_change_cond;
  gboolean users_change_busy;
  /* Index of a user change whose commit this node saw fail (a deposed
   * leader): it may still be committed by the next leader, and then this
   * node applies it when it learns so (api_apply_committed). 0 = none.
   * Guarded by users_change_lock. */
  guint64 users_unsure_index;

  /* metrics */
  NcHistogram *query_latency;
  NcHistogram *fsync_latency;
  NcHistogram *commit_latency;
  gint64 started_us;
};

/* Makes `index` visible to readers and wakes bookmark waiters. */
void nc_db_publish (NcDb *db, guint64 index);
/* Waits until this node has made `index` visible, up to `timeout_ms`. */
gboolean nc_db_wait_visible (NcDb *db, guint64 index, gint64 timeout_ms, GError **error);
/* Sets or clears (NULL) the reason writes are refused. */
void nc_db_set_write_block (NcDb *db, const char *reason);
/* Replays WAL records (after the store's applied index) up to `limit`. */
gboolean nc_db_apply_log (NcDb *db, guint64 limit, GError **error);

/* Users (db.c): applies every NC_USERS_META_KEY effect of a committed
 * write-set at `index` to the user table (a failure to write users.json is
 * logged; the table in memory is replaced anyway). */
void nc_db_apply_users_effects (NcDb *db, const NcWriteSet *ws, guint64 index);
/* The user table as a write-set of one META effect, for snapshots. (transfer full) */
NcWriteSet *nc_db_users_snapshot_meta (NcDb *db);
/* NcSnapshotMetaFunc applying a snapshot's user table; user_data is the NcDb. */
void nc_db_snapshot_meta_cb (const NcEffect *effect, guint64 index, gpointer user_data);
/* For a user change this node submitted but saw fail (users_unsure_index):
 * once `index` (a committed index this node applied as writer) covers it,
 * applies the user table the log holds at that index. */
void nc_db_recheck_users (NcDb *db, guint64 index);
/* The log up to `index` (a write-set applied by replay, or a user change
 * this node committed and applied) is reflected in the user table: an
 * earlier unsure change needs no recheck any more. */
void nc_db_users_applied_through (NcDb *db, guint64 index);

/* core-api.c */
void nc_core_api_init (NcDb *db, NornicCoreApi *api);

G_END_DECLS
