#include "test-cluster-util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static GPtrArray *logs;

static void
log_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  g_ptr_array_add (logs, g_strdup (message));
  if (g_test_verbose () || (level & G_LOG_LEVEL_WARNING))
    g_test_message ("[%s] %s", domain, message);
}

static gboolean
fatal_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  /* Expected: the library warns about every peer it drops. */
  return g_strcmp0 (domain, "nornicdb-cluster") != 0;
}

void
tcu_init_logging (void)
{
  logs = g_ptr_array_new_with_free_func (g_free);
  g_log_set_handler ("nornicdb-cluster", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL, log_handler, NULL);
  g_test_log_set_fatal_handler (fatal_handler, NULL);
  /* g_test_init() makes every warning fatal; keep criticals fatal only. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
}

void
tcu_logs_clear (void)
{
  g_ptr_array_set_size (logs, 0);
}

gboolean
tcu_logs_have (const char *needle, ...)
{
  for (guint i = 0; i < logs->len; i++)
    {
      const char *line = g_ptr_array_index (logs, i);
      gboolean all = TRUE;
      va_list ap;
      va_start (ap, needle);
      for (const char *n = needle; n != NULL; n = va_arg (ap, const char *))
        if (strstr (line, n) == NULL)
          all = FALSE;
      va_end (ap);
      if (all)
        return TRUE;
    }
  return FALSE;
}

gboolean
tcu_wait (guint timeout_ms, gboolean (*cond) (gpointer data), gpointer data)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (!cond (data))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  return TRUE;
}

void
tcu_spin (guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;
  while (g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

void
tcu_settings (NcClusterNodeSettings *s, const char *id)
{
  memset (s, 0, sizeof *s);
  s->node_id = id;
  s->cluster_id = "c1";
  s->bind_address = "127.0.0.1:0";
  s->keepalive_ms = 50;
  s->health_window_ms = 300;
  s->dead_after_ms = 1000;
  s->reconnect_min_ms = 20;
  s->reconnect_max_ms = 200;
  s->handshake_timeout_ms = 2000;
}

static NcClusterMessage *
copy_message (const NcClusterMessage *msg)
{
  g_autoptr(GBytes) frame = nc_cluster_frame_encode (msg, 0, NULL);
  g_assert_nonnull (frame);
  gsize len = 0;
  const guint8 *d = g_bytes_get_data (frame, &len);
  NcClusterMessage *copy = nc_cluster_message_decode (d + 4, len - 4, NULL, NULL);
  g_assert_nonnull (copy);
  return copy;
}

static void
message_cb (NcClusterNode *node, const NcClusterMessage *msg, gpointer user_data)
{
  TestNode *t = user_data;
  g_ptr_array_add (t->received, copy_message (msg));
}

static void
peer_cb (NcClusterNode *node, const char *peer_id, gboolean up, const NcClusterMessage *hello, gpointer user_data)
{
  TestNode *t = user_data;
  g_ptr_array_add (up ? t->up_events : t->down_events, g_strdup (peer_id));
  if (up)
    {
      g_clear_pointer (&t->last_hello, nc_cluster_message_free);
      t->last_hello = copy_message (hello);
    }
}

TestNode *
tcu_node_new (const NcClusterNodeSettings *s)
{
  g_autoptr(GError) error = NULL;
  TestNode *t = g_new0 (TestNode, 1);
  t->id = g_strdup (s->node_id);
  t->received = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_cluster_message_free);
  t->up_events = g_ptr_array_new_with_free_func (g_free);
  t->down_events = g_ptr_array_new_with_free_func (g_free);
  t->node = nc_cluster_node_new (s, NULL, &error);
  g_assert_no_error (error);
  nc_cluster_node_set_callbacks (t->node, message_cb, peer_cb, t);
  g_assert_true (nc_cluster_node_start (t->node, &error));
  g_assert_no_error (error);
  return t;
}

void
tcu_node_free (TestNode *t)
{
  if (t == NULL)
    return;
  nc_cluster_node_set_callbacks (t->node, NULL, NULL, NULL);
  nc_cluster_node_unref (t->node);
  g_ptr_array_unref (t->received);
  g_ptr_array_unref (t->up_events);
  g_ptr_array_unref (t->down_events);
  g_clear_pointer (&t->last_hello, nc_cluster_message_free);
  g_free (t->id);
  g_free (t);
}

char *
tcu_node_address (TestNode *t)
{
  return g_strdup_printf ("127.0.0.1:%u", nc_cluster_node_get_port (t->node));
}

guint
tcu_node_count (TestNode *t, NcClusterMsgType type, const char *from)
{
  guint n = 0;
  for (guint i = 0; i < t->received->len; i++)
    {
      NcClusterMessage *m = g_ptr_array_index (t->received, i);
      if (m->type == type && (from == NULL || g_str_equal (m->from, from)))
        n++;
    }
  return n;
}

gboolean
tcu_peer_connected (TestNode *t, const char *peer_id)
{
  g_autoptr(NcClusterPeerStatus) st = nc_cluster_node_peer_status (t->node, peer_id);
  return st != NULL && st->connected;
}

gboolean
tcu_peer_healthy (TestNode *t, const char *peer_id)
{
  g_autoptr(NcClusterPeerStatus) st = nc_cluster_node_peer_status (t->node, peer_id);
  return st != NULL && st->healthy;
}

typedef struct {
  TestNode *t;
  const char *id;
} UpWait;

static gboolean
is_up (gpointer data)
{
  UpWait *w = data;
  return tcu_peer_connected (w->t, w->id);
}

gboolean
tcu_wait_up (TestNode *t, const char *peer_id, guint timeout_ms)
{
  UpWait w = { t, peer_id };
  return tcu_wait (timeout_ms, is_up, &w);
}

gboolean
tcu_send_vote_response (TestNode *t, const char *peer_id, guint64 term, GError **error)
{
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_VOTE_RESPONSE);
  m->u.vote_response.term = term;
  m->u.vote_response.vote_granted = TRUE;
  return nc_cluster_node_send (t->node, peer_id, m, error);
}

GSocket *
tcu_raw_connect (guint16 port)
{
  g_autoptr(GError) error = NULL;
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new (lo, port);
  /* The listener's backlog completes the connect without the loop running. */
  g_assert_true (g_socket_connect (s, sa, NULL, &error));
  g_assert_no_error (error);
  return s;
}

char *
tcu_raw_local_address (GSocket *s)
{
  g_autoptr(GSocketAddress) a = g_socket_get_local_address (s, NULL);
  return g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (a)));
}

void
tcu_raw_send (GSocket *s, const void *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  gsize done = 0;
  while (done < len)
    {
      gssize n = g_socket_send (s, (const char *) data + done, len - done, NULL, &error);
      g_assert_no_error (error);
      done += (gsize) n;
    }
}

void
tcu_raw_send_frame (GSocket *s, NcClusterMessage *msg, const char *from, const char *cluster)
{
  g_free (msg->from);
  g_free (msg->cluster);
  msg->from = g_strdup (from);
  msg->cluster = g_strdup (cluster);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = nc_cluster_frame_encode (msg, 0, &error);
  g_assert_no_error (error);
  tcu_raw_send (s, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
}

void
tcu_raw_send_hello (GSocket *s, const char *from, const char *cluster, guint64 version)
{
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_HELLO);
  m->u.hello.protocol_version = version;
  m->u.hello.advertise_addr = g_strdup ("127.0.0.1:1");
  m->u.hello.role = g_strdup ("test");
  tcu_raw_send_frame (s, m, from, cluster);
}

void
tcu_raw_send_json (GSocket *s, const char *json)
{
  guint32 be = GUINT32_TO_BE ((guint32) strlen (json));
  tcu_raw_send (s, &be, 4);
  tcu_raw_send (s, json, strlen (json));
}

GByteArray *
tcu_raw_read (GSocket *s, guint timeout_ms, gboolean *closed)
{
  GByteArray *out = g_byte_array_new ();
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  *closed = FALSE;
  int fd = g_socket_get_fd (s);
  while (g_get_monotonic_time () < deadline)
    {
      guint8 buf[4096];
      gssize n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0)
        {
          g_byte_array_append (out, buf, (guint) n);
          continue;
        }
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        {
          *closed = TRUE;  /* EOF or reset */
          break;
        }
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  return out;
}

GPtrArray *
tcu_frames (GByteArray *buf)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_cluster_message_free);
  gsize off = 0;
  for (;;)
    {
      gsize n = 0;
      if (nc_cluster_frame_peek (buf->data + off, buf->len - off, 0, &n, NULL) != NC_CLUSTER_FRAME_READY)
        break;
      NcClusterMessage *m = nc_cluster_message_decode (buf->data + off + 4, n, NULL, NULL);
      if (m == NULL)
        break;
      g_ptr_array_add (out, m);
      off += 4 + n;
    }
  return out;
}
