/* nornicdb: the daemon. Parses options and configuration, opens the
 * database (recovery + replication module), starts the protocol servers and
 * runs the GLib main loop until SIGTERM/SIGINT. */
#define G_LOG_DOMAIN "nornicdb"

#include <glib.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nc-build-config.h"
#include "config.h"
#include "db.h"
#include "backup.h"
#include "log.h"

/* protocol servers: includes */
#include "http-server.h"
#include "bolt-server.h"

#define EXIT_CONFIG 2

typedef struct {
  GMainLoop *loop;
  NcDb *db;
  NcConfig *config;
  char *config_file;
  int exit_code;
} Daemon;

static gboolean
on_shutdown_signal_cb (gpointer user_data)
{
  Daemon *d = user_data;
  g_message (_("Shutdown requested; finishing in-flight commits"));
  g_main_loop_quit (d->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_reload_signal_cb (gpointer user_data)
{
  Daemon *d = user_data;
  g_autoptr (GError) error = NULL;
  if (!nc_config_reload (d->config, d->config_file, &error))
    g_warning (_("Reload failed, keeping the running configuration: %s"), error->message);
  else
    {
      nc_log_set_level (nc_config_get (d->config, "NORNICDB_LOG_LEVEL"));
      g_message (_("Configuration reloaded"));
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
is_loopback (const char *address)
{
  return g_str_has_prefix (address, "127.") || g_strcmp0 (address, "::1") == 0 ||
         g_strcmp0 (address, "localhost") == 0;
}

/* The built-in admin/admin login is for trying things out on one machine. */
static void
warn_default_password (NcDb *db, NcConfig *config)
{
  if (!nc_users_default_password_in_use (nc_db_users (db)))
    return;
  const char *bolt = nc_config_get (config, "NORNICDB_BOLT_ADDRESS");
  const char *http = nc_config_get (config, "NORNICDB_HTTP_ADDRESS");
  if (!is_loopback (bolt) || !is_loopback (http))
    g_warning (_("The admin account still has the default password \"admin\" and the server listens on a non-loopback address; change it with ALTER CURRENT USER SET PASSWORD FROM 'admin' TO '...' or start with NORNICDB_AUTH=user:password"));
}

/* Run from the build tree (<builddir>/nornicdb next to <builddir>/modules,
 * as the module loader detects it), the .mo files are in <builddir>/po,
 * laid out like an installed locale directory. */
static char *
locale_dir (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = exe ? g_path_get_dirname (exe) : NULL;
  if (dir != NULL)
    {
      g_autofree char *probe = g_build_filename (dir, "modules", "standalone", "standalone.so", NULL);
      g_autofree char *po = g_build_filename (dir, "po", NULL);
      if (g_file_test (probe, G_FILE_TEST_EXISTS) && g_file_test (po, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&po);
    }
  return g_strdup (NC_LOCALEDIR);
}

int
main (int argc, char **argv)
{
  g_autofree char *config_file = NULL;
  g_autofree char *data_dir = NULL;
  gboolean show_version = FALSE, check_config = FALSE, config_reference = FALSE, default_config = FALSE;
  g_autoptr (GError) error = NULL;
  Daemon d = { 0 };

  setlocale (LC_ALL, "");
  g_autofree char *localedir = locale_dir ();
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  if (argc > 1 && strcmp (argv[1], "backup") == 0)
    return nc_backup_cli (argc - 1, argv + 1);

  GOptionEntry entries[] = {
    /* TRANSLATORS: --config option */
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file, N_("Configuration file (default: /etc/nornicdb/nornicdb.conf when it exists)"), N_("FILE") },
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir, N_("Data directory (overrides NORNICDB_DATA_DIR)"), N_("DIR") },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_config, N_("Validate the configuration, print the effective values (secrets masked) and exit"), NULL },
    { "config-reference", 0, 0, G_OPTION_ARG_NONE, &config_reference, N_("Print every configuration variable as a Markdown table and exit"), NULL },
    { "print-default-config", 0, 0, G_OPTION_ARG_NONE, &default_config, N_("Print a configuration file with every key at its default and exit"), NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &show_version, N_("Print the version and exit"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_set_summary (ctx, _("NornicDB: a Neo4j-compatible graph database server."));
  g_option_context_set_description (ctx, _("Configuration comes from built-in defaults, the configuration file, NORNICDB_* environment variables and the command line, in that order. See nornicdb(8) and docs/configuration.md.\n\n\"nornicdb backup --help\" describes the online backup command."));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (ctx, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("nornicdb: %s\n", error->message);
      return EXIT_CONFIG;
    }
  if (config_reference)
    {
      g_autofree char *md = nc_config_reference_markdown ();
      g_print ("%s", md);
      return EXIT_SUCCESS;
    }
  if (default_config)
    {
      g_autofree char *text = nc_config_default_file ();
      g_print ("%s", text);
      return EXIT_SUCCESS;
    }
  if (show_version)
    {
      g_print ("nornicdb %s\n", NC_VERSION);
      return EXIT_SUCCESS;
    }

  d.config = nc_config_new ();
  d.config_file = g_strdup (config_file);
  if (!nc_config_load (d.config, config_file, NULL, &error) ||
      (data_dir != NULL && !nc_config_set (d.config, "NORNICDB_DATA_DIR", data_dir, "cli", &error)) ||
      !nc_config_validate (d.config, &error))
    {
      g_printerr (_("nornicdb: configuration error: %s\n"), error->message);
      nc_config_free (d.config);
      g_free (d.config_file);
      return EXIT_CONFIG;
    }
  if (check_config)
    {
      g_autofree char *dump = nc_config_dump (d.config);
      g_print ("%s", dump);
      nc_config_free (d.config);
      g_free (d.config_file);
      return EXIT_SUCCESS;
    }

  nc_log_init (nc_config_get (d.config, "NORNICDB_LOG_LEVEL"),
               nc_config_get_bool (d.config, "NORNICDB_CLUSTER_DEBUG"));

  d.loop = g_main_loop_new (NULL, FALSE);
  d.db = nc_db_open (d.config, NULL, &error);
  if (d.db == NULL)
    {
      g_printerr (_("nornicdb: cannot start: %s\n"), error->message);
      g_main_loop_unref (d.loop);
      nc_config_free (d.config);
      g_free (d.config_file);
      return error->domain == NC_CONFIG_ERROR || error->domain == NC_BACKUP_ERROR ? EXIT_CONFIG : EXIT_FAILURE;
    }

  /* protocol servers: start */
  NcHttpServer *http_server = nc_http_server_new (d.db, &error);
  if (http_server == NULL)
    {
      g_printerr (_("nornicdb: cannot start the HTTP server: %s\n"), error->message);
      nc_db_close (d.db);
      g_main_loop_unref (d.loop);
      nc_config_free (d.config);
      g_free (d.config_file);
      return EXIT_FAILURE;
    }
  NcBoltServer *bolt = nc_bolt_server_new (d.db, &error);
  if (bolt == NULL)
    {
      g_printerr (_("nornicdb: cannot start the Bolt server: %s\n"), error->message);
      nc_http_server_free (http_server);
      nc_db_close (d.db);
      g_main_loop_unref (d.loop);
      nc_config_free (d.config);
      g_free (d.config_file);
      return EXIT_FAILURE;
    }

  warn_default_password (d.db, d.config);

  g_unix_signal_add (SIGTERM, on_shutdown_signal_cb, &d);
  g_unix_signal_add (SIGINT, on_shutdown_signal_cb, &d);
  g_unix_signal_add (SIGHUP, on_reload_signal_cb, &d);

  g_message (_("NornicDB %s ready (data directory %s, mode %s)"), NC_VERSION,
             nc_config_get (d.config, "NORNICDB_DATA_DIR"),
             nc_config_get (d.config, "NORNICDB_CLUSTER_MODE"));
  g_main_loop_run (d.loop);

  /* protocol servers: stop */
  nc_http_server_free (http_server);
  nc_bolt_server_free (bolt);

  nc_db_close (d.db);
  g_main_loop_unref (d.loop);
  nc_config_free (d.config);
  g_free (d.config_file);
  g_message (_("NornicDB stopped"));
  return d.exit_code;
}
