#define G_LOG_DOMAIN "nornicdb-config"

#include "config.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>

#include "nc-build-config.h"

G_DEFINE_QUARK (nc-config-error-quark, nc_config_error)

/* The one table: name, type, default, allowed, secret, reloadable, help. */
static const NcConfEntry table[] = {
  /* core */
  { "NORNICDB_DATA_DIR", NC_CONF_PATH, "./data", NULL, FALSE, FALSE, N_("Directory holding the WAL, snapshots, users and module state") },
  { "NORNICDB_LOG_LEVEL", NC_CONF_ENUM, "info", "error|warning|message|info|debug", FALSE, TRUE, N_("Log verbosity") },
  { "NORNICDB_AUTH", NC_CONF_AUTH, "admin:admin", NULL, TRUE, FALSE, N_("Initial admin account \"user:password\" (or \"user/password\") created on first start; \"none\" disables authentication") },
  { "NORNICDB_MODULE_DIR", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("Directory with the replication modules (default: the build tree when run from it, else the installed module directory)") },
  { "NORNICDB_TX_TIMEOUT", NC_CONF_DURATION, "0", "s", FALSE, TRUE, N_("Default transaction timeout; 0 means no limit (clients may set their own)") },
  { "NORNICDB_BOOKMARK_TIMEOUT", NC_CONF_DURATION, "10s", "s", FALSE, TRUE, N_("How long a transaction waits for this node to reach a client's bookmark") },
  { "NORNICDB_QUERY_MEMORY_LIMIT", NC_CONF_SIZE, "2GiB", NULL, FALSE, TRUE, N_("Memory one query may hold for sorting, aggregation and collecting; 0 means no limit") },
  { "NORNICDB_QUERY_CACHE_SIZE", NC_CONF_INT, "1000", "0..1000000", FALSE, FALSE, N_("Number of query plans cached by query text") },
  { "NORNICDB_WAL_SEGMENT_SIZE", NC_CONF_SIZE, "64MiB", NULL, FALSE, FALSE, N_("WAL segment file size") },
  { "NORNICDB_SNAPSHOT_INTERVAL", NC_CONF_DURATION, "15m", "s", FALSE, TRUE, N_("Time between automatic snapshots (when the WAL has grown); 0 disables the schedule") },
  { "NORNICDB_SNAPSHOT_THRESHOLD", NC_CONF_INT, "100000", "0..1000000000", FALSE, TRUE, N_("WAL records since the last snapshot that trigger a snapshot; 0 disables") },
  { "NORNICDB_SNAPSHOT_KEEP", NC_CONF_INT, "2", "1..100", FALSE, TRUE, N_("Number of snapshot files kept") },

  /* Bolt */
  { "NORNICDB_BOLT_ADDRESS", NC_CONF_STRING, "0.0.0.0", NULL, FALSE, FALSE, N_("Address the Bolt server listens on") },
  { "NORNICDB_BOLT_PORT", NC_CONF_PORT, "7687", NULL, FALSE, FALSE, N_("Bolt port") },
  { "NORNICDB_BOLT_ADVERTISE_ADDRESS", NC_CONF_HOSTPORT, NULL, NULL, FALSE, FALSE, N_("Bolt host:port told to drivers in routing tables (default: this host's name and the Bolt port)") },
  { "NORNICDB_BOLT_TLS_ENABLED", NC_CONF_BOOL, "false", NULL, FALSE, FALSE, N_("Require TLS on the Bolt port") },
  { "NORNICDB_BOLT_TLS_CERT", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("Bolt TLS certificate (PEM)") },
  { "NORNICDB_BOLT_TLS_KEY", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("Bolt TLS private key (PEM)") },
  { "NORNICDB_BOLT_TLS_CLIENT_CA", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("CA for client certificates; when set, Bolt clients must present one") },
  { "NORNICDB_BOLT_MAX_CONNECTIONS", NC_CONF_INT, "1000", "1..100000", FALSE, FALSE, N_("Maximum concurrent Bolt connections") },
  { "NORNICDB_BOLT_MAX_MESSAGE_SIZE", NC_CONF_SIZE, "64MiB", NULL, FALSE, FALSE, N_("Largest Bolt message accepted") },
  { "NORNICDB_BOLT_IDLE_TIMEOUT", NC_CONF_DURATION, "30m", "s", FALSE, FALSE, N_("Idle Bolt connections are closed after this long") },

  /* HTTP */
  { "NORNICDB_HTTP_ADDRESS", NC_CONF_STRING, "0.0.0.0", NULL, FALSE, FALSE, N_("Address the HTTP server listens on") },
  { "NORNICDB_HTTP_PORT", NC_CONF_PORT, "7474", NULL, FALSE, FALSE, N_("HTTP port (health, metrics, admin, transaction API)") },
  { "NORNICDB_HTTP_ADVERTISE_ADDRESS", NC_CONF_HOSTPORT, NULL, NULL, FALSE, FALSE, N_("HTTP host:port used in URLs the server hands out") },
  { "NORNICDB_HTTPS_ENABLED", NC_CONF_BOOL, "false", NULL, FALSE, FALSE, N_("Serve HTTPS as well") },
  { "NORNICDB_HTTPS_PORT", NC_CONF_PORT, "7473", NULL, FALSE, FALSE, N_("HTTPS port") },
  { "NORNICDB_HTTPS_CERT_FILE", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("HTTPS certificate (PEM)") },
  { "NORNICDB_HTTPS_KEY_FILE", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("HTTPS private key (PEM)") },
  { "NORNICDB_HTTP_MAX_BODY", NC_CONF_SIZE, "16MiB", NULL, FALSE, FALSE, N_("Largest HTTP request body accepted") },
  { "NORNICDB_HTTP_TX_TIMEOUT", NC_CONF_DURATION, "60s", "s", FALSE, TRUE, N_("Open HTTP transactions are rolled back after this long without a request") },
  { "NORNICDB_HEALTH_AUTH", NC_CONF_BOOL, "false", NULL, FALSE, TRUE, N_("Require authentication for /health") },
  { "NORNICDB_METRICS_AUTH", NC_CONF_BOOL, "false", NULL, FALSE, TRUE, N_("Require authentication for /metrics") },

  /* cluster (clustering guide) */
  { "NORNICDB_CLUSTER_MODE", NC_CONF_ENUM, "standalone", "standalone|ha_standby|raft|multi_region", FALSE, FALSE, N_("Replication mode") },
  { "NORNICDB_CLUSTER_NODE_ID", NC_CONF_STRING, NULL, NULL, FALSE, FALSE, N_("Unique node identifier (default: generated once and kept in the data directory)") },
  { "NORNICDB_CLUSTER_BIND_ADDR", NC_CONF_HOSTPORT, "0.0.0.0:7688", NULL, FALSE, FALSE, N_("Address to bind for cluster traffic") },
  { "NORNICDB_CLUSTER_ADVERTISE_ADDR", NC_CONF_HOSTPORT, NULL, NULL, FALSE, FALSE, N_("Cluster address advertised to peers (default: the bind address)") },
  { "NORNICDB_CLUSTER_DATA_DIR", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("Directory for replication state (default: <data dir>/replication)") },
  { "NORNICDB_CLUSTER_DEBUG", NC_CONF_BOOL, "false", NULL, FALSE, TRUE, N_("Debug logging for replication") },
  { "NORNICDB_CLUSTER_HA_ROLE", NC_CONF_ENUM, NULL, "primary|standby", FALSE, FALSE, N_("Hot standby role (required in ha_standby mode)") },
  { "NORNICDB_CLUSTER_HA_PEER_ADDR", NC_CONF_HOSTPORT, NULL, NULL, FALSE, FALSE, N_("Cluster address of the peer (required in ha_standby mode)") },
  { "NORNICDB_CLUSTER_HA_SYNC_MODE", NC_CONF_ENUM, "semi_sync", "async|semi_sync|sync", FALSE, FALSE, N_("When a write is acknowledged in ha_standby mode") },
  { "NORNICDB_CLUSTER_HA_HEARTBEAT_MS", NC_CONF_INT, "1000", "10..600000", FALSE, FALSE, N_("Heartbeat interval in milliseconds") },
  { "NORNICDB_CLUSTER_HA_FAILOVER_TIMEOUT", NC_CONF_DURATION, "30s", "s", FALSE, FALSE, N_("Time without the primary before the standby takes over") },
  { "NORNICDB_CLUSTER_HA_AUTO_FAILOVER", NC_CONF_BOOL, "true", NULL, FALSE, FALSE, N_("Let the standby promote itself automatically") },
  { "NORNICDB_CLUSTER_HA_WAL_BATCH_SIZE", NC_CONF_INT, "1000", "1..1000000", FALSE, FALSE, N_("WAL records per replication batch") },
  { "NORNICDB_CLUSTER_HA_STANDBY_TIMEOUT", NC_CONF_DURATION, "10s", "s", FALSE, FALSE, N_("How long semi_sync/sync commits wait for an unreachable standby before NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS applies") },
  { "NORNICDB_CLUSTER_HA_ON_STANDBY_LOSS", NC_CONF_ENUM, "degrade", "degrade|block", FALSE, FALSE, N_("semi_sync/sync with the standby lost: degrade (commit as async after the timeout) or block (commits wait for the standby)") },
  { "NORNICDB_CLUSTER_RAFT_CLUSTER_ID", NC_CONF_STRING, "nornicdb", NULL, FALSE, FALSE, N_("Cluster identifier, checked on every message") },
  { "NORNICDB_CLUSTER_RAFT_BOOTSTRAP", NC_CONF_BOOL, "false", NULL, FALSE, FALSE, N_("Bootstrap a new cluster from this node") },
  { "NORNICDB_CLUSTER_RAFT_PEERS", NC_CONF_PEERS, NULL, NULL, FALSE, FALSE, N_("Other members as \"id:host:port,...\"") },
  { "NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT", NC_CONF_DURATION, "1s", "s", FALSE, FALSE, N_("Time before a follower starts an election") },
  { "NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT", NC_CONF_DURATION, "100ms", "s", FALSE, FALSE, N_("Leader heartbeat interval") },
  { "NORNICDB_CLUSTER_RAFT_SNAPSHOT_INTERVAL", NC_CONF_DURATION, "300", "s", FALSE, FALSE, N_("Seconds between snapshots") },
  { "NORNICDB_CLUSTER_RAFT_SNAPSHOT_THRESHOLD", NC_CONF_INT, "10000", "1..1000000000", FALSE, FALSE, N_("Log entries before a snapshot") },
  { "NORNICDB_CLUSTER_RAFT_TRAILING_LOGS", NC_CONF_INT, "10000", "0..1000000000", FALSE, FALSE, N_("Log entries kept after a snapshot") },
  { "NORNICDB_CLUSTER_RAFT_MAX_APPEND_ENTRIES", NC_CONF_INT, "64", "1..100000", FALSE, FALSE, N_("Maximum entries per AppendEntries message") },
  { "NORNICDB_CLUSTER_RAFT_LINEARIZABLE_READS", NC_CONF_BOOL, "false", NULL, FALSE, FALSE, N_("Raft: every transaction first confirms the leader's commit index with a quorum (ReadIndex) and waits until this node has applied it, so reads on any node see every write acknowledged before they began (costs a round trip per transaction)") },
  { "NORNICDB_CLUSTER_REGION_ID", NC_CONF_STRING, NULL, NULL, FALSE, FALSE, N_("Region identifier (required in multi_region mode)") },
  { "NORNICDB_CLUSTER_REMOTE_REGIONS", NC_CONF_REGIONS, NULL, NULL, FALSE, FALSE, N_("Remote regions as \"region:host:port,...\"") },
  { "NORNICDB_CLUSTER_CROSS_REGION_MODE", NC_CONF_ENUM, "async", "async|semi_sync", FALSE, FALSE, N_("Cross-region replication mode") },
  { "NORNICDB_CLUSTER_CONFLICT_STRATEGY", NC_CONF_ENUM, "last_write_wins", "last_write_wins|manual", FALSE, FALSE, N_("Conflict resolution between regions") },
  { "NORNICDB_CLUSTER_READ_CONSISTENCY", NC_CONF_ENUM, "LOCAL_ONE", "ONE|LOCAL_ONE|QUORUM|LOCAL_QUORUM|ALL", FALSE, FALSE, N_("Default read consistency of a transaction in multi_region mode (Bolt tx metadata \"consistency\" overrides it)") },
  { "NORNICDB_CLUSTER_TLS_ENABLED", NC_CONF_BOOL, "false", NULL, FALSE, FALSE, N_("TLS for cluster traffic") },
  { "NORNICDB_CLUSTER_TLS_CERT_FILE", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("Cluster TLS certificate (PEM)") },
  { "NORNICDB_CLUSTER_TLS_KEY_FILE", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("Cluster TLS private key (PEM)") },
  { "NORNICDB_CLUSTER_TLS_CA_FILE", NC_CONF_PATH, NULL, NULL, FALSE, FALSE, N_("CA certificate for mutual TLS") },
  { "NORNICDB_CLUSTER_TLS_VERIFY_CLIENT", NC_CONF_BOOL, "false", NULL, FALSE, FALSE, N_("Require peers to present a certificate signed by the CA") },
  { "NORNICDB_CLUSTER_TLS_MIN_VERSION", NC_CONF_ENUM, "1.2", "1.2|1.3", FALSE, FALSE, N_("Minimum TLS version for cluster traffic") },
  { NULL }
};

typedef struct {
  char *value;
  const char *source;
} Setting;

struct _NcConfig {
  Setting *settings; /* parallel to table */
  guint n;
};

const NcConfEntry *
nc_config_table (void)
{
  return table;
}

static int
entry_index (const char *name)
{
  for (int i = 0; table[i].name != NULL; i++)
    if (strcmp (table[i].name, name) == 0)
      return i;
  return -1;
}

NcConfig *
nc_config_new (void)
{
  NcConfig *c = g_new0 (NcConfig, 1);
  while (table[c->n].name != NULL)
    c->n++;
  c->settings = g_new0 (Setting, c->n);
  for (guint i = 0; i < c->n; i++)
    {
      c->settings[i].value = g_strdup (table[i].default_value);
      c->settings[i].source = "default";
    }
  return c;
}

void
nc_config_free (NcConfig *config)
{
  if (config == NULL)
    return;
  for (guint i = 0; i < config->n; i++)
    g_free (config->settings[i].value);
  g_free (config->settings);
  g_free (config);
}

/* ---- parsers ------------------------------------------------------------- */

gboolean
nc_parse_bool (const char *text, gboolean *out)
{
  static const char *const yes[] = { "true", "1", "yes", "on" };
  static const char *const no[] = { "false", "0", "no", "off" };
  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (g_ascii_strcasecmp (text, yes[i]) == 0)
        {
          *out = TRUE;
          return TRUE;
        }
      if (g_ascii_strcasecmp (text, no[i]) == 0)
        {
          *out = FALSE;
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
nc_parse_duration_ms (const char *text, const char *bare_unit, gint64 *out_ms)
{
  const char *p = text;
  gint64 total = 0;
  gboolean any = FALSE;

  if (text == NULL || *text == '\0')
    return FALSE;
  /* A bare number uses the entry's unit. */
  {
    char *end = NULL;
    errno = 0;
    gint64 n = g_ascii_strtoll (text, &end, 10);
    if (errno == 0 && end != text && *end == '\0')
      {
        if (n < 0)
          return FALSE;
        gint64 mul = (bare_unit != NULL && strcmp (bare_unit, "ms") == 0) ? 1 : 1000;
        if (n > G_MAXINT64 / mul)
          return FALSE;
        *out_ms = n * mul;
        return TRUE;
      }
  }
  /* One or more "<number><unit>" parts: 1h30m, 1.5s, 100ms. */
  while (*p != '\0')
    {
      char *end = NULL;
      errno = 0;
      double n = g_ascii_strtod (p, &end);
      if (errno != 0 || end == p || n < 0)
        return FALSE;
      p = end;
      double mul;
      if (g_str_has_prefix (p, "ms")) { mul = 1; p += 2; }
      else if (g_str_has_prefix (p, "us")) { mul = 0.001; p += 2; }
      else if (*p == 's') { mul = 1000; p += 1; }
      else if (*p == 'm') { mul = 60000; p += 1; }
      else if (*p == 'h') { mul = 3600000; p += 1; }
      else if (*p == 'd') { mul = 86400000; p += 1; }
      else
        return FALSE;
      double v = n * mul;
      if (v > 9.0e15)
        return FALSE;
      total += (gint64) v;
      any = TRUE;
    }
  if (!any)
    return FALSE;
  *out_ms = total;
  return TRUE;
}

static gboolean
parse_size (const char *text, guint64 *out)
{
  char *end = NULL;
  errno = 0;
  if (text == NULL || !g_ascii_isdigit (*text))
    return FALSE;
  guint64 n = g_ascii_strtoull (text, &end, 10);
  if (errno != 0)
    return FALSE;
  while (*end == ' ')
    end++;
  static const struct { const char *suffix; guint64 mul; } units[] = {
    { "", 1 }, { "B", 1 },
    { "K", 1024 }, { "KB", 1000 }, { "KiB", 1024 },
    { "M", 1024 * 1024 }, { "MB", 1000 * 1000 }, { "MiB", 1024 * 1024 },
    { "G", 1024 * 1024 * 1024 }, { "GB", 1000 * 1000 * 1000 }, { "GiB", 1024 * 1024 * 1024 },
    { "TB", G_GUINT64_CONSTANT (1000000000000) }, { "TiB", G_GUINT64_CONSTANT (1099511627776) },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (g_ascii_strcasecmp (end, units[i].suffix) == 0)
      {
        if (units[i].mul != 0 && n > G_MAXUINT64 / units[i].mul)
          return FALSE;
        *out = n * units[i].mul;
        return TRUE;
      }
  return FALSE;
}

gboolean
nc_parse_hostport (const char *text, char **host, guint16 *port)
{
  const char *colon;
  g_autofree char *h = NULL;

  if (text == NULL)
    return FALSE;
  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');
      if (close == NULL || close[1] != ':')
        return FALSE;
      h = g_strndup (text + 1, close - text - 1);
      colon = close + 1;
    }
  else
    {
      colon = strrchr (text, ':');
      if (colon == NULL || colon == text)
        return FALSE;
      h = g_strndup (text, colon - text);
      if (strchr (h, ':') != NULL)
        return FALSE;
    }
  char *end = NULL;
  errno = 0;
  gint64 p = g_ascii_strtoll (colon + 1, &end, 10);
  if (errno != 0 || end == colon + 1 || *end != '\0' || p < 1 || p > 65535)
    return FALSE;
  for (const char *c = h; *c; c++)
    if (g_ascii_isspace (*c) || *c == ',' || *c == '/')
      return FALSE;
  if (host)
    *host = g_steal_pointer (&h);
  if (port)
    *port = (guint16) p;
  return TRUE;
}

/* "id:host:port,..." (PEERS) or "region:host:port,..." (REGIONS). */
static gboolean
parse_id_hostport_list (const char *text)
{
  if (text == NULL || *text == '\0')
    return TRUE;
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_strstrip (parts[i]);
      const char *colon = strchr (parts[i], ':');
      if (colon == NULL || colon == parts[i])
        return FALSE;
      if (!nc_parse_hostport (colon + 1, NULL, NULL))
        return FALSE;
    }
  return TRUE;
}

static gboolean
enum_allows (const char *allowed, const char *value)
{
  g_auto (GStrv) parts = g_strsplit (allowed, "|", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (strcmp (parts[i], value) == 0)
      return TRUE;
  return FALSE;
}

static char *
allowed_text (const NcConfEntry *e)
{
  switch (e->type)
    {
    case NC_CONF_ENUM:
      {
        g_auto (GStrv) parts = g_strsplit (e->allowed, "|", -1);
        g_autofree char *joined = g_strjoinv (", ", parts);
        return g_strdup_printf (_("one of: %s"), joined);
      }
    case NC_CONF_INT:
      {
        g_auto (GStrv) parts = g_strsplit (e->allowed ? e->allowed : "", "..", 2);
        if (parts[0] && parts[1])
          return g_strdup_printf (_("an integer from %s to %s"), parts[0], parts[1]);
        return g_strdup (_("an integer"));
      }
    case NC_CONF_BOOL: return g_strdup (_("true or false"));
    case NC_CONF_DURATION:
      return g_strdup_printf (_("a duration such as 100ms, 1s, 30s, 5m (a bare number means %s)"),
                              e->allowed && strcmp (e->allowed, "ms") == 0 ? _("milliseconds") : _("seconds"));
    case NC_CONF_PORT: return g_strdup (_("a port from 1 to 65535"));
    case NC_CONF_HOSTPORT: return g_strdup (_("host:port with a port from 1 to 65535"));
    case NC_CONF_PEERS: return g_strdup (_("a comma-separated list of id:host:port"));
    case NC_CONF_REGIONS: return g_strdup (_("a comma-separated list of region:host:port"));
    case NC_CONF_SIZE: return g_strdup (_("a size such as 1048576, 64MiB or 1GB"));
    case NC_CONF_AUTH: return g_strdup (_("user:password, user/password, or none"));
    default: return g_strdup (_("a non-empty value"));
    }
}

static gboolean
value_valid (const NcConfEntry *e, const char *value)
{
  switch (e->type)
    {
    case NC_CONF_STRING:
    case NC_CONF_PATH:
      return value[0] != '\0';
    case NC_CONF_INT:
      {
        char *end = NULL;
        errno = 0;
        gint64 n = g_ascii_strtoll (value, &end, 10);
        if (errno != 0 || end == value || *end != '\0')
          return FALSE;
        if (e->allowed)
          {
            g_auto (GStrv) parts = g_strsplit (e->allowed, "..", 2);
            if (parts[0] && parts[1] &&
                (n < g_ascii_strtoll (parts[0], NULL, 10) || n > g_ascii_strtoll (parts[1], NULL, 10)))
              return FALSE;
          }
        return TRUE;
      }
    case NC_CONF_BOOL:
      {
        gboolean b;
        return nc_parse_bool (value, &b);
      }
    case NC_CONF_DURATION:
      {
        gint64 ms;
        return nc_parse_duration_ms (value, e->allowed, &ms);
      }
    case NC_CONF_ENUM:
      return enum_allows (e->allowed, value);
    case NC_CONF_PORT:
      {
        char *end = NULL;
        errno = 0;
        gint64 n = g_ascii_strtoll (value, &end, 10);
        return errno == 0 && end != value && *end == '\0' && n >= 1 && n <= 65535;
      }
    case NC_CONF_HOSTPORT:
      return nc_parse_hostport (value, NULL, NULL);
    case NC_CONF_PEERS:
    case NC_CONF_REGIONS:
      return parse_id_hostport_list (value);
    case NC_CONF_SIZE:
      {
        guint64 s;
        return parse_size (value, &s);
      }
    case NC_CONF_AUTH:
      return strcmp (value, "none") == 0 ||
             ((strchr (value, ':') != NULL || strchr (value, '/') != NULL) &&
              value[0] != ':' && value[0] != '/' &&
              value[strlen (value) - 1] != ':' && value[strlen (value) - 1] != '/');
    }
  return FALSE;
}

gboolean
nc_config_set (NcConfig *config, const char *name, const char *value, const char *source,
               GError **error)
{
  int i = entry_index (name);
  if (i < 0)
    {
      g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                   _("unknown configuration variable %s"), name);
      return FALSE;
    }
  const NcConfEntry *e = &table[i];
  g_autofree char *trimmed = g_strstrip (g_strdup (value));
  if (!value_valid (e, trimmed))
    {
      g_autofree char *allowed = allowed_text (e);
      g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                   _("invalid value for %s: \"%s\" (from %s); expected %s"),
                   name, e->secret ? "********" : trimmed, source, allowed);
      return FALSE;
    }
  g_free (config->settings[i].value);
  config->settings[i].value = g_steal_pointer (&trimmed);
  config->settings[i].source = source;
  return TRUE;
}

static gboolean
load_file (NcConfig *config, const char *file, gboolean required, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;

  if (!g_key_file_load_from_file (kf, file, G_KEY_FILE_NONE, &local))
    {
      if (!required && g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_FILE,
                   _("cannot read configuration file %s: %s"), file, local->message);
      return FALSE;
    }
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  for (guint g = 0; groups[g] != NULL; g++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (kf, groups[g], NULL, NULL);
      for (guint k = 0; keys && keys[k] != NULL; k++)
        {
          g_autofree char *v = g_key_file_get_string (kf, groups[g], keys[k], NULL);
          /* Keys may be written as NORNICDB_X or in the short form X. */
          g_autofree char *name = g_str_has_prefix (keys[k], "NORNICDB_")
                                    ? g_strdup (keys[k]) : g_strconcat ("NORNICDB_", keys[k], NULL);
          if (entry_index (name) < 0)
            {
              g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                           _("unknown configuration key %s in %s"), keys[k], file);
              return FALSE;
            }
          if (v == NULL || !nc_config_set (config, name, v, "file", error))
            {
              if (error && *error)
                g_prefix_error (error, "%s: ", file);
              return FALSE;
            }
        }
    }
  return TRUE;
}

gboolean
nc_config_load (NcConfig *config, const char *file, gchar **envp, GError **error)
{
  g_auto (GStrv) own_env = NULL;

  if (file != NULL)
    {
      if (!load_file (config, file, TRUE, error))
        return FALSE;
    }
  else
    {
      g_autofree char *def = g_build_filename ("/", NC_SYSCONFDIR, "nornicdb.conf", NULL);
      if (!load_file (config, def, FALSE, error))
        return FALSE;
    }

  if (envp == NULL)
    envp = own_env = g_get_environ ();
  for (guint i = 0; envp[i] != NULL; i++)
    {
      if (!g_str_has_prefix (envp[i], "NORNICDB_"))
        continue;
      const char *eq = strchr (envp[i], '=');
      if (eq == NULL)
        continue;
      g_autofree char *name = g_strndup (envp[i], eq - envp[i]);
      if (entry_index (name) < 0)
        {
          /* An unknown variable is most likely a typo: say so, don't stop. */
          g_warning (_("Ignoring unknown environment variable %s"), name);
          continue;
        }
      if (!nc_config_set (config, name, eq + 1, "env", error))
        return FALSE;
    }
  return TRUE;
}

gboolean
nc_config_reload (NcConfig *config, const char *file, GError **error)
{
  g_autoptr (NcConfig) fresh = nc_config_new ();
  if (!nc_config_load (fresh, file, NULL, error) || !nc_config_validate (fresh, error))
    return FALSE;
  for (guint i = 0; i < config->n; i++)
    {
      /* Command-line values stay. */
      if (strcmp (config->settings[i].source, "cli") == 0)
        continue;
      if (g_strcmp0 (config->settings[i].value, fresh->settings[i].value) == 0)
        continue;
      if (!table[i].reloadable)
        {
          g_warning (_("%s changed but needs a restart to take effect"), table[i].name);
          continue;
        }
      g_free (config->settings[i].value);
      config->settings[i].value = g_strdup (fresh->settings[i].value);
      config->settings[i].source = fresh->settings[i].source;
    }
  return TRUE;
}

gboolean
nc_config_validate (NcConfig *config, GError **error)
{
  const char *mode = nc_config_get (config, "NORNICDB_CLUSTER_MODE");

  if (strcmp (mode, "ha_standby") == 0)
    {
      if (nc_config_get (config, "NORNICDB_CLUSTER_HA_ROLE") == NULL)
        {
          g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                       _("NORNICDB_CLUSTER_HA_ROLE is required when NORNICDB_CLUSTER_MODE=ha_standby; expected primary or standby"));
          return FALSE;
        }
      if (nc_config_get (config, "NORNICDB_CLUSTER_HA_PEER_ADDR") == NULL)
        {
          g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                       _("NORNICDB_CLUSTER_HA_PEER_ADDR is required when NORNICDB_CLUSTER_MODE=ha_standby; expected host:port of the peer"));
          return FALSE;
        }
    }
  if (strcmp (mode, "raft") == 0 || strcmp (mode, "multi_region") == 0)
    {
      gint64 election = nc_config_get_duration_ms (config, "NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT");
      gint64 heartbeat = nc_config_get_duration_ms (config, "NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT");
      if (heartbeat <= 0 || election <= 2 * heartbeat)
        {
          g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                       _("NORNICDB_CLUSTER_RAFT_ELECTION_TIMEOUT (%" PRId64 "ms) must be greater than 2 × NORNICDB_CLUSTER_RAFT_HEARTBEAT_TIMEOUT (%" PRId64 "ms) plus the network round trip"),
                       election, heartbeat);
          return FALSE;
        }
    }
  if (strcmp (mode, "multi_region") == 0 && nc_config_get (config, "NORNICDB_CLUSTER_REGION_ID") == NULL)
    {
      g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                   _("NORNICDB_CLUSTER_REGION_ID is required when NORNICDB_CLUSTER_MODE=multi_region"));
      return FALSE;
    }
  static const char *const tls_pairs[][3] = {
    { "NORNICDB_BOLT_TLS_ENABLED", "NORNICDB_BOLT_TLS_CERT", "NORNICDB_BOLT_TLS_KEY" },
    { "NORNICDB_HTTPS_ENABLED", "NORNICDB_HTTPS_CERT_FILE", "NORNICDB_HTTPS_KEY_FILE" },
    { "NORNICDB_CLUSTER_TLS_ENABLED", "NORNICDB_CLUSTER_TLS_CERT_FILE", "NORNICDB_CLUSTER_TLS_KEY_FILE" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (tls_pairs); i++)
    if (nc_config_get_bool (config, tls_pairs[i][0]) &&
        (nc_config_get (config, tls_pairs[i][1]) == NULL || nc_config_get (config, tls_pairs[i][2]) == NULL))
      {
        g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                     _("%s=true needs %s and %s"), tls_pairs[i][0], tls_pairs[i][1], tls_pairs[i][2]);
        return FALSE;
      }
  if (nc_config_get_bool (config, "NORNICDB_CLUSTER_TLS_VERIFY_CLIENT") &&
      nc_config_get (config, "NORNICDB_CLUSTER_TLS_CA_FILE") == NULL)
    {
      g_set_error (error, NC_CONFIG_ERROR, NC_CONFIG_ERROR_INVALID,
                   _("NORNICDB_CLUSTER_TLS_VERIFY_CLIENT=true needs NORNICDB_CLUSTER_TLS_CA_FILE"));
      return FALSE;
    }
  return TRUE;
}

static const Setting *
lookup (NcConfig *config, const char *name, const NcConfEntry **entry)
{
  int i = entry_index (name);
  if (i < 0)
    {
      g_critical ("configuration variable %s is not in the table", name);
      return NULL;
    }
  if (entry)
    *entry = &table[i];
  return &config->settings[i];
}

const char *
nc_config_get (NcConfig *config, const char *name)
{
  const Setting *s = lookup (config, name, NULL);
  return s ? s->value : NULL;
}

const char *
nc_config_source (NcConfig *config, const char *name)
{
  const Setting *s = lookup (config, name, NULL);
  return s ? s->source : NULL;
}

gint64
nc_config_get_int (NcConfig *config, const char *name)
{
  const Setting *s = lookup (config, name, NULL);
  return (s && s->value) ? g_ascii_strtoll (s->value, NULL, 10) : 0;
}

gboolean
nc_config_get_bool (NcConfig *config, const char *name)
{
  const Setting *s = lookup (config, name, NULL);
  gboolean b = FALSE;
  if (s && s->value)
    nc_parse_bool (s->value, &b);
  return b;
}

gint64
nc_config_get_duration_ms (NcConfig *config, const char *name)
{
  const NcConfEntry *e = NULL;
  const Setting *s = lookup (config, name, &e);
  gint64 ms = 0;
  if (s && s->value)
    nc_parse_duration_ms (s->value, e->allowed, &ms);
  return ms;
}

guint64
nc_config_get_size (NcConfig *config, const char *name)
{
  const Setting *s = lookup (config, name, NULL);
  guint64 n = 0;
  if (s && s->value)
    parse_size (s->value, &n);
  return n;
}

char *
nc_config_dump (NcConfig *config)
{
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < config->n; i++)
    {
      const char *v = config->settings[i].value;
      g_autofree char *shown = NULL;
      if (v == NULL)
        shown = g_strdup ("");
      else if (table[i].secret)
        {
          /* Keep the user name of "user:password", mask the rest. */
          const char *sep = strpbrk (v, ":/");
          shown = (sep && table[i].type == NC_CONF_AUTH)
                    ? g_strdup_printf ("%.*s%c********", (int) (sep - v), v, *sep)
                    : g_strdup (strcmp (v, "none") == 0 ? "none" : "********");
        }
      else
        shown = g_strdup (v);
      g_string_append_printf (out, "%s=%s\t# %s\n", table[i].name, shown, config->settings[i].source);
    }
  return g_string_free (out, FALSE);
}

static const char *
type_label (NcConfType t)
{
  switch (t)
    {
    case NC_CONF_STRING: return "string";
    case NC_CONF_INT: return "integer";
    case NC_CONF_BOOL: return "boolean";
    case NC_CONF_DURATION: return "duration";
    case NC_CONF_ENUM: return "enum";
    case NC_CONF_PORT: return "port";
    case NC_CONF_HOSTPORT: return "host:port";
    case NC_CONF_PEERS: return "peer list";
    case NC_CONF_REGIONS: return "region list";
    case NC_CONF_SIZE: return "size";
    case NC_CONF_PATH: return "path";
    case NC_CONF_AUTH: return "credentials";
    }
  return "";
}

char *
nc_config_reference_markdown (void)
{
  GString *out = g_string_new (
    "# Configuration reference\n\n"
    "Generated from the configuration table in `core/config.c` by\n"
    "`nornicdb --config-reference`; a test fails when this file and the table\n"
    "differ. Precedence: built-in default < configuration file < environment <\n"
    "command line. In the configuration file (`[nornicdb]` group) a key may be\n"
    "written with or without the `NORNICDB_` prefix.\n\n"
    "Durations accept `100ms`, `1s`, `30s`, `5m`, `1h` (a bare number means\n"
    "seconds, or milliseconds where noted); sizes accept `1048576`, `64MiB`,\n"
    "`1GB`. Variables marked reloadable take effect on SIGHUP.\n\n"
    "| Variable | Type | Default | Allowed | Reloadable | Description |\n"
    "| --- | --- | --- | --- | --- | --- |\n");
  for (guint i = 0; table[i].name != NULL; i++)
    {
      const NcConfEntry *e = &table[i];
      g_autofree char *allowed = NULL;
      if (e->type == NC_CONF_ENUM)
        {
          g_auto (GStrv) parts = g_strsplit (e->allowed, "|", -1);
          allowed = g_strjoinv (", ", parts);
        }
      else if (e->type == NC_CONF_INT && e->allowed)
        allowed = g_strdup (e->allowed);
      else if (e->type == NC_CONF_DURATION && e->allowed && strcmp (e->allowed, "ms") == 0)
        allowed = g_strdup ("bare number = ms");
      else
        allowed = g_strdup ("");
      g_string_append_printf (out, "| `%s` | %s | %s%s%s | %s | %s | %s |\n", e->name, type_label (e->type),
                              e->default_value ? "`" : "-", e->default_value ? e->default_value : "",
                              e->default_value ? "`" : "", allowed, e->reloadable ? "yes" : "no", e->help);
    }
  return g_string_free (out, FALSE);
}

char *
nc_config_default_file (void)
{
  GString *out = g_string_new (
    "# NornicDB configuration. Every key is listed with its default, commented\n"
    "# out. Environment variables (NORNICDB_*) override this file, and the\n"
    "# command line overrides both. See nornicdb(8) and docs/configuration.md.\n\n"
    "[nornicdb]\n");
  for (guint i = 0; table[i].name != NULL; i++)
    {
      const NcConfEntry *e = &table[i];
      g_string_append_printf (out, "\n# %s\n", e->help);
      if (e->type == NC_CONF_ENUM)
        g_string_append_printf (out, "# One of: %s\n", e->allowed);
      g_string_append_printf (out, "#%s=%s\n", e->name + strlen ("NORNICDB_"),
                              e->default_value ? e->default_value : "");
    }
  return g_string_free (out, FALSE);
}
