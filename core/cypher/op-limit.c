#define G_LOG_DOMAIN "nornicdb-cypher"

/* SKIP / LIMIT. The counts are evaluated once, when the first row is
 * pulled, and must be non-negative integers. */

#include "engine.h"

typedef struct {
  NcOp op;
  NcExpr *skip, *limit;
  gboolean started;
  gint64 to_skip, remaining;
} LimitOp;

static gboolean
eval_count (NcExecCtx *x, NcExpr *e, const char *what, gint64 *out, GError **error)
{
  g_auto (NcValue) v = nc_value_null ();
  g_autofree NcValue *row = g_new0 (NcValue, MAX (x->width, 1));
  gboolean ok = nc_eval (x, e, row, &v, error);
  nc_row_clear (row, x->width);
  if (!ok)
    return FALSE;
  if (v.type != NC_VALUE_INT || v.u.i < 0)
    {
      g_autofree char *s = nc_value_to_debug_string (&v);
      g_set_error (error, NC_ERROR, NC_ERROR_SYNTAX,
                   "Invalid input. '%s' is not a valid value. Must be a non-negative integer. (%s)", s, what);
      return FALSE;
    }
  *out = v.u.i;
  return TRUE;
}

static gboolean
limit_next (NcOp *op, GError **error)
{
  LimitOp *l = (LimitOp *) op;
  if (!l->started)
    {
      l->started = TRUE;
      l->to_skip = 0;
      l->remaining = -1;
      if (l->skip && !eval_count (op->x, l->skip, "SKIP", &l->to_skip, error))
        return FALSE;
      if (l->limit && !eval_count (op->x, l->limit, "LIMIT", &l->remaining, error))
        return FALSE;
    }
  if (l->remaining == 0)
    {
      /* Updating clauses below run to completion whatever LIMIT says. */
      if (op->x->stmt->has_updates)
        while (nc_op_next (op->child, error))
          if (!nc_exec_tick (op->x, error))
            return FALSE;
      return FALSE;
    }
  while (l->to_skip > 0)
    {
      if (!nc_op_next (op->child, error))
        return FALSE;
      l->to_skip--;
    }
  if (!nc_op_next (op->child, error))
    return FALSE;
  if (l->remaining > 0)
    l->remaining--;
  nc_row_copy (op->row, op->child->row, op->x->width);
  return TRUE;
}

static void
limit_reset (NcOp *op)
{
  ((LimitOp *) op)->started = FALSE;
}

static const NcOpClass limit_class = { "Limit", limit_next, limit_reset, NULL };

NcOp *
nc_op_limit_new (NcExecCtx *x, NcOp *child, NcExpr *skip, NcExpr *limit)
{
  LimitOp *l = nc_op_alloc (sizeof (LimitOp), &limit_class, x, child);
  l->skip = skip;
  l->limit = limit;
  GString *d = g_string_new (NULL);
  if (skip)
    {
      g_string_append (d, "SKIP ");
      nc_expr_unparse (skip, d);
    }
  if (limit)
    {
      g_string_append (d, skip ? " LIMIT " : "LIMIT ");
      nc_expr_unparse (limit, d);
    }
  l->op.details = g_string_free (d, FALSE);
  return &l->op;
}
