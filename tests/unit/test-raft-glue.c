/* raft.so's log-entry codec: no-op and membership entries are WAL records
 * the store applies as nothing, and they are told apart from ordinary
 * write-sets when read back (modules/raft/raft-glue-codec.c). */
#include <glib.h>

#include "raft-glue-codec.h"
#include "store.h"
#include "writeset.h"

static GBytes *
membership_bytes (void)
{
  g_autoptr (NcRaftMembership) m = nc_raft_membership_new ();
  nc_raft_membership_set (m, "node-1", "127.0.0.21:7688", TRUE);
  nc_raft_membership_set (m, "node-4", "127.0.0.24:7688", FALSE);
  return nc_raft_membership_encode (m);
}

static void
test_meta_records_apply_as_nothing (void)
{
  g_autoptr (GBytes) conf = membership_bytes ();
  g_autoptr (NcRaftEntry) noop = nc_raft_entry_new (1, 1, NC_RAFT_ENTRY_NOOP, NULL);
  g_autoptr (NcRaftEntry) cc = nc_raft_entry_new (2, 1, NC_RAFT_ENTRY_CONF_CHANGE, conf);
  NcRaftEntry *entries[] = { noop, cc };
  NcStore *store = nc_store_new ();
  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      g_autoptr (GBytes) rec = nc_raft_glue_entry_to_record (entries[i]);
      gsize len;
      const guint8 *d = g_bytes_get_data (rec, &len);
      g_autoptr (GError) error = NULL;
      g_autoptr (NcWriteSet) ws = nc_writeset_decode (d, len, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (nc_writeset_len (ws), ==, 1);
      g_assert_true (nc_store_apply_writeset (store, ws, i + 1, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (nc_store_applied_index (store), ==, 2);
  NcTxn *r = nc_store_begin_read (store);
  g_assert_cmpint (nc_txn_count_nodes (r, NC_TOKEN_NONE), ==, 0);
  g_assert_cmpint (nc_txn_count_rels (r), ==, 0);
  nc_txn_rollback (r);
  nc_store_free (store);
}

static void
test_records_round_trip_to_entry_types (void)
{
  g_autoptr (GBytes) conf = membership_bytes ();
  g_autoptr (NcRaftEntry) cc = nc_raft_entry_new (7, 3, NC_RAFT_ENTRY_CONF_CHANGE, conf);
  g_autoptr (GBytes) rec = nc_raft_glue_entry_to_record (cc);
  g_autoptr (NcRaftEntry) back = nc_raft_glue_entry_from_record (7, 3, rec);
  g_assert_cmpint (back->type, ==, NC_RAFT_ENTRY_CONF_CHANGE);
  g_assert_cmpuint (back->index, ==, 7);
  g_assert_cmpuint (back->term, ==, 3);
  g_assert_true (g_bytes_equal (back->data, conf));
  g_autoptr (NcRaftMembership) m = nc_raft_membership_decode (back->data, NULL);
  g_assert_nonnull (m);
  g_assert_false (nc_raft_membership_is_voter (m, "node-4"));

  g_autoptr (NcRaftEntry) noop = nc_raft_entry_new (8, 3, NC_RAFT_ENTRY_NOOP, NULL);
  g_autoptr (GBytes) nrec = nc_raft_glue_entry_to_record (noop);
  g_autoptr (NcRaftEntry) nback = nc_raft_glue_entry_from_record (8, 3, nrec);
  g_assert_cmpint (nback->type, ==, NC_RAFT_ENTRY_NOOP);
  g_assert_null (nback->data);
}

static void
test_ordinary_writesets_stay_normal (void)
{
  /* a transaction's write-set, and one whose only effect is some other META */
  g_autoptr (NcWriteSet) ws = nc_writeset_new ();
  NcEffect e = { .kind = NC_EFFECT_CREATE_NODE, .id = 1 };
  nc_writeset_append (ws, &e);
  g_autoptr (GBytes) enc = nc_writeset_encode (ws);
  g_autoptr (NcRaftEntry) a = nc_raft_glue_entry_from_record (5, 2, enc);
  g_assert_cmpint (a->type, ==, NC_RAFT_ENTRY_NORMAL);
  g_assert_true (g_bytes_equal (a->data, enc));
  g_autoptr (GBytes) rec = nc_raft_glue_entry_to_record (a);
  g_assert_true (g_bytes_equal (rec, enc));

  g_autoptr (GBytes) other = nc_raft_glue_meta_writeset ("users", NULL);
  g_autoptr (NcRaftEntry) b = nc_raft_glue_entry_from_record (6, 2, other);
  g_assert_cmpint (b->type, ==, NC_RAFT_ENTRY_NORMAL);

  /* a prefix of the no-op key is not the no-op key */
  g_autoptr (GBytes) prefix = nc_raft_glue_meta_writeset ("raft.no", NULL);
  g_autoptr (NcRaftEntry) c = nc_raft_glue_entry_from_record (7, 2, prefix);
  g_assert_cmpint (c->type, ==, NC_RAFT_ENTRY_NORMAL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/raft-glue/meta-records-apply-as-nothing", test_meta_records_apply_as_nothing);
  g_test_add_func ("/nornic/raft-glue/records-round-trip-to-entry-types", test_records_round_trip_to_entry_types);
  g_test_add_func ("/nornic/raft-glue/ordinary-writesets-stay-normal", test_ordinary_writesets_stay_normal);
  return g_test_run ();
}
