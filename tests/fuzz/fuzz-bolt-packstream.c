/* libFuzzer target: the PackStream decoder with both structure flavors.
 * Whatever decodes must re-encode to something that decodes to an
 * equivalent value (the codec round-trips). */
#include <stdint.h>
#include <stddef.h>

#include "packstream.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const NcPsFlavor flavors[2] = { { TRUE, TRUE }, { FALSE, FALSE } };
  for (guint f = 0; f < 2; f++)
    {
      NcPsReader r;
      NcValue v = nc_value_null ();
      GError *error = NULL;
      nc_ps_reader_init (&r, data, size);
      if (!nc_ps_read_value (&r, &flavors[f], &v, &error))
        {
          g_assert (error != NULL);
          g_error_free (error);
          continue;
        }
      g_assert (r.pos <= size);
      GByteArray *out = g_byte_array_new ();
      nc_ps_write_value (out, &v, &flavors[f]);
      NcPsReader r2;
      NcValue back = nc_value_null ();
      nc_ps_reader_init (&r2, out->data, out->len);
      g_assert (nc_ps_read_value (&r2, &flavors[f], &back, NULL));
      g_assert (nc_ps_reader_remaining (&r2) == 0);
      /* NaN is not equivalent to itself under `=` but is under equivalence. */
      g_assert (nc_value_equivalent (&v, &back));
      nc_value_clear (&back);
      nc_value_clear (&v);
      g_byte_array_unref (out);
    }
  return 0;
}
