/* The Raft consensus core: a pure state machine.
 *
 * No I/O, no clock, no threads, no randomness other than the seeded
 * election-timeout randomiser. It receives ticks, messages and "persisted up
 * to" events, and hands back, through nc_raft_ready(), what the caller (the
 * "glue": raft.so in the daemon, tests/sim/ in tests) must do: persist the
 * hard state, append entries, install a snapshot, send messages, apply
 * committed entries. The same code therefore runs under the GLib main loop
 * and under the deterministic simulator.
 *
 * The Ready contract (see docs/raft.md for the whole story):
 *   1. If rd.has_hard_state, persist term/vote (and commit) durably BEFORE
 *      sending any message of this Ready. A vote or a new term must never be
 *      visible to a peer before it is on disk.
 *   2. Truncate the log after rd.truncate_after (when rd.truncate), then
 *      append rd.entries. Durability may come later: report it with
 *      nc_raft_persisted(); the core only acknowledges entries to a leader,
 *      counts them for the leader's own quorum, or applies them, once they
 *      are reported durable.
 *   3. If rd.snapshot is set, install the snapshot whose data arrived with
 *      the InstallSnapshot chunks, reset the log to start after its index,
 *      then report nc_raft_persisted(snapshot index, snapshot term).
 *   4. Send rd.messages (each to msg->to).
 *   5. Apply rd.committed in order; serve rd.read_states once the state
 *      machine has applied their index.
 *   6. Call nc_raft_advance(). No other nc_raft_* input except
 *      nc_raft_hard_state_persisted() may be called between nc_raft_ready()
 *      and nc_raft_advance().
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NC_RAFT_ERROR (nc_raft_error_quark ())
GQuark nc_raft_error_quark (void);
typedef enum {
  NC_RAFT_ERROR_NOT_LEADER,          /* message names the leader when known */
  NC_RAFT_ERROR_TRANSFERRING,        /* leadership transfer in progress */
  NC_RAFT_ERROR_CONF_CHANGE_PENDING, /* one membership change at a time */
  NC_RAFT_ERROR_NOT_READY,           /* leader has not committed an entry of its term yet */
  NC_RAFT_ERROR_INVALID,             /* bad configuration or argument */
  NC_RAFT_ERROR_STORAGE,             /* restored state disagrees with the storage */
} NcRaftError;

typedef enum {
  NC_RAFT_FOLLOWER,
  NC_RAFT_PRE_CANDIDATE,
  NC_RAFT_CANDIDATE,
  NC_RAFT_LEADER,
} NcRaftRole;
const char *nc_raft_role_name (NcRaftRole role);

/* Wire type codes. 1-4 are the clustering guide's; 5-12 belong to hot
 * standby and are never reused here. */
typedef enum {
  NC_RAFT_MSG_VOTE_REQUEST = 1,
  NC_RAFT_MSG_VOTE_RESPONSE = 2,
  NC_RAFT_MSG_APPEND_ENTRIES = 3,
  NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE = 4,
  NC_RAFT_MSG_PRE_VOTE_REQUEST = 13,
  NC_RAFT_MSG_PRE_VOTE_RESPONSE = 14,
  NC_RAFT_MSG_INSTALL_SNAPSHOT = 15,
  NC_RAFT_MSG_INSTALL_SNAPSHOT_RESPONSE = 16,
  NC_RAFT_MSG_TIMEOUT_NOW = 17,
  NC_RAFT_MSG_READ_INDEX_REQUEST = 18,
  NC_RAFT_MSG_READ_INDEX_RESPONSE = 19,
} NcRaftMsgType;
const char *nc_raft_msg_type_name (NcRaftMsgType type);

typedef enum {
  NC_RAFT_ENTRY_NORMAL = 0,
  NC_RAFT_ENTRY_NOOP = 1,        /* appended by every new leader */
  NC_RAFT_ENTRY_CONF_CHANGE = 2, /* data = nc_raft_membership_encode() of the NEW membership */
} NcRaftEntryType;

/* A log entry. Refcounted so the same entry can sit in the core, a Ready and
 * several messages without copies. `data` may be NULL (no-op). */
typedef struct {
  gint ref_count;
  guint64 index;
  guint64 term;
  NcRaftEntryType type;
  GBytes *data;
} NcRaftEntry;
NcRaftEntry *nc_raft_entry_new (guint64 index, guint64 term, NcRaftEntryType type,
                                GBytes *data /* nullable, referenced */);
NcRaftEntry *nc_raft_entry_ref (NcRaftEntry *entry);
void nc_raft_entry_unref (NcRaftEntry *entry);
gsize nc_raft_entry_size (const NcRaftEntry *entry); /* bytes counted against max_bytes */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcRaftEntry, nc_raft_entry_unref)

/* ---- Membership: voters and learners, addresses are opaque strings ---- */

typedef struct _NcRaftMembership NcRaftMembership;
NcRaftMembership *nc_raft_membership_new (void);
NcRaftMembership *nc_raft_membership_copy (const NcRaftMembership *m);
void nc_raft_membership_free (NcRaftMembership *m);
/* Adds or replaces `id`. */
void nc_raft_membership_set (NcRaftMembership *m, const char *id, const char *address, gboolean voter);
gboolean nc_raft_membership_remove (NcRaftMembership *m, const char *id);
guint nc_raft_membership_size (const NcRaftMembership *m);
/* (transfer none) id/address of the i-th server, in id order. */
const char *nc_raft_membership_id (const NcRaftMembership *m, guint i);
const char *nc_raft_membership_address (const NcRaftMembership *m, guint i);
gboolean nc_raft_membership_is_voter_at (const NcRaftMembership *m, guint i);
gboolean nc_raft_membership_contains (const NcRaftMembership *m, const char *id);
gboolean nc_raft_membership_is_voter (const NcRaftMembership *m, const char *id);
guint nc_raft_membership_n_voters (const NcRaftMembership *m);
const char *nc_raft_membership_address_of (const NcRaftMembership *m, const char *id);
gboolean nc_raft_membership_equal (const NcRaftMembership *a, const NcRaftMembership *b);
/* Compact binary form (stable, versioned) carried by conf-change entries. */
GBytes *nc_raft_membership_encode (const NcRaftMembership *m);
NcRaftMembership *nc_raft_membership_decode (GBytes *bytes, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcRaftMembership, nc_raft_membership_free)

/* ---- Messages ---- */

typedef struct {
  NcRaftMsgType type;
  guint64 term;
  char *from;
  char *to;
  /* AppendEntries: index/term of the entry before `entries`.
   * VoteRequest/PreVoteRequest: the candidate's last index/term.
   * AppendEntriesResponse: the acknowledged (durable, matching) index on
   *   success, the rejected prev index on reject.
   * InstallSnapshotResponse: the installed snapshot index.
   * ReadIndexResponse: the read index. */
  guint64 log_index;
  guint64 log_term;
  GPtrArray *entries;   /* NcRaftEntry*, may be NULL or empty */
  guint64 commit;
  gboolean reject;
  /* On a rejected AppendEntries: the follower's hint for fast backtracking:
   * hint_index is the largest index whose term is <= the leader's prev term
   * (or its last index when its log is shorter), hint_term its term. */
  guint64 hint_index;
  guint64 hint_term;
  /* AppendEntries with no log check: asserts leadership and carries a commit
   * index the follower is known to have (min(commit, match)). */
  gboolean heartbeat;
  /* VoteRequest sent because of TimeoutNow: bypasses the leader lease. */
  gboolean transfer;
  /* InstallSnapshot metadata (the core fills these; the glue fills the chunk). */
  guint64 snapshot_index;
  guint64 snapshot_term;
  NcRaftMembership *snapshot_membership;
  guint64 chunk_offset;
  GBytes *chunk_data;
  gboolean chunk_done;
  /* ReadIndex request/response and heartbeats confirming one. */
  GBytes *context;
  /* VoteRequest/PreVoteRequest: the candidate has never known a formed
   * cluster (NC_RAFT_HISTORY_NEW: the bootstrap node before its first win).
   * Only such candidates get votes from nodes that are not FORMED. */
  gboolean genesis;
} NcRaftMsg;
NcRaftMsg *nc_raft_msg_new (NcRaftMsgType type);
NcRaftMsg *nc_raft_msg_copy (const NcRaftMsg *msg);
void nc_raft_msg_free (NcRaftMsg *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcRaftMsg, nc_raft_msg_free)

/* ---- Storage: the log as the glue has it ---- *
 * The log contains every entry the glue appended from a Ready (durable or
 * not yet), with Ready truncations applied, minus what nc_raft_compact()
 * allowed it to drop. The core asks for terms and entries instead of keeping
 * a copy of the log. All functions are called only from inside nc_raft_*. */
typedef struct {
  gsize struct_size;  /* sizeof (NcRaftStorage); fields are only appended */
  /* Index of the last entry; the snapshot index when the log is empty. */
  guint64 (*last_index) (gpointer user_data);
  /* Term of the entry at `index`; FALSE if the storage does not hold it. */
  gboolean (*term_at) (gpointer user_data, guint64 index, guint64 *term);
  /* Entries [from, ...] in order: at most max_count and about max_bytes (at
   * least one entry if `from` is held). (transfer full) NcRaftEntry* array,
   * NULL if `from` is not held. */
  GPtrArray *(*entries) (gpointer user_data, guint64 from, guint max_count, gsize max_bytes);
} NcRaftStorage;

typedef struct {
  gsize struct_size;        /* sizeof (NcRaftConfig) */
  const char *id;           /* this node's id */
  guint election_ticks_min; /* randomised timeout in [min, max] ticks */
  guint election_ticks_max;
  guint heartbeat_ticks;    /* < election_ticks_min / 2 */
  guint max_entries_per_append;
  gsize max_bytes_per_append;
  guint max_inflight;       /* pipelined AppendEntries per follower (0 = 64) */
  gboolean pre_vote;
  gboolean check_quorum;
  guint64 seed;
  const NcRaftStorage *storage;
  gpointer storage_data;
} NcRaftConfig;

/* What a node knows about the cluster's history; persisted with term/vote
 * (docs/raft.md, "A member that lost its data"). Only ever moves forward. */
typedef enum {
  /* Never accepted anything from a leader and never led: a fresh node, a
   * node whose data dir was wiped, or the bootstrap node before its first
   * win. Campaigns as a genesis candidate; grants (pre)votes only to
   * genesis candidates. */
  NC_RAFT_HISTORY_NEW = 0,
  /* Has accepted AppendEntries/InstallSnapshot from a leader but does not
   * yet hold that leader's commit index: still votes only for genesis
   * candidates, no longer campaigns as one. */
  NC_RAFT_HISTORY_JOINING = 1,
  /* Has led, or holds durably a leader's commit index whose entry is of
   * that leader's term: votes normally. */
  NC_RAFT_HISTORY_FORMED = 2,
} NcRaftHistory;
const char *nc_raft_history_name (NcRaftHistory history);

/* What the node restores from disk at start. */
typedef struct {
  guint64 term;
  const char *vote;          /* nullable */
  guint64 commit;
  guint64 applied;           /* the state machine already reflects this index (>= snapshot_index) */
  guint64 snapshot_index;    /* 0 when there is no snapshot */
  guint64 snapshot_term;
  guint64 last_index;        /* cross-checked against the storage */
  guint64 last_term;
  /* Membership as of snapshot_index (or the bootstrap membership). Later
   * conf-change entries are found by scanning the storage. (transfer none) */
  const NcRaftMembership *membership;
  NcRaftHistory history;     /* as persisted with term/vote; NEW when nothing is on disk */
} NcRaftPersistent;

typedef struct {
  guint64 term;
  char *vote; /* NULL when none */
  guint64 commit;
  NcRaftHistory history; /* persist with term/vote; a change sets has_hard_state */
} NcRaftHardState;

typedef struct {
  GBytes *context;
  guint64 index;   /* serve the read once applied >= index */
} NcRaftReadState;

typedef struct {
  guint64 index;
  guint64 term;
  NcRaftMembership *membership;
} NcRaftSnapshotMeta;

typedef struct {
  gboolean has_hard_state;
  NcRaftHardState hard_state;
  gboolean has_soft_state;  /* role, leader or term changed */
  NcRaftRole role;
  char *leader;             /* NULL when unknown */
  guint64 term;
  gboolean truncate;        /* drop log entries after truncate_after first */
  guint64 truncate_after;
  GPtrArray *entries;       /* NcRaftEntry* to append */
  NcRaftSnapshotMeta *snapshot; /* to install, or NULL */
  GPtrArray *messages;      /* NcRaftMsg* */
  GPtrArray *committed;     /* NcRaftEntry* to apply, in index order */
  GPtrArray *read_states;   /* NcRaftReadState* */
} NcRaftReady;
void nc_raft_ready_clear (NcRaftReady *rd);

typedef enum {
  NC_RAFT_CONF_ADD_VOTER,
  NC_RAFT_CONF_ADD_LEARNER,
  NC_RAFT_CONF_PROMOTE,
  NC_RAFT_CONF_REMOVE,
} NcRaftConfChangeType;

typedef struct {
  NcRaftConfChangeType type;
  const char *id;
  const char *address; /* add only */
} NcRaftConfChange;

typedef struct _NcRaft NcRaft;

NcRaft *nc_raft_new (const NcRaftConfig *cfg, const NcRaftPersistent *restored, GError **error);
void nc_raft_free (NcRaft *raft);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcRaft, nc_raft_free)

/* ---- Inputs ---- */
void nc_raft_tick (NcRaft *raft);
/* Messages addressed to another node, or without from/to, are ignored.
 * Messages from non-members are accepted: a joining node learns its
 * membership from the leader. */
void nc_raft_step (NcRaft *raft, const NcRaftMsg *msg);
/* Leader only. Several proposals before the next Ready are batched into one
 * AppendEntries per follower. On success *index_out is the entry's index;
 * the caller learns the outcome when an entry with that index (and the
 * term of nc_raft_term() at proposal time) is committed. */
gboolean nc_raft_propose (NcRaft *raft, GBytes *data, guint64 *index_out, GError **error);
gboolean nc_raft_propose_conf_change (NcRaft *raft, const NcRaftConfChange *cc,
                                      guint64 *index_out, GError **error);
/* The log is durable up to `index` (whose entry has `term`). Stale reports
 * (for entries since truncated) are ignored. */
void nc_raft_persisted (NcRaft *raft, guint64 index, guint64 term);
/* The hard state (term, vote) in a Ready is durable. */
void nc_raft_hard_state_persisted (NcRaft *raft, guint64 term, const char *vote);
/* Leader: the glue finished (or gave up) streaming a snapshot to `peer`. */
void nc_raft_snapshot_done (NcRaft *raft, const char *peer, gboolean success);
/* The glue wrote a snapshot of the state machine at `index` (<= applied):
 * the core no longer asks the storage for entries <= index. */
gboolean nc_raft_compact (NcRaft *raft, guint64 index, GError **error);
/* Leader: catch `target` up and hand over (target NULL: the most up-to-date
 * voter). Proposals fail with TRANSFERRING until it completes or times out
 * (one election timeout). */
gboolean nc_raft_transfer_leadership (NcRaft *raft, const char *target, GError **error);
/* Leader: transfer leadership to the most up-to-date voter. */
gboolean nc_raft_step_down (NcRaft *raft, GError **error);
/* Linearizable read: a NcRaftReadState with `context` appears in a later
 * Ready once leadership at the read index is confirmed by a quorum. On a
 * follower the request is forwarded to the leader. */
gboolean nc_raft_read_index (NcRaft *raft, GBytes *context, GError **error);

/* ---- Output ---- */
/* TRUE when nc_raft_ready() would return something. On a leader this also
 * builds the AppendEntries for what was proposed since the last Ready. */
gboolean nc_raft_has_ready (NcRaft *raft);
/* Fills `out` (caller frees with nc_raft_ready_clear()); FALSE when empty. */
gboolean nc_raft_ready (NcRaft *raft, NcRaftReady *out);
void nc_raft_advance (NcRaft *raft, const NcRaftReady *rd);

/* ---- Status ---- */
NcRaftRole nc_raft_role (NcRaft *raft);
guint64 nc_raft_term (NcRaft *raft);
const char *nc_raft_id (NcRaft *raft);
const char *nc_raft_leader (NcRaft *raft);  /* (transfer none) nullable */
const char *nc_raft_vote (NcRaft *raft);    /* (transfer none) nullable */
guint64 nc_raft_commit_index (NcRaft *raft);
guint64 nc_raft_applied_index (NcRaft *raft);
guint64 nc_raft_durable_index (NcRaft *raft);
guint64 nc_raft_first_index (NcRaft *raft);
guint64 nc_raft_last_index (NcRaft *raft);
/* Term of `index` in the core's view of the log (0 when unknown/compacted). */
guint64 nc_raft_log_term (NcRaft *raft, guint64 index);
/* (transfer none) the latest membership (takes effect when appended). */
const NcRaftMembership *nc_raft_membership (NcRaft *raft);
/* (transfer none) membership as of the last compaction/snapshot index. */
const NcRaftMembership *nc_raft_snapshot_membership (NcRaft *raft);
/* Leader: a peer's acknowledged index; FALSE when not leader or unknown peer. */
gboolean nc_raft_peer_match (NcRaft *raft, const char *peer, guint64 *match);
const char *nc_raft_transfer_target (NcRaft *raft);
NcRaftHistory nc_raft_history (NcRaft *raft);

G_END_DECLS
