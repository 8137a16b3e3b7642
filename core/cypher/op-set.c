#define G_LOG_DOMAIN "nornicdb-cypher"

/* SET and REMOVE: eager, like every updating operator. Statistics follow
 * Neo4j: every property assignment counts (removing an existing property
 * counts as one), labels count only when actually added or removed. */

#include "engine.h"

static gboolean
store_fail (GError **error, GError *local)
{
  nc_cypher_propagate_store_error (error, local);
  return FALSE;
}

static gboolean
entity_target (NcExecCtx *x, NcSetItem *it, NcValue *row, NcValue *out, GError **error)
{
  if (!nc_eval (x, it->target, row, out, error))
    return FALSE;
  if (out->type == NC_VALUE_NULL || out->type == NC_VALUE_NODE || out->type == NC_VALUE_REL)
    return TRUE;
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Node or Relationship but was %s",
               nc_value_type_name (out->type));
  nc_value_clear (out);
  return FALSE;
}

static gboolean
set_prop (NcExecCtx *x, const NcEntity *e, const char *key, const NcValue *v, GError **error)
{
  if (!nc_check_property_value (v, error))
    return FALSE;
  NcToken tok = nc_store_token (x->store, NC_TOKEN_PROP_KEY, key, TRUE);
  g_auto (NcValue) old = e->is_rel ? nc_txn_rel_prop (x->txn, e->id, tok) : nc_txn_node_prop (x->txn, e->id, tok);
  if (old.type == NC_VALUE_NULL && !(e->is_rel ? nc_txn_rel_exists (x->txn, e->id) : nc_txn_node_exists (x->txn, e->id)))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ENTITY_NOT_FOUND, "%s with id %" G_GINT64_FORMAT " has been deleted in this transaction",
                   e->is_rel ? "Relationship" : "Node", e->id);
      return FALSE;
    }
  if (v->type == NC_VALUE_NULL && old.type == NC_VALUE_NULL)
    return TRUE;
  GError *local = NULL;
  gboolean ok = e->is_rel ? nc_txn_set_rel_prop (x->txn, e->id, tok, v, &local)
                          : nc_txn_set_node_prop (x->txn, e->id, tok, v, &local);
  if (!ok)
    return store_fail (error, local);
  x->did_write = TRUE;
  x->stats.properties_set++;
  return TRUE;
}

static gboolean
set_map (NcExecCtx *x, const NcEntity *e, const NcValue *value, gboolean replace, GError **error)
{
  g_autoptr (NcMap) m = NULL;
  if (value->type == NC_VALUE_MAP)
    m = nc_map_ref (value->u.map);
  else if (value->type == NC_VALUE_NODE || value->type == NC_VALUE_REL)
    {
      m = value->u.entity->is_rel ? nc_txn_rel_props (x->txn, value->u.entity->id) : nc_txn_node_props (x->txn, value->u.entity->id);
      if (m == NULL)
        m = nc_map_new (0);
    }
  else if (value->type == NC_VALUE_NULL)
    m = nc_map_new (0);
  else
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Map, Node or Relationship but was %s",
                   nc_value_type_name (value->type));
      return FALSE;
    }
  if (replace)
    {
      g_autoptr (NcMap) old = e->is_rel ? nc_txn_rel_props (x->txn, e->id) : nc_txn_node_props (x->txn, e->id);
      if (old)
        for (guint32 i = 0; i < old->len; i++)
          {
            const NcValue *nv = nc_map_get (m, old->entries[i].key->data);
            if (nv == NULL)
              {
                NcValue null = nc_value_null ();
                if (!set_prop (x, e, old->entries[i].key->data, &null, error))
                  return FALSE;
              }
          }
    }
  for (guint32 i = 0; i < m->len; i++)
    if (!set_prop (x, e, m->entries[i].key->data, &m->entries[i].value, error))
      return FALSE;
  return TRUE;
}

gboolean
nc_apply_set_items (NcExecCtx *x, GPtrArray *items, NcValue *row, GError **error)
{
  for (guint i = 0; items && i < items->len; i++)
    {
      NcSetItem *it = items->pdata[i];
      g_auto (NcValue) t = nc_value_null ();
      if (it->kind == NC_SET_PROP && it->target->kind != NC_EX_VAR)
        {
          /* SET (expr).key: the target may be a map (an error) or null */
          if (!nc_eval (x, it->target, row, &t, error))
            return FALSE;
          if (t.type != NC_VALUE_NULL && t.type != NC_VALUE_NODE && t.type != NC_VALUE_REL)
            {
              g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Node or Relationship but was %s",
                           nc_value_type_name (t.type));
              return FALSE;
            }
        }
      else if (!entity_target (x, it, row, &t, error))
        return FALSE;
      if (t.type == NC_VALUE_NULL)
        continue;
      const NcEntity *e = t.u.entity;
      switch (it->kind)
        {
        case NC_SET_PROP:
          {
            g_auto (NcValue) v = nc_value_null ();
            if (!nc_eval (x, it->value, row, &v, error) || !set_prop (x, e, it->key, &v, error))
              return FALSE;
            break;
          }
        case NC_REMOVE_PROP:
          {
            NcValue null = nc_value_null ();
            if (!set_prop (x, e, it->key, &null, error))
              return FALSE;
            break;
          }
        case NC_SET_REPLACE:
        case NC_SET_MERGE:
          {
            g_auto (NcValue) v = nc_value_null ();
            if (!nc_eval (x, it->value, row, &v, error) || !set_map (x, e, &v, it->kind == NC_SET_REPLACE, error))
              return FALSE;
            break;
          }
        case NC_SET_LABELS:
        case NC_REMOVE_LABELS:
          {
            if (e->is_rel)
              {
                g_set_error_literal (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Node but was Relationship");
                return FALSE;
              }
            for (guint l = 0; l < it->labels->len; l++)
              {
                gboolean add = it->kind == NC_SET_LABELS;
                NcToken tok = nc_store_token (x->store, NC_TOKEN_LABEL, it->labels->pdata[l], add);
                if (tok == NC_TOKEN_NONE)
                  continue;
                gboolean has = nc_txn_node_has_label (x->txn, e->id, tok);
                if (has == add)
                  continue;
                GError *local = NULL;
                gboolean ok = add ? nc_txn_add_label (x->txn, e->id, tok, &local)
                                  : nc_txn_remove_label (x->txn, e->id, tok, &local);
                if (!ok)
                  return store_fail (error, local);
                x->did_write = TRUE;
                if (add)
                  x->stats.labels_added++;
                else
                  x->stats.labels_removed++;
              }
            break;
          }
        }
    }
  return TRUE;
}

typedef struct {
  NcOp op;
  GPtrArray *items;
  GPtrArray *buf;
  gboolean built;
  guint emit;
} SetOp;

static gboolean
set_next (NcOp *op, GError **error)
{
  SetOp *s = (SetOp *) op;
  NcExecCtx *x = op->x;
  if (!s->built)
    {
      s->built = TRUE;
      while (nc_op_next (op->child, error))
        {
          if (!nc_exec_tick (x, error) || !nc_exec_account (x, x->width * sizeof (NcValue) + 32, error))
            return FALSE;
          g_ptr_array_add (s->buf, nc_row_dup (op->child->row, x->width));
        }
      if (error && *error)
        return FALSE;
      for (guint r = 0; r < s->buf->len; r++)
        {
          if (!nc_exec_tick (x, error))
            return FALSE;
          if (!nc_apply_set_items (x, s->items, s->buf->pdata[r], error))
            return FALSE;
        }
    }
  if (s->emit >= s->buf->len)
    return FALSE;
  NcValue *row = s->buf->pdata[s->emit];
  s->buf->pdata[s->emit++] = NULL;
  nc_row_copy (op->row, row, x->width);
  nc_row_free (row, x->width);
  /* the buffered row is handed on: it no longer counts */
  nc_exec_account (op->x, -(gssize) (op->x->width * sizeof (NcValue) + 32), NULL);
  return TRUE;
}

static void
set_reset (NcOp *op)
{
  SetOp *s = (SetOp *) op;
  for (guint i = 0; i < s->buf->len; i++)
    nc_row_free (s->buf->pdata[i], op->x->width);
  g_ptr_array_set_size (s->buf, 0);
  s->built = FALSE;
  s->emit = 0;
}

static void
set_free (NcOp *op)
{
  set_reset (op);
  g_ptr_array_unref (((SetOp *) op)->buf);
}

static const NcOpClass set_class = { "SetProperties", set_next, set_reset, set_free };

NcOp *
nc_op_set_new (NcExecCtx *x, NcOp *child, GPtrArray *items)
{
  SetOp *s = nc_op_alloc (sizeof (SetOp), &set_class, x, child);
  s->items = items;
  s->buf = g_ptr_array_new ();
  return &s->op;
}
