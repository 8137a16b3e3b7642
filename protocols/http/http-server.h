/* The HTTP server (libmicrohttpd): discovery, /health, /metrics, /admin/...
 * and the Neo4j HTTP transaction API under /db/{db}/tx.
 *
 * Endpoints (see docs in http-server.c for details):
 *   GET  /                               discovery document (no auth)
 *   GET  /health                         200/503 (auth when NORNICDB_HEALTH_AUTH)
 *   GET  /metrics                        Prometheus text (auth when NORNICDB_METRICS_AUTH)
 *   GET  /admin/users                    list users           (admin)
 *   POST /admin/users                    create {username,password,role}
 *   DELETE /admin/users/{name}           drop a user
 *   POST /admin/users/{name}/password    {password}
 *   POST /admin/users/{name}/role        {role}
 *   POST /admin/snapshot                 write a snapshot now
 *   *    /admin/...                      module endpoints (run on the main loop)
 *   POST /db/{db}/tx/commit, /db/{db}/tx, /db/{db}/tx/{id}, /db/{db}/tx/{id}/commit
 *   DELETE /db/{db}/tx/{id}
 */
#pragma once

#include <glib.h>
#include "db.h"

G_BEGIN_DECLS

typedef struct _NcHttpServer NcHttpServer;

/* Starts listening (HTTP, and HTTPS when enabled). Call on the main thread:
 * module admin handlers are dispatched to that thread's main context.
 * (transfer full) */
NcHttpServer *nc_http_server_new (NcDb *db, GError **error);
/* Stops listening, waits for in-flight requests, rolls back open transactions. */
void nc_http_server_free (NcHttpServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcHttpServer, nc_http_server_free)

G_END_DECLS
