#define G_LOG_DOMAIN "nornicdb-cypher"

/* FOREACH: eager; runs the body (updating clauses planned over an Argument
 * leaf) once per list element of every input row, then streams the input
 * rows unchanged. */

#include "engine.h"

typedef struct {
  NcOp op;
  NcExpr *list;
  int slot;
  NcOp *arg;
  GPtrArray *buf;
  gboolean built;
  guint emit;
} ForeachOp;

static gboolean
foreach_build (ForeachOp *f, GError **error)
{
  NcOp *op = &f->op;
  NcExecCtx *x = op->x;
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (x, error) || !nc_exec_account (x, x->width * sizeof (NcValue) + 32, error))
        return FALSE;
      g_ptr_array_add (f->buf, nc_row_dup (op->child->row, x->width));
    }
  if (error && *error)
    return FALSE;
  g_autofree NcValue *tmp = g_new0 (NcValue, MAX (x->width, 1));
  gboolean ok = TRUE;
  for (guint r = 0; ok && r < f->buf->len; r++)
    {
      NcValue *row = f->buf->pdata[r];
      g_auto (NcValue) l = nc_value_null ();
      if (!(ok = nc_eval (x, f->list, row, &l, error)))
        break;
      if (l.type == NC_VALUE_NULL)
        continue;
      if (l.type != NC_VALUE_LIST)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected List but was %s", nc_value_type_name (l.type));
          ok = FALSE;
          break;
        }
      for (guint32 i = 0; ok && i < l.u.list->len; i++)
        {
          nc_row_copy (tmp, row, x->width);
          nc_value_clear (&tmp[f->slot]);
          tmp[f->slot] = nc_value_copy (&l.u.list->items[i]);
          nc_op_once_set_argument (f->arg, tmp);
          nc_op_reset (op->inner);
          GError *local = NULL;
          while (nc_op_next (op->inner, &local))
            if (!(ok = nc_exec_tick (x, error)))
              break;
          if (local)
            {
              g_propagate_error (error, local);
              ok = FALSE;
            }
        }
    }
  nc_row_clear (tmp, x->width);
  return ok;
}

static gboolean
foreach_next (NcOp *op, GError **error)
{
  ForeachOp *f = (ForeachOp *) op;
  if (!f->built)
    {
      f->built = TRUE;
      if (!foreach_build (f, error))
        return FALSE;
    }
  if (f->emit >= f->buf->len)
    return FALSE;
  NcValue *row = f->buf->pdata[f->emit];
  f->buf->pdata[f->emit++] = NULL;
  nc_row_copy (op->row, row, op->x->width);
  nc_row_free (row, op->x->width);
  /* the buffered row is handed on: it no longer counts */
  nc_exec_account (op->x, -(gssize) (op->x->width * sizeof (NcValue) + 32), NULL);
  return TRUE;
}

static void
foreach_reset (NcOp *op)
{
  ForeachOp *f = (ForeachOp *) op;
  for (guint i = 0; i < f->buf->len; i++)
    nc_row_free (f->buf->pdata[i], op->x->width);
  g_ptr_array_set_size (f->buf, 0);
  f->built = FALSE;
  f->emit = 0;
}

static void
foreach_free (NcOp *op)
{
  foreach_reset (op);
  g_ptr_array_unref (((ForeachOp *) op)->buf);
}

static const NcOpClass foreach_class = { "Foreach", foreach_next, foreach_reset, foreach_free };

NcOp *
nc_op_foreach_new (NcExecCtx *x, NcOp *child, NcExpr *list, int slot, NcOp *body, NcOp *arg)
{
  ForeachOp *f = nc_op_alloc (sizeof (ForeachOp), &foreach_class, x, child);
  f->op.inner = body;
  f->list = list;
  f->slot = slot;
  f->arg = arg;
  f->buf = g_ptr_array_new ();
  return &f->op;
}
