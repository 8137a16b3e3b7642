/* Little-endian integer access for the on-disk formats (WAL, snapshots). */
#pragma once

#include <glib.h>

static inline guint32
rd32 (const guint8 *p)
{
  return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16 | (guint32) p[3] << 24;
}

static inline guint64
rd64 (const guint8 *p)
{
  return (guint64) rd32 (p) | (guint64) rd32 (p + 4) << 32;
}

static inline void
wr32 (guint8 *p, guint32 v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (guint8) (v >> (8 * i));
}

static inline void
wr64 (guint8 *p, guint64 v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (guint8) (v >> (8 * i));
}
