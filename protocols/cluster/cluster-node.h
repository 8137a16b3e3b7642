/* cluster-node.h — the cluster transport: one listener, connections to and
 * from peers, TLS, keep-alive, reconnects and per-peer health, all driven
 * by the GMainContext the owner passes in.
 *
 * Threads: every function here must be called on the thread that runs the
 * node's GMainContext, and every callback is invoked there.
 *
 * Connections. Each configured peer (nc_cluster_node_add_peer) gets one
 * outgoing connection, re-dialled with bounded, jittered exponential
 * backoff while the peer is configured. Peers may also dial in. The first
 * frame on every connection, each way, is a Hello; until both Hellos have
 * been exchanged nothing else is delivered. nc_cluster_node_send() picks
 * the outgoing connection to that node id when it is up, otherwise the
 * newest incoming one, so a reply reaches an admin tool that dialled in.
 *
 * Bad input (oversized length, bad JSON, missing or mistyped field, wrong
 * cluster id, unknown type, a frame before Hello) is answered with an Error
 * frame when the connection can still carry one, logged as a warning that
 * names the peer, and that connection alone is closed.
 */
#pragma once

#include <glib.h>
#include <nornicdb/module.h>  /* NornicMetricType only: the library never links core */

#include "cluster-message.h"

G_BEGIN_DECLS

typedef enum {
  NC_CLUSTER_TLS_1_2 = 0,
  NC_CLUSTER_TLS_1_3,
} NcClusterTlsVersion;

/* NORNICDB_CLUSTER_TLS_* as values; the module reads the configuration and
 * fills this in. Strings are copied by nc_cluster_node_new(). */
typedef struct {
  gboolean enabled;
  const char *cert_file;        /* PEM; presented by both sides when set */
  const char *key_file;
  const char *ca_file;          /* verifies servers always, clients when verify_client */
  gboolean verify_client;       /* refuse dialling peers without a CA-signed cert */
  NcClusterTlsVersion min_version;
  /* Expert/test override of the GnuTLS priority string (NULL: derived from
   * min_version). */
  const char *priorities;
} NcClusterTlsSettings;

typedef struct {
  const char *node_id;            /* required, non-empty */
  const char *cluster_id;         /* required */
  const char *bind_address;       /* "host:port" (port 0: ephemeral); NULL: no listener */
  const char *advertise_address;  /* sent in Hello; NULL: the bound address */
  const char *bolt_address;       /* sent in Hello; may be NULL */
  const char *mode;               /* sent in Hello ("raft", "ha_standby", ...); may be NULL */
  const char *region;             /* sent in Hello; may be NULL */

  gsize max_frame_bytes;          /* 0: NC_CLUSTER_DEFAULT_MAX_FRAME (64 MiB) */
  gsize max_queue_bytes;          /* per connection; 0: 2 * max_frame_bytes */
  guint keepalive_ms;             /* KeepAlive after this much send silence; 0: 1000 */
  guint dead_after_ms;            /* close after this much receive silence; 0: 5 * keepalive */
  guint health_window_ms;         /* healthy = heard from within; 0: 3 * keepalive */
  guint reconnect_min_ms;         /* first retry delay; 0: 100 */
  guint reconnect_max_ms;         /* backoff cap; 0: 5000 */
  guint handshake_timeout_ms;     /* TCP + TLS + Hello; 0: 5000 */

  NcClusterTlsSettings tls;

  /* Further cluster ids whose frames (Hello included) are accepted besides
   * `cluster_id`: NULL-terminated, may be NULL. Multi-region links: each
   * region is its own Raft cluster with its own id, and its leader talks to
   * the other regions' nodes (docs/multi-region.md). The entry "*" accepts
   * every cluster id: the module then checks `msg->cluster` itself. Frames
   * this node sends always carry `cluster_id`. */
  const char *const *accepted_cluster_ids;
} NcClusterNodeSettings;

typedef struct _NcClusterNode NcClusterNode;

/* A decoded message from `msg->from`. `msg` is (transfer none): copy what
 * you keep. KeepAlive frames are consumed by the transport. */
typedef void (*NcClusterMessageCb) (NcClusterNode *node, const NcClusterMessage *msg, gpointer user_data);

/* A node's first Hello was accepted (`up`) or its last connection closed.
 * `hello` is the peer's Hello when up, NULL when down. A module resyncs a
 * peer after it comes back up. */
typedef void (*NcClusterPeerEventCb) (NcClusterNode *node, const char *peer_id, gboolean up,
                                      const NcClusterMessage *hello, gpointer user_data);

/* Validates settings, loads TLS credentials. Does not open sockets.
 * (transfer full) */
NcClusterNode *nc_cluster_node_new (const NcClusterNodeSettings *settings, GMainContext *context,
                                    GError **error);
NcClusterNode *nc_cluster_node_ref (NcClusterNode *node);
/* Dropping the last reference stops the node. */
void nc_cluster_node_unref (NcClusterNode *node);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcClusterNode, nc_cluster_node_unref)

void nc_cluster_node_set_callbacks (NcClusterNode *node, NcClusterMessageCb message_cb,
                                    NcClusterPeerEventCb peer_cb, gpointer user_data);

/* Role and epoch advertised in the Hello of connections made from now on. */
void nc_cluster_node_set_role (NcClusterNode *node, const char *role, guint64 epoch);

/* Binds the listener (when configured) and starts dialling peers. */
gboolean nc_cluster_node_start (NcClusterNode *node, GError **error);
/* Closes every connection and the listener; peers stay configured, and a
 * later start() dials them again. Safe to call from a callback. */
void nc_cluster_node_stop (NcClusterNode *node);

/* Port actually bound (useful with port 0), 0 before start(). */
guint16 nc_cluster_node_get_port (NcClusterNode *node);

/* Configures an outgoing peer. `peer_id` is the node id expected in its
 * Hello (a different id is refused); NULL accepts whatever id answers at
 * `address` (e.g. HA with only NORNICDB_CLUSTER_HA_PEER_ADDR). Returns FALSE
 * when a peer with that id or address is already configured. */
gboolean nc_cluster_node_add_peer (NcClusterNode *node, const char *peer_id, const char *address,
                                   GError **error);
/* Forgets the outgoing peer at `address` and closes its connection. */
void nc_cluster_node_remove_peer (NcClusterNode *node, const char *address);

/* Queues `msg` for node `peer_id`. `msg->from` and `msg->cluster` are
 * filled in by the node (the message is not modified; a copy of the
 * envelope is used). Fails with NOT_CONNECTED when no connection to that
 * node has finished its Hello, FRAME_TOO_LARGE / BAD_FIELD when the message
 * cannot be encoded, and QUEUE_FULL when the peer has not been reading: that
 * connection is then closed, and the module resyncs after it reconnects. */
gboolean nc_cluster_node_send (NcClusterNode *node, const char *peer_id, const NcClusterMessage *msg,
                               GError **error);

/* Per-peer state for /health, /admin/cluster/status and metrics. */
typedef struct {
  char *peer_id;            /* NULL until a configured peer's Hello arrives */
  char *address;            /* configured address, or the remote socket address */
  gboolean configured;      /* added with add_peer (we dial it) */
  gboolean connected;       /* at least one connection past Hello */
  gboolean healthy;         /* connected and heard from within health_window_ms */
  gint64 last_heard_ms_ago; /* -1: never */
  char *role;               /* from the peer's latest Hello, may be NULL */
  guint64 epoch;
  guint64 bytes_sent;       /* frames written, TLS overhead excluded */
  guint64 bytes_received;
  guint64 frames_sent;
  guint64 frames_received;
  guint reconnects;         /* successful outgoing connections after the first */
  char *last_error;         /* latest connection failure, may be NULL */
} NcClusterPeerStatus;

void nc_cluster_peer_status_free (NcClusterPeerStatus *status);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcClusterPeerStatus, nc_cluster_peer_status_free)

/* Status of node `peer_id` (configured or dialled in), NULL when unknown.
 * (transfer full) */
NcClusterPeerStatus *nc_cluster_node_peer_status (NcClusterNode *node, const char *peer_id);
/* Every known peer: configured ones first, then nodes that only dialled in.
 * (transfer full) array of NcClusterPeerStatus. */
GPtrArray *nc_cluster_node_list_peers (NcClusterNode *node);
/* JSON array text of list_peers() for /health and /admin/cluster/status.
 * (transfer full) */
char *nc_cluster_node_peers_json (NcClusterNode *node);

/* The module ABI's append_metric (NornicCoreApi.append_metric). */
typedef void (*NcClusterAppendMetricFunc) (GString *out, const char *name, NornicMetricType type,
                                           const char *help, const char *labels, double value);

/* Appends per-peer samples, labelled peer="<id or address>":
 *   nornicdb_peer_healthy, nornicdb_peer_connected (gauges),
 *   nornicdb_replication_bytes_total{direction="sent"|"received"},
 *   nornicdb_cluster_peer_reconnects_total (counters).
 * Bytes are all cluster frame bytes exchanged with that peer. */
void nc_cluster_node_append_metrics (NcClusterNode *node, GString *out, NcClusterAppendMetricFunc append);

G_END_DECLS
