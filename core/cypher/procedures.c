#define G_LOG_DOMAIN "nornicdb-cypher"

/* Built-in procedures (db.labels(), db.indexes(), dbms.components() ...)
 * and the store-error mapping shared by the updating operators. */

#include "engine.h"
#include "semantic.h"
#include "nc-build-config.h"

void
nc_cypher_propagate_store_error (GError **dst, GError *src)
{
  if (src == NULL)
    return;
  if (src->domain != NC_STORE_ERROR)
    {
      g_propagate_error (dst, src);
      return;
    }
  NcErrorCode code;
  switch (src->code)
    {
    case NC_STORE_ERROR_NOT_FOUND: code = NC_ERROR_ENTITY_NOT_FOUND; break;
    case NC_STORE_ERROR_STILL_HAS_RELS: code = NC_ERROR_CONSTRAINT_FAILED; break;
    case NC_STORE_ERROR_CONSTRAINT: code = NC_ERROR_CONSTRAINT_FAILED; break;
    case NC_STORE_ERROR_SCHEMA: code = NC_ERROR_SCHEMA_EXISTS; break;
    case NC_STORE_ERROR_READ_ONLY:
      g_set_error_literal (dst, NC_ERROR, NC_ERROR_ACCESS_MODE,
                           "Writing in read access mode not allowed. Attempted write to internal graph 0 (neo4j)");
      g_error_free (src);
      return;
    default: code = NC_ERROR_UNKNOWN; break;
    }
  g_set_error_literal (dst, NC_ERROR, code, src->message);
  g_error_free (src);
}

static NcValue *
row_new (guint n)
{
  return g_new0 (NcValue, MAX (n, 1));
}

static NcValue
str_list1 (const char *s)
{
  NcList *l = nc_list_new (1);
  l->items[0] = nc_value_string (s);
  return nc_value_list_take (l);
}

/* Unique constraints show their backing index too. */
GPtrArray *
nc_schema_index_rows (NcExecCtx *x)
{
  g_autoptr (GPtrArray) schema = nc_store_list_schema (x->store);
  GPtrArray *rows = g_ptr_array_new ();
  for (guint i = 0; i < schema->len; i++)
    {
      NcSchemaEntry *e = schema->pdata[i];
      NcValue *r = row_new (10);
      r[0] = nc_value_int (i + 1);
      r[1] = nc_value_string (e->name);
      r[2] = nc_value_string ("ONLINE");
      r[3] = nc_value_float (100.0);
      r[4] = nc_value_string ("RANGE");
      r[5] = nc_value_string ("NODE");
      r[6] = str_list1 (nc_store_token_name (x->store, NC_TOKEN_LABEL, e->label));
      r[7] = str_list1 (nc_store_token_name (x->store, NC_TOKEN_PROP_KEY, e->key));
      r[8] = nc_value_string ("range-1.0");
      r[9] = e->kind == NC_SCHEMA_UNIQUE ? nc_value_string (e->name) : nc_value_null ();
      g_ptr_array_add (rows, r);
    }
  return rows;
}

GPtrArray *
nc_schema_constraint_rows (NcExecCtx *x)
{
  g_autoptr (GPtrArray) schema = nc_store_list_schema (x->store);
  GPtrArray *rows = g_ptr_array_new ();
  for (guint i = 0; i < schema->len; i++)
    {
      NcSchemaEntry *e = schema->pdata[i];
      if (e->kind != NC_SCHEMA_UNIQUE)
        continue;
      NcValue *r = row_new (7);
      r[0] = nc_value_int (i + 1);
      r[1] = nc_value_string (e->name);
      r[2] = nc_value_string ("UNIQUENESS");
      r[3] = nc_value_string ("NODE");
      r[4] = str_list1 (nc_store_token_name (x->store, NC_TOKEN_LABEL, e->label));
      r[5] = str_list1 (nc_store_token_name (x->store, NC_TOKEN_PROP_KEY, e->key));
      r[6] = nc_value_string (e->name);
      g_ptr_array_add (rows, r);
    }
  return rows;
}

gboolean
nc_procedure_run (NcExecCtx *x, const char *name, const NcValue *args, guint n_args,
                  GPtrArray **rows_out, guint *n_fields, GError **error)
{
  int want = 0;
  const char *const *fields = nc_cypher_procedure_fields (name, &want);
  if (fields == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN_PROCEDURE,
                   "There is no procedure with the name `%s` registered for this database instance.", name);
      return FALSE;
    }
  *n_fields = g_strv_length ((char **) fields);
  GPtrArray *rows = NULL;
  if (g_ascii_strcasecmp (name, "db.labels") == 0)
    {
      rows = g_ptr_array_new ();
      guint n = nc_store_token_count (x->store, NC_TOKEN_LABEL);
      for (guint t = 0; t < n; t++)
        if (nc_txn_count_nodes (x->txn, t) > 0)
          {
            NcValue *r = row_new (1);
            r[0] = nc_value_string (nc_store_token_name (x->store, NC_TOKEN_LABEL, t));
            g_ptr_array_add (rows, r);
          }
    }
  else if (g_ascii_strcasecmp (name, "db.relationshipTypes") == 0)
    {
      rows = g_ptr_array_new ();
      guint n = nc_store_token_count (x->store, NC_TOKEN_REL_TYPE);
      for (guint t = 0; t < n; t++)
        {
          g_autoptr (NcCursor) c = nc_txn_scan_rels (x->txn, t);
          gint64 id;
          if (c && nc_cursor_next (c, &id))
            {
              NcValue *r = row_new (1);
              r[0] = nc_value_string (nc_store_token_name (x->store, NC_TOKEN_REL_TYPE, t));
              g_ptr_array_add (rows, r);
            }
        }
    }
  else if (g_ascii_strcasecmp (name, "db.propertyKeys") == 0)
    {
      rows = g_ptr_array_new ();
      guint n = nc_store_token_count (x->store, NC_TOKEN_PROP_KEY);
      for (guint t = 0; t < n; t++)
        {
          NcValue *r = row_new (1);
          r[0] = nc_value_string (nc_store_token_name (x->store, NC_TOKEN_PROP_KEY, t));
          g_ptr_array_add (rows, r);
        }
    }
  else if (g_ascii_strcasecmp (name, "dbms.components") == 0)
    {
      /* Drivers and tools read the kernel version from here; NornicDB
       * speaks the Neo4j 5 dialect, so it reports that line. */
      rows = g_ptr_array_new ();
      NcValue *r = row_new (3);
      r[0] = nc_value_string ("Neo4j Kernel");
      r[1] = str_list1 ("5.26.0");
      r[2] = nc_value_string ("community");
      g_ptr_array_add (rows, r);
    }
  else if (g_ascii_strcasecmp (name, "db.indexes") == 0)
    rows = nc_schema_index_rows (x);
  else if (g_ascii_strcasecmp (name, "db.constraints") == 0)
    rows = nc_schema_constraint_rows (x);
  else if (g_ascii_strcasecmp (name, "db.ping") == 0)
    {
      rows = g_ptr_array_new ();
      NcValue *r = row_new (1);
      r[0] = nc_value_bool (TRUE);
      g_ptr_array_add (rows, r);
    }
  else if (g_ascii_strcasecmp (name, "db.info") == 0)
    {
      rows = g_ptr_array_new ();
      NcValue *r = row_new (3);
      r[0] = nc_value_string ("nornicdb");
      r[1] = nc_value_string ("neo4j");
      r[2] = nc_value_null ();
      g_ptr_array_add (rows, r);
    }
  *rows_out = rows;
  return TRUE;
}
