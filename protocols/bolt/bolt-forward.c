#define G_LOG_DOMAIN "nornicdb-bolt"

#include "bolt-forward.h"

#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "bolt-chunk.h"
#include "config.h"
#include "errors.h"
#include "packstream.h"

#define MAX_RESPONSE (256 * 1024 * 1024)

struct _NcBoltForward {
  char *address;
  GSocketConnection *conn;
  int fd;
  gnutls_session_t tls;
  NcBoltDechunker dechunker;
  guint8 buf[16384];
  gsize buf_len;
  gsize buf_pos;
};

void
nc_bolt_forward_free (NcBoltForward *fw)
{
  if (fw == NULL)
    return;
  if (fw->tls != NULL)
    {
      gnutls_bye (fw->tls, GNUTLS_SHUT_WR);
      gnutls_deinit (fw->tls);
    }
  if (fw->conn != NULL)
    {
      g_io_stream_close (G_IO_STREAM (fw->conn), NULL, NULL);
      g_object_unref (fw->conn);
    }
  nc_bolt_dechunker_clear (&fw->dechunker);
  g_free (fw->address);
  g_free (fw);
}

const char *
nc_bolt_forward_address (NcBoltForward *fw)
{
  return fw->address;
}

static gboolean
link_write (NcBoltForward *fw, const guint8 *data, gsize len, GError **error)
{
  while (len > 0)
    {
      ssize_t n;
      if (fw->tls != NULL)
        {
          n = gnutls_record_send (fw->tls, data, len);
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
          n = send (fw->fd, data, len, MSG_NOSIGNAL);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            {
              int saved = errno;
              g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "send: %s", g_strerror (saved));
              return FALSE;
            }
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Returns bytes read, 0 at EOF, -1 on error (with `error`). */
static gssize
link_read (NcBoltForward *fw, guint8 *buf, gsize size, GError **error)
{
  for (;;)
    {
      ssize_t n;
      if (fw->tls != NULL)
        {
          n = gnutls_record_recv (fw->tls, buf, size);
          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
          if (n < 0)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "TLS receive: %s", gnutls_strerror ((int) n));
              return -1;
            }
          return n;
        }
      n = recv (fw->fd, buf, size, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "receive: %s", g_strerror (saved));
          return -1;
        }
      return n;
    }
}

static gboolean
link_read_all (NcBoltForward *fw, guint8 *buf, gsize size, GError **error)
{
  while (size > 0)
    {
      gssize n = link_read (fw, buf, size, error);
      if (n < 0)
        return FALSE;
      if (n == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "connection closed by the writer");
          return FALSE;
        }
      buf += n;
      size -= (gsize) n;
    }
  return TRUE;
}

gboolean
nc_bolt_forward_send (NcBoltForward *fw, GBytes *message, GError **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);
  g_autoptr (GByteArray) framed = g_byte_array_sized_new ((guint) len + 8);
  nc_bolt_chunk_append (framed, data, len);
  return link_write (fw, framed->data, framed->len, error);
}

GBytes *
nc_bolt_forward_receive (NcBoltForward *fw, GError **error)
{
  for (;;)
    {
      if (fw->buf_pos < fw->buf_len)
        {
          gsize used = 0;
          GBytes *message = NULL;
          NcBoltDechunkStatus st = nc_bolt_dechunker_feed (&fw->dechunker, fw->buf + fw->buf_pos,
                                                           fw->buf_len - fw->buf_pos, &used, &message, error);
          fw->buf_pos += used;
          if (st == NC_BOLT_DECHUNK_ERROR)
            return NULL;
          if (st == NC_BOLT_DECHUNK_MESSAGE)
            return message;
        }
      gssize n = link_read (fw, fw->buf, sizeof fw->buf, error);
      if (n < 0)
        return NULL;
      if (n == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "connection closed by the writer");
          return NULL;
        }
      fw->buf_len = (gsize) n;
      fw->buf_pos = 0;
    }
}

/* Sends `body` and expects SUCCESS back; FAILURE becomes an NC_ERROR. */
static gboolean
exchange_expect_success (NcBoltForward *fw, GByteArray *body, GError **error)
{
  g_autoptr (GBytes) msg = g_bytes_new (body->data, body->len);
  if (!nc_bolt_forward_send (fw, msg, error))
    return FALSE;
  g_autoptr (GBytes) resp = nc_bolt_forward_receive (fw, error);
  if (resp == NULL)
    return FALSE;
  gsize len;
  const guint8 *data = g_bytes_get_data (resp, &len);
  NcPsReader r;
  guint n;
  guint8 tag;
  NcPsFlavor flavor = { TRUE, TRUE };
  nc_ps_reader_init (&r, data, len);
  if (!nc_ps_read_struct_header (&r, &n, &tag, error))
    return FALSE;
  if (tag == 0x70)
    return TRUE;
  g_auto (NcValue) meta = nc_value_null ();
  const char *code = NULL, *message = NULL;
  if (n == 1 && nc_ps_read_value (&r, &flavor, &meta, NULL) && meta.type == NC_VALUE_MAP)
    {
      const NcValue *c = nc_map_get (meta.u.map, "code");
      const NcValue *m = nc_map_get (meta.u.map, "message");
      code = c && c->type == NC_VALUE_STRING ? nc_value_str (c) : NULL;
      message = m && m->type == NC_VALUE_STRING ? nc_value_str (m) : NULL;
    }
  g_set_error (error, NC_ERROR, code ? (gint) nc_error_code_from_status (code) : NC_ERROR_UNAVAILABLE, "%s",
               message ? message : "the writer refused the connection");
  return FALSE;
}

static void
write_auth (GByteArray *body, const char *scheme, const char *principal, const char *credentials,
            guint *n)
{
  nc_ps_write_string (body, "scheme");
  nc_ps_write_string (body, scheme);
  (*n)++;
  if (principal != NULL)
    {
      nc_ps_write_string (body, "principal");
      nc_ps_write_string (body, principal);
      (*n)++;
    }
  if (credentials != NULL)
    {
      nc_ps_write_string (body, "credentials");
      nc_ps_write_string (body, credentials);
      (*n)++;
    }
}

static GByteArray *
build_map_message (guint8 tag, void (*fill) (GByteArray *, gpointer, guint *), gpointer data)
{
  g_autoptr (GByteArray) entries = g_byte_array_new ();
  guint n = 0;
  fill (entries, data, &n);
  GByteArray *body = g_byte_array_new ();
  nc_ps_write_struct_header (body, 1, tag);
  nc_ps_write_map_header (body, n);
  g_byte_array_append (body, entries->data, entries->len);
  return body;
}

typedef struct {
  const char *user_agent;
  const char *scheme, *principal, *credentials;
  gboolean with_auth;
  gboolean utc_patch;
} HelloData;

static void
fill_hello (GByteArray *b, gpointer data, guint *n)
{
  HelloData *h = data;
  nc_ps_write_string (b, "user_agent");
  nc_ps_write_string (b, h->user_agent ? h->user_agent : "nornicdb-forward/1.0");
  (*n)++;
  if (h->utc_patch)
    {
      nc_ps_write_string (b, "patch_bolt");
      nc_ps_write_list_header (b, 1);
      nc_ps_write_string (b, "utc");
      (*n)++;
    }
  if (h->with_auth)
    write_auth (b, h->scheme, h->principal, h->credentials, n);
}

static void
fill_logon (GByteArray *b, gpointer data, guint *n)
{
  HelloData *h = data;
  write_auth (b, h->scheme, h->principal, h->credentials, n);
}

NcBoltForward *
nc_bolt_forward_connect (const char *address, guint version, const char *user_agent, const char *scheme,
                         const char *principal, const char *credentials, gint64 timeout_ms,
                         gpointer tls_credentials, GError **error)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autofree char *host = NULL;
  guint16 port = 0;
  if (!nc_parse_hostport (address, &host, &port))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE, "Invalid writer address '%s'", address);
      return NULL;
    }
  g_socket_client_set_timeout (client, (guint) MAX (1, timeout_ms / 1000));
  g_autoptr (NcBoltForward) fw = g_new0 (NcBoltForward, 1);
  fw->address = g_strdup (address);
  nc_bolt_dechunker_init (&fw->dechunker, MAX_RESPONSE);
  fw->conn = g_socket_client_connect_to_host (client, host, port, NULL, error);
  if (fw->conn == NULL)
    return NULL;
  GSocket *sock = g_socket_connection_get_socket (fw->conn);
  g_socket_set_blocking (sock, TRUE);
  fw->fd = g_socket_get_fd (sock);
  /* Plain blocking I/O on the fd (GSocket keeps it non-blocking). */
  fcntl (fw->fd, F_SETFL, fcntl (fw->fd, F_GETFL) & ~O_NONBLOCK);
  {
    /* Bounded waits on a writer that stops answering. */
    struct timeval tv = { .tv_sec = MAX (1, timeout_ms / 1000) * 6 };
    setsockopt (fw->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fw->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  g_socket_set_option (sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  if (tls_credentials != NULL)
    {
      int r = gnutls_init (&fw->tls, GNUTLS_CLIENT);
      if (r >= 0)
        r = gnutls_credentials_set (fw->tls, GNUTLS_CRD_CERTIFICATE, tls_credentials);
      if (r >= 0)
        r = gnutls_set_default_priority (fw->tls);
      if (r >= 0 && !g_hostname_is_ip_address (host))
        r = gnutls_server_name_set (fw->tls, GNUTLS_NAME_DNS, host, strlen (host));
      if (r >= 0)
        {
          /* The writer's certificate must chain to the configured CA and name its host. */
          gnutls_session_set_verify_cert (fw->tls, host, 0);
          gnutls_transport_set_int (fw->tls, fw->fd);
          gnutls_handshake_set_timeout (fw->tls, (guint) MAX (1000, timeout_ms));
          do
            r = gnutls_handshake (fw->tls);
          while (r < 0 && gnutls_error_is_fatal (r) == 0);
        }
      if (r < 0)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE, "TLS with the writer %s failed: %s", address,
                       gnutls_strerror (r));
          return NULL;
        }
    }

  /* A 6.0 client's messages are 5.8 messages on the wire. */
  if (version >= 0x600)
    version = 0x508;
  guint8 hs[20] = { 0x60, 0x60, 0xB0, 0x17, 0, 0, (guint8) (version & 0xFF), (guint8) (version >> 8) };
  if (!link_write (fw, hs, sizeof hs, error))
    return NULL;
  guint8 reply[4];
  if (!link_read_all (fw, reply, 4, error))
    return NULL;
  if (reply[3] != (version >> 8) || reply[2] != (version & 0xFF))
    {
      g_set_error (error, NC_ERROR, NC_ERROR_UNAVAILABLE, "The writer does not speak Bolt %u.%u",
                   version >> 8, version & 0xFF);
      return NULL;
    }

  HelloData h = { user_agent, scheme, principal, credentials, version < 0x501, version == 0x404 };
  g_autoptr (GByteArray) hello = build_map_message (0x01, fill_hello, &h);
  if (!exchange_expect_success (fw, hello, error))
    return NULL;
  if (version >= 0x501)
    {
      g_autoptr (GByteArray) logon = build_map_message (0x6A, fill_logon, &h);
      if (!exchange_expect_success (fw, logon, error))
        return NULL;
    }
  return g_steal_pointer (&fw);
}
