/* region.h — multi-region extensions of the Raft module (docs/multi-region.md).
 *
 * multi_region.so is raft.so's code built a second time with NC_MULTI_REGION
 * defined plus the region-*.c files. This header is the whole interface
 * between the two halves:
 *
 *  - the pure parts (no I/O, unit-tested in tests/unit/test-region-*.c):
 *    the hybrid logical clock, the region epoch record, the origin stamp a
 *    write-set carries across regions, and the conflict resolver that every
 *    member of a region runs over committed entries in log order;
 *  - the log pipeline the Raft glue drives (NcRegionLog): stamping local
 *    writes, resolving shipped ones before proposing them, following
 *    committed entries, picking what to ship; and the shipping cursor;
 *  - NcRegionNode: one member's protocol (messages 25-28, shipping, acks,
 *    promotion, epochs, writer address, lag, status, admin endpoint
 *    functions, metrics) over an injected NcRegionHost, so the Raft glue only
 *    forwards events (docs/multi-region.md lists the call sites).
 *
 * The resolver and the log pipeline are deterministic given the same inputs
 * in the same order, so every member of a region, replaying the same Raft
 * log, reaches the same version table, the same conflict records and the
 * same filtered effects.
 */
#pragma once

#include <glib.h>
#include "writeset.h"
#include "cluster-message.h"

G_BEGIN_DECLS

#define NC_REGION_ERROR (nc_region_error_quark ())
GQuark nc_region_error_quark (void);
typedef enum {
  NC_REGION_ERROR_INVALID,    /* malformed stamp, epoch record or state */
  NC_REGION_ERROR_NOT_FOUND,  /* unknown conflict id */
  NC_REGION_ERROR_STATE,      /* operation not allowed in the current state */
} NcRegionError;

/* ---- hybrid logical clock ------------------------------------------------
 *
 * A timestamp is one u64: the upper 48 bits are wall-clock milliseconds since
 * the Unix epoch, the lower 16 bits a logical counter. Timestamps issued by
 * one clock strictly increase, and a clock that observed a remote timestamp
 * issues only larger ones afterwards, so "w happened after v" implies
 * hlc(w) > hlc(v) across regions (Kulkarni et al., 2014).
 */
#define NC_HLC_LOGICAL_BITS 16
#define NC_HLC_LOGICAL_MASK ((G_GUINT64_CONSTANT (1) << NC_HLC_LOGICAL_BITS) - 1)
#define NC_HLC_PHYSICAL_MS(h) ((h) >> NC_HLC_LOGICAL_BITS)
#define NC_HLC_LOGICAL(h) ((h) & NC_HLC_LOGICAL_MASK)
#define NC_HLC_MAKE(ms, logical) (((guint64) (ms) << NC_HLC_LOGICAL_BITS) | ((guint64) (logical) & NC_HLC_LOGICAL_MASK))

typedef struct {
  guint64 last;  /* largest timestamp issued or observed */
} NcHlc;

/* `floor` is a persisted lower bound (e.g. the newest HLC in the log) so a
 * restarted node with a clock set back never reissues a timestamp. */
void nc_hlc_init (NcHlc *clock, guint64 floor);
/* A new timestamp for a local event at wall time `wall_ms`. */
guint64 nc_hlc_now (NcHlc *clock, guint64 wall_ms);
/* Merges a timestamp received from another region (on apply). */
void nc_hlc_observe (NcHlc *clock, guint64 remote, guint64 wall_ms);
/* Current wall time in ms, the default source for the two above. */
guint64 nc_hlc_wall_ms (void);
/* Total order used by last_write_wins: HLC first, then region id (byte-wise
 * strcmp), so two regions never tie. <0, 0, >0. */
int nc_hlc_compare (guint64 a, const char *region_a, guint64 b, const char *region_b);

/* ---- region epoch ----------------------------------------------------------
 *
 * Which region is primary, recorded with a rising epoch. It is replicated
 * in each region's Raft log as a META effect (key NC_REGION_META_EPOCH, value
 * "<epoch>:<region>") and persisted by every member on apply.
 */
#define NC_REGION_META_EPOCH "region.epoch"
#define NC_REGION_META_ORIGIN "region.origin"
#define NC_REGION_META_CONFLICT "region.conflict"
#define NC_REGION_META_RESOLVED "region.conflict.resolved"

typedef struct {
  guint64 epoch;         /* 0: never set */
  char *primary;         /* region id of the primary write region */
} NcRegionEpoch;

void nc_region_epoch_clear (NcRegionEpoch *e);
/* "<epoch>:<region>" (transfer full) */
char *nc_region_epoch_format (const NcRegionEpoch *e);
gboolean nc_region_epoch_parse (const char *text, NcRegionEpoch *out, GError **error);
/* Adopts `proposed` when it is newer than `current` (higher epoch). Returns
 * TRUE when `current` changed. An equal epoch naming a different primary is
 * an invariant violation and is refused with an error. */
gboolean nc_region_epoch_merge (NcRegionEpoch *current, const NcRegionEpoch *proposed,
                                gboolean *changed, GError **error);

/* ---- origin stamp -------------------------------------------------------------
 *
 * Every write-set that enters a region's log carries, as its FIRST effect, a
 * META effect NC_REGION_META_ORIGIN whose value is a map:
 *   region (string)  the region that wrote it (its primary at the time)
 *   index  (int)     its position in the origin region's Raft log
 *   epoch  (int)     the region epoch the origin knew when it committed it
 *   hlc    (int)     HLC stamped by the origin's leader on submit
 *   seen   (map)     region -> highest origin index of that region the origin
 *                    had applied when it wrote this (a version vector; it
 *                    decides whether two writes were concurrent)
 * A remote write-set is proposed in the receiving region with the same stamp,
 * so duplicates (e.g. resent after a leader change) are recognised by
 * (region, index) on apply.
 */
typedef struct {
  char *region;
  guint64 index;
  guint64 epoch;
  guint64 hlc;
  GHashTable *seen;  /* char* region -> guint64* index; may be NULL (= empty) */
} NcRegionOrigin;

void nc_region_origin_clear (NcRegionOrigin *o);
void nc_region_origin_copy (NcRegionOrigin *dst, const NcRegionOrigin *src);
guint64 nc_region_origin_seen (const NcRegionOrigin *o, const char *region);
void nc_region_origin_set_seen (NcRegionOrigin *o, const char *region, guint64 index);
/* A new write-set: the origin META effect followed by copies of the effects
 * of `ws` (any origin stamp already in `ws` is replaced). The write-set's
 * own hlc/origin header fields are set too. (transfer full) */
NcWriteSet *nc_region_stamp (const NcWriteSet *ws, const NcRegionOrigin *origin);
/* Reads the origin stamp; FALSE (no error) when `ws` carries none. FALSE
 * with error when it carries a malformed one. */
gboolean nc_region_origin_read (const NcWriteSet *ws, NcRegionOrigin *out, GError **error);

/* ---- versions, conflicts and the resolver -------------------------------------
 *
 * The version table remembers, for every "cell" (one property, one label or
 * the existence of one node or relationship), which write last set it:
 * region, origin index, epoch and HLC. Applying a write w to a cell whose
 * current version v came from another region:
 *   - w saw v (w.seen[v.region] >= v.index): ordinary update, no conflict;
 *   - otherwise the two are concurrent: a conflict. The winner is the larger
 *     of the two in the strategy's total order:
 *       last_write_wins: (hlc, region)
 *       manual:          (epoch, hlc, region)  (the newer primary's value)
 *     The cell keeps the winner; the loser's effect is not applied. Either
 *     way a conflict record is kept (status "resolved" for LWW, "open" for
 *     manual), nothing is dropped silently.
 * Because the winner is always the maximum of a total order that is
 * consistent with causality, every region ends with the same value no matter
 * in which order the writes arrived.
 */
typedef enum {
  NC_CONFLICT_LAST_WRITE_WINS = 0,
  NC_CONFLICT_MANUAL = 1,
} NcConflictStrategy;

gboolean nc_conflict_strategy_parse (const char *text, NcConflictStrategy *out, GError **error);
const char *nc_conflict_strategy_name (NcConflictStrategy s);

typedef struct {
  char *region;
  guint64 index;
  guint64 epoch;
  guint64 hlc;
} NcRegionVersion;

typedef enum {
  NC_CONFLICT_OPEN = 0,      /* manual: waiting for an operator */
  NC_CONFLICT_RESOLVED = 1,  /* LWW: decided automatically; manual: resolved */
} NcConflictStatus;

typedef struct {
  char *id;            /* deterministic: same id in every region */
  char *cell;          /* "node/<id>/prop/<key>", "node/<id>/label/<l>", "node/<id>" ... */
  char *entity;        /* "node" or "relationship" */
  gint64 entity_id;
  char *key;           /* property key, "label:<l>" or "exists" */
  NcConflictStrategy strategy;
  NcConflictStatus status;
  NcRegionVersion kept;
  NcValue kept_value;       /* the value the cell holds after resolution */
  NcRegionVersion rejected;
  NcValue rejected_value;   /* the losing write's value (null = removal) */
  char *resolution;    /* NULL, "kept", "rejected" or "value" once resolved by an operator */
} NcRegionConflict;

typedef struct _NcRegionResolver NcRegionResolver;

NcRegionResolver *nc_region_resolver_new (NcConflictStrategy strategy);
void nc_region_resolver_free (NcRegionResolver *r);
NcConflictStrategy nc_region_resolver_strategy (const NcRegionResolver *r);
/* The strategy new conflicts are decided by (a loaded state keeps the one it
 * was saved with until told otherwise). */
void nc_region_resolver_set_strategy (NcRegionResolver *r, NcConflictStrategy strategy);

/* Resolves one committed write-set (which must carry an origin stamp) in log
 * order: returns the effects to apply to the store (transfer full), with
 * losing effects removed, and appends new conflicts to the resolver. Sets
 * *duplicate (and returns an empty write-set) when (origin region, index)
 * was already applied. */
NcWriteSet *nc_region_resolve (NcRegionResolver *r, const NcWriteSet *stamped,
                               gboolean *duplicate, GError **error);
/* Highest origin index applied per region (the receiver's dedupe and resume
 * position). */
guint64 nc_region_resolver_applied (const NcRegionResolver *r, const char *region);
/* Fills o->seen with every region's applied origin index except o->region's
 * own (the version vector a new write of o->region carries). */
void nc_region_resolver_fill_seen (const NcRegionResolver *r, NcRegionOrigin *o);
/* The current value the resolver believes a cell holds (transfer none); NULL
 * when the cell has never been written through the resolver. */
const NcValue *nc_region_resolver_cell_value (const NcRegionResolver *r, const char *cell);
const NcRegionVersion *nc_region_resolver_cell_version (const NcRegionResolver *r, const char *cell);

/* Conflicts in detection order (transfer none). */
guint nc_region_resolver_n_conflicts (const NcRegionResolver *r);
const NcRegionConflict *nc_region_resolver_conflict (const NcRegionResolver *r, guint i);
const NcRegionConflict *nc_region_resolver_find_conflict (const NcRegionResolver *r, const char *id);
/* The write-set an operator's resolution turns into (to be stamped and
 * proposed like any local write): sets the cell to the chosen value. `choice`
 * is "kept", "rejected" or "value" (then `value` is used). It also carries a
 * META NC_REGION_META_RESOLVED effect naming the conflict, so every region
 * marks it resolved when it applies it. (transfer full) */
NcWriteSet *nc_region_resolution_writeset (const NcRegionResolver *r, const char *id,
                                           const char *choice, const NcValue *value,
                                           GError **error);

/* Conflicts as a JSON array text (transfer full); `only_open` filters. */
char *nc_region_resolver_conflicts_json (const NcRegionResolver *r, gboolean only_open);
/* Whole resolver state (versions, applied positions, conflicts) for
 * persistence next to a snapshot (transfer full), and back. */
GBytes *nc_region_resolver_save (const NcRegionResolver *r);
NcRegionResolver *nc_region_resolver_load (GBytes *data, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcRegionResolver, nc_region_resolver_free)

/* ---- cross-region catch-up from a snapshot ----------------------------------
 *
 * A region whose shipping position is older than the sender's compacted log
 * receives the sender's newest snapshot instead (RegionSnapshotChunk) and
 * turns it into one write-set: the difference between what its resolver
 * knows its store holds and the snapshot (docs/multi-region.md, "Catch-up
 * from a snapshot"). */
/* Largest HLC of a cell version written by `region`. */
guint64 nc_region_resolver_max_hlc (const NcRegionResolver *r, const char *region);
/* Every effect of a snapshot file (core/snapshot.h format) as one
 * write-set; *index = the snapshot's index. (transfer full) */
NcWriteSet *nc_region_snapshot_effects (const guint8 *data, gsize len, guint64 *index, GError **error);
/* Effects that turn the entities the resolver tracks into the full state
 * `target` (CREATE_NODE/CREATE_REL effects, as in a snapshot): deletes of
 * entities it lacks, creates of entities the resolver does not know, and
 * property/label changes for the others. Schema, id counters and META are
 * ignored. (transfer full) */
NcWriteSet *nc_region_resolver_diff (const NcRegionResolver *r, const NcWriteSet *target);
/* Appends a META NC_REGION_META_RESOLVED effect for every conflict an
 * operator resolved, so that a catch-up marks them resolved on the
 * receiver too (the resolving writes themselves are compacted away). */
void nc_region_resolver_append_resolutions (const NcRegionResolver *r, NcWriteSet *ws);

/* ---- a region's log pipeline -----------------------------------------------------------
 *
 * What the Raft glue does with region data, minus the I/O. Every member
 * feeds committed entries of its region's log, in order, to
 * nc_region_log_committed(); the leader additionally keeps a speculative
 * resolver that runs ahead over what it proposed, so that
 *   - a local write is stamped as having seen every entry before it in the
 *     log (it is, in log order), and
 *   - a shipped remote write-set is resolved against the state it will meet
 *     when it commits: the proposal carries the losing effects already
 *     removed (the store applies the log as it is), plus the original
 *     write-set as META NC_REGION_META_RAW so that every member re-runs the
 *     same resolution on commit and records the same conflicts.
 */
#define NC_REGION_META_RAW "region.raw"

typedef struct _NcRegionLog NcRegionLog;

NcRegionLog *nc_region_log_new (const char *self_region, NcConflictStrategy strategy);
void nc_region_log_free (NcRegionLog *l);
const char *nc_region_log_region (const NcRegionLog *l);
/* (transfer none) the epoch as committed in this region's log. */
const NcRegionEpoch *nc_region_log_epoch (const NcRegionLog *l);
gboolean nc_region_log_is_primary (const NcRegionLog *l);
/* The committed resolver (transfer none): conflicts, positions. */
NcRegionResolver *nc_region_log_resolver (const NcRegionLog *l);
/* Highest own-log index processed by nc_region_log_committed(). */
guint64 nc_region_log_committed_index (const NcRegionLog *l);

/* Leader. Call when leadership is gained, once every earlier entry was
 * committed and passed to nc_region_log_committed(): the speculative state
 * restarts from the committed one. */
void nc_region_log_leader_sync (NcRegionLog *l);
/* Leader: a local write (from submit) stamped for proposal (transfer full).
 * Refused with NC_REGION_ERROR_STATE when this region is not primary. */
NcWriteSet *nc_region_log_stamp_local (NcRegionLog *l, const NcWriteSet *ws, guint64 wall_ms, GError **error);
/* Leader: after proposing `entry` (from stamp_local or prepare_epoch) at
 * `index`, so the speculative state follows the log. */
void nc_region_log_proposed (NcRegionLog *l, guint64 index, const NcWriteSet *entry);
/* Leader: the proposal for a shipped write-set (transfer full), already
 * accounted in the speculative state. *duplicate: already applied (or
 * already proposed); returns NULL then, without error. */
NcWriteSet *nc_region_log_prepare_remote (NcRegionLog *l, const NcWriteSet *shipped, gboolean *duplicate,
                                          GError **error);
/* Leader: the proposal recording a new epoch (transfer full). */
NcWriteSet *nc_region_log_prepare_epoch (const NcRegionLog *l, const NcRegionEpoch *epoch);
/* Every member: the committed entry at `index` of this region's log.
 * `*epoch_changed` is set when it recorded a newer region epoch. */
gboolean nc_region_log_committed (NcRegionLog *l, guint64 index, const NcWriteSet *entry,
                                  gboolean *epoch_changed, GError **error);
/* Shipping: the write-set to send for the committed entry at `index` (its
 * origin index filled in), or NULL when the entry did not originate in
 * this region (remote writes, epoch and membership records).
 * (transfer full) */
NcWriteSet *nc_region_log_for_shipping (const NcRegionLog *l, guint64 index, const NcWriteSet *entry);

/* Leader: the proposal catching this region up to another region's
 * snapshot (transfer full): `origin` is the sender's stamp (region, index =
 * the snapshot's index, seen = what the snapshot includes of each region),
 * `target` its effects (nc_region_snapshot_effects). Refused with
 * NC_REGION_ERROR_STATE when this region has own writes the snapshot does
 * not include (they would be overwritten): they reach the sender by
 * ordinary shipping first, and its next snapshot includes them. */
NcWriteSet *nc_region_log_prepare_catchup (NcRegionLog *l, const NcRegionOrigin *origin, const NcWriteSet *target,
                                           const NcWriteSet *marks, gboolean *duplicate, GError **error);
/* (`marks`, may be NULL: the META NC_REGION_META_RESOLVED effects the
 * sender's stamp carries, applied after the difference.) */
/* Highest origin index of `region` this region has (leader: including what
 * it proposed). */
guint64 nc_region_log_have (const NcRegionLog *l, const char *region);
/* Restores the epoch persisted by an earlier run (entries before it may be
 * compacted away). */
void nc_region_log_restore_epoch (NcRegionLog *l, const NcRegionEpoch *e);
/* The committed state (committed index, HLC floor, epoch, resolver with its
 * versions, positions and conflicts) as bytes, saved next to each snapshot
 * and shipped with a snapshot to a follower (transfer full). */
GBytes *nc_region_log_save_state (const NcRegionLog *l);
/* Replaces the committed state with saved bytes; *committed_index (may be
 * NULL) is the last log index they cover, so the caller feeds
 * nc_region_log_committed() only the entries after it. A leader's
 * speculative state restarts from the loaded one. */
gboolean nc_region_log_load_state (NcRegionLog *l, GBytes *data, guint64 *committed_index, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcRegionLog, nc_region_log_free)

/* ---- persisted positions ---------------------------------------------------------
 *
 * Small durable state kept through NornicCoreApi.state_save/state_load:
 *   region.epoch            "<epoch>:<region>"
 *   region.shipped.<region> highest local index that region acknowledged
 *   region.hlc              HLC floor
 * The functions below only build and parse those key/value texts; the glue
 * does the saving.
 */
char *nc_region_position_key (const char *remote_region);  /* (transfer full) */
gboolean nc_region_parse_u64 (const char *text, guint64 *out, GError **error);

/* ---- remote regions ----------------------------------------------------------------- */

typedef struct {
  char *region;
  char *host;
  guint16 port;
} NcRegionPeer;

/* Parses NORNICDB_CLUSTER_REMOTE_REGIONS ("region:host:port,...");
 * (transfer full) array of NcRegionPeer*. Refuses `self_region` in the list
 * and duplicate regions. */
GPtrArray *nc_region_peers_parse (const char *text, const char *self_region, GError **error);
void nc_region_peer_free (NcRegionPeer *p);

/* ---- shipping cursor -------------------------------------------------------------------
 *
 * The sending side of one remote region: which of this region's log
 * entries it has acknowledged (persisted as region.shipped.<region>), what
 * is in flight, and where to send (the configured address, or the leader it
 * was redirected to). Positions are this region's Raft log indexes (= the
 * origin index of its own entries).
 */
typedef struct {
  char *region;
  char *configured;      /* "host:port" from REMOTE_REGIONS */
  char *target;          /* where the next RegionShip goes */
  guint64 acked;         /* highest index the remote committed (or covered) */
  guint64 sent;          /* highest index sent (>= acked) */
  gint64 sent_us;        /* monotonic time of the last send, 0 = none in flight */
  guint redirects;       /* consecutive redirects (bounded) */
  gboolean answered;     /* the current target answered since it was chosen */
  guint quick_resends;   /* first-contact resends to the current target (bounded) */
} NcRegionShipper;

#define NC_REGION_SHIP_MAX_REDIRECTS 5
/* The first RegionShip to an address not connected yet is dropped by the
 * transport while it dials (a new leader's shipper, a redirect). Until the
 * target answers once, an unanswered batch is resent after this long
 * instead of the full ack time-out, at most NC_REGION_SHIP_QUICK_RESENDS
 * times (then the ack time-out applies). Duplicates are dropped by origin
 * index at the receiver. */
#define NC_REGION_FIRST_CONTACT_US (G_USEC_PER_SEC / 2)
#define NC_REGION_SHIP_QUICK_RESENDS 3

NcRegionShipper *nc_region_shipper_new (const char *region, const char *address, guint64 acked);
void nc_region_shipper_free (NcRegionShipper *s);
/* The next range [*from, *to] to send, at most `window` entries past the
 * acknowledged position and not beyond `commit_index`. FALSE when there is
 * nothing to send now (caught up, or the window is full). */
gboolean nc_region_shipper_next (const NcRegionShipper *s, guint64 commit_index, guint window,
                                 guint64 *from, guint64 *to);
void nc_region_shipper_mark_sent (NcRegionShipper *s, guint64 to, gint64 now_us);
/* A RegionShipAck. Returns TRUE when `acked` advanced (persist it). A
 * refusal rewinds to what the receiver has; a refusal naming a leader
 * re-targets there (bounded by NC_REGION_SHIP_MAX_REDIRECTS, then back to
 * the configured address). */
gboolean nc_region_shipper_ack (NcRegionShipper *s, gboolean success, guint64 applied_index,
                                const char *leader_addr);
/* The connection dropped or an ack timed out: resend from `acked`, and
 * optionally go back to the configured address. */
void nc_region_shipper_rewind (NcRegionShipper *s, gboolean to_configured);
/* TRUE when the batch in flight went to a target that has not answered yet
 * and should be resent now (NC_REGION_FIRST_CONTACT_US); counts the resend. */
gboolean nc_region_shipper_quick_resend (NcRegionShipper *s, gint64 now_us);
guint64 nc_region_shipper_lag_entries (const NcRegionShipper *s, guint64 commit_index);

/* The receiving side: whether a RegionShip continues what this region has
 * (`have` = highest origin index of that region committed or covered). */
typedef enum {
  NC_REGION_RECEIVE_OK,   /* propose the entries with index > have */
  NC_REGION_RECEIVE_GAP,  /* prev_index > have: refuse, the sender rewinds */
} NcRegionReceive;
NcRegionReceive nc_region_receive_check (guint64 have, guint64 prev_index);

/* ---- read consistency ---------------------------------------------------------------- */

typedef enum {
  NC_READ_ONE = 0,
  NC_READ_LOCAL_ONE,
  NC_READ_QUORUM,
  NC_READ_LOCAL_QUORUM,
  NC_READ_ALL,
} NcReadConsistency;

/* Case-insensitive "ONE", "LOCAL_ONE", ... */
gboolean nc_read_consistency_parse (const char *text, NcReadConsistency *out, GError **error);
const char *nc_read_consistency_name (NcReadConsistency c);

/* What begin_transaction must do for a level (docs/multi-region.md,
 * "Read consistency levels"). */
typedef enum {
  NC_READ_ACTION_LOCAL,              /* serve from local applied state */
  NC_READ_ACTION_LOCAL_READ_INDEX,   /* ReadIndex in the local region, wait until applied */
  NC_READ_ACTION_NOT_PRIMARY,        /* refuse: NotALeader, naming the primary region's leader */
  NC_READ_ACTION_ALL_REGIONS,        /* ALL, in the primary region: on its leader, ReadIndex, then wait
                                      * until every remote region committed the commit index */
} NcReadAction;
NcReadAction nc_read_consistency_action (NcReadConsistency level, gboolean write, gboolean in_primary_region);

/* ---- a region member: messages, shipping, promotion -----------------------------------
 *
 * NcRegionNode runs a member's side of the multi-region protocol over an
 * injected host (the Raft glue in multi_region.so, or an in-memory fixture
 * in tests/unit/test-region-node.c). All calls on one thread.
 */
typedef struct {
  gpointer user_data;
  /* Proposes to the local Raft log: the index, or 0 with error. */
  guint64 (*propose) (gpointer user_data, const NcWriteSet *ws, GError **error);
  /* The committed entry at `index` (transfer full); NULL with error when
   * compacted away. */
  NcWriteSet *(*entry_at) (gpointer user_data, guint64 index, GError **error);
  guint64 (*commit_index) (gpointer user_data);
  /* The local region's leader: its cluster and Bolt addresses (NULL unknown). */
  const char *(*leader_cluster_address) (gpointer user_data);
  const char *(*leader_bolt_address) (gpointer user_data);
  /* Sends `msg` (transfer full) to a node of another region: `to` is either
   * the node id of a sender we are answering or a "host:port" address. */
  void (*send) (gpointer user_data, const char *to, NcClusterMessage *msg);
  gboolean (*state_save) (gpointer user_data, const char *key, const char *value, GError **error);
  char *(*state_load) (gpointer user_data, const char *key);
  gint64 (*now_us) (gpointer user_data);
  guint64 (*wall_ms) (gpointer user_data);
  /* The newest snapshot file of this region's store as bytes, and its
   * index (transfer full); NULL with error when there is none. May be NULL:
   * then a region behind the compacted log cannot be caught up. */
  GBytes *(*snapshot_read) (gpointer user_data, guint64 *index, GError **error);
} NcRegionHost;

typedef struct {
  const char *region;
  const char *remote_regions;      /* NORNICDB_CLUSTER_REMOTE_REGIONS */
  const char *cross_region_mode;   /* "async" | "semi_sync" */
  const char *conflict_strategy;
  const char *read_consistency;    /* default level */
  /* semi_sync: how long a committed local write waits for a remote region
   * before the node degrades to async (0: NC_REGION_SEMI_SYNC_TIMEOUT_US). */
  gint64 semi_sync_timeout_us;
} NcRegionNodeConfig;

#define NC_REGION_SEMI_SYNC_TIMEOUT_US (10 * G_USEC_PER_SEC)

#define NC_REGION_SHIP_WINDOW 64
#define NC_REGION_ACK_TIMEOUT_US (5 * G_USEC_PER_SEC)
#define NC_REGION_EPOCH_RESEND_US (G_USEC_PER_SEC)

typedef struct _NcRegionNode NcRegionNode;

/* Validates the configuration and loads persisted positions and epoch. */
NcRegionNode *nc_region_node_new (const NcRegionHost *host, const NcRegionNodeConfig *config, GError **error);
void nc_region_node_free (NcRegionNode *n);
NcRegionLog *nc_region_node_log (NcRegionNode *n);
void nc_region_node_set_leader (NcRegionNode *n, gboolean leader);
gboolean nc_region_node_is_leader (const NcRegionNode *n);
/* Leader, on submit: the stamped write-set to propose (transfer full). */
NcWriteSet *nc_region_node_stamp (NcRegionNode *n, const NcWriteSet *ws, GError **error);
void nc_region_node_proposed (NcRegionNode *n, guint64 index, const NcWriteSet *entry);
/* Every member, in log order. */
void nc_region_node_committed (NcRegionNode *n, guint64 index, const NcWriteSet *entry);
/* The state to save next to a snapshot (nc_region_log_save_state). */
GBytes *nc_region_node_save_state (NcRegionNode *n);
/* Loads a saved state (at start-up, or one a follower received from its
 * leader after installing a snapshot): persists its epoch; returns the log
 * index it covers in *committed_index. */
gboolean nc_region_node_load_state (NcRegionNode *n, GBytes *data, guint64 *committed_index, GError **error);
/* Periodic: ship, time out, notify epochs (leader only). */
void nc_region_node_tick (NcRegionNode *n);
/* A RegionShip/RegionShipAck/RegionEpoch/RegionEpochAck from another region. */
void nc_region_node_receive (NcRegionNode *n, const NcClusterMessage *msg);
/* semi_sync (docs/multi-region.md, "Writes"): may the client of the local
 * write at `index`, committed in this region since `committed_us`
 * (now_us clock), be acknowledged? TRUE at once in async mode, or when a
 * remote region acknowledged `index` as committed. Otherwise FALSE until
 * the timeout; then the node degrades: this and later writes are
 * acknowledged after the local quorum only (a warning, status and metric
 * say so) until a remote region has caught up with the commit index. */
gboolean nc_region_node_semi_sync_ready (NcRegionNode *n, guint64 index, gint64 committed_us);
gboolean nc_region_node_semi_sync (const NcRegionNode *n);
gboolean nc_region_node_semi_sync_degraded (const NcRegionNode *n);
/* Leader: has every remote region acknowledged this region's log up to
 * `index` as committed? If not, *lagging (transfer none) names the first
 * that has not and *lagging_at its acknowledged index. (Read level ALL.) */
gboolean nc_region_node_remotes_cover (NcRegionNode *n, guint64 index, const char **lagging, guint64 *lagging_at);
/* POST /admin/region/promote on the local leader: proposes the next epoch
 * naming this region; returns it, or 0 with error (not the leader). */
guint64 nc_region_node_promote (NcRegionNode *n, GError **error);
/* What the core is told (set_role): whether this node takes writes, and
 * the Bolt address of the node that does (transfer none, NULL unknown). */
gboolean nc_region_node_accepts_writes (const NcRegionNode *n);
const char *nc_region_node_writer_bolt (const NcRegionNode *n);
/* The "regions" block of /admin/cluster/status (transfer full JSON). */
char *nc_region_node_status_json (NcRegionNode *n);
/* Lag toward `region`: entries and seconds (FALSE: unknown region). */
gboolean nc_region_node_lag (NcRegionNode *n, const char *region, guint64 *entries, double *seconds);
/* The level a transaction runs at (`consistency` from the Bolt metadata,
 * NULL: the configured default) and what it requires (begin_transaction).
 * FALSE with NC_REGION_ERROR_INVALID for an unknown level name. */
gboolean nc_region_node_read_action (const NcRegionNode *n, const char *consistency, gboolean write,
                                     NcReadConsistency *level, NcReadAction *action, GError **error);

/* ---- admin endpoints and metrics (the glue registers and renders them) ----
 *
 * Each returns the HTTP status and fills *json (transfer full) with the body.
 */
/* POST /admin/region/promote */
/* {"error": code, "message": message[, "leader": leader]}, the body of
 * every region admin error. (transfer full) */
char *nc_region_error_json (const char *code, const char *message, const char *leader);
guint nc_region_http_promote (NcRegionNode *n, char **json);
/* GET /admin/region/conflicts; `query` may hold "status=open". */
guint nc_region_http_conflicts (NcRegionNode *n, const char *query, char **json);
/* POST /admin/region/conflicts/resolve with {"id", "choice", "value"}:
 * on success *ws (transfer full) is the write to commit as an ordinary local
 * write (and 200 is returned); otherwise an error status and body. */
guint nc_region_http_resolve (NcRegionNode *n, const char *body, gsize body_len, NcWriteSet **ws, char **json);
/* Prometheus lines: nornicdb_region_lag_seconds{region=}, _lag_entries,
 * nornicdb_region_epoch, nornicdb_region_is_primary,
 * nornicdb_region_conflicts{status=}. */
void nc_region_node_metrics (NcRegionNode *n, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcRegionNode, nc_region_node_free)

G_END_DECLS
