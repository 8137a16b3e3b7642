/* Bolt chunk framing: a message is sent as chunks of a 2-byte big-endian
 * size followed by that many bytes, ended by an empty chunk (00 00). An
 * empty chunk outside a message is a keep-alive (NOOP).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  NC_BOLT_DECHUNK_NEED_MORE = 0, /* every byte given was consumed */
  NC_BOLT_DECHUNK_MESSAGE,       /* a whole message is ready */
  NC_BOLT_DECHUNK_ERROR,         /* message too large: connection must close */
} NcBoltDechunkStatus;

typedef struct {
  GByteArray *message;   /* the message being assembled */
  gsize max_message;     /* limit on a message's total size */
  guint8 header[2];
  guint header_have;     /* 0..2 bytes of the next chunk header */
  guint chunk_left;      /* bytes of the current chunk still to come */
} NcBoltDechunker;

void nc_bolt_dechunker_init (NcBoltDechunker *d, gsize max_message);
void nc_bolt_dechunker_clear (NcBoltDechunker *d);
/* Consumes bytes up to the end of the next message. *consumed says how many
 * of `len` bytes were used. On NC_BOLT_DECHUNK_MESSAGE, *message receives the
 * message (transfer full). On error, `error` is NC_ERROR_REQUEST_INVALID. */
NcBoltDechunkStatus nc_bolt_dechunker_feed (NcBoltDechunker *d, const guint8 *data, gsize len,
                                            gsize *consumed, GBytes **message, GError **error);
/* TRUE while part of a message has been received. */
gboolean nc_bolt_dechunker_in_message (const NcBoltDechunker *d);

/* Appends `msg` to `out` as chunks (at most 65535 bytes each) plus the end marker. */
void nc_bolt_chunk_append (GByteArray *out, const guint8 *msg, gsize len);

G_END_DECLS
