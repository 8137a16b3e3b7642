/* Installing a snapshot (clear + reload) while read transactions run.
 *
 * A follower that installs a snapshot from its leader empties its store and
 * loads another one while Bolt/HTTP reads and backups may be running on it.
 * These tests check that such a reader never touches freed memory and never
 * sees a mix of the two stores: it either finishes with a result that is
 * entirely one load's, or nc_txn_check_store() fails with a transient error
 * (drivers retry those). */
#include "store.h"
#include "config.h"
#include "db.h"
#include "errors.h"

#include <glib/gstdio.h>
#include <string.h>
#include "test-fs-util.h"

/* Entities per load: several cursor batches (they start at 16 ids). */
#define N_NODES 200
#define N_READERS 3
#define RELOADS 200
#define TIME_LIMIT_US (4 * G_USEC_PER_SEC)

typedef struct {
  NcStore *store;
  NcToken label, id_key, gen_key, type;
  NcLsn lsn;
} Graph;

static NcMap *
props2 (const char *k1, NcValue v1, const char *k2, NcValue v2)
{
  NcMap *m = nc_map_new (2);
  nc_map_append (m, k1, v1);
  if (k2 != NULL)
    nc_map_append (m, k2, v2);
  return m;
}

/* One "snapshot": N_NODES :A nodes {id: i, gen: gen} in a chain of :T
 * relationships {gen: gen}, an index on :A(id), committed at the next index
 * and published, the way nc_snapshot_load leaves a store. */
static void
load_generation (Graph *g, gint64 gen)
{
  g_autoptr (GError) error = NULL;
  NcTxn *w = nc_store_begin_write (g->store);
  g_assert_true (nc_txn_create_schema (w, NC_SCHEMA_INDEX, "index_A_id", g->label, g->id_key, TRUE, &error));
  g_assert_no_error (error);
  NcNodeId prev = -1;
  for (gint64 i = 0; i < N_NODES; i++)
    {
      g_autoptr (NcMap) p = props2 ("id", nc_value_int (i), "gen", nc_value_int (gen));
      NcNodeId id = nc_txn_create_node (w, &g->label, 1, p, &error);
      g_assert_no_error (error);
      /* ids restart at 0 after a clear: the old and the new store use the
       * same ids for different entities, as a real install does */
      g_assert_cmpint (id, ==, i);
      if (prev >= 0)
        {
          g_autoptr (NcMap) rp = props2 ("gen", nc_value_int (gen), NULL, nc_value_null ());
          nc_txn_create_rel (w, g->type, prev, id, rp, &error);
          g_assert_no_error (error);
        }
      prev = id;
    }
  g->lsn++;
  nc_txn_commit (w, g->lsn);
  nc_store_publish (g->store, g->lsn);
}

static void
graph_init (Graph *g)
{
  g->store = nc_store_new ();
  g->label = nc_store_token (g->store, NC_TOKEN_LABEL, "A", TRUE);
  g->type = nc_store_token (g->store, NC_TOKEN_REL_TYPE, "T", TRUE);
  g->id_key = nc_store_token (g->store, NC_TOKEN_PROP_KEY, "id", TRUE);
  g->gen_key = nc_store_token (g->store, NC_TOKEN_PROP_KEY, "gen", TRUE);
  g->lsn = 0;
}

/* What api_snapshot_install does to the store. */
static void
reinstall (Graph *g, gint64 gen)
{
  nc_store_begin_install (g->store);
  load_generation (g, gen);
  nc_store_end_install (g->store);
}

static gint64
int_or (NcValue v, gint64 dflt)
{
  gint64 r = v.type == NC_VALUE_INT ? v.u.i : dflt;
  nc_value_clear (&v);
  return r;
}

/* ---- concurrent readers ---------------------------------------------------- */

typedef struct {
  Graph *g;
  gint stop;
  guint seed;
  /* per reader results */
  gint completed;             /* atomic: the main thread polls it */
  guint failed;
} ReaderCtx;

/* Every generation a read saw: one for a consistent read. -1 = none yet;
 * a mix is recorded as -2. */
static void
saw (gint64 *gen, gint64 v)
{
  if (*gen == -1)
    *gen = v;
  else if (*gen != v)
    *gen = -2;
}

static gpointer
reader_thread (gpointer data)
{
  ReaderCtx *rc = data;
  Graph *g = rc->g;
  GRand *rand = g_rand_new_with_seed (rc->seed);
  gint64 deadline = g_get_monotonic_time () + TIME_LIMIT_US + G_USEC_PER_SEC;
  for (guint iter = 0; iter < 100000 && !g_atomic_int_get (&rc->stop) && g_get_monotonic_time () < deadline;
       iter++)
    {
      NcTxn *t = nc_store_begin_read (g->store);
      gint64 gen = -1, rows = 0, expect_rows = 0;
      int mode = (int) (iter % 5);
      gint64 k = g_rand_int_range (rand, 0, N_NODES - 1);
      gint64 id;
      switch (mode)
        {
        case 0: /* label scan + property reads */
          {
            g_autoptr (NcCursor) c = nc_txn_scan_nodes (t, g->label);
            while (nc_cursor_next (c, &id))
              {
                rows++;
                saw (&gen, int_or (nc_txn_node_prop (t, id, g->gen_key), -3));
                g_thread_yield ();
              }
            expect_rows = N_NODES;
            break;
          }
        case 1: /* index seek */
          {
            NcValue want = nc_value_int (k);
            g_autoptr (NcCursor) c = nc_txn_seek_nodes (t, g->label, g->id_key, &want);
            while (nc_cursor_next (c, &id))
              {
                rows++;
                saw (&gen, int_or (nc_txn_node_prop (t, id, g->gen_key), -3));
                if (int_or (nc_txn_node_prop (t, id, g->id_key), -3) != k)
                  saw (&gen, -4);
              }
            expect_rows = 1;
            break;
          }
        case 2: /* index range over many batches */
          {
            NcValue lo = nc_value_int (0);
            g_autoptr (NcCursor) c = nc_txn_range_nodes (t, g->label, g->id_key, &lo, TRUE, NULL, FALSE);
            while (nc_cursor_next (c, &id))
              {
                rows++;
                g_auto (NcValue) node = nc_txn_materialise_node (t, id);
                if (node.type != NC_VALUE_NODE)
                  saw (&gen, -3);
                else
                  {
                    const NcValue *v = nc_map_get (node.u.entity->props, "gen");
                    saw (&gen, v != NULL && v->type == NC_VALUE_INT ? v->u.i : -3);
                  }
                g_thread_yield ();
              }
            expect_rows = N_NODES;
            break;
          }
        case 3: /* expand from every node: one outgoing :T each but the last */
          {
            g_autoptr (NcCursor) scan = nc_txn_scan_nodes (t, NC_TOKEN_NONE);
            g_autoptr (NcCursor) ex = NULL;
            while (nc_cursor_next (scan, &id))
              {
                if (ex == NULL)
                  ex = nc_txn_expand (t, id, NC_DIR_OUT, &g->type, 1);
                else
                  nc_cursor_expand_restart (ex, id);
                NcRelId r;
                while (nc_cursor_next (ex, &r))
                  {
                    rows++;
                    saw (&gen, int_or (nc_txn_rel_prop (t, r, g->gen_key), -3));
                    saw (&gen, int_or (nc_txn_node_prop (t, nc_cursor_rel_other (ex), g->gen_key), -3));
                    NcNodeId start = -1;
                    if (!nc_txn_rel_info (t, r, NULL, &start, NULL) || start != id)
                      saw (&gen, -5);
                  }
                g_thread_yield ();
              }
            expect_rows = N_NODES - 1;
            break;
          }
        default: /* relationship scan and counts */
          {
            g_autoptr (NcCursor) c = nc_txn_scan_rels (t, g->type);
            while (nc_cursor_next (c, &id))
              {
                rows++;
                saw (&gen, int_or (nc_txn_rel_prop (t, id, g->gen_key), -3));
                g_thread_yield ();
              }
            if (nc_txn_count_nodes (t, g->label) != N_NODES || nc_txn_count_rels (t) != N_NODES - 1)
              saw (&gen, -6);
            expect_rows = N_NODES - 1;
            break;
          }
        }
      g_autoptr (GError) error = NULL;
      if (!nc_txn_check_store (t, &error))
        {
          /* the only acceptable failure: transient, saying why */
          g_assert_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE);
          g_assert_true (nc_error_is_transient (error));
          g_assert_nonnull (strstr (error->message, "snapshot"));
          rc->failed++;
          /* a driver backs off before it retries; spinning here would
           * only starve the install */
          g_usleep (100);
        }
      else
        {
          if (gen < 0 || rows != expect_rows)
            g_error ("reader mode %d saw generation %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT
                     " rows (want one generation and %" G_GINT64_FORMAT ") but was not told to retry",
                     mode, gen, rows, expect_rows);
          g_atomic_int_inc (&rc->completed);
        }
      nc_txn_rollback (t);
    }
  g_rand_free (rand);
  return NULL;
}

static void
test_readers_survive_reloads (void)
{
  Graph g;
  graph_init (&g);
  load_generation (&g, 0);
  ReaderCtx rc[N_READERS];
  GThread *th[N_READERS];
  for (int i = 0; i < N_READERS; i++)
    {
      rc[i] = (ReaderCtx) { .g = &g, .seed = 17 + (guint) i };
      th[i] = g_thread_new ("reader", reader_thread, &rc[i]);
    }
  gint64 deadline = g_get_monotonic_time () + TIME_LIMIT_US;
  guint reloads = 0;
  for (; reloads < RELOADS && g_get_monotonic_time () < deadline; reloads++)
    {
      reinstall (&g, (gint64) reloads + 1);
      g_usleep (500);
    }
  /* every reader also completes reads of the last store (bounded wait) */
  gint at_end[N_READERS];
  for (int i = 0; i < N_READERS; i++)
    at_end[i] = g_atomic_int_get (&rc[i].completed);
  gint64 settle = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  for (int i = 0; i < N_READERS; i++)
    while (g_atomic_int_get (&rc[i].completed) == at_end[i] && g_get_monotonic_time () < settle)
      g_usleep (1000);
  guint completed = 0, failed = 0;
  for (int i = 0; i < N_READERS; i++)
    {
      g_atomic_int_set (&rc[i].stop, 1);
      g_thread_join (th[i]);
      g_assert_cmpint (g_atomic_int_get (&rc[i].completed), >, at_end[i]);
      completed += (guint) rc[i].completed;
      failed += rc[i].failed;
    }
  g_test_message ("%u reloads; reads: %u consistent, %u told to retry", reloads, completed, failed);
  g_assert_cmpuint (reloads, >=, 20);
  g_assert_cmpuint (completed, >, 0);
  nc_store_free (g.store);
}

/* ---- one transaction across a clear ---------------------------------------- */

static void
assert_told_to_retry (NcTxn *t)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (nc_txn_check_store (t, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE);
  g_assert_true (nc_error_is_transient (error));
  g_assert_nonnull (strstr (error->message, "snapshot"));
}

static void
test_txn_begun_before_clear_fails (void)
{
  Graph g;
  graph_init (&g);
  load_generation (&g, 1);
  NcTxn *t = nc_store_begin_read (g.store);
  g_assert_true (nc_txn_check_store (t, NULL));
  /* cursors opened before the install, part way through */
  NcCursor *scan = nc_txn_scan_nodes (t, g.label);
  NcCursor *rels = nc_txn_scan_rels (t, NC_TOKEN_NONE);
  NcCursor *ex = nc_txn_expand (t, 5, NC_DIR_BOTH, NULL, 0);
  NcValue lo = nc_value_int (0);
  NcCursor *range = nc_txn_range_nodes (t, g.label, g.id_key, &lo, TRUE, NULL, FALSE);
  gint64 id;
  g_assert_true (nc_cursor_next (scan, &id));
  g_assert_true (nc_cursor_next (rels, &id));
  g_assert_true (nc_cursor_next (range, &id));

  /* the new store has the same ids with other values, and its commit index
   * is above the reader's snapshot */
  reinstall (&g, 2);
  reinstall (&g, 3);

  /* nothing of the new store shows through the old transaction */
  g_auto (NcValue) v = nc_txn_node_prop (t, 0, g.gen_key);
  g_assert_cmpint (v.type, ==, NC_VALUE_NULL);
  g_assert_false (nc_txn_node_exists (t, 0));
  g_assert_false (nc_txn_rel_exists (t, 0));
  guint n = 0;
  while (nc_cursor_next (scan, &id) && n < 1000)
    n++;
  while (nc_cursor_next (rels, &id) && n < 2000)
    n++;
  while (nc_cursor_next (ex, &id) && n < 3000)
    n++;
  while (nc_cursor_next (range, &id) && n < 4000)
    n++;
  /* the first batches (read before the install) may still be handed out;
   * no more than that */
  g_assert_cmpuint (n, <=, 3 * 16);
  assert_told_to_retry (t);
  nc_cursor_free (scan);
  nc_cursor_free (rels);
  nc_cursor_free (ex);
  nc_cursor_free (range);
  nc_txn_rollback (t);

  /* a transaction begun after the install reads the new store */
  t = nc_store_begin_read (g.store);
  g_assert_true (nc_txn_check_store (t, NULL));
  g_auto (NcValue) v3 = nc_txn_node_prop (t, 0, g.gen_key);
  g_assert_cmpint (v3.type, ==, NC_VALUE_INT);
  g_assert_cmpint (v3.u.i, ==, 3);
  nc_txn_rollback (t);
  nc_store_free (g.store);
}

static void
test_txn_begun_during_install_fails (void)
{
  Graph g;
  graph_init (&g);
  load_generation (&g, 1);
  nc_store_begin_install (g.store);
  /* an empty or half-loaded store is not the leader's state either */
  NcTxn *empty = nc_store_begin_read (g.store);
  load_generation (&g, 2);
  NcTxn *loaded = nc_store_begin_read (g.store);
  g_assert_false (nc_txn_node_exists (loaded, 0));
  nc_store_end_install (g.store);
  assert_told_to_retry (empty);
  assert_told_to_retry (loaded);
  nc_txn_rollback (empty);
  nc_txn_rollback (loaded);
  NcTxn *after = nc_store_begin_read (g.store);
  g_assert_true (nc_txn_check_store (after, NULL));
  g_assert_true (nc_txn_node_exists (after, 0));
  nc_txn_rollback (after);
  nc_store_free (g.store);
}

/* A plain clear (no install around it) also retires earlier readers. */
static void
test_plain_clear_retires_readers (void)
{
  Graph g;
  graph_init (&g);
  load_generation (&g, 1);
  guint64 before = nc_store_generation (g.store);
  NcTxn *t = nc_store_begin_read (g.store);
  nc_store_clear (g.store);
  g_assert_cmpuint (nc_store_generation (g.store), >, before);
  load_generation (&g, 2);
  g_assert_false (nc_txn_node_exists (t, 0));
  assert_told_to_retry (t);
  nc_txn_rollback (t);
  t = nc_store_begin_read (g.store);
  g_assert_true (nc_txn_check_store (t, NULL));
  g_assert_cmpint (nc_txn_count_nodes (t, NC_TOKEN_NONE), ==, N_NODES);
  nc_txn_rollback (t);
  nc_store_free (g.store);
}

/* ---- a dump (snapshot or backup) across a clear ------------------------------ */

typedef struct {
  Graph *g;
  guint batches;
} DumpCtx;

static gboolean
dump_emit_reinstalls (const NcWriteSet *batch, gpointer user_data, GError **error)
{
  DumpCtx *d = user_data;
  /* the store's lock is not held while a batch is emitted */
  if (d->batches++ == 0)
    reinstall (d->g, 9);
  return TRUE;
}

static void
test_dump_fails_after_clear (void)
{
  Graph g;
  graph_init (&g);
  load_generation (&g, 1);
  NcTxn *t = nc_store_begin_read (g.store);
  DumpCtx d = { &g, 0 };
  g_autoptr (GError) error = NULL;
  g_assert_false (nc_store_dump (t, 16, dump_emit_reinstalls, &d, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE);
  g_assert_true (nc_error_is_transient (error));
  nc_txn_rollback (t);
  nc_store_free (g.store);
}

/* ---- through the engine: a streaming result across a clear ------------------ */

static void
test_result_across_clear_fails_transient (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("nornicdb-storeclear-XXXXXX", &error);
  g_assert_no_error (error);
  NcConfig *config = nc_config_new ();
  const char *env[] = { NULL };
  g_assert_true (nc_config_load (config, NULL, (gchar **) env, &error));
  g_assert_true (nc_config_set (config, "NORNICDB_DATA_DIR", dir, "cli", &error));
  g_assert_true (nc_config_set (config, "NORNICDB_MODULE_DIR", NC_BUILD_MODULEDIR_TEST, "cli", &error));
  g_assert_true (nc_config_set (config, "NORNICDB_AUTH", "admin:test", "cli", &error));
  NcDb *db = nc_db_open (config, NULL, &error);
  g_assert_no_error (error);

  NcTxOptions w = { .mode = NC_ACCESS_WRITE, .user = "admin", .may_write = TRUE, .is_admin = TRUE };
  NcResult *res = nc_db_run_autocommit (db, &w, "UNWIND range(1, 300) AS i CREATE (:A {i: i})", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (nc_result_finish (res, NULL, &error));
  g_assert_no_error (error);
  nc_result_free (res);

  /* a read result streaming when the store is replaced */
  NcTxOptions r = { .mode = NC_ACCESS_READ, .user = "admin", .may_write = TRUE, .is_admin = TRUE };
  NcTransaction *tx = nc_db_begin (db, &r, &error);
  g_assert_no_error (error);
  res = nc_transaction_run (tx, "MATCH (n:A) RETURN n.i AS i", NULL, &error);
  g_assert_no_error (error);
  const NcValue *row;
  g_assert_true (nc_result_next (res, &row, &error));
  g_assert_cmpint (row[0].type, ==, NC_VALUE_INT);

  nc_store_clear (nc_db_store (db));

  guint more = 0;
  while (nc_result_next (res, &row, &error) && more < 1000)
    more++;
  /* the rows read before the clear may still come; then the failure */
  g_assert_cmpuint (more, <, 300);
  g_assert_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE);
  g_assert_true (nc_error_is_transient (error));
  g_assert_nonnull (strstr (error->message, "replaced by a snapshot"));
  g_clear_error (&error);
  nc_result_free (res);
  nc_transaction_free (tx);

  /* a new transaction reads the (now empty) store normally */
  res = nc_db_run_autocommit (db, &r, "MATCH (n) RETURN count(n) AS c", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (nc_result_next (res, &row, &error));
  g_assert_no_error (error);
  g_assert_cmpint (row[0].u.i, ==, 0);
  g_assert_false (nc_result_next (res, &row, &error));
  g_assert_no_error (error);
  nc_result_free (res);

  nc_db_close (db);
  nc_config_free (config);
  nc_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/store-clear/readers-survive-reloads-consistent-or-retry",
                   test_readers_survive_reloads);
  g_test_add_func ("/nornic/store-clear/txn-begun-before-clear-fails-transient",
                   test_txn_begun_before_clear_fails);
  g_test_add_func ("/nornic/store-clear/txn-begun-during-install-fails-transient",
                   test_txn_begun_during_install_fails);
  g_test_add_func ("/nornic/store-clear/plain-clear-retires-readers", test_plain_clear_retires_readers);
  g_test_add_func ("/nornic/store-clear/dump-fails-after-clear-transient", test_dump_fails_after_clear);
  g_test_add_func ("/nornic/store-clear/streaming-result-across-clear-fails-transient",
                   test_result_across_clear_fails_transient);
  return g_test_run ();
}
