/* Cypher engine tests: parser, semantic checks and execution against a
 * real in-memory store. */

#include "cypher/cypher.h"
#include "cypher/parser.h"
#include "cypher/semantic.h"
#include "errors.h"
#include "store.h"
#include "writeset.h"

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
    const char *_needle = (needle); \
    if (_needle != NULL && strstr (_err->message, _needle) == NULL) \
      g_error ("message %s lacks %s", _err->message, _needle); \
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

/* ---- parser ------------------------------------------------------------------ */

static void
test_syntax_error_position (Fx *fx, gconstpointer d)
{
  GError *err = NULL;
  g_autoptr (NcCypherQuery) q = nc_cypher_prepare (fx->cache, "MATCH (n)\n  RETRUN n", &err);
  g_assert_null (q);
  g_assert_error (err, NC_ERROR, NC_ERROR_SYNTAX);
  g_assert_nonnull (strstr (err->message, "Invalid input 'RETRUN'"));
  g_assert_nonnull (strstr (err->message, "(line 2, column 3 (offset: 12))"));
  /* the excerpt shows the line, then a caret under the offending column */
  g_assert_nonnull (strstr (err->message, "\n\"  RETRUN n\"\n   ^"));
  g_clear_error (&err);
}

static void
test_deep_nesting_fails_cleanly (Fx *fx, gconstpointer d)
{
  GString *q = g_string_new ("RETURN ");
  for (int i = 0; i < 100000; i++)
    g_string_append_c (q, '(');
  g_string_append_c (q, '1');
  for (int i = 0; i < 100000; i++)
    g_string_append_c (q, ')');
  GError *err = NULL;
  NcCypherQuery *cq = nc_cypher_prepare (fx->cache, q->str, &err);
  g_assert_null (cq);
  g_assert_error (err, NC_ERROR, NC_ERROR_SYNTAX);
  g_assert_nonnull (strstr (err->message, "nested too deeply"));
  g_clear_error (&err);
  /* long operator chains build deep trees too */
  g_string_assign (q, "RETURN 1");
  for (int i = 0; i < 100000; i++)
    g_string_append (q, " + 1");
  cq = nc_cypher_prepare (fx->cache, q->str, &err);
  g_assert_null (cq);
  g_assert_error (err, NC_ERROR, NC_ERROR_SYNTAX);
  g_clear_error (&err);
  g_string_assign (q, "RETURN ");
  for (int i = 0; i < 100000; i++)
    g_string_append (q, "[");
  cq = nc_cypher_prepare (fx->cache, q->str, &err);
  g_assert_null (cq);
  g_assert_error (err, NC_ERROR, NC_ERROR_SYNTAX);
  g_clear_error (&err);
  g_string_free (q, TRUE);
}

static void
test_lexer_literals (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "RETURN 0x1F AS h, 0o17 AS o, 1.5E3 AS f, .5 AS g, 1e2 AS e, -9223372036854775808 AS min", NULL,
               "31 | 15 | 1500.0 | 0.5 | 100.0 | -9223372036854775808");
}

static void
test_lexer_strings_and_names (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "WITH 'a\\nb\\u0041\\'' AS `we``ird` RETURN size(`we``ird`) AS n, `we``ird` = 'a' + '\\n' + \"bA'\" AS same",
               NULL, "5 | true");
  assert_rows (fx, "// comment\nRETURN /* inline */ 1 AS one // trailing", NULL, "1");
  /* keywords are names where unambiguous */
  assert_rows (fx, "WITH 1 AS count, 2 AS match, 3 AS `return` RETURN count + match + `return` AS total", NULL, "6");
  assert_rows (fx, "return 1 as X", NULL, "1");
}

static void
test_integer_overflow_is_syntax_error (Fx *fx, gconstpointer d)
{
  assert_fails (fx, "RETURN 9223372036854775808", NC_ERROR_SYNTAX, "too large");
  assert_fails (fx, "RETURN 0xZZ", NC_ERROR_SYNTAX, "invalid number literal");
  assert_fails (fx, "RETURN 1e400", NC_ERROR_SYNTAX, "too large");
  assert_fails (fx, "RETURN 'abc", NC_ERROR_SYNTAX, "unterminated");
}

static void
test_parse_dump (Fx *fx, gconstpointer d)
{
  GError *err = NULL;
  g_autoptr (NcStatement) s = nc_cypher_parse (
      "MATCH p = (a:A {x: 1})-[r:T|U*1..3]->(b) WHERE a.x < b.y <= 3 AND NOT b:C "
      "WITH a, count(*) AS c ORDER BY c DESC SKIP 1 LIMIT 2 RETURN a {.x, .*, k: c} AS m", &err);
  g_assert_no_error (err);
  g_autofree char *dump = nc_statement_dump (s);
  g_assert_cmpstr (dump, ==,
                   "MATCH p = (a:A {x: 1})-[r:T|U*1..3]->(b) WHERE ((a.x < b.y <= 3) AND (NOT b:C)) "
                   "WITH a, count(*) AS c ORDER BY c DESC SKIP 1 LIMIT 2 RETURN a{.x, .*, k: c} AS m");
}

/* ---- semantic analysis -------------------------------------------------------- */

static void
test_semantic_errors (Fx *fx, gconstpointer d)
{
  assert_fails (fx, "MATCH (n) RETURN m", NC_ERROR_SYNTAX, "Variable `m` not defined");
  assert_fails (fx, "MATCH (n)-[n]->() RETURN n", NC_ERROR_SYNTAX, "conflicting type");
  assert_fails (fx, "MATCH (a) CREATE (a:Foo) RETURN a", NC_ERROR_SYNTAX, "already declared");
  assert_fails (fx, "MATCH (a) WHERE count(a) > 1 RETURN a", NC_ERROR_SYNTAX, "aggregating function");
  assert_fails (fx, "MATCH (a) RETURN a.x + count(*) AS y", NC_ERROR_SYNTAX, "implicit grouping");
  assert_fails (fx, "RETURN count(count(*))", NC_ERROR_SYNTAX, "inside of aggregate");
  assert_fails (fx, "RETURN 1 AS a UNION RETURN 2 AS b", NC_ERROR_SYNTAX, "same return column names");
  assert_fails (fx, "RETURN 1 AS a, 2 AS a", NC_ERROR_SYNTAX, "same name");
  assert_fails (fx, "RETURN nosuchfn(1)", NC_ERROR_SYNTAX, "Unknown function 'nosuchfn'");
  assert_fails (fx, "CREATE (a)-[:R]-(b)", NC_ERROR_SYNTAX, "directed");
  assert_fails (fx, "CREATE (a)-[:R|S]->(b)", NC_ERROR_SYNTAX, "Exactly one relationship type");
  assert_fails (fx, "MATCH (n) RETURN n LIMIT -1", NC_ERROR_SYNTAX, "non-negative");
  assert_fails (fx, "RETURN true AND 1", NC_ERROR_SYNTAX, "expected Boolean");
  assert_fails (fx, "MATCH (n) WITH n.x RETURN 1", NC_ERROR_SYNTAX, "aliased");
  assert_fails (fx, "MATCH (n) RETURN n MATCH (m) RETURN m", NC_ERROR_SYNTAX, "end of the query");
  assert_fails (fx, "MATCH (n)", NC_ERROR_SYNTAX, "cannot conclude");
}

static void
test_semantic_failure_has_no_side_effects (Fx *fx, gconstpointer d)
{
  assert_fails (fx, "CREATE (n:X) RETURN m", NC_ERROR_SYNTAX, "not defined");
  assert_rows (fx, "MATCH (n) RETURN count(n)", NULL, "0");
}

static void
test_missing_parameter (Fx *fx, gconstpointer d)
{
  GError *err = NULL;
  GPtrArray *rows = run (fx, "CREATE (n {a: $x, b: $y}) RETURN n", NULL, &err);
  g_assert_null (rows);
  g_assert_error (err, NC_ERROR, NC_ERROR_PARAMETER_MISSING);
  g_assert_cmpstr (err->message, ==, "Expected parameter(s): x, y");
  g_clear_error (&err);
  assert_rows (fx, "MATCH (n) RETURN count(n)", NULL, "0");
}

static void
test_parameters_of_every_type (Fx *fx, gconstpointer d)
{
  NcMap *p = nc_map_new (6);
  nc_map_append (p, "i", nc_value_int (7));
  nc_map_append (p, "f", nc_value_float (0.5));
  nc_map_append (p, "s", nc_value_string ("x"));
  NcList *l = nc_list_new (2);
  l->items[0] = nc_value_int (1);
  l->items[1] = nc_value_int (2);
  nc_map_append (p, "l", nc_value_list_take (l));
  NcMap *m = nc_map_new (1);
  nc_map_append (m, "k", nc_value_bool (TRUE));
  nc_map_append (p, "m", nc_value_map_take (m));
  nc_map_append (p, "n", nc_value_null ());
  assert_rows (fx, "RETURN $i + 1, $f * 2, $s + 'y', $l[1], $m.k, $n IS NULL, size($l)", p,
               "8 | 1.0 | 'xy' | 2 | true | true | 2");
  NcMap *props = nc_map_new (2);
  nc_map_append (props, "a", nc_value_int (1));
  nc_map_append (props, "b", nc_value_string ("two"));
  NcMap *p2 = nc_map_new (1);
  nc_map_append (p2, "props", nc_value_map_take (props));
  assert_rows (fx, "CREATE (n:P $props) RETURN n", p2, "(:P {a: 1, b: 'two'})");
  nc_map_unref (p2);
  nc_map_unref (p);
}

/* ---- clauses ------------------------------------------------------------------- */

static void
social_graph (Fx *fx)
{
  exec_ok (fx, "CREATE (a:Person {name: 'Ann', age: 30}), (b:Person {name: 'Bob', age: 40}), "
               "(c:Person {name: 'Cid', age: 50}), (d:Person {name: 'Dee'}), "
               "(a)-[:KNOWS {w: 1}]->(b), (b)-[:KNOWS {w: 2}]->(c), (c)-[:KNOWS {w: 3}]->(d), "
               "(a)-[:LIKES]->(c)");
}

static void
test_optional_match (Fx *fx, gconstpointer d)
{
  social_graph (fx);
  assert_rows (fx, "MATCH (p:Person) OPTIONAL MATCH (p)-[:LIKES]->(q) RETURN p.name, q.name ORDER BY p.name", NULL,
               "'Ann' | 'Cid'\n'Bob' | null\n'Cid' | null\n'Dee' | null");
  assert_rows (fx, "OPTIONAL MATCH (x:Nobody) RETURN x", NULL, "null");
}

static void
test_with_aggregation_order_skip_limit (Fx *fx, gconstpointer d)
{
  social_graph (fx);
  assert_rows (fx, "MATCH (a)-[:KNOWS]->(b) WITH a, count(b) AS n, collect(b.name) AS names "
                   "RETURN a.name, n, names ORDER BY a.name DESC SKIP 1 LIMIT 2", NULL,
               "'Bob' | 1 | ['Cid']\n'Ann' | 1 | ['Bob']");
  assert_rows (fx, "MATCH (p:Person) RETURN count(*) AS c, count(p.age) AS ages, sum(p.age) AS s, "
                   "min(p.age), max(p.age), avg(p.age)", NULL, "4 | 3 | 120 | 30 | 50 | 40.0");
  assert_rows (fx, "UNWIND [1, 1, 2, null] AS x RETURN count(DISTINCT x), collect(DISTINCT x)", NULL, "2 | [1, 2]");
  assert_rows (fx, "MATCH (p:Person) WITH p ORDER BY p.age DESC LIMIT 1 RETURN p.name", NULL, "'Dee'");
  assert_rows (fx, "UNWIND [3, 1, 2] AS x WITH x WHERE x > 1 RETURN x ORDER BY x", NULL, "2\n3");
  assert_rows (fx, "MATCH (n:Nobody) RETURN count(n)", NULL, "0");
  assert_rows (fx, "MATCH (n:Nobody) RETURN n.x, count(n)", NULL, "");
  NcMap *p = nc_map_new (2);
  nc_map_append (p, "s", nc_value_int (1));
  nc_map_append (p, "l", nc_value_int (2));
  assert_rows (fx, "UNWIND range(1, 5) AS x RETURN x SKIP $s LIMIT $l", p, "2\n3");
  nc_map_unref (p);
}

static void
test_distinct_and_return_star (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "UNWIND [1, 1.0, 2, null, null] AS x RETURN DISTINCT x", NULL, "1\n2\nnull");
  assert_rows (fx, "WITH 1 AS b, 2 AS a RETURN *", NULL, "2 | 1");
}

static void
test_unwind (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "UNWIND [[1, 2], [3]] AS l UNWIND l AS x RETURN x", NULL, "1\n2\n3");
  assert_rows (fx, "UNWIND [] AS x RETURN x", NULL, "");
  assert_rows (fx, "UNWIND null AS x RETURN x", NULL, "");
  assert_rows (fx, "UNWIND range(10, 1, -3) AS x RETURN x", NULL, "10\n7\n4\n1");
}

static void
test_merge (Fx *fx, gconstpointer d)
{
  NcQueryStats st = { 0 };
  GError *err = NULL;
  GPtrArray *rows = run_full (fx, "MERGE (n:City {name: 'Oslo'}) ON CREATE SET n.created = true "
                                  "ON MATCH SET n.matched = true RETURN n", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_autofree char *a = joined (rows);
  g_assert_cmpstr (a, ==, "(:City {name: 'Oslo', created: true})");
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.nodes_created, ==, 1);
  g_assert_cmpint (st.properties_set, ==, 2);
  rows = run_full (fx, "MERGE (n:City {name: 'Oslo'}) ON CREATE SET n.created = true "
                       "ON MATCH SET n.matched = true RETURN n.matched", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_autofree char *b = joined (rows);
  g_assert_cmpstr (b, ==, "true");
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.nodes_created, ==, 0);
  /* later rows see what earlier rows created */
  assert_rows (fx, "UNWIND ['a', 'b', 'a'] AS k MERGE (x:K {k: k}) RETURN count(*)", NULL, "3");
  assert_rows (fx, "MATCH (x:K) RETURN count(x)", NULL, "2");
  assert_rows (fx, "MATCH (a:K {k: 'a'}), (b:K {k: 'b'}) MERGE (a)-[r:TO]->(b) RETURN type(r)", NULL, "'TO'");
  assert_rows (fx, "MATCH (a:K {k: 'a'}), (b:K {k: 'b'}) MERGE (a)-[r:TO]->(b) RETURN type(r)", NULL, "'TO'");
  assert_rows (fx, "MATCH ()-[r:TO]->() RETURN count(r)", NULL, "1");
  assert_fails (fx, "MERGE (n:Q {x: null})", NC_ERROR_SEMANTIC, "null property value");
}

static void
test_set_and_remove_stats (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "CREATE (:S {a: 1, b: 2})");
  NcQueryStats st = { 0 };
  GError *err = NULL;
  GPtrArray *rows = run_full (fx, "MATCH (n:S) SET n.c = 3, n += {a: 10, b: null}, n:T:S RETURN n", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_autofree char *a = joined (rows);
  g_assert_cmpstr (a, ==, "(:S:T {a: 10, c: 3})");
  g_ptr_array_unref (rows);
  /* c, a, and the removal of b; only T is a new label */
  g_assert_cmpint (st.properties_set, ==, 3);
  g_assert_cmpint (st.labels_added, ==, 1);
  rows = run_full (fx, "MATCH (n:S) SET n = {z: 1} REMOVE n:T RETURN n", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_autofree char *b = joined (rows);
  g_assert_cmpstr (b, ==, "(:S {z: 1})");
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.properties_set, ==, 3);
  g_assert_cmpint (st.labels_removed, ==, 1);
  rows = run_full (fx, "MATCH (n:S) REMOVE n.z, n.nothing RETURN n", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.properties_set, ==, 1);
  assert_fails (fx, "MATCH (n:S) SET n.bad = {a: 1}", NC_ERROR_TYPE, "primitive");
}

static void
test_delete (Fx *fx, gconstpointer d)
{
  social_graph (fx);
  assert_fails (fx, "MATCH (n:Person {name: 'Ann'}) DELETE n", NC_ERROR_CONSTRAINT_FAILED, NULL);
  NcQueryStats st = { 0 };
  GError *err = NULL;
  GPtrArray *rows = run_full (fx, "MATCH (n:Person {name: 'Ann'}) DETACH DELETE n", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.nodes_deleted, ==, 1);
  g_assert_cmpint (st.relationships_deleted, ==, 2);
  /* relationships go first, so deleting both ends and the relationship works */
  assert_rows (fx, "MATCH (c)-[r]->(d:Person {name: 'Dee'}) DELETE d, r RETURN count(*)", NULL, "1");
  assert_rows (fx, "MATCH (n) RETURN n.name ORDER BY n.name", NULL, "'Bob'\n'Cid'");
  assert_fails (fx, "MATCH (n) DETACH DELETE n RETURN n.name", NC_ERROR_ENTITY_NOT_FOUND, "deleted");
}

static void
test_foreach (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "FOREACH (i IN range(1, 3) | CREATE (:F {i: i}))", NULL, "");
  assert_rows (fx, "MATCH (f:F) RETURN sum(f.i)", NULL, "6");
  assert_rows (fx, "MATCH (f:F) WITH collect(f) AS fs FOREACH (f IN fs | SET f.seen = true) RETURN size(fs)", NULL, "3");
  assert_rows (fx, "MATCH (f:F) WHERE f.seen RETURN count(f)", NULL, "3");
}

static void
test_call_subquery (Fx *fx, gconstpointer d)
{
  social_graph (fx);
  assert_rows (fx, "MATCH (p:Person) CALL { WITH p MATCH (p)-[:KNOWS]->(q) RETURN count(q) AS k } "
                   "RETURN p.name, k ORDER BY p.name", NULL,
               "'Ann' | 1\n'Bob' | 1\n'Cid' | 1\n'Dee' | 0");
  assert_rows (fx, "CALL { RETURN 1 AS x UNION RETURN 2 AS x } RETURN sum(x)", NULL, "3");
}

static void
test_union (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "RETURN 1 AS x UNION RETURN 1 AS x UNION RETURN 2 AS x", NULL, "1\n2");
  assert_rows (fx, "RETURN 1 AS x UNION ALL RETURN 1 AS x", NULL, "1\n1");
  assert_fails (fx, "RETURN 1 AS x UNION ALL RETURN 1 AS x UNION RETURN 2 AS x", NC_ERROR_SYNTAX, "UNION");
}

static void
test_patterns (Fx *fx, gconstpointer d)
{
  social_graph (fx);
  assert_rows (fx, "MATCH (a:Person {name: 'Ann'})-[:KNOWS*]->(x) RETURN x.name ORDER BY x.name", NULL,
               "'Bob'\n'Cid'\n'Dee'");
  assert_rows (fx, "MATCH (a:Person {name: 'Ann'})-[r:KNOWS*2..]->(x) RETURN x.name, size(r) ORDER BY x.name", NULL,
               "'Cid' | 2\n'Dee' | 3");
  assert_rows (fx, "MATCH (a:Person {name: 'Ann'})-[:KNOWS*0..1]->(x) RETURN x.name ORDER BY x.name", NULL, "'Ann'\n'Bob'");
  assert_rows (fx, "MATCH (x)<-[:KNOWS*..2]-(a:Person {name: 'Ann'}) RETURN x.name ORDER BY x.name", NULL, "'Bob'\n'Cid'");
  assert_rows (fx, "MATCH p = (a {name: 'Ann'})-[:KNOWS]->()-[:KNOWS]->(c) RETURN p, length(p)", NULL,
               "<(:Person {name: 'Ann', age: 30})-[:KNOWS {w: 1}]->(:Person {name: 'Bob', age: 40})-[:KNOWS {w: 2}]->"
               "(:Person {name: 'Cid', age: 50})> | 2");
  assert_rows (fx, "MATCH (a {name: 'Ann'}), (d {name: 'Dee'}) MATCH p = shortestPath((a)-[*]-(d)) "
                   "RETURN length(p), [n IN nodes(p) | n.name]", NULL, "2 | ['Ann', 'Cid', 'Dee']");
  assert_rows (fx, "MATCH (a {name: 'Ann'}), (d {name: 'Dee'}) MATCH p = allShortestPaths((a)-[*]-(d)) "
                   "RETURN count(p)", NULL, "1");
  /* relationship uniqueness: one relationship is not traversed twice in a pattern */
  assert_rows (fx, "MATCH (a {name: 'Ann'})-[r1]-(b)-[r2]-(c) WHERE b.name = 'Bob' RETURN c.name ORDER BY c.name", NULL, "'Cid'");
  /* patterns sharing variables (a join) */
  assert_rows (fx, "MATCH (a)-[:KNOWS]->(b), (a)-[:LIKES]->(c) RETURN a.name, b.name, c.name", NULL, "'Ann' | 'Bob' | 'Cid'");
  assert_rows (fx, "MATCH (a:Person), (b:Person) RETURN count(*)", NULL, "16");
  assert_rows (fx, "MATCH (a:Person:Nothing) RETURN count(a)", NULL, "0");
}

static void
test_expressions (Fx *fx, gconstpointer d)
{
  assert_rows (fx, "RETURN 1 < 2 < 3, 3 > 2 > 2, null = null, null <> 1, 1 = 1.0", NULL, "true | false | null | null | true");
  assert_rows (fx, "RETURN true AND null, false AND null, true OR null, false OR null, true XOR null, NOT null", NULL,
               "null | false | true | null | null | null");
  assert_rows (fx, "RETURN 2 IN [1, 2], 3 IN [1, null], 'abc' STARTS WITH 'a', 'abc' ENDS WITH 'bc', 'abc' CONTAINS 'x', "
                   "'abc' =~ 'a.c', 'abcd' =~ 'a.c'", NULL, "true | null | true | true | false | true | false");
  assert_rows (fx, "WITH [1, 2, 3, 4] AS l RETURN l[0], l[-1], l[1..3], l[-2..], l[..-3], l[10]", NULL,
               "1 | 4 | [2, 3] | [3, 4] | [1] | null");
  assert_rows (fx, "RETURN CASE 2 WHEN 1 THEN 'a' WHEN 2 THEN 'b' ELSE 'c' END, CASE WHEN 1 > 2 THEN 'x' END", NULL, "'b' | null");
  assert_rows (fx, "RETURN [x IN range(1, 6) WHERE x % 2 = 0 | x * x] AS sq, all(x IN [2, 4] WHERE x % 2 = 0), "
                   "any(x IN [1, 2] WHERE x > 1), none(x IN [1, 2] WHERE x > 5), single(x IN [1, 2] WHERE x > 1)", NULL,
               "[4, 16, 36] | true | true | true | true");
  assert_rows (fx, "RETURN reduce(acc = 0, x IN [1, 2, 3] | acc + x) AS s, {a: 1, b: [1, {c: 2}]}.b[1].c AS deep", NULL, "6 | 2");
  assert_rows (fx, "RETURN 1 IS NULL, null IS NOT NULL, size('h\u00e9llo')", NULL, "false | false | 5");
  assert_rows (fx, "WITH {name: 'n', age: 3} AS m RETURN m {.name, .missing, extra: 1} AS p", NULL,
               "{name: 'n', missing: null, extra: 1}");
  assert_rows (fx, "RETURN date('2024-02-29').year AS y, duration({days: 3}).days AS d", NULL, "2024 | 3");
  assert_fails (fx, "RETURN 1 / 0", NC_ERROR_ARITHMETIC, NULL);
  assert_fails (fx, "RETURN 'a' - 1", NC_ERROR_SYNTAX, "Type mismatch");
  assert_fails (fx, "WITH 'a' AS s RETURN s - 1", NC_ERROR_TYPE, NULL);
}

static void
test_subquery_expressions (Fx *fx, gconstpointer d)
{
  social_graph (fx);
  assert_rows (fx, "MATCH (p:Person) WHERE EXISTS { (p)-[:LIKES]->() } RETURN p.name", NULL, "'Ann'");
  assert_rows (fx, "MATCH (p:Person) WHERE exists((p)-[:KNOWS]->(:Person {name: 'Dee'})) RETURN p.name", NULL, "'Cid'");
  assert_rows (fx, "MATCH (p:Person {name: 'Ann'}) RETURN COUNT { (p)-->() } AS out, "
                   "[(p)-[:KNOWS]->(q) | q.name] AS known", NULL, "2 | ['Bob']");
  assert_rows (fx, "MATCH (p:Person) WHERE EXISTS { MATCH (p)-[:KNOWS]->(q) WHERE q.age > 45 } RETURN p.name", NULL, "'Bob'");
  assert_rows (fx, "MATCH (p:Person {name: 'Bob'}) RETURN p {.name, friends: [(p)-[:KNOWS]-(f) WHERE f.age < 35 | f.name]} AS m", NULL,
               "{name: 'Bob', friends: ['Ann']}");
}

static void
test_query_types (Fx *fx, gconstpointer d)
{
  struct { const char *q; NcQueryType t; } cases[] = {
    { "RETURN 1", NC_QUERY_READ },
    { "CREATE (:T)", NC_QUERY_WRITE },
    { "MATCH (n:T) SET n.x = 1", NC_QUERY_READ_WRITE },
    { "CREATE (n:T) RETURN n", NC_QUERY_READ_WRITE },
    { "CREATE INDEX FOR (n:T) ON (n.x)", NC_QUERY_SCHEMA },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      NcQueryType t = 99;
      GError *err = NULL;
      GPtrArray *rows = run_full (fx, cases[i].q, NULL, NULL, &t, 0, 0, &err);
      g_assert_no_error (err);
      g_ptr_array_unref (rows);
      g_assert_cmpint (t, ==, cases[i].t);
    }
}

/* ---- streaming, limits, effects ------------------------------------------------ */

static void
test_streaming_limit_is_lazy (Fx *fx, gconstpointer d)
{
  gint64 t0 = g_get_monotonic_time ();
  assert_rows (fx, "UNWIND range(1, 100000000) AS i RETURN i LIMIT 1", NULL, "1");
  assert_rows (fx, "UNWIND range(1, 100000000) AS i WITH i * 2 AS j WHERE j > 10 RETURN j LIMIT 2", NULL, "12\n14");
  /* well under the time a materialised 10^8 element list would take */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 2 * G_USEC_PER_SEC);
}

static void
test_first_row_before_the_end (Fx *fx, gconstpointer d)
{
  /* pulling one row of an unbounded-looking query returns promptly */
  g_autoptr (NcCypherQuery) q = nc_cypher_prepare (fx->cache, "UNWIND range(1, 9223372036854775807) AS i RETURN i", NULL);
  g_assert_nonnull (q);
  NcTxn *txn = nc_store_begin_read (fx->store);
  NcCypherContext ctx = { .txn = txn, .store = fx->store };
  g_autoptr (NcCypherExec) ex = nc_cypher_execute (q, &ctx, NULL, NULL);
  const NcValue *row;
  for (int i = 1; i <= 3; i++)
    {
      g_assert_true (nc_cypher_exec_next (ex, &row, NULL));
      g_assert_cmpint (row[0].u.i, ==, i);
    }
  g_clear_pointer (&ex, nc_cypher_exec_free);
  nc_txn_rollback (txn);
}

static void
test_timeout_fires (Fx *fx, gconstpointer d)
{
  const char *queries[] = {
    "UNWIND range(1, 9223372036854775807) AS i WITH i WHERE i < 0 RETURN count(*)",
    "UNWIND range(1, 100000000) AS i RETURN i ORDER BY i DESC LIMIT 1",
  };
  for (guint k = 0; k < G_N_ELEMENTS (queries); k++)
    {
      GError *err = NULL;
      gint64 t0 = g_get_monotonic_time ();
      GPtrArray *rows = run_full (fx, queries[k], NULL, NULL, NULL, t0 + 50000, 0, &err);
      g_assert_null (rows);
      g_assert_error (err, NC_ERROR, NC_ERROR_TX_TIMEOUT);
      g_assert_nonnull (strstr (err->message, "dbms.transaction.timeout"));
      g_assert_cmpint (g_get_monotonic_time () - t0, <, 2 * G_USEC_PER_SEC);
      g_clear_error (&err);
    }
}

static void
test_timeout_in_var_length_expansion (Fx *fx, gconstpointer d)
{
  /* a dense clique makes the number of paths explode */
  exec_ok (fx, "UNWIND range(1, 12) AS i CREATE (:C {i: i})");
  exec_ok (fx, "MATCH (a:C), (b:C) WHERE a <> b CREATE (a)-[:E]->(b)");
  GError *err = NULL;
  gint64 t0 = g_get_monotonic_time ();
  GPtrArray *rows = run_full (fx, "MATCH p = (a:C {i: 1})-[:E*]->(b) RETURN count(p)", NULL, NULL, NULL, t0 + 100000, 0, &err);
  g_assert_null (rows);
  g_assert_error (err, NC_ERROR, NC_ERROR_TX_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 3 * G_USEC_PER_SEC);
  g_clear_error (&err);
}

static void
test_memory_limit (Fx *fx, gconstpointer d)
{
  const char *queries[] = {
    "UNWIND range(1, 1000000) AS i RETURN i ORDER BY i DESC LIMIT 1",
    "UNWIND range(1, 1000000) AS i RETURN collect(i)",
    "UNWIND range(1, 1000000) AS i RETURN DISTINCT i",
    "UNWIND range(1, 1000000) AS i RETURN i, count(*)",
  };
  for (guint k = 0; k < G_N_ELEMENTS (queries); k++)
    {
      GError *err = NULL;
      GPtrArray *rows = run_full (fx, queries[k], NULL, NULL, NULL, 0, 1 << 20, &err);
      g_assert_null (rows);
      g_assert_error (err, NC_ERROR, NC_ERROR_MEMORY_LIMIT);
      g_clear_error (&err);
    }
  /* buffers released by one eager step do not count against the next */
  GError *e2 = NULL;
  GPtrArray *r2 = run_full (fx, "UNWIND range(1, 3000) AS i CREATE (n:M {i: i}) SET n.j = i "
                                "WITH n ORDER BY n.i DESC WITH n ORDER BY n.i RETURN count(n)",
                            NULL, NULL, NULL, 0, 1 << 20, &e2);
  g_assert_no_error (e2);
  g_ptr_array_unref (r2);
  /* a small sort fits */
  GError *err = NULL;
  GPtrArray *rows = run_full (fx, "UNWIND range(1, 100) AS i RETURN i ORDER BY i DESC LIMIT 1", NULL, NULL, NULL, 0, 1 << 20, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
}

static void
test_writeset_records_effects (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "CREATE (:W {v: 1})");
  NcTxn *txn = nc_store_begin_write (fx->store);
  NcCypherContext ctx = { .txn = txn, .store = fx->store };
  const char *stmts[] = {
    "CREATE (a:N {x: 1})-[:R {y: 2}]->(b:N)",
    "MATCH (w:W) SET w.v = 2, w:L",
    "MATCH (w:W) DETACH DELETE w",
  };
  for (guint i = 0; i < G_N_ELEMENTS (stmts); i++)
    {
      g_autoptr (NcCypherQuery) q = nc_cypher_prepare (fx->cache, stmts[i], NULL);
      g_autoptr (NcCypherExec) ex = nc_cypher_execute (q, &ctx, NULL, NULL);
      const NcValue *row;
      GError *err = NULL;
      while (nc_cypher_exec_next (ex, &row, &err))
        ;
      g_assert_no_error (err);
    }
  NcWriteSet *ws = nc_txn_writeset (txn);
  GString *kinds = g_string_new (NULL);
  for (guint i = 0; i < nc_writeset_len (ws); i++)
    g_string_append_printf (kinds, "%d ", nc_writeset_get (ws, i)->kind);
  /* create node x2, create rel, set prop, add label, delete node */
  g_assert_cmpstr (kinds->str, ==, "1 1 6 3 4 2 ");
  g_string_free (kinds, TRUE);
  const NcEffect *e = nc_writeset_get (ws, 3);
  g_assert_cmpstr (e->name, ==, "v");
  g_assert_cmpint (e->value.u.i, ==, 2);
  nc_txn_commit (txn, ++fx->lsn);
  nc_store_publish (fx->store, fx->lsn);
}

static void
test_failed_statement_rolls_back (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "CREATE (:Keep)");
  /* the third row fails after two nodes were created */
  assert_fails (fx, "UNWIND [1, 2, 0] AS i CREATE (:N {v: 10 / i})", NC_ERROR_ARITHMETIC, NULL);
  assert_fails (fx, "MATCH (k:Keep) SET k.x = 1 WITH k UNWIND [1, 0] AS i RETURN 1 / i", NC_ERROR_ARITHMETIC, NULL);
  assert_rows (fx, "MATCH (n) RETURN labels(n), n.x", NULL, "['Keep'] | null");
}

/* ---- planner, schema, procedures ----------------------------------------------- */

static char *
plan_of (Fx *fx, const char *query)
{
  g_autoptr (NcCypherQuery) q = nc_cypher_prepare (fx->cache, query, NULL);
  g_assert_nonnull (q);
  NcTxn *txn = nc_store_begin_read (fx->store);
  NcCypherContext ctx = { .txn = txn, .store = fx->store };
  GError *err = NULL;
  NcCypherExec *ex = nc_cypher_execute (q, &ctx, NULL, &err);
  g_assert_no_error (err);
  const NcValue *row;
  while (nc_cypher_exec_next (ex, &row, &err))
    ;
  g_assert_no_error (err);
  NcValue plan = nc_cypher_exec_plan (ex);
  GString *s = g_string_new (NULL);
  render (s, &plan);
  nc_value_clear (&plan);
  nc_cypher_exec_free (ex);
  nc_txn_rollback (txn);
  return g_string_free (s, FALSE);
}

static void
test_index_planning (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "UNWIND range(1, 200) AS i CREATE (:P {id: i, g: i % 10}), (:Q {id: i})");
  g_autofree char *before = plan_of (fx, "EXPLAIN MATCH (n:P {id: 42}) RETURN n");
  g_assert_nonnull (strstr (before, "NodeByLabelScan"));
  NcQueryStats st = { 0 };
  NcQueryType type = 0;
  GError *err = NULL;
  GPtrArray *rows = run_full (fx, "CREATE INDEX p_id IF NOT EXISTS FOR (n:P) ON (n.id)", NULL, &st, &type, 0, 0, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.indexes_added, ==, 1);
  g_assert_cmpint (type, ==, NC_QUERY_SCHEMA);
  g_autofree char *eq = plan_of (fx, "EXPLAIN MATCH (n:P {id: 42}) RETURN n");
  g_assert_nonnull (strstr (eq, "NodeIndexSeek"));
  g_autofree char *where = plan_of (fx, "EXPLAIN MATCH (n:P) WHERE n.id IN [1, 2] RETURN n");
  g_assert_nonnull (strstr (where, "NodeIndexSeek"));
  g_autofree char *range = plan_of (fx, "EXPLAIN MATCH (n:P) WHERE n.id > 150 AND n.id <= 160 RETURN n");
  g_assert_nonnull (strstr (range, "NodeIndexSeekByRange"));
  /* the seek starts the pattern even when written second */
  g_autofree char *join = plan_of (fx, "EXPLAIN MATCH (q:Q), (n:P {id: 7}) RETURN q, n");
  g_assert_nonnull (strstr (join, "NodeIndexSeek"));
  assert_rows (fx, "MATCH (n:P {id: 42}) RETURN n.g", NULL, "2");
  assert_rows (fx, "MATCH (n:P) WHERE n.id IN [1, 2, 2] RETURN n.id ORDER BY n.id", NULL, "1\n2");
  assert_rows (fx, "MATCH (n:P) WHERE n.id > 150 AND n.id <= 153 RETURN n.id ORDER BY n.id", NULL, "151\n152\n153");
  assert_rows (fx, "MATCH (n:P) WHERE 198 < n.id RETURN n.id ORDER BY n.id", NULL, "199\n200");
  /* IF NOT EXISTS on an equivalent index is a no-op; without, an error */
  rows = run_full (fx, "CREATE INDEX p_id IF NOT EXISTS FOR (n:P) ON (n.id)", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.indexes_added, ==, 0);
  assert_fails (fx, "CREATE INDEX FOR (n:P) ON (n.id)", NC_ERROR_SCHEMA_EXISTS, NULL);
  assert_rows (fx, "SHOW INDEXES", NULL, "1 | 'p_id' | 'ONLINE' | 100.0 | 'RANGE' | 'NODE' | ['P'] | ['id'] | 'range-1.0' | null");
  rows = run_full (fx, "DROP INDEX p_id", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.indexes_removed, ==, 1);
  assert_fails (fx, "DROP INDEX p_id", NC_ERROR_SCHEMA_MISSING, NULL);
  assert_rows (fx, "DROP INDEX p_id IF EXISTS", NULL, "");
  assert_rows (fx, "CREATE INDEX ON :P(g)", NULL, "");
  assert_rows (fx, "SHOW INDEXES YIELD name", NULL, "'index_P_g'");
  assert_rows (fx, "SHOW INDEXES YIELD name, labelsOrTypes WHERE name STARTS WITH 'index' RETURN labelsOrTypes", NULL, "['P']");
}

static void
test_explain_and_profile (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "UNWIND range(1, 5) AS i CREATE (:E {i: i})");
  /* EXPLAIN runs nothing */
  assert_rows (fx, "EXPLAIN CREATE (:E {i: 99})", NULL, "");
  assert_rows (fx, "MATCH (e:E) RETURN count(e)", NULL, "5");
  g_autofree char *plan = plan_of (fx, "EXPLAIN MATCH (e:E) WHERE e.i > 2 RETURN e.i");
  g_assert_true (g_str_has_prefix (plan, "{operatorType: 'ProduceResults'"));
  g_assert_nonnull (strstr (plan, "operatorType: 'Filter'"));
  g_assert_nonnull (strstr (plan, "identifiers: ['e']"));
  g_assert_null (strstr (plan, "dbHits"));
  g_autofree char *prof = plan_of (fx, "PROFILE MATCH (e:E) WHERE e.i > 2 RETURN e.i");
  g_assert_nonnull (strstr (prof, "operatorType: 'Filter', identifiers: [], arguments: {details: '(e.i > 2)', planner: 'COST'}"));
  g_assert_nonnull (strstr (prof, "rows: 3"));
  g_assert_nonnull (strstr (prof, "dbHits"));
  assert_rows (fx, "PROFILE MATCH (e:E) WHERE e.i > 3 RETURN e.i ORDER BY e.i", NULL, "4\n5");
  /* label counts come from the store */
  g_autofree char *count = plan_of (fx, "EXPLAIN MATCH (e:E) RETURN count(e) AS c");
  g_assert_nonnull (strstr (count, "NodeCountFromCountStore"));
  assert_rows (fx, "MATCH (e:E) RETURN count(e) AS c", NULL, "5");
  assert_rows (fx, "MATCH (e:Nope) RETURN count(*) AS c", NULL, "0");
  assert_rows (fx, "MATCH (e) RETURN count(*) AS c", NULL, "5");
}

static void
test_procedures (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "CREATE (:A {x: 1})-[:R {y: 1}]->(:B)");
  assert_rows (fx, "CALL db.labels() YIELD label RETURN label ORDER BY label", NULL, "'A'\n'B'");
  assert_rows (fx, "CALL db.labels", NULL, "'A'\n'B'");
  assert_rows (fx, "CALL db.relationshipTypes()", NULL, "'R'");
  assert_rows (fx, "CALL db.propertyKeys() YIELD propertyKey AS k WHERE k <> 'y' RETURN k", NULL, "'x'");
  assert_rows (fx, "CALL dbms.components() YIELD name, edition RETURN name, edition", NULL, "'Neo4j Kernel' | 'community'");
  assert_fails (fx, "CALL db.nothing()", NC_ERROR_UNKNOWN_PROCEDURE, "db.nothing");
  assert_rows (fx, "MATCH (a:A) CALL db.labels() YIELD label RETURN a.x, count(label)", NULL, "1 | 2");
}

static void
test_constraints (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "CREATE (:U {email: 'a'}), (:U {email: 'b'})");
  NcQueryStats st = { 0 };
  GError *err = NULL;
  GPtrArray *rows = run_full (fx, "CREATE CONSTRAINT u_email FOR (u:U) REQUIRE u.email IS UNIQUE", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.constraints_added, ==, 1);
  assert_fails (fx, "CREATE (:U {email: 'a'})", NC_ERROR_CONSTRAINT_FAILED, NULL);
  assert_fails (fx, "MATCH (u:U {email: 'b'}) SET u.email = 'a'", NC_ERROR_CONSTRAINT_FAILED, NULL);
  assert_rows (fx, "MATCH (u:U) RETURN count(u)", NULL, "2");
  assert_rows (fx, "SHOW CONSTRAINTS", NULL, "1 | 'u_email' | 'UNIQUENESS' | 'NODE' | ['U'] | ['email'] | 'u_email'");
  /* the older syntax */
  assert_fails (fx, "CREATE CONSTRAINT ON (u:U) ASSERT u.email IS UNIQUE", NC_ERROR_SCHEMA_EXISTS, NULL);
  rows = run_full (fx, "DROP CONSTRAINT u_email", NULL, &st, NULL, 0, 0, &err);
  g_assert_no_error (err);
  g_ptr_array_unref (rows);
  g_assert_cmpint (st.constraints_removed, ==, 1);
  exec_ok (fx, "CREATE (:U {email: 'a'})");
  assert_fails (fx, "CREATE CONSTRAINT ON (u:U) ASSERT u.email IS UNIQUE", NC_ERROR_CONSTRAINT_FAILED, NULL);
}

typedef struct {
  GPtrArray *seen;
} HookLog;

static gboolean
fake_system_cb (gpointer user_data, const NcMap *command, GPtrArray **rows_out, GStrv *fields_out, GError **error)
{
  HookLog *log = user_data;
  NcValue v = { .type = NC_VALUE_MAP, .u.map = (NcMap *) command };
  GString *s = g_string_new (NULL);
  render (s, &v);
  g_ptr_array_add (log->seen, g_string_free (s, FALSE));
  *rows_out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_list_unref);
  *fields_out = NULL;
  const NcValue *op = nc_map_get (command, "op");
  if (g_str_equal (nc_value_str (op), "show_users"))
    {
      *fields_out = g_strsplit ("user,roles,passwordChangeRequired", ",", -1);
      NcList *row = nc_list_new (3);
      row->items[0] = nc_value_string ("neo4j");
      row->items[1] = nc_value_list_take (nc_list_new (0));
      row->items[2] = nc_value_bool (FALSE);
      g_ptr_array_add (*rows_out, row);
    }
  return TRUE;
}

static void
test_system_commands (Fx *fx, gconstpointer d)
{
  /* without hooks: a clear NotSupported error */
  assert_fails (fx, "CREATE USER bob SET PASSWORD 'secret' CHANGE NOT REQUIRED", NC_ERROR_NOT_SUPPORTED, NULL);
  HookLog log = { g_ptr_array_new_with_free_func (g_free) };
  NcCypherHooks hooks = { .user_data = &log, .system_command = fake_system_cb };
  const char *stmts[] = {
    "CREATE USER bob SET PASSWORD 'secret' CHANGE NOT REQUIRED",
    "CREATE USER $name IF NOT EXISTS SET PLAINTEXT PASSWORD $pw",
    "ALTER USER bob SET PASSWORD 'other'",
    "ALTER CURRENT USER SET PASSWORD FROM 'a' TO 'b'",
    "DROP USER bob IF EXISTS",
    "SHOW USERS",
  };
  NcMap *params = nc_map_new (2);
  nc_map_append (params, "name", nc_value_string ("carl"));
  nc_map_append (params, "pw", nc_value_string ("pw1"));
  guint rows_seen = 0;
  for (guint i = 0; i < G_N_ELEMENTS (stmts); i++)
    {
      GError *err = NULL;
      g_autoptr (NcCypherQuery) q = nc_cypher_prepare (fx->cache, stmts[i], &err);
      g_assert_no_error (err);
      NcTxn *txn = nc_store_begin_read (fx->store);
      NcCypherContext ctx = { .txn = txn, .store = fx->store, .hooks = &hooks, .user = "neo4j", .is_admin = TRUE };
      g_autoptr (NcCypherExec) ex = nc_cypher_execute (q, &ctx, params, &err);
      g_assert_no_error (err);
      const NcValue *row;
      while (nc_cypher_exec_next (ex, &row, &err))
        rows_seen++;
      g_assert_no_error (err);
      g_assert_cmpint (nc_cypher_exec_query_type (ex), ==, NC_QUERY_SCHEMA);
      if (i == 5)
        g_assert_cmpstr (nc_cypher_exec_fields (ex)[0], ==, "user");
      g_clear_pointer (&ex, nc_cypher_exec_free);
      nc_txn_rollback (txn);
    }
  nc_map_unref (params);
  g_assert_cmpint (rows_seen, ==, 1);
  g_assert_cmpstr (log.seen->pdata[0], ==, "{op: 'create_user', user: 'bob', password: 'secret', change_required: false}");
  g_assert_cmpstr (log.seen->pdata[1], ==, "{op: 'create_user', user: 'carl', if_not_exists: true, password: 'pw1'}");
  g_assert_cmpstr (log.seen->pdata[2], ==, "{op: 'alter_user', user: 'bob', password: 'other'}");
  g_assert_cmpstr (log.seen->pdata[3], ==, "{op: 'alter_current_user_password', old_password: 'a', password: 'b'}");
  g_assert_cmpstr (log.seen->pdata[4], ==, "{op: 'drop_user', user: 'bob', if_exists: true}");
  g_assert_cmpstr (log.seen->pdata[5], ==, "{op: 'show_users'}");
  g_ptr_array_unref (log.seen);
}

/* ---- the plan cache ------------------------------------------------------------ */

static void
test_cache_returns_shared_plan (Fx *fx, gconstpointer d)
{
  g_autoptr (NcCypherCache) cache = nc_cypher_cache_new (2);
  NcCypherQuery *a = nc_cypher_prepare (cache, "RETURN 1", NULL);
  NcCypherQuery *b = nc_cypher_prepare (cache, "RETURN 1", NULL);
  g_assert_true (a == b);
  NcCypherQuery *c = nc_cypher_prepare (cache, "RETURN 2", NULL);
  NcCypherQuery *e = nc_cypher_prepare (cache, "RETURN 3", NULL);
  /* capacity 2: "RETURN 1" was least recently used and is gone */
  NcCypherQuery *a2 = nc_cypher_prepare (cache, "RETURN 1", NULL);
  g_assert_true (a2 != a);
  g_autoptr (NcCypherQuery) w = nc_cypher_prepare (cache, "CREATE ()", NULL);
  g_autoptr (NcCypherQuery) sc = nc_cypher_prepare (cache, "DROP INDEX x", NULL);
  g_autoptr (NcCypherQuery) ex = nc_cypher_prepare (cache, "EXPLAIN RETURN 1", NULL);
  g_assert_true (nc_cypher_query_is_write (w));
  g_assert_false (nc_cypher_query_is_write (a));
  g_assert_true (nc_cypher_query_is_schema (sc));
  g_assert_false (nc_cypher_query_is_schema (w));
  g_assert_true (nc_cypher_query_is_explain (ex));
  g_assert_cmpstr (nc_cypher_query_fields (c)[0], ==, "2");
  nc_cypher_query_unref (a);
  nc_cypher_query_unref (b);
  nc_cypher_query_unref (c);
  nc_cypher_query_unref (e);
  nc_cypher_query_unref (a2);
}

typedef struct {
  Fx *fx;
  gint failures;
} ThreadArg;

static gpointer
reader_thread (gpointer data)
{
  ThreadArg *t = data;
  for (int i = 0; i < 50; i++)
    {
      NcCypherQuery *q = nc_cypher_prepare (t->fx->cache, "MATCH (n:T) WHERE n.i % 2 = 0 RETURN count(n) AS c", NULL);
      NcTxn *txn = nc_store_begin_read (t->fx->store);
      NcCypherContext ctx = { .txn = txn, .store = t->fx->store };
      NcCypherExec *ex = nc_cypher_execute (q, &ctx, NULL, NULL);
      const NcValue *row;
      if (!ex || !nc_cypher_exec_next (ex, &row, NULL) || row[0].u.i != 50)
        g_atomic_int_inc (&t->failures);
      nc_cypher_exec_free (ex);
      nc_txn_rollback (txn);
      nc_cypher_query_unref (q);
    }
  return NULL;
}

static void
test_concurrent_execution_of_one_plan (Fx *fx, gconstpointer d)
{
  exec_ok (fx, "UNWIND range(1, 100) AS i CREATE (:T {i: i})");
  ThreadArg arg = { fx, 0 };
  GThread *th[4];
  for (int i = 0; i < 4; i++)
    th[i] = g_thread_new ("reader", reader_thread, &arg);
  for (int i = 0; i < 4; i++)
    g_thread_join (th[i]);
  g_assert_cmpint (arg.failures, ==, 0);
}

/* ---- held-out TCK regressions -------------------------------------------- */

/* A MERGE must be able to say which keys it matches on: a whole parameter map
 * as the properties of a relationship (like of a node) is refused while the
 * query is compiled, before a missing parameter could even be reported, while
 * CREATE still takes one. */
static void
test_merge_rel_param_map_refused (Fx *fx, gconstpointer d)
{
  assert_fails (fx, "MERGE (a) MERGE (b) MERGE (a)-[r:KNOWS $props]->(b) RETURN r", NC_ERROR_SYNTAX,
                "cannot be used in MERGE patterns");
  assert_fails (fx, "MERGE (a {k: 1})-[:R]->(b $props)", NC_ERROR_SYNTAX, "cannot be used in MERGE patterns");
  NcMap *inner = nc_map_new (1);
  nc_map_append (inner, "w", nc_value_int (7));
  g_autoptr (NcMap) p = params1 ("props", nc_value_map_take (inner));
  GError *err = NULL;
  GPtrArray *rows = run (fx, "CREATE (a)-[r:KNOWS $props]->(b) RETURN r.w", p, &err);
  g_assert_no_error (err);
  g_autofree char *got = joined (rows);
  g_assert_cmpstr (got, ==, "7");
  g_ptr_array_unref (rows);
}

/* ---- engine fast paths (docs/performance.md, Graph queries) ----------- */

/* Grouping on one key uses an integer-only table until a key of another
 * type arrives; 1.0 must still fall into the group of 1 after the switch. */
static void
test_group_by_int_keys_then_equivalent_float (Fx *fx, gconstpointer data)
{
  assert_rows (fx, "UNWIND [1, 2, 1, 1.0, 2.0, 'x', 1, 3] AS k RETURN k, count(*)", NULL,
               "1 | 4\n2 | 2\n'x' | 1\n3 | 1");
  assert_rows (fx, "UNWIND [2.0, 2, 1] AS k RETURN k, count(*)", NULL, "2.0 | 2\n1 | 1");
  assert_rows (fx, "UNWIND range(1, 300) AS i RETURN i % 7 AS k, count(*) AS n ORDER BY k", NULL,
               "0 | 42\n1 | 43\n2 | 43\n3 | 43\n4 | 43\n5 | 43\n6 | 43");
}

/* An aggregation right above a label scan reads the scan's cursor and its
 * fetched property itself (op-aggregate.c, build_fused): the answers must be
 * those of the general loop for every key type, missing properties, count(p),
 * the other aggregates, no grouping key, the writer's own changes and a
 * property key the store has never seen. */
static void
test_group_by_over_label_scan (Fx *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) setup = run (fx, "CREATE (:P {k: 1, v: 10}), (:P {k: 1.0, v: 5}), (:P {k: 'a', v: 1}), "
                                         "(:P {v: 7}), (:P {k: 2, v: 2.0}), (:P {k: [1, 2]}), (:Q {k: 1})", NULL, NULL);
  g_assert_nonnull (setup);
  assert_rows (fx, "MATCH (p:P) RETURN p.k, count(*)", NULL, "1 | 2\n'a' | 1\nnull | 1\n2 | 1\n[1, 2] | 1");
  assert_rows (fx, "MATCH (p:P) RETURN p.k AS k, count(p) AS c, count(p.k) AS ck ORDER BY c DESC, ck LIMIT 2",
               NULL, "1 | 2 | 2\nnull | 1 | 0");
  assert_rows (fx, "MATCH (p:P) RETURN count(*) AS n, count(p.v) AS c, sum(p.v) AS s, min(p.v) AS lo, "
                   "max(p.v) AS hi, avg(p.v) AS m", NULL, "6 | 5 | 25.0 | 1 | 10 | 5.0");
  /* the representative row of a group still binds p for what follows */
  assert_rows (fx, "MATCH (p:P) WHERE p.k = 'a' WITH p.k AS k, count(*) AS c RETURN k, c", NULL, "'a' | 1");
  assert_rows (fx, "MATCH (p:P) RETURN p.nosuchkey AS k, count(*) AS c", NULL, "null | 6");
  assert_rows (fx, "MATCH (p:Nope) RETURN p.k, count(*)", NULL, "");
  assert_rows (fx, "MATCH (p:Nope) RETURN count(p.k) AS c", NULL, "0");
  /* a write earlier in the same statement is seen by the scan */
  assert_rows (fx, "CREATE (:P {k: 2}) WITH count(*) AS one MATCH (p:P) RETURN p.k AS k, count(*) AS c "
                   "ORDER BY c DESC, k LIMIT 2", NULL, "1 | 2\n2 | 2");
}

/* A range conjunct pushed into a scan's or expand's cursor is not evaluated
 * again by its Filter while the cursor checked it exactly: the rows must be
 * those of Cypher's comparison for every value type (numbers of both
 * kinds, NaN, strings, lists, booleans, null, missing), a null bound
 * matches nothing, and the other conjuncts are still evaluated. */
static void
test_pushed_range_filter_is_exact (Fx *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) setup = run (fx, "CREATE (h:P {n: 'hub', age: 0}) WITH h "
                                         "UNWIND [70, 60, 61.5, 'x', 0.0 / 0.0, [61], true, null] AS v "
                                         "CREATE (h)-[:R]->(:P {n: toString(v), age: v})", NULL, NULL);
  g_assert_nonnull (setup);
  assert_rows (fx, "MATCH (a:P {n: 'hub'})-[:R]->(b:P) WHERE b.age > 60 RETURN b.n ORDER BY b.n", NULL,
               "'61.5'\n'70'");
  assert_rows (fx, "MATCH (a:P {n: 'hub'})-[:R]->(b:P) WHERE 60 <= b.age RETURN b.n ORDER BY b.n", NULL,
               "'60'\n'61.5'\n'70'");
  assert_rows (fx, "MATCH (b:P) WHERE b.age < 61 RETURN b.n ORDER BY b.n", NULL, "'60'\n'hub'");
  assert_rows (fx, "MATCH (b:P) WHERE b.age > 'a' RETURN b.n", NULL, "'x'");
  assert_rows (fx, "MATCH (a:P {n: 'hub'})-[:R]->(b:P) WHERE b.age > 60 AND b.n <> '70' RETURN b.n", NULL, "'61.5'");
  assert_rows (fx, "MATCH (b:P) WHERE b.n <> '70' AND b.age > 60 RETURN b.n", NULL, "'61.5'");
  g_autoptr (NcMap) p = params1 ("bound", nc_value_null ());
  assert_rows (fx, "MATCH (a:P {n: 'hub'})-[:R]->(b:P) WHERE b.age > $bound RETURN count(*)", p, "0");
  assert_rows (fx, "MATCH (b:P) WHERE b.age < $bound RETURN count(*)", p, "0");
}

/* count(*) directly above an expand counts the rows the expand would yield
 * without binding them (op-aggregate.c, nc_op_expand_count_next), skipping
 * the Filters the expand's cursor covers. Each count(*) must equal the
 * count(b) of the general loop for the same pattern: directions, self
 * loops, missing labels, end and relationship property maps, covered and
 * uncovered filters, literal, parameter and null bounds, bound ends. */
static void
test_count_over_expand_matches_general_loop (Fx *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) setup = run (fx,
    "CREATE (h:H {n: 0}) WITH h UNWIND range(1, 20) AS i "
    "CREATE (h)-[:R {w: i % 3}]->(:P {age: i * 5, name: 'p' + toString(i)}) "
    "WITH h, count(*) AS c CREATE (h)-[:R {w: 9}]->(h), (:P {age: 99})-[:R]->(h)", NULL, NULL);
  g_assert_nonnull (setup);
  g_autoptr (NcMap) p = params1 ("lo", nc_value_int (42));
  g_autoptr (NcMap) pnull = params1 ("lo", nc_value_null ());
  const char *patterns[] = {
    "MATCH (a:H)-[:R]->(b)",
    "MATCH (a:H)-[:R]-(b)",
    "MATCH (a:H)<-[:R]-(b)",
    "MATCH (a:H)-[:R]->(b:P) WHERE b.age > 42",
    "MATCH (a:H)-[:R]->(b:P) WHERE b.age > $lo",
    "MATCH (a:H)-[:R]->(b:P) WHERE 42 >= b.age",
    "MATCH (a:H)-[:R]->(b:P) WHERE b.age > 42 AND b.name STARTS WITH 'p1'",
    "MATCH (a:H)-[:R]->(b:P) WHERE b.age > a.n + 42",
    "MATCH (a:H)-[:R]->(b:Nope)",
    "MATCH (a:H)-[:R]->(b {age: 10})",
    "MATCH (a:H)-[:R {w: 1}]->(b:P)",
    "MATCH (a:H)-[:NOPE]->(b)",
    "MATCH (a:H), (b:P {age: 10}) MATCH (a)-[:R]->(b)",
  };
  for (guint i = 0; i < G_N_ELEMENTS (patterns); i++)
    for (int k = 0; k < 2; k++)
      {
        NcMap *params = k == 0 ? p : pnull;
        if (k == 1 && strstr (patterns[i], "$lo") == NULL)
          continue;
        g_autofree char *fast = g_strconcat (patterns[i], " RETURN count(*)", NULL);
        g_autofree char *slow = g_strconcat (patterns[i], " RETURN count(b)", NULL);
        GError *err = NULL;
        g_autoptr (GPtrArray) a = run (fx, fast, params, &err);
        g_assert_no_error (err);
        g_autoptr (GPtrArray) b = run (fx, slow, params, &err);
        g_assert_no_error (err);
        g_autofree char *ga = joined (a), *gb = joined (b);
        if (g_strcmp0 (ga, gb) != 0)
          g_error ("%s: count(*) %s, count(b) %s", fast, ga, gb);
      }
  assert_rows (fx, "MATCH (a:H)-[:R]->(b:P) WHERE b.age > 42 RETURN count(*)", NULL, "12");
  assert_rows (fx, "MATCH (a:H)-[:R]-(b) RETURN count(*)", NULL, "22");
  g_autoptr (NcMap) none = params1 ("lo", nc_value_null ());
  assert_rows (fx, "MATCH (a:H)-[:R]->(b:P) WHERE b.age > $lo RETURN count(*)", none, "0");
  /* a bound that fails to evaluate is not pushed: the Filter reports it */
  assert_fails (fx, "MATCH (a:H)-[:R]->(b:P) WHERE b.age > 1 / 0 RETURN count(*)", NC_ERROR_ARITHMETIC, "/ by zero");
}

/* A seek per input row reuses one cursor (nc_cursor_seek_restart): each
 * seek must see what a new cursor would, including nodes the statement
 * created after the first seek, with and without an index, for repeated,
 * missing and null keys. */
static void
test_repeated_seeks_reuse_one_cursor (Fx *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) ix = run (fx, "CREATE INDEX q_id FOR (q:Q) ON (q.id)", NULL, NULL);
  g_assert_nonnull (ix);
  for (int indexed = 1; indexed >= 0; indexed--)
    {
      const char *label = indexed ? "Q" : "R";
      g_autofree char *create = g_strdup_printf ("UNWIND range(1, 5) AS k CREATE (:%s {id: k}) WITH k "
                                                 "MATCH (q:%s {id: k}) RETURN count(*)", label, label);
      assert_rows (fx, create, NULL, "5");
      g_autofree char *seek = g_strdup_printf ("UNWIND [2, 1, 2, 99, null, 5, 1.0] AS k MATCH (q:%s {id: k}) "
                                               "RETURN k, q.id", label);
      assert_rows (fx, seek, NULL, "2 | 2\n1 | 1\n2 | 2\n5 | 5\n1.0 | 1");
    }
}

/* Scans and expands reuse the entity in their row when nothing else holds
 * it; entities kept by later operators (collect, WITH) must stay distinct. */
static void
test_scanned_entities_are_not_shared_between_rows (Fx *fx, gconstpointer data)
{
  exec_ok (fx, "UNWIND range(1, 40) AS i CREATE (a:P {i: i})-[:R {w: i * 10}]->(b:Q {i: i + 100})");
  assert_rows (fx, "MATCH (n:P) WITH collect(n) AS ns RETURN size(ns), reduce(s = 0, x IN ns | s + x.i)", NULL,
               "40 | 820");
  assert_rows (fx, "MATCH (n:P) WHERE n.i > 38 WITH collect(n) AS ns RETURN [x IN ns | x.i]", NULL, "[39, 40]");
  assert_rows (fx, "MATCH (a:P)-[r:R]->(b:Q) WHERE b.i < 103 WITH collect(r) AS rs, collect(b) AS bs "
               "RETURN [x IN rs | x.w], [x IN bs | x.i]", NULL, "[10, 20] | [101, 102]");
  assert_rows (fx, "MATCH (a:P)-[r:R]->(b) WITH a, r, b ORDER BY b.i DESC LIMIT 2 RETURN a.i, r.w, b.i", NULL,
               "40 | 400 | 140\n39 | 390 | 139");
  /* the far end's label is checked by the store cursor */
  assert_rows (fx, "MATCH (a:P)-[:R]->(b:P) RETURN count(*)", NULL, "0");
  assert_rows (fx, "MATCH (b:Q)<-[:R]-(a:P) WHERE a.i <= 3 RETURN b.i ORDER BY b.i", NULL, "101\n102\n103");
  assert_rows (fx, "MATCH (a:P {i: 1}) CREATE (a)-[:R]->(:Q:Extra {i: 0}) WITH a "
               "MATCH (a)-[:R]->(b:Extra) RETURN b.i", NULL, "0");
}

/* Property reads by cached key tokens: a key created later in the same
 * statement is found, and a deleted entity's properties still fail. */
static void
test_property_reads_after_key_creation_and_delete (Fx *fx, gconstpointer data)
{
  exec_ok (fx, "CREATE (:K {a: 1})");
  assert_rows (fx, "MATCH (n:K) RETURN n.fresh", NULL, "null");
  assert_rows (fx, "MATCH (n:K) WITH n, n.fresh AS before SET n.fresh = 5 RETURN before, n.fresh", NULL, "null | 5");
  assert_rows (fx, "MATCH (n:K) SET n.other = 'x' RETURN n.other, n.fresh, n.a", NULL, "'x' | 5 | 1");
  assert_fails (fx, "MATCH (n:K) DELETE n RETURN n.a", NC_ERROR_ENTITY_NOT_FOUND, "has been deleted");
}

/* The TCK's fixture procedures exist only when the server opts in: nobody
 * can define procedures on an ordinary server. (A subprocess, because the
 * opt-in is read once per process.) */
static void
test_tck_procedures_need_opt_in (Fx *fx, gconstpointer d)
{
  if (g_test_subprocess ())
    {
      g_unsetenv ("NC_TEST_TCK_PROCEDURES");
      assert_fails (fx, "CALL nornicdb.tck.defineProcedure('t.p', [], [], ['v'], ['STRING?'], [['x']])",
                    NC_ERROR_UNKNOWN_PROCEDURE, "nornicdb.tck.defineProcedure");
      assert_fails (fx, "CALL nornicdb.tck.clearProcedures()", NC_ERROR_UNKNOWN_PROCEDURE, NULL);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* With the opt-in, a defined fixture behaves like a procedure of that
 * signature: rows are looked up by their inputs, arguments are checked when
 * compiling, implicit arguments come from parameters (standalone only), an
 * in-query call binds only what it yields, a procedure without outputs keeps
 * the rows flowing, and clearing removes it even from cached plans. */
static void
test_tck_procedure_fixtures (Fx *fx, gconstpointer d)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }
  g_setenv ("NC_TEST_TCK_PROCEDURES", "1", TRUE);
  exec_ok (fx, "CALL nornicdb.tck.defineProcedure('demo.lookup', ['k'], ['INTEGER?'], ['v', 'w'], ['STRING?', 'INTEGER?'], "
               "[[1, 'one', 10], [null, 'none', 0], [2.0, 'two', 20], [1, 'uno', 11]])");
  assert_rows (fx, "CALL demo.lookup(1)", NULL, "'one' | 10\n'uno' | 11");
  assert_rows (fx, "CALL demo.lookup(null) YIELD v RETURN v", NULL, "'none'");
  assert_rows (fx, "CALL demo.lookup(2) YIELD w AS x, v AS y RETURN y, x", NULL, "'two' | 20");
  assert_rows (fx, "CALL demo.lookup(7)", NULL, "");
  /* arguments */
  assert_fails (fx, "CALL demo.lookup(1, 2)", NC_ERROR_SYNTAX, "number of arguments");
  assert_fails (fx, "CALL demo.lookup('1') YIELD v RETURN v", NC_ERROR_SYNTAX, "Type mismatch");
  assert_fails (fx, "UNWIND [1] AS i CALL demo.lookup(count(i)) YIELD v RETURN v", NC_ERROR_SYNTAX, "aggregat");
  g_autoptr (NcMap) p = params1 ("k", nc_value_int (1));
  assert_rows (fx, "CALL demo.lookup", p, "'one' | 10\n'uno' | 11");
  assert_fails (fx, "CALL demo.lookup", NC_ERROR_PARAMETER_MISSING, "k");
  assert_fails (fx, "CALL demo.lookup YIELD v RETURN v", NC_ERROR_SYNTAX, "implicitly");
  /* in-query calls */
  assert_fails (fx, "CALL demo.lookup(1) RETURN v", NC_ERROR_SYNTAX, "not defined");
  assert_fails (fx, "CALL demo.lookup(1) YIELD * RETURN v", NC_ERROR_SYNTAX, "YIELD *");
  assert_fails (fx, "WITH 1 AS v CALL demo.lookup(1) YIELD v RETURN v", NC_ERROR_SYNTAX, "already declared");
  assert_rows (fx, "CALL demo.lookup(1) YIELD *", NULL, "'one' | 10\n'uno' | 11");
  /* SHOW ... is a call in disguise, and there YIELD * may be followed by more */
  assert_rows (fx, "SHOW INDEXES YIELD * RETURN count(*)", NULL, "0");
  assert_rows (fx, "SHOW CONSTRAINTS WHERE name = 'x' RETURN name", NULL, "");
  /* a procedure without outputs */
  exec_ok (fx, "CALL nornicdb.tck.defineProcedure('demo.noop', [], [], [], [], [])");
  assert_rows (fx, "UNWIND [1, 2, 3] AS i CALL demo.noop() RETURN i", NULL, "1\n2\n3");
  assert_rows (fx, "CALL demo.noop()", NULL, "");
  /* clearing: the cached text must not run the old definition */
  exec_ok (fx, "CALL nornicdb.tck.clearProcedures()");
  assert_fails (fx, "CALL demo.lookup(1)", NC_ERROR_UNKNOWN_PROCEDURE, "demo.lookup");
  assert_fails (fx, "UNWIND [1] AS i CALL demo.noop() RETURN i", NC_ERROR_UNKNOWN_PROCEDURE, NULL);
}

/* `WHERE n.key < val` handed to the store cursor of a label scan or an
 * expand must give what the Filter alone gives: only comparable values,
 * flipped comparisons, bounds from outer rows and parameters, null bounds,
 * and errors in the bound still reported. */
static void
test_range_pushed_into_scan_and_expand (Fx *fx, gconstpointer data)
{
  exec_ok (fx, "CREATE (a:P {id: 1, age: 10}), (b:P {id: 2, age: 25.5}), (c:P {id: 3, age: 'thirty'}), "
           "(d:P {id: 4}), (e:P {id: 5, age: 45}), (f:P {id: 6, age: 60}), "
           "(a)-[:R]->(b), (a)-[:R]->(c), (a)-[:R]->(d), (a)-[:R]->(e), (a)-[:R]->(f), (b)-[:R]->(f)");
  assert_rows (fx, "MATCH (n:P) WHERE n.age < 30 RETURN n.id ORDER BY n.id", NULL, "1\n2");
  assert_rows (fx, "MATCH (n:P) WHERE 30 > n.age RETURN count(*)", NULL, "2");
  assert_rows (fx, "MATCH (n:P) WHERE n.age >= 45 RETURN n.id ORDER BY n.id", NULL, "5\n6");
  assert_rows (fx, "MATCH (a:P {id: 1})-[:R]->(b) WHERE b.age > 20 RETURN b.id ORDER BY b.id", NULL, "2\n5\n6");
  assert_rows (fx, "MATCH (a:P)-[:R]->(b:P) WHERE a.age < 30 AND b.age > 50 RETURN a.id, b.id ORDER BY a.id", NULL,
               "1 | 6\n2 | 6");
  assert_rows (fx, "MATCH (b:P)<-[:R]-(a:P) WHERE a.age <= 25.5 AND b.age <= 45 RETURN a.id, b.id ORDER BY b.id", NULL,
               "1 | 2\n1 | 5");
  assert_rows (fx, "UNWIND [30, 50] AS lim MATCH (a:P {id: 1})-[:R]->(b) WHERE b.age < lim RETURN lim, count(b)", NULL,
               "30 | 1\n50 | 2");
  assert_rows (fx, "UNWIND [20, 50] AS lim MATCH (n:P) WHERE n.age < lim RETURN lim, count(*)", NULL,
               "20 | 1\n50 | 3");
  g_autoptr (NcMap) pnull = params1 ("p", nc_value_null ());
  assert_rows (fx, "MATCH (n:P) WHERE n.age < $p RETURN count(*)", pnull, "0");
  g_autoptr (NcMap) p40 = params1 ("p", nc_value_int (40));
  assert_rows (fx, "MATCH (a:P)-[:R]->(b:P) WHERE b.age > $p RETURN count(*)", p40, "3");
  assert_fails (fx, "MATCH (n:P) WHERE n.age < 1 / 0 RETURN n", NC_ERROR_ARITHMETIC, "/ by zero");
  assert_fails (fx, "MATCH (a:P)-[:R]->(b) WHERE b.age < 1 / 0 RETURN b", NC_ERROR_ARITHMETIC, "/ by zero");
}

/* The label scan reads the first property the statement reads of its
 * variable in its store batches; after any write the engine must read the
 * store again. */
static void
test_scan_fetched_property_and_writes (Fx *fx, gconstpointer data)
{
  exec_ok (fx, "UNWIND range(1, 600) AS i CREATE (:P {id: i, age: i % 50})");
  assert_rows (fx, "MATCH (n:P) RETURN sum(n.age), sum(n.id), count(*)", NULL, "14700 | 180300 | 600");
  assert_rows (fx, "MATCH (n:P) RETURN n.age % 7 AS k, count(*) ORDER BY k LIMIT 2", NULL, "0 | 96\n1 | 84");
  assert_rows (fx, "MATCH (n:P) WHERE n.id <= 3 SET n.age = n.age + 100 RETURN n.id, n.age ORDER BY n.id", NULL,
               "1 | 101\n2 | 102\n3 | 103");
  assert_rows (fx, "MATCH (n:P) WHERE n.id = 600 WITH n, n.age AS before SET n.age = -1 RETURN before, n.age", NULL,
               "0 | -1");
  assert_rows (fx, "MATCH (n:P) WHERE n.id >= 599 SET n.age = n.age * 2, n.id = n.age RETURN n.id, n.age ORDER BY n.id",
               NULL, "-2 | -2\n98 | 98");
  assert_rows (fx, "CREATE (:P {id: 0, age: 7}) WITH 1 AS one MATCH (n:P) WHERE n.id = 0 RETURN n.age", NULL, "7");
  assert_rows (fx, "MATCH (n:P) WHERE n.age > 100 RETURN count(*), sum(n.age)", NULL, "3 | 306");
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
  ADD ("parser/syntax-error-has-line-column-and-caret", test_syntax_error_position);
  ADD ("parser/deep-nesting-fails-cleanly", test_deep_nesting_fails_cleanly);
  ADD ("parser/number-literals", test_lexer_literals);
  ADD ("parser/strings-escapes-comments-and-names", test_lexer_strings_and_names);
  ADD ("parser/bad-literals-are-syntax-errors", test_integer_overflow_is_syntax_error);
  ADD ("parser/ast-dump", test_parse_dump);
  ADD ("semantic/compile-time-errors", test_semantic_errors);
  ADD ("semantic/failure-has-no-side-effects", test_semantic_failure_has_no_side_effects);
  ADD ("semantic/missing-parameters-are-named", test_missing_parameter);
  ADD ("exec/parameters-of-every-type", test_parameters_of_every_type);
  ADD ("exec/optional-match-binds-null", test_optional_match);
  ADD ("exec/with-aggregation-order-skip-limit", test_with_aggregation_order_skip_limit);
  ADD ("exec/distinct-and-return-star", test_distinct_and_return_star);
  ADD ("exec/unwind", test_unwind);
  ADD ("exec/merge-on-create-on-match", test_merge);
  ADD ("exec/set-remove-statistics", test_set_and_remove_stats);
  ADD ("exec/delete-and-detach-delete", test_delete);
  ADD ("exec/foreach", test_foreach);
  ADD ("exec/call-subquery", test_call_subquery);
  ADD ("exec/union", test_union);
  ADD ("exec/patterns-var-length-paths-joins", test_patterns);
  ADD ("exec/expressions", test_expressions);
  ADD ("exec/subquery-expressions", test_subquery_expressions);
  ADD ("exec/query-types", test_query_types);
  ADD ("limits/limit-over-huge-range-is-lazy", test_streaming_limit_is_lazy);
  ADD ("limits/first-rows-stream-before-the-end", test_first_row_before_the_end);
  ADD ("limits/timeout-fires", test_timeout_fires);
  ADD ("limits/timeout-fires-in-var-length-expansion", test_timeout_in_var_length_expansion);
  ADD ("limits/memory-limit-on-buffering-operators", test_memory_limit);
  ADD ("effects/writeset-records-create-set-delete", test_writeset_records_effects);
  ADD ("effects/failed-statement-leaves-store-unchanged-after-rollback", test_failed_statement_rolls_back);
  ADD ("planner/index-seek-and-range", test_index_planning);
  ADD ("planner/explain-and-profile", test_explain_and_profile);
  ADD ("procedures/builtin", test_procedures);
  ADD ("schema/unique-constraints", test_constraints);
  ADD ("system/commands-go-to-hooks", test_system_commands);
  ADD ("cache/shared-lru-plans", test_cache_returns_shared_plan);
  ADD ("cache/concurrent-execution-of-one-plan", test_concurrent_execution_of_one_plan);
  ADD ("semantic/merge-relationship-parameter-map-is-refused", test_merge_rel_param_map_refused);
  ADD ("exec/group-by-int-keys-then-equivalent-float", test_group_by_int_keys_then_equivalent_float);
  ADD ("exec/group-by-over-label-scan-matches-general-loop", test_group_by_over_label_scan);
  ADD ("exec/pushed-range-filter-is-exact", test_pushed_range_filter_is_exact);
  ADD ("exec/count-over-expand-matches-general-loop", test_count_over_expand_matches_general_loop);
  ADD ("exec/repeated-seeks-reuse-one-cursor", test_repeated_seeks_reuse_one_cursor);
  ADD ("exec/scanned-entities-are-not-shared-between-rows", test_scanned_entities_are_not_shared_between_rows);
  ADD ("exec/property-reads-after-key-creation-and-delete", test_property_reads_after_key_creation_and_delete);
  ADD ("exec/range-pushed-into-scan-and-expand", test_range_pushed_into_scan_and_expand);
  ADD ("exec/scan-fetched-property-and-writes", test_scan_fetched_property_and_writes);
  ADD ("procedures/tck-fixtures-need-opt-in", test_tck_procedures_need_opt_in);
  ADD ("procedures/tck-fixture-procedures", test_tck_procedure_fixtures);
  return g_test_run ();
}
