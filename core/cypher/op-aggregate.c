#define G_LOG_DOMAIN "nornicdb-cypher"

/* Aggregation: groups rows by the grouping keys (equivalence: null ~ null,
 * 1 ~ 1.0) and folds each aggregate. Eager by nature; groups are emitted in
 * first-seen order. Without grouping keys an empty input still gives one
 * row (count(*) = 0). */

#include "engine.h"

#include <string.h>

typedef struct {
  guint n_keys;
  NcValue *keys;
  NcAggregate **aggs;
  NcValue *first_row; /* a representative input row, for pass-through slots */
} Group;

/* Groups by one integer key (`RETURN p.age, count(*)`): open addressing
 * on the integer itself. The general table hashes and compares NcValues
 * through equivalence (1 ~ 1.0), which was a quarter of the group-by
 * profile. Used only while every key seen is an integer: the first key of
 * another type switches the operator to the general table for good (every
 * group is in both tables, so nothing is lost). */
typedef struct {
  gint64 key;
  gpointer group;       /* NULL: empty slot */
} IntSlot;

typedef struct {
  NcOp op;
  IntSlot *int_slots;
  guint int_cap;        /* power of two, 0 until used */
  guint int_used;
  gboolean int_only;    /* single key and every key so far an integer */
  GArray *keys;       /* NcSlotExpr */
  GPtrArray *aggs;    /* NcExpr* */
  GHashTable *index;  /* Group* -> Group* */
  GPtrArray *groups;
  gboolean built;
  guint emit;
  NcValue *probe;     /* grouping keys of the current row; moved into a new group */
} AggOp;

static guint
group_hash (gconstpointer p)
{
  const Group *g = p;
  guint h = 17;
  for (guint i = 0; i < g->n_keys; i++)
    h = h * 31 + nc_value_hash (&g->keys[i]);
  return h;
}

static gboolean
group_equal (gconstpointer a, gconstpointer b)
{
  const Group *ga = a, *gb = b;
  for (guint i = 0; i < ga->n_keys; i++)
    if (!nc_value_equivalent (&ga->keys[i], &gb->keys[i]))
      return FALSE;
  return TRUE;
}

static void
group_free (AggOp *a, Group *g)
{
  for (guint i = 0; i < a->keys->len; i++)
    nc_value_clear (&g->keys[i]);
  g_free (g->keys);
  for (guint i = 0; i < a->aggs->len; i++)
    nc_aggregate_free (g->aggs[i]);
  g_free (g->aggs);
  nc_row_free (g->first_row, a->op.x->width);
  g_free (g);
}

static Group *
group_new (AggOp *a, NcValue *keys, const NcValue *row, GError **error)
{
  Group *g = g_new0 (Group, 1);
  g->keys = keys;
  g->n_keys = a->keys->len;
  g->aggs = g_new0 (NcAggregate *, MAX (a->aggs->len, 1));
  g->first_row = nc_row_dup (row, a->op.x->width);
  for (guint i = 0; i < a->aggs->len; i++)
    {
      NcExpr *e = a->aggs->pdata[i];
      g->aggs[i] = nc_aggregate_new (e->kind == NC_EX_COUNT_STAR ? "count" : e->name, e->distinct, error);
      if (g->aggs[i] == NULL)
        {
          group_free (a, g);
          return NULL;
        }
    }
  return g;
}

static guint
int_hash (gint64 k)
{
  guint64 h = (guint64) k * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15);
  return (guint) (h >> 32);
}

static IntSlot *
int_find (AggOp *a, gint64 k)
{
  guint mask = a->int_cap - 1;
  for (guint i = int_hash (k) & mask;; i = (i + 1) & mask)
    if (a->int_slots[i].group == NULL || a->int_slots[i].key == k)
      return &a->int_slots[i];
}

static void
int_insert (AggOp *a, Group *g)
{
  if (a->int_used * 2 >= a->int_cap)
    {
      IntSlot *old = a->int_slots;
      guint old_cap = a->int_cap;
      a->int_cap = old_cap ? old_cap * 2 : 64;
      a->int_slots = g_new0 (IntSlot, a->int_cap);
      for (guint i = 0; i < old_cap; i++)
        if (old[i].group != NULL)
          *int_find (a, old[i].key) = old[i];
      g_free (old);
    }
  IntSlot *sl = int_find (a, g->keys[0].u.i);
  sl->key = g->keys[0].u.i;
  sl->group = g;
  a->int_used++;
}

static Group *
lookup_group (AggOp *a, Group *probe)
{
  if (a->int_only)
    {
      if (probe->keys[0].type == NC_VALUE_INT)
        return a->int_cap ? int_find (a, probe->keys[0].u.i)->group : NULL;
      a->int_only = FALSE;
    }
  return g_hash_table_lookup (a->index, probe);
}

static void
insert_group (AggOp *a, Group *g)
{
  g_hash_table_add (a->index, g);
  if (a->int_only)
    int_insert (a, g);
}

static gboolean
step_group (AggOp *a, Group *g, NcValue *row, GError **error)
{
  NcExecCtx *x = a->op.x;
  for (guint i = 0; i < a->aggs->len; i++)
    {
      NcExpr *e = a->aggs->pdata[i];
      if (e->kind == NC_EX_COUNT_STAR)
        {
          if (!nc_aggregate_step (g->aggs[i], NULL, 0, error))
            return FALSE;
          continue;
        }
      guint n = e->args->len;
      NcValue args[4] = { { 0 } };
      gboolean ok = TRUE;
      guint done = 0;
      for (; done < n && done < 4; done++)
        if (!(ok = nc_eval (x, e->args->pdata[done], row, &args[done], error)))
          break;
      if (ok && (g_ascii_strcasecmp (e->name, "collect") == 0))
        ok = nc_exec_account (x, nc_value_estimate (&args[0]), error);
      if (ok)
        ok = nc_aggregate_step (g->aggs[i], args, MIN (n, 4), error);
      for (guint k = 0; k < done; k++)
        nc_value_clear (&args[k]);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

/* ---- fused with a label scan ------------------------------------------------ */

/* `MATCH (p:Person) RETURN p.age, count(*)`: when the child is a plain
 * label scan and every key and argument is the scanned node's one fetched
 * property (or count(*) / count(p)), the aggregation reads the scan's
 * cursor itself. The general loop built a row, copied the property into
 * the statement's memo, evaluated `p.age` from it and cleared the copies
 * for every node: two thirds of the query's time. Returns the key name,
 * or NULL when the shape is not that one (the general loop runs). */
static const char *
fusable_key (AggOp *a, int slot)
{
  const char *name = NULL;
  gboolean count_only = TRUE;
  for (guint i = 0; i < a->keys->len + a->aggs->len; i++)
    {
      const NcExpr *e;
      if (i < a->keys->len)
        e = g_array_index (a->keys, NcSlotExpr, i).expr;
      else
        {
          const NcExpr *f = a->aggs->pdata[i - a->keys->len];
          if (f->kind == NC_EX_COUNT_STAR)
            continue;
          if (f->distinct || f->args == NULL || f->args->len != 1 || f->name == NULL
              || !(g_ascii_strcasecmp (f->name, "count") == 0 || g_ascii_strcasecmp (f->name, "sum") == 0
                   || g_ascii_strcasecmp (f->name, "min") == 0 || g_ascii_strcasecmp (f->name, "max") == 0
                   || g_ascii_strcasecmp (f->name, "avg") == 0))
            return NULL;
          e = f->args->pdata[0];
          if (e->kind == NC_EX_VAR && e->slot == slot && g_ascii_strcasecmp (f->name, "count") == 0)
            continue; /* count(p): the scan yields nodes, never null */
        }
      if (e->kind != NC_EX_PROP || e->a == NULL || e->a->kind != NC_EX_VAR || e->a->slot != slot
          || (name != NULL && strcmp (name, e->name) != 0))
        return NULL;
      name = e->name;
      count_only = FALSE;
    }
  if (a->keys->len > 1 || count_only)
    return NULL;
  return name;
}

static gboolean
fused_step (AggOp *a, Group *g, const NcValue *v, GError **error)
{
  for (guint i = 0; i < a->aggs->len; i++)
    {
      const NcExpr *e = a->aggs->pdata[i];
      gboolean whole = e->kind == NC_EX_COUNT_STAR
                       || ((const NcExpr *) e->args->pdata[0])->kind == NC_EX_VAR;
      if (!nc_aggregate_step (g->aggs[i], whole ? NULL : v, whole ? 0 : 1, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
build_fused (AggOp *a, int slot, const NcString *ks, GError **error)
{
  NcOp *op = &a->op;
  NcExecCtx *x = op->x;
  guint nk = a->keys->len;
  gint64 id;
  const NcValue *pv;
  while (nc_op_scan_next_raw (op->child, &id, &pv, error))
    {
      NcValue owned = nc_value_null ();
      if (pv == NULL)
        {
          if (ks != NULL)
            owned = nc_txn_prop_interned (x->txn, FALSE, id, ks, NULL);
          pv = &owned;
        }
      Group *g = NULL;
      if (nk == 0)
        g = a->groups->len ? a->groups->pdata[0] : NULL;
      else
        {
          Group probe = { 1, (NcValue *) pv, NULL, NULL };
          g = lookup_group (a, &probe);
        }
      gboolean ok = TRUE;
      if (g == NULL)
        {
          NcValue *keys = g_new0 (NcValue, 1);
          if (nk == 1)
            keys[0] = nc_value_copy (pv);
          if (!(ok = nc_exec_account (x, 64 + nc_value_estimate (&keys[0]), error)))
            {
              nc_value_clear (&keys[0]);
              g_free (keys);
            }
          else
            {
              /* the group's representative row: the child's row with this node */
              nc_row_set_entity (&op->child->row[slot], FALSE, id, -1, -1);
              g = group_new (a, keys, op->child->row, error);
              ok = g != NULL;
              if (ok)
                {
                  if (nk == 1)
                    insert_group (a, g);
                  g_ptr_array_add (a->groups, g);
                }
            }
        }
      if (ok)
        ok = fused_step (a, g, pv, error);
      nc_value_clear (&owned);
      if (!ok)
        return FALSE;
    }
  return error == NULL || *error == NULL;
}

static gboolean
counts_only (AggOp *a)
{
  for (guint i = 0; i < a->aggs->len; i++)
    if (((const NcExpr *) a->aggs->pdata[i])->kind != NC_EX_COUNT_STAR)
      return FALSE;
  return a->aggs->len > 0;
}

static gboolean
build (AggOp *a, GError **error)
{
  NcOp *op = &a->op;
  NcExecCtx *x = op->x;
  guint nk = a->keys->len;
  if (nk == 0 && counts_only (a))
    {
      /* `MATCH (a)-[r]->(b) WHERE ... RETURN count(*)`: the expand counts
       * what it would yield per input row, without binding a row for each
       * (and the Filters its cursor covers are not run: their conjunct is
       * what the cursor checked) */
      NcOp *filters[4];
      guint nf = 0;
      NcOp *c = op->child;
      while (nf < G_N_ELEMENTS (filters) && nc_op_filter_covered_by (c) != NULL)
        {
          filters[nf++] = c;
          c = c->child;
        }
      gboolean covered = TRUE;
      for (guint i = 0; i < nf; i++)
        covered = covered && nc_op_filter_covered_by (filters[i]) == c;
      if (covered && nc_op_expand_countable (c, nf > 0))
        {
          gint64 total = 0, n;
          while (nc_op_expand_count_next (c, &n, error))
            {
              total += n;
              for (guint i = 0; i < nf; i++)
                filters[i]->rows += n;
            }
          if (error && *error)
            return FALSE;
          if (total > 0)
            {
              Group *g = group_new (a, g_new0 (NcValue, 1), c->row, error);
              if (g == NULL)
                return FALSE;
              for (guint i = 0; i < a->aggs->len; i++)
                nc_aggregate_add_rows (g->aggs[i], total);
              g_ptr_array_add (a->groups, g);
            }
          goto groups_done;
        }
    }
  int slot = nc_op_scan_fusable_slot (op->child);
  const char *name = slot >= 0 ? fusable_key (a, slot) : NULL;
  if (name != NULL)
    {
      /* the scan fetches this key, unless the statement fetches another */
      const NcString *ks = nc_exec_key_string (x, name);
      if (x->fetch_key == NULL && ks != NULL)
        {
          x->fetch_key = ks;
          x->fetch_tok = nc_store_token (x->store, NC_TOKEN_PROP_KEY, name, FALSE);
        }
      if (ks == NULL || x->fetch_key == ks)
        {
          if (!build_fused (a, slot, ks, error))
            return FALSE;
          goto groups_done;
        }
    }
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      /* keys and arguments are evaluated on the child's row, which stays
       * valid until the next call to the child: a copy per row only moved
       * reference counts back and forth */
      NcValue *row = op->child->row;
      /* keys are evaluated into a reusable buffer: most rows fall into an
       * existing group, and a heap block per row was a third of the cost
       * of `RETURN p.age, count(*)` */
      NcValue *keys = a->probe;
      for (guint i = 0; i < nk; i++)
        if (!nc_eval (x, g_array_index (a->keys, NcSlotExpr, i).expr, row, &keys[i], error))
          {
            for (guint k = 0; k < i; k++)
              nc_value_clear (&keys[k]);
            return FALSE;
          }
      Group probe = { nk, keys, NULL, NULL };
      /* no grouping key: one group, no hashing */
      Group *g = nk == 0 ? (a->groups->len ? a->groups->pdata[0] : NULL) : lookup_group (a, &probe);
      if (g == NULL)
        {
          keys = g_memdup2 (a->probe, sizeof (NcValue) * MAX (nk, 1));
          memset (a->probe, 0, sizeof (NcValue) * MAX (nk, 1));
          gsize bytes = 64;
          for (guint i = 0; i < nk; i++)
            bytes += nc_value_estimate (&keys[i]);
          if (!nc_exec_account (x, bytes, error))
            {
              for (guint k = 0; k < nk; k++)
                nc_value_clear (&keys[k]);
              g_free (keys);
              return FALSE;
            }
          g = group_new (a, keys, row, error);
          if (g == NULL)
            return FALSE;
          insert_group (a, g);
          g_ptr_array_add (a->groups, g);
        }
      else
        for (guint k = 0; k < nk; k++)
          nc_value_clear (&keys[k]);
      if (!step_group (a, g, row, error))
        return FALSE;
    }
  if (error && *error)
    return FALSE;
groups_done:
  if (nk == 0 && a->groups->len == 0)
    {
      g_autofree NcValue *empty = g_new0 (NcValue, MAX (x->width, 1));
      Group *g = group_new (a, g_new0 (NcValue, 1), empty, error);
      if (g == NULL)
        return FALSE;
      g_ptr_array_add (a->groups, g);
    }
  return TRUE;
}

static gboolean
agg_next (NcOp *op, GError **error)
{
  AggOp *a = (AggOp *) op;
  if (!a->built)
    {
      a->built = TRUE;
      if (!build (a, error))
        return FALSE;
    }
  if (a->emit >= a->groups->len)
    return FALSE;
  Group *g = a->groups->pdata[a->emit++];
  nc_row_copy (op->row, g->first_row, op->x->width);
  for (guint i = 0; i < a->keys->len; i++)
    {
      NcSlotExpr *k = &g_array_index (a->keys, NcSlotExpr, i);
      nc_value_clear (&op->row[k->slot]);
      op->row[k->slot] = nc_value_copy (&g->keys[i]);
    }
  for (guint i = 0; i < a->aggs->len; i++)
    {
      NcExpr *e = a->aggs->pdata[i];
      NcValue v = nc_value_null ();
      if (!nc_aggregate_finish (g->aggs[i], &v, error))
        return FALSE;
      nc_value_clear (&op->row[e->slot]);
      op->row[e->slot] = v;
    }
  return TRUE;
}

static void
agg_reset (NcOp *op)
{
  AggOp *a = (AggOp *) op;
  g_hash_table_remove_all (a->index);
  for (guint i = 0; i < a->groups->len; i++)
    group_free (a, a->groups->pdata[i]);
  g_ptr_array_set_size (a->groups, 0);
  a->built = FALSE;
  a->emit = 0;
  g_clear_pointer (&a->int_slots, g_free);
  a->int_cap = a->int_used = 0;
  a->int_only = a->keys->len == 1;
}

static void
agg_free (NcOp *op)
{
  AggOp *a = (AggOp *) op;
  agg_reset (op);
  g_hash_table_unref (a->index);
  g_ptr_array_unref (a->groups);
  g_free (a->int_slots);
  g_free (a->probe);
  g_array_unref (a->keys);
  g_ptr_array_unref (a->aggs);
}

static const NcOpClass agg_class = { "EagerAggregation", agg_next, agg_reset, agg_free };

NcOp *
nc_op_aggregate_new (NcExecCtx *x, NcOp *child, GArray *keys, GPtrArray *aggs)
{
  AggOp *a = nc_op_alloc (sizeof (AggOp), &agg_class, x, child);
  a->keys = g_array_ref (keys);
  a->aggs = g_ptr_array_ref (aggs);
  a->index = g_hash_table_new (group_hash, group_equal);
  a->groups = g_ptr_array_new ();
  a->probe = g_new0 (NcValue, MAX (keys->len, 1));
  a->int_only = keys->len == 1;
  GString *d = g_string_new (NULL);
  for (guint i = 0; i < keys->len; i++)
    {
      NcSlotExpr *k = &g_array_index (keys, NcSlotExpr, i);
      if (d->len)
        g_string_append (d, ", ");
      nc_expr_unparse (k->expr, d);
      nc_op_add_ident (&a->op, k->slot);
    }
  for (guint i = 0; i < aggs->len; i++)
    {
      if (d->len)
        g_string_append (d, ", ");
      nc_expr_unparse (aggs->pdata[i], d);
    }
  a->op.details = g_string_free (d, FALSE);
  return &a->op;
}
