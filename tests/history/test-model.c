/* test-model.c — the history as a lazily loaded GListModel
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>

#include "hb-history-model.h"

typedef struct {
  guint position, removed, added, calls;
} Change;

static void
on_items_changed (GListModel *model, guint position, guint removed, guint added, Change *change)
{
  change->position = position;
  change->removed = removed;
  change->added = added;
  change->calls++;
}

static void
wait_loaded (HbHistoryModel *model)
{
  while (hb_history_model_get_loading (model))
    g_main_context_iteration (NULL, TRUE);
}

static gint64
add (HbHistoryStore *store, const char *prompt)
{
  g_autoptr(HbGenerationRecord) record = hb_generation_record_new ();
  g_autoptr(HbImage) image = hb_image_new (4, 4);
  g_autoptr(GError) error = NULL;
  gint64 id;

  g_free (record->prompt);
  record->prompt = g_strdup (prompt);
  id = hb_history_store_add (store, record, image, NULL, NULL, &error);
  g_assert_no_error (error);
  return id;
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
test_model (void)
{
  g_autofree char *folder = g_dir_make_tmp ("hb-model-XXXXXX", NULL);
  g_autoptr(HbHistoryStore) store = hb_history_store_open (folder, NULL);
  g_autoptr(HbHistoryModel) model = NULL;
  g_autoptr(HbHistoryItem) first = NULL;
  g_autoptr(HbHistoryItem) last = NULL;
  HbHistoryQuery query = { "number" };
  Change change = { 0 };
  gint64 newest;

  for (int i = 0; i < 120; i++)
    {
      g_autofree char *prompt = g_strdup_printf ("picture number %d", i);

      add (store, prompt);
    }
  add (store, "something else");

  model = hb_history_model_new (store);
  g_signal_connect (model, "items-changed", G_CALLBACK (on_items_changed), &change);
  wait_loaded (model);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, 121);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (model)) == HB_TYPE_HISTORY_ITEM);

  /* Records arrive after the item, from the worker. */
  last = g_list_model_get_item (G_LIST_MODEL (model), 120);
  while (hb_history_item_get_record (last) == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (hb_history_item_get_record (last)->prompt, ==, "picture number 0");
  hb_history_item_load_thumbnail (last);
  while (hb_history_item_get_thumbnail (last) == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_null (g_list_model_get_item (G_LIST_MODEL (model), 121));

  /* A new picture appears at the top, reported as one insertion. */
  change.calls = 0;
  newest = add (store, "the newest");
  while (change.calls == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (change.position, ==, 0);
  g_assert_cmpuint (change.removed, ==, 0);
  g_assert_cmpuint (change.added, ==, 1);
  first = g_list_model_get_item (G_LIST_MODEL (model), 0);
  g_assert_cmpint (hb_history_item_get_id (first), ==, newest);

  /* Deleting reports a removal in place. */
  change.calls = 0;
  g_assert_true (hb_history_store_delete (store, &newest, 1, NULL));
  while (change.calls == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (change.position, ==, 0);
  g_assert_cmpuint (change.removed, ==, 1);
  g_assert_cmpuint (change.added, ==, 0);

  hb_history_model_set_query (model, &query);
  wait_loaded (model);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, 120);

  g_clear_object (&model);
  g_clear_object (&first);
  g_clear_object (&last);
  g_clear_object (&store);
  remove_tree (folder);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/history/model/paging-and-changes", test_model);
  return g_test_run ();
}
