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
  assert_fails (fx, "RETURN 'a' - 1", NC_ERROR_TYPE, NULL);
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
  return g_test_run ();
}
