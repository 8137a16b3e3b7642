#define G_LOG_DOMAIN "nornicdb-cypher"

/* CREATE: eager. Consumes its whole input, creates the pattern for every
 * row, then streams the rows with the new entities bound. */

#include "engine.h"

static gboolean
eval_props (NcExecCtx *x, NcExpr *props, NcValue *row, gboolean merge, NcMap **out, GError **error)
{
  *out = NULL;
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
  for (guint32 i = 0; i < m.u.map->len; i++)
    {
      const NcValue *v = &m.u.map->entries[i].value;
      if (merge && v->type == NC_VALUE_NULL)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_SEMANTIC,
                       "Cannot merge the following entity because of null property value for '%s'",
                       m.u.map->entries[i].key->data);
          return FALSE;
        }
      if (!nc_check_property_value (v, error))
        return FALSE;
      if (v->type != NC_VALUE_NULL)
        x->stats.properties_set++;
    }
  *out = nc_map_ref (m.u.map);
  return TRUE;
}

/* `merge` makes null property values an error (MERGE cannot create them). */
static gboolean
create_part (NcExecCtx *x, NcPatternPart *part, NcValue *row, gboolean merge, GError **error)
{
  for (guint i = 0; i < part->nodes->len; i++)
    {
      NcNodePat *n = part->nodes->pdata[i];
      const NcValue *cur = &row[n->slot];
      if (cur->type == NC_VALUE_NODE)
        continue; /* bound earlier (or earlier in this pattern) */
      if (n->prebound || (n->var && cur->type != NC_VALUE_NULL))
        {
          if (cur->type == NC_VALUE_NULL)
            continue; /* checked when the relationship is created */
          g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Node but was %s", nc_value_type_name (cur->type));
          return FALSE;
        }
      g_autoptr (GArray) labels = g_array_new (FALSE, FALSE, sizeof (NcToken));
      for (guint l = 0; l < n->labels->len; l++)
        {
          NcToken t = nc_store_token (x->store, NC_TOKEN_LABEL, n->labels->pdata[l], TRUE);
          gboolean dup = FALSE;
          for (guint k = 0; k < labels->len; k++)
            dup |= g_array_index (labels, NcToken, k) == t;
          if (!dup)
            g_array_append_val (labels, t);
        }
      g_autoptr (NcMap) props = NULL;
      if (!eval_props (x, n->props, row, merge, &props, error))
        return FALSE;
      GError *local = NULL;
      NcNodeId id = nc_txn_create_node (x->txn, (const NcToken *) labels->data, labels->len, props, &local);
      if (local)
        {
          nc_cypher_propagate_store_error (error, local);
          return FALSE;
        }
      x->did_write = TRUE;
      x->stats.nodes_created++;
      x->stats.labels_added += labels->len;
      nc_value_clear (&row[n->slot]);
      row[n->slot] = nc_value_node_ref (id);
    }
  for (guint i = 0; i < part->rels->len; i++)
    {
      NcRelPat *r = part->rels->pdata[i];
      NcNodePat *left = part->nodes->pdata[i], *right = part->nodes->pdata[i + 1];
      const NcValue *lv = &row[left->slot], *rv = &row[right->slot];
      if (lv->type != NC_VALUE_NODE || rv->type != NC_VALUE_NODE)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_SEMANTIC,
                       "Failed to create relationship `%s`, node `%s` is missing. If you prefer to simply ignore rows "
                       "where a relationship node is missing, set 'cypher.lenient_create_relationship = true' in neo4j.conf",
                       r->var ? r->var : "  UNNAMED",
                       lv->type != NC_VALUE_NODE ? (left->var ? left->var : "") : (right->var ? right->var : ""));
          return FALSE;
        }
      gint64 start = lv->u.entity->id, end = rv->u.entity->id;
      if (r->dir == NC_DIR_IN)
        {
          gint64 t = start;
          start = end;
          end = t;
        }
      NcToken type = nc_store_token (x->store, NC_TOKEN_REL_TYPE, r->types->pdata[0], TRUE);
      g_autoptr (NcMap) props = NULL;
      if (!eval_props (x, r->props, row, merge, &props, error))
        return FALSE;
      GError *local = NULL;
      NcRelId id = nc_txn_create_rel (x->txn, type, start, end, props, &local);
      if (local)
        {
          nc_cypher_propagate_store_error (error, local);
          return FALSE;
        }
      x->did_write = TRUE;
      x->stats.relationships_created++;
      nc_value_clear (&row[r->slot]);
      row[r->slot] = nc_value_rel_ref (id, start, end);
    }
  if (part->path_slot >= 0)
    {
      g_autofree NcValue *nodes = g_new0 (NcValue, part->nodes->len);
      g_autofree NcValue *rels = g_new0 (NcValue, MAX (part->rels->len, 1));
      for (guint i = 0; i < part->nodes->len; i++)
        nodes[i] = row[((NcNodePat *) part->nodes->pdata[i])->slot];
      for (guint i = 0; i < part->rels->len; i++)
        rels[i] = row[((NcRelPat *) part->rels->pdata[i])->slot];
      NcValue p = nc_build_path (x, nodes, rels, part->nodes->len);
      nc_value_clear (&row[part->path_slot]);
      row[part->path_slot] = p;
    }
  return TRUE;
}

gboolean
nc_create_pattern_part (NcExecCtx *x, NcPatternPart *part, NcValue *row, GError **error)
{
  return create_part (x, part, row, TRUE, error);
}

typedef struct {
  NcOp op;
  GPtrArray *pattern;
  GPtrArray *buf;
  gboolean built;
  guint emit;
} CreateOp;

static gboolean
create_build (CreateOp *c, GError **error)
{
  NcOp *op = &c->op;
  NcExecCtx *x = op->x;
  /* materialise the input first: reads must not see this clause's writes */
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (x, error) || !nc_exec_account (x, x->width * sizeof (NcValue) + 32, error))
        return FALSE;
      g_ptr_array_add (c->buf, nc_row_dup (op->child->row, x->width));
    }
  if (error && *error)
    return FALSE;
  for (guint r = 0; r < c->buf->len; r++)
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      NcValue *row = c->buf->pdata[r];
      for (guint p = 0; p < c->pattern->len; p++)
        if (!create_part (x, c->pattern->pdata[p], row, FALSE, error))
          return FALSE;
    }
  return TRUE;
}

static gboolean
create_next (NcOp *op, GError **error)
{
  CreateOp *c = (CreateOp *) op;
  if (!c->built)
    {
      c->built = TRUE;
      if (!create_build (c, error))
        return FALSE;
    }
  if (c->emit >= c->buf->len)
    return FALSE;
  NcValue *row = c->buf->pdata[c->emit];
  c->buf->pdata[c->emit++] = NULL;
  nc_row_copy (op->row, row, op->x->width);
  nc_row_free (row, op->x->width);
  /* the buffered row is handed on: it no longer counts */
  nc_exec_account (op->x, -(gssize) (op->x->width * sizeof (NcValue) + 32), NULL);
  return TRUE;
}

static void
create_reset (NcOp *op)
{
  CreateOp *c = (CreateOp *) op;
  for (guint i = 0; i < c->buf->len; i++)
    nc_row_free (c->buf->pdata[i], op->x->width);
  g_ptr_array_set_size (c->buf, 0);
  c->built = FALSE;
  c->emit = 0;
}

static void
create_free (NcOp *op)
{
  create_reset (op);
  g_ptr_array_unref (((CreateOp *) op)->buf);
}

static const NcOpClass create_class = { "Create", create_next, create_reset, create_free };

NcOp *
nc_op_create_new (NcExecCtx *x, NcOp *child, GPtrArray *pattern)
{
  CreateOp *c = nc_op_alloc (sizeof (CreateOp), &create_class, x, child);
  c->pattern = pattern;
  c->buf = g_ptr_array_new ();
  GString *d = g_string_new (NULL);
  for (guint p = 0; p < pattern->len; p++)
    {
      NcPatternPart *part = pattern->pdata[p];
      for (guint i = 0; i < part->nodes->len; i++)
        {
          NcNodePat *n = part->nodes->pdata[i];
          if (!n->prebound && n->var)
            g_string_append_printf (d, "%s(%s)", d->len ? ", " : "", n->var);
          nc_op_add_ident (&c->op, n->slot);
        }
      for (guint i = 0; i < part->rels->len; i++)
        nc_op_add_ident (&c->op, ((NcRelPat *) part->rels->pdata[i])->slot);
    }
  c->op.details = g_string_free (d, FALSE);
  return &c->op;
}
