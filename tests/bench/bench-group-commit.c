/* Group-commit benchmark: how many WAL records per second become durable with
 * 1, 16 and 64 concurrent committers, compared with the raw serial
 * "write 100 bytes + fdatasync" rate of the same disk in the same run.
 *
 *   bench-group-commit [DATA_DIR]      (default /var/tmp)
 *
 * Each committer appends a ~200-byte record and waits for its durability
 * callback before appending the next, like a client waiting for COMMIT.
 */
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define SERIAL_SECONDS 2.0
#define WAL_SECONDS 3.0
#define MAX_RECORDS_PER_RUN 1000000

static void
rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr(GDir) d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          rm_rf (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static double
now_seconds (void)
{
  return (double) g_get_monotonic_time () / G_USEC_PER_SEC;
}

/* (a) Serial fdatasync rate: appends 100 bytes and syncs, for ~2 s. */
static double
serial_fdatasync_rate (const char *dir, guint64 *count_out)
{
  g_autofree char *path = g_build_filename (dir, "serial.dat", NULL);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      g_printerr ("cannot create %s: %s\n", path, g_strerror (errno));
      return 0;
    }
  char buf[100];
  memset (buf, 'x', sizeof buf);
  guint64 n = 0;
  double start = now_seconds (), elapsed = 0;
  while ((elapsed = now_seconds () - start) < SERIAL_SECONDS && n < MAX_RECORDS_PER_RUN)
    {
      if (write (fd, buf, sizeof buf) != (ssize_t) sizeof buf || fdatasync (fd) < 0)
        {
          g_printerr ("serial write/fdatasync on %s failed: %s\n", path, g_strerror (errno));
          break;
        }
      n++;
    }
  close (fd);
  g_unlink (path);
  *count_out = n;
  return elapsed > 0 ? (double) n / elapsed : 0;
}

typedef struct {
  NcWal *wal;
  double fsync_seconds;  /* sum, from the fsync observer (writer thread) */
  GMutex lock;         /* index assignment + append, as in the commit path */
  guint64 next_index;
  gsize committed;     /* atomic */
  gboolean failed;
  double deadline;
  GBytes *payload;
} Run;

typedef struct {
  Run *run;
  GMutex lock;
  GCond cond;
  gboolean done;
  gboolean ok;
} Committer;

static void
observe_fsync_cb (double seconds, gpointer data)
{
  Run *run = data;
  run->fsync_seconds += seconds;  /* only the writer thread writes it */
}

static void
committed_cb (guint64 index, const GError *error, gpointer data)
{
  Committer *c = data;
  g_mutex_lock (&c->lock);
  c->ok = error == NULL;
  c->done = TRUE;
  g_cond_signal (&c->cond);
  g_mutex_unlock (&c->lock);
}

static gpointer
committer_main (gpointer data)
{
  Committer *c = data;
  Run *run = c->run;
  for (;;)
    {
      g_mutex_lock (&run->lock);
      if (run->failed || now_seconds () >= run->deadline
          || run->next_index > MAX_RECORDS_PER_RUN)
        {
          g_mutex_unlock (&run->lock);
          break;
        }
      c->done = FALSE;
      g_autoptr(GError) error = NULL;
      guint64 index = run->next_index++;
      gboolean ok = nc_wal_append (run->wal, index, 1, run->payload, committed_cb, c, &error);
      if (!ok)
        {
          g_printerr ("append failed: %s\n", error->message);
          run->failed = TRUE;
        }
      g_mutex_unlock (&run->lock);
      if (!ok)
        break;

      g_mutex_lock (&c->lock);
      while (!c->done)
        g_cond_wait (&c->cond, &c->lock);
      gboolean committed = c->ok;
      g_mutex_unlock (&c->lock);

      if (!committed)
        {
          g_mutex_lock (&run->lock);
          run->failed = TRUE;
          g_mutex_unlock (&run->lock);
          break;
        }
      g_atomic_pointer_add (&run->committed, 1);
    }
  return NULL;
}

/* (b) WAL throughput with `n` committers; fills stats. */
static gboolean
wal_run (const char *base, guint n, double *rate, double *fsync_ms, NcWalStats *stats)
{
  g_autofree char *dir = g_strdup_printf ("%s/wal-%u", base, n);
  g_autoptr(GError) error = NULL;
  Run run = { 0 };
  run.wal = nc_wal_open (dir, NULL, 1, &error);
  if (run.wal == NULL)
    {
      g_printerr ("cannot open WAL in %s: %s\n", dir, error->message);
      return FALSE;
    }
  g_mutex_init (&run.lock);
  nc_wal_set_fsync_observer (run.wal, observe_fsync_cb, &run);
  run.next_index = 1;
  guint8 payload[200];
  for (guint i = 0; i < sizeof payload; i++)
    payload[i] = (guint8) i;
  run.payload = g_bytes_new (payload, sizeof payload);

  Committer *cs = g_new0 (Committer, n);
  GThread **threads = g_new0 (GThread *, n);
  double start = now_seconds ();
  run.deadline = start + WAL_SECONDS;
  for (guint i = 0; i < n; i++)
    {
      cs[i].run = &run;
      g_mutex_init (&cs[i].lock);
      g_cond_init (&cs[i].cond);
      threads[i] = g_thread_new ("committer", committer_main, &cs[i]);
    }
  for (guint i = 0; i < n; i++)
    g_thread_join (threads[i]);
  double elapsed = now_seconds () - start;

  nc_wal_get_stats (run.wal, stats);
  nc_wal_close (run.wal);
  *fsync_ms = stats->fsyncs ? run.fsync_seconds * 1000 / (double) stats->fsyncs : 0;
  *rate = elapsed > 0 ? (double) run.committed / elapsed : 0;
  for (guint i = 0; i < n; i++)
    {
      g_mutex_clear (&cs[i].lock);
      g_cond_clear (&cs[i].cond);
    }
  g_free (cs);
  g_free (threads);
  g_bytes_unref (run.payload);
  g_mutex_clear (&run.lock);
  rm_rf (dir);
  return !run.failed;
}

int
main (int argc, char **argv)
{
  const char *parent = argc > 1 ? argv[1] : "/var/tmp";
  g_autofree char *tmpl = g_build_filename (parent, "nc-bench-gc-XXXXXX", NULL);
  if (g_mkdtemp (tmpl) == NULL)
    {
      g_printerr ("cannot create a directory in %s: %s\n", parent, g_strerror (errno));
      return 1;
    }

  /* The disk may be shared and noisy: the baseline is measured before and
   * after the WAL runs and the ratios use the mean, so a drift shows. */
  guint64 before_n = 0, after_n = 0;
  double before = serial_fdatasync_rate (tmpl, &before_n);
  if (before <= 0)
    {
      rm_rf (tmpl);
      return 1;
    }

  static const guint committers[] = { 1, 16, 64 };
  double rates[G_N_ELEMENTS (committers)], fsync_ms[G_N_ELEMENTS (committers)];
  NcWalStats stats[G_N_ELEMENTS (committers)];
  int rc = 0;
  for (guint i = 0; i < G_N_ELEMENTS (committers); i++)
    {
      memset (&stats[i], 0, sizeof stats[i]);
      rates[i] = fsync_ms[i] = 0;
      if (!wal_run (tmpl, committers[i], &rates[i], &fsync_ms[i], &stats[i]))
        rc = 1;
    }
  double after = serial_fdatasync_rate (tmpl, &after_n);
  double serial = (before + after) / 2;

  printf ("data directory: %s\n", parent);
  printf ("serial write(100 B)+fdatasync: %.0f/s before, %.0f/s after the WAL runs; "
          "baseline %.0f/s (%.3f ms each)\n\n", before, after, serial, 1000.0 / serial);
  printf ("%10s %12s %10s %14s %10s %14s %10s\n", "committers", "records/s", "fsyncs",
          "records/fsync", "ms/fsync", "x 1 committer", "x serial");
  for (guint i = 0; i < G_N_ELEMENTS (committers); i++)
    printf ("%10u %12.0f %10" G_GUINT64_FORMAT " %14.1f %10.3f %13.1fx %9.1fx\n",
            committers[i], rates[i], stats[i].fsyncs,
            stats[i].fsyncs ? (double) stats[i].records / (double) stats[i].fsyncs : 0.0,
            fsync_ms[i], rates[0] > 0 ? rates[i] / rates[0] : 0.0, rates[i] / serial);
  rm_rf (tmpl);
  return rc;
}
