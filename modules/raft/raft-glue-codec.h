/* raft-glue-codec.h — Raft entries <-> WAL record bytes for raft.so. */
#pragma once

#include <glib.h>

#include "raft-core.h"

G_BEGIN_DECLS

#define NC_RAFT_GLUE_KEY_NOOP "raft.noop"
#define NC_RAFT_GLUE_KEY_CONF "raft.conf"

/* A version-1 write-set holding one META effect {key, value} (value NULL or
 * BYTES). (transfer full) */
GBytes *nc_raft_glue_meta_writeset (const char *key, GBytes *value /* nullable */);
/* Classifies a WAL record's write-set: our META no-op / membership
 * write-sets become NOOP / CONF_CHANGE entries (data: the membership), every
 * other write-set a NORMAL entry holding `ws`. (transfer full) */
NcRaftEntry *nc_raft_glue_entry_from_record (guint64 index, guint64 term, GBytes *ws);
/* The record bytes of an entry (inverse of the above). (transfer full) */
GBytes *nc_raft_glue_entry_to_record (const NcRaftEntry *e);

G_END_DECLS
