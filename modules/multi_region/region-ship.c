/* region-ship.c — the shipping cursor toward one remote region, the
 * receiver's continuity check, and what each read consistency level asks
 * of a node (docs/multi-region.md, "Shipping" and "Read consistency"). */
#define G_LOG_DOMAIN "nornicdb-region"

#include "region.h"

NcRegionShipper *
nc_region_shipper_new (const char *region, const char *address, guint64 acked)
{
  NcRegionShipper *s = g_new0 (NcRegionShipper, 1);
  s->region = g_strdup (region);
  s->configured = g_strdup (address);
  s->target = g_strdup (address);
  s->acked = s->sent = acked;
  return s;
}

void
nc_region_shipper_free (NcRegionShipper *s)
{
  if (s == NULL)
    return;
  g_free (s->region);
  g_free (s->configured);
  g_free (s->target);
  g_free (s);
}

gboolean
nc_region_shipper_next (const NcRegionShipper *s, guint64 commit_index, guint window,
                        guint64 *from, guint64 *to)
{
  guint64 limit = MIN (commit_index, s->acked + window);
  if (s->sent >= limit)
    return FALSE;
  *from = s->sent + 1;
  *to = limit;
  return TRUE;
}

void
nc_region_shipper_mark_sent (NcRegionShipper *s, guint64 to, gint64 now_us)
{
  if (to > s->sent)
    s->sent = to;
  s->sent_us = now_us;
}

static void
retarget (NcRegionShipper *s, const char *address)
{
  g_free (s->target);
  s->target = g_strdup (address);
  s->answered = FALSE;
  s->quick_resends = 0;
}

gboolean
nc_region_shipper_ack (NcRegionShipper *s, gboolean success, guint64 applied_index, const char *leader_addr)
{
  gboolean advanced = FALSE;
  /* Any answer means the link to the target is up (a redirect below
   * chooses a new target, not answered yet). */
  s->answered = TRUE;
  if (success)
    {
      s->redirects = 0;
      if (applied_index > s->acked)
        {
          s->acked = applied_index;
          advanced = TRUE;
        }
      if (s->sent < s->acked)
        s->sent = s->acked;
      if (s->sent == s->acked)
        s->sent_us = 0;
      return advanced;
    }
  s->sent_us = 0;
  if (leader_addr != NULL && *leader_addr != '\0')
    {
      /* Not the leader there: its position says nothing about the
       * leader's, resend from ours to the leader. */
      s->sent = s->acked;
      if (++s->redirects > NC_REGION_SHIP_MAX_REDIRECTS)
        {
          s->redirects = 0;
          retarget (s, s->configured);
        }
      else
        retarget (s, leader_addr);
      return FALSE;
    }
  /* A gap: resend from what the receiver has. It is behind what it
   * acknowledged before only if its region lost committed state; `acked`
   * stays as the persisted high-water mark and lag keeps counting from it. */
  s->sent = MIN (s->acked, applied_index);
  return FALSE;
}

void
nc_region_shipper_rewind (NcRegionShipper *s, gboolean to_configured)
{
  s->sent = s->acked;
  s->sent_us = 0;
  if (to_configured)
    {
      s->redirects = 0;
      retarget (s, s->configured);
    }
}

gboolean
nc_region_shipper_quick_resend (NcRegionShipper *s, gint64 now_us)
{
  if (s->answered || s->sent_us == 0 || s->quick_resends >= NC_REGION_SHIP_QUICK_RESENDS ||
      now_us - s->sent_us <= NC_REGION_FIRST_CONTACT_US)
    return FALSE;
  s->quick_resends++;
  return TRUE;
}

guint64
nc_region_shipper_lag_entries (const NcRegionShipper *s, guint64 commit_index)
{
  return commit_index > s->acked ? commit_index - s->acked : 0;
}

NcRegionReceive
nc_region_receive_check (guint64 have, guint64 prev_index)
{
  return prev_index > have ? NC_REGION_RECEIVE_GAP : NC_REGION_RECEIVE_OK;
}

NcReadAction
nc_read_consistency_action (NcReadConsistency level, gboolean write, gboolean in_primary_region)
{
  /* A write goes to the primary region's leader whatever the level. */
  if (write)
    return NC_READ_ACTION_LOCAL;
  switch (level)
    {
    case NC_READ_ONE:
    case NC_READ_LOCAL_ONE:
      return NC_READ_ACTION_LOCAL;
    case NC_READ_LOCAL_QUORUM:
      return NC_READ_ACTION_LOCAL_READ_INDEX;
    case NC_READ_QUORUM:
      return in_primary_region ? NC_READ_ACTION_LOCAL_READ_INDEX : NC_READ_ACTION_NOT_PRIMARY;
    case NC_READ_ALL:
      return in_primary_region ? NC_READ_ACTION_ALL_REGIONS : NC_READ_ACTION_NOT_PRIMARY;
    }
  return NC_READ_ACTION_LOCAL;
}
