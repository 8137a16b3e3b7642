/* region-log.c — what a region's members do with its Raft log entries:
 * stamping local writes, resolving shipped ones before they are proposed,
 * following committed entries (resolver, epoch, clock) and picking what to
 * ship (docs/multi-region.md). No I/O: the Raft glue calls in. */
#define G_LOG_DOMAIN "nornicdb-region"

#include "region.h"

#include <string.h>

struct _NcRegionLog {
  char *self;
  NcConflictStrategy strategy;
  NcRegionEpoch epoch;          /* committed */
  NcRegionResolver *committed;
  NcRegionResolver *speculative; /* leader only; NULL otherwise */
  NcRegionEpoch spec_epoch;      /* epoch including proposed records */
  NcHlc clock;
  guint64 committed_index;
};

NcRegionLog *
nc_region_log_new (const char *self_region, NcConflictStrategy strategy)
{
  NcRegionLog *l = g_new0 (NcRegionLog, 1);
  l->self = g_strdup (self_region);
  l->strategy = strategy;
  l->committed = nc_region_resolver_new (strategy);
  nc_hlc_init (&l->clock, 0);
  return l;
}

void
nc_region_log_free (NcRegionLog *l)
{
  if (l == NULL)
    return;
  g_free (l->self);
  nc_region_epoch_clear (&l->epoch);
  nc_region_epoch_clear (&l->spec_epoch);
  nc_region_resolver_free (l->committed);
  nc_region_resolver_free (l->speculative);
  g_free (l);
}

const char *
nc_region_log_region (const NcRegionLog *l)
{
  return l->self;
}

const NcRegionEpoch *
nc_region_log_epoch (const NcRegionLog *l)
{
  return &l->epoch;
}

gboolean
nc_region_log_is_primary (const NcRegionLog *l)
{
  return l->epoch.epoch > 0 && g_strcmp0 (l->epoch.primary, l->self) == 0;
}

NcRegionResolver *
nc_region_log_resolver (const NcRegionLog *l)
{
  return l->committed;
}

guint64
nc_region_log_committed_index (const NcRegionLog *l)
{
  return l->committed_index;
}

static NcRegionResolver *
resolver_clone (const NcRegionResolver *r)
{
  g_autoptr (GBytes) b = nc_region_resolver_save (r);
  /* Our own bytes: loading cannot fail short of memory corruption. */
  NcRegionResolver *copy = nc_region_resolver_load (b, NULL);
  g_assert (copy != NULL);
  return copy;
}

void
nc_region_log_leader_sync (NcRegionLog *l)
{
  g_clear_pointer (&l->speculative, nc_region_resolver_free);
  l->speculative = resolver_clone (l->committed);
  nc_region_epoch_clear (&l->spec_epoch);
  l->spec_epoch.epoch = l->epoch.epoch;
  l->spec_epoch.primary = g_strdup (l->epoch.primary);
}

/* The epoch record in `entry`, if any. */
static gboolean
find_epoch (const NcWriteSet *entry, NcRegionEpoch *out)
{
  for (guint i = 0; i < nc_writeset_len (entry); i++)
    {
      const NcEffect *e = nc_writeset_get (entry, i);
      if (e->kind == NC_EFFECT_META && g_strcmp0 (e->name, NC_REGION_META_EPOCH) == 0 &&
          e->value.type == NC_VALUE_STRING)
        return nc_region_epoch_parse (nc_value_str (&e->value), out, NULL);
    }
  return FALSE;
}

/* The write-set the resolver must see for a log entry: the raw shipped
 * write-set of a remote entry, or the entry itself with its own index filled
 * in. NULL when the entry carries no stamp. (transfer full) */
static NcWriteSet *
resolver_input (const NcRegionLog *l, guint64 index, const NcWriteSet *entry, GError **error)
{
  NcRegionOrigin o = { 0 };
  g_autoptr (GError) local = NULL;
  if (!nc_region_origin_read (entry, &o, &local))
    {
      if (local)
        g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  for (guint i = 1; i < nc_writeset_len (entry); i++)
    {
      const NcEffect *e = nc_writeset_get (entry, i);
      if (e->kind == NC_EFFECT_META && g_strcmp0 (e->name, NC_REGION_META_RAW) == 0)
        {
          nc_region_origin_clear (&o);
          if (e->value.type != NC_VALUE_BYTES)
            {
              g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "malformed %s record", NC_REGION_META_RAW);
              return NULL;
            }
          return nc_writeset_decode (e->value.u.bytes->data, e->value.u.bytes->len, error);
        }
    }
  if (g_strcmp0 (o.region, l->self) == 0 && o.index == 0)
    o.index = index;
  NcWriteSet *out = nc_region_stamp (entry, &o);
  nc_region_origin_clear (&o);
  return out;
}

NcWriteSet *
nc_region_log_stamp_local (NcRegionLog *l, const NcWriteSet *ws, guint64 wall_ms, GError **error)
{
  const NcRegionEpoch *e = l->speculative ? &l->spec_epoch : &l->epoch;
  if (e->epoch == 0 || g_strcmp0 (e->primary, l->self) != 0)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE,
                   "region %s is not the primary write region (primary: %s)", l->self,
                   e->primary ? e->primary : "unknown");
      return NULL;
    }
  NcRegionOrigin o = { .region = l->self, .index = 0, .epoch = e->epoch };
  o.hlc = nc_hlc_now (&l->clock, wall_ms);
  /* Everything before this write in the log has been seen by it. */
  nc_region_resolver_fill_seen (l->speculative ? l->speculative : l->committed, &o);
  NcWriteSet *out = nc_region_stamp (ws, &o);
  g_clear_pointer (&o.seen, g_hash_table_unref);
  return out;
}

/* Runs one log entry through `r` (in log order); updates `epoch`. */
static gboolean
process (NcRegionLog *l, NcRegionResolver *r, NcRegionEpoch *epoch, guint64 index,
         const NcWriteSet *entry, gboolean *epoch_changed, GError **error)
{
  *epoch_changed = FALSE;
  NcRegionEpoch rec = { 0 };
  if (find_epoch (entry, &rec))
    {
      gboolean ok = nc_region_epoch_merge (epoch, &rec, epoch_changed, error);
      nc_region_epoch_clear (&rec);
      return ok;
    }
  g_autoptr (GError) local = NULL;
  g_autoptr (NcWriteSet) input = resolver_input (l, index, entry, &local);
  if (input == NULL)
    {
      if (local == NULL)
        return TRUE;  /* not a region record (e.g. membership) */
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  gboolean dup;
  g_autoptr (NcWriteSet) out = nc_region_resolve (r, input, &dup, error);
  if (out == NULL)
    return FALSE;
  nc_hlc_observe (&l->clock, nc_writeset_hlc (input), 0);
  return TRUE;
}

void
nc_region_log_proposed (NcRegionLog *l, guint64 index, const NcWriteSet *entry)
{
  if (l->speculative == NULL)
    return;
  gboolean changed;
  g_autoptr (GError) error = NULL;
  if (!process (l, l->speculative, &l->spec_epoch, index, entry, &changed, &error))
    g_warning ("speculative region state at %" G_GUINT64_FORMAT ": %s", index, error->message);
}

NcWriteSet *
nc_region_log_prepare_remote (NcRegionLog *l, const NcWriteSet *shipped, gboolean *duplicate, GError **error)
{
  *duplicate = FALSE;
  if (l->speculative == NULL)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE, "not the leader of region %s", l->self);
      return NULL;
    }
  NcRegionOrigin o = { 0 };
  g_autoptr (GError) local = NULL;
  if (!nc_region_origin_read (shipped, &o, &local) || o.index == 0 || g_strcmp0 (o.region, l->self) == 0)
    {
      nc_region_origin_clear (&o);
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "shipped write-set has no valid remote origin stamp");
      return NULL;
    }
  g_autoptr (NcWriteSet) filtered = nc_region_resolve (l->speculative, shipped, duplicate, error);
  if (filtered == NULL || *duplicate)
    {
      nc_region_origin_clear (&o);
      return NULL;
    }
  nc_hlc_observe (&l->clock, o.hlc, 0);
  /* [stamp, raw, filtered effects...]: the stamp first (origin_read), the
   * raw record so every member re-runs the same resolution on commit. */
  g_autoptr (NcWriteSet) body = nc_writeset_new ();
  g_autoptr (GBytes) raw = nc_writeset_encode (shipped);
  gsize raw_len;
  const guint8 *raw_data = g_bytes_get_data (raw, &raw_len);
  NcEffect meta = { .kind = NC_EFFECT_META, .name = (char *) NC_REGION_META_RAW,
                    .value = nc_value_bytes (raw_data, raw_len) };
  nc_writeset_append (body, &meta);
  nc_value_clear (&meta.value);
  for (guint i = 1; i < nc_writeset_len (filtered); i++)
    nc_writeset_append (body, nc_writeset_get (filtered, i));
  NcWriteSet *out = nc_region_stamp (body, &o);
  nc_region_origin_clear (&o);
  return out;
}

NcWriteSet *
nc_region_log_prepare_epoch (const NcRegionLog *l, const NcRegionEpoch *epoch)
{
  (void) l;
  NcWriteSet *ws = nc_writeset_new ();
  g_autofree char *text = nc_region_epoch_format (epoch);
  NcEffect e = { .kind = NC_EFFECT_META, .name = (char *) NC_REGION_META_EPOCH, .value = nc_value_string (text) };
  nc_writeset_append (ws, &e);
  nc_value_clear (&e.value);
  return ws;
}

gboolean
nc_region_log_committed (NcRegionLog *l, guint64 index, const NcWriteSet *entry, gboolean *epoch_changed,
                         GError **error)
{
  if (index <= l->committed_index)
    {
      *epoch_changed = FALSE;
      return TRUE;  /* replayed after a restart from an older saved state */
    }
  l->committed_index = index;
  return process (l, l->committed, &l->epoch, index, entry, epoch_changed, error);
}

NcWriteSet *
nc_region_log_for_shipping (const NcRegionLog *l, guint64 index, const NcWriteSet *entry)
{
  NcRegionOrigin o = { 0 };
  if (!nc_region_origin_read (entry, &o, NULL) || g_strcmp0 (o.region, l->self) != 0)
    {
      nc_region_origin_clear (&o);
      return NULL;
    }
  if (o.index == 0)
    o.index = index;
  NcWriteSet *out = nc_region_stamp (entry, &o);
  nc_region_origin_clear (&o);
  return out;
}

guint64
nc_region_log_have (const NcRegionLog *l, const char *region)
{
  guint64 c = nc_region_resolver_applied (l->committed, region);
  guint64 s = l->speculative ? nc_region_resolver_applied (l->speculative, region) : 0;
  return MAX (c, s);
}

void
nc_region_log_restore_epoch (NcRegionLog *l, const NcRegionEpoch *e)
{
  gboolean changed;
  nc_region_epoch_merge (&l->epoch, e, &changed, NULL);
}

/* ---- whole state next to a snapshot ------------------------------------------------
 *
 * "NRLS" | u32 version (1) | u64 committed index | u64 HLC floor | u64 epoch |
 * u32 primary length | primary | resolver state (nc_region_resolver_save).
 * Little-endian. The committed index says which log entries the state
 * already covers: the glue replays only the entries after it. */
#define LOG_STATE_MAGIC "NRLS"
#define LOG_STATE_VERSION 1

static void
put_le64 (GByteArray *out, guint64 v)
{
  guint64 le = GUINT64_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &le, 8);
}

static void
put_le32 (GByteArray *out, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &le, 4);
}

GBytes *
nc_region_log_save_state (const NcRegionLog *l)
{
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, (const guint8 *) LOG_STATE_MAGIC, 4);
  put_le32 (out, LOG_STATE_VERSION);
  put_le64 (out, l->committed_index);
  put_le64 (out, l->clock.last);
  put_le64 (out, l->epoch.epoch);
  gsize plen = l->epoch.primary ? strlen (l->epoch.primary) : 0;
  put_le32 (out, (guint32) plen);
  if (plen)
    g_byte_array_append (out, (const guint8 *) l->epoch.primary, plen);
  g_autoptr (GBytes) resolver = nc_region_resolver_save (l->committed);
  gsize rlen;
  const guint8 *rd = g_bytes_get_data (resolver, &rlen);
  g_byte_array_append (out, rd, rlen);
  return g_byte_array_free_to_bytes (out);
}

static guint64
get_le64 (const guint8 *p)
{
  guint64 v;
  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

gboolean
nc_region_log_load_state (NcRegionLog *l, GBytes *data, guint64 *committed_index, GError **error)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (data, &len);
  guint32 version = 0, plen = 0;
  if (len >= 8)
    {
      memcpy (&version, d + 4, 4);
      version = GUINT32_FROM_LE (version);
    }
  if (len < 36 || memcmp (d, LOG_STATE_MAGIC, 4) != 0 || version != LOG_STATE_VERSION)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "not a region state (or an unknown version)");
      return FALSE;
    }
  guint64 index = get_le64 (d + 8);
  guint64 hlc = get_le64 (d + 16);
  guint64 epoch = get_le64 (d + 24);
  memcpy (&plen, d + 32, 4);
  plen = GUINT32_FROM_LE (plen);
  if (plen > len - 36)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "truncated region state");
      return FALSE;
    }
  if (epoch > 0 && plen == 0)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                   "region state names no primary for epoch %" G_GUINT64_FORMAT, epoch);
      return FALSE;
    }
  g_autoptr (GBytes) rest = g_bytes_new_from_bytes (data, 36 + plen, len - 36 - plen);
  NcRegionResolver *r = nc_region_resolver_load (rest, error);
  if (r == NULL)
    return FALSE;
  if (nc_region_resolver_strategy (r) != l->strategy)
    {
      /* The configuration decides conflicts from now on; recorded ones keep
       * the strategy they were decided by. */
      g_message ("region state was saved with conflict strategy %s; new conflicts use %s",
                 nc_conflict_strategy_name (nc_region_resolver_strategy (r)), nc_conflict_strategy_name (l->strategy));
      nc_region_resolver_set_strategy (r, l->strategy);
    }
  nc_region_resolver_free (l->committed);
  l->committed = r;
  l->committed_index = index;
  /* An epoch this node already knows to be newer (persisted on apply, or
   * restored at start-up) is kept: epochs only rise. */
  if (epoch > l->epoch.epoch)
    {
      nc_region_epoch_clear (&l->epoch);
      l->epoch.epoch = epoch;
      l->epoch.primary = plen ? g_strndup ((const char *) d + 36, plen) : g_strdup ("");
    }
  l->clock.last = MAX (l->clock.last, hlc);
  /* A leader's speculative state ran ahead of the old committed one; the
   * caller re-syncs it (nc_region_log_leader_sync). */
  if (l->speculative)
    nc_region_log_leader_sync (l);
  if (committed_index)
    *committed_index = index;
  return TRUE;
}

NcWriteSet *
nc_region_log_prepare_catchup (NcRegionLog *l, const NcRegionOrigin *origin, const NcWriteSet *target,
                               const NcWriteSet *marks, gboolean *duplicate, GError **error)
{
  *duplicate = FALSE;
  if (l->speculative == NULL)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE, "not the leader of region %s", l->self);
      return NULL;
    }
  guint64 own = nc_region_resolver_applied (l->speculative, l->self);
  guint64 included = nc_region_origin_seen (origin, l->self);
  if (own > included)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE,
                   "region %s has its own writes up to %" G_GUINT64_FORMAT " but the snapshot of %s includes them only "
                   "up to %" G_GUINT64_FORMAT "; catching up once they reached %s and it took a newer snapshot",
                   l->self, own, origin->region, included, origin->region);
      return NULL;
    }
  g_autoptr (NcWriteSet) diff = nc_region_resolver_diff (l->speculative, target);
  for (guint i = 0; marks && i < nc_writeset_len (marks); i++)
    {
      const NcEffect *e = nc_writeset_get (marks, i);
      if (e->kind == NC_EFFECT_META && g_strcmp0 (e->name, NC_REGION_META_RESOLVED) == 0)
        nc_writeset_append (diff, e);
    }
  g_autoptr (NcWriteSet) stamped = nc_region_stamp (diff, origin);
  return nc_region_log_prepare_remote (l, stamped, duplicate, error);
}
