/* JSON mechanics shared by the replication modules' admin endpoints and
 * health bodies (ha_standby.so, raft.so). Header-only and not installed: a
 * module links no core symbols, and what each module writes stays in the
 * module; only the json-glib boilerplate lives here. */
#pragma once

#include <json-glib/json-glib.h>
#include "nornicdb/module.h"

/* `name`: an integer member. */
static inline void
nornic_json_int (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

/* `name`: a string member (`v` must not be NULL). */
static inline void
nornic_json_string (JsonBuilder *b, const char *name, const char *v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, v);
}

/* `name`: a string member, or null when `v` is NULL (no leader, no vote). */
static inline void
nornic_json_string_or_null (JsonBuilder *b, const char *name, const char *v)
{
  json_builder_set_member_name (b, name);
  if (v)
    json_builder_add_string_value (b, v);
  else
    json_builder_add_null_value (b);
}

static inline void
nornic_json_bool (JsonBuilder *b, const char *name, gboolean v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, v);
}

static inline void
nornic_json_double (JsonBuilder *b, const char *name, double v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, v);
}

/* The finished builder's document, compact. (transfer full) */
static inline char *
nornic_json_text (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* A builder with the document's top-level object begun. (transfer full) */
static inline JsonBuilder *
nornic_json_object_new (void)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  return b;
}

/* Answers an admin request with the finished builder's document. */
static inline void
nornic_json_reply (NornicHttpReply *reply, guint status, JsonBuilder *b)
{
  reply->status = status;
  reply->json = nornic_json_text (b);
}

/* Ends the top-level object nornic_json_object_new began and answers with
 * the document. */
static inline void
nornic_json_reply_object (NornicHttpReply *reply, guint status, JsonBuilder *b)
{
  json_builder_end_object (b);
  nornic_json_reply (reply, status, b);
}
