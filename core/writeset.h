/* Write-sets: the ordered effects of one write transaction, with every id and
 * every non-deterministic value already decided. They are what the WAL
 * stores, what replicas apply, and what a snapshot is made of.
 *
 * Names (labels, types, keys) are carried as strings, not tokens, because
 * token numbers are local to a process.
 *
 * Binary encoding (version 1), all integers little-endian:
 *   u8  version (= 1)
 *   u64 hlc, then the origin as a length-prefixed string (see set_origin)
 *   u32 effect count
 *   effects, each: u8 kind, then the kind's fields (see writeset.c)
 *   values: u8 NcValueType tag, then the payload (see nc_value_encode)
 * docs/writeset-format.md describes it in full. A decoder rejects any
 * truncated, over-long or unknown input with NC_WRITESET_ERROR.
 */
#pragma once

#include <glib.h>
#include "value.h"

G_BEGIN_DECLS

#define NC_WRITESET_VERSION 1

typedef enum {
  NC_EFFECT_CREATE_NODE = 1,   /* id, labels[], props */
  NC_EFFECT_DELETE_NODE = 2,   /* id */
  NC_EFFECT_SET_NODE_PROP = 3, /* id, key, value (null = remove) */
  NC_EFFECT_ADD_LABEL = 4,     /* id, label */
  NC_EFFECT_REMOVE_LABEL = 5,  /* id, label */
  NC_EFFECT_CREATE_REL = 6,    /* id, type, start, end, props */
  NC_EFFECT_DELETE_REL = 7,    /* id */
  NC_EFFECT_SET_REL_PROP = 8,  /* id, key, value (null = remove) */
  NC_EFFECT_CREATE_SCHEMA = 9, /* schema kind (in `id`), name, label, key */
  NC_EFFECT_DROP_SCHEMA = 10,  /* name */
  NC_EFFECT_NEXT_IDS = 11,     /* id = next node id, start = next rel id (snapshots) */
  NC_EFFECT_META = 12,         /* key, value: opaque metadata for modules (e.g. users, epochs) */
} NcEffectKind;

typedef struct {
  NcEffectKind kind;
  gint64 id;
  gint64 start;        /* CREATE_REL */
  gint64 end;          /* CREATE_REL */
  char *name;          /* type (CREATE_REL), key (SET_*_PROP, META), label (ADD/REMOVE_LABEL), schema name */
  char *name2;         /* schema: label */
  char *name3;         /* schema: property key */
  GStrv labels;        /* CREATE_NODE, NULL-terminated, may be NULL */
  NcValue value;       /* SET_*_PROP, META; props map for CREATE_NODE/REL (NULL value = none) */
} NcEffect;

typedef struct _NcWriteSet NcWriteSet;

#define NC_WRITESET_ERROR (nc_writeset_error_quark ())
GQuark nc_writeset_error_quark (void);
typedef enum { NC_WRITESET_ERROR_CORRUPT } NcWriteSetError;

NcWriteSet *nc_writeset_new (void);
void nc_writeset_free (NcWriteSet *ws);
guint nc_writeset_len (const NcWriteSet *ws);
/* (transfer none) */
const NcEffect *nc_writeset_get (const NcWriteSet *ws, guint i);
/* Appends a copy of `effect` (strings and value are copied). */
void nc_writeset_append (NcWriteSet *ws, const NcEffect *effect);
/* Removes effects from index `len` on (used by statement rollback inside a
 * transaction). */
void nc_writeset_truncate (NcWriteSet *ws, guint len);
/* Free-form hybrid-logical-clock timestamp and origin stamped on commit, used
 * by multi-region conflict resolution; 0/NULL when unused. */
void nc_writeset_set_origin (NcWriteSet *ws, guint64 hlc, const char *origin);
guint64 nc_writeset_hlc (const NcWriteSet *ws);
const char *nc_writeset_origin (const NcWriteSet *ws);

/* (transfer full) */
GBytes *nc_writeset_encode (const NcWriteSet *ws);
NcWriteSet *nc_writeset_decode (const guint8 *data, gsize len, GError **error);

/* Value codec shared with the write-set and snapshot formats. */
void nc_value_encode (GByteArray *out, const NcValue *v);
/* Decodes one value at *pos, advancing it. Depth-limited. */
gboolean nc_value_decode (const guint8 *data, gsize len, gsize *pos, NcValue *out, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcWriteSet, nc_writeset_free)

G_END_DECLS
