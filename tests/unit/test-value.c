#include "value.h"

#include <math.h>

static void
test_equality_is_three_valued (void)
{
  NcValue one = nc_value_int (1), onef = nc_value_float (1.0), nul = nc_value_null ();
  g_assert_cmpint (nc_value_equals (&one, &onef), ==, NC_TRI_TRUE);
  g_assert_cmpint (nc_value_equals (&one, &nul), ==, NC_TRI_NULL);
  g_auto (NcValue) s = nc_value_string ("1");
  g_assert_cmpint (nc_value_equals (&one, &s), ==, NC_TRI_FALSE);
}

static void
test_lists_with_null_compare_null (void)
{
  NcList *a = nc_list_new (2), *b = nc_list_new (2);
  a->items[0] = nc_value_int (1);
  a->items[1] = nc_value_null ();
  b->items[0] = nc_value_int (1);
  b->items[1] = nc_value_int (2);
  g_auto (NcValue) va = nc_value_list_take (a);
  g_auto (NcValue) vb = nc_value_list_take (b);
  g_assert_cmpint (nc_value_equals (&va, &vb), ==, NC_TRI_NULL);
}

static void
test_order_puts_null_last_and_groups_types (void)
{
  NcValue n = nc_value_null (), i = nc_value_int (5), b = nc_value_bool (TRUE);
  g_auto (NcValue) s = nc_value_string ("x");
  g_assert_cmpint (nc_value_order (&i, &n), <, 0);
  g_assert_cmpint (nc_value_order (&s, &b), <, 0);
  g_assert_cmpint (nc_value_order (&b, &i), <, 0);
  NcValue nan = nc_value_float (NAN);
  g_assert_cmpint (nc_value_order (&i, &nan), <, 0);
}

static void
test_large_int_float_compare_exactly (void)
{
  NcValue big = nc_value_int (G_GINT64_CONSTANT (9007199254740993));
  NcValue f = nc_value_float (9007199254740992.0);
  int c = 0;
  g_assert_true (nc_value_compare (&big, &f, &c));
  g_assert_cmpint (c, >, 0);
}

static void
test_equivalence_and_hash_agree (void)
{
  NcValue i = nc_value_int (3), f = nc_value_float (3.0);
  g_assert_true (nc_value_equivalent (&i, &f));
  g_assert_cmpuint (nc_value_hash (&i), ==, nc_value_hash (&f));
  NcValue n1 = nc_value_null (), n2 = nc_value_null ();
  g_assert_true (nc_value_equivalent (&n1, &n2));
}

static void
test_map_with_replaces_and_removes (void)
{
  NcMap *m = nc_map_with (NULL, "a", nc_value_int (1));
  NcMap *m2 = nc_map_with (m, "b", nc_value_string ("x"));
  NcMap *m3 = nc_map_with (m2, "a", nc_value_null ());
  g_assert_cmpuint (m2->len, ==, 2);
  g_assert_cmpuint (m3->len, ==, 1);
  g_assert_null (nc_map_get (m3, "a"));
  g_assert_cmpstr (nc_value_str (nc_map_get (m3, "b")), ==, "x");
  nc_map_unref (m);
  nc_map_unref (m2);
  nc_map_unref (m3);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/value/equality-is-three-valued", test_equality_is_three_valued);
  g_test_add_func ("/nornic/value/lists-with-null-compare-null", test_lists_with_null_compare_null);
  g_test_add_func ("/nornic/value/order-puts-null-last-and-groups-types", test_order_puts_null_last_and_groups_types);
  g_test_add_func ("/nornic/value/large-int-float-compare-exactly", test_large_int_float_compare_exactly);
  g_test_add_func ("/nornic/value/equivalence-and-hash-agree", test_equivalence_and_hash_agree);
  g_test_add_func ("/nornic/value/map-with-replaces-and-removes", test_map_with_replaces_and_removes);
  return g_test_run ();
}
