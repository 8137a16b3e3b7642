/* Cypher arithmetic operators: + - * / % ^ and unary minus.
 *
 * Integers are 64-bit and overflow is an error (Neo4j: "long overflow"),
 * never a silent wrap; mixing an integer with a float promotes to float.
 * `+` also concatenates strings and lists and adds durations to temporal
 * instants. */
#define G_LOG_DOMAIN "nornicdb-cypher"

#include <math.h>
#include <string.h>

#include "../errors.h"
#include "functions.h"
#include "temporal.h"

static gboolean
overflow (GError **error)
{
  g_set_error_literal (error, NC_ERROR, NC_ERROR_ARITHMETIC, "long overflow");
  return FALSE;
}

static gboolean
is_number (const NcValue *v)
{
  return v->type == NC_VALUE_INT || v->type == NC_VALUE_FLOAT;
}

static double
as_double (const NcValue *v)
{
  return v->type == NC_VALUE_INT ? (double) v->u.i : v->u.f;
}

static gboolean
is_instant (const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_DATE:
    case NC_VALUE_LOCAL_TIME:
    case NC_VALUE_TIME:
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
      return TRUE;
    default:
      return FALSE;
    }
}

/* Values that `string + x` renders into the string (Neo4j concatenates
 * any property-storable value; maps, entities and paths are errors). */
static gboolean
is_concatenable (const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_BOOL:
    case NC_VALUE_INT:
    case NC_VALUE_FLOAT:
    case NC_VALUE_STRING:
    case NC_VALUE_DATE:
    case NC_VALUE_LOCAL_TIME:
    case NC_VALUE_TIME:
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
    case NC_VALUE_DURATION:
    case NC_VALUE_POINT:
      return TRUE;
    default:
      return FALSE;
    }
}

static NcValue
list_concat (const NcValue *a_items, guint na, const NcValue *b_items, guint nb)
{
  NcList *l = nc_list_new (na + nb);
  for (guint i = 0; i < na; i++)
    l->items[i] = nc_value_copy (&a_items[i]);
  for (guint i = 0; i < nb; i++)
    l->items[na + i] = nc_value_copy (&b_items[i]);
  return nc_value_list_take (l);
}

static gboolean
type_error (GError **error, const char *verb, const char *joiner, const NcValue *a,
            const NcValue *b)
{
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Cannot %s `%s` %s `%s`", verb,
               nc_fn_type_label (a), joiner, nc_fn_type_label (b));
  return FALSE;
}

static gboolean
arith_add (const NcValue *a, const NcValue *b, NcValue *out, GError **error)
{
  if (a->type == NC_VALUE_INT && b->type == NC_VALUE_INT)
    {
      gint64 r;
      if (__builtin_add_overflow (a->u.i, b->u.i, &r))
        return overflow (error);
      *out = nc_value_int (r);
      return TRUE;
    }
  if (is_number (a) && is_number (b))
    {
      *out = nc_value_float (as_double (a) + as_double (b));
      return TRUE;
    }
  if (a->type == NC_VALUE_LIST && b->type == NC_VALUE_LIST)
    {
      *out = list_concat (a->u.list->items, a->u.list->len, b->u.list->items, b->u.list->len);
      return TRUE;
    }
  if (a->type == NC_VALUE_LIST)
    {
      *out = list_concat (a->u.list->items, a->u.list->len, b, 1);
      return TRUE;
    }
  if (b->type == NC_VALUE_LIST)
    {
      *out = list_concat (a, 1, b->u.list->items, b->u.list->len);
      return TRUE;
    }
  if ((a->type == NC_VALUE_STRING && is_concatenable (b)) ||
      (b->type == NC_VALUE_STRING && is_concatenable (a)))
    {
      g_autofree char *sa = nc_cypher_to_string (a);
      g_autofree char *sb = nc_cypher_to_string (b);
      GString *s = g_string_new (sa);
      g_string_append (s, sb);
      gsize len = s->len;
      g_autofree char *data = g_string_free (s, FALSE);
      *out = nc_value_string_len (data, len);
      return TRUE;
    }
  if (a->type == NC_VALUE_DURATION && b->type == NC_VALUE_DURATION)
    return nc_duration_add (a, b, 1, out, error);
  if (is_instant (a) && b->type == NC_VALUE_DURATION)
    return nc_temporal_add_duration (a, b, 1, out, error);
  if (a->type == NC_VALUE_DURATION && is_instant (b))
    return nc_temporal_add_duration (b, a, 1, out, error);
  return type_error (error, "add", "and", a, b);
}

static gboolean
arith_sub (const NcValue *a, const NcValue *b, NcValue *out, GError **error)
{
  if (a->type == NC_VALUE_INT && b->type == NC_VALUE_INT)
    {
      gint64 r;
      if (__builtin_sub_overflow (a->u.i, b->u.i, &r))
        return overflow (error);
      *out = nc_value_int (r);
      return TRUE;
    }
  if (is_number (a) && is_number (b))
    {
      *out = nc_value_float (as_double (a) - as_double (b));
      return TRUE;
    }
  if (a->type == NC_VALUE_DURATION && b->type == NC_VALUE_DURATION)
    return nc_duration_add (a, b, -1, out, error);
  if (is_instant (a) && b->type == NC_VALUE_DURATION)
    return nc_temporal_add_duration (a, b, -1, out, error);
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Cannot subtract `%s` from `%s`",
               nc_fn_type_label (b), nc_fn_type_label (a));
  return FALSE;
}

static gboolean
arith_mul (const NcValue *a, const NcValue *b, NcValue *out, GError **error)
{
  if (a->type == NC_VALUE_INT && b->type == NC_VALUE_INT)
    {
      gint64 r;
      if (__builtin_mul_overflow (a->u.i, b->u.i, &r))
        return overflow (error);
      *out = nc_value_int (r);
      return TRUE;
    }
  if (is_number (a) && is_number (b))
    {
      *out = nc_value_float (as_double (a) * as_double (b));
      return TRUE;
    }
  if (a->type == NC_VALUE_DURATION && is_number (b))
    return nc_duration_scale (a, b, FALSE, out, error);
  if (is_number (a) && b->type == NC_VALUE_DURATION)
    return nc_duration_scale (b, a, FALSE, out, error);
  return type_error (error, "multiply", "and", a, b);
}

static gboolean
arith_div (const NcValue *a, const NcValue *b, NcValue *out, GError **error)
{
  if (a->type == NC_VALUE_INT && b->type == NC_VALUE_INT)
    {
      if (b->u.i == 0)
        {
          g_set_error_literal (error, NC_ERROR, NC_ERROR_ARITHMETIC, "/ by zero");
          return FALSE;
        }
      if (a->u.i == G_MININT64 && b->u.i == -1)
        return overflow (error);
      *out = nc_value_int (a->u.i / b->u.i);
      return TRUE;
    }
  if (is_number (a) && is_number (b))
    {
      *out = nc_value_float (as_double (a) / as_double (b));
      return TRUE;
    }
  if (a->type == NC_VALUE_DURATION && is_number (b))
    return nc_duration_scale (a, b, TRUE, out, error);
  return type_error (error, "divide", "by", a, b);
}

static gboolean
arith_mod (const NcValue *a, const NcValue *b, NcValue *out, GError **error)
{
  if (a->type == NC_VALUE_INT && b->type == NC_VALUE_INT)
    {
      if (b->u.i == 0)
        {
          g_set_error_literal (error, NC_ERROR, NC_ERROR_ARITHMETIC, "/ by zero");
          return FALSE;
        }
      /* MIN % -1 traps in C; the mathematical result is 0. */
      *out = nc_value_int (b->u.i == -1 ? 0 : a->u.i % b->u.i);
      return TRUE;
    }
  if (is_number (a) && is_number (b))
    {
      *out = nc_value_float (fmod (as_double (a), as_double (b)));
      return TRUE;
    }
  return type_error (error, "calculate modulus of", "and", a, b);
}

static gboolean
arith_pow (const NcValue *a, const NcValue *b, NcValue *out, GError **error)
{
  if (is_number (a) && is_number (b))
    {
      *out = nc_value_float (pow (as_double (a), as_double (b)));
      return TRUE;
    }
  return type_error (error, "raise", "to the power of", a, b);
}

gboolean
nc_cypher_arith (NcArithOp op, const NcValue *a, const NcValue *b, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  if (a->type == NC_VALUE_NULL || b->type == NC_VALUE_NULL)
    return TRUE;
  switch (op)
    {
    case NC_OP_ADD: return arith_add (a, b, out, error);
    case NC_OP_SUB: return arith_sub (a, b, out, error);
    case NC_OP_MUL: return arith_mul (a, b, out, error);
    case NC_OP_DIV: return arith_div (a, b, out, error);
    case NC_OP_MOD: return arith_mod (a, b, out, error);
    case NC_OP_POW: return arith_pow (a, b, out, error);
    default: break;
    }
  g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN, "unknown arithmetic operator %d", (int) op);
  return FALSE;
}

gboolean
nc_cypher_negate (const NcValue *a, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  switch (a->type)
    {
    case NC_VALUE_NULL:
      return TRUE;
    case NC_VALUE_INT:
      if (a->u.i == G_MININT64)
        return overflow (error);
      *out = nc_value_int (-a->u.i);
      return TRUE;
    case NC_VALUE_FLOAT:
      *out = nc_value_float (-a->u.f);
      return TRUE;
    case NC_VALUE_DURATION:
      {
        const NcWide *w = a->u.wide;
        if (w->u.duration.months == G_MININT64 || w->u.duration.days == G_MININT64 ||
            w->u.duration.seconds == G_MININT64)
          return overflow (error);
        return nc_duration_make (-w->u.duration.months, -w->u.duration.days,
                                 -w->u.duration.seconds, -(gint64) w->u.duration.nanos, out, error);
      }
    default:
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                   "Type mismatch: expected Integer, Float or Duration but was %s",
                   nc_fn_type_label (a));
      return FALSE;
    }
}
