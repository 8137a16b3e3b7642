/* The write-ahead log: segmented files of CRC32C-protected records, written
 * and fdatasync'ed by a dedicated writer thread with group commit.
 *
 * Files: <dir>/wal/wal-<first-index, 20 digits>.log, each starting with a
 * 16-byte header (magic "NCWAL001", u64 first index). Record layout
 * (little-endian):
 *   u32 payload length | u32 crc32c(of index..payload) | u64 index | u64 term | payload
 * where payload is an encoded write-set (core/writeset.h).
 *
 * Durability: nc_wal_append() queues the record and returns; the writer
 * thread writes every queued record, calls fdatasync once for the batch, and
 * then invokes each record's callback in index order (on the writer thread).
 * If a write or fdatasync fails the WAL enters the failed state: the failing
 * batch and every later append complete with NC_WAL_ERROR_FAILED; nothing
 * is retried (a failed fsync may have dropped dirty pages).
 *
 * Recovery: nc_wal_open() scans every segment. A torn or corrupt record at
 * the very end of the last segment (a crash mid-write) is truncated away,
 * with a log message. Corruption anywhere else fails with
 * NC_WAL_ERROR_CORRUPT naming the file and byte offset.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NcWal NcWal;

#define NC_WAL_ERROR (nc_wal_error_quark ())
GQuark nc_wal_error_quark (void);
typedef enum {
  NC_WAL_ERROR_IO,       /* open/read failed */
  NC_WAL_ERROR_CORRUPT,  /* corruption before the tail */
  NC_WAL_ERROR_FAILED,   /* the WAL failed earlier (write/fsync) and accepts nothing */
  NC_WAL_ERROR_ORDER,    /* index not last + 1 */
  NC_WAL_ERROR_COMPACTED,/* read of an index that was compacted away */
} NcWalError;

typedef void (*NcWalDoneFunc) (guint64 index, const GError *error, gpointer user_data);

typedef struct {
  gsize segment_size;         /* roll to a new segment past this many bytes (default 64 MiB) */
  gboolean no_sync;           /* tests only: skip fdatasync */
  /* Test hook: when set, called instead of fdatasync; return -1 with errno
   * set to simulate a failing disk. */
  int (*fsync_hook) (int fd, gpointer user_data);
  gpointer fsync_hook_data;
} NcWalOptions;

/* Opens (creating) the log in `dir`, recovering as described above.
 * `first_index` is used when the log is empty (after a snapshot at N the
 * log starts at N + 1). */
NcWal *nc_wal_open (const char *dir, const NcWalOptions *opts, guint64 first_index, GError **error);
/* Waits for queued records to be durable, stops the writer thread, closes. */
void nc_wal_close (NcWal *wal);

/* Queues a record; `payload` is referenced. Returns FALSE with error when the
 * WAL has failed or the index is out of order. `done` is called exactly once
 * (unless FALSE is returned). */
gboolean nc_wal_append (NcWal *wal, guint64 index, guint64 term, GBytes *payload,
                        NcWalDoneFunc done, gpointer user_data, GError **error);
/* Blocks until everything appended so far is durable (or failed). */
gboolean nc_wal_flush (NcWal *wal, GError **error);

guint64 nc_wal_first_index (NcWal *wal);   /* first index still in the log */
guint64 nc_wal_last_index (NcWal *wal);    /* last appended (0 when empty) */
guint64 nc_wal_durable_index (NcWal *wal); /* last fdatasync'ed */
guint64 nc_wal_term_at (NcWal *wal, guint64 index); /* 0 when not in the log */
guint64 nc_wal_last_term (NcWal *wal);
/* Failure reason when failed, else NULL. (transfer full) */
char *nc_wal_failure (NcWal *wal);

/* Iterates records from `from` in order: callback gets index, term and the
 * payload bytes (transfer none). Stops when the callback returns FALSE. */
typedef gboolean (*NcWalRecordFunc) (guint64 index, guint64 term, const guint8 *payload,
                                     gsize len, gpointer user_data);
gboolean nc_wal_read (NcWal *wal, guint64 from, NcWalRecordFunc func, gpointer user_data,
                      GError **error);
/* Removes records after `index` (waits for queued writes first). */
gboolean nc_wal_truncate_after (NcWal *wal, guint64 index, GError **error);
/* Deletes whole segments whose records are all <= index. */
void nc_wal_compact (NcWal *wal, guint64 index);
/* Drops the whole log and restarts it at `first_index` (after installing a
 * snapshot from a peer). */
gboolean nc_wal_reset (NcWal *wal, guint64 first_index, GError **error);

/* Statistics for /metrics. */
typedef struct {
  guint64 records;
  guint64 bytes;
  guint64 fsyncs;
  guint64 batches;
  double last_fsync_seconds;
} NcWalStats;
void nc_wal_get_stats (NcWal *wal, NcWalStats *stats);
/* Observes every fsync's duration (seconds); called on the writer thread. */
void nc_wal_set_fsync_observer (NcWal *wal, void (*observe) (double seconds, gpointer data), gpointer data);

/* CRC32C (Castagnoli), software table implementation. */
guint32 nc_crc32c (guint32 crc, const guint8 *data, gsize len);

G_END_DECLS
