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
      /* the predicate is evaluated on the child's row (evaluation only
       * writes comprehension slots, and restores them): copying every row
       * first cost a reference count round trip per slot for rows that are
       * dropped, and kept the child's entities shared so that the scan
       * below could not reuse them */
      gboolean keep;
      if (!nc_eval_pred (op->x, f->pred, op->child->row, &keep, error))
        return FALSE;
      if (keep)
        {
          nc_row_copy (op->row, op->child->row, op->x->width);
          return TRUE;
        }
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
