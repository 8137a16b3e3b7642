/* Linearizability checker for a single register (Wing & Gong search with
 * memoisation of (linearized set, register value), as in Knossos/Porcupine).
 * Written here because no maintained C library does it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LIN_PENDING G_MAXUINT64   /* no response: may take effect any time after invoke, or never */
#define LIN_MAX_OPS 512

typedef enum { LIN_WRITE, LIN_READ } LinKind;

typedef struct {
  LinKind kind;
  guint64 value;   /* written value, or value read */
  guint64 invoke;  /* event sequence numbers */
  guint64 ret;     /* LIN_PENDING for writes with unknown outcome */
  guint client;
} LinOp;

typedef enum {
  LIN_OK,
  LIN_VIOLATION,
  LIN_INCONCLUSIVE, /* budget exhausted or history too long */
} LinResult;

/* Initial register value is `initial`. `budget` bounds the explored states. */
LinResult lin_check_register (const LinOp *ops, guint n_ops, guint64 initial, guint budget,
                              guint *explored);

G_END_DECLS
