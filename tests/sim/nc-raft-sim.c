/* nc-raft-sim: runs the Raft core under the deterministic simulator for a
 * range of seeds and prints, for each failing seed, the command that
 * replays it. */
#define G_LOG_DOMAIN "nornicdb-sim"

#include "sim.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
  guint64 ok_ops;
  guint64 inconclusive;
  guint64 history;
} Totals;

/* Per-seed variation: everything derives from the seed, so a seed replays. */
static void
options_for_seed (SimOptions *o, guint nodes, guint64 seed)
{
  sim_options_default (o, nodes, seed);
  guint64 x = seed * 0x9E3779B97F4A7C15ull + 7;
  x ^= x >> 31;
  o->drop_pct = x % 11;          /* 0-10 % */
  o->dup_pct = (x >> 8) % 6;     /* 0-5 % */
  o->delay_min = 1;
  o->delay_max = 1 + (x >> 16) % 4;
  o->persist_delay_max = (x >> 20) % 4 == 0 ? 12 : (x >> 22) % 5;
  /* Safety must hold without pre-vote and check-quorum too. */
  gboolean plain = (x >> 24) % 5 == 0;
  o->pre_vote = !plain;
  o->check_quorum = !plain;
  o->max_entries = 1 + (x >> 28) % 6;
  o->max_inflight = 1 + (x >> 32) % 4;
  o->compact_every = 8 + (x >> 36) % 30;
  o->membership_changes = !plain && (x >> 42) % 2 == 0;
  o->crash_per_mille = 3 + (x >> 44) % 8;
  o->wipe_per_mille = 1 + (x >> 48) % 3;
  o->random_faults = TRUE;
  o->workload = TRUE;
}

static gboolean
run_seed (guint nodes, guint64 seed, guint steps, gboolean verbose, gboolean mutant, gboolean mutant_amnesia, Totals *t,
          char **failure)
{
  SimOptions o;
  options_for_seed (&o, nodes, seed);
  o.verbose = verbose;
  o.mutant_send_before_persist = mutant;
  o.mutant_amnesiac_votes = mutant_amnesia;
  Sim *sim = sim_new (&o);
  sim_run (sim, steps);
  if (sim_failure (sim) == NULL)
    sim_settle (sim, 800);
  gboolean inconclusive = FALSE;
  if (sim_failure (sim) == NULL)
    sim_check_linearizable (sim, &inconclusive);
  t->ok_ops += sim_ops_ok (sim);
  t->history += sim_history_size (sim);
  t->inconclusive += inconclusive;
  gboolean ok = sim_failure (sim) == NULL;
  if (!ok)
    *failure = g_strdup (sim_failure (sim));
  if (verbose)
    fprintf (stderr, "seed %" G_GUINT64_FORMAT ": %u ops in history, %u acknowledged%s\n", seed,
             sim_history_size (sim), sim_ops_ok (sim), inconclusive ? " (linearizability inconclusive)" : "");
  sim_free (sim);
  return ok;
}

static void
quiet_log (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  /* service messages of the core (elections, step-downs) are noise here */
}

static gboolean
parse_range (const char *s, guint64 *a, guint64 *b)
{
  char *end;
  *a = g_ascii_strtoull (s, &end, 10);
  if (end == s)
    return FALSE;
  if (*end == '\0')
    {
      *b = *a;
      return TRUE;
    }
  if (end[0] != '.' || end[1] != '.')
    return FALSE;
  const char *s2 = end + 2;
  *b = g_ascii_strtoull (s2, &end, 10);
  return end != s2 && *end == '\0' && *b >= *a;
}

int
main (int argc, char **argv)
{
  g_autofree char *seeds = NULL;
  gint64 seed = -1;
  gint nodes = 0;
  gint steps = 0;
  gboolean verbose = FALSE, longrun = FALSE, mutant = FALSE, mutant_amnesia = FALSE;
  GOptionEntry entries[] = {
    { "seeds", 0, 0, G_OPTION_ARG_STRING, &seeds, "Seed range A..B (default 1..600 per node count)", "A..B" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Run one seed", "N" },
    { "nodes", 0, 0, G_OPTION_ARG_INT, &nodes, "Cluster size: 3 or 5 (default: both)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Virtual ticks per seed before settling (default 600)", "N" },
    { "long", 0, 0, G_OPTION_ARG_NONE, &longrun, "Many more seeds and steps", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Trace events of the run", NULL },
    { "mutant-amnesiac-votes", 0, 0, G_OPTION_ARG_NONE, &mutant_amnesia,
      "A wiped node restarts voting as if it had never lost its log (the bug of issue #7; expects failures)", NULL },
    { "mutant-send-before-persist", 0, 0, G_OPTION_ARG_NONE, &mutant,
      "Broken glue that sends before persisting (expects failures)", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- deterministic Raft simulation");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "nc-raft-sim: %s\n", error->message);
      return 2;
    }
  if (nodes != 0 && nodes != 3 && nodes != 5)
    {
      fprintf (stderr, "nc-raft-sim: --nodes must be 3 or 5\n");
      return 2;
    }
  guint64 a = 1, b = longrun ? 20000 : 600;
  if (seeds && !parse_range (seeds, &a, &b))
    {
      fprintf (stderr, "nc-raft-sim: bad --seeds '%s' (want A..B)\n", seeds);
      return 2;
    }
  if (seed >= 0)
    a = b = (guint64) seed;
  if (steps <= 0)
    steps = longrun ? 3000 : 600;
  gint sizes[2] = { 3, 5 };
  guint n_sizes = 2;
  if (nodes)
    {
      sizes[0] = nodes;
      n_sizes = 1;
    }
  if (!verbose)
    g_log_set_handler ("nornicdb-raft", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG,
                       quiet_log, NULL);

  gint64 t0 = g_get_monotonic_time ();
  Totals t = { 0 };
  guint64 runs = 0, failures = 0;
  for (guint si = 0; si < n_sizes; si++)
    for (guint64 s = a; s <= b; s++)
      {
        g_autofree char *why = NULL;
        runs++;
        if (!run_seed (sizes[si], s, steps, verbose, mutant, mutant_amnesia, &t, &why))
          {
            failures++;
            printf ("FAIL seed %" G_GUINT64_FORMAT " nodes %d: %s\n  replay: %s --seed %" G_GUINT64_FORMAT
                    " --nodes %d --steps %d%s%s --verbose\n",
                    s, sizes[si], why, argv[0], s, sizes[si], steps, mutant ? " --mutant-send-before-persist" : "",
                    mutant_amnesia ? " --mutant-amnesiac-votes" : "");
            fflush (stdout);
          }
      }
  double secs = (g_get_monotonic_time () - t0) / 1e6;
  printf ("%" G_GUINT64_FORMAT " runs (%" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ", %d steps), %" G_GUINT64_FORMAT
          " failed; %" G_GUINT64_FORMAT " client ops acknowledged, %" G_GUINT64_FORMAT
          " in histories, %" G_GUINT64_FORMAT " linearizability checks inconclusive; %.1f s\n",
          runs, a, b, steps, failures, t.ok_ops, t.history, t.inconclusive, secs);
  return failures ? 1 : 0;
}
