#define G_LOG_DOMAIN "nornicdb-cypher"

/* Projection: evaluates every item first, then assigns, so that items may
 * read slots other items overwrite. */

#include "engine.h"

typedef struct {
  NcOp op;
  GArray *items; /* NcSlotExpr */
  NcValue *tmp;
} ProjectOp;

static gboolean
project_next (NcOp *op, GError **error)
{
  ProjectOp *p = (ProjectOp *) op;
  if (!nc_op_next (op->child, error))
    return FALSE;
  if (!nc_exec_tick (op->x, error))
    return FALSE;
  nc_row_copy (op->row, op->child->row, op->x->width);
  for (guint i = 0; i < p->items->len; i++)
    {
      NcSlotExpr *it = &g_array_index (p->items, NcSlotExpr, i);
      if (!nc_eval (op->x, it->expr, op->row, &p->tmp[i], error))
        {
          for (guint k = 0; k < i; k++)
            nc_value_clear (&p->tmp[k]);
          return FALSE;
        }
    }
  for (guint i = 0; i < p->items->len; i++)
    {
      NcSlotExpr *it = &g_array_index (p->items, NcSlotExpr, i);
      nc_value_clear (&op->row[it->slot]);
      op->row[it->slot] = p->tmp[i];
      p->tmp[i] = nc_value_null ();
    }
  return TRUE;
}

static void
project_free (NcOp *op)
{
  ProjectOp *p = (ProjectOp *) op;
  g_array_unref (p->items);
  g_free (p->tmp);
}

static const NcOpClass project_class = { "Projection", project_next, NULL, project_free };

NcOp *
nc_op_project_new (NcExecCtx *x, NcOp *child, GArray *items)
{
  ProjectOp *p = nc_op_alloc (sizeof (ProjectOp), &project_class, x, child);
  p->items = g_array_ref (items);
  p->tmp = g_new0 (NcValue, MAX (items->len, 1));
  GString *d = g_string_new (NULL);
  for (guint i = 0; i < items->len; i++)
    {
      NcSlotExpr *it = &g_array_index (items, NcSlotExpr, i);
      if (i)
        g_string_append (d, ", ");
      nc_expr_unparse (it->expr, d);
      g_string_append_printf (d, " AS %s", (char *) x->stmt->slot_names->pdata[it->slot]);
      nc_op_add_ident (&p->op, it->slot);
    }
  p->op.details = g_string_free (d, FALSE);
  return &p->op;
}
