/* The Raft state machine: elections (with pre-vote and check-quorum),
 * replication with per-follower progress, commitment, membership changes,
 * leadership transfer, ReadIndex and snapshots. Pure: every effect leaves
 * through nc_raft_ready(). See raft-core.h for the contract and
 * docs/raft.md for the design. */
#define G_LOG_DOMAIN "nornicdb-raft"

#include "raft-core.h"

#include <string.h>

#define APPLY_BATCH 1024

typedef enum {
  PR_PROBE,     /* one AppendEntries at a time until a match is found */
  PR_REPLICATE, /* pipelined, up to max_inflight messages */
  PR_SNAPSHOT,  /* waiting for a snapshot transfer */
} ProgressState;

typedef struct {
  guint64 match;
  guint64 next;
  ProgressState state;
  gboolean probe_sent;
  guint64 pending_snapshot;
  GArray *inflight; /* guint64 last index of each unacknowledged append */
  gboolean recent_active;
  /* Largest commit sent in a non-heartbeat AppendEntries: a follower
   * becomes FORMED only from those (see maybe_formed). */
  guint64 commit_sent;
} Progress;

typedef struct {
  guint64 index;
  NcRaftMembership *m;
} ConfEntry;

typedef struct {
  GBytes *context;
  char *origin; /* NULL: this node asked */
  guint64 index;
  GHashTable *acks;
} PendingRead;

struct _NcRaft {
  char *id;
  NcRaftConfig cfg;
  const NcRaftStorage *st;
  gpointer st_data;

  /* hard state */
  guint64 term;
  char *vote;
  guint64 commit;

  NcRaftRole role;
  char *leader;

  /* log view: storage (entries <= stable_last) + pending (not yet handed out) */
  guint64 snap_index;
  guint64 snap_term;
  NcRaftMembership *snap_conf;
  GPtrArray *confs; /* ConfEntry*, index ascending, all > snap_index */
  gboolean truncate_pending;
  guint64 truncate_after;
  GPtrArray *pending;
  NcRaftSnapshotMeta *snapshot_out;
  guint64 durable;
  guint64 applied;

  /* timers */
  guint election_elapsed;
  guint heartbeat_elapsed;
  guint randomized_timeout;
  guint64 rng;

  /* candidate */
  GHashTable *votes; /* id -> GINT_TO_POINTER (1 granted, 2 rejected) */

  /* leader */
  GHashTable *progress; /* id -> Progress* (peers only) */
  guint64 term_start_index;
  guint64 commit_bcast;
  char *transfer_target;
  guint transfer_elapsed;
  GQueue reads; /* PendingRead* */

  /* follower acknowledgements */
  guint64 ack_pending;
  guint64 last_acked;
  guint64 snap_ack;

  /* outputs */
  GPtrArray *msgs;
  GPtrArray *read_states;
  guint64 hs_term;
  char *hs_vote;
  guint64 hs_commit;
  NcRaftRole ss_role;
  char *ss_leader;
  guint64 ss_term;
  gboolean ready_outstanding;

  /* what the glue confirmed durable */
  guint64 durable_term;
  char *durable_vote;

  /* cluster history (persisted with the hard state) */
  NcRaftHistory history;
  NcRaftHistory hs_history;
  /* Largest commit index the current leader sent in a non-heartbeat
   * AppendEntries in this term (heartbeats carry min(commit, match), which
   * can be below what the leader committed). */
  guint64 formed_target;
};

const char *
nc_raft_history_name (NcRaftHistory history)
{
  switch (history)
    {
    case NC_RAFT_HISTORY_NEW: return "new";
    case NC_RAFT_HISTORY_JOINING: return "joining";
    case NC_RAFT_HISTORY_FORMED: return "formed";
    }
  return "unknown";
}

static void become_follower (NcRaft *r, guint64 term, const char *leader);
static void send_append_loop (NcRaft *r, const char *id, Progress *pr);
static void maybe_commit (NcRaft *r);

/* ---------------------------------------------------------------- utils */

static gboolean
str_eq (const char *a, const char *b)
{
  return g_strcmp0 (a, b) == 0;
}

static void
set_str (char **dst, const char *src)
{
  if (*dst == src)
    return;
  char *old = *dst;
  *dst = g_strdup (src);
  g_free (old);
}

/* splitmix64: a tiny, well-distributed generator; enough for timeouts. */
static guint64
rng_next (NcRaft *r)
{
  guint64 z = (r->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void
reset_randomized_timeout (NcRaft *r)
{
  guint span = r->cfg.election_ticks_max - r->cfg.election_ticks_min + 1;
  r->randomized_timeout = r->cfg.election_ticks_min + (guint) (rng_next (r) % span);
}

static void
progress_free (gpointer p)
{
  Progress *pr = p;
  g_array_unref (pr->inflight);
  g_free (pr);
}

static void
conf_entry_free (gpointer p)
{
  ConfEntry *c = p;
  nc_raft_membership_free (c->m);
  g_free (c);
}

static void
pending_read_free (PendingRead *pr)
{
  g_bytes_unref (pr->context);
  g_free (pr->origin);
  g_hash_table_unref (pr->acks);
  g_free (pr);
}

static void
read_state_free (gpointer p)
{
  NcRaftReadState *rs = p;
  if (rs->context)
    g_bytes_unref (rs->context);
  g_free (rs);
}

/* ------------------------------------------------------------ log view */

static guint64
stable_last (NcRaft *r)
{
  if (r->snapshot_out)
    return r->snap_index; /* the storage is about to be reset */
  guint64 s = r->st->last_index (r->st_data);
  if (r->truncate_pending && r->truncate_after < s)
    s = r->truncate_after;
  return MAX (s, r->snap_index);
}

static guint64
last_index (NcRaft *r)
{
  return stable_last (r) + r->pending->len;
}

static gboolean
term_at (NcRaft *r, guint64 index, guint64 *term)
{
  if (index == 0)
    {
      *term = 0;
      return TRUE;
    }
  if (index < r->snap_index)
    return FALSE;
  if (index == r->snap_index)
    {
      *term = r->snap_term;
      return TRUE;
    }
  guint64 sl = stable_last (r);
  if (index <= sl)
    return r->st->term_at (r->st_data, index, term);
  if (index - sl - 1 < r->pending->len)
    {
      *term = ((NcRaftEntry *) g_ptr_array_index (r->pending, index - sl - 1))->term;
      return TRUE;
    }
  return FALSE;
}

static guint64
term_or_zero (NcRaft *r, guint64 index)
{
  guint64 t = 0;
  if (!term_at (r, index, &t))
    return 0;
  return t;
}

static guint64
last_term (NcRaft *r)
{
  return term_or_zero (r, last_index (r));
}

/* Entries [from, ...]; NULL when `from` is compacted or beyond the log. */
static GPtrArray *
log_entries (NcRaft *r, guint64 from, guint max_count, gsize max_bytes)
{
  if (from <= r->snap_index || from > last_index (r) || max_count == 0)
    return NULL;
  guint64 sl = stable_last (r);
  GPtrArray *out = NULL;
  gsize bytes = 0;
  if (from <= sl)
    {
      out = r->st->entries (r->st_data, from, max_count, max_bytes);
      if (out == NULL || out->len == 0)
        {
          if (out)
            g_ptr_array_unref (out);
          return NULL;
        }
      /* a storage may hold more than the core believes (pending truncation) */
      while (out->len > 0 && ((NcRaftEntry *) g_ptr_array_index (out, out->len - 1))->index > sl)
        g_ptr_array_remove_index (out, out->len - 1);
      for (guint i = 0; i < out->len; i++)
        bytes += nc_raft_entry_size (g_ptr_array_index (out, i));
      if (out->len == 0 || ((NcRaftEntry *) g_ptr_array_index (out, out->len - 1))->index < sl)
        return out; /* the storage stopped on a limit */
    }
  else
    out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
  guint64 next = from > sl ? from : sl + 1;
  for (guint64 i = next - sl - 1; i < r->pending->len && out->len < max_count; i++)
    {
      NcRaftEntry *e = g_ptr_array_index (r->pending, i);
      gsize sz = nc_raft_entry_size (e);
      if (out->len > 0 && bytes + sz > max_bytes)
        break;
      bytes += sz;
      g_ptr_array_add (out, nc_raft_entry_ref (e));
    }
  return out;
}

static const NcRaftMembership *
current_conf (NcRaft *r)
{
  if (r->confs->len > 0)
    return ((ConfEntry *) g_ptr_array_index (r->confs, r->confs->len - 1))->m;
  return r->snap_conf;
}

static guint64
current_conf_index (NcRaft *r)
{
  if (r->confs->len > 0)
    return ((ConfEntry *) g_ptr_array_index (r->confs, r->confs->len - 1))->index;
  return r->snap_index;
}

static gboolean
promotable (NcRaft *r)
{
  return nc_raft_membership_is_voter (current_conf (r), r->id);
}

static guint
quorum (NcRaft *r)
{
  return nc_raft_membership_n_voters (current_conf (r)) / 2 + 1;
}

/* Membership as of the commit index. */
static const NcRaftMembership *
committed_conf (NcRaft *r)
{
  const NcRaftMembership *m = r->snap_conf;
  for (guint i = 0; i < r->confs->len; i++)
    {
      ConfEntry *c = g_ptr_array_index (r->confs, i);
      if (c->index > r->commit)
        break;
      m = c->m;
    }
  return m;
}

static void
sync_progress (NcRaft *r)
{
  if (r->role != NC_RAFT_LEADER)
    return;
  const NcRaftMembership *m = current_conf (r);
  /* Drop removed peers once their removal is committed; until then keep
   * replicating to them (they do not count) so they can learn of it. */
  const NcRaftMembership *cm = committed_conf (r);
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, r->progress);
  while (g_hash_table_iter_next (&it, &key, NULL))
    if (!nc_raft_membership_contains (m, key) && !nc_raft_membership_contains (cm, key))
      g_hash_table_iter_remove (&it);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      const char *id = nc_raft_membership_id (m, i);
      if (str_eq (id, r->id) || g_hash_table_contains (r->progress, id))
        continue;
      Progress *pr = g_new0 (Progress, 1);
      pr->next = last_index (r) + 1;
      pr->state = PR_PROBE;
      pr->inflight = g_array_new (FALSE, FALSE, sizeof (guint64));
      pr->recent_active = TRUE;
      g_hash_table_insert (r->progress, g_strdup (id), pr);
    }
}

static void
on_conf_changed (NcRaft *r)
{
  sync_progress (r);
  if ((r->role == NC_RAFT_CANDIDATE || r->role == NC_RAFT_PRE_CANDIDATE) && !promotable (r))
    become_follower (r, r->term, NULL);
}

static void
note_conf_entry (NcRaft *r, const NcRaftEntry *e)
{
  g_autoptr (GError) error = NULL;
  NcRaftMembership *m = nc_raft_membership_decode (e->data, &error);
  if (m == NULL)
    {
      g_warning ("%s: ignoring undecodable membership at index %" G_GUINT64_FORMAT ": %s",
                 r->id, e->index, error->message);
      return;
    }
  ConfEntry *c = g_new0 (ConfEntry, 1);
  c->index = e->index;
  c->m = m;
  g_ptr_array_add (r->confs, c);
}

/* Append entries whose first index is `first`, replacing anything from
 * `first` on. */
static void
log_replace_from (NcRaft *r, guint64 first, GPtrArray *entries, guint from_pos)
{
  guint64 sl = stable_last (r);
  if (first <= sl)
    {
      if (!r->truncate_pending || first - 1 < r->truncate_after)
        r->truncate_after = first - 1;
      r->truncate_pending = TRUE;
      g_ptr_array_set_size (r->pending, 0);
    }
  else if (first - sl - 1 < r->pending->len)
    g_ptr_array_set_size (r->pending, first - sl - 1);
  if (r->durable >= first)
    r->durable = first - 1;
  gboolean conf_changed = FALSE;
  while (r->confs->len > 0
         && ((ConfEntry *) g_ptr_array_index (r->confs, r->confs->len - 1))->index >= first)
    {
      g_ptr_array_remove_index (r->confs, r->confs->len - 1);
      conf_changed = TRUE;
    }
  for (guint i = from_pos; i < entries->len; i++)
    {
      NcRaftEntry *e = g_ptr_array_index (entries, i);
      g_ptr_array_add (r->pending, nc_raft_entry_ref (e));
      if (e->type == NC_RAFT_ENTRY_CONF_CHANGE)
        {
          note_conf_entry (r, e);
          conf_changed = TRUE;
        }
    }
  if (conf_changed)
    on_conf_changed (r);
}

static guint64
find_conflict_by_term (NcRaft *r, guint64 index, guint64 term)
{
  guint64 li = last_index (r);
  if (index > li)
    index = li;
  while (index > r->snap_index)
    {
      guint64 t;
      if (!term_at (r, index, &t) || t <= term)
        break;
      index--;
    }
  return index;
}

/* ------------------------------------------------------------- messages */

static NcRaftMsg *
msg_new (NcRaft *r, NcRaftMsgType type, const char *to)
{
  NcRaftMsg *m = nc_raft_msg_new (type);
  m->term = r->term;
  m->from = g_strdup (r->id);
  m->to = g_strdup (to);
  return m;
}

static void
send (NcRaft *r, NcRaftMsg *m)
{
  g_ptr_array_add (r->msgs, m);
}

/* ------------------------------------------------------------ role changes */

static void
clear_reads (NcRaft *r)
{
  PendingRead *pr;
  while ((pr = g_queue_pop_head (&r->reads)) != NULL)
    pending_read_free (pr);
}

static void
reset_common (NcRaft *r, guint64 term)
{
  if (r->term != term)
    {
      r->term = term;
      g_clear_pointer (&r->vote, g_free);
    }
  g_clear_pointer (&r->leader, g_free);
  r->election_elapsed = 0;
  r->heartbeat_elapsed = 0;
  reset_randomized_timeout (r);
  g_hash_table_remove_all (r->votes);
  g_hash_table_remove_all (r->progress);
  g_clear_pointer (&r->transfer_target, g_free);
  clear_reads (r);
  r->formed_target = 0;
}

static void
become_follower (NcRaft *r, guint64 term, const char *leader)
{
  gboolean leader_changed = term != r->term || !str_eq (leader, r->leader);
  reset_common (r, term);
  r->role = NC_RAFT_FOLLOWER;
  set_str (&r->leader, leader);
  if (leader_changed)
    {
      r->ack_pending = 0;
      r->last_acked = 0;
    }
}

static void
become_leader (NcRaft *r)
{
  reset_common (r, r->term);
  r->role = NC_RAFT_LEADER;
  set_str (&r->leader, r->id);
  /* A leader holds every committed entry (leader completeness), so from
   * now on this node votes normally and never campaigns as genesis. */
  r->history = NC_RAFT_HISTORY_FORMED;
  sync_progress (r);
  /* A no-op of the new term: committing it commits every earlier entry
   * (entries of older terms are never committed by counting replicas). */
  guint64 idx = last_index (r) + 1;
  g_autoptr (NcRaftEntry) noop = nc_raft_entry_new (idx, r->term, NC_RAFT_ENTRY_NOOP, NULL);
  g_ptr_array_add (r->pending, nc_raft_entry_ref (noop));
  r->term_start_index = idx;
  r->commit_bcast = r->commit;
  g_info ("%s: leader for term %" G_GUINT64_FORMAT, r->id, r->term);
  maybe_commit (r); /* single-voter clusters */
}

static guint
count_votes (NcRaft *r, gboolean granted)
{
  guint n = 0;
  const NcRaftMembership *m = current_conf (r);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, r->votes);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (nc_raft_membership_is_voter (m, k) && (GPOINTER_TO_INT (v) == 1) == granted)
      n++;
  return n;
}

static void campaign (NcRaft *r, gboolean pre, gboolean transfer);

static void
tally (NcRaft *r)
{
  if (count_votes (r, TRUE) >= quorum (r))
    {
      if (r->role == NC_RAFT_PRE_CANDIDATE)
        campaign (r, FALSE, FALSE);
      else
        become_leader (r);
    }
  else if (count_votes (r, FALSE) >= quorum (r))
    become_follower (r, r->term, NULL);
}

static void
campaign (NcRaft *r, gboolean pre, gboolean transfer)
{
  if (!promotable (r))
    return;
  guint64 req_term;
  if (pre)
    {
      reset_common (r, r->term);
      r->role = NC_RAFT_PRE_CANDIDATE;
      req_term = r->term + 1;
    }
  else
    {
      reset_common (r, r->term + 1);
      r->role = NC_RAFT_CANDIDATE;
      set_str (&r->vote, r->id);
      req_term = r->term;
    }
  g_hash_table_insert (r->votes, g_strdup (r->id), GINT_TO_POINTER (1));
  const NcRaftMembership *m = current_conf (r);
  guint64 li = last_index (r), lt = last_term (r);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      const char *id = nc_raft_membership_id (m, i);
      if (!nc_raft_membership_is_voter_at (m, i) || str_eq (id, r->id))
        continue;
      NcRaftMsg *msg = msg_new (r, pre ? NC_RAFT_MSG_PRE_VOTE_REQUEST : NC_RAFT_MSG_VOTE_REQUEST, id);
      msg->term = req_term;
      msg->log_index = li;
      msg->log_term = lt;
      msg->transfer = transfer;
      msg->genesis = r->history != NC_RAFT_HISTORY_FORMED;
      send (r, msg);
    }
  tally (r);
}

/* ---------------------------------------------------------- replication */

static void
send_snapshot (NcRaft *r, const char *id, Progress *pr)
{
  NcRaftMsg *m = msg_new (r, NC_RAFT_MSG_INSTALL_SNAPSHOT, id);
  m->snapshot_index = r->snap_index;
  m->snapshot_term = r->snap_term;
  m->snapshot_membership = nc_raft_membership_copy (r->snap_conf);
  m->commit = r->commit;
  pr->state = PR_SNAPSHOT;
  pr->pending_snapshot = r->snap_index;
  g_array_set_size (pr->inflight, 0);
  send (r, m);
}

/* Returns TRUE if a message went out. */
static gboolean
send_append (NcRaft *r, const char *id, Progress *pr, gboolean allow_empty)
{
  guint64 prev = pr->next - 1, prev_term;
  if (!term_at (r, prev, &prev_term))
    {
      send_snapshot (r, id, pr);
      return TRUE;
    }
  GPtrArray *ents = NULL;
  if (pr->next <= last_index (r))
    {
      ents = log_entries (r, pr->next, r->cfg.max_entries_per_append, r->cfg.max_bytes_per_append);
      if (ents == NULL)
        {
          send_snapshot (r, id, pr);
          return TRUE;
        }
    }
  if ((ents == NULL || ents->len == 0) && !allow_empty)
    {
      if (ents)
        g_ptr_array_unref (ents);
      return FALSE;
    }
  NcRaftMsg *m = msg_new (r, NC_RAFT_MSG_APPEND_ENTRIES, id);
  m->log_index = prev;
  m->log_term = prev_term;
  m->entries = ents;
  m->commit = r->commit;
  if (r->commit > pr->commit_sent)
    pr->commit_sent = r->commit;
  if (ents && ents->len > 0)
    {
      guint64 last = prev + ents->len;
      if (pr->state == PR_REPLICATE)
        {
          pr->next = last + 1;
          g_array_append_val (pr->inflight, last);
        }
      else
        pr->probe_sent = TRUE;
    }
  else if (pr->state == PR_PROBE)
    pr->probe_sent = TRUE;
  send (r, m);
  return TRUE;
}

static void
send_append_loop (NcRaft *r, const char *id, Progress *pr)
{
  switch (pr->state)
    {
    case PR_PROBE:
      if (!pr->probe_sent)
        send_append (r, id, pr, TRUE);
      break;
    case PR_REPLICATE:
      for (guint guard = 0; guard < r->cfg.max_inflight + 1; guard++)
        {
          if (pr->state != PR_REPLICATE || pr->next > last_index (r)
              || pr->inflight->len >= r->cfg.max_inflight)
            break;
          if (!send_append (r, id, pr, FALSE))
            break;
        }
      break;
    case PR_SNAPSHOT:
      break;
    }
}

static void
send_timeout_now (NcRaft *r, const char *id)
{
  send (r, msg_new (r, NC_RAFT_MSG_TIMEOUT_NOW, id));
}

static void
bcast_heartbeat (NcRaft *r, GBytes *context)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, r->progress);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      Progress *pr = v;
      NcRaftMsg *m = msg_new (r, NC_RAFT_MSG_APPEND_ENTRIES, k);
      m->heartbeat = TRUE;
      m->commit = MIN (r->commit, pr->match);
      m->context = context ? g_bytes_ref (context) : NULL;
      send (r, m);
    }
}

/* Leader: send what each follower can take now. Called before a Ready is
 * produced, so proposals made since the last Ready share one message. */
static void
flush_leader (NcRaft *r)
{
  if (r->role != NC_RAFT_LEADER)
    return;
  gboolean commit_moved = r->commit > r->commit_bcast;
  guint64 li = last_index (r);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, r->progress);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      Progress *pr = v;
      guint before = r->msgs->len;
      send_append_loop (r, k, pr);
      /* tell followers about a new commit index even when nothing is new
       * (also one that caught up after the commit moved: heartbeats carry
       * only min(commit, match), which cannot make it FORMED) */
      if ((commit_moved || pr->commit_sent < r->commit) && r->msgs->len == before && pr->state == PR_REPLICATE
          && pr->next > li)
        send_append (r, k, pr, TRUE);
    }
  r->commit_bcast = r->commit;
}

static void
release_reads_upto (NcRaft *r, PendingRead *last)
{
  PendingRead *pr;
  while ((pr = g_queue_pop_head (&r->reads)) != NULL)
    {
      if (pr->origin == NULL)
        {
          NcRaftReadState *rs = g_new0 (NcRaftReadState, 1);
          rs->context = g_bytes_ref (pr->context);
          rs->index = pr->index;
          g_ptr_array_add (r->read_states, rs);
        }
      else
        {
          NcRaftMsg *m = msg_new (r, NC_RAFT_MSG_READ_INDEX_RESPONSE, pr->origin);
          m->log_index = pr->index;
          m->context = g_bytes_ref (pr->context);
          send (r, m);
        }
      gboolean done = pr == last;
      pending_read_free (pr);
      if (done)
        break;
    }
}

static void
leader_add_read (NcRaft *r, GBytes *context, const char *origin)
{
  PendingRead *pr = g_new0 (PendingRead, 1);
  pr->context = g_bytes_ref (context);
  pr->origin = g_strdup (origin);
  pr->index = r->commit;
  pr->acks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_add (pr->acks, g_strdup (r->id));
  g_queue_push_tail (&r->reads, pr);
  if (!promotable (r) || quorum (r) > 1)
    bcast_heartbeat (r, context);
  else
    release_reads_upto (r, pr);
}

static void
leader_read_ack (NcRaft *r, const char *from, GBytes *context)
{
  if (context == NULL || !nc_raft_membership_is_voter (current_conf (r), from))
    return;
  for (GList *l = r->reads.head; l != NULL; l = l->next)
    {
      PendingRead *pr = l->data;
      if (!g_bytes_equal (pr->context, context))
        continue;
      g_hash_table_add (pr->acks, g_strdup (from));
      guint n = 0;
      GHashTableIter it;
      gpointer k;
      g_hash_table_iter_init (&it, pr->acks);
      while (g_hash_table_iter_next (&it, &k, NULL))
        n += nc_raft_membership_is_voter (current_conf (r), k) ? 1 : 0;
      if (n >= quorum (r))
        release_reads_upto (r, pr);
      return;
    }
}

static gint
cmp_desc (gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;
  return x < y ? 1 : x > y ? -1 : 0;
}

static void
check_removed_leader (NcRaft *r)
{
  if (r->role != NC_RAFT_LEADER || promotable (r) || current_conf_index (r) > r->commit)
    return;
  /* Our removal is committed: hand over to the most caught-up voter so the
   * cluster need not wait for an election timeout, then step down. */
  const char *best = NULL;
  guint64 best_match = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, r->progress);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (nc_raft_membership_is_voter (current_conf (r), k) && ((Progress *) v)->match >= best_match)
      {
        best = k;
        best_match = ((Progress *) v)->match;
      }
  if (best != NULL && best_match < last_index (r))
    {
      /* Under load the best voter is usually a few entries behind; stepping
       * down now would leave the cluster waiting for an election timeout.
       * Take no more proposals (transfer_target), catch it up, and hand over
       * once it has everything (called again from the append-response path;
       * the transfer timeout in tick steps down regardless). */
      if (r->transfer_target == NULL || !nc_raft_membership_is_voter (current_conf (r), r->transfer_target))
        {
          g_message ("%s: removed from the membership; handing over to %s", r->id, best);
          set_str (&r->transfer_target, best);
          r->transfer_elapsed = 0;
          send_append_loop (r, best, g_hash_table_lookup (r->progress, best));
        }
      return;
    }
  g_message ("%s: removed from the membership; stepping down", r->id);
  if (best != NULL)
    send_timeout_now (r, best);
  become_follower (r, r->term, NULL);
}

static void
maybe_commit (NcRaft *r)
{
  if (r->role != NC_RAFT_LEADER)
    return;
  const NcRaftMembership *m = current_conf (r);
  g_autoptr (GArray) matches = g_array_new (FALSE, FALSE, sizeof (guint64));
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      if (!nc_raft_membership_is_voter_at (m, i))
        continue;
      const char *id = nc_raft_membership_id (m, i);
      guint64 v = 0;
      if (str_eq (id, r->id))
        v = r->durable;
      else
        {
          Progress *pr = g_hash_table_lookup (r->progress, id);
          v = pr ? pr->match : 0;
        }
      g_array_append_val (matches, v);
    }
  if (matches->len == 0)
    return;
  g_array_sort (matches, cmp_desc);
  guint64 q = g_array_index (matches, guint64, quorum (r) - 1);
  /* Figure 8: only an entry of the current term is committed by counting. */
  if (q > r->commit && term_or_zero (r, q) == r->term)
    {
      r->commit = q;
      if (r->confs->len > 0)
        sync_progress (r);
      check_removed_leader (r);
    }
}

/* ----------------------------------------------------------- follower */

static void
send_ack (NcRaft *r, guint64 index)
{
  if (r->leader == NULL)
    return;
  NcRaftMsg *m;
  if (r->snap_ack != 0 && index >= r->snap_ack)
    {
      m = msg_new (r, NC_RAFT_MSG_INSTALL_SNAPSHOT_RESPONSE, r->leader);
      r->snap_ack = 0;
    }
  else
    m = msg_new (r, NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE, r->leader);
  m->log_index = index;
  send (r, m);
  if (index > r->last_acked)
    r->last_acked = index;
}

static void
maybe_ack (NcRaft *r)
{
  if (r->role != NC_RAFT_FOLLOWER || r->leader == NULL)
    return;
  guint64 a = MIN (r->durable, r->ack_pending);
  if (a > r->last_acked)
    send_ack (r, a);
}

/* JOINING/NEW -> FORMED once this node durably holds the commit index the
 * current leader announced and that entry is of the leader's term. The
 * leader committed an entry of its own term, so every entry committed in
 * an earlier term lies before it, and by log matching this node now holds
 * all of them: a candidate it finds up to date holds them too. Before that
 * a node that lost its data may lack entries it acknowledged in its
 * previous life, so its vote could elect a leader without them. */
static void
maybe_formed (NcRaft *r)
{
  if (r->history == NC_RAFT_HISTORY_FORMED || r->role != NC_RAFT_FOLLOWER || r->leader == NULL
      || r->formed_target == 0 || r->durable < r->formed_target
      || term_or_zero (r, r->formed_target) != r->term)
    return;
  g_info ("%s: holds leader %s's commit index %" G_GUINT64_FORMAT " of term %" G_GUINT64_FORMAT
          ": votes normally from now on", r->id, r->leader, r->formed_target, r->term);
  r->history = NC_RAFT_HISTORY_FORMED;
}

static void
commit_to (NcRaft *r, guint64 c)
{
  if (c > r->commit)
    r->commit = c;
}

static void
handle_append (NcRaft *r, const NcRaftMsg *m)
{
  if (m->heartbeat)
    {
      commit_to (r, MIN (m->commit, last_index (r)));
      NcRaftMsg *resp = msg_new (r, NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE, m->from);
      resp->heartbeat = TRUE;
      resp->context = m->context ? g_bytes_ref (m->context) : NULL;
      /* The commit of a heartbeat is one we acknowledged to this leader
       * (min(commit, match)); not holding it means we lost our log. Say so,
       * or a leader with nothing new to send would never find out. */
      if (m->commit > last_index (r))
        {
          resp->reject = TRUE;
          resp->log_index = last_index (r);
          resp->hint_index = last_index (r);
          resp->hint_term = last_term (r);
        }
      send (r, resp);
      return;
    }
  if (m->log_index < r->commit)
    {
      send_ack (r, MIN (r->commit, r->durable));
      return;
    }
  guint64 n = m->entries ? m->entries->len : 0;
  guint64 t;
  if (term_at (r, m->log_index, &t) && t == m->log_term)
    {
      guint64 last_new = m->log_index + n;
      for (guint i = 0; i < n; i++)
        {
          NcRaftEntry *e = g_ptr_array_index (m->entries, i);
          guint64 et;
          if (term_at (r, e->index, &et) && et == e->term)
            continue;
          if (e->index <= r->commit)
            {
              g_critical ("%s: leader %s tried to overwrite committed index %" G_GUINT64_FORMAT,
                          r->id, m->from, e->index);
              return;
            }
          log_replace_from (r, e->index, m->entries, i);
          break;
        }
      commit_to (r, MIN (m->commit, last_new));
      if (m->commit > r->formed_target)
        r->formed_target = m->commit;
      maybe_formed (r);
      if (last_new > r->ack_pending)
        r->ack_pending = last_new;
      if (last_new <= r->durable)
        send_ack (r, MIN (r->durable, r->ack_pending));
      return;
    }
  NcRaftMsg *resp = msg_new (r, NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE, m->from);
  resp->reject = TRUE;
  resp->log_index = m->log_index;
  resp->hint_index = find_conflict_by_term (r, MIN (m->log_index, last_index (r)), m->log_term);
  resp->hint_term = term_or_zero (r, resp->hint_index);
  send (r, resp);
}

static void
handle_snapshot (NcRaft *r, const NcRaftMsg *m)
{
  guint64 s = m->snapshot_index, t;
  if (s <= r->commit)
    {
      send_ack (r, MIN (r->commit, r->durable));
      return;
    }
  if (term_at (r, s, &t) && t == m->snapshot_term)
    {
      /* we already hold the snapshot's last entry: it is committed */
      commit_to (r, s);
      if (s > r->ack_pending)
        r->ack_pending = s;
      if (s <= r->durable)
        send_ack (r, MIN (r->durable, r->ack_pending));
      return;
    }
  if (m->snapshot_membership == NULL)
    return;
  g_info ("%s: installing snapshot at %" G_GUINT64_FORMAT " (term %" G_GUINT64_FORMAT ")",
          r->id, s, m->snapshot_term);
  r->snap_index = s;
  r->snap_term = m->snapshot_term;
  nc_raft_membership_free (r->snap_conf);
  r->snap_conf = nc_raft_membership_copy (m->snapshot_membership);
  g_ptr_array_set_size (r->confs, 0);
  g_ptr_array_set_size (r->pending, 0);
  r->truncate_pending = FALSE;
  if (r->snapshot_out)
    {
      nc_raft_membership_free (r->snapshot_out->membership);
      g_free (r->snapshot_out);
    }
  r->snapshot_out = g_new0 (NcRaftSnapshotMeta, 1);
  r->snapshot_out->index = s;
  r->snapshot_out->term = r->snap_term;
  r->snapshot_out->membership = nc_raft_membership_copy (r->snap_conf);
  r->commit = s;
  r->applied = s;
  r->durable = 0; /* until the glue reports the snapshot durable */
  r->ack_pending = MAX (r->ack_pending, s);
  r->snap_ack = s;
  on_conf_changed (r);
}

/* --------------------------------------------------------- leader input */

static void
handle_append_response (NcRaft *r, const NcRaftMsg *m)
{
  Progress *pr = g_hash_table_lookup (r->progress, m->from);
  if (pr == NULL)
    return;
  pr->recent_active = TRUE;
  guint64 li = last_index (r);
  if (m->heartbeat)
    {
      leader_read_ack (r, m->from, m->context);
      if (m->reject && m->log_index < pr->match && pr->state != PR_SNAPSHOT)
        {
          /* see handle_append: the follower lost entries it acknowledged */
          g_info ("%s: %s's log ends at %" G_GUINT64_FORMAT " below its acknowledged %" G_GUINT64_FORMAT
                  ": it lost its log", r->id, m->from, m->log_index, pr->match);
          pr->match = 0;
          pr->next = m->log_index + 1;
          pr->state = PR_PROBE;
          pr->probe_sent = FALSE;
          pr->commit_sent = 0;
          g_array_set_size (pr->inflight, 0);
          send_append_loop (r, m->from, pr);
          return;
        }
      if (pr->state == PR_PROBE)
        pr->probe_sent = FALSE;
      if (pr->match < li && pr->state == PR_REPLICATE)
        {
          if (pr->inflight->len >= r->cfg.max_inflight)
            g_array_remove_index (pr->inflight, 0);
          /* an empty append at next-1: a follower that lost messages
           * rejects it and we fall back to probing */
          send_append (r, m->from, pr, TRUE);
        }
      return;
    }
  if (m->reject)
    {
      if (pr->state == PR_SNAPSHOT)
        return;
      if (pr->state == PR_PROBE && m->log_index == pr->next - 1 && m->log_index > 0
          && m->log_index <= pr->match && m->hint_index < pr->match)
        {
          /* The follower lacks an entry it acknowledged: it lost its log
           * (a wiped data dir). Its old acknowledgements must not count
           * towards a commit any more; lowering match is always safe (the
           * commit index never goes back), it only costs a resend. */
          g_info ("%s: %s rejects index %" G_GUINT64_FORMAT " that it acknowledged: it lost its log",
                  r->id, m->from, m->log_index);
          pr->match = 0;
        }
      if (pr->state == PR_REPLICATE && m->log_index <= pr->match)
        return; /* stale */
      if (pr->state == PR_PROBE && m->log_index != pr->next - 1)
        return; /* stale */
      guint64 probe = m->hint_index;
      if (m->hint_term > 0)
        probe = find_conflict_by_term (r, m->hint_index, m->hint_term);
      pr->next = MAX (MIN (m->log_index, probe + 1), pr->match + 1);
      pr->state = PR_PROBE;
      pr->probe_sent = FALSE;
      pr->commit_sent = 0;
      g_array_set_size (pr->inflight, 0);
      send_append_loop (r, m->from, pr);
      return;
    }
  gboolean updated = FALSE;
  if (m->log_index > pr->match)
    {
      pr->match = m->log_index;
      updated = TRUE;
    }
  if (pr->next < pr->match + 1)
    pr->next = pr->match + 1;
  while (pr->inflight->len > 0 && g_array_index (pr->inflight, guint64, 0) <= pr->match)
    g_array_remove_index (pr->inflight, 0);
  switch (pr->state)
    {
    case PR_PROBE:
      if (updated || m->log_index >= pr->next - 1)
        {
          pr->state = PR_REPLICATE;
          pr->next = pr->match + 1;
          g_array_set_size (pr->inflight, 0);
        }
      break;
    case PR_SNAPSHOT:
      if (pr->match >= pr->pending_snapshot)
        {
          pr->state = PR_PROBE;
          pr->probe_sent = FALSE;
          pr->next = pr->match + 1;
        }
      break;
    case PR_REPLICATE:
      break;
    }
  if (updated)
    maybe_commit (r);
  /* committing may have stepped us down or dropped this peer */
  if (r->role != NC_RAFT_LEADER || (pr = g_hash_table_lookup (r->progress, m->from)) == NULL)
    return;
  if (r->transfer_target && str_eq (r->transfer_target, m->from) && pr->match == last_index (r))
    send_timeout_now (r, m->from);
  /* a removed leader hands over once its best voter has caught up */
  check_removed_leader (r);
  if (r->role != NC_RAFT_LEADER)
    return;
  send_append_loop (r, m->from, pr);
}

/* ------------------------------------------------------------------ step */

static gboolean
log_up_to_date (NcRaft *r, guint64 idx, guint64 term)
{
  guint64 lt = last_term (r);
  return term > lt || (term == lt && idx >= last_index (r));
}

static void
handle_vote_request (NcRaft *r, const NcRaftMsg *m)
{
  gboolean pre = m->type == NC_RAFT_MSG_PRE_VOTE_REQUEST;
  gboolean can_vote = str_eq (r->vote, m->from)
                      || (r->vote == NULL && r->leader == NULL)
                      || (pre && m->term > r->term);
  gboolean grant = can_vote && log_up_to_date (r, m->log_index, m->log_term);
  /* Votes stay within one class. A node that is not FORMED may have lost
   * entries it acknowledged before (a wiped data dir looks exactly like a
   * fresh node), so it helps only elections among nodes that are not
   * FORMED either (genesis candidates: the cluster's first elections). A
   * FORMED node does not help a genesis candidate, which may be such an
   * amnesiac with a partial log. Once a cluster has formed, a majority is
   * FORMED and only FORMED quorums can elect. */
  gboolean formed = r->history == NC_RAFT_HISTORY_FORMED;
  if (grant && formed == m->genesis)
    {
      g_debug ("%s: refusing %s from %s: this node is %s and the candidate %s genesis", r->id,
               nc_raft_msg_type_name (m->type), m->from, nc_raft_history_name (r->history),
               m->genesis ? "is" : "is not");
      grant = FALSE;
    }
  NcRaftMsg *resp = msg_new (r, pre ? NC_RAFT_MSG_PRE_VOTE_RESPONSE : NC_RAFT_MSG_VOTE_RESPONSE, m->from);
  resp->reject = !grant;
  if (grant)
    {
      if (pre)
        resp->term = m->term;
      else
        {
          set_str (&r->vote, m->from);
          r->election_elapsed = 0;
        }
    }
  send (r, resp);
}

static gboolean
in_lease (NcRaft *r)
{
  return r->cfg.check_quorum && r->leader != NULL && r->election_elapsed < r->cfg.election_ticks_min;
}

void
nc_raft_step (NcRaft *r, const NcRaftMsg *m)
{
  g_return_if_fail (r != NULL && m != NULL);
  if (m->from == NULL || m->to == NULL || !str_eq (m->to, r->id) || str_eq (m->from, r->id))
    return;
  gboolean is_vote_req = m->type == NC_RAFT_MSG_VOTE_REQUEST || m->type == NC_RAFT_MSG_PRE_VOTE_REQUEST;

  if (m->term > r->term)
    {
      if (is_vote_req && !m->transfer && in_lease (r))
        {
          g_debug ("%s: ignoring %s from %s: a leader is in lease", r->id,
                   nc_raft_msg_type_name (m->type), m->from);
          return;
        }
      if (m->type == NC_RAFT_MSG_PRE_VOTE_REQUEST)
        ; /* a pre-vote never changes our term */
      else if (m->type == NC_RAFT_MSG_PRE_VOTE_RESPONSE && !m->reject)
        ; /* granted at the term we will campaign in */
      else
        {
          gboolean from_leader = m->type == NC_RAFT_MSG_APPEND_ENTRIES
                                 || m->type == NC_RAFT_MSG_INSTALL_SNAPSHOT
                                 || m->type == NC_RAFT_MSG_TIMEOUT_NOW;
          become_follower (r, m->term, from_leader ? m->from : NULL);
        }
    }
  else if (m->term < r->term)
    {
      if (m->type == NC_RAFT_MSG_APPEND_ENTRIES || m->type == NC_RAFT_MSG_INSTALL_SNAPSHOT)
        {
          /* tell a stale leader about the newer term so it steps down */
          NcRaftMsg *resp = msg_new (r, NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE, m->from);
          resp->heartbeat = TRUE;
          send (r, resp);
        }
      else if (m->type == NC_RAFT_MSG_PRE_VOTE_REQUEST)
        {
          NcRaftMsg *resp = msg_new (r, NC_RAFT_MSG_PRE_VOTE_RESPONSE, m->from);
          resp->reject = TRUE;
          send (r, resp);
        }
      return;
    }

  switch (m->type)
    {
    case NC_RAFT_MSG_VOTE_REQUEST:
    case NC_RAFT_MSG_PRE_VOTE_REQUEST:
      handle_vote_request (r, m);
      return;
    case NC_RAFT_MSG_VOTE_RESPONSE:
      if (r->role == NC_RAFT_CANDIDATE && m->term == r->term)
        {
          g_hash_table_insert (r->votes, g_strdup (m->from), GINT_TO_POINTER (m->reject ? 2 : 1));
          tally (r);
        }
      return;
    case NC_RAFT_MSG_PRE_VOTE_RESPONSE:
      if (r->role == NC_RAFT_PRE_CANDIDATE && (m->reject || m->term == r->term + 1))
        {
          g_hash_table_insert (r->votes, g_strdup (m->from), GINT_TO_POINTER (m->reject ? 2 : 1));
          tally (r);
        }
      return;
    case NC_RAFT_MSG_APPEND_ENTRIES:
    case NC_RAFT_MSG_INSTALL_SNAPSHOT:
      if (r->role == NC_RAFT_LEADER)
        {
          g_critical ("%s: two leaders in term %" G_GUINT64_FORMAT " (%s)", r->id, r->term, m->from);
          return;
        }
      if (r->role != NC_RAFT_FOLLOWER || !str_eq (r->leader, m->from))
        become_follower (r, r->term, m->from);
      r->election_elapsed = 0;
      /* A leader exists: this node no longer campaigns as genesis. */
      if (r->history == NC_RAFT_HISTORY_NEW)
        r->history = NC_RAFT_HISTORY_JOINING;
      if (m->type == NC_RAFT_MSG_APPEND_ENTRIES)
        handle_append (r, m);
      else
        handle_snapshot (r, m);
      return;
    case NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE:
      if (r->role == NC_RAFT_LEADER)
        handle_append_response (r, m);
      return;
    case NC_RAFT_MSG_INSTALL_SNAPSHOT_RESPONSE:
      if (r->role == NC_RAFT_LEADER)
        {
          if (m->reject)
            nc_raft_snapshot_done (r, m->from, FALSE);
          else
            {
              NcRaftMsg tmp = *m;
              tmp.type = NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE;
              handle_append_response (r, &tmp);
            }
        }
      return;
    case NC_RAFT_MSG_TIMEOUT_NOW:
      if (r->role != NC_RAFT_LEADER && promotable (r))
        {
          g_info ("%s: TimeoutNow from %s: campaigning", r->id, m->from);
          campaign (r, FALSE, TRUE);
        }
      return;
    case NC_RAFT_MSG_READ_INDEX_REQUEST:
      if (r->role != NC_RAFT_LEADER || m->context == NULL)
        return;
      if (r->commit < r->term_start_index)
        {
          NcRaftMsg *resp = msg_new (r, NC_RAFT_MSG_READ_INDEX_RESPONSE, m->from);
          resp->reject = TRUE;
          resp->context = g_bytes_ref (m->context);
          send (r, resp);
          return;
        }
      leader_add_read (r, m->context, m->from);
      return;
    case NC_RAFT_MSG_READ_INDEX_RESPONSE:
      if (r->role == NC_RAFT_FOLLOWER && !m->reject && m->context != NULL)
        {
          NcRaftReadState *rs = g_new0 (NcRaftReadState, 1);
          rs->context = g_bytes_ref (m->context);
          rs->index = m->log_index;
          g_ptr_array_add (r->read_states, rs);
        }
      return;
    }
  g_debug ("%s: ignoring message of unknown type %d", r->id, (int) m->type);
}

/* ----------------------------------------------------------------- tick */

static gboolean
quorum_active (NcRaft *r)
{
  const NcRaftMembership *m = current_conf (r);
  guint n = 0;
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      if (!nc_raft_membership_is_voter_at (m, i))
        continue;
      const char *id = nc_raft_membership_id (m, i);
      if (str_eq (id, r->id))
        n++;
      else
        {
          Progress *pr = g_hash_table_lookup (r->progress, id);
          if (pr && pr->recent_active)
            n++;
        }
    }
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, r->progress);
  while (g_hash_table_iter_next (&it, NULL, &v))
    ((Progress *) v)->recent_active = FALSE;
  return n >= quorum (r);
}

void
nc_raft_tick (NcRaft *r)
{
  if (r->role == NC_RAFT_LEADER)
    {
      r->heartbeat_elapsed++;
      r->election_elapsed++;
      if (r->election_elapsed >= r->cfg.election_ticks_min)
        {
          r->election_elapsed = 0;
          if (r->cfg.check_quorum && !quorum_active (r))
            {
              g_message ("%s: lost contact with a quorum; stepping down (term %" G_GUINT64_FORMAT ")",
                         r->id, r->term);
              become_follower (r, r->term, NULL);
              return;
            }
        }
      if (r->transfer_target && ++r->transfer_elapsed >= r->cfg.election_ticks_min)
        {
          g_message ("%s: leadership transfer to %s timed out", r->id, r->transfer_target);
          g_clear_pointer (&r->transfer_target, g_free);
          if (!promotable (r) && current_conf_index (r) <= r->commit)
            {
              /* removed, and the handover did not complete: just go */
              g_message ("%s: removed from the membership; stepping down", r->id);
              become_follower (r, r->term, NULL);
              return;
            }
        }
      if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks)
        {
          r->heartbeat_elapsed = 0;
          bcast_heartbeat (r, NULL);
        }
      return;
    }
  r->election_elapsed++;
  if (r->election_elapsed >= r->randomized_timeout)
    {
      r->election_elapsed = 0;
      if (promotable (r))
        campaign (r, r->cfg.pre_vote, FALSE);
      else if (r->leader != NULL)
        {
          /* A learner or a node outside its membership never campaigns,
           * but it must stop vouching for a silent leader: its lease would
           * otherwise block the votes the voters need. */
          g_clear_pointer (&r->leader, g_free);
        }
    }
}

/* -------------------------------------------------------------- proposals */

static gboolean
check_can_propose (NcRaft *r, GError **error)
{
  if (r->role != NC_RAFT_LEADER)
    {
      if (r->leader)
        g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_NOT_LEADER,
                     "not the leader; the leader is %s", r->leader);
      else
        g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_NOT_LEADER,
                     "not the leader; no leader is known");
      return FALSE;
    }
  if (r->transfer_target)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_TRANSFERRING,
                   "leadership is being transferred to %s", r->transfer_target);
      return FALSE;
    }
  return TRUE;
}

static guint64
leader_append (NcRaft *r, NcRaftEntryType type, GBytes *data)
{
  guint64 idx = last_index (r) + 1;
  g_autoptr (NcRaftEntry) e = nc_raft_entry_new (idx, r->term, type, data);
  g_ptr_array_add (r->pending, nc_raft_entry_ref (e));
  if (type == NC_RAFT_ENTRY_CONF_CHANGE)
    {
      note_conf_entry (r, e);
      on_conf_changed (r);
    }
  return idx;
}

gboolean
nc_raft_propose (NcRaft *r, GBytes *data, guint64 *index_out, GError **error)
{
  if (!check_can_propose (r, error))
    return FALSE;
  guint64 idx = leader_append (r, NC_RAFT_ENTRY_NORMAL, data);
  if (index_out)
    *index_out = idx;
  return TRUE;
}

static gboolean
invalid_present (const char *id, gboolean voter, GError **error)
{
  g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "%s is already a %s", id,
               voter ? "voter" : "member");
  return FALSE;
}

gboolean
nc_raft_propose_conf_change (NcRaft *r, const NcRaftConfChange *cc, guint64 *index_out, GError **error)
{
  if (!check_can_propose (r, error))
    return FALSE;
  if (cc == NULL || cc->id == NULL || cc->id[0] == '\0')
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "membership change needs a node id");
      return FALSE;
    }
  if (r->commit < r->term_start_index)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_NOT_READY,
                   "the leader has not committed an entry of its term yet; retry");
      return FALSE;
    }
  if (current_conf_index (r) > r->commit)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_CONF_CHANGE_PENDING,
                   "a membership change (index %" G_GUINT64_FORMAT ") is still uncommitted; "
                   "only one change at a time", current_conf_index (r));
      return FALSE;
    }
  g_autoptr (NcRaftMembership) m = nc_raft_membership_copy (current_conf (r));
  gboolean present = nc_raft_membership_contains (m, cc->id);
  gboolean voter = nc_raft_membership_is_voter (m, cc->id);
  switch (cc->type)
    {
    case NC_RAFT_CONF_ADD_VOTER:
      if (voter)
        return invalid_present (cc->id, voter, error);
      nc_raft_membership_set (m, cc->id, present && cc->address == NULL
                              ? nc_raft_membership_address_of (m, cc->id) : cc->address, TRUE);
      break;
    case NC_RAFT_CONF_ADD_LEARNER:
      if (present)
        return invalid_present (cc->id, voter, error);
      nc_raft_membership_set (m, cc->id, cc->address, FALSE);
      break;
    case NC_RAFT_CONF_PROMOTE:
      if (!present || voter)
        {
          g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "%s is not a learner", cc->id);
          return FALSE;
        }
      nc_raft_membership_set (m, cc->id, nc_raft_membership_address_of (m, cc->id), TRUE);
      break;
    case NC_RAFT_CONF_REMOVE:
      if (!present)
        {
          g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "%s is not a member", cc->id);
          return FALSE;
        }
      if (voter && nc_raft_membership_n_voters (m) == 1)
        {
          g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "cannot remove the last voter");
          return FALSE;
        }
      nc_raft_membership_remove (m, cc->id);
      break;
    default:
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "unknown membership change type");
      return FALSE;
    }
  g_autoptr (GBytes) data = nc_raft_membership_encode (m);
  guint64 idx = leader_append (r, NC_RAFT_ENTRY_CONF_CHANGE, data);
  if (index_out)
    *index_out = idx;
  return TRUE;
}

/* ------------------------------------------------------------ other inputs */

void
nc_raft_persisted (NcRaft *r, guint64 index, guint64 term)
{
  guint64 t;
  if (index <= r->durable || index > last_index (r) || !term_at (r, index, &t) || t != term)
    return;
  r->durable = index;
  if (r->role == NC_RAFT_LEADER)
    maybe_commit (r);
  else
    {
      maybe_formed (r);
      maybe_ack (r);
    }
}

void
nc_raft_hard_state_persisted (NcRaft *r, guint64 term, const char *vote)
{
  r->durable_term = term;
  set_str (&r->durable_vote, vote);
}

void
nc_raft_snapshot_done (NcRaft *r, const char *peer, gboolean success)
{
  if (r->role != NC_RAFT_LEADER)
    return;
  Progress *pr = g_hash_table_lookup (r->progress, peer);
  if (pr == NULL || pr->state != PR_SNAPSHOT)
    return;
  pr->state = PR_PROBE;
  if (success)
    {
      /* wait for the follower's acknowledgement (or the next heartbeat) */
      pr->next = MAX (pr->next, pr->pending_snapshot + 1);
      pr->probe_sent = TRUE;
    }
  else
    {
      pr->next = pr->match + 1;
      pr->probe_sent = FALSE;
    }
  pr->pending_snapshot = 0;
}

gboolean
nc_raft_compact (NcRaft *r, guint64 index, GError **error)
{
  if (index <= r->snap_index)
    return TRUE;
  guint64 t;
  if (index > r->applied || !term_at (r, index, &t))
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID,
                   "cannot compact to %" G_GUINT64_FORMAT ": applied is %" G_GUINT64_FORMAT,
                   index, r->applied);
      return FALSE;
    }
  while (r->confs->len > 0 && ((ConfEntry *) g_ptr_array_index (r->confs, 0))->index <= index)
    {
      ConfEntry *c = g_ptr_array_index (r->confs, 0);
      nc_raft_membership_free (r->snap_conf);
      r->snap_conf = g_steal_pointer (&c->m);
      g_ptr_array_remove_index (r->confs, 0);
    }
  r->snap_index = index;
  r->snap_term = t;
  return TRUE;
}

static const char *
best_transferee (NcRaft *r)
{
  const char *best = NULL;
  guint64 best_match = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, r->progress);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (nc_raft_membership_is_voter (current_conf (r), k)
        && (best == NULL || ((Progress *) v)->match > best_match
            || (((Progress *) v)->match == best_match && strcmp (k, best) < 0)))
      {
        best = k;
        best_match = ((Progress *) v)->match;
      }
  return best;
}

gboolean
nc_raft_transfer_leadership (NcRaft *r, const char *target, GError **error)
{
  if (r->role != NC_RAFT_LEADER)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_NOT_LEADER, "not the leader%s%s",
                   r->leader ? "; the leader is " : "", r->leader ? r->leader : "");
      return FALSE;
    }
  if (target == NULL)
    target = best_transferee (r);
  if (target == NULL)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "no other voter to transfer leadership to");
      return FALSE;
    }
  if (str_eq (target, r->id))
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "%s is already the leader", target);
      return FALSE;
    }
  if (!nc_raft_membership_is_voter (current_conf (r), target))
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "%s is not a voter", target);
      return FALSE;
    }
  if (str_eq (r->transfer_target, target))
    return TRUE;
  set_str (&r->transfer_target, target);
  r->transfer_elapsed = 0;
  Progress *pr = g_hash_table_lookup (r->progress, target);
  g_info ("%s: transferring leadership to %s", r->id, target);
  if (pr->match == last_index (r))
    send_timeout_now (r, target);
  else
    send_append_loop (r, target, pr);
  return TRUE;
}

gboolean
nc_raft_step_down (NcRaft *r, GError **error)
{
  return nc_raft_transfer_leadership (r, NULL, error);
}

gboolean
nc_raft_read_index (NcRaft *r, GBytes *context, GError **error)
{
  g_return_val_if_fail (context != NULL, FALSE);
  if (r->role == NC_RAFT_LEADER)
    {
      if (r->commit < r->term_start_index)
        {
          g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_NOT_READY,
                       "the leader has not committed an entry of its term yet; retry");
          return FALSE;
        }
      leader_add_read (r, context, NULL);
      return TRUE;
    }
  if (r->leader == NULL || r->role != NC_RAFT_FOLLOWER)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_NOT_LEADER, "no leader is known");
      return FALSE;
    }
  NcRaftMsg *m = msg_new (r, NC_RAFT_MSG_READ_INDEX_REQUEST, r->leader);
  m->context = g_bytes_ref (context);
  send (r, m);
  return TRUE;
}

/* ----------------------------------------------------------------- Ready */

static guint64
hs_commit_now (NcRaft *r)
{
  return MIN (r->commit, r->durable);
}

gboolean
nc_raft_has_ready (NcRaft *r)
{
  if (r->ready_outstanding)
    return FALSE;
  flush_leader (r);
  return r->msgs->len > 0 || r->pending->len > 0 || r->truncate_pending || r->snapshot_out
         || r->read_states->len > 0 || r->term != r->hs_term || !str_eq (r->vote, r->hs_vote)
         || r->history != r->hs_history
         || hs_commit_now (r) > r->hs_commit || r->role != r->ss_role
         || !str_eq (r->leader, r->ss_leader) || r->term != r->ss_term
         || MIN (r->commit, r->durable) > r->applied;
}

gboolean
nc_raft_ready (NcRaft *r, NcRaftReady *out)
{
  memset (out, 0, sizeof *out);
  if (!nc_raft_has_ready (r))
    return FALSE;
  if (r->term != r->hs_term || !str_eq (r->vote, r->hs_vote) || hs_commit_now (r) > r->hs_commit
      || r->history != r->hs_history)
    {
      out->has_hard_state = TRUE;
      out->hard_state.term = r->term;
      out->hard_state.vote = g_strdup (r->vote);
      out->hard_state.commit = MAX (hs_commit_now (r), r->hs_commit);
      out->hard_state.history = r->history;
      r->hs_term = r->term;
      set_str (&r->hs_vote, r->vote);
      r->hs_commit = out->hard_state.commit;
      r->hs_history = r->history;
    }
  if (r->role != r->ss_role || !str_eq (r->leader, r->ss_leader) || r->term != r->ss_term)
    {
      out->has_soft_state = TRUE;
      r->ss_role = r->role;
      set_str (&r->ss_leader, r->leader);
      r->ss_term = r->term;
    }
  out->role = r->role;
  out->leader = g_strdup (r->leader);
  out->term = r->term;
  out->snapshot = g_steal_pointer (&r->snapshot_out);
  out->truncate = r->truncate_pending;
  out->truncate_after = r->truncate_after;
  r->truncate_pending = FALSE;
  out->entries = r->pending;
  r->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
  out->messages = r->msgs;
  r->msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_msg_free);
  out->read_states = r->read_states;
  r->read_states = g_ptr_array_new_with_free_func (read_state_free);
  g_ptr_array_set_free_func (out->read_states, NULL);
  /* Committed entries: only those durable here, so a restart never has a
   * commit index beyond its log. */
  guint64 upto = MIN (r->commit, r->durable);
  out->committed = NULL;
  if (upto > r->applied)
    {
      /* entries <= durable are already in the storage (not pending) */
      out->committed = log_entries (r, r->applied + 1, MIN (upto - r->applied, APPLY_BATCH), G_MAXSIZE);
      if (out->committed)
        r->applied += out->committed->len;
    }
  if (out->committed == NULL)
    out->committed = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
  r->ready_outstanding = TRUE;
  return TRUE;
}

void
nc_raft_advance (NcRaft *r, const NcRaftReady *rd)
{
  r->ready_outstanding = FALSE;
  if (rd && rd->has_hard_state && rd->messages && rd->messages->len > 0
      && (r->durable_term != rd->hard_state.term || !str_eq (r->durable_vote, rd->hard_state.vote)))
    g_warning ("%s: Ready advanced without nc_raft_hard_state_persisted() for term %" G_GUINT64_FORMAT
               "; the glue must persist term and vote before sending", r->id, rd->hard_state.term);
}

/* ----------------------------------------------------------------- new */

static gboolean
scan_confs (NcRaft *r, guint64 last, GError **error)
{
  guint64 next = r->snap_index + 1;
  while (next <= last)
    {
      g_autoptr (GPtrArray) ents = r->st->entries (r->st_data, next, 1024, G_MAXSIZE);
      if (ents == NULL || ents->len == 0)
        {
          g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_STORAGE,
                       "storage has no entry at %" G_GUINT64_FORMAT " (last index %" G_GUINT64_FORMAT ")",
                       next, last);
          return FALSE;
        }
      for (guint i = 0; i < ents->len; i++)
        {
          NcRaftEntry *e = g_ptr_array_index (ents, i);
          if (e->index != next)
            {
              g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_STORAGE,
                           "storage returned index %" G_GUINT64_FORMAT " for %" G_GUINT64_FORMAT,
                           e->index, next);
              return FALSE;
            }
          if (e->type == NC_RAFT_ENTRY_CONF_CHANGE)
            note_conf_entry (r, e);
          next++;
        }
    }
  return TRUE;
}

NcRaft *
nc_raft_new (const NcRaftConfig *cfg, const NcRaftPersistent *restored, GError **error)
{
  if (cfg == NULL || cfg->struct_size < sizeof (NcRaftConfig) || cfg->id == NULL || cfg->id[0] == '\0'
      || cfg->storage == NULL || cfg->storage->struct_size < sizeof (NcRaftStorage)
      || cfg->storage->last_index == NULL || cfg->storage->term_at == NULL || cfg->storage->entries == NULL)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID,
                   "raft: config needs struct_size, a node id and a complete storage vtable");
      return NULL;
    }
  if (cfg->election_ticks_min == 0 || cfg->election_ticks_max < cfg->election_ticks_min
      || cfg->heartbeat_ticks == 0 || cfg->heartbeat_ticks >= cfg->election_ticks_min)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID,
                   "raft: need 0 < heartbeat ticks (%u) < election ticks min (%u) <= max (%u)",
                   cfg->heartbeat_ticks, cfg->election_ticks_min, cfg->election_ticks_max);
      return NULL;
    }
  if (restored == NULL || restored->membership == NULL)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "raft: restored state needs a membership");
      return NULL;
    }
  g_autoptr (NcRaft) r = g_new0 (NcRaft, 1);
  r->id = g_strdup (cfg->id);
  r->cfg = *cfg;
  r->cfg.id = r->id;
  if (r->cfg.max_entries_per_append == 0)
    r->cfg.max_entries_per_append = 64;
  if (r->cfg.max_bytes_per_append == 0)
    r->cfg.max_bytes_per_append = 1024 * 1024;
  if (r->cfg.max_inflight == 0)
    r->cfg.max_inflight = 64;
  r->st = cfg->storage;
  r->st_data = cfg->storage_data;
  r->rng = cfg->seed ^ g_str_hash (cfg->id) * 0x9E3779B97F4A7C15ull;
  r->confs = g_ptr_array_new_with_free_func (conf_entry_free);
  r->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
  r->msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_msg_free);
  r->read_states = g_ptr_array_new_with_free_func (read_state_free);
  r->votes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  r->progress = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, progress_free);
  g_queue_init (&r->reads);
  r->snap_conf = nc_raft_membership_copy (restored->membership);
  r->snap_index = restored->snapshot_index;
  r->snap_term = restored->snapshot_term;

  guint64 st_last = r->st->last_index (r->st_data);
  if (st_last < r->snap_index)
    st_last = r->snap_index;
  guint64 lt = 0;
  if (st_last != restored->last_index || !term_at (r, st_last, &lt) || lt != restored->last_term)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_STORAGE,
                   "raft: restored last index/term %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
                   " but the storage ends at %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                   restored->last_index, restored->last_term, st_last, lt);
      return NULL;
    }
  if (!scan_confs (r, st_last, error))
    return NULL;
  r->term = restored->term;
  r->vote = g_strdup (restored->vote);
  r->commit = CLAMP (restored->commit, r->snap_index, st_last);
  r->durable = st_last;
  r->applied = CLAMP (restored->applied, r->snap_index, r->commit);
  r->role = NC_RAFT_FOLLOWER;
  reset_randomized_timeout (r);
  r->hs_term = r->term;
  r->hs_vote = g_strdup (r->vote);
  r->hs_commit = r->commit;
  r->durable_term = r->term;
  r->durable_vote = g_strdup (r->vote);
  r->history = restored->history > NC_RAFT_HISTORY_FORMED ? NC_RAFT_HISTORY_FORMED : restored->history;
  r->hs_history = r->history;
  r->ss_role = NC_RAFT_FOLLOWER;
  r->ss_term = r->term;
  return g_steal_pointer (&r);
}

void
nc_raft_free (NcRaft *r)
{
  if (r == NULL)
    return;
  clear_reads (r);
  g_free (r->id);
  g_free (r->vote);
  g_free (r->leader);
  nc_raft_membership_free (r->snap_conf);
  if (r->confs)
    g_ptr_array_unref (r->confs);
  if (r->pending)
    g_ptr_array_unref (r->pending);
  if (r->snapshot_out)
    {
      nc_raft_membership_free (r->snapshot_out->membership);
      g_free (r->snapshot_out);
    }
  if (r->votes)
    g_hash_table_unref (r->votes);
  if (r->progress)
    g_hash_table_unref (r->progress);
  g_free (r->transfer_target);
  if (r->msgs)
    g_ptr_array_unref (r->msgs);
  if (r->read_states)
    g_ptr_array_unref (r->read_states);
  g_free (r->hs_vote);
  g_free (r->ss_leader);
  g_free (r->durable_vote);
  g_free (r);
}

/* ---------------------------------------------------------------- status */

NcRaftRole nc_raft_role (NcRaft *r) { return r->role; }
guint64 nc_raft_term (NcRaft *r) { return r->term; }
const char *nc_raft_id (NcRaft *r) { return r->id; }
const char *nc_raft_leader (NcRaft *r) { return r->leader; }
const char *nc_raft_vote (NcRaft *r) { return r->vote; }
guint64 nc_raft_commit_index (NcRaft *r) { return r->commit; }
guint64 nc_raft_applied_index (NcRaft *r) { return r->applied; }
guint64 nc_raft_durable_index (NcRaft *r) { return r->durable; }
guint64 nc_raft_first_index (NcRaft *r) { return r->snap_index + 1; }
guint64 nc_raft_last_index (NcRaft *r) { return last_index (r); }
guint64 nc_raft_log_term (NcRaft *r, guint64 index) { return term_or_zero (r, index); }
const NcRaftMembership *nc_raft_membership (NcRaft *r) { return current_conf (r); }
const NcRaftMembership *nc_raft_snapshot_membership (NcRaft *r) { return r->snap_conf; }
NcRaftHistory nc_raft_history (NcRaft *r) { return r->history; }
const char *nc_raft_transfer_target (NcRaft *r) { return r->transfer_target; }

gboolean
nc_raft_peer_match (NcRaft *r, const char *peer, guint64 *match)
{
  if (r->role != NC_RAFT_LEADER)
    return FALSE;
  Progress *pr = g_hash_table_lookup (r->progress, peer);
  if (pr == NULL)
    return FALSE;
  *match = pr->match;
  return TRUE;
}
