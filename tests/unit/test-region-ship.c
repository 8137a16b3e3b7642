/* Unit tests: the shipping cursor toward a remote region, the receiver's
 * continuity check and the read consistency decisions
 * (modules/multi_region/region-ship.c). */
#include "region.h"

static void
test_ships_in_windows_up_to_commit (void)
{
  NcRegionShipper *s = nc_region_shipper_new ("eu-west", "127.0.0.41:7688", 0);
  guint64 from, to;
  g_assert_false (nc_region_shipper_next (s, 0, 64, &from, &to));
  g_assert_true (nc_region_shipper_next (s, 100, 64, &from, &to));
  g_assert_cmpuint (from, ==, 1);
  g_assert_cmpuint (to, ==, 64);
  nc_region_shipper_mark_sent (s, to, 1);
  /* The window is full until an ack arrives. */
  g_assert_false (nc_region_shipper_next (s, 100, 64, &from, &to));
  g_assert_true (nc_region_shipper_ack (s, TRUE, 64, NULL));
  g_assert_true (nc_region_shipper_next (s, 100, 64, &from, &to));
  g_assert_cmpuint (from, ==, 65);
  g_assert_cmpuint (to, ==, 100);
  g_assert_cmpuint (nc_region_shipper_lag_entries (s, 100), ==, 36);
  nc_region_shipper_free (s);
}

static void
test_resumes_from_persisted_position_after_disconnect (void)
{
  /* Restart: the persisted acknowledged index is where shipping resumes,
   * so nothing acknowledged is sent again and nothing after it is skipped. */
  NcRegionShipper *s = nc_region_shipper_new ("eu-west", "a:1", 40);
  guint64 from, to;
  g_assert_true (nc_region_shipper_next (s, 50, 64, &from, &to));
  g_assert_cmpuint (from, ==, 41);
  nc_region_shipper_mark_sent (s, 50, 1);
  /* Link cut before the ack: resend the same range. */
  nc_region_shipper_rewind (s, FALSE);
  g_assert_true (nc_region_shipper_next (s, 50, 64, &from, &to));
  g_assert_cmpuint (from, ==, 41);
  g_assert_cmpuint (to, ==, 50);
  nc_region_shipper_free (s);
}

static void
test_redirect_retargets_and_is_bounded (void)
{
  NcRegionShipper *s = nc_region_shipper_new ("eu-west", "127.0.0.42:7688", 10);
  nc_region_shipper_mark_sent (s, 20, 1);
  g_assert_false (nc_region_shipper_ack (s, FALSE, 0, "127.0.0.41:7688"));
  g_assert_cmpstr (s->target, ==, "127.0.0.41:7688");
  /* A redirect says nothing about the leader's position: resend from ours. */
  g_assert_cmpuint (s->sent, ==, 10);
  for (guint i = 0; i < NC_REGION_SHIP_MAX_REDIRECTS; i++)
    nc_region_shipper_ack (s, FALSE, 0, i % 2 ? "127.0.0.41:7688" : "127.0.0.43:7688");
  /* Redirect loops (e.g. during an election there) end at the configured address. */
  g_assert_cmpstr (s->target, ==, "127.0.0.42:7688");
  nc_region_shipper_rewind (s, TRUE);
  g_assert_cmpstr (s->target, ==, "127.0.0.42:7688");
  nc_region_shipper_free (s);
}

static void
test_gap_rewinds_to_receiver_position (void)
{
  NcRegionShipper *s = nc_region_shipper_new ("eu-west", "a:1", 30);
  nc_region_shipper_mark_sent (s, 60, 1);
  /* The receiver only has 25 (its region restored an old state). */
  g_assert_false (nc_region_shipper_ack (s, FALSE, 25, NULL));
  guint64 from, to;
  g_assert_true (nc_region_shipper_next (s, 60, 64, &from, &to));
  g_assert_cmpuint (from, ==, 26);
  g_assert_cmpuint (s->acked, ==, 30);
  /* An old, smaller ack never moves the acknowledged position back. */
  g_assert_false (nc_region_shipper_ack (s, TRUE, 5, NULL));
  g_assert_cmpuint (s->acked, ==, 30);
  nc_region_shipper_free (s);
}

static void
test_receiver_refuses_gaps_accepts_overlaps (void)
{
  g_assert_cmpint (nc_region_receive_check (10, 10), ==, NC_REGION_RECEIVE_OK);
  g_assert_cmpint (nc_region_receive_check (10, 4), ==, NC_REGION_RECEIVE_OK); /* resend after leader change */
  g_assert_cmpint (nc_region_receive_check (10, 11), ==, NC_REGION_RECEIVE_GAP);
}

/* A new target (a new leader's shipper, a redirect) may drop the first
 * batch while its connection is dialled: until it answers, the batch is
 * resent after NC_REGION_FIRST_CONTACT_US, a bounded number of times;
 * once it answered, only the ack time-out resends. */
static void
test_unanswered_first_contact_is_resent_quickly (void)
{
  NcRegionShipper *s = nc_region_shipper_new ("eu-west", "127.0.0.41:7688", 0);
  gint64 t = 1000;
  guint64 from, to;
  g_assert_true (nc_region_shipper_next (s, 10, 64, &from, &to));
  nc_region_shipper_mark_sent (s, to, t);
  g_assert_false (nc_region_shipper_quick_resend (s, t + NC_REGION_FIRST_CONTACT_US));
  for (guint k = 0; k < NC_REGION_SHIP_QUICK_RESENDS; k++)
    {
      t += NC_REGION_FIRST_CONTACT_US + 1;
      g_assert_true (nc_region_shipper_quick_resend (s, t));
      nc_region_shipper_rewind (s, FALSE);
      g_assert_cmpstr (s->target, ==, "127.0.0.41:7688");
      g_assert_true (nc_region_shipper_next (s, 10, 64, &from, &to));
      g_assert_cmpuint (from, ==, 1);
      nc_region_shipper_mark_sent (s, to, t);
    }
  /* Bounded: a target that never answers waits for the ack time-out. */
  g_assert_false (nc_region_shipper_quick_resend (s, t + NC_REGION_ACK_TIMEOUT_US / 2));

  /* A redirect names a new target: quick resends again until it answers. */
  nc_region_shipper_ack (s, FALSE, 0, "127.0.0.42:7688");
  g_assert_true (nc_region_shipper_next (s, 10, 64, &from, &to));
  nc_region_shipper_mark_sent (s, to, t);
  g_assert_true (nc_region_shipper_quick_resend (s, t + NC_REGION_FIRST_CONTACT_US + 1));
  nc_region_shipper_rewind (s, FALSE);
  g_assert_true (nc_region_shipper_next (s, 10, 64, &from, &to));
  nc_region_shipper_mark_sent (s, 5, t);
  g_assert_false (nc_region_shipper_ack (s, TRUE, 0, NULL));
  /* It answered: a slow ack is not resent before the ack time-out. */
  g_assert_false (nc_region_shipper_quick_resend (s, t + NC_REGION_FIRST_CONTACT_US + 1));
  nc_region_shipper_free (s);
}

static void
test_consistency_actions (void)
{
  g_assert_cmpint (nc_read_consistency_action (NC_READ_ONE, FALSE, FALSE), ==, NC_READ_ACTION_LOCAL);
  g_assert_cmpint (nc_read_consistency_action (NC_READ_LOCAL_ONE, FALSE, TRUE), ==, NC_READ_ACTION_LOCAL);
  g_assert_cmpint (nc_read_consistency_action (NC_READ_LOCAL_QUORUM, FALSE, FALSE), ==, NC_READ_ACTION_LOCAL_READ_INDEX);
  g_assert_cmpint (nc_read_consistency_action (NC_READ_QUORUM, FALSE, TRUE), ==, NC_READ_ACTION_LOCAL_READ_INDEX);
  g_assert_cmpint (nc_read_consistency_action (NC_READ_QUORUM, FALSE, FALSE), ==, NC_READ_ACTION_NOT_PRIMARY);
  g_assert_cmpint (nc_read_consistency_action (NC_READ_ALL, FALSE, TRUE), ==, NC_READ_ACTION_ALL_REGIONS);
  g_assert_cmpint (nc_read_consistency_action (NC_READ_ALL, FALSE, FALSE), ==, NC_READ_ACTION_NOT_PRIMARY);
  g_assert_cmpint (nc_read_consistency_action (NC_READ_QUORUM, TRUE, FALSE), ==, NC_READ_ACTION_LOCAL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/region/ship/sends-in-windows-up-to-commit", test_ships_in_windows_up_to_commit);
  g_test_add_func ("/nornic/region/ship/resumes-from-persisted-position-after-disconnect", test_resumes_from_persisted_position_after_disconnect);
  g_test_add_func ("/nornic/region/ship/redirect-retargets-and-is-bounded", test_redirect_retargets_and_is_bounded);
  g_test_add_func ("/nornic/region/ship/gap-rewinds-to-receiver-position", test_gap_rewinds_to_receiver_position);
  g_test_add_func ("/nornic/region/ship/receiver-refuses-gaps-accepts-overlaps", test_receiver_refuses_gaps_accepts_overlaps);
  g_test_add_func ("/nornic/region/ship/unanswered-first-contact-is-resent-quickly",
                   test_unanswered_first_contact_is_resent_quickly);
  g_test_add_func ("/nornic/region/consistency/actions-per-level", test_consistency_actions);
  return g_test_run ();
}
