/* Online backup (a tar.gz of a snapshot at a visible index plus users) and
 * the start-up side of restoring one. See backup.h for the archive layout
 * and docs/operations.md for the operator's procedure.
 *
 * Why a temporary file and not a stream straight to the client: a ustar
 * header carries its member's size, and the snapshot's size is known only
 * once it is written; writing the archive to disk first also lets the HTTP
 * layer answer 500 naming the cause (disk full, ...) instead of cutting a
 * download short after a 200. Memory stays bounded (the snapshot writer
 * and the tar writer both work in fixed-size buffers); disk needs room for
 * one snapshot plus the compressed archive, under <data dir>/.backup-tmp-*.
 */
#define G_LOG_DOMAIN "nornicdb-backup"

#include "nc-build-config.h"
#include "backup.h"
#include "db-private.h"
#include "errors.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#define TAR_BLOCK 512
#define COPY_BUFFER (256 * 1024)
#define TMP_PREFIX ".backup-tmp-"
#define USERS_FILE "users.json"

G_DEFINE_QUARK (nc-backup-error-quark, nc_backup_error)

/* One backup at a time per process: two would only compete for the disk. */
static GMutex backup_lock;

void
nc_backup_result_clear (NcBackupResult *r)
{
  g_clear_pointer (&r->file_name, g_free);
}

/* ---- tar (POSIX ustar) ---------------------------------------------------- */

static void
tar_octal (char *field, gsize width, guint64 value)
{
  /* width-1 octal digits and a NUL, as GNU tar writes them. */
  g_snprintf (field, width, "%0*" PRIo64, (int) (width - 1), value);
}

static gboolean
tar_header (GOutputStream *out, const char *name, char type, guint64 size, gint64 mtime,
            GError **error)
{
  guint8 h[TAR_BLOCK] = { 0 };
  if (strlen (name) >= 100)
    {
      g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_IO, "backup member name too long: %s", name);
      return FALSE;
    }
  memcpy (h, name, strlen (name));
  tar_octal ((char *) h + 100, 8, type == '5' ? 0700 : 0600);
  tar_octal ((char *) h + 108, 8, 0);
  tar_octal ((char *) h + 116, 8, 0);
  if (size < (G_GUINT64_CONSTANT (1) << 33))
    tar_octal ((char *) h + 124, 12, size);
  else
    {
      /* Over 8 GiB: the base-256 form GNU tar and bsdtar read (first byte
       * 0x80, then the size big-endian). */
      h[124] = 0x80;
      for (int i = 11; i >= 1; i--, size >>= 8)
        h[124 + i] = (guint8) (size & 0xff);
    }
  tar_octal ((char *) h + 136, 12, (guint64) MAX (mtime, 0));
  memset (h + 148, ' ', 8);
  h[156] = (guint8) type;
  memcpy (h + 257, "ustar", 6);   /* "ustar\0" */
  memcpy (h + 263, "00", 2);
  memcpy (h + 265, "nornicdb", 8);
  memcpy (h + 297, "nornicdb", 8);
  guint sum = 0;
  for (guint i = 0; i < TAR_BLOCK; i++)
    sum += h[i];
  g_snprintf ((char *) h + 148, 8, "%06o", sum);
  h[155] = ' ';
  return g_output_stream_write_all (out, h, sizeof h, NULL, NULL, error);
}

static gboolean
tar_pad (GOutputStream *out, guint64 size, GError **error)
{
  static const guint8 zeros[TAR_BLOCK] = { 0 };
  gsize rem = (gsize) (size % TAR_BLOCK);
  if (rem == 0)
    return TRUE;
  return g_output_stream_write_all (out, zeros, TAR_BLOCK - rem, NULL, NULL, error);
}

static gboolean
tar_bytes (GOutputStream *out, const char *name, const char *data, gsize len, gint64 mtime,
           GError **error)
{
  return tar_header (out, name, '0', len, mtime, error)
         && g_output_stream_write_all (out, data, len, NULL, NULL, error)
         && tar_pad (out, len, error);
}

/* Copies exactly `size` bytes of `path` (its size when we stat'ed it; the
 * file is ours and no longer changes). */
static gboolean
tar_file (GOutputStream *out, const char *name, const char *path, guint64 size, gint64 mtime,
          GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_IO, "cannot open %s: %s", path, g_strerror (e));
      return FALSE;
    }
  if (!tar_header (out, name, '0', size, mtime, error))
    {
      close (fd);
      return FALSE;
    }
  g_autofree guint8 *buf = g_malloc (COPY_BUFFER);
  guint64 left = size;
  while (left > 0)
    {
      ssize_t n = read (fd, buf, (size_t) MIN (left, (guint64) COPY_BUFFER));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int e = n < 0 ? errno : EIO;
          g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_IO, "reading %s: %s", path,
                       n < 0 ? g_strerror (e) : "file shorter than expected");
          close (fd);
          return FALSE;
        }
      if (!g_output_stream_write_all (out, buf, (gsize) n, NULL, NULL, error))
        {
          close (fd);
          return FALSE;
        }
      left -= (guint64) n;
    }
  close (fd);
  return tar_pad (out, size, error);
}

/* ---- archive -------------------------------------------------------------- */

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static char *
build_manifest (guint64 index, guint64 term, const NcBackupSource *src, const char *snap_member,
                guint64 snap_size, guint64 users_size, gint64 now)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (now);
  g_autofree char *created = g_date_time_format_iso8601 (dt);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_int_value (b, NC_BACKUP_FORMAT_VERSION);
  json_builder_set_member_name (b, "server_version");
  json_builder_add_string_value (b, NC_VERSION);
  json_builder_set_member_name (b, "index");
  json_builder_add_int_value (b, (gint64) index);
  json_builder_set_member_name (b, "term");
  json_builder_add_int_value (b, (gint64) term);
  json_builder_set_member_name (b, "mode");
  json_builder_add_string_value (b, src->mode ? src->mode : "standalone");
  json_builder_set_member_name (b, "node_id");
  json_builder_add_string_value (b, src->node_id ? src->node_id : "");
  json_builder_set_member_name (b, "role");
  json_builder_add_string_value (b, src->role ? src->role : "");
  json_builder_set_member_name (b, "created_at");
  json_builder_add_string_value (b, created);
  json_builder_set_member_name (b, "replication_state");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "snapshot");
  json_builder_add_string_value (b, snap_member);
  json_builder_set_member_name (b, "members");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "path");
  json_builder_add_string_value (b, snap_member);
  json_builder_set_member_name (b, "size");
  json_builder_add_int_value (b, (gint64) snap_size);
  json_builder_end_object (b);
  if (src->users_path != NULL)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, USERS_FILE);
      json_builder_set_member_name (b, "size");
      json_builder_add_int_value (b, (gint64) users_size);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

char *
nc_backup_write_archive (GOutputStream *out, const char *work_dir, NcTxn *txn, guint64 index,
                         guint64 term, const NcBackupSource *src, GError **error)
{
  if (g_mkdir_with_parents (work_dir, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_IO, "cannot create %s: %s", work_dir, g_strerror (e));
      return NULL;
    }
  g_autofree char *snap = nc_snapshot_write (work_dir, txn, index, term, error);
  if (snap == NULL)
    {
      g_prefix_error (error, "writing the backup snapshot: ");
      return NULL;
    }
  GStatBuf st;
  if (g_stat (snap, &st) != 0)
    {
      int e = errno;
      g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_IO, "cannot stat %s: %s", snap, g_strerror (e));
      return NULL;
    }
  guint64 snap_size = (guint64) st.st_size;
  g_autofree char *base = g_path_get_basename (snap);
  g_autofree char *snap_member = g_strconcat ("snapshots/", base, NULL);

  /* users.json is replaced atomically (rename) by users.c, so reading it
   * gives one whole version. */
  g_autofree char *users = NULL;
  gsize users_len = 0;
  NcBackupSource s = *src;
  if (s.users_path != NULL && !g_file_get_contents (s.users_path, &users, &users_len, NULL))
    s.users_path = NULL;

  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  char *manifest = build_manifest (index, term, &s, snap_member, snap_size, users_len, now);

  g_autoptr (GZlibCompressor) z = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 6);
  g_autoptr (GOutputStream) gz = g_converter_output_stream_new (out, G_CONVERTER (z));
  g_filter_output_stream_set_close_base_stream (G_FILTER_OUTPUT_STREAM (gz), FALSE);
  static const guint8 end[2 * TAR_BLOCK] = { 0 };
  /* The manifest comes first: an archive cut short still carries it, and
   * start-up then refuses the incomplete snapshot instead of starting
   * empty. */
  gboolean ok = tar_bytes (gz, NC_BACKUP_MANIFEST, manifest, strlen (manifest), now, error)
                && tar_header (gz, "snapshots/", '5', 0, now, error)
                && tar_file (gz, snap_member, snap, snap_size, now, error)
                && (s.users_path == NULL || tar_bytes (gz, USERS_FILE, users, users_len, now, error))
                && g_output_stream_write_all (gz, end, sizeof end, NULL, NULL, error)
                && g_output_stream_close (gz, NULL, error);
  if (!ok)
    {
      g_prefix_error (error, "writing the backup archive: ");
      g_free (manifest);
      return NULL;
    }
  g_unlink (snap);
  return manifest;
}

/* ---- online backup ------------------------------------------------------ */

static const char *
role_name (NornicRole r)
{
  switch (r)
    {
    case NORNIC_ROLE_STANDALONE: return "standalone";
    case NORNIC_ROLE_PRIMARY: return "primary";
    case NORNIC_ROLE_STANDBY: return "standby";
    case NORNIC_ROLE_LEADER: return "leader";
    case NORNIC_ROLE_FOLLOWER: return "follower";
    case NORNIC_ROLE_CANDIDATE: return "candidate";
    case NORNIC_ROLE_LEARNER: return "learner";
    case NORNIC_ROLE_FENCED: return "fenced";
    default: return "unknown";
    }
}

/* Leftovers of a backup interrupted by a crash. */
static void
remove_stale_tmp (const char *data_dir)
{
  g_autoptr (GDir) d = g_dir_open (data_dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, TMP_PREFIX))
      {
        g_autofree char *p = g_build_filename (data_dir, name, NULL);
        rm_rf (p);
      }
}

static void
count_result (NcDb *db, gboolean ok)
{
  nc_metrics_inc (db->metrics, "nornicdb_backups_total", ok ? "result=\"ok\"" : "result=\"error\"", 1);
}

int
nc_backup_create (NcDb *db, guint64 min_index, NcBackupResult *result, GError **error)
{
  memset (result, 0, sizeof *result);
  if (min_index > 0
      && !nc_db_wait_visible (db, min_index, nc_config_get_duration_ms (db->config, "NORNICDB_BOOKMARK_TIMEOUT"), error))
    {
      count_result (db, FALSE);
      return -1;
    }
  if (!g_mutex_trylock (&backup_lock))
    {
      g_set_error_literal (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_BUSY,
                           _("another backup is running on this server; try again when it has finished"));
      return -1;
    }
  /* Keeps nc_db_close from freeing the store under us. */
  g_atomic_int_inc (&db->active_transactions);
  gint64 started = g_get_monotonic_time ();
  remove_stale_tmp (db->data_dir);

  g_autofree char *tmpl = g_build_filename (db->data_dir, TMP_PREFIX "XXXXXX", NULL);
  g_autofree char *work = NULL;
  int fd = -1;
  GError *local = NULL;
  if (g_mkdtemp (tmpl) == NULL)
    {
      int e = errno;
      g_set_error (&local, NC_BACKUP_ERROR, NC_BACKUP_ERROR_IO, _("cannot create a temporary directory in %s: %s"),
                   db->data_dir, g_strerror (e));
      goto out;
    }
  work = g_strdup (tmpl);

  {
    g_autofree char *archive = g_build_filename (work, "backup.tar.gz", NULL);
    g_autofree char *users = g_build_filename (db->data_dir, USERS_FILE, NULL);
    g_autoptr (GFile) file = g_file_new_for_path (archive);
    g_autoptr (GFileOutputStream) fout = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL, &local);
    if (fout == NULL)
      goto out;

    gint generation = g_atomic_int_get (&db->store_generation);
    NcTxn *txn = nc_store_begin_read (db->store);
    guint64 index = nc_txn_snapshot (txn);
    guint64 term = index > 0 ? nc_wal_term_at (db->wal, index) : 0;
    if (term == 0 && index > 0)
      {
        /* The WAL was compacted past `index`: take the term of the
         * snapshot that covers it, when that is the one. */
        guint64 si = 0, stt = 0;
        g_free (nc_snapshot_find_latest (db->data_dir, &si, &stt));
        if (si == index)
          term = stt;
      }
    g_mutex_lock (&db->role_lock);
    NornicRole role = db->role.role;
    g_mutex_unlock (&db->role_lock);
    NcBackupSource src = {
      .mode = nc_config_get (db->config, "NORNICDB_CLUSTER_MODE"),
      .node_id = db->node_id,
      .role = role_name (role),
      .users_path = g_file_test (users, G_FILE_TEST_IS_REGULAR) ? users : NULL,
    };
    g_autofree char *manifest = nc_backup_write_archive (G_OUTPUT_STREAM (fout), work, txn, index, term, &src, &local);
    nc_txn_rollback (txn);
    if (manifest == NULL || !g_output_stream_close (G_OUTPUT_STREAM (fout), NULL, local ? NULL : &local))
      goto out;
    if ((generation & 1) != 0 || g_atomic_int_get (&db->store_generation) != generation)
      {
        /* A follower installed a snapshot from its leader meanwhile: the
         * store was cleared and reloaded under our read, so what we wrote
         * may mix two states. */
        g_set_error_literal (&local, NC_BACKUP_ERROR, NC_BACKUP_ERROR_IO,
                             _("this node installed a snapshot from its leader while the backup was being "
                               "written; try again"));
        goto out;
      }

    fd = g_open (archive, O_RDONLY | O_CLOEXEC, 0);
    GStatBuf st;
    if (fd < 0 || fstat (fd, &st) != 0)
      {
        int e = errno;
        g_set_error (&local, NC_BACKUP_ERROR, NC_BACKUP_ERROR_IO, "cannot reopen %s: %s", archive, g_strerror (e));
        if (fd >= 0)
          close (fd);
        fd = -1;
        goto out;
      }
    result->index = index;
    result->term = term;
    result->size = (guint64) st.st_size;
    result->file_name = g_strdup_printf ("nornicdb-backup-%s-%" PRIu64 ".tar.gz",
                                         db->node_id ? db->node_id : "node", index);
  }

out:
  if (work != NULL)
    rm_rf (work);   /* the open descriptor keeps the archive readable */
  g_atomic_int_dec_and_test (&db->active_transactions);
  g_mutex_unlock (&backup_lock);
  count_result (db, fd >= 0);
  if (fd >= 0)
    {
      double secs = (double) (g_get_monotonic_time () - started) / G_USEC_PER_SEC;
      nc_metrics_set (db->metrics, "nornicdb_backup_last_success_timestamp_seconds", NULL,
                      (double) g_get_real_time () / G_USEC_PER_SEC);
      nc_metrics_set (db->metrics, "nornicdb_backup_last_size_bytes", NULL, (double) result->size);
      nc_metrics_set (db->metrics, "nornicdb_backup_last_duration_seconds", NULL, secs);
      g_message (_("Backup at index %" PRIu64 " written (%" PRIu64 " bytes, %.2f s)"), result->index,
                 result->size, secs);
    }
  else
    {
      g_warning (_("Backup failed: %s"), local->message);
      g_propagate_error (error, local);
    }
  return fd;
}

/* ---- restore ------------------------------------------------------------ */

typedef struct {
  char *path;
  guint64 size;
} Member;

static void
member_free (gpointer p)
{
  Member *m = p;
  g_free (m->path);
  g_free (m);
}

/* A member path from the manifest must stay inside the data directory. */
static gboolean
safe_member_path (const char *p)
{
  if (p == NULL || *p == '\0' || g_path_is_absolute (p))
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (p, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (strcmp (parts[i], "..") == 0 || strcmp (parts[i], ".") == 0 || *parts[i] == '\0')
      return FALSE;
  return TRUE;
}

static gboolean
restore_error (GError **error, const char *manifest, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
restore_error (GError **error, const char *manifest, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_RESTORE,
               _("cannot restore the backup described by %s: %s. Extract the whole archive again into an empty "
                 "data directory (tar -xzf backup.tar.gz -C <data dir>) and check that tar reports no error"),
               manifest, msg);
  return FALSE;
}

static gboolean
move_aside (const char *from, const char *aside_dir, const char *name, GError **error)
{
  if (g_mkdir_with_parents (aside_dir, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_RESTORE, _("cannot create %s: %s"), aside_dir,
                   g_strerror (e));
      return FALSE;
    }
  g_autofree char *to = g_build_filename (aside_dir, name, NULL);
  if (g_rename (from, to) != 0)
    {
      int e = errno;
      g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_RESTORE, _("cannot move %s to %s: %s"), from, to,
                   g_strerror (e));
      return FALSE;
    }
  g_warning (_("Restoring a backup: moved %s (not part of the backup) to %s"), from, to);
  return TRUE;
}

static gboolean
dir_is_empty (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  return d == NULL || g_dir_read_name (d) == NULL;
}

gboolean
nc_backup_prepare_restore (const char *data_dir, const char *module_data_dir, GError **error)
{
  remove_stale_tmp (data_dir);
  g_autofree char *manifest_path = g_build_filename (data_dir, NC_BACKUP_MANIFEST, NULL);
  if (!g_file_test (manifest_path, G_FILE_TEST_EXISTS))
    return TRUE;

  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) perr = NULL;
  if (!json_parser_load_from_file (parser, manifest_path, &perr))
    return restore_error (error, manifest_path, _("the manifest is not valid JSON (%s)"), perr->message);
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return restore_error (error, manifest_path, _("the manifest is not a JSON object"));
  JsonObject *o = json_node_get_object (root);
  gint64 format = json_object_get_int_member_with_default (o, "format", -1);
  if (format != NC_BACKUP_FORMAT_VERSION)
    return restore_error (error, manifest_path, _("backup format %" PRId64 " is not supported (this server reads format %d)"),
                          format, NC_BACKUP_FORMAT_VERSION);
  const char *snapshot = json_object_get_string_member_with_default (o, "snapshot", NULL);
  guint64 index = (guint64) json_object_get_int_member_with_default (o, "index", 0);
  JsonArray *members = json_object_has_member (o, "members") ? json_object_get_array_member (o, "members") : NULL;
  if (!safe_member_path (snapshot) || !g_str_has_prefix (snapshot, "snapshots/") || members == NULL)
    return restore_error (error, manifest_path, _("the manifest lacks \"snapshot\" or \"members\""));

  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (member_free);
  for (guint i = 0; i < json_array_get_length (members); i++)
    {
      JsonNode *n = json_array_get_element (members, i);
      if (!JSON_NODE_HOLDS_OBJECT (n))
        return restore_error (error, manifest_path, _("member %u is not an object"), i);
      JsonObject *mo = json_node_get_object (n);
      const char *p = json_object_get_string_member_with_default (mo, "path", NULL);
      gint64 size = json_object_get_int_member_with_default (mo, "size", -1);
      if (!safe_member_path (p) || size < 0)
        return restore_error (error, manifest_path, _("member %u has no valid path or size"), i);
      Member *m = g_new0 (Member, 1);
      m->path = g_strdup (p);
      m->size = (guint64) size;
      g_ptr_array_add (list, m);
    }

  /* Every member present with its recorded size: catches an extraction
   * that stopped early (tar writes members in order, the snapshot last
   * but users.json). */
  for (guint i = 0; i < list->len; i++)
    {
      Member *m = list->pdata[i];
      g_autofree char *p = g_build_filename (data_dir, m->path, NULL);
      GStatBuf st;
      if (g_stat (p, &st) != 0)
        return restore_error (error, manifest_path, _("%s is missing"), p);
      if ((guint64) st.st_size != m->size)
        return restore_error (error, manifest_path, _("%s has %" PRIu64 " bytes but the backup holds %" PRIu64),
                              p, (guint64) st.st_size, m->size);
    }

  /* The snapshot must validate (CRC32C over the whole file) before anything
   * is moved: a byte changed in the archive or on disk would otherwise make
   * the loader skip it and start with an empty database. It is checked
   * alone through a hard link in a scratch directory, since the data
   * directory may still hold newer snapshots of its own. */
  g_autofree char *expected = g_build_filename (data_dir, snapshot, NULL);
  g_autofree char *snap_base = g_path_get_basename (snapshot);
  {
    g_autofree char *scratch = g_build_filename (data_dir, TMP_PREFIX "restore-check", NULL);
    g_autofree char *scratch_snaps = g_build_filename (scratch, "snapshots", NULL);
    g_autofree char *link_path = g_build_filename (scratch_snaps, snap_base, NULL);
    rm_rf (scratch);
    if (g_mkdir_with_parents (scratch_snaps, 0700) != 0)
      {
        int e = errno;
        g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_RESTORE, _("cannot check %s: %s"), expected,
                     g_strerror (e));
        return FALSE;
      }
    if (link (expected, link_path) != 0)
      {
        int e = errno;
        if (e == ENOENT)
          {
            rm_rf (scratch);
            return restore_error (error, manifest_path, _("%s is missing"), expected);
          }
        /* A file system without hard links: check a copy. */
        g_autoptr (GFile) from = g_file_new_for_path (expected);
        g_autoptr (GFile) to = g_file_new_for_path (link_path);
        g_autoptr (GError) cerr = NULL;
        if (!g_file_copy (from, to, G_FILE_COPY_NONE, NULL, NULL, NULL, &cerr))
          {
            rm_rf (scratch);
            g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_RESTORE, _("cannot check %s: %s"), expected,
                         cerr->message);
            return FALSE;
          }
      }
    guint64 found_index = 0;
    g_autofree char *found = nc_snapshot_find_latest (scratch, &found_index, NULL);
    rm_rf (scratch);
    if (found == NULL || found_index != index)
      return restore_error (error, manifest_path,
                            _("the snapshot %s does not pass its checksum (the archive or the disk is damaged)"),
                            expected);
  }

  /* Move aside what is not the backup's: the guide's procedure extracts
   * into the old data directory of node 1, whose newer snapshots, WAL and
   * replication state would otherwise win over the backup. Nothing is
   * deleted. */
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%dT%H%M%SZ");
  g_autofree char *aside_name = g_strconcat ("pre-restore-", stamp, NULL);
  g_autofree char *aside = g_build_filename (data_dir, aside_name, NULL);
  g_autofree char *snap_dir = g_build_filename (data_dir, "snapshots", NULL);
  {
    g_autoptr (GDir) d = g_dir_open (snap_dir, 0, NULL);
    const char *name;
    g_autofree char *aside_snaps = g_build_filename (aside, "snapshots", NULL);
    while (d != NULL && (name = g_dir_read_name (d)) != NULL)
      if (strcmp (name, snap_base) != 0)
        {
          g_autofree char *p = g_build_filename (snap_dir, name, NULL);
          if (!move_aside (p, aside_snaps, name, error))
            return FALSE;
        }
  }
  g_autofree char *wal_dir = g_build_filename (data_dir, "wal", NULL);
  {
    g_autoptr (GDir) d = g_dir_open (wal_dir, 0, NULL);
    const char *name;
    g_autofree char *aside_wal = g_build_filename (aside, "wal", NULL);
    while (d != NULL && (name = g_dir_read_name (d)) != NULL)
      if (strcmp (name, "LOCK") != 0)
        {
          g_autofree char *p = g_build_filename (wal_dir, name, NULL);
          if (!move_aside (p, aside_wal, name, error))
            return FALSE;
        }
  }
  if (module_data_dir != NULL && !dir_is_empty (module_data_dir))
    {
      /* Replication state (Raft term, vote, membership; HA epochs) belongs
       * to the log the backup does not carry. */
      g_autoptr (GDir) d = g_dir_open (module_data_dir, 0, NULL);
      const char *name;
      g_autofree char *aside_repl = g_build_filename (aside, "replication", NULL);
      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *p = g_build_filename (module_data_dir, name, NULL);
          if (!move_aside (p, aside_repl, name, error))
            return FALSE;
        }
    }

  g_autofree char *done = g_build_filename (data_dir, NC_BACKUP_RESTORED_MANIFEST, NULL);
  if (g_rename (manifest_path, done) != 0)
    {
      int e = errno;
      g_set_error (error, NC_BACKUP_ERROR, NC_BACKUP_ERROR_RESTORE, _("cannot rename %s to %s: %s"), manifest_path,
                   done, g_strerror (e));
      return FALSE;
    }
  g_message (_("Restoring the backup at index %" PRIu64 " from %s"), index, expected);
  return TRUE;
}

void
nc_backup_declare_metrics (NcMetrics *m)
{
  nc_metrics_declare (m, "nornicdb_backups_total", "counter", "Online backups (POST /admin/backup) by result");
  nc_metrics_inc (m, "nornicdb_backups_total", "result=\"ok\"", 0);
  nc_metrics_inc (m, "nornicdb_backups_total", "result=\"error\"", 0);
  nc_metrics_declare (m, "nornicdb_backup_last_success_timestamp_seconds", "gauge",
                      "Unix time of the last successful backup (0: none since start)");
  nc_metrics_set (m, "nornicdb_backup_last_success_timestamp_seconds", NULL, 0);
  nc_metrics_declare (m, "nornicdb_backup_last_size_bytes", "gauge", "Size of the last successful backup archive");
  nc_metrics_set (m, "nornicdb_backup_last_size_bytes", NULL, 0);
  nc_metrics_declare (m, "nornicdb_backup_last_duration_seconds", "gauge", "Time the last successful backup took");
  nc_metrics_set (m, "nornicdb_backup_last_duration_seconds", NULL, 0);
}
