#define G_LOG_DOMAIN "nornicdb-cypher"

/* The planner turns the analysed AST into an operator tree, per execution
 * (index choice depends on the schema and counts at that moment; the parse
 * and analysis are what the plan cache keeps).
 *
 * MATCH: each pattern part starts at its most selective node (already bound
 * > index seek from the property map or WHERE > label with the fewest nodes
 * > all nodes) and expands outwards in both directions. */

#include "engine.h"

#include <string.h>

typedef struct {
  NcExecCtx *x;
  GHashTable *bound;       /* slots bound so far in this pattern (GINT_TO_POINTER(slot + 1)) */
  GArray *outer;           /* slots bound before the clause (may be NULL) */
  GPtrArray *conjuncts;    /* WHERE split on AND (borrowed) */
  GHashTable *applied;     /* conjuncts already planned as an early filter */
} MatchCtx;

#define SLOT_KEY(s) GINT_TO_POINTER ((s) + 1)

static NcOp *plan_clauses (NcExecCtx *x, GPtrArray *clauses, NcOp *op, GError **error);

static void
split_and (NcExpr *e, GPtrArray *out)
{
  if (e == NULL)
    return;
  if (e->kind == NC_EX_AND)
    {
      split_and (e->a, out);
      split_and (e->b, out);
      return;
    }
  g_ptr_array_add (out, e);
}

static gboolean
slot_is_outer (MatchCtx *m, int slot)
{
  for (guint i = 0; m->outer && i < m->outer->len; i++)
    if (g_array_index (m->outer, int, i) == slot)
      return TRUE;
  return FALSE;
}

/* An expression that can be evaluated before the pattern is matched. */
static gboolean
independent (MatchCtx *m, const NcExpr *e)
{
  if (e == NULL)
    return TRUE;
  switch (e->kind)
    {
    case NC_EX_LITERAL: case NC_EX_PARAM:
      return TRUE;
    case NC_EX_VAR:
      return slot_is_outer (m, e->slot);
    case NC_EX_PROP:
      return independent (m, e->a);
    case NC_EX_LIST:
      for (guint i = 0; i < e->args->len; i++)
        if (!independent (m, e->args->pdata[i]))
          return FALSE;
      return TRUE;
    case NC_EX_NEG: case NC_EX_POS:
      return independent (m, e->a);
    /* `UNWIND $rows AS r MATCH (a:Person {id: r[0]})` and `{id: r.id + 1}`
     * must be index seeks: a label scan per row is quadratic in a load. */
    case NC_EX_INDEX: case NC_EX_SLICE: case NC_EX_ARITH:
      return independent (m, e->a) && independent (m, e->b) && independent (m, e->c);
    case NC_EX_MAP:
      for (guint i = 0; i < e->args->len; i++)
        if (!independent (m, e->args->pdata[i]))
          return FALSE;
      return TRUE;
    case NC_EX_FUNC:
      if (e->is_agg || e->fn == NULL)
        return FALSE;
      for (guint i = 0; i < e->args->len; i++)
        if (!independent (m, e->args->pdata[i]))
          return FALSE;
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
is_prop_of (const NcExpr *e, int slot, const char **key)
{
  if (e->kind == NC_EX_PROP && e->a->kind == NC_EX_VAR && e->a->slot == slot)
    {
      *key = e->name;
      return TRUE;
    }
  return FALSE;
}

/* Finds an index access for `node` with label `label`. Returns TRUE and
 * fills spec when an index covers a usable predicate. */
static gboolean
find_seek (MatchCtx *m, NcNodePat *node, NcToken label, NcScanSpec *spec)
{
  NcExecCtx *x = m->x;
  /* property map equality first */
  if (node->props && node->props->kind == NC_EX_MAP)
    for (guint i = 0; i < node->props->args->len; i++)
      {
        NcToken key = nc_store_token (x->store, NC_TOKEN_PROP_KEY, node->props->keys->pdata[i], FALSE);
        NcExpr *v = node->props->args->pdata[i];
        if (key != NC_TOKEN_NONE && nc_store_has_index (x->store, label, key) && independent (m, v))
          {
            spec->key = key;
            spec->eq = v;
            return TRUE;
          }
      }
  for (guint c = 0; m->conjuncts && c < m->conjuncts->len; c++)
    {
      NcExpr *e = m->conjuncts->pdata[c];
      const char *kname = NULL;
      if (e->kind == NC_EX_IN && is_prop_of (e->a, node->slot, &kname) && independent (m, e->b))
        {
          NcToken key = nc_store_token (x->store, NC_TOKEN_PROP_KEY, kname, FALSE);
          if (key != NC_TOKEN_NONE && nc_store_has_index (x->store, label, key))
            {
              spec->key = key;
              spec->in_list = e->b;
              return TRUE;
            }
        }
      if (e->kind != NC_EX_CMP || e->args->len != 2)
        continue;
      int op = g_array_index (e->ops, int, 0);
      NcExpr *l = e->args->pdata[0], *r = e->args->pdata[1];
      NcExpr *val = NULL;
      gboolean flipped = FALSE;
      if (is_prop_of (l, node->slot, &kname) && independent (m, r))
        val = r;
      else if (is_prop_of (r, node->slot, &kname) && independent (m, l))
        val = l, flipped = TRUE;
      if (val == NULL || op == NC_CMP_NE)
        continue;
      NcToken key = nc_store_token (x->store, NC_TOKEN_PROP_KEY, kname, FALSE);
      if (key == NC_TOKEN_NONE || !nc_store_has_index (x->store, label, key))
        continue;
      spec->key = key;
      if (op == NC_CMP_EQ)
        {
          spec->eq = val;
          return TRUE;
        }
      /* normalise to `n.key OP val` */
      if (flipped)
        op = op == NC_CMP_LT ? NC_CMP_GT : op == NC_CMP_GT ? NC_CMP_LT : op == NC_CMP_LE ? NC_CMP_GE : NC_CMP_LE;
      if (op == NC_CMP_GT || op == NC_CMP_GE)
        {
          spec->lower = val;
          spec->lower_incl = op == NC_CMP_GE;
        }
      else
        {
          spec->upper = val;
          spec->upper_incl = op == NC_CMP_LE;
        }
      /* a second bound on the same key makes a closed range */
      for (guint c2 = c + 1; c2 < m->conjuncts->len; c2++)
        {
          NcExpr *e2 = m->conjuncts->pdata[c2];
          if (e2->kind != NC_EX_CMP || e2->args->len != 2)
            continue;
          int op2 = g_array_index (e2->ops, int, 0);
          const char *k2 = NULL;
          NcExpr *l2 = e2->args->pdata[0], *r2 = e2->args->pdata[1], *v2 = NULL;
          gboolean f2 = FALSE;
          if (is_prop_of (l2, node->slot, &k2) && independent (m, r2))
            v2 = r2;
          else if (is_prop_of (r2, node->slot, &k2) && independent (m, l2))
            v2 = l2, f2 = TRUE;
          if (v2 == NULL || strcmp (k2, kname) != 0)
            continue;
          if (f2)
            op2 = op2 == NC_CMP_LT ? NC_CMP_GT : op2 == NC_CMP_GT ? NC_CMP_LT : op2 == NC_CMP_LE ? NC_CMP_GE : op2 == NC_CMP_GE ? NC_CMP_LE : op2;
          if ((op2 == NC_CMP_GT || op2 == NC_CMP_GE) && spec->lower == NULL)
            {
              spec->lower = v2;
              spec->lower_incl = op2 == NC_CMP_GE;
            }
          else if ((op2 == NC_CMP_LT || op2 == NC_CMP_LE) && spec->upper == NULL)
            {
              spec->upper = v2;
              spec->upper_incl = op2 == NC_CMP_LE;
            }
        }
      return TRUE;
    }
  return FALSE;
}

typedef struct {
  int idx;
  int score;       /* lower is better */
  gint64 count;
  NcScanSpec spec;
} StartChoice;

static StartChoice
choose_start (MatchCtx *m, NcPatternPart *part)
{
  NcExecCtx *x = m->x;
  StartChoice best = { -1, G_MAXINT, G_MAXINT64, { NC_TOKEN_NONE, NC_TOKEN_NONE } };
  for (guint i = 0; i < part->nodes->len; i++)
    {
      NcNodePat *n = part->nodes->pdata[i];
      StartChoice c = { (int) i, 4, G_MAXINT64, { NC_TOKEN_NONE, NC_TOKEN_NONE } };
      if (n->prebound || g_hash_table_contains (m->bound, SLOT_KEY (n->slot)))
        {
          c.score = 0;
          c.count = 1;
        }
      else
        {
          for (guint l = 0; l < n->labels->len; l++)
            {
              NcToken t = nc_store_token (x->store, NC_TOKEN_LABEL, n->labels->pdata[l], FALSE);
              gint64 cnt = t == NC_TOKEN_NONE ? 0 : nc_txn_count_nodes (x->txn, t);
              NcScanSpec sp = { t, NC_TOKEN_NONE };
              if (t != NC_TOKEN_NONE && find_seek (m, n, t, &sp))
                {
                  if (c.score > 1 || (c.score == 1 && cnt < c.count))
                    {
                      c.score = 1;
                      c.count = cnt;
                      c.spec = sp;
                    }
                }
              else if (c.score > 2 || (c.score == 2 && cnt < c.count))
                {
                  c.score = 2;
                  c.count = cnt;
                  c.spec = sp;
                }
            }
          if (c.score == 4)
            c.count = nc_txn_count_nodes (x->txn, NC_TOKEN_NONE);
        }
      if (c.score < best.score || (c.score == best.score && c.count < best.count))
        best = c;
    }
  return best;
}

static void
bind_slot (MatchCtx *m, int slot)
{
  g_hash_table_add (m->bound, SLOT_KEY (slot));
}

static gboolean
is_bound (MatchCtx *m, int slot)
{
  return g_hash_table_contains (m->bound, SLOT_KEY (slot));
}

/* A WHERE conjunct that only reads slots bound so far, through plain
 * expressions (no subqueries or comprehensions, which bind slots of their
 * own). */
static gboolean
pushable (MatchCtx *m, const NcExpr *e)
{
  if (e == NULL)
    return TRUE;
  switch (e->kind)
    {
    case NC_EX_LITERAL: case NC_EX_PARAM:
      return TRUE;
    case NC_EX_VAR:
      return is_bound (m, e->slot);
    case NC_EX_PROP: case NC_EX_NEG: case NC_EX_POS: case NC_EX_NOT:
    case NC_EX_IS_NULL: case NC_EX_IS_NOT_NULL: case NC_EX_HAS_LABELS:
      return pushable (m, e->a);
    case NC_EX_INDEX: case NC_EX_SLICE: case NC_EX_ARITH: case NC_EX_AND: case NC_EX_OR:
    case NC_EX_XOR: case NC_EX_IN: case NC_EX_STARTS: case NC_EX_ENDS: case NC_EX_CONTAINS:
    case NC_EX_REGEX:
      return pushable (m, e->a) && pushable (m, e->b) && pushable (m, e->c);
    case NC_EX_CMP: case NC_EX_LIST:
      for (guint i = 0; i < e->args->len; i++)
        if (!pushable (m, e->args->pdata[i]))
          return FALSE;
      return TRUE;
    default:
      return FALSE;
    }
}

/* Filters each WHERE conjunct as soon as the slots it reads are bound, so
 * that `MATCH (a)-->(b) WHERE a.age < 30` drops rows before expanding them
 * rather than after the whole pattern. */
static NcOp *
push_filters (MatchCtx *m, NcOp *op, const NcExpr *covered, gboolean scan)
{
  NcOp *cover = op;
  for (guint c = 0; m->conjuncts && c < m->conjuncts->len; c++)
    {
      NcExpr *e = m->conjuncts->pdata[c];
      if (!g_hash_table_contains (m->applied, e) && pushable (m, e))
        {
          op = nc_op_filter_new (m->x, op, e);
          if (e == covered)
            nc_op_filter_cover (op, cover, scan ? nc_op_scan_range_exact : nc_op_expand_range_exact);
          g_hash_table_add (m->applied, e);
        }
    }
  return op;
}

/* Hands the first `n.key < val` style conjunct on the node `slot` just
 * bound by `op` (a label scan or an expand) to the operator's store cursor,
 * which then drops non-matching nodes while it has their property maps at
 * hand (the filtered edge scan `WHERE a.age < 30 AND b.age > 60`). The
 * conjunct still becomes a Filter, which skips the evaluation while the
 * cursor checks it exactly (nc_op_filter_cover). Returns the conjunct the
 * operator took, or NULL. */
static const NcExpr *
push_range (MatchCtx *m, NcOp *op, int slot, gboolean scan)
{
  for (guint c = 0; m->conjuncts && c < m->conjuncts->len; c++)
    {
      NcExpr *e = m->conjuncts->pdata[c];
      if (g_hash_table_contains (m->applied, e) || e->kind != NC_EX_CMP || e->args->len != 2)
        continue;
      int op_ = g_array_index (e->ops, int, 0);
      if (op_ != NC_CMP_LT && op_ != NC_CMP_LE && op_ != NC_CMP_GT && op_ != NC_CMP_GE)
        continue;
      NcExpr *l = e->args->pdata[0], *r = e->args->pdata[1], *val = NULL;
      const char *kname = NULL;
      if (is_prop_of (l, slot, &kname) && independent (m, r))
        val = r;
      else if (is_prop_of (r, slot, &kname) && independent (m, l))
        {
          val = l;
          op_ = op_ == NC_CMP_LT ? NC_CMP_GT : op_ == NC_CMP_GT ? NC_CMP_LT : op_ == NC_CMP_LE ? NC_CMP_GE : NC_CMP_LE;
        }
      if (val == NULL)
        continue;
      NcToken key = nc_store_token (m->x->store, NC_TOKEN_PROP_KEY, kname, FALSE);
      if (key == NC_TOKEN_NONE)
        continue;
      gboolean took = scan ? nc_op_scan_push_range (op, key, val, op_) : nc_op_expand_push_range (op, key, val, op_);
      return took ? e : NULL;
    }
  return NULL;
}

static NcOp *
plan_node_start (MatchCtx *m, NcOp *op, NcNodePat *n, const NcScanSpec *spec)
{
  if (n->prebound || is_bound (m, n->slot))
    return nc_op_node_check_new (m->x, op, n);
  NcOp *s = nc_op_scan_new (m->x, op, n, spec);
  bind_slot (m, n->slot);
  const NcExpr *covered = push_range (m, s, n->slot, TRUE);
  return push_filters (m, s, covered, TRUE);
}

static NcOp *
plan_part (MatchCtx *m, NcOp *op, NcPatternPart *part)
{
  NcExecCtx *x = m->x;
  for (guint i = 0; i < part->rels->len; i++)
    {
      NcRelPat *r = part->rels->pdata[i];
      if (r->prebound)
        bind_slot (m, r->slot);
    }
  if (part->shortest)
    {
      NcNodePat *a = part->nodes->pdata[0], *b = part->nodes->pdata[1];
      NcScanSpec none = { NC_TOKEN_NONE, NC_TOKEN_NONE };
      for (int k = 0; k < 2; k++)
        {
          NcNodePat *n = k == 0 ? a : b;
          NcScanSpec sp = none;
          if (n->labels->len > 0)
            sp.label = nc_store_token (x->store, NC_TOKEN_LABEL, n->labels->pdata[0], FALSE);
          if (n->labels->len > 0 && sp.label == NC_TOKEN_NONE)
            sp.label = NC_TOKEN_NONE - 1; /* unknown label: scans nothing */
          op = plan_node_start (m, op, n, &sp);
        }
      op = nc_op_shortest_new (x, op, part, part->shortest == 2);
      bind_slot (m, ((NcRelPat *) part->rels->pdata[0])->slot);
      if (part->path_slot >= 0)
        bind_slot (m, part->path_slot);
      return op;
    }
  StartChoice start = choose_start (m, part);
  NcNodePat *sn = part->nodes->pdata[start.idx];
  NcScanSpec spec = start.spec;
  if (!(sn->prebound || is_bound (m, sn->slot)) && spec.label == NC_TOKEN_NONE && sn->labels->len > 0)
    spec.label = NC_TOKEN_NONE - 1; /* a label nobody has: nothing matches */
  op = plan_node_start (m, op, sn, &spec);
  for (guint i = start.idx; i + 1 < part->nodes->len; i++)
    {
      NcRelPat *r = part->rels->pdata[i];
      NcNodePat *to = part->nodes->pdata[i + 1], *from = part->nodes->pdata[i];
      gboolean to_bound = to->prebound || is_bound (m, to->slot);
      op = nc_op_expand_new (x, op, from->slot, r, to, FALSE, to_bound, is_bound (m, r->slot));
      bind_slot (m, r->slot);
      bind_slot (m, to->slot);
      const NcExpr *covered = to_bound ? NULL : push_range (m, op, to->slot, FALSE);
      op = push_filters (m, op, covered, FALSE);
    }
  for (int i = start.idx - 1; i >= 0; i--)
    {
      NcRelPat *r = part->rels->pdata[i];
      NcNodePat *to = part->nodes->pdata[i], *from = part->nodes->pdata[i + 1];
      gboolean to_bound = to->prebound || is_bound (m, to->slot);
      op = nc_op_expand_new (x, op, from->slot, r, to, TRUE, to_bound, is_bound (m, r->slot));
      bind_slot (m, r->slot);
      bind_slot (m, to->slot);
      const NcExpr *covered = to_bound ? NULL : push_range (m, op, to->slot, FALSE);
      op = push_filters (m, op, covered, FALSE);
    }
  if (part->path_slot >= 0)
    {
      op = nc_op_named_path_new (x, op, part);
      bind_slot (m, part->path_slot);
    }
  return op;
}

/* Plans a MATCH pattern (and WHERE) on top of `op`. */
static NcOp *
plan_match (NcExecCtx *x, NcOp *op, GPtrArray *pattern, NcExpr *where, GArray *outer)
{
  g_autoptr (GHashTable) bound = g_hash_table_new (NULL, NULL);
  g_autoptr (GPtrArray) conj = g_ptr_array_new ();
  g_autoptr (GHashTable) applied = g_hash_table_new (NULL, NULL);
  split_and (where, conj);
  MatchCtx m = { x, bound, outer, conj, applied };
  for (guint i = 0; outer && i < outer->len; i++)
    bind_slot (&m, g_array_index (outer, int, i));
  /* ordinary parts first, shortest paths once their ends are bound */
  for (int pass = 0; pass < 2; pass++)
    for (guint p = 0; p < pattern->len; p++)
      {
        NcPatternPart *part = pattern->pdata[p];
        if ((part->shortest != 0) == (pass == 1))
          op = plan_part (&m, op, part);
      }
  g_autoptr (GArray) rel_slots = g_array_new (FALSE, FALSE, sizeof (int));
  for (guint p = 0; p < pattern->len; p++)
    {
      NcPatternPart *part = pattern->pdata[p];
      if (part->shortest)
        continue;
      for (guint i = 0; i < part->rels->len; i++)
        {
          NcRelPat *r = part->rels->pdata[i];
          gboolean dup = FALSE;
          for (guint k = 0; k < rel_slots->len; k++)
            dup |= g_array_index (rel_slots, int, k) == r->slot;
          if (!dup)
            g_array_append_val (rel_slots, r->slot);
        }
    }
  /* variable-length expansions are unique along their own path already */
  if (rel_slots->len > 1)
    op = nc_op_rel_unique_new (x, op, rel_slots);
  /* the rest, in their written order */
  for (guint c = 0; c < conj->len; c++)
    if (!g_hash_table_contains (applied, conj->pdata[c]))
      op = nc_op_filter_new (x, op, conj->pdata[c]);
  return op;
}

static void
pattern_new_slots (GPtrArray *pattern, GArray *out)
{
  for (guint p = 0; p < pattern->len; p++)
    {
      NcPatternPart *part = pattern->pdata[p];
      for (guint i = 0; i < part->nodes->len; i++)
        {
          NcNodePat *n = part->nodes->pdata[i];
          if (!n->prebound)
            g_array_append_val (out, n->slot);
        }
      for (guint i = 0; i < part->rels->len; i++)
        {
          NcRelPat *r = part->rels->pdata[i];
          if (!r->prebound)
            g_array_append_val (out, r->slot);
        }
      if (part->path_slot >= 0)
        g_array_append_val (out, part->path_slot);
    }
}

static NcOp *
plan_projection (NcExecCtx *x, NcOp *op, NcClause *c)
{
  g_autoptr (GArray) items = g_array_new (FALSE, FALSE, sizeof (NcSlotExpr));
  g_autoptr (GArray) slots = g_array_new (FALSE, FALSE, sizeof (int));
  gboolean agg = c->aggs && c->aggs->len > 0;
  g_autoptr (GArray) keys = g_array_new (FALSE, FALSE, sizeof (NcSlotExpr));
  for (guint i = 0; i < c->items->len; i++)
    {
      NcProjItem *it = c->items->pdata[i];
      NcSlotExpr se = { it->expr, it->slot };
      g_array_append_val (slots, it->slot);
      gboolean passthrough = it->expr->kind == NC_EX_VAR && it->expr->slot == it->slot;
      if (agg)
        {
          gboolean has = FALSE;
          for (guint k = 0; k < c->aggs->len && !has; k++)
            {
              /* does this item contain aggregate k? */
              NcExpr *ag = c->aggs->pdata[k];
              GPtrArray *stack = g_ptr_array_new ();
              g_ptr_array_add (stack, it->expr);
              while (stack->len && !has)
                {
                  NcExpr *e = g_ptr_array_steal_index (stack, stack->len - 1);
                  if (e == ag)
                    has = TRUE;
                  if (e->a) g_ptr_array_add (stack, e->a);
                  if (e->b) g_ptr_array_add (stack, e->b);
                  if (e->c) g_ptr_array_add (stack, e->c);
                  if (e->d) g_ptr_array_add (stack, e->d);
                  for (guint j = 0; e->args && j < e->args->len; j++)
                    if (e->args->pdata[j])
                      g_ptr_array_add (stack, e->args->pdata[j]);
                }
              g_ptr_array_unref (stack);
            }
          if (has)
            g_array_append_val (items, se);
          else
            g_array_append_val (keys, se);
        }
      else if (!passthrough)
        g_array_append_val (items, se);
    }
  if (agg)
    op = nc_op_aggregate_new (x, op, keys, c->aggs);
  if (items->len > 0)
    op = nc_op_project_new (x, op, items);
  if (c->distinct)
    op = nc_op_distinct_new (x, op, slots);
  if (c->order)
    op = nc_op_sort_new (x, op, c->order, c->limit);
  if (c->skip || c->limit)
    op = nc_op_limit_new (x, op, c->skip, c->limit);
  if (c->where)
    op = nc_op_filter_new (x, op, c->where);
  return op;
}

static NcOp *
plan_clause (NcExecCtx *x, NcOp *op, NcClause *c, GError **error)
{
  switch (c->kind)
    {
    case NC_CL_MATCH:
      if (c->optional)
        {
          NcOp *arg = nc_op_once_new (x);
          NcOp *inner = plan_match (x, arg, c->pattern, c->where, c->keep_slots);
          GArray *nulls = g_array_new (FALSE, FALSE, sizeof (int));
          pattern_new_slots (c->pattern, nulls);
          NcOp *a = nc_op_apply_new (x, op, inner, arg, TRUE, FALSE, nulls);
          g_array_unref (nulls);
          return a;
        }
      return plan_match (x, op, c->pattern, c->where, c->keep_slots);
    case NC_CL_UNWIND:
      return nc_op_unwind_new (x, op, c->expr, c->slot);
    case NC_CL_WITH:
    case NC_CL_RETURN:
      return plan_projection (x, op, c);
    case NC_CL_CREATE:
      return nc_op_create_new (x, op, c->pattern);
    case NC_CL_MERGE:
      {
        NcOp *arg = nc_op_once_new (x);
        NcOp *inner = plan_match (x, arg, c->pattern, NULL, c->keep_slots);
        return nc_op_merge_new (x, op, c->pattern->pdata[0], inner, arg, c->set_items, c->on_match);
      }
    case NC_CL_SET:
    case NC_CL_REMOVE:
      return nc_op_set_new (x, op, c->set_items);
    case NC_CL_DELETE:
      return nc_op_delete_new (x, op, c->exprs, c->detach);
    case NC_CL_FOREACH:
      {
        NcOp *arg = nc_op_once_new (x);
        NcOp *body = plan_clauses (x, c->body, arg, error);
        if (body == NULL)
          {
            nc_op_free (arg);
            return NULL;
          }
        return nc_op_foreach_new (x, op, c->expr, c->slot, body, arg);
      }
    case NC_CL_CALL:
      return nc_op_procedure_new (x, op, c);
    case NC_CL_SUBQUERY:
      {
        NcOp *arg = nc_op_once_new (x);
        NcOp *inner = nc_plan_query (x, c->sub, arg, TRUE, error);
        if (inner == NULL)
          return NULL;
        return nc_op_apply_new (x, op, inner, arg, FALSE, c->sub->columns == NULL,
                                c->sub->columns ? c->sub->col_slots->pdata[0] : NULL);
      }
    }
  g_set_error (error, NC_ERROR, NC_ERROR_NOT_SUPPORTED, "Clause not supported");
  return NULL;
}

/* MATCH (n[:L]) RETURN count(n) / count(*), nothing else: the store keeps
 * the counts. */
static NcOp *
try_count_store (NcExecCtx *x, GPtrArray *clauses, NcOp *op)
{
  if (clauses->len != 2)
    return NULL;
  NcClause *m = clauses->pdata[0], *r = clauses->pdata[1];
  if (m->kind != NC_CL_MATCH || m->optional || m->where || m->pattern->len != 1 || r->kind != NC_CL_RETURN
      || r->distinct || r->order || r->skip || r->limit || r->items->len != 1 || r->aggs == NULL || r->aggs->len != 1)
    return NULL;
  NcPatternPart *part = m->pattern->pdata[0];
  if (part->nodes->len != 1 || part->path_var || part->shortest)
    return NULL;
  NcNodePat *n = part->nodes->pdata[0];
  if (n->prebound || n->props || n->labels->len > 1)
    return NULL;
  NcExpr *agg = r->aggs->pdata[0];
  NcProjItem *it = r->items->pdata[0];
  if (it->expr != agg || agg->distinct)
    return NULL;
  if (!(agg->kind == NC_EX_COUNT_STAR || (agg->kind == NC_EX_FUNC && g_ascii_strcasecmp (agg->name, "count") == 0
                                          && agg->args->len == 1 && ((NcExpr *) agg->args->pdata[0])->kind == NC_EX_VAR
                                          && ((NcExpr *) agg->args->pdata[0])->slot == n->slot)))
    return NULL;
  NcOp *c = nc_op_count_store_new (x, op, agg->slot, n->labels->len ? n->labels->pdata[0] : NULL);
  GArray *items = g_array_new (FALSE, FALSE, sizeof (NcSlotExpr));
  NcSlotExpr se = { it->expr, it->slot };
  g_array_append_val (items, se);
  NcOp *p = nc_op_project_new (x, c, items);
  g_array_unref (items);
  return p;
}

static NcOp *
plan_clauses (NcExecCtx *x, GPtrArray *clauses, NcOp *op, GError **error)
{
  NcOp *fast = try_count_store (x, clauses, op);
  if (fast)
    return fast;
  for (guint i = 0; i < clauses->len; i++)
    {
      NcOp *next = plan_clause (x, op, clauses->pdata[i], error);
      if (next == NULL)
        {
          nc_op_free (op);
          return NULL;
        }
      op = next;
    }
  return op;
}

NcOp *
nc_plan_query (NcExecCtx *x, NcQueryAst *q, NcOp *leaf, gboolean unit_ok, GError **error)
{
  if (q->parts->len == 1)
    return plan_clauses (x, ((NcSingleQuery *) q->parts->pdata[0])->clauses, leaf, error);
  g_autoptr (GPtrArray) branches = g_ptr_array_new ();
  for (guint p = 0; p < q->parts->len; p++)
    {
      NcOp *bleaf = nc_op_once_new_linked (x, leaf);
      NcOp *b = plan_clauses (x, ((NcSingleQuery *) q->parts->pdata[p])->clauses, bleaf, error);
      if (b == NULL)
        {
          for (guint i = 0; i < branches->len; i++)
            nc_op_free (branches->pdata[i]);
          nc_op_free (leaf);
          return NULL;
        }
      g_ptr_array_add (branches, b);
    }
  gboolean distinct = !g_array_index (q->union_all, gboolean, 0);
  NcOp *u = nc_op_union_new (x, branches, q->col_slots, q->col_slots->pdata[0], distinct);
  /* the shared leaf is owned by the union op (freed with it) */
  u->child = leaf;
  return u;
}

typedef struct {
  NcOp *root;
  NcOp *arg;
} SubPlan;

static void
subplan_free (gpointer p)
{
  SubPlan *s = p;
  nc_op_free (s->root);
  g_free (s);
}

NcOp *
nc_plan_expr_subplan (NcExecCtx *x, const NcExpr *e, NcOp **arg_out, GError **error)
{
  if (x->subplans == NULL)
    x->subplans = g_hash_table_new_full (NULL, NULL, NULL, subplan_free);
  SubPlan *s = g_hash_table_lookup (x->subplans, e);
  if (s == NULL)
    {
      NcOp *arg = nc_op_once_new (x);
      NcOp *root;
      if (e->kind == NC_EX_PATTERN || e->kind == NC_EX_PATTERN_COMP)
        {
          g_autoptr (GPtrArray) pat = g_ptr_array_new ();
          g_ptr_array_add (pat, e->part);
          root = plan_match (x, arg, pat, e->kind == NC_EX_PATTERN_COMP ? e->b : NULL, NULL);
        }
      else
        {
          root = nc_plan_query (x, e->sub, arg, TRUE, error);
          if (root == NULL)
            return NULL;
        }
      s = g_new0 (SubPlan, 1);
      s->root = root;
      s->arg = arg;
      g_hash_table_insert (x->subplans, (gpointer) e, s);
    }
  *arg_out = s->arg;
  return s->root;
}

/* ---- plan descriptions ------------------------------------------------- */

static NcValue
describe (NcExecCtx *x, NcOp *op, gboolean profile)
{
  GPtrArray *children = g_ptr_array_new ();
  if (op->branches)
    for (guint i = 0; i < op->branches->len; i++)
      g_ptr_array_add (children, op->branches->pdata[i]);
  else
    {
      if (op->child)
        g_ptr_array_add (children, op->child);
      if (op->inner)
        g_ptr_array_add (children, op->inner);
    }
  NcList *kids = nc_list_new (children->len);
  for (guint i = 0; i < children->len; i++)
    kids->items[i] = describe (x, children->pdata[i], profile);
  g_ptr_array_unref (children);
  /* identifiers: every named variable bound at this point */
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();
  for (guint i = 0; i < op->idents->len; i++)
    {
      const char *n = x->stmt->slot_names->pdata[g_array_index (op->idents, int, i)];
      if (n && *n && *n != ' ')
        g_ptr_array_add (ids, (gpointer) n);
    }
  NcList *idl = nc_list_new (ids->len);
  for (guint i = 0; i < ids->len; i++)
    idl->items[i] = nc_value_string (ids->pdata[i]);
  NcMap *args = nc_map_new (2);
  nc_map_append (args, "details", nc_value_string (op->details ? op->details : ""));
  nc_map_append (args, "planner", nc_value_string ("COST"));
  NcMap *m = nc_map_new (6);
  nc_map_append (m, "operatorType", nc_value_string (op->klass->name));
  nc_map_append (m, "identifiers", nc_value_list_take (idl));
  nc_map_append (m, "arguments", nc_value_map_take (args));
  nc_map_append (m, "children", nc_value_list_take (kids));
  if (profile)
    {
      nc_map_append (m, "rows", nc_value_int (op->rows));
      nc_map_append (m, "dbHits", nc_value_int (op->db_hits + op->rows));
    }
  return nc_value_map_take (m);
}

NcValue
nc_plan_describe (NcExecCtx *x, NcOp *root, gboolean profile)
{
  NcValue child = root ? describe (x, root, profile) : nc_value_null ();
  NcList *kids = nc_list_new (root ? 1 : 0);
  if (root)
    kids->items[0] = child;
  NcMap *args = nc_map_new (4);
  nc_map_append (args, "planner", nc_value_string ("COST"));
  nc_map_append (args, "runtime", nc_value_string ("PIPELINED"));
  nc_map_append (args, "version", nc_value_string ("CYPHER 5"));
  NcMap *m = nc_map_new (6);
  nc_map_append (m, "operatorType", nc_value_string ("ProduceResults"));
  nc_map_append (m, "identifiers", nc_value_list_take (nc_list_new (0)));
  nc_map_append (m, "arguments", nc_value_map_take (args));
  nc_map_append (m, "children", nc_value_list_take (kids));
  if (profile)
    {
      nc_map_append (m, "rows", nc_value_int (root ? root->rows : 0));
      nc_map_append (m, "dbHits", nc_value_int (0));
    }
  return nc_value_map_take (m);
}
