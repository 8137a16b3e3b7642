/* Bolt round-trip benchmark: a lean C client (blocking sockets, one thread
 * per connection) sending RUN + PULL and waiting for the summary, at 1, 16
 * and 64 connections, for two workloads: "RETURN 1" and an indexed point
 * lookup over 10,000 :BenchPerson nodes (created first). Printed beside the
 * floor of the same machine: a 1-byte TCP ping-pong over loopback between
 * two threads.
 *
 * Usage: bench-bolt HOST:PORT USER PASSWORD [SECONDS]
 *   or with NORNICDB_BENCH_BOLT=host:port (and NORNICDB_BENCH_USER /
 *   NORNICDB_BENCH_PASSWORD), as `meson test --benchmark` runs it. Without
 *   an address it prints the loopback floor only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-client.h"
#include "bolt-chunk.h"
#include "config.h"
#include "packstream.h"

typedef struct {
  const char *host;
  guint16 port;
  const char *user, *password;
  gint64 deadline_us;
  GArray *latencies_us; /* gint64 */
  gboolean failed;
  const char *cypher;   /* the statement to repeat */
  gboolean once;        /* run it a single time (setup) */
} Worker;

static gpointer
worker_run (gpointer data)
{
  Worker *w = data;
  g_autoptr (GByteArray) msg = g_byte_array_new ();
  g_autofree char *why = NULL;
  int fd = nb_bolt_open (w->host, w->port, w->user, w->password, &why);
  if (fd < 0)
    {
      g_printerr ("bench-bolt: %s\n", why);
      w->failed = TRUE;
      return NULL;
    }

  /* RUN "RETURN 1" {} {} + PULL {n: -1}, pipelined as drivers do. */
  g_autoptr (GByteArray) wire = g_byte_array_new ();
  g_autoptr (GByteArray) run = g_byte_array_new ();
  nc_ps_write_struct_header (run, 3, 0x10);
  nc_ps_write_string (run, w->cypher);
  nc_ps_write_map_header (run, 0);
  nc_ps_write_map_header (run, 0);
  nc_bolt_chunk_append (wire, run->data, run->len);
  g_autoptr (GByteArray) pull = g_byte_array_new ();
  nc_ps_write_struct_header (pull, 1, 0x3F);
  nc_ps_write_map_header (pull, 1);
  nc_ps_write_string (pull, "n");
  nc_ps_write_int (pull, -1);
  nc_bolt_chunk_append (wire, pull->data, pull->len);

  while (g_get_monotonic_time () < w->deadline_us)
    {
      gint64 t0 = g_get_monotonic_time ();
      int tag = 0;
      gboolean ok = nb_write_all (fd, wire->data, wire->len) && nb_bolt_read_message (fd, msg) == 0x70;
      while (ok && (tag = nb_bolt_read_message (fd, msg)) == 0x71)
        ;
      if (!ok || tag != 0x70)
        {
          w->failed = TRUE;
          break;
        }
      gint64 dt = g_get_monotonic_time () - t0;
      g_array_append_val (w->latencies_us, dt);
      if (w->once)
        break;
    }
  close (fd);
  return NULL;
}

static int
cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static void
report (const char *what, GArray *lat, double seconds)
{
  if (lat->len == 0)
    {
      printf ("%-28s no samples\n", what);
      return;
    }
  g_array_sort (lat, cmp_i64);
  gint64 p50 = g_array_index (lat, gint64, lat->len / 2);
  gint64 p99 = g_array_index (lat, gint64, MIN (lat->len - 1, (guint) (lat->len * 0.99)));
  printf ("%-28s %10.0f ops/s   p50 %6" G_GINT64_FORMAT " us   p99 %6" G_GINT64_FORMAT " us\n", what,
          lat->len / seconds, p50, p99);
}

/* ---- floor: 1-byte ping-pong over loopback ---------------------------------------- */

typedef struct {
  int listen_fd;
} Echo;

static gpointer
echo_run (gpointer data)
{
  Echo *e = data;
  int fd = accept (e->listen_fd, NULL, NULL);
  if (fd < 0)
    return NULL;
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  guint8 b;
  while (nb_read_all (fd, &b, 1) && nb_write_all (fd, &b, 1))
    ;
  close (fd);
  return NULL;
}

static void
floor_bench (double seconds)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof sa;
  Echo e;
  e.listen_fd = socket (AF_INET, SOCK_STREAM, 0);
  if (bind (e.listen_fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen (e.listen_fd, 1) < 0
      || getsockname (e.listen_fd, (struct sockaddr *) &sa, &len) < 0)
    {
      printf ("floor: cannot listen on loopback\n");
      return;
    }
  GThread *t = g_thread_new ("echo", echo_run, &e);
  int fd = nb_tcp_connect ("127.0.0.1", ntohs (sa.sin_port));
  g_autoptr (GArray) lat = g_array_new (FALSE, FALSE, sizeof (gint64));
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  guint8 b = 1;
  while (fd >= 0 && g_get_monotonic_time () < end)
    {
      gint64 t0 = g_get_monotonic_time ();
      if (!nb_write_all (fd, &b, 1) || !nb_read_all (fd, &b, 1))
        break;
      gint64 dt = g_get_monotonic_time () - t0;
      g_array_append_val (lat, dt);
    }
  if (fd >= 0)
    close (fd);
  g_thread_join (t);
  close (e.listen_fd);
  report ("tcp 1-byte ping-pong (floor)", lat, seconds);
}

int
main (int argc, char **argv)
{
  const char *addr = argc > 1 ? argv[1] : g_getenv ("NORNICDB_BENCH_BOLT");
  const char *user = argc > 2 ? argv[2] : g_getenv ("NORNICDB_BENCH_USER");
  const char *password = argc > 3 ? argv[3] : g_getenv ("NORNICDB_BENCH_PASSWORD");
  double seconds = argc > 4 ? g_ascii_strtod (argv[4], NULL) : 3.0;
  if (seconds <= 0 || seconds > 600)
    seconds = 3.0;

  floor_bench (seconds);
  if (addr == NULL)
    {
      printf ("bolt: no server given (HOST:PORT USER PASSWORD or NORNICDB_BENCH_BOLT); skipped\n");
      return 0;
    }
  g_autofree char *host = NULL;
  guint16 port = 0;
  if (!nc_parse_hostport (addr, &host, &port))
    {
      fprintf (stderr, "bad address %s\n", addr);
      return 2;
    }
  /* NORNICDB_BENCH_CYPHER swaps the first statement, e.g. a CREATE to
   * measure the durable write path without a driver's client-side cost. */
  const char *first = g_getenv ("NORNICDB_BENCH_CYPHER");
  if (first == NULL || *first == '\0')
    first = "RETURN 1";
  /* The second workload is an indexed point lookup over 10,000 nodes made
   * by the setup statements (run once, on one connection). */
  static const char *const setup[] = {
    "CREATE INDEX bench_person_id IF NOT EXISTS FOR (p:BenchPerson) ON (p.id)",
    "UNWIND range(1, 10000) AS i MERGE (p:BenchPerson {id: i}) SET p.name = 'p' + toString(i)",
  };
  for (guint s = 0; s < G_N_ELEMENTS (setup); s++)
    {
      Worker sw = { host, port, user ? user : "admin", password ? password : "",
                    g_get_monotonic_time () + 60 * G_USEC_PER_SEC,
                    g_array_new (FALSE, FALSE, sizeof (gint64)), FALSE, setup[s], TRUE };
      worker_run (&sw);
      g_array_unref (sw.latencies_us);
      if (sw.failed)
        {
          fprintf (stderr, "bench-bolt: setup statement failed: %s\n", setup[s]);
          return 1;
        }
    }
  static const struct { const char *name; gboolean first; } workloads[] = {
    { "RETURN 1", TRUE },
    { "indexed lookup", FALSE },
  };
  static const guint conns[] = { 1, 16, 64 };
  for (guint wl = 0; wl < G_N_ELEMENTS (workloads); wl++)
  for (guint c = 0; c < G_N_ELEMENTS (conns); c++)
    {
      guint n = conns[c];
      const char *cypher = workloads[wl].first ? first : "MATCH (p:BenchPerson {id: 4242}) RETURN p.name";
      Worker *ws = g_new0 (Worker, n);
      GThread **ts = g_new0 (GThread *, n);
      gint64 deadline = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
      for (guint i = 0; i < n; i++)
        {
          ws[i] = (Worker) { host, port, user ? user : "admin", password ? password : "", deadline,
                             g_array_new (FALSE, FALSE, sizeof (gint64)), FALSE, cypher, FALSE };
          ts[i] = g_thread_new ("bench", worker_run, &ws[i]);
        }
      g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (gint64));
      guint failed = 0;
      for (guint i = 0; i < n; i++)
        {
          g_thread_join (ts[i]);
          g_array_append_vals (all, ws[i].latencies_us->data, ws[i].latencies_us->len);
          g_array_unref (ws[i].latencies_us);
          failed += ws[i].failed;
        }
      g_autofree char *label = g_strdup_printf ("bolt %s, %u conn%s", workloads[wl].name, n, n == 1 ? "" : "s");
      report (label, all, seconds);
      if (failed > 0)
        printf ("  (%u connection%s failed)\n", failed, failed == 1 ? "" : "s");
      g_free (ws);
      g_free (ts);
    }
  return 0;
}
