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
