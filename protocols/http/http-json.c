/* Value <-> JSON for the HTTP API; see http-json.h for the mapping.
 *
 * Results are written straight into a GString instead of a JsonBuilder tree:
 * a large result would otherwise exist twice in memory (tree + text). */
#define G_LOG_DOMAIN "nornicdb-http"

#include "http-json.h"
#include "errors.h"
#include "cypher/temporal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
nc_http_json_append_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) s; *p; p++)
    {
      switch (*p)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        default:
          if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, (char) *p);
        }
    }
  g_string_append_c (out, '"');
}

/* Shortest text that reads back as the same double. */
static void
append_float (GString *out, double f)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (f))
    {
      g_string_append (out, "\"NaN\"");
      return;
    }
  if (isinf (f))
    {
      g_string_append (out, f > 0 ? "\"Infinity\"" : "\"-Infinity\"");
      return;
    }
  g_ascii_formatd (buf, sizeof buf, "%.15g", f);
  if (g_ascii_strtod (buf, NULL) != f)
    g_ascii_formatd (buf, sizeof buf, "%.17g", f);
  g_string_append (out, buf);
  if (strpbrk (buf, ".eE") == NULL)
    g_string_append (out, ".0");
}

static void
append_props (GString *out, const NcMap *props)
{
  g_string_append_c (out, '{');
  for (guint32 i = 0; props != NULL && i < props->len; i++)
    {
      if (i)
        g_string_append_c (out, ',');
      nc_http_json_append_string (out, props->entries[i].key->data);
      g_string_append_c (out, ':');
      nc_http_json_append_row (out, &props->entries[i].value);
    }
  g_string_append_c (out, '}');
}

static const char *
crs_name (gint32 srid)
{
  switch (srid)
    {
    case 4326: return "wgs-84";
    case 4979: return "wgs-84-3d";
    case 7203: return "cartesian";
    case 9157: return "cartesian-3d";
    default: return "unknown";
    }
}

static void
append_point (GString *out, const NcValue *v)
{
  const NcWide *w = v->u.wide;
  gint32 srid = w->u.point.srid;
  const char *authority = srid == 4326 || srid == 4979 ? "epsg" : "sr-org";

  g_string_append (out, "{\"type\":\"Point\",\"coordinates\":[");
  append_float (out, w->u.point.x);
  g_string_append_c (out, ',');
  append_float (out, w->u.point.y);
  if (w->u.point.dims == 3)
    {
      g_string_append_c (out, ',');
      append_float (out, w->u.point.z);
    }
  g_string_append_printf (out, "],\"crs\":{\"srid\":%d,\"name\":", srid);
  nc_http_json_append_string (out, crs_name (srid));
  g_string_append (out, ",\"type\":\"link\",\"properties\":{\"href\":\"");
  g_string_append_printf (out, "http://spatialreference.org/ref/%s/%d/ogcwkt/", authority, srid);
  g_string_append (out, "\",\"type\":\"ogcwkt\"}}}");
}

void
nc_http_json_append_row (GString *out, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NULL:
      g_string_append (out, "null");
      break;
    case NC_VALUE_BOOL:
      g_string_append (out, v->u.b ? "true" : "false");
      break;
    case NC_VALUE_INT:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, v->u.i);
      break;
    case NC_VALUE_FLOAT:
      append_float (out, v->u.f);
      break;
    case NC_VALUE_STRING:
      nc_http_json_append_string (out, v->u.s->data);
      break;
    case NC_VALUE_BYTES:
      {
        g_autofree char *b64 = g_base64_encode (v->u.bytes->data, v->u.bytes->len);
        nc_http_json_append_string (out, b64);
        break;
      }
    case NC_VALUE_LIST:
      g_string_append_c (out, '[');
      for (guint32 i = 0; i < v->u.list->len; i++)
        {
          if (i)
            g_string_append_c (out, ',');
          nc_http_json_append_row (out, &v->u.list->items[i]);
        }
      g_string_append_c (out, ']');
      break;
    case NC_VALUE_MAP:
      append_props (out, v->u.map);
      break;
    case NC_VALUE_NODE:
    case NC_VALUE_REL:
      append_props (out, v->u.entity->props);
      break;
    case NC_VALUE_PATH:
      {
        const NcPath *p = v->u.path;
        g_string_append_c (out, '[');
        for (guint32 i = 0; i < p->n_nodes; i++)
          {
            if (i)
              {
                g_string_append_c (out, ',');
                nc_http_json_append_row (out, &p->rels[i - 1]);
                g_string_append_c (out, ',');
              }
            nc_http_json_append_row (out, &p->nodes[i]);
          }
        g_string_append_c (out, ']');
        break;
      }
    case NC_VALUE_POINT:
      append_point (out, v);
      break;
    case NC_VALUE_DATE:
    case NC_VALUE_LOCAL_TIME:
    case NC_VALUE_TIME:
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
    case NC_VALUE_DURATION:
      {
        g_autoptr (GString) iso = g_string_new (NULL);
        nc_temporal_append_string (iso, v);
        nc_http_json_append_string (out, iso->str);
        break;
      }
    case NC_VALUE_N_TYPES:
    default:
      g_string_append (out, "null");
      break;
    }
}

static void
append_entity_meta (GString *out, const NcEntity *e)
{
  g_string_append_printf (out,
                          "{\"id\":%" G_GINT64_FORMAT ",\"elementId\":\"%d:nornicdb:%" G_GINT64_FORMAT
                          "\",\"type\":\"%s\",\"deleted\":false}",
                          e->id, e->is_rel ? 5 : 4, e->id, e->is_rel ? "relationship" : "node");
}

static const char *
temporal_meta_type (NcValueType t)
{
  switch (t)
    {
    case NC_VALUE_DATE: return "date";
    case NC_VALUE_LOCAL_TIME: return "localtime";
    case NC_VALUE_TIME: return "time";
    case NC_VALUE_LOCAL_DATETIME: return "localdatetime";
    case NC_VALUE_DATETIME: return "datetime";
    case NC_VALUE_DURATION: return "duration";
    case NC_VALUE_POINT: return "point";
    case NC_VALUE_BYTES: return "bytes";
    default: return NULL;
    }
}

void
nc_http_json_append_meta (GString *out, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NODE:
    case NC_VALUE_REL:
      append_entity_meta (out, v->u.entity);
      break;
    case NC_VALUE_LIST:
      g_string_append_c (out, '[');
      for (guint32 i = 0; i < v->u.list->len; i++)
        {
          if (i)
            g_string_append_c (out, ',');
          nc_http_json_append_meta (out, &v->u.list->items[i]);
        }
      g_string_append_c (out, ']');
      break;
    case NC_VALUE_MAP:
      g_string_append_c (out, '{');
      for (guint32 i = 0; i < v->u.map->len; i++)
        {
          if (i)
            g_string_append_c (out, ',');
          nc_http_json_append_string (out, v->u.map->entries[i].key->data);
          g_string_append_c (out, ':');
          nc_http_json_append_meta (out, &v->u.map->entries[i].value);
        }
      g_string_append_c (out, '}');
      break;
    case NC_VALUE_PATH:
      {
        const NcPath *p = v->u.path;
        g_string_append_c (out, '[');
        for (guint32 i = 0; i < p->n_nodes; i++)
          {
            if (i)
              {
                g_string_append_c (out, ',');
                nc_http_json_append_meta (out, &p->rels[i - 1]);
                g_string_append_c (out, ',');
              }
            nc_http_json_append_meta (out, &p->nodes[i]);
          }
        g_string_append_c (out, ']');
        break;
      }
    default:
      {
        const char *type = temporal_meta_type (v->type);
        if (type != NULL)
          g_string_append_printf (out, "{\"type\":\"%s\"}", type);
        else
          g_string_append (out, "null");
      }
    }
}

/* ---- graph format ----------------------------------------------------------- */

struct _NcHttpGraph {
  GHashTable *seen_nodes;  /* id -> NULL (set of gint64*) */
  GHashTable *seen_rels;
  GPtrArray *nodes;        /* NcEntity* (ref) */
  GPtrArray *rels;
};

NcHttpGraph *
nc_http_graph_new (void)
{
  NcHttpGraph *g = g_new0 (NcHttpGraph, 1);
  g->seen_nodes = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g->seen_rels = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_entity_unref);
  g->rels = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_entity_unref);
  return g;
}

void
nc_http_graph_free (NcHttpGraph *g)
{
  if (g == NULL)
    return;
  g_hash_table_unref (g->seen_nodes);
  g_hash_table_unref (g->seen_rels);
  g_ptr_array_unref (g->nodes);
  g_ptr_array_unref (g->rels);
  g_free (g);
}

static void
graph_add_entity (NcHttpGraph *g, NcEntity *e)
{
  GHashTable *seen = e->is_rel ? g->seen_rels : g->seen_nodes;
  if (g_hash_table_contains (seen, &e->id))
    return;
  g_hash_table_add (seen, g_memdup2 (&e->id, sizeof e->id));
  g_ptr_array_add (e->is_rel ? g->rels : g->nodes, nc_entity_ref (e));
}

void
nc_http_graph_add (NcHttpGraph *g, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NODE:
    case NC_VALUE_REL:
      graph_add_entity (g, v->u.entity);
      break;
    case NC_VALUE_LIST:
      for (guint32 i = 0; i < v->u.list->len; i++)
        nc_http_graph_add (g, &v->u.list->items[i]);
      break;
    case NC_VALUE_MAP:
      for (guint32 i = 0; i < v->u.map->len; i++)
        nc_http_graph_add (g, &v->u.map->entries[i].value);
      break;
    case NC_VALUE_PATH:
      for (guint32 i = 0; i < v->u.path->n_nodes; i++)
        {
          nc_http_graph_add (g, &v->u.path->nodes[i]);
          if (i + 1 < v->u.path->n_nodes)
            nc_http_graph_add (g, &v->u.path->rels[i]);
        }
      break;
    default:
      break;
    }
}

void
nc_http_graph_append (NcHttpGraph *g, GString *out)
{
  g_string_append (out, "{\"nodes\":[");
  for (guint i = 0; i < g->nodes->len; i++)
    {
      const NcEntity *e = g->nodes->pdata[i];
      if (i)
        g_string_append_c (out, ',');
      g_string_append_printf (out, "{\"id\":\"%" G_GINT64_FORMAT "\",\"elementId\":\"4:nornicdb:%"
                              G_GINT64_FORMAT "\",\"labels\":[", e->id, e->id);
      for (guint32 l = 0; l < e->n_labels; l++)
        {
          if (l)
            g_string_append_c (out, ',');
          nc_http_json_append_string (out, e->labels[l]->data);
        }
      g_string_append (out, "],\"properties\":");
      append_props (out, e->props);
      g_string_append_c (out, '}');
    }
  g_string_append (out, "],\"relationships\":[");
  for (guint i = 0; i < g->rels->len; i++)
    {
      const NcEntity *e = g->rels->pdata[i];
      if (i)
        g_string_append_c (out, ',');
      g_string_append_printf (out, "{\"id\":\"%" G_GINT64_FORMAT "\",\"elementId\":\"5:nornicdb:%"
                              G_GINT64_FORMAT "\",\"type\":", e->id, e->id);
      nc_http_json_append_string (out, e->rel_type != NULL ? e->rel_type->data : "");
      g_string_append_printf (out,
                              ",\"startNode\":\"%" G_GINT64_FORMAT "\",\"startNodeElementId\":\"4:nornicdb:%"
                              G_GINT64_FORMAT "\",\"endNode\":\"%" G_GINT64_FORMAT
                              "\",\"endNodeElementId\":\"4:nornicdb:%" G_GINT64_FORMAT "\",\"properties\":",
                              e->start_id, e->start_id, e->end_id, e->end_id);
      append_props (out, e->props);
      g_string_append_c (out, '}');
    }
  g_string_append (out, "]}");
}

/* ---- parameters ------------------------------------------------------------- */

#define NC_HTTP_MAX_PARAM_DEPTH 64

static gboolean
to_value (JsonNode *node, NcValue *out, guint depth, GError **error)
{
  if (depth > NC_HTTP_MAX_PARAM_DEPTH)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_REQUEST_FORMAT,
                   "parameters nest deeper than %d levels", NC_HTTP_MAX_PARAM_DEPTH);
      return FALSE;
    }
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_NULL:
      *out = nc_value_null ();
      return TRUE;
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_BOOLEAN:
          *out = nc_value_bool (json_node_get_boolean (node));
          return TRUE;
        case G_TYPE_INT64:
          *out = nc_value_int (json_node_get_int (node));
          return TRUE;
        case G_TYPE_DOUBLE:
          *out = nc_value_float (json_node_get_double (node));
          return TRUE;
        case G_TYPE_STRING:
          *out = nc_value_string (json_node_get_string (node));
          return TRUE;
        default:
          g_set_error_literal (error, NC_ERROR, NC_ERROR_REQUEST_FORMAT,
                               "unsupported JSON value in parameters");
          return FALSE;
        }
    case JSON_NODE_ARRAY:
      {
        JsonArray *a = json_node_get_array (node);
        guint n = json_array_get_length (a);
        g_autoptr (NcList) list = nc_list_new (n);
        for (guint i = 0; i < n; i++)
          list->items[i] = nc_value_null ();
        for (guint i = 0; i < n; i++)
          if (!to_value (json_array_get_element (a, i), &list->items[i], depth + 1, error))
            return FALSE;
        *out = nc_value_list_take (g_steal_pointer (&list));
        return TRUE;
      }
    case JSON_NODE_OBJECT:
      {
        JsonObject *o = json_node_get_object (node);
        g_autoptr (GList) members = json_object_get_members (o);
        g_autoptr (NcMap) map = nc_map_new (g_list_length (members));
        for (GList *l = members; l != NULL; l = l->next)
          {
            NcValue item;
            if (!to_value (json_object_get_member (o, l->data), &item, depth + 1, error))
              return FALSE;
            nc_map_append (map, l->data, item);
          }
        *out = nc_value_map_take (g_steal_pointer (&map));
        return TRUE;
      }
    default:
      g_set_error_literal (error, NC_ERROR, NC_ERROR_REQUEST_FORMAT,
                           "unsupported JSON value in parameters");
      return FALSE;
    }
}

gboolean
nc_http_json_to_value (JsonNode *node, NcValue *out, GError **error)
{
  return to_value (node, out, 0, error);
}

char *
nc_http_rfc1123_date (gint64 unix_seconds)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (unix_seconds);
  if (dt == NULL)
    return g_strdup ("Thu, 01 Jan 1970 00:00:00 GMT");
  /* %a/%b are locale dependent; HTTP dates must be English. */
  static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
  static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
  return g_strdup_printf ("%s, %02d %s %04d %02d:%02d:%02d GMT",
                          days[g_date_time_get_day_of_week (dt) - 1],
                          g_date_time_get_day_of_month (dt),
                          months[g_date_time_get_month (dt) - 1], g_date_time_get_year (dt),
                          g_date_time_get_hour (dt), g_date_time_get_minute (dt),
                          g_date_time_get_second (dt));
}
