#define G_LOG_DOMAIN "nornicdb-cypher"

/* Filter: passes rows whose predicate is true (null and false drop). */

#include "engine.h"

typedef struct {
  NcOp op;
  NcExpr *pred;
  NcOp *cover;                       /* nc_op_filter_cover */
  gboolean (*cover_exact) (NcOp *by);
} FilterOp;

static gboolean
filter_next (NcOp *op, GError **error)
{
  FilterOp *f = (FilterOp *) op;
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (op->x, error))
        return FALSE;
      /* the predicate is evaluated on the child's row, which is also
       * this operator's row (nc_op_filter_new): a kept row is not copied.
       * Evaluation only writes comprehension slots, and restores them. A
       * copy per kept row cost a reference count round trip per slot and
       * kept the child's entities shared, so the scan or expand below
       * could not reuse them and allocated new ones for every row. */
      if (f->cover != NULL && f->cover_exact (f->cover))
        return TRUE; /* the store cursor below checked this very conjunct */
      gboolean keep;
      if (!nc_eval_pred (op->x, f->pred, op->child->row, &keep, error))
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
  /* rows pass through unchanged: the child's row stays valid until the
   * next call to the child, which is exactly until the next call here */
  g_free (f->op.row);
  f->op.row = child->row;
  f->op.row_borrowed = TRUE;
  f->op.details = nc_expr_to_string (pred);
  return &f->op;
}

void
nc_op_filter_cover (NcOp *filter, NcOp *by, gboolean (*exact) (NcOp *by))
{
  FilterOp *f = (FilterOp *) filter;
  g_return_if_fail (filter->klass == &filter_class);
  f->cover = by;
  f->cover_exact = exact;
}

NcOp *
nc_op_filter_covered_by (NcOp *op)
{
  if (op->klass != &filter_class)
    return NULL;
  return ((FilterOp *) op)->cover;
}
