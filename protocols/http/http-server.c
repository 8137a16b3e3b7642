/* HTTP server: listening, request bodies, authentication, routing, and the
 * small endpoints (discovery, /health, /metrics, /admin/...). The transaction
 * API lives in http-tx.c, value rendering in http-json.c.
 *
 * Threading: libmicrohttpd runs with MHD_USE_THREAD_PER_CONNECTION (plus
 * its internal listening thread). Handlers block: a Cypher statement may
 * wait for the writer lock, a bookmark or a durable commit (seconds in a
 * cluster), and a module admin request waits for the main loop. With a
 * shared thread pool one such request would stall every other connection
 * assigned to that thread; with a thread per connection a slow query or a
 * slow client (MHD_OPTION_CONNECTION_TIMEOUT closes idle ones) only ties
 * up its own thread. The number of threads is bounded by
 * MHD_OPTION_CONNECTION_LIMIT. Nothing here runs on the GLib main loop
 * except module admin handlers, which are handed over with
 * g_main_context_invoke_full and awaited on a GCond with a timeout (503).
 *
 * Core admin endpoints (admin role; JSON bodies):
 *   GET    /admin/users                  -> {"users":[{"username","role"}]}
 *   POST   /admin/users                  {username,password,role} -> 201
 *   DELETE /admin/users/{name}           -> 200 {"deleted":name}; 404 unknown
 *   POST   /admin/users/{name}/password  {password} -> 200
 *   POST   /admin/users/{name}/role      {role} -> 200
 *   POST   /admin/snapshot               -> 200 {"path":...}
 *   POST   /admin/backup                 -> 200 application/gzip (core/backup.h)
 * Anything else under /admin/ goes to the replication module's handler; a
 * path documented for another mode answers 409 naming it, unknown paths 404.
 */
#define G_LOG_DOMAIN "nornicdb-http"

#include "http-private.h"
#include "http-json.h"
#include "errors.h"
#include "backup.h"

#include <netdb.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#define NC_HTTP_CONNECTION_LIMIT 512
#define NC_HTTP_IDLE_TIMEOUT_S 30
#define NC_HTTP_ADMIN_TIMEOUT_US (10 * G_USEC_PER_SEC)
#define NC_HTTP_NEO4J_VERSION "5.26.0"

typedef struct {
  GString *body;
  guint64 received;
  gboolean too_large;
  gboolean replied;
} Upload;

/* ---- replies ------------------------------------------------------------------ */

void
nc_http_count_status (NcHttpServer *server, guint status)
{
  g_autofree char *labels = g_strdup_printf ("code=\"%u\"", status);
  nc_metrics_inc (server->metrics, "nornicdb_http_requests_total", labels, 1);
}

static enum MHD_Result
queue (NcHttpServer *server, struct MHD_Connection *conn, guint status, const char *content_type,
       char *body, va_list headers)
{
  gsize len = strlen (body);
  struct MHD_Response *resp =
    MHD_create_response_from_buffer_with_free_callback (len, body, g_free);
  enum MHD_Result ret;
  const char *name;

  if (resp == NULL)
    {
      g_free (body);
      return MHD_NO;
    }
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  MHD_add_response_header (resp, "X-Content-Type-Options", "nosniff");
  while ((name = va_arg (headers, const char *)) != NULL)
    {
      const char *value = va_arg (headers, const char *);
      MHD_add_response_header (resp, name, value);
    }
  nc_http_count_status (server, status);
  ret = MHD_queue_response (conn, status, resp);
  MHD_destroy_response (resp);
  return ret;
}

enum MHD_Result
nc_http_reply (NcHttpRequest *req, guint status, char *json, ...)
{
  va_list ap;
  enum MHD_Result ret;
  va_start (ap, json);
  ret = queue (req->server, req->conn, status, "application/json;charset=utf-8", json, ap);
  va_end (ap);
  return ret;
}

static char *
errors_json (const char *code, const char *message)
{
  GString *out = g_string_new ("{\"errors\":[{\"code\":");
  nc_http_json_append_string (out, code);
  g_string_append (out, ",\"message\":");
  nc_http_json_append_string (out, message);
  g_string_append (out, "}]}");
  return g_string_free (out, FALSE);
}

enum MHD_Result
nc_http_reply_error (NcHttpRequest *req, guint status, const GError *error)
{
  if (status == 0)
    status = nc_error_http_status (error);
  if (error->domain == NC_ERROR && error->code == NC_ERROR_UNAUTHORIZED)
    return nc_http_reply (req, status, errors_json (nc_error_status (error), error->message),
                          MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"Neo4j\"", NULL);
  return nc_http_reply (req, status, errors_json (nc_error_status (error), error->message), NULL);
}

static enum MHD_Result
reply_code (NcHttpRequest *req, guint status, NcErrorCode code, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static enum MHD_Result
reply_code (NcHttpRequest *req, guint status, NcErrorCode code, const char *fmt, ...)
{
  va_list ap;
  g_autoptr (GError) error = NULL;
  g_autofree char *msg = NULL;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  error = g_error_new_literal (NC_ERROR, code, msg);
  return nc_http_reply_error (req, status, error);
}

/* Plain {"error": "..."} bodies for /admin/... and 404/405, as the clustering
 * guide's admin endpoints use. */
static enum MHD_Result
reply_plain_error (NcHttpRequest *req, guint status, const char *message, ...)
  G_GNUC_NULL_TERMINATED;

static enum MHD_Result
reply_plain_error (NcHttpRequest *req, guint status, const char *message, ...)
{
  GString *out = g_string_new ("{\"error\":");
  va_list ap;
  enum MHD_Result ret;
  nc_http_json_append_string (out, message);
  g_string_append_c (out, '}');
  va_start (ap, message);
  ret = queue (req->server, req->conn, status, "application/json;charset=utf-8",
               g_string_free (out, FALSE), ap);
  va_end (ap);
  return ret;
}

/* ---- addresses ----------------------------------------------------------------- */

/* Splits "host:port", "[v6]:port" or "host" (port 0). */
static char *
host_of (const char *hostport, guint *port)
{
  const char *colon;
  *port = 0;
  if (hostport == NULL || *hostport == '\0')
    return NULL;
  /* The Host header is the client's to choose and ends up in URLs we hand
   * out: accept only what a host name or address can contain. */
  for (const char *p = hostport; *p; p++)
    if (!g_ascii_isalnum (*p) && strchr (".-_:[]", *p) == NULL)
      return NULL;
  if (hostport[0] == '[')
    {
      const char *end = strchr (hostport, ']');
      if (end == NULL)
        return NULL;
      if (end[1] == ':')
        *port = (guint) g_ascii_strtoull (end + 2, NULL, 10);
      return g_strndup (hostport, (gsize) (end - hostport + 1));
    }
  colon = strrchr (hostport, ':');
  if (colon != NULL && strchr (hostport, ':') == colon)
    {
      *port = (guint) g_ascii_strtoull (colon + 1, NULL, 10);
      return g_strndup (hostport, (gsize) (colon - hostport));
    }
  return g_strdup (hostport);
}

/* Host name clients used to reach us: advertised, else the Host header. */
static char *
request_host (NcHttpRequest *req)
{
  const char *adv = nc_config_get (req->server->config, "NORNICDB_HTTP_ADVERTISE_ADDRESS");
  const char *host_hdr = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  guint port;
  char *host = host_of (adv != NULL && *adv ? adv : host_hdr, &port);
  return host != NULL ? host : g_strdup ("localhost");
}

char *
nc_http_base_url (NcHttpRequest *req)
{
  const char *adv = nc_config_get (req->server->config, "NORNICDB_HTTP_ADVERTISE_ADDRESS");
  const char *host_hdr = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  const char *scheme = req->tls ? "https" : "http";
  guint port = 0;
  g_autofree char *host = NULL;

  if (adv != NULL && *adv && !req->tls)
    return g_strdup_printf ("http://%s", adv);
  host = host_of (host_hdr, &port);
  if (host == NULL)
    host = g_strdup ("localhost");
  if (port == 0)
    port = req->tls ? req->server->https_port : req->server->http_port;
  return g_strdup_printf ("%s://%s:%u", scheme, host, port);
}

static char *
numeric_address (struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *info =
    MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  char buf[NI_MAXHOST];
  if (info == NULL || info->client_addr == NULL)
    return g_strdup ("unknown");
  socklen_t len = info->client_addr->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                                            : sizeof (struct sockaddr_in);
  if (getnameinfo (info->client_addr, len, buf, sizeof buf, NULL, 0, NI_NUMERICHOST) != 0)
    return g_strdup ("unknown");
  return g_strdup (buf);
}

/* ---- authentication ----------------------------------------------------------- */

static gboolean
authenticate (NcHttpRequest *req, GError **error)
{
  NcUsers *users = nc_db_users (req->server->db);
  const char *header;
  g_autofree guchar *decoded = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;
  char *colon;

  if (!nc_users_auth_enabled (users))
    {
      req->role = NC_USER_ROLE_ADMIN;
      return TRUE;
    }
  header = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (header == NULL)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_UNAUTHORIZED, "No authentication header supplied.");
      return FALSE;
    }
  if (g_ascii_strncasecmp (header, "Basic ", 6) != 0)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_UNAUTHORIZED,
                           "Invalid authentication header: only Basic authentication is supported.");
      return FALSE;
    }
  header += 6;
  while (*header == ' ')
    header++;
  decoded = g_base64_decode (header, &len);
  text = g_strndup ((const char *) decoded, len);
  colon = decoded != NULL ? strchr (text, ':') : NULL;
  if (colon == NULL || strlen (text) != len || !g_utf8_validate (text, -1, NULL))
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_UNAUTHORIZED,
                           "Invalid authentication header: expected base64 of user:password.");
      return FALSE;
    }
  *colon = '\0';
  if (!nc_users_authenticate (users, req->client_addr, text, colon + 1, &req->role, error))
    return FALSE;
  req->user = g_strdup (text);
  return TRUE;
}

static enum MHD_Result
reply_auth_failure (NcHttpRequest *req, const GError *error)
{
  return nc_http_reply_error (req, 0, error);
}

/* ---- discovery, health, metrics --------------------------------------------- */

static enum MHD_Result
handle_discovery (NcHttpRequest *req)
{
  NcConfig *config = req->server->config;
  const char *bolt_adv = nc_config_get (config, "NORNICDB_BOLT_ADVERTISE_ADDRESS");
  g_autofree char *base = nc_http_base_url (req);
  g_autofree char *bolt = NULL;
  g_autofree char *tx = NULL;
  g_autofree char *routing = NULL;
  g_autofree char *direct = NULL;
  GString *out = g_string_new (NULL);

  if (bolt_adv != NULL && *bolt_adv)
    bolt = g_strdup (bolt_adv);
  else
    {
      g_autofree char *host = request_host (req);
      bolt = g_strdup_printf ("%s:%" G_GINT64_FORMAT, host,
                              nc_config_get_int (config, "NORNICDB_BOLT_PORT"));
    }
  routing = g_strdup_printf ("neo4j://%s", bolt);
  direct = g_strdup_printf ("bolt://%s", bolt);
  tx = g_strdup_printf ("%s/db/{databaseName}/tx", base);
  g_string_append (out, "{\"bolt_routing\":");
  nc_http_json_append_string (out, routing);
  g_string_append (out, ",\"bolt_direct\":");
  nc_http_json_append_string (out, direct);
  g_string_append (out, ",\"transaction\":");
  nc_http_json_append_string (out, tx);
  g_string_append (out, ",\"neo4j_version\":\"" NC_HTTP_NEO4J_VERSION "\""
                        ",\"neo4j_edition\":\"community\"}");
  return nc_http_reply (req, MHD_HTTP_OK, g_string_free (out, FALSE), NULL);
}

/* nc_db_health_json gives the replication block (or a full document that
 * already has "status"); we answer {"status", "replication"[, "reason"]}. */
static enum MHD_Result
handle_health (NcHttpRequest *req)
{
  NcDb *db = req->server->db;
  gboolean healthy = FALSE;
  g_autofree char *json = nc_db_health_json (db, &healthy);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *block_reason = NULL;
  GString *out = g_string_new (NULL);
  JsonNode *root = NULL;

  if (json != NULL && json_parser_load_from_data (parser, json, -1, NULL))
    root = json_parser_get_root (parser);

  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root)
      && json_object_has_member (json_node_get_object (root), "status"))
    {
      /* Already the full document: serve it as it is. */
      g_string_append (out, json);
    }
  else
    {
      g_autofree char *write_block = nc_db_write_block_reason (db);
      g_string_append_printf (out, "{\"status\":\"%s\",\"replication\":",
                              healthy ? "healthy" : "unhealthy");
      g_string_append (out, root != NULL ? json : "null");
      if (!healthy)
        {
          const char *reason = NULL;
          if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
            reason = json_object_get_string_member_with_default (json_node_get_object (root),
                                                                 "reason", NULL);
          if (reason == NULL)
            reason = write_block != NULL ? write_block : "the replication module reports this node unhealthy";
          g_string_append (out, ",\"reason\":");
          nc_http_json_append_string (out, reason);
        }
      g_string_append_c (out, '}');
    }
  return nc_http_reply (req, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                        g_string_free (out, FALSE), "Cache-Control", "no-store", NULL);
}

static enum MHD_Result
handle_metrics (NcHttpRequest *req)
{
  GString *out = g_string_new (NULL);
  nc_db_render_metrics (req->server->db, out);
  /* Count this scrape before rendering the HTTP counters, so a single
   * scrape already shows the family. */
  nc_http_count_status (req->server, MHD_HTTP_OK);
  nc_metrics_render (req->server->metrics, out);
  struct MHD_Response *resp;
  gsize len = out->len;
  enum MHD_Result ret;
  char *body = g_string_free (out, FALSE);
  resp = MHD_create_response_from_buffer_with_free_callback (len, body, g_free);
  if (resp == NULL)
    {
      g_free (body);
      return MHD_NO;
    }
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
  ret = MHD_queue_response (req->conn, MHD_HTTP_OK, resp);
  MHD_destroy_response (resp);
  return ret;
}

/* ---- admin ------------------------------------------------------------------- */

typedef struct {
  gint ref;
  GMutex lock;
  GCond cond;
  gboolean done;
  gboolean cancelled;
  gboolean found;
  char *allow;       /* methods registered for the path, when not `method` */
  NcDb *db;
  char *method;
  char *path;
  char *query;       /* re-encoded query string, NULL when none */
  char *body;
  gsize body_len;
  NornicHttpReply reply;
} AdminCall;

static void
admin_call_unref (gpointer p)
{
  AdminCall *c = p;
  if (!g_atomic_int_dec_and_test (&c->ref))
    return;
  g_mutex_clear (&c->lock);
  g_cond_clear (&c->cond);
  g_free (c->method);
  g_free (c->path);
  g_free (c->query);
  g_free (c->body);
  g_free (c->reply.json);
  g_free (c->allow);
  g_free (c);
}

static enum MHD_Result
admin_query_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  (void) kind;
  GString *q = cls;
  g_autofree char *k = g_uri_escape_string (key, NULL, FALSE);
  g_autofree char *v = value ? g_uri_escape_string (value, NULL, FALSE) : NULL;
  g_string_append_printf (q, "%s%s%s%s", q->len ? "&" : "", k, v ? "=" : "", v ? v : "");
  return MHD_YES;
}

/* The query string for module admin handlers (NornicHttpReply.query):
 * libmicrohttpd hands us the path without it and the arguments decoded, so
 * they are re-encoded. NULL when there are none. */
static char *
admin_query_string (NcHttpRequest *req)
{
  GString *q = g_string_new (NULL);
  MHD_get_connection_values (req->conn, MHD_GET_ARGUMENT_KIND, admin_query_arg, q);
  if (q->len == 0)
    {
      g_string_free (q, TRUE);
      return NULL;
    }
  return g_string_free (q, FALSE);
}

/* Main loop thread: the module's registry and handlers live here. */
static gboolean
admin_call_on_main_cb (gpointer data)
{
  AdminCall *c = data;
  NornicModule *mod = NULL;
  NornicHttpHandler handler = NULL;
  NornicHttpReply reply = { 0 };
  gboolean ok = FALSE, cancelled;

  g_mutex_lock (&c->lock);
  cancelled = c->cancelled;
  g_mutex_unlock (&c->lock);
  if (!cancelled)
    {
      handler = nc_db_find_admin_handler (c->db, c->method, c->path, &mod);
      reply.query = c->query;
      if (handler != NULL)
        ok = handler (mod, c->method, c->path, c->body, c->body_len, &reply);
      else
        {
          /* Registered under another method? Then it is a 405, not a 404/409. */
          static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", NULL };
          g_autoptr (GString) allow = g_string_new (NULL);
          for (guint i = 0; methods[i] != NULL; i++)
            {
              NornicModule *other = NULL;
              if (nc_db_find_admin_handler (c->db, methods[i], c->path, &other) != NULL)
                g_string_append_printf (allow, "%s%s", allow->len ? ", " : "", methods[i]);
            }
          if (allow->len > 0)
            c->allow = g_strdup (allow->str);
        }
    }
  g_mutex_lock (&c->lock);
  c->found = handler != NULL;
  if (handler != NULL && ok)
    c->reply = reply;
  else if (handler != NULL)
    {
      g_free (reply.json);
      c->reply.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
      c->reply.json = g_strdup ("{\"error\":\"the admin handler failed\"}");
    }
  c->done = TRUE;
  g_cond_signal (&c->cond);
  g_mutex_unlock (&c->lock);
  return G_SOURCE_REMOVE;
}

static enum MHD_Result
handle_module_admin (NcHttpRequest *req)
{
  NcHttpServer *server = req->server;
  AdminCall *c = g_new0 (AdminCall, 1);
  gint64 deadline = g_get_monotonic_time () + NC_HTTP_ADMIN_TIMEOUT_US;
  gboolean done, found;
  guint status = 0;
  char *json = NULL;
  g_autofree char *allow = NULL;

  c->ref = 2;
  g_mutex_init (&c->lock);
  g_cond_init (&c->cond);
  c->db = server->db;
  c->method = g_strdup (req->method);
  c->path = g_strdup (req->path);
  c->query = admin_query_string (req);
  c->body = g_strndup (req->body, req->body_len);
  c->body_len = req->body_len;
  g_main_context_invoke_full (server->main_context, G_PRIORITY_DEFAULT, admin_call_on_main_cb, c,
                              admin_call_unref);

  g_mutex_lock (&c->lock);
  /* Wake up regularly so a shutdown (main thread blocked in
   * nc_http_server_free) does not make us wait for the full timeout. */
  while (!c->done && g_get_monotonic_time () < deadline && !g_atomic_int_get (&server->stopping))
    g_cond_wait_until (&c->cond, &c->lock,
                       MIN (deadline, g_get_monotonic_time () + 100 * G_TIME_SPAN_MILLISECOND));
  done = c->done;
  found = c->found;
  if (done)
    {
      status = c->reply.status;
      json = g_steal_pointer (&c->reply.json);
      allow = g_steal_pointer (&c->allow);
    }
  else
    c->cancelled = TRUE;
  g_mutex_unlock (&c->lock);
  admin_call_unref (c);

  if (!done)
    return reply_plain_error (req, MHD_HTTP_SERVICE_UNAVAILABLE,
                              "the server's main loop did not answer in time; try again", NULL);
  if (!found)
    {
      g_free (json);
      if (allow != NULL)
        {
          g_autofree char *msg = g_strdup_printf ("use %s %s", allow, req->path);
          return reply_plain_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, msg, "Allow", allow, NULL);
        }
      if (nc_db_is_known_admin_path (req->path))
        {
          g_autofree char *msg = g_strdup_printf (
            "%s %s is not available in this node's replication mode (%s); it belongs to another "
            "NORNICDB_CLUSTER_MODE (see the clustering guide)",
            req->method, req->path, nc_config_get (server->config, "NORNICDB_CLUSTER_MODE"));
          return reply_plain_error (req, MHD_HTTP_CONFLICT, msg, NULL);
        }
      return reply_plain_error (req, MHD_HTTP_NOT_FOUND, "no such admin endpoint", NULL);
    }
  if (json == NULL)
    json = g_strdup ("{}");
  return nc_http_reply (req, status != 0 ? status : MHD_HTTP_OK, json, NULL);
}

/* Parses a JSON object body; replies 400 and returns NULL when it is not. */
static JsonObject *
parse_object_body (NcHttpRequest *req, JsonParser *parser, enum MHD_Result *ret)
{
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  if (req->body_len == 0)
    {
      *ret = reply_code (req, MHD_HTTP_BAD_REQUEST, NC_ERROR_REQUEST_FORMAT,
                         "The request body must be a JSON object.");
      return NULL;
    }
  if (!g_utf8_validate_len (req->body, req->body_len, NULL))
    {
      *ret = reply_code (req, MHD_HTTP_BAD_REQUEST, NC_ERROR_REQUEST_FORMAT,
                         "Unable to deserialize request: the body is not valid UTF-8.");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, req->body, (gssize) req->body_len, &error))
    {
      *ret = reply_code (req, MHD_HTTP_BAD_REQUEST, NC_ERROR_REQUEST_FORMAT,
                         "Unable to deserialize request: %s", error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      *ret = reply_code (req, MHD_HTTP_BAD_REQUEST, NC_ERROR_REQUEST_FORMAT,
                         "The request body must be a JSON object.");
      return NULL;
    }
  return json_node_get_object (root);
}

/* A string member, or NULL after replying 400. */
static const char *
string_member (NcHttpRequest *req, JsonObject *o, const char *name, enum MHD_Result *ret)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    {
      *ret = reply_code (req, MHD_HTTP_BAD_REQUEST, NC_ERROR_REQUEST_FORMAT,
                         "\"%s\" must be a string.", name);
      return NULL;
    }
  return json_node_get_string (n);
}

/* A user change is a replicated write (nc_db_create_user & co): besides
 * validation (400) it fails like a graph write where writes are not
 * accepted (NotALeader 409, blocked writes 503) or another change is in
 * flight (503); the status comes from the error table. */
static enum MHD_Result
reply_users_error (NcHttpRequest *req, const GError *error)
{
  guint status = error->domain == NC_ERROR && error->code == NC_ERROR_ARGUMENT
                   ? MHD_HTTP_BAD_REQUEST
                   : error->domain == NC_ERROR ? nc_error_http_status (error) : MHD_HTTP_INTERNAL_SERVER_ERROR;
  return reply_plain_error (req, status, error->message, NULL);
}

static enum MHD_Result
handle_users (NcHttpRequest *req, const char *rest)
{
  NcUsers *users = nc_db_users (req->server->db);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  enum MHD_Result ret = MHD_NO;
  JsonObject *o;

  if (*rest == '\0' && g_str_equal (req->method, "GET"))
    {
      g_autoptr (GPtrArray) names = nc_users_list (users);
      GString *out = g_string_new ("{\"users\":[");
      for (guint i = 0; i < names->len; i++)
        {
          if (i)
            g_string_append_c (out, ',');
          g_string_append (out, "{\"username\":");
          nc_http_json_append_string (out, names->pdata[i]);
          g_string_append (out, ",\"role\":");
          nc_http_json_append_string (out, nc_user_role_name (nc_users_role (users, names->pdata[i])));
          g_string_append_c (out, '}');
        }
      g_string_append (out, "]}");
      return nc_http_reply (req, MHD_HTTP_OK, g_string_free (out, FALSE), NULL);
    }
  if (*rest == '\0' && g_str_equal (req->method, "POST"))
    {
      const char *name, *password, *role_name;
      NcUserRole role;
      GString *out;

      if ((o = parse_object_body (req, parser, &ret)) == NULL
          || (name = string_member (req, o, "username", &ret)) == NULL
          || (password = string_member (req, o, "password", &ret)) == NULL)
        return ret;
      role_name = "reader";
      if (json_object_has_member (o, "role")
          && (role_name = string_member (req, o, "role", &ret)) == NULL)
        return ret;
      role = nc_user_role_from_name (role_name);
      if (role == NC_USER_ROLE_NONE)
        return reply_plain_error (req, MHD_HTTP_BAD_REQUEST,
                                  "\"role\" must be one of reader, editor, admin", NULL);
      if (nc_users_role (users, name) != NC_USER_ROLE_NONE)
        return reply_plain_error (req, MHD_HTTP_CONFLICT, "a user with that name already exists", NULL);
      if (!nc_db_create_user (req->server->db, name, password, role, FALSE, &error))
        return reply_users_error (req, error);
      out = g_string_new ("{\"username\":");
      nc_http_json_append_string (out, name);
      g_string_append_printf (out, ",\"role\":\"%s\"}", nc_user_role_name (role));
      return nc_http_reply (req, MHD_HTTP_CREATED, g_string_free (out, FALSE), NULL);
    }
  if (*rest == '/')
    {
      g_autofree char *name = g_strdup (rest + 1);
      char *slash = strchr (name, '/');
      const char *action = "";
      if (slash != NULL)
        {
          *slash = '\0';
          action = slash + 1;
        }
      if (*name == '\0')
        return reply_plain_error (req, MHD_HTTP_NOT_FOUND, "no such admin endpoint", NULL);
      NcUserRole current = nc_users_role (users, name);

      if (*action == '\0' && g_str_equal (req->method, "DELETE"))
        {
          if (current == NC_USER_ROLE_NONE)
            return reply_plain_error (req, MHD_HTTP_NOT_FOUND, "no such user", NULL);
          if (!nc_db_drop_user (req->server->db, name, FALSE, &error))
            return current == NC_USER_ROLE_ADMIN && g_error_matches (error, NC_ERROR, NC_ERROR_ARGUMENT)
                     ? reply_plain_error (req, MHD_HTTP_CONFLICT, error->message, NULL)
                     : reply_users_error (req, error);
          GString *out = g_string_new ("{\"deleted\":");
          nc_http_json_append_string (out, name);
          g_string_append_c (out, '}');
          return nc_http_reply (req, MHD_HTTP_OK, g_string_free (out, FALSE), NULL);
        }
      if (g_str_equal (action, "password") && g_str_equal (req->method, "POST"))
        {
          const char *password;
          if (current == NC_USER_ROLE_NONE)
            return reply_plain_error (req, MHD_HTTP_NOT_FOUND, "no such user", NULL);
          if ((o = parse_object_body (req, parser, &ret)) == NULL
              || (password = string_member (req, o, "password", &ret)) == NULL)
            return ret;
          if (!nc_db_set_user_password (req->server->db, name, password, &error))
            return reply_users_error (req, error);
          return nc_http_reply (req, MHD_HTTP_OK, g_strdup ("{\"password_changed\":true}"), NULL);
        }
      if (g_str_equal (action, "role") && g_str_equal (req->method, "POST"))
        {
          const char *role_name;
          NcUserRole role;
          if (current == NC_USER_ROLE_NONE)
            return reply_plain_error (req, MHD_HTTP_NOT_FOUND, "no such user", NULL);
          if ((o = parse_object_body (req, parser, &ret)) == NULL
              || (role_name = string_member (req, o, "role", &ret)) == NULL)
            return ret;
          role = nc_user_role_from_name (role_name);
          if (role == NC_USER_ROLE_NONE)
            return reply_plain_error (req, MHD_HTTP_BAD_REQUEST,
                                      "\"role\" must be one of reader, editor, admin", NULL);
          if (!nc_db_set_user_role (req->server->db, name, role, &error))
            return current == NC_USER_ROLE_ADMIN && g_error_matches (error, NC_ERROR, NC_ERROR_ARGUMENT)
                     ? reply_plain_error (req, MHD_HTTP_CONFLICT, error->message, NULL)
                     : reply_users_error (req, error);
          return nc_http_reply (req, MHD_HTTP_OK,
                                g_strdup_printf ("{\"role\":\"%s\"}", nc_user_role_name (role)), NULL);
        }
    }
  return reply_plain_error (req, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "unsupported method or path under /admin/users", NULL);
}

/* POST /admin/backup: the archive (core/backup.h) as application/gzip.
 * It only reads local state, so any node (follower, standby) answers. The
 * archive is complete on disk before the 200 goes out, so a failure (disk
 * full, snapshot error) is a 500 naming the cause, never a cut download. */
static enum MHD_Result
handle_backup (NcHttpRequest *req)
{
  g_autoptr (GError) error = NULL;
  NcBackupResult result = { 0 };
  if (!g_str_equal (req->method, "POST"))
    return reply_plain_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST /admin/backup", "Allow", "POST", NULL);
  /* ?bookmark=nornicdb:<index>: the backup holds at least that write. */
  const char *bookmark = MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, "bookmark");
  guint64 min_index = 0;
  if (bookmark != NULL && !nc_bookmark_parse (bookmark, &min_index))
    return reply_plain_error (req, MHD_HTTP_BAD_REQUEST, "bookmark must look like nornicdb:<index>", NULL);
  int fd = nc_backup_create (req->server->db, min_index, &result, &error);
  if (fd < 0)
    {
      g_autofree char *msg = g_strdup_printf ("backup failed: %s", error->message);
      guint status = MHD_HTTP_INTERNAL_SERVER_ERROR;
      if (error->domain == NC_BACKUP_ERROR && error->code == NC_BACKUP_ERROR_BUSY)
        status = MHD_HTTP_CONFLICT;
      else if (error->domain == NC_ERROR)
        status = MHD_HTTP_SERVICE_UNAVAILABLE;   /* bookmark not reached in time */
      return reply_plain_error (req, status, msg, NULL);
    }
  struct MHD_Response *resp = MHD_create_response_from_fd ((uint64_t) result.size, fd);
  if (resp == NULL)
    {
      close (fd);
      nc_backup_result_clear (&result);
      return MHD_NO;
    }
  g_autofree char *disposition = g_strdup_printf ("attachment; filename=\"%s\"", result.file_name);
  g_autofree char *index = g_strdup_printf ("%" G_GUINT64_FORMAT, result.index);
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/gzip");
  MHD_add_response_header (resp, "Content-Disposition", disposition);
  MHD_add_response_header (resp, "X-NornicDB-Backup-Index", index);
  MHD_add_response_header (resp, "Cache-Control", "no-store");
  nc_http_count_status (req->server, MHD_HTTP_OK);
  enum MHD_Result ret = MHD_queue_response (req->conn, MHD_HTTP_OK, resp);
  MHD_destroy_response (resp);
  nc_backup_result_clear (&result);
  return ret;
}

static enum MHD_Result
handle_admin (NcHttpRequest *req)
{
  g_autoptr (GError) error = NULL;

  if (!authenticate (req, &error))
    return reply_auth_failure (req, error);
  if (req->role != NC_USER_ROLE_ADMIN)
    return reply_code (req, MHD_HTTP_FORBIDDEN, NC_ERROR_FORBIDDEN,
                       "Admin endpoints require the admin role (user '%s' has role %s).",
                       req->user ? req->user : "", nc_user_role_name (req->role));

  if (g_str_equal (req->path, "/admin/users") || g_str_has_prefix (req->path, "/admin/users/"))
    return handle_users (req, req->path + strlen ("/admin/users"));
  if (g_str_equal (req->path, "/admin/snapshot"))
    {
      g_autofree char *path = NULL;
      GString *out;
      if (!g_str_equal (req->method, "POST"))
        return reply_plain_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST /admin/snapshot", NULL);
      path = nc_db_snapshot_now (req->server->db, &error);
      if (path == NULL)
        return reply_plain_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, error->message, NULL);
      out = g_string_new ("{\"path\":");
      nc_http_json_append_string (out, path);
      g_string_append_c (out, '}');
      return nc_http_reply (req, MHD_HTTP_OK, g_string_free (out, FALSE), NULL);
    }
  if (g_str_equal (req->path, "/admin/backup"))
    return handle_backup (req);
  return handle_module_admin (req);
}

/* ---- dispatch ---------------------------------------------------------------- */

static enum MHD_Result
dispatch (NcHttpRequest *req)
{
  NcConfig *config = req->server->config;
  g_autoptr (GError) error = NULL;
  gboolean get = g_str_equal (req->method, "GET") || g_str_equal (req->method, "HEAD");

  if (g_str_equal (req->path, "/"))
    {
      if (!get)
        return reply_plain_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET /", "Allow", "GET", NULL);
      return handle_discovery (req);
    }
  if (g_str_equal (req->path, "/health"))
    {
      if (!get)
        return reply_plain_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET /health", "Allow", "GET", NULL);
      if (nc_config_get_bool (config, "NORNICDB_HEALTH_AUTH") && !authenticate (req, &error))
        return reply_auth_failure (req, error);
      return handle_health (req);
    }
  if (g_str_equal (req->path, "/metrics"))
    {
      if (!get)
        return reply_plain_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET /metrics", "Allow", "GET", NULL);
      if (nc_config_get_bool (config, "NORNICDB_METRICS_AUTH") && !authenticate (req, &error))
        return reply_auth_failure (req, error);
      return handle_metrics (req);
    }
  if (g_str_has_prefix (req->path, "/admin/"))
    return handle_admin (req);
  if (g_str_has_prefix (req->path, "/db/"))
    {
      if (!authenticate (req, &error))
        return reply_auth_failure (req, error);
      return nc_http_tx_handle (req);
    }
  return reply_plain_error (req, MHD_HTTP_NOT_FOUND, "not found", NULL);
}

static enum MHD_Result
respond (NcHttpServer *server, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, Upload *up)
{
  const union MHD_ConnectionInfo *daemon_info =
    MHD_get_connection_info (conn, MHD_CONNECTION_INFO_DAEMON);
  NcHttpRequest req = {
    .server = server,
    .conn = conn,
    .method = method,
    .path = url,
    .body = up->body->str,
    .body_len = up->body->len,
    .client_addr = numeric_address (conn),
    .tls = daemon_info != NULL && server->https != NULL && daemon_info->daemon == server->https,
  };
  enum MHD_Result ret;

  up->replied = TRUE;
  if (up->too_large)
    {
      g_autofree char *limit = g_format_size_full (server->max_body, G_FORMAT_SIZE_IEC_UNITS);
      ret = reply_code (&req, MHD_HTTP_CONTENT_TOO_LARGE, NC_ERROR_REQUEST_INVALID,
                        "The request body exceeds NORNICDB_HTTP_MAX_BODY (%s).", limit);
    }
  else
    ret = dispatch (&req);
  g_debug ("%s %s %s from %s", method, url, version, req.client_addr);
  g_free (req.client_addr);
  g_free (req.user);
  return ret;
}

static enum MHD_Result
access_cb (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
  NcHttpServer *server = cls;
  Upload *up = *con_cls;

  if (up == NULL)
    {
      const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      up = g_new0 (Upload, 1);
      up->body = g_string_new (NULL);
      *con_cls = up;
      /* A declared length over the limit is refused before the body is
       * read (MHD then closes the connection instead of draining it). */
      if (cl != NULL && g_ascii_strtoull (cl, NULL, 10) > server->max_body)
        {
          up->too_large = TRUE;
          return respond (server, conn, url, method, version, up);
        }
      return MHD_YES;
    }
  if (*upload_data_size > 0)
    {
      gsize n = *upload_data_size;
      *upload_data_size = 0;
      up->received += n;
      if (up->too_large)
        {
          /* libmicrohttpd cannot answer in the middle of a body, so an
           * over-long chunked body is drained and answered 413 at its end;
           * past a hard cap the connection is simply closed. */
          return up->received > server->max_body * 2 + 65536 ? MHD_NO : MHD_YES;
        }
      if (up->body->len + n > server->max_body)
        {
          up->too_large = TRUE;
          g_string_free (up->body, TRUE);
          up->body = g_string_new (NULL);
          return MHD_YES;
        }
      g_string_append_len (up->body, upload_data, (gssize) n);
      return MHD_YES;
    }
  if (up->replied)
    return MHD_YES;
  return respond (server, conn, url, method, version, up);
}

static void
completed_cb (void *cls, struct MHD_Connection *conn, void **con_cls,
              enum MHD_RequestTerminationCode toe)
{
  Upload *up = *con_cls;
  if (up == NULL)
    return;
  g_string_free (up->body, TRUE);
  g_free (up);
  *con_cls = NULL;
}

static void
mhd_log_cb (void *cls, const char *fmt, va_list ap)
{
  NcHttpServer *server = cls;
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  g_strchomp (msg);
  /* Start-up problems (bind failures) matter to operators; afterwards
   * libmicrohttpd mostly reports clients hanging up. */
  if (g_atomic_int_get (&server->started))
    g_debug ("libmicrohttpd: %s", msg);
  else
    g_message ("libmicrohttpd: %s", msg);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static struct MHD_Daemon *
start_daemon (NcHttpServer *server, const char *address, guint16 port, gboolean tls, GError **error)
{
  struct addrinfo hints = { 0 }, *res = NULL;
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                       | MHD_USE_POLL | MHD_USE_ERROR_LOG;
  struct MHD_Daemon *d;
  int rc;

  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  rc = getaddrinfo (address, port_text, &hints, &res);
  if (rc != 0 || res == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NORNICDB_HTTP_ADDRESS=%s: cannot resolve: %s", address, gai_strerror (rc));
      return NULL;
    }
  if (res->ai_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  if (tls)
    flags |= MHD_USE_TLS;

  if (tls)
    d = MHD_start_daemon (flags, port, NULL, NULL, access_cb, server,
                          MHD_OPTION_SOCK_ADDR, res->ai_addr,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) NC_HTTP_IDLE_TIMEOUT_S,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned int) NC_HTTP_CONNECTION_LIMIT,
                          MHD_OPTION_NOTIFY_COMPLETED, completed_cb, server,
                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, server,
                          MHD_OPTION_HTTPS_MEM_CERT, server->tls_cert,
                          MHD_OPTION_HTTPS_MEM_KEY, server->tls_key,
                          MHD_OPTION_END);
  else
    d = MHD_start_daemon (flags, port, NULL, NULL, access_cb, server,
                          MHD_OPTION_SOCK_ADDR, res->ai_addr,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) NC_HTTP_IDLE_TIMEOUT_S,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned int) NC_HTTP_CONNECTION_LIMIT,
                          MHD_OPTION_NOTIFY_COMPLETED, completed_cb, server,
                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, server,
                          MHD_OPTION_END);
  freeaddrinfo (res);
  if (d == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 "Could not listen for %s on %s:%u (address in use, or not permitted; see the log)",
                 tls ? "HTTPS" : "HTTP", address, port);
  return d;
}

NcHttpServer *
nc_http_server_new (NcDb *db, GError **error)
{
  NcConfig *config = nc_db_config (db);
  NcHttpServer *server = g_new0 (NcHttpServer, 1);
  const char *address = nc_config_get (config, "NORNICDB_HTTP_ADDRESS");

  server->db = db;
  server->config = config;
  server->main_context = g_main_context_ref_thread_default ();
  server->http_port = (guint16) nc_config_get_int (config, "NORNICDB_HTTP_PORT");
  server->https_port = (guint16) nc_config_get_int (config, "NORNICDB_HTTPS_PORT");
  server->max_body = (gsize) nc_config_get_size (config, "NORNICDB_HTTP_MAX_BODY");
  server->metrics = nc_metrics_new ();
  nc_metrics_declare (server->metrics, "nornicdb_http_requests_total", "counter",
                      "HTTP requests answered, by status code");
  server->txs = nc_http_tx_registry_new (server);

  if (nc_config_get_bool (config, "NORNICDB_HTTPS_ENABLED"))
    {
      const char *cert = nc_config_get (config, "NORNICDB_HTTPS_CERT_FILE");
      const char *key = nc_config_get (config, "NORNICDB_HTTPS_KEY_FILE");
      g_autoptr (GError) local = NULL;
      if (cert == NULL || key == NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "NORNICDB_HTTPS_ENABLED=true needs NORNICDB_HTTPS_CERT_FILE and NORNICDB_HTTPS_KEY_FILE");
          nc_http_server_free (server);
          return NULL;
        }
      if (!g_file_get_contents (cert, &server->tls_cert, NULL, &local)
          || !g_file_get_contents (key, &server->tls_key, NULL, &local))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "HTTPS: %s", local->message);
          nc_http_server_free (server);
          return NULL;
        }
    }

  server->http = start_daemon (server, address, server->http_port, FALSE, error);
  if (server->http == NULL)
    {
      nc_http_server_free (server);
      return NULL;
    }
  if (server->tls_cert != NULL)
    {
      server->https = start_daemon (server, address, server->https_port, TRUE, error);
      if (server->https == NULL)
        {
          nc_http_server_free (server);
          return NULL;
        }
    }
  g_atomic_int_set (&server->started, 1);
  g_message ("HTTP listening on %s:%u%s", address, server->http_port,
             server->https != NULL ? " (and HTTPS)" : "");
  return server;
}

void
nc_http_server_free (NcHttpServer *server)
{
  if (server == NULL)
    return;
  g_atomic_int_set (&server->stopping, 1);
  if (server->https != NULL)
    MHD_stop_daemon (server->https);
  if (server->http != NULL)
    MHD_stop_daemon (server->http);
  nc_http_tx_registry_free (server->txs);
  nc_metrics_free (server->metrics);
  g_main_context_unref (server->main_context);
  if (server->tls_key != NULL)
    explicit_bzero (server->tls_key, strlen (server->tls_key));
  g_free (server->tls_key);
  g_free (server->tls_cert);
  g_free (server);
}
