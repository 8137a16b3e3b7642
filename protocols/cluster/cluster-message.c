/* cluster-message.c — the table-driven codec for cluster frames.
 *
 * cluster-messages.def is expanded here into field descriptor tables (name,
 * kind, offset in the message struct, required); one generic encoder,
 * decoder/validator and destructor walk those tables, so adding a message
 * never adds code here.
 */
#define G_LOG_DOMAIN "nornicdb-cluster"

#include "cluster-message.h"

#include <json-glib/json-glib.h>
#include <string.h>

G_DEFINE_QUARK (nc-cluster-error-quark, nc_cluster_error)

typedef enum {
  FT_U64,
  FT_BOOL,
  FT_STRING,
  FT_BYTES,
  FT_STRLIST,
  FT_ENTRIES,
} FieldKind;

typedef struct {
  const char *name;
  FieldKind kind;
  gsize offset;      /* from the start of the message union */
  gboolean required;
} FieldDesc;

typedef struct {
  NcClusterMsgType type;
  const char *name;
  const char *direction;
  const char *description;
  const FieldDesc *fields;
  gsize n_fields;
} MsgDesc;

#define REQUIRED TRUE
#define OPTIONAL FALSE

/* Field tables: fields_VoteRequest[] = { { "term", FT_U64, offset, TRUE }, ... }. */
#define NC_MSG(U, C, l, code, dir, desc) static const FieldDesc fields_##C[] = {
#define NC_FIELD(C, T, name, req) { #name, FT_##T, G_STRUCT_OFFSET (NcClusterMsg##C, name), req },
#define NC_MSG_END(C) };
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END

static const MsgDesc messages[] = {
#define NC_MSG(U, C, l, code, dir, desc) { NC_CLUSTER_MSG_##U, #C, dir, desc, fields_##C, G_N_ELEMENTS (fields_##C) },
#define NC_FIELD(C, T, name, req)
#define NC_MSG_END(C)
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END
};

static const NcClusterMsgType all_types[] = {
#define NC_MSG(U, C, l, code, dir, desc) NC_CLUSTER_MSG_##U,
#define NC_FIELD(C, T, name, req)
#define NC_MSG_END(C)
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END
};

/* Never called: a reused code is a duplicate case label, i.e. a compile
 * error, which enums alone would not catch. */
static G_GNUC_UNUSED void
codes_are_unique (int code)
{
  switch (code)
    {
#define NC_MSG(U, C, l, code, dir, desc) case code: break;
#define NC_FIELD(C, T, name, req)
#define NC_MSG_END(C)
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END
    default:
      break;
    }
}

#undef REQUIRED
#undef OPTIONAL

static const MsgDesc *
msg_desc (gint64 code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (messages); i++)
    if ((gint64) messages[i].type == code)
      return &messages[i];
  return NULL;
}

gboolean
nc_cluster_msg_type_is_known (gint64 code)
{
  return msg_desc (code) != NULL;
}

const char *
nc_cluster_msg_type_name (NcClusterMsgType type)
{
  const MsgDesc *d = msg_desc (type);
  return d != NULL ? d->name : NULL;
}

const char *
nc_cluster_msg_type_direction (NcClusterMsgType type)
{
  const MsgDesc *d = msg_desc (type);
  return d != NULL ? d->direction : NULL;
}

const char *
nc_cluster_msg_type_description (NcClusterMsgType type)
{
  const MsgDesc *d = msg_desc (type);
  return d != NULL ? d->description : NULL;
}

const NcClusterMsgType *
nc_cluster_msg_types (gsize *n)
{
  *n = G_N_ELEMENTS (all_types);
  return all_types;
}

const char *
nc_cluster_error_wire_code (NcClusterError code)
{
  switch (code)
    {
    case NC_CLUSTER_ERROR_FRAME_TOO_LARGE: return "FrameTooLarge";
    case NC_CLUSTER_ERROR_BAD_JSON: return "BadJson";
    case NC_CLUSTER_ERROR_BAD_FIELD: return "BadField";
    case NC_CLUSTER_ERROR_UNKNOWN_TYPE: return "UnknownType";
    case NC_CLUSTER_ERROR_WRONG_CLUSTER: return "WrongCluster";
    case NC_CLUSTER_ERROR_PROTOCOL: return "ProtocolViolation";
    case NC_CLUSTER_ERROR_QUEUE_FULL: return "QueueFull";
    case NC_CLUSTER_ERROR_NOT_CONNECTED: return "NotConnected";
    case NC_CLUSTER_ERROR_TLS: return "Tls";
    case NC_CLUSTER_ERROR_CONFIG: return "Config";
    case NC_CLUSTER_ERROR_CLOSED: return "Closed";
    default: return "Internal";
    }
}

/* ---- entries ------------------------------------------------------------------ */

NcClusterEntry *
nc_cluster_entry_new (guint64 index, guint64 term, GBytes *data)
{
  NcClusterEntry *e = g_new0 (NcClusterEntry, 1);
  e->index = index;
  e->term = term;
  e->data = data != NULL ? g_bytes_ref (data) : g_bytes_new (NULL, 0);
  return e;
}

void
nc_cluster_entry_free (NcClusterEntry *entry)
{
  if (entry == NULL)
    return;
  g_clear_pointer (&entry->data, g_bytes_unref);
  g_free (entry);
}

GPtrArray *
nc_cluster_entries_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) nc_cluster_entry_free);
}

/* ---- messages ------------------------------------------------------------------ */

static inline gpointer
field_ptr (const NcClusterMessage *msg, const FieldDesc *f)
{
  return (guint8 *) &msg->u + f->offset;
}

NcClusterMessage *
nc_cluster_message_new (NcClusterMsgType type)
{
  if (msg_desc (type) == NULL)
    return NULL;
  NcClusterMessage *msg = g_new0 (NcClusterMessage, 1);
  msg->type = type;
  return msg;
}

void
nc_cluster_message_free (NcClusterMessage *msg)
{
  if (msg == NULL)
    return;
  const MsgDesc *d = msg_desc (msg->type);
  for (gsize i = 0; d != NULL && i < d->n_fields; i++)
    {
      gpointer p = field_ptr (msg, &d->fields[i]);
      switch (d->fields[i].kind)
        {
        case FT_STRING: g_clear_pointer ((char **) p, g_free); break;
        case FT_BYTES: g_clear_pointer ((GBytes **) p, g_bytes_unref); break;
        case FT_STRLIST: g_clear_pointer ((char ***) p, g_strfreev); break;
        case FT_ENTRIES: g_clear_pointer ((GPtrArray **) p, g_ptr_array_unref); break;
        case FT_U64:
        case FT_BOOL:
          break;
        }
    }
  g_free (msg->from);
  g_free (msg->cluster);
  g_free (msg);
}

/* ---- encoding -------------------------------------------------------------------- */

static gboolean
check_string (const char *what, const char *s, GError **error)
{
  if (!g_utf8_validate (s, -1, NULL))
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD, "%s is not valid UTF-8", what);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_u64 (const char *what, guint64 v, GError **error)
{
  /* JSON integers travel as gint64 through json-glib. */
  if (v > G_MAXINT64)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD,
                   "%s = %" G_GUINT64_FORMAT " does not fit the wire range 0..2^63-1", what, v);
      return FALSE;
    }
  return TRUE;
}

static void
add_base64 (JsonBuilder *b, GBytes *bytes)
{
  gsize n = 0;
  const guchar *data = bytes != NULL ? g_bytes_get_data (bytes, &n) : NULL;
  g_autofree char *text = g_base64_encode (data, n);
  json_builder_add_string_value (b, text);
}

static gboolean
encode_field (JsonBuilder *b, const MsgDesc *d, const FieldDesc *f, gconstpointer p, GError **error)
{
  switch (f->kind)
    {
    case FT_U64:
      if (!check_u64 (f->name, *(const guint64 *) p, error))
        return FALSE;
      json_builder_set_member_name (b, f->name);
      json_builder_add_int_value (b, (gint64) * (const guint64 *) p);
      return TRUE;
    case FT_BOOL:
      json_builder_set_member_name (b, f->name);
      json_builder_add_boolean_value (b, *(const gboolean *) p != FALSE);
      return TRUE;
    default:
      break;
    }

  gconstpointer v = *(gconstpointer const *) p;
  if (v == NULL)
    {
      if (!f->required)
        return TRUE;
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD,
                   "%s: required field %s is not set", d->name, f->name);
      return FALSE;
    }
  json_builder_set_member_name (b, f->name);
  switch (f->kind)
    {
    case FT_STRING:
      if (!check_string (f->name, v, error))
        return FALSE;
      json_builder_add_string_value (b, v);
      break;
    case FT_BYTES:
      add_base64 (b, (GBytes *) v);
      break;
    case FT_STRLIST:
      json_builder_begin_array (b);
      for (char *const *s = v; *s != NULL; s++)
        {
          if (!check_string (f->name, *s, error))
            return FALSE;
          json_builder_add_string_value (b, *s);
        }
      json_builder_end_array (b);
      break;
    case FT_ENTRIES:
      {
        const GPtrArray *entries = v;
        json_builder_begin_array (b);
        for (guint i = 0; i < entries->len; i++)
          {
            const NcClusterEntry *e = g_ptr_array_index (entries, i);
            if (!check_u64 ("entry index", e->index, error) || !check_u64 ("entry term", e->term, error))
              return FALSE;
            json_builder_begin_object (b);
            json_builder_set_member_name (b, "index");
            json_builder_add_int_value (b, (gint64) e->index);
            json_builder_set_member_name (b, "term");
            json_builder_add_int_value (b, (gint64) e->term);
            json_builder_set_member_name (b, "data");
            add_base64 (b, e->data);
            json_builder_end_object (b);
          }
        json_builder_end_array (b);
        break;
      }
    case FT_U64:
    case FT_BOOL:
      g_assert_not_reached ();
    }
  return TRUE;
}

GBytes *
nc_cluster_frame_encode (const NcClusterMessage *msg, gsize max_frame, GError **error)
{
  if (max_frame == 0)
    max_frame = NC_CLUSTER_DEFAULT_MAX_FRAME;
  const MsgDesc *d = msg_desc (msg->type);
  if (d == NULL)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_UNKNOWN_TYPE,
                   "cannot encode unknown message type %d", (int) msg->type);
      return NULL;
    }
  if (msg->from == NULL || *msg->from == '\0' || msg->cluster == NULL)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD,
                   "%s: \"from\" and \"cluster\" must be set", d->name);
      return NULL;
    }
  if (!check_string ("from", msg->from, error) || !check_string ("cluster", msg->cluster, error))
    return NULL;

  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_int_value (b, msg->type);
  json_builder_set_member_name (b, "from");
  json_builder_add_string_value (b, msg->from);
  json_builder_set_member_name (b, "cluster");
  json_builder_add_string_value (b, msg->cluster);
  for (gsize i = 0; i < d->n_fields; i++)
    if (!encode_field (b, d, &d->fields[i], field_ptr (msg, &d->fields[i]), error))
      return NULL;
  json_builder_end_object (b);

  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  gsize len = 0;
  g_autofree char *json = json_generator_to_data (gen, &len);
  if (len > max_frame || len > G_MAXUINT32)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_FRAME_TOO_LARGE,
                   "%s frame of %" G_GSIZE_FORMAT " bytes exceeds the limit of %" G_GSIZE_FORMAT,
                   d->name, len, max_frame);
      return NULL;
    }
  guint8 *frame = g_malloc (len + 4);
  guint32 be = GUINT32_TO_BE ((guint32) len);
  memcpy (frame, &be, 4);
  memcpy (frame + 4, json, len);
  return g_bytes_new_take (frame, len + 4);
}

/* ---- framing ------------------------------------------------------------------------ */

NcClusterFrameStatus
nc_cluster_frame_peek (const guint8 *buf, gsize len, gsize max_frame, gsize *payload_len, GError **error)
{
  if (max_frame == 0)
    max_frame = NC_CLUSTER_DEFAULT_MAX_FRAME;
  if (len < 4)
    return NC_CLUSTER_FRAME_NEED_MORE;
  guint32 n = ((guint32) buf[0] << 24) | ((guint32) buf[1] << 16) | ((guint32) buf[2] << 8) | buf[3];
  if (n == 0)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_JSON, "empty frame (length 0)");
      return NC_CLUSTER_FRAME_INVALID;
    }
  if (n > max_frame)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_FRAME_TOO_LARGE,
                   "frame length %u exceeds the limit of %" G_GSIZE_FORMAT " bytes", n, max_frame);
      return NC_CLUSTER_FRAME_INVALID;
    }
  *payload_len = n;
  return len - 4 >= n ? NC_CLUSTER_FRAME_READY : NC_CLUSTER_FRAME_NEED_MORE;
}

/* ---- decoding ------------------------------------------------------------------------ */

/* json-glib parses recursively; refusing deep nesting up front keeps a
 * hostile "[[[[..." frame from exhausting the stack. */
static gboolean
check_depth (const guint8 *p, gsize len, GError **error)
{
  int depth = 0;
  gboolean in_string = FALSE, escaped = FALSE;
  for (gsize i = 0; i < len; i++)
    {
      guint8 c = p[i];
      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      if (c == '"')
        in_string = TRUE;
      else if (c == '{' || c == '[')
        {
          if (++depth > NC_CLUSTER_MAX_JSON_DEPTH)
            {
              g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_JSON,
                           "JSON nested deeper than %d levels", NC_CLUSTER_MAX_JSON_DEPTH);
              return FALSE;
            }
        }
      else if (c == '}' || c == ']')
        depth--;
    }
  return TRUE;
}

/* GLib's base64 decoder skips characters it does not know; the wire wants
 * strict base64 so that a corrupted payload is refused, not misread. */
static GBytes *
decode_base64_strict (const char *text)
{
  gsize n = strlen (text);
  if (n % 4 != 0)
    return NULL;
  gsize pad = 0;
  for (gsize i = 0; i < n; i++)
    {
      char c = text[i];
      if (c == '=')
        {
          if (i < n - 2)
            return NULL;
          pad++;
          continue;
        }
      if (pad > 0)
        return NULL;
      if (!(g_ascii_isalnum (c) || c == '+' || c == '/'))
        return NULL;
    }
  if (n == 0)
    return g_bytes_new (NULL, 0);
  gsize out_len = 0;
  guchar *out = g_base64_decode (text, &out_len);
  return g_bytes_new_take (out, out_len);
}

static gboolean
bad_field (GError **error, const MsgDesc *d, const char *name, const char *expected)
{
  g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD,
               "%s: field \"%s\" must be %s", d != NULL ? d->name : "frame", name, expected);
  return FALSE;
}

static gboolean
node_value_type (JsonNode *n, GType t)
{
  return JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == t;
}

static gboolean
get_u64 (JsonNode *n, guint64 *out)
{
  if (!node_value_type (n, G_TYPE_INT64))
    return FALSE;
  gint64 v = json_node_get_int (n);
  if (v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static const char *
get_string (JsonNode *n)
{
  if (!node_value_type (n, G_TYPE_STRING))
    return NULL;
  const char *s = json_node_get_string (n);
  return s != NULL && g_utf8_validate (s, -1, NULL) ? s : NULL;
}

static gboolean
decode_entries (JsonNode *n, const MsgDesc *d, const FieldDesc *f, GPtrArray **out, GError **error)
{
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return bad_field (error, d, f->name, "an array of {index, term, data} objects");
  JsonArray *arr = json_node_get_array (n);
  g_autoptr(GPtrArray) entries = nc_cluster_entries_new ();
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      JsonNode *en = json_array_get_element (arr, i);
      if (!JSON_NODE_HOLDS_OBJECT (en))
        return bad_field (error, d, f->name, "an array of {index, term, data} objects");
      JsonObject *o = json_node_get_object (en);
      JsonNode *ni = json_object_get_member (o, "index");
      JsonNode *nt = json_object_get_member (o, "term");
      JsonNode *nd = json_object_get_member (o, "data");
      guint64 index = 0, term = 0;
      const char *text = nd != NULL ? get_string (nd) : NULL;
      if (ni == NULL || nt == NULL || text == NULL || !get_u64 (ni, &index) || !get_u64 (nt, &term))
        {
          g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD,
                       "%s: %s[%u] needs integer index and term and base64 data", d->name, f->name, i);
          return FALSE;
        }
      g_autoptr(GBytes) data = decode_base64_strict (text);
      if (data == NULL)
        {
          g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD,
                       "%s: %s[%u].data is not valid base64", d->name, f->name, i);
          return FALSE;
        }
      g_ptr_array_add (entries, nc_cluster_entry_new (index, term, data));
    }
  *out = g_steal_pointer (&entries);
  return TRUE;
}

static gboolean
decode_field (JsonNode *n, const MsgDesc *d, const FieldDesc *f, gpointer p, GError **error)
{
  switch (f->kind)
    {
    case FT_U64:
      if (!get_u64 (n, p))
        return bad_field (error, d, f->name, "an integer in 0..2^63-1");
      return TRUE;
    case FT_BOOL:
      if (!node_value_type (n, G_TYPE_BOOLEAN))
        return bad_field (error, d, f->name, "a boolean");
      *(gboolean *) p = json_node_get_boolean (n);
      return TRUE;
    case FT_STRING:
      {
        const char *s = get_string (n);
        if (s == NULL)
          return bad_field (error, d, f->name, "a UTF-8 string");
        *(char **) p = g_strdup (s);
        return TRUE;
      }
    case FT_BYTES:
      {
        const char *s = get_string (n);
        GBytes *bytes = s != NULL ? decode_base64_strict (s) : NULL;
        if (bytes == NULL)
          return bad_field (error, d, f->name, "a base64 string");
        *(GBytes **) p = bytes;
        return TRUE;
      }
    case FT_STRLIST:
      {
        if (!JSON_NODE_HOLDS_ARRAY (n))
          return bad_field (error, d, f->name, "an array of strings");
        JsonArray *arr = json_node_get_array (n);
        guint len = json_array_get_length (arr);
        g_auto(GStrv) list = g_new0 (char *, len + 1);
        for (guint i = 0; i < len; i++)
          {
            const char *s = get_string (json_array_get_element (arr, i));
            if (s == NULL)
              return bad_field (error, d, f->name, "an array of strings");
            list[i] = g_strdup (s);
          }
        *(char ***) p = g_steal_pointer (&list);
        return TRUE;
      }
    case FT_ENTRIES:
      return decode_entries (n, d, f, p, error);
    }
  g_assert_not_reached ();
}

NcClusterMessage *
nc_cluster_message_decode (const guint8 *payload, gsize len, const char *expect_cluster, GError **error)
{
  if (len == 0)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_JSON, "empty frame");
      return NULL;
    }
  if (memchr (payload, '\0', len) != NULL)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_JSON, "frame contains a NUL byte");
      return NULL;
    }
  if (!check_depth (payload, len, error))
    return NULL;

  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local = NULL;
  if (!json_parser_load_from_data (parser, (const char *) payload, (gssize) len, &local))
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_JSON, "bad JSON: %s", local->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_JSON, "frame is not a JSON object");
      return NULL;
    }
  JsonObject *obj = json_node_get_object (root);

  JsonNode *n = json_object_get_member (obj, "type");
  if (n == NULL || !node_value_type (n, G_TYPE_INT64))
    {
      bad_field (error, NULL, "type", "an integer message code");
      return NULL;
    }
  gint64 code = json_node_get_int (n);
  const MsgDesc *d = msg_desc (code);
  if (d == NULL)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_UNKNOWN_TYPE, "unknown message type %" G_GINT64_FORMAT, code);
      return NULL;
    }
  n = json_object_get_member (obj, "from");
  const char *from = n != NULL ? get_string (n) : NULL;
  if (from == NULL || *from == '\0')
    {
      bad_field (error, d, "from", "a non-empty string");
      return NULL;
    }
  n = json_object_get_member (obj, "cluster");
  const char *cluster = n != NULL ? get_string (n) : NULL;
  if (cluster == NULL)
    {
      bad_field (error, d, "cluster", "a string");
      return NULL;
    }
  if (expect_cluster != NULL && strcmp (cluster, expect_cluster) != 0)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_WRONG_CLUSTER,
                   "frame is for cluster \"%s\", this node is in cluster \"%s\"", cluster, expect_cluster);
      return NULL;
    }

  g_autoptr(NcClusterMessage) msg = nc_cluster_message_new (d->type);
  msg->from = g_strdup (from);
  msg->cluster = g_strdup (cluster);
  for (gsize i = 0; i < d->n_fields; i++)
    {
      const FieldDesc *f = &d->fields[i];
      n = json_object_get_member (obj, f->name);
      if (n == NULL || (!f->required && JSON_NODE_HOLDS_NULL (n)))
        {
          if (f->required)
            {
              g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD,
                           "%s: required field \"%s\" is missing", d->name, f->name);
              return NULL;
            }
          continue;
        }
      if (!decode_field (n, d, f, field_ptr (msg, f), error))
        return NULL;
    }
  return g_steal_pointer (&msg);
}
