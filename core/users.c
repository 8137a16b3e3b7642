/* Users and roles: see users.h for the contract.
 *
 * Storage: <data dir>/users.json, e.g.
 *
 *   {"version": 1,
 *    "users": [{"name": "admin", "role": "admin", "default_password": false,
 *               "password": {"algorithm": "pbkdf2-hmac-sha256",
 *                            "iterations": 100000,
 *                            "salt": "<base64, 16 bytes>",
 *                            "hash": "<base64, 32 bytes>"}}]}
 *
 * Once users.json exists it is authoritative: NORNICDB_AUTH only seeds the
 * initial admin on the very first start and never overwrites a stored
 * password on later starts (an operator who changed the admin password
 * through the API must not have it silently reset by a stale environment
 * variable). NORNICDB_AUTH=none switches enforcement off but users.json is
 * still kept and can still be managed.
 *
 * The iteration count is stored per user, so raising the default only
 * affects passwords set afterwards and old hashes keep verifying.
 */
#define G_LOG_DOMAIN "nornicdb-users"

#include "users.h"
#include "errors.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <json-glib/json-glib.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/pbkdf2.h>

#define NC_USERS_FILE "users.json"
#define NC_USERS_FORMAT_VERSION 1
#define NC_USERS_SALT_LEN 16
#define NC_USERS_HASH_LEN 32
#define NC_USERS_DEFAULT_ITERATIONS 100000
#define NC_USERS_DEFAULT_PASSWORD "admin"
#define NC_USERS_NAME_MAX 256
#define NC_USERS_RATE_MAX_FAILURES 5
#define NC_USERS_RATE_WINDOW_US (60 * G_USEC_PER_SEC)
/* Bound on the per-address failure table, so a flood from many addresses
 * cannot grow memory without limit. */
#define NC_USERS_RATE_MAX_ADDRESSES 65536
/* Successful logins are remembered this long so that every HTTP request
 * (Basic auth on each one) does not pay a full PBKDF2 (Neo4j's
 * auth_cache_ttl is 10 minutes as well). */
#define NC_USERS_AUTH_CACHE_US (10 * 60 * G_USEC_PER_SEC)

typedef struct {
  NcUserRole role;
  guint iterations;
  guint8 salt[NC_USERS_SALT_LEN];
  guint8 hash[NC_USERS_HASH_LEN];
  gboolean default_password;
  /* Auth cache (memory only): HMAC of the last password that verified,
   * keyed with a per-process random key; cleared with the record on any
   * password change. */
  gboolean cache_valid;
  gint64 cache_until_us;
  guint8 cache_mac[NC_USERS_HASH_LEN];
} UserRecord;

typedef struct {
  gint64 first_failure_us;   /* start of the current counting window */
  guint failures;
  gint64 locked_until_us;    /* 0 = not locked */
} RateEntry;

struct _NcUsers {
  GMutex lock;
  char *data_dir;
  char *path;
  gboolean auth_enabled;
  guint iterations;
  guint rate_max_failures;
  gint64 rate_window_us;
  GHashTable *users;     /* char* name -> UserRecord* */
  GHashTable *failures;  /* char* address -> RateEntry* */
  /* Hash of an arbitrary password, used to spend the same time on unknown
   * user names as on known ones (no user enumeration by timing). */
  UserRecord dummy;
  guint8 cache_key[32];
};

const char *
nc_user_role_name (NcUserRole role)
{
  switch (role)
    {
    case NC_USER_ROLE_READER:
      return "reader";
    case NC_USER_ROLE_EDITOR:
      return "editor";
    case NC_USER_ROLE_ADMIN:
      return "admin";
    case NC_USER_ROLE_NONE:
    default:
      return "none";
    }
}

NcUserRole
nc_user_role_from_name (const char *name)
{
  if (name == NULL)
    return NC_USER_ROLE_NONE;
  if (g_ascii_strcasecmp (name, "reader") == 0)
    return NC_USER_ROLE_READER;
  if (g_ascii_strcasecmp (name, "editor") == 0)
    return NC_USER_ROLE_EDITOR;
  if (g_ascii_strcasecmp (name, "admin") == 0)
    return NC_USER_ROLE_ADMIN;
  return NC_USER_ROLE_NONE;
}

/* ---- hashing ---------------------------------------------------------------- */

static void
derive (const char *password, guint iterations, const guint8 *salt, guint8 *out)
{
  pbkdf2_hmac_sha256 (strlen (password), (const uint8_t *) password, iterations,
                      NC_USERS_SALT_LEN, salt, NC_USERS_HASH_LEN, out);
}

static gboolean
record_set_password (UserRecord *rec, const char *password, guint iterations, GError **error)
{
  int rc = gnutls_rnd (GNUTLS_RND_RANDOM, rec->salt, sizeof rec->salt);
  if (rc < 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN, "Could not generate a password salt: %s",
                   gnutls_strerror (rc));
      return FALSE;
    }
  rec->iterations = iterations;
  derive (password, iterations, rec->salt, rec->hash);
  rec->default_password = g_strcmp0 (password, NC_USERS_DEFAULT_PASSWORD) == 0;
  return TRUE;
}

static gboolean
record_verify (const UserRecord *rec, const char *password)
{
  guint8 got[NC_USERS_HASH_LEN];
  derive (password, rec->iterations, rec->salt, got);
  /* Constant-time: the comparison must not reveal how many bytes matched. */
  return memeql_sec (got, rec->hash, NC_USERS_HASH_LEN) != 0;
}

/* ---- validation ----------------------------------------------------------------- */

static gboolean
check_user_name (const char *user, GError **error)
{
  if (user == NULL || *user == '\0')
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT, "The user name must not be empty.");
      return FALSE;
    }
  if (strlen (user) > NC_USERS_NAME_MAX || !g_utf8_validate (user, -1, NULL))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "The user name must be valid UTF-8 of at most %d bytes.", NC_USERS_NAME_MAX);
      return FALSE;
    }
  for (const char *p = user; *p; p++)
    {
      /* ':' separates user and password in HTTP Basic auth and NORNICDB_AUTH. */
      if ((guchar) *p < 0x20 || *p == 0x7f || *p == ':')
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                       "The user name must not contain ':' or control characters.");
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_password (const char *password, GError **error)
{
  if (password == NULL || *password == '\0')
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT, "A password must not be empty.");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_role (NcUserRole role, GError **error)
{
  if (role != NC_USER_ROLE_READER && role != NC_USER_ROLE_EDITOR && role != NC_USER_ROLE_ADMIN)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT,
                           "Unknown role: expected reader, editor or admin.");
      return FALSE;
    }
  return TRUE;
}

/* ---- persistence ---------------------------------------------------------------- */

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

static char *
serialize_locked (NcUsers *users)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  GHashTableIter it;
  gpointer key;

  g_hash_table_iter_init (&it, users->users);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_ptr_array_add (names, key);
  g_ptr_array_sort (names, compare_names);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, NC_USERS_FORMAT_VERSION);
  json_builder_set_member_name (b, "users");
  json_builder_begin_array (b);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      const UserRecord *rec = g_hash_table_lookup (users->users, name);
      g_autofree char *salt = g_base64_encode (rec->salt, sizeof rec->salt);
      g_autofree char *hash = g_base64_encode (rec->hash, sizeof rec->hash);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, name);
      json_builder_set_member_name (b, "role");
      json_builder_add_string_value (b, nc_user_role_name (rec->role));
      json_builder_set_member_name (b, "default_password");
      json_builder_add_boolean_value (b, rec->default_password);
      json_builder_set_member_name (b, "password");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "algorithm");
      json_builder_add_string_value (b, "pbkdf2-hmac-sha256");
      json_builder_set_member_name (b, "iterations");
      json_builder_add_int_value (b, rec->iterations);
      json_builder_set_member_name (b, "salt");
      json_builder_add_string_value (b, salt);
      json_builder_set_member_name (b, "hash");
      json_builder_add_string_value (b, hash);
      json_builder_end_object (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* tmp file, fsync, rename over the old file, fsync the directory: after a
 * crash the file is either the old or the new version, never a mix. */
static gboolean
save_locked (NcUsers *users, GError **error)
{
  /* A detached copy (nc_users_copy_detached) only stages a change. */
  if (users->path == NULL)
    return TRUE;
  g_autofree char *text = serialize_locked (users);
  g_autofree char *tmp = g_strconcat (users->path, ".tmp", NULL);
  int fd, saved_errno;

  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not write %s: %s", tmp, g_strerror (saved_errno));
      return FALSE;
    }
  /* O_CREAT's mode does not apply to an existing tmp file left by a crash. */
  if (fchmod (fd, 0600) != 0 || !write_all (fd, text, strlen (text)) || fsync (fd) != 0)
    {
      saved_errno = errno;
      close (fd);
      unlink (tmp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not write %s: %s", tmp, g_strerror (saved_errno));
      return FALSE;
    }
  if (close (fd) != 0 || rename (tmp, users->path) != 0)
    {
      saved_errno = errno;
      unlink (tmp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not replace %s: %s", users->path, g_strerror (saved_errno));
      return FALSE;
    }
  fd = open (users->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync (fd) != 0)
    {
      saved_errno = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not sync directory %s: %s", users->data_dir, g_strerror (saved_errno));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

static gboolean
decode_fixed (const char *b64, guint8 *out, gsize want)
{
  gsize len = 0;
  g_autofree guchar *raw = NULL;

  if (b64 == NULL)
    return FALSE;
  raw = g_base64_decode (b64, &len);
  if (len != want)
    return FALSE;
  memcpy (out, raw, want);
  return TRUE;
}

static gboolean
load_locked (NcUsers *users, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  JsonObject *root;
  JsonArray *list;
  struct stat st;

  if (stat (users->path, &st) == 0 && (st.st_mode & 077) != 0)
    g_warning ("%s is readable by other users (mode %03o); it should be 0600",
               users->path, (unsigned) (st.st_mode & 0777));

  if (!json_parser_load_from_file (parser, users->path, &local))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Could not read %s: %s",
                   users->path, local->message);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    goto bad;
  root = json_node_get_object (json_parser_get_root (parser));
  if (json_object_get_int_member_with_default (root, "version", 0) != NC_USERS_FORMAT_VERSION)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: unsupported format version (expected %d)", users->path,
                   NC_USERS_FORMAT_VERSION);
      return FALSE;
    }
  if (!json_object_has_member (root, "users")
      || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (root, "users")))
    goto bad;
  list = json_object_get_array_member (root, "users");
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonNode *node = json_array_get_element (list, i);
      JsonObject *u, *pw;
      const char *name, *role;
      gint64 iterations;
      g_autofree UserRecord *rec = g_new0 (UserRecord, 1);

      if (!JSON_NODE_HOLDS_OBJECT (node))
        goto bad;
      u = json_node_get_object (node);
      name = json_object_get_string_member_with_default (u, "name", NULL);
      role = json_object_get_string_member_with_default (u, "role", NULL);
      if (name == NULL || !check_user_name (name, NULL))
        goto bad;
      rec->role = nc_user_role_from_name (role);
      if (rec->role == NC_USER_ROLE_NONE)
        goto bad;
      rec->default_password = json_object_get_boolean_member_with_default (u, "default_password",
                                                                           FALSE);
      if (!json_object_has_member (u, "password")
          || !JSON_NODE_HOLDS_OBJECT (json_object_get_member (u, "password")))
        goto bad;
      pw = json_object_get_object_member (u, "password");
      if (g_strcmp0 (json_object_get_string_member_with_default (pw, "algorithm", NULL),
                     "pbkdf2-hmac-sha256") != 0)
        goto bad;
      iterations = json_object_get_int_member_with_default (pw, "iterations", 0);
      if (iterations < 1 || iterations > G_MAXINT32)
        goto bad;
      rec->iterations = (guint) iterations;
      if (!decode_fixed (json_object_get_string_member_with_default (pw, "salt", NULL),
                         rec->salt, sizeof rec->salt)
          || !decode_fixed (json_object_get_string_member_with_default (pw, "hash", NULL),
                            rec->hash, sizeof rec->hash))
        goto bad;
      if (g_hash_table_contains (users->users, name))
        goto bad;
      g_hash_table_insert (users->users, g_strdup (name), g_steal_pointer (&rec));
    }
  return TRUE;

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "%s is malformed (expected {\"version\":1,\"users\":[{\"name\",\"role\",\"password\":{...}}]}); "
               "fix or remove it (removing re-creates the admin from NORNICDB_AUTH)",
               users->path);
  return FALSE;
}

/* ---- lifecycle ---------------------------------------------------------------- */

/* "user:password" or "user/password"; ':' wins when both occur so that a
 * password may contain '/'. */
static gboolean
parse_initial_auth (const char *value, char **user, char **password, GError **error)
{
  const char *sep = strchr (value, ':');
  if (sep == NULL)
    sep = strchr (value, '/');
  if (sep == NULL || sep == value || sep[1] == '\0')
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT,
                           "NORNICDB_AUTH must be \"user:password\", \"user/password\" or \"none\"");
      return FALSE;
    }
  *user = g_strndup (value, (gsize) (sep - value));
  *password = g_strdup (sep + 1);
  return TRUE;
}

NcUsers *
nc_users_open (const char *data_dir, const char *initial_auth, GError **error)
{
  g_autoptr (GError) local = NULL;
  NcUsers *users;
  int rc;

  g_return_val_if_fail (data_dir != NULL, NULL);

  /* The config default is "admin:admin"; NULL behaves the same. */
  if (initial_auth == NULL)
    initial_auth = "admin:" NC_USERS_DEFAULT_PASSWORD;

  users = g_new0 (NcUsers, 1);
  g_mutex_init (&users->lock);
  users->data_dir = g_strdup (data_dir);
  users->path = g_build_filename (data_dir, NC_USERS_FILE, NULL);
  users->auth_enabled = g_ascii_strcasecmp (initial_auth, "none") != 0;
  users->iterations = NC_USERS_DEFAULT_ITERATIONS;
  users->rate_max_failures = NC_USERS_RATE_MAX_FAILURES;
  users->rate_window_us = NC_USERS_RATE_WINDOW_US;
  users->users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  users->failures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  rc = gnutls_rnd (GNUTLS_RND_NONCE, users->dummy.salt, sizeof users->dummy.salt);
  if (rc < 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN, "Could not initialise randomness: %s",
                   gnutls_strerror (rc));
      nc_users_free (users);
      return NULL;
    }
  users->dummy.iterations = users->iterations;
  rc = gnutls_rnd (GNUTLS_RND_RANDOM, users->cache_key, sizeof users->cache_key);
  if (rc < 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNKNOWN, "Could not initialise randomness: %s",
                   gnutls_strerror (rc));
      nc_users_free (users);
      return NULL;
    }

  if (g_mkdir_with_parents (data_dir, 0700) != 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not create data directory %s: %s", data_dir, g_strerror (saved_errno));
      nc_users_free (users);
      return NULL;
    }

  if (g_file_test (users->path, G_FILE_TEST_EXISTS))
    {
      if (!load_locked (users, error))
        {
          nc_users_free (users);
          return NULL;
        }
      g_debug ("loaded %u users from %s", g_hash_table_size (users->users), users->path);
      return users;
    }

  if (users->auth_enabled)
    {
      g_autofree char *user = NULL;
      g_autofree char *password = NULL;
      g_autofree UserRecord *rec = g_new0 (UserRecord, 1);

      if (!parse_initial_auth (initial_auth, &user, &password, error)
          || !check_user_name (user, error)
          || !record_set_password (rec, password, users->iterations, error))
        {
          nc_users_free (users);
          return NULL;
        }
      rec->role = NC_USER_ROLE_ADMIN;
      g_hash_table_insert (users->users, g_steal_pointer (&user), g_steal_pointer (&rec));
      if (!save_locked (users, error))
        {
          nc_users_free (users);
          return NULL;
        }
      g_message ("created the initial admin user in %s", users->path);
    }
  return users;
}

void
nc_users_free (NcUsers *users)
{
  if (users == NULL)
    return;
  g_hash_table_unref (users->users);
  g_hash_table_unref (users->failures);
  memset (users->cache_key, 0, sizeof users->cache_key);
  g_free (users->data_dir);
  g_free (users->path);
  g_mutex_clear (&users->lock);
  g_free (users);
}

void
nc_users_set_iterations (NcUsers *users, guint iterations)
{
  g_return_if_fail (iterations > 0);
  g_mutex_lock (&users->lock);
  users->iterations = iterations;
  users->dummy.iterations = iterations;
  g_mutex_unlock (&users->lock);
}

void
nc_users_set_rate_limit (NcUsers *users, guint max_failures, gint64 window_ms)
{
  g_return_if_fail (max_failures > 0 && window_ms > 0);
  g_mutex_lock (&users->lock);
  users->rate_max_failures = max_failures;
  users->rate_window_us = window_ms * 1000;
  g_hash_table_remove_all (users->failures);
  g_mutex_unlock (&users->lock);
}

gboolean
nc_users_auth_enabled (NcUsers *users)
{
  return users->auth_enabled;
}

/* ---- authentication ------------------------------------------------------------- */

static void
cache_mac (NcUsers *users, const char *user, const char *password, guint8 *out)
{
  struct hmac_sha256_ctx ctx;
  hmac_sha256_set_key (&ctx, sizeof users->cache_key, users->cache_key);
  hmac_sha256_update (&ctx, strlen (user) + 1, (const uint8_t *) user);
  hmac_sha256_update (&ctx, strlen (password), (const uint8_t *) password);
  hmac_sha256_digest (&ctx, NC_USERS_HASH_LEN, out);
}

/* NULL addresses (in-process callers) share one bucket rather than escaping
 * the limit. */
static const char *
rate_key (const char *client_addr)
{
  return client_addr != NULL ? client_addr : "(unknown)";
}

static gboolean
rate_limited_locked (NcUsers *users, const char *addr, gint64 now)
{
  RateEntry *e = g_hash_table_lookup (users->failures, addr);
  if (e == NULL)
    return FALSE;
  if (e->locked_until_us != 0)
    {
      if (now < e->locked_until_us)
        return TRUE;
      g_hash_table_remove (users->failures, addr);
    }
  return FALSE;
}

static void
record_failure_locked (NcUsers *users, const char *addr, gint64 now)
{
  RateEntry *e = g_hash_table_lookup (users->failures, addr);

  if (e == NULL)
    {
      if (g_hash_table_size (users->failures) >= NC_USERS_RATE_MAX_ADDRESSES)
        {
          /* Drop entries whose window has passed; if the table is still
           * full, forget everything rather than grow without bound. */
          GHashTableIter it;
          gpointer v;
          g_hash_table_iter_init (&it, users->failures);
          while (g_hash_table_iter_next (&it, NULL, &v))
            {
              RateEntry *old = v;
              if (old->locked_until_us < now && now - old->first_failure_us > users->rate_window_us)
                g_hash_table_iter_remove (&it);
            }
          if (g_hash_table_size (users->failures) >= NC_USERS_RATE_MAX_ADDRESSES)
            g_hash_table_remove_all (users->failures);
        }
      e = g_new0 (RateEntry, 1);
      g_hash_table_insert (users->failures, g_strdup (addr), e);
    }
  if (e->failures == 0 || now - e->first_failure_us > users->rate_window_us)
    {
      e->first_failure_us = now;
      e->failures = 0;
    }
  e->failures++;
  if (e->failures >= users->rate_max_failures)
    {
      e->locked_until_us = now + users->rate_window_us;
      g_message ("authentication from %s rate-limited after %u failures", addr, e->failures);
    }
}

gboolean
nc_users_authenticate (NcUsers *users, const char *client_addr, const char *user,
                       const char *password, NcUserRole *role, GError **error)
{
  const char *addr = rate_key (client_addr);
  UserRecord rec;
  gboolean known;
  gboolean ok;

  if (!users->auth_enabled)
    {
      if (role)
        *role = NC_USER_ROLE_ADMIN;
      return TRUE;
    }

  g_mutex_lock (&users->lock);
  if (rate_limited_locked (users, addr, g_get_monotonic_time ()))
    {
      g_mutex_unlock (&users->lock);
      g_set_error_literal (error, NC_ERROR, NC_ERROR_AUTH_RATE_LIMIT,
                           "The client has provided incorrect authentication details too many "
                           "times in a row.");
      return FALSE;
    }
  if (password == NULL)
    password = "";
  {
    UserRecord *found = user != NULL ? g_hash_table_lookup (users->users, user) : NULL;
    known = found != NULL;
    rec = known ? *found : users->dummy;
  }
  g_mutex_unlock (&users->lock);

  if (known && rec.cache_valid && g_get_monotonic_time () < rec.cache_until_us)
    {
      guint8 mac[NC_USERS_HASH_LEN];
      cache_mac (users, user, password, mac);
      ok = memeql_sec (mac, rec.cache_mac, sizeof mac) != 0;
    }
  else
    ok = FALSE;
  if (!ok)
    {
      /* PBKDF2 runs without the lock so concurrent logins do not serialise. */
      ok = record_verify (&rec, password) && known;
      if (ok)
        {
          UserRecord *now;
          g_mutex_lock (&users->lock);
          now = g_hash_table_lookup (users->users, user);
          /* Cache only if the password has not changed meanwhile. */
          if (now != NULL && memcmp (now->salt, rec.salt, sizeof rec.salt) == 0)
            {
              cache_mac (users, user, password, now->cache_mac);
              now->cache_until_us = g_get_monotonic_time () + NC_USERS_AUTH_CACHE_US;
              now->cache_valid = TRUE;
            }
          g_mutex_unlock (&users->lock);
        }
    }

  g_mutex_lock (&users->lock);
  if (ok)
    g_hash_table_remove (users->failures, addr);
  else
    record_failure_locked (users, addr, g_get_monotonic_time ());
  g_mutex_unlock (&users->lock);

  if (!ok)
    {
      g_set_error_literal (error, NC_ERROR, NC_ERROR_UNAUTHORIZED,
                           "The client is unauthorized due to authentication failure.");
      return FALSE;
    }
  if (role)
    *role = rec.role;
  return TRUE;
}

/* ---- management ------------------------------------------------------------------ */

static guint
count_admins_locked (NcUsers *users)
{
  GHashTableIter it;
  gpointer v;
  guint n = 0;

  g_hash_table_iter_init (&it, users->users);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((UserRecord *) v)->role == NC_USER_ROLE_ADMIN)
      n++;
  return n;
}

gboolean
nc_users_create (NcUsers *users, const char *user, const char *password, NcUserRole role,
                 gboolean if_not_exists, GError **error)
{
  g_autofree UserRecord *rec = NULL;
  guint iterations;

  if (!check_user_name (user, error) || !check_password (password, error)
      || !check_role (role, error))
    return FALSE;

  g_mutex_lock (&users->lock);
  iterations = users->iterations;
  if (g_hash_table_contains (users->users, user))
    {
      g_mutex_unlock (&users->lock);
      if (if_not_exists)
        return TRUE;
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Failed to create the specified user '%s': User already exists.", user);
      return FALSE;
    }
  g_mutex_unlock (&users->lock);

  /* Hash outside the lock; re-check existence afterwards. */
  rec = g_new0 (UserRecord, 1);
  rec->role = role;
  if (!record_set_password (rec, password, iterations, error))
    return FALSE;

  g_mutex_lock (&users->lock);
  if (g_hash_table_contains (users->users, user))
    {
      g_mutex_unlock (&users->lock);
      if (if_not_exists)
        return TRUE;
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Failed to create the specified user '%s': User already exists.", user);
      return FALSE;
    }
  g_hash_table_insert (users->users, g_strdup (user), g_steal_pointer (&rec));
  if (!save_locked (users, error))
    {
      g_hash_table_remove (users->users, user);
      g_mutex_unlock (&users->lock);
      return FALSE;
    }
  g_mutex_unlock (&users->lock);
  if (users->path != NULL)
    g_message ("created user '%s' with role %s", user, nc_user_role_name (role));
  return TRUE;
}

gboolean
nc_users_drop (NcUsers *users, const char *user, gboolean if_exists, GError **error)
{
  UserRecord *rec;
  UserRecord saved;

  g_mutex_lock (&users->lock);
  rec = user != NULL ? g_hash_table_lookup (users->users, user) : NULL;
  if (rec == NULL)
    {
      g_mutex_unlock (&users->lock);
      if (if_exists)
        return TRUE;
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Failed to delete the specified user '%s': User does not exist.",
                   user ? user : "");
      return FALSE;
    }
  if (rec->role == NC_USER_ROLE_ADMIN && count_admins_locked (users) == 1)
    {
      g_mutex_unlock (&users->lock);
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Failed to delete the specified user '%s': it is the last admin.", user);
      return FALSE;
    }
  saved = *rec;
  g_hash_table_remove (users->users, user);
  if (!save_locked (users, error))
    {
      g_hash_table_insert (users->users, g_strdup (user), g_memdup2 (&saved, sizeof saved));
      g_mutex_unlock (&users->lock);
      return FALSE;
    }
  g_mutex_unlock (&users->lock);
  if (users->path != NULL)
    g_message ("dropped user '%s'", user);
  return TRUE;
}

gboolean
nc_users_set_password (NcUsers *users, const char *user, const char *password, GError **error)
{
  UserRecord fresh = { 0 };
  UserRecord saved;
  UserRecord *rec;
  guint iterations;

  if (!check_password (password, error))
    return FALSE;

  g_mutex_lock (&users->lock);
  iterations = users->iterations;
  g_mutex_unlock (&users->lock);
  if (!record_set_password (&fresh, password, iterations, error))
    return FALSE;

  g_mutex_lock (&users->lock);
  rec = user != NULL ? g_hash_table_lookup (users->users, user) : NULL;
  if (rec == NULL)
    {
      g_mutex_unlock (&users->lock);
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Failed to alter the specified user '%s': User does not exist.",
                   user ? user : "");
      return FALSE;
    }
  saved = *rec;
  fresh.role = rec->role;
  *rec = fresh;
  if (!save_locked (users, error))
    {
      *rec = saved;
      g_mutex_unlock (&users->lock);
      return FALSE;
    }
  g_mutex_unlock (&users->lock);
  if (users->path != NULL)
    g_message ("changed the password of user '%s'", user);
  return TRUE;
}

gboolean
nc_users_set_role (NcUsers *users, const char *user, NcUserRole role, GError **error)
{
  UserRecord *rec;
  NcUserRole old;

  if (!check_role (role, error))
    return FALSE;
  g_mutex_lock (&users->lock);
  rec = user != NULL ? g_hash_table_lookup (users->users, user) : NULL;
  if (rec == NULL)
    {
      g_mutex_unlock (&users->lock);
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Failed to alter the specified user '%s': User does not exist.",
                   user ? user : "");
      return FALSE;
    }
  if (rec->role == NC_USER_ROLE_ADMIN && role != NC_USER_ROLE_ADMIN
      && count_admins_locked (users) == 1)
    {
      g_mutex_unlock (&users->lock);
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "Failed to alter the specified user '%s': it is the last admin.", user);
      return FALSE;
    }
  old = rec->role;
  rec->role = role;
  if (!save_locked (users, error))
    {
      rec->role = old;
      g_mutex_unlock (&users->lock);
      return FALSE;
    }
  g_mutex_unlock (&users->lock);
  if (users->path != NULL)
    g_message ("user '%s' now has role %s", user, nc_user_role_name (role));
  return TRUE;
}

GPtrArray *
nc_users_list (NcUsers *users)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer key;

  g_mutex_lock (&users->lock);
  g_hash_table_iter_init (&it, users->users);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_ptr_array_add (names, g_strdup (key));
  g_mutex_unlock (&users->lock);
  g_ptr_array_sort (names, compare_names);
  return names;
}

NcUserRole
nc_users_role (NcUsers *users, const char *user)
{
  UserRecord *rec;
  NcUserRole role;

  if (user == NULL)
    return NC_USER_ROLE_NONE;
  g_mutex_lock (&users->lock);
  rec = g_hash_table_lookup (users->users, user);
  role = rec != NULL ? rec->role : NC_USER_ROLE_NONE;
  g_mutex_unlock (&users->lock);
  return role;
}

/* TRUE while any admin still has the built-in default password "admin": an
 * operator-facing warning (logged at start, shown by /health tooling). */
gboolean
nc_users_default_password_in_use (NcUsers *users)
{
  GHashTableIter it;
  gpointer v;
  gboolean in_use = FALSE;

  if (!users->auth_enabled)
    return FALSE;
  g_mutex_lock (&users->lock);
  g_hash_table_iter_init (&it, users->users);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      const UserRecord *rec = v;
      if (rec->role == NC_USER_ROLE_ADMIN && rec->default_password)
        in_use = TRUE;
    }
  g_mutex_unlock (&users->lock);
  return in_use;
}

/* ---- replicated table (users.h, "replicated user table") ------------------------- */

static NcValue
record_to_value (const char *name, const UserRecord *rec)
{
  g_autofree char *salt = g_base64_encode (rec->salt, sizeof rec->salt);
  g_autofree char *hash = g_base64_encode (rec->hash, sizeof rec->hash);
  NcMap *pw = nc_map_new (4);
  nc_map_append (pw, "algorithm", nc_value_string ("pbkdf2-hmac-sha256"));
  nc_map_append (pw, "iterations", nc_value_int (rec->iterations));
  nc_map_append (pw, "salt", nc_value_string (salt));
  nc_map_append (pw, "hash", nc_value_string (hash));
  NcMap *u = nc_map_new (4);
  nc_map_append (u, "name", nc_value_string (name));
  nc_map_append (u, "role", nc_value_string (nc_user_role_name (rec->role)));
  nc_map_append (u, "default_password", nc_value_bool (rec->default_password));
  nc_map_append (u, "password", nc_value_map_take (pw));
  return nc_value_map_take (u);
}

NcValue
nc_users_export (NcUsers *users)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  GHashTableIter it;
  gpointer key;

  g_mutex_lock (&users->lock);
  g_hash_table_iter_init (&it, users->users);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_ptr_array_add (names, key);
  /* Sorted, so equal tables export equal values. */
  g_ptr_array_sort (names, compare_names);
  NcList *list = nc_list_new (names->len);
  for (guint i = 0; i < names->len; i++)
    list->items[i] = record_to_value (names->pdata[i], g_hash_table_lookup (users->users, names->pdata[i]));
  g_mutex_unlock (&users->lock);

  NcMap *m = nc_map_new (2);
  nc_map_append (m, "version", nc_value_int (NC_USERS_FORMAT_VERSION));
  nc_map_append (m, "users", nc_value_list_take (list));
  return nc_value_map_take (m);
}

static const char *
value_map_str (const NcMap *m, const char *key)
{
  const NcValue *v = nc_map_get (m, key);
  return v != NULL && v->type == NC_VALUE_STRING ? nc_value_str (v) : NULL;
}

/* Parses `table` into a new name -> UserRecord table; NULL on any defect. */
static GHashTable *
table_from_value (const NcValue *table, GError **error)
{
  g_autoptr (GHashTable) out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const NcValue *version, *list;

  if (table == NULL || table->type != NC_VALUE_MAP)
    goto bad;
  version = nc_map_get (table->u.map, "version");
  if (version == NULL || version->type != NC_VALUE_INT || version->u.i != NC_USERS_FORMAT_VERSION)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT,
                   "replicated user table: unsupported format version (expected %d)",
                   NC_USERS_FORMAT_VERSION);
      return NULL;
    }
  list = nc_map_get (table->u.map, "users");
  if (list == NULL || list->type != NC_VALUE_LIST)
    goto bad;
  for (guint32 i = 0; i < list->u.list->len; i++)
    {
      const NcValue *u = &list->u.list->items[i];
      const NcValue *pwv, *iter, *def;
      const char *name;
      g_autofree UserRecord *rec = g_new0 (UserRecord, 1);

      if (u->type != NC_VALUE_MAP)
        goto bad;
      name = value_map_str (u->u.map, "name");
      if (name == NULL || !check_user_name (name, NULL) || g_hash_table_contains (out, name))
        goto bad;
      rec->role = nc_user_role_from_name (value_map_str (u->u.map, "role"));
      if (rec->role == NC_USER_ROLE_NONE)
        goto bad;
      def = nc_map_get (u->u.map, "default_password");
      rec->default_password = def != NULL && def->type == NC_VALUE_BOOL && def->u.b;
      pwv = nc_map_get (u->u.map, "password");
      if (pwv == NULL || pwv->type != NC_VALUE_MAP
          || g_strcmp0 (value_map_str (pwv->u.map, "algorithm"), "pbkdf2-hmac-sha256") != 0)
        goto bad;
      iter = nc_map_get (pwv->u.map, "iterations");
      if (iter == NULL || iter->type != NC_VALUE_INT || iter->u.i < 1 || iter->u.i > G_MAXINT32)
        goto bad;
      rec->iterations = (guint) iter->u.i;
      if (!decode_fixed (value_map_str (pwv->u.map, "salt"), rec->salt, sizeof rec->salt)
          || !decode_fixed (value_map_str (pwv->u.map, "hash"), rec->hash, sizeof rec->hash))
        goto bad;
      g_hash_table_insert (out, g_strdup (name), g_steal_pointer (&rec));
    }
  return g_steal_pointer (&out);

bad:
  g_set_error_literal (error, NC_ERROR, NC_ERROR_ARGUMENT,
                       "replicated user table is malformed (expected {version: 1, users: "
                       "[{name, role, password: {...}}]})");
  return NULL;
}

gboolean
nc_users_replace (NcUsers *users, const NcValue *table, GError **error)
{
  g_autoptr (GHashTable) fresh = table_from_value (table, error);
  GHashTableIter it;
  gpointer key, value;
  gboolean same;

  if (fresh == NULL)
    return FALSE;

  g_mutex_lock (&users->lock);
  same = g_hash_table_size (fresh) == g_hash_table_size (users->users);
  g_hash_table_iter_init (&it, fresh);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      UserRecord *rec = value;
      const UserRecord *old = g_hash_table_lookup (users->users, key);
      gboolean unchanged = old != NULL && old->iterations == rec->iterations
                           && memcmp (old->salt, rec->salt, sizeof rec->salt) == 0
                           && memcmp (old->hash, rec->hash, sizeof rec->hash) == 0;
      /* A password that did not change keeps its login cache. */
      if (unchanged)
        {
          rec->cache_valid = old->cache_valid;
          rec->cache_until_us = old->cache_until_us;
          memcpy (rec->cache_mac, old->cache_mac, sizeof rec->cache_mac);
        }
      if (!unchanged || old->role != rec->role || old->default_password != rec->default_password)
        same = FALSE;
    }
  if (same)
    {
      /* Replay and re-delivery of a table we already hold: no rewrite. */
      g_mutex_unlock (&users->lock);
      return TRUE;
    }
  g_hash_table_unref (users->users);
  users->users = g_steal_pointer (&fresh);
  gboolean saved = save_locked (users, error);
  guint n = g_hash_table_size (users->users);
  g_mutex_unlock (&users->lock);
  if (users->path != NULL)
    g_message ("user table replaced by a replicated change (%u users)", n);
  return saved;
}

NcUsers *
nc_users_copy_detached (NcUsers *users)
{
  NcUsers *copy = g_new0 (NcUsers, 1);
  GHashTableIter it;
  gpointer key, value;

  g_mutex_init (&copy->lock);
  copy->users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  copy->failures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_lock (&users->lock);
  copy->auth_enabled = users->auth_enabled;
  copy->iterations = users->iterations;
  copy->rate_max_failures = users->rate_max_failures;
  copy->rate_window_us = users->rate_window_us;
  copy->dummy = users->dummy;
  memcpy (copy->cache_key, users->cache_key, sizeof copy->cache_key);
  g_hash_table_iter_init (&it, users->users);
  while (g_hash_table_iter_next (&it, &key, &value))
    g_hash_table_insert (copy->users, g_strdup (key), g_memdup2 (value, sizeof (UserRecord)));
  g_mutex_unlock (&users->lock);
  return copy;
}
