/* Users and roles, shared by Bolt and HTTP authentication.
 *
 * Stored in <data dir>/users.json (written atomically, mode 0600); passwords
 * hashed with PBKDF2-HMAC-SHA256 (nettle), a random 16-byte salt and a
 * configurable iteration count. Roles: reader (read data), editor (read and
 * write data), admin (everything, including the /admin endpoints and user management).
 * The first start creates the initial admin from NORNICDB_AUTH
 * ("user:password", "user/password"); NORNICDB_AUTH=none disables
 * authentication entirely (every client is treated as admin).
 *
 * Failed authentications are rate-limited per client address: after 5
 * failures within 60 s further attempts from that address fail with
 * Neo.ClientError.Security.AuthenticationRateLimit for 60 s.
 *
 * Thread safety: all functions may be called from any thread.
 */
#pragma once

#include <glib.h>
#include "value.h"

G_BEGIN_DECLS

typedef enum {
  NC_USER_ROLE_NONE = 0,
  NC_USER_ROLE_READER = 1,
  NC_USER_ROLE_EDITOR = 2,
  NC_USER_ROLE_ADMIN = 3,
} NcUserRole;

typedef struct _NcUsers NcUsers;

/* `initial_auth` is the NORNICDB_AUTH value. (transfer full) */
NcUsers *nc_users_open (const char *data_dir, const char *initial_auth, GError **error);
void nc_users_free (NcUsers *users);

gboolean nc_users_auth_enabled (NcUsers *users);
/* TRUE with *role set when the password matches; else FALSE with
 * NC_ERROR_UNAUTHORIZED ("The client is unauthorized due to authentication
 * failure.") or NC_ERROR_AUTH_RATE_LIMIT. `client_addr` keys the rate limit
 * (may be NULL). */
gboolean nc_users_authenticate (NcUsers *users, const char *client_addr, const char *user,
                                const char *password, NcUserRole *role, GError **error);
gboolean nc_users_create (NcUsers *users, const char *user, const char *password,
                          NcUserRole role, gboolean if_not_exists, GError **error);
gboolean nc_users_drop (NcUsers *users, const char *user, gboolean if_exists, GError **error);
gboolean nc_users_set_password (NcUsers *users, const char *user, const char *password,
                                GError **error);
gboolean nc_users_set_role (NcUsers *users, const char *user, NcUserRole role, GError **error);
/* (transfer full) array of char* user names, sorted. */
GPtrArray *nc_users_list (NcUsers *users);
NcUserRole nc_users_role (NcUsers *users, const char *user);
/* TRUE while `user` still has the built-in default password "admin". */
gboolean nc_users_default_password_in_use (NcUsers *users);

const char *nc_user_role_name (NcUserRole role);      /* "reader", "editor", "admin" */
NcUserRole nc_user_role_from_name (const char *name); /* NONE when unknown */

/* Test-only tuning (also usable by tools): PBKDF2 iterations for passwords
 * set from now on (default 100000), and the rate limit (default 5 failures
 * within 60 s lock the address for 60 s; `window_ms` is both the counting
 * window and the lock-out time). */
void nc_users_set_iterations (NcUsers *users, guint iterations);
void nc_users_set_rate_limit (NcUsers *users, guint max_failures, gint64 window_ms);

/* ---- replicated user table (appended) ------------------------------------
 *
 * In a cluster the user table is replicated state (docs/architecture.md,
 * "Users"): a change is committed as a write-set holding one NC_EFFECT_META
 * effect named NC_USERS_META_KEY whose value is the WHOLE table after the
 * change, and every node that applies it replaces its table (and rewrites
 * users.json). The value mirrors users.json:
 *   {"version": 1, "users": [{"name", "role", "default_password",
 *     "password": {"algorithm", "iterations", "salt", "hash"}}]}
 * (salt and hash base64; never a clear-text password). */
#define NC_USERS_META_KEY "nornicdb.users"

/* The whole table as such a map. (transfer full) */
NcValue nc_users_export (NcUsers *users);
/* Replaces the table with `table` (validated completely first: on error
 * nothing changes) and rewrites users.json atomically. Passwords that did
 * not change keep their login cache; the rate limit state is local and kept.
 * When the file cannot be written the table in memory is still replaced (it
 * is committed state) and FALSE is returned with the I/O error. */
gboolean nc_users_replace (NcUsers *users, const NcValue *table, GError **error);
/* A copy of the table that is never written to disk, for staging a change:
 * run nc_users_create/drop/set_* on it (same validation and messages), then
 * nc_users_export it. Shares the iteration setting. (transfer full) */
NcUsers *nc_users_copy_detached (NcUsers *users);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcUsers, nc_users_free)

G_END_DECLS
