/* Process-wide metrics: counters, gauges and histograms rendered in the
 * Prometheus text format. Updates are lock-free (atomics) and may happen on
 * any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NcMetrics NcMetrics;
typedef struct _NcHistogram NcHistogram;

NcMetrics *nc_metrics_new (void);
void nc_metrics_free (NcMetrics *m);

/* Counters/gauges by full sample name including labels, e.g.
 * `nornicdb_queries_total{type="read"}`; created on first use. */
void nc_metrics_inc (NcMetrics *m, const char *family, const char *labels, gint64 delta);
void nc_metrics_set (NcMetrics *m, const char *family, const char *labels, double value);
/* Declares a family's type and help (once, at start-up). */
void nc_metrics_declare (NcMetrics *m, const char *family, const char *type /* counter|gauge|histogram */,
                         const char *help);
/* Histogram with fixed bucket bounds (seconds). */
NcHistogram *nc_metrics_histogram (NcMetrics *m, const char *family, const double *bounds, guint n_bounds);
void nc_histogram_observe (NcHistogram *h, double value);

/* Appends every family in Prometheus text format. */
void nc_metrics_render (NcMetrics *m, GString *out);

/* Prometheus formatting helper (also handed to modules): appends HELP and
 * TYPE the first time `name` is seen in `out`, then the sample. */
void nc_metrics_append (GString *out, const char *name, const char *type, const char *help,
                        const char *labels, double value);

G_END_DECLS
