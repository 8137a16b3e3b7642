/* Replays inputs into a libFuzzer target when built without libFuzzer:
 * every file named on the command line, or (no arguments) a fixed number of
 * seeded random inputs, so the targets stay compiled and smoke-tested in
 * ordinary builds. */
#include <glib.h>
#include <stdint.h>
#include <stddef.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
main (int argc, char **argv)
{
  if (argc > 1)
    {
      for (int i = 1; i < argc; i++)
        {
          g_autofree char *contents = NULL;
          gsize len = 0;
          g_autoptr (GError) error = NULL;
          if (!g_file_get_contents (argv[i], &contents, &len, &error))
            {
              g_printerr ("%s\n", error->message);
              return 1;
            }
          LLVMFuzzerTestOneInput ((const uint8_t *) contents, len);
        }
      return 0;
    }
  g_autoptr (GRand) rng = g_rand_new_with_seed (1234);
  for (guint iter = 0; iter < 5000; iter++)
    {
      guint len = g_rand_int_range (rng, 0, 512);
      g_autofree guint8 *buf = g_malloc (len + 1);
      for (guint i = 0; i < len; i++)
        buf[i] = (guint8) g_rand_int (rng);
      LLVMFuzzerTestOneInput (buf, len);
    }
  return 0;
}
