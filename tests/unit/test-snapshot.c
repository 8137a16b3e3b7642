#include "snapshot.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "test-fs-util.h"

/* ---- fixtures --------------------------------------------------------------- */

/* Log capture: the snapshot code reports skipped files with g_warning
 * (structured logging, so g_test_expect_message cannot see it). */
static GPtrArray *log_lines;
static gboolean allow_warnings;

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  const char *msg = NULL;
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      msg = fields[i].value;
  if (msg != NULL && (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING)))
    g_ptr_array_add (log_lines, g_strdup (msg));
  if ((level & G_LOG_LEVEL_MESSAGE) || ((level & G_LOG_LEVEL_WARNING) && allow_warnings))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, data);
}

static gboolean
log_contains (const char *a, const char *b)
{
  for (guint i = 0; i < log_lines->len; i++)
    if (strstr (log_lines->pdata[i], a) != NULL
        && (b == NULL || strstr (log_lines->pdata[i], b) != NULL))
      return TRUE;
  return FALSE;
}

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  f->dir = g_dir_make_tmp ("nc-snap-XXXXXX", &error);
  g_assert_no_error (error);
  g_ptr_array_set_size (log_lines, 0);
  allow_warnings = FALSE;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  nc_test_rm_rf (f->dir);
  g_free (f->dir);
  allow_warnings = FALSE;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

/* Names of the entries in <dir>/snapshots, sorted. */
static GPtrArray *
snapshot_names (const char *dir)
{
  g_autofree char *sdir = g_build_filename (dir, "snapshots", NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) d = g_dir_open (sdir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (out, g_strdup (name));
  g_ptr_array_sort (out, compare_strings);
  return out;
}

static void
flip_byte (const char *path, gsize offset)
{
  int fd = g_open (path, O_RDWR, 0);
  g_assert_cmpint (fd, >=, 0);
  guint8 b;
  g_assert_cmpint (pread (fd, &b, 1, (off_t) offset), ==, 1);
  b ^= 0x20;
  g_assert_cmpint (pwrite (fd, &b, 1, (off_t) offset), ==, 1);
  close (fd);
}

static gsize
file_size (const char *path)
{
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return (gsize) st.st_size;
}

/* ---- a store with a bit of everything ------------------------------------ */

static NcValue
tags_value (guint i)
{
  NcList *l = nc_list_new (2);
  l->items[0] = nc_value_int (7);
  l->items[1] = nc_value_int (i);
  return nc_value_list_take (l);
}

/* Commits `n` Person nodes (every 5th also :City), a KNOWS chain between
 * them, a schema index and a unique constraint, then deletes one node so
 * that ids have a gap. */
static void
fill_store (NcStore *s, guint first, guint n, NcLsn lsn)
{
  GError *error = NULL;
  NcToken person = nc_store_token (s, NC_TOKEN_LABEL, "Person", TRUE);
  NcToken city = nc_store_token (s, NC_TOKEN_LABEL, "City", TRUE);
  NcToken name = nc_store_token (s, NC_TOKEN_PROP_KEY, "name", TRUE);
  NcToken knows = nc_store_token (s, NC_TOKEN_REL_TYPE, "KNOWS", TRUE);
  NcTxn *txn = nc_store_begin_write (s);
  if (first == 0)
    {
      g_assert_true (nc_txn_create_schema (txn, NC_SCHEMA_INDEX, "person_name", person, name,
                                           FALSE, &error));
      g_assert_no_error (error);
      g_assert_true (nc_txn_create_schema (txn, NC_SCHEMA_UNIQUE, "city_name", city, name,
                                           FALSE, &error));
      g_assert_no_error (error);
    }
  NcNodeId prev = -1;
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (NcNodeId));
  for (guint i = first; i < first + n; i++)
    {
      NcMap *props = nc_map_new (4);
      g_autofree char *nm = g_strdup_printf ("p%u", i);
      nc_map_append (props, "name", nc_value_string (nm));
      nc_map_append (props, "age", nc_value_int ((gint64) i));
      nc_map_append (props, "score", nc_value_float (i * 0.5));
      nc_map_append (props, "tags", tags_value (i));
      NcToken labels[2] = { person, city };
      NcNodeId id = nc_txn_create_node (txn, labels, i % 5 == 0 ? 2 : 1, props, &error);
      g_assert_no_error (error);
      nc_map_unref (props);
      if (prev >= 0)
        {
          NcMap *rp = nc_map_new (1);
          nc_map_append (rp, "since", nc_value_int ((gint64) i));
          nc_txn_create_rel (txn, knows, prev, id, rp, &error);
          g_assert_no_error (error);
          nc_map_unref (rp);
        }
      prev = id;
      g_array_append_val (ids, id);
    }
  if (n > 5)
    {
      /* An id gap that must not be reused after loading. */
      g_assert_true (nc_txn_delete_node (txn, g_array_index (ids, NcNodeId, 3), TRUE, &error));
      g_assert_no_error (error);
    }
  nc_txn_commit (txn, lsn);
  nc_store_publish (s, lsn);
}

static char **
sorted_label_names (NcStore *s, NcTxn *txn, NcNodeId id)
{
  g_autoptr(GArray) labels = nc_txn_node_labels (txn, id);
  if (labels == NULL)
    return NULL;
  GPtrArray *names = g_ptr_array_new ();
  for (guint i = 0; i < labels->len; i++)
    g_ptr_array_add (names, g_strdup (nc_store_token_name (s, NC_TOKEN_LABEL,
                                                           g_array_index (labels, NcToken, i))));
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (names, FALSE);
}

static void
assert_maps_equivalent (NcMap *a, NcMap *b)
{
  g_assert_true ((a == NULL) == (b == NULL));
  if (a == NULL)
    return;
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    {
      const NcValue *other = nc_map_get (b, a->entries[i].key->data);
      g_assert_nonnull (other);
      g_assert_true (nc_value_equivalent (&a->entries[i].value, other));
    }
}

/* Same visible graph (ids, labels, properties, relationships), schema and
 * id allocation. */
static void
assert_stores_equal (NcStore *a, NcStore *b)
{
  NcTxn *ta = nc_store_begin_read (a), *tb = nc_store_begin_read (b);
  g_assert_cmpint (nc_txn_count_nodes (ta, NC_TOKEN_NONE), ==, nc_txn_count_nodes (tb, NC_TOKEN_NONE));
  g_assert_cmpint (nc_txn_count_rels (ta), ==, nc_txn_count_rels (tb));
  NcNodeId na, nb;
  NcRelId ra, rb;
  nc_store_get_next_ids (a, &na, &ra);
  nc_store_get_next_ids (b, &nb, &rb);
  g_assert_cmpint (na, ==, nb);
  g_assert_cmpint (ra, ==, rb);
  for (NcNodeId id = 0; id < na; id++)
    {
      g_assert_cmpint (nc_txn_node_exists (ta, id), ==, nc_txn_node_exists (tb, id));
      g_auto (GStrv) la = sorted_label_names (a, ta, id);
      g_auto (GStrv) lb = sorted_label_names (b, tb, id);
      g_assert_true ((la == NULL) == (lb == NULL));
      if (la != NULL)
        g_assert_true (g_strv_equal ((const char * const *) la, (const char * const *) lb));
      g_autoptr(NcMap) pa = nc_txn_node_props (ta, id);
      g_autoptr(NcMap) pb = nc_txn_node_props (tb, id);
      assert_maps_equivalent (pa, pb);
    }
  for (NcRelId id = 0; id < ra; id++)
    {
      NcToken ta_type = 0, tb_type = 0;
      NcNodeId sa = 0, ea = 0, sb = 0, eb = 0;
      gboolean ea_ok = nc_txn_rel_info (ta, id, &ta_type, &sa, &ea);
      gboolean eb_ok = nc_txn_rel_info (tb, id, &tb_type, &sb, &eb);
      g_assert_cmpint (ea_ok, ==, eb_ok);
      if (!ea_ok)
        continue;
      g_assert_cmpstr (nc_store_token_name (a, NC_TOKEN_REL_TYPE, ta_type), ==,
                       nc_store_token_name (b, NC_TOKEN_REL_TYPE, tb_type));
      g_assert_cmpint (sa, ==, sb);
      g_assert_cmpint (ea, ==, eb);
      g_autoptr(NcMap) pa = nc_txn_rel_props (ta, id);
      g_autoptr(NcMap) pb = nc_txn_rel_props (tb, id);
      assert_maps_equivalent (pa, pb);
    }
  g_autoptr(GPtrArray) sa_list = nc_store_list_schema (a);
  g_autoptr(GPtrArray) sb_list = nc_store_list_schema (b);
  g_assert_cmpuint (sa_list->len, ==, sb_list->len);
  for (guint i = 0; i < sa_list->len; i++)
    {
      NcSchemaEntry *ea = sa_list->pdata[i];
      gboolean found = FALSE;
      for (guint j = 0; j < sb_list->len && !found; j++)
        {
          NcSchemaEntry *eb = sb_list->pdata[j];
          found = g_strcmp0 (ea->name, eb->name) == 0 && ea->kind == eb->kind
                  && g_strcmp0 (nc_store_token_name (a, NC_TOKEN_LABEL, ea->label),
                                nc_store_token_name (b, NC_TOKEN_LABEL, eb->label)) == 0
                  && g_strcmp0 (nc_store_token_name (a, NC_TOKEN_PROP_KEY, ea->key),
                                nc_store_token_name (b, NC_TOKEN_PROP_KEY, eb->key)) == 0;
        }
      g_assert_true (found);
    }
  nc_txn_rollback (ta);
  nc_txn_rollback (tb);
}

static char *
write_snapshot (Fixture *f, NcStore *s, guint64 index, guint64 term)
{
  GError *error = NULL;
  NcTxn *rt = nc_store_begin_read (s);
  char *path = nc_snapshot_write (f->dir, rt, index, term, &error);
  g_assert_no_error (error);
  g_assert_nonnull (path);
  nc_txn_rollback (rt);
  return path;
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_write_load_round_trip (Fixture *f, gconstpointer data)
{
  NcStore *s = nc_store_new ();
  fill_store (s, 0, 3000, 5);  /* several chunks */
  g_autofree char *path = write_snapshot (f, s, 42, 3);
  g_autofree char *expected = g_strdup_printf ("%s/snapshots/snapshot-%020d.snap", f->dir, 42);
  g_assert_cmpstr (path, ==, expected);

  GError *error = NULL;
  NcStore *loaded = nc_store_new ();
  guint64 index = 0, term = 0;
  g_assert_true (nc_snapshot_load (path, loaded, &index, &term, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (index, ==, 42);
  g_assert_cmpuint (term, ==, 3);
  g_assert_cmpuint (nc_store_visible_index (loaded), ==, 42);
  assert_stores_equal (s, loaded);
  g_assert_true (nc_store_has_index (loaded, nc_store_token (loaded, NC_TOKEN_LABEL, "Person", FALSE),
                                     nc_store_token (loaded, NC_TOKEN_PROP_KEY, "name", FALSE)));

  /* Ids are not reused after loading, not even the deleted one. */
  NcNodeId next_before, next_after;
  NcRelId rel_before, rel_after;
  nc_store_get_next_ids (s, &next_before, &rel_before);
  NcTxn *txn = nc_store_begin_write (loaded);
  NcNodeId fresh = nc_txn_create_node (txn, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  nc_txn_commit (txn, 43);
  g_assert_cmpint (fresh, >=, next_before);
  nc_store_get_next_ids (loaded, &next_after, &rel_after);
  g_assert_cmpint (rel_after, ==, rel_before);

  nc_store_free (s);
  nc_store_free (loaded);
}

static void
test_empty_store_round_trip (Fixture *f, gconstpointer data)
{
  NcStore *s = nc_store_new ();
  g_autofree char *path = write_snapshot (f, s, 0, 0);
  GError *error = NULL;
  NcStore *loaded = nc_store_new ();
  guint64 index = 99, term = 99;
  g_assert_true (nc_snapshot_load (path, loaded, &index, &term, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (index, ==, 0);
  assert_stores_equal (s, loaded);
  nc_store_free (s);
  nc_store_free (loaded);
}

static void
test_snapshot_is_the_read_transactions_view (Fixture *f, gconstpointer data)
{
  NcStore *s = nc_store_new ();
  fill_store (s, 0, 50, 1);

  /* The snapshot reads at index 1; a write commits after it began. */
  NcTxn *rt = nc_store_begin_read (s);
  fill_store (s, 1000, 10, 2);
  GError *error = NULL;
  g_autofree char *path = nc_snapshot_write (f->dir, rt, 1, 1, &error);
  g_assert_no_error (error);
  nc_txn_rollback (rt);

  NcStore *loaded = nc_store_new ();
  guint64 index, term;
  g_assert_true (nc_snapshot_load (path, loaded, &index, &term, &error));
  g_assert_no_error (error);
  NcTxn *t = nc_store_begin_read (loaded);
  g_assert_cmpint (nc_txn_count_nodes (t, NC_TOKEN_NONE), ==, 49);
  g_assert_cmpint (nc_txn_count_rels (t), ==, 47);  /* 49 chain links minus 2 detached */
  nc_txn_rollback (t);
  t = nc_store_begin_read (s);
  g_assert_cmpint (nc_txn_count_nodes (t, NC_TOKEN_NONE), ==, 58);
  nc_txn_rollback (t);
  nc_store_free (s);
  nc_store_free (loaded);
}

static void
test_corrupt_snapshot_is_detected (Fixture *f, gconstpointer data)
{
  NcStore *s = nc_store_new ();
  fill_store (s, 0, 200, 1);
  g_autofree char *path = write_snapshot (f, s, 7, 1);
  gsize size = file_size (path);

  /* A flipped bit inside the first chunk's payload. */
  flip_byte (path, 24 + 8 + 10);
  GError *error = NULL;
  NcStore *loaded = nc_store_new ();
  guint64 index, term;
  g_assert_false (nc_snapshot_load (path, loaded, &index, &term, &error));
  g_assert_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "byte offset 24:"));
  g_clear_error (&error);
  /* Nothing from a damaged file is applied. */
  NcTxn *t = nc_store_begin_read (loaded);
  g_assert_cmpint (nc_txn_count_nodes (t, NC_TOKEN_NONE), ==, 0);
  nc_txn_rollback (t);
  flip_byte (path, 24 + 8 + 10);

  /* A truncated file (no trailer) is detected too. */
  g_assert_cmpint (truncate (path, (off_t) (size - 8)), ==, 0);
  g_assert_false (nc_snapshot_load (path, loaded, &index, &term, &error));
  g_assert_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT);
  g_clear_error (&error);

  /* And a damaged trailer checksum (rewriting replaces the file). */
  g_free (g_steal_pointer (&path));
  path = write_snapshot (f, s, 7, 1);
  flip_byte (path, file_size (path) - 1);
  g_assert_false (nc_snapshot_load (path, loaded, &index, &term, &error));
  g_assert_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "file checksum"));
  g_clear_error (&error);

  /* The only snapshot being damaged means there is none to use. */
  allow_warnings = TRUE;
  g_assert_null (nc_snapshot_find_latest (f->dir, &index, &term));
  g_assert_true (log_contains (path, "corrupt"));
  nc_store_free (s);
  nc_store_free (loaded);
}

static void
test_newest_valid_snapshot_is_selected (Fixture *f, gconstpointer data)
{
  NcStore *s = nc_store_new ();
  fill_store (s, 0, 20, 10);
  g_autofree char *p10 = write_snapshot (f, s, 10, 1);
  fill_store (s, 100, 20, 20);
  g_autofree char *p20 = write_snapshot (f, s, 20, 2);
  fill_store (s, 200, 20, 30);
  g_autofree char *p30 = write_snapshot (f, s, 30, 2);

  guint64 index = 0, term = 0;
  g_autofree char *latest = nc_snapshot_find_latest (f->dir, &index, &term);
  g_assert_cmpstr (latest, ==, p30);
  g_assert_cmpuint (index, ==, 30);

  /* An unfinished write of a newer snapshot is never picked. */
  g_autofree char *tmp = g_strdup_printf ("%s/snapshots/snapshot-%020d.snap.tmp-AbCdEf",
                                          f->dir, 40);
  g_assert_true (g_file_set_contents (tmp, "NCSNAP01 partial", -1, NULL));
  g_free (g_steal_pointer (&latest));
  latest = nc_snapshot_find_latest (f->dir, &index, &term);
  g_assert_cmpstr (latest, ==, p30);

  /* A damaged newest file is skipped with a warning naming it. */
  flip_byte (p30, 40);
  allow_warnings = TRUE;
  g_free (g_steal_pointer (&latest));
  latest = nc_snapshot_find_latest (f->dir, &index, &term);
  g_assert_cmpstr (latest, ==, p20);
  g_assert_cmpuint (index, ==, 20);
  g_assert_cmpuint (term, ==, 2);
  g_assert_true (log_contains (p30, "older snapshot"));

  /* A file whose header disagrees with its name is not trusted. */
  g_autofree char *renamed = g_strdup_printf ("%s/snapshots/snapshot-%020d.snap", f->dir, 25);
  g_assert_cmpint (g_rename (p10, renamed), ==, 0);
  g_free (g_steal_pointer (&latest));
  latest = nc_snapshot_find_latest (f->dir, &index, &term);
  g_assert_cmpstr (latest, ==, p20);
  g_assert_true (log_contains (renamed, "does not match its file name"));
  nc_store_free (s);
}

static void
test_failed_write_leaves_no_snap_file (Fixture *f, gconstpointer data)
{
  NcStore *s = nc_store_new ();
  fill_store (s, 0, 2000, 1);
  /* A disk that fills up part-way: writes beyond 64 KiB fail with EFBIG. */
  struct rlimit old, lim;
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &old), ==, 0);
  lim = old;
  lim.rlim_cur = 64 * 1024;
  void (*old_handler) (int) = signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &lim), ==, 0);
  GError *error = NULL;
  NcTxn *rt = nc_store_begin_read (s);
  char *path = nc_snapshot_write (f->dir, rt, 9, 1, &error);
  nc_txn_rollback (rt);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &old), ==, 0);
  signal (SIGXFSZ, old_handler);

  g_assert_null (path);
  g_assert_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "snapshot-00000000000000000009.snap"));
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  /* Neither a partial .snap nor the temporary file is left behind. */
  g_autoptr(GPtrArray) names = snapshot_names (f->dir);
  g_assert_cmpuint (names->len, ==, 0);
  g_assert_null (nc_snapshot_find_latest (f->dir, NULL, NULL));

  /* The same write succeeds once the disk has room. */
  g_autofree char *ok = write_snapshot (f, s, 9, 1);
  g_assert_nonnull (ok);
  nc_store_free (s);
}

static void
test_prune_keeps_newest (Fixture *f, gconstpointer data)
{
  NcStore *s = nc_store_new ();
  fill_store (s, 0, 10, 1);
  for (guint64 i = 1; i <= 4; i++)
    g_free (write_snapshot (f, s, i * 10, 1));
  /* Leftover of a crashed write older than the newest complete snapshot. */
  g_autofree char *stale = g_strdup_printf ("%s/snapshots/snapshot-%020d.snap.tmp-XyZ123",
                                            f->dir, 35);
  g_assert_true (g_file_set_contents (stale, "partial", -1, NULL));
  /* A write in progress of a newer one must survive. */
  g_autofree char *inflight = g_strdup_printf ("%s/snapshots/snapshot-%020d.snap.tmp-QwE456",
                                               f->dir, 50);
  g_assert_true (g_file_set_contents (inflight, "partial", -1, NULL));

  nc_snapshot_prune (f->dir, 2);
  g_autoptr(GPtrArray) names = snapshot_names (f->dir);
  g_assert_cmpuint (names->len, ==, 3);
  g_assert_cmpstr (names->pdata[0], ==, "snapshot-00000000000000000030.snap");
  g_assert_cmpstr (names->pdata[1], ==, "snapshot-00000000000000000040.snap");
  g_assert_cmpstr (names->pdata[2], ==, "snapshot-00000000000000000050.snap.tmp-QwE456");

  /* A damaged newest file does not count as kept: the older valid one stays. */
  g_autofree char *p40 = g_strdup_printf ("%s/snapshots/%s", f->dir, (char *) names->pdata[1]);
  flip_byte (p40, 30);
  allow_warnings = TRUE;
  nc_snapshot_prune (f->dir, 1);
  g_autoptr(GPtrArray) after = snapshot_names (f->dir);
  g_assert_cmpuint (after->len, ==, 3);
  g_autofree char *latest = nc_snapshot_find_latest (f->dir, NULL, NULL);
  g_assert_nonnull (latest);
  g_assert_true (g_str_has_suffix (latest, "snapshot-00000000000000000030.snap"));
  nc_store_free (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  log_lines = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);
#define ADD(path, fn) g_test_add ("/nornic/snapshot/" path, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("write-load-round-trip", test_write_load_round_trip);
  ADD ("empty-store-round-trip", test_empty_store_round_trip);
  ADD ("snapshot-is-the-read-transactions-view", test_snapshot_is_the_read_transactions_view);
  ADD ("corrupt-snapshot-is-detected", test_corrupt_snapshot_is_detected);
  ADD ("newest-valid-snapshot-is-selected", test_newest_valid_snapshot_is_selected);
  ADD ("failed-write-leaves-no-snap-file", test_failed_write_leaves_no_snap_file);
  ADD ("prune-keeps-newest-valid", test_prune_keeps_newest);
#undef ADD
  int rc = g_test_run ();
  g_ptr_array_unref (log_lines);
  return rc;
}
