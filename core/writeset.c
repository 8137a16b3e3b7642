/* Write-sets and their binary codec (format: docs/writeset-format.md).
 *
 * The codec is written by hand because it is the WAL, replication and
 * snapshot format: it must be compact, stable and strictly validated, and no
 * library in the stack gives that for NcValue. */
#define G_LOG_DOMAIN "nornicdb-writeset"
#include "writeset.h"

#include <string.h>

G_DEFINE_QUARK (nc-writeset-error-quark, nc_writeset_error)

#define MAX_DEPTH 64
#define NO_STRING G_MAXUINT32

struct _NcWriteSet {
  GArray *effects; /* NcEffect, owned */
  guint64 hlc;
  char *origin;
};

static void
effect_clear (gpointer p)
{
  NcEffect *e = p;
  g_free (e->name);
  g_free (e->name2);
  g_free (e->name3);
  g_strfreev (e->labels);
  nc_value_clear (&e->value);
}

NcWriteSet *
nc_writeset_new (void)
{
  NcWriteSet *ws = g_new0 (NcWriteSet, 1);
  ws->effects = g_array_new (FALSE, TRUE, sizeof (NcEffect));
  g_array_set_clear_func (ws->effects, effect_clear);
  return ws;
}

void
nc_writeset_free (NcWriteSet *ws)
{
  if (ws == NULL)
    return;
  g_array_unref (ws->effects);
  g_free (ws->origin);
  g_free (ws);
}

guint
nc_writeset_len (const NcWriteSet *ws)
{
  return ws->effects->len;
}

const NcEffect *
nc_writeset_get (const NcWriteSet *ws, guint i)
{
  g_return_val_if_fail (i < ws->effects->len, NULL);
  return &g_array_index (ws->effects, NcEffect, i);
}

void
nc_writeset_append (NcWriteSet *ws, const NcEffect *effect)
{
  NcEffect copy = *effect;
  copy.name = g_strdup (effect->name);
  copy.name2 = g_strdup (effect->name2);
  copy.name3 = g_strdup (effect->name3);
  copy.labels = effect->labels ? g_strdupv (effect->labels) : NULL;
  copy.value = nc_value_copy (&effect->value);
  g_array_append_val (ws->effects, copy);
}

void
nc_writeset_truncate (NcWriteSet *ws, guint len)
{
  if (len < ws->effects->len)
    g_array_set_size (ws->effects, len);
}

void
nc_writeset_set_origin (NcWriteSet *ws, guint64 hlc, const char *origin)
{
  ws->hlc = hlc;
  g_free (ws->origin);
  ws->origin = g_strdup (origin);
}

guint64
nc_writeset_hlc (const NcWriteSet *ws)
{
  return ws->hlc;
}

const char *
nc_writeset_origin (const NcWriteSet *ws)
{
  return ws->origin;
}

/* ---- encoding -------------------------------------------------------------- */

static void
put_u8 (GByteArray *out, guint8 v)
{
  g_byte_array_append (out, &v, 1);
}

static void
put_u32 (GByteArray *out, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &le, 4);
}

static void
put_u64 (GByteArray *out, guint64 v)
{
  guint64 le = GUINT64_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &le, 8);
}

static void
put_i64 (GByteArray *out, gint64 v)
{
  put_u64 (out, (guint64) v);
}

static void
put_f64 (GByteArray *out, double f)
{
  guint64 bits;
  memcpy (&bits, &f, sizeof bits);
  put_u64 (out, bits);
}

static void
put_bytes (GByteArray *out, const void *data, guint32 len)
{
  put_u32 (out, len);
  if (len > 0)
    g_byte_array_append (out, data, len);
}

/* NULL strings are encoded with the length NO_STRING. */
static void
put_str (GByteArray *out, const char *s)
{
  if (s == NULL)
    put_u32 (out, NO_STRING);
  else
    put_bytes (out, s, (guint32) strlen (s));
}

static void
put_entity (GByteArray *out, const NcEntity *e)
{
  put_i64 (out, e->id);
  if (e->is_rel)
    {
      put_i64 (out, e->start_id);
      put_i64 (out, e->end_id);
    }
}

void
nc_value_encode (GByteArray *out, const NcValue *v)
{
  put_u8 (out, (guint8) v->type);
  switch (v->type)
    {
    case NC_VALUE_NULL:
    case NC_VALUE_N_TYPES:
      break;
    case NC_VALUE_BOOL: put_u8 (out, v->u.b ? 1 : 0); break;
    case NC_VALUE_INT: put_i64 (out, v->u.i); break;
    case NC_VALUE_FLOAT: put_f64 (out, v->u.f); break;
    case NC_VALUE_STRING: put_bytes (out, v->u.s->data, v->u.s->len); break;
    case NC_VALUE_BYTES: put_bytes (out, v->u.bytes->data, v->u.bytes->len); break;
    case NC_VALUE_LIST:
      put_u32 (out, v->u.list->len);
      for (guint32 i = 0; i < v->u.list->len; i++)
        nc_value_encode (out, &v->u.list->items[i]);
      break;
    case NC_VALUE_MAP:
      put_u32 (out, v->u.map->len);
      for (guint32 i = 0; i < v->u.map->len; i++)
        {
          put_bytes (out, v->u.map->entries[i].key->data, v->u.map->entries[i].key->len);
          nc_value_encode (out, &v->u.map->entries[i].value);
        }
      break;
    case NC_VALUE_NODE:
    case NC_VALUE_REL:
      put_entity (out, v->u.entity);
      break;
    case NC_VALUE_PATH:
      put_u32 (out, v->u.path->n_nodes);
      for (guint32 i = 0; i < v->u.path->n_nodes; i++)
        put_entity (out, v->u.path->nodes[i].u.entity);
      for (guint32 i = 0; i + 1 < v->u.path->n_nodes; i++)
        put_entity (out, v->u.path->rels[i].u.entity);
      break;
    case NC_VALUE_DATE: put_i64 (out, v->u.date_days); break;
    case NC_VALUE_LOCAL_TIME: put_i64 (out, v->u.local_time_ns); break;
    case NC_VALUE_TIME:
      put_i64 (out, v->u.time.ns);
      put_u32 (out, (guint32) v->u.time.offset_s);
      break;
    case NC_VALUE_LOCAL_DATETIME:
      put_i64 (out, v->u.local_dt.seconds);
      put_u32 (out, (guint32) v->u.local_dt.nanos);
      break;
    case NC_VALUE_DATETIME:
      put_i64 (out, v->u.wide->u.datetime.seconds);
      put_u32 (out, (guint32) v->u.wide->u.datetime.nanos);
      put_u32 (out, (guint32) v->u.wide->u.datetime.offset_s);
      if (v->u.wide->u.datetime.zone_id != NULL)
        put_bytes (out, v->u.wide->u.datetime.zone_id->data, v->u.wide->u.datetime.zone_id->len);
      else
        put_u32 (out, NO_STRING);
      break;
    case NC_VALUE_DURATION:
      put_i64 (out, v->u.wide->u.duration.months);
      put_i64 (out, v->u.wide->u.duration.days);
      put_i64 (out, v->u.wide->u.duration.seconds);
      put_u32 (out, (guint32) v->u.wide->u.duration.nanos);
      break;
    case NC_VALUE_POINT:
      put_u32 (out, (guint32) v->u.wide->u.point.srid);
      put_u8 (out, (guint8) v->u.wide->u.point.dims);
      put_f64 (out, v->u.wide->u.point.x);
      put_f64 (out, v->u.wide->u.point.y);
      if (v->u.wide->u.point.dims == 3)
        put_f64 (out, v->u.wide->u.point.z);
      break;
    }
}

static void
encode_effect (GByteArray *out, const NcEffect *e)
{
  put_u8 (out, (guint8) e->kind);
  switch (e->kind)
    {
    case NC_EFFECT_CREATE_NODE:
      {
        guint n = e->labels ? g_strv_length (e->labels) : 0;
        put_i64 (out, e->id);
        put_u32 (out, n);
        for (guint i = 0; i < n; i++)
          put_str (out, e->labels[i]);
        nc_value_encode (out, &e->value);
        break;
      }
    case NC_EFFECT_DELETE_NODE:
    case NC_EFFECT_DELETE_REL:
      put_i64 (out, e->id);
      break;
    case NC_EFFECT_SET_NODE_PROP:
    case NC_EFFECT_SET_REL_PROP:
      put_i64 (out, e->id);
      put_str (out, e->name);
      nc_value_encode (out, &e->value);
      break;
    case NC_EFFECT_ADD_LABEL:
    case NC_EFFECT_REMOVE_LABEL:
      put_i64 (out, e->id);
      put_str (out, e->name);
      break;
    case NC_EFFECT_CREATE_REL:
      put_i64 (out, e->id);
      put_str (out, e->name);
      put_i64 (out, e->start);
      put_i64 (out, e->end);
      nc_value_encode (out, &e->value);
      break;
    case NC_EFFECT_CREATE_SCHEMA:
      put_i64 (out, e->id);
      put_str (out, e->name);
      put_str (out, e->name2);
      put_str (out, e->name3);
      break;
    case NC_EFFECT_DROP_SCHEMA:
      put_str (out, e->name);
      break;
    case NC_EFFECT_NEXT_IDS:
      put_i64 (out, e->id);
      put_i64 (out, e->start);
      break;
    case NC_EFFECT_META:
      put_str (out, e->name);
      nc_value_encode (out, &e->value);
      break;
    }
}

GBytes *
nc_writeset_encode (const NcWriteSet *ws)
{
  GByteArray *out = g_byte_array_sized_new (16 + ws->effects->len * 32);
  put_u8 (out, NC_WRITESET_VERSION);
  put_u64 (out, ws->hlc);
  put_str (out, ws->origin);
  put_u32 (out, ws->effects->len);
  for (guint i = 0; i < ws->effects->len; i++)
    encode_effect (out, &g_array_index (ws->effects, NcEffect, i));
  return g_byte_array_free_to_bytes (out);
}

/* ---- decoding -------------------------------------------------------------- */

typedef struct {
  const guint8 *data;
  gsize len;
  gsize pos;
  GError **error;
} Reader;

static gboolean
corrupt (Reader *r, const char *what)
{
  if (r->error != NULL && *r->error == NULL)
    g_set_error (r->error, NC_WRITESET_ERROR, NC_WRITESET_ERROR_CORRUPT,
                 "corrupt write-set: %s at offset %" G_GSIZE_FORMAT, what, r->pos);
  return FALSE;
}

static gboolean
need (Reader *r, gsize n)
{
  if (r->pos > r->len || r->len - r->pos < n)
    return corrupt (r, "truncated input");
  return TRUE;
}

static gboolean
get_u8 (Reader *r, guint8 *v)
{
  if (!need (r, 1))
    return FALSE;
  *v = r->data[r->pos++];
  return TRUE;
}

static gboolean
get_u32 (Reader *r, guint32 *v)
{
  guint32 le;
  if (!need (r, 4))
    return FALSE;
  memcpy (&le, r->data + r->pos, 4);
  r->pos += 4;
  *v = GUINT32_FROM_LE (le);
  return TRUE;
}

static gboolean
get_i32 (Reader *r, gint32 *v)
{
  guint32 u;
  if (!get_u32 (r, &u))
    return FALSE;
  *v = (gint32) u;
  return TRUE;
}

static gboolean
get_u64 (Reader *r, guint64 *v)
{
  guint64 le;
  if (!need (r, 8))
    return FALSE;
  memcpy (&le, r->data + r->pos, 8);
  r->pos += 8;
  *v = GUINT64_FROM_LE (le);
  return TRUE;
}

static gboolean
get_i64 (Reader *r, gint64 *v)
{
  guint64 u;
  if (!get_u64 (r, &u))
    return FALSE;
  *v = (gint64) u;
  return TRUE;
}

static gboolean
get_f64 (Reader *r, double *f)
{
  guint64 bits;
  if (!get_u64 (r, &bits))
    return FALSE;
  memcpy (f, &bits, sizeof bits);
  return TRUE;
}

/* UTF-8 that may contain NUL characters (Cypher strings may). */
static gboolean
utf8_valid_with_nul (const char *s, gsize len)
{
  while (len > 0)
    {
      const char *nul = memchr (s, '\0', len);
      gsize seg = nul ? (gsize) (nul - s) : len;
      if (seg > 0 && !g_utf8_validate_len (s, seg, NULL))
        return FALSE;
      if (nul == NULL)
        break;
      s += seg + 1;
      len -= seg + 1;
    }
  return TRUE;
}

/* A length-prefixed UTF-8 run; *out points into the input (not
 * NUL-terminated). Names (`name_rules`) may not contain NUL: they become C
 * strings. */
static gboolean
get_utf8 (Reader *r, const char **out, guint32 *len, gboolean allow_null, gboolean name_rules)
{
  if (!get_u32 (r, len))
    return FALSE;
  if (*len == NO_STRING)
    {
      if (!allow_null)
        return corrupt (r, "missing string");
      *out = NULL;
      return TRUE;
    }
  if (!need (r, *len))
    return FALSE;
  *out = (const char *) r->data + r->pos;
  if (name_rules ? (memchr (*out, '\0', *len) != NULL || !g_utf8_validate_len (*out, *len, NULL))
                 : !utf8_valid_with_nul (*out, *len))
    return corrupt (r, "invalid UTF-8 string");
  r->pos += *len;
  return TRUE;
}

static gboolean
get_str (Reader *r, char **out, gboolean allow_null)
{
  const char *s;
  guint32 len;
  if (!get_utf8 (r, &s, &len, allow_null, TRUE))
    return FALSE;
  *out = s ? g_strndup (s, len) : NULL;
  return TRUE;
}

/* Each element needs at least `min_size` bytes: a count larger than the
 * remaining input can hold is rejected before anything is allocated. */
static gboolean
check_count (Reader *r, guint32 count, gsize min_size)
{
  if ((guint64) count * min_size > r->len - r->pos)
    return corrupt (r, "count exceeds input");
  return TRUE;
}

static gboolean
get_entity (Reader *r, gboolean is_rel, NcValue *out)
{
  gint64 id, start = -1, end = -1;
  if (!get_i64 (r, &id))
    return FALSE;
  if (is_rel && (!get_i64 (r, &start) || !get_i64 (r, &end)))
    return FALSE;
  *out = is_rel ? nc_value_rel_ref (id, start, end) : nc_value_node_ref (id);
  return TRUE;
}

static gboolean decode_value (Reader *r, NcValue *out, guint depth);

static gboolean
decode_map (Reader *r, NcValue *out, guint depth)
{
  guint32 n;
  if (!get_u32 (r, &n) || !check_count (r, n, 5))
    return FALSE;
  g_autoptr (NcMap) m = nc_map_new (n);
  g_autoptr (GHashTable) seen = n > 8 ? g_hash_table_new (g_str_hash, g_str_equal) : NULL;
  for (guint32 i = 0; i < n; i++)
    {
      const char *k;
      guint32 klen;
      NcValue v;
      if (!get_utf8 (r, &k, &klen, FALSE, FALSE))
        return FALSE;
      NcString *key = nc_string_new (k, klen);
      gboolean dup = seen ? g_hash_table_contains (seen, key->data) : nc_map_get (m, key->data) != NULL;
      if (dup)
        {
          nc_string_unref (key);
          return corrupt (r, "duplicate map key");
        }
      if (!decode_value (r, &v, depth + 1))
        {
          nc_string_unref (key);
          return FALSE;
        }
      m->entries[m->len].key = key;
      m->entries[m->len].value = v;
      m->len++;
      if (seen)
        g_hash_table_add (seen, key->data);
    }
  *out = nc_value_map_take (g_steal_pointer (&m));
  return TRUE;
}

static gboolean
decode_value (Reader *r, NcValue *out, guint depth)
{
  guint8 tag;
  *out = nc_value_null ();
  if (depth > MAX_DEPTH)
    return corrupt (r, "value nested too deeply");
  if (!get_u8 (r, &tag))
    return FALSE;
  switch ((NcValueType) tag)
    {
    case NC_VALUE_NULL:
      return TRUE;
    case NC_VALUE_BOOL:
      {
        guint8 b;
        if (!get_u8 (r, &b))
          return FALSE;
        if (b > 1)
          return corrupt (r, "invalid boolean");
        *out = nc_value_bool (b);
        return TRUE;
      }
    case NC_VALUE_INT:
      {
        gint64 i;
        if (!get_i64 (r, &i))
          return FALSE;
        *out = nc_value_int (i);
        return TRUE;
      }
    case NC_VALUE_FLOAT:
      {
        double f;
        if (!get_f64 (r, &f))
          return FALSE;
        *out = nc_value_float (f);
        return TRUE;
      }
    case NC_VALUE_STRING:
      {
        const char *s;
        guint32 len;
        if (!get_utf8 (r, &s, &len, FALSE, FALSE))
          return FALSE;
        *out = nc_value_string_len (s, len);
        return TRUE;
      }
    case NC_VALUE_BYTES:
      {
        guint32 len;
        if (!get_u32 (r, &len) || !need (r, len))
          return FALSE;
        *out = nc_value_bytes (r->data + r->pos, len);
        r->pos += len;
        return TRUE;
      }
    case NC_VALUE_LIST:
      {
        guint32 n;
        if (!get_u32 (r, &n) || !check_count (r, n, 1))
          return FALSE;
        g_autoptr (NcList) l = nc_list_new (n);
        for (guint32 i = 0; i < n; i++)
          if (!decode_value (r, &l->items[i], depth + 1))
            return FALSE;
        *out = nc_value_list_take (g_steal_pointer (&l));
        return TRUE;
      }
    case NC_VALUE_MAP:
      return decode_map (r, out, depth);
    case NC_VALUE_NODE:
      return get_entity (r, FALSE, out);
    case NC_VALUE_REL:
      return get_entity (r, TRUE, out);
    case NC_VALUE_PATH:
      {
        guint32 n;
        if (!get_u32 (r, &n) || !check_count (r, n, 8))
          return FALSE;
        if (n == 0)
          return corrupt (r, "empty path");
        g_autoptr (NcPath) p = nc_path_new (n);
        for (guint32 i = 0; i < n; i++)
          if (!get_entity (r, FALSE, &p->nodes[i]))
            return FALSE;
        for (guint32 i = 0; i + 1 < n; i++)
          if (!get_entity (r, TRUE, &p->rels[i]))
            return FALSE;
        *out = nc_value_path_take (g_steal_pointer (&p));
        return TRUE;
      }
    case NC_VALUE_DATE:
      {
        gint64 d;
        if (!get_i64 (r, &d))
          return FALSE;
        *out = nc_value_date (d);
        return TRUE;
      }
    case NC_VALUE_LOCAL_TIME:
      {
        gint64 ns;
        if (!get_i64 (r, &ns))
          return FALSE;
        *out = nc_value_local_time (ns);
        return TRUE;
      }
    case NC_VALUE_TIME:
      {
        gint64 ns;
        gint32 off;
        if (!get_i64 (r, &ns) || !get_i32 (r, &off))
          return FALSE;
        *out = nc_value_time (ns, off);
        return TRUE;
      }
    case NC_VALUE_LOCAL_DATETIME:
      {
        gint64 s;
        gint32 nanos;
        if (!get_i64 (r, &s) || !get_i32 (r, &nanos))
          return FALSE;
        *out = nc_value_local_datetime (s, nanos);
        return TRUE;
      }
    case NC_VALUE_DATETIME:
      {
        gint64 s;
        gint32 nanos, off;
        char *zone = NULL;
        if (!get_i64 (r, &s) || !get_i32 (r, &nanos) || !get_i32 (r, &off) ||
            !get_str (r, &zone, TRUE))
          return FALSE;
        *out = nc_value_datetime (s, nanos, off, zone);
        g_free (zone);
        return TRUE;
      }
    case NC_VALUE_DURATION:
      {
        gint64 months, days, secs;
        gint32 nanos;
        if (!get_i64 (r, &months) || !get_i64 (r, &days) || !get_i64 (r, &secs) ||
            !get_i32 (r, &nanos))
          return FALSE;
        *out = nc_value_duration (months, days, secs, nanos);
        return TRUE;
      }
    case NC_VALUE_POINT:
      {
        gint32 srid;
        guint8 dims;
        double x, y, z = 0;
        if (!get_i32 (r, &srid) || !get_u8 (r, &dims))
          return FALSE;
        if (dims != 2 && dims != 3)
          return corrupt (r, "invalid point dimension");
        if (!get_f64 (r, &x) || !get_f64 (r, &y) || (dims == 3 && !get_f64 (r, &z)))
          return FALSE;
        *out = dims == 3 ? nc_value_point3d (srid, x, y, z) : nc_value_point2d (srid, x, y);
        return TRUE;
      }
    case NC_VALUE_N_TYPES:
    default:
      return corrupt (r, "unknown value tag");
    }
}

gboolean
nc_value_decode (const guint8 *data, gsize len, gsize *pos, NcValue *out, GError **error)
{
  Reader r = { data, len, *pos, error };
  NcValue v;
  if (!decode_value (&r, &v, 0))
    {
      nc_value_clear (&v);
      *out = nc_value_null ();
      return FALSE;
    }
  *pos = r.pos;
  *out = v;
  return TRUE;
}

/* Props of CREATE_NODE/REL are a map or null; anything else is corrupt. */
static gboolean
get_props (Reader *r, NcValue *out)
{
  if (!decode_value (r, out, 0))
    return FALSE;
  if (out->type != NC_VALUE_NULL && out->type != NC_VALUE_MAP)
    return corrupt (r, "properties are not a map");
  return TRUE;
}

static gboolean
decode_effect (Reader *r, NcEffect *e)
{
  guint8 kind;
  if (!get_u8 (r, &kind))
    return FALSE;
  e->kind = kind;
  switch ((NcEffectKind) kind)
    {
    case NC_EFFECT_CREATE_NODE:
      {
        guint32 n;
        if (!get_i64 (r, &e->id) || !get_u32 (r, &n) || !check_count (r, n, 4))
          return FALSE;
        if (n > 0)
          {
            e->labels = g_new0 (char *, n + 1);
            for (guint32 i = 0; i < n; i++)
              if (!get_str (r, &e->labels[i], FALSE))
                return FALSE;
          }
        return get_props (r, &e->value);
      }
    case NC_EFFECT_DELETE_NODE:
    case NC_EFFECT_DELETE_REL:
      return get_i64 (r, &e->id);
    case NC_EFFECT_SET_NODE_PROP:
    case NC_EFFECT_SET_REL_PROP:
      return get_i64 (r, &e->id) && get_str (r, &e->name, FALSE) &&
             decode_value (r, &e->value, 0);
    case NC_EFFECT_ADD_LABEL:
    case NC_EFFECT_REMOVE_LABEL:
      return get_i64 (r, &e->id) && get_str (r, &e->name, FALSE);
    case NC_EFFECT_CREATE_REL:
      return get_i64 (r, &e->id) && get_str (r, &e->name, FALSE) &&
             get_i64 (r, &e->start) && get_i64 (r, &e->end) && get_props (r, &e->value);
    case NC_EFFECT_CREATE_SCHEMA:
      return get_i64 (r, &e->id) && get_str (r, &e->name, FALSE) &&
             get_str (r, &e->name2, FALSE) && get_str (r, &e->name3, FALSE);
    case NC_EFFECT_DROP_SCHEMA:
      return get_str (r, &e->name, FALSE);
    case NC_EFFECT_NEXT_IDS:
      return get_i64 (r, &e->id) && get_i64 (r, &e->start);
    case NC_EFFECT_META:
      return get_str (r, &e->name, FALSE) && decode_value (r, &e->value, 0);
    default:
      return corrupt (r, "unknown effect kind");
    }
}

NcWriteSet *
nc_writeset_decode (const guint8 *data, gsize len, GError **error)
{
  Reader r = { data, len, 0, error };
  guint8 version;
  guint32 n;
  g_autoptr (NcWriteSet) ws = nc_writeset_new ();

  if (!get_u8 (&r, &version))
    return NULL;
  if (version != NC_WRITESET_VERSION)
    {
      r.pos = 0;
      corrupt (&r, "unsupported version");
      return NULL;
    }
  if (!get_u64 (&r, &ws->hlc) || !get_str (&r, &ws->origin, TRUE) ||
      !get_u32 (&r, &n) || !check_count (&r, n, 5))
    return NULL;
  g_array_set_size (ws->effects, 0);
  for (guint32 i = 0; i < n; i++)
    {
      NcEffect e = { 0 };
      gboolean ok = decode_effect (&r, &e);
      /* kept even when partial so that the array's clear func frees it */
      g_array_append_val (ws->effects, e);
      if (!ok)
        return NULL;
    }
  if (r.pos != r.len)
    {
      corrupt (&r, "trailing bytes");
      return NULL;
    }
  return g_steal_pointer (&ws);
}
