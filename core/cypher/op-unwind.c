#define G_LOG_DOMAIN "nornicdb-cypher"

/* UNWIND. `UNWIND range(a, b[, step])` is iterated lazily, so a huge range
 * consumed by LIMIT costs nothing. */

#include "engine.h"

typedef struct {
  NcOp op;
  NcExpr *list;
  int slot;
  gboolean have_input;
  NcValue current;      /* evaluated list */
  guint32 idx;
  gboolean lazy_range;
  gint64 r_next, r_end, r_step;
  gboolean single;      /* non-list value: yield once */
} UnwindOp;

static gboolean
is_range_call (const NcExpr *e)
{
  return e->kind == NC_EX_FUNC && !e->is_agg && g_ascii_strcasecmp (e->name, "range") == 0 && e->args->len >= 2;
}

static gboolean
start_input (UnwindOp *u, GError **error)
{
  NcOp *op = &u->op;
  NcExecCtx *x = op->x;
  nc_value_clear (&u->current);
  u->idx = 0;
  u->lazy_range = FALSE;
  u->single = FALSE;
  if (is_range_call (u->list))
    {
      NcValue a[3] = { { 0 } };
      guint n = u->list->args->len;
      gboolean ints = TRUE, ok = TRUE;
      for (guint i = 0; i < n && ok; i++)
        {
          ok = nc_eval (x, u->list->args->pdata[i], op->row, &a[i], error);
          if (ok && a[i].type != NC_VALUE_INT)
            ints = FALSE;
        }
      if (!ok)
        {
          for (guint i = 0; i < n; i++)
            nc_value_clear (&a[i]);
          return FALSE;
        }
      if (ints && (n == 2 || a[2].u.i != 0))
        {
          u->lazy_range = TRUE;
          u->r_next = a[0].u.i;
          u->r_end = a[1].u.i;
          u->r_step = n == 3 ? a[2].u.i : 1;
          return TRUE;
        }
      /* fall back to the function for its errors and conversions */
      const NcFunctionDef *def = u->list->fn;
      ok = def->fn (&x->fctx, a, n, &u->current, error);
      for (guint i = 0; i < n; i++)
        nc_value_clear (&a[i]);
      if (!ok)
        return FALSE;
    }
  else if (!nc_eval (x, u->list, op->row, &u->current, error))
    return FALSE;
  if (u->current.type != NC_VALUE_LIST && u->current.type != NC_VALUE_NULL)
    u->single = TRUE;
  return TRUE;
}

static gboolean
unwind_next (NcOp *op, GError **error)
{
  UnwindOp *u = (UnwindOp *) op;
  NcExecCtx *x = op->x;
  for (;;)
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      if (u->have_input)
        {
          NcValue v = nc_value_null ();
          gboolean got = FALSE;
          if (u->lazy_range)
            {
              if ((u->r_step > 0 && u->r_next <= u->r_end) || (u->r_step < 0 && u->r_next >= u->r_end))
                {
                  v = nc_value_int (u->r_next);
                  got = TRUE;
                  if ((u->r_step > 0 && u->r_next > G_MAXINT64 - u->r_step)
                      || (u->r_step < 0 && u->r_next < G_MININT64 - u->r_step))
                    u->lazy_range = FALSE; /* the next step would overflow: done */
                  else
                    u->r_next += u->r_step;
                }
            }
          else if (u->single)
            {
              v = nc_value_copy (&u->current);
              u->single = FALSE;
              nc_value_clear (&u->current);
              got = TRUE;
            }
          else if (u->current.type == NC_VALUE_LIST && u->idx < u->current.u.list->len)
            {
              v = nc_value_copy (&u->current.u.list->items[u->idx++]);
              got = TRUE;
            }
          if (got)
            {
              nc_value_clear (&op->row[u->slot]);
              op->row[u->slot] = v;
              return TRUE;
            }
          u->have_input = FALSE;
        }
      if (!nc_op_next (op->child, error))
        return FALSE;
      nc_row_copy (op->row, op->child->row, x->width);
      if (!start_input (u, error))
        return FALSE;
      u->have_input = TRUE;
    }
}

static void
unwind_reset (NcOp *op)
{
  UnwindOp *u = (UnwindOp *) op;
  u->have_input = FALSE;
  nc_value_clear (&u->current);
}

static void
unwind_free (NcOp *op)
{
  nc_value_clear (&((UnwindOp *) op)->current);
}

static const NcOpClass unwind_class = { "Unwind", unwind_next, unwind_reset, unwind_free };

NcOp *
nc_op_unwind_new (NcExecCtx *x, NcOp *child, NcExpr *list, int slot)
{
  UnwindOp *u = nc_op_alloc (sizeof (UnwindOp), &unwind_class, x, child);
  u->list = list;
  u->slot = slot;
  nc_op_add_ident (&u->op, slot);
  g_autofree char *s = nc_expr_to_string (list);
  u->op.details = g_strdup_printf ("%s AS %s", s, (char *) x->stmt->slot_names->pdata[slot]);
  return &u->op;
}
