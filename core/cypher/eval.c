#define G_LOG_DOMAIN "nornicdb-cypher"

#include "engine.h"

#include <math.h>
#include <string.h>

/* ---- context helpers ------------------------------------------------------ */

void
nc_set_timeout_error (GError **error)
{
  g_set_error_literal (error, NC_ERROR, NC_ERROR_TX_TIMEOUT,
                       "The transaction has been terminated. Retry your operation in a new transaction, and you "
                       "should see a successful result. The transaction has not completed within the specified "
                       "timeout (dbms.transaction.timeout).");
}

gboolean
nc_exec_tick (NcExecCtx *x, GError **error)
{
  if ((++x->tick & 1023) != 0 || x->ctx->deadline_us == 0)
    return TRUE;
  if (g_get_monotonic_time () > x->ctx->deadline_us)
    {
      nc_set_timeout_error (error);
      return FALSE;
    }
  return TRUE;
}

gsize
nc_value_estimate (const NcValue *v)
{
  gsize n = sizeof (NcValue);
  switch (v->type)
    {
    case NC_VALUE_STRING: return n + 16 + v->u.s->len;
    case NC_VALUE_BYTES: return n + 16 + v->u.bytes->len;
    case NC_VALUE_LIST:
      n += 16;
      for (guint32 i = 0; i < v->u.list->len; i++)
        n += nc_value_estimate (&v->u.list->items[i]);
      return n;
    case NC_VALUE_MAP:
      n += 16;
      for (guint32 i = 0; i < v->u.map->len; i++)
        n += 24 + v->u.map->entries[i].key->len + nc_value_estimate (&v->u.map->entries[i].value);
      return n;
    case NC_VALUE_NODE: case NC_VALUE_REL: return n + sizeof (NcEntity);
    case NC_VALUE_PATH: return n + 64 + v->u.path->n_nodes * 2 * (sizeof (NcValue) + sizeof (NcEntity));
    default: return n;
    }
}

gboolean
nc_exec_account (NcExecCtx *x, gssize bytes, GError **error)
{
  if (bytes < 0 && (gsize) -bytes > x->mem_used)
    x->mem_used = 0;
  else
    x->mem_used += bytes;
  if (bytes > 0 && x->ctx->memory_limit > 0 && x->mem_used > x->ctx->memory_limit)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_MEMORY_LIMIT,
                   "The allocation of an extra %" G_GSSIZE_FORMAT " B would use more than the limit %" G_GSIZE_FORMAT
                   " B. Currently using %" G_GSIZE_FORMAT " B. dbms.memory.transaction.total.max threshold reached",
                   bytes, x->ctx->memory_limit, x->mem_used - bytes);
      return FALSE;
    }
  return TRUE;
}

static const char *
type_label (const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NULL: return "Null";
    case NC_VALUE_BOOL: return "Boolean";
    case NC_VALUE_INT: return "Integer";
    case NC_VALUE_FLOAT: return "Float";
    case NC_VALUE_STRING: return "String";
    case NC_VALUE_BYTES: return "ByteArray";
    case NC_VALUE_LIST: return "List";
    case NC_VALUE_MAP: return "Map";
    case NC_VALUE_NODE: return "Node";
    case NC_VALUE_REL: return "Relationship";
    case NC_VALUE_PATH: return "Path";
    case NC_VALUE_DATE: return "Date";
    case NC_VALUE_LOCAL_TIME: return "LocalTime";
    case NC_VALUE_TIME: return "Time";
    case NC_VALUE_LOCAL_DATETIME: return "LocalDateTime";
    case NC_VALUE_DATETIME: return "DateTime";
    case NC_VALUE_DURATION: return "Duration";
    case NC_VALUE_POINT: return "Point";
    default: return "Any";
    }
}

static gboolean
type_error (GError **error, const char *expected, const NcValue *v)
{
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected %s but was %s", expected, type_label (v));
  return FALSE;
}

/* ---- entities ----------------------------------------------------------- */

static gboolean
deleted_error (GError **error, gboolean is_rel, gint64 id)
{
  g_set_error (error, NC_ERROR, NC_ERROR_ENTITY_NOT_FOUND, "%s with id %" G_GINT64_FORMAT " has been deleted in this transaction",
               is_rel ? "Relationship" : "Node", id);
  return FALSE;
}

static NcTokenCacheEntry *
token_cache_find (NcTokenCacheEntry *cache, const char *ast_name)
{
  return &cache[((guintptr) ast_name >> 3) % NC_TOKEN_CACHE_SIZE];
}

NcToken
nc_exec_label_token (NcExecCtx *x, const char *ast_name)
{
  NcTokenCacheEntry *c = token_cache_find (x->label_cache, ast_name);
  if (c->name == ast_name)
    return c->tok;
  NcToken t = nc_store_token (x->store, NC_TOKEN_LABEL, ast_name, FALSE);
  if (t != NC_TOKEN_NONE)
    {
      c->name = ast_name;
      c->tok = t;
    }
  return t;
}

const NcString *
nc_exec_key_string (NcExecCtx *x, const char *ast_name)
{
  NcTokenCacheEntry *c = token_cache_find (x->key_cache, ast_name);
  if (c->name == ast_name)
    return c->key;
  NcToken t = nc_store_token (x->store, NC_TOKEN_PROP_KEY, ast_name, FALSE);
  if (t == NC_TOKEN_NONE)
    return NULL;
  const NcString *ks = nc_store_key_string (x->store, t);
  if (ks != NULL)
    {
      c->name = ast_name;
      c->tok = t;
      c->key = ks;
    }
  return ks;
}

/* `var.key` with `key` from the AST: the property read of every scan row,
 * without the token lookup (nc_exec_key_string) or a copy of the entity. */
static gboolean
eval_prop_of_var (NcExecCtx *x, const NcExpr *e, const NcValue *base, NcValue *out, GError **error)
{
  const NcEntity *en = base->u.entity;
  const NcString *ks = nc_exec_key_string (x, e->name);
  gboolean visible = TRUE;
  *out = nc_value_null ();
  if (x->fetch_enabled && e->a->slot == x->fetch_slot && !en->is_rel && ks != NULL)
    {
      if (x->fetch_key == NULL)
        {
          /* the scan reads this key from its next batch on */
          x->fetch_key = ks;
          x->fetch_tok = nc_store_token (x->store, NC_TOKEN_PROP_KEY, e->name, FALSE);
        }
      else if (x->memo_set && x->memo_id == en->id && x->fetch_key == ks
               && (!nc_txn_is_write (x->txn) || nc_writeset_len (nc_txn_writeset (x->txn)) == 0))
        {
          *out = nc_value_copy (&x->memo_val);
          return TRUE;
        }
    }
  if (ks != NULL)
    *out = nc_txn_prop_interned (x->txn, en->is_rel, en->id, ks, &visible);
  else
    visible = en->is_rel ? nc_txn_rel_exists (x->txn, en->id) : nc_txn_node_exists (x->txn, en->id);
  if (!visible && nc_txn_deleted_in_txn (x->txn, en->is_rel, en->id))
    return deleted_error (error, en->is_rel, en->id);
  return TRUE;
}

gboolean
nc_eval_property (NcExecCtx *x, const NcValue *v, const char *key, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  switch (v->type)
    {
    case NC_VALUE_NULL:
      return TRUE;
    case NC_VALUE_NODE:
    case NC_VALUE_REL:
      {
        const NcEntity *e = v->u.entity;
        NcToken tok = nc_store_token (x->store, NC_TOKEN_PROP_KEY, key, FALSE);
        if (tok != NC_TOKEN_NONE)
          *out = e->is_rel ? nc_txn_rel_prop (x->txn, e->id, tok) : nc_txn_node_prop (x->txn, e->id, tok);
        if (out->type == NC_VALUE_NULL)
          {
            gboolean exists = e->is_rel ? nc_txn_rel_exists (x->txn, e->id) : nc_txn_node_exists (x->txn, e->id);
            if (!exists && nc_txn_deleted_in_txn (x->txn, e->is_rel, e->id))
              return deleted_error (error, e->is_rel, e->id);
          }
        return TRUE;
      }
    case NC_VALUE_MAP:
      {
        const NcValue *f = nc_map_get (v->u.map, key);
        if (f)
          *out = nc_value_copy (f);
        return TRUE;
      }
    case NC_VALUE_DATE: case NC_VALUE_LOCAL_TIME: case NC_VALUE_TIME: case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME: case NC_VALUE_DURATION: case NC_VALUE_POINT:
      return nc_cypher_value_field (v, key, out, error);
    default:
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected Map, Node, Relationship, temporal or point value but was %s (InvalidArgumentType)",
                   type_label (v));
      return FALSE;
    }
}

static NcMap *
entity_props (NcExecCtx *x, const NcValue *v, GError **error)
{
  const NcEntity *e = v->u.entity;
  NcMap *m = e->is_rel ? nc_txn_rel_props (x->txn, e->id) : nc_txn_node_props (x->txn, e->id);
  if (m == NULL)
    {
      deleted_error (error, e->is_rel, e->id);
      return NULL;
    }
  return m;
}

NcValue
nc_materialise (NcExecCtx *x, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NODE:
    case NC_VALUE_REL:
      {
        if (v->u.entity->materialised)
          return nc_value_copy (v);
        NcValue m = v->u.entity->is_rel ? nc_txn_materialise_rel (x->txn, v->u.entity->id)
                                        : nc_txn_materialise_node (x->txn, v->u.entity->id);
        if (m.type == NC_VALUE_NULL)
          {
            /* deleted in this transaction: an empty shell with its id */
            NcEntity *e = nc_entity_new (v->u.entity->is_rel, v->u.entity->id);
            e->materialised = TRUE;
            e->start_id = v->u.entity->start_id;
            e->end_id = v->u.entity->end_id;
            e->props = nc_map_new (0);
            if (e->is_rel)
              e->rel_type = nc_string_new ("", 0);
            return nc_value_entity_take (e);
          }
        return m;
      }
    case NC_VALUE_PATH:
      {
        const NcPath *p = v->u.path;
        NcPath *np = nc_path_new (p->n_nodes);
        for (guint32 i = 0; i < p->n_nodes; i++)
          np->nodes[i] = nc_materialise (x, &p->nodes[i]);
        for (guint32 i = 0; i + 1 < p->n_nodes; i++)
          np->rels[i] = nc_materialise (x, &p->rels[i]);
        return nc_value_path_take (np);
      }
    case NC_VALUE_LIST:
      {
        NcList *l = nc_list_new (v->u.list->len);
        for (guint32 i = 0; i < v->u.list->len; i++)
          l->items[i] = nc_materialise (x, &v->u.list->items[i]);
        return nc_value_list_take (l);
      }
    case NC_VALUE_MAP:
      {
        NcMap *m = nc_map_new (v->u.map->len);
        for (guint32 i = 0; i < v->u.map->len; i++)
          nc_map_append (m, v->u.map->entries[i].key->data, nc_materialise (x, &v->u.map->entries[i].value));
        return nc_value_map_take (m);
      }
    default:
      return nc_value_copy (v);
    }
}

gboolean
nc_check_property_value (const NcValue *v, GError **error)
{
  switch (v->type)
    {
    case NC_VALUE_MAP: case NC_VALUE_NODE: case NC_VALUE_REL: case NC_VALUE_PATH:
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                   "Property values can only be of primitive types or arrays thereof (got %s)", type_label (v));
      return FALSE;
    case NC_VALUE_LIST:
      {
        NcValueType t = NC_VALUE_NULL;
        for (guint32 i = 0; i < v->u.list->len; i++)
          {
            const NcValue *it = &v->u.list->items[i];
            if (it->type == NC_VALUE_LIST || it->type == NC_VALUE_MAP || it->type == NC_VALUE_NODE
                || it->type == NC_VALUE_REL || it->type == NC_VALUE_PATH)
              {
                g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                             "Property values can only be of primitive types or arrays thereof (got a list containing %s)",
                             type_label (it));
                return FALSE;
              }
            if (it->type == NC_VALUE_NULL)
              {
                g_set_error_literal (error, NC_ERROR, NC_ERROR_TYPE,
                                     "Collections containing null values can not be stored in properties.");
                return FALSE;
              }
            NcValueType ti = it->type == NC_VALUE_FLOAT ? NC_VALUE_INT : it->type;
            if (t != NC_VALUE_NULL && ti != t)
              {
                g_set_error_literal (error, NC_ERROR, NC_ERROR_TYPE,
                                     "Collections containing mixed types can not be stored in properties.");
                return FALSE;
              }
            t = ti;
          }
        return TRUE;
      }
    default:
      return TRUE;
    }
}

NcValue
nc_build_path (NcExecCtx *x, const NcValue *nodes, const NcValue *rels, guint n_nodes)
{
  /* Expand relationship lists (variable length) into single hops. */
  g_autoptr (GArray) pn = g_array_new (FALSE, FALSE, sizeof (NcValue));
  g_autoptr (GArray) pr = g_array_new (FALSE, FALSE, sizeof (NcValue));
  if (n_nodes == 0 || nodes[0].type != NC_VALUE_NODE)
    return nc_value_null ();
  NcValue first = nc_value_copy (&nodes[0]);
  g_array_append_val (pn, first);
  for (guint i = 0; i + 1 < n_nodes; i++)
    {
      const NcValue *r = &rels[i];
      if (r->type == NC_VALUE_LIST)
        {
          gint64 cur = g_array_index (pn, NcValue, pn->len - 1).u.entity->id;
          for (guint32 k = 0; k < r->u.list->len; k++)
            {
              const NcValue *rk = &r->u.list->items[k];
              NcValue rc = nc_value_copy (rk);
              g_array_append_val (pr, rc);
              gint64 other = rk->u.entity->start_id == cur ? rk->u.entity->end_id : rk->u.entity->start_id;
              NcValue nv = nc_value_node_ref (other);
              g_array_append_val (pn, nv);
              cur = other;
            }
          /* the pattern's next node is the last reached node */
          continue;
        }
      if (r->type != NC_VALUE_REL || nodes[i + 1].type != NC_VALUE_NODE)
        {
          for (guint k = 0; k < pn->len; k++)
            nc_value_clear (&g_array_index (pn, NcValue, k));
          for (guint k = 0; k < pr->len; k++)
            nc_value_clear (&g_array_index (pr, NcValue, k));
          return nc_value_null ();
        }
      NcValue rc = nc_value_copy (r);
      g_array_append_val (pr, rc);
      NcValue nv = nc_value_copy (&nodes[i + 1]);
      g_array_append_val (pn, nv);
    }
  NcPath *p = nc_path_new (pn->len);
  memcpy (p->nodes, pn->data, pn->len * sizeof (NcValue));
  memcpy (p->rels, pr->data, pr->len * sizeof (NcValue));
  return nc_value_path_take (p);
}

/* ---- expression evaluation --------------------------------------------- */

typedef NcTri Tri;

static gboolean
to_tri (const NcValue *v, Tri *t, GError **error)
{
  if (v->type == NC_VALUE_NULL)
    *t = NC_TRI_NULL;
  else if (v->type == NC_VALUE_BOOL)
    *t = v->u.b ? NC_TRI_TRUE : NC_TRI_FALSE;
  else
    return type_error (error, "Boolean", v);
  return TRUE;
}

static NcValue
tri_value (Tri t)
{
  return t == NC_TRI_NULL ? nc_value_null () : nc_value_bool (t == NC_TRI_TRUE);
}

gboolean
nc_eval_pred (NcExecCtx *x, const NcExpr *e, NcValue *row, gboolean *result, GError **error)
{
  g_auto (NcValue) v = nc_value_null ();
  if (!nc_eval (x, e, row, &v, error))
    return FALSE;
  Tri t;
  if (!to_tri (&v, &t, error))
    return FALSE;
  *result = t == NC_TRI_TRUE;
  return TRUE;
}

static Tri
compare_op (int op, const NcValue *a, const NcValue *b)
{
  if (op == NC_CMP_EQ)
    return nc_value_equals (a, b);
  if (op == NC_CMP_NE)
    {
      Tri t = nc_value_equals (a, b);
      return t == NC_TRI_NULL ? t : t == NC_TRI_TRUE ? NC_TRI_FALSE : NC_TRI_TRUE;
    }
  int c;
  gboolean na = a->type == NC_VALUE_INT || a->type == NC_VALUE_FLOAT;
  gboolean nb = b->type == NC_VALUE_INT || b->type == NC_VALUE_FLOAT;
  /* NaN is comparable with numbers, and every ordering comparison is false */
  if (na && nb && ((a->type == NC_VALUE_FLOAT && isnan (a->u.f)) || (b->type == NC_VALUE_FLOAT && isnan (b->u.f))))
    return NC_TRI_FALSE;
  if (a->type == NC_VALUE_NULL || b->type == NC_VALUE_NULL || !nc_value_compare (a, b, &c))
    return NC_TRI_NULL;
  switch (op)
    {
    case NC_CMP_LT: return c < 0;
    case NC_CMP_GT: return c > 0;
    case NC_CMP_LE: return c <= 0;
    default: return c >= 0;
    }
}

static gboolean
eval_index (NcExecCtx *x, const NcValue *c, const NcValue *i, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  if (c->type == NC_VALUE_NULL || i->type == NC_VALUE_NULL)
    return TRUE;
  if (c->type == NC_VALUE_LIST)
    {
      if (i->type != NC_VALUE_INT)
        return type_error (error, "Integer", i);
      gint64 n = c->u.list->len, k = i->u.i;
      if (k < 0)
        k += n;
      if (k >= 0 && k < n)
        *out = nc_value_copy (&c->u.list->items[k]);
      return TRUE;
    }
  if (c->type == NC_VALUE_MAP || c->type == NC_VALUE_NODE || c->type == NC_VALUE_REL)
    {
      if (i->type != NC_VALUE_STRING)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: map element access requires a String key but was %s (MapElementAccessByNonString)",
                       type_label (i));
          return FALSE;
        }
      return nc_eval_property (x, c, nc_value_str (i), out, error);
    }
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected List or Map but was %s (InvalidArgumentType)", type_label (c));
  return FALSE;
}

static GRegex *
get_regex (NcExecCtx *x, const char *pattern, GError **error)
{
  GRegex *re = g_hash_table_lookup (x->regex_cache, pattern);
  if (re)
    return re;
  g_autofree char *anchored = g_strdup_printf ("\\A(?:%s)\\z", pattern);
  GError *local = NULL;
  re = g_regex_new (anchored, 0, 0, &local);
  if (re == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Invalid Regex: %s", local->message);
      g_error_free (local);
      return NULL;
    }
  g_hash_table_insert (x->regex_cache, g_strdup (pattern), re);
  return re;
}

static gboolean
eval_subplan_rows (NcExecCtx *x, const NcExpr *e, NcValue *row, NcOp **op_out, GError **error)
{
  NcOp *arg = NULL;
  NcOp *op = nc_plan_expr_subplan (x, e, &arg, error);
  if (op == NULL)
    return FALSE;
  nc_op_once_set_argument (arg, row);
  nc_op_reset (op);
  *op_out = op;
  return TRUE;
}

static gboolean
eval_list_ops (NcExecCtx *x, const NcExpr *e, NcValue *row, NcValue *out, GError **error)
{
  g_auto (NcValue) list = nc_value_null ();
  if (!nc_eval (x, e->a, row, &list, error))
    return FALSE;
  if (list.type == NC_VALUE_NULL)
    {
      *out = nc_value_null ();
      return TRUE;
    }
  if (list.type != NC_VALUE_LIST)
    return type_error (error, "List", &list);
  NcValue saved = row[e->slot];
  row[e->slot] = nc_value_null ();
  gboolean ok = TRUE;
  const NcList *l = list.u.list;
  if (e->kind == NC_EX_LIST_COMP)
    {
      g_autoptr (GArray) res = g_array_new (FALSE, FALSE, sizeof (NcValue));
      for (guint32 i = 0; ok && i < l->len; i++)
        {
          nc_value_clear (&row[e->slot]);
          row[e->slot] = nc_value_copy (&l->items[i]);
          gboolean keep = TRUE;
          if (e->b && !(ok = nc_eval_pred (x, e->b, row, &keep, error)))
            break;
          if (!keep)
            continue;
          NcValue v;
          if (e->c)
            {
              if (!(ok = nc_eval (x, e->c, row, &v, error)))
                break;
            }
          else
            v = nc_value_copy (&l->items[i]);
          g_array_append_val (res, v);
        }
      if (ok)
        {
          NcList *nl = nc_list_new (res->len);
          memcpy (nl->items, res->data, res->len * sizeof (NcValue));
          *out = nc_value_list_take (nl);
        }
      else
        for (guint i = 0; i < res->len; i++)
          nc_value_clear (&g_array_index (res, NcValue, i));
    }
  else
    {
      /* quantifiers with three-valued logic */
      guint n_true = 0, n_null = 0;
      for (guint32 i = 0; ok && i < l->len; i++)
        {
          nc_value_clear (&row[e->slot]);
          row[e->slot] = nc_value_copy (&l->items[i]);
          Tri t = NC_TRI_TRUE;
          if (e->b)
            {
              g_auto (NcValue) v = nc_value_null ();
              if (!(ok = nc_eval (x, e->b, row, &v, error)) || !(ok = to_tri (&v, &t, error)))
                break;
            }
          if (t == NC_TRI_TRUE)
            n_true++;
          else if (t == NC_TRI_NULL)
            n_null++;
        }
      if (ok)
        {
          guint n = l->len, n_false = n - n_true - n_null;
          Tri r;
          switch (e->op)
            {
            case NC_QUANT_ALL: r = n_false > 0 ? NC_TRI_FALSE : n_null > 0 ? NC_TRI_NULL : NC_TRI_TRUE; break;
            case NC_QUANT_ANY: r = n_true > 0 ? NC_TRI_TRUE : n_null > 0 ? NC_TRI_NULL : NC_TRI_FALSE; break;
            case NC_QUANT_NONE: r = n_true > 0 ? NC_TRI_FALSE : n_null > 0 ? NC_TRI_NULL : NC_TRI_TRUE; break;
            default: r = n_true > 1 ? NC_TRI_FALSE : n_null > 0 ? NC_TRI_NULL : n_true == 1 ? NC_TRI_TRUE : NC_TRI_FALSE; break;
            }
          *out = tri_value (r);
        }
    }
  nc_value_clear (&row[e->slot]);
  row[e->slot] = saved;
  return ok;
}

static gboolean
eval_map_projection (NcExecCtx *x, const NcExpr *e, NcValue *row, NcValue *out, GError **error)
{
  const NcValue *base = &row[e->slot];
  if (base->type == NC_VALUE_NULL)
    {
      *out = nc_value_null ();
      return TRUE;
    }
  if (base->type != NC_VALUE_MAP && base->type != NC_VALUE_NODE && base->type != NC_VALUE_REL)
    return type_error (error, "Map, Node or Relationship", base);
  NcMap *m = nc_map_new (0);
  for (guint i = 0; i < e->ops->len; i++)
    {
      int k = g_array_index (e->ops, int, i);
      const char *key = e->keys->pdata[i];
      NcValue v = nc_value_null ();
      if (k == NC_MP_ALL)
        {
          g_autoptr (NcMap) all = NULL;
          if (base->type == NC_VALUE_MAP)
            all = nc_map_ref (base->u.map);
          else if ((all = entity_props (x, base, error)) == NULL)
            {
              nc_map_unref (m);
              return FALSE;
            }
          for (guint32 j = 0; j < all->len; j++)
            {
              NcMap *n2 = nc_map_with (m, all->entries[j].key->data, nc_value_copy (&all->entries[j].value));
              nc_map_unref (m);
              m = n2;
            }
          continue;
        }
      gboolean ok = k == NC_MP_PROP ? nc_eval_property (x, base, key, &v, error)
                                    : nc_eval (x, e->args->pdata[i], row, &v, error);
      if (!ok)
        {
          nc_map_unref (m);
          return FALSE;
        }
      /* keep explicit nulls: nc_map_with removes on null, so append */
      if (v.type == NC_VALUE_NULL)
        {
          NcMap *n2 = nc_map_with (m, key, nc_value_null ());
          nc_map_unref (m);
          NcMap *n3 = nc_map_new (n2->len + 1);
          for (guint32 j = 0; j < n2->len; j++)
            nc_map_append (n3, n2->entries[j].key->data, nc_value_copy (&n2->entries[j].value));
          nc_map_append (n3, key, nc_value_null ());
          nc_map_unref (n2);
          m = n3;
        }
      else
        {
          NcMap *n2 = nc_map_with (m, key, v);
          nc_map_unref (m);
          m = n2;
        }
    }
  *out = nc_value_map_take (m);
  return TRUE;
}

static gboolean
eval_map_literal (NcExecCtx *x, const NcExpr *e, NcValue *row, NcValue *out, GError **error)
{
  NcMap *m = nc_map_new (e->args->len);
  for (guint i = 0; i < e->args->len; i++)
    {
      NcValue v;
      if (!nc_eval (x, e->args->pdata[i], row, &v, error))
        {
          nc_map_unref (m);
          return FALSE;
        }
      const char *key = e->keys->pdata[i];
      if (nc_map_get (m, key) != NULL)
        {
          /* later duplicate wins */
          NcMap *n2 = nc_map_new (m->len);
          for (guint32 j = 0; j < m->len; j++)
            if (strcmp (m->entries[j].key->data, key) != 0)
              nc_map_append (n2, m->entries[j].key->data, nc_value_copy (&m->entries[j].value));
          nc_map_unref (m);
          NcMap *n3 = nc_map_new (e->args->len);
          for (guint32 j = 0; j < n2->len; j++)
            nc_map_append (n3, n2->entries[j].key->data, nc_value_copy (&n2->entries[j].value));
          nc_map_unref (n2);
          m = n3;
        }
      nc_map_append (m, key, v);
    }
  *out = nc_value_map_take (m);
  return TRUE;
}

static gboolean
eval_string_pred (const NcExpr *e, const NcValue *a, const NcValue *b, NcValue *out)
{
  if (a->type != NC_VALUE_STRING || b->type != NC_VALUE_STRING)
    {
      *out = nc_value_null ();
      return TRUE;
    }
  const NcString *s = a->u.s, *t = b->u.s;
  gboolean r;
  if (e->kind == NC_EX_STARTS)
    r = t->len <= s->len && memcmp (s->data, t->data, t->len) == 0;
  else if (e->kind == NC_EX_ENDS)
    r = t->len <= s->len && memcmp (s->data + s->len - t->len, t->data, t->len) == 0;
  else
    r = strstr (s->data, t->data) != NULL;
  *out = nc_value_bool (r);
  return TRUE;
}

static gboolean
eval_slice (NcExecCtx *x, const NcExpr *e, NcValue *row, NcValue *out, GError **error)
{
  g_auto (NcValue) l = nc_value_null (), lo = nc_value_null (), hi = nc_value_null ();
  if (!nc_eval (x, e->a, row, &l, error) || (e->b && !nc_eval (x, e->b, row, &lo, error))
      || (e->c && !nc_eval (x, e->c, row, &hi, error)))
    return FALSE;
  *out = nc_value_null ();
  if (l.type == NC_VALUE_NULL || (e->b && lo.type == NC_VALUE_NULL) || (e->c && hi.type == NC_VALUE_NULL))
    return TRUE;
  if (l.type != NC_VALUE_LIST)
    return type_error (error, "List", &l);
  if ((e->b && lo.type != NC_VALUE_INT) || (e->c && hi.type != NC_VALUE_INT))
    return type_error (error, "Integer", e->b && lo.type != NC_VALUE_INT ? &lo : &hi);
  gint64 n = l.u.list->len;
  gint64 from = e->b ? lo.u.i : 0, to = e->c ? hi.u.i : n;
  if (from < 0) from += n;
  if (to < 0) to += n;
  from = CLAMP (from, 0, n);
  to = CLAMP (to, 0, n);
  gint64 len = to > from ? to - from : 0;
  NcList *nl = nc_list_new (len);
  for (gint64 i = 0; i < len; i++)
    nl->items[i] = nc_value_copy (&l.u.list->items[from + i]);
  *out = nc_value_list_take (nl);
  return TRUE;
}

static gboolean
eval_function (NcExecCtx *x, const NcExpr *e, NcValue *row, NcValue *out, GError **error)
{
  const NcFunctionDef *def = e->fn;
  guint n = e->args->len;
  /* exists((n)-->()) is the pattern predicate itself. */
  if (n == 1 && ((NcExpr *) e->args->pdata[0])->kind == NC_EX_PATTERN && g_ascii_strcasecmp (e->name, "exists") == 0)
    return nc_eval (x, e->args->pdata[0], row, out, error);
  NcValue argv_small[4];
  NcValue *argv = n <= 4 ? argv_small : g_new0 (NcValue, n);
  guint done = 0;
  gboolean ok = TRUE;
  for (; done < n; done++)
    if (!(ok = nc_eval (x, e->args->pdata[done], row, &argv[done], error)))
      break;
  if (ok)
    {
      *out = nc_value_null ();
      ok = def->fn (&x->fctx, argv, n, out, error);
    }
  for (guint i = 0; i < done; i++)
    nc_value_clear (&argv[i]);
  if (argv != argv_small)
    g_free (argv);
  return ok;
}

gboolean
nc_eval (NcExecCtx *x, const NcExpr *e, NcValue *row, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  switch (e->kind)
    {
    case NC_EX_LITERAL:
      *out = nc_value_copy (&e->lit);
      return TRUE;
    case NC_EX_PARAM:
      {
        const NcValue *v = x->params ? nc_map_get (x->params, e->name) : NULL;
        if (v == NULL)
          {
            g_set_error (error, NC_ERROR, NC_ERROR_PARAMETER_MISSING, "Expected parameter(s): %s", e->name);
            return FALSE;
          }
        *out = nc_value_copy (v);
        return TRUE;
      }
    case NC_EX_VAR:
      *out = nc_value_copy (&row[e->slot]);
      return TRUE;
    case NC_EX_PROP:
      if (e->a->kind == NC_EX_VAR && (row[e->a->slot].type == NC_VALUE_NODE || row[e->a->slot].type == NC_VALUE_REL))
        return eval_prop_of_var (x, e, &row[e->a->slot], out, error);
      {
        g_auto (NcValue) base = nc_value_null ();
        if (!nc_eval (x, e->a, row, &base, error))
          return FALSE;
        return nc_eval_property (x, &base, e->name, out, error);
      }
    case NC_EX_INDEX:
      {
        g_auto (NcValue) c = nc_value_null (), i = nc_value_null ();
        if (!nc_eval (x, e->a, row, &c, error) || !nc_eval (x, e->b, row, &i, error))
          return FALSE;
        return eval_index (x, &c, &i, out, error);
      }
    case NC_EX_SLICE:
      return eval_slice (x, e, row, out, error);
    case NC_EX_LIST:
      {
        NcList *l = nc_list_new (e->args->len);
        for (guint i = 0; i < e->args->len; i++)
          if (!nc_eval (x, e->args->pdata[i], row, &l->items[i], error))
            {
              nc_list_unref (l);
              return FALSE;
            }
        *out = nc_value_list_take (l);
        return TRUE;
      }
    case NC_EX_MAP:
      return eval_map_literal (x, e, row, out, error);
    case NC_EX_ARITH:
      {
        g_auto (NcValue) a = nc_value_null (), b = nc_value_null ();
        if (!nc_eval (x, e->a, row, &a, error) || !nc_eval (x, e->b, row, &b, error))
          return FALSE;
        return nc_cypher_arith (e->op, &a, &b, out, error);
      }
    case NC_EX_NEG:
      {
        g_auto (NcValue) a = nc_value_null ();
        if (!nc_eval (x, e->a, row, &a, error))
          return FALSE;
        return nc_cypher_negate (&a, out, error);
      }
    case NC_EX_POS:
      {
        if (!nc_eval (x, e->a, row, out, error))
          return FALSE;
        if (out->type != NC_VALUE_NULL && out->type != NC_VALUE_INT && out->type != NC_VALUE_FLOAT
            && out->type != NC_VALUE_DURATION)
          {
            gboolean r = type_error (error, "Number", out);
            nc_value_clear (out);
            return r;
          }
        return TRUE;
      }
    case NC_EX_NOT:
      {
        g_auto (NcValue) a = nc_value_null ();
        Tri t = NC_TRI_NULL;
        if (!nc_eval (x, e->a, row, &a, error) || !to_tri (&a, &t, error))
          return FALSE;
        *out = tri_value (t == NC_TRI_NULL ? t : t == NC_TRI_TRUE ? NC_TRI_FALSE : NC_TRI_TRUE);
        return TRUE;
      }
    case NC_EX_AND:
    case NC_EX_OR:
    case NC_EX_XOR:
      {
        g_auto (NcValue) a = nc_value_null (), b = nc_value_null ();
        Tri ta = NC_TRI_NULL, tb = NC_TRI_NULL;
        if (!nc_eval (x, e->a, row, &a, error) || !to_tri (&a, &ta, error))
          return FALSE;
        /* short-circuit where the result is decided */
        if (e->kind == NC_EX_AND && ta == NC_TRI_FALSE)
          {
            *out = nc_value_bool (FALSE);
            return TRUE;
          }
        if (e->kind == NC_EX_OR && ta == NC_TRI_TRUE)
          {
            *out = nc_value_bool (TRUE);
            return TRUE;
          }
        if (!nc_eval (x, e->b, row, &b, error) || !to_tri (&b, &tb, error))
          return FALSE;
        Tri r;
        if (e->kind == NC_EX_AND)
          r = tb == NC_TRI_FALSE ? NC_TRI_FALSE : (ta == NC_TRI_NULL || tb == NC_TRI_NULL) ? NC_TRI_NULL : NC_TRI_TRUE;
        else if (e->kind == NC_EX_OR)
          r = tb == NC_TRI_TRUE ? NC_TRI_TRUE : (ta == NC_TRI_NULL || tb == NC_TRI_NULL) ? NC_TRI_NULL : NC_TRI_FALSE;
        else
          r = (ta == NC_TRI_NULL || tb == NC_TRI_NULL) ? NC_TRI_NULL : (ta != tb);
        *out = tri_value (r);
        return TRUE;
      }
    case NC_EX_CMP:
      {
        Tri res = NC_TRI_TRUE;
        g_auto (NcValue) left = nc_value_null ();
        if (!nc_eval (x, e->args->pdata[0], row, &left, error))
          return FALSE;
        for (guint i = 1; i < e->args->len; i++)
          {
            NcValue right;
            if (!nc_eval (x, e->args->pdata[i], row, &right, error))
              return FALSE;
            Tri t = compare_op (g_array_index (e->ops, int, i - 1), &left, &right);
            nc_value_clear (&left);
            left = right;
            if (t == NC_TRI_FALSE)
              res = NC_TRI_FALSE;
            else if (t == NC_TRI_NULL && res == NC_TRI_TRUE)
              res = NC_TRI_NULL;
          }
        *out = tri_value (res);
        return TRUE;
      }
    case NC_EX_IN:
      {
        g_auto (NcValue) a = nc_value_null (), l = nc_value_null ();
        if (!nc_eval (x, e->a, row, &a, error) || !nc_eval (x, e->b, row, &l, error))
          return FALSE;
        if (l.type == NC_VALUE_NULL)
          return TRUE;
        if (l.type != NC_VALUE_LIST)
          return type_error (error, "List", &l);
        Tri r = NC_TRI_FALSE;
        for (guint32 i = 0; i < l.u.list->len; i++)
          {
            Tri t = nc_value_equals (&a, &l.u.list->items[i]);
            if (t == NC_TRI_TRUE)
              {
                r = NC_TRI_TRUE;
                break;
              }
            if (t == NC_TRI_NULL)
              r = NC_TRI_NULL;
          }
        *out = tri_value (r);
        return TRUE;
      }
    case NC_EX_STARTS:
    case NC_EX_ENDS:
    case NC_EX_CONTAINS:
      {
        g_auto (NcValue) a = nc_value_null (), b = nc_value_null ();
        if (!nc_eval (x, e->a, row, &a, error) || !nc_eval (x, e->b, row, &b, error))
          return FALSE;
        return eval_string_pred (e, &a, &b, out);
      }
    case NC_EX_REGEX:
      {
        g_auto (NcValue) a = nc_value_null (), b = nc_value_null ();
        if (!nc_eval (x, e->a, row, &a, error) || !nc_eval (x, e->b, row, &b, error))
          return FALSE;
        if (a.type != NC_VALUE_STRING || b.type != NC_VALUE_STRING)
          return TRUE;
        GRegex *re = get_regex (x, nc_value_str (&b), error);
        if (re == NULL)
          return FALSE;
        *out = nc_value_bool (g_regex_match (re, nc_value_str (&a), 0, NULL));
        return TRUE;
      }
    case NC_EX_IS_NULL:
    case NC_EX_IS_NOT_NULL:
      {
        g_auto (NcValue) a = nc_value_null ();
        if (!nc_eval (x, e->a, row, &a, error))
          return FALSE;
        *out = nc_value_bool ((a.type == NC_VALUE_NULL) == (e->kind == NC_EX_IS_NULL));
        return TRUE;
      }
    case NC_EX_CASE:
      {
        g_auto (NcValue) subject = nc_value_null ();
        if (e->a && !nc_eval (x, e->a, row, &subject, error))
          return FALSE;
        for (guint i = 0; i + 1 < e->args->len; i += 2)
          {
            g_auto (NcValue) w = nc_value_null ();
            if (!nc_eval (x, e->args->pdata[i], row, &w, error))
              return FALSE;
            gboolean hit = e->a ? nc_value_equals (&subject, &w) == NC_TRI_TRUE
                                : (w.type == NC_VALUE_BOOL && w.u.b);
            if (hit)
              return nc_eval (x, e->args->pdata[i + 1], row, out, error);
          }
        if (e->b)
          return nc_eval (x, e->b, row, out, error);
        return TRUE;
      }
    case NC_EX_FUNC:
      if (e->is_agg)
        {
          *out = nc_value_copy (&row[e->slot]);
          return TRUE;
        }
      return eval_function (x, e, row, out, error);
    case NC_EX_COUNT_STAR:
      *out = nc_value_copy (&row[e->slot]);
      return TRUE;
    case NC_EX_LIST_COMP:
    case NC_EX_QUANT:
      return eval_list_ops (x, e, row, out, error);
    case NC_EX_REDUCE:
      {
        g_auto (NcValue) list = nc_value_null ();
        NcValue acc;
        if (!nc_eval (x, e->a, row, &list, error))
          return FALSE;
        if (list.type == NC_VALUE_NULL)
          return TRUE;
        if (list.type != NC_VALUE_LIST)
          return type_error (error, "List", &list);
        if (!nc_eval (x, e->d, row, &acc, error))
          return FALSE;
        NcValue saved_acc = row[e->slot], saved_var = row[e->slot2];
        row[e->slot] = nc_value_null ();
        row[e->slot2] = nc_value_null ();
        gboolean ok = TRUE;
        for (guint32 i = 0; i < list.u.list->len; i++)
          {
            nc_value_clear (&row[e->slot]);
            row[e->slot] = acc;
            nc_value_clear (&row[e->slot2]);
            row[e->slot2] = nc_value_copy (&list.u.list->items[i]);
            if (!(ok = nc_eval (x, e->c, row, &acc, error)))
              break;
          }
        nc_value_clear (&row[e->slot]);
        nc_value_clear (&row[e->slot2]);
        row[e->slot] = saved_acc;
        row[e->slot2] = saved_var;
        if (ok)
          *out = acc;
        return ok;
      }
    case NC_EX_PATTERN:
    case NC_EX_EXISTS_SUB:
    case NC_EX_COUNT_SUB:
    case NC_EX_PATTERN_COMP:
      {
        NcOp *op;
        if (!eval_subplan_rows (x, e, row, &op, error))
          return FALSE;
        gboolean want_list = e->kind == NC_EX_PATTERN_COMP || (e->kind == NC_EX_PATTERN && e->builtin == 1);
        gint64 count = 0;
        g_autoptr (GArray) items = g_array_new (FALSE, FALSE, sizeof (NcValue));
        GError *local = NULL;
        gboolean ok = TRUE;
        while (nc_op_next (op, &local))
          {
            count++;
            if (e->kind == NC_EX_PATTERN_COMP)
              {
                NcValue v;
                if (!(ok = nc_eval (x, e->c, op->row, &v, error)))
                  break;
                g_array_append_val (items, v);
              }
            else if (e->kind == NC_EX_PATTERN && want_list)
              {
                NcValue v = nc_value_copy (&op->row[e->part->path_slot]);
                g_array_append_val (items, v);
              }
            else if (e->kind != NC_EX_COUNT_SUB)
              break;
          }
        if (local)
          {
            g_propagate_error (error, local);
            ok = FALSE;
          }
        if (!ok)
          {
            for (guint i = 0; i < items->len; i++)
              nc_value_clear (&g_array_index (items, NcValue, i));
            return FALSE;
          }
        if (want_list)
          {
            NcList *l = nc_list_new (items->len);
            memcpy (l->items, items->data, items->len * sizeof (NcValue));
            *out = nc_value_list_take (l);
          }
        else if (e->kind == NC_EX_COUNT_SUB)
          *out = nc_value_int (count);
        else
          *out = nc_value_bool (count > 0);
        return TRUE;
      }
    case NC_EX_MAP_PROJ:
      return eval_map_projection (x, e, row, out, error);
    case NC_EX_HAS_LABELS:
      {
        g_auto (NcValue) a = nc_value_null ();
        if (!nc_eval (x, e->a, row, &a, error))
          return FALSE;
        if (a.type == NC_VALUE_NULL)
          return TRUE;
        if (a.type == NC_VALUE_REL)
          {
            /* r:T holds when the relationship has type T */
            NcToken type;
            NcNodeId s0, e0;
            gboolean ok = nc_txn_rel_info (x->txn, a.u.entity->id, &type, &s0, &e0);
            const char *tn = ok ? nc_store_token_name (x->store, NC_TOKEN_REL_TYPE, type) : NULL;
            gboolean all = tn != NULL;
            for (guint i = 0; all && i < e->keys->len; i++)
              all = g_str_equal (tn, e->keys->pdata[i]);
            *out = nc_value_bool (all);
            return TRUE;
          }
        if (a.type != NC_VALUE_NODE)
          return type_error (error, "Node", &a);
        gboolean all = TRUE;
        for (guint i = 0; all && i < e->keys->len; i++)
          {
            NcToken t = nc_store_token (x->store, NC_TOKEN_LABEL, e->keys->pdata[i], FALSE);
            all = t != NC_TOKEN_NONE && nc_txn_node_has_label (x->txn, a.u.entity->id, t);
          }
        *out = nc_value_bool (all);
        return TRUE;
      }
    }
  g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN, "unsupported expression kind %d", e->kind);
  return FALSE;
}
