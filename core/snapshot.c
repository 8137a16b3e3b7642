/* Snapshots (see snapshot.h for the format).
 *
 * Details the header leaves open:
 * - Chunk lengths are never 0 (an encoded write-set has at least its
 *   version byte and count), so a length of 0 marks the trailer.
 * - The trailer's CRC32C covers every byte before the trailer: header and
 *   all chunks (lengths, CRCs and payloads). The file must end right after
 *   the trailer.
 * - A snapshot is written to "snapshot-<index>.snap.tmp-XXXXXX" and renamed
 *   into place only after it is complete and fsynced, so a crash leaves
 *   either nothing or a complete file under the final name. Files whose
 *   name is not exactly "snapshot-<20 digits>.snap" are never loaded.
 *
 * Choosing a snapshot: nc_snapshot_find_latest() returns the newest file
 * that validates completely. A newer file that fails validation (a disk
 * error, or damage after the fact, since rename makes torn files
 * impossible) is reported with g_warning and skipped. Falling back is only
 * safe when the WAL still holds every record after the older snapshot's
 * index: the caller (db open) must check that the WAL's first index is
 * <= older index + 1 and refuse to start otherwise. This is why WAL
 * compaction should not go past the oldest snapshot that is kept.
 */
#define G_LOG_DOMAIN "nornicdb-snapshot"

#include "le-bytes.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "wal.h"       /* nc_crc32c */
#include "writeset.h"

#define SNAP_MAGIC "NCSNAP01"
#define SNAP_HEADER_SIZE 24
#define CHUNK_HEADER_SIZE 8
/* Effects per chunk: big enough to amortise the chunk header, small enough
 * that one chunk's encoding stays a few MiB. */
#define DUMP_BATCH_EFFECTS 1024
#define WRITE_BUFFER (1024 * 1024)

G_DEFINE_QUARK (nc-snapshot-error-quark, nc_snapshot_error)


static char *
snapshot_dir (const char *dir)
{
  return g_build_filename (dir, "snapshots", NULL);
}

/* Parses "snapshot-<20 digits>.snap" exactly. */
static gboolean
parse_snapshot_name (const char *name, guint64 *index)
{
  if (strlen (name) != 9 + 20 + 5 || !g_str_has_prefix (name, "snapshot-")
      || !g_str_has_suffix (name, ".snap"))
    return FALSE;
  char digits[21];
  memcpy (digits, name + 9, 20);
  digits[20] = '\0';
  return g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64, index, NULL);
}

/* Parses "snapshot-<20 digits>.snap.tmp-*" (an unfinished write). */
static gboolean
parse_tmp_name (const char *name, guint64 *index)
{
  if (strlen (name) <= 9 + 20 + 9 || !g_str_has_prefix (name, "snapshot-")
      || strncmp (name + 9 + 20, ".snap.tmp-", 10) != 0)
    return FALSE;
  char digits[21];
  memcpy (digits, name + 9, 20);
  digits[20] = '\0';
  return g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64, index, NULL);
}

/* ---- writing -------------------------------------------------------------- */

typedef struct {
  int fd;
  const char *path;
  GByteArray *buf;
  guint32 crc;        /* of every byte put so far */
} SnapWriter;

static gboolean
writer_flush (SnapWriter *w, GError **error)
{
  const guint8 *p = w->buf->data;
  gsize len = w->buf->len;
  while (len > 0)
    {
      ssize_t n = write (w->fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = n < 0 ? errno : EIO;
          g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO, "write failed on %s: %s",
                       w->path, g_strerror (saved));
          return FALSE;
        }
      p += n;
      len -= (gsize) n;
    }
  g_byte_array_set_size (w->buf, 0);
  return TRUE;
}

static gboolean
writer_put (SnapWriter *w, const guint8 *data, gsize len, GError **error)
{
  w->crc = nc_crc32c (w->crc, data, len);
  g_byte_array_append (w->buf, data, (guint) len);
  return w->buf->len < WRITE_BUFFER || writer_flush (w, error);
}

static gboolean
emit_chunk_cb (const NcWriteSet *batch, gpointer user_data, GError **error)
{
  SnapWriter *w = user_data;
  g_autoptr(GBytes) encoded = nc_writeset_encode (batch);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (encoded, &len);
  if (len == 0 || len > G_MAXUINT32)
    {
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO,
                   "snapshot chunk of %" G_GSIZE_FORMAT " bytes cannot be stored", len);
      return FALSE;
    }
  guint8 hdr[CHUNK_HEADER_SIZE];
  wr32 (hdr, (guint32) len);
  wr32 (hdr + 4, nc_crc32c (0, data, len));
  return writer_put (w, hdr, sizeof hdr, error) && writer_put (w, data, len, error);
}

static gboolean
fsync_path_dir (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync (fd) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO, "cannot sync directory %s: %s",
                   dir, g_strerror (saved));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

/* Everything but the final rename; the file at `tmp` is complete and
 * durable when this returns TRUE. */
static gboolean
write_tmp (int fd, const char *tmp, NcTxn *read_txn, guint64 index, guint64 term,
           const NcWriteSet *extra, GError **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_sized_new (WRITE_BUFFER + 64 * 1024);
  SnapWriter w = { fd, tmp, buf, 0 };
  guint8 hdr[SNAP_HEADER_SIZE];
  memcpy (hdr, SNAP_MAGIC, 8);
  wr64 (hdr + 8, index);
  wr64 (hdr + 16, term);
  if (!writer_put (&w, hdr, sizeof hdr, error))
    return FALSE;
  if (!nc_store_dump (read_txn, DUMP_BATCH_EFFECTS, emit_chunk_cb, &w, error))
    return FALSE;
  /* State kept outside the store (the user table) goes last, as one more
   * chunk of META effects: older readers apply it as nothing. */
  if (extra != NULL && nc_writeset_len (extra) > 0 && !emit_chunk_cb (extra, &w, error))
    return FALSE;
  guint8 trailer[CHUNK_HEADER_SIZE];
  wr32 (trailer, 0);
  wr32 (trailer + 4, w.crc);
  if (!writer_put (&w, trailer, sizeof trailer, error) || !writer_flush (&w, error))
    return FALSE;
  if (fsync (fd) < 0)
    {
      int saved = errno;
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO, "fsync failed on %s: %s", tmp,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

char *
nc_snapshot_write (const char *dir, NcTxn *read_txn, guint64 index, guint64 term,
                   GError **error)
{
  return nc_snapshot_write_extra (dir, read_txn, index, term, NULL, error);
}

char *
nc_snapshot_write_extra (const char *dir, NcTxn *read_txn, guint64 index, guint64 term,
                         const NcWriteSet *extra, GError **error)
{
  g_autofree char *sdir = snapshot_dir (dir);
  if (g_mkdir_with_parents (sdir, 0700) < 0)
    {
      int saved = errno;
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO, "cannot create %s: %s", sdir,
                   g_strerror (saved));
      return NULL;
    }
  /* The directory's own entry must be durable too, or a power loss right
   * after the first snapshot (and the WAL compaction it allows) could lose
   * the whole directory. */
  if (!fsync_path_dir (dir, error))
    {
      g_prefix_error (error, "cannot write snapshot: ");
      return NULL;
    }
  g_autofree char *final = g_strdup_printf ("%s/snapshot-%020" G_GUINT64_FORMAT ".snap", sdir,
                                            index);
  g_autofree char *tmp = g_strdup_printf ("%s.tmp-XXXXXX", final);
  int fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO, "cannot create %s: %s", tmp,
                   g_strerror (saved));
      return NULL;
    }

  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = write_tmp (fd, tmp, read_txn, index, term, extra, error);
  if (close (fd) < 0 && ok)
    {
      int saved = errno;
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO, "close failed on %s: %s", tmp,
                   g_strerror (saved));
      ok = FALSE;
    }
  if (ok && g_rename (tmp, final) < 0)
    {
      int saved = errno;
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO, "cannot rename %s to %s: %s",
                   tmp, final, g_strerror (saved));
      ok = FALSE;
    }
  if (!ok)
    {
      g_unlink (tmp);
      g_prefix_error (error, "cannot write snapshot %s: ", final);
      return NULL;
    }
  /* The rename is durable only once the directory is. */
  if (!fsync_path_dir (sdir, error))
    {
      g_prefix_error (error, "cannot write snapshot %s: ", final);
      return NULL;
    }
  g_message ("snapshot %s written (index %" G_GUINT64_FORMAT ", term %" G_GUINT64_FORMAT
             ", %.2f s)", final, index, term,
             (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC);
  return g_steal_pointer (&final);
}

/* ---- reading ------------------------------------------------------------- */

typedef gboolean (*ChunkFunc) (const guint8 *data, gsize len, gsize offset, gpointer user_data,
                               GError **error);

/* Validates the whole file; with `chunk` set, then calls it for every chunk
 * in order (only after everything validated, so nothing is applied from a
 * damaged file). */
static gboolean
snapshot_parse (const char *path, const guint8 *data, gsize size, guint64 *index,
                guint64 *term, ChunkFunc chunk, gpointer user_data, GError **error)
{
  if (size < SNAP_HEADER_SIZE + CHUNK_HEADER_SIZE || memcmp (data, SNAP_MAGIC, 8) != 0)
    {
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT,
                   "snapshot %s is corrupt at byte offset 0: %s", path,
                   size < SNAP_HEADER_SIZE + CHUNK_HEADER_SIZE ? "file too short"
                                                               : "bad magic");
      return FALSE;
    }
  gsize off = SNAP_HEADER_SIZE;
  for (;;)
    {
      if (size - off < CHUNK_HEADER_SIZE)
        {
          g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT,
                       "snapshot %s is corrupt at byte offset %" G_GSIZE_FORMAT
                       ": file ends without a trailer", path, off);
          return FALSE;
        }
      guint32 len = rd32 (data + off);
      guint32 crc = rd32 (data + off + 4);
      if (len == 0)
        {
          if (off + CHUNK_HEADER_SIZE != size)
            {
              g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT,
                           "snapshot %s is corrupt at byte offset %" G_GSIZE_FORMAT
                           ": data after the trailer", path, off + CHUNK_HEADER_SIZE);
              return FALSE;
            }
          if (nc_crc32c (0, data, off) != crc)
            {
              g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT,
                           "snapshot %s is corrupt at byte offset %" G_GSIZE_FORMAT
                           ": file checksum mismatch", path, off);
              return FALSE;
            }
          break;
        }
      if ((gsize) len > size - off - CHUNK_HEADER_SIZE)
        {
          g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT,
                       "snapshot %s is corrupt at byte offset %" G_GSIZE_FORMAT
                       ": chunk of %u bytes runs past the end of the file", path, off, len);
          return FALSE;
        }
      if (nc_crc32c (0, data + off + CHUNK_HEADER_SIZE, len) != crc)
        {
          g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT,
                       "snapshot %s is corrupt at byte offset %" G_GSIZE_FORMAT
                       ": chunk checksum mismatch", path, off);
          return FALSE;
        }
      off += CHUNK_HEADER_SIZE + len;
    }
  *index = rd64 (data + 8);
  *term = rd64 (data + 16);
  if (chunk == NULL)
    return TRUE;

  for (off = SNAP_HEADER_SIZE; rd32 (data + off) != 0; off += CHUNK_HEADER_SIZE + rd32 (data + off))
    if (!chunk (data + off + CHUNK_HEADER_SIZE, rd32 (data + off), off, user_data, error))
      return FALSE;
  return TRUE;
}

static GMappedFile *
map_snapshot (const char *path, GError **error)
{
  g_autoptr(GError) local = NULL;
  GMappedFile *map = g_mapped_file_new (path, FALSE, &local);
  if (map == NULL)
    g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_IO, "cannot read snapshot %s: %s",
                 path, local->message);
  return map;
}

/* Validates `path`, also checking its header against the index in its
 * name. */
static gboolean
snapshot_check_file (const char *path, guint64 name_index, guint64 *index, guint64 *term,
                     GError **error)
{
  g_autoptr(GMappedFile) map = map_snapshot (path, error);
  if (map == NULL)
    return FALSE;
  if (!snapshot_parse (path, (const guint8 *) g_mapped_file_get_contents (map),
                       g_mapped_file_get_length (map), index, term, NULL, NULL, error))
    return FALSE;
  if (*index != name_index)
    {
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT,
                   "snapshot %s is corrupt at byte offset 8: header index %" G_GUINT64_FORMAT
                   " does not match its file name", path, *index);
      return FALSE;
    }
  return TRUE;
}

typedef struct {
  NcStore *store;
  guint64 index;
  const char *path;
  NcWriteSet *meta;   /* META effects seen, handed over once all chunks loaded */
} Loader;

static gboolean
apply_chunk_cb (const guint8 *data, gsize len, gsize offset, gpointer user_data, GError **error)
{
  Loader *l = user_data;
  g_autoptr(GError) local = NULL;
  g_autoptr(NcWriteSet) ws = nc_writeset_decode (data, len, &local);
  if (ws == NULL || !nc_store_apply_writeset (l->store, ws, l->index, &local))
    {
      /* The checksum matched, so this is a writer bug or a version skew,
       * not disk damage; still the file cannot be used. */
      g_set_error (error, NC_SNAPSHOT_ERROR, NC_SNAPSHOT_ERROR_CORRUPT,
                   "snapshot %s: chunk at byte offset %" G_GSIZE_FORMAT " does not load: %s",
                   l->path, offset, local->message);
      return FALSE;
    }
  for (guint i = 0; l->meta != NULL && i < nc_writeset_len (ws); i++)
    if (nc_writeset_get (ws, i)->kind == NC_EFFECT_META)
      nc_writeset_append (l->meta, nc_writeset_get (ws, i));
  return TRUE;
}

gboolean
nc_snapshot_load (const char *path, NcStore *store, guint64 *index, guint64 *term,
                  GError **error)
{
  return nc_snapshot_load_meta (path, store, index, term, NULL, NULL, error);
}

gboolean
nc_snapshot_load_meta (const char *path, NcStore *store, guint64 *index, guint64 *term,
                       NcSnapshotMetaFunc meta_cb, gpointer user_data, GError **error)
{
  g_autoptr(GMappedFile) map = map_snapshot (path, error);
  if (map == NULL)
    return FALSE;
  const guint8 *data = (const guint8 *) g_mapped_file_get_contents (map);
  gsize size = g_mapped_file_get_length (map);
  guint64 idx = 0, trm = 0;
  /* The index is needed to apply chunks, so it is read from the header
   * first; snapshot_parse validates everything before applying anything. */
  g_autoptr(NcWriteSet) meta = meta_cb != NULL ? nc_writeset_new () : NULL;
  Loader l = { store, size >= SNAP_HEADER_SIZE ? rd64 (data + 8) : 0, path, meta };
  if (!snapshot_parse (path, data, size, &idx, &trm, apply_chunk_cb, &l, error))
    return FALSE;
  nc_store_publish (store, idx);
  for (guint i = 0; meta != NULL && i < nc_writeset_len (meta); i++)
    meta_cb (nc_writeset_get (meta, i), idx, user_data);
  if (index != NULL)
    *index = idx;
  if (term != NULL)
    *term = trm;
  g_message ("snapshot %s loaded (index %" G_GUINT64_FORMAT ", term %" G_GUINT64_FORMAT ")",
             path, idx, trm);
  return TRUE;
}

typedef struct {
  guint64 index;
  char *path;
  gboolean tmp;
} SnapFile;

static void
snap_file_free (gpointer data)
{
  SnapFile *f = data;
  g_free (f->path);
  g_free (f);
}

static gint
compare_newest_first (gconstpointer a, gconstpointer b)
{
  const SnapFile *fa = *(SnapFile * const *) a, *fb = *(SnapFile * const *) b;
  return fa->index > fb->index ? -1 : fa->index < fb->index;
}

/* Snapshot files (and unfinished tmp files), newest first. */
static GPtrArray *
list_snapshots (const char *dir)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (snap_file_free);
  g_autofree char *sdir = snapshot_dir (dir);
  g_autoptr(GDir) d = g_dir_open (sdir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      guint64 index;
      gboolean tmp = FALSE;
      if (!parse_snapshot_name (name, &index) && !(tmp = parse_tmp_name (name, &index)))
        continue;
      SnapFile *f = g_new0 (SnapFile, 1);
      f->index = index;
      f->path = g_build_filename (sdir, name, NULL);
      f->tmp = tmp;
      g_ptr_array_add (out, f);
    }
  g_ptr_array_sort (out, compare_newest_first);
  return out;
}

char *
nc_snapshot_find_latest (const char *dir, guint64 *index, guint64 *term)
{
  g_autoptr(GPtrArray) files = list_snapshots (dir);
  for (guint i = 0; i < files->len; i++)
    {
      SnapFile *f = files->pdata[i];
      if (f->tmp)
        continue;
      g_autoptr(GError) error = NULL;
      guint64 idx = 0, trm = 0;
      if (!snapshot_check_file (f->path, f->index, &idx, &trm, &error))
        {
          g_warning ("%s; falling back to an older snapshot (the WAL must still hold every "
                     "record after it)", error->message);
          continue;
        }
      if (index != NULL)
        *index = idx;
      if (term != NULL)
        *term = trm;
      return g_strdup (f->path);
    }
  return NULL;
}

void
nc_snapshot_prune (const char *dir, guint keep)
{
  g_autoptr(GPtrArray) files = list_snapshots (dir);
  guint valid = 0;
  guint64 newest_valid = 0;
  gboolean any_valid = FALSE;
  gboolean deleted = FALSE;
  for (guint i = 0; i < files->len; i++)
    {
      SnapFile *f = files->pdata[i];
      if (f->tmp)
        continue;
      if (valid >= keep)
        {
          /* Older than the newest `keep` valid snapshots: not needed. */
          if (g_unlink (f->path) == 0)
            deleted = TRUE;
          else
            g_warning ("cannot delete snapshot %s: %s", f->path, g_strerror (errno));
          continue;
        }
      g_autoptr(GError) error = NULL;
      guint64 idx, trm;
      if (snapshot_check_file (f->path, f->index, &idx, &trm, &error))
        {
          if (!any_valid)
            newest_valid = f->index;
          any_valid = TRUE;
          valid++;
        }
      else
        /* Not counted towards `keep`, left for an operator to look at. */
        g_warning ("%s; not counted as a kept snapshot", error->message);
    }
  /* An unfinished write older than a complete snapshot is a crash leftover
   * (a newer one may be a write in progress). */
  for (guint i = 0; i < files->len; i++)
    {
      SnapFile *f = files->pdata[i];
      if (f->tmp && any_valid && f->index <= newest_valid && g_unlink (f->path) == 0)
        deleted = TRUE;
    }
  if (deleted)
    {
      g_autofree char *sdir = snapshot_dir (dir);
      g_autoptr(GError) error = NULL;
      if (!fsync_path_dir (sdir, &error))
        g_warning ("%s", error->message);
    }
}
