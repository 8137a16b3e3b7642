#define G_LOG_DOMAIN "nornicdb-cypher"

/* ORDER BY: buffers its input (with the sort keys evaluated once per row),
 * sorts by the openCypher orderability rules, then streams. Ties keep input
 * order. */

#include "engine.h"

#include <string.h>

typedef struct {
  NcValue *row;
  NcValue *keys;
  guint seq;
  gsize bytes;      /* accounted against the memory limit */
} SortRow;

typedef struct {
  NcOp op;
  GPtrArray *items;   /* NcSortItem* */
  GPtrArray *buf;     /* SortRow* */
  gboolean built;
  guint emit;
} SortOp;

static int
sort_cmp (gconstpointer pa, gconstpointer pb, gpointer user_data)
{
  SortOp *s = user_data;
  const SortRow *a = *(SortRow *const *) pa, *b = *(SortRow *const *) pb;
  for (guint i = 0; i < s->items->len; i++)
    {
      NcSortItem *it = s->items->pdata[i];
      int c = nc_value_order (&a->keys[i], &b->keys[i]);
      if (c != 0)
        return it->desc ? -c : c;
    }
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void
sort_row_free (SortOp *s, SortRow *r)
{
  nc_exec_account (s->op.x, -(gssize) r->bytes, NULL);
  nc_row_free (r->row, s->op.x->width);
  for (guint i = 0; i < s->items->len; i++)
    nc_value_clear (&r->keys[i]);
  g_free (r->keys);
  g_free (r);
}

static gboolean
sort_build (SortOp *s, GError **error)
{
  NcOp *op = &s->op;
  NcExecCtx *x = op->x;
  guint seq = 0;
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      SortRow *r = g_new0 (SortRow, 1);
      r->row = nc_row_dup (op->child->row, x->width);
      r->keys = g_new0 (NcValue, MAX (s->items->len, 1));
      r->seq = seq++;
      g_ptr_array_add (s->buf, r);
      gsize bytes = 32 + x->width * sizeof (NcValue);
      for (guint i = 0; i < s->items->len; i++)
        {
          NcSortItem *it = s->items->pdata[i];
          if (!nc_eval (x, it->expr, r->row, &r->keys[i], error))
            return FALSE;
          bytes += nc_value_estimate (&r->keys[i]);
        }
      for (int i = 0; i < x->width; i++)
        if (r->row[i].type >= NC_VALUE_STRING)
          bytes += nc_value_estimate (&r->row[i]);
      r->bytes = bytes;
      if (!nc_exec_account (x, bytes, error))
        return FALSE;
    }
  if (error && *error)
    return FALSE;
  if (x->ctx->deadline_us && g_get_monotonic_time () > x->ctx->deadline_us)
    {
      nc_set_timeout_error (error);
      return FALSE;
    }
  g_ptr_array_sort_with_data (s->buf, sort_cmp, s);
  return TRUE;
}

static gboolean
sort_next (NcOp *op, GError **error)
{
  SortOp *s = (SortOp *) op;
  if (!s->built)
    {
      s->built = TRUE;
      if (!sort_build (s, error))
        return FALSE;
    }
  if (s->emit >= s->buf->len)
    return FALSE;
  SortRow *r = s->buf->pdata[s->emit];
  /* hand the row over and release it: nothing is read twice */
  nc_row_clear (op->row, op->x->width);
  memcpy (op->row, r->row, op->x->width * sizeof (NcValue));
  memset (r->row, 0, op->x->width * sizeof (NcValue));
  sort_row_free (s, r);
  s->buf->pdata[s->emit++] = NULL;
  return TRUE;
}

static void
sort_reset (NcOp *op)
{
  SortOp *s = (SortOp *) op;
  for (guint i = 0; i < s->buf->len; i++)
    if (s->buf->pdata[i])
      sort_row_free (s, s->buf->pdata[i]);
  g_ptr_array_set_size (s->buf, 0);
  s->built = FALSE;
  s->emit = 0;
}

static void
sort_free (NcOp *op)
{
  SortOp *s = (SortOp *) op;
  sort_reset (op);
  g_ptr_array_unref (s->buf);
}

static const NcOpClass sort_class = { "Sort", sort_next, sort_reset, sort_free };

NcOp *
nc_op_sort_new (NcExecCtx *x, NcOp *child, GPtrArray *items, NcExpr *limit_hint)
{
  SortOp *s = nc_op_alloc (sizeof (SortOp), &sort_class, x, child);
  s->items = items;
  s->buf = g_ptr_array_new ();
  GString *d = g_string_new (NULL);
  for (guint i = 0; i < items->len; i++)
    {
      NcSortItem *it = items->pdata[i];
      if (i)
        g_string_append (d, ", ");
      nc_expr_unparse (it->expr, d);
      g_string_append (d, it->desc ? " DESC" : " ASC");
    }
  s->op.details = g_string_free (d, FALSE);
  return &s->op;
}
