/* libFuzzer target: a whole Bolt connection (handshake, framing, message
 * decoding, state machine) fed with the input, over a backend that runs no
 * queries: every query yields the rows of its parameters' values, or fails
 * when the query text starts with "F". The first input byte chooses whether
 * a valid handshake + HELLO/LOGON prefix is prepended, so the fuzzer
 * reaches the authenticated states quickly. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "bolt-chunk.h"
#include "bolt-connection.h"
#include "errors.h"
#include "packstream.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
  char **fields;
  NcValue *row;
  guint n;
  gboolean given;
  NcQueryStats stats;
} Res;

static gboolean
b_auth_enabled (gpointer be)
{
  return TRUE;
}

static gboolean
b_authenticate (gpointer be, const char *addr, const char *user, const char *pw, NcUserRole *role, GError **error)
{
  if (g_strcmp0 (pw, "pw") != 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNAUTHORIZED, "unauthorized");
      return FALSE;
    }
  *role = g_strcmp0 (user, "r") == 0 ? NC_USER_ROLE_READER : NC_USER_ROLE_ADMIN;
  return TRUE;
}

static gpointer
b_run (const char *query, const NcMap *params, GError **error)
{
  if (query[0] == 'F')
    {
      g_set_error (error, NC_ERROR, NC_ERROR_SYNTAX, "syntax");
      return NULL;
    }
  Res *r = g_new0 (Res, 1);
  r->n = params ? params->len : 0;
  r->fields = g_new0 (char *, r->n + 1);
  r->row = g_new0 (NcValue, r->n + 1);
  for (guint i = 0; i < r->n; i++)
    {
      r->fields[i] = g_strdup (params->entries[i].key->data);
      r->row[i] = nc_value_copy (&params->entries[i].value);
    }
  return r;
}

static gpointer
b_run_autocommit (gpointer be, const NcTxOptions *opts, const char *q, const NcMap *p, GError **error)
{
  return b_run (q, p, error);
}

static gpointer
b_begin (gpointer be, const NcTxOptions *opts, GError **error)
{
  return g_new0 (int, 1);
}

static gpointer
b_tx_run (gpointer tx, const char *q, const NcMap *p, GError **error)
{
  return b_run (q, p, error);
}

static gboolean
b_tx_commit (gpointer tx, char **bookmark, GError **error)
{
  *bookmark = g_strdup ("nornicdb:1");
  return TRUE;
}

static const char *const *
b_fields (gpointer res)
{
  return (const char *const *) ((Res *) res)->fields;
}

static gboolean
b_next (gpointer res, const NcValue **row, GError **error)
{
  Res *r = res;
  if (r->given)
    return FALSE;
  r->given = TRUE;
  *row = r->row;
  return TRUE;
}

static gboolean
b_finish (gpointer res, char **bookmark, GError **error)
{
  ((Res *) res)->given = TRUE;
  return TRUE;
}

static const NcQueryStats *
b_stats (gpointer res)
{
  return &((Res *) res)->stats;
}

static NcQueryType
b_type (gpointer res)
{
  return NC_QUERY_READ;
}

static NcValue
b_null (gpointer res)
{
  return nc_value_null ();
}

static const char *
b_bookmark (gpointer res)
{
  return "nornicdb:1";
}

static void
b_free (gpointer res)
{
  Res *r = res;
  for (guint i = 0; i < r->n; i++)
    nc_value_clear (&r->row[i]);
  g_free (r->row);
  g_strfreev (r->fields);
  g_free (r);
}

static NornicRoutingTable *
b_rt (gpointer be, GError **error)
{
  NornicRoutingTable *rt = g_new0 (NornicRoutingTable, 1);
  rt->ttl_seconds = 10;
  rt->routers = g_ptr_array_new_with_free_func (g_free);
  rt->readers = g_ptr_array_new_with_free_func (g_free);
  rt->writers = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (rt->routers, g_strdup ("127.0.0.1:1"));
  return rt;
}

static void
b_rt_free (NornicRoutingTable *rt)
{
  g_ptr_array_unref (rt->routers);
  g_ptr_array_unref (rt->readers);
  g_ptr_array_unref (rt->writers);
  g_free (rt);
}

static char *
b_writer (gpointer be)
{
  return NULL;
}

static const NcBoltBackend backend = {
  b_auth_enabled, b_authenticate, b_begin, b_tx_run, b_tx_commit, g_free, b_run_autocommit, b_fields, b_next,
  b_finish, b_stats, b_type, b_null, b_null, b_bookmark, b_free, b_rt, b_rt_free, b_writer,
};

static gboolean
sink_cb (gpointer user_data, const guint8 *data, gsize len, GError **error)
{
  *(gsize *) user_data += len;
  return TRUE;
}

static void
append_map_message (GByteArray *out, guint8 tag, const char *const *kv)
{
  GByteArray *b = g_byte_array_new ();
  guint n = 0;
  while (kv[2 * n] != NULL)
    n++;
  nc_ps_write_struct_header (b, 1, tag);
  nc_ps_write_map_header (b, n);
  for (guint i = 0; i < 2 * n; i++)
    nc_ps_write_string (b, kv[i]);
  nc_bolt_chunk_append (out, b->data, b->len);
  g_byte_array_unref (b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  gsize written = 0;
  NcBoltConnectionConfig cfg = {
    .backend = &backend,
    .connection_id = "bolt-fuzz",
    .server_agent = "Neo4j/5.26.0-fuzz",
    .max_message = 1 << 16,
    .allow_forward = FALSE,
    .write = sink_cb,
    .write_data = &written,
  };
  NcBoltConnection *conn = nc_bolt_connection_new (&cfg);
  guint8 mode = data[0];
  gboolean open = TRUE;
  if (mode & 1)
    {
      /* handshake for 4.4, 5.0, 5.4 or 5.8 and a logged-on session */
      static const guint8 versions[4][2] = { { 4, 4 }, { 0, 5 }, { 4, 5 }, { 8, 5 } };
      const guint8 *v = versions[(mode >> 1) & 3];
      GByteArray *pre = g_byte_array_new ();
      guint8 hs[20] = { 0x60, 0x60, 0xB0, 0x17, 0, 0, v[0], v[1] };
      g_byte_array_append (pre, hs, sizeof hs);
      gboolean auth_in_hello = v[1] == 4 || v[0] == 0;
      static const char *const hello_auth[] = { "user_agent", "f", "scheme", "basic", "principal", "a",
                                                "credentials", "pw", NULL };
      static const char *const hello[] = { "user_agent", "f", NULL };
      static const char *const logon[] = { "scheme", "basic", "principal", "a", "credentials", "pw", NULL };
      append_map_message (pre, 0x01, auth_in_hello ? hello_auth : hello);
      if (!auth_in_hello)
        append_map_message (pre, 0x6A, logon);
      open = nc_bolt_connection_feed (conn, pre->data, pre->len);
      g_byte_array_unref (pre);
    }
  /* Feed the rest in pieces sized by bits of the mode byte. */
  size_t step = (mode & 0x80) ? 1 : 4096;
  for (size_t pos = 1; open && pos < size; pos += step)
    open = nc_bolt_connection_feed (conn, data + pos, MIN (step, size - pos));
  nc_bolt_connection_free (conn);
  return 0;
}
