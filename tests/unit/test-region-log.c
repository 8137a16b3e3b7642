/* Unit tests: the region log pipeline (modules/multi_region/region-log.c)
 * driven by an in-memory fixture: two regions, each a leader and a
 * follower over one shared log, entries committing in order, shipping by
 * direct calls. The model store applies the log's effects the way the core
 * would; every test ends by comparing all four stores. */
#include "region.h"
#include "test-region-util.h"

#include <string.h>

typedef struct {
  const char *name;
  NcRegionLog *leader;
  NcRegionLog *follower;
  GPtrArray *log;          /* GBytes*, index i+1 */
  GHashTable *store[2];    /* leader, follower: "n1.x" -> debug text */
  GHashTable *shipped;     /* remote region -> guint64* own index shipped */
} Region;

static void
region_init (Region *r, const char *name, NcConflictStrategy s)
{
  r->name = name;
  r->leader = nc_region_log_new (name, s);
  r->follower = nc_region_log_new (name, s);
  nc_region_log_leader_sync (r->leader);
  r->log = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (int i = 0; i < 2; i++)
    r->store[i] = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  r->shipped = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static void
region_clear (Region *r)
{
  nc_region_log_free (r->leader);
  nc_region_log_free (r->follower);
  g_ptr_array_unref (r->log);
  for (int i = 0; i < 2; i++)
    g_hash_table_unref (r->store[i]);
  g_hash_table_unref (r->shipped);
}

static gboolean
has_prefix_cb (gpointer key, gpointer value, gpointer prefix)
{
  (void) value;
  return g_str_has_prefix (key, prefix);
}

static void
model_apply (GHashTable *st, const NcWriteSet *ws)
{
  for (guint i = 0; i < nc_writeset_len (ws); i++)
    {
      const NcEffect *e = nc_writeset_get (ws, i);
      switch (e->kind)
        {
        case NC_EFFECT_CREATE_NODE:
          g_hash_table_insert (st, g_strdup_printf ("n%" G_GINT64_FORMAT, e->id), g_strdup ("exists"));
          for (guint j = 0; e->value.type == NC_VALUE_MAP && j < e->value.u.map->len; j++)
            g_hash_table_insert (st, g_strdup_printf ("n%" G_GINT64_FORMAT ".%s", e->id, e->value.u.map->entries[j].key->data),
                                 nc_value_to_debug_string (&e->value.u.map->entries[j].value));
          for (guint j = 0; e->labels && e->labels[j]; j++)
            g_hash_table_insert (st, g_strdup_printf ("n%" G_GINT64_FORMAT ":%s", e->id, e->labels[j]), g_strdup ("true"));
          break;
        case NC_EFFECT_DELETE_NODE:
          {
            g_autofree char *p1 = g_strdup_printf ("n%" G_GINT64_FORMAT ".", e->id);
            g_autofree char *p2 = g_strdup_printf ("n%" G_GINT64_FORMAT ":", e->id);
            g_autofree char *k = g_strdup_printf ("n%" G_GINT64_FORMAT, e->id);
            g_hash_table_foreach_remove (st, has_prefix_cb, p1);
            g_hash_table_foreach_remove (st, has_prefix_cb, p2);
            g_hash_table_remove (st, k);
            break;
          }
        case NC_EFFECT_SET_NODE_PROP:
          {
            char *k = g_strdup_printf ("n%" G_GINT64_FORMAT ".%s", e->id, e->name);
            if (nc_value_is_null (&e->value))
              {
                g_hash_table_remove (st, k);
                g_free (k);
              }
            else
              g_hash_table_insert (st, k, nc_value_to_debug_string (&e->value));
            break;
          }
        default:
          break;
        }
    }
}

/* Appends to the region's log; the entry commits at once on both members. */
static guint64
propose (Region *r, const NcWriteSet *ws)
{
  g_ptr_array_add (r->log, nc_writeset_encode (ws));
  guint64 index = r->log->len;
  NcRegionLog *members[2] = { r->leader, r->follower };
  for (int i = 0; i < 2; i++)
    {
      gsize len;
      const guint8 *d = g_bytes_get_data (r->log->pdata[index - 1], &len);
      g_autoptr (GError) error = NULL;
      g_autoptr (NcWriteSet) entry = nc_writeset_decode (d, len, &error);
      g_assert_no_error (error);
      gboolean changed;
      g_assert_true (nc_region_log_committed (members[i], index, entry, &changed, &error));
      g_assert_no_error (error);
      model_apply (r->store[i], entry);
    }
  return index;
}

static gboolean
local_write (Region *r, NcWriteSet *ws, guint64 wall_ms)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) stamped = nc_region_log_stamp_local (r->leader, ws, wall_ms, &error);
  nc_writeset_free (ws);
  if (stamped == NULL)
    {
      g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE);
      return FALSE;
    }
  guint64 index = propose (r, stamped);
  nc_region_log_proposed (r->leader, index, stamped);
  return TRUE;
}

static void
record_epoch (Region *r, guint64 epoch, const char *primary)
{
  NcRegionEpoch e = { epoch, (char *) primary };
  g_autoptr (NcWriteSet) ws = nc_region_log_prepare_epoch (r->leader, &e);
  guint64 index = propose (r, ws);
  nc_region_log_proposed (r->leader, index, ws);
}

/* Ships every committed entry of `from` not shipped to `to` yet. */
static guint
ship (Region *from, Region *to)
{
  guint64 *pos = g_hash_table_lookup (from->shipped, to->name);
  guint64 start = pos ? *pos : 0;
  guint n = 0;
  for (guint64 i = start + 1; i <= from->log->len; i++)
    {
      gsize len;
      const guint8 *d = g_bytes_get_data (from->log->pdata[i - 1], &len);
      g_autoptr (NcWriteSet) entry = nc_writeset_decode (d, len, NULL);
      g_autoptr (NcWriteSet) out = nc_region_log_for_shipping (from->leader, i, entry);
      if (out == NULL)
        continue;
      /* Through the wire format, as a RegionShip entry. */
      g_autoptr (GBytes) wire = nc_writeset_encode (out);
      g_autoptr (NcWriteSet) shipped = nc_writeset_decode (g_bytes_get_data (wire, NULL), g_bytes_get_size (wire), NULL);
      gboolean dup;
      g_autoptr (GError) error = NULL;
      g_autoptr (NcWriteSet) prop = nc_region_log_prepare_remote (to->leader, shipped, &dup, &error);
      g_assert_no_error (error);
      if (prop)
        {
          propose (to, prop);
          n++;
        }
    }
  guint64 end = from->log->len;
  g_hash_table_insert (from->shipped, g_strdup (to->name), g_memdup2 (&end, sizeof end));
  return n;
}

static NcWriteSet *
set_prop (gint64 id, const char *key, gint64 v)
{
  NcWriteSet *ws = nc_writeset_new ();
  NcEffect e = { .kind = NC_EFFECT_SET_NODE_PROP, .id = id, .name = (char *) key, .value = nc_value_int (v) };
  nc_writeset_append (ws, &e);
  return ws;
}

static NcWriteSet *
create_node (gint64 id, const char *key, gint64 v)
{
  NcWriteSet *ws = nc_writeset_new ();
  NcMap *m = nc_map_new (1);
  nc_map_append (m, key, nc_value_int (v));
  NcEffect e = { .kind = NC_EFFECT_CREATE_NODE, .id = id, .value = nc_value_map_take (m) };
  nc_writeset_append (ws, &e);
  nc_value_clear (&e.value);
  return ws;
}

static void
assert_all_identical (Region *a, Region *b, const char *expect)
{
  g_autofree char *t0 = region_test_store_text (a->store[0]);
  g_autofree char *t1 = region_test_store_text (a->store[1]);
  g_autofree char *t2 = region_test_store_text (b->store[0]);
  g_autofree char *t3 = region_test_store_text (b->store[1]);
  g_assert_cmpstr (t0, ==, expect);
  g_assert_cmpstr (t1, ==, expect);
  g_assert_cmpstr (t2, ==, expect);
  g_assert_cmpstr (t3, ==, expect);
}

/* The failover of the brief: us-east primary, two writes shipped, two
 * unshipped; us-east lost; eu-west promoted and writes; us-east returns,
 * learns the epoch, stops writing, and both tails are exchanged in the
 * order given. */
static void
failover (Region *east, Region *west, gboolean east_tail_first)
{
  record_epoch (east, 1, "us-east");
  record_epoch (west, 1, "us-east");
  g_assert_true (local_write (east, create_node (1, "x", 0), 1000));
  g_assert_true (local_write (east, create_node (2, "y", 0), 1001));
  g_assert_cmpuint (ship (east, west), ==, 2);
  g_assert_true (local_write (east, set_prop (1, "x", 13), 1010));
  g_assert_true (local_write (east, set_prop (2, "y", 14), 1030));
  /* eu-west is secondary: it refuses local writes. */
  g_assert_false (local_write (west, set_prop (1, "x", 99), 1015));
  record_epoch (west, 2, "eu-west");
  g_assert_true (nc_region_log_is_primary (west->follower));
  g_assert_true (local_write (west, set_prop (1, "x", 21), 1020));
  g_assert_true (local_write (west, set_prop (2, "y", 22), 1025));
  g_assert_true (local_write (west, set_prop (2, "z", 23), 1026));
  /* us-east comes back and learns epoch 2 (RegionEpoch). */
  record_epoch (east, 2, "eu-west");
  g_assert_false (nc_region_log_is_primary (east->leader));
  g_assert_false (local_write (east, set_prop (1, "x", 77), 1040));
  if (east_tail_first)
    {
      g_assert_cmpuint (ship (east, west), ==, 2);
      g_assert_cmpuint (ship (west, east), ==, 3);
    }
  else
    {
      g_assert_cmpuint (ship (west, east), ==, 3);
      g_assert_cmpuint (ship (east, west), ==, 2);
    }
  /* Shipping again (e.g. after a reconnect) duplicates nothing. */
  g_hash_table_remove_all (east->shipped);
  g_hash_table_remove_all (west->shipped);
  g_assert_cmpuint (ship (east, west), ==, 0);
  g_assert_cmpuint (ship (west, east), ==, 0);
}

static void
test_lww_failover_all_nodes_identical (gconstpointer data)
{
  gboolean east_first = GPOINTER_TO_INT (data);
  Region east, west;
  region_init (&east, "us-east", NC_CONFLICT_LAST_WRITE_WINS);
  region_init (&west, "eu-west", NC_CONFLICT_LAST_WRITE_WINS);
  failover (&east, &west, east_first);
  /* x: eu-west's 1020 beats us-east's 1010; y: us-east's 1030 beats 1025. */
  assert_all_identical (&east, &west, "n1=exists;n1.x=21;n2=exists;n2.y=14;n2.z=23;");
  for (int k = 0; k < 2; k++)
    {
      Region *r = k ? &west : &east;
      NcRegionResolver *res = nc_region_log_resolver (r->follower);
      g_assert_cmpuint (nc_region_resolver_n_conflicts (res), ==, 2);
    }
  region_clear (&east);
  region_clear (&west);
}

static void
test_manual_failover_lists_then_resolution_converges (gconstpointer data)
{
  gboolean east_first = GPOINTER_TO_INT (data);
  Region east, west;
  region_init (&east, "us-east", NC_CONFLICT_MANUAL);
  region_init (&west, "eu-west", NC_CONFLICT_MANUAL);
  failover (&east, &west, east_first);
  /* The new primary's values everywhere, conflicts open on every member. */
  assert_all_identical (&east, &west, "n1=exists;n1.x=21;n2=exists;n2.y=22;n2.z=23;");
  NcRegionResolver *rw = nc_region_log_resolver (west.leader);
  NcRegionResolver *re = nc_region_log_resolver (east.follower);
  g_assert_cmpuint (nc_region_resolver_n_conflicts (rw), ==, 2);
  g_assert_cmpuint (nc_region_resolver_n_conflicts (re), ==, 2);
  const NcRegionConflict *cy = NULL;
  for (guint i = 0; i < 2; i++)
    if (strcmp (nc_region_resolver_conflict (rw, i)->key, "y") == 0)
      cy = nc_region_resolver_conflict (rw, i);
  g_assert_nonnull (cy);
  g_assert_cmpint (cy->status, ==, NC_CONFLICT_OPEN);
  g_assert_nonnull (nc_region_resolver_find_conflict (re, cy->id));
  g_autofree char *id = g_strdup (cy->id);
  /* The operator takes us-east's value on the primary; it is an ordinary write. */
  g_autoptr (GError) error = NULL;
  NcWriteSet *res = nc_region_resolution_writeset (rw, id, "rejected", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (local_write (&west, res, 1100));
  ship (&west, &east);
  assert_all_identical (&east, &west, "n1=exists;n1.x=21;n2=exists;n2.y=14;n2.z=23;");
  NcRegionLog *members[4] = { east.leader, east.follower, west.leader, west.follower };
  for (int k = 0; k < 4; k++)
    {
      const NcRegionConflict *c = nc_region_resolver_find_conflict (nc_region_log_resolver (members[k]), id);
      g_assert_nonnull (c);
      g_assert_cmpint (c->status, ==, NC_CONFLICT_RESOLVED);
    }
  region_clear (&east);
  region_clear (&west);
}

static void
test_leader_change_keeps_dedupe (void)
{
  /* A new leader in the receiving region (state rebuilt from the log) must
   * still recognise a resent write-set. */
  Region east, west;
  region_init (&east, "us-east", NC_CONFLICT_LAST_WRITE_WINS);
  region_init (&west, "eu-west", NC_CONFLICT_LAST_WRITE_WINS);
  record_epoch (&east, 1, "us-east");
  record_epoch (&west, 1, "us-east");
  g_assert_true (local_write (&east, create_node (1, "x", 0), 1000));
  g_assert_cmpuint (ship (&east, &west), ==, 1);
  /* The follower takes over. */
  NcRegionLog *t = west.leader;
  west.leader = west.follower;
  west.follower = t;
  nc_region_log_leader_sync (west.leader);
  g_hash_table_remove_all (east.shipped);
  g_assert_cmpuint (ship (&east, &west), ==, 0);
  g_assert_true (local_write (&east, set_prop (1, "x", 5), 1001));
  g_assert_cmpuint (ship (&east, &west), ==, 1);
  assert_all_identical (&east, &west, "n1=exists;n1.x=5;");
  region_clear (&east);
  region_clear (&west);
}

/* The follower's state is saved (as next to a snapshot) and loaded into a
 * fresh member whose log was compacted: it must still know the versions
 * (so a concurrent write arriving later is a conflict), the epoch, the
 * positions and the recorded conflicts. */
static NcRegionLog *
reload (NcRegionLog *from, const char *region, NcConflictStrategy s, guint64 expect_index)
{
  g_autoptr (GBytes) state = nc_region_log_save_state (from);
  NcRegionLog *l = nc_region_log_new (region, s);
  guint64 covered = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (nc_region_log_load_state (l, state, &covered, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (covered, ==, expect_index);
  g_assert_cmpuint (nc_region_log_committed_index (l), ==, expect_index);
  /* Same bytes again: nothing was lost or reordered. */
  g_autoptr (GBytes) again = nc_region_log_save_state (l);
  g_assert_true (g_bytes_equal (state, again));
  return l;
}

static void
test_state_survives_compaction (void)
{
  Region east, west;
  region_init (&east, "us-east", NC_CONFLICT_MANUAL);
  region_init (&west, "eu-west", NC_CONFLICT_MANUAL);
  record_epoch (&east, 1, "us-east");
  record_epoch (&west, 1, "us-east");
  g_assert_true (local_write (&east, create_node (1, "x", 0), 1000));
  g_assert_true (local_write (&east, create_node (2, "y", 0), 1001));
  g_assert_cmpuint (ship (&east, &west), ==, 2);
  /* Unshipped tail of the old primary. */
  g_assert_true (local_write (&east, set_prop (1, "x", 13), 1010));
  g_assert_true (local_write (&east, set_prop (2, "y", 14), 1011));
  record_epoch (&west, 2, "eu-west");
  g_assert_true (local_write (&west, set_prop (1, "x", 21), 1020));
  g_assert_true (local_write (&west, set_prop (2, "y", 22), 1021));

  /* eu-west's follower restarts from a snapshot: its whole log is compacted
   * and only the saved state is left. A member rebuilt from nothing would
   * know no versions and would take the old primary's tail as ordinary
   * updates (control). */
  g_autoptr (NcRegionLog) blank = nc_region_log_new ("eu-west", NC_CONFLICT_MANUAL);
  g_assert_null (nc_region_resolver_cell_version (nc_region_log_resolver (blank), "node/1/prop/x"));
  nc_region_log_free (west.follower);
  west.follower = reload (west.leader, "eu-west", NC_CONFLICT_MANUAL, west.log->len);
  g_assert_true (nc_region_log_is_primary (west.follower));
  g_assert_cmpuint (nc_region_resolver_applied (nc_region_log_resolver (west.follower), "us-east"), ==, 3);
  g_assert_nonnull (nc_region_resolver_cell_version (nc_region_log_resolver (west.follower), "node/1/prop/x"));

  /* us-east learns epoch 2 and ships its tail: both conflicts are detected
   * on the reloaded member exactly as on the leader. */
  record_epoch (&east, 2, "eu-west");
  g_assert_cmpuint (ship (&east, &west), ==, 2);
  g_assert_cmpuint (ship (&west, &east), ==, 2);
  assert_all_identical (&east, &west, "n1=exists;n1.x=21;n2=exists;n2.y=22;");
  NcRegionResolver *rl = nc_region_log_resolver (west.leader);
  NcRegionResolver *rf = nc_region_log_resolver (west.follower);
  g_assert_cmpuint (nc_region_resolver_n_conflicts (rf), ==, 2);
  g_autofree char *jl = nc_region_resolver_conflicts_json (rl, FALSE);
  g_autofree char *jf = nc_region_resolver_conflicts_json (rf, FALSE);
  g_assert_cmpstr (jl, ==, jf);

  /* Recorded conflicts survive the next compaction too, still open. */
  g_autoptr (NcRegionLog) later = reload (west.follower, "eu-west", NC_CONFLICT_MANUAL, west.log->len);
  g_autofree char *jo = nc_region_resolver_conflicts_json (nc_region_log_resolver (later), TRUE);
  g_assert_cmpstr (jo, ==, jf);

  /* Garbage is refused, the member keeps its state. */
  g_autoptr (GBytes) junk = g_bytes_new_static ("NRLS\x01\0\0\0short", 13);
  g_autoptr (GError) error = NULL;
  g_assert_false (nc_region_log_load_state (later, junk, NULL, &error));
  g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
  g_assert_cmpuint (nc_region_resolver_n_conflicts (nc_region_log_resolver (later)), ==, 2);
  region_clear (&east);
  region_clear (&west);
}

static NcEffect
node_effect (gint64 id, const char *key, gint64 v, const char *label)
{
  NcEffect e = { .kind = NC_EFFECT_CREATE_NODE, .id = id };
  NcMap *m = nc_map_new (1);
  if (key)
    nc_map_append (m, key, nc_value_int (v));
  e.value = nc_value_map_take (m);
  if (label)
    {
      e.labels = g_new0 (char *, 2);
      e.labels[0] = g_strdup (label);
    }
  return e;
}

static NcWriteSet *
one_effect (NcEffect e)
{
  NcWriteSet *ws = nc_writeset_new ();
  nc_writeset_append (ws, &e);
  nc_value_clear (&e.value);
  g_strfreev (e.labels);
  return ws;
}

/* us-east (primary) goes on writing while eu-west is away; its log is
 * compacted, so eu-west is caught up from the full state (as a snapshot
 * holds it) turned into one write-set: creates, updates, a property
 * removal, a label and a delete all arrive, and ordinary shipping then
 * resumes after the snapshot's index. */
static void
test_catchup_from_snapshot (void)
{
  Region east, west;
  region_init (&east, "us-east", NC_CONFLICT_LAST_WRITE_WINS);
  region_init (&west, "eu-west", NC_CONFLICT_LAST_WRITE_WINS);
  record_epoch (&east, 1, "us-east");
  record_epoch (&west, 1, "us-east");
  g_assert_true (local_write (&east, create_node (1, "x", 0), 1000));
  g_assert_true (local_write (&east, create_node (2, "y", 0), 1001));
  g_assert_true (local_write (&east, create_node (3, "z", 1), 1002));
  g_assert_cmpuint (ship (&east, &west), ==, 3);
  /* eu-west away; these entries are compacted on us-east. */
  g_assert_true (local_write (&east, set_prop (1, "x", 5), 1010));
  NcWriteSet *del = nc_writeset_new ();
  NcEffect d = { .kind = NC_EFFECT_DELETE_NODE, .id = 2 };
  nc_writeset_append (del, &d);
  g_assert_true (local_write (&east, del, 1011));
  g_assert_true (local_write (&east, one_effect (node_effect (4, "w", 7, "L")), 1012));
  NcWriteSet *unset = nc_writeset_new ();
  NcEffect u = { .kind = NC_EFFECT_SET_NODE_PROP, .id = 3, .name = (char *) "z", .value = nc_value_null () };
  nc_writeset_append (unset, &u);
  g_assert_true (local_write (&east, unset, 1013));
  guint64 snap = east.log->len;

  /* The snapshot's content: the store at `snap`. */
  g_autoptr (NcWriteSet) target = nc_writeset_new ();
  NcEffect n1 = node_effect (1, "x", 5, NULL), n3 = node_effect (3, NULL, 0, NULL), n4 = node_effect (4, "w", 7, "L");
  nc_writeset_append (target, &n1);
  nc_writeset_append (target, &n3);
  nc_writeset_append (target, &n4);
  nc_value_clear (&n1.value);
  nc_value_clear (&n3.value);
  nc_value_clear (&n4.value);
  g_strfreev (n4.labels);
  NcRegionOrigin o = { .region = (char *) "us-east", .index = snap, .epoch = 1, .hlc = NC_HLC_MAKE (1013, 0) };
  nc_region_origin_set_seen (&o, "eu-west", 0);
  gboolean dup = FALSE;
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) prop = nc_region_log_prepare_catchup (west.leader, &o, target, NULL, &dup, &error);
  g_assert_no_error (error);
  g_assert_nonnull (prop);
  propose (&west, prop);
  g_assert_cmpuint (nc_region_log_have (west.leader, "us-east"), ==, snap);
  /* The same snapshot again is a duplicate. */
  g_autoptr (NcWriteSet) again = nc_region_log_prepare_catchup (west.leader, &o, target, NULL, &dup, &error);
  g_assert_null (again);
  g_assert_true (dup);
  g_hash_table_insert (east.shipped, g_strdup ("eu-west"), g_memdup2 (&snap, sizeof snap));
  assert_all_identical (&east, &west, "n1=exists;n1.x=5;n3=exists;n4=exists;n4.w=7;n4:L=true;");
  /* Shipping goes on after the snapshot. */
  g_assert_true (local_write (&east, set_prop (4, "w", 8), 1020));
  g_assert_cmpuint (ship (&east, &west), ==, 1);
  assert_all_identical (&east, &west, "n1=exists;n1.x=5;n3=exists;n4=exists;n4.w=8;n4:L=true;");
  g_assert_cmpuint (nc_region_resolver_n_conflicts (nc_region_log_resolver (west.follower)), ==, 0);

  /* A receiver with its own writes the snapshot does not include refuses
   * (they would be overwritten). */
  record_epoch (&west, 2, "eu-west");
  g_assert_true (local_write (&west, set_prop (1, "x", 99), 1030));
  o.index = snap + 10;
  g_autoptr (NcWriteSet) refused = nc_region_log_prepare_catchup (west.leader, &o, target, NULL, &dup, &error);
  g_assert_null (refused);
  g_assert_false (dup);
  g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE);
  g_clear_pointer (&o.seen, g_hash_table_unref);
  region_clear (&east);
  region_clear (&west);
}

/* A catch-up from a snapshot taken after an operator resolved a conflict
 * (the resolving write is compacted away) still marks it resolved on the
 * receiver: the stamp carries the resolutions. */
static void
test_catchup_carries_resolutions (void)
{
  Region east, west;
  region_init (&east, "us-east", NC_CONFLICT_MANUAL);
  region_init (&west, "eu-west", NC_CONFLICT_MANUAL);
  failover (&east, &west, TRUE);
  NcRegionResolver *rw = nc_region_log_resolver (west.leader);
  const NcRegionConflict *cy = NULL;
  for (guint i = 0; i < nc_region_resolver_n_conflicts (rw); i++)
    if (strcmp (nc_region_resolver_conflict (rw, i)->key, "y") == 0)
      cy = nc_region_resolver_conflict (rw, i);
  g_assert_nonnull (cy);
  g_autofree char *id = g_strdup (cy->id);
  /* us-east's member as it was before the resolution. */
  g_autoptr (GBytes) before = nc_region_log_save_state (east.follower);
  g_autoptr (GError) error = NULL;
  NcWriteSet *res = nc_region_resolution_writeset (rw, id, "rejected", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (local_write (&west, res, 1100));

  g_autoptr (NcWriteSet) marks = nc_writeset_new ();
  nc_region_resolver_append_resolutions (nc_region_log_resolver (west.leader), marks);
  g_assert_cmpuint (nc_writeset_len (marks), ==, 1);

  g_autoptr (NcRegionLog) l = nc_region_log_new ("us-east", NC_CONFLICT_MANUAL);
  guint64 covered = 0;
  g_assert_true (nc_region_log_load_state (l, before, &covered, &error));
  nc_region_log_leader_sync (l);
  g_assert_cmpint (nc_region_resolver_find_conflict (nc_region_log_resolver (l), id)->status, ==, NC_CONFLICT_OPEN);
  /* eu-west's store after the resolution, as its snapshot holds it. */
  g_autoptr (NcWriteSet) target = nc_writeset_new ();
  NcEffect n1 = node_effect (1, "x", 21, NULL);
  NcMap *m2 = nc_map_new (2);
  nc_map_append (m2, "y", nc_value_int (14));
  nc_map_append (m2, "z", nc_value_int (23));
  NcEffect n2 = { .kind = NC_EFFECT_CREATE_NODE, .id = 2, .value = nc_value_map_take (m2) };
  nc_writeset_append (target, &n1);
  nc_writeset_append (target, &n2);
  nc_value_clear (&n1.value);
  nc_value_clear (&n2.value);
  NcRegionOrigin o = { .region = (char *) "eu-west", .index = west.log->len, .epoch = 2, .hlc = NC_HLC_MAKE (1100, 0) };
  nc_region_origin_set_seen (&o, "us-east", 1000);
  gboolean dup = FALSE;
  g_autoptr (NcWriteSet) prop = nc_region_log_prepare_catchup (l, &o, target, marks, &dup, &error);
  g_assert_no_error (error);
  g_assert_nonnull (prop);
  gboolean changed;
  g_assert_true (nc_region_log_committed (l, covered + 1, prop, &changed, &error));
  g_assert_no_error (error);
  const NcRegionConflict *c = nc_region_resolver_find_conflict (nc_region_log_resolver (l), id);
  g_assert_cmpint (c->status, ==, NC_CONFLICT_RESOLVED);
  g_assert_cmpstr (c->resolution, ==, "rejected");
  const NcValue *y = nc_region_resolver_cell_value (nc_region_log_resolver (l), "node/2/prop/y");
  g_assert_nonnull (y);
  g_assert_cmpint (y->u.i, ==, 14);
  g_clear_pointer (&o.seen, g_hash_table_unref);
  region_clear (&east);
  region_clear (&west);
}

/* The snapshot file format (core/snapshot.h) is read back into effects. */
static void
test_snapshot_effects_parse (void)
{
  GByteArray *f = g_byte_array_new ();
  g_byte_array_append (f, (const guint8 *) "NCSNAP01", 8);
  guint64 idx = GUINT64_TO_LE (42), term = GUINT64_TO_LE (3);
  g_byte_array_append (f, (const guint8 *) &idx, 8);
  g_byte_array_append (f, (const guint8 *) &term, 8);
  for (int k = 0; k < 2; k++)
    {
      g_autoptr (NcWriteSet) ws = create_node (k + 1, "x", k);
      g_autoptr (GBytes) b = nc_writeset_encode (ws);
      guint32 len = GUINT32_TO_LE ((guint32) g_bytes_get_size (b)), crc = 0;
      g_byte_array_append (f, (const guint8 *) &len, 4);
      g_byte_array_append (f, (const guint8 *) &crc, 4);
      g_byte_array_append (f, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
    }
  guint32 zero = 0;
  g_byte_array_append (f, (const guint8 *) &zero, 4);
  g_byte_array_append (f, (const guint8 *) &zero, 4);
  guint64 index = 0;
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) all = nc_region_snapshot_effects (f->data, f->len, &index, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (index, ==, 42);
  g_assert_cmpuint (nc_writeset_len (all), ==, 2);
  g_assert_cmpint (nc_writeset_get (all, 1)->id, ==, 2);
  /* Truncated: refused. */
  g_autoptr (NcWriteSet) cut = nc_region_snapshot_effects (f->data, f->len - 8, NULL, &error);
  g_assert_null (cut);
  g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
  g_byte_array_unref (f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/nornic/region/log/lww-failover-all-nodes-identical/old-tail-first", GINT_TO_POINTER (TRUE),
                        test_lww_failover_all_nodes_identical);
  g_test_add_data_func ("/nornic/region/log/lww-failover-all-nodes-identical/new-writes-first", GINT_TO_POINTER (FALSE),
                        test_lww_failover_all_nodes_identical);
  g_test_add_data_func ("/nornic/region/log/manual-failover-lists-then-resolution-converges/old-tail-first",
                        GINT_TO_POINTER (TRUE), test_manual_failover_lists_then_resolution_converges);
  g_test_add_data_func ("/nornic/region/log/manual-failover-lists-then-resolution-converges/new-writes-first",
                        GINT_TO_POINTER (FALSE), test_manual_failover_lists_then_resolution_converges);
  g_test_add_func ("/nornic/region/log/leader-change-keeps-dedupe", test_leader_change_keeps_dedupe);
  g_test_add_func ("/nornic/region/log/state-saved-with-a-snapshot-keeps-versions-and-conflicts",
                   test_state_survives_compaction);
  g_test_add_func ("/nornic/region/log/catch-up-from-a-snapshot-converges-then-shipping-resumes",
                   test_catchup_from_snapshot);
  g_test_add_func ("/nornic/region/log/snapshot-file-read-back-as-effects", test_snapshot_effects_parse);
  g_test_add_func ("/nornic/region/log/catch-up-carries-operator-resolutions", test_catchup_carries_resolutions);
  return g_test_run ();
}
