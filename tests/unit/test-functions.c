/* Cypher scalar functions, aggregates and arithmetic (core/cypher/functions.h). */
#include "cypher/functions.h"
#include "errors.h"
#include "store.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------- */

static NcFuncCtx fctx;

static NcValue
S (const char *s)
{
  return nc_value_string (s);
}

static NcValue
L (guint n, ...)
{
  va_list ap;
  va_start (ap, n);
  NcList *l = nc_list_new (n);
  for (guint i = 0; i < n; i++)
    l->items[i] = va_arg (ap, NcValue);
  va_end (ap);
  return nc_value_list_take (l);
}

/* Map from alternating const char* key, NcValue value; NULL ends. */
static NcValue
M (const char *key, ...)
{
  va_list ap;
  va_start (ap, key);
  NcMap *m = nc_map_new (32);
  for (const char *k = key; k != NULL; k = va_arg (ap, const char *))
    nc_map_append (m, k, va_arg (ap, NcValue));
  va_end (ap);
  return nc_value_map_take (m);
}

/* Calls `name` with n arguments (taken), returns the result or fails the
 * test on error. */
static gboolean
call_err (const char *name, NcValue *out, GError **error, guint n, va_list ap)
{
  const NcFunctionDef *def = nc_cypher_function_lookup (name);
  g_assert_nonnull (def);
  g_assert_cmpint ((gint) n, >=, def->min_args);
  g_assert_true (def->max_args < 0 || (gint) n <= def->max_args);
  NcValue args[8];
  for (guint i = 0; i < n; i++)
    args[i] = va_arg (ap, NcValue);
  gboolean ok = def->fn (&fctx, args, n, out, error);
  for (guint i = 0; i < n; i++)
    nc_value_clear (&args[i]);
  return ok;
}

static NcValue
call (const char *name, guint n, ...)
{
  va_list ap;
  va_start (ap, n);
  g_autoptr (GError) error = NULL;
  NcValue out;
  gboolean ok = call_err (name, &out, &error, n, ap);
  va_end (ap);
  g_assert_no_error (error);
  g_assert_true (ok);
  return out;
}

static void
call_fails (NcErrorCode code, const char *name, guint n, ...)
{
  va_list ap;
  va_start (ap, n);
  g_autoptr (GError) error = NULL;
  NcValue out;
  gboolean ok = call_err (name, &out, &error, n, ap);
  va_end (ap);
  g_assert_false (ok);
  g_assert_error (error, NC_ERROR, (gint) code);
  nc_value_clear (&out);
}

/* Asserts toString-style rendering of a result (takes `v`). */
static void
assert_renders (NcValue v, const char *expected)
{
  g_autofree char *s = nc_cypher_to_string (&v);
  g_assert_cmpstr (s, ==, expected);
  nc_value_clear (&v);
}

static void
assert_int (NcValue v, gint64 expected)
{
  g_assert_cmpint (v.type, ==, NC_VALUE_INT);
  g_assert_cmpint (v.u.i, ==, expected);
}

static void
assert_float (NcValue v, double expected)
{
  g_assert_cmpint (v.type, ==, NC_VALUE_FLOAT);
  g_assert_cmpfloat_with_epsilon (v.u.f, expected, 1e-9 * MAX (1.0, fabs (expected)));
}

static void
assert_null (NcValue v)
{
  g_assert_cmpint (v.type, ==, NC_VALUE_NULL);
}

static NcValue
arith (NcArithOp op, NcValue a, NcValue b)
{
  g_autoptr (GError) error = NULL;
  NcValue out;
  g_assert_true (nc_cypher_arith (op, &a, &b, &out, &error));
  g_assert_no_error (error);
  nc_value_clear (&a);
  nc_value_clear (&b);
  return out;
}

static void
arith_fails (NcErrorCode code, NcArithOp op, NcValue a, NcValue b)
{
  g_autoptr (GError) error = NULL;
  NcValue out;
  g_assert_false (nc_cypher_arith (op, &a, &b, &out, &error));
  g_assert_error (error, NC_ERROR, (gint) code);
  nc_value_clear (&a);
  nc_value_clear (&b);
}

/* ---- lookup -------------------------------------------------------------- */

static void
test_lookup_is_case_insensitive_and_knows_dotted_names (void)
{
  g_assert_nonnull (nc_cypher_function_lookup ("toUpper"));
  g_assert_true (nc_cypher_function_lookup ("TOUPPER") == nc_cypher_function_lookup ("toupper"));
  g_assert_nonnull (nc_cypher_function_lookup ("date.truncate"));
  g_assert_nonnull (nc_cypher_function_lookup ("Duration.Between"));
  g_assert_null (nc_cypher_function_lookup ("noSuchFunction"));
  const NcFunctionDef *c = nc_cypher_function_lookup ("coalesce");
  g_assert_cmpint (c->max_args, ==, -1);
  const NcFunctionDef *r = nc_cypher_function_lookup ("range");
  g_assert_cmpint (r->min_args, ==, 2);
  g_assert_cmpint (r->max_args, ==, 3);
  g_assert_true (nc_cypher_is_aggregate ("COUNT"));
  g_assert_true (nc_cypher_is_aggregate ("percentileDisc"));
  g_assert_false (nc_cypher_is_aggregate ("size"));
}

/* ---- arithmetic ------------------------------------------------------------ */

static void
test_arith_promotes_int_to_float (void)
{
  assert_int (arith (NC_OP_ADD, nc_value_int (2), nc_value_int (3)), 5);
  assert_float (arith (NC_OP_ADD, nc_value_int (2), nc_value_float (0.5)), 2.5);
  assert_int (arith (NC_OP_DIV, nc_value_int (7), nc_value_int (2)), 3);
  assert_int (arith (NC_OP_DIV, nc_value_int (-7), nc_value_int (2)), -3);
  assert_float (arith (NC_OP_DIV, nc_value_int (7), nc_value_float (2)), 3.5);
  assert_int (arith (NC_OP_MOD, nc_value_int (-7), nc_value_int (3)), -1);
  assert_float (arith (NC_OP_MOD, nc_value_float (7.5), nc_value_int (2)), 1.5);
  assert_float (arith (NC_OP_POW, nc_value_int (2), nc_value_int (10)), 1024.0);
  NcValue inf = arith (NC_OP_DIV, nc_value_float (1), nc_value_int (0));
  g_assert_true (isinf (inf.u.f));
}

static void
test_arith_integer_overflow_is_an_error (void)
{
  arith_fails (NC_ERROR_ARITHMETIC, NC_OP_ADD, nc_value_int (G_MAXINT64), nc_value_int (1));
  arith_fails (NC_ERROR_ARITHMETIC, NC_OP_SUB, nc_value_int (G_MININT64), nc_value_int (1));
  arith_fails (NC_ERROR_ARITHMETIC, NC_OP_MUL, nc_value_int (G_MAXINT64 / 2 + 1), nc_value_int (2));
  arith_fails (NC_ERROR_ARITHMETIC, NC_OP_DIV, nc_value_int (G_MININT64), nc_value_int (-1));
  g_autoptr (GError) error = NULL;
  NcValue out, min = nc_value_int (G_MININT64);
  g_assert_false (nc_cypher_negate (&min, &out, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARITHMETIC);
  g_assert_cmpstr (error->message, ==, "long overflow");
}

static void
test_arith_integer_division_by_zero_is_an_error (void)
{
  g_autoptr (GError) error = NULL;
  NcValue a = nc_value_int (1), z = nc_value_int (0), out;
  g_assert_false (nc_cypher_arith (NC_OP_DIV, &a, &z, &out, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARITHMETIC);
  g_assert_cmpstr (error->message, ==, "/ by zero");
  arith_fails (NC_ERROR_ARITHMETIC, NC_OP_MOD, nc_value_int (1), nc_value_int (0));
}

static void
test_arith_null_propagates (void)
{
  assert_null (arith (NC_OP_ADD, nc_value_null (), nc_value_int (1)));
  assert_null (arith (NC_OP_MUL, S ("a"), nc_value_null ()));
  NcValue n = nc_value_null (), out;
  g_assert_true (nc_cypher_negate (&n, &out, NULL));
  assert_null (out);
}

static void
test_arith_concatenates_strings_and_lists (void)
{
  assert_renders (arith (NC_OP_ADD, S ("a"), S ("b")), "ab");
  assert_renders (arith (NC_OP_ADD, S ("n="), nc_value_int (1)), "n=1");
  assert_renders (arith (NC_OP_ADD, nc_value_float (1.5), S ("x")), "1.5x");
  assert_renders (arith (NC_OP_ADD, S ("v"), nc_value_bool (TRUE)), "vtrue");
  assert_renders (arith (NC_OP_ADD, L (2, nc_value_int (1), nc_value_int (2)), L (1, nc_value_int (3))), "[1, 2, 3]");
  assert_renders (arith (NC_OP_ADD, L (1, nc_value_int (1)), nc_value_int (2)), "[1, 2]");
  assert_renders (arith (NC_OP_ADD, nc_value_int (0), L (1, nc_value_int (1))), "[0, 1]");
  arith_fails (NC_ERROR_TYPE, NC_OP_ADD, S ("a"), M ("k", nc_value_int (1), NULL));
  arith_fails (NC_ERROR_TYPE, NC_OP_SUB, S ("a"), nc_value_int (1));
  arith_fails (NC_ERROR_TYPE, NC_OP_ADD, nc_value_bool (TRUE), nc_value_int (1));
}

static void
test_arith_temporal_minus_temporal_is_not_an_operator (void)
{
  g_autoptr (GError) error = NULL;
  NcValue a = nc_value_date (10), b = nc_value_date (3), out;
  g_assert_false (nc_cypher_arith (NC_OP_SUB, &a, &b, &out, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_TYPE);
}

/* ---- toString ------------------------------------------------------------ */

static void
test_to_string_prints_floats_like_java (void)
{
  assert_renders (call ("toString", 1, nc_value_float (1.0)), "1.0");
  assert_renders (call ("toString", 1, nc_value_float (0.1)), "0.1");
  assert_renders (call ("toString", 1, nc_value_float (-2.5)), "-2.5");
  assert_renders (call ("toString", 1, nc_value_float (1e20)), "1.0E20");
  assert_renders (call ("toString", 1, nc_value_float (1.5e-5)), "1.5E-5");
  assert_renders (call ("toString", 1, nc_value_float (1234567.0)), "1234567.0");
  assert_renders (call ("toString", 1, nc_value_float (12345678.0)), "1.2345678E7");
  assert_renders (call ("toString", 1, nc_value_float (0.001)), "0.001");
  assert_renders (call ("toString", 1, nc_value_float (NAN)), "NaN");
  assert_renders (call ("toString", 1, nc_value_float (-INFINITY)), "-Infinity");
  assert_renders (call ("toString", 1, nc_value_int (-42)), "-42");
  /* Collections inside a concatenation render floats the same way. */
  NcValue m = M ("ppu", nc_value_float (0.55), NULL);
  g_autofree char *ms = nc_cypher_to_string (&m);
  g_assert_cmpstr (ms, ==, "{ppu: 0.55}");
  nc_value_clear (&m);
  assert_renders (call ("toString", 1, nc_value_bool (FALSE)), "false");
  assert_null (call ("toString", 1, nc_value_null ()));
  call_fails (NC_ERROR_TYPE, "toString", 1, L (0));
  assert_null (call ("toStringOrNull", 1, L (0)));
}

/* ---- type conversion ----------------------------------------------------- */

static void
test_conversions_follow_neo4j (void)
{
  assert_int (call ("toInteger", 1, S ("42")), 42);
  assert_int (call ("toInteger", 1, S ("42.9")), 42);
  assert_int (call ("toInteger", 1, nc_value_float (-3.9)), -3);
  assert_int (call ("toInteger", 1, nc_value_bool (TRUE)), 1);
  assert_null (call ("toInteger", 1, S ("x42")));
  call_fails (NC_ERROR_TYPE, "toInteger", 1, L (0));
  assert_null (call ("toIntegerOrNull", 1, L (0)));
  assert_float (call ("toFloat", 1, S ("2.5")), 2.5);
  assert_float (call ("toFloat", 1, nc_value_int (3)), 3.0);
  assert_null (call ("toFloat", 1, S ("abc")));
  call_fails (NC_ERROR_TYPE, "toFloat", 1, nc_value_bool (TRUE));
  /* TCK TypeConversion1 */
  NcValue b = call ("toBoolean", 1, S ("true"));
  g_assert_true (b.type == NC_VALUE_BOOL && b.u.b);
  assert_null (call ("toBoolean", 1, S (" tru ")));
  assert_null (call ("toBoolean", 1, S ("")));
  call_fails (NC_ERROR_TYPE, "toBoolean", 1, nc_value_float (1.0));
  call_fails (NC_ERROR_TYPE, "toBoolean", 1, M ("a", nc_value_int (1), NULL));
  assert_null (call ("toBooleanOrNull", 1, nc_value_float (1.0)));
  assert_renders (call ("toIntegerList", 1, L (4, S ("1"), nc_value_float (2.5), S ("x"), nc_value_null ())),
                  "[1, 2, null, null]");
  assert_renders (call ("toStringList", 1, L (3, nc_value_int (1), nc_value_float (2.0), L (0))),
                  "[1, 2.0, null]");
  assert_renders (call ("toFloatList", 1, L (2, S ("1.5"), nc_value_int (2))), "[1.5, 2.0]");
  assert_renders (call ("toBooleanList", 1, L (3, S ("false"), nc_value_int (0), nc_value_float (1))),
                  "[false, false, null]");
}

/* ---- lists ------------------------------------------------------------- */

static void
test_range_counts_with_step_and_rejects_zero_step (void)
{
  assert_renders (call ("range", 2, nc_value_int (0), nc_value_int (3)), "[0, 1, 2, 3]");
  assert_renders (call ("range", 3, nc_value_int (2), nc_value_int (18), nc_value_int (3)), "[2, 5, 8, 11, 14, 17]");
  assert_renders (call ("range", 3, nc_value_int (10), nc_value_int (0), nc_value_int (-3)), "[10, 7, 4, 1]");
  assert_renders (call ("range", 3, nc_value_int (0), nc_value_int (5), nc_value_int (-1)), "[]");
  /* TCK List11 [4]/[5] */
  call_fails (NC_ERROR_ARGUMENT, "range", 3, nc_value_int (2), nc_value_int (8), nc_value_int (0));
  call_fails (NC_ERROR_ARGUMENT, "range", 2, nc_value_float (0.5), nc_value_int (8));
  call_fails (NC_ERROR_ARGUMENT, "range", 3, nc_value_int (0), nc_value_int (G_MAXINT64), nc_value_int (1));
}

static void
test_list_functions (void)
{
  assert_int (call ("size", 1, L (3, nc_value_int (1), nc_value_null (), nc_value_int (3))), 3);
  assert_int (call ("size", 1, S ("héllo")), 5);
  assert_null (call ("size", 1, nc_value_null ()));
  call_fails (NC_ERROR_TYPE, "size", 1, nc_value_int (3));
  assert_int (call ("head", 1, L (2, nc_value_int (1), nc_value_int (2))), 1);
  assert_null (call ("head", 1, L (0)));
  assert_int (call ("last", 1, L (2, nc_value_int (1), nc_value_int (2))), 2);
  assert_renders (call ("tail", 1, L (3, nc_value_int (1), nc_value_int (2), nc_value_int (3))), "[2, 3]");
  assert_renders (call ("tail", 1, L (0)), "[]");
  assert_renders (call ("reverse", 1, L (3, nc_value_int (1), nc_value_int (2), nc_value_int (3))), "[3, 2, 1]");
  assert_renders (call ("reverse", 1, S ("raksO")), "Oskar");
  assert_int (call ("coalesce", 3, nc_value_null (), nc_value_int (2), nc_value_int (3)), 2);
  assert_null (call ("coalesce", 2, nc_value_null (), nc_value_null ()));
  NcValue e = call ("isEmpty", 1, L (0));
  g_assert_true (e.u.b);
  NcValue x = call ("exists", 1, nc_value_null ());
  g_assert_false (x.u.b);
  assert_renders (call ("keys", 1, M ("a", nc_value_int (1), "b", nc_value_null (), NULL)), "[a, b]");
}

static void
test_value_type_names (void)
{
  assert_renders (call ("valueType", 1, nc_value_int (1)), "INTEGER NOT NULL");
  assert_renders (call ("valueType", 1, nc_value_null ()), "NULL");
  assert_renders (call ("valueType", 1, L (2, nc_value_int (1), nc_value_int (2))), "LIST<INTEGER NOT NULL> NOT NULL");
  assert_renders (call ("valueType", 1, L (2, nc_value_int (1), S ("a"))),
                  "LIST<INTEGER NOT NULL | STRING NOT NULL> NOT NULL");
  assert_renders (call ("valueType", 1, L (0)), "LIST<NOTHING> NOT NULL");
  assert_renders (call ("valueType", 1, nc_value_date (0)), "DATE NOT NULL");
}

/* ---- strings ------------------------------------------------------------ */

static void
test_string_functions (void)
{
  assert_renders (call ("toUpper", 1, S ("abc")), "ABC");
  assert_renders (call ("toLower", 1, S ("ÄBC")), "äbc");
  assert_renders (call ("trim", 1, S ("  a b \t")), "a b");
  assert_renders (call ("ltrim", 1, S ("  a ")), "a ");
  assert_renders (call ("rtrim", 1, S ("  a ")), "  a");
  assert_renders (call ("btrim", 2, S ("xxhixyx"), S ("xy")), "hi");
  assert_renders (call ("ltrim", 2, S ("--a--"), S ("-")), "a--");
  assert_null (call ("btrim", 2, S ("a"), nc_value_null ()));
  /* "é" as e + combining acute composes to one code point under NFC. */
  assert_int (call ("size", 1, call ("normalize", 1, S ("e\xcc\x81"))), 1);
  assert_int (call ("size", 1, call ("normalize", 2, S ("\xc3\xa9"), S ("NFD"))), 2);
  call_fails (NC_ERROR_ARGUMENT, "normalize", 2, S ("a"), S ("NFX"));
  assert_renders (call ("replace", 3, S ("hello"), S ("l"), S ("L")), "heLLo");
  assert_renders (call ("replace", 3, S ("ab"), S (""), S ("-")), "-a-b-");
  /* TCK String: substring('0123456789', 1) */
  assert_renders (call ("substring", 2, S ("0123456789"), nc_value_int (1)), "123456789");
  assert_renders (call ("substring", 3, S ("0123456789"), nc_value_int (1), nc_value_int (3)), "123");
  assert_renders (call ("substring", 3, S ("abc"), nc_value_int (5), nc_value_int (3)), "");
  call_fails (NC_ERROR_ARGUMENT, "substring", 3, S ("abc"), nc_value_int (0), nc_value_int (-1));
  call_fails (NC_ERROR_ARGUMENT, "substring", 2, S ("abc"), nc_value_int (-1));
  assert_renders (call ("left", 2, S ("hello"), nc_value_int (3)), "hel");
  assert_renders (call ("right", 2, S ("hello"), nc_value_int (3)), "llo");
  assert_renders (call ("right", 2, S ("hi"), nc_value_int (10)), "hi");
  call_fails (NC_ERROR_ARGUMENT, "left", 2, S ("hello"), nc_value_int (-1));
  assert_null (call ("left", 2, nc_value_null (), nc_value_int (1)));
  assert_renders (call ("split", 2, S ("a,b,,c"), S (",")), "[a, b, , c]");
  assert_renders (call ("split", 2, S ("abc"), S ("")), "[a, b, c]");
  assert_renders (call ("split", 2, S ("a-b_c"), L (2, S ("-"), S ("_"))), "[a, b, c]");
  assert_null (call ("split", 2, nc_value_null (), S (",")));
  assert_int (call ("char_length", 1, S ("日本")), 2);
  call_fails (NC_ERROR_TYPE, "toUpper", 1, nc_value_int (1));
}

/* ---- maths -------------------------------------------------------------- */

static void
test_math_functions (void)
{
  assert_int (call ("abs", 1, nc_value_int (-5)), 5);
  assert_float (call ("abs", 1, nc_value_float (-5.5)), 5.5);
  call_fails (NC_ERROR_ARITHMETIC, "abs", 1, nc_value_int (G_MININT64));
  assert_float (call ("ceil", 1, nc_value_float (1.2)), 2.0);
  assert_float (call ("floor", 1, nc_value_int (3)), 3.0);
  assert_float (call ("round", 1, nc_value_float (2.5)), 3.0);
  assert_float (call ("round", 1, nc_value_float (-2.5)), -2.0);
  assert_float (call ("round", 1, nc_value_float (0.49999999999999994)), 0.0);
  assert_float (call ("round", 1, nc_value_float (-0.5)), 0.0);
  assert_float (call ("round", 2, nc_value_float (3.14159), nc_value_int (2)), 3.14);
  assert_float (call ("round", 2, nc_value_float (2.675), nc_value_int (2)), 2.68);
  assert_float (call ("round", 3, nc_value_float (-2.5), nc_value_int (0), S ("HALF_EVEN")), -2.0);
  assert_float (call ("round", 3, nc_value_float (2.5), nc_value_int (0), S ("HALF_DOWN")), 2.0);
  assert_float (call ("round", 3, nc_value_float (1.21), nc_value_int (1), S ("CEILING")), 1.3);
  assert_float (call ("round", 3, nc_value_float (-1.25), nc_value_int (1), S ("UP")), -1.3);
  call_fails (NC_ERROR_ARGUMENT, "round", 3, nc_value_float (1), nc_value_int (1), S ("SIDEWAYS"));
  assert_int (call ("sign", 1, nc_value_float (-0.5)), -1);
  assert_int (call ("sign", 1, nc_value_int (0)), 0);
  NcValue nan = call ("sqrt", 1, nc_value_int (-1));
  g_assert_true (isnan (nan.u.f));
  assert_float (call ("sqrt", 1, nc_value_int (16)), 4.0);
  assert_float (call ("log10", 1, nc_value_int (1000)), 3.0);
  assert_float (call ("exp", 1, nc_value_int (0)), 1.0);
  assert_float (call ("e", 0), G_E);
  assert_float (call ("pi", 0), G_PI);
  assert_float (call ("atan2", 2, nc_value_int (1), nc_value_int (1)), G_PI / 4);
  assert_float (call ("degrees", 1, nc_value_float (G_PI)), 180.0);
  assert_float (call ("radians", 1, nc_value_int (180)), G_PI);
  assert_float (call ("haversin", 1, nc_value_float (G_PI)), 1.0);
  assert_float (call ("cot", 1, nc_value_float (G_PI / 4)), 1.0);
  assert_float (call ("tanh", 1, nc_value_int (0)), 0.0);
  assert_float (call ("cosh", 1, nc_value_int (0)), 1.0);
  NcValue isnan_v = call ("isNaN", 1, nc_value_float (NAN));
  g_assert_true (isnan_v.u.b);
  isnan_v = call ("isNaN", 1, nc_value_int (1));
  g_assert_false (isnan_v.u.b);
  assert_null (call ("sin", 1, nc_value_null ()));
  call_fails (NC_ERROR_TYPE, "sqrt", 1, S ("4"));
  NcValue r = call ("rand", 0);
  g_assert_true (r.u.f >= 0.0 && r.u.f < 1.0);
}

static void
test_random_uuid_is_version_4 (void)
{
  NcValue u = call ("randomUUID", 0);
  const char *s = nc_value_str (&u);
  g_assert_cmpint (strlen (s), ==, 36);
  g_assert_cmpint (s[14], ==, '4');
  g_assert_true (strchr ("89ab", s[19]) != NULL);
  NcValue v = call ("randomUUID", 0);
  g_assert_cmpstr (nc_value_str (&u), !=, nc_value_str (&v));
  nc_value_clear (&u);
  nc_value_clear (&v);
}

static void
test_timestamp_uses_statement_time (void)
{
  fctx.statement_time_us = G_GINT64_CONSTANT (1700000000123456);
  assert_int (call ("timestamp", 0), G_GINT64_CONSTANT (1700000000123));
  fctx.statement_time_us = 0;
}

/* ---- spatial --------------------------------------------------------------- */

static void
test_points_and_distance (void)
{
  assert_renders (call ("point", 1, M ("x", nc_value_int (1), "y", nc_value_float (2.5), NULL)),
                  "point({x: 1.0, y: 2.5, crs: 'cartesian'})");
  NcValue p = call ("point", 1, M ("longitude", nc_value_float (12.78), "latitude", nc_value_float (56.7), NULL));
  NcValue srid;
  g_assert_true (nc_cypher_value_field (&p, "srid", &srid, NULL));
  assert_int (srid, 4326);
  NcValue lat;
  g_assert_true (nc_cypher_value_field (&p, "latitude", &lat, NULL));
  assert_float (lat, 56.7);
  nc_value_clear (&p);
  assert_float (call ("point.distance", 2,
                      call ("point", 1, M ("x", nc_value_int (0), "y", nc_value_int (0), NULL)),
                      call ("point", 1, M ("x", nc_value_int (3), "y", nc_value_int (4), NULL))), 5.0);
  /* Malmö to Copenhagen is about 27.8 km on Neo4j's sphere. */
  NcValue d = call ("point.distance", 2,
                    call ("point", 1, M ("longitude", nc_value_float (12.78), "latitude", nc_value_float (56.7), NULL)),
                    call ("point", 1, M ("longitude", nc_value_float (12.57), "latitude", nc_value_float (56.0), NULL)));
  g_assert_cmpfloat (d.u.f, >, 78000.0);
  g_assert_cmpfloat (d.u.f, <, 80000.0);
  assert_null (call ("point.distance", 2,
                     call ("point", 1, M ("x", nc_value_int (0), "y", nc_value_int (0), NULL)),
                     call ("point", 1, M ("longitude", nc_value_int (0), "latitude", nc_value_int (0), NULL))));
  assert_null (call ("point", 1, M ("x", nc_value_null (), "y", nc_value_int (0), NULL)));
  call_fails (NC_ERROR_ARGUMENT, "point", 1, M ("y", nc_value_int (0), NULL));
}

/* ---- entities ---------------------------------------------------------- */

static void
test_entity_functions_read_the_transaction (void)
{
  NcStore *store = nc_store_new ();
  NcTxn *txn = nc_store_begin_write (store);
  NcToken person = nc_store_token (store, NC_TOKEN_LABEL, "Person", TRUE);
  NcToken knows = nc_store_token (store, NC_TOKEN_REL_TYPE, "KNOWS", TRUE);
  g_autoptr (NcMap) props = nc_map_new (1);
  nc_map_append (props, "name", S ("Ann"));
  g_autoptr (GError) error = NULL;
  NcNodeId a = nc_txn_create_node (txn, &person, 1, props, &error);
  g_assert_no_error (error);
  NcNodeId b = nc_txn_create_node (txn, NULL, 0, NULL, &error);
  NcRelId r = nc_txn_create_rel (txn, knows, a, b, NULL, &error);
  g_assert_no_error (error);
  fctx.txn = txn;
  fctx.store = store;

  assert_renders (call ("labels", 1, nc_value_node_ref (a)), "[Person]");
  assert_renders (call ("labels", 1, nc_value_node_ref (b)), "[]");
  assert_renders (call ("type", 1, nc_value_rel_ref (r, a, b)), "KNOWS");
  assert_renders (call ("keys", 1, nc_value_node_ref (a)), "[name]");
  NcValue pm = call ("properties", 1, nc_value_node_ref (a));
  g_assert_cmpint (pm.type, ==, NC_VALUE_MAP);
  g_assert_cmpstr (nc_value_str (nc_map_get (pm.u.map, "name")), ==, "Ann");
  nc_value_clear (&pm);
  assert_int (call ("id", 1, nc_value_node_ref (b)), b);
  g_autofree char *eid = g_strdup_printf ("4:nornicdb:%" G_GINT64_FORMAT, a);
  assert_renders (call ("elementId", 1, nc_value_node_ref (a)), eid);
  NcValue s = call ("startNode", 1, nc_value_rel_ref (r, 0, 0));
  g_assert_cmpint (s.type, ==, NC_VALUE_NODE);
  g_assert_cmpint (s.u.entity->id, ==, a);
  nc_value_clear (&s);
  NcValue e = call ("endNode", 1, nc_value_rel_ref (r, 0, 0));
  g_assert_cmpint (e.u.entity->id, ==, b);
  nc_value_clear (&e);
  /* TCK Graph3 [9] / Graph4 [6] */
  call_fails (NC_ERROR_TYPE, "labels", 1, nc_value_int (1));
  call_fails (NC_ERROR_TYPE, "type", 1, nc_value_node_ref (a));
  assert_null (call ("labels", 1, nc_value_null ()));

  /* Paths */
  NcPath *p = nc_path_new (2);
  p->nodes[0] = nc_value_node_ref (a);
  p->nodes[1] = nc_value_node_ref (b);
  p->rels[0] = nc_value_rel_ref (r, a, b);
  NcValue pv = nc_value_path_take (p);
  assert_int (call ("length", 1, nc_value_copy (&pv)), 1);
  NcValue ns = call ("nodes", 1, nc_value_copy (&pv));
  g_assert_cmpint (ns.u.list->len, ==, 2);
  nc_value_clear (&ns);
  NcValue rs = call ("relationships", 1, nc_value_copy (&pv));
  g_assert_cmpint (rs.u.list->len, ==, 1);
  nc_value_clear (&rs);
  nc_value_clear (&pv);

  fctx.txn = NULL;
  fctx.store = NULL;
  nc_txn_rollback (txn);
  nc_store_free (store);
}

static void
test_value_field_on_maps_and_nulls (void)
{
  NcValue m = M ("a", nc_value_int (1), NULL), out;
  g_assert_true (nc_cypher_value_field (&m, "a", &out, NULL));
  assert_int (out, 1);
  g_assert_true (nc_cypher_value_field (&m, "b", &out, NULL));
  assert_null (out);
  nc_value_clear (&m);
  NcValue n = nc_value_null ();
  g_assert_true (nc_cypher_value_field (&n, "a", &out, NULL));
  assert_null (out);
  g_autoptr (GError) error = NULL;
  NcValue i = nc_value_int (3);
  g_assert_false (nc_cypher_value_field (&i, "a", &out, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_TYPE);
}

/* ---- aggregates ------------------------------------------------------------ */

static NcValue
aggregate (const char *name, gboolean distinct, guint n_rows, const NcValue *rows, const NcValue *extra)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NcAggregate) agg = nc_aggregate_new (name, distinct, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < n_rows; i++)
    {
      NcValue args[2] = { rows[i], extra ? *extra : nc_value_null () };
      g_assert_true (nc_aggregate_step (agg, args, extra ? 2 : 1, &error));
      g_assert_no_error (error);
    }
  NcValue out;
  g_assert_true (nc_aggregate_finish (agg, &out, &error));
  g_assert_no_error (error);
  return out;
}

static void
test_aggregates_skip_nulls (void)
{
  NcValue rows[] = { nc_value_int (1), nc_value_null (), nc_value_int (2), nc_value_int (2) };
  assert_int (aggregate ("count", FALSE, 4, rows, NULL), 3);
  assert_int (aggregate ("count", TRUE, 4, rows, NULL), 2);
  assert_int (aggregate ("sum", FALSE, 4, rows, NULL), 5);
  assert_int (aggregate ("sum", TRUE, 4, rows, NULL), 3);
  assert_float (aggregate ("avg", FALSE, 4, rows, NULL), 5.0 / 3.0);
  assert_int (aggregate ("min", FALSE, 4, rows, NULL), 1);
  assert_int (aggregate ("max", FALSE, 4, rows, NULL), 2);
  assert_renders (aggregate ("collect", FALSE, 4, rows, NULL), "[1, 2, 2]");
  assert_renders (aggregate ("collect", TRUE, 4, rows, NULL), "[1, 2]");
  /* empty input */
  assert_int (aggregate ("count", FALSE, 0, NULL, NULL), 0);
  assert_int (aggregate ("sum", FALSE, 0, NULL, NULL), 0);
  assert_null (aggregate ("avg", FALSE, 0, NULL, NULL));
  assert_null (aggregate ("max", FALSE, 0, NULL, NULL));
  assert_renders (aggregate ("collect", FALSE, 0, NULL, NULL), "[]");
}

static void
test_count_star_counts_null_rows (void)
{
  g_autoptr (NcAggregate) agg = nc_aggregate_new ("count", FALSE, NULL);
  for (int i = 0; i < 3; i++)
    g_assert_true (nc_aggregate_step (agg, NULL, 0, NULL));
  NcValue out;
  g_assert_true (nc_aggregate_finish (agg, &out, NULL));
  assert_int (out, 3);
}

static void
test_distinct_treats_one_and_one_point_zero_as_equivalent (void)
{
  NcValue rows[] = { nc_value_int (1), nc_value_float (1.0), nc_value_int (2) };
  assert_int (aggregate ("count", TRUE, 3, rows, NULL), 2);
}

static void
test_sum_mixes_ints_and_floats_and_detects_overflow (void)
{
  NcValue rows[] = { nc_value_int (1), nc_value_float (0.5), nc_value_int (2) };
  assert_float (aggregate ("sum", FALSE, 3, rows, NULL), 3.5);
  g_autoptr (GError) error = NULL;
  g_autoptr (NcAggregate) agg = nc_aggregate_new ("sum", FALSE, NULL);
  NcValue big = nc_value_int (G_MAXINT64);
  g_assert_true (nc_aggregate_step (agg, &big, 1, &error));
  g_assert_false (nc_aggregate_step (agg, &big, 1, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARITHMETIC);
  g_autoptr (GError) e2 = NULL;
  g_autoptr (NcAggregate) agg2 = nc_aggregate_new ("sum", FALSE, NULL);
  NcValue s = S ("x");
  g_assert_false (nc_aggregate_step (agg2, &s, 1, &e2));
  g_assert_error (e2, NC_ERROR, NC_ERROR_TYPE);
  nc_value_clear (&s);
}

static void
test_sum_and_avg_of_durations (void)
{
  NcValue rows[] = { nc_value_duration (1, 2, 3600, 0), nc_value_duration (0, 4, 0, 500000000) };
  assert_renders (aggregate ("sum", FALSE, 2, rows, NULL), "P1M6DT1H0.5S");
  NcValue r2[] = { nc_value_duration (0, 2, 0, 0), nc_value_duration (0, 4, 0, 0) };
  assert_renders (aggregate ("avg", FALSE, 2, r2, NULL), "P3D");
  for (guint i = 0; i < 2; i++)
    {
      nc_value_clear (&rows[i]);
      nc_value_clear (&r2[i]);
    }
}

static void
test_stdev_and_percentiles (void)
{
  NcValue rows[] = { nc_value_int (10), nc_value_int (20), nc_value_int (30), nc_value_int (40), nc_value_int (50) };
  assert_float (aggregate ("stDev", FALSE, 5, rows, NULL), sqrt (250.0));
  assert_float (aggregate ("stDevP", FALSE, 5, rows, NULL), sqrt (200.0));
  NcValue one[] = { nc_value_int (7) };
  assert_float (aggregate ("stDev", FALSE, 1, one, NULL), 0.0);
  /* TCK Aggregation6: price 10.0, 20.0, 30.0 */
  NcValue prices[] = { nc_value_float (10.0), nc_value_float (20.0), nc_value_float (30.0) };
  NcValue p0 = nc_value_float (0.0), p5 = nc_value_float (0.5), p1 = nc_value_float (1.0), p33 = nc_value_float (0.33);
  assert_float (aggregate ("percentileCont", FALSE, 3, prices, &p0), 10.0);
  assert_float (aggregate ("percentileCont", FALSE, 3, prices, &p5), 20.0);
  assert_float (aggregate ("percentileCont", FALSE, 3, prices, &p1), 30.0);
  assert_float (aggregate ("percentileCont", FALSE, 3, prices, &p33), 16.6);
  assert_float (aggregate ("percentileDisc", FALSE, 3, prices, &p0), 10.0);
  assert_float (aggregate ("percentileDisc", FALSE, 3, prices, &p5), 20.0);
  assert_float (aggregate ("percentileDisc", FALSE, 3, prices, &p1), 30.0);
  assert_float (aggregate ("percentileDisc", FALSE, 3, prices, &p33), 10.0);
  NcValue ints[] = { nc_value_int (1), nc_value_int (2), nc_value_int (3), nc_value_int (4) };
  assert_int (aggregate ("percentileDisc", FALSE, 4, ints, &p5), 2);
  assert_float (aggregate ("percentileCont", FALSE, 4, ints, &p5), 2.5);
  /* percentile out of range: ArgumentError NumberOutOfRange */
  g_autoptr (GError) error = NULL;
  g_autoptr (NcAggregate) agg = nc_aggregate_new ("percentileDisc", FALSE, NULL);
  NcValue args[2] = { nc_value_float (10.0), nc_value_float (1.1) };
  g_assert_false (nc_aggregate_step (agg, args, 2, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
}

static void
test_min_max_use_orderability_across_types (void)
{
  NcValue rows[] = { nc_value_int (3), nc_value_float (1.5), nc_value_int (2) };
  assert_float (aggregate ("min", FALSE, 3, rows, NULL), 1.5);
  assert_int (aggregate ("max", FALSE, 3, rows, NULL), 3);
  NcValue strs[] = { S ("b"), S ("a"), S ("c") };
  assert_renders (aggregate ("max", FALSE, 3, strs, NULL), "c");
  for (guint i = 0; i < 3; i++)
    nc_value_clear (&strs[i]);
}

/* TCK Aggregation2 [11]/[12]: lists < strings < numbers for min/max. */
static void
test_min_max_over_mixed_values_follow_tck (void)
{
  NcValue rows[] = { nc_value_int (1), S ("a"), nc_value_null (), L (2, nc_value_int (1), nc_value_int (2)),
                     nc_value_float (0.2), S ("b") };
  assert_int (aggregate ("max", FALSE, 6, rows, NULL), 1);
  assert_renders (aggregate ("min", FALSE, 6, rows, NULL), "[1, 2]");
  NcValue strs[] = { S ("a"), S ("b"), S ("B"), nc_value_null (), S ("abc"), S ("abc1") };
  assert_renders (aggregate ("max", FALSE, 6, strs, NULL), "b");
  assert_renders (aggregate ("min", FALSE, 6, strs, NULL), "B");
  for (guint i = 0; i < 6; i++)
    {
      nc_value_clear (&rows[i]);
      nc_value_clear (&strs[i]);
    }
}

/* TCK Aggregation8: DISTINCT never collects null. */
static void
test_collect_distinct_ignores_nulls (void)
{
  NcValue rows[] = { nc_value_null (), nc_value_int (1), nc_value_null () };
  assert_renders (aggregate ("collect", TRUE, 3, rows, NULL), "[1]");
  assert_renders (aggregate ("collect", TRUE, 1, rows, NULL), "[]");
  assert_int (aggregate ("count", TRUE, 1, rows, NULL), 0);
}

static void
test_unknown_aggregate_is_rejected (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (nc_aggregate_new ("median", FALSE, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_SEMANTIC);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/functions/lookup-is-case-insensitive-and-knows-dotted-names", test_lookup_is_case_insensitive_and_knows_dotted_names);
  g_test_add_func ("/nornic/functions/arith-promotes-int-to-float", test_arith_promotes_int_to_float);
  g_test_add_func ("/nornic/functions/arith-integer-overflow-is-an-error", test_arith_integer_overflow_is_an_error);
  g_test_add_func ("/nornic/functions/arith-integer-division-by-zero-is-an-error", test_arith_integer_division_by_zero_is_an_error);
  g_test_add_func ("/nornic/functions/arith-null-propagates", test_arith_null_propagates);
  g_test_add_func ("/nornic/functions/arith-concatenates-strings-and-lists", test_arith_concatenates_strings_and_lists);
  g_test_add_func ("/nornic/functions/arith-temporal-minus-temporal-is-not-an-operator", test_arith_temporal_minus_temporal_is_not_an_operator);
  g_test_add_func ("/nornic/functions/to-string-prints-floats-like-java", test_to_string_prints_floats_like_java);
  g_test_add_func ("/nornic/functions/conversions-follow-neo4j", test_conversions_follow_neo4j);
  g_test_add_func ("/nornic/functions/range-counts-with-step-and-rejects-zero-step", test_range_counts_with_step_and_rejects_zero_step);
  g_test_add_func ("/nornic/functions/list-functions", test_list_functions);
  g_test_add_func ("/nornic/functions/value-type-names", test_value_type_names);
  g_test_add_func ("/nornic/functions/string-functions", test_string_functions);
  g_test_add_func ("/nornic/functions/math-functions", test_math_functions);
  g_test_add_func ("/nornic/functions/random-uuid-is-version-4", test_random_uuid_is_version_4);
  g_test_add_func ("/nornic/functions/timestamp-uses-statement-time", test_timestamp_uses_statement_time);
  g_test_add_func ("/nornic/functions/points-and-distance", test_points_and_distance);
  g_test_add_func ("/nornic/functions/entity-functions-read-the-transaction", test_entity_functions_read_the_transaction);
  g_test_add_func ("/nornic/functions/value-field-on-maps-and-nulls", test_value_field_on_maps_and_nulls);
  g_test_add_func ("/nornic/aggregates/skip-nulls", test_aggregates_skip_nulls);
  g_test_add_func ("/nornic/aggregates/count-star-counts-null-rows", test_count_star_counts_null_rows);
  g_test_add_func ("/nornic/aggregates/distinct-treats-1-and-1.0-as-equivalent", test_distinct_treats_one_and_one_point_zero_as_equivalent);
  g_test_add_func ("/nornic/aggregates/sum-mixes-ints-and-floats-and-detects-overflow", test_sum_mixes_ints_and_floats_and_detects_overflow);
  g_test_add_func ("/nornic/aggregates/sum-and-avg-of-durations", test_sum_and_avg_of_durations);
  g_test_add_func ("/nornic/aggregates/stdev-and-percentiles", test_stdev_and_percentiles);
  g_test_add_func ("/nornic/aggregates/min-max-use-orderability-across-types", test_min_max_use_orderability_across_types);
  g_test_add_func ("/nornic/aggregates/min-max-over-mixed-values-follow-tck", test_min_max_over_mixed_values_follow_tck);
  g_test_add_func ("/nornic/aggregates/collect-distinct-ignores-nulls", test_collect_distinct_ignores_nulls);
  g_test_add_func ("/nornic/aggregates/unknown-aggregate-is-rejected", test_unknown_aggregate_is_rejected);
  return g_test_run ();
}
