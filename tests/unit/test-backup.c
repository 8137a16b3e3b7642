/* Backup archives (core/backup.c): what `tar -xzf` makes of them, and the
 * start-up checks on an extracted backup. */
#include "backup.h"
#include "snapshot.h"
#include "store.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "test-fs-util.h"

/* The checks report skipped snapshots with g_warning; those are expected
 * here and must not abort the test. */
static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, data);
}

typedef struct {
  char *dir;       /* scratch */
  char *data;      /* extracted data directory */
  char *archive;
  NcStore *store;
} Fixture;

/* 50 :Item nodes with a property of several types, a chain of :NEXT. */
static void
fill (NcStore *s)
{
  GError *error = NULL;
  NcToken item = nc_store_token (s, NC_TOKEN_LABEL, "Item", TRUE);
  NcToken next = nc_store_token (s, NC_TOKEN_REL_TYPE, "NEXT", TRUE);
  NcTxn *txn = nc_store_begin_write (s);
  NcNodeId prev = -1;
  for (int i = 0; i < 50; i++)
    {
      NcMap *props = nc_map_new (2);
      g_autofree char *nm = g_strdup_printf ("item-%d", i);
      nc_map_append (props, "k", nc_value_int (i));
      nc_map_append (props, "name", nc_value_string (nm));
      NcNodeId id = nc_txn_create_node (txn, &item, 1, props, &error);
      g_assert_no_error (error);
      nc_map_unref (props);
      if (prev >= 0)
        {
          nc_txn_create_rel (txn, next, prev, id, NULL, &error);
          g_assert_no_error (error);
        }
      prev = id;
    }
  nc_txn_commit (txn, 7);
  nc_store_publish (s, 7);
}

static void
run_tar (const char *archive, const char *dir)
{
  const char *argv[] = { "tar", "-xzf", archive, "-C", dir, NULL };
  GError *error = NULL;
  int status = 0;
  g_autofree char *err = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &err,
                               &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("tar -xzf %s failed: %s", archive, err);
}

static void
fixture_setup (Fixture *f, gconstpointer unused)
{
  GError *error = NULL;
  f->dir = g_dir_make_tmp ("nc-backup-XXXXXX", &error);
  g_assert_no_error (error);
  f->data = g_build_filename (f->dir, "data", NULL);
  g_assert_cmpint (g_mkdir (f->data, 0700), ==, 0);
  f->archive = g_build_filename (f->dir, "backup.tar.gz", NULL);
  f->store = nc_store_new ();
  fill (f->store);

  g_autofree char *users = g_build_filename (f->dir, "users.json", NULL);
  g_assert_true (g_file_set_contents (users, "{\"users\":[]}\n", -1, NULL));
  g_autoptr (GFile) file = g_file_new_for_path (f->archive);
  g_autoptr (GFileOutputStream) out = g_file_replace (file, NULL, FALSE, 0, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *work = g_build_filename (f->dir, "work", NULL);
  NcBackupSource src = { "standalone", "node-x", "standalone", users };
  NcTxn *txn = nc_store_begin_read (f->store);
  g_autofree char *manifest = nc_backup_write_archive (G_OUTPUT_STREAM (out), work, txn, 7, 3, &src, &error);
  nc_txn_rollback (txn);
  g_assert_no_error (error);
  g_assert_nonnull (manifest);
  g_assert_true (g_output_stream_close (G_OUTPUT_STREAM (out), NULL, &error));
  g_assert_no_error (error);
  run_tar (f->archive, f->data);
}

static void
fixture_teardown (Fixture *f, gconstpointer unused)
{
  nc_store_free (f->store);
  nc_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->data);
  g_free (f->archive);
}

static char *
snap_path (Fixture *f)
{
  return g_build_filename (f->data, "snapshots", "snapshot-00000000000000000007.snap", NULL);
}

static void
test_archive_extracts_to_loadable_data_dir (Fixture *f, gconstpointer unused)
{
  GError *error = NULL;
  g_autofree char *manifest = g_build_filename (f->data, NC_BACKUP_MANIFEST, NULL);
  g_autofree char *users = g_build_filename (f->data, "users.json", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (manifest, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\"index\" : 7"));
  g_assert_nonnull (strstr (text, "\"term\" : 3"));
  g_assert_nonnull (strstr (text, "\"node_id\" : \"node-x\""));
  g_assert_true (g_file_test (users, G_FILE_TEST_IS_REGULAR));

  g_assert_true (nc_backup_prepare_restore (f->data, NULL, &error));
  g_assert_no_error (error);
  guint64 index = 0, term = 0;
  g_autofree char *snap = nc_snapshot_find_latest (f->data, &index, &term);
  g_assert_nonnull (snap);
  g_assert_cmpuint (index, ==, 7);
  g_assert_cmpuint (term, ==, 3);
  NcStore *copy = nc_store_new ();
  g_assert_true (nc_snapshot_load (snap, copy, NULL, NULL, &error));
  g_assert_no_error (error);
  NcTxn *txn = nc_store_begin_read (copy);
  g_assert_cmpint (nc_txn_count_nodes (txn, NC_TOKEN_NONE), ==, 50);
  g_assert_cmpint (nc_txn_count_rels (txn), ==, 49);
  nc_txn_rollback (txn);
  nc_store_free (copy);
}

static void
test_restore_consumes_manifest_once (Fixture *f, gconstpointer unused)
{
  GError *error = NULL;
  g_autofree char *manifest = g_build_filename (f->data, NC_BACKUP_MANIFEST, NULL);
  g_autofree char *restored = g_build_filename (f->data, NC_BACKUP_RESTORED_MANIFEST, NULL);
  g_assert_true (nc_backup_prepare_restore (f->data, NULL, &error));
  g_assert_false (g_file_test (manifest, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (restored, G_FILE_TEST_EXISTS));
  /* A later WAL segment must survive the next start. */
  g_autofree char *wal = g_build_filename (f->data, "wal", NULL);
  g_autofree char *seg = g_build_filename (wal, "segment-later", NULL);
  g_assert_cmpint (g_mkdir_with_parents (wal, 0700), ==, 0);
  g_assert_true (g_file_set_contents (seg, "x", 1, NULL));
  g_assert_true (nc_backup_prepare_restore (f->data, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (seg, G_FILE_TEST_EXISTS));
}

static void
test_restore_moves_old_state_aside (Fixture *f, gconstpointer unused)
{
  GError *error = NULL;
  /* What node 1's old data directory holds when the backup is extracted
   * over it (the guide's step 2): a newer snapshot, WAL, raft state. */
  g_autofree char *newer = g_build_filename (f->data, "snapshots", "snapshot-00000000000000000099.snap", NULL);
  g_autofree char *snap = snap_path (f);
  g_assert_cmpint (link (snap, newer), ==, 0);
  g_autofree char *wal = g_build_filename (f->data, "wal", NULL);
  g_autofree char *seg = g_build_filename (wal, "00000000000000000001.wal", NULL);
  g_assert_cmpint (g_mkdir_with_parents (wal, 0700), ==, 0);
  g_assert_true (g_file_set_contents (seg, "old", -1, NULL));
  g_autofree char *repl = g_build_filename (f->dir, "repl", NULL);
  g_autofree char *hs = g_build_filename (repl, "raft-hardstate", NULL);
  g_assert_cmpint (g_mkdir_with_parents (repl, 0700), ==, 0);
  g_assert_true (g_file_set_contents (hs, "5\nnode-2\n", -1, NULL));

  g_assert_true (nc_backup_prepare_restore (f->data, repl, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (newer, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (seg, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (hs, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (snap, G_FILE_TEST_EXISTS));
  guint64 index = 0;
  g_autofree char *latest = nc_snapshot_find_latest (f->data, &index, NULL);
  g_assert_cmpuint (index, ==, 7);

  /* Nothing was deleted: it is all under pre-restore-<time>/. */
  g_autoptr (GDir) d = g_dir_open (f->data, 0, NULL);
  const char *name;
  char *aside = NULL;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, "pre-restore-"))
      aside = g_build_filename (f->data, name, NULL);
  g_assert_nonnull (aside);
  g_autofree char *moved_seg = g_build_filename (aside, "wal", "00000000000000000001.wal", NULL);
  g_autofree char *moved_hs = g_build_filename (aside, "replication", "raft-hardstate", NULL);
  g_assert_true (g_file_test (moved_seg, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (moved_hs, G_FILE_TEST_EXISTS));
  g_free (aside);
}

static void
assert_refused (Fixture *f, const char *needle)
{
  GError *error = NULL;
  g_assert_false (nc_backup_prepare_restore (f->data, NULL, &error));
  g_assert_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_RESTORE);
  g_assert_nonnull (strstr (error->message, NC_BACKUP_MANIFEST));
  if (strstr (error->message, needle) == NULL)
    g_error ("expected '%s' in: %s", needle, error->message);
  g_error_free (error);
  /* Still refused on the next attempt: nothing was consumed. */
  g_assert_false (nc_backup_prepare_restore (f->data, NULL, NULL));
}

static void
test_refuses_missing_snapshot (Fixture *f, gconstpointer unused)
{
  g_autofree char *snap = snap_path (f);
  g_assert_cmpint (g_unlink (snap), ==, 0);
  assert_refused (f, "snapshot-00000000000000000007.snap is missing");
}

static void
test_refuses_truncated_snapshot (Fixture *f, gconstpointer unused)
{
  g_autofree char *snap = snap_path (f);
  g_assert_cmpint (truncate (snap, 100), ==, 0);
  assert_refused (f, "has 100 bytes");
}

static void
test_refuses_flipped_byte (Fixture *f, gconstpointer unused)
{
  g_autofree char *snap = snap_path (f);
  int fd = g_open (snap, O_RDWR, 0);
  g_assert_cmpint (fd, >=, 0);
  guint8 b;
  g_assert_cmpint (pread (fd, &b, 1, 200), ==, 1);
  b ^= 0x01;
  g_assert_cmpint (pwrite (fd, &b, 1, 200), ==, 1);
  close (fd);
  assert_refused (f, "checksum");
}

static void
test_refuses_bad_manifest (Fixture *f, gconstpointer unused)
{
  g_autofree char *manifest = g_build_filename (f->data, NC_BACKUP_MANIFEST, NULL);
  g_assert_true (g_file_set_contents (manifest, "{\"format\": 1, \"snap", -1, NULL));
  assert_refused (f, "not valid JSON");
}

static void
test_refuses_unsafe_member_path (Fixture *f, gconstpointer unused)
{
  g_autofree char *manifest = g_build_filename (f->data, NC_BACKUP_MANIFEST, NULL);
  g_assert_true (g_file_set_contents (manifest,
                                      "{\"format\":1,\"index\":7,\"snapshot\":\"snapshots/../../x.snap\",\"members\":[]}",
                                      -1, NULL));
  assert_refused (f, "lacks");
}

static void
test_no_manifest_is_a_normal_start (void)
{
  GError *error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("nc-backup-XXXXXX", &error);
  g_autofree char *stale = g_build_filename (dir, ".backup-tmp-abc123", NULL);
  g_autofree char *stale_file = g_build_filename (stale, "backup.tar.gz", NULL);
  g_assert_cmpint (g_mkdir (stale, 0700), ==, 0);
  g_assert_true (g_file_set_contents (stale_file, "x", 1, NULL));
  g_assert_true (nc_backup_prepare_restore (dir, NULL, &error));
  g_assert_no_error (error);
  /* A crashed backup's leftovers are removed. */
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  nc_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (quiet_writer, NULL, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/nornic/backup/archive-extracts-to-loadable-data-dir", test_archive_extracts_to_loadable_data_dir);
  ADD ("/nornic/backup/restore-consumes-manifest-once", test_restore_consumes_manifest_once);
  ADD ("/nornic/backup/restore-moves-old-state-aside", test_restore_moves_old_state_aside);
  ADD ("/nornic/backup/restore-refuses-missing-snapshot", test_refuses_missing_snapshot);
  ADD ("/nornic/backup/restore-refuses-truncated-snapshot", test_refuses_truncated_snapshot);
  ADD ("/nornic/backup/restore-refuses-flipped-byte", test_refuses_flipped_byte);
  ADD ("/nornic/backup/restore-refuses-bad-manifest", test_refuses_bad_manifest);
  ADD ("/nornic/backup/restore-refuses-unsafe-member-path", test_refuses_unsafe_member_path);
  g_test_add_func ("/nornic/backup/no-manifest-is-a-normal-start", test_no_manifest_is_a_normal_start);
  return g_test_run ();
}
