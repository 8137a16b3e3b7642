/* The Cypher engine: parse, plan (cached) and execute openCypher against a
 * store transaction.
 *
 *   q = nc_cypher_prepare (cache, text, &error);   // syntax/semantic errors, no side effects
 *   exec = nc_cypher_execute (q, &ctx, params, &error);
 *   while (nc_cypher_exec_next (exec, &row, &error)) ...;   // pull-based, streams
 *   stats = nc_cypher_exec_stats (exec);
 *
 * Errors are GErrors in the NC_ERROR domain (core/errors.h) with messages
 * in Neo4j's style; syntax errors carry line, column and a caret excerpt.
 */
#pragma once

#include <glib.h>
#include "../store.h"
#include "../value.h"
#include "../db.h"

G_BEGIN_DECLS

typedef struct _NcCypherQuery NcCypherQuery;
typedef struct _NcCypherCache NcCypherCache;
typedef struct _NcCypherExec NcCypherExec;

/* Hooks for statements that reach beyond the graph (users, cluster
 * procedures). Any may be NULL: the statement then fails with a clear
 * Neo.ClientError.Statement.NotSupported / ProcedureNotFound error. */
typedef struct {
  gpointer user_data;
  /* CREATE USER / DROP USER / ALTER USER / ALTER CURRENT USER SET PASSWORD /
   * SHOW USERS: `command` is a map with "op" and its arguments; rows out. */
  gboolean (*system_command) (gpointer user_data, const NcMap *command, GPtrArray **rows_out,
                              GStrv *fields_out, GError **error);
} NcCypherHooks;

typedef struct {
  NcTxn *txn;                 /* read or write store transaction */
  NcStore *store;
  gint64 deadline_us;         /* g_get_monotonic_time() deadline, 0 = none */
  gsize memory_limit;         /* bytes a query may hold in buffers, 0 = none */
  const NcCypherHooks *hooks; /* may be NULL */
  const char *user;           /* current user, for SHOW CURRENT USER etc. */
  gboolean is_admin;
} NcCypherContext;

NcCypherCache *nc_cypher_cache_new (guint capacity);
void nc_cypher_cache_free (NcCypherCache *cache);

/* Parses and plans `text` (or returns the cached plan). (transfer full) */
NcCypherQuery *nc_cypher_prepare (NcCypherCache *cache, const char *text, GError **error);
NcCypherQuery *nc_cypher_query_ref (NcCypherQuery *q);
void nc_cypher_query_unref (NcCypherQuery *q);
/* TRUE when the statement has updating clauses (CREATE, MERGE, SET, ...). */
gboolean nc_cypher_query_is_write (const NcCypherQuery *q);
/* TRUE for schema commands (CREATE INDEX, DROP CONSTRAINT, ...). */
gboolean nc_cypher_query_is_schema (const NcCypherQuery *q);
/* TRUE for EXPLAIN (plan only, no rows, no effects). */
gboolean nc_cypher_query_is_explain (const NcCypherQuery *q);
/* Column names (transfer none), NULL-terminated. */
const char *const *nc_cypher_query_fields (const NcCypherQuery *q);

/* Starts execution. `ctx` must outlive the exec. Fails early with
 * ParameterMissing for absent parameters. */
NcCypherExec *nc_cypher_execute (NcCypherQuery *q, const NcCypherContext *ctx,
                                 const NcMap *params, GError **error);
/* Next row (transfer none, valid until the next call), FALSE at end or on
 * error. Entities in rows are materialised. */
gboolean nc_cypher_exec_next (NcCypherExec *exec, const NcValue **row, GError **error);
const char *const *nc_cypher_exec_fields (NcCypherExec *exec);
const NcQueryStats *nc_cypher_exec_stats (NcCypherExec *exec);
NcQueryType nc_cypher_exec_query_type (NcCypherExec *exec);
/* EXPLAIN/PROFILE plan description (see nc_result_plan). (transfer full) */
NcValue nc_cypher_exec_plan (NcCypherExec *exec);
void nc_cypher_exec_free (NcCypherExec *exec);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcCypherExec, nc_cypher_exec_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcCypherQuery, nc_cypher_query_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcCypherCache, nc_cypher_cache_free)

G_END_DECLS
