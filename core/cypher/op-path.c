#define G_LOG_DOMAIN "nornicdb-cypher"

/* Path-related operators: NamedPath binds `p = (...)`, RelationshipUnique
 * enforces that a MATCH never binds one relationship twice, and
 * ShortestPath runs a breadth-first search between two bound nodes. */

#include "engine.h"

#include <string.h>

/* ---- NamedPath ---------------------------------------------------------- */

typedef struct {
  NcOp op;
  NcPatternPart *part;
} PathOp;

static gboolean
path_next (NcOp *op, GError **error)
{
  PathOp *p = (PathOp *) op;
  if (!nc_op_next (op->child, error))
    return FALSE;
  nc_row_copy (op->row, op->child->row, op->x->width);
  guint n = p->part->nodes->len;
  g_autofree NcValue *nodes = g_new0 (NcValue, n);
  g_autofree NcValue *rels = g_new0 (NcValue, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    nodes[i] = op->row[((NcNodePat *) p->part->nodes->pdata[i])->slot];
  for (guint i = 0; i + 1 < n; i++)
    rels[i] = op->row[((NcRelPat *) p->part->rels->pdata[i])->slot];
  NcValue path = nc_build_path (op->x, nodes, rels, n);
  nc_value_clear (&op->row[p->part->path_slot]);
  op->row[p->part->path_slot] = path;
  return TRUE;
}

static const NcOpClass path_class = { "NamedPath", path_next, NULL, NULL };

NcOp *
nc_op_named_path_new (NcExecCtx *x, NcOp *child, NcPatternPart *part)
{
  PathOp *p = nc_op_alloc (sizeof (PathOp), &path_class, x, child);
  p->part = part;
  nc_op_add_ident (&p->op, part->path_slot);
  p->op.details = g_strdup (part->path_var);
  return &p->op;
}

/* ---- RelationshipUnique -------------------------------------------------- */

typedef struct {
  NcOp op;
  GArray *slots;
} UniqueOp;

static void
collect_ids (const NcValue *v, GArray *ids)
{
  if (v->type == NC_VALUE_REL)
    g_array_append_val (ids, v->u.entity->id);
  else if (v->type == NC_VALUE_LIST)
    for (guint32 i = 0; i < v->u.list->len; i++)
      collect_ids (&v->u.list->items[i], ids);
}

static int
cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static gboolean
unique_next (NcOp *op, GError **error)
{
  UniqueOp *u = (UniqueOp *) op;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (op->x, error))
        return FALSE;
      g_array_set_size (ids, 0);
      for (guint i = 0; i < u->slots->len; i++)
        collect_ids (&op->child->row[g_array_index (u->slots, int, i)], ids);
      g_array_sort (ids, cmp_i64);
      gboolean dup = FALSE;
      for (guint i = 1; i < ids->len && !dup; i++)
        dup = g_array_index (ids, gint64, i) == g_array_index (ids, gint64, i - 1);
      if (dup)
        continue;
      nc_row_copy (op->row, op->child->row, op->x->width);
      return TRUE;
    }
  return FALSE;
}

static void
unique_free (NcOp *op)
{
  g_array_unref (((UniqueOp *) op)->slots);
}

static const NcOpClass unique_class = { "RelationshipUniqueness", unique_next, NULL, unique_free };

NcOp *
nc_op_rel_unique_new (NcExecCtx *x, NcOp *child, GArray *rel_slots)
{
  UniqueOp *u = nc_op_alloc (sizeof (UniqueOp), &unique_class, x, child);
  u->slots = g_array_ref (rel_slots);
  return &u->op;
}

/* ---- ShortestPath ---------------------------------------------------------- */

typedef struct {
  gint64 node;
  gint64 rel;     /* relationship used to reach `node` (-1 at the start) */
  gint64 start, end;
  int parent;     /* index of the previous entry, -1 at the start */
  int depth;
} Visit;

typedef struct {
  NcOp op;
  NcPatternPart *part;
  gboolean all;
  GPtrArray *results;  /* NcValue* (path) pending for this input row */
  guint emit;
  gboolean have_input;
  GArray *types;
} ShortestOp;

static gboolean
path_has_rel (GArray *visits, int idx, gint64 rel)
{
  for (; idx >= 0; idx = g_array_index (visits, Visit, idx).parent)
    if (g_array_index (visits, Visit, idx).rel == rel)
      return TRUE;
  return FALSE;
}

static NcValue *
make_path (GArray *visits, int idx)
{
  int depth = g_array_index (visits, Visit, idx).depth;
  NcPath *p = nc_path_new (depth + 1);
  for (int k = depth; idx >= 0; k--)
    {
      Visit *v = &g_array_index (visits, Visit, idx);
      p->nodes[k] = nc_value_node_ref (v->node);
      if (k > 0)
        p->rels[k - 1] = nc_value_rel_ref (v->rel, v->start, v->end);
      idx = v->parent;
    }
  NcValue *out = g_new0 (NcValue, 1);
  *out = nc_value_path_take (p);
  return out;
}

static gboolean
search (ShortestOp *s, gint64 from, gint64 to, GError **error)
{
  NcExecCtx *x = s->op.x;
  NcRelPat *r = s->part->rels->pdata[0];
  gint64 max = r->varlen ? r->max : 1;
  gint64 min = r->varlen ? r->min : 1;
  if (from == to && min == 0)
    {
      g_autoptr (GArray) v0 = g_array_new (FALSE, FALSE, sizeof (Visit));
      Visit start = { from, -1, -1, -1, -1, 0 };
      g_array_append_val (v0, start);
      g_ptr_array_add (s->results, make_path (v0, 0));
      return TRUE;
    }
  /* BFS over (node, path) states; a node is expanded at most once per
   * depth level for shortestPath, and at the first depth it was reached
   * for allShortestPaths, which keeps every parent at that depth. */
  g_autoptr (GArray) visits = g_array_new (FALSE, FALSE, sizeof (Visit));
  g_autoptr (GHashTable) depth_of = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  Visit start = { from, -1, -1, -1, -1, 0 };
  g_array_append_val (visits, start);
  gint64 *k0 = g_new (gint64, 1);
  *k0 = from;
  g_hash_table_insert (depth_of, k0, GINT_TO_POINTER (1));
  guint level_start = 0;
  int found_depth = -1;
  for (int depth = 0; max < 0 || depth < max; depth++)
    {
      guint level_end = visits->len;
      if (level_start == level_end)
        break;
      for (guint i = level_start; i < level_end; i++)
        {
          if (!nc_exec_tick (x, error))
            return FALSE;
          gint64 node = g_array_index (visits, Visit, i).node;
          g_autoptr (NcCursor) cur = nc_txn_expand (x->txn, node, r->dir, (const NcToken *) s->types->data, s->types->len);
          gint64 rid;
          while (nc_cursor_next (cur, &rid))
            {
              gint64 other = nc_cursor_rel_other (cur);
              if (path_has_rel (visits, i, rid))
                continue;
              gboolean ok;
              if (!nc_rel_matches (x, r, rid, s->op.row, &ok, error))
                return FALSE;
              if (!ok)
                continue;
              gpointer seen = g_hash_table_lookup (depth_of, &other);
              int seen_depth = GPOINTER_TO_INT (seen) - 1;
              if (seen && (!s->all || seen_depth < depth + 1) && other != to)
                continue;
              if (seen && other == to && !s->all && found_depth >= 0)
                continue;
              NcToken t;
              NcNodeId rs = node, re = other;
              nc_txn_rel_info (x->txn, rid, &t, &rs, &re);
              Visit v = { other, rid, rs, re, (int) i, depth + 1 };
              g_array_append_val (visits, v);
              if (!seen)
                {
                  gint64 *k = g_new (gint64, 1);
                  *k = other;
                  g_hash_table_insert (depth_of, k, GINT_TO_POINTER (depth + 2));
                }
              if (!nc_exec_account (x, sizeof (Visit), error))
                return FALSE;
              if (other == to && depth + 1 >= min)
                {
                  found_depth = depth + 1;
                  g_ptr_array_add (s->results, make_path (visits, visits->len - 1));
                  if (!s->all)
                    return TRUE;
                }
            }
        }
      if (found_depth >= 0)
        return TRUE;
      level_start = level_end;
    }
  return TRUE;
}

static void
clear_results (ShortestOp *s)
{
  for (guint i = 0; i < s->results->len; i++)
    {
      NcValue *v = s->results->pdata[i];
      if (v)
        {
          nc_value_clear (v);
          g_free (v);
        }
    }
  g_ptr_array_set_size (s->results, 0);
  s->emit = 0;
}

static gboolean
shortest_next (NcOp *op, GError **error)
{
  ShortestOp *s = (ShortestOp *) op;
  NcExecCtx *x = op->x;
  NcNodePat *a = s->part->nodes->pdata[0], *b = s->part->nodes->pdata[1];
  NcRelPat *r = s->part->rels->pdata[0];
  for (;;)
    {
      if (s->have_input && s->emit < s->results->len)
        {
          NcValue *p = s->results->pdata[s->emit];
          s->results->pdata[s->emit++] = NULL;
          nc_row_copy (op->row, op->child->row, x->width);
          const NcPath *path = p->u.path;
          NcList *l = nc_list_new (path->n_nodes - 1);
          for (guint32 i = 0; i + 1 < path->n_nodes; i++)
            l->items[i] = nc_value_copy (&path->rels[i]);
          nc_value_clear (&op->row[r->slot]);
          op->row[r->slot] = r->varlen ? nc_value_list_take (l) : (l->len ? nc_value_copy (&l->items[0]) : nc_value_null ());
          if (!r->varlen)
            nc_list_unref (l);
          if (s->part->path_slot >= 0)
            {
              nc_value_clear (&op->row[s->part->path_slot]);
              op->row[s->part->path_slot] = *p;
            }
          else
            nc_value_clear (p);
          g_free (p);
          return TRUE;
        }
      clear_results (s);
      s->have_input = FALSE;
      if (!nc_op_next (op->child, error))
        return FALSE;
      const NcValue *av = &op->child->row[a->slot], *bv = &op->child->row[b->slot];
      if (av->type != NC_VALUE_NODE || bv->type != NC_VALUE_NODE)
        continue;
      if (!search (s, av->u.entity->id, bv->u.entity->id, error))
        return FALSE;
      s->have_input = TRUE;
    }
}

static void
shortest_reset (NcOp *op)
{
  ShortestOp *s = (ShortestOp *) op;
  clear_results (s);
  s->have_input = FALSE;
}

static void
shortest_free (NcOp *op)
{
  ShortestOp *s = (ShortestOp *) op;
  clear_results (s);
  g_ptr_array_unref (s->results);
  g_array_unref (s->types);
}

static const NcOpClass shortest_class = { "ShortestPath", shortest_next, shortest_reset, shortest_free };

NcOp *
nc_op_shortest_new (NcExecCtx *x, NcOp *child, NcPatternPart *part, gboolean all)
{
  ShortestOp *s = nc_op_alloc (sizeof (ShortestOp), &shortest_class, x, child);
  s->part = part;
  s->all = all;
  s->results = g_ptr_array_new ();
  s->types = g_array_new (FALSE, FALSE, sizeof (NcToken));
  NcRelPat *r = part->rels->pdata[0];
  for (guint i = 0; r->types && i < r->types->len; i++)
    {
      NcToken t = nc_store_token (x->store, NC_TOKEN_REL_TYPE, r->types->pdata[i], FALSE);
      if (t == NC_TOKEN_NONE)
        t = NC_TOKEN_NONE - 1; /* matches nothing */
      g_array_append_val (s->types, t);
    }
  nc_op_add_ident (&s->op, part->path_slot);
  s->op.details = g_strdup (part->path_var ? part->path_var : "");
  return &s->op;
}
