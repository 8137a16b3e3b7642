/* region-http.c — the multi-region admin endpoints and metrics as plain
 * functions of an NcRegionNode (docs/multi-region.md, "Promotion",
 * "Operator interface", "Lag"). */
#define G_LOG_DOMAIN "nornicdb-region"

#include "region.h"

#include <json-glib/json-glib.h>
#include <string.h>

char *
nc_region_error_json (const char *code, const char *message, const char *leader)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  if (leader)
    {
      json_builder_set_member_name (b, "leader");
      json_builder_add_string_value (b, leader);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

guint
nc_region_http_promote (NcRegionNode *n, char **json)
{
  NcRegionLog *l = nc_region_node_log (n);
  g_autofree char *previous = g_strdup (nc_region_log_epoch (l)->primary);
  g_autoptr (GError) error = NULL;
  guint64 epoch = nc_region_node_promote (n, &error);
  if (epoch == 0)
    {
      /* Not this region's leader (or it lost leadership): the glue forwards
       * to the leader when it knows it; the body says where. */
      *json = nc_region_error_json ("NotALeader", error->message, NULL);
      return 421;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "region");
  json_builder_add_string_value (b, nc_region_log_region (l));
  json_builder_set_member_name (b, "epoch");
  json_builder_add_int_value (b, (gint64) epoch);
  json_builder_set_member_name (b, "previous_primary");
  if (previous)
    json_builder_add_string_value (b, previous);
  else
    json_builder_add_null_value (b);
  /* The epoch is proposed; it is in force once committed in this region,
   * and other regions are told by the leader's next ticks. */
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, nc_region_log_is_primary (l) ? "primary" : "promoting");
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  *json = json_to_string (root, FALSE);
  return 200;
}

guint
nc_region_http_conflicts (NcRegionNode *n, const char *query, char **json)
{
  gboolean only_open = FALSE;
  if (query != NULL && *query != '\0')
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GHashTable) params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, &error);
      const char *status = params ? g_hash_table_lookup (params, "status") : NULL;
      if (params == NULL || (status && strcmp (status, "open") != 0 && strcmp (status, "all") != 0))
        {
          g_autofree char *msg = g_strdup_printf ("status must be \"open\" or \"all\"%s%s",
                                                  error ? ": " : "", error ? error->message : "");
          *json = nc_region_error_json ("InvalidRequest", msg, NULL);
          return 400;
        }
      only_open = g_strcmp0 (status, "open") == 0;
    }
  *json = nc_region_resolver_conflicts_json (nc_region_log_resolver (nc_region_node_log (n)), only_open);
  return 200;
}

static gboolean
json_to_value (JsonNode *node, NcValue *out)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      *out = nc_value_null ();
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_BOOLEAN: *out = nc_value_bool (json_node_get_boolean (node)); return TRUE;
    case G_TYPE_INT64: *out = nc_value_int (json_node_get_int (node)); return TRUE;
    case G_TYPE_DOUBLE: *out = nc_value_float (json_node_get_double (node)); return TRUE;
    case G_TYPE_STRING: *out = nc_value_string (json_node_get_string (node)); return TRUE;
    default: return FALSE;
    }
}

guint
nc_region_http_resolve (NcRegionNode *n, const char *body, gsize body_len, NcWriteSet **ws, char **json)
{
  *ws = NULL;
  if (!nc_region_node_accepts_writes (n))
    {
      const char *writer = nc_region_node_writer_bolt (n);
      *json = nc_region_error_json ("NotALeader", "conflicts are resolved on the primary region's leader", writer);
      return 421;
    }
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (GError) error = NULL;
  if (body == NULL || !json_parser_load_from_data (p, body, (gssize) body_len, &error) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)))
    {
      *json = nc_region_error_json ("BadRequest", "body must be a JSON object {\"id\", \"choice\", \"value\"}", NULL);
      return 400;
    }
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  const char *id = json_object_has_member (o, "id") ? json_object_get_string_member_with_default (o, "id", NULL) : NULL;
  const char *choice = json_object_get_string_member_with_default (o, "choice", NULL);
  NcValue v = nc_value_null ();
  if (id == NULL || choice == NULL ||
      !json_to_value (json_object_has_member (o, "value") ? json_object_get_member (o, "value") : NULL, &v))
    {
      *json = nc_region_error_json ("BadRequest", "\"id\" and \"choice\" are required strings; \"value\" must be a scalar", NULL);
      return 400;
    }
  *ws = nc_region_resolution_writeset (nc_region_log_resolver (nc_region_node_log (n)), id, choice,
                                       g_strcmp0 (choice, "value") == 0 ? &v : NULL, &error);
  nc_value_clear (&v);
  if (*ws == NULL)
    {
      guint status = error->code == NC_REGION_ERROR_NOT_FOUND ? 404 : error->code == NC_REGION_ERROR_STATE ? 409 : 400;
      *json = nc_region_error_json (status == 404 ? "NotFound" : status == 409 ? "Conflict" : "BadRequest", error->message, NULL);
      return status;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, id);
  json_builder_set_member_name (b, "choice");
  json_builder_add_string_value (b, choice);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  *json = json_to_string (root, FALSE);
  return 200;
}

static void
metric (GString *out, const char *name, const char *type, const char *help, const char *labels, double v)
{
  /* HELP/TYPE once per name. */
  g_autofree char *type_line = g_strdup_printf ("# TYPE %s ", name);
  if (strstr (out->str, type_line) == NULL)
    g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
  if (labels)
    g_string_append_printf (out, "%s{%s} %.6g\n", name, labels, v);
  else
    g_string_append_printf (out, "%s %.6g\n", name, v);
}

void
nc_region_node_metrics (NcRegionNode *n, GString *out)
{
  NcRegionLog *l = nc_region_node_log (n);
  g_autofree char *json = nc_region_node_status_json (n);
  metric (out, "nornicdb_region_epoch", "gauge", "Region epoch (primary write region changes)", NULL,
          (double) nc_region_log_epoch (l)->epoch);
  metric (out, "nornicdb_region_is_primary", "gauge", "1 when this node's region is the primary write region", NULL,
          nc_region_log_is_primary (l) ? 1 : 0);
  metric (out, "nornicdb_region_semi_sync_degraded", "gauge",
          "1 when semi_sync timed out and writes are acknowledged after the local quorum only", NULL,
          nc_region_node_semi_sync_degraded (n) ? 1 : 0);
  /* Lag toward every remote region, from the status we already compute. */
  g_autoptr (JsonParser) p = json_parser_new ();
  if (json_parser_load_from_data (p, json, -1, NULL))
    {
      JsonArray *regions = json_object_get_array_member (json_node_get_object (json_parser_get_root (p)), "remote_regions");
      for (guint pass = 0; pass < 2; pass++)
        for (guint i = 0; i < json_array_get_length (regions); i++)
          {
            JsonObject *r = json_array_get_object_element (regions, i);
            g_autofree char *labels = g_strdup_printf ("region=\"%s\"", json_object_get_string_member (r, "region"));
            if (pass == 0)
              metric (out, "nornicdb_region_lag_seconds", "gauge",
                      "Age of the oldest write of this region not yet committed in that region", labels,
                      json_object_get_double_member (r, "lag_seconds"));
            else
              metric (out, "nornicdb_region_lag_entries", "gauge",
                      "Writes of this region not yet committed in that region", labels,
                      (double) json_object_get_int_member (r, "lag_entries"));
          }
    }
  NcRegionResolver *r = nc_region_log_resolver (l);
  guint open = 0, total = nc_region_resolver_n_conflicts (r);
  for (guint i = 0; i < total; i++)
    if (nc_region_resolver_conflict (r, i)->status == NC_CONFLICT_OPEN)
      open++;
  metric (out, "nornicdb_region_conflicts", "gauge", "Conflicts between regions recorded by the resolver",
          "status=\"open\"", open);
  metric (out, "nornicdb_region_conflicts", "gauge", "Conflicts between regions recorded by the resolver",
          "status=\"resolved\"", total - open);
}
