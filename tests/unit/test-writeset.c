#include "writeset.h"

#include <math.h>
#include <string.h>

/* Two values are identical when their encodings are byte-for-byte equal and
 * (for everything but NaN and entities) they are also Cypher-equivalent. */
static void
assert_values_identical (const NcValue *a, const NcValue *b)
{
  g_autoptr (GByteArray) ea = g_byte_array_new ();
  g_autoptr (GByteArray) eb = g_byte_array_new ();
  nc_value_encode (ea, a);
  nc_value_encode (eb, b);
  g_assert_cmpint (a->type, ==, b->type);
  g_assert_cmpmem (ea->data, ea->len, eb->data, eb->len);
}

static NcValue
make_list (guint n, ...)
{
  va_list ap;
  NcList *l = nc_list_new (n);
  va_start (ap, n);
  for (guint i = 0; i < n; i++)
    l->items[i] = va_arg (ap, NcValue);
  va_end (ap);
  return nc_value_list_take (l);
}

/* One value of every NcValueType, plus edge cases. */
static GArray *
every_value (void)
{
  GArray *vals = g_array_new (FALSE, FALSE, sizeof (NcValue));
  g_array_set_clear_func (vals, (GDestroyNotify) nc_value_clear);
  NcValue v;
#define ADD(expr) do { v = (expr); g_array_append_val (vals, v); } while (0)
  ADD (nc_value_null ());
  ADD (nc_value_bool (TRUE));
  ADD (nc_value_bool (FALSE));
  ADD (nc_value_int (G_MININT64));
  ADD (nc_value_int (G_MAXINT64));
  ADD (nc_value_int (-1));
  ADD (nc_value_float (3.25));
  ADD (nc_value_float (-0.0));
  ADD (nc_value_float (NAN));
  ADD (nc_value_float (INFINITY));
  ADD (nc_value_string (""));
  ADD (nc_value_string ("héllo wörld ✓"));
  ADD (nc_value_string_len ("nul\0inside", 11));
  ADD (nc_value_bytes ((const guint8 *) "\0\1\2\377", 4));
  ADD (make_list (0));
  ADD (make_list (3, nc_value_int (1), nc_value_string ("x"),
                  make_list (2, nc_value_null (), nc_value_float (2.5))));
  {
    NcMap *m = nc_map_new (3);
    nc_map_append (m, "a", nc_value_int (1));
    nc_map_append (m, "b", make_list (1, nc_value_bool (TRUE)));
    NcMap *inner = nc_map_new (1);
    nc_map_append (inner, "deep", nc_value_string ("yes"));
    nc_map_append (m, "c", nc_value_map_take (inner));
    ADD (nc_value_map_take (m));
  }
  ADD (nc_value_node_ref (42));
  ADD (nc_value_rel_ref (7, 1, 2));
  {
    NcPath *p = nc_path_new (3);
    p->nodes[0] = nc_value_node_ref (1);
    p->nodes[1] = nc_value_node_ref (2);
    p->nodes[2] = nc_value_node_ref (3);
    p->rels[0] = nc_value_rel_ref (10, 1, 2);
    p->rels[1] = nc_value_rel_ref (11, 3, 2);
    ADD (nc_value_path_take (p));
  }
  ADD (nc_value_date (-719162));
  ADD (nc_value_local_time (G_GINT64_CONSTANT (86399999999999)));
  ADD (nc_value_time (3600000000000, -18000));
  ADD (nc_value_local_datetime (-1, 999999999));
  ADD (nc_value_datetime (1700000000, 123, 3600, "Europe/Berlin"));
  ADD (nc_value_datetime (1700000000, 0, -7200, NULL));
  ADD (nc_value_duration (14, -3, 3600, 5));
  ADD (nc_value_point2d (7203, 1.5, -2.5));
  ADD (nc_value_point3d (4979, 12.0, 56.0, 1000.0));
#undef ADD
  return vals;
}

static void
test_value_round_trip_every_type (void)
{
  g_autoptr (GArray) vals = every_value ();
  gboolean seen[NC_VALUE_N_TYPES] = { FALSE };
  for (guint i = 0; i < vals->len; i++)
    {
      const NcValue *v = &g_array_index (vals, NcValue, i);
      g_autoptr (GByteArray) enc = g_byte_array_new ();
      g_autoptr (GError) error = NULL;
      g_auto (NcValue) out = nc_value_null ();
      gsize pos = 0;
      seen[v->type] = TRUE;
      nc_value_encode (enc, v);
      g_assert_true (nc_value_decode (enc->data, enc->len, &pos, &out, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (pos, ==, enc->len);
      assert_values_identical (v, &out);
      if (v->type != NC_VALUE_FLOAT || !isnan (v->u.f))
        if (v->type != NC_VALUE_NODE && v->type != NC_VALUE_REL && v->type != NC_VALUE_PATH)
          g_assert_true (nc_value_equivalent (v, &out));
    }
  for (int t = 0; t < NC_VALUE_N_TYPES; t++)
    g_assert_true (seen[t]);
}

static void
test_value_fields_survive (void)
{
  g_auto (NcValue) dt = nc_value_datetime (1700000000, 123, 3600, "Europe/Berlin");
  g_autoptr (GByteArray) enc = g_byte_array_new ();
  g_auto (NcValue) out = nc_value_null ();
  gsize pos = 0;
  nc_value_encode (enc, &dt);
  g_assert_true (nc_value_decode (enc->data, enc->len, &pos, &out, NULL));
  g_assert_cmpint (out.u.wide->u.datetime.seconds, ==, 1700000000);
  g_assert_cmpint (out.u.wide->u.datetime.nanos, ==, 123);
  g_assert_cmpint (out.u.wide->u.datetime.offset_s, ==, 3600);
  g_assert_cmpstr (out.u.wide->u.datetime.zone_id->data, ==, "Europe/Berlin");

  g_auto (NcValue) rel = nc_value_rel_ref (7, 1, 2);
  g_auto (NcValue) rout = nc_value_null ();
  g_byte_array_set_size (enc, 0);
  pos = 0;
  nc_value_encode (enc, &rel);
  g_assert_true (nc_value_decode (enc->data, enc->len, &pos, &rout, NULL));
  g_assert_cmpint (rout.u.entity->id, ==, 7);
  g_assert_cmpint (rout.u.entity->start_id, ==, 1);
  g_assert_cmpint (rout.u.entity->end_id, ==, 2);
}

/* A write-set with one effect of every kind, using every value type. */
static NcWriteSet *
sample_writeset (void)
{
  NcWriteSet *ws = nc_writeset_new ();
  g_autoptr (GArray) vals = every_value ();
  char *labels[] = { "Person", "Émployé", NULL };
  NcMap *props = nc_map_new (2);
  nc_map_append (props, "name", nc_value_string ("Ann"));
  nc_map_append (props, "tags", make_list (2, nc_value_string ("a"), nc_value_string ("b")));
  g_auto (NcValue) pv = nc_value_map_take (props);

  NcEffect e1 = { .kind = NC_EFFECT_CREATE_NODE, .id = 5, .labels = labels, .value = pv };
  nc_writeset_append (ws, &e1);
  NcEffect e1b = { .kind = NC_EFFECT_CREATE_NODE, .id = 6 };
  nc_writeset_append (ws, &e1b);
  NcEffect e2 = { .kind = NC_EFFECT_CREATE_REL, .id = 9, .start = 5, .end = 6, .name = "KNOWS", .value = pv };
  nc_writeset_append (ws, &e2);
  for (guint i = 0; i < vals->len; i++)
    {
      NcEffect e = { .kind = (i % 2) ? NC_EFFECT_SET_REL_PROP : NC_EFFECT_SET_NODE_PROP,
                     .id = (gint64) i, .name = "k", .value = g_array_index (vals, NcValue, i) };
      nc_writeset_append (ws, &e);
      NcEffect m = { .kind = NC_EFFECT_META, .name = "meta", .value = g_array_index (vals, NcValue, i) };
      nc_writeset_append (ws, &m);
    }
  NcEffect e3 = { .kind = NC_EFFECT_ADD_LABEL, .id = 5, .name = "Admin" };
  nc_writeset_append (ws, &e3);
  NcEffect e4 = { .kind = NC_EFFECT_REMOVE_LABEL, .id = 5, .name = "Person" };
  nc_writeset_append (ws, &e4);
  NcEffect e5 = { .kind = NC_EFFECT_DELETE_REL, .id = 9 };
  nc_writeset_append (ws, &e5);
  NcEffect e6 = { .kind = NC_EFFECT_DELETE_NODE, .id = 6 };
  nc_writeset_append (ws, &e6);
  NcEffect e7 = { .kind = NC_EFFECT_CREATE_SCHEMA, .id = 1, .name = "c1", .name2 = "Person", .name3 = "id" };
  nc_writeset_append (ws, &e7);
  NcEffect e8 = { .kind = NC_EFFECT_DROP_SCHEMA, .name = "c1" };
  nc_writeset_append (ws, &e8);
  NcEffect e9 = { .kind = NC_EFFECT_NEXT_IDS, .id = 100, .start = 200 };
  nc_writeset_append (ws, &e9);
  nc_writeset_set_origin (ws, G_GUINT64_CONSTANT (0x1234567890), "region-eu");
  return ws;
}

static void
assert_effects_equal (const NcEffect *a, const NcEffect *b)
{
  g_assert_cmpint (a->kind, ==, b->kind);
  g_assert_cmpint (a->id, ==, b->id);
  if (a->kind == NC_EFFECT_CREATE_REL || a->kind == NC_EFFECT_NEXT_IDS)
    g_assert_cmpint (a->start, ==, b->start);
  if (a->kind == NC_EFFECT_CREATE_REL)
    g_assert_cmpint (a->end, ==, b->end);
  g_assert_cmpstr (a->name, ==, b->name);
  g_assert_cmpstr (a->name2, ==, b->name2);
  g_assert_cmpstr (a->name3, ==, b->name3);
  g_assert_cmpuint (a->labels ? g_strv_length (a->labels) : 0, ==, b->labels ? g_strv_length (b->labels) : 0);
  for (guint i = 0; a->labels && a->labels[i]; i++)
    g_assert_cmpstr (a->labels[i], ==, b->labels[i]);
  assert_values_identical (&a->value, &b->value);
}

static void
test_writeset_round_trip (void)
{
  g_autoptr (NcWriteSet) ws = sample_writeset ();
  g_autoptr (GBytes) enc = nc_writeset_encode (ws);
  g_autoptr (GError) error = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (enc, &len);
  g_autoptr (NcWriteSet) out = nc_writeset_decode (data, len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (out);
  g_assert_cmpuint (nc_writeset_len (out), ==, nc_writeset_len (ws));
  for (guint i = 0; i < nc_writeset_len (ws); i++)
    assert_effects_equal (nc_writeset_get (ws, i), nc_writeset_get (out, i));
  g_assert_cmpuint (nc_writeset_hlc (out), ==, G_GUINT64_CONSTANT (0x1234567890));
  g_assert_cmpstr (nc_writeset_origin (out), ==, "region-eu");
  /* re-encoding is byte-identical */
  g_autoptr (GBytes) enc2 = nc_writeset_encode (out);
  g_assert_true (g_bytes_equal (enc, enc2));
}

static void
test_empty_writeset_round_trip (void)
{
  g_autoptr (NcWriteSet) ws = nc_writeset_new ();
  g_autoptr (GBytes) enc = nc_writeset_encode (ws);
  gsize len;
  const guint8 *data = g_bytes_get_data (enc, &len);
  g_autoptr (NcWriteSet) out = nc_writeset_decode (data, len, NULL);
  g_assert_nonnull (out);
  g_assert_cmpuint (nc_writeset_len (out), ==, 0);
  g_assert_null (nc_writeset_origin (out));
}

static void
test_every_truncation_is_rejected (void)
{
  g_autoptr (NcWriteSet) ws = sample_writeset ();
  g_autoptr (GBytes) enc = nc_writeset_encode (ws);
  gsize len;
  const guint8 *data = g_bytes_get_data (enc, &len);
  for (gsize cut = 0; cut < len; cut++)
    {
      /* a heap copy of exactly `cut` bytes so ASan catches any over-read */
      g_autofree guint8 *copy = g_memdup2 (data, cut ? cut : 1);
      g_autoptr (GError) error = NULL;
      NcWriteSet *out = nc_writeset_decode (copy, cut, &error);
      g_assert_null (out);
      g_assert_error (error, NC_WRITESET_ERROR, NC_WRITESET_ERROR_CORRUPT);
    }
}

static void
test_trailing_bytes_are_rejected (void)
{
  g_autoptr (NcWriteSet) ws = sample_writeset ();
  g_autoptr (GBytes) enc = nc_writeset_encode (ws);
  gsize len;
  const guint8 *data = g_bytes_get_data (enc, &len);
  g_autofree guint8 *longer = g_malloc0 (len + 1);
  memcpy (longer, data, len);
  g_autoptr (GError) error = NULL;
  g_assert_null (nc_writeset_decode (longer, len + 1, &error));
  g_assert_error (error, NC_WRITESET_ERROR, NC_WRITESET_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "trailing"));
}

/* version, hlc, origin (none), count = 1, then the effect bytes */
static GByteArray *
header_with_one_effect (void)
{
  static const guint8 head[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0 };
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, head, sizeof head);
  return b;
}

static void
expect_corrupt (GByteArray *b, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (nc_writeset_decode (b->data, b->len, &error));
  g_assert_error (error, NC_WRITESET_ERROR, NC_WRITESET_ERROR_CORRUPT);
  if (fragment)
    g_assert_nonnull (strstr (error->message, fragment));
}

static void
test_unknown_kind_tag_and_version_are_rejected (void)
{
  g_autoptr (GByteArray) b = header_with_one_effect ();
  guint8 kind[] = { 99, 0, 0, 0, 0 };
  g_byte_array_append (b, kind, sizeof kind);
  expect_corrupt (b, "unknown effect kind");

  /* META with an unknown value tag */
  g_autoptr (GByteArray) c = header_with_one_effect ();
  guint8 meta[] = { NC_EFFECT_META, 1, 0, 0, 0, 'k', 200 };
  g_byte_array_append (c, meta, sizeof meta);
  expect_corrupt (c, "unknown value tag");

  /* a boolean that is neither 0 nor 1 */
  g_autoptr (GByteArray) d = header_with_one_effect ();
  guint8 meta2[] = { NC_EFFECT_META, 1, 0, 0, 0, 'k', NC_VALUE_BOOL, 2 };
  g_byte_array_append (d, meta2, sizeof meta2);
  expect_corrupt (d, "boolean");

  /* invalid UTF-8 in a string */
  g_autoptr (GByteArray) e = header_with_one_effect ();
  guint8 meta3[] = { NC_EFFECT_META, 1, 0, 0, 0, 'k', NC_VALUE_STRING, 2, 0, 0, 0, 0xc3, 0x28 };
  g_byte_array_append (e, meta3, sizeof meta3);
  expect_corrupt (e, "UTF-8");

  /* a NUL inside a name (labels, keys, types become C strings) */
  g_autoptr (GByteArray) g = header_with_one_effect ();
  guint8 add_label[] = { NC_EFFECT_ADD_LABEL, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'a', 0, 'b' };
  g_byte_array_append (g, add_label, sizeof add_label);
  expect_corrupt (g, "UTF-8");

  /* version 2 */
  g_autoptr (GByteArray) f = header_with_one_effect ();
  f->data[0] = 2;
  expect_corrupt (f, "version");
}

static void
test_nesting_is_depth_limited (void)
{
  for (guint depth = 60; depth <= 70; depth++)
    {
      g_autoptr (GByteArray) b = header_with_one_effect ();
      guint8 meta[] = { NC_EFFECT_META, 1, 0, 0, 0, 'k' };
      g_byte_array_append (b, meta, sizeof meta);
      for (guint i = 0; i < depth; i++)
        {
          guint8 list[] = { NC_VALUE_LIST, 1, 0, 0, 0 };
          g_byte_array_append (b, list, sizeof list);
        }
      guint8 null = NC_VALUE_NULL;
      g_byte_array_append (b, &null, 1);
      g_autoptr (GError) error = NULL;
      g_autoptr (NcWriteSet) ws = nc_writeset_decode (b->data, b->len, &error);
      if (depth <= 64)
        {
          g_assert_no_error (error);
          g_assert_nonnull (ws);
        }
      else
        {
          g_assert_null (ws);
          g_assert_error (error, NC_WRITESET_ERROR, NC_WRITESET_ERROR_CORRUPT);
        }
    }
}

static void
test_huge_counts_are_rejected (void)
{
  /* effect count claims 4 billion effects */
  static const guint8 big[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  g_autoptr (GError) error = NULL;
  g_assert_null (nc_writeset_decode (big, sizeof big, &error));
  g_assert_error (error, NC_WRITESET_ERROR, NC_WRITESET_ERROR_CORRUPT);

  /* a list claiming 4 billion items */
  g_autoptr (GByteArray) b = header_with_one_effect ();
  guint8 meta[] = { NC_EFFECT_META, 1, 0, 0, 0, 'k', NC_VALUE_LIST, 0xff, 0xff, 0xff, 0xff, 0 };
  g_byte_array_append (b, meta, sizeof meta);
  expect_corrupt (b, "count");
}

static void
test_duplicate_map_keys_are_rejected (void)
{
  g_autoptr (GByteArray) b = header_with_one_effect ();
  guint8 meta[] = { NC_EFFECT_META, 1, 0, 0, 0, 'k', NC_VALUE_MAP, 2, 0, 0, 0,
                    1, 0, 0, 0, 'a', NC_VALUE_NULL, 1, 0, 0, 0, 'a', NC_VALUE_NULL };
  g_byte_array_append (b, meta, sizeof meta);
  expect_corrupt (b, "duplicate");
}

static void
test_random_garbage_never_crashes (void)
{
  g_autoptr (NcWriteSet) ws = sample_writeset ();
  g_autoptr (GBytes) enc = nc_writeset_encode (ws);
  gsize len;
  const guint8 *data = g_bytes_get_data (enc, &len);
  GRand *rand = g_rand_new_with_seed (1234);
  guint decoded = 0;
  for (guint iter = 0; iter < 3000; iter++)
    {
      g_autofree guint8 *copy = g_memdup2 (data, len);
      guint flips = g_rand_int_range (rand, 1, 4);
      for (guint f = 0; f < flips; f++)
        copy[g_rand_int_range (rand, 0, (gint32) len)] = (guint8) g_rand_int_range (rand, 0, 256);
      g_autoptr (GError) error = NULL;
      g_autoptr (NcWriteSet) out = nc_writeset_decode (copy, len, &error);
      if (out == NULL)
        g_assert_error (error, NC_WRITESET_ERROR, NC_WRITESET_ERROR_CORRUPT);
      else
        decoded++;
    }
  g_rand_free (rand);
  /* flipping payload bytes (ints, floats) keeps some inputs valid */
  g_assert_cmpuint (decoded, >, 0);
}

static void
test_truncate_drops_tail_effects (void)
{
  g_autoptr (NcWriteSet) ws = sample_writeset ();
  guint n = nc_writeset_len (ws);
  nc_writeset_truncate (ws, 2);
  g_assert_cmpuint (nc_writeset_len (ws), ==, 2);
  g_assert_cmpint (nc_writeset_get (ws, 1)->kind, ==, NC_EFFECT_CREATE_NODE);
  nc_writeset_truncate (ws, n); /* growing is a no-op */
  g_assert_cmpuint (nc_writeset_len (ws), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/writeset/value-round-trip-every-type", test_value_round_trip_every_type);
  g_test_add_func ("/nornic/writeset/value-fields-survive-round-trip", test_value_fields_survive);
  g_test_add_func ("/nornic/writeset/round-trip-every-effect-kind", test_writeset_round_trip);
  g_test_add_func ("/nornic/writeset/empty-round-trip", test_empty_writeset_round_trip);
  g_test_add_func ("/nornic/writeset/every-truncation-is-rejected", test_every_truncation_is_rejected);
  g_test_add_func ("/nornic/writeset/trailing-bytes-are-rejected", test_trailing_bytes_are_rejected);
  g_test_add_func ("/nornic/writeset/unknown-kind-tag-version-are-rejected",
                   test_unknown_kind_tag_and_version_are_rejected);
  g_test_add_func ("/nornic/writeset/nesting-is-depth-limited", test_nesting_is_depth_limited);
  g_test_add_func ("/nornic/writeset/huge-counts-are-rejected", test_huge_counts_are_rejected);
  g_test_add_func ("/nornic/writeset/duplicate-map-keys-are-rejected", test_duplicate_map_keys_are_rejected);
  g_test_add_func ("/nornic/writeset/random-garbage-never-crashes", test_random_garbage_never_crashes);
  g_test_add_func ("/nornic/writeset/truncate-drops-tail-effects", test_truncate_drops_tail_effects);
  return g_test_run ();
}
