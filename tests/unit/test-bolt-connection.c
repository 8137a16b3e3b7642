/* The Bolt connection state machine, driven byte by byte like a client
 * would, over an in-memory backend (no database needed).
 *
 * The backend understands a few fixed "queries":
 *   RANGE <n>   one column x, rows 1..n
 *   ECHO        one row with every parameter, columns named after them
 *   SYNTAX      fails at RUN with a syntax error
 *   LATE        fails when the first row is pulled
 *   WRITE       a write (needs may_write; NotALeader when the backend says so)
 */
#include <gio/gio.h>
#include <string.h>

#include "bolt-chunk.h"
#include "bolt-connection.h"
#include "errors.h"
#include "packstream.h"

/* ---- fake backend ------------------------------------------------------------ */

typedef struct {
  gboolean auth_enabled;
  gboolean not_leader;
  char *writer_address;
  guint64 commit_index;
  guint open_results;
  guint open_txs;
} Fake;

typedef struct {
  Fake *fake;
  gboolean failed;
} FakeTx;

typedef struct {
  Fake *fake;
  char **fields;
  GPtrArray *rows; /* NcValue arrays */
  guint next;
  gint64 range;
  gint64 produced;
  NcValue current;
  gboolean late_failure;
  gboolean autocommit;
  gboolean writes;
  gboolean notes;
  char *bookmark;
  NcQueryStats stats;
} FakeResult;

static gboolean
fake_auth_enabled (gpointer be)
{
  return ((Fake *) be)->auth_enabled;
}

static gboolean
fake_authenticate (gpointer be, const char *addr, const char *user, const char *pw, NcUserRole *role,
                   GError **error)
{
  if (g_strcmp0 (pw, "secret") == 0 && g_strcmp0 (user, "admin") == 0)
    *role = NC_USER_ROLE_ADMIN;
  else if (g_strcmp0 (pw, "secret") == 0 && g_strcmp0 (user, "reader") == 0)
    *role = NC_USER_ROLE_READER;
  else
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNAUTHORIZED, "The client is unauthorized due to authentication failure.");
      return FALSE;
    }
  return TRUE;
}

static gpointer
fake_run (Fake *fake, const NcTxOptions *opts, const char *query, const NcMap *params, gboolean autocommit,
          GError **error)
{
  FakeResult *r = g_new0 (FakeResult, 1);
  r->fake = fake;
  r->autocommit = autocommit;
  r->range = -1;
  if (g_str_has_prefix (query, "RANGE "))
    {
      r->fields = g_strsplit ("x", ",", -1);
      r->range = g_ascii_strtoll (query + 6, NULL, 10);
    }
  else if (g_strcmp0 (query, "ECHO") == 0)
    {
      guint n = params ? params->len : 0;
      r->fields = g_new0 (char *, n + 1);
      r->rows = g_ptr_array_new ();
      NcValue *row = g_new0 (NcValue, MAX (n, 1));
      for (guint i = 0; i < n; i++)
        {
          r->fields[i] = g_strdup (params->entries[i].key->data);
          row[i] = nc_value_copy (&params->entries[i].value);
        }
      g_ptr_array_add (r->rows, row);
      r->stats.properties_set = 0;
    }
  else if (g_strcmp0 (query, "NOTES") == 0)
    {
      r->fields = g_new0 (char *, 1);
      r->notes = TRUE;
    }
  else if (g_strcmp0 (query, "LATE") == 0)
    {
      r->fields = g_strsplit ("x", ",", -1);
      r->late_failure = TRUE;
    }
  else if (g_strcmp0 (query, "WRITE") == 0)
    {
      if (fake->not_leader)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_NOT_A_LEADER, "No write operations are allowed on this database.");
          g_free (r);
          return NULL;
        }
      if (opts != NULL && !opts->may_write)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_FORBIDDEN, "Write operations are not allowed for this user.");
          g_free (r);
          return NULL;
        }
      r->fields = g_new0 (char *, 1);
      r->writes = TRUE;
      r->stats.nodes_created = 2;
      r->stats.properties_set = 3;
    }
  else
    {
      g_set_error (error, NC_ERROR, NC_ERROR_SYNTAX, "Invalid input '%s' (line 1, column 1 (offset: 0))", query);
      g_free (r);
      return NULL;
    }
  fake->open_results++;
  return r;
}

static gpointer
fake_run_autocommit (gpointer be, const NcTxOptions *opts, const char *query, const NcMap *params,
                     GError **error)
{
  return fake_run (be, opts, query, params, TRUE, error);
}

static gpointer
fake_begin (gpointer be, const NcTxOptions *opts, GError **error)
{
  Fake *fake = be;
  FakeTx *tx = g_new0 (FakeTx, 1);
  tx->fake = fake;
  fake->open_txs++;
  return tx;
}

static gpointer
fake_tx_run (gpointer txp, const char *query, const NcMap *params, GError **error)
{
  FakeTx *tx = txp;
  NcTxOptions opts = { .may_write = TRUE };
  gpointer r = fake_run (tx->fake, &opts, query, params, FALSE, error);
  if (r == NULL)
    tx->failed = TRUE;
  return r;
}

static gboolean
fake_tx_commit (gpointer txp, char **bookmark, GError **error)
{
  FakeTx *tx = txp;
  if (tx->failed)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TX_INVALID, "transaction failed");
      return FALSE;
    }
  *bookmark = g_strdup_printf ("nornicdb:%" G_GUINT64_FORMAT, ++tx->fake->commit_index);
  return TRUE;
}

static void
fake_tx_free (gpointer txp)
{
  FakeTx *tx = txp;
  tx->fake->open_txs--;
  g_free (tx);
}

static const char *const *
fake_result_fields (gpointer res)
{
  return (const char *const *) ((FakeResult *) res)->fields;
}

static void
fake_complete (FakeResult *r)
{
  if (r->autocommit && r->bookmark == NULL)
    r->bookmark = g_strdup_printf ("nornicdb:%" G_GUINT64_FORMAT, ++r->fake->commit_index);
}

static gboolean
fake_result_next (gpointer res, const NcValue **row, GError **error)
{
  FakeResult *r = res;
  if (r->late_failure)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARITHMETIC, "/ by zero");
      return FALSE;
    }
  if (r->range >= 0)
    {
      if (r->produced >= r->range)
        {
          fake_complete (r);
          return FALSE;
        }
      r->current = nc_value_int (++r->produced);
      *row = &r->current;
      return TRUE;
    }
  if (r->rows != NULL && r->next < r->rows->len)
    {
      *row = g_ptr_array_index (r->rows, r->next++);
      return TRUE;
    }
  fake_complete (r);
  return FALSE;
}

static gboolean
fake_result_finish (gpointer res, char **bookmark, GError **error)
{
  FakeResult *r = res;
  r->produced = r->range;
  if (r->rows)
    r->next = r->rows->len;
  fake_complete (r);
  if (bookmark != NULL)
    *bookmark = g_strdup (r->bookmark);
  return TRUE;
}

static const NcQueryStats *
fake_result_stats (gpointer res)
{
  return &((FakeResult *) res)->stats;
}

static NcQueryType
fake_result_query_type (gpointer res)
{
  return ((FakeResult *) res)->writes ? NC_QUERY_WRITE : NC_QUERY_READ;
}

static NcValue
fake_null_value (gpointer res)
{
  return nc_value_null ();
}

static NcValue
make_note (const char *code, const char *severity, const char *category)
{
  NcMap *m = nc_map_new (3);
  nc_map_append (m, "code", nc_value_string (code));
  nc_map_append (m, "severity", nc_value_string (severity));
  nc_map_append (m, "category", nc_value_string (category));
  return nc_value_map_take (m);
}

static NcValue
fake_result_notifications (gpointer res)
{
  if (!((FakeResult *) res)->notes)
    return nc_value_null ();
  NcList *l = nc_list_new (2);
  l->items[0] = make_note ("Neo.ClientNotification.Statement.CartesianProduct", "INFORMATION", "PERFORMANCE");
  l->items[1] = make_note ("Neo.ClientNotification.Statement.FeatureDeprecationWarning", "WARNING", "DEPRECATION");
  return nc_value_list_take (l);
}

static const char *
fake_result_bookmark (gpointer res)
{
  return ((FakeResult *) res)->bookmark;
}

static void
fake_result_free (gpointer res)
{
  FakeResult *r = res;
  r->fake->open_results--;
  if (r->rows != NULL)
    {
      guint n = g_strv_length (r->fields);
      for (guint i = 0; i < r->rows->len; i++)
        {
          NcValue *row = g_ptr_array_index (r->rows, i);
          for (guint k = 0; k < n; k++)
            nc_value_clear (&row[k]);
          g_free (row);
        }
      g_ptr_array_unref (r->rows);
    }
  g_strfreev (r->fields);
  g_free (r->bookmark);
  g_free (r);
}

static NornicRoutingTable *
fake_routing_table (gpointer be, GError **error)
{
  NornicRoutingTable *rt = g_new0 (NornicRoutingTable, 1);
  rt->ttl_seconds = 300;
  rt->writers = g_ptr_array_new_with_free_func (g_free);
  rt->readers = g_ptr_array_new_with_free_func (g_free);
  rt->routers = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (rt->writers, g_strdup ("127.0.0.1:7687"));
  g_ptr_array_add (rt->readers, g_strdup ("127.0.0.1:7687"));
  g_ptr_array_add (rt->routers, g_strdup ("127.0.0.1:7687"));
  return rt;
}

static void
fake_routing_table_free (NornicRoutingTable *rt)
{
  g_ptr_array_unref (rt->writers);
  g_ptr_array_unref (rt->readers);
  g_ptr_array_unref (rt->routers);
  g_free (rt);
}

static char *
fake_writer_address (gpointer be)
{
  return g_strdup (((Fake *) be)->writer_address);
}

static const NcBoltBackend fake_backend = {
  .auth_enabled = fake_auth_enabled,
  .authenticate = fake_authenticate,
  .begin = fake_begin,
  .tx_run = fake_tx_run,
  .tx_commit = fake_tx_commit,
  .tx_free = fake_tx_free,
  .run_autocommit = fake_run_autocommit,
  .result_fields = fake_result_fields,
  .result_next = fake_result_next,
  .result_finish = fake_result_finish,
  .result_stats = fake_result_stats,
  .result_query_type = fake_result_query_type,
  .result_plan = fake_null_value,
  .result_notifications = fake_result_notifications,
  .result_bookmark = fake_result_bookmark,
  .result_free = fake_result_free,
  .routing_table = fake_routing_table,
  .routing_table_free = fake_routing_table_free,
  .writer_address = fake_writer_address,
};

/* ---- client side ---------------------------------------------------------------- */

typedef struct {
  Fake fake;
  NcBoltConnection *conn;
  GByteArray *received; /* raw bytes from the server */
  gsize consumed;       /* of `received`, already parsed */
  gboolean open;
  guint version;
  NcPsFlavor flavor;
  gsize max_message;
  GByteArray *capture; /* when set, requests are collected instead of sent */
} Client;

static gboolean
client_write_cb (gpointer user_data, const guint8 *data, gsize len, GError **error)
{
  Client *c = user_data;
  g_byte_array_append (c->received, data, (guint) len);
  return TRUE;
}

static void
client_init (Client *c, gsize max_message)
{
  memset (c, 0, sizeof *c);
  c->fake.auth_enabled = TRUE;
  c->received = g_byte_array_new ();
  NcBoltConnectionConfig cfg = {
    .backend = &fake_backend,
    .backend_data = &c->fake,
    .connection_id = "bolt-7",
    .client_addr = "127.0.0.1",
    .server_agent = "Neo4j/5.26.0-nornicdb-test",
    .idle_timeout_s = 1800,
    .max_message = max_message ? max_message : 1 << 20,
    .allow_forward = TRUE,
    .write = client_write_cb,
    .write_data = c,
  };
  c->conn = nc_bolt_connection_new (&cfg);
  c->open = TRUE;
}

static void
client_clear (Client *c)
{
  nc_bolt_connection_free (c->conn);
  g_byte_array_unref (c->received);
  g_assert_cmpuint (c->fake.open_results, ==, 0);
  g_assert_cmpuint (c->fake.open_txs, ==, 0);
}

static void
client_send_bytes (Client *c, const guint8 *data, gsize len, gboolean byte_at_a_time)
{
  if (!byte_at_a_time)
    {
      c->open = nc_bolt_connection_feed (c->conn, data, len);
      return;
    }
  for (gsize i = 0; i < len && c->open; i++)
    c->open = nc_bolt_connection_feed (c->conn, data + i, 1);
}

static void
client_handshake (Client *c, guint32 p1, guint32 p2, guint32 p3, guint32 p4)
{
  guint8 hs[20] = { 0x60, 0x60, 0xB0, 0x17 };
  guint32 ps[4] = { p1, p2, p3, p4 };
  for (guint i = 0; i < 4; i++)
    for (guint k = 0; k < 4; k++)
      hs[4 + 4 * i + k] = (guint8) (ps[i] >> (8 * (3 - k)));
  client_send_bytes (c, hs, sizeof hs, FALSE);
}

static guint
client_read_version (Client *c)
{
  g_assert_cmpuint (c->received->len - c->consumed, >=, 4);
  const guint8 *r = c->received->data + c->consumed;
  c->consumed += 4;
  c->version = ((guint) r[3] << 8) | r[2];
  c->flavor.element_ids = c->version >= 0x500;
  c->flavor.utc_datetime = c->version >= 0x500;
  return c->version;
}

/* A request: tag + fields written by the caller into `body`. */
static void
client_send (Client *c, GByteArray *body)
{
  if (c->capture != NULL)
    {
      nc_bolt_chunk_append (c->capture, body->data, body->len);
      return;
    }
  g_autoptr (GByteArray) wire = g_byte_array_new ();
  nc_bolt_chunk_append (wire, body->data, body->len);
  client_send_bytes (c, wire->data, wire->len, FALSE);
}

static GByteArray *
msg_begin (guint8 tag, guint n_fields)
{
  GByteArray *b = g_byte_array_new ();
  nc_ps_write_struct_header (b, (guint8) n_fields, tag);
  return b;
}

static void
write_kv (GByteArray *b, const char *k, const char *v)
{
  nc_ps_write_string (b, k);
  nc_ps_write_string (b, v);
}

static void
send_hello (Client *c, const char *user, const char *password)
{
  g_autoptr (GByteArray) b = msg_begin (0x01, 1);
  gboolean auth_inside = c->version < 0x501;
  guint n = 1 + (auth_inside ? 3 : 0) + (c->version == 0x404 ? 1 : 0);
  nc_ps_write_map_header (b, n);
  write_kv (b, "user_agent", "test/1.0");
  if (auth_inside)
    {
      write_kv (b, "scheme", "basic");
      write_kv (b, "principal", user);
      write_kv (b, "credentials", password);
    }
  if (c->version == 0x404)
    {
      nc_ps_write_string (b, "patch_bolt");
      nc_ps_write_list_header (b, 1);
      nc_ps_write_string (b, "utc");
    }
  client_send (c, b);
  if (!auth_inside)
    {
      g_autoptr (GByteArray) l = msg_begin (0x6A, 1);
      nc_ps_write_map_header (l, 3);
      write_kv (l, "scheme", "basic");
      write_kv (l, "principal", user);
      write_kv (l, "credentials", password);
      client_send (c, l);
    }
}

static void
send_run (Client *c, const char *query, const char *extra_db)
{
  g_autoptr (GByteArray) b = msg_begin (0x10, 3);
  nc_ps_write_string (b, query);
  nc_ps_write_map_header (b, 0);
  if (extra_db != NULL)
    {
      nc_ps_write_map_header (b, 1);
      write_kv (b, "db", extra_db);
    }
  else
    nc_ps_write_map_header (b, 0);
  client_send (c, b);
}

static void
send_pull (Client *c, gint64 n, gint64 qid, guint8 tag)
{
  g_autoptr (GByteArray) b = msg_begin (tag, 1);
  nc_ps_write_map_header (b, qid >= 0 ? 2 : 1);
  nc_ps_write_string (b, "n");
  nc_ps_write_int (b, n);
  if (qid >= 0)
    {
      nc_ps_write_string (b, "qid");
      nc_ps_write_int (b, qid);
    }
  client_send (c, b);
}

static void
send_empty (Client *c, guint8 tag)
{
  g_autoptr (GByteArray) b = msg_begin (tag, 0);
  client_send (c, b);
}

static void
send_begin (Client *c)
{
  g_autoptr (GByteArray) b = msg_begin (0x11, 1);
  nc_ps_write_map_header (b, 0);
  client_send (c, b);
}

typedef struct {
  guint8 tag;
  NcValue meta; /* SUCCESS/FAILURE map, RECORD list */
} Response;

static void
response_clear (Response *r)
{
  nc_value_clear (&r->meta);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Response, response_clear)

/* Next response message; tag 0 when none is pending. */
static Response
next_response (Client *c)
{
  Response resp = { 0, nc_value_null () };
  NcBoltDechunker d;
  nc_bolt_dechunker_init (&d, G_MAXSIZE);
  gsize used = 0;
  g_autoptr (GBytes) m = NULL;
  NcBoltDechunkStatus st = nc_bolt_dechunker_feed (&d, c->received->data + c->consumed,
                                                   c->received->len - c->consumed, &used, &m, NULL);
  nc_bolt_dechunker_clear (&d);
  if (st != NC_BOLT_DECHUNK_MESSAGE)
    return resp;
  c->consumed += used;
  gsize len;
  const guint8 *data = g_bytes_get_data (m, &len);
  NcPsReader r;
  guint n;
  nc_ps_reader_init (&r, data, len);
  g_assert_true (nc_ps_read_struct_header (&r, &n, &resp.tag, NULL));
  if (n == 1)
    g_assert_true (nc_ps_read_value (&r, &c->flavor, &resp.meta, NULL));
  g_assert_cmpuint (nc_ps_reader_remaining (&r), ==, 0);
  return resp;
}

static const NcValue *
meta_get (const Response *r, const char *key)
{
  g_assert_cmpint (r->meta.type, ==, NC_VALUE_MAP);
  return nc_map_get (r->meta.u.map, key);
}

static const char *
meta_str (const Response *r, const char *key)
{
  const NcValue *v = meta_get (r, key);
  g_assert_nonnull (v);
  g_assert_cmpint (v->type, ==, NC_VALUE_STRING);
  return nc_value_str (v);
}

static void
expect_success (Client *c)
{
  g_auto (Response) r = next_response (c);
  if (r.tag == 0x7F)
    g_error ("unexpected FAILURE %s: %s", meta_str (&r, "code"), meta_str (&r, "message"));
  g_assert_cmpuint (r.tag, ==, 0x70);
}

static void
expect_tag (Client *c, guint8 tag)
{
  g_auto (Response) r = next_response (c);
  g_assert_cmpuint (r.tag, ==, tag);
}

static void
expect_failure (Client *c, const char *code)
{
  g_auto (Response) r = next_response (c);
  g_assert_cmpuint (r.tag, ==, 0x7F);
  g_assert_cmpstr (meta_str (&r, "code"), ==, code);
}

static void
expect_nothing_more (Client *c)
{
  g_assert_cmpuint (c->consumed, ==, c->received->len);
}

/* Connects with Bolt 5.4 (or as asked) and logs on as admin. */
static void
connect_as (Client *c, guint32 proposal, const char *user)
{
  client_handshake (c, proposal, 0, 0, 0);
  g_assert_cmpuint (client_read_version (c), !=, 0);
  send_hello (c, user, "secret");
  expect_success (c);
  if (c->version >= 0x501)
    expect_success (c);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_handshake_picks_highest (void)
{
  Client c;
  client_init (&c, 0);
  /* The drivers' proposals: manifest marker aside, 5.8..5.0, 4.4..4.2, 3.0 */
  client_handshake (&c, 0x00080805, 0x00020404, 0x00000003, 0);
  g_assert_cmpuint (client_read_version (&c), ==, 0x508);
  client_clear (&c);

  client_init (&c, 0);
  client_handshake (&c, 0x00000005, 0x00000404, 0, 0); /* exact 5.0 first */
  g_assert_cmpuint (client_read_version (&c), ==, 0x500);
  client_clear (&c);
}

static void
test_handshake_never_picks_5_5 (void)
{
  Client c;
  client_init (&c, 0);
  client_handshake (&c, 0x00000505, 0, 0, 0);
  g_assert_cmpuint (client_read_version (&c), ==, 0);
  g_assert_false (c.open);
  client_clear (&c);

  client_init (&c, 0);
  client_handshake (&c, 0x00010505, 0, 0, 0); /* 5.5 down to 5.4 */
  g_assert_cmpuint (client_read_version (&c), ==, 0x504);
  client_clear (&c);
}

static void
test_handshake_bad_magic_closes (void)
{
  Client c;
  client_init (&c, 0);
  static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  client_send_bytes (&c, (const guint8 *) http, sizeof http - 1, FALSE);
  g_assert_false (c.open);
  g_assert_cmpuint (c.received->len, ==, 0);
  client_clear (&c);
}

static guint64
read_varint (const guint8 *p, gsize *pos)
{
  guint64 v = 0;
  for (guint shift = 0;; shift += 7)
    {
      guint8 b = p[(*pos)++];
      v |= (guint64) (b & 0x7F) << shift;
      if (!(b & 0x80))
        return v;
    }
}

static void
test_handshake_manifest_v1 (void)
{
  Client c;
  client_init (&c, 0);
  client_handshake (&c, 0x000001FF, 0x00080805, 0x00020404, 0x00000003);
  const guint8 *p = c.received->data;
  g_assert_cmpuint (c.received->len, >=, 6);
  g_assert_cmpmem (p, 4, "\x00\x00\x01\xFF", 4);
  gsize pos = 4;
  guint64 n = read_varint (p, &pos);
  g_assert_cmpuint (n, >=, 1);
  gboolean offers_6 = FALSE, offers_5_5 = FALSE;
  for (guint64 i = 0; i < n; i++, pos += 4)
    {
      guint major = p[pos + 3], minor = p[pos + 2], range = p[pos + 1];
      for (guint k = 0; k <= range; k++)
        {
          offers_6 |= major == 6 && minor - k == 0;
          offers_5_5 |= major == 5 && minor - k == 5;
        }
    }
  g_assert_true (offers_6);
  g_assert_false (offers_5_5);
  g_assert_cmpuint (read_varint (p, &pos), ==, 0);
  g_assert_cmpuint (pos, ==, c.received->len);
  c.consumed = pos;

  /* The client picks 6.0 and no capabilities; then the session works. */
  static const guint8 choice[5] = { 0, 0, 0, 6, 0 };
  client_send_bytes (&c, choice, sizeof choice, TRUE);
  g_assert_true (c.open);
  g_assert_cmpuint (nc_bolt_connection_version (c.conn), ==, 0x600);
  c.version = 0x600;
  c.flavor.element_ids = c.flavor.utc_datetime = TRUE;
  send_hello (&c, "admin", "secret");
  expect_success (&c);
  expect_success (&c);
  client_clear (&c);
}

static void
test_hello_logon_run_pull (void)
{
  Client c;
  client_init (&c, 0);
  client_handshake (&c, 0x00000405, 0, 0, 0);
  g_assert_cmpuint (client_read_version (&c), ==, 0x504);
  send_hello (&c, "admin", "secret");
  {
    g_auto (Response) hello = next_response (&c);
    g_assert_cmpuint (hello.tag, ==, 0x70);
    g_assert_cmpstr (meta_str (&hello, "server"), ==, "Neo4j/5.26.0-nornicdb-test");
    g_assert_cmpstr (meta_str (&hello, "connection_id"), ==, "bolt-7");
    const NcValue *hints = meta_get (&hello, "hints");
    g_assert_nonnull (hints);
    const NcValue *t = nc_map_get (hints->u.map, "connection.recv_timeout_seconds");
    g_assert_cmpint (t->u.i, ==, 1800);
  }
  expect_success (&c); /* LOGON */

  send_run (&c, "RANGE 3", NULL);
  send_pull (&c, -1, -1, 0x3F);
  {
    g_auto (Response) run = next_response (&c);
    g_assert_cmpuint (run.tag, ==, 0x70);
    const NcValue *fields = meta_get (&run, "fields");
    g_assert_cmpuint (fields->u.list->len, ==, 1);
    g_assert_cmpstr (nc_value_str (&fields->u.list->items[0]), ==, "x");
    g_assert_nonnull (meta_get (&run, "t_first"));
    g_assert_null (meta_get (&run, "qid"));
  }
  for (gint64 i = 1; i <= 3; i++)
    {
      g_auto (Response) rec = next_response (&c);
      g_assert_cmpuint (rec.tag, ==, 0x71);
      g_assert_cmpint (rec.meta.u.list->items[0].u.i, ==, i);
    }
  {
    g_auto (Response) done = next_response (&c);
    g_assert_cmpuint (done.tag, ==, 0x70);
    g_assert_cmpstr (meta_str (&done, "bookmark"), ==, "nornicdb:1");
    g_assert_cmpstr (meta_str (&done, "type"), ==, "r");
    g_assert_cmpstr (meta_str (&done, "db"), ==, "neo4j");
    g_assert_null (meta_get (&done, "has_more"));
    g_assert_null (meta_get (&done, "stats"));
  }
  expect_nothing_more (&c);
  send_empty (&c, 0x02); /* GOODBYE */
  g_assert_false (c.open);
  client_clear (&c);
}

static void
test_v44_auth_in_hello_and_utc_patch (void)
{
  Client c;
  client_init (&c, 0);
  client_handshake (&c, 0x00020404, 0, 0, 0);
  g_assert_cmpuint (client_read_version (&c), ==, 0x404);
  send_hello (&c, "admin", "secret");
  g_auto (Response) hello = next_response (&c);
  g_assert_cmpuint (hello.tag, ==, 0x70);
  const NcValue *patch = meta_get (&hello, "patch_bolt");
  g_assert_nonnull (patch);
  g_assert_cmpstr (nc_value_str (&patch->u.list->items[0]), ==, "utc");
  client_clear (&c);
}

static void
test_wrong_password_fails_and_closes (void)
{
  Client c;
  client_init (&c, 0);
  client_handshake (&c, 0x00000405, 0, 0, 0);
  client_read_version (&c);
  send_hello (&c, "admin", "wrong");
  expect_success (&c); /* HELLO */
  expect_failure (&c, "Neo.ClientError.Security.Unauthorized");
  g_assert_false (c.open);
  client_clear (&c);
}

static void
test_scheme_none_needs_auth_disabled (void)
{
  for (guint disabled = 0; disabled < 2; disabled++)
    {
      Client c;
      client_init (&c, 0);
      c.fake.auth_enabled = disabled == 0;
      client_handshake (&c, 0x00000405, 0, 0, 0);
      client_read_version (&c);
      g_autoptr (GByteArray) h = msg_begin (0x01, 1);
      nc_ps_write_map_header (h, 1);
      write_kv (h, "user_agent", "t");
      client_send (&c, h);
      g_autoptr (GByteArray) l = msg_begin (0x6A, 1);
      nc_ps_write_map_header (l, 1);
      write_kv (l, "scheme", "none");
      client_send (&c, l);
      expect_success (&c);
      if (disabled)
        expect_success (&c);
      else
        expect_failure (&c, "Neo.ClientError.Security.Unauthorized");
      g_assert_true (c.open == (disabled == 1));
      client_clear (&c);
    }
}

static void
test_messages_before_logon_refused (void)
{
  Client c;
  client_init (&c, 0);
  client_handshake (&c, 0x00000405, 0, 0, 0);
  client_read_version (&c);
  send_run (&c, "RANGE 1", NULL);
  expect_failure (&c, "Neo.ClientError.Request.Invalid");
  g_assert_false (c.open);
  client_clear (&c);
}

static void
test_failure_then_ignored_until_reset (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  /* Pipelined: everything after the failing RUN is IGNORED until RESET. */
  send_run (&c, "SYNTAX", NULL);
  send_pull (&c, 1000, -1, 0x3F);
  send_run (&c, "RANGE 1", NULL);
  send_empty (&c, 0x0F);
  send_run (&c, "RANGE 2", NULL);
  send_pull (&c, -1, -1, 0x3F);
  expect_failure (&c, "Neo.ClientError.Statement.SyntaxError");
  expect_tag (&c, 0x7E);
  expect_tag (&c, 0x7E);
  expect_success (&c); /* RESET */
  expect_success (&c); /* RUN */
  expect_tag (&c, 0x71);
  expect_tag (&c, 0x71);
  expect_success (&c);
  expect_nothing_more (&c);
  g_assert_true (c.open);
  client_clear (&c);
}

static void
test_failure_while_streaming (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  send_run (&c, "LATE", NULL);
  send_pull (&c, 10, -1, 0x3F);
  expect_success (&c);
  expect_failure (&c, "Neo.ClientError.Statement.ArithmeticError");
  send_empty (&c, 0x0F);
  expect_success (&c);
  client_clear (&c);
}

static void
test_pull_in_batches (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  send_run (&c, "RANGE 5", NULL);
  send_pull (&c, 2, -1, 0x3F);
  expect_success (&c);
  expect_tag (&c, 0x71);
  expect_tag (&c, 0x71);
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpuint (r.tag, ==, 0x70);
    g_assert_true (meta_get (&r, "has_more")->u.b);
    g_assert_null (meta_get (&r, "bookmark"));
  }
  send_pull (&c, 2, -1, 0x3F);
  expect_tag (&c, 0x71);
  expect_tag (&c, 0x71);
  expect_success (&c);
  /* The rest is discarded; the summary still carries the bookmark. */
  send_pull (&c, -1, -1, 0x2F);
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpuint (r.tag, ==, 0x70);
    g_assert_null (meta_get (&r, "has_more"));
    g_assert_cmpstr (meta_str (&r, "bookmark"), ==, "nornicdb:1");
  }
  expect_nothing_more (&c);
  client_clear (&c);
}

static void
test_explicit_transaction (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000805, "admin");
  send_begin (&c);
  send_run (&c, "WRITE", NULL);
  send_pull (&c, -1, -1, 0x3F);
  send_run (&c, "RANGE 2", NULL);
  send_pull (&c, 1, 1, 0x3F);
  send_empty (&c, 0x12);
  expect_success (&c); /* BEGIN */
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpuint (r.tag, ==, 0x70);
    g_assert_cmpint (meta_get (&r, "qid")->u.i, ==, 0);
    g_assert_cmpstr (meta_str (&r, "db"), ==, "neo4j"); /* 5.8 */
  }
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpuint (r.tag, ==, 0x70);
    g_assert_cmpstr (meta_str (&r, "type"), ==, "w");
    g_assert_null (meta_get (&r, "bookmark"));
    const NcValue *stats = meta_get (&r, "stats");
    g_assert_nonnull (stats);
    g_assert_cmpint (nc_map_get (stats->u.map, "nodes-created")->u.i, ==, 2);
    g_assert_cmpint (nc_map_get (stats->u.map, "properties-set")->u.i, ==, 3);
    g_assert_true (nc_map_get (stats->u.map, "contains-updates")->u.b);
    g_assert_null (nc_map_get (stats->u.map, "nodes-deleted"));
  }
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpint (meta_get (&r, "qid")->u.i, ==, 1);
  }
  expect_tag (&c, 0x71);
  expect_success (&c); /* has_more */
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpuint (r.tag, ==, 0x70);
    g_assert_cmpstr (meta_str (&r, "bookmark"), ==, "nornicdb:1");
  }
  expect_nothing_more (&c);
  client_clear (&c);
}

static void
test_rollback_and_reset_release_transaction (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  send_begin (&c);
  send_run (&c, "RANGE 10", NULL);
  send_empty (&c, 0x13);
  expect_success (&c);
  expect_success (&c);
  expect_success (&c);
  g_assert_cmpuint (c.fake.open_txs, ==, 0);
  g_assert_cmpuint (c.fake.open_results, ==, 0);
  send_begin (&c);
  send_run (&c, "RANGE 10", NULL);
  send_empty (&c, 0x0F);
  expect_success (&c);
  expect_success (&c);
  expect_success (&c);
  g_assert_cmpuint (c.fake.open_txs, ==, 0);
  client_clear (&c);
}

static void
test_wrong_state_message_fails (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  send_empty (&c, 0x12); /* COMMIT outside a transaction */
  expect_failure (&c, "Neo.ClientError.Request.Invalid");
  g_assert_true (c.open);
  send_empty (&c, 0x0F);
  expect_success (&c);
  client_clear (&c);
}

static void
test_v57_failure_has_gql_fields (void)
{
  for (guint minor = 4; minor <= 7; minor += 3)
    {
      Client c;
      client_init (&c, 0);
      connect_as (&c, 0x00000005 | (minor << 8), "admin");
      send_run (&c, "SYNTAX", NULL);
      g_auto (Response) r = next_response (&c);
      g_assert_cmpuint (r.tag, ==, 0x7F);
      g_assert_cmpstr (meta_str (&r, "code"), ==, "Neo.ClientError.Statement.SyntaxError");
      if (minor == 7)
        {
          g_assert_cmpstr (meta_str (&r, "neo4j_code"), ==, "Neo.ClientError.Statement.SyntaxError");
          g_assert_cmpstr (meta_str (&r, "gql_status"), ==, "42001");
          g_assert_nonnull (meta_get (&r, "description"));
          const NcValue *diag = meta_get (&r, "diagnostic_record");
          g_assert_cmpstr (nc_value_str (nc_map_get (diag->u.map, "CURRENT_SCHEMA")), ==, "/");
          g_assert_cmpstr (nc_value_str (nc_map_get (diag->u.map, "OPERATION_CODE")), ==, "0");
        }
      else
        g_assert_null (meta_get (&r, "neo4j_code"));
      client_clear (&c);
    }
}

static void
test_unknown_database (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  send_run (&c, "RANGE 1", "nope");
  expect_failure (&c, "Neo.ClientError.Database.DatabaseNotFound");
  send_empty (&c, 0x0F);
  expect_success (&c);
  send_run (&c, "RANGE 1", "neo4j");
  expect_success (&c);
  client_clear (&c);
}

static void
test_reader_cannot_write (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "reader");
  send_run (&c, "WRITE", NULL);
  expect_failure (&c, "Neo.ClientError.Security.Forbidden");
  client_clear (&c);
}

static void
test_route_returns_table (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  g_autoptr (GByteArray) b = msg_begin (0x66, 3);
  nc_ps_write_map_header (b, 1);
  write_kv (b, "address", "localhost:7687");
  nc_ps_write_list_header (b, 0);
  nc_ps_write_map_header (b, 0);
  client_send (&c, b);
  g_auto (Response) r = next_response (&c);
  g_assert_cmpuint (r.tag, ==, 0x70);
  const NcValue *rt = meta_get (&r, "rt");
  g_assert_cmpint (nc_map_get (rt->u.map, "ttl")->u.i, ==, 300);
  g_assert_cmpstr (nc_value_str (nc_map_get (rt->u.map, "db")), ==, "neo4j");
  const NcValue *servers = nc_map_get (rt->u.map, "servers");
  g_assert_cmpuint (servers->u.list->len, ==, 3);
  gboolean seen_route = FALSE, seen_read = FALSE, seen_write = FALSE;
  for (guint i = 0; i < 3; i++)
    {
      const NcMap *s = servers->u.list->items[i].u.map;
      const char *role = nc_value_str (nc_map_get (s, "role"));
      seen_route |= g_str_equal (role, "ROUTE");
      seen_read |= g_str_equal (role, "READ");
      seen_write |= g_str_equal (role, "WRITE");
      g_assert_cmpstr (nc_value_str (&nc_map_get (s, "addresses")->u.list->items[0]), ==, "127.0.0.1:7687");
    }
  g_assert_true (seen_route && seen_read && seen_write);
  client_clear (&c);
}

static guint
count_notes (Client *c)
{
  expect_success (c); /* RUN */
  g_auto (Response) r = next_response (c);
  g_assert_cmpuint (r.tag, ==, 0x70);
  const NcValue *notes = meta_get (&r, "notifications");
  return notes == NULL ? 0 : notes->u.list->len;
}

static void
send_run_extra (Client *c, const char *query, const char *key, const char *value, gboolean as_list)
{
  g_autoptr (GByteArray) b = msg_begin (0x10, 3);
  nc_ps_write_string (b, query);
  nc_ps_write_map_header (b, 0);
  nc_ps_write_map_header (b, 1);
  nc_ps_write_string (b, key);
  if (as_list)
    {
      nc_ps_write_list_header (b, 1);
      nc_ps_write_string (b, value);
    }
  else
    nc_ps_write_string (b, value);
  client_send (c, b);
}

static void
test_notification_filters (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  send_run (&c, "NOTES", NULL);
  send_pull (&c, -1, -1, 0x3F);
  g_assert_cmpuint (count_notes (&c), ==, 2);
  send_run_extra (&c, "NOTES", "notifications_minimum_severity", "WARNING", FALSE);
  send_pull (&c, -1, -1, 0x3F);
  g_assert_cmpuint (count_notes (&c), ==, 1);
  send_run_extra (&c, "NOTES", "notifications_minimum_severity", "OFF", FALSE);
  send_pull (&c, -1, -1, 0x3F);
  g_assert_cmpuint (count_notes (&c), ==, 0);
  send_run_extra (&c, "NOTES", "notifications_disabled_categories", "PERFORMANCE", TRUE);
  send_pull (&c, -1, -1, 0x3F);
  g_assert_cmpuint (count_notes (&c), ==, 1);
  client_clear (&c);
}

static void
test_oversized_message_fails_and_closes (void)
{
  Client c;
  client_init (&c, 4096);
  connect_as (&c, 0x00000405, "admin");
  g_autofree char *big = g_strnfill (10000, 'x');
  send_run (&c, big, NULL);
  expect_failure (&c, "Neo.ClientError.Request.Invalid");
  g_assert_false (c.open);
  client_clear (&c);
}

static void
test_malformed_message_fails_and_closes (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  static const guint8 bad[] = { 0xB3, 0x10, 0xD2, 0x7F, 0xFF, 0xFF, 0xFF }; /* RUN with a 2 GB string */
  g_autoptr (GByteArray) b = g_byte_array_new ();
  g_byte_array_append (b, bad, sizeof bad);
  client_send (&c, b);
  expect_failure (&c, "Neo.ClientError.Request.Invalid");
  g_assert_false (c.open);
  client_clear (&c);
}

static void
test_parameters_echo_every_type (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000805, "admin");
  g_autoptr (GByteArray) b = msg_begin (0x10, 3);
  nc_ps_write_string (b, "ECHO");
  NcMap *params = nc_map_new (6);
  nc_map_append (params, "i", nc_value_int (G_MAXINT64));
  nc_map_append (params, "s", nc_value_string ("üñí ✓"));
  nc_map_append (params, "d", nc_value_date (-1));
  nc_map_append (params, "dt", nc_value_datetime (1720000000, 5, 0, "Europe/Berlin"));
  nc_map_append (params, "p", nc_value_point2d (7203, 1, 2));
  nc_map_append (params, "n", nc_value_null ());
  g_auto (NcValue) pv = nc_value_map_take (params);
  nc_ps_write_value (b, &pv, &c.flavor);
  nc_ps_write_map_header (b, 0);
  client_send (&c, b);
  send_pull (&c, -1, -1, 0x3F);
  expect_success (&c);
  g_auto (Response) rec = next_response (&c);
  g_assert_cmpuint (rec.tag, ==, 0x71);
  g_assert_cmpuint (rec.meta.u.list->len, ==, 6);
  for (guint i = 0; i < 6; i++)
    g_assert_true (nc_value_equivalent (&rec.meta.u.list->items[i], &pv.u.map->entries[i].value));
  expect_success (&c);
  client_clear (&c);
}

static void
test_node_parameter_fails_without_closing (void)
{
  Client c;
  client_init (&c, 0);
  connect_as (&c, 0x00000405, "admin");
  g_autoptr (GByteArray) b = msg_begin (0x10, 3);
  nc_ps_write_string (b, "ECHO");
  nc_ps_write_map_header (b, 1);
  nc_ps_write_string (b, "n");
  nc_ps_write_struct_header (b, 4, 0x4E);
  nc_ps_write_int (b, 1);
  nc_ps_write_list_header (b, 0);
  nc_ps_write_map_header (b, 0);
  nc_ps_write_string (b, "4:x:1");
  nc_ps_write_map_header (b, 0);
  client_send (&c, b);
  expect_failure (&c, "Neo.ClientError.Statement.ArgumentError");
  g_assert_true (c.open);
  send_empty (&c, 0x0F);
  expect_success (&c);
  client_clear (&c);
}

static void
test_byte_at_a_time_equals_bulk (void)
{
  /* The same pipelined conversation fed in one go and one byte at a time
   * produces identical output. */
  GByteArray *outputs[2];
  for (guint mode = 0; mode < 2; mode++)
    {
      Client c;
      client_init (&c, 0);
      g_autoptr (GByteArray) wire = g_byte_array_new ();
      static const guint8 hs[20] = { 0x60, 0x60, 0xB0, 0x17, 0, 0, 4, 5 };
      g_byte_array_append (wire, hs, sizeof hs);
      client_send_bytes (&c, wire->data, wire->len, mode == 1);
      client_read_version (&c);
      g_byte_array_set_size (wire, 0);
      /* Collect the requests, then feed them in one go or byte by byte. */
      c.capture = g_byte_array_new ();
      send_hello (&c, "admin", "secret");
      send_run (&c, "RANGE 20", NULL);
      send_pull (&c, 7, -1, 0x3F);
      send_pull (&c, -1, -1, 0x3F);
      g_autoptr (GByteArray) requests = g_steal_pointer (&c.capture);
      client_send_bytes (&c, requests->data, requests->len, mode == 1);
      g_assert_true (c.open);
      outputs[mode] = g_byte_array_ref (c.received);
      client_clear (&c);
    }
  g_assert_cmpmem (outputs[0]->data, outputs[0]->len, outputs[1]->data, outputs[1]->len);
  g_byte_array_unref (outputs[0]);
  g_byte_array_unref (outputs[1]);
}

static void
test_truncations_and_garbage_never_crash (void)
{
  /* A valid conversation, cut at every length, then random bytes after a
   * valid handshake: the connection must either answer or close. */
  g_autoptr (GByteArray) conv = g_byte_array_new ();
  static const guint8 hs[20] = { 0x60, 0x60, 0xB0, 0x17, 0, 0, 4, 5 };
  g_byte_array_append (conv, hs, sizeof hs);
  {
    g_autoptr (GByteArray) b = msg_begin (0x01, 1);
    nc_ps_write_map_header (b, 1);
    write_kv (b, "user_agent", "x");
    nc_bolt_chunk_append (conv, b->data, b->len);
    g_autoptr (GByteArray) l = msg_begin (0x6A, 1);
    nc_ps_write_map_header (l, 3);
    write_kv (l, "scheme", "basic");
    write_kv (l, "principal", "admin");
    write_kv (l, "credentials", "secret");
    nc_bolt_chunk_append (conv, l->data, l->len);
    g_autoptr (GByteArray) r = msg_begin (0x10, 3);
    nc_ps_write_string (r, "RANGE 3");
    nc_ps_write_map_header (r, 0);
    nc_ps_write_map_header (r, 0);
    nc_bolt_chunk_append (conv, r->data, r->len);
  }
  for (guint len = 0; len <= conv->len; len++)
    {
      Client c;
      client_init (&c, 0);
      g_autofree guint8 *copy = g_memdup2 (conv->data, len);
      client_send_bytes (&c, copy, len, FALSE);
      client_clear (&c);
    }
  g_autoptr (GRand) rng = g_rand_new_with_seed (7687);
  for (guint iter = 0; iter < 3000; iter++)
    {
      Client c;
      client_init (&c, 0);
      client_send_bytes (&c, conv->data, conv->len, FALSE);
      guint len = g_rand_int_range (rng, 1, 200);
      g_autofree guint8 *junk = g_malloc (len);
      for (guint i = 0; i < len; i++)
        junk[i] = (guint8) g_rand_int (rng);
      if (iter % 3 == 0 && len > 4)
        {
          /* plausible framing around random payload */
          junk[0] = 0;
          junk[1] = (guint8) (len - 4);
          junk[len - 2] = junk[len - 1] = 0;
        }
      client_send_bytes (&c, junk, len, FALSE);
      client_clear (&c);
    }
}

/* ---- relaying writes to the writer ------------------------------------------------ */

typedef struct {
  GSocketListener *listener;
  guint16 port;
  GThread *thread;
  GCancellable *cancel;
  Fake fake;
  guint served;
} Writer;

static gboolean
writer_send_cb (gpointer user_data, const guint8 *data, gsize len, GError **error)
{
  return g_output_stream_write_all (user_data, data, len, NULL, NULL, error);
}

static gpointer
writer_thread (gpointer data)
{
  Writer *w = data;
  for (;;)
    {
      g_autoptr (GSocketConnection) sc = g_socket_listener_accept (w->listener, NULL, w->cancel, NULL);
      if (sc == NULL)
        return NULL;
      w->served++;
      GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (sc));
      GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (sc));
      NcBoltConnectionConfig cfg = {
        .backend = &fake_backend,
        .backend_data = &w->fake,
        .connection_id = "bolt-writer",
        .server_agent = "Neo4j/5.26.0-nornicdb-writer",
        .max_message = 1 << 20,
        .write = writer_send_cb,
        .write_data = out,
      };
      g_autoptr (NcBoltConnection) conn = nc_bolt_connection_new (&cfg);
      guint8 buf[4096];
      for (;;)
        {
          gssize n = g_input_stream_read (in, buf, sizeof buf, w->cancel, NULL);
          if (n <= 0 || !nc_bolt_connection_feed (conn, buf, (gsize) n))
            break;
        }
    }
}

static void
writer_start (Writer *w)
{
  memset (w, 0, sizeof *w);
  w->fake.auth_enabled = TRUE;
  w->fake.commit_index = 100;
  w->listener = g_socket_listener_new ();
  w->cancel = g_cancellable_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) effective = NULL;
  g_assert_true (g_socket_listener_add_address (w->listener, sa, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                                NULL, &effective, NULL));
  w->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  w->thread = g_thread_new ("writer", writer_thread, w);
}

static void
writer_stop (Writer *w)
{
  g_cancellable_cancel (w->cancel);
  g_thread_join (w->thread);
  g_socket_listener_close (w->listener);
  g_object_unref (w->listener);
  g_object_unref (w->cancel);
  g_assert_cmpuint (w->fake.open_results, ==, 0);
  g_assert_cmpuint (w->fake.open_txs, ==, 0);
}

static void
send_hello_routing (Client *c)
{
  g_autoptr (GByteArray) b = msg_begin (0x01, 1);
  nc_ps_write_map_header (b, 2);
  write_kv (b, "user_agent", "test/1.0");
  nc_ps_write_string (b, "routing");
  nc_ps_write_map_header (b, 1);
  write_kv (b, "address", "127.0.0.1:7687");
  client_send (c, b);
  g_autoptr (GByteArray) l = msg_begin (0x6A, 1);
  nc_ps_write_map_header (l, 3);
  write_kv (l, "scheme", "basic");
  write_kv (l, "principal", "admin");
  write_kv (l, "credentials", "secret");
  client_send (c, l);
}

static void
test_forward_direct_writes (void)
{
  Writer w;
  writer_start (&w);
  Client c;
  client_init (&c, 0);
  c.fake.not_leader = TRUE;
  c.fake.writer_address = g_strdup_printf ("127.0.0.1:%u", w.port);
  connect_as (&c, 0x00000405, "admin");

  /* Auto-commit write: answered by the writer, records and summary relayed. */
  send_run (&c, "WRITE", NULL);
  send_pull (&c, -1, -1, 0x3F);
  expect_success (&c);
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpuint (r.tag, ==, 0x70);
    g_assert_cmpstr (meta_str (&r, "type"), ==, "w");
    g_assert_cmpstr (meta_str (&r, "bookmark"), ==, "nornicdb:101"); /* the writer's counter */
  }
  /* Reads stay local. */
  send_run (&c, "RANGE 1", NULL);
  send_pull (&c, -1, -1, 0x3F);
  expect_success (&c);
  expect_tag (&c, 0x71);
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpstr (meta_str (&r, "bookmark"), ==, "nornicdb:1");
  }
  /* An explicit transaction whose first statement writes moves to the writer. */
  send_begin (&c);
  send_run (&c, "WRITE", NULL);
  send_pull (&c, -1, -1, 0x3F);
  send_run (&c, "RANGE 2", NULL);
  send_pull (&c, -1, -1, 0x3F);
  send_empty (&c, 0x12);
  expect_success (&c); /* BEGIN (local) */
  expect_success (&c); /* RUN WRITE (writer) */
  expect_success (&c); /* PULL */
  expect_success (&c); /* RUN RANGE 2 (writer) */
  expect_tag (&c, 0x71);
  expect_tag (&c, 0x71);
  expect_success (&c);
  {
    g_auto (Response) r = next_response (&c);
    g_assert_cmpuint (r.tag, ==, 0x70);
    g_assert_cmpstr (meta_str (&r, "bookmark"), ==, "nornicdb:102");
  }
  /* A failure on the writer side: IGNORED until RESET, which resets both. */
  send_begin (&c);
  send_run (&c, "WRITE", NULL);
  send_run (&c, "SYNTAX", NULL);
  send_pull (&c, -1, -1, 0x3F);
  send_empty (&c, 0x0F);
  send_run (&c, "WRITE", NULL);
  send_pull (&c, -1, -1, 0x3F);
  expect_success (&c);
  expect_success (&c);
  expect_failure (&c, "Neo.ClientError.Statement.SyntaxError");
  expect_tag (&c, 0x7E);
  expect_success (&c); /* RESET */
  expect_success (&c);
  expect_success (&c);
  expect_nothing_more (&c);
  g_assert_cmpuint (w.served, ==, 1); /* one link, reused */
  g_free (c.fake.writer_address);
  client_clear (&c);
  writer_stop (&w);
}

static void
test_forward_routing_client_gets_not_a_leader (void)
{
  Client c;
  client_init (&c, 0);
  c.fake.not_leader = TRUE;
  c.fake.writer_address = g_strdup ("127.0.0.1:1");
  client_handshake (&c, 0x00000405, 0, 0, 0);
  client_read_version (&c);
  send_hello_routing (&c);
  expect_success (&c);
  expect_success (&c);
  send_run (&c, "WRITE", NULL);
  expect_failure (&c, "Neo.ClientError.Cluster.NotALeader");
  g_free (c.fake.writer_address);
  client_clear (&c);
}

static void
test_forward_unreachable_writer_fails_cleanly (void)
{
  Client c;
  client_init (&c, 0);
  c.fake.not_leader = TRUE;
  c.fake.writer_address = g_strdup ("127.0.0.1:1"); /* nothing listens on port 1 */
  connect_as (&c, 0x00000405, "admin");
  send_run (&c, "WRITE", NULL);
  expect_failure (&c, "Neo.TransientError.General.DatabaseUnavailable");
  send_empty (&c, 0x0F);
  expect_success (&c);
  g_free (c.fake.writer_address);
  client_clear (&c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/bolt/handshake/picks-highest-common-version", test_handshake_picks_highest);
  g_test_add_func ("/nornic/bolt/handshake/never-picks-5-5", test_handshake_never_picks_5_5);
  g_test_add_func ("/nornic/bolt/handshake/bad-magic-closes-silently", test_handshake_bad_magic_closes);
  g_test_add_func ("/nornic/bolt/handshake/manifest-v1-offers-6-0", test_handshake_manifest_v1);
  g_test_add_func ("/nornic/bolt/session/hello-logon-run-pull", test_hello_logon_run_pull);
  g_test_add_func ("/nornic/bolt/session/v4-4-auth-in-hello-and-utc-patch", test_v44_auth_in_hello_and_utc_patch);
  g_test_add_func ("/nornic/bolt/auth/wrong-password-fails-and-closes", test_wrong_password_fails_and_closes);
  g_test_add_func ("/nornic/bolt/auth/scheme-none-only-without-auth", test_scheme_none_needs_auth_disabled);
  g_test_add_func ("/nornic/bolt/auth/messages-before-logon-refused", test_messages_before_logon_refused);
  g_test_add_func ("/nornic/bolt/auth/reader-cannot-write", test_reader_cannot_write);
  g_test_add_func ("/nornic/bolt/session/failure-then-ignored-until-reset", test_failure_then_ignored_until_reset);
  g_test_add_func ("/nornic/bolt/session/failure-while-streaming", test_failure_while_streaming);
  g_test_add_func ("/nornic/bolt/session/pull-in-batches-with-has-more", test_pull_in_batches);
  g_test_add_func ("/nornic/bolt/session/explicit-transaction-qid-stats-bookmark", test_explicit_transaction);
  g_test_add_func ("/nornic/bolt/session/rollback-and-reset-release-transaction",
                   test_rollback_and_reset_release_transaction);
  g_test_add_func ("/nornic/bolt/session/wrong-state-message-fails", test_wrong_state_message_fails);
  g_test_add_func ("/nornic/bolt/session/v5-7-failure-has-gql-fields", test_v57_failure_has_gql_fields);
  g_test_add_func ("/nornic/bolt/session/unknown-database-not-found", test_unknown_database);
  g_test_add_func ("/nornic/bolt/session/route-returns-table", test_route_returns_table);
  g_test_add_func ("/nornic/bolt/session/parameters-echo-every-type", test_parameters_echo_every_type);
  g_test_add_func ("/nornic/bolt/session/node-parameter-fails-without-closing",
                   test_node_parameter_fails_without_closing);
  g_test_add_func ("/nornic/bolt/session/notification-filters", test_notification_filters);
  g_test_add_func ("/nornic/bolt/limits/oversized-message-fails-and-closes", test_oversized_message_fails_and_closes);
  g_test_add_func ("/nornic/bolt/limits/malformed-message-fails-and-closes",
                   test_malformed_message_fails_and_closes);
  g_test_add_func ("/nornic/bolt/limits/byte-at-a-time-equals-bulk", test_byte_at_a_time_equals_bulk);
  g_test_add_func ("/nornic/bolt/limits/truncations-and-garbage-never-crash", test_truncations_and_garbage_never_crash);
  g_test_add_func ("/nornic/bolt/forward/direct-writes-relayed-to-writer", test_forward_direct_writes);
  g_test_add_func ("/nornic/bolt/forward/routing-client-gets-not-a-leader",
                   test_forward_routing_client_gets_not_a_leader);
  g_test_add_func ("/nornic/bolt/forward/unreachable-writer-fails-cleanly",
                   test_forward_unreachable_writer_fails_cleanly);
  return g_test_run ();
}
