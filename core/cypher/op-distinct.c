#define G_LOG_DOMAIN "nornicdb-cypher"

/* DISTINCT over the projected slots; streams, remembering what it saw. */

#include "engine.h"

typedef struct {
  guint n;
  NcValue *vals;
} Key;

static guint
key_hash (gconstpointer p)
{
  const Key *k = p;
  guint h = 7;
  for (guint i = 0; i < k->n; i++)
    h = h * 31 + nc_value_hash (&k->vals[i]);
  return h;
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  const Key *ka = a, *kb = b;
  for (guint i = 0; i < ka->n; i++)
    if (!nc_value_equivalent (&ka->vals[i], &kb->vals[i]))
      return FALSE;
  return TRUE;
}

static void
key_free (gpointer p)
{
  Key *k = p;
  for (guint i = 0; i < k->n; i++)
    nc_value_clear (&k->vals[i]);
  g_free (k->vals);
  g_free (k);
}

typedef struct {
  NcOp op;
  GArray *slots;
  GHashTable *seen;
} DistinctOp;

static gboolean
distinct_next (NcOp *op, GError **error)
{
  DistinctOp *d = (DistinctOp *) op;
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (op->x, error))
        return FALSE;
      Key *k = g_new0 (Key, 1);
      k->n = d->slots->len;
      k->vals = g_new0 (NcValue, MAX (k->n, 1));
      gsize bytes = 48;
      for (guint i = 0; i < k->n; i++)
        {
          k->vals[i] = nc_value_copy (&op->child->row[g_array_index (d->slots, int, i)]);
          bytes += nc_value_estimate (&k->vals[i]);
        }
      if (g_hash_table_contains (d->seen, k))
        {
          key_free (k);
          continue;
        }
      g_hash_table_add (d->seen, k);
      if (!nc_exec_account (op->x, bytes, error))
        return FALSE;
      nc_row_copy (op->row, op->child->row, op->x->width);
      return TRUE;
    }
  return FALSE;
}

static void
distinct_reset (NcOp *op)
{
  g_hash_table_remove_all (((DistinctOp *) op)->seen);
}

static void
distinct_free (NcOp *op)
{
  DistinctOp *d = (DistinctOp *) op;
  g_hash_table_unref (d->seen);
  g_array_unref (d->slots);
}

static const NcOpClass distinct_class = { "Distinct", distinct_next, distinct_reset, distinct_free };

NcOp *
nc_op_distinct_new (NcExecCtx *x, NcOp *child, GArray *slots)
{
  DistinctOp *d = nc_op_alloc (sizeof (DistinctOp), &distinct_class, x, child);
  d->slots = g_array_ref (slots);
  d->seen = g_hash_table_new_full (key_hash, key_equal, key_free, NULL);
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < slots->len; i++)
    {
      int slot = g_array_index (slots, int, i);
      g_string_append_printf (s, "%s%s", i ? ", " : "", (char *) x->stmt->slot_names->pdata[slot]);
      nc_op_add_ident (&d->op, slot);
    }
  d->op.details = g_string_free (s, FALSE);
  return &d->op;
}
