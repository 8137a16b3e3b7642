#define G_LOG_DOMAIN "nornicdb-cypher"

/* Built-in procedures (db.labels(), db.indexes(), dbms.components() ...)
 * and the store-error mapping shared by the updating operators. */

#include "engine.h"
#include "semantic.h"
#include "nc-build-config.h"

#include <string.h>

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

/* ---- test-only procedures (openCypher TCK) ----------------------------------
 *
 * The TCK declares fixture procedures ("there exists a procedure
 * test.my.proc(in :: INTEGER?) :: (out :: STRING?)" plus a table of
 * input/output rows). A server started with NC_TEST_TCK_PROCEDURES=1 lets a
 * client declare them with nornicdb.tck.defineProcedure(...) and drop them
 * with nornicdb.tck.clearProcedures(); without that variable neither exists,
 * so production servers never grow procedures at a client's request. (It is
 * a test hook, not configuration, hence outside the NORNICDB_ namespace.)
 * Definitions are immutable once published and never freed (a replaced or
 * cleared one is kept on a retired list) because compiled plans hold
 * pointers to their field names; a TCK run defines a few dozen. */

typedef struct {
  char *name;
  GStrv in_names, in_types, out_names, out_types;
  guint n_in, n_out;
  GPtrArray *rows; /* NcValue[n_in + n_out] */
} TestProc;

static GMutex tp_lock;
static GHashTable *tp_table;   /* name -> TestProc* (live) */
static GPtrArray *tp_retired;  /* TestProc* no longer reachable by name */

gboolean
nc_test_procedures_enabled (void)
{
  static gsize once = 0;
  static gboolean enabled = FALSE;
  if (g_once_init_enter (&once))
    {
      const char *v = g_getenv ("NC_TEST_TCK_PROCEDURES");
      enabled = v != NULL && g_str_equal (v, "1");
      g_once_init_leave (&once, 1);
    }
  return enabled;
}

const char *const *
nc_test_procedure_lookup (const char *name, guint *n_in, const char *const **in_names,
                          const char *const **in_types)
{
  if (!nc_test_procedures_enabled ())
    return NULL;
  g_mutex_lock (&tp_lock);
  TestProc *tp = tp_table ? g_hash_table_lookup (tp_table, name) : NULL;
  g_mutex_unlock (&tp_lock);
  if (tp == NULL)
    return NULL;
  *n_in = tp->n_in;
  if (in_names)
    *in_names = (const char *const *) tp->in_names;
  if (in_types)
    *in_types = (const char *const *) tp->in_types;
  return (const char *const *) tp->out_names;
}

/* TRUE when `v` may be passed where the TCK type `type` ("INTEGER?" etc.;
 * the trailing ? of nullable types is accepted) is declared. */
gboolean
nc_test_procedure_accepts (const char *type, NcValueType t)
{
  if (t == NC_VALUE_NULL || type == NULL)
    return TRUE;
  gsize n = strlen (type);
  if (n > 0 && type[n - 1] == '?')
    n--;
  if (n == 3 && g_ascii_strncasecmp (type, "ANY", 3) == 0)
    return TRUE;
  if (n == 6 && g_ascii_strncasecmp (type, "STRING", 6) == 0)
    return t == NC_VALUE_STRING;
  if (n == 7 && g_ascii_strncasecmp (type, "INTEGER", 7) == 0)
    return t == NC_VALUE_INT;
  if (n == 5 && g_ascii_strncasecmp (type, "FLOAT", 5) == 0)
    return t == NC_VALUE_FLOAT || t == NC_VALUE_INT;
  if (n == 6 && g_ascii_strncasecmp (type, "NUMBER", 6) == 0)
    return t == NC_VALUE_FLOAT || t == NC_VALUE_INT;
  if (n == 7 && g_ascii_strncasecmp (type, "BOOLEAN", 7) == 0)
    return t == NC_VALUE_BOOL;
  return TRUE; /* other declared types are not checked */
}

static GStrv
strv_arg (const NcValue *v, const char *what, GError **error)
{
  if (v->type != NC_VALUE_LIST)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "nornicdb.tck.defineProcedure: %s must be a list of strings", what);
      return NULL;
    }
  GStrv out = g_new0 (char *, v->u.list->len + 1);
  for (guint i = 0; i < v->u.list->len; i++)
    {
      const NcValue *e = &v->u.list->items[i];
      if (e->type != NC_VALUE_STRING)
        {
          g_strfreev (out);
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "nornicdb.tck.defineProcedure: %s must be a list of strings", what);
          return NULL;
        }
      out[i] = g_strdup (nc_value_str (e));
    }
  return out;
}

static void
tp_retire_all_locked (void)
{
  if (tp_table == NULL)
    return;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, tp_table);
  while (g_hash_table_iter_next (&it, NULL, &v))
    g_ptr_array_add (tp_retired, v);
  g_hash_table_remove_all (tp_table);
}

/* nornicdb.tck.defineProcedure(name, inNames, inTypes, outNames, outTypes, rows) */
static gboolean
tp_define (const NcValue *args, guint n_args, GError **error)
{
  if (n_args != 6 || args[0].type != NC_VALUE_STRING || args[5].type != NC_VALUE_LIST)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT,
                           "nornicdb.tck.defineProcedure(name, inNames, inTypes, outNames, outTypes, rows)");
      return FALSE;
    }
  g_auto (GStrv) in_names = strv_arg (&args[1], "inNames", error);
  g_auto (GStrv) in_types = in_names ? strv_arg (&args[2], "inTypes", error) : NULL;
  g_auto (GStrv) out_names = in_types ? strv_arg (&args[3], "outNames", error) : NULL;
  g_auto (GStrv) out_types = out_names ? strv_arg (&args[4], "outTypes", error) : NULL;
  if (out_types == NULL)
    return FALSE;
  guint n_in = g_strv_length (in_names), n_out = g_strv_length (out_names);
  if (g_strv_length (in_types) != n_in || g_strv_length (out_types) != n_out)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT,
                           "nornicdb.tck.defineProcedure: every input and output needs a name and a type");
      return FALSE;
    }
  const NcList *rows = args[5].u.list;
  for (guint r = 0; r < rows->len; r++)
    if (rows->items[r].type != NC_VALUE_LIST || rows->items[r].u.list->len != n_in + n_out)
      {
        g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                     "nornicdb.tck.defineProcedure: row %u must be a list of %u values", r, n_in + n_out);
        return FALSE;
      }
  TestProc *tp = g_new0 (TestProc, 1);
  tp->name = g_strdup (nc_value_str (&args[0]));
  tp->n_in = n_in;
  tp->n_out = n_out;
  tp->in_names = g_steal_pointer (&in_names);
  tp->in_types = g_steal_pointer (&in_types);
  tp->out_names = g_steal_pointer (&out_names);
  tp->out_types = g_steal_pointer (&out_types);
  tp->rows = g_ptr_array_new ();
  for (guint r = 0; r < rows->len; r++)
    {
      const NcList *row = rows->items[r].u.list;
      NcValue *copy = row_new (n_in + n_out);
      for (guint k = 0; k < n_in + n_out; k++)
        copy[k] = nc_value_copy (&row->items[k]);
      g_ptr_array_add (tp->rows, copy);
    }
  g_mutex_lock (&tp_lock);
  if (tp_table == NULL)
    {
      tp_table = g_hash_table_new (g_str_hash, g_str_equal);
      tp_retired = g_ptr_array_new ();
    }
  TestProc *old = g_hash_table_lookup (tp_table, tp->name);
  if (old)
    g_ptr_array_add (tp_retired, old);
  g_hash_table_insert (tp_table, tp->name, tp);
  g_mutex_unlock (&tp_lock);
  return TRUE;
}

/* Rows of a test procedure: the fixture rows whose inputs equal the
 * arguments (null matches null, 42 matches 42.0). */
static GPtrArray *
tp_run (const char *name, const NcValue *args, guint n_args, GError **error)
{
  g_mutex_lock (&tp_lock);
  TestProc *tp = tp_table ? g_hash_table_lookup (tp_table, name) : NULL;
  g_mutex_unlock (&tp_lock);
  if (tp == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN_PROCEDURE,
                   "There is no procedure with the name `%s` registered for this database instance.", name);
      return NULL;
    }
  if (n_args != tp->n_in)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_SYNTAX,
                   "Procedure call does not provide the required number of arguments: got %u expected %u.", n_args,
                   tp->n_in);
      return NULL;
    }
  for (guint i = 0; i < n_args; i++)
    if (!nc_test_procedure_accepts (tp->in_types[i], args[i].type))
      {
        g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch for argument `%s` of %s: expected %s but was %s",
                     tp->in_names[i], name, tp->in_types[i], nc_value_type_name (args[i].type));
        return NULL;
      }
  GPtrArray *out = g_ptr_array_new ();
  for (guint r = 0; r < tp->rows->len; r++)
    {
      const NcValue *row = tp->rows->pdata[r];
      gboolean match = TRUE;
      for (guint i = 0; match && i < n_args; i++)
        match = (args[i].type == NC_VALUE_NULL && row[i].type == NC_VALUE_NULL)
                || nc_value_equals (&args[i], &row[i]) == NC_TRI_TRUE;
      if (!match)
        continue;
      NcValue *o = row_new (MAX (tp->n_out, 1));
      for (guint k = 0; k < tp->n_out; k++)
        o[k] = nc_value_copy (&row[tp->n_in + k]);
      g_ptr_array_add (out, o);
    }
  return out;
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
  if (nc_test_procedures_enabled () && g_str_equal (name, "nornicdb.tck.defineProcedure"))
    {
      if (!tp_define (args, n_args, error))
        return FALSE;
      rows = g_ptr_array_new ();
    }
  else if (nc_test_procedures_enabled () && g_str_equal (name, "nornicdb.tck.clearProcedures"))
    {
      g_mutex_lock (&tp_lock);
      tp_retire_all_locked ();
      g_mutex_unlock (&tp_lock);
      rows = g_ptr_array_new ();
    }
  else if (g_ascii_strcasecmp (name, "db.labels") == 0)
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
  else
    {
      /* not built in: a TCK fixture procedure (fields came from its definition) */
      rows = tp_run (name, args, n_args, error);
      if (rows == NULL)
        return FALSE;
    }
  *rows_out = rows;
  return TRUE;
}
