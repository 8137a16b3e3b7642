/* region-resolve.c — origin stamps, the per-cell version table and conflict
 * resolution between regions (docs/multi-region.md, "Conflicts").
 *
 * Runs on every member of a region over committed entries in log order, so
 * it must be deterministic: no clocks, no randomness, no hash-table order in
 * anything that reaches the output. */
#define G_LOG_DOMAIN "nornicdb-region"

#include "region.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* ---- origin stamp ------------------------------------------------------------ */

void
nc_region_origin_clear (NcRegionOrigin *o)
{
  g_clear_pointer (&o->region, g_free);
  g_clear_pointer (&o->seen, g_hash_table_unref);
  o->index = o->epoch = o->hlc = 0;
}

static GHashTable *
seen_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

guint64
nc_region_origin_seen (const NcRegionOrigin *o, const char *region)
{
  const guint64 *v = o->seen ? g_hash_table_lookup (o->seen, region) : NULL;
  return v ? *v : 0;
}

void
nc_region_origin_set_seen (NcRegionOrigin *o, const char *region, guint64 index)
{
  if (o->seen == NULL)
    o->seen = seen_new ();
  g_hash_table_insert (o->seen, g_strdup (region), g_memdup2 (&index, sizeof index));
}

void
nc_region_origin_copy (NcRegionOrigin *dst, const NcRegionOrigin *src)
{
  dst->region = g_strdup (src->region);
  dst->index = src->index;
  dst->epoch = src->epoch;
  dst->hlc = src->hlc;
  dst->seen = NULL;
  if (src->seen)
    {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, src->seen);
      while (g_hash_table_iter_next (&it, &k, &v))
        nc_region_origin_set_seen (dst, k, *(guint64 *) v);
    }
}

static int
cmp_str_ptr (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Sorted keys so the encoding is the same on every node. (transfer container) */
static GPtrArray *
sorted_keys (GHashTable *h)
{
  GPtrArray *keys = g_ptr_array_new ();
  if (h)
    {
      GHashTableIter it;
      gpointer k;
      g_hash_table_iter_init (&it, h);
      while (g_hash_table_iter_next (&it, &k, NULL))
        g_ptr_array_add (keys, k);
    }
  g_ptr_array_sort (keys, cmp_str_ptr);
  return keys;
}

static NcValue
origin_to_value (const NcRegionOrigin *o)
{
  g_autoptr (GPtrArray) keys = sorted_keys (o->seen);
  NcMap *seen = nc_map_new (keys->len);
  for (guint i = 0; i < keys->len; i++)
    nc_map_append (seen, keys->pdata[i], nc_value_int ((gint64) nc_region_origin_seen (o, keys->pdata[i])));
  NcMap *m = nc_map_new (5);
  nc_map_append (m, "region", nc_value_string (o->region));
  nc_map_append (m, "index", nc_value_int ((gint64) o->index));
  nc_map_append (m, "epoch", nc_value_int ((gint64) o->epoch));
  nc_map_append (m, "hlc", nc_value_int ((gint64) o->hlc));
  nc_map_append (m, "seen", nc_value_map_take (seen));
  return nc_value_map_take (m);
}

static gboolean
map_get_u64 (const NcMap *m, const char *key, guint64 *out)
{
  const NcValue *v = nc_map_get (m, key);
  if (v == NULL || v->type != NC_VALUE_INT || v->u.i < 0)
    return FALSE;
  *out = (guint64) v->u.i;
  return TRUE;
}

NcWriteSet *
nc_region_stamp (const NcWriteSet *ws, const NcRegionOrigin *origin)
{
  NcWriteSet *out = nc_writeset_new ();
  NcEffect meta = { .kind = NC_EFFECT_META, .name = (char *) NC_REGION_META_ORIGIN };
  meta.value = origin_to_value (origin);
  nc_writeset_append (out, &meta);
  nc_value_clear (&meta.value);
  for (guint i = 0; i < nc_writeset_len (ws); i++)
    {
      const NcEffect *e = nc_writeset_get (ws, i);
      if (e->kind == NC_EFFECT_META && g_strcmp0 (e->name, NC_REGION_META_ORIGIN) == 0)
        continue;
      nc_writeset_append (out, e);
    }
  nc_writeset_set_origin (out, origin->hlc, origin->region);
  return out;
}

gboolean
nc_region_origin_read (const NcWriteSet *ws, NcRegionOrigin *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (nc_writeset_len (ws) == 0)
    return FALSE;
  const NcEffect *e = nc_writeset_get (ws, 0);
  if (e->kind != NC_EFFECT_META || g_strcmp0 (e->name, NC_REGION_META_ORIGIN) != 0)
    return FALSE;
  const NcMap *m = e->value.type == NC_VALUE_MAP ? e->value.u.map : NULL;
  const NcValue *region = m ? nc_map_get (m, "region") : NULL;
  const NcValue *seen = m ? nc_map_get (m, "seen") : NULL;
  if (m == NULL || region == NULL || region->type != NC_VALUE_STRING ||
      !map_get_u64 (m, "index", &out->index) || !map_get_u64 (m, "epoch", &out->epoch) ||
      !map_get_u64 (m, "hlc", &out->hlc) || (seen && seen->type != NC_VALUE_MAP))
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "malformed region origin stamp");
      return FALSE;
    }
  out->region = g_strdup (nc_value_str (region));
  if (seen)
    for (guint32 i = 0; i < seen->u.map->len; i++)
      {
        const NcMapEntry *me = &seen->u.map->entries[i];
        if (me->value.type != NC_VALUE_INT || me->value.u.i < 0)
          {
            nc_region_origin_clear (out);
            g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "malformed region origin stamp");
            return FALSE;
          }
        nc_region_origin_set_seen (out, me->key->data, (guint64) me->value.u.i);
      }
  return TRUE;
}

/* ---- the version table --------------------------------------------------------- */

typedef struct {
  NcRegionVersion v;
  NcValue value;   /* null = removed / deleted */
} Cell;

typedef struct {
  Cell *exists;        /* NULL when the entity predates tracking */
  GHashTable *cells;   /* "prop/<k>" | "label/<l>" -> Cell* */
} Entity;

struct _NcRegionResolver {
  NcConflictStrategy strategy;
  GHashTable *entities;   /* "node/<id>" | "rel/<id>" -> Entity* */
  GHashTable *applied;    /* region -> guint64* */
  GPtrArray *conflicts;   /* NcRegionConflict* in detection order */
  GHashTable *by_id;      /* id -> NcRegionConflict* (borrowed) */
};

static void
version_clear (NcRegionVersion *v)
{
  g_clear_pointer (&v->region, g_free);
}

static void
version_copy (NcRegionVersion *dst, const NcRegionVersion *src)
{
  *dst = *src;
  dst->region = g_strdup (src->region);
}

static void
cell_free (Cell *c)
{
  if (c == NULL)
    return;
  version_clear (&c->v);
  nc_value_clear (&c->value);
  g_free (c);
}

static void
entity_free (Entity *e)
{
  cell_free (e->exists);
  g_hash_table_unref (e->cells);
  g_free (e);
}

static void
conflict_free (NcRegionConflict *c)
{
  g_free (c->id);
  g_free (c->cell);
  g_free (c->entity);
  g_free (c->key);
  version_clear (&c->kept);
  version_clear (&c->rejected);
  nc_value_clear (&c->kept_value);
  nc_value_clear (&c->rejected_value);
  g_free (c->resolution);
  g_free (c);
}

NcRegionResolver *
nc_region_resolver_new (NcConflictStrategy strategy)
{
  NcRegionResolver *r = g_new0 (NcRegionResolver, 1);
  r->strategy = strategy;
  r->entities = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) entity_free);
  r->applied = seen_new ();
  r->conflicts = g_ptr_array_new_with_free_func ((GDestroyNotify) conflict_free);
  r->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  return r;
}

void
nc_region_resolver_free (NcRegionResolver *r)
{
  if (r == NULL)
    return;
  g_hash_table_unref (r->entities);
  g_hash_table_unref (r->applied);
  g_hash_table_unref (r->by_id);
  g_ptr_array_unref (r->conflicts);
  g_free (r);
}

NcConflictStrategy
nc_region_resolver_strategy (const NcRegionResolver *r)
{
  return r->strategy;
}

void
nc_region_resolver_set_strategy (NcRegionResolver *r, NcConflictStrategy strategy)
{
  r->strategy = strategy;
}

guint64
nc_region_resolver_applied (const NcRegionResolver *r, const char *region)
{
  const guint64 *v = g_hash_table_lookup (r->applied, region);
  return v ? *v : 0;
}

void
nc_region_resolver_fill_seen (const NcRegionResolver *r, NcRegionOrigin *o)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, r->applied);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (g_strcmp0 (k, o->region) != 0)
      nc_region_origin_set_seen (o, k, *(guint64 *) v);
}

static void
set_applied (NcRegionResolver *r, const char *region, guint64 index)
{
  g_hash_table_insert (r->applied, g_strdup (region), g_memdup2 (&index, sizeof index));
}

static Entity *
entity_get (NcRegionResolver *r, const char *key, gboolean create)
{
  Entity *e = g_hash_table_lookup (r->entities, key);
  if (e == NULL && create)
    {
      e = g_new0 (Entity, 1);
      e->cells = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) cell_free);
      g_hash_table_insert (r->entities, g_strdup (key), e);
    }
  return e;
}

/* Splits "node/5/prop/x" into entity "node/5" and sub-cell "prop/x"; a bare
 * entity key is its existence cell (sub = NULL). */
static Cell *
cell_lookup (const NcRegionResolver *r, const char *cell)
{
  const char *slash = strchr (cell, '/');
  const char *second = slash ? strchr (slash + 1, '/') : NULL;
  g_autofree char *ekey = second ? g_strndup (cell, second - cell) : g_strdup (cell);
  Entity *e = g_hash_table_lookup (r->entities, ekey);
  if (e == NULL)
    return NULL;
  return second ? g_hash_table_lookup (e->cells, second + 1) : e->exists;
}

const NcValue *
nc_region_resolver_cell_value (const NcRegionResolver *r, const char *cell)
{
  Cell *c = cell_lookup (r, cell);
  return c ? &c->value : NULL;
}

const NcRegionVersion *
nc_region_resolver_cell_version (const NcRegionResolver *r, const char *cell)
{
  Cell *c = cell_lookup (r, cell);
  return c ? &c->v : NULL;
}

guint
nc_region_resolver_n_conflicts (const NcRegionResolver *r)
{
  return r->conflicts->len;
}

const NcRegionConflict *
nc_region_resolver_conflict (const NcRegionResolver *r, guint i)
{
  return i < r->conflicts->len ? r->conflicts->pdata[i] : NULL;
}

const NcRegionConflict *
nc_region_resolver_find_conflict (const NcRegionResolver *r, const char *id)
{
  return g_hash_table_lookup (r->by_id, id);
}

/* ---- deciding ----------------------------------------------------------------------- */

/* Did the write stamped `o` see version `v`? Same-region writes are ordered
 * by that region's log, so they always did. */
static gboolean
saw (const NcRegionOrigin *o, const NcRegionVersion *v)
{
  if (g_strcmp0 (o->region, v->region) == 0)
    return TRUE;
  return nc_region_origin_seen (o, v->region) >= v->index;
}

/* >0 when a beats b in the strategy's total order. */
static int
strategy_order (NcConflictStrategy s, const NcRegionVersion *a, const NcRegionVersion *b)
{
  if (s == NC_CONFLICT_MANUAL && a->epoch != b->epoch)
    return a->epoch > b->epoch ? 1 : -1;
  return nc_hlc_compare (a->hlc, a->region, b->hlc, b->region);
}

static void
version_from_origin (NcRegionVersion *v, const NcRegionOrigin *o)
{
  v->region = g_strdup (o->region);
  v->index = o->index;
  v->epoch = o->epoch;
  v->hlc = o->hlc;
}

/* The same conflict gets the same id in every region: it names the cell and
 * the two writes, ordered by region so detection order does not matter. */
static char *
conflict_id (const char *cell, const NcRegionVersion *a, const NcRegionVersion *b)
{
  if (strcmp (a->region, b->region) > 0 || (strcmp (a->region, b->region) == 0 && a->index > b->index))
    {
      const NcRegionVersion *t = a;
      a = b;
      b = t;
    }
  g_autofree char *text = g_strdup_printf ("%s|%s:%" G_GUINT64_FORMAT "|%s:%" G_GUINT64_FORMAT,
                                           cell, a->region, a->index, b->region, b->index);
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
  return g_strndup (sum, 16);
}

static void
record_conflict (NcRegionResolver *r, const char *entity_key, const char *sub,
                 const NcRegionVersion *kept, const NcValue *kept_value,
                 const NcRegionVersion *rejected, const NcValue *rejected_value)
{
  g_autofree char *cell = sub ? g_strdup_printf ("%s/%s", entity_key, sub) : g_strdup (entity_key);
  g_autofree char *id = conflict_id (cell, kept, rejected);
  if (g_hash_table_contains (r->by_id, id))
    return;
  NcRegionConflict *c = g_new0 (NcRegionConflict, 1);
  c->id = g_steal_pointer (&id);
  c->cell = g_steal_pointer (&cell);
  gboolean is_node = g_str_has_prefix (entity_key, "node/");
  c->entity = g_strdup (is_node ? "node" : "relationship");
  c->entity_id = g_ascii_strtoll (strchr (entity_key, '/') + 1, NULL, 10);
  if (sub == NULL)
    c->key = g_strdup ("exists");
  else if (g_str_has_prefix (sub, "prop/"))
    c->key = g_strdup (sub + 5);
  else
    c->key = g_strdup_printf ("label:%s", sub + 6);
  c->strategy = r->strategy;
  c->status = r->strategy == NC_CONFLICT_MANUAL ? NC_CONFLICT_OPEN : NC_CONFLICT_RESOLVED;
  version_copy (&c->kept, kept);
  version_copy (&c->rejected, rejected);
  c->kept_value = kept_value ? nc_value_copy (kept_value) : nc_value_null ();
  c->rejected_value = rejected_value ? nc_value_copy (rejected_value) : nc_value_null ();
  g_message ("region conflict %s on %s: kept %s:%" G_GUINT64_FORMAT ", rejected %s:%" G_GUINT64_FORMAT " (%s)",
             c->id, c->cell, kept->region, kept->index, rejected->region, rejected->index,
             nc_conflict_strategy_name (r->strategy));
  g_hash_table_insert (r->by_id, c->id, c);
  g_ptr_array_add (r->conflicts, c);
}

/* Decides one write to a cell; TRUE when the write is applied (and the cell
 * now holds it). `slot` is where the cell lives (NULL content = untracked). */
static gboolean
decide (NcRegionResolver *r, const char *entity_key, const char *sub, Cell **slot,
        const NcRegionOrigin *o, const NcValue *value)
{
  NcRegionVersion w = { 0 };
  version_from_origin (&w, o);
  Cell *cur = *slot;
  gboolean apply = TRUE;
  if (cur != NULL && !saw (o, &cur->v))
    {
      if (strategy_order (r->strategy, &w, &cur->v) > 0)
        record_conflict (r, entity_key, sub, &w, value, &cur->v, &cur->value);
      else
        {
          record_conflict (r, entity_key, sub, &cur->v, &cur->value, &w, value);
          apply = FALSE;
        }
    }
  if (apply)
    {
      if (cur == NULL)
        cur = *slot = g_new0 (Cell, 1);
      version_clear (&cur->v);
      nc_value_clear (&cur->value);
      cur->v = w;
      cur->value = value ? nc_value_copy (value) : nc_value_null ();
    }
  else
    version_clear (&w);
  return apply;
}

/* A sub-cell (property or label) write: the Cell* lives in the entity's
 * table. */
static gboolean
decide_sub (NcRegionResolver *r, const char *entity_key, const char *sub,
            const NcRegionOrigin *o, const NcValue *value)
{
  Entity *e = entity_get (r, entity_key, TRUE);
  /* A write to an entity that a concurrent delete removed: remove wins
   * (resurrecting a node whose relationships are gone cannot be done
   * consistently), and the lost write is recorded. */
  if (e->exists && nc_value_is_null (&e->exists->value))
    {
      if (!saw (o, &e->exists->v))
        {
          NcRegionVersion w = { 0 };
          version_from_origin (&w, o);
          record_conflict (r, entity_key, sub, &e->exists->v, &e->exists->value, &w, value);
          version_clear (&w);
        }
      return FALSE;
    }
  Cell *cur = g_hash_table_lookup (e->cells, sub);
  Cell *slot = cur;
  gboolean apply = decide (r, entity_key, sub, &slot, o, value);
  if (slot != cur)
    g_hash_table_insert (e->cells, g_strdup (sub), slot);
  return apply;
}

static char *
entity_key_for (gboolean rel, gint64 id)
{
  return g_strdup_printf ("%s/%" G_GINT64_FORMAT, rel ? "rel" : "node", id);
}

/* CREATE_NODE / CREATE_REL: the existence cell, then each property and
 * label. Returns FALSE when the whole create lost to a concurrent create of
 * the same id (ids are allocated per region, so two regions can collide).
 * `*replace` is set when it won over one: the old entity must go first. */
static gboolean
resolve_create (NcRegionResolver *r, NcEffect *e, gboolean rel, const NcRegionOrigin *o,
                gboolean *replace)
{
  g_autofree char *ekey = entity_key_for (rel, e->id);
  Entity *ent = entity_get (r, ekey, TRUE);
  *replace = ent->exists && !nc_value_is_null (&ent->exists->value);
  NcValue yes = nc_value_bool (TRUE);
  /* The whole entity is the rejected value of an existence conflict. */
  NcValue whole = e->value.type == NC_VALUE_MAP ? nc_value_copy (&e->value) : nc_value_null ();
  Cell *slot = ent->exists;
  gboolean won;
  if (*replace && saw (o, &ent->exists->v))
    {
      /* Creating an id that the writer already saw existing cannot come
       * from a correct log; treat it as a collision decided by the order. */
      NcRegionVersion w = { 0 };
      version_from_origin (&w, o);
      won = strategy_order (r->strategy, &w, &ent->exists->v) > 0;
      if (won)
        record_conflict (r, ekey, NULL, &w, &whole, &ent->exists->v, &ent->exists->value);
      else
        record_conflict (r, ekey, NULL, &ent->exists->v, &ent->exists->value, &w, &whole);
      version_clear (&w);
      if (won)
        {
          version_clear (&slot->v);
          version_from_origin (&slot->v, o);
          nc_value_clear (&slot->value);
          slot->value = nc_value_bool (TRUE);
        }
    }
  else
    won = decide (r, ekey, NULL, &slot, o, *replace ? &whole : &yes);
  if (won && slot != NULL && slot->value.type != NC_VALUE_BOOL)
    {
      nc_value_clear (&slot->value);
      slot->value = nc_value_bool (TRUE);
    }
  ent->exists = slot;
  nc_value_clear (&whole);
  if (!won)
    {
      *replace = FALSE;
      return FALSE;
    }
  if (*replace)
    g_hash_table_remove_all (ent->cells);
  /* Every property and label of a won create is a write to its cell. */
  if (e->value.type == NC_VALUE_MAP)
    {
      const NcMap *props = e->value.u.map;
      NcMap *keep = nc_map_new (props->len);
      for (guint32 i = 0; i < props->len; i++)
        {
          g_autofree char *sub = g_strdup_printf ("prop/%s", props->entries[i].key->data);
          if (decide_sub (r, ekey, sub, o, &props->entries[i].value))
            nc_map_append (keep, props->entries[i].key->data, nc_value_copy (&props->entries[i].value));
        }
      nc_value_clear (&e->value);
      e->value = nc_value_map_take (keep);
    }
  if (e->labels)
    {
      g_autoptr (GStrvBuilder) keep = g_strv_builder_new ();
      for (guint i = 0; e->labels[i]; i++)
        {
          g_autofree char *sub = g_strdup_printf ("label/%s", e->labels[i]);
          if (decide_sub (r, ekey, sub, o, &yes))
            g_strv_builder_add (keep, e->labels[i]);
        }
      g_strfreev (e->labels);
      e->labels = g_strv_builder_end (keep);
    }
  return TRUE;
}

/* DELETE_*: the existence cell becomes a tombstone; every tracked cell of
 * the entity written concurrently with the delete is lost to it, and
 * recorded. */
static gboolean
resolve_delete (NcRegionResolver *r, gint64 id, gboolean rel, const NcRegionOrigin *o)
{
  g_autofree char *ekey = entity_key_for (rel, id);
  Entity *ent = entity_get (r, ekey, TRUE);
  NcValue null = nc_value_null ();
  if (ent->exists && nc_value_is_null (&ent->exists->value))
    return FALSE;  /* already deleted (by a concurrent delete): nothing to do */
  Cell *slot = ent->exists;
  if (!decide (r, ekey, NULL, &slot, o, &null))
    return FALSE;
  ent->exists = slot;
  g_autoptr (GPtrArray) subs = sorted_keys (ent->cells);
  for (guint i = 0; i < subs->len; i++)
    {
      Cell *c = g_hash_table_lookup (ent->cells, subs->pdata[i]);
      if (!saw (o, &c->v))
        record_conflict (r, ekey, subs->pdata[i], &ent->exists->v, &null, &c->v, &c->value);
    }
  g_hash_table_remove_all (ent->cells);
  return TRUE;
}

static void
mark_resolved (NcRegionResolver *r, const NcEffect *e)
{
  if (e->value.type != NC_VALUE_MAP)
    return;
  const NcValue *id = nc_map_get (e->value.u.map, "id");
  const NcValue *choice = nc_map_get (e->value.u.map, "choice");
  if (id == NULL || id->type != NC_VALUE_STRING)
    return;
  NcRegionConflict *c = g_hash_table_lookup (r->by_id, nc_value_str (id));
  if (c == NULL)
    return;
  c->status = NC_CONFLICT_RESOLVED;
  g_free (c->resolution);
  c->resolution = g_strdup (choice && choice->type == NC_VALUE_STRING ? nc_value_str (choice) : "value");
}

NcWriteSet *
nc_region_resolve (NcRegionResolver *r, const NcWriteSet *stamped, gboolean *duplicate, GError **error)
{
  *duplicate = FALSE;
  NcRegionOrigin o = { 0 };
  g_autoptr (GError) local = NULL;
  if (!nc_region_origin_read (stamped, &o, &local))
    {
      if (local)
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "write-set has no region origin stamp");
      return NULL;
    }
  g_autoptr (NcWriteSet) out = nc_writeset_new ();
  nc_writeset_set_origin (out, o.hlc, o.region);
  if (o.index <= nc_region_resolver_applied (r, o.region))
    {
      *duplicate = TRUE;
      nc_region_origin_clear (&o);
      return g_steal_pointer (&out);
    }
  set_applied (r, o.region, o.index);
  /* The origin applied everything it had seen; record that too, so a
   * region learns transitively how far each other region's writes reached. */
  nc_writeset_append (out, nc_writeset_get (stamped, 0));
  for (guint i = 1; i < nc_writeset_len (stamped); i++)
    {
      NcEffect e = *nc_writeset_get (stamped, i);
      gboolean keep = TRUE;
      g_autofree char *ekey = NULL;
      g_autofree char *sub = NULL;
      switch (e.kind)
        {
        case NC_EFFECT_CREATE_NODE:
        case NC_EFFECT_CREATE_REL:
          {
            /* Work on a copy: resolve_create filters props and labels. */
            NcEffect copy = e;
            copy.value = nc_value_copy (&e.value);
            copy.labels = g_strdupv (e.labels);
            gboolean replace = FALSE;
            gboolean rel = e.kind == NC_EFFECT_CREATE_REL;
            if (resolve_create (r, &copy, rel, &o, &replace))
              {
                if (replace)
                  {
                    NcEffect del = { .kind = rel ? NC_EFFECT_DELETE_REL : NC_EFFECT_DELETE_NODE, .id = e.id };
                    nc_writeset_append (out, &del);
                  }
                nc_writeset_append (out, &copy);
              }
            nc_value_clear (&copy.value);
            g_strfreev (copy.labels);
            keep = FALSE;
            break;
          }
        case NC_EFFECT_DELETE_NODE:
        case NC_EFFECT_DELETE_REL:
          keep = resolve_delete (r, e.id, e.kind == NC_EFFECT_DELETE_REL, &o);
          break;
        case NC_EFFECT_SET_NODE_PROP:
        case NC_EFFECT_SET_REL_PROP:
          ekey = entity_key_for (e.kind == NC_EFFECT_SET_REL_PROP, e.id);
          sub = g_strdup_printf ("prop/%s", e.name);
          keep = decide_sub (r, ekey, sub, &o, &e.value);
          break;
        case NC_EFFECT_ADD_LABEL:
        case NC_EFFECT_REMOVE_LABEL:
          {
            NcValue v = e.kind == NC_EFFECT_ADD_LABEL ? nc_value_bool (TRUE) : nc_value_null ();
            ekey = entity_key_for (FALSE, e.id);
            sub = g_strdup_printf ("label/%s", e.name);
            keep = decide_sub (r, ekey, sub, &o, &v);
            break;
          }
        case NC_EFFECT_META:
          if (g_strcmp0 (e.name, NC_REGION_META_RESOLVED) == 0)
            mark_resolved (r, &e);
          break;
        default:
          /* Schema and id-allocation effects are not per-cell data. */
          break;
        }
      if (keep)
        nc_writeset_append (out, &e);
    }
  nc_region_origin_clear (&o);
  return g_steal_pointer (&out);
}

/* ---- operator resolution ----------------------------------------------------------- */

NcWriteSet *
nc_region_resolution_writeset (const NcRegionResolver *r, const char *id, const char *choice,
                               const NcValue *value, GError **error)
{
  const NcRegionConflict *c = nc_region_resolver_find_conflict (r, id);
  if (c == NULL)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_NOT_FOUND, "no conflict with id \"%s\"", id);
      return NULL;
    }
  if (c->status != NC_CONFLICT_OPEN)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE, "conflict \"%s\" is already resolved", id);
      return NULL;
    }
  const NcValue *chosen;
  if (g_strcmp0 (choice, "kept") == 0)
    chosen = &c->kept_value;
  else if (g_strcmp0 (choice, "rejected") == 0)
    chosen = &c->rejected_value;
  else if (g_strcmp0 (choice, "value") == 0 && value != NULL)
    chosen = value;
  else
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                   "resolution must be \"kept\", \"rejected\" or \"value\" with a value");
      return NULL;
    }
  g_autoptr (NcWriteSet) ws = nc_writeset_new ();
  /* The cell of an entity that no longer exists cannot be written. */
  Cell *exists = NULL;
  {
    g_autofree char *ekey = entity_key_for (strcmp (c->entity, "relationship") == 0, c->entity_id);
    Entity *ent = g_hash_table_lookup (r->entities, ekey);
    exists = ent ? ent->exists : NULL;
  }
  gboolean deleted = exists && nc_value_is_null (&exists->value);
  if (strcmp (c->key, "exists") == 0 || deleted)
    {
      if (chosen != &c->kept_value)
        {
          g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE,
                       "conflict \"%s\" is about the existence of %s %" G_GINT64_FORMAT
                       "; it can only be acknowledged with \"kept\" (recreate the data with a query)",
                       id, c->entity, c->entity_id);
          return NULL;
        }
    }
  else if (g_str_has_prefix (c->key, "label:"))
    {
      NcEffect e = { .kind = nc_value_is_null (chosen) ? NC_EFFECT_REMOVE_LABEL : NC_EFFECT_ADD_LABEL,
                     .id = c->entity_id, .name = c->key + 6 };
      nc_writeset_append (ws, &e);
    }
  else
    {
      gboolean rel = strcmp (c->entity, "relationship") == 0;
      NcEffect e = { .kind = rel ? NC_EFFECT_SET_REL_PROP : NC_EFFECT_SET_NODE_PROP,
                     .id = c->entity_id, .name = c->key, .value = *chosen };
      nc_writeset_append (ws, &e);
    }
  NcMap *m = nc_map_new (2);
  nc_map_append (m, "id", nc_value_string (id));
  nc_map_append (m, "choice", nc_value_string (choice));
  NcEffect meta = { .kind = NC_EFFECT_META, .name = (char *) NC_REGION_META_RESOLVED, .value = nc_value_map_take (m) };
  nc_writeset_append (ws, &meta);
  nc_value_clear (&meta.value);
  return g_steal_pointer (&ws);
}

void
nc_region_resolver_append_resolutions (const NcRegionResolver *r, NcWriteSet *ws)
{
  for (guint i = 0; i < r->conflicts->len; i++)
    {
      const NcRegionConflict *c = r->conflicts->pdata[i];
      if (c->status != NC_CONFLICT_RESOLVED || c->resolution == NULL)
        continue;
      NcMap *m = nc_map_new (2);
      nc_map_append (m, "id", nc_value_string (c->id));
      nc_map_append (m, "choice", nc_value_string (c->resolution));
      NcEffect meta = { .kind = NC_EFFECT_META, .name = (char *) NC_REGION_META_RESOLVED, .value = nc_value_map_take (m) };
      nc_writeset_append (ws, &meta);
      nc_value_clear (&meta.value);
    }
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void
add_value (JsonBuilder *b, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NULL: json_builder_add_null_value (b); break;
    case NC_VALUE_BOOL: json_builder_add_boolean_value (b, v->u.b); break;
    case NC_VALUE_INT: json_builder_add_int_value (b, v->u.i); break;
    case NC_VALUE_FLOAT: json_builder_add_double_value (b, v->u.f); break;
    case NC_VALUE_STRING: json_builder_add_string_value (b, nc_value_str (v)); break;
    case NC_VALUE_MAP:
      json_builder_begin_object (b);
      for (guint32 i = 0; i < v->u.map->len; i++)
        {
          json_builder_set_member_name (b, v->u.map->entries[i].key->data);
          add_value (b, &v->u.map->entries[i].value);
        }
      json_builder_end_object (b);
      break;
    default:
      {
        /* Temporal, spatial and binary values are shown in Cypher's text
         * form; the exact value is in the write-set, not in this report. */
        g_autofree char *s = nc_value_to_debug_string (v);
        json_builder_add_string_value (b, s);
      }
    }
}

static void
add_version (JsonBuilder *b, const char *name, const NcRegionVersion *v, const NcValue *value)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "region");
  json_builder_add_string_value (b, v->region);
  json_builder_set_member_name (b, "index");
  json_builder_add_int_value (b, (gint64) v->index);
  json_builder_set_member_name (b, "epoch");
  json_builder_add_int_value (b, (gint64) v->epoch);
  json_builder_set_member_name (b, "hlc");
  json_builder_add_int_value (b, (gint64) v->hlc);
  json_builder_set_member_name (b, "value");
  add_value (b, value);
  json_builder_end_object (b);
}

char *
nc_region_resolver_conflicts_json (const NcRegionResolver *r, gboolean only_open)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  for (guint i = 0; i < r->conflicts->len; i++)
    {
      const NcRegionConflict *c = r->conflicts->pdata[i];
      if (only_open && c->status != NC_CONFLICT_OPEN)
        continue;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, c->id);
      json_builder_set_member_name (b, "entity");
      json_builder_add_string_value (b, c->entity);
      json_builder_set_member_name (b, "entity_id");
      json_builder_add_int_value (b, c->entity_id);
      json_builder_set_member_name (b, "key");
      json_builder_add_string_value (b, c->key);
      json_builder_set_member_name (b, "strategy");
      json_builder_add_string_value (b, nc_conflict_strategy_name (c->strategy));
      json_builder_set_member_name (b, "status");
      json_builder_add_string_value (b, c->status == NC_CONFLICT_OPEN ? "open" : "resolved");
      json_builder_set_member_name (b, "resolution");
      if (c->resolution)
        json_builder_add_string_value (b, c->resolution);
      else
        json_builder_add_null_value (b);
      add_version (b, "kept", &c->kept, &c->kept_value);
      add_version (b, "rejected", &c->rejected, &c->rejected_value);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* ---- persistence ------------------------------------------------------------------------
 *
 * Binary, little-endian, versioned; values use the write-set value codec.
 * Written by hand because the state is a handful of flat tables and the
 * value codec already exists (no library would know NcValue). */

#define RESOLVER_STATE_MAGIC "NCRS"
#define RESOLVER_STATE_VERSION 1

static void
put_u64 (GByteArray *out, guint64 v)
{
  guint64 le = GUINT64_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &le, sizeof le);
}

static void
put_str (GByteArray *out, const char *s)
{
  gsize n = s ? strlen (s) : 0;
  put_u64 (out, n);
  g_byte_array_append (out, (const guint8 *) (s ? s : ""), n);
}

static void
put_version (GByteArray *out, const NcRegionVersion *v)
{
  put_str (out, v->region);
  put_u64 (out, v->index);
  put_u64 (out, v->epoch);
  put_u64 (out, v->hlc);
}

static void
put_cell (GByteArray *out, const Cell *c)
{
  put_version (out, &c->v);
  nc_value_encode (out, &c->value);
}

GBytes *
nc_region_resolver_save (const NcRegionResolver *r)
{
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, (const guint8 *) RESOLVER_STATE_MAGIC, 4);
  put_u64 (out, RESOLVER_STATE_VERSION);
  put_u64 (out, r->strategy);
  g_autoptr (GPtrArray) regions = sorted_keys (r->applied);
  put_u64 (out, regions->len);
  for (guint i = 0; i < regions->len; i++)
    {
      put_str (out, regions->pdata[i]);
      put_u64 (out, nc_region_resolver_applied (r, regions->pdata[i]));
    }
  g_autoptr (GPtrArray) ekeys = sorted_keys (r->entities);
  put_u64 (out, ekeys->len);
  for (guint i = 0; i < ekeys->len; i++)
    {
      Entity *e = g_hash_table_lookup (r->entities, ekeys->pdata[i]);
      put_str (out, ekeys->pdata[i]);
      put_u64 (out, e->exists != NULL);
      if (e->exists)
        put_cell (out, e->exists);
      g_autoptr (GPtrArray) subs = sorted_keys (e->cells);
      put_u64 (out, subs->len);
      for (guint j = 0; j < subs->len; j++)
        {
          put_str (out, subs->pdata[j]);
          put_cell (out, g_hash_table_lookup (e->cells, subs->pdata[j]));
        }
    }
  put_u64 (out, r->conflicts->len);
  for (guint i = 0; i < r->conflicts->len; i++)
    {
      const NcRegionConflict *c = r->conflicts->pdata[i];
      put_str (out, c->id);
      put_str (out, c->cell);
      put_str (out, c->entity);
      put_u64 (out, (guint64) c->entity_id);
      put_str (out, c->key);
      put_u64 (out, c->strategy);
      put_u64 (out, c->status);
      put_version (out, &c->kept);
      nc_value_encode (out, &c->kept_value);
      put_version (out, &c->rejected);
      nc_value_encode (out, &c->rejected_value);
      put_str (out, c->resolution);
    }
  return g_byte_array_free_to_bytes (out);
}

typedef struct {
  const guint8 *data;
  gsize len;
  gsize pos;
} Reader;

static gboolean
get_u64 (Reader *rd, guint64 *v)
{
  if (rd->len - rd->pos < 8)
    return FALSE;
  guint64 le;
  memcpy (&le, rd->data + rd->pos, 8);
  rd->pos += 8;
  *v = GUINT64_FROM_LE (le);
  return TRUE;
}

/* NULL for an empty string when `empty_is_null`. */
static gboolean
get_str (Reader *rd, char **out, gboolean empty_is_null)
{
  guint64 n;
  if (!get_u64 (rd, &n) || n > rd->len - rd->pos)
    return FALSE;
  *out = (n == 0 && empty_is_null) ? NULL : g_strndup ((const char *) rd->data + rd->pos, n);
  rd->pos += n;
  return TRUE;
}

static gboolean
get_version (Reader *rd, NcRegionVersion *v)
{
  return get_str (rd, &v->region, FALSE) && get_u64 (rd, &v->index) &&
         get_u64 (rd, &v->epoch) && get_u64 (rd, &v->hlc);
}

static Cell *
get_cell (Reader *rd)
{
  Cell *c = g_new0 (Cell, 1);
  if (!get_version (rd, &c->v) || !nc_value_decode (rd->data, rd->len, &rd->pos, &c->value, NULL))
    {
      cell_free (c);
      return NULL;
    }
  return c;
}

static gboolean
load_body (Reader *rd, NcRegionResolver *r)
{
  guint64 n;
  if (!get_u64 (rd, &n))
    return FALSE;
  for (guint64 i = 0; i < n; i++)
    {
      g_autofree char *region = NULL;
      guint64 idx;
      if (!get_str (rd, &region, FALSE) || !get_u64 (rd, &idx))
        return FALSE;
      set_applied (r, region, idx);
    }
  if (!get_u64 (rd, &n))
    return FALSE;
  for (guint64 i = 0; i < n; i++)
    {
      g_autofree char *ekey = NULL;
      guint64 has_exists, n_cells;
      if (!get_str (rd, &ekey, FALSE) || !get_u64 (rd, &has_exists))
        return FALSE;
      Entity *e = entity_get (r, ekey, TRUE);
      if (has_exists && (e->exists = get_cell (rd)) == NULL)
        return FALSE;
      if (!get_u64 (rd, &n_cells))
        return FALSE;
      for (guint64 j = 0; j < n_cells; j++)
        {
          g_autofree char *sub = NULL;
          Cell *c;
          if (!get_str (rd, &sub, FALSE) || (c = get_cell (rd)) == NULL)
            return FALSE;
          g_hash_table_insert (e->cells, g_steal_pointer (&sub), c);
        }
    }
  if (!get_u64 (rd, &n))
    return FALSE;
  for (guint64 i = 0; i < n; i++)
    {
      NcRegionConflict *c = g_new0 (NcRegionConflict, 1);
      guint64 eid, cstrat, status;
      gboolean ok = get_str (rd, &c->id, FALSE) && get_str (rd, &c->cell, FALSE) &&
                    get_str (rd, &c->entity, FALSE) && get_u64 (rd, &eid) &&
                    get_str (rd, &c->key, FALSE) && get_u64 (rd, &cstrat) && get_u64 (rd, &status) &&
                    get_version (rd, &c->kept) &&
                    nc_value_decode (rd->data, rd->len, &rd->pos, &c->kept_value, NULL) &&
                    get_version (rd, &c->rejected) &&
                    nc_value_decode (rd->data, rd->len, &rd->pos, &c->rejected_value, NULL) &&
                    get_str (rd, &c->resolution, TRUE) && cstrat <= NC_CONFLICT_MANUAL &&
                    status <= NC_CONFLICT_RESOLVED && !g_hash_table_contains (r->by_id, c->id);
      if (!ok)
        {
          conflict_free (c);
          return FALSE;
        }
      c->entity_id = (gint64) eid;
      c->strategy = (NcConflictStrategy) cstrat;
      c->status = (NcConflictStatus) status;
      g_hash_table_insert (r->by_id, c->id, c);
      g_ptr_array_add (r->conflicts, c);
    }
  return rd->pos == rd->len;
}

NcRegionResolver *
nc_region_resolver_load (GBytes *data, GError **error)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (data, &len);
  Reader rd = { d, len, 4 };
  guint64 version = 0, strategy = 0;
  gboolean header_ok = len >= 4 && memcmp (d, RESOLVER_STATE_MAGIC, 4) == 0 && get_u64 (&rd, &version) &&
                       version == RESOLVER_STATE_VERSION && get_u64 (&rd, &strategy) &&
                       strategy <= NC_CONFLICT_MANUAL;
  g_autoptr (NcRegionResolver) r = header_ok ? nc_region_resolver_new ((NcConflictStrategy) strategy) : NULL;
  if (r == NULL || !load_body (&rd, r))
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "corrupt multi-region resolver state");
      return NULL;
    }
  return g_steal_pointer (&r);
}

/* ---- cross-region catch-up from a snapshot ------------------------------------------ */

guint64
nc_region_resolver_max_hlc (const NcRegionResolver *r, const char *region)
{
  guint64 max = 0;
  GHashTableIter it, jt;
  gpointer k, v;
  g_hash_table_iter_init (&it, r->entities);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      Entity *e = v;
      if (e->exists && g_strcmp0 (e->exists->v.region, region) == 0)
        max = MAX (max, e->exists->v.hlc);
      g_hash_table_iter_init (&jt, e->cells);
      gpointer ck, cv;
      while (g_hash_table_iter_next (&jt, &ck, &cv))
        if (g_strcmp0 (((Cell *) cv)->v.region, region) == 0)
          max = MAX (max, ((Cell *) cv)->v.hlc);
    }
  return max;
}

static guint32
le32_at (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

NcWriteSet *
nc_region_snapshot_effects (const guint8 *data, gsize len, guint64 *index, GError **error)
{
  /* core/snapshot.h: "NCSNAP01" | u64 index | u64 term | chunks | trailer;
   * chunk = u32 length | u32 crc32c | encoded write-set. The file's
   * checksums were verified by the core that wrote it and the bytes crossed
   * the checksummed cluster transport; every write-set is decoded strictly. */
  if (len < 32 || memcmp (data, "NCSNAP01", 8) != 0)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "not a snapshot file");
      return NULL;
    }
  guint64 idx;
  memcpy (&idx, data + 8, 8);
  if (index)
    *index = GUINT64_FROM_LE (idx);
  g_autoptr (NcWriteSet) all = nc_writeset_new ();
  gsize off = 24;
  for (;;)
    {
      if (len - off < 8)
        {
          g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "snapshot ends without a trailer");
          return NULL;
        }
      guint32 clen = le32_at (data + off);
      if (clen == 0)
        break;
      if ((gsize) clen > len - off - 8)
        {
          g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID, "snapshot chunk runs past the end");
          return NULL;
        }
      g_autoptr (NcWriteSet) ws = nc_writeset_decode (data + off + 8, clen, error);
      if (ws == NULL)
        return NULL;
      for (guint i = 0; i < nc_writeset_len (ws); i++)
        nc_writeset_append (all, nc_writeset_get (ws, i));
      off += 8 + (gsize) clen;
    }
  return g_steal_pointer (&all);
}

static gboolean
value_same (const NcValue *a, const NcValue *b)
{
  g_autoptr (GByteArray) ea = g_byte_array_new ();
  g_autoptr (GByteArray) eb = g_byte_array_new ();
  nc_value_encode (ea, a);
  nc_value_encode (eb, b);
  return ea->len == eb->len && memcmp (ea->data, eb->data, ea->len) == 0;
}

static gboolean
entity_exists (const Entity *e)
{
  return e && e->exists && !nc_value_is_null (&e->exists->value);
}

static int
cmp_effect_id (gconstpointer a, gconstpointer b)
{
  const NcEffect *x = *(const NcEffect *const *) a, *y = *(const NcEffect *const *) b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Property and label effects that turn the entity `ekey` as the resolver
 * knows it into `target` (a CREATE_NODE / CREATE_REL from a snapshot). */
static void
diff_entity (const NcRegionResolver *r, const char *ekey, const NcEffect *target, gboolean rel, NcWriteSet *out)
{
  Entity *e = g_hash_table_lookup (r->entities, ekey);
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  const NcMap *props = target->value.type == NC_VALUE_MAP ? target->value.u.map : NULL;
  for (guint32 i = 0; props && i < props->len; i++)
    {
      g_autofree char *sub = g_strdup_printf ("prop/%s", props->entries[i].key->data);
      Cell *c = g_hash_table_lookup (e->cells, sub);
      g_hash_table_add (wanted, (gpointer) props->entries[i].key->data);
      if (c && value_same (&c->value, &props->entries[i].value))
        continue;
      NcEffect set = { .kind = rel ? NC_EFFECT_SET_REL_PROP : NC_EFFECT_SET_NODE_PROP, .id = target->id,
                       .name = (char *) props->entries[i].key->data, .value = props->entries[i].value };
      nc_writeset_append (out, &set);
    }
  for (guint i = 0; !rel && target->labels && target->labels[i]; i++)
    {
      g_autofree char *sub = g_strdup_printf ("label/%s", target->labels[i]);
      Cell *c = g_hash_table_lookup (e->cells, sub);
      if (c && !nc_value_is_null (&c->value))
        continue;
      NcEffect add = { .kind = NC_EFFECT_ADD_LABEL, .id = target->id, .name = target->labels[i] };
      nc_writeset_append (out, &add);
    }
  /* Cells the target no longer has: properties removed, labels taken off. */
  g_autoptr (GPtrArray) subs = sorted_keys (e->cells);
  for (guint i = 0; i < subs->len; i++)
    {
      const char *sub = subs->pdata[i];
      Cell *c = g_hash_table_lookup (e->cells, sub);
      if (nc_value_is_null (&c->value))
        continue;
      if (g_str_has_prefix (sub, "prop/") && !g_hash_table_contains (wanted, sub + 5))
        {
          NcEffect unset = { .kind = rel ? NC_EFFECT_SET_REL_PROP : NC_EFFECT_SET_NODE_PROP, .id = target->id,
                             .name = (char *) sub + 5, .value = nc_value_null () };
          nc_writeset_append (out, &unset);
        }
      else if (!rel && g_str_has_prefix (sub, "label/")
               && !(target->labels && g_strv_contains ((const char *const *) target->labels, sub + 6)))
        {
          NcEffect rm = { .kind = NC_EFFECT_REMOVE_LABEL, .id = target->id, .name = (char *) sub + 6 };
          nc_writeset_append (out, &rm);
        }
    }
}

NcWriteSet *
nc_region_resolver_diff (const NcRegionResolver *r, const NcWriteSet *target)
{
  g_autoptr (GHashTable) in_target = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
  g_autoptr (GPtrArray) rels = g_ptr_array_new ();
  for (guint i = 0; i < nc_writeset_len (target); i++)
    {
      const NcEffect *e = nc_writeset_get (target, i);
      if (e->kind != NC_EFFECT_CREATE_NODE && e->kind != NC_EFFECT_CREATE_REL)
        continue;  /* schema, id counters and module metadata are not caught up */
      gboolean rel = e->kind == NC_EFFECT_CREATE_REL;
      g_hash_table_add (in_target, entity_key_for (rel, e->id));
      g_ptr_array_add (rel ? rels : nodes, (gpointer) e);
    }
  g_ptr_array_sort (nodes, cmp_effect_id);
  g_ptr_array_sort (rels, cmp_effect_id);
  NcWriteSet *out = nc_writeset_new ();
  /* Deletes first (relationships before their nodes), then nodes, then
   * relationships, so the store can apply the effects in order. */
  g_autoptr (GPtrArray) ekeys = sorted_keys (r->entities);
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < ekeys->len; i++)
      {
        const char *k = ekeys->pdata[i];
        gboolean rel = g_str_has_prefix (k, "rel/");
        if (rel != (pass == 0) || g_hash_table_contains (in_target, k)
            || !entity_exists (g_hash_table_lookup (r->entities, k)))
          continue;
        NcEffect del = { .kind = rel ? NC_EFFECT_DELETE_REL : NC_EFFECT_DELETE_NODE,
                         .id = g_ascii_strtoll (strchr (k, '/') + 1, NULL, 10) };
        nc_writeset_append (out, &del);
      }
  for (int pass = 0; pass < 2; pass++)
    {
      GPtrArray *list = pass == 0 ? nodes : rels;
      for (guint i = 0; i < list->len; i++)
        {
          const NcEffect *e = list->pdata[i];
          g_autofree char *k = entity_key_for (pass == 1, e->id);
          if (entity_exists (g_hash_table_lookup (r->entities, k)))
            diff_entity (r, k, e, pass == 1, out);
          else
            nc_writeset_append (out, e);
        }
    }
  return out;
}
