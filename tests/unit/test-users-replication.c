/* The user table as replicated state (core/users.h "replicated user table",
 * docs/architecture.md "Users"): export/replace round trip, staging on a
 * detached copy, and through a whole database (standalone module) the
 * commit as one META write-set, WAL replay, snapshots and transactions. */
#include "db.h"
#include "errors.h"
#include "snapshot.h"
#include "users.h"
#include "wal.h"
#include "writeset.h"

#include <string.h>

#include <glib/gstdio.h>
#include "test-fs-util.h"

typedef struct {
  char *dir;
  char *dir2;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp ("nc-users-repl-XXXXXX", NULL);
  f->dir2 = g_dir_make_tmp ("nc-users-repl2-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  g_assert_nonnull (f->dir2);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  nc_test_rm_rf (f->dir);
  nc_test_rm_rf (f->dir2);
  g_free (f->dir);
  g_free (f->dir2);
}

static NcUsers *
open_users (const char *dir, const char *auth)
{
  g_autoptr (GError) error = NULL;
  NcUsers *users = nc_users_open (dir, auth, &error);
  g_assert_no_error (error);
  nc_users_set_iterations (users, 1000);
  return users;
}

static gboolean
can_login (NcUsers *users, const char *user, const char *password)
{
  return nc_users_authenticate (users, NULL, user, password, NULL, NULL);
}

static char *
read_users_file (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "users.json", NULL);
  char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return text;
}

/* ---- the table alone ------------------------------------------------------------- */

static void
test_export_replace_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NcUsers) a = open_users (f->dir, "admin:writer-pw");
  g_assert_true (nc_users_create (a, "bob", "bob-secret-pw", NC_USER_ROLE_READER, FALSE, &error));
  g_assert_true (nc_users_create (a, "eve", "eve-secret-pw", NC_USER_ROLE_EDITOR, FALSE, &error));
  g_auto (NcValue) table = nc_users_export (a);

  /* Hashes travel, never clear-text passwords. */
  g_autofree char *text = nc_value_to_debug_string (&table);
  g_assert_null (strstr (text, "bob-secret-pw"));
  g_assert_null (strstr (text, "writer-pw"));

  /* Another node with its own initial admin takes the writer's table. */
  NcUsers *b = open_users (f->dir2, "admin:local-pw");
  g_assert_true (can_login (b, "admin", "local-pw"));
  g_assert_true (nc_users_replace (b, &table, &error));
  g_assert_no_error (error);
  g_assert_true (can_login (b, "bob", "bob-secret-pw"));
  g_assert_true (can_login (b, "eve", "eve-secret-pw"));
  g_assert_true (can_login (b, "admin", "writer-pw"));
  g_assert_false (can_login (b, "admin", "local-pw"));
  g_assert_cmpint (nc_users_role (b, "eve"), ==, NC_USER_ROLE_EDITOR);
  g_auto (NcValue) again = nc_users_export (b);
  g_assert_true (nc_value_equivalent (&table, &again));
  nc_users_free (b);

  /* users.json was rewritten: a restart keeps the replicated table. */
  b = open_users (f->dir2, "admin:local-pw");
  g_assert_true (can_login (b, "bob", "bob-secret-pw"));
  g_assert_false (can_login (b, "admin", "local-pw"));
  nc_users_free (b);
}

static void
test_replace_drops_missing_users (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NcUsers) a = open_users (f->dir, "admin:pw");
  g_autoptr (NcUsers) b = open_users (f->dir2, "admin:pw");
  g_assert_true (nc_users_create (b, "old", "old-pw", NC_USER_ROLE_READER, FALSE, &error));
  g_assert_true (can_login (b, "old", "old-pw")); /* now cached too */
  g_auto (NcValue) table = nc_users_export (a);
  g_assert_true (nc_users_replace (b, &table, &error));
  g_assert_false (can_login (b, "old", "old-pw"));
  g_assert_cmpint (nc_users_role (b, "old"), ==, NC_USER_ROLE_NONE);
}

static void
test_replace_rejects_malformed_table (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f->dir, "admin:pw");
  g_autofree char *before = read_users_file (f->dir);
  g_auto (NcValue) good = nc_users_export (users);
  const NcValue *list = nc_map_get (good.u.map, "users");

  NcValue bad[4];
  {
    NcMap *m = nc_map_new (2); /* unknown version */
    nc_map_append (m, "version", nc_value_int (99));
    nc_map_append (m, "users", nc_value_copy (list));
    bad[0] = nc_value_map_take (m);
  }
  {
    NcMap *m = nc_map_new (1); /* no list */
    nc_map_append (m, "version", nc_value_int (1));
    bad[1] = nc_value_map_take (m);
  }
  {
    NcList *l = nc_list_new (2); /* the same name twice */
    l->items[0] = nc_value_copy (&list->u.list->items[0]);
    l->items[1] = nc_value_copy (&list->u.list->items[0]);
    NcMap *m = nc_map_new (2);
    nc_map_append (m, "version", nc_value_int (1));
    nc_map_append (m, "users", nc_value_list_take (l));
    bad[2] = nc_value_map_take (m);
  }
  {
    NcMap *u = nc_map_with (list->u.list->items[0].u.map, "role", nc_value_string ("root"));
    NcList *l = nc_list_new (1); /* unknown role */
    l->items[0] = nc_value_map_take (u);
    NcMap *m = nc_map_new (2);
    nc_map_append (m, "version", nc_value_int (1));
    nc_map_append (m, "users", nc_value_list_take (l));
    bad[3] = nc_value_map_take (m);
  }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (nc_users_replace (users, &bad[i], &error));
      g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
      nc_value_clear (&bad[i]);
    }
  /* Nothing changed, in memory or on disk. */
  g_assert_true (can_login (users, "admin", "pw"));
  g_autofree char *after = read_users_file (f->dir);
  g_assert_cmpstr (before, ==, after);
}

static void
test_detached_copy_never_writes (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NcUsers) users = open_users (f->dir, "admin:pw");
  g_autofree char *before = read_users_file (f->dir);
  g_autoptr (NcUsers) staged = nc_users_copy_detached (users);
  g_assert_true (nc_users_create (staged, "bob", "x", NC_USER_ROLE_READER, FALSE, &error));
  g_assert_true (nc_users_set_password (staged, "admin", "new", &error));
  /* Same validation and messages as the real table. */
  g_assert_false (nc_users_create (staged, "bob", "y", NC_USER_ROLE_READER, FALSE, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "User already exists"));

  g_assert_cmpint (nc_users_role (users, "bob"), ==, NC_USER_ROLE_NONE);
  g_assert_true (can_login (users, "admin", "pw"));
  g_autofree char *after = read_users_file (f->dir);
  g_assert_cmpstr (before, ==, after);
  g_assert_true (can_login (staged, "admin", "new"));
}

/* ---- through a database ------------------------------------------------------------ */

typedef struct {
  NcConfig *config;
  NcDb *db;
} Db;

static void
db_open (Db *d, const char *dir)
{
  g_autoptr (GError) error = NULL;
  const char *env[] = { NULL };
  d->config = nc_config_new ();
  g_assert_true (nc_config_load (d->config, NULL, (gchar **) env, &error));
  g_assert_true (nc_config_set (d->config, "NORNICDB_DATA_DIR", dir, "cli", &error));
  g_assert_true (nc_config_set (d->config, "NORNICDB_MODULE_DIR", NC_BUILD_MODULEDIR_TEST, "cli", &error));
  g_assert_true (nc_config_set (d->config, "NORNICDB_AUTH", "admin:test", "cli", &error));
  g_assert_no_error (error);
  d->db = nc_db_open (d->config, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (d->db);
  nc_users_set_iterations (nc_db_users (d->db), 1000);
}

static void
db_close (Db *d)
{
  nc_db_close (d->db);
  nc_config_free (d->config);
  d->db = NULL;
  d->config = NULL;
}

static const NcTxOptions admin_opts = {
  .mode = NC_ACCESS_WRITE, .user = "admin", .may_write = TRUE, .is_admin = TRUE,
};

static gboolean
run (NcDb *db, const char *query, GError **error)
{
  NcResult *res = nc_db_run_autocommit (db, &admin_opts, query, NULL, error);
  if (res == NULL)
    return FALSE;
  gboolean ok = nc_result_finish (res, NULL, error);
  nc_result_free (res);
  return ok;
}

typedef struct {
  guint64 index;
  NcWriteSet *last;
} LastRecord;

static gboolean
last_record_cb (guint64 index, guint64 term, const guint8 *payload, gsize len, gpointer user_data)
{
  LastRecord *lr = user_data;
  g_clear_pointer (&lr->last, nc_writeset_free);
  lr->last = nc_writeset_decode (payload, len, NULL);
  lr->index = index;
  return TRUE;
}

/* The newest WAL record of a closed database. */
static NcWriteSet *
last_wal_record (const char *dir, guint64 *index)
{
  g_autoptr (GError) error = NULL;
  NcWalOptions opts = { 0 };
  NcWal *wal = nc_wal_open (dir, &opts, 1, &error);
  g_assert_no_error (error);
  LastRecord lr = { 0, NULL };
  g_assert_true (nc_wal_read (wal, nc_wal_first_index (wal), last_record_cb, &lr, &error));
  nc_wal_close (wal);
  if (index)
    *index = lr.index;
  return lr.last;
}

static void
test_db_change_is_one_meta_write (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Db d;
  db_open (&d, f->dir);
  g_assert_true (nc_db_create_user (d.db, "bob", "bob-pw", NC_USER_ROLE_READER, FALSE, &error));
  g_assert_no_error (error);
  /* Applied on the writer once committed. */
  g_assert_true (can_login (nc_db_users (d.db), "bob", "bob-pw"));
  g_auto (NcValue) expected = nc_users_export (nc_db_users (d.db));
  db_close (&d);

  guint64 index = 0;
  g_autoptr (NcWriteSet) ws = last_wal_record (f->dir, &index);
  g_assert_nonnull (ws);
  g_assert_cmpuint (index, >, 0);
  g_assert_cmpuint (nc_writeset_len (ws), ==, 1);
  const NcEffect *e = nc_writeset_get (ws, 0);
  g_assert_cmpint (e->kind, ==, NC_EFFECT_META);
  g_assert_cmpstr (e->name, ==, NC_USERS_META_KEY);
  /* The whole table: the admin and bob. */
  g_assert_true (nc_value_equivalent (&e->value, &expected));
  g_assert_cmpuint (nc_map_get (e->value.u.map, "users")->u.list->len, ==, 2);
}

static void
test_db_noop_change_writes_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Db d;
  db_open (&d, f->dir);
  g_assert_true (run (d.db, "CREATE USER bob SET PASSWORD 'pw1' CHANGE NOT REQUIRED", &error));
  g_assert_no_error (error);
  guint64 before = nc_store_visible_index (nc_db_store (d.db));
  g_assert_true (run (d.db, "CREATE USER bob IF NOT EXISTS SET PASSWORD 'pw2'", &error));
  g_assert_true (run (d.db, "DROP USER ghost IF EXISTS", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (nc_store_visible_index (nc_db_store (d.db)), ==, before);
  /* Validation on the writer, with the usual messages, writes nothing either. */
  g_assert_false (run (d.db, "CREATE USER bob SET PASSWORD 'pw3'", &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "User already exists"));
  g_clear_error (&error);
  g_assert_false (run (d.db, "ALTER USER ghost SET PASSWORD 'x'", &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_assert_cmpuint (nc_store_visible_index (nc_db_store (d.db)), ==, before);
  g_assert_true (can_login (nc_db_users (d.db), "bob", "pw1"));
  db_close (&d);
}

static void
write_admin_only_users_file (const char *dir, const char *scratch)
{
  /* A users.json holding only a different admin: what a node that missed
   * the changes (or lost the file) has. */
  g_autoptr (NcUsers) other = open_users (scratch, "admin:stale");
  g_autofree char *src = g_build_filename (scratch, "users.json", NULL);
  g_autofree char *dst = g_build_filename (dir, "users.json", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (src, &text, NULL, NULL));
  g_assert_true (g_file_set_contents_full (dst, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
}

static void
test_db_wal_replay_restores_table (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Db d;
  db_open (&d, f->dir);
  g_assert_true (run (d.db, "CREATE USER bob SET PASSWORD 'bob-pw' CHANGE NOT REQUIRED", &error));
  g_assert_true (run (d.db, "ALTER USER bob SET PASSWORD 'bob-pw2'", &error));
  g_assert_true (nc_db_set_user_role (d.db, "bob", NC_USER_ROLE_EDITOR, &error));
  g_assert_true (run (d.db, "CREATE USER carl SET PASSWORD 'carl-pw' CHANGE NOT REQUIRED", &error));
  g_assert_true (run (d.db, "DROP USER carl", &error));
  g_assert_no_error (error);
  db_close (&d);

  write_admin_only_users_file (f->dir, f->dir2);
  db_open (&d, f->dir);
  NcUsers *users = nc_db_users (d.db);
  g_assert_true (can_login (users, "bob", "bob-pw2"));
  g_assert_false (can_login (users, "bob", "bob-pw"));
  g_assert_cmpint (nc_users_role (users, "bob"), ==, NC_USER_ROLE_EDITOR);
  g_assert_cmpint (nc_users_role (users, "carl"), ==, NC_USER_ROLE_NONE);
  g_assert_true (can_login (users, "admin", "test"));
  g_assert_false (can_login (users, "admin", "stale"));
  db_close (&d);
}

static void
test_db_snapshot_carries_table (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Db d;
  db_open (&d, f->dir);
  g_assert_true (run (d.db, "CREATE (:Thing {v: 1})", &error));
  g_assert_true (nc_db_create_user (d.db, "bob", "bob-pw", NC_USER_ROLE_EDITOR, FALSE, &error));
  g_assert_no_error (error);
  g_autofree char *snap = nc_db_snapshot_now (d.db, &error);
  g_assert_no_error (error);
  db_close (&d);

  /* Only the snapshot is left: no log, a stale users.json. */
  g_autofree char *wal = g_build_filename (f->dir, "wal", NULL);
  nc_test_rm_rf (wal);
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
  write_admin_only_users_file (f->dir, f->dir2);
  db_open (&d, f->dir);
  g_assert_true (can_login (nc_db_users (d.db), "bob", "bob-pw"));
  g_assert_cmpint (nc_users_role (nc_db_users (d.db), "bob"), ==, NC_USER_ROLE_EDITOR);
  g_assert_false (can_login (nc_db_users (d.db), "admin", "stale"));
  db_close (&d);
}

static void
count_meta_cb (const NcEffect *effect, guint64 index, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
test_snapshot_without_table_loads (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcStore *store = nc_store_new ();
  NcTxn *w = nc_store_begin_write (store);
  NcNodeId id = nc_txn_create_node (w, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  nc_txn_commit (w, 1);
  nc_store_publish (store, 1);
  NcTxn *r = nc_store_begin_read (store);
  /* As written before the user table was added to snapshots. */
  g_autofree char *path = nc_snapshot_write (f->dir, r, 1, 1, &error);
  nc_txn_rollback (r);
  g_assert_no_error (error);
  nc_store_free (store);

  NcStore *loaded = nc_store_new ();
  guint calls = 0;
  guint64 index = 0, term = 0;
  g_assert_true (nc_snapshot_load_meta (path, loaded, &index, &term, count_meta_cb, &calls, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (index, ==, 1);
  g_assert_cmpuint (calls, ==, 0);
  NcTxn *lr = nc_store_begin_read (loaded);
  g_assert_true (nc_txn_node_exists (lr, id));
  nc_txn_rollback (lr);
  nc_store_free (loaded);
}

static void
test_db_explicit_transaction_commit_and_rollback (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Db d;
  db_open (&d, f->dir);

  NcTransaction *tx = nc_db_begin (d.db, &admin_opts, &error);
  g_assert_no_error (error);
  const char *stmts[] = { "CREATE USER carol SET PASSWORD 'c-pw' CHANGE NOT REQUIRED",
                          "CREATE USER dan SET PASSWORD 'd-pw' CHANGE NOT REQUIRED",
                          "ALTER USER carol SET PASSWORD 'c-pw2'" };
  for (guint i = 0; i < G_N_ELEMENTS (stmts); i++)
    {
      NcResult *res = nc_transaction_run (tx, stmts[i], NULL, &error);
      g_assert_no_error (error);
      g_assert_true (nc_result_finish (res, NULL, &error));
      nc_result_free (res);
    }
  /* Not applied before the commit. */
  g_assert_cmpint (nc_users_role (nc_db_users (d.db), "carol"), ==, NC_USER_ROLE_NONE);
  g_assert_true (nc_transaction_commit (tx, NULL, &error));
  g_assert_no_error (error);
  nc_transaction_free (tx);
  g_assert_true (can_login (nc_db_users (d.db), "carol", "c-pw2"));
  g_assert_false (can_login (nc_db_users (d.db), "carol", "c-pw"));
  g_assert_true (can_login (nc_db_users (d.db), "dan", "d-pw"));

  tx = nc_db_begin (d.db, &admin_opts, &error);
  NcResult *res = nc_transaction_run (tx, "DROP USER dan", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (nc_result_finish (res, NULL, &error));
  nc_result_free (res);
  nc_transaction_rollback (tx);
  nc_transaction_free (tx);
  g_assert_true (can_login (nc_db_users (d.db), "dan", "d-pw"));

  /* The change flag was released by both: the next change goes through. */
  g_assert_true (nc_db_drop_user (d.db, "dan", FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (nc_users_role (nc_db_users (d.db), "dan"), ==, NC_USER_ROLE_NONE);
  db_close (&d);
}

typedef struct {
  NcDb *db;
  guint thread;
  guint failures;
} Creator;

static gpointer
creator_thread (gpointer data)
{
  Creator *c = data;
  for (guint i = 0; i < 8; i++)
    {
      g_autofree char *name = g_strdup_printf ("t%u-u%u", c->thread, i);
      if (!nc_db_create_user (c->db, name, "pw", NC_USER_ROLE_READER, FALSE, NULL))
        c->failures++;
    }
  return NULL;
}

static void
test_db_concurrent_changes_lose_nothing (Fixture *f, gconstpointer data)
{
  Db d;
  db_open (&d, f->dir);
  /* Each change replaces the whole table: two staged from the same table
   * would drop one another's user. */
  Creator c[4];
  GThread *t[4];
  for (guint i = 0; i < 4; i++)
    {
      c[i] = (Creator) { d.db, i, 0 };
      t[i] = g_thread_new ("creator", creator_thread, &c[i]);
    }
  for (guint i = 0; i < 4; i++)
    {
      g_thread_join (t[i]);
      g_assert_cmpuint (c[i].failures, ==, 0);
    }
  g_autoptr (GPtrArray) names = nc_users_list (nc_db_users (d.db));
  g_assert_cmpuint (names->len, ==, 1 + 4 * 8);
  g_auto (NcValue) expected = nc_users_export (nc_db_users (d.db));
  db_close (&d);

  /* Replaying the log ends with the same table. */
  write_admin_only_users_file (f->dir, f->dir2);
  db_open (&d, f->dir);
  g_auto (NcValue) replayed = nc_users_export (nc_db_users (d.db));
  g_assert_true (nc_value_equivalent (&expected, &replayed));
  db_close (&d);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
  ADD ("/nornic/users/replicated/export-replace-round-trip", test_export_replace_round_trip);
  ADD ("/nornic/users/replicated/replace-drops-users-missing-from-the-table", test_replace_drops_missing_users);
  ADD ("/nornic/users/replicated/replace-rejects-malformed-table-and-changes-nothing", test_replace_rejects_malformed_table);
  ADD ("/nornic/users/replicated/detached-copy-never-writes-users-json", test_detached_copy_never_writes);
  ADD ("/nornic/users/replicated/snapshot-without-user-table-still-loads", test_snapshot_without_table_loads);
  ADD ("/nornic/db/users/change-is-one-meta-write-holding-the-whole-table", test_db_change_is_one_meta_write);
  ADD ("/nornic/db/users/unchanged-or-invalid-change-writes-nothing", test_db_noop_change_writes_nothing);
  ADD ("/nornic/db/users/wal-replay-restores-the-table", test_db_wal_replay_restores_table);
  ADD ("/nornic/db/users/snapshot-carries-the-table", test_db_snapshot_carries_table);
  ADD ("/nornic/db/users/explicit-transaction-applies-on-commit-only", test_db_explicit_transaction_commit_and_rollback);
  ADD ("/nornic/db/users/concurrent-changes-lose-nothing", test_db_concurrent_changes_lose_nothing);
  return g_test_run ();
}
