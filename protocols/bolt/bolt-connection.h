/* One Bolt connection as a state machine fed with bytes.
 *
 * The connection owns no socket: the server (or a test, or a fuzz target)
 * feeds it whatever bytes arrive, and it answers through the `write`
 * callback. It covers the handshake (legacy proposals and manifest v1),
 * chunk framing, message decoding and the Bolt server state machine
 * (CONNECTED, AUTHENTICATION, READY, STREAMING, TX_READY, TX_STREAMING,
 * FAILED, DEFUNCT), and runs queries through an NcBoltBackend.
 *
 * Supported versions: 4.4 (with the "utc" patch), 5.0-5.4, 5.6-5.8 and,
 * through the manifest handshake, 6.0. 5.5 is never chosen: the official
 * drivers do not accept it.
 *
 * Threads: a connection is used by one thread at a time.
 */
#pragma once

#include <glib.h>
#include "bolt-backend.h"

G_BEGIN_DECLS

typedef struct _NcBoltConnection NcBoltConnection;

/* Writes bytes to the client; FALSE when the client is gone. */
typedef gboolean (*NcBoltWriteFunc) (gpointer user_data, const guint8 *data, gsize len, GError **error);

typedef struct {
  const NcBoltBackend *backend;
  gpointer backend_data;
  const char *connection_id;     /* "bolt-N" */
  const char *client_addr;       /* for the authentication rate limit; may be NULL */
  const char *server_agent;      /* "Neo4j/5.26.0-nornicdb-..." */
  gint64 idle_timeout_s;         /* advertised as connection.recv_timeout_seconds; 0 = none */
  gsize max_message;             /* largest request message accepted */
  gboolean allow_forward;        /* relay writes to the writer on direct connections */
  gpointer forward_tls;          /* gnutls_certificate_credentials_t for the relay link, or NULL */
  NcBoltWriteFunc write;
  gpointer write_data;
} NcBoltConnectionConfig;

/* Strings in `config` are copied. (transfer full) */
NcBoltConnection *nc_bolt_connection_new (const NcBoltConnectionConfig *config);
void nc_bolt_connection_free (NcBoltConnection *conn);

/* Processes `len` bytes from the client, writing every answer through the
 * callback. FALSE when the connection must now be closed (GOODBYE, failed
 * authentication, malformed input, client gone). */
gboolean nc_bolt_connection_feed (NcBoltConnection *conn, const guint8 *data, gsize len);

/* Negotiated version as (major << 8) | minor, 0 before the handshake ends. */
guint nc_bolt_connection_version (NcBoltConnection *conn);

/* Tells a client it is being turned away (too many connections, shutting
 * down) and that the connection will close: writes a FAILURE once the
 * handshake is done, nothing before. */
void nc_bolt_connection_reject (NcBoltConnection *conn, const GError *reason);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcBoltConnection, nc_bolt_connection_free)

G_END_DECLS
