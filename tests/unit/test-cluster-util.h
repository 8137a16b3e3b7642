/* Shared fixtures for the cluster transport and TLS tests: nodes that record
 * what they receive, raw sockets that misbehave, and a bounded loop driver. */
#pragma once

#include <gio/gio.h>

#include "cluster-node.h"

G_BEGIN_DECLS

/* Makes warnings from the cluster library non-fatal and records them. */
void tcu_init_logging (void);
void tcu_logs_clear (void);
/* TRUE when a recorded warning contains every one of the (NULL-ended) needles. */
gboolean tcu_logs_have (const char *needle, ...) G_GNUC_NULL_TERMINATED;

/* Iterates the default context until `cond (data)` or `timeout_ms`. */
gboolean tcu_wait (guint timeout_ms, gboolean (*cond) (gpointer data), gpointer data);
/* Iterates the default context for `ms`. */
void tcu_spin (guint ms);

typedef struct {
  NcClusterNode *node;
  char *id;
  GPtrArray *received;     /* NcClusterMessage copies */
  GPtrArray *up_events;    /* char* peer ids */
  GPtrArray *down_events;
  NcClusterMessage *last_hello;
} TestNode;

void tcu_settings (NcClusterNodeSettings *s, const char *id);
/* Creates and starts a node with `s` on the default context. */
TestNode *tcu_node_new (const NcClusterNodeSettings *s);
void tcu_node_free (TestNode *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestNode, tcu_node_free)
char *tcu_node_address (TestNode *t);
/* Number of received messages of `type` from `from` (NULL: anyone). */
guint tcu_node_count (TestNode *t, NcClusterMsgType type, const char *from);
gboolean tcu_peer_connected (TestNode *t, const char *peer_id);
gboolean tcu_peer_healthy (TestNode *t, const char *peer_id);
/* Waits until `a` and `b` both see each other (b dialled by a). */
gboolean tcu_wait_up (TestNode *t, const char *peer_id, guint timeout_ms);
/* Sends a VoteResponse with `term` to peer_id. */
gboolean tcu_send_vote_response (TestNode *t, const char *peer_id, guint64 term, GError **error);

/* Raw, blocking-connect client sockets. */
GSocket *tcu_raw_connect (guint16 port);
void tcu_raw_send (GSocket *s, const void *data, gsize len);
void tcu_raw_send_frame (GSocket *s, NcClusterMessage *msg, const char *from, const char *cluster);
void tcu_raw_send_hello (GSocket *s, const char *from, const char *cluster, guint64 version);
void tcu_raw_send_json (GSocket *s, const char *json);
/* Collects bytes while iterating the loop until EOF (closed = TRUE) or timeout. */
GByteArray *tcu_raw_read (GSocket *s, guint timeout_ms, gboolean *closed);
/* Decodes every complete frame in `buf`. (transfer full) array of NcClusterMessage. */
GPtrArray *tcu_frames (GByteArray *buf);
char *tcu_raw_local_address (GSocket *s);

G_END_DECLS
