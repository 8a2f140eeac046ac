/* test-history.c — the history view of the real window, driven as a person would
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Two real generations with the tiny golden checkpoint (so this runs
 * without the built-in model), then the gallery: search, reuse, delete and
 * undo, send to canvas; and PNGs with parameters opened into the sidebar.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>

#include "hb-history-model.h"
#include "hb-png.h"
#include "hb-test-ui.h"
#include "hb-window-private.h"

#define FIRST_PROMPT  "a lighthouse at dusk, oil painting"
#define SECOND_PROMPT "a red fox in the snow"

typedef struct {
  HbApplication  *app;
  HbWindow       *window;
  HbSidebar      *sidebar;
  HbCanvas       *canvas;
  HbGeneration   *generation;
  GSettings      *settings;
  HbHistoryStore *store;
  gboolean        finished;
  GError         *error;
} Fixture;

static void
on_finished (HbGeneration *generation,
             const GError *error,
             Fixture      *fixture)
{
  g_clear_error (&fixture->error);
  if (error != NULL)
    fixture->error = g_error_copy (error);
  fixture->finished = TRUE;
}

static gboolean
finished (gpointer data)
{
  return ((Fixture *) data)->finished;
}

typedef struct {
  HbHistoryStore *store;
  guint           n_rows;
} RowCount;

static gboolean
has_rows (gpointer data)
{
  RowCount *count = data;
  g_autoptr(GError) error = NULL;
  guint n = 0;

  g_assert_true (hb_history_store_count (count->store, NULL, &n, &error));
  g_assert_no_error (error);
  return n == count->n_rows;
}

static void
generate (Fixture    *fixture,
          const char *prompt,
          gint64      seed,
          guint       n_rows_after)
{
  RowCount count = { fixture->store, n_rows_after };

  hb_sidebar_set_prompt (fixture->sidebar, prompt);
  g_settings_set_int64 (fixture->settings, "seed", seed);
  fixture->finished = FALSE;
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "generate", NULL);
  g_assert_true (hb_test_wait_for (finished, fixture, 240));
  g_assert_no_error (fixture->error);
  g_assert_true (hb_canvas_has_result (fixture->canvas));
  /* Recorded by the window itself, on the store's worker. */
  g_assert_true (hb_test_wait_for (has_rows, &count, 30));
}

typedef struct {
  GListModel *model;
  guint       n_items;
} ItemCount;

static gboolean
has_items (gpointer data)
{
  ItemCount *count = data;

  return g_list_model_get_n_items (count->model) == count->n_items
         && !hb_history_model_get_loading (HB_HISTORY_MODEL (count->model));
}

static void
wait_for_items (GListModel *model,
                guint       n_items)
{
  ItemCount count = { model, n_items };

  g_assert_true (hb_test_wait_for (has_items, &count, 20));
}

static gboolean
item_ready (gpointer data)
{
  HbHistoryItem *item = data;

  return hb_history_item_get_record (item) != NULL;
}

/* The record shown at position, once its page has loaded. */
static const HbGenerationRecord *
record_at (GListModel *model,
           guint       position)
{
  g_autoptr(HbHistoryItem) item = g_list_model_get_item (model, position);

  g_assert_nonnull (item);
  g_assert_true (hb_test_wait_for (item_ready, item, 20));
  /* The model keeps the item (and so the record) while it is listed. */
  return hb_history_item_get_record (item);
}

static gboolean
thumbnails_ready (gpointer data)
{
  GListModel *model = data;

  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(HbHistoryItem) item = g_list_model_get_item (model, i);

      if (hb_history_item_get_thumbnail (item) == NULL)
        return FALSE;
    }
  return TRUE;
}

static void
use_tiny_run (Fixture *fixture)
{
  g_settings_set_string (fixture->settings, "model", "");
  g_settings_set_int (fixture->settings, "steps", 4);
  g_settings_set_int (fixture->settings, "width", 64);
  g_settings_set_int (fixture->settings, "height", 64);
  g_settings_set_int (fixture->settings, "batch-count", 1);
  g_settings_set_boolean (fixture->settings, "seed-locked", TRUE);
  g_settings_set_string (fixture->settings, "sampler", "Euler a");
  g_settings_set_boolean (fixture->settings, "live-mode", FALSE);
}

static void
test_gallery (Fixture *fixture)
{
  HbGalleryView *gallery = _hb_window_get_gallery (fixture->window);
  GtkWidget *view = GTK_WIDGET (gallery);
  GListModel *model;
  const HbGenerationRecord *record;
  g_autofree char *prompt = NULL;
  g_autofree char *second_path = NULL;
  gint64 second_id;
  guint n_rows = 0;

  g_assert_nonnull (gallery);
  model = hb_gallery_view_get_model (gallery);
  use_tiny_run (fixture);

  generate (fixture, FIRST_PROMPT, 7, 1);
  generate (fixture, SECOND_PROMPT, 8, 2);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "history-canvas-after-two");

  /* Open the gallery from the header's switcher (its action). */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "show-view",
                                  g_variant_new_string ("history"));
  g_assert_cmpstr (_hb_window_get_visible_view (fixture->window), ==, "history");
  g_assert_true (gtk_widget_get_mapped (view));
  wait_for_items (model, 2);
  /* Newest first, with what was generated. */
  record = record_at (model, 0);
  g_assert_cmpstr (record->prompt, ==, SECOND_PROMPT);
  g_assert_cmpuint (record->seed, ==, 8);
  g_assert_cmpint (record->width, ==, 64);
  g_assert_cmpint (record->steps, ==, 4);
  g_assert_nonnull (record->model_name);
  record = record_at (model, 1);
  g_assert_cmpstr (record->prompt, ==, FIRST_PROMPT);
  g_assert_cmpuint (record->seed, ==, 7);
  g_assert_true (hb_test_wait_for (thumbnails_ready, model, 20));
  hb_gallery_view_select (gallery, 1);
  hb_test_settle (0.5);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "history-gallery");

  /* Search for a word of the first prompt: only it is left. */
  hb_gallery_view_search (gallery, "lighthouse");
  wait_for_items (model, 1);
  record = record_at (model, 0);
  g_assert_cmpstr (record->prompt, ==, FIRST_PROMPT);
  hb_gallery_view_select (gallery, 0);
  hb_test_settle (0.3);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "history-search");

  /* Reuse its parameters: the sidebar (holding the second prompt and
   * seed now) gets the first's back. */
  prompt = hb_sidebar_dup_prompt (fixture->sidebar);
  g_assert_cmpstr (prompt, ==, SECOND_PROMPT);
  g_clear_pointer (&prompt, g_free);
  g_assert_true (gtk_widget_activate_action (view, "gallery.reuse", NULL));
  prompt = hb_sidebar_dup_prompt (fixture->sidebar);
  g_assert_cmpstr (prompt, ==, FIRST_PROMPT);
  g_assert_cmpint (g_settings_get_int64 (fixture->settings, "seed"), ==, 7);
  g_assert_cmpint (g_settings_get_int (fixture->settings, "steps"), ==, 4);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "history-reused");

  /* Delete the second (the newest) and undo: it comes back, and its
   * picture was never removed. */
  hb_gallery_view_search (gallery, "");
  wait_for_items (model, 2);
  record = record_at (model, 0);
  g_assert_cmpstr (record->prompt, ==, SECOND_PROMPT);
  second_id = record->id;
  second_path = hb_history_store_resolve_path (fixture->store, record->image_path);
  g_assert_true (g_file_test (second_path, G_FILE_TEST_IS_REGULAR));
  hb_gallery_view_select (gallery, 0);
  hb_test_settle (0.2);
  g_assert_true (gtk_widget_activate_action (view, "gallery.delete", NULL));
  wait_for_items (model, 1);
  g_assert_cmpstr (record_at (model, 0)->prompt, ==, FIRST_PROMPT);
  g_assert_true (hb_history_store_count (fixture->store, NULL, &n_rows, NULL));
  g_assert_cmpuint (n_rows, ==, 1);
  /* Nothing is shown any more: reusing now changes nothing. */
  gtk_widget_activate_action (view, "gallery.reuse", NULL);
  g_clear_pointer (&prompt, g_free);
  prompt = hb_sidebar_dup_prompt (fixture->sidebar);
  g_assert_cmpstr (prompt, ==, FIRST_PROMPT);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "history-deleted");

  g_assert_true (gtk_widget_activate_action (view, "gallery.undo", NULL));
  wait_for_items (model, 2);
  record = record_at (model, 0);
  g_assert_cmpint (record->id, ==, second_id);
  g_assert_cmpstr (record->prompt, ==, SECOND_PROMPT);
  g_assert_true (hb_history_store_count (fixture->store, NULL, &n_rows, NULL));
  g_assert_cmpuint (n_rows, ==, 2);
  /* Past the toast's undo time the purge would have run: the file is
   * still there because the delete was undone. */
  hb_test_settle (7);
  g_assert_true (g_file_test (second_path, G_FILE_TEST_IS_REGULAR));
  g_assert_true (hb_history_store_count (fixture->store, NULL, &n_rows, NULL));
  g_assert_cmpuint (n_rows, ==, 2);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "history-undone");

  /* Send the first to the canvas: the sketch is that picture, and the
   * canvas is shown. */
  hb_gallery_view_select (gallery, 1);
  g_assert_cmpstr (record_at (model, 1)->prompt, ==, FIRST_PROMPT);
  hb_test_settle (0.2);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "discard-result", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "clear", NULL);
  g_assert_true (hb_canvas_sketch_is_blank (fixture->canvas));
  g_assert_true (gtk_widget_activate_action (view, "gallery.send-to-canvas", NULL));
  g_assert_cmpstr (_hb_window_get_visible_view (fixture->window), ==, "canvas");
  g_assert_false (hb_canvas_sketch_is_blank (fixture->canvas));
  g_assert_false (hb_canvas_has_result (fixture->canvas));
  g_assert_cmpint (hb_canvas_get_canvas_width (fixture->canvas), ==, 64);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "history-sent-to-canvas");
}

static char *
sample_text (const char *name)
{
  g_autofree char *path = g_build_filename (g_getenv ("HB_TEST_SRCDIR"), "history", "samples", name, NULL);
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static GFile *
write_png (const char *folder,
           const char *name,
           const char *key,
           const char *text)
{
  g_autofree char *path = g_build_filename (folder, name, NULL);
  g_autoptr(HbImage) image = hb_image_new (96, 64);
  g_autoptr(GError) error = NULL;
  HbPngText chunk = { key, text };

  for (gsize i = 0; i < (gsize) 96 * 64 * 4; i += 4)
    {
      image->rgba[i] = 200;
      image->rgba[i + 1] = (guint8) (i / 4 % 96);
      image->rgba[i + 2] = 40;
      image->rgba[i + 3] = 255;
    }
  g_assert_true (hb_png_save (path, image, &chunk, text != NULL ? 1 : 0, &error));
  g_assert_no_error (error);
  return g_file_new_for_path (path);
}

/* What dropping a file on the window or importing it does. */
static void
test_open_png (Fixture *fixture)
{
  g_autofree char *folder = g_dir_make_tmp ("huabu-ui-open-XXXXXX", NULL);
  g_autofree char *text = sample_text ("a1111-quoted.txt");
  g_autoptr(GFile) foreign = write_png (folder, "foreign.png", HB_PNG_KEY_PARAMETERS, text);
  g_autoptr(GFile) plain = write_png (folder, "plain.png", NULL, NULL);
  g_autoptr(GFile) truncated = NULL;
  g_autofree char *prompt = NULL;
  g_autofree char *sampler = NULL;
  g_autofree char *bytes = NULL;
  g_autofree char *truncated_path = g_build_filename (folder, "truncated.png", NULL);
  g_autofree char *foreign_path = g_file_get_path (foreign);
  gsize length;

  use_tiny_run (fixture);
  hb_sidebar_set_prompt (fixture->sidebar, "something else");
  g_assert_true (hb_canvas_sketch_is_blank (fixture->canvas));

  /* Another tool's PNG: its parameters go to the sidebar, the canvas
   * stays as it was. */
  g_assert_true (_hb_window_open_file (fixture->window, foreign));
  prompt = hb_sidebar_dup_prompt (fixture->sidebar);
  g_assert_cmpstr (prompt, ==, "portrait of a woman, <lora:detail:0.6>\nsoft light, film grain");
  g_assert_cmpint (g_settings_get_int (fixture->settings, "steps"), ==, 20);
  g_assert_cmpfloat (g_settings_get_double (fixture->settings, "cfg"), ==, 7);
  g_assert_cmpint (g_settings_get_int64 (fixture->settings, "seed"), ==, 42);
  g_assert_cmpint (g_settings_get_int (fixture->settings, "width"), ==, 512);
  g_assert_cmpint (g_settings_get_int (fixture->settings, "clip-skip"), ==, 2);
  sampler = g_settings_get_string (fixture->settings, "sampler");
  g_assert_cmpstr (sampler, ==, "Euler a");
  g_assert_true (hb_canvas_sketch_is_blank (fixture->canvas));
  hb_test_screenshot (GTK_WIDGET (fixture->window), "history-open-foreign-png");

  /* The toast's button puts it on the canvas as well. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "put-on-canvas",
                                  g_variant_new_take_string (g_file_get_uri (foreign)));
  g_assert_false (hb_canvas_sketch_is_blank (fixture->canvas));
  g_assert_cmpint (hb_canvas_get_canvas_width (fixture->canvas), ==, 96);
  g_assert_cmpint (hb_canvas_get_canvas_height (fixture->canvas), ==, 64);

  /* A picture without parameters goes onto the canvas, the sidebar stays. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "clear", NULL);
  g_assert_true (hb_canvas_sketch_is_blank (fixture->canvas));
  g_assert_true (_hb_window_open_file (fixture->window, plain));
  g_assert_false (hb_canvas_sketch_is_blank (fixture->canvas));
  g_clear_pointer (&prompt, g_free);
  prompt = hb_sidebar_dup_prompt (fixture->sidebar);
  g_assert_cmpstr (prompt, ==, "portrait of a woman, <lora:detail:0.6>\nsoft light, film grain");

  /* A truncated PNG is refused with a message, nothing changes. */
  g_assert_true (g_file_get_contents (foreign_path, &bytes, &length, NULL));
  g_assert_true (g_file_set_contents (truncated_path, bytes, length / 2, NULL));
  truncated = g_file_new_for_path (truncated_path);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "clear", NULL);
  g_assert_false (_hb_window_open_file (fixture->window, truncated));
  g_assert_true (hb_canvas_sketch_is_blank (fixture->canvas));

  g_unlink (truncated_path);
  g_unlink (foreign_path);
  g_clear_pointer (&foreign_path, g_free);
  foreign_path = g_file_get_path (plain);
  g_unlink (foreign_path);
  g_rmdir (folder);
}

/* Huabu's own PNGs from the history restore every parameter. */
static void
test_open_history_png (Fixture *fixture)
{
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = NULL;
  g_autofree char *path = NULL;
  g_autofree char *prompt = NULL;
  const HbGenerationRecord *record;

  use_tiny_run (fixture);
  records = hb_history_store_query (fixture->store, &(HbHistoryQuery) { "lighthouse" }, 0, 10, &error);
  g_assert_no_error (error);
  /* Made by the gallery test. */
  if (records->len == 0)
    {
      g_test_skip ("needs the pictures of /huabu/ui/history/gallery");
      return;
    }
  record = records->pdata[0];
  path = hb_history_store_resolve_path (fixture->store, record->image_path);
  file = g_file_new_for_path (path);
  hb_sidebar_set_prompt (fixture->sidebar, "something else");
  g_settings_set_int64 (fixture->settings, "seed", 1);
  g_settings_set_int (fixture->settings, "steps", 30);

  g_assert_true (_hb_window_open_file (fixture->window, file));
  prompt = hb_sidebar_dup_prompt (fixture->sidebar);
  g_assert_cmpstr (prompt, ==, FIRST_PROMPT);
  g_assert_cmpint (g_settings_get_int64 (fixture->settings, "seed"), ==, 7);
  g_assert_cmpint (g_settings_get_int (fixture->settings, "steps"), ==, 4);
}

typedef void (*FixtureFunc) (Fixture *fixture);

static void
run_with_fixture (HbApplication *app,
                  gpointer       data)
{
  FixtureFunc func = (FixtureFunc) data;
  Fixture fixture = { 0 };

  fixture.app = app;
  fixture.window = hb_test_app_get_window (app);
  fixture.sidebar = _hb_window_get_sidebar (fixture.window);
  fixture.canvas = _hb_window_get_canvas (fixture.window);
  fixture.generation = hb_application_get_generation (app);
  fixture.settings = hb_application_get_settings (app);
  fixture.store = hb_application_get_history (app);
  g_assert_nonnull (fixture.store);
  g_signal_connect (fixture.generation, "finished", G_CALLBACK (on_finished), &fixture);

  func (&fixture);

  g_signal_handlers_disconnect_by_data (fixture.generation, &fixture);
  hb_test_reset_settings (fixture.settings);
  g_clear_error (&fixture.error);
}

static void
run_test (gconstpointer data)
{
  hb_test_run_app (run_with_fixture, (gpointer) data);
}

int
main (int   argc,
      char *argv[])
{
  const char *srcdir = g_getenv ("HB_TEST_SRCDIR");
  g_autofree char *model = NULL;
  g_autofree char *tokenizer = NULL;

  hb_test_init (&argc, &argv);
  g_assert_nonnull (srcdir);
  /* The tiny golden checkpoint (64x64, fast) stands in for the built-in
   * model; it uses the built-in model's tokenizer. */
  model = g_build_filename (srcdir, "golden", "tiny-sd.safetensors", NULL);
  tokenizer = g_build_filename (srcdir, "..", "data", "models", NULL);
  g_setenv ("HUABU_MODEL", model, TRUE);
  g_setenv ("HUABU_CLIP_TOKENIZER", tokenizer, TRUE);

  g_test_add_data_func ("/huabu/ui/history/gallery", (gconstpointer) test_gallery, run_test);
  g_test_add_data_func ("/huabu/ui/history/open-history-png", (gconstpointer) test_open_history_png, run_test);
  g_test_add_data_func ("/huabu/ui/history/open-png", (gconstpointer) test_open_png, run_test);

  return g_test_run ();
}
