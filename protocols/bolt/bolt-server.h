/* The Bolt server: listens on NORNICDB_BOLT_ADDRESS:NORNICDB_BOLT_PORT
 * (optionally TLS), one thread per connection. */
#pragma once

#include <glib.h>
#include "db.h"

G_BEGIN_DECLS

typedef struct _NcBoltServer NcBoltServer;

/* Binds and starts accepting. (transfer full) */
NcBoltServer *nc_bolt_server_new (NcDb *db, GError **error);
/* Stops accepting, closes every connection and waits for their threads. */
void nc_bolt_server_free (NcBoltServer *server);
guint nc_bolt_server_connection_count (NcBoltServer *server);
/* The port actually bound (useful with port 0). */
guint16 nc_bolt_server_port (NcBoltServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcBoltServer, nc_bolt_server_free)

G_END_DECLS
