/* Configuration: one table drives parsing, defaults, validation, the
 * --check-config output and docs/configuration.md.
 *
 * Precedence: built-in default < config file (GKeyFile, [nornicdb] group,
 * keys are the variable names) < environment (NORNICDB_*) < command line.
 * Every value is validated at load; a bad one fails with
 * NC_CONFIG_ERROR_INVALID naming the variable, its value and what is
 * allowed (the daemon exits with code 2).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  NC_CONF_STRING,
  NC_CONF_INT,        /* with min/max */
  NC_CONF_BOOL,       /* true/false/1/0/yes/no/on/off */
  NC_CONF_DURATION,   /* "100ms", "1s", "30s", "5m", "1h"; bare number = the entry's unit */
  NC_CONF_ENUM,       /* one of `allowed` ("a|b|c") */
  NC_CONF_PORT,       /* 1..65535 */
  NC_CONF_HOSTPORT,   /* "host:port" */
  NC_CONF_PEERS,      /* "id:host:port,..." */
  NC_CONF_REGIONS,    /* "region:host:port,..." */
  NC_CONF_SIZE,       /* "64MB", "1GiB", bare number = bytes */
  NC_CONF_PATH,
  NC_CONF_AUTH,       /* "user:password", "user/password" or "none" */
} NcConfType;

typedef struct {
  const char *name;          /* NORNICDB_... */
  NcConfType type;
  const char *default_value; /* NULL = unset */
  const char *allowed;       /* ENUM values "a|b"; INT "min..max"; DURATION bare-number unit "ms"/"s" */
  gboolean secret;           /* masked in --check-config and logs */
  gboolean reloadable;       /* SIGHUP applies it */
  const char *help;          /* one line, translatable */
} NcConfEntry;

typedef struct _NcConfig NcConfig;

#define NC_CONFIG_ERROR (nc_config_error_quark ())
GQuark nc_config_error_quark (void);
typedef enum { NC_CONFIG_ERROR_INVALID, NC_CONFIG_ERROR_FILE } NcConfigError;

/* The table, terminated by an entry with name == NULL. */
const NcConfEntry *nc_config_table (void);

NcConfig *nc_config_new (void);
void nc_config_free (NcConfig *config);
/* Loads the file (NULL: /etc/nornicdb/nornicdb.conf when it exists), then
 * the environment (`envp`, NULL = the process environment). */
gboolean nc_config_load (NcConfig *config, const char *file, gchar **envp, GError **error);
/* Command-line overrides, applied last. */
gboolean nc_config_set (NcConfig *config, const char *name, const char *value,
                        const char *source, GError **error);
/* SIGHUP: re-reads file and environment; applies reloadable entries only
 * (others keep their running value, with a warning when they changed). */
gboolean nc_config_reload (NcConfig *config, const char *file, GError **error);
/* Cross-field checks (e.g. election timeout > 2 × heartbeat). */
gboolean nc_config_validate (NcConfig *config, GError **error);

/* Effective values. Lookups of names not in the table are a programming
 * error (g_critical, returns NULL/0). */
const char *nc_config_get (NcConfig *config, const char *name);
gint64 nc_config_get_int (NcConfig *config, const char *name);
gboolean nc_config_get_bool (NcConfig *config, const char *name);
gint64 nc_config_get_duration_ms (NcConfig *config, const char *name);
guint64 nc_config_get_size (NcConfig *config, const char *name);
/* Where the effective value came from: "default", "file", "env", "cli". */
const char *nc_config_source (NcConfig *config, const char *name);

/* "VAR=value   # source" lines, secrets masked. (transfer full) */
char *nc_config_dump (NcConfig *config);

/* The configuration reference as Markdown (docs/configuration.md is this
 * output; a test keeps them identical). (transfer full) */
char *nc_config_reference_markdown (void);
/* A configuration file with every key commented out at its default
 * (installed as /etc/nornicdb/nornicdb.conf). (transfer full) */
char *nc_config_default_file (void);

/* Parsers shared with modules and tests. */
gboolean nc_parse_duration_ms (const char *text, const char *bare_unit, gint64 *out_ms);
gboolean nc_parse_bool (const char *text, gboolean *out);
gboolean nc_parse_hostport (const char *text, char **host, guint16 *port);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcConfig, nc_config_free)

G_END_DECLS
