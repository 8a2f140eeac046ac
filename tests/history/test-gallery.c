/* test-gallery.c — the gallery: search, reuse, delete and undo (under Xvfb)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>

#include "hb-gallery-view.h"
#include "hb-history-model.h"

static HbGenerationRecord *reused;

static void
on_reuse (HbGalleryView *view, const HbGenerationRecord *record, gpointer user_data)
{
  g_clear_pointer (&reused, hb_generation_record_free);
  reused = hb_generation_record_copy (record);
}

static void
add (HbHistoryStore *store, const char *prompt, guint64 seed)
{
  g_autoptr(HbGenerationRecord) record = hb_generation_record_new ();
  g_autoptr(HbImage) image = hb_image_new (32, 32);
  g_autoptr(GError) error = NULL;

  memset (image->rgba, (int) seed * 40, 32 * 32 * 4);
  g_free (record->prompt);
  record->prompt = g_strdup (prompt);
  record->has_seed = TRUE;
  record->seed = seed;
  record->steps = 4;
  hb_history_store_add (store, record, image, NULL, NULL, &error);
  g_assert_no_error (error);
}

/* Iterates until n_items is reached (or fails after ten seconds). */
static void
wait_for_items (GListModel *model, guint n_items)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_list_model_get_n_items (model) != n_items
         || hb_history_model_get_loading (HB_HISTORY_MODEL (model)))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
    }
}

static void
wait_for_record (GListModel *model, guint position)
{
  g_autoptr(HbHistoryItem) item = g_list_model_get_item (model, position);

  while (hb_history_item_get_record (item) == NULL)
    g_main_context_iteration (NULL, TRUE);
  while (g_main_context_iteration (NULL, FALSE))
    ;
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
test_gallery (void)
{
  g_autofree char *folder = g_dir_make_tmp ("hb-gallery-XXXXXX", NULL);
  g_autoptr(HbHistoryStore) store = hb_history_store_open (folder, NULL);
  GtkWidget *window, *view;
  GListModel *model;
  guint n_items;

  add (store, "a lighthouse at dusk, oil painting", 1);
  add (store, "a red fox in the snow", 2);

  view = hb_gallery_view_new (store);
  g_signal_connect (view, "reuse-parameters", G_CALLBACK (on_reuse), NULL);
  window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (window), 900, 600);
  gtk_window_set_child (GTK_WINDOW (window), view);
  gtk_window_present (GTK_WINDOW (window));
  model = hb_gallery_view_get_model (HB_GALLERY_VIEW (view));
  wait_for_items (model, 2);

  /* Search for a word of the first prompt: only it is left. */
  hb_gallery_view_search (HB_GALLERY_VIEW (view), "lighthouse");
  wait_for_items (model, 1);
  hb_gallery_view_select (HB_GALLERY_VIEW (view), 0);
  wait_for_record (model, 0);
  g_assert_true (gtk_widget_activate_action (view, "gallery.reuse", NULL));
  g_assert_nonnull (reused);
  g_assert_cmpstr (reused->prompt, ==, "a lighthouse at dusk, oil painting");
  g_assert_cmpuint (reused->seed, ==, 1);

  /* Delete the second (the newest), then undo. */
  hb_gallery_view_search (HB_GALLERY_VIEW (view), "");
  wait_for_items (model, 2);
  hb_gallery_view_select (HB_GALLERY_VIEW (view), 0);
  wait_for_record (model, 0);
  g_assert_true (gtk_widget_activate_action (view, "gallery.delete", NULL));
  wait_for_items (model, 1);
  g_assert_true (hb_history_store_count (store, NULL, &n_items, NULL));
  g_assert_cmpuint (n_items, ==, 1);
  g_assert_true (gtk_widget_activate_action (view, "gallery.undo", NULL));
  wait_for_items (model, 2);

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_pointer (&reused, hb_generation_record_free);
  g_clear_object (&store);
  remove_tree (folder);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ())
    {
      g_test_message ("No display: the gallery test needs one (run it under xvfb-run).");
      return 77;
    }
  adw_init ();
  g_test_add_func ("/huabu/history/gallery/search-reuse-delete-undo", test_gallery);
  return g_test_run ();
}
