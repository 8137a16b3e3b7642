#define G_LOG_DOMAIN "nornicdb-cypher"

/* UNION [ALL]: runs the branches one after the other, moving each branch's
 * result columns into the first branch's column slots; UNION removes
 * duplicate rows. */

#include "engine.h"

typedef struct {
  NcOp op;
  GPtrArray *branches;     /* NcOp* */
  GPtrArray *branch_slots; /* GArray* of int */
  GArray *out_slots;
  gboolean distinct;
  guint cur;
  GHashTable *seen;
} UnionOp;

typedef struct {
  guint n;
  NcValue *v;
} UKey;

static guint
ukey_hash (gconstpointer p)
{
  const UKey *k = p;
  guint h = 3;
  for (guint i = 0; i < k->n; i++)
    h = h * 31 + nc_value_hash (&k->v[i]);
  return h;
}

static gboolean
ukey_equal (gconstpointer a, gconstpointer b)
{
  const UKey *x = a, *y = b;
  for (guint i = 0; i < x->n; i++)
    if (!nc_value_equivalent (&x->v[i], &y->v[i]))
      return FALSE;
  return TRUE;
}

static void
ukey_free (gpointer p)
{
  UKey *k = p;
  for (guint i = 0; i < k->n; i++)
    nc_value_clear (&k->v[i]);
  g_free (k->v);
  g_free (k);
}

static gboolean
union_next (NcOp *op, GError **error)
{
  UnionOp *u = (UnionOp *) op;
  NcExecCtx *x = op->x;
  while (u->cur < u->branches->len)
    {
      NcOp *b = u->branches->pdata[u->cur];
      GArray *slots = u->branch_slots->pdata[u->cur];
      GError *local = NULL;
      if (!nc_op_next (b, &local))
        {
          if (local)
            {
              g_propagate_error (error, local);
              return FALSE;
            }
          u->cur++;
          continue;
        }
      if (!nc_exec_tick (x, error))
        return FALSE;
      nc_row_clear (op->row, x->width);
      guint n = u->out_slots->len;
      for (guint i = 0; i < n; i++)
        op->row[g_array_index (u->out_slots, int, i)] = nc_value_copy (&b->row[g_array_index (slots, int, i)]);
      if (u->distinct)
        {
          UKey *k = g_new0 (UKey, 1);
          k->n = n;
          k->v = g_new0 (NcValue, MAX (n, 1));
          gsize bytes = 48;
          for (guint i = 0; i < n; i++)
            {
              k->v[i] = nc_value_copy (&op->row[g_array_index (u->out_slots, int, i)]);
              bytes += nc_value_estimate (&k->v[i]);
            }
          if (g_hash_table_contains (u->seen, k))
            {
              ukey_free (k);
              continue;
            }
          g_hash_table_add (u->seen, k);
          if (!nc_exec_account (x, bytes, error))
            return FALSE;
        }
      return TRUE;
    }
  return FALSE;
}

static void
union_reset (NcOp *op)
{
  UnionOp *u = (UnionOp *) op;
  u->cur = 0;
  g_hash_table_remove_all (u->seen);
  for (guint i = 0; i < u->branches->len; i++)
    nc_op_reset (u->branches->pdata[i]);
}

static void
union_free (NcOp *op)
{
  UnionOp *u = (UnionOp *) op;
  for (guint i = 0; i < u->branches->len; i++)
    nc_op_free (u->branches->pdata[i]);
  g_ptr_array_unref (u->branches);
  g_ptr_array_unref (u->branch_slots);
  g_array_unref (u->out_slots);
  g_hash_table_unref (u->seen);
}

static const NcOpClass union_class = { "Union", union_next, union_reset, union_free };

NcOp *
nc_op_union_new (NcExecCtx *x, GPtrArray *branches, GPtrArray *branch_slots, GArray *out_slots, gboolean distinct)
{
  UnionOp *u = nc_op_alloc (sizeof (UnionOp), &union_class, x, NULL);
  u->branches = g_ptr_array_ref (branches);
  u->branch_slots = g_ptr_array_ref (branch_slots);
  u->out_slots = g_array_ref (out_slots);
  u->distinct = distinct;
  u->op.branches = u->branches;
  u->seen = g_hash_table_new_full (ukey_hash, ukey_equal, ukey_free, NULL);
  return &u->op;
}
