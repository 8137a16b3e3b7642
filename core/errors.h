/* Neo4j status codes: one table used by Bolt, HTTP and the engine.
 *
 * Every error a client can see is a GError in the NC_ERROR domain whose code
 * is one of NcErrorCode; nc_error_status() gives the Neo4j status string
 * ("Neo.ClientError.Statement.SyntaxError"), nc_error_gql_status() the
 * GQLSTATUS code that Bolt 5.7+ FAILURE messages carry. Errors from other
 * domains are reported as Neo.DatabaseError.General.UnknownError.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NC_ERROR (nc_error_quark ())
GQuark nc_error_quark (void);

/* X-macro: enum name, Neo4j status, GQLSTATUS, HTTP status for /db/ APIs. */
#define NC_ERROR_TABLE(X) \
  X (SYNTAX,              "Neo.ClientError.Statement.SyntaxError",                 "42001", 400) \
  X (SEMANTIC,            "Neo.ClientError.Statement.SemanticError",               "42N00", 400) \
  X (TYPE,                "Neo.ClientError.Statement.TypeError",                   "22N01", 400) \
  X (ARGUMENT,            "Neo.ClientError.Statement.ArgumentError",               "22N00", 400) \
  X (PARAMETER_MISSING,   "Neo.ClientError.Statement.ParameterMissing",            "42N51", 400) \
  X (ENTITY_NOT_FOUND,    "Neo.ClientError.Statement.EntityNotFound",              "22N00", 404) \
  X (ARITHMETIC,          "Neo.ClientError.Statement.ArithmeticError",             "22003", 400) \
  X (ACCESS_MODE,         "Neo.ClientError.Statement.AccessMode",                  "08N12", 400) \
  X (NOT_SUPPORTED,       "Neo.ClientError.Statement.NotSupported",                "0A000", 400) \
  X (UNKNOWN_PROCEDURE,   "Neo.ClientError.Procedure.ProcedureNotFound",           "42N08", 400) \
  X (PROCEDURE_CALL,      "Neo.ClientError.Procedure.ProcedureCallFailed",         "52N37", 400) \
  X (CONSTRAINT_FAILED,   "Neo.ClientError.Schema.ConstraintValidationFailed",     "22N41", 400) \
  X (SCHEMA_EXISTS,       "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists", "22N71", 400) \
  X (SCHEMA_MISSING,      "Neo.ClientError.Schema.IndexNotFound",                  "22N73", 400) \
  X (UNAUTHORIZED,        "Neo.ClientError.Security.Unauthorized",                 "42NFF", 401) \
  X (FORBIDDEN,           "Neo.ClientError.Security.Forbidden",                    "42NFF", 403) \
  X (AUTH_RATE_LIMIT,     "Neo.ClientError.Security.AuthenticationRateLimit",      "42NFF", 429) \
  X (NOT_A_LEADER,        "Neo.ClientError.Cluster.NotALeader",                    "08N07", 409) \
  X (READ_ONLY,           "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",   "08N07", 409) \
  X (DATABASE_NOT_FOUND,  "Neo.ClientError.Database.DatabaseNotFound",             "22N51", 404) \
  X (TX_NOT_FOUND,        "Neo.ClientError.Transaction.TransactionNotFound",       "25N05", 404) \
  X (TX_TIMEOUT,          "Neo.ClientError.Transaction.TransactionTimedOut",       "25N11", 400) \
  X (TX_INVALID,          "Neo.ClientError.Transaction.InvalidBookmark",           "08N13", 400) \
  X (REQUEST_INVALID,     "Neo.ClientError.Request.Invalid",                       "08N06", 400) \
  X (REQUEST_FORMAT,      "Neo.ClientError.Request.InvalidFormat",                 "22N00", 400) \
  X (PROTOCOL,            "Neo.ClientError.Request.Invalid",                       "08N06", 400) \
  X (MEMORY_LIMIT,        "Neo.TransientError.General.MemoryPoolOutOfMemoryError", "51N44", 400) \
  X (BOOKMARK_TIMEOUT,    "Neo.TransientError.Transaction.BookmarkTimeout",        "08N13", 503) \
  X (UNAVAILABLE,         "Neo.TransientError.General.DatabaseUnavailable",        "08N09", 503) \
  X (LEADER_SWITCH,       "Neo.TransientError.Cluster.ReplicationFailure",         "08N07", 503) \
  X (TX_TERMINATED,       "Neo.TransientError.Transaction.Terminated",             "25N14", 503) \
  X (LOCK_TIMEOUT,        "Neo.TransientError.Transaction.LockClientStopped",      "50N00", 503) \
  X (WRITES_BLOCKED,      "Neo.DatabaseError.General.StorageDamageDetected",       "51N00", 503) \
  X (UNKNOWN,             "Neo.DatabaseError.General.UnknownError",                "50N00", 500)

typedef enum {
#define NC_ERROR_ENUM(name, status, gql, http) NC_ERROR_##name,
  NC_ERROR_TABLE (NC_ERROR_ENUM)
#undef NC_ERROR_ENUM
  NC_ERROR_N_CODES
} NcErrorCode;

/* Status for any GError (foreign domains map to UNKNOWN). */
const char *nc_error_status (const GError *error);
const char *nc_error_gql_status (const GError *error);
guint nc_error_http_status (const GError *error);
/* Looks a status string up; NC_ERROR_UNKNOWN when not in the table. */
NcErrorCode nc_error_code_from_status (const char *status);
/* TRUE for Neo.TransientError.* (a retry can succeed). */
gboolean nc_error_is_transient (const GError *error);

G_END_DECLS
