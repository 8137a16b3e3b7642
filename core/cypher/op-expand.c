#define G_LOG_DOMAIN "nornicdb-cypher"

/* Expand: follows relationships from a bound node, fixed length or
 * variable length (depth-first, relationship-unique along the path), into a
 * new or an already bound node (expand-into). */

#include "engine.h"

typedef struct {
  NcCursor *cur;
  gint64 node;
  gboolean opened;
} Frame;

typedef struct {
  NcOp op;
  int from;
  NcRelPat *rel;
  NcNodePat *to;
  gboolean reversed, to_bound, rel_bound;
  NcDirection dir;
  GArray *types;        /* NcToken */
  gboolean impossible;  /* a required type does not exist */
  gboolean unresolved;  /* some type name had no token when planned */
  gboolean have_input;
  gint64 from_id;
  NcCursor *cur;        /* fixed length */
  gboolean cur_checks_end; /* cur yields only ends that match `to` */
  gboolean cur_live;    /* cur belongs to the current input row */
  NcToken cur_label;    /* the end label cur was opened with */
  NcToken range_key;    /* nc_op_expand_push_range, or NC_TOKEN_NONE */
  gboolean range_exact; /* the live cursor checks the pushed conjunct exactly */
  NcExpr *range_val;
  int range_op;
  gboolean count_mode;  /* nc_op_expand_count_next: count, do not bind */
  gint64 counted;
  GArray *stack;        /* Frame, variable length */
  GArray *path;         /* NcValue rel refs */
  gboolean zero_pending;
} ExpandOp;

/* The endpoints of a relationship reached from `from`. */
static void
rel_ends (ExpandOp *e, gint64 rid, gint64 from, gint64 other, NcDirection d, gint64 *start, gint64 *end)
{
  NcToken t;
  if (d == NC_DIR_IN)
    {
      *start = other;
      *end = from;
    }
  else if (d == NC_DIR_OUT || !nc_txn_rel_info (e->op.x->txn, rid, &t, start, end))
    {
      *start = from;
      *end = other;
    }
}

static NcValue
rel_value (ExpandOp *e, gint64 rid, gint64 from, gint64 other, NcDirection d)
{
  gint64 st, en;
  rel_ends (e, rid, from, other, d, &st, &en);
  return nc_value_rel_ref (rid, st, en);
}

static NcCursor *
open_expand (ExpandOp *e, gint64 node)
{
  e->op.db_hits++;
  return nc_txn_expand (e->op.x->txn, node, e->dir, (const NcToken *) e->types->data, e->types->len);
}

static gboolean
end_ok (ExpandOp *e, gint64 other, gboolean *ok, GError **error)
{
  NcValue *row = e->op.row;
  if (e->to_bound)
    {
      const NcValue *b = &row[e->to->slot];
      if (b->type != NC_VALUE_NODE || b->u.entity->id != other)
        {
          *ok = FALSE;
          return TRUE;
        }
    }
  return nc_node_matches (e->op.x, e->to, other, row, ok, error);
}

static void
clear_var_state (ExpandOp *e)
{
  for (guint i = 0; i < e->stack->len; i++)
    {
      Frame *f = &g_array_index (e->stack, Frame, i);
      g_clear_pointer (&f->cur, nc_cursor_free);
    }
  g_array_set_size (e->stack, 0);
  for (guint i = 0; i < e->path->len; i++)
    nc_value_clear (&g_array_index (e->path, NcValue, i));
  g_array_set_size (e->path, 0);
}

static void
emit_var (ExpandOp *e, gint64 end)
{
  NcValue *row = e->op.row;
  guint n = e->path->len;
  NcList *l = nc_list_new (n);
  for (guint i = 0; i < n; i++)
    l->items[i] = nc_value_copy (&g_array_index (e->path, NcValue, e->reversed ? n - 1 - i : i));
  if (!e->rel_bound)
    {
      nc_value_clear (&row[e->rel->slot]);
      row[e->rel->slot] = nc_value_list_take (l);
    }
  else
    nc_list_unref (l);
  if (!e->to_bound)
    {
      nc_value_clear (&row[e->to->slot]);
      row[e->to->slot] = nc_value_node_ref (end);
    }
}

static gboolean
bound_list_ok (ExpandOp *e)
{
  if (!e->rel_bound)
    return TRUE;
  const NcValue *b = &e->op.row[e->rel->slot];
  guint n = e->path->len;
  if (b->type != NC_VALUE_LIST || b->u.list->len != n)
    return FALSE;
  for (guint i = 0; i < n; i++)
    {
      const NcValue *bi = &b->u.list->items[i];
      const NcValue *pi = &g_array_index (e->path, NcValue, e->reversed ? n - 1 - i : i);
      if (bi->type != NC_VALUE_REL || bi->u.entity->id != pi->u.entity->id)
        return FALSE;
    }
  return TRUE;
}

static gboolean
var_next (ExpandOp *e, gboolean *produced, GError **error)
{
  NcExecCtx *x = e->op.x;
  *produced = FALSE;
  if (e->zero_pending)
    {
      e->zero_pending = FALSE;
      gboolean ok;
      if (!end_ok (e, e->from_id, &ok, error))
        return FALSE;
      if (ok && bound_list_ok (e))
        {
          emit_var (e, e->from_id);
          *produced = TRUE;
          return TRUE;
        }
    }
  while (e->stack->len > 0)
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      Frame *top = &g_array_index (e->stack, Frame, e->stack->len - 1);
      if (!top->opened)
        {
          top->opened = TRUE;
          if (e->rel->max < 0 || (gint64) e->path->len < e->rel->max)
            top->cur = open_expand (e, top->node);
        }
      gint64 rid;
      if (top->cur && nc_cursor_next (top->cur, &rid))
        {
          gboolean used = FALSE;
          for (guint i = 0; i < e->path->len && !used; i++)
            used = g_array_index (e->path, NcValue, i).u.entity->id == rid;
          if (used)
            continue;
          gint64 other = nc_cursor_rel_other (top->cur);
          gint64 here = top->node;
          gboolean ok;
          if (!nc_rel_matches (x, e->rel, rid, e->op.row, &ok, error))
            return FALSE;
          if (!ok)
            continue;
          NcValue rv = rel_value (e, rid, here, other, e->dir);
          g_array_append_val (e->path, rv);
          Frame f = { NULL, other, FALSE };
          g_array_append_val (e->stack, f);
          if ((gint64) e->path->len >= e->rel->min)
            {
              if (!end_ok (e, other, &ok, error))
                return FALSE;
              if (ok && bound_list_ok (e))
                {
                  emit_var (e, other);
                  *produced = TRUE;
                  return TRUE;
                }
            }
          continue;
        }
      g_clear_pointer (&top->cur, nc_cursor_free);
      g_array_set_size (e->stack, e->stack->len - 1);
      if (e->path->len > 0 && e->stack->len > 0 && e->path->len >= e->stack->len)
        {
          nc_value_clear (&g_array_index (e->path, NcValue, e->path->len - 1));
          g_array_set_size (e->path, e->path->len - 1);
        }
    }
  return TRUE;
}

static gboolean
expand_next (NcOp *op, GError **error)
{
  ExpandOp *e = (ExpandOp *) op;
  NcExecCtx *x = op->x;
  for (;;)
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      if (e->have_input)
        {
          if (e->rel->varlen)
            {
              gboolean produced;
              if (!var_next (e, &produced, error))
                return FALSE;
              if (produced)
                return TRUE;
            }
          else if (e->count_mode)
            {
              /* every relationship a row would be made of, counted; one
               * call per input row */
              gint64 rid;
              while (e->cur_live && nc_cursor_next (e->cur, &rid))
                {
                  if (!nc_exec_tick (x, error))
                    return FALSE;
                  op->db_hits++;
                  gboolean ok;
                  if (!nc_rel_matches (x, e->rel, rid, op->row, &ok, error))
                    return FALSE;
                  if (ok && !e->cur_checks_end && !end_ok (e, nc_cursor_rel_other (e->cur), &ok, error))
                    return FALSE;
                  if (ok)
                    e->counted++;
                }
              e->cur_live = FALSE;
              e->have_input = FALSE;
              /* PROFILE: the rows this call stands for (nc_op_next adds one) */
              op->rows += e->counted - 1;
              return TRUE;
            }
          else
            {
              gint64 rid;
              while (e->cur_live && nc_cursor_next (e->cur, &rid))
                {
                  if (!nc_exec_tick (x, error))
                    return FALSE;
                  op->db_hits++;
                  gint64 other = nc_cursor_rel_other (e->cur);
                  if (e->rel_bound)
                    {
                      const NcValue *b = &op->row[e->rel->slot];
                      if (b->type != NC_VALUE_REL || b->u.entity->id != rid)
                        continue;
                    }
                  gboolean ok;
                  if (!nc_rel_matches (x, e->rel, rid, op->row, &ok, error))
                    return FALSE;
                  if (!ok)
                    continue;
                  if (!e->cur_checks_end && !end_ok (e, other, &ok, error))
                    return FALSE;
                  if (!ok)
                    continue;
                  if (!e->rel_bound)
                    {
                      gint64 st, en;
                      rel_ends (e, rid, e->from_id, other, e->dir, &st, &en);
                      nc_row_set_entity (&op->row[e->rel->slot], TRUE, rid, st, en);
                    }
                  if (!e->to_bound)
                    nc_row_set_entity (&op->row[e->to->slot], FALSE, other, -1, -1);
                  return TRUE;
                }
              /* kept for the next input row (nc_cursor_expand_restart) */
              e->cur_live = FALSE;
            }
          e->have_input = FALSE;
        }
      if (!nc_op_next (op->child, error))
        return FALSE;
      nc_row_copy (op->row, op->child->row, x->width);
      const NcValue *fv = &op->row[e->from];
      if (e->unresolved && fv->type == NC_VALUE_NODE)
        e->impossible = FALSE; /* decided below once the types are re-resolved */
      if (fv->type != NC_VALUE_NODE || e->impossible)
        {
          if (fv->type != NC_VALUE_NODE && fv->type != NC_VALUE_NULL)
            {
              g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Node but was %s",
                           nc_value_type_name (fv->type));
              return FALSE;
            }
          continue;
        }
      e->from_id = fv->u.entity->id;
      e->have_input = TRUE;
      if (e->unresolved)
        {
          /* types created by this statement after planning */
          g_array_set_size (e->types, 0);
          guint missing = 0;
          for (guint i = 0; i < e->rel->types->len; i++)
            {
              NcToken t = nc_store_token (x->store, NC_TOKEN_REL_TYPE, e->rel->types->pdata[i], FALSE);
              if (t != NC_TOKEN_NONE)
                g_array_append_val (e->types, t);
              else
                missing++;
            }
          e->unresolved = missing > 0;
          e->impossible = e->types->len == 0;
          if (e->impossible)
            {
              e->have_input = FALSE;
              continue;
            }
        }
      if (e->rel->varlen)
        {
          clear_var_state (e);
          Frame f = { NULL, e->from_id, FALSE };
          g_array_append_val (e->stack, f);
          e->zero_pending = e->rel->min == 0;
        }
      else
        {
          /* (a)-[..]->(b:L) into a new b with nothing else to check: the
           * store checks the label while it fills the cursor's batch */
          NcToken end_label = NC_TOKEN_NONE;
          if (!e->to_bound && e->to->props == NULL && e->to->labels && e->to->labels->len == 1)
            end_label = nc_exec_label_token (x, e->to->labels->pdata[0]);
          e->cur_checks_end = end_label != NC_TOKEN_NONE;
          /* the types resolved at planning never change; re-resolved
           * ones may, so such a cursor is not reused */
          gboolean reuse = e->cur != NULL && e->cur_label == end_label
                           && (e->rel->types == NULL || e->types->len == e->rel->types->len);
          if (reuse)
            {
              op->db_hits++;
              nc_cursor_expand_restart (e->cur, e->from_id);
            }
          else
            {
              g_clear_pointer (&e->cur, nc_cursor_free);
              e->cur_label = end_label;
              if (e->cur_checks_end)
                {
                  op->db_hits++;
                  e->cur = nc_txn_expand_to_label (x->txn, e->from_id, e->dir, (const NcToken *) e->types->data,
                                                   e->types->len, end_label);
                }
              else
                e->cur = open_expand (e, e->from_id);
            }
          e->range_exact = FALSE;
          if (e->range_key != NC_TOKEN_NONE
              && !nc_cursor_push_range (x, e->cur, e->range_key, e->range_val, e->range_op, op->row,
                                        &e->range_exact))
            {
              /* a reused cursor would keep an earlier row's range */
              e->range_key = NC_TOKEN_NONE;
              g_clear_pointer (&e->cur, nc_cursor_free);
              e->cur = end_label != NC_TOKEN_NONE
                         ? nc_txn_expand_to_label (x->txn, e->from_id, e->dir, (const NcToken *) e->types->data,
                                                   e->types->len, end_label)
                         : open_expand (e, e->from_id);
            }
          e->cur_live = TRUE;
        }
    }
}

static void
expand_reset (NcOp *op)
{
  ExpandOp *e = (ExpandOp *) op;
  g_clear_pointer (&e->cur, nc_cursor_free);
  e->cur_live = FALSE;
  clear_var_state (e);
  e->have_input = FALSE;
}

static void
expand_free (NcOp *op)
{
  ExpandOp *e = (ExpandOp *) op;
  expand_reset (op);
  g_array_unref (e->stack);
  g_array_unref (e->path);
  g_array_unref (e->types);
}

static const NcOpClass expand_class = { "Expand(All)", expand_next, expand_reset, expand_free };
static const NcOpClass expand_into_class = { "Expand(Into)", expand_next, expand_reset, expand_free };
static const NcOpClass varexpand_class = { "VarLengthExpand(All)", expand_next, expand_reset, expand_free };
static const NcOpClass varexpand_into_class = { "VarLengthExpand(Into)", expand_next, expand_reset, expand_free };

NcOp *
nc_op_expand_new (NcExecCtx *x, NcOp *child, int from, NcRelPat *rel, NcNodePat *to,
                  gboolean reversed, gboolean to_bound, gboolean rel_bound)
{
  const NcOpClass *k = rel->varlen ? (to_bound ? &varexpand_into_class : &varexpand_class)
                                   : (to_bound ? &expand_into_class : &expand_class);
  ExpandOp *e = nc_op_alloc (sizeof (ExpandOp), k, x, child);
  e->from = from;
  e->range_key = NC_TOKEN_NONE;
  e->rel = rel;
  e->to = to;
  e->reversed = reversed;
  e->to_bound = to_bound;
  e->rel_bound = rel_bound;
  e->dir = rel->dir;
  if (reversed && rel->dir != NC_DIR_BOTH)
    e->dir = rel->dir == NC_DIR_OUT ? NC_DIR_IN : NC_DIR_OUT;
  e->types = g_array_new (FALSE, FALSE, sizeof (NcToken));
  for (guint i = 0; rel->types && i < rel->types->len; i++)
    {
      NcToken t = nc_store_token (x->store, NC_TOKEN_REL_TYPE, rel->types->pdata[i], FALSE);
      if (t != NC_TOKEN_NONE)
        g_array_append_val (e->types, t);
    }
  e->impossible = rel->types && rel->types->len > 0 && e->types->len == 0;
  e->unresolved = rel->types && e->types->len < rel->types->len;
  e->stack = g_array_new (FALSE, FALSE, sizeof (Frame));
  e->path = g_array_new (FALSE, FALSE, sizeof (NcValue));
  nc_op_add_ident (&e->op, rel->slot);
  nc_op_add_ident (&e->op, to->slot);
  GString *d = g_string_new (NULL);
  g_string_append_printf (d, "(%s)%s[%s", (char *) x->stmt->slot_names->pdata[from],
                          e->dir == NC_DIR_IN ? "<-" : "-", (char *) x->stmt->slot_names->pdata[rel->slot]);
  for (guint i = 0; rel->types && i < rel->types->len; i++)
    g_string_append_printf (d, "%s%s", i ? "|" : ":", (char *) rel->types->pdata[i]);
  if (rel->varlen)
    {
      g_string_append_printf (d, "*%" G_GINT64_FORMAT "..", rel->min);
      if (rel->max >= 0)
        g_string_append_printf (d, "%" G_GINT64_FORMAT, rel->max);
    }
  g_string_append_printf (d, "]%s(%s)", e->dir == NC_DIR_OUT ? "->" : "-", (char *) x->stmt->slot_names->pdata[to->slot]);
  e->op.details = g_string_free (d, FALSE);
  return &e->op;
}

gboolean
nc_op_expand_countable (NcOp *op, gboolean constant_range)
{
  ExpandOp *e = (ExpandOp *) op;
  if (op->klass != &expand_class || e->to_bound || e->rel_bound)
    return FALSE;
  /* a covered Filter above is skipped: its conjunct must be exactly what
   * the cursor checks for every input row, which holds when the bound is a
   * literal or a parameter (evaluating it cannot fail; a null one yields
   * nothing, as `b.key > null` matches nothing) */
  return !constant_range || e->range_key == NC_TOKEN_NONE
         || (e->range_val != NULL && (e->range_val->kind == NC_EX_LITERAL || e->range_val->kind == NC_EX_PARAM));
}

gboolean
nc_op_expand_count_next (NcOp *op, gint64 *n, GError **error)
{
  ExpandOp *e = (ExpandOp *) op;
  e->count_mode = TRUE;
  e->counted = 0;
  gboolean ok = nc_op_next (op, error);
  e->count_mode = FALSE;
  *n = e->counted;
  return ok;
}

gboolean
nc_op_expand_range_exact (NcOp *op)
{
  return ((ExpandOp *) op)->range_exact;
}

gboolean
nc_op_expand_push_range (NcOp *op, NcToken key, NcExpr *val, int cmp_op)
{
  ExpandOp *e = (ExpandOp *) op;
  if (op->klass != &expand_class || e->to_bound || e->rel->varlen || e->range_key != NC_TOKEN_NONE)
    return FALSE;
  e->range_key = key;
  e->range_val = val;
  e->range_op = cmp_op;
  return TRUE;
}
