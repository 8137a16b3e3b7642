/* The database as a whole: durable commit, recovery from snapshot + WAL,
 * torn tails vs corruption, MVCC through transactions, bookmarks, module
 * loading errors. */
#include "db.h"
#include "errors.h"
#include "wal.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include "test-fs-util.h"

typedef struct {
  char *dir;
  NcConfig *config;
  NcDb *db;
} Fixture;

static NcConfig *
make_config (const char *dir, const char *module_dir)
{
  NcConfig *c = nc_config_new ();
  g_autoptr (GError) error = NULL;
  const char *env[] = { NULL };
  g_assert_true (nc_config_load (c, NULL, (gchar **) env, &error));
  g_assert_true (nc_config_set (c, "NORNICDB_DATA_DIR", dir, "cli", &error));
  g_assert_true (nc_config_set (c, "NORNICDB_MODULE_DIR", module_dir, "cli", &error));
  g_assert_true (nc_config_set (c, "NORNICDB_AUTH", "admin:test", "cli", &error));
  g_assert_true (nc_config_set (c, "NORNICDB_BOOKMARK_TIMEOUT", "200ms", "cli", &error));
  /* Small segments so that compaction really deletes files. */
  g_assert_true (nc_config_set (c, "NORNICDB_WAL_SEGMENT_SIZE", "1KiB", "cli", &error));
  g_assert_no_error (error);
  return c;
}

static void
fixture_open (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  f->config = make_config (f->dir, NC_BUILD_MODULEDIR_TEST);
  f->db = nc_db_open (f->config, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->db);
}

static void
fixture_close (Fixture *f)
{
  nc_db_close (f->db);
  f->db = NULL;
  nc_config_free (f->config);
  f->config = NULL;
}

static void
setup (Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp ("nornicdb-db-XXXXXX", NULL);
  fixture_open (f);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  if (f->db)
    fixture_close (f);
  nc_test_rm_rf (f->dir);
  g_free (f->dir);
}

static NcTxOptions
admin_opts (NcAccessMode mode)
{
  NcTxOptions o = { .mode = mode, .user = "admin", .may_write = TRUE, .is_admin = TRUE };
  return o;
}

/* Runs an auto-commit query and returns the first column of the first row
 * as an integer (or -1 when there is no row). */
static gint64
run_int (NcDb *db, const char *query, char **bookmark)
{
  g_autoptr (GError) error = NULL;
  NcTxOptions o = admin_opts (NC_ACCESS_WRITE);
  g_autoptr (NcResult) res = nc_db_run_autocommit (db, &o, query, NULL, &error);
  g_assert_no_error (error);
  const NcValue *row;
  gint64 out = -1;
  if (nc_result_next (res, &row, &error))
    out = row[0].type == NC_VALUE_INT ? row[0].u.i : -2;
  g_assert_true (nc_result_finish (res, bookmark, &error));
  g_assert_no_error (error);
  return out;
}

static void
test_commit_survives_reopen (Fixture *f, gconstpointer data)
{
  for (int i = 0; i < 50; i++)
    {
      g_autofree char *q = g_strdup_printf ("CREATE (:P {n: %d})", i);
      run_int (f->db, q, NULL);
    }
  fixture_close (f);
  fixture_open (f);
  g_assert_cmpint (run_int (f->db, "MATCH (p:P) RETURN count(p)", NULL), ==, 50);
  g_assert_cmpint (run_int (f->db, "MATCH (p:P) RETURN sum(p.n)", NULL), ==, 49 * 50 / 2);
}

static void
test_snapshot_plus_wal_replay (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  run_int (f->db, "UNWIND range(1, 100) AS i CREATE (:S {i: i})", NULL);
  g_autofree char *snap = nc_db_snapshot_now (f->db, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_test (snap, G_FILE_TEST_EXISTS));
  run_int (f->db, "UNWIND range(101, 150) AS i CREATE (:S {i: i})", NULL);
  run_int (f->db, "MATCH (s:S) WHERE s.i <= 10 DETACH DELETE s", NULL);
  fixture_close (f);
  fixture_open (f);
  g_assert_cmpint (run_int (f->db, "MATCH (s:S) RETURN count(s)", NULL), ==, 140);
  g_assert_cmpint (run_int (f->db, "MATCH (s:S) RETURN min(s.i)", NULL), ==, 11);
}

static void
test_damaged_newest_snapshot_falls_back (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *first = NULL, *second = NULL;
  /* One transaction per node, so the 1 KiB segments roll many times. */
  for (int i = 1; i <= 50; i++)
    {
      g_autofree char *q = g_strdup_printf ("CREATE (:D {i: %d, pad: '%0100d'})", i, i);
      run_int (f->db, q, NULL);
      if (i == 20)
        first = nc_db_snapshot_now (f->db, &error);
      if (i == 40)
        second = nc_db_snapshot_now (f->db, &error);
      g_assert_no_error (error);
    }
  g_assert_cmpstr (first, !=, second);
  fixture_close (f);

  gchar *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (second, &contents, &len, NULL));
  contents[len / 2] ^= 0x5a;
  g_assert_true (g_file_set_contents (second, contents, len, NULL));
  g_free (contents);

  /* The fallback is announced with a warning: not fatal here. */
  GLogLevelFlags old = g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  fixture_open (f);
  g_log_set_always_fatal (old);
  g_assert_cmpint (run_int (f->db, "MATCH (d:D) RETURN count(d)", NULL), ==, 50);
}

static char *
last_wal_segment (const char *dir)
{
  g_autofree char *wal_dir = g_build_filename (dir, "wal", NULL);
  g_autoptr (GDir) d = g_dir_open (wal_dir, 0, NULL);
  g_assert_nonnull (d);
  char *last = NULL;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".log") && (last == NULL || strcmp (name, last) > 0))
      {
        g_free (last);
        last = g_strdup (name);
      }
  g_assert_nonnull (last);
  char *path = g_build_filename (wal_dir, last, NULL);
  g_free (last);
  return path;
}

static void
test_torn_tail_is_truncated_on_open (Fixture *f, gconstpointer data)
{
  run_int (f->db, "CREATE (:T {v: 1})", NULL);
  run_int (f->db, "CREATE (:T {v: 2})", NULL);
  fixture_close (f);
  /* A crash in the middle of writing a record: half a header at the end. */
  g_autofree char *seg = last_wal_segment (f->dir);
  int fd = open (seg, O_WRONLY | O_APPEND);
  g_assert_cmpint (fd, >=, 0);
  const guint8 torn[] = { 0x40, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe };
  g_assert_cmpint (write (fd, torn, sizeof torn), ==, sizeof torn);
  close (fd);
  fixture_open (f);
  g_assert_cmpint (run_int (f->db, "MATCH (t:T) RETURN count(t)", NULL), ==, 2);
  run_int (f->db, "CREATE (:T {v: 3})", NULL);
  fixture_close (f);
  fixture_open (f);
  g_assert_cmpint (run_int (f->db, "MATCH (t:T) RETURN count(t)", NULL), ==, 3);
}

static void
test_mid_log_corruption_refuses_to_start (Fixture *f, gconstpointer data)
{
  for (int i = 0; i < 5; i++)
    run_int (f->db, "CREATE (:C {payload: 'some bytes to corrupt'})", NULL);
  fixture_close (f);
  g_autofree char *seg = last_wal_segment (f->dir);
  gchar *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (seg, &contents, &len, NULL));
  /* Flip a byte in the middle of the log (not the last record). */
  contents[len / 3] ^= 0xff;
  g_assert_true (g_file_set_contents (seg, contents, len, NULL));
  g_free (contents);

  g_autoptr (GError) error = NULL;
  f->config = make_config (f->dir, NC_BUILD_MODULEDIR_TEST);
  f->db = nc_db_open (f->config, NULL, &error);
  g_assert_null (f->db);
  g_assert_nonnull (error);
  g_autofree char *base = g_path_get_basename (seg);
  if (strstr (error->message, base) == NULL || strstr (error->message, "offset") == NULL)
    g_error ("error should name the file and offset: %s", error->message);
  nc_config_free (f->config);
  f->config = NULL;
}

static void
test_reader_never_sees_uncommitted_writes (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcTxOptions w = admin_opts (NC_ACCESS_WRITE);
  NcTransaction *tx = nc_db_begin (f->db, &w, &error);
  g_assert_no_error (error);
  g_autoptr (NcResult) r = nc_transaction_run (tx, "CREATE (:U {v: 1})", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (nc_result_finish (r, NULL, &error));

  /* A concurrent reader (read transactions never wait for the writer). */
  NcTxOptions ro = admin_opts (NC_ACCESS_READ);
  NcTransaction *reader = nc_db_begin (f->db, &ro, &error);
  g_assert_no_error (error);
  g_autoptr (NcResult) rr = nc_transaction_run (reader, "MATCH (u:U) RETURN count(u)", NULL, &error);
  const NcValue *row;
  g_assert_true (nc_result_next (rr, &row, &error));
  g_assert_cmpint (row[0].u.i, ==, 0);
  nc_transaction_free (reader);

  g_autofree char *bookmark = NULL;
  g_assert_true (nc_transaction_commit (tx, &bookmark, &error));
  g_assert_no_error (error);
  nc_transaction_free (tx);
  g_assert_true (g_str_has_prefix (bookmark, "nornicdb:"));
  g_assert_cmpint (run_int (f->db, "MATCH (u:U) RETURN count(u)", NULL), ==, 1);
}

static void
test_rollback_discards_effects (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcTxOptions w = admin_opts (NC_ACCESS_WRITE);
  NcTransaction *tx = nc_db_begin (f->db, &w, &error);
  g_autoptr (NcResult) r = nc_transaction_run (tx, "CREATE (:R {v: 1})", NULL, &error);
  g_assert_true (nc_result_finish (r, NULL, &error));
  nc_transaction_rollback (tx);
  nc_transaction_free (tx);
  g_assert_cmpint (run_int (f->db, "MATCH (r:R) RETURN count(r)", NULL), ==, 0);
}

static void
test_read_transaction_rejects_writes (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcTxOptions ro = admin_opts (NC_ACCESS_READ);
  NcTransaction *tx = nc_db_begin (f->db, &ro, &error);
  NcResult *r = nc_transaction_run (tx, "CREATE (:X)", NULL, &error);
  g_assert_null (r);
  g_assert_error (error, NC_ERROR, NC_ERROR_ACCESS_MODE);
  nc_transaction_free (tx);
}

static void
test_reader_role_cannot_write (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcTxOptions o = { .mode = NC_ACCESS_WRITE, .user = "bob", .may_write = FALSE };
  NcResult *r = nc_db_run_autocommit (f->db, &o, "CREATE (:X)", NULL, &error);
  g_assert_null (r);
  g_assert_error (error, NC_ERROR, NC_ERROR_FORBIDDEN);
}

static void
test_bookmark_from_the_future_times_out (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *bm = NULL;
  run_int (f->db, "CREATE (:B)", &bm);
  guint64 idx = 0;
  g_assert_true (nc_bookmark_parse (bm, &idx));
  g_autofree char *ok_bm = nc_bookmark_format (idx);
  const char *ok_list[] = { ok_bm, NULL };
  NcTxOptions o = admin_opts (NC_ACCESS_READ);
  o.bookmarks = ok_list;
  NcTransaction *tx = nc_db_begin (f->db, &o, &error);
  g_assert_no_error (error);
  nc_transaction_free (tx);

  g_autofree char *future = nc_bookmark_format (idx + 1000);
  const char *future_list[] = { future, NULL };
  o.bookmarks = future_list;
  gint64 start = g_get_monotonic_time ();
  tx = nc_db_begin (f->db, &o, &error);
  g_assert_null (tx);
  g_assert_error (error, NC_ERROR, NC_ERROR_BOOKMARK_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 150000);
  g_clear_error (&error);

  const char *bad_list[] = { "not-a-bookmark", NULL };
  o.bookmarks = bad_list;
  g_assert_null (nc_db_begin (f->db, &o, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_TX_INVALID);
}

static void
test_missing_module_names_the_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("nornicdb-db-XXXXXX", NULL);
  g_autoptr (NcConfig) c = make_config (dir, "/nonexistent/modules");
  g_autoptr (GError) error = NULL;
  NcDb *db = nc_db_open (c, NULL, &error);
  g_assert_null (db);
  g_assert_nonnull (strstr (error->message, "/nonexistent/modules/standalone.so"));
  nc_test_rm_rf (dir);
}

static void
test_second_daemon_on_same_dir_is_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NcConfig) c = make_config (f->dir, NC_BUILD_MODULEDIR_TEST);
  NcDb *db2 = nc_db_open (c, NULL, &error);
  g_assert_null (db2);
  g_assert_nonnull (strstr (error->message, "lock"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/nornic/db/" path, Fixture, NULL, setup, fn, teardown)
  ADD ("commit-survives-reopen", test_commit_survives_reopen);
  ADD ("snapshot-plus-wal-replay", test_snapshot_plus_wal_replay);
  ADD ("torn-tail-is-truncated-on-open", test_torn_tail_is_truncated_on_open);
  ADD ("damaged-newest-snapshot-falls-back", test_damaged_newest_snapshot_falls_back);
  ADD ("mid-log-corruption-refuses-to-start", test_mid_log_corruption_refuses_to_start);
  ADD ("reader-never-sees-uncommitted-writes", test_reader_never_sees_uncommitted_writes);
  ADD ("rollback-discards-effects", test_rollback_discards_effects);
  ADD ("read-transaction-rejects-writes", test_read_transaction_rejects_writes);
  ADD ("reader-role-cannot-write", test_reader_role_cannot_write);
  ADD ("bookmark-from-the-future-times-out", test_bookmark_from_the_future_times_out);
  ADD ("second-daemon-on-same-dir-is-refused", test_second_daemon_on_same_dir_is_refused);
#undef ADD
  g_test_add_func ("/nornic/db/missing-module-names-the-file", test_missing_module_names_the_file);
  return g_test_run ();
}
