/* Engine internals shared by the evaluator, the planner and the operators.
 *
 * Execution model: a tree of pull-based operators, each with
 * next/reset/free. Every operator owns a row of `width` slots (one per
 * variable binding, numbered by semantic analysis) and copies its input row
 * before binding its own slots. Updating operators are eager: they consume
 * their whole input, apply the effects, then stream the resulting rows, so
 * reads never observe the statement's own later writes half-way. */
#pragma once

#include "cypher.h"
#include "ast.h"
#include "functions.h"
#include "../errors.h"

G_BEGIN_DECLS

typedef struct _NcOp NcOp;
typedef struct _NcExecCtx NcExecCtx;

/* Tokens of names written in the statement, by the address of the name in
 * the AST (stable for the execution): a row that reads `p.age` or checks
 * `(b:Person)` otherwise paid a locked hash lookup of the name per row.
 * Only tokens that exist are cached (they are never removed). */
#define NC_TOKEN_CACHE_SIZE 16
typedef struct {
  const char *name;
  NcToken tok;
  const NcString *key;      /* property keys: the store's interned string */
} NcTokenCacheEntry;

struct _NcExecCtx {
  const NcCypherContext *ctx;
  NcTxn *txn;
  NcStore *store;
  const NcMap *params;
  NcStatement *stmt;
  int width;
  NcQueryStats stats;
  gboolean did_write;
  NcFuncCtx fctx;
  guint tick;
  gsize mem_used;
  gboolean profile;
  GHashTable *regex_cache;  /* pattern -> GRegex */
  GHashTable *subplans;     /* NcExpr* -> NcOp* (pattern expressions, subqueries) */
  NcTokenCacheEntry key_cache[NC_TOKEN_CACHE_SIZE];
  NcTokenCacheEntry label_cache[NC_TOKEN_CACHE_SIZE];
  /* The first plain label scan planned reads, in its store batches, the
   * first property the statement reads of its variable (nc_cursor_fetch_prop);
   * the value of the current row is kept here for eval. Used only while the
   * transaction has written nothing (the batch may be older than a write). */
  gboolean fetch_enabled;
  int fetch_slot;
  const NcString *fetch_key;  /* NULL until the first read of fetch_slot.key */
  NcToken fetch_tok;
  gboolean memo_set;
  gint64 memo_id;
  NcValue memo_val;
};

typedef struct {
  const char *name;
  gboolean (*next) (NcOp *op, GError **error);
  void (*reset) (NcOp *op);
  void (*free) (NcOp *op);
} NcOpClass;

struct _NcOp {
  const NcOpClass *klass;
  NcExecCtx *x;
  NcOp *child;
  NcOp *inner;          /* right-hand side for apply-like operators */
  NcValue *row;         /* width slots */
  char *details;        /* plan description */
  GArray *idents;       /* int slots introduced (for plans) */
  gint64 rows, db_hits;
  GPtrArray *branches;  /* UNION branches (borrowed), for plan descriptions */
  gboolean row_borrowed; /* row is the child's (Filter): not cleared or freed here */
};

/* ---- context ---------------------------------------------------------- */

/* Deadline check; call once per row in every loop. */
gboolean nc_exec_tick (NcExecCtx *x, GError **error);
/* Accounts buffered bytes; fails with MEMORY_LIMIT over ctx->memory_limit. */
gboolean nc_exec_account (NcExecCtx *x, gssize bytes, GError **error);
gsize nc_value_estimate (const NcValue *v);
void nc_set_timeout_error (GError **error);

/* Token of a label / property-key name that lives in the statement's AST
 * (never a temporary string: the cache is keyed by its address);
 * NC_TOKEN_NONE when the store has no such token yet. */
NcToken nc_exec_label_token (NcExecCtx *x, const char *ast_name);
const NcString *nc_exec_key_string (NcExecCtx *x, const char *ast_name);

/* ---- rows and operators ---------------------------------------------- */

gpointer nc_op_alloc (gsize size, const NcOpClass *klass, NcExecCtx *x, NcOp *child);
gboolean nc_op_next (NcOp *op, GError **error);
void nc_op_reset (NcOp *op);
void nc_op_free (NcOp *op);
void nc_row_copy (NcValue *dst, const NcValue *src, int width);
void nc_row_clear (NcValue *row, int width);
NcValue *nc_row_dup (const NcValue *src, int width);
/* Binds a node (rel == FALSE) or relationship reference into a row slot,
 * reusing the slot's id-only entity when the row is its only holder (no
 * allocation per row in scans and expands whose rows are not kept). */
void nc_row_set_entity (NcValue *slot, gboolean rel, gint64 id, gint64 start_id, gint64 end_id);
void nc_row_free (NcValue *row, int width);
void nc_op_add_ident (NcOp *op, int slot);

/* ---- evaluation -------------------------------------------------------- */

/* Evaluates `e` against `row` (temporarily writes comprehension slots).
 * (transfer full) into *out. */
gboolean nc_eval (NcExecCtx *x, const NcExpr *e, NcValue *row, NcValue *out, GError **error);
/* Evaluates a predicate: TRUE only when the result is true. */
gboolean nc_eval_pred (NcExecCtx *x, const NcExpr *e, NcValue *row, gboolean *result, GError **error);
/* Property of a node/relationship/map value; errors for deleted entities. */
gboolean nc_eval_property (NcExecCtx *x, const NcValue *v, const char *key, NcValue *out, GError **error);
/* Deep materialisation of entities for results. (transfer full) */
NcValue nc_materialise (NcExecCtx *x, const NcValue *v);
gboolean nc_check_property_value (const NcValue *v, GError **error);
/* Path value from alternating node / relationship(-list) values. */
NcValue nc_build_path (NcExecCtx *x, const NcValue *nodes, const NcValue *rels, guint n_nodes);

/* ---- operators (op-*.c) ----------------------------------------------- */

typedef struct {
  NcExpr *expr;
  int slot;
} NcSlotExpr;

NcOp *nc_op_once_new (NcExecCtx *x);
void nc_op_once_set_argument (NcOp *once, const NcValue *row);
/* A leaf that yields the argument row of `source` (UNION branches). */
NcOp *nc_op_once_new_linked (NcExecCtx *x, NcOp *source);

/* Node scan / index seek for one pattern node. `seek_key` with seek_expr
 * (equality), seek_list (IN) or range bounds selects an index access. */
typedef struct {
  NcToken label;          /* NC_TOKEN_NONE = all nodes */
  NcToken key;            /* index key or NC_TOKEN_NONE */
  NcExpr *eq;             /* n.key = eq */
  NcExpr *in_list;        /* n.key IN list */
  NcExpr *lower, *upper;  /* range */
  gboolean lower_incl, upper_incl;
} NcScanSpec;
NcOp *nc_op_scan_new (NcExecCtx *x, NcOp *child, NcNodePat *node, const NcScanSpec *spec);
/* Checks labels/properties of an already bound node. */
gboolean nc_node_matches (NcExecCtx *x, NcNodePat *node, gint64 id, NcValue *row, gboolean *ok, GError **error);
gboolean nc_rel_matches (NcExecCtx *x, NcRelPat *rel, gint64 id, NcValue *row, gboolean *ok, GError **error);
NcOp *nc_op_node_check_new (NcExecCtx *x, NcOp *child, NcNodePat *node);
/* Expands from node slot `from` along `rel` to `to`; `reversed` when the
 * pattern is walked right to left. `to_bound` makes it an expand-into. */
NcOp *nc_op_expand_new (NcExecCtx *x, NcOp *child, int from, NcRelPat *rel, NcNodePat *to,
                        gboolean reversed, gboolean to_bound, gboolean rel_bound);
/* `WHERE n.key OP val` (OP one of < <= > >=, val independent of the
 * pattern) checked by the store cursor of a label scan binding n, or of a
 * fixed-length expand into a new n (nc_cursor_filter_range); the planner
 * keeps its Filter, so this only drops rows early. FALSE when the operator
 * cannot take it. */
gboolean nc_op_scan_push_range (NcOp *op, NcToken key, NcExpr *val, int cmp_op);
/* An aggregation directly above a label scan reads the scan's cursor
 * itself (op-aggregate.c): the slot of the scanned node when `op` is a
 * plain label scan (the cursor checks the whole pattern) serving the
 * statement's fetched property, else -1. */
int nc_op_scan_fusable_slot (NcOp *op);
/* The next node of such a scan and its fetched property (borrowed until
 * the next call; NULL when the cursor does not fetch), without building the
 * row: the caller sets the node's slot in op->row when it keeps a row. */
gboolean nc_op_scan_next_raw (NcOp *op, gint64 *id, const NcValue **prop, GError **error);
gboolean nc_op_expand_push_range (NcOp *op, NcToken key, NcExpr *val, int cmp_op);
/* Applies a pushed range to a fresh cursor; FALSE (cursor unchanged) when
 * `val` fails to evaluate: the caller drops the pushdown and the Filter
 * reports the error for the rows it sees. *exact says whether the cursor
 * now yields exactly the nodes for which the conjunct `key OP val` is true
 * (the bound is not null and the cursor took it): its comparison is
 * nc_value_compare, the one Cypher's ordering operators use. */
gboolean nc_cursor_push_range (NcExecCtx *x, NcCursor *cur, NcToken key, NcExpr *val, int cmp_op, NcValue *row,
                               gboolean *exact);
/* Whether the rows a scan or expand yields right now come from a cursor
 * that checked its pushed range exactly (see nc_cursor_push_range). */
gboolean nc_op_scan_range_exact (NcOp *op);
gboolean nc_op_expand_range_exact (NcOp *op);
/* count(*) over an expand (op-aggregate.c): TRUE when `op` is a
 * fixed-length Expand(All) with neither end nor relationship bound before;
 * with constant_range, also when a Filter covered by it may be skipped
 * (its range bound is a literal or a parameter). */
gboolean nc_op_expand_countable (NcOp *op, gboolean constant_range);
/* Takes the expand's next input row and counts the rows it would yield
 * for it, without binding them; FALSE at the end of the input (or on an
 * error). */
gboolean nc_op_expand_count_next (NcOp *op, gint64 *n, GError **error);
/* The operator whose cursor checks this Filter's conjunct
 * (nc_op_filter_cover), or NULL; NULL for operators that are not Filters. */
NcOp *nc_op_filter_covered_by (NcOp *op);
/* Marks a Filter whose predicate is the conjunct pushed into `by` (a scan
 * or expand, its child or below it with only Filters between): while
 * exact (by) is TRUE the predicate is known true and not evaluated. */
void nc_op_filter_cover (NcOp *filter, NcOp *by, gboolean (*exact) (NcOp *by));
NcOp *nc_op_shortest_new (NcExecCtx *x, NcOp *child, NcPatternPart *part, gboolean all);
NcOp *nc_op_named_path_new (NcExecCtx *x, NcOp *child, NcPatternPart *part);
NcOp *nc_op_rel_unique_new (NcExecCtx *x, NcOp *child, GArray *rel_slots);
NcOp *nc_op_filter_new (NcExecCtx *x, NcOp *child, NcExpr *pred);
NcOp *nc_op_project_new (NcExecCtx *x, NcOp *child, GArray *items /* NcSlotExpr */);
NcOp *nc_op_aggregate_new (NcExecCtx *x, NcOp *child, GArray *keys /* NcSlotExpr */, GPtrArray *aggs /* NcExpr* */);
NcOp *nc_op_distinct_new (NcExecCtx *x, NcOp *child, GArray *slots);
NcOp *nc_op_sort_new (NcExecCtx *x, NcOp *child, GPtrArray *items /* NcSortItem* */, NcExpr *limit_hint);
NcOp *nc_op_limit_new (NcExecCtx *x, NcOp *child, NcExpr *skip, NcExpr *limit);
NcOp *nc_op_unwind_new (NcExecCtx *x, NcOp *child, NcExpr *list, int slot);
/* Apply: for each child row, run `inner` (whose leaf is `arg`, a Once op).
 * optional: emit the child row with `null_slots` cleared when inner is
 * empty. unit: emit each child row once after draining inner. */
NcOp *nc_op_apply_new (NcExecCtx *x, NcOp *child, NcOp *inner, NcOp *arg, gboolean optional,
                       gboolean unit, GArray *null_slots);
NcOp *nc_op_create_new (NcExecCtx *x, NcOp *child, GPtrArray *pattern);
NcOp *nc_op_merge_new (NcExecCtx *x, NcOp *child, NcPatternPart *part, NcOp *match, NcOp *arg,
                       GPtrArray *on_create, GPtrArray *on_match);
NcOp *nc_op_set_new (NcExecCtx *x, NcOp *child, GPtrArray *items);
NcOp *nc_op_delete_new (NcExecCtx *x, NcOp *child, GPtrArray *exprs, gboolean detach);
NcOp *nc_op_foreach_new (NcExecCtx *x, NcOp *child, NcExpr *list, int slot, NcOp *body, NcOp *arg);
NcOp *nc_op_procedure_new (NcExecCtx *x, NcOp *child, NcClause *call);
/* count(n) for `MATCH (n[:Label]) RETURN count(n)` from the store's counts. */
NcOp *nc_op_count_store_new (NcExecCtx *x, NcOp *child, int slot, const char *label);
NcOp *nc_op_union_new (NcExecCtx *x, GPtrArray *branches, GPtrArray *branch_slots, GArray *out_slots, gboolean distinct);

/* Shared by CREATE and MERGE. */
gboolean nc_create_pattern_part (NcExecCtx *x, NcPatternPart *part, NcValue *row, GError **error);
gboolean nc_apply_set_items (NcExecCtx *x, GPtrArray *items, NcValue *row, GError **error);

/* ---- planner ----------------------------------------------------------- */

/* Builds the operator tree for a query; `leaf` is the Once op at the bottom. */
NcOp *nc_plan_query (NcExecCtx *x, NcQueryAst *q, NcOp *leaf, gboolean unit_ok, GError **error);
/* Subplan for an expression pattern or EXISTS/COUNT subquery, cached per
 * execution; `arg_out` receives its Once leaf. */
NcOp *nc_plan_expr_subplan (NcExecCtx *x, const NcExpr *e, NcOp **arg_out, GError **error);
/* Plan description (EXPLAIN/PROFILE). */
NcValue nc_plan_describe (NcExecCtx *x, NcOp *root, gboolean profile);

/* ---- procedures and schema ------------------------------------------- */

/* Rows of a built-in procedure: GPtrArray of NcValue arrays (n_fields). */
gboolean nc_procedure_run (NcExecCtx *x, const char *name, const NcValue *args, guint n_args,
                           GPtrArray **rows_out, guint *n_fields, GError **error);
/* Rows of SHOW INDEXES / db.indexes() and SHOW CONSTRAINTS. */
GPtrArray *nc_schema_index_rows (NcExecCtx *x);
GPtrArray *nc_schema_constraint_rows (NcExecCtx *x);
/* GError from a store error (domain NC_STORE_ERROR) in NC_ERROR. */
void nc_cypher_propagate_store_error (GError **dst, GError *src);

G_END_DECLS
