#define G_LOG_DOMAIN "nornicdb-bolt"

#include "bolt-chunk.h"

#include "errors.h"

void
nc_bolt_dechunker_init (NcBoltDechunker *d, gsize max_message)
{
  d->message = g_byte_array_new ();
  d->max_message = max_message;
  d->header_have = 0;
  d->chunk_left = 0;
}

void
nc_bolt_dechunker_clear (NcBoltDechunker *d)
{
  g_clear_pointer (&d->message, g_byte_array_unref);
}

gboolean
nc_bolt_dechunker_in_message (const NcBoltDechunker *d)
{
  return d->message->len > 0 || d->header_have > 0 || d->chunk_left > 0;
}

NcBoltDechunkStatus
nc_bolt_dechunker_feed (NcBoltDechunker *d, const guint8 *data, gsize len, gsize *consumed,
                        GBytes **message, GError **error)
{
  gsize pos = 0;
  *message = NULL;
  while (pos < len)
    {
      if (d->chunk_left > 0)
        {
          gsize take = MIN ((gsize) d->chunk_left, len - pos);
          g_byte_array_append (d->message, data + pos, (guint) take);
          d->chunk_left -= (guint) take;
          pos += take;
          continue;
        }
      d->header[d->header_have++] = data[pos++];
      if (d->header_have < 2)
        continue;
      d->header_have = 0;
      guint size = ((guint) d->header[0] << 8) | d->header[1];
      if (size == 0)
        {
          if (d->message->len == 0)
            continue; /* keep-alive between messages */
          *message = g_byte_array_free_to_bytes (d->message);
          d->message = g_byte_array_new ();
          *consumed = pos;
          return NC_BOLT_DECHUNK_MESSAGE;
        }
      if (d->message->len + (gsize) size > d->max_message)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_REQUEST_INVALID,
                       "Message exceeds the maximum message size of %" G_GSIZE_FORMAT " bytes",
                       d->max_message);
          *consumed = pos;
          return NC_BOLT_DECHUNK_ERROR;
        }
      d->chunk_left = size;
    }
  *consumed = pos;
  return NC_BOLT_DECHUNK_NEED_MORE;
}

void
nc_bolt_chunk_append (GByteArray *out, const guint8 *msg, gsize len)
{
  gsize pos = 0;
  while (pos < len)
    {
      guint n = (guint) MIN (len - pos, (gsize) G_MAXUINT16);
      guint8 hdr[2] = { (guint8) (n >> 8), (guint8) n };
      g_byte_array_append (out, hdr, 2);
      g_byte_array_append (out, msg + pos, n);
      pos += n;
    }
  static const guint8 end[2] = { 0, 0 };
  g_byte_array_append (out, end, 2);
}
