/* The Neo4j HTTP transaction API:
 *
 *   POST   /db/{db}/tx/commit        run statements in one transaction and commit
 *   POST   /db/{db}/tx               open a transaction (201 + Location), run statements
 *   POST   /db/{db}/tx/{id}          run more statements, keep it open
 *   POST   /db/{db}/tx/{id}/commit   run statements (optional) and commit
 *   DELETE /db/{db}/tx/{id}          roll back
 *
 * Request:  {"statements":[{"statement","parameters","resultDataContents":["row","graph"],
 *            "includeStats"}], "bookmarks":[...]}  (an empty body means no statements)
 * Response: {"results":[{"columns","data":[{"row","meta","graph"}],"stats"}],
 *            "errors":[{"code","message"}], "notifications":[...],
 *            "commit":url, "transaction":{"expires":RFC 1123}, "lastBookmarks":[...]}
 *
 * As in Neo4j, a statement error is reported in "errors" with HTTP 200: the
 * remaining statements are skipped and the transaction is rolled back.
 * Request-level problems have their own status: 400 InvalidFormat (and the
 * open transaction, if any, is rolled back, as Neo4j does for client
 * errors), 404 DatabaseNotFound / TransactionNotFound, 409 when another
 * request is using the same transaction.
 *
 * Databases: "neo4j" (the graph) and "system" (user and server commands).
 * An open transaction belongs to the user who opened it; other users get
 * 404 for its id. Transactions idle for NORNICDB_HTTP_TX_TIMEOUT are rolled
 * back by a reaper thread (a write transaction holds the writer lock, so an
 * abandoned one must not wait for the next request to be noticed).
 */
#define G_LOG_DOMAIN "nornicdb-http"

#include "http-private.h"
#include "http-json.h"
#include "errors.h"

#include <string.h>

#include <json-glib/json-glib.h>

#define NC_HTTP_REAPER_TICK_US (100 * G_TIME_SPAN_MILLISECOND)

typedef struct {
  guint64 id;
  char *owner;
  NcTransaction *tx;
  gint64 expires_mono;   /* monotonic µs */
  gint64 expires_unix;   /* wall clock seconds, for "expires" */
  gboolean in_use;
} HttpTx;

struct _NcHttpTxRegistry {
  NcHttpServer *server;
  GMutex lock;
  GCond cond;
  GHashTable *txs;       /* guint64* id -> HttpTx* */
  guint64 next_id;
  gboolean stop;
  GThread *reaper;
};

static void
http_tx_free (HttpTx *t)
{
  if (t == NULL)
    return;
  nc_transaction_free (t->tx);   /* rolls back when still open */
  g_free (t->owner);
  g_free (t);
}

static gint64
tx_timeout_us (NcHttpTxRegistry *reg)
{
  gint64 ms = nc_config_get_duration_ms (reg->server->config, "NORNICDB_HTTP_TX_TIMEOUT");
  return MAX (ms, 1) * 1000;
}

static void
touch (NcHttpTxRegistry *reg, HttpTx *t)
{
  gint64 timeout = tx_timeout_us (reg);
  t->expires_mono = g_get_monotonic_time () + timeout;
  t->expires_unix = g_get_real_time () / G_USEC_PER_SEC + (timeout + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
}

static gpointer
reaper_thread (gpointer data)
{
  NcHttpTxRegistry *reg = data;

  g_mutex_lock (&reg->lock);
  while (!reg->stop)
    {
      GPtrArray *expired = g_ptr_array_new ();
      GHashTableIter it;
      gpointer v;
      gint64 now = g_get_monotonic_time ();

      g_hash_table_iter_init (&it, reg->txs);
      while (g_hash_table_iter_next (&it, NULL, &v))
        {
          HttpTx *t = v;
          if (!t->in_use && t->expires_mono <= now)
            {
              g_hash_table_iter_steal (&it);
              g_ptr_array_add (expired, t);
            }
        }
      g_mutex_unlock (&reg->lock);
      for (guint i = 0; i < expired->len; i++)
        {
          HttpTx *t = expired->pdata[i];
          g_message ("HTTP transaction %" G_GUINT64_FORMAT " expired; rolled back", t->id);
          http_tx_free (t);
        }
      g_ptr_array_unref (expired);
      g_mutex_lock (&reg->lock);
      if (!reg->stop)
        g_cond_wait_until (&reg->cond, &reg->lock, g_get_monotonic_time () + NC_HTTP_REAPER_TICK_US);
    }
  g_mutex_unlock (&reg->lock);
  return NULL;
}

NcHttpTxRegistry *
nc_http_tx_registry_new (NcHttpServer *server)
{
  NcHttpTxRegistry *reg = g_new0 (NcHttpTxRegistry, 1);
  reg->server = server;
  g_mutex_init (&reg->lock);
  g_cond_init (&reg->cond);
  reg->txs = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, NULL);
  reg->next_id = 1;
  reg->reaper = g_thread_new ("http-tx-reaper", reaper_thread, reg);
  return reg;
}

void
nc_http_tx_registry_free (NcHttpTxRegistry *reg)
{
  GHashTableIter it;
  gpointer v;

  if (reg == NULL)
    return;
  g_mutex_lock (&reg->lock);
  reg->stop = TRUE;
  g_cond_broadcast (&reg->cond);
  g_mutex_unlock (&reg->lock);
  g_thread_join (reg->reaper);
  /* The HTTP daemons are stopped: no request holds a transaction now. */
  g_hash_table_iter_init (&it, reg->txs);
  while (g_hash_table_iter_next (&it, NULL, &v))
    http_tx_free (v);
  g_hash_table_unref (reg->txs);
  g_mutex_clear (&reg->lock);
  g_cond_clear (&reg->cond);
  g_free (reg);
}

/* ---- request parsing -------------------------------------------------------- */

typedef struct {
  char *text;
  NcMap *params;
  gboolean row;
  gboolean graph;
  gboolean stats;
} Statement;

static void
statement_clear (gpointer p)
{
  Statement *s = p;
  g_free (s->text);
  if (s->params != NULL)
    nc_map_unref (s->params);
}

typedef struct {
  GArray *statements;   /* Statement */
  GPtrArray *bookmarks; /* char*, NULL-terminated */
} TxRequest;

static void
tx_request_clear (TxRequest *r)
{
  g_clear_pointer (&r->statements, g_array_unref);
  g_clear_pointer (&r->bookmarks, g_ptr_array_unref);
}

static gboolean
format_error (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
format_error (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, NC_ERROR, NC_ERROR_REQUEST_FORMAT, msg);
  return FALSE;
}

static gboolean
parse_statement (JsonNode *node, guint i, Statement *s, GError **error)
{
  JsonObject *o;
  JsonNode *m;

  s->row = TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return format_error (error, "statements[%u] must be an object", i);
  o = json_node_get_object (node);
  m = json_object_get_member (o, "statement");
  if (m == NULL)
    return format_error (error, "statements[%u].statement is missing", i);
  if (!JSON_NODE_HOLDS_VALUE (m) || json_node_get_value_type (m) != G_TYPE_STRING)
    return format_error (error, "statements[%u].statement must be a string", i);
  s->text = g_strdup (json_node_get_string (m));

  m = json_object_get_member (o, "parameters");
  if (m != NULL && !JSON_NODE_HOLDS_NULL (m))
    {
      NcValue v;
      g_autoptr (GError) local = NULL;
      if (!JSON_NODE_HOLDS_OBJECT (m))
        return format_error (error, "statements[%u].parameters must be an object", i);
      if (!nc_http_json_to_value (m, &v, &local))
        return format_error (error, "statements[%u].parameters: %s", i, local->message);
      s->params = v.u.map;   /* takes the reference */
    }

  m = json_object_get_member (o, "resultDataContents");
  if (m != NULL && !JSON_NODE_HOLDS_NULL (m))
    {
      JsonArray *a;
      if (!JSON_NODE_HOLDS_ARRAY (m))
        return format_error (error, "statements[%u].resultDataContents must be an array", i);
      a = json_node_get_array (m);
      s->row = FALSE;
      for (guint k = 0; k < json_array_get_length (a); k++)
        {
          JsonNode *e = json_array_get_element (a, k);
          const char *name = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING
                               ? json_node_get_string (e) : NULL;
          if (g_strcmp0 (name, "row") == 0 || g_strcmp0 (name, "ROW") == 0)
            s->row = TRUE;
          else if (g_strcmp0 (name, "graph") == 0 || g_strcmp0 (name, "GRAPH") == 0)
            s->graph = TRUE;
          else
            return format_error (error, "statements[%u].resultDataContents[%u] must be \"row\" or \"graph\"",
                                 i, k);
        }
    }

  m = json_object_get_member (o, "includeStats");
  if (m != NULL && !JSON_NODE_HOLDS_NULL (m))
    {
      if (!JSON_NODE_HOLDS_VALUE (m) || json_node_get_value_type (m) != G_TYPE_BOOLEAN)
        return format_error (error, "statements[%u].includeStats must be a boolean", i);
      s->stats = json_node_get_boolean (m);
    }
  return TRUE;
}

static gboolean
parse_tx_request (const char *body, gsize len, TxRequest *r, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  JsonObject *root;
  JsonNode *m;

  r->statements = g_array_new (FALSE, TRUE, sizeof (Statement));
  g_array_set_clear_func (r->statements, statement_clear);
  r->bookmarks = g_ptr_array_new_with_free_func (g_free);

  /* An empty body opens/commits without statements, as Neo4j allows. */
  if (len == 0 || strspn (body, " \t\r\n") == len)
    {
      g_ptr_array_add (r->bookmarks, NULL);
      return TRUE;
    }
  if (!g_utf8_validate_len (body, len, NULL))
    return format_error (error, "Unable to deserialize request: the body is not valid UTF-8");
  if (!json_parser_load_from_data (parser, body, (gssize) len, &local))
    return format_error (error, "Unable to deserialize request: %s", local->message);
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return format_error (error, "Unable to deserialize request: the body must be a JSON object");
  root = json_node_get_object (json_parser_get_root (parser));

  m = json_object_get_member (root, "statements");
  if (m != NULL && !JSON_NODE_HOLDS_NULL (m))
    {
      JsonArray *a;
      if (!JSON_NODE_HOLDS_ARRAY (m))
        return format_error (error, "\"statements\" must be an array");
      a = json_node_get_array (m);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          Statement s = { 0 };
          gboolean ok = parse_statement (json_array_get_element (a, i), i, &s, error);
          g_array_append_val (r->statements, s);
          if (!ok)
            return FALSE;
        }
    }
  m = json_object_get_member (root, "bookmarks");
  if (m != NULL && !JSON_NODE_HOLDS_NULL (m))
    {
      JsonArray *a;
      if (!JSON_NODE_HOLDS_ARRAY (m))
        return format_error (error, "\"bookmarks\" must be an array of strings");
      a = json_node_get_array (m);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *e = json_array_get_element (a, i);
          if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
            return format_error (error, "bookmarks[%u] must be a string", i);
          g_ptr_array_add (r->bookmarks, g_strdup (json_node_get_string (e)));
        }
    }
  g_ptr_array_add (r->bookmarks, NULL);
  return TRUE;
}

/* ---- execution ------------------------------------------------------------------ */

/* Results are streamed: rows are rendered as the client reads them
 * (libmicrohttpd pulls the body through stream_read_cb on the connection's
 * own thread), so a large result never sits in memory as a whole. As in
 * Neo4j, the status line is sent before the statements run: statement
 * errors appear in "errors" at the end of a 200/201 body. */

#define NC_HTTP_STREAM_CHUNK 32768

typedef enum {
  PHASE_START,
  PHASE_NEXT_STATEMENT,
  PHASE_ROWS,
  PHASE_FINISH,
  PHASE_DONE,
} Phase;

typedef enum {
  KIND_IMPLICIT,   /* /tx/commit */
  KIND_OPEN,       /* /tx */
  KIND_CONTINUE,   /* /tx/{id} */
  KIND_COMMIT,     /* /tx/{id}/commit */
} Kind;

typedef struct {
  NcHttpTxRegistry *reg;
  NcDb *db;
  Kind kind;
  Phase phase;
  TxRequest r;
  NcTxOptions opts;
  char *user;
  HttpTx *t;                /* claimed (CONTINUE/COMMIT) or new (OPEN) */
  NcTransaction *implicit_tx;
  gboolean autocommit;      /* IMPLICIT with one statement */
  guint next;
  const Statement *cur;
  NcResult *res;
  gboolean first_row;
  gboolean any_result;
  GString *out;
  gsize out_pos;
  GString *notes;
  GError *error;
  char *bookmark;
  char *commit_url;
} Stream;

static void
append_stats (GString *out, const NcQueryStats *st)
{
  gboolean updates = st->nodes_created || st->nodes_deleted || st->relationships_created
                     || st->relationships_deleted || st->properties_set || st->labels_added
                     || st->labels_removed || st->indexes_added || st->indexes_removed
                     || st->constraints_added || st->constraints_removed;
  /* Key names as Neo4j's HTTP API spells them (including "relationship_deleted"). */
  g_string_append_printf (out,
                          ",\"stats\":{\"contains_updates\":%s,\"nodes_created\":%" G_GINT64_FORMAT
                          ",\"nodes_deleted\":%" G_GINT64_FORMAT ",\"properties_set\":%" G_GINT64_FORMAT
                          ",\"relationships_created\":%" G_GINT64_FORMAT
                          ",\"relationship_deleted\":%" G_GINT64_FORMAT ",\"labels_added\":%" G_GINT64_FORMAT
                          ",\"labels_removed\":%" G_GINT64_FORMAT ",\"indexes_added\":%" G_GINT64_FORMAT
                          ",\"indexes_removed\":%" G_GINT64_FORMAT ",\"constraints_added\":%" G_GINT64_FORMAT
                          ",\"constraints_removed\":%" G_GINT64_FORMAT
                          ",\"contains_system_updates\":%s,\"system_updates\":%" G_GINT64_FORMAT "}",
                          updates ? "true" : "false", st->nodes_created, st->nodes_deleted,
                          st->properties_set, st->relationships_created, st->relationships_deleted,
                          st->labels_added, st->labels_removed, st->indexes_added, st->indexes_removed,
                          st->constraints_added, st->constraints_removed,
                          st->system_updates ? "true" : "false", st->system_updates);
}

static void
append_row (GString *out, const Statement *s, const NcValue *row, guint n)
{
  g_string_append_c (out, '{');
  if (s->row)
    {
      g_string_append (out, "\"row\":[");
      for (guint i = 0; i < n; i++)
        {
          if (i)
            g_string_append_c (out, ',');
          nc_http_json_append_row (out, &row[i]);
        }
      g_string_append (out, "],\"meta\":[");
      for (guint i = 0; i < n; i++)
        {
          if (i)
            g_string_append_c (out, ',');
          nc_http_json_append_meta (out, &row[i]);
        }
      g_string_append_c (out, ']');
    }
  if (s->graph)
    {
      g_autoptr (NcHttpGraph) graph = nc_http_graph_new ();
      for (guint i = 0; i < n; i++)
        nc_http_graph_add (graph, &row[i]);
      if (s->row)
        g_string_append_c (out, ',');
      g_string_append (out, "\"graph\":");
      nc_http_graph_append (graph, out);
    }
  g_string_append_c (out, '}');
}

static void
collect_notifications (Stream *st)
{
  NcValue notes = nc_result_notifications (st->res);
  if (notes.type == NC_VALUE_LIST)
    for (guint32 i = 0; i < notes.u.list->len; i++)
      {
        if (st->notes->len > 0)
          g_string_append_c (st->notes, ',');
        nc_http_json_append_row (st->notes, &notes.u.list->items[i]);
      }
  nc_value_clear (&notes);
}

static NcTransaction *
stream_tx (Stream *st)
{
  return st->t != NULL ? st->t->tx : st->implicit_tx;
}

/* Starts the next statement, or moves on to FINISH. */
static void
step_next_statement (Stream *st)
{
  const char *const *fields;
  guint n;

  if (st->next >= st->r.statements->len)
    {
      st->phase = PHASE_FINISH;
      return;
    }
  st->cur = &g_array_index (st->r.statements, Statement, st->next);
  st->next++;
  if (st->autocommit)
    st->res = nc_db_run_autocommit (st->db, &st->opts, st->cur->text, st->cur->params, &st->error);
  else
    st->res = nc_transaction_run (stream_tx (st), st->cur->text, st->cur->params, &st->error);
  if (st->res == NULL)
    {
      st->phase = PHASE_FINISH;
      return;
    }
  if (st->any_result)
    g_string_append_c (st->out, ',');
  st->any_result = TRUE;
  g_string_append (st->out, "{\"columns\":[");
  fields = nc_result_fields (st->res);
  n = nc_result_n_fields (st->res);
  for (guint i = 0; i < n; i++)
    {
      if (i)
        g_string_append_c (st->out, ',');
      nc_http_json_append_string (st->out, fields[i]);
    }
  g_string_append (st->out, "],\"data\":[");
  st->first_row = TRUE;
  st->phase = PHASE_ROWS;
}

static void
step_rows (Stream *st)
{
  guint n = nc_result_n_fields (st->res);
  const NcValue *row;

  while (st->out->len - st->out_pos < NC_HTTP_STREAM_CHUNK)
    {
      if (!nc_result_next (st->res, &row, &st->error))
        {
          /* End of the statement (or its failure): close the result object
           * either way so the body stays valid JSON. */
          g_string_append_c (st->out, ']');
          if (st->error == NULL)
            {
              if (st->cur->stats)
                append_stats (st->out, nc_result_stats (st->res));
              collect_notifications (st);
              if (st->autocommit)
                st->bookmark = g_strdup (nc_result_bookmark (st->res));
            }
          g_string_append_c (st->out, '}');
          g_clear_pointer (&st->res, nc_result_free);
          st->phase = st->error != NULL ? PHASE_FINISH : PHASE_NEXT_STATEMENT;
          return;
        }
      if (!st->first_row)
        g_string_append_c (st->out, ',');
      st->first_row = FALSE;
      append_row (st->out, st->cur, row, n);
    }
}

/* Ends the claim on st->t: keep (new expiry returned) or drop it. */
static gint64
release (NcHttpTxRegistry *reg, HttpTx *t, gboolean keep)
{
  gint64 expires;
  g_mutex_lock (&reg->lock);
  if (keep)
    {
      touch (reg, t);
      t->in_use = FALSE;
      if (!g_hash_table_contains (reg->txs, &t->id))
        g_hash_table_insert (reg->txs, &t->id, t);   /* a newly opened one */
      expires = t->expires_unix;
      g_mutex_unlock (&reg->lock);
      return expires;
    }
  g_hash_table_remove (reg->txs, &t->id);
  g_mutex_unlock (&reg->lock);
  http_tx_free (t);
  return 0;
}

static void
step_finish (Stream *st)
{
  gint64 expires = 0;
  gboolean keep = FALSE;

  if (st->error == NULL && st->implicit_tx != NULL)
    nc_transaction_commit (st->implicit_tx, &st->bookmark, &st->error);
  g_clear_pointer (&st->implicit_tx, nc_transaction_free);

  if (st->t != NULL)
    {
      if (st->error == NULL && st->kind == KIND_COMMIT)
        nc_transaction_commit (st->t->tx, &st->bookmark, &st->error);
      keep = st->error == NULL && (st->kind == KIND_OPEN || st->kind == KIND_CONTINUE);
      expires = release (st->reg, st->t, keep);
      st->t = NULL;
    }

  g_string_append (st->out, "],\"errors\":[");
  if (st->error != NULL)
    {
      g_string_append (st->out, "{\"code\":");
      nc_http_json_append_string (st->out, nc_error_status (st->error));
      g_string_append (st->out, ",\"message\":");
      nc_http_json_append_string (st->out, st->error->message);
      g_string_append_c (st->out, '}');
    }
  g_string_append_c (st->out, ']');
  if (st->notes->len > 0)
    {
      g_string_append (st->out, ",\"notifications\":[");
      g_string_append_len (st->out, st->notes->str, (gssize) st->notes->len);
      g_string_append_c (st->out, ']');
    }
  if (keep)
    {
      g_autofree char *date = nc_http_rfc1123_date (expires);
      g_string_append (st->out, ",\"commit\":");
      nc_http_json_append_string (st->out, st->commit_url);
      g_string_append (st->out, ",\"transaction\":{\"expires\":");
      nc_http_json_append_string (st->out, date);
      g_string_append_c (st->out, '}');
    }
  if (st->error == NULL && st->bookmark != NULL
      && (st->kind == KIND_IMPLICIT || st->kind == KIND_COMMIT))
    {
      g_string_append (st->out, ",\"lastBookmarks\":[");
      nc_http_json_append_string (st->out, st->bookmark);
      g_string_append_c (st->out, ']');
    }
  g_string_append_c (st->out, '}');
  st->phase = PHASE_DONE;
}

static void
step (Stream *st)
{
  switch (st->phase)
    {
    case PHASE_START:
      g_string_append (st->out, "{\"results\":[");
      st->autocommit = st->kind == KIND_IMPLICIT && st->r.statements->len == 1;
      /* Several statements committed together need one transaction; none
       * at all needs no transaction (nor the writer lock). */
      if (st->kind == KIND_IMPLICIT && st->r.statements->len > 1)
        {
          st->implicit_tx = nc_db_begin (st->db, &st->opts, &st->error);
          if (st->implicit_tx == NULL)
            {
              st->phase = PHASE_FINISH;
              return;
            }
        }
      st->phase = PHASE_NEXT_STATEMENT;
      return;
    case PHASE_NEXT_STATEMENT:
      step_next_statement (st);
      return;
    case PHASE_ROWS:
      step_rows (st);
      return;
    case PHASE_FINISH:
      step_finish (st);
      return;
    case PHASE_DONE:
    default:
      return;
    }
}

static ssize_t
stream_read_cb (void *cls, uint64_t pos, char *buf, size_t max)
{
  Stream *st = cls;
  gsize avail;

  while (st->out->len == st->out_pos && st->phase != PHASE_DONE)
    {
      g_string_truncate (st->out, 0);
      st->out_pos = 0;
      step (st);
    }
  avail = st->out->len - st->out_pos;
  if (avail == 0)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (avail > max)
    avail = max;
  memcpy (buf, st->out->str + st->out_pos, avail);
  st->out_pos += avail;
  return (ssize_t) avail;
}

/* Runs when the response is done or the client went away: whatever the
 * stream still holds is rolled back. */
static void
stream_free_cb (void *cls)
{
  Stream *st = cls;

  g_clear_pointer (&st->res, nc_result_free);
  g_clear_pointer (&st->implicit_tx, nc_transaction_free);
  if (st->t != NULL)
    {
      g_debug ("HTTP transaction %" G_GUINT64_FORMAT ": client went away; rolled back", st->t->id);
      release (st->reg, st->t, FALSE);
    }
  tx_request_clear (&st->r);
  g_string_free (st->out, TRUE);
  g_string_free (st->notes, TRUE);
  g_clear_error (&st->error);
  g_free (st->bookmark);
  g_free (st->commit_url);
  g_free (st->user);
  g_free (st);
}

static Stream *
stream_new (NcHttpRequest *req, Kind kind, TxRequest *r)
{
  Stream *st = g_new0 (Stream, 1);
  const char *mode = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Access-Mode");
  gboolean may_write = req->role >= NC_USER_ROLE_EDITOR;

  st->reg = req->server->txs;
  st->db = req->server->db;
  st->kind = kind;
  st->r = *r;                 /* takes the parsed request */
  memset (r, 0, sizeof *r);
  st->user = g_strdup (req->user);
  st->out = g_string_sized_new (NC_HTTP_STREAM_CHUNK + 4096);
  st->notes = g_string_new (NULL);
  st->opts.mode = may_write && !(mode != NULL && g_ascii_strcasecmp (mode, "READ") == 0)
                    ? NC_ACCESS_WRITE : NC_ACCESS_READ;
  st->opts.bookmarks = (const char *const *) st->r.bookmarks->pdata;
  st->opts.user = st->user;
  st->opts.may_write = may_write;
  st->opts.is_admin = req->role == NC_USER_ROLE_ADMIN;
  return st;
}

static enum MHD_Result
reply_stream (NcHttpRequest *req, guint status, Stream *st, const char *location)
{
  struct MHD_Response *resp =
    MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, NC_HTTP_STREAM_CHUNK, stream_read_cb, st,
                                       stream_free_cb);
  enum MHD_Result ret;

  if (resp == NULL)
    {
      stream_free_cb (st);
      return MHD_NO;
    }
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json;charset=utf-8");
  if (location != NULL)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_LOCATION, location);
  nc_http_count_status (req->server, status);
  ret = MHD_queue_response (req->conn, status, resp);
  MHD_destroy_response (resp);
  return ret;
}

/* POST /db/{db}/tx/commit */
static enum MHD_Result
handle_implicit (NcHttpRequest *req, TxRequest *r)
{
  return reply_stream (req, MHD_HTTP_OK, stream_new (req, KIND_IMPLICIT, r), NULL);
}

/* POST /db/{db}/tx: the transaction is begun here (begin may wait for the
 * writer lock or a bookmark), registered when the response is complete. */
static enum MHD_Result
handle_open (NcHttpRequest *req, const char *db_name, TxRequest *r)
{
  NcHttpTxRegistry *reg = req->server->txs;
  g_autofree char *base = nc_http_base_url (req);
  g_autofree char *location = NULL;
  g_autoptr (GError) error = NULL;
  Stream *st = stream_new (req, KIND_OPEN, r);
  NcTransaction *tx = nc_db_begin (req->server->db, &st->opts, &error);

  if (tx == NULL)
    {
      /* Nothing was opened: report like a failed statement (Neo4j answers
       * begin failures inside the body too). */
      st->kind = KIND_IMPLICIT;
      g_array_set_size (st->r.statements, 0);
      st->error = g_steal_pointer (&error);
      return reply_stream (req, MHD_HTTP_OK, st, NULL);
    }
  st->t = g_new0 (HttpTx, 1);
  st->t->tx = tx;
  st->t->owner = g_strdup (req->user);
  st->t->in_use = TRUE;
  g_mutex_lock (&reg->lock);
  st->t->id = reg->next_id++;
  g_mutex_unlock (&reg->lock);
  location = g_strdup_printf ("%s/db/%s/tx/%" G_GUINT64_FORMAT, base, db_name, st->t->id);
  st->commit_url = g_strdup_printf ("%s/commit", location);
  return reply_stream (req, MHD_HTTP_CREATED, st, location);
}

/* Takes the transaction for this request (in_use), or replies 404/409. */
static HttpTx *
claim (NcHttpRequest *req, guint64 id, enum MHD_Result *ret)
{
  NcHttpTxRegistry *reg = req->server->txs;
  HttpTx *t;

  g_mutex_lock (&reg->lock);
  t = g_hash_table_lookup (reg->txs, &id);
  if (t != NULL && g_strcmp0 (t->owner, req->user) != 0)
    t = NULL;
  if (t != NULL && !t->in_use && t->expires_mono <= g_get_monotonic_time ())
    {
      /* Expired but not reaped yet: same answer as after the reaper ran. */
      g_hash_table_remove (reg->txs, &id);
      g_mutex_unlock (&reg->lock);
      http_tx_free (t);
      t = NULL;
      g_mutex_lock (&reg->lock);
    }
  if (t == NULL)
    {
      g_mutex_unlock (&reg->lock);
      g_autoptr (GError) error = g_error_new (
        NC_ERROR, NC_ERROR_TX_NOT_FOUND,
        "Unrecognized transaction id %" G_GUINT64_FORMAT ". Transaction may have timed out "
        "(NORNICDB_HTTP_TX_TIMEOUT) and been rolled back, or already been committed.", id);
      *ret = nc_http_reply_error (req, MHD_HTTP_NOT_FOUND, error);
      return NULL;
    }
  if (t->in_use)
    {
      g_mutex_unlock (&reg->lock);
      g_autoptr (GError) error = g_error_new (
        NC_ERROR, NC_ERROR_REQUEST_INVALID,
        "Transaction %" G_GUINT64_FORMAT " is in use by another request; send one request at a time.", id);
      *ret = nc_http_reply_error (req, MHD_HTTP_CONFLICT, error);
      return NULL;
    }
  t->in_use = TRUE;
  g_mutex_unlock (&reg->lock);
  return t;
}

static enum MHD_Result
handle_existing (NcHttpRequest *req, const char *db_name, guint64 id, gboolean commit,
                 gboolean rollback, TxRequest *r, const GError *format_error_)
{
  enum MHD_Result ret = MHD_NO;
  HttpTx *t = claim (req, id, &ret);
  g_autofree char *base = NULL;
  Stream *st;

  if (t == NULL)
    return ret;
  if (format_error_ != NULL)
    {
      release (req->server->txs, t, FALSE);
      return nc_http_reply_error (req, MHD_HTTP_BAD_REQUEST, format_error_);
    }
  if (rollback)
    {
      release (req->server->txs, t, FALSE);
      return nc_http_reply (req, MHD_HTTP_OK, g_strdup ("{\"results\":[],\"errors\":[]}"), NULL);
    }
  base = nc_http_base_url (req);
  st = stream_new (req, commit ? KIND_COMMIT : KIND_CONTINUE, r);
  st->t = t;
  st->commit_url = g_strdup_printf ("%s/db/%s/tx/%" G_GUINT64_FORMAT "/commit", base, db_name, id);
  return reply_stream (req, MHD_HTTP_OK, st, NULL);
}

static gboolean
parse_id (const char *text, guint64 *id)
{
  char *end = NULL;
  if (text == NULL || !g_ascii_isdigit (*text))
    return FALSE;
  *id = g_ascii_strtoull (text, &end, 10);
  return end != NULL && *end == '\0' && *id > 0;
}

enum MHD_Result
nc_http_tx_handle (NcHttpRequest *req)
{
  g_auto (GStrv) parts = g_strsplit (req->path + 1, "/", -1);  /* db, name, tx, ... */
  guint n = g_strv_length (parts);
  const char *db_name;
  gboolean post = g_str_equal (req->method, "POST");
  gboolean del = g_str_equal (req->method, "DELETE");
  g_autoptr (GError) error = NULL;
  TxRequest r = { 0 };
  enum MHD_Result ret;
  guint64 id = 0;

  if (n < 3 || n > 5 || !g_str_equal (parts[2], "tx") || *parts[1] == '\0')
    return nc_http_reply (req, MHD_HTTP_NOT_FOUND, g_strdup ("{\"error\":\"not found\"}"), NULL);
  db_name = parts[1];
  if (!g_str_equal (db_name, "neo4j") && !g_str_equal (db_name, "system"))
    {
      g_set_error (&error, NC_ERROR, NC_ERROR_DATABASE_NOT_FOUND,
                   "Database does not exist. Database name: '%s'.", db_name);
      return nc_http_reply_error (req, MHD_HTTP_NOT_FOUND, error);
    }

  /* /db/x/tx  /db/x/tx/commit  /db/x/tx/{id}  /db/x/tx/{id}/commit */
  if (n == 3)
    {
      if (!post)
        return nc_http_reply (req, MHD_HTTP_METHOD_NOT_ALLOWED,
                              g_strdup ("{\"error\":\"use POST to open a transaction\"}"), "Allow", "POST", NULL);
      if (!parse_tx_request (req->body, req->body_len, &r, &error))
        ret = nc_http_reply_error (req, MHD_HTTP_BAD_REQUEST, error);
      else
        ret = handle_open (req, db_name, &r);
      tx_request_clear (&r);
      return ret;
    }
  if (n == 4 && g_str_equal (parts[3], "commit"))
    {
      if (!post)
        return nc_http_reply (req, MHD_HTTP_METHOD_NOT_ALLOWED,
                              g_strdup ("{\"error\":\"use POST to commit\"}"), "Allow", "POST", NULL);
      if (!parse_tx_request (req->body, req->body_len, &r, &error))
        ret = nc_http_reply_error (req, MHD_HTTP_BAD_REQUEST, error);
      else
        ret = handle_implicit (req, &r);
      tx_request_clear (&r);
      return ret;
    }
  if (!parse_id (parts[3], &id) || (n == 5 && !g_str_equal (parts[4], "commit")))
    {
      g_set_error (&error, NC_ERROR, NC_ERROR_TX_NOT_FOUND,
                   "Unrecognized transaction id '%s'.", parts[3]);
      return nc_http_reply_error (req, MHD_HTTP_NOT_FOUND, error);
    }
  if (n == 4 && del)
    return handle_existing (req, db_name, id, FALSE, TRUE, &r, NULL);
  if (!post)
    return nc_http_reply (req, MHD_HTTP_METHOD_NOT_ALLOWED,
                          g_strdup ("{\"error\":\"use POST (or DELETE to roll back)\"}"),
                          "Allow", n == 4 ? "POST, DELETE" : "POST", NULL);
  parse_tx_request (req->body, req->body_len, &r, &error);
  ret = handle_existing (req, db_name, id, n == 5, FALSE, &r, error);
  tx_request_clear (&r);
  return ret;
}
