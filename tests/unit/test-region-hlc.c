/* Unit tests: hybrid logical clock, region epoch record, remote region list,
 * consistency names (modules/multi_region/region-hlc.c). */
#include "region.h"

static void
test_hlc_monotonic_when_wall_clock_stalls (void)
{
  NcHlc c;
  nc_hlc_init (&c, 0);
  guint64 prev = nc_hlc_now (&c, 1000);
  for (int i = 0; i < 1000; i++)
    {
      guint64 t = nc_hlc_now (&c, 1000);
      g_assert_cmpuint (t, >, prev);
      g_assert_cmpuint (NC_HLC_PHYSICAL_MS (t), ==, 1000);
      prev = t;
    }
  g_assert_cmpuint (NC_HLC_LOGICAL (prev), ==, 1000);
}

static void
test_hlc_never_goes_back_with_clock (void)
{
  NcHlc c;
  nc_hlc_init (&c, 0);
  guint64 a = nc_hlc_now (&c, 5000);
  guint64 b = nc_hlc_now (&c, 4000);  /* wall clock stepped back */
  g_assert_cmpuint (b, >, a);
  g_assert_cmpuint (NC_HLC_PHYSICAL_MS (b), ==, 5000);
}

static void
test_hlc_floor_survives_restart (void)
{
  NcHlc c;
  nc_hlc_init (&c, NC_HLC_MAKE (9000, 7));
  g_assert_cmpuint (nc_hlc_now (&c, 1000), >, NC_HLC_MAKE (9000, 7));
}

static void
test_hlc_logical_overflow_borrows_millisecond (void)
{
  NcHlc c;
  nc_hlc_init (&c, NC_HLC_MAKE (100, NC_HLC_LOGICAL_MASK));
  guint64 t = nc_hlc_now (&c, 100);
  g_assert_cmpuint (t, >, NC_HLC_MAKE (100, NC_HLC_LOGICAL_MASK));
  g_assert_cmpuint (NC_HLC_PHYSICAL_MS (t), ==, 101);
}

static void
test_hlc_observed_remote_orders_later_events (void)
{
  /* Region A's clock is ahead; B observes A's write, then writes: B's
   * timestamp must be larger although B's wall clock is behind. */
  NcHlc a, b;
  nc_hlc_init (&a, 0);
  nc_hlc_init (&b, 0);
  guint64 ta = nc_hlc_now (&a, 10000);
  nc_hlc_observe (&b, ta, 2000);
  guint64 tb = nc_hlc_now (&b, 2001);
  g_assert_cmpuint (tb, >, ta);
}

static void
test_hlc_compare_breaks_ties_by_region (void)
{
  g_assert_cmpint (nc_hlc_compare (5, "eu-west", 5, "us-east"), <, 0);
  g_assert_cmpint (nc_hlc_compare (5, "us-east", 5, "eu-west"), >, 0);
  g_assert_cmpint (nc_hlc_compare (6, "eu-west", 5, "us-east"), >, 0);
  g_assert_cmpint (nc_hlc_compare (5, "x", 5, "x"), ==, 0);
}

static void
test_epoch_roundtrip_and_rejects_garbage (void)
{
  NcRegionEpoch e = { 7, (char *) "eu-west" };
  g_autofree char *text = nc_region_epoch_format (&e);
  g_assert_cmpstr (text, ==, "7:eu-west");
  NcRegionEpoch back = { 0 };
  g_assert_true (nc_region_epoch_parse (text, &back, NULL));
  g_assert_cmpuint (back.epoch, ==, 7);
  g_assert_cmpstr (back.primary, ==, "eu-west");
  nc_region_epoch_clear (&back);
  const char *bad[] = { "", "7", ":eu", "x:eu", "7:", "7:a b", "-1:eu", NULL };
  for (guint i = 0; bad[i]; i++)
    {
      g_autoptr (GError) error = NULL;
      NcRegionEpoch out = { 0 };
      g_assert_false (nc_region_epoch_parse (bad[i], &out, &error));
      g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
    }
}

static void
test_epoch_merge_only_rises (void)
{
  NcRegionEpoch cur = { 3, g_strdup ("us-east") };
  NcRegionEpoch older = { 2, (char *) "eu-west" };
  NcRegionEpoch newer = { 4, (char *) "eu-west" };
  NcRegionEpoch clash = { 4, (char *) "ap-south" };
  gboolean changed;
  g_assert_true (nc_region_epoch_merge (&cur, &older, &changed, NULL));
  g_assert_false (changed);
  g_assert_cmpstr (cur.primary, ==, "us-east");
  g_assert_true (nc_region_epoch_merge (&cur, &newer, &changed, NULL));
  g_assert_true (changed);
  g_assert_cmpuint (cur.epoch, ==, 4);
  g_assert_cmpstr (cur.primary, ==, "eu-west");
  g_autoptr (GError) error = NULL;
  g_assert_false (nc_region_epoch_merge (&cur, &clash, &changed, &error));
  g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE);
  g_assert_cmpstr (cur.primary, ==, "eu-west");
  nc_region_epoch_clear (&cur);
}

static void
test_remote_regions_parse (void)
{
  g_autoptr (GPtrArray) p = nc_region_peers_parse ("eu-west:127.0.0.41:7688, ap:host.example:9000", "us-east", NULL);
  g_assert_nonnull (p);
  g_assert_cmpuint (p->len, ==, 2);
  NcRegionPeer *a = p->pdata[0];
  g_assert_cmpstr (a->region, ==, "eu-west");
  g_assert_cmpstr (a->host, ==, "127.0.0.41");
  g_assert_cmpuint (a->port, ==, 7688);
  const char *bad[] = { "eu-west", "eu-west:h", "eu-west:h:0", "eu-west:h:70000", "us-east:h:1",
                        "a:h:1,a:h:2", ":h:1", NULL };
  for (guint i = 0; bad[i]; i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_null (nc_region_peers_parse (bad[i], "us-east", &error));
      g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
    }
}

static void
test_consistency_names (void)
{
  NcReadConsistency c;
  g_assert_true (nc_read_consistency_parse ("local_quorum", &c, NULL));
  g_assert_cmpint (c, ==, NC_READ_LOCAL_QUORUM);
  g_assert_cmpstr (nc_read_consistency_name (NC_READ_ALL), ==, "ALL");
  g_autoptr (GError) error = NULL;
  g_assert_false (nc_read_consistency_parse ("TWO", &c, &error));
  g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/region/hlc/monotonic-when-wall-clock-stalls", test_hlc_monotonic_when_wall_clock_stalls);
  g_test_add_func ("/nornic/region/hlc/never-goes-back-with-the-clock", test_hlc_never_goes_back_with_clock);
  g_test_add_func ("/nornic/region/hlc/persisted-floor-survives-restart", test_hlc_floor_survives_restart);
  g_test_add_func ("/nornic/region/hlc/logical-overflow-borrows-a-millisecond", test_hlc_logical_overflow_borrows_millisecond);
  g_test_add_func ("/nornic/region/hlc/observed-remote-orders-later-events", test_hlc_observed_remote_orders_later_events);
  g_test_add_func ("/nornic/region/hlc/compare-breaks-ties-by-region", test_hlc_compare_breaks_ties_by_region);
  g_test_add_func ("/nornic/region/epoch/roundtrip-and-rejects-garbage", test_epoch_roundtrip_and_rejects_garbage);
  g_test_add_func ("/nornic/region/epoch/merge-only-rises", test_epoch_merge_only_rises);
  g_test_add_func ("/nornic/region/config/remote-regions-parse", test_remote_regions_parse);
  g_test_add_func ("/nornic/region/config/consistency-names", test_consistency_names);
  return g_test_run ();
}
