#include "config.h"
#include "module-loader.h"

#include <glib/gstdio.h>
#include <string.h>

static NcConfig *
load_env (const char *const *env, GError **error)
{
  NcConfig *c = nc_config_new ();
  if (!nc_config_load (c, NULL, (gchar **) env, error) || !nc_config_validate (c, error))
    {
      nc_config_free (c);
      return NULL;
    }
  return c;
}

static void
test_defaults_match_guide (void)
{
  const char *env[] = { NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NcConfig) c = load_env (env, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (nc_config_get (c, "NORNICDB_CLUSTER_MODE"), ==, "standalone");
  g_assert_cmpstr (nc_config_get (c, "NORNICDB_CLUSTER_BIND_ADDR"), ==, "0.0.0.0:7688");
  g_assert_cmpstr (nc_config_get (c, "NORNICDB_CLUSTER_HA_SYNC_MODE"), ==, "semi_sync");
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_CLUSTER_HA_HEARTBEAT_MS"), ==, 1000);
  g_assert_cmpint (nc_config_get_duration_ms (c, "NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT"), ==, 30000);
  g_assert_true (nc_config_get_bool (c, "NORNICDB_CLUSTER_HA_AUTO_FAILOVER"));
  g_assert_cmpstr (nc_config_get (c, "NORNICDB_CLUSTER_RAFT_CLUSTER_ID"), ==, "nornicdb");
  g_assert_cmpint (nc_config_get_duration_ms (c, "NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT"), ==, 1000);
  g_assert_cmpint (nc_config_get_duration_ms (c, "NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT"), ==, 100);
  g_assert_cmpint (nc_config_get_duration_ms (c, "NORNICDB_CLUSTER_RAFT_SNAPSHOT_INTERVAL"), ==, 300000);
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD"), ==, 10000);
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_CLUSTER_RAFT_TRAILING_LOGS"), ==, 10000);
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_CLUSTER_RAFT_MAX_APPEND_ENTRIES"), ==, 64);
  g_assert_cmpstr (nc_config_get (c, "NORNICDB_CLUSTER_CROSS_REGION_MODE"), ==, "async");
  g_assert_cmpstr (nc_config_get (c, "NORNICDB_CLUSTER_CONFLICT_STRATEGY"), ==, "last_write_wins");
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_BOLT_PORT"), ==, 7687);
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_HTTP_PORT"), ==, 7474);
  g_assert_cmpstr (nc_config_source (c, "NORNICDB_BOLT_PORT"), ==, "default");
}

static void
test_env_overrides_default (void)
{
  const char *env[] = { "NORNICDB_CLUSTER_MODE=raft", "NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT=500ms",
                        "NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT=50ms", "OTHER=1", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NcConfig) c = load_env (env, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (nc_config_get (c, "NORNICDB_CLUSTER_MODE"), ==, "raft");
  g_assert_cmpint (nc_config_get_duration_ms (c, "NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT"), ==, 500);
  g_assert_cmpstr (nc_config_source (c, "NORNICDB_CLUSTER_MODE"), ==, "env");
}

static void
test_file_then_env_then_cli (void)
{
  g_autofree char *path = g_build_filename (g_get_tmp_dir (), "nornicdb-test-config.conf", NULL);
  g_assert_true (g_file_set_contents (path, "[nornicdb]\nBOLT_PORT=7000\nNORNICDB_HTTP_PORT=7001\nNORNICDB_LOG_LEVEL=debug\n", -1, NULL));
  const char *env[] = { "NORNICDB_HTTP_PORT=7002", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NcConfig) c = nc_config_new ();
  g_assert_true (nc_config_load (c, path, (gchar **) env, &error));
  g_assert_no_error (error);
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_BOLT_PORT"), ==, 7000);
  g_assert_cmpstr (nc_config_source (c, "NORNICDB_BOLT_PORT"), ==, "file");
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_HTTP_PORT"), ==, 7002);
  g_assert_true (nc_config_set (c, "NORNICDB_HTTP_PORT", "7003", "cli", &error));
  g_assert_cmpint (nc_config_get_int (c, "NORNICDB_HTTP_PORT"), ==, 7003);
  g_unlink (path);
}

typedef struct {
  const char *assignment;
  const char *must_mention;
} BadCase;

static void
test_bad_values_are_rejected_with_name_value_and_allowed (void)
{
  static const BadCase cases[] = {
    { "NORNICDB_CLUSTER_MODE=paxos", "one of: standalone, ha_standby, raft, multi_region" },
    { "NORNICDB_BOLT_PORT=70000", "1 to 65535" },
    { "NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT=soon", "duration" },
    { "NORNICDB_CLUSTER_HA_AUTO_FAILOVER=maybe", "true or false" },
    { "NORNICDB_CLUSTER_HA_HEARTBEAT_MS=0", "10 to 600000" },
    { "NORNICDB_CLUSTER_BIND_ADDR=nowhere", "host:port" },
    { "NORNICDB_CLUSTER_RAFT_PEERS=node-2:node2", "id:host:port" },
    { "NORNICDB_CLUSTER_HA_SYNC_MODE=fast", "async, semi_sync, sync" },
    { "NORNICDB_CLUSTER_TLS_MIN_VERSION=1.1", "1.2, 1.3" },
    { "NORNICDB_AUTH=admin", "user:password" },
    { "NORNICDB_HTTP_MAX_BODY=lots", "size" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *env[] = { cases[i].assignment, NULL };
      g_autoptr (GError) error = NULL;
      g_autoptr (NcConfig) c = load_env (env, &error);
      g_assert_null (c);
      g_assert_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID);
      g_autofree char *name = g_strndup (cases[i].assignment, strchr (cases[i].assignment, '=') - cases[i].assignment);
      g_assert_nonnull (strstr (error->message, name));
      if (!g_str_has_prefix (cases[i].assignment, "NORNICDB_AUTH"))
        g_assert_nonnull (strstr (error->message, strchr (cases[i].assignment, '=') + 1));
      g_assert_nonnull (strstr (error->message, cases[i].must_mention));
    }
}

static void
test_raft_timeouts_formula_is_enforced (void)
{
  const char *env[] = { "NORNICDB_CLUSTER_MODE=raft", "NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT=150ms",
                        "NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT=100ms", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NcConfig) c = load_env (env, &error);
  g_assert_null (c);
  g_assert_nonnull (strstr (error->message, "NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT"));
}

static void
test_ha_requires_role_and_peer (void)
{
  const char *env[] = { "NORNICDB_CLUSTER_MODE=ha_standby", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NcConfig) c = load_env (env, &error);
  g_assert_null (c);
  g_assert_nonnull (strstr (error->message, "NORNICDB_CLUSTER_HA_ROLE"));
}

static void
test_dump_masks_secrets (void)
{
  const char *env[] = { "NORNICDB_AUTH=alice:s3cret-pw", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NcConfig) c = load_env (env, &error);
  g_assert_no_error (error);
  g_autofree char *dump = nc_config_dump (c);
  g_assert_null (strstr (dump, "s3cret-pw"));
  g_assert_nonnull (strstr (dump, "NORNICDB_AUTH=alice:********"));
  g_assert_nonnull (strstr (dump, "NORNICDB_CLUSTER_MODE=standalone"));
}

static void
test_durations_parse (void)
{
  gint64 ms;
  g_assert_true (nc_parse_duration_ms ("100ms", "s", &ms)); g_assert_cmpint (ms, ==, 100);
  g_assert_true (nc_parse_duration_ms ("1s", "s", &ms)); g_assert_cmpint (ms, ==, 1000);
  g_assert_true (nc_parse_duration_ms ("30s", "s", &ms)); g_assert_cmpint (ms, ==, 30000);
  g_assert_true (nc_parse_duration_ms ("1m30s", "s", &ms)); g_assert_cmpint (ms, ==, 90000);
  g_assert_true (nc_parse_duration_ms ("300", "s", &ms)); g_assert_cmpint (ms, ==, 300000);
  g_assert_true (nc_parse_duration_ms ("250", "ms", &ms)); g_assert_cmpint (ms, ==, 250);
  g_assert_false (nc_parse_duration_ms ("-1s", "s", &ms));
  g_assert_false (nc_parse_duration_ms ("1 fortnight", "s", &ms));
  g_assert_false (nc_parse_duration_ms ("", "s", &ms));
}

static void
test_module_loader_rejects_broken_modules (void)
{
  static const struct { const char *file; const char *mention; } cases[] = {
    { "bad-abi.so", "ABI 99.0" },
    { "no-entry.so", "nornic_module_entry" },
    { "small-vtable.so", "too small" },
    { "does-not-exist.so", "not found" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_build_filename (NC_TEST_BUILDDIR, "modules", cases[i].file, NULL);
      GModule *m = NULL;
      const NornicModuleInfo *info = NULL;
      g_autoptr (GError) error = NULL;
      g_assert_false (nc_module_load (path, &m, &info, &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, cases[i].file));
      if (strstr (error->message, cases[i].mention) == NULL)
        g_error ("%s: expected '%s' in: %s", cases[i].file, cases[i].mention, error->message);
    }
}

static void
test_module_loader_accepts_standalone (void)
{
  g_autofree char *path = g_build_filename (NC_BUILD_MODULEDIR_TEST, "standalone", "standalone.so", NULL);
  GModule *m = NULL;
  const NornicModuleInfo *info = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (nc_module_load (path, &m, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (info->name, ==, "standalone");
  g_module_close (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/config/defaults-match-guide", test_defaults_match_guide);
  g_test_add_func ("/nornic/config/env-overrides-default", test_env_overrides_default);
  g_test_add_func ("/nornic/config/file-then-env-then-cli", test_file_then_env_then_cli);
  g_test_add_func ("/nornic/config/bad-values-are-rejected-with-name-value-and-allowed", test_bad_values_are_rejected_with_name_value_and_allowed);
  g_test_add_func ("/nornic/config/raft-timeouts-formula-is-enforced", test_raft_timeouts_formula_is_enforced);
  g_test_add_func ("/nornic/config/ha-requires-role-and-peer", test_ha_requires_role_and_peer);
  g_test_add_func ("/nornic/config/dump-masks-secrets", test_dump_masks_secrets);
  g_test_add_func ("/nornic/config/durations-parse", test_durations_parse);
  g_test_add_func ("/nornic/modules/loader-rejects-broken-modules", test_module_loader_rejects_broken_modules);
  g_test_add_func ("/nornic/modules/loader-accepts-standalone", test_module_loader_accepts_standalone);
  return g_test_run ();
}
