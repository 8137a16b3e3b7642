/* cluster-tls.h — GnuTLS credentials and sessions for cluster connections
 * (private to protocols/cluster). */
#pragma once

#include <glib.h>
#include <gnutls/gnutls.h>

#include "cluster-node.h"

G_BEGIN_DECLS

typedef struct _NcClusterTls NcClusterTls;

/* Loads the certificate/key pair and the CA (or the system trust store when
 * no CA is given) and compiles the priority string. `need_cert`: this node
 * listens, so it must have a certificate to present. (transfer full) */
NcClusterTls *nc_cluster_tls_new (const NcClusterTlsSettings *settings, gboolean need_cert, GError **error);
void nc_cluster_tls_free (NcClusterTls *tls);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcClusterTls, nc_cluster_tls_free)

/* A non-blocking session on `fd`, server or client side. The client always
 * verifies the server's chain during the handshake; the server requires
 * and verifies a client certificate when verify_client is set. */
gboolean nc_cluster_tls_session_new (NcClusterTls *tls, gboolean server, int fd,
                                     gnutls_session_t *session, GError **error);

/* After a successful handshake: re-checks the peer's certificate where the
 * settings demand one (a server with verify_client). */
gboolean nc_cluster_tls_check_peer (NcClusterTls *tls, gnutls_session_t session, gboolean server,
                                    GError **error);

/* The priority string min_version stands for. (transfer none) */
const char *nc_cluster_tls_priority_for (NcClusterTlsVersion min_version);

G_END_DECLS
