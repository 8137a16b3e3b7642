/* Semantic analysis: scoping (every variable binding gets a row slot),
 * variable references resolved to slots, function resolution, and the
 * compile-time checks of openCypher (undefined variables, type conflicts,
 * rebinding in CREATE/MERGE, misplaced aggregation, UNION columns ...).
 * Runs before any execution, so a failing statement has no side effects. */
#pragma once

#include "ast.h"

G_BEGIN_DECLS

/* Slot types tracked for conflict checks. */
typedef enum {
  NC_VT_ANY = 0,
  NC_VT_NODE,
  NC_VT_REL,
  NC_VT_RELLIST,
  NC_VT_PATH,
  NC_VT_VALUE,    /* known not to be an entity */
  NC_VT_LIST,     /* a list (may hold relationships) */
} NcVarType;

gboolean nc_cypher_analyze (NcStatement *s, const char *text, GError **error);

/* Output fields of the built-in procedures (NULL if unknown). */
const char *const *nc_cypher_procedure_fields (const char *name, int *n_args);

/* Test-only fixture procedures for the openCypher TCK (procedures.c): they
 * exist only when the server runs with NC_TEST_TCK_PROCEDURES=1. */
gboolean nc_test_procedures_enabled (void);
/* Output field names of a defined test procedure (NULL if none), its input
 * count, names and declared types ("INTEGER?" ...); the arrays stay valid
 * for the life of the process. */
const char *const *nc_test_procedure_lookup (const char *name, guint *n_in, const char *const **in_names,
                                             const char *const **in_types);
/* Whether a value of type `t` may be passed for the declared test type. */
gboolean nc_test_procedure_accepts (const char *type, NcValueType t);

G_END_DECLS
