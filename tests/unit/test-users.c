/* Users and roles: storage, hashing, authentication, rate limiting. */
#include "users.h"
#include "errors.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include "test-fs-util.h"

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("nc-users-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  nc_test_rm_rf (f->dir);
  g_free (f->dir);
}

static NcUsers *
open_users (Fixture *f, const char *auth)
{
  g_autoptr (GError) error = NULL;
  NcUsers *users = nc_users_open (f->dir, auth, &error);
  g_assert_no_error (error);
  g_assert_nonnull (users);
  nc_users_set_iterations (users, 1000);
  return users;
}

static char *
users_file (Fixture *f)
{
  return g_build_filename (f->dir, "users.json", NULL);
}

static void
test_first_start_creates_admin (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "neo:s3cret");
  g_autoptr (GError) error = NULL;
  NcUserRole role = NC_USER_ROLE_NONE;

  g_assert_true (nc_users_auth_enabled (users));
  g_assert_true (nc_users_authenticate (users, "127.0.0.1", "neo", "s3cret", &role, &error));
  g_assert_no_error (error);
  g_assert_cmpint (role, ==, NC_USER_ROLE_ADMIN);
  g_assert_cmpint (nc_users_role (users, "neo"), ==, NC_USER_ROLE_ADMIN);
}

static void
test_slash_separator (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "neo/pass:word");
  /* ':' wins over '/': "neo/pass" is the user only when ':' is present. */
  g_assert_cmpint (nc_users_role (users, "neo/pass"), ==, NC_USER_ROLE_ADMIN);
  g_clear_pointer (&users, nc_users_free);
  nc_test_rm_rf (f->dir);
  g_mkdir (f->dir, 0700);
  users = open_users (f, "neo/secret");
  g_assert_true (nc_users_authenticate (users, NULL, "neo", "secret", NULL, NULL));
}

static void
test_malformed_initial_auth_is_rejected (Fixture *f, gconstpointer data)
{
  const char *bad[] = { "nopassword", ":pw", "user:", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      NcUsers *users = nc_users_open (f->dir, bad[i], &error);
      g_assert_null (users);
      g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
    }
  g_autofree char *path = users_file (f);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

static void
test_file_mode_and_no_plaintext (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:VerySecretPassword");
  g_autofree char *path = users_file (f);
  g_autofree char *text = NULL;
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_null (strstr (text, "VerySecretPassword"));
  g_assert_nonnull (strstr (text, "pbkdf2-hmac-sha256"));
  g_assert_nonnull (strstr (text, "100000"));
  /* no temporary file is left behind */
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
}

static void
test_restart_keeps_password (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcUsers *users = open_users (f, "admin:first");
  g_assert_true (nc_users_set_password (users, "admin", "changed", &error));
  g_assert_no_error (error);
  nc_users_free (users);

  /* The environment still says "first": it must not reset the password. */
  users = open_users (f, "admin:first");
  g_assert_false (nc_users_authenticate (users, NULL, "admin", "first", NULL, NULL));
  g_assert_true (nc_users_authenticate (users, NULL, "admin", "changed", NULL, NULL));
  nc_users_free (users);
}

static void
test_users_survive_restart (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcUsers *users = open_users (f, "admin:pw");
  g_assert_true (nc_users_create (users, "bob", "bobpw", NC_USER_ROLE_READER, FALSE, &error));
  g_assert_true (nc_users_create (users, "eve", "evepw", NC_USER_ROLE_EDITOR, FALSE, &error));
  g_assert_no_error (error);
  nc_users_free (users);

  users = open_users (f, "admin:pw");
  g_autoptr (GPtrArray) names = nc_users_list (users);
  g_assert_cmpuint (names->len, ==, 3);
  g_assert_cmpstr (names->pdata[0], ==, "admin");
  g_assert_cmpstr (names->pdata[1], ==, "bob");
  g_assert_cmpstr (names->pdata[2], ==, "eve");
  NcUserRole role;
  g_assert_true (nc_users_authenticate (users, NULL, "bob", "bobpw", &role, NULL));
  g_assert_cmpint (role, ==, NC_USER_ROLE_READER);
  g_assert_true (nc_users_authenticate (users, NULL, "eve", "evepw", &role, NULL));
  g_assert_cmpint (role, ==, NC_USER_ROLE_EDITOR);
  nc_users_free (users);
}

static void
test_wrong_password_is_unauthorized (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_autoptr (GError) error = NULL;
  NcUserRole role = NC_USER_ROLE_READER;

  g_assert_false (nc_users_authenticate (users, "a", "admin", "nope", &role, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_UNAUTHORIZED);
  g_clear_error (&error);
  g_assert_false (nc_users_authenticate (users, "a", "nobody", "pw", &role, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_UNAUTHORIZED);
  g_clear_error (&error);
  g_assert_false (nc_users_authenticate (users, "a", NULL, NULL, &role, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_UNAUTHORIZED);
}

static void
test_same_password_different_salt (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_autofree char *path = users_file (f);
  g_autofree char *text = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();

  g_assert_true (nc_users_create (users, "u1", "same", NC_USER_ROLE_READER, FALSE, NULL));
  g_assert_true (nc_users_create (users, "u2", "same", NC_USER_ROLE_READER, FALSE, NULL));
  g_assert_true (json_parser_load_from_file (parser, path, NULL));
  JsonArray *list = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "users");
  const char *h1 = NULL, *h2 = NULL, *s1 = NULL, *s2 = NULL;
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *u = json_array_get_object_element (list, i);
      JsonObject *pw = json_object_get_object_member (u, "password");
      if (g_str_equal (json_object_get_string_member (u, "name"), "u1"))
        h1 = json_object_get_string_member (pw, "hash"), s1 = json_object_get_string_member (pw, "salt");
      if (g_str_equal (json_object_get_string_member (u, "name"), "u2"))
        h2 = json_object_get_string_member (pw, "hash"), s2 = json_object_get_string_member (pw, "salt");
    }
  g_assert_nonnull (h1);
  g_assert_nonnull (h2);
  g_assert_cmpstr (s1, !=, s2);
  g_assert_cmpstr (h1, !=, h2);
}

static void
test_create_duplicate_and_if_not_exists (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_autoptr (GError) error = NULL;

  g_assert_true (nc_users_create (users, "bob", "x", NC_USER_ROLE_READER, FALSE, &error));
  g_assert_false (nc_users_create (users, "bob", "y", NC_USER_ROLE_ADMIN, FALSE, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "already exists"));
  g_clear_error (&error);
  /* IF NOT EXISTS: success, and the existing user is unchanged */
  g_assert_true (nc_users_create (users, "bob", "y", NC_USER_ROLE_ADMIN, TRUE, &error));
  g_assert_cmpint (nc_users_role (users, "bob"), ==, NC_USER_ROLE_READER);
  g_assert_true (nc_users_authenticate (users, NULL, "bob", "x", NULL, NULL));
}

static void
test_create_validates_input (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  struct { const char *user, *pw; NcUserRole role; } bad[] = {
    { "", "pw", NC_USER_ROLE_READER },
    { NULL, "pw", NC_USER_ROLE_READER },
    { "a:b", "pw", NC_USER_ROLE_READER },
    { "tab\tname", "pw", NC_USER_ROLE_READER },
    { "ok", "", NC_USER_ROLE_READER },
    { "ok", NULL, NC_USER_ROLE_READER },
    { "ok", "pw", NC_USER_ROLE_NONE },
    { "ok", "pw", (NcUserRole) 42 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (nc_users_create (users, bad[i].user, bad[i].pw, bad[i].role, FALSE, &error));
      g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
    }
  g_autoptr (GPtrArray) names = nc_users_list (users);
  g_assert_cmpuint (names->len, ==, 1);
}

static void
test_drop_user (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_autoptr (GError) error = NULL;

  g_assert_true (nc_users_create (users, "bob", "x", NC_USER_ROLE_EDITOR, FALSE, NULL));
  g_assert_true (nc_users_drop (users, "bob", FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (nc_users_role (users, "bob"), ==, NC_USER_ROLE_NONE);
  g_assert_false (nc_users_authenticate (users, NULL, "bob", "x", NULL, NULL));
  g_assert_false (nc_users_drop (users, "bob", FALSE, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "does not exist"));
  g_clear_error (&error);
  g_assert_true (nc_users_drop (users, "bob", TRUE, &error));
  g_assert_no_error (error);
}

static void
test_last_admin_cannot_be_removed (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_autoptr (GError) error = NULL;

  g_assert_false (nc_users_drop (users, "admin", FALSE, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (nc_users_set_role (users, "admin", NC_USER_ROLE_READER, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (nc_users_role (users, "admin"), ==, NC_USER_ROLE_ADMIN);

  /* with a second admin it is allowed */
  g_assert_true (nc_users_create (users, "root", "pw2", NC_USER_ROLE_ADMIN, FALSE, NULL));
  g_assert_true (nc_users_set_role (users, "admin", NC_USER_ROLE_EDITOR, &error));
  g_assert_no_error (error);
  g_assert_cmpint (nc_users_role (users, "admin"), ==, NC_USER_ROLE_EDITOR);
}

static void
test_set_role_persists (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcUsers *users = open_users (f, "admin:pw");
  g_assert_true (nc_users_create (users, "bob", "x", NC_USER_ROLE_READER, FALSE, NULL));
  g_assert_true (nc_users_set_role (users, "bob", NC_USER_ROLE_EDITOR, &error));
  g_assert_false (nc_users_set_role (users, "ghost", NC_USER_ROLE_EDITOR, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  nc_users_free (users);
  users = open_users (f, "admin:pw");
  g_assert_cmpint (nc_users_role (users, "bob"), ==, NC_USER_ROLE_EDITOR);
  nc_users_free (users);
}

static void
test_set_password_unknown_user (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_autoptr (GError) error = NULL;
  g_assert_false (nc_users_set_password (users, "ghost", "x", &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (nc_users_set_password (users, "admin", "", &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_ARGUMENT);
  g_assert_true (nc_users_authenticate (users, NULL, "admin", "pw", NULL, NULL));
}

static void
test_auth_none_disables (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "none");
  NcUserRole role = NC_USER_ROLE_NONE;
  g_assert_false (nc_users_auth_enabled (users));
  g_assert_true (nc_users_authenticate (users, NULL, "anyone", "anything", &role, NULL));
  g_assert_cmpint (role, ==, NC_USER_ROLE_ADMIN);
  g_assert_false (nc_users_default_password_in_use (users));
}

static void
test_default_password_flag (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:admin");
  g_assert_true (nc_users_default_password_in_use (users));
  g_assert_true (nc_users_set_password (users, "admin", "better", NULL));
  g_assert_false (nc_users_default_password_in_use (users));
}

static void
test_rate_limit_locks_address (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_autoptr (GError) error = NULL;

  /* A user hashed with few iterations, so the five failures fit well
   * inside the window even on a slow (sanitizer) build. */
  g_assert_true (nc_users_create (users, "bob", "pw", NC_USER_ROLE_READER, FALSE, NULL));
  nc_users_set_rate_limit (users, 5, 1000);
  for (int i = 0; i < 5; i++)
    {
      g_assert_false (nc_users_authenticate (users, "10.0.0.1", "bob", "bad", NULL, &error));
      g_assert_error (error, NC_ERROR, NC_ERROR_UNAUTHORIZED);
      g_clear_error (&error);
    }
  /* even the right password is refused while locked */
  g_assert_false (nc_users_authenticate (users, "10.0.0.1", "bob", "pw", NULL, &error));
  g_assert_error (error, NC_ERROR, NC_ERROR_AUTH_RATE_LIMIT);
  g_clear_error (&error);
  /* another address is unaffected */
  g_assert_true (nc_users_authenticate (users, "10.0.0.2", "bob", "pw", NULL, &error));
  g_assert_no_error (error);
  /* the lock expires */
  g_usleep (1200 * 1000);
  g_assert_true (nc_users_authenticate (users, "10.0.0.1", "bob", "pw", NULL, &error));
  g_assert_no_error (error);
}

static void
test_rate_limit_success_resets (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_assert_true (nc_users_create (users, "bob", "pw", NC_USER_ROLE_READER, FALSE, NULL));
  nc_users_set_rate_limit (users, 3, 10000);
  g_assert_false (nc_users_authenticate (users, "a", "bob", "bad", NULL, NULL));
  g_assert_false (nc_users_authenticate (users, "a", "bob", "bad", NULL, NULL));
  g_assert_true (nc_users_authenticate (users, "a", "bob", "pw", NULL, NULL));
  g_assert_false (nc_users_authenticate (users, "a", "bob", "bad", NULL, NULL));
  g_assert_false (nc_users_authenticate (users, "a", "bob", "bad", NULL, NULL));
  /* 2 failures since the success: not locked yet */
  g_assert_true (nc_users_authenticate (users, "a", "bob", "pw", NULL, NULL));
}

static void
test_rate_limit_window_slides (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  g_assert_true (nc_users_create (users, "bob", "pw", NC_USER_ROLE_READER, FALSE, NULL));
  nc_users_set_rate_limit (users, 3, 200);
  g_assert_false (nc_users_authenticate (users, "a", "bob", "bad", NULL, NULL));
  g_assert_false (nc_users_authenticate (users, "a", "bob", "bad", NULL, NULL));
  g_usleep (300 * 1000);
  /* the two old failures are outside the window: this is failure 1 again */
  g_assert_false (nc_users_authenticate (users, "a", "bob", "bad", NULL, NULL));
  g_assert_true (nc_users_authenticate (users, "a", "bob", "pw", NULL, NULL));
}

static void
test_corrupt_file_is_an_error (Fixture *f, gconstpointer data)
{
  g_autofree char *path = users_file (f);
  const char *bad[] = {
    "{not json",
    "[]",
    "{\"version\":2,\"users\":[]}",
    "{\"version\":1,\"users\":[{\"name\":\"x\",\"role\":\"god\",\"password\":{}}]}",
    "{\"version\":1,\"users\":[{\"name\":\"x\",\"role\":\"admin\",\"password\":{\"algorithm\":\"pbkdf2-hmac-sha256\",\"iterations\":1,\"salt\":\"AAAA\",\"hash\":\"AAAA\"}}]}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (g_file_set_contents (path, bad[i], -1, NULL));
      g_chmod (path, 0600);
      NcUsers *users = nc_users_open (f->dir, "admin:pw", &error);
      g_assert_null (users);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "users.json"));
      /* the bad file is left for the operator, not overwritten */
      g_autofree char *text = NULL;
      g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
      g_assert_cmpstr (text, ==, bad[i]);
    }
}

static void
test_iterations_stored_per_user (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NcUsers *users = open_users (f, "admin:pw");   /* admin hashed with 100000 */
  nc_users_set_iterations (users, 7);
  g_assert_true (nc_users_create (users, "bob", "x", NC_USER_ROLE_READER, FALSE, NULL));
  nc_users_free (users);

  g_autofree char *path = users_file (f);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\"iterations\" : 7"));
  g_assert_nonnull (strstr (text, "\"iterations\" : 100000"));

  users = open_users (f, "admin:pw");
  g_assert_true (nc_users_authenticate (users, NULL, "admin", "pw", NULL, &error));
  g_assert_true (nc_users_authenticate (users, NULL, "bob", "x", NULL, &error));
  g_assert_no_error (error);
  nc_users_free (users);
}

static void
test_auth_cache_skips_pbkdf2 (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  gint64 t0, first, second;

  nc_users_set_iterations (users, 400000);
  g_assert_true (nc_users_create (users, "slow", "pw", NC_USER_ROLE_READER, FALSE, NULL));
  t0 = g_get_monotonic_time ();
  g_assert_true (nc_users_authenticate (users, NULL, "slow", "pw", NULL, NULL));
  first = g_get_monotonic_time () - t0;
  t0 = g_get_monotonic_time ();
  g_assert_true (nc_users_authenticate (users, NULL, "slow", "pw", NULL, NULL));
  second = g_get_monotonic_time () - t0;
  g_test_message ("first %" G_GINT64_FORMAT " us, cached %" G_GINT64_FORMAT " us", first, second);
  g_assert_cmpint (second * 10, <, first);
  /* a wrong password is never answered from the cache */
  g_assert_false (nc_users_authenticate (users, NULL, "slow", "other", NULL, NULL));
}

static void
test_auth_cache_invalidated (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  NcUserRole role;

  g_assert_true (nc_users_create (users, "u", "old", NC_USER_ROLE_READER, FALSE, NULL));
  g_assert_true (nc_users_authenticate (users, NULL, "u", "old", &role, NULL));
  g_assert_true (nc_users_authenticate (users, NULL, "u", "old", &role, NULL)); /* cached */
  g_assert_true (nc_users_set_password (users, "u", "new", NULL));
  g_assert_false (nc_users_authenticate (users, NULL, "u", "old", NULL, NULL));
  g_assert_true (nc_users_authenticate (users, NULL, "u", "new", &role, NULL));
  /* a role change shows through a cached login */
  g_assert_true (nc_users_set_role (users, "u", NC_USER_ROLE_EDITOR, NULL));
  g_assert_true (nc_users_authenticate (users, NULL, "u", "new", &role, NULL));
  g_assert_cmpint (role, ==, NC_USER_ROLE_EDITOR);
  /* a dropped user's cached login is gone with the user */
  g_assert_true (nc_users_drop (users, "u", FALSE, NULL));
  g_assert_false (nc_users_authenticate (users, NULL, "u", "new", NULL, NULL));
}

typedef struct {
  NcUsers *users;
  int ok;
} ThreadData;

static gpointer
auth_thread (gpointer p)
{
  ThreadData *td = p;
  for (int i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("t%p-%d", (void *) g_thread_self (), i);
      if (nc_users_create (td->users, name, "pw", NC_USER_ROLE_READER, FALSE, NULL)
          && nc_users_authenticate (td->users, NULL, name, "pw", NULL, NULL))
        g_atomic_int_inc (&td->ok);
    }
  return NULL;
}

static void
test_concurrent_use (Fixture *f, gconstpointer data)
{
  g_autoptr (NcUsers) users = open_users (f, "admin:pw");
  ThreadData td = { users, 0 };
  GThread *threads[4];
  nc_users_set_iterations (users, 10);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("auth", auth_thread, &td);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (td.ok, ==, 80);
  g_autoptr (GPtrArray) names = nc_users_list (users);
  g_assert_cmpuint (names->len, ==, 81);
}

static void
test_role_names (void)
{
  g_assert_cmpstr (nc_user_role_name (NC_USER_ROLE_READER), ==, "reader");
  g_assert_cmpstr (nc_user_role_name (NC_USER_ROLE_EDITOR), ==, "editor");
  g_assert_cmpstr (nc_user_role_name (NC_USER_ROLE_ADMIN), ==, "admin");
  g_assert_cmpint (nc_user_role_from_name ("admin"), ==, NC_USER_ROLE_ADMIN);
  g_assert_cmpint (nc_user_role_from_name ("Editor"), ==, NC_USER_ROLE_EDITOR);
  g_assert_cmpint (nc_user_role_from_name ("reader"), ==, NC_USER_ROLE_READER);
  g_assert_cmpint (nc_user_role_from_name ("root"), ==, NC_USER_ROLE_NONE);
  g_assert_cmpint (nc_user_role_from_name (NULL), ==, NC_USER_ROLE_NONE);
}

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("/nornic/users/first-start-creates-admin-from-env", test_first_start_creates_admin);
  ADD ("/nornic/users/initial-auth-accepts-slash-separator", test_slash_separator);
  ADD ("/nornic/users/malformed-initial-auth-is-rejected", test_malformed_initial_auth_is_rejected);
  ADD ("/nornic/users/file-is-0600-without-plaintext", test_file_mode_and_no_plaintext);
  ADD ("/nornic/users/restart-does-not-reset-password-from-env", test_restart_keeps_password);
  ADD ("/nornic/users/users-and-roles-survive-restart", test_users_survive_restart);
  ADD ("/nornic/users/wrong-password-or-unknown-user-is-unauthorized", test_wrong_password_is_unauthorized);
  ADD ("/nornic/users/same-password-gets-different-salt-and-hash", test_same_password_different_salt);
  ADD ("/nornic/users/create-duplicate-fails-unless-if-not-exists", test_create_duplicate_and_if_not_exists);
  ADD ("/nornic/users/create-validates-name-password-role", test_create_validates_input);
  ADD ("/nornic/users/drop-removes-user", test_drop_user);
  ADD ("/nornic/users/last-admin-cannot-be-dropped-or-demoted", test_last_admin_cannot_be_removed);
  ADD ("/nornic/users/set-role-persists", test_set_role_persists);
  ADD ("/nornic/users/set-password-validates", test_set_password_unknown_user);
  ADD ("/nornic/users/auth-none-treats-everyone-as-admin", test_auth_none_disables);
  ADD ("/nornic/users/default-password-flag-clears-on-change", test_default_password_flag);
  ADD ("/nornic/users/rate-limit-locks-address-after-failures", test_rate_limit_locks_address);
  ADD ("/nornic/users/rate-limit-success-resets-count", test_rate_limit_success_resets);
  ADD ("/nornic/users/rate-limit-window-slides", test_rate_limit_window_slides);
  ADD ("/nornic/users/corrupt-file-fails-open-and-is-kept", test_corrupt_file_is_an_error);
  ADD ("/nornic/users/iterations-are-stored-per-user", test_iterations_stored_per_user);
  ADD ("/nornic/users/concurrent-create-and-authenticate", test_concurrent_use);
  ADD ("/nornic/users/successful-login-is-cached", test_auth_cache_skips_pbkdf2);
  ADD ("/nornic/users/password-change-and-drop-invalidate-cached-login", test_auth_cache_invalidated);
  g_test_add_func ("/nornic/users/role-names-round-trip", test_role_names);
  return g_test_run ();
}
