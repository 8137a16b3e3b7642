#define G_LOG_DOMAIN "nornicdb-cypher"

/* NodeCountFromCountStore: `MATCH (n:Label) RETURN count(n)` answered from
 * the store's per-label counts instead of a scan. */

#include "engine.h"

typedef struct {
  NcOp op;
  int slot;
  NcToken label;
  const char *label_name;
} CountOp;

static gboolean
count_next (NcOp *op, GError **error)
{
  CountOp *c = (CountOp *) op;
  if (!nc_op_next (op->child, error))
    return FALSE;
  nc_row_copy (op->row, op->child->row, op->x->width);
  NcToken t = c->label;
  if (c->label_name && t == NC_TOKEN_NONE)
    t = nc_store_token (op->x->store, NC_TOKEN_LABEL, c->label_name, FALSE);
  gint64 n = c->label_name && t == NC_TOKEN_NONE ? 0 : nc_txn_count_nodes (op->x->txn, t);
  op->db_hits++;
  nc_value_clear (&op->row[c->slot]);
  op->row[c->slot] = nc_value_int (n);
  return TRUE;
}

static const NcOpClass count_class = { "NodeCountFromCountStore", count_next, NULL, NULL };

NcOp *
nc_op_count_store_new (NcExecCtx *x, NcOp *child, int slot, const char *label)
{
  CountOp *c = nc_op_alloc (sizeof (CountOp), &count_class, x, child);
  c->slot = slot;
  c->label_name = label;
  c->label = label ? nc_store_token (x->store, NC_TOKEN_LABEL, label, FALSE) : NC_TOKEN_NONE;
  c->op.details = g_strdup_printf ("count( (:%s) )", label ? label : "");
  return &c->op;
}
