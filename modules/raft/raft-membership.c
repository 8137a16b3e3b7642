/* Raft membership (voters and learners) and its binary codec, plus the
 * small value types shared by the core and its callers (entries, messages,
 * Ready). */
#define G_LOG_DOMAIN "nornicdb-raft"

#include "raft-core.h"

#include <string.h>

typedef struct {
  char *id;
  char *address;
  gboolean voter;
} Server;

struct _NcRaftMembership {
  GPtrArray *servers; /* Server*, sorted by id */
};

static void
server_free (gpointer p)
{
  Server *s = p;
  g_free (s->id);
  g_free (s->address);
  g_free (s);
}

NcRaftMembership *
nc_raft_membership_new (void)
{
  NcRaftMembership *m = g_new0 (NcRaftMembership, 1);
  m->servers = g_ptr_array_new_with_free_func (server_free);
  return m;
}

void
nc_raft_membership_free (NcRaftMembership *m)
{
  if (m == NULL)
    return;
  g_ptr_array_unref (m->servers);
  g_free (m);
}

NcRaftMembership *
nc_raft_membership_copy (const NcRaftMembership *m)
{
  NcRaftMembership *c = nc_raft_membership_new ();
  if (m == NULL)
    return c;
  for (guint i = 0; i < m->servers->len; i++)
    {
      const Server *s = g_ptr_array_index (m->servers, i);
      nc_raft_membership_set (c, s->id, s->address, s->voter);
    }
  return c;
}

static gint
find_pos (const NcRaftMembership *m, const char *id, gboolean *found)
{
  guint lo = 0, hi = m->servers->len;
  while (lo < hi)
    {
      guint mid = (lo + hi) / 2;
      const Server *s = g_ptr_array_index (m->servers, mid);
      int c = strcmp (s->id, id);
      if (c == 0)
        {
          *found = TRUE;
          return (gint) mid;
        }
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  *found = FALSE;
  return (gint) lo;
}

void
nc_raft_membership_set (NcRaftMembership *m, const char *id, const char *address, gboolean voter)
{
  gboolean found;
  gint pos = find_pos (m, id, &found);
  if (found)
    {
      Server *s = g_ptr_array_index (m->servers, pos);
      char *old = s->address; /* `address` may be this very string */
      s->address = g_strdup (address ? address : "");
      g_free (old);
      s->voter = voter;
      return;
    }
  Server *s = g_new0 (Server, 1);
  s->id = g_strdup (id);
  s->address = g_strdup (address ? address : "");
  s->voter = voter;
  g_ptr_array_insert (m->servers, pos, s);
}

gboolean
nc_raft_membership_remove (NcRaftMembership *m, const char *id)
{
  gboolean found;
  gint pos = find_pos (m, id, &found);
  if (found)
    g_ptr_array_remove_index (m->servers, pos);
  return found;
}

guint
nc_raft_membership_size (const NcRaftMembership *m)
{
  return m->servers->len;
}

const char *
nc_raft_membership_id (const NcRaftMembership *m, guint i)
{
  return ((const Server *) g_ptr_array_index (m->servers, i))->id;
}

const char *
nc_raft_membership_address (const NcRaftMembership *m, guint i)
{
  return ((const Server *) g_ptr_array_index (m->servers, i))->address;
}

gboolean
nc_raft_membership_is_voter_at (const NcRaftMembership *m, guint i)
{
  return ((const Server *) g_ptr_array_index (m->servers, i))->voter;
}

static const Server *
lookup (const NcRaftMembership *m, const char *id)
{
  gboolean found;
  if (id == NULL)
    return NULL;
  gint pos = find_pos (m, id, &found);
  return found ? g_ptr_array_index (m->servers, pos) : NULL;
}

gboolean
nc_raft_membership_contains (const NcRaftMembership *m, const char *id)
{
  return lookup (m, id) != NULL;
}

gboolean
nc_raft_membership_is_voter (const NcRaftMembership *m, const char *id)
{
  const Server *s = lookup (m, id);
  return s != NULL && s->voter;
}

const char *
nc_raft_membership_address_of (const NcRaftMembership *m, const char *id)
{
  const Server *s = lookup (m, id);
  return s ? s->address : NULL;
}

guint
nc_raft_membership_n_voters (const NcRaftMembership *m)
{
  guint n = 0;
  for (guint i = 0; i < m->servers->len; i++)
    n += ((const Server *) g_ptr_array_index (m->servers, i))->voter ? 1 : 0;
  return n;
}

gboolean
nc_raft_membership_equal (const NcRaftMembership *a, const NcRaftMembership *b)
{
  if (a->servers->len != b->servers->len)
    return FALSE;
  for (guint i = 0; i < a->servers->len; i++)
    {
      const Server *x = g_ptr_array_index (a->servers, i);
      const Server *y = g_ptr_array_index (b->servers, i);
      if (strcmp (x->id, y->id) != 0 || strcmp (x->address, y->address) != 0 || x->voter != y->voter)
        return FALSE;
    }
  return TRUE;
}

/* Layout: "NCRM" u8 version(1) u32 count, then per server
 * u8 voter, u32 id length, id, u32 address length, address (big-endian). */
static void
put_u32 (GByteArray *b, guint32 v)
{
  guint8 x[4] = { v >> 24, v >> 16, v >> 8, v };
  g_byte_array_append (b, x, 4);
}

GBytes *
nc_raft_membership_encode (const NcRaftMembership *m)
{
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, (const guint8 *) "NCRM", 4);
  guint8 version = 1;
  g_byte_array_append (b, &version, 1);
  put_u32 (b, m->servers->len);
  for (guint i = 0; i < m->servers->len; i++)
    {
      const Server *s = g_ptr_array_index (m->servers, i);
      guint8 voter = s->voter ? 1 : 0;
      g_byte_array_append (b, &voter, 1);
      put_u32 (b, strlen (s->id));
      g_byte_array_append (b, (const guint8 *) s->id, strlen (s->id));
      put_u32 (b, strlen (s->address));
      g_byte_array_append (b, (const guint8 *) s->address, strlen (s->address));
    }
  return g_byte_array_free_to_bytes (b);
}

static gboolean
get_u32 (const guint8 **p, const guint8 *end, guint32 *v)
{
  if (end - *p < 4)
    return FALSE;
  *v = ((guint32) (*p)[0] << 24) | ((guint32) (*p)[1] << 16) | ((guint32) (*p)[2] << 8) | (*p)[3];
  *p += 4;
  return TRUE;
}

static gboolean
get_str (const guint8 **p, const guint8 *end, char **out)
{
  guint32 len;
  if (!get_u32 (p, end, &len) || (gsize) (end - *p) < len || memchr (*p, 0, len) != NULL)
    return FALSE;
  *out = g_strndup ((const char *) *p, len);
  *p += len;
  return TRUE;
}

NcRaftMembership *
nc_raft_membership_decode (GBytes *bytes, GError **error)
{
  gsize size = 0;
  const guint8 *p = bytes ? g_bytes_get_data (bytes, &size) : NULL;
  const guint8 *end = p + size;
  guint32 count;
  if (size < 9 || memcmp (p, "NCRM", 4) != 0 || p[4] != 1)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID,
                   "membership: bad header or unsupported version");
      return NULL;
    }
  p += 5;
  if (!get_u32 (&p, end, &count) || count > 100000)
    {
      g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "membership: bad server count");
      return NULL;
    }
  g_autoptr (NcRaftMembership) m = nc_raft_membership_new ();
  for (guint32 i = 0; i < count; i++)
    {
      g_autofree char *id = NULL;
      g_autofree char *address = NULL;
      if (end - p < 1)
        goto truncated;
      gboolean voter = *p++ != 0;
      if (!get_str (&p, end, &id) || !get_str (&p, end, &address) || id[0] == '\0')
        goto truncated;
      nc_raft_membership_set (m, id, address, voter);
    }
  if (p != end)
    goto truncated;
  return g_steal_pointer (&m);

truncated:
  g_set_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID, "membership: truncated or malformed server entry");
  return NULL;
}

/* ---- entries ---- */

NcRaftEntry *
nc_raft_entry_new (guint64 index, guint64 term, NcRaftEntryType type, GBytes *data)
{
  NcRaftEntry *e = g_new0 (NcRaftEntry, 1);
  e->ref_count = 1;
  e->index = index;
  e->term = term;
  e->type = type;
  e->data = data ? g_bytes_ref (data) : NULL;
  return e;
}

NcRaftEntry *
nc_raft_entry_ref (NcRaftEntry *entry)
{
  g_atomic_int_inc (&entry->ref_count);
  return entry;
}

void
nc_raft_entry_unref (NcRaftEntry *entry)
{
  if (entry == NULL || !g_atomic_int_dec_and_test (&entry->ref_count))
    return;
  if (entry->data)
    g_bytes_unref (entry->data);
  g_free (entry);
}

gsize
nc_raft_entry_size (const NcRaftEntry *entry)
{
  /* index + term + type overhead, like a WAL record header */
  return 24 + (entry->data ? g_bytes_get_size (entry->data) : 0);
}

/* ---- messages ---- */

NcRaftMsg *
nc_raft_msg_new (NcRaftMsgType type)
{
  NcRaftMsg *m = g_new0 (NcRaftMsg, 1);
  m->type = type;
  return m;
}

NcRaftMsg *
nc_raft_msg_copy (const NcRaftMsg *msg)
{
  NcRaftMsg *m = g_new0 (NcRaftMsg, 1);
  *m = *msg;
  m->from = g_strdup (msg->from);
  m->to = g_strdup (msg->to);
  if (msg->entries)
    {
      m->entries = g_ptr_array_new_full (msg->entries->len, (GDestroyNotify) nc_raft_entry_unref);
      for (guint i = 0; i < msg->entries->len; i++)
        g_ptr_array_add (m->entries, nc_raft_entry_ref (g_ptr_array_index (msg->entries, i)));
    }
  m->snapshot_membership = msg->snapshot_membership ? nc_raft_membership_copy (msg->snapshot_membership) : NULL;
  m->chunk_data = msg->chunk_data ? g_bytes_ref (msg->chunk_data) : NULL;
  m->context = msg->context ? g_bytes_ref (msg->context) : NULL;
  return m;
}

void
nc_raft_msg_free (NcRaftMsg *msg)
{
  if (msg == NULL)
    return;
  g_free (msg->from);
  g_free (msg->to);
  if (msg->entries)
    g_ptr_array_unref (msg->entries);
  nc_raft_membership_free (msg->snapshot_membership);
  if (msg->chunk_data)
    g_bytes_unref (msg->chunk_data);
  if (msg->context)
    g_bytes_unref (msg->context);
  g_free (msg);
}

static void
read_state_free (gpointer p)
{
  NcRaftReadState *rs = p;
  if (rs->context)
    g_bytes_unref (rs->context);
  g_free (rs);
}

void
nc_raft_ready_clear (NcRaftReady *rd)
{
  g_free (rd->hard_state.vote);
  g_free (rd->leader);
  g_clear_pointer (&rd->entries, g_ptr_array_unref);
  if (rd->snapshot)
    {
      nc_raft_membership_free (rd->snapshot->membership);
      g_free (rd->snapshot);
    }
  g_clear_pointer (&rd->messages, g_ptr_array_unref);
  g_clear_pointer (&rd->committed, g_ptr_array_unref);
  if (rd->read_states)
    {
      g_ptr_array_set_free_func (rd->read_states, read_state_free);
      g_ptr_array_unref (rd->read_states);
    }
  memset (rd, 0, sizeof *rd);
}

const char *
nc_raft_role_name (NcRaftRole role)
{
  switch (role)
    {
    case NC_RAFT_FOLLOWER: return "follower";
    case NC_RAFT_PRE_CANDIDATE: return "pre-candidate";
    case NC_RAFT_CANDIDATE: return "candidate";
    case NC_RAFT_LEADER: return "leader";
    }
  return "unknown";
}

const char *
nc_raft_msg_type_name (NcRaftMsgType type)
{
  switch (type)
    {
    case NC_RAFT_MSG_VOTE_REQUEST: return "VoteRequest";
    case NC_RAFT_MSG_VOTE_RESPONSE: return "VoteResponse";
    case NC_RAFT_MSG_APPEND_ENTRIES: return "AppendEntries";
    case NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE: return "AppendEntriesResponse";
    case NC_RAFT_MSG_PRE_VOTE_REQUEST: return "PreVoteRequest";
    case NC_RAFT_MSG_PRE_VOTE_RESPONSE: return "PreVoteResponse";
    case NC_RAFT_MSG_INSTALL_SNAPSHOT: return "InstallSnapshot";
    case NC_RAFT_MSG_INSTALL_SNAPSHOT_RESPONSE: return "InstallSnapshotResponse";
    case NC_RAFT_MSG_TIMEOUT_NOW: return "TimeoutNow";
    case NC_RAFT_MSG_READ_INDEX_REQUEST: return "ReadIndexRequest";
    case NC_RAFT_MSG_READ_INDEX_RESPONSE: return "ReadIndexResponse";
    }
  return "Unknown";
}

G_DEFINE_QUARK (nc-raft-error-quark, nc_raft_error)
