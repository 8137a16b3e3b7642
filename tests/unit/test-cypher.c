/* Cypher engine tests: parser, semantic checks and execution against a
 * real in-memory store. */

#include "cypher/cypher.h"
#include "cypher/parser.h"
#include "cypher/semantic.h"
#include "errors.h"
#include "store.h"

#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

typedef struct {
  NcStore *store;
  NcCypherCache *cache;
  NcLsn lsn;
} Fx;

static void
fx_setup (Fx *fx, gconstpointer data)
{
  fx->store = nc_store_new ();
  fx->cache = nc_cypher_cache_new (64);
  fx->lsn = 0;
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  nc_cypher_cache_free (fx->cache);
  nc_store_free (fx->store);
}

static void
render (GString *out, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NODE:
      {
        const NcEntity *e = v->u.entity;
        g_string_append_c (out, '(');
        for (guint i = 0; i < e->n_labels; i++)
          g_string_append_printf (out, ":%s", e->labels[i]->data);
        if (e->props && e->props->len)
          {
            NcValue m = { .type = NC_VALUE_MAP, .u.map = e->props };
            if (e->n_labels)
              g_string_append_c (out, ' ');
            render (out, &m);
          }
        g_string_append_c (out, ')');
        break;
      }
    case NC_VALUE_REL:
      {
        const NcEntity *e = v->u.entity;
        g_string_append_printf (out, "[:%s", e->rel_type ? e->rel_type->data : "?");
        if (e->props && e->props->len)
          {
            NcValue m = { .type = NC_VALUE_MAP, .u.map = e->props };
            g_string_append_c (out, ' ');
            render (out, &m);
          }
        g_string_append_c (out, ']');
        break;
      }
    case NC_VALUE_PATH:
      {
        const NcPath *p = v->u.path;
        g_string_append (out, "<");
        for (guint i = 0; i < p->n_nodes; i++)
          {
            render (out, &p->nodes[i]);
            if (i + 1 < p->n_nodes)
              {
                gboolean fwd = p->rels[i].u.entity->start_id == p->nodes[i].u.entity->id;
                g_string_append (out, fwd ? "-" : "<-");
                render (out, &p->rels[i]);
                g_string_append (out, fwd ? "->" : "-");
              }
          }
        g_string_append (out, ">");
        break;
      }
    case NC_VALUE_LIST:
      g_string_append_c (out, '[');
      for (guint i = 0; i < v->u.list->len; i++)
        {
          if (i)
            g_string_append (out, ", ");
          render (out, &v->u.list->items[i]);
        }
      g_string_append_c (out, ']');
      break;
    case NC_VALUE_MAP:
      g_string_append_c (out, '{');
      for (guint i = 0; i < v->u.map->len; i++)
        {
          if (i)
            g_string_append (out, ", ");
          g_string_append_printf (out, "%s: ", v->u.map->entries[i].key->data);
          render (out, &v->u.map->entries[i].value);
        }
      g_string_append_c (out, '}');
      break;
    default:
      {
        g_autofree char *s = nc_value_to_debug_string (v);
        g_string_append (out, s);
      }
    }
}

/* Runs `query` in its own write transaction (committed unless it fails);
 * returns the rows rendered as "a | b", or NULL with error. */
static GPtrArray *
run_full (Fx *fx, const char *query, NcMap *params, NcQueryStats *stats, NcQueryType *type,
          gint64 deadline_us, gsize memory_limit, GError **error)
{
  g_autoptr (NcCypherQuery) q = nc_cypher_prepare (fx->cache, query, error);
  if (q == NULL)
    return NULL;
  NcTxn *txn = nc_store_begin_write (fx->store);
  NcCypherContext ctx = { .txn = txn, .store = fx->store, .deadline_us = deadline_us, .memory_limit = memory_limit };
  NcCypherExec *ex = nc_cypher_execute (q, &ctx, params, error);
  if (ex == NULL)
    {
      nc_txn_rollback (txn);
      return NULL;
    }
  GPtrArray *rows = g_ptr_array_new_with_free_func (g_free);
  const NcValue *row;
  const char *const *fields = nc_cypher_exec_fields (ex);
  guint n = g_strv_length ((char **) fields);
  while (nc_cypher_exec_next (ex, &row, error))
    {
      GString *s = g_string_new (NULL);
      for (guint i = 0; i < n; i++)
        {
          if (i)
            g_string_append (s, " | ");
          render (s, &row[i]);
        }
      g_ptr_array_add (rows, g_string_free (s, FALSE));
    }
  if (error && *error)
    {
      nc_cypher_exec_free (ex);
      nc_txn_rollback (txn);
      g_ptr_array_unref (rows);
      return NULL;
    }
  if (stats)
    *stats = *nc_cypher_exec_stats (ex);
  if (type)
    *type = nc_cypher_exec_query_type (ex);
  nc_cypher_exec_free (ex);
  nc_txn_commit (txn, ++fx->lsn);
  nc_store_publish (fx->store, fx->lsn);
  return rows;
}

static GPtrArray *
run (Fx *fx, const char *query, NcMap *params, GError **error)
{
  return run_full (fx, query, params, NULL, NULL, 0, 0, error);
}

static char *
joined (GPtrArray *rows)
{
  g_ptr_array_add (rows, NULL);
  char *s = g_strjoinv ("\n", (char **) rows->pdata);
  g_ptr_array_set_size (rows, rows->len - 1);
  return s;
}

#define assert_rows(fx, query, params, expected) \
  G_STMT_START { \
    GError *_err = NULL; \
    GPtrArray *_rows = run ((fx), (query), (params), &_err); \
    g_assert_no_error (_err); \
    g_autofree char *_got = joined (_rows); \
    g_assert_cmpstr (_got, ==, (expected)); \
    g_ptr_array_unref (_rows); \
  } G_STMT_END

#define assert_fails(fx, query, code, needle) \
  G_STMT_START { \
    GError *_err = NULL; \
    GPtrArray *_rows = run ((fx), (query), NULL, &_err); \
    g_assert_null (_rows); \
    g_assert_error (_err, NC_ERROR, (code)); \
    if ((needle) != NULL && strstr (_err->message, (needle)) == NULL) \
      g_error ("message %s lacks %s", _err->message, (const char *) (needle)); \
    g_clear_error (&_err); \
  } G_STMT_END

static void
exec_ok (Fx *fx, const char *query)
{
  GError *err = NULL;
  GPtrArray *rows = run (fx, query, NULL, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
}

static NcMap *
params1 (const char *key, NcValue v)
{
  NcMap *m = nc_map_new (1);
  nc_map_append (m, key, v);
  return m;
}

/* ---- vertical slice ------------------------------------------------------ */

static void
test_return_literal (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "RETURN 1 AS x", NULL, "1");
  assert_rows (fx, "RETURN 1 + 2 * 3 AS x, 'a' + 'b' AS y", NULL, "7 | 'ab'");
}

static void
test_create_with_param_returns_node (Fx *fx, gconstpointer d)
{
  g_autoptr (NcMap) p = params1 ("name", nc_value_string ("Alice"));
  NcQueryStats st = { 0 };
  NcQueryType type = 0;
  GError *err = NULL;
  GPtrArray *rows = run_full (fx, "CREATE (n:Person {name: $name}) RETURN n", p, &st, &type, 0, 0, &err);
  g_assert_no_error (err);
  g_autofree char *got = joined (rows);
  g_assert_cmpstr (got, ==, "(:Person {name: 'Alice'})");
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.nodes_created, ==, 1);
  g_assert_cmpint (st.labels_added, ==, 1);
  g_assert_cmpint (st.properties_set, ==, 1);
  g_assert_cmpint (type, ==, NC_QUERY_READ_WRITE);
}

static void
test_match_where_order (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "CREATE (:Person {name: 'Carol', age: 40}), (:Person {name: 'Bob', age: 35}), "
               "(:Person {name: 'Dave', age: 20}), (:Robot {name: 'R2', age: 99})");
  assert_rows (fx, "MATCH (n:Person) WHERE n.age > 30 RETURN n.name ORDER BY n.name", NULL, "'Bob'\n'Carol'");
  assert_rows (fx, "MATCH (n:Person) WHERE n.age > 30 RETURN n.name AS name ORDER BY n.age DESC", NULL, "'Carol'\n'Bob'");
}

static void
test_match_relationships (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "CREATE (a:P {n: 1})-[:KNOWS {since: 2000}]->(b:P {n: 2}), (b)-[:LIKES]->(a)");
  assert_rows (fx, "MATCH (a)-[r:KNOWS]->(b) RETURN a, r, b", NULL, "(:P {n: 1}) | [:KNOWS {since: 2000}] | (:P {n: 2})");
  assert_rows (fx, "MATCH (a)<-[r:KNOWS]-(b) RETURN a.n, b.n", NULL, "2 | 1");
  assert_rows (fx, "MATCH (a)-[r]-(b) RETURN a.n, type(r), b.n ORDER BY a.n, type(r)", NULL,
               "1 | 'KNOWS' | 2\n1 | 'LIKES' | 2\n2 | 'KNOWS' | 1\n2 | 'LIKES' | 1");
}

static void
test_unwind_sum (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "UNWIND range(1, 10) AS i RETURN sum(i)", NULL, "55");
}

/* ---- registration ------------------------------------------------------- */

#define ADD(path, fn) g_test_add ("/nornic/cypher/" path, Fx, NULL, fx_setup, fn, fx_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("exec/return-literal", test_return_literal);
  ADD ("exec/create-with-parameter-returns-node", test_create_with_param_returns_node);
  ADD ("exec/match-where-order-by", test_match_where_order);
  ADD ("exec/match-relationship-pattern", test_match_relationships);
  ADD ("exec/unwind-range-sum", test_unwind_sum);
  return g_test_run ();
}
