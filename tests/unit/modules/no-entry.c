/* A shared object without the entry symbol: the loader must refuse it. */
#include <gmodule.h>

G_MODULE_EXPORT int nornic_not_the_entry (void);
G_MODULE_EXPORT int nornic_not_the_entry (void) { return 1; }
