/* libFuzzer target: cluster frames. The input is read as a stream of
 * length-prefixed frames (as a connection would see it) and, whole, as one
 * JSON payload. Whatever decodes must re-encode, decode again and re-encode
 * to the identical bytes: the codec is its own oracle. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "cluster-message.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_MAX_FRAME (256u * 1024u)

static void
check_stable (const NcClusterMessage *msg)
{
  GError *error = NULL;
  GBytes *once = nc_cluster_frame_encode (msg, FUZZ_MAX_FRAME * 4, &error);
  if (once == NULL)
    {
      /* Only a payload that grew past the limit may fail to re-encode. */
      g_assert (g_error_matches (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_FRAME_TOO_LARGE));
      g_error_free (error);
      return;
    }
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (once, &len);
  NcClusterMessage *back = nc_cluster_message_decode (p + 4, len - 4, msg->cluster, &error);
  g_assert_no_error (error);
  g_assert (back != NULL && back->type == msg->type);
  g_assert (strcmp (back->from, msg->from) == 0);
  GBytes *twice = nc_cluster_frame_encode (back, FUZZ_MAX_FRAME * 4, &error);
  g_assert_no_error (error);
  g_assert (g_bytes_equal (once, twice));
  g_bytes_unref (twice);
  nc_cluster_message_free (back);
  g_bytes_unref (once);
}

static void
decode_one (const guint8 *payload, gsize len)
{
  GError *error = NULL;
  NcClusterMessage *msg = nc_cluster_message_decode (payload, len, NULL, &error);
  if (msg == NULL)
    {
      g_assert (error != NULL && error->domain == NC_CLUSTER_ERROR);
      g_error_free (error);
      return;
    }
  g_assert (error == NULL);
  check_stable (msg);
  nc_cluster_message_free (msg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* As a stream. */
  size_t off = 0;
  for (;;)
    {
      gsize payload_len = 0;
      GError *error = NULL;
      NcClusterFrameStatus st = nc_cluster_frame_peek (data + off, size - off, FUZZ_MAX_FRAME, &payload_len, &error);
      if (st == NC_CLUSTER_FRAME_NEED_MORE)
        {
          g_assert (error == NULL);
          break;
        }
      if (st == NC_CLUSTER_FRAME_INVALID)
        {
          g_assert (error != NULL);
          g_error_free (error);
          break;
        }
      g_assert (payload_len > 0 && payload_len <= FUZZ_MAX_FRAME && off + 4 + payload_len <= size);
      decode_one (data + off + 4, payload_len);
      off += 4 + payload_len;
    }
  /* As one payload. */
  if (size > 0)
    decode_one (data, size);
  return 0;
}
