/* Wing & Gong linearizability search for a register, with memoisation. */
#define G_LOG_DOMAIN "nornicdb-sim"

#include "lin.h"

#include <string.h>

#define WORDS (LIN_MAX_OPS / 64)

typedef struct {
  guint64 bits[WORDS];
  guint64 value;
} State;

typedef struct {
  const LinOp *ops; /* sorted by invoke */
  guint n;
  guint64 must[WORDS]; /* ops with a response: all must be linearized */
  GHashTable *memo;
  guint budget;
  guint explored;
  gboolean exhausted;
} Search;

static guint
state_hash (gconstpointer p)
{
  const State *s = p;
  guint64 h = s->value * 0x9E3779B97F4A7C15ull;
  for (guint i = 0; i < WORDS; i++)
    h = (h ^ s->bits[i]) * 0x100000001B3ull + (h >> 29);
  return (guint) (h ^ (h >> 32));
}

static gboolean
state_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (State)) == 0;
}

static gboolean
has (const guint64 *bits, guint i)
{
  return (bits[i / 64] >> (i % 64)) & 1;
}

static gboolean
search (Search *s, State *st)
{
  gboolean done = TRUE;
  for (guint w = 0; w < WORDS; w++)
    if ((st->bits[w] & s->must[w]) != s->must[w])
      {
        done = FALSE;
        break;
      }
  if (done)
    return TRUE;
  if (g_hash_table_contains (s->memo, st))
    return FALSE;
  if (s->explored >= s->budget)
    {
      s->exhausted = TRUE;
      return FALSE;
    }
  s->explored++;
  g_hash_table_add (s->memo, g_memdup2 (st, sizeof *st));

  /* An op can go next only if it was invoked before every pending
   * (unlinearized, completed) op returned. */
  guint64 min_ret = LIN_PENDING;
  for (guint i = 0; i < s->n; i++)
    if (!has (st->bits, i) && s->ops[i].ret < min_ret)
      min_ret = s->ops[i].ret;
  for (guint i = 0; i < s->n && s->ops[i].invoke < min_ret; i++)
    {
      if (has (st->bits, i))
        continue;
      const LinOp *op = &s->ops[i];
      if (op->kind == LIN_READ && op->value != st->value)
        continue;
      State next = *st;
      next.bits[i / 64] |= G_GUINT64_CONSTANT (1) << (i % 64);
      if (op->kind == LIN_WRITE)
        next.value = op->value;
      if (search (s, &next))
        return TRUE;
      if (s->exhausted)
        return FALSE;
    }
  return FALSE;
}

static gint
cmp_invoke (gconstpointer a, gconstpointer b)
{
  const LinOp *x = a, *y = b;
  return x->invoke < y->invoke ? -1 : x->invoke > y->invoke ? 1 : 0;
}

LinResult
lin_check_register (const LinOp *ops, guint n_ops, guint64 initial, guint budget, guint *explored)
{
  if (explored)
    *explored = 0;
  if (n_ops > LIN_MAX_OPS)
    return LIN_INCONCLUSIVE;
  g_autofree LinOp *sorted = g_memdup2 (ops, sizeof (LinOp) * MAX (n_ops, 1));
  qsort (sorted, n_ops, sizeof (LinOp), cmp_invoke);
  Search s = { .ops = sorted, .n = n_ops, .budget = budget };
  for (guint i = 0; i < n_ops; i++)
    if (sorted[i].ret != LIN_PENDING)
      s.must[i / 64] |= G_GUINT64_CONSTANT (1) << (i % 64);
  s.memo = g_hash_table_new_full (state_hash, state_equal, g_free, NULL);
  State st = { .value = initial };
  gboolean ok = search (&s, &st);
  g_hash_table_unref (s.memo);
  if (explored)
    *explored = s.explored;
  if (ok)
    return LIN_OK;
  return s.exhausted ? LIN_INCONCLUSIVE : LIN_VIOLATION;
}
