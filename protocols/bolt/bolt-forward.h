/* A minimal Bolt client used to relay a client's write transaction to the
 * node that accepts writes, when the client connected directly (bolt://)
 * to a node that cannot write.
 *
 * The link negotiates the same Bolt version the client uses (5.8 for a 6.0
 * client: the wire format is the same apart from vectors, which are never
 * produced), authenticates with the client's own credentials, and then
 * carries raw request and response messages, so records are relayed without
 * being decoded. With `tls_credentials` (a gnutls_certificate_credentials_t
 * holding this node's certificate as client certificate and the CA that
 * signs the writer's) the link is TLS and the writer's certificate is
 * verified against its host name.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NcBoltForward NcBoltForward;

/* Connects to `address` ("host:port"), shakes hands with `version`
 * ((major << 8) | minor) and logs on. (transfer full) */
NcBoltForward *nc_bolt_forward_connect (const char *address, guint version, const char *user_agent,
                                        const char *scheme, const char *principal,
                                        const char *credentials, gint64 timeout_ms,
                                        gpointer tls_credentials, GError **error);
void nc_bolt_forward_free (NcBoltForward *fw);
const char *nc_bolt_forward_address (NcBoltForward *fw);
/* Sends one whole request message (unchunked bytes). */
gboolean nc_bolt_forward_send (NcBoltForward *fw, GBytes *message, GError **error);
/* Receives the next response message (unchunked bytes). (transfer full) */
GBytes *nc_bolt_forward_receive (NcBoltForward *fw, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcBoltForward, nc_bolt_forward_free)

G_END_DECLS
