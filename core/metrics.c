#define G_LOG_DOMAIN "nornicdb-metrics"

#include "metrics.h"

#include <math.h>
#include <string.h>

/* One family: a name, type, help and its samples keyed by label string. */
typedef struct {
  char *name;
  char *type;
  char *help;
  GHashTable *samples; /* labels ("" for none) -> Sample* */
} Family;

typedef struct {
  gint64 count;   /* counters (atomic) */
  double value;   /* gauges (under the lock) */
  gboolean is_gauge;
} Sample;

struct _NcHistogram {
  char *family;
  double *bounds;
  guint n_bounds;
  gint64 *buckets;   /* n_bounds + 1 (last = +Inf), atomic */
  gint64 count;
  GMutex lock;       /* for the sum */
  double sum;
};

struct _NcMetrics {
  GMutex lock;
  GHashTable *families;   /* name -> Family* */
  GPtrArray *order;       /* Family* in declaration order */
  GPtrArray *histograms;  /* NcHistogram* */
};

static void
family_free (gpointer p)
{
  Family *f = p;
  g_free (f->name);
  g_free (f->type);
  g_free (f->help);
  g_hash_table_unref (f->samples);
  g_free (f);
}

static void
histogram_free (gpointer p)
{
  NcHistogram *h = p;
  g_free (h->family);
  g_free (h->bounds);
  g_free (h->buckets);
  g_mutex_clear (&h->lock);
  g_free (h);
}

NcMetrics *
nc_metrics_new (void)
{
  NcMetrics *m = g_new0 (NcMetrics, 1);
  g_mutex_init (&m->lock);
  m->families = g_hash_table_new (g_str_hash, g_str_equal);
  m->order = g_ptr_array_new_with_free_func (family_free);
  m->histograms = g_ptr_array_new_with_free_func (histogram_free);
  return m;
}

void
nc_metrics_free (NcMetrics *m)
{
  if (m == NULL)
    return;
  g_hash_table_unref (m->families);
  g_ptr_array_unref (m->order);
  g_ptr_array_unref (m->histograms);
  g_mutex_clear (&m->lock);
  g_free (m);
}

static Family *
family_get (NcMetrics *m, const char *family, const char *type)
{
  Family *f = g_hash_table_lookup (m->families, family);
  if (f == NULL)
    {
      f = g_new0 (Family, 1);
      f->name = g_strdup (family);
      f->type = g_strdup (type);
      f->samples = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_insert (m->families, f->name, f);
      g_ptr_array_add (m->order, f);
    }
  return f;
}

void
nc_metrics_declare (NcMetrics *m, const char *family, const char *type, const char *help)
{
  g_mutex_lock (&m->lock);
  Family *f = family_get (m, family, type);
  g_free (f->type);
  f->type = g_strdup (type);
  g_free (f->help);
  f->help = g_strdup (help);
  g_mutex_unlock (&m->lock);
}

static Sample *
sample_get (Family *f, const char *labels)
{
  const char *key = labels ? labels : "";
  Sample *s = g_hash_table_lookup (f->samples, key);
  if (s == NULL)
    {
      s = g_new0 (Sample, 1);
      g_hash_table_insert (f->samples, g_strdup (key), s);
    }
  return s;
}

void
nc_metrics_inc (NcMetrics *m, const char *family, const char *labels, gint64 delta)
{
  g_mutex_lock (&m->lock);
  Sample *s = sample_get (family_get (m, family, "counter"), labels);
  s->count += delta;
  g_mutex_unlock (&m->lock);
}

void
nc_metrics_set (NcMetrics *m, const char *family, const char *labels, double value)
{
  g_mutex_lock (&m->lock);
  Sample *s = sample_get (family_get (m, family, "gauge"), labels);
  s->value = value;
  s->is_gauge = TRUE;
  g_mutex_unlock (&m->lock);
}

NcHistogram *
nc_metrics_histogram (NcMetrics *m, const char *family, const double *bounds, guint n_bounds)
{
  NcHistogram *h = g_new0 (NcHistogram, 1);
  h->family = g_strdup (family);
  h->bounds = g_memdup2 (bounds, n_bounds * sizeof (double));
  h->n_bounds = n_bounds;
  h->buckets = g_new0 (gint64, n_bounds + 1);
  g_mutex_init (&h->lock);
  g_mutex_lock (&m->lock);
  g_ptr_array_add (m->histograms, h);
  family_get (m, family, "histogram");
  g_mutex_unlock (&m->lock);
  return h;
}

void
nc_histogram_observe (NcHistogram *h, double value)
{
  guint i = 0;
  while (i < h->n_bounds && value > h->bounds[i])
    i++;
  g_mutex_lock (&h->lock);
  h->buckets[i]++;
  h->count++;
  h->sum += value;
  g_mutex_unlock (&h->lock);
}

static void
append_number (GString *out, double v)
{
  if (isnan (v))
    g_string_append (out, "NaN");
  else if (isinf (v))
    g_string_append (out, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor (v) && fabs (v) < 1e15)
    g_string_append_printf (out, "%.0f", v);
  else
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      g_string_append (out, g_ascii_dtostr (buf, sizeof buf, v));
    }
}

void
nc_metrics_append (GString *out, const char *name, const char *type, const char *help,
                   const char *labels, double value)
{
  g_autofree char *marker = g_strdup_printf ("# TYPE %s ", name);
  if (strstr (out->str, marker) == NULL)
    {
      if (help != NULL)
        g_string_append_printf (out, "# HELP %s %s\n", name, help);
      g_string_append_printf (out, "# TYPE %s %s\n", name, type);
    }
  g_string_append (out, name);
  if (labels != NULL && labels[0] != '\0')
    g_string_append_printf (out, "{%s}", labels);
  g_string_append_c (out, ' ');
  append_number (out, value);
  g_string_append_c (out, '\n');
}

static int
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

void
nc_metrics_render (NcMetrics *m, GString *out)
{
  g_mutex_lock (&m->lock);
  for (guint i = 0; i < m->order->len; i++)
    {
      Family *f = g_ptr_array_index (m->order, i);
      if (strcmp (f->type, "histogram") == 0)
        continue;
      if (g_hash_table_size (f->samples) == 0)
        continue;
      g_autofree gpointer *keys = g_hash_table_get_keys_as_array (f->samples, NULL);
      guint n = g_hash_table_size (f->samples);
      qsort (keys, n, sizeof (gpointer), cmp_str);
      for (guint k = 0; k < n; k++)
        {
          Sample *s = g_hash_table_lookup (f->samples, keys[k]);
          nc_metrics_append (out, f->name, f->type, f->help, keys[k],
                             s->is_gauge ? s->value : (double) s->count);
        }
    }
  for (guint i = 0; i < m->histograms->len; i++)
    {
      NcHistogram *h = g_ptr_array_index (m->histograms, i);
      Family *f = g_hash_table_lookup (m->families, h->family);
      if (f && f->help)
        g_string_append_printf (out, "# HELP %s %s\n", h->family, f->help);
      g_string_append_printf (out, "# TYPE %s histogram\n", h->family);
      g_mutex_lock (&h->lock);
      gint64 cumulative = 0;
      for (guint b = 0; b <= h->n_bounds; b++)
        {
          cumulative += h->buckets[b];
          g_string_append_printf (out, "%s_bucket{le=\"", h->family);
          if (b < h->n_bounds)
            append_number (out, h->bounds[b]);
          else
            g_string_append (out, "+Inf");
          g_string_append_printf (out, "\"} %" G_GINT64_FORMAT "\n", cumulative);
        }
      g_string_append_printf (out, "%s_sum ", h->family);
      append_number (out, h->sum);
      g_string_append_printf (out, "\n%s_count %" G_GINT64_FORMAT "\n", h->family, h->count);
      g_mutex_unlock (&h->lock);
    }
  g_mutex_unlock (&m->lock);
}
