/* Unit tests: origin stamps and conflict resolution between regions
 * (modules/multi_region/region-resolve.c), over synthetic histories. */
#include "region.h"

#include <string.h>

/* One write of a synthetic history: a region's committed write-set. */
typedef struct {
  NcWriteSet *stamped;
} Write;

static NcWriteSet *
stamp (NcWriteSet *ws, const char *region, guint64 index, guint64 epoch, guint64 hlc,
       const char *seen_region, guint64 seen_index)
{
  NcRegionOrigin o = { .region = (char *) region, .index = index, .epoch = epoch, .hlc = hlc };
  if (seen_region)
    nc_region_origin_set_seen (&o, seen_region, seen_index);
  NcWriteSet *out = nc_region_stamp (ws, &o);
  g_clear_pointer (&o.seen, g_hash_table_unref);
  nc_writeset_free (ws);
  return out;
}

static NcWriteSet *
set_prop (gint64 id, const char *key, NcValue v)
{
  NcWriteSet *ws = nc_writeset_new ();
  NcEffect e = { .kind = NC_EFFECT_SET_NODE_PROP, .id = id, .name = (char *) key, .value = v };
  nc_writeset_append (ws, &e);
  nc_value_clear (&v);
  return ws;
}

static NcWriteSet *
create_node (gint64 id, const char *label, const char *key, NcValue v)
{
  NcWriteSet *ws = nc_writeset_new ();
  NcMap *m = nc_map_new (1);
  nc_map_append (m, key, v);
  char *labels[] = { (char *) label, NULL };
  NcEffect e = { .kind = NC_EFFECT_CREATE_NODE, .id = id, .labels = labels, .value = nc_value_map_take (m) };
  nc_writeset_append (ws, &e);
  nc_value_clear (&e.value);
  return ws;
}

static NcWriteSet *
delete_node (gint64 id)
{
  NcWriteSet *ws = nc_writeset_new ();
  NcEffect e = { .kind = NC_EFFECT_DELETE_NODE, .id = id };
  nc_writeset_append (ws, &e);
  return ws;
}

static NcWriteSet *
resolve_ok (NcRegionResolver *r, const NcWriteSet *ws)
{
  gboolean dup;
  g_autoptr (GError) error = NULL;
  NcWriteSet *out = nc_region_resolve (r, ws, &dup, &error);
  g_assert_no_error (error);
  g_assert_false (dup);
  return out;
}

static void
apply_all (NcRegionResolver *r, NcWriteSet **writes, const guint *order, guint n)
{
  for (guint i = 0; i < n; i++)
    nc_writeset_free (resolve_ok (r, writes[order[i]]));
}

static gint64
cell_int (NcRegionResolver *r, const char *cell)
{
  const NcValue *v = nc_region_resolver_cell_value (r, cell);
  g_assert_nonnull (v);
  g_assert_cmpint (v->type, ==, NC_VALUE_INT);
  return v->u.i;
}

static void
test_stamp_roundtrip (void)
{
  NcWriteSet *ws = stamp (set_prop (1, "x", nc_value_int (5)), "us-east", 42, 3, 777, "eu-west", 9);
  /* Through the wire format, as a proposal would travel. */
  g_autoptr (GBytes) bytes = nc_writeset_encode (ws);
  gsize len;
  const guint8 *d = g_bytes_get_data (bytes, &len);
  g_autoptr (NcWriteSet) back = nc_writeset_decode (d, len, NULL);
  g_assert_nonnull (back);
  NcRegionOrigin o;
  g_assert_true (nc_region_origin_read (back, &o, NULL));
  g_assert_cmpstr (o.region, ==, "us-east");
  g_assert_cmpuint (o.index, ==, 42);
  g_assert_cmpuint (o.epoch, ==, 3);
  g_assert_cmpuint (o.hlc, ==, 777);
  g_assert_cmpuint (nc_region_origin_seen (&o, "eu-west"), ==, 9);
  g_assert_cmpuint (nc_region_origin_seen (&o, "ap"), ==, 0);
  g_assert_cmpuint (nc_writeset_hlc (back), ==, 777);
  g_assert_cmpstr (nc_writeset_origin (back), ==, "us-east");
  g_assert_cmpuint (nc_writeset_len (back), ==, 2);
  nc_region_origin_clear (&o);
  /* Re-stamping replaces the stamp rather than adding a second one. */
  NcRegionOrigin o2 = { .region = (char *) "eu-west", .index = 1, .epoch = 4, .hlc = 1 };
  g_autoptr (NcWriteSet) again = nc_region_stamp (back, &o2);
  g_assert_cmpuint (nc_writeset_len (again), ==, 2);
  nc_writeset_free (ws);
}

static void
test_unstamped_is_refused (void)
{
  g_autoptr (NcRegionResolver) r = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  g_autoptr (NcWriteSet) ws = set_prop (1, "x", nc_value_int (1));
  gboolean dup;
  g_autoptr (GError) error = NULL;
  g_assert_null (nc_region_resolve (r, ws, &dup, &error));
  g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
}

static void
test_duplicate_origin_index_is_skipped (void)
{
  g_autoptr (NcRegionResolver) r = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  g_autoptr (NcWriteSet) w1 = stamp (set_prop (1, "x", nc_value_int (1)), "us-east", 1, 1, 10, NULL, 0);
  g_autoptr (NcWriteSet) w2 = stamp (set_prop (1, "x", nc_value_int (2)), "us-east", 2, 1, 11, NULL, 0);
  nc_writeset_free (resolve_ok (r, w1));
  nc_writeset_free (resolve_ok (r, w2));
  /* A new leader resends w1: it must not be applied again. */
  gboolean dup = FALSE;
  g_autoptr (NcWriteSet) out = nc_region_resolve (r, w1, &dup, NULL);
  g_assert_true (dup);
  g_assert_cmpuint (nc_writeset_len (out), ==, 0);
  g_assert_cmpint (cell_int (r, "node/1/prop/x"), ==, 2);
  g_assert_cmpuint (nc_region_resolver_applied (r, "us-east"), ==, 2);
}

static void
test_causal_updates_are_not_conflicts (void)
{
  /* us-east writes x, eu-west (after seeing it) overwrites it, us-east
   * (after seeing that) overwrites again: ordinary history. */
  g_autoptr (NcRegionResolver) r = nc_region_resolver_new (NC_CONFLICT_MANUAL);
  NcWriteSet *w[3] = {
    stamp (create_node (1, "P", "x", nc_value_int (1)), "us-east", 1, 1, 100, NULL, 0),
    stamp (set_prop (1, "x", nc_value_int (2)), "eu-west", 1, 2, 90 /* skewed clock */, "us-east", 1),
    stamp (set_prop (1, "x", nc_value_int (3)), "us-east", 2, 3, 110, "eu-west", 1),
  };
  guint order[] = { 0, 1, 2 };
  apply_all (r, w, order, 3);
  g_assert_cmpuint (nc_region_resolver_n_conflicts (r), ==, 0);
  g_assert_cmpint (cell_int (r, "node/1/prop/x"), ==, 3);
  for (guint i = 0; i < 3; i++)
    nc_writeset_free (w[i]);
}

/* A failover history: us-east (epoch 1) wrote 1..4, shipped only 1..2, then
 * died. eu-west was promoted (epoch 2) and wrote 1..3 having seen us-east:2.
 * us-east's unshipped 3..4 arrive at eu-west on reconciliation; eu-west's
 * writes arrive at us-east. Cells touched by both are conflicts. */
static guint
failover_history (NcWriteSet **w)
{
  guint n = 0;
  w[n++] = stamp (create_node (1, "P", "x", nc_value_int (0)), "us-east", 1, 1, 1000, NULL, 0);
  w[n++] = stamp (create_node (2, "P", "y", nc_value_int (0)), "us-east", 2, 1, 1001, NULL, 0);
  /* unshipped tail of us-east */
  w[n++] = stamp (set_prop (1, "x", nc_value_int (13)), "us-east", 3, 1, 1010, NULL, 0);
  w[n++] = stamp (set_prop (2, "y", nc_value_int (14)), "us-east", 4, 1, 1030, NULL, 0);
  /* eu-west as the new primary */
  w[n++] = stamp (set_prop (1, "x", nc_value_int (21)), "eu-west", 1, 2, 1020, "us-east", 2);
  w[n++] = stamp (set_prop (2, "y", nc_value_int (22)), "eu-west", 2, 2, 1025, "us-east", 2);
  w[n++] = stamp (set_prop (2, "z", nc_value_int (23)), "eu-west", 3, 2, 1026, "us-east", 2);
  return n;
}

/* Every interleaving of the two regions' sequences (each in its own order),
 * as the arrival order at some node. */
static void
interleavings (guint a0, guint na, guint b0, guint nb, guint *prefix, guint len, GPtrArray *out)
{
  if (na == 0 && nb == 0)
    {
      g_ptr_array_add (out, g_memdup2 (prefix, len * sizeof (guint)));
      return;
    }
  if (na > 0)
    {
      prefix[len] = a0;
      interleavings (a0 + 1, na - 1, b0, nb, prefix, len + 1, out);
    }
  if (nb > 0)
    {
      prefix[len] = b0;
      interleavings (a0, na, b0 + 1, nb - 1, prefix, len + 1, out);
    }
}

static void
test_lww_converges_in_any_arrival_order (void)
{
  NcWriteSet *w[8];
  guint n = failover_history (w);
  g_autoptr (GPtrArray) orders = g_ptr_array_new_with_free_func (g_free);
  guint prefix[8];
  /* us-east's two shipped writes come first everywhere (eu-west had them
   * before its promotion); then any interleaving of the rest. */
  prefix[0] = 0;
  prefix[1] = 1;
  interleavings (2, 2, 4, 3, prefix, 2, orders);
  g_assert_cmpuint (orders->len, ==, 10);
  g_autofree char *first_conflicts = NULL;
  for (guint k = 0; k < orders->len; k++)
    {
      g_autoptr (NcRegionResolver) r = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
      apply_all (r, w, orders->pdata[k], n);
      /* x: eu-west 1020 beats us-east 1010; y: us-east 1030 beats eu-west 1025. */
      g_assert_cmpint (cell_int (r, "node/1/prop/x"), ==, 21);
      g_assert_cmpint (cell_int (r, "node/2/prop/y"), ==, 14);
      g_assert_cmpint (cell_int (r, "node/2/prop/z"), ==, 23);
      /* Both conflicts recorded (never silently), already resolved. */
      g_assert_cmpuint (nc_region_resolver_n_conflicts (r), ==, 2);
      for (guint i = 0; i < 2; i++)
        g_assert_cmpint (nc_region_resolver_conflict (r, i)->status, ==, NC_CONFLICT_RESOLVED);
      const NcRegionConflict *cx = nc_region_resolver_conflict (r, 0);
      if (strcmp (cx->key, "x") != 0)
        cx = nc_region_resolver_conflict (r, 1);
      g_assert_cmpstr (cx->kept.region, ==, "eu-west");
      g_assert_cmpint (cx->rejected_value.u.i, ==, 13);
      /* The same ids in every order: the regions can compare notes. */
      const char *id0 = nc_region_resolver_conflict (r, 0)->id;
      const char *id1 = nc_region_resolver_conflict (r, 1)->id;
      g_autofree char *ids = strcmp (id0, id1) < 0 ? g_strconcat (id0, ",", id1, NULL)
                                                    : g_strconcat (id1, ",", id0, NULL);
      if (first_conflicts == NULL)
        first_conflicts = g_strdup (ids);
      g_assert_cmpstr (ids, ==, first_conflicts);
    }
  for (guint i = 0; i < n; i++)
    nc_writeset_free (w[i]);
}

static void
test_lww_tie_broken_by_region (void)
{
  NcWriteSet *w[2] = {
    stamp (set_prop (1, "x", nc_value_int (1)), "us-east", 1, 1, 500, NULL, 0),
    stamp (set_prop (1, "x", nc_value_int (2)), "eu-west", 1, 1, 500, NULL, 0),
  };
  guint ab[] = { 0, 1 }, ba[] = { 1, 0 };
  g_autoptr (NcRegionResolver) r1 = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  g_autoptr (NcRegionResolver) r2 = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  apply_all (r1, w, ab, 2);
  apply_all (r2, w, ba, 2);
  /* "us-east" > "eu-west" byte-wise. */
  g_assert_cmpint (cell_int (r1, "node/1/prop/x"), ==, 1);
  g_assert_cmpint (cell_int (r2, "node/1/prop/x"), ==, 1);
  nc_writeset_free (w[0]);
  nc_writeset_free (w[1]);
}

static void
test_losing_effect_is_filtered_from_output (void)
{
  /* The effects handed to the store must leave the winner in place. */
  g_autoptr (NcRegionResolver) r = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  g_autoptr (NcWriteSet) win = stamp (set_prop (1, "x", nc_value_int (2)), "eu-west", 1, 2, 900, NULL, 0);
  g_autoptr (NcWriteSet) lose = stamp (set_prop (1, "x", nc_value_int (1)), "us-east", 5, 1, 800, NULL, 0);
  nc_writeset_free (resolve_ok (r, win));
  g_autoptr (NcWriteSet) out = resolve_ok (r, lose);
  /* Only the origin stamp is left. */
  g_assert_cmpuint (nc_writeset_len (out), ==, 1);
  g_assert_cmpint (nc_writeset_get (out, 0)->kind, ==, NC_EFFECT_META);
}

static void
test_manual_keeps_new_primary_and_records (void)
{
  NcWriteSet *w[8];
  guint n = failover_history (w);
  g_autoptr (GPtrArray) orders = g_ptr_array_new_with_free_func (g_free);
  guint prefix[8] = { 0, 1 };
  interleavings (2, 2, 4, 3, prefix, 2, orders);
  for (guint k = 0; k < orders->len; k++)
    {
      g_autoptr (NcRegionResolver) r = nc_region_resolver_new (NC_CONFLICT_MANUAL);
      apply_all (r, w, orders->pdata[k], n);
      /* eu-west (epoch 2) keeps both cells, although us-east's y is newer. */
      g_assert_cmpint (cell_int (r, "node/1/prop/x"), ==, 21);
      g_assert_cmpint (cell_int (r, "node/2/prop/y"), ==, 22);
      g_assert_cmpuint (nc_region_resolver_n_conflicts (r), ==, 2);
      for (guint i = 0; i < 2; i++)
        {
          const NcRegionConflict *c = nc_region_resolver_conflict (r, i);
          g_assert_cmpint (c->status, ==, NC_CONFLICT_OPEN);
          g_assert_cmpstr (c->kept.region, ==, "eu-west");
          g_assert_cmpstr (c->rejected.region, ==, "us-east");
          g_assert_cmpuint (c->rejected.epoch, ==, 1);
        }
      g_autofree char *json = nc_region_resolver_conflicts_json (r, TRUE);
      g_assert_nonnull (strstr (json, "\"status\":\"open\""));
      g_assert_nonnull (strstr (json, "\"value\":14"));
    }
  for (guint i = 0; i < n; i++)
    nc_writeset_free (w[i]);
}

static void
test_manual_resolution_converges_everywhere (void)
{
  NcWriteSet *w[8];
  guint n = failover_history (w);
  guint east_order[] = { 0, 1, 2, 3, 4, 5, 6 };  /* us-east: own tail, then eu-west's */
  guint west_order[] = { 0, 1, 4, 5, 6, 2, 3 };  /* eu-west: own writes, then us-east's tail */
  g_autoptr (NcRegionResolver) east = nc_region_resolver_new (NC_CONFLICT_MANUAL);
  g_autoptr (NcRegionResolver) west = nc_region_resolver_new (NC_CONFLICT_MANUAL);
  apply_all (east, w, east_order, n);
  apply_all (west, w, west_order, n);
  /* The operator picks the rejected (us-east) value of y on eu-west. */
  const NcRegionConflict *cy = NULL;
  for (guint i = 0; i < 2; i++)
    if (strcmp (nc_region_resolver_conflict (west, i)->key, "y") == 0)
      cy = nc_region_resolver_conflict (west, i);
  g_assert_nonnull (cy);
  g_autofree char *id = g_strdup (cy->id);
  g_assert_nonnull (nc_region_resolver_find_conflict (east, id));
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) res = nc_region_resolution_writeset (west, id, "rejected", NULL, &error);
  g_assert_no_error (error);
  /* Proposed by eu-west as its write 4, having seen everything. */
  NcRegionOrigin o = { .region = (char *) "eu-west", .index = 4, .epoch = 2, .hlc = 1100 };
  nc_region_origin_set_seen (&o, "us-east", 4);
  g_autoptr (NcWriteSet) rw = nc_region_stamp (res, &o);
  g_clear_pointer (&o.seen, g_hash_table_unref);
  nc_writeset_free (resolve_ok (west, rw));
  nc_writeset_free (resolve_ok (east, rw));
  g_assert_cmpint (cell_int (west, "node/2/prop/y"), ==, 14);
  g_assert_cmpint (cell_int (east, "node/2/prop/y"), ==, 14);
  g_assert_cmpint (nc_region_resolver_find_conflict (west, id)->status, ==, NC_CONFLICT_RESOLVED);
  g_assert_cmpint (nc_region_resolver_find_conflict (east, id)->status, ==, NC_CONFLICT_RESOLVED);
  g_assert_cmpstr (nc_region_resolver_find_conflict (east, id)->resolution, ==, "rejected");
  /* No new conflict from the resolution itself, and it cannot be resolved twice. */
  g_assert_cmpuint (nc_region_resolver_n_conflicts (west), ==, 2);
  g_autoptr (GError) again = NULL;
  g_assert_null (nc_region_resolution_writeset (west, id, "kept", NULL, &again));
  g_assert_error (again, NC_REGION_ERROR, NC_REGION_ERROR_STATE);
  g_autoptr (GError) unknown = NULL;
  g_assert_null (nc_region_resolution_writeset (west, "nope", "kept", NULL, &unknown));
  g_assert_error (unknown, NC_REGION_ERROR, NC_REGION_ERROR_NOT_FOUND);
  for (guint i = 0; i < n; i++)
    nc_writeset_free (w[i]);
}

static void
test_delete_beats_concurrent_update_and_is_recorded (void)
{
  NcWriteSet *w[3] = {
    stamp (create_node (7, "P", "x", nc_value_int (0)), "us-east", 1, 1, 100, NULL, 0),
    stamp (set_prop (7, "x", nc_value_int (5)), "us-east", 2, 1, 300, NULL, 0),     /* unshipped */
    stamp (delete_node (7), "eu-west", 1, 2, 200, "us-east", 1),
  };
  guint east[] = { 0, 1, 2 }, west[] = { 0, 2, 1 };
  g_autoptr (NcRegionResolver) re = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  g_autoptr (NcRegionResolver) rw = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  apply_all (re, w, east, 3);
  apply_all (rw, w, west, 3);
  for (guint k = 0; k < 2; k++)
    {
      NcRegionResolver *r = k ? rw : re;
      const NcValue *exists = nc_region_resolver_cell_value (r, "node/7");
      g_assert_nonnull (exists);
      g_assert_true (nc_value_is_null (exists));
      g_assert_cmpuint (nc_region_resolver_n_conflicts (r), ==, 1);
      const NcRegionConflict *c = nc_region_resolver_conflict (r, 0);
      g_assert_cmpstr (c->key, ==, "x");
      g_assert_cmpint (c->rejected_value.u.i, ==, 5);
    }
  g_assert_cmpstr (nc_region_resolver_conflict (re, 0)->id, ==, nc_region_resolver_conflict (rw, 0)->id);
  /* On eu-west the late update is not handed to the store (the node is gone). */
  g_autoptr (NcRegionResolver) r3 = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  nc_writeset_free (resolve_ok (r3, w[0]));
  nc_writeset_free (resolve_ok (r3, w[2]));
  g_autoptr (NcWriteSet) out = resolve_ok (r3, w[1]);
  g_assert_cmpuint (nc_writeset_len (out), ==, 1);
  for (guint i = 0; i < 3; i++)
    nc_writeset_free (w[i]);
}

static void
test_create_id_collision_converges (void)
{
  /* Both regions allocated node id 9 while cut off from each other. */
  NcWriteSet *w[2] = {
    stamp (create_node (9, "A", "v", nc_value_int (1)), "us-east", 3, 1, 100, NULL, 0),
    stamp (create_node (9, "B", "v", nc_value_int (2)), "eu-west", 1, 2, 200, NULL, 0),
  };
  guint ab[] = { 0, 1 }, ba[] = { 1, 0 };
  g_autoptr (NcRegionResolver) r1 = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  g_autoptr (NcRegionResolver) r2 = nc_region_resolver_new (NC_CONFLICT_LAST_WRITE_WINS);
  apply_all (r1, w, ab, 1);
  /* The winner arriving second replaces the loser: DELETE then CREATE. */
  g_autoptr (NcWriteSet) out = resolve_ok (r1, w[1]);
  g_assert_cmpuint (nc_writeset_len (out), ==, 3);
  g_assert_cmpint (nc_writeset_get (out, 1)->kind, ==, NC_EFFECT_DELETE_NODE);
  g_assert_cmpint (nc_writeset_get (out, 2)->kind, ==, NC_EFFECT_CREATE_NODE);
  apply_all (r2, w, ba, 2);
  for (guint k = 0; k < 2; k++)
    {
      NcRegionResolver *r = k ? r2 : r1;
      g_assert_cmpint (cell_int (r, "node/9/prop/v"), ==, 2);
      g_assert_null (nc_region_resolver_cell_value (r, "node/9/label/A"));
      g_assert_cmpuint (nc_region_resolver_n_conflicts (r), ==, 1);
      g_assert_cmpstr (nc_region_resolver_conflict (r, 0)->key, ==, "exists");
    }
  nc_writeset_free (w[0]);
  nc_writeset_free (w[1]);
}

static void
test_state_save_load_roundtrip (void)
{
  NcWriteSet *w[8];
  guint n = failover_history (w);
  guint order[] = { 0, 1, 2, 3, 4, 5, 6 };
  g_autoptr (NcRegionResolver) r = nc_region_resolver_new (NC_CONFLICT_MANUAL);
  apply_all (r, w, order, n);
  g_autoptr (GBytes) saved = nc_region_resolver_save (r);
  g_autoptr (GError) error = NULL;
  g_autoptr (NcRegionResolver) back = nc_region_resolver_load (saved, &error);
  g_assert_no_error (error);
  g_assert_cmpint (nc_region_resolver_strategy (back), ==, NC_CONFLICT_MANUAL);
  g_assert_cmpuint (nc_region_resolver_applied (back, "us-east"), ==, 4);
  g_assert_cmpuint (nc_region_resolver_applied (back, "eu-west"), ==, 3);
  g_assert_cmpint (cell_int (back, "node/2/prop/y"), ==, 22);
  g_autofree char *j1 = nc_region_resolver_conflicts_json (r, FALSE);
  g_autofree char *j2 = nc_region_resolver_conflicts_json (back, FALSE);
  g_assert_cmpstr (j1, ==, j2);
  /* Saving again gives the same bytes (deterministic order). */
  g_autoptr (GBytes) saved2 = nc_region_resolver_save (back);
  g_assert_true (g_bytes_equal (saved, saved2));
  /* Every truncation is refused. */
  gsize len;
  const guint8 *d = g_bytes_get_data (saved, &len);
  for (gsize cut = 0; cut < len; cut += 7)
    {
      g_autoptr (GBytes) part = g_bytes_new (d, cut);
      g_autoptr (GError) e2 = NULL;
      g_assert_null (nc_region_resolver_load (part, &e2));
      g_assert_error (e2, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
    }
  for (guint i = 0; i < n; i++)
    nc_writeset_free (w[i]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/region/stamp/roundtrip-through-wire-format", test_stamp_roundtrip);
  g_test_add_func ("/nornic/region/resolve/unstamped-write-set-is-refused", test_unstamped_is_refused);
  g_test_add_func ("/nornic/region/resolve/duplicate-origin-index-is-skipped", test_duplicate_origin_index_is_skipped);
  g_test_add_func ("/nornic/region/resolve/causal-updates-are-not-conflicts", test_causal_updates_are_not_conflicts);
  g_test_add_func ("/nornic/region/lww/converges-in-any-arrival-order", test_lww_converges_in_any_arrival_order);
  g_test_add_func ("/nornic/region/lww/tie-broken-by-region-id", test_lww_tie_broken_by_region);
  g_test_add_func ("/nornic/region/lww/losing-effect-is-not-applied", test_losing_effect_is_filtered_from_output);
  g_test_add_func ("/nornic/region/manual/keeps-new-primary-and-records-conflicts", test_manual_keeps_new_primary_and_records);
  g_test_add_func ("/nornic/region/manual/resolution-converges-in-every-region", test_manual_resolution_converges_everywhere);
  g_test_add_func ("/nornic/region/resolve/delete-beats-concurrent-update-and-is-recorded", test_delete_beats_concurrent_update_and_is_recorded);
  g_test_add_func ("/nornic/region/resolve/create-id-collision-converges", test_create_id_collision_converges);
  g_test_add_func ("/nornic/region/resolver/state-save-load-roundtrip", test_state_save_load_roundtrip);
  return g_test_run ();
}
