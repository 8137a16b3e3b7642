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

/* core-api.c */
void nc_core_api_init (NcDb *db, NornicCoreApi *api);

G_END_DECLS
