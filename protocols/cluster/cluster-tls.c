/* cluster-tls.c — GnuTLS set-up for the cluster transport.
 *
 * GnuTLS is driven directly (not through glib-networking) so that the
 * handshake runs non-blocking on the node's main context, and so that
 * verification rules are exactly the ones documented in
 * docs/cluster-protocol.md.
 */
#define G_LOG_DOMAIN "nornicdb-cluster"

#include "cluster-tls.h"

#include <gnutls/x509.h>

struct _NcClusterTls {
  gnutls_certificate_credentials_t creds;
  gnutls_priority_t priority;
  gboolean verify_client;
  gboolean have_ca;
};

const char *
nc_cluster_tls_priority_for (NcClusterTlsVersion min_version)
{
  return min_version == NC_CLUSTER_TLS_1_3 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                                           : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
}

static gboolean
tls_error (GError **error, int r, const char *what, const char *arg)
{
  g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_TLS, "%s%s%s: %s", what,
               arg != NULL ? " " : "", arg != NULL ? arg : "", gnutls_strerror (r));
  return FALSE;
}

void
nc_cluster_tls_free (NcClusterTls *tls)
{
  if (tls == NULL)
    return;
  if (tls->creds != NULL)
    gnutls_certificate_free_credentials (tls->creds);
  if (tls->priority != NULL)
    gnutls_priority_deinit (tls->priority);
  g_free (tls);
}

NcClusterTls *
nc_cluster_tls_new (const NcClusterTlsSettings *s, gboolean need_cert, GError **error)
{
  g_autoptr(NcClusterTls) tls = g_new0 (NcClusterTls, 1);
  tls->verify_client = s->verify_client;

  if ((s->cert_file == NULL) != (s->key_file == NULL))
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG,
                   "cluster TLS needs both a certificate and a key file");
      return NULL;
    }
  if (need_cert && s->cert_file == NULL)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG,
                   "cluster TLS on a listening node needs a certificate and key file");
      return NULL;
    }
  if (s->verify_client && s->ca_file == NULL)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG,
                   "verifying client certificates needs a CA file");
      return NULL;
    }

  int r = gnutls_certificate_allocate_credentials (&tls->creds);
  if (r < 0)
    return tls_error (error, r, "allocating TLS credentials", NULL), NULL;
  if (s->cert_file != NULL)
    {
      r = gnutls_certificate_set_x509_key_file (tls->creds, s->cert_file, s->key_file, GNUTLS_X509_FMT_PEM);
      if (r < 0)
        return tls_error (error, r, "loading cluster certificate", s->cert_file), NULL;
    }
  if (s->ca_file != NULL)
    {
      r = gnutls_certificate_set_x509_trust_file (tls->creds, s->ca_file, GNUTLS_X509_FMT_PEM);
      if (r < 0)
        return tls_error (error, r, "loading cluster CA", s->ca_file), NULL;
      if (r == 0)
        {
          g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG,
                       "cluster CA file %s holds no certificate", s->ca_file);
          return NULL;
        }
      tls->have_ca = TRUE;
    }
  else
    {
      /* Servers are still verified: against the system store. */
      r = gnutls_certificate_set_x509_system_trust (tls->creds);
      if (r < 0)
        g_warning ("cluster TLS: no CA file and the system trust store failed to load (%s); "
                   "outgoing connections will fail verification", gnutls_strerror (r));
    }

  const char *prio = s->priorities != NULL ? s->priorities : nc_cluster_tls_priority_for (s->min_version);
  const char *err_pos = NULL;
  r = gnutls_priority_init (&tls->priority, prio, &err_pos);
  if (r < 0)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG,
                   "bad TLS priority string \"%s\" near \"%s\": %s", prio,
                   err_pos != NULL ? err_pos : "", gnutls_strerror (r));
      return NULL;
    }
  return g_steal_pointer (&tls);
}

gboolean
nc_cluster_tls_session_new (NcClusterTls *tls, gboolean server, int fd, gnutls_session_t *session,
                            GError **error)
{
  gnutls_session_t s = NULL;
  /* NO_SIGNAL: a peer that resets the connection must not SIGPIPE the daemon. */
  int r = gnutls_init (&s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
  if (r < 0)
    return tls_error (error, r, "creating TLS session", NULL);
  r = gnutls_priority_set (s, tls->priority);
  if (r >= 0)
    r = gnutls_credentials_set (s, GNUTLS_CRD_CERTIFICATE, tls->creds);
  if (r < 0)
    {
      gnutls_deinit (s);
      return tls_error (error, r, "configuring TLS session", NULL);
    }
  if (server)
    {
      if (tls->verify_client)
        {
          gnutls_certificate_server_set_request (s, GNUTLS_CERT_REQUIRE);
          gnutls_session_set_verify_cert (s, NULL, 0);
        }
      else
        gnutls_certificate_server_set_request (s, GNUTLS_CERT_IGNORE);
    }
  else
    {
      /* Chain only: cluster certificates are issued by the cluster's own CA,
       * and peers are often addressed by IP. */
      gnutls_session_set_verify_cert (s, NULL, 0);
    }
  gnutls_transport_set_int (s, fd);
  *session = s;
  return TRUE;
}

gboolean
nc_cluster_tls_check_peer (NcClusterTls *tls, gnutls_session_t session, gboolean server, GError **error)
{
  if (server && !tls->verify_client)
    return TRUE;
  unsigned int status = 0;
  int r = gnutls_certificate_verify_peers2 (session, &status);
  if (r < 0)
    return tls_error (error, r, "verifying peer certificate", NULL);
  if (status != 0)
    {
      gnutls_datum_t out = { NULL, 0 };
      gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &out, 0);
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_TLS, "peer certificate rejected: %s",
                   out.data != NULL ? (const char *) out.data : "verification failed");
      gnutls_free (out.data);
      return FALSE;
    }
  return TRUE;
}
