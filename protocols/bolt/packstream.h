/* PackStream v1: the value encoding inside Bolt messages.
 *
 * Written by hand: no maintained C library implements PackStream with the
 * bounds checking a server facing untrusted clients needs. The decoder never
 * reads past the buffer it is given, limits nesting depth, and checks every
 * declared size against the bytes that remain before allocating.
 *
 * Errors (NC_ERROR domain):
 *  - NC_ERROR_PROTOCOL: malformed bytes (truncated, unknown marker, bad
 *    structure, nesting too deep). The connection cannot continue.
 *  - NC_ERROR_ARGUMENT: well-formed but unacceptable values (a Node sent as a
 *    parameter, an unknown time zone, nanoseconds out of range). The message
 *    can be answered with FAILURE and the connection continues.
 */
#pragma once

#include <glib.h>
#include "value.h"

G_BEGIN_DECLS

#define NC_PS_MAX_DEPTH 64

/* Structure shapes differ between Bolt versions. */
typedef struct {
  gboolean element_ids;   /* Bolt 5+: Node/Relationship carry element ids */
  gboolean utc_datetime;  /* Bolt 5+ or 4.4 with the "utc" patch: DateTime 0x49/0x69 */
} NcPsFlavor;

/* ---- writer: appends to a GByteArray ---------------------------------- */

void nc_ps_write_null (GByteArray *out);
void nc_ps_write_bool (GByteArray *out, gboolean b);
void nc_ps_write_int (GByteArray *out, gint64 i);
void nc_ps_write_float (GByteArray *out, double f);
void nc_ps_write_string_len (GByteArray *out, const char *s, gsize len);
void nc_ps_write_string (GByteArray *out, const char *s);
void nc_ps_write_bytes (GByteArray *out, const guint8 *data, gsize len);
void nc_ps_write_list_header (GByteArray *out, guint32 n);
void nc_ps_write_map_header (GByteArray *out, guint32 n);
void nc_ps_write_struct_header (GByteArray *out, guint8 n_fields, guint8 tag);
/* Any NcValue; entities must be materialised (an unmaterialised one is
 * written with no labels/properties). */
void nc_ps_write_value (GByteArray *out, const NcValue *v, const NcPsFlavor *flavor);

/* ---- reader --------------------------------------------------------------- */

typedef struct {
  const guint8 *data;
  gsize len;
  gsize pos;
} NcPsReader;

static inline void
nc_ps_reader_init (NcPsReader *r, const guint8 *data, gsize len)
{
  r->data = data;
  r->len = len;
  r->pos = 0;
}

static inline gsize
nc_ps_reader_remaining (const NcPsReader *r)
{
  return r->len - r->pos;
}

/* Reads one value into `out` (transfer full). */
gboolean nc_ps_read_value (NcPsReader *r, const NcPsFlavor *flavor, NcValue *out, GError **error);
/* Reads a structure header: number of fields and tag. */
gboolean nc_ps_read_struct_header (NcPsReader *r, guint *n_fields, guint8 *tag, GError **error);

/* Element ids as the Cypher elementId() function renders them. (transfer full) */
char *nc_ps_element_id (gboolean is_rel, gint64 id);

G_END_DECLS
