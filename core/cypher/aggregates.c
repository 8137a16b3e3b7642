/* Aggregating functions: count, sum, avg, min, max, collect, stDev,
 * stDevP, percentileCont, percentileDisc, each optionally DISTINCT.
 *
 * Nulls are skipped (except count(*)); DISTINCT uses the equivalence of
 * nc_value_equivalent()/nc_value_hash(), the same as grouping. */
#define G_LOG_DOMAIN "nornicdb-cypher"

#include <math.h>
#include <string.h>

#include "../errors.h"
#include "functions.h"
#include "temporal.h"

typedef enum {
  AGG_COUNT,
  AGG_SUM,
  AGG_AVG,
  AGG_MIN,
  AGG_MAX,
  AGG_COLLECT,
  AGG_STDEV,
  AGG_STDEVP,
  AGG_PERCENTILE_CONT,
  AGG_PERCENTILE_DISC,
} AggKind;

static const struct {
  const char *name;
  AggKind kind;
} aggregate_names[] = {
  { "count", AGG_COUNT },
  { "sum", AGG_SUM },
  { "avg", AGG_AVG },
  { "min", AGG_MIN },
  { "max", AGG_MAX },
  { "collect", AGG_COLLECT },
  { "stDev", AGG_STDEV },
  { "stDevP", AGG_STDEVP },
  { "percentileCont", AGG_PERCENTILE_CONT },
  { "percentileDisc", AGG_PERCENTILE_DISC },
};

/* What sum/avg have accumulated so far: the type is decided by the first
 * non-null value and mixing numbers with durations is an error. */
typedef enum { ACC_EMPTY, ACC_INT, ACC_FLOAT, ACC_DURATION } AccKind;

struct _NcAggregate {
  AggKind kind;
  gboolean distinct;
  GHashTable *seen;   /* NcValue* (owned) when distinct */
  gint64 count;
  /* sum/avg */
  AccKind acc;
  gint64 isum;
  double fsum;
  NcValue dsum;
  /* stdev: Welford's running mean and sum of squared deviations */
  double mean, m2;
  /* min/max */
  NcValue best;
  /* collect and percentiles */
  GArray *items;      /* NcValue */
  double percentile;
  gboolean have_percentile;
};

static guint
value_ptr_hash (gconstpointer p)
{
  return nc_value_hash (p);
}

static gboolean
value_ptr_equal (gconstpointer a, gconstpointer b)
{
  return nc_value_equivalent (a, b);
}

static void
value_ptr_free (gpointer p)
{
  NcValue *v = p;
  nc_value_clear (v);
  g_free (v);
}

static void
value_array_clear (gpointer p)
{
  nc_value_clear (p);
}

static gboolean
lookup_kind (const char *name, AggKind *kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (aggregate_names); i++)
    if (g_ascii_strcasecmp (aggregate_names[i].name, name) == 0)
      {
        *kind = aggregate_names[i].kind;
        return TRUE;
      }
  return FALSE;
}

gboolean
nc_cypher_is_aggregate (const char *name)
{
  AggKind k;
  return lookup_kind (name, &k);
}

NcAggregate *
nc_aggregate_new (const char *name, gboolean distinct, GError **error)
{
  AggKind kind;
  if (!lookup_kind (name, &kind))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_SEMANTIC, "Unknown aggregating function: %s", name);
      return NULL;
    }
  NcAggregate *agg = g_new0 (NcAggregate, 1);
  agg->kind = kind;
  agg->distinct = distinct;
  if (distinct)
    agg->seen = g_hash_table_new_full (value_ptr_hash, value_ptr_equal, value_ptr_free, NULL);
  if (kind == AGG_COLLECT || kind == AGG_PERCENTILE_CONT || kind == AGG_PERCENTILE_DISC)
    {
      agg->items = g_array_new (FALSE, FALSE, sizeof (NcValue));
      g_array_set_clear_func (agg->items, value_array_clear);
    }
  return agg;
}

void
nc_aggregate_free (NcAggregate *agg)
{
  if (agg == NULL)
    return;
  if (agg->seen)
    g_hash_table_unref (agg->seen);
  if (agg->items)
    g_array_unref (agg->items);
  nc_value_clear (&agg->dsum);
  nc_value_clear (&agg->best);
  g_free (agg);
}

static gboolean
numeric_error (const NcAggregate *agg, const NcValue *v, GError **error)
{
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
               "Type mismatch: %s() expected a numeric value%s but was %s",
               aggregate_names[agg->kind].name,
               agg->kind == AGG_SUM || agg->kind == AGG_AVG ? " or a Duration" : "",
               nc_fn_type_label (v));
  return FALSE;
}

static gboolean
step_sum (NcAggregate *agg, const NcValue *v, GError **error)
{
  if (v->type == NC_VALUE_DURATION)
    {
      if (agg->acc == ACC_EMPTY)
        {
          agg->acc = ACC_DURATION;
          agg->dsum = nc_value_copy (v);
          return TRUE;
        }
      if (agg->acc != ACC_DURATION)
        return numeric_error (agg, v, error);
      NcValue next;
      if (!nc_duration_add (&agg->dsum, v, 1, &next, error))
        return FALSE;
      nc_value_clear (&agg->dsum);
      agg->dsum = next;
      return TRUE;
    }
  if (v->type != NC_VALUE_INT && v->type != NC_VALUE_FLOAT)
    return numeric_error (agg, v, error);
  if (agg->acc == ACC_DURATION)
    return numeric_error (agg, v, error);
  if (v->type == NC_VALUE_INT && agg->acc != ACC_FLOAT)
    {
      agg->acc = ACC_INT;
      if (__builtin_add_overflow (agg->isum, v->u.i, &agg->isum))
        {
          g_set_error_literal (error, NC_ERROR, NC_ERROR_ARITHMETIC, "long overflow");
          return FALSE;
        }
      return TRUE;
    }
  if (agg->acc == ACC_INT || agg->acc == ACC_EMPTY)
    {
      agg->fsum = (double) agg->isum;
      agg->acc = ACC_FLOAT;
    }
  agg->fsum += v->type == NC_VALUE_INT ? (double) v->u.i : v->u.f;
  return TRUE;
}

static gboolean
step_avg (NcAggregate *agg, const NcValue *v, GError **error)
{
  if (v->type == NC_VALUE_DURATION)
    return step_sum (agg, v, error);
  if (v->type != NC_VALUE_INT && v->type != NC_VALUE_FLOAT)
    return numeric_error (agg, v, error);
  if (agg->acc == ACC_DURATION)
    return numeric_error (agg, v, error);
  /* A running mean never overflows, unlike a running integer sum. */
  double x = v->type == NC_VALUE_INT ? (double) v->u.i : v->u.f;
  agg->acc = ACC_FLOAT;
  agg->mean += (x - agg->mean) / (double) agg->count;
  return TRUE;
}

static gboolean
step_stdev (NcAggregate *agg, const NcValue *v, GError **error)
{
  if (v->type != NC_VALUE_INT && v->type != NC_VALUE_FLOAT)
    return numeric_error (agg, v, error);
  double x = v->type == NC_VALUE_INT ? (double) v->u.i : v->u.f;
  double delta = x - agg->mean;
  agg->mean += delta / (double) agg->count;
  agg->m2 += delta * (x - agg->mean);
  return TRUE;
}

static gboolean
set_percentile (NcAggregate *agg, const NcValue *p, GError **error)
{
  if (p->type != NC_VALUE_INT && p->type != NC_VALUE_FLOAT)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                   "Type mismatch: %s() expected a numeric percentile but was %s",
                   aggregate_names[agg->kind].name, nc_fn_type_label (p));
      return FALSE;
    }
  double d = p->type == NC_VALUE_INT ? (double) p->u.i : p->u.f;
  if (!(d >= 0.0 && d <= 1.0))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Number out of range: percentile must be between 0.0 and 1.0, was %g", d);
      return FALSE;
    }
  agg->percentile = d;
  agg->have_percentile = TRUE;
  return TRUE;
}

void
nc_aggregate_add_rows (NcAggregate *agg, gint64 n)
{
  agg->count += n;
}

gboolean
nc_aggregate_step (NcAggregate *agg, const NcValue *args, guint n_args, GError **error)
{
  if (n_args == 0)
    {
      /* count(*): every row counts, DISTINCT is meaningless. */
      agg->count++;
      return TRUE;
    }
  if ((agg->kind == AGG_PERCENTILE_CONT || agg->kind == AGG_PERCENTILE_DISC))
    {
      if (n_args < 2)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_SEMANTIC, "%s() needs 2 arguments",
                       aggregate_names[agg->kind].name);
          return FALSE;
        }
      if (args[1].type != NC_VALUE_NULL && !set_percentile (agg, &args[1], error))
        return FALSE;
    }
  const NcValue *v = &args[0];
  if (v->type == NC_VALUE_NULL)
    return TRUE;
  if (agg->distinct)
    {
      if (g_hash_table_contains (agg->seen, v))
        return TRUE;
      NcValue *copy = g_new (NcValue, 1);
      *copy = nc_value_copy (v);
      g_hash_table_add (agg->seen, copy);
    }
  agg->count++;
  switch (agg->kind)
    {
    case AGG_COUNT:
      return TRUE;
    case AGG_SUM:
      return step_sum (agg, v, error);
    case AGG_AVG:
      return step_avg (agg, v, error);
    case AGG_STDEV:
    case AGG_STDEVP:
      return step_stdev (agg, v, error);
    case AGG_MIN:
    case AGG_MAX:
      {
        if (agg->best.type == NC_VALUE_NULL)
          agg->best = nc_value_copy (v);
        else
          {
            int c = nc_value_order (v, &agg->best);
            if ((agg->kind == AGG_MIN && c < 0) || (agg->kind == AGG_MAX && c > 0))
              {
                nc_value_clear (&agg->best);
                agg->best = nc_value_copy (v);
              }
          }
        return TRUE;
      }
    case AGG_PERCENTILE_CONT:
    case AGG_PERCENTILE_DISC:
      if (v->type != NC_VALUE_INT && v->type != NC_VALUE_FLOAT)
        return numeric_error (agg, v, error);
      G_GNUC_FALLTHROUGH;
    case AGG_COLLECT:
      {
        NcValue copy = nc_value_copy (v);
        g_array_append_val (agg->items, copy);
        return TRUE;
      }
    default:
      break;
    }
  return TRUE;
}

static int
compare_numbers (gconstpointer a, gconstpointer b)
{
  return nc_value_order (a, b);
}

static double
num (const NcValue *v)
{
  return v->type == NC_VALUE_INT ? (double) v->u.i : v->u.f;
}

gboolean
nc_aggregate_finish (NcAggregate *agg, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  switch (agg->kind)
    {
    case AGG_COUNT:
      *out = nc_value_int (agg->count);
      return TRUE;
    case AGG_SUM:
      switch (agg->acc)
        {
        case ACC_EMPTY: *out = nc_value_int (0); break;
        case ACC_INT: *out = nc_value_int (agg->isum); break;
        case ACC_FLOAT: *out = nc_value_float (agg->fsum); break;
        case ACC_DURATION: *out = nc_value_copy (&agg->dsum); break;
        default: break;
        }
      return TRUE;
    case AGG_AVG:
      if (agg->count == 0)
        return TRUE;
      if (agg->acc == ACC_DURATION)
        {
          NcValue n = nc_value_int (agg->count);
          return nc_duration_scale (&agg->dsum, &n, TRUE, out, error);
        }
      *out = nc_value_float (agg->mean);
      return TRUE;
    case AGG_MIN:
    case AGG_MAX:
      *out = nc_value_copy (&agg->best);
      return TRUE;
    case AGG_COLLECT:
      {
        NcList *l = nc_list_new (agg->items->len);
        for (guint i = 0; i < agg->items->len; i++)
          l->items[i] = nc_value_copy (&g_array_index (agg->items, NcValue, i));
        *out = nc_value_list_take (l);
        return TRUE;
      }
    case AGG_STDEV:
      *out = nc_value_float (agg->count < 2 ? 0.0 : sqrt (agg->m2 / (double) (agg->count - 1)));
      return TRUE;
    case AGG_STDEVP:
      *out = nc_value_float (agg->count < 1 ? 0.0 : sqrt (agg->m2 / (double) agg->count));
      return TRUE;
    case AGG_PERCENTILE_CONT:
    case AGG_PERCENTILE_DISC:
      {
        guint n = agg->items->len;
        if (n == 0)
          return TRUE;
        g_array_sort (agg->items, compare_numbers);
        const NcValue *sorted = (const NcValue *) agg->items->data;
        double p = agg->percentile;
        if (agg->kind == AGG_PERCENTILE_CONT)
          {
            /* Linear interpolation between the two closest ranks (Neo4j). */
            double idx = p * (double) (n - 1);
            guint lo = (guint) floor (idx), hi = (guint) ceil (idx);
            if (lo == hi || lo == n - 1)
              *out = nc_value_float (num (&sorted[lo]));
            else
              *out = nc_value_float (num (&sorted[lo]) * ((double) hi - idx) +
                                     num (&sorted[hi]) * (idx - (double) lo));
          }
        else
          {
            /* The smallest value whose rank covers the percentile (Neo4j). */
            guint index;
            if (p == 1.0 || n == 1)
              index = n - 1;
            else
              {
                double fidx = p * (double) n;
                index = (guint) fidx;
                if ((double) index == fidx && index != 0)
                  index--;
              }
            *out = nc_value_copy (&sorted[index]);
          }
        return TRUE;
      }
    default:
      break;
    }
  return TRUE;
}
