/* PackStream codec and Bolt chunk framing. */
#include <string.h>

#include "bolt-chunk.h"
#include "errors.h"
#include "packstream.h"

static const NcPsFlavor bolt5 = { .element_ids = TRUE, .utc_datetime = TRUE };
static const NcPsFlavor bolt44 = { .element_ids = FALSE, .utc_datetime = FALSE };

static GByteArray *
encode (const NcValue *v, const NcPsFlavor *flavor)
{
  GByteArray *out = g_byte_array_new ();
  nc_ps_write_value (out, v, flavor);
  return out;
}

static gboolean
decode (const guint8 *data, gsize len, const NcPsFlavor *flavor, NcValue *out, GError **error)
{
  NcPsReader r;
  nc_ps_reader_init (&r, data, len);
  if (!nc_ps_read_value (&r, flavor, out, error))
    return FALSE;
  if (nc_ps_reader_remaining (&r) != 0)
    {
      nc_value_clear (out);
      g_set_error (error, NC_ERROR, NC_ERROR_PROTOCOL, "trailing bytes");
      return FALSE;
    }
  return TRUE;
}

static void
assert_bytes (const GByteArray *a, const char *hex)
{
  g_autofree char *got = g_malloc0 (a->len * 2 + 1);
  for (guint i = 0; i < a->len; i++)
    g_snprintf (got + 2 * i, 3, "%02X", a->data[i]);
  g_assert_cmpstr (got, ==, hex);
}

static void
test_ints_smallest_encoding (void)
{
  struct { gint64 v; const char *hex; } cases[] = {
    { 0, "00" }, { 127, "7F" }, { -1, "FF" }, { -16, "F0" }, { -17, "C8EF" }, { -128, "C880" },
    { 128, "C90080" }, { -129, "C9FF7F" }, { 32767, "C97FFF" }, { 32768, "CA00008000" },
    { -32769, "CAFFFF7FFF" }, { G_MAXINT32, "CA7FFFFFFF" }, { (gint64) G_MAXINT32 + 1, "CB0000000080000000" },
    { G_MININT64, "CB8000000000000000" }, { G_MAXINT64, "CB7FFFFFFFFFFFFFFF" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      NcValue v = nc_value_int (cases[i].v);
      g_autoptr (GByteArray) b = encode (&v, &bolt5);
      assert_bytes (b, cases[i].hex);
      g_auto (NcValue) back = nc_value_null ();
      g_assert_true (decode (b->data, b->len, &bolt5, &back, NULL));
      g_assert_cmpint (back.type, ==, NC_VALUE_INT);
      g_assert_cmpint (back.u.i, ==, cases[i].v);
    }
  /* A wide encoding of a small value is accepted too. */
  static const guint8 wide[] = { 0xCB, 0, 0, 0, 0, 0, 0, 0, 5 };
  g_auto (NcValue) w = nc_value_null ();
  g_assert_true (decode (wide, sizeof wide, &bolt5, &w, NULL));
  g_assert_cmpint (w.u.i, ==, 5);
}

static void
test_sizes_smallest_encoding (void)
{
  g_autoptr (GByteArray) s15 = g_byte_array_new ();
  nc_ps_write_string (s15, "abcdefghijklmno");
  g_assert_cmpuint (s15->data[0], ==, 0x8F);
  g_autoptr (GByteArray) s16 = g_byte_array_new ();
  nc_ps_write_string (s16, "abcdefghijklmnop");
  g_assert_cmpuint (s16->data[0], ==, 0xD0);
  g_assert_cmpuint (s16->data[1], ==, 16);
  g_autofree char *big = g_strnfill (70000, 'x');
  g_autoptr (GByteArray) s70k = g_byte_array_new ();
  nc_ps_write_string (s70k, big);
  g_assert_cmpuint (s70k->data[0], ==, 0xD2);
  g_autoptr (GByteArray) l = g_byte_array_new ();
  nc_ps_write_list_header (l, 300);
  assert_bytes (l, "D5012C");
  g_autoptr (GByteArray) m = g_byte_array_new ();
  nc_ps_write_map_header (m, 3);
  assert_bytes (m, "A3");
  g_autoptr (GByteArray) b = g_byte_array_new ();
  nc_ps_write_bytes (b, (const guint8 *) "ab", 2);
  assert_bytes (b, "CC026162");
}

static NcValue
make_map2 (const char *k1, NcValue v1, const char *k2, NcValue v2)
{
  NcMap *m = nc_map_new (2);
  nc_map_append (m, k1, v1);
  nc_map_append (m, k2, v2);
  return nc_value_map_take (m);
}

static void
test_round_trip_every_type (void)
{
  NcList *list = nc_list_new (3);
  list->items[0] = nc_value_int (1);
  list->items[1] = nc_value_string ("zwei ✓ 🦀");
  list->items[2] = nc_value_null ();
  static const guint8 raw[] = { 0, 1, 2, 255 };
  NcValue values[] = {
    nc_value_null (), nc_value_bool (TRUE), nc_value_bool (FALSE), nc_value_int (-42), nc_value_float (3.25),
    nc_value_float (-0.0), nc_value_string (""), nc_value_string ("héllo wörld ✓"), nc_value_bytes (raw, sizeof raw),
    nc_value_list_take (list), make_map2 ("a", nc_value_int (1), "b", nc_value_string ("x")),
    nc_value_date (19000), nc_value_date (-800000), nc_value_local_time (G_GINT64_CONSTANT (3723000000123)),
    nc_value_time (G_GINT64_CONSTANT (3723000000000), -3600), nc_value_local_datetime (1700000000, 5),
    nc_value_datetime (1700000000, 123, 7200, NULL), nc_value_datetime (1700000000, 0, 3600, "Europe/Berlin"),
    nc_value_duration (14, 3, 3600, 500), nc_value_duration (-1, -2, -3, -4),
    nc_value_point2d (7203, 1.5, -2.5), nc_value_point3d (4979, 12.5, 56.25, 100.0),
  };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      for (guint f = 0; f < 2; f++)
        {
          const NcPsFlavor *flavor = f == 0 ? &bolt5 : &bolt44;
          g_autoptr (GByteArray) b = encode (&values[i], flavor);
          g_auto (NcValue) back = nc_value_null ();
          g_autoptr (GError) error = NULL;
          g_assert_true (decode (b->data, b->len, flavor, &back, &error));
          g_assert_no_error (error);
          g_assert_cmpint (back.type, ==, values[i].type);
          g_assert_true (nc_value_equivalent (&back, &values[i]));
          if (values[i].type == NC_VALUE_DATETIME)
            {
              g_assert_cmpint (back.u.wide->u.datetime.seconds, ==, values[i].u.wide->u.datetime.seconds);
              g_assert_cmpint (back.u.wide->u.datetime.offset_s, ==, values[i].u.wide->u.datetime.offset_s);
              g_assert_cmpint (back.u.wide->u.datetime.nanos, ==, values[i].u.wide->u.datetime.nanos);
            }
          if (values[i].type == NC_VALUE_FLOAT)
            g_assert_true (memcmp (&back.u.f, &values[i].u.f, sizeof (double)) == 0);
        }
      nc_value_clear (&values[i]);
    }
}

static void
test_datetime_utc_vs_legacy (void)
{
  NcValue dt = nc_value_datetime (1000, 7, 3600, NULL);
  g_autoptr (GByteArray) utc = encode (&dt, &bolt5);
  g_autoptr (GByteArray) legacy = encode (&dt, &bolt44);
  /* 0x49 carries UTC seconds; the legacy 0x46 local wall-clock seconds. */
  assert_bytes (utc, "B349C903E807C90E10");
  assert_bytes (legacy, "B346C911F807C90E10");
  /* A structure from the other flavor is refused. */
  g_auto (NcValue) v = nc_value_null ();
  g_autoptr (GError) error = NULL;
  g_assert_false (decode (utc->data, utc->len, &bolt44, &v, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_PROTOCOL);
  nc_value_clear (&dt);

  /* A zone id resolves its offset at the instant: Berlin is +2h in July. */
  NcValue zoned = nc_value_datetime (1720000000, 0, 0, "Europe/Berlin");
  g_autoptr (GByteArray) z = encode (&zoned, &bolt5);
  g_auto (NcValue) back = nc_value_null ();
  g_assert_true (decode (z->data, z->len, &bolt5, &back, NULL));
  g_assert_cmpint (back.u.wide->u.datetime.offset_s, ==, 7200);
  g_assert_cmpstr (back.u.wide->u.datetime.zone_id->data, ==, "Europe/Berlin");
  nc_value_clear (&zoned);
}

static void
test_unknown_zone_is_argument_error (void)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();
  nc_ps_write_struct_header (b, 3, 0x69);
  nc_ps_write_int (b, 0);
  nc_ps_write_int (b, 0);
  nc_ps_write_string (b, "Mars/Olympus_Mons");
  g_auto (NcValue) v = nc_value_null ();
  g_autoptr (GError) error = NULL;
  g_assert_false (decode (b->data, b->len, &bolt5, &v, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
}

static NcValue
make_node (gint64 id, const char *label)
{
  NcEntity *e = nc_entity_new (FALSE, id);
  e->materialised = TRUE;
  e->n_labels = 1;
  e->labels = g_new (NcString *, 1);
  e->labels[0] = nc_string_new (label, strlen (label));
  e->props = nc_map_new (1);
  nc_map_append (e->props, "name", nc_value_string (label));
  return nc_value_entity_take (e);
}

static NcValue
make_rel (gint64 id, gint64 start, gint64 end)
{
  NcEntity *e = nc_entity_new (TRUE, id);
  e->materialised = TRUE;
  e->rel_type = nc_string_new ("KNOWS", 5);
  e->start_id = start;
  e->end_id = end;
  e->props = nc_map_new (0);
  return nc_value_entity_take (e);
}

static void
read_struct (const GByteArray *b, guint *n, guint8 *tag, NcPsReader *r)
{
  nc_ps_reader_init (r, b->data, b->len);
  g_assert_true (nc_ps_read_struct_header (r, n, tag, NULL));
}

static void
test_node_shapes_per_version (void)
{
  g_auto (NcValue) node = make_node (7, "Person");
  g_autoptr (GByteArray) b5 = encode (&node, &bolt5);
  g_autoptr (GByteArray) b4 = encode (&node, &bolt44);
  NcPsReader r;
  guint n;
  guint8 tag;
  read_struct (b5, &n, &tag, &r);
  g_assert_cmpuint (tag, ==, 0x4E);
  g_assert_cmpuint (n, ==, 4);
  for (guint i = 0; i < 3; i++)
    {
      g_auto (NcValue) f = nc_value_null ();
      g_assert_true (nc_ps_read_value (&r, &bolt5, &f, NULL));
    }
  g_auto (NcValue) eid = nc_value_null ();
  g_assert_true (nc_ps_read_value (&r, &bolt5, &eid, NULL));
  g_assert_cmpstr (nc_value_str (&eid), ==, "4:nornicdb:7");
  read_struct (b4, &n, &tag, &r);
  g_assert_cmpuint (n, ==, 3);

  g_auto (NcValue) rel = make_rel (3, 7, 9);
  g_autoptr (GByteArray) r5 = encode (&rel, &bolt5);
  g_autoptr (GByteArray) r4 = encode (&rel, &bolt44);
  read_struct (r5, &n, &tag, &r);
  g_assert_cmpuint (tag, ==, 0x52);
  g_assert_cmpuint (n, ==, 8);
  read_struct (r4, &n, &tag, &r);
  g_assert_cmpuint (n, ==, 5);

  /* Graph entities are not accepted as parameters, but do not kill the connection. */
  g_auto (NcValue) back = nc_value_null ();
  g_autoptr (GError) error = NULL;
  g_assert_false (decode (b5->data, b5->len, &bolt5, &back, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
}

static void
test_path_indices (void)
{
  /* (a)-[r1]->(b)<-[r2]-(c) */
  NcPath *p = nc_path_new (3);
  p->nodes[0] = make_node (1, "A");
  p->nodes[1] = make_node (2, "B");
  p->nodes[2] = make_node (3, "C");
  p->rels[0] = make_rel (10, 1, 2);
  p->rels[1] = make_rel (11, 3, 2);
  g_auto (NcValue) path = nc_value_path_take (p);
  g_autoptr (GByteArray) b = encode (&path, &bolt5);
  NcPsReader r;
  guint n;
  guint8 tag;
  read_struct (b, &n, &tag, &r);
  g_assert_cmpuint (tag, ==, 0x50);
  g_assert_cmpuint (n, ==, 3);
  /* nodes and rels are structures: skip them by reading their headers. */
  g_assert_cmpuint (r.data[r.pos], ==, 0x93);
  r.pos++;
  for (guint i = 0; i < 3; i++)
    {
      guint fn;
      guint8 ft;
      g_assert_true (nc_ps_read_struct_header (&r, &fn, &ft, NULL));
      g_assert_cmpuint (ft, ==, 0x4E);
      for (guint k = 0; k < fn; k++)
        {
          g_auto (NcValue) f = nc_value_null ();
          g_assert_true (nc_ps_read_value (&r, &bolt5, &f, NULL));
        }
    }
  g_assert_cmpuint (r.data[r.pos], ==, 0x92);
  r.pos++;
  for (guint i = 0; i < 2; i++)
    {
      guint fn;
      guint8 ft;
      g_assert_true (nc_ps_read_struct_header (&r, &fn, &ft, NULL));
      g_assert_cmpuint (ft, ==, 0x72);
      g_assert_cmpuint (fn, ==, 4);
      for (guint k = 0; k < fn; k++)
        {
          g_auto (NcValue) f = nc_value_null ();
          g_assert_true (nc_ps_read_value (&r, &bolt5, &f, NULL));
        }
    }
  g_auto (NcValue) idx = nc_value_null ();
  g_assert_true (nc_ps_read_value (&r, &bolt5, &idx, NULL));
  g_assert_cmpint (idx.type, ==, NC_VALUE_LIST);
  gint64 want[] = { 1, 1, -2, 2 };
  g_assert_cmpuint (idx.u.list->len, ==, 4);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpint (idx.u.list->items[i].u.i, ==, want[i]);
}

static void
test_sizes_checked_against_remaining (void)
{
  /* Each declares far more than the buffer holds. */
  static const guint8 cases[][6] = {
    { 0xD2, 0x7F, 0xFF, 0xFF, 0xFF, 0x41 }, /* 2 GB string */
    { 0xCE, 0xFF, 0xFF, 0xFF, 0xFF, 0x00 }, /* 4 GB bytes */
    { 0xD6, 0x7F, 0xFF, 0xFF, 0xFF, 0x01 }, /* 2 G items list */
    { 0xDA, 0x7F, 0xFF, 0xFF, 0xFF, 0x80 }, /* 2 G entries map */
    { 0xD1, 0x00, 0x10, 0x41, 0x41, 0x41 }, /* 16-byte string, 3 present */
    { 0x9F, 0x01, 0x02, 0x03, 0x04, 0x05 }, /* 15-item list, 5 present */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (NcValue) v = nc_value_null ();
      g_autoptr (GError) error = NULL;
      g_assert_false (decode (cases[i], sizeof cases[i], &bolt5, &v, &error));
      g_assert_error (error, NC_ERROR, NC_ERROR_PROTOCOL);
    }
}

static void
test_nesting_depth_limited (void)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();
  for (guint i = 0; i < 10000; i++)
    nc_ps_write_list_header (b, 1);
  nc_ps_write_int (b, 1);
  g_auto (NcValue) v = nc_value_null ();
  g_autoptr (GError) error = NULL;
  g_assert_false (decode (b->data, b->len, &bolt5, &v, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_PROTOCOL);

  /* Just under the limit works. */
  g_autoptr (GByteArray) ok = g_byte_array_new ();
  for (guint i = 0; i < NC_PS_MAX_DEPTH; i++)
    nc_ps_write_list_header (ok, 1);
  nc_ps_write_int (ok, 1);
  g_auto (NcValue) w = nc_value_null ();
  g_assert_true (decode (ok->data, ok->len, &bolt5, &w, NULL));
}

static void
test_bad_input_rejected (void)
{
  static const struct { guint8 bytes[8]; guint len; } cases[] = {
    { { 0xC4 }, 1 },                    /* unused marker */
    { { 0xE0 }, 1 },                    /* unused marker */
    { { 0xA1, 0x01, 0x01 }, 3 },        /* map key not a string */
    { { 0xA2, 0x81, 'a', 0x01, 0x81, 'a', 0x02 }, 7 }, /* duplicate key */
    { { 0x82, 0xC3, 0x28 }, 3 },        /* invalid UTF-8 */
    { { 0xB1, 0x44, 0x81, 'x' }, 4 },   /* Date with a string */
    { { 0xB2, 0x44, 0x01, 0x02 }, 4 },  /* Date with 2 fields */
    { { 0xB0, 0x01 }, 2 },              /* unknown structure */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (NcValue) v = nc_value_null ();
      g_autoptr (GError) error = NULL;
      g_assert_false (decode (cases[i].bytes, cases[i].len, &bolt5, &v, &error));
      g_assert_error (error, NC_ERROR, NC_ERROR_PROTOCOL);
    }
}

static GByteArray *
sample_message (void)
{
  GByteArray *b = g_byte_array_new ();
  NcList *list = nc_list_new (4);
  list->items[0] = nc_value_float (1.5);
  list->items[1] = nc_value_duration (1, 2, 3, 4);
  list->items[2] = nc_value_datetime (1720000000, 9, 0, "Europe/Berlin");
  list->items[3] = nc_value_point3d (9157, 1, 2, 3);
  g_auto (NcValue) v = make_map2 ("list", nc_value_list_take (list), "text", nc_value_string ("ünïcödé"));
  nc_ps_write_value (b, &v, &bolt5);
  return b;
}

static void
test_every_truncation_fails_cleanly (void)
{
  g_autoptr (GByteArray) full = sample_message ();
  for (guint len = 0; len < full->len; len++)
    {
      g_autofree guint8 *copy = g_memdup2 (full->data, len); /* exact-size heap copy for ASan */
      g_auto (NcValue) v = nc_value_null ();
      g_autoptr (GError) error = NULL;
      g_assert_false (decode (copy, len, &bolt5, &v, &error));
      g_assert_nonnull (error);
    }
  g_auto (NcValue) v = nc_value_null ();
  g_assert_true (decode (full->data, full->len, &bolt5, &v, NULL));
}

static void
test_random_garbage_never_crashes (void)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (20261127);
  g_autoptr (GByteArray) sample = sample_message ();
  for (guint iter = 0; iter < 20000; iter++)
    {
      guint len = g_rand_int_range (rng, 0, 64);
      g_autofree guint8 *buf = g_malloc (len + 1);
      if (iter % 2 == 0)
        for (guint i = 0; i < len; i++)
          buf[i] = (guint8) g_rand_int (rng);
      else
        {
          /* Mutate a valid message: flip a few bytes. */
          len = sample->len;
          buf = g_realloc (buf, len);
          memcpy (buf, sample->data, len);
          for (guint k = 0; k < 3; k++)
            buf[g_rand_int_range (rng, 0, len)] = (guint8) g_rand_int (rng);
        }
      for (guint f = 0; f < 2; f++)
        {
          g_auto (NcValue) v = nc_value_null ();
          g_autoptr (GError) error = NULL;
          if (!decode (buf, len, f ? &bolt44 : &bolt5, &v, &error))
            g_assert_nonnull (error);
        }
    }
}

/* ---- chunks ---------------------------------------------------------------- */

static void
test_chunks_reassemble_any_split (void)
{
  g_autofree guint8 *msg = g_malloc (200000);
  for (guint i = 0; i < 200000; i++)
    msg[i] = (guint8) i;
  g_autoptr (GByteArray) wire = g_byte_array_new ();
  static const guint8 noop[2] = { 0, 0 };
  g_byte_array_append (wire, noop, 2); /* keep-alive first */
  nc_bolt_chunk_append (wire, msg, 200000);
  nc_bolt_chunk_append (wire, (const guint8 *) "hi", 2);
  /* 200000 bytes need 4 chunks: 3 * 65535 + 3395. */
  g_assert_cmpuint (wire->len, ==, 2 + 200000 + 4 * 2 + 2 + 2 + 2 + 2);

  guint steps[] = { 1, 7, 1400, 65536, wire->len };
  for (guint s = 0; s < G_N_ELEMENTS (steps); s++)
    {
      NcBoltDechunker d;
      nc_bolt_dechunker_init (&d, 1 << 20);
      guint got = 0;
      for (gsize pos = 0; pos < wire->len;)
        {
          gsize n = MIN (steps[s], wire->len - pos);
          while (n > 0)
            {
              gsize used = 0;
              g_autoptr (GBytes) m = NULL;
              NcBoltDechunkStatus st = nc_bolt_dechunker_feed (&d, wire->data + pos, n, &used, &m, NULL);
              g_assert_cmpint (st, !=, NC_BOLT_DECHUNK_ERROR);
              pos += used;
              n -= used;
              if (st == NC_BOLT_DECHUNK_MESSAGE)
                {
                  gsize len;
                  const guint8 *data = g_bytes_get_data (m, &len);
                  if (got == 0)
                    {
                      g_assert_cmpuint (len, ==, 200000);
                      g_assert_true (memcmp (data, msg, len) == 0);
                    }
                  else
                    g_assert_cmpmem (data, len, "hi", 2);
                  got++;
                }
            }
        }
      g_assert_cmpuint (got, ==, 2);
      g_assert_false (nc_bolt_dechunker_in_message (&d));
      nc_bolt_dechunker_clear (&d);
    }
}

static void
test_chunks_enforce_message_limit (void)
{
  NcBoltDechunker d;
  nc_bolt_dechunker_init (&d, 1000);
  g_autoptr (GByteArray) wire = g_byte_array_new ();
  g_autofree guint8 *msg = g_malloc0 (1500);
  nc_bolt_chunk_append (wire, msg, 1500);
  gsize used = 0;
  g_autoptr (GBytes) m = NULL;
  g_autoptr (GError) error = NULL;
  /* Refused at the chunk header, before the bytes are buffered. */
  g_assert_cmpint (nc_bolt_dechunker_feed (&d, wire->data, wire->len, &used, &m, &error), ==,
                   NC_BOLT_DECHUNK_ERROR);
  g_assert_error (error, NC_ERROR, NC_ERROR_REQUEST_INVALID);
  g_assert_cmpuint (used, ==, 2);
  nc_bolt_dechunker_clear (&d);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/packstream/ints-use-smallest-encoding", test_ints_smallest_encoding);
  g_test_add_func ("/nornic/packstream/sizes-use-smallest-encoding", test_sizes_smallest_encoding);
  g_test_add_func ("/nornic/packstream/every-type-round-trips", test_round_trip_every_type);
  g_test_add_func ("/nornic/packstream/datetime-utc-vs-legacy", test_datetime_utc_vs_legacy);
  g_test_add_func ("/nornic/packstream/unknown-zone-is-argument-error", test_unknown_zone_is_argument_error);
  g_test_add_func ("/nornic/packstream/node-and-rel-shapes-per-version", test_node_shapes_per_version);
  g_test_add_func ("/nornic/packstream/path-indices-follow-direction", test_path_indices);
  g_test_add_func ("/nornic/packstream/sizes-checked-against-remaining", test_sizes_checked_against_remaining);
  g_test_add_func ("/nornic/packstream/nesting-depth-limited", test_nesting_depth_limited);
  g_test_add_func ("/nornic/packstream/bad-input-rejected", test_bad_input_rejected);
  g_test_add_func ("/nornic/packstream/every-truncation-fails-cleanly", test_every_truncation_fails_cleanly);
  g_test_add_func ("/nornic/packstream/random-garbage-never-crashes", test_random_garbage_never_crashes);
  g_test_add_func ("/nornic/bolt/chunk/reassembles-any-split", test_chunks_reassemble_any_split);
  g_test_add_func ("/nornic/bolt/chunk/message-limit-enforced", test_chunks_enforce_message_limit);
  return g_test_run ();
}
