/* What a Bolt connection needs from the database, as a table of functions.
 *
 * The daemon uses nc_bolt_backend_db (core/db.h underneath); unit tests and
 * fuzz targets plug in a small in-memory backend so the protocol state
 * machine can be exercised without a real database.
 *
 * Transactions and results are opaque pointers owned by the connection and
 * released with tx_free / result_free. Every function may block; they run
 * on the connection's own thread.
 */
#pragma once

#include <glib.h>
#include "db.h"
#include "users.h"

G_BEGIN_DECLS

typedef struct {
  gboolean (*auth_enabled) (gpointer backend);
  gboolean (*authenticate) (gpointer backend, const char *client_addr, const char *user,
                            const char *password, NcUserRole *role, GError **error);
  gpointer (*begin) (gpointer backend, const NcTxOptions *opts, GError **error);
  gpointer (*tx_run) (gpointer tx, const char *query, const NcMap *params, GError **error);
  gboolean (*tx_commit) (gpointer tx, char **bookmark, GError **error);
  void (*tx_free) (gpointer tx); /* rolls back when still open */
  gpointer (*run_autocommit) (gpointer backend, const NcTxOptions *opts, const char *query,
                              const NcMap *params, GError **error);
  const char *const *(*result_fields) (gpointer res);
  gboolean (*result_next) (gpointer res, const NcValue **row, GError **error);
  gboolean (*result_finish) (gpointer res, char **bookmark, GError **error);
  const NcQueryStats *(*result_stats) (gpointer res);
  NcQueryType (*result_query_type) (gpointer res);
  NcValue (*result_plan) (gpointer res);
  NcValue (*result_notifications) (gpointer res);
  const char *(*result_bookmark) (gpointer res);
  void (*result_free) (gpointer res);
  /* (transfer full) NULL with error. */
  NornicRoutingTable *(*routing_table) (gpointer backend, GError **error);
  void (*routing_table_free) (NornicRoutingTable *rt);
  /* Advertised Bolt address of the writer when this node does not accept
   * writes itself; NULL otherwise or when unknown. (transfer full) */
  char *(*writer_address) (gpointer backend);
} NcBoltBackend;

/* The backend over a real NcDb (backend pointer = the NcDb). */
const NcBoltBackend *nc_bolt_backend_db (void);

G_END_DECLS
