/* nornicdb/module.h — the replication module ABI.
 *
 * A replication module is a shared object (standalone.so, ha_standby.so,
 * raft.so, multi_region.so) that the daemon loads with GModule. It exports
 * one symbol:
 *
 *   const NornicModuleInfo *nornic_module_entry (void);
 *
 * The module never links against the daemon: everything it may ask of the
 * core goes through the NornicCoreApi table it is handed at creation, and
 * everything the core asks of it goes through NornicModuleVTable.
 *
 * Versioning: both tables start with `abi_major`, `abi_minor` and
 * `struct_size`. The major version changes when a field changes meaning or
 * is removed; fields are only ever appended, which raises the minor version.
 * A loader accepts a module with the same major and a struct at least as
 * large as the fields it uses; a module must check `struct_size` of the core
 * table before using fields appended after the version it was built for.
 *
 * Threads: every vtable function is called on the daemon's main loop
 * thread (the GMainContext passed in the core API), except `submit`, which
 * is called from a query worker thread while the store's writer lock is held
 * (so calls are serialised and in commit order). Completions may be invoked
 * from any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NORNIC_MODULE_ABI_MAJOR 1
#define NORNIC_MODULE_ABI_MINOR 2
#define NORNIC_MODULE_ENTRY_SYMBOL "nornic_module_entry"

typedef struct _NornicModule NornicModule; /* module-private instance */
typedef struct _NornicCore NornicCore;     /* core-private handle */
typedef struct _NcWriteSet NornicWriteSet; /* core/writeset.h */
typedef struct _NcConfig NornicConfig;     /* core/config.h */

/* ---- roles --------------------------------------------------------------- */

typedef enum {
  NORNIC_ROLE_STANDALONE = 0,
  NORNIC_ROLE_PRIMARY,
  NORNIC_ROLE_STANDBY,
  NORNIC_ROLE_LEADER,
  NORNIC_ROLE_FOLLOWER,
  NORNIC_ROLE_CANDIDATE,
  NORNIC_ROLE_LEARNER,     /* non-voting member catching up */
  NORNIC_ROLE_FENCED,      /* an old primary that learned of a newer epoch */
} NornicRole;

/* What the core needs to know to serve clients on this node. */
typedef struct {
  NornicRole role;
  gboolean accepts_writes;
  /* Bolt address (advertised host:port) of the node that accepts writes, or
   * NULL when unknown (e.g. during an election). */
  const char *writer_bolt_address;
  /* Term (Raft) or epoch (HA, region) of the current role. */
  guint64 term;
} NornicRoleInfo;

/* ---- routing --------------------------------------------------------------- */

typedef struct {
  guint ttl_seconds;
  GPtrArray *writers;  /* char* advertised Bolt "host:port" */
  GPtrArray *readers;
  GPtrArray *routers;
} NornicRoutingTable;

/* ---- durability ------------------------------------------------------------- */

/* Called once per submitted write-set when the module has made it as durable
 * as the mode promises (ok == TRUE), or has given up (error set: e.g. lost
 * leadership, fsync failure, standby timeout). `index` is the write-set's
 * log index. May be called from any thread. */
typedef void (*NornicCommitCb) (guint64 index, gboolean ok, const GError *error, gpointer user_data);

/* ---- HTTP admin endpoints ----------------------------------------------------- */

typedef struct {
  guint status;      /* HTTP status */
  char *json;        /* (transfer full) response body, JSON */
  /* -- appended (input, set by the core before the handler runs; the core
   * allocates this struct, so older modules simply ignore it) -- */
  const char *query; /* the request's query string without '?' ("status=open"), NULL when none */
} NornicHttpReply;

/* `body` is the request body (may be NULL/empty); return TRUE and fill
 * `reply`. Runs on the main loop thread. */
typedef gboolean (*NornicHttpHandler) (NornicModule *mod, const char *method, const char *path,
                                       const char *body, gsize body_len, NornicHttpReply *reply);

/* ---- metrics ----------------------------------------------------------------- */

typedef enum { NORNIC_METRIC_GAUGE, NORNIC_METRIC_COUNTER } NornicMetricType;

/* Called while /metrics renders; the module appends lines with
 * core->append_metric(). */
typedef void (*NornicMetricsFunc) (NornicModule *mod, GString *out);

/* ---- the core's services, handed to a module ------------------------------------ */

typedef struct {
  guint32 abi_major;
  guint32 abi_minor;
  guint32 struct_size;

  NornicCore *core;
  GMainContext *main_context;

  /* Configuration lookup by variable name, e.g. "NORNICDB_CLUSTER_HA_ROLE".
   * (transfer none) effective string value, NULL when unset with no default. */
  const char *(*config_get) (NornicCore *core, const char *name);
  gint64 (*config_get_int) (NornicCore *core, const char *name);
  /* Durations are returned in milliseconds. */
  gint64 (*config_get_duration_ms) (NornicCore *core, const char *name);
  gboolean (*config_get_bool) (NornicCore *core, const char *name);

  /* Logging with the module's domain. */
  void (*log) (NornicCore *core, GLogLevelFlags level, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

  /* -- the local log (WAL) -- */
  /* Appends `ws` with `index` and `term` to the WAL (index must be
   * last_index + 1, or the log is truncated first by wal_truncate_after).
   * Durable when `cb` is called (fdatasync, group-committed). */
  gboolean (*wal_append) (NornicCore *core, guint64 index, guint64 term,
                          const NornicWriteSet *ws, NornicCommitCb cb, gpointer user_data,
                          GError **error);
  /* Appends already-encoded write-set bytes (received from a peer). */
  gboolean (*wal_append_encoded) (NornicCore *core, guint64 index, guint64 term,
                                  GBytes *encoded, NornicCommitCb cb, gpointer user_data,
                                  GError **error);
  guint64 (*wal_last_index) (NornicCore *core);
  guint64 (*wal_last_term) (NornicCore *core);
  /* Term of the record at `index`; 0 when not in the log (compacted or beyond). */
  guint64 (*wal_term_at) (NornicCore *core, guint64 index);
  /* Reads up to max_records / max_bytes records starting at `from`:
   * (transfer full) array of GBytes holding {index u64, term u64, encoded
   * write-set}, NULL with error when `from` was compacted away. */
  GPtrArray *(*wal_read) (NornicCore *core, guint64 from, guint max_records, gsize max_bytes,
                          GError **error);
  /* Drops every record after `index` (a follower fixing a conflict). */
  gboolean (*wal_truncate_after) (NornicCore *core, guint64 index, GError **error);
  /* Durable small state: a key/value file in the module's data dir, written
   * atomically and fsynced before return (Raft term and vote, HA epoch). */
  gboolean (*state_save) (NornicCore *core, const char *key, const char *value, GError **error);
  /* (transfer full) NULL when unset. */
  char *(*state_load) (NornicCore *core, const char *key);

  /* -- the store -- */
  /* Applies the log up to and including `index` to the store and makes it
   * visible to readers (followers and standbys; leaders have already
   * applied their own writes and only publish). */
  gboolean (*apply_committed) (NornicCore *core, guint64 index, GError **error);
  /* Discards store versions above `index` (a leader that lost its tail). */
  void (*discard_uncommitted) (NornicCore *core, guint64 index);
  guint64 (*applied_index) (NornicCore *core);

  /* -- snapshots -- */
  /* Writes a snapshot of the store at the current visible index; returns its
   * path (transfer full) and index. */
  char *(*snapshot_create) (NornicCore *core, guint64 *index, guint64 *term, GError **error);
  /* Path of the newest snapshot, NULL when none. (transfer full) */
  char *(*snapshot_latest) (NornicCore *core, guint64 *index, guint64 *term);
  /* Replaces the store with the snapshot file at `path` (received from a
   * peer) and resets the log to start after its index. */
  gboolean (*snapshot_install) (NornicCore *core, const char *path, GError **error);
  /* Removes WAL segments wholly at or below `index` (after a snapshot). */
  void (*wal_compact) (NornicCore *core, guint64 index);

  /* -- roles, admin, metrics -- */
  void (*set_role) (NornicCore *core, const NornicRoleInfo *info);
  void (*register_http) (NornicCore *core, const char *method, const char *path,
                         NornicHttpHandler handler);
  /* Prometheus helper: appends "# HELP/# TYPE" once and the sample. `labels`
   * is "k=\"v\",..." or NULL. */
  void (*append_metric) (GString *out, const char *name, NornicMetricType type,
                         const char *help, const char *labels, double value);
  /* Data directory for module state (created). (transfer none) */
  const char *(*module_data_dir) (NornicCore *core);
  /* Writes fail with this reason until cleared (NULL): used on fsync
   * failure and by a fenced node. */
  void (*set_write_block) (NornicCore *core, const char *reason);

  /* -- appended in ABI 1.1 (check struct_size before use) -- */
  /* The WAL/wire encoding of `ws` (docs/writeset-format.md): lets a module
   * hand a write-set to its own log (Raft proposes the bytes). (transfer full) */
  GBytes *(*writeset_encode) (const NornicWriteSet *ws);
} NornicCoreApi;

/* ---- what a module provides ------------------------------------------------------ */

typedef struct {
  guint32 abi_major;
  guint32 abi_minor;
  guint32 struct_size;

  /* Instance lifecycle. `create` validates the module's configuration and
   * returns NULL with error on any bad value. */
  NornicModule *(*create) (const NornicCoreApi *api, GError **error);
  /* Starts networking/timers on the main context (after recovery). */
  gboolean (*start) (NornicModule *mod, GError **error);
  /* Stops timers and connections; pending commits complete with an error. */
  void (*stop) (NornicModule *mod);
  void (*destroy) (NornicModule *mod);

  /* Hands a write-set from the write transaction that holds the writer lock.
   * Returns the log index assigned (> every earlier one), or 0 with error
   * (e.g. Neo.ClientError.Cluster.NotALeader). `cb` fires once, when the
   * write-set is durable per the mode, or on failure. */
  guint64 (*submit) (NornicModule *mod, const NornicWriteSet *ws, NornicCommitCb cb,
                     gpointer user_data, GError **error);

  /* Routing table for ROUTE (transfer full, free with nornic_routing_table_free
   * semantics: unref the three arrays). */
  NornicRoutingTable *(*routing_table) (NornicModule *mod);

  /* The "replication" block of /health: a JSON object as text (transfer
   * full), and whether this node is healthy (FALSE: /health answers 503
   * with `reason`, transfer full). */
  char *(*health_json) (NornicModule *mod, gboolean *healthy, char **reason);

  /* Prometheus samples for the module. */
  NornicMetricsFunc metrics;

  /* A read at `index` (bookmark) may proceed on this node once the node has
   * applied it; modules can refuse (e.g. a fenced node). NULL = always. */
  gboolean (*can_serve_read) (NornicModule *mod, GError **error);

  /* Highest log index recovery may replay into the store at start-up
   * (entries above it may be uncommitted, e.g. a Raft log tail). Called
   * after create, before start. NULL = replay the whole log. */
  guint64 (*replay_limit) (NornicModule *mod);

  /* -- appended in ABI 1.2 (the core checks struct_size before use) -- */
  /* Called when a transaction begins (nc_db_begin), on the query worker
   * thread, before it takes its snapshot. `consistency` is the read
   * consistency the client asked for in the Bolt transaction metadata
   * ("consistency": "ONE", "LOCAL_QUORUM", ...), NULL when it asked for
   * none (the module then applies its configured default). The module may
   * block until this node's store is fresh enough for that level (e.g. a
   * ReadIndex round) or refuse with an error (e.g.
   * Neo.TransientError.Cluster.ReplicationUnavailable). NULL = accept all. */
  gboolean (*begin_transaction) (NornicModule *mod, gboolean write, const char *consistency, GError **error);
} NornicModuleVTable;

typedef struct {
  guint32 abi_major;
  guint32 abi_minor;
  guint32 struct_size;   /* sizeof (NornicModuleInfo) */
  const char *name;      /* "standalone", "ha_standby", ... */
  const char *version;
  const NornicModuleVTable *vtable;
} NornicModuleInfo;

typedef const NornicModuleInfo *(*NornicModuleEntryFunc) (void);

G_END_DECLS
