/* JSON for the HTTP server: NcValue to Neo4j's HTTP API result formats
 * ("row" with "meta", and "graph"), JSON parameters to NcValue, and the
 * small writer helpers the handlers share.
 *
 * Value mapping (Neo4j 5 HTTP API, with our choices where it is silent):
 *   null/boolean/integer/string  -> the JSON value
 *   float                        -> JSON number, always with a '.' or exponent
 *                                   (1.0, not 1); NaN and ±Infinity, which JSON
 *                                   cannot express, as the strings "NaN",
 *                                   "Infinity", "-Infinity"
 *   bytes                        -> base64 string (meta type "bytes")
 *   list / map                   -> array / object
 *   node / relationship          -> the property map; meta {id, elementId,
 *                                   type:"node"|"relationship", deleted}
 *   path                         -> array alternating node and relationship
 *                                   property maps; meta is the array of their metas
 *   date, time, datetime, ...    -> ISO 8601 string as Neo4j prints it; meta
 *                                   {type:"date"|"time"|"localtime"|"datetime"|
 *                                   "localdatetime"|"duration"}
 *   point                        -> {"type":"Point","coordinates":[x,y(,z)],
 *                                   "crs":{srid,name,type:"link",properties:{href,type}}};
 *                                   meta {type:"point"}
 * meta mirrors the row value's shape: null for plain values, an array for a
 * list, an object of metas for a map.
 *
 * Thread safety: pure functions, any thread.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "value.h"

G_BEGIN_DECLS

/* Appends `s` as a JSON string literal (quoted and escaped). */
void nc_http_json_append_string (GString *out, const char *s);
/* Appends the "row" rendering of `v`. */
void nc_http_json_append_row (GString *out, const NcValue *v);
/* Appends the "meta" rendering of `v`. */
void nc_http_json_append_meta (GString *out, const NcValue *v);

/* Collects the nodes and relationships reachable from row values, each once,
 * for the "graph" result format. */
typedef struct _NcHttpGraph NcHttpGraph;
NcHttpGraph *nc_http_graph_new (void);
void nc_http_graph_free (NcHttpGraph *graph);
void nc_http_graph_add (NcHttpGraph *graph, const NcValue *v);
/* Appends {"nodes":[...],"relationships":[...]}. */
void nc_http_graph_append (NcHttpGraph *graph, GString *out);

/* JSON parameters to a value: integers (no '.' or exponent in the text)
 * become INTEGER, other numbers FLOAT, objects MAP, arrays LIST. */
gboolean nc_http_json_to_value (JsonNode *node, NcValue *out, GError **error);

/* "Fri, 27 Nov 2026 03:41:05 GMT" (transfer full) */
char *nc_http_rfc1123_date (gint64 unix_seconds);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcHttpGraph, nc_http_graph_free)

G_END_DECLS
