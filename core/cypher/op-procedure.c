#define G_LOG_DOMAIN "nornicdb-cypher"

/* CALL proc(...) YIELD ...: runs a built-in procedure per input row and
 * binds the yielded fields. */

#include "engine.h"

typedef struct {
  NcOp op;
  NcClause *call;
  GPtrArray *rows;   /* NcValue arrays */
  guint n_fields;
  guint idx;
  gboolean have_input;
} ProcOp;

static void
free_rows (ProcOp *p)
{
  if (p->rows == NULL)
    return;
  for (guint i = 0; i < p->rows->len; i++)
    {
      NcValue *r = p->rows->pdata[i];
      for (guint k = 0; k < p->n_fields; k++)
        nc_value_clear (&r[k]);
      g_free (r);
    }
  g_clear_pointer (&p->rows, g_ptr_array_unref);
}

static gboolean
proc_next (NcOp *op, GError **error)
{
  ProcOp *p = (ProcOp *) op;
  NcExecCtx *x = op->x;
  for (;;)
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      if (p->have_input && p->rows && p->idx < p->rows->len)
        {
          NcValue *r = p->rows->pdata[p->idx++];
          nc_row_copy (op->row, op->child->row, x->width);
          for (guint i = 0; i < p->call->items->len; i++)
            {
              NcProjItem *it = p->call->items->pdata[i];
              nc_value_clear (&op->row[it->slot]);
              op->row[it->slot] = nc_value_copy (&r[it->expr->slot]);
            }
          if (p->call->where)
            {
              gboolean keep;
              if (!nc_eval_pred (x, p->call->where, op->row, &keep, error))
                return FALSE;
              if (!keep)
                continue;
            }
          return TRUE;
        }
      free_rows (p);
      p->have_input = FALSE;
      if (!nc_op_next (op->child, error))
        return FALSE;
      guint n = p->call->exprs ? p->call->exprs->len : 0;
      g_autofree NcValue *args = g_new0 (NcValue, MAX (n, 1));
      gboolean ok = TRUE;
      guint done = 0;
      for (; done < n; done++)
        if (!(ok = nc_eval (x, p->call->exprs->pdata[done], op->child->row, &args[done], error)))
          break;
      if (ok)
        ok = nc_procedure_run (x, p->call->proc, args, n, &p->rows, &p->n_fields, error);
      for (guint i = 0; i < done; i++)
        nc_value_clear (&args[i]);
      if (!ok)
        return FALSE;
      if (p->n_fields == 0 && !p->call->standalone)
        {
          /* A procedure without outputs called inside a query passes each
           * input row on once; standalone it returns nothing. */
          free_rows (p);
          p->rows = g_ptr_array_new ();
          g_ptr_array_add (p->rows, g_new0 (NcValue, 1));
        }
      p->idx = 0;
      p->have_input = TRUE;
    }
}

static void
proc_reset (NcOp *op)
{
  ProcOp *p = (ProcOp *) op;
  free_rows (p);
  p->have_input = FALSE;
}

static const NcOpClass proc_class = { "ProcedureCall", proc_next, proc_reset, proc_reset };

NcOp *
nc_op_procedure_new (NcExecCtx *x, NcOp *child, NcClause *call)
{
  ProcOp *p = nc_op_alloc (sizeof (ProcOp), &proc_class, x, child);
  p->call = call;
  p->op.details = g_strdup (call->proc);
  for (guint i = 0; i < call->items->len; i++)
    nc_op_add_ident (&p->op, ((NcProjItem *) call->items->pdata[i])->slot);
  return &p->op;
}
