/* Deterministic Raft simulator: N cores in one process, a virtual clock, a
 * faulty network and crash-prone disks, with the safety checkers run after
 * every step. Used by the nc-raft-sim CLI and the GTest scenarios. */
#pragma once

#include <glib.h>
#include "raft-core.h"

G_BEGIN_DECLS

#define SIM_MAX_NODES 7

typedef struct _Sim Sim;

typedef struct {
  guint n_nodes;             /* initial voters (3 or 5) */
  guint64 seed;
  gboolean pre_vote;
  gboolean check_quorum;
  guint election_min, election_max, heartbeat;
  guint max_entries, max_bytes, max_inflight;
  guint drop_pct, dup_pct;   /* per message */
  guint delay_min, delay_max;/* ticks in flight (random delays reorder) */
  guint persist_delay_max;   /* ticks until an append is durable */
  gboolean random_faults;    /* crashes, partitions, one-way links, compaction */
  gboolean workload;         /* clients writing/reading the register */
  guint compact_every;       /* random compaction when applied - snapshot >= this (0 = never) */
  gboolean membership_changes; /* random remove / add-learner / promote through the leader */
  guint crash_per_mille;     /* per tick (random_faults) */
  /* Mutant glue: sends a Ready's messages before persisting its hard
   * state. Only for the test that expects the checker to catch it. */
  gboolean mutant_send_before_persist;
  gboolean verbose;
  /* Per tick (random_faults): a member loses its whole disk and restarts
   * empty (docs/raft.md, "A member that lost its data"). Only when every
   * other node is FORMED on disk, so at most one amnesiac at a time (two
   * would be more failures than Raft tolerates). */
  guint wipe_per_mille;
  /* Mutant: a wiped node restarts believing it is FORMED, i.e. it votes
   * like the core did before the fix. Only for the test that expects the
   * checker to catch it. */
  gboolean mutant_amnesiac_votes;
} SimOptions;

void sim_options_default (SimOptions *o, guint n_nodes, guint64 seed);

Sim *sim_new (const SimOptions *o);
void sim_free (Sim *sim);

/* One virtual tick: ticks, deliveries, durability, faults, clients, checks. */
void sim_step (Sim *sim);
void sim_run (Sim *sim, guint ticks);
typedef gboolean (*SimPredicate) (Sim *sim, gpointer data);
gboolean sim_run_until (Sim *sim, guint max_ticks, SimPredicate pred, gpointer data);

/* First invariant violation (NULL when none). */
const char *sim_failure (Sim *sim);
guint64 sim_now (Sim *sim);

/* ---- control ---- */
guint sim_n_nodes (Sim *sim);
const char *sim_node_id (Sim *sim, guint node);
gint sim_node_index (Sim *sim, const char *id);
NcRaft *sim_raft (Sim *sim, guint node);  /* NULL when down */
gboolean sim_is_up (Sim *sim, guint node);
void sim_crash (Sim *sim, guint node);
void sim_restart (Sim *sim, guint node);
/* The node loses its disk (term, vote, log, snapshot, history, membership)
 * and restarts empty; messages it had in flight are dropped (a killed
 * process's connections are reset). */
void sim_wipe (Sim *sim, guint node);
/* History as persisted on the node's disk. */
NcRaftHistory sim_disk_history (Sim *sim, guint node);
/* Starts a brand-new node with an empty membership (for membership tests). */
gint sim_add_node (Sim *sim);
void sim_block (Sim *sim, guint from, guint to, gboolean blocked);
void sim_isolate (Sim *sim, guint node);
void sim_heal (Sim *sim);
/* Forces an immediate election at `node` (a TimeoutNow from the test). */
void sim_force_campaign (Sim *sim, guint node);
/* The up node that is leader with the highest term, or -1. */
gint sim_leader (Sim *sim);
gboolean sim_propose (Sim *sim, guint node, guint64 value, guint64 *index, GError **error);
guint64 sim_value (Sim *sim, guint node);       /* register value */
guint64 sim_applied (Sim *sim, guint node);
/* Term of the entry applied at `index` by any node (0 when none yet). */
guint64 sim_committed_term (Sim *sim, guint64 index);
/* TRUE if any node ever applied the write of `value`. */
gboolean sim_value_applied (Sim *sim, guint64 value);
gboolean sim_compact (Sim *sim, guint node);
/* Process pending Readys of a node now (normally done inside sim_step). */
void sim_process_ready (Sim *sim, guint node);

/* Message filter: return FALSE to drop the message; it may also edit the
 * copy that travels (e.g. drop some entries). Tests only. */
typedef gboolean (*SimFilter) (Sim *sim, NcRaftMsg *msg, gpointer data);
void sim_set_filter (Sim *sim, SimFilter filter, gpointer data);
/* Observer of every message a node hands to the network. */
typedef void (*SimObserver) (Sim *sim, const NcRaftMsg *msg, gpointer data);
void sim_set_observer (Sim *sim, SimObserver observer, gpointer data);

/* Read states a node's core produced (count, and the last one's index). */
guint sim_read_states_seen (Sim *sim, guint node, guint64 *last_index);

/* ---- workload / linearizability ---- */
/* Stops faults, heals, restarts every node and waits for convergence;
 * FALSE (and a failure) when the cluster does not converge. */
gboolean sim_settle (Sim *sim, guint max_ticks);
/* Runs the linearizability checker over the client history. Returns FALSE
 * on a violation (sim_failure says why); *inconclusive is set when the
 * search budget ran out. */
gboolean sim_check_linearizable (Sim *sim, gboolean *inconclusive);
guint sim_history_size (Sim *sim);
guint sim_ops_ok (Sim *sim);

G_END_DECLS
