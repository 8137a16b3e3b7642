/* A module built for a future ABI major: the loader must refuse it. */
#include <gmodule.h>
#include "nornicdb/module.h"

static const NornicModuleVTable vt = { .abi_major = 99, .struct_size = sizeof (NornicModuleVTable) };
static const NornicModuleInfo info = {
  .abi_major = 99, .abi_minor = 0, .struct_size = sizeof (NornicModuleInfo),
  .name = "bad_abi", .version = "0", .vtable = &vt,
};

G_MODULE_EXPORT const NornicModuleInfo *nornic_module_entry (void);
G_MODULE_EXPORT const NornicModuleInfo *nornic_module_entry (void) { return &info; }
