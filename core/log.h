/* Logging: every component logs through g_log with its own domain
 * ("nornicdb-wal", "nornicdb-bolt", ...). Output goes to the journal when
 * stderr is connected to it, else to stderr as "time level domain: text".
 * NORNICDB_LOG_LEVEL: error, warning, message (default "info" shows
 * messages and info), info, debug. NORNICDB_CLUSTER_DEBUG=true enables
 * debug output for the cluster domains only. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void nc_log_init (const char *level, gboolean cluster_debug);
void nc_log_set_level (const char *level);
/* TRUE for valid level names. */
gboolean nc_log_level_valid (const char *level);

G_END_DECLS
