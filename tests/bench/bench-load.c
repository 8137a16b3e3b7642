/* bench-load: a lean closed-loop write load generator in C for our server
 * and its peers, so that the client library is not what a write benchmark
 * measures. One thread per connection with a blocking socket; each sends its
 * next request when the previous one is answered. The same loop, timing and
 * CPU accounting drive three protocols:
 *
 *   bolt   CREATE (:Person {id: $id, name: $name}) (or --cypher), RUN + PULL
 *          pipelined with a PackStream parameter map, auto-commit. A FAILURE
 *          is counted as an error and followed by RESET, as drivers do.
 *          Several --addr values: the first that accepts the warm-up write
 *          is used (the Raft leader; followers refuse writes).
 *   redis  SET person:<id> <json> over RESP.
 *   etcd   POST /v3/kv/put {"key","value"} (base64) to etcd's HTTP/JSON
 *          gateway on a keep-alive HTTP/1.1 connection.
 *
 * Usage: bench-load --proto bolt|redis|etcd --addr HOST:PORT[,HOST:PORT...]
 *          [--conns N] [--seconds S] [--user U] [--password P] [--cypher Q]
 *          [--id-base N] [--seed N] [--max-ops-per-conn N]
 *
 * Every connection opens and sends one warm-up request before the clock
 * starts. Prints one JSON object on stdout: ops, opsPerSec, p50/p99 (ms,
 * nearest rank over every request), errors, firstError, and the CPU time
 * this process used during the measured window (cpuSeconds, and cpuShare =
 * cpuSeconds / (wall seconds x online CPUs)). Exit status 0 when at least one
 * request succeeded, 1 otherwise.
 */
#define G_LOG_DOMAIN "nornicdb-bench"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-client.h"
#include "bolt-chunk.h"
#include "config.h"
#include "packstream.h"

typedef enum { PROTO_BOLT, PROTO_REDIS, PROTO_ETCD } Proto;

#define MAX_ERRORS_PER_CONN 1000
#define MAX_RECONNECTS_PER_CONN 20

typedef struct {
  Proto proto;
  char *host;
  guint16 port;
  const char *user, *password, *cypher;
  double seconds;
  gint64 id_base;
  guint32 seed;
  gint64 max_ops;
} Config;

/* The start barrier: every connection is open and warmed up before the
 * clock starts, so connection set-up is not in the figures. */
typedef struct {
  GMutex lock;
  GCond cond;
  guint ready;
  gboolean go;
  gint64 deadline_us;
} Start;

typedef struct {
  const Config *cfg;
  Start *start;
  guint index;
  int fd;
  guint32 rng;
  gint64 next_id;
  GArray *lat_us; /* gint64 */
  guint64 errors;
  char *first_error;
  gboolean dead; /* could not (re)connect */
  char *warmup_error; /* a warm-up request that failed (not counted) */
  guint reconnects;
  /* buffered reader for RESP and HTTP */
  guint8 buf[8192];
  gsize buf_len, buf_pos;
  GByteArray *msg;
  GByteArray *wire;
} Conn;

static guint32
xorshift (guint32 *s)
{
  guint32 x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static void
note_error (Conn *c, char *text)
{
  c->errors++;
  if (c->first_error == NULL)
    c->first_error = text;
  else
    g_free (text);
}

/* ---- buffered line/bytes reader (RESP, HTTP) ------------------------------------ */

static gboolean
fill (Conn *c)
{
  if (c->buf_pos == c->buf_len)
    c->buf_pos = c->buf_len = 0;
  else if (c->buf_pos > 0)
    {
      memmove (c->buf, c->buf + c->buf_pos, c->buf_len - c->buf_pos);
      c->buf_len -= c->buf_pos;
      c->buf_pos = 0;
    }
  if (c->buf_len == sizeof c->buf)
    return FALSE; /* a line longer than the buffer: not a reply we expect */
  for (;;)
    {
      ssize_t r = recv (c->fd, c->buf + c->buf_len, sizeof c->buf - c->buf_len, 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return FALSE;
      c->buf_len += (gsize) r;
      return TRUE;
    }
}

/* One CRLF-terminated line (without the CRLF) into c->msg, NUL-terminated. */
static gboolean
read_line (Conn *c)
{
  for (;;)
    {
      for (gsize i = c->buf_pos; i + 1 < c->buf_len; i++)
        if (c->buf[i] == '\r' && c->buf[i + 1] == '\n')
          {
            g_byte_array_set_size (c->msg, 0);
            g_byte_array_append (c->msg, c->buf + c->buf_pos, (guint) (i - c->buf_pos));
            g_byte_array_append (c->msg, (const guint8 *) "", 1);
            c->buf_pos = i + 2;
            return TRUE;
          }
      if (!fill (c))
        return FALSE;
    }
}

/* Skips (or keeps the first 200 bytes of) n body bytes. */
static gboolean
read_body (Conn *c, gsize n, GString *keep)
{
  while (n > 0)
    {
      if (c->buf_pos == c->buf_len && !fill (c))
        return FALSE;
      gsize take = MIN (n, c->buf_len - c->buf_pos);
      if (keep != NULL && keep->len < 200)
        g_string_append_len (keep, (const char *) c->buf + c->buf_pos, (gssize) MIN (take, 200 - keep->len));
      c->buf_pos += take;
      n -= take;
    }
  return TRUE;
}

/* ---- requests ------------------------------------------------------------------- */

static void
make_name (Conn *c, char *out, gsize len)
{
  g_snprintf (out, len, "name-%08x", xorshift (&c->rng));
}

/* Each request returns TRUE when the connection is still usable; *ok says
 * whether the request succeeded (an error reply is counted by the caller). */
typedef gboolean (*RequestFn) (Conn *c, gint64 id, gboolean *ok, char **err);

static gboolean
bolt_request (Conn *c, gint64 id, gboolean *ok, char **err)
{
  char name[32];
  make_name (c, name, sizeof name);
  g_byte_array_set_size (c->wire, 0);
  g_autoptr (GByteArray) b = g_byte_array_sized_new (128);
  nc_ps_write_struct_header (b, 3, 0x10); /* RUN */
  nc_ps_write_string (b, c->cfg->cypher);
  nc_ps_write_map_header (b, 2);
  nc_ps_write_string (b, "id");
  nc_ps_write_int (b, id);
  nc_ps_write_string (b, "name");
  nc_ps_write_string (b, name);
  nc_ps_write_map_header (b, 0);
  nc_bolt_chunk_append (c->wire, b->data, b->len);
  g_byte_array_set_size (b, 0);
  nc_ps_write_struct_header (b, 1, 0x3F); /* PULL {n: -1} */
  nc_ps_write_map_header (b, 1);
  nc_ps_write_string (b, "n");
  nc_ps_write_int (b, -1);
  nc_bolt_chunk_append (c->wire, b->data, b->len);
  if (!nb_write_all (c->fd, c->wire->data, c->wire->len))
    return FALSE;
  guint8 tag = nb_bolt_read_message (c->fd, c->msg);
  if (tag == 0x70)
    {
      while ((tag = nb_bolt_read_message (c->fd, c->msg)) == 0x71) /* RECORDs */
        ;
      if (tag == 0x70)
        {
          *ok = TRUE;
          return TRUE;
        }
    }
  if (tag == 0)
    return FALSE;
  /* FAILURE (of RUN, or of PULL when the commit failed), IGNORED for the
   * rest; RESET brings the connection back to READY. */
  if (tag == 0x7F)
    *err = nb_bolt_failure_text (c->msg);
  else
    *err = g_strdup_printf ("unexpected Bolt message 0x%02X", tag);
  *ok = FALSE;
  g_byte_array_set_size (c->wire, 0);
  g_byte_array_set_size (b, 0);
  nc_ps_write_struct_header (b, 0, 0x0F);
  nc_bolt_chunk_append (c->wire, b->data, b->len);
  if (!nb_write_all (c->fd, c->wire->data, c->wire->len))
    return FALSE;
  /* Everything up to RESET's SUCCESS: IGNORED for a PULL still queued. */
  for (guint k = 0; k < 4; k++)
    {
      tag = nb_bolt_read_message (c->fd, c->msg);
      if (tag == 0x70)
        return TRUE;
      if (tag != 0x7E && tag != 0x7F)
        return FALSE;
    }
  return FALSE;
}

static gboolean
redis_request (Conn *c, gint64 id, gboolean *ok, char **err)
{
  char name[32], key[48], val[96];
  make_name (c, name, sizeof name);
  int kl = g_snprintf (key, sizeof key, "person:%" G_GINT64_FORMAT, id);
  int vl = g_snprintf (val, sizeof val, "{\"id\":%" G_GINT64_FORMAT ",\"name\":\"%s\"}", id, name);
  char req[256];
  int n = g_snprintf (req, sizeof req, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", kl, key, vl, val);
  if (!nb_write_all (c->fd, (const guint8 *) req, (gsize) n) || !read_line (c))
    return FALSE;
  const char *line = (const char *) c->msg->data;
  if (line[0] == '+')
    {
      *ok = TRUE;
      return TRUE;
    }
  *ok = FALSE;
  *err = g_strdup_printf ("redis: %s", line);
  return line[0] == '-';
}

static gboolean
etcd_request (Conn *c, gint64 id, gboolean *ok, char **err)
{
  char name[32], key[48], val[96];
  make_name (c, name, sizeof name);
  int kl = g_snprintf (key, sizeof key, "person/%" G_GINT64_FORMAT, id);
  int vl = g_snprintf (val, sizeof val, "{\"id\":%" G_GINT64_FORMAT ",\"name\":\"%s\"}", id, name);
  g_autofree char *k64 = g_base64_encode ((const guchar *) key, (gsize) kl);
  g_autofree char *v64 = g_base64_encode ((const guchar *) val, (gsize) vl);
  char body[512], req[768];
  int bl = g_snprintf (body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
  int n = g_snprintf (req, sizeof req,
                      "POST /v3/kv/put HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      c->cfg->host, c->cfg->port, bl, body);
  if (!nb_write_all (c->fd, (const guint8 *) req, (gsize) n) || !read_line (c))
    return FALSE;
  int status = 0;
  if (sscanf ((const char *) c->msg->data, "HTTP/1.%*d %d", &status) != 1)
    return FALSE;
  gint64 length = -1;
  gboolean chunked = FALSE, closing = FALSE;
  for (;;)
    {
      if (!read_line (c))
        return FALSE;
      const char *h = (const char *) c->msg->data;
      if (*h == '\0')
        break;
      if (g_ascii_strncasecmp (h, "content-length:", 15) == 0)
        length = g_ascii_strtoll (h + 15, NULL, 10);
      else if (g_ascii_strncasecmp (h, "transfer-encoding:", 18) == 0 && strstr (h, "chunked"))
        chunked = TRUE;
      else if (g_ascii_strncasecmp (h, "connection:", 11) == 0 && strstr (h, "close"))
        closing = TRUE;
    }
  g_autoptr (GString) text = status == 200 ? NULL : g_string_new (NULL);
  if (chunked)
    {
      for (;;)
        {
          if (!read_line (c))
            return FALSE;
          gint64 sz = g_ascii_strtoll ((const char *) c->msg->data, NULL, 16);
          if (sz <= 0)
            {
              if (!read_line (c)) /* trailer end */
                return FALSE;
              break;
            }
          if (!read_body (c, (gsize) sz, text) || !read_line (c))
            return FALSE;
        }
    }
  else if (length > 0 && !read_body (c, (gsize) length, text))
    return FALSE;
  else if (length < 0)
    return FALSE; /* no framing we can follow on a keep-alive connection */
  *ok = status == 200;
  if (!*ok)
    *err = g_strdup_printf ("etcd HTTP %d: %s", status, text->str);
  return !closing;
}

static const RequestFn requests[] = { bolt_request, redis_request, etcd_request };

static gboolean
conn_open (Conn *c, char **why)
{
  c->buf_len = c->buf_pos = 0;
  if (c->cfg->proto == PROTO_BOLT)
    {
      c->fd = nb_bolt_open (c->cfg->host, c->cfg->port, c->cfg->user, c->cfg->password, why);
      return c->fd >= 0;
    }
  c->fd = nb_tcp_connect (c->cfg->host, c->cfg->port);
  if (c->fd < 0)
    *why = g_strdup_printf ("connect %s:%u: %s", c->cfg->host, c->cfg->port, g_strerror (errno));
  return c->fd >= 0;
}

static void
conn_close (Conn *c)
{
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
}

/* One request with error accounting and reconnection; FALSE when the
 * connection is gone for good. */
static gboolean
one_request (Conn *c, gint64 *lat_us)
{
  gboolean ok = FALSE;
  char *err = NULL;
  gint64 id = c->next_id++;
  gint64 t0 = g_get_monotonic_time ();
  gboolean alive = requests[c->cfg->proto](c, id, &ok, &err);
  *lat_us = g_get_monotonic_time () - t0;
  if (!ok)
    {
      note_error (c, err ? err : g_strdup_printf ("connection lost: %s", errno ? g_strerror (errno) : "closed by peer"));
      *lat_us = -1;
    }
  if (alive)
    return TRUE;
  /* The connection is gone (or the peer closes it after answering):
   * reconnect, a bounded number of times. */
  conn_close (c);
  char *why = NULL;
  if (c->reconnects++ < MAX_RECONNECTS_PER_CONN && conn_open (c, &why))
    return TRUE;
  if (why != NULL)
    note_error (c, why);
  c->dead = TRUE;
  return FALSE;
}

static gpointer
conn_run (gpointer data)
{
  Conn *c = data;
  const Config *cfg = c->cfg;
  char *why = NULL;
  gint64 lat = 0;
  if (!conn_open (c, &why))
    {
      note_error (c, why);
      c->dead = TRUE;
    }
  else if (!one_request (c, &lat)) /* warm-up, not measured */
    c->dead = TRUE;
  else if (lat < 0)
    {
      /* The request failed but the connection is usable again (RESET):
       * keep it; only requests inside the measured window count. */
      c->warmup_error = g_steal_pointer (&c->first_error);
      c->errors = 0;
    }

  g_mutex_lock (&c->start->lock);
  c->start->ready++;
  g_cond_broadcast (&c->start->cond);
  while (!c->start->go)
    g_cond_wait (&c->start->cond, &c->start->lock);
  gint64 deadline = c->start->deadline_us;
  g_mutex_unlock (&c->start->lock);
  if (c->dead)
    return NULL;

  for (gint64 k = 0; k < cfg->max_ops && g_get_monotonic_time () < deadline; k++)
    {
      if (!one_request (c, &lat))
        break;
      if (lat >= 0)
        g_array_append_val (c->lat_us, lat);
      if (c->errors >= MAX_ERRORS_PER_CONN)
        break;
    }
  return NULL;
}

static int
cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

/* Nearest rank, as tests/bench/lib/stats.mjs percentile(). */
static double
percentile_ms (GArray *sorted, double p)
{
  if (sorted->len == 0)
    return -1;
  gint64 rank = (gint64) ((p * sorted->len) + 0.999999999);
  rank = CLAMP (rank, 1, (gint64) sorted->len);
  return g_array_index (sorted, gint64, rank - 1) / 1000.0;
}

static double
cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *
json_string (const char *s)
{
  if (s == NULL)
    return g_strdup ("null");
  GString *o = g_string_new ("\"");
  for (const char *p = s; *p; p++)
    {
      unsigned char ch = (unsigned char) *p;
      if (ch == '"' || ch == '\\')
        g_string_append_printf (o, "\\%c", ch);
      else if (ch < 0x20)
        g_string_append_printf (o, "\\u%04x", ch);
      else
        g_string_append_c (o, (char) ch);
    }
  g_string_append_c (o, '"');
  return g_string_free (o, FALSE);
}

/* Bolt with several addresses: the first whose server accepts a write (the
 * statement itself, with an id below the measured ones) is the leader. */
static gboolean
pick_bolt_leader (Config *cfg, char **addrs, GString *tried)
{
  for (guint i = 0; addrs[i] != NULL; i++)
    {
      g_free (cfg->host);
      cfg->host = NULL;
      if (!nc_parse_hostport (addrs[i], &cfg->host, &cfg->port))
        {
          g_string_append_printf (tried, "%s: bad address; ", addrs[i]);
          continue;
        }
      if (addrs[1] == NULL)
        return TRUE; /* one address: nothing to choose */
      Conn probe = { .cfg = cfg, .fd = -1, .rng = 1, .next_id = cfg->id_base - 1 - i,
                     .msg = g_byte_array_new (), .wire = g_byte_array_new () };
      char *why = NULL;
      gboolean ok = FALSE;
      char *err = NULL;
      if (conn_open (&probe, &why))
        {
          bolt_request (&probe, probe.next_id, &ok, &err);
          conn_close (&probe);
        }
      g_string_append_printf (tried, "%s: %s; ", addrs[i], ok ? "leader" : why ? why : err ? err : "no answer");
      g_free (why);
      g_free (err);
      g_byte_array_unref (probe.msg);
      g_byte_array_unref (probe.wire);
      if (ok)
        return TRUE;
    }
  return FALSE;
}

int
main (int argc, char **argv)
{
  g_autofree char *proto = NULL, *addr = NULL, *user = NULL, *password = NULL, *cypher = NULL;
  gint conns = 1;
  double seconds = 5;
  gint64 id_base = 1000000000, max_ops = G_MAXINT64;
  gint seed = 42;
  GOptionEntry entries[] = {
    { "proto", 0, 0, G_OPTION_ARG_STRING, &proto, "bolt, redis or etcd", "P" },
    { "addr", 0, 0, G_OPTION_ARG_STRING, &addr, "HOST:PORT[,HOST:PORT...]", "A" },
    { "conns", 0, 0, G_OPTION_ARG_INT, &conns, "connections (closed-loop clients)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "measured seconds", "S" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user, "Bolt user (admin)", "U" },
    { "password", 0, 0, G_OPTION_ARG_STRING, &password, "Bolt password", "P" },
    { "cypher", 0, 0, G_OPTION_ARG_STRING, &cypher, "Bolt statement with $id and $name", "Q" },
    { "id-base", 0, 0, G_OPTION_ARG_INT64, &id_base, "first id (connection i uses base + i*10^7 ...)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, "name generator seed", "N" },
    { "max-ops-per-conn", 0, 0, G_OPTION_ARG_INT64, &max_ops, "bound on requests per connection", "N" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- closed-loop write load (bolt, redis, etcd)");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("bench-load: %s\n", error->message);
      return 2;
    }
  Config cfg = { 0 };
  if (g_strcmp0 (proto, "bolt") == 0)
    cfg.proto = PROTO_BOLT;
  else if (g_strcmp0 (proto, "redis") == 0)
    cfg.proto = PROTO_REDIS;
  else if (g_strcmp0 (proto, "etcd") == 0)
    cfg.proto = PROTO_ETCD;
  else
    {
      g_printerr ("bench-load: --proto must be bolt, redis or etcd\n");
      return 2;
    }
  if (addr == NULL || conns < 1 || conns > 1024 || seconds <= 0 || seconds > 3600 || max_ops < 1)
    {
      g_printerr ("bench-load: need --addr, 1 <= --conns <= 1024, 0 < --seconds <= 3600\n");
      return 2;
    }
  cfg.user = user ? user : "admin";
  cfg.password = password ? password : "";
  cfg.cypher = cypher ? cypher : "CREATE (:Person {id: $id, name: $name})";
  cfg.seconds = seconds;
  cfg.id_base = id_base;
  cfg.seed = (guint32) seed;
  cfg.max_ops = max_ops;

  g_auto (GStrv) addrs = g_strsplit (addr, ",", -1);
  g_autoptr (GString) tried = g_string_new (NULL);
  if (addrs[0] == NULL)
    {
      g_printerr ("bench-load: empty --addr\n");
      return 2;
    }
  if (cfg.proto == PROTO_BOLT)
    {
      if (!pick_bolt_leader (&cfg, addrs, tried))
        {
          g_printerr ("bench-load: no address accepted a write: %s\n", tried->str);
          g_free (cfg.host);
          return 1;
        }
    }
  else if (!nc_parse_hostport (addrs[0], &cfg.host, &cfg.port))
    {
      g_printerr ("bench-load: bad address %s\n", addrs[0]);
      return 2;
    }

  Start start = { 0 };
  g_mutex_init (&start.lock);
  g_cond_init (&start.cond);
  Conn *cs = g_new0 (Conn, conns);
  GThread **ts = g_new0 (GThread *, conns);
  for (gint i = 0; i < conns; i++)
    {
      cs[i].cfg = &cfg;
      cs[i].start = &start;
      cs[i].index = (guint) i;
      cs[i].fd = -1;
      cs[i].rng = (cfg.seed * 2654435761u) ^ ((guint32) (i + 1) * 40503u) ^ 0x9E3779B9u;
      if (cs[i].rng == 0)
        cs[i].rng = 1;
      cs[i].next_id = id_base + (gint64) i * 10000000;
      cs[i].lat_us = g_array_new (FALSE, FALSE, sizeof (gint64));
      cs[i].msg = g_byte_array_new ();
      cs[i].wire = g_byte_array_new ();
      ts[i] = g_thread_new ("load", conn_run, &cs[i]);
    }
  /* Wait for every connection to be ready (bounded: 60 s). */
  gint64 ready_by = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  g_mutex_lock (&start.lock);
  while (start.ready < (guint) conns)
    if (!g_cond_wait_until (&start.cond, &start.lock, ready_by))
      break;
  double cpu0 = cpu_seconds ();
  gint64 t0 = g_get_monotonic_time ();
  start.deadline_us = t0 + (gint64) (seconds * G_USEC_PER_SEC);
  start.go = TRUE;
  g_cond_broadcast (&start.cond);
  g_mutex_unlock (&start.lock);

  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint64 errors = 0;
  guint dead = 0;
  const char *first_error = NULL, *warmup_error = NULL;
  for (gint i = 0; i < conns; i++)
    {
      g_thread_join (ts[i]);
      if (warmup_error == NULL)
        warmup_error = cs[i].warmup_error;
      g_array_append_vals (all, cs[i].lat_us->data, cs[i].lat_us->len);
      errors += cs[i].errors;
      dead += cs[i].dead;
      if (first_error == NULL)
        first_error = cs[i].first_error;
    }
  double wall = (g_get_monotonic_time () - t0) / 1e6;
  double cpu = cpu_seconds () - cpu0;
  long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
  g_array_sort (all, cmp_i64);
  g_autofree char *fe = json_string (first_error);
  g_autofree char *we = json_string (warmup_error);
  g_autofree char *jh = json_string (tried->len ? tried->str : NULL);
  g_autofree char *jaddr = g_strdup_printf ("%s:%u", cfg.host, cfg.port);
  g_autofree char *ja = json_string (jaddr);
  printf ("{\"proto\":\"%s\",\"addr\":%s,\"leaderSearch\":%s,\"clients\":%d,\"ops\":%u,\"seconds\":%.3f,"
          "\"opsPerSec\":%.1f,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"errors\":%" G_GUINT64_FORMAT
          ",\"firstError\":%s,\"warmupError\":%s,\"deadConnections\":%u,\"cpuSeconds\":%.3f,\"cpuShare\":%.4f,\"cpus\":%ld,"
          "\"lib\":\"bench-load (C, %s)\"}\n",
          proto, ja, jh, conns, all->len, wall, all->len / wall, percentile_ms (all, 0.5),
          percentile_ms (all, 0.99), percentile_ms (all, 1.0), errors, fe, we, dead, cpu,
          wall > 0.001 ? cpu / (wall * (double) MAX (ncpu, 1)) : 0.0, ncpu,
          cfg.proto == PROTO_BOLT ? "Bolt 5.4" : cfg.proto == PROTO_REDIS ? "RESP" : "HTTP/1.1 JSON gateway");
  for (gint i = 0; i < conns; i++)
    {
      conn_close (&cs[i]);
      g_array_unref (cs[i].lat_us);
      g_byte_array_unref (cs[i].msg);
      g_byte_array_unref (cs[i].wire);
      g_free (cs[i].first_error);
      g_free (cs[i].warmup_error);
    }
  g_free (cs);
  g_free (ts);
  g_free (cfg.host);
  g_mutex_clear (&start.lock);
  g_cond_clear (&start.cond);
  return all->len > 0 ? 0 : 1;
}
