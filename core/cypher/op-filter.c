#define G_LOG_DOMAIN "nornicdb-cypher"

/* Filter: passes rows whose predicate is true (null and false drop). */

#include "engine.h"

typedef struct {
  NcOp op;
  NcExpr *pred;
} FilterOp;

static gboolean
filter_next (NcOp *op, GError **error)
{
  FilterOp *f = (FilterOp *) op;
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (op->x, error))
        return FALSE;
      nc_row_copy (op->row, op->child->row, op->x->width);
      gboolean keep;
      if (!nc_eval_pred (op->x, f->pred, op->row, &keep, error))
        return FALSE;
      if (keep)
        return TRUE;
    }
  return FALSE;
}

static const NcOpClass filter_class = { "Filter", filter_next, NULL, NULL };

NcOp *
nc_op_filter_new (NcExecCtx *x, NcOp *child, NcExpr *pred)
{
  FilterOp *f = nc_op_alloc (sizeof (FilterOp), &filter_class, x, child);
  f->pred = pred;
  f->op.details = nc_expr_to_string (pred);
  return &f->op;
}
