#define G_LOG_DOMAIN "nornicdb-bolt"

#include "bolt-backend.h"
#include "errors.h"

static gboolean
db_auth_enabled (gpointer backend)
{
  return nc_users_auth_enabled (nc_db_users (backend));
}

static gboolean
db_authenticate (gpointer backend, const char *client_addr, const char *user, const char *password,
                 NcUserRole *role, GError **error)
{
  return nc_users_authenticate (nc_db_users (backend), client_addr, user, password, role, error);
}

static gpointer
db_begin (gpointer backend, const NcTxOptions *opts, GError **error)
{
  return nc_db_begin (backend, opts, error);
}

static gpointer
db_tx_run (gpointer tx, const char *query, const NcMap *params, GError **error)
{
  return nc_transaction_run (tx, query, params, error);
}

static gboolean
db_tx_commit (gpointer tx, char **bookmark, GError **error)
{
  return nc_transaction_commit (tx, bookmark, error);
}

static void
db_tx_free (gpointer tx)
{
  nc_transaction_free (tx);
}

static gpointer
db_run_autocommit (gpointer backend, const NcTxOptions *opts, const char *query, const NcMap *params,
                   GError **error)
{
  return nc_db_run_autocommit (backend, opts, query, params, error);
}

static const char *const *
db_result_fields (gpointer res)
{
  return nc_result_fields (res);
}

static gboolean
db_result_next (gpointer res, const NcValue **row, GError **error)
{
  return nc_result_next (res, row, error);
}

static gboolean
db_result_finish (gpointer res, char **bookmark, GError **error)
{
  return nc_result_finish (res, bookmark, error);
}

static const NcQueryStats *
db_result_stats (gpointer res)
{
  return nc_result_stats (res);
}

static NcQueryType
db_result_query_type (gpointer res)
{
  return nc_result_query_type (res);
}

static NcValue
db_result_plan (gpointer res)
{
  return nc_result_plan (res);
}

static NcValue
db_result_notifications (gpointer res)
{
  return nc_result_notifications (res);
}

static const char *
db_result_bookmark (gpointer res)
{
  return nc_result_bookmark (res);
}

static void
db_result_free (gpointer res)
{
  nc_result_free (res);
}

static NornicRoutingTable *
db_routing_table (gpointer backend, GError **error)
{
  NornicRoutingTable *rt = nc_db_routing_table (backend);
  if (rt == NULL)
    g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE, "No routing table is available right now");
  return rt;
}

static char *
db_writer_address (gpointer backend)
{
  const NornicRoleInfo *role = nc_db_role (backend);
  if (role == NULL || role->accepts_writes || role->writer_bolt_address == NULL)
    return NULL;
  return g_strdup (role->writer_bolt_address);
}

static const NcBoltBackend db_backend = {
  .auth_enabled = db_auth_enabled,
  .authenticate = db_authenticate,
  .begin = db_begin,
  .tx_run = db_tx_run,
  .tx_commit = db_tx_commit,
  .tx_free = db_tx_free,
  .run_autocommit = db_run_autocommit,
  .result_fields = db_result_fields,
  .result_next = db_result_next,
  .result_finish = db_result_finish,
  .result_stats = db_result_stats,
  .result_query_type = db_result_query_type,
  .result_plan = db_result_plan,
  .result_notifications = db_result_notifications,
  .result_bookmark = db_result_bookmark,
  .result_free = db_result_free,
  .routing_table = db_routing_table,
  .routing_table_free = nc_routing_table_free,
  .writer_address = db_writer_address,
};

const NcBoltBackend *
nc_bolt_backend_db (void)
{
  return &db_backend;
}
