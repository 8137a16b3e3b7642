/* libFuzzer target: the Cypher parser and semantic analysis (no execution).
 * Any input must either produce a statement or a SyntaxError/SemanticError,
 * never a crash, a hang or a leak. As an oracle, an accepted statement's
 * AST dump must be deterministic. */

#include "cypher/parser.h"
#include "cypher/semantic.h"
#include "errors.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size > 64 * 1024)
    return 0;
  char *text = g_strndup ((const char *) data, size);
  GError *error = NULL;
  NcStatement *s = nc_cypher_parse (text, &error);
  if (s == NULL)
    {
      g_assert (error != NULL);
      g_assert (error->domain == NC_ERROR);
      g_error_free (error);
      g_free (text);
      return 0;
    }
  char *dump1 = nc_statement_dump (s);
  if (!nc_cypher_analyze (s, text, &error))
    {
      g_assert (error != NULL && error->domain == NC_ERROR);
      g_clear_error (&error);
    }
  nc_statement_free (s);
  /* parsing again gives the same tree */
  NcStatement *s2 = nc_cypher_parse (text, NULL);
  g_assert (s2 != NULL);
  char *dump2 = nc_statement_dump (s2);
  g_assert_cmpstr (dump1, ==, dump2);
  nc_statement_free (s2);
  g_free (dump1);
  g_free (dump2);
  g_free (text);
  return 0;
}
