#define G_LOG_DOMAIN "nornicdb-cypher"

#include "parser.h"
#include "lexer.h"
#include "functions.h"
#include "../errors.h"

#include <errno.h>
#include <math.h>
#include <string.h>

typedef struct {
  const char *src;
  NcToken_ *t;
  guint n;
  guint pos;
  int depth;
  GError **error;
} P;

#define CUR(p) (&(p)->t[(p)->pos])
#define PEEK(p, k) (&(p)->t[MIN ((p)->pos + (k), (p)->n - 1)])

static NcExpr *parse_expr (P *p);
static NcPatternPart *parse_pattern_part (P *p, gboolean allow_path_var);
static NcQueryAst *parse_query (P *p);
static NcClause *parse_clause (P *p);

/* ---- helpers ------------------------------------------------------------- */

static char *
tok_display (const NcToken_ *t, const char *src)
{
  if (t->kind == NC_TOK_EOF)
    return g_strdup ("");
  /* Neo4j shows the whole word for names, a single character otherwise. */
  if (t->kind == NC_TOK_IDENT || t->kind == NC_TOK_INT || t->kind == NC_TOK_FLOAT)
    return g_strndup (src + t->offset, t->end - t->offset);
  return g_strndup (src + t->offset, g_utf8_next_char (src + t->offset) - (src + t->offset));
}

static void
fail_at (P *p, const NcToken_ *t, const char *expected)
{
  if (p->error && *p->error)
    return;
  g_autofree char *shown = tok_display (t, p->src);
  if (t->kind == NC_TOK_EOF)
    nc_cypher_set_syntax_error (p->error, p->src, t->offset, "Invalid input '': expected %s", expected);
  else
    nc_cypher_set_syntax_error (p->error, p->src, t->offset, "Invalid input '%s': expected %s", shown, expected);
}

static void
fail_msg (P *p, guint offset, const char *msg)
{
  if (p->error && *p->error)
    return;
  nc_cypher_set_syntax_error (p->error, p->src, offset, "%s", msg);
}

static gboolean
is_kw_tok (const NcToken_ *t, const char *kw)
{
  return t->kind == NC_TOK_IDENT && g_ascii_strcasecmp (t->text, kw) == 0;
}

static gboolean
kw (P *p, const char *k)
{
  return is_kw_tok (CUR (p), k);
}

static gboolean
kw_at (P *p, guint ahead, const char *k)
{
  return is_kw_tok (PEEK (p, ahead), k);
}

static void
advance (P *p)
{
  if (p->pos + 1 < p->n)
    p->pos++;
}

static guint
prev_end (P *p)
{
  return p->pos > 0 ? p->t[p->pos - 1].end : 0;
}

static gboolean
accept_kw (P *p, const char *k)
{
  if (kw (p, k))
    {
      advance (p);
      return TRUE;
    }
  return FALSE;
}

static gboolean
expect_kw (P *p, const char *k)
{
  if (accept_kw (p, k))
    return TRUE;
  g_autofree char *exp = g_strdup_printf ("'%s'", k);
  fail_at (p, CUR (p), exp);
  return FALSE;
}

static gboolean
accept (P *p, NcTokKind k)
{
  if (CUR (p)->kind == k)
    {
      advance (p);
      return TRUE;
    }
  return FALSE;
}

static gboolean
expect (P *p, NcTokKind k, const char *what)
{
  if (accept (p, k))
    return TRUE;
  fail_at (p, CUR (p), what);
  return FALSE;
}

static gboolean
is_name (const NcToken_ *t)
{
  return t->kind == NC_TOK_IDENT || t->kind == NC_TOK_QIDENT;
}

static char *
parse_name (P *p, const char *what)
{
  if (!is_name (CUR (p)))
    {
      fail_at (p, CUR (p), what);
      return NULL;
    }
  char *s = g_strdup (CUR (p)->text);
  advance (p);
  return s;
}

static gboolean
enter (P *p)
{
  if (++p->depth > NC_CYPHER_MAX_DEPTH)
    {
      fail_msg (p, CUR (p)->offset, "Invalid input: the query is nested too deeply (limit " G_STRINGIFY (NC_CYPHER_MAX_DEPTH) " levels)");
      return FALSE;
    }
  return TRUE;
}

static GPtrArray *
str_array (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

static GPtrArray *
expr_array (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) nc_expr_free);
}

/* ---- literals ---------------------------------------------------------- */

static gboolean
parse_int_text (P *p, const NcToken_ *t, gboolean negative, gint64 *out)
{
  g_autofree char *txt = g_strdup (t->text);
  /* Underscore digit separators are accepted and ignored. */
  char *w = txt;
  for (const char *r = t->text; *r; r++)
    if (*r != '_')
      *w++ = *r;
  *w = '\0';
  int base = 10;
  const char *digits = txt;
  if (txt[0] == '0' && (txt[1] == 'x' || txt[1] == 'X'))
    base = 16, digits = txt + 2;
  else if (txt[0] == '0' && (txt[1] == 'o' || txt[1] == 'O'))
    base = 8, digits = txt + 2;
  if (*digits == '\0')
    goto invalid;
  guint64 v = 0;
  for (const char *d = digits; *d; d++)
    {
      int dv = g_ascii_xdigit_value (*d);
      if (dv < 0 || dv >= base || (base == 10 && !g_ascii_isdigit (*d)))
        goto invalid;
      if (v > (G_MAXUINT64 - dv) / base)
        goto overflow;
      v = v * base + dv;
    }
  if (negative)
    {
      if (v > (guint64) G_MAXINT64 + 1)
        goto overflow;
      *out = v == (guint64) G_MAXINT64 + 1 ? G_MININT64 : -(gint64) v;
    }
  else
    {
      if (v > (guint64) G_MAXINT64)
        goto overflow;
      *out = (gint64) v;
    }
  return TRUE;
invalid:
  {
    g_autofree char *m = g_strdup_printf ("Invalid input '%s': invalid number literal (InvalidNumberLiteral)", t->text);
    fail_msg (p, t->offset, m);
    return FALSE;
  }
overflow:
  {
    g_autofree char *m = g_strdup_printf ("integer, %s%s, is too large (IntegerOverflow)", negative ? "-" : "", t->text);
    fail_msg (p, t->offset, m);
    return FALSE;
  }
}

static gboolean
parse_float_text (P *p, const NcToken_ *t, double *out)
{
  char *end = NULL;
  errno = 0;
  double d = g_ascii_strtod (t->text, &end);
  if (end == NULL || *end != '\0')
    {
      g_autofree char *m = g_strdup_printf ("Invalid input '%s': invalid number literal (InvalidNumberLiteral)", t->text);
      fail_msg (p, t->offset, m);
      return FALSE;
    }
  if (isinf (d))
    {
      g_autofree char *m = g_strdup_printf ("floating point number is too large: %s (FloatingPointOverflow)", t->text);
      fail_msg (p, t->offset, m);
      return FALSE;
    }
  *out = d;
  return TRUE;
}

static NcExpr *
literal (guint offset, NcValue v)
{
  NcExpr *e = nc_expr_new (NC_EX_LITERAL, offset);
  e->lit = v;
  return e;
}

static NcExpr *
parse_map_literal (P *p)
{
  guint off = CUR (p)->offset;
  if (!expect (p, NC_TOK_LBRACE, "'{'"))
    return NULL;
  g_autoptr (NcExpr) e = nc_expr_new (NC_EX_MAP, off);
  e->args = expr_array ();
  e->keys = str_array ();
  if (accept (p, NC_TOK_RBRACE))
    return g_steal_pointer (&e);
  for (;;)
    {
      g_autofree char *key = parse_name (p, "a property key name");
      if (key == NULL)
        return NULL;
      if (!expect (p, NC_TOK_COLON, "':'"))
        return NULL;
      NcExpr *v = parse_expr (p);
      if (v == NULL)
        return NULL;
      g_ptr_array_add (e->keys, g_steal_pointer (&key));
      g_ptr_array_add (e->args, v);
      if (accept (p, NC_TOK_COMMA))
        continue;
      if (!expect (p, NC_TOK_RBRACE, "',' or '}'"))
        return NULL;
      return g_steal_pointer (&e);
    }
}

/* ---- patterns ----------------------------------------------------------- */

static NcExpr *
parse_props (P *p)
{
  if (CUR (p)->kind == NC_TOK_LBRACE)
    return parse_map_literal (p);
  if (CUR (p)->kind == NC_TOK_PARAM)
    {
      NcExpr *e = nc_expr_new (NC_EX_PARAM, CUR (p)->offset);
      e->name = g_strdup (CUR (p)->text);
      advance (p);
      return e;
    }
  return NULL;
}

static NcNodePat *
parse_node_pattern (P *p)
{
  guint off = CUR (p)->offset;
  if (!expect (p, NC_TOK_LPAREN, "'('"))
    return NULL;
  NcNodePat *n = g_new0 (NcNodePat, 1);
  n->offset = off;
  n->slot = -1;
  n->labels = str_array ();
  if (is_name (CUR (p)))
    {
      n->var = g_strdup (CUR (p)->text);
      advance (p);
    }
  while (accept (p, NC_TOK_COLON))
    {
      char *l = parse_name (p, "a label name");
      if (l == NULL)
        goto fail;
      g_ptr_array_add (n->labels, l);
    }
  if (CUR (p)->kind == NC_TOK_LBRACE || CUR (p)->kind == NC_TOK_PARAM)
    {
      n->props = parse_props (p);
      if (n->props == NULL)
        goto fail;
    }
  if (!expect (p, NC_TOK_RPAREN, "')', ':', '{' or a parameter"))
    goto fail;
  return n;
fail:
  nc_node_pat_free (n);
  return NULL;
}

static NcRelPat *
parse_rel_pattern (P *p)
{
  guint off = CUR (p)->offset;
  gboolean left = FALSE, right = FALSE;
  if (accept (p, NC_TOK_LT))
    left = TRUE;
  if (!expect (p, NC_TOK_MINUS, "'-'"))
    return NULL;
  NcRelPat *r = g_new0 (NcRelPat, 1);
  r->offset = off;
  r->slot = -1;
  r->min = 1;
  r->max = 1;
  r->types = str_array ();
  if (accept (p, NC_TOK_LBRACKET))
    {
      if (is_name (CUR (p)))
        {
          r->var = g_strdup (CUR (p)->text);
          advance (p);
        }
      if (accept (p, NC_TOK_COLON))
        {
          for (;;)
            {
              char *t = parse_name (p, "a relationship type name");
              if (t == NULL)
                goto fail;
              g_ptr_array_add (r->types, t);
              if (!accept (p, NC_TOK_PIPE))
                break;
              accept (p, NC_TOK_COLON);
            }
        }
      if (accept (p, NC_TOK_STAR))
        {
          r->varlen = TRUE;
          r->min = 1;
          r->max = -1;
          if (CUR (p)->kind == NC_TOK_INT)
            {
              gint64 v;
              if (!parse_int_text (p, CUR (p), FALSE, &v))
                goto fail;
              advance (p);
              r->min = v;
              r->max = v;
            }
          if (accept (p, NC_TOK_DOTDOT))
            {
              r->max = -1;
              if (CUR (p)->kind == NC_TOK_INT)
                {
                  gint64 v;
                  if (!parse_int_text (p, CUR (p), FALSE, &v))
                    goto fail;
                  advance (p);
                  r->max = v;
                }
            }
        }
      if (CUR (p)->kind == NC_TOK_LBRACE || CUR (p)->kind == NC_TOK_PARAM)
        {
          r->props = parse_props (p);
          if (r->props == NULL)
            goto fail;
        }
      if (!expect (p, NC_TOK_RBRACKET, "']'"))
        goto fail;
    }
  if (!expect (p, NC_TOK_MINUS, "'-'"))
    goto fail;
  if (accept (p, NC_TOK_GT))
    right = TRUE;
  r->dir = left && !right ? NC_DIR_IN : right && !left ? NC_DIR_OUT : NC_DIR_BOTH;
  return r;
fail:
  nc_rel_pat_free (r);
  return NULL;
}

static gboolean
at_rel_start (P *p)
{
  return CUR (p)->kind == NC_TOK_MINUS || (CUR (p)->kind == NC_TOK_LT && PEEK (p, 1)->kind == NC_TOK_MINUS);
}

static gboolean
parse_chain (P *p, NcPatternPart *part)
{
  NcNodePat *n = parse_node_pattern (p);
  if (n == NULL)
    return FALSE;
  g_ptr_array_add (part->nodes, n);
  while (at_rel_start (p))
    {
      NcRelPat *r = parse_rel_pattern (p);
      if (r == NULL)
        return FALSE;
      g_ptr_array_add (part->rels, r);
      n = parse_node_pattern (p);
      if (n == NULL)
        return FALSE;
      g_ptr_array_add (part->nodes, n);
    }
  return TRUE;
}

static NcPatternPart *
parse_pattern_part (P *p, gboolean allow_path_var)
{
  g_autoptr (NcPatternPart) part = g_new0 (NcPatternPart, 1);
  part->offset = CUR (p)->offset;
  part->path_slot = -1;
  part->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_node_pat_free);
  part->rels = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_rel_pat_free);
  if (allow_path_var && is_name (CUR (p)) && PEEK (p, 1)->kind == NC_TOK_EQ)
    {
      part->path_var = g_strdup (CUR (p)->text);
      advance (p);
      advance (p);
    }
  if ((kw (p, "shortestPath") || kw (p, "allShortestPaths")) && PEEK (p, 1)->kind == NC_TOK_LPAREN)
    {
      part->shortest = kw (p, "shortestPath") ? 1 : 2;
      advance (p);
      advance (p);
      if (!parse_chain (p, part))
        return NULL;
      if (!expect (p, NC_TOK_RPAREN, "')'"))
        return NULL;
      return g_steal_pointer (&part);
    }
  if (CUR (p)->kind != NC_TOK_LPAREN)
    {
      fail_at (p, CUR (p), "'('");
      return NULL;
    }
  if (!parse_chain (p, part))
    return NULL;
  return g_steal_pointer (&part);
}

static GPtrArray *
parse_pattern (P *p)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_pattern_part_free);
  do
    {
      NcPatternPart *part = parse_pattern_part (p, TRUE);
      if (part == NULL)
        return NULL;
      g_ptr_array_add (parts, part);
    }
  while (accept (p, NC_TOK_COMMA));
  return g_steal_pointer (&parts);
}

/* Tries to read a relationship pattern at the current '(' for use as an
 * expression; restores the position and returns NULL when the text is not
 * a pattern with at least one relationship. */
static NcPatternPart *
try_pattern_expr (P *p)
{
  guint save = p->pos;
  GError *local = NULL;
  GError **saved_err = p->error;
  p->error = &local;
  NcPatternPart *part = parse_pattern_part (p, FALSE);
  p->error = saved_err;
  if (local != NULL || part == NULL || part->rels->len == 0)
    {
      g_clear_error (&local);
      nc_pattern_part_free (part);
      p->pos = save;
      return NULL;
    }
  return part;
}

/* ---- expressions ------------------------------------------------------- */

static NcExpr *
parse_subquery_body (P *p, NcExprKind kind, guint off)
{
  /* EXISTS { ... } / COUNT { ... }: either a full query or a pattern with an
   * optional WHERE. */
  g_autoptr (NcExpr) e = nc_expr_new (kind, off);
  if (!expect (p, NC_TOK_LBRACE, "'{'"))
    return NULL;
  if (CUR (p)->kind == NC_TOK_LPAREN || (is_name (CUR (p)) && PEEK (p, 1)->kind == NC_TOK_EQ))
    {
      g_autoptr (GPtrArray) pat = parse_pattern (p);
      if (pat == NULL)
        return NULL;
      /* A comma-separated pattern becomes MATCH pattern. */
      NcQueryAst *q = g_new0 (NcQueryAst, 1);
      q->parts = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_single_query_free);
      q->union_all = g_array_new (FALSE, FALSE, sizeof (gboolean));
      NcSingleQuery *sq = g_new0 (NcSingleQuery, 1);
      sq->clauses = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_clause_free);
      NcClause *m = nc_clause_new (NC_CL_MATCH, off);
      m->pattern = g_steal_pointer (&pat);
      if (accept_kw (p, "WHERE"))
        {
          m->where = parse_expr (p);
          if (m->where == NULL)
            {
              nc_clause_free (m);
              nc_single_query_free (sq);
              nc_query_ast_free (q);
              return NULL;
            }
        }
      g_ptr_array_add (sq->clauses, m);
      g_ptr_array_add (q->parts, sq);
      e->sub = q;
    }
  else
    {
      e->sub = parse_query (p);
      if (e->sub == NULL)
        return NULL;
    }
  if (!expect (p, NC_TOK_RBRACE, "'}'"))
    return NULL;
  return g_steal_pointer (&e);
}

static gboolean
looks_like_function (P *p)
{
  guint k = 0;
  if (!is_name (PEEK (p, 0)))
    return FALSE;
  for (;;)
    {
      k++;
      if (PEEK (p, k)->kind == NC_TOK_LPAREN)
        return TRUE;
      if (PEEK (p, k)->kind != NC_TOK_DOT || !is_name (PEEK (p, k + 1)))
        return FALSE;
      k++;
    }
}

static NcExpr *
parse_function_call (P *p)
{
  guint off = CUR (p)->offset;
  GString *name = g_string_new (CUR (p)->text);
  advance (p);
  while (accept (p, NC_TOK_DOT))
    {
      g_string_append_printf (name, ".%s", CUR (p)->text);
      advance (p);
    }
  advance (p); /* ( */
  g_autoptr (NcExpr) e = nc_expr_new (NC_EX_FUNC, off);
  e->name = g_string_free (name, FALSE);
  e->args = expr_array ();
  if (g_ascii_strcasecmp (e->name, "count") == 0 && CUR (p)->kind == NC_TOK_STAR)
    {
      advance (p);
      if (!expect (p, NC_TOK_RPAREN, "')'"))
        return NULL;
      NcExpr *c = nc_expr_new (NC_EX_COUNT_STAR, off);
      c->is_agg = TRUE;
      return c;
    }
  if (accept_kw (p, "DISTINCT"))
    e->distinct = TRUE;
  else
    accept_kw (p, "ALL");
  if (accept (p, NC_TOK_RPAREN))
    return g_steal_pointer (&e);
  for (;;)
    {
      NcExpr *a = parse_expr (p);
      if (a == NULL)
        return NULL;
      g_ptr_array_add (e->args, a);
      if (accept (p, NC_TOK_COMMA))
        continue;
      if (!expect (p, NC_TOK_RPAREN, "',' or ')'"))
        return NULL;
      break;
    }
  return g_steal_pointer (&e);
}

static NcExpr *
parse_case (P *p)
{
  g_autoptr (NcExpr) e = nc_expr_new (NC_EX_CASE, CUR (p)->offset);
  advance (p);
  e->args = expr_array ();
  if (!kw (p, "WHEN"))
    {
      e->a = parse_expr (p);
      if (e->a == NULL)
        return NULL;
    }
  if (!kw (p, "WHEN"))
    {
      fail_at (p, CUR (p), "'WHEN'");
      return NULL;
    }
  while (accept_kw (p, "WHEN"))
    {
      NcExpr *w = parse_expr (p);
      if (w == NULL)
        return NULL;
      g_ptr_array_add (e->args, w);
      if (!expect_kw (p, "THEN"))
        return NULL;
      NcExpr *t = parse_expr (p);
      if (t == NULL)
        return NULL;
      g_ptr_array_add (e->args, t);
    }
  if (accept_kw (p, "ELSE"))
    {
      e->b = parse_expr (p);
      if (e->b == NULL)
        return NULL;
    }
  if (!expect_kw (p, "END"))
    return NULL;
  return g_steal_pointer (&e);
}

/* `x IN list [WHERE pred]` shared by comprehensions and quantifiers. */
static gboolean
parse_filter_head (P *p, NcExpr *e)
{
  e->name = parse_name (p, "a variable name");
  if (e->name == NULL)
    return FALSE;
  if (!expect_kw (p, "IN"))
    return FALSE;
  e->a = parse_expr (p);
  if (e->a == NULL)
    return FALSE;
  if (accept_kw (p, "WHERE"))
    {
      e->b = parse_expr (p);
      if (e->b == NULL)
        return FALSE;
    }
  return TRUE;
}

static NcExpr *
parse_list_or_comprehension (P *p)
{
  guint off = CUR (p)->offset;
  advance (p); /* [ */
  if (is_name (CUR (p)) && kw_at (p, 1, "IN"))
    {
      g_autoptr (NcExpr) e = nc_expr_new (NC_EX_LIST_COMP, off);
      if (!parse_filter_head (p, e))
        return NULL;
      if (accept (p, NC_TOK_PIPE))
        {
          e->c = parse_expr (p);
          if (e->c == NULL)
            return NULL;
        }
      if (!expect (p, NC_TOK_RBRACKET, "']'"))
        return NULL;
      return g_steal_pointer (&e);
    }
  if (CUR (p)->kind == NC_TOK_LPAREN || (is_name (CUR (p)) && PEEK (p, 1)->kind == NC_TOK_EQ))
    {
      guint save = p->pos;
      NcPatternPart *part = NULL;
      if (CUR (p)->kind == NC_TOK_LPAREN)
        part = try_pattern_expr (p);
      else
        {
          GError *local = NULL;
          GError **saved = p->error;
          p->error = &local;
          part = parse_pattern_part (p, TRUE);
          p->error = saved;
          if (local)
            {
              g_clear_error (&local);
              nc_pattern_part_free (part);
              part = NULL;
              p->pos = save;
            }
        }
      if (part != NULL && (kw (p, "WHERE") || CUR (p)->kind == NC_TOK_PIPE))
        {
          g_autoptr (NcExpr) e = nc_expr_new (NC_EX_PATTERN_COMP, off);
          e->part = part;
          if (accept_kw (p, "WHERE"))
            {
              e->b = parse_expr (p);
              if (e->b == NULL)
                return NULL;
            }
          if (!expect (p, NC_TOK_PIPE, "'|'"))
            return NULL;
          e->c = parse_expr (p);
          if (e->c == NULL || !expect (p, NC_TOK_RBRACKET, "']'"))
            return NULL;
          return g_steal_pointer (&e);
        }
      nc_pattern_part_free (part);
      p->pos = save;
    }
  g_autoptr (NcExpr) e = nc_expr_new (NC_EX_LIST, off);
  e->args = expr_array ();
  if (accept (p, NC_TOK_RBRACKET))
    return g_steal_pointer (&e);
  for (;;)
    {
      NcExpr *item = parse_expr (p);
      if (item == NULL)
        return NULL;
      g_ptr_array_add (e->args, item);
      if (accept (p, NC_TOK_COMMA))
        continue;
      if (!expect (p, NC_TOK_RBRACKET, "',' or ']'"))
        return NULL;
      return g_steal_pointer (&e);
    }
}

static NcExpr *
parse_map_projection (P *p)
{
  g_autoptr (NcExpr) e = nc_expr_new (NC_EX_MAP_PROJ, CUR (p)->offset);
  e->name = g_strdup (CUR (p)->text);
  e->slot = -1;
  advance (p);
  advance (p); /* { */
  e->args = expr_array ();
  e->keys = str_array ();
  e->ops = g_array_new (FALSE, FALSE, sizeof (int));
  if (accept (p, NC_TOK_RBRACE))
    return g_steal_pointer (&e);
  for (;;)
    {
      int k;
      if (accept (p, NC_TOK_DOT))
        {
          if (accept (p, NC_TOK_STAR))
            {
              k = NC_MP_ALL;
              g_ptr_array_add (e->keys, g_strdup ("*"));
            }
          else
            {
              char *key = parse_name (p, "a property key name or '*'");
              if (key == NULL)
                return NULL;
              k = NC_MP_PROP;
              g_ptr_array_add (e->keys, key);
            }
          g_ptr_array_add (e->args, NULL);
        }
      else
        {
          guint voff = CUR (p)->offset;
          char *key = parse_name (p, "a property selector, a variable or a key");
          if (key == NULL)
            return NULL;
          g_ptr_array_add (e->keys, key);
          if (accept (p, NC_TOK_COLON))
            {
              k = NC_MP_KEYVAL;
              NcExpr *v = parse_expr (p);
              if (v == NULL)
                return NULL;
              g_ptr_array_add (e->args, v);
            }
          else
            {
              k = NC_MP_VAR;
              NcExpr *v = nc_expr_new (NC_EX_VAR, voff);
              v->name = g_strdup (key);
              g_ptr_array_add (e->args, v);
            }
        }
      g_array_append_val (e->ops, k);
      if (accept (p, NC_TOK_COMMA))
        continue;
      if (!expect (p, NC_TOK_RBRACE, "',' or '}'"))
        return NULL;
      return g_steal_pointer (&e);
    }
}

static NcExpr *
parse_atom (P *p)
{
  NcToken_ *t = CUR (p);
  guint off = t->offset;
  switch (t->kind)
    {
    case NC_TOK_INT:
      {
        gint64 v;
        if (!parse_int_text (p, t, FALSE, &v))
          return NULL;
        advance (p);
        return literal (off, nc_value_int (v));
      }
    case NC_TOK_FLOAT:
      {
        double d;
        if (!parse_float_text (p, t, &d))
          return NULL;
        advance (p);
        return literal (off, nc_value_float (d));
      }
    case NC_TOK_STRING:
      advance (p);
      return literal (off, nc_value_string (t->text));
    case NC_TOK_PARAM:
      {
        NcExpr *e = nc_expr_new (NC_EX_PARAM, off);
        e->name = g_strdup (t->text);
        advance (p);
        return e;
      }
    case NC_TOK_LBRACKET:
      return parse_list_or_comprehension (p);
    case NC_TOK_LBRACE:
      return parse_map_literal (p);
    case NC_TOK_LPAREN:
      {
        NcPatternPart *part = try_pattern_expr (p);
        if (part != NULL)
          {
            NcExpr *e = nc_expr_new (NC_EX_PATTERN, off);
            e->part = part;
            return e;
          }
        advance (p);
        NcExpr *inner = parse_expr (p);
        if (inner == NULL)
          return NULL;
        if (!expect (p, NC_TOK_RPAREN, "')'"))
          {
            nc_expr_free (inner);
            return NULL;
          }
        return inner;
      }
    case NC_TOK_IDENT:
      if (kw (p, "true"))
        {
          advance (p);
          return literal (off, nc_value_bool (TRUE));
        }
      if (kw (p, "false"))
        {
          advance (p);
          return literal (off, nc_value_bool (FALSE));
        }
      if (kw (p, "null"))
        {
          advance (p);
          return literal (off, nc_value_null ());
        }
      if (kw (p, "CASE"))
        return parse_case (p);
      if ((kw (p, "EXISTS") || kw (p, "COUNT")) && PEEK (p, 1)->kind == NC_TOK_LBRACE)
        {
          NcExprKind k = kw (p, "EXISTS") ? NC_EX_EXISTS_SUB : NC_EX_COUNT_SUB;
          advance (p);
          return parse_subquery_body (p, k, off);
        }
      if ((kw (p, "all") || kw (p, "any") || kw (p, "none") || kw (p, "single"))
          && PEEK (p, 1)->kind == NC_TOK_LPAREN && is_name (PEEK (p, 2)) && is_kw_tok (PEEK (p, 3), "IN"))
        {
          g_autoptr (NcExpr) e = nc_expr_new (NC_EX_QUANT, off);
          e->op = kw (p, "all") ? NC_QUANT_ALL : kw (p, "any") ? NC_QUANT_ANY : kw (p, "none") ? NC_QUANT_NONE : NC_QUANT_SINGLE;
          advance (p);
          advance (p);
          if (!parse_filter_head (p, e) || !expect (p, NC_TOK_RPAREN, "')'"))
            return NULL;
          return g_steal_pointer (&e);
        }
      if (kw (p, "reduce") && PEEK (p, 1)->kind == NC_TOK_LPAREN && is_name (PEEK (p, 2)) && PEEK (p, 3)->kind == NC_TOK_EQ)
        {
          g_autoptr (NcExpr) e = nc_expr_new (NC_EX_REDUCE, off);
          advance (p);
          advance (p);
          e->name = parse_name (p, "a variable name");
          advance (p); /* = */
          e->d = parse_expr (p);
          if (e->d == NULL || !expect (p, NC_TOK_COMMA, "','"))
            return NULL;
          e->keys = str_array ();
          char *var = parse_name (p, "a variable name");
          if (var == NULL)
            return NULL;
          g_ptr_array_add (e->keys, var);
          if (!expect_kw (p, "IN"))
            return NULL;
          e->a = parse_expr (p);
          if (e->a == NULL || !expect (p, NC_TOK_PIPE, "'|'"))
            return NULL;
          e->c = parse_expr (p);
          if (e->c == NULL || !expect (p, NC_TOK_RPAREN, "')'"))
            return NULL;
          return g_steal_pointer (&e);
        }
      if ((kw (p, "shortestPath") || kw (p, "allShortestPaths")) && PEEK (p, 1)->kind == NC_TOK_LPAREN)
        {
          NcPatternPart *part = parse_pattern_part (p, FALSE);
          if (part == NULL)
            return NULL;
          NcExpr *e = nc_expr_new (NC_EX_PATTERN, off);
          e->part = part;
          return e;
        }
      G_GNUC_FALLTHROUGH;
    case NC_TOK_QIDENT:
      if (looks_like_function (p))
        return parse_function_call (p);
      if (PEEK (p, 1)->kind == NC_TOK_LBRACE)
        return parse_map_projection (p);
      {
        NcExpr *e = nc_expr_new (NC_EX_VAR, off);
        e->name = g_strdup (t->text);
        advance (p);
        return e;
      }
    default:
      fail_at (p, t, "an expression");
      return NULL;
    }
}

static NcExpr *
parse_postfix (P *p)
{
  NcExpr *e = parse_atom (p);
  int extra = 0;
  while (e != NULL)
    {
      guint off = CUR (p)->offset;
      if (CUR (p)->kind == NC_TOK_DOT && is_name (PEEK (p, 1)))
        {
          advance (p);
          NcExpr *pe = nc_expr_new (NC_EX_PROP, off);
          pe->a = e;
          pe->name = g_strdup (CUR (p)->text);
          advance (p);
          e = pe;
        }
      else if (CUR (p)->kind == NC_TOK_LBRACKET)
        {
          advance (p);
          NcExpr *lo = NULL, *hi = NULL;
          gboolean slice = FALSE;
          if (CUR (p)->kind != NC_TOK_DOTDOT)
            {
              lo = parse_expr (p);
              if (lo == NULL)
                goto fail;
            }
          if (accept (p, NC_TOK_DOTDOT))
            {
              slice = TRUE;
              if (CUR (p)->kind != NC_TOK_RBRACKET)
                {
                  hi = parse_expr (p);
                  if (hi == NULL)
                    {
                      nc_expr_free (lo);
                      goto fail;
                    }
                }
            }
          if (!expect (p, NC_TOK_RBRACKET, "']'") || (!slice && lo == NULL))
            {
              fail_at (p, CUR (p), "an expression");
              nc_expr_free (lo);
              nc_expr_free (hi);
              goto fail;
            }
          NcExpr *ie = nc_expr_new (slice ? NC_EX_SLICE : NC_EX_INDEX, off);
          ie->a = e;
          ie->b = lo;
          ie->c = hi;
          e = ie;
        }
      else if (CUR (p)->kind == NC_TOK_COLON && is_name (PEEK (p, 1)))
        {
          NcExpr *le = nc_expr_new (NC_EX_HAS_LABELS, off);
          le->a = e;
          le->keys = str_array ();
          while (CUR (p)->kind == NC_TOK_COLON && is_name (PEEK (p, 1)))
            {
              advance (p);
              g_ptr_array_add (le->keys, g_strdup (CUR (p)->text));
              advance (p);
            }
          e = le;
        }
      else
        break;
      extra++;
      if (!enter (p))
        goto fail;
    }
  p->depth -= extra;
  return e;
fail:
  p->depth -= extra;
  nc_expr_free (e);
  return NULL;
}

static NcExpr *
parse_unary (P *p)
{
  if (CUR (p)->kind == NC_TOK_MINUS || CUR (p)->kind == NC_TOK_PLUS)
    {
      gboolean neg = CUR (p)->kind == NC_TOK_MINUS;
      guint off = CUR (p)->offset;
      advance (p);
      /* -9223372036854775808 is a valid literal only with its sign. */
      if (neg && CUR (p)->kind == NC_TOK_INT)
        {
          NcToken_ *t = CUR (p);
          NcTokKind after = PEEK (p, 1)->kind;
          if (after != NC_TOK_CARET && after != NC_TOK_DOT && after != NC_TOK_LBRACKET)
            {
              gint64 v;
              if (!parse_int_text (p, t, TRUE, &v))
                return NULL;
              advance (p);
              return literal (off, nc_value_int (v));
            }
        }
      if (neg && CUR (p)->kind == NC_TOK_FLOAT && PEEK (p, 1)->kind != NC_TOK_CARET)
        {
          double d;
          if (!parse_float_text (p, CUR (p), &d))
            return NULL;
          advance (p);
          return literal (off, nc_value_float (-d));
        }
      if (!enter (p))
        return NULL;
      NcExpr *a = parse_unary (p);
      p->depth--;
      if (a == NULL)
        return NULL;
      NcExpr *e = nc_expr_new (neg ? NC_EX_NEG : NC_EX_POS, off);
      e->a = a;
      return e;
    }
  return parse_postfix (p);
}

/* Binary chains build left-deep trees: count each link against the depth
 * limit so that later tree walks stay within the stack. */
#define CHAIN_STEP(p, extra, lhs) \
  do { (extra)++; if (!enter (p)) { nc_expr_free (lhs); (p)->depth -= (extra); return NULL; } } while (0)

static NcExpr *
parse_pow (P *p)
{
  NcExpr *e = parse_unary (p);
  int extra = 0;
  while (e && CUR (p)->kind == NC_TOK_CARET)
    {
      guint off = CUR (p)->offset;
      advance (p);
      CHAIN_STEP (p, extra, e);
      NcExpr *b = parse_unary (p);
      if (b == NULL)
        {
          nc_expr_free (e);
          p->depth -= extra;
          return NULL;
        }
      NcExpr *x = nc_expr_new (NC_EX_ARITH, off);
      x->op = NC_OP_POW;
      x->a = e;
      x->b = b;
      e = x;
    }
  p->depth -= extra;
  return e;
}

static NcExpr *
parse_mul (P *p)
{
  NcExpr *e = parse_pow (p);
  int extra = 0;
  while (e && (CUR (p)->kind == NC_TOK_STAR || CUR (p)->kind == NC_TOK_SLASH || CUR (p)->kind == NC_TOK_PERCENT))
    {
      NcTokKind k = CUR (p)->kind;
      guint off = CUR (p)->offset;
      advance (p);
      CHAIN_STEP (p, extra, e);
      NcExpr *b = parse_pow (p);
      if (b == NULL)
        {
          nc_expr_free (e);
          p->depth -= extra;
          return NULL;
        }
      NcExpr *x = nc_expr_new (NC_EX_ARITH, off);
      x->op = k == NC_TOK_STAR ? NC_OP_MUL : k == NC_TOK_SLASH ? NC_OP_DIV : NC_OP_MOD;
      x->a = e;
      x->b = b;
      e = x;
    }
  p->depth -= extra;
  return e;
}

static NcExpr *
parse_add (P *p)
{
  NcExpr *e = parse_mul (p);
  int extra = 0;
  while (e && (CUR (p)->kind == NC_TOK_PLUS || CUR (p)->kind == NC_TOK_MINUS))
    {
      NcTokKind k = CUR (p)->kind;
      guint off = CUR (p)->offset;
      advance (p);
      CHAIN_STEP (p, extra, e);
      NcExpr *b = parse_mul (p);
      if (b == NULL)
        {
          nc_expr_free (e);
          p->depth -= extra;
          return NULL;
        }
      NcExpr *x = nc_expr_new (NC_EX_ARITH, off);
      x->op = k == NC_TOK_PLUS ? NC_OP_ADD : NC_OP_SUB;
      x->a = e;
      x->b = b;
      e = x;
    }
  p->depth -= extra;
  return e;
}

static NcExpr *
parse_snl (P *p)
{
  NcExpr *e = parse_add (p);
  int extra = 0;
  while (e)
    {
      guint off = CUR (p)->offset;
      NcExprKind k;
      if (kw (p, "STARTS") && kw_at (p, 1, "WITH"))
        k = NC_EX_STARTS, advance (p), advance (p);
      else if (kw (p, "ENDS") && kw_at (p, 1, "WITH"))
        k = NC_EX_ENDS, advance (p), advance (p);
      else if (kw (p, "CONTAINS"))
        k = NC_EX_CONTAINS, advance (p);
      else if (kw (p, "IN"))
        k = NC_EX_IN, advance (p);
      else if (CUR (p)->kind == NC_TOK_REGEX)
        k = NC_EX_REGEX, advance (p);
      else if (kw (p, "IS") && kw_at (p, 1, "NULL"))
        {
          advance (p);
          advance (p);
          NcExpr *x = nc_expr_new (NC_EX_IS_NULL, off);
          x->a = e;
          e = x;
          CHAIN_STEP (p, extra, e);
          continue;
        }
      else if (kw (p, "IS") && kw_at (p, 1, "NOT") && kw_at (p, 2, "NULL"))
        {
          advance (p);
          advance (p);
          advance (p);
          NcExpr *x = nc_expr_new (NC_EX_IS_NOT_NULL, off);
          x->a = e;
          e = x;
          CHAIN_STEP (p, extra, e);
          continue;
        }
      else
        break;
      CHAIN_STEP (p, extra, e);
      NcExpr *b = parse_add (p);
      if (b == NULL)
        {
          nc_expr_free (e);
          p->depth -= extra;
          return NULL;
        }
      NcExpr *x = nc_expr_new (k, off);
      x->a = e;
      x->b = b;
      e = x;
    }
  p->depth -= extra;
  return e;
}

static int
cmp_op (NcTokKind k)
{
  switch (k)
    {
    case NC_TOK_EQ: return NC_CMP_EQ;
    case NC_TOK_NEQ: return NC_CMP_NE;
    case NC_TOK_LT: return NC_CMP_LT;
    case NC_TOK_GT: return NC_CMP_GT;
    case NC_TOK_LE: return NC_CMP_LE;
    case NC_TOK_GE: return NC_CMP_GE;
    default: return -1;
    }
}

static NcExpr *
parse_comparison (P *p)
{
  NcExpr *first = parse_snl (p);
  if (first == NULL || cmp_op (CUR (p)->kind) < 0)
    return first;
  g_autoptr (NcExpr) e = nc_expr_new (NC_EX_CMP, first->offset);
  e->args = expr_array ();
  e->ops = g_array_new (FALSE, FALSE, sizeof (int));
  g_ptr_array_add (e->args, first);
  int extra = 0;
  while (cmp_op (CUR (p)->kind) >= 0)
    {
      int op = cmp_op (CUR (p)->kind);
      advance (p);
      if (!enter (p))
        {
          p->depth -= extra + 1;
          return NULL;
        }
      extra++;
      NcExpr *b = parse_snl (p);
      if (b == NULL)
        {
          p->depth -= extra;
          return NULL;
        }
      g_array_append_val (e->ops, op);
      g_ptr_array_add (e->args, b);
    }
  p->depth -= extra;
  return g_steal_pointer (&e);
}

static NcExpr *
parse_not (P *p)
{
  if (kw (p, "NOT"))
    {
      guint off = CUR (p)->offset;
      advance (p);
      if (!enter (p))
        return NULL;
      NcExpr *a = parse_not (p);
      p->depth--;
      if (a == NULL)
        return NULL;
      NcExpr *e = nc_expr_new (NC_EX_NOT, off);
      e->a = a;
      return e;
    }
  return parse_comparison (p);
}

static NcExpr *
parse_bool_chain (P *p, int level)
{
  static const char *const ops[] = { "OR", "XOR", "AND" };
  static const NcExprKind kinds[] = { NC_EX_OR, NC_EX_XOR, NC_EX_AND };
  NcExpr *e = level == 2 ? parse_not (p) : parse_bool_chain (p, level + 1);
  int extra = 0;
  while (e && kw (p, ops[level]))
    {
      guint off = CUR (p)->offset;
      advance (p);
      CHAIN_STEP (p, extra, e);
      NcExpr *b = level == 2 ? parse_not (p) : parse_bool_chain (p, level + 1);
      if (b == NULL)
        {
          nc_expr_free (e);
          p->depth -= extra;
          return NULL;
        }
      NcExpr *x = nc_expr_new (kinds[level], off);
      x->a = e;
      x->b = b;
      e = x;
    }
  p->depth -= extra;
  return e;
}

static NcExpr *
parse_expr (P *p)
{
  if (!enter (p))
    return NULL;
  NcExpr *e = parse_bool_chain (p, 0);
  p->depth--;
  return e;
}

/* ---- clauses ---------------------------------------------------------- */

static NcProjItem *
parse_proj_item (P *p)
{
  guint start = CUR (p)->offset;
  NcExpr *e = parse_expr (p);
  if (e == NULL)
    return NULL;
  NcProjItem *it = g_new0 (NcProjItem, 1);
  it->expr = e;
  it->slot = -1;
  if (accept_kw (p, "AS"))
    {
      it->alias = parse_name (p, "a variable name");
      if (it->alias == NULL)
        {
          nc_proj_item_free (it);
          return NULL;
        }
      it->aliased = TRUE;
    }
  else if (e->kind == NC_EX_VAR)
    it->alias = g_strdup (e->name);
  else
    it->alias = g_strndup (p->src + start, prev_end (p) - start);
  return it;
}

static gboolean
parse_order_skip_limit (P *p, NcClause *c)
{
  if (kw (p, "ORDER") && kw_at (p, 1, "BY"))
    {
      advance (p);
      advance (p);
      c->order = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_sort_item_free);
      do
        {
          NcExpr *e = parse_expr (p);
          if (e == NULL)
            return FALSE;
          NcSortItem *s = g_new0 (NcSortItem, 1);
          s->expr = e;
          if (accept_kw (p, "DESC") || accept_kw (p, "DESCENDING"))
            s->desc = TRUE;
          else if (!accept_kw (p, "ASC"))
            accept_kw (p, "ASCENDING");
          g_ptr_array_add (c->order, s);
        }
      while (accept (p, NC_TOK_COMMA));
    }
  if (accept_kw (p, "SKIP") || accept_kw (p, "OFFSET"))
    {
      c->skip = parse_expr (p);
      if (c->skip == NULL)
        return FALSE;
    }
  if (accept_kw (p, "LIMIT"))
    {
      c->limit = parse_expr (p);
      if (c->limit == NULL)
        return FALSE;
    }
  return TRUE;
}

static NcClause *
parse_projection (P *p, NcClauseKind kind)
{
  g_autoptr (NcClause) c = nc_clause_new (kind, CUR (p)->offset);
  advance (p);
  if (accept_kw (p, "DISTINCT"))
    c->distinct = TRUE;
  c->items = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_proj_item_free);
  if (accept (p, NC_TOK_STAR))
    {
      c->star = TRUE;
      if (!accept (p, NC_TOK_COMMA))
        goto tail;
    }
  do
    {
      NcProjItem *it = parse_proj_item (p);
      if (it == NULL)
        return NULL;
      g_ptr_array_add (c->items, it);
    }
  while (accept (p, NC_TOK_COMMA));
tail:
  if (!parse_order_skip_limit (p, c))
    return NULL;
  if (kind == NC_CL_WITH && accept_kw (p, "WHERE"))
    {
      c->where = parse_expr (p);
      if (c->where == NULL)
        return NULL;
    }
  return g_steal_pointer (&c);
}

static NcSetItem *
parse_set_item (P *p, gboolean remove)
{
  guint off = CUR (p)->offset;
  /* target: variable, then .prop chain or :labels; or (expr).prop */
  NcExpr *target = NULL;
  if (CUR (p)->kind == NC_TOK_LPAREN)
    {
      advance (p);
      target = parse_expr (p);
      if (target == NULL || !expect (p, NC_TOK_RPAREN, "')'"))
        {
          nc_expr_free (target);
          return NULL;
        }
    }
  else
    {
      char *name = parse_name (p, "a variable name");
      if (name == NULL)
        return NULL;
      target = nc_expr_new (NC_EX_VAR, off);
      target->name = name;
    }
  NcSetItem *it = g_new0 (NcSetItem, 1);
  it->offset = off;
  if (CUR (p)->kind == NC_TOK_COLON)
    {
      it->kind = remove ? NC_REMOVE_LABELS : NC_SET_LABELS;
      it->target = target;
      it->labels = str_array ();
      while (accept (p, NC_TOK_COLON))
        {
          char *l = parse_name (p, "a label name");
          if (l == NULL)
            goto fail;
          g_ptr_array_add (it->labels, l);
        }
      return it;
    }
  /* property chain: the last .key is the one set */
  while (CUR (p)->kind == NC_TOK_DOT)
    {
      advance (p);
      char *key = parse_name (p, "a property key name");
      if (key == NULL)
        {
          it->target = target;
          goto fail;
        }
      if (CUR (p)->kind == NC_TOK_DOT)
        {
          NcExpr *pe = nc_expr_new (NC_EX_PROP, off);
          pe->a = target;
          pe->name = key;
          target = pe;
          continue;
        }
      it->key = key;
    }
  it->target = target;
  if (remove)
    {
      if (it->key == NULL)
        {
          fail_at (p, CUR (p), "a property or labels to remove");
          goto fail;
        }
      it->kind = NC_REMOVE_PROP;
      return it;
    }
  if (it->key != NULL)
    {
      it->kind = NC_SET_PROP;
      if (!expect (p, NC_TOK_EQ, "'='"))
        goto fail;
    }
  else if (accept (p, NC_TOK_EQ))
    it->kind = NC_SET_REPLACE;
  else if (accept (p, NC_TOK_PLUSEQ))
    it->kind = NC_SET_MERGE;
  else
    {
      fail_at (p, CUR (p), "'=', '+=', ':' or '.'");
      goto fail;
    }
  it->value = parse_expr (p);
  if (it->value == NULL)
    goto fail;
  return it;
fail:
  nc_set_item_free (it);
  return NULL;
}

static GPtrArray *
parse_set_items (P *p, gboolean remove)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_set_item_free);
  do
    {
      NcSetItem *it = parse_set_item (p, remove);
      if (it == NULL)
        return NULL;
      g_ptr_array_add (items, it);
    }
  while (accept (p, NC_TOK_COMMA));
  return g_steal_pointer (&items);
}

static gboolean
at_clause_start (P *p)
{
  static const char *const starts[] = {
    "MATCH", "OPTIONAL", "UNWIND", "WITH", "RETURN", "CREATE", "MERGE", "SET", "REMOVE",
    "DELETE", "DETACH", "FOREACH", "CALL", NULL,
  };
  for (guint i = 0; starts[i]; i++)
    if (kw (p, starts[i]))
      return TRUE;
  return FALSE;
}

static gboolean
parse_yield (P *p, NcClause *c)
{
  if (accept_kw (p, "YIELD"))
    {
      c->items = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_proj_item_free);
      if (accept (p, NC_TOK_STAR))
        c->yield_star = TRUE;
      else
        do
          {
            guint voff = CUR (p)->offset;
            char *field = parse_name (p, "a procedure output field name");
            if (field == NULL)
              return FALSE;
            NcProjItem *it = g_new0 (NcProjItem, 1);
            it->slot = -1;
            it->expr = nc_expr_new (NC_EX_VAR, voff);
            it->expr->name = field;
            if (accept_kw (p, "AS"))
              {
                it->alias = parse_name (p, "a variable name");
                it->aliased = TRUE;
                if (it->alias == NULL)
                  {
                    nc_proj_item_free (it);
                    return FALSE;
                  }
              }
            else
              it->alias = g_strdup (field);
            g_ptr_array_add (c->items, it);
          }
        while (accept (p, NC_TOK_COMMA));
      if (accept_kw (p, "WHERE"))
        {
          c->where = parse_expr (p);
          if (c->where == NULL)
            return FALSE;
        }
    }
  return TRUE;
}

static NcClause *
parse_call (P *p)
{
  guint off = CUR (p)->offset;
  advance (p);
  if (CUR (p)->kind == NC_TOK_LBRACE)
    {
      advance (p);
      g_autoptr (NcClause) c = nc_clause_new (NC_CL_SUBQUERY, off);
      if (!enter (p))
        return NULL;
      c->sub = parse_query (p);
      p->depth--;
      if (c->sub == NULL || !expect (p, NC_TOK_RBRACE, "'}'"))
        return NULL;
      return g_steal_pointer (&c);
    }
  g_autoptr (NcClause) c = nc_clause_new (NC_CL_CALL, off);
  GString *name = g_string_new (NULL);
  do
    {
      if (!is_name (CUR (p)))
        {
          g_string_free (name, TRUE);
          fail_at (p, CUR (p), "a procedure name");
          return NULL;
        }
      if (name->len)
        g_string_append_c (name, '.');
      g_string_append (name, CUR (p)->text);
      advance (p);
    }
  while (accept (p, NC_TOK_DOT));
  c->proc = g_string_free (name, FALSE);
  if (accept (p, NC_TOK_LPAREN))
    {
      c->has_args = TRUE;
      c->exprs = expr_array ();
      if (!accept (p, NC_TOK_RPAREN))
        for (;;)
          {
            NcExpr *a = parse_expr (p);
            if (a == NULL)
              return NULL;
            g_ptr_array_add (c->exprs, a);
            if (accept (p, NC_TOK_COMMA))
              continue;
            if (!expect (p, NC_TOK_RPAREN, "',' or ')'"))
              return NULL;
            break;
          }
    }
  if (kw (p, "YIELD") && !parse_yield (p, c))
    return NULL;
  return g_steal_pointer (&c);
}

static NcClause *
parse_clause (P *p)
{
  guint off = CUR (p)->offset;
  if (kw (p, "MATCH") || (kw (p, "OPTIONAL") && kw_at (p, 1, "MATCH")))
    {
      g_autoptr (NcClause) c = nc_clause_new (NC_CL_MATCH, off);
      if (accept_kw (p, "OPTIONAL"))
        c->optional = TRUE;
      advance (p);
      c->pattern = parse_pattern (p);
      if (c->pattern == NULL)
        return NULL;
      /* Index/join hints are accepted and ignored: the planner decides. */
      while (accept_kw (p, "USING"))
        {
          while (CUR (p)->kind != NC_TOK_EOF && CUR (p)->kind != NC_TOK_RPAREN)
            advance (p);
          if (!expect (p, NC_TOK_RPAREN, "')'"))
            return NULL;
        }
      if (accept_kw (p, "WHERE"))
        {
          c->where = parse_expr (p);
          if (c->where == NULL)
            return NULL;
        }
      return g_steal_pointer (&c);
    }
  if (kw (p, "OPTIONAL"))
    {
      advance (p);
      fail_at (p, CUR (p), "'MATCH'");
      return NULL;
    }
  if (kw (p, "UNWIND"))
    {
      g_autoptr (NcClause) c = nc_clause_new (NC_CL_UNWIND, off);
      advance (p);
      c->expr = parse_expr (p);
      if (c->expr == NULL || !expect_kw (p, "AS"))
        return NULL;
      c->var = parse_name (p, "a variable name");
      if (c->var == NULL)
        return NULL;
      return g_steal_pointer (&c);
    }
  if (kw (p, "WITH"))
    return parse_projection (p, NC_CL_WITH);
  if (kw (p, "RETURN"))
    return parse_projection (p, NC_CL_RETURN);
  if (kw (p, "CREATE"))
    {
      g_autoptr (NcClause) c = nc_clause_new (NC_CL_CREATE, off);
      advance (p);
      c->pattern = parse_pattern (p);
      if (c->pattern == NULL)
        return NULL;
      return g_steal_pointer (&c);
    }
  if (kw (p, "MERGE"))
    {
      g_autoptr (NcClause) c = nc_clause_new (NC_CL_MERGE, off);
      advance (p);
      NcPatternPart *part = parse_pattern_part (p, TRUE);
      if (part == NULL)
        return NULL;
      c->pattern = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_pattern_part_free);
      g_ptr_array_add (c->pattern, part);
      while (kw (p, "ON"))
        {
          advance (p);
          gboolean create;
          if (accept_kw (p, "CREATE"))
            create = TRUE;
          else if (accept_kw (p, "MATCH"))
            create = FALSE;
          else
            {
              fail_at (p, CUR (p), "'MATCH' or 'CREATE'");
              return NULL;
            }
          if (!expect_kw (p, "SET"))
            return NULL;
          GPtrArray *items = parse_set_items (p, FALSE);
          if (items == NULL)
            return NULL;
          GPtrArray **dst = create ? &c->set_items : &c->on_match;
          if (*dst == NULL)
            *dst = items;
          else
            {
              for (guint i = 0; i < items->len; i++)
                g_ptr_array_add (*dst, items->pdata[i]);
              g_ptr_array_set_free_func (items, NULL);
              g_ptr_array_unref (items);
            }
        }
      return g_steal_pointer (&c);
    }
  if (kw (p, "SET") || kw (p, "REMOVE"))
    {
      gboolean remove = kw (p, "REMOVE");
      g_autoptr (NcClause) c = nc_clause_new (remove ? NC_CL_REMOVE : NC_CL_SET, off);
      advance (p);
      c->set_items = parse_set_items (p, remove);
      if (c->set_items == NULL)
        return NULL;
      return g_steal_pointer (&c);
    }
  if (kw (p, "DELETE") || (kw (p, "DETACH") && kw_at (p, 1, "DELETE")))
    {
      g_autoptr (NcClause) c = nc_clause_new (NC_CL_DELETE, off);
      if (accept_kw (p, "DETACH"))
        c->detach = TRUE;
      advance (p);
      c->exprs = expr_array ();
      do
        {
          NcExpr *e = parse_expr (p);
          if (e == NULL)
            return NULL;
          g_ptr_array_add (c->exprs, e);
        }
      while (accept (p, NC_TOK_COMMA));
      return g_steal_pointer (&c);
    }
  if (kw (p, "FOREACH"))
    {
      g_autoptr (NcClause) c = nc_clause_new (NC_CL_FOREACH, off);
      advance (p);
      if (!expect (p, NC_TOK_LPAREN, "'('"))
        return NULL;
      c->var = parse_name (p, "a variable name");
      if (c->var == NULL || !expect_kw (p, "IN"))
        return NULL;
      c->expr = parse_expr (p);
      if (c->expr == NULL || !expect (p, NC_TOK_PIPE, "'|'"))
        return NULL;
      c->body = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_clause_free);
      if (!enter (p))
        return NULL;
      while (CUR (p)->kind != NC_TOK_RPAREN)
        {
          NcClause *b = parse_clause (p);
          if (b == NULL)
            {
              p->depth--;
              return NULL;
            }
          g_ptr_array_add (c->body, b);
        }
      p->depth--;
      advance (p);
      if (c->body->len == 0)
        {
          fail_at (p, PEEK (p, 0), "an updating clause");
          return NULL;
        }
      return g_steal_pointer (&c);
    }
  if (kw (p, "CALL"))
    return parse_call (p);
  fail_at (p, CUR (p),
           "'CALL', 'CREATE', 'DELETE', 'DETACH', 'FOREACH', 'MATCH', 'MERGE', 'OPTIONAL', 'REMOVE', 'RETURN', 'SET', 'UNWIND' or 'WITH'");
  return NULL;
}

static NcSingleQuery *
parse_single (P *p)
{
  NcSingleQuery *sq = g_new0 (NcSingleQuery, 1);
  sq->clauses = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_clause_free);
  do
    {
      NcClause *c = parse_clause (p);
      if (c == NULL)
        {
          nc_single_query_free (sq);
          return NULL;
        }
      g_ptr_array_add (sq->clauses, c);
    }
  while (at_clause_start (p));
  return sq;
}

static NcQueryAst *
parse_query (P *p)
{
  NcQueryAst *q = g_new0 (NcQueryAst, 1);
  q->parts = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_single_query_free);
  q->union_all = g_array_new (FALSE, FALSE, sizeof (gboolean));
  for (;;)
    {
      NcSingleQuery *sq = parse_single (p);
      if (sq == NULL)
        {
          nc_query_ast_free (q);
          return NULL;
        }
      g_ptr_array_add (q->parts, sq);
      if (!accept_kw (p, "UNION"))
        break;
      gboolean all = accept_kw (p, "ALL");
      g_array_append_val (q->union_all, all);
    }
  return q;
}

/* ---- schema and system commands ---------------------------------------- */

/* FOR (n:Label) ON (n.key)  |  ON :Label(key)  |  ON (n:Label) ASSERT n.key IS UNIQUE */
static gboolean
parse_label_key_target (P *p, NcStatement *s, gboolean constraint)
{
  if (accept_kw (p, "ON") && CUR (p)->kind == NC_TOK_COLON)
    {
      advance (p);
      s->label = parse_name (p, "a label name");
      if (s->label == NULL || !expect (p, NC_TOK_LPAREN, "'('"))
        return FALSE;
      s->key = parse_name (p, "a property key name");
      return s->key != NULL && expect (p, NC_TOK_RPAREN, "')'");
    }
  if (!(p->t[p->pos - 1].kind == NC_TOK_IDENT && is_kw_tok (&p->t[p->pos - 1], "ON")) && !accept_kw (p, "FOR"))
    {
      fail_at (p, CUR (p), "'FOR' or 'ON'");
      return FALSE;
    }
  if (!expect (p, NC_TOK_LPAREN, "'('"))
    return FALSE;
  g_autofree char *var = parse_name (p, "a variable name");
  if (var == NULL || !expect (p, NC_TOK_COLON, "':'"))
    return FALSE;
  s->label = parse_name (p, "a label name");
  if (s->label == NULL || !expect (p, NC_TOK_RPAREN, "')'"))
    return FALSE;
  gboolean paren = FALSE;
  if (constraint)
    {
      if (!accept_kw (p, "REQUIRE") && !expect_kw (p, "ASSERT"))
        return FALSE;
      paren = accept (p, NC_TOK_LPAREN);
    }
  else
    {
      if (!expect_kw (p, "ON") || !expect (p, NC_TOK_LPAREN, "'('"))
        return FALSE;
      paren = TRUE;
    }
  g_autofree char *v2 = parse_name (p, "a variable name");
  if (v2 == NULL || !expect (p, NC_TOK_DOT, "'.'"))
    return FALSE;
  if (strcmp (v2, var) != 0)
    {
      fail_msg (p, CUR (p)->offset, "Invalid input: the property must belong to the pattern's variable");
      return FALSE;
    }
  s->key = parse_name (p, "a property key name");
  if (s->key == NULL)
    return FALSE;
  if (CUR (p)->kind == NC_TOK_COMMA)
    {
      fail_msg (p, CUR (p)->offset, "Composite indexes and constraints are not supported");
      return FALSE;
    }
  if (paren && !expect (p, NC_TOK_RPAREN, "')'"))
    return FALSE;
  if (constraint)
    {
      if (!expect_kw (p, "IS"))
        return FALSE;
      if (accept_kw (p, "NODE"))
        {
          if (!expect_kw (p, "KEY"))
            return FALSE;
          fail_msg (p, CUR (p)->offset, "Node key constraints are not supported; use IS UNIQUE");
          return FALSE;
        }
      if (kw (p, "NOT"))
        {
          fail_msg (p, CUR (p)->offset, "Property existence constraints are not supported; use IS UNIQUE");
          return FALSE;
        }
      if (!expect_kw (p, "UNIQUE"))
        return FALSE;
    }
  return TRUE;
}

static gboolean
parse_if_not_exists (P *p, NcStatement *s)
{
  if (kw (p, "IF") && kw_at (p, 1, "NOT") && kw_at (p, 2, "EXISTS"))
    {
      advance (p); advance (p); advance (p);
      s->if_not_exists = TRUE;
    }
  return TRUE;
}

static gboolean
parse_if_exists (P *p, NcStatement *s)
{
  if (kw (p, "IF") && kw_at (p, 1, "EXISTS"))
    {
      advance (p); advance (p);
      s->if_exists = TRUE;
    }
  return TRUE;
}

static gboolean
parse_create_schema (P *p, NcStatement *s)
{
  /* after CREATE */
  if (kw (p, "CONSTRAINT"))
    {
      advance (p);
      s->kind = NC_STMT_CREATE_CONSTRAINT;
    }
  else
    {
      if (kw (p, "RANGE") || kw (p, "BTREE"))
        advance (p);
      if (!expect_kw (p, "INDEX"))
        return FALSE;
      s->kind = NC_STMT_CREATE_INDEX;
    }
  if (is_name (CUR (p)) && !kw (p, "FOR") && !kw (p, "ON") && !(kw (p, "IF") && kw_at (p, 1, "NOT")))
    {
      s->schema_name = g_strdup (CUR (p)->text);
      advance (p);
    }
  parse_if_not_exists (p, s);
  return parse_label_key_target (p, s, s->kind == NC_STMT_CREATE_CONSTRAINT);
}

static gboolean
parse_drop_schema (P *p, NcStatement *s)
{
  s->kind = kw (p, "INDEX") ? NC_STMT_DROP_INDEX : NC_STMT_DROP_CONSTRAINT;
  advance (p);
  if (kw (p, "ON"))
    return parse_label_key_target (p, s, s->kind == NC_STMT_DROP_CONSTRAINT);
  s->schema_name = parse_name (p, "an index or constraint name");
  if (s->schema_name == NULL)
    return FALSE;
  parse_if_exists (p, s);
  return TRUE;
}

static NcExpr *
parse_string_or_param (P *p, const char *what)
{
  NcToken_ *t = CUR (p);
  if (t->kind == NC_TOK_STRING)
    {
      advance (p);
      return literal (t->offset, nc_value_string (t->text));
    }
  if (t->kind == NC_TOK_PARAM)
    {
      NcExpr *e = nc_expr_new (NC_EX_PARAM, t->offset);
      e->name = g_strdup (t->text);
      advance (p);
      return e;
    }
  fail_at (p, t, what);
  return NULL;
}

static void
sys_arg (NcStatement *s, const char *key, NcExpr *value)
{
  g_ptr_array_add (s->sys_keys, g_strdup (key));
  g_ptr_array_add (s->sys_vals, value);
}

static gboolean
parse_user_options (P *p, NcStatement *s, gboolean need_password)
{
  gboolean got_password = FALSE;
  while (accept_kw (p, "SET"))
    {
      if (accept_kw (p, "PLAINTEXT") || kw (p, "PASSWORD"))
        {
          if (!expect_kw (p, "PASSWORD"))
            return FALSE;
          NcExpr *pw = parse_string_or_param (p, "a password string or parameter");
          if (pw == NULL)
            return FALSE;
          sys_arg (s, "password", pw);
          got_password = TRUE;
          if (accept_kw (p, "CHANGE"))
            {
              gboolean not = accept_kw (p, "NOT");
              if (!expect_kw (p, "REQUIRED"))
                return FALSE;
              sys_arg (s, "change_required", literal (0, nc_value_bool (!not)));
            }
        }
      else if (accept_kw (p, "PASSWORD"))
        {
          if (!expect_kw (p, "CHANGE"))
            return FALSE;
          gboolean not = accept_kw (p, "NOT");
          if (!expect_kw (p, "REQUIRED"))
            return FALSE;
          sys_arg (s, "change_required", literal (0, nc_value_bool (!not)));
        }
      else if (accept_kw (p, "STATUS"))
        {
          if (kw (p, "ACTIVE") || kw (p, "SUSPENDED"))
            {
              sys_arg (s, "suspended", literal (0, nc_value_bool (kw (p, "SUSPENDED"))));
              advance (p);
            }
          else
            {
              fail_at (p, CUR (p), "'ACTIVE' or 'SUSPENDED'");
              return FALSE;
            }
        }
      else
        {
          fail_at (p, CUR (p), "'PASSWORD', 'PLAINTEXT' or 'STATUS'");
          return FALSE;
        }
    }
  if (need_password && !got_password)
    {
      fail_at (p, CUR (p), "'SET PASSWORD'");
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_system (P *p, NcStatement *s, const char *verb)
{
  s->kind = NC_STMT_SYSTEM;
  s->sys_keys = str_array ();
  s->sys_vals = expr_array ();
  if (g_str_equal (verb, "SHOW"))
    {
      if (accept_kw (p, "CURRENT"))
        {
          if (!expect_kw (p, "USER"))
            return FALSE;
          s->sys_op = g_strdup ("show_current_user");
        }
      else
        {
          advance (p); /* USERS */
          s->sys_op = g_strdup ("show_users");
        }
      return TRUE;
    }
  if (g_str_equal (verb, "ALTER") && accept_kw (p, "CURRENT"))
    {
      if (!expect_kw (p, "USER") || !expect_kw (p, "SET") || !expect_kw (p, "PASSWORD") || !expect_kw (p, "FROM"))
        return FALSE;
      s->sys_op = g_strdup ("alter_current_user_password");
      NcExpr *old = parse_string_or_param (p, "a password string or parameter");
      if (old == NULL)
        return FALSE;
      sys_arg (s, "old_password", old);
      if (!expect_kw (p, "TO"))
        return FALSE;
      NcExpr *nw = parse_string_or_param (p, "a password string or parameter");
      if (nw == NULL)
        return FALSE;
      sys_arg (s, "password", nw);
      return TRUE;
    }
  if (!expect_kw (p, "USER"))
    return FALSE;
  NcToken_ *nt = CUR (p);
  NcExpr *user;
  if (nt->kind == NC_TOK_PARAM)
    user = parse_string_or_param (p, "a user name");
  else
    {
      char *name = parse_name (p, "a user name");
      if (name == NULL)
        return FALSE;
      user = literal (nt->offset, nc_value_string (name));
      g_free (name);
    }
  sys_arg (s, "user", user);
  if (g_str_equal (verb, "CREATE"))
    {
      s->sys_op = g_strdup ("create_user");
      if (kw (p, "IF") && kw_at (p, 1, "NOT") && kw_at (p, 2, "EXISTS"))
        {
          advance (p); advance (p); advance (p);
          sys_arg (s, "if_not_exists", literal (0, nc_value_bool (TRUE)));
        }
      return parse_user_options (p, s, TRUE);
    }
  if (g_str_equal (verb, "DROP"))
    {
      s->sys_op = g_strdup ("drop_user");
      if (kw (p, "IF") && kw_at (p, 1, "EXISTS"))
        {
          advance (p); advance (p);
          sys_arg (s, "if_exists", literal (0, nc_value_bool (TRUE)));
        }
      return TRUE;
    }
  s->sys_op = g_strdup ("alter_user");
  return parse_user_options (p, s, FALSE);
}

NcStatement *
nc_cypher_parse (const char *text, GError **error)
{
  g_autoptr (NcLexed) lx = nc_lex (text, error);
  if (lx == NULL)
    return NULL;
  P p = { .src = text, .t = (NcToken_ *) lx->toks->data, .n = lx->toks->len, .error = error };
  g_autoptr (NcStatement) s = g_new0 (NcStatement, 1);
  if (accept_kw (&p, "EXPLAIN"))
    s->explain = TRUE;
  else if (accept_kw (&p, "PROFILE"))
    s->profile = TRUE;
  if (CUR (&p)->kind == NC_TOK_EOF)
    {
      fail_at (&p, CUR (&p), "a statement");
      return NULL;
    }
  gboolean ok;
  if (kw (&p, "CREATE") && (kw_at (&p, 1, "INDEX") || kw_at (&p, 1, "CONSTRAINT")
                            || ((kw_at (&p, 1, "RANGE") || kw_at (&p, 1, "BTREE")) && kw_at (&p, 2, "INDEX"))))
    {
      advance (&p);
      ok = parse_create_schema (&p, s);
    }
  else if (kw (&p, "DROP") && (kw_at (&p, 1, "INDEX") || kw_at (&p, 1, "CONSTRAINT")))
    {
      advance (&p);
      ok = parse_drop_schema (&p, s);
    }
  else if (kw (&p, "SHOW") && (kw_at (&p, 1, "INDEX") || kw_at (&p, 1, "INDEXES") || kw_at (&p, 1, "CONSTRAINT")
                               || kw_at (&p, 1, "CONSTRAINTS") || kw_at (&p, 2, "INDEX") || kw_at (&p, 2, "INDEXES")
                               || kw_at (&p, 2, "CONSTRAINTS") || kw_at (&p, 2, "CONSTRAINT")))
    {
      advance (&p);
      if (kw (&p, "ALL") || kw (&p, "RANGE") || kw (&p, "BTREE") || kw (&p, "UNIQUE"))
        advance (&p);
      s->kind = kw (&p, "INDEX") || kw (&p, "INDEXES") ? NC_STMT_SHOW_INDEXES : NC_STMT_SHOW_CONSTRAINTS;
      guint off = CUR (&p)->offset;
      advance (&p);
      ok = TRUE;
      if (kw (&p, "YIELD") || kw (&p, "WHERE"))
        {
          /* SHOW ... YIELD/WHERE/RETURN is a procedure call in disguise */
          NcClause *c = nc_clause_new (NC_CL_CALL, off);
          c->proc = g_strdup (s->kind == NC_STMT_SHOW_INDEXES ? "db.indexes" : "db.constraints");
          c->has_args = TRUE;
          c->exprs = expr_array ();
          if (kw (&p, "WHERE"))
            {
              advance (&p);
              c->items = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_proj_item_free);
              c->yield_star = TRUE;
              c->where = parse_expr (&p);
              ok = c->where != NULL;
            }
          else
            ok = parse_yield (&p, c);
          s->kind = NC_STMT_QUERY;
          s->query = g_new0 (NcQueryAst, 1);
          s->query->parts = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_single_query_free);
          s->query->union_all = g_array_new (FALSE, FALSE, sizeof (gboolean));
          NcSingleQuery *sq = g_new0 (NcSingleQuery, 1);
          sq->clauses = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_clause_free);
          g_ptr_array_add (sq->clauses, c);
          g_ptr_array_add (s->query->parts, sq);
          while (ok && at_clause_start (&p))
            {
              NcClause *next = parse_clause (&p);
              ok = next != NULL;
              if (next)
                g_ptr_array_add (sq->clauses, next);
            }
        }
    }
  else if (kw (&p, "SHOW") && (kw_at (&p, 1, "USERS") || (kw_at (&p, 1, "CURRENT") && kw_at (&p, 2, "USER"))))
    {
      advance (&p);
      ok = parse_system (&p, s, "SHOW");
    }
  else if ((kw (&p, "CREATE") || kw (&p, "DROP")) && kw_at (&p, 1, "USER"))
    {
      const char *verb = kw (&p, "CREATE") ? "CREATE" : "DROP";
      advance (&p);
      ok = parse_system (&p, s, verb);
    }
  else if (kw (&p, "ALTER") && (kw_at (&p, 1, "USER") || kw_at (&p, 1, "CURRENT")))
    {
      advance (&p);
      ok = parse_system (&p, s, "ALTER");
    }
  else
    {
      s->kind = NC_STMT_QUERY;
      s->query = parse_query (&p);
      ok = s->query != NULL;
    }
  if (!ok)
    return NULL;
  accept (&p, NC_TOK_SEMI);
  if (CUR (&p)->kind != NC_TOK_EOF)
    {
      fail_at (&p, CUR (&p), s->kind == NC_STMT_QUERY
                               ? "'CALL', 'CREATE', 'DELETE', 'DETACH', 'FOREACH', 'MATCH', 'MERGE', 'OPTIONAL', 'REMOVE', 'RETURN', 'SET', 'UNION', 'UNWIND', 'WITH' or <EOF>"
                               : "<EOF>");
      return NULL;
    }
  return g_steal_pointer (&s);
}
