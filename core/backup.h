/* Online backup and restore of a data directory.
 *
 * A backup is a gzip-compressed ustar archive whose members extract into an
 * empty data directory and give a directory the daemon starts from:
 *
 *   BACKUP.json                              manifest (first member)
 *   snapshots/snapshot-<index, 20 digits>.snap   the database at `index`
 *   users.json                               users and roles (when present)
 *
 * The snapshot is a read transaction at the visible index written while
 * writes go on (core/snapshot.c), so the archive is one committed state.
 * There is no WAL and no replication state in it: the WAL starts empty after
 * the snapshot, and a Raft node restored from it bootstraps a new cluster on
 * top of the data (docs/operations.md explains why).
 *
 * Restore: on start-up nc_backup_prepare_restore() sees BACKUP.json in the
 * data directory, checks that every member is there with its recorded size,
 * moves whatever does not belong to the backup (older WAL segments,
 * snapshots, replication state) into pre-restore-<time>/, and renames the
 * manifest to restored-backup.json so that it is acted on once.
 */
#pragma once

#include <gio/gio.h>

#include "db.h"

G_BEGIN_DECLS

#define NC_BACKUP_ERROR (nc_backup_error_quark ())
GQuark nc_backup_error_quark (void);
typedef enum {
  NC_BACKUP_ERROR_IO,        /* writing the archive failed (disk full, ...) */
  NC_BACKUP_ERROR_BUSY,      /* another backup is running */
  NC_BACKUP_ERROR_RESTORE,   /* the extracted backup is incomplete or damaged */
} NcBackupError;

#define NC_BACKUP_FORMAT_VERSION 1
#define NC_BACKUP_MANIFEST "BACKUP.json"
#define NC_BACKUP_RESTORED_MANIFEST "restored-backup.json"

typedef struct {
  guint64 index;             /* the backup's snapshot index */
  guint64 term;
  guint64 size;              /* archive bytes */
  char *file_name;           /* suggested download name */
} NcBackupResult;

void nc_backup_result_clear (NcBackupResult *r);

/* Writes a backup of `db` to a temporary file under its data directory and
 * returns a file descriptor open for reading at offset 0 (the file itself is
 * already unlinked, so closing the descriptor frees the space). -1 on error.
 * Safe to call from any thread while the database serves reads and writes.
 * With `min_index` > 0 it first waits (NORNICDB_BOOKMARK_TIMEOUT) until this
 * node has made that index visible, so a backup taken on a follower holds
 * every write the client saw acknowledged (the bookmark it presents);
 * a timeout is NC_ERROR_BOOKMARK_TIMEOUT. */
int nc_backup_create (NcDb *db, guint64 min_index, NcBackupResult *result, GError **error);

/* Manifest fields beside the snapshot (for nc_backup_write_archive). */
typedef struct {
  const char *mode;
  const char *node_id;
  const char *role;
  const char *users_path;    /* users.json to include, NULL for none */
} NcBackupSource;

/* Writes the archive for what `txn` sees (at `index`/`term`) to `out`
 * (uncompressed bytes go through gzip), using `work_dir` (created, then
 * removed) for the snapshot file. Returns the manifest JSON on success
 * (transfer full). */
char *nc_backup_write_archive (GOutputStream *out, const char *work_dir, NcTxn *txn, guint64 index,
                               guint64 term, const NcBackupSource *src, GError **error);

/* Start-up hook (called by nc_db_open with the data directory locked):
 * acts on an extracted backup as described above; removes leftover
 * temporary backup files. Errors are NC_BACKUP_ERROR_RESTORE and name the
 * file. `module_data_dir` may lie outside `data_dir`. */
gboolean nc_backup_prepare_restore (const char *data_dir, const char *module_data_dir, GError **error);

/* `nornicdb backup ...` (argv[0] is "backup"): downloads a backup from a
 * running server; returns the process exit status (0, 1 failure, 2 usage). */
int nc_backup_cli (int argc, char **argv);

/* Declares the backup metrics (nornicdb_backups_total{result}, last
 * success time, size and duration) so that they show from the start. */
void nc_backup_declare_metrics (NcMetrics *m);

G_END_DECLS
