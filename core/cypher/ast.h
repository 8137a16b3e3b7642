/* The Cypher abstract syntax tree. Built by the parser, annotated in place by
 * semantic analysis (variable slots, aggregate slots, resolved functions),
 * then immutable and shared by every execution of a cached query. */
#pragma once

#include <glib.h>
#include "../value.h"
#include "../store.h"

G_BEGIN_DECLS

typedef struct _NcExpr NcExpr;
typedef struct _NcClause NcClause;
typedef struct _NcSingleQuery NcSingleQuery;
typedef struct _NcQueryAst NcQueryAst;
typedef struct _NcStatement NcStatement;

typedef enum {
  NC_EX_LITERAL, NC_EX_PARAM, NC_EX_VAR, NC_EX_PROP, NC_EX_INDEX, NC_EX_SLICE,
  NC_EX_LIST, NC_EX_MAP, NC_EX_ARITH, NC_EX_NEG, NC_EX_POS, NC_EX_NOT,
  NC_EX_AND, NC_EX_OR, NC_EX_XOR, NC_EX_CMP, NC_EX_IN, NC_EX_STARTS, NC_EX_ENDS,
  NC_EX_CONTAINS, NC_EX_REGEX, NC_EX_IS_NULL, NC_EX_IS_NOT_NULL, NC_EX_CASE,
  NC_EX_FUNC, NC_EX_COUNT_STAR, NC_EX_LIST_COMP, NC_EX_PATTERN_COMP, NC_EX_QUANT,
  NC_EX_REDUCE, NC_EX_EXISTS_SUB, NC_EX_COUNT_SUB, NC_EX_PATTERN, NC_EX_MAP_PROJ,
  NC_EX_HAS_LABELS,
} NcExprKind;

typedef enum { NC_CMP_EQ, NC_CMP_NE, NC_CMP_LT, NC_CMP_GT, NC_CMP_LE, NC_CMP_GE } NcCmpOp;
typedef enum { NC_QUANT_ALL, NC_QUANT_ANY, NC_QUANT_NONE, NC_QUANT_SINGLE } NcQuantKind;
typedef enum { NC_MP_PROP, NC_MP_ALL, NC_MP_VAR, NC_MP_KEYVAL } NcMapProjKind;

typedef struct {
  char *var;
  int slot;
  GPtrArray *labels;  /* char* */
  NcExpr *props;      /* MAP or PARAM, may be NULL */
  guint offset;
  gboolean prebound;  /* semantic: bound before the clause/expression */
} NcNodePat;

typedef struct {
  char *var;
  int slot;
  GPtrArray *types;   /* char* alternatives */
  NcExpr *props;
  NcDirection dir;    /* OUT: left to right */
  gboolean varlen;
  gint64 min, max;    /* max -1 = unbounded */
  guint offset;
  gboolean prebound;
} NcRelPat;

typedef struct {
  char *path_var;
  int path_slot;
  int shortest;       /* 0 none, 1 shortestPath, 2 allShortestPaths */
  GPtrArray *nodes;   /* NcNodePat*, n */
  GPtrArray *rels;    /* NcRelPat*, n-1 */
  guint offset;
} NcPatternPart;

struct _NcExpr {
  NcExprKind kind;
  guint offset;
  NcValue lit;          /* LITERAL */
  char *name;           /* PARAM, VAR, PROP key, FUNC name, comprehension var */
  int slot;             /* VAR / comprehension var / aggregate result slot */
  int slot2;            /* REDUCE: element variable slot */
  int op;               /* ARITH: NcArithOp; QUANT: NcQuantKind */
  gboolean distinct;    /* FUNC aggregate DISTINCT */
  gboolean is_agg;      /* FUNC that is an aggregate, COUNT_STAR */
  NcExpr *a, *b, *c, *d;
  GPtrArray *args;      /* NcExpr*: list items, func args, map values, CASE when/then pairs, CMP operands */
  GPtrArray *keys;      /* char*: map keys, labels, map projection keys */
  GArray *ops;          /* int: CMP ops, map projection item kinds */
  NcPatternPart *part;  /* PATTERN, PATTERN_COMP, EXISTS/COUNT on a bare pattern */
  NcQueryAst *sub;      /* EXISTS/COUNT { full query } */
  gconstpointer fn;     /* resolved NcFunctionDef* */
  int builtin;          /* engine-internal function id, 0 = none */
};

typedef struct {
  NcExpr *expr;
  char *alias;          /* output name (text of the expression when not aliased) */
  int slot;
  gboolean aliased;
} NcProjItem;

typedef struct {
  NcExpr *expr;
  gboolean desc;
} NcSortItem;

typedef enum {
  NC_SET_PROP, NC_SET_REPLACE, NC_SET_MERGE, NC_SET_LABELS,
  NC_REMOVE_PROP, NC_REMOVE_LABELS,
} NcSetKind;

typedef struct {
  NcSetKind kind;
  NcExpr *target;       /* entity expression (variable, or any for PROP) */
  char *key;            /* PROP */
  NcExpr *value;        /* PROP, REPLACE, MERGE */
  GPtrArray *labels;    /* LABELS */
  guint offset;
} NcSetItem;

typedef enum {
  NC_CL_MATCH, NC_CL_UNWIND, NC_CL_WITH, NC_CL_RETURN, NC_CL_CREATE, NC_CL_MERGE,
  NC_CL_SET, NC_CL_REMOVE, NC_CL_DELETE, NC_CL_FOREACH, NC_CL_CALL, NC_CL_SUBQUERY,
} NcClauseKind;

struct _NcClause {
  NcClauseKind kind;
  guint offset;
  gboolean optional, distinct, star, detach;
  GPtrArray *pattern;   /* NcPatternPart* (MATCH, CREATE, MERGE: one part) */
  NcExpr *where;
  GPtrArray *items;     /* NcProjItem*: WITH/RETURN items, CALL YIELD items */
  GPtrArray *order;     /* NcSortItem* */
  NcExpr *skip, *limit;
  NcExpr *expr;         /* UNWIND/FOREACH list */
  char *var;            /* UNWIND alias, FOREACH variable */
  int slot;
  GPtrArray *set_items; /* SET/REMOVE; MERGE ON CREATE */
  GPtrArray *on_match;  /* MERGE ON MATCH */
  GPtrArray *exprs;     /* DELETE targets, CALL arguments */
  GPtrArray *body;      /* FOREACH clauses */
  NcQueryAst *sub;      /* CALL { } */
  char *proc;           /* CALL procedure name */
  gboolean has_args;    /* CALL p() vs CALL p (implicit arguments) */
  gboolean yield_star;
  /* semantic annotations */
  GPtrArray *aggs;      /* NcExpr* (borrowed) aggregate calls in items */
  GArray *keep_slots;   /* int: slots visible after a WITH (for ORDER BY scoping) */
  GArray *import_slots; /* CALL { }: outer slots imported */
  gboolean standalone;  /* CALL proc: the whole query (its yields are the result) */
};

struct _NcSingleQuery {
  GPtrArray *clauses;   /* NcClause* */
};

struct _NcQueryAst {
  GPtrArray *parts;     /* NcSingleQuery* */
  GArray *union_all;    /* gboolean per junction (parts->len - 1) */
  GPtrArray *columns;   /* char* output columns (semantic) */
  GPtrArray *col_slots; /* per part: GArray of int slots, same order as columns */
};

typedef enum {
  NC_STMT_QUERY,
  NC_STMT_CREATE_INDEX, NC_STMT_DROP_INDEX,
  NC_STMT_CREATE_CONSTRAINT, NC_STMT_DROP_CONSTRAINT,
  NC_STMT_SHOW_INDEXES, NC_STMT_SHOW_CONSTRAINTS,
  NC_STMT_SYSTEM,
} NcStatementKind;

struct _NcStatement {
  NcStatementKind kind;
  gboolean explain, profile;
  NcQueryAst *query;
  /* schema */
  char *schema_name;
  char *label, *key;
  gboolean if_not_exists, if_exists;
  /* system commands: "op" plus argument expressions (literals or params) */
  char *sys_op;
  GPtrArray *sys_keys;  /* char* */
  GPtrArray *sys_vals;  /* NcExpr* */
  /* semantic results */
  int n_slots;
  GPtrArray *slot_names; /* char* per slot, for plans */
  gboolean has_updates, has_reads;
  GPtrArray *params;     /* char* parameter names used */
  gboolean no_cache;     /* compiled against state that may change (TCK test procedures) */
};

NcExpr *nc_expr_new (NcExprKind kind, guint offset);
void nc_expr_free (NcExpr *e);
void nc_pattern_part_free (NcPatternPart *p);
void nc_node_pat_free (NcNodePat *n);
void nc_rel_pat_free (NcRelPat *r);
void nc_proj_item_free (NcProjItem *it);
void nc_sort_item_free (NcSortItem *it);
void nc_set_item_free (NcSetItem *it);
NcClause *nc_clause_new (NcClauseKind kind, guint offset);
void nc_clause_free (NcClause *c);
void nc_single_query_free (NcSingleQuery *q);
void nc_query_ast_free (NcQueryAst *q);
void nc_statement_free (NcStatement *s);

/* Renders an expression back to Cypher-ish text (column names for
 * unaliased projections, plan descriptions, tests). */
void nc_expr_unparse (const NcExpr *e, GString *out);
char *nc_expr_to_string (const NcExpr *e);
/* A compact dump of a statement (tests, fuzz determinism). */
char *nc_statement_dump (const NcStatement *s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcExpr, nc_expr_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcStatement, nc_statement_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcClause, nc_clause_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcPatternPart, nc_pattern_part_free)

G_END_DECLS
