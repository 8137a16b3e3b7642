#define G_LOG_DOMAIN "nornicdb-cypher"

#include "ast.h"

NcExpr *
nc_expr_new (NcExprKind kind, guint offset)
{
  NcExpr *e = g_new0 (NcExpr, 1);
  e->kind = kind;
  e->offset = offset;
  e->slot = -1;
  return e;
}

void
nc_expr_free (NcExpr *e)
{
  if (e == NULL)
    return;
  nc_value_clear (&e->lit);
  g_free (e->name);
  nc_expr_free (e->a);
  nc_expr_free (e->b);
  nc_expr_free (e->c);
  nc_expr_free (e->d);
  if (e->args)
    g_ptr_array_unref (e->args);
  if (e->keys)
    g_ptr_array_unref (e->keys);
  if (e->ops)
    g_array_unref (e->ops);
  nc_pattern_part_free (e->part);
  nc_query_ast_free (e->sub);
  g_free (e);
}

void
nc_node_pat_free (NcNodePat *n)
{
  if (n == NULL)
    return;
  g_free (n->var);
  if (n->labels)
    g_ptr_array_unref (n->labels);
  nc_expr_free (n->props);
  g_free (n);
}

void
nc_rel_pat_free (NcRelPat *r)
{
  if (r == NULL)
    return;
  g_free (r->var);
  if (r->types)
    g_ptr_array_unref (r->types);
  nc_expr_free (r->props);
  g_free (r);
}

void
nc_pattern_part_free (NcPatternPart *p)
{
  if (p == NULL)
    return;
  g_free (p->path_var);
  if (p->nodes)
    g_ptr_array_unref (p->nodes);
  if (p->rels)
    g_ptr_array_unref (p->rels);
  g_free (p);
}

void
nc_proj_item_free (NcProjItem *it)
{
  nc_expr_free (it->expr);
  g_free (it->alias);
  g_free (it);
}

void
nc_sort_item_free (NcSortItem *it)
{
  nc_expr_free (it->expr);
  g_free (it);
}

void
nc_set_item_free (NcSetItem *it)
{
  nc_expr_free (it->target);
  g_free (it->key);
  nc_expr_free (it->value);
  if (it->labels)
    g_ptr_array_unref (it->labels);
  g_free (it);
}

NcClause *
nc_clause_new (NcClauseKind kind, guint offset)
{
  NcClause *c = g_new0 (NcClause, 1);
  c->kind = kind;
  c->offset = offset;
  c->slot = -1;
  return c;
}

void
nc_clause_free (NcClause *c)
{
  if (c == NULL)
    return;
  if (c->pattern) g_ptr_array_unref (c->pattern);
  nc_expr_free (c->where);
  if (c->items) g_ptr_array_unref (c->items);
  if (c->order) g_ptr_array_unref (c->order);
  nc_expr_free (c->skip);
  nc_expr_free (c->limit);
  nc_expr_free (c->expr);
  g_free (c->var);
  if (c->set_items) g_ptr_array_unref (c->set_items);
  if (c->on_match) g_ptr_array_unref (c->on_match);
  if (c->exprs) g_ptr_array_unref (c->exprs);
  if (c->body) g_ptr_array_unref (c->body);
  nc_query_ast_free (c->sub);
  g_free (c->proc);
  if (c->aggs) g_ptr_array_unref (c->aggs);
  if (c->keep_slots) g_array_unref (c->keep_slots);
  if (c->import_slots) g_array_unref (c->import_slots);
  g_free (c);
}

void
nc_single_query_free (NcSingleQuery *q)
{
  if (q == NULL)
    return;
  g_ptr_array_unref (q->clauses);
  g_free (q);
}

void
nc_query_ast_free (NcQueryAst *q)
{
  if (q == NULL)
    return;
  g_ptr_array_unref (q->parts);
  if (q->union_all) g_array_unref (q->union_all);
  if (q->columns) g_ptr_array_unref (q->columns);
  if (q->col_slots) g_ptr_array_unref (q->col_slots);
  g_free (q);
}

void
nc_statement_free (NcStatement *s)
{
  if (s == NULL)
    return;
  nc_query_ast_free (s->query);
  g_free (s->schema_name);
  g_free (s->label);
  g_free (s->key);
  g_free (s->sys_op);
  if (s->sys_keys) g_ptr_array_unref (s->sys_keys);
  if (s->sys_vals) g_ptr_array_unref (s->sys_vals);
  if (s->slot_names) g_ptr_array_unref (s->slot_names);
  if (s->params) g_ptr_array_unref (s->params);
  g_free (s);
}

/* ---- unparse ------------------------------------------------------------ */

static const char *const cmp_names[] = { "=", "<>", "<", ">", "<=", ">=" };
static const char *const arith_names[] = { "+", "-", "*", "/", "%", "^" };
static const char *const quant_names[] = { "all", "any", "none", "single" };

static void
unparse_args (const GPtrArray *args, GString *out, const char *sep)
{
  for (guint i = 0; args && i < args->len; i++)
    {
      if (i)
        g_string_append (out, sep);
      nc_expr_unparse (args->pdata[i], out);
    }
}

static void
unparse_pattern (const NcPatternPart *p, GString *out)
{
  if (p->path_var)
    g_string_append_printf (out, "%s = ", p->path_var);
  if (p->shortest)
    g_string_append (out, p->shortest == 1 ? "shortestPath(" : "allShortestPaths(");
  for (guint i = 0; i < p->nodes->len; i++)
    {
      NcNodePat *n = p->nodes->pdata[i];
      g_string_append_c (out, '(');
      if (n->var)
        g_string_append (out, n->var);
      for (guint l = 0; n->labels && l < n->labels->len; l++)
        g_string_append_printf (out, ":%s", (char *) n->labels->pdata[l]);
      if (n->props)
        {
          g_string_append_c (out, ' ');
          nc_expr_unparse (n->props, out);
        }
      g_string_append_c (out, ')');
      if (i + 1 < p->nodes->len)
        {
          NcRelPat *r = p->rels->pdata[i];
          g_string_append (out, r->dir == NC_DIR_IN ? "<-[" : "-[");
          if (r->var)
            g_string_append (out, r->var);
          for (guint t = 0; r->types && t < r->types->len; t++)
            g_string_append_printf (out, "%s%s", t ? "|" : ":", (char *) r->types->pdata[t]);
          if (r->varlen)
            {
              g_string_append_c (out, '*');
              if (r->min != 1 || r->max != -1)
                g_string_append_printf (out, "%" G_GINT64_FORMAT "..", r->min);
              if (r->max >= 0)
                g_string_append_printf (out, "%" G_GINT64_FORMAT, r->max);
            }
          if (r->props)
            {
              g_string_append_c (out, ' ');
              nc_expr_unparse (r->props, out);
            }
          g_string_append (out, r->dir == NC_DIR_OUT ? "]->" : "]-");
        }
    }
  if (p->shortest)
    g_string_append_c (out, ')');
}

void
nc_expr_unparse (const NcExpr *e, GString *out)
{
  if (e == NULL)
    {
      g_string_append (out, "<null>");
      return;
    }
  switch (e->kind)
    {
    case NC_EX_LITERAL:
      {
        g_autofree char *s = nc_value_to_debug_string (&e->lit);
        g_string_append (out, s);
        break;
      }
    case NC_EX_PARAM: g_string_append_printf (out, "$%s", e->name); break;
    case NC_EX_VAR: g_string_append (out, e->name); break;
    case NC_EX_PROP:
      nc_expr_unparse (e->a, out);
      g_string_append_printf (out, ".%s", e->name);
      break;
    case NC_EX_INDEX:
      nc_expr_unparse (e->a, out);
      g_string_append_c (out, '[');
      nc_expr_unparse (e->b, out);
      g_string_append_c (out, ']');
      break;
    case NC_EX_SLICE:
      nc_expr_unparse (e->a, out);
      g_string_append_c (out, '[');
      if (e->b) nc_expr_unparse (e->b, out);
      g_string_append (out, "..");
      if (e->c) nc_expr_unparse (e->c, out);
      g_string_append_c (out, ']');
      break;
    case NC_EX_LIST:
      g_string_append_c (out, '[');
      unparse_args (e->args, out, ", ");
      g_string_append_c (out, ']');
      break;
    case NC_EX_MAP:
      g_string_append_c (out, '{');
      for (guint i = 0; i < e->args->len; i++)
        {
          g_string_append_printf (out, "%s%s: ", i ? ", " : "", (char *) e->keys->pdata[i]);
          nc_expr_unparse (e->args->pdata[i], out);
        }
      g_string_append_c (out, '}');
      break;
    case NC_EX_ARITH:
      g_string_append_c (out, '(');
      nc_expr_unparse (e->a, out);
      g_string_append_printf (out, " %s ", arith_names[e->op]);
      nc_expr_unparse (e->b, out);
      g_string_append_c (out, ')');
      break;
    case NC_EX_NEG: g_string_append (out, "-"); nc_expr_unparse (e->a, out); break;
    case NC_EX_POS: g_string_append (out, "+"); nc_expr_unparse (e->a, out); break;
    case NC_EX_NOT: g_string_append (out, "(NOT "); nc_expr_unparse (e->a, out); g_string_append_c (out, ')'); break;
    case NC_EX_AND: case NC_EX_OR: case NC_EX_XOR:
      g_string_append_c (out, '(');
      nc_expr_unparse (e->a, out);
      g_string_append (out, e->kind == NC_EX_AND ? " AND " : e->kind == NC_EX_OR ? " OR " : " XOR ");
      nc_expr_unparse (e->b, out);
      g_string_append_c (out, ')');
      break;
    case NC_EX_CMP:
      g_string_append_c (out, '(');
      for (guint i = 0; i < e->args->len; i++)
        {
          if (i)
            g_string_append_printf (out, " %s ", cmp_names[g_array_index (e->ops, int, i - 1)]);
          nc_expr_unparse (e->args->pdata[i], out);
        }
      g_string_append_c (out, ')');
      break;
    case NC_EX_IN: case NC_EX_STARTS: case NC_EX_ENDS: case NC_EX_CONTAINS: case NC_EX_REGEX:
      g_string_append_c (out, '(');
      nc_expr_unparse (e->a, out);
      g_string_append (out, e->kind == NC_EX_IN ? " IN " : e->kind == NC_EX_STARTS ? " STARTS WITH "
                       : e->kind == NC_EX_ENDS ? " ENDS WITH " : e->kind == NC_EX_CONTAINS ? " CONTAINS " : " =~ ");
      nc_expr_unparse (e->b, out);
      g_string_append_c (out, ')');
      break;
    case NC_EX_IS_NULL: case NC_EX_IS_NOT_NULL:
      g_string_append_c (out, '(');
      nc_expr_unparse (e->a, out);
      g_string_append (out, e->kind == NC_EX_IS_NULL ? " IS NULL)" : " IS NOT NULL)");
      break;
    case NC_EX_CASE:
      g_string_append (out, "CASE");
      if (e->a)
        {
          g_string_append_c (out, ' ');
          nc_expr_unparse (e->a, out);
        }
      for (guint i = 0; i + 1 < e->args->len; i += 2)
        {
          g_string_append (out, " WHEN ");
          nc_expr_unparse (e->args->pdata[i], out);
          g_string_append (out, " THEN ");
          nc_expr_unparse (e->args->pdata[i + 1], out);
        }
      if (e->b)
        {
          g_string_append (out, " ELSE ");
          nc_expr_unparse (e->b, out);
        }
      g_string_append (out, " END");
      break;
    case NC_EX_FUNC:
      g_string_append_printf (out, "%s(%s", e->name, e->distinct ? "DISTINCT " : "");
      unparse_args (e->args, out, ", ");
      g_string_append_c (out, ')');
      break;
    case NC_EX_COUNT_STAR: g_string_append (out, "count(*)"); break;
    case NC_EX_LIST_COMP:
      g_string_append_printf (out, "[%s IN ", e->name);
      nc_expr_unparse (e->a, out);
      if (e->b) { g_string_append (out, " WHERE "); nc_expr_unparse (e->b, out); }
      if (e->c) { g_string_append (out, " | "); nc_expr_unparse (e->c, out); }
      g_string_append_c (out, ']');
      break;
    case NC_EX_PATTERN_COMP:
      g_string_append_c (out, '[');
      unparse_pattern (e->part, out);
      if (e->b) { g_string_append (out, " WHERE "); nc_expr_unparse (e->b, out); }
      g_string_append (out, " | ");
      nc_expr_unparse (e->c, out);
      g_string_append_c (out, ']');
      break;
    case NC_EX_QUANT:
      g_string_append_printf (out, "%s(%s IN ", quant_names[e->op], e->name);
      nc_expr_unparse (e->a, out);
      if (e->b) { g_string_append (out, " WHERE "); nc_expr_unparse (e->b, out); }
      g_string_append_c (out, ')');
      break;
    case NC_EX_REDUCE:
      g_string_append_printf (out, "reduce(%s = ", e->name);
      nc_expr_unparse (e->d, out);
      g_string_append_printf (out, ", %s IN ", (char *) e->keys->pdata[0]);
      nc_expr_unparse (e->a, out);
      g_string_append (out, " | ");
      nc_expr_unparse (e->c, out);
      g_string_append_c (out, ')');
      break;
    case NC_EX_EXISTS_SUB: case NC_EX_COUNT_SUB:
      g_string_append (out, e->kind == NC_EX_EXISTS_SUB ? "EXISTS { " : "COUNT { ");
      if (e->part)
        unparse_pattern (e->part, out);
      else
        g_string_append (out, "...");
      if (e->b) { g_string_append (out, " WHERE "); nc_expr_unparse (e->b, out); }
      g_string_append (out, " }");
      break;
    case NC_EX_PATTERN:
      unparse_pattern (e->part, out);
      break;
    case NC_EX_MAP_PROJ:
      g_string_append_printf (out, "%s{", e->name);
      for (guint i = 0; i < e->ops->len; i++)
        {
          int k = g_array_index (e->ops, int, i);
          if (i)
            g_string_append (out, ", ");
          if (k == NC_MP_PROP) g_string_append_printf (out, ".%s", (char *) e->keys->pdata[i]);
          else if (k == NC_MP_ALL) g_string_append (out, ".*");
          else if (k == NC_MP_VAR) g_string_append (out, (char *) e->keys->pdata[i]);
          else
            {
              g_string_append_printf (out, "%s: ", (char *) e->keys->pdata[i]);
              nc_expr_unparse (e->args->pdata[i], out);
            }
        }
      g_string_append_c (out, '}');
      break;
    case NC_EX_HAS_LABELS:
      nc_expr_unparse (e->a, out);
      for (guint l = 0; l < e->keys->len; l++)
        g_string_append_printf (out, ":%s", (char *) e->keys->pdata[l]);
      break;
    }
}

char *
nc_expr_to_string (const NcExpr *e)
{
  GString *s = g_string_new (NULL);
  nc_expr_unparse (e, s);
  return g_string_free (s, FALSE);
}

static const char *const clause_names[] = {
  "MATCH", "UNWIND", "WITH", "RETURN", "CREATE", "MERGE", "SET", "REMOVE", "DELETE",
  "FOREACH", "CALL", "CALL {}",
};

static void dump_query (const NcQueryAst *q, GString *out);

static void
dump_set_items (const GPtrArray *items, GString *out)
{
  for (guint i = 0; items && i < items->len; i++)
    {
      NcSetItem *it = items->pdata[i];
      g_string_append (out, i ? ", " : " ");
      nc_expr_unparse (it->target, out);
      switch (it->kind)
        {
        case NC_SET_PROP: g_string_append_printf (out, ".%s = ", it->key); nc_expr_unparse (it->value, out); break;
        case NC_SET_REPLACE: g_string_append (out, " = "); nc_expr_unparse (it->value, out); break;
        case NC_SET_MERGE: g_string_append (out, " += "); nc_expr_unparse (it->value, out); break;
        case NC_REMOVE_PROP: g_string_append_printf (out, ".%s", it->key); break;
        case NC_SET_LABELS: case NC_REMOVE_LABELS:
          for (guint l = 0; l < it->labels->len; l++)
            g_string_append_printf (out, ":%s", (char *) it->labels->pdata[l]);
          break;
        }
    }
}

static void
dump_clause (const NcClause *c, GString *out)
{
  if (c->optional)
    g_string_append (out, "OPTIONAL ");
  if (c->detach)
    g_string_append (out, "DETACH ");
  g_string_append (out, clause_names[c->kind]);
  if (c->distinct)
    g_string_append (out, " DISTINCT");
  for (guint i = 0; c->pattern && i < c->pattern->len; i++)
    {
      g_string_append (out, i ? ", " : " ");
      unparse_pattern (c->pattern->pdata[i], out);
    }
  if (c->kind == NC_CL_UNWIND || c->kind == NC_CL_FOREACH)
    {
      g_string_append_c (out, ' ');
      nc_expr_unparse (c->expr, out);
      g_string_append_printf (out, " AS %s", c->var);
    }
  if (c->proc)
    g_string_append_printf (out, " %s", c->proc);
  if (c->exprs)
    {
      g_string_append_c (out, c->kind == NC_CL_CALL ? '(' : ' ');
      unparse_args (c->exprs, out, ", ");
      if (c->kind == NC_CL_CALL)
        g_string_append_c (out, ')');
    }
  if (c->star)
    g_string_append (out, " *");
  for (guint i = 0; c->items && i < c->items->len; i++)
    {
      NcProjItem *it = c->items->pdata[i];
      g_string_append (out, i || c->star ? ", " : " ");
      nc_expr_unparse (it->expr, out);
      if (it->aliased)
        g_string_append_printf (out, " AS %s", it->alias);
    }
  if (c->kind == NC_CL_MERGE)
    {
      if (c->set_items) { g_string_append (out, " ON CREATE SET"); dump_set_items (c->set_items, out); }
      if (c->on_match) { g_string_append (out, " ON MATCH SET"); dump_set_items (c->on_match, out); }
    }
  else
    dump_set_items (c->set_items, out);
  if (c->body)
    {
      g_string_append (out, " |");
      for (guint i = 0; i < c->body->len; i++)
        {
          g_string_append_c (out, ' ');
          dump_clause (c->body->pdata[i], out);
        }
    }
  if (c->sub)
    {
      g_string_append (out, " { ");
      dump_query (c->sub, out);
      g_string_append (out, " }");
    }
  for (guint i = 0; c->order && i < c->order->len; i++)
    {
      NcSortItem *s = c->order->pdata[i];
      g_string_append (out, i ? ", " : " ORDER BY ");
      nc_expr_unparse (s->expr, out);
      if (s->desc)
        g_string_append (out, " DESC");
    }
  if (c->skip) { g_string_append (out, " SKIP "); nc_expr_unparse (c->skip, out); }
  if (c->limit) { g_string_append (out, " LIMIT "); nc_expr_unparse (c->limit, out); }
  if (c->where) { g_string_append (out, " WHERE "); nc_expr_unparse (c->where, out); }
}

static void
dump_query (const NcQueryAst *q, GString *out)
{
  for (guint p = 0; p < q->parts->len; p++)
    {
      if (p)
        g_string_append (out, g_array_index (q->union_all, gboolean, p - 1) ? " UNION ALL " : " UNION ");
      NcSingleQuery *sq = q->parts->pdata[p];
      for (guint i = 0; i < sq->clauses->len; i++)
        {
          if (i)
            g_string_append_c (out, ' ');
          dump_clause (sq->clauses->pdata[i], out);
        }
    }
}

char *
nc_statement_dump (const NcStatement *s)
{
  GString *out = g_string_new (NULL);
  if (s->explain)
    g_string_append (out, "EXPLAIN ");
  if (s->profile)
    g_string_append (out, "PROFILE ");
  switch (s->kind)
    {
    case NC_STMT_QUERY: dump_query (s->query, out); break;
    case NC_STMT_CREATE_INDEX: case NC_STMT_DROP_INDEX:
    case NC_STMT_CREATE_CONSTRAINT: case NC_STMT_DROP_CONSTRAINT:
      g_string_append_printf (out, "%s %s %s name=%s label=%s key=%s%s%s",
                              s->kind == NC_STMT_CREATE_INDEX || s->kind == NC_STMT_CREATE_CONSTRAINT ? "CREATE" : "DROP",
                              s->kind == NC_STMT_CREATE_INDEX || s->kind == NC_STMT_DROP_INDEX ? "INDEX" : "CONSTRAINT",
                              "", s->schema_name ? s->schema_name : "-", s->label ? s->label : "-", s->key ? s->key : "-",
                              s->if_not_exists ? " IF NOT EXISTS" : "", s->if_exists ? " IF EXISTS" : "");
      break;
    case NC_STMT_SHOW_INDEXES: g_string_append (out, "SHOW INDEXES"); break;
    case NC_STMT_SHOW_CONSTRAINTS: g_string_append (out, "SHOW CONSTRAINTS"); break;
    case NC_STMT_SYSTEM:
      g_string_append_printf (out, "SYSTEM %s", s->sys_op);
      for (guint i = 0; i < s->sys_keys->len; i++)
        {
          g_string_append_printf (out, " %s=", (char *) s->sys_keys->pdata[i]);
          nc_expr_unparse (s->sys_vals->pdata[i], out);
        }
      break;
    }
  return g_string_free (out, FALSE);
}
