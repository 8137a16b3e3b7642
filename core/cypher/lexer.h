/* Cypher lexer: turns query text into a token array the parser walks with
 * unlimited lookahead. Keywords are not separate token kinds: they are
 * NC_TOK_IDENT matched case-insensitively by the parser, so that keywords can
 * be used as names where the grammar allows. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  NC_TOK_EOF = 0,
  NC_TOK_IDENT,      /* bare name or keyword */
  NC_TOK_QIDENT,     /* `backticked` name: never a keyword */
  NC_TOK_STRING,
  NC_TOK_INT,        /* text kept: sign/overflow decided by the parser */
  NC_TOK_FLOAT,
  NC_TOK_PARAM,      /* $name or $0 (text = name) */
  NC_TOK_LPAREN, NC_TOK_RPAREN, NC_TOK_LBRACKET, NC_TOK_RBRACKET,
  NC_TOK_LBRACE, NC_TOK_RBRACE,
  NC_TOK_COMMA, NC_TOK_DOT, NC_TOK_DOTDOT, NC_TOK_COLON, NC_TOK_SEMI, NC_TOK_PIPE,
  NC_TOK_PLUS, NC_TOK_MINUS, NC_TOK_STAR, NC_TOK_SLASH, NC_TOK_PERCENT, NC_TOK_CARET,
  NC_TOK_EQ, NC_TOK_NEQ, NC_TOK_LT, NC_TOK_GT, NC_TOK_LE, NC_TOK_GE,
  NC_TOK_REGEX,      /* =~ */
  NC_TOK_PLUSEQ,     /* += */
} NcTokKind;

typedef struct {
  NcTokKind kind;
  guint offset;   /* byte offset of the token start */
  guint end;      /* byte offset after the token */
  char *text;     /* identifiers, strings (unescaped), numbers, params */
} NcToken_;

typedef struct {
  const char *src;
  GArray *toks;   /* NcToken_ */
} NcLexed;

/* Tokenises `src`; on failure sets a SyntaxError with position. */
NcLexed *nc_lex (const char *src, GError **error);
void nc_lexed_free (NcLexed *lx);

/* Formats a Neo4j-style syntax error at byte `offset` of `src`:
 * "<msg> (line L, column C (offset: O))\n\"<line>\"\n<caret>" */
void nc_cypher_set_syntax_error (GError **error, const char *src, guint offset,
                                 const char *fmt, ...) G_GNUC_PRINTF (4, 5);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NcLexed, nc_lexed_free)

G_END_DECLS
