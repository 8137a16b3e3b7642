#define G_LOG_DOMAIN "nornicdb-modules"

#include "module-loader.h"
#include "errors.h"

#include <glib/gi18n.h>
#include <string.h>

#include "nc-build-config.h"

static char *
exe_dir (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  return exe ? g_path_get_dirname (exe) : NULL;
}

char *
nc_module_dir (const char *override)
{
  if (override != NULL && override[0] != '\0')
    return g_strdup (override);
  g_autofree char *dir = exe_dir ();
  if (dir != NULL)
    {
      /* Run from the build tree: <builddir>/nornicdb next to <builddir>/modules. */
      g_autofree char *probe = g_build_filename (dir, "modules", "standalone", "standalone.so", NULL);
      if (g_file_test (probe, G_FILE_TEST_EXISTS))
        return g_build_filename (dir, "modules", NULL);
    }
  return g_strdup (NC_MODULEDIR);
}

char *
nc_module_path (const char *dir, const char *mode)
{
  g_autofree char *file = g_strconcat (mode, ".so", NULL);
  char *flat = g_build_filename (dir, file, NULL);
  if (g_file_test (flat, G_FILE_TEST_EXISTS))
    return flat;
  char *nested = g_build_filename (dir, mode, file, NULL);
  if (g_file_test (nested, G_FILE_TEST_EXISTS))
    {
      g_free (flat);
      return nested;
    }
  g_free (nested);
  return flat;
}

gboolean
nc_module_load (const char *path, GModule **module, const NornicModuleInfo **info, GError **error)
{
  gpointer sym = NULL;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN,
                   _("replication module %s not found (set NORNICDB_MODULE_DIR to the directory holding the modules)"),
                   path);
      return FALSE;
    }
  GModule *m = g_module_open (path, G_MODULE_BIND_LOCAL | G_MODULE_BIND_LAZY);
  if (m == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN, _("cannot load replication module %s: %s"),
                   path, g_module_error ());
      return FALSE;
    }
  if (!g_module_symbol (m, NORNIC_MODULE_ENTRY_SYMBOL, &sym) || sym == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN,
                   _("%s is not a NornicDB replication module: it does not export %s"),
                   path, NORNIC_MODULE_ENTRY_SYMBOL);
      g_module_close (m);
      return FALSE;
    }
  NornicModuleEntryFunc entry = (NornicModuleEntryFunc) sym;
  const NornicModuleInfo *i = entry ();
  if (i == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN, _("%s: %s returned no module description"),
                   path, NORNIC_MODULE_ENTRY_SYMBOL);
      g_module_close (m);
      return FALSE;
    }
  if (i->abi_major != NORNIC_MODULE_ABI_MAJOR)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN,
                   _("%s was built for module ABI %u.%u but this nornicdb provides ABI %u.%u"),
                   path, i->abi_major, i->abi_minor, NORNIC_MODULE_ABI_MAJOR, NORNIC_MODULE_ABI_MINOR);
      g_module_close (m);
      return FALSE;
    }
  if (i->struct_size < sizeof (NornicModuleInfo) || i->vtable == NULL ||
      i->vtable->abi_major != NORNIC_MODULE_ABI_MAJOR ||
      i->vtable->struct_size < G_STRUCT_OFFSET (NornicModuleVTable, can_serve_read))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN,
                   _("%s: module tables are too small or missing (info %u bytes, expected at least %u; vtable %u bytes)"),
                   path, i->struct_size, (guint) sizeof (NornicModuleInfo),
                   i->vtable ? i->vtable->struct_size : 0);
      g_module_close (m);
      return FALSE;
    }
  if (i->vtable->create == NULL || i->vtable->submit == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN,
                   _("%s: module vtable lacks required functions (create, submit)"), path);
      g_module_close (m);
      return FALSE;
    }
  *module = m;
  *info = i;
  return TRUE;
}
