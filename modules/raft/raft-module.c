/* raft.so: a Raft cluster (docs/raft-cluster.md) built on the pure core in
 * raft-core.h, the WAL (through NornicCoreApi) and the cluster transport.
 *
 * The WAL is the Raft log. Normal entries are the write-sets the store
 * applies; no-op and membership entries are write-sets holding one META
 * effect ("raft.noop" / "raft.conf" with the encoded membership), which the
 * store applies as nothing. The same bytes travel in AppendEntries.
 *
 * Threads: submit() runs on a query worker thread holding the store's writer
 * lock; WAL completions arrive on the WAL writer thread; everything else runs
 * on the main loop. `lock` guards the core and all state. The main loop only
 * drops it (UNLOCKED) around store calls that may need the writer lock, and
 * then sets `store_busy` so that submit() fails fast instead of touching the
 * core (it could otherwise land between nc_raft_ready() and advance(), or
 * deadlock: the submitter holds the writer lock and waits for `lock`). */
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
#include "raft-core.h"
#include "raft-glue-codec.h"

#include "errors.h" /* the NcErrorCode values only */

#ifdef NC_MULTI_REGION
/* multi_region.so: these sources compiled again with the region half
 * (docs/multi-region.md). raft.so never sees this. */
#include "region.h"
#define MODE_NAME "multi_region"
#else
#define MODE_NAME "raft"
#endif

#define RAFT_NC_ERROR (g_quark_from_static_string ("nc-error-quark"))
#define SNAP_CHUNK_BYTES (1024 * 1024)
#define SNAP_WINDOW 4
#define SNAP_TIMEOUT_US (15 * G_USEC_PER_SEC)
#define COMMIT_SAVE_US (G_USEC_PER_SEC / 2)

typedef struct {
  guint64 index;
  guint64 term;
  NornicCommitCb cb;
  gpointer user_data;
} Pending;

typedef struct {
  char *peer;
  char *path;
  guint64 index;
  guint64 term;
  NcRaftMembership *membership;
  guint64 size;
  guint64 sent;   /* next byte to send */
  guint64 acked;  /* bytes the follower stored */
  gint64 last_us;   /* last progress */
  gint64 pumped_us; /* last (re)transmission */
} SnapSend;

typedef struct {
  NornicModule *mod;
  guint64 term;
} WalCtx;

/* A linearizable read waiting for its ReadIndex (can_serve_read). */
typedef struct {
  guint64 id;
  gboolean issued;     /* handed to the core */
  gboolean confirmed;  /* the core returned a read index */
  guint64 index;
  gboolean done;
  gboolean ok;
  const char *why;
} ReadWait;

struct _NornicModule {
  const NornicCoreApi *api;
  GMutex lock;

  /* configuration */
  char *node_id;
  char *cluster_id;
  char *bolt_address;
  char *cluster_address;
  GHashTable *config_peers; /* id -> cluster address */
  gboolean bootstrap;
  guint tick_ms;
  gint64 election_ms;
  guint max_append;
  guint64 snap_threshold;
  gint64 snap_interval_ms;
  guint64 trailing;

  NcRaft *raft;
  NcClusterNode *node;
  GHashTable *dialled;      /* id -> address added to the transport */
  GHashTable *peer_bolt;    /* id -> Bolt address from Hello */
  guint tick_source;
  guint kick_source;
  gboolean stopping;
  gboolean store_busy;

  /* role as published */
  NcRaftRole raft_role;
  char *leader;
  guint64 term;
  gboolean writes_ready;
  guint64 term_start;       /* first index of our leadership */
  guint64 leader_changes;
  gint64 no_leader_since_us;
  gint64 started_us;

  /* log */
  GQueue pending;           /* Pending*, index order */
  guint64 durable_index;    /* WAL completions (any thread) */
  guint64 durable_term;
  guint64 reported_durable;
  gboolean snap_persisted_due;
  guint64 snap_persisted_index, snap_persisted_term;
  guint64 apply_target;     /* highest committed entry handed out */
  guint64 saved_term;       /* hard state on disk */
  char *saved_vote;
  NcRaftHistory saved_history;
  guint64 saved_commit;     /* queued for the saver thread */
  guint64 published;        /* highest index made visible to readers through apply_committed */
  gint64 saved_commit_us;
  GThreadPool *saver;       /* writes raft-commit.state off the main loop */
  GMutex saver_lock;
  guint64 saver_value;
  guint64 restored_commit;
  gint64 behind_since_us;

  /* snapshots */
  gint64 last_snapshot_us;
  guint64 last_snapshot_index;
  GHashTable *snap_sends;   /* peer -> SnapSend* */
  GThread *snap_thread;     /* scheduled snapshot being written */
  guint snap_done_source;
  char *snap_result_path;
  GError *snap_result_error;
  guint64 snap_result_index, snap_result_term;
  /* Every snapshot thread gets a generation; snapshot_done_cb records the
   * outcome of the last one finished, which POST /admin/raft/snapshot waits
   * for (h_snapshot). */
  guint snap_gen, snap_done_gen;
  guint64 snap_done_index;
  GError *snap_done_error;
  GPtrArray *snap_failed;   /* peers whose transfer failed: nc_raft_snapshot_done after advance */
  char *recv_path;
  GOutputStream *recv;
  guint64 recv_index, recv_term, recv_offset;
  char *installed_path;     /* complete file waiting for the core's Ready */

  /* membership: learners to promote once caught up */
  GHashTable *promote;      /* id set */
  /* members that came back without their state: id -> address; removed and
   * added again as learners (the core never moves a peer's match back) */
  GHashTable *rejoin;

  /* transport state cached by the tick for other threads */
  GHashTable *peer_health;  /* ids of healthy peers */
  char *transport_metrics;
  gint64 transport_cached_us;

  /* linearizable reads (NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS) */
  gboolean linearizable;
  guint64 next_read_id;
  GHashTable *reads;        /* id -> ReadWait* (owned by the waiting thread) */
  GCond read_cond;          /* with `lock` */
  guint64 bytes_total;
#ifdef NC_MULTI_REGION
  NcRegionNode *region;
  guint64 region_own_max;   /* highest index the region half proposed (leader) */
  guint64 region_local_max; /* highest index of a local write submitted (leader) */
  guint64 region_committed; /* highest entry handed to nc_region_node_committed */
  gboolean region_pub_accepts;
  char *region_pub_writer;
  guint64 region_state_wanted;  /* follower: installed snapshot waiting for its region state */
  GQueue region_semi;           /* SemiWait*: committed here, waiting for a remote region (semi_sync) */
  guint64 region_admin_next;    /* forwarded admin requests (RegionAdmin) */
  GHashTable *region_admin_answers; /* gint64 request id -> RegionAdminAnswer* */
  gint64 region_state_asked_us;
#endif
};

static void kick (NornicModule *mod);
static gboolean kick_cb (gpointer data);
static void kick_locked (NornicModule *mod);

#define LOG(mod, level, ...) (mod)->api->log ((mod)->api->core, (level), __VA_ARGS__)
#define UNLOCKED(mod, stmt) G_STMT_START { (mod)->store_busy = TRUE; g_mutex_unlock (&(mod)->lock); stmt; \
                                           g_mutex_lock (&(mod)->lock); (mod)->store_busy = FALSE; } G_STMT_END

/* ---- small helpers ------------------------------------------------------------ */

static const char *
role_state_name (NcRaftRole r)
{
  switch (r)
    {
    case NC_RAFT_LEADER: return "leader";
    case NC_RAFT_CANDIDATE:
    case NC_RAFT_PRE_CANDIDATE: return "candidate";
    default: return "follower";
    }
}

static gboolean
is_learner (NornicModule *mod)
{
  const NcRaftMembership *m = nc_raft_membership (mod->raft);
  return nc_raft_membership_contains (m, mod->node_id) && !nc_raft_membership_is_voter (m, mod->node_id);
}

static const char *
self_role_name (NornicModule *mod)
{
  if (mod->raft_role == NC_RAFT_FOLLOWER && is_learner (mod))
    return "learner";
  return role_state_name (mod->raft_role);
}

static const char *
leader_bolt (NornicModule *mod)
{
  if (mod->leader == NULL)
    return NULL;
  if (g_strcmp0 (mod->leader, mod->node_id) == 0)
    return mod->bolt_address;
  return g_hash_table_lookup (mod->peer_bolt, mod->leader);
}

static const char *
leader_cluster_address (NornicModule *mod)
{
  if (mod->leader == NULL)
    return NULL;
  const char *a = nc_raft_membership_address_of (nc_raft_membership (mod->raft), mod->leader);
  if (a == NULL && g_strcmp0 (mod->leader, mod->node_id) == 0)
    a = mod->cluster_address;
  return a;
}

/* What /health, status and metrics call the applied index. A leader never
 * replays its log into the store (its own writes are applied at submit), so
 * committed no-op/membership entries at the tail count as applied. */
static guint64
reported_applied (NornicModule *mod)
{
  guint64 store = mod->api->applied_index (mod->api->core);
  if (mod->raft_role == NC_RAFT_LEADER && mod->writes_ready)
    return MAX (store, MIN (nc_raft_applied_index (mod->raft), nc_raft_commit_index (mod->raft)));
  return store;
}

#ifdef NC_MULTI_REGION
/* ---- multi_region.so: the Raft glue's side of docs/multi-region.md -------------------------------
 *
 * The region half (NcRegionNode, modules/multi_region/) does no I/O; these
 * host functions give it this region's Raft log, the transport and durable
 * state. All of them run with `lock` held (main loop or an HTTP thread). */

static guint64
region_host_propose (gpointer user_data, const NcWriteSet *ws, GError **error)
{
  NornicModule *mod = user_data;
  if (mod->raft_role != NC_RAFT_LEADER || mod->stopping)
    {
      g_set_error_literal (error, RAFT_NC_ERROR, NC_ERROR_NOT_A_LEADER, "not the region's Raft leader");
      return 0;
    }
  g_autoptr (GBytes) bytes = mod->api->writeset_encode (ws);
  guint64 index = 0;
  if (!nc_raft_propose (mod->raft, bytes, &index, error))
    return 0;
  /* Not in the leader's store yet (local writes are applied at submit):
   * process() applies it from the log once it commits, and submit()
   * refuses local writes until then so store indexes stay in log order. */
  mod->region_own_max = MAX (mod->region_own_max, index);
  kick_locked (mod);
  return index;
}

static NcWriteSet *
region_host_entry_at (gpointer user_data, guint64 index, GError **error)
{
  NornicModule *mod = user_data;
  g_autoptr (GPtrArray) recs = mod->api->wal_read (mod->api->core, index, 1, 64 * 1024 * 1024, error);
  if (recs == NULL)
    return NULL;
  if (recs->len == 0)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE, "log entry %" G_GUINT64_FORMAT " is not in the WAL",
                   index);
      return NULL;
    }
  gsize len;
  const guint8 *d = g_bytes_get_data (recs->pdata[0], &len);
  guint64 at;
  memcpy (&at, d, 8);
  if (len < 16 || GUINT64_FROM_LE (at) != index)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE, "log entry %" G_GUINT64_FORMAT " is not in the WAL",
                   index);
      return NULL;
    }
  return nc_writeset_decode (d + 16, len - 16, error);
}

static guint64
region_host_commit_index (gpointer user_data)
{
  NornicModule *mod = user_data;
  return nc_raft_commit_index (mod->raft);
}

static const char *
region_host_leader_cluster (gpointer user_data)
{
  return leader_cluster_address (user_data);
}

static const char *
region_host_leader_bolt (gpointer user_data)
{
  NornicModule *mod = user_data;
  if (mod->raft_role == NC_RAFT_LEADER && !mod->writes_ready)
    return NULL;
  return leader_bolt (mod);
}

/* `to` is a node id (answering a sender that dialled us, or one we dialled)
 * or a "host:port" from NORNICDB_CLUSTER_REMOTE_REGIONS / a leader hint. An
 * address is dialled on first use; until its Hello arrives messages to it
 * are dropped (the region half resends on its timers). */
static void
region_host_send (gpointer user_data, const char *to, NcClusterMessage *msg)
{
  NornicModule *mod = user_data;
  g_autoptr (NcClusterMessage) owned = msg;
  if (mod->node == NULL || to == NULL)
    return;
  if (nc_cluster_node_send (mod->node, to, owned, NULL))
    return;
  if (strchr (to, ':') == NULL)
    return;
  g_autoptr (GPtrArray) peers = nc_cluster_node_list_peers (mod->node);
  for (guint i = 0; i < peers->len; i++)
    {
      NcClusterPeerStatus *st = peers->pdata[i];
      if (st->configured && g_strcmp0 (st->address, to) == 0)
        {
          if (st->peer_id && st->connected)
            nc_cluster_node_send (mod->node, st->peer_id, owned, NULL);
          return;
        }
    }
  g_autoptr (GError) error = NULL;
  if (!nc_cluster_node_add_peer (mod->node, NULL, to, &error))
    LOG (mod, G_LOG_LEVEL_DEBUG, "cannot dial region peer %s: %s", to, error->message);
}

static gboolean
region_host_state_save (gpointer user_data, const char *key, const char *value, GError **error)
{
  NornicModule *mod = user_data;
  return mod->api->state_save (mod->api->core, key, value, error);
}

static char *
region_host_state_load (gpointer user_data, const char *key)
{
  NornicModule *mod = user_data;
  return mod->api->state_load (mod->api->core, key);
}

static gint64
region_host_now_us (gpointer user_data)
{
  (void) user_data;
  return g_get_monotonic_time ();
}

static guint64
region_host_wall_ms (gpointer user_data)
{
  (void) user_data;
  return nc_hlc_wall_ms ();
}

/* The newest snapshot file, for a region behind our compacted log. */
static GBytes *
region_host_snapshot_read (gpointer user_data, guint64 *index, GError **error)
{
  NornicModule *mod = user_data;
  guint64 term = 0;
  g_autofree char *path = mod->api->snapshot_latest (mod->api->core, index, &term);
  if (path == NULL)
    {
      g_set_error_literal (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE, "this region has no snapshot");
      return NULL;
    }
  char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  return g_bytes_new_take (data, len);
}

/* Hands a committed Raft entry to the region pipeline (every member, in
 * log order). */
static void
region_committed (NornicModule *mod, guint64 index, GBytes *record_ws)
{
  if (mod->region == NULL || index <= mod->region_committed)
    return;
  gsize len;
  const guint8 *d = g_bytes_get_data (record_ws, &len);
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) ws = nc_writeset_decode (d, len, &error);
  mod->region_committed = index;
  if (ws == NULL)
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "region: committed entry %" G_GUINT64_FORMAT " does not decode: %s", index,
           error->message);
      return;
    }
  nc_region_node_committed (mod->region, index, ws);
}

static void publish_role (NornicModule *mod);

/* The writer named outside the primary region. Only the region's leader
 * hears from the primary region (RegionShip/RegionEpoch carry its leader's
 * Bolt address); a follower names its own leader, whose Bolt layer forwards
 * the write on to the primary's leader. */
static const char *
region_writer_bolt (NornicModule *mod)
{
  const char *wb = nc_region_node_writer_bolt (mod->region);
  if (wb == NULL && mod->raft_role != NC_RAFT_LEADER)
    wb = leader_bolt (mod);
  return wb;
}

/* The "regions" block of /health and /admin/cluster/status. */
static void
region_json_member (NornicModule *mod, JsonBuilder *b)
{
  if (mod->region == NULL)
    return;
  g_autofree char *text = nc_region_node_status_json (mod->region);
  JsonNode *n = text ? json_from_string (text, NULL) : NULL;
  if (n == NULL)
    return;
  json_builder_set_member_name (b, "regions");
  json_builder_add_value (b, n);
}

/* ---- region state next to snapshots ----
 *
 * The resolver's versions, positions and conflicts, the epoch and the HLC
 * floor are derived from the whole log; compaction would lose them. So the
 * state is saved as <module data dir>/region-state whenever a snapshot is
 * finished (before the log is compacted), loaded at start-up (only the
 * entries after it are replayed), and a follower that installs a snapshot
 * from its leader asks it for the state that goes with it
 * (RegionStateRequest / RegionState). */

static char *
region_state_path (NornicModule *mod)
{
  return g_build_filename (mod->api->module_data_dir (mod->api->core), "region-state", NULL);
}

/* Feeds committed entries up to `upto` from the WAL to the region half. */
static void
region_replay (NornicModule *mod, guint64 upto)
{
  for (guint64 i = mod->region_committed + 1; mod->region && i <= upto; i++)
    {
      g_autoptr (GError) rerr = NULL;
      g_autoptr (NcWriteSet) ws = region_host_entry_at (mod, i, &rerr);
      if (ws == NULL)
        LOG (mod, G_LOG_LEVEL_WARNING, "region: cannot replay entry %" G_GUINT64_FORMAT ": %s", i, rerr->message);
      else
        nc_region_node_committed (mod->region, i, ws);
      mod->region_committed = i;
    }
}

static gboolean
region_write_state (NornicModule *mod, GBytes *state, GError **error)
{
  g_autofree char *path = region_state_path (mod);
  gsize len;
  const char *d = g_bytes_get_data (state, &len);
  return g_file_set_contents_full (path, d, len, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   0600, error);
}

/* A snapshot at `index` is complete and the log is about to be compacted:
 * the saved state must cover at least `index`. Caller holds the lock. */
static void
region_save_state (NornicModule *mod, guint64 index)
{
  if (mod->region == NULL)
    return;
  region_replay (mod, index);
  g_autoptr (GBytes) state = nc_region_node_save_state (mod->region);
  g_autoptr (GError) error = NULL;
  if (!region_write_state (mod, state, &error))
    LOG (mod, G_LOG_LEVEL_CRITICAL, "region: cannot save the region state for snapshot %" G_GUINT64_FORMAT ": %s",
         index, error->message);
}

/* Start-up: the saved state, if any; then the caller replays the rest. */
static void
region_load_state (NornicModule *mod, guint64 snap_index)
{
  g_autofree char *path = region_state_path (mod);
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL))
    return;
  g_autoptr (GBytes) bytes = g_bytes_new_take (g_steal_pointer (&data), len);
  g_autoptr (GError) error = NULL;
  guint64 covered = 0;
  if (!nc_region_node_load_state (mod->region, bytes, &covered, &error))
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "region: ignoring %s: %s", path, error->message);
      return;
    }
  if (covered < snap_index)
    LOG (mod, G_LOG_LEVEL_WARNING, "region: the saved region state covers the log up to %" G_GUINT64_FORMAT
         ", older than the snapshot at %" G_GUINT64_FORMAT "; entries compacted in between are missing from it",
         covered, snap_index);
  mod->region_committed = covered;
}

static void
region_ask_state (NornicModule *mod)
{
  if (mod->region_state_wanted != 0 && g_strcmp0 (mod->leader, mod->node_id) == 0)
    {
      /* Became the leader before the old one answered: nobody else has the
       * state for that snapshot. */
      LOG (mod, G_LOG_LEVEL_WARNING, "region: the region state for snapshot %" G_GUINT64_FORMAT " never arrived; "
           "conflict records and versions older than it are missing on this leader", mod->region_state_wanted);
      mod->region_state_wanted = 0;
      return;
    }
  if (mod->region_state_wanted == 0 || mod->leader == NULL || mod->node == NULL)
    return;
  g_autoptr (NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_STATE_REQUEST);
  m->u.region_state_request.region = g_strdup (nc_region_log_region (nc_region_node_log (mod->region)));
  m->u.region_state_request.snapshot_index = mod->region_state_wanted;
  nc_cluster_node_send (mod->node, mod->leader, m, NULL);
  mod->region_state_asked_us = g_get_monotonic_time ();
}

/* A follower installed the leader's snapshot at `index`: its region state
 * (older, or empty for a new member) no longer matches; ask for the
 * leader's. Until it arrives the conflict list may be incomplete. */
static void
region_snapshot_installed (NornicModule *mod, guint64 index)
{
  if (mod->region == NULL)
    return;
  mod->region_committed = MAX (mod->region_committed, index);
  mod->region_state_wanted = index;
  region_ask_state (mod);
}

/* RegionStateRequest (leader) and RegionState (follower), within a region. */
static void
region_state_message (NornicModule *mod, const NcClusterMessage *msg)
{
  if (mod->region == NULL)
    return;
  if (msg->type == NC_CLUSTER_MSG_REGION_STATE_REQUEST)
    {
      if (mod->raft_role != NC_RAFT_LEADER || !mod->writes_ready)
        return;  /* the follower asks again (region tick) */
      /* Our committed state covers every committed entry, hence the
       * snapshot the follower installed (cut from committed entries). */
      region_replay (mod, MIN (nc_raft_commit_index (mod->raft), mod->apply_target));
      g_autoptr (NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_STATE);
      m->u.region_state.region = g_strdup (nc_region_log_region (nc_region_node_log (mod->region)));
      m->u.region_state.committed_index = nc_region_log_committed_index (nc_region_node_log (mod->region));
      m->u.region_state.data = nc_region_node_save_state (mod->region);
      if (m->u.region_state.committed_index < msg->u.region_state_request.snapshot_index)
        return;
      nc_cluster_node_send (mod->node, msg->from, m, NULL);
      return;
    }
  guint64 covered = msg->u.region_state.committed_index;
  if (mod->region_state_wanted == 0 || covered < mod->region_state_wanted)
    return;
  guint64 had = mod->region_committed;
  g_autoptr (GError) error = NULL;
  if (!nc_region_node_load_state (mod->region, msg->u.region_state.data, &covered, &error))
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "region: state from %s: %s", msg->from, error->message);
      return;
    }
  /* Entries after the state that this member already committed are in its
   * WAL (they follow the installed snapshot): run them again. */
  mod->region_committed = covered;
  region_replay (mod, had);
  mod->region_state_wanted = 0;
  g_autoptr (GBytes) state = nc_region_node_save_state (mod->region);
  if (!region_write_state (mod, state, &error))
    LOG (mod, G_LOG_LEVEL_WARNING, "region: cannot save the region state: %s", error->message);
  LOG (mod, G_LOG_LEVEL_INFO, "region: state up to %" G_GUINT64_FORMAT " received from %s", covered, msg->from);
}

static void region_admin_message (NornicModule *mod, const NcClusterMessage *msg);

/* ---- semi_sync: a local write's client waits for a remote region ---- */

typedef struct {
  Pending *p;
  gint64 since_us;  /* committed in this region */
} SemiWait;

static GSList *done_add (GSList *done, Pending *p, GError *error);

/* A local write committed in this region: acknowledge it now (async), or
 * hold it until a remote region confirmed it (semi_sync). */
static GSList *
region_semi_hold (NornicModule *mod, GSList *done, Pending *p)
{
  if (mod->region == NULL || !nc_region_node_semi_sync (mod->region))
    return done_add (done, p, NULL);
  SemiWait *w = g_new0 (SemiWait, 1);
  w->p = p;
  w->since_us = g_get_monotonic_time ();
  g_queue_push_tail (&mod->region_semi, w);
  return done;
}

/* Held writes a remote region has confirmed (or that timed out: the node
 * degrades, nc_region_node_semi_sync_ready). A node that is no longer the
 * leader, or stops, acknowledges what it holds: those writes are committed
 * in its region; only their remote copy is unconfirmed. */
static GSList *
region_semi_release (NornicModule *mod, GSList *done)
{
  SemiWait *w;
  gboolean hold = mod->raft_role == NC_RAFT_LEADER && !mod->stopping && mod->region;
  while ((w = g_queue_peek_head (&mod->region_semi)) != NULL)
    {
      if (hold && !nc_region_node_semi_sync_ready (mod->region, w->p->index, w->since_us))
        break;
      g_queue_pop_head (&mod->region_semi);
      done = done_add (done, w->p, NULL);
      g_free (w);
    }
  return done;
}

/* Re-publishes the role when the region half changed what the core must be
 * told (primary region, writer address). */
static void
region_refresh_role (NornicModule *mod)
{
  if (mod->region == NULL)
    return;
  gboolean accepts = nc_region_node_accepts_writes (mod->region);
  const char *writer = nc_region_node_writer_bolt (mod->region);
  if (accepts != mod->region_pub_accepts || g_strcmp0 (writer, mod->region_pub_writer) != 0)
    publish_role (mod);
}
#endif /* NC_MULTI_REGION */

/* Caller holds the lock. */
static void
publish_role (NornicModule *mod)
{
  NornicRole role = NORNIC_ROLE_FOLLOWER;
  if (mod->raft_role == NC_RAFT_LEADER)
    role = NORNIC_ROLE_LEADER;
  else if (mod->raft_role != NC_RAFT_FOLLOWER)
    role = NORNIC_ROLE_CANDIDATE;
  else if (is_learner (mod))
    role = NORNIC_ROLE_LEARNER;
  gboolean leader = mod->raft_role == NC_RAFT_LEADER;
  NornicRoleInfo info = {
    .role = role,
    .accepts_writes = leader && mod->writes_ready,
    /* A new leader that has not yet applied its predecessor's entries
     * names no writer: clients retry instead of being forwarded to it. */
    .writer_bolt_address = leader ? (mod->writes_ready ? mod->bolt_address : NULL) : leader_bolt (mod),
    .term = mod->term,
  };
#ifdef NC_MULTI_REGION
  if (mod->region)
    {
      /* Only the primary region's leader takes writes; elsewhere the writer
       * is the primary region's leader (learned from its messages). */
      if (!nc_region_log_is_primary (nc_region_node_log (mod->region)))
        info.writer_bolt_address = region_writer_bolt (mod);
      info.accepts_writes = info.accepts_writes && nc_region_node_accepts_writes (mod->region);
      mod->region_pub_accepts = nc_region_node_accepts_writes (mod->region);
      g_free (mod->region_pub_writer);
      mod->region_pub_writer = g_strdup (nc_region_node_writer_bolt (mod->region));
    }
#endif
  mod->api->set_role (mod->api->core, &info);
  if (mod->node)
    nc_cluster_node_set_role (mod->node, self_role_name (mod), mod->term);
}

static GSList *
done_add (GSList *done, Pending *p, GError *error)
{
  done = nornic_commit_done_add (done, p->cb, p->user_data, p->index, error);
  g_free (p);
  return done;
}

static GSList *
fail_pending (NornicModule *mod, GSList *done, int code, const char *message)
{
  Pending *p;
  while ((p = g_queue_pop_head (&mod->pending)) != NULL)
    done = done_add (done, p, g_error_new_literal (RAFT_NC_ERROR, code, message));
  return done;
}

/* ---- the core's storage over the WAL --------------------------------------------- */

static guint64
st_last_index (gpointer user_data)
{
  NornicModule *mod = user_data;
  return mod->api->wal_last_index (mod->api->core);
}

static gboolean
st_term_at (gpointer user_data, guint64 index, guint64 *term)
{
  NornicModule *mod = user_data;
  guint64 t = mod->api->wal_term_at (mod->api->core, index);
  if (t == 0)
    return FALSE;
  *term = t;
  return TRUE;
}

static GPtrArray *
st_entries (gpointer user_data, guint64 from, guint max_count, gsize max_bytes)
{
  NornicModule *mod = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) recs = mod->api->wal_read (mod->api->core, from, MAX (max_count, 1), max_bytes, &error);
  if (recs == NULL || recs->len == 0)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
  for (guint i = 0; i < recs->len; i++)
    {
      gsize len;
      const guint8 *d = g_bytes_get_data (recs->pdata[i], &len);
      guint64 index, term;
      memcpy (&index, d, 8);
      memcpy (&term, d + 8, 8);
      g_autoptr (GBytes) ws = g_bytes_new_from_bytes (recs->pdata[i], 16, len - 16);
      g_ptr_array_add (out, nc_raft_glue_entry_from_record (GUINT64_FROM_LE (index), GUINT64_FROM_LE (term), ws));
    }
  return out;
}

static const NcRaftStorage wal_storage = {
  .struct_size = sizeof (NcRaftStorage),
  .last_index = st_last_index,
  .term_at = st_term_at,
  .entries = st_entries,
};

/* ---- durable state ------------------------------------------------------------------ */

/* "term\nvote\nhistory\n"; files written before the history line existed
 * have two lines (see raft_create for how they are read). */
static gboolean
save_hard_state (NornicModule *mod, guint64 term, const char *vote, NcRaftHistory history, GError **error)
{
  g_autofree char *v = g_strdup_printf ("%" G_GUINT64_FORMAT "\n%s\n%d\n", term, vote ? vote : "", (int) history);
  return mod->api->state_save (mod->api->core, "raft-hardstate", v, error);
}

/* Saver thread: an fsync on the main loop would stall every commit. */
static void
saver_main (gpointer data, gpointer user_data)
{
  (void) data;
  NornicModule *mod = user_data;
  g_mutex_lock (&mod->saver_lock);
  guint64 commit = mod->saver_value;
  g_mutex_unlock (&mod->saver_lock);
  g_autofree char *v = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", commit);
  g_autoptr (GError) error = NULL;
  if (!mod->api->state_save (mod->api->core, "raft-commit", v, &error))
    LOG (mod, G_LOG_LEVEL_WARNING, "cannot save the commit index: %s", error->message);
}

/* Caller holds the lock. */
static void
save_commit (NornicModule *mod, guint64 commit)
{
  g_mutex_lock (&mod->saver_lock);
  mod->saver_value = commit;
  g_mutex_unlock (&mod->saver_lock);
  mod->saved_commit = commit;
  mod->saved_commit_us = g_get_monotonic_time ();
  if (mod->saver && g_thread_pool_unprocessed (mod->saver) == 0)
    g_thread_pool_push (mod->saver, GINT_TO_POINTER (1), NULL);
}

/* "index term base64(membership)": the core's compaction point. */
static gboolean
save_snapshot_meta (NornicModule *mod, guint64 index, guint64 term, const NcRaftMembership *m, GError **error)
{
  g_autoptr (GBytes) enc = nc_raft_membership_encode (m);
  gsize len;
  const guint8 *d = g_bytes_get_data (enc, &len);
  g_autofree char *b64 = g_base64_encode (d, len);
  g_autofree char *v = g_strdup_printf ("%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %s\n", index, term, b64);
  return mod->api->state_save (mod->api->core, "raft-snapshot", v, error);
}

static NcRaftMembership *
load_snapshot_meta (NornicModule *mod, guint64 *index, guint64 *term)
{
  g_autofree char *v = mod->api->state_load (mod->api->core, "raft-snapshot");
  if (v == NULL)
    return NULL;
  g_auto (GStrv) parts = g_strsplit (g_strstrip (v), " ", 3);
  if (g_strv_length (parts) != 3)
    return NULL;
  *index = g_ascii_strtoull (parts[0], NULL, 10);
  *term = g_ascii_strtoull (parts[1], NULL, 10);
  gsize len;
  guchar *raw = g_base64_decode (parts[2], &len);
  g_autoptr (GBytes) b = g_bytes_new_take (raw, len);
  return nc_raft_membership_decode (b, NULL);
}

/* ---- WAL completion -------------------------------------------------------------------- */

static void
wal_done_cb (guint64 index, gboolean ok, const GError *error, gpointer user_data)
{
  WalCtx *ctx = user_data;
  NornicModule *mod = ctx->mod;
  if (!ok)
    {
      /* The core blocks writes on a failed WAL; without durability we never
       * acknowledge this entry, so Raft stays safe. */
      LOG (mod, G_LOG_LEVEL_CRITICAL, "WAL append of %" G_GUINT64_FORMAT " failed: %s", index,
           error ? error->message : "unknown");
      g_free (ctx);
      return;
    }
  g_mutex_lock (&mod->lock);
  if (index > mod->durable_index || ctx->term != mod->durable_term)
    {
      mod->durable_index = index;
      mod->durable_term = ctx->term;
    }
  g_mutex_unlock (&mod->lock);
  g_free (ctx);
  kick (mod);
}

/* ---- messages --------------------------------------------------------------------------- */

static GPtrArray *
wire_entries (GPtrArray *entries)
{
  GPtrArray *out = nc_cluster_entries_new ();
  for (guint i = 0; entries && i < entries->len; i++)
    {
      NcRaftEntry *e = entries->pdata[i];
      g_autoptr (GBytes) rec = nc_raft_glue_entry_to_record (e);
      g_ptr_array_add (out, nc_cluster_entry_new (e->index, e->term, rec));
    }
  return out;
}

static guint64
context_id (GBytes *ctx)
{
  guint64 v = 0;
  if (ctx && g_bytes_get_size (ctx) == 8)
    memcpy (&v, g_bytes_get_data (ctx, NULL), 8);
  return v;
}

static GBytes *
id_context (guint64 v)
{
  return g_bytes_new (&v, 8);
}

static NcClusterMessage *
to_wire (const NcRaftMsg *m)
{
  NcClusterMessage *w = NULL;
  switch (m->type)
    {
    case NC_RAFT_MSG_VOTE_REQUEST:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_VOTE_REQUEST);
      w->u.vote_request.term = m->term;
      w->u.vote_request.candidate_id = g_strdup (m->from);
      w->u.vote_request.last_log_index = m->log_index;
      w->u.vote_request.last_log_term = m->log_term;
      w->u.vote_request.leadership_transfer = m->transfer;
      w->u.vote_request.genesis = m->genesis;
      break;
    case NC_RAFT_MSG_PRE_VOTE_REQUEST:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_PRE_VOTE_REQUEST);
      w->u.pre_vote_request.term = m->term;
      w->u.pre_vote_request.candidate_id = g_strdup (m->from);
      w->u.pre_vote_request.last_log_index = m->log_index;
      w->u.pre_vote_request.last_log_term = m->log_term;
      w->u.pre_vote_request.genesis = m->genesis;
      break;
    case NC_RAFT_MSG_VOTE_RESPONSE:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_VOTE_RESPONSE);
      w->u.vote_response.term = m->term;
      w->u.vote_response.vote_granted = !m->reject;
      break;
    case NC_RAFT_MSG_PRE_VOTE_RESPONSE:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_PRE_VOTE_RESPONSE);
      w->u.pre_vote_response.term = m->term;
      w->u.pre_vote_response.vote_granted = !m->reject;
      break;
    case NC_RAFT_MSG_APPEND_ENTRIES:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_APPEND_ENTRIES);
      w->u.append_entries.term = m->term;
      w->u.append_entries.leader_id = g_strdup (m->from);
      w->u.append_entries.prev_log_index = m->log_index;
      w->u.append_entries.prev_log_term = m->log_term;
      w->u.append_entries.entries = wire_entries (m->entries);
      w->u.append_entries.leader_commit = m->commit;
      w->u.append_entries.heartbeat = m->heartbeat;
      w->u.append_entries.context = m->context ? g_bytes_ref (m->context) : NULL;
      break;
    case NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_APPEND_ENTRIES_RESPONSE);
      w->u.append_entries_response.term = m->term;
      w->u.append_entries_response.success = !m->reject;
      w->u.append_entries_response.match_index = m->log_index;
      w->u.append_entries_response.conflict_index = m->hint_index;
      w->u.append_entries_response.conflict_term = m->hint_term;
      w->u.append_entries_response.heartbeat = m->heartbeat;
      w->u.append_entries_response.context = m->context ? g_bytes_ref (m->context) : NULL;
      break;
    case NC_RAFT_MSG_INSTALL_SNAPSHOT_RESPONSE:
      /* The core's answer (snapshot installed and durable): next_offset 0
       * tells it apart from the glue's per-chunk acknowledgements. */
      w = nc_cluster_message_new (NC_CLUSTER_MSG_INSTALL_SNAPSHOT_RESPONSE);
      w->u.install_snapshot_response.term = m->term;
      w->u.install_snapshot_response.success = !m->reject;
      w->u.install_snapshot_response.last_included_index = m->log_index;
      w->u.install_snapshot_response.next_offset = 0;
      break;
    case NC_RAFT_MSG_TIMEOUT_NOW:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_TIMEOUT_NOW);
      w->u.timeout_now.term = m->term;
      w->u.timeout_now.leader_id = g_strdup (m->from);
      break;
    case NC_RAFT_MSG_READ_INDEX_REQUEST:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_READ_INDEX_REQUEST);
      w->u.read_index_request.term = m->term;
      w->u.read_index_request.request_id = context_id (m->context);
      break;
    case NC_RAFT_MSG_READ_INDEX_RESPONSE:
      w = nc_cluster_message_new (NC_CLUSTER_MSG_READ_INDEX_RESPONSE);
      w->u.read_index_response.term = m->term;
      w->u.read_index_response.request_id = context_id (m->context);
      w->u.read_index_response.success = !m->reject;
      w->u.read_index_response.read_index = m->log_index;
      break;
    default:
      break;
    }
  return w;
}

static NcRaftMembership *
membership_from_lists (char **voters, char **learners)
{
  NcRaftMembership *m = nc_raft_membership_new ();
  for (int pass = 0; pass < 2; pass++)
    {
      char **list = pass == 0 ? voters : learners;
      for (guint i = 0; list && list[i]; i++)
        {
          const char *eq = strchr (list[i], '=');
          if (eq == NULL)
            continue;
          g_autofree char *id = g_strndup (list[i], (gsize) (eq - list[i]));
          nc_raft_membership_set (m, id, eq + 1, pass == 0);
        }
    }
  return m;
}

static void
membership_to_lists (const NcRaftMembership *m, char ***voters, char ***learners)
{
  g_autoptr (GStrvBuilder) v = g_strv_builder_new ();
  g_autoptr (GStrvBuilder) l = g_strv_builder_new ();
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      g_autofree char *s = g_strdup_printf ("%s=%s", nc_raft_membership_id (m, i),
                                            nc_raft_membership_address (m, i) ? nc_raft_membership_address (m, i) : "");
      g_strv_builder_add (nc_raft_membership_is_voter_at (m, i) ? v : l, s);
    }
  *voters = g_strv_builder_end (v);
  *learners = g_strv_builder_end (l);
}

/* (transfer full) NULL for messages the core does not take (chunks). */
static NcRaftMsg *
from_wire (NornicModule *mod, const NcClusterMessage *w)
{
  NcRaftMsg *m = NULL;
  switch (w->type)
    {
    case NC_CLUSTER_MSG_VOTE_REQUEST:
      m = nc_raft_msg_new (NC_RAFT_MSG_VOTE_REQUEST);
      m->term = w->u.vote_request.term;
      m->log_index = w->u.vote_request.last_log_index;
      m->log_term = w->u.vote_request.last_log_term;
      m->transfer = w->u.vote_request.leadership_transfer;
      m->genesis = w->u.vote_request.genesis;
      break;
    case NC_CLUSTER_MSG_PRE_VOTE_REQUEST:
      m = nc_raft_msg_new (NC_RAFT_MSG_PRE_VOTE_REQUEST);
      m->term = w->u.pre_vote_request.term;
      m->log_index = w->u.pre_vote_request.last_log_index;
      m->log_term = w->u.pre_vote_request.last_log_term;
      m->genesis = w->u.pre_vote_request.genesis;
      break;
    case NC_CLUSTER_MSG_VOTE_RESPONSE:
      m = nc_raft_msg_new (NC_RAFT_MSG_VOTE_RESPONSE);
      m->term = w->u.vote_response.term;
      m->reject = !w->u.vote_response.vote_granted;
      break;
    case NC_CLUSTER_MSG_PRE_VOTE_RESPONSE:
      m = nc_raft_msg_new (NC_RAFT_MSG_PRE_VOTE_RESPONSE);
      m->term = w->u.pre_vote_response.term;
      m->reject = !w->u.pre_vote_response.vote_granted;
      break;
    case NC_CLUSTER_MSG_APPEND_ENTRIES:
      {
        const NcClusterMsgAppendEntries *a = &w->u.append_entries;
        m = nc_raft_msg_new (NC_RAFT_MSG_APPEND_ENTRIES);
        m->term = a->term;
        m->log_index = a->prev_log_index;
        m->log_term = a->prev_log_term;
        m->commit = a->leader_commit;
        m->heartbeat = a->heartbeat;
        m->context = a->context ? g_bytes_ref (a->context) : NULL;
        m->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
        for (guint i = 0; a->entries && i < a->entries->len; i++)
          {
            NcClusterEntry *e = a->entries->pdata[i];
            g_ptr_array_add (m->entries, nc_raft_glue_entry_from_record (e->index, e->term, e->data));
          }
        break;
      }
    case NC_CLUSTER_MSG_APPEND_ENTRIES_RESPONSE:
      {
        const NcClusterMsgAppendEntriesResponse *a = &w->u.append_entries_response;
        m = nc_raft_msg_new (NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE);
        m->term = a->term;
        m->reject = !a->success;
        m->log_index = a->match_index;
        m->hint_index = a->conflict_index;
        m->hint_term = a->conflict_term;
        m->heartbeat = a->heartbeat;
        m->context = a->context ? g_bytes_ref (a->context) : NULL;
        break;
      }
    case NC_CLUSTER_MSG_INSTALL_SNAPSHOT_RESPONSE:
      m = nc_raft_msg_new (NC_RAFT_MSG_INSTALL_SNAPSHOT_RESPONSE);
      m->term = w->u.install_snapshot_response.term;
      m->reject = !w->u.install_snapshot_response.success;
      m->log_index = w->u.install_snapshot_response.last_included_index;
      break;
    case NC_CLUSTER_MSG_TIMEOUT_NOW:
      m = nc_raft_msg_new (NC_RAFT_MSG_TIMEOUT_NOW);
      m->term = w->u.timeout_now.term;
      break;
    case NC_CLUSTER_MSG_READ_INDEX_REQUEST:
      m = nc_raft_msg_new (NC_RAFT_MSG_READ_INDEX_REQUEST);
      m->term = w->u.read_index_request.term;
      m->context = id_context (w->u.read_index_request.request_id);
      break;
    case NC_CLUSTER_MSG_READ_INDEX_RESPONSE:
      m = nc_raft_msg_new (NC_RAFT_MSG_READ_INDEX_RESPONSE);
      m->term = w->u.read_index_response.term;
      m->context = id_context (w->u.read_index_response.request_id);
      m->reject = !w->u.read_index_response.success;
      m->log_index = w->u.read_index_response.read_index;
      break;
    default:
      return NULL;
    }
  m->from = g_strdup (w->from);
  m->to = g_strdup (mod->node_id);
  return m;
}

static gboolean
send_wire (NornicModule *mod, const char *to, NcClusterMessage *w)
{
  g_autoptr (NcClusterMessage) owned = w;
  g_autoptr (GError) error = NULL;
  if (mod->node == NULL || !nc_cluster_node_send (mod->node, to, w, &error))
    {
      LOG (mod, G_LOG_LEVEL_DEBUG, "send %s to %s failed: %s", nc_cluster_msg_type_name (w->type), to,
           error ? error->message : "not started");
      return FALSE;
    }
  return TRUE;
}

/* ---- snapshot sending (leader) ------------------------------------------------------------ */

static void
snap_send_free (gpointer p)
{
  SnapSend *s = p;
  g_free (s->peer);
  g_free (s->path);
  nc_raft_membership_free (s->membership);
  g_free (s);
}

static void
snap_send_pump (NornicModule *mod, SnapSend *s)
{
  s->pumped_us = g_get_monotonic_time ();
  while (s->sent < s->size && s->sent < s->acked + (guint64) SNAP_WINDOW * SNAP_CHUNK_BYTES)
    {
      g_autoptr (GFile) f = g_file_new_for_path (s->path);
      g_autoptr (GError) error = NULL;
      g_autoptr (GFileInputStream) in = g_file_read (f, NULL, &error);
      if (in == NULL || !g_seekable_seek (G_SEEKABLE (in), (goffset) s->sent, G_SEEK_SET, NULL, &error))
        {
          LOG (mod, G_LOG_LEVEL_WARNING, "snapshot %s for %s: %s", s->path, s->peer, error->message);
          s->last_us = 0; /* times out at once */
          return;
        }
      g_autoptr (GBytes) chunk = g_input_stream_read_bytes (G_INPUT_STREAM (in), SNAP_CHUNK_BYTES, NULL, &error);
      if (chunk == NULL || g_bytes_get_size (chunk) == 0)
        {
          s->last_us = 0;
          return;
        }
      NcClusterMessage *w = nc_cluster_message_new (NC_CLUSTER_MSG_INSTALL_SNAPSHOT);
      NcClusterMsgInstallSnapshot *is = &w->u.install_snapshot;
      is->term = mod->term;
      is->leader_id = g_strdup (mod->node_id);
      is->last_included_index = s->index;
      is->last_included_term = s->term;
      is->offset = s->sent;
      is->done = s->sent + g_bytes_get_size (chunk) >= s->size;
      membership_to_lists (s->membership, &is->voters, &is->learners);
      s->sent += g_bytes_get_size (chunk);
      is->data = g_steal_pointer (&chunk);
      if (!send_wire (mod, s->peer, w))
        {
          s->sent = s->acked;
          return;
        }
    }
}

/* The core asked for a snapshot to go to `m->to`. */
static void
snap_send_start (NornicModule *mod, const NcRaftMsg *m)
{
  guint64 index = 0, term = 0;
  g_autofree char *path = mod->api->snapshot_latest (mod->api->core, &index, &term);
  if (path == NULL || index != m->snapshot_index)
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "no snapshot file at index %" G_GUINT64_FORMAT " for %s (newest: %s at %" G_GUINT64_FORMAT ")",
           m->snapshot_index, m->to, path ? path : "none", index);
      g_ptr_array_add (mod->snap_failed, g_strdup (m->to));
      return;
    }
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      g_ptr_array_add (mod->snap_failed, g_strdup (m->to));
      return;
    }
  SnapSend *s = g_new0 (SnapSend, 1);
  s->peer = g_strdup (m->to);
  s->path = g_steal_pointer (&path);
  s->index = index;
  s->term = m->snapshot_term;
  s->membership = nc_raft_membership_copy (m->snapshot_membership);
  s->size = (guint64) st.st_size;
  s->last_us = g_get_monotonic_time ();
  g_hash_table_replace (mod->snap_sends, g_strdup (s->peer), s);
  LOG (mod, G_LOG_LEVEL_INFO, "sending snapshot %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " bytes) to %s", index,
       s->size, s->peer);
  snap_send_pump (mod, s);
}

static void
snap_send_ack (NornicModule *mod, const char *peer, guint64 next_offset)
{
  SnapSend *s = g_hash_table_lookup (mod->snap_sends, peer);
  if (s == NULL)
    return;
  s->last_us = g_get_monotonic_time ();
  /* Lost chunks are sent again by the tick (no progress) or on reconnect,
   * never on an acknowledgement: the rest of the window is still in flight. */
  if (next_offset > s->acked)
    s->acked = next_offset;
  if (s->acked >= s->size)
    {
      /* complete: the core learns the outcome from the follower's response */
      g_hash_table_remove (mod->snap_sends, peer);
      return;
    }
  snap_send_pump (mod, s);
}

/* ---- snapshot receiving (follower) ----------------------------------------------------------- */

static void
recv_reset (NornicModule *mod)
{
  if (mod->recv)
    {
      g_output_stream_close (mod->recv, NULL, NULL);
      g_clear_object (&mod->recv);
    }
  if (mod->recv_path)
    g_unlink (mod->recv_path);
  mod->recv_offset = 0;
  mod->recv_index = 0;
}

static void
recv_chunk (NornicModule *mod, const NcClusterMessage *w)
{
  const NcClusterMsgInstallSnapshot *is = &w->u.install_snapshot;
  gboolean ok = TRUE;
  if (is->offset == 0 && (mod->recv == NULL || mod->recv_index != is->last_included_index || mod->recv_offset != 0))
    {
      recv_reset (mod);
      g_autoptr (GFile) f = g_file_new_for_path (mod->recv_path);
      g_autoptr (GError) error = NULL;
      GFileOutputStream *out = g_file_replace (f, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL, &error);
      if (out == NULL)
        {
          LOG (mod, G_LOG_LEVEL_WARNING, "cannot create %s: %s", mod->recv_path, error->message);
          ok = FALSE;
        }
      else
        {
          mod->recv = G_OUTPUT_STREAM (out);
          mod->recv_index = is->last_included_index;
          mod->recv_term = is->last_included_term;
        }
    }
  if (ok && mod->recv && is->last_included_index == mod->recv_index && is->offset == mod->recv_offset)
    {
      gsize len;
      const guint8 *d = g_bytes_get_data (is->data, &len);
      g_autoptr (GError) error = NULL;
      if (!g_output_stream_write_all (mod->recv, d, len, NULL, NULL, &error))
        {
          LOG (mod, G_LOG_LEVEL_WARNING, "writing %s: %s", mod->recv_path, error->message);
          recv_reset (mod);
          ok = FALSE;
        }
      else
        mod->recv_offset += len;
    }
  NcClusterMessage *ack = nc_cluster_message_new (NC_CLUSTER_MSG_INSTALL_SNAPSHOT_RESPONSE);
  ack->u.install_snapshot_response.term = is->term;
  ack->u.install_snapshot_response.success = ok;
  ack->u.install_snapshot_response.last_included_index = is->last_included_index;
  ack->u.install_snapshot_response.next_offset = ok ? MAX (mod->recv_offset, 1) : 0;
  if (ok && is->done && mod->recv && is->offset + g_bytes_get_size (is->data) == mod->recv_offset)
    {
      g_autoptr (GError) error = NULL;
      if (!g_output_stream_flush (mod->recv, NULL, &error) || !g_output_stream_close (mod->recv, NULL, &error))
        {
          ack->u.install_snapshot_response.success = FALSE;
          ack->u.install_snapshot_response.next_offset = 0;
          g_clear_object (&mod->recv);
          send_wire (mod, w->from, ack);
          return;
        }
      g_clear_object (&mod->recv);
      /* Hand the metadata to the core; it answers through a Ready. */
      g_autoptr (NcRaftMsg) m = nc_raft_msg_new (NC_RAFT_MSG_INSTALL_SNAPSHOT);
      m->from = g_strdup (w->from);
      m->to = g_strdup (mod->node_id);
      m->term = is->term;
      m->snapshot_index = is->last_included_index;
      m->snapshot_term = is->last_included_term;
      m->snapshot_membership = membership_from_lists (is->voters, is->learners);
      m->chunk_offset = is->offset;
      m->chunk_done = TRUE;
      send_wire (mod, w->from, ack);
      nc_raft_step (mod->raft, m);
      return;
    }
  send_wire (mod, w->from, ack);
}

/* ---- transport peers ------------------------------------------------------------------------- */

static void
reconcile_peers (NornicModule *mod)
{
  if (mod->node == NULL || mod->stopping)
    return;
  g_autoptr (GHashTable) want = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, mod->config_peers);
  while (g_hash_table_iter_next (&it, &k, &v))
    g_hash_table_insert (want, k, v);
  const NcRaftMembership *m = nc_raft_membership (mod->raft);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    if (g_strcmp0 (nc_raft_membership_id (m, i), mod->node_id) != 0 && nc_raft_membership_address (m, i))
      g_hash_table_insert (want, (gpointer) nc_raft_membership_id (m, i), (gpointer) nc_raft_membership_address (m, i));
  /* drop dialled peers no longer wanted (or moved) */
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&it, mod->dialled);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      const char *addr = g_hash_table_lookup (want, k);
      if (addr == NULL || strcmp (addr, v) != 0)
        {
          nc_cluster_node_remove_peer (mod->node, v);
          g_ptr_array_add (gone, g_strdup (k));
        }
    }
  for (guint i = 0; i < gone->len; i++)
    g_hash_table_remove (mod->dialled, gone->pdata[i]);
  g_hash_table_iter_init (&it, want);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      if (g_hash_table_contains (mod->dialled, k))
        continue;
      g_autoptr (GError) error = NULL;
      if (nc_cluster_node_add_peer (mod->node, k, v, &error))
        g_hash_table_insert (mod->dialled, g_strdup (k), g_strdup (v));
      else
        LOG (mod, G_LOG_LEVEL_WARNING, "cannot add peer %s at %s: %s", (char *) k, (char *) v, error->message);
    }
}

/* ---- the Ready loop -------------------------------------------------------------------------- */

static void
on_role_change (NornicModule *mod, NcRaftRole role, const char *leader, guint64 term, GSList **done)
{
  gboolean was_leader = mod->raft_role == NC_RAFT_LEADER;
  guint64 old_term = mod->term;
  if (g_strcmp0 (leader, mod->leader) != 0 && leader != NULL)
    mod->leader_changes++;
  g_free (mod->leader);
  mod->leader = g_strdup (leader);
  mod->raft_role = role;
  mod->term = term;
  if (leader == NULL)
    {
      if (mod->no_leader_since_us == 0)
        mod->no_leader_since_us = g_get_monotonic_time ();
    }
  else
    mod->no_leader_since_us = 0;
  if (role == NC_RAFT_LEADER && (!was_leader || old_term != term))
    {
      mod->writes_ready = FALSE;
      mod->term_start = nc_raft_last_index (mod->raft);
      LOG (mod, G_LOG_LEVEL_INFO, "leader in term %" G_GUINT64_FORMAT, term);
    }
  if (was_leader && (role != NC_RAFT_LEADER || old_term != term))
    {
      mod->writes_ready = FALSE;
#ifdef NC_MULTI_REGION
      if (mod->region)
        nc_region_node_set_leader (mod->region, FALSE);
      mod->region_own_max = mod->region_local_max = 0;
#endif
      *done = fail_pending (mod, *done, NC_ERROR_LEADER_SWITCH,
                            "Leadership changed before the write was replicated to a majority; it may or may not "
                            "have been applied, retry");
      g_hash_table_remove_all (mod->snap_sends);
      g_hash_table_remove_all (mod->promote);
      g_hash_table_remove_all (mod->rejoin);
      /* Versions this node applied for entries that never committed here go;
       * committed ones come back from the WAL when applied. */
      guint64 commit = nc_raft_commit_index (mod->raft);
      LOG (mod, G_LOG_LEVEL_INFO, "lost leadership (term %" G_GUINT64_FORMAT "), discarding store versions after %" G_GUINT64_FORMAT,
           term, commit);
      const NornicCoreApi *api = mod->api;
      UNLOCKED (mod, api->discard_uncommitted (api->core, commit));
    }
  publish_role (mod);
}

/* Caller holds the lock. Processes every Ready; returns callbacks to run. */
static GSList *
process (NornicModule *mod)
{
  const NornicCoreApi *api = mod->api;
  GSList *done = NULL;
  if (mod->raft == NULL || mod->stopping)
    return NULL;
  /* WAL completions since the last pass (stale ones, for entries since
   * truncated, are ignored by the core's term check). */
  if (mod->durable_index != mod->reported_durable)
    {
      nc_raft_persisted (mod->raft, mod->durable_index, mod->durable_term);
      mod->reported_durable = mod->durable_index;
    }
  if (g_hash_table_size (mod->reads) > 0)
    {
      GHashTableIter it;
      gpointer v;
      g_hash_table_iter_init (&it, mod->reads);
      while (g_hash_table_iter_next (&it, NULL, &v))
        {
          ReadWait *w = v;
          if (w->issued)
            continue;
          w->issued = TRUE;
          g_autoptr (GBytes) ctx = g_bytes_new (&w->id, sizeof w->id);
          g_autoptr (GError) error = NULL;
          if (!nc_raft_read_index (mod->raft, ctx, &error))
            {
              w->done = TRUE;
              w->why = "no leader can confirm the read index right now";
            }
        }
      g_cond_broadcast (&mod->read_cond);
    }
  for (int round = 0; round < 64 && nc_raft_has_ready (mod->raft); round++)
    {
      NcRaftReady rd = { 0 };
      if (!nc_raft_ready (mod->raft, &rd))
        break;
      /* The hard state's commit changes with nearly every Ready; only a new
       * term or vote must reach the disk before the messages (the commit
       * index is saved lazily by the saver thread). */
      if (rd.has_hard_state && (rd.hard_state.term != mod->saved_term || g_strcmp0 (rd.hard_state.vote, mod->saved_vote) != 0
                                || rd.hard_state.history != mod->saved_history))
        {
          g_autoptr (GError) error = NULL;
          if (!save_hard_state (mod, rd.hard_state.term, rd.hard_state.vote, rd.hard_state.history, &error))
            {
              /* Never send a vote that is not on disk: stop here. */
              LOG (mod, G_LOG_LEVEL_CRITICAL, "cannot persist the Raft hard state: %s", error->message);
              api->set_write_block (api->core, "the Raft hard state cannot be persisted");
              g_ptr_array_set_size (rd.messages, 0);
            }
          else
            {
              mod->saved_term = rd.hard_state.term;
              g_free (mod->saved_vote);
              mod->saved_vote = g_strdup (rd.hard_state.vote);
              mod->saved_history = rd.hard_state.history;
              nc_raft_hard_state_persisted (mod->raft, rd.hard_state.term, rd.hard_state.vote);
            }
        }
      else if (rd.has_hard_state)
        nc_raft_hard_state_persisted (mod->raft, rd.hard_state.term, rd.hard_state.vote);
      if (rd.snapshot)
        {
          g_autoptr (GError) error = NULL;
          gboolean ok;
          char *path = mod->recv_path;
          LOG (mod, G_LOG_LEVEL_INFO, "installing snapshot %" G_GUINT64_FORMAT " from the leader", rd.snapshot->index);
          /* A snapshot of our own being written reads the store we replace. */
          GThread *own = g_steal_pointer (&mod->snap_thread);
          UNLOCKED (mod, if (own) g_thread_join (own); ok = api->snapshot_install (api->core, path, &error));
          if (!ok)
            LOG (mod, G_LOG_LEVEL_CRITICAL, "installing the snapshot failed: %s", error->message);
          else
            {
              if (!save_snapshot_meta (mod, rd.snapshot->index, rd.snapshot->term, rd.snapshot->membership, &error))
                LOG (mod, G_LOG_LEVEL_WARNING, "cannot save snapshot metadata: %s", error->message);
              mod->snap_persisted_due = TRUE;
              mod->snap_persisted_index = rd.snapshot->index;
              mod->snap_persisted_term = rd.snapshot->term;
              mod->last_snapshot_index = rd.snapshot->index;
              mod->durable_index = mod->reported_durable = rd.snapshot->index;
              mod->durable_term = rd.snapshot->term;
              /* The installed snapshot is visible to readers. */
              mod->published = MAX (mod->published, rd.snapshot->index);
#ifdef NC_MULTI_REGION
              region_snapshot_installed (mod, rd.snapshot->index);
#endif
            }
          g_unlink (path);
        }
      if (rd.truncate)
        {
          g_autoptr (GError) error = NULL;
          gboolean ok;
          /* The WAL waits for queued writes, whose completions take our lock. */
          UNLOCKED (mod, ok = api->wal_truncate_after (api->core, rd.truncate_after, &error));
          if (!ok)
            LOG (mod, G_LOG_LEVEL_CRITICAL, "truncating the log after %" G_GUINT64_FORMAT ": %s", rd.truncate_after,
                 error->message);
          if (mod->durable_index > rd.truncate_after)
            mod->durable_index = mod->reported_durable = rd.truncate_after;
        }
      for (guint i = 0; rd.entries && i < rd.entries->len; i++)
        {
          NcRaftEntry *e = rd.entries->pdata[i];
          g_autoptr (GBytes) rec = nc_raft_glue_entry_to_record (e);
          g_autoptr (GError) error = NULL;
          WalCtx *ctx = g_new0 (WalCtx, 1);
          ctx->mod = mod;
          ctx->term = e->term;
          if (!api->wal_append_encoded (api->core, e->index, e->term, rec, wal_done_cb, ctx, &error))
            {
              g_free (ctx);
              LOG (mod, G_LOG_LEVEL_CRITICAL, "WAL append of %" G_GUINT64_FORMAT " failed: %s", e->index, error->message);
              break;
            }
        }
      for (guint i = 0; rd.messages && i < rd.messages->len; i++)
        {
          NcRaftMsg *m = rd.messages->pdata[i];
          if (m->type == NC_RAFT_MSG_INSTALL_SNAPSHOT)
            {
              snap_send_start (mod, m);
              continue;
            }
          NcClusterMessage *w = to_wire (m);
          if (w)
            send_wire (mod, m->to, w);
        }
      for (guint i = 0; rd.committed && i < rd.committed->len; i++)
        {
          NcRaftEntry *e = rd.committed->pdata[i];
          if (e->index > mod->apply_target)
            mod->apply_target = e->index;
#ifdef NC_MULTI_REGION
          if (mod->region)
            {
              g_autoptr (GBytes) rec = nc_raft_glue_entry_to_record (e);
              region_committed (mod, e->index, rec);
            }
#endif
          Pending *p;
          while ((p = g_queue_peek_head (&mod->pending)) != NULL && p->index <= e->index)
            {
              g_queue_pop_head (&mod->pending);
              if (p->index == e->index && p->term == e->term)
#ifdef NC_MULTI_REGION
                done = region_semi_hold (mod, done, p);
#else
                done = done_add (done, p, NULL);
#endif
              else
                done = done_add (done, p, g_error_new_literal (RAFT_NC_ERROR, NC_ERROR_LEADER_SWITCH,
                                                               "The write was overwritten by a new leader; retry"));
            }
        }
      for (guint i = 0; rd.read_states && i < rd.read_states->len; i++)
        {
          NcRaftReadState *rs = rd.read_states->pdata[i];
          guint64 id = 0;
          if (rs->context && g_bytes_get_size (rs->context) == sizeof id)
            memcpy (&id, g_bytes_get_data (rs->context, NULL), sizeof id);
          ReadWait *w = g_hash_table_lookup (mod->reads, &id);
          if (w && !w->done)
            {
              w->confirmed = TRUE;
              w->index = rs->index;
            }
        }
      gboolean soft = rd.has_soft_state;
      NcRaftRole role = rd.role;
      g_autofree char *leader = g_strdup (rd.leader);
      guint64 term = rd.term;
      gboolean conf_appended = FALSE;
      for (guint i = 0; rd.entries && i < rd.entries->len; i++)
        if (((NcRaftEntry *) rd.entries->pdata[i])->type == NC_RAFT_ENTRY_CONF_CHANGE)
          conf_appended = TRUE;
      nc_raft_advance (mod->raft, &rd);
      nc_raft_ready_clear (&rd);
      if (mod->snap_persisted_due)
        {
          mod->snap_persisted_due = FALSE;
          nc_raft_persisted (mod->raft, mod->snap_persisted_index, mod->snap_persisted_term);
        }
      for (guint i = 0; i < mod->snap_failed->len; i++)
        nc_raft_snapshot_done (mod->raft, mod->snap_failed->pdata[i], FALSE);
      g_ptr_array_set_size (mod->snap_failed, 0);
      if (soft)
        on_role_change (mod, role, leader, term, &done);
      if (conf_appended || soft)
        {
          reconcile_peers (mod);
          publish_role (mod);
        }
    }

  /* Apply what committed. */
  guint64 target = MIN (mod->apply_target, nc_raft_commit_index (mod->raft));
  if (target > 0)
    {
      gboolean leader = mod->raft_role == NC_RAFT_LEADER;
      guint64 applied = api->applied_index (api->core);
      if (leader && mod->writes_ready)
        {
#ifdef NC_MULTI_REGION
          /* Entries the region half proposed (shipped write-sets, epochs,
           * resolutions) are not in our store: apply them from the log once
           * committed. Local submits are refused meanwhile, and every local
           * write submitted before is in the store (applied >= local_max),
           * so everything between applied and them comes from the log. */
          guint64 own = MIN (target, mod->region_own_max);
          if (own > applied && applied >= mod->region_local_max)
            {
              g_autoptr (GError) error = NULL;
              gboolean ok;
              UNLOCKED (mod, ok = api->apply_committed (api->core, own, &error));
              if (!ok)
                LOG (mod, G_LOG_LEVEL_CRITICAL, "applying region entries up to %" G_GUINT64_FORMAT ": %s", own,
                     error->message);
              applied = api->applied_index (api->core);
            }
#endif
          /* Our own writes are in the store since submit: publish only. */
          guint64 upto = MIN (target, applied);
          if (upto > 0 && api->apply_committed (api->core, upto, NULL))
            mod->published = MAX (mod->published, upto);
        }
      else if (target > applied || !leader)
        {
          g_autoptr (GError) error = NULL;
          gboolean ok;
          UNLOCKED (mod, ok = api->apply_committed (api->core, target, &error));
          if (!ok)
            LOG (mod, G_LOG_LEVEL_CRITICAL, "applying committed entries up to %" G_GUINT64_FORMAT ": %s", target,
                 error->message);
          else
            mod->published = MAX (mod->published, target);
        }
      if (mod->raft_role == NC_RAFT_LEADER && !mod->writes_ready && mod->apply_target >= mod->term_start
          && api->applied_index (api->core) >= MIN (mod->term_start, api->wal_last_index (api->core)))
        {
          mod->writes_ready = TRUE;
          LOG (mod, G_LOG_LEVEL_INFO, "accepting writes (applied %" G_GUINT64_FORMAT ")", api->applied_index (api->core));
#ifdef NC_MULTI_REGION
          if (mod->region)
            nc_region_node_set_leader (mod->region, TRUE);
#endif
          publish_role (mod);
        }
    }
  if (g_hash_table_size (mod->reads) > 0)
    {
      /* Release a read only once its index is VISIBLE to readers: a leader's
       * store holds its own submitted writes before they commit, so the
       * store's applied index can run ahead of what a new transaction sees. */
      guint64 visible = MIN (reported_applied (mod), mod->published);
      GHashTableIter it;
      gpointer v;
      g_hash_table_iter_init (&it, mod->reads);
      while (g_hash_table_iter_next (&it, NULL, &v))
        {
          ReadWait *w = v;
          if (w->confirmed && !w->done && visible >= w->index)
            w->done = w->ok = TRUE;
        }
      g_cond_broadcast (&mod->read_cond);
    }
  /* The commit index is only an optimisation for recovery: save lazily. */
  guint64 commit = MIN (nc_raft_commit_index (mod->raft), nc_raft_applied_index (mod->raft));
  if (commit > mod->saved_commit && g_get_monotonic_time () - mod->saved_commit_us > COMMIT_SAVE_US)
    save_commit (mod, commit);
#ifdef NC_MULTI_REGION
  done = region_semi_release (mod, done);
  region_refresh_role (mod);
#endif
  return done;
}

static gboolean
kick_cb (gpointer data)
{
  NornicModule *mod = data;
  g_mutex_lock (&mod->lock);
  mod->kick_source = 0;
  GSList *done = process (mod);
  g_mutex_unlock (&mod->lock);
  nornic_commit_done_run (done);
  return G_SOURCE_REMOVE;
}

/* kick() without taking `lock` (held by the caller): e.g. an HTTP
 * thread's proposal must reach the main loop now, not at the next tick. */
static void
kick_locked (NornicModule *mod)
{
  if (mod->kick_source == 0 && !mod->stopping)
    mod->kick_source = nornic_module_add_idle (mod->api, G_PRIORITY_HIGH, kick_cb, mod);
}

/* Any thread. */
static void
kick (NornicModule *mod)
{
  g_mutex_lock (&mod->lock);
  kick_locked (mod);
  g_mutex_unlock (&mod->lock);
}

/* ---- snapshots ---------------------------------------------------------------------------------- */

static int
cmp_u64 (gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;
  return x < y ? -1 : x > y;
}

/* The core prunes snapshots only in the modes where it schedules them:
 * keep the newest `keep` files of the directory `newest` is in; returns the
 * index of the oldest one kept. */
static guint64
prune_snapshots (NornicModule *mod, const char *newest, guint keep)
{
  g_autofree char *dir = g_path_get_dirname (newest);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return 0;
  g_autoptr (GArray) found = g_array_new (FALSE, FALSE, sizeof (guint64));
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      if (strlen (name) != strlen ("snapshot-") + 20 + strlen (".snap") || !g_str_has_prefix (name, "snapshot-")
          || !g_str_has_suffix (name, ".snap"))
        continue;
      char *end = NULL;
      guint64 v = g_ascii_strtoull (name + strlen ("snapshot-"), &end, 10);
      if (end == name + strlen ("snapshot-") + 20)
        g_array_append_val (found, v);
    }
  g_array_sort (found, cmp_u64);
  guint drop = found->len > keep ? found->len - keep : 0;
  for (guint i = 0; i < drop; i++)
    {
      g_autofree char *file = g_strdup_printf ("%s/snapshot-%020" G_GUINT64_FORMAT ".snap", dir,
                                               g_array_index (found, guint64, i));
      if (g_unlink (file) != 0)
        LOG (mod, G_LOG_LEVEL_WARNING, "cannot remove old snapshot %s", file);
    }
  return found->len > drop ? g_array_index (found, guint64, drop) : 0;
}

/* Caller holds the lock; main loop. Compacts after a snapshot file at
 * `index` was written (takes `path`). */
static gboolean
finish_snapshot (NornicModule *mod, char *path, guint64 index, guint64 term, guint64 *index_out, GError **error)
{
  const NornicCoreApi *api = mod->api;
  guint keep = (guint) MAX (api->config_get_int (api->core, "NORNICDB_SNAPSHOT_KEEP"), 1);
  guint64 oldest_kept = prune_snapshots (mod, path, keep);
  g_free (path);
  mod->last_snapshot_us = g_get_monotonic_time ();
  if (index_out)
    *index_out = index;
  if (index <= mod->last_snapshot_index || index > nc_raft_applied_index (mod->raft))
    return TRUE;
  if (!nc_raft_compact (mod->raft, index, error))
    return FALSE;
  mod->last_snapshot_index = index;
  if (!save_snapshot_meta (mod, index, nc_raft_log_term (mod->raft, index) ? nc_raft_log_term (mod->raft, index) : term,
                           nc_raft_snapshot_membership (mod->raft), error))
    return FALSE;
#ifdef NC_MULTI_REGION
  region_save_state (mod, index);
#endif
  /* Keep TRAILING_LOGS entries for slow followers, and the log from the
   * oldest kept snapshot on, so a damaged newest snapshot can fall back. */
  guint64 upto = index > mod->trailing ? index - mod->trailing : 0;
  upto = MIN (upto, oldest_kept);
  if (upto > 0)
    {
      g_mutex_unlock (&mod->lock);
      api->wal_compact (api->core, upto);
      g_mutex_lock (&mod->lock);
    }
  LOG (mod, G_LOG_LEVEL_INFO, "snapshot at %" G_GUINT64_FORMAT ", log compacted up to %" G_GUINT64_FORMAT, index, upto);
  return TRUE;
}

/* Snapshots (scheduled and POST /admin/raft/snapshot) are written on a
 * thread so that the main loop keeps sending heartbeats; compaction then
 * happens back on the main loop. */
static gboolean
snapshot_done_cb (gpointer data)
{
  NornicModule *mod = data;
  g_mutex_lock (&mod->lock);
  mod->snap_done_source = 0;
  GThread *t = g_steal_pointer (&mod->snap_thread);
  char *path = g_steal_pointer (&mod->snap_result_path);
  GError *error = g_steal_pointer (&mod->snap_result_error);
  guint64 index = mod->snap_result_index, term = mod->snap_result_term;
  g_mutex_unlock (&mod->lock);
  if (t)
    g_thread_join (t);
  g_mutex_lock (&mod->lock);
  if (path == NULL || !finish_snapshot (mod, path, index, term, NULL, &error))
    {
      if (error == NULL)
        g_set_error_literal (&error, RAFT_NC_ERROR, NC_ERROR_UNAVAILABLE, "the snapshot failed");
      LOG (mod, G_LOG_LEVEL_WARNING, "snapshot failed: %s", error->message);
    }
  /* Only one snapshot thread runs at a time, so this is its generation. */
  mod->snap_done_gen = mod->snap_gen;
  mod->snap_done_index = index;
  g_clear_error (&mod->snap_done_error);
  mod->snap_done_error = error;
  g_mutex_unlock (&mod->lock);
  return G_SOURCE_REMOVE;
}

static gpointer
snapshot_thread (gpointer data)
{
  NornicModule *mod = data;
  guint64 index = 0, term = 0;
  GError *error = NULL;
  char *path = mod->api->snapshot_create (mod->api->core, &index, &term, &error);
  g_mutex_lock (&mod->lock);
  mod->snap_result_path = path;
  mod->snap_result_error = error;
  mod->snap_result_index = index;
  mod->snap_result_term = term;
  if (!mod->stopping)
    {
      GSource *s = g_idle_source_new ();
      g_source_set_callback (s, snapshot_done_cb, mod, NULL);
      mod->snap_done_source = g_source_attach (s, mod->api->main_context);
      g_source_unref (s);
    }
  g_mutex_unlock (&mod->lock);
  return NULL;
}

/* Caller holds the lock; main loop only. */
static void
refresh_transport_cache (NornicModule *mod)
{
  mod->transport_cached_us = g_get_monotonic_time ();
  g_hash_table_remove_all (mod->peer_health);
  g_autoptr (GPtrArray) peers = nc_cluster_node_list_peers (mod->node);
  for (guint i = 0; peers && i < peers->len; i++)
    {
      NcClusterPeerStatus *st = peers->pdata[i];
      if (st->peer_id && st->healthy)
        g_hash_table_add (mod->peer_health, g_strdup (st->peer_id));
    }
  GString *out = g_string_new (NULL);
  nc_cluster_node_append_metrics (mod->node, out, mod->api->append_metric);
  g_free (mod->transport_metrics);
  mod->transport_metrics = g_string_free (out, FALSE);
}

/* ---- timers ------------------------------------------------------------------------------------- */

static gboolean
tick_cb (gpointer data)
{
  NornicModule *mod = data;
  g_mutex_lock (&mod->lock);
  if (mod->stopping)
    {
      g_mutex_unlock (&mod->lock);
      return G_SOURCE_CONTINUE;
    }
  nc_raft_tick (mod->raft);
  gint64 now = g_get_monotonic_time ();
  if (now - mod->transport_cached_us >= 250 * 1000)
    refresh_transport_cache (mod);
  /* stalled snapshot transfers */
  GHashTableIter it;
  gpointer k, v;
  g_autoptr (GPtrArray) stalled = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&it, mod->snap_sends);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (now - ((SnapSend *) v)->last_us > SNAP_TIMEOUT_US)
      g_ptr_array_add (stalled, g_strdup (k));
  /* chunks lost with a connection: send again from what was acknowledged */
  g_hash_table_iter_init (&it, mod->snap_sends);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      SnapSend *ss = v;
      if (now - ss->last_us <= SNAP_TIMEOUT_US && now - MAX (ss->last_us, ss->pumped_us) > 2 * mod->election_ms * 1000)
        {
          ss->sent = ss->acked;
          snap_send_pump (mod, ss);
        }
    }
  for (guint i = 0; i < stalled->len; i++)
    {
      LOG (mod, G_LOG_LEVEL_WARNING, "snapshot transfer to %s stalled; will retry", (char *) stalled->pdata[i]);
      g_hash_table_remove (mod->snap_sends, stalled->pdata[i]);
      nc_raft_snapshot_done (mod->raft, stalled->pdata[i], FALSE);
    }
  /* re-add members that lost their state */
  if (mod->raft_role == NC_RAFT_LEADER && g_hash_table_size (mod->rejoin) > 0)
    {
      GHashTableIter rit;
      gpointer rk, rv;
      g_hash_table_iter_init (&rit, mod->rejoin);
      while (g_hash_table_iter_next (&rit, &rk, &rv))
        {
          const NcRaftMembership *m = nc_raft_membership (mod->raft);
          gboolean present = nc_raft_membership_contains (m, rk);
          NcRaftConfChange cc = { .type = present ? NC_RAFT_CONF_REMOVE : NC_RAFT_CONF_ADD_LEARNER, .id = rk, .address = rv };
          guint64 index;
          g_autoptr (GError) error = NULL;
          if (nc_raft_propose_conf_change (mod->raft, &cc, &index, &error))
            {
              LOG (mod, G_LOG_LEVEL_INFO, "%s %s (index %" G_GUINT64_FORMAT ")", present ? "removing" : "re-adding",
                   (char *) rk, index);
              if (!present)
                {
                  g_hash_table_add (mod->promote, g_strdup (rk));
                  g_hash_table_iter_remove (&rit);
                }
            }
          break; /* one membership change at a time */
        }
    }
  /* promote caught-up learners */
  if (mod->raft_role == NC_RAFT_LEADER && g_hash_table_size (mod->promote) > 0)
    {
      g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
      GHashTableIter pit;
      gpointer pk;
      g_hash_table_iter_init (&pit, mod->promote);
      while (g_hash_table_iter_next (&pit, &pk, NULL))
        g_ptr_array_add (ids, g_strdup (pk));
      for (guint i = 0; i < ids->len; i++)
        {
          const char *id = ids->pdata[i];
          guint64 match = 0;
          const NcRaftMembership *m = nc_raft_membership (mod->raft);
          if (!nc_raft_membership_contains (m, id) || nc_raft_membership_is_voter (m, id))
            {
              g_hash_table_remove (mod->promote, id);
              continue;
            }
          if (nc_raft_peer_match (mod->raft, id, &match) && match + mod->max_append >= nc_raft_commit_index (mod->raft)
              && match > 0)
            {
              NcRaftConfChange cc = { .type = NC_RAFT_CONF_PROMOTE, .id = id };
              guint64 index;
              g_autoptr (GError) error = NULL;
              if (nc_raft_propose_conf_change (mod->raft, &cc, &index, &error))
                {
                  LOG (mod, G_LOG_LEVEL_INFO, "promoting %s to voter (index %" G_GUINT64_FORMAT ")", id, index);
                  g_hash_table_remove (mod->promote, id);
                }
            }
        }
    }
  /* snapshots */
  guint64 applied = nc_raft_applied_index (mod->raft);
  if (applied > mod->last_snapshot_index && mod->snap_thread == NULL && mod->snap_done_source == 0
      && (applied - mod->last_snapshot_index >= mod->snap_threshold
          || now - mod->last_snapshot_us >= mod->snap_interval_ms * 1000))
    {
      mod->last_snapshot_us = now;
      mod->snap_gen++;
      mod->snap_thread = g_thread_new ("raft-snapshot", snapshot_thread, mod);
    }
#ifdef NC_MULTI_REGION
  if (mod->region)
    nc_region_node_tick (mod->region);
  if (mod->region_state_wanted && now - mod->region_state_asked_us > G_USEC_PER_SEC)
    region_ask_state (mod);
#endif
  GSList *done = process (mod);
  g_mutex_unlock (&mod->lock);
  nornic_commit_done_run (done);
  return G_SOURCE_CONTINUE;
}

/* ---- transport callbacks ---------------------------------------------------------------------------- */

static void
on_message (NcClusterNode *node, const NcClusterMessage *msg, gpointer user_data)
{
  (void) node;
  NornicModule *mod = user_data;
  g_mutex_lock (&mod->lock);
  if (mod->stopping || mod->raft == NULL)
    {
      g_mutex_unlock (&mod->lock);
      return;
    }
#ifdef NC_MULTI_REGION
  /* The transport accepts every cluster id (other regions): only the region
   * messages may come from another cluster; Raft traffic must be ours. */
  if (msg->type == NC_CLUSTER_MSG_REGION_SHIP || msg->type == NC_CLUSTER_MSG_REGION_SHIP_ACK
      || msg->type == NC_CLUSTER_MSG_REGION_EPOCH || msg->type == NC_CLUSTER_MSG_REGION_EPOCH_ACK
      || msg->type == NC_CLUSTER_MSG_REGION_SNAPSHOT_CHUNK)
    {
      if (mod->region)
        nc_region_node_receive (mod->region, msg);
      /* A RegionShipAck may release semi_sync writes and ALL reads. */
      if (!g_queue_is_empty (&mod->region_semi))
        kick_locked (mod);
      g_cond_broadcast (&mod->read_cond);
    }
  else if (g_strcmp0 (msg->cluster, mod->cluster_id) != 0)
    LOG (mod, G_LOG_LEVEL_DEBUG, "ignoring %s from %s of cluster %s", nc_cluster_msg_type_name (msg->type), msg->from,
         msg->cluster);
  else if (msg->type == NC_CLUSTER_MSG_REGION_STATE_REQUEST || msg->type == NC_CLUSTER_MSG_REGION_STATE)
    region_state_message (mod, msg);
  else if (msg->type == NC_CLUSTER_MSG_REGION_ADMIN || msg->type == NC_CLUSTER_MSG_REGION_ADMIN_REPLY)
    region_admin_message (mod, msg);
  else
#endif
  if (msg->type == NC_CLUSTER_MSG_INSTALL_SNAPSHOT)
    {
      recv_chunk (mod, msg);
    }
  else if (msg->type == NC_CLUSTER_MSG_INSTALL_SNAPSHOT_RESPONSE && msg->u.install_snapshot_response.next_offset > 0)
    {
      snap_send_ack (mod, msg->from, msg->u.install_snapshot_response.next_offset);
    }
  else
    {
      if (msg->type == NC_CLUSTER_MSG_INSTALL_SNAPSHOT_RESPONSE)
        g_hash_table_remove (mod->snap_sends, msg->from);
      /* A follower whose log ends below what it acknowledged lost its data
       * (the core ignores such rejections as stale): re-add it. */
      guint64 match = 0;
      if (msg->type == NC_CLUSTER_MSG_APPEND_ENTRIES_RESPONSE && mod->raft_role == NC_RAFT_LEADER
          && !msg->u.append_entries_response.success && msg->u.append_entries_response.term == mod->term
          && nc_raft_peer_match (mod->raft, msg->from, &match)
          && msg->u.append_entries_response.conflict_index < match
          && !g_hash_table_contains (mod->rejoin, msg->from))
        {
          const char *addr = nc_raft_membership_address_of (nc_raft_membership (mod->raft), msg->from);
          if (addr)
            {
              LOG (mod, G_LOG_LEVEL_WARNING,
                   "member %s lost its log (it ends at %" G_GUINT64_FORMAT ", it had acknowledged %" G_GUINT64_FORMAT
                   "): removing it and adding it again as a learner",
                   msg->from, msg->u.append_entries_response.conflict_index, match);
              g_hash_table_replace (mod->rejoin, g_strdup (msg->from), g_strdup (addr));
            }
        }
      g_autoptr (NcRaftMsg) m = from_wire (mod, msg);
      if (m)
        nc_raft_step (mod->raft, m);
      else if (msg->type != NC_CLUSTER_MSG_ERROR)
        LOG (mod, G_LOG_LEVEL_DEBUG, "ignoring %s from %s", nc_cluster_msg_type_name (msg->type), msg->from);
    }
  GSList *done = process (mod);
  g_mutex_unlock (&mod->lock);
  nornic_commit_done_run (done);
}

static void
on_peer (NcClusterNode *node, const char *peer_id, gboolean up, const NcClusterMessage *hello, gpointer user_data)
{
  (void) node;
  NornicModule *mod = user_data;
  g_mutex_lock (&mod->lock);
  if (up && hello)
    {
      const NcClusterMsgHello *h = &hello->u.hello;
      if (h->mode != NULL && g_strcmp0 (h->mode, MODE_NAME) != 0)
        LOG (mod, G_LOG_LEVEL_WARNING, "peer %s runs mode %s, not " MODE_NAME, peer_id, h->mode);
      if (h->bolt_addr)
        g_hash_table_replace (mod->peer_bolt, g_strdup (peer_id), g_strdup (h->bolt_addr));
      LOG (mod, G_LOG_LEVEL_INFO, "peer %s up (%s, term %" G_GUINT64_FORMAT ", bolt %s)", peer_id, h->role, h->epoch,
           h->bolt_addr ? h->bolt_addr : "?");
      if (g_strcmp0 (peer_id, mod->leader) == 0)
        publish_role (mod);
      /* A member we replicated to that now says term 0 lost its data dir:
       * it has to be added again (see docs/raft-cluster.md). */
      guint64 match = 0;
      const NcRaftMembership *m = nc_raft_membership (mod->raft);
      if (mod->raft_role == NC_RAFT_LEADER && h->epoch == 0 && nc_raft_membership_contains (m, peer_id)
          && nc_raft_peer_match (mod->raft, peer_id, &match) && match > 0)
        {
          LOG (mod, G_LOG_LEVEL_WARNING,
               "member %s came back without its Raft state (we had replicated up to %" G_GUINT64_FORMAT
               "): removing it and adding it again as a learner", peer_id, match);
          g_hash_table_replace (mod->rejoin, g_strdup (peer_id), g_strdup (nc_raft_membership_address_of (m, peer_id)));
        }
    }
  else if (!up)
    {
      SnapSend *s = g_hash_table_lookup (mod->snap_sends, peer_id);
      if (s)
        s->sent = s->acked;
    }
  if (up)
    {
      SnapSend *s = g_hash_table_lookup (mod->snap_sends, peer_id);
      if (s)
        {
          s->sent = s->acked;
          snap_send_pump (mod, s);
        }
    }
  refresh_transport_cache (mod);
  g_mutex_unlock (&mod->lock);
}

/* ---- lifecycle --------------------------------------------------------------------------------------- */

static gboolean
parse_peers (NornicModule *mod, const char *spec, GError **error)
{
  if (spec == NULL || *spec == '\0')
    return TRUE;
  g_auto (GStrv) items = g_strsplit (spec, ",", -1);
  for (guint i = 0; items[i]; i++)
    {
      char *item = g_strstrip (items[i]);
      if (*item == '\0')
        continue;
      const char *colon = strchr (item, ':');
      if (colon == NULL || colon == item || strchr (colon + 1, ':') == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "NORNICDB_CLUSTER_RAFT_PEERS: \"%s\" is not id:host:port", item);
          return FALSE;
        }
      g_autofree char *id = g_strndup (item, (gsize) (colon - item));
      if (strcmp (id, mod->node_id) == 0)
        continue; /* a shared peer list may name this node too */
      g_hash_table_replace (mod->config_peers, g_steal_pointer (&id), g_strdup (colon + 1));
    }
  return TRUE;
}

static void
module_free (NornicModule *mod)
{
  g_clear_pointer (&mod->node, nc_cluster_node_unref);
#ifdef NC_MULTI_REGION
  g_clear_pointer (&mod->region, nc_region_node_free);
  g_clear_pointer (&mod->region_pub_writer, g_free);
  g_clear_pointer (&mod->region_admin_answers, g_hash_table_unref);
#endif
  g_clear_pointer (&mod->raft, nc_raft_free);
  recv_reset (mod);
  g_free (mod->recv_path);
  g_free (mod->node_id);
  g_free (mod->cluster_id);
  g_free (mod->bolt_address);
  g_free (mod->cluster_address);
  g_free (mod->leader);
  g_free (mod->saved_vote);
  g_clear_pointer (&mod->config_peers, g_hash_table_unref);
  g_clear_pointer (&mod->dialled, g_hash_table_unref);
  g_clear_pointer (&mod->peer_bolt, g_hash_table_unref);
  g_clear_pointer (&mod->snap_sends, g_hash_table_unref);
  g_clear_pointer (&mod->promote, g_hash_table_unref);
  g_clear_pointer (&mod->rejoin, g_hash_table_unref);
  g_clear_pointer (&mod->reads, g_hash_table_unref);
  g_clear_pointer (&mod->peer_health, g_hash_table_unref);
  g_free (mod->transport_metrics);
  g_cond_clear (&mod->read_cond);
  g_clear_pointer (&mod->snap_failed, g_ptr_array_unref);
  Pending *p;
  while ((p = g_queue_pop_head (&mod->pending)) != NULL)
    g_free (p);
  if (mod->saver)
    g_thread_pool_free (mod->saver, FALSE, TRUE);
  g_mutex_clear (&mod->saver_lock);
  g_mutex_clear (&mod->lock);
  g_free (mod);
}

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean done, ok;
} SyncWait;

static void
sync_wait_cb (guint64 index, gboolean ok, const GError *error, gpointer user_data)
{
  (void) index;
  (void) error;
  SyncWait *w = user_data;
  g_mutex_lock (&w->lock);
  w->done = TRUE;
  w->ok = ok;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

/* First start of the bootstrap node: the initial membership becomes the
 * first log entry, so nodes that join learn it from the log. */
static gboolean
bootstrap_log (NornicModule *mod, guint64 snap_index, guint64 snap_term, NcRaftMembership *m, GError **error)
{
  const NornicCoreApi *api = mod->api;
  guint64 term = MAX (snap_term, 1);
  g_autoptr (GBytes) conf = nc_raft_membership_encode (m);
  g_autoptr (GBytes) rec = nc_raft_glue_meta_writeset (NC_RAFT_GLUE_KEY_CONF, conf);
  SyncWait w = { 0 };
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  gboolean ok = api->wal_append_encoded (api->core, snap_index + 1, term, rec, sync_wait_cb, &w, error);
  if (ok)
    {
      g_mutex_lock (&w.lock);
      while (!w.done)
        g_cond_wait (&w.cond, &w.lock);
      g_mutex_unlock (&w.lock);
      ok = w.ok;
      if (!ok)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "raft: writing the bootstrap membership failed");
    }
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  if (ok)
    ok = save_hard_state (mod, term, NULL, NC_RAFT_HISTORY_NEW, error);
  if (ok)
    LOG (mod, G_LOG_LEVEL_INFO, "bootstrapped a new cluster: %u voters, membership at index %" G_GUINT64_FORMAT,
         nc_raft_membership_n_voters (m), snap_index + 1);
  return ok;
}

static NornicModule *
raft_create (const NornicCoreApi *api, GError **error)
{
  NornicCore *core = api->core;
  if (api->struct_size < G_STRUCT_OFFSET (NornicCoreApi, writeset_encode) + sizeof (gpointer))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "raft.so needs core API 1.1 (writeset_encode)");
      return NULL;
    }
  NornicModule *mod = g_new0 (NornicModule, 1);
  mod->api = api;
  g_mutex_init (&mod->lock);
  g_mutex_init (&mod->saver_lock);
  g_queue_init (&mod->pending);
  mod->config_peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  mod->dialled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  mod->peer_bolt = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  mod->snap_sends = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, snap_send_free);
  mod->promote = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  mod->rejoin = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  mod->reads = g_hash_table_new (g_int64_hash, g_int64_equal);
  mod->peer_health = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_cond_init (&mod->read_cond);
  mod->snap_failed = g_ptr_array_new_with_free_func (g_free);
  mod->raft_role = NC_RAFT_FOLLOWER;

  const char *id = api->config_get (core, "NORNICDB_CLUSTER_NODE_ID");
  const char *cid = api->config_get (core, "NORNICDB_CLUSTER_RAFT_CLUSTER_ID");
  const char *bind = api->config_get (core, "NORNICDB_CLUSTER_BIND_ADDR");
  const char *adv = api->config_get (core, "NORNICDB_CLUSTER_ADVERTISE_ADDR");
  if (id == NULL || *id == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NORNICDB_CLUSTER_NODE_ID is required when NORNICDB_CLUSTER_MODE=" MODE_NAME);
      module_free (mod);
      return NULL;
    }
  mod->node_id = g_strdup (id);
  mod->cluster_id = g_strdup (cid ? cid : "nornicdb");
  mod->bolt_address = nornic_module_advertised_bolt_address (api);
  mod->cluster_address = g_strdup (adv ? adv : bind);
  if (adv == NULL && bind != NULL && (g_str_has_prefix (bind, "0.0.0.0:") || g_str_has_prefix (bind, "[::]:")))
    {
      /* Peers must be able to dial the address we put in the membership. */
      g_free (mod->cluster_address);
      mod->cluster_address = g_strdup_printf ("%s:%s", g_get_host_name (), strrchr (bind, ':') + 1);
      LOG (mod, G_LOG_LEVEL_WARNING, "NORNICDB_CLUSTER_ADVERTISE_ADDR is not set: advertising %s to peers",
           mod->cluster_address);
    }
  mod->bootstrap = api->config_get_bool (core, "NORNICDB_CLUSTER_RAFT_BOOTSTRAP");
  mod->linearizable = api->config_get_bool (core, "NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS");
  gint64 hb = MAX (api->config_get_duration_ms (core, "NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT"), 5);
  mod->election_ms = MAX (api->config_get_duration_ms (core, "NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT"), 3 * hb);
  mod->tick_ms = (guint) hb;
  mod->max_append = (guint) MAX (api->config_get_int (core, "NORNICDB_CLUSTER_RAFT_MAX_APPEND_ENTRIES"), 1);
  mod->snap_threshold = (guint64) MAX (api->config_get_int (core, "NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD"), 1);
  mod->snap_interval_ms = MAX (api->config_get_duration_ms (core, "NORNICDB_CLUSTER_RAFT_SNAPSHOT_INTERVAL"), 1000);
  mod->trailing = (guint64) MAX (api->config_get_int (core, "NORNICDB_CLUSTER_RAFT_TRAILING_LOGS"), 0);
  mod->recv_path = g_build_filename (api->module_data_dir (core), "raft-incoming.snapshot", NULL);
  if (!parse_peers (mod, api->config_get (core, "NORNICDB_CLUSTER_RAFT_PEERS"), error))
    {
      module_free (mod);
      return NULL;
    }

  /* ---- restore ---- */
  guint64 file_index = 0, file_term = 0;
  g_free (api->snapshot_latest (core, &file_index, &file_term));
  guint64 snap_index = 0, snap_term = 0;
  g_autoptr (NcRaftMembership) membership = load_snapshot_meta (mod, &snap_index, &snap_term);
  gboolean raft_snapshot = membership != NULL;
  g_autofree char *hs = api->state_load (core, "raft-hardstate");
  guint64 wal_last = api->wal_last_index (core);
  if (membership == NULL)
    {
      snap_index = file_index;
      snap_term = file_term;
      membership = nc_raft_membership_new ();
      if (hs == NULL && mod->bootstrap && wal_last <= file_index)
        {
          nc_raft_membership_set (membership, mod->node_id, mod->cluster_address, TRUE);
          GHashTableIter it;
          gpointer k, v;
          g_hash_table_iter_init (&it, mod->config_peers);
          while (g_hash_table_iter_next (&it, &k, &v))
            nc_raft_membership_set (membership, k, v, TRUE);
          if (!bootstrap_log (mod, snap_index, snap_term, membership, error))
            {
              module_free (mod);
              return NULL;
            }
          g_free (hs);
          hs = api->state_load (core, "raft-hardstate");
          wal_last = api->wal_last_index (core);
        }
      else if (hs == NULL && wal_last > file_index)
        LOG (mod, G_LOG_LEVEL_WARNING, "the WAL holds entries but there is no Raft state: starting as a non-member");
    }
  guint64 term = 0;
  g_autofree char *vote = NULL;
  /* No hard state: a fresh or wiped node (or the bootstrap node, whose
   * bootstrap_log wrote NEW): it votes only for genesis candidates. */
  NcRaftHistory history = NC_RAFT_HISTORY_NEW;
  if (hs != NULL)
    {
      g_auto (GStrv) lines = g_strsplit (hs, "\n", 4);
      term = g_ascii_strtoull (lines[0], NULL, 10);
      if (lines[1] && *lines[1])
        vote = g_strdup (lines[1]);
      if (lines[1] && lines[2] && *lines[2])
        history = (NcRaftHistory) MIN (g_ascii_strtoull (lines[2], NULL, 10), NC_RAFT_HISTORY_FORMED);
      else
        /* Written before the history line existed: a node whose log holds
         * more than the bootstrap membership entry, or a Raft snapshot, has
         * been part of a formed cluster; only the bootstrap node before
         * its first win has just that one entry. */
        history = wal_last > snap_index + 1 || raft_snapshot ? NC_RAFT_HISTORY_FORMED : NC_RAFT_HISTORY_NEW;
    }
  mod->saved_term = term;
  mod->saved_vote = g_strdup (vote);
  mod->saved_history = history;
  g_autofree char *cs = api->state_load (core, "raft-commit");
  guint64 commit = cs ? g_ascii_strtoull (cs, NULL, 10) : 0;
  guint64 last = MAX (wal_last, snap_index);
  guint64 last_term = last > snap_index ? api->wal_term_at (core, last) : snap_term;
  mod->restored_commit = MIN (MAX (commit, snap_index), last);
  mod->saved_commit = commit;
  mod->saver_value = commit;
  mod->saver = g_thread_pool_new (saver_main, mod, 1, FALSE, NULL);
  mod->last_snapshot_index = snap_index;

  NcRaftConfig cfg = {
    .struct_size = sizeof cfg,
    .id = mod->node_id,
    .election_ticks_min = (guint) MAX (mod->election_ms / hb, 3),
    .election_ticks_max = (guint) MAX (2 * mod->election_ms / hb, 4),
    .heartbeat_ticks = 1,
    .max_entries_per_append = mod->max_append,
    .max_bytes_per_append = 4 * 1024 * 1024,
    .max_inflight = 64,
    .pre_vote = TRUE,
    .check_quorum = TRUE,
    .seed = (guint64) g_get_real_time (),
    .storage = &wal_storage,
    .storage_data = mod,
  };
  NcRaftPersistent restored = {
    .term = term,
    .vote = vote,
    .commit = mod->restored_commit,
    .applied = 0, /* set in start, after recovery replayed */
    .snapshot_index = snap_index,
    .snapshot_term = snap_term,
    .last_index = last,
    .last_term = last_term,
    .membership = membership,
    .history = history,
  };
  /* applied is known only after the core replays up to replay_limit; the
   * core then clamps it to [snapshot, commit]. */
  restored.applied = mod->restored_commit;
  mod->raft = nc_raft_new (&cfg, &restored, error);
  if (mod->raft == NULL)
    {
      module_free (mod);
      return NULL;
    }
  mod->apply_target = nc_raft_commit_index (mod->raft);

#ifdef NC_MULTI_REGION
  const char *region_id = api->config_get (core, "NORNICDB_CLUSTER_REGION_ID");
  {
    NcRegionHost host = {
      .user_data = mod,
      .propose = region_host_propose,
      .entry_at = region_host_entry_at,
      .commit_index = region_host_commit_index,
      .leader_cluster_address = region_host_leader_cluster,
      .leader_bolt_address = region_host_leader_bolt,
      .send = region_host_send,
      .state_save = region_host_state_save,
      .state_load = region_host_state_load,
      .now_us = region_host_now_us,
      .wall_ms = region_host_wall_ms,
      .snapshot_read = region_host_snapshot_read,
    };
    NcRegionNodeConfig rc = {
      .region = region_id,
      .remote_regions = api->config_get (core, "NORNICDB_CLUSTER_REMOTE_REGIONS"),
      .cross_region_mode = api->config_get (core, "NORNICDB_CLUSTER_CROSS_REGION_MODE"),
      .conflict_strategy = api->config_get (core, "NORNICDB_CLUSTER_CONFLICT_STRATEGY"),
      .read_consistency = api->config_get (core, "NORNICDB_CLUSTER_READ_CONSISTENCY"),
      /* No variable names it (docs/multi-region.md, "Writes"): ten election
       * timeouts, long enough to ride out a remote leader election. */
      .semi_sync_timeout_us = mod->election_ms * 10 * 1000,
    };
    mod->region = nc_region_node_new (&host, &rc, error);
    if (mod->region == NULL)
      {
        module_free (mod);
        return NULL;
      }
    mod->region_committed = snap_index;
    region_load_state (mod, snap_index);
  }
#endif

  NcClusterNodeSettings s = {
    .node_id = mod->node_id,
    .cluster_id = mod->cluster_id,
    .bind_address = bind,
    .advertise_address = mod->cluster_address,
    .bolt_address = mod->bolt_address,
    .mode = MODE_NAME,
    .keepalive_ms = (guint) MIN (MAX (hb, 50), 1000),
    .health_window_ms = (guint) MAX (3 * hb, mod->election_ms),
    /* A main loop busy installing or writing a snapshot sends no keep-alives
     * for a while; Raft's own timers handle dead leaders. */
    .dead_after_ms = (guint) MAX (2 * mod->election_ms, 1000),
    .reconnect_max_ms = (guint) MAX (mod->election_ms / 2, 200),
    .max_frame_bytes = 16 * 1024 * 1024,
  };
#ifdef NC_MULTI_REGION
  /* Other regions are other Raft clusters with their own ids, which no
   * variable names: accept any id and let on_message() admit only the
   * region messages from clusters other than ours. */
  static const char *const any_cluster[] = { "*", NULL };
  s.region = region_id;
  s.accepted_cluster_ids = any_cluster;
#endif
  nc_cluster_tls_from_config (api, &s.tls);
  mod->node = nc_cluster_node_new (&s, api->main_context, error);
  if (mod->node == NULL)
    {
      module_free (mod);
      return NULL;
    }
  return mod;
}

static guint64
raft_replay_limit (NornicModule *mod)
{
  return mod->restored_commit;
}

static gboolean h_status (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_state (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_lag (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_wal (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_leader_op (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
static gboolean h_snapshot (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
#ifdef NC_MULTI_REGION
static gboolean h_region (NornicModule *, const char *, const char *, const char *, gsize, NornicHttpReply *);
#endif

static gboolean
raft_start (NornicModule *mod, GError **error)
{
  const NornicCoreApi *api = mod->api;
  api->register_http (api->core, "GET", "/admin/cluster/status", h_status);
  api->register_http (api->core, "GET", "/admin/raft/state", h_state);
  api->register_http (api->core, "GET", "/admin/replication/lag", h_lag);
  api->register_http (api->core, "GET", "/admin/wal/position", h_wal);
  api->register_http (api->core, "POST", "/admin/cluster/add", h_leader_op);
  api->register_http (api->core, "POST", "/admin/cluster/remove", h_leader_op);
  api->register_http (api->core, "POST", "/admin/cluster/transfer-leadership", h_leader_op);
  api->register_http (api->core, "POST", "/admin/raft/transfer-leadership", h_leader_op);
  api->register_http (api->core, "POST", "/admin/raft/step-down", h_leader_op);
  api->register_http (api->core, "POST", "/admin/raft/snapshot", h_snapshot);
#ifdef NC_MULTI_REGION
  api->register_http (api->core, "POST", "/admin/region/promote", h_region);
  api->register_http (api->core, "GET", "/admin/region/conflicts", h_region);
  api->register_http (api->core, "POST", "/admin/region/conflicts/resolve", h_region);
#endif

  g_mutex_lock (&mod->lock);
  /* Recovery has published everything it replayed. */
  mod->published = api->applied_index (api->core);
  mod->started_us = mod->no_leader_since_us = mod->last_snapshot_us = g_get_monotonic_time ();
  mod->durable_index = mod->reported_durable = api->wal_last_index (api->core);
  mod->durable_term = api->wal_term_at (api->core, mod->durable_index);
  mod->term = nc_raft_term (mod->raft);
#ifdef NC_MULTI_REGION
  /* The region state (versions, positions, conflicts) is rebuilt from the
   * committed log the core replayed; later entries arrive as they commit. */
  region_replay (mod, mod->restored_commit);
#endif
  publish_role (mod);
  g_mutex_unlock (&mod->lock);

  nc_cluster_node_set_callbacks (mod->node, on_message, on_peer, mod);
  if (!nc_cluster_node_start (mod->node, error))
    return FALSE;
  g_mutex_lock (&mod->lock);
  reconcile_peers (mod);
  GSource *t = g_timeout_source_new (mod->tick_ms);
  g_source_set_priority (t, G_PRIORITY_HIGH);
  g_source_set_callback (t, tick_cb, mod, NULL);
  mod->tick_source = g_source_attach (t, api->main_context);
  g_source_unref (t);
  const NcRaftMembership *m = nc_raft_membership (mod->raft);
  LOG (mod, G_LOG_LEVEL_INFO,
       "raft node %s (cluster %s) at %s, bolt %s: term %" G_GUINT64_FORMAT ", log %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
       ", commit %" G_GUINT64_FORMAT ", %u members%s",
       mod->node_id, mod->cluster_id, mod->cluster_address, mod->bolt_address, nc_raft_term (mod->raft),
       nc_raft_first_index (mod->raft), nc_raft_last_index (mod->raft), nc_raft_commit_index (mod->raft),
       nc_raft_membership_size (m),
       nc_raft_membership_contains (m, mod->node_id) ? "" : " (not a member yet: waiting for a leader to contact us)");
  g_mutex_unlock (&mod->lock);
  return TRUE;
}

static void
raft_stop (NornicModule *mod)
{
  g_mutex_lock (&mod->lock);
  mod->stopping = TRUE;
  nornic_module_remove_source (mod->api, &mod->tick_source);
  nornic_module_remove_source (mod->api, &mod->kick_source);
  GSList *done = fail_pending (mod, NULL, NC_ERROR_UNAVAILABLE, "The database is shutting down");
#ifdef NC_MULTI_REGION
  done = region_semi_release (mod, done);
#endif
  g_cond_broadcast (&mod->read_cond);
  guint64 commit = MIN (nc_raft_commit_index (mod->raft), nc_raft_applied_index (mod->raft));
  GThreadPool *saver = g_steal_pointer (&mod->saver);
  GThread *snap = g_steal_pointer (&mod->snap_thread);
  g_mutex_unlock (&mod->lock);
  if (snap)
    g_thread_join (snap);
  g_mutex_lock (&mod->lock);
  nornic_module_remove_source (mod->api, &mod->snap_done_source);
  g_clear_pointer (&mod->snap_result_path, g_free);
  g_clear_error (&mod->snap_result_error);
  g_clear_error (&mod->snap_done_error);
  g_mutex_unlock (&mod->lock);
  if (saver)
    g_thread_pool_free (saver, FALSE, TRUE);
  g_mutex_lock (&mod->saver_lock);
  mod->saver_value = MAX (mod->saver_value, commit);
  g_mutex_unlock (&mod->saver_lock);
  saver_main (NULL, mod);
  nornic_commit_done_run (done);
  if (mod->node)
    nc_cluster_node_stop (mod->node);
}

static void
raft_destroy (NornicModule *mod)
{
  module_free (mod);
}

/* ---- submit -------------------------------------------------------------------------------------------- */

static guint64
raft_submit (NornicModule *mod, const NornicWriteSet *ws, NornicCommitCb cb, gpointer user_data, GError **error)
{
  g_autoptr (GBytes) bytes = mod->api->writeset_encode (ws);
  g_mutex_lock (&mod->lock);
  if (mod->raft_role != NC_RAFT_LEADER || mod->stopping)
    {
      const char *lb = leader_bolt (mod);
      g_set_error (error, RAFT_NC_ERROR, NC_ERROR_NOT_A_LEADER,
                   "No write operations are allowed directly on this database. Writes must pass through the leader. "
                   "The role of this server is: %s%s%s", self_role_name (mod), lb ? "; the leader is at " : "", lb ? lb : "");
      g_mutex_unlock (&mod->lock);
      return 0;
    }
  if (!mod->writes_ready || mod->store_busy)
    {
      g_set_error (error, RAFT_NC_ERROR, NC_ERROR_LEADER_SWITCH,
                   "The new leader is still applying its predecessor's writes; retry");
      g_mutex_unlock (&mod->lock);
      return 0;
    }
#ifdef NC_MULTI_REGION
  g_autoptr (NcWriteSet) stamped = NULL;
  if (mod->region)
    {
      if (!nc_region_node_accepts_writes (mod->region))
        {
          const char *wb = nc_region_node_writer_bolt (mod->region);
          g_set_error (error, RAFT_NC_ERROR, NC_ERROR_NOT_A_LEADER,
                       "No write operations are allowed directly on this database. This region is not the primary "
                       "write region%s%s", wb ? "; the writer is at " : "", wb ? wb : "");
          g_mutex_unlock (&mod->lock);
          return 0;
        }
      if (mod->region_own_max > mod->api->applied_index (mod->api->core))
        {
          g_set_error (error, RAFT_NC_ERROR, NC_ERROR_LEADER_SWITCH,
                       "The leader is applying writes from another region; retry");
          g_mutex_unlock (&mod->lock);
          return 0;
        }
      g_autoptr (GError) stamp_error = NULL;
      stamped = nc_region_node_stamp (mod->region, ws, &stamp_error);
      if (stamped == NULL)
        {
          g_set_error (error, RAFT_NC_ERROR, NC_ERROR_NOT_A_LEADER, "%s", stamp_error->message);
          g_mutex_unlock (&mod->lock);
          return 0;
        }
      g_bytes_unref (bytes);
      bytes = mod->api->writeset_encode (stamped);
    }
#endif
  guint64 index = 0;
  g_autoptr (GError) local = NULL;
  if (!nc_raft_propose (mod->raft, bytes, &index, &local))
    {
      int code = local->code == NC_RAFT_ERROR_NOT_LEADER ? NC_ERROR_NOT_A_LEADER : NC_ERROR_LEADER_SWITCH;
      g_set_error (error, RAFT_NC_ERROR, code, "%s", local->message);
      g_mutex_unlock (&mod->lock);
      return 0;
    }
  Pending *p = g_new0 (Pending, 1);
  p->index = index;
  p->term = nc_raft_term (mod->raft);
  p->cb = cb;
  p->user_data = user_data;
  g_queue_push_tail (&mod->pending, p);
#ifdef NC_MULTI_REGION
  if (stamped)
    {
      nc_region_node_proposed (mod->region, index, stamped);
      mod->region_local_max = index;
    }
#endif
  kick_locked (mod);
  g_mutex_unlock (&mod->lock);
  return index;
}

/* ---- linearizable reads ------------------------------------------------------------------------------------ */

/* Worker threads: confirm the leader's commit index with a quorum
 * (ReadIndex; a follower asks the leader) and wait until this node has
 * applied it, so the transaction sees every write acknowledged before it
 * began. */
static gboolean
read_index_wait (NornicModule *mod, GError **error)
{
  ReadWait w = { 0 };
  g_mutex_lock (&mod->lock);
  if (mod->stopping)
    {
      g_mutex_unlock (&mod->lock);
      g_set_error (error, RAFT_NC_ERROR, NC_ERROR_UNAVAILABLE, "The database is shutting down");
      return FALSE;
    }
  w.id = ++mod->next_read_id;
  g_hash_table_insert (mod->reads, &w.id, &w);
  kick_locked (mod);
  gint64 deadline = g_get_monotonic_time () + 2 * mod->election_ms * 1000 + G_USEC_PER_SEC;
  while (!w.done && !mod->stopping)
    if (!g_cond_wait_until (&mod->read_cond, &mod->lock, deadline))
      break;
  g_hash_table_remove (mod->reads, &w.id);
  g_mutex_unlock (&mod->lock);
  if (w.ok)
    return TRUE;
  g_set_error (error, RAFT_NC_ERROR, NC_ERROR_UNAVAILABLE,
               "Cannot serve a linearizable read: %s; retry",
               w.why ? w.why : w.confirmed ? "this node is still applying the leader's writes" : "the leader did not confirm the read index in time");
  return FALSE;
}

static gboolean
raft_can_serve_read (NornicModule *mod, GError **error)
{
  if (!mod->linearizable || g_main_context_is_owner (mod->api->main_context))
    return TRUE;
  return read_index_wait (mod, error);
}

#ifdef NC_MULTI_REGION
/* Read level ALL (docs/multi-region.md): served by the primary region's
 * leader only (elsewhere NotALeader, which the Bolt layer turns into
 * forwarding there). The read sees every write the primary committed before
 * it began (ReadIndex), and starts only once every other region has
 * committed the primary's log up to that point; a region that does not
 * within ten election timeouts fails the read, naming it. */
static gboolean
region_read_all (NornicModule *mod, GError **error)
{
  g_mutex_lock (&mod->lock);
  gboolean leader = mod->raft_role == NC_RAFT_LEADER && mod->writes_ready && mod->region
                    && nc_region_node_is_leader (mod->region);
  guint64 target = nc_raft_commit_index (mod->raft);
  g_autofree char *writer = g_strdup (leader_bolt (mod));
  g_mutex_unlock (&mod->lock);
  if (!leader)
    {
      g_set_error (error, RAFT_NC_ERROR, NC_ERROR_NOT_A_LEADER,
                   "Read consistency ALL is served by the primary region's leader%s%s",
                   writer ? "; it is at " : "", writer ? writer : "");
      return FALSE;
    }
  gboolean owner = g_main_context_is_owner (mod->api->main_context);
  if (!owner && !read_index_wait (mod, error))
    return FALSE;
  g_mutex_lock (&mod->lock);
  gint64 deadline = g_get_monotonic_time () + mod->election_ms * 10 * 1000;
  const char *lagging = NULL;
  guint64 at = 0;
  gboolean ok;
  while (!(ok = mod->region && nc_region_node_remotes_cover (mod->region, target, &lagging, &at)) && !owner
         && !mod->stopping)
    if (!g_cond_wait_until (&mod->read_cond, &mod->lock, deadline))
      {
        ok = mod->region && nc_region_node_remotes_cover (mod->region, target, &lagging, &at);
        break;
      }
  g_autofree char *who = g_strdup (lagging);
  g_mutex_unlock (&mod->lock);
  if (ok)
    return TRUE;
  g_set_error (error, RAFT_NC_ERROR, NC_ERROR_UNAVAILABLE,
               "Read consistency ALL: region %s has not confirmed the primary region's writes up to index %"
               G_GUINT64_FORMAT " (it confirmed %" G_GUINT64_FORMAT ") within %.1f s; it may be unreachable. "
               "Use QUORUM to read without it",
               who ? who : "?", target, at, mod->election_ms * 10 / 1000.0);
  return FALSE;
}

/* begin_transaction (ABI 1.2): the read consistency level of a transaction
 * (docs/multi-region.md, "Read consistency levels"). */
static gboolean
region_begin_transaction (NornicModule *mod, gboolean write, const char *consistency, GError **error)
{
  NcReadConsistency level;
  NcReadAction action;
  g_autoptr (GError) local = NULL;
  g_mutex_lock (&mod->lock);
  gboolean ok = mod->region && nc_region_node_read_action (mod->region, consistency, write, &level, &action, &local);
  g_autofree char *writer = ok && mod->region ? g_strdup (region_writer_bolt (mod)) : NULL;
  g_mutex_unlock (&mod->lock);
  if (!ok)
    {
      g_set_error (error, RAFT_NC_ERROR, NC_ERROR_ARGUMENT, "%s", local ? local->message : "no region");
      return FALSE;
    }
  switch (action)
    {
    case NC_READ_ACTION_LOCAL:
      return TRUE;
    case NC_READ_ACTION_LOCAL_READ_INDEX:
      if (g_main_context_is_owner (mod->api->main_context))
        return TRUE;
      return read_index_wait (mod, error);
    case NC_READ_ACTION_NOT_PRIMARY:
      g_set_error (error, RAFT_NC_ERROR, NC_ERROR_NOT_A_LEADER,
                   "Read consistency %s is served only in the primary write region%s%s",
                   nc_read_consistency_name (level), writer ? "; its leader is at " : "", writer ? writer : "");
      return FALSE;
    case NC_READ_ACTION_ALL_REGIONS:
    default:
      return region_read_all (mod, error);
    }
}
#endif

/* ---- routing, health, metrics ---------------------------------------------------------------------------- */

static NornicRoutingTable *
raft_routing_table (NornicModule *mod)
{
  NornicRoutingTable *rt = nornic_module_routing_table_new (10);
  g_mutex_lock (&mod->lock);
  const char *lb = leader_bolt (mod);
  gboolean leader_ok = lb != NULL && (mod->raft_role != NC_RAFT_LEADER || mod->writes_ready);
#ifdef NC_MULTI_REGION
  /* Outside the primary region the writer is the primary's leader. */
  if (mod->region && !nc_region_log_is_primary (nc_region_node_log (mod->region)))
    {
      const char *wb = region_writer_bolt (mod);
      if (wb)
        g_ptr_array_add (rt->writers, g_strdup (wb));
      leader_ok = FALSE;
    }
#endif
  if (leader_ok)
    g_ptr_array_add (rt->writers, g_strdup (lb));
  const NcRaftMembership *m = nc_raft_membership (mod->raft);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      const char *id = nc_raft_membership_id (m, i);
      const char *b = g_strcmp0 (id, mod->node_id) == 0 ? mod->bolt_address : g_hash_table_lookup (mod->peer_bolt, id);
      if (b == NULL)
        continue;
      g_ptr_array_add (rt->routers, g_strdup (b));
      if (g_strcmp0 (id, mod->leader) != 0)
        g_ptr_array_add (rt->readers, g_strdup (b));
    }
  if (rt->readers->len == 0 && lb)
    g_ptr_array_add (rt->readers, g_strdup (lb));
  if (rt->routers->len == 0)
    g_ptr_array_add (rt->routers, g_strdup (mod->bolt_address));
  g_mutex_unlock (&mod->lock);
  return rt;
}

/* From the cache the tick refreshes: /health and /metrics run on HTTP
 * threads, and the transport may only be used on the main loop. */
static gboolean
peer_healthy (NornicModule *mod, const char *id)
{
  return g_hash_table_contains (mod->peer_health, id);
}

static void
add_members (NornicModule *mod, JsonBuilder *b, gboolean with_state)
{
  const NcRaftMembership *m = nc_raft_membership (mod->raft);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      const char *id = nc_raft_membership_id (m, i);
      gboolean self = g_strcmp0 (id, mod->node_id) == 0;
      if (!with_state && self)
        continue;
      json_builder_begin_object (b);
      nornic_json_string (b, "id", id);
      nornic_json_string (b, "address", nc_raft_membership_address (m, i));
      if (with_state)
        {
          const char *state;
          if (self)
            state = self_role_name (mod);
          else if (g_strcmp0 (id, mod->leader) == 0)
            state = "leader";
          else if (!nc_raft_membership_is_voter_at (m, i))
            state = "learner";
          else
            state = "follower";
          nornic_json_string (b, "state", state);
          nornic_json_bool (b, "voter", nc_raft_membership_is_voter_at (m, i));
          guint64 match;
          if (!self && nc_raft_peer_match (mod->raft, id, &match))
            {
              nornic_json_int (b, "match_index", (gint64) match);
            }
        }
      const char *bolt = self ? mod->bolt_address : g_hash_table_lookup (mod->peer_bolt, id);
      if (bolt)
        {
          nornic_json_string (b, "bolt_address", bolt);
        }
      nornic_json_bool (b, "healthy", self || peer_healthy (mod, id));
      json_builder_end_object (b);
    }
}

static char *
raft_health_json (NornicModule *mod, gboolean *healthy, char **reason)
{
  g_mutex_lock (&mod->lock);
  gint64 now = g_get_monotonic_time ();
  gboolean ok = TRUE;
  if (mod->leader == NULL && mod->no_leader_since_us != 0 && now - mod->no_leader_since_us > mod->election_ms * 1000)
    {
      ok = FALSE;
      *reason = g_strdup_printf ("no Raft leader known for %" G_GINT64_FORMAT " ms", (now - mod->no_leader_since_us) / 1000);
    }
  *healthy = ok;
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  nornic_json_string (b, "mode", MODE_NAME);
  nornic_json_string (b, "node_id", mod->node_id);
  nornic_json_string (b, "role", self_role_name (mod));
  nornic_json_bool (b, "is_leader", mod->raft_role == NC_RAFT_LEADER);
  nornic_json_string (b, "state", mod->leader ? "ready" : "electing");
  nornic_json_int (b, "term", (gint64) mod->term);
  nornic_json_string_or_null (b, "leader", mod->leader);
  nornic_json_int (b, "commit_index", (gint64) nc_raft_commit_index (mod->raft));
  nornic_json_int (b, "applied_index", (gint64) reported_applied (mod));
  json_builder_set_member_name (b, "peers");
  json_builder_begin_array (b);
  add_members (mod, b, FALSE);
  json_builder_end_array (b);
#ifdef NC_MULTI_REGION
  region_json_member (mod, b);
#endif
  json_builder_end_object (b);
  g_mutex_unlock (&mod->lock);
  return nornic_json_text (b);
}

static double
lag_seconds (NornicModule *mod)
{
  guint64 applied = reported_applied (mod);
  guint64 commit = nc_raft_commit_index (mod->raft);
  gint64 now = g_get_monotonic_time ();
  if (applied >= commit || mod->raft_role == NC_RAFT_LEADER)
    {
      mod->behind_since_us = 0;
      return 0;
    }
  if (mod->behind_since_us == 0)
    mod->behind_since_us = now;
  return (now - mod->behind_since_us) / 1e6;
}

static void
raft_metrics (NornicModule *mod, GString *out)
{
  const NornicCoreApi *api = mod->api;
  g_mutex_lock (&mod->lock);
  gboolean leader = mod->raft_role == NC_RAFT_LEADER;
  guint64 commit = nc_raft_commit_index (mod->raft);
  guint64 applied = reported_applied (mod);
  api->append_metric (out, "nornicdb_replication_mode", NORNIC_METRIC_GAUGE, "Active replication mode", "mode=\"" MODE_NAME "\"", 1);
  api->append_metric (out, "nornicdb_replication_is_leader", NORNIC_METRIC_GAUGE, "1 when this node accepts writes", NULL,
                      leader ? 1 : 0);
  api->append_metric (out, "nornicdb_replication_commit_index", NORNIC_METRIC_GAUGE, "Highest committed log index", NULL,
                      (double) commit);
  api->append_metric (out, "nornicdb_replication_applied_index", NORNIC_METRIC_GAUGE,
                      "Highest log index applied to the store", NULL, (double) applied);
  api->append_metric (out, "nornicdb_replication_lag_seconds", NORNIC_METRIC_GAUGE,
                      "How long this node has been behind the commit index", NULL, lag_seconds (mod));
  api->append_metric (out, "nornicdb_raft_term", NORNIC_METRIC_GAUGE, "Current Raft term", NULL, (double) mod->term);
  api->append_metric (out, "nornicdb_raft_commit_index", NORNIC_METRIC_GAUGE, "Raft commit index", NULL, (double) commit);
  api->append_metric (out, "nornicdb_raft_applied_index", NORNIC_METRIC_GAUGE, "Raft applied index", NULL,
                      (double) nc_raft_applied_index (mod->raft));
  api->append_metric (out, "nornicdb_raft_last_index", NORNIC_METRIC_GAUGE, "Last Raft log index", NULL,
                      (double) nc_raft_last_index (mod->raft));
  api->append_metric (out, "nornicdb_cluster_leader_changes_total", NORNIC_METRIC_COUNTER,
                      "Times this node saw a new leader", NULL, (double) mod->leader_changes);
  const NcRaftMembership *m = nc_raft_membership (mod->raft);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      const char *id = nc_raft_membership_id (m, i);
      if (g_strcmp0 (id, mod->node_id) == 0)
        continue;
      g_autofree char *labels = g_strdup_printf ("peer=\"%s\"", id);
      api->append_metric (out, "nornicdb_replication_peer_healthy", NORNIC_METRIC_GAUGE,
                          "1 when the peer was heard from recently", labels, peer_healthy (mod, id) ? 1 : 0);
    }
  if (mod->transport_metrics)
    g_string_append (out, mod->transport_metrics);
#ifdef NC_MULTI_REGION
  if (mod->region)
    nc_region_node_metrics (mod->region, out);
#endif
  g_mutex_unlock (&mod->lock);
}

/* ---- admin endpoints ------------------------------------------------------------------------------------- */

/* The "leader" value of status and error replies: {id, address,
 * bolt_address} or null while no leader is known. Called with `lock` held. */
static void
add_leader_value (NornicModule *mod, JsonBuilder *b)
{
  if (mod->leader)
    {
      json_builder_begin_object (b);
      nornic_json_string (b, "id", mod->leader);
      nornic_json_string (b, "address", leader_cluster_address (mod));
      const char *lb = leader_bolt (mod);
      if (lb)
        {
          nornic_json_string (b, "bolt_address", lb);
        }
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
}

static void
reply_error (NornicModule *mod, NornicHttpReply *reply, guint status, const char *code, const char *message)
{
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  nornic_json_string (b, "error", message);
  nornic_json_string (b, "code", code);
  json_builder_set_member_name (b, "leader");
  add_leader_value (mod, b);
  nornic_json_reply_object (reply, status, b);
}

static gboolean
h_status (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len, NornicHttpReply *reply)
{
  (void) method; (void) path; (void) body; (void) body_len;
  g_mutex_lock (&mod->lock);
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  nornic_json_string (b, "cluster_id", mod->cluster_id);
  nornic_json_string (b, "mode", MODE_NAME);
  nornic_json_string (b, "node_id", mod->node_id);
  json_builder_set_member_name (b, "leader");
  add_leader_value (mod, b);
  json_builder_set_member_name (b, "members");
  json_builder_begin_array (b);
  add_members (mod, b, TRUE);
  json_builder_end_array (b);
  nornic_json_int (b, "commit_index", (gint64) nc_raft_commit_index (mod->raft));
  nornic_json_int (b, "applied_index", (gint64) reported_applied (mod));
  nornic_json_int (b, "term", (gint64) mod->term);
#ifdef NC_MULTI_REGION
  region_json_member (mod, b);
#endif
  g_mutex_unlock (&mod->lock);
  nornic_json_reply_object (reply, 200, b);
  return TRUE;
}

static gboolean
h_state (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len, NornicHttpReply *reply)
{
  (void) method; (void) path; (void) body; (void) body_len;
  const NornicCoreApi *api = mod->api;
  g_mutex_lock (&mod->lock);
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  nornic_json_string_or_null (b, "node_id", mod->node_id);
  nornic_json_string_or_null (b, "role", self_role_name (mod));
  nornic_json_int (b, "term", (gint64) nc_raft_term (mod->raft));
  nornic_json_string_or_null (b, "leader", mod->leader);
  nornic_json_string_or_null (b, "vote", nc_raft_vote (mod->raft));
  nornic_json_int (b, "commit_index", (gint64) nc_raft_commit_index (mod->raft));
  nornic_json_int (b, "applied_index", (gint64) reported_applied (mod));
  nornic_json_int (b, "store_applied_index", (gint64) api->applied_index (api->core));
  nornic_json_int (b, "raft_applied_index", (gint64) nc_raft_applied_index (mod->raft));
  nornic_json_int (b, "durable_index", (gint64) nc_raft_durable_index (mod->raft));
  nornic_json_int (b, "first_index", (gint64) nc_raft_first_index (mod->raft));
  nornic_json_int (b, "last_index", (gint64) nc_raft_last_index (mod->raft));
  nornic_json_int (b, "snapshot_index", (gint64) mod->last_snapshot_index);
  nornic_json_string_or_null (b, "transfer_target", nc_raft_transfer_target (mod->raft));
  nornic_json_bool (b, "writes_ready", mod->raft_role == NC_RAFT_LEADER && mod->writes_ready);
  const NcRaftMembership *m = nc_raft_membership (mod->raft);
  json_builder_set_member_name (b, "voters");
  json_builder_begin_array (b);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    if (nc_raft_membership_is_voter_at (m, i))
      json_builder_add_string_value (b, nc_raft_membership_id (m, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "learners");
  json_builder_begin_array (b);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    if (!nc_raft_membership_is_voter_at (m, i))
      json_builder_add_string_value (b, nc_raft_membership_id (m, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "snapshot_transfers");
  json_builder_begin_array (b);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, mod->snap_sends);
  while (g_hash_table_iter_next (&it, &k, &v))
    json_builder_add_string_value (b, k);
  json_builder_end_array (b);
  g_mutex_unlock (&mod->lock);
  nornic_json_reply_object (reply, 200, b);
  return TRUE;
}

static gboolean
h_lag (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len, NornicHttpReply *reply)
{
  (void) method; (void) path; (void) body; (void) body_len;
  g_mutex_lock (&mod->lock);
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  guint64 commit = nc_raft_commit_index (mod->raft);
  guint64 last = nc_raft_last_index (mod->raft);
  nornic_json_string (b, "mode", MODE_NAME);
  nornic_json_bool (b, "is_leader", mod->raft_role == NC_RAFT_LEADER);
  nornic_json_int (b, "commit_index", (gint64) commit);
  nornic_json_int (b, "applied_index", (gint64) reported_applied (mod));
  nornic_json_double (b, "lag_seconds", lag_seconds (mod));
  json_builder_set_member_name (b, "peers");
  json_builder_begin_array (b);
  const NcRaftMembership *m = nc_raft_membership (mod->raft);
  for (guint i = 0; i < nc_raft_membership_size (m); i++)
    {
      const char *id = nc_raft_membership_id (m, i);
      guint64 match;
      if (g_strcmp0 (id, mod->node_id) == 0 || !nc_raft_peer_match (mod->raft, id, &match))
        continue;
      json_builder_begin_object (b);
      nornic_json_string (b, "id", id);
      nornic_json_int (b, "match_index", (gint64) match);
      nornic_json_int (b, "lag_entries", (gint64) (last > match ? last - match : 0));
      nornic_json_bool (b, "healthy", peer_healthy (mod, id));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  g_mutex_unlock (&mod->lock);
  nornic_json_reply_object (reply, 200, b);
  return TRUE;
}

static gboolean
h_wal (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len, NornicHttpReply *reply)
{
  (void) method; (void) path; (void) body; (void) body_len;
  const NornicCoreApi *api = mod->api;
  g_mutex_lock (&mod->lock);
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  nornic_json_int (b, "last_index", (gint64) api->wal_last_index (api->core));
  nornic_json_int (b, "last_term", (gint64) api->wal_last_term (api->core));
  nornic_json_int (b, "first_index", (gint64) nc_raft_first_index (mod->raft));
  nornic_json_int (b, "durable_index", (gint64) nc_raft_durable_index (mod->raft));
  nornic_json_int (b, "commit_index", (gint64) nc_raft_commit_index (mod->raft));
  nornic_json_int (b, "applied_index", (gint64) reported_applied (mod));
  nornic_json_int (b, "snapshot_index", (gint64) mod->last_snapshot_index);
  g_mutex_unlock (&mod->lock);
  nornic_json_reply_object (reply, 200, b);
  return TRUE;
}

static const char *
body_string (JsonObject *o, const char *a, const char *b)
{
  if (o == NULL)
    return NULL;
  if (json_object_has_member (o, a) && JSON_NODE_HOLDS_VALUE (json_object_get_member (o, a)))
    return json_object_get_string_member (o, a);
  if (b && json_object_has_member (o, b) && JSON_NODE_HOLDS_VALUE (json_object_get_member (o, b)))
    return json_object_get_string_member (o, b);
  return NULL;
}

/* Leader-only POSTs: add, remove, transfer-leadership, step-down. */
static gboolean
h_leader_op (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len,
             NornicHttpReply *reply)
{
  (void) method;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = NULL;
  if (body && body_len > 0)
    {
      if (!json_parser_load_from_data (parser, body, (gssize) body_len, NULL)
          || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        {
          g_mutex_lock (&mod->lock);
          reply_error (mod, reply, 400, "BadRequest", "the body must be a JSON object");
          g_mutex_unlock (&mod->lock);
          return TRUE;
        }
      o = json_node_get_object (json_parser_get_root (parser));
    }
  g_mutex_lock (&mod->lock);
  if (mod->raft_role != NC_RAFT_LEADER)
    {
      g_autofree char *msg = g_strdup_printf ("this node (%s) is not the leader; send the request to %s", mod->node_id,
                                              mod->leader ? mod->leader : "the leader (none known right now)");
      reply_error (mod, reply, 409, "NotALeader", msg);
      g_mutex_unlock (&mod->lock);
      return TRUE;
    }
  g_autoptr (GError) error = NULL;
  gboolean ok = FALSE;
  guint64 index = 0;
  g_autoptr (JsonBuilder) b = nornic_json_object_new ();
  if (g_str_has_suffix (path, "/add") || g_str_has_suffix (path, "/remove"))
    {
      gboolean add = g_str_has_suffix (path, "/add");
      const char *id = body_string (o, "id", "node_id");
      const char *address = body_string (o, "address", "addr");
      if (id == NULL || *id == '\0' || (add && (address == NULL || strchr (address, ':') == NULL)))
        {
          reply_error (mod, reply, 400, "BadRequest",
                       add ? "expected {\"id\": \"node-4\", \"address\": \"host:port\"}" : "expected {\"id\": \"node-4\"}");
          g_mutex_unlock (&mod->lock);
          return TRUE;
        }
      NcRaftConfChange cc = { .type = add ? NC_RAFT_CONF_ADD_LEARNER : NC_RAFT_CONF_REMOVE, .id = id, .address = address };
      ok = nc_raft_propose_conf_change (mod->raft, &cc, &index, &error);
      if (ok && add)
        g_hash_table_add (mod->promote, g_strdup (id));
      if (ok && !add)
        g_hash_table_remove (mod->promote, id);
      nornic_json_string (b, "status", add ? "adding" : "removing");
      nornic_json_string (b, "id", id);
      nornic_json_int (b, "index", (gint64) index);
      if (add)
        {
          nornic_json_string (b, "note", "added as a learner; promoted to voter once caught up");
        }
    }
  else if (g_str_has_suffix (path, "/step-down"))
    {
      ok = nc_raft_step_down (mod->raft, &error);
      nornic_json_string (b, "status", "stepping-down");
    }
  else
    {
      const char *target = body_string (o, "target", "id");
      if (target == NULL)
        target = body_string (o, "node_id", NULL);
      ok = nc_raft_transfer_leadership (mod->raft, target, &error);
      nornic_json_string (b, "status", "transferring");
      json_builder_set_member_name (b, "target");
      const char *t = nc_raft_transfer_target (mod->raft);
      if (t)
        json_builder_add_string_value (b, t);
      else
        json_builder_add_null_value (b);
    }
  json_builder_end_object (b);
  if (!ok)
    {
      guint status = error->code == NC_RAFT_ERROR_INVALID ? 400 : error->code == NC_RAFT_ERROR_NOT_LEADER ? 409 : 503;
      reply_error (mod, reply, status, "RaftError", error->message);
    }
  else
    nornic_json_reply (reply, 200, b);
  GSList *done = process (mod);
  g_mutex_unlock (&mod->lock);
  nornic_commit_done_run (done);
  return TRUE;
}

/* Main loop, lock held: lets the main loop run one iteration (heartbeats,
 * the Ready loop, snapshot_done_cb, other admin requests) without the lock. */
static void
iterate_unlocked (NornicModule *mod)
{
  g_mutex_unlock (&mod->lock);
  g_main_context_iteration (mod->api->main_context, TRUE);
  g_mutex_lock (&mod->lock);
}

/* POST /admin/raft/snapshot. Admin handlers run on the main loop and answer
 * before they return (protocols/http waits for them), and writing a large
 * store takes seconds: done here, it would stop heartbeats and the leader
 * would lose its followers. So the snapshot is written on the snapshot
 * thread the scheduled ones use, and this handler runs the main loop
 * (nested) until snapshot_done_cb has compacted after it. A scheduled
 * snapshot already running is waited for first: it may predate the entries
 * the caller wants included. A second request arriving meanwhile nests and
 * takes its own snapshot after this one. */
static gboolean
h_snapshot (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len,
            NornicHttpReply *reply)
{
  (void) method; (void) path; (void) body; (void) body_len;
  g_mutex_lock (&mod->lock);
  while ((mod->snap_thread != NULL || mod->snap_done_source != 0) && !mod->stopping)
    iterate_unlocked (mod);
  if (mod->stopping)
    {
      reply_error (mod, reply, 503, "SnapshotFailed", "the database is shutting down");
      g_mutex_unlock (&mod->lock);
      return TRUE;
    }
  guint gen = ++mod->snap_gen;
  mod->last_snapshot_us = g_get_monotonic_time ();
  mod->snap_thread = g_thread_new ("raft-snapshot", snapshot_thread, mod);
  /* snapshot_done_cb always runs for this thread unless the module stops
   * (a follower installing the leader's snapshot joins it first, and the
   * callback is attached by then). */
  while (mod->snap_done_gen < gen && !mod->stopping)
    iterate_unlocked (mod);
  if (mod->snap_done_gen < gen || mod->snap_done_error != NULL)
    {
      reply_error (mod, reply, 500, "SnapshotFailed",
                   mod->snap_done_error ? mod->snap_done_error->message : "the database is shutting down");
      g_mutex_unlock (&mod->lock);
      return TRUE;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "ok");
  json_builder_set_member_name (b, "index");
  json_builder_add_int_value (b, (gint64) mod->snap_done_index);
  json_builder_set_member_name (b, "first_index");
  json_builder_add_int_value (b, (gint64) nc_raft_first_index (mod->raft));
  json_builder_end_object (b);
  g_mutex_unlock (&mod->lock);
  nornic_json_reply (reply, 200, b);
  return TRUE;
}

#ifdef NC_MULTI_REGION

/* POST /admin/region/promote and /admin/region/conflicts/resolve on this
 * node. Caller holds the lock. */
static guint
region_admin_local (NornicModule *mod, const char *path, const char *body, gsize body_len, char **json)
{
  if (strcmp (path, "/admin/region/promote") == 0)
    return nc_region_http_promote (mod->region, json);
  g_autoptr (NcWriteSet) ws = NULL;
  guint status = nc_region_http_resolve (mod->region, body, body_len, &ws, json);
  if (ws == NULL)
    return status;
  /* An ordinary local write of the primary region's leader, shipped like
   * any other. */
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) stamped = nc_region_node_accepts_writes (mod->region)
                                     ? nc_region_node_stamp (mod->region, ws, &error) : NULL;
  guint64 index = stamped ? region_host_propose (mod, stamped, &error) : 0;
  if (index == 0)
    {
      g_free (*json);
      *json = nc_region_error_json ("NotALeader", error ? error->message
                                                     : "conflicts are resolved on the primary region's leader", NULL);
      return 421;
    }
  nc_region_node_proposed (mod->region, index, stamped);
  return status;
}

typedef struct {
  guint status;
  char *json;
} RegionAdminAnswer;

static void
region_admin_answer_free (gpointer p)
{
  RegionAdminAnswer *a = p;
  g_free (a->json);
  g_free (a);
}

#define REGION_ADMIN_FORWARD_US (5 * G_USEC_PER_SEC)

static gboolean
region_wake_noop (gpointer data)
{
  (void) data;
  return G_SOURCE_CONTINUE;
}

/* A follower forwards the two POST endpoints to its region's leader over
 * the cluster transport (RegionAdmin / RegionAdminReply) and waits for the
 * answer, running the main loop meanwhile (admin handlers answer before they
 * return). The guide runs them against any node; both are safe to repeat
 * (promoting a primary returns its epoch, resolving twice is refused).
 * Returns 0 when there is no leader to forward to. Caller holds the lock. */
static guint
region_admin_forward (NornicModule *mod, const char *path, const char *body, gsize body_len, char **json)
{
  if (mod->leader == NULL || g_strcmp0 (mod->leader, mod->node_id) == 0 || mod->node == NULL)
    return 0;
  if (mod->region_admin_answers == NULL)
    mod->region_admin_answers = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, region_admin_answer_free);
  gint64 id = (gint64) ++mod->region_admin_next;
  g_autofree char *leader = g_strdup (mod->leader);
  g_autoptr (NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_ADMIN);
  m->u.region_admin.region = g_strdup (nc_region_log_region (nc_region_node_log (mod->region)));
  m->u.region_admin.request_id = (guint64) id;
  m->u.region_admin.path = g_strdup (path);
  m->u.region_admin.body = g_bytes_new (body, body ? body_len : 0);
  if (!nc_cluster_node_send (mod->node, leader, m, NULL))
    return 0;
  gint64 deadline = g_get_monotonic_time () + REGION_ADMIN_FORWARD_US;
  while (!g_hash_table_contains (mod->region_admin_answers, &id) && !mod->stopping
         && g_get_monotonic_time () < deadline)
    {
      /* A wake-up of our own: the loop may have no other source left
       * (e.g. the module stopped inside this iteration). */
      GSource *wake = g_timeout_source_new (50);
      g_source_set_callback (wake, region_wake_noop, NULL, NULL);
      g_source_attach (wake, mod->api->main_context);
      iterate_unlocked (mod);
      g_source_destroy (wake);
      g_source_unref (wake);
    }
  RegionAdminAnswer *a = g_hash_table_lookup (mod->region_admin_answers, &id);
  if (a == NULL)
    {
      g_autofree char *msg = g_strdup_printf ("the region's leader %s did not answer the forwarded request in %d s; "
                                              "retry", leader, (int) (REGION_ADMIN_FORWARD_US / G_USEC_PER_SEC));
      *json = nc_region_error_json ("Unavailable", msg, NULL);
      return 503;
    }
  guint status = a->status;
  *json = g_steal_pointer (&a->json);
  g_hash_table_remove (mod->region_admin_answers, &id);
  return status;
}

/* RegionAdmin (leader) and RegionAdminReply (the forwarding member). Caller
 * holds the lock; main loop. */
static void
region_admin_message (NornicModule *mod, const NcClusterMessage *msg)
{
  if (mod->region == NULL)
    return;
  if (msg->type == NC_CLUSTER_MSG_REGION_ADMIN)
    {
      const NcClusterMsgRegionAdmin *r = &msg->u.region_admin;
      char *json = NULL;
      guint status;
      if (strcmp (r->path, "/admin/region/promote") != 0 && strcmp (r->path, "/admin/region/conflicts/resolve") != 0)
        {
          status = 404;
          json = nc_region_error_json ("NotFound", "unknown forwarded admin request", NULL);
        }
      else if (mod->raft_role != NC_RAFT_LEADER || !mod->writes_ready)
        {
          /* Not forwarded again: a leader change in between ends here. */
          status = 421;
          json = nc_region_error_json ("NotALeader", "the forwarded request reached a node that is no longer the "
                                                  "region's leader; retry", NULL);
        }
      else
        {
          gsize len = 0;
          const char *body = r->body ? g_bytes_get_data (r->body, &len) : NULL;
          status = region_admin_local (mod, r->path, body, len, &json);
        }
      g_autoptr (NcClusterMessage) a = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_ADMIN_REPLY);
      a->u.region_admin_reply.request_id = r->request_id;
      a->u.region_admin_reply.status = status;
      a->u.region_admin_reply.json = json;
      nc_cluster_node_send (mod->node, msg->from, a, NULL);
      return;
    }
  if (mod->region_admin_answers == NULL || g_hash_table_size (mod->region_admin_answers) > 64)
    return;  /* nobody asked, or answers nobody waited for pile up */
  RegionAdminAnswer *a = g_new0 (RegionAdminAnswer, 1);
  a->status = (guint) msg->u.region_admin_reply.status;
  a->json = g_strdup (msg->u.region_admin_reply.json);
  gint64 id = (gint64) msg->u.region_admin_reply.request_id;
  g_hash_table_insert (mod->region_admin_answers, g_memdup2 (&id, sizeof id), a);
}

/* /admin/region/promote, /admin/region/conflicts[?status=open],
 * /admin/region/conflicts/resolve */
static gboolean
h_region (NornicModule *mod, const char *method, const char *path, const char *body, gsize body_len,
          NornicHttpReply *reply)
{
  (void) method;
  g_mutex_lock (&mod->lock);
  char *json = NULL;
  guint status = 0;
  if (strcmp (path, "/admin/region/conflicts") == 0)
    status = nc_region_http_conflicts (mod->region, reply->query, &json);
  else
    {
      if (mod->raft_role != NC_RAFT_LEADER)
        status = region_admin_forward (mod, path, body, body_len, &json);
      if (status == 0)
        status = region_admin_local (mod, path, body, body_len, &json);
    }
  g_mutex_unlock (&mod->lock);
  reply->status = status;
  reply->json = json;
  return TRUE;
}
#endif

/* ---- entry point --------------------------------------------------------------------------------------------- */

static const NornicModuleVTable raft_vtable = {
  .abi_major = NORNIC_MODULE_ABI_MAJOR,
  .abi_minor = NORNIC_MODULE_ABI_MINOR,
  .struct_size = sizeof (NornicModuleVTable),
  .create = raft_create,
  .start = raft_start,
  .stop = raft_stop,
  .destroy = raft_destroy,
  .submit = raft_submit,
  .routing_table = raft_routing_table,
  .health_json = raft_health_json,
  .metrics = raft_metrics,
  .can_serve_read = raft_can_serve_read,
  .replay_limit = raft_replay_limit,
#ifdef NC_MULTI_REGION
  .begin_transaction = region_begin_transaction,
#endif
};

static const NornicModuleInfo raft_info = {
  .abi_major = NORNIC_MODULE_ABI_MAJOR,
  .abi_minor = NORNIC_MODULE_ABI_MINOR,
  .struct_size = sizeof (NornicModuleInfo),
  .name = MODE_NAME,
  .version = "1.0",
  .vtable = &raft_vtable,
};

G_MODULE_EXPORT const NornicModuleInfo *nornic_module_entry (void);

G_MODULE_EXPORT const NornicModuleInfo *
nornic_module_entry (void)
{
  return &raft_info;
}
