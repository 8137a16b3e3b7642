/* Helpers shared by the multi-region unit tests. */
#pragma once

#include <glib.h>
#include <string.h>

static inline int
region_test_cmp_str_ptr (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* A key=value store (char* -> char*) as "k1=v1;k2=v2;", keys sorted, so two
 * regions' stores compare as strings. (transfer full) */
static inline char *
region_test_store_text (GHashTable *st)
{
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, st);
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_ptr_array_add (keys, k);
  g_ptr_array_sort (keys, region_test_cmp_str_ptr);
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < keys->len; i++)
    g_string_append_printf (out, "%s=%s;", (char *) keys->pdata[i], (char *) g_hash_table_lookup (st, keys->pdata[i]));
  return g_string_free (out, FALSE);
}
