/* The Cypher scalar function table and the non-temporal functions:
 * entities, lists, strings, maths, type conversion, spatial; plus
 * toString() rendering and `v.field` access.
 *
 * Temporal constructors live in temporal.c, aggregates in aggregates.c. */
#define G_LOG_DOMAIN "nornicdb-cypher"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "functions.h"
#include "temporal.h"

#define NC_RANGE_MAX_ITEMS G_GINT64_CONSTANT (100000000)

const char *
nc_fn_type_label (const NcValue *v)
{
  static const char *const names[NC_VALUE_N_TYPES] = {
    [NC_VALUE_NULL] = "Null",
    [NC_VALUE_BOOL] = "Boolean",
    [NC_VALUE_INT] = "Integer",
    [NC_VALUE_FLOAT] = "Float",
    [NC_VALUE_STRING] = "String",
    [NC_VALUE_BYTES] = "ByteArray",
    [NC_VALUE_LIST] = "List",
    [NC_VALUE_MAP] = "Map",
    [NC_VALUE_NODE] = "Node",
    [NC_VALUE_REL] = "Relationship",
    [NC_VALUE_PATH] = "Path",
    [NC_VALUE_DATE] = "Date",
    [NC_VALUE_LOCAL_TIME] = "LocalTime",
    [NC_VALUE_TIME] = "Time",
    [NC_VALUE_LOCAL_DATETIME] = "LocalDateTime",
    [NC_VALUE_DATETIME] = "DateTime",
    [NC_VALUE_DURATION] = "Duration",
    [NC_VALUE_POINT] = "Point",
  };
  return v->type < NC_VALUE_N_TYPES ? names[v->type] : "Unknown";
}

static gboolean
type_mismatch (GError **error, const char *fn, const char *expected, const NcValue *got)
{
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
               "Type mismatch: %s() expected %s but was %s", fn, expected, nc_fn_type_label (got));
  return FALSE;
}

static gboolean
is_number (const NcValue *v)
{
  return v->type == NC_VALUE_INT || v->type == NC_VALUE_FLOAT;
}

static double
as_double (const NcValue *v)
{
  return v->type == NC_VALUE_INT ? (double) v->u.i : v->u.f;
}

static NcValue
string_value_take (GString *s)
{
  gsize len = s->len;
  g_autofree char *data = g_string_free (s, FALSE);
  return nc_value_string_len (data, len);
}

/* ---- toString ------------------------------------------------------------- */

/* Java's Double.toString: the shortest digits that round-trip, plain
 * notation for 1e-3 <= |x| < 1e7, otherwise "d.dddE<exp>". Neo4j prints
 * floats this way, so results must match it exactly. */
static void
append_double (GString *out, double d)
{
  if (isnan (d))
    {
      g_string_append (out, "NaN");
      return;
    }
  if (isinf (d))
    {
      g_string_append (out, d > 0 ? "Infinity" : "-Infinity");
      return;
    }
  if (d == 0)
    {
      g_string_append (out, signbit (d) ? "-0.0" : "0.0");
      return;
    }
  char buf[64];
  for (int prec = 1; prec <= 17; prec++)
    {
      g_snprintf (buf, sizeof buf, "%.*e", prec - 1, d);
      if (g_ascii_strtod (buf, NULL) == d)
        break;
    }
  /* buf = "[-]d.ddde[+-]xx" */
  const char *p = buf;
  if (*p == '-')
    {
      g_string_append_c (out, '-');
      p++;
    }
  char digits[32];
  int nd = 0;
  for (; *p && *p != 'e'; p++)
    if (*p != '.')
      digits[nd++] = *p;
  digits[nd] = '\0';
  int exp10 = atoi (p + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    digits[--nd] = '\0';
  if (exp10 >= -3 && exp10 < 7)
    {
      if (exp10 < 0)
        {
          g_string_append (out, "0.");
          for (int i = -1; i > exp10; i--)
            g_string_append_c (out, '0');
          g_string_append (out, digits);
        }
      else
        {
          for (int i = 0; i <= exp10; i++)
            g_string_append_c (out, i < nd ? digits[i] : '0');
          g_string_append_c (out, '.');
          if (nd > exp10 + 1)
            g_string_append (out, digits + exp10 + 1);
          else
            g_string_append_c (out, '0');
        }
    }
  else
    {
      g_string_append_c (out, digits[0]);
      g_string_append_c (out, '.');
      g_string_append (out, nd > 1 ? digits + 1 : "0");
      g_string_append_printf (out, "E%d", exp10);
    }
}

static void append_string_form (GString *out, const NcValue *v);

static void
append_string_form (GString *out, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NULL: g_string_append (out, "null"); break;
    case NC_VALUE_BOOL: g_string_append (out, v->u.b ? "true" : "false"); break;
    case NC_VALUE_INT: g_string_append_printf (out, "%" G_GINT64_FORMAT, v->u.i); break;
    case NC_VALUE_FLOAT: append_double (out, v->u.f); break;
    case NC_VALUE_STRING: g_string_append_len (out, v->u.s->data, v->u.s->len); break;
    case NC_VALUE_DATE:
    case NC_VALUE_LOCAL_TIME:
    case NC_VALUE_TIME:
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
    case NC_VALUE_DURATION:
    case NC_VALUE_POINT:
      nc_temporal_append_string (out, v);
      break;
    case NC_VALUE_LIST:
      g_string_append_c (out, '[');
      for (guint32 i = 0; i < v->u.list->len; i++)
        {
          if (i)
            g_string_append (out, ", ");
          append_string_form (out, &v->u.list->items[i]);
        }
      g_string_append_c (out, ']');
      break;
    case NC_VALUE_MAP:
      g_string_append_c (out, '{');
      for (guint32 i = 0; i < v->u.map->len; i++)
        {
          if (i)
            g_string_append (out, ", ");
          g_string_append_printf (out, "%s: ", v->u.map->entries[i].key->data);
          append_string_form (out, &v->u.map->entries[i].value);
        }
      g_string_append_c (out, '}');
      break;
    default:
      {
        g_autofree char *s = nc_value_to_debug_string (v);
        g_string_append (out, s);
        break;
      }
    }
}

char *
nc_cypher_to_string (const NcValue *v)
{
  GString *out = g_string_new (NULL);
  append_string_form (out, v);
  return g_string_free (out, FALSE);
}

/* ---- field access ------------------------------------------------------- */

gboolean
nc_cypher_value_field (const NcValue *v, const char *field, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  switch (v->type)
    {
    case NC_VALUE_NULL:
      return TRUE;
    case NC_VALUE_MAP:
      {
        const NcValue *found = nc_map_get (v->u.map, field);
        if (found)
          *out = nc_value_copy (found);
        return TRUE;
      }
    case NC_VALUE_NODE:
    case NC_VALUE_REL:
      /* Only a materialised entity carries its properties; the executor
       * reads properties of engine-internal references from the txn. */
      if (v->u.entity->materialised)
        {
          const NcValue *found = v->u.entity->props ? nc_map_get (v->u.entity->props, field) : NULL;
          if (found)
            *out = nc_value_copy (found);
          return TRUE;
        }
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                   "Property access on a %s reference needs the transaction",
                   nc_fn_type_label (v));
      return FALSE;
    case NC_VALUE_DATE:
    case NC_VALUE_LOCAL_TIME:
    case NC_VALUE_TIME:
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
    case NC_VALUE_DURATION:
    case NC_VALUE_POINT:
      return nc_temporal_field (v, field, out, error);
    default:
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                   "Type mismatch: expected a map, node, relationship, temporal or point value "
                   "but was %s", nc_fn_type_label (v));
      return FALSE;
    }
}

/* ---- entities --------------------------------------------------------------- */

#define FN(name) static gboolean name (NcFuncCtx *ctx, const NcValue *args, guint n_args, \
                                       NcValue *out, GError **error)

/* Returns TRUE (with *out = null) when the first argument is null: the
 * common "null in, null out" rule. */
#define NULL_IN_NULL_OUT() \
  do { *out = nc_value_null (); if (n_args > 0 && args[0].type == NC_VALUE_NULL) return TRUE; } while (0)

static gboolean
need_txn (NcFuncCtx *ctx, const char *fn, GError **error)
{
  if (ctx && ctx->txn && ctx->store)
    return TRUE;
  g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN, "%s() needs a transaction", fn);
  return FALSE;
}

FN (fn_id)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_NODE && args[0].type != NC_VALUE_REL)
    return type_mismatch (error, "id", "Node or Relationship", &args[0]);
  *out = nc_value_int (args[0].u.entity->id);
  return TRUE;
}

FN (fn_element_id)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_NODE && args[0].type != NC_VALUE_REL)
    return type_mismatch (error, "elementId", "Node or Relationship", &args[0]);
  g_autofree char *s = g_strdup_printf ("%d:nornicdb:%" G_GINT64_FORMAT,
                                        args[0].type == NC_VALUE_NODE ? 4 : 5,
                                        args[0].u.entity->id);
  *out = nc_value_string (s);
  return TRUE;
}

FN (fn_labels)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_NODE)
    return type_mismatch (error, "labels", "Node", &args[0]);
  const NcEntity *e = args[0].u.entity;
  if (e->materialised)
    {
      NcList *l = nc_list_new (e->n_labels);
      for (guint32 i = 0; i < e->n_labels; i++)
        l->items[i] = nc_value_string_take (nc_string_ref (e->labels[i]));
      *out = nc_value_list_take (l);
      return TRUE;
    }
  if (!need_txn (ctx, "labels", error))
    return FALSE;
  g_autoptr (GArray) toks = nc_txn_node_labels (ctx->txn, e->id);
  if (toks == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ENTITY_NOT_FOUND,
                   "Node with id %" G_GINT64_FORMAT " has been deleted in this transaction", e->id);
      return FALSE;
    }
  NcList *l = nc_list_new (toks->len);
  for (guint i = 0; i < toks->len; i++)
    l->items[i] = nc_value_string (nc_store_token_name (ctx->store, NC_TOKEN_LABEL,
                                                        g_array_index (toks, NcToken, i)));
  *out = nc_value_list_take (l);
  return TRUE;
}

static gboolean
rel_endpoints (NcFuncCtx *ctx, const NcEntity *e, NcToken *type, gint64 *start, gint64 *end,
               GError **error)
{
  if (ctx && ctx->txn && (nc_txn_rel_info (ctx->txn, e->id, type, start, end)
                          || nc_txn_deleted_rel_info (ctx->txn, e->id, type, start, end)))
    return TRUE;
  if (type == NULL && (e->start_id != 0 || e->end_id != 0 || e->materialised))
    {
      /* Deleted in this transaction, or no txn: the value still knows its ends. */
      *start = e->start_id;
      *end = e->end_id;
      return TRUE;
    }
  g_set_error (error, NC_ERROR, NC_ERROR_ENTITY_NOT_FOUND,
               "Relationship with id %" G_GINT64_FORMAT " has been deleted in this transaction", e->id);
  return FALSE;
}

FN (fn_type)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_REL)
    return type_mismatch (error, "type", "Relationship", &args[0]);
  const NcEntity *e = args[0].u.entity;
  if (e->materialised && e->rel_type)
    {
      *out = nc_value_string_take (nc_string_ref (e->rel_type));
      return TRUE;
    }
  if (!need_txn (ctx, "type", error))
    return FALSE;
  NcToken type;
  gint64 s, t;
  if (!rel_endpoints (ctx, e, &type, &s, &t, error))
    return FALSE;
  *out = nc_value_string (nc_store_token_name (ctx->store, NC_TOKEN_REL_TYPE, type));
  return TRUE;
}

static NcMap *
entity_props (NcFuncCtx *ctx, const NcValue *v, GError **error)
{
  const NcEntity *e = v->u.entity;
  if (e->materialised)
    return e->props ? nc_map_ref (e->props) : nc_map_new (0);
  if (!need_txn (ctx, "properties", error))
    return NULL;
  NcMap *m = e->is_rel ? nc_txn_rel_props (ctx->txn, e->id) : nc_txn_node_props (ctx->txn, e->id);
  if (m == NULL)
    g_set_error (error, NC_ERROR, NC_ERROR_ENTITY_NOT_FOUND,
                 "%s with id %" G_GINT64_FORMAT " has been deleted in this transaction",
                 e->is_rel ? "Relationship" : "Node", e->id);
  return m;
}

FN (fn_properties)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type == NC_VALUE_MAP)
    {
      *out = nc_value_copy (&args[0]);
      return TRUE;
    }
  if (args[0].type != NC_VALUE_NODE && args[0].type != NC_VALUE_REL)
    return type_mismatch (error, "properties", "Map, Node or Relationship", &args[0]);
  NcMap *m = entity_props (ctx, &args[0], error);
  if (m == NULL)
    return FALSE;
  *out = nc_value_map_take (m);
  return TRUE;
}

FN (fn_keys)
{
  NULL_IN_NULL_OUT ();
  g_autoptr (NcMap) m = NULL;
  if (args[0].type == NC_VALUE_MAP)
    m = nc_map_ref (args[0].u.map);
  else if (args[0].type == NC_VALUE_NODE || args[0].type == NC_VALUE_REL)
    m = entity_props (ctx, &args[0], error);
  else
    return type_mismatch (error, "keys", "Map, Node or Relationship", &args[0]);
  if (m == NULL)
    return FALSE;
  NcList *l = nc_list_new (m->len);
  for (guint32 i = 0; i < m->len; i++)
    l->items[i] = nc_value_string_take (nc_string_ref (m->entries[i].key));
  *out = nc_value_list_take (l);
  return TRUE;
}

static gboolean
rel_end_node (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error,
              gboolean start)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_REL)
    return type_mismatch (error, start ? "startNode" : "endNode", "Relationship", &args[0]);
  gint64 s, e;
  if (!rel_endpoints (ctx, args[0].u.entity, NULL, &s, &e, error))
    return FALSE;
  *out = nc_value_node_ref (start ? s : e);
  return TRUE;
}

FN (fn_start_node) { return rel_end_node (ctx, args, n_args, out, error, TRUE); }
FN (fn_end_node) { return rel_end_node (ctx, args, n_args, out, error, FALSE); }

FN (fn_nodes)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_PATH)
    return type_mismatch (error, "nodes", "Path", &args[0]);
  const NcPath *p = args[0].u.path;
  NcList *l = nc_list_new (p->n_nodes);
  for (guint32 i = 0; i < p->n_nodes; i++)
    l->items[i] = nc_value_copy (&p->nodes[i]);
  *out = nc_value_list_take (l);
  return TRUE;
}

FN (fn_relationships)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_PATH)
    return type_mismatch (error, "relationships", "Path", &args[0]);
  const NcPath *p = args[0].u.path;
  guint32 n = p->n_nodes > 0 ? p->n_nodes - 1 : 0;
  NcList *l = nc_list_new (n);
  for (guint32 i = 0; i < n; i++)
    l->items[i] = nc_value_copy (&p->rels[i]);
  *out = nc_value_list_take (l);
  return TRUE;
}

/* ---- lists and general -------------------------------------------------- */

FN (fn_size)
{
  NULL_IN_NULL_OUT ();
  switch (args[0].type)
    {
    case NC_VALUE_LIST:
      *out = nc_value_int (args[0].u.list->len);
      return TRUE;
    case NC_VALUE_STRING:
      *out = nc_value_int (g_utf8_strlen (args[0].u.s->data, args[0].u.s->len));
      return TRUE;
    default:
      return type_mismatch (error, "size", "String or List", &args[0]);
    }
}

FN (fn_length)
{
  NULL_IN_NULL_OUT ();
  switch (args[0].type)
    {
    case NC_VALUE_PATH:
      *out = nc_value_int (args[0].u.path->n_nodes > 0 ? args[0].u.path->n_nodes - 1 : 0);
      return TRUE;
    case NC_VALUE_STRING:
    case NC_VALUE_LIST:
      return fn_size (ctx, args, n_args, out, error);
    default:
      return type_mismatch (error, "length", "Path", &args[0]);
    }
}

FN (fn_char_length)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_STRING)
    return type_mismatch (error, "char_length", "String", &args[0]);
  *out = nc_value_int (g_utf8_strlen (args[0].u.s->data, args[0].u.s->len));
  return TRUE;
}

FN (fn_coalesce)
{
  *out = nc_value_null ();
  for (guint i = 0; i < n_args; i++)
    if (args[i].type != NC_VALUE_NULL)
      {
        *out = nc_value_copy (&args[i]);
        break;
      }
  return TRUE;
}

FN (fn_head)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_LIST)
    return type_mismatch (error, "head", "List", &args[0]);
  if (args[0].u.list->len > 0)
    *out = nc_value_copy (&args[0].u.list->items[0]);
  return TRUE;
}

FN (fn_last)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_LIST)
    return type_mismatch (error, "last", "List", &args[0]);
  if (args[0].u.list->len > 0)
    *out = nc_value_copy (&args[0].u.list->items[args[0].u.list->len - 1]);
  return TRUE;
}

FN (fn_tail)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_LIST)
    return type_mismatch (error, "tail", "List", &args[0]);
  const NcList *src = args[0].u.list;
  guint32 n = src->len > 0 ? src->len - 1 : 0;
  NcList *l = nc_list_new (n);
  for (guint32 i = 0; i < n; i++)
    l->items[i] = nc_value_copy (&src->items[i + 1]);
  *out = nc_value_list_take (l);
  return TRUE;
}

FN (fn_range)
{
  *out = nc_value_null ();
  gint64 v[3] = { 0, 0, 1 };
  for (guint i = 0; i < n_args; i++)
    {
      if (args[i].type != NC_VALUE_INT)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                       "Invalid argument type: range() expects Integer arguments but argument %u was %s",
                       i + 1, nc_fn_type_label (&args[i]));
          return FALSE;
        }
      v[i] = args[i].u.i;
    }
  gint64 start = v[0], end = v[1], step = v[2];
  if (step == 0)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT,
                           "Number out of range: step argument to range() can't be 0");
      return FALSE;
    }
  /* Count in 128-bit to survive extreme bounds. */
  __int128 span = (__int128) end - start;
  __int128 count = 0;
  if ((step > 0 && span >= 0) || (step < 0 && span <= 0))
    count = span / step + 1;
  if (count > NC_RANGE_MAX_ITEMS)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "range() would produce more than %" G_GINT64_FORMAT " elements", NC_RANGE_MAX_ITEMS);
      return FALSE;
    }
  NcList *l = nc_list_new ((guint32) count);
  for (guint32 i = 0; i < (guint32) count; i++)
    l->items[i] = nc_value_int ((gint64) (start + (__int128) i * step));
  *out = nc_value_list_take (l);
  return TRUE;
}

FN (fn_reverse)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type == NC_VALUE_STRING)
    {
      g_autofree char *r = g_utf8_strreverse (args[0].u.s->data, args[0].u.s->len);
      *out = nc_value_string (r);
      return TRUE;
    }
  if (args[0].type != NC_VALUE_LIST)
    return type_mismatch (error, "reverse", "String or List", &args[0]);
  const NcList *src = args[0].u.list;
  NcList *l = nc_list_new (src->len);
  for (guint32 i = 0; i < src->len; i++)
    l->items[i] = nc_value_copy (&src->items[src->len - 1 - i]);
  *out = nc_value_list_take (l);
  return TRUE;
}

FN (fn_exists)
{
  *out = nc_value_bool (args[0].type != NC_VALUE_NULL);
  return TRUE;
}

FN (fn_is_empty)
{
  NULL_IN_NULL_OUT ();
  switch (args[0].type)
    {
    case NC_VALUE_STRING: *out = nc_value_bool (args[0].u.s->len == 0); return TRUE;
    case NC_VALUE_LIST: *out = nc_value_bool (args[0].u.list->len == 0); return TRUE;
    case NC_VALUE_MAP: *out = nc_value_bool (args[0].u.map->len == 0); return TRUE;
    default: return type_mismatch (error, "isEmpty", "String, List or Map", &args[0]);
    }
}

/* valueType(): Neo4j 5's type names, e.g. "LIST<INTEGER NOT NULL> NOT NULL". */
static char *
value_type_name (const NcValue *v, gboolean not_null)
{
  const char *base;
  switch (v->type)
    {
    case NC_VALUE_NULL: return g_strdup ("NULL");
    case NC_VALUE_BYTES: base = "BYTES"; break;
    case NC_VALUE_LIST:
      {
        const NcList *l = v->u.list;
        g_autoptr (GPtrArray) members = g_ptr_array_new_with_free_func (g_free);
        gboolean has_null = FALSE;
        for (guint32 i = 0; i < l->len; i++)
          {
            if (l->items[i].type == NC_VALUE_NULL)
              {
                has_null = TRUE;
                continue;
              }
            char *m = value_type_name (&l->items[i], FALSE);
            gboolean dup = FALSE;
            for (guint j = 0; j < members->len && !dup; j++)
              dup = g_str_equal (members->pdata[j], m);
            if (dup)
              g_free (m);
            else
              g_ptr_array_add (members, m);
          }
        GString *s = g_string_new ("LIST<");
        if (members->len == 0)
          g_string_append (s, has_null ? "NULL" : "NOTHING");
        for (guint j = 0; j < members->len; j++)
          {
            if (j)
              g_string_append (s, " | ");
            g_string_append (s, members->pdata[j]);
            if (!has_null)
              g_string_append (s, " NOT NULL");
          }
        g_string_append_c (s, '>');
        if (not_null)
          g_string_append (s, " NOT NULL");
        return g_string_free (s, FALSE);
      }
    default:
      base = nc_value_type_name (v->type);
      break;
    }
  return not_null ? g_strconcat (base, " NOT NULL", NULL) : g_strdup (base);
}

FN (fn_value_type)
{
  g_autofree char *s = value_type_name (&args[0], TRUE);
  *out = nc_value_string (s);
  return TRUE;
}

/* ---- type conversion ------------------------------------------------------ */

/* Conversions return FALSE for "not convertible" (null result), and set
 * *bad_type when the argument's type is not accepted at all. */
static gboolean
convert_int (const NcValue *v, NcValue *out, gboolean *bad_type)
{
  *out = nc_value_null ();
  switch (v->type)
    {
    case NC_VALUE_INT:
      *out = *v;
      return TRUE;
    case NC_VALUE_BOOL:
      *out = nc_value_int (v->u.b ? 1 : 0);
      return TRUE;
    case NC_VALUE_FLOAT:
      if (isnan (v->u.f) || v->u.f >= 9223372036854775808.0 || v->u.f < -9223372036854775808.0)
        return FALSE;
      *out = nc_value_int ((gint64) v->u.f);
      return TRUE;
    case NC_VALUE_STRING:
      {
        g_autofree char *s = g_strstrip (g_strdup (v->u.s->data));
        char *end = NULL;
        if (*s == '\0')
          return FALSE;
        errno = 0;
        gint64 i = g_ascii_strtoll (s, &end, 10);
        if (*end == '\0' && errno == 0)
          {
            *out = nc_value_int (i);
            return TRUE;
          }
        double d = g_ascii_strtod (s, &end);
        if (*end != '\0' || isnan (d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0)
          return FALSE;
        *out = nc_value_int ((gint64) d);
        return TRUE;
      }
    default:
      *bad_type = TRUE;
      return FALSE;
    }
}

static gboolean
convert_float (const NcValue *v, NcValue *out, gboolean *bad_type)
{
  *out = nc_value_null ();
  switch (v->type)
    {
    case NC_VALUE_INT:
      *out = nc_value_float ((double) v->u.i);
      return TRUE;
    case NC_VALUE_FLOAT:
      *out = *v;
      return TRUE;
    case NC_VALUE_STRING:
      {
        g_autofree char *s = g_strstrip (g_strdup (v->u.s->data));
        char *end = NULL;
        if (*s == '\0')
          return FALSE;
        /* strtod accepts hex floats and "inf"; Java's parseDouble accepts
         * "Infinity" and "NaN" only. */
        if (strpbrk (s, "xX") != NULL || g_ascii_strncasecmp (s + (*s == '-' || *s == '+'), "inf", 3) == 0)
          {
            const char *t = s + (*s == '-' || *s == '+');
            if (g_str_equal (t, "Infinity"))
              {
                *out = nc_value_float (*s == '-' ? -INFINITY : INFINITY);
                return TRUE;
              }
            return FALSE;
          }
        double d = g_ascii_strtod (s, &end);
        if (*end != '\0')
          return FALSE;
        *out = nc_value_float (d);
        return TRUE;
      }
    default:
      *bad_type = TRUE;
      return FALSE;
    }
}

static gboolean
convert_bool (const NcValue *v, NcValue *out, gboolean *bad_type)
{
  *out = nc_value_null ();
  switch (v->type)
    {
    case NC_VALUE_BOOL:
      *out = *v;
      return TRUE;
    case NC_VALUE_INT:
      *out = nc_value_bool (v->u.i != 0);
      return TRUE;
    case NC_VALUE_STRING:
      {
        g_autofree char *s = g_strstrip (g_strdup (v->u.s->data));
        if (g_ascii_strcasecmp (s, "true") == 0)
          *out = nc_value_bool (TRUE);
        else if (g_ascii_strcasecmp (s, "false") == 0)
          *out = nc_value_bool (FALSE);
        else
          return FALSE;
        return TRUE;
      }
    default:
      *bad_type = TRUE;
      return FALSE;
    }
}

static gboolean
convert_string (const NcValue *v, NcValue *out, gboolean *bad_type)
{
  *out = nc_value_null ();
  switch (v->type)
    {
    case NC_VALUE_STRING:
      *out = nc_value_copy (v);
      return TRUE;
    case NC_VALUE_BOOL:
    case NC_VALUE_INT:
    case NC_VALUE_FLOAT:
    case NC_VALUE_DATE:
    case NC_VALUE_LOCAL_TIME:
    case NC_VALUE_TIME:
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
    case NC_VALUE_DURATION:
    case NC_VALUE_POINT:
      {
        g_autofree char *s = nc_cypher_to_string (v);
        *out = nc_value_string (s);
        return TRUE;
      }
    default:
      *bad_type = TRUE;
      return FALSE;
    }
}

typedef gboolean (*ConvertFunc) (const NcValue *v, NcValue *out, gboolean *bad_type);

static gboolean
convert (const NcValue *args, NcValue *out, GError **error, ConvertFunc conv, const char *fn,
         const char *expected, gboolean or_null)
{
  *out = nc_value_null ();
  if (args[0].type == NC_VALUE_NULL)
    return TRUE;
  gboolean bad_type = FALSE;
  conv (&args[0], out, &bad_type);
  if (bad_type && !or_null)
    return type_mismatch (error, fn, expected, &args[0]);
  return TRUE;
}

static gboolean
convert_list (const NcValue *args, NcValue *out, GError **error, ConvertFunc conv, const char *fn)
{
  *out = nc_value_null ();
  if (args[0].type == NC_VALUE_NULL)
    return TRUE;
  if (args[0].type != NC_VALUE_LIST)
    return type_mismatch (error, fn, "List", &args[0]);
  const NcList *src = args[0].u.list;
  NcList *l = nc_list_new (src->len);
  for (guint32 i = 0; i < src->len; i++)
    {
      gboolean bad_type = FALSE;
      conv (&src->items[i], &l->items[i], &bad_type);
    }
  *out = nc_value_list_take (l);
  return TRUE;
}

#define INT_EXPECT "String, Integer, Float or Boolean"
#define FLOAT_EXPECT "String, Integer or Float"
#define BOOL_EXPECT "String, Integer or Boolean"
#define STRING_EXPECT "String, Integer, Float, Boolean, Point, Duration or a temporal value"

FN (fn_to_integer) { return convert (args, out, error, convert_int, "toInteger", INT_EXPECT, FALSE); }
FN (fn_to_integer_or_null) { return convert (args, out, error, convert_int, "toIntegerOrNull", INT_EXPECT, TRUE); }
FN (fn_to_float) { return convert (args, out, error, convert_float, "toFloat", FLOAT_EXPECT, FALSE); }
FN (fn_to_float_or_null) { return convert (args, out, error, convert_float, "toFloatOrNull", FLOAT_EXPECT, TRUE); }
FN (fn_to_boolean) { return convert (args, out, error, convert_bool, "toBoolean", BOOL_EXPECT, FALSE); }
FN (fn_to_boolean_or_null) { return convert (args, out, error, convert_bool, "toBooleanOrNull", BOOL_EXPECT, TRUE); }
FN (fn_to_string) { return convert (args, out, error, convert_string, "toString", STRING_EXPECT, FALSE); }
FN (fn_to_string_or_null) { return convert (args, out, error, convert_string, "toStringOrNull", STRING_EXPECT, TRUE); }
FN (fn_to_integer_list) { return convert_list (args, out, error, convert_int, "toIntegerList"); }
FN (fn_to_float_list) { return convert_list (args, out, error, convert_float, "toFloatList"); }
FN (fn_to_boolean_list) { return convert_list (args, out, error, convert_bool, "toBooleanList"); }
FN (fn_to_string_list) { return convert_list (args, out, error, convert_string, "toStringList"); }

/* ---- maths --------------------------------------------------------------- */

static gboolean
numeric_arg (const NcValue *args, guint i, const char *fn, double *d, GError **error)
{
  if (!is_number (&args[i]))
    return type_mismatch (error, fn, "a numeric value", &args[i]);
  *d = as_double (&args[i]);
  return TRUE;
}

#define UNARY_FLOAT(cname, fname, expr) \
  FN (cname) \
  { \
    NULL_IN_NULL_OUT (); \
    double x; \
    if (!numeric_arg (args, 0, fname, &x, error)) \
      return FALSE; \
    *out = nc_value_float (expr); \
    return TRUE; \
  }

UNARY_FLOAT (fn_ceil, "ceil", ceil (x))
UNARY_FLOAT (fn_floor, "floor", floor (x))
UNARY_FLOAT (fn_sqrt, "sqrt", sqrt (x))
UNARY_FLOAT (fn_exp, "exp", exp (x))
UNARY_FLOAT (fn_log, "log", log (x))
UNARY_FLOAT (fn_log10, "log10", log10 (x))
UNARY_FLOAT (fn_sin, "sin", sin (x))
UNARY_FLOAT (fn_cos, "cos", cos (x))
UNARY_FLOAT (fn_tan, "tan", tan (x))
UNARY_FLOAT (fn_cot, "cot", 1.0 / tan (x))
UNARY_FLOAT (fn_asin, "asin", asin (x))
UNARY_FLOAT (fn_acos, "acos", acos (x))
UNARY_FLOAT (fn_atan, "atan", atan (x))
UNARY_FLOAT (fn_degrees, "degrees", x * 180.0 / G_PI)
UNARY_FLOAT (fn_radians, "radians", x * G_PI / 180.0)
UNARY_FLOAT (fn_haversin, "haversin", (1.0 - cos (x)) / 2.0)
UNARY_FLOAT (fn_sinh, "sinh", sinh (x))
UNARY_FLOAT (fn_cosh, "cosh", cosh (x))
UNARY_FLOAT (fn_tanh, "tanh", tanh (x))
UNARY_FLOAT (fn_coth, "coth", 1.0 / tanh (x))

FN (fn_is_nan)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type == NC_VALUE_INT)
    *out = nc_value_bool (FALSE);
  else if (args[0].type == NC_VALUE_FLOAT)
    *out = nc_value_bool (isnan (args[0].u.f));
  else
    return type_mismatch (error, "isNaN", "a numeric value", &args[0]);
  return TRUE;
}

FN (fn_atan2)
{
  *out = nc_value_null ();
  if (args[0].type == NC_VALUE_NULL || args[1].type == NC_VALUE_NULL)
    return TRUE;
  double y, x;
  if (!numeric_arg (args, 0, "atan2", &y, error) || !numeric_arg (args, 1, "atan2", &x, error))
    return FALSE;
  *out = nc_value_float (atan2 (y, x));
  return TRUE;
}

FN (fn_e) { *out = nc_value_float (G_E); return TRUE; }
FN (fn_pi) { *out = nc_value_float (G_PI); return TRUE; }

FN (fn_abs)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type == NC_VALUE_INT)
    {
      if (args[0].u.i == G_MININT64)
        {
          g_set_error_literal (error, NC_ERROR, NC_ERROR_ARITHMETIC, "long overflow");
          return FALSE;
        }
      *out = nc_value_int (args[0].u.i < 0 ? -args[0].u.i : args[0].u.i);
      return TRUE;
    }
  if (args[0].type == NC_VALUE_FLOAT)
    {
      *out = nc_value_float (fabs (args[0].u.f));
      return TRUE;
    }
  return type_mismatch (error, "abs", "a numeric value", &args[0]);
}

FN (fn_sign)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type == NC_VALUE_INT)
    *out = nc_value_int (args[0].u.i > 0 ? 1 : args[0].u.i < 0 ? -1 : 0);
  else if (args[0].type == NC_VALUE_FLOAT)
    *out = nc_value_int (args[0].u.f > 0 ? 1 : args[0].u.f < 0 ? -1 : 0);
  else
    return type_mismatch (error, "sign", "a numeric value", &args[0]);
  return TRUE;
}

typedef enum { R_UP, R_DOWN, R_CEILING, R_FLOOR, R_HALF_UP, R_HALF_DOWN, R_HALF_EVEN } RoundMode;

static double
round_scaled (double x, RoundMode mode)
{
  double fl = floor (x), fr = x - fl;
  switch (mode)
    {
    case R_UP: return x >= 0 ? ceil (x) : floor (x);
    case R_DOWN: return trunc (x);
    case R_CEILING: return ceil (x);
    case R_FLOOR: return fl;
    case R_HALF_UP:
      return x >= 0 ? floor (x + 0.5) : -floor (-x + 0.5);
    case R_HALF_DOWN:
      return x >= 0 ? ceil (x - 0.5) : -ceil (-x - 0.5);
    case R_HALF_EVEN:
      if (fr > 0.5)
        return fl + 1;
      if (fr < 0.5)
        return fl;
      return fmod (fl, 2.0) == 0 ? fl : fl + 1;
    default:
      return x;
    }
}

FN (fn_round)
{
  NULL_IN_NULL_OUT ();
  double x;
  if (!numeric_arg (args, 0, "round", &x, error))
    return FALSE;
  if (n_args == 1)
    {
      /* Java Math.round: half rounds towards positive infinity. x - floor(x)
       * is exact, unlike floor(x + 0.5) (0.49999999999999994 stays 0). */
      if (isfinite (x) && fabs (x) < 4503599627370496.0)
        {
          double fl = floor (x);
          x = x - fl >= 0.5 ? fl + 1 : fl;
        }
      *out = nc_value_float (x);
      return TRUE;
    }
  if (args[1].type == NC_VALUE_NULL || (n_args > 2 && args[2].type == NC_VALUE_NULL))
    return TRUE;
  if (args[1].type != NC_VALUE_INT)
    return type_mismatch (error, "round", "an Integer precision", &args[1]);
  gint64 precision = args[1].u.i;
  RoundMode mode = R_HALF_UP;
  if (n_args > 2)
    {
      static const char *const names[] = { "UP", "DOWN", "CEILING", "FLOOR", "HALF_UP", "HALF_DOWN", "HALF_EVEN" };
      if (args[2].type != NC_VALUE_STRING)
        return type_mismatch (error, "round", "a String rounding mode", &args[2]);
      guint i;
      for (i = 0; i < G_N_ELEMENTS (names); i++)
        if (g_ascii_strcasecmp (names[i], args[2].u.s->data) == 0)
          break;
      if (i == G_N_ELEMENTS (names))
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Unknown rounding mode: %s", args[2].u.s->data);
          return FALSE;
        }
      mode = (RoundMode) i;
    }
  if (!isfinite (x) || precision > 300 || precision < -300)
    {
      *out = nc_value_float (x);
      return TRUE;
    }
  /* Scale through the shortest decimal rendering so that 2.675 is treated
   * as the decimal the user wrote (BigDecimal-like), not 2.67499999... */
  char buf[64];
  for (int prec = 1; prec <= 17; prec++)
    {
      g_snprintf (buf, sizeof buf, "%.*e", prec - 1, x);
      if (g_ascii_strtod (buf, NULL) == x)
        break;
    }
  char *epos = strchr (buf, 'e');
  int exp10 = atoi (epos + 1);
  g_snprintf (epos, sizeof buf - (epos - buf), "e%d", exp10 + (int) precision);
  double scaled = g_ascii_strtod (buf, NULL);
  double r = round_scaled (scaled, mode);
  g_snprintf (buf, sizeof buf, "%.17ge%d", r, -(int) precision);
  *out = nc_value_float (g_ascii_strtod (buf, NULL));
  return TRUE;
}

static guint32
rng_u32 (NcFuncCtx *ctx)
{
  return ctx && ctx->rng ? g_rand_int (ctx->rng) : g_random_int ();
}

FN (fn_rand)
{
  *out = nc_value_float (ctx && ctx->rng ? g_rand_double (ctx->rng) : g_random_double ());
  return TRUE;
}

FN (fn_random_uuid)
{
  guint8 b[16];
  for (guint i = 0; i < 16; i += 4)
    {
      guint32 r = rng_u32 (ctx);
      memcpy (b + i, &r, 4);
    }
  b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
  b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
  g_autofree char *s = g_strdup_printf (
      "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
      b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  *out = nc_value_string (s);
  return TRUE;
}

FN (fn_timestamp)
{
  gint64 us = ctx && ctx->statement_time_us ? ctx->statement_time_us : g_get_real_time ();
  *out = nc_value_int (us / 1000);
  return TRUE;
}

/* ---- strings ------------------------------------------------------------ */

static gboolean
string_arg (const NcValue *args, guint i, const char *fn, GError **error)
{
  if (args[i].type != NC_VALUE_STRING)
    return type_mismatch (error, fn, "a String", &args[i]);
  return TRUE;
}

static gboolean
any_null (const NcValue *args, guint n_args)
{
  for (guint i = 0; i < n_args; i++)
    if (args[i].type == NC_VALUE_NULL)
      return TRUE;
  return FALSE;
}

FN (fn_to_upper)
{
  NULL_IN_NULL_OUT ();
  if (!string_arg (args, 0, "toUpper", error))
    return FALSE;
  g_autofree char *s = g_utf8_strup (args[0].u.s->data, args[0].u.s->len);
  *out = nc_value_string (s);
  return TRUE;
}

FN (fn_to_lower)
{
  NULL_IN_NULL_OUT ();
  if (!string_arg (args, 0, "toLower", error))
    return FALSE;
  g_autofree char *s = g_utf8_strdown (args[0].u.s->data, args[0].u.s->len);
  *out = nc_value_string (s);
  return TRUE;
}

/* Trims whitespace, or (Neo4j 5 two-argument form) the characters of a
 * given trim string. */
static gboolean
is_trimmed_at (const char *p, const char *chars)
{
  gunichar c = g_utf8_get_char (p);
  if (chars == NULL)
    return g_unichar_isspace (c);
  return g_utf8_strchr (chars, -1, c) != NULL;
}

static gboolean
trim_common (const NcValue *args, guint n_args, NcValue *out, GError **error, const char *fn,
             gboolean left, gboolean right)
{
  *out = nc_value_null ();
  if (any_null (args, n_args))
    return TRUE;
  if (!string_arg (args, 0, fn, error))
    return FALSE;
  const char *chars = NULL;
  if (n_args > 1)
    {
      if (!string_arg (args, 1, fn, error))
        return FALSE;
      chars = args[1].u.s->data;
    }
  const char *start = args[0].u.s->data;
  const char *end = start + args[0].u.s->len;
  if (left)
    while (start < end && is_trimmed_at (start, chars))
      start = g_utf8_next_char (start);
  if (right)
    while (end > start)
      {
        const char *prev = g_utf8_prev_char (end);
        if (!is_trimmed_at (prev, chars))
          break;
        end = prev;
      }
  *out = nc_value_string_len (start, end - start);
  return TRUE;
}

FN (fn_trim) { return trim_common (args, n_args, out, error, "trim", TRUE, TRUE); }
FN (fn_ltrim) { return trim_common (args, n_args, out, error, "ltrim", TRUE, FALSE); }
FN (fn_rtrim) { return trim_common (args, n_args, out, error, "rtrim", FALSE, TRUE); }

FN (fn_normalize)
{
  *out = nc_value_null ();
  if (any_null (args, n_args))
    return TRUE;
  if (!string_arg (args, 0, "normalize", error))
    return FALSE;
  GNormalizeMode mode = G_NORMALIZE_NFC;
  if (n_args > 1)
    {
      /* normalize(s, NFD) arrives as the form's name. */
      static const struct { const char *name; GNormalizeMode mode; } forms[] = {
        { "NFC", G_NORMALIZE_NFC }, { "NFD", G_NORMALIZE_NFD },
        { "NFKC", G_NORMALIZE_NFKC }, { "NFKD", G_NORMALIZE_NFKD },
      };
      if (!string_arg (args, 1, "normalize", error))
        return FALSE;
      guint i;
      for (i = 0; i < G_N_ELEMENTS (forms); i++)
        if (g_ascii_strcasecmp (forms[i].name, args[1].u.s->data) == 0)
          break;
      if (i == G_N_ELEMENTS (forms))
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Unknown normal form: %s", args[1].u.s->data);
          return FALSE;
        }
      mode = forms[i].mode;
    }
  g_autofree char *r = g_utf8_normalize (args[0].u.s->data, args[0].u.s->len, mode);
  if (r == NULL)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT, "normalize(): invalid UTF-8");
      return FALSE;
    }
  *out = nc_value_string (r);
  return TRUE;
}

FN (fn_replace)
{
  *out = nc_value_null ();
  if (any_null (args, n_args))
    return TRUE;
  for (guint i = 0; i < 3; i++)
    if (!string_arg (args, i, "replace", error))
      return FALSE;
  GString *s = g_string_new_len (args[0].u.s->data, args[0].u.s->len);
  if (args[1].u.s->len == 0)
    {
      /* Java inserts the replacement between every character and at both ends. */
      GString *r = g_string_new (args[2].u.s->data);
      for (const char *p = s->str; *p; p = g_utf8_next_char (p))
        {
          g_string_append_len (r, p, g_utf8_next_char (p) - p);
          g_string_append (r, args[2].u.s->data);
        }
      g_string_free (s, TRUE);
      s = r;
    }
  else
    g_string_replace (s, args[1].u.s->data, args[2].u.s->data, 0);
  *out = string_value_take (s);
  return TRUE;
}

static gboolean
int_arg (const NcValue *args, guint i, const char *fn, gint64 *v, GError **error)
{
  if (args[i].type != NC_VALUE_INT)
    return type_mismatch (error, fn, "an Integer", &args[i]);
  *v = args[i].u.i;
  return TRUE;
}

/* Byte offset of the `n`th character (clamped to the end). */
static const char *
utf8_offset (const char *s, const char *end, gint64 n)
{
  while (n > 0 && s < end)
    {
      s = g_utf8_next_char (s);
      n--;
    }
  return s < end ? s : end;
}

FN (fn_substring)
{
  NULL_IN_NULL_OUT ();
  if (!string_arg (args, 0, "substring", error))
    return FALSE;
  gint64 start, len = G_MAXINT64;
  if (args[1].type == NC_VALUE_NULL || (n_args > 2 && args[2].type == NC_VALUE_NULL))
    return TRUE;
  if (!int_arg (args, 1, "substring", &start, error))
    return FALSE;
  if (n_args > 2 && !int_arg (args, 2, "substring", &len, error))
    return FALSE;
  if (start < 0 || len < 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Invalid input for substring(): %s must not be negative",
                   start < 0 ? "start" : "length");
      return FALSE;
    }
  const char *s = args[0].u.s->data, *end = s + args[0].u.s->len;
  const char *a = utf8_offset (s, end, start);
  const char *b = utf8_offset (a, end, len);
  *out = nc_value_string_len (a, b - a);
  return TRUE;
}

static gboolean
left_right (const NcValue *args, NcValue *out, GError **error, gboolean left)
{
  const char *fn = left ? "left" : "right";
  *out = nc_value_null ();
  if (args[0].type == NC_VALUE_NULL)
    return TRUE;
  if (!string_arg (args, 0, fn, error))
    return FALSE;
  if (args[1].type == NC_VALUE_NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Invalid input for %s(): length must not be null", fn);
      return FALSE;
    }
  gint64 n;
  if (!int_arg (args, 1, fn, &n, error))
    return FALSE;
  if (n < 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Invalid input for %s(): length must not be negative", fn);
      return FALSE;
    }
  const char *s = args[0].u.s->data, *end = s + args[0].u.s->len;
  if (left)
    {
      const char *b = utf8_offset (s, end, n);
      *out = nc_value_string_len (s, b - s);
    }
  else
    {
      glong total = g_utf8_strlen (s, args[0].u.s->len);
      const char *a = n >= total ? s : utf8_offset (s, end, total - n);
      *out = nc_value_string_len (a, end - a);
    }
  return TRUE;
}

FN (fn_left) { return left_right (args, out, error, TRUE); }
FN (fn_right) { return left_right (args, out, error, FALSE); }

FN (fn_split)
{
  *out = nc_value_null ();
  if (any_null (args, n_args))
    return TRUE;
  if (!string_arg (args, 0, "split", error))
    return FALSE;
  g_autoptr (GPtrArray) delims = g_ptr_array_new ();
  if (args[1].type == NC_VALUE_STRING)
    g_ptr_array_add (delims, args[1].u.s->data);
  else if (args[1].type == NC_VALUE_LIST)
    {
      for (guint32 i = 0; i < args[1].u.list->len; i++)
        {
          const NcValue *d = &args[1].u.list->items[i];
          if (d->type == NC_VALUE_NULL)
            return TRUE;
          if (d->type != NC_VALUE_STRING)
            return type_mismatch (error, "split", "a String or a List of Strings", d);
          g_ptr_array_add (delims, d->u.s->data);
        }
    }
  else
    return type_mismatch (error, "split", "a String or a List of Strings", &args[1]);

  const char *s = args[0].u.s->data, *end = s + args[0].u.s->len;
  GArray *parts = g_array_new (FALSE, FALSE, sizeof (NcValue));
  gboolean only_empty = TRUE;
  for (guint d = 0; d < delims->len; d++)
    if (*(const char *) delims->pdata[d])
      only_empty = FALSE;
  if (only_empty)
    {
      /* Empty delimiter: one element per character. */
      for (const char *p = s; p < end; p = g_utf8_next_char (p))
        {
          NcValue v = nc_value_string_len (p, g_utf8_next_char (p) - p);
          g_array_append_val (parts, v);
        }
    }
  else
    {
      const char *piece = s;
      const char *p = s;
      while (p < end)
        {
          gsize match = 0;
          for (guint d = 0; d < delims->len; d++)
            {
              gsize dl = strlen (delims->pdata[d]);
              if (dl > 0 && dl <= (gsize) (end - p) && memcmp (p, delims->pdata[d], dl) == 0)
                {
                  match = dl;
                  break;
                }
            }
          if (match)
            {
              NcValue v = nc_value_string_len (piece, p - piece);
              g_array_append_val (parts, v);
              p += match;
              piece = p;
            }
          else
            p = g_utf8_next_char (p);
        }
      NcValue v = nc_value_string_len (piece, end - piece);
      g_array_append_val (parts, v);
    }
  NcList *l = nc_list_new (parts->len);
  memcpy (l->items, parts->data, parts->len * sizeof (NcValue));
  g_array_free (parts, TRUE);
  *out = nc_value_list_take (l);
  return TRUE;
}

/* ---- spatial ---------------------------------------------------------- */

#define SRID_CARTESIAN 7203
#define SRID_CARTESIAN_3D 9157
#define SRID_WGS84 4326
#define SRID_WGS84_3D 4979
/* Neo4j's sphere radius for WGS-84 distances. */
#define EARTH_RADIUS_M 6378140.0

static gboolean
map_number (const NcMap *m, const char *key, double *d, gboolean *present, GError **error)
{
  const NcValue *v = nc_map_get (m, key);
  *present = v != NULL && v->type != NC_VALUE_NULL;
  if (!*present)
    return TRUE;
  if (!is_number (v))
    return type_mismatch (error, "point", "a numeric coordinate", v);
  *d = as_double (v);
  return TRUE;
}

FN (fn_point)
{
  NULL_IN_NULL_OUT ();
  if (args[0].type != NC_VALUE_MAP)
    return type_mismatch (error, "point", "a Map", &args[0]);
  const NcMap *m = args[0].u.map;
  for (guint32 i = 0; i < m->len; i++)
    if (m->entries[i].value.type == NC_VALUE_NULL)
      return TRUE; /* a null coordinate gives a null point */
  double x = 0, y = 0, z = 0;
  gboolean hx, hy, hz, hlon, hlat, hh;
  double lon = 0, lat = 0, h = 0;
  if (!map_number (m, "x", &x, &hx, error) || !map_number (m, "y", &y, &hy, error) ||
      !map_number (m, "z", &z, &hz, error) || !map_number (m, "longitude", &lon, &hlon, error) ||
      !map_number (m, "latitude", &lat, &hlat, error) || !map_number (m, "height", &h, &hh, error))
    return FALSE;
  gboolean geographic = hlon || hlat;
  if (geographic)
    {
      if (!(hlon && hlat))
        goto incomplete;
      x = lon, y = lat, z = h, hz = hh;
    }
  else if (!(hx && hy))
    goto incomplete;

  gint32 srid = geographic ? (hz ? SRID_WGS84_3D : SRID_WGS84) : (hz ? SRID_CARTESIAN_3D : SRID_CARTESIAN);
  const NcValue *crs = nc_map_get (m, "crs");
  const NcValue *srid_v = nc_map_get (m, "srid");
  if (crs && crs->type == NC_VALUE_STRING)
    {
      const char *c = crs->u.s->data;
      if (g_ascii_strcasecmp (c, "cartesian") == 0) srid = SRID_CARTESIAN;
      else if (g_ascii_strcasecmp (c, "cartesian-3d") == 0) srid = SRID_CARTESIAN_3D;
      else if (g_ascii_strcasecmp (c, "wgs-84") == 0) srid = SRID_WGS84;
      else if (g_ascii_strcasecmp (c, "wgs-84-3d") == 0) srid = SRID_WGS84_3D;
      else
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Unknown coordinate reference system: %s", c);
          return FALSE;
        }
    }
  else if (srid_v && srid_v->type == NC_VALUE_INT)
    {
      gint64 s = srid_v->u.i;
      if (s != SRID_CARTESIAN && s != SRID_CARTESIAN_3D && s != SRID_WGS84 && s != SRID_WGS84_3D)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Unknown coordinate reference system: srid %" G_GINT64_FORMAT, s);
          return FALSE;
        }
      srid = (gint32) s;
    }
  gboolean want3d = srid == SRID_CARTESIAN_3D || srid == SRID_WGS84_3D;
  if (want3d != hz)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Cannot create a %uD point with the coordinate reference system %d",
                   hz ? 3u : 2u, srid);
      return FALSE;
    }
  if ((srid == SRID_WGS84 || srid == SRID_WGS84_3D) && (y < -90 || y > 90))
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT,
                           "Cannot create WGS84 point with invalid coordinate: latitude must be in [-90, 90]");
      return FALSE;
    }
  *out = hz ? nc_value_point3d (srid, x, y, z) : nc_value_point2d (srid, x, y);
  return TRUE;

incomplete:
  g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT,
                       "A point must contain either 'x' and 'y', or 'latitude' and 'longitude'");
  return FALSE;
}

FN (fn_point_distance)
{
  *out = nc_value_null ();
  if (any_null (args, n_args))
    return TRUE;
  if (args[0].type != NC_VALUE_POINT)
    return type_mismatch (error, "point.distance", "a Point", &args[0]);
  if (args[1].type != NC_VALUE_POINT)
    return type_mismatch (error, "point.distance", "a Point", &args[1]);
  const NcWide *a = args[0].u.wide, *b = args[1].u.wide;
  if (a->u.point.srid != b->u.point.srid)
    return TRUE;
  double dz = a->u.point.dims == 3 ? a->u.point.z - b->u.point.z : 0;
  if (a->u.point.srid == SRID_WGS84 || a->u.point.srid == SRID_WGS84_3D)
    {
      double lat1 = a->u.point.y * G_PI / 180, lat2 = b->u.point.y * G_PI / 180;
      double dlat = lat2 - lat1;
      double dlon = (b->u.point.x - a->u.point.x) * G_PI / 180;
      double h = sin (dlat / 2) * sin (dlat / 2) + cos (lat1) * cos (lat2) * sin (dlon / 2) * sin (dlon / 2);
      double d = 2 * EARTH_RADIUS_M * atan2 (sqrt (h), sqrt (1 - h));
      *out = nc_value_float (sqrt (d * d + dz * dz));
      return TRUE;
    }
  double dx = a->u.point.x - b->u.point.x, dy = a->u.point.y - b->u.point.y;
  *out = nc_value_float (sqrt (dx * dx + dy * dy + dz * dz));
  return TRUE;
}

/* ---- the table ---------------------------------------------------------- */

static const NcFunctionDef functions[] = {
  { "id", 1, 1, fn_id },
  { "elementId", 1, 1, fn_element_id },
  { "labels", 1, 1, fn_labels },
  { "type", 1, 1, fn_type },
  { "properties", 1, 1, fn_properties },
  { "keys", 1, 1, fn_keys },
  { "startNode", 1, 1, fn_start_node },
  { "endNode", 1, 1, fn_end_node },
  { "nodes", 1, 1, fn_nodes },
  { "relationships", 1, 1, fn_relationships },
  { "size", 1, 1, fn_size },
  { "length", 1, 1, fn_length },
  { "char_length", 1, 1, fn_char_length },
  { "character_length", 1, 1, fn_char_length },
  { "coalesce", 1, -1, fn_coalesce },
  { "head", 1, 1, fn_head },
  { "last", 1, 1, fn_last },
  { "tail", 1, 1, fn_tail },
  { "range", 2, 3, fn_range },
  { "reverse", 1, 1, fn_reverse },
  { "exists", 1, 1, fn_exists },
  { "isEmpty", 1, 1, fn_is_empty },
  { "valueType", 1, 1, fn_value_type },
  { "toInteger", 1, 1, fn_to_integer },
  { "toIntegerOrNull", 1, 1, fn_to_integer_or_null },
  { "toFloat", 1, 1, fn_to_float },
  { "toFloatOrNull", 1, 1, fn_to_float_or_null },
  { "toBoolean", 1, 1, fn_to_boolean },
  { "toBooleanOrNull", 1, 1, fn_to_boolean_or_null },
  { "toString", 1, 1, fn_to_string },
  { "toStringOrNull", 1, 1, fn_to_string_or_null },
  { "toIntegerList", 1, 1, fn_to_integer_list },
  { "toFloatList", 1, 1, fn_to_float_list },
  { "toBooleanList", 1, 1, fn_to_boolean_list },
  { "toStringList", 1, 1, fn_to_string_list },
  { "abs", 1, 1, fn_abs },
  { "ceil", 1, 1, fn_ceil },
  { "floor", 1, 1, fn_floor },
  { "round", 1, 3, fn_round },
  { "sign", 1, 1, fn_sign },
  { "sqrt", 1, 1, fn_sqrt },
  { "exp", 1, 1, fn_exp },
  { "log", 1, 1, fn_log },
  { "log10", 1, 1, fn_log10 },
  { "e", 0, 0, fn_e },
  { "pi", 0, 0, fn_pi },
  { "sin", 1, 1, fn_sin },
  { "cos", 1, 1, fn_cos },
  { "tan", 1, 1, fn_tan },
  { "cot", 1, 1, fn_cot },
  { "asin", 1, 1, fn_asin },
  { "acos", 1, 1, fn_acos },
  { "atan", 1, 1, fn_atan },
  { "atan2", 2, 2, fn_atan2 },
  { "degrees", 1, 1, fn_degrees },
  { "radians", 1, 1, fn_radians },
  { "haversin", 1, 1, fn_haversin },
  { "sinh", 1, 1, fn_sinh },
  { "cosh", 1, 1, fn_cosh },
  { "tanh", 1, 1, fn_tanh },
  { "coth", 1, 1, fn_coth },
  { "isNaN", 1, 1, fn_is_nan },
  { "rand", 0, 0, fn_rand },
  { "randomUUID", 0, 0, fn_random_uuid },
  { "timestamp", 0, 0, fn_timestamp },
  { "toUpper", 1, 1, fn_to_upper },
  { "toLower", 1, 1, fn_to_lower },
  { "upper", 1, 1, fn_to_upper },
  { "lower", 1, 1, fn_to_lower },
  { "trim", 1, 1, fn_trim },
  { "btrim", 1, 2, fn_trim },
  { "ltrim", 1, 2, fn_ltrim },
  { "rtrim", 1, 2, fn_rtrim },
  { "normalize", 1, 2, fn_normalize },
  { "replace", 3, 3, fn_replace },
  { "substring", 2, 3, fn_substring },
  { "left", 2, 2, fn_left },
  { "right", 2, 2, fn_right },
  { "split", 2, 2, fn_split },
  { "point", 1, 1, fn_point },
  { "point.distance", 2, 2, fn_point_distance },
  { "distance", 2, 2, fn_point_distance },
  { "date", 0, 1, nc_fn_date },
  { "date.statement", 0, 1, nc_fn_date_statement },
  { "date.transaction", 0, 1, nc_fn_date_statement },
  { "date.realtime", 0, 1, nc_fn_date_realtime },
  { "datetime", 0, 1, nc_fn_datetime },
  { "datetime.statement", 0, 1, nc_fn_datetime_statement },
  { "datetime.transaction", 0, 1, nc_fn_datetime_statement },
  { "datetime.realtime", 0, 1, nc_fn_datetime_realtime },
  { "datetime.fromepoch", 2, 2, nc_fn_datetime_fromepoch },
  { "datetime.fromepochmillis", 1, 1, nc_fn_datetime_fromepochmillis },
  { "localdatetime", 0, 1, nc_fn_localdatetime },
  { "localdatetime.statement", 0, 1, nc_fn_localdatetime_statement },
  { "localdatetime.transaction", 0, 1, nc_fn_localdatetime_statement },
  { "localdatetime.realtime", 0, 1, nc_fn_localdatetime_realtime },
  { "time", 0, 1, nc_fn_time },
  { "time.statement", 0, 1, nc_fn_time_statement },
  { "time.transaction", 0, 1, nc_fn_time_statement },
  { "time.realtime", 0, 1, nc_fn_time_realtime },
  { "localtime", 0, 1, nc_fn_localtime },
  { "localtime.statement", 0, 1, nc_fn_localtime_statement },
  { "localtime.transaction", 0, 1, nc_fn_localtime_statement },
  { "localtime.realtime", 0, 1, nc_fn_localtime_realtime },
  { "duration", 1, 1, nc_fn_duration },
  { "date.truncate", 2, 3, nc_fn_date_truncate },
  { "datetime.truncate", 2, 3, nc_fn_datetime_truncate },
  { "localdatetime.truncate", 2, 3, nc_fn_localdatetime_truncate },
  { "time.truncate", 2, 3, nc_fn_time_truncate },
  { "localtime.truncate", 2, 3, nc_fn_localtime_truncate },
  { "duration.between", 2, 2, nc_fn_duration_between },
  { "duration.inMonths", 2, 2, nc_fn_duration_in_months },
  { "duration.inDays", 2, 2, nc_fn_duration_in_days },
  { "duration.inSeconds", 2, 2, nc_fn_duration_in_seconds },
};

static GHashTable *
function_index (void)
{
  static GHashTable *index;
  if (g_once_init_enter (&index))
    {
      GHashTable *t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      for (guint i = 0; i < G_N_ELEMENTS (functions); i++)
        g_hash_table_insert (t, g_ascii_strdown (functions[i].name, -1), (gpointer) &functions[i]);
      g_once_init_leave (&index, t);
    }
  return index;
}

const NcFunctionDef *
nc_cypher_function_lookup (const char *name)
{
  char buf[64];
  gsize len = strlen (name);
  if (len >= sizeof buf)
    return NULL;
  for (gsize i = 0; i <= len; i++)
    buf[i] = g_ascii_tolower (name[i]);
  return g_hash_table_lookup (function_index (), buf);
}
