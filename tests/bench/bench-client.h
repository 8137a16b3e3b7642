/* Blocking-socket client helpers shared by the C benchmarks (bench-bolt,
 * bench-load): TCP connect with TCP_NODELAY, full reads and writes, and the
 * Bolt 5 handshake + HELLO + LOGON and message framing. Kept small on
 * purpose: the point of these clients is to cost the server's peers as
 * little CPU per request as possible. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean nb_write_all (int fd, const guint8 *p, gsize n);
gboolean nb_read_all (int fd, guint8 *p, gsize n);
/* A connected TCP socket to an IPv4 address (TCP_NODELAY set), or -1. */
int nb_tcp_connect (const char *host, guint16 port);

/* Appends one chunked Bolt message: a 1-field structure `tag` holding a map
 * of the NULL-terminated key/value string pairs `kv`. */
void nb_bolt_append_map_message (GByteArray *wire, guint8 tag, const char *const *kv);
/* Reads one whole Bolt message into `msg` (dechunked); returns its tag, 0
 * when the connection broke. */
guint8 nb_bolt_read_message (int fd, GByteArray *msg);
/* Connects, negotiates Bolt 5.x, sends HELLO + LOGON (basic auth) and waits
 * for both SUCCESS replies. Returns the socket or -1 with *why set. */
int nb_bolt_open (const char *host, guint16 port, const char *user, const char *password,
                  char **why);
/* "code: message" of a FAILURE message held in `msg` (transfer full). */
char *nb_bolt_failure_text (const GByteArray *msg);

G_END_DECLS
