#define G_LOG_DOMAIN "nornicdb-bolt"

#include "packstream.h"

#include <string.h>
#include "errors.h"

/* Structure tags (Bolt 4.4/5.x). */
enum {
  TAG_NODE = 0x4E,
  TAG_REL = 0x52,
  TAG_UNBOUND_REL = 0x72,
  TAG_PATH = 0x50,
  TAG_DATE = 0x44,
  TAG_TIME = 0x54,
  TAG_LOCAL_TIME = 0x74,
  TAG_LOCAL_DATETIME = 0x64,
  TAG_DATETIME = 0x49,
  TAG_DATETIME_ZONE_ID = 0x69,
  TAG_LEGACY_DATETIME = 0x46,
  TAG_LEGACY_DATETIME_ZONE_ID = 0x66,
  TAG_DURATION = 0x45,
  TAG_POINT2D = 0x58,
  TAG_POINT3D = 0x59,
  TAG_VECTOR = 0x56,
};

#define NANOS_PER_SECOND G_GINT64_CONSTANT (1000000000)
#define NANOS_PER_DAY (G_GINT64_CONSTANT (86400) * NANOS_PER_SECOND)
#define MAX_OFFSET_S (18 * 3600)
/* Neo4j's temporal range: years -999,999,999 .. 999,999,999. */
#define MAX_ABS_DAYS G_GINT64_CONSTANT (365242500000)
#define MAX_ABS_SECONDS (MAX_ABS_DAYS * 86400)

/* ---- writer ----------------------------------------------------------------- */

static inline void
put_u8 (GByteArray *out, guint8 b)
{
  g_byte_array_append (out, &b, 1);
}

static void
put_be (GByteArray *out, guint64 v, guint n)
{
  guint8 buf[8];
  for (guint i = 0; i < n; i++)
    buf[i] = (guint8) (v >> (8 * (n - 1 - i)));
  g_byte_array_append (out, buf, n);
}

void
nc_ps_write_null (GByteArray *out)
{
  put_u8 (out, 0xC0);
}

void
nc_ps_write_bool (GByteArray *out, gboolean b)
{
  put_u8 (out, b ? 0xC3 : 0xC2);
}

void
nc_ps_write_int (GByteArray *out, gint64 i)
{
  if (i >= -16 && i <= 127)
    put_u8 (out, (guint8) (gint8) i);
  else if (i >= G_MININT8 && i <= G_MAXINT8)
    {
      put_u8 (out, 0xC8);
      put_be (out, (guint64) i, 1);
    }
  else if (i >= G_MININT16 && i <= G_MAXINT16)
    {
      put_u8 (out, 0xC9);
      put_be (out, (guint64) i, 2);
    }
  else if (i >= G_MININT32 && i <= G_MAXINT32)
    {
      put_u8 (out, 0xCA);
      put_be (out, (guint64) i, 4);
    }
  else
    {
      put_u8 (out, 0xCB);
      put_be (out, (guint64) i, 8);
    }
}

void
nc_ps_write_float (GByteArray *out, double f)
{
  guint64 bits;
  memcpy (&bits, &f, sizeof bits);
  put_u8 (out, 0xC1);
  put_be (out, bits, 8);
}

static void
write_sized_header (GByteArray *out, guint8 tiny_base, guint8 marker8, guint32 n, gboolean has_tiny)
{
  if (has_tiny && n < 16)
    put_u8 (out, (guint8) (tiny_base | n));
  else if (n <= G_MAXUINT8)
    {
      put_u8 (out, marker8);
      put_be (out, n, 1);
    }
  else if (n <= G_MAXUINT16)
    {
      put_u8 (out, marker8 + 1);
      put_be (out, n, 2);
    }
  else
    {
      put_u8 (out, marker8 + 2);
      put_be (out, n, 4);
    }
}

void
nc_ps_write_string_len (GByteArray *out, const char *s, gsize len)
{
  g_return_if_fail (len <= G_MAXUINT32);
  write_sized_header (out, 0x80, 0xD0, (guint32) len, TRUE);
  g_byte_array_append (out, (const guint8 *) s, (guint) len);
}

void
nc_ps_write_string (GByteArray *out, const char *s)
{
  nc_ps_write_string_len (out, s, strlen (s));
}

void
nc_ps_write_bytes (GByteArray *out, const guint8 *data, gsize len)
{
  g_return_if_fail (len <= G_MAXUINT32);
  write_sized_header (out, 0, 0xCC, (guint32) len, FALSE);
  g_byte_array_append (out, data, (guint) len);
}

void
nc_ps_write_list_header (GByteArray *out, guint32 n)
{
  write_sized_header (out, 0x90, 0xD4, n, TRUE);
}

void
nc_ps_write_map_header (GByteArray *out, guint32 n)
{
  write_sized_header (out, 0xA0, 0xD8, n, TRUE);
}

void
nc_ps_write_struct_header (GByteArray *out, guint8 n_fields, guint8 tag)
{
  g_return_if_fail (n_fields < 16);
  put_u8 (out, (guint8) (0xB0 | n_fields));
  put_u8 (out, tag);
}

char *
nc_ps_element_id (gboolean is_rel, gint64 id)
{
  return g_strdup_printf ("%d:nornicdb:%" G_GINT64_FORMAT, is_rel ? 5 : 4, id);
}

static void
write_element_id (GByteArray *out, gboolean is_rel, gint64 id)
{
  g_autofree char *eid = nc_ps_element_id (is_rel, id);
  nc_ps_write_string (out, eid);
}

static void
write_props (GByteArray *out, const NcMap *props, const NcPsFlavor *flavor)
{
  if (props == NULL)
    {
      nc_ps_write_map_header (out, 0);
      return;
    }
  nc_ps_write_map_header (out, props->len);
  for (guint32 i = 0; i < props->len; i++)
    {
      nc_ps_write_string_len (out, props->entries[i].key->data, props->entries[i].key->len);
      nc_ps_write_value (out, &props->entries[i].value, flavor);
    }
}

static void
write_node (GByteArray *out, const NcEntity *e, const NcPsFlavor *flavor)
{
  nc_ps_write_struct_header (out, flavor->element_ids ? 4 : 3, TAG_NODE);
  nc_ps_write_int (out, e->id);
  nc_ps_write_list_header (out, e->n_labels);
  for (guint32 i = 0; i < e->n_labels; i++)
    nc_ps_write_string_len (out, e->labels[i]->data, e->labels[i]->len);
  write_props (out, e->props, flavor);
  if (flavor->element_ids)
    write_element_id (out, FALSE, e->id);
}

static void
write_rel_type (GByteArray *out, const NcEntity *e)
{
  if (e->rel_type != NULL)
    nc_ps_write_string_len (out, e->rel_type->data, e->rel_type->len);
  else
    nc_ps_write_string (out, "");
}

static void
write_rel (GByteArray *out, const NcEntity *e, const NcPsFlavor *flavor)
{
  nc_ps_write_struct_header (out, flavor->element_ids ? 8 : 5, TAG_REL);
  nc_ps_write_int (out, e->id);
  nc_ps_write_int (out, e->start_id);
  nc_ps_write_int (out, e->end_id);
  write_rel_type (out, e);
  write_props (out, e->props, flavor);
  if (flavor->element_ids)
    {
      write_element_id (out, TRUE, e->id);
      write_element_id (out, FALSE, e->start_id);
      write_element_id (out, FALSE, e->end_id);
    }
}

static void
write_unbound_rel (GByteArray *out, const NcEntity *e, const NcPsFlavor *flavor)
{
  nc_ps_write_struct_header (out, flavor->element_ids ? 4 : 3, TAG_UNBOUND_REL);
  nc_ps_write_int (out, e->id);
  write_rel_type (out, e);
  write_props (out, e->props, flavor);
  if (flavor->element_ids)
    write_element_id (out, TRUE, e->id);
}

/* Index of the entity with `id` in `seen`, appending it when new. */
static guint
intern_entity (GArray *seen, GHashTable *index, const NcValue *v)
{
  gint64 id = v->u.entity->id;
  gpointer found;
  if (g_hash_table_lookup_extended (index, &id, NULL, &found))
    return GPOINTER_TO_UINT (found);
  guint pos = seen->len;
  g_array_append_val (seen, v);
  gint64 *key = g_new (gint64, 1);
  *key = id;
  g_hash_table_insert (index, key, GUINT_TO_POINTER (pos));
  return pos;
}

static void
write_path (GByteArray *out, const NcPath *p, const NcPsFlavor *flavor)
{
  g_autoptr (GArray) nodes = g_array_new (FALSE, FALSE, sizeof (const NcValue *));
  g_autoptr (GArray) rels = g_array_new (FALSE, FALSE, sizeof (const NcValue *));
  g_autoptr (GHashTable) node_index = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_autoptr (GHashTable) rel_index = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_autoptr (GArray) indices = g_array_new (FALSE, FALSE, sizeof (gint64));

  for (guint32 i = 0; i < p->n_nodes; i++)
    {
      guint ni = intern_entity (nodes, node_index, &p->nodes[i]);
      if (i == 0)
        continue;
      const NcValue *rel = &p->rels[i - 1];
      guint ri = intern_entity (rels, rel_index, rel);
      /* Positive when the relationship points along the path. */
      gint64 idx = (gint64) ri + 1;
      if (rel->u.entity->start_id != p->nodes[i - 1].u.entity->id)
        idx = -idx;
      g_array_append_val (indices, idx);
      gint64 nidx = ni;
      g_array_append_val (indices, nidx);
    }

  nc_ps_write_struct_header (out, 3, TAG_PATH);
  nc_ps_write_list_header (out, nodes->len);
  for (guint i = 0; i < nodes->len; i++)
    write_node (out, g_array_index (nodes, const NcValue *, i)->u.entity, flavor);
  nc_ps_write_list_header (out, rels->len);
  for (guint i = 0; i < rels->len; i++)
    write_unbound_rel (out, g_array_index (rels, const NcValue *, i)->u.entity, flavor);
  nc_ps_write_list_header (out, indices->len);
  for (guint i = 0; i < indices->len; i++)
    nc_ps_write_int (out, g_array_index (indices, gint64, i));
}

void
nc_ps_write_value (GByteArray *out, const NcValue *v, const NcPsFlavor *flavor)
{
  switch (v->type)
    {
    case NC_VALUE_NULL:
      nc_ps_write_null (out);
      break;
    case NC_VALUE_BOOL:
      nc_ps_write_bool (out, v->u.b);
      break;
    case NC_VALUE_INT:
      nc_ps_write_int (out, v->u.i);
      break;
    case NC_VALUE_FLOAT:
      nc_ps_write_float (out, v->u.f);
      break;
    case NC_VALUE_STRING:
      nc_ps_write_string_len (out, v->u.s->data, v->u.s->len);
      break;
    case NC_VALUE_BYTES:
      nc_ps_write_bytes (out, v->u.bytes->data, v->u.bytes->len);
      break;
    case NC_VALUE_LIST:
      nc_ps_write_list_header (out, v->u.list->len);
      for (guint32 i = 0; i < v->u.list->len; i++)
        nc_ps_write_value (out, &v->u.list->items[i], flavor);
      break;
    case NC_VALUE_MAP:
      write_props (out, v->u.map, flavor);
      break;
    case NC_VALUE_NODE:
      write_node (out, v->u.entity, flavor);
      break;
    case NC_VALUE_REL:
      write_rel (out, v->u.entity, flavor);
      break;
    case NC_VALUE_PATH:
      write_path (out, v->u.path, flavor);
      break;
    case NC_VALUE_DATE:
      nc_ps_write_struct_header (out, 1, TAG_DATE);
      nc_ps_write_int (out, v->u.date_days);
      break;
    case NC_VALUE_LOCAL_TIME:
      nc_ps_write_struct_header (out, 1, TAG_LOCAL_TIME);
      nc_ps_write_int (out, v->u.local_time_ns);
      break;
    case NC_VALUE_TIME:
      nc_ps_write_struct_header (out, 2, TAG_TIME);
      nc_ps_write_int (out, v->u.time.ns);
      nc_ps_write_int (out, v->u.time.offset_s);
      break;
    case NC_VALUE_LOCAL_DATETIME:
      nc_ps_write_struct_header (out, 2, TAG_LOCAL_DATETIME);
      nc_ps_write_int (out, v->u.local_dt.seconds);
      nc_ps_write_int (out, v->u.local_dt.nanos);
      break;
    case NC_VALUE_DATETIME:
      {
        const NcString *zone = v->u.wide->u.datetime.zone_id;
        gint64 seconds = v->u.wide->u.datetime.seconds;
        /* Legacy (4.4 without the utc patch) structures carry local seconds. */
        if (!flavor->utc_datetime)
          seconds += v->u.wide->u.datetime.offset_s;
        if (zone != NULL)
          nc_ps_write_struct_header (out, 3, flavor->utc_datetime ? TAG_DATETIME_ZONE_ID
                                                                   : TAG_LEGACY_DATETIME_ZONE_ID);
        else
          nc_ps_write_struct_header (out, 3, flavor->utc_datetime ? TAG_DATETIME : TAG_LEGACY_DATETIME);
        nc_ps_write_int (out, seconds);
        nc_ps_write_int (out, v->u.wide->u.datetime.nanos);
        if (zone != NULL)
          nc_ps_write_string_len (out, zone->data, zone->len);
        else
          nc_ps_write_int (out, v->u.wide->u.datetime.offset_s);
      }
      break;
    case NC_VALUE_DURATION:
      nc_ps_write_struct_header (out, 4, TAG_DURATION);
      nc_ps_write_int (out, v->u.wide->u.duration.months);
      nc_ps_write_int (out, v->u.wide->u.duration.days);
      nc_ps_write_int (out, v->u.wide->u.duration.seconds);
      nc_ps_write_int (out, v->u.wide->u.duration.nanos);
      break;
    case NC_VALUE_POINT:
      if (v->u.wide->u.point.dims == 3)
        {
          nc_ps_write_struct_header (out, 4, TAG_POINT3D);
          nc_ps_write_int (out, v->u.wide->u.point.srid);
          nc_ps_write_float (out, v->u.wide->u.point.x);
          nc_ps_write_float (out, v->u.wide->u.point.y);
          nc_ps_write_float (out, v->u.wide->u.point.z);
        }
      else
        {
          nc_ps_write_struct_header (out, 3, TAG_POINT2D);
          nc_ps_write_int (out, v->u.wide->u.point.srid);
          nc_ps_write_float (out, v->u.wide->u.point.x);
          nc_ps_write_float (out, v->u.wide->u.point.y);
        }
      break;
    case NC_VALUE_N_TYPES:
    default:
      nc_ps_write_null (out);
      break;
    }
}

/* ---- reader ----------------------------------------------------------------- */

static gboolean
malformed (GError **error, const char *what)
{
  g_set_error (error, NC_ERROR, NC_ERROR_PROTOCOL, "Malformed PackStream data: %s", what);
  return FALSE;
}

static gboolean
get_be (NcPsReader *r, guint n, guint64 *out, GError **error)
{
  if (nc_ps_reader_remaining (r) < n)
    return malformed (error, "truncated value");
  guint64 v = 0;
  for (guint i = 0; i < n; i++)
    v = (v << 8) | r->data[r->pos + i];
  r->pos += n;
  *out = v;
  return TRUE;
}

gboolean
nc_ps_read_struct_header (NcPsReader *r, guint *n_fields, guint8 *tag, GError **error)
{
  if (nc_ps_reader_remaining (r) < 2)
    return malformed (error, "truncated structure");
  guint8 m = r->data[r->pos];
  if ((m & 0xF0) != 0xB0)
    return malformed (error, "expected a structure");
  *n_fields = m & 0x0F;
  *tag = r->data[r->pos + 1];
  r->pos += 2;
  return TRUE;
}

/* Reads a length for the marker family at `base` (8/16/32-bit sizes). */
static gboolean
read_size (NcPsReader *r, guint8 marker, guint8 base, guint32 *n, GError **error)
{
  guint64 v;
  guint width = 1u << (marker - base); /* 1, 2, 4 bytes */
  if (!get_be (r, width, &v, error))
    return FALSE;
  *n = (guint32) v;
  return TRUE;
}

static gboolean read_value (NcPsReader *r, const NcPsFlavor *flavor, guint depth, NcValue *out,
                            GError **error);

static gboolean
read_int_field (NcPsReader *r, const NcPsFlavor *flavor, guint depth, gint64 *out, GError **error)
{
  g_auto (NcValue) v = nc_value_null ();
  if (!read_value (r, flavor, depth, &v, error))
    return FALSE;
  if (v.type != NC_VALUE_INT)
    return malformed (error, "structure field must be an integer");
  *out = v.u.i;
  return TRUE;
}

static gboolean
read_float_field (NcPsReader *r, const NcPsFlavor *flavor, guint depth, double *out, GError **error)
{
  g_auto (NcValue) v = nc_value_null ();
  if (!read_value (r, flavor, depth, &v, error))
    return FALSE;
  if (v.type == NC_VALUE_FLOAT)
    *out = v.u.f;
  else if (v.type == NC_VALUE_INT)
    *out = (double) v.u.i;
  else
    return malformed (error, "structure field must be a float");
  return TRUE;
}

static gboolean
read_string_field (NcPsReader *r, const NcPsFlavor *flavor, guint depth, NcValue *out, GError **error)
{
  if (!read_value (r, flavor, depth, out, error))
    return FALSE;
  if (out->type != NC_VALUE_STRING)
    {
      nc_value_clear (out);
      return malformed (error, "structure field must be a string");
    }
  return TRUE;
}

static gboolean
invalid_value (GError **error, const char *what)
{
  g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Invalid parameter value: %s", what);
  return FALSE;
}

static gboolean
check_nanos (gint64 nanos, GError **error)
{
  if (nanos < 0 || nanos >= NANOS_PER_SECOND)
    return invalid_value (error, "nanoseconds out of range");
  return TRUE;
}

static gboolean
check_offset (gint64 offset, GError **error)
{
  if (offset < -MAX_OFFSET_S || offset > MAX_OFFSET_S)
    return invalid_value (error, "time zone offset out of range (-18:00..+18:00)");
  return TRUE;
}

static gboolean
check_seconds (gint64 seconds, GError **error)
{
  if (seconds < -MAX_ABS_SECONDS || seconds > MAX_ABS_SECONDS)
    return invalid_value (error, "date-time out of range");
  return TRUE;
}

/* UTC offset of `zone` at the UTC instant, or (local == TRUE) at the local
 * wall-clock time `seconds`, adjusting `seconds` to UTC. */
static gboolean
zone_offset (const char *zone, gint64 *seconds, gboolean local, gint32 *offset, GError **error)
{
  GTimeZone *tz = g_time_zone_new_identifier (zone);
  if (tz == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, "Invalid parameter value: unknown time zone '%s'",
                   zone);
      return FALSE;
    }
  gint interval;
  if (local)
    {
      gint64 t = *seconds;
      interval = g_time_zone_adjust_time (tz, G_TIME_TYPE_STANDARD, &t);
      *offset = g_time_zone_get_offset (tz, interval);
      *seconds = t - *offset;
    }
  else
    {
      interval = g_time_zone_find_interval (tz, G_TIME_TYPE_UNIVERSAL, *seconds);
      *offset = interval >= 0 ? g_time_zone_get_offset (tz, interval) : 0;
    }
  g_time_zone_unref (tz);
  return TRUE;
}

static gboolean
expect_fields (guint n_fields, guint want, const char *name, GError **error)
{
  if (n_fields != want)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_PROTOCOL,
                   "Malformed PackStream data: %s structure needs %u fields, got %u", name, want, n_fields);
      return FALSE;
    }
  return TRUE;
}

static gboolean
skip_fields (NcPsReader *r, const NcPsFlavor *flavor, guint depth, guint n, GError **error)
{
  for (guint i = 0; i < n; i++)
    {
      g_auto (NcValue) v = nc_value_null ();
      if (!read_value (r, flavor, depth, &v, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
read_struct (NcPsReader *r, const NcPsFlavor *flavor, guint depth, guint n, guint8 tag, NcValue *out,
             GError **error)
{
  gint64 a = 0, b = 0, c = 0, d = 0;
  switch (tag)
    {
    case TAG_DATE:
      if (!expect_fields (n, 1, "Date", error) || !read_int_field (r, flavor, depth, &a, error))
        return FALSE;
      if (a < -MAX_ABS_DAYS || a > MAX_ABS_DAYS)
        return invalid_value (error, "date out of range");
      *out = nc_value_date (a);
      return TRUE;
    case TAG_LOCAL_TIME:
      if (!expect_fields (n, 1, "LocalTime", error) || !read_int_field (r, flavor, depth, &a, error))
        return FALSE;
      if (a < 0 || a >= NANOS_PER_DAY)
        return invalid_value (error, "local time out of range");
      *out = nc_value_local_time (a);
      return TRUE;
    case TAG_TIME:
      if (!expect_fields (n, 2, "Time", error) || !read_int_field (r, flavor, depth, &a, error)
          || !read_int_field (r, flavor, depth, &b, error))
        return FALSE;
      if (a < 0 || a >= NANOS_PER_DAY)
        return invalid_value (error, "time out of range");
      if (!check_offset (b, error))
        return FALSE;
      *out = nc_value_time (a, (gint32) b);
      return TRUE;
    case TAG_LOCAL_DATETIME:
      if (!expect_fields (n, 2, "LocalDateTime", error) || !read_int_field (r, flavor, depth, &a, error)
          || !read_int_field (r, flavor, depth, &b, error))
        return FALSE;
      if (!check_seconds (a, error) || !check_nanos (b, error))
        return FALSE;
      *out = nc_value_local_datetime (a, (gint32) b);
      return TRUE;
    case TAG_DATETIME:
    case TAG_LEGACY_DATETIME:
      if ((tag == TAG_DATETIME) != (flavor->utc_datetime != FALSE))
        return malformed (error, "DateTime structure does not match the negotiated protocol");
      if (!expect_fields (n, 3, "DateTime", error) || !read_int_field (r, flavor, depth, &a, error)
          || !read_int_field (r, flavor, depth, &b, error) || !read_int_field (r, flavor, depth, &c, error))
        return FALSE;
      if (!check_seconds (a, error) || !check_nanos (b, error) || !check_offset (c, error))
        return FALSE;
      if (tag == TAG_LEGACY_DATETIME)
        a -= c; /* local wall-clock seconds to UTC */
      *out = nc_value_datetime (a, (gint32) b, (gint32) c, NULL);
      return TRUE;
    case TAG_DATETIME_ZONE_ID:
    case TAG_LEGACY_DATETIME_ZONE_ID:
      {
        if ((tag == TAG_DATETIME_ZONE_ID) != (flavor->utc_datetime != FALSE))
          return malformed (error, "DateTimeZoneId structure does not match the negotiated protocol");
        g_auto (NcValue) zone = nc_value_null ();
        gint32 offset = 0;
        if (!expect_fields (n, 3, "DateTimeZoneId", error) || !read_int_field (r, flavor, depth, &a, error)
            || !read_int_field (r, flavor, depth, &b, error)
            || !read_string_field (r, flavor, depth, &zone, error))
          return FALSE;
        if (!check_seconds (a, error) || !check_nanos (b, error))
          return FALSE;
        if (!zone_offset (nc_value_str (&zone), &a, tag == TAG_LEGACY_DATETIME_ZONE_ID, &offset, error))
          return FALSE;
        *out = nc_value_datetime (a, (gint32) b, offset, nc_value_str (&zone));
        return TRUE;
      }
    case TAG_DURATION:
      if (!expect_fields (n, 4, "Duration", error) || !read_int_field (r, flavor, depth, &a, error)
          || !read_int_field (r, flavor, depth, &b, error) || !read_int_field (r, flavor, depth, &c, error)
          || !read_int_field (r, flavor, depth, &d, error))
        return FALSE;
      if (d < -999999999 || d > 999999999)
        return invalid_value (error, "duration nanoseconds out of range");
      *out = nc_value_duration (a, b, c, (gint32) d);
      return TRUE;
    case TAG_POINT2D:
    case TAG_POINT3D:
      {
        double x = 0, y = 0, z = 0;
        guint want = tag == TAG_POINT2D ? 3 : 4;
        if (!expect_fields (n, want, tag == TAG_POINT2D ? "Point2D" : "Point3D", error)
            || !read_int_field (r, flavor, depth, &a, error) || !read_float_field (r, flavor, depth, &x, error)
            || !read_float_field (r, flavor, depth, &y, error)
            || (tag == TAG_POINT3D && !read_float_field (r, flavor, depth, &z, error)))
          return FALSE;
        if (a < G_MININT32 || a > G_MAXINT32)
          return invalid_value (error, "point SRID out of range");
        *out = tag == TAG_POINT2D ? nc_value_point2d ((gint32) a, x, y) : nc_value_point3d ((gint32) a, x, y, z);
        return TRUE;
      }
    case TAG_NODE:
    case TAG_REL:
    case TAG_UNBOUND_REL:
    case TAG_PATH:
    case TAG_VECTOR:
      /* Well-formed, but graph entities and vectors cannot be parameters:
       * read past them so the message stays parseable. */
      if (!skip_fields (r, flavor, depth, n, error))
        return FALSE;
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Invalid parameter value: %s values cannot be used as parameters",
                   tag == TAG_NODE ? "Node" : tag == TAG_PATH ? "Path" : tag == TAG_VECTOR ? "Vector" : "Relationship");
      return FALSE;
    default:
      {
        g_autofree char *what = g_strdup_printf ("unknown structure tag 0x%02X", tag);
        return malformed (error, what);
      }
    }
}

static gboolean
read_list (NcPsReader *r, const NcPsFlavor *flavor, guint depth, guint32 n, NcValue *out, GError **error)
{
  /* Every item takes at least one byte. */
  if (n > nc_ps_reader_remaining (r))
    return malformed (error, "list longer than the message");
  g_autoptr (NcList) list = nc_list_new (n);
  for (guint32 i = 0; i < n; i++)
    list->items[i] = nc_value_null ();
  for (guint32 i = 0; i < n; i++)
    if (!read_value (r, flavor, depth + 1, &list->items[i], error))
      return FALSE;
  *out = nc_value_list_take (g_steal_pointer (&list));
  return TRUE;
}

static gboolean
read_map (NcPsReader *r, const NcPsFlavor *flavor, guint depth, guint32 n, NcValue *out, GError **error)
{
  /* Every entry takes at least two bytes (key and value). */
  if (n > nc_ps_reader_remaining (r) / 2)
    return malformed (error, "map longer than the message");
  g_autoptr (NcMap) map = nc_map_new (n);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint32 i = 0; i < n; i++)
    {
      g_auto (NcValue) key = nc_value_null ();
      g_auto (NcValue) value = nc_value_null ();
      if (!read_value (r, flavor, depth + 1, &key, error))
        return FALSE;
      if (key.type != NC_VALUE_STRING)
        return malformed (error, "map key is not a string");
      if (!read_value (r, flavor, depth + 1, &value, error))
        return FALSE;
      if (!g_hash_table_add (seen, g_strdup (nc_value_str (&key))))
        return malformed (error, "duplicate map key");
      nc_map_append (map, nc_value_str (&key), value);
      value = nc_value_null (); /* ownership moved into the map */
    }
  *out = nc_value_map_take (g_steal_pointer (&map));
  return TRUE;
}

static gboolean
read_value (NcPsReader *r, const NcPsFlavor *flavor, guint depth, NcValue *out, GError **error)
{
  *out = nc_value_null ();
  if (depth > NC_PS_MAX_DEPTH)
    return malformed (error, "nesting too deep");
  if (nc_ps_reader_remaining (r) < 1)
    return malformed (error, "truncated value");

  guint8 m = r->data[r->pos++];
  guint64 raw;
  guint32 n;

  if (m <= 0x7F)
    {
      *out = nc_value_int (m);
      return TRUE;
    }
  if (m >= 0xF0)
    {
      *out = nc_value_int ((gint8) m);
      return TRUE;
    }
  switch (m & 0xF0)
    {
    case 0x80:
      n = m & 0x0F;
      goto string;
    case 0x90:
      return read_list (r, flavor, depth, m & 0x0F, out, error);
    case 0xA0:
      return read_map (r, flavor, depth, m & 0x0F, out, error);
    case 0xB0:
      {
        if (nc_ps_reader_remaining (r) < 1)
          return malformed (error, "truncated structure");
        guint8 tag = r->data[r->pos++];
        return read_struct (r, flavor, depth + 1, m & 0x0F, tag, out, error);
      }
    default:
      break;
    }

  switch (m)
    {
    case 0xC0:
      return TRUE;
    case 0xC2:
      *out = nc_value_bool (FALSE);
      return TRUE;
    case 0xC3:
      *out = nc_value_bool (TRUE);
      return TRUE;
    case 0xC1:
      {
        double f;
        if (!get_be (r, 8, &raw, error))
          return FALSE;
        memcpy (&f, &raw, sizeof f);
        *out = nc_value_float (f);
        return TRUE;
      }
    case 0xC8:
      if (!get_be (r, 1, &raw, error))
        return FALSE;
      *out = nc_value_int ((gint8) raw);
      return TRUE;
    case 0xC9:
      if (!get_be (r, 2, &raw, error))
        return FALSE;
      *out = nc_value_int ((gint16) raw);
      return TRUE;
    case 0xCA:
      if (!get_be (r, 4, &raw, error))
        return FALSE;
      *out = nc_value_int ((gint32) raw);
      return TRUE;
    case 0xCB:
      if (!get_be (r, 8, &raw, error))
        return FALSE;
      *out = nc_value_int ((gint64) raw);
      return TRUE;
    case 0xCC:
    case 0xCD:
    case 0xCE:
      if (!read_size (r, m, 0xCC, &n, error))
        return FALSE;
      if (n > nc_ps_reader_remaining (r))
        return malformed (error, "byte array longer than the message");
      *out = nc_value_bytes (r->data + r->pos, n);
      r->pos += n;
      return TRUE;
    case 0xD0:
    case 0xD1:
    case 0xD2:
      if (!read_size (r, m, 0xD0, &n, error))
        return FALSE;
      goto string;
    case 0xD4:
    case 0xD5:
    case 0xD6:
      if (!read_size (r, m, 0xD4, &n, error))
        return FALSE;
      return read_list (r, flavor, depth, n, out, error);
    case 0xD8:
    case 0xD9:
    case 0xDA:
      if (!read_size (r, m, 0xD8, &n, error))
        return FALSE;
      return read_map (r, flavor, depth, n, out, error);
    default:
      {
        g_autofree char *what = g_strdup_printf ("unknown marker 0x%02X", m);
        return malformed (error, what);
      }
    }

string:
  if (n > nc_ps_reader_remaining (r))
    return malformed (error, "string longer than the message");
  if (!g_utf8_validate_len ((const char *) r->data + r->pos, n, NULL))
    return malformed (error, "string is not valid UTF-8");
  *out = nc_value_string_len ((const char *) r->data + r->pos, n);
  r->pos += n;
  return TRUE;
}

gboolean
nc_ps_read_value (NcPsReader *r, const NcPsFlavor *flavor, NcValue *out, GError **error)
{
  return read_value (r, flavor, 0, out, error);
}
