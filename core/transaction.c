/* Transactions and results: the API Bolt and HTTP use (core/db.h).
 *
 * A write transaction holds the store's writer lock from begin to commit.
 * Commit hands the write-set to the replication module, which assigns its
 * log index; the store's versions are tagged with it and the writer lock
 * is released at once, so the next writer can run while this one waits for
 * durability (that is what lets many transactions share one fdatasync).
 * The committing thread then waits for the module's completion; only then
 * is the index published to readers and the client answered. */
#define G_LOG_DOMAIN "nornicdb-tx"

#include "db-private.h"
#include "errors.h"

#include <glib/gi18n.h>
#include <string.h>

struct _NcTransaction {
  NcDb *db;
  NcTxn *txn;
  gboolean is_write;
  gboolean failed;
  gboolean finished;
  gint64 deadline_us;
  char *user;
  gboolean may_write;
  gboolean is_admin;
  NcResult *open_result; /* weak */
  NcCypherHooks hooks;
  /* The user table this transaction commits (a NC_USERS_META_KEY effect is
   * in its write-set), applied locally once the commit is acknowledged;
   * NULL value when none. */
  NcValue users_table;
  /* It holds db->users_change_busy (released when it ends). */
  gboolean holds_users_change;
};

struct _NcResult {
  NcDb *db;
  NcTransaction *tx;         /* NULL once detached (buffered or finished) */
  gboolean owns_tx;          /* auto-commit */
  NcCypherQuery *query;
  NcCypherExec *exec;
  NcCypherContext ctx;
  GPtrArray *buffer;         /* rows (NcValue arrays) drained early */
  guint buffer_pos;
  NcValue *buffer_row;       /* current buffered row */
  guint n_fields;
  gboolean done;
  GError *error;             /* sticky failure */
  char *bookmark;
  NcQueryStats stats;
  NcQueryType type;
  NcValue plan;
  gint64 start_us;
};

/* ---- replicated user changes ------------------------------------------------
 *
 * A user change is a write transaction whose write-set holds one META effect
 * NC_USERS_META_KEY carrying the whole user table after the change
 * (core/users.h). It is validated on the writer against a detached copy of
 * the table, committed through the replication module like any graph
 * write, and applied here only once the commit is acknowledged (followers,
 * standbys and WAL replay apply it in db.c). Only one change is staged or in
 * flight at a time (db->users_change_busy), so each starts from the table
 * the previous one left; the flag is always taken before the writer lock,
 * except by an explicit write transaction that already holds the writer
 * lock, which only tries it (and fails with a transient error when another
 * change is in flight) so the two can never wait for each other. */

typedef enum {
  USERS_OP_CREATE,
  USERS_OP_DROP,
  USERS_OP_SET_PASSWORD,
  USERS_OP_SET_ROLE,
} UsersOpKind;

typedef struct {
  UsersOpKind kind;
  const char *user;
  const char *password;
  NcUserRole role;
  gboolean flag; /* IF NOT EXISTS / IF EXISTS */
} UsersOp;

static gboolean
users_change_acquire (NcDb *db, gboolean wait, GError **error)
{
  gint64 timeout_ms = nc_config_get_duration_ms (db->config, "NORNICDB_TX_TIMEOUT");
  gint64 deadline = g_get_monotonic_time () + (timeout_ms > 0 ? timeout_ms : 30000) * 1000;
  g_mutex_lock (&db->users_change_lock);
  while (db->users_change_busy && wait)
    if (!g_cond_wait_until (&db->users_change_cond, &db->users_change_lock, deadline))
      break;
  if (db->users_change_busy)
    {
      g_mutex_unlock (&db->users_change_lock);
      g_set_error (error, NC_ERROR, NC_ERROR_LOCK_TIMEOUT,
                   _("Another user management change is in progress; retry the command"));
      return FALSE;
    }
  db->users_change_busy = TRUE;
  g_mutex_unlock (&db->users_change_lock);
  return TRUE;
}

static void
users_change_release (NcDb *db)
{
  g_mutex_lock (&db->users_change_lock);
  db->users_change_busy = FALSE;
  g_cond_broadcast (&db->users_change_cond);
  g_mutex_unlock (&db->users_change_lock);
}

static void
tx_release_users_change (NcTransaction *tx)
{
  if (!tx->holds_users_change)
    return;
  tx->holds_users_change = FALSE;
  users_change_release (tx->db);
}

static gboolean
users_op_run (NcUsers *staged, const UsersOp *op, GError **error)
{
  switch (op->kind)
    {
    case USERS_OP_CREATE:
      return nc_users_create (staged, op->user, op->password, op->role, op->flag, error);
    case USERS_OP_DROP:
      return nc_users_drop (staged, op->user, op->flag, error);
    case USERS_OP_SET_PASSWORD:
      return nc_users_set_password (staged, op->user, op->password, error);
    case USERS_OP_SET_ROLE:
      return nc_users_set_role (staged, op->user, op->role, error);
    }
  g_return_val_if_reached (FALSE);
}

/* Runs `ops` on a copy of the table (`base` when set: what a transaction
 * already changed it to) with the usual validation. *after is the new
 * table, or a NULL value when the table does not change (IF NOT EXISTS on
 * an existing user, IF EXISTS on a missing one). */
static gboolean
stage_users_change (NcDb *db, const NcValue *base, const UsersOp *ops, guint n_ops, NcValue *after,
                    GError **error)
{
  g_autoptr (NcUsers) staged = nc_users_copy_detached (db->users);
  *after = nc_value_null ();
  if (base != NULL && base->type != NC_VALUE_NULL && !nc_users_replace (staged, base, error))
    return FALSE;
  g_auto (NcValue) before = nc_users_export (staged);
  for (guint i = 0; i < n_ops; i++)
    if (!users_op_run (staged, &ops[i], error))
      return FALSE;
  g_auto (NcValue) table = nc_users_export (staged);
  if (!nc_value_equivalent (&before, &table))
    {
      *after = table;
      table = nc_value_null ();
    }
  return TRUE;
}

/* Records `table` (taken) in the write transaction's write-set, to be
 * applied locally once its commit is acknowledged. */
static void
record_users_change (NcTransaction *tx, NcValue table)
{
  NcEffect e = { .kind = NC_EFFECT_META, .name = (char *) NC_USERS_META_KEY, .value = table };
  nc_writeset_append (nc_txn_writeset (tx->txn), &e);
  nc_value_clear (&tx->users_table);
  tx->users_table = table;
}

static gboolean check_writable (NcDb *db, GError **error);

/* Applies `ops` to the replicated user table: inside `outer` when that is a
 * write transaction (committed with it), else in a write transaction of its
 * own, committed before this returns. On a node that does not accept writes
 * that transaction cannot begin and this fails exactly like a graph write. */
static gboolean
change_users (NcDb *db, NcTransaction *outer, const UsersOp *ops, guint n_ops, GError **error)
{
  NcValue after;
  if (outer != NULL && outer->is_write)
    {
      if (!outer->holds_users_change)
        {
          if (!users_change_acquire (db, FALSE, error))
            return FALSE;
          outer->holds_users_change = TRUE;
        }
      if (!stage_users_change (db, &outer->users_table, ops, n_ops, &after, error))
        return FALSE;
      if (after.type != NC_VALUE_NULL)
        record_users_change (outer, after);
      return TRUE;
    }

  if (!users_change_acquire (db, TRUE, error))
    return FALSE;
  /* A node that does not accept writes says so before validating, like a
   * graph write; hashing a new password (PBKDF2) then runs before the
   * writer lock is taken, not while graph writes wait for it. */
  if (!check_writable (db, error) || !stage_users_change (db, NULL, ops, n_ops, &after, error))
    {
      users_change_release (db);
      return FALSE;
    }
  if (after.type == NC_VALUE_NULL)
    {
      users_change_release (db);
      return TRUE;
    }
  NcTxOptions o = { .mode = NC_ACCESS_WRITE, .user = outer ? outer->user : NULL, .may_write = TRUE,
                    .is_admin = TRUE };
  NcTransaction *tx = nc_db_begin (db, &o, error);
  if (tx == NULL)
    {
      nc_value_clear (&after);
      users_change_release (db);
      return FALSE;
    }
  tx->holds_users_change = TRUE;
  record_users_change (tx, after);
  gboolean ok = nc_transaction_commit (tx, NULL, error);
  nc_transaction_free (tx);
  return ok;
}

gboolean
nc_db_create_user (NcDb *db, const char *user, const char *password, NcUserRole role,
                   gboolean if_not_exists, GError **error)
{
  UsersOp op = { USERS_OP_CREATE, user, password, role, if_not_exists };
  return change_users (db, NULL, &op, 1, error);
}

gboolean
nc_db_drop_user (NcDb *db, const char *user, gboolean if_exists, GError **error)
{
  UsersOp op = { USERS_OP_DROP, user, NULL, NC_USER_ROLE_NONE, if_exists };
  return change_users (db, NULL, &op, 1, error);
}

gboolean
nc_db_set_user_password (NcDb *db, const char *user, const char *password, GError **error)
{
  UsersOp op = { USERS_OP_SET_PASSWORD, user, password, NC_USER_ROLE_NONE, FALSE };
  return change_users (db, NULL, &op, 1, error);
}

gboolean
nc_db_set_user_role (NcDb *db, const char *user, NcUserRole role, GError **error)
{
  UsersOp op = { USERS_OP_SET_ROLE, user, NULL, role, FALSE };
  return change_users (db, NULL, &op, 1, error);
}

/* ---- system commands (users) ---------------------------------------------- */

static const char *
map_str (const NcMap *m, const char *key)
{
  const NcValue *v = nc_map_get (m, key);
  return (v && v->type == NC_VALUE_STRING) ? nc_value_str (v) : NULL;
}

static gboolean
map_bool (const NcMap *m, const char *key)
{
  const NcValue *v = nc_map_get (m, key);
  return v && v->type == NC_VALUE_BOOL && v->u.b;
}

static void
add_user_row (GPtrArray *rows, NcUsers *users, const char *name)
{
  NcList *row = nc_list_new (3);
  NcUserRole role = nc_users_role (users, name);
  row->items[0] = nc_value_string (name);
  NcList *roles = nc_list_new (1);
  roles->items[0] = nc_value_string (nc_user_role_name (role));
  row->items[1] = nc_value_list_take (roles);
  row->items[2] = nc_value_bool (FALSE);
  g_ptr_array_add (rows, row);
}

static gboolean
system_command_cb (gpointer user_data, const NcMap *command, GPtrArray **rows_out, GStrv *fields_out,
                   GError **error)
{
  NcTransaction *tx = user_data;
  NcUsers *users = tx->db->users;
  const char *op = map_str (command, "op");
  const char *user = map_str (command, "user");
  const char *password = map_str (command, "password");
  const char *role_name = map_str (command, "role");

  if (op == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_NOT_SUPPORTED, _("Malformed system command"));
      return FALSE;
    }
  *rows_out = g_ptr_array_new_with_free_func ((GDestroyNotify) nc_list_unref);
  *fields_out = NULL;

  if (g_ascii_strcasecmp (op, "show_current_user") == 0)
    {
      *fields_out = g_strsplit ("user,roles,passwordChangeRequired", ",", -1);
      if (tx->user)
        add_user_row (*rows_out, users, tx->user);
      return TRUE;
    }
  if (g_ascii_strcasecmp (op, "alter_current_user_password") == 0)
    {
      const char *old_pw = map_str (command, "old_password");
      NcUserRole r;
      if (tx->user == NULL || old_pw == NULL || password == NULL)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, _("ALTER CURRENT USER needs the current and the new password"));
          return FALSE;
        }
      if (!nc_users_authenticate (users, NULL, tx->user, old_pw, &r, NULL))
        {
          g_set_error (error, NC_ERROR, NC_ERROR_FORBIDDEN,
                       _("User '%s' failed to alter their own password: Invalid principal or credentials."), tx->user);
          return FALSE;
        }
      UsersOp uop = { USERS_OP_SET_PASSWORD, tx->user, password, NC_USER_ROLE_NONE, FALSE };
      return change_users (tx->db, tx, &uop, 1, error);
    }
  if (!tx->is_admin)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_FORBIDDEN,
                   _("Permission denied: user management needs the admin role (user '%s')."),
                   tx->user ? tx->user : "");
      return FALSE;
    }
  if (g_ascii_strcasecmp (op, "show_users") == 0)
    {
      *fields_out = g_strsplit ("user,roles,passwordChangeRequired", ",", -1);
      g_autoptr (GPtrArray) names = nc_users_list (users);
      for (guint i = 0; i < names->len; i++)
        add_user_row (*rows_out, users, g_ptr_array_index (names, i));
      return TRUE;
    }
  if (user == NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, _("User name missing"));
      return FALSE;
    }
  if (g_ascii_strcasecmp (op, "create_user") == 0)
    {
      NcUserRole role = role_name ? nc_user_role_from_name (role_name) : NC_USER_ROLE_EDITOR;
      if (role == NC_USER_ROLE_NONE)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, _("Unknown role '%s': expected reader, editor or admin"), role_name);
          return FALSE;
        }
      if (password == NULL)
        {
          g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, _("CREATE USER needs SET PASSWORD"));
          return FALSE;
        }
      UsersOp uop = { USERS_OP_CREATE, user, password, role, map_bool (command, "if_not_exists") };
      return change_users (tx->db, tx, &uop, 1, error);
    }
  if (g_ascii_strcasecmp (op, "drop_user") == 0)
    {
      UsersOp uop = { USERS_OP_DROP, user, NULL, NC_USER_ROLE_NONE, map_bool (command, "if_exists") };
      return change_users (tx->db, tx, &uop, 1, error);
    }
  if (g_ascii_strcasecmp (op, "alter_user") == 0)
    {
      /* Password and role change together, as one replicated change. */
      UsersOp uops[2];
      guint n = 0;
      if (password != NULL)
        uops[n++] = (UsersOp) { USERS_OP_SET_PASSWORD, user, password, NC_USER_ROLE_NONE, FALSE };
      if (role_name != NULL)
        {
          NcUserRole role = nc_user_role_from_name (role_name);
          if (role == NC_USER_ROLE_NONE)
            {
              g_set_error (error, NC_ERROR, NC_ERROR_ARGUMENT, _("Unknown role '%s': expected reader, editor or admin"), role_name);
              return FALSE;
            }
          uops[n++] = (UsersOp) { USERS_OP_SET_ROLE, user, NULL, role, FALSE };
        }
      return n == 0 || change_users (tx->db, tx, uops, n, error);
    }
  g_set_error (error, NC_ERROR, NC_ERROR_NOT_SUPPORTED, _("Unsupported system command %s"), op);
  return FALSE;
}

/* ---- transactions ------------------------------------------------------------ */

static gboolean
check_writable (NcDb *db, GError **error)
{
  g_autofree char *block = nc_db_write_block_reason (db);
  if (block != NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_WRITES_BLOCKED,
                   _("This database does not accept writes: %s"), block);
      return FALSE;
    }
  g_mutex_lock (&db->role_lock);
  gboolean ok = db->role.accepts_writes;
  NornicRole role = db->role.role;
  g_mutex_unlock (&db->role_lock);
  if (!ok)
    {
      static const char *const names[] = { "STANDALONE", "PRIMARY", "STANDBY", "LEADER", "FOLLOWER",
                                           "CANDIDATE", "LEARNER", "FENCED" };
      g_set_error (error, NC_ERROR, NC_ERROR_NOT_A_LEADER,
                   _("No write operations are allowed directly on this database. Writes must pass through the leader. The role of this server is: %s"),
                   role < G_N_ELEMENTS (names) ? names[role] : "UNKNOWN");
      return FALSE;
    }
  return TRUE;
}

static gboolean
wait_for_bookmarks (NcDb *db, const char *const *bookmarks, GError **error)
{
  guint64 need = 0;
  for (guint i = 0; bookmarks != NULL && bookmarks[i] != NULL; i++)
    {
      guint64 idx;
      if (!nc_bookmark_parse (bookmarks[i], &idx))
        {
          g_set_error (error, NC_ERROR, NC_ERROR_TX_INVALID,
                       _("Supplied bookmark '%s' does not conform to pattern nornicdb:<index>"), bookmarks[i]);
          return FALSE;
        }
      need = MAX (need, idx);
    }
  if (need == 0 || nc_store_visible_index (db->store) >= need)
    return TRUE;
  return nc_db_wait_visible (db, need, nc_config_get_duration_ms (db->config, "NORNICDB_BOOKMARK_TIMEOUT"), error);
}

/* Lets the module enforce a read consistency level (multi_region.so:
 * docs/multi-region.md) before the transaction takes its snapshot. The level
 * comes from the Bolt transaction metadata key "consistency". */
static gboolean
module_begin_transaction (NcDb *db, const NcTxOptions *opts, gboolean write, GError **error)
{
  if (db->vt->struct_size < G_STRUCT_OFFSET (NornicModuleVTable, begin_transaction) + sizeof (gpointer) ||
      db->vt->begin_transaction == NULL)
    return TRUE;
  const NcValue *c = opts->metadata ? nc_map_get (opts->metadata, "consistency") : NULL;
  if (c != NULL && c->type != NC_VALUE_STRING && c->type != NC_VALUE_NULL)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_REQUEST_INVALID,
                   _("Transaction metadata \"consistency\" must be a string such as \"LOCAL_QUORUM\""));
      return FALSE;
    }
  return db->vt->begin_transaction (db->mod, write, c && c->type == NC_VALUE_STRING ? nc_value_str (c) : NULL, error);
}

NcTransaction *
nc_db_begin (NcDb *db, const NcTxOptions *opts, GError **error)
{
  if (db->vt->can_serve_read && !db->vt->can_serve_read (db->mod, error))
    return NULL;
  if (!wait_for_bookmarks (db, opts->bookmarks, error))
    return NULL;
  gboolean write = opts->mode == NC_ACCESS_WRITE;
  if (!module_begin_transaction (db, opts, write, error))
    return NULL;
  if (write && !check_writable (db, error))
    return NULL;

  NcTransaction *tx = g_new0 (NcTransaction, 1);
  tx->db = db;
  tx->is_write = write;
  tx->user = g_strdup (opts->user);
  tx->may_write = opts->may_write;
  tx->is_admin = opts->is_admin;
  gint64 timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms
                                           : nc_config_get_duration_ms (db->config, "NORNICDB_TX_TIMEOUT");
  tx->deadline_us = timeout_ms > 0 ? g_get_monotonic_time () + timeout_ms * 1000 : 0;
  tx->hooks.user_data = tx;
  tx->hooks.system_command = system_command_cb;
  g_atomic_int_inc (&db->active_transactions);
  tx->txn = write ? nc_store_begin_write (db->store) : nc_store_begin_read (db->store);
  if (write && !check_writable (db, error))
    {
      /* The role changed while we waited for the writer lock. */
      nc_transaction_free (tx);
      return NULL;
    }
  return tx;
}

gboolean
nc_transaction_is_failed (NcTransaction *tx)
{
  return tx->failed;
}

static void
finish_store_txn (NcTransaction *tx, gboolean committed)
{
  if (tx->finished)
    return;
  tx->finished = TRUE;
  if (tx->txn != NULL && !committed)
    nc_txn_rollback (tx->txn);
  tx->txn = NULL;
  nc_metrics_inc (tx->db->metrics, "nornicdb_transactions_total",
                  committed ? "outcome=\"commit\"" : "outcome=\"rollback\"", 1);
  g_atomic_int_dec_and_test (&tx->db->active_transactions);
}

void
nc_transaction_rollback (NcTransaction *tx)
{
  if (tx->open_result != NULL)
    {
      NcResult *res = tx->open_result;
      /* The result reads through the store transaction that ends here. */
      if (res->exec != NULL)
        {
          g_clear_pointer (&res->exec, nc_cypher_exec_free);
          if (res->error == NULL)
            res->error = g_error_new (NC_ERROR, NC_ERROR_TX_TERMINATED,
                                      _("The transaction was rolled back before this result was consumed"));
          res->done = TRUE;
        }
      res->tx = NULL;
      tx->open_result = NULL;
    }
  finish_store_txn (tx, FALSE);
  nc_value_clear (&tx->users_table);
  tx_release_users_change (tx);
}

void
nc_transaction_free (NcTransaction *tx)
{
  if (tx == NULL)
    return;
  nc_transaction_rollback (tx);
  g_free (tx->user);
  g_free (tx);
}

/* Shared by the committing thread and the module's completion callback
 * (usually the WAL completer thread), each holding one reference. The
 * callback wakes the committer after releasing the lock: woken while the
 * lock is still held, the committer would at once block on it again, which
 * costs two extra context switches per commit and stalls the WAL's
 * completion loop (seen with strace at 16-64 Bolt clients). Its reference
 * keeps the condition alive for that late broadcast.
 *
 * The callback also publishes the index to readers when the committer has
 * already tagged its versions with it (`tagged`): done there, one thread
 * publishes a whole batch in index order, instead of every woken committer
 * contending for the visibility lock (4% of the daemon's context switches
 * at 64 clients, perf sched_switch). Publishing before `done` keeps
 * read-your-writes: the client is answered only after its write is
 * visible. A callback that comes before the tagging (the committer was
 * preempted between submit and nc_txn_commit) leaves it to the committer,
 * since readers must not see an index whose versions are not tagged yet. */
typedef struct {
  gint ref;
  GMutex lock;
  GCond cond;
  NcDb *db;
  gboolean tagged;
  gboolean published;
  gboolean done;
  gboolean ok;
  GError *error;
  NcValue users_table; /* applied on success before the index is published */
} CommitWaiter;

static CommitWaiter *
commit_waiter_new (NcDb *db)
{
  CommitWaiter *w = g_new0 (CommitWaiter, 1);
  w->db = db;
  w->ref = 2;
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  return w;
}

static void
commit_waiter_unref (CommitWaiter *w)
{
  if (!g_atomic_int_dec_and_test (&w->ref))
    return;
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_clear_error (&w->error);
  nc_value_clear (&w->users_table);
  g_free (w);
}

static void
commit_done_cb (guint64 index, gboolean ok, const GError *error, gpointer user_data)
{
  CommitWaiter *w = user_data;
  g_mutex_lock (&w->lock);
  w->ok = ok;
  if (w->users_table.type != NC_VALUE_NULL)
    {
      if (ok)
        {
          /* Before publishing: whoever sees the index sees the table. */
          g_autoptr (GError) uerr = NULL;
          if (!nc_users_replace (w->db->users, &w->users_table, &uerr))
            g_warning (_("Index %" G_GUINT64_FORMAT ": the user table could not be stored: %s"), index,
                       uerr->message);
          nc_db_users_applied_through (w->db, index);
        }
      else if (index > 0)
        {
          /* Not acknowledged, yet a next leader may still commit it. */
          g_mutex_lock (&w->db->users_change_lock);
          w->db->users_unsure_index = index;
          g_mutex_unlock (&w->db->users_change_lock);
        }
    }
  if (!ok)
    w->error = error ? g_error_copy (error)
                     : g_error_new (NC_ERROR, NC_ERROR_UNKNOWN, _("Commit failed for an unknown reason"));
  else if (w->tagged)
    {
      nc_db_publish (w->db, index);
      w->published = TRUE;
    }
  w->done = TRUE;
  g_mutex_unlock (&w->lock);
  g_cond_broadcast (&w->cond);
  commit_waiter_unref (w);
}

static void drain_open_result (NcTransaction *tx, gboolean keep_rows);

static gboolean commit_inner (NcTransaction *tx, char **bookmark, GError **error);

gboolean
nc_transaction_commit (NcTransaction *tx, char **bookmark, GError **error)
{
  gboolean ok = commit_inner (tx, bookmark, error);
  /* Applied (or failed) by now: the next user change may start. */
  nc_value_clear (&tx->users_table);
  tx_release_users_change (tx);
  return ok;
}

static gboolean
commit_inner (NcTransaction *tx, char **bookmark, GError **error)
{
  NcDb *db = tx->db;

  if (tx->finished)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TX_INVALID, _("The transaction has already been closed"));
      return FALSE;
    }
  drain_open_result (tx, FALSE);
  if (tx->failed)
    {
      nc_transaction_rollback (tx);
      g_set_error (error, NC_ERROR, NC_ERROR_TX_INVALID,
                   _("Transaction can not be committed because it has failed; it was rolled back"));
      return FALSE;
    }
  if (tx->deadline_us > 0 && g_get_monotonic_time () > tx->deadline_us)
    {
      nc_transaction_rollback (tx);
      g_set_error (error, NC_ERROR, NC_ERROR_TX_TIMEOUT,
                   _("The transaction has been terminated. Retry your operation in a new transaction, and you should see a successful result. The transaction has not completed within the specified timeout."));
      return FALSE;
    }

  if (!tx->is_write || nc_writeset_len (nc_txn_writeset (tx->txn)) == 0)
    {
      guint64 at = tx->is_write ? nc_store_visible_index (db->store) : nc_txn_snapshot (tx->txn);
      finish_store_txn (tx, FALSE);
      if (bookmark)
        *bookmark = nc_bookmark_format (at);
      return TRUE;
    }

  gint64 start = g_get_monotonic_time ();
  CommitWaiter *w = commit_waiter_new (db);
  w->users_table = tx->users_table;
  tx->users_table = nc_value_null ();
  GError *submit_error = NULL;
  guint64 index = db->vt->submit (db->mod, nc_txn_writeset (tx->txn), commit_done_cb, w, &submit_error);
  if (index == 0)
    {
      nc_transaction_rollback (tx);
      g_propagate_error (error, submit_error ? submit_error
                                             : g_error_new (NC_ERROR, NC_ERROR_UNKNOWN, _("The replication module refused the commit")));
      /* A refused commit never calls back: drop both references. */
      commit_waiter_unref (w);
      commit_waiter_unref (w);
      return FALSE;
    }
  nc_txn_commit (tx->txn, index);
  tx->txn = NULL;
  finish_store_txn (tx, TRUE);

  g_mutex_lock (&w->lock);
  w->tagged = TRUE;
  while (!w->done)
    g_cond_wait (&w->cond, &w->lock);
  gboolean committed = w->ok;
  gboolean published = w->published;
  GError *commit_error = g_steal_pointer (&w->error);
  g_mutex_unlock (&w->lock);
  commit_waiter_unref (w);

  if (!committed)
    {
      g_propagate_error (error, commit_error);
      return FALSE;
    }
  if (!published)
    nc_db_publish (db, index);
  nc_histogram_observe (db->commit_latency, (g_get_monotonic_time () - start) / 1e6);
  if (bookmark)
    *bookmark = nc_bookmark_format (index);
  return TRUE;
}

/* ---- results --------------------------------------------------------------- */

static void
row_free (gpointer p)
{
  NcList *row = p;
  nc_list_unref (row);
}

static void
result_fail (NcResult *res, GError *error)
{
  if (res->error == NULL)
    res->error = error;
  else
    g_error_free (error);
  res->done = TRUE;
  if (res->tx != NULL)
    res->tx->failed = TRUE;
}

static void
record_error_metric (NcDb *db, const GError *error)
{
  g_autofree char *labels = g_strdup_printf ("code=\"%s\"", nc_error_status (error));
  nc_metrics_inc (db->metrics, "nornicdb_query_errors_total", labels, 1);
}

static void
finish_exec (NcResult *res)
{
  if (res->exec == NULL)
    return;
  const NcQueryStats *st = nc_cypher_exec_stats (res->exec);
  if (st)
    res->stats = *st;
  res->type = nc_cypher_exec_query_type (res->exec);
  res->plan = nc_cypher_exec_plan (res->exec);
  g_clear_pointer (&res->exec, nc_cypher_exec_free);
}

/* Pulls one row from the engine (not the buffer). At the end of the rows,
 * and on an error, a store replaced by a snapshot install while the query
 * ran (reads of the old transaction then see nothing) turns the result into
 * a transient failure: the rows so far may mix two stores. */
static gboolean
pull_exec (NcResult *res, const NcValue **row, GError **error)
{
  GError *local = NULL;
  if (res->exec == NULL)
    return FALSE;
  if (nc_cypher_exec_next (res->exec, row, &local))
    return TRUE;
  GError *replaced = NULL;
  if (res->ctx.txn != NULL && !nc_txn_check_store (res->ctx.txn, &replaced))
    {
      g_clear_error (&local);
      local = replaced;
    }
  if (local != NULL)
    {
      record_error_metric (res->db, local);
      g_propagate_error (error, local);
      return FALSE;
    }
  finish_exec (res);
  return FALSE;
}

/* Moves the open result's remaining rows into its buffer (keep_rows) or
 * discards them, so another statement can run or the transaction end. */
static void
drain_open_result (NcTransaction *tx, gboolean keep_rows)
{
  NcResult *res = tx->open_result;
  if (res == NULL)
    return;
  tx->open_result = NULL;
  if (res->exec == NULL)
    {
      /* Already at its end: just detach it, the transaction may be freed
       * before the result is. */
      if (!res->owns_tx)
        res->tx = NULL;
      return;
    }
  if (keep_rows && res->buffer == NULL)
    res->buffer = g_ptr_array_new_with_free_func (row_free);
  const NcValue *row;
  GError *err = NULL;
  while (pull_exec (res, &row, &err))
    {
      if (!keep_rows)
        continue;
      NcList *copy = nc_list_new (res->n_fields);
      for (guint i = 0; i < res->n_fields; i++)
        copy->items[i] = nc_value_copy (&row[i]);
      g_ptr_array_add (res->buffer, copy);
    }
  if (err != NULL)
    result_fail (res, err);
  if (!res->owns_tx)
    res->tx = NULL;
}

static NcResult *
result_new (NcTransaction *tx, NcCypherQuery *q, const NcMap *params, GError **error)
{
  NcResult *res = g_new0 (NcResult, 1);
  res->db = tx->db;
  res->tx = tx;
  res->query = q;
  res->start_us = g_get_monotonic_time ();
  res->ctx.txn = tx->txn;
  res->ctx.store = tx->db->store;
  res->ctx.deadline_us = tx->deadline_us;
  res->ctx.memory_limit = nc_config_get_size (tx->db->config, "NORNICDB_QUERY_MEMORY_LIMIT");
  res->ctx.hooks = &tx->hooks;
  res->ctx.user = tx->user;
  res->ctx.is_admin = tx->is_admin;
  GError *local = NULL;
  res->exec = nc_cypher_execute (q, &res->ctx, params, &local);
  if (res->exec == NULL)
    {
      /* an eager operator may have run into a store replaced under it */
      GError *replaced = NULL;
      if (res->ctx.txn != NULL && !nc_txn_check_store (res->ctx.txn, &replaced))
        {
          g_clear_error (&local);
          local = replaced;
        }
      if (local != NULL)
        g_propagate_error (error, local);
      nc_cypher_query_unref (q);
      g_free (res);
      return NULL;
    }
  const char *const *fields = nc_cypher_exec_fields (res->exec);
  res->n_fields = fields ? g_strv_length ((GStrv) fields) : 0;
  return res;
}

static gboolean
check_statement_allowed (NcTransaction *tx, NcCypherQuery *q, GError **error)
{
  gboolean writes = nc_cypher_query_is_write (q) || nc_cypher_query_is_schema (q);
  if (!writes || nc_cypher_query_is_explain (q))
    return TRUE;
  if (!tx->may_write)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_FORBIDDEN,
                   _("Write operations are not allowed for user '%s' with roles [reader]."),
                   tx->user ? tx->user : "");
      return FALSE;
    }
  if (!tx->is_write)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_ACCESS_MODE,
                   _("Writing in read access mode not allowed. Attempted write to the database 'neo4j'."));
      return FALSE;
    }
  return TRUE;
}

static void
count_query (NcDb *db, NcCypherQuery *q)
{
  const char *type = nc_cypher_query_is_schema (q) ? "type=\"schema\""
                     : nc_cypher_query_is_write (q) ? "type=\"write\"" : "type=\"read\"";
  nc_metrics_inc (db->metrics, "nornicdb_queries_total", type, 1);
}

NcResult *
nc_transaction_run (NcTransaction *tx, const char *query, const NcMap *params, GError **error)
{
  if (tx->finished)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TX_INVALID, _("The transaction has been closed"));
      return NULL;
    }
  if (tx->failed)
    {
      g_set_error (error, NC_ERROR, NC_ERROR_TX_INVALID,
                   _("The transaction has failed and can only be rolled back"));
      return NULL;
    }
  drain_open_result (tx, TRUE);
  GError *local = NULL;
  NcCypherQuery *q = nc_cypher_prepare (tx->db->cache, query, &local);
  if (q == NULL || !check_statement_allowed (tx, q, &local))
    {
      if (q)
        nc_cypher_query_unref (q);
      record_error_metric (tx->db, local);
      tx->failed = TRUE;
      g_propagate_error (error, local);
      return NULL;
    }
  count_query (tx->db, q);
  NcResult *res = result_new (tx, q, params, &local);
  if (res == NULL)
    {
      record_error_metric (tx->db, local);
      tx->failed = TRUE;
      g_propagate_error (error, local);
      return NULL;
    }
  tx->open_result = res;
  return res;
}

NcResult *
nc_db_run_autocommit (NcDb *db, const NcTxOptions *opts, const char *query, const NcMap *params,
                      GError **error)
{
  GError *local = NULL;
  NcCypherQuery *q = nc_cypher_prepare (db->cache, query, &local);
  if (q == NULL)
    {
      record_error_metric (db, local);
      g_propagate_error (error, local);
      return NULL;
    }
  gboolean writes = (nc_cypher_query_is_write (q) || nc_cypher_query_is_schema (q)) &&
                    !nc_cypher_query_is_explain (q);
  NcTxOptions o = *opts;
  if (writes && !opts->may_write)
    {
      nc_cypher_query_unref (q);
      g_set_error (error, NC_ERROR, NC_ERROR_FORBIDDEN,
                   _("Write operations are not allowed for user '%s' with roles [reader]."),
                   opts->user ? opts->user : "");
      record_error_metric (db, *error);
      return NULL;
    }
  if (writes && opts->mode == NC_ACCESS_READ)
    {
      nc_cypher_query_unref (q);
      g_set_error (error, NC_ERROR, NC_ERROR_ACCESS_MODE,
                   _("Writing in read access mode not allowed. Attempted write to the database 'neo4j'."));
      record_error_metric (db, *error);
      return NULL;
    }
  o.mode = writes ? NC_ACCESS_WRITE : NC_ACCESS_READ;
  NcTransaction *tx = nc_db_begin (db, &o, &local);
  if (tx == NULL)
    {
      nc_cypher_query_unref (q);
      record_error_metric (db, local);
      g_propagate_error (error, local);
      return NULL;
    }
  count_query (db, q);
  NcResult *res = result_new (tx, q, params, &local);
  if (res == NULL)
    {
      record_error_metric (db, local);
      nc_transaction_free (tx);
      g_propagate_error (error, local);
      return NULL;
    }
  res->owns_tx = TRUE;
  tx->open_result = res;
  return res;
}

const char *const *
nc_result_fields (NcResult *res)
{
  return nc_cypher_query_fields (res->query);
}

guint
nc_result_n_fields (NcResult *res)
{
  return res->n_fields;
}

/* End of rows: for auto-commit, commit now. */
static gboolean
result_complete (NcResult *res, GError **error)
{
  res->done = TRUE;
  nc_histogram_observe (res->db->query_latency, (g_get_monotonic_time () - res->start_us) / 1e6);
  if (!res->owns_tx || res->tx == NULL)
    return TRUE;
  NcTransaction *tx = res->tx;
  tx->open_result = NULL;
  GError *local = NULL;
  gboolean ok = nc_transaction_commit (tx, &res->bookmark, &local);
  nc_transaction_free (tx);
  res->tx = NULL;
  if (!ok)
    {
      res->error = g_error_copy (local);
      g_propagate_error (error, local);
    }
  return ok;
}

gboolean
nc_result_next (NcResult *res, const NcValue **row, GError **error)
{
  if (res->error != NULL)
    {
      if (error)
        *error = g_error_copy (res->error);
      return FALSE;
    }
  if (res->buffer != NULL)
    {
      if (res->buffer_pos < res->buffer->len)
        {
          NcList *l = g_ptr_array_index (res->buffer, res->buffer_pos++);
          *row = l->items;
          return TRUE;
        }
      if (!res->done)
        result_complete (res, error);
      return FALSE;
    }
  if (res->done)
    return FALSE;
  GError *local = NULL;
  if (pull_exec (res, row, &local))
    return TRUE;
  if (local != NULL)
    {
      result_fail (res, g_error_copy (local));
      if (res->owns_tx && res->tx)
        {
          NcTransaction *tx = res->tx;
          tx->open_result = NULL;
          res->tx = NULL;
          nc_transaction_free (tx);
        }
      g_propagate_error (error, local);
      return FALSE;
    }
  result_complete (res, error);
  return FALSE;
}

gboolean
nc_result_finish (NcResult *res, char **bookmark, GError **error)
{
  const NcValue *row;
  GError *local = NULL;
  while (nc_result_next (res, &row, &local))
    ;
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (bookmark)
    *bookmark = g_strdup (res->bookmark);
  return TRUE;
}

const NcQueryStats *
nc_result_stats (NcResult *res)
{
  return &res->stats;
}

NcQueryType
nc_result_query_type (NcResult *res)
{
  return res->type;
}

NcValue
nc_result_plan (NcResult *res)
{
  return nc_value_copy (&res->plan);
}

NcValue
nc_result_notifications (NcResult *res)
{
  return nc_value_null ();
}

const char *
nc_result_bookmark (NcResult *res)
{
  return res->bookmark;
}

void
nc_result_free (NcResult *res)
{
  if (res == NULL)
    return;
  if (res->tx != NULL && res->tx->open_result == res)
    res->tx->open_result = NULL;
  g_clear_pointer (&res->exec, nc_cypher_exec_free);
  if (res->owns_tx && res->tx != NULL)
    nc_transaction_free (res->tx); /* never finished: roll back */
  if (res->query)
    nc_cypher_query_unref (res->query);
  if (res->buffer)
    g_ptr_array_unref (res->buffer);
  nc_value_clear (&res->plan);
  g_clear_error (&res->error);
  g_free (res->bookmark);
  g_free (res);
}
