/* Cluster frame codec: every message round-trips, and every kind of bad
 * frame is refused with the right error. */
#include "cluster-message.h"

#include <string.h>

/* ---- generated fill/compare, from the same table as the codec ----------------- */

static void
fill_U64 (guint64 *p, guint seed)
{
  *p = ((guint64) seed << 40) + seed * 1000003u;  /* well above 2^32 */
}

static void
fill_BOOL (gboolean *p, guint seed)
{
  *p = (seed % 2) == 1;
}

static void
fill_STRING (char **p, guint seed)
{
  *p = g_strdup_printf ("s-%u \"quoted\" \\ ünïcödé\n\t", seed);
}

static GBytes *
seed_bytes (guint seed, gsize n)
{
  guint8 *b = g_malloc (n + 1);
  for (gsize i = 0; i < n; i++)
    b[i] = (guint8) (i * 7 + seed);
  return g_bytes_new_take (b, n);
}

static void
fill_BYTES (GBytes **p, guint seed)
{
  *p = seed_bytes (seed, 300 + seed);
}

static void
fill_STRLIST (char ***p, guint seed)
{
  char **v = g_new0 (char *, 4);
  v[0] = g_strdup_printf ("n%u=127.0.0.%u:7688", seed, seed % 250);
  v[1] = g_strdup ("");
  v[2] = g_strdup ("x");
  *p = v;
}

static void
fill_ENTRIES (GPtrArray **p, guint seed)
{
  GPtrArray *a = nc_cluster_entries_new ();
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GBytes) data = seed_bytes (seed + i, i == 0 ? 0 : 17 * i);
      g_ptr_array_add (a, nc_cluster_entry_new (((guint64) 1 << 50) + i, seed + i, data));
    }
  *p = a;
}

static void
check_U64 (const guint64 *a, const guint64 *b)
{
  g_assert_cmpuint (*a, ==, *b);
}

static void
check_BOOL (const gboolean *a, const gboolean *b)
{
  g_assert_cmpint (*a, ==, *b);
}

static void
check_STRING (char *const *a, char *const *b)
{
  g_assert_cmpstr (*a, ==, *b);
}

static void
check_BYTES (GBytes *const *a, GBytes *const *b)
{
  g_assert_nonnull (*b);
  g_assert_true (g_bytes_equal (*a, *b));
}

static void
check_STRLIST (char **const *a, char **const *b)
{
  g_assert_nonnull (*b);
  g_assert_true (g_strv_equal ((const char *const *) *a, (const char *const *) *b));
}

static void
check_ENTRIES (GPtrArray *const *a, GPtrArray *const *b)
{
  g_assert_nonnull (*b);
  g_assert_cmpuint ((*a)->len, ==, (*b)->len);
  for (guint i = 0; i < (*a)->len; i++)
    {
      NcClusterEntry *x = g_ptr_array_index (*a, i), *y = g_ptr_array_index (*b, i);
      g_assert_cmpuint (x->index, ==, y->index);
      g_assert_cmpuint (x->term, ==, y->term);
      g_assert_true (g_bytes_equal (x->data, y->data));
    }
}

#define NC_MSG(U, C, l, code, dir, desc) \
  static void fill_##C (NcClusterMessage *m) { NcClusterMsg##C *b = &m->u.l; guint seed = code * 10;
#define NC_FIELD(C, T, name, req) fill_##T (&b->name, seed++);
#define NC_MSG_END(C) (void) seed; }
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END

#define NC_MSG(U, C, l, code, dir, desc) \
  static void check_##C (const NcClusterMessage *ma, const NcClusterMessage *mb) \
  { const NcClusterMsg##C *a = &ma->u.l, *b = &mb->u.l;
#define NC_FIELD(C, T, name, req) check_##T (&a->name, &b->name);
#define NC_MSG_END(C) (void) a; (void) b; }
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END

typedef struct {
  NcClusterMsgType type;
  void (*fill) (NcClusterMessage *m);
  void (*check) (const NcClusterMessage *a, const NcClusterMessage *b);
} RoundTripCase;

static const RoundTripCase round_trip_cases[] = {
#define NC_MSG(U, C, l, code, dir, desc) { NC_CLUSTER_MSG_##U, fill_##C, check_##C },
#define NC_FIELD(C, T, name, req)
#define NC_MSG_END(C)
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END
};

/* ---- helpers ----------------------------------------------------------------------- */

static NcClusterMessage *
decode_frame (GBytes *frame, const char *cluster, GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (frame, &len);
  gsize payload_len = 0;
  NcClusterFrameStatus st = nc_cluster_frame_peek (data, len, 0, &payload_len, error);
  g_assert_cmpint (st, ==, NC_CLUSTER_FRAME_READY);
  g_assert_cmpuint (payload_len + 4, ==, len);
  return nc_cluster_message_decode (data + 4, payload_len, cluster, error);
}

static NcClusterMessage *
decode_text (const char *json, GError **error)
{
  return nc_cluster_message_decode ((const guint8 *) json, strlen (json), "c1", error);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void
test_round_trip (gconstpointer data)
{
  const RoundTripCase *tc = data;
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (tc->type);
  g_assert_nonnull (m);
  m->from = g_strdup ("node-ä");
  m->cluster = g_strdup ("c1");
  tc->fill (m);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = nc_cluster_frame_encode (m, 0, &error);
  g_assert_no_error (error);
  /* The prefix is big-endian. */
  const guint8 *raw = g_bytes_get_data (frame, NULL);
  guint32 n = ((guint32) raw[0] << 24) | ((guint32) raw[1] << 16) | ((guint32) raw[2] << 8) | raw[3];
  g_assert_cmpuint (n + 4, ==, g_bytes_get_size (frame));
  g_autoptr(NcClusterMessage) back = decode_frame (frame, "c1", &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->type, ==, tc->type);
  g_assert_cmpstr (back->from, ==, "node-ä");
  g_assert_cmpstr (back->cluster, ==, "c1");
  tc->check (m, back);
}

static void
test_table_matches_guide (void)
{
  static const char *const guide[] = {
    NULL, "VoteRequest", "VoteResponse", "AppendEntries", "AppendEntriesResponse", "WALBatch",
    "WALBatchResponse", "Heartbeat", "HeartbeatResponse", "Fence", "FenceResponse", "Promote",
    "PromoteResponse", "PreVoteRequest", "PreVoteResponse", "InstallSnapshot", "InstallSnapshotResponse",
    "TimeoutNow", "ReadIndexRequest", "ReadIndexResponse", "Error", "Hello", "SnapshotRequest",
    "SnapshotChunk",
  };
  for (guint code = 1; code < G_N_ELEMENTS (guide); code++)
    {
      g_assert_true (nc_cluster_msg_type_is_known (code));
      g_assert_cmpstr (nc_cluster_msg_type_name (code), ==, guide[code]);
      g_assert_nonnull (nc_cluster_msg_type_direction (code));
    }
  g_assert_cmpstr (nc_cluster_msg_type_direction (NC_CLUSTER_MSG_WAL_BATCH), ==, "Primary -> Standby");
  g_assert_false (nc_cluster_msg_type_is_known (0));
  gsize n = 0;
  const NcClusterMsgType *all = nc_cluster_msg_types (&n);
  g_assert_cmpuint (n, ==, G_N_ELEMENTS (round_trip_cases));
  for (gsize i = 1; i < n; i++)
    g_assert_cmpint (all[i], ==, all[i - 1] + 1);  /* appended in order, no gaps */
  g_assert_false (nc_cluster_msg_type_is_known (all[n - 1] + 1));
}

static void
test_optional_fields_absent (void)
{
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_READ_INDEX_RESPONSE);
  m->from = g_strdup ("a");
  m->cluster = g_strdup ("c1");
  m->u.read_index_response.read_index = 42;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = nc_cluster_frame_encode (m, 0, &error);
  g_assert_no_error (error);
  gsize flen = 0;
  const char *ftext = g_bytes_get_data (frame, &flen);
  g_assert_null (g_strstr_len (ftext + 4, (gssize) flen - 4, "leader_hint"));
  g_autoptr(NcClusterMessage) back = decode_frame (frame, "c1", &error);
  g_assert_no_error (error);
  g_assert_null (back->u.read_index_response.leader_hint);
  g_assert_cmpuint (back->u.read_index_response.read_index, ==, 42);

  /* null counts as absent for an optional field. */
  g_autoptr(NcClusterMessage) n = decode_text (
    "{\"type\":19,\"from\":\"a\",\"cluster\":\"c1\",\"term\":1,\"request_id\":2,\"success\":true,"
    "\"read_index\":3,\"leader_hint\":null}", &error);
  g_assert_no_error (error);
  g_assert_null (n->u.read_index_response.leader_hint);
}

static void
test_unknown_keys_ignored (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NcClusterMessage) m = decode_text (
    "{\"type\":2,\"from\":\"a\",\"cluster\":\"c1\",\"term\":7,\"vote_granted\":true,\"future\":[1,{}]}", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->u.vote_response.term, ==, 7);
  g_assert_true (m->u.vote_response.vote_granted);
}

static void
test_peek_oversized_length (void)
{
  const guint8 hdr[4] = { 0x7f, 0xff, 0xff, 0xff };
  gsize n = 0;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint (nc_cluster_frame_peek (hdr, 4, 0, &n, &error), ==, NC_CLUSTER_FRAME_INVALID);
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_FRAME_TOO_LARGE);
  g_clear_error (&error);
  /* A configured limit applies exactly. */
  const guint8 small[4] = { 0, 0, 4, 1 };
  g_assert_cmpint (nc_cluster_frame_peek (small, 4, 1024, &n, &error), ==, NC_CLUSTER_FRAME_INVALID);
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_FRAME_TOO_LARGE);
  g_clear_error (&error);
  const guint8 fits[4] = { 0, 0, 4, 0 };
  g_assert_cmpint (nc_cluster_frame_peek (fits, 4, 1024, &n, &error), ==, NC_CLUSTER_FRAME_NEED_MORE);
  g_assert_no_error (error);
}

static void
test_peek_zero_and_truncated (void)
{
  const guint8 zero[4] = { 0, 0, 0, 0 };
  gsize n = 0;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint (nc_cluster_frame_peek (zero, 4, 0, &n, &error), ==, NC_CLUSTER_FRAME_INVALID);
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_JSON);
  g_clear_error (&error);
  const guint8 part[7] = { 0, 0, 0, 10, '{', '}', ' ' };
  for (gsize len = 0; len <= sizeof part; len++)
    g_assert_cmpint (nc_cluster_frame_peek (part, len, 0, &n, &error), ==, NC_CLUSTER_FRAME_NEED_MORE);
  g_assert_no_error (error);
}

typedef struct {
  const char *path;
  const char *json;
  NcClusterError code;
} RejectCase;

static const RejectCase reject_cases[] = {
  { "bad-json", "{\"type\":2,", NC_CLUSTER_ERROR_BAD_JSON },
  { "not-an-object", "[2,\"a\"]", NC_CLUSTER_ERROR_BAD_JSON },
  { "nul-byte", "{\"type\":2}\0", NC_CLUSTER_ERROR_BAD_JSON },
  { "deep-nesting", "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", NC_CLUSTER_ERROR_BAD_JSON },
  { "missing-type", "{\"from\":\"a\",\"cluster\":\"c1\"}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "type-as-string", "{\"type\":\"2\",\"from\":\"a\",\"cluster\":\"c1\",\"term\":1,\"vote_granted\":true}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "unknown-type", "{\"type\":999,\"from\":\"a\",\"cluster\":\"c1\"}", NC_CLUSTER_ERROR_UNKNOWN_TYPE },
  { "type-zero", "{\"type\":0,\"from\":\"a\",\"cluster\":\"c1\"}", NC_CLUSTER_ERROR_UNKNOWN_TYPE },
  { "missing-from", "{\"type\":2,\"cluster\":\"c1\",\"term\":1,\"vote_granted\":true}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "empty-from", "{\"type\":2,\"from\":\"\",\"cluster\":\"c1\",\"term\":1,\"vote_granted\":true}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "missing-cluster", "{\"type\":2,\"from\":\"a\",\"term\":1,\"vote_granted\":true}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "wrong-cluster", "{\"type\":2,\"from\":\"a\",\"cluster\":\"other\",\"term\":1,\"vote_granted\":true}", NC_CLUSTER_ERROR_WRONG_CLUSTER },
  { "missing-field", "{\"type\":2,\"from\":\"a\",\"cluster\":\"c1\",\"term\":1}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "u64-as-string", "{\"type\":2,\"from\":\"a\",\"cluster\":\"c1\",\"term\":\"1\",\"vote_granted\":true}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "u64-negative", "{\"type\":2,\"from\":\"a\",\"cluster\":\"c1\",\"term\":-1,\"vote_granted\":true}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "u64-as-float", "{\"type\":2,\"from\":\"a\",\"cluster\":\"c1\",\"term\":1.5,\"vote_granted\":true}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "bool-as-int", "{\"type\":2,\"from\":\"a\",\"cluster\":\"c1\",\"term\":1,\"vote_granted\":1}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "required-null", "{\"type\":2,\"from\":\"a\",\"cluster\":\"c1\",\"term\":null,\"vote_granted\":true}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "string-as-number", "{\"type\":20,\"from\":\"a\",\"cluster\":\"c1\",\"code\":5,\"message\":\"m\"}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "strlist-with-number", "{\"type\":15,\"from\":\"a\",\"cluster\":\"c1\",\"term\":1,\"leader_id\":\"l\","
    "\"last_included_index\":1,\"last_included_term\":1,\"offset\":0,\"data\":\"\",\"done\":true,\"voters\":[\"a\",1]}",
    NC_CLUSTER_ERROR_BAD_FIELD },
  { "bytes-not-base64", "{\"type\":23,\"from\":\"a\",\"cluster\":\"c1\",\"epoch\":1,\"snapshot_index\":1,"
    "\"snapshot_term\":1,\"offset\":0,\"data\":\"no*base64!\",\"done\":false}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "bytes-bad-padding", "{\"type\":23,\"from\":\"a\",\"cluster\":\"c1\",\"epoch\":1,\"snapshot_index\":1,"
    "\"snapshot_term\":1,\"offset\":0,\"data\":\"QQ=A\",\"done\":false}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "entries-not-array", "{\"type\":3,\"from\":\"a\",\"cluster\":\"c1\",\"term\":1,\"leader_id\":\"a\","
    "\"prev_log_index\":0,\"prev_log_term\":0,\"entries\":{},\"leader_commit\":0}", NC_CLUSTER_ERROR_BAD_FIELD },
  { "entry-missing-term", "{\"type\":3,\"from\":\"a\",\"cluster\":\"c1\",\"term\":1,\"leader_id\":\"a\","
    "\"prev_log_index\":0,\"prev_log_term\":0,\"entries\":[{\"index\":1,\"data\":\"\"}],\"leader_commit\":0}",
    NC_CLUSTER_ERROR_BAD_FIELD },
  { "entry-data-not-base64", "{\"type\":5,\"from\":\"a\",\"cluster\":\"c1\",\"epoch\":1,\"prev_index\":0,"
    "\"prev_term\":0,\"entries\":[{\"index\":1,\"term\":1,\"data\":\"%%%%\"}],\"commit_index\":0}",
    NC_CLUSTER_ERROR_BAD_FIELD },
};

static void
test_reject (gconstpointer data)
{
  const RejectCase *rc = data;
  g_autoptr(GError) error = NULL;
  gsize len = strlen (rc->json);
  if (g_str_equal (rc->path, "nul-byte"))
    len += 1;
  g_autoptr(NcClusterMessage) m = nc_cluster_message_decode ((const guint8 *) rc->json, len, "c1", &error);
  g_assert_null (m);
  g_assert_error (error, NC_CLUSTER_ERROR, (gint) rc->code);
}

static void
test_encode_refuses_missing_required (void)
{
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_VOTE_REQUEST);
  m->from = g_strdup ("a");
  m->cluster = g_strdup ("c1");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = nc_cluster_frame_encode (m, 0, &error);  /* candidate_id unset */
  g_assert_null (frame);
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD);
}

static void
test_encode_refuses_u64_out_of_range (void)
{
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_VOTE_RESPONSE);
  m->from = g_strdup ("a");
  m->cluster = g_strdup ("c1");
  m->u.vote_response.term = G_MAXUINT64;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = nc_cluster_frame_encode (m, 0, &error);
  g_assert_null (frame);
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD);
}

static void
test_encode_refuses_over_limit (void)
{
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_SNAPSHOT_CHUNK);
  m->from = g_strdup ("a");
  m->cluster = g_strdup ("c1");
  m->u.snapshot_chunk.data = seed_bytes (1, 4096);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = nc_cluster_frame_encode (m, 1024, &error);
  g_assert_null (frame);
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_FRAME_TOO_LARGE);
}

static void
test_encode_refuses_unknown_type_and_no_sender (void)
{
  g_assert_null (nc_cluster_message_new (999));
  g_autoptr(NcClusterMessage) m = nc_cluster_message_new (NC_CLUSTER_MSG_KEEP_ALIVE);
  m->cluster = g_strdup ("c1");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = nc_cluster_frame_encode (m, 0, &error);
  g_assert_null (frame);
  g_assert_error (error, NC_CLUSTER_ERROR, NC_CLUSTER_ERROR_BAD_FIELD);
}

/* ---- the documentation lists every message and field ------------------------------- */

static const char *
doc_type_U64 (void) { return "u64"; }
static const char *
doc_type_BOOL (void) { return "bool"; }
static const char *
doc_type_STRING (void) { return "string"; }
static const char *
doc_type_BYTES (void) { return "bytes (base64)"; }
static const char *
doc_type_STRLIST (void) { return "string list"; }
static const char *
doc_type_ENTRIES (void) { return "entry list"; }

/* The text from "### <code> <Name>" to the next heading. */
static char *
doc_section (const char *doc, int code, const char *name)
{
  g_autofree char *header = g_strdup_printf ("\n### %d %s\n", code, name);
  const char *start = strstr (doc, header);
  if (start == NULL)
    g_error ("docs/cluster-protocol.md has no section \"### %d %s\"", code, name);
  start += strlen (header);
  const char *end = strstr (start, "\n#");
  return end != NULL ? g_strndup (start, (gsize) (end - start)) : g_strdup (start);
}

static void
doc_field (const char *section, const char *msg, const char *field, const char *type, const char *required)
{
  g_autofree char *row = g_strdup_printf ("| `%s` | %s | %s |", field, type, required);
  if (strstr (section, row) == NULL)
    g_error ("docs/cluster-protocol.md, %s: missing row starting \"%s\"", msg, row);
}

static void
test_docs_list_every_message (void)
{
  g_autofree char *doc = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_file_get_contents (NC_CLUSTER_DOC, &doc, NULL, &error));
  g_assert_no_error (error);
  char *sec = NULL;
#define REQUIRED "yes"
#define OPTIONAL "no"
#define NC_MSG(U, C, l, code, dir, desc) sec = doc_section (doc, code, #C);
#define NC_FIELD(C, T, name, req) doc_field (sec, #C, #name, doc_type_##T (), req);
#define NC_MSG_END(C) g_clear_pointer (&sec, g_free);
#include "cluster-messages.def"
#undef NC_MSG
#undef NC_FIELD
#undef NC_MSG_END
#undef REQUIRED
#undef OPTIONAL
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (round_trip_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/nornic/cluster/codec/round-trip/%s",
                                               nc_cluster_msg_type_name (round_trip_cases[i].type));
      g_test_add_data_func (path, &round_trip_cases[i], test_round_trip);
    }
  g_test_add_func ("/nornic/cluster/codec/table-matches-guide-and-appended-codes", test_table_matches_guide);
  g_test_add_func ("/nornic/cluster/codec/optional-fields-may-be-absent", test_optional_fields_absent);
  g_test_add_func ("/nornic/cluster/codec/unknown-keys-are-ignored", test_unknown_keys_ignored);
  g_test_add_func ("/nornic/cluster/codec/peek-refuses-oversized-length-from-prefix", test_peek_oversized_length);
  g_test_add_func ("/nornic/cluster/codec/peek-zero-length-invalid-truncated-needs-more", test_peek_zero_and_truncated);
  for (gsize i = 0; i < G_N_ELEMENTS (reject_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/nornic/cluster/codec/decode-rejects/%s", reject_cases[i].path);
      g_test_add_data_func (path, &reject_cases[i], test_reject);
    }
  g_test_add_func ("/nornic/cluster/codec/encode-refuses-missing-required-field", test_encode_refuses_missing_required);
  g_test_add_func ("/nornic/cluster/codec/encode-refuses-u64-beyond-wire-range", test_encode_refuses_u64_out_of_range);
  g_test_add_func ("/nornic/cluster/codec/encode-refuses-frame-over-limit", test_encode_refuses_over_limit);
  g_test_add_func ("/nornic/cluster/codec/encode-refuses-unknown-type-and-missing-sender",
                   test_encode_refuses_unknown_type_and_no_sender);
  g_test_add_func ("/nornic/cluster/codec/docs-list-every-message-and-field", test_docs_list_every_message);
  return g_test_run ();
}
