#include "store.h"
#include "errors.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------- */

typedef struct {
  NcStore *store;
  NcLsn lsn;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->store = nc_store_new ();
  f->lsn = 0;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  nc_store_free (f->store);
}

static NcToken
label (Fixture *f, const char *name)
{
  return nc_store_token (f->store, NC_TOKEN_LABEL, name, TRUE);
}

static NcToken
key (Fixture *f, const char *name)
{
  return nc_store_token (f->store, NC_TOKEN_PROP_KEY, name, TRUE);
}

static NcToken
rtype (Fixture *f, const char *name)
{
  return nc_store_token (f->store, NC_TOKEN_REL_TYPE, name, TRUE);
}

/* Commits with the next index and publishes it. */
static NcLsn
commit (Fixture *f, NcTxn *txn)
{
  f->lsn++;
  nc_txn_commit (txn, f->lsn);
  nc_store_publish (f->store, f->lsn);
  return f->lsn;
}

static NcMap *
map1 (const char *k, NcValue v)
{
  NcMap *m = nc_map_new (1);
  nc_map_append (m, k, v);
  return m;
}

static gint64
prop_int (NcTxn *txn, NcNodeId id, NcToken k)
{
  g_auto (NcValue) v = nc_txn_node_prop (txn, id, k);
  g_assert_cmpint (v.type, ==, NC_VALUE_INT);
  return v.u.i;
}

static int
cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

/* Drains a cursor into a sorted array (and frees it). */
static GArray *
drain (NcCursor *cur)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  gint64 id;
  guint guard = 0;
  while (nc_cursor_next (cur, &id))
    {
      g_array_append_val (ids, id);
      g_assert_cmpuint (++guard, <, 10000000);
    }
  nc_cursor_free (cur);
  g_array_sort (ids, cmp_i64);
  return ids;
}

static void
assert_ids (GArray *ids, guint n, ...)
{
  va_list ap;
  g_assert_cmpuint (ids->len, ==, n);
  va_start (ap, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (g_array_index (ids, gint64, i), ==, va_arg (ap, gint64));
  va_end (ap);
}

static void
assert_same_ids (GArray *a, GArray *b)
{
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    g_assert_cmpint (g_array_index (a, gint64, i), ==, g_array_index (b, gint64, i));
}

static NcNodeId
create_node (NcTxn *txn, NcToken lbl, NcToken k, gint64 value)
{
  g_autoptr (GError) error = NULL;
  NcNodeId id = nc_txn_create_node (txn, lbl == NC_TOKEN_NONE ? NULL : &lbl, lbl == NC_TOKEN_NONE ? 0 : 1,
                                    NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (id, >=, 0);
  if (k != NC_TOKEN_NONE)
    {
      NcValue v = nc_value_int (value);
      g_assert_true (nc_txn_set_node_prop (txn, id, k, &v, &error));
      g_assert_no_error (error);
    }
  return id;
}

static void
set_int (NcTxn *txn, NcNodeId id, NcToken k, gint64 value)
{
  g_autoptr (GError) error = NULL;
  NcValue v = nc_value_int (value);
  g_assert_true (nc_txn_set_node_prop (txn, id, k, &v, &error));
  g_assert_no_error (error);
}

/* ---- visibility ---------------------------------------------------------- */

static void
test_reader_does_not_see_later_commits (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x");
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, x, 1);
  commit (f, w);

  NcTxn *r = nc_store_begin_read (f->store);
  g_assert_cmpuint (nc_txn_snapshot (r), ==, 1);

  w = nc_store_begin_write (f->store);
  set_int (w, a, x, 2);
  NcNodeId b = create_node (w, NC_TOKEN_NONE, x, 3);
  commit (f, w);

  g_assert_cmpint (prop_int (r, a, x), ==, 1);
  g_assert_false (nc_txn_node_exists (r, b));
  g_autoptr (GArray) ids = drain (nc_txn_scan_nodes (r, NC_TOKEN_NONE));
  assert_ids (ids, 1, a);
  g_assert_cmpint (nc_txn_count_nodes (r, NC_TOKEN_NONE), ==, 1);
  nc_txn_rollback (r);

  NcTxn *r2 = nc_store_begin_read (f->store);
  g_assert_cmpint (prop_int (r2, a, x), ==, 2);
  g_assert_true (nc_txn_node_exists (r2, b));
  g_assert_cmpint (nc_txn_count_nodes (r2, NC_TOKEN_NONE), ==, 2);
  nc_txn_commit (r2, 0);
}

static void
test_reader_does_not_see_uncommitted (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x");
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, x, 1);
  commit (f, w);

  w = nc_store_begin_write (f->store);
  set_int (w, a, x, 2);
  NcNodeId b = create_node (w, NC_TOKEN_NONE, x, 3);
  NcTxn *r = nc_store_begin_read (f->store);
  g_assert_cmpint (prop_int (r, a, x), ==, 1);
  g_assert_false (nc_txn_node_exists (r, b));

  /* committed but not yet published (not durable): still invisible */
  nc_txn_commit (w, 2);
  NcTxn *r2 = nc_store_begin_read (f->store);
  g_assert_false (nc_txn_node_exists (r2, b));
  g_assert_cmpint (prop_int (r2, a, x), ==, 1);
  g_assert_cmpint (nc_txn_count_nodes (r2, NC_TOKEN_NONE), ==, 1);
  g_assert_cmpuint (nc_store_applied_index (f->store), ==, 2);
  g_assert_cmpuint (nc_store_visible_index (f->store), ==, 1);

  /* the next writer does see it (it is ordered after it) */
  NcTxn *w2 = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_node_exists (w2, b));
  nc_txn_rollback (w2);

  nc_store_publish (f->store, 2);
  g_assert_false (nc_txn_node_exists (r2, b));
  NcTxn *r3 = nc_store_begin_read (f->store);
  g_assert_true (nc_txn_node_exists (r3, b));
  nc_txn_rollback (r3);
  nc_txn_rollback (r2);
  nc_txn_rollback (r);
}

static void
test_writer_sees_its_pending_writes (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x"), person = label (f, "Person");
  NcTxn *w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_is_write (w));
  NcNodeId a = create_node (w, person, x, 7);
  g_assert_true (nc_txn_node_exists (w, a));
  g_assert_true (nc_txn_node_has_label (w, a, person));
  g_assert_cmpint (prop_int (w, a, x), ==, 7);
  g_assert_cmpint (nc_txn_count_nodes (w, person), ==, 1);
  g_autoptr (GArray) ids = drain (nc_txn_scan_nodes (w, person));
  assert_ids (ids, 1, a);
  set_int (w, a, x, 8);
  g_assert_cmpint (prop_int (w, a, x), ==, 8);
  /* modifications of a pending version happen in place */
  g_assert_cmpuint (nc_store_debug_chain_length (f->store, FALSE, a), ==, 1);
  commit (f, w);
}

static void
test_rollback_restores_previous_versions (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x"), person = label (f, "Person"), admin = label (f, "Admin");
  NcToken knows = rtype (f, "KNOWS");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, person, x, 1);
  NcNodeId b = create_node (w, person, x, 2);
  commit (f, w);

  w = nc_store_begin_write (f->store);
  set_int (w, a, x, 100);
  g_assert_true (nc_txn_add_label (w, a, admin, &error));
  g_assert_true (nc_txn_remove_label (w, b, person, &error));
  NcNodeId c = create_node (w, person, x, 3);
  NcRelId r = nc_txn_create_rel (w, knows, a, b, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (nc_txn_delete_node (w, c, FALSE, &error));
  g_assert_cmpint (nc_txn_count_nodes (w, person), ==, 1);
  g_assert_cmpint (nc_txn_count_rels (w), ==, 1);
  nc_txn_rollback (w);

  w = nc_store_begin_write (f->store);
  g_assert_cmpint (prop_int (w, a, x), ==, 1);
  g_assert_false (nc_txn_node_has_label (w, a, admin));
  g_assert_true (nc_txn_node_has_label (w, b, person));
  g_assert_false (nc_txn_node_exists (w, c));
  g_assert_false (nc_txn_rel_exists (w, r));
  g_assert_cmpint (nc_txn_node_degree (w, a, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 0);
  g_assert_cmpint (nc_txn_count_nodes (w, person), ==, 2);
  g_assert_cmpint (nc_txn_count_nodes (w, NC_TOKEN_NONE), ==, 2);
  g_assert_cmpint (nc_txn_count_rels (w), ==, 0);
  g_assert_cmpuint (nc_store_debug_chain_length (f->store, FALSE, a), ==, 1);
  /* rolled-back ids are burnt, never reused */
  NcNodeId d = create_node (w, person, x, 4);
  g_assert_cmpint (d, >, c);
  commit (f, w);
}

static void
test_delete_is_invisible_after_commit_only (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, x, 1);
  commit (f, w);

  NcTxn *before = nc_store_begin_read (f->store);
  w = nc_store_begin_write (f->store);
  g_assert_false (nc_txn_deleted_in_txn (w, FALSE, a));
  g_assert_true (nc_txn_delete_node (w, a, FALSE, &error));
  g_assert_false (nc_txn_node_exists (w, a));
  g_assert_true (nc_txn_deleted_in_txn (w, FALSE, a));
  g_assert_false (nc_txn_deleted_in_txn (before, FALSE, a));
  /* deleting again in the same transaction is a no-op */
  g_assert_true (nc_txn_delete_node (w, a, FALSE, &error));
  /* writing to it is an error */
  NcValue v = nc_value_int (5);
  g_assert_false (nc_txn_set_node_prop (w, a, x, &v, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "Node with id 0 has been deleted in this transaction");
  g_clear_error (&error);
  g_assert_true (nc_txn_node_exists (before, a));
  commit (f, w);

  g_assert_true (nc_txn_node_exists (before, a));
  g_assert_cmpint (prop_int (before, a, x), ==, 1);
  NcTxn *after = nc_store_begin_read (f->store);
  g_assert_false (nc_txn_node_exists (after, a));
  g_auto (NcValue) m = nc_txn_materialise_node (after, a);
  g_assert_cmpint (m.type, ==, NC_VALUE_NULL);
  g_assert_null (nc_txn_node_props (after, a));
  g_assert_null (nc_txn_node_labels (after, a));
  nc_txn_rollback (after);
  nc_txn_rollback (before);
}

/* Relationship visibility is decided from the slot when the head version
 * is committed at or before a reader's snapshot (RelSlot.head_lsn): a
 * relationship created, or deleted, by a transaction that is open, or
 * committed but not published, must not change what a reader sees, by id
 * or by expanding its nodes. */
static gint64
expand_count (NcTxn *txn, NcNodeId id)
{
  g_autoptr (NcCursor) c = nc_txn_expand (txn, id, NC_DIR_BOTH, NULL, 0);
  gint64 n = 0, rel;
  while (nc_cursor_next (c, &rel))
    n++;
  return n;
}

static void
test_relationship_visibility_follows_snapshots (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = nc_txn_create_node (w, NULL, 0, NULL, &error);
  NcNodeId b = nc_txn_create_node (w, NULL, 0, NULL, &error);
  commit (f, w);

  w = nc_store_begin_write (f->store);
  NcRelId r = nc_txn_create_rel (w, rtype (f, "R"), a, b, NULL, &error);
  g_assert_no_error (error);
  NcTxn *before = nc_store_begin_read (f->store);
  g_assert_false (nc_txn_rel_exists (before, r));
  g_assert_cmpint (expand_count (before, a), ==, 0);
  nc_txn_commit (w, ++f->lsn); /* committed, not yet published */
  NcTxn *unpublished = nc_store_begin_read (f->store);
  g_assert_false (nc_txn_rel_exists (unpublished, r));
  g_assert_cmpint (expand_count (unpublished, b), ==, 0);
  nc_store_publish (f->store, f->lsn);
  NcTxn *after = nc_store_begin_read (f->store);
  g_assert_true (nc_txn_rel_exists (after, r));
  g_assert_cmpint (expand_count (after, a), ==, 1);
  g_assert_false (nc_txn_rel_exists (before, r));

  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_delete_rel (w, r, &error));
  g_assert_cmpint (expand_count (w, a), ==, 0);
  g_assert_true (nc_txn_rel_exists (after, r));
  g_assert_cmpint (expand_count (after, b), ==, 1);
  commit (f, w);
  g_assert_true (nc_txn_rel_exists (after, r));
  g_assert_cmpint (expand_count (after, a), ==, 1);
  NcTxn *latest = nc_store_begin_read (f->store);
  g_assert_false (nc_txn_rel_exists (latest, r));
  g_assert_cmpint (expand_count (latest, a), ==, 0);
  nc_txn_rollback (latest);
  nc_txn_rollback (after);
  nc_txn_rollback (unpublished);
  nc_txn_rollback (before);
}

/* Label scans, an expand's far-node checks and property reads answer from
 * the node hot array and the property columns when the head is the version
 * a transaction sees (store.c, node_sync). These check that every write
 * path keeps them equal to the versions: a pending change, a rollback, a
 * commit before and after publication, a delete, a second label (which
 * the hot array does not hold), truncation, a clear, and more keys than
 * there are columns. Each view is compared with what an older reader or
 * the writer must see. */
static char *
scan_text (NcTxn *txn, NcToken lbl, NcToken k, gint64 above)
{
  g_autoptr (NcCursor) c = nc_txn_scan_nodes (txn, lbl);
  NcValue lo = nc_value_int (above);
  g_assert_true (nc_cursor_filter_range (c, k, &lo, FALSE, NULL, FALSE));
  g_assert_true (nc_cursor_fetch_prop (c, k));
  GString *out = g_string_new (NULL);
  gint64 id;
  while (nc_cursor_next (c, &id))
    {
      const NcValue *v = nc_cursor_prop (c);
      g_string_append_printf (out, "%s%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, out->len ? " " : "", id,
                              v != NULL && v->type == NC_VALUE_INT ? v->u.i : -1);
    }
  return g_string_free (out, FALSE);
}

static char *
expand_text (NcTxn *txn, NcNodeId from, NcToken lbl, NcToken k, gint64 above)
{
  g_autoptr (NcCursor) c = nc_txn_expand_to_label (txn, from, NC_DIR_OUT, NULL, 0, lbl);
  NcValue lo = nc_value_int (above);
  g_assert_true (nc_cursor_filter_range (c, k, &lo, FALSE, NULL, FALSE));
  GString *out = g_string_new (NULL);
  gint64 rel;
  while (nc_cursor_next (c, &rel))
    g_string_append_printf (out, "%s%" G_GINT64_FORMAT, out->len ? " " : "", nc_cursor_rel_other (c));
  return g_string_free (out, FALSE);
}

static gint64
interned_int (NcStore *s, NcTxn *txn, NcNodeId id, NcToken k, gboolean *visible)
{
  g_auto (NcValue) v = nc_txn_prop_interned (txn, FALSE, id, nc_store_key_string (s, k), visible);
  return v.type == NC_VALUE_INT ? v.u.i : -1;
}

#define assert_text(call, expected) \
  G_STMT_START { g_autofree char *_t = (call); g_assert_cmpstr (_t, ==, (expected)); } G_STMT_END

static void
test_property_columns_follow_every_write_path (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcToken P = label (f, "P"), Q = label (f, "Q"), x = key (f, "x"), R = rtype (f, "R");
  gboolean vis;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId hub = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId n[3];
  for (int i = 0; i < 3; i++)
    {
      /* with its properties in one effect: no later set to sync the node */
      g_autoptr (NcMap) props = map1 ("x", nc_value_int (10 * (i + 1)));
      n[i] = nc_txn_create_node (w, &P, 1, props, &error);
      g_assert_no_error (error);
      nc_txn_create_rel (w, R, hub, n[i], NULL, &error);
      g_assert_no_error (error);
    }
  assert_text (scan_text (w, P, x, 8), "1:10 2:20 3:30");
  commit (f, w);
  NcTxn *r1 = nc_store_begin_read (f->store);
  assert_text (scan_text (r1, P, x, 8), "1:10 2:20 3:30");
  assert_text (expand_text (r1, hub, P, x, 8), "1 2 3");

  /* a pending change: the writer sees it, a reader does not; rollback */
  w = nc_store_begin_write (f->store);
  set_int (w, n[0], x, 5);
  assert_text (scan_text (w, P, x, 8), "2:20 3:30");
  assert_text (expand_text (w, hub, P, x, 8), "2 3");
  g_assert_cmpint (interned_int (f->store, w, n[0], x, &vis), ==, 5);
  NcTxn *during = nc_store_begin_read (f->store);
  assert_text (scan_text (during, P, x, 8), "1:10 2:20 3:30");
  assert_text (expand_text (during, hub, P, x, 8), "1 2 3");
  g_assert_cmpint (interned_int (f->store, during, n[0], x, &vis), ==, 10);
  nc_txn_rollback (during);
  nc_txn_rollback (w);
  w = nc_store_begin_write (f->store);
  assert_text (scan_text (w, P, x, 8), "1:10 2:20 3:30");
  g_assert_cmpint (interned_int (f->store, w, n[0], x, &vis), ==, 10);

  /* set, delete, a second label; committed, then published */
  set_int (w, n[0], x, 5);
  g_assert_true (nc_txn_delete_node (w, n[1], TRUE, &error));
  g_assert_true (nc_txn_add_label (w, n[2], Q, &error));
  assert_text (scan_text (w, P, x, 4), "1:5 3:30");
  assert_text (scan_text (w, Q, x, 4), "3:30");
  assert_text (expand_text (w, hub, P, x, 4), "1 3");
  g_assert_cmpint (interned_int (f->store, w, n[1], x, &vis), ==, -1);
  g_assert_false (vis);
  nc_txn_commit (w, ++f->lsn);
  NcTxn *unpublished = nc_store_begin_read (f->store);
  assert_text (scan_text (unpublished, P, x, 8), "1:10 2:20 3:30");
  nc_store_publish (f->store, f->lsn);
  NcTxn *r2 = nc_store_begin_read (f->store);
  assert_text (scan_text (r2, P, x, 8), "3:30");
  assert_text (scan_text (r2, Q, x, 8), "3:30");
  assert_text (expand_text (r2, hub, P, x, 4), "1 3");
  g_assert_cmpint (interned_int (f->store, r2, n[1], x, &vis), ==, -1);
  g_assert_false (vis);
  g_assert_cmpint (interned_int (f->store, r1, n[1], x, &vis), ==, 20);
  g_assert_true (vis);
  assert_text (scan_text (r1, P, x, 8), "1:10 2:20 3:30");
  assert_text (expand_text (r1, hub, P, x, 8), "1 2 3");
  nc_txn_rollback (r2);
  nc_txn_rollback (unpublished);

  /* back to one label, a new value */
  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_remove_label (w, n[2], Q, &error));
  assert_text (scan_text (w, Q, x, 8), "");
  set_int (w, n[2], x, 40);
  g_assert_true (nc_txn_remove_label (w, n[0], P, &error));
  assert_text (scan_text (w, P, x, 4), "3:40");
  commit (f, w);
  NcLsn published = f->lsn;
  NcTxn *r3 = nc_store_begin_read (f->store);
  assert_text (scan_text (r3, P, x, 8), "3:40");
  assert_text (scan_text (r3, Q, x, 8), "");
  nc_txn_rollback (r3);
  nc_txn_rollback (r1);

  /* an unpublished tail is truncated: the columns go back with it */
  w = nc_store_begin_write (f->store);
  set_int (w, n[2], x, 50);
  set_int (w, n[0], x, 60);
  nc_txn_commit (w, ++f->lsn);
  nc_store_truncate_after (f->store, published);
  f->lsn = published;
  w = nc_store_begin_write (f->store);
  assert_text (scan_text (w, P, x, 8), "3:40");
  g_assert_cmpint (interned_int (f->store, w, n[0], x, &vis), ==, 5);

  /* more keys than columns: the ones without a column read the versions */
  for (int k = 0; k < 10; k++)
    {
      g_autofree char *name = g_strdup_printf ("k%d", k);
      NcToken kt = key (f, name);
      set_int (w, n[2], kt, 100 + k);
    }
  commit (f, w);
  NcTxn *r4 = nc_store_begin_read (f->store);
  for (int k = 0; k < 10; k++)
    {
      g_autofree char *name = g_strdup_printf ("k%d", k);
      g_autofree char *want = g_strdup_printf ("3:%d", 100 + k);
      assert_text (scan_text (r4, P, key (f, name), 0), want);
      g_assert_cmpint (interned_int (f->store, r4, n[2], key (f, name), &vis), ==, 100 + k);
    }
  nc_txn_rollback (r4);

  /* a clear drops the columns; the next scan builds them again */
  nc_store_clear (f->store);
  w = nc_store_begin_write (f->store);
  NcNodeId again = create_node (w, P, x, 70);
  commit (f, w);
  NcTxn *r5 = nc_store_begin_read (f->store);
  g_autofree char *want = g_strdup_printf ("%" G_GINT64_FORMAT ":70", again);
  assert_text (scan_text (r5, P, x, 8), want);
  nc_txn_rollback (r5);
}

static void
test_read_transaction_cannot_write (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcTxn *r = nc_store_begin_read (f->store);
  g_assert_false (nc_txn_is_write (r));
  g_assert_cmpint (nc_txn_create_node (r, NULL, 0, NULL, &error), <, 0);
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_READ_ONLY);
  nc_store_error_to_nc_error (&error);
  g_assert_error (error, NC_ERROR, NC_ERROR_ACCESS_MODE);
  nc_txn_rollback (r);
}

typedef struct {
  NcStore *store;
  gint got_lock;   /* atomic */
} WriterThread;

static gpointer
second_writer (gpointer p)
{
  WriterThread *wt = p;
  NcTxn *w = nc_store_begin_write (wt->store);
  g_atomic_int_set (&wt->got_lock, 1);
  nc_txn_rollback (w);
  return NULL;
}

static void
test_single_writer_at_a_time (Fixture *f, gconstpointer data)
{
  WriterThread wt = { f->store, 0 };
  NcTxn *w = nc_store_begin_write (f->store);
  GThread *t = g_thread_new ("writer2", second_writer, &wt);
  g_usleep (100 * 1000);
  g_assert_cmpint (g_atomic_int_get (&wt.got_lock), ==, 0);
  /* readers are not blocked by the open writer */
  NcTxn *r = nc_store_begin_read (f->store);
  nc_txn_rollback (r);
  commit (f, w);
  g_thread_join (t);
  g_assert_cmpint (g_atomic_int_get (&wt.got_lock), ==, 1);
}

/* ---- cursors vs. concurrent commits -------------------------------------- */

static void
test_long_cursor_keeps_its_snapshot (Fixture *f, gconstpointer data)
{
  NcToken n = label (f, "N"), x = key (f, "x");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  for (int i = 0; i < 2000; i++)
    create_node (w, n, x, i);
  commit (f, w);

  NcTxn *r = nc_store_begin_read (f->store);
  NcCursor *all = nc_txn_scan_nodes (r, NC_TOKEN_NONE);
  NcCursor *byl = nc_txn_scan_nodes (r, n);
  GArray *seen_all = g_array_new (FALSE, FALSE, sizeof (gint64));
  GArray *seen_l = g_array_new (FALSE, FALSE, sizeof (gint64));
  gint64 id;
  for (int i = 0; i < 300; i++)
    {
      g_assert_true (nc_cursor_next (all, &id));
      g_array_append_val (seen_all, id);
      g_assert_true (nc_cursor_next (byl, &id));
      g_array_append_val (seen_l, id);
    }

  /* the writer is not blocked by the open cursors */
  w = nc_store_begin_write (f->store);
  for (gint64 i = 1000; i < 1500; i++)
    g_assert_true (nc_txn_delete_node (w, i, FALSE, &error));
  for (gint64 i = 0; i < 10; i++)
    g_assert_true (nc_txn_remove_label (w, i + 1900, n, &error));
  for (int i = 0; i < 500; i++)
    create_node (w, n, x, -i);
  set_int (w, 1999, x, -1);
  commit (f, w);

  while (nc_cursor_next (all, &id))
    g_array_append_val (seen_all, id);
  while (nc_cursor_next (byl, &id))
    g_array_append_val (seen_l, id);
  nc_cursor_free (all);
  nc_cursor_free (byl);
  g_assert_cmpuint (seen_all->len, ==, 2000);
  g_assert_cmpuint (seen_l->len, ==, 2000);
  for (guint i = 0; i < 2000; i++)
    {
      g_assert_cmpint (g_array_index (seen_all, gint64, i), ==, i);
      g_assert_cmpint (g_array_index (seen_l, gint64, i), ==, i);
    }
  g_assert_cmpint (prop_int (r, 1999, x), ==, 1999);
  g_assert_cmpint (nc_txn_count_nodes (r, n), ==, 2000);
  g_array_unref (seen_all);
  g_array_unref (seen_l);
  nc_txn_rollback (r);

  NcTxn *r2 = nc_store_begin_read (f->store);
  g_assert_cmpint (nc_txn_count_nodes (r2, n), ==, 1990);
  g_autoptr (GArray) now = drain (nc_txn_scan_nodes (r2, n));
  g_assert_cmpuint (now->len, ==, 1990);
  nc_txn_rollback (r2);
}

typedef struct {
  NcStore *store;
  NcToken x;
  gint done;        /* atomic */
} Churn;

static gpointer
churn_writer (gpointer p)
{
  Churn *c = p;
  for (guint64 lsn = 2; lsn < 52; lsn++)
    {
      g_autoptr (GError) error = NULL;
      NcTxn *w = nc_store_begin_write (c->store);
      for (gint64 id = 0; id < 100; id++)
        {
          NcValue v = nc_value_int ((gint64) lsn);
          g_assert_true (nc_txn_set_node_prop (w, id * 10, c->x, &v, &error));
        }
      g_assert_true (nc_txn_delete_node (w, (gint64) lsn * 10 + 1, FALSE, &error));
      nc_txn_commit (w, lsn);
      nc_store_publish (c->store, lsn);
    }
  g_atomic_int_set (&c->done, 1);
  return NULL;
}

/* A reader holds a cursor open until a writer thread has made 50 commits:
 * the writer must never wait for the reader, and the reader's results stay
 * those of its snapshot. */
static void
test_writer_commits_while_cursor_is_open (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x");
  NcTxn *w = nc_store_begin_write (f->store);
  for (int i = 0; i < 1000; i++)
    create_node (w, NC_TOKEN_NONE, x, 0);
  commit (f, w);

  NcTxn *r = nc_store_begin_read (f->store);
  NcCursor *cur = nc_txn_scan_nodes (r, NC_TOKEN_NONE);
  Churn c = { f->store, x, 0 };
  gint64 id, n = 0;
  g_assert_true (nc_cursor_next (cur, &id));
  n++;
  GThread *t = g_thread_new ("churn", churn_writer, &c);
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (!g_atomic_int_get (&c.done) && g_get_monotonic_time () < deadline)
    {
      if (nc_cursor_next (cur, &id))
        {
          n++;
          g_assert_cmpint (prop_int (r, id, x), ==, 0);
        }
      g_usleep (100);
    }
  g_assert_cmpint (g_atomic_int_get (&c.done), ==, 1);
  while (nc_cursor_next (cur, &id))
    {
      g_assert_cmpint (prop_int (r, id, x), ==, 0);
      n++;
    }
  g_assert_cmpint (n, ==, 1000);
  nc_cursor_free (cur);
  g_thread_join (t);
  nc_txn_rollback (r);

  NcTxn *r2 = nc_store_begin_read (f->store);
  g_assert_cmpint (prop_int (r2, 10, x), ==, 51);
  g_assert_cmpint (nc_txn_count_nodes (r2, NC_TOKEN_NONE), ==, 950);
  nc_txn_rollback (r2);
}

typedef struct {
  NcStore *store;
  NcToken x;
  gint stop;          /* atomic */
  gint checks;        /* atomic */
} Consistency;

static gpointer
consistency_reader (gpointer p)
{
  Consistency *c = p;
  gint64 last = -1;
  while (!g_atomic_int_get (&c->stop))
    {
      NcTxn *r = nc_store_begin_read (c->store);
      g_auto (NcValue) a = nc_txn_node_prop (r, 0, c->x);
      g_usleep (50); /* let the writer commit in between the two reads */
      g_auto (NcValue) b = nc_txn_node_prop (r, 1, c->x);
      g_auto (NcValue) cnt = nc_value_int (nc_txn_count_nodes (r, NC_TOKEN_NONE));
      /* both written by the same transactions: a snapshot sees equal values */
      g_assert_cmpint (a.type, ==, NC_VALUE_INT);
      g_assert_cmpint (b.type, ==, NC_VALUE_INT);
      g_assert_cmpint (a.u.i, ==, b.u.i);
      /* snapshots only move forward */
      g_assert_cmpint (a.u.i, >=, last);
      /* node count as of the snapshot: 2 + one node per 10 commits */
      g_assert_cmpint (cnt.u.i, ==, 2 + a.u.i / 10);
      last = a.u.i;
      nc_txn_rollback (r);
      g_atomic_int_inc (&c->checks);
    }
  return NULL;
}

/* Readers in several threads must always see transaction-consistent
 * snapshots while a writer commits and old versions are pruned. */
static void
test_concurrent_readers_see_consistent_snapshots (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x");
  NcTxn *w = nc_store_begin_write (f->store);
  create_node (w, NC_TOKEN_NONE, x, 0);
  create_node (w, NC_TOKEN_NONE, x, 0);
  commit (f, w);
  Consistency c = { f->store, x, 0, 0 };
  GThread *readers[3];
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    readers[i] = g_thread_new ("reader", consistency_reader, &c);
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  /* at least 2000 commits, and keep going until the readers made checks
   * while commits were happening */
  for (gint64 i = 1; (i <= 2000 || g_atomic_int_get (&c.checks) < 200) && g_get_monotonic_time () < deadline; i++)
    {
      w = nc_store_begin_write (f->store);
      set_int (w, 0, x, i);
      set_int (w, 1, x, i);
      if (i % 10 == 0)
        create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
      commit (f, w);
    }
  g_atomic_int_set (&c.stop, 1);
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    g_thread_join (readers[i]);
  g_assert_cmpint (g_atomic_int_get (&c.checks), >=, 200);
  /* with the readers gone, the next commit prunes what they pinned */
  w = nc_store_begin_write (f->store);
  set_int (w, 0, x, 0);
  commit (f, w);
  g_assert_cmpuint (nc_store_debug_chain_length (f->store, FALSE, 0), <=, 2);
}

/* The column paths (label scan fetch and filter, expand filter, property
 * reads) and the version path must agree under concurrency, and the writer
 * must not starve behind readers that read back to back (the store lock
 * prefers writers: with GRWLock it managed 32 transactions in 10 s): a writer keeps
 * every :P node's x and y equal in each commit (and rolls back every third
 * transaction after changing them), while reader threads create columns
 * for x and y on first use and check, in every snapshot, that each node's
 * x from the columns equals its y read from the version (nc_txn_node_prop
 * does not use columns) and that a hub's expand sees every node once. */
typedef struct {
  NcStore *store;
  NcToken P, x, y;
  NcNodeId hub;
  gint stop, checks, bad;
} ColumnRace;

static gpointer
column_race_reader (gpointer data)
{
  ColumnRace *c = data;
  while (!g_atomic_int_get (&c->stop))
    {
      NcTxn *r = nc_store_begin_read (c->store);
      g_autoptr (NcCursor) scan = nc_txn_scan_nodes (r, c->P);
      NcValue lo = nc_value_int (G_MININT64);
      nc_cursor_filter_range (scan, c->x, &lo, TRUE, NULL, FALSE);
      nc_cursor_fetch_prop (scan, c->x);
      gint64 id, n = 0;
      while (nc_cursor_next (scan, &id))
        {
          const NcValue *xv = nc_cursor_prop (scan);
          g_auto (NcValue) yv = nc_txn_node_prop (r, id, c->y);
          g_auto (NcValue) xi = nc_txn_prop_interned (r, FALSE, id, nc_store_key_string (c->store, c->x), NULL);
          if (xv == NULL || xv->type != NC_VALUE_INT || yv.type != NC_VALUE_INT || xv->u.i != yv.u.i
              || xi.type != NC_VALUE_INT || xi.u.i != yv.u.i)
            g_atomic_int_inc (&c->bad);
          n++;
        }
      g_autoptr (NcCursor) ex = nc_txn_expand_to_label (r, c->hub, NC_DIR_OUT, NULL, 0, c->P);
      nc_cursor_filter_range (ex, c->y, &lo, TRUE, NULL, FALSE);
      gint64 rel, m = 0;
      while (nc_cursor_next (ex, &rel))
        m++;
      if (m != n || n != 64)
        g_atomic_int_inc (&c->bad);
      g_clear_pointer (&scan, nc_cursor_free);
      g_clear_pointer (&ex, nc_cursor_free);
      nc_txn_rollback (r);
      g_atomic_int_inc (&c->checks);
    }
  return NULL;
}

static void
test_columns_agree_with_versions_under_concurrency (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  ColumnRace c = { f->store, label (f, "P"), key (f, "x"), key (f, "y"), -1, 0, 0, 0 };
  NcToken R = rtype (f, "R");
  NcTxn *w = nc_store_begin_write (f->store);
  c.hub = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId ids[64];
  for (int i = 0; i < 64; i++)
    {
      ids[i] = create_node (w, c.P, c.x, 0);
      set_int (w, ids[i], c.y, 0);
      nc_txn_create_rel (w, R, c.hub, ids[i], NULL, &error);
      g_assert_no_error (error);
    }
  commit (f, w);
  GThread *readers[3];
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    readers[i] = g_thread_new ("reader", column_race_reader, &c);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  gint64 i = 1;
  for (; (i <= 300 || g_atomic_int_get (&c.checks) < 100) && g_get_monotonic_time () < deadline; i++)
    {
      w = nc_store_begin_write (f->store);
      for (int k = 0; k < 64; k += 1 + (int) (i % 5))
        {
          set_int (w, ids[k], c.x, i);
          set_int (w, ids[k], c.y, i);
        }
      if (i % 3 == 0)
        nc_txn_rollback (w);
      else
        commit (f, w);
    }
  g_atomic_int_set (&c.stop, 1);
  for (guint t = 0; t < G_N_ELEMENTS (readers); t++)
    g_thread_join (readers[t]);
  g_test_message ("%" G_GINT64_FORMAT " transactions, %d reader checks, %d bad", i - 1, g_atomic_int_get (&c.checks),
                  g_atomic_int_get (&c.bad));
  g_assert_cmpint (g_atomic_int_get (&c.checks), >=, 100);
  g_assert_cmpint (i, >, 300);
  g_assert_cmpint (g_atomic_int_get (&c.bad), ==, 0);
}

/* ---- adjacency ------------------------------------------------------------- */

static void
test_expand_filters_types_and_directions (Fixture *f, gconstpointer data)
{
  NcToken X = rtype (f, "X"), Y = rtype (f, "Y"), Z = rtype (f, "Z");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId b = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId c = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcRelId r1 = nc_txn_create_rel (w, X, a, b, NULL, &error);
  NcRelId r2 = nc_txn_create_rel (w, Y, a, c, NULL, &error);
  NcRelId r3 = nc_txn_create_rel (w, X, c, a, NULL, &error);
  NcRelId r4 = nc_txn_create_rel (w, X, a, a, NULL, &error);
  g_assert_no_error (error);
  commit (f, w);

  NcTxn *r = nc_store_begin_read (f->store);
  NcToken xs[] = { X }, xy[] = { X, Y }, zs[] = { Z };
  g_autoptr (GArray) out = drain (nc_txn_expand (r, a, NC_DIR_OUT, NULL, 0));
  assert_ids (out, 3, r1, r2, r4);
  g_autoptr (GArray) outx = drain (nc_txn_expand (r, a, NC_DIR_OUT, xs, 1));
  assert_ids (outx, 2, r1, r4);
  g_autoptr (GArray) in = drain (nc_txn_expand (r, a, NC_DIR_IN, NULL, 0));
  assert_ids (in, 2, r3, r4);
  g_autoptr (GArray) both = drain (nc_txn_expand (r, a, NC_DIR_BOTH, NULL, 0));
  assert_ids (both, 4, r1, r2, r3, r4);
  g_autoptr (GArray) bothx = drain (nc_txn_expand (r, a, NC_DIR_BOTH, xs, 1));
  assert_ids (bothx, 3, r1, r3, r4);
  g_autoptr (GArray) bothxy = drain (nc_txn_expand (r, a, NC_DIR_BOTH, xy, 2));
  assert_ids (bothxy, 4, r1, r2, r3, r4);
  g_autoptr (GArray) none = drain (nc_txn_expand (r, a, NC_DIR_BOTH, zs, 1));
  assert_ids (none, 0);
  g_autoptr (GArray) bin = drain (nc_txn_expand (r, b, NC_DIR_IN, NULL, 0));
  assert_ids (bin, 1, r1);
  g_autoptr (GArray) bout = drain (nc_txn_expand (r, b, NC_DIR_OUT, NULL, 0));
  assert_ids (bout, 0);

  /* the other end of each relationship */
  NcCursor *cur = nc_txn_expand (r, a, NC_DIR_BOTH, NULL, 0);
  gint64 id;
  while (nc_cursor_next (cur, &id))
    {
      NcNodeId other = nc_cursor_rel_other (cur);
      if (id == r1) g_assert_cmpint (other, ==, b);
      else if (id == r2) g_assert_cmpint (other, ==, c);
      else if (id == r3) g_assert_cmpint (other, ==, c);
      else if (id == r4) g_assert_cmpint (other, ==, a);
      else g_assert_not_reached ();
    }
  nc_cursor_free (cur);

  g_assert_cmpint (nc_txn_node_degree (r, a, NC_DIR_OUT, NC_TOKEN_NONE), ==, 3);
  g_assert_cmpint (nc_txn_node_degree (r, a, NC_DIR_IN, NC_TOKEN_NONE), ==, 2);
  g_assert_cmpint (nc_txn_node_degree (r, a, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 4);
  g_assert_cmpint (nc_txn_node_degree (r, a, NC_DIR_BOTH, X), ==, 3);
  g_assert_cmpint (nc_txn_node_degree (r, a, NC_DIR_OUT, Y), ==, 1);

  NcToken t;
  NcNodeId s, e;
  g_assert_true (nc_txn_rel_info (r, r3, &t, &s, &e));
  g_assert_cmpuint (t, ==, X);
  g_assert_cmpint (s, ==, c);
  g_assert_cmpint (e, ==, a);
  g_autoptr (GArray) xrels = drain (nc_txn_scan_rels (r, X));
  assert_ids (xrels, 3, r1, r3, r4);

  /* deleted relationships disappear for new readers only */
  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_delete_rel (w, r4, &error));
  g_autoptr (GArray) wboth = drain (nc_txn_expand (w, a, NC_DIR_BOTH, NULL, 0));
  assert_ids (wboth, 3, r1, r2, r3);
  commit (f, w);
  g_autoptr (GArray) rboth = drain (nc_txn_expand (r, a, NC_DIR_BOTH, NULL, 0));
  assert_ids (rboth, 4, r1, r2, r3, r4);
  nc_txn_rollback (r);
  NcTxn *r5 = nc_store_begin_read (f->store);
  g_assert_cmpint (nc_txn_node_degree (r5, a, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 3);
  g_assert_cmpint (nc_txn_count_rels (r5), ==, 3);
  nc_txn_rollback (r5);
}

static void
test_self_loop_yielded_once_for_both (Fixture *f, gconstpointer data)
{
  NcToken X = rtype (f, "X");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcRelId loop = nc_txn_create_rel (w, X, a, a, NULL, &error);
  g_autoptr (GArray) both = drain (nc_txn_expand (w, a, NC_DIR_BOTH, NULL, 0));
  assert_ids (both, 1, loop);
  g_autoptr (GArray) out = drain (nc_txn_expand (w, a, NC_DIR_OUT, NULL, 0));
  assert_ids (out, 1, loop);
  g_autoptr (GArray) in = drain (nc_txn_expand (w, a, NC_DIR_IN, NULL, 0));
  assert_ids (in, 1, loop);
  g_assert_cmpint (nc_txn_node_degree (w, a, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 1);
  commit (f, w);
}

/* ---- property indexes ------------------------------------------------------ */

static NcValue
random_value (GRand *rand)
{
  switch (g_rand_int_range (rand, 0, 8))
    {
    case 0: case 1: return nc_value_int (g_rand_int_range (rand, -10, 11));
    case 2: return nc_value_float (g_rand_int_range (rand, -20, 21) / 2.0);
    case 3:
      {
        static const char *const words[] = { "", "a", "ab", "b", "ba", "z", "é" };
        return nc_value_string (words[g_rand_int_range (rand, 0, G_N_ELEMENTS (words))]);
      }
    case 4: return nc_value_bool (g_rand_boolean (rand));
    case 5:
      {
        NcList *l = nc_list_new (g_rand_int_range (rand, 0, 3));
        for (guint32 i = 0; i < l->len; i++)
          l->items[i] = nc_value_int (g_rand_int_range (rand, 0, 3));
        return nc_value_list_take (l);
      }
    case 6: return nc_value_date (g_rand_int_range (rand, 0, 5));
    default: return nc_value_null ();
    }
}

/* What seek/range must return: a scan with the predicate on each node. */
static GArray *
expected_by_scan (NcTxn *txn, NcToken lbl, NcToken k, const NcValue *eq,
                  const NcValue *lo, gboolean lo_inc, const NcValue *hi, gboolean hi_inc)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) all = drain (nc_txn_scan_nodes (txn, NC_TOKEN_NONE));
  for (guint i = 0; i < all->len; i++)
    {
      gint64 id = g_array_index (all, gint64, i);
      if (!nc_txn_node_has_label (txn, id, lbl))
        continue;
      g_auto (NcValue) v = nc_txn_node_prop (txn, id, k);
      if (v.type == NC_VALUE_NULL)
        continue;
      gboolean ok = TRUE;
      int c;
      if (eq)
        ok = nc_value_equals (&v, eq) == NC_TRI_TRUE;
      if (lo)
        ok = ok && nc_value_compare (&v, lo, &c) && (c > 0 || (c == 0 && lo_inc));
      if (hi)
        ok = ok && nc_value_compare (&v, hi, &c) && (c < 0 || (c == 0 && hi_inc));
      if (ok)
        g_array_append_val (out, id);
    }
  return out;
}

static void
check_queries (NcTxn *txn, GRand *rand, NcToken lbl, NcToken k)
{
  for (int q = 0; q < 40; q++)
    {
      g_auto (NcValue) v = random_value (rand);
      if (v.type == NC_VALUE_NULL)
        continue;
      g_autoptr (GArray) got = drain (nc_txn_seek_nodes (txn, lbl, k, &v));
      g_autoptr (GArray) want = expected_by_scan (txn, lbl, k, &v, NULL, FALSE, NULL, FALSE);
      assert_same_ids (got, want);
    }
  for (int q = 0; q < 60; q++)
    {
      g_auto (NcValue) lo = random_value (rand);
      g_auto (NcValue) hi = random_value (rand);
      /* mostly same-type bounds, sometimes one-sided */
      if (lo.type == NC_VALUE_NULL && hi.type == NC_VALUE_NULL)
        continue;
      gboolean li = g_rand_boolean (rand), hi_inc = g_rand_boolean (rand);
      const NcValue *plo = lo.type == NC_VALUE_NULL ? NULL : &lo;
      const NcValue *phi = hi.type == NC_VALUE_NULL ? NULL : &hi;
      g_autoptr (GArray) got = drain (nc_txn_range_nodes (txn, lbl, k, plo, li, phi, hi_inc));
      g_autoptr (GArray) want = expected_by_scan (txn, lbl, k, NULL, plo, li, phi, hi_inc);
      assert_same_ids (got, want);
    }
}

static void
random_updates (NcTxn *w, GRand *rand, NcToken A, NcToken B, NcToken k, guint n_ops)
{
  for (guint op = 0; op < n_ops; op++)
    {
      g_autoptr (GError) error = NULL;
      gint64 id = g_rand_int_range (rand, 0, 400);
      if (!nc_txn_node_exists (w, id))
        {
          NcToken both[] = { A, B };
          g_auto (NcValue) v = random_value (rand);
          g_autoptr (NcMap) m = map1 ("v", nc_value_copy (&v));
          nc_txn_create_node (w, both, g_rand_int_range (rand, 0, 3), m, &error);
          g_assert_no_error (error);
          continue;
        }
      gboolean ok = TRUE;
      switch (g_rand_int_range (rand, 0, 6))
        {
        case 0: case 1:
          {
            g_auto (NcValue) v = random_value (rand);
            ok = nc_txn_set_node_prop (w, id, k, &v, &error);
            break;
          }
        case 2: ok = nc_txn_add_label (w, id, g_rand_boolean (rand) ? A : B, &error); break;
        case 3: ok = nc_txn_remove_label (w, id, g_rand_boolean (rand) ? A : B, &error); break;
        case 4: ok = nc_txn_delete_node (w, id, TRUE, &error); break;
        default:
          {
            g_auto (NcValue) v = random_value (rand);
            g_autoptr (NcMap) m = map1 ("v", nc_value_copy (&v));
            ok = nc_txn_set_node_props (w, id, m, g_rand_boolean (rand), &error);
            break;
          }
        }
      /* only a uniqueness constraint (random_history) may refuse a write */
      if (!ok)
        {
          g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
          g_clear_error (&error);
        }
      g_assert_no_error (error);
    }
}

static void
test_index_seek_and_range_match_scan (Fixture *f, gconstpointer data)
{
  NcToken A = label (f, "A"), B = label (f, "B"), k = key (f, "v");
  GRand *rand = g_rand_new_with_seed (20261127);
  g_autoptr (GError) error = NULL;

  NcTxn *w = nc_store_begin_write (f->store);
  random_updates (w, rand, A, B, k, 600);
  commit (f, w);
  NcTxn *old = nc_store_begin_read (f->store);

  w = nc_store_begin_write (f->store);
  random_updates (w, rand, A, B, k, 600);
  commit (f, w);

  /* the index is created after the data it covers (and after `old` began) */
  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_INDEX, NULL, A, k, FALSE, &error));
  g_assert_no_error (error);
  commit (f, w);
  g_assert_true (nc_store_has_index (f->store, A, k));
  g_assert_false (nc_store_has_index (f->store, B, k));

  w = nc_store_begin_write (f->store);
  random_updates (w, rand, A, B, k, 600);
  commit (f, w);
  NcTxn *mid = nc_store_begin_read (f->store);

  w = nc_store_begin_write (f->store);
  random_updates (w, rand, A, B, k, 300);
  /* indexed (A) and unindexed (B) label, for the old and recent snapshots
   * and the writer's uncommitted view */
  NcTxn *views[] = { old, mid, w };
  for (guint i = 0; i < G_N_ELEMENTS (views); i++)
    {
      check_queries (views[i], rand, A, k);
      check_queries (views[i], rand, B, k);
    }
  commit (f, w);
  nc_txn_rollback (mid);
  nc_txn_rollback (old);
  g_rand_free (rand);
}

static void
test_index_cursor_spans_batches (Fixture *f, gconstpointer data)
{
  NcToken A = label (f, "A"), k = key (f, "v");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_INDEX, "idx", A, k, FALSE, &error));
  for (int i = 0; i < 3000; i++)
    create_node (w, A, k, i % 2 == 0 ? 7 : i);
  commit (f, w);
  NcTxn *r = nc_store_begin_read (f->store);
  NcValue seven = nc_value_int (7);
  g_autoptr (GArray) got = drain (nc_txn_seek_nodes (r, A, k, &seven));
  g_assert_cmpuint (got->len, ==, 1501); /* 1500 evens plus node 7 */
  NcValue lo = nc_value_float (100.5), hi = nc_value_int (2000);
  g_autoptr (GArray) rng = drain (nc_txn_range_nodes (r, A, k, &lo, TRUE, &hi, FALSE));
  g_autoptr (GArray) want = expected_by_scan (r, A, k, NULL, &lo, TRUE, &hi, FALSE);
  assert_same_ids (rng, want);
  g_assert_cmpuint (rng->len, ==, 950);
  nc_txn_rollback (r);
}

/* ---- uniqueness ---------------------------------------------------------- */

static void
test_unique_constraint_on_every_write_path (Fixture *f, gconstpointer data)
{
  NcToken person = label (f, "Person"), other = label (f, "Other"), id_key = key (f, "id");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_UNIQUE, NULL, person, id_key, FALSE, &error));
  g_autoptr (NcMap) one = map1 ("id", nc_value_int (1));
  NcNodeId a = nc_txn_create_node (w, &person, 1, one, &error);
  g_assert_no_error (error);
  commit (f, w);

  w = nc_store_begin_write (f->store);
  /* create */
  g_assert_cmpint (nc_txn_create_node (w, &person, 1, one, &error), <, 0);
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
  g_assert_cmpstr (error->message, ==, "Node(0) already exists with label `Person` and property `id` = 1");
  g_clear_error (&error);
  /* create with an equal float */
  g_autoptr (NcMap) onef = map1 ("id", nc_value_float (1.0));
  g_assert_cmpint (nc_txn_create_node (w, &person, 1, onef, &error), <, 0);
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
  g_clear_error (&error);
  /* set property */
  NcNodeId b = create_node (w, person, id_key, 2);
  NcValue v1 = nc_value_int (1);
  g_assert_false (nc_txn_set_node_prop (w, b, id_key, &v1, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
  g_clear_error (&error);
  /* set properties (merge and replace) */
  g_assert_false (nc_txn_set_node_props (w, b, one, FALSE, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
  g_clear_error (&error);
  g_assert_false (nc_txn_set_node_props (w, b, one, TRUE, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
  g_clear_error (&error);
  /* add label */
  NcNodeId c = nc_txn_create_node (w, &other, 1, one, &error);
  g_assert_no_error (error);
  g_assert_false (nc_txn_add_label (w, c, person, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
  nc_store_error_to_nc_error (&error);
  g_assert_error (error, NC_ERROR, NC_ERROR_CONSTRAINT_FAILED);
  g_clear_error (&error);
  /* once the holder is gone (in this transaction) the value is free */
  g_assert_true (nc_txn_delete_node (w, a, FALSE, &error));
  g_assert_true (nc_txn_add_label (w, c, person, &error));
  g_assert_no_error (error);
  /* a node keeping its own value is not a conflict */
  g_assert_true (nc_txn_set_node_prop (w, c, id_key, &v1, &error));
  g_assert_no_error (error);
  commit (f, w);

  NcTxn *r = nc_store_begin_read (f->store);
  g_autoptr (GArray) got = drain (nc_txn_seek_nodes (r, person, id_key, &v1));
  assert_ids (got, 1, c);
  nc_txn_rollback (r);
}

static void
test_unique_constraint_over_duplicates_fails (Fixture *f, gconstpointer data)
{
  NcToken dup = label (f, "Dup"), k = key (f, "k");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  create_node (w, dup, k, 5);
  create_node (w, dup, k, 6);
  NcNodeId c = create_node (w, dup, k, 6);
  commit (f, w);

  w = nc_store_begin_write (f->store);
  g_assert_false (nc_txn_create_schema (w, NC_SCHEMA_UNIQUE, "u", dup, k, FALSE, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
  g_assert_nonnull (strstr (error->message, "Both Node(1) and Node(2)"));
  g_clear_error (&error);
  g_autoptr (GPtrArray) sch = nc_store_list_schema (f->store);
  g_assert_cmpuint (sch->len, ==, 0);
  /* fix the data, then it works */
  set_int (w, c, k, 7);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_UNIQUE, "u", dup, k, FALSE, &error));
  g_assert_no_error (error);
  commit (f, w);
}

static void
test_schema_is_transactional (Fixture *f, gconstpointer data)
{
  NcToken p = label (f, "P"), k = key (f, "k");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_INDEX, "ix", p, k, FALSE, &error));
  g_assert_true (nc_store_has_index (f->store, p, k));
  nc_txn_rollback (w);
  g_assert_false (nc_store_has_index (f->store, p, k));

  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_INDEX, "ix", p, k, FALSE, &error));
  /* equivalent index / same name */
  g_assert_false (nc_txn_create_schema (w, NC_SCHEMA_INDEX, "other", p, k, FALSE, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_SCHEMA);
  nc_store_error_to_nc_error (&error);
  g_assert_error (error, NC_ERROR, NC_ERROR_SCHEMA_EXISTS);
  g_clear_error (&error);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_INDEX, "other", p, k, TRUE, &error));
  commit (f, w);

  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_drop_schema (w, "ix", FALSE, &error));
  g_assert_false (nc_store_has_index (f->store, p, k));
  nc_txn_rollback (w);
  g_assert_true (nc_store_has_index (f->store, p, k));

  w = nc_store_begin_write (f->store);
  g_assert_false (nc_txn_drop_schema (w, "missing", FALSE, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_SCHEMA);
  nc_store_error_to_nc_error (&error);
  g_assert_error (error, NC_ERROR, NC_ERROR_SCHEMA_MISSING);
  g_clear_error (&error);
  g_assert_true (nc_txn_drop_schema (w, "missing", TRUE, &error));
  g_assert_true (nc_txn_drop_schema (w, "ix", FALSE, &error));
  commit (f, w);
  g_autoptr (GPtrArray) sch = nc_store_list_schema (f->store);
  g_assert_cmpuint (sch->len, ==, 0);

  /* replaying schema effects a snapshot already contains is harmless */
  g_autoptr (NcWriteSet) ws = nc_writeset_new ();
  NcEffect cs = { .kind = NC_EFFECT_CREATE_SCHEMA, .id = NC_SCHEMA_UNIQUE, .name = "u1", .name2 = "P", .name3 = "k" };
  NcEffect ds = { .kind = NC_EFFECT_DROP_SCHEMA, .name = "never-existed" };
  nc_writeset_append (ws, &cs);
  nc_writeset_append (ws, &cs);
  nc_writeset_append (ws, &ds);
  g_assert_true (nc_store_apply_writeset (f->store, ws, ++f->lsn, &error));
  g_assert_no_error (error);
  g_autoptr (GPtrArray) sch2 = nc_store_list_schema (f->store);
  g_assert_cmpuint (sch2->len, ==, 1);
  NcSchemaEntry *e = g_ptr_array_index (sch2, 0);
  g_assert_cmpstr (e->name, ==, "u1");
  g_assert_cmpint (e->kind, ==, NC_SCHEMA_UNIQUE);
  g_assert_cmpuint (e->label, ==, p);
  g_assert_cmpuint (e->key, ==, k);
}

/* ---- deletes ---------------------------------------------------------------- */

static void
test_detach_delete_records_each_relationship (Fixture *f, gconstpointer data)
{
  NcToken X = rtype (f, "X");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId b = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcRelId r1 = nc_txn_create_rel (w, X, a, b, NULL, &error);
  NcRelId r2 = nc_txn_create_rel (w, X, b, a, NULL, &error);
  NcRelId r3 = nc_txn_create_rel (w, X, a, a, NULL, &error);
  commit (f, w);

  w = nc_store_begin_write (f->store);
  g_assert_false (nc_txn_delete_node (w, a, FALSE, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_STILL_HAS_RELS);
  g_assert_cmpstr (error->message, ==,
                   "Cannot delete node<0>, because it still has relationships. "
                   "To delete this node, you must first delete its relationships.");
  nc_store_error_to_nc_error (&error);
  g_assert_error (error, NC_ERROR, NC_ERROR_CONSTRAINT_FAILED);
  g_clear_error (&error);
  g_assert_cmpuint (nc_writeset_len (nc_txn_writeset (w)), ==, 0);

  g_assert_true (nc_txn_delete_node (w, a, TRUE, &error));
  NcWriteSet *ws = nc_txn_writeset (w);
  g_assert_cmpuint (nc_writeset_len (ws), ==, 4);
  gboolean seen[3] = { FALSE };
  for (guint i = 0; i < 3; i++)
    {
      const NcEffect *e = nc_writeset_get (ws, i);
      g_assert_cmpint (e->kind, ==, NC_EFFECT_DELETE_REL);
      g_assert_true (e->id == r1 || e->id == r2 || e->id == r3);
      g_assert_false (seen[e->id - r1]);
      seen[e->id - r1] = TRUE;
    }
  g_assert_cmpint (nc_writeset_get (ws, 3)->kind, ==, NC_EFFECT_DELETE_NODE);
  g_assert_cmpint (nc_writeset_get (ws, 3)->id, ==, a);
  g_assert_cmpint (nc_txn_node_degree (w, b, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 0);
  commit (f, w);
  NcTxn *r = nc_store_begin_read (f->store);
  g_assert_cmpint (nc_txn_count_rels (r), ==, 0);
  g_assert_false (nc_txn_rel_exists (r, r1));
  nc_txn_rollback (r);
}

static void
test_deferred_delete_checked_before_commit (Fixture *f, gconstpointer data)
{
  NcToken X = rtype (f, "X");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId b = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcRelId r1 = nc_txn_create_rel (w, X, a, b, NULL, &error);
  NcRelId r2 = nc_txn_create_rel (w, X, b, a, NULL, &error);
  g_autoptr (GBytes) setup = nc_writeset_encode (nc_txn_writeset (w));
  commit (f, w);

  /* `DELETE n, r` with the node first: allowed until the check */
  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_delete_node_deferred (w, a, &error));
  g_assert_no_error (error);
  g_assert_false (nc_txn_node_exists (w, a));
  g_assert_false (nc_txn_check_deletes (w, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_STILL_HAS_RELS);
  g_clear_error (&error);
  g_assert_true (nc_txn_delete_rel (w, r1, &error));
  g_assert_true (nc_txn_delete_rel (w, r2, &error));
  g_assert_true (nc_txn_check_deletes (w, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) deletes = nc_writeset_encode (nc_txn_writeset (w));
  g_assert_cmpint (nc_writeset_get (nc_txn_writeset (w), 0)->kind, ==, NC_EFFECT_DELETE_NODE);
  commit (f, w);

  /* a replica applies the same order */
  NcStore *replica = nc_store_new ();
  GBytes *sets[] = { setup, deletes };
  for (guint i = 0; i < 2; i++)
    {
      gsize len;
      const guint8 *d = g_bytes_get_data (sets[i], &len);
      g_autoptr (NcWriteSet) ws = nc_writeset_decode (d, len, &error);
      g_assert_true (nc_store_apply_writeset (replica, ws, i + 1, &error));
      g_assert_no_error (error);
    }
  NcTxn *rw = nc_store_begin_write (replica);
  g_assert_false (nc_txn_node_exists (rw, a));
  g_assert_true (nc_txn_node_exists (rw, b));
  g_assert_cmpint (nc_txn_count_rels (rw), ==, 0);
  nc_txn_rollback (rw);

  /* ...but refuses a write-set that leaves relationships dangling */
  NcStore *replica2 = nc_store_new ();
  {
    gsize len;
    const guint8 *d = g_bytes_get_data (setup, &len);
    g_autoptr (NcWriteSet) ws = nc_writeset_decode (d, len, &error);
    g_assert_true (nc_store_apply_writeset (replica2, ws, 1, &error));
  }
  g_autoptr (NcWriteSet) bad = nc_writeset_new ();
  NcEffect del = { .kind = NC_EFFECT_DELETE_NODE, .id = a };
  nc_writeset_append (bad, &del);
  g_assert_false (nc_store_apply_writeset (replica2, bad, 2, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_BAD_WRITESET);
  g_clear_error (&error);
  rw = nc_store_begin_write (replica2);
  g_assert_true (nc_txn_node_exists (rw, a));
  nc_txn_rollback (rw);
  nc_store_free (replica2);
  nc_store_free (replica);
}

static void
test_non_storable_values_are_type_errors (Fixture *f, gconstpointer data)
{
  NcToken k = key (f, "k");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);

  g_auto (NcValue) map = nc_value_map_take (map1 ("x", nc_value_int (1)));
  g_assert_false (nc_txn_set_node_prop (w, a, k, &map, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_TYPE);
  g_assert_true (g_str_has_prefix (error->message, "Property values can only be of primitive types or arrays thereof"));
  g_clear_error (&error);

  NcList *l = nc_list_new (2);
  l->items[0] = nc_value_int (1);
  l->items[1] = nc_value_null ();
  g_auto (NcValue) lv = nc_value_list_take (l);
  g_assert_false (nc_txn_set_node_prop (w, a, k, &lv, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_TYPE);
  g_clear_error (&error);

  g_auto (NcValue) node = nc_value_node_ref (a);
  g_autoptr (NcMap) m = map1 ("k", nc_value_copy (&node));
  g_assert_cmpint (nc_txn_create_node (w, NULL, 0, m, &error), <, 0);
  g_assert_error (error, NC_ERROR, NC_ERROR_TYPE);
  g_clear_error (&error);
  g_assert_cmpint (nc_txn_create_rel (w, rtype (f, "R"), a, a, m, &error), <, 0);
  g_assert_error (error, NC_ERROR, NC_ERROR_TYPE);
  g_clear_error (&error);

  /* scalars and homogeneous lists are fine; nulls in a create map are skipped */
  NcList *ok = nc_list_new (2);
  ok->items[0] = nc_value_string ("a");
  ok->items[1] = nc_value_string ("b");
  g_auto (NcValue) okv = nc_value_list_take (ok);
  g_assert_true (nc_txn_set_node_prop (w, a, k, &okv, &error));
  /* integers and floats mix: stored as floats, like Neo4j's numeric arrays */
  NcList *mixed = nc_list_new (2);
  mixed->items[0] = nc_value_int (1);
  mixed->items[1] = nc_value_float (2.5);
  g_auto (NcValue) mv = nc_value_list_take (mixed);
  g_assert_true (nc_txn_set_node_prop (w, a, k, &mv, &error));
  g_assert_no_error (error);
  g_auto (NcValue) got = nc_txn_node_prop (w, a, k);
  g_assert_cmpint (got.type, ==, NC_VALUE_LIST);
  g_assert_cmpint (got.u.list->items[0].type, ==, NC_VALUE_FLOAT);
  g_assert_cmpfloat (got.u.list->items[0].u.f, ==, 1.0);
  NcWriteSet *ws = nc_txn_writeset (w);
  const NcEffect *last = nc_writeset_get (ws, nc_writeset_len (ws) - 1);
  g_assert_cmpint (last->value.u.list->items[0].type, ==, NC_VALUE_FLOAT);
  /* other mixes are refused */
  NcList *bad = nc_list_new (2);
  bad->items[0] = nc_value_int (1);
  bad->items[1] = nc_value_string ("a");
  g_auto (NcValue) bv = nc_value_list_take (bad);
  g_assert_false (nc_txn_set_node_prop (w, a, k, &bv, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_TYPE);
  g_clear_error (&error);

  g_autoptr (NcMap) withnull = map1 ("k", nc_value_null ());
  NcNodeId b = nc_txn_create_node (w, NULL, 0, withnull, &error);
  g_assert_no_error (error);
  g_autoptr (NcMap) bp = nc_txn_node_props (w, b);
  g_assert_cmpuint (bp->len, ==, 0);
  commit (f, w);
}

static void
test_materialise_fills_entities (Fixture *f, gconstpointer data)
{
  NcToken p = label (f, "Person"), q = label (f, "Admin"), X = rtype (f, "KNOWS");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcToken both[] = { q, p };
  g_autoptr (NcMap) m = map1 ("name", nc_value_string ("Ann"));
  NcNodeId a = nc_txn_create_node (w, both, 2, m, &error);
  g_autoptr (NcMap) rp = map1 ("since", nc_value_int (2020));
  NcRelId r = nc_txn_create_rel (w, X, a, a, rp, &error);
  commit (f, w);

  NcTxn *rt = nc_store_begin_read (f->store);
  g_auto (NcValue) n = nc_txn_materialise_node (rt, a);
  g_assert_cmpint (n.type, ==, NC_VALUE_NODE);
  g_assert_true (n.u.entity->materialised);
  g_assert_cmpuint (n.u.entity->n_labels, ==, 2);
  g_assert_cmpstr (n.u.entity->labels[0]->data, ==, "Person");
  g_assert_cmpstr (n.u.entity->labels[1]->data, ==, "Admin");
  g_assert_cmpstr (nc_value_str (nc_map_get (n.u.entity->props, "name")), ==, "Ann");
  g_auto (NcValue) rv = nc_txn_materialise_rel (rt, r);
  g_assert_cmpint (rv.type, ==, NC_VALUE_REL);
  g_assert_cmpstr (rv.u.entity->rel_type->data, ==, "KNOWS");
  g_assert_cmpint (rv.u.entity->start_id, ==, a);
  g_assert_cmpint (rv.u.entity->end_id, ==, a);
  g_assert_cmpint (nc_map_get (rv.u.entity->props, "since")->u.i, ==, 2020);
  g_autoptr (GArray) labels = nc_txn_node_labels (rt, a);
  g_assert_cmpuint (labels->len, ==, 2);
  nc_txn_rollback (rt);
}

/* ---- write-sets, dump and apply -------------------------------------------- */

typedef struct {
  GPtrArray *encoded;   /* GBytes* per emitted batch */
} DumpOut;

static gboolean
collect_batch_cb (const NcWriteSet *batch, gpointer user_data, GError **error)
{
  DumpOut *d = user_data;
  g_ptr_array_add (d->encoded, nc_writeset_encode (batch));
  return TRUE;
}

/* The whole store as one byte string (its dump, re-batched into one). */
static GBytes *
dump_bytes (NcStore *store, guint batch, GPtrArray **batches)
{
  g_autoptr (GError) error = NULL;
  DumpOut d = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };
  NcTxn *r = nc_store_begin_read (store);
  g_assert_true (nc_store_dump (r, batch, collect_batch_cb, &d, &error));
  g_assert_no_error (error);
  nc_txn_rollback (r);
  g_autoptr (NcWriteSet) all = nc_writeset_new ();
  for (guint i = 0; i < d.encoded->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (g_ptr_array_index (d.encoded, i), &len);
      g_autoptr (NcWriteSet) ws = nc_writeset_decode (data, len, &error);
      g_assert_no_error (error);
      if (batch > 0)
        g_assert_cmpuint (nc_writeset_len (ws), <=, batch);
      for (guint j = 0; j < nc_writeset_len (ws); j++)
        nc_writeset_append (all, nc_writeset_get (ws, j));
    }
  if (batches)
    *batches = d.encoded;
  else
    g_ptr_array_unref (d.encoded);
  return nc_writeset_encode (all);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static char *
describe_effect (const NcEffect *e)
{
  g_autofree char *v = nc_value_to_debug_string (&e->value);
  /* label order follows token numbers, which are local to a store */
  g_auto (GStrv) sorted = e->labels ? g_strdupv (e->labels) : NULL;
  if (sorted)
    qsort (sorted, g_strv_length (sorted), sizeof (char *), cmp_str);
  g_autofree char *labels = sorted ? g_strjoinv (":", sorted) : g_strdup ("");
  return g_strdup_printf ("kind=%d id=%" G_GINT64_FORMAT " start=%" G_GINT64_FORMAT " end=%" G_GINT64_FORMAT
                          " name=%s labels=%s value=%s", e->kind, e->id, e->start, e->end,
                          e->name ? e->name : "-", labels, v);
}

/* Compares two dumps effect by effect, naming the first difference. */
static void
assert_dumps_equal (GBytes *want, GBytes *got)
{
  gsize wl, gl;
  const guint8 *wd = g_bytes_get_data (want, &wl), *gd = g_bytes_get_data (got, &gl);
  g_autoptr (NcWriteSet) a = nc_writeset_decode (wd, wl, NULL);
  g_autoptr (NcWriteSet) b = nc_writeset_decode (gd, gl, NULL);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  for (guint i = 0; i < MIN (nc_writeset_len (a), nc_writeset_len (b)); i++)
    {
      g_autofree char *da = describe_effect (nc_writeset_get (a, i));
      g_autofree char *db = describe_effect (nc_writeset_get (b, i));
      g_assert_cmpstr (da, ==, db);
    }
  g_assert_cmpuint (nc_writeset_len (a), ==, nc_writeset_len (b));
}

/* Random transactions on a store; returns the encoded write-set of each
 * committed one (rolled-back ones are not returned). */
static GPtrArray *
random_history (Fixture *f, guint seed)
{
  GPtrArray *log = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  GRand *rand = g_rand_new_with_seed (seed);
  NcToken A = label (f, "A"), B = label (f, "B"), k = key (f, "v"), u = key (f, "uid");
  NcToken X = rtype (f, "X"), Y = rtype (f, "Y");
  g_autoptr (GError) error = NULL;

  NcTxn *w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_UNIQUE, "uniq", B, u, FALSE, &error));
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_INDEX, NULL, A, k, FALSE, &error));
  g_ptr_array_add (log, nc_writeset_encode (nc_txn_writeset (w)));
  commit (f, w);

  for (int t = 0; t < 30; t++)
    {
      w = nc_store_begin_write (f->store);
      random_updates (w, rand, A, B, k, 40);
      for (int i = 0; i < 20; i++)
        {
          gint64 s = g_rand_int_range (rand, 0, 400), e = g_rand_int_range (rand, 0, 400);
          if (nc_txn_node_exists (w, s) && nc_txn_node_exists (w, e))
            {
              g_autoptr (NcMap) m = map1 ("w", nc_value_int (i));
              NcRelId r = nc_txn_create_rel (w, g_rand_boolean (rand) ? X : Y, s, e, m, &error);
              g_assert_no_error (error);
              if (g_rand_int_range (rand, 0, 4) == 0)
                {
                  g_auto (NcValue) v = nc_value_string ("changed");
                  g_assert_true (nc_txn_set_rel_prop (w, r, k, &v, &error));
                }
            }
        }
      /* the unique key: conflicts are expected now and then and must not
       * leave anything behind */
      gint64 id = g_rand_int_range (rand, 0, 400);
      if (nc_txn_node_exists (w, id))
        {
          NcValue v = nc_value_int (g_rand_int_range (rand, 0, 10));
          if (!nc_txn_set_node_prop (w, id, u, &v, &error))
            {
              g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT);
              g_clear_error (&error);
            }
        }
      if (t % 7 == 3)
        {
          nc_txn_rollback (w);
          continue;
        }
      g_ptr_array_add (log, nc_writeset_encode (nc_txn_writeset (w)));
      commit (f, w);
    }
  g_rand_free (rand);
  return log;
}

static void
test_apply_writeset_reproduces_graph (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) log = random_history (f, 99);
  g_autoptr (GBytes) want = dump_bytes (f->store, 0, NULL);

  NcStore *replica = nc_store_new ();
  for (guint i = 0; i < log->len; i++)
    {
      g_autoptr (GError) error = NULL;
      gsize len;
      const guint8 *bytes = g_bytes_get_data (g_ptr_array_index (log, i), &len);
      g_autoptr (NcWriteSet) ws = nc_writeset_decode (bytes, len, &error);
      g_assert_no_error (error);
      g_assert_true (nc_store_apply_writeset (replica, ws, i + 1, &error));
      g_assert_no_error (error);
      nc_store_publish (replica, i + 1);
    }
  g_autoptr (GBytes) got = dump_bytes (replica, 0, NULL);
  assert_dumps_equal (want, got);
  NcNodeId n1, n2;
  NcRelId r1, r2;
  nc_store_get_next_ids (f->store, &n1, &r1);
  nc_store_get_next_ids (replica, &n2, &r2);
  g_assert_cmpint (n2, <=, n1);   /* ids burnt by rollbacks are not in any write-set */
  g_assert_true (nc_store_has_index (replica, label (f, "A"), key (f, "v")));

  /* a write-set that does not apply is rejected whole */
  g_autoptr (NcWriteSet) bad = nc_writeset_new ();
  NcEffect ok = { .kind = NC_EFFECT_CREATE_NODE, .id = 100000 };
  NcEffect wrong = { .kind = NC_EFFECT_DELETE_NODE, .id = 999999 };
  nc_writeset_append (bad, &ok);
  nc_writeset_append (bad, &wrong);
  g_autoptr (GError) error = NULL;
  g_assert_false (nc_store_apply_writeset (replica, bad, 1000, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_BAD_WRITESET);
  NcTxn *w = nc_store_begin_write (replica);
  g_assert_false (nc_txn_node_exists (w, 100000));
  nc_txn_rollback (w);
  nc_store_free (replica);
}

static void
test_dump_apply_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) log = random_history (f, 7);
  GPtrArray *batches = NULL;
  g_autoptr (GBytes) want = dump_bytes (f->store, 7, &batches);
  g_assert_cmpuint (batches->len, >, 3);

  NcStore *copy = nc_store_new ();
  for (guint i = 0; i < batches->len; i++)
    {
      g_autoptr (GError) error = NULL;
      gsize len;
      const guint8 *bytes = g_bytes_get_data (g_ptr_array_index (batches, i), &len);
      g_autoptr (NcWriteSet) ws = nc_writeset_decode (bytes, len, &error);
      g_assert_true (nc_store_apply_writeset (copy, ws, f->lsn, &error));
      g_assert_no_error (error);
    }
  nc_store_publish (copy, f->lsn);
  g_ptr_array_unref (batches);
  g_autoptr (GBytes) got = dump_bytes (copy, 5, NULL);
  assert_dumps_equal (want, got);
  NcNodeId n1, n2;
  NcRelId r1, r2;
  nc_store_get_next_ids (f->store, &n1, &r1);
  nc_store_get_next_ids (copy, &n2, &r2);
  g_assert_cmpint (n1, ==, n2);
  g_assert_cmpint (r1, ==, r2);
  NcTxn *a = nc_store_begin_read (f->store), *b = nc_store_begin_read (copy);
  g_assert_cmpint (nc_txn_count_nodes (a, NC_TOKEN_NONE), ==, nc_txn_count_nodes (b, NC_TOKEN_NONE));
  g_assert_cmpint (nc_txn_count_rels (a), ==, nc_txn_count_rels (b));
  nc_txn_rollback (a);
  nc_txn_rollback (b);

  /* clear empties it, keeping tokens */
  nc_store_clear (copy);
  NcTxn *c = nc_store_begin_read (copy);
  g_assert_cmpint (nc_txn_count_nodes (c, NC_TOKEN_NONE), ==, 0);
  nc_txn_rollback (c);
  nc_store_free (copy);
}

/* ---- pruning and truncation ------------------------------------------------- */

static void
test_version_chains_stay_short (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x");
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, x, 0);
  commit (f, w);
  for (int i = 1; i <= 10000; i++)
    {
      w = nc_store_begin_write (f->store);
      set_int (w, a, x, i);
      commit (f, w);
    }
  g_assert_cmpuint (nc_store_debug_chain_length (f->store, FALSE, a), <=, 2);

  /* a reader pins its version... */
  NcTxn *r = nc_store_begin_read (f->store);
  for (int i = 0; i < 100; i++)
    {
      w = nc_store_begin_write (f->store);
      set_int (w, a, x, 20000 + i);
      commit (f, w);
    }
  g_assert_cmpint (prop_int (r, a, x), ==, 10000);
  g_assert_cmpuint (nc_store_debug_chain_length (f->store, FALSE, a), >=, 2);
  nc_txn_rollback (r);
  /* ...and once it is gone the next commit prunes */
  w = nc_store_begin_write (f->store);
  set_int (w, a, x, 1);
  commit (f, w);
  g_assert_cmpuint (nc_store_debug_chain_length (f->store, FALSE, a), <=, 2);
}

static void
test_deleted_entities_are_pruned_later (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, x, 0);
  commit (f, w);
  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_delete_node (w, a, FALSE, &error));
  commit (f, w);
  g_assert_cmpuint (nc_store_debug_chain_length (f->store, FALSE, a), ==, 2);
  /* an unrelated later commit drains the queue of chains left long */
  w = nc_store_begin_write (f->store);
  create_node (w, NC_TOKEN_NONE, x, 1);
  commit (f, w);
  g_assert_cmpuint (nc_store_debug_chain_length (f->store, FALSE, a), ==, 1);
}

static void
test_truncate_after_discards_tail (Fixture *f, gconstpointer data)
{
  NcToken x = key (f, "x"), p = label (f, "P"), X = rtype (f, "X");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, p, x, 1);
  NcNodeId c = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  commit (f, w);
  w = nc_store_begin_write (f->store);
  set_int (w, a, x, 2);
  NcNodeId b = create_node (w, p, x, 3);
  NcRelId r = nc_txn_create_rel (w, X, a, b, NULL, &error);
  g_assert_no_error (error);
  nc_txn_commit (w, 2); /* not published: the tail a new leader would not have */
  g_assert_cmpuint (nc_store_applied_index (f->store), ==, 2);

  nc_store_truncate_after (f->store, 1);
  g_assert_cmpuint (nc_store_applied_index (f->store), ==, 1);
  w = nc_store_begin_write (f->store);
  g_assert_cmpint (prop_int (w, a, x), ==, 1);
  g_assert_false (nc_txn_node_exists (w, b));
  g_assert_false (nc_txn_rel_exists (w, r));
  g_assert_cmpint (nc_txn_count_nodes (w, p), ==, 1);
  g_assert_cmpint (nc_txn_count_rels (w), ==, 0);
  nc_txn_rollback (w);

  /* the new leader's history reuses the discarded ids for other things */
  g_autoptr (NcWriteSet) ws = nc_writeset_new ();
  NcEffect cn = { .kind = NC_EFFECT_CREATE_NODE, .id = b };
  NcEffect cr = { .kind = NC_EFFECT_CREATE_REL, .id = r, .start = c, .end = c, .name = "Y" };
  nc_writeset_append (ws, &cn);
  nc_writeset_append (ws, &cr);
  g_assert_true (nc_store_apply_writeset (f->store, ws, 2, &error));
  g_assert_no_error (error);
  nc_store_publish (f->store, 2);
  w = nc_store_begin_write (f->store);
  g_assert_cmpint (nc_txn_node_degree (w, a, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 0);
  g_assert_cmpint (nc_txn_node_degree (w, b, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 0);
  g_assert_cmpint (nc_txn_node_degree (w, c, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 1);
  g_assert_false (nc_txn_node_has_label (w, b, p));
  nc_txn_commit (w, 3);
  NcTxn *rt = nc_store_begin_read (f->store);
  g_assert_cmpint (nc_txn_count_nodes (rt, p), ==, 1);
  g_assert_cmpint (nc_txn_count_nodes (rt, NC_TOKEN_NONE), ==, 3);
  nc_txn_rollback (rt);
}

static void
test_unknown_tokens_are_rejected (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcToken bogus = 4242;
  NcTxn *w = nc_store_begin_write (f->store);
  g_assert_cmpint (nc_txn_create_node (w, &bogus, 1, NULL, &error), <, 0);
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  g_assert_cmpint (nc_txn_create_rel (w, bogus, a, a, NULL, &error), <, 0);
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (nc_txn_add_label (w, a, bogus, &error));
  g_assert_error (error, NC_STORE_ERROR, NC_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* only the node creation is recorded */
  g_assert_cmpuint (nc_writeset_len (nc_txn_writeset (w)), ==, 1);
  commit (f, w);
}

static void
test_counts_follow_snapshots (Fixture *f, gconstpointer data)
{
  NcToken p = label (f, "P"), q = label (f, "Q");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  for (int i = 0; i < 10; i++)
    create_node (w, i < 4 ? p : q, NC_TOKEN_NONE, 0);
  commit (f, w);
  NcTxn *old = nc_store_begin_read (f->store);
  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_delete_node (w, 0, FALSE, &error));
  g_assert_true (nc_txn_add_label (w, 5, p, &error));
  g_assert_cmpint (nc_txn_count_nodes (w, p), ==, 4);
  g_assert_cmpint (nc_txn_count_nodes (w, NC_TOKEN_NONE), ==, 9);
  g_assert_cmpint (nc_txn_count_nodes (old, p), ==, 4);
  commit (f, w);
  NcTxn *now = nc_store_begin_read (f->store);
  g_assert_cmpint (nc_txn_count_nodes (old, NC_TOKEN_NONE), ==, 10);
  g_assert_cmpint (nc_txn_count_nodes (old, p), ==, 4);
  g_assert_cmpint (nc_txn_count_nodes (old, q), ==, 6);
  g_assert_cmpint (nc_txn_count_nodes (now, NC_TOKEN_NONE), ==, 9);
  g_assert_cmpint (nc_txn_count_nodes (now, p), ==, 4);
  g_assert_cmpint (nc_txn_count_nodes (now, q), ==, 6);
  nc_txn_rollback (now);
  nc_txn_rollback (old);
}

static gint64
count_by_cursor (NcTxn *txn, NcToken lbl)
{
  g_autoptr (GArray) ids = drain (nc_txn_scan_nodes (txn, lbl));
  return ids->len;
}

/* Counts must be exact for snapshots behind the applied index: recent ones
 * (commits not yet published) and old ones (more commits than the count
 * history keeps). */
static void
test_counts_exact_behind_applied_index (Fixture *f, gconstpointer data)
{
  NcToken p = label (f, "P");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  for (int i = 0; i < 5; i++)
    create_node (w, p, NC_TOKEN_NONE, 0);
  commit (f, w);
  NcTxn *old = nc_store_begin_read (f->store);
  /* 1100 published commits: more than the history keeps */
  for (int i = 0; i < 1100; i++)
    {
      w = nc_store_begin_write (f->store);
      create_node (w, i % 2 ? p : NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
      if (i % 3 == 0)
        g_assert_true (nc_txn_delete_node (w, i, TRUE, &error));
      commit (f, w);
    }
  NcTxn *mid = nc_store_begin_read (f->store);
  /* three commits applied but not published */
  for (int i = 0; i < 3; i++)
    {
      w = nc_store_begin_write (f->store);
      create_node (w, p, NC_TOKEN_NONE, 0);
      g_assert_true (nc_txn_delete_node (w, 10 + i, TRUE, &error));
      nc_txn_commit (w, ++f->lsn);
    }
  g_assert_cmpuint (nc_txn_snapshot (mid), <, nc_store_applied_index (f->store));
  NcTxn *views[] = { old, mid };
  for (guint i = 0; i < G_N_ELEMENTS (views); i++)
    {
      g_assert_cmpint (nc_txn_count_nodes (views[i], NC_TOKEN_NONE), ==, count_by_cursor (views[i], NC_TOKEN_NONE));
      g_assert_cmpint (nc_txn_count_nodes (views[i], p), ==, count_by_cursor (views[i], p));
      g_assert_cmpint (nc_txn_count_rels (views[i]), ==, 0);
    }
  g_assert_cmpint (nc_txn_count_nodes (old, NC_TOKEN_NONE), ==, 5);
  nc_store_publish (f->store, f->lsn);
  NcTxn *now = nc_store_begin_read (f->store);
  g_assert_cmpint (nc_txn_count_nodes (now, p), ==, count_by_cursor (now, p));
  g_assert_cmpint (nc_txn_count_nodes (now, NC_TOKEN_NONE), ==, count_by_cursor (now, NC_TOKEN_NONE));
  nc_txn_rollback (now);
  nc_txn_rollback (mid);
  nc_txn_rollback (old);
}

static void
test_store_errors_map_to_neo4j_codes (Fixture *f, gconstpointer data)
{
  static const struct { NcStoreError in; const char *msg; NcErrorCode out; } cases[] = {
    { NC_STORE_ERROR_NOT_FOUND, "x", NC_ERROR_ENTITY_NOT_FOUND },
    { NC_STORE_ERROR_STILL_HAS_RELS, "x", NC_ERROR_CONSTRAINT_FAILED },
    { NC_STORE_ERROR_CONSTRAINT, "x", NC_ERROR_CONSTRAINT_FAILED },
    { NC_STORE_ERROR_SCHEMA, "An equivalent index already exists", NC_ERROR_SCHEMA_EXISTS },
    { NC_STORE_ERROR_SCHEMA, "there is no such index or constraint.", NC_ERROR_SCHEMA_MISSING },
    { NC_STORE_ERROR_READ_ONLY, "x", NC_ERROR_ACCESS_MODE },
    { NC_STORE_ERROR_BAD_WRITESET, "x", NC_ERROR_UNKNOWN },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      GError *e = g_error_new_literal (NC_STORE_ERROR, cases[i].in, cases[i].msg);
      nc_store_error_to_nc_error (&e);
      g_assert_error (e, NC_ERROR, (int) cases[i].out);
      g_assert_cmpstr (e->message, ==, cases[i].msg);
      g_error_free (e);
    }
  GError *other = g_error_new_literal (G_FILE_ERROR, 1, "io");
  nc_store_error_to_nc_error (&other);
  g_assert_true (other->domain == G_FILE_ERROR);
  g_error_free (other);
}

/* ---- model-based MVCC check ------------------------------------------------ */

/* The model: what every node and relationship looks like after each
 * commit. Node: label bitmask (bit 0 = A, 1 = B) and x (G_MININT64 =
 * absent), or deleted. Relationship: endpoints and liveness. */
typedef struct {
  GArray *node_labels;   /* gint, -1 = deleted or never created */
  GArray *node_x;        /* gint64 */
  GArray *rel_start;     /* gint64, -1 = deleted */
  GArray *rel_end;
} Model;

static Model *
model_copy (const Model *m)
{
  Model *c = g_new0 (Model, 1);
  c->node_labels = g_array_copy (m->node_labels);
  c->node_x = g_array_copy (m->node_x);
  c->rel_start = g_array_copy (m->rel_start);
  c->rel_end = g_array_copy (m->rel_end);
  return c;
}

static void
model_free (Model *m)
{
  g_array_unref (m->node_labels);
  g_array_unref (m->node_x);
  g_array_unref (m->rel_start);
  g_array_unref (m->rel_end);
  g_free (m);
}

static void
model_check (NcTxn *txn, const Model *m, NcToken A, NcToken B, NcToken x)
{
  gint64 n_nodes = 0, n_a = 0, n_rels = 0;
  for (guint id = 0; id < m->node_labels->len; id++)
    {
      gint lab = g_array_index (m->node_labels, gint, id);
      g_assert_cmpint (nc_txn_node_exists (txn, id), ==, lab >= 0);
      if (lab < 0)
        continue;
      n_nodes++;
      n_a += (lab & 1) != 0;
      g_assert_cmpint (nc_txn_node_has_label (txn, id, A), ==, (lab & 1) != 0);
      g_assert_cmpint (nc_txn_node_has_label (txn, id, B), ==, (lab & 2) != 0);
      g_auto (NcValue) v = nc_txn_node_prop (txn, id, x);
      gint64 want = g_array_index (m->node_x, gint64, id);
      if (want == G_MININT64)
        g_assert_cmpint (v.type, ==, NC_VALUE_NULL);
      else
        {
          g_assert_cmpint (v.type, ==, NC_VALUE_INT);
          g_assert_cmpint (v.u.i, ==, want);
        }
    }
  for (guint id = 0; id < m->rel_start->len; id++)
    {
      gint64 s = g_array_index (m->rel_start, gint64, id);
      g_assert_cmpint (nc_txn_rel_exists (txn, id), ==, s >= 0);
      n_rels += s >= 0;
    }
  g_assert_cmpint (nc_txn_count_nodes (txn, NC_TOKEN_NONE), ==, n_nodes);
  g_assert_cmpint (nc_txn_count_nodes (txn, A), ==, n_a);
  g_assert_cmpint (nc_txn_count_rels (txn), ==, n_rels);
  g_autoptr (GArray) all = drain (nc_txn_scan_nodes (txn, NC_TOKEN_NONE));
  g_assert_cmpint (all->len, ==, n_nodes);
  g_autoptr (GArray) as = drain (nc_txn_scan_nodes (txn, A));
  g_assert_cmpint (as->len, ==, n_a);
  /* degrees from adjacency agree with the relationship table */
  for (guint id = 0; id < m->node_labels->len; id++)
    {
      if (g_array_index (m->node_labels, gint, id) < 0)
        continue;
      gint64 out = 0, in = 0;
      for (guint r = 0; r < m->rel_start->len; r++)
        {
          out += g_array_index (m->rel_start, gint64, r) == id;
          in += g_array_index (m->rel_start, gint64, r) >= 0 && g_array_index (m->rel_end, gint64, r) == id;
        }
      g_assert_cmpint (nc_txn_node_degree (txn, id, NC_DIR_OUT, NC_TOKEN_NONE), ==, out);
      g_assert_cmpint (nc_txn_node_degree (txn, id, NC_DIR_IN, NC_TOKEN_NONE), ==, in);
    }
}

typedef struct {
  NcTxn *txn;
  Model *model;
} OpenReader;

static void
test_model_based_mvcc (Fixture *f, gconstpointer data)
{
  NcToken A = label (f, "A"), B = label (f, "B"), x = key (f, "x"), T = rtype (f, "T");
  GRand *rand = g_rand_new_with_seed (4242);
  Model *m = g_new0 (Model, 1);
  m->node_labels = g_array_new (FALSE, FALSE, sizeof (gint));
  m->node_x = g_array_new (FALSE, FALSE, sizeof (gint64));
  m->rel_start = g_array_new (FALSE, FALSE, sizeof (gint64));
  m->rel_end = g_array_new (FALSE, FALSE, sizeof (gint64));
  GArray *readers = g_array_new (FALSE, FALSE, sizeof (OpenReader));

  for (int step = 0; step < 400; step++)
    {
      int what = g_rand_int_range (rand, 0, 10);
      if (what < 6)
        {
          /* a write transaction against a working copy of the model */
          g_autoptr (GError) error = NULL;
          Model *next = model_copy (m);
          NcTxn *w = nc_store_begin_write (f->store);
          for (int op = 0; op < 8; op++)
            {
              guint n = next->node_labels->len;
              gint64 id = n ? g_rand_int_range (rand, 0, n) : 0;
              gboolean live = n && g_array_index (next->node_labels, gint, id) >= 0;
              int kind = g_rand_int_range (rand, 0, 7);
              if (kind == 0 || !live)
                {
                  NcToken labs[] = { A, B };
                  guint nl = g_rand_int_range (rand, 0, 3);
                  NcNodeId nid = nc_txn_create_node (w, labs, nl, NULL, &error);
                  g_assert_no_error (error);
                  g_assert_cmpint (nid, >=, next->node_labels->len);
                  gint lab = nl == 0 ? 0 : nl == 1 ? 1 : 3, minus = -1;
                  gint64 none = G_MININT64;
                  while (next->node_labels->len < (guint) nid)
                    {
                      g_array_append_val (next->node_labels, minus);
                      g_array_append_val (next->node_x, none);
                    }
                  g_array_append_val (next->node_labels, lab);
                  g_array_append_val (next->node_x, none);
                }
              else if (kind == 1)
                {
                  gint64 v = g_rand_int_range (rand, 0, 1000);
                  set_int (w, id, x, v);
                  g_array_index (next->node_x, gint64, id) = v;
                }
              else if (kind == 2)
                {
                  NcValue null = nc_value_null ();
                  g_assert_true (nc_txn_set_node_prop (w, id, x, &null, &error));
                  g_array_index (next->node_x, gint64, id) = G_MININT64;
                }
              else if (kind == 3)
                {
                  gboolean a = g_rand_boolean (rand);
                  g_assert_true (nc_txn_add_label (w, id, a ? A : B, &error));
                  g_array_index (next->node_labels, gint, id) |= a ? 1 : 2;
                }
              else if (kind == 4)
                {
                  gboolean a = g_rand_boolean (rand);
                  g_assert_true (nc_txn_remove_label (w, id, a ? A : B, &error));
                  g_array_index (next->node_labels, gint, id) &= a ? ~1 : ~2;
                }
              else if (kind == 5)
                {
                  gint64 other = g_rand_int_range (rand, 0, n);
                  if (g_array_index (next->node_labels, gint, other) < 0)
                    continue;
                  NcRelId r = nc_txn_create_rel (w, T, id, other, NULL, &error);
                  g_assert_no_error (error);
                  gint64 minus = -1;
                  while (next->rel_start->len < (guint) r)
                    {
                      g_array_append_val (next->rel_start, minus);
                      g_array_append_val (next->rel_end, minus);
                    }
                  g_array_append_val (next->rel_start, id);
                  g_array_append_val (next->rel_end, other);
                }
              else
                {
                  g_assert_true (nc_txn_delete_node (w, id, TRUE, &error));
                  g_assert_no_error (error);
                  g_array_index (next->node_labels, gint, id) = -1;
                  for (guint r = 0; r < next->rel_start->len; r++)
                    if (g_array_index (next->rel_start, gint64, r) == id || g_array_index (next->rel_end, gint64, r) == id)
                      g_array_index (next->rel_start, gint64, r) = -1;
                }
            }
          model_check (w, next, A, B, x);
          if (g_rand_int_range (rand, 0, 5) == 0)
            {
              nc_txn_rollback (w);
              /* ids burnt by the rollback stay unused in the model too */
              model_free (next);
            }
          else
            {
              commit (f, w);
              model_free (m);
              m = next;
            }
        }
      else if (what < 8 || readers->len == 0)
        {
          OpenReader o = { nc_store_begin_read (f->store), model_copy (m) };
          g_array_append_val (readers, o);
        }
      else
        {
          guint i = g_rand_int_range (rand, 0, readers->len);
          OpenReader o = g_array_index (readers, OpenReader, i);
          model_check (o.txn, o.model, A, B, x);
          if (g_rand_boolean (rand))
            {
              nc_txn_rollback (o.txn);
              model_free (o.model);
              g_array_remove_index (readers, i);
            }
        }
    }
  for (guint i = 0; i < readers->len; i++)
    {
      OpenReader o = g_array_index (readers, OpenReader, i);
      model_check (o.txn, o.model, A, B, x);
      nc_txn_rollback (o.txn);
      model_free (o.model);
    }
  g_array_unref (readers);
  model_free (m);
  g_rand_free (rand);
}

/* ---- engine read paths ---------------------------------------------------- */

/* Every stored map uses the interned key strings, whichever way the
 * property got there (create, SET of a new key, SET +=), so the pointer-only
 * lookup finds it; readers keep their snapshot. */
static void
test_prop_by_interned_key_on_every_write_path (Fixture *f, gconstpointer data)
{
  NcToken L = label (f, "L"), T = rtype (f, "T");
  NcToken ka = key (f, "a"), kb = key (f, "b"), kc = key (f, "c");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  g_autoptr (NcMap) pa = map1 ("a", nc_value_int (1));
  NcNodeId n = nc_txn_create_node (w, &L, 1, pa, &error);
  NcNodeId m = nc_txn_create_node (w, &L, 1, NULL, &error);
  NcRelId r = nc_txn_create_rel (w, T, n, m, pa, &error);
  g_assert_no_error (error);
  commit (f, w);
  NcTxn *old = nc_store_begin_read (f->store);

  w = nc_store_begin_write (f->store);
  NcValue two = nc_value_int (2);
  g_assert_true (nc_txn_set_node_prop (w, n, kb, &two, &error));
  g_assert_true (nc_txn_set_rel_prop (w, r, kb, &two, &error));
  g_autoptr (NcMap) pc = map1 ("c", nc_value_string ("three"));
  g_assert_true (nc_txn_set_node_props (w, n, pc, FALSE, &error));
  g_assert_no_error (error);
  commit (f, w);

  NcTxn *rd = nc_store_begin_read (f->store);
  gboolean vis = FALSE;
  g_auto (NcValue) a = nc_txn_prop_interned (rd, FALSE, n, nc_store_key_string (f->store, ka), &vis);
  g_assert_true (vis);
  g_assert_cmpint (a.u.i, ==, 1);
  g_auto (NcValue) b = nc_txn_prop_interned (rd, FALSE, n, nc_store_key_string (f->store, kb), NULL);
  g_assert_cmpint (b.type, ==, NC_VALUE_INT);
  g_assert_cmpint (b.u.i, ==, 2);
  g_auto (NcValue) c = nc_txn_prop_interned (rd, FALSE, n, nc_store_key_string (f->store, kc), NULL);
  g_assert_cmpint (c.type, ==, NC_VALUE_STRING);
  g_assert_cmpstr (nc_value_str (&c), ==, "three");
  g_auto (NcValue) rb = nc_txn_prop_interned (rd, TRUE, r, nc_store_key_string (f->store, kb), NULL);
  g_assert_cmpint (rb.u.i, ==, 2);
  g_assert_cmpint (prop_int (rd, n, kb), ==, 2);
  /* the older snapshot has no `b` yet, but sees the node */
  vis = FALSE;
  g_auto (NcValue) ob = nc_txn_prop_interned (old, FALSE, n, nc_store_key_string (f->store, kb), &vis);
  g_assert_true (vis);
  g_assert_cmpint (ob.type, ==, NC_VALUE_NULL);
  /* an id that does not exist is not visible */
  g_auto (NcValue) none = nc_txn_prop_interned (rd, FALSE, 999, nc_store_key_string (f->store, ka), &vis);
  g_assert_false (vis);
  g_assert_null (nc_store_key_string (f->store, 12345));
  nc_txn_rollback (old);
  nc_txn_rollback (rd);
}

/* nc_txn_expand_to_label yields a relationship only when the other node is
 * visible at the cursor's snapshot and has the label then; lists longer
 * than a cursor batch are walked completely. */
static void
test_expand_to_label_checks_far_node_at_snapshot (Fixture *f, gconstpointer data)
{
  NcToken L = label (f, "L"), T = rtype (f, "T");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId b = create_node (w, L, NC_TOKEN_NONE, 0);
  NcNodeId c = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId d = create_node (w, L, NC_TOKEN_NONE, 0);
  NcNodeId e = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcRelId rb = nc_txn_create_rel (w, T, a, b, NULL, &error);
  nc_txn_create_rel (w, T, a, c, NULL, &error);
  NcRelId rd = nc_txn_create_rel (w, T, a, d, NULL, &error);
  NcRelId re = nc_txn_create_rel (w, T, a, e, NULL, &error);
  g_assert_no_error (error);
  /* 300 more to labelled nodes: more than one batch (256) */
  NcNodeId many = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  for (int i = 0; i < 300; i++)
    nc_txn_create_rel (w, T, many, create_node (w, (i % 3) ? L : NC_TOKEN_NONE, NC_TOKEN_NONE, 0), NULL, &error);
  g_assert_no_error (error);
  commit (f, w);
  NcTxn *before = nc_store_begin_read (f->store);

  /* d loses its relationship and is deleted; e gains the label */
  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_delete_node (w, d, TRUE, &error));
  g_assert_true (nc_txn_add_label (w, e, L, &error));
  g_assert_no_error (error);
  g_autoptr (GArray) pending = drain (nc_txn_expand_to_label (w, a, NC_DIR_OUT, NULL, 0, L));
  assert_ids (pending, 2, rb, re);
  commit (f, w);
  NcTxn *after = nc_store_begin_read (f->store);

  g_autoptr (GArray) old = drain (nc_txn_expand_to_label (before, a, NC_DIR_OUT, NULL, 0, L));
  assert_ids (old, 2, rb, rd);
  g_autoptr (GArray) now = drain (nc_txn_expand_to_label (after, a, NC_DIR_OUT, NULL, 0, L));
  assert_ids (now, 2, rb, re);
  NcToken ts[] = { T };
  g_autoptr (GArray) in_b = drain (nc_txn_expand_to_label (after, b, NC_DIR_BOTH, ts, 1, L));
  assert_ids (in_b, 0); /* a has no label */
  g_autoptr (GArray) lots = drain (nc_txn_expand_to_label (after, many, NC_DIR_BOTH, ts, 1, L));
  g_assert_cmpuint (lots->len, ==, 200);
  g_autoptr (GArray) all = drain (nc_txn_expand (after, many, NC_DIR_OUT, NULL, 0));
  g_assert_cmpuint (all->len, ==, 300);
  nc_txn_rollback (before);
  nc_txn_rollback (after);
}

/* The writer's relationship visibility reads a mirror of the head's
 * tombstone flag in the slot: it must follow deletes, rollbacks and
 * truncation. */
static void
test_writer_rel_visibility_follows_delete_rollback_truncate (Fixture *f, gconstpointer data)
{
  NcToken T = rtype (f, "T");
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (f->store);
  NcNodeId a = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcNodeId b = create_node (w, NC_TOKEN_NONE, NC_TOKEN_NONE, 0);
  NcRelId r = nc_txn_create_rel (w, T, a, b, NULL, &error);
  g_assert_no_error (error);
  NcLsn created = commit (f, w);

  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_delete_rel (w, r, &error));
  g_assert_false (nc_txn_rel_exists (w, r));
  g_autoptr (GArray) gone = drain (nc_txn_expand (w, a, NC_DIR_OUT, NULL, 0));
  assert_ids (gone, 0);
  g_assert_cmpint (nc_txn_node_degree (w, a, NC_DIR_BOTH, NC_TOKEN_NONE), ==, 0);
  /* created and deleted inside one transaction */
  NcRelId r2 = nc_txn_create_rel (w, T, a, b, NULL, &error);
  g_assert_true (nc_txn_rel_exists (w, r2));
  g_assert_true (nc_txn_delete_rel (w, r2, &error));
  g_assert_false (nc_txn_rel_exists (w, r2));
  g_assert_no_error (error);
  nc_txn_rollback (w);

  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_rel_exists (w, r));
  g_assert_false (nc_txn_rel_exists (w, r2));
  g_autoptr (GArray) back = drain (nc_txn_expand (w, a, NC_DIR_OUT, NULL, 0));
  assert_ids (back, 1, r);
  g_assert_true (nc_txn_delete_rel (w, r, &error));
  commit (f, w);

  w = nc_store_begin_write (f->store);
  g_assert_false (nc_txn_rel_exists (w, r));
  nc_txn_rollback (w);
  /* a leader losing its tail: the delete is undone */
  nc_store_truncate_after (f->store, created);
  w = nc_store_begin_write (f->store);
  g_assert_true (nc_txn_rel_exists (w, r));
  g_autoptr (GArray) again = drain (nc_txn_expand_to_label (w, a, NC_DIR_OUT, NULL, 0, NC_TOKEN_NONE));
  assert_ids (again, 1, r);
  nc_txn_rollback (w);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/nornic/store/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("reader-does-not-see-later-commits", test_reader_does_not_see_later_commits);
  ADD ("prop-by-interned-key-on-every-write-path", test_prop_by_interned_key_on_every_write_path);
  ADD ("expand-to-label-checks-far-node-at-snapshot", test_expand_to_label_checks_far_node_at_snapshot);
  ADD ("writer-rel-visibility-follows-delete-rollback-truncate", test_writer_rel_visibility_follows_delete_rollback_truncate);
  ADD ("reader-does-not-see-uncommitted", test_reader_does_not_see_uncommitted);
  ADD ("writer-sees-its-pending-writes", test_writer_sees_its_pending_writes);
  ADD ("rollback-restores-previous-versions", test_rollback_restores_previous_versions);
  ADD ("delete-is-invisible-after-commit-only", test_delete_is_invisible_after_commit_only);
  ADD ("relationship-visibility-follows-snapshots", test_relationship_visibility_follows_snapshots);
  ADD ("property-columns-follow-every-write-path", test_property_columns_follow_every_write_path);
  ADD ("read-transaction-cannot-write", test_read_transaction_cannot_write);
  ADD ("single-writer-at-a-time", test_single_writer_at_a_time);
  ADD ("long-cursor-keeps-its-snapshot", test_long_cursor_keeps_its_snapshot);
  ADD ("writer-commits-while-cursor-is-open", test_writer_commits_while_cursor_is_open);
  ADD ("concurrent-readers-see-consistent-snapshots", test_concurrent_readers_see_consistent_snapshots);
  ADD ("columns-agree-with-versions-under-concurrency", test_columns_agree_with_versions_under_concurrency);
  ADD ("expand-filters-types-and-directions", test_expand_filters_types_and_directions);
  ADD ("self-loop-yielded-once-for-both", test_self_loop_yielded_once_for_both);
  ADD ("index-seek-and-range-match-scan", test_index_seek_and_range_match_scan);
  ADD ("index-cursor-spans-batches", test_index_cursor_spans_batches);
  ADD ("unique-constraint-on-every-write-path", test_unique_constraint_on_every_write_path);
  ADD ("unique-constraint-over-duplicates-fails", test_unique_constraint_over_duplicates_fails);
  ADD ("schema-is-transactional", test_schema_is_transactional);
  ADD ("detach-delete-records-each-relationship", test_detach_delete_records_each_relationship);
  ADD ("deferred-delete-checked-before-commit", test_deferred_delete_checked_before_commit);
  ADD ("non-storable-values-are-type-errors", test_non_storable_values_are_type_errors);
  ADD ("materialise-fills-entities", test_materialise_fills_entities);
  ADD ("apply-writeset-reproduces-graph", test_apply_writeset_reproduces_graph);
  ADD ("dump-apply-round-trip", test_dump_apply_round_trip);
  ADD ("version-chains-stay-short", test_version_chains_stay_short);
  ADD ("deleted-entities-are-pruned-later", test_deleted_entities_are_pruned_later);
  ADD ("truncate-after-discards-tail", test_truncate_after_discards_tail);
  ADD ("unknown-tokens-are-rejected", test_unknown_tokens_are_rejected);
  ADD ("counts-follow-snapshots", test_counts_follow_snapshots);
  ADD ("counts-exact-behind-applied-index", test_counts_exact_behind_applied_index);
  ADD ("store-errors-map-to-neo4j-codes", test_store_errors_map_to_neo4j_codes);
  ADD ("model-based-mvcc", test_model_based_mvcc);
#undef ADD
  return g_test_run ();
}
