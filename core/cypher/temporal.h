/* Internal helpers shared by the function library's files (functions.c,
 * arith.c, aggregates.c, temporal.c). Not part of the engine's API. */
#pragma once

#include <glib.h>
#include "functions.h"

G_BEGIN_DECLS

#define NC_NANOS_PER_SECOND G_GINT64_CONSTANT (1000000000)
#define NC_SECONDS_PER_DAY G_GINT64_CONSTANT (86400)
#define NC_NANOS_PER_DAY (NC_NANOS_PER_SECOND * NC_SECONDS_PER_DAY)

/* Neo4j-style type name for messages: "Integer", "String", "List"... */
const char *nc_fn_type_label (const NcValue *v);

/* ---- durations ----------------------------------------------------------- */

/* Builds a duration, carrying nanos into seconds so that nanos has the sign
 * of seconds (Neo4j's normal form). Fails on overflow. */
gboolean nc_duration_make (gint64 months, gint64 days, gint64 seconds, gint64 nanos,
                           NcValue *out, GError **error);
/* Duration from fractional components (Neo4j's "approximate"): fractions of
 * a month spill into days with the average month length, fractions of days
 * into seconds, and so on. */
gboolean nc_duration_approximate (double months, double days, double seconds, double nanos,
                                  NcValue *out, GError **error);
/* d1 + sign*d2 */
gboolean nc_duration_add (const NcValue *a, const NcValue *b, int sign, NcValue *out,
                          GError **error);
/* duration * number or duration / number */
gboolean nc_duration_scale (const NcValue *d, const NcValue *num, gboolean divide, NcValue *out,
                            GError **error);
/* temporal instant + sign * duration */
gboolean nc_temporal_add_duration (const NcValue *t, const NcValue *d, int sign, NcValue *out,
                                   GError **error);

/* ---- rendering and fields ------------------------------------------------- */

/* ISO 8601 rendering as Neo4j prints it (temporal, duration, point). */
void nc_temporal_append_string (GString *out, const NcValue *v);
gboolean nc_temporal_field (const NcValue *v, const char *field, NcValue *out, GError **error);

/* ---- scalar functions implemented in temporal.c ------------------------- */

gboolean nc_fn_date (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_datetime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_localdatetime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_time (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_localtime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_duration (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_date_statement (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_datetime_statement (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_localdatetime_statement (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_time_statement (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_localtime_statement (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_date_realtime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_datetime_realtime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_localdatetime_realtime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_time_realtime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_localtime_realtime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_datetime_fromepoch (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_datetime_fromepochmillis (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_date_truncate (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_datetime_truncate (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_localdatetime_truncate (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_time_truncate (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_localtime_truncate (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_duration_between (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_duration_in_months (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_duration_in_days (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);
gboolean nc_fn_duration_in_seconds (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error);

G_END_DECLS
