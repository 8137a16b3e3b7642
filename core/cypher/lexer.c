#define G_LOG_DOMAIN "nornicdb-cypher"

#include "lexer.h"
#include "../errors.h"

#include <string.h>

void
nc_cypher_set_syntax_error (GError **error, const char *src, guint offset, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);

  gsize len = strlen (src);
  if (offset > len)
    offset = len;
  guint line = 1;
  gsize line_start = 0;
  for (gsize i = 0; i < offset; i++)
    if (src[i] == '\n')
      {
        line++;
        line_start = i + 1;
      }
  gsize line_end = line_start;
  while (line_end < len && src[line_end] != '\n' && src[line_end] != '\r')
    line_end++;
  /* Columns count characters, not bytes. */
  glong column = g_utf8_validate (src + line_start, offset - line_start, NULL)
                   ? g_utf8_strlen (src + line_start, offset - line_start)
                   : (glong) (offset - line_start);
  g_autofree char *caret = g_strnfill (column + 1, ' ');
  g_set_error (error, NC_ERROR, NC_ERROR_SYNTAX,
               "%s (line %u, column %ld (offset: %u))\n\"%.*s\"\n%s^",
               msg, line, column + 1, offset, (int) (line_end - line_start), src + line_start, caret);
}

static void
push (NcLexed *lx, NcTokKind kind, guint start, guint end, char *text)
{
  NcToken_ t = { kind, start, end, text };
  g_array_append_val (lx->toks, t);
}

static void
tok_clear (gpointer p)
{
  NcToken_ *t = p;
  g_free (t->text);
}

void
nc_lexed_free (NcLexed *lx)
{
  if (lx == NULL)
    return;
  g_array_unref (lx->toks);
  g_free (lx);
}

static gboolean
is_ident_start (gunichar c)
{
  return c == '_' || g_unichar_isalpha (c);
}

static gboolean
is_ident_part (gunichar c)
{
  return c == '_' || g_unichar_isalnum (c);
}

/* Reads a quoted string starting at src[*i] (the quote). */
static char *
lex_string (const char *src, gsize *i, GError **error)
{
  char q = src[*i];
  gsize start = *i;
  GString *out = g_string_new (NULL);
  gsize p = *i + 1;
  for (;;)
    {
      char c = src[p];
      if (c == '\0')
        {
          nc_cypher_set_syntax_error (error, src, start, "Invalid input '%c': unterminated string literal", q);
          g_string_free (out, TRUE);
          return NULL;
        }
      if (c == q)
        {
          p++;
          break;
        }
      if (c == '\\')
        {
          char e = src[p + 1];
          switch (e)
            {
            case 'n': g_string_append_c (out, '\n'); p += 2; continue;
            case 't': g_string_append_c (out, '\t'); p += 2; continue;
            case 'r': g_string_append_c (out, '\r'); p += 2; continue;
            case 'b': g_string_append_c (out, '\b'); p += 2; continue;
            case 'f': g_string_append_c (out, '\f'); p += 2; continue;
            case '\'': case '"': case '\\': g_string_append_c (out, e); p += 2; continue;
            case 'u': case 'U':
              {
                guint nd = e == 'u' ? 4 : 8;
                gunichar cp = 0;
                for (guint k = 0; k < nd; k++)
                  {
                    int d = g_ascii_xdigit_value (src[p + 2 + k]);
                    if (d < 0)
                      {
                        nc_cypher_set_syntax_error (error, src, p,
                                                    "Invalid input '\\%c': invalid unicode literal (InvalidUnicodeLiteral)", e);
                        g_string_free (out, TRUE);
                        return NULL;
                      }
                    cp = cp * 16 + d;
                  }
                if (!g_unichar_validate (cp))
                  {
                    nc_cypher_set_syntax_error (error, src, p, "Invalid input: invalid unicode character (InvalidUnicodeCharacter)");
                    g_string_free (out, TRUE);
                    return NULL;
                  }
                g_string_append_unichar (out, cp);
                p += 2 + nd;
                continue;
              }
            default:
              nc_cypher_set_syntax_error (error, src, p, "Invalid input '\\%c': invalid escape sequence", e ? e : ' ');
              g_string_free (out, TRUE);
              return NULL;
            }
        }
      g_string_append_c (out, c);
      p++;
    }
  *i = p;
  if (!g_utf8_validate (out->str, out->len, NULL))
    {
      nc_cypher_set_syntax_error (error, src, start, "Invalid input: string literal is not valid UTF-8");
      g_string_free (out, TRUE);
      return NULL;
    }
  return g_string_free (out, FALSE);
}

static gunichar
char_at (const char *src, gsize i, gsize *len)
{
  guchar c = (guchar) src[i];
  if (c < 0x80)
    {
      *len = 1;
      return c;
    }
  gunichar u = g_utf8_get_char_validated (src + i, -1);
  if (u == (gunichar) -1 || u == (gunichar) -2)
    {
      *len = 1;
      return 0xFFFD;
    }
  *len = g_utf8_next_char (src + i) - (src + i);
  return u;
}

NcLexed *
nc_lex (const char *src, GError **error)
{
  g_autoptr (NcLexed) lx = g_new0 (NcLexed, 1);
  lx->src = src;
  lx->toks = g_array_new (FALSE, TRUE, sizeof (NcToken_));
  g_array_set_clear_func (lx->toks, tok_clear);
  gsize i = 0;
  for (;;)
    {
      char c = src[i];
      if (c == '\0')
        break;
      if (g_ascii_isspace (c))
        {
          i++;
          continue;
        }
      if (c == '/' && src[i + 1] == '/')
        {
          while (src[i] && src[i] != '\n')
            i++;
          continue;
        }
      if (c == '/' && src[i + 1] == '*')
        {
          const char *end = strstr (src + i + 2, "*/");
          if (end == NULL)
            {
              nc_cypher_set_syntax_error (error, src, i, "Invalid input '/*': unterminated comment");
              return NULL;
            }
          i = end - src + 2;
          continue;
        }
      gsize start = i;
      if (c == '\'' || c == '"')
        {
          char *s = lex_string (src, &i, error);
          if (s == NULL)
            return NULL;
          push (lx, NC_TOK_STRING, start, i, s);
          continue;
        }
      if (c == '`')
        {
          GString *name = g_string_new (NULL);
          i++;
          for (;;)
            {
              if (src[i] == '\0')
                {
                  g_string_free (name, TRUE);
                  nc_cypher_set_syntax_error (error, src, start, "Invalid input '`': unterminated escaped name");
                  return NULL;
                }
              if (src[i] == '`')
                {
                  if (src[i + 1] == '`')
                    {
                      g_string_append_c (name, '`');
                      i += 2;
                      continue;
                    }
                  i++;
                  break;
                }
              g_string_append_c (name, src[i++]);
            }
          push (lx, NC_TOK_QIDENT, start, i, g_string_free (name, FALSE));
          continue;
        }
      if (g_ascii_isdigit (c) || (c == '.' && g_ascii_isdigit (src[i + 1])))
        {
          gboolean is_float = FALSE;
          if (c == '0' && (src[i + 1] == 'x' || src[i + 1] == 'X' || src[i + 1] == 'o' || src[i + 1] == 'O'))
            {
              i += 2;
              while (g_ascii_isalnum (src[i]) || src[i] == '_')
                i++;
            }
          else
            {
              while (g_ascii_isdigit (src[i]) || src[i] == '_')
                i++;
              if (src[i] == '.' && g_ascii_isdigit (src[i + 1]))
                {
                  is_float = TRUE;
                  i++;
                  while (g_ascii_isdigit (src[i]) || src[i] == '_')
                    i++;
                }
              if ((src[i] == 'e' || src[i] == 'E')
                  && (g_ascii_isdigit (src[i + 1])
                      || ((src[i + 1] == '-' || src[i + 1] == '+') && g_ascii_isdigit (src[i + 2]))))
                {
                  is_float = TRUE;
                  i += 2;
                  while (g_ascii_isdigit (src[i]))
                    i++;
                }
              /* "1abc" is one bad literal, not a number then a name. */
              while (g_ascii_isalnum (src[i]) || src[i] == '_')
                i++;
            }
          push (lx, is_float ? NC_TOK_FLOAT : NC_TOK_INT, start, i, g_strndup (src + start, i - start));
          continue;
        }
      if (c == '$')
        {
          i++;
          gsize clen;
          if (src[i] == '`')
            {
              gsize s2 = i + 1;
              while (src[i + 1] && src[i + 1] != '`')
                i++;
              if (!src[i + 1])
                {
                  nc_cypher_set_syntax_error (error, src, start, "Invalid input '$': unterminated parameter name");
                  return NULL;
                }
              push (lx, NC_TOK_PARAM, start, i + 2, g_strndup (src + s2, i + 1 - s2));
              i += 2;
              continue;
            }
          gsize s2 = i;
          while (src[i])
            {
              gunichar u = char_at (src, i, &clen);
              if (!(is_ident_part (u) || g_ascii_isdigit (src[i])))
                break;
              i += clen;
            }
          if (i == s2)
            {
              nc_cypher_set_syntax_error (error, src, start, "Invalid input '$': expected a parameter name");
              return NULL;
            }
          push (lx, NC_TOK_PARAM, start, i, g_strndup (src + s2, i - s2));
          continue;
        }
      gsize clen;
      gunichar u = char_at (src, i, &clen);
      if (is_ident_start (u))
        {
          i += clen;
          while (src[i])
            {
              u = char_at (src, i, &clen);
              if (!is_ident_part (u))
                break;
              i += clen;
            }
          push (lx, NC_TOK_IDENT, start, i, g_strndup (src + start, i - start));
          continue;
        }
      NcTokKind k;
      gsize n = 1;
      switch (c)
        {
        case '(': k = NC_TOK_LPAREN; break;
        case ')': k = NC_TOK_RPAREN; break;
        case '[': k = NC_TOK_LBRACKET; break;
        case ']': k = NC_TOK_RBRACKET; break;
        case '{': k = NC_TOK_LBRACE; break;
        case '}': k = NC_TOK_RBRACE; break;
        case ',': k = NC_TOK_COMMA; break;
        case ':': k = NC_TOK_COLON; break;
        case ';': k = NC_TOK_SEMI; break;
        case '|': k = NC_TOK_PIPE; break;
        case '-': k = NC_TOK_MINUS; break;
        case '*': k = NC_TOK_STAR; break;
        case '/': k = NC_TOK_SLASH; break;
        case '%': k = NC_TOK_PERCENT; break;
        case '^': k = NC_TOK_CARET; break;
        case '.':
          if (src[i + 1] == '.') { k = NC_TOK_DOTDOT; n = 2; } else k = NC_TOK_DOT;
          break;
        case '+':
          if (src[i + 1] == '=') { k = NC_TOK_PLUSEQ; n = 2; } else k = NC_TOK_PLUS;
          break;
        case '=':
          if (src[i + 1] == '~') { k = NC_TOK_REGEX; n = 2; } else k = NC_TOK_EQ;
          break;
        case '!':
          if (src[i + 1] == '=') { k = NC_TOK_NEQ; n = 2; break; }
          nc_cypher_set_syntax_error (error, src, i, "Invalid input '!': expected '!='");
          return NULL;
        case '<':
          if (src[i + 1] == '>') { k = NC_TOK_NEQ; n = 2; }
          else if (src[i + 1] == '=') { k = NC_TOK_LE; n = 2; }
          else k = NC_TOK_LT;
          break;
        case '>':
          if (src[i + 1] == '=') { k = NC_TOK_GE; n = 2; } else k = NC_TOK_GT;
          break;
        default:
          {
            g_autofree char *bad = g_strndup (src + i, clen);
            nc_cypher_set_syntax_error (error, src, i, "Invalid input '%s': expected an expression, a keyword or a symbol",
                                        g_utf8_validate (bad, -1, NULL) ? bad : "?");
            return NULL;
          }
        }
      i += n;
      push (lx, k, start, i, NULL);
    }
  push (lx, NC_TOK_EOF, i, i, NULL);
  return g_steal_pointer (&lx);
}
