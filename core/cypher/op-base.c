#define G_LOG_DOMAIN "nornicdb-cypher"

/* Operator plumbing shared by every op-*.c file, and the Once operator
 * (the leaf that yields a single row: empty, or an argument row handed in by
 * an apply-like parent). */

#include "engine.h"

gpointer
nc_op_alloc (gsize size, const NcOpClass *klass, NcExecCtx *x, NcOp *child)
{
  NcOp *op = g_malloc0 (size);
  op->klass = klass;
  op->x = x;
  op->child = child;
  op->row = g_new0 (NcValue, MAX (x->width, 1));
  op->idents = g_array_new (FALSE, FALSE, sizeof (int));
  return op;
}

void
nc_op_add_ident (NcOp *op, int slot)
{
  if (slot >= 0)
    g_array_append_val (op->idents, slot);
}

gboolean
nc_op_next (NcOp *op, GError **error)
{
  if (!op->klass->next (op, error))
    return FALSE;
  op->rows++;
  return TRUE;
}

void
nc_op_reset (NcOp *op)
{
  if (op == NULL)
    return;
  if (op->klass->reset)
    op->klass->reset (op);
  nc_op_reset (op->child);
}

void
nc_op_free (NcOp *op)
{
  if (op == NULL)
    return;
  nc_op_free (op->child);
  nc_op_free (op->inner);
  if (op->klass->free)
    op->klass->free (op);
  if (!op->row_borrowed)
    {
      nc_row_clear (op->row, op->x->width);
      g_free (op->row);
    }
  g_free (op->details);
  g_array_unref (op->idents);
  g_free (op);
}

void
nc_row_clear (NcValue *row, int width)
{
  for (int i = 0; i < width; i++)
    nc_value_clear (&row[i]);
}

void
nc_row_set_entity (NcValue *slot, gboolean rel, gint64 id, gint64 start_id, gint64 end_id)
{
  NcValueType t = rel ? NC_VALUE_REL : NC_VALUE_NODE;
  if (slot->type == t)
    {
      NcEntity *e = slot->u.entity;
      /* ref 1: nobody else can observe the change */
      if (!e->materialised && g_atomic_int_get (&e->ref) == 1)
        {
          e->id = id;
          e->start_id = start_id;
          e->end_id = end_id;
          return;
        }
    }
  nc_value_clear (slot);
  *slot = rel ? nc_value_rel_ref (id, start_id, end_id) : nc_value_node_ref (id);
}

void
nc_row_copy (NcValue *dst, const NcValue *src, int width)
{
  if (dst == src)
    return;
  for (int i = 0; i < width; i++)
    {
      nc_value_clear (&dst[i]);
      dst[i] = nc_value_copy (&src[i]);
    }
}

NcValue *
nc_row_dup (const NcValue *src, int width)
{
  NcValue *r = g_new0 (NcValue, MAX (width, 1));
  for (int i = 0; i < width; i++)
    r[i] = nc_value_copy (&src[i]);
  return r;
}

void
nc_row_free (NcValue *row, int width)
{
  if (row == NULL)
    return;
  nc_row_clear (row, width);
  g_free (row);
}

/* ---- Once / Argument --------------------------------------------------- */

typedef struct _OnceOp OnceOp;
struct _OnceOp {
  NcOp op;
  NcValue *arg;
  OnceOp *source;   /* linked leaf: reads the argument of another leaf */
  gboolean done;
};

static gboolean
once_next (NcOp *op, GError **error)
{
  OnceOp *o = (OnceOp *) op;
  if (o->done)
    return FALSE;
  o->done = TRUE;
  if (o->source && o->source->arg)
    nc_row_copy (op->row, o->source->arg, op->x->width);
  else if (o->arg)
    nc_row_copy (op->row, o->arg, op->x->width);
  else
    nc_row_clear (op->row, op->x->width);
  return TRUE;
}

static void
once_reset (NcOp *op)
{
  ((OnceOp *) op)->done = FALSE;
}

static void
once_free (NcOp *op)
{
  OnceOp *o = (OnceOp *) op;
  nc_row_free (o->arg, op->x->width);
}

static const NcOpClass once_class = { "Argument", once_next, once_reset, once_free };

NcOp *
nc_op_once_new (NcExecCtx *x)
{
  return nc_op_alloc (sizeof (OnceOp), &once_class, x, NULL);
}

NcOp *
nc_op_once_new_linked (NcExecCtx *x, NcOp *source)
{
  OnceOp *o = nc_op_alloc (sizeof (OnceOp), &once_class, x, NULL);
  o->source = (OnceOp *) source;
  return &o->op;
}

void
nc_op_once_set_argument (NcOp *once, const NcValue *row)
{
  OnceOp *o = (OnceOp *) once;
  if (o->arg == NULL)
    o->arg = g_new0 (NcValue, MAX (once->x->width, 1));
  nc_row_copy (o->arg, row, once->x->width);
  o->done = FALSE;
}
