/* ha_standby.so: two nodes, one primary that accepts writes and one hot
 * standby that receives the primary's WAL over the cluster protocol and
 * serves reads (docs/hot-standby.md).
 *
 * Primary: submit() appends to the local WAL with the current epoch as the
 * term; the main loop streams WAL records to the standby in WALBatch frames
 * from the standby's acknowledged position. A commit completes per sync mode
 * (async: local fsync; semi_sync: plus the standby's receipt; sync: plus the
 * standby's fsync). Standby: appends received records, acknowledges receipt
 * at once and durability when its fsync completes, applies durable records.
 *
 * Epochs fence split brain: the epoch rises (and is persisted) on every
 * promotion, travels in every replication message, and a node that learns of
 * a higher epoch stops accepting writes at once and rejoins as standby,
 * dropping (and recording) the records the new primary does not have.
 *
 * Threads: submit() runs on query worker threads, WAL completions on the WAL
 * writer thread, everything else on the main loop. `lock` guards the shared
 * state; commit callbacks and WAL appends are made without it held. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "cluster-node.h"
#include "cluster-module-config.h"
#include "nornicdb/module.h"
#include "nornicdb/module-util.h"
#include "module-json.h"

#include "errors.h" /* the NcErrorCode values only */

/* The module may not link nc_error_quark(): the quark is looked up by the
 * name G_DEFINE_QUARK registered it under. */
#define HA_NC_ERROR (g_quark_from_static_string ("nc-error-quark"))
#define HA_NC_ERROR_NOT_A_LEADER NC_ERROR_NOT_A_LEADER
#define HA_NC_ERROR_LEADER_SWITCH NC_ERROR_LEADER_SWITCH
#define HA_NC_ERROR_UNAVAILABLE NC_ERROR_UNAVAILABLE

#define SNAPSHOT_CHUNK_BYTES (1024 * 1024)
#define SNAPSHOT_WINDOW 4
#define BATCH_MAX_BYTES (8 * 1024 * 1024)

typedef enum { SYNC_ASYNC, SYNC_SEMI, SYNC_SYNC } SyncMode;
static const char *const sync_names[] = { "async", "semi_sync", "sync" };

typedef struct {
  NornicModule *mod;
  guint64 index;
  NornicCommitCb cb;
  gpointer user_data;
  gboolean local_done;
  gboolean orphaned; /* completed early (step-down/stop): free when the WAL answers */
  GError *error;
} Pending;

typedef struct {
  guint64 index;
  gint64 written_us;
  gsize bytes;
} Unacked;

struct _NornicModule {
  const NornicCoreApi *api;
  GMutex lock;

  /* configuration */
  char *node_id;
  char *cluster_id;
  char *bolt_address;
  char *cluster_address;
  char *peer_address;
  SyncMode sync_mode;
  guint heartbeat_ms;
  gint64 failover_timeout_ms;
  gboolean auto_failover;
  guint batch_size;
  gint64 standby_timeout_ms;
  gboolean block_on_loss;

  NcClusterNode *node;
  guint tick_source;
  guint kick_source;
  gint64 started_us;

  /* role */
  NornicRole role; /* PRIMARY, STANDBY or FENCED */
  guint64 epoch;
  guint64 leader_changes;

  /* the peer */
  char *peer_id;
  char *peer_bolt;
  char *peer_role;
  gboolean peer_up;
  gint64 peer_heard_us;
  guint64 peer_epoch;

  /* primary side */
  GQueue pending;  /* Pending*, in index order */
  GQueue unacked;  /* Unacked*, records not yet acknowledged by the standby */
  gsize unacked_bytes;
  guint64 local_durable;
  gboolean peer_known;   /* we know where the standby's log matches ours */
  gboolean peer_truncate; /* next batch tells the standby to drop its tail */
  guint64 peer_next;
  guint64 peer_received;
  guint64 peer_persisted;
  guint64 peer_applied;
  gint64 standby_lost_since_us; /* 0: standby fine */
  gboolean degraded;
  gint64 last_heartbeat_us;
  guint64 bytes_replicated;
  /* snapshot being sent */
  char *snap_send_path;
  guint64 snap_send_index;
  guint64 snap_send_term;
  guint64 snap_send_size;
  guint64 snap_send_offset; /* next byte to send */
  guint64 snap_acked;

  /* standby side */
  gint64 primary_heard_us;
  guint64 primary_last_index;
  guint64 recv_index;
  guint64 durable_index;
  guint64 reported_persisted;
  guint64 last_term_hint; /* term of the snapshot the log restarts after */
  gint64 caught_up_us;
  char *snap_recv_path;
  GOutputStream *snap_recv;
  guint64 snap_recv_index;
  guint64 snap_recv_offset;
  gboolean unhealthy_logged;

  guint64 discarded_total;

  /* The transport may only be asked on the main loop, but /health and
   * /metrics render on HTTP threads: the tick refreshes these copies. */
  gboolean pc_known;
  gboolean pc_healthy;
  gboolean pc_connected;
  gint64 pc_last_heard_ms_ago;
  GString *peer_metrics;
};

static void kick (NornicModule *mod);
static void step_down (NornicModule *mod, guint64 epoch, const char *why);
static void refresh_peer_cache (NornicModule *mod);

/* ---- helpers ---------------------------------------------------------------- */

/* Core calls that take the store's writer lock or wait for the WAL writer
 * thread run without our lock: a writer in submit() or a WAL completion may
 * be waiting for it. The main loop is the only thread that changes the
 * state those calls are made from, so dropping the lock there is safe. */
#define UNLOCKED(mod, stmt) G_STMT_START { g_mutex_unlock (&(mod)->lock); stmt; g_mutex_lock (&(mod)->lock); } G_STMT_END

#define LOG(mod, level, ...) (mod)->api->log ((mod)->api->core, (level), __VA_ARGS__)

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

static const char *
role_name (NornicRole role)
{
  switch (role)
    {
    case NORNIC_ROLE_PRIMARY: return "primary";
    case NORNIC_ROLE_FENCED: return "fenced";
    default: return "standby";
    }
}

/* Caller holds the lock. */
static void
publish_role (NornicModule *mod)
{
  NornicRoleInfo info = {
    .role = mod->role,
    .accepts_writes = mod->role == NORNIC_ROLE_PRIMARY,
    .writer_bolt_address = mod->role == NORNIC_ROLE_PRIMARY ? mod->bolt_address
                           : (g_strcmp0 (mod->peer_role, "primary") == 0 ? mod->peer_bolt : NULL),
    .term = mod->epoch,
  };
  mod->api->set_role (mod->api->core, &info);
  if (mod->node)
    nc_cluster_node_set_role (mod->node, role_name (mod->role), mod->epoch);
}

static gboolean
save_epoch_and_role (NornicModule *mod, guint64 epoch, const char *role)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *e = g_strdup_printf ("%" G_GUINT64_FORMAT, epoch);
  if (!mod->api->state_save (mod->api->core, "epoch", e, &error) ||
      !mod->api->state_save (mod->api->core, "role", role, &error))
    {
      LOG (mod, G_LOG_LEVEL_CRITICAL, "cannot persist HA epoch %" G_GUINT64_FORMAT ": %s", epoch, error->message);
      return FALSE;
    }
  return TRUE;
}

static guint64
last_term (NornicModule *mod)
{
  guint64 t = mod->api->wal_last_term (mod->api->core);
  if (t == 0 && mod->api->wal_last_index (mod->api->core) > 0)
    t = mod->last_term_hint;
  return t;
}

/* Sends `msg` to the peer and frees it. */
static gboolean
send_msg (NornicModule *mod, NcClusterMessage *msg_owned)
{
  g_autoptr (NcClusterMessage) msg = msg_owned;
  if (mod->node == NULL || mod->peer_id == NULL || !mod->peer_up)
    return FALSE;
  g_autoptr (GError) error = NULL;
  if (!nc_cluster_node_send (mod->node, mod->peer_id, msg, &error))
    {
      LOG (mod, G_LOG_LEVEL_DEBUG, "send %s to %s failed: %s", nc_cluster_msg_type_name (msg->type),
           mod->peer_id, error->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- commit completion (primary) -------------------------------------------- */

static gboolean
standby_has (NornicModule *mod, guint64 index)
{
  if (mod->sync_mode == SYNC_ASYNC || mod->degraded)
    return TRUE;
  if (!mod->peer_known)
    return FALSE;
  return (mod->sync_mode == SYNC_SEMI ? mod->peer_received : mod->peer_persisted) >= index;
}

/* Caller holds the lock; returns callbacks to run after unlocking. */
static GSList *
collect_ready (NornicModule *mod)
{
  GSList *done = NULL;
  for (;;)
    {
      Pending *p = g_queue_peek_head (&mod->pending);
      if (p == NULL || !p->local_done)
        break;
      if (p->error == NULL && !standby_has (mod, p->index))
        break;
      g_queue_pop_head (&mod->pending);
      done = nornic_commit_done_add (done, p->cb, p->user_data, p->index, p->error);
      g_free (p);
    }
  return done;
}

/* Completes every pending commit with `error` now (step-down, stop). Caller
 * holds the lock. */
static GSList *
fail_pending (NornicModule *mod, GQuark domain, int code, const char *message)
{
  GSList *done = NULL;
  Pending *p;
  while ((p = g_queue_pop_head (&mod->pending)) != NULL)
    {
      done = nornic_commit_done_add (done, p->cb, p->user_data, p->index, g_error_new_literal (domain, code, message));
      if (p->local_done)
        {
          g_clear_error (&p->error);
          g_free (p);
        }
      else
        p->orphaned = TRUE;
    }
  return done;
}

static void
primary_local_done (guint64 index, gboolean ok, const GError *error, gpointer user_data)
{
  Pending *p = user_data;
  NornicModule *mod = p->mod;
  g_mutex_lock (&mod->lock);
  if (p->orphaned)
    {
      g_mutex_unlock (&mod->lock);
      g_free (p);
      return;
    }
  p->local_done = TRUE;
  if (!ok)
    p->error = error ? g_error_copy (error)
                     : g_error_new_literal (HA_NC_ERROR, HA_NC_ERROR_UNAVAILABLE, "WAL append failed");
  if (ok && index > mod->local_durable)
    mod->local_durable = index;
  GSList *done = collect_ready (mod);
  g_mutex_unlock (&mod->lock);
  nornic_commit_done_run (done);
  kick (mod); /* stream what just became durable */
}

static void
ack_unacked (NornicModule *mod, guint64 upto)
{
  Unacked *u;
  while ((u = g_queue_peek_head (&mod->unacked)) != NULL && u->index <= upto)
    {
      g_queue_pop_head (&mod->unacked);
      mod->unacked_bytes -= MIN (mod->unacked_bytes, u->bytes);
      g_free (u);
    }
}

static guint64
ha_ack_index (NornicModule *mod)
{
  return mod->sync_mode == SYNC_SYNC ? mod->peer_persisted : mod->peer_received;
}

/* ---- submit ------------------------------------------------------------------ */

static guint64
ha_submit (NornicModule *mod, const NornicWriteSet *ws, NornicCommitCb cb, gpointer user_data,
           GError **error)
{
  const NornicCoreApi *api = mod->api;
  Pending *p = g_new0 (Pending, 1);
  p->mod = mod;
  p->cb = cb;
  p->user_data = user_data;

  g_mutex_lock (&mod->lock);
  if (mod->role != NORNIC_ROLE_PRIMARY)
    {
      g_set_error (error, HA_NC_ERROR, HA_NC_ERROR_NOT_A_LEADER,
                   "No write operations are allowed directly on this database. Writes must pass through "
                   "the primary. The role of this server is: %s", role_name (mod->role));
      g_mutex_unlock (&mod->lock);
      g_free (p);
      return 0;
    }
  guint64 epoch = mod->epoch;
  /* Serialised by the store's writer lock: indexes follow commit order. */
  p->index = api->wal_last_index (api->core) + 1;
  g_queue_push_tail (&mod->pending, p);
  Unacked *u = g_new0 (Unacked, 1);
  u->index = p->index;
  u->written_us = now_us ();
  g_queue_push_tail (&mod->unacked, u);
  /* Bound the lag bookkeeping when the standby is gone for long. */
  if (mod->unacked.length > 1000000)
    {
      Unacked *old = g_queue_pop_head (&mod->unacked);
      mod->unacked_bytes -= MIN (mod->unacked_bytes, old->bytes);
      g_free (old);
    }
  guint64 index = p->index;
  g_mutex_unlock (&mod->lock);

  if (!api->wal_append (api->core, index, epoch, ws, primary_local_done, p, error))
    {
      g_mutex_lock (&mod->lock);
      g_queue_remove (&mod->pending, p);
      g_mutex_unlock (&mod->lock);
      g_free (p);
      return 0;
    }
  return index;
}

/* ---- primary: streaming ------------------------------------------------------- */

/* Largest index in our log whose term is <= `term` (the compacted prefix
 * counts as matching: terms only grow along the log). */
static guint64
end_of_term (NornicModule *mod, guint64 term)
{
  const NornicCoreApi *api = mod->api;
  guint64 lo = 0, hi = api->wal_last_index (api->core);
  while (lo < hi)
    {
      guint64 mid = lo + (hi - lo + 1) / 2;
      guint64 t = api->wal_term_at (api->core, mid);
      if (t <= term)
        lo = mid;
      else
        hi = mid - 1;
    }
  return lo;
}

/* Caller holds the lock. The standby reported its log end; work out where
 * it matches ours. */
static void
learn_standby_position (NornicModule *mod, guint64 last_index, guint64 last_term_v, guint64 persisted)
{
  guint64 match = MIN (last_index, end_of_term (mod, last_term_v));
  mod->peer_known = TRUE;
  mod->peer_truncate = TRUE;
  mod->peer_next = match + 1;
  mod->peer_received = match;
  mod->peer_persisted = MIN (persisted, match);
  ack_unacked (mod, ha_ack_index (mod));
  LOG (mod, G_LOG_LEVEL_INFO, "standby %s log matches up to index %" G_GUINT64_FORMAT " (it has %" G_GUINT64_FORMAT
       ", epoch %" G_GUINT64_FORMAT "); streaming from %" G_GUINT64_FORMAT,
       mod->peer_id, match, last_index, last_term_v, mod->peer_next);
}

static void
snapshot_send_reset (NornicModule *mod)
{
  g_clear_pointer (&mod->snap_send_path, g_free);
  mod->snap_send_offset = mod->snap_acked = mod->snap_send_size = 0;
}

/* Sends chunks up to the window. Main loop, lock held. */
static void
snapshot_send_pump (NornicModule *mod)
{
  if (mod->snap_send_path == NULL)
    return;
  g_autoptr (GFile) f = g_file_new_for_path (mod->snap_send_path);
  g_autoptr (GError) error = NULL;
  g_autoptr (GFileInputStream) in = g_file_read (f, NULL, &error);
  if (in == NULL)
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "cannot read snapshot %s: %s", mod->snap_send_path, error->message);
      snapshot_send_reset (mod);
      mod->peer_known = FALSE;
      return;
    }
  while (mod->snap_send_offset < mod->snap_send_size &&
         mod->snap_send_offset < mod->snap_acked + (guint64) SNAPSHOT_WINDOW * SNAPSHOT_CHUNK_BYTES)
    {
      if (!g_seekable_seek (G_SEEKABLE (in), (goffset) mod->snap_send_offset, G_SEEK_SET, NULL, &error))
        break;
      g_autoptr (GBytes) data = g_input_stream_read_bytes (G_INPUT_STREAM (in), SNAPSHOT_CHUNK_BYTES, NULL, &error);
      if (data == NULL || g_bytes_get_size (data) == 0)
        break;
      NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_SNAPSHOT_CHUNK);
      m->u.snapshot_chunk.epoch = mod->epoch;
      m->u.snapshot_chunk.snapshot_index = mod->snap_send_index;
      m->u.snapshot_chunk.snapshot_term = mod->snap_send_term;
      m->u.snapshot_chunk.offset = mod->snap_send_offset;
      m->u.snapshot_chunk.total_bytes = mod->snap_send_size;
      gsize n = g_bytes_get_size (data);
      m->u.snapshot_chunk.done = mod->snap_send_offset + n >= mod->snap_send_size;
      m->u.snapshot_chunk.data = g_bytes_ref (data);
      if (!send_msg (mod, m))
        break;
      mod->bytes_replicated += n;
      mod->snap_send_offset += n;
    }
  if (error != NULL)
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "snapshot %s: %s", mod->snap_send_path, error->message);
      snapshot_send_reset (mod);
      mod->peer_known = FALSE;
    }
}

static void
snapshot_send_start (NornicModule *mod)
{
  const NornicCoreApi *api = mod->api;
  guint64 index = 0, term = 0;
  g_autoptr (GError) error = NULL;
  char *path = api->snapshot_latest (api->core, &index, &term);
  if (path == NULL || index + 1 < mod->peer_next)
    {
      g_free (path);
      UNLOCKED (mod, path = api->snapshot_create (api->core, &index, &term, &error));
    }
  if (path == NULL)
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "standby needs a snapshot but none can be made: %s",
           error ? error->message : "unknown error");
      return;
    }
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "cannot stat snapshot %s", path);
      g_free (path);
      return;
    }
  mod->snap_send_path = path;
  mod->snap_send_index = index;
  mod->snap_send_term = term;
  mod->snap_send_size = (guint64) st.st_size;
  mod->snap_send_offset = mod->snap_acked = 0;
  LOG (mod, G_LOG_LEVEL_INFO, "standby %s is behind the compacted log (needs %" G_GUINT64_FORMAT
       "); sending snapshot at index %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " bytes)",
       mod->peer_id, mod->peer_next, index, mod->snap_send_size);
  snapshot_send_pump (mod);
}

/* Main loop, lock held. */
static void
primary_pump (NornicModule *mod)
{
  const NornicCoreApi *api = mod->api;
  if (mod->role != NORNIC_ROLE_PRIMARY || !mod->peer_up || !mod->peer_known)
    return;
  if (mod->snap_send_path != NULL)
    {
      snapshot_send_pump (mod);
      return;
    }
  guint64 window = (guint64) mod->batch_size * 4;
  for (int rounds = 0; rounds < 16; rounds++)
    {
      /* Only records this node has fsynced are streamed (as PostgreSQL's
       * walsender does): the standby's log is then always a prefix of the
       * primary's durable log, so a primary that crashes and restarts in the
       * same epoch can never meet a standby holding records it lost. */
      guint64 last = mod->local_durable;
      if (mod->peer_next > last && !mod->peer_truncate)
        return;
      if (mod->peer_next > mod->peer_received + window)
        return;
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) recs = NULL;
      if (mod->peer_next <= last)
        {
          recs = api->wal_read (api->core, mod->peer_next, (guint) MIN ((guint64) mod->batch_size, last - mod->peer_next + 1),
                                BATCH_MAX_BYTES, &error);
          if (recs == NULL)
            {
              /* Compacted away: the standby catches up from a snapshot.
               * A diverging tail is cut (and recorded) first, so that the
               * snapshot never replaces writes silently. */
              if (mod->peer_truncate)
                {
                  NcClusterMessage *t = nc_cluster_message_new (NC_CLUSTER_MSG_WAL_BATCH);
                  t->u.wal_batch.epoch = mod->epoch;
                  t->u.wal_batch.prev_index = mod->peer_next - 1;
                  t->u.wal_batch.prev_term = 0; /* compacted: unknown, accepted */
                  t->u.wal_batch.commit_index = mod->local_durable;
                  t->u.wal_batch.truncate = TRUE;
                  t->u.wal_batch.entries = nc_cluster_entries_new ();
                  send_msg (mod, t);
                  mod->peer_truncate = FALSE;
                }
              snapshot_send_start (mod);
              return;
            }
        }
      NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_WAL_BATCH);
      NcClusterMsgWALBatch *b = &m->u.wal_batch;
      b->epoch = mod->epoch;
      b->prev_index = mod->peer_next - 1;
      b->prev_term = b->prev_index > 0 ? api->wal_term_at (api->core, b->prev_index) : 0;
      b->commit_index = mod->local_durable;
      b->truncate = mod->peer_truncate;
      b->entries = nc_cluster_entries_new ();
      gsize bytes = 0;
      for (guint i = 0; recs != NULL && i < recs->len; i++)
        {
          GBytes *r = g_ptr_array_index (recs, i);
          gsize len;
          const guint8 *d = g_bytes_get_data (r, &len);
          guint64 idx, term;
          memcpy (&idx, d, 8);
          memcpy (&term, d + 8, 8);
          idx = GUINT64_FROM_LE (idx);
          term = GUINT64_FROM_LE (term);
          g_autoptr (GBytes) payload = g_bytes_new_from_bytes (r, 16, len - 16);
          g_ptr_array_add (b->entries, nc_cluster_entry_new (idx, term, payload));
          bytes += len - 16;
        }
      guint n = b->entries->len;
      if (!send_msg (mod, m))
        {
          /* Queue full or disconnected: resync when the standby reports in. */
          mod->peer_known = FALSE;
          return;
        }
      mod->peer_truncate = FALSE;
      mod->bytes_replicated += bytes;
      /* Remember record sizes for the lag-in-bytes metric. */
      for (GList *l = mod->unacked.head; l && bytes > 0; l = l->next)
        {
          Unacked *u = l->data;
          if (u->index >= mod->peer_next && u->index < mod->peer_next + n && u->bytes == 0)
            {
              u->bytes = bytes / MAX (n, 1);
              mod->unacked_bytes += u->bytes;
            }
        }
      mod->peer_next += n;
      if (n == 0)
        return;
    }
}

static void
send_heartbeat (NornicModule *mod)
{
  const NornicCoreApi *api = mod->api;
  NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_HEARTBEAT);
  m->u.heartbeat.epoch = mod->epoch;
  m->u.heartbeat.role = g_strdup (role_name (mod->role));
  m->u.heartbeat.last_index = api->wal_last_index (api->core);
  m->u.heartbeat.commit_index = mod->local_durable;
  m->u.heartbeat.sent_ms = (guint64) (g_get_real_time () / 1000);
  send_msg (mod, m);
  mod->last_heartbeat_us = now_us ();
}

/* ---- standby side ----------------------------------------------------------- */

static void
send_standby_status (NornicModule *mod, gboolean heartbeat_reply, guint64 echo, gboolean success,
                     const char *reason)
{
  const NornicCoreApi *api = mod->api;
  guint64 last = api->wal_last_index (api->core);
  guint64 applied = api->applied_index (api->core);
  NcClusterMessage *m;
  if (heartbeat_reply)
    {
      m = nc_cluster_message_new (NC_CLUSTER_MSG_HEARTBEAT_RESPONSE);
      NcClusterMsgHeartbeatResponse *r = &m->u.heartbeat_response;
      r->epoch = mod->epoch;
      r->role = g_strdup (role_name (mod->role));
      r->received_index = last;
      r->persisted_index = MIN (mod->durable_index, last);
      r->applied_index = applied;
      r->echo_ms = echo;
      r->last_term = last_term (mod);
    }
  else
    {
      m = nc_cluster_message_new (NC_CLUSTER_MSG_WAL_BATCH_RESPONSE);
      NcClusterMsgWALBatchResponse *r = &m->u.wal_batch_response;
      r->epoch = mod->epoch;
      r->success = success;
      r->received_index = last;
      r->persisted_index = MIN (mod->durable_index, last);
      r->applied_index = applied;
      r->last_term = last_term (mod);
      r->reason = g_strdup (reason);
    }
  mod->reported_persisted = MIN (mod->durable_index, last);
  send_msg (mod, m);
}

static void
standby_durable_cb (guint64 index, gboolean ok, const GError *error, gpointer user_data)
{
  NornicModule *mod = user_data;
  g_mutex_lock (&mod->lock);
  if (ok && index > mod->durable_index)
    mod->durable_index = index;
  /* A standby promoted while its appends were in flight: they are part of
   * the new primary's durable log too. */
  if (ok && index > mod->local_durable)
    mod->local_durable = index;
  g_mutex_unlock (&mod->lock);
  if (!ok)
    LOG (mod, G_LOG_LEVEL_CRITICAL, "standby WAL append %" G_GUINT64_FORMAT " failed: %s", index,
         error ? error->message : "unknown error");
  kick (mod);
}

/* Appends one discard event to <module dir>/ha-discarded.json (a JSON array,
 * rewritten atomically and fsynced). Caller holds the lock. */
static void
record_discarded (NornicModule *mod, guint64 after, guint64 last)
{
  const NornicCoreApi *api = mod->api;
  g_autofree char *path = g_build_filename (api->module_data_dir (api->core), "ha-discarded.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *events = NULL;
  if (g_file_test (path, G_FILE_TEST_EXISTS) && json_parser_load_from_file (parser, path, NULL) &&
      JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)))
    events = json_array_ref (json_node_get_array (json_parser_get_root (parser)));
  else
    events = json_array_new ();

  JsonObject *ev = json_object_new ();
  g_autoptr (GDateTime) dt = g_date_time_new_now_utc ();
  g_autofree char *ts = g_date_time_format_iso8601 (dt);
  json_object_set_string_member (ev, "time", ts);
  json_object_set_int_member (ev, "epoch", (gint64) mod->epoch);
  json_object_set_int_member (ev, "kept_up_to_index", (gint64) after);
  json_object_set_int_member (ev, "count", (gint64) (last - after));
  JsonArray *recs = json_array_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) rs = api->wal_read (api->core, after + 1, (guint) MIN (last - after, 100000),
                                            64 * 1024 * 1024, &error);
  for (guint i = 0; rs != NULL && i < rs->len; i++)
    {
      gsize len;
      const guint8 *d = g_bytes_get_data (g_ptr_array_index (rs, i), &len);
      guint64 idx, term;
      memcpy (&idx, d, 8);
      memcpy (&term, d + 8, 8);
      JsonObject *r = json_object_new ();
      json_object_set_int_member (r, "index", (gint64) GUINT64_FROM_LE (idx));
      json_object_set_int_member (r, "epoch", (gint64) GUINT64_FROM_LE (term));
      g_autofree char *b64 = g_base64_encode (d + 16, len - 16);
      json_object_set_string_member (r, "writeset", b64);
      json_array_add_object_element (recs, r);
    }
  json_object_set_array_member (ev, "records", recs);
  json_array_add_object_element (events, ev);

  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (root, events);
  g_autofree char *text = json_to_string (root, TRUE);
  if (!g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &error))
    LOG (mod, G_LOG_LEVEL_CRITICAL, "cannot record discarded writes in %s: %s", path,
         error ? error->message : "?");
}

/* Drops our log after `index` (records the new primary never had). Caller
 * holds the lock; not primary. */
static gboolean
truncate_tail (NornicModule *mod, guint64 index)
{
  const NornicCoreApi *api = mod->api;
  guint64 last = api->wal_last_index (api->core);
  if (last <= index)
    return TRUE;
  guint64 n = last - index;
  record_discarded (mod, index, last);
  mod->discarded_total += n;
  LOG (mod, G_LOG_LEVEL_WARNING,
       "discarding %" G_GUINT64_FORMAT " write(s) (indexes %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
       ") that the primary of epoch %" G_GUINT64_FORMAT " does not have; recorded in ha-discarded.json "
       "(GET /admin/ha/discarded)", n, index + 1, last, mod->epoch);
  if (api->applied_index (api->core) > index)
    UNLOCKED (mod, api->discard_uncommitted (api->core, index));
  g_autoptr (GError) error = NULL;
  gboolean ok;
  UNLOCKED (mod, ok = api->wal_truncate_after (api->core, index, &error));
  if (!ok)
    {
      LOG (mod, G_LOG_LEVEL_CRITICAL, "cannot truncate the WAL after %" G_GUINT64_FORMAT ": %s", index,
           error->message);
      return FALSE;
    }
  mod->durable_index = MIN (mod->durable_index, index);
  mod->recv_index = MIN (mod->recv_index, index);
  return TRUE;
}

static void
standby_handle_batch (NornicModule *mod, const NcClusterMsgWALBatch *b)
{
  const NornicCoreApi *api = mod->api;
  if (mod->snap_recv != NULL)
    return; /* installing a snapshot; the primary resyncs after */
  mod->primary_last_index = MAX (mod->primary_last_index, b->commit_index);
  guint64 last = api->wal_last_index (api->core);
  if (b->prev_index > last)
    {
      send_standby_status (mod, FALSE, 0, FALSE, "gap: resend from my last index");
      return;
    }
  if (b->prev_index > 0 && b->prev_term != 0)
    {
      guint64 t = api->wal_term_at (api->core, b->prev_index);
      if (t != 0 && t != b->prev_term)
        {
          send_standby_status (mod, FALSE, 0, FALSE, "log mismatch at prev_index");
          return;
        }
    }
  /* The primary found our log diverging after prev_index. With entries,
   * the first conflicting one truncates below; without, the primary has
   * nothing after prev_index, so nothing after it can be valid. (Dropping
   * only on a real conflict keeps a stale position report from discarding
   * records we legitimately hold.) */
  if (b->truncate && b->entries->len == 0 && last > b->prev_index)
    {
      if (!truncate_tail (mod, b->prev_index))
        return;
      last = api->wal_last_index (api->core);
    }
  for (guint i = 0; i < b->entries->len; i++)
    {
      NcClusterEntry *e = g_ptr_array_index (b->entries, i);
      if (e->index <= last)
        {
          if (api->wal_term_at (api->core, e->index) == e->term)
            continue; /* already have it (a resend) */
          if (!truncate_tail (mod, e->index - 1))
            return;
          last = api->wal_last_index (api->core);
        }
      if (e->index != last + 1)
        break;
      g_autoptr (GError) error = NULL;
      if (!api->wal_append_encoded (api->core, e->index, e->term, e->data, standby_durable_cb, mod, &error))
        {
          LOG (mod, G_LOG_LEVEL_WARNING, "cannot append replicated record %" G_GUINT64_FORMAT ": %s", e->index,
               error->message);
          send_standby_status (mod, FALSE, 0, FALSE, error->message);
          return;
        }
      last = e->index;
      mod->recv_index = last;
    }
  send_standby_status (mod, FALSE, 0, TRUE, NULL);
}

static void
snapshot_recv_reset (NornicModule *mod)
{
  if (mod->snap_recv)
    {
      g_output_stream_close (mod->snap_recv, NULL, NULL);
      g_clear_object (&mod->snap_recv);
    }
  if (mod->snap_recv_path)
    g_unlink (mod->snap_recv_path);
  g_clear_pointer (&mod->snap_recv_path, g_free);
  mod->snap_recv_offset = 0;
}

static void
standby_handle_chunk (NornicModule *mod, const NcClusterMsgSnapshotChunk *c)
{
  const NornicCoreApi *api = mod->api;
  g_autoptr (GError) error = NULL;
  if (c->offset == 0)
    {
      snapshot_recv_reset (mod);
      mod->snap_recv_path = g_build_filename (api->module_data_dir (api->core), "incoming-snapshot.tmp", NULL);
      g_autoptr (GFile) f = g_file_new_for_path (mod->snap_recv_path);
      GFileOutputStream *out = g_file_replace (f, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL, &error);
      if (out == NULL)
        goto fail;
      mod->snap_recv = G_OUTPUT_STREAM (out);
      mod->snap_recv_index = c->snapshot_index;
      LOG (mod, G_LOG_LEVEL_INFO, "receiving snapshot at index %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " bytes)",
           c->snapshot_index, c->total_bytes);
    }
  if (mod->snap_recv == NULL || c->offset != mod->snap_recv_offset || c->snapshot_index != mod->snap_recv_index)
    return; /* out of order: the primary restarts it */
  gsize len;
  const guint8 *d = g_bytes_get_data (c->data, &len);
  if (!g_output_stream_write_all (mod->snap_recv, d, len, NULL, NULL, &error))
    goto fail;
  mod->snap_recv_offset += len;
  if (!c->done)
    {
      NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_SNAPSHOT_REQUEST);
      m->u.snapshot_request.epoch = mod->epoch;
      m->u.snapshot_request.have_index = api->wal_last_index (api->core);
      m->u.snapshot_request.next_offset = mod->snap_recv_offset;
      send_msg (mod, m);
      return;
    }
  if (!g_output_stream_flush (mod->snap_recv, NULL, &error) ||
      !g_output_stream_close (mod->snap_recv, NULL, &error))
    goto fail;
  g_clear_object (&mod->snap_recv);
  {
    /* The primary's snapshot replaces our store and log: anything after our
     * match point that it lacks was recorded by the truncate step before. */
    gboolean ok;
    UNLOCKED (mod, ok = api->snapshot_install (api->core, mod->snap_recv_path, &error));
    if (!ok)
      goto fail;
    g_unlink (mod->snap_recv_path);
    g_clear_pointer (&mod->snap_recv_path, g_free);
    mod->last_term_hint = c->snapshot_term;
    mod->durable_index = mod->recv_index = c->snapshot_index;
    LOG (mod, G_LOG_LEVEL_INFO, "installed snapshot at index %" G_GUINT64_FORMAT, c->snapshot_index);
    send_standby_status (mod, TRUE, 0, TRUE, NULL);
  }
  return;

fail:
  LOG (mod, G_LOG_LEVEL_WARNING, "snapshot from the primary failed: %s", error ? error->message : "?");
  snapshot_recv_reset (mod);
}

/* ---- roles -------------------------------------------------------------------- */

/* Caller holds the lock. */
static void
promote (NornicModule *mod, const char *why)
{
  const NornicCoreApi *api = mod->api;
  guint64 epoch = MAX (mod->epoch + 1, 2);
  /* Best effort: tell the old primary to stop before we start. */
  NcClusterMessage *f = nc_cluster_message_new (NC_CLUSTER_MSG_FENCE);
  f->u.fence.epoch = epoch;
  f->u.fence.reason = g_strdup (why);
  send_msg (mod, f);
  if (!save_epoch_and_role (mod, epoch, "primary"))
    return;
  snapshot_recv_reset (mod);
  mod->epoch = epoch;
  g_autoptr (GError) error = NULL;
  guint64 last = api->wal_last_index (api->core);
  /* Everything received becomes the new history: apply it before writing. */
  gboolean ok;
  UNLOCKED (mod, ok = api->apply_committed (api->core, last, &error));
  if (!ok)
    LOG (mod, G_LOG_LEVEL_CRITICAL, "applying the received log before promotion failed: %s", error->message);
  mod->role = NORNIC_ROLE_PRIMARY;
  mod->local_durable = mod->durable_index;
  mod->peer_known = FALSE;
  mod->peer_received = mod->peer_persisted = 0;
  /* Promoted because the old primary is gone: it is not going to
   * acknowledge anything soon, so semi_sync/sync start degraded (unless
   * the operator chose block) instead of stalling every client for another
   * standby timeout. They return to full mode once it rejoins and catches up. */
  mod->degraded = !mod->block_on_loss && mod->sync_mode != SYNC_ASYNC && !mod->peer_up;
  mod->standby_lost_since_us = mod->peer_up ? 0 : now_us ();
  if (mod->degraded)
    LOG (mod, G_LOG_LEVEL_WARNING, "the old primary is unreachable: %s commits run degraded (acknowledged after "
         "the local fsync) until it rejoins as standby and catches up", sync_names[mod->sync_mode]);
  mod->leader_changes++;
  g_clear_pointer (&mod->peer_role, g_free);
  mod->peer_role = g_strdup ("standby");
  publish_role (mod);
  LOG (mod, G_LOG_LEVEL_WARNING, "promoted to primary in epoch %" G_GUINT64_FORMAT " (%s); log at index %" G_GUINT64_FORMAT,
       epoch, why, last);
  if (mod->peer_up)
    send_heartbeat (mod);
}

static void
step_down (NornicModule *mod, guint64 epoch, const char *why)
{
  /* Caller holds the lock. Stop accepting writes first: no two primaries
   * accept writes in one epoch. */
  gboolean was_primary = mod->role == NORNIC_ROLE_PRIMARY;
  mod->epoch = MAX (mod->epoch, epoch);
  save_epoch_and_role (mod, mod->epoch, was_primary ? "standby" : role_name (mod->role));
  if (!was_primary)
    return;
  mod->role = NORNIC_ROLE_FENCED;
  publish_role (mod);
  g_autofree char *msg = g_strdup_printf ("This node stopped being the primary (epoch %" G_GUINT64_FORMAT
                                          " is newer): the write may or may not be kept; retry on the new primary",
                                          mod->epoch);
  GSList *done = fail_pending (mod, HA_NC_ERROR, HA_NC_ERROR_LEADER_SWITCH, msg);
  snapshot_send_reset (mod);
  mod->leader_changes++;
  LOG (mod, G_LOG_LEVEL_WARNING, "fenced: %s; stepping down to standby in epoch %" G_GUINT64_FORMAT, why, mod->epoch);
  mod->role = NORNIC_ROLE_STANDBY;
  mod->durable_index = mod->local_durable;
  mod->recv_index = mod->api->wal_last_index (mod->api->core);
  mod->primary_heard_us = now_us ();
  mod->peer_known = FALSE;
  mod->degraded = FALSE;
  publish_role (mod);
  /* Commit waiters only signal a condition: safe under our lock. */
  nornic_commit_done_run (done);
  /* Tell the new primary where our log is, so it resyncs us. */
  send_standby_status (mod, TRUE, 0, TRUE, NULL);
}

/* Caller holds the lock. Two primaries in one epoch cannot come from our
 * own transitions (a promotion always takes a new epoch), only from state
 * edited by hand or restored from a copy. Resolve it the same way on both
 * sides: the smaller node id keeps the role and takes a new epoch, which
 * fences the other; the other stops taking writes at once. */
static void
dual_primary (NornicModule *mod, const char *peer_id)
{
  if (g_strcmp0 (mod->node_id, peer_id) < 0)
    {
      guint64 ne = mod->epoch + 1;
      LOG (mod, G_LOG_LEVEL_CRITICAL,
           "%s is also primary in epoch %" G_GUINT64_FORMAT ": this node (smaller id) stays primary in epoch %" G_GUINT64_FORMAT,
           peer_id, mod->epoch, ne);
      if (save_epoch_and_role (mod, ne, "primary"))
        {
          mod->epoch = ne;
          mod->leader_changes++;
          publish_role (mod);
          send_heartbeat (mod);
        }
    }
  else
    {
      g_autofree char *why = g_strdup_printf ("%s is also primary in epoch %" G_GUINT64_FORMAT " and has the smaller id",
                                              peer_id, mod->epoch);
      LOG (mod, G_LOG_LEVEL_CRITICAL, "two primaries: %s", why);
      step_down (mod, mod->epoch, why);
    }
}

/* Caller holds the lock. Returns TRUE to go on handling the message. */
static gboolean
check_epoch (NornicModule *mod, guint64 epoch, const char *what)
{
  if (epoch > mod->epoch)
    {
      g_autofree char *why = g_strdup_printf ("%s from %s carries epoch %" G_GUINT64_FORMAT, what,
                                              mod->peer_id ? mod->peer_id : "peer", epoch);
      step_down (mod, epoch, why);
    }
  return TRUE;
}

/* ---- transport callbacks ----------------------------------------------------- */

static void
on_message (NcClusterNode *node, const NcClusterMessage *msg, gpointer user_data)
{
  NornicModule *mod = user_data;
  g_mutex_lock (&mod->lock);
  if (mod->peer_id != NULL && g_strcmp0 (msg->from, mod->peer_id) != 0 &&
      msg->type != NC_CLUSTER_MSG_PROMOTE)
    {
      g_mutex_unlock (&mod->lock);
      return;
    }
  mod->peer_heard_us = now_us ();
  switch (msg->type)
    {
    case NC_CLUSTER_MSG_WAL_BATCH:
      {
        const NcClusterMsgWALBatch *b = &msg->u.wal_batch;
        check_epoch (mod, b->epoch, "WALBatch");
        if (b->epoch < mod->epoch)
          {
            send_standby_status (mod, FALSE, 0, FALSE, "stale epoch");
            break;
          }
        if (mod->role == NORNIC_ROLE_PRIMARY)
          break; /* cannot happen: one promotion per epoch */
        mod->primary_heard_us = now_us ();
        g_clear_pointer (&mod->peer_role, g_free);
        mod->peer_role = g_strdup ("primary");
        standby_handle_batch (mod, b);
        break;
      }
    case NC_CLUSTER_MSG_HEARTBEAT:
      {
        const NcClusterMsgHeartbeat *h = &msg->u.heartbeat;
        check_epoch (mod, h->epoch, "Heartbeat");
        if (mod->role == NORNIC_ROLE_PRIMARY && h->epoch == mod->epoch && g_strcmp0 (h->role, "primary") == 0)
          {
            dual_primary (mod, msg->from);
            break;
          }
        if (h->epoch < mod->epoch && mod->role == NORNIC_ROLE_PRIMARY)
          {
            send_heartbeat (mod); /* the stale primary learns our epoch */
            break;
          }
        if (mod->role == NORNIC_ROLE_PRIMARY)
          break;
        if (g_strcmp0 (h->role, "primary") == 0 && h->epoch >= mod->epoch)
          {
            mod->primary_heard_us = now_us ();
            if (g_strcmp0 (mod->peer_role, "primary") != 0)
              {
                g_clear_pointer (&mod->peer_role, g_free);
                mod->peer_role = g_strdup ("primary");
                publish_role (mod);
              }
            mod->primary_last_index = h->last_index;
            if (mod->api->applied_index (mod->api->core) >= h->last_index)
              mod->caught_up_us = now_us ();
          }
        send_standby_status (mod, TRUE, h->sent_ms, TRUE, NULL);
        break;
      }
    case NC_CLUSTER_MSG_HEARTBEAT_RESPONSE:
    case NC_CLUSTER_MSG_WAL_BATCH_RESPONSE:
      {
        gboolean hb = msg->type == NC_CLUSTER_MSG_HEARTBEAT_RESPONSE;
        guint64 epoch = hb ? msg->u.heartbeat_response.epoch : msg->u.wal_batch_response.epoch;
        guint64 received = hb ? msg->u.heartbeat_response.received_index : msg->u.wal_batch_response.received_index;
        guint64 persisted = hb ? msg->u.heartbeat_response.persisted_index : msg->u.wal_batch_response.persisted_index;
        guint64 applied = hb ? msg->u.heartbeat_response.applied_index : msg->u.wal_batch_response.applied_index;
        guint64 lterm = hb ? msg->u.heartbeat_response.last_term : msg->u.wal_batch_response.last_term;
        gboolean success = hb ? TRUE : msg->u.wal_batch_response.success;
        check_epoch (mod, epoch, hb ? "HeartbeatResponse" : "WALBatchResponse");
        if (mod->role != NORNIC_ROLE_PRIMARY || epoch > mod->epoch)
          break;
        if (epoch < mod->epoch && !hb && !success)
          {
            /* A standby behind our epoch: it learns it from our next frame. */
          }
        mod->peer_applied = applied;
        if (mod->snap_send_path != NULL)
          {
            if (hb && received >= mod->snap_send_index)
              {
                snapshot_send_reset (mod);
                learn_standby_position (mod, received, lterm, persisted);
              }
            break;
          }
        if (!mod->peer_known || !success)
          {
            learn_standby_position (mod, received, lterm, persisted);
          }
        else
          {
            if (received > mod->peer_received && received < mod->peer_next)
              mod->peer_received = received;
            if (persisted > mod->peer_persisted && persisted < mod->peer_next)
              mod->peer_persisted = persisted;
            ack_unacked (mod, ha_ack_index (mod));
          }
        GSList *done = collect_ready (mod);
        primary_pump (mod);
        g_mutex_unlock (&mod->lock);
        nornic_commit_done_run (done);
        return;
      }
    case NC_CLUSTER_MSG_SNAPSHOT_CHUNK:
      check_epoch (mod, msg->u.snapshot_chunk.epoch, "SnapshotChunk");
      if (mod->role != NORNIC_ROLE_PRIMARY && msg->u.snapshot_chunk.epoch >= mod->epoch)
        {
          mod->primary_heard_us = now_us ();
          standby_handle_chunk (mod, &msg->u.snapshot_chunk);
        }
      break;
    case NC_CLUSTER_MSG_SNAPSHOT_REQUEST:
      check_epoch (mod, msg->u.snapshot_request.epoch, "SnapshotRequest");
      if (mod->role == NORNIC_ROLE_PRIMARY)
        {
          if (mod->snap_send_path != NULL)
            {
              mod->snap_acked = MAX (mod->snap_acked, msg->u.snapshot_request.next_offset);
              snapshot_send_pump (mod);
            }
          else if (msg->u.snapshot_request.next_offset == 0)
            {
              mod->peer_known = TRUE;
              mod->peer_next = msg->u.snapshot_request.have_index + 1;
              snapshot_send_start (mod);
            }
        }
      break;
    case NC_CLUSTER_MSG_FENCE:
      {
        guint64 epoch = msg->u.fence.epoch;
        check_epoch (mod, epoch, "Fence");
        NcClusterMessage *r = nc_cluster_message_new (NC_CLUSTER_MSG_FENCE_RESPONSE);
        r->u.fence_response.epoch = mod->epoch;
        r->u.fence_response.fenced = mod->role != NORNIC_ROLE_PRIMARY;
        r->u.fence_response.last_index = mod->api->wal_last_index (mod->api->core);
        send_msg (mod, r);
        break;
      }
    case NC_CLUSTER_MSG_FENCE_RESPONSE:
      check_epoch (mod, msg->u.fence_response.epoch, "FenceResponse");
      break;
    case NC_CLUSTER_MSG_PROMOTE:
      {
        gboolean ok = mod->role != NORNIC_ROLE_PRIMARY;
        if (ok)
          promote (mod, msg->u.promote.reason ? msg->u.promote.reason : "Promote message");
        NcClusterMessage *r = nc_cluster_message_new (NC_CLUSTER_MSG_PROMOTE_RESPONSE);
        r->u.promote_response.success = ok && mod->role == NORNIC_ROLE_PRIMARY;
        r->u.promote_response.epoch = mod->epoch;
        r->u.promote_response.message = g_strdup (ok ? "promoted" : "already the primary");
        if (mod->node)
          nc_cluster_node_send (mod->node, msg->from, r, NULL);
        nc_cluster_message_free (r);
        break;
      }
    case NC_CLUSTER_MSG_PROMOTE_RESPONSE:
      check_epoch (mod, msg->u.promote_response.epoch, "PromoteResponse");
      break;
    default:
      break;
    }
  g_mutex_unlock (&mod->lock);
}

static void
on_peer (NcClusterNode *node, const char *peer_id, gboolean up, const NcClusterMessage *hello, gpointer user_data)
{
  NornicModule *mod = user_data;
  g_mutex_lock (&mod->lock);
  if (up)
    {
      const NcClusterMsgHello *h = &hello->u.hello;
      if (g_strcmp0 (h->mode, "ha_standby") != 0 && h->mode != NULL)
        LOG (mod, G_LOG_LEVEL_WARNING, "peer %s runs mode %s, not ha_standby", peer_id, h->mode);
      if (mod->peer_id == NULL || g_strcmp0 (mod->peer_id, peer_id) != 0)
        {
          g_free (mod->peer_id);
          mod->peer_id = g_strdup (peer_id);
        }
      mod->peer_up = TRUE;
      mod->peer_heard_us = now_us ();
      g_free (mod->peer_bolt);
      mod->peer_bolt = g_strdup (h->bolt_addr);
      g_free (mod->peer_role);
      mod->peer_role = g_strdup (h->role);
      mod->peer_epoch = h->epoch;
      LOG (mod, G_LOG_LEVEL_INFO, "peer %s up (%s, epoch %" G_GUINT64_FORMAT ", bolt %s)", peer_id, h->role,
           h->epoch, h->bolt_addr ? h->bolt_addr : "?");
      check_epoch (mod, h->epoch, "Hello");
      if (mod->role == NORNIC_ROLE_PRIMARY && h->epoch == mod->epoch && g_strcmp0 (h->role, "primary") == 0)
        dual_primary (mod, peer_id);
      if (g_strcmp0 (h->role, "primary") == 0 && h->epoch >= mod->epoch && mod->role != NORNIC_ROLE_PRIMARY)
        mod->primary_heard_us = now_us ();
      publish_role (mod);
      mod->peer_known = FALSE;
      snapshot_send_reset (mod);
      if (mod->role == NORNIC_ROLE_PRIMARY)
        send_heartbeat (mod);
      else
        send_standby_status (mod, TRUE, 0, TRUE, NULL);
    }
  else if (g_strcmp0 (peer_id, mod->peer_id) == 0)
    {
      mod->peer_up = FALSE;
      mod->peer_known = FALSE;
      snapshot_send_reset (mod);
      LOG (mod, G_LOG_LEVEL_INFO, "peer %s down", peer_id);
    }
  refresh_peer_cache (mod);
  g_mutex_unlock (&mod->lock);
}

/* ---- timers ------------------------------------------------------------------ */

/* Main loop, lock held. */
static void
refresh_peer_cache (NornicModule *mod)
{
  g_autoptr (NcClusterPeerStatus) ps = mod->peer_id ? nc_cluster_node_peer_status (mod->node, mod->peer_id) : NULL;
  mod->pc_known = ps != NULL;
  mod->pc_healthy = ps != NULL && ps->healthy;
  mod->pc_connected = ps != NULL && ps->connected;
  mod->pc_last_heard_ms_ago = ps ? ps->last_heard_ms_ago : -1;
  g_string_truncate (mod->peer_metrics, 0);
  nc_cluster_node_append_metrics (mod->node, mod->peer_metrics, mod->api->append_metric);
}

static gboolean
kick_cb (gpointer data)
{
  NornicModule *mod = data;
  const NornicCoreApi *api = mod->api;
  g_mutex_lock (&mod->lock);
  mod->kick_source = 0;
  GSList *done = NULL;
  if (mod->role == NORNIC_ROLE_PRIMARY)
    {
      primary_pump (mod);
      done = collect_ready (mod);
    }
  else
    {
      guint64 durable = MIN (mod->durable_index, api->wal_last_index (api->core));
      if (durable > api->applied_index (api->core))
        {
          g_autoptr (GError) error = NULL;
          gboolean ok;
          UNLOCKED (mod, ok = api->apply_committed (api->core, durable, &error));
          if (!ok)
            LOG (mod, G_LOG_LEVEL_CRITICAL, "applying replicated records up to %" G_GUINT64_FORMAT " failed: %s",
                 durable, error->message);
        }
      if (api->applied_index (api->core) >= mod->primary_last_index)
        mod->caught_up_us = now_us ();
      if (durable > mod->reported_persisted)
        send_standby_status (mod, FALSE, 0, TRUE, NULL);
    }
  g_mutex_unlock (&mod->lock);
  nornic_commit_done_run (done);
  return G_SOURCE_REMOVE;
}

/* Any thread: schedule one pass of kick_cb on the main loop. */
static void
kick (NornicModule *mod)
{
  g_mutex_lock (&mod->lock);
  if (mod->kick_source == 0 && mod->tick_source != 0)
    mod->kick_source = nornic_module_add_idle (mod->api, G_PRIORITY_DEFAULT, kick_cb, mod);
  g_mutex_unlock (&mod->lock);
}

static gboolean
tick_cb (gpointer data)
{
  NornicModule *mod = data;
  gint64 now = now_us ();
  GSList *done = NULL;
  g_mutex_lock (&mod->lock);
  refresh_peer_cache (mod);
  if (mod->role == NORNIC_ROLE_PRIMARY)
    {
      if (mod->peer_up && now - mod->last_heartbeat_us >= (gint64) mod->heartbeat_ms * 1000)
        send_heartbeat (mod);
      if (mod->sync_mode != SYNC_ASYNC)
        {
          Pending *head = g_queue_peek_head (&mod->pending);
          gboolean waiting = head != NULL && head->local_done && !standby_has (mod, head->index);
          gboolean lost = !mod->peer_up || !mod->peer_known ||
                          now - mod->peer_heard_us > mod->standby_timeout_ms * 1000 || waiting;
          if (!lost)
            mod->standby_lost_since_us = 0;
          else if (mod->standby_lost_since_us == 0)
            mod->standby_lost_since_us = now;
          if (!mod->degraded && !mod->block_on_loss && mod->standby_lost_since_us != 0 &&
              now - mod->standby_lost_since_us >= mod->standby_timeout_ms * 1000)
            {
              mod->degraded = TRUE;
              LOG (mod, G_LOG_LEVEL_WARNING,
                   "standby %s unreachable or not acknowledging for %" G_GINT64_FORMAT " ms: commits are now "
                   "acknowledged after the local fsync only (degraded to async) until it catches up",
                   mod->peer_id ? mod->peer_id : mod->peer_address, mod->standby_timeout_ms);
            }
          guint64 last = mod->api->wal_last_index (mod->api->core);
          if (mod->degraded && mod->peer_up && mod->peer_known && ha_ack_index (mod) + mod->batch_size >= last)
            {
              mod->degraded = FALSE;
              mod->standby_lost_since_us = 0;
              LOG (mod, G_LOG_LEVEL_WARNING, "standby %s caught up: %s commits again", mod->peer_id,
                   sync_names[mod->sync_mode]);
            }
        }
      primary_pump (mod);
      done = collect_ready (mod);
    }
  else if (mod->role == NORNIC_ROLE_STANDBY)
    {
      gint64 silent_ms = (now - mod->primary_heard_us) / 1000;
      if (mod->auto_failover && silent_ms >= mod->failover_timeout_ms)
        {
          g_autofree char *why = g_strdup_printf ("no word from the primary for %" G_GINT64_FORMAT " ms", silent_ms);
          promote (mod, why);
        }
    }
  g_mutex_unlock (&mod->lock);
  nornic_commit_done_run (done);
  return G_SOURCE_CONTINUE;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static gboolean
parse_bool_default (const char *s, gboolean def)
{
  if (s == NULL)
    return def;
  return g_ascii_strcasecmp (s, "true") == 0 || strcmp (s, "1") == 0 || g_ascii_strcasecmp (s, "yes") == 0;
}

static NornicModule *
ha_create (const NornicCoreApi *api, GError **error)
{
  NornicCore *core = api->core;
  const char *role = api->config_get (core, "NORNICDB_CLUSTER_HA_ROLE");
  const char *peer = api->config_get (core, "NORNICDB_CLUSTER_HA_PEER_ADDR");
  if (role == NULL || (strcmp (role, "primary") != 0 && strcmp (role, "standby") != 0))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NORNICDB_CLUSTER_HA_ROLE must be primary or standby in ha_standby mode");
      return NULL;
    }
  if (peer == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NORNICDB_CLUSTER_HA_PEER_ADDR (host:port of the peer's cluster address) is required in ha_standby mode");
      return NULL;
    }
  g_autofree char *e = NULL, *r = NULL;
  NornicModule *mod = g_new0 (NornicModule, 1);
  mod->api = api;
  g_mutex_init (&mod->lock);
  g_queue_init (&mod->pending);
  g_queue_init (&mod->unacked);
  mod->peer_metrics = g_string_new (NULL);
  mod->pc_last_heard_ms_ago = -1;
  mod->bolt_address = nornic_module_advertised_bolt_address (api);
  const char *id = api->config_get (core, "NORNICDB_CLUSTER_NODE_ID");
  mod->node_id = g_strdup (id ? id : g_get_host_name ());
  const char *cid = api->config_get (core, "NORNICDB_CLUSTER_RAFT_CLUSTER_ID");
  mod->cluster_id = g_strdup (cid ? cid : "nornicdb");
  const char *bind = api->config_get (core, "NORNICDB_CLUSTER_BIND_ADDR");
  const char *adv = api->config_get (core, "NORNICDB_CLUSTER_ADVERTISE_ADDR");
  mod->cluster_address = g_strdup (adv ? adv : bind);
  mod->peer_address = g_strdup (peer);
  const char *sm = api->config_get (core, "NORNICDB_CLUSTER_HA_SYNC_MODE");
  mod->sync_mode = g_strcmp0 (sm, "async") == 0 ? SYNC_ASYNC : g_strcmp0 (sm, "sync") == 0 ? SYNC_SYNC : SYNC_SEMI;
  mod->heartbeat_ms = (guint) MAX (api->config_get_int (core, "NORNICDB_CLUSTER_HA_HEARTBEAT_MS"), 10);
  mod->failover_timeout_ms = api->config_get_duration_ms (core, "NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT");
  mod->auto_failover = api->config_get_bool (core, "NORNICDB_CLUSTER_HA_AUTO_FAILOVER");
  mod->batch_size = (guint) MAX (api->config_get_int (core, "NORNICDB_CLUSTER_HA_WAL_BATCH_SIZE"), 1);
  mod->standby_timeout_ms = api->config_get_duration_ms (core, "NORNICDB_CLUSTER_HA_STANDBY_TIMEOUT");
  if (mod->standby_timeout_ms <= 0)
    mod->standby_timeout_ms = 10000;
  mod->block_on_loss = g_strcmp0 (api->config_get (core, "NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS"), "block") == 0;
  if (mod->failover_timeout_ms < 2 * (gint64) mod->heartbeat_ms)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT (%" G_GINT64_FORMAT " ms) must be at least twice "
                   "NORNICDB_CLUSTER_HA_HEARTBEAT_MS (%u)", mod->failover_timeout_ms, mod->heartbeat_ms);
      goto fail;
    }

  /* Durable state: the epoch, and the role of the last promotion or
   * step-down, which wins over NORNICDB_CLUSTER_HA_ROLE (a fenced old
   * primary must not come back as primary in its old epoch). */
  e = api->state_load (core, "epoch");
  r = api->state_load (core, "role");
  mod->epoch = e ? g_ascii_strtoull (e, NULL, 10) : 0;
  const char *eff_role = r ? g_strstrip (r) : role;
  if (r != NULL && strcmp (r, role) != 0)
    api->log (core, G_LOG_LEVEL_WARNING,
              "NORNICDB_CLUSTER_HA_ROLE=%s, but this node became %s in epoch %" G_GUINT64_FORMAT
              " (%s/role.state): starting as %s", role, r, mod->epoch, api->module_data_dir (core), r);
  mod->role = strcmp (eff_role, "primary") == 0 ? NORNIC_ROLE_PRIMARY : NORNIC_ROLE_STANDBY;
  if (r == NULL)
    {
      /* No role.state: the role comes from NORNICDB_CLUSTER_HA_ROLE, and is
       * persisted now, so that role.state is missing only on a fresh node or
       * when an operator deleted it to force a role. A fresh primary starts
       * epoch 1. A node that already knows an epoch and is forced to primary
       * takes a new epoch: the old primary, if it comes back, is then fenced
       * by it instead of being a second primary in the same epoch. */
      if (mod->role == NORNIC_ROLE_PRIMARY)
        {
          guint64 ne = mod->epoch + 1;
          if (mod->epoch > 0)
            api->log (core, G_LOG_LEVEL_WARNING,
                      "starting as primary without %s/role.state: taking epoch %" G_GUINT64_FORMAT
                      " (was %" G_GUINT64_FORMAT "), which fences any other primary", api->module_data_dir (core), ne,
                      mod->epoch);
          mod->epoch = ne;
        }
      g_autofree char *es = g_strdup_printf ("%" G_GUINT64_FORMAT, mod->epoch);
      g_autoptr (GError) local = NULL;
      if (!api->state_save (core, "epoch", es, &local)
          || !api->state_save (core, "role", mod->role == NORNIC_ROLE_PRIMARY ? "primary" : "standby", &local))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          goto fail;
        }
    }

  NcClusterNodeSettings s = {
    .node_id = mod->node_id,
    .cluster_id = mod->cluster_id,
    .bind_address = bind,
    .advertise_address = adv,
    .bolt_address = mod->bolt_address,
    .mode = "ha_standby",
    .keepalive_ms = MIN (mod->heartbeat_ms, 1000),
    .health_window_ms = MAX (3 * mod->heartbeat_ms, 1000),
    .reconnect_max_ms = 1000,
  };
  nc_cluster_tls_from_config (api, &s.tls);
  mod->node = nc_cluster_node_new (&s, api->main_context, error);
  if (mod->node == NULL)
    goto fail;
  (void) parse_bool_default;
  return mod;

fail:
  g_free (mod->bolt_address);
  g_free (mod->node_id);
  g_free (mod->cluster_id);
  g_free (mod->cluster_address);
  g_free (mod->peer_address);
  g_string_free (mod->peer_metrics, TRUE);
  g_mutex_clear (&mod->lock);
  g_free (mod);
  return NULL;
}

static gboolean h_status (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_lag (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_wal (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_promote (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_discarded (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);

static gboolean
ha_start (NornicModule *mod, GError **error)
{
  const NornicCoreApi *api = mod->api;
  api->register_http (api->core, "GET", "/admin/cluster/status", h_status);
  api->register_http (api->core, "GET", "/admin/replication/lag", h_lag);
  api->register_http (api->core, "GET", "/admin/wal/position", h_wal);
  api->register_http (api->core, "POST", "/admin/promote", h_promote);
  api->register_http (api->core, "GET", "/admin/ha/discarded", h_discarded);

  g_mutex_lock (&mod->lock);
  mod->started_us = mod->primary_heard_us = mod->peer_heard_us = mod->caught_up_us = now_us ();
  guint64 last = api->wal_last_index (api->core);
  mod->local_durable = mod->durable_index = mod->recv_index = mod->reported_persisted = last;
  publish_role (mod);
  g_mutex_unlock (&mod->lock);

  nc_cluster_node_set_callbacks (mod->node, on_message, on_peer, mod);
  if (!nc_cluster_node_start (mod->node, error))
    return FALSE;
  if (!nc_cluster_node_add_peer (mod->node, NULL, mod->peer_address, error))
    return FALSE;
  GSource *t = g_timeout_source_new (MIN (mod->heartbeat_ms, 50));
  g_source_set_callback (t, tick_cb, mod, NULL);
  g_mutex_lock (&mod->lock);
  mod->tick_source = g_source_attach (t, api->main_context);
  g_mutex_unlock (&mod->lock);
  g_source_unref (t);
  LOG (mod, G_LOG_LEVEL_INFO, "hot standby %s: %s in epoch %" G_GUINT64_FORMAT ", %s, peer %s, cluster %s",
       mod->node_id, role_name (mod->role), mod->epoch, sync_names[mod->sync_mode], mod->peer_address,
       mod->cluster_address);
  return TRUE;
}

static void
ha_stop (NornicModule *mod)
{
  g_mutex_lock (&mod->lock);
  nornic_module_remove_source (mod->api, &mod->tick_source);
  nornic_module_remove_source (mod->api, &mod->kick_source);
  GSList *done = fail_pending (mod, HA_NC_ERROR, HA_NC_ERROR_UNAVAILABLE, "The database is shutting down");
  g_mutex_unlock (&mod->lock);
  nornic_commit_done_run (done);
  if (mod->node)
    nc_cluster_node_stop (mod->node);
}

static void
ha_destroy (NornicModule *mod)
{
  g_clear_pointer (&mod->node, nc_cluster_node_unref);
  snapshot_recv_reset (mod);
  snapshot_send_reset (mod);
  g_queue_clear_full (&mod->unacked, g_free);
  g_free (mod->bolt_address);
  g_free (mod->node_id);
  g_free (mod->cluster_id);
  g_free (mod->cluster_address);
  g_free (mod->peer_address);
  g_free (mod->peer_id);
  g_free (mod->peer_bolt);
  g_free (mod->peer_role);
  g_string_free (mod->peer_metrics, TRUE);
  g_mutex_clear (&mod->lock);
  g_free (mod);
}

/* ---- routing, health, metrics ----------------------------------------------------- */

static NornicRoutingTable *
ha_routing_table (NornicModule *mod)
{
  NornicRoutingTable *rt = nornic_module_routing_table_new (10);
  g_mutex_lock (&mod->lock);
  if (mod->role == NORNIC_ROLE_PRIMARY)
    g_ptr_array_add (rt->writers, g_strdup (mod->bolt_address));
  else if (mod->peer_bolt && g_strcmp0 (mod->peer_role, "primary") == 0 && mod->peer_up)
    g_ptr_array_add (rt->writers, g_strdup (mod->peer_bolt));
  g_ptr_array_add (rt->readers, g_strdup (mod->bolt_address));
  g_ptr_array_add (rt->routers, g_strdup (mod->bolt_address));
  if (mod->peer_bolt && mod->peer_up)
    {
      g_ptr_array_add (rt->readers, g_strdup (mod->peer_bolt));
      g_ptr_array_add (rt->routers, g_strdup (mod->peer_bolt));
    }
  g_mutex_unlock (&mod->lock);
  return rt;
}

/* Caller holds the lock. */
static const char *
state_name (NornicModule *mod)
{
  gint64 now = now_us ();
  if (mod->role == NORNIC_ROLE_FENCED)
    return "fenced";
  if (mod->role == NORNIC_ROLE_PRIMARY)
    {
      if (mod->degraded)
        return "degraded";
      if (mod->snap_send_path)
        return "sending_snapshot";
      return mod->peer_up ? "ready" : "standby_unreachable";
    }
  if (mod->snap_recv)
    return "receiving_snapshot";
  if ((now - mod->primary_heard_us) / 1000 > mod->failover_timeout_ms)
    return "primary_unreachable";
  return mod->peer_up ? "streaming" : "connecting";
}

static double
lag_seconds (NornicModule *mod)
{
  gint64 now = now_us ();
  if (mod->role == NORNIC_ROLE_PRIMARY)
    {
      Unacked *u = g_queue_peek_head (&mod->unacked);
      return u ? (now - u->written_us) / 1e6 : 0;
    }
  if (mod->api->applied_index (mod->api->core) >= mod->primary_last_index)
    return 0;
  return (now - mod->caught_up_us) / 1e6;
}

static guint64
lag_records (NornicModule *mod)
{
  guint64 last = mod->api->wal_last_index (mod->api->core);
  if (mod->role == NORNIC_ROLE_PRIMARY)
    return last - MIN (last, ha_ack_index (mod));
  guint64 applied = mod->api->applied_index (mod->api->core);
  return mod->primary_last_index - MIN (mod->primary_last_index, applied);
}

/* Lock held. */
static void
add_peer_json (NornicModule *mod, JsonBuilder *b, gboolean with_state)
{
  json_builder_begin_object (b);
  nornic_json_string_or_null (b, "id", mod->peer_id);
  nornic_json_string (b, "address", mod->peer_address);
  if (with_state)
    {
      nornic_json_string (b, "state", mod->peer_role ? mod->peer_role : "unknown");
    }
  nornic_json_bool (b, "healthy", mod->pc_healthy);
  nornic_json_bool (b, "connected", mod->pc_connected);
  nornic_json_int (b, "last_heard_ms_ago", mod->pc_last_heard_ms_ago);
  json_builder_end_object (b);
}

static char *
ha_health_json (NornicModule *mod, gboolean *healthy, char **reason)
{
  const NornicCoreApi *api = mod->api;
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  g_mutex_lock (&mod->lock);
  *healthy = TRUE;
  gint64 silent_ms = (now_us () - mod->primary_heard_us) / 1000;
  if (mod->role == NORNIC_ROLE_FENCED)
    {
      *healthy = FALSE;
      *reason = g_strdup ("fenced: a newer primary exists");
    }
  else if (mod->role == NORNIC_ROLE_STANDBY && silent_ms > mod->failover_timeout_ms)
    {
      *healthy = FALSE;
      *reason = g_strdup_printf ("standby without a primary for %" G_GINT64_FORMAT " ms (automatic failover %s)",
                                 silent_ms, mod->auto_failover ? "pending" : "disabled");
    }
  nornic_json_string (b, "mode", "ha_standby");
  nornic_json_string (b, "node_id", mod->node_id);
  nornic_json_string (b, "role", role_name (mod->role));
  nornic_json_bool (b, "is_leader", mod->role == NORNIC_ROLE_PRIMARY);
  nornic_json_string (b, "state", state_name (mod));
  nornic_json_int (b, "epoch", (gint64) mod->epoch);
  nornic_json_string (b, "sync_mode", sync_names[mod->sync_mode]);
  nornic_json_bool (b, "degraded", mod->degraded);
  nornic_json_int (b, "commit_index", (gint64) (mod->role == NORNIC_ROLE_PRIMARY ? mod->local_durable
                                                 : MIN (mod->durable_index, api->wal_last_index (api->core))));
  nornic_json_int (b, "applied_index", (gint64) api->applied_index (api->core));
  nornic_json_double (b, "lag_seconds", lag_seconds (mod));
  json_builder_set_member_name (b, "peers");
  json_builder_begin_array (b);
  add_peer_json (mod, b, FALSE);
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_mutex_unlock (&mod->lock);
  return nornic_json_text (b);
}

static void
ha_metrics (NornicModule *mod, GString *out)
{
  const NornicCoreApi *api = mod->api;
  g_mutex_lock (&mod->lock);
  gboolean primary = mod->role == NORNIC_ROLE_PRIMARY;
  api->append_metric (out, "nornicdb_replication_mode", NORNIC_METRIC_GAUGE, "Active replication mode",
                      "mode=\"ha_standby\"", 1);
  api->append_metric (out, "nornicdb_replication_is_leader", NORNIC_METRIC_GAUGE, "1 when this node accepts writes",
                      NULL, primary);
  api->append_metric (out, "nornicdb_replication_commit_index", NORNIC_METRIC_GAUGE, "Highest committed log index",
                      NULL, (double) (primary ? mod->local_durable : mod->durable_index));
  api->append_metric (out, "nornicdb_replication_applied_index", NORNIC_METRIC_GAUGE,
                      "Highest log index applied to the store", NULL, (double) api->applied_index (api->core));
  api->append_metric (out, "nornicdb_replication_lag_seconds", NORNIC_METRIC_GAUGE,
                      "Age of the oldest record the standby has not acknowledged (standby: time behind the primary)",
                      NULL, lag_seconds (mod));
  api->append_metric (out, "nornicdb_replication_lag_records", NORNIC_METRIC_GAUGE,
                      "Log records the standby is behind", NULL, (double) lag_records (mod));
  api->append_metric (out, "nornicdb_replication_lag_bytes", NORNIC_METRIC_GAUGE,
                      "Write-set bytes sent but not yet acknowledged by the standby", NULL,
                      primary ? (double) mod->unacked_bytes : 0);
  api->append_metric (out, "nornicdb_replication_degraded", NORNIC_METRIC_GAUGE,
                      "1 while semi_sync/sync commits are acknowledged without the standby", NULL, mod->degraded);
  api->append_metric (out, "nornicdb_cluster_leader_changes_total", NORNIC_METRIC_COUNTER,
                      "Promotions and step-downs of this node", NULL, (double) mod->leader_changes);
  api->append_metric (out, "nornicdb_ha_epoch", NORNIC_METRIC_GAUGE, "Current HA epoch", NULL, (double) mod->epoch);
  api->append_metric (out, "nornicdb_ha_discarded_writes_total", NORNIC_METRIC_COUNTER,
                      "Writes dropped when rejoining as standby (see /admin/ha/discarded)", NULL,
                      (double) mod->discarded_total);
  api->append_metric (out, "nornicdb_replication_wal_bytes_sent_total", NORNIC_METRIC_COUNTER,
                      "Write-set and snapshot bytes streamed to the standby", NULL, (double) mod->bytes_replicated);
  if (mod->peer_id)
    {
      g_autofree char *esc = g_strescape (mod->peer_id, NULL);
      g_autofree char *labels = g_strdup_printf ("peer=\"%s\"", esc);
      api->append_metric (out, "nornicdb_replication_peer_healthy", NORNIC_METRIC_GAUGE,
                          "1 when the peer is connected and heard from recently", labels, mod->pc_healthy);
    }
  /* nornicdb_peer_healthy, nornicdb_replication_bytes_total, ... as of the last tick */
  g_string_append (out, mod->peer_metrics->str);
  g_mutex_unlock (&mod->lock);
}

/* ---- admin endpoints ---------------------------------------------------------------- */

static gboolean
h_status (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len,
          NornicHttpReply *reply)
{
  const NornicCoreApi *api = mod->api;
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  g_mutex_lock (&mod->lock);
  gboolean primary = mod->role == NORNIC_ROLE_PRIMARY;
  gboolean peer_primary = !primary && g_strcmp0 (mod->peer_role, "primary") == 0 && mod->peer_up;
  nornic_json_string (b, "cluster_id", mod->cluster_id);
  nornic_json_string (b, "mode", "ha_standby");
  nornic_json_string (b, "node_id", mod->node_id);
  json_builder_set_member_name (b, "leader");
  if (primary || peer_primary)
    {
      json_builder_begin_object (b);
      nornic_json_string (b, "id", primary ? mod->node_id : mod->peer_id);
      nornic_json_string (b, "address", primary ? mod->cluster_address : mod->peer_address);
      nornic_json_string (b, "bolt_address", primary ? mod->bolt_address : (mod->peer_bolt ? mod->peer_bolt : ""));
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "members");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  nornic_json_string (b, "id", mod->node_id);
  nornic_json_string (b, "address", mod->cluster_address);
  nornic_json_string (b, "state", role_name (mod->role));
  nornic_json_bool (b, "healthy", mod->role != NORNIC_ROLE_FENCED);
  json_builder_end_object (b);
  add_peer_json (mod, b, TRUE);
  json_builder_end_array (b);
  nornic_json_int (b, "commit_index", (gint64) (primary ? mod->local_durable : MIN (mod->durable_index, api->wal_last_index (api->core))));
  nornic_json_int (b, "applied_index", (gint64) api->applied_index (api->core));
  nornic_json_int (b, "term", (gint64) mod->epoch);
  nornic_json_int (b, "epoch", (gint64) mod->epoch);
  nornic_json_string (b, "sync_mode", sync_names[mod->sync_mode]);
  nornic_json_bool (b, "degraded", mod->degraded);
  g_mutex_unlock (&mod->lock);
  nornic_json_reply_object (reply, 200, b);
  return TRUE;
}

static gboolean
h_lag (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len,
       NornicHttpReply *reply)
{
  const NornicCoreApi *api = mod->api;
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  g_mutex_lock (&mod->lock);
  nornic_json_string (b, "mode", "ha_standby");
  nornic_json_string (b, "role", role_name (mod->role));
  nornic_json_string (b, "sync_mode", sync_names[mod->sync_mode]);
  nornic_json_bool (b, "degraded", mod->degraded);
  nornic_json_int (b, "last_index", (gint64) api->wal_last_index (api->core));
  nornic_json_int (b, "applied_index", (gint64) api->applied_index (api->core));
  if (mod->role == NORNIC_ROLE_PRIMARY)
    {
      nornic_json_int (b, "standby_received_index", (gint64) mod->peer_received);
      nornic_json_int (b, "standby_persisted_index", (gint64) mod->peer_persisted);
      nornic_json_int (b, "standby_applied_index", (gint64) mod->peer_applied);
    }
  else
    {
      nornic_json_int (b, "primary_last_index", (gint64) mod->primary_last_index);
    }
  nornic_json_int (b, "lag_records", (gint64) lag_records (mod));
  nornic_json_int (b, "lag_bytes", mod->role == NORNIC_ROLE_PRIMARY ? (gint64) mod->unacked_bytes : 0);
  nornic_json_double (b, "lag_seconds", lag_seconds (mod));
  g_mutex_unlock (&mod->lock);
  nornic_json_reply_object (reply, 200, b);
  return TRUE;
}

static gboolean
h_wal (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len,
       NornicHttpReply *reply)
{
  const NornicCoreApi *api = mod->api;
  g_mutex_lock (&mod->lock);
  reply->status = 200;
  reply->json = g_strdup_printf ("{\"mode\": \"ha_standby\", \"role\": \"%s\", \"epoch\": %" G_GUINT64_FORMAT
                                 ", \"last_index\": %" G_GUINT64_FORMAT ", \"last_term\": %" G_GUINT64_FORMAT
                                 ", \"durable_index\": %" G_GUINT64_FORMAT ", \"applied_index\": %" G_GUINT64_FORMAT "}",
                                 role_name (mod->role), mod->epoch, api->wal_last_index (api->core), last_term (mod),
                                 mod->role == NORNIC_ROLE_PRIMARY ? mod->local_durable : mod->durable_index,
                                 api->applied_index (api->core));
  g_mutex_unlock (&mod->lock);
  return TRUE;
}

static gboolean
h_promote (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len,
           NornicHttpReply *reply)
{
  g_mutex_lock (&mod->lock);
  if (mod->role == NORNIC_ROLE_PRIMARY)
    {
      reply->status = 409;
      reply->json = g_strdup_printf ("{\"success\": false, \"error\": \"already primary\", \"reason\": "
                                     "\"this node is already the primary (epoch %" G_GUINT64_FORMAT "); "
                                     "promote runs on the standby\", \"epoch\": %" G_GUINT64_FORMAT "}",
                                     mod->epoch, mod->epoch);
      g_mutex_unlock (&mod->lock);
      return TRUE;
    }
  promote (mod, "POST /admin/promote");
  gboolean ok = mod->role == NORNIC_ROLE_PRIMARY;
  reply->status = ok ? 200 : 500;
  reply->json = g_strdup_printf ("{\"success\": %s, \"role\": \"%s\", \"epoch\": %" G_GUINT64_FORMAT "}",
                                 ok ? "true" : "false", role_name (mod->role), mod->epoch);
  g_mutex_unlock (&mod->lock);
  return TRUE;
}

static gboolean
h_discarded (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len,
             NornicHttpReply *reply)
{
  const NornicCoreApi *api = mod->api;
  g_autofree char *file = g_build_filename (api->module_data_dir (api->core), "ha-discarded.json", NULL);
  g_autofree char *text = NULL;
  g_mutex_lock (&mod->lock);
  if (!g_file_get_contents (file, &text, NULL, NULL))
    text = g_strdup ("[]");
  guint64 total = 0;
  g_autoptr (JsonParser) p = json_parser_new ();
  if (json_parser_load_from_data (p, text, -1, NULL) && JSON_NODE_HOLDS_ARRAY (json_parser_get_root (p)))
    {
      JsonArray *a = json_node_get_array (json_parser_get_root (p));
      for (guint i = 0; i < json_array_get_length (a); i++)
        total += (guint64) json_object_get_int_member (json_array_get_object_element (a, i), "count");
    }
  reply->status = 200;
  reply->json = g_strdup_printf ("{\"total\": %" G_GUINT64_FORMAT ", \"file\": \"%s\", \"events\": %s}", total,
                                 "ha-discarded.json", text);
  g_mutex_unlock (&mod->lock);
  return TRUE;
}

static const NornicModuleVTable ha_vtable = {
  .abi_major = NORNIC_MODULE_ABI_MAJOR,
  .abi_minor = NORNIC_MODULE_ABI_MINOR,
  .struct_size = sizeof (NornicModuleVTable),
  .create = ha_create,
  .start = ha_start,
  .stop = ha_stop,
  .destroy = ha_destroy,
  .submit = ha_submit,
  .routing_table = ha_routing_table,
  .health_json = ha_health_json,
  .metrics = ha_metrics,
  .can_serve_read = NULL,
  .replay_limit = NULL,
};

static const NornicModuleInfo ha_info = {
  .abi_major = NORNIC_MODULE_ABI_MAJOR,
  .abi_minor = NORNIC_MODULE_ABI_MINOR,
  .struct_size = sizeof (NornicModuleInfo),
  .name = "ha_standby",
  .version = "1.0",
  .vtable = &ha_vtable,
};

G_MODULE_EXPORT const NornicModuleInfo *nornic_module_entry (void);

G_MODULE_EXPORT const NornicModuleInfo *
nornic_module_entry (void)
{
  return &ha_info;
}
