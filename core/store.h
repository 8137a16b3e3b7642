/* The in-memory MVCC property graph store.
 *
 * Model
 * - Nodes and relationships have 64-bit ids, allocated by the store and
 *   never reused. Labels, relationship types and property keys are interned
 *   as tokens (three separate namespaces).
 * - Every node/relationship slot holds a newest-first chain of versions,
 *   each tagged with the log index (LSN) of the transaction that wrote it; a
 *   deletion is a tombstone version.
 * - Isolation: one write transaction at a time (nc_store_begin_write blocks
 *   until the writer lock is free); read transactions see a snapshot of
 *   every transaction committed and made durable up to the store's visible
 *   index at the time they began (snapshot isolation). The writer sees
 *   everything applied so far, including transactions that are committed but
 *   not yet durable (they are ordered before it and it is acknowledged only
 *   after them). Readers never block the writer for longer than a single
 *   record access: each accessor takes the store's internal lock briefly.
 * - A write transaction records every effect in a write-set
 *   (core/writeset.h) with all ids decided. Replicas and recovery apply a
 *   write-set with nc_store_apply_writeset(), never re-running Cypher.
 *
 * Commit protocol (driven by core/db.c):
 *   txn = nc_store_begin_write(store);
 *   ... mutations ...
 *   ws = nc_txn_writeset(txn);          // borrowed
 *   lsn = <module assigns index, appends to its log>;
 *   nc_txn_commit(txn, lsn);            // tags versions, frees the writer lock
 *   ... when durable/committed by the module:
 *   nc_store_publish(store, lsn);       // readers starting now see it
 * or nc_txn_rollback(txn) to undo every effect.
 *
 * Thread safety: every function may be called from any thread. A single
 * NcTxn must be used by one thread at a time.
 */
#pragma once

#include <glib.h>
#include "value.h"
#include "writeset.h"

G_BEGIN_DECLS

typedef guint64 NcLsn;
typedef gint64 NcNodeId;
typedef gint64 NcRelId;
typedef guint32 NcToken;

#define NC_TOKEN_NONE ((NcToken) G_MAXUINT32)

typedef enum {
  NC_TOKEN_LABEL,
  NC_TOKEN_REL_TYPE,
  NC_TOKEN_PROP_KEY,
} NcTokenKind;

typedef enum {
  NC_DIR_OUT = 1,   /* (n)-[r]->() */
  NC_DIR_IN = 2,    /* (n)<-[r]-() */
  NC_DIR_BOTH = 3,
} NcDirection;

typedef struct _NcStore NcStore;
typedef struct _NcTxn NcTxn;

#define NC_STORE_ERROR (nc_store_error_quark ())
GQuark nc_store_error_quark (void);

typedef enum {
  NC_STORE_ERROR_NOT_FOUND,            /* Neo.ClientError.Statement.EntityNotFound */
  NC_STORE_ERROR_STILL_HAS_RELS,       /* Neo.ClientError.Schema.ConstraintValidationFailed (delete node with rels) */
  NC_STORE_ERROR_CONSTRAINT,           /* Neo.ClientError.Schema.ConstraintValidationFailed */
  NC_STORE_ERROR_SCHEMA,               /* index/constraint already exists / missing: Neo.ClientError.Schema.* */
  NC_STORE_ERROR_READ_ONLY,            /* write call on a read transaction */
  NC_STORE_ERROR_BAD_WRITESET,         /* write-set does not apply (corrupt or out of order) */
} NcStoreError;

NcStore *nc_store_new (void);
void nc_store_free (NcStore *store);

/* ---- tokens ------------------------------------------------------------- */

/* Returns the token for `name`, creating it when `create` is TRUE (tokens are
 * not transactional: creating one is harmless), else NC_TOKEN_NONE. */
NcToken nc_store_token (NcStore *store, NcTokenKind kind, const char *name, gboolean create);
/* (transfer none) valid for the store's lifetime. */
const char *nc_store_token_name (NcStore *store, NcTokenKind kind, NcToken tok);
guint nc_store_token_count (NcStore *store, NcTokenKind kind);

/* ---- indexes and constraints (schema) ---------------------------------- */

typedef enum {
  NC_SCHEMA_INDEX,       /* range/equality property index on (label, key) */
  NC_SCHEMA_UNIQUE,      /* uniqueness constraint (implies an index) */
} NcSchemaKind;

typedef struct {
  NcSchemaKind kind;
  char *name;            /* user-given or generated, e.g. "index_Person_id" */
  NcToken label;
  NcToken key;
} NcSchemaEntry;

/* Schema changes are transactional effects too (they go into the
 * write-set). Creating an existing entry fails with NC_STORE_ERROR_SCHEMA
 * unless if_not_exists; a unique constraint over existing duplicates fails
 * with NC_STORE_ERROR_CONSTRAINT. */
gboolean nc_txn_create_schema (NcTxn *txn, NcSchemaKind kind, const char *name,
                               NcToken label, NcToken key, gboolean if_not_exists,
                               GError **error);
gboolean nc_txn_drop_schema (NcTxn *txn, const char *name, gboolean if_exists, GError **error);
/* (transfer full) array of NcSchemaEntry*, free with g_ptr_array_unref. */
GPtrArray *nc_store_list_schema (NcStore *store);
/* TRUE when an index (or unique constraint) covers (label, key). */
gboolean nc_store_has_index (NcStore *store, NcToken label, NcToken key);
void nc_schema_entry_free (NcSchemaEntry *e);

/* ---- transactions -------------------------------------------------------- */

NcTxn *nc_store_begin_read (NcStore *store);
/* Blocks until no other write transaction is open. */
NcTxn *nc_store_begin_write (NcStore *store);
gboolean nc_txn_is_write (NcTxn *txn);
/* The snapshot index a read transaction sees (G_MAXUINT64 for writers). */
NcLsn nc_txn_snapshot (NcTxn *txn);
/* (transfer none) the effects recorded so far. */
NcWriteSet *nc_txn_writeset (NcTxn *txn);
/* Tags the transaction's versions with `lsn`, releases the writer lock and
 * frees the transaction. `lsn` must be greater than every earlier commit. */
void nc_txn_commit (NcTxn *txn, NcLsn lsn);
/* Undoes every effect (write) or just ends the snapshot (read); frees. */
void nc_txn_rollback (NcTxn *txn);

/* Makes everything committed with an index <= lsn visible to new readers. */
void nc_store_publish (NcStore *store, NcLsn lsn);
NcLsn nc_store_visible_index (NcStore *store);
/* The highest index committed into the store (>= visible index). */
NcLsn nc_store_applied_index (NcStore *store);
/* Discards every version committed with an index > lsn (a leader that lost
 * its uncommitted tail). No write transaction may be open. */
void nc_store_truncate_after (NcStore *store, NcLsn lsn);

/* Applies a write-set recorded elsewhere as one committed transaction with
 * index `lsn` (replication and WAL replay). Takes the writer lock itself.
 * Does not publish. */
gboolean nc_store_apply_writeset (NcStore *store, const NcWriteSet *ws, NcLsn lsn, GError **error);

/* ---- reads (any transaction) ---------------------------------------------- */

gboolean nc_txn_node_exists (NcTxn *txn, NcNodeId id);
gboolean nc_txn_rel_exists (NcTxn *txn, NcRelId id);

/* Labels of a visible node; (transfer full) GArray of NcToken, or NULL when
 * the node is not visible. */
GArray *nc_txn_node_labels (NcTxn *txn, NcNodeId id);
gboolean nc_txn_node_has_label (NcTxn *txn, NcNodeId id, NcToken label);
/* Property value (transfer full); NULL value when absent or not visible. */
NcValue nc_txn_node_prop (NcTxn *txn, NcNodeId id, NcToken key);
/* All properties; (transfer full) map keyed by name, NULL if not visible. */
NcMap *nc_txn_node_props (NcTxn *txn, NcNodeId id);

gboolean nc_txn_rel_info (NcTxn *txn, NcRelId id, NcToken *type,
                          NcNodeId *start, NcNodeId *end);
NcValue nc_txn_rel_prop (NcTxn *txn, NcRelId id, NcToken key);
NcMap *nc_txn_rel_props (NcTxn *txn, NcRelId id);

/* Number of visible relationships of a node in a direction (any type when
 * type == NC_TOKEN_NONE). A self-loop counts once for NC_DIR_BOTH. */
gint64 nc_txn_node_degree (NcTxn *txn, NcNodeId id, NcDirection dir, NcToken type);

/* Entity materialisation for results: fills labels/type/props/endpoints.
 * (transfer full) NODE/REL value, or NULL value if not visible. */
NcValue nc_txn_materialise_node (NcTxn *txn, NcNodeId id);
NcValue nc_txn_materialise_rel (NcTxn *txn, NcRelId id);

/* Counts of visible entities (cheap for the writer and recent snapshots;
 * used for planning, /metrics and count(n) shortcuts). */
gint64 nc_txn_count_nodes (NcTxn *txn, NcToken label /* NC_TOKEN_NONE = all */);
gint64 nc_txn_count_rels (NcTxn *txn);

/* ---- cursors ------------------------------------------------------------ */

/* Cursors are pull-based and read a batch at a time under the store's lock,
 * so a long scan never blocks a writer. They see the transaction's snapshot.
 * A cursor must be freed before its transaction ends. */
typedef struct _NcCursor NcCursor;

/* All visible nodes, or those with `label`. */
NcCursor *nc_txn_scan_nodes (NcTxn *txn, NcToken label /* NC_TOKEN_NONE = all */);
/* All visible relationships, optionally of one type. */
NcCursor *nc_txn_scan_rels (NcTxn *txn, NcToken type /* NC_TOKEN_NONE = all */);
/* Index seek: nodes with `label` whose property `key` equals `value`. Falls
 * back to a label scan + filter when no index exists (results are the same). */
NcCursor *nc_txn_seek_nodes (NcTxn *txn, NcToken label, NcToken key, const NcValue *value);
/* Index range: lower/upper may be NULL (unbounded); inclusive flags apply.
 * Only values comparable with the bounds are returned (Cypher semantics). */
NcCursor *nc_txn_range_nodes (NcTxn *txn, NcToken label, NcToken key,
                              const NcValue *lower, gboolean lower_inclusive,
                              const NcValue *upper, gboolean upper_inclusive);
/* Relationships of node `id` in `dir`, optionally restricted to a set of
 * types (n_types == 0: any type). Yields rel ids; use nc_cursor_rel_other()
 * for the node at the other end. Self-loops are yielded once for BOTH. */
NcCursor *nc_txn_expand (NcTxn *txn, NcNodeId id, NcDirection dir,
                         const NcToken *types, guint n_types);

/* Next id, or FALSE at the end. */
gboolean nc_cursor_next (NcCursor *cur, gint64 *id);
/* For expand cursors, the other node of the last relationship returned and
 * whether the relationship was traversed outgoing from the expanded node. */
NcNodeId nc_cursor_rel_other (NcCursor *cur);
void nc_cursor_free (NcCursor *cur);

/* ---- writes (write transactions only; each is an effect in the write-set) */

/* `labels` may be NULL when n_labels == 0; `props` may be NULL. Property
 * values of null are skipped. Fails on a uniqueness constraint. */
NcNodeId nc_txn_create_node (NcTxn *txn, const NcToken *labels, guint n_labels,
                             const NcMap *props, GError **error);
/* Fails with NC_STORE_ERROR_STILL_HAS_RELS unless `detach` (which deletes the
 * relationships first, each as its own effect). Deleting a node deleted in
 * this transaction already is a no-op. */
gboolean nc_txn_delete_node (NcTxn *txn, NcNodeId id, gboolean detach, GError **error);
/* A null value removes the property. */
gboolean nc_txn_set_node_prop (NcTxn *txn, NcNodeId id, NcToken key,
                               const NcValue *value, GError **error);
/* Replaces (replace = TRUE, `SET n = map`) or merges (`SET n += map`) the
 * property map; null values in `props` remove keys. */
gboolean nc_txn_set_node_props (NcTxn *txn, NcNodeId id, const NcMap *props,
                                gboolean replace, GError **error);
gboolean nc_txn_add_label (NcTxn *txn, NcNodeId id, NcToken label, GError **error);
gboolean nc_txn_remove_label (NcTxn *txn, NcNodeId id, NcToken label, GError **error);

NcRelId nc_txn_create_rel (NcTxn *txn, NcToken type, NcNodeId start, NcNodeId end,
                           const NcMap *props, GError **error);
gboolean nc_txn_delete_rel (NcTxn *txn, NcRelId id, GError **error);
gboolean nc_txn_set_rel_prop (NcTxn *txn, NcRelId id, NcToken key,
                              const NcValue *value, GError **error);
gboolean nc_txn_set_rel_props (NcTxn *txn, NcRelId id, const NcMap *props,
                               gboolean replace, GError **error);

/* ---- snapshots -------------------------------------------------------- */

/* Writes every entity visible at the read transaction's snapshot, plus the
 * schema, as a sequence of write-set effects (the snapshot is "the
 * write-set that recreates the store"). See core/snapshot.h for the file
 * format; this is the store's half. `emit` is called per effect batch. */
typedef gboolean (*NcStoreEmitFunc) (const NcWriteSet *batch, gpointer user_data, GError **error);
gboolean nc_store_dump (NcTxn *read_txn, guint batch_effects, NcStoreEmitFunc emit,
                        gpointer user_data, GError **error);
/* Empties the store (before installing a snapshot). No write transaction
 * may be open; open read transactions are retired (nc_txn_check_store). */
void nc_store_clear (NcStore *store);
/* Sets the next ids to allocate (after loading a snapshot), so that ids are
 * never reused. */
void nc_store_get_next_ids (NcStore *store, NcNodeId *next_node, NcRelId *next_rel);
void nc_store_set_next_ids (NcStore *store, NcNodeId next_node, NcRelId next_rel);

/* ---- additions (appended) ---------------------------------------------- */

/* Converts an NC_STORE_ERROR in place into the NC_ERROR code a client sees
 * (NOT_FOUND -> ENTITY_NOT_FOUND, STILL_HAS_RELS/CONSTRAINT ->
 * CONSTRAINT_FAILED, SCHEMA -> SCHEMA_EXISTS or SCHEMA_MISSING, READ_ONLY ->
 * ACCESS_MODE, BAD_WRITESET -> UNKNOWN). Other domains are left alone. */
void nc_store_error_to_nc_error (GError **error);

/* Test hook: number of versions in an entity's chain (0 when none). */
guint nc_store_debug_chain_length (NcStore *store, gboolean rel, gint64 id);

/* Deletes a node the way Cypher's DELETE does in Neo4j: a node that still
 * has relationships is deleted anyway and the check is deferred, so that
 * `DELETE n, r` works whatever the order of the rows. The effect is recorded
 * now. nc_txn_check_deletes() must be called before the transaction is
 * committed (the engine does it at the end of each statement): it fails
 * with NC_STORE_ERROR_STILL_HAS_RELS when such a node still has visible
 * relationships, and the transaction must then be rolled back. A write-set
 * applied with nc_store_apply_writeset() is checked the same way at its end. */
gboolean nc_txn_delete_node_deferred (NcTxn *txn, NcNodeId id, GError **error);
gboolean nc_txn_check_deletes (NcTxn *txn, GError **error);

/* TRUE when the write transaction itself deleted this node/relationship (so
 * the engine can report "Node with id 3 has been deleted in this
 * transaction" rather than treating it as missing). FALSE for readers. */
gboolean nc_txn_deleted_in_txn (NcTxn *txn, gboolean rel, gint64 id);

/* For a relationship this write transaction deleted: its type and ends
 * (immutable, so still known; type() of a deleted relationship is legal
 * Cypher). FALSE when it was not deleted by this transaction. */
gboolean nc_txn_deleted_rel_info (NcTxn *txn, NcRelId id, NcToken *type, NcNodeId *start, NcNodeId *end);

/* The interned key string of a property-key token (transfer none, lives as
 * long as the store), NULL when there is no such token. Every stored
 * property map uses these strings as its keys. */
const NcString *nc_store_key_string (NcStore *store, NcToken key);
/* Property of a node (rel == FALSE) or relationship by its interned key
 * string (from nc_store_key_string): nc_txn_node_prop / nc_txn_rel_prop
 * without the token-table lookup. (transfer full); NULL value when absent.
 * *visible (may be NULL) tells whether the entity is visible at all. */
NcValue nc_txn_prop_interned (NcTxn *txn, gboolean rel, gint64 id, const NcString *key,
                              gboolean *visible);

/* nc_txn_expand restricted to relationships whose other node is visible
 * and has `label` (checked while the cursor fills its batch, where the
 * node's version has already been requested from memory). */
NcCursor *nc_txn_expand_to_label (NcTxn *txn, NcNodeId id, NcDirection dir, const NcToken *types,
                                  guint n_types, NcToken label);

/* Points an expand cursor (nc_txn_expand, nc_txn_expand_to_label) at node
 * `id`, keeping its direction, types and label, as if it had just been
 * created for `id` (an expand from every node of a scan allocated and freed
 * a cursor per node). FALSE, and nothing changed, for other cursors. */
gboolean nc_cursor_expand_restart (NcCursor *cur, NcNodeId id);

/* Restricts a label scan (nc_txn_scan_nodes with a label) or an expand
 * cursor, before its first nc_cursor_next (or right after
 * nc_cursor_expand_restart), to nodes (for an expand: other nodes) whose
 * property `key` lies in the range, with nc_txn_range_nodes' semantics
 * (only values comparable with the bounds). Checked while the cursor fills
 * its batch, where the node's version and property map are at hand: the
 * engine pushes `WHERE b.age > 60` here and keeps its own filter. FALSE,
 * and nothing changed, for other cursors. */
gboolean nc_cursor_filter_range (NcCursor *cur, NcToken key, const NcValue *lower, gboolean lower_inclusive,
                                 const NcValue *upper, gboolean upper_inclusive);

/* ---- replacing the store under running readers (appended) ------------ */

/* The store's generation: nc_store_clear and nc_store_begin_install start a
 * new one. A transaction belongs to the generation it began in; once the
 * store has moved on, its reads see nothing, its cursors end, and
 * nc_txn_check_store fails. */
guint64 nc_store_generation (NcStore *store);
/* nc_store_clear for a snapshot install: until nc_store_end_install, read
 * transactions that begin see nothing and fail nc_txn_check_store (the
 * store is empty or half loaded); write transactions (the load) work. Waits
 * for an open write transaction to end. */
void nc_store_begin_install (NcStore *store);
void nc_store_end_install (NcStore *store);
/* TRUE while the transaction's store is the one it began on. Otherwise
 * FALSE with NC_ERROR_UNAVAILABLE (Neo.TransientError.General.
 * DatabaseUnavailable: drivers retry it) saying the store was replaced by a
 * snapshot from the leader. The engine calls it when a result ends (and on
 * errors), so a client never gets a complete result that mixes two stores
 * or reads an empty one; nc_store_dump calls it too. */
gboolean nc_txn_check_store (NcTxn *txn, GError **error);

/* Label scans (nc_txn_scan_nodes with a label, nc_cursor_filter_range):
 * also read property `key` of every node yielded, in the batch that reads
 * the node (from the next batch on when called mid-scan). FALSE for other
 * cursors, when already fetching, or when the key has no token. */
gboolean nc_cursor_fetch_prop (NcCursor *cur, NcToken key);
/* The fetched property of the node the last nc_cursor_next returned
 * (borrowed until the next nc_cursor_next; a NULL value when the node has
 * no such property), or NULL when it was not fetched. The value is as of
 * the batch's read: a writer that changed it since must not use it. */
const NcValue *nc_cursor_prop (NcCursor *cur);

/* Points a cursor made by nc_txn_seek_nodes at another value, as if it
 * had just been made for it (the engine seeks once per input row of
 * `UNWIND $rows AS r MATCH (a:Person {id: r[0]})`: a cursor per row was a
 * fifth of a relationship load's CPU in malloc and free). FALSE, and
 * nothing changed, for other cursors. */
gboolean nc_cursor_seek_restart (NcCursor *cur, const NcValue *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcCursor, nc_cursor_free)

G_END_DECLS
