/* The Bolt server.
 *
 * Threading: one accept thread blocks in accept(); every accepted client
 * gets its own thread that does blocking I/O (plain or GnuTLS on the raw
 * fd) and runs that connection's queries through NcBoltConnection. A slow
 * query therefore only ever delays its own connection and never the main
 * loop. Finished connection threads are joined by the accept thread (and by
 * nc_bolt_server_free), so thread handles do not pile up.
 *
 * Limits: at most NORNICDB_BOLT_MAX_CONNECTIONS authenticated-or-not client
 * connections; a connection beyond that still completes the handshake (so
 * the driver can read the reason), receives a FAILURE and is closed. A small
 * number of such rejections run at once; past that, excess sockets are
 * closed immediately. Idle connections (no bytes for
 * NORNICDB_BOLT_IDLE_TIMEOUT) are closed.
 *
 * Server agent: "Neo4j/5.26.0-nornicdb-<version>". The drivers parse the
 * version after "Neo4j/" (major.minor.patch followed by "-" and any
 * [0-9A-Za-z-.] suffix) to decide on features, so the string must look like
 * a Neo4j 5 release; 5.26 is the Neo4j release whose Bolt 5.x feature set
 * this server follows.
 */
#define G_LOG_DOMAIN "nornicdb-bolt"

#include "bolt-server.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bolt-backend.h"
#include "bolt-connection.h"
#include "errors.h"
#include "nc-build-config.h"

#define SERVER_AGENT "Neo4j/5.26.0-nornicdb-" NC_VERSION
#define MAX_REJECTING 32
#define HANDSHAKE_TIMEOUT_MS 10000
#define SEND_TIMEOUT_S 300

typedef struct _Client Client;

struct _NcBoltServer {
  NcDb *db;
  GSocket *listener;
  guint16 port;
  GCancellable *cancel;
  GThread *accept_thread;

  gboolean tls;
  gnutls_certificate_credentials_t tls_creds;
  gnutls_certificate_credentials_t forward_creds; /* client side, for relaying writes */
  gboolean tls_require_client;

  guint max_connections;
  gsize max_message;
  gint64 idle_timeout_ms;

  GMutex lock;
  GHashTable *clients;   /* Client* -> Client*, live */
  GPtrArray *finished;   /* GThread* to join */
  guint active;          /* accepted within the limit */
  guint rejecting;
  guint next_id;
  gboolean stopping;
};

struct _Client {
  NcBoltServer *server;
  GSocket *socket;
  int fd;
  gnutls_session_t tls;
  GThread *thread;
  guint id;
  char *addr;
  gboolean rejected;
};

/* ---- I/O ----------------------------------------------------------------------- */

static gboolean
client_write_cb (gpointer user_data, const guint8 *data, gsize len, GError **error)
{
  Client *c = user_data;
  gsize done = 0;
  while (done < len)
    {
      ssize_t n;
      if (c->tls != NULL)
        {
          n = gnutls_record_send (c->tls, data + done, len - done);
          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
          if (n < 0)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "TLS send: %s", gnutls_strerror ((int) n));
              return FALSE;
            }
        }
      else
        {
          n = send (c->fd, data + done, len - done, MSG_NOSIGNAL);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            {
              int saved = errno;
              g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "send: %s", g_strerror (saved));
              return FALSE;
            }
        }
      done += (gsize) n;
    }
  return TRUE;
}

/* Reads what is available; 0 on EOF/timeout/error (connection ends). */
static gssize
client_read (Client *c, guint8 *buf, gsize size, gint64 timeout_ms)
{
  if (c->tls == NULL || gnutls_record_check_pending (c->tls) == 0)
    {
      struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
      int timeout = timeout_ms > 0 ? (int) MIN (timeout_ms, G_MAXINT) : -1;
      int r;
      do
        r = poll (&pfd, 1, timeout);
      while (r < 0 && errno == EINTR);
      if (r == 0)
        {
          g_debug ("bolt-%u: closing idle connection", c->id);
          return 0;
        }
      if (r < 0)
        return 0;
    }
  for (;;)
    {
      ssize_t n;
      if (c->tls != NULL)
        {
          n = gnutls_record_recv (c->tls, buf, size);
          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
          return n > 0 ? n : 0;
        }
      n = recv (c->fd, buf, size, 0);
      if (n < 0 && errno == EINTR)
        continue;
      return n > 0 ? n : 0;
    }
}

static gboolean
client_tls_handshake (Client *c)
{
  NcBoltServer *s = c->server;
  int r = gnutls_init (&c->tls, GNUTLS_SERVER);
  if (r < 0)
    return FALSE;
  gnutls_credentials_set (c->tls, GNUTLS_CRD_CERTIFICATE, s->tls_creds);
  gnutls_set_default_priority (c->tls);
  if (s->tls_require_client)
    gnutls_certificate_server_set_request (c->tls, GNUTLS_CERT_REQUIRE);
  gnutls_transport_set_int (c->tls, c->fd);
  gnutls_handshake_set_timeout (c->tls, HANDSHAKE_TIMEOUT_MS);
  do
    r = gnutls_handshake (c->tls);
  while (r < 0 && gnutls_error_is_fatal (r) == 0);
  if (r < 0)
    {
      g_debug ("bolt-%u: TLS handshake with %s failed: %s", c->id, c->addr, gnutls_strerror (r));
      return FALSE;
    }
  if (s->tls_require_client)
    {
      guint status = 0;
      if (gnutls_certificate_verify_peers2 (c->tls, &status) < 0 || status != 0)
        {
          g_message ("bolt-%u: rejected client %s: certificate not signed by the configured CA", c->id, c->addr);
          return FALSE;
        }
    }
  return TRUE;
}

static gpointer
client_thread (gpointer data)
{
  Client *c = data;
  NcBoltServer *s = c->server;
  g_autofree char *conn_id = g_strdup_printf ("bolt-%u", c->id);

  if (!s->tls || client_tls_handshake (c))
    {
      NcBoltConnectionConfig cfg = {
        .backend = nc_bolt_backend_db (),
        .backend_data = s->db,
        .connection_id = conn_id,
        .client_addr = c->addr,
        .server_agent = SERVER_AGENT,
        .idle_timeout_s = s->idle_timeout_ms / 1000,
        .max_message = s->max_message,
        .allow_forward = TRUE,
        .forward_tls = s->forward_creds,
        .write = client_write_cb,
        .write_data = c,
      };
      g_autoptr (NcBoltConnection) conn = nc_bolt_connection_new (&cfg);
      guint8 buf[16384];
      gint64 deadline = c->rejected ? g_get_monotonic_time () + HANDSHAKE_TIMEOUT_MS * 1000 : 0;
      for (;;)
        {
          gint64 timeout = s->idle_timeout_ms;
          if (c->rejected)
            timeout = MAX (1, (deadline - g_get_monotonic_time ()) / 1000);
          gssize n = client_read (c, buf, sizeof buf, timeout);
          if (n <= 0)
            break;
          if (c->rejected)
            {
              /* Feed only the handshake, so no request gets processed. */
              gboolean open = TRUE;
              for (gssize i = 0; i < n && open && nc_bolt_connection_version (conn) == 0; i++)
                open = nc_bolt_connection_feed (conn, buf + i, 1);
              if (!open)
                break;
              if (nc_bolt_connection_version (conn) != 0)
                {
                  g_autoptr (GError) reason = g_error_new (NC_ERROR, NC_ERROR_UNAVAILABLE,
                                                           "Too many connections (limit %u)", s->max_connections);
                  nc_bolt_connection_reject (conn, reason);
                  break;
                }
              continue;
            }
          if (!nc_bolt_connection_feed (conn, buf, (gsize) n))
            break;
        }
      if (c->tls != NULL)
        gnutls_bye (c->tls, GNUTLS_SHUT_WR);
    }

  /* Leave the set before closing, so nc_bolt_server_free never shuts down
   * an fd number that was closed and reused. */
  g_mutex_lock (&s->lock);
  g_hash_table_remove (s->clients, c);
  if (c->rejected)
    s->rejecting--;
  else
    s->active--;
  g_ptr_array_add (s->finished, c->thread);
  g_mutex_unlock (&s->lock);

  g_socket_close (c->socket, NULL);
  if (c->tls != NULL)
    gnutls_deinit (c->tls);

  g_debug ("%s: closed", conn_id);
  g_object_unref (c->socket);
  g_free (c->addr);
  g_free (c);
  return NULL;
}

static void
join_finished (NcBoltServer *s)
{
  g_autoptr (GPtrArray) done = NULL;
  g_mutex_lock (&s->lock);
  done = s->finished;
  s->finished = g_ptr_array_new ();
  g_mutex_unlock (&s->lock);
  for (guint i = 0; i < done->len; i++)
    g_thread_join (g_ptr_array_index (done, i));
}

static char *
peer_address (GSocket *socket)
{
  g_autoptr (GSocketAddress) addr = g_socket_get_remote_address (socket, NULL);
  if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS (addr))
    return g_strdup ("unknown");
  return g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr)));
}

static gpointer
accept_thread (gpointer data)
{
  NcBoltServer *s = data;
  guint failures = 0;
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      GSocket *sock = g_socket_accept (s->listener, s->cancel, &error);
      join_finished (s);
      if (sock == NULL)
        {
          if (g_cancellable_is_cancelled (s->cancel))
            break;
          /* EMFILE and friends: back off briefly instead of spinning. */
          if (++failures % 100 == 1)
            g_warning ("Bolt accept failed: %s", error->message);
          g_usleep (10 * 1000);
          continue;
        }
      failures = 0;
      g_socket_set_blocking (sock, TRUE);
      g_socket_set_option (sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
      int fd = g_socket_get_fd (sock);
      /* GSocket keeps fds non-blocking and emulates blocking itself; this
       * thread does plain blocking send/recv (and GnuTLS on the fd). */
      fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
      struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
      setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

      Client *c = g_new0 (Client, 1);
      c->server = s;
      c->socket = sock;
      c->fd = fd;
      c->addr = peer_address (sock);

      g_mutex_lock (&s->lock);
      if (s->stopping || (s->active >= s->max_connections && s->rejecting >= MAX_REJECTING))
        {
          g_mutex_unlock (&s->lock);
          g_socket_close (sock, NULL);
          g_object_unref (sock);
          g_free (c->addr);
          g_free (c);
          continue;
        }
      c->id = ++s->next_id;
      c->rejected = s->active >= s->max_connections;
      if (c->rejected)
        {
          s->rejecting++;
          g_message ("Bolt connection from %s refused: %u connections already open", c->addr, s->active);
        }
      else
        s->active++;
      g_hash_table_add (s->clients, c);
      g_autofree char *name = g_strdup_printf ("bolt-%u", c->id);
      c->thread = g_thread_try_new (name, client_thread, c, &error);
      if (c->thread == NULL)
        {
          g_hash_table_remove (s->clients, c);
          if (c->rejected)
            s->rejecting--;
          else
            s->active--;
          g_mutex_unlock (&s->lock);
          g_warning ("Cannot start a thread for a Bolt connection: %s", error->message);
          g_socket_close (sock, NULL);
          g_object_unref (sock);
          g_free (c->addr);
          g_free (c);
          continue;
        }
      g_mutex_unlock (&s->lock);
    }
  return NULL;
}

/* ---- setup ----------------------------------------------------------------------- */

static gboolean
setup_tls (NcBoltServer *s, NcConfig *cfg, GError **error)
{
  const char *cert = nc_config_get (cfg, "NORNICDB_BOLT_TLS_CERT");
  const char *key = nc_config_get (cfg, "NORNICDB_BOLT_TLS_KEY");
  const char *ca = nc_config_get (cfg, "NORNICDB_BOLT_TLS_CLIENT_CA");
  if (cert == NULL || *cert == '\0' || key == NULL || *key == '\0')
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE,
                   "NORNICDB_BOLT_TLS_ENABLED needs NORNICDB_BOLT_TLS_CERT and NORNICDB_BOLT_TLS_KEY");
      return FALSE;
    }
  int r = gnutls_certificate_allocate_credentials (&s->tls_creds);
  if (r >= 0)
    r = gnutls_certificate_set_x509_key_file (s->tls_creds, cert, key, GNUTLS_X509_FMT_PEM);
  if (r < 0)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE, "Cannot load the Bolt TLS certificate %s / key %s: %s",
                   cert, key, gnutls_strerror (r));
      return FALSE;
    }
  if (ca != NULL && *ca != '\0')
    {
      r = gnutls_certificate_set_x509_trust_file (s->tls_creds, ca, GNUTLS_X509_FMT_PEM);
      if (r <= 0)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE, "Cannot load the Bolt client CA %s: %s", ca,
                       r == 0 ? "no certificates found" : gnutls_strerror (r));
          return FALSE;
        }
      s->tls_require_client = TRUE;
    }

  /* Writes relayed to the writer go over TLS too, presenting this node's
   * certificate and trusting the client CA (the cluster's CA) or, without
   * one, the system's trust store. */
  r = gnutls_certificate_allocate_credentials (&s->forward_creds);
  if (r >= 0)
    r = gnutls_certificate_set_x509_key_file (s->forward_creds, cert, key, GNUTLS_X509_FMT_PEM);
  if (r >= 0)
    r = ca != NULL && *ca != '\0' ? gnutls_certificate_set_x509_trust_file (s->forward_creds, ca, GNUTLS_X509_FMT_PEM)
                                  : gnutls_certificate_set_x509_system_trust (s->forward_creds);
  if (r < 0)
    g_warning ("Bolt: writes cannot be relayed over TLS: %s", gnutls_strerror (r));
  s->tls = TRUE;
  return TRUE;
}

static GSocketAddress *
resolve_bind_address (const char *host, guint16 port, GError **error)
{
  GSocketAddress *sa = g_inet_socket_address_new_from_string (host, port);
  if (sa != NULL)
    return sa;
  GResolver *resolver = g_resolver_get_default ();
  GList *addrs = g_resolver_lookup_by_name (resolver, host, NULL, error);
  g_object_unref (resolver);
  if (addrs == NULL)
    return NULL;
  sa = g_inet_socket_address_new (addrs->data, port);
  g_resolver_free_addresses (addrs);
  return sa;
}

NcBoltServer *
nc_bolt_server_new (NcDb *db, GError **error)
{
  NcConfig *cfg = nc_db_config (db);
  g_autoptr (GSocketAddress) bind_addr = NULL;
  NcBoltServer *s = g_new0 (NcBoltServer, 1);
  s->db = db;
  g_mutex_init (&s->lock);
  s->clients = g_hash_table_new (NULL, NULL);
  s->finished = g_ptr_array_new ();
  s->cancel = g_cancellable_new ();
  s->max_connections = (guint) MAX (1, nc_config_get_int (cfg, "NORNICDB_BOLT_MAX_CONNECTIONS"));
  s->max_message = (gsize) nc_config_get_size (cfg, "NORNICDB_BOLT_MAX_MESSAGE_SIZE");
  if (s->max_message == 0)
    s->max_message = 64 * 1024 * 1024;
  s->idle_timeout_ms = nc_config_get_duration_ms (cfg, "NORNICDB_BOLT_IDLE_TIMEOUT");

  if (nc_config_get_bool (cfg, "NORNICDB_BOLT_TLS_ENABLED") && !setup_tls (s, cfg, error))
    goto fail;

  const char *host = nc_config_get (cfg, "NORNICDB_BOLT_ADDRESS");
  guint16 port = (guint16) nc_config_get_int (cfg, "NORNICDB_BOLT_PORT");
  bind_addr = resolve_bind_address (host ? host : "0.0.0.0", port, error);
  if (bind_addr == NULL)
    {
      g_prefix_error (error, "Bolt address %s: ", host);
      goto fail;
    }
  s->listener = g_socket_new (g_socket_address_get_family (bind_addr), G_SOCKET_TYPE_STREAM,
                              G_SOCKET_PROTOCOL_TCP, error);
  if (s->listener == NULL)
    goto fail;
  g_socket_set_listen_backlog (s->listener, 511);
  if (!g_socket_bind (s->listener, bind_addr, TRUE, error) || !g_socket_listen (s->listener, error))
    {
      g_prefix_error (error, "Cannot listen for Bolt on %s:%u: ", host, port);
      goto fail;
    }
  {
    g_autoptr (GSocketAddress) local = g_socket_get_local_address (s->listener, NULL);
    s->port = local ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) : port;
  }
  s->accept_thread = g_thread_try_new ("bolt-accept", accept_thread, s, error);
  if (s->accept_thread == NULL)
    goto fail;
  g_message ("Bolt listening on %s:%u%s", host, s->port, s->tls ? " (TLS)" : "");
  return s;

fail:
  g_clear_object (&s->listener);
  if (s->tls_creds != NULL)
    gnutls_certificate_free_credentials (s->tls_creds);
  if (s->forward_creds != NULL)
    gnutls_certificate_free_credentials (s->forward_creds);
  g_object_unref (s->cancel);
  g_hash_table_unref (s->clients);
  g_ptr_array_unref (s->finished);
  g_mutex_clear (&s->lock);
  g_free (s);
  return NULL;
}

void
nc_bolt_server_free (NcBoltServer *s)
{
  if (s == NULL)
    return;
  g_mutex_lock (&s->lock);
  s->stopping = TRUE;
  g_mutex_unlock (&s->lock);
  g_cancellable_cancel (s->cancel);
  g_thread_join (s->accept_thread);
  g_socket_close (s->listener, NULL);

  /* Wake every connection thread: a blocked read returns at once. Threads
   * inside a query finish it first (bounded by the transaction timeout). */
  g_autoptr (GPtrArray) threads = g_ptr_array_new ();
  g_mutex_lock (&s->lock);
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, s->clients);
  while (g_hash_table_iter_next (&it, &key, NULL))
    {
      Client *c = key;
      shutdown (c->fd, SHUT_RDWR);
      g_ptr_array_add (threads, c->thread);
    }
  g_mutex_unlock (&s->lock);
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (g_ptr_array_index (threads, i));
  /* Those just joined put themselves on `finished`; drop them from it. */
  g_mutex_lock (&s->lock);
  for (guint i = 0; i < threads->len; i++)
    g_ptr_array_remove_fast (s->finished, g_ptr_array_index (threads, i));
  g_mutex_unlock (&s->lock);
  join_finished (s);

  g_object_unref (s->listener);
  g_object_unref (s->cancel);
  if (s->tls_creds != NULL)
    gnutls_certificate_free_credentials (s->tls_creds);
  if (s->forward_creds != NULL)
    gnutls_certificate_free_credentials (s->forward_creds);
  g_hash_table_unref (s->clients);
  g_ptr_array_unref (s->finished);
  g_mutex_clear (&s->lock);
  g_free (s);
}

guint
nc_bolt_server_connection_count (NcBoltServer *s)
{
  g_mutex_lock (&s->lock);
  guint n = s->active;
  g_mutex_unlock (&s->lock);
  return n;
}

guint16
nc_bolt_server_port (NcBoltServer *s)
{
  return s->port;
}
