#define G_LOG_DOMAIN "nornicdb-cypher"

/* Apply: runs an inner plan once per input row (the inner plan's leaf is an
 * Argument op fed with that row). Used for OPTIONAL MATCH, CALL { }
 * subqueries and MATCH after bound variables. `optional` emits the input row
 * with the inner variables set to null when the inner plan has no row;
 * `unit` drains the inner plan and emits the input row once (unit
 * subqueries). For a plain apply, `null_slots` (when given) names the
 * inner columns added to the outer row instead. */

#include "engine.h"

typedef struct {
  NcOp op;
  NcOp *arg;
  gboolean optional, unit;
  GArray *null_slots;
  gboolean have_input, found;
} ApplyOp;

static gboolean
apply_next (NcOp *op, GError **error)
{
  ApplyOp *a = (ApplyOp *) op;
  NcExecCtx *x = op->x;
  for (;;)
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      if (a->have_input)
        {
          GError *local = NULL;
          if (a->unit)
            {
              while (nc_op_next (op->inner, &local))
                if (!nc_exec_tick (x, error))
                  return FALSE;
              if (local)
                {
                  g_propagate_error (error, local);
                  return FALSE;
                }
              a->have_input = FALSE;
              nc_row_copy (op->row, op->child->row, x->width);
              return TRUE;
            }
          if (nc_op_next (op->inner, &local))
            {
              a->found = TRUE;
              if (!a->optional && a->null_slots)
                {
                  /* CALL { ... RETURN cols }: the outer row plus the
                   * subquery's columns */
                  nc_row_copy (op->row, op->child->row, x->width);
                  for (guint i = 0; i < a->null_slots->len; i++)
                    {
                      int s = g_array_index (a->null_slots, int, i);
                      nc_value_clear (&op->row[s]);
                      op->row[s] = nc_value_copy (&op->inner->row[s]);
                    }
                }
              else
                nc_row_copy (op->row, op->inner->row, x->width);
              return TRUE;
            }
          if (local)
            {
              g_propagate_error (error, local);
              return FALSE;
            }
          a->have_input = FALSE;
          if (a->optional && !a->found)
            {
              nc_row_copy (op->row, op->child->row, x->width);
              for (guint i = 0; a->null_slots && i < a->null_slots->len; i++)
                nc_value_clear (&op->row[g_array_index (a->null_slots, int, i)]);
              return TRUE;
            }
        }
      if (!nc_op_next (op->child, error))
        return FALSE;
      nc_op_once_set_argument (a->arg, op->child->row);
      nc_op_reset (op->inner);
      a->have_input = TRUE;
      a->found = FALSE;
    }
}

static void
apply_reset (NcOp *op)
{
  ApplyOp *a = (ApplyOp *) op;
  a->have_input = FALSE;
}

static void
apply_free (NcOp *op)
{
  ApplyOp *a = (ApplyOp *) op;
  if (a->null_slots)
    g_array_unref (a->null_slots);
}

static const NcOpClass apply_class = { "Apply", apply_next, apply_reset, apply_free };
static const NcOpClass optional_class = { "Optional", apply_next, apply_reset, apply_free };
static const NcOpClass unit_class = { "SubqueryForeach", apply_next, apply_reset, apply_free };

NcOp *
nc_op_apply_new (NcExecCtx *x, NcOp *child, NcOp *inner, NcOp *arg, gboolean optional,
                 gboolean unit, GArray *null_slots)
{
  ApplyOp *a = nc_op_alloc (sizeof (ApplyOp), optional ? &optional_class : unit ? &unit_class : &apply_class, x, child);
  a->op.inner = inner;
  a->arg = arg;
  a->optional = optional;
  a->unit = unit;
  a->null_slots = null_slots ? g_array_ref (null_slots) : NULL;
  return &a->op;
}
