#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <glib/gstdio.h>
#include "test-fs-util.h"

/* ---- fixtures --------------------------------------------------------------- */

/* Log capture: the WAL reports truncations with g_message and failures with
 * g_warning (structured logging, so g_test_expect_message cannot see them). */
static GMutex log_lock;
static GPtrArray *log_lines;
static gboolean allow_warnings;

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  const char *msg = NULL;
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      msg = fields[i].value;
  g_mutex_lock (&log_lock);
  if (msg != NULL && (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING)))
    g_ptr_array_add (log_lines, g_strdup (msg));
  gboolean swallow = (level & G_LOG_LEVEL_MESSAGE)
                     || ((level & G_LOG_LEVEL_WARNING) && allow_warnings);
  g_mutex_unlock (&log_lock);
  if (swallow)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, data);
}

static void
log_reset (gboolean warnings_expected)
{
  g_mutex_lock (&log_lock);
  g_ptr_array_set_size (log_lines, 0);
  allow_warnings = warnings_expected;
  g_mutex_unlock (&log_lock);
}

static gboolean
log_contains (const char *a, const char *b)
{
  gboolean found = FALSE;
  g_mutex_lock (&log_lock);
  for (guint i = 0; i < log_lines->len && !found; i++)
    found = strstr (log_lines->pdata[i], a) != NULL
            && (b == NULL || strstr (log_lines->pdata[i], b) != NULL);
  g_mutex_unlock (&log_lock);
  return found;
}

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  f->dir = g_dir_make_tmp ("nc-wal-XXXXXX", &error);
  g_assert_no_error (error);
  log_reset (FALSE);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  nc_test_rm_rf (f->dir);
  g_free (f->dir);
  log_reset (FALSE);
}

static NcWalOptions
fast_opts (gsize segment_size)
{
  NcWalOptions o = { 0 };
  o.segment_size = segment_size;
  o.no_sync = TRUE;
  return o;
}

/* Deterministic payload of a length that varies with the index. */
static GBytes *
payload_for (guint64 index, guint64 salt)
{
  gsize len = (gsize) ((index * 7 + salt) % 61);
  guint8 *buf = g_malloc (len + 1);
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (index * 31 + i * 13 + salt);
  return g_bytes_new_take (buf, len);
}

static void
append_sync (NcWal *wal, guint64 index, guint64 term, guint64 salt)
{
  GError *error = NULL;
  g_autoptr(GBytes) p = payload_for (index, salt);
  g_assert_true (nc_wal_append (wal, index, term, p, NULL, NULL, &error));
  g_assert_no_error (error);
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

/* Sorted paths of the segment files. */
static GPtrArray *
segment_files (const char *dir)
{
  g_autofree char *waldir = g_build_filename (dir, "wal", NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) d = g_dir_open (waldir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".log"))
      g_ptr_array_add (out, g_build_filename (waldir, name, NULL));
  g_ptr_array_sort (out, compare_paths);
  return out;
}

typedef struct {
  guint64 next;      /* expected next index */
  guint64 salt;
  guint64 count;
  guint64 term_mul;  /* expected term = index * term_mul (0: don't check) */
} ReadCheck;

static gboolean
check_record_cb (guint64 index, guint64 term, const guint8 *payload, gsize len, gpointer data)
{
  ReadCheck *rc = data;
  g_assert_cmpuint (index, ==, rc->next);
  if (rc->term_mul)
    g_assert_cmpuint (term, ==, index * rc->term_mul);
  g_autoptr(GBytes) want = payload_for (index, rc->salt);
  g_autoptr(GBytes) got = g_bytes_new (payload, len);
  g_assert_true (g_bytes_equal (want, got));
  rc->next++;
  rc->count++;
  return TRUE;
}

static guint64
read_all_checked (NcWal *wal, guint64 from, guint64 salt, guint64 term_mul)
{
  GError *error = NULL;
  ReadCheck rc = { from, salt, 0, term_mul };
  g_assert_true (nc_wal_read (wal, from, check_record_cb, &rc, &error));
  g_assert_no_error (error);
  return rc.count;
}

static gboolean
file_bytes (const char *path, guint8 **data, gsize *len)
{
  return g_file_get_contents (path, (char **) data, len, NULL);
}

static void
write_bytes (const char *path, const guint8 *data, gsize len)
{
  /* Unlink + create rather than O_TRUNC: ext4 flushes a file truncated and
   * rewritten on close (auto_da_alloc), which is slow on a busy disk. */
  g_unlink (path);
  int fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, data, len), ==, (gssize) len);
  g_assert_cmpint (close (fd), ==, 0);
}

/* Byte offset of record `nth` (0-based) in a segment whose records start at
 * `first` with payloads from payload_for(.., salt). */
static gsize
record_offset (guint64 first, guint nth, guint64 salt)
{
  gsize off = 16;
  for (guint i = 0; i < nth; i++)
    {
      g_autoptr(GBytes) p = payload_for (first + i, salt);
      off += 24 + g_bytes_get_size (p);
    }
  return off;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_crc32c_matches_check_value (void)
{
  const guint8 *s = (const guint8 *) "123456789";
  g_assert_cmphex (nc_crc32c (0, s, 9), ==, 0xE3069283);
  /* Incremental use equals one pass, at every split point. */
  for (gsize k = 0; k <= 9; k++)
    g_assert_cmphex (nc_crc32c (nc_crc32c (0, s, k), s + k, 9 - k), ==, 0xE3069283);
  g_assert_cmphex (nc_crc32c (0, NULL, 0), ==, 0);
  /* A longer input exercises the 8-byte path against the byte-wise tail. */
  guint8 buf[1000];
  for (guint i = 0; i < sizeof buf; i++)
    buf[i] = (guint8) (i * 7);
  guint32 whole = nc_crc32c (0, buf, sizeof buf);
  guint32 bytewise = 0;
  for (guint i = 0; i < sizeof buf; i++)
    bytewise = nc_crc32c (bytewise, buf + i, 1);
  g_assert_cmphex (whole, ==, bytewise);
}

static void
test_round_trip_across_segment_rolls (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (512);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  for (guint64 i = 1; i <= 300; i++)
    append_sync (wal, i, i * 3, 5);
  g_assert_true (nc_wal_flush (wal, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_durable_index (wal), ==, 300);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  g_assert_cmpuint (files->len, >, 10);
  /* Every segment but the last stays under the size limit (records are small). */
  for (guint i = 0; i + 1 < files->len; i++)
    {
      GStatBuf st;
      g_assert_cmpint (g_stat (files->pdata[i], &st), ==, 0);
      g_assert_cmpint (st.st_size, <=, 512);
    }
  g_assert_cmpuint (read_all_checked (wal, 1, 5, 3), ==, 300);
  g_assert_cmpuint (read_all_checked (wal, 157, 5, 3), ==, 144);
  g_assert_cmpuint (read_all_checked (wal, 301, 5, 3), ==, 0);
  g_assert_cmpuint (nc_wal_term_at (wal, 200), ==, 600);
  g_assert_cmpuint (nc_wal_term_at (wal, 301), ==, 0);
  g_assert_cmpuint (nc_wal_last_term (wal), ==, 900);
  nc_wal_close (wal);
}

static gboolean
stop_after_three_cb (guint64 index, guint64 term, const guint8 *payload, gsize len, gpointer data)
{
  guint *n = data;
  return ++*n < 3;
}

static void
test_read_stops_when_callback_says_so (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (0);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  for (guint64 i = 1; i <= 10; i++)
    append_sync (wal, i, 1, 0);
  g_assert_true (nc_wal_flush (wal, &error));
  guint n = 0;
  g_assert_true (nc_wal_read (wal, 2, stop_after_three_cb, &n, &error));
  g_assert_cmpuint (n, ==, 3);
  nc_wal_close (wal);
}

static void
test_reopen_after_close_sees_everything (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (4096);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  for (guint64 i = 1; i <= 500; i++)
    append_sync (wal, i, i * 2, 9);
  nc_wal_close (wal);  /* close waits for the queue */

  wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_first_index (wal), ==, 1);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 500);
  g_assert_cmpuint (nc_wal_durable_index (wal), ==, 500);
  g_assert_cmpuint (nc_wal_last_term (wal), ==, 1000);
  g_assert_cmpuint (read_all_checked (wal, 1, 9, 2), ==, 500);
  append_sync (wal, 501, 1002, 9);
  nc_wal_close (wal);

  wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (read_all_checked (wal, 1, 9, 2), ==, 501);
  g_assert_false (log_contains ("torn", NULL));
  nc_wal_close (wal);
}

static void
test_empty_log_starts_at_first_index (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (0);
  NcWal *wal = nc_wal_open (f->dir, &o, 42, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_first_index (wal), ==, 42);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 41);
  g_autoptr(GBytes) p = payload_for (1, 0);
  g_assert_false (nc_wal_append (wal, 1, 1, p, NULL, NULL, &error));
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_ORDER);
  g_clear_error (&error);
  append_sync (wal, 42, 1, 0);
  nc_wal_close (wal);
  wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_first_index (wal), ==, 42);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 42);
  nc_wal_close (wal);
}

/* -- group commit -- */

typedef struct {
  GMutex lock;
  GCond cond;
  guint64 next_index;       /* index allocation, under lock */
  GArray *completed;        /* guint64, in callback order */
  guint64 fsync_calls;
  NcWal *wal;
  guint per_thread;
} GroupCommit;

typedef struct {
  GroupCommit *gc;
  GMutex lock;
  GCond cond;
  gboolean done;
} Committer;

static int
slow_fsync_hook (int fd, gpointer data)
{
  GroupCommit *gc = data;
  g_mutex_lock (&gc->lock);
  gc->fsync_calls++;
  g_mutex_unlock (&gc->lock);
  g_usleep (2000);  /* a disk that takes 2 ms per flush */
  return 0;
}

static void
committer_done_cb (guint64 index, const GError *error, gpointer data)
{
  Committer *c = data;
  g_assert_no_error ((GError *) error);
  g_mutex_lock (&c->gc->lock);
  g_array_append_val (c->gc->completed, index);
  g_mutex_unlock (&c->gc->lock);
  g_mutex_lock (&c->lock);
  c->done = TRUE;
  g_cond_signal (&c->cond);
  g_mutex_unlock (&c->lock);
}

static gpointer
committer_main (gpointer data)
{
  Committer *c = data;
  GroupCommit *gc = c->gc;
  for (guint i = 0; i < gc->per_thread; i++)
    {
      c->done = FALSE;
      GError *error = NULL;
      /* Index assignment and append are one step, as in the commit path. */
      g_mutex_lock (&gc->lock);
      guint64 index = gc->next_index++;
      g_autoptr(GBytes) p = payload_for (index, 1);
      gboolean ok = nc_wal_append (gc->wal, index, 1, p, committer_done_cb, c, &error);
      g_mutex_unlock (&gc->lock);
      g_assert_no_error (error);
      g_assert_true (ok);
      g_mutex_lock (&c->lock);
      while (!c->done)
        g_cond_wait (&c->cond, &c->lock);
      g_mutex_unlock (&c->lock);
    }
  return NULL;
}

static void
test_group_commit_shares_fsyncs (Fixture *f, gconstpointer data)
{
  enum { THREADS = 16, PER_THREAD = 25 };
  GroupCommit gc = { 0 };
  g_mutex_init (&gc.lock);
  gc.next_index = 1;
  gc.completed = g_array_new (FALSE, FALSE, sizeof (guint64));
  gc.per_thread = PER_THREAD;
  NcWalOptions o = { 0 };
  o.fsync_hook = slow_fsync_hook;
  o.fsync_hook_data = &gc;
  GError *error = NULL;
  gc.wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);

  Committer cs[THREADS];
  GThread *threads[THREADS];
  for (guint i = 0; i < THREADS; i++)
    {
      cs[i].gc = &gc;
      g_mutex_init (&cs[i].lock);
      g_cond_init (&cs[i].cond);
      cs[i].done = FALSE;
      threads[i] = g_thread_new ("committer", committer_main, &cs[i]);
    }
  for (guint i = 0; i < THREADS; i++)
    g_thread_join (threads[i]);

  NcWalStats st;
  nc_wal_get_stats (gc.wal, &st);
  guint64 total = THREADS * PER_THREAD;
  g_assert_cmpuint (st.records, ==, total);
  g_assert_cmpuint (st.fsyncs, ==, gc.fsync_calls);
  g_test_message ("%" G_GUINT64_FORMAT " records, %" G_GUINT64_FORMAT " fsyncs",
                  st.records, st.fsyncs);
  /* Group commit: with 16 committers waiting at once, batches form. */
  g_assert_cmpuint (st.fsyncs * 2, <, total);
  g_assert_cmpuint (st.batches, ==, st.fsyncs);
  /* Every callback exactly once, in index order. */
  g_assert_cmpuint (gc.completed->len, ==, total);
  for (guint i = 0; i < gc.completed->len; i++)
    g_assert_cmpuint (g_array_index (gc.completed, guint64, i), ==, i + 1);
  g_assert_cmpuint (read_all_checked (gc.wal, 1, 1, 0), ==, total);
  nc_wal_close (gc.wal);

  for (guint i = 0; i < THREADS; i++)
    {
      g_mutex_clear (&cs[i].lock);
      g_cond_clear (&cs[i].cond);
    }
  g_array_unref (gc.completed);
  g_mutex_clear (&gc.lock);
}

/* -- recovery -- */

static void
write_log (Fixture *f, guint64 n, gsize segment_size, guint64 salt)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (segment_size);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  for (guint64 i = 1; i <= n; i++)
    append_sync (wal, i, 1, salt);
  nc_wal_close (wal);
}

static void
test_torn_tail_is_truncated (Fixture *f, gconstpointer data)
{
  write_log (f, 5, 0, 3);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  g_assert_cmpuint (files->len, ==, 1);
  const char *seg = files->pdata[0];
  g_autofree guint8 *orig = NULL;
  gsize orig_len = 0;
  g_assert_true (file_bytes (seg, &orig, &orig_len));
  gsize last_start = record_offset (1, 4, 3);
  g_assert_cmpuint (orig_len, ==, record_offset (1, 5, 3));
  g_assert_cmpuint (orig_len - last_start, >, 24);

  NcWalOptions o = fast_opts (0);
  /* A crash can leave any prefix of the last record. */
  for (gsize cut = last_start + 1; cut < orig_len; cut++)
    {
      write_bytes (seg, orig, cut);
      log_reset (FALSE);
      GError *error = NULL;
      NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
      g_assert_no_error (error);
      g_assert_nonnull (wal);
      g_assert_cmpuint (nc_wal_last_index (wal), ==, 4);
      g_assert_cmpuint (read_all_checked (wal, 1, 3, 0), ==, 4);
      g_autofree char *where = g_strdup_printf ("offset %" G_GSIZE_FORMAT, last_start);
      g_assert_true (log_contains (seg, where));
      /* The log continues cleanly after the cut. */
      append_sync (wal, 5, 1, 3);
      nc_wal_close (wal);
      GStatBuf st;
      g_assert_cmpint (g_stat (seg, &st), ==, 0);
      g_assert_cmpuint ((gsize) st.st_size, ==, orig_len);
    }
}

static void
test_corrupt_last_record_at_tail_is_truncated (Fixture *f, gconstpointer data)
{
  write_log (f, 5, 0, 3);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  const char *seg = files->pdata[0];
  g_autofree guint8 *buf = NULL;
  gsize len = 0;
  g_assert_true (file_bytes (seg, &buf, &len));
  /* A partly-written last record: complete length but wrong bytes, and a
   * zero-filled region after it (what a crash can leave behind). */
  buf[len - 1] ^= 0x55;
  g_autoptr(GByteArray) b = g_byte_array_new ();
  g_byte_array_append (b, buf, (guint) len);
  guint8 zeros[300] = { 0 };
  g_byte_array_append (b, zeros, sizeof zeros);
  write_bytes (seg, b->data, b->len);

  GError *error = NULL;
  NcWalOptions o = fast_opts (0);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 4);
  g_assert_true (log_contains (seg, "checksum mismatch"));
  nc_wal_close (wal);
}

static void
assert_open_fails_corrupt (Fixture *f, const char *path, gsize offset)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (0);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_null (wal);
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_CORRUPT);
  g_autofree char *where = g_strdup_printf ("byte offset %" G_GSIZE_FORMAT ":", offset);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, where));
  g_error_free (error);
}

static void
test_flipped_byte_mid_log_fails_open (Fixture *f, gconstpointer data)
{
  write_log (f, 10, 0, 2);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  const char *seg = files->pdata[0];
  g_autofree guint8 *buf = NULL;
  gsize len = 0;
  g_assert_true (file_bytes (seg, &buf, &len));
  gsize off = record_offset (1, 4, 2);  /* record 5 of 10 */
  buf[off + 24 + 1] ^= 0x01;            /* one bit of its payload */
  write_bytes (seg, buf, len);
  assert_open_fails_corrupt (f, seg, off);
  /* Nothing was truncated away. */
  GStatBuf st;
  g_assert_cmpint (g_stat (seg, &st), ==, 0);
  g_assert_cmpuint ((gsize) st.st_size, ==, len);
}

static void
test_corruption_in_earlier_segment_fails_open (Fixture *f, gconstpointer data)
{
  write_log (f, 60, 400, 4);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  g_assert_cmpuint (files->len, >=, 3);
  /* The LAST record of a middle segment: a tail, but not the log's tail. */
  const char *seg = files->pdata[1];
  g_autofree char *base = g_path_get_basename (seg);
  guint64 first = g_ascii_strtoull (base + 4, NULL, 10);
  g_autofree guint8 *buf = NULL;
  gsize len = 0;
  g_assert_true (file_bytes (seg, &buf, &len));
  guint nrec = 0;
  while (record_offset (first, nrec + 1, 4) < len)
    nrec++;
  gsize off = record_offset (first, nrec, 4);
  buf[len - 1] ^= 0x80;
  write_bytes (seg, buf, len);
  assert_open_fails_corrupt (f, seg, off);
}

static void
test_unwritten_sectors_in_unsynced_tail_are_torn (Fixture *f, gconstpointer data)
{
  write_log (f, 60, 0, 7);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  const char *seg = files->pdata[0];
  g_autofree guint8 *buf = NULL;
  gsize len = 0;
  g_assert_true (file_bytes (seg, &buf, &len));
  /* A crash lost one sector of the last (unsynced) batch while later
   * sectors of it reached the disk. */
  gsize sector = (len - 1200) / 512 * 512;
  memset (buf + sector, 0, 512);
  write_bytes (seg, buf, len);
  guint k = 0;
  while (record_offset (1, k + 1, 7) <= sector)
    k++;
  /* Record k+1 (0-based k) holds the lost sector; valid records follow. */
  g_assert_cmpuint (record_offset (1, k + 2, 7) + 24, <, len);

  GError *error = NULL;
  NcWalOptions o = fast_opts (0);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, k);
  g_autofree char *where = g_strdup_printf ("offset %" G_GSIZE_FORMAT, record_offset (1, k, 7));
  g_assert_true (log_contains (seg, "unwritten sectors"));
  g_assert_true (log_contains (seg, where));
  nc_wal_close (wal);
}

/* Random damage: whatever the damage, opening either fails with
 * NC_WAL_ERROR_CORRUPT or yields a prefix of exactly the records that were
 * written (never a wrong record), and a second open agrees with the first. */
static void
test_random_damage_never_yields_wrong_records (Fixture *f, gconstpointer data)
{
  write_log (f, 120, 700, 11);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  g_assert_cmpuint (files->len, >=, 4);
  GPtrArray *orig = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (guint i = 0; i < files->len; i++)
    {
      guint8 *b;
      gsize n;
      g_assert_true (file_bytes (files->pdata[i], &b, &n));
      g_ptr_array_add (orig, g_bytes_new_take (b, n));
    }
  NcWalOptions o = fast_opts (700);
  guint opened = 0, refused = 0;
  for (guint iter = 0; iter < 300; iter++)
    {
      /* Restore, then damage one segment. */
      for (guint i = 0; i < files->len; i++)
        {
          gsize n;
          const guint8 *b = g_bytes_get_data (orig->pdata[i], &n);
          write_bytes (files->pdata[i], b, n);
        }
      guint victim = (guint) g_test_rand_int_range (0, (gint32) files->len);
      gsize n;
      const guint8 *pristine = g_bytes_get_data (orig->pdata[victim], &n);
      guint8 *b = g_memdup2 (pristine, n);
      gsize at = (gsize) g_test_rand_int_range (0, (gint32) n);
      gsize span = (gsize) g_test_rand_int_range (1, 600);
      span = MIN (span, n - at);
      switch (g_test_rand_int_range (0, 4))
        {
        case 0:
          b[at] ^= (guint8) g_test_rand_int_range (1, 256);
          break;
        case 1:
          n = at;
          break;
        case 2:
          for (gsize i = 0; i < span; i++)
            b[at + i] = (guint8) g_test_rand_int_range (0, 256);
          break;
        default:
          memset (b + at, 0, span);
          break;
        }
      write_bytes (files->pdata[victim], b, n);
      g_free (b);

      GError *error = NULL;
      NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
      if (wal == NULL)
        {
          g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_CORRUPT);
          g_clear_error (&error);
          refused++;
          continue;
        }
      opened++;
      guint64 last = nc_wal_last_index (wal);
      g_assert_cmpuint (nc_wal_first_index (wal), ==, 1);
      g_assert_cmpuint (last, <=, 120);
      g_assert_cmpuint (read_all_checked (wal, 1, 11, 0), ==, last);
      nc_wal_close (wal);
      /* Recovery is idempotent. */
      wal = nc_wal_open (f->dir, &o, 1, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (nc_wal_last_index (wal), ==, last);
      nc_wal_close (wal);
      /* Truncation may have created or removed files: start over. */
      g_autoptr(GPtrArray) now = segment_files (f->dir);
      for (guint i = 0; i < now->len; i++)
        g_unlink (now->pdata[i]);
    }
  g_test_message ("random damage: %u opened (prefix verified), %u refused as corrupt",
                  opened, refused);
  g_assert_cmpuint (opened, >, 0);
  g_assert_cmpuint (refused, >, 0);
  g_ptr_array_unref (orig);
}

static void
test_garbage_length_is_corruption (Fixture *f, gconstpointer data)
{
  write_log (f, 10, 0, 6);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  const char *seg = files->pdata[0];
  g_autofree guint8 *buf = NULL;
  gsize len = 0;
  g_assert_true (file_bytes (seg, &buf, &len));
  gsize off = record_offset (1, 2, 6);
  buf[off + 3] = 0xf0;  /* length ~4 GB */
  write_bytes (seg, buf, len);
  assert_open_fails_corrupt (f, seg, off);
}

static void
test_index_gap_is_corruption (Fixture *f, gconstpointer data)
{
  write_log (f, 40, 300, 1);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  g_assert_cmpuint (files->len, >=, 3);
  /* A lost middle segment leaves a hole in the index sequence. */
  g_assert_cmpint (g_unlink (files->pdata[1]), ==, 0);
  assert_open_fails_corrupt (f, files->pdata[2], 0);
}

static void
test_zero_runway_is_a_clean_end (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWal *wal = nc_wal_open (f->dir, NULL, 1, &error);  /* real syncs: runway on */
  g_assert_no_error (error);
  for (guint64 i = 1; i <= 10; i++)
    append_sync (wal, i, 1, 5);
  g_assert_true (nc_wal_flush (wal, &error));
  gsize data_len = record_offset (1, 10, 5);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  g_assert_cmpuint (files->len, ==, 1);
  g_autofree guint8 *live = NULL;
  gsize live_len = 0;
  g_assert_true (file_bytes (files->pdata[0], &live, &live_len));
  /* The writer keeps zeros written ahead of the last record. */
  g_assert_cmpuint (live_len, >, data_len);
  for (gsize i = data_len; i < live_len; i++)
    g_assert_cmpuint (live[i], ==, 0);

  /* What a crash right now leaves behind opens cleanly, without data loss
   * and without a torn-record message. */
  g_autofree char *crash_dir = g_build_filename (f->dir, "crash", NULL);
  g_autofree char *crash_wal = g_build_filename (crash_dir, "wal", NULL);
  g_assert_cmpint (g_mkdir_with_parents (crash_wal, 0700), ==, 0);
  g_autofree char *base = g_path_get_basename (files->pdata[0]);
  g_autofree char *copy = g_build_filename (crash_wal, base, NULL);
  write_bytes (copy, live, live_len);
  NcWal *after = nc_wal_open (crash_dir, NULL, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_last_index (after), ==, 10);
  g_assert_false (log_contains ("torn", NULL));
  append_sync (after, 11, 1, 5);
  nc_wal_close (after);
  after = nc_wal_open (crash_dir, NULL, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (read_all_checked (after, 1, 5, 0), ==, 11);
  nc_wal_close (after);

  /* A clean close trims the runway. */
  nc_wal_close (wal);
  GStatBuf st;
  g_assert_cmpint (g_stat (files->pdata[0], &st), ==, 0);
  g_assert_cmpuint ((gsize) st.st_size, ==, data_len);
}

static void
test_out_of_order_index_rejected (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (0);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  append_sync (wal, 1, 1, 0);
  g_autoptr(GBytes) p = payload_for (3, 0);
  g_assert_false (nc_wal_append (wal, 3, 1, p, NULL, NULL, &error));
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_ORDER);
  g_clear_error (&error);
  g_assert_false (nc_wal_append (wal, 1, 1, p, NULL, NULL, &error));
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_ORDER);
  g_clear_error (&error);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 1);
  append_sync (wal, 2, 1, 0);
  g_assert_true (nc_wal_flush (wal, &error));
  g_assert_cmpuint (read_all_checked (wal, 1, 0, 0), ==, 2);
  nc_wal_close (wal);
}

/* -- failure -- */

typedef struct {
  gint calls;
  GMutex lock;
  GPtrArray *errors;   /* char* of each callback, "" for success */
  gint held;           /* while set, the hook waits (so the test can queue records first) */
} FailState;

static int
failing_fsync_hook (int fd, gpointer data)
{
  FailState *fs = data;
  g_atomic_int_inc (&fs->calls);
  /* Without this the writer may fail the first record before the test has
   * appended the others, and the later appends are (rightly) refused. */
  for (guint i = 0; i < 5000 && g_atomic_int_get (&fs->held); i++)
    g_usleep (1000);
  errno = EIO;
  return -1;
}

static void
record_done_cb (guint64 index, const GError *error, gpointer data)
{
  FailState *fs = data;
  g_mutex_lock (&fs->lock);
  if (error != NULL)
    g_assert_true (g_error_matches (error, NC_WAL_ERROR, NC_WAL_ERROR_FAILED));
  g_ptr_array_add (fs->errors, g_strdup (error ? error->message : ""));
  g_mutex_unlock (&fs->lock);
}

static void
test_fsync_failure_enters_failed_state (Fixture *f, gconstpointer data)
{
  log_reset (TRUE);
  FailState fs = { 0 };
  g_mutex_init (&fs.lock);
  fs.errors = g_ptr_array_new_with_free_func (g_free);
  NcWalOptions o = { 0 };
  o.fsync_hook = failing_fsync_hook;
  o.fsync_hook_data = &fs;
  GError *error = NULL;
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);

  g_atomic_int_set (&fs.held, 1);
  for (guint64 i = 1; i <= 3; i++)
    {
      g_autoptr(GBytes) p = payload_for (i, 0);
      g_assert_true (nc_wal_append (wal, i, 1, p, record_done_cb, &fs, &error));
    }
  g_atomic_int_set (&fs.held, 0);
  g_assert_false (nc_wal_flush (wal, &error));
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_FAILED);
  g_clear_error (&error);

  /* Every queued record failed, whichever batch it was in. */
  g_assert_cmpuint (fs.errors->len, ==, 3);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  g_autofree char *expected = g_strdup_printf ("fdatasync failed on %s: %s; the database no "
                                               "longer accepts writes",
                                               (char *) files->pdata[0], g_strerror (EIO));
  for (guint i = 0; i < fs.errors->len; i++)
    g_assert_cmpstr (fs.errors->pdata[i], ==, expected);
  g_autofree char *failure = nc_wal_failure (wal);
  g_assert_cmpstr (failure, ==, expected);
  g_assert_true (log_contains (expected, NULL));
  g_assert_cmpuint (nc_wal_durable_index (wal), ==, 0);

  /* Later appends are refused up front and never reach the disk. */
  g_autoptr(GBytes) p = payload_for (4, 0);
  g_assert_false (nc_wal_append (wal, 4, 1, p, record_done_cb, &fs, &error));
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);
  g_assert_false (nc_wal_truncate_after (wal, 1, &error));
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_FAILED);
  g_clear_error (&error);
  nc_wal_close (wal);
  /* Nothing was retried: exactly one fdatasync attempt. */
  g_assert_cmpint (g_atomic_int_get (&fs.calls), ==, 1);
  g_assert_cmpuint (fs.errors->len, ==, 3);

  g_ptr_array_unref (fs.errors);
  g_mutex_clear (&fs.lock);
}

/* -- queued records are readable -- */

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean release;
  gboolean entered;
} Gate;

static int
gated_fsync_hook (int fd, gpointer data)
{
  Gate *g = data;
  g_mutex_lock (&g->lock);
  g->entered = TRUE;
  g_cond_broadcast (&g->cond);
  while (!g->release)
    g_cond_wait (&g->cond, &g->lock);
  g_mutex_unlock (&g->lock);
  return 0;
}

static void
test_queued_records_are_readable_before_durable (Fixture *f, gconstpointer data)
{
  Gate gate = { 0 };
  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  NcWalOptions o = { 0 };
  o.fsync_hook = gated_fsync_hook;
  o.fsync_hook_data = &gate;
  GError *error = NULL;
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  append_sync (wal, 1, 7, 8);
  g_mutex_lock (&gate.lock);
  while (!gate.entered)
    g_cond_wait (&gate.cond, &gate.lock);
  g_mutex_unlock (&gate.lock);
  /* Record 1 is being synced, 2 and 3 are queued behind it. */
  append_sync (wal, 2, 7, 8);
  append_sync (wal, 3, 9, 8);
  g_assert_cmpuint (nc_wal_durable_index (wal), ==, 0);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 3);
  g_assert_cmpuint (nc_wal_term_at (wal, 3), ==, 9);
  g_assert_cmpuint (read_all_checked (wal, 1, 8, 0), ==, 3);
  g_mutex_lock (&gate.lock);
  gate.release = TRUE;
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);
  g_assert_true (nc_wal_flush (wal, &error));
  g_assert_cmpuint (nc_wal_durable_index (wal), ==, 3);
  g_assert_cmpuint (read_all_checked (wal, 1, 8, 0), ==, 3);
  nc_wal_close (wal);
  g_mutex_clear (&gate.lock);
  g_cond_clear (&gate.cond);
}

/* -- truncate, compact, reset -- */

typedef struct {
  NcWal *wal;
  gint stop;
  gint reads;
  gint records;
} ReaderState;

static gboolean
verify_cb (guint64 index, guint64 term, const guint8 *payload, gsize len, gpointer data)
{
  guint64 *next = data;
  g_assert_cmpuint (index, ==, *next);
  g_assert_cmpuint (term, ==, index * 5);
  g_autoptr(GBytes) want = payload_for (index, 13);
  g_autoptr(GBytes) got = g_bytes_new (payload, len);
  g_assert_true (g_bytes_equal (want, got));
  (*next)++;
  return TRUE;
}

static gpointer
reader_main (gpointer data)
{
  ReaderState *rs = data;
  while (!g_atomic_int_get (&rs->stop))
    {
      guint64 from = nc_wal_first_index (rs->wal);
      guint64 next = from;
      GError *error = NULL;
      if (!nc_wal_read (rs->wal, from, verify_cb, &next, &error))
        {
          /* The only acceptable failure: compaction overtook the reader. */
          g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_COMPACTED);
          g_clear_error (&error);
        }
      g_atomic_int_add (&rs->records, (gint) (next - from));
      g_atomic_int_inc (&rs->reads);
    }
  return NULL;
}

static void
test_concurrent_reads_see_correct_records (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = { 0 };
  o.segment_size = 2048;
  o.no_sync = TRUE;
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  ReaderState rs = { wal, 0, 0, 0 };
  GThread *readers[2];
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    readers[i] = g_thread_new ("reader", reader_main, &rs);
  for (guint64 i = 1; i <= 3000; i++)
    {
      g_autoptr(GBytes) p = payload_for (i, 13);
      g_assert_true (nc_wal_append (wal, i, i * 5, p, NULL, NULL, &error));
      if (i % 500 == 0)
        {
          g_assert_true (nc_wal_flush (wal, &error));
          nc_wal_compact (wal, i - 200);
        }
    }
  g_assert_true (nc_wal_flush (wal, &error));
  /* Let the readers finish at least one pass over the final log. */
  gint seen = g_atomic_int_get (&rs.reads);
  for (guint spin = 0; spin < 5000 && g_atomic_int_get (&rs.reads) < seen + 2; spin++)
    g_usleep (1000);
  g_atomic_int_set (&rs.stop, 1);
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    g_thread_join (readers[i]);
  g_assert_cmpint (g_atomic_int_get (&rs.reads), >, seen);
  g_test_message ("%d passes by the readers (%d while appending), %d records checked",
                  rs.reads, seen, rs.records);
  g_assert_cmpint (rs.records, >, 3000);
  g_assert_cmpuint (nc_wal_first_index (wal), >, 1);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 3000);
  nc_wal_close (wal);
}

static void
test_truncate_after_then_append (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (300);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  for (guint64 i = 1; i <= 40; i++)
    append_sync (wal, i, 1, 0);
  g_assert_true (nc_wal_flush (wal, &error));
  g_autoptr(GPtrArray) before = segment_files (f->dir);
  g_assert_cmpuint (before->len, >=, 4);

  g_assert_true (nc_wal_truncate_after (wal, 7, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 7);
  g_assert_cmpuint (nc_wal_term_at (wal, 8), ==, 0);
  g_assert_cmpuint (read_all_checked (wal, 1, 0, 0), ==, 7);
  g_autoptr(GPtrArray) after = segment_files (f->dir);
  g_assert_cmpuint (after->len, <, before->len);
  /* The new entry 8 comes from a different term with a different payload. */
  for (guint64 i = 8; i <= 12; i++)
    append_sync (wal, i, 2, 100);
  g_assert_true (nc_wal_flush (wal, &error));
  g_assert_cmpuint (nc_wal_last_term (wal), ==, 2);
  nc_wal_close (wal);

  wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 12);
  g_assert_cmpuint (nc_wal_term_at (wal, 7), ==, 1);
  g_assert_cmpuint (nc_wal_term_at (wal, 8), ==, 2);
  ReadCheck rc = { 8, 100, 0, 0 };
  g_assert_true (nc_wal_read (wal, 8, check_record_cb, &rc, &error));
  g_assert_cmpuint (rc.count, ==, 5);
  /* Truncating to before the first record empties the log. */
  g_assert_true (nc_wal_truncate_after (wal, 0, &error));
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 0);
  append_sync (wal, 1, 3, 0);
  nc_wal_close (wal);
  wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 1);
  g_assert_cmpuint (nc_wal_term_at (wal, 1), ==, 3);
  nc_wal_close (wal);
}

static gboolean
count_cb (guint64 index, guint64 term, const guint8 *payload, gsize len, gpointer data)
{
  (*(guint *) data)++;
  return TRUE;
}

static void
test_compact_removes_old_segments (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (300);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  for (guint64 i = 1; i <= 100; i++)
    append_sync (wal, i, 1, 0);
  g_assert_true (nc_wal_flush (wal, &error));
  g_autoptr(GPtrArray) before = segment_files (f->dir);

  nc_wal_compact (wal, 50);
  guint64 first = nc_wal_first_index (wal);
  g_assert_cmpuint (first, >, 1);
  g_assert_cmpuint (first, <=, 51);
  g_autoptr(GPtrArray) after = segment_files (f->dir);
  g_assert_cmpuint (after->len, <, before->len);
  g_autofree char *base = g_path_get_basename (after->pdata[0]);
  g_assert_cmpuint (g_ascii_strtoull (base + 4, NULL, 10), ==, first);
  g_assert_cmpuint (read_all_checked (wal, first, 0, 0), ==, 101 - first);
  guint n = 0;
  g_assert_false (nc_wal_read (wal, 1, count_cb, &n, &error));
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_COMPACTED);
  g_clear_error (&error);
  g_assert_cmpuint (nc_wal_term_at (wal, 1), ==, 0);
  /* Compacting everything keeps the active segment. */
  nc_wal_compact (wal, 100);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 100);
  nc_wal_close (wal);

  wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_first_index (wal), >, first);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 100);
  g_assert_cmpuint (read_all_checked (wal, nc_wal_first_index (wal), 0, 0), ==,
                    101 - nc_wal_first_index (wal));
  nc_wal_close (wal);
}

static void
test_reset_restarts_at_index (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (300);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  for (guint64 i = 1; i <= 30; i++)
    append_sync (wal, i, 1, 0);
  g_assert_true (nc_wal_reset (wal, 1000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_first_index (wal), ==, 1000);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 999);
  g_assert_cmpuint (nc_wal_term_at (wal, 5), ==, 0);
  append_sync (wal, 1000, 4, 0);
  nc_wal_close (wal);
  g_autoptr(GPtrArray) files = segment_files (f->dir);
  g_assert_cmpuint (files->len, ==, 1);
  wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nc_wal_first_index (wal), ==, 1000);
  g_assert_cmpuint (nc_wal_last_index (wal), ==, 1000);
  nc_wal_close (wal);
}

static void
test_second_open_is_refused (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWalOptions o = fast_opts (0);
  NcWal *wal = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_no_error (error);
  NcWal *again = nc_wal_open (f->dir, &o, 1, &error);
  g_assert_null (again);
  g_assert_error (error, NC_WAL_ERROR, NC_WAL_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "in use"));
  g_clear_error (&error);
  nc_wal_close (wal);
}

static void
observe_cb (double seconds, gpointer data)
{
  g_assert_cmpfloat (seconds, >=, 0.0);
  g_atomic_int_inc ((gint *) data);
}

static void
test_fsync_observer_sees_each_fsync (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  NcWal *wal = nc_wal_open (f->dir, NULL, 1, &error);  /* real fdatasync */
  g_assert_no_error (error);
  gint seen = 0;
  nc_wal_set_fsync_observer (wal, observe_cb, &seen);
  for (guint64 i = 1; i <= 5; i++)
    {
      append_sync (wal, i, 1, 0);
      g_assert_true (nc_wal_flush (wal, &error));
    }
  NcWalStats st;
  nc_wal_get_stats (wal, &st);
  g_assert_cmpuint (st.fsyncs, ==, 5);
  g_assert_cmpint (g_atomic_int_get (&seen), ==, 5);
  g_assert_cmpuint (st.records, ==, 5);
  g_assert_cmpuint (st.bytes, >, 5 * 24);
  nc_wal_close (wal);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  log_lines = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);

#define ADD(path, fn) g_test_add ("/nornic/wal/" path, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  g_test_add_func ("/nornic/wal/crc32c-matches-check-value", test_crc32c_matches_check_value);
  ADD ("round-trip-across-segment-rolls", test_round_trip_across_segment_rolls);
  ADD ("read-stops-when-callback-says-so", test_read_stops_when_callback_says_so);
  ADD ("reopen-after-close-sees-everything", test_reopen_after_close_sees_everything);
  ADD ("empty-log-starts-at-first-index", test_empty_log_starts_at_first_index);
  ADD ("group-commit-shares-fsyncs-and-calls-back-in-order", test_group_commit_shares_fsyncs);
  ADD ("torn-tail-is-truncated", test_torn_tail_is_truncated);
  ADD ("corrupt-last-record-at-tail-is-truncated", test_corrupt_last_record_at_tail_is_truncated);
  ADD ("flipped-byte-mid-log-fails-open-naming-file-and-offset",
       test_flipped_byte_mid_log_fails_open);
  ADD ("corruption-in-earlier-segment-fails-open", test_corruption_in_earlier_segment_fails_open);
  ADD ("unwritten-sectors-in-unsynced-tail-are-torn",
       test_unwritten_sectors_in_unsynced_tail_are_torn);
  ADD ("random-damage-never-yields-wrong-records", test_random_damage_never_yields_wrong_records);
  ADD ("garbage-length-is-corruption", test_garbage_length_is_corruption);
  ADD ("index-gap-between-segments-is-corruption", test_index_gap_is_corruption);
  ADD ("zero-runway-is-a-clean-end", test_zero_runway_is_a_clean_end);
  ADD ("out-of-order-index-rejected", test_out_of_order_index_rejected);
  ADD ("fsync-failure-enters-failed-state-without-retry", test_fsync_failure_enters_failed_state);
  ADD ("queued-records-are-readable-before-durable", test_queued_records_are_readable_before_durable);
  ADD ("concurrent-reads-during-appends-and-compaction-see-correct-records",
       test_concurrent_reads_see_correct_records);
  ADD ("truncate-after-then-append", test_truncate_after_then_append);
  ADD ("compact-removes-old-segments", test_compact_removes_old_segments);
  ADD ("reset-restarts-at-index", test_reset_restarts_at_index);
  ADD ("second-open-is-refused", test_second_open_is_refused);
  ADD ("fsync-observer-sees-each-fsync", test_fsync_observer_sees_each_fsync);
#undef ADD
  int rc = g_test_run ();
  g_ptr_array_unref (log_lines);
  return rc;
}
