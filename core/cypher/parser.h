/* Hand-written recursive-descent parser for openCypher (with precedence
 * climbing for expressions). Nesting is bounded (NC_CYPHER_MAX_DEPTH) so
 * that hostile input fails with a SyntaxError instead of exhausting the
 * stack. */
#pragma once

#include "ast.h"

G_BEGIN_DECLS

#define NC_CYPHER_MAX_DEPTH 500

/* (transfer full) the statement, or NULL with a SyntaxError. */
NcStatement *nc_cypher_parse (const char *text, GError **error);

G_END_DECLS
