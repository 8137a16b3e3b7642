#define G_LOG_DOMAIN "nornicdb-cypher"

/* MERGE: eager over its input; for each row (in order, so later rows see
 * what earlier rows created) runs the match plan; every match gets ON MATCH
 * SET, otherwise the pattern is created and gets ON CREATE SET. */

#include "engine.h"

typedef struct {
  NcOp op;
  NcPatternPart *part;
  NcOp *arg;
  GPtrArray *on_create, *on_match;
  GPtrArray *out;
  gboolean built;
  guint emit;
} MergeOp;

static gboolean
merge_build (MergeOp *m, GError **error)
{
  NcOp *op = &m->op;
  NcExecCtx *x = op->x;
  g_autoptr (GPtrArray) input = g_ptr_array_new ();
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (x, error) || !nc_exec_account (x, x->width * sizeof (NcValue) + 32, error))
        return FALSE;
      g_ptr_array_add (input, nc_row_dup (op->child->row, x->width));
    }
  gboolean ok = !(error && *error);
  for (guint r = 0; ok && r < input->len; r++)
    {
      NcValue *row = input->pdata[r];
      nc_op_once_set_argument (m->arg, row);
      nc_op_reset (op->inner);
      guint first = m->out->len;
      GError *local = NULL;
      while (nc_op_next (op->inner, &local))
        {
          if (!(ok = nc_exec_tick (x, error)))
            break;
          g_ptr_array_add (m->out, nc_row_dup (op->inner->row, x->width));
        }
      if (local)
        {
          g_propagate_error (error, local);
          ok = FALSE;
        }
      if (!ok)
        break;
      if (m->out->len > first)
        {
          for (guint i = first; ok && i < m->out->len; i++)
            ok = nc_apply_set_items (x, m->on_match, m->out->pdata[i], error);
        }
      else
        {
          NcValue *nrow = nc_row_dup (row, x->width);
          g_ptr_array_add (m->out, nrow);
          ok = nc_create_pattern_part (x, m->part, nrow, error)
               && nc_apply_set_items (x, m->on_create, nrow, error);
        }
    }
  for (guint r = 0; r < input->len; r++)
    nc_row_free (input->pdata[r], x->width);
  nc_exec_account (x, -(gssize) (input->len * (x->width * sizeof (NcValue) + 32)), NULL);
  return ok;
}

static gboolean
merge_next (NcOp *op, GError **error)
{
  MergeOp *m = (MergeOp *) op;
  if (!m->built)
    {
      m->built = TRUE;
      if (!merge_build (m, error))
        return FALSE;
    }
  if (m->emit >= m->out->len)
    return FALSE;
  NcValue *row = m->out->pdata[m->emit];
  m->out->pdata[m->emit++] = NULL;
  nc_row_copy (op->row, row, op->x->width);
  nc_row_free (row, op->x->width);
  return TRUE;
}

static void
merge_reset (NcOp *op)
{
  MergeOp *m = (MergeOp *) op;
  for (guint i = 0; i < m->out->len; i++)
    nc_row_free (m->out->pdata[i], op->x->width);
  g_ptr_array_set_size (m->out, 0);
  m->built = FALSE;
  m->emit = 0;
}

static void
merge_free (NcOp *op)
{
  merge_reset (op);
  g_ptr_array_unref (((MergeOp *) op)->out);
}

static const NcOpClass merge_class = { "Merge", merge_next, merge_reset, merge_free };

NcOp *
nc_op_merge_new (NcExecCtx *x, NcOp *child, NcPatternPart *part, NcOp *match, NcOp *arg,
                 GPtrArray *on_create, GPtrArray *on_match)
{
  MergeOp *m = nc_op_alloc (sizeof (MergeOp), &merge_class, x, child);
  m->op.inner = match;
  m->part = part;
  m->arg = arg;
  m->on_create = on_create;
  m->on_match = on_match;
  m->out = g_ptr_array_new ();
  for (guint i = 0; i < part->nodes->len; i++)
    nc_op_add_ident (&m->op, ((NcNodePat *) part->nodes->pdata[i])->slot);
  return &m->op;
}
