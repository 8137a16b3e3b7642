/* The cluster settings every replication module reads the same way from
 * the configuration (NORNICDB_CLUSTER_TLS_*). Header-only, for modules:
 * they reach the configuration through the NornicCoreApi table only. */
#pragma once

#include "cluster-node.h"
#include "nornicdb/module.h"

/* Fills `tls` from NORNICDB_CLUSTER_TLS_ENABLED, _CERT_FILE, _KEY_FILE,
 * _CA_FILE, _VERIFY_CLIENT and _MIN_VERSION. The strings stay owned by the
 * configuration (nc_cluster_node_new() copies them). */
static inline void
nc_cluster_tls_from_config (const NornicCoreApi *api, NcClusterTlsSettings *tls)
{
  tls->enabled = api->config_get_bool (api->core, "NORNICDB_CLUSTER_TLS_ENABLED");
  tls->cert_file = api->config_get (api->core, "NORNICDB_CLUSTER_TLS_CERT_FILE");
  tls->key_file = api->config_get (api->core, "NORNICDB_CLUSTER_TLS_KEY_FILE");
  tls->ca_file = api->config_get (api->core, "NORNICDB_CLUSTER_TLS_CA_FILE");
  tls->verify_client = api->config_get_bool (api->core, "NORNICDB_CLUSTER_TLS_VERIFY_CLIENT");
  tls->min_version = g_strcmp0 (api->config_get (api->core, "NORNICDB_CLUSTER_TLS_MIN_VERSION"), "1.3") == 0
                       ? NC_CLUSTER_TLS_1_3 : NC_CLUSTER_TLS_1_2;
}
