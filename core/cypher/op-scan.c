#define G_LOG_DOMAIN "nornicdb-cypher"

/* Node access for the first node of a pattern: all-nodes scan, label scan,
 * index seek (equality / IN) or index range, then the pattern's remaining
 * labels and property map. Also NodeCheck, which verifies a node that an
 * earlier clause bound. */

#include "engine.h"

static gboolean
props_match (NcExecCtx *x, NcExpr *props, const NcValue *entity, NcValue *row, gboolean *ok, GError **error)
{
  *ok = TRUE;
  if (props == NULL)
    return TRUE;
  g_auto (NcValue) m = nc_value_null ();
  if (!nc_eval (x, props, row, &m, error))
    return FALSE;
  if (m.type == NC_VALUE_NULL)
    return TRUE;
  if (m.type != NC_VALUE_MAP)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Map but was %s", nc_value_type_name (m.type));
      return FALSE;
    }
  for (guint32 i = 0; i < m.u.map->len && *ok; i++)
    {
      g_auto (NcValue) v = nc_value_null ();
      if (!nc_eval_property (x, entity, m.u.map->entries[i].key->data, &v, error))
        return FALSE;
      *ok = nc_value_equals (&v, &m.u.map->entries[i].value) == NC_TRI_TRUE;
    }
  return TRUE;
}

gboolean
nc_node_matches (NcExecCtx *x, NcNodePat *node, gint64 id, NcValue *row, gboolean *ok, GError **error)
{
  *ok = TRUE;
  for (guint i = 0; node->labels && i < node->labels->len; i++)
    {
      NcToken t = nc_exec_label_token (x, node->labels->pdata[i]);
      if (t == NC_TOKEN_NONE || !nc_txn_node_has_label (x->txn, id, t))
        {
          *ok = FALSE;
          return TRUE;
        }
    }
  if (node->props == NULL)
    return TRUE;
  g_auto (NcValue) v = nc_value_node_ref (id);
  return props_match (x, node->props, &v, row, ok, error);
}

gboolean
nc_rel_matches (NcExecCtx *x, NcRelPat *rel, gint64 id, NcValue *row, gboolean *ok, GError **error)
{
  *ok = TRUE;
  if (rel->props == NULL)
    return TRUE;
  g_auto (NcValue) v = nc_value_rel_ref (id, -1, -1);
  return props_match (x, rel->props, &v, row, ok, error);
}

typedef struct {
  NcOp op;
  NcNodePat *node;
  NcScanSpec spec;
  NcCursor *cur;
  gboolean have_input;
  NcValue seek_values;  /* list of values still to seek (IN) */
  guint seek_idx;
  gboolean cursor_checks; /* (n:L) by a label scan of L: the cursor has checked everything */
  gboolean fetcher;       /* this scan serves x->fetch_slot (NcExecCtx) */
  gboolean fetching;      /* s->cur was asked to fetch x->fetch_key */
  NcCursor *spare;        /* an ended seek cursor, restarted by the next seek */
  NcToken range_key;      /* nc_op_scan_push_range, or NC_TOKEN_NONE */
  gboolean range_exact;   /* the open cursor checks the pushed conjunct exactly */
  NcExpr *range_val;
  int range_op;
} ScanOp;

gboolean
nc_cursor_push_range (NcExecCtx *x, NcCursor *cur, NcToken key, NcExpr *val, int cmp_op, NcValue *row,
                      gboolean *exact)
{
  NcValue v = nc_value_null ();
  GError *local = NULL;
  *exact = FALSE;
  if (!nc_eval (x, val, row, &v, &local))
    {
      g_clear_error (&local);
      return FALSE;
    }
  gboolean lower = cmp_op == NC_CMP_GT || cmp_op == NC_CMP_GE;
  gboolean incl = cmp_op == NC_CMP_GE || cmp_op == NC_CMP_LE;
  /* `n.key > null` is never true; the cursor then yields nothing, but
   * only a non-null bound is the conjunct the Filter would evaluate */
  gboolean took = nc_cursor_filter_range (cur, key, lower ? &v : NULL, incl, lower ? NULL : &v, incl);
  *exact = took && v.type != NC_VALUE_NULL;
  nc_value_clear (&v);
  return TRUE;
}

static NcCursor *
open_seek (ScanOp *s, const NcValue *v)
{
  NcCursor *c = g_steal_pointer (&s->spare);
  if (c != NULL && nc_cursor_seek_restart (c, v))
    return c;
  g_clear_pointer (&c, nc_cursor_free);
  return nc_txn_seek_nodes (s->op.x->txn, s->spec.label, s->spec.key, v);
}

static gboolean
open_cursor (ScanOp *s, GError **error)
{
  NcExecCtx *x = s->op.x;
  NcScanSpec *sp = &s->spec;
  nc_value_clear (&s->seek_values);
  s->seek_idx = 0;
  s->range_exact = FALSE;
  if (sp->key != NC_TOKEN_NONE && sp->eq)
    {
      g_auto (NcValue) v = nc_value_null ();
      if (!nc_eval (x, sp->eq, s->op.row, &v, error))
        return FALSE;
      if (v.type == NC_VALUE_NULL)
        return TRUE; /* = null matches nothing */
      s->cur = open_seek (s, &v);
      return TRUE;
    }
  if (sp->key != NC_TOKEN_NONE && sp->in_list)
    {
      g_auto (NcValue) l = nc_value_null ();
      if (!nc_eval (x, sp->in_list, s->op.row, &l, error))
        return FALSE;
      if (l.type != NC_VALUE_LIST)
        return TRUE;
      /* distinct values only, so a node is produced once */
      NcList *d = nc_list_new (l.u.list->len);
      guint n = 0;
      for (guint32 i = 0; i < l.u.list->len; i++)
        {
          const NcValue *it = &l.u.list->items[i];
          gboolean dup = it->type == NC_VALUE_NULL;
          for (guint k = 0; !dup && k < n; k++)
            dup = nc_value_equals (&d->items[k], it) == NC_TRI_TRUE;
          if (!dup)
            d->items[n++] = nc_value_copy (it);
        }
      d->len = n;
      s->seek_values = nc_value_list_take (d);
      return TRUE;
    }
  if (sp->key != NC_TOKEN_NONE && (sp->lower || sp->upper))
    {
      g_auto (NcValue) lo = nc_value_null (), hi = nc_value_null ();
      if ((sp->lower && !nc_eval (x, sp->lower, s->op.row, &lo, error))
          || (sp->upper && !nc_eval (x, sp->upper, s->op.row, &hi, error)))
        return FALSE;
      if ((sp->lower && lo.type == NC_VALUE_NULL) || (sp->upper && hi.type == NC_VALUE_NULL))
        return TRUE;
      s->cur = nc_txn_range_nodes (x->txn, sp->label, sp->key, sp->lower ? &lo : NULL, sp->lower_incl,
                                   sp->upper ? &hi : NULL, sp->upper_incl);
      return TRUE;
    }
  if (sp->label == NC_TOKEN_NONE - 1)
    {
      /* the label did not exist when planned; this statement may have
       * created it since */
      NcToken t = nc_store_token (x->store, NC_TOKEN_LABEL, s->node->labels->pdata[0], FALSE);
      if (t == NC_TOKEN_NONE)
        return TRUE;
      for (guint i = 1; i < s->node->labels->len; i++)
        if (nc_store_token (x->store, NC_TOKEN_LABEL, s->node->labels->pdata[i], FALSE) == NC_TOKEN_NONE)
          return TRUE;
      s->cur = nc_txn_scan_nodes (x->txn, t);
      return TRUE;
    }
  s->cur = nc_txn_scan_nodes (x->txn, sp->label);
  if (s->range_key != NC_TOKEN_NONE
      && !nc_cursor_push_range (x, s->cur, s->range_key, s->range_val, s->range_op, s->op.row, &s->range_exact))
    s->range_key = NC_TOKEN_NONE;
  return TRUE;
}

static gboolean scan_next (NcOp *op, GError **error);
static void scan_reset (NcOp *op);
static void scan_free (NcOp *op);
static const NcOpClass seek_class = { "NodeIndexSeek", scan_next, scan_reset, scan_free };

static gboolean
scan_next (NcOp *op, GError **error)
{
  ScanOp *s = (ScanOp *) op;
  NcExecCtx *x = op->x;
  for (;;)
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      if (s->have_input)
        {
          if (s->cur == NULL && s->seek_values.type == NC_VALUE_LIST && s->seek_idx < s->seek_values.u.list->len)
            s->cur = open_seek (s, &s->seek_values.u.list->items[s->seek_idx++]);
          gint64 id;
          if (s->fetcher && s->cur && !s->fetching && x->fetch_key != NULL)
            s->fetching = nc_cursor_fetch_prop (s->cur, x->fetch_tok);
          if (s->cur && nc_cursor_next (s->cur, &id))
            {
              op->db_hits++;
              if (s->fetching)
                {
                  const NcValue *pv = nc_cursor_prop (s->cur);
                  nc_value_clear (&x->memo_val);
                  x->memo_set = pv != NULL;
                  if (pv != NULL)
                    {
                      x->memo_id = id;
                      x->memo_val = nc_value_copy (pv);
                    }
                }
              gboolean ok = TRUE;
              if (!s->cursor_checks && !nc_node_matches (x, s->node, id, op->row, &ok, error))
                return FALSE;
              if (!ok)
                continue;
              nc_row_set_entity (&op->row[s->node->slot], FALSE, id, -1, -1);
              return TRUE;
            }
          if (s->cur)
            {
              /* a seek's cursor serves the next seek (nc_cursor_seek_restart) */
              if (s->op.klass == &seek_class && s->spare == NULL)
                s->spare = g_steal_pointer (&s->cur);
              else
                g_clear_pointer (&s->cur, nc_cursor_free);
              s->fetching = FALSE;
              if (s->seek_values.type == NC_VALUE_LIST && s->seek_idx < s->seek_values.u.list->len)
                continue;
            }
          s->have_input = FALSE;
        }
      if (!nc_op_next (op->child, error))
        return FALSE;
      nc_row_copy (op->row, op->child->row, x->width);
      if (!open_cursor (s, error))
        return FALSE;
      s->have_input = TRUE;
    }
}

static void
scan_reset (NcOp *op)
{
  ScanOp *s = (ScanOp *) op;
  g_clear_pointer (&s->cur, nc_cursor_free);
  g_clear_pointer (&s->spare, nc_cursor_free);
  s->fetching = FALSE;
  if (s->fetcher)
    {
      op->x->memo_set = FALSE;
      nc_value_clear (&op->x->memo_val);
    }
  nc_value_clear (&s->seek_values);
  s->have_input = FALSE;
}

static void
scan_free (NcOp *op)
{
  scan_reset (op);
}

static const NcOpClass all_class = { "AllNodesScan", scan_next, scan_reset, scan_free };
static const NcOpClass label_class = { "NodeByLabelScan", scan_next, scan_reset, scan_free };
static const NcOpClass range_class = { "NodeIndexSeekByRange", scan_next, scan_reset, scan_free };

NcOp *
nc_op_scan_new (NcExecCtx *x, NcOp *child, NcNodePat *node, const NcScanSpec *spec)
{
  ScanOp *s = nc_op_alloc (sizeof (ScanOp), &all_class, x, child);
  s->node = node;
  s->range_key = NC_TOKEN_NONE;
  s->spec = *spec;
  nc_op_add_ident (&s->op, node->slot);
  const char *var = x->stmt->slot_names->pdata[node->slot];
  const char *label = spec->label != NC_TOKEN_NONE && spec->label != NC_TOKEN_NONE - 1 ? nc_store_token_name (x->store, NC_TOKEN_LABEL, spec->label) : NULL;
  if (spec->key != NC_TOKEN_NONE)
    {
      const char *key = nc_store_token_name (x->store, NC_TOKEN_PROP_KEY, spec->key);
      s->op.klass = (spec->eq || spec->in_list) ? &seek_class : &range_class;
      s->op.details = g_strdup_printf ("RANGE INDEX %s:%s(%s)", var, label, key);
      /* (n:L {key: expr}) by an equality seek on L.key: the cursor yields
       * visible nodes with the label whose current value equals expr
       * (Cypher equality), which is all the pattern asks; re-checking
       * allocated a node value and re-read the property for every row of
       * `UNWIND $rows AS r MATCH (a:Person {id: r[0]})` */
      NcExpr *pm = node->props;
      s->cursor_checks = spec->eq != NULL && spec->in_list == NULL && node->labels->len == 1
                         && (pm == NULL || (pm->kind == NC_EX_MAP && pm->args->len == 1 && pm->args->pdata[0] == spec->eq));
    }
  else if (label || spec->label == NC_TOKEN_NONE - 1)
    {
      if (label == NULL)
        label = node->labels->pdata[0];
      s->op.klass = &label_class;
      s->op.details = g_strdup_printf ("%s:%s", var, label);
      /* the label cursor yields visible nodes that have the label at the
       * snapshot; re-checking cost a lock and a token lookup per row */
      s->cursor_checks = spec->label != NC_TOKEN_NONE - 1 && node->labels->len == 1 && node->props == NULL;
      if (spec->label != NC_TOKEN_NONE - 1 && !x->fetch_enabled)
        {
          x->fetch_enabled = TRUE;
          x->fetch_slot = node->slot;
          s->fetcher = TRUE;
        }
    }
  else
    {
      s->op.klass = &all_class;
      s->op.details = g_strdup (var);
    }
  return &s->op;
}

gboolean
nc_op_scan_push_range (NcOp *op, NcToken key, NcExpr *val, int cmp_op)
{
  ScanOp *s = (ScanOp *) op;
  if (op->klass != &label_class || s->spec.key != NC_TOKEN_NONE || s->spec.label == NC_TOKEN_NONE
      || s->spec.label == NC_TOKEN_NONE - 1 || s->range_key != NC_TOKEN_NONE)
    return FALSE;
  s->range_key = key;
  s->range_val = val;
  s->range_op = cmp_op;
  return TRUE;
}

gboolean
nc_op_scan_range_exact (NcOp *op)
{
  return ((ScanOp *) op)->range_exact;
}

/* ---- the raw interface of an aggregation fused with its scan ------------ */

int
nc_op_scan_fusable_slot (NcOp *op)
{
  ScanOp *s = (ScanOp *) op;
  if (op->klass != &label_class || !s->cursor_checks || !s->fetcher)
    return -1;
  return s->node->slot;
}

gboolean
nc_op_scan_next_raw (NcOp *op, gint64 *id, const NcValue **prop, GError **error)
{
  ScanOp *s = (ScanOp *) op;
  NcExecCtx *x = op->x;
  for (;;)
    {
      if (s->have_input && s->cur != NULL)
        {
          if (!s->fetching && x->fetch_key != NULL)
            s->fetching = nc_cursor_fetch_prop (s->cur, x->fetch_tok);
          if (nc_cursor_next (s->cur, id))
            {
              op->db_hits++;
              *prop = s->fetching ? nc_cursor_prop (s->cur) : NULL;
              /* the timeout and memory checks, every 256 rows here */
              if ((op->db_hits & 255) == 0 && !nc_exec_tick (x, error))
                return FALSE;
              return TRUE;
            }
          g_clear_pointer (&s->cur, nc_cursor_free);
          s->fetching = FALSE;
        }
      s->have_input = FALSE;
      if (!nc_exec_tick (x, error) || !nc_op_next (op->child, error))
        return FALSE;
      nc_row_copy (op->row, op->child->row, x->width);
      if (!open_cursor (s, error))
        return FALSE;
      s->have_input = TRUE;
    }
}

/* ---- NodeCheck: a node bound before this pattern ------------------------ */

typedef struct {
  NcOp op;
  NcNodePat *node;
} CheckOp;

static gboolean
check_next (NcOp *op, GError **error)
{
  CheckOp *c = (CheckOp *) op;
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (op->x, error))
        return FALSE;
      const NcValue *v = &op->child->row[c->node->slot];
      if (v->type != NC_VALUE_NODE)
        {
          if (v->type != NC_VALUE_NULL)
            {
              g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Node but was %s",
                           nc_value_type_name (v->type));
              return FALSE;
            }
          continue;
        }
      nc_row_copy (op->row, op->child->row, op->x->width);
      gboolean ok;
      if (!nc_node_matches (op->x, c->node, v->u.entity->id, op->row, &ok, error))
        return FALSE;
      if (ok)
        return TRUE;
    }
  return FALSE;
}

static const NcOpClass check_class = { "NodeCheck", check_next, NULL, NULL };

NcOp *
nc_op_node_check_new (NcExecCtx *x, NcOp *child, NcNodePat *node)
{
  CheckOp *c = nc_op_alloc (sizeof (CheckOp), &check_class, x, child);
  c->node = node;
  c->op.details = g_strdup (x->stmt->slot_names->pdata[node->slot]);
  return &c->op;
}
