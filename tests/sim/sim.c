/* The deterministic Raft simulator. Everything that happens is driven by one
 * seeded generator and a virtual clock, so a seed replays exactly. */
#define G_LOG_DOMAIN "nornicdb-sim"

#include "sim.h"
#include "lin.h"

#include <stdio.h>
#include <string.h>

#define CLIENTS 3
#define OP_TIMEOUT 80
#define MAX_HISTORY 480

typedef struct {
  /* durable hard state */
  guint64 hs_term;
  char *hs_vote;
  guint64 hs_commit;
  NcRaftHistory hs_history;
  /* durable snapshot */
  guint64 snap_index, snap_term, snap_value, snap_chain;
  NcRaftMembership *snap_conf;
  /* log after the snapshot; entries beyond `durable` are lost by a crash */
  GPtrArray *log;  /* NcRaftEntry* */
  GArray *chains;  /* guint64 per entry: hash of the whole prefix */
  guint64 durable;
} Disk;

typedef struct {
  guint64 at, index, term;
} Sync;

typedef struct {
  Sim *sim;
  guint idx;
  char id[16];
  gboolean up;
  guint incarnation;
  NcRaft *raft;
  Disk disk;
  GQueue syncs;
  guint64 sm_value, sm_applied;
  guint64 commit_seen;
  guint64 restart_at;
  gboolean has_in_snap;
  guint64 in_snap_index, in_snap_term, in_snap_value, in_snap_chain;
  NcRaftRole last_role;
  guint reads_seen;
  guint64 last_read_index;
} Node;

typedef struct {
  guint64 at, seq;
  guint from, to;
  NcRaftMsg *msg;
} Flight;

typedef struct {
  guint node, incarnation;
  char *peer;
  gboolean success;
} SnapReport;

typedef struct {
  guint64 term, chain;
} Committed;

typedef struct {
  LinOp op;
  gboolean void_; /* definitely did not happen: left out of the history */
} HistOp;

typedef struct {
  gboolean busy;
  LinKind kind;
  guint node, incarnation;
  guint64 value, index, term, ctx;
  gboolean read_ready;
  guint64 read_index;
  guint64 deadline;
  guint hist;
  gint leader_guess;
} Client;

struct _Sim {
  SimOptions o;
  guint64 rng;
  guint64 now;
  guint64 seq;
  guint n;
  Node nodes[SIM_MAX_NODES];
  NcRaftMembership *bootstrap;
  NcRaftStorage storage;
  gboolean blocked[SIM_MAX_NODES][SIM_MAX_NODES];
  guint64 heal_at;
  GPtrArray *flights;
  GArray *snap_reports;
  GString *failure;
  /* checkers */
  GHashTable *entry_chain;  /* "index:term" -> chain */
  GArray *committed;        /* Committed, by index */
  GHashTable *leaders;      /* term -> id */
  GHashTable *values_applied;
  /* workload */
  Client clients[CLIENTS];
  GArray *history;          /* HistOp */
  guint64 next_value;
  guint64 next_ctx;
  guint ops_ok;
  SimFilter filter;
  gpointer filter_data;
  SimObserver observer;
  gpointer observer_data;
};

/* ----------------------------------------------------------------- rng */

static guint64
mix64 (guint64 z)
{
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static guint64
rnd (Sim *sim)
{
  sim->rng += 0x9E3779B97F4A7C15ull;
  return mix64 (sim->rng);
}

static guint
rnd_below (Sim *sim, guint n)
{
  return n == 0 ? 0 : (guint) (rnd (sim) % n);
}

static gboolean
chance (Sim *sim, guint per_mille)
{
  return rnd_below (sim, 1000) < per_mille;
}

/* ------------------------------------------------------------- failures */

static void G_GNUC_PRINTF (2, 3)
fail (Sim *sim, const char *fmt, ...)
{
  if (sim->failure->len > 0)
    return;
  va_list ap;
  va_start (ap, fmt);
  g_string_append_printf (sim->failure, "tick %" G_GUINT64_FORMAT ": ", sim->now);
  g_string_append_vprintf (sim->failure, fmt, ap);
  va_end (ap);
  if (sim->o.verbose)
    fprintf (stderr, "[%6" G_GUINT64_FORMAT "] VIOLATION %s\n", sim->now, sim->failure->str);
}

static void G_GNUC_PRINTF (2, 3)
vlog (Sim *sim, const char *fmt, ...)
{
  if (!sim->o.verbose)
    return;
  va_list ap;
  va_start (ap, fmt);
  fprintf (stderr, "[%6" G_GUINT64_FORMAT "] ", sim->now);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
  va_end (ap);
}

const char *
sim_failure (Sim *sim)
{
  return sim->failure->len ? sim->failure->str : NULL;
}

guint64
sim_now (Sim *sim)
{
  return sim->now;
}

/* ------------------------------------------------------------ storage */

static guint64
disk_last (const Disk *d)
{
  return d->snap_index + d->log->len;
}

static guint64
st_last_index (gpointer data)
{
  return disk_last (&((Node *) data)->disk);
}

static gboolean
disk_term_at (const Disk *d, guint64 index, guint64 *term)
{
  if (index == d->snap_index)
    {
      *term = d->snap_term;
      return TRUE;
    }
  if (index < d->snap_index || index > disk_last (d))
    return FALSE;
  *term = ((NcRaftEntry *) g_ptr_array_index (d->log, index - d->snap_index - 1))->term;
  return TRUE;
}

static gboolean
st_term_at (gpointer data, guint64 index, guint64 *term)
{
  return disk_term_at (&((Node *) data)->disk, index, term);
}

static GPtrArray *
st_entries (gpointer data, guint64 from, guint max_count, gsize max_bytes)
{
  Disk *d = &((Node *) data)->disk;
  if (from <= d->snap_index || from > disk_last (d))
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
  gsize bytes = 0;
  for (guint64 i = from; i <= disk_last (d) && out->len < max_count; i++)
    {
      NcRaftEntry *e = g_ptr_array_index (d->log, i - d->snap_index - 1);
      gsize sz = nc_raft_entry_size (e);
      if (out->len > 0 && bytes + sz > max_bytes)
        break;
      bytes += sz;
      g_ptr_array_add (out, nc_raft_entry_ref (e));
    }
  return out;
}

static guint64
disk_chain_at (const Disk *d, guint64 index)
{
  if (index == d->snap_index)
    return d->snap_chain;
  if (index < d->snap_index || index > disk_last (d))
    return 0;
  return g_array_index (d->chains, guint64, index - d->snap_index - 1);
}

static guint64
entry_chain (guint64 prev, const NcRaftEntry *e)
{
  guint64 h = 0xcbf29ce484222325ull;
  if (e->data)
    {
      gsize n;
      const guint8 *p = g_bytes_get_data (e->data, &n);
      for (gsize i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001B3ull;
    }
  return mix64 (prev ^ mix64 (e->index * 31 + e->term) ^ mix64 (h + e->type));
}

/* ------------------------------------------------------------- values */

static GBytes *
value_bytes (guint64 v)
{
  guint8 b[8];
  for (int i = 0; i < 8; i++)
    b[i] = v >> (8 * i);
  return g_bytes_new (b, 8);
}

static guint64
bytes_value (GBytes *bytes, gsize off)
{
  gsize n = 0;
  const guint8 *p = bytes ? g_bytes_get_data (bytes, &n) : NULL;
  guint64 v = 0;
  if (n < off + 8)
    return 0;
  for (int i = 0; i < 8; i++)
    v |= (guint64) p[off + i] << (8 * i);
  return v;
}

/* ------------------------------------------------------------ checkers */

static void
check_append (Sim *sim, Node *n, const NcRaftEntry *e, guint64 chain)
{
  g_autofree char *key = g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, e->index, e->term);
  gpointer old = g_hash_table_lookup (sim->entry_chain, key);
  if (old == NULL)
    {
      guint64 *v = g_new (guint64, 1);
      *v = chain;
      g_hash_table_insert (sim->entry_chain, g_steal_pointer (&key), v);
    }
  else if (*(guint64 *) old != chain)
    fail (sim, "log matching: %s holds entry %" G_GUINT64_FORMAT " (term %" G_GUINT64_FORMAT
          ") with a different content or prefix than another node", n->id, e->index, e->term);
}

static Committed *
committed_at (Sim *sim, guint64 index)
{
  if (index >= sim->committed->len)
    g_array_set_size (sim->committed, index + 64);
  return &g_array_index (sim->committed, Committed, index);
}

static void
check_applied (Sim *sim, Node *n, guint64 index, guint64 term, guint64 chain)
{
  Committed *c = committed_at (sim, index);
  if (c->chain == 0)
    {
      c->chain = chain;
      c->term = term;
    }
  else if (c->chain != chain)
    fail (sim, "state-machine safety: %s applied a different entry at index %" G_GUINT64_FORMAT
          " (term %" G_GUINT64_FORMAT ", first applied with term %" G_GUINT64_FORMAT ")",
          n->id, index, term, c->term);
}

static void
check_new_leader (Sim *sim, Node *n, guint64 term)
{
  const char *prev = g_hash_table_lookup (sim->leaders, &term);
  if (prev != NULL && strcmp (prev, n->id) != 0)
    fail (sim, "election safety: %s and %s are both leader in term %" G_GUINT64_FORMAT, prev, n->id, term);
  if (prev == NULL)
    {
      guint64 *k = g_new (guint64, 1);
      *k = term;
      g_hash_table_insert (sim->leaders, k, g_strdup (n->id));
    }
  /* leader completeness: every entry applied anywhere is in the new leader's log */
  guint64 first = nc_raft_first_index (n->raft);
  for (guint64 i = first; i < sim->committed->len; i++)
    {
      Committed *c = &g_array_index (sim->committed, Committed, i);
      if (c->chain == 0)
        continue;
      guint64 t = nc_raft_log_term (n->raft, i);
      if (t != c->term)
        {
          fail (sim, "leader completeness: %s became leader of term %" G_GUINT64_FORMAT
                " without committed entry %" G_GUINT64_FORMAT " (term %" G_GUINT64_FORMAT ", has %" G_GUINT64_FORMAT ")",
                n->id, term, i, c->term, t);
          return;
        }
    }
}

/* Persist-before-send: no message may reveal a term or vote that is not on
 * disk, and no acknowledgement may cover entries that are not durable. */
static void
check_outgoing (Sim *sim, Node *n, const NcRaftMsg *m)
{
  Disk *d = &n->disk;
  switch (m->type)
    {
    case NC_RAFT_MSG_PRE_VOTE_REQUEST:
    case NC_RAFT_MSG_PRE_VOTE_RESPONSE:
      return; /* carry the prospective term, which is never persisted */
    case NC_RAFT_MSG_VOTE_RESPONSE:
      if (!m->reject && (d->hs_term != m->term || g_strcmp0 (d->hs_vote, m->to) != 0))
        {
          fail (sim, "vote granted before persistence: %s granted its term-%" G_GUINT64_FORMAT
                " vote to %s but its disk says term %" G_GUINT64_FORMAT " vote %s",
                n->id, m->term, m->to, d->hs_term, d->hs_vote ? d->hs_vote : "(none)");
          return;
        }
      break;
    case NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE:
    case NC_RAFT_MSG_INSTALL_SNAPSHOT_RESPONSE:
      if (!m->reject && !m->heartbeat && m->log_index > MAX (d->durable, d->snap_index))
        fail (sim, "%s acknowledged index %" G_GUINT64_FORMAT " but only %" G_GUINT64_FORMAT " is durable",
              n->id, m->log_index, d->durable);
      break;
    default:
      break;
    }
  if (m->term > d->hs_term)
    fail (sim, "%s sent %s with term %" G_GUINT64_FORMAT " before persisting it (disk term %" G_GUINT64_FORMAT ")",
          n->id, nc_raft_msg_type_name (m->type), m->term, d->hs_term);
}

/* ------------------------------------------------------------- network */

static void
net_send (Sim *sim, Node *n, const NcRaftMsg *src)
{
  check_outgoing (sim, n, src);
  if (sim->observer)
    sim->observer (sim, src, sim->observer_data);
  gint to = sim_node_index (sim, src->to);
  NcRaftMsg *m = nc_raft_msg_copy (src);
  if (m->type == NC_RAFT_MSG_INSTALL_SNAPSHOT)
    {
      /* the glue streams the snapshot data; here one chunk carries it */
      if (n->disk.snap_index != m->snapshot_index)
        fail (sim, "%s: core asked to send snapshot %" G_GUINT64_FORMAT " but the disk has %" G_GUINT64_FORMAT,
              n->id, m->snapshot_index, n->disk.snap_index);
      guint8 b[16];
      for (int i = 0; i < 8; i++)
        {
          b[i] = n->disk.snap_value >> (8 * i);
          b[8 + i] = n->disk.snap_chain >> (8 * i);
        }
      m->chunk_offset = 0;
      m->chunk_data = g_bytes_new (b, 16);
      m->chunk_done = TRUE;
    }
  gboolean drop = to < 0 || sim->blocked[n->idx][to] || chance (sim, sim->o.drop_pct * 10)
                  || (sim->filter && !sim->filter (sim, m, sim->filter_data));
  if (drop)
    {
      if (m->type == NC_RAFT_MSG_INSTALL_SNAPSHOT)
        {
          SnapReport r = { n->idx, n->incarnation, g_strdup (m->to), FALSE };
          g_array_append_val (sim->snap_reports, r);
        }
      nc_raft_msg_free (m);
      return;
    }
  guint copies = chance (sim, sim->o.dup_pct * 10) ? 2 : 1;
  for (guint c = 0; c < copies; c++)
    {
      Flight *f = g_new0 (Flight, 1);
      f->at = sim->now + sim->o.delay_min + rnd_below (sim, sim->o.delay_max - sim->o.delay_min + 1);
      f->seq = sim->seq++;
      f->from = n->idx;
      f->to = (guint) to;
      f->msg = c == 0 ? m : nc_raft_msg_copy (m);
      g_ptr_array_add (sim->flights, f);
    }
}

static void
flight_free (gpointer p)
{
  Flight *f = p;
  nc_raft_msg_free (f->msg);
  g_free (f);
}

/* --------------------------------------------------------------- nodes */

static void client_on_read_state (Sim *sim, Node *n, const NcRaftReadState *rs);

static void
disk_truncate_after (Disk *d, guint64 index)
{
  if (index < d->snap_index)
    index = d->snap_index;
  if (index < disk_last (d))
    {
      g_ptr_array_set_size (d->log, index - d->snap_index);
      g_array_set_size (d->chains, index - d->snap_index);
    }
  if (d->durable > index)
    d->durable = index;
}

static void
install_snapshot (Sim *sim, Node *n, const NcRaftSnapshotMeta *meta)
{
  if (!n->has_in_snap || n->in_snap_index != meta->index || n->in_snap_term != meta->term)
    {
      fail (sim, "%s: core installs snapshot %" G_GUINT64_FORMAT " that never arrived", n->id, meta->index);
      return;
    }
  Committed *c = committed_at (sim, meta->index);
  if (c->chain != 0 && c->chain != n->in_snap_chain)
    fail (sim, "state-machine safety: snapshot at %" G_GUINT64_FORMAT " differs from applied history", meta->index);
  Disk *d = &n->disk;
  g_ptr_array_set_size (d->log, 0);
  g_array_set_size (d->chains, 0);
  d->snap_index = meta->index;
  d->snap_term = meta->term;
  d->snap_value = n->in_snap_value;
  d->snap_chain = n->in_snap_chain;
  nc_raft_membership_free (d->snap_conf);
  d->snap_conf = nc_raft_membership_copy (meta->membership);
  d->durable = meta->index;
  n->sm_value = n->in_snap_value;
  n->sm_applied = meta->index;
  n->has_in_snap = FALSE;
  g_queue_clear_full (&n->syncs, g_free);
  Sync *s = g_new0 (Sync, 1);
  s->at = sim->now;
  s->index = meta->index;
  s->term = meta->term;
  g_queue_push_tail (&n->syncs, s);
  vlog (sim, "%s installed snapshot %" G_GUINT64_FORMAT, n->id, meta->index);
}

static void
apply_entries (Sim *sim, Node *n, GPtrArray *committed)
{
  for (guint i = 0; i < committed->len; i++)
    {
      NcRaftEntry *e = g_ptr_array_index (committed, i);
      if (e->index != n->sm_applied + 1)
        {
          fail (sim, "%s: applied index %" G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT, n->id, e->index,
                n->sm_applied);
          return;
        }
      guint64 t;
      if (!disk_term_at (&n->disk, e->index, &t) || t != e->term)
        {
          fail (sim, "%s: applied entry %" G_GUINT64_FORMAT " is not in its log", n->id, e->index);
          return;
        }
      if (e->index > n->disk.durable)
        fail (sim, "%s: applied entry %" G_GUINT64_FORMAT " before it was durable", n->id, e->index);
      check_applied (sim, n, e->index, e->term, disk_chain_at (&n->disk, e->index));
      n->sm_applied = e->index;
      if (e->type == NC_RAFT_ENTRY_NORMAL)
        {
          n->sm_value = bytes_value (e->data, 0);
          g_hash_table_add (sim->values_applied, GSIZE_TO_POINTER (n->sm_value));
        }
    }
}

static void
node_ready (Sim *sim, Node *n)
{
  for (guint guard = 0; guard < 64 && n->up && nc_raft_has_ready (n->raft); guard++)
    {
      NcRaftReady rd;
      if (!nc_raft_ready (n->raft, &rd))
        break;
      Disk *d = &n->disk;
      /* The mutant glue lets vote grants out before the vote is on disk. */
      if (sim->o.mutant_send_before_persist)
        for (guint i = 0; i < rd.messages->len; i++)
          if (((NcRaftMsg *) g_ptr_array_index (rd.messages, i))->type == NC_RAFT_MSG_VOTE_RESPONSE)
            net_send (sim, n, g_ptr_array_index (rd.messages, i));
      if (rd.has_hard_state)
        {
          d->hs_term = rd.hard_state.term;
          g_free (d->hs_vote);
          d->hs_vote = g_strdup (rd.hard_state.vote);
          d->hs_commit = rd.hard_state.commit;
          d->hs_history = rd.hard_state.history;
          nc_raft_hard_state_persisted (n->raft, rd.hard_state.term, rd.hard_state.vote);
        }
      if (rd.snapshot)
        install_snapshot (sim, n, rd.snapshot);
      if (rd.truncate)
        disk_truncate_after (d, rd.truncate_after);
      for (guint i = 0; i < rd.entries->len; i++)
        {
          NcRaftEntry *e = g_ptr_array_index (rd.entries, i);
          if (e->index != disk_last (d) + 1)
            {
              fail (sim, "%s: Ready appends index %" G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT, n->id,
                    e->index, disk_last (d));
              break;
            }
          guint64 chain = entry_chain (disk_chain_at (d, e->index - 1), e);
          g_ptr_array_add (d->log, nc_raft_entry_ref (e));
          g_array_append_val (d->chains, chain);
          check_append (sim, n, e, chain);
        }
      if (rd.entries->len > 0)
        {
          Sync *s = g_new0 (Sync, 1);
          Sync *tail = g_queue_peek_tail (&n->syncs);
          s->at = sim->now + rnd_below (sim, sim->o.persist_delay_max + 1);
          if (tail && tail->at > s->at)
            s->at = tail->at; /* one writer: completions in order */
          s->index = disk_last (d);
          disk_term_at (d, s->index, &s->term);
          g_queue_push_tail (&n->syncs, s);
        }
      for (guint i = 0; i < rd.messages->len; i++)
        if (!sim->o.mutant_send_before_persist
            || ((NcRaftMsg *) g_ptr_array_index (rd.messages, i))->type != NC_RAFT_MSG_VOTE_RESPONSE)
          net_send (sim, n, g_ptr_array_index (rd.messages, i));
      apply_entries (sim, n, rd.committed);
      for (guint i = 0; i < rd.read_states->len; i++)
        {
          NcRaftReadState *rs = g_ptr_array_index (rd.read_states, i);
          n->reads_seen++;
          n->last_read_index = rs->index;
          client_on_read_state (sim, n, rs);
        }
      if (rd.has_soft_state)
        {
          if (rd.role != n->last_role)
            vlog (sim, "%s is %s in term %" G_GUINT64_FORMAT " (leader %s)", n->id,
                  nc_raft_role_name (rd.role), rd.term, rd.leader ? rd.leader : "-");
          if (rd.role == NC_RAFT_LEADER && n->last_role != NC_RAFT_LEADER)
            check_new_leader (sim, n, rd.term);
          n->last_role = rd.role;
        }
      nc_raft_advance (n->raft, &rd);
      nc_raft_ready_clear (&rd);
    }
}

void
sim_process_ready (Sim *sim, guint node)
{
  node_ready (sim, &sim->nodes[node]);
}

static void
node_start (Sim *sim, Node *n)
{
  Disk *d = &n->disk;
  NcRaftConfig cfg = {
    .struct_size = sizeof cfg,
    .id = n->id,
    .election_ticks_min = sim->o.election_min,
    .election_ticks_max = sim->o.election_max,
    .heartbeat_ticks = sim->o.heartbeat,
    .max_entries_per_append = sim->o.max_entries,
    .max_bytes_per_append = sim->o.max_bytes,
    .max_inflight = sim->o.max_inflight,
    .pre_vote = sim->o.pre_vote,
    .check_quorum = sim->o.check_quorum,
    .seed = sim->o.seed * 1000003 + n->incarnation,
    .storage = &sim->storage,
    .storage_data = n,
  };
  guint64 lt = 0;
  disk_term_at (d, disk_last (d), &lt);
  NcRaftPersistent p = {
    .term = d->hs_term,
    .vote = d->hs_vote,
    .commit = d->hs_commit,
    .applied = d->snap_index,
    .snapshot_index = d->snap_index,
    .snapshot_term = d->snap_term,
    .last_index = disk_last (d),
    .last_term = lt,
    .membership = d->snap_conf,
    .history = d->hs_history,
  };
  g_autoptr (GError) error = NULL;
  n->raft = nc_raft_new (&cfg, &p, &error);
  if (n->raft == NULL)
    {
      fail (sim, "%s: restart failed: %s", n->id, error->message);
      return;
    }
  n->up = TRUE;
  n->sm_value = d->snap_value;
  n->sm_applied = d->snap_index;
  n->commit_seen = nc_raft_commit_index (n->raft);
  if (n->commit_seen < d->hs_commit)
    fail (sim, "%s restarted with commit %" G_GUINT64_FORMAT " below its persisted %" G_GUINT64_FORMAT,
          n->id, n->commit_seen, d->hs_commit);
  n->last_role = NC_RAFT_FOLLOWER;
}

static void
node_init (Sim *sim, guint i, const NcRaftMembership *conf)
{
  Node *n = &sim->nodes[i];
  n->sim = sim;
  n->idx = i;
  g_snprintf (n->id, sizeof n->id, "n%u", i + 1);
  n->disk.log = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
  n->disk.chains = g_array_new (FALSE, FALSE, sizeof (guint64));
  n->disk.snap_conf = nc_raft_membership_copy (conf);
  g_queue_init (&n->syncs);
  node_start (sim, n);
}

void
sim_crash (Sim *sim, guint node)
{
  Node *n = &sim->nodes[node];
  if (!n->up)
    return;
  vlog (sim, "crash %s (durable log %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT ")", n->id,
        n->disk.durable, disk_last (&n->disk));
  g_clear_pointer (&n->raft, nc_raft_free);
  n->up = FALSE;
  n->incarnation++;
  disk_truncate_after (&n->disk, n->disk.durable);
  g_queue_clear_full (&n->syncs, g_free);
  n->has_in_snap = FALSE;
}

void
sim_restart (Sim *sim, guint node)
{
  Node *n = &sim->nodes[node];
  if (n->up)
    return;
  n->incarnation++;
  node_start (sim, n);
  n->restart_at = 0;
  vlog (sim, "restart %s (term %" G_GUINT64_FORMAT ", log %" G_GUINT64_FORMAT ", commit %" G_GUINT64_FORMAT ")",
        n->id, n->disk.hs_term, disk_last (&n->disk), n->commit_seen);
}

void
sim_wipe (Sim *sim, guint node)
{
  Node *n = &sim->nodes[node];
  sim_crash (sim, node);
  Disk *d = &n->disk;
  vlog (sim, "wipe %s (had term %" G_GUINT64_FORMAT ", log %" G_GUINT64_FORMAT ", history %s)", n->id,
        d->hs_term, disk_last (d), nc_raft_history_name (d->hs_history));
  d->hs_term = 0;
  g_clear_pointer (&d->hs_vote, g_free);
  d->hs_commit = 0;
  d->hs_history = sim->o.mutant_amnesiac_votes ? NC_RAFT_HISTORY_FORMED : NC_RAFT_HISTORY_NEW;
  d->snap_index = d->snap_term = d->snap_value = d->snap_chain = 0;
  /* The daemon's log starts with the bootstrap membership entry; the
   * simulated cluster's is implicit at index 0, so a wiped node is given
   * it (otherwise it could never learn that it is a voter without a
   * later conf change). It can then campaign at once, as a genesis
   * candidate, which FORMED nodes must refuse. */
  nc_raft_membership_free (d->snap_conf);
  d->snap_conf = nc_raft_membership_copy (sim->bootstrap);
  g_ptr_array_set_size (d->log, 0);
  g_array_set_size (d->chains, 0);
  d->durable = 0;
  n->commit_seen = 0;
  n->sm_value = 0;
  n->sm_applied = 0;
  for (guint i = 0; i < sim->flights->len;)
    {
      Flight *f = g_ptr_array_index (sim->flights, i);
      if (f->from == node)
        g_ptr_array_remove_index_fast (sim->flights, i);
      else
        i++;
    }
  sim_restart (sim, node);
}

NcRaftHistory
sim_disk_history (Sim *sim, guint node)
{
  return sim->nodes[node].disk.hs_history;
}

gint
sim_add_node (Sim *sim)
{
  if (sim->n >= SIM_MAX_NODES)
    return -1;
  g_autoptr (NcRaftMembership) empty = nc_raft_membership_new ();
  guint i = sim->n++;
  node_init (sim, i, empty);
  return (gint) i;
}

/* -------------------------------------------------------------- workload */

static HistOp *
hist (Sim *sim, guint i)
{
  return &g_array_index (sim->history, HistOp, i);
}

static void
client_finish (Sim *sim, Client *c, gboolean ok, guint64 read_value)
{
  HistOp *h = hist (sim, c->hist);
  if (c->kind == LIN_READ)
    {
      if (ok)
        {
          h->op.value = read_value;
          h->op.ret = sim->seq++;
          sim->ops_ok++;
        }
      else
        h->void_ = TRUE; /* a read without an answer has no effect */
    }
  else if (ok)
    {
      h->op.ret = sim->seq++;
      sim->ops_ok++;
    }
  /* a write with an unknown outcome stays pending forever */
  c->busy = FALSE;
}

static void
client_on_read_state (Sim *sim, Node *n, const NcRaftReadState *rs)
{
  guint64 ctx = bytes_value (rs->context, 0);
  for (guint i = 0; i < CLIENTS; i++)
    {
      Client *c = &sim->clients[i];
      if (c->busy && c->kind == LIN_READ && c->node == n->idx && c->ctx == ctx && !c->read_ready)
        {
          c->read_ready = TRUE;
          c->read_index = rs->index;
        }
    }
}

static gint
pick_node (Sim *sim, Client *c)
{
  if (c->leader_guess >= 0 && sim->nodes[c->leader_guess].up && chance (sim, 800))
    return c->leader_guess;
  guint up[SIM_MAX_NODES], k = 0;
  for (guint i = 0; i < sim->n; i++)
    if (sim->nodes[i].up)
      up[k++] = i;
  return k ? (gint) up[rnd_below (sim, k)] : -1;
}

static void
note_leader_hint (Sim *sim, Client *c, Node *n)
{
  const char *l = nc_raft_leader (n->raft);
  c->leader_guess = l ? sim_node_index (sim, l) : -1;
}

static void
client_start (Sim *sim, Client *c, guint ci)
{
  if (sim->history->len >= MAX_HISTORY)
    return;
  gint node = pick_node (sim, c);
  if (node < 0)
    return;
  Node *n = &sim->nodes[node];
  HistOp h = { 0 };
  h.op.client = ci;
  h.op.ret = LIN_PENDING;
  if (chance (sim, 600))
    {
      guint64 v = sim->next_value++;
      g_autoptr (GBytes) b = value_bytes (v);
      guint64 idx;
      guint64 term = nc_raft_term (n->raft);
      if (!nc_raft_propose (n->raft, b, &idx, NULL))
        {
          note_leader_hint (sim, c, n);
          return;
        }
      c->leader_guess = node;
      h.op.kind = LIN_WRITE;
      h.op.value = v;
      h.op.invoke = sim->seq++;
      c->kind = LIN_WRITE;
      c->value = v;
      c->index = idx;
      c->term = term;
      vlog (sim, "client %u: write %" G_GUINT64_FORMAT " at %s index %" G_GUINT64_FORMAT, ci, v, n->id, idx);
    }
  else
    {
      guint64 ctx = sim->next_ctx++;
      g_autoptr (GBytes) b = value_bytes (ctx);
      if (!nc_raft_read_index (n->raft, b, NULL))
        {
          note_leader_hint (sim, c, n);
          return;
        }
      h.op.kind = LIN_READ;
      h.op.invoke = sim->seq++;
      c->kind = LIN_READ;
      c->ctx = ctx;
      c->read_ready = FALSE;
    }
  c->busy = TRUE;
  c->node = node;
  c->incarnation = n->incarnation;
  c->deadline = sim->now + OP_TIMEOUT;
  c->hist = sim->history->len;
  g_array_append_val (sim->history, h);
}

static void
client_tick (Sim *sim, guint ci, gboolean may_start)
{
  Client *c = &sim->clients[ci];
  if (!c->busy)
    {
      if (may_start && chance (sim, 300))
        client_start (sim, c, ci);
      return;
    }
  Node *n = &sim->nodes[c->node];
  if (!n->up || n->incarnation != c->incarnation || sim->now > c->deadline)
    {
      client_finish (sim, c, FALSE, 0);
      return;
    }
  if (c->kind == LIN_WRITE)
    {
      if (n->sm_applied >= c->index)
        {
          Committed *cm = committed_at (sim, c->index);
          if (cm->chain != 0 && cm->term == c->term)
            client_finish (sim, c, TRUE, 0);
          else
            {
              hist (sim, c->hist)->void_ = TRUE; /* overwritten: never took effect */
              c->busy = FALSE;
            }
        }
    }
  else if (c->read_ready && n->sm_applied >= c->read_index)
    client_finish (sim, c, TRUE, n->sm_value);
}

/* ---------------------------------------------------------------- faults */

static void
random_membership (Sim *sim)
{
  gint l = sim_leader (sim);
  if (l < 0)
    return;
  NcRaft *r = sim->nodes[l].raft;
  const NcRaftMembership *m = nc_raft_membership (r);
  guint i = rnd_below (sim, sim->n);
  /* No change while a voter is not FORMED (wiped, or still catching up in
   * the first elections): shrinking to an even split of FORMED and
   * not-FORMED voters would leave no quorum that can elect (the operator
   * rule in docs/raft-cluster.md). */
  for (guint j = 0; j < sim->n; j++)
    if (nc_raft_membership_is_voter (m, sim->nodes[j].id) && sim->nodes[j].disk.hs_history != NC_RAFT_HISTORY_FORMED)
      return;
  const char *id = sim->nodes[i].id;
  NcRaftConfChange cc = { .id = id };
  if (!nc_raft_membership_contains (m, id))
    {
      cc.type = NC_RAFT_CONF_ADD_LEARNER;
      cc.address = "sim";
    }
  else if (!nc_raft_membership_is_voter (m, id))
    cc.type = NC_RAFT_CONF_PROMOTE;
  else if (nc_raft_membership_n_voters (m) > 2)
    cc.type = NC_RAFT_CONF_REMOVE;
  else
    return;
  g_autoptr (GError) error = NULL;
  guint64 idx;
  if (nc_raft_propose_conf_change (r, &cc, &idx, &error))
    vlog (sim, "%s proposes %s %s at %" G_GUINT64_FORMAT, sim->nodes[l].id,
          cc.type == NC_RAFT_CONF_ADD_LEARNER ? "add-learner" : cc.type == NC_RAFT_CONF_PROMOTE ? "promote" : "remove",
          id, idx);
}

static void
random_faults (Sim *sim)
{
  guint n_up = 0;
  for (guint i = 0; i < sim->n; i++)
    {
      Node *n = &sim->nodes[i];
      n_up += n->up;
      if (!n->up && n->restart_at && sim->now >= n->restart_at)
        sim_restart (sim, i);
    }
  if (chance (sim, sim->o.crash_per_mille) && n_up > 0)
    {
      /* leaders are the interesting victims: half the crashes target one */
      gint l = sim_leader (sim);
      guint i = l >= 0 && chance (sim, 500) ? (guint) l : rnd_below (sim, sim->n);
      if (sim->nodes[i].up)
        {
          sim_crash (sim, i);
          sim->nodes[i].restart_at = sim->now + 10 + rnd_below (sim, 60);
        }
    }
  if (sim->o.wipe_per_mille && chance (sim, sim->o.wipe_per_mille))
    {
      guint victim = rnd_below (sim, sim->n);
      gboolean others_formed = TRUE;
      /* Only wipes Raft survives: every other node up, FORMED and seeing at
       * least 3 voters (with 2, the wiped one is half of them). Crashes and
       * partitions may follow at once. */
      for (guint i = 0; i < sim->n; i++)
        if (i != victim
            && (sim->nodes[i].disk.hs_history != NC_RAFT_HISTORY_FORMED || !sim->nodes[i].up
                || nc_raft_membership_n_voters (nc_raft_membership (sim->nodes[i].raft)) < 3))
          others_formed = FALSE;
      if (others_formed)
        sim_wipe (sim, victim);
    }
  if (sim->heal_at && sim->now >= sim->heal_at)
    {
      sim_heal (sim);
      vlog (sim, "heal");
    }
  if (chance (sim, 6) && !sim->heal_at)
    {
      guint side = 0;
      for (guint i = 0; i < sim->n; i++)
        side |= (rnd_below (sim, 2) << i);
      for (guint a = 0; a < sim->n; a++)
        for (guint b = 0; b < sim->n; b++)
          sim->blocked[a][b] = ((side >> a) & 1) != ((side >> b) & 1);
      sim->heal_at = sim->now + 20 + rnd_below (sim, 100);
      vlog (sim, "partition (sides %x)", side);
    }
  if (chance (sim, 3))
    {
      guint a = rnd_below (sim, sim->n), b = rnd_below (sim, sim->n);
      if (a != b)
        {
          sim->blocked[a][b] = TRUE;
          if (!sim->heal_at)
            sim->heal_at = sim->now + 20 + rnd_below (sim, 100);
          vlog (sim, "one-way link cut %s -> %s", sim->nodes[a].id, sim->nodes[b].id);
        }
    }
  if (sim->o.membership_changes && chance (sim, 10))
    random_membership (sim);
  if (sim->o.compact_every)
    for (guint i = 0; i < sim->n; i++)
      if (sim->nodes[i].up && chance (sim, 20)
          && sim->nodes[i].sm_applied >= sim->nodes[i].disk.snap_index + sim->o.compact_every)
        sim_compact (sim, i);
}

/* ----------------------------------------------------------------- step */

static gint
cmp_flight (gconstpointer a, gconstpointer b)
{
  const Flight *x = *(Flight * const *) a, *y = *(Flight * const *) b;
  if (x->at != y->at)
    return x->at < y->at ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

static void
deliver (Sim *sim)
{
  g_autoptr (GPtrArray) due = g_ptr_array_new_with_free_func (flight_free);
  for (guint i = 0; i < sim->flights->len;)
    {
      Flight *f = g_ptr_array_index (sim->flights, i);
      if (f->at <= sim->now)
        {
          g_ptr_array_add (due, g_ptr_array_steal_index_fast (sim->flights, i));
          continue;
        }
      i++;
    }
  g_ptr_array_sort (due, cmp_flight);
  for (guint i = 0; i < due->len; i++)
    {
      Flight *f = g_ptr_array_index (due, i);
      Node *to = &sim->nodes[f->to];
      gboolean ok = to->up && !sim->blocked[f->from][f->to];
      if (f->msg->type == NC_RAFT_MSG_INSTALL_SNAPSHOT)
        {
          Node *from = &sim->nodes[f->from];
          SnapReport r = { f->from, from->incarnation, g_strdup (f->msg->to), ok };
          g_array_append_val (sim->snap_reports, r);
          if (ok)
            {
              to->has_in_snap = TRUE;
              to->in_snap_index = f->msg->snapshot_index;
              to->in_snap_term = f->msg->snapshot_term;
              to->in_snap_value = bytes_value (f->msg->chunk_data, 0);
              to->in_snap_chain = bytes_value (f->msg->chunk_data, 8);
            }
        }
      if (!ok)
        continue;
      nc_raft_step (to->raft, f->msg);
      node_ready (sim, to);
    }
}

static void
process_snap_reports (Sim *sim)
{
  /* reporting may produce new reports: take the current batch */
  g_autoptr (GArray) batch = sim->snap_reports;
  sim->snap_reports = g_array_new (FALSE, FALSE, sizeof (SnapReport));
  for (guint i = 0; i < batch->len; i++)
    {
      SnapReport *r = &g_array_index (batch, SnapReport, i);
      Node *n = &sim->nodes[r->node];
      if (n->up && n->incarnation == r->incarnation)
        {
          nc_raft_snapshot_done (n->raft, r->peer, r->success);
          node_ready (sim, n);
        }
      g_free (r->peer);
    }
}

static void
process_syncs (Sim *sim)
{
  for (guint i = 0; i < sim->n; i++)
    {
      Node *n = &sim->nodes[i];
      Sync *s;
      while (n->up && (s = g_queue_peek_head (&n->syncs)) != NULL && s->at <= sim->now)
        {
          g_queue_pop_head (&n->syncs);
          guint64 t;
          if (s->index > n->disk.durable && disk_term_at (&n->disk, s->index, &t) && t == s->term)
            n->disk.durable = s->index;
          if (s->index <= n->disk.durable)
            nc_raft_persisted (n->raft, s->index, s->term);
          g_free (s);
          node_ready (sim, n);
        }
    }
}

static void
check_commit_monotonic (Sim *sim)
{
  for (guint i = 0; i < sim->n; i++)
    {
      Node *n = &sim->nodes[i];
      if (!n->up)
        continue;
      guint64 c = nc_raft_commit_index (n->raft);
      if (c < n->commit_seen)
        fail (sim, "%s: commit index went back from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT,
              n->id, n->commit_seen, c);
      n->commit_seen = c;
    }
}

void
sim_step (Sim *sim)
{
  sim->now++;
  for (guint i = 0; i < sim->n; i++)
    if (sim->nodes[i].up)
      {
        nc_raft_tick (sim->nodes[i].raft);
        node_ready (sim, &sim->nodes[i]);
      }
  deliver (sim);
  process_snap_reports (sim);
  process_syncs (sim);
  if (sim->o.random_faults)
    random_faults (sim);
  for (guint i = 0; i < CLIENTS; i++)
    client_tick (sim, i, sim->o.workload);
  for (guint i = 0; i < sim->n; i++)
    if (sim->nodes[i].up)
      node_ready (sim, &sim->nodes[i]);
  check_commit_monotonic (sim);
}

void
sim_run (Sim *sim, guint ticks)
{
  for (guint i = 0; i < ticks && sim->failure->len == 0; i++)
    sim_step (sim);
}

gboolean
sim_run_until (Sim *sim, guint max_ticks, SimPredicate pred, gpointer data)
{
  for (guint i = 0; i < max_ticks && sim->failure->len == 0; i++)
    {
      if (pred (sim, data))
        return TRUE;
      sim_step (sim);
    }
  return pred (sim, data);
}

/* ------------------------------------------------------------- control */

void
sim_options_default (SimOptions *o, guint n_nodes, guint64 seed)
{
  memset (o, 0, sizeof *o);
  o->n_nodes = n_nodes;
  o->seed = seed;
  o->pre_vote = TRUE;
  o->check_quorum = TRUE;
  o->election_min = 10;
  o->election_max = 20;
  o->heartbeat = 3;
  o->max_entries = 4;
  o->max_bytes = 4096;
  o->max_inflight = 4;
  o->delay_min = 1;
  o->delay_max = 3;
  o->persist_delay_max = 2;
  o->crash_per_mille = 5;
}

Sim *
sim_new (const SimOptions *o)
{
  Sim *sim = g_new0 (Sim, 1);
  sim->o = *o;
  if (sim->o.delay_max < sim->o.delay_min)
    sim->o.delay_max = sim->o.delay_min;
  sim->rng = mix64 (o->seed + 0x5EED);
  sim->failure = g_string_new (NULL);
  sim->flights = g_ptr_array_new_with_free_func (flight_free);
  sim->snap_reports = g_array_new (FALSE, FALSE, sizeof (SnapReport));
  sim->entry_chain = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  sim->committed = g_array_new (FALSE, TRUE, sizeof (Committed));
  sim->leaders = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  sim->values_applied = g_hash_table_new (NULL, NULL);
  sim->history = g_array_new (FALSE, TRUE, sizeof (HistOp));
  sim->next_value = 1;
  sim->next_ctx = 1;
  sim->storage = (NcRaftStorage) {
    .struct_size = sizeof (NcRaftStorage),
    .last_index = st_last_index,
    .term_at = st_term_at,
    .entries = st_entries,
  };
  for (guint i = 0; i < CLIENTS; i++)
    sim->clients[i].leader_guess = -1;
  sim->bootstrap = nc_raft_membership_new ();
  sim->n = MIN (o->n_nodes, SIM_MAX_NODES);
  for (guint i = 0; i < sim->n; i++)
    {
      char id[16], addr[32];
      g_snprintf (id, sizeof id, "n%u", i + 1);
      g_snprintf (addr, sizeof addr, "127.0.0.%u:7688", 11 + i);
      nc_raft_membership_set (sim->bootstrap, id, addr, TRUE);
    }
  for (guint i = 0; i < sim->n; i++)
    node_init (sim, i, sim->bootstrap);
  return sim;
}

void
sim_free (Sim *sim)
{
  if (sim == NULL)
    return;
  for (guint i = 0; i < sim->n; i++)
    {
      Node *n = &sim->nodes[i];
      g_clear_pointer (&n->raft, nc_raft_free);
      g_ptr_array_unref (n->disk.log);
      g_array_unref (n->disk.chains);
      g_free (n->disk.hs_vote);
      nc_raft_membership_free (n->disk.snap_conf);
      g_queue_clear_full (&n->syncs, g_free);
    }
  nc_raft_membership_free (sim->bootstrap);
  g_ptr_array_unref (sim->flights);
  for (guint i = 0; i < sim->snap_reports->len; i++)
    g_free (g_array_index (sim->snap_reports, SnapReport, i).peer);
  g_array_unref (sim->snap_reports);
  g_hash_table_unref (sim->entry_chain);
  g_array_unref (sim->committed);
  g_hash_table_unref (sim->leaders);
  g_hash_table_unref (sim->values_applied);
  g_array_unref (sim->history);
  g_string_free (sim->failure, TRUE);
  g_free (sim);
}

guint sim_n_nodes (Sim *sim) { return sim->n; }
const char *sim_node_id (Sim *sim, guint node) { return sim->nodes[node].id; }
NcRaft *sim_raft (Sim *sim, guint node) { return sim->nodes[node].up ? sim->nodes[node].raft : NULL; }
gboolean sim_is_up (Sim *sim, guint node) { return sim->nodes[node].up; }
guint64 sim_value (Sim *sim, guint node) { return sim->nodes[node].sm_value; }
guint64 sim_applied (Sim *sim, guint node) { return sim->nodes[node].sm_applied; }
guint sim_history_size (Sim *sim) { return sim->history->len; }

guint
sim_read_states_seen (Sim *sim, guint node, guint64 *last_index)
{
  if (last_index)
    *last_index = sim->nodes[node].last_read_index;
  return sim->nodes[node].reads_seen;
}
guint sim_ops_ok (Sim *sim) { return sim->ops_ok; }

guint64
sim_committed_term (Sim *sim, guint64 index)
{
  return index < sim->committed->len ? g_array_index (sim->committed, Committed, index).term : 0;
}

gboolean
sim_value_applied (Sim *sim, guint64 value)
{
  return g_hash_table_contains (sim->values_applied, GSIZE_TO_POINTER (value));
}

gint
sim_node_index (Sim *sim, const char *id)
{
  for (guint i = 0; i < sim->n; i++)
    if (g_strcmp0 (sim->nodes[i].id, id) == 0)
      return (gint) i;
  return -1;
}

void
sim_block (Sim *sim, guint from, guint to, gboolean blocked)
{
  sim->blocked[from][to] = blocked;
}

void
sim_isolate (Sim *sim, guint node)
{
  for (guint i = 0; i < SIM_MAX_NODES; i++)
    if (i != node)
      sim->blocked[node][i] = sim->blocked[i][node] = TRUE;
}

void
sim_heal (Sim *sim)
{
  memset (sim->blocked, 0, sizeof sim->blocked);
  sim->heal_at = 0;
}

void
sim_set_filter (Sim *sim, SimFilter filter, gpointer data)
{
  sim->filter = filter;
  sim->filter_data = data;
}

void
sim_set_observer (Sim *sim, SimObserver observer, gpointer data)
{
  sim->observer = observer;
  sim->observer_data = data;
}

void
sim_force_campaign (Sim *sim, guint node)
{
  Node *n = &sim->nodes[node];
  if (!n->up)
    return;
  NcRaftMsg m = {
    .type = NC_RAFT_MSG_TIMEOUT_NOW,
    .term = nc_raft_term (n->raft),
    .from = (char *) "sim-test",
    .to = n->id,
  };
  nc_raft_step (n->raft, &m);
  node_ready (sim, n);
}

gint
sim_leader (Sim *sim)
{
  gint best = -1;
  guint64 best_term = 0;
  for (guint i = 0; i < sim->n; i++)
    {
      Node *n = &sim->nodes[i];
      if (n->up && nc_raft_role (n->raft) == NC_RAFT_LEADER && nc_raft_term (n->raft) >= best_term)
        {
          best = (gint) i;
          best_term = nc_raft_term (n->raft);
        }
    }
  return best;
}

gboolean
sim_propose (Sim *sim, guint node, guint64 value, guint64 *index, GError **error)
{
  Node *n = &sim->nodes[node];
  if (!n->up)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_NOT_LEADER, "%s is down", n->id);
      return FALSE;
    }
  g_autoptr (GBytes) b = value_bytes (value);
  return nc_raft_propose (n->raft, b, index, error);
}

gboolean
sim_compact (Sim *sim, guint node)
{
  Node *n = &sim->nodes[node];
  guint64 idx = n->sm_applied;
  if (!n->up || idx <= n->disk.snap_index)
    return FALSE;
  g_autoptr (GError) error = NULL;
  if (!nc_raft_compact (n->raft, idx, &error))
    {
      fail (sim, "%s: compact at %" G_GUINT64_FORMAT " failed: %s", n->id, idx, error->message);
      return FALSE;
    }
  Disk *d = &n->disk;
  guint64 t = 0;
  disk_term_at (d, idx, &t);
  guint64 chain = disk_chain_at (d, idx);
  guint drop = idx - d->snap_index;
  g_ptr_array_remove_range (d->log, 0, drop);
  g_array_remove_range (d->chains, 0, drop);
  d->snap_index = idx;
  d->snap_term = t;
  d->snap_chain = chain;
  d->snap_value = n->sm_value;
  nc_raft_membership_free (d->snap_conf);
  d->snap_conf = nc_raft_membership_copy (nc_raft_snapshot_membership (n->raft));
  vlog (sim, "%s compacted to %" G_GUINT64_FORMAT, n->id, idx);
  return TRUE;
}

/* -------------------------------------------------------- settle & check */

static gboolean
converged (Sim *sim, gpointer data)
{
  gint l = sim_leader (sim);
  if (l < 0)
    return FALSE;
  NcRaft *lr = sim->nodes[l].raft;
  guint64 commit = nc_raft_commit_index (lr);
  if (commit < nc_raft_last_index (lr))
    return FALSE;
  const NcRaftMembership *m = nc_raft_membership (lr);
  for (guint i = 0; i < sim->n; i++)
    {
      Node *n = &sim->nodes[i];
      if (!nc_raft_membership_contains (m, n->id))
        continue;
      if (!n->up || n->sm_applied != commit)
        return FALSE;
    }
  for (guint i = 0; i < CLIENTS; i++)
    if (sim->clients[i].busy)
      return FALSE;
  return TRUE;
}

gboolean
sim_settle (Sim *sim, guint max_ticks)
{
  sim->o.random_faults = FALSE;
  sim->o.workload = FALSE;
  sim->o.drop_pct = 0;
  sim->o.dup_pct = 0;
  sim_heal (sim);
  for (guint i = 0; i < sim->n; i++)
    sim_restart (sim, i);
  if (sim_run_until (sim, max_ticks, converged, NULL))
    return TRUE;
  if (sim->failure->len == 0)
    {
      gint l = sim_leader (sim);
      fail (sim, "liveness: no convergence %u ticks after healing (leader %s)", max_ticks,
            l >= 0 ? sim->nodes[l].id : "none");
    }
  return FALSE;
}

gboolean
sim_check_linearizable (Sim *sim, gboolean *inconclusive)
{
  g_autoptr (GArray) ops = g_array_new (FALSE, FALSE, sizeof (LinOp));
  for (guint i = 0; i < sim->history->len; i++)
    if (!hist (sim, i)->void_)
      g_array_append_val (ops, hist (sim, i)->op);
  guint explored = 0;
  LinResult r = lin_check_register ((LinOp *) ops->data, ops->len, 0, 300000, &explored);
  *inconclusive = r == LIN_INCONCLUSIVE;
  if (r == LIN_VIOLATION)
    {
      fail (sim, "linearizability: no linearization of %u operations exists (%u states explored)",
            ops->len, explored);
      if (sim->o.verbose)
        for (guint i = 0; i < ops->len; i++)
          {
            LinOp *op = &g_array_index (ops, LinOp, i);
            fprintf (stderr, "  client %u %s %" G_GUINT64_FORMAT " [%" G_GUINT64_FORMAT ", %s%" G_GUINT64_FORMAT "]\n",
                     op->client, op->kind == LIN_WRITE ? "write" : "read ", op->value, op->invoke,
                     op->ret == LIN_PENDING ? "pending " : "", op->ret == LIN_PENDING ? 0 : op->ret);
          }
      return FALSE;
    }
  return TRUE;
}
