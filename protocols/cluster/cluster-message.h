/* cluster-message.h — cluster wire messages and the frame codec.
 *
 * A frame is a 4-byte big-endian payload length followed by a JSON object:
 *
 *   { "type": <code>, "from": "<node id>", "cluster": "<cluster id>", ...fields }
 *
 * The messages, their codes and fields are declared once in
 * cluster-messages.def; everything below that mentions a particular message
 * is generated from that table.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Version carried in Hello. A node refuses a peer whose version it does not
 * speak (today: exactly 1). */
#define NC_CLUSTER_PROTOCOL_VERSION 1

/* Default frame size limit (payload bytes). */
#define NC_CLUSTER_DEFAULT_MAX_FRAME (64u * 1024u * 1024u)

/* Deepest JSON nesting any message needs is 3 (frame, entries, entry); a
 * frame nested deeper is refused before it reaches the JSON parser. */
#define NC_CLUSTER_MAX_JSON_DEPTH 8

/* ---- errors ---------------------------------------------------------------- */

#define NC_CLUSTER_ERROR (nc_cluster_error_quark ())
GQuark nc_cluster_error_quark (void);

typedef enum {
  NC_CLUSTER_ERROR_FRAME_TOO_LARGE,
  NC_CLUSTER_ERROR_BAD_JSON,
  NC_CLUSTER_ERROR_BAD_FIELD,     /* missing or mistyped field */
  NC_CLUSTER_ERROR_UNKNOWN_TYPE,
  NC_CLUSTER_ERROR_WRONG_CLUSTER,
  NC_CLUSTER_ERROR_PROTOCOL,      /* Hello missing/out of order, version, node id */
  NC_CLUSTER_ERROR_QUEUE_FULL,
  NC_CLUSTER_ERROR_NOT_CONNECTED,
  NC_CLUSTER_ERROR_TLS,
  NC_CLUSTER_ERROR_CONFIG,
  NC_CLUSTER_ERROR_CLOSED,
} NcClusterError;

/* The "code" string of an Error frame for an NcClusterError
 * ("FrameTooLarge", "BadJson", ...). (transfer none) */
const char *nc_cluster_error_wire_code (NcClusterError code);

/* ---- message types (generated) ----------------------------------------------- */

typedef enum {
  NC_CLUSTER_MSG_INVALID = 0,
#define NC_MSG(U, C, l, code, dir, desc) NC_CLUSTER_MSG_##U = code,
#define NC_FIELD(C, T, name, req)
#define NC_MSG_END(C)
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END
} NcClusterMsgType;

/* One replicated log record: AppendEntries/WALBatch carry a list of them. */
typedef struct {
  guint64 index;
  guint64 term;
  GBytes *data;   /* encoded write-set (core/writeset.h), owned */
} NcClusterEntry;

/* (transfer full) `data` is referenced. */
NcClusterEntry *nc_cluster_entry_new (guint64 index, guint64 term, GBytes *data);
void nc_cluster_entry_free (NcClusterEntry *entry);
/* A GPtrArray that frees its NcClusterEntry elements. (transfer full) */
GPtrArray *nc_cluster_entries_new (void);

/* C types of the field kinds used in cluster-messages.def. */
typedef guint64 NcClusterFieldU64;
typedef gboolean NcClusterFieldBOOL;
typedef char *NcClusterFieldSTRING;
typedef GBytes *NcClusterFieldBYTES;
typedef char **NcClusterFieldSTRLIST;
typedef GPtrArray *NcClusterFieldENTRIES;

/* One struct per message, e.g. NcClusterMsgVoteRequest { guint64 term; ... }. */
#define NC_MSG(U, C, l, code, dir, desc) typedef struct {
#define NC_FIELD(C, T, name, req) NcClusterField##T name;
#define NC_MSG_END(C) } NcClusterMsg##C;
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END

/* A decoded message. Pointer fields in the body are owned by the message
 * and released by nc_cluster_message_free(). */
typedef struct {
  NcClusterMsgType type;
  char *from;      /* sender's node id */
  char *cluster;   /* cluster id */
  union {
#define NC_MSG(U, C, l, code, dir, desc) NcClusterMsg##C l;
#define NC_FIELD(C, T, name, req)
#define NC_MSG_END(C)
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END
  } u;
} NcClusterMessage;

/* A zeroed message of `type` (transfer full); NULL for an unknown type. */
NcClusterMessage *nc_cluster_message_new (NcClusterMsgType type);
void nc_cluster_message_free (NcClusterMessage *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcClusterMessage, nc_cluster_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcClusterEntry, nc_cluster_entry_free)

/* Table lookups. Names are the guide's ("VoteRequest"); NULL when unknown. */
gboolean nc_cluster_msg_type_is_known (gint64 code);
const char *nc_cluster_msg_type_name (NcClusterMsgType type);
const char *nc_cluster_msg_type_direction (NcClusterMsgType type);
const char *nc_cluster_msg_type_description (NcClusterMsgType type);
/* All known types in code order; `n` receives the count. (transfer none) */
const NcClusterMsgType *nc_cluster_msg_types (gsize *n);

/* ---- codec ----------------------------------------------------------------- */

/* Encodes `msg` as one frame (length prefix + JSON). Fails when a required
 * string/bytes/list field is NULL, a u64 exceeds 2^63-1, `from`/`cluster`
 * is missing, or the payload would exceed `max_frame` (0 = default).
 * (transfer full) */
GBytes *nc_cluster_frame_encode (const NcClusterMessage *msg, gsize max_frame, GError **error);

typedef enum {
  NC_CLUSTER_FRAME_NEED_MORE,   /* fewer than 4 bytes, or payload incomplete */
  NC_CLUSTER_FRAME_READY,       /* *payload_len bytes follow the 4-byte prefix */
  NC_CLUSTER_FRAME_INVALID,     /* length over max_frame or zero; error set */
} NcClusterFrameStatus;

/* Looks at the start of `buf` (len bytes) for one frame. Never reads past
 * `len`. A frame whose declared length exceeds `max_frame` (0 = default) is
 * INVALID as soon as its 4-byte prefix is seen. */
NcClusterFrameStatus nc_cluster_frame_peek (const guint8 *buf, gsize len, gsize max_frame,
                                            gsize *payload_len, GError **error);

/* Decodes one frame payload (the JSON, without the length prefix) and
 * validates it against the message table: known type, "from" a non-empty
 * string, "cluster" equal to `expect_cluster` (skipped when NULL), every
 * required field present with its declared type, optional fields typed when
 * present, unknown keys ignored. (transfer full) */
NcClusterMessage *nc_cluster_message_decode (const guint8 *payload, gsize len,
                                             const char *expect_cluster, GError **error);

G_END_DECLS
