/* HTTP API value rendering and parameter parsing (no server needed). */
#include "http-json.h"
#include "errors.h"

#include <math.h>
#include <string.h>

static char *
row (NcValue v)
{
  GString *out = g_string_new (NULL);
  nc_http_json_append_row (out, &v);
  nc_value_clear (&v);
  return g_string_free (out, FALSE);
}

static char *
meta (NcValue v)
{
  GString *out = g_string_new (NULL);
  nc_http_json_append_meta (out, &v);
  nc_value_clear (&v);
  return g_string_free (out, FALSE);
}

#define ASSERT_ROW(value, expected) \
  G_STMT_START { g_autofree char *_s = row (value); g_assert_cmpstr (_s, ==, expected); } G_STMT_END
#define ASSERT_META(value, expected) \
  G_STMT_START { g_autofree char *_s = meta (value); g_assert_cmpstr (_s, ==, expected); } G_STMT_END

static void
test_scalars (void)
{
  ASSERT_ROW (nc_value_null (), "null");
  ASSERT_ROW (nc_value_bool (TRUE), "true");
  ASSERT_ROW (nc_value_int (-42), "-42");
  ASSERT_ROW (nc_value_int (G_MAXINT64), "9223372036854775807");
  ASSERT_ROW (nc_value_float (1.0), "1.0");
  ASSERT_ROW (nc_value_float (0.1), "0.1");
  ASSERT_ROW (nc_value_float (1e300), "1e+300");
  ASSERT_ROW (nc_value_float (NAN), "\"NaN\"");
  ASSERT_ROW (nc_value_float (-INFINITY), "\"-Infinity\"");
  ASSERT_META (nc_value_int (1), "null");
}

static void
test_strings_are_escaped (void)
{
  ASSERT_ROW (nc_value_string ("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  ASSERT_ROW (nc_value_string ("h\xc3\xa9llo"), "\"h\xc3\xa9llo\"");
}

static void
test_bytes_are_base64 (void)
{
  const guint8 data[] = { 0, 1, 2, 255 };
  ASSERT_ROW (nc_value_bytes (data, sizeof data), "\"AAEC/w==\"");
  ASSERT_META (nc_value_bytes (data, sizeof data), "{\"type\":\"bytes\"}");
}

static NcValue
make_node (gint64 id, const char *label, const char *key, NcValue v)
{
  NcEntity *e = nc_entity_new (FALSE, id);
  e->materialised = TRUE;
  e->n_labels = 1;
  e->labels = g_new0 (NcString *, 1);
  e->labels[0] = nc_string_new (label, strlen (label));
  e->props = nc_map_new (1);
  nc_map_append (e->props, key, v);
  return nc_value_entity_take (e);
}

static NcValue
make_rel (gint64 id, gint64 s, gint64 t, const char *type)
{
  NcEntity *e = nc_entity_new (TRUE, id);
  e->materialised = TRUE;
  e->rel_type = nc_string_new (type, strlen (type));
  e->start_id = s;
  e->end_id = t;
  e->props = nc_map_new (0);
  return nc_value_entity_take (e);
}

static void
test_node_row_and_meta (void)
{
  ASSERT_ROW (make_node (7, "Person", "name", nc_value_string ("Ann")), "{\"name\":\"Ann\"}");
  ASSERT_META (make_node (7, "Person", "name", nc_value_string ("Ann")),
               "{\"id\":7,\"elementId\":\"4:nornicdb:7\",\"type\":\"node\",\"deleted\":false}");
  ASSERT_META (make_rel (3, 1, 2, "KNOWS"),
               "{\"id\":3,\"elementId\":\"5:nornicdb:3\",\"type\":\"relationship\",\"deleted\":false}");
}

static void
test_collections_mirror_meta (void)
{
  NcList *l = nc_list_new (2);
  l->items[0] = nc_value_int (1);
  l->items[1] = make_node (2, "A", "x", nc_value_int (5));
  NcValue list = nc_value_list_take (l);
  NcValue copy = nc_value_copy (&list);
  ASSERT_ROW (list, "[1,{\"x\":5}]");
  ASSERT_META (copy, "[null,{\"id\":2,\"elementId\":\"4:nornicdb:2\",\"type\":\"node\",\"deleted\":false}]");

  NcMap *m = nc_map_new (2);
  nc_map_append (m, "a", nc_value_bool (FALSE));
  nc_map_append (m, "b", nc_value_string ("x"));
  NcValue map = nc_value_map_take (m);
  NcValue mcopy = nc_value_copy (&map);
  ASSERT_ROW (map, "{\"a\":false,\"b\":\"x\"}");
  ASSERT_META (mcopy, "{\"a\":null,\"b\":null}");
}

static void
test_path_alternates (void)
{
  NcPath *p = nc_path_new (2);
  p->nodes[0] = make_node (1, "A", "n", nc_value_int (1));
  p->nodes[1] = make_node (2, "B", "n", nc_value_int (2));
  p->rels[0] = make_rel (9, 1, 2, "R");
  NcValue path = nc_value_path_take (p);
  NcValue copy = nc_value_copy (&path);
  ASSERT_ROW (path, "[{\"n\":1},{},{\"n\":2}]");
  g_autofree char *m = meta (copy);
  g_assert_nonnull (strstr (m, "\"type\":\"relationship\""));
  g_assert_true (g_str_has_prefix (m, "[{\"id\":1,"));
}

static void
test_temporal_is_iso (void)
{
  ASSERT_ROW (nc_value_date (0), "\"1970-01-01\"");
  ASSERT_META (nc_value_date (0), "{\"type\":\"date\"}");
  ASSERT_ROW (nc_value_duration (14, 0, 0, 0), "\"P1Y2M\"");
  ASSERT_META (nc_value_datetime (0, 0, 0, NULL), "{\"type\":\"datetime\"}");
}

static void
test_point_is_geojson_like (void)
{
  g_autofree char *s = row (nc_value_point2d (7203, 1.5, 2.0));
  g_assert_true (g_str_has_prefix (s, "{\"type\":\"Point\",\"coordinates\":[1.5,2.0],\"crs\":{\"srid\":7203,\"name\":\"cartesian\""));
  ASSERT_META (nc_value_point2d (4326, 1, 2), "{\"type\":\"point\"}");
}

static void
test_graph_deduplicates (void)
{
  g_autoptr (NcHttpGraph) g = nc_http_graph_new ();
  NcValue a = make_node (1, "A", "k", nc_value_int (1));
  NcValue b = make_node (2, "B", "k", nc_value_int (2));
  NcValue r = make_rel (5, 1, 2, "LIKES");
  nc_http_graph_add (g, &a);
  nc_http_graph_add (g, &b);
  nc_http_graph_add (g, &r);
  nc_http_graph_add (g, &a);
  GString *out = g_string_new (NULL);
  nc_http_graph_append (g, out);
  g_assert_cmpstr (out->str, ==,
                   "{\"nodes\":[{\"id\":\"1\",\"elementId\":\"4:nornicdb:1\",\"labels\":[\"A\"],\"properties\":{\"k\":1}},"
                   "{\"id\":\"2\",\"elementId\":\"4:nornicdb:2\",\"labels\":[\"B\"],\"properties\":{\"k\":2}}],"
                   "\"relationships\":[{\"id\":\"5\",\"elementId\":\"5:nornicdb:5\",\"type\":\"LIKES\","
                   "\"startNode\":\"1\",\"startNodeElementId\":\"4:nornicdb:1\",\"endNode\":\"2\","
                   "\"endNodeElementId\":\"4:nornicdb:2\",\"properties\":{}}]}");
  g_string_free (out, TRUE);
  nc_value_clear (&a);
  nc_value_clear (&b);
  nc_value_clear (&r);
}

static NcValue
parse (const char *json, GError **error)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  NcValue v = nc_value_null ();
  g_assert_true (json_parser_load_from_data (p, json, -1, NULL));
  if (!nc_http_json_to_value (json_parser_get_root (p), &v, error))
    return nc_value_null ();
  return v;
}

static void
test_parameters_keep_int_vs_float (void)
{
  g_autoptr (GError) error = NULL;
  g_auto (NcValue) v = parse ("{\"i\":5,\"f\":5.0,\"e\":1e3,\"s\":\"x\",\"b\":true,\"n\":null,\"l\":[1,[2]],\"m\":{\"k\":1}}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (v.type, ==, NC_VALUE_MAP);
  g_assert_cmpint (nc_map_get (v.u.map, "i")->type, ==, NC_VALUE_INT);
  g_assert_cmpint (nc_map_get (v.u.map, "f")->type, ==, NC_VALUE_FLOAT);
  g_assert_cmpint (nc_map_get (v.u.map, "e")->type, ==, NC_VALUE_FLOAT);
  g_assert_cmpint (nc_map_get (v.u.map, "s")->type, ==, NC_VALUE_STRING);
  g_assert_cmpint (nc_map_get (v.u.map, "b")->type, ==, NC_VALUE_BOOL);
  g_assert_cmpint (nc_map_get (v.u.map, "n")->type, ==, NC_VALUE_NULL);
  g_assert_cmpint (nc_map_get (v.u.map, "l")->type, ==, NC_VALUE_LIST);
  g_assert_cmpint (nc_map_get (v.u.map, "l")->u.list->items[1].type, ==, NC_VALUE_LIST);
  g_assert_cmpint (nc_map_get (v.u.map, "m")->type, ==, NC_VALUE_MAP);
}

static void
test_parameters_depth_is_bounded (void)
{
  g_autoptr (GString) deep = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  for (int i = 0; i < 200; i++)
    g_string_append_c (deep, '[');
  for (int i = 0; i < 200; i++)
    g_string_append_c (deep, ']');
  g_auto (NcValue) v = parse (deep->str, &error);
  g_assert_error (error, NC_ERROR, NC_ERROR_REQUEST_FORMAT);
}

static void
test_rfc1123 (void)
{
  g_autofree char *d = nc_http_rfc1123_date (0);
  g_assert_cmpstr (d, ==, "Thu, 01 Jan 1970 00:00:00 GMT");
  g_autofree char *d2 = nc_http_rfc1123_date (1700000000);
  g_assert_cmpstr (d2, ==, "Tue, 14 Nov 2023 22:13:20 GMT");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/http-json/scalars-render-as-json", test_scalars);
  g_test_add_func ("/nornic/http-json/strings-are-escaped", test_strings_are_escaped);
  g_test_add_func ("/nornic/http-json/bytes-are-base64", test_bytes_are_base64);
  g_test_add_func ("/nornic/http-json/node-row-is-properties-meta-has-ids", test_node_row_and_meta);
  g_test_add_func ("/nornic/http-json/collections-mirror-meta", test_collections_mirror_meta);
  g_test_add_func ("/nornic/http-json/path-alternates-nodes-and-relationships", test_path_alternates);
  g_test_add_func ("/nornic/http-json/temporal-is-iso-string", test_temporal_is_iso);
  g_test_add_func ("/nornic/http-json/point-is-geojson-like", test_point_is_geojson_like);
  g_test_add_func ("/nornic/http-json/graph-deduplicates-entities", test_graph_deduplicates);
  g_test_add_func ("/nornic/http-json/parameters-keep-int-vs-float", test_parameters_keep_int_vs_float);
  g_test_add_func ("/nornic/http-json/parameter-depth-is-bounded", test_parameters_depth_is_bounded);
  g_test_add_func ("/nornic/http-json/rfc1123-dates", test_rfc1123);
  return g_test_run ();
}
