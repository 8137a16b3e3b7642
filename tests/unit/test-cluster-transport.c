/* Cluster transport over real loopback sockets: message exchange, bad
 * peers dropped without harming good ones, reconnects, health, slow peers. */
#include "test-cluster-util.h"

#include <string.h>
#include <sys/socket.h>

typedef struct {
  TestNode *t;
  NcClusterMsgType type;
  const char *from;
  guint n;
} CountWait;

static gboolean
count_reached (gpointer data)
{
  CountWait *w = data;
  return tcu_node_count (w->t, w->type, w->from) >= w->n;
}

static gboolean
wait_count (TestNode *t, NcClusterMsgType type, const char *from, guint n)
{
  CountWait w = { t, type, from, n };
  return tcu_wait (5000, count_reached, &w);
}

static gboolean
not_connected (gpointer data)
{
  gpointer *pair = data;
  return !tcu_peer_connected (pair[0], pair[1]);
}

static gboolean
not_healthy (gpointer data)
{
  gpointer *pair = data;
  return !tcu_peer_healthy (pair[0], pair[1]);
}

/* A good node dials `listener` and exchanges a message both ways. */
static void
assert_listener_serves_good_peer (TestNode *listener)
{
  NcClusterNodeSettings s;
  tcu_settings (&s, "good");
  s.bind_address = NULL;
  g_autoptr(TestNode) good = tcu_node_new (&s);
  g_autofree char *addr = tcu_node_address (listener);
  g_assert_true (nc_cluster_node_add_peer (good->node, listener->id, addr, NULL));
  g_assert_true (tcu_wait_up (good, listener->id, 5000));
  guint before = tcu_node_count (listener, NC_CLUSTER_MSG_VOTE_RESPONSE, "good");
  g_assert_true (tcu_send_vote_response (good, listener->id, 5, NULL));
  g_assert_true (wait_count (listener, NC_CLUSTER_MSG_VOTE_RESPONSE, "good", before + 1));
  g_assert_true (tcu_send_vote_response (listener, "good", 6, NULL));
  g_assert_true (wait_count (good, NC_CLUSTER_MSG_VOTE_RESPONSE, listener->id, 1));
}

static void
test_exchange (void)
{
  NcClusterNodeSettings s;
  tcu_settings (&s, "a");
  s.bolt_address = "127.0.0.1:7687";
  s.mode = "raft";
  g_autoptr(TestNode) a = tcu_node_new (&s);
  tcu_settings (&s, "b");
  g_autoptr(TestNode) b = tcu_node_new (&s);
  nc_cluster_node_set_role (b->node, "leader", 9);
  g_autofree char *baddr = tcu_node_address (b);
  g_assert_true (nc_cluster_node_add_peer (a->node, "b", baddr, NULL));
  g_assert_true (tcu_wait_up (a, "b", 5000));
  g_assert_true (tcu_wait_up (b, "a", 5000));
  g_assert_cmpuint (a->up_events->len, ==, 1);
  g_assert_cmpuint (b->up_events->len, ==, 1);
  /* Each side learns the other's Hello. */
  g_assert_cmpstr (a->last_hello->from, ==, "b");
  g_assert_cmpstr (a->last_hello->u.hello.role, ==, "leader");
  g_assert_cmpuint (a->last_hello->u.hello.epoch, ==, 9);
  g_assert_cmpstr (a->last_hello->u.hello.advertise_addr, ==, baddr);
  g_assert_cmpstr (b->last_hello->u.hello.bolt_addr, ==, "127.0.0.1:7687");
  g_assert_cmpstr (b->last_hello->u.hello.mode, ==, "raft");

  /* A -> B on A's outgoing connection; B answers on the incoming one. */
  g_autoptr(NcClusterMessage) vr = nc_cluster_message_new (NC_CLUSTER_MSG_VOTE_REQUEST);
  vr->u.vote_request.term = 3;
  vr->u.vote_request.candidate_id = g_strdup ("a");
  g_autoptr(GError) error = NULL;
  g_assert_true (nc_cluster_node_send (a->node, "b", vr, &error));
  g_assert_no_error (error);
  g_assert_true (wait_count (b, NC_CLUSTER_MSG_VOTE_REQUEST, "a", 1));
  NcClusterMessage *got = g_ptr_array_index (b->received, b->received->len - 1);
  g_assert_cmpuint (got->u.vote_request.term, ==, 3);
  g_assert_cmpstr (got->cluster, ==, "c1");
  g_assert_true (tcu_send_vote_response (b, "a", 3, &error));
  g_assert_no_error (error);
  g_assert_true (wait_count (a, NC_CLUSTER_MSG_VOTE_RESPONSE, "b", 1));

  /* Counters and health for /health and metrics. */
  g_autoptr(NcClusterPeerStatus) st = nc_cluster_node_peer_status (a->node, "b");
  g_assert_nonnull (st);
  g_assert_true (st->configured);
  g_assert_true (st->connected);
  g_assert_true (st->healthy);
  g_assert_cmpstr (st->role, ==, "leader");
  g_assert_cmpuint (st->frames_sent, >=, 2);       /* Hello + VoteRequest */
  g_assert_cmpuint (st->frames_received, >=, 2);   /* Hello + VoteResponse */
  g_assert_cmpuint (st->bytes_sent, >, 0);
  g_autoptr(NcClusterPeerStatus) bst = nc_cluster_node_peer_status (b->node, "a");
  g_assert_nonnull (bst);
  g_assert_false (bst->configured);
  g_assert_cmpuint (bst->bytes_received, >=, st->bytes_sent - 1);  /* keep-alives may be in flight */

  g_autofree char *json = nc_cluster_node_peers_json (a->node);
  g_assert_nonnull (strstr (json, "\"id\":\"b\""));
  g_assert_nonnull (strstr (json, "\"healthy\":true"));

  /* Unknown peers are refused, not queued. */
  g_assert_false (tcu_send_vote_response (a, "nobody", 1, &error));
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_NOT_CONNECTED);
}

/* Multi-region: two clusters that list each other's id talk; a third id is
 * still refused by both. */
static void
test_accepted_cluster_ids (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  const char *const east_accepts[] = { "eu-west", NULL };
  const char *const west_accepts[] = { "us-east", NULL };
  tcu_settings (&s, "east");
  s.cluster_id = "us-east";
  s.accepted_cluster_ids = east_accepts;
  g_autoptr(TestNode) east = tcu_node_new (&s);
  tcu_settings (&s, "west");
  s.cluster_id = "eu-west";
  s.accepted_cluster_ids = west_accepts;
  g_autoptr(TestNode) west = tcu_node_new (&s);
  g_autofree char *waddr = tcu_node_address (west);
  g_assert_true (nc_cluster_node_add_peer (east->node, "west", waddr, NULL));
  g_assert_true (tcu_wait_up (east, "west", 5000));
  g_assert_true (tcu_wait_up (west, "east", 5000));
  g_autoptr(GError) error = NULL;
  g_assert_true (tcu_send_vote_response (west, "east", 4, &error));
  g_assert_no_error (error);
  g_assert_true (wait_count (east, NC_CLUSTER_MSG_VOTE_RESPONSE, "west", 1));
  /* Frames carry the sender's own id. */
  NcClusterMessage *got = g_ptr_array_index (east->received, east->received->len - 1);
  g_assert_cmpstr (got->cluster, ==, "eu-west");

  /* A node of a cluster nobody lists is refused with WrongCluster. */
  g_autoptr(GSocket) raw = tcu_raw_connect (nc_cluster_node_get_port (west->node));
  tcu_raw_send_hello (raw, "stranger", "ap-south", NC_CLUSTER_PROTOCOL_VERSION);
  gboolean closed = FALSE;
  g_autoptr(GByteArray) bytes = tcu_raw_read (raw, 5000, &closed);
  g_assert_true (closed);
  g_autoptr(GPtrArray) frames = tcu_frames (bytes);
  g_assert_cmpuint (frames->len, >=, 1);
  NcClusterMessage *last = g_ptr_array_index (frames, frames->len - 1);
  g_assert_cmpint (last->type, ==, NC_CLUSTER_MSG_ERROR);
  g_assert_cmpstr (last->u.error.code, ==, "WrongCluster");
  g_assert_true (tcu_logs_have ("ap-south", NULL));
  g_assert_true (tcu_peer_connected (west, "east"));

  /* "*" accepts any id. */
  tcu_settings (&s, "open");
  const char *const any[] = { "*", NULL };
  s.cluster_id = "mine";
  s.accepted_cluster_ids = any;
  g_autoptr(TestNode) open = tcu_node_new (&s);
  g_autofree char *oaddr = tcu_node_address (open);
  g_assert_true (nc_cluster_node_add_peer (east->node, "open", oaddr, NULL));
  g_assert_true (tcu_wait_up (open, "east", 5000));
  g_assert_cmpstr (open->last_hello->cluster, ==, "us-east");
}

/* ---- bad peers -------------------------------------------------------------------- */

typedef enum { BAD_RAW, BAD_JSON_TEXT, BAD_NO_HELLO_JSON, BAD_TRUNCATED, BAD_HELLO_VERSION } BadKind;

typedef struct {
  const char *path;
  BadKind kind;
  const char *payload;     /* JSON text, or raw bytes for BAD_RAW */
  gsize raw_len;
  const char *wire_code;   /* expected Error code; NULL: only a close */
  const char *log_part;    /* expected in the warning */
} BadCase;

static const BadCase bad_cases[] = {
  { "oversized-length", BAD_RAW, "\x7f\xff\xff\xff", 4, "FrameTooLarge", "exceeds the limit" },
  { "bad-json", BAD_JSON_TEXT, "{\"type\":2,\"from\":", 0, "BadJson", "bad JSON" },
  { "wrong-field-type", BAD_JSON_TEXT,
    "{\"type\":2,\"from\":\"raw\",\"cluster\":\"c1\",\"term\":\"seven\",\"vote_granted\":true}", 0, "BadField", "term" },
  { "missing-field", BAD_JSON_TEXT, "{\"type\":2,\"from\":\"raw\",\"cluster\":\"c1\",\"term\":7}", 0, "BadField",
    "vote_granted" },
  { "unknown-type", BAD_JSON_TEXT, "{\"type\":4242,\"from\":\"raw\",\"cluster\":\"c1\"}", 0, "UnknownType", "4242" },
  { "wrong-cluster", BAD_JSON_TEXT,
    "{\"type\":2,\"from\":\"raw\",\"cluster\":\"elsewhere\",\"term\":7,\"vote_granted\":true}", 0, "WrongCluster",
    "elsewhere" },
  { "message-before-hello", BAD_NO_HELLO_JSON,
    "{\"type\":2,\"from\":\"raw\",\"cluster\":\"c1\",\"term\":7,\"vote_granted\":true}", 0, "ProtocolViolation",
    "before Hello" },
  { "sender-changes-identity", BAD_JSON_TEXT,
    "{\"type\":2,\"from\":\"impostor\",\"cluster\":\"c1\",\"term\":7,\"vote_granted\":true}", 0, "ProtocolViolation",
    "impostor" },
  { "unsupported-protocol-version", BAD_HELLO_VERSION, NULL, 0, "ProtocolViolation", "protocol version" },
  { "truncated-frame", BAD_TRUNCATED, NULL, 0, NULL, "middle of a frame" },
};

static void
test_bad_peer (gconstpointer data)
{
  const BadCase *bc = data;
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tcu_settings (&s, "listener");
  g_autoptr(TestNode) l = tcu_node_new (&s);
  g_autoptr(GSocket) raw = tcu_raw_connect (nc_cluster_node_get_port (l->node));
  g_autofree char *raw_addr = tcu_raw_local_address (raw);

  switch (bc->kind)
    {
    case BAD_RAW:
      tcu_raw_send_hello (raw, "raw", "c1", NC_CLUSTER_PROTOCOL_VERSION);
      tcu_raw_send (raw, bc->payload, bc->raw_len);
      break;
    case BAD_JSON_TEXT:
      tcu_raw_send_hello (raw, "raw", "c1", NC_CLUSTER_PROTOCOL_VERSION);
      tcu_raw_send_json (raw, bc->payload);
      break;
    case BAD_NO_HELLO_JSON:
      tcu_raw_send_json (raw, bc->payload);
      break;
    case BAD_HELLO_VERSION:
      tcu_raw_send_hello (raw, "raw", "c1", 99);
      break;
    case BAD_TRUNCATED:
      {
        tcu_raw_send_hello (raw, "raw", "c1", NC_CLUSTER_PROTOCOL_VERSION);
        const guint8 part[] = { 0, 0, 0, 100, '{', '"', 't', 'y' };
        tcu_raw_send (raw, part, sizeof part);
        g_socket_shutdown (raw, FALSE, TRUE, NULL);
        break;
      }
    }

  gboolean closed = FALSE;
  g_autoptr(GByteArray) got = tcu_raw_read (raw, 5000, &closed);
  g_assert_true (closed);
  g_autoptr(GPtrArray) frames = tcu_frames (got);
  if (bc->wire_code != NULL)
    {
      g_assert_cmpuint (frames->len, >=, 1);
      NcClusterMessage *last = g_ptr_array_index (frames, frames->len - 1);
      g_assert_cmpint (last->type, ==, NC_CLUSTER_MSG_ERROR);
      g_assert_cmpstr (last->u.error.code, ==, bc->wire_code);
      g_assert_cmpstr (last->from, ==, "listener");
    }
  /* The warning names the peer (its address) and the problem. */
  g_assert_true (tcu_logs_have (raw_addr, bc->log_part, NULL));
  /* Nothing from the bad peer reached the module. */
  g_assert_cmpuint (l->received->len, ==, bc->kind == BAD_JSON_TEXT || bc->kind == BAD_RAW || bc->kind == BAD_TRUNCATED
                                          ? 1u : 0u);  /* just its Hello */
  assert_listener_serves_good_peer (l);
}

static void
test_other_connections_unaffected (void)
{
  /* A good peer connected before a bad one stays connected through it. */
  NcClusterNodeSettings s;
  tcu_settings (&s, "listener");
  g_autoptr(TestNode) l = tcu_node_new (&s);
  tcu_settings (&s, "steady");
  s.bind_address = NULL;
  g_autoptr(TestNode) steady = tcu_node_new (&s);
  g_autofree char *addr = tcu_node_address (l);
  g_assert_true (nc_cluster_node_add_peer (steady->node, "listener", addr, NULL));
  g_assert_true (tcu_wait_up (steady, "listener", 5000));

  g_autoptr(GSocket) raw = tcu_raw_connect (nc_cluster_node_get_port (l->node));
  const guint8 huge[4] = { 0x7f, 0xff, 0xff, 0xff };
  tcu_raw_send (raw, huge, 4);
  gboolean closed = FALSE;
  g_autoptr(GByteArray) got = tcu_raw_read (raw, 5000, &closed);
  g_assert_true (closed);
  g_autoptr(GPtrArray) frames = tcu_frames (got);
  g_assert_cmpuint (frames->len, ==, 1);
  g_assert_cmpstr (((NcClusterMessage *) g_ptr_array_index (frames, 0))->u.error.code, ==, "FrameTooLarge");

  g_assert_true (tcu_peer_connected (steady, "listener"));
  g_assert_cmpuint (steady->down_events->len, ==, 0);
  g_assert_true (tcu_send_vote_response (steady, "listener", 1, NULL));
  g_assert_true (wait_count (l, NC_CLUSTER_MSG_VOTE_RESPONSE, "steady", 1));
}

static void
test_unexpected_id_refused (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tcu_settings (&s, "a");
  g_autoptr(TestNode) a = tcu_node_new (&s);
  tcu_settings (&s, "b");
  g_autoptr(TestNode) b = tcu_node_new (&s);
  g_autofree char *baddr = tcu_node_address (b);
  g_assert_true (nc_cluster_node_add_peer (a->node, "not-b", baddr, NULL));
  tcu_spin (300);
  g_assert_cmpuint (a->up_events->len, ==, 0);
  g_assert_false (tcu_peer_connected (a, "not-b"));
  g_assert_true (tcu_logs_have ("expected node \"not-b\"", "\"b\" answered", NULL));
}

static void
test_address_only_peer_learns_id (void)
{
  NcClusterNodeSettings s;
  tcu_settings (&s, "primary");
  g_autoptr(TestNode) a = tcu_node_new (&s);
  tcu_settings (&s, "standby");
  g_autoptr(TestNode) b = tcu_node_new (&s);
  g_autofree char *baddr = tcu_node_address (b);
  g_autofree char *aaddr = tcu_node_address (a);
  /* Both dial each other knowing only the address. */
  g_assert_true (nc_cluster_node_add_peer (a->node, NULL, baddr, NULL));
  g_assert_true (nc_cluster_node_add_peer (b->node, NULL, aaddr, NULL));
  g_assert_true (tcu_wait_up (a, "standby", 5000));
  g_assert_true (tcu_wait_up (b, "primary", 5000));
  tcu_spin (100);
  g_autoptr(GPtrArray) peers = nc_cluster_node_list_peers (a->node);
  g_assert_cmpuint (peers->len, ==, 1);  /* the dial-in record merged into the configured one */
  NcClusterPeerStatus *st = g_ptr_array_index (peers, 0);
  g_assert_cmpstr (st->peer_id, ==, "standby");
  g_assert_true (st->configured);
  g_assert_cmpuint (a->up_events->len, ==, 1);
}

/* ---- restarts and health ------------------------------------------------------------ */

static void
test_reconnect_after_restart (void)
{
  NcClusterNodeSettings s;
  tcu_settings (&s, "a");
  g_autoptr(TestNode) a = tcu_node_new (&s);
  tcu_settings (&s, "b");
  TestNode *b = tcu_node_new (&s);
  guint16 port = nc_cluster_node_get_port (b->node);
  g_autofree char *baddr = tcu_node_address (b);
  g_assert_true (nc_cluster_node_add_peer (a->node, "b", baddr, NULL));
  g_assert_true (tcu_wait_up (a, "b", 5000));

  tcu_node_free (b);  /* the peer goes away */
  gpointer pair[2] = { a, (gpointer) "b" };
  g_assert_true (tcu_wait (5000, not_connected, pair));
  g_assert_false (tcu_peer_healthy (a, "b"));
  g_assert_cmpuint (a->down_events->len, ==, 1);
  tcu_spin (300);  /* a few failed dials while it is gone */

  g_autofree char *bind = g_strdup_printf ("127.0.0.1:%u", port);
  s.bind_address = bind;
  g_autoptr(TestNode) b2 = tcu_node_new (&s);
  g_assert_true (tcu_wait_up (a, "b", 5000));
  g_assert_true (tcu_peer_healthy (a, "b"));
  g_assert_cmpuint (a->up_events->len, ==, 2);
  g_assert_true (tcu_send_vote_response (a, "b", 2, NULL));
  g_assert_true (wait_count (b2, NC_CLUSTER_MSG_VOTE_RESPONSE, "a", 1));
  g_autoptr(NcClusterPeerStatus) st = nc_cluster_node_peer_status (a->node, "b");
  g_assert_cmpuint (st->reconnects, ==, 1);
}

static void
test_silent_peer_turns_unhealthy (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tcu_settings (&s, "l");
  g_autoptr(TestNode) l = tcu_node_new (&s);
  g_autoptr(GSocket) raw = tcu_raw_connect (nc_cluster_node_get_port (l->node));
  tcu_raw_send_hello (raw, "silent", "c1", NC_CLUSTER_PROTOCOL_VERSION);
  g_assert_true (tcu_wait_up (l, "silent", 5000));
  g_assert_true (tcu_peer_healthy (l, "silent"));

  /* Connected but quiet: unhealthy after the health window (300 ms)... */
  gpointer pair[2] = { l, (gpointer) "silent" };
  g_assert_true (tcu_wait (2000, not_healthy, pair));
  g_autoptr(NcClusterPeerStatus) st = nc_cluster_node_peer_status (l->node, "silent");
  g_assert_true (st->connected);
  g_assert_cmpint (st->last_heard_ms_ago, >=, 250);
  /* ...and dropped after dead_after_ms (1 s). */
  g_assert_true (tcu_wait (5000, not_connected, pair));
  g_assert_true (tcu_logs_have ("silent", "nothing received", NULL));
}

static void
test_keepalive_keeps_idle_peers_healthy (void)
{
  NcClusterNodeSettings s;
  tcu_settings (&s, "a");
  /* Generous windows so a loaded machine cannot fail this by stalling. */
  s.health_window_ms = 1000;
  s.dead_after_ms = 1500;
  g_autoptr(TestNode) a = tcu_node_new (&s);
  tcu_settings (&s, "b");
  s.health_window_ms = 1000;
  s.dead_after_ms = 1500;
  g_autoptr(TestNode) b = tcu_node_new (&s);
  g_autofree char *baddr = tcu_node_address (b);
  g_assert_true (nc_cluster_node_add_peer (a->node, "b", baddr, NULL));
  g_assert_true (tcu_wait_up (a, "b", 5000));
  /* No module traffic for well over the dead-peer timeout. */
  tcu_spin (2000);
  g_assert_true (tcu_peer_healthy (a, "b"));
  g_assert_true (tcu_peer_healthy (b, "a"));
  g_assert_cmpuint (a->down_events->len, ==, 0);
  /* Keep-alives flowed but are not delivered: only b's Hello was. */
  g_assert_cmpuint (a->received->len, ==, 1);
  g_assert_cmpuint (tcu_node_count (a, NC_CLUSTER_MSG_HELLO, "b"), ==, 1);
  g_autoptr(NcClusterPeerStatus) st = nc_cluster_node_peer_status (a->node, "b");
  g_assert_cmpuint (st->frames_received, >=, 10);
}

static void
test_slow_peer_dropped (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tcu_settings (&s, "l");
  s.max_queue_bytes = 1024 * 1024;
  s.dead_after_ms = 60000;  /* the raw peer sends nothing; only the queue may drop it */
  s.health_window_ms = 60000;
  g_autoptr(TestNode) l = tcu_node_new (&s);
  tcu_settings (&s, "steady");
  s.bind_address = NULL;
  g_autoptr(TestNode) steady = tcu_node_new (&s);
  g_autofree char *addr = tcu_node_address (l);
  g_assert_true (nc_cluster_node_add_peer (steady->node, "l", addr, NULL));
  g_assert_true (tcu_wait_up (steady, "l", 5000));

  g_autoptr(GSocket) raw = tcu_raw_connect (nc_cluster_node_get_port (l->node));
  tcu_raw_send_hello (raw, "slow", "c1", NC_CLUSTER_PROTOCOL_VERSION);
  g_assert_true (tcu_wait_up (l, "slow", 5000));

  g_autoptr(NcClusterMessage) chunk = nc_cluster_message_new (NC_CLUSTER_MSG_SNAPSHOT_CHUNK);
  chunk->u.snapshot_chunk.data = g_bytes_new_take (g_malloc0 (48 * 1024), 48 * 1024);
  g_autoptr(GError) error = NULL;
  gboolean refused = FALSE;
  for (int i = 0; i < 4000 && !refused; i++)
    {
      if (!nc_cluster_node_send (l->node, "slow", chunk, &error))
        refused = TRUE;
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_true (refused);
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_QUEUE_FULL);
  g_assert_false (tcu_peer_connected (l, "slow"));
  g_assert_true (tcu_logs_have ("slow", "send queue full", NULL));
  /* The other peer never noticed. */
  g_assert_true (tcu_peer_connected (steady, "l"));
  g_assert_true (tcu_send_vote_response (l, "steady", 4, NULL));
  g_assert_true (wait_count (steady, NC_CLUSTER_MSG_VOTE_RESPONSE, "l", 1));
}

static void
test_removed_peer_not_redialled (void)
{
  NcClusterNodeSettings s;
  tcu_settings (&s, "a");
  g_autoptr(TestNode) a = tcu_node_new (&s);
  tcu_settings (&s, "b");
  g_autoptr(TestNode) b = tcu_node_new (&s);
  g_autofree char *baddr = tcu_node_address (b);
  g_assert_true (nc_cluster_node_add_peer (a->node, "b", baddr, NULL));
  g_assert_true (tcu_wait_up (b, "a", 5000));
  g_assert_true (tcu_wait_up (a, "b", 5000));
  nc_cluster_node_remove_peer (a->node, baddr);
  g_assert_cmpuint (a->down_events->len, ==, 1);
  gpointer pair[2] = { b, (gpointer) "a" };
  g_assert_true (tcu_wait (5000, not_connected, pair));
  tcu_spin (400);  /* several reconnect delays */
  g_assert_cmpuint (b->up_events->len, ==, 1);
  g_autoptr(GPtrArray) peers = nc_cluster_node_list_peers (a->node);
  g_assert_cmpuint (peers->len, ==, 0);
  /* It can be added again. */
  g_assert_true (nc_cluster_node_add_peer (a->node, "b", baddr, NULL));
  g_assert_true (tcu_wait_up (a, "b", 5000));
}

static void
test_silent_connection_dropped_after_handshake_timeout (void)
{
  tcu_logs_clear ();
  NcClusterNodeSettings s;
  tcu_settings (&s, "l");
  s.handshake_timeout_ms = 300;
  g_autoptr(TestNode) l = tcu_node_new (&s);
  g_autoptr(GSocket) raw = tcu_raw_connect (nc_cluster_node_get_port (l->node));
  g_autofree char *raw_addr = tcu_raw_local_address (raw);
  gboolean closed = FALSE;
  g_autoptr(GByteArray) got = tcu_raw_read (raw, 5000, &closed);
  g_assert_true (closed);
  g_autoptr(GPtrArray) frames = tcu_frames (got);
  g_assert_cmpuint (frames->len, ==, 1);
  NcClusterMessage *err = g_ptr_array_index (frames, 0);
  g_assert_cmpint (err->type, ==, NC_CLUSTER_MSG_ERROR);
  g_assert_cmpstr (err->u.error.code, ==, "ProtocolViolation");
  g_assert_true (tcu_logs_have (raw_addr, "no Hello within 300 ms", NULL));
}

typedef struct {
  NcClusterNode *node;
  guint messages;
  guint ups;
} CtxPeer;

static void
ctx_message_cb (NcClusterNode *node, const NcClusterMessage *msg, gpointer user_data)
{
  ((CtxPeer *) user_data)->messages++;
}

static void
ctx_peer_cb (NcClusterNode *node, const char *peer_id, gboolean up, const NcClusterMessage *hello, gpointer user_data)
{
  ((CtxPeer *) user_data)->ups += up ? 1 : 0;
}

static void
test_runs_on_given_context (void)
{
  /* Nothing may land on the default context: modules pass the daemon's. */
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  NcClusterNodeSettings s;
  CtxPeer pa = { 0 }, pb = { 0 };
  g_autoptr(GError) error = NULL;
  tcu_settings (&s, "a");
  g_autoptr(NcClusterNode) a = nc_cluster_node_new (&s, ctx, &error);
  g_assert_no_error (error);
  tcu_settings (&s, "b");
  g_autoptr(NcClusterNode) b = nc_cluster_node_new (&s, ctx, &error);
  g_assert_no_error (error);
  nc_cluster_node_set_callbacks (a, ctx_message_cb, ctx_peer_cb, &pa);
  nc_cluster_node_set_callbacks (b, ctx_message_cb, ctx_peer_cb, &pb);
  g_assert_true (nc_cluster_node_start (a, NULL));
  g_assert_true (nc_cluster_node_start (b, NULL));
  g_autofree char *baddr = g_strdup_printf ("127.0.0.1:%u", nc_cluster_node_get_port (b));
  g_assert_true (nc_cluster_node_add_peer (a, "b", baddr, NULL));
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  gboolean sent = FALSE;
  while (pb.messages < 2 && g_get_monotonic_time () < deadline)
    {
      g_assert_false (g_main_context_pending (NULL));
      if (!g_main_context_iteration (ctx, FALSE))
        g_usleep (1000);
      if (!sent && pa.ups == 1)
        {
          g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_TIMEOUT_NOW);
          m->u.timeout_now.leader_id = g_strdup ("a");
          sent = nc_cluster_node_send (a, "b", m, NULL);
        }
    }
  g_assert_cmpuint (pa.ups, ==, 1);
  g_assert_cmpuint (pb.messages, ==, 2);  /* Hello and TimeoutNow */
  nc_cluster_node_set_callbacks (a, NULL, NULL, NULL);
  nc_cluster_node_set_callbacks (b, NULL, NULL, NULL);
}

static void
fake_append_metric (GString *out, const char *name, NornicMetricType type, const char *help, const char *labels,
                    double value)
{
  g_string_append_printf (out, "%s{%s} %g %s\n", name, labels, value,
                          type == NORNIC_METRIC_COUNTER ? "counter" : "gauge");
}

static void
test_metrics_per_peer (void)
{
  NcClusterNodeSettings s;
  tcu_settings (&s, "l");
  g_autoptr(TestNode) l = tcu_node_new (&s);
  g_autoptr(GSocket) raw = tcu_raw_connect (nc_cluster_node_get_port (l->node));
  tcu_raw_send_hello (raw, "odd\"id\\", "c1", NC_CLUSTER_PROTOCOL_VERSION);
  g_assert_true (tcu_wait_up (l, "odd\"id\\", 5000));
  g_autoptr(GString) out = g_string_new (NULL);
  nc_cluster_node_append_metrics (l->node, out, fake_append_metric);
  g_assert_nonnull (strstr (out->str, "nornicdb_peer_healthy{peer=\"odd\\\"id\\\\\"} 1 gauge\n"));
  g_assert_nonnull (strstr (out->str, "nornicdb_peer_connected{peer=\"odd\\\"id\\\\\"} 1 gauge\n"));
  g_assert_nonnull (strstr (out->str, "nornicdb_replication_bytes_total{peer=\"odd\\\"id\\\\\",direction=\"received\"} "));
  g_assert_nonnull (strstr (out->str, "direction=\"sent\"} "));
  g_autoptr(NcClusterPeerStatus) st = nc_cluster_node_peer_status (l->node, "odd\"id\\");
  g_autofree char *rx = g_strdup_printf ("direction=\"received\"} %g counter", (double) st->bytes_received);
  g_assert_nonnull (strstr (out->str, rx));
  g_assert_cmpuint (st->bytes_received, >, 0);
}

static void
test_settings_validated (void)
{
  NcClusterNodeSettings s;
  tcu_settings (&s, "");
  g_autoptr(GError) error = NULL;
  g_assert_null (nc_cluster_node_new (&s, NULL, &error));
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG);
  g_clear_error (&error);
  tcu_settings (&s, "a");
  s.max_frame_bytes = 100;  /* too small for a Hello */
  g_assert_null (nc_cluster_node_new (&s, NULL, &error));
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG);
  g_clear_error (&error);
  tcu_settings (&s, "a");
  s.bind_address = "not an address:xyz";
  g_autoptr(NcClusterNode) n = nc_cluster_node_new (&s, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (nc_cluster_node_start (n, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_false (nc_cluster_node_add_peer (n, "a", "127.0.0.1:1", &error));
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tcu_init_logging ();
  g_test_add_func ("/nornic/cluster/transport/peers-exchange-messages-both-ways", test_exchange);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/nornic/cluster/transport/bad-peer-is-dropped-listener-serves-others/%s",
                                               bad_cases[i].path);
      g_test_add_data_func (path, &bad_cases[i], test_bad_peer);
    }
  g_test_add_func ("/nornic/cluster/transport/bad-peer-does-not-disturb-open-connections", test_other_connections_unaffected);
  g_test_add_func ("/nornic/cluster/transport/extra-accepted-cluster-ids-link-two-clusters", test_accepted_cluster_ids);
  g_test_add_func ("/nornic/cluster/transport/peer-answering-with-unexpected-id-is-refused", test_unexpected_id_refused);
  g_test_add_func ("/nornic/cluster/transport/address-only-peer-learns-its-id", test_address_only_peer_learns_id);
  g_test_add_func ("/nornic/cluster/transport/reconnects-after-peer-restart", test_reconnect_after_restart);
  g_test_add_func ("/nornic/cluster/transport/silent-peer-turns-unhealthy-then-dropped", test_silent_peer_turns_unhealthy);
  g_test_add_func ("/nornic/cluster/transport/keepalive-keeps-idle-peers-healthy", test_keepalive_keeps_idle_peers_healthy);
  g_test_add_func ("/nornic/cluster/transport/slow-peer-dropped-when-queue-full", test_slow_peer_dropped);
  g_test_add_func ("/nornic/cluster/transport/removed-peer-is-not-redialled", test_removed_peer_not_redialled);
  g_test_add_func ("/nornic/cluster/transport/connection-without-hello-dropped-after-handshake-timeout",
                   test_silent_connection_dropped_after_handshake_timeout);
  g_test_add_func ("/nornic/cluster/transport/runs-entirely-on-the-given-context", test_runs_on_given_context);
  g_test_add_func ("/nornic/cluster/transport/metrics-per-peer-with-escaped-labels", test_metrics_per_peer);
  g_test_add_func ("/nornic/cluster/transport/settings-are-validated", test_settings_validated);
  return g_test_run ();
}
