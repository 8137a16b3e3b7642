/* Unit tests: NcRegionNode (modules/multi_region/region-node.c) over an
 * in-memory host: two regions, each a single-member Raft log that commits
 * when pumped, a message bus that can be cut, a virtual clock, and a model
 * store applying committed entries the way the core would. */
#include "region.h"
#include "test-region-util.h"

#include <json-glib/json-glib.h>

#include <string.h>

typedef struct _Net Net;

typedef struct {
  Net *net;
  const char *region;
  const char *node_id;
  const char *address;
  const char *bolt;
  NcRegionNode *node;
  GPtrArray *log;          /* GBytes* */
  guint64 committed;
  GHashTable *state;       /* state_save */
  GHashTable *store;       /* model: "n1.x" -> text */
  gboolean down;
  guint remote_entries;    /* committed entries that came from the other region */
  guint64 compacted;       /* entries up to here are gone from the log (entry_at fails) */
} Site;

struct _Net {
  Site sites[2];
  GQueue queue;            /* Msg* */
  gboolean cut;
  gint64 now_us;
  guint dropped;
};

typedef struct {
  int to;
  NcClusterMessage *msg;
} Msg;

static guint64
h_propose (gpointer ud, const NcWriteSet *ws, GError **error)
{
  Site *s = ud;
  if (s->down)
    {
      g_set_error_literal (error, NC_REGION_ERROR, NC_REGION_ERROR_STATE, "down");
      return 0;
    }
  g_ptr_array_add (s->log, nc_writeset_encode (ws));
  return s->log->len;
}

static NcWriteSet *
h_entry_at (gpointer ud, guint64 index, GError **error)
{
  Site *s = ud;
  if (index == 0 || index > s->log->len || index <= s->compacted)
    {
      g_set_error_literal (error, NC_REGION_ERROR, NC_REGION_ERROR_NOT_FOUND, "no such entry");
      return NULL;
    }
  GBytes *b = s->log->pdata[index - 1];
  return nc_writeset_decode (g_bytes_get_data (b, NULL), g_bytes_get_size (b), error);
}

static guint64 h_commit_index (gpointer ud) { return ((Site *) ud)->committed; }
static const char *h_leader_addr (gpointer ud) { return ((Site *) ud)->address; }
static const char *h_leader_bolt (gpointer ud) { return ((Site *) ud)->bolt; }
static gint64 h_now_us (gpointer ud) { return ((Site *) ud)->net->now_us; }
static guint64 h_wall_ms (gpointer ud) { return (guint64) (((Site *) ud)->net->now_us / 1000); }

static void
h_send (gpointer ud, const char *to, NcClusterMessage *msg)
{
  Site *s = ud;
  Net *net = s->net;
  int dest = -1;
  for (int i = 0; i < 2; i++)
    if (g_strcmp0 (to, net->sites[i].node_id) == 0 || g_strcmp0 (to, net->sites[i].address) == 0)
      dest = i;
  g_assert_cmpint (dest, >=, 0);
  g_free (msg->from);
  msg->from = g_strdup (s->node_id);
  if (net->cut || net->sites[dest].down)
    {
      net->dropped++;
      nc_cluster_message_free (msg);
      return;
    }
  /* Through the wire codec, as the transport would. */
  g_autoptr (GError) error = NULL;
  g_free (msg->cluster);
  msg->cluster = g_strdup ("regions");
  g_autoptr (GBytes) frame = nc_cluster_frame_encode (msg, 0, &error);
  g_assert_no_error (error);
  nc_cluster_message_free (msg);
  gsize len;
  const guint8 *d = g_bytes_get_data (frame, &len);
  NcClusterMessage *back = nc_cluster_message_decode (d + 4, len - 4, "regions", &error);
  g_assert_no_error (error);
  Msg *m = g_new0 (Msg, 1);
  m->to = dest;
  m->msg = back;
  g_queue_push_tail (&net->queue, m);
}

static gboolean
h_state_save (gpointer ud, const char *key, const char *value, GError **error)
{
  g_hash_table_insert (((Site *) ud)->state, g_strdup (key), g_strdup (value));
  return TRUE;
}

static char *
h_state_load (gpointer ud, const char *key)
{
  return g_strdup (g_hash_table_lookup (((Site *) ud)->state, key));
}

static gboolean
has_prefix_cb (gpointer key, gpointer value, gpointer prefix)
{
  return g_str_has_prefix (key, prefix);
}

static void
model_apply (Site *s, const NcWriteSet *ws)
{
  for (guint i = 0; i < nc_writeset_len (ws); i++)
    {
      const NcEffect *e = nc_writeset_get (ws, i);
      if (e->kind == NC_EFFECT_CREATE_NODE)
        {
          char *k = g_strdup_printf ("n%" G_GINT64_FORMAT, e->id);
          /* A create of an existing id would fail in the store. */
          g_assert_false (g_hash_table_contains (s->store, k));
          g_hash_table_insert (s->store, k, g_strdup ("exists"));
          for (guint j = 0; e->value.type == NC_VALUE_MAP && j < e->value.u.map->len; j++)
            g_hash_table_insert (s->store, g_strdup_printf ("n%" G_GINT64_FORMAT ".%s", e->id, e->value.u.map->entries[j].key->data),
                                 nc_value_to_debug_string (&e->value.u.map->entries[j].value));
        }
      else if (e->kind == NC_EFFECT_DELETE_NODE)
        {
          g_autofree char *p = g_strdup_printf ("n%" G_GINT64_FORMAT ".", e->id);
          g_autofree char *k = g_strdup_printf ("n%" G_GINT64_FORMAT, e->id);
          g_hash_table_foreach_remove (s->store, has_prefix_cb, p);
          g_hash_table_remove (s->store, k);
        }
      else if (e->kind == NC_EFFECT_SET_NODE_PROP)
        {
          char *k = g_strdup_printf ("n%" G_GINT64_FORMAT ".%s", e->id, e->name);
          g_hash_table_insert (s->store, k, nc_value_to_debug_string (&e->value));
        }
    }
}

static void
site_start (Site *s)
{
  NcRegionHost host = {
    .user_data = s, .propose = h_propose, .entry_at = h_entry_at, .commit_index = h_commit_index,
    .leader_cluster_address = h_leader_addr, .leader_bolt_address = h_leader_bolt, .send = h_send,
    .state_save = h_state_save, .state_load = h_state_load, .now_us = h_now_us, .wall_ms = h_wall_ms,
  };
  Site *other = &s->net->sites[s == &s->net->sites[0] ? 1 : 0];
  g_autofree char *remote = g_strdup_printf ("%s:%s", other->region, other->address);
  const char *mode = g_hash_table_lookup (s->state, "test.mode");
  NcRegionNodeConfig cfg = { .region = s->region, .remote_regions = remote,
                             .cross_region_mode = mode ? mode : "async", .read_consistency = NULL,
                             .semi_sync_timeout_us = 2 * G_USEC_PER_SEC };
  cfg.conflict_strategy = g_hash_table_lookup (s->state, "test.strategy");
  g_autoptr (GError) error = NULL;
  s->node = nc_region_node_new (&host, &cfg, &error);
  g_assert_no_error (error);
  /* Recovery: replay the committed log (the node has no other memory). */
  for (guint64 i = 1; i <= s->committed; i++)
    {
      g_autoptr (NcWriteSet) e = h_entry_at (s, i, NULL);
      nc_region_node_committed (s->node, i, e);
    }
  nc_region_node_set_leader (s->node, TRUE);
}

static void
net_init (Net *net, const char *strategy)
{
  memset (net, 0, sizeof *net);
  net->now_us = 1000 * G_USEC_PER_SEC;
  const char *regions[2] = { "us-east", "eu-west" };
  const char *addrs[2] = { "127.0.0.31:7688", "127.0.0.41:7688" };
  const char *bolts[2] = { "127.0.0.31:7687", "127.0.0.41:7687" };
  for (int i = 0; i < 2; i++)
    {
      Site *s = &net->sites[i];
      s->net = net;
      s->region = regions[i];
      s->node_id = i ? "eu-west-node-1" : "us-east-node-1";
      s->address = addrs[i];
      s->bolt = bolts[i];
      s->log = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      s->state = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      s->store = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_insert (s->state, g_strdup ("test.strategy"), g_strdup (strategy));
    }
  for (int i = 0; i < 2; i++)
    site_start (&net->sites[i]);
}

static void
net_clear (Net *net)
{
  Msg *m;
  while ((m = g_queue_pop_head (&net->queue)))
    {
      nc_cluster_message_free (m->msg);
      g_free (m);
    }
  for (int i = 0; i < 2; i++)
    {
      Site *s = &net->sites[i];
      nc_region_node_free (s->node);
      g_ptr_array_unref (s->log);
      g_hash_table_unref (s->state);
      g_hash_table_unref (s->store);
    }
}

/* Commits everything proposed, delivers messages, ticks; bounded rounds. */
static void
run (Net *net, guint rounds)
{
  for (guint r = 0; r < rounds; r++)
    {
      for (int i = 0; i < 2; i++)
        {
          Site *s = &net->sites[i];
          if (s->down)
            continue;
          while (s->committed < s->log->len)
            {
              s->committed++;
              g_autoptr (NcWriteSet) e = h_entry_at (s, s->committed, NULL);
              NcRegionOrigin o = { 0 };
              if (nc_region_origin_read (e, &o, NULL) && strcmp (o.region, s->region) != 0)
                s->remote_entries++;
              nc_region_origin_clear (&o);
              model_apply (s, e);
              nc_region_node_committed (s->node, s->committed, e);
            }
          nc_region_node_tick (s->node);
        }
      Msg *m;
      guint budget = 1000;
      while (budget-- > 0 && (m = g_queue_pop_head (&net->queue)))
        {
          if (!net->sites[m->to].down)
            nc_region_node_receive (net->sites[m->to].node, m->msg);
          nc_cluster_message_free (m->msg);
          g_free (m);
        }
      net->now_us += 100 * 1000;  /* 100 ms per round */
    }
}

static gboolean
write_prop (Site *s, gint64 id, const char *key, gint64 v, gboolean create)
{
  g_autoptr (NcWriteSet) ws = nc_writeset_new ();
  NcEffect e = { .kind = create ? NC_EFFECT_CREATE_NODE : NC_EFFECT_SET_NODE_PROP, .id = id };
  if (create)
    {
      NcMap *m = nc_map_new (1);
      nc_map_append (m, key, nc_value_int (v));
      e.value = nc_value_map_take (m);
    }
  else
    {
      e.name = (char *) key;
      e.value = nc_value_int (v);
    }
  nc_writeset_append (ws, &e);
  nc_value_clear (&e.value);
  if (!nc_region_node_accepts_writes (s->node))
    return FALSE;
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) stamped = nc_region_node_stamp (s->node, ws, &error);
  g_assert_no_error (error);
  guint64 index = h_propose (s, stamped, &error);
  g_assert_cmpuint (index, >, 0);
  nc_region_node_proposed (s->node, index, stamped);
  /* The leader applied its own write at submit time. */
  return TRUE;
}

static void
promote_us_east (Net *net)
{
  run (net, 3);
  /* "eu-west" sorts first: it became primary by itself. */
  g_assert_true (nc_region_node_accepts_writes (net->sites[1].node));
  g_autoptr (GError) error = NULL;
  g_assert_cmpuint (nc_region_node_promote (net->sites[0].node, &error), ==, 2);
  g_assert_no_error (error);
  run (net, 5);
  g_assert_true (nc_region_node_accepts_writes (net->sites[0].node));
  g_assert_false (nc_region_node_accepts_writes (net->sites[1].node));
}

static void
test_writes_in_primary_appear_in_secondary (void)
{
  Net net;
  net_init (&net, "last_write_wins");
  promote_us_east (&net);
  Site *east = &net.sites[0], *west = &net.sites[1];
  for (gint64 i = 1; i <= 20; i++)
    g_assert_true (write_prop (east, i, "v", i, TRUE));
  g_assert_false (write_prop (west, 100, "v", 1, TRUE));
  run (&net, 10);
  g_autofree char *a = region_test_store_text (east->store);
  g_autofree char *b = region_test_store_text (west->store);
  g_assert_cmpstr (a, ==, b);
  g_assert_nonnull (strstr (b, "n20.v=20;"));
  g_assert_cmpuint (west->remote_entries, ==, 20);
  /* Writes to the secondary are forwarded to the primary's leader. */
  g_assert_cmpstr (nc_region_node_writer_bolt (west->node), ==, "127.0.0.31:7687");
  g_assert_cmpstr (nc_region_node_writer_bolt (east->node), ==, "127.0.0.31:7687");
  guint64 lag_e;
  double lag_s;
  g_assert_true (nc_region_node_lag (east->node, "eu-west", &lag_e, &lag_s));
  g_assert_cmpuint (lag_e, ==, 0);
  g_autofree char *status = nc_region_node_status_json (east->node);
  g_assert_nonnull (strstr (status, "\"primary\":\"us-east\""));
  net_clear (&net);
}

static void
test_cut_and_heal_under_load_loses_and_duplicates_nothing (void)
{
  Net net;
  net_init (&net, "last_write_wins");
  promote_us_east (&net);
  Site *east = &net.sites[0], *west = &net.sites[1];
  gint64 id = 1;
  for (; id <= 10; id++)
    write_prop (east, id, "v", id, TRUE);
  run (&net, 3);
  net.cut = TRUE;
  for (int round = 0; round < 30; round++, id++)
    {
      write_prop (east, id, "v", id, TRUE);
      run (&net, 1);
    }
  guint64 lag_e;
  double lag_s;
  nc_region_node_lag (east->node, "eu-west", &lag_e, &lag_s);
  g_assert_cmpuint (lag_e, ==, 30);
  g_assert_cmpfloat (lag_s, >, 2.0);
  g_assert_cmpuint (net.dropped, >, 0);
  /* Heal: batches lost in the cut are resent once their ack times out. */
  net.cut = FALSE;
  run (&net, 80);
  {
    g_autofree char *a = region_test_store_text (east->store);
    g_autofree char *b = region_test_store_text (west->store);
    g_assert_cmpstr (a, ==, b);
    g_assert_cmpuint (west->remote_entries, ==, (guint) (id - 1));
  }
  /* Cut again; the east leader restarts while cut and must resume from its
   * persisted acknowledged position. */
  net.cut = TRUE;
  for (int round = 0; round < 7; round++, id++)
    {
      write_prop (east, id, "v", id, TRUE);
      run (&net, 1);
    }
  nc_region_node_free (east->node);
  site_start (east);
  nc_region_node_lag (east->node, "eu-west", &lag_e, &lag_s);
  g_assert_cmpuint (lag_e, ==, 7);
  net.cut = FALSE;
  run (&net, 20);
  g_autofree char *a = region_test_store_text (east->store);
  g_autofree char *b = region_test_store_text (west->store);
  g_assert_cmpstr (a, ==, b);
  g_assert_cmpuint (west->remote_entries, ==, (guint) (id - 1));
  nc_region_node_lag (east->node, "eu-west", &lag_e, &lag_s);
  g_assert_cmpuint (lag_e, ==, 0);
  net_clear (&net);
}

static void
failover (Net *net)
{
  promote_us_east (net);
  Site *east = &net->sites[0], *west = &net->sites[1];
  write_prop (east, 1, "x", 0, TRUE);
  write_prop (east, 2, "y", 0, TRUE);
  run (net, 5);
  /* us-east's last writes never leave the region, then it dies. */
  net->cut = TRUE;
  net->now_us += 10 * 1000;
  write_prop (east, 1, "x", 13, FALSE);
  run (net, 1);
  east->down = TRUE;
  net->cut = FALSE;
  g_autoptr (GError) error = NULL;
  g_assert_cmpuint (nc_region_node_promote (west->node, &error), ==, 3);
  run (net, 2);
  g_assert_true (nc_region_node_accepts_writes (west->node));
  write_prop (west, 1, "x", 21, FALSE);
  write_prop (west, 2, "y", 22, FALSE);
  run (net, 3);
  /* us-east comes back (restart from its log and state). */
  east->down = FALSE;
  nc_region_node_free (east->node);
  site_start (east);
  run (net, 60);
  g_assert_false (nc_region_node_accepts_writes (east->node));
  g_assert_cmpstr (nc_region_node_writer_bolt (east->node), ==, "127.0.0.41:7687");
}

static void
test_promote_secondary_then_old_primary_reconciles_lww (void)
{
  Net net;
  net_init (&net, "last_write_wins");
  failover (&net);
  g_autofree char *a = region_test_store_text (net.sites[0].store);
  g_autofree char *b = region_test_store_text (net.sites[1].store);
  g_assert_cmpstr (a, ==, b);
  /* eu-west's x=21 is later than us-east's unshipped x=13. */
  g_assert_cmpstr (b, ==, "n1=exists;n1.x=21;n2=exists;n2.y=22;");
  g_assert_cmpuint (nc_region_resolver_n_conflicts (nc_region_log_resolver (nc_region_node_log (net.sites[0].node))), ==, 1);
  g_assert_cmpuint (nc_region_resolver_n_conflicts (nc_region_log_resolver (nc_region_node_log (net.sites[1].node))), ==, 1);
  net_clear (&net);
}

static void
test_promote_secondary_then_manual_conflicts_listed_and_resolved (void)
{
  Net net;
  net_init (&net, "manual");
  failover (&net);
  Site *east = &net.sites[0], *west = &net.sites[1];
  NcRegionResolver *rw = nc_region_log_resolver (nc_region_node_log (west->node));
  g_assert_cmpuint (nc_region_resolver_n_conflicts (rw), ==, 1);
  const NcRegionConflict *c = nc_region_resolver_conflict (rw, 0);
  g_assert_cmpint (c->status, ==, NC_CONFLICT_OPEN);
  g_assert_cmpstr (c->key, ==, "x");
  g_autofree char *id = g_strdup (c->id);
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) res = nc_region_resolution_writeset (rw, id, "rejected", NULL, &error);
  g_assert_no_error (error);
  g_autoptr (NcWriteSet) stamped = nc_region_node_stamp (west->node, res, &error);
  g_assert_no_error (error);
  guint64 index = h_propose (west, stamped, &error);
  nc_region_node_proposed (west->node, index, stamped);
  run (&net, 10);
  g_autofree char *a = region_test_store_text (east->store);
  g_autofree char *b = region_test_store_text (west->store);
  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (b, ==, "n1=exists;n1.x=13;n2=exists;n2.y=22;");
  for (int i = 0; i < 2; i++)
    {
      NcRegionResolver *r = nc_region_log_resolver (nc_region_node_log (net.sites[i].node));
      g_assert_cmpint (nc_region_resolver_find_conflict (r, id)->status, ==, NC_CONFLICT_RESOLVED);
    }
  net_clear (&net);
}

static void
test_admin_endpoints_and_metrics (void)
{
  Net net;
  net_init (&net, "manual");
  failover (&net);
  Site *east = &net.sites[0], *west = &net.sites[1];
  g_autofree char *json = NULL;
  g_assert_cmpuint (nc_region_http_conflicts (west->node, "status=open", &json), ==, 200);
  g_assert_nonnull (strstr (json, "\"status\":\"open\""));
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p, json, -1, NULL));
  JsonArray *arr = json_node_get_array (json_parser_get_root (p));
  g_assert_cmpuint (json_array_get_length (arr), ==, 1);
  g_autofree char *id = g_strdup (json_object_get_string_member (json_array_get_object_element (arr, 0), "id"));
  /* The query string is parsed, not searched: other filters are refused. */
  g_autofree char *bad = NULL;
  g_assert_cmpuint (nc_region_http_conflicts (west->node, "status=resolvedish", &bad), ==, 400);
  g_assert_nonnull (strstr (bad, "status must be"));
  g_autofree char *all = NULL;
  g_assert_cmpuint (nc_region_http_conflicts (west->node, "x=1&status=all", &all), ==, 200);
  g_assert_nonnull (strstr (all, "\"status\":\"open\""));
  /* Only the primary's leader resolves; others say where to go. */
  NcWriteSet *ws = NULL;
  g_autofree char *body = g_strdup_printf ("{\"id\":\"%s\",\"choice\":\"value\",\"value\":42}", id);
  g_autofree char *e1 = NULL;
  g_assert_cmpuint (nc_region_http_resolve (east->node, body, strlen (body), &ws, &e1), ==, 421);
  g_assert_nonnull (strstr (e1, "127.0.0.41:7687"));
  g_autofree char *e2 = NULL;
  g_assert_cmpuint (nc_region_http_resolve (west->node, "{\"id\":\"nope\",\"choice\":\"kept\"}", strlen ("{\"id\":\"nope\",\"choice\":\"kept\"}"), &ws, &e2), ==, 404);
  g_autofree char *e3 = NULL;
  g_assert_cmpuint (nc_region_http_resolve (west->node, "[1]", 3, &ws, &e3), ==, 400);
  g_autofree char *ok = NULL;
  g_assert_cmpuint (nc_region_http_resolve (west->node, body, strlen (body), &ws, &ok), ==, 200);
  g_autoptr (GError) error = NULL;
  g_autoptr (NcWriteSet) stamped = nc_region_node_stamp (west->node, ws, &error);
  nc_writeset_free (ws);
  g_assert_no_error (error);
  nc_region_node_proposed (west->node, h_propose (west, stamped, NULL), stamped);
  run (&net, 10);
  g_autofree char *a = region_test_store_text (east->store);
  g_autofree char *b = region_test_store_text (west->store);
  g_assert_cmpstr (a, ==, b);
  g_assert_nonnull (strstr (b, "n1.x=42;"));
  g_autofree char *open_after = NULL;
  nc_region_http_conflicts (east->node, "status=open", &open_after);
  g_assert_cmpstr (open_after, ==, "[]");
  /* Promotion on the secondary's leader raises the epoch past everything seen. */
  g_autofree char *pj = NULL;
  g_assert_cmpuint (nc_region_http_promote (east->node, &pj), ==, 200);
  g_assert_nonnull (strstr (pj, "\"epoch\":4"));
  g_assert_nonnull (strstr (pj, "\"previous_primary\":\"eu-west\""));
  run (&net, 10);
  g_assert_true (nc_region_node_accepts_writes (east->node));
  g_assert_false (nc_region_node_accepts_writes (west->node));
  g_autoptr (GString) m = g_string_new (NULL);
  nc_region_node_metrics (east->node, m);
  g_assert_nonnull (strstr (m->str, "nornicdb_region_lag_entries{region=\"eu-west\"} 0\n"));
  g_assert_nonnull (strstr (m->str, "nornicdb_region_lag_seconds{region=\"eu-west\"} 0\n"));
  g_assert_nonnull (strstr (m->str, "nornicdb_region_epoch 4\n"));
  g_assert_nonnull (strstr (m->str, "nornicdb_region_conflicts{status=\"resolved\"} 1\n"));
  net_clear (&net);
}

static void
test_read_levels_per_region (void)
{
  Net net;
  net_init (&net, "last_write_wins");
  promote_us_east (&net);
  NcReadConsistency level;
  NcReadAction action;
  /* Default (LOCAL_ONE) everywhere: local state. */
  g_assert_true (nc_region_node_read_action (net.sites[1].node, NULL, FALSE, &level, &action, NULL));
  g_assert_cmpint (level, ==, NC_READ_LOCAL_ONE);
  g_assert_cmpint (action, ==, NC_READ_ACTION_LOCAL);
  /* QUORUM: ReadIndex in the primary region, refused in the other. */
  g_assert_true (nc_region_node_read_action (net.sites[0].node, "QUORUM", FALSE, &level, &action, NULL));
  g_assert_cmpint (action, ==, NC_READ_ACTION_LOCAL_READ_INDEX);
  g_assert_true (nc_region_node_read_action (net.sites[1].node, "quorum", FALSE, &level, &action, NULL));
  g_assert_cmpint (action, ==, NC_READ_ACTION_NOT_PRIMARY);
  g_assert_true (nc_region_node_read_action (net.sites[1].node, "ALL", FALSE, &level, &action, NULL));
  g_assert_cmpint (action, ==, NC_READ_ACTION_NOT_PRIMARY);
  g_assert_true (nc_region_node_read_action (net.sites[0].node, "ALL", FALSE, &level, &action, NULL));
  g_assert_cmpint (action, ==, NC_READ_ACTION_ALL_REGIONS);
  /* ALL on the primary's leader: covered once the other region committed
   * the primary's log up to the index; a cut link leaves it uncovered and
   * names the region. */
  Site *east = &net.sites[0];
  run (&net, 20);
  const char *lagging = NULL;
  guint64 at = 0;
  g_assert_true (nc_region_node_remotes_cover (east->node, east->committed, &lagging, &at));
  net.cut = TRUE;
  g_assert_true (write_prop (east, 7, "x", 1, TRUE));
  run (&net, 2);
  g_assert_false (nc_region_node_remotes_cover (east->node, east->committed, &lagging, &at));
  g_assert_cmpstr (lagging, ==, "eu-west");
  g_assert_cmpuint (at, <, east->committed);
  net.cut = FALSE;
  for (guint r = 0; r < 100 && !nc_region_node_remotes_cover (east->node, east->committed, &lagging, &at); r++)
    run (&net, 1);
  g_assert_true (nc_region_node_remotes_cover (east->node, east->committed, &lagging, &at));
  g_autoptr (GError) error = NULL;
  g_assert_false (nc_region_node_read_action (net.sites[1].node, "TWO", FALSE, &level, &action, &error));
  g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
  net_clear (&net);
}

static NcClusterMessage *
copy_message (const NcClusterMessage *m)
{
  g_autoptr (GBytes) frame = nc_cluster_frame_encode (m, 0, NULL);
  gsize len;
  const guint8 *d = g_bytes_get_data (frame, &len);
  return nc_cluster_message_decode (d + 4, len - 4, NULL, NULL);
}

static void
test_resent_batch_is_not_acknowledged_before_commit (void)
{
  Net net;
  net_init (&net, "last_write_wins");
  promote_us_east (&net);
  Site *east = &net.sites[0], *west = &net.sites[1];
  write_prop (east, 1, "v", 1, TRUE);
  write_prop (east, 2, "v", 2, TRUE);
  /* Commit on east and let it ship, but hold west's commits. */
  east->committed = east->log->len;
  nc_region_node_tick (east->node);
  Msg *m = g_queue_pop_head (&net.queue);
  g_assert_nonnull (m);
  g_assert_cmpint (m->msg->type, ==, NC_CLUSTER_MSG_REGION_SHIP);
  guint64 last = m->msg->u.region_ship.last_index;
  NcClusterMessage *again = copy_message (m->msg);
  nc_region_node_receive (west->node, m->msg);
  /* The same batch again (an ack timed out on the way). */
  nc_region_node_receive (west->node, again);
  nc_cluster_message_free (again);
  nc_cluster_message_free (m->msg);
  g_free (m);
  for (GList *l = net.queue.head; l; l = l->next)
    {
      Msg *q = l->data;
      if (q->msg->type == NC_CLUSTER_MSG_REGION_SHIP_ACK)
        g_assert_false (q->msg->u.region_ship_ack.success && q->msg->u.region_ship_ack.applied_index >= last);
    }
  /* Once committed, the acknowledgement covers the batch. */
  run (&net, 5);
  guint64 lag_e;
  double lag_s;
  nc_region_node_lag (east->node, "eu-west", &lag_e, &lag_s);
  g_assert_cmpuint (lag_e, ==, 0);
  g_assert_cmpuint (west->remote_entries, ==, 2);
  net_clear (&net);
}

/* A member that becomes leader starts shipping from its own persisted
 * position, which can be far behind what the other region has, and the
 * entries after it may be compacted: it asks the receiver (an empty
 * RegionShip) and continues from the receiver's position instead of
 * resending or needing a snapshot. */
static void
test_new_leader_with_an_old_position_probes_the_receiver (void)
{
  Net net;
  net_init (&net, "last_write_wins");
  run (&net, 5);
  Site *west = &net.sites[1], *east = &net.sites[0];
  g_assert_true (nc_region_node_accepts_writes (west->node));
  for (int k = 0; k < 5; k++)
    g_assert_true (write_prop (west, 10 + k, "x", k, TRUE));
  run (&net, 10);
  g_assert_cmpuint (east->remote_entries, ==, 5);
  g_autofree char *text = region_test_store_text (east->store);
  /* The leader changes; the new one never persisted a position. */
  g_hash_table_remove (west->state, "region.shipped.us-east");
  nc_region_node_free (west->node);
  site_start (west);
  west->compacted = west->log->len - 1;
  /* No "cannot ship" warning (fatal here), nothing shipped twice. */
  run (&net, 10);
  g_assert_cmpuint (east->remote_entries, ==, 5);
  guint64 lag_e;
  double lag_s;
  g_assert_true (nc_region_node_lag (west->node, "us-east", &lag_e, &lag_s));
  g_assert_cmpuint (lag_e, ==, 0);
  g_assert_true (write_prop (west, 20, "x", 1, TRUE));
  run (&net, 5);
  g_assert_cmpuint (east->remote_entries, ==, 6);
  g_autofree char *after = region_test_store_text (east->store);
  g_assert_cmpstr (after, !=, text);
  net_clear (&net);
}

static void
test_unknown_cross_region_mode_is_refused (void)
{
  NcRegionHost host = { 0 };
  NcRegionNodeConfig cfg = { .region = "us-east", .remote_regions = "eu-west:h:1", .cross_region_mode = "sync" };
  g_autoptr (GError) error = NULL;
  g_assert_null (nc_region_node_new (&host, &cfg, &error));
  g_assert_error (error, NC_REGION_ERROR, NC_REGION_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "sync"));
}

/* Writes at eu-west (primary): a committed write's client is released only
 * once us-east committed it; with us-east cut off the write waits for the
 * timeout, then the node degrades (later writes are released at once);
 * after the link heals and us-east caught up, semi_sync holds again. */
static void
test_semi_sync_waits_for_a_remote_region_then_degrades (void)
{
  Net net;
  net_init (&net, "last_write_wins");
  for (int i = 0; i < 2; i++)
    {
      Site *s = &net.sites[i];
      g_hash_table_insert (s->state, g_strdup ("test.mode"), g_strdup ("semi_sync"));
      nc_region_node_free (s->node);
      site_start (s);
    }
  run (&net, 5);
  Site *west = &net.sites[1];
  Site *east = &net.sites[0];
  g_assert_true (nc_region_node_accepts_writes (west->node));
  g_assert_true (nc_region_node_semi_sync (west->node));

  g_assert_true (write_prop (west, 1, "x", 1, TRUE));
  guint64 index = west->log->len;
  gint64 committed_at = net.now_us;
  /* Committed here, not yet in us-east: held. */
  g_assert_false (nc_region_node_semi_sync_ready (west->node, index, committed_at));
  for (guint r = 0; r < 10 && !nc_region_node_semi_sync_ready (west->node, index, committed_at); r++)
    run (&net, 1);
  g_assert_true (nc_region_node_semi_sync_ready (west->node, index, committed_at));
  g_assert_false (nc_region_node_semi_sync_degraded (west->node));
  /* Released means already committed (and applied) in the other region. */
  g_assert_cmpstr (g_hash_table_lookup (east->store, "n1.x"), ==, "1");

  /* us-east unreachable: held until the 2 s timeout, then degraded. */
  net.cut = TRUE;
  g_assert_true (write_prop (west, 1, "x", 2, FALSE));
  index = west->log->len;
  run (&net, 1);
  committed_at = net.now_us;
  run (&net, 15);  /* 1.5 s */
  g_assert_false (nc_region_node_semi_sync_ready (west->node, index, committed_at));
  run (&net, 6);
  g_test_expect_message ("nornicdb-region", G_LOG_LEVEL_WARNING, "semi_sync: no remote region confirmed write*");
  g_assert_true (nc_region_node_semi_sync_ready (west->node, index, committed_at));
  g_test_assert_expected_messages ();
  g_assert_true (nc_region_node_semi_sync_degraded (west->node));
  g_autoptr (GString) metrics = g_string_new (NULL);
  nc_region_node_metrics (west->node, metrics);
  g_assert_nonnull (strstr (metrics->str, "nornicdb_region_semi_sync_degraded 1"));
  /* Degraded: the next write is released after the local commit alone. */
  g_assert_true (write_prop (west, 1, "x", 3, FALSE));
  run (&net, 1);
  g_assert_true (nc_region_node_semi_sync_ready (west->node, west->log->len, net.now_us));

  /* Healed: us-east catches up (after the ack time-out resend), semi_sync
   * is restored and holds writes again. */
  net.cut = FALSE;
  for (guint r = 0; r < 100 && nc_region_node_semi_sync_degraded (west->node); r++)
    run (&net, 1);
  g_assert_false (nc_region_node_semi_sync_degraded (west->node));
  g_assert_cmpstr (g_hash_table_lookup (east->store, "n1.x"), ==, "3");
  g_assert_true (write_prop (west, 1, "x", 4, FALSE));
  g_assert_false (nc_region_node_semi_sync_ready (west->node, west->log->len, net.now_us));
  net_clear (&net);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/region/node/writes-in-primary-appear-in-secondary", test_writes_in_primary_appear_in_secondary);
  g_test_add_func ("/nornic/region/node/cut-and-heal-under-load-loses-and-duplicates-nothing", test_cut_and_heal_under_load_loses_and_duplicates_nothing);
  g_test_add_func ("/nornic/region/node/promote-secondary-then-old-primary-reconciles-lww", test_promote_secondary_then_old_primary_reconciles_lww);
  g_test_add_func ("/nornic/region/node/promote-secondary-then-manual-conflicts-listed-and-resolved", test_promote_secondary_then_manual_conflicts_listed_and_resolved);
  g_test_add_func ("/nornic/region/node/admin-endpoints-and-metrics", test_admin_endpoints_and_metrics);
  g_test_add_func ("/nornic/region/node/read-levels-per-region", test_read_levels_per_region);
  g_test_add_func ("/nornic/region/node/resent-batch-is-not-acknowledged-before-commit", test_resent_batch_is_not_acknowledged_before_commit);
  g_test_add_func ("/nornic/region/node/unknown-cross-region-mode-is-refused", test_unknown_cross_region_mode_is_refused);
  g_test_add_func ("/nornic/region/node/new-leader-with-an-old-position-probes-the-receiver",
                   test_new_leader_with_an_old_position_probes_the_receiver);
  g_test_add_func ("/nornic/region/node/semi-sync-waits-for-a-remote-region-then-degrades",
                   test_semi_sync_waits_for_a_remote_region_then_degrades);
  return g_test_run ();
}
