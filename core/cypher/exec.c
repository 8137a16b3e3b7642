#define G_LOG_DOMAIN "nornicdb-cypher"

/* Public API of the engine (cypher.h): the plan cache, prepare, execute,
 * row streaming, statistics and plans; schema and system commands. */

#include "engine.h"
#include "parser.h"
#include "semantic.h"

#include <string.h>

struct _NcCypherQuery {
  gint ref;
  char *text;
  NcStatement *stmt;
  char **fields;
};

/* ---- the plan cache --------------------------------------------------- */

struct _NcCypherCache {
  GMutex lock;
  guint capacity;
  GHashTable *map;   /* text -> GList* node in lru */
  GQueue lru;        /* NcCypherQuery*, most recent at head */
};

NcCypherCache *
nc_cypher_cache_new (guint capacity)
{
  NcCypherCache *c = g_new0 (NcCypherCache, 1);
  g_mutex_init (&c->lock);
  c->capacity = capacity;
  c->map = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&c->lru);
  return c;
}

void
nc_cypher_cache_free (NcCypherCache *cache)
{
  if (cache == NULL)
    return;
  g_hash_table_unref (cache->map);
  g_queue_clear_full (&cache->lru, (GDestroyNotify) nc_cypher_query_unref);
  g_mutex_clear (&cache->lock);
  g_free (cache);
}

NcCypherQuery *
nc_cypher_query_ref (NcCypherQuery *q)
{
  g_atomic_int_inc (&q->ref);
  return q;
}

void
nc_cypher_query_unref (NcCypherQuery *q)
{
  if (q == NULL || !g_atomic_int_dec_and_test (&q->ref))
    return;
  g_free (q->text);
  nc_statement_free (q->stmt);
  g_strfreev (q->fields);
  g_free (q);
}

static const char *const index_fields[] = { "id", "name", "state", "populationPercent", "type", "entityType",
                                            "labelsOrTypes", "properties", "indexProvider", "owningConstraint", NULL };
static const char *const constraint_fields[] = { "id", "name", "type", "entityType", "labelsOrTypes", "properties",
                                                 "ownedIndex", NULL };

static NcCypherQuery *
query_build (const char *text, GError **error)
{
  g_autoptr (NcStatement) s = nc_cypher_parse (text, error);
  if (s == NULL)
    return NULL;
  if (!nc_cypher_analyze (s, text, error))
    return NULL;
  NcCypherQuery *q = g_new0 (NcCypherQuery, 1);
  q->ref = 1;
  q->text = g_strdup (text);
  GStrvBuilder *b = g_strv_builder_new ();
  if (s->kind == NC_STMT_QUERY && s->query->columns)
    for (guint i = 0; i < s->query->columns->len; i++)
      g_strv_builder_add (b, s->query->columns->pdata[i]);
  else if (s->kind == NC_STMT_SHOW_INDEXES)
    g_strv_builder_addv (b, (const char **) index_fields);
  else if (s->kind == NC_STMT_SHOW_CONSTRAINTS)
    g_strv_builder_addv (b, (const char **) constraint_fields);
  else if (s->kind == NC_STMT_SYSTEM && g_str_has_prefix (s->sys_op, "show_"))
    {
      g_strv_builder_add (b, "user");
      g_strv_builder_add (b, "roles");
      g_strv_builder_add (b, "passwordChangeRequired");
    }
  q->fields = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  q->stmt = g_steal_pointer (&s);
  return q;
}

NcCypherQuery *
nc_cypher_prepare (NcCypherCache *cache, const char *text, GError **error)
{
  if (cache == NULL || cache->capacity == 0)
    return query_build (text, error);
  g_mutex_lock (&cache->lock);
  GList *node = g_hash_table_lookup (cache->map, text);
  if (node)
    {
      g_queue_unlink (&cache->lru, node);
      g_queue_push_head_link (&cache->lru, node);
      NcCypherQuery *q = nc_cypher_query_ref (node->data);
      g_mutex_unlock (&cache->lock);
      return q;
    }
  g_mutex_unlock (&cache->lock);
  /* parse outside the lock; a racing thread may insert the same text */
  NcCypherQuery *q = query_build (text, error);
  if (q == NULL)
    return NULL;
  if (q->stmt->no_cache)
    return q;
  g_mutex_lock (&cache->lock);
  if (!g_hash_table_contains (cache->map, q->text))
    {
      g_queue_push_head (&cache->lru, nc_cypher_query_ref (q));
      g_hash_table_insert (cache->map, q->text, cache->lru.head);
      while (cache->lru.length > cache->capacity)
        {
          NcCypherQuery *old = g_queue_pop_tail (&cache->lru);
          g_hash_table_remove (cache->map, old->text);
          nc_cypher_query_unref (old);
        }
    }
  g_mutex_unlock (&cache->lock);
  return q;
}

gboolean
nc_cypher_query_is_write (const NcCypherQuery *q)
{
  const NcStatement *s = q->stmt;
  return (s->kind == NC_STMT_QUERY && s->has_updates) || (s->kind != NC_STMT_QUERY && s->kind != NC_STMT_SHOW_INDEXES
                                                           && s->kind != NC_STMT_SHOW_CONSTRAINTS && s->kind != NC_STMT_SYSTEM);
}

gboolean
nc_cypher_query_is_schema (const NcCypherQuery *q)
{
  NcStatementKind k = q->stmt->kind;
  return k == NC_STMT_CREATE_INDEX || k == NC_STMT_DROP_INDEX || k == NC_STMT_CREATE_CONSTRAINT
         || k == NC_STMT_DROP_CONSTRAINT;
}

gboolean
nc_cypher_query_is_explain (const NcCypherQuery *q)
{
  return q->stmt->explain;
}

const char *const *
nc_cypher_query_fields (const NcCypherQuery *q)
{
  return (const char *const *) q->fields;
}

/* ---- execution ---------------------------------------------------------- */

struct _NcCypherExec {
  NcCypherQuery *q;
  NcExecCtx x;
  NcOp *root;
  GArray *out_slots;
  char **fields;
  guint n_fields;
  NcValue *out_row;
  gboolean done;
  NcQueryType type;
  GPtrArray *rows;       /* precomputed rows (NcValue arrays) for commands */
  guint row_idx;
};

static void
free_rows (NcCypherExec *e)
{
  if (e->rows == NULL)
    return;
  for (guint i = 0; i < e->rows->len; i++)
    {
      NcValue *r = e->rows->pdata[i];
      if (r == NULL)
        continue;
      for (guint k = 0; k < e->n_fields; k++)
        nc_value_clear (&r[k]);
      g_free (r);
    }
  g_clear_pointer (&e->rows, g_ptr_array_unref);
}

static NcSchemaEntry *
find_schema (NcExecCtx *x, GPtrArray *schema, NcSchemaKind kind, const char *name, const char *label, const char *key)
{
  for (guint i = 0; i < schema->len; i++)
    {
      NcSchemaEntry *e = schema->pdata[i];
      if (e->kind != kind)
        continue;
      if (name && g_str_equal (e->name, name))
        return e;
      if (!name && label && key && g_str_equal (nc_store_token_name (x->store, NC_TOKEN_LABEL, e->label), label)
          && g_str_equal (nc_store_token_name (x->store, NC_TOKEN_PROP_KEY, e->key), key))
        return e;
    }
  return NULL;
}

static gboolean
run_schema (NcCypherExec *ex, GError **error)
{
  NcExecCtx *x = &ex->x;
  NcStatement *s = ex->q->stmt;
  g_autoptr (GPtrArray) schema = nc_store_list_schema (x->store);
  gboolean constraint = s->kind == NC_STMT_CREATE_CONSTRAINT || s->kind == NC_STMT_DROP_CONSTRAINT;
  NcSchemaKind kind = constraint ? NC_SCHEMA_UNIQUE : NC_SCHEMA_INDEX;
  const char *what = constraint ? "constraint" : "index";
  GError *local = NULL;
  if (s->kind == NC_STMT_CREATE_INDEX || s->kind == NC_STMT_CREATE_CONSTRAINT)
    {
      NcSchemaEntry *same = find_schema (x, schema, kind, NULL, s->label, s->key);
      NcSchemaEntry *named = s->schema_name ? find_schema (x, schema, kind, s->schema_name, NULL, NULL) : NULL;
      if (named == NULL && s->schema_name)
        named = find_schema (x, schema, constraint ? NC_SCHEMA_INDEX : NC_SCHEMA_UNIQUE, s->schema_name, NULL, NULL);
      if (same || named)
        {
          if (s->if_not_exists)
            return TRUE;
          if (same)
            g_set_error (error, NC_ERROR, NC_ERROR_SCHEMA_EXISTS,
                         "An equivalent %s already exists, '%s'.", what, same->name);
          else
            g_set_error (error, NC_ERROR, NC_ERROR_SCHEMA_EXISTS,
                         "There already exists an index or constraint called '%s'.", s->schema_name);
          return FALSE;
        }
      NcToken label = nc_store_token (x->store, NC_TOKEN_LABEL, s->label, TRUE);
      NcToken key = nc_store_token (x->store, NC_TOKEN_PROP_KEY, s->key, TRUE);
      g_autofree char *name = s->schema_name ? g_strdup (s->schema_name)
                                             : g_strdup_printf ("%s_%s_%s", constraint ? "constraint" : "index", s->label, s->key);
      if (!nc_txn_create_schema (x->txn, kind, name, label, key, s->if_not_exists, &local))
        {
          if (local->domain == NC_STORE_ERROR && local->code == NC_STORE_ERROR_CONSTRAINT)
            {
              g_set_error (error, NC_ERROR, NC_ERROR_CONSTRAINT_FAILED,
                           "Unable to create Constraint( name='%s', type='UNIQUENESS', schema=(:%s {%s}) ): %s",
                           name, s->label, s->key, local->message);
              g_error_free (local);
              return FALSE;
            }
          nc_cypher_propagate_store_error (error, local);
          return FALSE;
        }
      x->did_write = TRUE;
      if (constraint)
        x->stats.constraints_added++;
      else
        x->stats.indexes_added++;
      return TRUE;
    }
  NcSchemaEntry *e = find_schema (x, schema, kind, s->schema_name, s->label, s->key);
  if (e == NULL)
    {
      if (s->if_exists)
        return TRUE;
      if (s->schema_name)
        g_set_error (error, NC_ERROR, NC_ERROR_SCHEMA_MISSING, "Unable to drop %s called `%s`. There is no such %s.",
                     what, s->schema_name, what);
      else
        g_set_error (error, NC_ERROR, NC_ERROR_SCHEMA_MISSING, "Unable to drop %s on (:%s {%s}). There is no such %s.",
                     what, s->label, s->key, what);
      return FALSE;
    }
  if (!nc_txn_drop_schema (x->txn, e->name, FALSE, &local))
    {
      nc_cypher_propagate_store_error (error, local);
      return FALSE;
    }
  x->did_write = TRUE;
  if (constraint)
    x->stats.constraints_removed++;
  else
    x->stats.indexes_removed++;
  return TRUE;
}

static gboolean
run_system (NcCypherExec *ex, GError **error)
{
  NcExecCtx *x = &ex->x;
  NcStatement *s = ex->q->stmt;
  const NcCypherHooks *hooks = x->ctx->hooks;
  if (hooks == NULL || hooks->system_command == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_NOT_SUPPORTED, "User management commands are not supported here (%s)", s->sys_op);
      return FALSE;
    }
  NcMap *m = nc_map_new (s->sys_keys->len + 1);
  nc_map_append (m, "op", nc_value_string (s->sys_op));
  g_autofree NcValue *row = g_new0 (NcValue, 1);
  for (guint i = 0; i < s->sys_keys->len; i++)
    {
      NcValue v;
      if (!nc_eval (x, s->sys_vals->pdata[i], row, &v, error))
        {
          nc_map_unref (m);
          return FALSE;
        }
      nc_map_append (m, s->sys_keys->pdata[i], v);
    }
  GPtrArray *rows = NULL;
  GStrv fields = NULL;
  gboolean ok = hooks->system_command (hooks->user_data, m, &rows, &fields, error);
  nc_map_unref (m);
  if (!ok)
    {
      if (rows)
        g_ptr_array_unref (rows);
      g_strfreev (fields);
      return FALSE;
    }
  if (fields && g_strv_length (fields) > 0)
    {
      g_strfreev (ex->fields);
      ex->fields = fields;
      ex->n_fields = g_strv_length (fields);
    }
  else
    g_strfreev (fields);
  ex->rows = g_ptr_array_new ();
  for (guint i = 0; rows && i < rows->len; i++)
    {
      /* hook rows are NcList* with one item per field */
      NcList *l = rows->pdata[i];
      NcValue *r = g_new0 (NcValue, MAX (ex->n_fields, 1));
      for (guint k = 0; k < ex->n_fields && k < l->len; k++)
        r[k] = nc_value_copy (&l->items[k]);
      g_ptr_array_add (ex->rows, r);
    }
  if (rows)
    g_ptr_array_unref (rows);
  if (!g_str_has_prefix (s->sys_op, "show_"))
    x->stats.system_updates++;
  return TRUE;
}

static void
exec_ctx_clear (NcExecCtx *x)
{
  if (x->subplans)
    g_hash_table_unref (x->subplans);
  if (x->regex_cache)
    g_hash_table_unref (x->regex_cache);
  x->subplans = NULL;
  x->regex_cache = NULL;
  if (x->params)
    nc_map_unref ((NcMap *) x->params);
  x->params = NULL;
}

void
nc_cypher_exec_free (NcCypherExec *exec)
{
  if (exec == NULL)
    return;
  if (exec->x.subplans)
    {
      g_hash_table_unref (exec->x.subplans);
      exec->x.subplans = NULL;
    }
  nc_op_free (exec->root);
  exec_ctx_clear (&exec->x);
  free_rows (exec);
  if (exec->out_row)
    {
      for (guint i = 0; i < exec->n_fields; i++)
        nc_value_clear (&exec->out_row[i]);
      g_free (exec->out_row);
    }
  if (exec->out_slots)
    g_array_unref (exec->out_slots);
  g_strfreev (exec->fields);
  nc_cypher_query_unref (exec->q);
  g_free (exec);
}

NcCypherExec *
nc_cypher_execute (NcCypherQuery *q, const NcCypherContext *ctx, const NcMap *params, GError **error)
{
  NcStatement *s = q->stmt;
  /* every parameter must be present before anything runs */
  GString *missing = NULL;
  for (guint i = 0; i < s->params->len; i++)
    if (params == NULL || nc_map_get (params, s->params->pdata[i]) == NULL)
      {
        if (missing == NULL)
          missing = g_string_new (NULL);
        else
          g_string_append (missing, ", ");
        g_string_append (missing, s->params->pdata[i]);
      }
  if (missing)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_PARAMETER_MISSING, "Expected parameter(s): %s", missing->str);
      g_string_free (missing, TRUE);
      return NULL;
    }
  g_autoptr (NcCypherExec) ex = g_new0 (NcCypherExec, 1);
  ex->q = nc_cypher_query_ref (q);
  NcExecCtx *x = &ex->x;
  x->ctx = ctx;
  x->txn = ctx->txn;
  x->store = ctx->store;
  /* The caller's map may be freed before the rows are pulled (Bolt frees
   * RUN's fields before PULL): hold a reference. */
  x->params = params ? nc_map_ref ((NcMap *) params) : NULL;
  x->stmt = s;
  x->width = s->n_slots;
  x->profile = s->profile;
  x->fctx.txn = ctx->txn;
  x->fctx.store = ctx->store;
  x->fctx.statement_time_us = g_get_real_time ();
  x->fctx.rng = NULL;
  x->regex_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_regex_unref);
  ex->fields = g_strdupv (q->fields);
  ex->n_fields = g_strv_length (q->fields);
  ex->out_row = g_new0 (NcValue, MAX (ex->n_fields, 1));
  switch (s->kind)
    {
    case NC_STMT_QUERY:
      {
        if (!s->has_updates)
          ex->type = NC_QUERY_READ;
        else if (!s->has_reads && s->query->columns == NULL)
          ex->type = NC_QUERY_WRITE;
        else
          ex->type = NC_QUERY_READ_WRITE;
        NcOp *leaf = nc_op_once_new (x);
        ex->root = nc_plan_query (x, s->query, leaf, FALSE, error);
        if (ex->root == NULL)
          return NULL;
        ex->out_slots = g_array_new (FALSE, FALSE, sizeof (int));
        if (s->query->columns)
          {
            GArray *cs = s->query->col_slots->pdata[0];
            g_array_append_vals (ex->out_slots, cs->data, cs->len);
          }
        if (s->explain)
          ex->done = TRUE;
        break;
      }
    case NC_STMT_SHOW_INDEXES:
    case NC_STMT_SHOW_CONSTRAINTS:
      ex->type = NC_QUERY_READ;
      if (!s->explain)
        ex->rows = s->kind == NC_STMT_SHOW_INDEXES ? nc_schema_index_rows (x) : nc_schema_constraint_rows (x);
      break;
    case NC_STMT_SYSTEM:
      ex->type = NC_QUERY_SCHEMA;
      if (!s->explain && !run_system (ex, error))
        return NULL;
      break;
    default:
      ex->type = NC_QUERY_SCHEMA;
      if (!s->explain && !run_schema (ex, error))
        return NULL;
      break;
    }
  return g_steal_pointer (&ex);
}

gboolean
nc_cypher_exec_next (NcCypherExec *exec, const NcValue **row, GError **error)
{
  if (exec->done)
    return FALSE;
  for (guint i = 0; i < exec->n_fields; i++)
    nc_value_clear (&exec->out_row[i]);
  if (exec->root == NULL)
    {
      if (exec->rows == NULL || exec->row_idx >= exec->rows->len)
        {
          exec->done = TRUE;
          return FALSE;
        }
      NcValue *r = exec->rows->pdata[exec->row_idx];
      exec->rows->pdata[exec->row_idx++] = NULL;
      memcpy (exec->out_row, r, exec->n_fields * sizeof (NcValue));
      g_free (r);
      *row = exec->out_row;
      return TRUE;
    }
  GError *local = NULL;
  for (;;)
    {
      if (!nc_op_next (exec->root, &local))
        {
          exec->done = TRUE;
          if (local)
            {
              g_propagate_error (error, local);
              return FALSE;
            }
          return FALSE;
        }
      if (exec->n_fields == 0)
        continue; /* updating query without RETURN: run to the end */
      for (guint i = 0; i < exec->n_fields; i++)
        exec->out_row[i] = nc_materialise (&exec->x, &exec->root->row[g_array_index (exec->out_slots, int, i)]);
      *row = exec->out_row;
      return TRUE;
    }
}

const char *const *
nc_cypher_exec_fields (NcCypherExec *exec)
{
  return (const char *const *) exec->fields;
}

const NcQueryStats *
nc_cypher_exec_stats (NcCypherExec *exec)
{
  return &exec->x.stats;
}

NcQueryType
nc_cypher_exec_query_type (NcCypherExec *exec)
{
  return exec->type;
}

NcValue
nc_cypher_exec_plan (NcCypherExec *exec)
{
  NcStatement *s = exec->q->stmt;
  if (!s->explain && !s->profile)
    return nc_value_null ();
  return nc_plan_describe (&exec->x, exec->root, s->profile);
}
