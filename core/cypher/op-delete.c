#define G_LOG_DOMAIN "nornicdb-cypher"

/* DELETE / DETACH DELETE: eager. All targets of all rows are collected
 * first; relationships are deleted before nodes, so that
 * `MATCH (a)-[r]-() DELETE a, r` succeeds as in Neo4j (which checks for
 * dangling relationships at commit). */

#include "engine.h"

typedef struct {
  NcOp op;
  GPtrArray *exprs;
  gboolean detach;
  GPtrArray *buf;
  gboolean built;
  guint emit;
} DeleteOp;

static gboolean
collect (NcExecCtx *x, const NcValue *v, GArray *nodes, GArray *rels, GError **error)
{
  switch (v->type)
    {
    case NC_VALUE_NULL:
      return TRUE;
    case NC_VALUE_NODE:
      g_array_append_val (nodes, v->u.entity->id);
      return TRUE;
    case NC_VALUE_REL:
      g_array_append_val (rels, v->u.entity->id);
      return TRUE;
    case NC_VALUE_PATH:
      for (guint32 i = 0; i < v->u.path->n_nodes; i++)
        g_array_append_val (nodes, v->u.path->nodes[i].u.entity->id);
      for (guint32 i = 0; i + 1 < v->u.path->n_nodes; i++)
        g_array_append_val (rels, v->u.path->rels[i].u.entity->id);
      return TRUE;
    case NC_VALUE_LIST:
      for (guint32 i = 0; i < v->u.list->len; i++)
        if (!collect (x, &v->u.list->items[i], nodes, rels, error))
          return FALSE;
      return TRUE;
    default:
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Node, Path or Relationship but was %s",
                   nc_value_type_name (v->type));
      return FALSE;
    }
}

static gboolean
delete_build (DeleteOp *d, GError **error)
{
  NcOp *op = &d->op;
  NcExecCtx *x = op->x;
  g_autoptr (GArray) nodes = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) rels = g_array_new (FALSE, FALSE, sizeof (gint64));
  while (nc_op_next (op->child, error))
    {
      if (!nc_exec_tick (x, error) || !nc_exec_account (x, x->width * sizeof (NcValue) + 32, error))
        return FALSE;
      NcValue *row = nc_row_dup (op->child->row, x->width);
      g_ptr_array_add (d->buf, row);
      for (guint i = 0; i < d->exprs->len; i++)
        {
          g_auto (NcValue) v = nc_value_null ();
          if (!nc_eval (x, d->exprs->pdata[i], row, &v, error) || !collect (x, &v, nodes, rels, error))
            return FALSE;
        }
    }
  if (error && *error)
    return FALSE;
  for (guint i = 0; i < rels->len; i++)
    {
      gint64 id = g_array_index (rels, gint64, i);
      if (!nc_txn_rel_exists (x->txn, id))
        continue;
      GError *local = NULL;
      if (!nc_txn_delete_rel (x->txn, id, &local))
        {
          nc_cypher_propagate_store_error (error, local);
          return FALSE;
        }
      x->did_write = TRUE;
      x->stats.relationships_deleted++;
    }
  for (guint i = 0; i < nodes->len; i++)
    {
      if (!nc_exec_tick (x, error))
        return FALSE;
      gint64 id = g_array_index (nodes, gint64, i);
      if (!nc_txn_node_exists (x->txn, id))
        continue;
      gint64 degree = d->detach ? nc_txn_node_degree (x->txn, id, NC_DIR_BOTH, NC_TOKEN_NONE) : 0;
      GError *local = NULL;
      if (!nc_txn_delete_node (x->txn, id, d->detach, &local))
        {
          nc_cypher_propagate_store_error (error, local);
          return FALSE;
        }
      x->did_write = TRUE;
      x->stats.nodes_deleted++;
      x->stats.relationships_deleted += degree;
    }
  return TRUE;
}

static gboolean
delete_next (NcOp *op, GError **error)
{
  DeleteOp *d = (DeleteOp *) op;
  if (!d->built)
    {
      d->built = TRUE;
      if (!delete_build (d, error))
        return FALSE;
    }
  if (d->emit >= d->buf->len)
    return FALSE;
  NcValue *row = d->buf->pdata[d->emit];
  d->buf->pdata[d->emit++] = NULL;
  nc_row_copy (op->row, row, op->x->width);
  nc_row_free (row, op->x->width);
  /* the buffered row is handed on: it no longer counts */
  nc_exec_account (op->x, -(gssize) (op->x->width * sizeof (NcValue) + 32), NULL);
  return TRUE;
}

static void
delete_reset (NcOp *op)
{
  DeleteOp *d = (DeleteOp *) op;
  for (guint i = 0; i < d->buf->len; i++)
    nc_row_free (d->buf->pdata[i], op->x->width);
  g_ptr_array_set_size (d->buf, 0);
  d->built = FALSE;
  d->emit = 0;
}

static void
delete_free (NcOp *op)
{
  delete_reset (op);
  g_ptr_array_unref (((DeleteOp *) op)->buf);
}

static const NcOpClass delete_class = { "Delete", delete_next, delete_reset, delete_free };
static const NcOpClass detach_class = { "DetachDelete", delete_next, delete_reset, delete_free };

NcOp *
nc_op_delete_new (NcExecCtx *x, NcOp *child, GPtrArray *exprs, gboolean detach)
{
  DeleteOp *d = nc_op_alloc (sizeof (DeleteOp), detach ? &detach_class : &delete_class, x, child);
  d->exprs = exprs;
  d->detach = detach;
  d->buf = g_ptr_array_new ();
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < exprs->len; i++)
    {
      if (i)
        g_string_append (s, ", ");
      nc_expr_unparse (exprs->pdata[i], s);
    }
  d->op.details = g_string_free (s, FALSE);
  return &d->op;
}
