/* Named regression scenarios for the Raft core, each run under the
 * deterministic simulator with every safety checker on. Each scenario steers
 * the network and the disks into the situation its name describes and then
 * asserts the behaviour that makes Raft safe there. */
#include "sim.h"
#include "lin.h"

#include <string.h>

static SimOptions
quiet_options (guint nodes, guint64 seed)
{
  SimOptions o;
  sim_options_default (&o, nodes, seed);
  o.drop_pct = 0;
  o.dup_pct = 0;
  o.delay_min = 1;
  o.delay_max = 1;
  o.persist_delay_max = 1;
  o.random_faults = FALSE;
  o.workload = FALSE;
  o.verbose = g_test_verbose ();
  return o;
}

static gboolean
has_leader (Sim *sim, gpointer data)
{
  return sim_leader (sim) >= 0;
}

static gboolean
node_is_leader (Sim *sim, gpointer data)
{
  return sim_leader (sim) == GPOINTER_TO_INT (data);
}

typedef struct {
  guint64 index;
  guint mask; /* nodes that must have applied it */
} AppliedWait;

static gboolean
applied_by (Sim *sim, gpointer data)
{
  AppliedWait *w = data;
  for (guint i = 0; i < sim_n_nodes (sim); i++)
    if ((w->mask >> i) & 1 && (!sim_is_up (sim, i) || sim_applied (sim, i) < w->index))
      return FALSE;
  return TRUE;
}

static void
wait_applied (Sim *sim, guint64 index, guint mask, guint max_ticks)
{
  AppliedWait w = { index, mask };
  g_assert_true (sim_run_until (sim, max_ticks, applied_by, &w));
}

static gint
elect (Sim *sim)
{
  g_assert_true (sim_run_until (sim, 500, has_leader, NULL));
  gint l = sim_leader (sim);
  NcRaft *r = sim_raft (sim, l);
  /* the leader's no-op commits everything before it */
  wait_applied (sim, nc_raft_last_index (r), (1u << sim_n_nodes (sim)) - 1, 300);
  return l;
}

static void
force_leader (Sim *sim, guint node)
{
  for (guint attempt = 0; attempt < 5 && sim_leader (sim) != (gint) node; attempt++)
    {
      sim_force_campaign (sim, node);
      sim_run_until (sim, 20, node_is_leader, GINT_TO_POINTER (node));
    }
  g_assert_cmpint (sim_leader (sim), ==, node);
}

static guint64
propose (Sim *sim, guint node, guint64 value)
{
  g_autoptr (GError) error = NULL;
  guint64 idx = 0;
  g_assert_true (sim_propose (sim, node, value, &idx, &error));
  g_assert_no_error (error);
  return idx;
}

#define ALL(sim) ((1u << sim_n_nodes (sim)) - 1)

/* ------------------------------------------------------------ figure 8 */

static guint64 fig8_max_index;
static gint fig8_from = -1;

/* Lets fig8_from's AppendEntries through, minus entries above fig8_max_index. */
static gboolean
fig8_filter (Sim *sim, NcRaftMsg *m, gpointer data)
{
  if (m->type != NC_RAFT_MSG_APPEND_ENTRIES || fig8_from < 0
      || sim_node_index (sim, m->from) != fig8_from)
    return TRUE;
  if (fig8_max_index == 0)
    return m->heartbeat; /* nothing but heartbeats */
  if (m->entries)
    while (m->entries->len > 0
           && ((NcRaftEntry *) g_ptr_array_index (m->entries, m->entries->len - 1))->index > fig8_max_index)
      g_ptr_array_remove_index (m->entries, m->entries->len - 1);
  return TRUE;
}

static void
block_groups (Sim *sim, guint mask_a)
{
  for (guint a = 0; a < sim_n_nodes (sim); a++)
    for (guint b = 0; b < sim_n_nodes (sim); b++)
      sim_block (sim, a, b, ((mask_a >> a) & 1) != ((mask_a >> b) & 1));
}

/* Raft paper, Figure 8: an entry of an older term replicated on a majority
 * must not be committed by counting replicas; only a current-term entry
 * commits it. Otherwise S5 can later overwrite a "committed" entry. */
static void
test_figure_8 (void)
{
  SimOptions o = quiet_options (5, 8);
  o.election_min = o.election_max = 1000; /* only forced elections */
  o.pre_vote = FALSE;
  o.check_quorum = FALSE;
  o.max_entries = 1;
  Sim *sim = sim_new (&o);
  sim_set_filter (sim, fig8_filter, NULL);
  const guint S1 = 0, S2 = 1, S3 = 2, S5 = 4;

  /* (a) S1 leads; its entry X at index 2 reaches only S2 */
  force_leader (sim, S1);
  wait_applied (sim, 1, ALL (sim), 100);
  block_groups (sim, (1u << S1) | (1u << S2));
  guint64 x_index = propose (sim, S1, 777);
  g_assert_cmpuint (x_index, ==, 2);
  sim_run (sim, 10);
  guint64 x_term = nc_raft_log_term (sim_raft (sim, S2), 2);
  g_assert_cmpuint (x_term, ==, nc_raft_term (sim_raft (sim, S1)));
  g_assert_cmpuint (nc_raft_commit_index (sim_raft (sim, S1)), <, 2);

  /* (b) S1 crashes; S5 wins with S3 and S4, its own index 2 stays local */
  sim_crash (sim, S1);
  sim_heal (sim);
  fig8_from = S5;
  fig8_max_index = 0;
  force_leader (sim, S5);
  sim_run (sim, 5);
  guint64 s5_term = nc_raft_log_term (sim_raft (sim, S5), 2);
  g_assert_cmpuint (s5_term, >, x_term);
  sim_crash (sim, S5);

  /* (c) S1 returns and leads; X (old term) reaches S3, so it sits on a
   * majority (S1, S2, S3), but S1's current-term no-op does not */
  sim_restart (sim, S1);
  fig8_from = S1;
  fig8_max_index = 2;
  force_leader (sim, S1);
  sim_run (sim, 40);
  g_assert_cmpuint (nc_raft_log_term (sim_raft (sim, S3), 2), ==, x_term);
  g_assert_cmpuint (nc_raft_log_term (sim_raft (sim, S2), 2), ==, x_term);
  guint64 m2 = 0, m3 = 0;
  g_assert_true (nc_raft_peer_match (sim_raft (sim, S1), "n2", &m2));
  g_assert_true (nc_raft_peer_match (sim_raft (sim, S1), "n3", &m3));
  g_assert_cmpuint (m2, >=, 2);
  g_assert_cmpuint (m3, >=, 2);
  /* the Figure 8 rule: not committed although on a majority */
  g_assert_cmpuint (nc_raft_commit_index (sim_raft (sim, S1)), <, 2);
  g_assert_false (sim_value_applied (sim, 777));

  /* (d) S1 crashes again; S5 wins (its last term is higher) and overwrites X */
  sim_crash (sim, S1);
  sim_restart (sim, S5);
  fig8_from = -1;
  force_leader (sim, S5);
  wait_applied (sim, 3, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4), 200);
  g_assert_cmpuint (sim_committed_term (sim, 2), ==, s5_term);
  sim_restart (sim, S1);
  wait_applied (sim, 3, ALL (sim), 200);
  g_assert_false (sim_value_applied (sim, 777));
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

/* --------------------------------------------------- vote before persist */

static void
test_vote_before_persist (void)
{
  /* The correct glue never trips the checker... */
  SimOptions o = quiet_options (3, 21);
  Sim *sim = sim_new (&o);
  sim_run (sim, 300);
  g_assert_null (sim_failure (sim));
  g_assert_cmpint (sim_leader (sim), >=, 0);
  sim_free (sim);

  /* ...and the mutant that releases vote grants before persisting them is
   * caught at the first grant. */
  o.mutant_send_before_persist = TRUE;
  sim = sim_new (&o);
  sim_run (sim, 300);
  g_assert_nonnull (sim_failure (sim));
  g_assert_nonnull (strstr (sim_failure (sim), "vote granted before persistence"));
  sim_free (sim);
}

/* ---------------------------------------------------------- stale leader */

static void
test_stale_leader_after_partition (void)
{
  SimOptions o = quiet_options (5, 3);
  Sim *sim = sim_new (&o);
  gint old = elect (sim);
  guint64 old_term = nc_raft_term (sim_raft (sim, old));
  guint buddy = (old + 1) % 5;
  block_groups (sim, (1u << old) | (1u << buddy));

  /* the stale leader still accepts a write and a read, but can finish neither */
  guint64 stale_index = propose (sim, old, 4242);
  g_autoptr (GBytes) ctx = g_bytes_new ("r1", 2);
  g_assert_true (nc_raft_read_index (sim_raft (sim, old), ctx, NULL));
  guint reads_before = sim_read_states_seen (sim, old, NULL);
  sim_run (sim, 100);
  g_assert_cmpuint (sim_read_states_seen (sim, old, NULL), ==, reads_before);
  g_assert_cmpint (nc_raft_role (sim_raft (sim, old)), !=, NC_RAFT_LEADER); /* check-quorum */
  gint fresh = sim_leader (sim);
  g_assert_cmpint (fresh, >=, 0);
  g_assert_cmpint (fresh, !=, old);
  g_assert_cmpuint (nc_raft_term (sim_raft (sim, fresh)), >, old_term);
  guint64 idx = propose (sim, fresh, 5151);
  sim_run (sim, 20);

  /* heal: the old leader's uncommitted entry is replaced, never applied */
  sim_heal (sim);
  wait_applied (sim, idx, ALL (sim), 300);
  g_assert_false (sim_value_applied (sim, 4242));
  g_assert_true (sim_value_applied (sim, 5151));
  g_assert_cmpuint (sim_committed_term (sim, stale_index), !=, old_term);
  g_assert_cmpuint (sim_value (sim, old), ==, 5151);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

/* ------------------------------------------------ snapshot with entries */

static guint snap_sent_to_lagger;
static guint proposals_during_snapshot;
static gboolean snap_in_flight;
static gint lagger = -1;
static gboolean drop_first_snapshot;

static gboolean
snapshot_filter (Sim *sim, NcRaftMsg *m, gpointer data)
{
  if (m->type == NC_RAFT_MSG_INSTALL_SNAPSHOT && sim_node_index (sim, m->to) == lagger)
    {
      snap_sent_to_lagger++;
      snap_in_flight = TRUE;
      if (drop_first_snapshot)
        {
          drop_first_snapshot = FALSE;
          return FALSE; /* the transfer fails once; the leader must retry */
        }
    }
  return TRUE;
}

static void
test_snapshot_while_entries_in_flight (void)
{
  SimOptions o = quiet_options (3, 5);
  o.delay_max = 3;
  o.persist_delay_max = 3;
  Sim *sim = sim_new (&o);
  gint l = elect (sim);
  lagger = (l + 1) % 3;
  guint other = (l + 2) % 3;
  sim_isolate (sim, lagger);
  guint64 v = 1000, last = 0;
  for (guint i = 0; i < 30; i++)
    {
      last = propose (sim, l, ++v);
      sim_run (sim, 1);
    }
  wait_applied (sim, last, (1u << l) | (1u << other), 200);
  g_assert_true (sim_compact (sim, l));
  g_assert_true (sim_compact (sim, other));
  g_assert_cmpuint (nc_raft_first_index (sim_raft (sim, l)), >, sim_applied (sim, lagger) + 1);

  sim_set_filter (sim, snapshot_filter, NULL);
  drop_first_snapshot = TRUE;
  sim_heal (sim);
  /* keep writing while the snapshot travels */
  for (guint i = 0; i < 40; i++)
    {
      if (snap_in_flight)
        proposals_during_snapshot++;
      last = propose (sim, l, ++v);
      sim_run (sim, 1);
    }
  wait_applied (sim, last, ALL (sim), 300);
  g_assert_cmpuint (snap_sent_to_lagger, >=, 2); /* the dropped one was retried */
  g_assert_cmpuint (proposals_during_snapshot, >, 0);
  g_assert_cmpuint (sim_value (sim, lagger), ==, v);
  g_assert_cmpuint (nc_raft_first_index (sim_raft (sim, lagger)), >, 1);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

/* ------------------------------------------------------------ membership */

static gboolean
conf_committed (Sim *sim, gpointer data)
{
  gint l = sim_leader (sim);
  return l >= 0 && nc_raft_commit_index (sim_raft (sim, l)) >= GPOINTER_TO_SIZE (data);
}

static void
test_remove_leader (void)
{
  SimOptions o = quiet_options (3, 9);
  Sim *sim = sim_new (&o);
  gint l = elect (sim);
  NcRaft *lr = sim_raft (sim, l);
  NcRaftConfChange cc = { NC_RAFT_CONF_REMOVE, sim_node_id (sim, l), NULL };
  guint64 idx = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (nc_raft_propose_conf_change (lr, &cc, &idx, &error));
  /* takes effect when appended: the leader no longer counts itself */
  g_assert_false (nc_raft_membership_is_voter (nc_raft_membership (lr), sim_node_id (sim, l)));
  g_assert_cmpint (nc_raft_role (lr), ==, NC_RAFT_LEADER);
  for (guint i = 0; i < 100 && nc_raft_role (lr) == NC_RAFT_LEADER; i++)
    sim_step (sim);
  /* it stepped down once the removal committed */
  g_assert_cmpint (nc_raft_role (lr), !=, NC_RAFT_LEADER);
  g_assert_cmpuint (nc_raft_commit_index (lr), >=, idx);
  g_assert_true (sim_run_until (sim, 100, has_leader, NULL));
  gint nl = sim_leader (sim);
  g_assert_cmpint (nl, !=, l);
  g_assert_cmpuint (nc_raft_membership_n_voters (nc_raft_membership (sim_raft (sim, nl))), ==, 2);
  guint64 term = nc_raft_term (sim_raft (sim, nl));
  /* the cluster of two keeps working; the removed node never campaigns */
  guint64 w = propose (sim, nl, 99);
  wait_applied (sim, w, ALL (sim) & ~(1u << l), 100);
  sim_run (sim, 200);
  g_assert_cmpint (nc_raft_role (lr), ==, NC_RAFT_FOLLOWER);
  g_assert_cmpuint (nc_raft_term (sim_raft (sim, nl)), ==, term);
  g_assert_cmpint (sim_leader (sim), ==, nl);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

static void
test_concurrent_membership_changes_refused (void)
{
  SimOptions o = quiet_options (3, 11);
  Sim *sim = sim_new (&o);
  gint l = elect (sim);
  gint fresh = sim_add_node (sim);
  g_assert_cmpint (fresh, ==, 3);
  NcRaft *lr = sim_raft (sim, l);
  g_autoptr (GError) error = NULL;
  guint64 idx = 0;

  NcRaftConfChange add = { NC_RAFT_CONF_ADD_LEARNER, "n4", "127.0.0.14:7688" };
  g_assert_true (nc_raft_propose_conf_change (lr, &add, &idx, &error));
  g_assert_no_error (error);
  /* a second change while the first is uncommitted is refused */
  NcRaftConfChange promote = { NC_RAFT_CONF_PROMOTE, "n4", NULL };
  g_assert_false (nc_raft_propose_conf_change (lr, &promote, NULL, &error));
  g_assert_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_CONF_CHANGE_PENDING);
  g_clear_error (&error);
  NcRaftConfChange remove = { NC_RAFT_CONF_REMOVE, sim_node_id (sim, (l + 1) % 3), NULL };
  g_assert_false (nc_raft_propose_conf_change (lr, &remove, NULL, &error));
  g_assert_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_CONF_CHANGE_PENDING);
  g_clear_error (&error);

  /* the learner catches up without voting */
  g_assert_true (sim_run_until (sim, 200, conf_committed, GSIZE_TO_POINTER (idx)));
  guint64 w = propose (sim, l, 31337);
  wait_applied (sim, w, ALL (sim), 200);
  g_assert_cmpuint (sim_value (sim, fresh), ==, 31337);
  g_assert_false (nc_raft_membership_is_voter (nc_raft_membership (lr), "n4"));
  g_assert_cmpuint (nc_raft_membership_n_voters (nc_raft_membership (lr)), ==, 3);

  /* now the promotion is accepted and makes it a voter */
  g_assert_true (nc_raft_propose_conf_change (lr, &promote, &idx, &error));
  g_assert_no_error (error);
  g_assert_true (sim_run_until (sim, 200, conf_committed, GSIZE_TO_POINTER (idx)));
  g_assert_true (nc_raft_membership_is_voter (nc_raft_membership (lr), "n4"));
  g_assert_cmpuint (nc_raft_membership_n_voters (nc_raft_membership (lr)), ==, 4);
  /* with four voters, two nodes down means no quorum; three up is enough */
  sim_crash (sim, (l + 1) % 3);
  w = propose (sim, l, 4444);
  wait_applied (sim, w, (1u << l) | (1u << fresh), 200);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}


static void
test_removed_follower_learns_and_stays_quiet (void)
{
  SimOptions o = quiet_options (3, 37);
  o.pre_vote = FALSE; /* even without pre-vote it must not disrupt */
  o.check_quorum = FALSE;
  Sim *sim = sim_new (&o);
  gint l = elect (sim);
  guint f = (l + 1) % 3;
  NcRaftConfChange cc = { NC_RAFT_CONF_REMOVE, sim_node_id (sim, f), NULL };
  guint64 idx = 0;
  g_assert_true (nc_raft_propose_conf_change (sim_raft (sim, l), &cc, &idx, NULL));
  g_assert_true (sim_run_until (sim, 100, conf_committed, GSIZE_TO_POINTER (idx)));
  sim_run (sim, 10);
  /* the leader kept replicating to it until the removal committed */
  g_assert_false (nc_raft_membership_contains (nc_raft_membership (sim_raft (sim, f)), sim_node_id (sim, f)));
  guint64 term = nc_raft_term (sim_raft (sim, l));
  sim_run (sim, 20 * o.election_max);
  g_assert_cmpint (sim_leader (sim), ==, l);
  g_assert_cmpuint (nc_raft_term (sim_raft (sim, l)), ==, term);
  g_assert_cmpuint (nc_raft_term (sim_raft (sim, f)), ==, term);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

/* ----------------------------------------------------- leadership transfer */

static void
test_leadership_transfer (void)
{
  SimOptions o = quiet_options (3, 13);
  o.election_min = 40;
  o.election_max = 60;
  Sim *sim = sim_new (&o);
  gint l = elect (sim);
  guint target = (l + 1) % 3;
  /* the target lags behind */
  sim_block (sim, l, target, TRUE);
  guint64 last = 0;
  for (guint i = 0; i < 10; i++)
    last = propose (sim, l, 500 + i);
  sim_run (sim, 5);
  g_assert_cmpuint (sim_applied (sim, target), <, last);
  sim_block (sim, l, target, FALSE);

  g_autoptr (GError) error = NULL;
  g_assert_true (nc_raft_transfer_leadership (sim_raft (sim, l), sim_node_id (sim, target), &error));
  g_assert_no_error (error);
  g_assert_false (sim_propose (sim, l, 1, NULL, &error));
  g_assert_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_TRANSFERRING);
  guint64 start = sim_now (sim);
  g_assert_true (sim_run_until (sim, 100, node_is_leader, GINT_TO_POINTER (target)));
  /* elected by TimeoutNow, well before any election timeout could fire */
  g_assert_cmpuint (sim_now (sim) - start, <, o.election_min);
  wait_applied (sim, last, ALL (sim), 100);
  g_assert_cmpuint (sim_value (sim, target), ==, 509);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

/* ------------------------------------------------------------- pre-vote */

static void
run_isolated_follower (gboolean pre_vote, guint64 *follower_term_rise, gboolean *leader_kept)
{
  SimOptions o = quiet_options (3, 17);
  o.pre_vote = pre_vote;
  o.check_quorum = pre_vote;
  Sim *sim = sim_new (&o);
  gint l = elect (sim);
  guint f = (l + 1) % 3;
  guint64 term = nc_raft_term (sim_raft (sim, l));
  sim_isolate (sim, f);
  sim_run (sim, 10 * o.election_max);
  *follower_term_rise = nc_raft_term (sim_raft (sim, f)) - term;
  sim_heal (sim);
  sim_run (sim, 100);
  *leader_kept = sim_leader (sim) == l && nc_raft_term (sim_raft (sim, l)) == term;
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

static void
test_pre_vote_prevents_disruption (void)
{
  guint64 rise;
  gboolean kept;
  run_isolated_follower (TRUE, &rise, &kept);
  g_assert_cmpuint (rise, ==, 0);
  g_assert_true (kept);
  /* control: without pre-vote the same partition bumps terms and deposes */
  run_isolated_follower (FALSE, &rise, &kept);
  g_assert_cmpuint (rise, >, 0);
  g_assert_false (kept);
}

/* --------------------------------------------------------- check-quorum */

static void
test_check_quorum_steps_down (void)
{
  for (int with = 1; with >= 0; with--)
    {
      SimOptions o = quiet_options (3, 19);
      o.check_quorum = with;
      o.pre_vote = with;
      Sim *sim = sim_new (&o);
      gint l = elect (sim);
      sim_isolate (sim, l);
      sim_run (sim, 2 * o.election_min + 2);
      if (with)
        {
          g_assert_cmpint (nc_raft_role (sim_raft (sim, l)), ==, NC_RAFT_FOLLOWER);
          g_assert_null (nc_raft_leader (sim_raft (sim, l)));
        }
      else /* control: without check-quorum it keeps believing it leads */
        g_assert_cmpint (nc_raft_role (sim_raft (sim, l)), ==, NC_RAFT_LEADER);
      g_assert_null (sim_failure (sim));
      sim_free (sim);
    }
}

/* -------------------------------------------------------------- batching */

static guint batched_msgs[SIM_MAX_NODES];
static guint batched_entries[SIM_MAX_NODES];

static void
count_appends (Sim *sim, const NcRaftMsg *m, gpointer data)
{
  gint to = sim_node_index (sim, m->to);
  if (m->type == NC_RAFT_MSG_APPEND_ENTRIES && m->entries && m->entries->len > 0 && to >= 0)
    {
      batched_msgs[to]++;
      batched_entries[to] += m->entries->len;
    }
}

static void
test_proposals_batched (void)
{
  SimOptions o = quiet_options (3, 23);
  o.max_entries = 16;
  Sim *sim = sim_new (&o);
  gint l = elect (sim);
  sim_run (sim, 10);
  sim_set_observer (sim, count_appends, NULL);
  for (guint i = 0; i < 5; i++)
    propose (sim, l, 70 + i);
  sim_process_ready (sim, l);
  for (guint i = 0; i < 3; i++)
    if ((gint) i != l)
      {
        g_assert_cmpuint (batched_msgs[i], ==, 1);
        g_assert_cmpuint (batched_entries[i], ==, 5);
      }
  sim_set_observer (sim, NULL, NULL);
  wait_applied (sim, nc_raft_last_index (sim_raft (sim, l)), ALL (sim), 100);
  g_assert_cmpuint (sim_value (sim, (l + 1) % 3), ==, 74);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

/* ------------------------------------------------------------ read index */

static void
test_read_index_on_follower (void)
{
  SimOptions o = quiet_options (3, 29);
  Sim *sim = sim_new (&o);
  gint l = elect (sim);
  guint f = (l + 1) % 3;
  guint64 w = propose (sim, l, 8080);
  wait_applied (sim, w, 1u << l, 50); /* acknowledged to the writer */
  g_autoptr (GBytes) ctx = g_bytes_new ("follower-read", 13);
  g_autoptr (GError) error = NULL;
  g_assert_true (nc_raft_read_index (sim_raft (sim, f), ctx, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 50 && sim_read_states_seen (sim, f, NULL) == 0; i++)
    sim_step (sim);
  guint64 ri = 0;
  g_assert_cmpuint (sim_read_states_seen (sim, f, &ri), ==, 1);
  /* the read index covers the write acknowledged before the read began */
  g_assert_cmpuint (ri, >=, w);
  /* a node that knows no leader refuses instead of answering stale */
  sim_isolate (sim, f);
  sim_run (sim, 3 * o.election_max);
  g_assert_false (nc_raft_read_index (sim_raft (sim, f), ctx, &error));
  g_assert_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_NOT_LEADER);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}


/* ------------------------------------------------------ fast backtracking */

static guint rejects_seen;
static gint reject_from = -1;

static void
count_rejects (Sim *sim, const NcRaftMsg *m, gpointer data)
{
  if (m->type == NC_RAFT_MSG_APPEND_ENTRIES_RESPONSE && m->reject
      && sim_node_index (sim, m->from) == reject_from)
    rejects_seen++;
}

/* A follower holding 40 entries of an old term, where the new leader's log
 * has 40 entries of a newer term, is repaired after one rejection: the hint
 * lets the leader skip the whole conflicting term instead of walking back
 * one entry per round trip (Raft paper §5.3, Figure 7). */
static void
test_fast_backtracking (void)
{
  SimOptions o = quiet_options (5, 31);
  o.pre_vote = FALSE;
  o.check_quorum = FALSE;
  o.max_entries = 64;
  Sim *sim = sim_new (&o);
  gint old = elect (sim);
  guint f = (old + 1) % 5;
  guint a = (old + 2) % 5;
  block_groups (sim, (1u << old) | (1u << f));
  guint64 stale_last = 0;
  for (guint i = 0; i < 40; i++)
    stale_last = propose (sim, old, 100 + i); /* reaches f only: never committed */
  sim_run (sim, 10);
  g_assert_cmpuint (nc_raft_last_index (sim_raft (sim, f)), ==, stale_last);

  /* the majority elects a leader and writes 40 entries of its term... */
  g_assert_true (sim_run_until (sim, 300, has_leader, NULL));
  for (guint i = 0; i < 300 && nc_raft_term (sim_raft (sim, sim_leader (sim))) < 2; i++)
    sim_step (sim);
  gint l2 = sim_leader (sim);
  g_assert_cmpint (l2, !=, old);
  guint64 last = 0;
  for (guint i = 0; i < 40; i++)
    last = propose (sim, l2, 200 + i);
  guint majority = ALL (sim) & ~((1u << old) | (1u << f));
  wait_applied (sim, last, majority, 200);
  /* ...then another majority node takes over with that long log, so its
   * first probe to f lands inside f's conflicting suffix */
  if ((gint) a == l2)
    a = (old + 3) % 5;
  force_leader (sim, a);
  last = propose (sim, a, 999);
  wait_applied (sim, last, majority, 200);

  reject_from = f;
  sim_set_observer (sim, count_rejects, NULL);
  sim_heal (sim);
  wait_applied (sim, last, ALL (sim), 300);
  g_assert_cmpuint (rejects_seen, >=, 1);
  g_assert_cmpuint (rejects_seen, <=, 2);
  g_assert_cmpuint (sim_value (sim, f), ==, 999);
  for (guint i = 0; i < 40; i++)
    g_assert_false (sim_value_applied (sim, 100 + i));
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}


/* ------------------------------------------------ construction and codec */

static guint64 fake_last;
static guint64 fake_tail_term; /* term of entries after index 3 */

static guint64
fake_last_index (gpointer data)
{
  return fake_last;
}

static gboolean
fake_term_at (gpointer data, guint64 index, guint64 *term)
{
  if (index > fake_last)
    return FALSE;
  *term = index == 0 ? 0 : index > 3 ? fake_tail_term : 1;
  return TRUE;
}

static GPtrArray *
fake_entries (gpointer data, guint64 from, guint max_count, gsize max_bytes)
{
  if (from == 0 || from > fake_last)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_raft_entry_unref);
  for (guint64 i = from; i <= fake_last && out->len < max_count; i++)
    g_ptr_array_add (out, nc_raft_entry_new (i, 1, NC_RAFT_ENTRY_NOOP, NULL));
  return out;
}

static const NcRaftStorage fake_storage = {
  sizeof (NcRaftStorage), fake_last_index, fake_term_at, fake_entries,
};

static void
test_new_rejects_bad_config_and_restore (void)
{
  g_autoptr (NcRaftMembership) m = nc_raft_membership_new ();
  nc_raft_membership_set (m, "a", "127.0.0.11:7688", TRUE);
  NcRaftConfig cfg = {
    .struct_size = sizeof cfg, .id = "a", .election_ticks_min = 10, .election_ticks_max = 20,
    .heartbeat_ticks = 2, .storage = &fake_storage,
  };
  NcRaftPersistent p = { .term = 1, .membership = m, .last_index = 3, .last_term = 1 };
  g_autoptr (GError) error = NULL;
  fake_last = 3;
  g_autoptr (NcRaft) ok = nc_raft_new (&cfg, &p, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ok);
  g_assert_cmpuint (nc_raft_last_index (ok), ==, 3);

  /* the storage lost the tail the hard state talks about */
  fake_last = 2;
  g_assert_null (nc_raft_new (&cfg, &p, &error));
  g_assert_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_STORAGE);
  g_clear_error (&error);
  fake_last = 3;

  /* heartbeat must be shorter than the election timeout */
  cfg.heartbeat_ticks = 10;
  g_assert_null (nc_raft_new (&cfg, &p, &error));
  g_assert_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID);
  g_clear_error (&error);
  cfg.heartbeat_ticks = 2;

  /* a single voter elects itself and commits only after its log is durable */
  for (guint i = 0; i < 25 && nc_raft_role (ok) != NC_RAFT_LEADER; i++)
    nc_raft_tick (ok);
  g_assert_cmpint (nc_raft_role (ok), ==, NC_RAFT_LEADER);
  NcRaftReady rd;
  g_assert_true (nc_raft_ready (ok, &rd));
  g_assert_true (rd.has_hard_state);
  g_assert_cmpuint (rd.entries->len, ==, 1); /* the term's no-op */
  g_assert_cmpint (((NcRaftEntry *) g_ptr_array_index (rd.entries, 0))->type, ==, NC_RAFT_ENTRY_NOOP);
  guint64 noop = ((NcRaftEntry *) g_ptr_array_index (rd.entries, 0))->index;
  nc_raft_hard_state_persisted (ok, rd.hard_state.term, rd.hard_state.vote);
  nc_raft_advance (ok, &rd);
  nc_raft_ready_clear (&rd);
  fake_last = noop; /* appended */
  fake_tail_term = nc_raft_term (ok);
  g_assert_cmpuint (nc_raft_commit_index (ok), <, noop);
  nc_raft_persisted (ok, noop, nc_raft_term (ok));
  g_assert_cmpuint (nc_raft_commit_index (ok), ==, noop);
}

static void
test_membership_codec (void)
{
  g_autoptr (NcRaftMembership) m = nc_raft_membership_new ();
  nc_raft_membership_set (m, "node-2", "node2:7688", TRUE);
  nc_raft_membership_set (m, "node-1", "node1:7688", TRUE);
  nc_raft_membership_set (m, "node-4", "node4:7688", FALSE);
  g_autoptr (GBytes) b = nc_raft_membership_encode (m);
  g_autoptr (GError) error = NULL;
  g_autoptr (NcRaftMembership) d = nc_raft_membership_decode (b, &error);
  g_assert_no_error (error);
  g_assert_true (nc_raft_membership_equal (m, d));
  g_assert_cmpstr (nc_raft_membership_id (d, 0), ==, "node-1");
  g_assert_cmpuint (nc_raft_membership_n_voters (d), ==, 2);
  g_assert_false (nc_raft_membership_is_voter (d, "node-4"));
  /* every truncation of a valid encoding is rejected, never read past */
  gsize n;
  const guint8 *p = g_bytes_get_data (b, &n);
  for (gsize len = 0; len < n; len++)
    {
      g_autoptr (GBytes) cut = g_bytes_new (p, len);
      g_autoptr (NcRaftMembership) bad = nc_raft_membership_decode (cut, &error);
      g_assert_null (bad);
      g_assert_error (error, NC_RAFT_ERROR, NC_RAFT_ERROR_INVALID);
      g_clear_error (&error);
    }
}


/* ------------------------------------------------ linearizability checker */

static void
test_lin_checker (void)
{
  /* w1 completes, then a read starts and returns the initial value: stale */
  LinOp stale[] = {
    { LIN_WRITE, 1, 1, 2, 0 },
    { LIN_READ, 0, 3, 4, 1 },
  };
  g_assert_cmpint (lin_check_register (stale, 2, 0, 10000, NULL), ==, LIN_VIOLATION);
  /* overlapping: the read may see either */
  LinOp overlap[] = {
    { LIN_WRITE, 1, 1, 4, 0 },
    { LIN_READ, 0, 2, 3, 1 },
    { LIN_READ, 1, 5, 6, 1 },
  };
  g_assert_cmpint (lin_check_register (overlap, 3, 0, 10000, NULL), ==, LIN_OK);
  /* a write with unknown outcome may take effect late... */
  LinOp pending[] = {
    { LIN_WRITE, 7, 1, LIN_PENDING, 0 },
    { LIN_READ, 0, 2, 3, 1 },
    { LIN_READ, 7, 10, 11, 1 },
  };
  g_assert_cmpint (lin_check_register (pending, 3, 0, 10000, NULL), ==, LIN_OK);
  /* ...but not before it was invoked, and values cannot flip back */
  LinOp flip[] = {
    { LIN_WRITE, 1, 1, 2, 0 },
    { LIN_WRITE, 2, 3, 4, 0 },
    { LIN_READ, 2, 5, 6, 1 },
    { LIN_READ, 1, 7, 8, 2 },
  };
  g_assert_cmpint (lin_check_register (flip, 4, 0, 10000, NULL), ==, LIN_VIOLATION);
}

/* ------------------------------------------------------ seeded regression */

static void
test_random_seeds_smoke (void)
{
  /* a handful of full random runs, so the scenario binary alone exercises
   * crashes, partitions and the linearizability checker */
  for (guint64 seed = 1; seed <= 20; seed++)
    {
      SimOptions o;
      sim_options_default (&o, seed % 2 ? 3 : 5, seed);
      o.random_faults = TRUE;
      o.workload = TRUE;
      o.drop_pct = 5;
      o.dup_pct = 2;
      o.delay_max = 3;
      o.compact_every = 15;
      Sim *sim = sim_new (&o);
      sim_run (sim, 500);
      sim_settle (sim, 800);
      gboolean inconclusive = FALSE;
      if (sim_failure (sim) == NULL)
        sim_check_linearizable (sim, &inconclusive);
      if (sim_failure (sim))
        g_test_message ("seed %" G_GUINT64_FORMAT ": %s", seed, sim_failure (sim));
      g_assert_null (sim_failure (sim));
      g_assert_cmpuint (sim_ops_ok (sim), >, 0);
      sim_free (sim);
    }
}

/* Issue #7, the raft-amnesia cluster test in the simulator: leader A,
 * followers B and C, all FORMED. B crashes; X commits on A and C; A is cut
 * off; C loses its disk and restarts empty; B restarts without X. B and C
 * are a majority. Returns the leader completeness failure, if any, and
 * whether B or C led while A was away. */
static gboolean
run_wiped_voter (gboolean mutant, char **failure)
{
  SimOptions o = quiet_options (3, 77);
  o.mutant_amnesiac_votes = mutant;
  Sim *sim = sim_new (&o);
  gint a = elect (sim);
  sim_run (sim, 20);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpint (sim_disk_history (sim, i), ==, NC_RAFT_HISTORY_FORMED);
  guint b = (a + 1) % 3, c = (a + 2) % 3;
  sim_crash (sim, b);
  guint64 x;
  g_autoptr (GError) error = NULL;
  g_assert_true (sim_propose (sim, a, 4242, &x, &error));
  wait_applied (sim, x, (1u << a) | (1u << c), 200);

  sim_isolate (sim, a);
  sim_wipe (sim, c);
  g_assert_cmpint (sim_disk_history (sim, c), ==, mutant ? NC_RAFT_HISTORY_FORMED : NC_RAFT_HISTORY_NEW);
  sim_restart (sim, b);
  gboolean led_without_a = FALSE;
  for (guint t = 0; t < 400; t++)
    {
      sim_step (sim);
      for (guint i = 0; i < 3; i++)
        if (i != (guint) a && sim_is_up (sim, i) && nc_raft_role (sim_raft (sim, i)) == NC_RAFT_LEADER)
          led_without_a = TRUE;
    }
  if (!mutant)
    {
      /* A comes back: it (or B, once B has X) leads; C catches up. */
      g_assert_null (sim_failure (sim));
      g_assert_true (sim_settle (sim, 1500));
      for (guint i = 0; i < 3; i++)
        {
          g_assert_cmpuint (sim_applied (sim, i), >=, x);
          g_assert_cmpint (sim_disk_history (sim, i), ==, NC_RAFT_HISTORY_FORMED);
        }
      g_assert_true (sim_value_applied (sim, 4242));
    }
  *failure = g_strdup (sim_failure (sim));
  sim_free (sim);
  return led_without_a;
}

static void
test_wiped_voter_does_not_elect_leader_lacking_commit (void)
{
  g_autofree char *failure = NULL;
  gboolean led = run_wiped_voter (FALSE, &failure);
  g_assert_null (failure);
  g_assert_false (led);
}

static void
test_wiped_voter_mutant_caught (void)
{
  /* The voting rule before the fix (a wiped node votes like any member):
   * B wins with C's vote and the leader completeness checker says so. */
  g_autofree char *failure = NULL;
  gboolean led = run_wiped_voter (TRUE, &failure);
  g_assert_true (led);
  g_assert_nonnull (failure);
  g_assert_nonnull (strstr (failure, "leader completeness"));
}

/* A wiped follower that holds the log up to x-1 has commit index x-1 (from
 * heartbeats, min(commit, match), and from appends clamped to what it got)
 * while X at x is committed by the others: it must stay JOINING (not
 * FORMED) until it holds the leader's commit x, or its vote could elect a
 * leader without X. (Checked: a core that forms on its own commit index
 * fails here.) */
static guint64 hold_from;
static gint hold_to = -1;

static gboolean
hold_filter (Sim *sim, NcRaftMsg *m, gpointer data)
{
  if (m->type != NC_RAFT_MSG_APPEND_ENTRIES || hold_from == 0 || sim_node_index (sim, m->to) != hold_to)
    return TRUE;
  if (m->entries)
    while (m->entries->len > 0
           && ((NcRaftEntry *) g_ptr_array_index (m->entries, m->entries->len - 1))->index >= hold_from)
      g_ptr_array_remove_index (m->entries, m->entries->len - 1);
  return TRUE;
}

static void
test_wiped_follower_formed_only_with_leader_commit (void)
{
  SimOptions o = quiet_options (3, 78);
  Sim *sim = sim_new (&o);
  gint a = elect (sim);
  for (guint64 v = 1; v <= 5; v++)
    propose (sim, a, 100 + v);
  sim_run (sim, 30);
  guint c = (a + 2) % 3;
  guint64 x = nc_raft_last_index (sim_raft (sim, a)) + 1;
  hold_from = x;
  hold_to = (gint) c;
  sim_set_filter (sim, hold_filter, NULL);
  sim_wipe (sim, c);
  g_assert_cmpuint (propose (sim, a, 4343), ==, x);
  sim_run (sim, 200);
  g_assert_true (sim_value_applied (sim, 4343));
  g_assert_cmpuint (sim_applied (sim, c), ==, x - 1);
  g_assert_cmpuint (nc_raft_log_term (sim_raft (sim, c), x - 1), ==, nc_raft_term (sim_raft (sim, c)));
  g_assert_cmpint (nc_raft_history (sim_raft (sim, c)), ==, NC_RAFT_HISTORY_JOINING);
  hold_from = 0;
  wait_applied (sim, x, ALL (sim), 200);
  sim_run (sim, 10);
  g_assert_cmpint (nc_raft_history (sim_raft (sim, c)), ==, NC_RAFT_HISTORY_FORMED);
  g_assert_cmpint (sim_disk_history (sim, c), ==, NC_RAFT_HISTORY_FORMED);
  g_assert_null (sim_failure (sim));
  sim_free (sim);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nornic/raft/figure-8", test_figure_8);
  g_test_add_func ("/nornic/raft/vote-before-persist", test_vote_before_persist);
  g_test_add_func ("/nornic/raft/wiped-voter-does-not-elect-leader-lacking-commit",
                   test_wiped_voter_does_not_elect_leader_lacking_commit);
  g_test_add_func ("/nornic/raft/wiped-voter-mutant-caught", test_wiped_voter_mutant_caught);
  g_test_add_func ("/nornic/raft/wiped-follower-formed-only-with-leader-commit",
                   test_wiped_follower_formed_only_with_leader_commit);
  g_test_add_func ("/nornic/raft/stale-leader-after-partition", test_stale_leader_after_partition);
  g_test_add_func ("/nornic/raft/snapshot-while-entries-in-flight", test_snapshot_while_entries_in_flight);
  g_test_add_func ("/nornic/raft/remove-leader", test_remove_leader);
  g_test_add_func ("/nornic/raft/removed-follower-learns-and-stays-quiet", test_removed_follower_learns_and_stays_quiet);
  g_test_add_func ("/nornic/raft/concurrent-membership-changes-refused", test_concurrent_membership_changes_refused);
  g_test_add_func ("/nornic/raft/leadership-transfer", test_leadership_transfer);
  g_test_add_func ("/nornic/raft/pre-vote-prevents-disruption", test_pre_vote_prevents_disruption);
  g_test_add_func ("/nornic/raft/check-quorum-steps-down", test_check_quorum_steps_down);
  g_test_add_func ("/nornic/raft/proposals-batched", test_proposals_batched);
  g_test_add_func ("/nornic/raft/read-index-on-follower", test_read_index_on_follower);
  g_test_add_func ("/nornic/raft/fast-backtracking", test_fast_backtracking);
  g_test_add_func ("/nornic/raft/new-rejects-bad-config-and-restore", test_new_rejects_bad_config_and_restore);
  g_test_add_func ("/nornic/raft/membership-codec-rejects-truncation", test_membership_codec);
  g_test_add_func ("/nornic/raft/lin-checker-rejects-stale-reads", test_lin_checker);
  g_test_add_func ("/nornic/raft/random-seeds-smoke", test_random_seeds_smoke);
  return g_test_run ();
}
