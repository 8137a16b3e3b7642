/* region-node.c — one member's side of the multi-region protocol over an
 * injected host: shipping this region's writes to the other regions,
 * proposing what they ship to us through our own log, acknowledging once
 * committed, promotion and epoch notification (docs/multi-region.md). */
#define G_LOG_DOMAIN "nornicdb-region"

#include "region.h"

#include <json-glib/json-glib.h>
#include <string.h>

typedef struct {
  char *reply_to;        /* node id of the sender of the batch */
  guint64 wait_local;    /* ack once our commit index reaches this */
  guint64 cover;         /* then acknowledge up to here */
} PendingAck;

struct _NcRegionNode {
  NcRegionHost host;
  char *self;
  NcRegionLog *log;
  NcReadConsistency default_level;
  GPtrArray *shippers;        /* NcRegionShipper*, one per remote region */
  gboolean leader;
  GHashTable *covered;        /* region -> guint64*: batch ends committed */
  GHashTable *proposed;       /* region -> guint64*: our log index of its last proposed entry */
  GHashTable *pending_ack;    /* region -> PendingAck* */
  GHashTable *remote_bolt;    /* region -> Bolt address of its leader */
  GHashTable *epoch_acked;    /* region -> guint64*: epoch it acknowledged */
  GHashTable *epoch_reply;    /* node id -> guint64*: epoch to confirm once committed */
  gint64 epoch_sent_us;
  guint64 highest_epoch_seen;
  GHashTable *catchup_sent;   /* region -> guint64*: monotonic us of the last snapshot sent there */
  GHashTable *incoming;       /* region -> Incoming*: snapshot transfer being received */
  GHashTable *catchups;       /* region -> guint64*: catch-up snapshots sent there (status) */
  GHashTable *probed;         /* region -> guint64*: first missing entry we probed the receiver about */
  gboolean semi_sync;
  gint64 semi_timeout_us;
  gboolean degraded;          /* semi_sync timed out; async until a remote region caught up */
};

/* A catch-up snapshot being received from one region. */
typedef struct {
  guint64 index;
  guint64 total;
  GByteArray *buf;
} Incoming;

static void
incoming_free (Incoming *in)
{
  g_byte_array_unref (in->buf);
  g_free (in);
}

#define NC_REGION_SNAPSHOT_CHUNK (1024 * 1024)

#define HOST(n, f, ...) ((n)->host.f ((n)->host.user_data, ##__VA_ARGS__))

/* Helpers rather than HOST(): they are used inside HOST() arguments. */
static const char *
local_leader (NcRegionNode *n)
{
  return n->host.leader_cluster_address (n->host.user_data);
}

static const char *
local_leader_bolt (const NcRegionNode *n)
{
  return n->host.leader_bolt_address (n->host.user_data);
}

static void
pending_ack_free (PendingAck *p)
{
  g_free (p->reply_to);
  g_free (p);
}

static guint64
u64_get (GHashTable *h, const char *key)
{
  const guint64 *v = g_hash_table_lookup (h, key);
  return v ? *v : 0;
}

static void
u64_set (GHashTable *h, const char *key, guint64 v)
{
  g_hash_table_insert (h, g_strdup (key), g_memdup2 (&v, sizeof v));
}

static GHashTable *
u64_table (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

NcRegionNode *
nc_region_node_new (const NcRegionHost *host, const NcRegionNodeConfig *config, GError **error)
{
  NcConflictStrategy strategy;
  NcReadConsistency level = NC_READ_LOCAL_ONE;
  if (config->region == NULL || *config->region == '\0')
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "NORNICDB_CLUSTER_REGION_ID is required");
      return NULL;
    }
  if (config->cross_region_mode && g_strcmp0 (config->cross_region_mode, "async") != 0
      && g_strcmp0 (config->cross_region_mode, "semi_sync") != 0)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                   "unknown NORNICDB_CLUSTER_CROSS_REGION_MODE \"%s\"", config->cross_region_mode);
      return NULL;
    }
  if (!nc_conflict_strategy_parse (config->conflict_strategy ? config->conflict_strategy : "last_write_wins",
                                   &strategy, error))
    return NULL;
  if (config->read_consistency && !nc_read_consistency_parse (config->read_consistency, &level, error))
    return NULL;
  g_autoptr (GPtrArray) peers = nc_region_peers_parse (config->remote_regions, config->region, error);
  if (peers == NULL)
    return NULL;

  NcRegionNode *n = g_new0 (NcRegionNode, 1);
  n->host = *host;
  n->self = g_strdup (config->region);
  n->log = nc_region_log_new (config->region, strategy);
  n->default_level = level;
  n->semi_sync = g_strcmp0 (config->cross_region_mode, "semi_sync") == 0;
  n->semi_timeout_us = config->semi_sync_timeout_us > 0 ? config->semi_sync_timeout_us : NC_REGION_SEMI_SYNC_TIMEOUT_US;
  n->shippers = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_region_shipper_free);
  n->covered = u64_table ();
  n->proposed = u64_table ();
  n->pending_ack = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) pending_ack_free);
  n->remote_bolt = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  n->epoch_acked = u64_table ();
  n->epoch_reply = u64_table ();
  n->catchup_sent = u64_table ();
  n->catchups = u64_table ();
  n->probed = u64_table ();
  n->incoming = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) incoming_free);
  for (guint i = 0; i < peers->len; i++)
    {
      NcRegionPeer *p = peers->pdata[i];
      g_autofree char *addr = g_strdup_printf ("%s:%u", p->host, p->port);
      g_autofree char *key = nc_region_position_key (p->region);
      g_autofree char *saved = HOST (n, state_load, key);
      guint64 acked = 0;
      if (saved && !nc_region_parse_u64 (saved, &acked, NULL))
        g_warning ("ignoring malformed %s = \"%s\"", key, saved);
      g_ptr_array_add (n->shippers, nc_region_shipper_new (p->region, addr, acked));
    }
  g_autofree char *epoch_text = HOST (n, state_load, "region.epoch");
  NcRegionEpoch e = { 0 };
  if (epoch_text && nc_region_epoch_parse (epoch_text, &e, NULL))
    {
      nc_region_log_restore_epoch (n->log, &e);
      n->highest_epoch_seen = e.epoch;
    }
  nc_region_epoch_clear (&e);
  return n;
}

void
nc_region_node_free (NcRegionNode *n)
{
  if (n == NULL)
    return;
  g_free (n->self);
  nc_region_log_free (n->log);
  g_ptr_array_unref (n->shippers);
  g_hash_table_unref (n->covered);
  g_hash_table_unref (n->proposed);
  g_hash_table_unref (n->pending_ack);
  g_hash_table_unref (n->remote_bolt);
  g_hash_table_unref (n->epoch_acked);
  g_hash_table_unref (n->epoch_reply);
  g_hash_table_unref (n->catchup_sent);
  g_hash_table_unref (n->catchups);
  g_hash_table_unref (n->probed);
  g_hash_table_unref (n->incoming);
  g_free (n);
}

NcRegionLog *
nc_region_node_log (NcRegionNode *n)
{
  return n->log;
}

gboolean
nc_region_node_is_leader (const NcRegionNode *n)
{
  return n->leader;
}

static NcRegionShipper *
shipper_for (NcRegionNode *n, const char *region)
{
  for (guint i = 0; i < n->shippers->len; i++)
    {
      NcRegionShipper *s = n->shippers->pdata[i];
      if (g_strcmp0 (s->region, region) == 0)
        return s;
    }
  return NULL;
}

void
nc_region_node_set_leader (NcRegionNode *n, gboolean leader)
{
  if (leader == n->leader)
    return;
  n->leader = leader;
  g_hash_table_remove_all (n->pending_ack);
  g_hash_table_remove_all (n->epoch_reply);
  g_hash_table_remove_all (n->proposed);
  if (leader)
    nc_region_log_leader_sync (n->log);
  for (guint i = 0; i < n->shippers->len; i++)
    nc_region_shipper_rewind (n->shippers->pdata[i], TRUE);
}

NcWriteSet *
nc_region_node_stamp (NcRegionNode *n, const NcWriteSet *ws, GError **error)
{
  return nc_region_log_stamp_local (n->log, ws, HOST (n, wall_ms), error);
}

void
nc_region_node_proposed (NcRegionNode *n, guint64 index, const NcWriteSet *entry)
{
  nc_region_log_proposed (n->log, index, entry);
}

static NcClusterMessage *
ship_ack_new (NcRegionNode *n, guint64 applied, gboolean success, const char *leader_addr, const char *message)
{
  NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_SHIP_ACK);
  m->u.region_ship_ack.region = g_strdup (n->self);
  m->u.region_ship_ack.epoch = nc_region_log_epoch (n->log)->epoch;
  m->u.region_ship_ack.applied_index = applied;
  m->u.region_ship_ack.success = success;
  m->u.region_ship_ack.leader_addr = g_strdup (leader_addr);
  m->u.region_ship_ack.message = g_strdup (message);
  return m;
}

static guint64
have_for (NcRegionNode *n, const char *region)
{
  return MAX (nc_region_log_have (n->log, region), u64_get (n->covered, region));
}

static void ship_one (NcRegionNode *n, NcRegionShipper *s, gint64 now);

static void
ack_ready (NcRegionNode *n)
{
  guint64 commit = nc_region_log_committed_index (n->log);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, n->pending_ack);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      PendingAck *p = v;
      if (commit < p->wait_local)
        continue;
      if (p->cover > u64_get (n->covered, k))
        u64_set (n->covered, k, p->cover);
      guint64 applied = MAX (nc_region_resolver_applied (nc_region_log_resolver (n->log), k), u64_get (n->covered, k));
      HOST (n, send, p->reply_to, ship_ack_new (n, applied, TRUE, NULL, NULL));
      g_hash_table_iter_remove (&it);
    }
}

static NcClusterMessage *
epoch_ack_new (NcRegionNode *n, gboolean accepted, const char *leader_addr)
{
  const NcRegionEpoch *e = nc_region_log_epoch (n->log);
  NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_EPOCH_ACK);
  m->u.region_epoch_ack.region = g_strdup (n->self);
  m->u.region_epoch_ack.epoch = e->epoch;
  m->u.region_epoch_ack.primary = g_strdup (e->primary ? e->primary : "");
  m->u.region_epoch_ack.accepted = accepted;
  m->u.region_epoch_ack.leader_addr = g_strdup (leader_addr);
  return m;
}

void
nc_region_node_committed (NcRegionNode *n, guint64 index, const NcWriteSet *entry)
{
  gboolean changed = FALSE;
  g_autoptr (GError) error = NULL;
  if (!nc_region_log_committed (n->log, index, entry, &changed, &error))
    g_warning ("region entry %" G_GUINT64_FORMAT ": %s", index, error->message);
  if (changed)
    {
      const NcRegionEpoch *e = nc_region_log_epoch (n->log);
      g_autofree char *text = nc_region_epoch_format (e);
      g_autoptr (GError) save_error = NULL;
      if (!HOST (n, state_save, "region.epoch", text, &save_error))
        g_warning ("cannot persist region epoch %s: %s", text, save_error->message);
      g_message ("region epoch %" G_GUINT64_FORMAT ": primary region is %s%s", e->epoch, e->primary,
                 g_strcmp0 (e->primary, n->self) == 0 ? " (this region)" : "");
      n->highest_epoch_seen = MAX (n->highest_epoch_seen, e->epoch);
      /* Everyone must hear of it again. */
      g_hash_table_remove_all (n->epoch_acked);
      n->epoch_sent_us = 0;
    }
  if (!n->leader)
    return;
  ack_ready (n);
  /* Ship at once rather than at the next tick: cross-region lag and
   * semi_sync latency (the window bounds what is in flight). */
  gint64 now = HOST (n, now_us);
  for (guint i = 0; i < n->shippers->len; i++)
    ship_one (n, n->shippers->pdata[i], now);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, n->epoch_reply);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (nc_region_log_epoch (n->log)->epoch >= *(guint64 *) v)
      {
        HOST (n, send, k, epoch_ack_new (n, TRUE, NULL));
        g_hash_table_iter_remove (&it);
      }
}

/* What the snapshot at `index` includes of every other region: their
 * applied positions now, lowered below any of their entries that our log
 * applied after `index` (still in the log: compaction stops at the
 * snapshot). Lowering too far only makes the receiver more careful. */
static void
snapshot_seen (NcRegionNode *n, guint64 index, NcRegionOrigin *o)
{
  NcRegionLog *l = n->log;
  nc_region_resolver_fill_seen (nc_region_log_resolver (l), o);
  guint64 upto = nc_region_log_committed_index (l);
  if (upto > index + 100000)
    {
      /* Too long to scan: claim nothing of the others. */
      g_clear_pointer (&o->seen, g_hash_table_unref);
      return;
    }
  for (guint64 i = index + 1; i <= upto; i++)
    {
      g_autoptr (NcWriteSet) entry = HOST (n, entry_at, i, NULL);
      NcRegionOrigin eo = { 0 };
      if (entry && nc_region_origin_read (entry, &eo, NULL) && g_strcmp0 (eo.region, n->self) != 0 && eo.index > 0
          && nc_region_origin_seen (o, eo.region) >= eo.index)
        nc_region_origin_set_seen (o, eo.region, eo.index - 1);
      nc_region_origin_clear (&eo);
    }
}

/* The entries after `s->acked` are compacted away: send our newest snapshot
 * instead (RegionSnapshotChunk), at most once per ack timeout. */
static gboolean
ship_snapshot (NcRegionNode *n, NcRegionShipper *s, guint64 from, gint64 now)
{
  /* Our position may just be old (only a leader persists it, so a new
   * leader starts from its own last one): first ask the receiver where it
   * is with an empty RegionShip; its ack moves the position, and only if
   * the entry after that is compacted too does a snapshot go out. */
  if (u64_get (n->probed, s->region) != s->acked + 1)
    {
      u64_set (n->probed, s->region, s->acked + 1);
      const NcRegionEpoch *e = nc_region_log_epoch (n->log);
      NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_SHIP);
      m->u.region_ship.region = g_strdup (n->self);
      m->u.region_ship.epoch = e->epoch;
      m->u.region_ship.primary = g_strdup (e->primary ? e->primary : "");
      m->u.region_ship.prev_index = s->acked;
      m->u.region_ship.entries = nc_cluster_entries_new ();
      m->u.region_ship.last_index = s->acked;
      m->u.region_ship.leader_commit = HOST (n, commit_index);
      m->u.region_ship.bolt_addr = g_strdup (local_leader_bolt (n));
      nc_region_shipper_mark_sent (s, s->acked, now);
      HOST (n, send, s->target, m);
      return TRUE;
    }
  if (s->sent_us != 0 && s->sent == s->acked)
    return TRUE;  /* the probe is in flight: its ack (or time-out) first */
  if (n->host.snapshot_read == NULL)
    return FALSE;
  guint64 last = u64_get (n->catchup_sent, s->region);
  if (last != 0 && now - (gint64) last < NC_REGION_ACK_TIMEOUT_US)
    return TRUE;
  guint64 index = 0;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) file = HOST (n, snapshot_read, &index, &error);
  if (file == NULL || index < from)
    {
      /* Logged (and tried) once per ack time-out, not at every tick. */
      u64_set (n->catchup_sent, s->region, (guint64) now);
      g_warning ("cannot catch region %s up from entry %" G_GUINT64_FORMAT ": %s", s->region, from,
                 file == NULL ? error->message : "the newest snapshot is older than the missing entries");
      return FALSE;
    }
  const NcRegionEpoch *e = nc_region_log_epoch (n->log);
  NcRegionOrigin o = { .region = n->self, .index = index, .epoch = e->epoch };
  o.hlc = nc_region_resolver_max_hlc (nc_region_log_resolver (n->log), n->self);
  snapshot_seen (n, index, &o);
  g_autoptr (NcWriteSet) marks = nc_writeset_new ();
  nc_region_resolver_append_resolutions (nc_region_log_resolver (n->log), marks);
  g_autoptr (NcWriteSet) stamp = nc_region_stamp (marks, &o);
  g_clear_pointer (&o.seen, g_hash_table_unref);  /* o.region is borrowed */
  g_autoptr (GBytes) stamp_bytes = nc_writeset_encode (stamp);
  GByteArray *blob = g_byte_array_new ();
  guint32 slen = GUINT32_TO_LE ((guint32) g_bytes_get_size (stamp_bytes));
  g_byte_array_append (blob, (const guint8 *) &slen, 4);
  g_byte_array_append (blob, g_bytes_get_data (stamp_bytes, NULL), g_bytes_get_size (stamp_bytes));
  g_byte_array_append (blob, g_bytes_get_data (file, NULL), g_bytes_get_size (file));
  g_autoptr (GBytes) all = g_byte_array_free_to_bytes (blob);
  gsize total = g_bytes_get_size (all);
  g_message ("region %s is behind our compacted log (it needs entry %" G_GUINT64_FORMAT
             "): sending snapshot %" G_GUINT64_FORMAT " (%" G_GSIZE_FORMAT " bytes)", s->region, from, index, total);
  for (gsize off = 0; off < total || off == 0; off += NC_REGION_SNAPSHOT_CHUNK)
    {
      gsize len = MIN ((gsize) NC_REGION_SNAPSHOT_CHUNK, total - off);
      NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_SNAPSHOT_CHUNK);
      m->u.region_snapshot_chunk.region = g_strdup (n->self);
      m->u.region_snapshot_chunk.epoch = e->epoch;
      m->u.region_snapshot_chunk.primary = g_strdup (e->primary ? e->primary : "");
      m->u.region_snapshot_chunk.snapshot_index = index;
      m->u.region_snapshot_chunk.offset = off;
      m->u.region_snapshot_chunk.total_bytes = total;
      m->u.region_snapshot_chunk.data = g_bytes_new_from_bytes (all, off, len);
      m->u.region_snapshot_chunk.done = off + len >= total;
      m->u.region_snapshot_chunk.bolt_addr = g_strdup (local_leader_bolt (n));
      HOST (n, send, s->target, m);
      if (off + len >= total)
        break;
    }
  u64_set (n->catchup_sent, s->region, (guint64) now);
  u64_set (n->catchups, s->region, u64_get (n->catchups, s->region) + 1);
  nc_region_shipper_mark_sent (s, index, now);
  return TRUE;
}

static void
ship_one (NcRegionNode *n, NcRegionShipper *s, gint64 now)
{
  guint64 commit = HOST (n, commit_index);
  guint64 from, to;
  if (!nc_region_shipper_next (s, commit, NC_REGION_SHIP_WINDOW, &from, &to))
    return;
  GPtrArray *entries = nc_cluster_entries_new ();
  guint64 last = from - 1;
  for (guint64 i = from; i <= to; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (NcWriteSet) entry = HOST (n, entry_at, i, &error);
      if (entry == NULL && i == from && ship_snapshot (n, s, from, now))
        {
          g_ptr_array_unref (entries);
          return;
        }
      if (entry == NULL)
        {
          g_warning ("cannot ship entry %" G_GUINT64_FORMAT " to region %s: %s", i, s->region,
                     error ? error->message : "missing");
          break;
        }
      g_autoptr (NcWriteSet) out = nc_region_log_for_shipping (n->log, i, entry);
      if (out != NULL)
        {
          g_autoptr (GBytes) data = nc_writeset_encode (out);
          g_ptr_array_add (entries, nc_cluster_entry_new (i, 0, data));
        }
      last = i;
    }
  if (last < from)
    {
      g_ptr_array_unref (entries);
      return;
    }
  const NcRegionEpoch *e = nc_region_log_epoch (n->log);
  NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_SHIP);
  m->u.region_ship.region = g_strdup (n->self);
  m->u.region_ship.epoch = e->epoch;
  m->u.region_ship.primary = g_strdup (e->primary ? e->primary : "");
  m->u.region_ship.prev_index = from - 1;
  m->u.region_ship.entries = entries;
  m->u.region_ship.last_index = last;
  m->u.region_ship.leader_commit = commit;
  m->u.region_ship.bolt_addr = g_strdup (local_leader_bolt (n));
  nc_region_shipper_mark_sent (s, last, now);
  HOST (n, send, s->target, m);
}

static gboolean
first_region (NcRegionNode *n)
{
  for (guint i = 0; i < n->shippers->len; i++)
    if (strcmp (((NcRegionShipper *) n->shippers->pdata[i])->region, n->self) < 0)
      return FALSE;
  return TRUE;
}

void
nc_region_node_tick (NcRegionNode *n)
{
  if (!n->leader)
    return;
  gint64 now = HOST (n, now_us);
  if (nc_region_log_epoch (n->log)->epoch == 0 && n->highest_epoch_seen == 0 && first_region (n))
    {
      /* Nobody is primary yet: the region whose id sorts first among all
       * configured regions takes epoch 1 (every region computes the same). */
      g_autoptr (GError) error = NULL;
      if (nc_region_node_promote (n, &error) == 0)
        g_warning ("initial promotion of region %s: %s", n->self, error->message);
    }
  const NcRegionEpoch *e = nc_region_log_epoch (n->log);
  gboolean notify = e->epoch > 0 && g_strcmp0 (e->primary, n->self) == 0 &&
                    now - n->epoch_sent_us >= NC_REGION_EPOCH_RESEND_US;
  for (guint i = 0; i < n->shippers->len; i++)
    {
      NcRegionShipper *s = n->shippers->pdata[i];
      if (s->sent_us != 0 && now - s->sent_us > NC_REGION_ACK_TIMEOUT_US)
        nc_region_shipper_rewind (s, TRUE);
      else if (nc_region_shipper_quick_resend (s, now))
        nc_region_shipper_rewind (s, FALSE);  /* same target, its connection is likely up now */
      ship_one (n, s, now);
      if (notify && u64_get (n->epoch_acked, s->region) < e->epoch)
        {
          NcClusterMessage *m = nc_cluster_message_new (NC_CLUSTER_MSG_REGION_EPOCH);
          m->u.region_epoch.region = g_strdup (n->self);
          m->u.region_epoch.epoch = e->epoch;
          m->u.region_epoch.primary = g_strdup (e->primary);
          m->u.region_epoch.bolt_addr = g_strdup (local_leader_bolt (n));
          HOST (n, send, s->target, m);
        }
    }
  if (notify)
    n->epoch_sent_us = now;
}

/* A remote region told us of an epoch: record a newer one through our log. */
static void
learn_epoch (NcRegionNode *n, guint64 epoch, const char *primary, const char *reply_to)
{
  const NcRegionEpoch *cur = nc_region_log_epoch (n->log);
  if (epoch <= cur->epoch || primary == NULL || *primary == '\0')
    {
      if (reply_to)
        HOST (n, send, reply_to, epoch_ack_new (n, epoch <= cur->epoch, NULL));
      return;
    }
  if (epoch > n->highest_epoch_seen)
    {
      NcRegionEpoch e = { epoch, (char *) primary };
      g_autoptr (NcWriteSet) ws = nc_region_log_prepare_epoch (n->log, &e);
      g_autoptr (GError) error = NULL;
      guint64 index = HOST (n, propose, ws, &error);
      if (index == 0)
        {
          g_warning ("cannot record region epoch %" G_GUINT64_FORMAT ": %s", epoch, error->message);
          return;
        }
      nc_region_log_proposed (n->log, index, ws);
      n->highest_epoch_seen = epoch;
    }
  if (reply_to)
    u64_set (n->epoch_reply, reply_to, epoch);
}

/* What every shipping message from another region starts with: only the
 * leader takes it (others answer with where the leader is); remember the
 * sender's Bolt address and learn its epoch. FALSE when not the leader. */
static gboolean
accept_from_region (NcRegionNode *n, const NcClusterMessage *msg, const char *region, const char *bolt_addr,
                    guint64 epoch, const char *primary)
{
  if (!n->leader)
    {
      HOST (n, send, msg->from, ship_ack_new (n, 0, FALSE, local_leader (n), "not the leader"));
      return FALSE;
    }
  if (bolt_addr && *bolt_addr)
    g_hash_table_insert (n->remote_bolt, g_strdup (region), g_strdup (bolt_addr));
  learn_epoch (n, epoch, primary, NULL);
  return TRUE;
}

static void
receive_ship (NcRegionNode *n, const NcClusterMessage *msg)
{
  const NcClusterMsgRegionShip *m = &msg->u.region_ship;
  if (!accept_from_region (n, msg, m->region, m->bolt_addr, m->epoch, m->primary))
    return;
  guint64 have = have_for (n, m->region);
  if (nc_region_receive_check (have, m->prev_index) == NC_REGION_RECEIVE_GAP)
    {
      HOST (n, send, msg->from, ship_ack_new (n, have, FALSE, NULL, "gap"));
      return;
    }
  guint64 wait_local = 0;
  for (guint i = 0; m->entries && i < m->entries->len; i++)
    {
      NcClusterEntry *ce = m->entries->pdata[i];
      if (ce->index <= have)
        continue;
      gsize len;
      const guint8 *d = g_bytes_get_data (ce->data, &len);
      g_autoptr (GError) error = NULL;
      g_autoptr (NcWriteSet) shipped = nc_writeset_decode (d, len, &error);
      NcRegionOrigin o = { 0 };
      if (shipped == NULL || !nc_region_origin_read (shipped, &o, &error) || o.index != ce->index ||
          g_strcmp0 (o.region, m->region) != 0)
        {
          nc_region_origin_clear (&o);
          HOST (n, send, msg->from, ship_ack_new (n, have_for (n, m->region), FALSE, NULL, "malformed entry"));
          return;
        }
      nc_region_origin_clear (&o);
      gboolean dup;
      g_autoptr (NcWriteSet) prop = nc_region_log_prepare_remote (n->log, shipped, &dup, &error);
      if (prop == NULL)
        {
          if (dup)
            continue;
          HOST (n, send, msg->from, ship_ack_new (n, have_for (n, m->region), FALSE, NULL, error->message));
          return;
        }
      guint64 index = HOST (n, propose, prop, &error);
      if (index == 0)
        {
          /* Lost leadership meanwhile; the sender resends after a rewind. */
          HOST (n, send, msg->from, ship_ack_new (n, 0, FALSE, local_leader (n), error->message));
          return;
        }
      wait_local = index;
      u64_set (n->proposed, m->region, index);
    }
  PendingAck *p = g_new0 (PendingAck, 1);
  p->reply_to = g_strdup (msg->from);
  /* A resent batch whose entries we already proposed must still wait for
   * them to commit before anything is acknowledged. */
  p->wait_local = MAX (wait_local, u64_get (n->proposed, m->region));
  p->cover = m->last_index;
  g_hash_table_insert (n->pending_ack, g_strdup (m->region), p);
  ack_ready (n);
}

/* A chunk of a catch-up snapshot; the last one turns it into one
 * proposal, acknowledged (RegionShipAck) once committed like a batch. */
static void
receive_snapshot_chunk (NcRegionNode *n, const NcClusterMessage *msg)
{
  const NcClusterMsgRegionSnapshotChunk *m = &msg->u.region_snapshot_chunk;
  if (!accept_from_region (n, msg, m->region, m->bolt_addr, m->epoch, m->primary))
    return;
  Incoming *in = g_hash_table_lookup (n->incoming, m->region);
  if (m->offset == 0)
    {
      in = g_new0 (Incoming, 1);
      in->index = m->snapshot_index;
      in->total = m->total_bytes;
      in->buf = g_byte_array_new ();
      g_hash_table_insert (n->incoming, g_strdup (m->region), in);
    }
  else if (in == NULL || in->index != m->snapshot_index || in->buf->len != m->offset)
    {
      /* A chunk was lost (reconnect): drop it all; the sender starts over
       * after its ack timeout. */
      g_hash_table_remove (n->incoming, m->region);
      return;
    }
  gsize len;
  const guint8 *d = g_bytes_get_data (m->data, &len);
  if (in->buf->len + len > in->total)
    {
      g_hash_table_remove (n->incoming, m->region);
      return;
    }
  g_byte_array_append (in->buf, d, len);
  if (!m->done)
    return;
  g_autofree char *region = g_strdup (m->region);
  guint64 index = in->index;
  GByteArray *buf = g_byte_array_ref (in->buf);
  g_hash_table_remove (n->incoming, region);
  g_autoptr (GByteArray) owned = buf;
  guint64 have = have_for (n, region);
  if (index <= have)
    {
      HOST (n, send, msg->from, ship_ack_new (n, have, TRUE, NULL, NULL));
      return;
    }
  g_autoptr (GError) error = NULL;
  guint32 slen = 0;
  if (buf->len >= 4)
    {
      memcpy (&slen, buf->data, 4);
      slen = GUINT32_FROM_LE (slen);
    }
  g_autoptr (NcWriteSet) stamp = buf->len >= 4 && slen <= buf->len - 4
                                     ? nc_writeset_decode (buf->data + 4, slen, &error) : NULL;
  NcRegionOrigin o = { 0 };
  g_autoptr (NcWriteSet) target = NULL;
  if (stamp == NULL || !nc_region_origin_read (stamp, &o, &error) || g_strcmp0 (o.region, region) != 0
      || o.index != index
      || (target = nc_region_snapshot_effects (buf->data + 4 + slen, buf->len - 4 - slen, NULL, &error)) == NULL)
    {
      g_warning ("catch-up snapshot %" G_GUINT64_FORMAT " from region %s is malformed: %s", index, region,
                 error ? error->message : "bad origin stamp");
      nc_region_origin_clear (&o);
      HOST (n, send, msg->from, ship_ack_new (n, have, FALSE, NULL, "malformed catch-up snapshot"));
      return;
    }
  gboolean dup = FALSE;
  g_autoptr (NcWriteSet) prop = nc_region_log_prepare_catchup (n->log, &o, target, stamp, &dup, &error);
  nc_region_origin_clear (&o);
  if (prop == NULL)
    {
      if (!dup)
        {
          g_warning ("catch-up from region %s: %s", region, error->message);
          HOST (n, send, msg->from, ship_ack_new (n, have, FALSE, NULL, error->message));
        }
      return;
    }
  guint64 at = HOST (n, propose, prop, &error);
  if (at == 0)
    {
      HOST (n, send, msg->from, ship_ack_new (n, 0, FALSE, local_leader (n), error->message));
      return;
    }
  g_message ("catching up with region %s from its snapshot %" G_GUINT64_FORMAT " (%u effects, log index %" G_GUINT64_FORMAT ")",
             region, index, nc_writeset_len (prop), at);
  u64_set (n->proposed, region, at);
  PendingAck *p = g_new0 (PendingAck, 1);
  p->reply_to = g_strdup (msg->from);
  p->wait_local = at;
  p->cover = index;
  g_hash_table_insert (n->pending_ack, g_strdup (region), p);
  ack_ready (n);
}

void
nc_region_node_receive (NcRegionNode *n, const NcClusterMessage *msg)
{
  switch (msg->type)
    {
    case NC_CLUSTER_MSG_REGION_SNAPSHOT_CHUNK:
      receive_snapshot_chunk (n, msg);
      break;
    case NC_CLUSTER_MSG_REGION_SHIP:
      receive_ship (n, msg);
      break;
    case NC_CLUSTER_MSG_REGION_SHIP_ACK:
      {
        const NcClusterMsgRegionShipAck *a = &msg->u.region_ship_ack;
        NcRegionShipper *s = shipper_for (n, a->region);
        if (s == NULL || !n->leader)
          return;
        if (!a->success && a->leader_addr && *a->leader_addr)
          g_hash_table_remove (n->catchup_sent, s->region);  /* a catch-up goes to the leader at once */
        if (nc_region_shipper_ack (s, a->success, a->applied_index, a->leader_addr))
          {
            if (n->degraded && s->acked >= HOST (n, commit_index))
              {
                n->degraded = FALSE;
                g_message ("semi_sync restored: region %s has caught up (index %" G_GUINT64_FORMAT ")", s->region,
                           s->acked);
              }
            g_autofree char *key = nc_region_position_key (s->region);
            g_autofree char *val = g_strdup_printf ("%" G_GUINT64_FORMAT, s->acked);
            g_autoptr (GError) error = NULL;
            if (!HOST (n, state_save, key, val, &error))
              g_warning ("cannot persist %s: %s", key, error->message);
          }
        learn_epoch (n, a->epoch, NULL, NULL);
        break;
      }
    case NC_CLUSTER_MSG_REGION_EPOCH:
      {
        const NcClusterMsgRegionEpoch *e = &msg->u.region_epoch;
        if (!n->leader)
          {
            HOST (n, send, msg->from, epoch_ack_new (n, FALSE, local_leader (n)));
            return;
          }
        if (e->bolt_addr && *e->bolt_addr)
          g_hash_table_insert (n->remote_bolt, g_strdup (e->region), g_strdup (e->bolt_addr));
        learn_epoch (n, e->epoch, e->primary, msg->from);
        break;
      }
    case NC_CLUSTER_MSG_REGION_EPOCH_ACK:
      {
        const NcClusterMsgRegionEpochAck *a = &msg->u.region_epoch_ack;
        if (a->accepted)
          u64_set (n->epoch_acked, a->region, MAX (a->epoch, u64_get (n->epoch_acked, a->region)));
        else if (a->leader_addr && *a->leader_addr)
          {
            NcRegionShipper *s = shipper_for (n, a->region);
            if (s)
              nc_region_shipper_ack (s, FALSE, 0, a->leader_addr);
          }
        if (a->epoch > nc_region_log_epoch (n->log)->epoch && n->leader)
          learn_epoch (n, a->epoch, a->primary, NULL);
        break;
      }
    default:
      break;
    }
}

guint64
nc_region_node_promote (NcRegionNode *n, GError **error)
{
  if (!n->leader)
    {
      const char *leader = local_leader (n);
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE,
                   "promotion must run on the leader of region %s%s%s", n->self,
                   leader ? "; the leader is at " : " (it has none)", leader ? leader : "");
      return 0;
    }
  const NcRegionEpoch *cur = nc_region_log_epoch (n->log);
  if (g_strcmp0 (cur->primary, n->self) == 0 && cur->epoch >= n->highest_epoch_seen)
    return cur->epoch;  /* already primary */
  NcRegionEpoch e = { MAX (cur->epoch, n->highest_epoch_seen) + 1, n->self };
  g_autoptr (NcWriteSet) ws = nc_region_log_prepare_epoch (n->log, &e);
  guint64 index = HOST (n, propose, ws, error);
  if (index == 0)
    return 0;
  nc_region_log_proposed (n->log, index, ws);
  n->highest_epoch_seen = e.epoch;
  return e.epoch;
}

static guint64
max_acked (const NcRegionNode *n)
{
  guint64 max = 0;
  for (guint i = 0; i < n->shippers->len; i++)
    max = MAX (max, ((NcRegionShipper *) n->shippers->pdata[i])->acked);
  return max;
}

gboolean
nc_region_node_semi_sync_ready (NcRegionNode *n, guint64 index, gint64 committed_us)
{
  if (!n->semi_sync || n->degraded || n->shippers->len == 0 || max_acked (n) >= index)
    return TRUE;
  if (HOST (n, now_us) - committed_us < n->semi_timeout_us)
    return FALSE;
  n->degraded = TRUE;
  g_warning ("semi_sync: no remote region confirmed write %" G_GUINT64_FORMAT " within %.1f s; acknowledging writes "
             "after the local quorum only (async) until a remote region catches up", index,
             n->semi_timeout_us / (double) G_USEC_PER_SEC);
  return TRUE;
}

gboolean
nc_region_node_remotes_cover (NcRegionNode *n, guint64 index, const char **lagging, guint64 *lagging_at)
{
  for (guint i = 0; i < n->shippers->len; i++)
    {
      NcRegionShipper *s = n->shippers->pdata[i];
      if (s->acked < index)
        {
          if (lagging)
            *lagging = s->region;
          if (lagging_at)
            *lagging_at = s->acked;
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
nc_region_node_semi_sync (const NcRegionNode *n)
{
  return n->semi_sync;
}

gboolean
nc_region_node_semi_sync_degraded (const NcRegionNode *n)
{
  return n->degraded;
}

gboolean
nc_region_node_accepts_writes (const NcRegionNode *n)
{
  return n->leader && nc_region_log_is_primary (n->log);
}

const char *
nc_region_node_writer_bolt (const NcRegionNode *n)
{
  const NcRegionEpoch *e = nc_region_log_epoch (n->log);
  if (e->epoch == 0)
    return NULL;
  if (g_strcmp0 (e->primary, n->self) == 0)
    return local_leader_bolt (n);
  return g_hash_table_lookup (n->remote_bolt, e->primary);
}

gboolean
nc_region_node_lag (NcRegionNode *n, const char *region, guint64 *entries, double *seconds)
{
  NcRegionShipper *s = shipper_for (n, region);
  if (s == NULL)
    return FALSE;
  guint64 commit = HOST (n, commit_index);
  *seconds = 0;
  *entries = 0;
  /* Entries of this region not yet committed there, and how old the oldest
   * of them is (its HLC wall time). */
  for (guint64 i = s->acked + 1; i <= commit && i <= s->acked + NC_REGION_SHIP_WINDOW * 16; i++)
    {
      g_autoptr (NcWriteSet) entry = HOST (n, entry_at, i, NULL);
      g_autoptr (NcWriteSet) out = entry ? nc_region_log_for_shipping (n->log, i, entry) : NULL;
      if (out == NULL)
        continue;
      if (*entries == 0)
        {
          guint64 ms = NC_HLC_PHYSICAL_MS (nc_writeset_hlc (out));
          guint64 now = HOST (n, wall_ms);
          *seconds = now > ms ? (now - ms) / 1000.0 : 0;
        }
      (*entries)++;
    }
  return TRUE;
}

char *
nc_region_node_status_json (NcRegionNode *n)
{
  const NcRegionEpoch *e = nc_region_log_epoch (n->log);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "region");
  json_builder_add_string_value (b, n->self);
  json_builder_set_member_name (b, "epoch");
  json_builder_add_int_value (b, (gint64) e->epoch);
  json_builder_set_member_name (b, "primary");
  if (e->primary)
    json_builder_add_string_value (b, e->primary);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "is_primary");
  json_builder_add_boolean_value (b, nc_region_log_is_primary (n->log));
  json_builder_set_member_name (b, "cross_region_mode");
  json_builder_add_string_value (b, n->semi_sync ? "semi_sync" : "async");
  json_builder_set_member_name (b, "semi_sync_degraded");
  json_builder_add_boolean_value (b, n->degraded);
  NcRegionResolver *r = nc_region_log_resolver (n->log);
  guint open = 0;
  for (guint i = 0; i < nc_region_resolver_n_conflicts (r); i++)
    if (nc_region_resolver_conflict (r, i)->status == NC_CONFLICT_OPEN)
      open++;
  json_builder_set_member_name (b, "conflict_strategy");
  json_builder_add_string_value (b, nc_conflict_strategy_name (nc_region_resolver_strategy (r)));
  json_builder_set_member_name (b, "conflicts");
  json_builder_add_int_value (b, nc_region_resolver_n_conflicts (r));
  json_builder_set_member_name (b, "open_conflicts");
  json_builder_add_int_value (b, open);
  json_builder_set_member_name (b, "remote_regions");
  json_builder_begin_array (b);
  for (guint i = 0; i < n->shippers->len; i++)
    {
      NcRegionShipper *s = n->shippers->pdata[i];
      guint64 lag_entries = 0;
      double lag_seconds = 0;
      nc_region_node_lag (n, s->region, &lag_entries, &lag_seconds);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "region");
      json_builder_add_string_value (b, s->region);
      json_builder_set_member_name (b, "address");
      json_builder_add_string_value (b, s->target);
      json_builder_set_member_name (b, "acknowledged_index");
      json_builder_add_int_value (b, (gint64) s->acked);
      json_builder_set_member_name (b, "applied_from_it");
      json_builder_add_int_value (b, (gint64) nc_region_resolver_applied (r, s->region));
      json_builder_set_member_name (b, "lag_entries");
      json_builder_add_int_value (b, (gint64) lag_entries);
      json_builder_set_member_name (b, "lag_seconds");
      json_builder_add_double_value (b, lag_seconds);
      json_builder_set_member_name (b, "catchup_snapshots_sent");
      json_builder_add_int_value (b, (gint64) u64_get (n->catchups, s->region));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

gboolean
nc_region_node_read_action (const NcRegionNode *n, const char *consistency, gboolean write,
                            NcReadConsistency *level, NcReadAction *action, GError **error)
{
  *level = n->default_level;
  if (consistency != NULL && !nc_read_consistency_parse (consistency, level, error))
    return FALSE;
  *action = nc_read_consistency_action (*level, write, nc_region_log_is_primary (n->log));
  return TRUE;
}

GBytes *
nc_region_node_save_state (NcRegionNode *n)
{
  return nc_region_log_save_state (n->log);
}

gboolean
nc_region_node_load_state (NcRegionNode *n, GBytes *data, guint64 *committed_index, GError **error)
{
  if (!nc_region_log_load_state (n->log, data, committed_index, error))
    return FALSE;
  const NcRegionEpoch *e = nc_region_log_epoch (n->log);
  if (e->epoch > 0)
    {
      g_autofree char *text = nc_region_epoch_format (e);
      g_autoptr (GError) save_error = NULL;
      if (!HOST (n, state_save, "region.epoch", text, &save_error))
        g_warning ("cannot persist region epoch %s: %s", text, save_error->message);
      n->highest_epoch_seen = MAX (n->highest_epoch_seen, e->epoch);
    }
  g_hash_table_remove_all (n->epoch_acked);
  n->epoch_sent_us = 0;
  return TRUE;
}
