/* Temporal and duration values: ISO 8601 parsing and Neo4j-style
 * rendering, constructors from strings/maps/other temporals, field
 * accessors, truncation, duration arithmetic and duration.between.
 *
 * Calendar arithmetic is done by hand (proleptic Gregorian, Howard
 * Hinnant's civil-day algorithms) because GDateTime cannot represent years
 * outside 1..9999 nor nanoseconds; time-zone rules come from GTimeZone. */
#define G_LOG_DOMAIN "nornicdb-cypher"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "functions.h"
#include "temporal.h"

/* Neo4j's average month (365.2425 / 12 days), used to approximate
 * fractional months. */
#define AVG_SECONDS_PER_MONTH 2629746.0
#define MAX_YEAR 999999999
#define MIN_YEAR (-999999999)

/* ---- integer helpers ------------------------------------------------------ */

static gint64
floor_div (gint64 a, gint64 b)
{
  gint64 q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

static gint64
floor_mod (gint64 a, gint64 b)
{
  return a - floor_div (a, b) * b;
}

static gboolean
arg_error (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
arg_error (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT, msg);
  return FALSE;
}

static gboolean
overflow_error (GError **error)
{
  g_set_error_literal (error, NC_ERROR, NC_ERROR_ARITHMETIC, "long overflow");
  return FALSE;
}

/* ---- calendar ------------------------------------------------------------ */

static gint64
days_from_civil (gint64 y, gint64 m, gint64 d)
{
  y -= m <= 2;
  gint64 era = (y >= 0 ? y : y - 399) / 400;
  gint64 yoe = y - era * 400;
  gint64 doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  gint64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void
civil_from_days (gint64 z, gint64 *y, gint64 *m, gint64 *d)
{
  z += 719468;
  gint64 era = (z >= 0 ? z : z - 146096) / 146097;
  gint64 doe = z - era * 146097;
  gint64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  gint64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  gint64 mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2);
}

static gboolean
is_leap (gint64 y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_length (gint64 y, gint64 m)
{
  static const int len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  return m == 2 && is_leap (y) ? 29 : len[m - 1];
}

/* 1 = Monday ... 7 = Sunday; 1970-01-01 was a Thursday. */
static int
day_of_week (gint64 days)
{
  return (int) floor_mod (days + 3, 7) + 1;
}

/* First day (Monday) of ISO week 1 of week-year `wy`. */
static gint64
week_year_start (gint64 wy)
{
  gint64 jan4 = days_from_civil (wy, 1, 4);
  return jan4 - (day_of_week (jan4) - 1);
}

static void
iso_week (gint64 days, gint64 *wy, gint64 *week)
{
  gint64 y, m, d;
  civil_from_days (days, &y, &m, &d);
  gint64 w = y;
  if (days >= week_year_start (y + 1))
    w = y + 1;
  else if (days < week_year_start (y))
    w = y - 1;
  *wy = w;
  *week = (days - week_year_start (w)) / 7 + 1;
}

static int
weeks_in_year (gint64 wy)
{
  return (int) ((week_year_start (wy + 1) - week_year_start (wy)) / 7);
}

/* ---- time zones ------------------------------------------------------------ */

typedef struct {
  gint32 offset;  /* seconds east of UTC (for zones: resolved per instant) */
  char *zone;     /* NULL for a fixed offset */
} Tz;

static void
tz_clear (Tz *tz)
{
  g_clear_pointer (&tz->zone, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Tz, tz_clear)

static GMutex zone_lock;
static GHashTable *zone_cache; /* name -> GTimeZone */

static GTimeZone *
zone_lookup (const char *name)
{
  g_mutex_lock (&zone_lock);
  if (zone_cache == NULL)
    zone_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_time_zone_unref);
  GTimeZone *tz = g_hash_table_lookup (zone_cache, name);
  /* Only IANA-style names: no paths out of the zoneinfo tree, no POSIX
   * rule strings such as "ABC3". */
  gboolean plausible = name[0] != '\0' && name[0] != '+' && name[0] != '-' && name[0] != '/' &&
                       strstr (name, "..") == NULL && strlen (name) < 64 &&
                       (strchr (name, '/') != NULL || strpbrk (name, "0123456789") == NULL);
  if (tz == NULL && plausible)
    {
      tz = g_time_zone_new_identifier (name);
      if (tz)
        g_hash_table_insert (zone_cache, g_strdup (name), tz);
    }
  g_mutex_unlock (&zone_lock);
  return tz;
}

static gint32
zone_offset_at_utc (const char *zone, gint64 utc)
{
  GTimeZone *tz = zone_lookup (zone);
  if (tz == NULL)
    return 0;
  gint interval = g_time_zone_find_interval (tz, G_TIME_TYPE_UNIVERSAL, utc);
  return interval < 0 ? 0 : g_time_zone_get_offset (tz, interval);
}

/* Offset for a local wall-clock time, as java.time resolves it: in an
 * overlap the earlier offset, in a gap the offset before the gap (which
 * moves the wall clock forward by the gap's length). */
static gint32
zone_offset_for_local (const char *zone, gint64 local)
{
  gint32 before = zone_offset_at_utc (zone, local - 86400 * 2);
  gint32 after = zone_offset_at_utc (zone, local + 86400 * 2);
  if (zone_offset_at_utc (zone, local - before) == before)
    return before;
  if (zone_offset_at_utc (zone, local - after) == after)
    return after;
  gint32 mid = zone_offset_at_utc (zone, local);
  if (zone_offset_at_utc (zone, local - mid) == mid)
    return mid;
  return before;
}

/* Parses "Z", "+01", "+0100", "+01:00", "+01:00:30"; returns FALSE when `s`
 * is not an offset at all. */
static gboolean
parse_offset (const char *s, gsize len, gint32 *offset)
{
  if (len == 1 && (s[0] == 'Z' || s[0] == 'z'))
    {
      *offset = 0;
      return TRUE;
    }
  if (len < 3 || (s[0] != '+' && s[0] != '-'))
    return FALSE;
  int sign = s[0] == '-' ? -1 : 1;
  int parts[3] = { 0, 0, 0 };
  guint np = 0;
  gsize i = 1;
  while (i < len && np < 3)
    {
      if (i + 2 > len || !g_ascii_isdigit (s[i]) || !g_ascii_isdigit (s[i + 1]))
        return FALSE;
      parts[np++] = (s[i] - '0') * 10 + (s[i + 1] - '0');
      i += 2;
      if (i < len && s[i] == ':')
        i++;
    }
  if (i != len || parts[0] > 18 || parts[1] > 59 || parts[2] > 59)
    return FALSE;
  gint32 off = parts[0] * 3600 + parts[1] * 60 + parts[2];
  if (off > 18 * 3600)
    return FALSE;
  *offset = sign * off;
  return TRUE;
}

static gboolean
parse_tz (const char *s, gsize len, Tz *tz, GError **error)
{
  tz_clear (tz);
  tz->offset = 0;
  if (parse_offset (s, len, &tz->offset))
    return TRUE;
  g_autofree char *name = g_strndup (s, len);
  if (zone_lookup (name) == NULL)
    return arg_error (error, "Invalid value for TimeZone: Text '%s' could not be parsed", name);
  tz->zone = g_steal_pointer (&name);
  return TRUE;
}

static void
append_offset (GString *out, gint32 off)
{
  if (off == 0)
    {
      g_string_append_c (out, 'Z');
      return;
    }
  char sign = off < 0 ? '-' : '+';
  gint32 a = ABS (off);
  g_string_append_printf (out, "%c%02d:%02d", sign, a / 3600, (a / 60) % 60);
  if (a % 60)
    g_string_append_printf (out, ":%02d", a % 60);
}

/* ---- the common decomposition ---------------------------------------------- */

/* Any temporal value as local date + local time + optional zone. */
typedef struct {
  gboolean has_date, has_time, has_tz;
  gint64 days;   /* local epoch day */
  gint64 nod;    /* local nanos of day */
  Tz tz;
} Parts;

static void
parts_clear (Parts *p)
{
  tz_clear (&p->tz);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Parts, parts_clear)

static gboolean
is_temporal (const NcValue *v)
{
  return v->type == NC_VALUE_DATE || v->type == NC_VALUE_LOCAL_TIME || v->type == NC_VALUE_TIME ||
         v->type == NC_VALUE_LOCAL_DATETIME || v->type == NC_VALUE_DATETIME;
}

static void
parts_from_value (const NcValue *v, Parts *p)
{
  memset (p, 0, sizeof *p);
  switch (v->type)
    {
    case NC_VALUE_DATE:
      p->has_date = TRUE;
      p->days = v->u.date_days;
      break;
    case NC_VALUE_LOCAL_TIME:
      p->has_time = TRUE;
      p->nod = v->u.local_time_ns;
      break;
    case NC_VALUE_TIME:
      p->has_time = TRUE;
      p->nod = v->u.time.ns;
      p->has_tz = TRUE;
      p->tz.offset = v->u.time.offset_s;
      break;
    case NC_VALUE_LOCAL_DATETIME:
      p->has_date = p->has_time = TRUE;
      p->days = floor_div (v->u.local_dt.seconds, NC_SECONDS_PER_DAY);
      p->nod = floor_mod (v->u.local_dt.seconds, NC_SECONDS_PER_DAY) * NC_NANOS_PER_SECOND + v->u.local_dt.nanos;
      break;
    case NC_VALUE_DATETIME:
      {
        const NcWide *w = v->u.wide;
        gint64 local = w->u.datetime.seconds + w->u.datetime.offset_s;
        p->has_date = p->has_time = p->has_tz = TRUE;
        p->days = floor_div (local, NC_SECONDS_PER_DAY);
        p->nod = floor_mod (local, NC_SECONDS_PER_DAY) * NC_NANOS_PER_SECOND + w->u.datetime.nanos;
        p->tz.offset = w->u.datetime.offset_s;
        p->tz.zone = w->u.datetime.zone_id ? g_strdup (w->u.datetime.zone_id->data) : NULL;
        break;
      }
    default:
      break;
    }
}

/* Offset that applies to the local date-time in `p` (zones resolved). */
static gint32
parts_offset (const Parts *p)
{
  if (p->tz.zone)
    return zone_offset_for_local (p->tz.zone, p->days * NC_SECONDS_PER_DAY + p->nod / NC_NANOS_PER_SECOND);
  return p->tz.offset;
}

static gboolean
check_year (gint64 days, GError **error)
{
  gint64 y, m, d;
  civil_from_days (days, &y, &m, &d);
  if (y > MAX_YEAR || y < MIN_YEAR)
    return arg_error (error, "Invalid value for YearOfEra (valid values -999999999 - 999999999): %" G_GINT64_FORMAT, y);
  return TRUE;
}

static gboolean
value_from_parts (NcValueType type, const Parts *p, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  if ((type == NC_VALUE_DATE || type == NC_VALUE_LOCAL_DATETIME || type == NC_VALUE_DATETIME) &&
      !check_year (p->days, error))
    return FALSE;
  switch (type)
    {
    case NC_VALUE_DATE:
      *out = nc_value_date (p->days);
      return TRUE;
    case NC_VALUE_LOCAL_TIME:
      *out = nc_value_local_time (p->nod);
      return TRUE;
    case NC_VALUE_TIME:
      {
        gint32 off = p->tz.offset;
        if (p->tz.zone)
          off = zone_offset_at_utc (p->tz.zone, g_get_real_time () / G_USEC_PER_SEC);
        *out = nc_value_time (p->nod, off);
        return TRUE;
      }
    case NC_VALUE_LOCAL_DATETIME:
      *out = nc_value_local_datetime (p->days * NC_SECONDS_PER_DAY + p->nod / NC_NANOS_PER_SECOND,
                                      (gint32) (p->nod % NC_NANOS_PER_SECOND));
      return TRUE;
    case NC_VALUE_DATETIME:
      {
        gint64 local = p->days * NC_SECONDS_PER_DAY + p->nod / NC_NANOS_PER_SECOND;
        gint32 off = parts_offset (p);
        gint64 utc = local - off;
        if (p->tz.zone)
          off = zone_offset_at_utc (p->tz.zone, utc);
        *out = nc_value_datetime (utc, (gint32) (p->nod % NC_NANOS_PER_SECOND), off, p->tz.zone);
        return TRUE;
      }
    default:
      break;
    }
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "not a temporal type");
  return FALSE;
}

/* Re-expresses the instant of `p` in `tz` (same instant, new zone). Needs
 * a date for zones; time-only values use offsets. */
static void
parts_convert_tz (Parts *p, const Tz *tz)
{
  gint64 nanos_local = p->nod;
  gint64 days = p->has_date ? p->days : 0;
  gint32 old_off = parts_offset (p);
  gint64 utc = days * NC_SECONDS_PER_DAY + nanos_local / NC_NANOS_PER_SECOND - old_off;
  gint32 new_off = tz->zone ? zone_offset_at_utc (tz->zone, utc) : tz->offset;
  gint64 local = utc + new_off;
  gint64 sub = nanos_local % NC_NANOS_PER_SECOND;
  if (p->has_date)
    p->days = floor_div (local, NC_SECONDS_PER_DAY);
  p->nod = floor_mod (local, NC_SECONDS_PER_DAY) * NC_NANOS_PER_SECOND + sub;
  tz_clear (&p->tz);
  p->tz.offset = new_off;
  p->tz.zone = g_strdup (tz->zone);
  p->has_tz = TRUE;
}

/* ---- rendering -------------------------------------------------------------- */

static void
append_date (GString *out, gint64 days)
{
  gint64 y, m, d;
  civil_from_days (days, &y, &m, &d);
  if (y > 9999)
    g_string_append_printf (out, "+%" G_GINT64_FORMAT, y);
  else if (y < 0)
    g_string_append_printf (out, "-%04" G_GINT64_FORMAT, -y);
  else
    g_string_append_printf (out, "%04" G_GINT64_FORMAT, y);
  g_string_append_printf (out, "-%02d-%02d", (int) m, (int) d);
}

static void
append_fraction (GString *out, gint64 nanos)
{
  if (nanos % 1000000 == 0)
    g_string_append_printf (out, ".%03d", (int) (nanos / 1000000));
  else if (nanos % 1000 == 0)
    g_string_append_printf (out, ".%06d", (int) (nanos / 1000));
  else
    g_string_append_printf (out, ".%09d", (int) nanos);
}

static void
append_time (GString *out, gint64 nod)
{
  gint64 s = nod / NC_NANOS_PER_SECOND, n = nod % NC_NANOS_PER_SECOND;
  g_string_append_printf (out, "%02d:%02d", (int) (s / 3600), (int) (s / 60 % 60));
  if (s % 60 || n)
    {
      g_string_append_printf (out, ":%02d", (int) (s % 60));
      if (n)
        append_fraction (out, n);
    }
}

static void
append_duration_part (GString *out, gint64 q, char unit)
{
  if (q != 0)
    g_string_append_printf (out, "%" G_GINT64_FORMAT "%c", q, unit);
}

static void
append_nanos_digits (GString *out, gint64 n)
{
  char buf[16];
  g_snprintf (buf, sizeof buf, "%09d", (int) ABS (n));
  int len = 9;
  while (len > 0 && buf[len - 1] == '0')
    buf[--len] = '\0';
  g_string_append_c (out, '.');
  g_string_append (out, buf);
}

/* Neo4j's DurationValue.prettyPrint. */
static void
append_duration (GString *out, const NcWide *w)
{
  gint64 months = w->u.duration.months, days = w->u.duration.days;
  gint64 s = w->u.duration.seconds, n = w->u.duration.nanos;
  gsize start = out->len;
  g_string_append_c (out, 'P');
  append_duration_part (out, months / 12, 'Y');
  append_duration_part (out, months % 12, 'M');
  append_duration_part (out, days, 'D');
  if (s != 0 || n != 0)
    {
      g_string_append_c (out, 'T');
      append_duration_part (out, s / 3600, 'H');
      s %= 3600;
      append_duration_part (out, s / 60, 'M');
      s %= 60;
      if (s != 0)
        {
          g_string_append_printf (out, "%" G_GINT64_FORMAT, s);
          if (n != 0)
            append_nanos_digits (out, n);
          g_string_append_c (out, 'S');
        }
      else if (n != 0)
        {
          g_string_append (out, n < 0 ? "-0" : "0");
          append_nanos_digits (out, n);
          g_string_append_c (out, 'S');
        }
    }
  if (out->len == start + 1)
    g_string_append (out, "T0S");
}

static void
append_point_coord (GString *out, double d)
{
  g_autofree char *s = nc_cypher_to_string (&(NcValue){ .type = NC_VALUE_FLOAT, .u.f = d });
  g_string_append (out, s);
}

static const char *
crs_name (gint32 srid)
{
  switch (srid)
    {
    case 4326: return "wgs-84";
    case 4979: return "wgs-84-3d";
    case 9157: return "cartesian-3d";
    default: return "cartesian";
    }
}

void
nc_temporal_append_string (GString *out, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_DATE:
      append_date (out, v->u.date_days);
      break;
    case NC_VALUE_LOCAL_TIME:
      append_time (out, v->u.local_time_ns);
      break;
    case NC_VALUE_TIME:
      append_time (out, v->u.time.ns);
      append_offset (out, v->u.time.offset_s);
      break;
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
      {
        g_auto (Parts) p;
        parts_from_value (v, &p);
        append_date (out, p.days);
        g_string_append_c (out, 'T');
        append_time (out, p.nod);
        if (v->type == NC_VALUE_DATETIME)
          {
            append_offset (out, p.tz.offset);
            if (p.tz.zone)
              g_string_append_printf (out, "[%s]", p.tz.zone);
          }
        break;
      }
    case NC_VALUE_DURATION:
      append_duration (out, v->u.wide);
      break;
    case NC_VALUE_POINT:
      {
        const NcWide *w = v->u.wide;
        g_string_append (out, "point({x: ");
        append_point_coord (out, w->u.point.x);
        g_string_append (out, ", y: ");
        append_point_coord (out, w->u.point.y);
        if (w->u.point.dims == 3)
          {
            g_string_append (out, ", z: ");
            append_point_coord (out, w->u.point.z);
          }
        g_string_append_printf (out, ", crs: '%s'})", crs_name (w->u.point.srid));
        break;
      }
    default:
      break;
    }
}

/* ---- string parsing ---------------------------------------------------------- */

typedef struct {
  const char *s;
  gsize pos, len;
} Scan;

static int
scan_digits (Scan *sc)
{
  int n = 0;
  while (sc->pos + n < sc->len && g_ascii_isdigit (sc->s[sc->pos + n]))
    n++;
  return n;
}

static gint64
take_int (Scan *sc, int n)
{
  gint64 v = 0;
  for (int i = 0; i < n; i++)
    v = v * 10 + (sc->s[sc->pos++] - '0');
  return v;
}

static gboolean
accept (Scan *sc, char c)
{
  if (sc->pos < sc->len && sc->s[sc->pos] == c)
    {
      sc->pos++;
      return TRUE;
    }
  return FALSE;
}

static gboolean
parse_fail (const Scan *sc, const char *what, GError **error)
{
  g_autofree char *text = g_strndup (sc->s, sc->len);
  return arg_error (error, "Text '%s' could not be parsed as a %s", text, what);
}

static gboolean
date_from_ymd (gint64 y, gint64 m, gint64 d, gint64 *days, GError **error)
{
  if (m < 1 || m > 12)
    return arg_error (error, "Invalid value for MonthOfYear (valid values 1 - 12): %" G_GINT64_FORMAT, m);
  if (d < 1 || d > month_length (y, m))
    return arg_error (error, "Invalid value for DayOfMonth (valid values 1 - %d): %" G_GINT64_FORMAT,
                      month_length (y, m), d);
  *days = days_from_civil (y, m, d);
  return TRUE;
}

static gboolean
date_from_week (gint64 wy, gint64 w, gint64 dow, gint64 *days, GError **error)
{
  if (w < 1 || w > weeks_in_year (wy))
    return arg_error (error, "Invalid value for WeekOfWeekBasedYear (valid values 1 - %d): %" G_GINT64_FORMAT,
                      weeks_in_year (wy), w);
  if (dow < 1 || dow > 7)
    return arg_error (error, "Invalid value for DayOfWeek (valid values 1 - 7): %" G_GINT64_FORMAT, dow);
  *days = week_year_start (wy) + (w - 1) * 7 + (dow - 1);
  return TRUE;
}

static gboolean
date_from_ordinal (gint64 y, gint64 od, gint64 *days, GError **error)
{
  if (od < 1 || od > (is_leap (y) ? 366 : 365))
    return arg_error (error, "Invalid value for DayOfYear (valid values 1 - 365/366): %" G_GINT64_FORMAT, od);
  *days = days_from_civil (y, 1, 1) + od - 1;
  return TRUE;
}

static gboolean
date_from_quarter (gint64 y, gint64 q, gint64 dq, gint64 *days, GError **error)
{
  if (q < 1 || q > 4)
    return arg_error (error, "Invalid value for QuarterOfYear (valid values 1 - 4): %" G_GINT64_FORMAT, q);
  gint64 start = days_from_civil (y, (q - 1) * 3 + 1, 1);
  gint64 end = q == 4 ? days_from_civil (y + 1, 1, 1) : days_from_civil (y, q * 3 + 1, 1);
  if (dq < 1 || dq > end - start)
    return arg_error (error, "Invalid value for DayOfQuarter (valid values 1 - %" G_GINT64_FORMAT "): %" G_GINT64_FORMAT,
                      end - start, dq);
  *days = start + dq - 1;
  return TRUE;
}

/* YYYY[-MM[-DD]] | YYYYMMDD | YYYYMM | YYYY-Www[-D] | YYYYWww[D] | YYYY-DDD | YYYYDDD */
static gboolean
parse_date_part (Scan *sc, gint64 *days, GError **error)
{
  int sign = 1;
  if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
    sign = sc->s[sc->pos++] == '-' ? -1 : 1;
  int nd = scan_digits (sc);
  if (nd < 4)
    return parse_fail (sc, "date", error);
  /* Without a sign the year has exactly four digits (compact forms follow). */
  gint64 y = take_int (sc, sign == 1 && sc->s[0] != '+' ? 4 : nd) * sign;
  gboolean ext = accept (sc, '-');
  if (accept (sc, 'W'))
    {
      if (scan_digits (sc) < 2)
        return parse_fail (sc, "date", error);
      gint64 w = take_int (sc, 2), dow = 1;
      if (ext ? accept (sc, '-') : TRUE)
        {
          int n = scan_digits (sc);
          if (n == 1)
            dow = take_int (sc, 1);
          else if (ext || n != 0)
            return parse_fail (sc, "date", error);
        }
      return date_from_week (y, w, dow, days, error);
    }
  int n = scan_digits (sc);
  if (n == 0)
    {
      if (ext)
        return parse_fail (sc, "date", error);
      return date_from_ymd (y, 1, 1, days, error);
    }
  if (ext)
    {
      if (n == 3)
        return date_from_ordinal (y, take_int (sc, 3), days, error);
      if (n != 2)
        return parse_fail (sc, "date", error);
      gint64 m = take_int (sc, 2), d = 1;
      if (accept (sc, '-'))
        {
          if (scan_digits (sc) != 2)
            return parse_fail (sc, "date", error);
          d = take_int (sc, 2);
        }
      return date_from_ymd (y, m, d, days, error);
    }
  if (n == 3)
    return date_from_ordinal (y, take_int (sc, 3), days, error);
  if (n == 2)
    return date_from_ymd (y, take_int (sc, 2), 1, days, error);
  if (n == 4)
    {
      gint64 m = take_int (sc, 2);
      return date_from_ymd (y, m, take_int (sc, 2), days, error);
    }
  return parse_fail (sc, "date", error);
}

/* HH[:MM[:SS[.fff]]] | HH[MM[SS[.fff]]] */
static gboolean
parse_time_part (Scan *sc, gint64 *nod, GError **error)
{
  if (scan_digits (sc) < 2)
    return parse_fail (sc, "time", error);
  gint64 h = take_int (sc, 2), mi = 0, s = 0, ns = 0;
  gboolean ext = accept (sc, ':');
  if (scan_digits (sc) >= 2)
    {
      mi = take_int (sc, 2);
      if (ext ? accept (sc, ':') : scan_digits (sc) >= 2)
        {
          if (scan_digits (sc) < 2)
            return parse_fail (sc, "time", error);
          s = take_int (sc, 2);
          if (accept (sc, '.') || accept (sc, ','))
            {
              int n = scan_digits (sc);
              if (n < 1 || n > 9)
                return parse_fail (sc, "time", error);
              ns = take_int (sc, n);
              for (int i = n; i < 9; i++)
                ns *= 10;
            }
        }
    }
  else if (ext)
    return parse_fail (sc, "time", error);
  if (h > 23 || mi > 59 || s > 59)
    return arg_error (error, "Invalid time %02d:%02d:%02d", (int) h, (int) mi, (int) s);
  *nod = ((h * 60 + mi) * 60 + s) * NC_NANOS_PER_SECOND + ns;
  return TRUE;
}

/* Offset and/or [Zone] after a time. */
static gboolean
parse_tz_part (Scan *sc, Parts *p, GError **error)
{
  gsize start = sc->pos;
  while (sc->pos < sc->len && sc->s[sc->pos] != '[')
    sc->pos++;
  if (sc->pos > start)
    {
      if (!parse_offset (sc->s + start, sc->pos - start, &p->tz.offset))
        return parse_fail (sc, "time zone offset", error);
      p->has_tz = TRUE;
    }
  if (accept (sc, '['))
    {
      gsize zs = sc->pos;
      while (sc->pos < sc->len && sc->s[sc->pos] != ']')
        sc->pos++;
      if (!accept (sc, ']') || sc->pos != sc->len)
        return parse_fail (sc, "time zone", error);
      g_auto (Tz) tz = { 0 };
      if (!parse_tz (sc->s + zs, sc->pos - 1 - zs, &tz, error))
        return FALSE;
      /* The zone decides the offset; a written offset is informational. */
      tz_clear (&p->tz);
      p->tz = tz;
      tz.zone = NULL;
      p->has_tz = TRUE;
    }
  return TRUE;
}

/* Parses any ISO temporal text into parts; `want` says which parts the
 * target type needs. */
static gboolean
parse_temporal_string (const char *s, gsize len, NcValueType want, Parts *p, GError **error)
{
  Scan sc = { s, 0, len };
  memset (p, 0, sizeof *p);
  gboolean want_date = want == NC_VALUE_DATE || want == NC_VALUE_LOCAL_DATETIME || want == NC_VALUE_DATETIME;
  if (want_date)
    {
      if (!parse_date_part (&sc, &p->days, error))
        return FALSE;
      p->has_date = TRUE;
      if (want == NC_VALUE_DATE)
        {
          if (sc.pos != len)
            return parse_fail (&sc, "date", error);
          return TRUE;
        }
      if (!accept (&sc, 'T'))
        {
          if (sc.pos != len)
            return parse_fail (&sc, "date time", error);
          return TRUE;
        }
    }
  if (!parse_time_part (&sc, &p->nod, error))
    return FALSE;
  p->has_time = TRUE;
  if (!parse_tz_part (&sc, p, error))
    return FALSE;
  if (sc.pos != len)
    return parse_fail (&sc, "time", error);
  return TRUE;
}

/* *acc += v * factor; TRUE on overflow. */
static gboolean
accumulate (gint64 *acc, gint64 v, gint64 factor)
{
  gint64 t;
  return __builtin_mul_overflow (v, factor, &t) || __builtin_add_overflow (*acc, t, acc);
}

/* ISO 8601 durations: PnYnMnWnDTnHnMnS (fractions allowed in any unit,
 * signs per component or in front) and the alternative PYYYY-MM-DDThh:mm:ss. */
static gboolean
parse_duration_string (const char *s, gsize len, NcValue *out, GError **error)
{
  Scan sc = { s, 0, len };
  int sign = 1;
  if (accept (&sc, '-'))
    sign = -1;
  else
    accept (&sc, '+');
  if (!accept (&sc, 'P') && !accept (&sc, 'p'))
    return parse_fail (&sc, "duration", error);
  /* Alternative format: P2012-02-02T14:37:21.545 */
  if (scan_digits (&sc) == 4 && sc.pos + 4 < len && s[sc.pos + 4] == '-')
    {
      gint64 y = take_int (&sc, 4), mo = 0, d = 0;
      if (!accept (&sc, '-') || scan_digits (&sc) != 2)
        return parse_fail (&sc, "duration", error);
      mo = take_int (&sc, 2);
      if (!accept (&sc, '-') || scan_digits (&sc) != 2)
        return parse_fail (&sc, "duration", error);
      d = take_int (&sc, 2);
      gint64 nod = 0;
      if (accept (&sc, 'T') && !parse_time_part (&sc, &nod, error))
        return FALSE;
      if (sc.pos != len)
        return parse_fail (&sc, "duration", error);
      return nc_duration_make (sign * (y * 12 + mo), sign * d, sign * (nod / NC_NANOS_PER_SECOND),
                               sign * (nod % NC_NANOS_PER_SECOND), out, error);
    }
  double months = 0, days = 0, seconds = 0;
  gint64 imonths = 0, idays = 0, iseconds = 0, inanos = 0;
  gboolean fractional = FALSE, in_time = FALSE, any = FALSE, ovf = FALSE;
  while (sc.pos < len)
    {
      if (accept (&sc, 'T'))
        {
          if (in_time)
            return parse_fail (&sc, "duration", error);
          in_time = TRUE;
          continue;
        }
      int csign = 1;
      if (accept (&sc, '-'))
        csign = -1;
      else
        accept (&sc, '+');
      gsize numstart = sc.pos;
      int nd = scan_digits (&sc);
      if (nd == 0 || nd > 18)
        return parse_fail (&sc, "duration", error);
      gint64 whole = take_int (&sc, nd);
      gint64 frac_ns = 0;
      gboolean has_frac = FALSE;
      if (accept (&sc, '.') || accept (&sc, ','))
        {
          int nf = scan_digits (&sc);
          if (nf == 0)
            return parse_fail (&sc, "duration", error);
          gint64 f = take_int (&sc, MIN (nf, 9));
          for (int i = nf; i < 9; i++)
            f *= 10;
          sc.pos += nf > 9 ? nf - 9 : 0;
          frac_ns = f;
          has_frac = frac_ns != 0;
        }
      char *numtxt = g_strndup (s + numstart, sc.pos - numstart);
      double num = g_ascii_strtod (numtxt, NULL) * csign;
      g_free (numtxt);
      if (sc.pos >= len)
        return parse_fail (&sc, "duration", error);
      char unit = g_ascii_toupper (s[sc.pos++]);
      whole *= csign;
      frac_ns *= csign;
      any = TRUE;
      if (!in_time)
        {
          switch (unit)
            {
            case 'Y': months += num * 12; ovf |= accumulate (&imonths, whole, 12); break;
            case 'M': months += num; ovf |= accumulate (&imonths, whole, 1); break;
            case 'W': days += num * 7; ovf |= accumulate (&idays, whole, 7); break;
            case 'D': days += num; ovf |= accumulate (&idays, whole, 1); break;
            default: return parse_fail (&sc, "duration", error);
            }
          fractional |= has_frac;
        }
      else
        {
          switch (unit)
            {
            case 'H': seconds += num * 3600; ovf |= accumulate (&iseconds, whole, 3600); break;
            case 'M': seconds += num * 60; ovf |= accumulate (&iseconds, whole, 60); break;
            case 'S': seconds += num; ovf |= accumulate (&iseconds, whole, 1); inanos += frac_ns; break;
            default: return parse_fail (&sc, "duration", error);
            }
          if (unit != 'S')
            fractional |= has_frac;
        }
    }
  if (ovf)
    return overflow_error (error);
  if (!any)
    return parse_fail (&sc, "duration", error);
  if (fractional)
    return nc_duration_approximate (sign * months, sign * days, sign * (seconds - (double) inanos / 1e9),
                                    sign * (double) inanos, out, error);
  return nc_duration_make (sign * imonths, sign * idays, sign * iseconds, sign * inanos, out, error);
}

/* ---- durations ------------------------------------------------------------ */

gboolean
nc_duration_make (gint64 months, gint64 days, gint64 seconds, gint64 nanos, NcValue *out,
                  GError **error)
{
  gint64 s;
  if (__builtin_add_overflow (seconds, nanos / NC_NANOS_PER_SECOND, &s))
    return overflow_error (error);
  gint64 n = nanos % NC_NANOS_PER_SECOND;
  if (s < 0 && n > 0)
    {
      s += 1;
      n -= NC_NANOS_PER_SECOND;
    }
  else if (s > 0 && n < 0)
    {
      s -= 1;
      n += NC_NANOS_PER_SECOND;
    }
  *out = nc_value_duration (months, days, s, (gint32) n);
  return TRUE;
}

static gboolean
double_to_long (double d, gint64 *out, GError **error)
{
  if (isnan (d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0)
    return overflow_error (error);
  *out = (gint64) d;
  return TRUE;
}

gboolean
nc_duration_approximate (double months, double days, double seconds, double nanos, NcValue *out,
                         GError **error)
{
  gint64 m, d, s, n;
  if (!double_to_long (months, &m, error))
    return FALSE;
  days += (months - (double) m) * AVG_SECONDS_PER_MONTH / 86400.0;
  if (!double_to_long (days, &d, error))
    return FALSE;
  seconds += (days - (double) d) * 86400.0;
  if (!double_to_long (seconds, &s, error))
    return FALSE;
  nanos += (seconds - (double) s) * 1e9;
  if (!double_to_long (round (nanos * 1e3) / 1e3, &n, error))
    return FALSE;
  return nc_duration_make (m, d, s, n, out, error);
}

gboolean
nc_duration_add (const NcValue *a, const NcValue *b, int sign, NcValue *out, GError **error)
{
  const NcWide *x = a->u.wide, *y = b->u.wide;
  gint64 m, d, s;
  if (__builtin_mul_overflow (y->u.duration.months, sign, &m) ||
      __builtin_add_overflow (x->u.duration.months, m, &m) ||
      __builtin_mul_overflow (y->u.duration.days, sign, &d) ||
      __builtin_add_overflow (x->u.duration.days, d, &d) ||
      __builtin_mul_overflow (y->u.duration.seconds, sign, &s) ||
      __builtin_add_overflow (x->u.duration.seconds, s, &s))
    return overflow_error (error);
  return nc_duration_make (m, d, s, (gint64) x->u.duration.nanos + sign * (gint64) y->u.duration.nanos,
                           out, error);
}

gboolean
nc_duration_scale (const NcValue *dv, const NcValue *num, gboolean divide, NcValue *out,
                   GError **error)
{
  const NcWide *w = dv->u.wide;
  if (num->type == NC_VALUE_INT && !divide)
    {
      gint64 f = num->u.i, m, d, s, n;
      if (__builtin_mul_overflow (w->u.duration.months, f, &m) ||
          __builtin_mul_overflow (w->u.duration.days, f, &d) ||
          __builtin_mul_overflow (w->u.duration.seconds, f, &s) ||
          __builtin_mul_overflow ((gint64) w->u.duration.nanos, f, &n))
        return overflow_error (error);
      return nc_duration_make (m, d, s, n, out, error);
    }
  double f = num->type == NC_VALUE_INT ? (double) num->u.i : num->u.f;
  if (divide)
    {
      if (f == 0)
        {
          g_set_error_literal (error, NC_ERROR, NC_ERROR_ARITHMETIC, "/ by zero");
          return FALSE;
        }
      return nc_duration_approximate ((double) w->u.duration.months / f, (double) w->u.duration.days / f,
                                      (double) w->u.duration.seconds / f, (double) w->u.duration.nanos / f,
                                      out, error);
    }
  return nc_duration_approximate ((double) w->u.duration.months * f, (double) w->u.duration.days * f,
                                  (double) w->u.duration.seconds * f, (double) w->u.duration.nanos * f,
                                  out, error);
}

/* Adds whole months, clamping the day to the month's end (java.time). */
static gint64
plus_months (gint64 days, gint64 months)
{
  gint64 y, m, d;
  civil_from_days (days, &y, &m, &d);
  gint64 total = y * 12 + (m - 1) + months;
  y = floor_div (total, 12);
  m = floor_mod (total, 12) + 1;
  if (d > month_length (y, m))
    d = month_length (y, m);
  return days_from_civil (y, m, d);
}

gboolean
nc_temporal_add_duration (const NcValue *t, const NcValue *dv, int sign, NcValue *out,
                          GError **error)
{
  const NcWide *w = dv->u.wide;
  g_auto (Parts) p;
  parts_from_value (t, &p);
  gint64 months, days;
  if (__builtin_mul_overflow (w->u.duration.months, sign, &months) ||
      __builtin_mul_overflow (w->u.duration.days, sign, &days))
    return overflow_error (error);
  __int128 nanos = ((__int128) w->u.duration.seconds * NC_NANOS_PER_SECOND + w->u.duration.nanos) * sign;
  if (p.has_date)
    {
      if (months > 12 * (gint64) (MAX_YEAR - MIN_YEAR) || months < -12 * (gint64) (MAX_YEAR - MIN_YEAR) ||
          days > G_GINT64_CONSTANT (1) << 42 || days < -(G_GINT64_CONSTANT (1) << 42))
        return overflow_error (error);
      p.days = plus_months (p.days, months) + days;
      /* A date takes the whole days of the time part (Neo4j's addTo). */
      if (!p.has_time)
        p.days += (w->u.duration.seconds / NC_SECONDS_PER_DAY) * sign;
    }
  if (p.has_time)
    {
      __int128 total = (__int128) p.nod + nanos;
      __int128 day_shift = total / NC_NANOS_PER_DAY;
      __int128 rem = total % NC_NANOS_PER_DAY;
      if (rem < 0)
        {
          rem += NC_NANOS_PER_DAY;
          day_shift--;
        }
      p.nod = (gint64) rem;
      if (p.has_date)
        {
          if (day_shift > ((__int128) 1 << 42) || day_shift < -((__int128) 1 << 42))
            return overflow_error (error);
          p.days += (gint64) day_shift;
        }
    }
  if (t->type == NC_VALUE_DATETIME && p.tz.zone)
    {
      /* Date-based units move the wall clock, the time part moves the
       * instant (java.time ZonedDateTime.plus semantics). */
      g_auto (Parts) q;
      parts_from_value (t, &q);
      if (q.has_date)
        q.days = plus_months (q.days, months) + days;
      NcValue mid;
      if (!value_from_parts (NC_VALUE_DATETIME, &q, &mid, error))
        return FALSE;
      const NcWide *mw = mid.u.wide;
      __int128 inst = (__int128) mw->u.datetime.seconds * NC_NANOS_PER_SECOND + mw->u.datetime.nanos + nanos;
      gint64 utc = (gint64) (inst >= 0 ? inst / NC_NANOS_PER_SECOND : -((-inst + NC_NANOS_PER_SECOND - 1) / NC_NANOS_PER_SECOND));
      gint32 ns = (gint32) (inst - (__int128) utc * NC_NANOS_PER_SECOND);
      nc_value_clear (&mid);
      *out = nc_value_datetime (utc, ns, zone_offset_at_utc (p.tz.zone, utc), p.tz.zone);
      return TRUE;
    }
  return value_from_parts (t->type, &p, out, error);
}

/* ---- field access ------------------------------------------------------------ */

static gboolean
duration_field (const NcWide *w, const char *f, NcValue *out)
{
  gint64 months = w->u.duration.months, days = w->u.duration.days;
  /* Sub-day fields are floor-normalised: seconds down, nanos in [0, 1e9). */
  __int128 total = (__int128) w->u.duration.seconds * NC_NANOS_PER_SECOND + w->u.duration.nanos;
  __int128 secs = total / NC_NANOS_PER_SECOND;
  __int128 nos = total % NC_NANOS_PER_SECOND;
  if (nos < 0)
    {
      nos += NC_NANOS_PER_SECOND;
      secs--;
    }
  gint64 s = (gint64) secs;
  struct { const char *name; gint64 v; } fields[] = {
    { "years", months / 12 },
    { "quarters", months / 3 },
    { "months", months },
    { "weeks", days / 7 },
    { "days", days },
    { "hours", s / 3600 },
    { "minutes", s / 60 },
    { "seconds", s },
    { "milliseconds", (gint64) (secs * 1000 + nos / 1000000) },
    { "microseconds", (gint64) (secs * 1000000 + nos / 1000) },
    { "nanoseconds", (gint64) (secs * NC_NANOS_PER_SECOND + nos) },
    { "quartersOfYear", (months % 12) / 3 },
    { "monthsOfQuarter", months % 3 },
    { "monthsOfYear", months % 12 },
    { "daysOfWeek", days % 7 },
    { "minutesOfHour", (s / 60) % 60 },
    { "secondsOfMinute", s % 60 },
    { "millisecondsOfSecond", (gint64) (nos / 1000000) },
    { "microsecondsOfSecond", (gint64) (nos / 1000) },
    { "nanosecondsOfSecond", (gint64) nos },
  };
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    if (g_ascii_strcasecmp (fields[i].name, f) == 0)
      {
        *out = nc_value_int (fields[i].v);
        return TRUE;
      }
  return FALSE;
}

static gboolean
point_field (const NcWide *w, const char *f, NcValue *out)
{
  gboolean geo = w->u.point.srid == 4326 || w->u.point.srid == 4979;
  if (g_str_equal (f, "x") || (geo && g_str_equal (f, "longitude")))
    *out = nc_value_float (w->u.point.x);
  else if (g_str_equal (f, "y") || (geo && g_str_equal (f, "latitude")))
    *out = nc_value_float (w->u.point.y);
  else if (g_str_equal (f, "z") || (geo && g_str_equal (f, "height")))
    {
      if (w->u.point.dims != 3)
        return FALSE;
      *out = nc_value_float (w->u.point.z);
    }
  else if (g_str_equal (f, "crs"))
    *out = nc_value_string (crs_name (w->u.point.srid));
  else if (g_str_equal (f, "srid"))
    *out = nc_value_int (w->u.point.srid);
  else
    return FALSE;
  return TRUE;
}

static gboolean
temporal_field (const NcValue *v, const char *f, NcValue *out)
{
  g_auto (Parts) p;
  parts_from_value (v, &p);
  if (p.has_date)
    {
      gint64 y, m, d, wy, wk;
      civil_from_days (p.days, &y, &m, &d);
      iso_week (p.days, &wy, &wk);
      gint64 q = (m - 1) / 3 + 1;
      struct { const char *name; gint64 v; } fields[] = {
        { "year", y },
        { "quarter", q },
        { "month", m },
        { "week", wk },
        { "weekYear", wy },
        { "day", d },
        { "ordinalDay", p.days - days_from_civil (y, 1, 1) + 1 },
        { "dayOfWeek", day_of_week (p.days) },
        { "weekDay", day_of_week (p.days) },
        { "dayOfQuarter", p.days - days_from_civil (y, (q - 1) * 3 + 1, 1) + 1 },
        { "quarterDay", p.days - days_from_civil (y, (q - 1) * 3 + 1, 1) + 1 },
      };
      for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
        if (g_ascii_strcasecmp (fields[i].name, f) == 0)
          {
            *out = nc_value_int (fields[i].v);
            return TRUE;
          }
    }
  if (p.has_time)
    {
      gint64 s = p.nod / NC_NANOS_PER_SECOND, n = p.nod % NC_NANOS_PER_SECOND;
      struct { const char *name; gint64 v; } fields[] = {
        { "hour", s / 3600 },
        { "minute", s / 60 % 60 },
        { "second", s % 60 },
        { "millisecond", n / 1000000 },
        { "microsecond", n / 1000 },
        { "nanosecond", n },
      };
      for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
        if (g_ascii_strcasecmp (fields[i].name, f) == 0)
          {
            *out = nc_value_int (fields[i].v);
            return TRUE;
          }
    }
  if (p.has_tz)
    {
      gint32 off = p.tz.offset;
      if (g_ascii_strcasecmp (f, "timezone") == 0)
        {
          if (p.tz.zone)
            *out = nc_value_string (p.tz.zone);
          else
            {
              GString *s = g_string_new (NULL);
              append_offset (s, off);
              *out = nc_value_string (s->str);
              g_string_free (s, TRUE);
            }
          return TRUE;
        }
      if (g_ascii_strcasecmp (f, "offset") == 0)
        {
          GString *s = g_string_new (NULL);
          if (off == 0)
            g_string_append (s, "+00:00");
          else
            append_offset (s, off);
          *out = nc_value_string (s->str);
          g_string_free (s, TRUE);
          return TRUE;
        }
      if (g_ascii_strcasecmp (f, "offsetMinutes") == 0)
        {
          *out = nc_value_int (off / 60);
          return TRUE;
        }
      if (g_ascii_strcasecmp (f, "offsetSeconds") == 0)
        {
          *out = nc_value_int (off);
          return TRUE;
        }
    }
  if (v->type == NC_VALUE_DATETIME || v->type == NC_VALUE_LOCAL_DATETIME)
    {
      gint64 secs = v->type == NC_VALUE_DATETIME ? v->u.wide->u.datetime.seconds : v->u.local_dt.seconds;
      if (g_ascii_strcasecmp (f, "epochSeconds") == 0)
        {
          *out = nc_value_int (secs);
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
nc_temporal_field (const NcValue *v, const char *field, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  gboolean ok = FALSE;
  if ((v->type == NC_VALUE_DATETIME || v->type == NC_VALUE_LOCAL_DATETIME) &&
      g_ascii_strcasecmp (field, "epochMillis") == 0)
    {
      gint64 secs = v->type == NC_VALUE_DATETIME ? v->u.wide->u.datetime.seconds : v->u.local_dt.seconds;
      gint64 nanos = v->type == NC_VALUE_DATETIME ? v->u.wide->u.datetime.nanos : v->u.local_dt.nanos;
      gint64 ms;
      /* Years near +-999999999 do not fit in milliseconds. */
      if (__builtin_mul_overflow (secs, 1000, &ms) || __builtin_add_overflow (ms, nanos / 1000000, &ms))
        return overflow_error (error);
      *out = nc_value_int (ms);
      return TRUE;
    }
  if (v->type == NC_VALUE_DURATION)
    ok = duration_field (v->u.wide, field, out);
  else if (v->type == NC_VALUE_POINT)
    ok = point_field (v->u.wide, field, out);
  else if (is_temporal (v))
    ok = temporal_field (v, field, out);
  if (!ok)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "No such field: %s has no field `%s`",
                   nc_fn_type_label (v), field);
      return FALSE;
    }
  return TRUE;
}

/* ---- construction from maps ---------------------------------------------------- */

static const char *const temporal_keys[] = {
  "year", "month", "day", "week", "dayOfWeek", "ordinalDay", "quarter", "dayOfQuarter",
  "hour", "minute", "second", "millisecond", "microsecond", "nanosecond", "timezone",
  "date", "time", "datetime", "epochSeconds", "epochMillis",
};

static gboolean
map_int (const NcMap *m, const char *key, gint64 *v, gboolean *present, GError **error)
{
  const NcValue *x = nc_map_get (m, key);
  *present = FALSE;
  if (x == NULL || x->type == NC_VALUE_NULL)
    return TRUE;
  if (x->type == NC_VALUE_INT)
    *v = x->u.i;
  else if (x->type == NC_VALUE_FLOAT && x->u.f == floor (x->u.f) && fabs (x->u.f) < 9e18)
    *v = (gint64) x->u.f;
  else
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: %s should be an Integer but was %s",
                   key, nc_fn_type_label (x));
      return FALSE;
    }
  *present = TRUE;
  return TRUE;
}

static gboolean
check_range (const char *what, gint64 v, gint64 lo, gint64 hi, GError **error)
{
  if (v < lo || v > hi)
    return arg_error (error, "Invalid value for %s (valid values %" G_GINT64_FORMAT " - %" G_GINT64_FORMAT "): %" G_GINT64_FORMAT,
                      what, lo, hi, v);
  return TRUE;
}

/* Builds parts for `type` from a map of components, optionally selecting
 * a base from `date`, `time` or `datetime` keys. `now` supplies defaults
 * for the current-time form ({timezone: ...} alone). */
static gboolean
parts_from_map (const NcMap *m, NcValueType type, NcFuncCtx *ctx, Parts *p, GError **error)
{
  memset (p, 0, sizeof *p);
  for (guint32 i = 0; i < m->len; i++)
    {
      gboolean known = FALSE;
      for (guint k = 0; k < G_N_ELEMENTS (temporal_keys) && !known; k++)
        known = g_ascii_strcasecmp (temporal_keys[k], m->entries[i].key->data) == 0;
      if (!known)
        return arg_error (error, "No such field: %s", m->entries[i].key->data);
    }
  gboolean want_date = type == NC_VALUE_DATE || type == NC_VALUE_LOCAL_DATETIME || type == NC_VALUE_DATETIME;
  gboolean want_time = type != NC_VALUE_DATE;
  gboolean want_tz = type == NC_VALUE_TIME || type == NC_VALUE_DATETIME;

  const NcValue *bdate = nc_map_get (m, "date");
  const NcValue *btime = nc_map_get (m, "time");
  const NcValue *bdt = nc_map_get (m, "datetime");
  if (bdate == NULL || bdate->type == NC_VALUE_NULL)
    bdate = bdt;
  if (btime == NULL || btime->type == NC_VALUE_NULL)
    btime = bdt;
  if (bdate && bdate->type == NC_VALUE_NULL)
    bdate = NULL;
  if (btime && btime->type == NC_VALUE_NULL)
    btime = NULL;
  if ((bdate && !is_temporal (bdate)) || (btime && !is_temporal (btime)))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected a temporal value to select from");
      return FALSE;
    }

  gint64 year = 0, month = 0, day = 0, week = 0, dow = 0, od = 0, q = 0, dq = 0;
  gint64 hour = 0, minute = 0, second = 0, ms = 0, us = 0, ns = 0;
  gboolean hy, hmo, hd, hw, hdow, hod, hq, hdq, hh, hmi, hs, hms, hus, hns;
  if (!map_int (m, "year", &year, &hy, error) || !map_int (m, "month", &month, &hmo, error) ||
      !map_int (m, "day", &day, &hd, error) || !map_int (m, "week", &week, &hw, error) ||
      !map_int (m, "dayOfWeek", &dow, &hdow, error) || !map_int (m, "ordinalDay", &od, &hod, error) ||
      !map_int (m, "quarter", &q, &hq, error) || !map_int (m, "dayOfQuarter", &dq, &hdq, error) ||
      !map_int (m, "hour", &hour, &hh, error) || !map_int (m, "minute", &minute, &hmi, error) ||
      !map_int (m, "second", &second, &hs, error) || !map_int (m, "millisecond", &ms, &hms, error) ||
      !map_int (m, "microsecond", &us, &hus, error) || !map_int (m, "nanosecond", &ns, &hns, error))
    return FALSE;

  /* datetime({epochSeconds|epochMillis [, nanosecond]}) */
  gint64 epoch = 0;
  gboolean hes, hem;
  if (!map_int (m, "epochSeconds", &epoch, &hes, error))
    return FALSE;
  if (!hes && !map_int (m, "epochMillis", &epoch, &hem, error))
    return FALSE;
  if (!hes)
    hes = FALSE;
  else
    hem = FALSE;
  if (hes || hem)
    {
      gint64 utc = hes ? epoch : floor_div (epoch, 1000);
      gint64 sub = hes ? 0 : floor_mod (epoch, 1000) * 1000000;
      sub += (hms ? ms * 1000000 : 0) + (hus ? us * 1000 : 0) + (hns ? ns : 0);
      const NcValue *tzv = nc_map_get (m, "timezone");
      if (tzv && tzv->type == NC_VALUE_STRING && !parse_tz (tzv->u.s->data, tzv->u.s->len, &p->tz, error))
        return FALSE;
      gint32 off = p->tz.zone ? zone_offset_at_utc (p->tz.zone, utc) : p->tz.offset;
      gint64 local = utc + off;
      p->has_date = p->has_time = p->has_tz = TRUE;
      p->days = floor_div (local, NC_SECONDS_PER_DAY);
      p->nod = floor_mod (local, NC_SECONDS_PER_DAY) * NC_NANOS_PER_SECOND + sub;
      p->tz.offset = off;
      return TRUE;
    }

  g_auto (Parts) base_date = { 0 };
  g_auto (Parts) base_time = { 0 };
  if (bdate)
    parts_from_value (bdate, &base_date);
  if (btime)
    parts_from_value (btime, &base_time);

  /* The current instant, for maps with no date or time at all. */
  gboolean any_date_key = hy || hmo || hd || hw || hdow || hod || hq || hdq || base_date.has_date;
  gboolean any_time_key = hh || hmi || hs || hms || hus || hns || base_time.has_time;
  const NcValue *tzv = nc_map_get (m, "timezone");
  g_auto (Tz) tz = { 0 };
  gboolean has_tz_key = tzv && tzv->type != NC_VALUE_NULL;
  if (has_tz_key)
    {
      if (tzv->type != NC_VALUE_STRING)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: timezone should be a String");
          return FALSE;
        }
      if (!parse_tz (tzv->u.s->data, tzv->u.s->len, &tz, error))
        return FALSE;
    }
  if (!any_date_key && !any_time_key)
    {
      gint64 us_now = ctx && ctx->statement_time_us ? ctx->statement_time_us : g_get_real_time ();
      gint64 utc = floor_div (us_now, G_USEC_PER_SEC);
      gint32 off = tz.zone ? zone_offset_at_utc (tz.zone, utc) : tz.offset;
      gint64 local = utc + off;
      p->has_date = p->has_time = p->has_tz = TRUE;
      p->days = floor_div (local, NC_SECONDS_PER_DAY);
      p->nod = floor_mod (local, NC_SECONDS_PER_DAY) * NC_NANOS_PER_SECOND + floor_mod (us_now, G_USEC_PER_SEC) * 1000;
      p->tz.offset = off;
      p->tz.zone = g_strdup (tz.zone);
      return TRUE;
    }

  if (want_date)
    {
      gboolean bd = base_date.has_date;
      gint64 by = 0, bm = 1, bday = 1, bwy = 0, bw = 1, bdow = 1, bq = 1, bdq = 1;
      if (bd)
        {
          civil_from_days (base_date.days, &by, &bm, &bday);
          iso_week (base_date.days, &bwy, &bw);
          bdow = day_of_week (base_date.days);
          bq = (bm - 1) / 3 + 1;
          bdq = base_date.days - days_from_civil (by, (bq - 1) * 3 + 1, 1) + 1;
        }
      else if (!hy)
        return arg_error (error, "year must be specified");
      if (hy && !check_range ("Year", year, MIN_YEAR, MAX_YEAR, error))
        return FALSE;
      if (hw || (hdow && !hmo && !hd && !hod && !hq))
        {
          if (hmo || hd || hod || hq || hdq)
            return arg_error (error, "Cannot mix week-based fields with calendar fields");
          gint64 wy = hy ? year : bwy;
          if (!date_from_week (wy, hw ? week : bw, hdow ? dow : (bd ? bdow : 1), &p->days, error))
            return FALSE;
        }
      else if (hod)
        {
          if (hmo || hd || hq || hdq)
            return arg_error (error, "Cannot mix ordinalDay with calendar fields");
          if (!date_from_ordinal (hy ? year : by, od, &p->days, error))
            return FALSE;
        }
      else if (hq || hdq)
        {
          if (hmo || hd)
            return arg_error (error, "Cannot mix quarter fields with month or day");
          if (!date_from_quarter (hy ? year : by, hq ? q : bq, hdq ? dq : (bd ? bdq : 1), &p->days, error))
            return FALSE;
        }
      else
        {
          if (hd && !hmo && !bd)
            return arg_error (error, "day cannot be specified without month");
          if (!date_from_ymd (hy ? year : by, hmo ? month : bm, hd ? day : bday, &p->days, error))
            return FALSE;
        }
      p->has_date = TRUE;
    }
  else if (hy || hmo || hd || hw || hdow || hod || hq || hdq)
    return arg_error (error, "Date fields cannot be used to build a %s", nc_value_type_name (type));

  if (want_time)
    {
      gint64 base_nod = base_time.has_time ? base_time.nod : 0;
      gint64 bs = base_nod / NC_NANOS_PER_SECOND, bn = base_nod % NC_NANOS_PER_SECOND;
      if (!hh && (hmi || hs || hms || hus || hns) && !base_time.has_time)
        return arg_error (error, "hour must be specified");
      if (!hmi && (hs || hms || hus || hns) && !base_time.has_time)
        return arg_error (error, "minute must be specified");
      if (!hs && (hms || hus || hns) && !base_time.has_time)
        return arg_error (error, "second must be specified");
      gint64 H = hh ? hour : bs / 3600, M = hmi ? minute : bs / 60 % 60, S = hs ? second : bs % 60;
      if (!check_range ("HourOfDay", H, 0, 23, error) || !check_range ("MinuteOfHour", M, 0, 59, error) ||
          !check_range ("SecondOfMinute", S, 0, 59, error))
        return FALSE;
      gint64 N = bn;
      if (base_time.has_time && (hms || hus || hns) && !(hns && ns > 999 && !hms && !hus))
        {
          /* Over a base, each sub-second field replaces only its own
           * digits: {nanosecond: 2} on 14.645 gives 14.645000002. */
          gint64 bms = bn / 1000000, bus = bn / 1000 % 1000, bns = bn % 1000;
          if ((hms && !check_range ("MilliOfSecond", ms, 0, 999, error)) ||
              (hus && !check_range ("MicroOfMilli", us, 0, 999, error)) ||
              (hns && !check_range ("NanoOfMicro", ns, 0, 999, error)))
            return FALSE;
          N = (hms ? ms : bms) * 1000000 + (hus ? us : bus) * 1000 + (hns ? ns : bns);
        }
      else if (hms || hus || hns)
        {
          if (!check_range ("MilliOfSecond", ms, 0, 999, error))
            return FALSE;
          if (hus && !check_range (hms ? "MicroOfMilli" : "MicroOfSecond", us, 0, hms ? 999 : 999999, error))
            return FALSE;
          if (hns && !check_range ("NanoOfSecond", ns, 0, (hms || hus) ? (hus ? 999 : 999999) : 999999999, error))
            return FALSE;
          N = ms * 1000000 + us * 1000 + ns;
        }
      p->nod = ((H * 60 + M) * 60 + S) * NC_NANOS_PER_SECOND + N;
      p->has_time = TRUE;
    }
  else if (hh || hmi || hs || hms || hus || hns)
    return arg_error (error, "Time fields cannot be used to build a DATE");

  if (want_tz)
    {
      p->has_tz = TRUE;
      if (base_time.has_tz)
        {
          p->tz.offset = base_time.tz.offset;
          p->tz.zone = g_strdup (base_time.tz.zone);
          if (has_tz_key)
            parts_convert_tz (p, &tz);
        }
      else if (has_tz_key)
        {
          p->tz.offset = tz.offset;
          p->tz.zone = g_strdup (tz.zone);
        }
    }
  return TRUE;
}

/* ---- constructors -------------------------------------------------------- */

static gboolean
now_parts (NcFuncCtx *ctx, gboolean realtime, const NcValue *tzarg, Parts *p, GError **error)
{
  memset (p, 0, sizeof *p);
  if (tzarg && tzarg->type == NC_VALUE_STRING && !parse_tz (tzarg->u.s->data, tzarg->u.s->len, &p->tz, error))
    return FALSE;
  gint64 us_now = !realtime && ctx && ctx->statement_time_us ? ctx->statement_time_us : g_get_real_time ();
  gint64 utc = floor_div (us_now, G_USEC_PER_SEC);
  gint32 off = p->tz.zone ? zone_offset_at_utc (p->tz.zone, utc) : p->tz.offset;
  gint64 local = utc + off;
  p->has_date = p->has_time = p->has_tz = TRUE;
  p->days = floor_div (local, NC_SECONDS_PER_DAY);
  p->nod = floor_mod (local, NC_SECONDS_PER_DAY) * NC_NANOS_PER_SECOND + floor_mod (us_now, G_USEC_PER_SEC) * 1000;
  p->tz.offset = off;
  return TRUE;
}

static gboolean
construct (NcValueType type, NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out,
           GError **error)
{
  *out = nc_value_null ();
  g_auto (Parts) p = { 0 };
  if (n_args == 0)
    {
      if (!now_parts (ctx, FALSE, NULL, &p, error))
        return FALSE;
      return value_from_parts (type, &p, out, error);
    }
  const NcValue *a = &args[0];
  switch (a->type)
    {
    case NC_VALUE_NULL:
      return TRUE;
    case NC_VALUE_STRING:
      if (!parse_temporal_string (a->u.s->data, a->u.s->len, type, &p, error))
        return FALSE;
      if (type == NC_VALUE_DATETIME && !p.has_time)
        p.has_time = TRUE;
      return value_from_parts (type, &p, out, error);
    case NC_VALUE_MAP:
      if (!parts_from_map (a->u.map, type, ctx, &p, error))
        return FALSE;
      return value_from_parts (type, &p, out, error);
    default:
      if (!is_temporal (a))
        {
          g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                       "Type mismatch: %s() expected a String, Map or temporal value but was %s",
                       nc_value_type_name (type), nc_fn_type_label (a));
          return FALSE;
        }
      parts_from_value (a, &p);
      if ((type == NC_VALUE_DATE || type == NC_VALUE_LOCAL_DATETIME || type == NC_VALUE_DATETIME) && !p.has_date)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Cannot get the date of: %s", nc_fn_type_label (a));
          return FALSE;
        }
      return value_from_parts (type, &p, out, error);
    }
}

gboolean nc_fn_date (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return construct (NC_VALUE_DATE, ctx, args, n_args, out, error); }
gboolean nc_fn_datetime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return construct (NC_VALUE_DATETIME, ctx, args, n_args, out, error); }
gboolean nc_fn_localdatetime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return construct (NC_VALUE_LOCAL_DATETIME, ctx, args, n_args, out, error); }
gboolean nc_fn_time (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return construct (NC_VALUE_TIME, ctx, args, n_args, out, error); }
gboolean nc_fn_localtime (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return construct (NC_VALUE_LOCAL_TIME, ctx, args, n_args, out, error); }

/* date.statement() / date.realtime() etc.: the current instant, with an
 * optional time-zone argument. */
static gboolean
construct_now (NcValueType type, gboolean realtime, NcFuncCtx *ctx, const NcValue *args,
               guint n_args, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  if (n_args > 0 && args[0].type != NC_VALUE_NULL && args[0].type != NC_VALUE_STRING)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: time zone should be a String but was %s",
                   nc_fn_type_label (&args[0]));
      return FALSE;
    }
  if (n_args > 0 && args[0].type == NC_VALUE_NULL)
    return TRUE;
  g_auto (Parts) p = { 0 };
  if (!now_parts (ctx, realtime, n_args > 0 ? &args[0] : NULL, &p, error))
    return FALSE;
  return value_from_parts (type, &p, out, error);
}

#define NOW_FN(fname, type, realtime) \
  gboolean fname (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error) \
  { return construct_now (type, realtime, ctx, args, n_args, out, error); }

NOW_FN (nc_fn_date_statement, NC_VALUE_DATE, FALSE)
NOW_FN (nc_fn_datetime_statement, NC_VALUE_DATETIME, FALSE)
NOW_FN (nc_fn_localdatetime_statement, NC_VALUE_LOCAL_DATETIME, FALSE)
NOW_FN (nc_fn_time_statement, NC_VALUE_TIME, FALSE)
NOW_FN (nc_fn_localtime_statement, NC_VALUE_LOCAL_TIME, FALSE)
NOW_FN (nc_fn_date_realtime, NC_VALUE_DATE, TRUE)
NOW_FN (nc_fn_datetime_realtime, NC_VALUE_DATETIME, TRUE)
NOW_FN (nc_fn_localdatetime_realtime, NC_VALUE_LOCAL_DATETIME, TRUE)
NOW_FN (nc_fn_time_realtime, NC_VALUE_TIME, TRUE)
NOW_FN (nc_fn_localtime_realtime, NC_VALUE_LOCAL_TIME, TRUE)

gboolean
nc_fn_datetime_fromepoch (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  if (args[0].type == NC_VALUE_NULL || args[1].type == NC_VALUE_NULL)
    return TRUE;
  if (args[0].type != NC_VALUE_INT || args[1].type != NC_VALUE_INT)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: datetime.fromepoch() expects Integers");
      return FALSE;
    }
  gint64 s = args[0].u.i + floor_div (args[1].u.i, NC_NANOS_PER_SECOND);
  *out = nc_value_datetime (s, (gint32) floor_mod (args[1].u.i, NC_NANOS_PER_SECOND), 0, NULL);
  return TRUE;
}

gboolean
nc_fn_datetime_fromepochmillis (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  if (args[0].type == NC_VALUE_NULL)
    return TRUE;
  if (args[0].type != NC_VALUE_INT)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: datetime.fromepochmillis() expects an Integer");
      return FALSE;
    }
  *out = nc_value_datetime (floor_div (args[0].u.i, 1000), (gint32) (floor_mod (args[0].u.i, 1000) * 1000000), 0, NULL);
  return TRUE;
}

gboolean
nc_fn_duration (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  const NcValue *a = &args[0];
  if (a->type == NC_VALUE_NULL)
    return TRUE;
  if (a->type == NC_VALUE_STRING)
    return parse_duration_string (a->u.s->data, a->u.s->len, out, error);
  if (a->type == NC_VALUE_DURATION)
    {
      *out = nc_value_copy (a);
      return TRUE;
    }
  if (a->type != NC_VALUE_MAP)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                   "Type mismatch: duration() expected a String or a Map but was %s", nc_fn_type_label (a));
      return FALSE;
    }
  static const struct { const char *key; int slot; double factor; } units[] = {
    { "years", 0, 12 }, { "months", 0, 1 }, { "weeks", 1, 7 }, { "days", 1, 1 },
    { "hours", 2, 3600 }, { "minutes", 2, 60 }, { "seconds", 2, 1 },
    { "milliseconds", 3, 1e6 }, { "microseconds", 3, 1e3 }, { "nanoseconds", 3, 1 },
  };
  const NcMap *m = a->u.map;
  for (guint32 i = 0; i < m->len; i++)
    {
      gboolean known = FALSE;
      for (guint k = 0; k < G_N_ELEMENTS (units) && !known; k++)
        known = g_ascii_strcasecmp (units[k].key, m->entries[i].key->data) == 0;
      if (!known)
        return arg_error (error, "No such field: %s", m->entries[i].key->data);
    }
  gint64 isum[4] = { 0, 0, 0, 0 };
  double fsum[4] = { 0, 0, 0, 0 };
  gboolean fractional = FALSE;
  for (guint k = 0; k < G_N_ELEMENTS (units); k++)
    {
      const NcValue *x = nc_map_get (m, units[k].key);
      if (x == NULL || x->type == NC_VALUE_NULL)
        continue;
      if (x->type == NC_VALUE_INT)
        {
          gint64 t;
          if (__builtin_mul_overflow (x->u.i, (gint64) units[k].factor, &t) ||
              __builtin_add_overflow (isum[units[k].slot], t, &isum[units[k].slot]))
            return overflow_error (error);
          fsum[units[k].slot] += (double) x->u.i * units[k].factor;
        }
      else if (x->type == NC_VALUE_FLOAT)
        {
          fsum[units[k].slot] += x->u.f * units[k].factor;
          if (x->u.f != floor (x->u.f))
            fractional = TRUE;
          else
            {
              gint64 t;
              if (!double_to_long (x->u.f * units[k].factor, &t, error) ||
                  __builtin_add_overflow (isum[units[k].slot], t, &isum[units[k].slot]))
                return FALSE;
            }
        }
      else
        {
          g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: %s should be a number but was %s",
                       units[k].key, nc_fn_type_label (x));
          return FALSE;
        }
    }
  if (fractional)
    return nc_duration_approximate (fsum[0], fsum[1], fsum[2], fsum[3], out, error);
  return nc_duration_make (isum[0], isum[1], isum[2], isum[3], out, error);
}

/* ---- truncation ------------------------------------------------------------ */

static gboolean
truncate_common (NcValueType type, const NcValue *args, guint n_args, NcFuncCtx *ctx, NcValue *out,
                 GError **error)
{
  *out = nc_value_null ();
  if (args[0].type == NC_VALUE_NULL || args[1].type == NC_VALUE_NULL)
    return TRUE;
  if (args[0].type != NC_VALUE_STRING)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: truncation unit should be a String");
      return FALSE;
    }
  if (!is_temporal (&args[1]))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: expected a temporal value but was %s",
                   nc_fn_type_label (&args[1]));
      return FALSE;
    }
  if (n_args > 2 && args[2].type != NC_VALUE_NULL && args[2].type != NC_VALUE_MAP)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TYPE, "Type mismatch: truncation fields should be a Map");
      return FALSE;
    }
  const char *unit = args[0].u.s->data;
  g_auto (Parts) p;
  parts_from_value (&args[1], &p);
  gboolean want_date = type == NC_VALUE_DATE || type == NC_VALUE_LOCAL_DATETIME || type == NC_VALUE_DATETIME;
  if (want_date && !p.has_date)
    return arg_error (error, "Cannot truncate %s to a %s: it has no date", nc_fn_type_label (&args[1]),
                      nc_value_type_name (type));
  gint64 y = 0, m = 1, d = 1;
  if (p.has_date)
    civil_from_days (p.days, &y, &m, &d);
  static const struct { const char *name; gint64 nanos; } time_units[] = {
    { "day", NC_NANOS_PER_DAY }, { "hour", G_GINT64_CONSTANT (3600000000000) },
    { "minute", G_GINT64_CONSTANT (60000000000) }, { "second", NC_NANOS_PER_SECOND },
    { "millisecond", 1000000 }, { "microsecond", 1000 },
  };
  gboolean date_unit = TRUE;
  if (g_ascii_strcasecmp (unit, "millennium") == 0)
    p.days = days_from_civil (floor_div (y, 1000) * 1000, 1, 1);
  else if (g_ascii_strcasecmp (unit, "century") == 0)
    p.days = days_from_civil (floor_div (y, 100) * 100, 1, 1);
  else if (g_ascii_strcasecmp (unit, "decade") == 0)
    p.days = days_from_civil (floor_div (y, 10) * 10, 1, 1);
  else if (g_ascii_strcasecmp (unit, "year") == 0)
    p.days = days_from_civil (y, 1, 1);
  else if (g_ascii_strcasecmp (unit, "weekYear") == 0)
    {
      gint64 wy, wk;
      iso_week (p.days, &wy, &wk);
      p.days = week_year_start (wy);
    }
  else if (g_ascii_strcasecmp (unit, "quarter") == 0)
    p.days = days_from_civil (y, ((m - 1) / 3) * 3 + 1, 1);
  else if (g_ascii_strcasecmp (unit, "month") == 0)
    p.days = days_from_civil (y, m, 1);
  else if (g_ascii_strcasecmp (unit, "week") == 0)
    p.days -= day_of_week (p.days) - 1;
  else
    {
      date_unit = FALSE;
      guint i;
      for (i = 0; i < G_N_ELEMENTS (time_units); i++)
        if (g_ascii_strcasecmp (unit, time_units[i].name) == 0)
          break;
      if (i == G_N_ELEMENTS (time_units))
        return arg_error (error, "Unsupported truncation unit: '%s'", unit);
      p.nod -= p.nod % time_units[i].nanos;
    }
  if (date_unit)
    {
      if (!p.has_date)
        return arg_error (error, "Unit '%s' needs a value with a date", unit);
      p.nod = 0;
    }
  p.has_time = TRUE;

  NcValue base;
  if (type == NC_VALUE_DATETIME || type == NC_VALUE_TIME)
    {
      if (!p.has_tz)
        {
          /* A local value gets the default zone (UTC). */
          p.has_tz = TRUE;
          p.tz.offset = 0;
        }
    }
  if (!value_from_parts (type, &p, &base, error))
    return FALSE;
  if (n_args < 3 || args[2].type == NC_VALUE_NULL || args[2].u.map->len == 0)
    {
      *out = base;
      return TRUE;
    }
  /* Overrides: build from the truncated value as base, like {date: base, ...}. */
  const NcMap *over = args[2].u.map;
  const char *base_key = type == NC_VALUE_DATE ? "date" : (type == NC_VALUE_TIME || type == NC_VALUE_LOCAL_TIME) ? "time" : "datetime";
  NcMap *mm = nc_map_new (over->len + 1);
  nc_map_append (mm, base_key, base);
  g_autoptr (GString) tzname = NULL;
  for (guint32 i = 0; i < over->len; i++)
    {
      if (g_ascii_strcasecmp (over->entries[i].key->data, "timezone") == 0)
        continue;
      nc_map_append (mm, over->entries[i].key->data, nc_value_copy (&over->entries[i].value));
    }
  g_autoptr (NcMap) owned = mm;
  g_auto (Parts) q = { 0 };
  if (!parts_from_map (mm, type, ctx, &q, error))
    return FALSE;
  const NcValue *tzv = nc_map_get (over, "timezone");
  if (tzv && tzv->type == NC_VALUE_STRING && (type == NC_VALUE_DATETIME || type == NC_VALUE_TIME))
    {
      /* A zone in the overrides replaces the zone, keeping the wall clock. */
      tz_clear (&q.tz);
      if (!parse_tz (tzv->u.s->data, tzv->u.s->len, &q.tz, error))
        return FALSE;
    }
  return value_from_parts (type, &q, out, error);
}

#define TRUNC_FN(fname, type) \
  gboolean fname (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error) \
  { return truncate_common (type, args, n_args, ctx, out, error); }

TRUNC_FN (nc_fn_date_truncate, NC_VALUE_DATE)
TRUNC_FN (nc_fn_datetime_truncate, NC_VALUE_DATETIME)
TRUNC_FN (nc_fn_localdatetime_truncate, NC_VALUE_LOCAL_DATETIME)
TRUNC_FN (nc_fn_time_truncate, NC_VALUE_TIME)
TRUNC_FN (nc_fn_localtime_truncate, NC_VALUE_LOCAL_TIME)

/* ---- duration.between ------------------------------------------------------- */

typedef enum { BETWEEN_ALL, BETWEEN_MONTHS, BETWEEN_DAYS, BETWEEN_SECONDS } BetweenUnit;

/* java.time's LocalDate.until(end, MONTHS). */
static gint64
months_until (gint64 from_days, gint64 to_days)
{
  gint64 y1, m1, d1, y2, m2, d2;
  civil_from_days (from_days, &y1, &m1, &d1);
  civil_from_days (to_days, &y2, &m2, &d2);
  gint64 p1 = (y1 * 12 + m1 - 1) * 32 + d1;
  gint64 p2 = (y2 * 12 + m2 - 1) * 32 + d2;
  return (p2 - p1) / 32;
}

static gboolean
duration_between (const NcValue *args, BetweenUnit unit, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  if (args[0].type == NC_VALUE_NULL || args[1].type == NC_VALUE_NULL)
    return TRUE;
  for (guint i = 0; i < 2; i++)
    if (!is_temporal (&args[i]))
      {
        g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
                     "Type mismatch: duration.between() expected temporal values but was %s",
                     nc_fn_type_label (&args[i]));
        return FALSE;
      }
  g_auto (Parts) a;
  g_auto (Parts) b;
  parts_from_value (&args[0], &a);
  parts_from_value (&args[1], &b);
  /* Neo4j compares in the first value's terms: a value without a date
   * takes the other's date, a value without a zone takes the other's
   * zone, and a zoned value is re-expressed in the first one's zone. */
  if (!a.has_date && b.has_date)
    {
      a.days = b.days;
      a.has_date = TRUE;
    }
  else if (!b.has_date && a.has_date)
    {
      b.days = a.days;
      b.has_date = TRUE;
    }
  if (a.has_tz != b.has_tz)
    {
      Parts *lo = a.has_tz ? &b : &a;
      const Parts *hi = a.has_tz ? &a : &b;
      tz_clear (&lo->tz);
      lo->tz.offset = hi->tz.offset;
      lo->tz.zone = g_strdup (hi->tz.zone);
      lo->has_tz = TRUE;
    }
  else if (a.has_tz)
    {
      Tz target = { a.tz.offset, a.tz.zone };
      if (!a.has_date)
        {
          /* time-of-day values: compare in the first offset */
          target.zone = NULL;
          target.offset = parts_offset (&a);
          gint32 boff = parts_offset (&b);
          b.nod = floor_mod (b.nod + (gint64) (target.offset - boff) * NC_NANOS_PER_SECOND, NC_NANOS_PER_DAY);
          tz_clear (&b.tz);
          b.tz.offset = target.offset;
        }
      else
        parts_convert_tz (&b, &target);
    }
  gint64 months = 0, days = 0;
  __int128 nanos;
  if (a.has_date && b.has_date)
    {
      gint64 end_days = b.days;
      gint64 from_nod = a.has_time ? a.nod : 0, to_nod = b.has_time ? b.nod : 0;
      if (end_days > a.days && to_nod < from_nod)
        end_days--;
      else if (end_days < a.days && to_nod > from_nod)
        end_days++;
      if (unit == BETWEEN_ALL || unit == BETWEEN_MONTHS)
        months = months_until (a.days, end_days);
      gint64 from_days = plus_months (a.days, months);
      if (unit == BETWEEN_ALL || unit == BETWEEN_DAYS)
        days = end_days - from_days;
      from_days += days;
      if (unit == BETWEEN_MONTHS)
        return nc_duration_make (months, 0, 0, 0, out, error);
      if (unit == BETWEEN_DAYS)
        return nc_duration_make (0, days, 0, 0, out, error);
      __int128 from_total = (__int128) from_days * NC_NANOS_PER_DAY + from_nod;
      __int128 to_total = (__int128) b.days * NC_NANOS_PER_DAY + to_nod;
      if (a.tz.zone && a.has_tz)
        {
          /* Zoned: the remaining time is an instant difference (DST-aware). */
          gint64 fl = (gint64) (from_total / NC_NANOS_PER_SECOND);
          gint64 tl = (gint64) (to_total / NC_NANOS_PER_SECOND);
          from_total -= (__int128) zone_offset_for_local (a.tz.zone, fl) * NC_NANOS_PER_SECOND;
          to_total -= (__int128) zone_offset_for_local (a.tz.zone, tl) * NC_NANOS_PER_SECOND;
        }
      nanos = to_total - from_total;
    }
  else
    {
      if (unit == BETWEEN_MONTHS || unit == BETWEEN_DAYS)
        return nc_duration_make (0, 0, 0, 0, out, error);
      gint64 from_nod = a.has_time ? a.nod : 0, to_nod = b.has_time ? b.nod : 0;
      nanos = (__int128) to_nod - from_nod;
    }
  gint64 secs = (gint64) (nanos / NC_NANOS_PER_SECOND);
  gint64 ns = (gint64) (nanos % NC_NANOS_PER_SECOND);
  return nc_duration_make (months, days, secs, ns, out, error);
}

gboolean nc_fn_duration_between (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return duration_between (args, BETWEEN_ALL, out, error); }
gboolean nc_fn_duration_in_months (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return duration_between (args, BETWEEN_MONTHS, out, error); }
gboolean nc_fn_duration_in_days (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return duration_between (args, BETWEEN_DAYS, out, error); }
gboolean nc_fn_duration_in_seconds (NcFuncCtx *ctx, const NcValue *args, guint n_args, NcValue *out, GError **error)
{ return duration_between (args, BETWEEN_SECONDS, out, error); }
