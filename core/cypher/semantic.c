#define G_LOG_DOMAIN "nornicdb-cypher"

#include "semantic.h"
#include "functions.h"
#include "lexer.h"
#include "../errors.h"

#include <string.h>

typedef struct {
  int slot;
  NcVarType type;
  NcValueType st;   /* static value type when known, else NC_VALUE_N_TYPES */
} Var;

typedef struct _Scope Scope;
struct _Scope {
  GHashTable *vars;   /* name -> Var* */
  Scope *parent;      /* expression-level nesting (comprehensions) */
};

typedef struct {
  NcStatement *stmt;
  const char *src;
  GError **error;
  GHashTable *params;  /* names seen */
  GArray *slot_types;  /* NcVarType per slot */
} Sem;

enum {
  AGG_ALLOWED = 1 << 0,   /* projection items */
  IN_AGG = 1 << 1,        /* inside an aggregate's arguments */
  NO_NEW_VARS = 1 << 2,
  IN_PRED = 1 << 3,       /* boolean predicate position: patterns allowed */
};

static gboolean sem_query (Sem *S, Scope *outer, NcQueryAst *q, gboolean subquery, GPtrArray *out_scopes);
static gboolean sem_expr (Sem *S, Scope *sc, NcExpr *e, int flags);

static gboolean
fail (Sem *S, guint offset, NcErrorCode code, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (Sem *S, guint offset, NcErrorCode code, const char *fmt, ...)
{
  if (S->error && *S->error)
    return FALSE;
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  GError *err = NULL;
  nc_cypher_set_syntax_error (&err, S->src, offset, "%s", msg);
  err->code = code;
  g_propagate_error (S->error, err);
  return FALSE;
}

static Scope *
scope_new (Scope *parent)
{
  Scope *sc = g_new0 (Scope, 1);
  sc->vars = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  sc->parent = parent;
  return sc;
}

static void
scope_free (Scope *sc)
{
  if (sc == NULL)
    return;
  g_hash_table_unref (sc->vars);
  g_free (sc);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Scope, scope_free)

static Scope *
scope_copy (Scope *sc)
{
  Scope *n = scope_new (sc ? sc->parent : NULL);
  if (sc)
    {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, sc->vars);
      while (g_hash_table_iter_next (&it, &k, &v))
        g_hash_table_insert (n->vars, g_strdup (k), g_memdup2 (v, sizeof (Var)));
    }
  return n;
}

static Var *
lookup (Scope *sc, const char *name)
{
  for (; sc; sc = sc->parent)
    {
      Var *v = g_hash_table_lookup (sc->vars, name);
      if (v)
        return v;
    }
  return NULL;
}

static int
new_slot (Sem *S, const char *name, NcVarType type)
{
  int slot = S->stmt->n_slots++;
  g_ptr_array_add (S->stmt->slot_names, g_strdup (name ? name : ""));
  g_array_append_val (S->slot_types, type);
  return slot;
}

static Var *
bind (Sem *S, Scope *sc, const char *name, NcVarType type)
{
  Var *v = g_new0 (Var, 1);
  v->slot = new_slot (S, name, type);
  v->type = type;
  v->st = NC_VALUE_N_TYPES;
  g_hash_table_insert (sc->vars, g_strdup (name), v);
  return v;
}

static const char *
type_label (NcVarType t)
{
  switch (t)
    {
    case NC_VT_NODE: return "Node";
    case NC_VT_REL: return "Relationship";
    case NC_VT_RELLIST: return "List<Relationship>";
    case NC_VT_PATH: return "Path";
    case NC_VT_VALUE: return "a value";
    case NC_VT_LIST: return "List<Any>";
    default: return "Any";
    }
}

/* ---- static types --------------------------------------------------------- */

#define TYPE_UNKNOWN NC_VALUE_N_TYPES

/* The value type of `e` when it is known before execution. */
static NcValueType
static_type (Scope *sc, const NcExpr *e)
{
  switch (e->kind)
    {
    case NC_EX_LITERAL: return e->lit.type;
    case NC_EX_LIST: case NC_EX_LIST_COMP: case NC_EX_PATTERN_COMP: return NC_VALUE_LIST;
    case NC_EX_MAP: case NC_EX_MAP_PROJ: return NC_VALUE_MAP;
    case NC_EX_NOT: case NC_EX_AND: case NC_EX_OR: case NC_EX_XOR: case NC_EX_CMP: case NC_EX_IN:
    case NC_EX_STARTS: case NC_EX_ENDS: case NC_EX_CONTAINS: case NC_EX_REGEX: case NC_EX_IS_NULL:
    case NC_EX_IS_NOT_NULL: case NC_EX_QUANT: case NC_EX_EXISTS_SUB: case NC_EX_PATTERN:
      return NC_VALUE_BOOL;
    case NC_EX_COUNT_SUB: case NC_EX_COUNT_STAR: return NC_VALUE_INT;
    case NC_EX_VAR:
      {
        Var *v = lookup (sc, e->name);
        if (v == NULL)
          return TYPE_UNKNOWN;
        if (v->st != TYPE_UNKNOWN)
          return v->st;
        switch (v->type)
          {
          case NC_VT_NODE: return NC_VALUE_NODE;
          case NC_VT_REL: return NC_VALUE_REL;
          case NC_VT_PATH: return NC_VALUE_PATH;
          case NC_VT_RELLIST: case NC_VT_LIST: return NC_VALUE_LIST;
          default: return TYPE_UNKNOWN;
          }
      }
    default:
      return TYPE_UNKNOWN;
    }
}

static const char *
vtype_label (NcValueType t)
{
  switch (t)
    {
    case NC_VALUE_NULL: return "Null";
    case NC_VALUE_BOOL: return "Boolean";
    case NC_VALUE_INT: return "Integer";
    case NC_VALUE_FLOAT: return "Float";
    case NC_VALUE_STRING: return "String";
    case NC_VALUE_LIST: return "List<Any>";
    case NC_VALUE_MAP: return "Map";
    case NC_VALUE_NODE: return "Node";
    case NC_VALUE_REL: return "Relationship";
    case NC_VALUE_PATH: return "Path";
    default: return "Any";
    }
}

/* ---- expressions -------------------------------------------------------- */

static gboolean sem_pattern_part (Sem *S, Scope *sc, NcPatternPart *part, int mode);

enum { PAT_MATCH, PAT_CREATE, PAT_MERGE, PAT_EXPR, PAT_COMP };

static gboolean
contains_agg (const NcExpr *e)
{
  if (e == NULL)
    return FALSE;
  if (e->is_agg)
    return TRUE;
  if (contains_agg (e->a) || contains_agg (e->b) || contains_agg (e->c) || contains_agg (e->d))
    return TRUE;
  for (guint i = 0; e->args && i < e->args->len; i++)
    if (contains_agg (e->args->pdata[i]))
      return TRUE;
  return FALSE;
}

static gboolean
sem_args (Sem *S, Scope *sc, GPtrArray *args, int flags)
{
  for (guint i = 0; args && i < args->len; i++)
    if (args->pdata[i] && !sem_expr (S, sc, args->pdata[i], flags))
      return FALSE;
  return TRUE;
}

static gboolean
check_func_arg_types (Sem *S, Scope *sc, NcExpr *e)
{
  /* Compile-time argument type checks where the type is statically known. */
  if (e->args->len != 1)
    return TRUE;
  NcExpr *a = e->args->pdata[0];
  NcVarType vt = NC_VT_ANY;
  gboolean known = FALSE;
  if (a->kind == NC_EX_VAR)
    {
      Var *v = lookup (sc, a->name);
      if (v && v->type != NC_VT_ANY)
        vt = v->type, known = TRUE;
    }
  const char *n = e->name;
  if (known)
    {
      gboolean bad = FALSE;
      if (g_ascii_strcasecmp (n, "type") == 0 && vt != NC_VT_REL)
        bad = TRUE;
      else if (g_ascii_strcasecmp (n, "labels") == 0 && vt != NC_VT_NODE)
        bad = TRUE;
      else if ((g_ascii_strcasecmp (n, "nodes") == 0 || g_ascii_strcasecmp (n, "relationships") == 0) && vt != NC_VT_PATH)
        bad = TRUE;
      else if ((g_ascii_strcasecmp (n, "startNode") == 0 || g_ascii_strcasecmp (n, "endNode") == 0) && vt != NC_VT_REL)
        bad = TRUE;
      else if (g_ascii_strcasecmp (n, "properties") == 0 && vt == NC_VT_PATH)
        bad = TRUE;
      if (bad)
        return fail (S, a->offset, NC_ERROR_SYNTAX, "Type mismatch: expected %s but was %s",
                     g_ascii_strcasecmp (n, "type") == 0 || g_ascii_strcasecmp (n, "startNode") == 0
                         || g_ascii_strcasecmp (n, "endNode") == 0 ? "Relationship"
                     : g_ascii_strcasecmp (n, "labels") == 0 ? "Node"
                     : g_ascii_strcasecmp (n, "properties") == 0 ? "Map, Node or Relationship" : "Path",
                     type_label (vt));
    }
  if (a->kind == NC_EX_LITERAL && a->lit.type != NC_VALUE_NULL)
    {
      NcValueType t = a->lit.type;
      if ((g_ascii_strcasecmp (n, "properties") == 0 && t != NC_VALUE_MAP)
          || (g_ascii_strcasecmp (n, "type") == 0) || (g_ascii_strcasecmp (n, "labels") == 0))
        return fail (S, a->offset, NC_ERROR_SYNTAX, "Type mismatch: expected %s but was %s",
                     g_ascii_strcasecmp (n, "properties") == 0 ? "Map, Node or Relationship"
                     : g_ascii_strcasecmp (n, "type") == 0 ? "Relationship" : "Node",
                     nc_value_type_name (t));
    }
  if (a->kind == NC_EX_LIST && g_ascii_strcasecmp (n, "properties") == 0)
    return fail (S, a->offset, NC_ERROR_SYNTAX, "Type mismatch: expected Map, Node or Relationship but was List");
  return TRUE;
}

static gboolean is_updating (const NcClause *c);

static gboolean
sem_subquery_expr (Sem *S, Scope *sc, NcExpr *e)
{
  for (guint p = 0; p < e->sub->parts->len; p++)
    {
      NcSingleQuery *sq = e->sub->parts->pdata[p];
      for (guint i = 0; i < sq->clauses->len; i++)
        if (is_updating (sq->clauses->pdata[i]))
          return fail (S, ((NcClause *) sq->clauses->pdata[i])->offset, NC_ERROR_SYNTAX,
                       "An Exists Expression cannot contain any updates (InvalidClauseComposition)");
    }
  /* EXISTS/COUNT { query }: sees the outer scope; returns nothing. */
  g_autoptr (Scope) inner = scope_new (NULL);
  for (Scope *s = sc; s; s = s->parent)
    {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, s->vars);
      while (g_hash_table_iter_next (&it, &k, &v))
        if (!g_hash_table_contains (inner->vars, k))
          g_hash_table_insert (inner->vars, g_strdup (k), g_memdup2 (v, sizeof (Var)));
    }
  return sem_query (S, inner, e->sub, TRUE, NULL);
}

static gboolean
check_static (Sem *S, Scope *sc, NcExpr *e)
{
  if (e->kind == NC_EX_AND || e->kind == NC_EX_OR || e->kind == NC_EX_XOR || e->kind == NC_EX_NOT)
    {
      NcExpr *ops[2] = { e->a, e->b };
      for (int i = 0; i < 2; i++)
        {
          if (ops[i] == NULL)
            continue;
          NcValueType t = static_type (sc, ops[i]);
          if (t != TYPE_UNKNOWN && t != NC_VALUE_BOOL && t != NC_VALUE_NULL)
            return fail (S, ops[i]->offset, NC_ERROR_SYNTAX, "Type mismatch: expected Boolean but was %s", vtype_label (t));
        }
    }
  if (e->kind == NC_EX_ARITH && e->op != NC_OP_ADD)
    {
      NcExpr *ops[2] = { e->a, e->b };
      for (int i = 0; i < 2; i++)
        {
          NcValueType t = static_type (sc, ops[i]);
          if (t == NC_VALUE_STRING || t == NC_VALUE_BOOL || t == NC_VALUE_LIST || t == NC_VALUE_MAP
              || t == NC_VALUE_NODE || t == NC_VALUE_REL || t == NC_VALUE_PATH)
            return fail (S, ops[i]->offset, NC_ERROR_SYNTAX, "Type mismatch: expected Float, Integer or Duration but was %s",
                         vtype_label (t));
        }
    }
  if (e->kind == NC_EX_IN)
    {
      NcValueType t = static_type (sc, e->b);
      if (t != TYPE_UNKNOWN && t != NC_VALUE_LIST && t != NC_VALUE_NULL)
        return fail (S, e->b->offset, NC_ERROR_SYNTAX, "Type mismatch: expected List<T> but was %s", vtype_label (t));
    }
  if (e->kind == NC_EX_PROP && e->a->kind == NC_EX_VAR)
    {
      NcValueType t = static_type (sc, e->a);
      if (t == NC_VALUE_PATH || t == NC_VALUE_LIST || t == NC_VALUE_INT || t == NC_VALUE_BOOL || t == NC_VALUE_STRING
          || t == NC_VALUE_FLOAT)
        return fail (S, e->a->offset, NC_ERROR_SYNTAX, "Type mismatch: expected Map, Node, Relationship, Point, Duration, Date, Time, LocalTime, LocalDateTime or DateTime but was %s",
                     vtype_label (t));
    }
  if (e->kind == NC_EX_FUNC && e->args && e->args->len == 1)
    {
      NcValueType t = static_type (sc, e->args->pdata[0]);
      if (g_ascii_strcasecmp (e->name, "length") == 0 && (t == NC_VALUE_NODE || t == NC_VALUE_REL))
        return fail (S, e->offset, NC_ERROR_SYNTAX, "Type mismatch: expected Path but was %s", vtype_label (t));
      if (g_ascii_strcasecmp (e->name, "size") == 0 && (t == NC_VALUE_PATH || t == NC_VALUE_NODE || t == NC_VALUE_REL))
        return fail (S, e->offset, NC_ERROR_SYNTAX, "Type mismatch: expected String or List<T> but was %s", vtype_label (t));
    }
  return TRUE;
}

static gboolean sem_expr_inner (Sem *S, Scope *sc, NcExpr *e, int flags);
static gboolean check_predicate (Sem *S, Scope *sc, NcExpr *where);

static gboolean
sem_expr (Sem *S, Scope *sc, NcExpr *e, int flags)
{
  if (e == NULL)
    return TRUE;
  if (e->kind == NC_EX_PATTERN && !(flags & IN_PRED))
    return fail (S, e->offset, NC_ERROR_SYNTAX,
                 "A pattern expression should only be used in order to test the existence of a pattern. It can no longer be used inside the function size(), an alternative is to replace size() with COUNT {}.");
  int child = flags;
  if (!(e->kind == NC_EX_AND || e->kind == NC_EX_OR || e->kind == NC_EX_XOR || e->kind == NC_EX_NOT))
    child &= ~IN_PRED;
  if (e->kind == NC_EX_FUNC && e->name && g_ascii_strcasecmp (e->name, "exists") == 0)
    child |= IN_PRED;
  if (!sem_expr_inner (S, sc, e, child))
    return FALSE;
  return check_static (S, sc, e);
}

static gboolean
sem_expr_inner (Sem *S, Scope *sc, NcExpr *e, int flags)
{
  switch (e->kind)
    {
    case NC_EX_LITERAL:
      return TRUE;
    case NC_EX_PARAM:
      g_hash_table_add (S->params, g_strdup (e->name));
      return TRUE;
    case NC_EX_VAR:
      {
        Var *v = lookup (sc, e->name);
        if (v == NULL)
          return fail (S, e->offset, NC_ERROR_SYNTAX, "Variable `%s` not defined", e->name);
        e->slot = v->slot;
        return TRUE;
      }
    case NC_EX_FUNC:
      {
        const char *n = e->name;
        if (nc_cypher_is_aggregate (n))
          {
            e->is_agg = TRUE;
            if (flags & IN_AGG)
              return fail (S, e->offset, NC_ERROR_SYNTAX,
                           "Can't use aggregate functions inside of aggregate functions.");
            if (!(flags & AGG_ALLOWED))
              return fail (S, e->offset, NC_ERROR_SYNTAX,
                           "Invalid use of aggregating function %s(...) in this context", n);
            if (e->args->len == 0)
              return fail (S, e->offset, NC_ERROR_SYNTAX, "Insufficient parameters for function '%s'", n);
            if (!sem_args (S, sc, e->args, (flags | IN_AGG)))
              return FALSE;
            e->slot = new_slot (S, n, NC_VT_ANY);
            return TRUE;
          }
        const NcFunctionDef *def = nc_cypher_function_lookup (n);
        if (def == NULL)
          return fail (S, e->offset, NC_ERROR_SYNTAX, "Unknown function '%s'", n);
        /* An aggregate over a random value has no defined meaning (openCypher:
         * NonConstantExpression). */
        if ((flags & IN_AGG) && g_ascii_strcasecmp (n, "rand") == 0)
          return fail (S, e->offset, NC_ERROR_SYNTAX,
                       "Can't use non-deterministic (random) functions inside of aggregate functions (NonConstantExpression)");
        e->fn = def;
        if ((gint) e->args->len < def->min_args)
          return fail (S, e->offset, NC_ERROR_SYNTAX, "Insufficient parameters for function '%s'", n);
        if (def->max_args >= 0 && (gint) e->args->len > def->max_args)
          return fail (S, e->offset, NC_ERROR_SYNTAX, "Too many parameters for function '%s'", n);
        if (e->distinct)
          return fail (S, e->offset, NC_ERROR_SYNTAX, "Invalid use of DISTINCT with function '%s'", n);
        /* size((n)-->()) counts the matching paths. */
        if ((g_ascii_strcasecmp (n, "size") == 0 || g_ascii_strcasecmp (n, "length") == 0)
            && e->args->len == 1 && ((NcExpr *) e->args->pdata[0])->kind == NC_EX_PATTERN)
          ((NcExpr *) e->args->pdata[0])->builtin = 1;
        if (!sem_args (S, sc, e->args, flags))
          return FALSE;
        return check_func_arg_types (S, sc, e);
      }
    case NC_EX_COUNT_STAR:
      if (flags & IN_AGG)
        return fail (S, e->offset, NC_ERROR_SYNTAX, "Can't use aggregate functions inside of aggregate functions.");
      if (!(flags & AGG_ALLOWED))
        return fail (S, e->offset, NC_ERROR_SYNTAX, "Invalid use of aggregating function count(...) in this context");
      e->slot = new_slot (S, "count(*)", NC_VT_ANY);
      return TRUE;
    case NC_EX_LIST_COMP:
    case NC_EX_QUANT:
      {
        if (!sem_expr (S, sc, e->a, flags))
          return FALSE;
        g_autoptr (Scope) inner = scope_new (sc);
        Var *v = bind (S, inner, e->name, NC_VT_ANY);
        e->slot = v->slot;
        /* elements of a literal list of one type have that type */
        if (e->a->kind == NC_EX_LIST && e->a->args->len > 0)
          {
            NcValueType et = TYPE_UNKNOWN;
            gboolean same = TRUE;
            for (guint i = 0; i < e->a->args->len && same; i++)
              {
                NcExpr *it = e->a->args->pdata[i];
                if (it->kind != NC_EX_LITERAL || it->lit.type == NC_VALUE_NULL)
                  same = FALSE;
                else if (et == TYPE_UNKNOWN)
                  et = it->lit.type;
                else
                  same = et == it->lit.type;
              }
            if (same)
              v->st = et;
          }
        int f2 = flags & ~AGG_ALLOWED;
        if (contains_agg (e->b) || contains_agg (e->c))
          return fail (S, e->offset, NC_ERROR_SYNTAX, "Invalid use of aggregating function in a list comprehension (InvalidAggregation)");
        return sem_expr (S, inner, e->b, f2 | IN_PRED) && sem_expr (S, inner, e->c, f2);
      }
    case NC_EX_REDUCE:
      {
        if (!sem_expr (S, sc, e->d, flags) || !sem_expr (S, sc, e->a, flags))
          return FALSE;
        g_autoptr (Scope) inner = scope_new (sc);
        e->slot = bind (S, inner, e->name, NC_VT_ANY)->slot;
        e->slot2 = bind (S, inner, e->keys->pdata[0], NC_VT_ANY)->slot;
        return sem_expr (S, inner, e->c, flags & ~AGG_ALLOWED);
      }
    case NC_EX_PATTERN:
      {
        g_autoptr (Scope) inner = scope_new (sc);
        if (!sem_pattern_part (S, inner, e->part, PAT_EXPR))
          return FALSE;
        if (e->builtin == 1 && e->part->path_slot < 0)
          e->part->path_slot = new_slot (S, "  path", NC_VT_PATH);
        return TRUE;
      }
    case NC_EX_PATTERN_COMP:
      {
        g_autoptr (Scope) inner = scope_new (sc);
        if (!sem_pattern_part (S, inner, e->part, PAT_COMP))
          return FALSE;
        return sem_expr (S, inner, e->b, (flags & ~AGG_ALLOWED) | IN_PRED) && sem_expr (S, inner, e->c, flags & ~AGG_ALLOWED);
      }
    case NC_EX_EXISTS_SUB:
    case NC_EX_COUNT_SUB:
      return sem_subquery_expr (S, sc, e);
    case NC_EX_MAP_PROJ:
      {
        Var *v = lookup (sc, e->name);
        if (v == NULL)
          return fail (S, e->offset, NC_ERROR_SYNTAX, "Variable `%s` not defined", e->name);
        e->slot = v->slot;
        return sem_args (S, sc, e->args, flags);
      }
    case NC_EX_CASE:
      return sem_expr (S, sc, e->a, flags) && sem_args (S, sc, e->args, flags) && sem_expr (S, sc, e->b, flags);
    default:
      break;
    }
  return sem_expr (S, sc, e->a, flags) && sem_expr (S, sc, e->b, flags) && sem_expr (S, sc, e->c, flags)
         && sem_expr (S, sc, e->d, flags) && sem_args (S, sc, e->args, flags);
}

/* ---- patterns ------------------------------------------------------------ */

static gboolean
check_type (Sem *S, Var *v, NcVarType want, const char *name, guint offset)
{
  if (v->type == want)
    return TRUE;
  if (v->type == NC_VT_ANY || (v->type == NC_VT_LIST && want == NC_VT_RELLIST))
    {
      /* A value bound earlier (e.g. by WITH) may be used as an entity;
       * checked at run time. */
      return TRUE;
    }
  return fail (S, offset, NC_ERROR_SYNTAX, "Type mismatch: `%s` defined with conflicting type %s (expected %s)",
               name, type_label (v->type), type_label (want));
}

static gboolean
sem_props (Sem *S, Scope *sc, NcExpr *props, int mode)
{
  if (props == NULL)
    return TRUE;
  if (props->kind == NC_EX_PARAM && (mode == PAT_MATCH || mode == PAT_EXPR || mode == PAT_COMP))
    return fail (S, props->offset, NC_ERROR_SYNTAX,
                 "Parameter maps cannot be used in MATCH patterns (use a literal map instead, e.g. \"{id: $%s.id}\")",
                 props->name);
  return sem_expr (S, sc, props, 0);
}

static gboolean
sem_pattern_part (Sem *S, Scope *sc, NcPatternPart *part, int mode)
{
  gboolean creating = mode == PAT_CREATE || mode == PAT_MERGE;
  /* Property maps may only refer to variables bound before this part (and
   * earlier nodes of the same part for CREATE); resolve after binding. */
  for (guint i = 0; i < part->nodes->len; i++)
    {
      NcNodePat *n = part->nodes->pdata[i];
      if (!sem_props (S, sc, n->props, mode))
        return FALSE;
      if (n->var == NULL)
        {
          n->slot = new_slot (S, NULL, NC_VT_NODE);
          continue;
        }
      Var *v = lookup (sc, n->var);
      if (v != NULL)
        {
          if (!check_type (S, v, NC_VT_NODE, n->var, n->offset))
            return FALSE;
          if (creating && (n->labels->len > 0 || n->props != NULL || (mode == PAT_MERGE && part->nodes->len == 1)))
            return fail (S, n->offset, NC_ERROR_SYNTAX, "Can't create node `%s` with labels or properties here. The variable is already declared in this context", n->var);
          if (creating && part->nodes->len == 1 && mode == PAT_CREATE)
            return fail (S, n->offset, NC_ERROR_SYNTAX, "Variable `%s` already declared", n->var);
          n->slot = v->slot;
          n->prebound = TRUE;
          if (v->type == NC_VT_ANY)
            v->type = NC_VT_NODE;
        }
      else
        {
          if (mode == PAT_EXPR)
            return fail (S, n->offset, NC_ERROR_SYNTAX,
                         "PatternExpressions are not allowed to introduce new variables: '%s'.", n->var);
          n->slot = bind (S, sc, n->var, NC_VT_NODE)->slot;
        }
    }
  for (guint i = 0; i < part->rels->len; i++)
    {
      NcRelPat *r = part->rels->pdata[i];
      if (!sem_props (S, sc, r->props, mode))
        return FALSE;
      if (creating)
        {
          if (r->types->len != 1)
            return fail (S, r->offset, NC_ERROR_SYNTAX,
                         "Exactly one relationship type must be specified for %s. Did you forget to prefix your relationship type with a ':'?",
                         mode == PAT_CREATE ? "CREATE" : "MERGE");
          if (r->dir == NC_DIR_BOTH && mode == PAT_CREATE)
            return fail (S, r->offset, NC_ERROR_SYNTAX, "Only directed relationships are supported in CREATE");
          if (r->varlen)
            return fail (S, r->offset, NC_ERROR_SYNTAX, "Variable length relationships cannot be used in %s",
                         mode == PAT_CREATE ? "CREATE" : "MERGE");
        }
      if (r->varlen && r->max >= 0 && r->min > r->max)
        {
          /* Matches nothing; allowed. */
        }
      NcVarType want = r->varlen ? NC_VT_RELLIST : NC_VT_REL;
      if (r->var == NULL)
        {
          r->slot = new_slot (S, NULL, want);
          continue;
        }
      Var *v = lookup (sc, r->var);
      if (v != NULL)
        {
          if (creating)
            return fail (S, r->offset, NC_ERROR_SYNTAX, "Can't create relationship `%s`: the variable is already declared in this context", r->var);
          if (!(v->type == NC_VT_ANY && !r->varlen) && !check_type (S, v, want, r->var, r->offset))
            return FALSE;
          if (r->varlen && v->type != NC_VT_RELLIST && v->type != NC_VT_ANY && v->type != NC_VT_LIST)
            return fail (S, r->offset, NC_ERROR_SYNTAX, "Type mismatch: `%s` defined with conflicting type %s (expected List<Relationship>)",
                         r->var, type_label (v->type));
          r->slot = v->slot;
          r->prebound = TRUE;
        }
      else
        {
          if (mode == PAT_EXPR)
            return fail (S, r->offset, NC_ERROR_SYNTAX,
                         "PatternExpressions are not allowed to introduce new variables: '%s'.", r->var);
          r->slot = bind (S, sc, r->var, want)->slot;
        }
    }
  if (part->shortest && (part->rels->len != 1))
    return fail (S, part->offset, NC_ERROR_SYNTAX, "shortestPath(...) requires a pattern containing a single relationship");
  if (part->path_var)
    {
      Var *v = lookup (sc, part->path_var);
      if (v != NULL)
        return fail (S, part->offset, NC_ERROR_SYNTAX, "Variable `%s` already declared", part->path_var);
      part->path_slot = bind (S, sc, part->path_var, NC_VT_PATH)->slot;
    }
  return TRUE;
}

/* Every variable a pattern part would bind must have a consistent type
 * across the parts of one MATCH. Also, a relationship variable may appear
 * only once in a MATCH pattern. */
static gboolean
check_rel_uniqueness (Sem *S, GPtrArray *pattern)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint p = 0; p < pattern->len; p++)
    {
      NcPatternPart *part = pattern->pdata[p];
      for (guint i = 0; i < part->rels->len; i++)
        {
          NcRelPat *r = part->rels->pdata[i];
          if (r->var == NULL || r->prebound)
            continue;
          if (g_hash_table_contains (seen, r->var))
            return fail (S, r->offset, NC_ERROR_SYNTAX, "Cannot use the same relationship variable '%s' for multiple relationships", r->var);
          g_hash_table_add (seen, r->var);
        }
    }
  return TRUE;
}

/* Within one MATCH, later parts see variables of earlier parts as bound,
 * but they are not "prebound" for planning purposes: the planner tracks
 * those itself. Pattern property maps of nodes bound in the same clause are
 * fine. */
static gboolean
sem_pattern (Sem *S, Scope *sc, GPtrArray *pattern, int mode)
{
  g_autoptr (GHashTable) before = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, sc->vars);
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_hash_table_add (before, k);
  for (guint p = 0; p < pattern->len; p++)
    {
      NcPatternPart *part = pattern->pdata[p];
      if (!sem_pattern_part (S, sc, part, mode))
        return FALSE;
      /* prebound only means "bound before this clause" */
      for (guint i = 0; i < part->nodes->len; i++)
        {
          NcNodePat *n = part->nodes->pdata[i];
          if (n->prebound && !g_hash_table_contains (before, n->var))
            n->prebound = FALSE;
        }
      for (guint i = 0; i < part->rels->len; i++)
        {
          NcRelPat *r = part->rels->pdata[i];
          if (r->prebound && !g_hash_table_contains (before, r->var))
            r->prebound = FALSE;
        }
    }
  if (mode == PAT_MATCH)
    return check_rel_uniqueness (S, pattern);
  return TRUE;
}

/* ---- clauses ------------------------------------------------------------ */

static gboolean
is_constant_expr (const NcExpr *e)
{
  if (e == NULL)
    return TRUE;
  if (e->kind == NC_EX_VAR || e->kind == NC_EX_PATTERN || e->kind == NC_EX_PATTERN_COMP
      || e->kind == NC_EX_EXISTS_SUB || e->kind == NC_EX_COUNT_SUB || e->kind == NC_EX_MAP_PROJ || e->is_agg)
    return FALSE;
  if (!is_constant_expr (e->a) || !is_constant_expr (e->b) || !is_constant_expr (e->c) || !is_constant_expr (e->d))
    return FALSE;
  for (guint i = 0; e->args && i < e->args->len; i++)
    if (!is_constant_expr (e->args->pdata[i]))
      return FALSE;
  return TRUE;
}

static gboolean
sem_skip_limit (Sem *S, NcExpr *e, const char *what)
{
  if (e == NULL)
    return TRUE;
  if (!is_constant_expr (e))
    return fail (S, e->offset, NC_ERROR_SYNTAX,
                 "It is not allowed to refer to variables in %s, so that the value for %s can be statically calculated.", what, what);
  g_autoptr (Scope) empty = scope_new (NULL);
  if (!sem_expr (S, empty, e, 0))
    return FALSE;
  if (e->kind == NC_EX_LITERAL)
    {
      if (e->lit.type == NC_VALUE_INT && e->lit.u.i < 0)
        return fail (S, e->offset, NC_ERROR_SYNTAX,
                     "Invalid input. '%" G_GINT64_FORMAT "' is not a valid value. Must be a non-negative integer.", e->lit.u.i);
      if (e->lit.type != NC_VALUE_INT)
        {
          g_autofree char *s = nc_value_to_debug_string (&e->lit);
          return fail (S, e->offset, NC_ERROR_SYNTAX, "Invalid input. '%s' is not a valid value. Must be a non-negative integer.", s);
        }
    }
  if (e->kind == NC_EX_NEG && e->a && e->a->kind == NC_EX_LITERAL)
    return fail (S, e->offset, NC_ERROR_SYNTAX, "Invalid input. Must be a non-negative integer.");
  return TRUE;
}

/* Aggregation: an item that contains an aggregate may refer to variables
 * only through grouping keys (items without aggregates). */
static gboolean
check_ambiguous (Sem *S, NcExpr *e, GHashTable *key_slots, GPtrArray *key_texts)
{
  if (e == NULL || e->is_agg)
    return TRUE;
  g_autofree char *txt = nc_expr_to_string (e);
  for (guint i = 0; i < key_texts->len; i++)
    if (g_str_equal (txt, key_texts->pdata[i]))
      return TRUE;
  if (e->kind == NC_EX_VAR && !g_hash_table_contains (key_slots, GINT_TO_POINTER (e->slot + 1)))
    return fail (S, e->offset, NC_ERROR_SYNTAX,
                 "Aggregation column contains implicit grouping expressions. Variable `%s` is used in an aggregating expression but is not a grouping key (AmbiguousAggregationExpression)",
                 e->name);
  if (e->kind == NC_EX_LIST_COMP || e->kind == NC_EX_QUANT || e->kind == NC_EX_REDUCE)
    {
      /* the comprehension variable is local */
      g_hash_table_add (key_slots, GINT_TO_POINTER (e->slot + 1));
      if (e->kind == NC_EX_REDUCE)
        g_hash_table_add (key_slots, GINT_TO_POINTER (e->slot2 + 1));
    }
  if (!check_ambiguous (S, e->a, key_slots, key_texts) || !check_ambiguous (S, e->b, key_slots, key_texts)
      || !check_ambiguous (S, e->c, key_slots, key_texts) || !check_ambiguous (S, e->d, key_slots, key_texts))
    return FALSE;
  for (guint i = 0; e->args && i < e->args->len; i++)
    if (!check_ambiguous (S, e->args->pdata[i], key_slots, key_texts))
      return FALSE;
  return TRUE;
}

static void
collect_aggs (NcExpr *e, GPtrArray *out)
{
  if (e == NULL)
    return;
  if (e->is_agg)
    {
      g_ptr_array_add (out, e);
      return;
    }
  collect_aggs (e->a, out);
  collect_aggs (e->b, out);
  collect_aggs (e->c, out);
  collect_aggs (e->d, out);
  for (guint i = 0; e->args && i < e->args->len; i++)
    collect_aggs (e->args->pdata[i], out);
}

static int
cmp_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
has_var (const NcExpr *e)
{
  if (e == NULL)
    return FALSE;
  if (e->kind == NC_EX_VAR || e->kind == NC_EX_MAP_PROJ || e->kind == NC_EX_PATTERN)
    return TRUE;
  if (has_var (e->a) || has_var (e->b) || has_var (e->c) || has_var (e->d))
    return TRUE;
  for (guint i = 0; e->args && i < e->args->len; i++)
    if (has_var (e->args->pdata[i]))
      return TRUE;
  return FALSE;
}

/* An ORDER BY item of an aggregating projection that contains an
 * aggregate may only refer to projected columns by name or to simple
 * grouping keys (n.prop). */
static gboolean
order_agg_ok (const NcExpr *e, const NcClause *c)
{
  if (e == NULL || e->is_agg)
    return TRUE;
  if (!contains_agg (e))
    {
      if (!has_var (e))
        return TRUE;
      for (guint i = 0; i < c->items->len; i++)
        {
          NcProjItem *it = c->items->pdata[i];
          if (e->kind == NC_EX_VAR && g_str_equal (e->name, it->alias))
            return TRUE;
          if (e->kind == NC_EX_PROP && e->a->kind == NC_EX_VAR && !contains_agg (it->expr))
            {
              g_autofree char *t1 = nc_expr_to_string (e);
              g_autofree char *t2 = nc_expr_to_string (it->expr);
              if (g_str_equal (t1, t2))
                return TRUE;
            }
        }
      return FALSE;
    }
  if (!order_agg_ok (e->a, c) || !order_agg_ok (e->b, c) || !order_agg_ok (e->c, c) || !order_agg_ok (e->d, c))
    return FALSE;
  for (guint i = 0; e->args && i < e->args->len; i++)
    if (!order_agg_ok (e->args->pdata[i], c))
      return FALSE;
  return TRUE;
}

/* Replaces ORDER BY expressions equal to a projected expression with a
 * reference to the projected column. */
static void
rewrite_to_projection (NcExpr **pe, NcClause *c)
{
  NcExpr *e = *pe;
  if (e == NULL || e->kind == NC_EX_VAR)
    return;
  g_autofree char *txt = nc_expr_to_string (e);
  for (guint i = 0; i < c->items->len; i++)
    {
      NcProjItem *it = c->items->pdata[i];
      g_autofree char *t2 = nc_expr_to_string (it->expr);
      if (g_str_equal (txt, t2))
        {
          NcExpr *v = nc_expr_new (NC_EX_VAR, e->offset);
          v->name = g_strdup (it->alias);
          nc_expr_free (e);
          *pe = v;
          return;
        }
    }
  rewrite_to_projection (&e->a, c);
  rewrite_to_projection (&e->b, c);
  rewrite_to_projection (&e->c, c);
  for (guint i = 0; e->args && i < e->args->len; i++)
    rewrite_to_projection ((NcExpr **) &e->args->pdata[i], c);
}

/* WITH / RETURN: returns the new scope. */
static Scope *
sem_projection (Sem *S, Scope *sc, NcClause *c)
{
  if (c->star)
    {
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      GHashTableIter it;
      gpointer k;
      g_hash_table_iter_init (&it, sc->vars);
      while (g_hash_table_iter_next (&it, &k, NULL))
        if (((char *) k)[0] != '\0')
          g_ptr_array_add (names, k);
      if (names->len == 0 && c->items->len == 0 && c->kind == NC_CL_RETURN)
        {
          fail (S, c->offset, NC_ERROR_SYNTAX, "%s * is not allowed when there are no variables in scope",
                c->kind == NC_CL_WITH ? "WITH" : "RETURN");
          return NULL;
        }
      g_ptr_array_sort (names, cmp_names);
      for (guint i = 0; i < names->len; i++)
        {
          NcProjItem *pi = g_new0 (NcProjItem, 1);
          pi->expr = nc_expr_new (NC_EX_VAR, c->offset);
          pi->expr->name = g_strdup (names->pdata[i]);
          pi->alias = g_strdup (names->pdata[i]);
          pi->slot = -1;
          g_ptr_array_insert (c->items, i, pi);
        }
      c->star = FALSE;
    }
  g_autoptr (GHashTable) aliases = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean has_agg = FALSE;
  for (guint i = 0; i < c->items->len; i++)
    {
      NcProjItem *it = c->items->pdata[i];
      if (!sem_expr (S, sc, it->expr, AGG_ALLOWED))
        return NULL;
      if (c->kind == NC_CL_WITH && !it->aliased && it->expr->kind != NC_EX_VAR)
        {
          fail (S, it->expr->offset, NC_ERROR_SYNTAX, "Expression in WITH must be aliased (use AS)");
          return NULL;
        }
      if (g_hash_table_contains (aliases, it->alias))
        {
          fail (S, it->expr->offset, NC_ERROR_SYNTAX, "Multiple result columns with the same name are not supported");
          return NULL;
        }
      g_hash_table_add (aliases, it->alias);
      if (contains_agg (it->expr))
        has_agg = TRUE;
    }
  c->aggs = g_ptr_array_new ();
  if (has_agg)
    {
      g_autoptr (GHashTable) key_slots = g_hash_table_new (NULL, NULL);
      g_autoptr (GPtrArray) key_texts = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; i < c->items->len; i++)
        {
          NcProjItem *it = c->items->pdata[i];
          if (!contains_agg (it->expr))
            {
              if (it->expr->kind == NC_EX_VAR)
                g_hash_table_add (key_slots, GINT_TO_POINTER (it->expr->slot + 1));
              /* only simple keys (n.prop) may reappear inside an
               * aggregating expression; complex ones are ambiguous */
              if (it->expr->kind == NC_EX_PROP && it->expr->a->kind == NC_EX_VAR)
                g_ptr_array_add (key_texts, nc_expr_to_string (it->expr));
            }
        }
      for (guint i = 0; i < c->items->len; i++)
        {
          NcProjItem *it = c->items->pdata[i];
          if (contains_agg (it->expr))
            {
              if (!check_ambiguous (S, it->expr, key_slots, key_texts))
                return NULL;
              collect_aggs (it->expr, c->aggs);
            }
        }
    }
  /* New scope: projected names. Reuse the slot when a variable is passed
   * through under its own name, so entity identity needs no copy. */
  Scope *out = scope_new (NULL);
  for (guint i = 0; i < c->items->len; i++)
    {
      NcProjItem *it = c->items->pdata[i];
      NcVarType t = NC_VT_ANY;
      if (it->expr->kind == NC_EX_VAR)
        {
          Var *v = lookup (sc, it->expr->name);
          t = v->type;
          if (g_str_equal (it->expr->name, it->alias))
            {
              it->slot = v->slot;
              Var *nv = g_new0 (Var, 1);
              *nv = *v;
              g_hash_table_insert (out->vars, g_strdup (it->alias), nv);
              continue;
            }
        }
      if (t == NC_VT_ANY)
        {
          NcValueType st = static_type (sc, it->expr);
          if (st == NC_VALUE_LIST)
            t = NC_VT_LIST;
          else if (st != TYPE_UNKNOWN && st != NC_VALUE_NULL && st != NC_VALUE_NODE && st != NC_VALUE_REL && st != NC_VALUE_PATH)
            t = NC_VT_VALUE;
        }
      it->slot = bind (S, out, it->alias, t)->slot;
    }
  /* ORDER BY and WITH ... WHERE see the projection, plus the old scope
   * unless the projection aggregates or is DISTINCT. */
  g_autoptr (Scope) osc = NULL;
  if (c->order || c->where)
    {
      if (has_agg || c->distinct)
        osc = scope_copy (out);
      else
        {
          osc = scope_copy (sc);
          GHashTableIter hit;
          gpointer k, v;
          g_hash_table_iter_init (&hit, out->vars);
          while (g_hash_table_iter_next (&hit, &k, &v))
            g_hash_table_insert (osc->vars, g_strdup (k), g_memdup2 (v, sizeof (Var)));
        }
    }
  if (c->where && (has_agg || c->distinct))
    rewrite_to_projection (&c->where, c);
  if (c->order && has_agg)
    for (guint i = 0; i < c->order->len; i++)
      {
        NcSortItem *si = c->order->pdata[i];
        if (contains_agg (si->expr) && !order_agg_ok (si->expr, c))
          {
            fail (S, si->expr->offset, NC_ERROR_SYNTAX,
                  "Order by column contains implicit grouping expressions (AmbiguousAggregationExpression)");
            scope_free (out);
            return NULL;
          }
      }
  if (c->order)
    {
      if (has_agg || c->distinct)
        for (guint i = 0; i < c->order->len; i++)
          rewrite_to_projection (&((NcSortItem *) c->order->pdata[i])->expr, c);
      for (guint i = 0; i < c->order->len; i++)
        {
          NcSortItem *si = c->order->pdata[i];
          if (contains_agg (si->expr) && !has_agg)
            {
              fail (S, si->expr->offset, NC_ERROR_SYNTAX,
                    "Cannot use aggregation in ORDER BY if there are no aggregate expressions in the preceding %s",
                    c->kind == NC_CL_WITH ? "WITH" : "RETURN");
              scope_free (out);
              return NULL;
            }
          if (!sem_expr (S, osc, si->expr, 0))
            {
              scope_free (out);
              return NULL;
            }
        }
    }
  if (!sem_skip_limit (S, c->skip, "SKIP") || !sem_skip_limit (S, c->limit, "LIMIT"))
    {
      scope_free (out);
      return NULL;
    }
  if (c->where)
    {
      if (contains_agg (c->where))
        {
          fail (S, c->where->offset, NC_ERROR_SYNTAX, "Invalid use of aggregating function in WHERE");
          scope_free (out);
          return NULL;
        }
      if (!sem_expr (S, osc, c->where, IN_PRED) || !check_predicate (S, osc, c->where))
        {
          scope_free (out);
          return NULL;
        }
    }
  return out;
}

/* WHERE must be a predicate. */
static gboolean
check_predicate (Sem *S, Scope *sc, NcExpr *where)
{
  if (where == NULL)
    return TRUE;
  NcValueType t = static_type (sc, where);
  if (t != TYPE_UNKNOWN && t != NC_VALUE_BOOL && t != NC_VALUE_NULL)
    return fail (S, where->offset, NC_ERROR_SYNTAX, "Type mismatch: expected Boolean but was %s", vtype_label (t));
  return TRUE;
}

static gboolean
sem_set_items (Sem *S, Scope *sc, GPtrArray *items)
{
  for (guint i = 0; items && i < items->len; i++)
    {
      NcSetItem *it = items->pdata[i];
      if (!sem_expr (S, sc, it->target, 0) || !sem_expr (S, sc, it->value, 0))
        return FALSE;
      if (it->value && contains_agg (it->value))
        return fail (S, it->value->offset, NC_ERROR_SYNTAX, "Invalid use of aggregating function in SET");
    }
  return TRUE;
}

static gboolean
expr_is_entity_like (Sem *S, Scope *sc, NcExpr *e)
{
  switch (e->kind)
    {
    case NC_EX_VAR: case NC_EX_INDEX: case NC_EX_FUNC: case NC_EX_CASE: case NC_EX_PARAM:
    case NC_EX_LITERAL: case NC_EX_PROP:
      return e->kind != NC_EX_LITERAL || e->lit.type == NC_VALUE_NULL;
    default:
      return FALSE;
    }
}

static const char *const proc_labels[] = { "label", NULL };
static const char *const proc_types[] = { "relationshipType", NULL };
static const char *const proc_keys[] = { "propertyKey", NULL };
static const char *const proc_components[] = { "name", "versions", "edition", NULL };
static const char *const proc_indexes[] = { "id", "name", "state", "populationPercent", "type", "entityType",
                                            "labelsOrTypes", "properties", "indexProvider", "owningConstraint", NULL };
static const char *const proc_constraints[] = { "id", "name", "type", "entityType", "labelsOrTypes", "properties",
                                                "ownedIndex", NULL };
static const char *const proc_ping[] = { "success", NULL };
static const char *const proc_info[] = { "id", "name", "creationDate", NULL };

const char *const *
nc_cypher_procedure_fields (const char *name, int *n_args)
{
  *n_args = 0;
  if (g_ascii_strcasecmp (name, "db.labels") == 0) return proc_labels;
  if (g_ascii_strcasecmp (name, "db.relationshipTypes") == 0) return proc_types;
  if (g_ascii_strcasecmp (name, "db.propertyKeys") == 0) return proc_keys;
  if (g_ascii_strcasecmp (name, "dbms.components") == 0) return proc_components;
  if (g_ascii_strcasecmp (name, "db.indexes") == 0) return proc_indexes;
  if (g_ascii_strcasecmp (name, "db.constraints") == 0) return proc_constraints;
  if (g_ascii_strcasecmp (name, "db.ping") == 0) return proc_ping;
  if (g_ascii_strcasecmp (name, "db.info") == 0) return proc_info;
  if (nc_test_procedures_enabled ())
    {
      static const char *const proc_none[] = { NULL };
      if (g_str_equal (name, "nornicdb.tck.defineProcedure"))
        {
          *n_args = 6;
          return proc_none;
        }
      if (g_str_equal (name, "nornicdb.tck.clearProcedures"))
        return proc_none;
      guint n_in = 0;
      const char *const *out = nc_test_procedure_lookup (name, &n_in, NULL, NULL);
      if (out)
        *n_args = (int) n_in;
      return out;
    }
  return NULL;
}

static gboolean
is_updating (const NcClause *c)
{
  switch (c->kind)
    {
    case NC_CL_CREATE: case NC_CL_MERGE: case NC_CL_SET: case NC_CL_REMOVE:
    case NC_CL_DELETE: case NC_CL_FOREACH:
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean sem_clauses (Sem *S, Scope **psc, GPtrArray *clauses, gboolean in_foreach, gboolean subquery,
                             NcClause **last_out);

static gboolean
sem_clause (Sem *S, Scope **psc, NcClause *c, gboolean in_foreach)
{
  Scope *sc = *psc;
  c->keep_slots = g_array_new (FALSE, FALSE, sizeof (int));
  {
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init (&it, sc->vars);
    while (g_hash_table_iter_next (&it, NULL, &v))
      g_array_append_val (c->keep_slots, ((Var *) v)->slot);
  }
  switch (c->kind)
    {
    case NC_CL_MATCH:
      S->stmt->has_reads = TRUE;
      if (!sem_pattern (S, sc, c->pattern, PAT_MATCH))
        return FALSE;
      if (c->where && contains_agg (c->where))
        return fail (S, c->where->offset, NC_ERROR_SYNTAX, "Invalid use of aggregating function in WHERE");
      return sem_expr (S, sc, c->where, IN_PRED) && check_predicate (S, sc, c->where);
    case NC_CL_UNWIND:
      if (!sem_expr (S, sc, c->expr, 0))
        return FALSE;
      if (contains_agg (c->expr))
        return fail (S, c->expr->offset, NC_ERROR_SYNTAX, "Invalid use of aggregating function in UNWIND");
      if (lookup (sc, c->var))
        return fail (S, c->offset, NC_ERROR_SYNTAX, "Variable `%s` already declared", c->var);
      c->slot = bind (S, sc, c->var, NC_VT_ANY)->slot;
      return TRUE;
    case NC_CL_WITH:
    case NC_CL_RETURN:
      {
        Scope *out = sem_projection (S, sc, c);
        if (out == NULL)
          return FALSE;
        scope_free (sc);
        *psc = out;
        return TRUE;
      }
    case NC_CL_CREATE:
      S->stmt->has_updates = TRUE;
      return sem_pattern (S, sc, c->pattern, PAT_CREATE);
    case NC_CL_MERGE:
      {
        S->stmt->has_updates = TRUE;
        S->stmt->has_reads = TRUE;
        NcPatternPart *part = c->pattern->pdata[0];
        for (guint i = 0; i < part->nodes->len; i++)
          {
            NcNodePat *n = part->nodes->pdata[i];
            if (n->props && n->props->kind == NC_EX_PARAM)
              return fail (S, n->props->offset, NC_ERROR_SYNTAX,
                           "Parameter maps cannot be used in MERGE patterns (use a literal map instead, e.g. \"{id: $%s.id}\")",
                           n->props->name);
          }
        /* Relationships too: MERGE must match on known keys, and a whole
         * parameter map gives the planner nothing to match on. */
        for (guint i = 0; i < part->rels->len; i++)
          {
            NcRelPat *r = part->rels->pdata[i];
            if (r->props && r->props->kind == NC_EX_PARAM)
              return fail (S, r->props->offset, NC_ERROR_SYNTAX,
                           "Parameter maps cannot be used in MERGE patterns (use a literal map instead, e.g. \"{id: $%s.id}\")",
                           r->props->name);
          }
        if (!sem_pattern (S, sc, c->pattern, PAT_MERGE))
          return FALSE;
        return sem_set_items (S, sc, c->set_items) && sem_set_items (S, sc, c->on_match);
      }
    case NC_CL_SET:
    case NC_CL_REMOVE:
      S->stmt->has_updates = TRUE;
      return sem_set_items (S, sc, c->set_items);
    case NC_CL_DELETE:
      S->stmt->has_updates = TRUE;
      for (guint i = 0; i < c->exprs->len; i++)
        {
          NcExpr *e = c->exprs->pdata[i];
          if (!sem_expr (S, sc, e, 0))
            return FALSE;
          if (!expr_is_entity_like (S, sc, e) || (e->kind == NC_EX_LITERAL && e->lit.type != NC_VALUE_NULL))
            return fail (S, e->offset, NC_ERROR_SYNTAX, "Type mismatch: expected Node, Path or Relationship but was %s",
                         e->kind == NC_EX_LITERAL ? nc_value_type_name (e->lit.type) : "an expression");
          if (e->kind == NC_EX_HAS_LABELS)
            return fail (S, e->offset, NC_ERROR_SYNTAX, "Invalid DELETE target");
        }
      return TRUE;
    case NC_CL_FOREACH:
      {
        S->stmt->has_updates = TRUE;
        if (!sem_expr (S, sc, c->expr, 0))
          return FALSE;
        Scope *inner = scope_copy (sc);
        if (lookup (sc, c->var))
          {
            scope_free (inner);
            return fail (S, c->offset, NC_ERROR_SYNTAX, "Variable `%s` already declared", c->var);
          }
        c->slot = bind (S, inner, c->var, NC_VT_ANY)->slot;
        for (guint i = 0; i < c->body->len; i++)
          {
            NcClause *b = c->body->pdata[i];
            if (!is_updating (b))
              {
                scope_free (inner);
                return fail (S, b->offset, NC_ERROR_SYNTAX, "Invalid use of %s inside FOREACH",
                             b->kind == NC_CL_MATCH ? "MATCH" : b->kind == NC_CL_WITH ? "WITH" : "a reading clause");
              }
          }
        gboolean ok = sem_clauses (S, &inner, c->body, TRUE, FALSE, NULL);
        scope_free (inner);
        return ok;
      }
    case NC_CL_CALL:
      {
        S->stmt->has_reads = TRUE;
        int n_args = 0;
        const char *const *fields = nc_cypher_procedure_fields (c->proc, &n_args);
        if (fields == NULL)
          return fail (S, c->offset, NC_ERROR_UNKNOWN_PROCEDURE,
                       "There is no procedure with the name `%s` registered for this database instance. Please ensure you've spelled the procedure name correctly and that the procedure is properly deployed.",
                       c->proc);
        guint tp_in = 0;
        const char *const *in_names = NULL, *const *in_types = NULL;
        /* Test procedures come and go between TCK scenarios: a plan that
         * names one (or manages them) must not be served from the cache. */
        if (nc_test_procedure_lookup (c->proc, &tp_in, &in_names, &in_types) != NULL
            || g_str_has_prefix (c->proc, "nornicdb.tck."))
          S->stmt->no_cache = TRUE;
        if (!c->has_args && n_args > 0)
          {
            /* CALL p without parentheses takes its arguments from the
             * parameters of the same names, but only as a whole query. */
            if (!c->standalone || c->items != NULL)
              return fail (S, c->offset, NC_ERROR_SYNTAX,
                           "Procedure call inside a query does not support passing arguments implicitly (pass arguments explicitly in parentheses after procedure name for %s)",
                           c->proc);
            if (in_names == NULL)
              return fail (S, c->offset, NC_ERROR_SYNTAX,
                           "Procedure call does not provide the required number of arguments: got 0 expected %d.", n_args);
            if (c->exprs == NULL)
              c->exprs = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_expr_free);
            for (int i = 0; i < n_args; i++)
              {
                NcExpr *pe = nc_expr_new (NC_EX_PARAM, c->offset);
                pe->name = g_strdup (in_names[i]);
                g_ptr_array_add (c->exprs, pe);
              }
          }
        if (c->exprs && (int) c->exprs->len != n_args)
          return fail (S, c->offset, NC_ERROR_SYNTAX,
                       "Procedure call does not provide the required number of arguments: got %u expected %d.",
                       c->exprs->len, n_args);
        if (!sem_args (S, sc, c->exprs, 0))
          return FALSE;
        for (guint i = 0; c->exprs && i < c->exprs->len; i++)
          {
            NcExpr *a = c->exprs->pdata[i];
            if (in_types && a->kind == NC_EX_LITERAL && !nc_test_procedure_accepts (in_types[i], a->lit.type))
              return fail (S, a->offset, NC_ERROR_SYNTAX, "Type mismatch: expected %s but was %s", in_types[i],
                           nc_value_type_name (a->lit.type));
          }
        /* SHOW INDEXES/CONSTRAINTS [YIELD *|WHERE ...] RETURN ... is parsed
         * as a call of these two, and there YIELD * may go on. */
        gboolean show_call = g_str_equal (c->proc, "db.indexes") || g_str_equal (c->proc, "db.constraints");
        if (c->yield_star && !c->standalone && !show_call)
          return fail (S, c->offset, NC_ERROR_SYNTAX, "Invalid input '*': YIELD * can only be used in a standalone procedure call");
        if (c->items == NULL && !c->standalone)
          {
            /* An in-query CALL without YIELD binds none of the outputs. */
            c->items = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_proj_item_free);
          }
        else if (c->items == NULL || c->yield_star)
          {
            if (c->items == NULL)
              c->items = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_proj_item_free);
            for (guint i = 0; fields[i]; i++)
              {
                NcProjItem *it = g_new0 (NcProjItem, 1);
                it->expr = nc_expr_new (NC_EX_VAR, c->offset);
                it->expr->name = g_strdup (fields[i]);
                it->alias = g_strdup (fields[i]);
                it->slot = -1;
                g_ptr_array_add (c->items, it);
              }
          }
        for (guint i = 0; i < c->items->len; i++)
          {
            NcProjItem *it = c->items->pdata[i];
            int idx = -1;
            for (guint f = 0; fields[f]; f++)
              if (g_str_equal (fields[f], it->expr->name))
                idx = f;
            if (idx < 0)
              return fail (S, it->expr->offset, NC_ERROR_SYNTAX, "Unknown procedure output: `%s`", it->expr->name);
            it->expr->slot = idx; /* field index */
            if (lookup (sc, it->alias))
              return fail (S, it->expr->offset, NC_ERROR_SYNTAX, "Variable `%s` already declared", it->alias);
            it->slot = bind (S, sc, it->alias, NC_VT_ANY)->slot;
          }
        return sem_expr (S, sc, c->where, IN_PRED);
      }
    case NC_CL_SUBQUERY:
      {
        /* CALL { WITH a, b ... }: the leading WITH imports outer variables. */
        g_autoptr (GPtrArray) scopes = g_ptr_array_new ();
        g_autoptr (Scope) inner = scope_copy (sc);
        c->import_slots = g_array_new (FALSE, FALSE, sizeof (int));
        GPtrArray *out_scopes = g_ptr_array_new_with_free_func ((GDestroyNotify) scope_free);
        gboolean ok = sem_query (S, inner, c->sub, TRUE, out_scopes);
        if (ok && c->sub->columns != NULL)
          {
            for (guint i = 0; i < c->sub->columns->len; i++)
              {
                const char *col = c->sub->columns->pdata[i];
                if (lookup (sc, col))
                  {
                    g_ptr_array_unref (out_scopes);
                    return fail (S, c->offset, NC_ERROR_SYNTAX, "Variable `%s` already declared", col);
                  }
                GArray *slots0 = c->sub->col_slots->pdata[0];
                Var *v = g_new0 (Var, 1);
                v->slot = g_array_index (slots0, int, i);
                v->type = NC_VT_ANY;
                g_hash_table_insert (sc->vars, g_strdup (col), v);
              }
          }
        g_ptr_array_unref (out_scopes);
        return ok;
      }
    }
  return TRUE;
}

static gboolean
sem_clauses (Sem *S, Scope **psc, GPtrArray *clauses, gboolean in_foreach, gboolean subquery, NcClause **last_out)
{
  gboolean seen_update = FALSE;
  for (guint i = 0; i < clauses->len; i++)
    {
      NcClause *c = clauses->pdata[i];
      if (!in_foreach)
        {
          if (c->kind == NC_CL_RETURN && i + 1 < clauses->len)
            return fail (S, ((NcClause *) clauses->pdata[i + 1])->offset, NC_ERROR_SYNTAX,
                         "RETURN can only be used at the end of the query");
          if (c->kind == NC_CL_MATCH && seen_update)
            return fail (S, c->offset, NC_ERROR_SYNTAX,
                         "WITH is required between %s and MATCH", "an updating clause");
          if (c->kind == NC_CL_WITH || c->kind == NC_CL_RETURN)
            seen_update = FALSE;
          if (is_updating (c))
            seen_update = TRUE;
        }
      if (!sem_clause (S, psc, c, in_foreach))
        return FALSE;
    }
  if (last_out)
    *last_out = clauses->len ? clauses->pdata[clauses->len - 1] : NULL;
  return TRUE;
}

static gboolean
sem_query (Sem *S, Scope *outer, NcQueryAst *q, gboolean subquery, GPtrArray *out_scopes)
{
  q->col_slots = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  gboolean any_all = FALSE, any_distinct = FALSE;
  for (guint i = 0; q->union_all && i < q->union_all->len; i++)
    {
      if (g_array_index (q->union_all, gboolean, i))
        any_all = TRUE;
      else
        any_distinct = TRUE;
    }
  if (any_all && any_distinct)
    return fail (S, 0, NC_ERROR_SYNTAX, "Invalid combination of UNION and UNION ALL");
  for (guint p = 0; p < q->parts->len; p++)
    {
      NcSingleQuery *sq = q->parts->pdata[p];
      Scope *sc = scope_copy (outer);
      NcClause *last = NULL;
      if (sq->clauses->len == 1 && !subquery && q->parts->len == 1)
        {
          NcClause *only = sq->clauses->pdata[0];
          if (only->kind == NC_CL_CALL)
            only->standalone = TRUE;
        }
      gboolean ok = sem_clauses (S, &sc, sq->clauses, FALSE, subquery, &last);
      if (!ok)
        {
          scope_free (sc);
          return FALSE;
        }
      GArray *slots = g_array_new (FALSE, FALSE, sizeof (int));
      g_ptr_array_add (q->col_slots, slots);
      if (last && last->kind == NC_CL_RETURN)
        {
          GPtrArray *cols = g_ptr_array_new_with_free_func (g_free);
          for (guint i = 0; i < last->items->len; i++)
            {
              NcProjItem *it = last->items->pdata[i];
              g_ptr_array_add (cols, g_strdup (it->alias));
              g_array_append_val (slots, it->slot);
            }
          if (q->columns == NULL)
            q->columns = cols;
          else
            {
              gboolean same = cols->len == q->columns->len;
              for (guint i = 0; same && i < cols->len; i++)
                same = g_str_equal (cols->pdata[i], q->columns->pdata[i]);
              g_ptr_array_unref (cols);
              if (!same)
                {
                  scope_free (sc);
                  return fail (S, last->offset, NC_ERROR_SYNTAX, "All sub queries in an UNION must have the same return column names");
                }
            }
        }
      else if (last && last->kind == NC_CL_CALL && sq->clauses->len == 1 && !subquery && q->parts->len == 1)
        {
          /* standalone CALL: its yields are the result */
          GPtrArray *cols = g_ptr_array_new_with_free_func (g_free);
          for (guint i = 0; i < last->items->len; i++)
            {
              NcProjItem *it = last->items->pdata[i];
              g_ptr_array_add (cols, g_strdup (it->alias));
              g_array_append_val (slots, it->slot);
            }
          q->columns = cols;
        }
      else if (last && !is_updating (last) && last->kind != NC_CL_CALL && last->kind != NC_CL_SUBQUERY
               && !(subquery && q->parts->len == 1))
        {
          scope_free (sc);
          return fail (S, last->offset, NC_ERROR_SYNTAX,
                       "Query cannot conclude with %s (must be a RETURN clause, an update clause, a unit subquery call, or a procedure call with no YIELD)",
                       last->kind == NC_CL_MATCH ? "MATCH" : last->kind == NC_CL_WITH ? "WITH" : last->kind == NC_CL_UNWIND ? "UNWIND" : "this clause");
        }
      else if (q->parts->len > 1)
        {
          scope_free (sc);
          return fail (S, last ? last->offset : 0, NC_ERROR_SYNTAX, "All sub queries in an UNION must end with RETURN");
        }
      if (out_scopes)
        g_ptr_array_add (out_scopes, sc);
      else
        scope_free (sc);
    }
  return TRUE;
}

gboolean
nc_cypher_analyze (NcStatement *s, const char *text, GError **error)
{
  Sem S = { .stmt = s, .src = text, .error = error };
  S.params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  S.slot_types = g_array_new (FALSE, FALSE, sizeof (NcVarType));
  s->slot_names = g_ptr_array_new_with_free_func (g_free);
  gboolean ok = TRUE;
  if (s->kind == NC_STMT_QUERY)
    {
      g_autoptr (Scope) sc = scope_new (NULL);
      ok = sem_query (&S, sc, s->query, FALSE, NULL);
    }
  else if (s->kind == NC_STMT_SYSTEM)
    {
      g_autoptr (Scope) sc = scope_new (NULL);
      for (guint i = 0; ok && i < s->sys_vals->len; i++)
        ok = sem_expr (&S, sc, s->sys_vals->pdata[i], 0);
    }
  s->params = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, S.params);
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_ptr_array_add (s->params, g_strdup (k));
  g_ptr_array_sort (s->params, cmp_names);
  g_hash_table_unref (S.params);
  g_array_unref (S.slot_types);
  return ok;
}
