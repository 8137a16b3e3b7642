/* File-system helpers shared by the unit tests that use data directories. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>

/* Removes `path` and everything under it (symlinks are removed, not
 * followed). Errors are ignored: it cleans up temporary directories. */
static inline void
nc_test_rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          nc_test_rm_rf (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}
