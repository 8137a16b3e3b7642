/* Cluster TLS and mutual TLS: certificates are minted at test time with
 * the GnuTLS x509 API (a cluster CA, two node certificates, and a rogue CA
 * with its own node certificate), then real nodes connect over loopback. */
#include "test-cluster-util.h"

#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

static char *tmpdir;

typedef struct {
  char *cert;
  char *key;
} Pem;

static Pem ca, node_a, node_b, rogue_ca, rogue;

static void
check (int r, const char *what)
{
  if (r < 0)
    g_error ("%s: %s", what, gnutls_strerror (r));
}

static gnutls_x509_privkey_t
new_key (void)
{
  gnutls_x509_privkey_t key;
  check (gnutls_x509_privkey_init (&key), "privkey_init");
  check (gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
         "privkey_generate");
  return key;
}

static void
write_datum (const char *path, gnutls_datum_t *d)
{
  g_autoptr(GError) error = NULL;
  g_assert_true (g_file_set_contents (path, (const char *) d->data, d->size, &error));
  gnutls_free (d->data);
}

/* Issues a certificate for `cn` signed by issuer (self-signed when NULL),
 * writes "<name>.crt" and "<name>.key", and returns cert and key. */
static Pem
issue (const char *name, const char *cn, gboolean is_ca, gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key,
       gnutls_x509_crt_t *crt_out, gnutls_x509_privkey_t *key_out)
{
  static guint8 serial = 1;
  gnutls_x509_privkey_t key = new_key ();
  gnutls_x509_crt_t crt;
  check (gnutls_x509_crt_init (&crt), "crt_init");
  check (gnutls_x509_crt_set_version (crt, 3), "set_version");
  guint8 sn[2] = { 0x01, serial++ };
  check (gnutls_x509_crt_set_serial (crt, sn, sizeof sn), "set_serial");
  time_t now = time (NULL);
  check (gnutls_x509_crt_set_activation_time (crt, now - 3600), "activation");
  check (gnutls_x509_crt_set_expiration_time (crt, now + 86400), "expiration");
  check (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn)), "set_dn");
  check (gnutls_x509_crt_set_key (crt, key), "set_key");
  guint8 kid[64];
  size_t kid_len = sizeof kid;
  check (gnutls_x509_crt_get_key_id (crt, 0, kid, &kid_len), "get_key_id");
  check (gnutls_x509_crt_set_subject_key_id (crt, kid, kid_len), "set_subject_key_id");
  if (is_ca)
    {
      check (gnutls_x509_crt_set_basic_constraints (crt, 1, -1), "ca constraints");
      check (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN), "ca usage");
    }
  else
    {
      check (gnutls_x509_crt_set_basic_constraints (crt, 0, -1), "constraints");
      check (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "usage");
      check (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "purpose server");
      check (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), "purpose client");
      const guint8 lo[4] = { 127, 0, 0, 1 };
      check (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS, lo, 4, GNUTLS_FSAN_SET), "san");
      guint8 akid[64];
      size_t akid_len = sizeof akid;
      check (gnutls_x509_crt_get_subject_key_id (issuer, akid, &akid_len, NULL), "issuer key id");
      check (gnutls_x509_crt_set_authority_key_id (crt, akid, akid_len), "set_authority_key_id");
    }
  check (gnutls_x509_crt_sign2 (crt, issuer != NULL ? issuer : crt, issuer_key != NULL ? issuer_key : key,
                                GNUTLS_DIG_SHA256, 0), "sign");
  Pem pem = { g_strdup_printf ("%s/%s.crt", tmpdir, name), g_strdup_printf ("%s/%s.key", tmpdir, name) };
  gnutls_datum_t d;
  check (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &d), "export crt");
  write_datum (pem.cert, &d);
  check (gnutls_x509_privkey_export2 (key, GNUTLS_X509_FMT_PEM, &d), "export key");
  write_datum (pem.key, &d);
  if (crt_out != NULL)
    *crt_out = crt;
  else
    gnutls_x509_crt_deinit (crt);
  if (key_out != NULL)
    *key_out = key;
  else
    gnutls_x509_privkey_deinit (key);
  return pem;
}

static void
make_pki (void)
{
  g_autoptr(GError) error = NULL;
  tmpdir = g_dir_make_tmp ("nornic-cluster-tls-XXXXXX", &error);
  g_assert_no_error (error);
  gnutls_x509_crt_t ca_crt, rogue_crt;
  gnutls_x509_privkey_t ca_key, rogue_key;
  ca = issue ("ca", "NornicDB test cluster CA", TRUE, NULL, NULL, &ca_crt, &ca_key);
  node_a = issue ("node-a", "node-a", FALSE, ca_crt, ca_key, NULL, NULL);
  node_b = issue ("node-b", "node-b", FALSE, ca_crt, ca_key, NULL, NULL);
  rogue_ca = issue ("rogue-ca", "Some other CA", TRUE, NULL, NULL, &rogue_crt, &rogue_key);
  rogue = issue ("rogue", "node-r", FALSE, rogue_crt, rogue_key, NULL, NULL);
  gnutls_x509_crt_deinit (ca_crt);
  gnutls_x509_crt_deinit (rogue_crt);
  gnutls_x509_privkey_deinit (ca_key);
  gnutls_x509_privkey_deinit (rogue_key);
}

static void
remove_pki (void)
{
  Pem *all[] = { &ca, &node_a, &node_b, &rogue_ca, &rogue };
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    {
      g_unlink (all[i]->cert);
      g_unlink (all[i]->key);
      g_free (all[i]->cert);
      g_free (all[i]->key);
    }
  g_rmdir (tmpdir);
  g_free (tmpdir);
}

static void
tls_settings (NcClusterNodeSettings *s, const char *id, const Pem *pem, const Pem *trust, gboolean verify_client)
{
  tcu_settings (s, id);
  s->tls.enabled = TRUE;
  s->tls.cert_file = pem != NULL ? pem->cert : NULL;
  s->tls.key_file = pem != NULL ? pem->key : NULL;
  s->tls.ca_file = trust != NULL ? trust->cert : NULL;
  s->tls.verify_client = verify_client;
  s->tls.min_version = NC_CLUSTER_TLS_1_2;
}

/* Dials `server` from `client` and gives the handshake time to finish or fail. */
static gboolean
dial_and_wait (TestNode *client, TestNode *server, guint ms)
{
  g_autofree char *addr = tcu_node_address (server);
  g_assert_true (nc_cluster_node_add_peer (client->node, server->id, addr, NULL));
  return tcu_wait_up (client, server->id, ms);
}

static void
assert_refused (TestNode *client, TestNode *server)
{
  g_assert_false (dial_and_wait (client, server, 800));
  /* Neither side got anything past the handshake. */
  g_assert_cmpuint (client->up_events->len, ==, 0);
  g_assert_cmpuint (server->up_events->len, ==, 0);
  g_assert_cmpuint (client->received->len, ==, 0);
  g_assert_cmpuint (server->received->len, ==, 0);
  g_assert_false (tcu_peer_connected (client, server->id));
}

static void
test_mtls_pair_connects (void)
{
  NcClusterNodeSettings s;
  tls_settings (&s, "a", &node_a, &ca, TRUE);
  g_autoptr(TestNode) a = tcu_node_new (&s);
  tls_settings (&s, "b", &node_b, &ca, TRUE);
  s.tls.min_version = NC_CLUSTER_TLS_1_3;
  g_autoptr(TestNode) b = tcu_node_new (&s);
  g_assert_true (dial_and_wait (a, b, 5000));
  g_assert_true (tcu_wait_up (b, "a", 5000));

  /* A large message crosses several TLS records. */
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_WAL_BATCH);
  m->u.wal_batch.epoch = 2;
  m->u.wal_batch.entries = nc_cluster_entries_new ();
  for (guint i = 1; i <= 50; i++)
    {
      g_autoptr(GBytes) ws = g_bytes_new_take (g_malloc0 (4000), 4000);
      g_ptr_array_add (m->u.wal_batch.entries, nc_cluster_entry_new (i, 2, ws));
    }
  g_autoptr(GError) error = NULL;
  g_assert_true (nc_cluster_node_send (a->node, "b", m, &error));
  g_assert_no_error (error);
  g_assert_true (tcu_send_vote_response (b, "a", 1, NULL));
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while ((tcu_node_count (b, NC_CLUSTER_MSG_WAL_BATCH, "a") == 0 || tcu_node_count (a, NC_CLUSTER_MSG_VOTE_RESPONSE, "b") == 0) &&
         g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (tcu_node_count (b, NC_CLUSTER_MSG_WAL_BATCH, "a"), ==, 1);
  g_assert_cmpuint (tcu_node_count (a, NC_CLUSTER_MSG_VOTE_RESPONSE, "b"), ==, 1);
  NcClusterMessage *got = g_ptr_array_index (b->received, b->received->len - 1);
  g_assert_cmpuint (got->u.wal_batch.entries->len, ==, 50);
  g_autoptr(NcClusterPeerStatus) st = nc_cluster_node_peer_status (a->node, "b");
  g_assert_cmpuint (st->bytes_sent, >, 200000);
}

static void
test_other_ca_refused (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tls_settings (&s, "b", &node_b, &ca, TRUE);
  g_autoptr(TestNode) b = tcu_node_new (&s);
  /* The rogue trusts the real CA, so only the server's check can stop it. */
  tls_settings (&s, "r", &rogue, &ca, FALSE);
  s.bind_address = NULL;
  g_autoptr(TestNode) r = tcu_node_new (&s);
  assert_refused (r, b);
  g_assert_true (tcu_logs_have ("cluster peer 127.0.0.1:", "TLS handshake failed", NULL) ||
                 tcu_logs_have ("cluster peer 127.0.0.1:", "certificate rejected", NULL));
}

static void
test_no_cert_refused_when_verify_client (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tls_settings (&s, "b", &node_b, &ca, TRUE);
  g_autoptr(TestNode) b = tcu_node_new (&s);
  tls_settings (&s, "n", NULL, &ca, FALSE);
  s.bind_address = NULL;
  g_autoptr(TestNode) n = tcu_node_new (&s);
  assert_refused (n, b);
  g_assert_true (tcu_logs_have ("cluster peer 127.0.0.1:", "TLS handshake failed", NULL));
}

static void
test_no_cert_accepted_without_verify_client (void)
{
  NcClusterNodeSettings s;
  tls_settings (&s, "b", &node_b, &ca, FALSE);
  g_autoptr(TestNode) b = tcu_node_new (&s);
  tls_settings (&s, "n", NULL, &ca, FALSE);
  s.bind_address = NULL;
  g_autoptr(TestNode) n = tcu_node_new (&s);
  g_assert_true (dial_and_wait (n, b, 5000));
}

static void
test_client_refuses_server_from_other_ca (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tls_settings (&s, "r", &rogue, &rogue_ca, FALSE);
  g_autoptr(TestNode) r = tcu_node_new (&s);
  tls_settings (&s, "a", &node_a, &ca, FALSE);
  s.bind_address = NULL;
  g_autoptr(TestNode) a = tcu_node_new (&s);
  assert_refused (a, r);
  g_assert_true (tcu_logs_have ("cluster peer r (127.0.0.1:", "TLS handshake failed", NULL));
}

static void
test_min_version_1_3_refuses_1_2_client (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tls_settings (&s, "b", &node_b, &ca, TRUE);
  s.tls.min_version = NC_CLUSTER_TLS_1_3;
  g_autoptr(TestNode) b13 = tcu_node_new (&s);
  tls_settings (&s, "b", &node_b, &ca, TRUE);
  g_autoptr(TestNode) b12 = tcu_node_new (&s);

  tls_settings (&s, "old", &node_a, &ca, FALSE);
  s.bind_address = NULL;
  s.tls.priorities = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
  g_autoptr(TestNode) old = tcu_node_new (&s);
  assert_refused (old, b13);
  g_assert_true (tcu_logs_have ("TLS handshake failed", NULL));

  /* Control: the same client is fine where 1.2 is allowed. */
  g_autoptr(TestNode) old2 = tcu_node_new (&s);
  g_assert_true (dial_and_wait (old2, b12, 5000));
}

static void
test_plaintext_peer_gets_nothing (void)
{
  NcClusterNodeSettings s;
  tls_settings (&s, "b", &node_b, &ca, TRUE);
  g_autoptr(TestNode) b = tcu_node_new (&s);
  g_autoptr(GSocket) raw = tcu_raw_connect (nc_cluster_node_get_port (b->node));
  tcu_raw_send_hello (raw, "plain", "c1", NC_CLUSTER_PROTOCOL_VERSION);
  gboolean closed = FALSE;
  g_autoptr(GByteArray) got = tcu_raw_read (raw, 5000, &closed);
  g_assert_true (closed);
  g_autoptr(GPtrArray) frames = tcu_frames (got);
  g_assert_cmpuint (frames->len, ==, 0);
  g_assert_cmpuint (b->received->len, ==, 0);
  g_assert_cmpuint (b->up_events->len, ==, 0);
}

static void
test_tls_settings_validated (void)
{
  NcClusterNodeSettings s;
  g_autoptr(GError) error = NULL;
  tls_settings (&s, "x", NULL, &ca, FALSE);  /* a listener without a certificate */
  g_assert_null (nc_cluster_node_new (&s, NULL, &error));
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG);
  g_clear_error (&error);
  tls_settings (&s, "x", &node_a, NULL, TRUE);  /* verify_client without a CA */
  g_assert_null (nc_cluster_node_new (&s, NULL, &error));
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG);
  g_clear_error (&error);
  Pem missing = { (char *) "/nonexistent/node.crt", (char *) "/nonexistent/node.key" };
  tls_settings (&s, "x", &missing, &ca, FALSE);
  g_assert_null (nc_cluster_node_new (&s, NULL, &error));
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_TLS);
  g_clear_error (&error);
  tls_settings (&s, "x", &node_a, &ca, FALSE);
  s.tls.priorities = "NORMAL:+NO-SUCH-THING";
  g_assert_null (nc_cluster_node_new (&s, NULL, &error));
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tcu_init_logging ();
  make_pki ();
  g_test_add_func ("/nornic/cluster/tls/mutual-tls-pair-connects-and-exchanges", test_mtls_pair_connects);
  g_test_add_func ("/nornic/cluster/tls/peer-with-cert-from-other-ca-is-refused", test_other_ca_refused);
  g_test_add_func ("/nornic/cluster/tls/peer-without-cert-is-refused-when-verify-client", test_no_cert_refused_when_verify_client);
  g_test_add_func ("/nornic/cluster/tls/peer-without-cert-is-accepted-when-not-verifying-clients",
                   test_no_cert_accepted_without_verify_client);
  g_test_add_func ("/nornic/cluster/tls/client-refuses-server-signed-by-other-ca", test_client_refuses_server_from_other_ca);
  g_test_add_func ("/nornic/cluster/tls/min-version-1.3-refuses-client-forced-to-1.2", test_min_version_1_3_refuses_1_2_client);
  g_test_add_func ("/nornic/cluster/tls/plaintext-peer-gets-nothing-from-tls-listener", test_plaintext_peer_gets_nothing);
  g_test_add_func ("/nornic/cluster/tls/settings-are-validated", test_tls_settings_validated);
  int rc = g_test_run ();
  remove_pki ();
  return rc;
}
