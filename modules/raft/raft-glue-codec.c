/* Raft log entries as WAL records (docs/raft-cluster.md): normal entries
 * are write-sets; no-op and membership entries are write-sets with a single
 * META effect the store applies as nothing. */
#include <string.h>

#include "raft-glue-codec.h"


static void
put_u32 (GByteArray *b, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &le, 4);
}

/* A write-set holding one META effect: version 1, no hlc, no origin. */
GBytes *
nc_raft_glue_meta_writeset (const char *key, GBytes *value)
{
  GByteArray *b = g_byte_array_new ();
  guint8 v = 1;
  g_byte_array_append (b, &v, 1);
  guint64 hlc = 0;
  g_byte_array_append (b, (const guint8 *) &hlc, 8);
  put_u32 (b, 0xFFFFFFFFu);
  put_u32 (b, 1);
  guint8 kind = 12; /* NC_EFFECT_META */
  g_byte_array_append (b, &kind, 1);
  put_u32 (b, (guint32) strlen (key));
  g_byte_array_append (b, (const guint8 *) key, (guint) strlen (key));
  if (value == NULL)
    {
      guint8 tag = 0;
      g_byte_array_append (b, &tag, 1);
    }
  else
    {
      gsize len;
      const guint8 *d = g_bytes_get_data (value, &len);
      guint8 tag = 5; /* BYTES */
      g_byte_array_append (b, &tag, 1);
      put_u32 (b, (guint32) len);
      g_byte_array_append (b, d, (guint) len);
    }
  return g_byte_array_free_to_bytes (b);
}

static gboolean
get_u32 (const guint8 *d, gsize len, gsize *pos, guint32 *out)
{
  if (*pos + 4 > len)
    return FALSE;
  guint32 le;
  memcpy (&le, d + *pos, 4);
  *out = GUINT32_FROM_LE (le);
  *pos += 4;
  return TRUE;
}

/* Classifies a WAL record: our META no-op/conf write-sets, else normal. */
NcRaftEntry *
nc_raft_glue_entry_from_record (guint64 index, guint64 term, GBytes *ws)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (ws, &len);
  gsize pos = 9;
  guint32 olen, count, klen;
  if (len > 9 && d[0] == 1 && get_u32 (d, len, &pos, &olen)
      && (olen == 0xFFFFFFFFu || (pos += olen, pos <= len))
      && get_u32 (d, len, &pos, &count) && count == 1 && pos < len && d[pos] == 12)
    {
      pos++;
      if (get_u32 (d, len, &pos, &klen) && pos + klen < len)
        {
          const char *key = (const char *) d + pos;
          gsize vpos = pos + klen;
          if (klen == strlen (NC_RAFT_GLUE_KEY_NOOP) && memcmp (key, NC_RAFT_GLUE_KEY_NOOP, klen) == 0)
            return nc_raft_entry_new (index, term, NC_RAFT_ENTRY_NOOP, NULL);
          guint32 vlen;
          if (klen == strlen (NC_RAFT_GLUE_KEY_CONF) && memcmp (key, NC_RAFT_GLUE_KEY_CONF, klen) == 0 && d[vpos] == 5)
            {
              vpos++;
              if (get_u32 (d, len, &vpos, &vlen) && vpos + vlen == len)
                {
                  g_autoptr (GBytes) conf = g_bytes_new_from_bytes (ws, vpos, vlen);
                  return nc_raft_entry_new (index, term, NC_RAFT_ENTRY_CONF_CHANGE, conf);
                }
            }
        }
    }
  return nc_raft_entry_new (index, term, NC_RAFT_ENTRY_NORMAL, ws);
}

GBytes *
nc_raft_glue_entry_to_record (const NcRaftEntry *e)
{
  switch (e->type)
    {
    case NC_RAFT_ENTRY_NOOP:
      return nc_raft_glue_meta_writeset (NC_RAFT_GLUE_KEY_NOOP, NULL);
    case NC_RAFT_ENTRY_CONF_CHANGE:
      return nc_raft_glue_meta_writeset (NC_RAFT_GLUE_KEY_CONF, e->data);
    default:
      return e->data ? g_bytes_ref (e->data) : nc_raft_glue_meta_writeset (NC_RAFT_GLUE_KEY_NOOP, NULL);
    }
}

