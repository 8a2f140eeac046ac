/* test-window.c — the whole window, driven as a person would
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include <adwaita.h>
#include <gtk/gtk.h>
#include <string.h>

#include "hb-test-ui.h"
#include "hb-window-private.h"

typedef struct {
  HbApplication *app;
  HbWindow      *window;
  HbCanvas      *canvas;
  HbGeneration  *generation;
  GSettings     *settings;
  int            n_previews;
  int            n_steps;
  int            n_images;
  gint64         last_progress_us;
  gboolean       finished;
  int            n_finished;
  GError        *error;
} Fixture;

static void
on_progress (HbGeneration  *generation,
             int            image_index,
             int            n_images,
             int            step,
             int            n_steps,
             const HbImage *preview,
             Fixture       *fixture)
{
  if (preview != NULL)
    fixture->n_previews++;
  fixture->n_steps = n_steps;
  fixture->last_progress_us = g_get_monotonic_time ();
}

static void
on_image (HbGeneration *generation,
          int           image_index,
          int           n_images,
          gpointer      image,
          gpointer      request,
          guint64       seed,
          Fixture      *fixture)
{
  fixture->n_images++;
}

static void
on_finished (HbGeneration *generation,
             const GError *error,
             Fixture      *fixture)
{
  g_clear_error (&fixture->error);
  if (error != NULL)
    fixture->error = g_error_copy (error);
  fixture->finished = TRUE;
  fixture->n_finished++;
}

static void
fixture_init (Fixture       *fixture,
              HbApplication *app)
{
  fixture->app = app;
  fixture->window = hb_test_app_get_window (app);
  fixture->canvas = _hb_window_get_canvas (fixture->window);
  fixture->generation = hb_application_get_generation (app);
  fixture->settings = hb_application_get_settings (app);
  g_signal_connect (fixture->generation, "progress", G_CALLBACK (on_progress), fixture);
  g_signal_connect (fixture->generation, "image", G_CALLBACK (on_image), fixture);
  g_signal_connect (fixture->generation, "finished", G_CALLBACK (on_finished), fixture);
}

static void
fixture_clear (Fixture *fixture)
{
  g_signal_handlers_disconnect_by_data (fixture->generation, fixture);
  hb_test_reset_settings (fixture->settings);
  g_clear_error (&fixture->error);
}

static gboolean
finished (gpointer data)
{
  Fixture *fixture = data;

  return fixture->finished;
}

/* Also true when the run ended, so a failure shows its error at once. */
static gboolean
got_preview (gpointer data)
{
  Fixture *fixture = data;

  return fixture->n_previews > 0 || fixture->finished;
}

/* Skips the test, and says why, when the built-in model is absent. */
static gboolean
have_model (void)
{
  g_autofree char *path = hb_default_model_path ();

  if (path != NULL && g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;
  g_test_skip ("the built-in model is not in this tree (data/models)");
  return FALSE;
}

static void
use_small_run (Fixture *fixture,
               int      steps)
{
  g_settings_set_int (fixture->settings, "steps", steps);
  g_settings_set_int (fixture->settings, "width", 128);
  g_settings_set_int (fixture->settings, "height", 128);
  g_settings_set_int (fixture->settings, "batch-count", 1);
  g_settings_set_boolean (fixture->settings, "seed-locked", TRUE);
  g_settings_set_int64 (fixture->settings, "seed", 1234);
  g_settings_set_string (fixture->settings, "sampler", "Euler a");
  hb_sidebar_set_prompt (_hb_window_get_sidebar (fixture->window),
                         "a large yellow star in the centre on a dark blue background");
}

/* A rough red disc in the top left on beige, as an artist would scribble
 * it for the built-in model: a wobbly ring of thick strokes. */
static void
draw_sketch (HbCanvas *canvas)
{
  GdkRGBA beige = { 0.9f, 0.84f, 0.7f, 1 };
  GdkRGBA red = { 0.86f, 0.12f, 0.12f, 1 };

  hb_canvas_set_color (canvas, &beige);
  hb_canvas_fill (canvas, 5, 5);
  hb_canvas_set_color (canvas, &red);
  hb_canvas_set_brush_size (canvas, 22);
  hb_canvas_stroke_begin (canvas, 50, 32, 1);
  for (int i = 1; i <= 28; i++)
    {
      double a = i * 2 * G_PI / 24, r = 16 - i * 0.35;

      hb_canvas_stroke_to (canvas, 32 + r * cos (a) + (i % 3), 32 + r * sin (a), 1);
    }
  hb_canvas_stroke_end (canvas);
}

static void
test_opens (Fixture *fixture)
{
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (fixture->window)));
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (fixture->canvas)));
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (_hb_window_get_sidebar (fixture->window))));
  /* The canvas takes its size from the settings. */
  g_assert_cmpint (hb_canvas_get_canvas_width (fixture->canvas), ==,
                   g_settings_get_int (fixture->settings, "width"));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (fixture->window), "generate"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (fixture->window), "cancel"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (fixture->window), "undo"));
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-opens");
}

static gboolean
has_toplevel_of_type (gpointer data)
{
  GType type = GPOINTER_TO_SIZE (data);
  g_autoptr(GListModel) toplevels = g_object_ref (gtk_window_get_toplevels ());

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) window = g_list_model_get_item (toplevels, i);

      if (G_TYPE_CHECK_INSTANCE_TYPE (window, type) && gtk_widget_get_mapped (GTK_WIDGET (window)))
        return TRUE;
    }
  return FALSE;
}

/* Each opens from the menu without a warning (tests make warnings fatal,
 * so a broken template fails here). GTK 4.8 measures some labels of its own
 * shortcuts window (the keycaps) a few pixels below zero and warns through
 * structured logging, which a test's fatal handler never sees: for that
 * window only, warnings are not fatal. */
static void
test_secondary_windows (Fixture *fixture)
{
  static const struct {
    const char *group;
    const char *action;
    const char *type_name;
    const char *screenshot;
    gboolean gtk_warns;
  } windows[] = {
    { "win", "show-help-overlay", "GtkShortcutsWindow", "shortcuts", TRUE },
    { "app", "preferences", "HbPreferences", "preferences", FALSE },
    { "app", "about", "AdwAboutWindow", "about", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (windows); i++)
    {
      GType type = g_type_from_name (windows[i].type_name);
      g_autoptr(GListModel) toplevels = NULL;
      GActionGroup *group = g_str_equal (windows[i].group, "win")
                          ? G_ACTION_GROUP (fixture->window)
                          : G_ACTION_GROUP (fixture->app);
      GLogLevelFlags fatal = 0;

      if (windows[i].gtk_warns)
        fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
      g_action_group_activate_action (group, windows[i].action, NULL);
      type = g_type_from_name (windows[i].type_name);
      g_assert_true (type != 0);
      g_assert_true (hb_test_wait_for (has_toplevel_of_type, GSIZE_TO_POINTER (type), 10));

      toplevels = g_object_ref (gtk_window_get_toplevels ());
      for (guint j = 0; j < g_list_model_get_n_items (toplevels); j++)
        {
          g_autoptr(GObject) window = g_list_model_get_item (toplevels, j);

          if (G_TYPE_CHECK_INSTANCE_TYPE (window, type))
            {
              hb_test_settle (0.3);
              hb_test_screenshot (GTK_WIDGET (window), windows[i].screenshot);
              gtk_window_close (GTK_WINDOW (window));
              break;
            }
        }
      hb_test_settle (0.2);
      if (windows[i].gtk_warns)
        g_log_set_always_fatal (fatal);
    }
}

static void
test_stroke_and_undo_through_actions (Fixture *fixture)
{
  HbCanvas *canvas = fixture->canvas;
  int w, h;
  const guint8 *pixels = hb_canvas_get_sketch_pixels (canvas, &w, &h);
  g_autofree guint8 *before = g_memdup2 (pixels, (gsize) w * h * 4);

  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "tool", g_variant_new_string ("brush"));
  hb_canvas_set_brush_size (canvas, 12);
  hb_canvas_stroke_begin (canvas, 10, 10, 1);
  hb_canvas_stroke_to (canvas, 60, 90, 0.7);
  hb_canvas_stroke_to (canvas, 118, 30, 0.4);
  hb_canvas_stroke_end (canvas);
  pixels = hb_canvas_get_sketch_pixels (canvas, &w, &h);
  g_assert_cmpint (memcmp (pixels, before, (gsize) w * h * 4), !=, 0);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (fixture->window), "undo"));
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-stroke");

  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "undo", NULL);
  pixels = hb_canvas_get_sketch_pixels (canvas, &w, &h);
  g_assert_cmpint (memcmp (pixels, before, (gsize) w * h * 4), ==, 0);

  /* The tool keys go through the same action. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "tool", g_variant_new_string ("mask"));
  g_assert_cmpint (hb_canvas_get_tool (canvas), ==, HB_TOOL_MASK);
}

static void
test_missing_model (Fixture *fixture)
{
  GtkWindow *dialog;

  g_settings_set_string (fixture->settings, "model", "/nonexistent/huabu-test-model.safetensors");
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "generate", NULL);
  /* Said at once, even while the window's warm-up holds the engine thread
   * (with an empty shader cache that takes most of a minute). */
  g_assert_true (hb_test_wait_for (finished, fixture, 10));
  g_assert_nonnull (fixture->error);

  dialog = _hb_window_get_error_dialog (fixture->window);
  g_assert_nonnull (dialog);
  g_assert_nonnull (strstr (_hb_window_get_error_message (fixture->window), "huabu-test-model.safetensors"));
  hb_test_settle (0.3);
  hb_test_screenshot (GTK_WIDGET (dialog), "window-missing-model-dialog");
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-missing-model");

  /* Closing the message leaves a working window. */
  gtk_window_close (dialog);
  hb_test_settle (0.2);
  g_assert_false (hb_generation_is_running (fixture->generation));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (fixture->window), "generate"));
  hb_canvas_stroke_begin (fixture->canvas, 20, 20, 1);
  hb_canvas_stroke_to (fixture->canvas, 40, 40, 1);
  hb_canvas_stroke_end (fixture->canvas);
  g_assert_false (hb_canvas_sketch_is_blank (fixture->canvas));
  g_assert_true (hb_canvas_undo (fixture->canvas));
  g_assert_true (hb_canvas_sketch_is_blank (fixture->canvas));
}

static gboolean
engine_idle (gpointer data)
{
  Fixture *fixture = data;

  return !hb_generation_is_busy (fixture->generation);
}

/* The window warms the engine up as it opens (one step of the chosen
 * model, thrown away, so lavapipe compiles its pipelines before the first
 * generation): nothing of it reaches the signals, the canvas or the
 * history, and a generation afterwards runs as usual. */
static void
test_warm_up (Fixture *fixture)
{
  if (!have_model ())
    return;

  g_assert_true (hb_generation_is_busy (fixture->generation));
  g_assert_false (hb_generation_is_running (fixture->generation));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (fixture->window), "cancel"));
  g_assert_true (hb_test_wait_for (engine_idle, fixture, 240));
  g_assert_cmpint (fixture->n_previews, ==, 0);
  g_assert_cmpint (fixture->n_images, ==, 0);
  g_assert_cmpint (fixture->n_finished, ==, 0);
  g_assert_false (hb_canvas_has_result (fixture->canvas));
  g_assert_null (hb_generation_get_model_name (fixture->generation));

  use_small_run (fixture, 4);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "generate", NULL);
  g_assert_true (hb_test_wait_for (finished, fixture, 240));
  g_assert_no_error (fixture->error);
  g_assert_cmpint (fixture->n_previews, ==, 4);
  g_assert_cmpint (fixture->n_images, ==, 1);
  g_assert_cmpstr (hb_generation_get_model_name (fixture->generation), ==, "huabu-shapes");
}

static void
test_generate_from_prompt (Fixture *fixture)
{
  if (!have_model ())
    return;

  use_small_run (fixture, 8);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "generate", NULL);
  g_assert_true (hb_generation_is_running (fixture->generation));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (fixture->window), "cancel"));
  g_assert_true (hb_test_wait_for (got_preview, fixture, 240));
  g_assert_no_error (fixture->error);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-generate-preview");
  g_assert_true (hb_test_wait_for (finished, fixture, 240));
  g_assert_no_error (fixture->error);

  g_assert_cmpint (fixture->n_previews, ==, 8);
  g_assert_cmpint (fixture->n_images, ==, 1);
  g_assert_true (hb_canvas_has_result (fixture->canvas));
  g_assert_cmpint (_hb_window_get_first_preview_us (fixture->window), >, 0);
  g_test_message ("first preview after %.2f s", _hb_window_get_first_preview_us (fixture->window) / 1e6);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-generate-prompt");
}

static void
test_img2img_from_sketch (Fixture *fixture)
{
  g_autoptr(HbImage) sketch = NULL;
  g_autoptr(HbImage) result = NULL;
  double diff = 0;

  if (!have_model ())
    return;

  use_small_run (fixture, 10);
  hb_sidebar_set_prompt (_hb_window_get_sidebar (fixture->window),
                         "a large red circle in the top left on a beige background");
  g_settings_set_double (fixture->settings, "strength", 0.5);
  draw_sketch (fixture->canvas);
  sketch = hb_canvas_copy_sketch (fixture->canvas);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-img2img-sketch");

  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "generate", NULL);
  g_assert_true (hb_test_wait_for (finished, fixture, 240));
  g_assert_no_error (fixture->error);
  /* Strength 0.5 re-runs only the end of the 10-step schedule (how the
   * engine rounds is its business), with a preview for each step run. */
  g_assert_cmpint (fixture->n_steps, ==, 10);
  g_assert_cmpint (fixture->n_previews, >=, 4);
  g_assert_cmpint (fixture->n_previews, <=, 6);
  g_assert_true (hb_canvas_has_result (fixture->canvas));
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-img2img");

  /* Keep: the picture becomes the sketch; it is not the old sketch. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "keep-result", NULL);
  g_assert_false (hb_canvas_has_result (fixture->canvas));
  result = hb_canvas_copy_sketch (fixture->canvas);
  for (gsize i = 0; i < (gsize) sketch->width * sketch->height * 4; i++)
    diff += ABS ((int) result->rgba[i] - (int) sketch->rgba[i]);
  g_assert_cmpfloat (diff / (sketch->width * sketch->height * 4), >, 1.0);
}

static void
test_cancel (Fixture *fixture)
{
  gint64 cancelled_at, stopped_at, step_us;
  gint64 first_us;

  if (!have_model ())
    return;

  use_small_run (fixture, 100);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "generate", NULL);
  g_assert_true (hb_test_wait_for (got_preview, fixture, 240));
  g_assert_no_error (fixture->error);
  first_us = fixture->last_progress_us;
  fixture->n_previews = 0;
  g_assert_true (hb_test_wait_for (got_preview, fixture, 240));
  g_assert_no_error (fixture->error);
  step_us = fixture->last_progress_us - first_us;

  cancelled_at = g_get_monotonic_time ();
  g_action_group_activate_action (G_ACTION_GROUP (fixture->window), "cancel", NULL);
  g_assert_true (hb_test_wait_for (finished, fixture, 60));
  stopped_at = g_get_monotonic_time ();

  g_assert_error (fixture->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (hb_generation_is_running (fixture->generation));
  g_assert_cmpint (fixture->n_images, ==, 0);
  g_assert_false (hb_canvas_has_result (fixture->canvas));
  /* Within one step (with room for a slow machine's scheduling). */
  g_test_message ("step %.3f s, stopped %.3f s after cancel", step_us / 1e6, (stopped_at - cancelled_at) / 1e6);
  g_assert_cmpint (stopped_at - cancelled_at, <, 2 * step_us + G_USEC_PER_SEC / 2);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-cancelled");
}

static void
test_reuse_parameters (Fixture *fixture)
{
  HbSidebar *sidebar = _hb_window_get_sidebar (fixture->window);
  g_autoptr(HbGenerationRecord) record = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *prompt = NULL;
  g_autofree char *sampler = NULL;

  record = hb_generation_record_from_parameters ("a cat on a windowsill\n"
                                                 "Negative prompt: blurry\n"
                                                 "Steps: 12, Sampler: DPM++ 2M, CFG scale: 5.5, "
                                                 "Seed: 99, Size: 192x128");
  g_assert_true (hb_sidebar_apply_record (sidebar, record, &error));
  g_assert_no_error (error);

  prompt = hb_sidebar_dup_prompt (sidebar);
  g_assert_cmpstr (prompt, ==, "a cat on a windowsill");
  sampler = g_settings_get_string (fixture->settings, "sampler");
  g_assert_cmpstr (sampler, ==, "DPM++ 2M");
  g_assert_cmpint (g_settings_get_int (fixture->settings, "steps"), ==, 12);
  g_assert_cmpfloat (g_settings_get_double (fixture->settings, "cfg"), ==, 5.5);
  g_assert_cmpint (g_settings_get_int64 (fixture->settings, "seed"), ==, 99);
  g_assert_true (g_settings_get_boolean (fixture->settings, "seed-locked"));
  /* The canvas follows the size. */
  g_assert_cmpint (hb_canvas_get_canvas_width (fixture->canvas), ==, 192);
  g_assert_cmpint (hb_canvas_get_canvas_height (fixture->canvas), ==, 128);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-reuse-parameters");
}

static AdwComboRow *
find_combo_row (GtkWidget  *widget,
                const char *title)
{
  if (ADW_IS_COMBO_ROW (widget) &&
      g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0)
    return ADW_COMBO_ROW (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      AdwComboRow *row = find_combo_row (child, title);
      if (row != NULL)
        return row;
    }
  return NULL;
}

/* The guidance scale and the sampler follow the model chosen in the
 * sidebar: the built-in model's own (its metadata) from the first start,
 * SD's usual 7 and Euler a for a checkpoint that names none; a scale or a
 * sampler set by hand stays until the next choice. */
static void
test_model_cfg (Fixture *fixture)
{
  AdwComboRow *row = find_combo_row (GTK_WIDGET (fixture->window), "Model");
  AdwComboRow *sampler_row = find_combo_row (GTK_WIDGET (fixture->window), "Sampler");
  g_autofree char *tiny = g_build_filename (g_getenv ("HB_TEST_SRCDIR"), "golden", "tiny-sd.safetensors", NULL);
  const char *models[] = { tiny, NULL };
  double builtin = hb_model_file_recommended_cfg (NULL);
  g_autofree char *chosen = NULL;
  g_autofree char *sampler = NULL;

  g_assert_nonnull (row);
  g_assert_nonnull (sampler_row);
  g_assert_cmpfloat (builtin, >, 0);
  g_assert_cmpfloat (builtin, !=, HB_DEFAULT_CFG);
  g_assert_cmpfloat (g_settings_get_double (fixture->settings, "cfg"), ==, builtin);
  sampler = g_settings_get_string (fixture->settings, "sampler");
  g_assert_cmpstr (sampler, ==, "Euler");
  g_assert_cmpuint (adw_combo_row_get_selected (sampler_row), ==, 0);

  g_settings_set_strv (fixture->settings, "models", models);
  g_assert_cmpuint (g_list_model_get_n_items (adw_combo_row_get_model (row)), ==, 2);
  adw_combo_row_set_selected (row, 1);
  chosen = g_settings_get_string (fixture->settings, "model");
  g_assert_cmpstr (chosen, ==, tiny);
  g_assert_cmpfloat (g_settings_get_double (fixture->settings, "cfg"), ==, HB_DEFAULT_CFG);
  g_free (sampler);
  sampler = g_settings_get_string (fixture->settings, "sampler");
  g_assert_cmpstr (sampler, ==, "Euler a");
  g_assert_cmpuint (adw_combo_row_get_selected (sampler_row), ==, 1);

  g_settings_set_double (fixture->settings, "cfg", 9);
  adw_combo_row_set_selected (sampler_row, 3);
  hb_test_settle (0.1);
  g_assert_cmpfloat (g_settings_get_double (fixture->settings, "cfg"), ==, 9);
  g_free (sampler);
  sampler = g_settings_get_string (fixture->settings, "sampler");
  g_assert_cmpstr (sampler, ==, "DDIM");
  adw_combo_row_set_selected (row, 0);
  g_free (chosen);
  chosen = g_settings_get_string (fixture->settings, "model");
  g_assert_cmpstr (chosen, ==, "");
  g_assert_cmpfloat (g_settings_get_double (fixture->settings, "cfg"), ==, builtin);
  g_free (sampler);
  sampler = g_settings_get_string (fixture->settings, "sampler");
  g_assert_cmpstr (sampler, ==, "Euler");
}

static gboolean
idle (gpointer data)
{
  Fixture *fixture = data;

  return !hb_generation_is_running (fixture->generation);
}

static void
test_live_mode (Fixture *fixture)
{
  HbCanvas *canvas = fixture->canvas;

  if (!have_model ())
    return;

  use_small_run (fixture, 6);
  g_settings_set_boolean (fixture->settings, "live-mode", TRUE);

  /* Three strokes while the first run is in flight: the second is
   * superseded by the third, so two runs in all, one at a time. */
  for (int i = 0; i < 3; i++)
    {
      hb_canvas_stroke_begin (canvas, 10 + i * 30, 20, 1);
      hb_canvas_stroke_to (canvas, 20 + i * 30, 100, 1);
      hb_canvas_stroke_end (canvas);
      g_assert_true (hb_generation_is_running (fixture->generation));
    }
  g_assert_true (hb_test_wait_for (idle, fixture, 240));
  g_assert_no_error (fixture->error);
  g_assert_cmpint (fixture->n_finished, ==, 2);
  g_assert_cmpint (fixture->n_images, ==, 2);
  g_assert_true (hb_canvas_has_result (canvas));
  hb_test_screenshot (GTK_WIDGET (fixture->window), "window-live");
}

typedef void (*FixtureFunc) (Fixture *fixture);

static void
run_with_fixture (HbApplication *app,
                  gpointer       data)
{
  FixtureFunc func = (FixtureFunc) data;
  Fixture fixture = { 0 };

  fixture_init (&fixture, app);
  func (&fixture);
  fixture_clear (&fixture);
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
  hb_test_init (&argc, &argv);

  g_test_add_data_func ("/huabu/ui/window/opens", (gconstpointer) test_opens, run_test);
  g_test_add_data_func ("/huabu/ui/window/stroke-undo", (gconstpointer) test_stroke_and_undo_through_actions, run_test);
  g_test_add_data_func ("/huabu/ui/window/secondary-windows", (gconstpointer) test_secondary_windows, run_test);
  g_test_add_data_func ("/huabu/ui/window/reuse-parameters", (gconstpointer) test_reuse_parameters, run_test);
  g_test_add_data_func ("/huabu/ui/window/model-cfg", (gconstpointer) test_model_cfg, run_test);
  g_test_add_data_func ("/huabu/ui/window/missing-model", (gconstpointer) test_missing_model, run_test);
  g_test_add_data_func ("/huabu/ui/window/warm-up", (gconstpointer) test_warm_up, run_test);
  g_test_add_data_func ("/huabu/ui/window/generate-prompt", (gconstpointer) test_generate_from_prompt, run_test);
  g_test_add_data_func ("/huabu/ui/window/img2img", (gconstpointer) test_img2img_from_sketch, run_test);
  g_test_add_data_func ("/huabu/ui/window/cancel", (gconstpointer) test_cancel, run_test);
  g_test_add_data_func ("/huabu/ui/window/live-mode", (gconstpointer) test_live_mode, run_test);

  return g_test_run ();
}
