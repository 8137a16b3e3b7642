/* `nornicdb backup`: downloads an online backup (POST /admin/backup) for
 * operators without curl. A minimal HTTP/1.1 client on GIO sockets (TLS
 * through GIO's TLS backend for https:// URLs). The archive is written to
 * the output file only when it arrived complete: GFile's replace writes a
 * temporary file and renames it on a successful close. */
#define G_LOG_DOMAIN "nornicdb-backup"

#include "backup.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_EXIT_USAGE 2
#define COPY_CHUNK (256 * 1024)
#define MAX_HEADER_LINES 100

static gboolean
write_request (GOutputStream *out, const char *host, const char *path, const char *auth, GError **error)
{
  g_autofree char *req = g_strdup_printf ("POST %s HTTP/1.1\r\n"
                                          "Host: %s\r\n"
                                          "Authorization: Basic %s\r\n"
                                          "User-Agent: nornicdb-backup/" "1\r\n"
                                          "Content-Length: 0\r\n"
                                          "Connection: close\r\n\r\n",
                                          path, host, auth);
  return g_output_stream_write_all (out, req, strlen (req), NULL, NULL, error);
}

/* Reads the status line and headers; returns the status, -1 on error. */
static int
read_head (GDataInputStream *in, gint64 *content_length, char **index, GError **error)
{
  gsize len;
  g_autofree char *status = g_data_input_stream_read_line (in, &len, NULL, error);
  if (status == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, _("the server closed the connection"));
      return -1;
    }
  unsigned code = 0;
  if (sscanf (status, "HTTP/%*u.%*u %u", &code) != 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("not an HTTP answer: %s"), status);
      return -1;
    }
  *content_length = -1;
  for (int i = 0; i < MAX_HEADER_LINES; i++)
    {
      g_autofree char *line = g_data_input_stream_read_line (in, &len, NULL, error);
      if (line == NULL)
        return -1;
      g_strchomp (line);
      if (*line == '\0')
        return (int) code;
      if (g_ascii_strncasecmp (line, "Content-Length:", 15) == 0)
        *content_length = g_ascii_strtoll (line + 15, NULL, 10);
      else if (g_ascii_strncasecmp (line, "X-NornicDB-Backup-Index:", 24) == 0)
        {
          g_free (*index);
          *index = g_strdup (g_strstrip (line + 24));
        }
    }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("too many header lines"));
  return -1;
}

int
nc_backup_cli (int argc, char **argv)
{
  g_autofree char *server = NULL, *user = NULL, *password = NULL, *output = NULL, *bookmark = NULL;
  g_autoptr (GError) error = NULL;
  GOptionEntry entries[] = {
    { "server", 's', 0, G_OPTION_ARG_STRING, &server, N_("Server's HTTP address (default http://localhost:7474)"), N_("URL") },
    { "user", 'u', 0, G_OPTION_ARG_STRING, &user, N_("Admin user (default admin)"), N_("NAME") },
    { "password", 'p', 0, G_OPTION_ARG_STRING, &password, N_("Password (default: the NORNICDB_BACKUP_PASSWORD environment variable)"), N_("PASSWORD") },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, N_("Archive to write (required)"), N_("FILE") },
    { "bookmark", 0, 0, G_OPTION_ARG_STRING, &bookmark, N_("Wait until the server has applied this bookmark (nornicdb:<index>) first"), N_("BOOKMARK") },
    { NULL }
  };
  g_set_prgname ("nornicdb backup");
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_set_summary (ctx, _("Downloads an online backup (a tar.gz to extract into an empty data directory) from a running server."));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (ctx, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("nornicdb backup: %s\n", error->message);
      return CLI_EXIT_USAGE;
    }
  if (output == NULL)
    {
      g_printerr (_("nornicdb backup: --output is required\n"));
      return CLI_EXIT_USAGE;
    }
  if (password == NULL)
    password = g_strdup (g_getenv ("NORNICDB_BACKUP_PASSWORD"));
  if (password == NULL)
    {
      g_printerr (_("nornicdb backup: give --password or set NORNICDB_BACKUP_PASSWORD\n"));
      return CLI_EXIT_USAGE;
    }

  g_autoptr (GUri) uri = g_uri_parse (server ? server : "http://localhost:7474", G_URI_FLAGS_NONE, &error);
  if (uri == NULL)
    {
      g_printerr ("nornicdb backup: --server: %s\n", error->message);
      return CLI_EXIT_USAGE;
    }
  const char *scheme = g_uri_get_scheme (uri);
  gboolean tls = g_ascii_strcasecmp (scheme, "https") == 0;
  if (!tls && g_ascii_strcasecmp (scheme, "http") != 0)
    {
      g_printerr (_("nornicdb backup: --server must be an http:// or https:// URL\n"));
      return CLI_EXIT_USAGE;
    }
  const char *host = g_uri_get_host (uri);
  int port = g_uri_get_port (uri);
  if (port < 0)
    port = tls ? 7473 : 7474;
  g_autofree char *path = bookmark ? g_strdup_printf ("/admin/backup?bookmark=%s", bookmark) : g_strdup ("/admin/backup");
  g_autofree char *hostport = g_strdup_printf ("%s:%d", host, port);
  g_autofree char *cred = g_strdup_printf ("%s:%s", user ? user : "admin", password);
  g_autofree char *auth = g_base64_encode ((const guchar *) cred, strlen (cred));

  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_socket_client_set_tls (client, tls);
  g_autoptr (GSocketConnection) conn = g_socket_client_connect_to_host (client, host, (guint16) port, NULL, &error);
  if (conn == NULL)
    {
      g_printerr (_("nornicdb backup: cannot connect to %s: %s\n"), hostport, error->message);
      return EXIT_FAILURE;
    }
  if (!write_request (g_io_stream_get_output_stream (G_IO_STREAM (conn)), hostport, path, auth, &error))
    {
      g_printerr (_("nornicdb backup: cannot send the request to %s: %s\n"), hostport, error->message);
      return EXIT_FAILURE;
    }
  g_autoptr (GDataInputStream) in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
  g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
  gint64 length = -1;
  g_autofree char *index = NULL;
  int status = read_head (in, &length, &index, &error);
  if (status < 0)
    {
      g_printerr (_("nornicdb backup: bad answer from %s: %s\n"), hostport, error->message);
      return EXIT_FAILURE;
    }
  if (status != 200)
    {
      char body[4096];
      gsize n = 0;
      g_input_stream_read_all (G_INPUT_STREAM (in), body, sizeof body - 1, &n, NULL, NULL);
      body[n] = '\0';
      g_printerr (_("nornicdb backup: the server answered %d: %s\n"), status, g_strstrip (body));
      return EXIT_FAILURE;
    }
  if (length < 0)
    {
      g_printerr (_("nornicdb backup: the server's answer has no Content-Length\n"));
      return EXIT_FAILURE;
    }

  g_autoptr (GFile) file = g_file_new_for_commandline_arg (output);
  g_autoptr (GFileOutputStream) out = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL, &error);
  if (out == NULL)
    {
      g_printerr ("nornicdb backup: %s\n", error->message);
      return EXIT_FAILURE;
    }
  g_autofree guint8 *buf = g_malloc (COPY_CHUNK);
  guint64 got = 0;
  while (got < (guint64) length)
    {
      gssize n = g_input_stream_read (G_INPUT_STREAM (in), buf, (gsize) MIN ((guint64) COPY_CHUNK, (guint64) length - got),
                                      NULL, &error);
      if (n <= 0 || !g_output_stream_write_all (G_OUTPUT_STREAM (out), buf, (gsize) n, NULL, NULL, &error))
        break;
      got += (guint64) n;
    }
  if (got != (guint64) length)
    {
      /* A cancelled close leaves the old file (if any) and no partial one. */
      g_autoptr (GCancellable) cancel = g_cancellable_new ();
      g_cancellable_cancel (cancel);
      g_output_stream_close (G_OUTPUT_STREAM (out), cancel, NULL);
      g_printerr (_("nornicdb backup: the download from %s stopped after %" PRIu64 " of %" PRId64 " bytes: %s\n"),
                  hostport, got, length, error ? error->message : _("connection closed"));
      return EXIT_FAILURE;
    }
  if (!g_output_stream_close (G_OUTPUT_STREAM (out), NULL, &error))
    {
      g_printerr ("nornicdb backup: %s\n", error->message);
      return EXIT_FAILURE;
    }
  g_print (_("backup at index %s (%" PRIu64 " bytes) written to %s\n"), index ? index : "?", got, output);
  return EXIT_SUCCESS;
}
