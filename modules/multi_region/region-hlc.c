/* region-hlc.c — hybrid logical clock, region epoch record, remote region
 * list, persisted position keys and read consistency names. */
#define G_LOG_DOMAIN "nornicdb-region"

#include "region.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (nornicdb-region-error-quark, nc_region_error)

/* ---- HLC ------------------------------------------------------------------ */

void
nc_hlc_init (NcHlc *clock, guint64 floor)
{
  clock->last = floor;
}

guint64
nc_hlc_wall_ms (void)
{
  return (guint64) (g_get_real_time () / 1000);
}

guint64
nc_hlc_now (NcHlc *clock, guint64 wall_ms)
{
  guint64 phys = NC_HLC_PHYSICAL_MS (clock->last);
  if (wall_ms > phys)
    clock->last = NC_HLC_MAKE (wall_ms, 0);
  else if (NC_HLC_LOGICAL (clock->last) < NC_HLC_LOGICAL_MASK)
    clock->last++;
  else
    /* The logical counter is full: borrow the next millisecond rather than
     * wrap (a wrap would issue a smaller timestamp). */
    clock->last = NC_HLC_MAKE (phys + 1, 0);
  return clock->last;
}

void
nc_hlc_observe (NcHlc *clock, guint64 remote, guint64 wall_ms)
{
  guint64 wall = NC_HLC_MAKE (wall_ms, 0);
  if (remote > clock->last)
    clock->last = remote;
  if (wall > clock->last)
    clock->last = wall;
}

int
nc_hlc_compare (guint64 a, const char *region_a, guint64 b, const char *region_b)
{
  if (a != b)
    return a < b ? -1 : 1;
  int c = g_strcmp0 (region_a, region_b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/* ---- numbers ----------------------------------------------------------------- */

gboolean
nc_region_parse_u64 (const char *text, guint64 *out, GError **error)
{
  guint64 v = 0;
  g_autoptr (GError) local = NULL;
  if (text == NULL || !g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &v, &local))
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                   "not an unsigned integer: \"%s\"", text ? text : "(null)");
      return FALSE;
    }
  *out = v;
  return TRUE;
}

char *
nc_region_position_key (const char *remote_region)
{
  return g_strdup_printf ("region.shipped.%s", remote_region);
}

/* ---- epoch -------------------------------------------------------------------- */

void
nc_region_epoch_clear (NcRegionEpoch *e)
{
  g_clear_pointer (&e->primary, g_free);
  e->epoch = 0;
}

char *
nc_region_epoch_format (const NcRegionEpoch *e)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%s", e->epoch, e->primary ? e->primary : "");
}

static gboolean
region_id_valid (const char *id)
{
  if (id == NULL || *id == '\0' || strlen (id) > 128)
    return FALSE;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

gboolean
nc_region_epoch_parse (const char *text, NcRegionEpoch *out, GError **error)
{
  const char *colon = text ? strchr (text, ':') : NULL;
  if (colon == NULL)
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                   "malformed region epoch \"%s\" (want <epoch>:<region>)", text ? text : "(null)");
      return FALSE;
    }
  g_autofree char *num = g_strndup (text, colon - text);
  guint64 epoch;
  if (!nc_region_parse_u64 (num, &epoch, error) || !region_id_valid (colon + 1))
    {
      g_clear_error (error);
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                   "malformed region epoch \"%s\" (want <epoch>:<region>)", text);
      return FALSE;
    }
  out->epoch = epoch;
  out->primary = g_strdup (colon + 1);
  return TRUE;
}

gboolean
nc_region_epoch_merge (NcRegionEpoch *current, const NcRegionEpoch *proposed,
                       gboolean *changed, GError **error)
{
  *changed = FALSE;
  if (proposed->epoch < current->epoch)
    return TRUE;
  if (proposed->epoch == current->epoch)
    {
      if (current->epoch != 0 && g_strcmp0 (current->primary, proposed->primary) != 0)
        {
          /* Two regions claimed the same epoch: promotion raises the epoch
           * through the promoting region's own Raft log, so this only
           * happens if two regions were promoted concurrently. Refuse and
           * let the operator promote again (which raises it past both). */
          g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE,
                       "region epoch %" G_GUINT64_FORMAT " is claimed by both %s and %s; promote one region again",
                       current->epoch, current->primary, proposed->primary);
          return FALSE;
        }
      return TRUE;
    }
  g_free (current->primary);
  current->primary = g_strdup (proposed->primary);
  current->epoch = proposed->epoch;
  *changed = TRUE;
  return TRUE;
}

/* ---- remote regions ---------------------------------------------------------------- */

void
nc_region_peer_free (NcRegionPeer *p)
{
  if (p == NULL)
    return;
  g_free (p->region);
  g_free (p->host);
  g_free (p);
}

GPtrArray *
nc_region_peers_parse (const char *text, const char *self_region, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_region_peer_free);
  if (text == NULL || *text == '\0')
    return g_steal_pointer (&out);
  g_auto (GStrv) items = g_strsplit (text, ",", -1);
  for (guint i = 0; items[i]; i++)
    {
      g_autofree char *item = g_strstrip (g_strdup (items[i]));
      if (*item == '\0')
        continue;
      /* region:host:port; the port is after the last colon. */
      char *first = strchr (item, ':');
      char *last = strrchr (item, ':');
      guint64 port = 0;
      if (first == NULL || first == last ||
          !g_ascii_string_to_unsigned (last + 1, 10, 1, 65535, &port, NULL))
        {
          g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                       "NORNICDB_CLUSTER_REMOTE_REGIONS: \"%s\" is not region:host:port", item);
          return NULL;
        }
      NcRegionPeer *p = g_new0 (NcRegionPeer, 1);
      p->region = g_strndup (item, first - item);
      p->host = g_strndup (first + 1, last - first - 1);
      p->port = (guint16) port;
      if (!region_id_valid (p->region) || *p->host == '\0')
        {
          g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                       "NORNICDB_CLUSTER_REMOTE_REGIONS: \"%s\" is not region:host:port", item);
          nc_region_peer_free (p);
          return NULL;
        }
      if (g_strcmp0 (p->region, self_region) == 0)
        {
          g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                       "NORNICDB_CLUSTER_REMOTE_REGIONS names this node's own region \"%s\"", p->region);
          nc_region_peer_free (p);
          return NULL;
        }
      for (guint j = 0; j < out->len; j++)
        if (strcmp (((NcRegionPeer *) out->pdata[j])->region, p->region) == 0)
          {
            g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                         "NORNICDB_CLUSTER_REMOTE_REGIONS names region \"%s\" twice", p->region);
            nc_region_peer_free (p);
            return NULL;
          }
      g_ptr_array_add (out, p);
    }
  return g_steal_pointer (&out);
}

/* ---- consistency levels -------------------------------------------------------------- */

static const char *const consistency_names[] = {
  [NC_READ_ONE] = "ONE",
  [NC_READ_LOCAL_ONE] = "LOCAL_ONE",
  [NC_READ_QUORUM] = "QUORUM",
  [NC_READ_LOCAL_QUORUM] = "LOCAL_QUORUM",
  [NC_READ_ALL] = "ALL",
};

gboolean
nc_read_consistency_parse (const char *text, NcReadConsistency *out, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (consistency_names); i++)
    if (text && g_ascii_strcasecmp (text, consistency_names[i]) == 0)
      {
        *out = (NcReadConsistency) i;
        return TRUE;
      }
  g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
               "unknown read consistency \"%s\" (want ONE, LOCAL_ONE, QUORUM, LOCAL_QUORUM or ALL)",
               text ? text : "(null)");
  return FALSE;
}

const char *
nc_read_consistency_name (NcReadConsistency c)
{
  return (guint) c < G_N_ELEMENTS (consistency_names) ? consistency_names[c] : "?";
}

gboolean
nc_conflict_strategy_parse (const char *text, NcConflictStrategy *out, GError **error)
{
  if (g_strcmp0 (text, "last_write_wins") == 0)
    *out = NC_CONFLICT_LAST_WRITE_WINS;
  else if (g_strcmp0 (text, "manual") == 0)
    *out = NC_CONFLICT_MANUAL;
  else
    {
      g_set_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID,
                   "unknown conflict strategy \"%s\" (want last_write_wins or manual)", text ? text : "(null)");
      return FALSE;
    }
  return TRUE;
}

const char *
nc_conflict_strategy_name (NcConflictStrategy s)
{
  return s == NC_CONFLICT_MANUAL ? "manual" : "last_write_wins";
}
