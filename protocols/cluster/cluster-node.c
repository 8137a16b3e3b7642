/* cluster-node.c — the cluster transport on a GMainContext.
 *
 * Sockets are non-blocking file descriptors watched by one custom GSource
 * per connection whose poll condition is changed in place (reading always,
 * writing only while frames are queued). The listener is a plain GSocket
 * attached explicitly to the node's context rather than a GSocketService,
 * which would re-arm itself on whatever context is thread-default at the
 * time. Outgoing connects use GSocketClient with the node's context pushed
 * as thread-default, so resolution and connect complete on it.
 *
 * One periodic tick per node handles keep-alives, dead-peer detection,
 * handshake timeouts and lingering closes, instead of timers per connection.
 */
#define G_LOG_DOMAIN "nornicdb-cluster"

#include "cluster-node.h"
#include "cluster-tls.h"

#include <errno.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#define READ_CHUNK (64 * 1024)
#define READ_BUDGET 16              /* reads per dispatch before yielding */
#define TLS_RECORD_MAX 16384
#define CLOSE_LINGER_US (1 * G_USEC_PER_SEC)
#define MAX_CONNECTIONS 256
#define ACCEPT_BUDGET 32

typedef enum {
  CONN_CONNECTING,   /* outgoing TCP connect in progress */
  CONN_TLS,          /* TLS handshake */
  CONN_HELLO,        /* waiting for the peer's Hello */
  CONN_READY,
  CONN_CLOSING,      /* flushing an Error frame, then close */
  CONN_CLOSED,
} ConnState;

typedef struct _Peer Peer;
typedef struct _Conn Conn;


struct _Peer {
  NcClusterNode *node;      /* back pointer for the retry timer */
  char *id;                 /* NULL: configured by address, id not yet learned */
  char *address;            /* configured address; NULL for dial-in-only peers */
  gboolean configured;
  Conn *out;                /* outgoing connection, if any */
  GSource *retry;           /* reconnect timer */
  guint attempt;
  gboolean ever_connected;
  guint reconnects;
  gint64 last_heard;        /* monotonic us; 0: never */
  guint64 bytes_sent, bytes_received, frames_sent, frames_received;
  char *role;
  guint64 epoch;
  char *last_error;
};

struct _Conn {
  gint ref;
  NcClusterNode *node;
  Peer *peer;               /* NULL until an incoming Hello names the node */
  gboolean outgoing;
  ConnState state;
  char *remote;             /* "ip:port" (or the dialled address) for logs */
  GSocketConnection *sconn; /* outgoing connects keep their GSocketConnection */
  GSocket *socket;
  int fd;
  GSource *source;
  gpointer fd_tag;
  GIOCondition cond;
  GCancellable *cancel;
  gnutls_session_t tls;
  GByteArray *rbuf;
  GQueue wqueue;            /* GBytes frames */
  gsize woff;
  gsize queued_bytes;
  gsize tls_retry_len;      /* size of a gnutls_record_send to repeat, 0: none */
  gint64 created, last_recv, last_send, close_deadline;
  guint64 bytes_sent, bytes_received, frames_sent, frames_received;
  char *hello_from;         /* the node id from its Hello */
  gboolean tls_established;  /* TLS handshake completed */
};

struct _NcClusterNode {
  gint ref;
  GMainContext *context;
  char *node_id, *cluster_id, *bind_address, *advertise_address, *bolt_address, *mode, *region;
  char **accepted_cluster_ids; /* besides cluster_id; NULL: none */
  gsize max_frame, max_queue;
  guint keepalive_ms, dead_after_ms, health_window_ms, reconnect_min_ms, reconnect_max_ms,
        handshake_timeout_ms;
  NcClusterTls *tls;
  char *role;
  guint64 epoch;

  gboolean running;
  GSocket *listener;
  GSource *accept_source;
  GSource *tick;
  guint16 port;

  GPtrArray *peers;         /* Peer*, owned */
  GPtrArray *conns;         /* Conn*, one reference each */

  NcClusterMessageCb message_cb;
  NcClusterPeerEventCb peer_cb;
  gpointer user_data;
};

static void conn_close (Conn *c);
static void conn_update_cond (Conn *c);
static void peer_schedule_retry (NcClusterNode *node, Peer *p);
static void conn_fail (Conn *c, gboolean send_error, NcClusterError code, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

/* ---- small helpers --------------------------------------------------------------- */

static Conn *
conn_ref (Conn *c)
{
  g_atomic_int_inc (&c->ref);
  return c;
}

static void
conn_unref (Conn *c)
{
  if (!g_atomic_int_dec_and_test (&c->ref))
    return;
  g_assert (c->source == NULL);
  if (c->tls != NULL)
    gnutls_deinit (c->tls);
  g_clear_object (&c->cancel);
  g_clear_object (&c->sconn);
  g_clear_object (&c->socket);
  g_queue_clear_full (&c->wqueue, (GDestroyNotify) g_bytes_unref);
  if (c->rbuf != NULL)
    g_byte_array_unref (c->rbuf);
  g_free (c->remote);
  g_free (c->hello_from);
  g_free (c);
}

static const char *
conn_label (Conn *c, char *buf, gsize n)
{
  const char *id = c->hello_from != NULL ? c->hello_from : (c->peer != NULL ? c->peer->id : NULL);
  if (id != NULL)
    g_snprintf (buf, n, "%s (%s)", id, c->remote);
  else
    g_snprintf (buf, n, "%s", c->remote);
  return buf;
}

static void
peer_free (Peer *p)
{
  if (p->retry != NULL)
    {
      g_source_destroy (p->retry);
      g_source_unref (p->retry);
    }
  g_free (p->id);
  g_free (p->address);
  g_free (p->role);
  g_free (p->last_error);
  g_free (p);
}

static char *
socket_remote_string (GSocket *s)
{
  g_autoptr(GSocketAddress) addr = g_socket_get_remote_address (s, NULL);
  if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS (addr))
    return g_strdup ("?");
  GInetSocketAddress *ia = G_INET_SOCKET_ADDRESS (addr);
  g_autofree char *ip = g_inet_address_to_string (g_inet_socket_address_get_address (ia));
  return g_strdup_printf ("%s:%u", ip, g_inet_socket_address_get_port (ia));
}

static void
socket_tune (GSocket *s)
{
  g_socket_set_blocking (s, FALSE);
  g_socket_set_keepalive (s, TRUE);
  /* Small frames (votes, acks) must not wait for Nagle. */
  g_socket_set_option (s, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

/* ---- peers and health ----------------------------------------------------------- */

static Peer *
find_peer_by_id (NcClusterNode *node, const char *id)
{
  Peer *dial_in = NULL;
  for (guint i = 0; i < node->peers->len; i++)
    {
      Peer *p = g_ptr_array_index (node->peers, i);
      if (p->id == NULL || strcmp (p->id, id) != 0)
        continue;
      if (p->configured)
        return p;
      dial_in = p;
    }
  return dial_in;
}

static gboolean
peer_id_is_up (NcClusterNode *node, const char *id, Conn *except)
{
  for (guint i = 0; i < node->conns->len; i++)
    {
      Conn *c = g_ptr_array_index (node->conns, i);
      if (c != except && c->state == CONN_READY && c->hello_from != NULL && strcmp (c->hello_from, id) == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
peer_has_conns (NcClusterNode *node, Peer *p)
{
  for (guint i = 0; i < node->conns->len; i++)
    if (((Conn *) g_ptr_array_index (node->conns, i))->peer == p)
      return TRUE;
  return FALSE;
}

static void
peer_set_error (Peer *p, const char *msg)
{
  if (p == NULL)
    return;
  g_free (p->last_error);
  p->last_error = g_strdup (msg);
}

/* Moves the counters and connections of a dial-in record into `into`. */
static void
peer_merge (NcClusterNode *node, Peer *from, Peer *into)
{
  into->bytes_sent += from->bytes_sent;
  into->bytes_received += from->bytes_received;
  into->frames_sent += from->frames_sent;
  into->frames_received += from->frames_received;
  into->last_heard = MAX (into->last_heard, from->last_heard);
  for (guint i = 0; i < node->conns->len; i++)
    {
      Conn *c = g_ptr_array_index (node->conns, i);
      if (c->peer == from)
        c->peer = into;
    }
  g_ptr_array_remove (node->peers, from);  /* frees it */
}

static void
conn_attach_peer (Conn *c, Peer *p)
{
  c->peer = p;
  p->bytes_sent += c->bytes_sent;
  p->bytes_received += c->bytes_received;
  p->frames_sent += c->frames_sent;
  p->frames_received += c->frames_received;
}

/* ---- writing ---------------------------------------------------------------------- */

static void
conn_queue (Conn *c, GBytes *frame)
{
  c->queued_bytes += g_bytes_get_size (frame);
  g_queue_push_tail (&c->wqueue, g_bytes_ref (frame));
  conn_update_cond (c);
}

static GBytes *
node_encode (NcClusterNode *node, const NcClusterMessage *msg, GError **error)
{
  NcClusterMessage env = *msg;  /* shallow: only the envelope differs */
  env.from = node->node_id;
  env.cluster = node->cluster_id;
  return nc_cluster_frame_encode (&env, node->max_frame, error);
}

static void
conn_queue_hello (Conn *c)
{
  NcClusterNode *node = c->node;
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_HELLO);
  m->u.hello.protocol_version = NC_CLUSTER_PROTOCOL_VERSION;
  m->u.hello.advertise_addr = g_strdup (node->advertise_address != NULL ? node->advertise_address : "");
  m->u.hello.role = g_strdup (node->role);
  m->u.hello.epoch = node->epoch;
  m->u.hello.bolt_addr = g_strdup (node->bolt_address);
  m->u.hello.mode = g_strdup (node->mode);
  m->u.hello.region = g_strdup (node->region);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = node_encode (node, m, &error);
  if (frame == NULL)
    {
      conn_fail (c, FALSE, NC_CLUSTER_ERROR_CONFIG, "cannot encode Hello: %s", error->message);
      return;
    }
  conn_queue (c, frame);
}

static void
account_sent (Conn *c, gsize n, gboolean frame_done)
{
  c->bytes_sent += n;
  c->frames_sent += frame_done ? 1 : 0;
  if (c->peer != NULL)
    {
      c->peer->bytes_sent += n;
      c->peer->frames_sent += frame_done ? 1 : 0;
    }
}

/* Writes what the socket takes. FALSE when the connection was closed. */
static gboolean
conn_flush (Conn *c)
{
  while (!g_queue_is_empty (&c->wqueue))
    {
      GBytes *head = g_queue_peek_head (&c->wqueue);
      gsize size = 0;
      const guint8 *data = g_bytes_get_data (head, &size);
      gsize remaining = size - c->woff;
      gssize n;
      if (c->tls != NULL)
        {
          /* GnuTLS wants the identical call repeated after EAGAIN. */
          gsize chunk = c->tls_retry_len != 0 ? c->tls_retry_len : MIN (remaining, TLS_RECORD_MAX);
          n = gnutls_record_send (c->tls, data + c->woff, chunk);
          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            {
              c->tls_retry_len = chunk;
              break;
            }
          c->tls_retry_len = 0;
          if (n < 0)
            {
              conn_fail (c, FALSE, NC_CLUSTER_ERROR_CLOSED, "TLS send failed: %s", gnutls_strerror ((int) n));
              return FALSE;
            }
        }
      else
        {
          n = send (c->fd, data + c->woff, remaining, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
          if (n < 0)
            {
              conn_fail (c, FALSE, NC_CLUSTER_ERROR_CLOSED, "send failed: %s", g_strerror (errno));
              return FALSE;
            }
        }
      c->woff += (gsize) n;
      c->last_send = g_get_monotonic_time ();
      gboolean done = c->woff == size;
      account_sent (c, (gsize) n, done);
      if (done)
        {
          c->woff = 0;
          c->queued_bytes -= size;
          g_bytes_unref (g_queue_pop_head (&c->wqueue));
        }
    }
  if (c->state == CONN_CLOSING && g_queue_is_empty (&c->wqueue))
    {
      conn_close (c);
      return FALSE;
    }
  conn_update_cond (c);
  return TRUE;
}

/* ---- failure and close ------------------------------------------------------------------ */

static void
conn_fail (Conn *c, gboolean send_error, NcClusterError code, const char *fmt, ...)
{
  if (c->state == CONN_CLOSED || c->state == CONN_CLOSING)
    return;
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  char label[256];
  /* A peer we keep re-dialling fails the same way every few seconds: say
   * it once, then keep it at debug level until something changes. */
  if (c->outgoing && c->peer != NULL && g_strcmp0 (c->peer->last_error, msg) == 0)
    g_debug ("cluster peer %s: %s (again); closing connection", conn_label (c, label, sizeof label), msg);
  else
    g_warning ("cluster peer %s: %s; closing connection", conn_label (c, label, sizeof label), msg);
  peer_set_error (c->peer, msg);

  /* An Error frame needs a working channel: TCP or TLS past its handshake. */
  if (send_error && (c->state == CONN_HELLO || c->state == CONN_READY))
    {
      g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_ERROR);
      m->u.error.code = g_strdup (nc_cluster_error_wire_code (code));
      m->u.error.message = g_strdup (msg);
      g_autoptr(GBytes) frame = node_encode (c->node, m, NULL);
      if (frame != NULL)
        {
          gboolean was_ready = c->state == CONN_READY;
          c->state = CONN_CLOSING;
          c->close_deadline = g_get_monotonic_time () + CLOSE_LINGER_US;
          c->queued_bytes += g_bytes_get_size (frame);
          g_queue_push_tail (&c->wqueue, g_steal_pointer (&frame));
          /* Readers of the peer's state must see it down now, not after the linger. */
          if (was_ready && c->hello_from != NULL && c->node->peer_cb != NULL &&
              !peer_id_is_up (c->node, c->hello_from, c))
            c->node->peer_cb (c->node, c->hello_from, FALSE, NULL, c->node->user_data);
          if (c->state == CONN_CLOSING)
            conn_update_cond (c);
          return;
        }
    }
  conn_close (c);
}

static void
conn_close (Conn *c)
{
  if (c->state == CONN_CLOSED)
    return;
  NcClusterNode *node = c->node;
  gboolean was_ready = c->state == CONN_READY;
  c->state = CONN_CLOSED;
  conn_ref (c);

  if (c->cancel != NULL)
    g_cancellable_cancel (c->cancel);
  if (c->source != NULL)
    {
      g_source_destroy (c->source);
      g_source_unref (c->source);
      c->source = NULL;
    }
  /* Best effort close_notify, so the peer sees a clean TLS shutdown. */
  if (c->tls != NULL && c->tls_established)
    gnutls_bye (c->tls, GNUTLS_SHUT_WR);
  if (c->socket != NULL)
    g_socket_close (c->socket, NULL);
  g_queue_clear_full (&c->wqueue, (GDestroyNotify) g_bytes_unref);
  c->queued_bytes = 0;

  Peer *p = c->peer;
  if (g_ptr_array_remove (node->conns, c))
    conn_unref (c);

  if (p != NULL && p->out == c)
    {
      p->out = NULL;
      if (node->running && p->configured)
        peer_schedule_retry (node, p);
    }
  if (p != NULL && !p->configured && !peer_has_conns (node, p))
    g_ptr_array_remove (node->peers, p);

  if (was_ready && c->hello_from != NULL && node->peer_cb != NULL && !peer_id_is_up (node, c->hello_from, NULL))
    node->peer_cb (node, c->hello_from, FALSE, NULL, node->user_data);
  conn_unref (c);
}

/* ---- Hello and delivery ------------------------------------------------------------------- */

static void
conn_on_hello (Conn *c, const NcClusterMessage *msg)
{
  NcClusterNode *node = c->node;
  const NcClusterMsgHello *h = &msg->u.hello;
  if (h->protocol_version != NC_CLUSTER_PROTOCOL_VERSION)
    {
      conn_fail (c, TRUE, NC_CLUSTER_ERROR_PROTOCOL, "speaks protocol version %" G_GUINT64_FORMAT ", this node speaks %d",
                 h->protocol_version, NC_CLUSTER_PROTOCOL_VERSION);
      return;
    }
  if (strcmp (msg->from, node->node_id) == 0)
    {
      conn_fail (c, TRUE, NC_CLUSTER_ERROR_PROTOCOL, "node id \"%s\" is this node's own id", msg->from);
      return;
    }
  if (c->outgoing && c->peer->id != NULL && strcmp (c->peer->id, msg->from) != 0)
    {
      conn_fail (c, TRUE, NC_CLUSTER_ERROR_PROTOCOL, "expected node \"%s\" at %s, but \"%s\" answered",
                 c->peer->id, c->peer->address, msg->from);
      return;
    }

  c->hello_from = g_strdup (msg->from);
  gboolean was_up = peer_id_is_up (node, msg->from, c);
  Peer *p;
  if (c->outgoing)
    {
      p = c->peer;
      if (p->id == NULL)
        {
          Peer *other = find_peer_by_id (node, msg->from);
          if (other != NULL && other->configured && other != p)
            {
              conn_fail (c, TRUE, NC_CLUSTER_ERROR_PROTOCOL, "node \"%s\" is already configured at %s",
                         msg->from, other->address);
              return;
            }
          p->id = g_strdup (msg->from);
          if (other != NULL)
            peer_merge (node, other, p);  /* frees `other` */
        }
      if (p->ever_connected)
        p->reconnects++;
      p->ever_connected = TRUE;
      p->attempt = 0;
    }
  else
    {
      p = find_peer_by_id (node, msg->from);
      if (p == NULL)
        {
          p = g_new0 (Peer, 1);
          p->node = node;
          p->id = g_strdup (msg->from);
          g_ptr_array_add (node->peers, p);
        }
      conn_attach_peer (c, p);
      conn_queue_hello (c);
      if (c->state == CONN_CLOSED)
        return;
    }
  g_free (p->role);
  p->role = g_strdup (h->role);
  p->epoch = h->epoch;
  g_clear_pointer (&p->last_error, g_free);
  c->state = CONN_READY;
  char label[256];
  g_info ("cluster peer %s connected (%s, role %s, epoch %" G_GUINT64_FORMAT ")", conn_label (c, label, sizeof label),
          c->outgoing ? "outgoing" : "incoming", h->role, h->epoch);
  if (!was_up && node->peer_cb != NULL)
    node->peer_cb (node, msg->from, TRUE, msg, node->user_data);
}

/* Handles one decoded frame. FALSE when the connection is gone. */
static gboolean
conn_on_message (Conn *c, NcClusterMessage *msg)
{
  NcClusterNode *node = c->node;
  if (c->hello_from == NULL)
    {
      if (msg->type != NC_CLUSTER_MSG_HELLO)
        {
          conn_fail (c, TRUE, NC_CLUSTER_ERROR_PROTOCOL, "sent %s before Hello",
                     nc_cluster_msg_type_name (msg->type));
          return FALSE;
        }
      conn_on_hello (c, msg);
      if (c->state != CONN_READY)
        return FALSE;
    }
  else if (strcmp (msg->from, c->hello_from) != 0)
    {
      conn_fail (c, TRUE, NC_CLUSTER_ERROR_PROTOCOL, "frame claims to be from \"%s\"", msg->from);
      return FALSE;
    }
  else if (msg->type == NC_CLUSTER_MSG_HELLO)
    {
      conn_fail (c, TRUE, NC_CLUSTER_ERROR_PROTOCOL, "sent a second Hello");
      return FALSE;
    }

  gint64 now = g_get_monotonic_time ();
  c->last_recv = now;
  if (c->peer != NULL)
    c->peer->last_heard = now;

  if (msg->type == NC_CLUSTER_MSG_KEEP_ALIVE)
    return TRUE;
  if (msg->type == NC_CLUSTER_MSG_ERROR)
    {
      char label[256];
      g_warning ("cluster peer %s reported error %s: %s", conn_label (c, label, sizeof label),
                 msg->u.error.code, msg->u.error.message);
    }
  if (node->message_cb != NULL)
    node->message_cb (node, msg, node->user_data);
  return c->state != CONN_CLOSED && c->state != CONN_CLOSING;
}

/* Splits the read buffer into frames. FALSE when the connection is gone. */
static gboolean
conn_process_frames (Conn *c)
{
  gsize off = 0;
  gboolean alive = TRUE;
  while (alive)
    {
      gsize payload_len = 0;
      g_autoptr(GError) error = NULL;
      NcClusterFrameStatus st = nc_cluster_frame_peek (c->rbuf->data + off, c->rbuf->len - off,
                                                       c->node->max_frame, &payload_len, &error);
      if (st == NC_CLUSTER_FRAME_NEED_MORE)
        break;
      if (st == NC_CLUSTER_FRAME_INVALID)
        {
          conn_fail (c, TRUE, (NcClusterError) error->code, "%s", error->message);
          return FALSE;
        }
      const guint8 *payload = c->rbuf->data + off + 4;
      off += 4 + payload_len;
      c->frames_received++;
      if (c->peer != NULL)
        c->peer->frames_received++;
      g_autoptr(NcClusterMessage) msg = NULL;
      if (c->node->accepted_cluster_ids == NULL)
        msg = nc_cluster_message_decode (payload, payload_len, c->node->cluster_id, &error);
      else
        {
          /* Own id or one of the extra ones; anything else is refused with
           * the same WrongCluster error the codec gives. */
          msg = nc_cluster_message_decode (payload, payload_len, NULL, &error);
          if (msg != NULL && strcmp (msg->cluster, c->node->cluster_id) != 0
              && !g_strv_contains ((const char *const *) c->node->accepted_cluster_ids, msg->cluster)
              && !g_strv_contains ((const char *const *) c->node->accepted_cluster_ids, "*"))
            {
              g_set_error (&error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_WRONG_CLUSTER,
                           "frame is for cluster \"%s\", this node is in cluster \"%s\"", msg->cluster,
                           c->node->cluster_id);
              g_clear_pointer (&msg, nc_cluster_message_free);
            }
        }
      if (msg == NULL)
        {
          conn_fail (c, TRUE, (NcClusterError) error->code, "%s", error->message);
          return FALSE;
        }
      alive = conn_on_message (c, msg);
    }
  if (alive && off > 0)
    g_byte_array_remove_range (c->rbuf, 0, (guint) off);
  return alive;
}

static void
account_received (Conn *c, gsize n)
{
  c->bytes_received += n;
  if (c->peer != NULL)
    c->peer->bytes_received += n;
}

/* FALSE when the connection is gone. */
static gboolean
conn_read (Conn *c)
{
  guint8 buf[READ_CHUNK];
  for (int i = 0; i < READ_BUDGET; i++)
    {
      gssize n;
      if (c->tls != NULL)
        {
          n = gnutls_record_recv (c->tls, buf, sizeof buf);
          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            return TRUE;
          /* A peer that died without close_notify is an ordinary EOF here:
           * frames carry their own length, so truncation is detected anyway. */
          if (n == GNUTLS_E_PREMATURE_TERMINATION)
            n = 0;
          else if (n < 0 && !gnutls_error_is_fatal ((int) n))
            continue;
          if (n < 0)
            {
              conn_fail (c, FALSE, NC_CLUSTER_ERROR_CLOSED, "TLS receive failed: %s", gnutls_strerror ((int) n));
              return FALSE;
            }
        }
      else
        {
          n = recv (c->fd, buf, sizeof buf, MSG_DONTWAIT);
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return TRUE;
          if (n < 0)
            {
              conn_fail (c, FALSE, NC_CLUSTER_ERROR_CLOSED, "receive failed: %s", g_strerror (errno));
              return FALSE;
            }
        }
      if (n == 0)
        {
          char label[256];
          if (c->rbuf->len > 0)
            conn_fail (c, FALSE, NC_CLUSTER_ERROR_BAD_JSON, "connection closed in the middle of a frame (%u bytes pending)",
                       c->rbuf->len);
          else if (c->state == CONN_READY)
            {
              g_info ("cluster peer %s closed the connection", conn_label (c, label, sizeof label));
              peer_set_error (c->peer, "closed by peer");
              conn_close (c);
            }
          else
            conn_fail (c, FALSE, NC_CLUSTER_ERROR_CLOSED, "closed the connection during the handshake");
          return FALSE;
        }
      account_received (c, (gsize) n);
      g_byte_array_append (c->rbuf, buf, (guint) n);
      if (!conn_process_frames (c))
        return FALSE;
      if (c->tls == NULL && (gsize) n < sizeof buf)
        return TRUE;
    }
  /* Budget spent with data possibly left: come back next iteration so
   * other connections get their turn. */
  g_source_set_ready_time (c->source, 0);
  return TRUE;
}

/* ---- TLS handshake ------------------------------------------------------------------------ */

static void
conn_enter_hello (Conn *c)
{
  c->state = CONN_HELLO;
  if (c->outgoing)
    conn_queue_hello (c);
  else
    conn_update_cond (c);
}

static void
conn_handshake (Conn *c)
{
  int r;
  do
    r = gnutls_handshake (c->tls);
  while (r < 0 && r != GNUTLS_E_AGAIN && !gnutls_error_is_fatal (r));
  if (r == GNUTLS_E_AGAIN)
    {
      GIOCondition want = gnutls_record_get_direction (c->tls) ? G_IO_OUT : G_IO_IN;
      if (c->cond != want)
        {
          g_source_modify_unix_fd (c->source, c->fd_tag, want);
          c->cond = want;
        }
      return;
    }
  if (r < 0)
    {
      /* Best effort: tell the peer why (it gets no application data). */
      gnutls_alert_send_appropriate (c->tls, r);
      gboolean versions = r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET || r == GNUTLS_E_NO_CIPHER_SUITES ||
                          r == GNUTLS_E_INSUFFICIENT_CREDENTIALS;
      conn_fail (c, FALSE, NC_CLUSTER_ERROR_TLS, "TLS handshake failed: %s%s", gnutls_strerror (r),
                 versions ? " (no common TLS version/cipher: check NORNICDB_CLUSTER_TLS_MIN_VERSION on both sides)" : "");
      return;
    }
  g_autoptr(GError) error = NULL;
  if (!nc_cluster_tls_check_peer (c->node->tls, c->tls, !c->outgoing, &error))
    {
      conn_fail (c, FALSE, NC_CLUSTER_ERROR_TLS, "%s", error->message);
      return;
    }
  g_autofree char *desc = gnutls_session_get_desc (c->tls);
  char label[256];
  g_debug ("cluster peer %s: TLS established %s", conn_label (c, label, sizeof label), desc);
  c->tls_established = TRUE;
  conn_enter_hello (c);
  /* The peer's first records may already sit in GnuTLS's buffer, where no
   * poll will report them: look once without waiting for the socket. */
  if (c->source != NULL)
    g_source_set_ready_time (c->source, 0);
}

/* ---- the per-connection source -------------------------------------------------------------- */

typedef struct {
  GSource source;
  Conn *conn;
} ConnSource;

static gboolean
conn_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ConnSource *cs = (ConnSource *) source;
  Conn *c = cs->conn;
  NcClusterNode *node = nc_cluster_node_ref (c->node);
  conn_ref (c);
  g_source_set_ready_time (source, -1);
  GIOCondition rev = g_source_query_unix_fd (source, c->fd_tag);

  if (c->state == CONN_TLS)
    conn_handshake (c);
  else if (c->state != CONN_CLOSED)
    {
      gboolean alive = TRUE;
      if (rev & G_IO_OUT)
        alive = conn_flush (c);
      /* Read on IN, and also on HUP/ERR so the error or EOF is reported.
       * A closing connection stops reading: it only flushes its Error. */
      if (alive && c->state != CONN_CLOSING &&
          ((rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)) || (c->tls != NULL && gnutls_record_check_pending (c->tls) > 0) ||
           c->rbuf->len > 0 || rev == 0))
        alive = conn_read (c);
      if (alive && c->state == CONN_CLOSING && (rev & (G_IO_HUP | G_IO_ERR)))
        conn_close (c);
    }
  conn_unref (c);
  nc_cluster_node_unref (node);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs conn_source_funcs = { NULL, NULL, conn_source_dispatch, NULL, NULL, NULL };

static void
conn_update_cond (Conn *c)
{
  if (c->source == NULL || c->state == CONN_CLOSED || c->state == CONN_TLS)
    return;
  GIOCondition want = g_queue_is_empty (&c->wqueue) ? 0 : G_IO_OUT;
  if (c->state != CONN_CLOSING)
    want |= G_IO_IN;
  if (want != c->cond)
    {
      g_source_modify_unix_fd (c->source, c->fd_tag, want);
      c->cond = want;
    }
}

static gboolean
conn_start_io_owned (Conn *c, GSocket *socket)
{
  NcClusterNode *node = c->node;
  c->socket = g_object_ref (socket);
  c->fd = g_socket_get_fd (socket);
  socket_tune (socket);
  g_free (c->remote);
  c->remote = socket_remote_string (socket);

  c->source = g_source_new (&conn_source_funcs, sizeof (ConnSource));
  ((ConnSource *) c->source)->conn = c;
  g_source_set_static_name (c->source, "nornicdb-cluster-conn");
  c->cond = G_IO_IN;
  c->fd_tag = g_source_add_unix_fd (c->source, c->fd, c->cond);
  g_source_attach (c->source, node->context);

  if (node->tls != NULL)
    {
      g_autoptr(GError) error = NULL;
      if (!nc_cluster_tls_session_new (node->tls, !c->outgoing, c->fd, &c->tls, &error))
        {
          conn_fail (c, FALSE, NC_CLUSTER_ERROR_TLS, "%s", error->message);
          return FALSE;
        }
      c->state = CONN_TLS;
      conn_handshake (c);
      return c->state != CONN_CLOSED;
    }
  conn_enter_hello (c);
  return c->state != CONN_CLOSED;
}

/* Takes over a connected socket: source, optional TLS, then Hello. */
static gboolean
conn_start_io (Conn *c, GSocket *socket)
{
  /* Our own reference: a failure closes (and unlists) the connection. */
  conn_ref (c);
  gboolean ok = conn_start_io_owned (c, socket);
  conn_unref (c);
  return ok;
}

static Conn *
conn_new (NcClusterNode *node, gboolean outgoing)
{
  Conn *c = g_new0 (Conn, 1);
  c->ref = 1;
  c->node = node;
  c->outgoing = outgoing;
  c->fd = -1;
  c->rbuf = g_byte_array_new ();
  g_queue_init (&c->wqueue);
  c->created = c->last_recv = c->last_send = g_get_monotonic_time ();
  g_ptr_array_add (node->conns, c);  /* the list holds the reference */
  return c;
}

/* ---- outgoing connections ------------------------------------------------------------------ */

static void
connect_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Conn *c = user_data;  /* our own reference */
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) sc = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), res, &error);
  if (c->state == CONN_CLOSED)
    {
      conn_unref (c);
      return;
    }
  if (sc == NULL)
    {
      g_debug ("cluster peer %s: connect failed: %s", c->remote, error->message);
      peer_set_error (c->peer, error->message);
      conn_close (c);
      conn_unref (c);
      return;
    }
  c->sconn = g_steal_pointer (&sc);
  conn_start_io (c, g_socket_connection_get_socket (c->sconn));
  conn_unref (c);
}

static void
peer_dial (NcClusterNode *node, Peer *p)
{
  if (p->out != NULL || !node->running)
    return;
  Conn *c = conn_new (node, TRUE);
  c->peer = p;
  c->remote = g_strdup (p->address);
  c->state = CONN_CONNECTING;
  c->cancel = g_cancellable_new ();
  p->out = c;

  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_socket_client_set_enable_proxy (client, FALSE);
  /* GSocketClient completes on the thread-default context of the caller. */
  g_main_context_push_thread_default (node->context);
  g_socket_client_connect_to_host_async (client, p->address, 7688, c->cancel, connect_done_cb, conn_ref (c));
  g_main_context_pop_thread_default (node->context);
}

static gboolean
retry_cb (gpointer user_data)
{
  Peer *p = user_data;
  g_source_unref (p->retry);
  p->retry = NULL;
  peer_dial (p->node, p);
  return G_SOURCE_REMOVE;
}

/* Bounded exponential backoff with jitter, so that peers restarted together
 * do not dial in lock-step. */
static void
peer_schedule_retry (NcClusterNode *node, Peer *p)
{
  if (p->retry != NULL || !node->running)
    return;
  guint shift = MIN (p->attempt, 16u);
  guint64 base = MIN ((guint64) node->reconnect_min_ms << shift, (guint64) node->reconnect_max_ms);
  guint delay = (guint) (base / 2 + (guint64) g_random_int_range (0, (gint32) MAX (base / 2, 1u) + 1));
  p->attempt++;
  p->retry = g_timeout_source_new (delay);
  g_source_set_callback (p->retry, retry_cb, p, NULL);
  g_source_set_static_name (p->retry, "nornicdb-cluster-reconnect");
  g_source_attach (p->retry, node->context);
}

/* ---- listener ------------------------------------------------------------------------------ */

static gboolean
accept_cb (GSocket *listener, GIOCondition cond, gpointer user_data)
{
  NcClusterNode *node = user_data;
  for (int i = 0; i < ACCEPT_BUDGET; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) s = g_socket_accept (listener, NULL, &error);
      if (s == NULL)
        {
          if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            g_warning ("cluster listener: accept failed: %s", error->message);
          break;
        }
      if (node->conns->len >= MAX_CONNECTIONS)
        {
          g_autofree char *remote = socket_remote_string (s);
          g_warning ("cluster listener: refusing %s: %u connections open", remote, node->conns->len);
          g_socket_close (s, NULL);
          continue;
        }
      Conn *c = conn_new (node, FALSE);
      c->state = CONN_HELLO;
      conn_start_io (c, s);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
listener_open (NcClusterNode *node, GError **error)
{
  g_autoptr(GSocketConnectable) na = g_network_address_parse (node->bind_address, 7688, error);
  if (na == NULL)
    {
      g_prefix_error (error, "bad cluster bind address \"%s\": ", node->bind_address);
      return FALSE;
    }
  const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (na));
  guint16 port = g_network_address_get_port (G_NETWORK_ADDRESS (na));
  g_autoptr(GInetAddress) ia = g_inet_address_new_from_string (host);
  if (ia == NULL)
    {
      /* A name is resolved once, at start-up, before any traffic. */
      g_autoptr(GResolver) resolver = g_resolver_get_default ();
      GList *list = g_resolver_lookup_by_name (resolver, host, NULL, error);
      if (list == NULL)
        {
          g_prefix_error (error, "cannot resolve cluster bind address \"%s\": ", node->bind_address);
          return FALSE;
        }
      ia = g_object_ref (list->data);
      g_resolver_free_addresses (list);
    }
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new (ia, port);
  g_autoptr(GSocket) s = g_socket_new (g_inet_address_get_family (ia), G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_TCP, error);
  if (s == NULL || !g_socket_bind (s, sa, TRUE, error))
    {
      g_prefix_error (error, "cannot bind cluster address %s: ", node->bind_address);
      return FALSE;
    }
  g_socket_set_listen_backlog (s, 64);
  if (!g_socket_listen (s, error))
    {
      g_prefix_error (error, "cannot listen on cluster address %s: ", node->bind_address);
      return FALSE;
    }
  g_socket_set_blocking (s, FALSE);
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (s, error);
  if (local == NULL)
    return FALSE;
  node->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  if (node->advertise_address == NULL)
    {
      g_autofree char *ip = g_inet_address_to_string (ia);
      node->advertise_address = g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6
                                  ? g_strdup_printf ("[%s]:%u", ip, node->port)
                                  : g_strdup_printf ("%s:%u", ip, node->port);
    }
  node->listener = g_steal_pointer (&s);
  node->accept_source = g_socket_create_source (node->listener, G_IO_IN, NULL);
  g_source_set_callback (node->accept_source, (GSourceFunc) (void (*) (void)) accept_cb, node, NULL);
  g_source_set_static_name (node->accept_source, "nornicdb-cluster-accept");
  g_source_attach (node->accept_source, node->context);
  g_message ("cluster transport listening on %s (node %s, cluster %s%s)", node->bind_address, node->node_id,
             node->cluster_id, node->tls != NULL ? ", TLS" : "");
  return TRUE;
}

/* ---- the tick ------------------------------------------------------------------------------- */

static void
conn_send_keepalive (Conn *c)
{
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_KEEP_ALIVE);
  m->u.keep_alive.sent_ms = (guint64) (g_get_monotonic_time () / 1000);
  g_autoptr(GBytes) frame = node_encode (c->node, m, NULL);
  if (frame != NULL)
    {
      conn_queue (c, frame);
      /* Counts as a send even before the socket takes it: avoids piling up
       * keep-alives behind a slow writer. */
      c->last_send = g_get_monotonic_time ();
    }
}

static gboolean
tick_cb (gpointer user_data)
{
  NcClusterNode *node = nc_cluster_node_ref (user_data);
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GPtrArray) snapshot = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_unref);
  for (guint i = 0; i < node->conns->len; i++)
    g_ptr_array_add (snapshot, conn_ref (g_ptr_array_index (node->conns, i)));
  for (guint i = 0; i < snapshot->len; i++)
    {
      Conn *c = g_ptr_array_index (snapshot, i);
      switch (c->state)
        {
        case CONN_CONNECTING:
        case CONN_TLS:
        case CONN_HELLO:
          if (now - c->created > (gint64) node->handshake_timeout_ms * 1000)
            conn_fail (c, c->state == CONN_HELLO, NC_CLUSTER_ERROR_PROTOCOL,
                       "no %s within %u ms", c->state == CONN_CONNECTING ? "connection"
                                             : c->state == CONN_TLS ? "TLS handshake" : "Hello",
                       node->handshake_timeout_ms);
          break;
        case CONN_READY:
          if (now - c->last_recv > (gint64) node->dead_after_ms * 1000)
            conn_fail (c, FALSE, NC_CLUSTER_ERROR_CLOSED, "nothing received for %u ms", node->dead_after_ms);
          else if (now - c->last_send >= (gint64) node->keepalive_ms * 1000)
            conn_send_keepalive (c);
          break;
        case CONN_CLOSING:
          if (now > c->close_deadline)
            conn_close (c);
          break;
        case CONN_CLOSED:
          break;
        }
    }
  nc_cluster_node_unref (node);
  return G_SOURCE_CONTINUE;
}

/* ---- public API ------------------------------------------------------------------------------- */

NcClusterNode *
nc_cluster_node_new (const NcClusterNodeSettings *s, GMainContext *context, GError **error)
{
  if (s->node_id == NULL || *s->node_id == '\0' || !g_utf8_validate (s->node_id, -1, NULL))
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG, "cluster node id must be a non-empty UTF-8 string");
      return NULL;
    }
  if (s->cluster_id == NULL || !g_utf8_validate (s->cluster_id, -1, NULL))
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG, "cluster id must be a UTF-8 string");
      return NULL;
    }
  if (s->max_frame_bytes > G_MAXUINT32 || (s->max_frame_bytes != 0 && s->max_frame_bytes < 4096))
    {
      /* Below 4 KiB a Hello or an Error frame might not fit. */
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG,
                   "cluster frame limit must be between 4 KiB and 4 GiB");
      return NULL;
    }
  const char *const texts[] = { s->bind_address, s->advertise_address, s->bolt_address, s->mode, s->region };
  for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
    if (texts[i] != NULL && !g_utf8_validate (texts[i], -1, NULL))
      {
        g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG, "cluster settings must be UTF-8 strings");
        return NULL;
      }

  for (gsize i = 0; s->accepted_cluster_ids != NULL && s->accepted_cluster_ids[i] != NULL; i++)
    if (!g_utf8_validate (s->accepted_cluster_ids[i], -1, NULL))
      {
        g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG, "accepted cluster ids must be UTF-8 strings");
        return NULL;
      }

  g_autoptr(NcClusterNode) node = g_new0 (NcClusterNode, 1);
  node->ref = 1;
  node->context = g_main_context_ref (context != NULL ? context : g_main_context_default ());
  node->node_id = g_strdup (s->node_id);
  node->cluster_id = g_strdup (s->cluster_id);
  node->bind_address = g_strdup (s->bind_address);
  node->advertise_address = g_strdup (s->advertise_address);
  node->bolt_address = g_strdup (s->bolt_address);
  node->mode = g_strdup (s->mode);
  node->region = g_strdup (s->region);
  if (s->accepted_cluster_ids != NULL && s->accepted_cluster_ids[0] != NULL)
    node->accepted_cluster_ids = g_strdupv ((char **) s->accepted_cluster_ids);
  node->max_frame = s->max_frame_bytes != 0 ? s->max_frame_bytes : NC_CLUSTER_DEFAULT_MAX_FRAME;
  node->max_queue = s->max_queue_bytes != 0 ? s->max_queue_bytes : 2 * node->max_frame;
  node->keepalive_ms = s->keepalive_ms != 0 ? s->keepalive_ms : 1000;
  node->dead_after_ms = s->dead_after_ms != 0 ? s->dead_after_ms : 5 * node->keepalive_ms;
  node->health_window_ms = s->health_window_ms != 0 ? s->health_window_ms : 3 * node->keepalive_ms;
  node->reconnect_min_ms = s->reconnect_min_ms != 0 ? s->reconnect_min_ms : 100;
  node->reconnect_max_ms = MAX (s->reconnect_max_ms != 0 ? s->reconnect_max_ms : 5000, node->reconnect_min_ms);
  node->handshake_timeout_ms = s->handshake_timeout_ms != 0 ? s->handshake_timeout_ms : 5000;
  node->role = g_strdup ("unknown");
  node->peers = g_ptr_array_new_with_free_func ((GDestroyNotify) peer_free);
  node->conns = g_ptr_array_new ();

  if (s->tls.enabled)
    {
      node->tls = nc_cluster_tls_new (&s->tls, s->bind_address != NULL, error);
      if (node->tls == NULL)
        return NULL;
    }
  return g_steal_pointer (&node);
}

NcClusterNode *
nc_cluster_node_ref (NcClusterNode *node)
{
  g_atomic_int_inc (&node->ref);
  return node;
}

void
nc_cluster_node_unref (NcClusterNode *node)
{
  if (node == NULL || !g_atomic_int_dec_and_test (&node->ref))
    return;
  /* Keep the node alive while stop() runs callbacks. */
  node->ref = 1;
  nc_cluster_node_stop (node);
  g_assert (node->ref == 1 && node->conns->len == 0);
  g_ptr_array_unref (node->peers);
  g_ptr_array_unref (node->conns);
  nc_cluster_tls_free (node->tls);
  g_main_context_unref (node->context);
  g_free (node->node_id);
  g_free (node->cluster_id);
  g_free (node->bind_address);
  g_free (node->advertise_address);
  g_free (node->bolt_address);
  g_free (node->mode);
  g_free (node->region);
  g_strfreev (node->accepted_cluster_ids);
  g_free (node->role);
  g_free (node);
}

void
nc_cluster_node_set_callbacks (NcClusterNode *node, NcClusterMessageCb message_cb, NcClusterPeerEventCb peer_cb,
                               gpointer user_data)
{
  node->message_cb = message_cb;
  node->peer_cb = peer_cb;
  node->user_data = user_data;
}

void
nc_cluster_node_set_role (NcClusterNode *node, const char *role, guint64 epoch)
{
  g_free (node->role);
  node->role = g_utf8_make_valid (role != NULL ? role : "unknown", -1);
  node->epoch = epoch;
}

gboolean
nc_cluster_node_start (NcClusterNode *node, GError **error)
{
  if (node->running)
    return TRUE;
  if (node->bind_address != NULL && !listener_open (node, error))
    return FALSE;
  node->running = TRUE;
  guint tick_ms = CLAMP (node->keepalive_ms / 4, 10u, 250u);
  tick_ms = MIN (tick_ms, MAX (node->health_window_ms / 4, 10u));
  node->tick = g_timeout_source_new (tick_ms);
  g_source_set_callback (node->tick, tick_cb, node, NULL);
  g_source_set_static_name (node->tick, "nornicdb-cluster-tick");
  g_source_attach (node->tick, node->context);
  for (guint i = 0; i < node->peers->len; i++)
    {
      Peer *p = g_ptr_array_index (node->peers, i);
      if (p->configured)
        peer_dial (node, p);
    }
  return TRUE;
}

static void
destroy_source (GSource **s)
{
  if (*s == NULL)
    return;
  g_source_destroy (*s);
  g_source_unref (*s);
  *s = NULL;
}

void
nc_cluster_node_stop (NcClusterNode *node)
{
  nc_cluster_node_ref (node);
  node->running = FALSE;
  destroy_source (&node->tick);
  destroy_source (&node->accept_source);
  if (node->listener != NULL)
    {
      g_socket_close (node->listener, NULL);
      g_clear_object (&node->listener);
    }
  for (guint i = 0; i < node->peers->len; i++)
    destroy_source (&((Peer *) g_ptr_array_index (node->peers, i))->retry);
  /* A close can run callbacks that close others: always take the last. */
  while (node->conns->len > 0)
    conn_close (g_ptr_array_index (node->conns, node->conns->len - 1));
  node->port = 0;
  /* A callback may have scheduled reconnects while we were closing. */
  for (guint i = 0; i < node->peers->len; i++)
    destroy_source (&((Peer *) g_ptr_array_index (node->peers, i))->retry);
  node->ref--;  /* the reference taken above, without re-entering unref */
}

guint16
nc_cluster_node_get_port (NcClusterNode *node)
{
  return node->port;
}

gboolean
nc_cluster_node_add_peer (NcClusterNode *node, const char *peer_id, const char *address, GError **error)
{
  if (address == NULL || *address == '\0')
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG, "peer address must not be empty");
      return FALSE;
    }
  if (peer_id != NULL && strcmp (peer_id, node->node_id) == 0)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG, "peer id \"%s\" is this node's own id", peer_id);
      return FALSE;
    }
  for (guint i = 0; i < node->peers->len; i++)
    {
      Peer *p = g_ptr_array_index (node->peers, i);
      if (!p->configured)
        continue;
      if (strcmp (p->address, address) == 0 || (peer_id != NULL && p->id != NULL && strcmp (p->id, peer_id) == 0))
        {
          g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_CONFIG, "peer %s (%s) is already configured",
                       peer_id != NULL ? peer_id : "?", address);
          return FALSE;
        }
    }
  Peer *p = g_new0 (Peer, 1);
  p->node = node;
  p->id = g_strdup (peer_id);
  p->address = g_strdup (address);
  p->configured = TRUE;
  /* A dial-in record for the same node becomes part of this one. */
  Peer *dial_in = peer_id != NULL ? find_peer_by_id (node, peer_id) : NULL;
  g_ptr_array_insert (node->peers, 0, p);
  if (dial_in != NULL && !dial_in->configured)
    peer_merge (node, dial_in, p);
  if (node->running)
    peer_dial (node, p);
  return TRUE;
}

void
nc_cluster_node_remove_peer (NcClusterNode *node, const char *address)
{
  for (guint i = 0; i < node->peers->len; i++)
    {
      Peer *p = g_ptr_array_index (node->peers, i);
      if (!p->configured || strcmp (p->address, address) != 0)
        continue;
      /* Out of the list first: closing its last connection must not free it. */
      g_ptr_array_steal_index (node->peers, i);
      p->configured = FALSE;  /* no reconnect */
      destroy_source (&p->retry);
      /* Incoming connections from that node stay; they move to a dial-in record. */
      g_autoptr(GPtrArray) mine = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_unref);
      for (guint j = 0; j < node->conns->len; j++)
        {
          Conn *c = g_ptr_array_index (node->conns, j);
          if (c->peer == p)
            g_ptr_array_add (mine, conn_ref (c));
        }
      for (guint j = 0; j < mine->len; j++)
        {
          Conn *c = g_ptr_array_index (mine, j);
          if (c->outgoing)
            conn_close (c);
          else
            c->peer = NULL;
        }
      /* Re-home the remaining incoming connections. */
      for (guint j = 0; j < mine->len; j++)
        {
          Conn *c = g_ptr_array_index (mine, j);
          if (c->state == CONN_CLOSED || c->hello_from == NULL)
            continue;
          Peer *q = find_peer_by_id (node, c->hello_from);
          if (q == NULL)
            {
              q = g_new0 (Peer, 1);
              q->node = node;
              q->id = g_strdup (c->hello_from);
              q->last_heard = c->last_recv;
              g_ptr_array_add (node->peers, q);
            }
          c->peer = q;
        }
      peer_free (p);
      return;
    }
}

/* The connection to send to `peer_id`: the outgoing one when ready, else
 * the newest ready incoming one. */
static Conn *
find_send_conn (NcClusterNode *node, const char *peer_id)
{
  Conn *incoming = NULL;
  for (guint i = 0; i < node->conns->len; i++)
    {
      Conn *c = g_ptr_array_index (node->conns, i);
      if (c->state != CONN_READY || c->hello_from == NULL || strcmp (c->hello_from, peer_id) != 0)
        continue;
      if (c->outgoing)
        return c;
      incoming = c;
    }
  return incoming;
}

gboolean
nc_cluster_node_send (NcClusterNode *node, const char *peer_id, const NcClusterMessage *msg, GError **error)
{
  Conn *c = find_send_conn (node, peer_id);
  if (c == NULL)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_NOT_CONNECTED, "no connection to cluster peer \"%s\"", peer_id);
      return FALSE;
    }
  g_autoptr(GBytes) frame = node_encode (node, msg, error);
  if (frame == NULL)
    return FALSE;
  gsize size = g_bytes_get_size (frame);
  if (c->queued_bytes + size > node->max_queue)
    {
      g_set_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_QUEUE_FULL,
                   "send queue to cluster peer \"%s\" is full (%" G_GSIZE_FORMAT " bytes); connection dropped",
                   peer_id, c->queued_bytes);
      conn_fail (c, FALSE, NC_CLUSTER_ERROR_QUEUE_FULL,
                 "send queue full (%" G_GSIZE_FORMAT " bytes queued): peer is not reading", c->queued_bytes);
      return FALSE;
    }
  conn_queue (c, frame);
  return TRUE;
}

void
nc_cluster_peer_status_free (NcClusterPeerStatus *st)
{
  if (st == NULL)
    return;
  g_free (st->peer_id);
  g_free (st->address);
  g_free (st->role);
  g_free (st->last_error);
  g_free (st);
}

static NcClusterPeerStatus *
peer_status (NcClusterNode *node, Peer *p)
{
  NcClusterPeerStatus *st = g_new0 (NcClusterPeerStatus, 1);
  gint64 now = g_get_monotonic_time ();
  st->peer_id = g_strdup (p->id);
  st->configured = p->configured;
  st->address = g_strdup (p->address);
  for (guint i = 0; i < node->conns->len; i++)
    {
      Conn *c = g_ptr_array_index (node->conns, i);
      if (c->peer != p || c->state != CONN_READY)
        continue;
      st->connected = TRUE;
      if (st->address == NULL)
        st->address = g_strdup (c->remote);
    }
  st->last_heard_ms_ago = p->last_heard != 0 ? (now - p->last_heard) / 1000 : -1;
  st->healthy = st->connected && p->last_heard != 0 && st->last_heard_ms_ago <= (gint64) node->health_window_ms;
  st->role = g_strdup (p->role);
  st->epoch = p->epoch;
  st->bytes_sent = p->bytes_sent;
  st->bytes_received = p->bytes_received;
  st->frames_sent = p->frames_sent;
  st->frames_received = p->frames_received;
  st->reconnects = p->reconnects;
  st->last_error = g_strdup (p->last_error);
  return st;
}

NcClusterPeerStatus *
nc_cluster_node_peer_status (NcClusterNode *node, const char *peer_id)
{
  Peer *p = find_peer_by_id (node, peer_id);
  return p != NULL ? peer_status (node, p) : NULL;
}

GPtrArray *
nc_cluster_node_list_peers (NcClusterNode *node)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_cluster_peer_status_free);
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < node->peers->len; i++)
      {
        Peer *p = g_ptr_array_index (node->peers, i);
        if (p->configured == (pass == 0))
          g_ptr_array_add (out, peer_status (node, p));
      }
  return out;
}

char *
nc_cluster_node_peers_json (NcClusterNode *node)
{
  g_autoptr(GPtrArray) peers = nc_cluster_node_list_peers (node);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  for (guint i = 0; i < peers->len; i++)
    {
      NcClusterPeerStatus *st = g_ptr_array_index (peers, i);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      if (st->peer_id != NULL)
        json_builder_add_string_value (b, st->peer_id);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "address");
      json_builder_add_string_value (b, st->address != NULL ? st->address : "");
      json_builder_set_member_name (b, "configured");
      json_builder_add_boolean_value (b, st->configured);
      json_builder_set_member_name (b, "connected");
      json_builder_add_boolean_value (b, st->connected);
      json_builder_set_member_name (b, "healthy");
      json_builder_add_boolean_value (b, st->healthy);
      json_builder_set_member_name (b, "last_heard_ms_ago");
      json_builder_add_int_value (b, st->last_heard_ms_ago);
      json_builder_set_member_name (b, "role");
      if (st->role != NULL)
        json_builder_add_string_value (b, st->role);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "epoch");
      json_builder_add_int_value (b, (gint64) MIN (st->epoch, (guint64) G_MAXINT64));
      json_builder_set_member_name (b, "bytes_sent");
      json_builder_add_int_value (b, (gint64) st->bytes_sent);
      json_builder_set_member_name (b, "bytes_received");
      json_builder_add_int_value (b, (gint64) st->bytes_received);
      json_builder_set_member_name (b, "reconnects");
      json_builder_add_int_value (b, st->reconnects);
      if (st->last_error != NULL)
        {
          json_builder_set_member_name (b, "last_error");
          json_builder_add_string_value (b, st->last_error);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* Prometheus label values escape backslash, quote and newline. */
static char *
label_escape (const char *v)
{
  GString *out = g_string_new (NULL);
  for (const char *p = v; *p != '\0'; p++)
    {
      if (*p == '\\' || *p == '"')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        {
          g_string_append (out, "\\n");
          continue;
        }
      g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

void
nc_cluster_node_append_metrics (NcClusterNode *node, GString *out, NcClusterAppendMetricFunc append)
{
  g_autoptr(GPtrArray) peers = nc_cluster_node_list_peers (node);
  for (guint i = 0; i < peers->len; i++)
    {
      NcClusterPeerStatus *st = g_ptr_array_index (peers, i);
      g_autofree char *peer = label_escape (st->peer_id != NULL ? st->peer_id : (st->address != NULL ? st->address : "?"));
      g_autofree char *l = g_strdup_printf ("peer=\"%s\"", peer);
      g_autofree char *ls = g_strdup_printf ("peer=\"%s\",direction=\"sent\"", peer);
      g_autofree char *lr = g_strdup_printf ("peer=\"%s\",direction=\"received\"", peer);
      append (out, "nornicdb_peer_healthy", NORNIC_METRIC_GAUGE,
              "1 when the cluster peer was heard from within the health window", l, st->healthy ? 1 : 0);
      append (out, "nornicdb_peer_connected", NORNIC_METRIC_GAUGE,
              "1 when a cluster connection to the peer is established", l, st->connected ? 1 : 0);
      append (out, "nornicdb_replication_bytes_total", NORNIC_METRIC_COUNTER,
              "Cluster protocol bytes exchanged with the peer", ls, (double) st->bytes_sent);
      append (out, "nornicdb_replication_bytes_total", NORNIC_METRIC_COUNTER,
              "Cluster protocol bytes exchanged with the peer", lr, (double) st->bytes_received);
      append (out, "nornicdb_cluster_peer_reconnects_total", NORNIC_METRIC_COUNTER,
              "Outgoing cluster connections re-established to the peer", l, st->reconnects);
    }
}
