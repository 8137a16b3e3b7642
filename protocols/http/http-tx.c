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

/* Drains `res` into one element of "results". Only a complete statement's
 * output is appended to `results`. */
static gboolean
render_result (NcResult *res, const Statement *s, GString *results, GString *notifications,
               GError **error)
{
  g_autoptr (GString) out = g_string_new ("{\"columns\":[");
  const char *const *fields = nc_result_fields (res);
  guint n = nc_result_n_fields (res);
  const NcValue *row;
  gboolean first = TRUE;

  for (guint i = 0; i < n; i++)
    {
      if (i)
        g_string_append_c (out, ',');
      nc_http_json_append_string (out, fields[i]);
    }
  g_string_append (out, "],\"data\":[");
  while (nc_result_next (res, &row, error))
    {
      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;
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
  if (error != NULL && *error != NULL)
    return FALSE;
  g_string_append_c (out, ']');
  if (s->stats)
    append_stats (out, nc_result_stats (res));
  g_string_append_c (out, '}');

  {
    NcValue notes = nc_result_notifications (res);
    if (notes.type == NC_VALUE_LIST)
      for (guint32 i = 0; i < notes.u.list->len; i++)
        {
          if (notifications->len > 0)
            g_string_append_c (notifications, ',');
          nc_http_json_append_row (notifications, &notes.u.list->items[i]);
        }
    nc_value_clear (&notes);
  }

  if (results->len > 0)
    g_string_append_c (results, ',');
  g_string_append_len (results, out->str, (gssize) out->len);
  return TRUE;
}

static gboolean
run_in_tx (NcTransaction *tx, const TxRequest *r, GString *results, GString *notifications,
           GError **error)
{
  for (guint i = 0; i < r->statements->len; i++)
    {
      const Statement *s = &g_array_index (r->statements, Statement, i);
      g_autoptr (NcResult) res = nc_transaction_run (tx, s->text, s->params, error);
      if (res == NULL || !render_result (res, s, results, notifications, error))
        return FALSE;
    }
  return TRUE;
}

static void
fill_options (NcHttpRequest *req, const TxRequest *r, NcTxOptions *opts)
{
  const char *mode = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Access-Mode");
  gboolean may_write = req->role >= NC_USER_ROLE_EDITOR;

  memset (opts, 0, sizeof *opts);
  opts->mode = may_write && !(mode != NULL && g_ascii_strcasecmp (mode, "READ") == 0)
                 ? NC_ACCESS_WRITE : NC_ACCESS_READ;
  opts->bookmarks = (const char *const *) r->bookmarks->pdata;
  opts->user = req->user;
  opts->may_write = may_write;
  opts->is_admin = req->role == NC_USER_ROLE_ADMIN;
}

/* Assembles the response document. `error` (nullable) goes into "errors". */
static char *
response_json (GString *results, GString *notifications, const GError *error, const char *commit_url,
               gint64 expires_unix, const char *bookmark)
{
  GString *out = g_string_new ("{\"results\":[");
  g_string_append_len (out, results->str, (gssize) results->len);
  g_string_append (out, "],\"errors\":[");
  if (error != NULL)
    {
      g_string_append (out, "{\"code\":");
      nc_http_json_append_string (out, nc_error_status (error));
      g_string_append (out, ",\"message\":");
      nc_http_json_append_string (out, error->message);
      g_string_append_c (out, '}');
    }
  g_string_append_c (out, ']');
  if (notifications->len > 0)
    {
      g_string_append (out, ",\"notifications\":[");
      g_string_append_len (out, notifications->str, (gssize) notifications->len);
      g_string_append_c (out, ']');
    }
  if (commit_url != NULL)
    {
      g_autofree char *expires = nc_http_rfc1123_date (expires_unix);
      g_string_append (out, ",\"commit\":");
      nc_http_json_append_string (out, commit_url);
      g_string_append (out, ",\"transaction\":{\"expires\":");
      nc_http_json_append_string (out, expires);
      g_string_append_c (out, '}');
    }
  if (bookmark != NULL)
    {
      g_string_append (out, ",\"lastBookmarks\":[");
      nc_http_json_append_string (out, bookmark);
      g_string_append_c (out, ']');
    }
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}

/* POST /db/{db}/tx/commit */
static enum MHD_Result
handle_implicit (NcHttpRequest *req, const TxRequest *r)
{
  NcDb *db = req->server->db;
  g_autoptr (GString) results = g_string_new (NULL);
  g_autoptr (GString) notes = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *bookmark = NULL;
  NcTxOptions opts;

  fill_options (req, r, &opts);
  if (r->statements->len == 0)
    {
      /* Nothing to run: no transaction (and no writer lock) needed. */
    }
  else if (r->statements->len == 1)
    {
      /* One statement: auto-commit lets the engine pick READ or WRITE, so
       * a read does not take the writer lock. */
      const Statement *s = &g_array_index (r->statements, Statement, 0);
      g_autoptr (NcResult) res = nc_db_run_autocommit (db, &opts, s->text, s->params, &error);
      if (res != NULL && render_result (res, s, results, notes, &error))
        bookmark = g_strdup (nc_result_bookmark (res));
    }
  else
    {
      g_autoptr (NcTransaction) tx = nc_db_begin (db, &opts, &error);
      if (tx != NULL && run_in_tx (tx, r, results, notes, &error))
        nc_transaction_commit (tx, &bookmark, &error);
    }
  return nc_http_reply (req, MHD_HTTP_OK,
                        response_json (results, notes, error, NULL, 0, error ? NULL : bookmark), NULL);
}

/* POST /db/{db}/tx */
static enum MHD_Result
handle_open (NcHttpRequest *req, const char *db_name, const TxRequest *r)
{
  NcHttpTxRegistry *reg = req->server->txs;
  g_autoptr (GString) results = g_string_new (NULL);
  g_autoptr (GString) notes = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *base = nc_http_base_url (req);
  g_autofree char *location = NULL;
  g_autofree char *commit = NULL;
  NcTxOptions opts;
  HttpTx *t;

  fill_options (req, r, &opts);
  NcTransaction *tx = nc_db_begin (req->server->db, &opts, &error);
  if (tx == NULL)
    return nc_http_reply (req, MHD_HTTP_OK, response_json (results, notes, error, NULL, 0, NULL), NULL);
  if (!run_in_tx (tx, r, results, notes, &error))
    {
      nc_transaction_free (tx);
      return nc_http_reply (req, MHD_HTTP_OK, response_json (results, notes, error, NULL, 0, NULL), NULL);
    }

  t = g_new0 (HttpTx, 1);
  t->tx = tx;
  t->owner = g_strdup (req->user);
  touch (reg, t);
  g_mutex_lock (&reg->lock);
  t->id = reg->next_id++;
  g_hash_table_insert (reg->txs, &t->id, t);
  g_mutex_unlock (&reg->lock);

  location = g_strdup_printf ("%s/db/%s/tx/%" G_GUINT64_FORMAT, base, db_name, t->id);
  commit = g_strdup_printf ("%s/commit", location);
  return nc_http_reply (req, MHD_HTTP_CREATED,
                        response_json (results, notes, NULL, commit, t->expires_unix, NULL),
                        MHD_HTTP_HEADER_LOCATION, location, NULL);
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

/* Ends a claim: keeps the transaction (resetting its expiry; returns the
 * new expiry, read before the reaper may touch it) or drops it. */
static gint64
release (NcHttpRequest *req, HttpTx *t, gboolean keep)
{
  NcHttpTxRegistry *reg = req->server->txs;
  gint64 expires;
  g_mutex_lock (&reg->lock);
  if (keep)
    {
      touch (reg, t);
      t->in_use = FALSE;
      expires = t->expires_unix;
      g_mutex_unlock (&reg->lock);
      return expires;
    }
  g_hash_table_remove (reg->txs, &t->id);
  g_mutex_unlock (&reg->lock);
  http_tx_free (t);
  return 0;
}

static enum MHD_Result
handle_existing (NcHttpRequest *req, const char *db_name, guint64 id, gboolean commit,
                 gboolean rollback, const TxRequest *r, const GError *format_error_)
{
  g_autoptr (GString) results = g_string_new (NULL);
  g_autoptr (GString) notes = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *bookmark = NULL;
  enum MHD_Result ret = MHD_NO;
  HttpTx *t = claim (req, id, &ret);

  if (t == NULL)
    return ret;
  if (format_error_ != NULL)
    {
      release (req, t, FALSE);
      return nc_http_reply_error (req, MHD_HTTP_BAD_REQUEST, format_error_);
    }
  if (rollback)
    {
      release (req, t, FALSE);
      return nc_http_reply (req, MHD_HTTP_OK, response_json (results, notes, NULL, NULL, 0, NULL), NULL);
    }
  if (!run_in_tx (t->tx, r, results, notes, &error))
    {
      release (req, t, FALSE);
      return nc_http_reply (req, MHD_HTTP_OK, response_json (results, notes, error, NULL, 0, NULL), NULL);
    }
  if (commit)
    {
      nc_transaction_commit (t->tx, &bookmark, &error);
      release (req, t, FALSE);
      return nc_http_reply (req, MHD_HTTP_OK,
                            response_json (results, notes, error, NULL, 0, error ? NULL : bookmark), NULL);
    }
  {
    g_autofree char *base = nc_http_base_url (req);
    g_autofree char *commit_url = g_strdup_printf ("%s/db/%s/tx/%" G_GUINT64_FORMAT "/commit",
                                                   base, db_name, id);
    gint64 expires = release (req, t, TRUE);
    return nc_http_reply (req, MHD_HTTP_OK,
                          response_json (results, notes, NULL, commit_url, expires, NULL), NULL);
  }
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
    return handle_existing (req, db_name, id, FALSE, TRUE, NULL, NULL);
  if (!post)
    return nc_http_reply (req, MHD_HTTP_METHOD_NOT_ALLOWED,
                          g_strdup ("{\"error\":\"use POST (or DELETE to roll back)\"}"),
                          "Allow", n == 4 ? "POST, DELETE" : "POST", NULL);
  parse_tx_request (req->body, req->body_len, &r, &error);
  ret = handle_existing (req, db_name, id, n == 5, FALSE, &r, error);
  tx_request_clear (&r);
  return ret;
}
