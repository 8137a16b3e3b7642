/* A module whose vtable is smaller than the fields the loader needs. */
#include <gmodule.h>
#include "nornicdb/module.h"

static const NornicModuleVTable vt = { .abi_major = NORNIC_MODULE_ABI_MAJOR, .struct_size = 16 };
static const NornicModuleInfo info = {
  .abi_major = NORNIC_MODULE_ABI_MAJOR, .abi_minor = 0, .struct_size = sizeof (NornicModuleInfo),
  .name = "small_vtable", .version = "0", .vtable = &vt,
};

G_MODULE_EXPORT const NornicModuleInfo *nornic_module_entry (void);
G_MODULE_EXPORT const NornicModuleInfo *nornic_module_entry (void) { return &info; }
