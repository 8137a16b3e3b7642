#define G_LOG_DOMAIN "nornicdb-value"
#include "value.h"

#include <math.h>
#include <string.h>

/* ---- heap blocks --------------------------------------------------------- */

NcString *
nc_string_new (const char *utf8, gsize len)
{
  NcString *s = g_malloc (sizeof (NcString) + len + 1);
  s->ref = 1;
  s->len = (guint32) len;
  if (len > 0)
    memcpy (s->data, utf8, len);
  s->data[len] = '\0';
  return s;
}

NcString *
nc_string_ref (NcString *s)
{
  g_atomic_int_inc (&s->ref);
  return s;
}

void
nc_string_unref (NcString *s)
{
  if (s != NULL && g_atomic_int_dec_and_test (&s->ref))
    g_free (s);
}

NcList *
nc_list_new (guint32 len)
{
  NcList *l = g_malloc0 (sizeof (NcList) + (gsize) len * sizeof (NcValue));
  l->ref = 1;
  l->len = len;
  return l;
}

NcList *
nc_list_ref (NcList *l)
{
  g_atomic_int_inc (&l->ref);
  return l;
}

void
nc_list_unref (NcList *l)
{
  if (l == NULL || !g_atomic_int_dec_and_test (&l->ref))
    return;
  for (guint32 i = 0; i < l->len; i++)
    nc_value_clear (&l->items[i]);
  g_free (l);
}

NcMap *
nc_map_new (guint32 capacity)
{
  NcMap *m = g_malloc0 (sizeof (NcMap) + (gsize) capacity * sizeof (NcMapEntry));
  m->ref = 1;
  m->len = 0;
  return m;
}

NcMap *
nc_map_ref (NcMap *m)
{
  g_atomic_int_inc (&m->ref);
  return m;
}

void
nc_map_unref (NcMap *m)
{
  if (m == NULL || !g_atomic_int_dec_and_test (&m->ref))
    return;
  for (guint32 i = 0; i < m->len; i++)
    {
      nc_string_unref (m->entries[i].key);
      nc_value_clear (&m->entries[i].value);
    }
  g_free (m);
}

void
nc_map_append (NcMap *m, const char *key, NcValue value)
{
  m->entries[m->len].key = nc_string_new (key, strlen (key));
  m->entries[m->len].value = value;
  m->len++;
}

const NcValue *
nc_map_get (const NcMap *m, const char *key)
{
  if (m == NULL)
    return NULL;
  for (guint32 i = 0; i < m->len; i++)
    if (strcmp (m->entries[i].key->data, key) == 0)
      return &m->entries[i].value;
  return NULL;
}

NcMap *
nc_map_with (const NcMap *m, const char *key, NcValue value)
{
  guint32 len = m ? m->len : 0;
  NcMap *out = nc_map_new (len + 1);
  gboolean done = FALSE;

  for (guint32 i = 0; i < len; i++)
    {
      if (strcmp (m->entries[i].key->data, key) == 0)
        {
          done = TRUE;
          if (value.type == NC_VALUE_NULL)
            continue;
          out->entries[out->len].key = nc_string_ref (m->entries[i].key);
          out->entries[out->len].value = value;
          out->len++;
          value = nc_value_null ();
          continue;
        }
      out->entries[out->len].key = nc_string_ref (m->entries[i].key);
      out->entries[out->len].value = nc_value_copy (&m->entries[i].value);
      out->len++;
    }
  if (!done && value.type != NC_VALUE_NULL)
    nc_map_append (out, key, value);
  else
    nc_value_clear (&value);
  return out;
}

NcEntity *
nc_entity_new (gboolean is_rel, gint64 id)
{
  NcEntity *e = g_new0 (NcEntity, 1);
  e->ref = 1;
  e->is_rel = is_rel;
  e->id = id;
  e->start_id = -1;
  e->end_id = -1;
  return e;
}

NcEntity *
nc_entity_ref (NcEntity *e)
{
  g_atomic_int_inc (&e->ref);
  return e;
}

void
nc_entity_unref (NcEntity *e)
{
  if (e == NULL || !g_atomic_int_dec_and_test (&e->ref))
    return;
  for (guint32 i = 0; i < e->n_labels; i++)
    nc_string_unref (e->labels[i]);
  g_free (e->labels);
  nc_string_unref (e->rel_type);
  nc_map_unref (e->props);
  g_free (e);
}

NcPath *
nc_path_new (guint32 n_nodes)
{
  NcPath *p = g_new0 (NcPath, 1);
  p->ref = 1;
  p->n_nodes = n_nodes;
  p->nodes = g_new0 (NcValue, n_nodes);
  p->rels = g_new0 (NcValue, n_nodes > 0 ? n_nodes - 1 : 0);
  return p;
}

NcPath *
nc_path_ref (NcPath *p)
{
  g_atomic_int_inc (&p->ref);
  return p;
}

void
nc_path_unref (NcPath *p)
{
  if (p == NULL || !g_atomic_int_dec_and_test (&p->ref))
    return;
  for (guint32 i = 0; i < p->n_nodes; i++)
    nc_value_clear (&p->nodes[i]);
  for (guint32 i = 0; i + 1 < p->n_nodes; i++)
    nc_value_clear (&p->rels[i]);
  g_free (p->nodes);
  g_free (p->rels);
  g_free (p);
}

static NcWide *
wide_new (void)
{
  NcWide *w = g_new0 (NcWide, 1);
  w->ref = 1;
  return w;
}

static void
wide_unref (NcValueType type, NcWide *w)
{
  if (w == NULL || !g_atomic_int_dec_and_test (&w->ref))
    return;
  if (type == NC_VALUE_DATETIME)
    nc_string_unref (w->u.datetime.zone_id);
  g_free (w);
}

/* ---- constructors ------------------------------------------------------ */

NcValue
nc_value_string (const char *utf8)
{
  return nc_value_string_len (utf8, strlen (utf8));
}

NcValue
nc_value_string_len (const char *utf8, gsize len)
{
  NcValue v = { .type = NC_VALUE_STRING, .u.s = nc_string_new (utf8, len) };
  return v;
}

NcValue
nc_value_string_take (NcString *s)
{
  NcValue v = { .type = NC_VALUE_STRING, .u.s = s };
  return v;
}

NcValue
nc_value_bytes (const guint8 *data, gsize len)
{
  NcBytes *b = g_malloc (sizeof (NcBytes) + len);
  b->ref = 1;
  b->len = (guint32) len;
  if (len > 0)
    memcpy (b->data, data, len);
  NcValue v = { .type = NC_VALUE_BYTES, .u.bytes = b };
  return v;
}

NcValue
nc_value_list_take (NcList *l)
{
  NcValue v = { .type = NC_VALUE_LIST, .u.list = l };
  return v;
}

NcValue
nc_value_map_take (NcMap *m)
{
  NcValue v = { .type = NC_VALUE_MAP, .u.map = m };
  return v;
}

NcValue
nc_value_date (gint64 days)
{
  NcValue v = { .type = NC_VALUE_DATE, .u.date_days = days };
  return v;
}

NcValue
nc_value_local_time (gint64 ns)
{
  NcValue v = { .type = NC_VALUE_LOCAL_TIME, .u.local_time_ns = ns };
  return v;
}

NcValue
nc_value_time (gint64 ns, gint32 offset_s)
{
  NcValue v = { .type = NC_VALUE_TIME };
  v.u.time.ns = ns;
  v.u.time.offset_s = offset_s;
  return v;
}

NcValue
nc_value_local_datetime (gint64 seconds, gint32 nanos)
{
  NcValue v = { .type = NC_VALUE_LOCAL_DATETIME };
  v.u.local_dt.seconds = seconds;
  v.u.local_dt.nanos = nanos;
  return v;
}

NcValue
nc_value_datetime (gint64 utc_seconds, gint32 nanos, gint32 offset_s, const char *zone_id)
{
  NcValue v = { .type = NC_VALUE_DATETIME, .u.wide = wide_new () };
  v.u.wide->u.datetime.seconds = utc_seconds;
  v.u.wide->u.datetime.nanos = nanos;
  v.u.wide->u.datetime.offset_s = offset_s;
  v.u.wide->u.datetime.zone_id = zone_id ? nc_string_new (zone_id, strlen (zone_id)) : NULL;
  return v;
}

NcValue
nc_value_duration (gint64 months, gint64 days, gint64 seconds, gint32 nanos)
{
  NcValue v = { .type = NC_VALUE_DURATION, .u.wide = wide_new () };
  v.u.wide->u.duration.months = months;
  v.u.wide->u.duration.days = days;
  v.u.wide->u.duration.seconds = seconds;
  v.u.wide->u.duration.nanos = nanos;
  return v;
}

NcValue
nc_value_point2d (gint32 srid, double x, double y)
{
  NcValue v = { .type = NC_VALUE_POINT, .u.wide = wide_new () };
  v.u.wide->u.point.srid = srid;
  v.u.wide->u.point.dims = 2;
  v.u.wide->u.point.x = x;
  v.u.wide->u.point.y = y;
  return v;
}

NcValue
nc_value_point3d (gint32 srid, double x, double y, double z)
{
  NcValue v = nc_value_point2d (srid, x, y);
  v.u.wide->u.point.dims = 3;
  v.u.wide->u.point.z = z;
  return v;
}

NcValue
nc_value_node_ref (gint64 id)
{
  NcValue v = { .type = NC_VALUE_NODE, .u.entity = nc_entity_new (FALSE, id) };
  return v;
}

NcValue
nc_value_rel_ref (gint64 id, gint64 start_id, gint64 end_id)
{
  NcValue v = { .type = NC_VALUE_REL, .u.entity = nc_entity_new (TRUE, id) };
  v.u.entity->start_id = start_id;
  v.u.entity->end_id = end_id;
  return v;
}

NcValue
nc_value_entity_take (NcEntity *e)
{
  NcValue v = { .type = e->is_rel ? NC_VALUE_REL : NC_VALUE_NODE, .u.entity = e };
  return v;
}

NcValue
nc_value_path_take (NcPath *p)
{
  NcValue v = { .type = NC_VALUE_PATH, .u.path = p };
  return v;
}

/* ---- ownership ----------------------------------------------------------- */

NcValue
nc_value_copy (const NcValue *v)
{
  NcValue out = *v;
  switch (v->type)
    {
    case NC_VALUE_STRING: nc_string_ref (v->u.s); break;
    case NC_VALUE_BYTES: g_atomic_int_inc (&v->u.bytes->ref); break;
    case NC_VALUE_LIST: nc_list_ref (v->u.list); break;
    case NC_VALUE_MAP: nc_map_ref (v->u.map); break;
    case NC_VALUE_NODE:
    case NC_VALUE_REL: nc_entity_ref (v->u.entity); break;
    case NC_VALUE_PATH: nc_path_ref (v->u.path); break;
    case NC_VALUE_DATETIME:
    case NC_VALUE_DURATION:
    case NC_VALUE_POINT: g_atomic_int_inc (&v->u.wide->ref); break;
    default: break;
    }
  return out;
}

void
nc_value_clear (NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_STRING: nc_string_unref (v->u.s); break;
    case NC_VALUE_BYTES:
      if (g_atomic_int_dec_and_test (&v->u.bytes->ref))
        g_free (v->u.bytes);
      break;
    case NC_VALUE_LIST: nc_list_unref (v->u.list); break;
    case NC_VALUE_MAP: nc_map_unref (v->u.map); break;
    case NC_VALUE_NODE:
    case NC_VALUE_REL: nc_entity_unref (v->u.entity); break;
    case NC_VALUE_PATH: nc_path_unref (v->u.path); break;
    case NC_VALUE_DATETIME:
    case NC_VALUE_DURATION:
    case NC_VALUE_POINT: wide_unref (v->type, v->u.wide); break;
    default: break;
    }
  v->type = NC_VALUE_NULL;
}

const char *
nc_value_type_name (NcValueType t)
{
  static const char *const names[NC_VALUE_N_TYPES] = {
    [NC_VALUE_NULL] = "NULL",
    [NC_VALUE_BOOL] = "BOOLEAN",
    [NC_VALUE_INT] = "INTEGER",
    [NC_VALUE_FLOAT] = "FLOAT",
    [NC_VALUE_STRING] = "STRING",
    [NC_VALUE_BYTES] = "BYTES",
    [NC_VALUE_LIST] = "LIST",
    [NC_VALUE_MAP] = "MAP",
    [NC_VALUE_NODE] = "NODE",
    [NC_VALUE_REL] = "RELATIONSHIP",
    [NC_VALUE_PATH] = "PATH",
    [NC_VALUE_DATE] = "DATE",
    [NC_VALUE_LOCAL_TIME] = "LOCAL TIME",
    [NC_VALUE_TIME] = "ZONED TIME",
    [NC_VALUE_LOCAL_DATETIME] = "LOCAL DATETIME",
    [NC_VALUE_DATETIME] = "ZONED DATETIME",
    [NC_VALUE_DURATION] = "DURATION",
    [NC_VALUE_POINT] = "POINT",
  };
  return t < NC_VALUE_N_TYPES ? names[t] : "UNKNOWN";
}

/* ---- Cypher semantics ---------------------------------------------------- */

static gboolean
is_number (const NcValue *v)
{
  return v->type == NC_VALUE_INT || v->type == NC_VALUE_FLOAT;
}

/* Compares an integer with a float exactly (no rounding of large ints). */
static int
cmp_int_float (gint64 i, double f)
{
  if (isnan (f))
    return -2; /* incomparable */
  if (f >= 9223372036854775808.0)
    return -1;
  if (f < -9223372036854775808.0)
    return 1;
  double fi = floor (f);
  gint64 t = (gint64) fi;
  if (i < t)
    return -1;
  if (i > t)
    return 1;
  return fi < f ? -1 : 0;
}

static int
cmp_numbers (const NcValue *a, const NcValue *b)
{
  if (a->type == NC_VALUE_INT && b->type == NC_VALUE_INT)
    return (a->u.i > b->u.i) - (a->u.i < b->u.i);
  if (a->type == NC_VALUE_INT)
    return cmp_int_float (a->u.i, b->u.f);
  if (b->type == NC_VALUE_INT)
    {
      int c = cmp_int_float (b->u.i, a->u.f);
      return c == -2 ? -2 : -c;
    }
  if (isnan (a->u.f) || isnan (b->u.f))
    return -2;
  return (a->u.f > b->u.f) - (a->u.f < b->u.f);
}

static int
cmp_strings (const NcString *a, const NcString *b)
{
  guint32 n = MIN (a->len, b->len);
  int c = memcmp (a->data, b->data, n);
  if (c != 0)
    return c < 0 ? -1 : 1;
  return (a->len > b->len) - (a->len < b->len);
}

static int
cmp_i64 (gint64 a, gint64 b)
{
  return (a > b) - (a < b);
}

NcTri
nc_value_equals (const NcValue *a, const NcValue *b)
{
  if (a->type == NC_VALUE_NULL || b->type == NC_VALUE_NULL)
    return NC_TRI_NULL;
  if (is_number (a) && is_number (b))
    {
      int c = cmp_numbers (a, b);
      return c == 0 ? NC_TRI_TRUE : NC_TRI_FALSE;
    }
  if (a->type != b->type)
    return NC_TRI_FALSE;
  switch (a->type)
    {
    case NC_VALUE_BOOL: return a->u.b == b->u.b;
    case NC_VALUE_STRING: return cmp_strings (a->u.s, b->u.s) == 0;
    case NC_VALUE_BYTES:
      return a->u.bytes->len == b->u.bytes->len &&
             memcmp (a->u.bytes->data, b->u.bytes->data, a->u.bytes->len) == 0;
    case NC_VALUE_LIST:
      {
        if (a->u.list->len != b->u.list->len)
          return NC_TRI_FALSE;
        NcTri res = NC_TRI_TRUE;
        for (guint32 i = 0; i < a->u.list->len; i++)
          {
            NcTri t = nc_value_equals (&a->u.list->items[i], &b->u.list->items[i]);
            if (t == NC_TRI_FALSE)
              return NC_TRI_FALSE;
            if (t == NC_TRI_NULL)
              res = NC_TRI_NULL;
          }
        return res;
      }
    case NC_VALUE_MAP:
      {
        const NcMap *ma = a->u.map, *mb = b->u.map;
        if (ma->len != mb->len)
          return NC_TRI_FALSE;
        NcTri res = NC_TRI_TRUE;
        for (guint32 i = 0; i < ma->len; i++)
          {
            const NcValue *other = nc_map_get (mb, ma->entries[i].key->data);
            if (other == NULL)
              return NC_TRI_FALSE;
            NcTri t = nc_value_equals (&ma->entries[i].value, other);
            if (t == NC_TRI_FALSE)
              return NC_TRI_FALSE;
            if (t == NC_TRI_NULL)
              res = NC_TRI_NULL;
          }
        return res;
      }
    case NC_VALUE_NODE:
    case NC_VALUE_REL:
      return a->u.entity->id == b->u.entity->id;
    case NC_VALUE_PATH:
      {
        const NcPath *pa = a->u.path, *pb = b->u.path;
        if (pa->n_nodes != pb->n_nodes)
          return NC_TRI_FALSE;
        for (guint32 i = 0; i < pa->n_nodes; i++)
          if (pa->nodes[i].u.entity->id != pb->nodes[i].u.entity->id)
            return NC_TRI_FALSE;
        for (guint32 i = 0; i + 1 < pa->n_nodes; i++)
          if (pa->rels[i].u.entity->id != pb->rels[i].u.entity->id)
            return NC_TRI_FALSE;
        return NC_TRI_TRUE;
      }
    default:
      return nc_value_order (a, b) == 0 ? NC_TRI_TRUE : NC_TRI_FALSE;
    }
}

gboolean
nc_value_compare (const NcValue *a, const NcValue *b, int *cmp)
{
  if (a->type == NC_VALUE_NULL || b->type == NC_VALUE_NULL)
    return FALSE;
  if (is_number (a) && is_number (b))
    {
      int c = cmp_numbers (a, b);
      if (c == -2)
        return FALSE;
      *cmp = c;
      return TRUE;
    }
  if (a->type != b->type)
    return FALSE;
  switch (a->type)
    {
    case NC_VALUE_BOOL:
    case NC_VALUE_STRING:
    case NC_VALUE_DATE:
    case NC_VALUE_LOCAL_TIME:
    case NC_VALUE_TIME:
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
      *cmp = nc_value_order (a, b);
      return TRUE;
    case NC_VALUE_LIST:
      {
        const NcList *la = a->u.list, *lb = b->u.list;
        guint32 n = MIN (la->len, lb->len);
        for (guint32 i = 0; i < n; i++)
          {
            int c;
            if (!nc_value_compare (&la->items[i], &lb->items[i], &c))
              return FALSE;
            if (c != 0)
              {
                *cmp = c;
                return TRUE;
              }
          }
        *cmp = cmp_i64 (la->len, lb->len);
        return TRUE;
      }
    default:
      return FALSE;
    }
}

/* Orderability groups, ascending: MAP, NODE, REL, LIST, PATH, DATETIME,
 * LOCAL DATETIME, DATE, TIME, LOCAL TIME, DURATION, STRING, BOOLEAN, NUMBER,
 * (POINT, BYTES), NULL. */
static int
order_group (NcValueType t)
{
  switch (t)
    {
    case NC_VALUE_MAP: return 0;
    case NC_VALUE_NODE: return 1;
    case NC_VALUE_REL: return 2;
    case NC_VALUE_LIST: return 3;
    case NC_VALUE_PATH: return 4;
    case NC_VALUE_DATETIME: return 5;
    case NC_VALUE_LOCAL_DATETIME: return 6;
    case NC_VALUE_DATE: return 7;
    case NC_VALUE_TIME: return 8;
    case NC_VALUE_LOCAL_TIME: return 9;
    case NC_VALUE_DURATION: return 10;
    case NC_VALUE_STRING: return 11;
    case NC_VALUE_BOOL: return 12;
    case NC_VALUE_INT:
    case NC_VALUE_FLOAT: return 13;
    case NC_VALUE_POINT: return 14;
    case NC_VALUE_BYTES: return 15;
    case NC_VALUE_NULL: return 16;
    default: return 17;
    }
}

static int
order_maps (const NcMap *a, const NcMap *b)
{
  /* Compare as sorted key lists, then values in key order. */
  guint32 n = MIN (a->len, b->len);
  g_autofree guint32 *ia = g_new (guint32, a->len + 1);
  g_autofree guint32 *ib = g_new (guint32, b->len + 1);
  for (guint32 i = 0; i < a->len; i++)
    ia[i] = i;
  for (guint32 i = 0; i < b->len; i++)
    ib[i] = i;
  /* insertion sort by key: maps are small */
  for (guint32 i = 1; i < a->len; i++)
    for (guint32 j = i; j > 0 && cmp_strings (a->entries[ia[j - 1]].key, a->entries[ia[j]].key) > 0; j--)
      {
        guint32 t = ia[j]; ia[j] = ia[j - 1]; ia[j - 1] = t;
      }
  for (guint32 i = 1; i < b->len; i++)
    for (guint32 j = i; j > 0 && cmp_strings (b->entries[ib[j - 1]].key, b->entries[ib[j]].key) > 0; j--)
      {
        guint32 t = ib[j]; ib[j] = ib[j - 1]; ib[j - 1] = t;
      }
  for (guint32 i = 0; i < n; i++)
    {
      int c = cmp_strings (a->entries[ia[i]].key, b->entries[ib[i]].key);
      if (c != 0)
        return c;
      c = nc_value_order (&a->entries[ia[i]].value, &b->entries[ib[i]].value);
      if (c != 0)
        return c;
    }
  return cmp_i64 (a->len, b->len);
}

int
nc_value_order (const NcValue *a, const NcValue *b)
{
  int ga = order_group (a->type), gb = order_group (b->type);
  if (ga != gb)
    return ga < gb ? -1 : 1;
  switch (a->type)
    {
    case NC_VALUE_NULL: return 0;
    case NC_VALUE_BOOL: return cmp_i64 (a->u.b, b->u.b);
    case NC_VALUE_INT:
    case NC_VALUE_FLOAT:
      {
        gboolean na = a->type == NC_VALUE_FLOAT && isnan (a->u.f);
        gboolean nb = b->type == NC_VALUE_FLOAT && isnan (b->u.f);
        if (na || nb)
          return na == nb ? 0 : (na ? 1 : -1); /* NaN sorts after numbers */
        return cmp_numbers (a, b);
      }
    case NC_VALUE_STRING: return cmp_strings (a->u.s, b->u.s);
    case NC_VALUE_BYTES:
      {
        guint32 n = MIN (a->u.bytes->len, b->u.bytes->len);
        int c = memcmp (a->u.bytes->data, b->u.bytes->data, n);
        if (c != 0)
          return c < 0 ? -1 : 1;
        return cmp_i64 (a->u.bytes->len, b->u.bytes->len);
      }
    case NC_VALUE_LIST:
      {
        const NcList *la = a->u.list, *lb = b->u.list;
        guint32 n = MIN (la->len, lb->len);
        for (guint32 i = 0; i < n; i++)
          {
            int c = nc_value_order (&la->items[i], &lb->items[i]);
            if (c != 0)
              return c;
          }
        return cmp_i64 (la->len, lb->len);
      }
    case NC_VALUE_MAP: return order_maps (a->u.map, b->u.map);
    case NC_VALUE_NODE:
    case NC_VALUE_REL: return cmp_i64 (a->u.entity->id, b->u.entity->id);
    case NC_VALUE_PATH:
      {
        const NcPath *pa = a->u.path, *pb = b->u.path;
        guint32 n = MIN (pa->n_nodes, pb->n_nodes);
        for (guint32 i = 0; i < n; i++)
          {
            int c = nc_value_order (&pa->nodes[i], &pb->nodes[i]);
            if (c != 0)
              return c;
            if (i + 1 < n)
              {
                c = nc_value_order (&pa->rels[i], &pb->rels[i]);
                if (c != 0)
                  return c;
              }
          }
        return cmp_i64 (pa->n_nodes, pb->n_nodes);
      }
    case NC_VALUE_DATE: return cmp_i64 (a->u.date_days, b->u.date_days);
    case NC_VALUE_LOCAL_TIME: return cmp_i64 (a->u.local_time_ns, b->u.local_time_ns);
    case NC_VALUE_TIME:
      {
        gint64 ua = a->u.time.ns - (gint64) a->u.time.offset_s * G_GINT64_CONSTANT (1000000000);
        gint64 ub = b->u.time.ns - (gint64) b->u.time.offset_s * G_GINT64_CONSTANT (1000000000);
        int c = cmp_i64 (ua, ub);
        return c != 0 ? c : cmp_i64 (a->u.time.offset_s, b->u.time.offset_s);
      }
    case NC_VALUE_LOCAL_DATETIME:
      {
        int c = cmp_i64 (a->u.local_dt.seconds, b->u.local_dt.seconds);
        return c != 0 ? c : cmp_i64 (a->u.local_dt.nanos, b->u.local_dt.nanos);
      }
    case NC_VALUE_DATETIME:
      {
        int c = cmp_i64 (a->u.wide->u.datetime.seconds, b->u.wide->u.datetime.seconds);
        if (c == 0)
          c = cmp_i64 (a->u.wide->u.datetime.nanos, b->u.wide->u.datetime.nanos);
        return c;
      }
    case NC_VALUE_DURATION:
      {
        const NcWide *wa = a->u.wide, *wb = b->u.wide;
        int c = cmp_i64 (wa->u.duration.months, wb->u.duration.months);
        if (c == 0) c = cmp_i64 (wa->u.duration.days, wb->u.duration.days);
        if (c == 0) c = cmp_i64 (wa->u.duration.seconds, wb->u.duration.seconds);
        if (c == 0) c = cmp_i64 (wa->u.duration.nanos, wb->u.duration.nanos);
        return c;
      }
    case NC_VALUE_POINT:
      {
        const NcWide *wa = a->u.wide, *wb = b->u.wide;
        int c = cmp_i64 (wa->u.point.srid, wb->u.point.srid);
        if (c == 0) c = (wa->u.point.x > wb->u.point.x) - (wa->u.point.x < wb->u.point.x);
        if (c == 0) c = (wa->u.point.y > wb->u.point.y) - (wa->u.point.y < wb->u.point.y);
        if (c == 0) c = (wa->u.point.z > wb->u.point.z) - (wa->u.point.z < wb->u.point.z);
        return c;
      }
    default:
      return 0;
    }
}

gboolean
nc_value_equivalent (const NcValue *a, const NcValue *b)
{
  if (is_number (a) && is_number (b))
    {
      gboolean na = a->type == NC_VALUE_FLOAT && isnan (a->u.f);
      gboolean nb = b->type == NC_VALUE_FLOAT && isnan (b->u.f);
      if (na || nb)
        return na && nb;
      return cmp_numbers (a, b) == 0;
    }
  if (a->type != b->type)
    return FALSE;
  if (a->type == NC_VALUE_LIST)
    {
      if (a->u.list->len != b->u.list->len)
        return FALSE;
      for (guint32 i = 0; i < a->u.list->len; i++)
        if (!nc_value_equivalent (&a->u.list->items[i], &b->u.list->items[i]))
          return FALSE;
      return TRUE;
    }
  if (a->type == NC_VALUE_MAP)
    {
      if (a->u.map->len != b->u.map->len)
        return FALSE;
      for (guint32 i = 0; i < a->u.map->len; i++)
        {
          const NcValue *o = nc_map_get (b->u.map, a->u.map->entries[i].key->data);
          if (o == NULL || !nc_value_equivalent (&a->u.map->entries[i].value, o))
            return FALSE;
        }
      return TRUE;
    }
  return nc_value_order (a, b) == 0;
}

static guint
hash_i64 (gint64 i)
{
  guint64 x = (guint64) i;
  x ^= x >> 33;
  x *= G_GUINT64_CONSTANT (0xff51afd7ed558ccd);
  x ^= x >> 33;
  return (guint) x;
}

guint
nc_value_hash (const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NULL: return 0x9e3779b9u;
    case NC_VALUE_BOOL: return v->u.b ? 1231 : 1237;
    case NC_VALUE_INT: return hash_i64 (v->u.i);
    case NC_VALUE_FLOAT:
      {
        double f = v->u.f;
        if (isnan (f))
          return 0x7ff8u;
        if (f == floor (f) && f >= -9.2e18 && f <= 9.2e18)
          return hash_i64 ((gint64) f);
        guint64 bits;
        memcpy (&bits, &f, sizeof bits);
        return hash_i64 ((gint64) bits);
      }
    case NC_VALUE_STRING:
      {
        guint h = 5381;
        for (guint32 i = 0; i < v->u.s->len; i++)
          h = h * 33 + (guchar) v->u.s->data[i];
        return h;
      }
    case NC_VALUE_LIST:
      {
        guint h = 17;
        for (guint32 i = 0; i < v->u.list->len; i++)
          h = h * 31 + nc_value_hash (&v->u.list->items[i]);
        return h;
      }
    case NC_VALUE_MAP:
      {
        guint h = 23; /* order-independent */
        for (guint32 i = 0; i < v->u.map->len; i++)
          {
            NcValue k = nc_value_string_take (nc_string_ref (v->u.map->entries[i].key));
            h += nc_value_hash (&k) ^ (nc_value_hash (&v->u.map->entries[i].value) * 31);
            nc_value_clear (&k);
          }
        return h;
      }
    case NC_VALUE_NODE: return hash_i64 (v->u.entity->id) ^ 0x1;
    case NC_VALUE_REL: return hash_i64 (v->u.entity->id) ^ 0x2;
    case NC_VALUE_PATH:
      {
        guint h = 29;
        for (guint32 i = 0; i < v->u.path->n_nodes; i++)
          h = h * 31 + hash_i64 (v->u.path->nodes[i].u.entity->id);
        return h;
      }
    case NC_VALUE_DATE: return hash_i64 (v->u.date_days) ^ 0x10;
    case NC_VALUE_LOCAL_TIME: return hash_i64 (v->u.local_time_ns) ^ 0x11;
    case NC_VALUE_TIME: return hash_i64 (v->u.time.ns - (gint64) v->u.time.offset_s * 1000000000) ^ 0x12;
    case NC_VALUE_LOCAL_DATETIME: return hash_i64 (v->u.local_dt.seconds * 31 + v->u.local_dt.nanos);
    case NC_VALUE_DATETIME: return hash_i64 (v->u.wide->u.datetime.seconds * 31 + v->u.wide->u.datetime.nanos);
    case NC_VALUE_DURATION:
      return hash_i64 (v->u.wide->u.duration.months * 7 + v->u.wide->u.duration.days * 13 +
                       v->u.wide->u.duration.seconds * 17 + v->u.wide->u.duration.nanos);
    default: return 0;
    }
}

static void
debug_append (GString *out, const NcValue *v)
{
  switch (v->type)
    {
    case NC_VALUE_NULL: g_string_append (out, "null"); break;
    case NC_VALUE_BOOL: g_string_append (out, v->u.b ? "true" : "false"); break;
    case NC_VALUE_INT: g_string_append_printf (out, "%" G_GINT64_FORMAT, v->u.i); break;
    case NC_VALUE_FLOAT:
      {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_ascii_dtostr (buf, sizeof buf, v->u.f);
        g_string_append (out, buf);
        if (strpbrk (buf, ".eEn") == NULL)
          g_string_append (out, ".0");
        break;
      }
    case NC_VALUE_STRING:
      g_string_append_c (out, '\'');
      for (guint32 i = 0; i < v->u.s->len; i++)
        {
          char c = v->u.s->data[i];
          if (c == '\'' || c == '\\')
            g_string_append_c (out, '\\');
          g_string_append_c (out, c);
        }
      g_string_append_c (out, '\'');
      break;
    case NC_VALUE_LIST:
      g_string_append_c (out, '[');
      for (guint32 i = 0; i < v->u.list->len; i++)
        {
          if (i)
            g_string_append (out, ", ");
          debug_append (out, &v->u.list->items[i]);
        }
      g_string_append_c (out, ']');
      break;
    case NC_VALUE_MAP:
      g_string_append_c (out, '{');
      for (guint32 i = 0; i < v->u.map->len; i++)
        {
          if (i)
            g_string_append (out, ", ");
          g_string_append_printf (out, "%s: ", v->u.map->entries[i].key->data);
          debug_append (out, &v->u.map->entries[i].value);
        }
      g_string_append_c (out, '}');
      break;
    case NC_VALUE_NODE:
      g_string_append_printf (out, "(#%" G_GINT64_FORMAT ")", v->u.entity->id);
      break;
    case NC_VALUE_REL:
      g_string_append_printf (out, "[#%" G_GINT64_FORMAT "]", v->u.entity->id);
      break;
    default:
      g_string_append_printf (out, "<%s>", nc_value_type_name (v->type));
      break;
    }
}

char *
nc_value_to_debug_string (const NcValue *v)
{
  GString *out = g_string_new (NULL);
  debug_append (out, v);
  return g_string_free (out, FALSE);
}
