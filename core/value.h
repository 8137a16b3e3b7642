/* NcValue: the one value type shared by the store, the Cypher engine, the
 * write-set codec and the protocols.
 *
 * An NcValue is a small tagged union passed by value. Scalars live inline;
 * strings, lists, maps, paths and the wider temporal/spatial values live in
 * immutable, atomically reference-counted heap blocks, so a value can be
 * shared between threads and copied by taking a reference.
 *
 * Ownership: a function returning NcValue returns (transfer full); the
 * caller releases it with nc_value_clear(). Functions taking `const NcValue *`
 * borrow (transfer none).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  NC_VALUE_NULL = 0,
  NC_VALUE_BOOL,
  NC_VALUE_INT,
  NC_VALUE_FLOAT,
  NC_VALUE_STRING,
  NC_VALUE_BYTES,
  NC_VALUE_LIST,
  NC_VALUE_MAP,
  NC_VALUE_NODE,
  NC_VALUE_REL,
  NC_VALUE_PATH,
  NC_VALUE_DATE,           /* days since 1970-01-01 */
  NC_VALUE_LOCAL_TIME,     /* nanoseconds since midnight */
  NC_VALUE_TIME,           /* nanoseconds since midnight + UTC offset */
  NC_VALUE_LOCAL_DATETIME, /* seconds since epoch (as if UTC) + nanos */
  NC_VALUE_DATETIME,       /* UTC seconds + nanos + offset (+ zone id) */
  NC_VALUE_DURATION,       /* months, days, seconds, nanos */
  NC_VALUE_POINT,          /* srid, x, y, z */
  NC_VALUE_N_TYPES
} NcValueType;

typedef struct _NcString NcString;
typedef struct _NcBytes NcBytes;
typedef struct _NcList NcList;
typedef struct _NcMap NcMap;
typedef struct _NcEntity NcEntity;
typedef struct _NcPath NcPath;
typedef struct _NcWide NcWide;

typedef struct {
  NcValueType type;
  union {
    gboolean b;
    gint64 i;
    double f;
    NcString *s;
    NcBytes *bytes;
    NcList *list;
    NcMap *map;
    NcEntity *entity; /* NODE and REL */
    NcPath *path;
    gint64 date_days;
    gint64 local_time_ns;
    struct {
      gint64 ns;           /* nanos since midnight, local */
      gint32 offset_s;     /* UTC offset in seconds */
    } time;
    struct {
      gint64 seconds;      /* seconds since epoch, local wall clock */
      gint32 nanos;
    } local_dt;
    NcWide *wide;          /* DATETIME, DURATION, POINT */
  } u;
} NcValue;

struct _NcString {
  gint ref;
  guint32 len;     /* bytes, excluding the trailing NUL */
  char data[];     /* UTF-8, NUL-terminated */
};

struct _NcBytes {
  gint ref;
  guint32 len;
  guint8 data[];
};

struct _NcList {
  gint ref;
  guint32 len;
  NcValue items[];
};

typedef struct {
  NcString *key;
  NcValue value;
} NcMapEntry;

/* Maps keep insertion order; keys are unique. */
struct _NcMap {
  gint ref;
  guint32 len;
  NcMapEntry entries[];
};

/* A node or relationship as a value. `id` is always set. The payload
 * (labels/type, properties, endpoints) is filled when the value is
 * materialised for a client; inside the engine an entity may carry only its
 * id (`materialised == FALSE`) and properties are read from the transaction. */
struct _NcEntity {
  gint ref;
  gboolean is_rel;
  gboolean materialised;
  gint64 id;
  /* node */
  guint32 n_labels;
  NcString **labels;
  /* relationship */
  NcString *rel_type;
  gint64 start_id;
  gint64 end_id;
  /* both */
  NcMap *props;
};

/* A path: nodes[0] rels[0] nodes[1] ... ; every entity is a full NcValue
 * (NODE or REL). rels[i] connects nodes[i] and nodes[i+1] in either
 * direction. */
struct _NcPath {
  gint ref;
  guint32 n_nodes;
  NcValue *nodes;  /* n_nodes */
  NcValue *rels;   /* n_nodes - 1 */
};

struct _NcWide {
  gint ref;
  union {
    struct {
      gint64 seconds;   /* UTC seconds since epoch */
      gint32 nanos;
      gint32 offset_s;  /* offset used for display; resolved from zone_id if set */
      NcString *zone_id; /* NULL when the value has only an offset */
    } datetime;
    struct {
      gint64 months;
      gint64 days;
      gint64 seconds;
      gint32 nanos;
    } duration;
    struct {
      gint32 srid;
      guint32 dims; /* 2 or 3 */
      double x, y, z;
    } point;
  } u;
};

/* ---- construction ------------------------------------------------------ */

static inline NcValue nc_value_null (void) { NcValue v = { .type = NC_VALUE_NULL }; return v; }
static inline NcValue nc_value_bool (gboolean b) { NcValue v = { .type = NC_VALUE_BOOL, .u.b = b ? TRUE : FALSE }; return v; }
static inline NcValue nc_value_int (gint64 i) { NcValue v = { .type = NC_VALUE_INT, .u.i = i }; return v; }
static inline NcValue nc_value_float (double f) { NcValue v = { .type = NC_VALUE_FLOAT, .u.f = f }; return v; }
static inline gboolean nc_value_is_null (const NcValue *v) { return v->type == NC_VALUE_NULL; }

NcValue nc_value_string (const char *utf8);                 /* copies */
NcValue nc_value_string_len (const char *utf8, gsize len);  /* copies */
NcValue nc_value_string_take (NcString *s);                 /* takes the ref */
NcValue nc_value_bytes (const guint8 *data, gsize len);
NcValue nc_value_list_take (NcList *l);
NcValue nc_value_map_take (NcMap *m);
NcValue nc_value_date (gint64 days);
NcValue nc_value_local_time (gint64 ns);
NcValue nc_value_time (gint64 ns, gint32 offset_s);
NcValue nc_value_local_datetime (gint64 seconds, gint32 nanos);
NcValue nc_value_datetime (gint64 utc_seconds, gint32 nanos, gint32 offset_s, const char *zone_id);
NcValue nc_value_duration (gint64 months, gint64 days, gint64 seconds, gint32 nanos);
NcValue nc_value_point2d (gint32 srid, double x, double y);
NcValue nc_value_point3d (gint32 srid, double x, double y, double z);
/* An entity value carrying only its id (not materialised). */
NcValue nc_value_node_ref (gint64 id);
NcValue nc_value_rel_ref (gint64 id, gint64 start_id, gint64 end_id);
NcValue nc_value_entity_take (NcEntity *e);
NcValue nc_value_path_take (NcPath *p);

NcString *nc_string_new (const char *utf8, gsize len);
NcString *nc_string_ref (NcString *s);
void nc_string_unref (NcString *s);

/* Lists: allocate with nc_list_new(), fill items[0..len) (each item owned by
 * the list), then treat as immutable once shared. */
NcList *nc_list_new (guint32 len);
NcList *nc_list_ref (NcList *l);
void nc_list_unref (NcList *l);

/* Maps: allocate with capacity, then nc_map_append() keys in order; the
 * builder does not check for duplicate keys (use nc_map_set for that). */
NcMap *nc_map_new (guint32 capacity);
NcMap *nc_map_ref (NcMap *m);
void nc_map_unref (NcMap *m);
/* Appends (takes ownership of `value`, copies `key`). The map must have been
 * created with enough capacity. */
void nc_map_append (NcMap *m, const char *key, NcValue value);
/* Borrowed lookup, NULL when absent. */
const NcValue *nc_map_get (const NcMap *m, const char *key);
/* Returns a new map equal to `m` with `key` set to `value` (NULL value type
 * removes the key). `m` may be NULL. Takes ownership of `value`. */
NcMap *nc_map_with (const NcMap *m, const char *key, NcValue value);

NcEntity *nc_entity_new (gboolean is_rel, gint64 id);
NcEntity *nc_entity_ref (NcEntity *e);
void nc_entity_unref (NcEntity *e);

NcPath *nc_path_new (guint32 n_nodes);
NcPath *nc_path_ref (NcPath *p);
void nc_path_unref (NcPath *p);

/* ---- ownership ----------------------------------------------------------- */

NcValue nc_value_copy (const NcValue *v);   /* takes references */
void nc_value_clear (NcValue *v);           /* releases and sets to NULL */

/* ---- accessors ---------------------------------------------------------- */

static inline const char *nc_value_str (const NcValue *v) { return v->u.s->data; }
const char *nc_value_type_name (NcValueType t); /* Cypher type names: "INTEGER", ... */

/* ---- Cypher semantics -------------------------------------------------- */

/* Three-valued results for comparisons: */
typedef enum { NC_TRI_FALSE = 0, NC_TRI_TRUE = 1, NC_TRI_NULL = 2 } NcTri;

/* Cypher `=`: NULL when either side is or contains null where it matters;
 * 1 = 1.0 is true; lists and maps compare element-wise. */
NcTri nc_value_equals (const NcValue *a, const NcValue *b);
/* Cypher `<`-style comparison: sets *cmp (-1/0/1) and returns TRUE when the
 * two values are comparable (same type family); FALSE gives null. */
gboolean nc_value_compare (const NcValue *a, const NcValue *b, int *cmp);
/* Total order for ORDER BY (the openCypher "orderability" rules): every
 * pair of values is ordered; null sorts last ascending. */
int nc_value_order (const NcValue *a, const NcValue *b);
/* Equivalence for DISTINCT and grouping: null is equivalent to null,
 * 1 and 1.0 are equivalent, NaN to NaN. nc_value_hash agrees with it. */
gboolean nc_value_equivalent (const NcValue *a, const NcValue *b);
guint nc_value_hash (const NcValue *v);

/* Human-readable rendering in Cypher literal style (used by toString on
 * collections, error messages and debugging). Returns newly allocated. */
char *nc_value_to_debug_string (const NcValue *v);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NcValue, nc_value_clear)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcString, nc_string_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcList, nc_list_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcMap, nc_map_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcEntity, nc_entity_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcPath, nc_path_unref)

G_END_DECLS
