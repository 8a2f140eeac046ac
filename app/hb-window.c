/* hb-window.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "hb-canvas.h"
#include "hb-gallery-view.h"
#include "hb-params.h"
#include "hb-png.h"
#include "hb-sidebar.h"
#include "hb-window.h"
#include "hb-window-private.h"

#define BRUSH_STEP 1.25

struct _HbWindow
{
  AdwApplicationWindow  parent_instance;

  /* template widgets */
  AdwToastOverlay      *toast_overlay;
  AdwFlap              *flap;
  HbSidebar            *sidebar;
  AdwViewStack         *view_stack;
  HbCanvas             *canvas;
  GtkRevealer          *result_revealer;
  AdwBin               *history_bin;
  AdwStatusPage        *history_status;
  GtkColorButton       *color_button;
  GtkAdjustment        *size_adjustment;
  GtkAdjustment        *opacity_adjustment;

  /* borrowed */
  GSettings            *settings;
  HbGeneration         *generation;
  HbHistoryStore       *history;
  HbGalleryView        *gallery;        /* NULL without a history */

  /* owned */
  GtkNativeDialog      *chooser;
  GtkWindow            *error_dialog;
  char                 *error_message;
  HbGenerationRecord   *shown_record;   /* of the result on the canvas */
  gint64                run_start_us;
  gint64                first_preview_us;
  gboolean              got_image;
};

G_DEFINE_FINAL_TYPE (HbWindow, hb_window, ADW_TYPE_APPLICATION_WINDOW)

/* ---- messages -------------------------------------------------------- */

static void
show_toast (HbWindow   *self,
            const char *title)
{
  AdwToast *toast = adw_toast_new (title);

  adw_toast_set_timeout (toast, 4);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
on_error_dialog_destroy (HbWindow *self)
{
  self->error_dialog = NULL;
}

static void
show_error (HbWindow   *self,
            const char *heading,
            const char *message)
{
  GtkWidget *dialog;

  g_free (self->error_message);
  self->error_message = g_strdup (message);

  if (self->error_dialog != NULL)
    gtk_window_destroy (self->error_dialog);

  dialog = adw_message_dialog_new (GTK_WINDOW (self), heading, message);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "close");
  g_signal_connect_object (dialog, "destroy", G_CALLBACK (on_error_dialog_destroy), self, G_CONNECT_SWAPPED);
  self->error_dialog = GTK_WINDOW (dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static const char *
error_heading (const GError *error)
{
  if (error->domain == HB_ENGINE_ERROR)
    switch ((HbEngineError) error->code)
      {
      case HB_ENGINE_ERROR_NO_VULKAN:
        return _("No Vulkan Device");
      case HB_ENGINE_ERROR_OUT_OF_MEMORY:
        return _("Out of Memory");
      case HB_ENGINE_ERROR_INVALID_MODEL:
        return _("The Model Cannot Be Used");
      case HB_ENGINE_ERROR_DEVICE:
        return _("The Device Failed");
      case HB_ENGINE_ERROR_FAILED:
      case HB_ENGINE_ERROR_INVALID_ARGUMENT:
      case HB_ENGINE_ERROR_CANCELLED:
      case HB_ENGINE_ERROR_NUMERIC:
      default:
        break;
      }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    return _("Model Not Found");
  return _("Could Not Generate");
}

/* ---- generation ------------------------------------------------------ */

static void
update_result_bar (HbWindow *self)
{
  gtk_revealer_set_reveal_child (self->result_revealer,
                                 hb_canvas_has_result (self->canvas) &&
                                 !hb_generation_is_running (self->generation));
}

static void
start_generation (HbWindow *self,
                  gboolean  live)
{
  g_autoptr(HbGenerationRequest) request = hb_generation_request_new ();

  hb_sidebar_fill_request (self->sidebar, request, live);

  /* The canvas follows the size setting, but a half-typed size may not
   * have reached it yet. */
  if (hb_canvas_get_canvas_width (self->canvas) != request->params.width ||
      hb_canvas_get_canvas_height (self->canvas) != request->params.height)
    hb_canvas_set_canvas_size (self->canvas, request->params.width, request->params.height);

  /* A blank sketch means "from the prompt alone"; anything drawn is the
   * starting point, and a mask limits the repainting to its area. */
  if (!hb_canvas_sketch_is_blank (self->canvas))
    {
      request->init = hb_canvas_copy_sketch (self->canvas);
      request->mask = hb_canvas_copy_mask (self->canvas);
    }

  self->run_start_us = g_get_monotonic_time ();
  self->first_preview_us = 0;
  self->got_image = FALSE;
  hb_generation_submit (self->generation, g_steal_pointer (&request));
}

/* Compile the engine's pipelines for the chosen model while the user is
 * still typing or sketching: the first generation then runs at full
 * speed. HUABU_NO_WARM_UP=1 turns it off. */
static void
warm_up (HbWindow *self)
{
  g_autoptr(HbGenerationRequest) request = NULL;

  if (g_strcmp0 (g_getenv ("HUABU_NO_WARM_UP"), "1") == 0)
    return;
  request = hb_generation_request_new ();
  hb_sidebar_fill_request (self->sidebar, request, FALSE);
  hb_generation_warm_up (self->generation, g_steal_pointer (&request));
}

static void
on_running_changed (HbWindow *self)
{
  gboolean running = hb_generation_is_running (self->generation);

  hb_sidebar_set_running (self->sidebar, running);
  g_simple_action_set_enabled (G_SIMPLE_ACTION (g_action_map_lookup_action (G_ACTION_MAP (self), "cancel")), running);
  update_result_bar (self);
}

static void
on_progress (HbWindow      *self,
             int            image_index,
             int            n_images,
             int            step,
             int            n_steps,
             const HbImage *preview)
{
  double elapsed = (g_get_monotonic_time () - self->run_start_us) / (double) G_USEC_PER_SEC;

  hb_sidebar_set_progress (self->sidebar, image_index, n_images, step, n_steps, elapsed);
  if (preview != NULL)
    {
      hb_canvas_show_result (self->canvas, preview);
      if (self->first_preview_us == 0)
        self->first_preview_us = g_get_monotonic_time () - self->run_start_us;
    }
}

static void
on_history_added (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(HbWindow) self = user_data;
  g_autoptr(HbGenerationRecord) stored = NULL;
  g_autoptr(GError) error = NULL;

  stored = hb_history_store_add_finish (HB_HISTORY_STORE (object), result, &error);
  if (stored == NULL)
    {
      g_autofree char *title = g_strdup_printf (_("The picture was not saved to the history: %s"), error->message);

      show_toast (self, title);
    }
}

static void
on_image (HbWindow                  *self,
          int                        image_index,
          int                        n_images,
          const HbImage             *image,
          const HbGenerationRequest *request,
          guint64                    seed)
{
  HbGenerateParams params = request->params;

  params.seed = seed;
  hb_canvas_show_result (self->canvas, image);
  self->got_image = TRUE;

  g_clear_pointer (&self->shown_record, hb_generation_record_free);
  self->shown_record = hb_generation_record_new_from_params (&params,
                                                             hb_generation_get_model_name (self->generation),
                                                             hb_generation_get_model_hash (self->generation));
  self->shown_record->duration_s = (g_get_monotonic_time () - self->run_start_us) / (double) G_USEC_PER_SEC;

  if (self->history != NULL)
    hb_history_store_add_async (self->history, self->shown_record, image,
                                request->init, request->mask, NULL,
                                on_history_added, g_object_ref (self));
}

static void
on_finished (HbWindow     *self,
             const GError *error)
{
  if (error == NULL)
    {
      update_result_bar (self);
      return;
    }

  /* A cancelled run leaves its last preview: not a picture worth keeping. */
  if (!self->got_image)
    hb_canvas_discard_result (self->canvas);
  update_result_bar (self);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    show_toast (self, _("Generation cancelled"));
  else
    show_error (self, error_heading (error), error->message);
}

static void
on_stroke_finished (HbWindow *self)
{
  if (!g_settings_get_boolean (self->settings, "live-mode"))
    return;
  start_generation (self, TRUE);
}

static void
on_size_setting_changed (HbWindow *self)
{
  int width = g_settings_get_int (self->settings, "width") / 8 * 8;
  int height = g_settings_get_int (self->settings, "height") / 8 * 8;

  hb_canvas_set_canvas_size (self->canvas, width, height);
}

/* ---- actions --------------------------------------------------------- */

static void
generate_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  HbWindow *self = user_data;

  if (hb_generation_is_running (self->generation))
    return;
  start_generation (self, FALSE);
}

static void
cancel_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  hb_generation_cancel (HB_WINDOW (user_data)->generation);
}

/* Ctrl+Z in the history (with no delete to undo there) must not change a
 * canvas nobody is looking at. */
static gboolean
canvas_shown (HbWindow *self)
{
  return g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack), "canvas") == 0;
}

static void
undo_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  HbWindow *self = user_data;

  if (canvas_shown (self))
    hb_canvas_undo (self->canvas);
}

static void
redo_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  HbWindow *self = user_data;

  if (canvas_shown (self))
    hb_canvas_redo (self->canvas);
}

static void
clear_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  HbWindow *self = user_data;

  hb_canvas_discard_result (self->canvas);
  hb_canvas_clear (self->canvas);
}

static void
zoom_fit_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  hb_canvas_zoom_to_fit (HB_WINDOW (user_data)->canvas);
}

static void
zoom_in_action (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  hb_canvas_zoom_by (HB_WINDOW (user_data)->canvas, 1.25);
}

static void
zoom_out_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  hb_canvas_zoom_by (HB_WINDOW (user_data)->canvas, 0.8);
}

static void
keep_result_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  HbWindow *self = user_data;

  hb_canvas_keep_result (self->canvas);
  update_result_bar (self);
}

static void
discard_result_action (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  HbWindow *self = user_data;

  hb_canvas_discard_result (self->canvas);
  g_clear_pointer (&self->shown_record, hb_generation_record_free);
  update_result_bar (self);
}

static void
tool_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  HbWindow *self = user_data;
  g_autoptr(GEnumClass) tools = g_type_class_ref (HB_TYPE_TOOL);
  GEnumValue *value = g_enum_get_value_by_nick (tools, g_variant_get_string (parameter, NULL));

  if (value != NULL)
    hb_canvas_set_tool (self->canvas, value->value);
}

static void
on_tool_changed (HbWindow *self)
{
  g_autoptr(GEnumClass) tools = g_type_class_ref (HB_TYPE_TOOL);
  GEnumValue *value = g_enum_get_value (tools, hb_canvas_get_tool (self->canvas));
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), "tool");

  g_simple_action_set_state (G_SIMPLE_ACTION (action), g_variant_new_string (value->value_nick));
}

static void
brush_smaller_action (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  HbCanvas *canvas = HB_WINDOW (user_data)->canvas;

  hb_canvas_set_brush_size (canvas, floor (hb_canvas_get_brush_size (canvas) / BRUSH_STEP));
}

static void
brush_larger_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  HbCanvas *canvas = HB_WINDOW (user_data)->canvas;

  hb_canvas_set_brush_size (canvas, ceil (hb_canvas_get_brush_size (canvas) * BRUSH_STEP));
}

static void
show_message_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  show_toast (HB_WINDOW (user_data), g_variant_get_string (parameter, NULL));
}

/* ---- pictures from outside: files, drops, the history ---------------- */

/* The picture becomes the sketch; the size settings (and so the canvas and
 * the next generation) follow it within their ranges. */
static gboolean
put_on_canvas (HbWindow  *self,
               GFile     *file,
               GError   **error)
{
  g_autoptr(GdkTexture) texture = gdk_texture_new_from_file (file, error);
  int width, height;

  if (texture == NULL)
    return FALSE;

  width = CLAMP (gdk_texture_get_width (texture), 64, 2048) / 8 * 8;
  height = CLAMP (gdk_texture_get_height (texture), 64, 2048) / 8 * 8;
  hb_canvas_discard_result (self->canvas);
  g_clear_pointer (&self->shown_record, hb_generation_record_free);
  if (g_settings_get_int (self->settings, "width") != width)
    g_settings_set_int (self->settings, "width", width);
  if (g_settings_get_int (self->settings, "height") != height)
    g_settings_set_int (self->settings, "height", height);
  hb_canvas_import_texture (self->canvas, texture);
  adw_view_stack_set_visible_child_name (self->view_stack, "canvas");
  update_result_bar (self);
  return TRUE;
}

static void
show_unreadable (HbWindow *self,
                 GFile    *file)
{
  g_autofree char *name = g_file_get_basename (file);
  g_autofree char *message = g_strdup_printf (_("“%s” is not a picture Huabu can open. Try a PNG or JPEG file."), name);

  show_toast (self, message);
}

static void
apply_record (HbWindow                 *self,
              const HbGenerationRecord *record)
{
  g_autoptr(GError) error = NULL;

  /* The rest is applied even when one value cannot be. */
  if (!hb_sidebar_apply_record (self->sidebar, record, &error))
    show_toast (self, error->message);
  adw_flap_set_reveal_flap (self->flap, TRUE);
}

/* A PNG carrying its parameters (Huabu's own, the web UIs' "parameters"
 * text or ComfyUI's "prompt" graph) gives them to the sidebar, as other
 * tools do when their pictures are dropped in; the toast offers to put the
 * picture on the canvas too. Any other picture goes onto the canvas. */
gboolean
_hb_window_open_file (HbWindow *self,
                      GFile    *file)
{
  g_autofree char *path = g_file_get_path (file);
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(HbImage) image = NULL;
  g_autoptr(HbGenerationRecord) record = NULL;
  g_autoptr(GError) png_error = NULL;
  g_autoptr(GError) error = NULL;

  if (path != NULL)
    image = hb_png_load (path, &texts, &png_error);
  if (image != NULL && texts != NULL)
    record = hb_generation_record_from_png_texts (texts, NULL);

  if (record != NULL)
    {
      g_autofree char *name = g_file_get_basename (file);
      g_autofree char *uri = g_file_get_uri (file);
      g_autofree char *title = g_strdup_printf (_("Parameters of “%s” are in the sidebar"), name);
      AdwToast *toast = adw_toast_new (title);

      apply_record (self, record);
      adw_toast_set_timeout (toast, 6);
      adw_toast_set_button_label (toast, _("Put on _Canvas"));
      adw_toast_set_action_name (toast, "win.put-on-canvas");
      adw_toast_set_action_target_value (toast, g_variant_new_string (uri));
      adw_toast_overlay_add_toast (self->toast_overlay, toast);
      return TRUE;
    }

  if (!put_on_canvas (self, file, &error))
    {
      g_autofree char *lower = path ? g_ascii_strdown (path, -1) : NULL;

      /* A damaged PNG: libpng's reading says what is wrong with it. */
      if (png_error != NULL && lower != NULL && g_str_has_suffix (lower, ".png"))
        show_toast (self, png_error->message);
      else
        show_unreadable (self, file);
      return FALSE;
    }
  return TRUE;
}

static void
put_on_canvas_action (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  HbWindow *self = user_data;
  g_autoptr(GFile) file = g_file_new_for_uri (g_variant_get_string (parameter, NULL));

  if (!put_on_canvas (self, file, NULL))
    show_unreadable (self, file);
}

static gboolean
on_drop (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         HbWindow      *self)
{
  GSList *files = g_value_get_boxed (value);

  if (files == NULL)
    return FALSE;
  return _hb_window_open_file (self, files->data);
}

static void
on_reuse_parameters (HbWindow                 *self,
                     const HbGenerationRecord *record)
{
  /* The sidebar shows them: no toast, it would cover the gallery's own
   * (the undo of a delete). */
  apply_record (self, record);
}

static void
on_send_to_canvas (HbWindow                 *self,
                   const HbGenerationRecord *record,
                   const char               *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) error = NULL;

  if (!put_on_canvas (self, file, &error))
    show_error (self, _("Could Not Open the Picture"), error->message);
}

static void
show_view_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  HbWindow *self = user_data;
  const char *name = g_variant_get_string (parameter, NULL);

  if (adw_view_stack_get_child_by_name (self->view_stack, name) == NULL)
    return;
  adw_view_stack_set_visible_child_name (self->view_stack, name);
  /* Straight to the pictures, so the arrows move between them. */
  if (g_str_equal (name, "history") && self->gallery != NULL)
    gtk_widget_child_focus (GTK_WIDGET (self->gallery), GTK_DIR_TAB_FORWARD);
}

static void
on_import_response (GtkNativeDialog *dialog,
                    int              response,
                    HbWindow        *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));

      _hb_window_open_file (self, file);
    }
  g_clear_object (&self->chooser);
}

static void
import_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  HbWindow *self = user_data;
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  GtkFileChooserNative *chooser;

  if (self->chooser != NULL)
    return;

  chooser = gtk_file_chooser_native_new (_("Import an Image"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_OPEN, _("_Import"), _("_Cancel"));
  gtk_file_filter_set_name (filter, _("Pictures"));
  gtk_file_filter_add_pixbuf_formats (filter);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (on_import_response), self);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  gtk_native_dialog_show (self->chooser);
}

static void
on_export_response (GtkNativeDialog *dialog,
                    int              response,
                    HbWindow        *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = g_file_get_path (file);
      g_autoptr(HbImage) image = hb_canvas_copy_visible (self->canvas);
      g_autofree char *parameters = NULL;
      g_autoptr(GError) error = NULL;
      HbPngText text = { HB_PNG_KEY_PARAMETERS, NULL };
      gboolean with_parameters = self->shown_record != NULL && hb_canvas_has_result (self->canvas);

      /* A generated picture carries its parameters, as other tools expect. */
      if (with_parameters)
        text.text = parameters = hb_generation_record_to_parameters (self->shown_record);

      if (path == NULL)
        show_toast (self, _("Pictures can only be exported to a folder on this computer."));
      else if (!hb_png_save (path, image, &text, with_parameters ? 1 : 0, &error))
        show_error (self, _("Could Not Export"), error->message);
      else
        show_toast (self, _("Exported"));
    }
  g_clear_object (&self->chooser);
}

static void
export_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  HbWindow *self = user_data;
  GtkFileChooserNative *chooser;

  if (self->chooser != NULL)
    return;

  chooser = gtk_file_chooser_native_new (_("Export as PNG"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), _("_Cancel"));
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), _("picture.png"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (on_export_response), self);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  gtk_native_dialog_show (self->chooser);
}

static void
on_paste_ready (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(HbWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (object), result, &error);

  if (texture == NULL)
    {
      show_toast (self, _("The clipboard holds no picture. Copy an image first."));
      return;
    }
  hb_canvas_import_texture (self->canvas, texture);
}

static void
paste_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  HbWindow *self = user_data;
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (self));

  gdk_clipboard_read_texture_async (clipboard, NULL, on_paste_ready, g_object_ref (self));
}

static void
toggle_sidebar_action (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  HbWindow *self = user_data;

  adw_flap_set_reveal_flap (self->flap, !adw_flap_get_reveal_flap (self->flap));
}

static const GActionEntry win_actions[] = {
  { "generate", generate_action },
  { "cancel", cancel_action },
  { "undo", undo_action },
  { "redo", redo_action },
  { "clear", clear_action },
  { "zoom-fit", zoom_fit_action },
  { "zoom-in", zoom_in_action },
  { "zoom-out", zoom_out_action },
  { "keep-result", keep_result_action },
  { "discard-result", discard_result_action },
  { "tool", tool_action, "s", "'brush'" },
  { "brush-smaller", brush_smaller_action },
  { "brush-larger", brush_larger_action },
  { "show-message", show_message_action, "s" },
  { "import", import_action },
  { "export", export_action },
  { "paste", paste_action },
  { "toggle-sidebar", toggle_sidebar_action },
  { "put-on-canvas", put_on_canvas_action, "s" },
  { "show-view", show_view_action, "s" },
};

/* ---- settings -------------------------------------------------------- */

static gboolean
rgba_from_string (GValue   *value,
                  GVariant *variant,
                  gpointer  user_data)
{
  GdkRGBA rgba;

  if (!gdk_rgba_parse (&rgba, g_variant_get_string (variant, NULL)))
    return FALSE;
  g_value_set_boxed (value, &rgba);
  return TRUE;
}

static GVariant *
string_from_rgba (const GValue       *value,
                  const GVariantType *type,
                  gpointer            user_data)
{
  const GdkRGBA *rgba = g_value_get_boxed (value);
  g_autofree char *str = NULL;

  if (rgba == NULL)
    return NULL;
  str = gdk_rgba_to_string (rgba);
  return g_variant_new_string (str);
}

static void
bind_settings (HbWindow *self)
{
  GSettings *settings = self->settings;
  g_autoptr(GAction) live = g_settings_create_action (settings, "live-mode");

  g_settings_bind (settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "sidebar-visible", self->flap, "reveal-flap", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "brush-size", self->canvas, "brush-size", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "brush-opacity", self->canvas, "opacity", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (settings, "brush-color", self->canvas, "color", G_SETTINGS_BIND_DEFAULT,
                                rgba_from_string, string_from_rgba, NULL, NULL);
  g_action_map_add_action (G_ACTION_MAP (self), live);

  hb_sidebar_set_settings (self->sidebar, settings);

  hb_canvas_reset (self->canvas,
                   g_settings_get_int (settings, "width") / 8 * 8,
                   g_settings_get_int (settings, "height") / 8 * 8);
  g_signal_connect_object (settings, "changed::width", G_CALLBACK (on_size_setting_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "changed::height", G_CALLBACK (on_size_setting_changed), self, G_CONNECT_SWAPPED);
}

/* ---- GObject --------------------------------------------------------- */

HbCanvas *
_hb_window_get_canvas (HbWindow *self)
{
  return self->canvas;
}

HbSidebar *
_hb_window_get_sidebar (HbWindow *self)
{
  return self->sidebar;
}

const char *
_hb_window_get_error_message (HbWindow *self)
{
  return self->error_message;
}

GtkWindow *
_hb_window_get_error_dialog (HbWindow *self)
{
  return self->error_dialog;
}

gint64
_hb_window_get_first_preview_us (HbWindow *self)
{
  return self->first_preview_us;
}

HbGalleryView *
_hb_window_get_gallery (HbWindow *self)
{
  return self->gallery;
}

const char *
_hb_window_get_visible_view (HbWindow *self)
{
  return adw_view_stack_get_visible_child_name (self->view_stack);
}

/* Not in constructed(): "application" is set after it runs. */
static void
hb_window_setup (HbWindow      *self,
                 HbApplication *app)
{
  const char *notice;

  self->settings = hb_application_get_settings (app);
  self->generation = hb_application_get_generation (app);
  self->history = hb_application_get_history (app);

  bind_settings (self);

  g_signal_connect_object (self->generation, "notify::running", G_CALLBACK (on_running_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->generation, "progress", G_CALLBACK (on_progress), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->generation, "image", G_CALLBACK (on_image), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->generation, "finished", G_CALLBACK (on_finished), self, G_CONNECT_SWAPPED);
  on_running_changed (self);

  if (self->history != NULL)
    {
      GtkWidget *gallery = hb_gallery_view_new (self->history);

      g_signal_connect_object (gallery, "reuse-parameters", G_CALLBACK (on_reuse_parameters), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (gallery, "send-to-canvas", G_CALLBACK (on_send_to_canvas), self, G_CONNECT_SWAPPED);
      self->gallery = HB_GALLERY_VIEW (gallery);
      adw_bin_set_child (self->history_bin, gallery);
    }
  else
    adw_status_page_set_description (self->history_status,
                                     _("The history could not be opened, so pictures are not kept. "
                                       "Check that the data folder can be written and restart Huabu."));

  notice = hb_application_get_history_notice (app);
  if (notice != NULL)
    show_toast (self, notice);

  warm_up (self);
}

static void
hb_window_dispose (GObject *object)
{
  HbWindow *self = HB_WINDOW (object);

  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  gtk_widget_dispose_template (GTK_WIDGET (self), HB_TYPE_WINDOW);

  G_OBJECT_CLASS (hb_window_parent_class)->dispose (object);
}

static void
hb_window_finalize (GObject *object)
{
  HbWindow *self = HB_WINDOW (object);

  g_clear_pointer (&self->error_message, g_free);
  g_clear_pointer (&self->shown_record, hb_generation_record_free);

  G_OBJECT_CLASS (hb_window_parent_class)->finalize (object);
}

static void
add_tool_binding (GtkWidgetClass  *widget_class,
                  guint            keyval,
                  GdkModifierType  mods,
                  const char      *tool)
{
  gtk_widget_class_add_binding_action (widget_class, keyval, mods, "win.tool", "s", tool);
}

static void
hb_window_class_init (HbWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = hb_window_dispose;
  object_class->finalize = hb_window_finalize;

  g_type_ensure (HB_TYPE_CANVAS);
  g_type_ensure (HB_TYPE_SIDEBAR);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/huabu/Huabu/hb-window.ui");
  gtk_widget_class_bind_template_child (widget_class, HbWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, flap);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, sidebar);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, canvas);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, result_revealer);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, history_bin);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, history_status);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, color_button);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, size_adjustment);
  gtk_widget_class_bind_template_child (widget_class, HbWindow, opacity_adjustment);

  /* Bubble-phase bindings: a focused text field gets these keys first, so
   * typing "b" in the prompt stays a "b" and Ctrl+Z there undoes text. */
  add_tool_binding (widget_class, GDK_KEY_b, 0, "brush");
  add_tool_binding (widget_class, GDK_KEY_e, 0, "eraser");
  add_tool_binding (widget_class, GDK_KEY_f, 0, "fill");
  add_tool_binding (widget_class, GDK_KEY_i, 0, "picker");
  add_tool_binding (widget_class, GDK_KEY_m, 0, "mask");
  add_tool_binding (widget_class, GDK_KEY_M, GDK_SHIFT_MASK, "mask-eraser");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_bracketleft, 0, "win.brush-smaller", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_bracketright, 0, "win.brush-larger", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK, "win.undo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Z, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "win.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_y, GDK_CONTROL_MASK, "win.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_v, GDK_CONTROL_MASK, "win.paste", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_plus, GDK_CONTROL_MASK, "win.zoom-in", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_equal, GDK_CONTROL_MASK, "win.zoom-in", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_minus, GDK_CONTROL_MASK, "win.zoom-out", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "win.cancel", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_ALT_MASK, "win.show-view", "s", "canvas");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_ALT_MASK, "win.show-view", "s", "history");
}

static void
hb_window_init (HbWindow *self)
{
  GtkDropTarget *drop;

  gtk_widget_init_template (GTK_WIDGET (self));

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_actions, G_N_ELEMENTS (win_actions), self);

  g_object_bind_property (self->canvas, "brush-size", self->size_adjustment, "value",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->canvas, "opacity", self->opacity_adjustment, "value",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->canvas, "color", self->color_button, "rgba",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->canvas, "can-undo",
                          g_action_map_lookup_action (G_ACTION_MAP (self), "undo"), "enabled",
                          G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->canvas, "can-redo",
                          g_action_map_lookup_action (G_ACTION_MAP (self), "redo"), "enabled",
                          G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->canvas, "has-result",
                          g_action_map_lookup_action (G_ACTION_MAP (self), "keep-result"), "enabled",
                          G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->canvas, "has-result",
                          g_action_map_lookup_action (G_ACTION_MAP (self), "discard-result"), "enabled",
                          G_BINDING_SYNC_CREATE);
  g_signal_connect_swapped (self->canvas, "notify::tool", G_CALLBACK (on_tool_changed), self);
  g_signal_connect_swapped (self->canvas, "notify::has-result", G_CALLBACK (update_result_bar), self);
  g_signal_connect_swapped (self->canvas, "stroke-finished", G_CALLBACK (on_stroke_finished), self);

  /* Files dropped anywhere, the canvas included (capture: before the
   * canvas's own target, which would only take the picture). */
  drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  gtk_event_controller_set_propagation_phase (GTK_EVENT_CONTROLLER (drop), GTK_PHASE_CAPTURE);
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
}

HbWindow *
hb_window_new (HbApplication *application)
{
  HbWindow *self = g_object_new (HB_TYPE_WINDOW, "application", application, NULL);

  hb_window_setup (self, application);
  return self;
}
