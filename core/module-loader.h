/* Finds and loads a replication module (<mode>.so) with GModule and checks
 * its ABI against include/nornicdb/module.h. */
#pragma once

#include <glib.h>
#include <gmodule.h>
#include "nornicdb/module.h"

G_BEGIN_DECLS

/* The directory modules are loaded from: `override` when set, else the
 * build tree when the daemon runs from it, else the installed module
 * directory. (transfer full) */
char *nc_module_dir (const char *override);
/* Path of <mode>.so in `dir` (build tree layout: <dir>/<mode>/<mode>.so).
 * (transfer full) */
char *nc_module_path (const char *dir, const char *mode);

/* Loads `path`, resolves nornic_module_entry and checks the ABI. On error
 * the message names the file and what differs. */
gboolean nc_module_load (const char *path, GModule **module, const NornicModuleInfo **info,
                         GError **error);

G_END_DECLS
