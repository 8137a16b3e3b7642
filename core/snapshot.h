/* Snapshots: a point-in-time image of the store, written while writes
 * continue (it is a read transaction at index N), atomically: written to a
 * temporary file, fsynced, renamed, and the directory fsynced.
 *
 * File: <dir>/snapshots/snapshot-<index, 20 digits>.snap
 *   "NCSNAP01" | u64 index | u64 term | chunks... | trailer
 *   chunk: u32 length | u32 crc32c | encoded write-set (a batch of effects)
 *   trailer: u32 0 | u32 crc32c of everything before it
 * Loading replays the chunks into an empty store with nc_store_apply_writeset.
 */
#pragma once

#include <glib.h>
#include "store.h"

G_BEGIN_DECLS

#define NC_SNAPSHOT_ERROR (nc_snapshot_error_quark ())
GQuark nc_snapshot_error_quark (void);
typedef enum { NC_SNAPSHOT_ERROR_IO, NC_SNAPSHOT_ERROR_CORRUPT } NcSnapshotError;

/* Writes a snapshot of what `read_txn` sees; the caller passes the index and
 * term of that snapshot. Returns the final path (transfer full). */
char *nc_snapshot_write (const char *dir, NcTxn *read_txn, guint64 index, guint64 term,
                         GError **error);
/* Loads `path` into `store` (which must be empty); publishes its index. */
gboolean nc_snapshot_load (const char *path, NcStore *store, guint64 *index, guint64 *term,
                           GError **error);
/* Newest valid snapshot in `dir`, NULL when none. (transfer full) A snapshot
 * file that fails its checksum is skipped with a warning (an older one or
 * the WAL is used) only when it is not the newest complete file... see
 * snapshot.c. */
char *nc_snapshot_find_latest (const char *dir, guint64 *index, guint64 *term);
/* Deletes all snapshots older than the newest `keep`. */
void nc_snapshot_prune (const char *dir, guint keep);

/* ---- state outside the store (appended) -------------------------------------
 * A snapshot may end with one more chunk of NC_EFFECT_META effects carrying
 * state kept outside the store (the user table, core/users.h
 * NC_USERS_META_KEY). The store applies META effects as nothing, so files
 * with or without that chunk load the same way in either version. */

/* nc_snapshot_write plus `extra` (may be NULL or empty) written after the
 * store's dump. */
char *nc_snapshot_write_extra (const char *dir, NcTxn *read_txn, guint64 index, guint64 term,
                               const NcWriteSet *extra, GError **error);
/* Called for every META effect in a snapshot, in file order, after the whole
 * file has loaded into the store. */
typedef void (*NcSnapshotMetaFunc) (const NcEffect *effect, guint64 index, gpointer user_data);
/* nc_snapshot_load that also hands the META effects to `meta_cb` (may be NULL). */
gboolean nc_snapshot_load_meta (const char *path, NcStore *store, guint64 *index, guint64 *term,
                                NcSnapshotMetaFunc meta_cb, gpointer user_data, GError **error);

G_END_DECLS
