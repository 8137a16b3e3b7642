#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static gint max_level = G_LOG_LEVEL_INFO;
static gboolean cluster_debug;
static gboolean to_journal;

static const struct { const char *name; GLogLevelFlags level; } levels[] = {
  { "error", G_LOG_LEVEL_CRITICAL },
  { "warning", G_LOG_LEVEL_WARNING },
  { "warn", G_LOG_LEVEL_WARNING },
  { "message", G_LOG_LEVEL_MESSAGE },
  { "info", G_LOG_LEVEL_INFO },
  { "debug", G_LOG_LEVEL_DEBUG },
};

gboolean
nc_log_level_valid (const char *level)
{
  for (gsize i = 0; i < G_N_ELEMENTS (levels); i++)
    if (g_ascii_strcasecmp (levels[i].name, level) == 0)
      return TRUE;
  return FALSE;
}

void
nc_log_set_level (const char *level)
{
  for (gsize i = 0; level != NULL && i < G_N_ELEMENTS (levels); i++)
    if (g_ascii_strcasecmp (levels[i].name, level) == 0)
      g_atomic_int_set (&max_level, levels[i].level);
}

static const char *
level_name (GLogLevelFlags l)
{
  if (l & G_LOG_LEVEL_ERROR) return "ERROR";
  if (l & G_LOG_LEVEL_CRITICAL) return "CRITICAL";
  if (l & G_LOG_LEVEL_WARNING) return "WARNING";
  if (l & G_LOG_LEVEL_MESSAGE) return "MESSAGE";
  if (l & G_LOG_LEVEL_INFO) return "INFO";
  return "DEBUG";
}

static gboolean
is_cluster_domain (const char *domain)
{
  return domain != NULL && (strstr (domain, "cluster") || strstr (domain, "raft") ||
                            strstr (domain, "standby") || strstr (domain, "region") ||
                            strstr (domain, "standalone"));
}

static GLogWriterOutput
writer_cb (GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *domain = NULL, *message = NULL;
  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
      else if (strcmp (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
    }
  GLogLevelFlags lvl = log_level & G_LOG_LEVEL_MASK;
  /* GLib levels: lower bit = more severe. */
  if ((gint) lvl > g_atomic_int_get (&max_level) &&
      !(lvl == G_LOG_LEVEL_DEBUG && cluster_debug && is_cluster_domain (domain)))
    return G_LOG_WRITER_HANDLED;
  if (to_journal && g_log_writer_journald (log_level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *ts = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S.%fZ");
  fprintf (stderr, "%s %s %s: %s\n", ts, level_name (lvl), domain ? domain : "nornicdb",
           message ? message : "");
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

void
nc_log_init (const char *level, gboolean debug_cluster)
{
  nc_log_set_level (level);
  cluster_debug = debug_cluster;
  to_journal = g_log_writer_is_journald (fileno (stderr));
  g_log_set_writer_func (writer_cb, NULL, NULL);
}
