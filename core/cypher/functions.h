/* The Cypher function library: scalar functions, aggregates, arithmetic,
 * property/field access and toString() rendering.
 *
 * Semantics follow openCypher / Neo4j 5. Errors are GErrors in NC_ERROR
 * (core/errors.h): wrong argument types give NC_ERROR_TYPE, invalid
 * argument values NC_ERROR_ARGUMENT, integer overflow and integer division
 * by zero NC_ERROR_ARITHMETIC. Almost every function returns null for a
 * null argument.
 *
 * Ownership: `out` values are (transfer full), release with
 * nc_value_clear(); `args` are borrowed.
 *
 * elementId() renders as "4:nornicdb:<id>" for nodes and
 * "5:nornicdb:<id>" for relationships (the leading digit mirrors Neo4j's
 * element-id version prefix, the middle part names the database).
 */
#pragma once

#include <glib.h>
#include "../value.h"
#include "../store.h"

G_BEGIN_DECLS

typedef struct {
  NcTxn *txn;               /* for entity functions (labels, properties...) */
  NcStore *store;           /* token names */
  gint64 statement_time_us; /* wall clock at statement start (g_get_real_time) */
  GRand *rng;               /* rand(), randomUUID(); NULL = global GLib RNG */
} NcFuncCtx;

typedef gboolean (*NcScalarFunc) (NcFuncCtx *ctx, const NcValue *args, guint n_args,
                                  NcValue *out, GError **error);

typedef struct {
  const char *name;
  gint min_args;
  gint max_args; /* -1 = variadic */
  NcScalarFunc fn;
} NcFunctionDef;

/* Case-insensitive; dotted names like "date.truncate". NULL if unknown.
 * (transfer none) static table entry. */
const NcFunctionDef *nc_cypher_function_lookup (const char *name);

/* ---- aggregates ---------------------------------------------------------- */

typedef struct _NcAggregate NcAggregate;

gboolean nc_cypher_is_aggregate (const char *name);
/* (transfer full) NULL with NC_ERROR_SEMANTIC when `name` is no aggregate. */
NcAggregate *nc_aggregate_new (const char *name, gboolean distinct, GError **error);
/* count(*) = step with n_args 0. percentileCont/Disc take 2 args. */
gboolean nc_aggregate_step (NcAggregate *agg, const NcValue *args, guint n_args, GError **error);
gboolean nc_aggregate_finish (NcAggregate *agg, NcValue *out, GError **error);
/* count(*) of n more rows at once (nc_aggregate_step with no arguments, n times). */
void nc_aggregate_add_rows (NcAggregate *agg, gint64 n);
void nc_aggregate_free (NcAggregate *agg);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcAggregate, nc_aggregate_free)

/* ---- operators ----------------------------------------------------------- */

typedef enum { NC_OP_ADD, NC_OP_SUB, NC_OP_MUL, NC_OP_DIV, NC_OP_MOD, NC_OP_POW } NcArithOp;

gboolean nc_cypher_arith (NcArithOp op, const NcValue *a, const NcValue *b, NcValue *out,
                          GError **error);
gboolean nc_cypher_negate (const NcValue *a, NcValue *out, GError **error);

/* `v.field`: map key (null when absent), temporal/duration/point
 * components. Null in gives null out. Entities are NOT handled here (the
 * executor reads their properties from the transaction). */
gboolean nc_cypher_value_field (const NcValue *v, const char *field, NcValue *out,
                                GError **error);

/* toString() semantics for any value (used by toString and string
 * concatenation). (transfer full) */
char *nc_cypher_to_string (const NcValue *v);

G_END_DECLS
