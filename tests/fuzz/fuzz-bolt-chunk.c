/* libFuzzer target: the Bolt chunk decoder, fed in pieces whose sizes come
 * from the input itself. Every message it yields must fit the limit. */
#include <stdint.h>
#include <stddef.h>

#include "bolt-chunk.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const size_t limit = 4096;
  size_t step = (size_t) data[0] + 1;
  NcBoltDechunker d;
  nc_bolt_dechunker_init (&d, limit);
  size_t pos = 1;
  while (pos < size)
    {
      size_t n = MIN (step, size - pos);
      while (n > 0)
        {
          gsize used = 0;
          GBytes *msg = NULL;
          GError *error = NULL;
          NcBoltDechunkStatus st = nc_bolt_dechunker_feed (&d, data + pos, n, &used, &msg, &error);
          g_assert (used <= n);
          pos += used;
          n -= used;
          if (st == NC_BOLT_DECHUNK_ERROR)
            {
              g_assert (error != NULL);
              g_error_free (error);
              goto out;
            }
          if (msg != NULL)
            {
              g_assert (g_bytes_get_size (msg) <= limit && g_bytes_get_size (msg) > 0);
              g_bytes_unref (msg);
            }
          if (st == NC_BOLT_DECHUNK_NEED_MORE)
            g_assert (n == 0);
        }
    }
out:
  nc_bolt_dechunker_clear (&d);
  return 0;
}
