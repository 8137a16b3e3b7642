/* The in-memory MVCC property graph store (see store.h for the model).
 *
 * Layout
 * - Node and relationship slots live in growable arrays indexed by id. Each
 *   slot points at a newest-first chain of versions. A version carries its
 *   commit index (NC_LSN_PENDING while its writer is open), a tombstone flag,
 *   the node's sorted labels (inline) and an immutable, shared property map
 *   keyed by property name.
 * - Relationship type and endpoints never change, so they live in the slot,
 *   with a mirror of the head version's index and tombstone flag.
 * - Mirrors of each node's head version for scans and expands: a dense
 *   "hot" array (head index, tombstone, label count, first label) and up to
 *   MAX_COLUMNS property columns (one key's value for every node), created
 *   on first use and kept by node_sync on every write path. They answer
 *   only when the head is the version a transaction sees; otherwise the
 *   chain is walked as before.
 * - Adjacency: per node, compact arrays of (rel, other node), appended
 *   at creation and never shrunk except on rollback; readers filter by the
 *   relationship's visibility.
 * - Per-label bitsets of "nodes that ever had the label" make label scans
 *   cheap; property indexes are GTrees of (value, node id). Both are only
 *   ever added to; every lookup re-checks the visible version, so stale
 *   entries are harmless.
 *
 * Locking
 * - `lock` (StoreLock: a read-write lock that prefers writers) guards
 *   slots, chains, the hot array and columns, adjacency, bitsets, indexes,
 *   schema and counts. Reads take it shared for one call or one cursor
 *   batch (not the writer's reads: see txn_read_lock); each mutation takes
 *   it exclusively for that mutation only. No read-locked region calls
 *   anything that takes it again (that would deadlock behind a waiting
 *   writer).
 * - The single-writer rule is a flag + condition variable (not a held
 *   mutex), so a transaction may begin on one thread and commit on another.
 * - `readers_mutex` guards the visible index and the multiset of active
 *   reader snapshots used to decide which versions can be pruned.
 * - `tokens_lock` guards the token tables. Lock order: lock, then
 *   readers_mutex or tokens_lock; never the reverse.
 *
 * Replacing the store (a follower installing its leader's snapshot)
 * - nc_store_clear frees every slot, chain, adjacency list and schema entry
 *   while read transactions may still be open. A transaction's snapshot
 *   index and a cursor's positions and caps mean nothing in the next store,
 *   so the store carries a generation, bumped by every clear (under `lock`
 *   exclusively and readers_mutex), and every transaction records the
 *   generation it began in. Reads of a transaction whose generation is not
 *   the store's see nothing (node_visible / rel_visible, checked under the
 *   same lock a clear takes exclusively), cursors end at their next batch,
 *   and nc_txn_check_store tells the engine to fail with a transient error.
 * - Index objects are reference counted, so a cursor's Index outlives the
 *   clear that dropped its schema entry; everything else a cursor keeps is
 *   an id or a position, only used after the generation check.
 * - Between nc_store_begin_install and nc_store_end_install the store is
 *   empty or half loaded: readers that begin then get a generation that
 *   never matches (they fail too), writers (the load itself) read normally.
 */
#define G_LOG_DOMAIN "nornicdb-store"
#define _GNU_SOURCE /* PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP */
#include "store.h"
#include "errors.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (nc-store-error-quark, nc_store_error)

#define NC_LSN_PENDING (G_MAXUINT64 - 1)
#define CURSOR_BATCH 256
/* Slots examined per lock acquisition when few of them match. */
#define CURSOR_SCAN_LIMIT 4096
#define DEFAULT_DUMP_BATCH 1024

/* ---- data structures ------------------------------------------------------- */

typedef struct Version Version;
struct Version {
  Version *older;
  NcLsn lsn;
  NcMap *props;      /* NULL when the entity has no properties */
  guint32 n_labels;  /* nodes only */
  guint32 tomb : 1;
  guint32 pool : 2;   /* 0: malloc; else the store's pools[pool - 1] */
  NcToken labels[];  /* sorted */
};

/* Versions without labels (every relationship version) and with one label
 * (most nodes) come from two pools of fixed-size blocks: a free list avoids
 * malloc's per-block overhead, which is a third of their size, and the
 * versions of nodes created one after another lie one after another, so a
 * label scan reads them as a stream the hardware prefetcher follows (with
 * malloc they were interleaved with every other allocation of the load and
 * a scan waited on each). Only touched under the store lock held for
 * writing. */
#define N_POOLS 2
typedef struct {
  gsize elem;
  GPtrArray *chunks;
  gpointer free_list;
  guint8 *bump;
  gsize bump_left;
} VersionPool;

#define POOL_CHUNK_VERSIONS 2048

/* The relationship's type is read from its slot, which the visibility
 * check touches anyway (same cache line), keeping entries at 16 bytes. */
typedef struct {
  gint64 rel;
  gint64 other;
} AdjEntry;

typedef struct {
  AdjEntry *v;
  guint32 len;
  guint32 cap;
} AdjList;

typedef struct {
  Version *head;
  AdjList out;
  AdjList in;
} NodeSlot;

/* What a scan or an expand asks of a node, mirrored from its head version
 * (node_sync) into a dense array beside the slots: when the head is the
 * version a transaction sees (the writer's, or committed at or before a
 * reader's snapshot: nearly always) its visibility and labels are read
 * here and its properties from the columns, without loading the version
 * or its property map, which lie elsewhere in memory (two cache misses per
 * node of a scan or an expand's far end). Nodes with more than one label
 * keep only their count here: their label checks read the version. */
typedef struct {
  NcLsn lsn;                 /* head->lsn; 0 without a head */
  guint32 tomb : 1;
  guint32 n_labels : 31;
  NcToken label0;            /* head->labels[0] when n_labels >= 1 */
} NodeHot;

/* A property column: the value of one key in every node's head version,
 * indexed by node id (a null value when absent, deleted or without a head).
 * Created on first use by a scan's fetch or filter or an expand's filter
 * on that key (column_create), then kept by node_sync. At most
 * MAX_COLUMNS: further keys are read from the versions. */
#define MAX_COLUMNS 8
typedef struct {
  NcToken key;
  const NcString *key_str;
  NcValue *vals;             /* nodes_cap entries */
} Column;

typedef struct {
  /* head->lsn and head->tomb, mirrored (rel_sync), so that a visibility
   * check whose answer is the head (the writer's, and a reader's once the
   * head is committed at or before its snapshot: nearly always) does not
   * load the version: one cache miss less per relationship an expand
   * walks. First in the slot with the type, which the expand reads too, so
   * that they share a cache line for seven slots in eight. */
  NcLsn head_lsn;
  NcToken type;
  guint32 dead;
  Version *head;
  gint64 start;
  gint64 end;
} RelSlot;

typedef struct {
  guint64 *words;
  gsize n_words;
} Bitset;

typedef struct {
  GPtrArray *names;          /* char*, owned; index = token */
  GHashTable *by_name;       /* name (borrowed from names) -> token + 1 */
} TokenTable;

typedef struct {
  NcValue value;
  gint64 id;
} IndexKey;

typedef struct {
  gint ref;
  GTree *tree;               /* IndexKey* -> NULL */
} Index;

typedef struct {
  NcSchemaKind kind;
  char *name;
  NcToken label;
  NcToken key;
  char *label_name;
  char *key_name;
  Index *index;
} Schema;

typedef struct {
  gboolean created;          /* TRUE: undo removes `name`; FALSE: undo re-adds `dropped` */
  char *name;
  Schema *dropped;
} SchemaUndo;

typedef struct {
  gboolean rel;
  gint64 id;
} PruneItem;

/* What one commit changed in the counts, so readers on a snapshot between
 * the visible and the applied index get exact counts without a scan. */
typedef struct {
  NcLsn lsn;
  gint64 d_nodes, d_rels;
  guint n_labels;
  NcToken *labels;
  gint64 *deltas;
} CountDelta;

#define COUNT_HISTORY_MAX 1024

/* The store's read-write lock. glibc's default rwlock (what GRWLock is on
 * Linux) prefers readers: a new reader gets in while a writer waits, so
 * threads reading back to back kept a write transaction's mutations out for
 * seconds (a unit test saw 32 write transactions in 10 s against three such
 * readers). This one prefers writers: once a writer waits, new readers
 * queue behind it. That deadlocks a thread that takes the read lock twice;
 * nothing here does (every read-locked region calls no function that locks
 * again), and the lock never leaves this file. */
typedef struct {
  pthread_rwlock_t rw;
} StoreLock;

static void
lock_init (StoreLock *l)
{
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init (&attr);
  pthread_rwlockattr_setkind_np (&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init (&l->rw, &attr);
  pthread_rwlockattr_destroy (&attr);
}

static void
lock_clear (StoreLock *l)
{
  pthread_rwlock_destroy (&l->rw);
}

static inline void
lock_read (StoreLock *l)
{
  int r;
  while ((r = pthread_rwlock_rdlock (&l->rw)) == EAGAIN)
    ;
  g_assert (r == 0);
}

static inline void
unlock_read (StoreLock *l)
{
  pthread_rwlock_unlock (&l->rw);
}

static inline void
lock_write (StoreLock *l)
{
  int r = pthread_rwlock_wrlock (&l->rw);
  g_assert (r == 0);
}

static inline void
unlock_write (StoreLock *l)
{
  pthread_rwlock_unlock (&l->rw);
}

struct _NcStore {
  StoreLock lock;            /* see lock_init: prefers writers */
  NodeSlot *nodes;
  NodeHot *hot;              /* nodes_cap entries, by node id */
  Column *columns[MAX_COLUMNS];
  gint n_columns;            /* atomic: a column is complete before it is counted */
  gint64 nodes_len;          /* slots in use: ids < nodes_len */
  gint64 nodes_cap;
  RelSlot *rels;
  gint64 rels_len;
  gint64 rels_cap;
  gint64 next_node;
  gint64 next_rel;
  GPtrArray *label_bits;     /* Bitset* by label token, NULL when never used */
  GPtrArray *schema;         /* Schema* */
  /* counts at the head of every chain (the writer's view) and as of the
   * last commit (the view of a reader whose snapshot is the applied index) */
  gint64 head_nodes, head_rels;
  GArray *head_labels;       /* gint64 by label token */
  gint64 committed_nodes, committed_rels;
  GArray *committed_labels;
  GArray *count_history;     /* CountDelta, ascending lsn */
  NcLsn count_floor;         /* every commit with an index above it is in count_history */
  NcLsn applied;
  GArray *prune_queue;       /* PruneItem: slots whose chains may still shrink */
  VersionPool pools[N_POOLS]; /* versions with 0 and 1 labels */

  GMutex writer_mutex;
  GCond writer_cond;
  gboolean writer_active;

  GMutex readers_mutex;
  NcLsn visible;
  GArray *reader_snaps;      /* sorted guint64 multiset */

  GRWLock tokens_lock;
  TokenTable tokens[3];
  /* NcString* by property-key token: every stored property map uses these
   * as its keys, so a million nodes share three key strings (memory) and a
   * property lookup compares pointers to hot strings (no cache miss per
   * key). Guarded by tokens_lock; they live as long as the store. */
  GPtrArray *key_strings;

  /* Bumped by each clear; written with `lock` held exclusively and
   * readers_mutex held, so either lock is enough to read it. */
  guint64 generation;
  gboolean installing;       /* between begin_install and end_install (readers_mutex) */
};

struct _NcTxn {
  NcStore *store;
  gboolean write;
  gboolean applying;         /* nc_store_apply_writeset: no constraint checks, no recording */
  NcLsn snapshot;
  NcWriteSet *ws;
  GArray *touched_nodes;     /* gint64: slots with a pending head version */
  GArray *touched_rels;
  GArray *created_rels;      /* gint64, to undo adjacency appends */
  gint64 d_nodes, d_rels;
  GArray *d_labels;          /* gint64 by label token */
  GPtrArray *schema_undo;    /* SchemaUndo* */
  GArray *deferred_deletes;  /* gint64: deleted nodes that had relationships */
  guint64 generation;        /* the store's generation at begin (GENERATION_RETIRED: never valid) */
};

/* A transaction that began while a snapshot was being installed. */
#define GENERATION_RETIRED G_MAXUINT64

typedef enum {
  CUR_NODES,
  CUR_NODES_LABEL,
  CUR_RELS,
  CUR_EXPAND,
  CUR_INDEX,
  CUR_FILTER,                /* label scan + property filter (no index) */
} CursorKind;

typedef enum { MATCH_EQUAL, MATCH_RANGE, } MatchKind;

struct _NcCursor {
  NcTxn *txn;
  CursorKind kind;
  gboolean done;
  gint64 pos;
  gint64 cap;                /* ids (or adjacency entries) at creation */
  gint64 cap_in;
  guint buf_len, buf_pos;
  guint buf_cap;             /* grows to CURSOR_BATCH: most cursors are short */
  gint64 *buf;
  gint64 *other;
  /* nc_cursor_fetch_prop: the property of each node of the batch */
  const NcString *fetch_str;
  const Column *fetch_col;   /* the column of fetch_str, when there is one */
  const Column *key_col;     /* the column of key_str (filters), when there is one */
  NcValue *vals;             /* buf_cap entries when fetching, else NULL */
  gboolean *fetched;         /* vals[i] was read for buf[i] */
  NcNodeId last_other;
  NcToken token;             /* label or rel type */
  /* property matching */
  MatchKind match;
  NcToken key;
  char *key_name;
  const NcString *key_str;   /* interned key string of `key` */
  NcValue value;             /* MATCH_EQUAL */
  NcValue lower, upper;      /* MATCH_RANGE; NULL type = unbounded */
  gboolean lower_inclusive, upper_inclusive;
  Index *index;
  gboolean have_resume;
  IndexKey resume;
  /* expand */
  NcNodeId node;
  NcDirection dir;
  int phase;                 /* 0 = outgoing list, 1 = incoming list */
  NcToken *types;
  guint n_types;
};

/* ---- small helpers ------------------------------------------------------- */

static void
set_not_found (GError **error, gboolean rel, gint64 id)
{
  g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_NOT_FOUND,
               "Unable to load %s with id %" G_GINT64_FORMAT ".",
               rel ? "RELATIONSHIP" : "NODE", id);
}

static void
set_deleted (GError **error, gboolean rel, gint64 id)
{
  g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_NOT_FOUND,
               "%s with id %" G_GINT64_FORMAT " has been deleted in this transaction",
               rel ? "Relationship" : "Node", id);
}

static gboolean
check_write (NcTxn *txn, GError **error)
{
  if (!txn->write)
    {
      g_set_error_literal (error, NC_STORE_ERROR, NC_STORE_ERROR_READ_ONLY,
                           "Writing in read access mode not allowed.");
      return FALSE;
    }
  return TRUE;
}

static void
counts_add (GArray *a, NcToken t, gint64 d)
{
  if (t >= a->len)
    g_array_set_size (a, t + 1);
  g_array_index (a, gint64, t) += d;
}

static gint64
counts_get (GArray *a, NcToken t)
{
  return t < a->len ? g_array_index (a, gint64, t) : 0;
}

static void
pool_init (VersionPool *p, gsize elem)
{
  p->elem = elem;
  p->chunks = g_ptr_array_new_with_free_func (g_free);
  p->free_list = NULL;
  p->bump = NULL;
  p->bump_left = 0;
}

static void
pool_destroy (VersionPool *p)
{
  g_ptr_array_unref (p->chunks);
  p->chunks = NULL;
}

static gsize
version_size (guint32 n_labels)
{
  return sizeof (Version) + (gsize) n_labels * sizeof (NcToken);
}

static Version *
pool_alloc (VersionPool *p)
{
  if (p->free_list != NULL)
    {
      gpointer v = p->free_list;
      p->free_list = *(gpointer *) v;
      return v;
    }
  if (p->bump_left == 0)
    {
      p->bump = g_malloc (POOL_CHUNK_VERSIONS * p->elem);
      p->bump_left = POOL_CHUNK_VERSIONS;
      g_ptr_array_add (p->chunks, p->bump);
    }
  Version *v = (Version *) p->bump;
  p->bump += p->elem;
  p->bump_left--;
  return v;
}

static Version *
version_new (NcStore *s, guint32 n_labels)
{
  Version *v;
#ifdef __SANITIZE_ADDRESS__
  /* plain malloc keeps use-after-free of versions visible to ASan */
  if (FALSE)
#else
  if (n_labels < N_POOLS)
#endif
    {
      v = pool_alloc (&s->pools[n_labels]);
      v->pool = n_labels + 1;
    }
  else
    {
      v = g_malloc (version_size (n_labels));
      v->pool = 0;
    }
  v->older = NULL;
  v->lsn = NC_LSN_PENDING;
  v->props = NULL;
  v->n_labels = n_labels;
  v->tomb = FALSE;
  return v;
}

static void
version_free (NcStore *s, Version *v)
{
  if (v->props)
    nc_map_unref (v->props);
  if (v->pool != 0)
    {
      /* by the pool it came from: removing a label shrinks n_labels in place */
      VersionPool *p = &s->pools[v->pool - 1];
      *(gpointer *) v = p->free_list;
      p->free_list = v;
    }
  else
    g_free (v);
}

static void
chain_free (NcStore *s, Version *v)
{
  while (v)
    {
      Version *o = v->older;
      version_free (s, v);
      v = o;
    }
}

static gboolean
version_has_label (const Version *v, NcToken label)
{
  for (guint32 i = 0; i < v->n_labels; i++)
    if (v->labels[i] == label)
      return TRUE;
  return FALSE;
}

/* Shared lock for one read or one cursor batch. A write transaction reads
 * without it: every exclusive holder of `lock` is either the writer itself
 * (its mutations) or an operation that requires no write transaction to be
 * open (apply_writeset, truncate, clear), so nothing else can change the
 * store under the writer, and a transaction is used by one thread at a time.
 * Bolt auto-commit queries in WRITE sessions run as write transactions, so
 * this removes two atomic operations per property read from their scans. */
static inline void
txn_read_lock (const NcTxn *txn)
{
  if (!txn->write)
    lock_read (&txn->store->lock);
}

static inline void
txn_read_unlock (const NcTxn *txn)
{
  if (!txn->write)
    unlock_read (&txn->store->lock);
}

/* The version `txn` sees in a chain: the head for the writer, else the
 * newest version committed at or before the snapshot. NULL when invisible. */
static Version *
visible (Version *v, const NcTxn *txn)
{
  if (txn->write)
    return (v != NULL && !v->tomb) ? v : NULL;
  for (; v != NULL; v = v->older)
    if (v->lsn <= txn->snapshot)
      return v->tomb ? NULL : v;
  return NULL;
}

/* FALSE once the store was cleared since the transaction began: its ids,
 * snapshot index and cursor positions refer to a store that is gone.
 * Caller holds `lock` (or is the writer, which a clear waits for). */
static inline gboolean
txn_current (const NcTxn *txn)
{
  return txn->generation == txn->store->generation;
}

static Version *
node_visible (NcStore *s, const NcTxn *txn, gint64 id)
{
  if (id < 0 || id >= s->nodes_len || G_UNLIKELY (!txn_current (txn)))
    return NULL;
  return visible (s->nodes[id].head, txn);
}

static Version *
rel_visible (NcStore *s, const NcTxn *txn, gint64 id)
{
  if (id < 0 || id >= s->rels_len || G_UNLIKELY (!txn_current (txn)))
    return NULL;
  const RelSlot *r = &s->rels[id];
  if (txn->write || r->head_lsn <= txn->snapshot)
    return r->dead ? NULL : r->head;
  return visible (r->head, txn);
}

/* The value of `ks` in a version's map, borrowed; NULL when absent. Every
 * stored property map uses the store's interned key strings (see
 * map_storable_copy and do_set_prop), so a key is found by pointer: a
 * string compare per entry was a cache miss per key per node in scans. */
static inline const NcValue *
prop_ref (const Version *v, const NcString *ks)
{
  const NcMap *m = v->props;
  if (m != NULL)
    for (guint32 i = 0; i < m->len; i++)
      if (m->entries[i].key == ks)
        return &m->entries[i].value;
  return NULL;
}

/* Replaces *slot (a column entry or a cursor's fetched value) with a copy
 * of *pv, or null when pv is NULL. Null, booleans and numbers own nothing:
 * no call to copy or clear them, which scans do once per node. */
static inline void
value_store (NcValue *slot, const NcValue *pv)
{
  if (slot->type > NC_VALUE_FLOAT)
    nc_value_clear (slot);
  if (pv == NULL)
    *slot = nc_value_null ();
  else
    *slot = pv->type <= NC_VALUE_FLOAT ? *pv : nc_value_copy (pv);
}

/* After any change of a node's head version, of its content or of its lsn:
 * mirrors it into the hot array and every column. Caller holds the lock
 * exclusively (or is the writer, for a store nobody else can see). */
static void
node_sync (NcStore *s, gint64 id)
{
  const Version *h = s->nodes[id].head;
  NodeHot *hot = &s->hot[id];
  hot->lsn = h != NULL ? h->lsn : 0;
  hot->tomb = h != NULL && h->tomb;
  hot->n_labels = h != NULL ? h->n_labels : 0;
  hot->label0 = h != NULL && h->n_labels > 0 ? h->labels[0] : NC_TOKEN_NONE;
  for (gint i = 0; i < s->n_columns; i++)
    {
      Column *c = s->columns[i];
      value_store (&c->vals[id], h != NULL && !h->tomb ? prop_ref (h, c->key_str) : NULL);
    }
}

/* The column of `ks`, or NULL. Lock-free: columns are only ever added,
 * each complete before it is counted. */
static inline const Column *
column_of (NcStore *s, const NcString *ks)
{
  gint n = g_atomic_int_get (&s->n_columns);
  for (gint i = 0; i < n; i++)
    if (s->columns[i]->key_str == ks)
      return s->columns[i];
  return NULL;
}

/* Creates the column of `key` (filled from every head) unless it exists or
 * MAX_COLUMNS are in use; returns it or NULL. Takes the lock exclusively:
 * the caller holds no lock. A writer may be open (this may be it): it
 * reads columns without the lock, and sees this one only once complete. */
static const Column *
column_create (NcStore *s, NcToken key, const NcString *ks)
{
  if (ks == NULL)
    return NULL;
  /* under the lock: a clear frees the columns */
  lock_read (&s->lock);
  const Column *c = column_of (s, ks);
  gboolean full = s->n_columns >= MAX_COLUMNS;
  unlock_read (&s->lock);
  if (c != NULL || full)
    return c;
  lock_write (&s->lock);
  c = column_of (s, ks);
  if (c == NULL && s->n_columns < MAX_COLUMNS)
    {
      Column *nc = g_new0 (Column, 1);
      nc->key = key;
      nc->key_str = ks;
      nc->vals = g_new0 (NcValue, MAX (s->nodes_cap, 1));
      for (gint64 id = 0; id < s->nodes_len; id++)
        {
          const Version *h = s->nodes[id].head;
          value_store (&nc->vals[id], h != NULL && !h->tomb ? prop_ref (h, ks) : NULL);
        }
      s->columns[s->n_columns] = nc;
      g_atomic_int_set (&s->n_columns, s->n_columns + 1);
      c = nc;
    }
  unlock_write (&s->lock);
  return c;
}

static void
columns_free (NcStore *s)
{
  for (gint i = 0; i < s->n_columns; i++)
    {
      Column *c = s->columns[i];
      for (gint64 id = 0; id < s->nodes_len; id++)
        nc_value_clear (&c->vals[id]);
      g_free (c->vals);
      g_free (c);
      s->columns[i] = NULL;
    }
  g_atomic_int_set (&s->n_columns, 0);
}

/* The head of node `id` when it is the version `txn` sees and its labels
 * are all in the hot array: fills *hot and returns TRUE. Caller checked
 * the id and the generation (node_visible's first line). */
static inline gboolean
node_hot (NcStore *s, const NcTxn *txn, gint64 id, const NodeHot **hot)
{
  const NodeHot *h = &s->hot[id];
  *hot = h;
  return (txn->write || h->lsn <= txn->snapshot) && h->n_labels <= 1;
}

/* After any change of a relationship's head version or of its lsn. A slot
 * without a head has head_lsn 0 and head NULL: invisible either way. */
static inline void
rel_sync (NcStore *s, gint64 id)
{
  RelSlot *r = &s->rels[id];
  r->dead = r->head != NULL && r->head->tomb;
  r->head_lsn = r->head != NULL ? r->head->lsn : 0;
}

/* ---- tokens -------------------------------------------------------------- */

NcToken
nc_store_token (NcStore *store, NcTokenKind kind, const char *name, gboolean create)
{
  g_return_val_if_fail (kind <= NC_TOKEN_PROP_KEY && name != NULL, NC_TOKEN_NONE);
  TokenTable *t = &store->tokens[kind];
  gpointer found;

  g_rw_lock_reader_lock (&store->tokens_lock);
  found = g_hash_table_lookup (t->by_name, name);
  g_rw_lock_reader_unlock (&store->tokens_lock);
  if (found != NULL)
    return GPOINTER_TO_UINT (found) - 1;
  if (!create)
    return NC_TOKEN_NONE;

  g_rw_lock_writer_lock (&store->tokens_lock);
  found = g_hash_table_lookup (t->by_name, name);
  NcToken tok;
  if (found != NULL)
    tok = GPOINTER_TO_UINT (found) - 1;
  else
    {
      char *copy = g_strdup (name);
      tok = t->names->len;
      g_ptr_array_add (t->names, copy);
      g_hash_table_insert (t->by_name, copy, GUINT_TO_POINTER (tok + 1));
      if (kind == NC_TOKEN_PROP_KEY)
        g_ptr_array_add (store->key_strings, nc_string_new (copy, strlen (copy)));
    }
  g_rw_lock_writer_unlock (&store->tokens_lock);
  return tok;
}

const char *
nc_store_token_name (NcStore *store, NcTokenKind kind, NcToken tok)
{
  const char *name = NULL;
  g_return_val_if_fail (kind <= NC_TOKEN_PROP_KEY, NULL);
  g_rw_lock_reader_lock (&store->tokens_lock);
  if (tok < store->tokens[kind].names->len)
    name = g_ptr_array_index (store->tokens[kind].names, tok);
  g_rw_lock_reader_unlock (&store->tokens_lock);
  return name;
}

guint
nc_store_token_count (NcStore *store, NcTokenKind kind)
{
  guint n;
  g_rw_lock_reader_lock (&store->tokens_lock);
  n = store->tokens[kind].names->len;
  g_rw_lock_reader_unlock (&store->tokens_lock);
  return n;
}

/* The interned key string of a property key (borrowed, lives as long as
 * the store); creates the token when needed. */
static NcString *
key_string (NcStore *s, const char *name)
{
  NcToken tok = nc_store_token (s, NC_TOKEN_PROP_KEY, name, TRUE);
  NcString *out = NULL;
  g_rw_lock_reader_lock (&s->tokens_lock);
  if (tok < s->key_strings->len)
    out = g_ptr_array_index (s->key_strings, tok);
  g_rw_lock_reader_unlock (&s->tokens_lock);
  return out;
}

/* Makes sure every key of a property map has a token, so that readers on
 * any node (including replicas that only apply write-sets) can look the key
 * up without creating it. */
static void
ensure_key_tokens (NcStore *s, const NcMap *m)
{
  if (m == NULL)
    return;
  for (guint32 i = 0; i < m->len; i++)
    nc_store_token (s, NC_TOKEN_PROP_KEY, m->entries[i].key->data, TRUE);
}

/* ---- property value validation -------------------------------------------- */

static gboolean
is_storable_scalar (NcValueType t)
{
  switch (t)
    {
    case NC_VALUE_BOOL:
    case NC_VALUE_INT:
    case NC_VALUE_FLOAT:
    case NC_VALUE_STRING:
    case NC_VALUE_BYTES:
    case NC_VALUE_DATE:
    case NC_VALUE_LOCAL_TIME:
    case NC_VALUE_TIME:
    case NC_VALUE_LOCAL_DATETIME:
    case NC_VALUE_DATETIME:
    case NC_VALUE_DURATION:
    case NC_VALUE_POINT:
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
is_number_type (NcValueType t)
{
  return t == NC_VALUE_INT || t == NC_VALUE_FLOAT;
}

/* Neo4j stores scalars and homogeneous lists of scalars only; integers and
 * floats may be mixed in a list (stored as floats, see storable_copy). */
static gboolean
value_storable (const NcValue *v, GError **error)
{
  if (v->type == NC_VALUE_NULL || is_storable_scalar (v->type))
    return TRUE;
  if (v->type == NC_VALUE_LIST)
    {
      const NcList *l = v->u.list;
      for (guint32 i = 0; i < l->len; i++)
        {
          const NcValue *it = &l->items[i];
          if (it->type == NC_VALUE_NULL)
            {
              g_set_error_literal (error, NC_ERROR, NC_ERROR_TYPE,
                                   "Collections containing null values can not be stored in properties.");
              return FALSE;
            }
          if (!is_storable_scalar (it->type))
            break;
          if (it->type != l->items[0].type &&
              !(is_number_type (it->type) && is_number_type (l->items[0].type)))
            {
              g_set_error_literal (error, NC_ERROR, NC_ERROR_TYPE,
                                   "Neo4j only supports a subset of Cypher types for storage as "
                                   "singleton or array properties. Collections containing mixed "
                                   "types can not be stored in properties.");
              return FALSE;
            }
          if (i + 1 == l->len)
            return TRUE;
        }
      if (l->len == 0)
        return TRUE;
    }
  g_autofree char *dbg = nc_value_to_debug_string (v);
  g_set_error (error, NC_ERROR, NC_ERROR_TYPE,
               "Property values can only be of primitive types or arrays thereof. "
               "Encountered: %s.", dbg);
  return FALSE;
}

static gboolean
map_storable (const NcMap *m, GError **error)
{
  if (m == NULL)
    return TRUE;
  for (guint32 i = 0; i < m->len; i++)
    if (!value_storable (&m->entries[i].value, error))
      return FALSE;
  return TRUE;
}

static gboolean
needs_coercion (const NcValue *v)
{
  if (v->type != NC_VALUE_LIST)
    return FALSE;
  gboolean ints = FALSE, floats = FALSE;
  for (guint32 i = 0; i < v->u.list->len; i++)
    {
      ints |= v->u.list->items[i].type == NC_VALUE_INT;
      floats |= v->u.list->items[i].type == NC_VALUE_FLOAT;
    }
  return ints && floats;
}

/* The value as stored (transfer full): a list mixing integers and floats
 * becomes a list of floats, as Neo4j coerces numeric arrays to a common
 * type. Everything else is shared. */
static NcValue
storable_copy (const NcValue *v)
{
  if (!needs_coercion (v))
    return nc_value_copy (v);
  NcList *l = nc_list_new (v->u.list->len);
  for (guint32 i = 0; i < l->len; i++)
    {
      const NcValue *it = &v->u.list->items[i];
      l->items[i] = nc_value_float (it->type == NC_VALUE_INT ? (double) it->u.i : it->u.f);
    }
  return nc_value_list_take (l);
}

/* (transfer full) `m` as stored: coerced values, without nulls unless
 * `keep_nulls` (they mean "remove" in SET +=). NULL when empty. */
static NcMap *
map_storable_copy (NcStore *s, const NcMap *m, gboolean keep_nulls)
{
  guint32 n = 0;
  gboolean coerce = FALSE, interned = TRUE;
  if (m == NULL)
    return NULL;
  for (guint32 i = 0; i < m->len; i++)
    {
      if (keep_nulls || m->entries[i].value.type != NC_VALUE_NULL)
        n++;
      coerce |= needs_coercion (&m->entries[i].value);
      interned &= m->entries[i].key == key_string (s, m->entries[i].key->data);
    }
  if (n == 0)
    return NULL;
  if (n == m->len && !coerce && interned)
    return nc_map_ref ((NcMap *) m);
  NcMap *out = nc_map_new (n);
  for (guint32 i = 0; i < m->len; i++)
    if (keep_nulls || m->entries[i].value.type != NC_VALUE_NULL)
      {
        out->entries[out->len].key = nc_string_ref (key_string (s, m->entries[i].key->data));
        out->entries[out->len].value = storable_copy (&m->entries[i].value);
        out->len++;
      }
  return out;
}

static NcMap *
map_without_nulls (NcStore *s, const NcMap *m)
{
  return map_storable_copy (s, m, FALSE);
}

/* ---- bitsets ------------------------------------------------------------- */

static void
label_bit_set (NcStore *s, NcToken label, gint64 id)
{
  if (label >= s->label_bits->len)
    g_ptr_array_set_size (s->label_bits, label + 1);
  Bitset *b = g_ptr_array_index (s->label_bits, label);
  if (b == NULL)
    {
      b = g_new0 (Bitset, 1);
      g_ptr_array_index (s->label_bits, label) = b;
    }
  gsize w = (gsize) id / 64;
  if (w >= b->n_words)
    {
      gsize n = MAX (w + 1, b->n_words * 2);
      b->words = g_renew (guint64, b->words, n);
      memset (b->words + b->n_words, 0, (n - b->n_words) * sizeof (guint64));
      b->n_words = n;
    }
  b->words[w] |= G_GUINT64_CONSTANT (1) << (id % 64);
}

static void
bitset_free (gpointer p)
{
  Bitset *b = p;
  if (b == NULL)
    return;
  g_free (b->words);
  g_free (b);
}

/* ---- indexes --------------------------------------------------------------- */

static int
index_key_cmp (gconstpointer a, gconstpointer b, gpointer unused)
{
  const IndexKey *ka = a, *kb = b;
  /* integer keys (ids) are the common case: skip the generic ordering,
   * which was a fifth of a relationship load's profile (two seeks a row) */
  if (ka->value.type == NC_VALUE_INT && kb->value.type == NC_VALUE_INT)
    {
      if (ka->value.u.i != kb->value.u.i)
        return ka->value.u.i < kb->value.u.i ? -1 : 1;
      return (ka->id > kb->id) - (ka->id < kb->id);
    }
  int c = nc_value_order (&ka->value, &kb->value);
  if (c != 0)
    return c;
  return (ka->id > kb->id) - (ka->id < kb->id);
}

static void
index_key_free (gpointer p)
{
  IndexKey *k = p;
  nc_value_clear (&k->value);
  g_free (k);
}

static Index *
index_new (void)
{
  Index *ix = g_new0 (Index, 1);
  ix->ref = 1;
  ix->tree = g_tree_new_full (index_key_cmp, NULL, index_key_free, NULL);
  return ix;
}

static Index *
index_ref (Index *ix)
{
  g_atomic_int_inc (&ix->ref);
  return ix;
}

static void
index_unref (Index *ix)
{
  if (ix != NULL && g_atomic_int_dec_and_test (&ix->ref))
    {
      g_tree_destroy (ix->tree);
      g_free (ix);
    }
}

static void
index_insert (Index *ix, const NcValue *value, gint64 id)
{
  IndexKey probe = { *value, id };
  if (value->type == NC_VALUE_NULL || g_tree_lookup_extended (ix->tree, &probe, NULL, NULL))
    return;
  IndexKey *k = g_new (IndexKey, 1);
  k->value = nc_value_copy (value);
  k->id = id;
  g_tree_insert (ix->tree, k, NULL);
}

static void
schema_free (Schema *sc)
{
  if (sc == NULL)
    return;
  g_free (sc->name);
  g_free (sc->label_name);
  g_free (sc->key_name);
  index_unref (sc->index);
  g_free (sc);
}

/* Records a version's values in every index it belongs to. `only_label` /
 * `only_key` restrict the work to what a mutation changed. */
static void
index_note (NcStore *s, gint64 id, const Version *v, NcToken only_label, const char *only_key)
{
  for (guint i = 0; i < s->schema->len; i++)
    {
      Schema *sc = g_ptr_array_index (s->schema, i);
      if (only_label != NC_TOKEN_NONE && sc->label != only_label)
        continue;
      if (only_key != NULL && strcmp (sc->key_name, only_key) != 0)
        continue;
      if (!version_has_label (v, sc->label))
        continue;
      const NcValue *val = nc_map_get (v->props, sc->key_name);
      if (val != NULL)
        index_insert (sc->index, val, id);
    }
}

/* Another node the writer sees with `label` and `key` = value, or -1. */
static gint64
unique_conflict (NcStore *s, const NcTxn *txn, Schema *sc, const NcValue *value, gint64 self)
{
  IndexKey probe = { *value, G_MININT64 };
  GTreeNode *n = g_tree_lower_bound (sc->index->tree, &probe);
  for (; n != NULL; n = g_tree_node_next (n))
    {
      const IndexKey *k = g_tree_node_key (n);
      if (nc_value_order (&k->value, value) != 0)
        break;
      if (k->id == self)
        continue;
      Version *v = node_visible (s, txn, k->id);
      if (v == NULL || !version_has_label (v, sc->label))
        continue;
      const NcValue *cur = nc_map_get (v->props, sc->key_name);
      if (cur != NULL && nc_value_equals (cur, value) == NC_TRI_TRUE)
        return k->id;
    }
  return -1;
}

/* Checks uniqueness constraints for node `self` having `labels` and
 * property `key` = value (key NULL: every property in `props`). */
static gboolean
check_unique (NcStore *s, const NcTxn *txn, gint64 self, const NcToken *labels, guint n_labels,
              const char *key, const NcValue *value, const NcMap *props, GError **error)
{
  if (txn->applying)
    return TRUE;
  for (guint i = 0; i < s->schema->len; i++)
    {
      Schema *sc = g_ptr_array_index (s->schema, i);
      if (sc->kind != NC_SCHEMA_UNIQUE)
        continue;
      gboolean has = FALSE;
      for (guint j = 0; j < n_labels && !has; j++)
        has = labels[j] == sc->label;
      if (!has)
        continue;
      const NcValue *val;
      if (key != NULL)
        val = strcmp (key, sc->key_name) == 0 ? value : NULL;
      else
        val = nc_map_get (props, sc->key_name);
      if (val == NULL || val->type == NC_VALUE_NULL)
        continue;
      gint64 other = unique_conflict (s, txn, sc, val, self);
      if (other >= 0)
        {
          g_autofree char *dbg = nc_value_to_debug_string (val);
          g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT,
                       "Node(%" G_GINT64_FORMAT ") already exists with label `%s` and property `%s` = %s",
                       other, sc->label_name, sc->key_name, dbg);
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- store lifecycle ------------------------------------------------------- */

static void
count_delta_clear (gpointer p)
{
  CountDelta *d = p;
  g_free (d->labels);
  g_free (d->deltas);
}

NcStore *
nc_store_new (void)
{
  NcStore *s = g_new0 (NcStore, 1);
  lock_init (&s->lock);
  g_mutex_init (&s->writer_mutex);
  g_cond_init (&s->writer_cond);
  g_mutex_init (&s->readers_mutex);
  g_rw_lock_init (&s->tokens_lock);
  for (int k = 0; k < 3; k++)
    {
      s->tokens[k].names = g_ptr_array_new_with_free_func (g_free);
      s->tokens[k].by_name = g_hash_table_new (g_str_hash, g_str_equal);
    }
  s->key_strings = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_string_unref);
  s->label_bits = g_ptr_array_new_with_free_func (bitset_free);
  s->schema = g_ptr_array_new_with_free_func ((GDestroyNotify) schema_free);
  s->head_labels = g_array_new (FALSE, TRUE, sizeof (gint64));
  s->committed_labels = g_array_new (FALSE, TRUE, sizeof (gint64));
  s->count_history = g_array_new (FALSE, FALSE, sizeof (CountDelta));
  g_array_set_clear_func (s->count_history, count_delta_clear);
  s->prune_queue = g_array_new (FALSE, FALSE, sizeof (PruneItem));
  for (guint i = 0; i < N_POOLS; i++)
    pool_init (&s->pools[i], (version_size (i) + 7) & ~(gsize) 7);
  s->reader_snaps = g_array_new (FALSE, FALSE, sizeof (guint64));
  return s;
}

/* Frees every entity, index and count; tokens stay (their names must live
 * as long as the store). Caller holds the lock or owns the store. */
static void
store_clear_data (NcStore *s)
{
  for (gint64 i = 0; i < s->nodes_len; i++)
    {
      chain_free (s, s->nodes[i].head);
      g_free (s->nodes[i].out.v);
      g_free (s->nodes[i].in.v);
    }
  for (gint64 i = 0; i < s->rels_len; i++)
    chain_free (s, s->rels[i].head);
  columns_free (s);
  g_clear_pointer (&s->hot, g_free);
  g_clear_pointer (&s->nodes, g_free);
  g_clear_pointer (&s->rels, g_free);
  /* every pooled version is free now: give the memory back */
  for (guint i = 0; i < N_POOLS; i++)
    {
      gsize elem = s->pools[i].elem;
      pool_destroy (&s->pools[i]);
      pool_init (&s->pools[i], elem);
    }
  s->nodes_len = s->nodes_cap = s->rels_len = s->rels_cap = 0;
  s->next_node = s->next_rel = 0;
  g_ptr_array_set_size (s->label_bits, 0);
  g_ptr_array_set_size (s->schema, 0);
  s->head_nodes = s->head_rels = s->committed_nodes = s->committed_rels = 0;
  g_array_set_size (s->head_labels, 0);
  g_array_set_size (s->committed_labels, 0);
  g_array_set_size (s->count_history, 0);
  s->count_floor = 0;
  g_array_set_size (s->prune_queue, 0);
  s->applied = 0;
}

void
nc_store_free (NcStore *store)
{
  if (store == NULL)
    return;
  store_clear_data (store);
  g_ptr_array_unref (store->label_bits);
  g_ptr_array_unref (store->schema);
  g_array_unref (store->head_labels);
  g_array_unref (store->committed_labels);
  g_array_unref (store->count_history);
  g_array_unref (store->prune_queue);
  for (guint i = 0; i < N_POOLS; i++)
    pool_destroy (&store->pools[i]);
  g_array_unref (store->reader_snaps);
  for (int k = 0; k < 3; k++)
    {
      g_hash_table_unref (store->tokens[k].by_name);
      g_ptr_array_unref (store->tokens[k].names);
    }
  g_ptr_array_unref (store->key_strings);
  lock_clear (&store->lock);
  g_mutex_clear (&store->writer_mutex);
  g_cond_clear (&store->writer_cond);
  g_mutex_clear (&store->readers_mutex);
  g_rw_lock_clear (&store->tokens_lock);
  g_free (store);
}

static void store_replace (NcStore *s, gboolean installing);

void
nc_store_clear (NcStore *store)
{
  store_replace (store, FALSE);
}

void
nc_store_get_next_ids (NcStore *store, NcNodeId *next_node, NcRelId *next_rel)
{
  lock_read (&store->lock);
  if (next_node)
    *next_node = store->next_node;
  if (next_rel)
    *next_rel = store->next_rel;
  unlock_read (&store->lock);
}

void
nc_store_set_next_ids (NcStore *store, NcNodeId next_node, NcRelId next_rel)
{
  lock_write (&store->lock);
  /* never below an id in use: ids must not be reused */
  store->next_node = MAX (next_node, store->nodes_len);
  store->next_rel = MAX (next_rel, store->rels_len);
  unlock_write (&store->lock);
}

static void
ensure_nodes (NcStore *s, gint64 id)
{
  if (id >= s->nodes_cap)
    {
      gint64 cap = MAX (MAX (id + 1, s->nodes_cap * 2), 64);
      s->nodes = g_renew (NodeSlot, s->nodes, cap);
      memset (s->nodes + s->nodes_cap, 0, (gsize) (cap - s->nodes_cap) * sizeof (NodeSlot));
      s->hot = g_renew (NodeHot, s->hot, cap);
      memset (s->hot + s->nodes_cap, 0, (gsize) (cap - s->nodes_cap) * sizeof (NodeHot));
      /* only the writer grows the store, and it reads without the lock
       * (txn_read_lock), so the columns it reallocates are its own to read */
      for (gint i = 0; i < s->n_columns; i++)
        {
          Column *c = s->columns[i];
          c->vals = g_renew (NcValue, c->vals, cap);
          memset (c->vals + s->nodes_cap, 0, (gsize) (cap - s->nodes_cap) * sizeof (NcValue));
        }
      s->nodes_cap = cap;
    }
  if (id >= s->nodes_len)
    s->nodes_len = id + 1;
  if (id >= s->next_node)
    s->next_node = id + 1;
}

static void
ensure_rels (NcStore *s, gint64 id)
{
  if (id >= s->rels_cap)
    {
      gint64 cap = MAX (MAX (id + 1, s->rels_cap * 2), 64);
      s->rels = g_renew (RelSlot, s->rels, cap);
      memset (s->rels + s->rels_cap, 0, (gsize) (cap - s->rels_cap) * sizeof (RelSlot));
      s->rels_cap = cap;
    }
  if (id >= s->rels_len)
    s->rels_len = id + 1;
  if (id >= s->next_rel)
    s->next_rel = id + 1;
}

static void
adj_append (AdjList *l, gint64 rel, gint64 other)
{
  if (l->len == l->cap)
    {
      /* 1.5x growth: adjacency is most of the memory of a large graph */
      l->cap = l->cap < 4 ? 4 : l->cap + l->cap / 2;
      l->v = g_renew (AdjEntry, l->v, l->cap);
    }
  l->v[l->len].rel = rel;
  l->v[l->len].other = other;
  l->len++;
}

/* ---- transactions ---------------------------------------------------------- */

static NcTxn *
txn_new (NcStore *s, gboolean write)
{
  NcTxn *t = g_new0 (NcTxn, 1);
  t->store = s;
  t->write = write;
  /* a clear waits for the writer, so a writer's generation stays valid;
   * readers set theirs with their snapshot (nc_store_begin_read) */
  g_mutex_lock (&s->readers_mutex);
  t->generation = s->generation;
  g_mutex_unlock (&s->readers_mutex);
  if (write)
    {
      t->ws = nc_writeset_new ();
      t->snapshot = G_MAXUINT64;
      t->touched_nodes = g_array_new (FALSE, FALSE, sizeof (gint64));
      t->touched_rels = g_array_new (FALSE, FALSE, sizeof (gint64));
      t->created_rels = g_array_new (FALSE, FALSE, sizeof (gint64));
      t->d_labels = g_array_new (FALSE, TRUE, sizeof (gint64));
      t->schema_undo = g_ptr_array_new ();
      t->deferred_deletes = g_array_new (FALSE, FALSE, sizeof (gint64));
    }
  return t;
}

static void
schema_undo_free (SchemaUndo *u)
{
  g_free (u->name);
  schema_free (u->dropped);
  g_free (u);
}

static void
txn_free (NcTxn *t)
{
  nc_writeset_free (t->ws);
  if (t->write)
    {
      g_array_unref (t->touched_nodes);
      g_array_unref (t->touched_rels);
      g_array_unref (t->created_rels);
      g_array_unref (t->d_labels);
      g_ptr_array_free (t->schema_undo, TRUE);
      g_array_unref (t->deferred_deletes);
    }
  g_free (t);
}

NcTxn *
nc_store_begin_read (NcStore *store)
{
  NcTxn *t = txn_new (store, FALSE);
  g_mutex_lock (&store->readers_mutex);
  t->snapshot = store->visible;
  t->generation = store->installing ? GENERATION_RETIRED : store->generation;
  guint i = 0;
  while (i < store->reader_snaps->len && g_array_index (store->reader_snaps, guint64, i) < t->snapshot)
    i++;
  g_array_insert_val (store->reader_snaps, i, t->snapshot);
  g_mutex_unlock (&store->readers_mutex);
  return t;
}

static void
end_read (NcTxn *t)
{
  NcStore *s = t->store;
  g_mutex_lock (&s->readers_mutex);
  for (guint i = 0; i < s->reader_snaps->len; i++)
    if (g_array_index (s->reader_snaps, guint64, i) == t->snapshot)
      {
        g_array_remove_index (s->reader_snaps, i);
        break;
      }
  g_mutex_unlock (&s->readers_mutex);
  txn_free (t);
}

NcTxn *
nc_store_begin_write (NcStore *store)
{
  g_mutex_lock (&store->writer_mutex);
  while (store->writer_active)
    g_cond_wait (&store->writer_cond, &store->writer_mutex);
  store->writer_active = TRUE;
  g_mutex_unlock (&store->writer_mutex);
  return txn_new (store, TRUE);
}

static void
release_writer (NcStore *s)
{
  g_mutex_lock (&s->writer_mutex);
  s->writer_active = FALSE;
  g_cond_signal (&s->writer_cond);
  g_mutex_unlock (&s->writer_mutex);
}

gboolean
nc_txn_is_write (NcTxn *txn)
{
  return txn->write;
}

NcLsn
nc_txn_snapshot (NcTxn *txn)
{
  return txn->snapshot;
}

NcWriteSet *
nc_txn_writeset (NcTxn *txn)
{
  /* readers rarely ask: theirs is made on demand and stays empty */
  if (txn->ws == NULL)
    txn->ws = nc_writeset_new ();
  return txn->ws;
}

/* The oldest index any current or future reader may still ask for. */
static NcLsn
prune_horizon (NcStore *s)
{
  NcLsn h;
  g_mutex_lock (&s->readers_mutex);
  h = s->visible;
  if (s->reader_snaps->len > 0)
    h = MIN (h, g_array_index (s->reader_snaps, guint64, 0));
  g_mutex_unlock (&s->readers_mutex);
  return h;
}

/* Drops versions no reader can see: everything older than the newest
 * version committed at or before the horizon. Returns TRUE when the chain
 * still holds more than one version. */
static gboolean
chain_prune (NcStore *s, Version *head, NcLsn horizon)
{
  Version *v = head;
  while (v != NULL && (v->lsn == NC_LSN_PENDING || v->lsn > horizon))
    v = v->older;
  if (v != NULL && v->older != NULL)
    {
      chain_free (s, v->older);
      v->older = NULL;
    }
  return head != NULL && head->older != NULL;
}

static void
queue_prune (NcStore *s, gboolean rel, gint64 id)
{
  PruneItem it = { rel, id };
  g_array_append_val (s->prune_queue, it);
}

/* Re-prunes a bounded number of chains that could not shrink at their own
 * commit (a reader or the unpublished tail still needed them). Items still
 * long go to the back of the queue, so pinned chains do not starve others;
 * chains this transaction touched are dropped (its commit queues them). */
static void
drain_prune_queue (NcStore *s, NcLsn horizon, guint budget)
{
  guint n = MIN (budget, s->prune_queue->len);
  g_autofree PruneItem *items = g_memdup2 (s->prune_queue->data, n * sizeof (PruneItem));
  g_array_remove_range (s->prune_queue, 0, n);
  for (guint i = 0; i < n; i++)
    {
      PruneItem it = items[i];
      Version *head = it.rel ? (it.id < s->rels_len ? s->rels[it.id].head : NULL)
                             : (it.id < s->nodes_len ? s->nodes[it.id].head : NULL);
      if (head != NULL && head->lsn == NC_LSN_PENDING)
        continue;
      if (chain_prune (s, head, horizon))
        g_array_append_val (s->prune_queue, it);
    }
}

static void
tag_and_prune (NcStore *s, Version *head, gboolean rel, gint64 id, NcLsn lsn, NcLsn horizon)
{
  if (head == NULL || head->lsn != NC_LSN_PENDING)
    return;
  head->lsn = lsn;
  if (chain_prune (s, head, horizon))
    queue_prune (s, rel, id);
}

static void
record_count_delta (NcStore *s, NcTxn *txn, NcLsn lsn, NcLsn horizon)
{
  CountDelta d = { .lsn = lsn, .d_nodes = txn->d_nodes, .d_rels = txn->d_rels };
  s->committed_nodes += txn->d_nodes;
  s->committed_rels += txn->d_rels;
  for (guint t = 0; t < txn->d_labels->len; t++)
    if (g_array_index (txn->d_labels, gint64, t) != 0)
      d.n_labels++;
  if (d.n_labels > 0)
    {
      d.labels = g_new (NcToken, d.n_labels);
      d.deltas = g_new (gint64, d.n_labels);
      guint j = 0;
      for (guint t = 0; t < txn->d_labels->len; t++)
        {
          gint64 v = g_array_index (txn->d_labels, gint64, t);
          if (v == 0)
            continue;
          counts_add (s->committed_labels, t, v);
          d.labels[j] = t;
          d.deltas[j++] = v;
        }
    }
  g_array_append_val (s->count_history, d);
  /* no reader can ask for a snapshot below the horizon */
  guint drop = 0;
  while (drop < s->count_history->len &&
         (s->count_history->len - drop > COUNT_HISTORY_MAX ||
          g_array_index (s->count_history, CountDelta, drop).lsn <= horizon))
    {
      s->count_floor = MAX (s->count_floor, g_array_index (s->count_history, CountDelta, drop).lsn);
      drop++;
    }
  if (drop > 0)
    g_array_remove_range (s->count_history, 0, drop);
}

void
nc_txn_commit (NcTxn *txn, NcLsn lsn)
{
  NcStore *s = txn->store;
  if (!txn->write)
    {
      end_read (txn);
      return;
    }
  NcLsn horizon = prune_horizon (s);
  lock_write (&s->lock);
  /* the queue is drained before this commit's chains are added to it, so
   * each commit does work proportional to its own size */
  drain_prune_queue (s, horizon, 64 + 2 * (txn->touched_nodes->len + txn->touched_rels->len));
  for (guint i = 0; i < txn->touched_nodes->len; i++)
    {
      gint64 id = g_array_index (txn->touched_nodes, gint64, i);
      tag_and_prune (s, s->nodes[id].head, FALSE, id, lsn, horizon);
      node_sync (s, id);
    }
  for (guint i = 0; i < txn->touched_rels->len; i++)
    {
      gint64 id = g_array_index (txn->touched_rels, gint64, i);
      tag_and_prune (s, s->rels[id].head, TRUE, id, lsn, horizon);
      rel_sync (s, id);
    }
  s->applied = MAX (s->applied, lsn);
  record_count_delta (s, txn, lsn, horizon);
  unlock_write (&s->lock);
  for (guint i = 0; i < txn->schema_undo->len; i++)
    schema_undo_free (g_ptr_array_index (txn->schema_undo, i));
  txn_free (txn);
  release_writer (s);
}

static void
pop_pending (NcStore *s, Version **headp)
{
  Version *v = *headp;
  if (v != NULL && v->lsn == NC_LSN_PENDING)
    {
      *headp = v->older;
      version_free (s, v);
    }
}

static void
schema_remove_by_name (NcStore *s, const char *name, gboolean free_it)
{
  for (guint i = 0; i < s->schema->len; i++)
    {
      Schema *sc = g_ptr_array_index (s->schema, i);
      if (strcmp (sc->name, name) == 0)
        {
          if (free_it)
            g_ptr_array_remove_index (s->schema, i);
          else
            g_ptr_array_steal_index (s->schema, i);
          return;
        }
    }
}

void
nc_txn_rollback (NcTxn *txn)
{
  NcStore *s = txn->store;
  if (!txn->write)
    {
      end_read (txn);
      return;
    }
  lock_write (&s->lock);
  for (guint i = txn->created_rels->len; i-- > 0;)
    {
      gint64 id = g_array_index (txn->created_rels, gint64, i);
      RelSlot *r = &s->rels[id];
      AdjList *out = &s->nodes[r->start].out, *in = &s->nodes[r->end].in;
      if (out->len > 0 && out->v[out->len - 1].rel == id)
        out->len--;
      if (in->len > 0 && in->v[in->len - 1].rel == id)
        in->len--;
    }
  for (guint i = 0; i < txn->touched_nodes->len; i++)
    {
      gint64 id = g_array_index (txn->touched_nodes, gint64, i);
      pop_pending (s, &s->nodes[id].head);
      node_sync (s, id);
    }
  for (guint i = 0; i < txn->touched_rels->len; i++)
    {
      gint64 id = g_array_index (txn->touched_rels, gint64, i);
      pop_pending (s, &s->rels[id].head);
      rel_sync (s, id);
    }
  s->head_nodes -= txn->d_nodes;
  s->head_rels -= txn->d_rels;
  for (guint t = 0; t < txn->d_labels->len; t++)
    counts_add (s->head_labels, t, -g_array_index (txn->d_labels, gint64, t));
  for (guint i = txn->schema_undo->len; i-- > 0;)
    {
      SchemaUndo *u = g_ptr_array_index (txn->schema_undo, i);
      if (u->created)
        schema_remove_by_name (s, u->name, TRUE);
      else
        g_ptr_array_add (s->schema, g_steal_pointer (&u->dropped));
      schema_undo_free (u);
    }
  unlock_write (&s->lock);
  txn_free (txn);
  release_writer (s);
}

void
nc_store_publish (NcStore *store, NcLsn lsn)
{
  g_mutex_lock (&store->readers_mutex);
  store->visible = MAX (store->visible, lsn);
  g_mutex_unlock (&store->readers_mutex);
}

NcLsn
nc_store_visible_index (NcStore *store)
{
  NcLsn v;
  g_mutex_lock (&store->readers_mutex);
  v = store->visible;
  g_mutex_unlock (&store->readers_mutex);
  return v;
}

NcLsn
nc_store_applied_index (NcStore *store)
{
  NcLsn v;
  lock_read (&store->lock);
  v = store->applied;
  unlock_read (&store->lock);
  return v;
}

static void
recount (NcStore *s)
{
  s->head_nodes = s->head_rels = 0;
  g_array_set_size (s->head_labels, 0);
  for (gint64 i = 0; i < s->nodes_len; i++)
    {
      Version *v = s->nodes[i].head;
      if (v == NULL || v->tomb)
        continue;
      s->head_nodes++;
      for (guint32 j = 0; j < v->n_labels; j++)
        counts_add (s->head_labels, v->labels[j], 1);
    }
  for (gint64 i = 0; i < s->rels_len; i++)
    if (s->rels[i].head != NULL && !s->rels[i].head->tomb)
      s->head_rels++;
  s->committed_nodes = s->head_nodes;
  s->committed_rels = s->head_rels;
  g_array_set_size (s->count_history, 0);
  s->count_floor = s->applied;
  g_array_set_size (s->committed_labels, 0);
  if (s->head_labels->len > 0)
    g_array_append_vals (s->committed_labels, s->head_labels->data, s->head_labels->len);
}

static void
truncate_chain (NcStore *s, Version **headp, NcLsn lsn)
{
  while (*headp != NULL && (*headp)->lsn > lsn)
    {
      Version *v = *headp;
      *headp = v->older;
      version_free (s, v);
    }
}

/* Drops adjacency entries of relationships that no longer exist at all:
 * their ids may be created again by the new history. */
static void
adj_compact (NcStore *s, AdjList *l)
{
  guint32 j = 0;
  for (guint32 i = 0; i < l->len; i++)
    if (s->rels[l->v[i].rel].head != NULL)
      l->v[j++] = l->v[i];
  l->len = j;
}

void
nc_store_truncate_after (NcStore *store, NcLsn lsn)
{
  gboolean rels_gone = FALSE;
  lock_write (&store->lock);
  for (gint64 i = 0; i < store->nodes_len; i++)
    {
      truncate_chain (store, &store->nodes[i].head, lsn);
      node_sync (store, i);
    }
  for (gint64 i = 0; i < store->rels_len; i++)
    if (store->rels[i].head != NULL)
      {
        truncate_chain (store, &store->rels[i].head, lsn);
        rel_sync (store, i);
        rels_gone |= store->rels[i].head == NULL;
      }
  if (rels_gone)
    for (gint64 i = 0; i < store->nodes_len; i++)
      {
        adj_compact (store, &store->nodes[i].out);
        adj_compact (store, &store->nodes[i].in);
      }
  store->applied = MIN (store->applied, lsn);
  recount (store);
  unlock_write (&store->lock);
  g_mutex_lock (&store->readers_mutex);
  store->visible = MIN (store->visible, lsn);
  g_mutex_unlock (&store->readers_mutex);
}

/* ---- write-set recording ---------------------------------------------------- */

static void
record (NcTxn *txn, NcEffectKind kind, gint64 id, const char *name, const NcValue *value)
{
  if (txn->applying)
    return;
  NcEffect e = { .kind = kind, .id = id, .name = (char *) name };
  if (value != NULL)
    e.value = *value;
  nc_writeset_append (txn->ws, &e);
}

/* ---- writes (store lock held exclusively) -------------------------------- */

/* Gives the version the writer may modify: the head when this transaction
 * already made it, else a pending copy pushed on the chain. */
static Version *
make_writable (NcTxn *txn, Version **headp, gboolean rel, gint64 id)
{
  Version *h = *headp;
  if (h->lsn == NC_LSN_PENDING)
    return h;
  Version *v = version_new (txn->store, h->n_labels);
  memcpy (v->labels, h->labels, h->n_labels * sizeof (NcToken));
  v->props = h->props ? nc_map_ref (h->props) : NULL;
  v->older = h;
  *headp = v;
  g_array_append_val (rel ? txn->touched_rels : txn->touched_nodes, id);
  if (rel)
    rel_sync (txn->store, id);
  return v;
}

static void
delta_label (NcTxn *txn, NcToken label, gint64 d)
{
  counts_add (txn->store->head_labels, label, d);
  counts_add (txn->d_labels, label, d);
}

static int
token_cmp (gconstpointer a, gconstpointer b)
{
  NcToken x = *(const NcToken *) a, y = *(const NcToken *) b;
  return (x > y) - (x < y);
}

/* Looks a node up for modification by the writer. */
static Version *
writer_node (NcTxn *txn, gint64 id, GError **error)
{
  NcStore *s = txn->store;
  Version *h = (id >= 0 && id < s->nodes_len) ? s->nodes[id].head : NULL;
  if (h == NULL)
    {
      set_not_found (error, FALSE, id);
      return NULL;
    }
  if (h->tomb)
    {
      if (h->lsn == NC_LSN_PENDING)
        set_deleted (error, FALSE, id);
      else
        set_not_found (error, FALSE, id);
      return NULL;
    }
  return h;
}

static Version *
writer_rel (NcTxn *txn, gint64 id, GError **error)
{
  NcStore *s = txn->store;
  Version *h = (id >= 0 && id < s->rels_len) ? s->rels[id].head : NULL;
  if (h == NULL)
    {
      set_not_found (error, TRUE, id);
      return NULL;
    }
  if (h->tomb)
    {
      if (h->lsn == NC_LSN_PENDING)
        set_deleted (error, TRUE, id);
      else
        set_not_found (error, TRUE, id);
      return NULL;
    }
  return h;
}

static gchar **
label_names (NcStore *s, const NcToken *labels, guint n)
{
  if (n == 0)
    return NULL;
  gchar **names = g_new0 (gchar *, n + 1);
  for (guint i = 0; i < n; i++)
    names[i] = (gchar *) nc_store_token_name (s, NC_TOKEN_LABEL, labels[i]);
  return names;
}

/* `id` < 0 allocates a new id. `props` must already be free of nulls. */
static NcNodeId
do_create_node (NcTxn *txn, gint64 id, const NcToken *labels_in, guint n_in, NcMap *props,
                GError **error)
{
  NcStore *s = txn->store;
  g_autofree NcToken *labels = g_new (NcToken, n_in + 1);
  guint n = 0;

  if (n_in > 0)
    memcpy (labels, labels_in, n_in * sizeof (NcToken));
  qsort (labels, n_in, sizeof (NcToken), token_cmp);
  for (guint i = 0; i < n_in; i++)
    if (n == 0 || labels[n - 1] != labels[i])
      labels[n++] = labels[i];

  if (id < 0)
    id = s->next_node;
  else if (id < s->nodes_len && s->nodes[id].head != NULL)
    {
      g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_BAD_WRITESET,
                   "node id %" G_GINT64_FORMAT " is already in use", id);
      return -1;
    }
  if (!check_unique (s, txn, id, labels, n, NULL, NULL, props, error))
    return -1;

  ensure_nodes (s, id);
  Version *v = version_new (s, n);
  memcpy (v->labels, labels, n * sizeof (NcToken));
  v->props = props ? nc_map_ref (props) : NULL;
  s->nodes[id].head = v;
  node_sync (s, id);
  g_array_append_val (txn->touched_nodes, id);
  s->head_nodes++;
  txn->d_nodes++;
  for (guint i = 0; i < n; i++)
    {
      delta_label (txn, labels[i], 1);
      label_bit_set (s, labels[i], id);
    }
  if (n > 0 && s->schema->len > 0)
    index_note (s, id, v, NC_TOKEN_NONE, NULL);

  if (!txn->applying)
    {
      g_autofree gchar **names = label_names (s, labels, n);
      NcEffect e = { .kind = NC_EFFECT_CREATE_NODE, .id = id, .labels = names };
      if (props)
        e.value = nc_value_map_take (props); /* borrowed: append copies */
      nc_writeset_append (txn->ws, &e);
    }
  return id;
}

static NcRelId
do_create_rel (NcTxn *txn, gint64 id, NcToken type, gint64 start, gint64 end, NcMap *props,
               GError **error)
{
  NcStore *s = txn->store;
  if (writer_node (txn, start, error) == NULL || writer_node (txn, end, error) == NULL)
    return -1;
  if (id < 0)
    id = s->next_rel;
  else if (id < s->rels_len && s->rels[id].head != NULL)
    {
      g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_BAD_WRITESET,
                   "relationship id %" G_GINT64_FORMAT " is already in use", id);
      return -1;
    }
  ensure_rels (s, id);
  RelSlot *r = &s->rels[id];
  Version *v = version_new (s, 0);
  v->props = props ? nc_map_ref (props) : NULL;
  r->head = v;
  r->dead = FALSE;
  r->head_lsn = v->lsn;
  r->type = type;
  r->start = start;
  r->end = end;
  adj_append (&s->nodes[start].out, id, end);
  adj_append (&s->nodes[end].in, id, start);
  g_array_append_val (txn->touched_rels, id);
  g_array_append_val (txn->created_rels, id);
  s->head_rels++;
  txn->d_rels++;
  if (!txn->applying)
    {
      NcEffect e = { .kind = NC_EFFECT_CREATE_REL, .id = id, .start = start, .end = end,
                     .name = (char *) nc_store_token_name (s, NC_TOKEN_REL_TYPE, type) };
      if (props)
        e.value = nc_value_map_take (props);
      nc_writeset_append (txn->ws, &e);
    }
  return id;
}

static gboolean
do_delete_rel (NcTxn *txn, gint64 id, GError **error)
{
  NcStore *s = txn->store;
  Version *h = (id >= 0 && id < s->rels_len) ? s->rels[id].head : NULL;
  if (h == NULL)
    {
      set_not_found (error, TRUE, id);
      return FALSE;
    }
  if (h->tomb)
    return TRUE; /* already deleted (in this transaction or before) */
  Version *v = make_writable (txn, &s->rels[id].head, TRUE, id);
  v->tomb = TRUE;
  s->rels[id].dead = TRUE;
  g_clear_pointer (&v->props, nc_map_unref);
  s->head_rels--;
  txn->d_rels--;
  record (txn, NC_EFFECT_DELETE_REL, id, NULL, NULL);
  return TRUE;
}

/* Writer-visible relationships of a node, each once. */
static GArray *
node_live_rels (NcTxn *txn, gint64 id)
{
  NcStore *s = txn->store;
  GArray *out = g_array_new (FALSE, FALSE, sizeof (gint64));
  NodeSlot *n = &s->nodes[id];
  for (guint32 i = 0; i < n->out.len; i++)
    if (rel_visible (s, txn, n->out.v[i].rel) != NULL)
      g_array_append_val (out, n->out.v[i].rel);
  for (guint32 i = 0; i < n->in.len; i++)
    if (n->in.v[i].other != id && rel_visible (s, txn, n->in.v[i].rel) != NULL)
      g_array_append_val (out, n->in.v[i].rel);
  return out;
}

typedef enum {
  DELETE_STRICT,     /* fail when relationships remain */
  DELETE_DETACH,     /* delete the relationships first */
  DELETE_DEFERRED,   /* check for remaining relationships later (nc_txn_check_deletes) */
} DeleteMode;

static void
set_still_has_rels (GError **error, gint64 id)
{
  g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_STILL_HAS_RELS,
               "Cannot delete node<%" G_GINT64_FORMAT ">, because it still has relationships. "
               "To delete this node, you must first delete its relationships.", id);
}

static gboolean
do_delete_node (NcTxn *txn, gint64 id, DeleteMode mode, GError **error)
{
  NcStore *s = txn->store;
  Version *h = (id >= 0 && id < s->nodes_len) ? s->nodes[id].head : NULL;
  if (h == NULL)
    {
      set_not_found (error, FALSE, id);
      return FALSE;
    }
  if (h->tomb)
    return TRUE;
  g_autoptr (GArray) rels = node_live_rels (txn, id);
  if (rels->len > 0)
    {
      if (mode == DELETE_STRICT)
        {
          set_still_has_rels (error, id);
          return FALSE;
        }
      if (mode == DELETE_DETACH)
        {
          for (guint i = 0; i < rels->len; i++)
            if (!do_delete_rel (txn, g_array_index (rels, gint64, i), error))
              return FALSE;
        }
      else
        g_array_append_val (txn->deferred_deletes, id);
    }
  Version *v = make_writable (txn, &s->nodes[id].head, FALSE, id);
  for (guint32 i = 0; i < v->n_labels; i++)
    delta_label (txn, v->labels[i], -1);
  v->tomb = TRUE;
  v->n_labels = 0;
  g_clear_pointer (&v->props, nc_map_unref);
  node_sync (s, id);
  s->head_nodes--;
  txn->d_nodes--;
  record (txn, NC_EFFECT_DELETE_NODE, id, NULL, NULL);
  return TRUE;
}

/* Fails when a node deleted with DELETE_DEFERRED still has relationships;
 * lock held. */
static gboolean
check_deferred_deletes (NcTxn *txn, GError **error)
{
  NcStore *s = txn->store;
  for (guint i = 0; i < txn->deferred_deletes->len; i++)
    {
      gint64 id = g_array_index (txn->deferred_deletes, gint64, i);
      Version *h = s->nodes[id].head;
      if (h == NULL || !h->tomb)
        continue;
      g_autoptr (GArray) rels = node_live_rels (txn, id);
      if (rels->len > 0)
        {
          set_still_has_rels (error, id);
          return FALSE;
        }
    }
  g_array_set_size (txn->deferred_deletes, 0);
  return TRUE;
}

/* Sets (or with a null value removes) one property. */
static gboolean
do_set_prop (NcTxn *txn, gboolean rel, gint64 id, const char *key, const NcValue *value,
             GError **error)
{
  NcStore *s = txn->store;
  Version *h = rel ? writer_rel (txn, id, error) : writer_node (txn, id, error);
  if (h == NULL)
    return FALSE;
  gboolean remove = value->type == NC_VALUE_NULL;
  if (remove && nc_map_get (h->props, key) == NULL)
    return TRUE;
  if (!rel && !remove && !check_unique (s, txn, id, h->labels, h->n_labels, key, value, NULL, error))
    return FALSE;
  Version *v = make_writable (txn, rel ? &s->rels[id].head : &s->nodes[id].head, rel, id);
  NcMap *m = nc_map_with (v->props, key, nc_value_copy (value));
  if (v->props)
    nc_map_unref (v->props);
  if (m->len == 0)
    {
      nc_map_unref (m);
      m = NULL;
    }
  else
    /* a key the map did not have is appended as a fresh string: every
     * stored map uses the interned key strings, so that a property read
     * compares pointers only (prop_in_version) */
    for (guint32 i = 0; i < m->len; i++)
      {
        NcString *ks = key_string (s, m->entries[i].key->data);
        if (m->entries[i].key != ks)
          {
            nc_string_unref (m->entries[i].key);
            m->entries[i].key = nc_string_ref (ks);
          }
      }
  v->props = m;
  if (!rel)
    node_sync (s, id);
  if (!rel && !remove && s->schema->len > 0)
    index_note (s, id, v, NC_TOKEN_NONE, key);
  record (txn, rel ? NC_EFFECT_SET_REL_PROP : NC_EFFECT_SET_NODE_PROP, id, key, value);
  return TRUE;
}

static gboolean
do_set_props (NcTxn *txn, gboolean rel, gint64 id, const NcMap *props, gboolean replace,
              GError **error)
{
  Version *h = rel ? writer_rel (txn, id, error) : writer_node (txn, id, error);
  if (h == NULL)
    return FALSE;
  if (replace && h->props != NULL)
    {
      /* keys the new map does not keep are removed first */
      g_autoptr (NcMap) old = nc_map_ref (h->props);
      for (guint32 i = 0; i < old->len; i++)
        {
          const NcValue *nv = nc_map_get (props, old->entries[i].key->data);
          if (nv == NULL || nv->type == NC_VALUE_NULL)
            {
              NcValue null = nc_value_null ();
              if (!do_set_prop (txn, rel, id, old->entries[i].key->data, &null, error))
                return FALSE;
            }
        }
    }
  if (props != NULL)
    for (guint32 i = 0; i < props->len; i++)
      if (!do_set_prop (txn, rel, id, props->entries[i].key->data, &props->entries[i].value, error))
        return FALSE;
  return TRUE;
}

static gboolean
do_add_label (NcTxn *txn, gint64 id, NcToken label, GError **error)
{
  NcStore *s = txn->store;
  Version *h = writer_node (txn, id, error);
  if (h == NULL)
    return FALSE;
  if (version_has_label (h, label))
    return TRUE;
  if (!check_unique (s, txn, id, &label, 1, NULL, NULL, h->props, error))
    return FALSE;
  Version *v = make_writable (txn, &s->nodes[id].head, FALSE, id);
  /* grow in place: only the slot points at the head version */
  if (v->pool != 0)
    {
      Version *big = g_malloc (version_size (v->n_labels));
      memcpy (big, v, version_size (v->n_labels));
      big->pool = 0;
      v->props = NULL; /* moved to big */
      version_free (s, v);
      v = big;
    }
  v = g_realloc (v, sizeof (Version) + (v->n_labels + 1) * sizeof (NcToken));
  s->nodes[id].head = v;
  guint32 i = v->n_labels;
  while (i > 0 && v->labels[i - 1] > label)
    {
      v->labels[i] = v->labels[i - 1];
      i--;
    }
  v->labels[i] = label;
  v->n_labels++;
  node_sync (s, id);
  delta_label (txn, label, 1);
  label_bit_set (s, label, id);
  if (s->schema->len > 0)
    index_note (s, id, v, label, NULL);
  record (txn, NC_EFFECT_ADD_LABEL, id, nc_store_token_name (s, NC_TOKEN_LABEL, label), NULL);
  return TRUE;
}

static gboolean
do_remove_label (NcTxn *txn, gint64 id, NcToken label, GError **error)
{
  NcStore *s = txn->store;
  Version *h = writer_node (txn, id, error);
  if (h == NULL)
    return FALSE;
  if (!version_has_label (h, label))
    return TRUE;
  Version *v = make_writable (txn, &s->nodes[id].head, FALSE, id);
  guint32 j = 0;
  for (guint32 i = 0; i < v->n_labels; i++)
    if (v->labels[i] != label)
      v->labels[j++] = v->labels[i];
  v->n_labels = j;
  node_sync (s, id);
  delta_label (txn, label, -1);
  record (txn, NC_EFFECT_REMOVE_LABEL, id, nc_store_token_name (s, NC_TOKEN_LABEL, label), NULL);
  return TRUE;
}

/* ---- public write API ---------------------------------------------------- */

/* Tokens come from nc_store_token(); anything else is a caller bug, reported
 * as an error rather than recorded as a nameless effect. */
static gboolean
check_tokens (NcTxn *txn, NcTokenKind kind, const NcToken *toks, guint n, GError **error)
{
  guint count = nc_store_token_count (txn->store, kind);
  for (guint i = 0; i < n; i++)
    if (toks[i] >= count)
      {
        g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_NOT_FOUND,
                     "Unknown %s token %u",
                     kind == NC_TOKEN_LABEL ? "label" : kind == NC_TOKEN_REL_TYPE ? "relationship type"
                                                                                  : "property key",
                     toks[i]);
        return FALSE;
      }
  return TRUE;
}

NcNodeId
nc_txn_create_node (NcTxn *txn, const NcToken *labels, guint n_labels, const NcMap *props,
                    GError **error)
{
  if (!check_write (txn, error) || !check_tokens (txn, NC_TOKEN_LABEL, labels, n_labels, error) ||
      !map_storable (props, error))
    return -1;
  ensure_key_tokens (txn->store, props);
  g_autoptr (NcMap) clean = map_without_nulls (txn->store, props);
  lock_write (&txn->store->lock);
  NcNodeId id = do_create_node (txn, -1, labels, n_labels, clean, error);
  unlock_write (&txn->store->lock);
  return id;
}

gboolean
nc_txn_delete_node (NcTxn *txn, NcNodeId id, gboolean detach, GError **error)
{
  if (!check_write (txn, error))
    return FALSE;
  lock_write (&txn->store->lock);
  gboolean ok = do_delete_node (txn, id, detach ? DELETE_DETACH : DELETE_STRICT, error);
  unlock_write (&txn->store->lock);
  return ok;
}

gboolean
nc_txn_delete_node_deferred (NcTxn *txn, NcNodeId id, GError **error)
{
  if (!check_write (txn, error))
    return FALSE;
  lock_write (&txn->store->lock);
  gboolean ok = do_delete_node (txn, id, DELETE_DEFERRED, error);
  unlock_write (&txn->store->lock);
  return ok;
}

gboolean
nc_txn_check_deletes (NcTxn *txn, GError **error)
{
  if (!txn->write)
    return TRUE;
  lock_read (&txn->store->lock);
  gboolean ok = check_deferred_deletes (txn, error);
  unlock_read (&txn->store->lock);
  return ok;
}

static gboolean
set_prop_public (NcTxn *txn, gboolean rel, gint64 id, NcToken key, const NcValue *value,
                 GError **error)
{
  if (!check_write (txn, error) || !value_storable (value, error))
    return FALSE;
  const char *name = nc_store_token_name (txn->store, NC_TOKEN_PROP_KEY, key);
  if (name == NULL)
    {
      g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_NOT_FOUND,
                   "Unknown property key token %u", key);
      return FALSE;
    }
  g_auto (NcValue) stored = storable_copy (value);
  lock_write (&txn->store->lock);
  gboolean ok = do_set_prop (txn, rel, id, name, &stored, error);
  unlock_write (&txn->store->lock);
  return ok;
}

gboolean
nc_txn_set_node_prop (NcTxn *txn, NcNodeId id, NcToken key, const NcValue *value, GError **error)
{
  return set_prop_public (txn, FALSE, id, key, value, error);
}

gboolean
nc_txn_set_rel_prop (NcTxn *txn, NcRelId id, NcToken key, const NcValue *value, GError **error)
{
  return set_prop_public (txn, TRUE, id, key, value, error);
}

static gboolean
set_props_public (NcTxn *txn, gboolean rel, gint64 id, const NcMap *props, gboolean replace,
                  GError **error)
{
  if (!check_write (txn, error) || !map_storable (props, error))
    return FALSE;
  ensure_key_tokens (txn->store, props);
  g_autoptr (NcMap) stored = map_storable_copy (txn->store, props, TRUE);
  lock_write (&txn->store->lock);
  gboolean ok = do_set_props (txn, rel, id, stored, replace, error);
  unlock_write (&txn->store->lock);
  return ok;
}

gboolean
nc_txn_set_node_props (NcTxn *txn, NcNodeId id, const NcMap *props, gboolean replace, GError **error)
{
  return set_props_public (txn, FALSE, id, props, replace, error);
}

gboolean
nc_txn_set_rel_props (NcTxn *txn, NcRelId id, const NcMap *props, gboolean replace, GError **error)
{
  return set_props_public (txn, TRUE, id, props, replace, error);
}

gboolean
nc_txn_add_label (NcTxn *txn, NcNodeId id, NcToken label, GError **error)
{
  if (!check_write (txn, error) || !check_tokens (txn, NC_TOKEN_LABEL, &label, 1, error))
    return FALSE;
  lock_write (&txn->store->lock);
  gboolean ok = do_add_label (txn, id, label, error);
  unlock_write (&txn->store->lock);
  return ok;
}

gboolean
nc_txn_remove_label (NcTxn *txn, NcNodeId id, NcToken label, GError **error)
{
  if (!check_write (txn, error) || !check_tokens (txn, NC_TOKEN_LABEL, &label, 1, error))
    return FALSE;
  lock_write (&txn->store->lock);
  gboolean ok = do_remove_label (txn, id, label, error);
  unlock_write (&txn->store->lock);
  return ok;
}

NcRelId
nc_txn_create_rel (NcTxn *txn, NcToken type, NcNodeId start, NcNodeId end, const NcMap *props,
                   GError **error)
{
  if (!check_write (txn, error) || !check_tokens (txn, NC_TOKEN_REL_TYPE, &type, 1, error) ||
      !map_storable (props, error))
    return -1;
  ensure_key_tokens (txn->store, props);
  g_autoptr (NcMap) clean = map_without_nulls (txn->store, props);
  lock_write (&txn->store->lock);
  NcRelId id = do_create_rel (txn, -1, type, start, end, clean, error);
  unlock_write (&txn->store->lock);
  return id;
}

gboolean
nc_txn_delete_rel (NcTxn *txn, NcRelId id, GError **error)
{
  if (!check_write (txn, error))
    return FALSE;
  lock_write (&txn->store->lock);
  gboolean ok = do_delete_rel (txn, id, error);
  unlock_write (&txn->store->lock);
  return ok;
}

/* ---- schema ---------------------------------------------------------------- */

static Schema *
schema_find_name (NcStore *s, const char *name)
{
  for (guint i = 0; i < s->schema->len; i++)
    {
      Schema *sc = g_ptr_array_index (s->schema, i);
      if (strcmp (sc->name, name) == 0)
        return sc;
    }
  return NULL;
}

static void
describe_schema (GString *out, const Schema *sc)
{
  if (sc->kind == NC_SCHEMA_UNIQUE)
    g_string_append_printf (out, "Constraint( name='%s', type='UNIQUENESS', schema=(:%s {%s}) )",
                            sc->name, sc->label_name, sc->key_name);
  else
    g_string_append_printf (out, "Index( name='%s', type='RANGE', schema=(:%s {%s}) )",
                            sc->name, sc->label_name, sc->key_name);
}

/* Fills a new index from every version of every node that ever had the
 * label, so that readers on older snapshots find their values too. */
static void
index_populate (NcStore *s, Schema *sc)
{
  Bitset *b = sc->label < s->label_bits->len ? g_ptr_array_index (s->label_bits, sc->label) : NULL;
  if (b == NULL)
    return;
  for (gsize w = 0; w < b->n_words; w++)
    {
      guint64 word = b->words[w];
      while (word)
        {
          gint64 id = (gint64) (w * 64 + (gsize) __builtin_ctzll (word));
          word &= word - 1;
          if (id >= s->nodes_len)
            continue;
          for (Version *v = s->nodes[id].head; v != NULL; v = v->older)
            if (!v->tomb && version_has_label (v, sc->label))
              {
                const NcValue *val = nc_map_get (v->props, sc->key_name);
                if (val)
                  index_insert (sc->index, val, id);
              }
        }
    }
}

/* Finds two writer-visible nodes that share a value, for a new unique
 * constraint. */
static gboolean
schema_check_existing (NcStore *s, NcTxn *txn, Schema *sc, GError **error)
{
  GTreeNode *n = g_tree_node_first (sc->index->tree);
  const IndexKey *prev = NULL;
  for (; n != NULL; n = g_tree_node_next (n))
    {
      const IndexKey *k = g_tree_node_key (n);
      Version *v = node_visible (s, txn, k->id);
      if (v == NULL || !version_has_label (v, sc->label))
        continue;
      const NcValue *cur = nc_map_get (v->props, sc->key_name);
      if (cur == NULL || nc_value_order (cur, &k->value) != 0)
        continue; /* stale entry */
      if (prev != NULL && prev->id != k->id && nc_value_equals (&prev->value, &k->value) == NC_TRI_TRUE)
        {
          g_autofree char *dbg = nc_value_to_debug_string (cur);
          g_autoptr (GString) desc = g_string_new (NULL);
          describe_schema (desc, sc);
          g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_CONSTRAINT,
                       "Unable to create %s:\nBoth Node(%" G_GINT64_FORMAT ") and Node(%"
                       G_GINT64_FORMAT ") have the label `%s` and property `%s` = %s",
                       desc->str, prev->id, k->id, sc->label_name, sc->key_name, dbg);
          return FALSE;
        }
      prev = k;
    }
  return TRUE;
}

static gboolean
do_create_schema (NcTxn *txn, NcSchemaKind kind, const char *name, NcToken label, NcToken key,
                  gboolean if_not_exists, GError **error)
{
  NcStore *s = txn->store;
  const char *label_name = nc_store_token_name (s, NC_TOKEN_LABEL, label);
  const char *key_name = nc_store_token_name (s, NC_TOKEN_PROP_KEY, key);
  if (label_name == NULL || key_name == NULL || (kind != NC_SCHEMA_INDEX && kind != NC_SCHEMA_UNIQUE))
    {
      g_set_error_literal (error, NC_STORE_ERROR, NC_STORE_ERROR_SCHEMA,
                           "Unable to create index or constraint: unknown label, key or kind");
      return FALSE;
    }
  g_autofree char *gen = NULL;
  if (name == NULL || *name == '\0')
    name = gen = g_strdup_printf ("%s_%s_%s", kind == NC_SCHEMA_UNIQUE ? "constraint" : "index",
                                  label_name, key_name);
  const char *what = kind == NC_SCHEMA_UNIQUE ? "constraint" : "index";

  for (guint i = 0; i < s->schema->len; i++)
    {
      Schema *sc = g_ptr_array_index (s->schema, i);
      gboolean same = sc->kind == kind && sc->label == label && sc->key == key;
      if (same || strcmp (sc->name, name) == 0)
        {
          if (if_not_exists)
            return TRUE;
          g_autoptr (GString) desc = g_string_new (NULL);
          describe_schema (desc, sc);
          if (same)
            g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_SCHEMA,
                         "An equivalent %s already exists, '%s'.", what, desc->str);
          else
            g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_SCHEMA,
                         "There already exists an index or constraint called '%s'.", name);
          return FALSE;
        }
    }

  Schema *sc = g_new0 (Schema, 1);
  sc->kind = kind;
  sc->name = g_strdup (name);
  sc->label = label;
  sc->key = key;
  sc->label_name = g_strdup (label_name);
  sc->key_name = g_strdup (key_name);
  sc->index = index_new ();
  index_populate (s, sc);
  if (kind == NC_SCHEMA_UNIQUE && !txn->applying && !schema_check_existing (s, txn, sc, error))
    {
      schema_free (sc);
      return FALSE;
    }
  g_ptr_array_add (s->schema, sc);
  SchemaUndo *u = g_new0 (SchemaUndo, 1);
  u->created = TRUE;
  u->name = g_strdup (name);
  g_ptr_array_add (txn->schema_undo, u);
  if (!txn->applying)
    {
      NcEffect e = { .kind = NC_EFFECT_CREATE_SCHEMA, .id = kind, .name = (char *) name,
                     .name2 = (char *) label_name, .name3 = (char *) key_name };
      nc_writeset_append (txn->ws, &e);
    }
  return TRUE;
}

static gboolean
do_drop_schema (NcTxn *txn, const char *name, gboolean if_exists, GError **error)
{
  NcStore *s = txn->store;
  Schema *sc = schema_find_name (s, name);
  if (sc == NULL)
    {
      if (if_exists)
        return TRUE;
      g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_SCHEMA,
                   "Unable to drop index or constraint called `%s`: there is no such index or constraint.",
                   name);
      return FALSE;
    }
  schema_remove_by_name (s, name, FALSE);
  SchemaUndo *u = g_new0 (SchemaUndo, 1);
  u->dropped = sc;
  g_ptr_array_add (txn->schema_undo, u);
  record (txn, NC_EFFECT_DROP_SCHEMA, 0, name, NULL);
  return TRUE;
}

gboolean
nc_txn_create_schema (NcTxn *txn, NcSchemaKind kind, const char *name, NcToken label, NcToken key,
                      gboolean if_not_exists, GError **error)
{
  if (!check_write (txn, error))
    return FALSE;
  lock_write (&txn->store->lock);
  gboolean ok = do_create_schema (txn, kind, name, label, key, if_not_exists, error);
  unlock_write (&txn->store->lock);
  return ok;
}

gboolean
nc_txn_drop_schema (NcTxn *txn, const char *name, gboolean if_exists, GError **error)
{
  if (!check_write (txn, error))
    return FALSE;
  lock_write (&txn->store->lock);
  gboolean ok = do_drop_schema (txn, name, if_exists, error);
  unlock_write (&txn->store->lock);
  return ok;
}

void
nc_schema_entry_free (NcSchemaEntry *e)
{
  if (e == NULL)
    return;
  g_free (e->name);
  g_free (e);
}

GPtrArray *
nc_store_list_schema (NcStore *store)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_schema_entry_free);
  lock_read (&store->lock);
  for (guint i = 0; i < store->schema->len; i++)
    {
      Schema *sc = g_ptr_array_index (store->schema, i);
      NcSchemaEntry *e = g_new0 (NcSchemaEntry, 1);
      e->kind = sc->kind;
      e->name = g_strdup (sc->name);
      e->label = sc->label;
      e->key = sc->key;
      g_ptr_array_add (out, e);
    }
  unlock_read (&store->lock);
  return out;
}

/* An index on (label, key), preferring a unique one; lock held. */
static Schema *
find_index (NcStore *s, NcToken label, NcToken key)
{
  Schema *best = NULL;
  for (guint i = 0; i < s->schema->len; i++)
    {
      Schema *sc = g_ptr_array_index (s->schema, i);
      if (sc->label == label && sc->key == key && (best == NULL || sc->kind == NC_SCHEMA_UNIQUE))
        best = sc;
    }
  return best;
}

gboolean
nc_store_has_index (NcStore *store, NcToken label, NcToken key)
{
  lock_read (&store->lock);
  gboolean has = find_index (store, label, key) != NULL;
  unlock_read (&store->lock);
  return has;
}

/* ---- apply ------------------------------------------------------------------ */

static NcToken
tok (NcStore *s, NcTokenKind kind, const char *name)
{
  return nc_store_token (s, kind, name, TRUE);
}

static gboolean
apply_effect (NcTxn *txn, const NcEffect *e, GError **error)
{
  NcStore *s = txn->store;
  const NcMap *props = e->value.type == NC_VALUE_MAP ? e->value.u.map : NULL;

  switch (e->kind)
    {
    case NC_EFFECT_CREATE_NODE:
      {
        if (e->id < 0)
          break;
        if (e->value.type != NC_VALUE_NULL && props == NULL)
          break;
        guint n = e->labels ? g_strv_length (e->labels) : 0;
        g_autofree NcToken *labels = g_new (NcToken, n + 1);
        for (guint i = 0; i < n; i++)
          labels[i] = tok (s, NC_TOKEN_LABEL, e->labels[i]);
        if (!map_storable (props, error))
          return FALSE;
        ensure_key_tokens (s, props);
        g_autoptr (NcMap) clean = map_without_nulls (txn->store, props);
        return do_create_node (txn, e->id, labels, n, clean, error) >= 0;
      }
    case NC_EFFECT_DELETE_NODE:
      /* the leader may have deleted the relationships after the node */
      return do_delete_node (txn, e->id, DELETE_DEFERRED, error);
    case NC_EFFECT_SET_NODE_PROP:
    case NC_EFFECT_SET_REL_PROP:
      if (e->name == NULL || !value_storable (&e->value, error))
        break;
      tok (s, NC_TOKEN_PROP_KEY, e->name);
      return do_set_prop (txn, e->kind == NC_EFFECT_SET_REL_PROP, e->id, e->name, &e->value, error);
    case NC_EFFECT_ADD_LABEL:
      if (e->name == NULL)
        break;
      return do_add_label (txn, e->id, tok (s, NC_TOKEN_LABEL, e->name), error);
    case NC_EFFECT_REMOVE_LABEL:
      if (e->name == NULL)
        break;
      return do_remove_label (txn, e->id, tok (s, NC_TOKEN_LABEL, e->name), error);
    case NC_EFFECT_CREATE_REL:
      {
        if (e->id < 0 || e->name == NULL || (e->value.type != NC_VALUE_NULL && props == NULL))
          break;
        if (!map_storable (props, error))
          return FALSE;
        ensure_key_tokens (s, props);
        g_autoptr (NcMap) clean = map_without_nulls (txn->store, props);
        return do_create_rel (txn, e->id, tok (s, NC_TOKEN_REL_TYPE, e->name), e->start, e->end,
                              clean, error) >= 0;
      }
    case NC_EFFECT_DELETE_REL:
      return do_delete_rel (txn, e->id, error);
    case NC_EFFECT_CREATE_SCHEMA:
      if (e->name == NULL || e->name2 == NULL || e->name3 == NULL)
        break;
      /* Schema is not versioned: a snapshot dump carries the schema as of
       * the dump, which may already include entries the WAL after the
       * snapshot's index creates or drops again. Both are idempotent here. */
      return do_create_schema (txn, (NcSchemaKind) e->id, e->name, tok (s, NC_TOKEN_LABEL, e->name2),
                               tok (s, NC_TOKEN_PROP_KEY, e->name3), TRUE, error);
    case NC_EFFECT_DROP_SCHEMA:
      if (e->name == NULL)
        break;
      return do_drop_schema (txn, e->name, TRUE, error);
    case NC_EFFECT_NEXT_IDS:
      if (e->id < 0 || e->start < 0)
        break;
      s->next_node = MAX (s->next_node, e->id);
      s->next_rel = MAX (s->next_rel, e->start);
      return TRUE;
    case NC_EFFECT_META:
      return TRUE; /* for modules; nothing in the graph */
    }
  g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_BAD_WRITESET,
               "malformed effect of kind %d", (int) e->kind);
  return FALSE;
}

gboolean
nc_store_apply_writeset (NcStore *store, const NcWriteSet *ws, NcLsn lsn, GError **error)
{
  NcTxn *txn = nc_store_begin_write (store);
  txn->applying = TRUE;
  for (guint i = 0; i < nc_writeset_len (ws); i++)
    {
      g_autoptr (GError) local = NULL;
      lock_write (&store->lock);
      gboolean ok = apply_effect (txn, nc_writeset_get (ws, i), &local);
      unlock_write (&store->lock);
      if (!ok)
        {
          nc_txn_rollback (txn);
          g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_BAD_WRITESET,
                       "write-set for index %" G_GUINT64_FORMAT " does not apply at effect %u: %s",
                       lsn, i, local->message);
          return FALSE;
        }
    }
  g_autoptr (GError) local = NULL;
  lock_write (&store->lock);
  gboolean ok = check_deferred_deletes (txn, &local);
  unlock_write (&store->lock);
  if (!ok)
    {
      nc_txn_rollback (txn);
      g_set_error (error, NC_STORE_ERROR, NC_STORE_ERROR_BAD_WRITESET,
                   "write-set for index %" G_GUINT64_FORMAT " does not apply: %s", lsn, local->message);
      return FALSE;
    }
  nc_txn_commit (txn, lsn);
  return TRUE;
}

/* ---- reads --------------------------------------------------------------- */

gboolean
nc_txn_node_exists (NcTxn *txn, NcNodeId id)
{
  txn_read_lock (txn);
  gboolean ok = node_visible (txn->store, txn, id) != NULL;
  txn_read_unlock (txn);
  return ok;
}

gboolean
nc_txn_rel_exists (NcTxn *txn, NcRelId id)
{
  txn_read_lock (txn);
  gboolean ok = rel_visible (txn->store, txn, id) != NULL;
  txn_read_unlock (txn);
  return ok;
}

GArray *
nc_txn_node_labels (NcTxn *txn, NcNodeId id)
{
  GArray *out = NULL;
  txn_read_lock (txn);
  Version *v = node_visible (txn->store, txn, id);
  if (v != NULL)
    {
      out = g_array_sized_new (FALSE, FALSE, sizeof (NcToken), v->n_labels);
      g_array_append_vals (out, v->labels, v->n_labels);
    }
  txn_read_unlock (txn);
  return out;
}

gboolean
nc_txn_node_has_label (NcTxn *txn, NcNodeId id, NcToken label)
{
  txn_read_lock (txn);
  Version *v = node_visible (txn->store, txn, id);
  gboolean has = v != NULL && version_has_label (v, label);
  txn_read_unlock (txn);
  return has;
}

static inline NcValue
prop_in_version (const Version *v, const NcString *ks)
{
  const NcValue *pv = prop_ref (v, ks);
  return pv != NULL ? nc_value_copy (pv) : nc_value_null ();
}

static NcValue
entity_prop (NcTxn *txn, gboolean rel, gint64 id, NcToken key)
{
  NcValue out = nc_value_null ();
  NcStore *s = txn->store;
  const char *name = NULL;
  const NcString *ks = NULL;
  g_rw_lock_reader_lock (&s->tokens_lock);
  if (key < s->tokens[NC_TOKEN_PROP_KEY].names->len)
    {
      name = g_ptr_array_index (s->tokens[NC_TOKEN_PROP_KEY].names, key);
      ks = g_ptr_array_index (s->key_strings, key);
    }
  g_rw_lock_reader_unlock (&s->tokens_lock);
  if (name == NULL)
    return out;
  txn_read_lock (txn);
  Version *v = rel ? rel_visible (s, txn, id) : node_visible (s, txn, id);
  if (v != NULL)
    out = prop_in_version (v, ks);
  txn_read_unlock (txn);
  return out;
}

static NcMap *
entity_props (NcTxn *txn, gboolean rel, gint64 id)
{
  NcMap *out = NULL;
  txn_read_lock (txn);
  Version *v = rel ? rel_visible (txn->store, txn, id) : node_visible (txn->store, txn, id);
  if (v != NULL)
    out = v->props ? nc_map_ref (v->props) : nc_map_new (0);
  txn_read_unlock (txn);
  return out;
}

NcValue
nc_txn_node_prop (NcTxn *txn, NcNodeId id, NcToken key)
{
  return entity_prop (txn, FALSE, id, key);
}

NcMap *
nc_txn_node_props (NcTxn *txn, NcNodeId id)
{
  return entity_props (txn, FALSE, id);
}

NcValue
nc_txn_rel_prop (NcTxn *txn, NcRelId id, NcToken key)
{
  return entity_prop (txn, TRUE, id, key);
}

NcMap *
nc_txn_rel_props (NcTxn *txn, NcRelId id)
{
  return entity_props (txn, TRUE, id);
}

gboolean
nc_txn_rel_info (NcTxn *txn, NcRelId id, NcToken *type, NcNodeId *start, NcNodeId *end)
{
  txn_read_lock (txn);
  gboolean ok = rel_visible (txn->store, txn, id) != NULL;
  if (ok)
    {
      RelSlot *r = &txn->store->rels[id];
      if (type)
        *type = r->type;
      if (start)
        *start = r->start;
      if (end)
        *end = r->end;
    }
  txn_read_unlock (txn);
  return ok;
}

static gboolean
type_wanted (NcToken t, const NcToken *types, guint n_types)
{
  if (n_types == 0)
    return TRUE;
  for (guint i = 0; i < n_types; i++)
    if (types[i] == t)
      return TRUE;
  return FALSE;
}

gint64
nc_txn_node_degree (NcTxn *txn, NcNodeId id, NcDirection dir, NcToken type)
{
  NcStore *s = txn->store;
  gint64 n = 0;
  guint n_types = type == NC_TOKEN_NONE ? 0 : 1;
  txn_read_lock (txn);
  if (node_visible (s, txn, id) != NULL)
    {
      NodeSlot *slot = &s->nodes[id];
      if (dir & NC_DIR_OUT)
        for (guint32 i = 0; i < slot->out.len; i++)
          if (type_wanted (s->rels[slot->out.v[i].rel].type, &type, n_types) && rel_visible (s, txn, slot->out.v[i].rel))
            n++;
      if (dir & NC_DIR_IN)
        for (guint32 i = 0; i < slot->in.len; i++)
          {
            if (dir == NC_DIR_BOTH && slot->in.v[i].other == id)
              continue; /* self-loop already counted as outgoing */
            if (type_wanted (s->rels[slot->in.v[i].rel].type, &type, n_types) && rel_visible (s, txn, slot->in.v[i].rel))
              n++;
          }
    }
  txn_read_unlock (txn);
  return n;
}

static NcEntity *
materialise_node_locked (NcTxn *txn, gint64 id, Version *v)
{
  NcEntity *e = nc_entity_new (FALSE, id);
  e->materialised = TRUE;
  e->n_labels = v->n_labels;
  e->labels = g_new (NcString *, MAX (v->n_labels, 1));
  for (guint32 i = 0; i < v->n_labels; i++)
    {
      const char *name = nc_store_token_name (txn->store, NC_TOKEN_LABEL, v->labels[i]);
      e->labels[i] = nc_string_new (name, strlen (name));
    }
  e->props = v->props ? nc_map_ref (v->props) : nc_map_new (0);
  return e;
}

NcValue
nc_txn_materialise_node (NcTxn *txn, NcNodeId id)
{
  NcValue out = nc_value_null ();
  txn_read_lock (txn);
  Version *v = node_visible (txn->store, txn, id);
  if (v != NULL)
    out = nc_value_entity_take (materialise_node_locked (txn, id, v));
  txn_read_unlock (txn);
  return out;
}

NcValue
nc_txn_materialise_rel (NcTxn *txn, NcRelId id)
{
  NcValue out = nc_value_null ();
  NcStore *s = txn->store;
  txn_read_lock (txn);
  Version *v = rel_visible (s, txn, id);
  if (v != NULL)
    {
      RelSlot *r = &s->rels[id];
      NcEntity *e = nc_entity_new (TRUE, id);
      const char *type = nc_store_token_name (s, NC_TOKEN_REL_TYPE, r->type);
      e->materialised = TRUE;
      e->rel_type = nc_string_new (type, strlen (type));
      e->start_id = r->start;
      e->end_id = r->end;
      e->props = v->props ? nc_map_ref (v->props) : nc_map_new (0);
      out = nc_value_entity_take (e);
    }
  txn_read_unlock (txn);
  return out;
}

/* Counts by scanning are only needed for snapshots older than the last
 * commit; done in batches so the writer is not held up. */
static gint64
count_by_scan (NcTxn *txn, gboolean rels, NcToken label)
{
  NcStore *s = txn->store;
  gint64 n = 0, pos = 0, end;
  lock_read (&s->lock);
  end = rels ? s->rels_len : s->nodes_len;
  unlock_read (&s->lock);
  while (pos < end)
    {
      lock_read (&s->lock);
      gint64 stop = MIN (end, pos + CURSOR_SCAN_LIMIT);
      for (; pos < stop; pos++)
        {
          Version *v = rels ? rel_visible (s, txn, pos) : node_visible (s, txn, pos);
          if (v != NULL && (rels || label == NC_TOKEN_NONE || version_has_label (v, label)))
            n++;
        }
      unlock_read (&s->lock);
    }
  return n;
}

/* Counts as of a reader's snapshot from the committed counts minus the
 * commits after it; FALSE when those commits are no longer recorded. */
static gboolean
count_at_snapshot (NcStore *s, NcLsn snapshot, int what, NcToken label, gint64 *out)
{
  gint64 n;
  if (snapshot < s->count_floor)
    return FALSE;
  n = what == 0 ? s->committed_nodes : what == 1 ? s->committed_rels : counts_get (s->committed_labels, label);
  for (guint i = s->count_history->len; i-- > 0;)
    {
      const CountDelta *d = &g_array_index (s->count_history, CountDelta, i);
      if (d->lsn <= snapshot)
        break;
      if (what == 0)
        n -= d->d_nodes;
      else if (what == 1)
        n -= d->d_rels;
      else
        for (guint j = 0; j < d->n_labels; j++)
          if (d->labels[j] == label)
            n -= d->deltas[j];
    }
  *out = n;
  return TRUE;
}

gint64
nc_txn_count_nodes (NcTxn *txn, NcToken label)
{
  NcStore *s = txn->store;
  gint64 n = -1;
  gboolean ok = TRUE;
  lock_read (&s->lock);
  if (G_UNLIKELY (!txn_current (txn)))
    n = 0; /* a replaced store: nothing is visible (nc_txn_check_store) */
  else if (txn->write)
    n = label == NC_TOKEN_NONE ? s->head_nodes : counts_get (s->head_labels, label);
  else
    ok = count_at_snapshot (s, txn->snapshot, label == NC_TOKEN_NONE ? 0 : 2, label, &n);
  unlock_read (&s->lock);
  return ok ? n : count_by_scan (txn, FALSE, label);
}

gint64
nc_txn_count_rels (NcTxn *txn)
{
  NcStore *s = txn->store;
  gint64 n = -1;
  gboolean ok = TRUE;
  lock_read (&s->lock);
  if (G_UNLIKELY (!txn_current (txn)))
    n = 0;
  else if (txn->write)
    n = s->head_rels;
  else
    ok = count_at_snapshot (s, txn->snapshot, 1, NC_TOKEN_NONE, &n);
  unlock_read (&s->lock);
  return ok ? n : count_by_scan (txn, TRUE, NC_TOKEN_NONE);
}

/* ---- cursors --------------------------------------------------------------- */

static NcCursor *
cursor_new (NcTxn *txn, CursorKind kind)
{
  NcCursor *c = g_new0 (NcCursor, 1);
  c->txn = txn;
  c->kind = kind;
  c->last_other = -1;
  c->token = NC_TOKEN_NONE;
  c->key = NC_TOKEN_NONE;
  c->buf_cap = 16;
  c->buf = g_new (gint64, c->buf_cap);
  c->other = g_new (gint64, c->buf_cap);
  return c;
}

NcCursor *
nc_txn_scan_nodes (NcTxn *txn, NcToken label)
{
  NcCursor *c = cursor_new (txn, label == NC_TOKEN_NONE ? CUR_NODES : CUR_NODES_LABEL);
  c->token = label;
  txn_read_lock (txn);
  /* nodes created after the cursor started are never part of it */
  c->cap = txn->store->nodes_len;
  txn_read_unlock (txn);
  return c;
}

NcCursor *
nc_txn_scan_rels (NcTxn *txn, NcToken type)
{
  NcCursor *c = cursor_new (txn, CUR_RELS);
  c->token = type;
  lock_read (&txn->store->lock);
  c->cap = txn->store->rels_len;
  unlock_read (&txn->store->lock);
  return c;
}

NcCursor *
nc_txn_expand (NcTxn *txn, NcNodeId id, NcDirection dir, const NcToken *types, guint n_types)
{
  NcStore *s = txn->store;
  NcCursor *c = cursor_new (txn, CUR_EXPAND);
  c->node = id;
  c->dir = dir;
  c->phase = (dir & NC_DIR_OUT) ? 0 : 1;
  if (n_types > 0)
    {
      c->types = g_memdup2 (types, n_types * sizeof (NcToken));
      c->n_types = n_types;
    }
  txn_read_lock (txn);
  if (id >= 0 && id < s->nodes_len)
    {
      c->cap = s->nodes[id].out.len;
      c->cap_in = s->nodes[id].in.len;
    }
  else
    c->done = TRUE;
  txn_read_unlock (txn);
  return c;
}

/* Does a value satisfy the cursor's equality or range predicate? */
static gboolean
value_matches (const NcCursor *c, const NcValue *v)
{
  int cmp;
  if (c->match == MATCH_EQUAL)
    return nc_value_equals (v, &c->value) == NC_TRI_TRUE;
  /* integers against integer bounds (ages, years, counts): the comparison
   * nc_value_compare would make, without its calls */
  if (v->type == NC_VALUE_INT && (c->lower.type == NC_VALUE_INT || c->lower.type == NC_VALUE_NULL)
      && (c->upper.type == NC_VALUE_INT || c->upper.type == NC_VALUE_NULL)
      && (c->lower.type != NC_VALUE_NULL || c->upper.type != NC_VALUE_NULL))
    {
      gint64 x = v->u.i;
      if (c->lower.type == NC_VALUE_INT && (x < c->lower.u.i || (x == c->lower.u.i && !c->lower_inclusive)))
        return FALSE;
      if (c->upper.type == NC_VALUE_INT && (x > c->upper.u.i || (x == c->upper.u.i && !c->upper_inclusive)))
        return FALSE;
      return TRUE;
    }
  if (c->lower.type != NC_VALUE_NULL)
    {
      if (!nc_value_compare (v, &c->lower, &cmp) || cmp < 0 || (cmp == 0 && !c->lower_inclusive))
        return FALSE;
    }
  if (c->upper.type != NC_VALUE_NULL)
    {
      if (!nc_value_compare (v, &c->upper, &cmp) || cmp > 0 || (cmp == 0 && !c->upper_inclusive))
        return FALSE;
    }
  if (c->lower.type == NC_VALUE_NULL && c->upper.type == NC_VALUE_NULL)
    return v->type != NC_VALUE_NULL;
  return TRUE;
}

static NcCursor *
property_cursor (NcTxn *txn, NcToken label, NcToken key)
{
  NcStore *s = txn->store;
  NcCursor *c = cursor_new (txn, CUR_FILTER);
  c->token = label;
  c->key = key;
  const char *name = nc_store_token_name (s, NC_TOKEN_PROP_KEY, key);
  c->key_name = g_strdup (name);
  c->key_str = nc_store_key_string (s, key);
  lock_read (&s->lock);
  c->cap = s->nodes_len;
  Schema *sc = label != NC_TOKEN_NONE ? find_index (s, label, key) : NULL;
  if (sc != NULL)
    {
      c->kind = CUR_INDEX;
      c->index = index_ref (sc->index);
    }
  unlock_read (&s->lock);
  if (name == NULL)
    c->done = TRUE; /* a key nobody ever used matches nothing */
  return c;
}

NcCursor *
nc_txn_seek_nodes (NcTxn *txn, NcToken label, NcToken key, const NcValue *value)
{
  NcCursor *c = property_cursor (txn, label, key);
  c->match = MATCH_EQUAL;
  c->value = nc_value_copy (value);
  if (value->type == NC_VALUE_NULL)
    c->done = TRUE;
  return c;
}

NcCursor *
nc_txn_range_nodes (NcTxn *txn, NcToken label, NcToken key,
                    const NcValue *lower, gboolean lower_inclusive,
                    const NcValue *upper, gboolean upper_inclusive)
{
  NcCursor *c = property_cursor (txn, label, key);
  c->match = MATCH_RANGE;
  c->lower = lower ? nc_value_copy (lower) : nc_value_null ();
  c->upper = upper ? nc_value_copy (upper) : nc_value_null ();
  c->lower_inclusive = lower_inclusive;
  c->upper_inclusive = upper_inclusive;
  /* a null bound compares with nothing */
  if ((lower && lower->type == NC_VALUE_NULL) || (upper && upper->type == NC_VALUE_NULL))
    c->done = TRUE;
  return c;
}

static void
push (NcCursor *c, gint64 id, gint64 other)
{
  c->buf[c->buf_len] = id;
  c->other[c->buf_len] = other;
  c->buf_len++;
}

static void
fill_nodes (NcCursor *c)
{
  NcStore *s = c->txn->store;
  guint examined = 0;
  while (c->pos < c->cap && c->buf_len < c->buf_cap && examined < CURSOR_SCAN_LIMIT)
    {
      gint64 id = c->pos++;
      examined++;
      if (node_visible (s, c->txn, id) != NULL)
        push (c, id, -1);
    }
  if (c->pos >= c->cap)
    c->done = TRUE;
}

/* Next node id >= c->pos with the label bit set, or -1. */
static gint64
bits_next (NcStore *s, NcToken label, gint64 pos, gint64 cap)
{
  Bitset *b = label < s->label_bits->len ? g_ptr_array_index (s->label_bits, label) : NULL;
  if (b == NULL)
    return -1;
  gsize w = (gsize) pos / 64;
  if (w >= b->n_words)
    return -1;
  guint64 word = b->words[w] & (~G_GUINT64_CONSTANT (0) << (pos % 64));
  while (TRUE)
    {
      if (word != 0)
        {
          gint64 id = (gint64) (w * 64 + (gsize) __builtin_ctzll (word));
          return id < cap ? id : -1;
        }
      if (++w >= b->n_words || (gint64) (w * 64) >= cap)
        return -1;
      word = b->words[w];
    }
}

/* Keeps the fetched property of the node about to be pushed. */
static inline void
fetch_store (NcCursor *c, const NcValue *pv)
{
  value_store (&c->vals[c->buf_len], pv);
  c->fetched[c->buf_len] = TRUE;
}

/* Label scan, optionally filtering on a property (CUR_FILTER). */
static void
fill_nodes_label (NcCursor *c)
{
  NcStore *s = c->txn->store;
  guint examined = 0;
  /* with the columns the cursor needs, a node whose head is the version
   * this transaction sees is decided from dense arrays read in id order:
   * the versions and maps are only loaded for the others */
  gboolean columns_do = (c->kind != CUR_FILTER || c->key_col != NULL) && (c->vals == NULL || c->fetch_col != NULL);
  while (c->buf_len < c->buf_cap && examined < CURSOR_SCAN_LIMIT)
    {
      gint64 id = c->token == NC_TOKEN_NONE
                    ? (c->pos < c->cap ? c->pos : -1)
                    : bits_next (s, c->token, c->pos, c->cap);
      if (id < 0)
        {
          c->done = TRUE;
          return;
        }
      c->pos = id + 1;
      examined++;
      const NodeHot *hot;
      const Version *v = NULL;
      if (id < s->nodes_len && node_hot (s, c->txn, id, &hot))
        {
          if (hot->tomb || (c->token != NC_TOKEN_NONE && (hot->n_labels == 0 || hot->label0 != c->token)))
            continue;
          if (c->kind == CUR_FILTER)
            {
              const NcValue *val = c->key_col != NULL ? &c->key_col->vals[id]
                                                      : prop_ref ((v = s->nodes[id].head), c->key_str);
              if (val == NULL || !value_matches (c, val))
                continue;
            }
          if (c->vals != NULL)
            {
              const NcValue *pv = c->fetch_col != NULL ? &c->fetch_col->vals[id]
                                                        : prop_ref (v ? v : s->nodes[id].head, c->fetch_str);
              fetch_store (c, pv);
            }
          push (c, id, -1);
          continue;
        }
      /* versions and property maps are separate heap blocks: start loading
       * the versions 32 nodes ahead (this loop spends a few nanoseconds per
       * node, so 8 ahead was too close to hide a miss), and the property map of every node
       * yielded (the engine reads properties of this batch right after),
       * so a scan waits on memory less often */
      if (!columns_do && id + 32 < s->nodes_len)
        __builtin_prefetch (s->nodes[id + 32].head);
      v = node_visible (s, c->txn, id);
      if (v == NULL || (c->token != NC_TOKEN_NONE && !version_has_label (v, c->token)))
        continue;
      if (c->kind == CUR_FILTER)
        {
          const NcValue *val = prop_ref (v, c->key_str);
          if (val == NULL || !value_matches (c, val))
            continue;
        }
      if (v->props != NULL)
        {
          __builtin_prefetch (v->props);
          __builtin_prefetch ((const char *) v->props + 64);
        }
      if (c->vals != NULL)
        {
          /* read the property while the version is at hand; start on the
           * map of a node a little ahead (its version was requested 32
           * nodes ago) */
          if (!columns_do && id + 12 < s->nodes_len)
            {
              const Version *ahead = s->nodes[id + 12].head;
              if (ahead != NULL && ahead->props != NULL)
                {
                  __builtin_prefetch (ahead->props);
                  __builtin_prefetch ((const char *) ahead->props + 64);
                }
            }
          fetch_store (c, prop_ref (v, c->fetch_str));
        }
      push (c, id, -1);
    }
}

static void
fill_rels (NcCursor *c)
{
  NcStore *s = c->txn->store;
  guint examined = 0;
  while (c->pos < c->cap && c->buf_len < c->buf_cap && examined < CURSOR_SCAN_LIMIT)
    {
      gint64 id = c->pos++;
      examined++;
      if ((c->token == NC_TOKEN_NONE || s->rels[id].type == c->token) && rel_visible (s, c->txn, id))
        push (c, id, -1);
    }
  if (c->pos >= c->cap)
    c->done = TRUE;
}

static void
fill_expand (NcCursor *c)
{
  NcStore *s = c->txn->store;
  NodeSlot *n = &s->nodes[c->node];
  guint examined = 0;
  while (c->buf_len < c->buf_cap && examined < CURSOR_SCAN_LIMIT)
    {
      AdjList *l = c->phase == 0 ? &n->out : &n->in;
      gint64 cap = MIN (c->phase == 0 ? c->cap : c->cap_in, (gint64) l->len);
      if (c->pos >= cap)
        {
          if (c->phase == 0 && (c->dir & NC_DIR_IN))
            {
              c->phase = 1;
              c->pos = 0;
              continue;
            }
          c->done = TRUE;
          return;
        }
      /* Adjacency is in creation order, so the relationship slots, their
       * versions and the other nodes are all over memory. A chunk of
       * entries (at most what the batch can still take, as each entry
       * yields at most one id) is walked three times: request every slot,
       * then every version, then check them. The loads of one pass are
       * independent and overlap; prefetching a fixed distance ahead could
       * not start until the fifth entry of the short lists most nodes
       * have, and each of those waited for its misses one after another. */
      const AdjEntry *v = l->v;
      gint64 first = c->pos;
      gint64 end = MIN (cap, first + (gint64) (c->buf_cap - c->buf_len));
      /* the far node's checks (nc_txn_expand_to_label,
       * nc_cursor_filter_range) read its hot entry and the filter's column,
       * and its version only when those do not answer */
      gboolean far = c->token != NC_TOKEN_NONE || c->key != NC_TOKEN_NONE;
      for (gint64 i = first; i < end; i++)
        {
          __builtin_prefetch (&s->rels[v[i].rel]);
          if (far)
            {
              __builtin_prefetch (&s->hot[v[i].other]);
              if (c->key_col != NULL)
                __builtin_prefetch (&c->key_col->vals[v[i].other]);
            }
        }
      for (gint64 i = first; i < end; i++)
        {
          /* the relationship check reads the slot only, unless the head
           * is newer than a reader's snapshot */
          const RelSlot *rs = &s->rels[v[i].rel];
          if (!c->txn->write && rs->head_lsn > c->txn->snapshot)
            __builtin_prefetch (rs->head);
          const NodeHot *oh;
          if (far && (!node_hot (s, c->txn, v[i].other, &oh) || (c->key != NC_TOKEN_NONE && c->key_col == NULL)))
            __builtin_prefetch (s->nodes[v[i].other].head);
        }
      for (gint64 i = first; i < end; i++)
        {
          const AdjEntry *a = &v[i];
          if (c->phase == 1 && c->dir == NC_DIR_BOTH && a->other == c->node)
            continue; /* self-loop: yielded from the outgoing list */
          if (!type_wanted (s->rels[a->rel].type, c->types, c->n_types) || !rel_visible (s, c->txn, a->rel))
            continue;
          if (c->token != NC_TOKEN_NONE || c->key != NC_TOKEN_NONE)
            {
              /* nc_txn_expand_to_label / nc_cursor_filter_range; the far
               * node's property map is what the engine reads next (a WHERE
               * on the far node) */
              const NodeHot *oh;
              if (node_hot (s, c->txn, a->other, &oh))
                {
                  if (oh->tomb || (c->token != NC_TOKEN_NONE && (oh->n_labels == 0 || oh->label0 != c->token)))
                    continue;
                  if (c->key != NC_TOKEN_NONE)
                    {
                      const NcValue *pv = c->key_col != NULL ? &c->key_col->vals[a->other]
                                                             : prop_ref (s->nodes[a->other].head, c->key_str);
                      if (pv == NULL || !value_matches (c, pv))
                        continue;
                    }
                  push (c, a->rel, a->other);
                  continue;
                }
              Version *ov = node_visible (s, c->txn, a->other);
              if (ov == NULL || (c->token != NC_TOKEN_NONE && !version_has_label (ov, c->token)))
                continue;
              if (c->key != NC_TOKEN_NONE)
                {
                  const NcValue *pv = prop_ref (ov, c->key_str);
                  if (pv == NULL || !value_matches (c, pv))
                    continue;
                }
              if (ov->props != NULL)
                {
                  /* a map of three entries already spans two lines */
                  __builtin_prefetch (ov->props);
                  __builtin_prefetch ((const char *) ov->props + 64);
                }
            }
          push (c, a->rel, a->other);
        }
      examined += (guint) (end - first);
      c->pos = end;
    }
}

/* Index bounds: the first key at or after the lower bound; a sentinel when
 * only an upper bound is given avoids walking unrelated types. */
static GTreeNode *
index_start (NcCursor *c)
{
  GTree *tree = c->index->tree;
  IndexKey probe = { nc_value_null (), G_MININT64 };
  if (c->have_resume)
    {
      GTreeNode *n = g_tree_lower_bound (tree, &c->resume);
      if (n != NULL && index_key_cmp (g_tree_node_key (n), &c->resume, NULL) == 0)
        n = g_tree_node_next (n);
      return n;
    }
  if (c->match == MATCH_EQUAL)
    probe.value = c->value;
  else if (c->lower.type != NC_VALUE_NULL)
    probe.value = c->lower;
  else if (c->upper.type == NC_VALUE_INT || c->upper.type == NC_VALUE_FLOAT)
    probe.value = nc_value_float (-INFINITY);
  else if (c->upper.type == NC_VALUE_STRING)
    {
      NcValue empty = nc_value_string ("");
      GTreeNode *n;
      probe.value = empty;
      n = g_tree_lower_bound (tree, &probe);
      nc_value_clear (&empty);
      return n;
    }
  else
    return g_tree_node_first (tree);
  return g_tree_lower_bound (tree, &probe);
}

/* TRUE when no later key can match. */
static gboolean
index_past_end (const NcCursor *c, const NcValue *v)
{
  if (c->match == MATCH_EQUAL)
    return nc_value_order (v, &c->value) != 0;
  if (c->upper.type != NC_VALUE_NULL)
    return nc_value_order (v, &c->upper) > 0;
  if (c->lower.type == NC_VALUE_INT || c->lower.type == NC_VALUE_FLOAT)
    return !(v->type == NC_VALUE_INT || v->type == NC_VALUE_FLOAT);
  if (c->lower.type == NC_VALUE_STRING)
    return v->type != NC_VALUE_STRING;
  return FALSE;
}

static void
fill_index (NcCursor *c)
{
  NcStore *s = c->txn->store;
  guint examined = 0;
  GTreeNode *n = index_start (c);
  for (; n != NULL && c->buf_len < c->buf_cap && examined < CURSOR_SCAN_LIMIT;
       n = g_tree_node_next (n))
    {
      const IndexKey *k = g_tree_node_key (n);
      examined++;
      if (index_past_end (c, &k->value))
        {
          n = NULL;
          break;
        }
      if (c->have_resume)
        nc_value_clear (&c->resume.value);
      c->resume.value = nc_value_copy (&k->value);
      c->resume.id = k->id;
      c->have_resume = TRUE;
      if (k->id >= c->cap || !value_matches (c, &k->value))
        continue;
      Version *v = node_visible (s, c->txn, k->id);
      if (v == NULL || !version_has_label (v, c->token))
        continue;
      const NcValue *cur = nc_map_get (v->props, c->key_name);
      /* the entry must be the node's current value: yields each node once */
      if (cur == NULL || nc_value_order (cur, &k->value) != 0 || !value_matches (c, cur))
        continue;
      push (c, k->id, -1);
    }
  if (n == NULL)
    c->done = TRUE;
}

gboolean
nc_cursor_next (NcCursor *cur, gint64 *id)
{
  while (cur->buf_pos >= cur->buf_len)
    {
      if (cur->done)
        return FALSE;
      if (cur->buf_len == cur->buf_cap && cur->buf_cap < CURSOR_BATCH)
        {
          guint old_cap = cur->buf_cap;
          cur->buf_cap *= 2;
          cur->buf = g_renew (gint64, cur->buf, cur->buf_cap);
          cur->other = g_renew (gint64, cur->other, cur->buf_cap);
          if (cur->vals != NULL)
            {
              cur->vals = g_renew (NcValue, cur->vals, cur->buf_cap);
              cur->fetched = g_renew (gboolean, cur->fetched, cur->buf_cap);
              memset (cur->vals + old_cap, 0, (cur->buf_cap - old_cap) * sizeof (NcValue));
              memset (cur->fetched + old_cap, 0, (cur->buf_cap - old_cap) * sizeof (gboolean));
            }
        }
      if (cur->fetched != NULL)
        memset (cur->fetched, 0, cur->buf_cap * sizeof (gboolean));
      cur->buf_len = cur->buf_pos = 0;
      txn_read_lock (cur->txn);
      if (G_UNLIKELY (!txn_current (cur->txn)))
        {
          /* the store was replaced: positions, caps and the expanded node
           * refer to the old one (nc_txn_check_store reports it) */
          cur->done = TRUE;
          txn_read_unlock (cur->txn);
          return FALSE;
        }
      switch (cur->kind)
        {
        case CUR_NODES: fill_nodes (cur); break;
        case CUR_NODES_LABEL:
        case CUR_FILTER: fill_nodes_label (cur); break;
        case CUR_RELS: fill_rels (cur); break;
        case CUR_EXPAND: fill_expand (cur); break;
        case CUR_INDEX: fill_index (cur); break;
        }
      txn_read_unlock (cur->txn);
    }
  *id = cur->buf[cur->buf_pos];
  cur->last_other = cur->other[cur->buf_pos];
  cur->buf_pos++;
  return TRUE;
}

NcNodeId
nc_cursor_rel_other (NcCursor *cur)
{
  return cur->last_other;
}

void
nc_cursor_free (NcCursor *cur)
{
  if (cur == NULL)
    return;
  nc_value_clear (&cur->value);
  nc_value_clear (&cur->lower);
  nc_value_clear (&cur->upper);
  if (cur->have_resume)
    nc_value_clear (&cur->resume.value);
  index_unref (cur->index);
  g_free (cur->key_name);
  g_free (cur->types);
  g_free (cur->buf);
  g_free (cur->other);
  if (cur->vals != NULL)
    for (guint i = 0; i < cur->buf_cap; i++)
      nc_value_clear (&cur->vals[i]);
  g_free (cur->vals);
  g_free (cur->fetched);
  g_free (cur);
}

/* ---- dump ------------------------------------------------------------------ */

typedef struct {
  NcWriteSet *batch;
  guint max;
  NcStoreEmitFunc emit;
  gpointer user_data;
} Dumper;

static gboolean
dump_flush (Dumper *d, gboolean force, GError **error)
{
  if (nc_writeset_len (d->batch) == 0 || (!force && nc_writeset_len (d->batch) < d->max))
    return TRUE;
  gboolean ok = d->emit (d->batch, d->user_data, error);
  nc_writeset_truncate (d->batch, 0);
  return ok;
}

gboolean
nc_store_dump (NcTxn *read_txn, guint batch_effects, NcStoreEmitFunc emit, gpointer user_data,
               GError **error)
{
  NcStore *s = read_txn->store;
  g_autoptr (NcWriteSet) batch = nc_writeset_new ();
  Dumper d = { batch, batch_effects ? batch_effects : DEFAULT_DUMP_BATCH, emit, user_data };
  gint64 nodes_end, rels_end;

  g_autoptr (NcWriteSet) schema = nc_writeset_new ();
  lock_read (&s->lock);
  if (!txn_current (read_txn))
    {
      unlock_read (&s->lock);
      return nc_txn_check_store (read_txn, error);
    }
  for (guint i = 0; i < s->schema->len; i++)
    {
      Schema *sc = g_ptr_array_index (s->schema, i);
      NcEffect e = { .kind = NC_EFFECT_CREATE_SCHEMA, .id = sc->kind, .name = sc->name,
                     .name2 = sc->label_name, .name3 = sc->key_name };
      nc_writeset_append (schema, &e);
    }
  nodes_end = s->nodes_len;
  rels_end = s->rels_len;
  unlock_read (&s->lock);
  /* emit runs without the lock held: it may write to disk */
  for (guint i = 0; i < nc_writeset_len (schema); i++)
    {
      nc_writeset_append (batch, nc_writeset_get (schema, i));
      if (!dump_flush (&d, FALSE, error))
        return FALSE;
    }

  for (gint64 pos = 0; pos < nodes_end;)
    {
      lock_read (&s->lock);
      if (!txn_current (read_txn))
        {
          unlock_read (&s->lock);
          return nc_txn_check_store (read_txn, error);
        }
      for (gint64 stop = MIN (nodes_end, pos + CURSOR_BATCH); pos < stop && nc_writeset_len (batch) < d.max; pos++)
        {
          Version *v = node_visible (s, read_txn, pos);
          if (v == NULL)
            continue;
          g_autofree gchar **names = label_names (s, v->labels, v->n_labels);
          NcEffect e = { .kind = NC_EFFECT_CREATE_NODE, .id = pos, .labels = names };
          if (v->props)
            e.value = nc_value_map_take (v->props); /* borrowed */
          nc_writeset_append (batch, &e);
        }
      unlock_read (&s->lock);
      if (!dump_flush (&d, FALSE, error))
        return FALSE;
    }
  for (gint64 pos = 0; pos < rels_end;)
    {
      lock_read (&s->lock);
      if (!txn_current (read_txn))
        {
          unlock_read (&s->lock);
          return nc_txn_check_store (read_txn, error);
        }
      for (gint64 stop = MIN (rels_end, pos + CURSOR_BATCH); pos < stop && nc_writeset_len (batch) < d.max; pos++)
        {
          Version *v = rel_visible (s, read_txn, pos);
          if (v == NULL)
            continue;
          RelSlot *r = &s->rels[pos];
          NcEffect e = { .kind = NC_EFFECT_CREATE_REL, .id = pos, .start = r->start, .end = r->end,
                         .name = (char *) nc_store_token_name (s, NC_TOKEN_REL_TYPE, r->type) };
          if (v->props)
            e.value = nc_value_map_take (v->props);
          nc_writeset_append (batch, &e);
        }
      unlock_read (&s->lock);
      if (!dump_flush (&d, FALSE, error))
        return FALSE;
    }
  /* ids in use after the snapshot's index are reserved too: ids are never reused */
  NcEffect next = { .kind = NC_EFFECT_NEXT_IDS };
  nc_store_get_next_ids (s, &next.id, &next.start);
  /* the next ids just read belong to the dumped store only if no clear came
   * in between */
  if (!nc_txn_check_store (read_txn, error) || !dump_flush (&d, FALSE, error))
    return FALSE;
  nc_writeset_append (batch, &next);
  return dump_flush (&d, TRUE, error);
}

/* ---- engine helpers ---------------------------------------------------- */

void
nc_store_error_to_nc_error (GError **error)
{
  if (error == NULL || *error == NULL || (*error)->domain != NC_STORE_ERROR)
    return;
  GError *e = *error;
  NcErrorCode code;
  switch ((NcStoreError) e->code)
    {
    case NC_STORE_ERROR_NOT_FOUND: code = NC_ERROR_ENTITY_NOT_FOUND; break;
    case NC_STORE_ERROR_STILL_HAS_RELS:
    case NC_STORE_ERROR_CONSTRAINT: code = NC_ERROR_CONSTRAINT_FAILED; break;
    case NC_STORE_ERROR_SCHEMA:
      code = strstr (e->message, "no such") != NULL ? NC_ERROR_SCHEMA_MISSING : NC_ERROR_SCHEMA_EXISTS;
      break;
    case NC_STORE_ERROR_READ_ONLY: code = NC_ERROR_ACCESS_MODE; break;
    case NC_STORE_ERROR_BAD_WRITESET:
    default: code = NC_ERROR_UNKNOWN; break;
    }
  e->domain = NC_ERROR;
  e->code = code;
}

gboolean
nc_txn_deleted_in_txn (NcTxn *txn, gboolean rel, gint64 id)
{
  NcStore *s = txn->store;
  gboolean deleted = FALSE;
  if (!txn->write)
    return FALSE;
  lock_read (&s->lock);
  Version *h = NULL;
  if (rel && id >= 0 && id < s->rels_len)
    h = s->rels[id].head;
  else if (!rel && id >= 0 && id < s->nodes_len)
    h = s->nodes[id].head;
  deleted = h != NULL && h->tomb && h->lsn == NC_LSN_PENDING;
  unlock_read (&s->lock);
  return deleted;
}

gboolean
nc_txn_deleted_rel_info (NcTxn *txn, NcRelId id, NcToken *type, NcNodeId *start, NcNodeId *end)
{
  if (!nc_txn_deleted_in_txn (txn, TRUE, id))
    return FALSE;
  lock_read (&txn->store->lock);
  RelSlot *r = &txn->store->rels[id];
  if (type)
    *type = r->type;
  if (start)
    *start = r->start;
  if (end)
    *end = r->end;
  unlock_read (&txn->store->lock);
  return TRUE;
}

guint
nc_store_debug_chain_length (NcStore *store, gboolean rel, gint64 id)
{
  guint n = 0;
  lock_read (&store->lock);
  Version *v = NULL;
  if (rel && id >= 0 && id < store->rels_len)
    v = store->rels[id].head;
  else if (!rel && id >= 0 && id < store->nodes_len)
    v = store->nodes[id].head;
  for (; v != NULL; v = v->older)
    n++;
  unlock_read (&store->lock);
  return n;
}

/* ---- additions: reads for the engine's hot paths ----------------------- */

const NcString *
nc_store_key_string (NcStore *store, NcToken key)
{
  const NcString *out = NULL;
  g_rw_lock_reader_lock (&store->tokens_lock);
  if (key < store->key_strings->len)
    out = g_ptr_array_index (store->key_strings, key);
  g_rw_lock_reader_unlock (&store->tokens_lock);
  return out;
}

NcValue
nc_txn_prop_interned (NcTxn *txn, gboolean rel, gint64 id, const NcString *key, gboolean *visible)
{
  NcStore *s = txn->store;
  NcValue out = nc_value_null ();
  txn_read_lock (txn);
  const NodeHot *hot;
  const Column *col;
  if (!rel && id >= 0 && id < s->nodes_len && txn_current (txn) && (col = column_of (s, key)) != NULL
      && node_hot (s, txn, id, &hot))
    {
      /* the column holds the head's value, and the head is what txn sees */
      if (!hot->tomb)
        out = nc_value_copy (&col->vals[id]);
      txn_read_unlock (txn);
      if (visible)
        *visible = !hot->tomb;
      return out;
    }
  Version *v = rel ? rel_visible (s, txn, id) : node_visible (s, txn, id);
  if (v != NULL)
    out = prop_in_version (v, key);
  txn_read_unlock (txn);
  if (visible)
    *visible = v != NULL;
  return out;
}

NcCursor *
nc_txn_expand_to_label (NcTxn *txn, NcNodeId id, NcDirection dir, const NcToken *types, guint n_types,
                        NcToken label)
{
  NcCursor *c = nc_txn_expand (txn, id, dir, types, n_types);
  c->token = label;
  return c;
}

gboolean
nc_cursor_expand_restart (NcCursor *cur, NcNodeId id)
{
  if (cur->kind != CUR_EXPAND)
    return FALSE;
  NcStore *s = cur->txn->store;
  cur->node = id;
  cur->phase = (cur->dir & NC_DIR_OUT) ? 0 : 1;
  cur->pos = 0;
  cur->buf_len = cur->buf_pos = 0;
  cur->last_other = -1;
  cur->done = FALSE;
  cur->cap = cur->cap_in = 0;
  txn_read_lock (cur->txn);
  if (id >= 0 && id < s->nodes_len)
    {
      cur->cap = s->nodes[id].out.len;
      cur->cap_in = s->nodes[id].in.len;
    }
  else
    cur->done = TRUE;
  txn_read_unlock (cur->txn);
  return TRUE;
}

gboolean
nc_cursor_filter_range (NcCursor *cur, NcToken key, const NcValue *lower, gboolean lower_inclusive,
                        const NcValue *upper, gboolean upper_inclusive)
{
  if (cur->kind != CUR_NODES_LABEL && cur->kind != CUR_EXPAND && cur->kind != CUR_FILTER)
    return FALSE;
  if (cur->kind == CUR_FILTER && cur->key != key)
    return FALSE;
  if (cur->kind == CUR_NODES_LABEL)
    cur->kind = CUR_FILTER;
  if (cur->key != key || cur->key_str == NULL)
    {
      /* an expand restarted per input row keeps its key: looked up once */
      cur->key = key;
      cur->key_str = nc_store_key_string (cur->txn->store, key);
      cur->key_col = column_create (cur->txn->store, key, cur->key_str);
    }
  if (cur->key_name == NULL)
    cur->key_name = g_strdup (nc_store_token_name (cur->txn->store, NC_TOKEN_PROP_KEY, key));
  cur->match = MATCH_RANGE;
  nc_value_clear (&cur->lower);
  nc_value_clear (&cur->upper);
  cur->lower = lower ? nc_value_copy (lower) : nc_value_null ();
  cur->upper = upper ? nc_value_copy (upper) : nc_value_null ();
  cur->lower_inclusive = lower_inclusive;
  cur->upper_inclusive = upper_inclusive;
  /* a key nobody ever used, or a null bound, matches nothing */
  if (cur->key_str == NULL || (lower && lower->type == NC_VALUE_NULL) || (upper && upper->type == NC_VALUE_NULL))
    cur->done = TRUE;
  return TRUE;
}

/* ---- additions: replacing the store under running readers ----------------- */

/* Empties the store and starts a new generation. Waits for the writer (a
 * writer reads without the lock, trusting that nothing else changes the
 * store), then takes the lock exclusively, which waits for every cursor
 * batch and read call in progress; after it, no read of an older
 * transaction touches a slot (node_visible, rel_visible, nc_cursor_next
 * check the generation under the lock first). */
static void
store_replace (NcStore *s, gboolean installing)
{
  g_mutex_lock (&s->writer_mutex);
  while (s->writer_active)
    g_cond_wait (&s->writer_cond, &s->writer_mutex);
  s->writer_active = TRUE;
  g_mutex_unlock (&s->writer_mutex);

  lock_write (&s->lock);
  store_clear_data (s);
  g_mutex_lock (&s->readers_mutex);
  s->generation++;
  s->installing = installing;
  s->visible = 0;
  g_mutex_unlock (&s->readers_mutex);
  unlock_write (&s->lock);

  release_writer (s);
}

guint64
nc_store_generation (NcStore *store)
{
  g_mutex_lock (&store->readers_mutex);
  guint64 g = store->generation;
  g_mutex_unlock (&store->readers_mutex);
  return g;
}

void
nc_store_begin_install (NcStore *store)
{
  store_replace (store, TRUE);
}

void
nc_store_end_install (NcStore *store)
{
  g_mutex_lock (&store->readers_mutex);
  store->installing = FALSE;
  g_mutex_unlock (&store->readers_mutex);
}

gboolean
nc_txn_check_store (NcTxn *txn, GError **error)
{
  NcStore *s = txn->store;
  g_mutex_lock (&s->readers_mutex);
  gboolean current = txn->generation == s->generation;
  g_mutex_unlock (&s->readers_mutex);
  if (current)
    return TRUE;
  if (txn->generation == GENERATION_RETIRED)
    g_set_error_literal (error, NC_ERROR, NC_ERROR_UNAVAILABLE,
                         "the store was being replaced by a snapshot from the leader when this "
                         "transaction began; retry");
  else
    g_set_error_literal (error, NC_ERROR, NC_ERROR_UNAVAILABLE,
                         "the store was replaced by a snapshot from the leader while this transaction "
                         "ran; retry");
  return FALSE;
}

gboolean
nc_cursor_fetch_prop (NcCursor *cur, NcToken key)
{
  if ((cur->kind != CUR_NODES_LABEL && cur->kind != CUR_FILTER) || cur->vals != NULL)
    return FALSE;
  cur->fetch_str = nc_store_key_string (cur->txn->store, key);
  if (cur->fetch_str == NULL)
    return FALSE;
  cur->fetch_col = column_create (cur->txn->store, key, cur->fetch_str);
  cur->vals = g_new0 (NcValue, cur->buf_cap);
  cur->fetched = g_new0 (gboolean, cur->buf_cap);
  return TRUE;
}

gboolean
nc_cursor_seek_restart (NcCursor *cur, const NcValue *value)
{
  if (cur->match != MATCH_EQUAL || (cur->kind != CUR_INDEX && cur->kind != CUR_FILTER))
    return FALSE;
  NcStore *s = cur->txn->store;
  nc_value_clear (&cur->value);
  cur->value = nc_value_copy (value);
  if (cur->have_resume)
    nc_value_clear (&cur->resume.value);
  cur->have_resume = FALSE;
  cur->pos = 0;
  cur->buf_len = cur->buf_pos = 0;
  cur->done = cur->key_name == NULL || value->type == NC_VALUE_NULL;
  /* as nc_txn_seek_nodes would now: the current end of the ids, and the
   * index the schema has now (one may have been created or dropped since) */
  lock_read (&s->lock);
  cur->cap = s->nodes_len;
  Schema *sc = cur->token != NC_TOKEN_NONE ? find_index (s, cur->token, cur->key) : NULL;
  Index *old = cur->index;
  cur->index = sc != NULL ? index_ref (sc->index) : NULL;
  cur->kind = sc != NULL ? CUR_INDEX : CUR_FILTER;
  unlock_read (&s->lock);
  index_unref (old);
  return TRUE;
}

const NcValue *
nc_cursor_prop (NcCursor *cur)
{
  if (cur->vals == NULL || cur->buf_pos == 0 || !cur->fetched[cur->buf_pos - 1])
    return NULL;
  return &cur->vals[cur->buf_pos - 1];
}
