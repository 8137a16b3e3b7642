#define G_LOG_DOMAIN "nornicdb-bolt"

#include "bolt-connection.h"

#include <string.h>
#include "bolt-chunk.h"
#include "bolt-forward.h"
#include "errors.h"
#include "packstream.h"

#define V(major, minor) (((guint) (major) << 8) | (guint) (minor))
#define FLUSH_THRESHOLD (64 * 1024)

enum {
  MSG_HELLO = 0x01,
  MSG_GOODBYE = 0x02,
  MSG_RESET = 0x0F,
  MSG_RUN = 0x10,
  MSG_BEGIN = 0x11,
  MSG_COMMIT = 0x12,
  MSG_ROLLBACK = 0x13,
  MSG_DISCARD = 0x2F,
  MSG_PULL = 0x3F,
  MSG_TELEMETRY = 0x54,
  MSG_ROUTE = 0x66,
  MSG_LOGON = 0x6A,
  MSG_LOGOFF = 0x6B,
  MSG_SUCCESS = 0x70,
  MSG_RECORD = 0x71,
  MSG_IGNORED = 0x7E,
  MSG_FAILURE = 0x7F,
};

typedef enum {
  PHASE_PREAMBLE,        /* waiting for magic + 4 proposals */
  PHASE_MANIFEST_CHOICE, /* manifest sent, waiting for the client's pick */
  PHASE_MESSAGES,
  PHASE_CLOSED,
} Phase;

typedef enum {
  STATE_CONNECTED,
  STATE_AUTHENTICATION,
  STATE_READY,
  STATE_STREAMING,
  STATE_TX_READY,
  STATE_TX_STREAMING,
  STATE_FAILED,
  STATE_DEFUNCT,
} State;

static const char *const state_names[] = {
  "CONNECTED", "AUTHENTICATION", "READY", "STREAMING", "TX_READY", "TX_STREAMING", "FAILED", "DEFUNCT",
};

/* Versions offered, best first. 5.5 is left out on purpose (see header). */
static const guint supported_versions[] = {
  V (5, 8), V (5, 7), V (5, 6), V (5, 4), V (5, 3), V (5, 2), V (5, 1), V (5, 0), V (4, 4),
};

typedef struct {
  gpointer res;
  /* The engine reads parameters lazily while rows are pulled, so they live
   * as long as the result. */
  NcMap *params;
  NcMap *metadata; /* tx_metadata of an auto-commit query, same reason */
  NcMap *notif;    /* notification filter in force for this result, or NULL */
  gint64 qid;
  gint64 started_us;
  gboolean done;
  gboolean is_profile;
} OpenResult;

struct _NcBoltConnection {
  NcBoltConnectionConfig cfg;
  char *connection_id;
  char *client_addr;
  char *server_agent;

  Phase phase;
  guint8 handshake[20];
  guint handshake_have;
  guint8 choice[9];
  guint choice_have;

  guint version;
  NcPsFlavor flavor;
  NcBoltDechunker dechunker;
  GByteArray *out;
  gboolean dead;    /* write failed */
  gboolean closing; /* close once the output is flushed */

  State state;
  gboolean has_routing;   /* HELLO carried a routing context */
  NcValue notif_filter;   /* HELLO's notification settings: map or null */
  char *user_agent;
  /* credentials kept only for relaying writes to the writer */
  char *auth_scheme;
  char *auth_principal;
  char *auth_credentials;
  char *user;
  NcUserRole role;
  gboolean authenticated;

  /* auto-commit */
  OpenResult *auto_res;
  /* explicit transaction */
  gpointer tx;
  NcMap *tx_metadata; /* kept alive for the transaction's lifetime */
  NcMap *tx_notif;    /* BEGIN's notification filter */
  char *tx_db;
  GPtrArray *tx_results; /* OpenResult* */
  gint64 next_qid;
  GBytes *begin_message; /* kept to relay the transaction if it must move */
  guint tx_statements;

  /* relay to the writer */
  NcBoltForward *fw;
  gboolean fw_active;
  gboolean fw_autocommit;
};

/* ---- output -------------------------------------------------------------- */

static void
flush_output (NcBoltConnection *conn)
{
  if (conn->out->len == 0)
    return;
  if (!conn->dead)
    {
      g_autoptr (GError) error = NULL;
      if (!conn->cfg.write (conn->cfg.write_data, conn->out->data, conn->out->len, &error))
        {
          g_debug ("%s: write failed: %s", conn->connection_id, error ? error->message : "?");
          conn->dead = TRUE;
        }
    }
  g_byte_array_set_size (conn->out, 0);
}

static void
send_message (NcBoltConnection *conn, const GByteArray *body)
{
  nc_bolt_chunk_append (conn->out, body->data, body->len);
  if (conn->out->len >= FLUSH_THRESHOLD)
    flush_output (conn);
}

static void
send_raw_message (NcBoltConnection *conn, GBytes *body)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (body, &len);
  nc_bolt_chunk_append (conn->out, data, len);
  if (conn->out->len >= FLUSH_THRESHOLD)
    flush_output (conn);
}

/* Metadata maps are written field by field and counted as they go. */
typedef struct {
  GByteArray *buf;
  guint n;
} Meta;

static void
meta_init (Meta *m)
{
  m->buf = g_byte_array_new ();
  m->n = 0;
}

static void
meta_clear (Meta *m)
{
  g_clear_pointer (&m->buf, g_byte_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Meta, meta_clear)

static void
meta_key (Meta *m, const char *key)
{
  nc_ps_write_string (m->buf, key);
  m->n++;
}

static void
meta_str (Meta *m, const char *key, const char *value)
{
  meta_key (m, key);
  nc_ps_write_string (m->buf, value);
}

static void
meta_int (Meta *m, const char *key, gint64 value)
{
  meta_key (m, key);
  nc_ps_write_int (m->buf, value);
}

static void
meta_bool (Meta *m, const char *key, gboolean value)
{
  meta_key (m, key);
  nc_ps_write_bool (m->buf, value);
}

static void
meta_value (Meta *m, const char *key, const NcValue *value, const NcPsFlavor *flavor)
{
  meta_key (m, key);
  nc_ps_write_value (m->buf, value, flavor);
}

static void
meta_write (GByteArray *out, const Meta *m)
{
  nc_ps_write_map_header (out, m->n);
  g_byte_array_append (out, m->buf->data, m->buf->len);
}

static void
meta_map (Meta *m, const char *key, const Meta *sub)
{
  meta_key (m, key);
  meta_write (m->buf, sub);
}

static void
send_summary (NcBoltConnection *conn, guint8 tag, const Meta *m)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  nc_ps_write_struct_header (body, 1, tag);
  if (m != NULL)
    meta_write (body, m);
  else
    nc_ps_write_map_header (body, 0);
  send_message (conn, body);
}

static void
send_success (NcBoltConnection *conn, const Meta *m)
{
  send_summary (conn, MSG_SUCCESS, m);
}

static void
send_ignored (NcBoltConnection *conn)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  nc_ps_write_struct_header (body, 0, MSG_IGNORED);
  send_message (conn, body);
}

static void
send_failure (NcBoltConnection *conn, const GError *error)
{
  g_auto (Meta) m;
  const char *status = nc_error_status (error);
  meta_init (&m);
  meta_str (&m, "code", status);
  meta_str (&m, "message", error->message);
  if (conn->version >= V (5, 7))
    {
      g_auto (Meta) diag;
      meta_str (&m, "neo4j_code", status);
      meta_str (&m, "gql_status", nc_error_gql_status (error));
      meta_str (&m, "description", error->message);
      meta_init (&diag);
      meta_str (&diag, "OPERATION", "");
      meta_str (&diag, "OPERATION_CODE", "0");
      meta_str (&diag, "CURRENT_SCHEMA", "/");
      meta_map (&m, "diagnostic_record", &diag);
    }
  send_summary (conn, MSG_FAILURE, &m);
}

static void
send_record (NcBoltConnection *conn, const NcValue *row, guint n_fields)
{
  g_autoptr (GByteArray) body = g_byte_array_sized_new (64);
  nc_ps_write_struct_header (body, 1, MSG_RECORD);
  nc_ps_write_list_header (body, n_fields);
  for (guint i = 0; i < n_fields; i++)
    nc_ps_write_value (body, &row[i], &conn->flavor);
  send_message (conn, body);
}

/* ---- results and transactions ------------------------------------------------ */

static void
open_result_free (NcBoltConnection *conn, OpenResult *r)
{
  if (r == NULL)
    return;
  if (r->res != NULL)
    conn->cfg.backend->result_free (r->res);
  g_clear_pointer (&r->params, nc_map_unref);
  g_clear_pointer (&r->metadata, nc_map_unref);
  g_clear_pointer (&r->notif, nc_map_unref);
  g_free (r);
}

static void
close_transaction (NcBoltConnection *conn)
{
  if (conn->tx_results != NULL)
    {
      for (guint i = 0; i < conn->tx_results->len; i++)
        open_result_free (conn, g_ptr_array_index (conn->tx_results, i));
      g_ptr_array_set_size (conn->tx_results, 0);
    }
  if (conn->tx != NULL)
    {
      conn->cfg.backend->tx_free (conn->tx);
      conn->tx = NULL;
    }
  g_clear_pointer (&conn->tx_db, g_free);
  g_clear_pointer (&conn->tx_metadata, nc_map_unref);
  g_clear_pointer (&conn->tx_notif, nc_map_unref);
  g_clear_pointer (&conn->begin_message, g_bytes_unref);
  conn->tx_statements = 0;
}

static void
close_autocommit (NcBoltConnection *conn)
{
  open_result_free (conn, conn->auto_res);
  conn->auto_res = NULL;
}

static void
reset_work (NcBoltConnection *conn)
{
  close_autocommit (conn);
  close_transaction (conn);
}

static void
fail (NcBoltConnection *conn, const GError *error)
{
  send_failure (conn, error);
  conn->state = STATE_FAILED;
}

static void
fail_and_close (NcBoltConnection *conn, const GError *error)
{
  send_failure (conn, error);
  conn->state = STATE_DEFUNCT;
  conn->closing = TRUE;
}

static void
protocol_violation (NcBoltConnection *conn, const char *what, gboolean close)
{
  g_autoptr (GError) error = g_error_new (NC_ERROR, NC_ERROR_REQUEST_INVALID, "%s", what);
  if (close)
    fail_and_close (conn, error);
  else
    fail (conn, error);
}

/* ---- request decoding --------------------------------------------------------- */

typedef struct {
  guint8 tag;
  guint n_fields;
  NcValue fields[4];
} Request;

static void
request_clear (Request *req)
{
  for (guint i = 0; i < G_N_ELEMENTS (req->fields); i++)
    nc_value_clear (&req->fields[i]);
}

static const char *
message_name (guint8 tag)
{
  switch (tag)
    {
    case MSG_HELLO: return "HELLO";
    case MSG_GOODBYE: return "GOODBYE";
    case MSG_RESET: return "RESET";
    case MSG_RUN: return "RUN";
    case MSG_BEGIN: return "BEGIN";
    case MSG_COMMIT: return "COMMIT";
    case MSG_ROLLBACK: return "ROLLBACK";
    case MSG_DISCARD: return "DISCARD";
    case MSG_PULL: return "PULL";
    case MSG_TELEMETRY: return "TELEMETRY";
    case MSG_ROUTE: return "ROUTE";
    case MSG_LOGON: return "LOGON";
    case MSG_LOGOFF: return "LOGOFF";
    default: return NULL;
    }
}

static gint
expected_fields (guint8 tag)
{
  switch (tag)
    {
    case MSG_HELLO: case MSG_BEGIN: case MSG_DISCARD: case MSG_PULL:
    case MSG_TELEMETRY: case MSG_LOGON:
      return 1;
    case MSG_GOODBYE: case MSG_RESET: case MSG_COMMIT: case MSG_ROLLBACK: case MSG_LOGOFF:
      return 0;
    case MSG_RUN: case MSG_ROUTE:
      return 3;
    default:
      return -1;
    }
}

/* FALSE with NC_ERROR_PROTOCOL (fatal) or NC_ERROR_ARGUMENT (answerable). */
static gboolean
decode_request (NcBoltConnection *conn, GBytes *message, Request *req, GError **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);
  NcPsReader r;
  nc_ps_reader_init (&r, data, len);
  if (!nc_ps_read_struct_header (&r, &req->n_fields, &req->tag, error))
    return FALSE;
  gint want = expected_fields (req->tag);
  if (want < 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_PROTOCOL, "Unknown message 0x%02X", req->tag);
      return FALSE;
    }
  /* Bolt 5.1+ RUN/BEGIN never changed shape; a wrong count is malformed. */
  if ((gint) req->n_fields != want)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_PROTOCOL, "%s message needs %d fields, got %u",
                   message_name (req->tag), want, req->n_fields);
      return FALSE;
    }
  for (guint i = 0; i < req->n_fields; i++)
    if (!nc_ps_read_value (&r, &conn->flavor, &req->fields[i], error))
      return FALSE;
  if (nc_ps_reader_remaining (&r) != 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_PROTOCOL, "Trailing bytes after %s message",
                   message_name (req->tag));
      return FALSE;
    }
  return TRUE;
}

static const NcMap *
field_map (const NcValue *v)
{
  return v->type == NC_VALUE_MAP ? v->u.map : NULL;
}

static const char *
map_str (const NcMap *m, const char *key)
{
  const NcValue *v = m ? nc_map_get (m, key) : NULL;
  return v != NULL && v->type == NC_VALUE_STRING ? nc_value_str (v) : NULL;
}

/* Transaction settings shared by RUN and BEGIN. */
typedef struct {
  GPtrArray *bookmarks; /* char*, NULL-terminated */
  gint64 timeout_ms;
  const NcMap *metadata;
  NcAccessMode mode;
  char *db;
  const NcMap *notif; /* the RUN/BEGIN map when it sets notification filters */
} TxExtra;

static void
tx_extra_clear (TxExtra *x)
{
  g_clear_pointer (&x->bookmarks, g_ptr_array_unref);
  g_clear_pointer (&x->db, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TxExtra, tx_extra_clear)

static gboolean
parse_tx_extra (const NcValue *field, TxExtra *x, GError **error)
{
  memset (x, 0, sizeof *x);
  x->bookmarks = g_ptr_array_new_with_free_func (g_free);
  if (field->type == NC_VALUE_NULL)
    {
      g_ptr_array_add (x->bookmarks, NULL);
      return TRUE;
    }
  if (field->type != NC_VALUE_MAP)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_REQUEST_INVALID, "Transaction metadata must be a map");
      return FALSE;
    }
  const NcMap *m = field->u.map;
  const NcValue *v;
  if ((v = nc_map_get (m, "bookmarks")) != NULL && v->type != NC_VALUE_NULL)
    {
      if (v->type != NC_VALUE_LIST)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_REQUEST_INVALID, "bookmarks must be a list of strings");
          return FALSE;
        }
      for (guint32 i = 0; i < v->u.list->len; i++)
        {
          const NcValue *b = &v->u.list->items[i];
          if (b->type != NC_VALUE_STRING)
            {
              g_set_error (error, NC_ERROR, NC_ERROR_REQUEST_INVALID, "bookmarks must be a list of strings");
              return FALSE;
            }
          g_ptr_array_add (x->bookmarks, g_strdup (nc_value_str (b)));
        }
    }
  g_ptr_array_add (x->bookmarks, NULL);
  if ((v = nc_map_get (m, "tx_timeout")) != NULL && v->type != NC_VALUE_NULL)
    {
      if (v->type != NC_VALUE_INT || v->u.i < 0)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_REQUEST_INVALID, "tx_timeout must be a non-negative integer");
          return FALSE;
        }
      x->timeout_ms = v->u.i;
    }
  if ((v = nc_map_get (m, "tx_metadata")) != NULL && v->type != NC_VALUE_NULL)
    {
      if (v->type != NC_VALUE_MAP)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_REQUEST_INVALID, "tx_metadata must be a map");
          return FALSE;
        }
      x->metadata = v->u.map;
    }
  const char *mode = map_str (m, "mode");
  x->mode = mode != NULL && g_strcmp0 (mode, "r") == 0 ? NC_ACCESS_READ : NC_ACCESS_WRITE;
  if ((v = nc_map_get (m, "imp_user")) != NULL && v->type != NC_VALUE_NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_FORBIDDEN, "Impersonation is not supported");
      return FALSE;
    }
  const char *db = map_str (m, "db");
  if (db != NULL && *db != '\0' && g_strcmp0 (db, "neo4j") != 0 && g_strcmp0 (db, "system") != 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_DATABASE_NOT_FOUND,
                   "Database does not exist. Database name: '%s'.", db);
      return FALSE;
    }
  x->db = g_strdup (db != NULL && *db != '\0' ? db : "neo4j");
  if (nc_map_get (m, "notifications_minimum_severity") != NULL
      || nc_map_get (m, "notifications_disabled_categories") != NULL
      || nc_map_get (m, "notifications_disabled_classifications") != NULL)
    x->notif = m;
  return TRUE;
}

/* Notification filters (Bolt 5.2+): a minimum severity ("OFF", "WARNING",
 * "INFORMATION") and disabled categories/classifications. */
static gboolean
notification_wanted (const NcMap *filter, const NcValue *note)
{
  if (filter == NULL || note->type != NC_VALUE_MAP)
    return TRUE;
  const char *min = map_str (filter, "notifications_minimum_severity");
  const char *severity = map_str (note->u.map, "severity");
  if (min != NULL && g_ascii_strcasecmp (min, "OFF") == 0)
    return FALSE;
  if (min != NULL && g_ascii_strcasecmp (min, "WARNING") == 0 && severity != NULL
      && g_ascii_strcasecmp (severity, "WARNING") != 0)
    return FALSE;
  const char *category = map_str (note->u.map, "category");
  static const char *const keys[] = { "notifications_disabled_categories", "notifications_disabled_classifications" };
  for (guint k = 0; category != NULL && k < G_N_ELEMENTS (keys); k++)
    {
      const NcValue *off = nc_map_get (filter, keys[k]);
      if (off == NULL || off->type != NC_VALUE_LIST)
        continue;
      for (guint32 i = 0; i < off->u.list->len; i++)
        if (off->u.list->items[i].type == NC_VALUE_STRING
            && g_ascii_strcasecmp (nc_value_str (&off->u.list->items[i]), category) == 0)
          return FALSE;
    }
  return TRUE;
}

static void
fill_tx_options (NcBoltConnection *conn, const TxExtra *x, NcTxOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->mode = x->mode;
  opts->bookmarks = (const char *const *) x->bookmarks->pdata;
  opts->timeout_ms = x->timeout_ms;
  opts->metadata = x->metadata;
  opts->user = conn->user;
  opts->may_write = conn->role >= NC_USER_ROLE_EDITOR;
  opts->is_admin = conn->role == NC_USER_ROLE_ADMIN;
}

/* ---- forwarding writes to the writer ---------------------------------------------- */

static gboolean
is_not_a_leader (const GError *error)
{
  return g_error_matches (error, NC_ERROR, NC_ERROR_NOT_A_LEADER);
}

/* Opens (or reuses) the link to the writer. */
static gboolean
forward_ensure (NcBoltConnection *conn, GError **error)
{
  g_autofree char *writer = conn->cfg.backend->writer_address
                                ? conn->cfg.backend->writer_address (conn->cfg.backend_data)
                                : NULL;
  if (writer == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_NOT_A_LEADER,
                   "This node does not accept writes and no writer is known right now");
      return FALSE;
    }
  if (conn->fw != NULL && g_strcmp0 (nc_bolt_forward_address (conn->fw), writer) == 0)
    return TRUE;
  g_clear_pointer (&conn->fw, nc_bolt_forward_free);
  conn->fw = nc_bolt_forward_connect (writer, conn->version, conn->user_agent,
                                      conn->auth_scheme ? conn->auth_scheme : "none", conn->auth_principal,
                                      conn->auth_credentials, 10000, conn->cfg.forward_tls, error);
  if (conn->fw == NULL)
    {
      g_prefix_error (error, "Forwarding the write to %s failed: ", writer);
      if (*error != NULL && (*error)->domain != NC_ERROR)
        {
          GError *e = g_error_new (NC_ERROR, NC_ERROR_UNAVAILABLE, "%s", (*error)->message);
          g_clear_error (error);
          *error = e;
        }
      return FALSE;
    }
  return TRUE;
}

static void
forward_drop (NcBoltConnection *conn)
{
  g_clear_pointer (&conn->fw, nc_bolt_forward_free);
  conn->fw_active = FALSE;
}

/* Peeks at a response: its tag and, for SUCCESS, whether has_more is set. */
static guint8
response_tag (NcBoltConnection *conn, GBytes *msg, gboolean *has_more)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (msg, &len);
  NcPsReader r;
  guint n;
  guint8 tag = 0;
  *has_more = FALSE;
  nc_ps_reader_init (&r, data, len);
  if (!nc_ps_read_struct_header (&r, &n, &tag, NULL))
    return 0;
  if (tag == MSG_SUCCESS && n == 1)
    {
      g_auto (NcValue) meta = nc_value_null ();
      if (nc_ps_read_value (&r, &conn->flavor, &meta, NULL) && meta.type == NC_VALUE_MAP)
        {
          const NcValue *hm = nc_map_get (meta.u.map, "has_more");
          *has_more = hm != NULL && hm->type == NC_VALUE_BOOL && hm->u.b;
        }
    }
  return tag;
}

/* Sends one request to the writer and relays every response up to and
 * including its summary. Returns the summary tag (0 when the link broke).
 * `swallow` drops the summary instead of relaying it. */
static guint8
forward_exchange (NcBoltConnection *conn, GBytes *request, gboolean swallow, gboolean *has_more)
{
  g_autoptr (GError) error = NULL;
  *has_more = FALSE;
  if (!nc_bolt_forward_send (conn->fw, request, &error))
    goto broken;
  for (guint i = 0;; i++)
    {
      g_autoptr (GBytes) resp = nc_bolt_forward_receive (conn->fw, &error);
      if (resp == NULL)
        goto broken;
      guint8 tag = response_tag (conn, resp, has_more);
      if (tag == MSG_RECORD)
        {
          send_raw_message (conn, resp);
          if (conn->dead)
            goto broken;
          continue;
        }
      if (tag != MSG_SUCCESS && tag != MSG_FAILURE && tag != MSG_IGNORED)
        {
          g_set_error (&error, NC_ERROR, NC_ERROR_UNAVAILABLE, "unexpected response from the writer");
          goto broken;
        }
      if (!swallow || tag != MSG_SUCCESS)
        send_raw_message (conn, resp);
      return tag;
    }

broken:
  {
    g_autoptr (GError) e = g_error_new (NC_ERROR, NC_ERROR_UNAVAILABLE,
                                        "Lost the connection to the writer while relaying: %s",
                                        error ? error->message : "client gone");
    forward_drop (conn);
    fail (conn, e);
    return 0;
  }
}

/* Relays one message of a forwarded unit and moves the local state along. */
static void
forward_message (NcBoltConnection *conn, guint8 tag, GBytes *message)
{
  gboolean has_more;
  guint8 summary = forward_exchange (conn, message, FALSE, &has_more);
  if (summary == 0)
    return;
  if (summary == MSG_FAILURE)
    {
      conn->state = STATE_FAILED; /* RESET resets the writer's side too */
      return;
    }
  if (summary != MSG_SUCCESS)
    return;
  switch (tag)
    {
    case MSG_RUN:
      conn->state = conn->fw_autocommit ? STATE_STREAMING : STATE_TX_STREAMING;
      break;
    case MSG_PULL:
    case MSG_DISCARD:
      if (conn->fw_autocommit && !has_more)
        {
          conn->fw_active = FALSE;
          conn->state = STATE_READY;
        }
      break;
    case MSG_COMMIT:
    case MSG_ROLLBACK:
      conn->fw_active = FALSE;
      conn->state = STATE_READY;
      break;
    default:
      break;
    }
}

/* Starts relaying: `begin` (may be NULL for auto-commit) and `first`. */
static void
forward_start (NcBoltConnection *conn, GBytes *begin, GBytes *first, guint8 first_tag)
{
  g_autoptr (GError) error = NULL;
  if (!forward_ensure (conn, &error))
    {
      fail (conn, error);
      return;
    }
  conn->fw_active = TRUE;
  conn->fw_autocommit = begin == NULL && first_tag == MSG_RUN;
  g_debug ("%s: relaying %s to the writer %s", conn->connection_id, conn->fw_autocommit ? "auto-commit query" : "transaction",
           nc_bolt_forward_address (conn->fw));
  if (begin != NULL)
    {
      gboolean has_more;
      /* BEGIN was already answered locally when the first RUN triggered this. */
      gboolean answered = first != NULL;
      guint8 s = forward_exchange (conn, begin, answered, &has_more);
      if (s != MSG_SUCCESS)
        {
          if (s != 0)
            conn->state = STATE_FAILED;
          return;
        }
      conn->state = STATE_TX_READY;
    }
  if (first != NULL)
    forward_message (conn, first_tag, first);
}

/* ---- handlers ---------------------------------------------------------------- */

static gboolean
authenticate (NcBoltConnection *conn, const NcMap *token, GError **error)
{
  const char *scheme = map_str (token, "scheme");
  const char *principal = map_str (token, "principal");
  const char *credentials = map_str (token, "credentials");
  const NcBoltBackend *be = conn->cfg.backend;

  if (!be->auth_enabled (conn->cfg.backend_data))
    {
      conn->role = NC_USER_ROLE_ADMIN;
      g_free (conn->user);
      conn->user = g_strdup (principal != NULL ? principal : "anonymous");
    }
  else if (g_strcmp0 (scheme, "basic") == 0 && principal != NULL && credentials != NULL)
    {
      NcUserRole role = NC_USER_ROLE_NONE;
      if (!be->authenticate (conn->cfg.backend_data, conn->client_addr, principal, credentials, &role, error))
        return FALSE;
      conn->role = role;
      g_free (conn->user);
      conn->user = g_strdup (principal);
    }
  else
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNAUTHORIZED, "%s",
                   g_strcmp0 (scheme, "basic") == 0 || scheme == NULL || g_strcmp0 (scheme, "none") == 0
                       ? "The client is unauthorized due to authentication failure."
                       : "Unsupported authentication scheme.");
      return FALSE;
    }
  g_free (conn->auth_scheme);
  g_free (conn->auth_principal);
  g_free (conn->auth_credentials);
  conn->auth_scheme = g_strdup (scheme);
  conn->auth_principal = g_strdup (principal);
  conn->auth_credentials = g_strdup (credentials);
  conn->authenticated = TRUE;
  return TRUE;
}

static void
logoff_credentials (NcBoltConnection *conn)
{
  conn->authenticated = FALSE;
  conn->role = NC_USER_ROLE_NONE;
  g_clear_pointer (&conn->user, g_free);
  g_clear_pointer (&conn->auth_scheme, g_free);
  g_clear_pointer (&conn->auth_principal, g_free);
  if (conn->auth_credentials != NULL)
    memset (conn->auth_credentials, 0, strlen (conn->auth_credentials));
  g_clear_pointer (&conn->auth_credentials, g_free);
  forward_drop (conn);
}

static void
handle_hello (NcBoltConnection *conn, Request *req)
{
  const NcMap *extra = field_map (&req->fields[0]);
  if (extra == NULL)
    {
      protocol_violation (conn, "HELLO needs a map", TRUE);
      return;
    }
  const NcValue *routing = nc_map_get (extra, "routing");
  conn->has_routing = routing != NULL && routing->type == NC_VALUE_MAP;
  g_free (conn->user_agent);
  conn->user_agent = g_strdup (map_str (extra, "user_agent"));
  /* Keep only the notification settings (HELLO may also carry credentials). */
  nc_value_clear (&conn->notif_filter);
  {
    static const char *const keys[] = { "notifications_minimum_severity", "notifications_disabled_categories",
                                        "notifications_disabled_classifications" };
    NcMap *filter = nc_map_new (G_N_ELEMENTS (keys));
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
      {
        const NcValue *v = nc_map_get (extra, keys[i]);
        if (v != NULL)
          nc_map_append (filter, keys[i], nc_value_copy (v));
      }
    conn->notif_filter = nc_value_map_take (filter);
  }

  gboolean utc_patch = FALSE;
  if (conn->version == V (4, 4))
    {
      const NcValue *patches = nc_map_get (extra, "patch_bolt");
      if (patches != NULL && patches->type == NC_VALUE_LIST)
        for (guint32 i = 0; i < patches->u.list->len; i++)
          if (patches->u.list->items[i].type == NC_VALUE_STRING
              && g_strcmp0 (nc_value_str (&patches->u.list->items[i]), "utc") == 0)
            utc_patch = TRUE;
    }

  if (conn->version < V (5, 1))
    {
      g_autoptr (GError) error = NULL;
      if (!authenticate (conn, extra, &error))
        {
          fail_and_close (conn, error);
          return;
        }
    }

  g_auto (Meta) m;
  g_auto (Meta) hints;
  meta_init (&m);
  meta_init (&hints);
  meta_str (&m, "server", conn->server_agent);
  meta_str (&m, "connection_id", conn->connection_id);
  if (conn->cfg.idle_timeout_s > 0)
    meta_int (&hints, "connection.recv_timeout_seconds", conn->cfg.idle_timeout_s);
  meta_map (&m, "hints", &hints);
  if (utc_patch)
    {
      meta_key (&m, "patch_bolt");
      nc_ps_write_list_header (m.buf, 1);
      nc_ps_write_string (m.buf, "utc");
      conn->flavor.utc_datetime = TRUE;
    }
  send_success (conn, &m);
  conn->state = conn->version < V (5, 1) ? STATE_READY : STATE_AUTHENTICATION;
}

static void
handle_logon (NcBoltConnection *conn, Request *req)
{
  const NcMap *token = field_map (&req->fields[0]);
  g_autoptr (GError) error = NULL;
  if (token == NULL)
    {
      protocol_violation (conn, "LOGON needs a map", TRUE);
      return;
    }
  if (!authenticate (conn, token, &error))
    {
      fail_and_close (conn, error);
      return;
    }
  send_success (conn, NULL);
  conn->state = STATE_READY;
}

static void
result_summary (NcBoltConnection *conn, OpenResult *r, Meta *m, const char *bookmark, const char *db)
{
  const NcBoltBackend *be = conn->cfg.backend;
  static const char *const type_names[] = { "r", "w", "rw", "s" };
  NcQueryType qt = be->result_query_type (r->res);
  if (bookmark != NULL)
    meta_str (m, "bookmark", bookmark);
  meta_str (m, "type", (guint) qt < G_N_ELEMENTS (type_names) ? type_names[qt] : "r");
  meta_int (m, "t_last", (g_get_monotonic_time () - r->started_us) / 1000);
  meta_str (m, "db", db);

  const NcQueryStats *s = be->result_stats (r->res);
  if (s != NULL)
    {
      g_auto (Meta) st;
      meta_init (&st);
      struct { const char *key; gint64 value; } counters[] = {
        { "nodes-created", s->nodes_created },
        { "nodes-deleted", s->nodes_deleted },
        { "relationships-created", s->relationships_created },
        { "relationships-deleted", s->relationships_deleted },
        { "properties-set", s->properties_set },
        { "labels-added", s->labels_added },
        { "labels-removed", s->labels_removed },
        { "indexes-added", s->indexes_added },
        { "indexes-removed", s->indexes_removed },
        { "constraints-added", s->constraints_added },
        { "constraints-removed", s->constraints_removed },
      };
      gboolean updates = FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (counters); i++)
        if (counters[i].value != 0)
          {
            meta_int (&st, counters[i].key, counters[i].value);
            updates = TRUE;
          }
      if (updates)
        meta_bool (&st, "contains-updates", TRUE);
      if (s->system_updates != 0)
        {
          meta_int (&st, "system-updates", s->system_updates);
          meta_bool (&st, "contains-system-updates", TRUE);
        }
      if (st.n > 0)
        meta_map (m, "stats", &st);
    }

  g_auto (NcValue) notes = be->result_notifications (r->res);
  if (notes.type == NC_VALUE_LIST && notes.u.list->len > 0)
    {
      const NcMap *filter = r->notif != NULL ? r->notif : field_map (&conn->notif_filter);
      guint keep = 0;
      for (guint32 i = 0; i < notes.u.list->len; i++)
        keep += notification_wanted (filter, &notes.u.list->items[i]);
      if (keep > 0)
        {
          meta_key (m, "notifications");
          nc_ps_write_list_header (m->buf, keep);
          for (guint32 i = 0; i < notes.u.list->len; i++)
            if (notification_wanted (filter, &notes.u.list->items[i]))
              nc_ps_write_value (m->buf, &notes.u.list->items[i], &conn->flavor);
        }
    }
  g_auto (NcValue) plan = be->result_plan (r->res);
  if (plan.type == NC_VALUE_MAP)
    meta_value (m, r->is_profile ? "profile" : "plan", &plan, &conn->flavor);
}

static gboolean
query_is_profile (const char *query)
{
  while (g_ascii_isspace (*query))
    query++;
  return g_ascii_strncasecmp (query, "PROFILE", 7) == 0 && !g_ascii_isalnum (query[7]) && query[7] != '_';
}

static OpenResult *
open_result_new (gpointer res, const NcMap *params, gint64 qid, gint64 started_us, const char *query)
{
  OpenResult *r = g_new0 (OpenResult, 1);
  r->res = res;
  r->params = params ? nc_map_ref ((NcMap *) params) : NULL;
  r->qid = qid;
  r->started_us = started_us;
  r->is_profile = query_is_profile (query);
  return r;
}

static void
send_run_success (NcBoltConnection *conn, OpenResult *r, gboolean explicit_tx, const char *db)
{
  g_auto (Meta) m;
  meta_init (&m);
  const char *const *fields = conn->cfg.backend->result_fields (r->res);
  guint n = fields ? g_strv_length ((char **) fields) : 0;
  meta_key (&m, "fields");
  nc_ps_write_list_header (m.buf, n);
  for (guint i = 0; i < n; i++)
    nc_ps_write_string (m.buf, fields[i]);
  meta_int (&m, "t_first", (g_get_monotonic_time () - r->started_us) / 1000);
  if (explicit_tx)
    meta_int (&m, "qid", r->qid);
  if (conn->version >= V (5, 8) && db != NULL)
    meta_str (&m, "db", db);
  send_success (conn, &m);
}

static void
handle_run (NcBoltConnection *conn, Request *req, GBytes *message)
{
  const NcBoltBackend *be = conn->cfg.backend;
  g_autoptr (GError) error = NULL;
  g_auto (TxExtra) extra = { 0 };

  if (req->fields[0].type != NC_VALUE_STRING
      || (req->fields[1].type != NC_VALUE_MAP && req->fields[1].type != NC_VALUE_NULL))
    {
      protocol_violation (conn, "RUN needs a query string and a parameter map", FALSE);
      return;
    }
  const char *query = nc_value_str (&req->fields[0]);
  const NcMap *params = field_map (&req->fields[1]);
  gint64 started = g_get_monotonic_time ();

  if (conn->state == STATE_READY)
    {
      if (!parse_tx_extra (&req->fields[2], &extra, &error))
        {
          fail (conn, error);
          return;
        }
      NcTxOptions opts;
      fill_tx_options (conn, &extra, &opts);
      gpointer res = be->run_autocommit (conn->cfg.backend_data, &opts, query, params, &error);
      if (res == NULL)
        {
          if (is_not_a_leader (error) && conn->cfg.allow_forward && !conn->has_routing)
            forward_start (conn, NULL, message, MSG_RUN);
          else
            fail (conn, error);
          return;
        }
      conn->auto_res = open_result_new (res, params, -1, started, query);
      if (extra.metadata != NULL)
        conn->auto_res->metadata = nc_map_ref ((NcMap *) extra.metadata);
      if (extra.notif != NULL)
        conn->auto_res->notif = nc_map_ref ((NcMap *) extra.notif);
      g_free (conn->tx_db);
      conn->tx_db = g_strdup (extra.db);
      send_run_success (conn, conn->auto_res, FALSE, extra.db);
      conn->state = STATE_STREAMING;
      return;
    }

  /* Inside an explicit transaction. */
  gpointer res = be->tx_run (conn->tx, query, params, &error);
  if (res == NULL)
    {
      if (is_not_a_leader (error) && conn->cfg.allow_forward && !conn->has_routing
          && conn->tx_statements == 0 && conn->begin_message != NULL)
        {
          g_autoptr (GBytes) begin = g_bytes_ref (conn->begin_message);
          close_transaction (conn);
          forward_start (conn, begin, message, MSG_RUN);
          return;
        }
      fail (conn, error);
      return;
    }
  conn->tx_statements++;
  OpenResult *r = open_result_new (res, params, conn->next_qid++, started, query);
  if (conn->tx_notif != NULL)
    r->notif = nc_map_ref (conn->tx_notif);
  g_ptr_array_add (conn->tx_results, r);
  send_run_success (conn, r, TRUE, conn->tx_db);
  conn->state = STATE_TX_STREAMING;
}

static void
handle_begin (NcBoltConnection *conn, Request *req, GBytes *message)
{
  g_autoptr (GError) error = NULL;
  g_auto (TxExtra) extra = { 0 };
  if (!parse_tx_extra (&req->fields[0], &extra, &error))
    {
      fail (conn, error);
      return;
    }
  NcTxOptions opts;
  fill_tx_options (conn, &extra, &opts);
  gpointer tx = conn->cfg.backend->begin (conn->cfg.backend_data, &opts, &error);
  if (tx == NULL)
    {
      if (is_not_a_leader (error) && conn->cfg.allow_forward && !conn->has_routing)
        forward_start (conn, message, NULL, MSG_BEGIN);
      else
        fail (conn, error);
      return;
    }
  conn->tx = tx;
  if (extra.metadata != NULL)
    conn->tx_metadata = nc_map_ref ((NcMap *) extra.metadata);
  if (extra.notif != NULL)
    conn->tx_notif = nc_map_ref ((NcMap *) extra.notif);
  g_free (conn->tx_db);
  conn->tx_db = g_strdup (extra.db);
  conn->next_qid = 0;
  conn->tx_statements = 0;
  conn->begin_message = g_bytes_ref (message);
  send_success (conn, NULL);
  conn->state = STATE_TX_READY;
}

/* Streams up to `n` rows (n < 0: all) of `r`, or discards them. */
static gboolean
stream_rows (NcBoltConnection *conn, OpenResult *r, gint64 n, gboolean discard, gboolean *has_more,
             GError **error)
{
  const NcBoltBackend *be = conn->cfg.backend;
  const char *const *fields = be->result_fields (r->res);
  guint n_fields = fields ? g_strv_length ((char **) fields) : 0;
  *has_more = FALSE;

  if (discard && n < 0)
    {
      char *bookmark = NULL;
      gboolean ok = be->result_finish (r->res, &bookmark, error);
      g_free (bookmark);
      r->done = TRUE;
      return ok;
    }
  for (gint64 i = 0; n < 0 || i < n; i++)
    {
      const NcValue *row = NULL;
      if (!be->result_next (r->res, &row, error))
        {
          if (*error != NULL)
            return FALSE;
          r->done = TRUE;
          return TRUE;
        }
      if (!discard)
        send_record (conn, row, n_fields);
      if (conn->dead)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_TX_TERMINATED, "Client went away");
          return FALSE;
        }
    }
  /* n rows sent: tell the client whether more remain without losing a row,
   * by asking the result whether it has ended only through the next pull. */
  *has_more = TRUE;
  return TRUE;
}

static OpenResult *
find_tx_result (NcBoltConnection *conn, gint64 qid)
{
  if (conn->tx_results->len == 0)
    return NULL;
  if (qid < 0)
    return g_ptr_array_index (conn->tx_results, conn->tx_results->len - 1);
  for (guint i = 0; i < conn->tx_results->len; i++)
    {
      OpenResult *r = g_ptr_array_index (conn->tx_results, i);
      if (r->qid == qid)
        return r;
    }
  return NULL;
}

static gboolean
tx_results_open (NcBoltConnection *conn)
{
  for (guint i = 0; i < conn->tx_results->len; i++)
    if (!((OpenResult *) g_ptr_array_index (conn->tx_results, i))->done)
      return TRUE;
  return FALSE;
}

static void
handle_pull (NcBoltConnection *conn, Request *req, gboolean discard)
{
  const NcMap *extra = field_map (&req->fields[0]);
  const NcValue *nv = extra ? nc_map_get (extra, "n") : NULL;
  const NcValue *qv = extra ? nc_map_get (extra, "qid") : NULL;
  gint64 n = -1, qid = -1;
  g_autoptr (GError) error = NULL;

  if (nv != NULL && nv->type == NC_VALUE_INT)
    n = nv->u.i;
  else if (nv != NULL)
    {
      protocol_violation (conn, "n must be an integer", FALSE);
      return;
    }
  if (n == 0 || n < -1)
    {
      protocol_violation (conn, "n must be -1 or a positive integer", FALSE);
      return;
    }
  if (qv != NULL && qv->type == NC_VALUE_INT)
    qid = qv->u.i;

  gboolean autocommit = conn->state == STATE_STREAMING;
  OpenResult *r = autocommit ? conn->auto_res : find_tx_result (conn, qid);
  if (r == NULL || (!autocommit && qid >= 0 && r->done))
    {
      g_set_error (&error, NC_ERROR, NC_ERROR_REQUEST_INVALID, "No open result with id %" G_GINT64_FORMAT, qid);
      fail (conn, error);
      return;
    }
  gboolean has_more = FALSE;
  if (!r->done && !stream_rows (conn, r, n, discard, &has_more, &error))
    {
      if (autocommit)
        close_autocommit (conn);
      fail (conn, error);
      return;
    }

  g_auto (Meta) m;
  meta_init (&m);
  if (has_more)
    {
      meta_bool (&m, "has_more", TRUE);
      send_success (conn, &m);
      return;
    }
  if (autocommit)
    {
      const char *bookmark = conn->cfg.backend->result_bookmark (r->res);
      result_summary (conn, r, &m, bookmark, conn->tx_db ? conn->tx_db : "neo4j");
      send_success (conn, &m);
      close_autocommit (conn);
      conn->state = STATE_READY;
    }
  else
    {
      result_summary (conn, r, &m, NULL, conn->tx_db ? conn->tx_db : "neo4j");
      send_success (conn, &m);
      conn->state = tx_results_open (conn) ? STATE_TX_STREAMING : STATE_TX_READY;
    }
}

static void
handle_commit (NcBoltConnection *conn)
{
  const NcBoltBackend *be = conn->cfg.backend;
  g_autoptr (GError) error = NULL;
  g_autofree char *bookmark = NULL;

  /* Results the client left unconsumed still run their writes to the end. */
  for (guint i = 0; i < conn->tx_results->len; i++)
    {
      OpenResult *r = g_ptr_array_index (conn->tx_results, i);
      if (!r->done)
        {
          if (!be->result_finish (r->res, NULL, &error))
            {
              close_transaction (conn);
              fail (conn, error);
              return;
            }
          r->done = TRUE;
        }
    }
  for (guint i = 0; i < conn->tx_results->len; i++)
    open_result_free (conn, g_ptr_array_index (conn->tx_results, i));
  g_ptr_array_set_size (conn->tx_results, 0);

  if (!be->tx_commit (conn->tx, &bookmark, &error))
    {
      close_transaction (conn);
      fail (conn, error);
      return;
    }
  close_transaction (conn);
  g_auto (Meta) m;
  meta_init (&m);
  if (bookmark != NULL)
    meta_str (&m, "bookmark", bookmark);
  send_success (conn, &m);
  conn->state = STATE_READY;
}

static void
handle_route (NcBoltConnection *conn, Request *req)
{
  g_autoptr (GError) error = NULL;
  const char *db = NULL;
  if (req->fields[2].type == NC_VALUE_MAP)
    db = map_str (req->fields[2].u.map, "db");
  else if (req->fields[2].type == NC_VALUE_STRING)
    db = nc_value_str (&req->fields[2]);
  if (db != NULL && g_strcmp0 (db, "neo4j") != 0 && g_strcmp0 (db, "system") != 0)
    {
      g_set_error (&error, NC_ERROR, NC_ERROR_DATABASE_NOT_FOUND, "Database does not exist. Database name: '%s'.", db);
      fail (conn, error);
      return;
    }
  NornicRoutingTable *rt = conn->cfg.backend->routing_table (conn->cfg.backend_data, &error);
  if (rt == NULL)
    {
      fail (conn, error);
      return;
    }
  g_auto (Meta) m;
  g_auto (Meta) rtm;
  meta_init (&m);
  meta_init (&rtm);
  meta_int (&rtm, "ttl", rt->ttl_seconds);
  meta_str (&rtm, "db", db != NULL ? db : "neo4j");
  struct { const char *role; GPtrArray *addrs; } groups[] = {
    { "ROUTE", rt->routers }, { "READ", rt->readers }, { "WRITE", rt->writers },
  };
  meta_key (&rtm, "servers");
  guint n_groups = 0;
  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    if (groups[i].addrs != NULL && groups[i].addrs->len > 0)
      n_groups++;
  nc_ps_write_list_header (rtm.buf, n_groups);
  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    {
      GPtrArray *a = groups[i].addrs;
      if (a == NULL || a->len == 0)
        continue;
      nc_ps_write_map_header (rtm.buf, 2);
      nc_ps_write_string (rtm.buf, "addresses");
      nc_ps_write_list_header (rtm.buf, a->len);
      for (guint j = 0; j < a->len; j++)
        nc_ps_write_string (rtm.buf, g_ptr_array_index (a, j));
      nc_ps_write_string (rtm.buf, "role");
      nc_ps_write_string (rtm.buf, groups[i].role);
    }
  meta_map (&m, "rt", &rtm);
  conn->cfg.backend->routing_table_free (rt);
  send_success (conn, &m);
}

static void
handle_reset (NcBoltConnection *conn)
{
  if (conn->fw_active && conn->fw != NULL)
    {
      /* Reset the writer's side too; drop the link when it misbehaves. */
      g_autoptr (GByteArray) body = g_byte_array_new ();
      nc_ps_write_struct_header (body, 0, MSG_RESET);
      g_autoptr (GBytes) reset = g_byte_array_free_to_bytes (g_steal_pointer (&body));
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) resp = NULL;
      gboolean has_more;
      if (!nc_bolt_forward_send (conn->fw, reset, &error)
          || (resp = nc_bolt_forward_receive (conn->fw, &error)) == NULL
          || response_tag (conn, resp, &has_more) != MSG_SUCCESS)
        g_clear_pointer (&conn->fw, nc_bolt_forward_free);
    }
  conn->fw_active = FALSE;
  reset_work (conn);
  send_success (conn, NULL);
  conn->state = conn->authenticated ? STATE_READY : STATE_AUTHENTICATION;
}

/* Is `tag` allowed in the current state? */
static gboolean
allowed (NcBoltConnection *conn, guint8 tag)
{
  switch (conn->state)
    {
    case STATE_READY:
      return tag == MSG_RUN || tag == MSG_BEGIN || tag == MSG_ROUTE || tag == MSG_TELEMETRY
             || (tag == MSG_LOGOFF && conn->version >= V (5, 1));
    case STATE_STREAMING:
      return tag == MSG_PULL || tag == MSG_DISCARD;
    case STATE_TX_READY:
      return tag == MSG_RUN || tag == MSG_COMMIT || tag == MSG_ROLLBACK;
    case STATE_TX_STREAMING:
      return tag == MSG_RUN || tag == MSG_PULL || tag == MSG_DISCARD || tag == MSG_COMMIT
             || tag == MSG_ROLLBACK;
    default:
      return FALSE;
    }
}

static void
dispatch (NcBoltConnection *conn, GBytes *message)
{
  Request req = { 0 };
  g_autoptr (GError) error = NULL;
  gboolean decoded = decode_request (conn, message, &req, &error);

  if (!decoded && g_error_matches (error, NC_ERROR, NC_ERROR_PROTOCOL))
    {
      GError *e = g_error_new (NC_ERROR, NC_ERROR_REQUEST_INVALID, "%s", error->message);
      fail_and_close (conn, e);
      g_error_free (e);
      request_clear (&req);
      return;
    }

  /* Messages that work in any state. */
  if (req.tag == MSG_GOODBYE)
    {
      conn->state = STATE_DEFUNCT;
      conn->closing = TRUE;
      goto out;
    }

  if (conn->state == STATE_CONNECTED)
    {
      if (req.tag != MSG_HELLO)
        protocol_violation (conn, "The first message must be HELLO", TRUE);
      else if (!decoded)
        fail_and_close (conn, error);
      else
        handle_hello (conn, &req);
      goto out;
    }
  if (req.tag == MSG_RESET)
    {
      handle_reset (conn);
      goto out;
    }
  if (conn->state == STATE_AUTHENTICATION)
    {
      if (req.tag != MSG_LOGON)
        protocol_violation (conn, "Authenticate with LOGON first", TRUE);
      else if (!decoded)
        fail_and_close (conn, error);
      else
        handle_logon (conn, &req);
      goto out;
    }
  if (conn->state == STATE_FAILED)
    {
      send_ignored (conn);
      goto out;
    }
  if (req.tag == MSG_HELLO || req.tag == MSG_LOGON)
    {
      protocol_violation (conn, "Already authenticated", TRUE);
      goto out;
    }
  if (conn->fw_active)
    {
      forward_message (conn, req.tag, message);
      goto out;
    }
  if (!allowed (conn, req.tag))
    {
      g_autofree char *what = g_strdup_printf ("Message %s cannot be handled by a session in the %s state.",
                                               message_name (req.tag), state_names[conn->state]);
      protocol_violation (conn, what, FALSE);
      goto out;
    }
  if (!decoded)
    {
      fail (conn, error);
      goto out;
    }

  switch (req.tag)
    {
    case MSG_RUN:
      handle_run (conn, &req, message);
      break;
    case MSG_BEGIN:
      handle_begin (conn, &req, message);
      break;
    case MSG_PULL:
      handle_pull (conn, &req, FALSE);
      break;
    case MSG_DISCARD:
      handle_pull (conn, &req, TRUE);
      break;
    case MSG_COMMIT:
      handle_commit (conn);
      break;
    case MSG_ROLLBACK:
      close_transaction (conn);
      send_success (conn, NULL);
      conn->state = STATE_READY;
      break;
    case MSG_ROUTE:
      handle_route (conn, &req);
      break;
    case MSG_TELEMETRY:
      send_success (conn, NULL);
      break;
    case MSG_LOGOFF:
      logoff_credentials (conn);
      send_success (conn, NULL);
      conn->state = STATE_AUTHENTICATION;
      break;
    default:
      protocol_violation (conn, "Unexpected message", TRUE);
      break;
    }

out:
  request_clear (&req);
}

/* ---- handshake ------------------------------------------------------------------ */

static gboolean
version_supported (guint v)
{
  for (guint i = 0; i < G_N_ELEMENTS (supported_versions); i++)
    if (supported_versions[i] == v)
      return TRUE;
  return FALSE;
}

static void
set_version (NcBoltConnection *conn, guint v)
{
  conn->version = v;
  conn->flavor.element_ids = v >= V (5, 0);
  conn->flavor.utc_datetime = v >= V (5, 0);
  conn->phase = PHASE_MESSAGES;
  conn->state = STATE_CONNECTED;
}

static void
put_varint (GByteArray *out, guint64 v)
{
  do
    {
      guint8 b = v & 0x7F;
      v >>= 7;
      if (v != 0)
        b |= 0x80;
      g_byte_array_append (out, &b, 1);
    }
  while (v != 0);
}

static void
send_manifest (NcBoltConnection *conn)
{
  /* 6.0; 5.8-5.6; 5.4-5.0; 4.4 */
  static const guint8 ranges[][4] = {
    { 0, 0, 0, 6 }, { 0, 2, 8, 5 }, { 0, 4, 4, 5 }, { 0, 0, 4, 4 },
  };
  static const guint8 marker[4] = { 0, 0, 1, 0xFF };
  g_byte_array_append (conn->out, marker, 4);
  put_varint (conn->out, G_N_ELEMENTS (ranges));
  for (guint i = 0; i < G_N_ELEMENTS (ranges); i++)
    g_byte_array_append (conn->out, ranges[i], 4);
  put_varint (conn->out, 0); /* no capabilities */
  flush_output (conn);
}

/* Chooses from the client's four proposals; 0 when none fits. Returns
 * G_MAXUINT for the manifest handshake. */
static guint
choose_version (const guint8 *proposals)
{
  for (guint i = 0; i < 4; i++)
    {
      const guint8 *p = proposals + 4 * i;
      guint major = p[3], minor = p[2];
      if (major == 0xFF && minor == 1)
        return G_MAXUINT;
    }
  for (guint i = 0; i < 4; i++)
    {
      const guint8 *p = proposals + 4 * i;
      guint major = p[3], minor = p[2], range = p[1];
      for (guint k = 0; k <= range && k <= minor; k++)
        if (version_supported (V (major, minor - k)))
          return V (major, minor - k);
    }
  return 0;
}

/* Consumes handshake bytes; returns how many were used. */
static gsize
feed_handshake (NcBoltConnection *conn, const guint8 *data, gsize len)
{
  gsize pos = 0;
  if (conn->phase == PHASE_PREAMBLE)
    {
      while (pos < len && conn->handshake_have < sizeof conn->handshake)
        conn->handshake[conn->handshake_have++] = data[pos++];
      if (conn->handshake_have < sizeof conn->handshake)
        return pos;
      static const guint8 magic[4] = { 0x60, 0x60, 0xB0, 0x17 };
      if (memcmp (conn->handshake, magic, 4) != 0)
        {
          g_debug ("%s: not a Bolt client (bad magic)", conn->connection_id);
          conn->phase = PHASE_CLOSED;
          return pos;
        }
      guint v = choose_version (conn->handshake + 4);
      if (v == G_MAXUINT)
        {
          send_manifest (conn);
          conn->phase = PHASE_MANIFEST_CHOICE;
        }
      else
        {
          guint8 reply[4] = { 0, 0, (guint8) (v & 0xFF), (guint8) (v >> 8) };
          g_byte_array_append (conn->out, reply, 4);
          flush_output (conn);
          if (v == 0)
            {
              conn->phase = PHASE_CLOSED;
              return pos;
            }
          set_version (conn, v);
          return pos;
        }
    }
  if (conn->phase == PHASE_MANIFEST_CHOICE)
    {
      while (pos < len && conn->choice_have < sizeof conn->choice)
        {
          conn->choice[conn->choice_have++] = data[pos++];
          /* 4 version bytes, then a varint whose last byte has the top bit clear. */
          if (conn->choice_have > 4 && !(conn->choice[conn->choice_have - 1] & 0x80))
            break;
        }
      if (conn->choice_have <= 4 || (conn->choice[conn->choice_have - 1] & 0x80))
        {
          if (conn->choice_have == sizeof conn->choice)
            conn->phase = PHASE_CLOSED; /* capability varint too long */
          return pos;
        }
      guint v = V (conn->choice[3], conn->choice[2]);
      if (v != V (6, 0) && !version_supported (v))
        {
          g_debug ("%s: client chose unsupported version %u.%u", conn->connection_id, v >> 8, v & 0xFF);
          conn->phase = PHASE_CLOSED;
          return pos;
        }
      set_version (conn, v);
    }
  return pos;
}

/* ---- public -------------------------------------------------------------------- */

NcBoltConnection *
nc_bolt_connection_new (const NcBoltConnectionConfig *config)
{
  NcBoltConnection *conn = g_new0 (NcBoltConnection, 1);
  conn->cfg = *config;
  conn->connection_id = g_strdup (config->connection_id ? config->connection_id : "bolt-0");
  conn->client_addr = g_strdup (config->client_addr);
  conn->server_agent = g_strdup (config->server_agent ? config->server_agent : "Neo4j/5.26.0");
  conn->cfg.connection_id = conn->connection_id;
  conn->cfg.client_addr = conn->client_addr;
  conn->cfg.server_agent = conn->server_agent;
  nc_bolt_dechunker_init (&conn->dechunker, config->max_message > 0 ? config->max_message : 64 * 1024 * 1024);
  conn->out = g_byte_array_new ();
  conn->tx_results = g_ptr_array_new ();
  conn->phase = PHASE_PREAMBLE;
  conn->state = STATE_CONNECTED;
  return conn;
}

void
nc_bolt_connection_free (NcBoltConnection *conn)
{
  if (conn == NULL)
    return;
  reset_work (conn);
  logoff_credentials (conn);
  g_ptr_array_unref (conn->tx_results);
  g_byte_array_unref (conn->out);
  nc_bolt_dechunker_clear (&conn->dechunker);
  g_free (conn->user_agent);
  nc_value_clear (&conn->notif_filter);
  g_free (conn->connection_id);
  g_free (conn->client_addr);
  g_free (conn->server_agent);
  g_free (conn);
}

guint
nc_bolt_connection_version (NcBoltConnection *conn)
{
  return conn->phase == PHASE_MESSAGES ? conn->version : 0;
}

void
nc_bolt_connection_reject (NcBoltConnection *conn, const GError *reason)
{
  if (conn->phase == PHASE_MESSAGES)
    send_failure (conn, reason);
  conn->closing = TRUE;
  conn->state = STATE_DEFUNCT;
  flush_output (conn);
}

gboolean
nc_bolt_connection_feed (NcBoltConnection *conn, const guint8 *data, gsize len)
{
  gsize pos = 0;
  while (pos < len && !conn->closing && !conn->dead && conn->phase != PHASE_CLOSED)
    {
      if (conn->phase != PHASE_MESSAGES)
        {
          pos += feed_handshake (conn, data + pos, len - pos);
          continue;
        }
      gsize used = 0;
      g_autoptr (GBytes) message = NULL;
      g_autoptr (GError) error = NULL;
      NcBoltDechunkStatus st = nc_bolt_dechunker_feed (&conn->dechunker, data + pos, len - pos, &used,
                                                       &message, &error);
      pos += used;
      if (st == NC_BOLT_DECHUNK_ERROR)
        {
          fail_and_close (conn, error);
          break;
        }
      if (st == NC_BOLT_DECHUNK_MESSAGE)
        dispatch (conn, message);
    }
  flush_output (conn);
  return !(conn->closing || conn->dead || conn->phase == PHASE_CLOSED);
}
