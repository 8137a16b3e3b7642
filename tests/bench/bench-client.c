/* Blocking-socket client helpers shared by the C benchmarks; see
 * bench-client.h. */
#define G_LOG_DOMAIN "nornicdb-bench"

#include "bench-client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bolt-chunk.h"
#include "packstream.h"

gboolean
nb_write_all (int fd, const guint8 *p, gsize n)
{
  while (n > 0)
    {
      ssize_t w = send (fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return FALSE;
      p += w;
      n -= (gsize) w;
    }
  return TRUE;
}

gboolean
nb_read_all (int fd, guint8 *p, gsize n)
{
  while (n > 0)
    {
      ssize_t r = recv (fd, p, n, 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return FALSE;
      p += r;
      n -= (gsize) r;
    }
  return TRUE;
}

int
nb_tcp_connect (const char *host, guint16 port)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port) };
  if (inet_pton (AF_INET, host, &sa.sin_addr) != 1)
    return -1;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

void
nb_bolt_append_map_message (GByteArray *wire, guint8 tag, const char *const *kv)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();
  guint n = 0;
  while (kv[2 * n] != NULL)
    n++;
  nc_ps_write_struct_header (b, 1, tag);
  nc_ps_write_map_header (b, n);
  for (guint i = 0; i < 2 * n; i++)
    nc_ps_write_string (b, kv[i]);
  nc_bolt_chunk_append (wire, b->data, b->len);
}

guint8
nb_bolt_read_message (int fd, GByteArray *msg)
{
  g_byte_array_set_size (msg, 0);
  for (;;)
    {
      guint8 hdr[2];
      if (!nb_read_all (fd, hdr, 2))
        return 0;
      guint size = ((guint) hdr[0] << 8) | hdr[1];
      if (size == 0)
        {
          if (msg->len == 0)
            continue; /* NOOP keep-alive between messages */
          return msg->len >= 2 ? msg->data[1] : 0;
        }
      guint old = msg->len;
      g_byte_array_set_size (msg, old + size);
      if (!nb_read_all (fd, msg->data + old, size))
        return 0;
    }
}

char *
nb_bolt_failure_text (const GByteArray *msg)
{
  static const NcPsFlavor flavor = { TRUE, TRUE };
  NcPsReader r;
  nc_ps_reader_init (&r, msg->data, msg->len);
  guint nf = 0;
  guint8 tag = 0;
  g_auto (NcValue) meta = { 0 };
  if (!nc_ps_read_struct_header (&r, &nf, &tag, NULL) || nf < 1
      || !nc_ps_read_value (&r, &flavor, &meta, NULL) || meta.type != NC_VALUE_MAP)
    return g_strdup_printf ("message 0x%02X (undecodable)", tag);
  const NcValue *code = nc_map_get (meta.u.map, "code");
  const NcValue *text = nc_map_get (meta.u.map, "message");
  return g_strdup_printf ("%s: %s", code && code->type == NC_VALUE_STRING ? nc_value_str (code) : "?",
                          text && text->type == NC_VALUE_STRING ? nc_value_str (text) : "?");
}

int
nb_bolt_open (const char *host, guint16 port, const char *user, const char *password, char **why)
{
  int fd = nb_tcp_connect (host, port);
  if (fd < 0)
    {
      *why = g_strdup_printf ("connect %s:%u: %s", host, port, g_strerror (errno));
      return -1;
    }
  /* Offer Bolt 5.4 only: the version the server speaks and bench-bolt has always used. */
  static const guint8 hs[20] = { 0x60, 0x60, 0xB0, 0x17, 0, 0, 4, 5 };
  guint8 ver[4];
  g_autoptr (GByteArray) wire = g_byte_array_new ();
  g_autoptr (GByteArray) msg = g_byte_array_new ();
  const char *const hello[] = { "user_agent", "nornicdb-bench/1.0", NULL };
  const char *const logon[] = { "scheme", "basic", "principal", user, "credentials", password, NULL };
  nb_bolt_append_map_message (wire, 0x01, hello);
  nb_bolt_append_map_message (wire, 0x6A, logon);
  if (!nb_write_all (fd, hs, sizeof hs) || !nb_read_all (fd, ver, 4) || ver[3] != 5)
    {
      *why = g_strdup ("Bolt handshake refused (no 5.x version agreed)");
      close (fd);
      return -1;
    }
  guint8 t1 = 0, t2 = 0;
  if (!nb_write_all (fd, wire->data, wire->len) || (t1 = nb_bolt_read_message (fd, msg)) != 0x70
      || (t2 = nb_bolt_read_message (fd, msg)) != 0x70)
    {
      *why = (t1 == 0x7F || t2 == 0x7F) ? nb_bolt_failure_text (msg) : g_strdup ("HELLO/LOGON not answered");
      close (fd);
      return -1;
    }
  return fd;
}
