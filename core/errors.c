#include "errors.h"

#include <string.h>

G_DEFINE_QUARK (nc-error-quark, nc_error)

typedef struct {
  const char *status;
  const char *gql;
  guint http;
} ErrorRow;

static const ErrorRow rows[NC_ERROR_N_CODES] = {
#define NC_ERROR_ROW(name, status, gql, http) [NC_ERROR_##name] = { status, gql, http },
  NC_ERROR_TABLE (NC_ERROR_ROW)
#undef NC_ERROR_ROW
};

static const ErrorRow *
row_for (const GError *error)
{
  if (error != NULL && error->domain == NC_ERROR && error->code >= 0 && error->code < NC_ERROR_N_CODES)
    return &rows[error->code];
  return &rows[NC_ERROR_UNKNOWN];
}

const char *
nc_error_status (const GError *error)
{
  return row_for (error)->status;
}

const char *
nc_error_gql_status (const GError *error)
{
  return row_for (error)->gql;
}

guint
nc_error_http_status (const GError *error)
{
  return row_for (error)->http;
}

NcErrorCode
nc_error_code_from_status (const char *status)
{
  for (int i = 0; i < NC_ERROR_N_CODES; i++)
    if (strcmp (rows[i].status, status) == 0)
      return (NcErrorCode) i;
  return NC_ERROR_UNKNOWN;
}

gboolean
nc_error_is_transient (const GError *error)
{
  return g_str_has_prefix (nc_error_status (error), "Neo.TransientError.");
}
