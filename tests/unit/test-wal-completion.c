/* WAL completion: callbacks run on their own thread, so a slow callback
 * (a committer being woken on a busy machine) does not hold back the next
 * batch's write and fdatasync; they still run in index order, and the
 * operations that rewrite files wait for them. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal.h"

typedef struct {
  NcWal *wal;
  GMutex lock;
  GCond cond;
  GArray *order;          /* guint64: indexes in callback order */
  gboolean block_first;   /* the callback of index 1 waits for `release` */
  gboolean release;
  guint64 durable_seen_in_first; /* durable index observed while index 1's callback waited */
} Ctx;

static void
done_cb (guint64 index, const GError *error, gpointer user_data)
{
  Ctx *c = user_data;
  g_assert_no_error (error);
  g_mutex_lock (&c->lock);
  g_array_append_val (c->order, index);
  g_cond_broadcast (&c->cond);
  if (index == 1 && c->block_first)
    {
      /* Wait (bounded) until the test sees index 2 durable, as a committer
       * thread that is slow to run would hold its callback. */
      gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
      while (!c->release)
        if (!g_cond_wait_until (&c->cond, &c->lock, until))
          break;
      c->durable_seen_in_first = nc_wal_durable_index (c->wal);
    }
  g_mutex_unlock (&c->lock);
}

static GBytes *
payload (guint64 i)
{
  char *s = g_strdup_printf ("record-%" G_GUINT64_FORMAT, i);
  return g_bytes_new_take (s, strlen (s));
}

static NcWal *
open_wal (char **dir)
{
  g_autoptr (GError) error = NULL;
  *dir = g_dir_make_tmp ("nornic-walc-XXXXXX", &error);
  g_assert_no_error (error);
  NcWal *wal = nc_wal_open (*dir, NULL, 1, &error);
  g_assert_no_error (error);
  return wal;
}

static void
remove_dir (const char *dir)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  g_assert_cmpint (system (cmd), ==, 0);
}

static void
test_slow_callback_does_not_delay_next_fsync (void)
{
  g_autofree char *dir = NULL;
  Ctx c = { 0 };
  g_mutex_init (&c.lock);
  g_cond_init (&c.cond);
  c.order = g_array_new (FALSE, FALSE, sizeof (guint64));
  c.wal = open_wal (&dir);
  c.block_first = TRUE;

  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) p1 = payload (1);
  g_assert_true (nc_wal_append (c.wal, 1, 1, p1, done_cb, &c, &error));
  /* Wait until index 1's callback has started (and is blocked). */
  g_mutex_lock (&c.lock);
  gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (c.order->len == 0)
    g_assert_true (g_cond_wait_until (&c.cond, &c.lock, until));
  g_mutex_unlock (&c.lock);

  g_autoptr (GBytes) p2 = payload (2);
  g_assert_true (nc_wal_append (c.wal, 2, 1, p2, done_cb, &c, &error));
  /* Index 2 must become durable while index 1's callback still blocks:
   * the writer does not wait for callbacks. */
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (nc_wal_durable_index (c.wal) < 2 && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpuint (nc_wal_durable_index (c.wal), ==, 2);

  g_mutex_lock (&c.lock);
  /* ...and its callback has not run ahead of index 1's. */
  g_assert_cmpuint (c.order->len, ==, 1);
  c.release = TRUE;
  g_cond_broadcast (&c.cond);
  g_mutex_unlock (&c.lock);

  g_assert_true (nc_wal_flush (c.wal, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (c.order->len, ==, 2);
  g_assert_cmpuint (g_array_index (c.order, guint64, 0), ==, 1);
  g_assert_cmpuint (g_array_index (c.order, guint64, 1), ==, 2);
  g_assert_cmpuint (c.durable_seen_in_first, ==, 2);

  nc_wal_close (c.wal);
  remove_dir (dir);
  g_array_unref (c.order);
  g_mutex_clear (&c.lock);
  g_cond_clear (&c.cond);
}

/* Many appenders, many batches: every callback runs once, in index order,
 * and nc_wal_flush returns only after the last one ran. */
static void
test_callbacks_in_index_order_across_batches (void)
{
  g_autofree char *dir = NULL;
  Ctx c = { 0 };
  g_mutex_init (&c.lock);
  g_cond_init (&c.cond);
  c.order = g_array_new (FALSE, FALSE, sizeof (guint64));
  c.wal = open_wal (&dir);
  g_autoptr (GError) error = NULL;
  const guint64 n = 2000;
  for (guint64 i = 1; i <= n; i++)
    {
      g_autoptr (GBytes) p = payload (i);
      g_assert_true (nc_wal_append (c.wal, i, 1, p, done_cb, &c, &error));
      if (i % 97 == 0)
        g_usleep (200); /* let batches of different sizes form */
    }
  g_assert_true (nc_wal_flush (c.wal, &error));
  g_mutex_lock (&c.lock);
  g_assert_cmpuint (c.order->len, ==, n);
  for (guint64 i = 0; i < n; i++)
    g_assert_cmpuint (g_array_index (c.order, guint64, i), ==, i + 1);
  g_mutex_unlock (&c.lock);
  NcWalStats st;
  nc_wal_get_stats (c.wal, &st);
  g_assert_cmpuint (st.records, ==, n);
  nc_wal_close (c.wal);
  remove_dir (dir);
  g_array_unref (c.order);
  g_mutex_clear (&c.lock);
  g_cond_clear (&c.cond);
}

/* truncate_after must not rewrite files while callbacks of written batches
 * are still to run: it waits for them. */
typedef struct {
  Ctx *c;
  gboolean ok;
  gint finished;
  guint callbacks_at_return;
} TruncJob;

static gpointer
truncate_thread (gpointer data)
{
  TruncJob *j = data;
  g_autoptr (GError) error = NULL;
  j->ok = nc_wal_truncate_after (j->c->wal, 2, &error);
  g_mutex_lock (&j->c->lock);
  j->callbacks_at_return = j->c->order->len;
  g_mutex_unlock (&j->c->lock);
  g_atomic_int_set (&j->finished, 1);
  return NULL;
}

static void
test_truncate_waits_for_pending_callbacks (void)
{
  g_autofree char *dir = NULL;
  Ctx c = { 0 };
  g_mutex_init (&c.lock);
  g_cond_init (&c.cond);
  c.order = g_array_new (FALSE, FALSE, sizeof (guint64));
  c.wal = open_wal (&dir);
  c.block_first = TRUE;
  g_autoptr (GError) error = NULL;
  for (guint64 i = 1; i <= 3; i++)
    {
      g_autoptr (GBytes) p = payload (i);
      g_assert_true (nc_wal_append (c.wal, i, 1, p, done_cb, &c, &error));
    }
  /* Index 1's callback is running (and blocked); everything is durable. */
  g_mutex_lock (&c.lock);
  gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (c.order->len == 0)
    g_assert_true (g_cond_wait_until (&c.cond, &c.lock, until));
  g_mutex_unlock (&c.lock);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (nc_wal_durable_index (c.wal) < 3 && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpuint (nc_wal_durable_index (c.wal), ==, 3);

  TruncJob j = { &c, FALSE, 0, 0 };
  GThread *t = g_thread_new ("truncate", truncate_thread, &j);
  g_usleep (200 * 1000);
  g_assert_cmpint (g_atomic_int_get (&j.finished), ==, 0);

  g_mutex_lock (&c.lock);
  c.release = TRUE;
  g_cond_broadcast (&c.cond);
  g_mutex_unlock (&c.lock);
  g_thread_join (t);
  g_assert_true (j.ok);
  g_assert_cmpuint (j.callbacks_at_return, ==, 3);
  g_assert_cmpuint (nc_wal_last_index (c.wal), ==, 2);

  nc_wal_close (c.wal);
  remove_dir (dir);
  g_array_unref (c.order);
  g_mutex_clear (&c.lock);
  g_cond_clear (&c.cond);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/wal/slow-callback-does-not-delay-next-fsync",
                   test_slow_callback_does_not_delay_next_fsync);
  g_test_add_func ("/nornic/wal/callbacks-in-index-order-across-batches",
                   test_callbacks_in_index_order_across_batches);
  g_test_add_func ("/nornic/wal/truncate-waits-for-pending-callbacks",
                   test_truncate_waits_for_pending_callbacks);
  return g_test_run ();
}
