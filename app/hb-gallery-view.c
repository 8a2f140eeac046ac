/* hb-gallery-view.c — the history as a searchable grid with a detail pane
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <inttypes.h>

#include <glib/gi18n.h>

#include "hb-gallery-view.h"
#include "hb-history-model.h"

#define TILE_SIZE 160
/* Seconds a delete can be undone from its toast. */
#define UNDO_SECONDS 6

typedef struct _DeleteUndo DeleteUndo;

struct _HbGalleryView
{
  AdwBin              parent_instance;

  /* Template widgets */
  AdwToastOverlay    *toast_overlay;
  GtkSearchEntry     *search_entry;
  GtkToggleButton    *favourites_button;
  GtkDropDown        *model_dropdown;
  GtkDropDown        *date_dropdown;
  GtkStack           *grid_stack;
  GtkGridView        *grid_view;
  AdwStatusPage      *empty_page;
  GtkWidget          *detail_box;
  GtkPicture         *detail_picture;
  GtkButton          *favourite_button;
  GtkLabel           *prompt_label;
  GtkLabel           *negative_label;
  GtkLabel           *settings_label;
  GtkLabel           *lineage_label;

  /* Owned */
  HbHistoryStore     *store;
  HbHistoryModel     *model;
  GtkMultiSelection  *selection;
  GtkStringList      *model_names;
  HbHistoryItem      *shown;
  GCancellable       *picture_cancellable;
  DeleteUndo         *last_delete;   /* the newest delete still undoable */
  gulong              store_changed_handler;
};

G_DEFINE_FINAL_TYPE (HbGalleryView, hb_gallery_view, ADW_TYPE_BIN)

enum {
  PROP_0,
  PROP_STORE,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

enum {
  REUSE_PARAMETERS,
  SEND_TO_CANVAS,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

struct _DeleteUndo
{
  GWeakRef        view;
  HbHistoryStore *store;
  GArray         *ids;
  AdwToast       *toast;   /* unowned; lives as long as it is shown */
  gboolean        undone;
};

static void
show_error (HbGalleryView *self, const char *what, const GError *error)
{
  g_autofree char *title = g_strdup_printf ("%s: %s", what, error->message);
  AdwToast *toast = adw_toast_new (title);

  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
show_message (HbGalleryView *self, const char *message)
{
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));
}

/* Completion of store requests that only report failure. */
static void
on_store_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(HbGalleryView) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!hb_history_store_finish (HB_HISTORY_STORE (source), result, &error))
    show_error (self, _("The history could not be changed"), error);
}

/* ---- tiles -------------------------------------------------------------- */

#define TEXTURE_KEY  "hb-gallery-texture"
#define DECODING_KEY "hb-gallery-decoding"

static void
decode_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  GdkTexture *texture = gdk_texture_new_from_bytes (data, &error);

  if (texture == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, texture, g_object_unref);
}

static void
on_texture_decoded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HbHistoryItem *item = HB_HISTORY_ITEM (source);
  g_autoptr(GError) error = NULL;
  GdkTexture *texture = g_task_propagate_pointer (G_TASK (result), &error);

  if (texture == NULL)
    {
      g_debug ("Thumbnail of %" G_GINT64_FORMAT " unreadable: %s",
               hb_history_item_get_id (item), error->message);
      return;
    }
  g_object_set_data_full (G_OBJECT (item), TEXTURE_KEY, texture, g_object_unref);
  /* Tells the bound tile that its picture is ready. */
  g_object_notify (G_OBJECT (item), "thumbnail");
}

/* PNG decoding runs off the GUI thread: a screenful of new tiles would
 * otherwise cost frames while scrolling. */
static GdkTexture *
tile_texture (HbHistoryItem *item)
{
  GdkTexture *texture = g_object_get_data (G_OBJECT (item), TEXTURE_KEY);
  GBytes *png;
  g_autoptr(GTask) task = NULL;

  if (texture != NULL || g_object_get_data (G_OBJECT (item), DECODING_KEY) != NULL)
    return texture;
  png = hb_history_item_get_thumbnail (item);
  if (png == NULL)
    {
      hb_history_item_load_thumbnail (item);
      return NULL;
    }
  g_object_set_data (G_OBJECT (item), DECODING_KEY, GINT_TO_POINTER (TRUE));
  task = g_task_new (item, NULL, on_texture_decoded, NULL);
  g_task_set_task_data (task, g_bytes_ref (png), (GDestroyNotify) g_bytes_unref);
  g_task_run_in_thread (task, decode_thread);
  return NULL;
}

static void
update_tile (GtkListItem *list_item)
{
  HbHistoryItem *item = gtk_list_item_get_item (list_item);
  GtkWidget *overlay = gtk_list_item_get_child (list_item);
  GtkWidget *picture = gtk_overlay_get_child (GTK_OVERLAY (overlay));
  GtkWidget *star = g_object_get_data (G_OBJECT (overlay), "star");
  const HbGenerationRecord *record = hb_history_item_get_record (item);
  const char *prompt = record ? record->prompt : "";

  gtk_picture_set_paintable (GTK_PICTURE (picture), GDK_PAINTABLE (tile_texture (item)));
  gtk_widget_set_visible (star, record != NULL && record->favourite);
  gtk_accessible_update_property (GTK_ACCESSIBLE (overlay), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  prompt[0] ? prompt : _("Picture without a prompt"), -1);
}

static void
on_tile_item_notify (HbHistoryItem *item, GParamSpec *pspec, GtkListItem *list_item)
{
  if (gtk_list_item_get_item (list_item) == (gpointer) item)
    update_tile (list_item);
}

/* The prompt as the tile's tooltip, asked for only when the pointer rests
 * on it: gtk_widget_set_tooltip_text() would ask the display server where
 * the pointer is (a round trip) every time a tile's record or thumbnail
 * arrives, and that is most of the main thread's time while scrolling. */
static gboolean
on_tile_query_tooltip (GtkWidget *overlay, int x, int y, gboolean keyboard, GtkTooltip *tooltip,
                       GtkListItem *list_item)
{
  HbHistoryItem *item = gtk_list_item_get_item (list_item);
  const HbGenerationRecord *record = item ? hb_history_item_get_record (item) : NULL;

  if (record == NULL || record->prompt[0] == '\0')
    return FALSE;
  gtk_tooltip_set_text (tooltip, record->prompt);
  return TRUE;
}

static void
setup_tile (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GtkWidget *overlay = gtk_overlay_new ();
  GtkWidget *picture = gtk_picture_new ();
  GtkWidget *star = gtk_image_new_from_icon_name ("starred-symbolic");

  gtk_widget_set_size_request (picture, TILE_SIZE, TILE_SIZE);
  gtk_picture_set_can_shrink (GTK_PICTURE (picture), TRUE);
  gtk_picture_set_content_fit (GTK_PICTURE (picture), GTK_CONTENT_FIT_COVER);
  gtk_widget_set_halign (star, GTK_ALIGN_END);
  gtk_widget_set_valign (star, GTK_ALIGN_START);
  gtk_widget_set_margin_top (star, 6);
  gtk_widget_set_margin_end (star, 6);
  gtk_overlay_set_child (GTK_OVERLAY (overlay), picture);
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), star);
  g_object_set_data (G_OBJECT (overlay), "star", star);
  gtk_widget_set_has_tooltip (overlay, TRUE);
  g_signal_connect (overlay, "query-tooltip", G_CALLBACK (on_tile_query_tooltip), list_item);
  gtk_list_item_set_child (list_item, overlay);
}

static void
bind_tile (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  HbHistoryItem *item = gtk_list_item_get_item (list_item);

  g_signal_connect_object (item, "notify::record", G_CALLBACK (on_tile_item_notify), list_item, 0);
  g_signal_connect_object (item, "notify::thumbnail", G_CALLBACK (on_tile_item_notify), list_item, 0);
  update_tile (list_item);
}

static void
unbind_tile (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  HbHistoryItem *item = gtk_list_item_get_item (list_item);
  GtkWidget *overlay = gtk_list_item_get_child (list_item);

  g_signal_handlers_disconnect_by_func (item, on_tile_item_notify, list_item);
  gtk_picture_set_paintable (GTK_PICTURE (gtk_overlay_get_child (GTK_OVERLAY (overlay))), NULL);
}

/* ---- the detail pane ------------------------------------------------------ */

static void
on_picture_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(HbGalleryView) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = g_task_propagate_pointer (G_TASK (result), &error);

  if (texture != NULL)
    gtk_picture_set_paintable (self->detail_picture, GDK_PAINTABLE (texture));
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("Picture not shown: %s", error->message);
}

static void
load_picture_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  GdkTexture *texture = gdk_texture_new_from_filename (data, &error);

  if (g_task_return_error_if_cancelled (task))
    g_clear_object (&texture);
  else if (texture == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, texture, g_object_unref);
}

static void
load_picture (HbGalleryView *self, const HbGenerationRecord *record)
{
  g_autoptr(GTask) task = NULL;

  g_cancellable_cancel (self->picture_cancellable);
  g_clear_object (&self->picture_cancellable);
  gtk_picture_set_paintable (self->detail_picture, NULL);
  if (record == NULL)
    return;
  self->picture_cancellable = g_cancellable_new ();
  task = g_task_new (NULL, self->picture_cancellable, on_picture_loaded, g_object_ref (self));
  g_task_set_task_data (task, hb_history_store_resolve_path (self->store, record->image_path), g_free);
  g_task_run_in_thread (task, load_picture_thread);
}

static char *
describe_settings (const HbGenerationRecord *record)
{
  g_autoptr(HbGenerationRecord) settings = hb_generation_record_copy (record);
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local (record->created_us / G_USEC_PER_SEC);
  g_autofree char *line = NULL;
  g_autofree char *date = when ? g_date_time_format (when, "%x %X") : NULL;
  GString *text = g_string_new (NULL);

  /* The parameters text without its prompts is the settings line. */
  g_free (settings->prompt);
  settings->prompt = g_strdup ("");
  g_free (settings->negative_prompt);
  settings->negative_prompt = g_strdup ("");
  line = hb_generation_record_to_parameters (settings);
  g_string_append (text, g_strstrip (line));
  if (date != NULL)
    g_string_append_printf (text, "\n%s", date);
  if (record->duration_s >= 0)
    g_string_append_printf (text, _(", took %.1f s"), record->duration_s);
  return g_string_free (text, FALSE);
}

static char *
describe_lineage (const HbGenerationRecord *record)
{
  GString *text = g_string_new (NULL);

  if (record->parent_path != NULL)
    {
      g_autofree char *name = g_path_get_basename (record->parent_path);

      g_string_append_printf (text, _("Made from %s (#%" PRId64 ")"), name, record->parent_id);
    }
  if (record->sketch_path != NULL)
    g_string_append_printf (text, "%s%s", text->len ? "\n" : "", _("Started from a sketch"));
  if (record->mask_path != NULL)
    g_string_append_printf (text, "%s%s", text->len ? "\n" : "", _("Inpainted with a mask"));
  if (text->len == 0)
    g_string_append (text, _("Generated from the prompt alone"));
  return g_string_free (text, FALSE);
}

static void
update_actions (HbGalleryView *self)
{
  const HbGenerationRecord *record = self->shown ? hb_history_item_get_record (self->shown) : NULL;
  g_autoptr(GtkBitset) selected = gtk_selection_model_get_selection (GTK_SELECTION_MODEL (self->selection));
  gboolean any = !gtk_bitset_is_empty (selected);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.reuse", record != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.send-to-canvas", record != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.toggle-favourite", record != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.copy-prompt", record != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.open-folder", record != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.export", any);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.delete", any);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.undo", self->last_delete != NULL);
}

static void
update_detail (HbGalleryView *self)
{
  const HbGenerationRecord *record = self->shown ? hb_history_item_get_record (self->shown) : NULL;
  g_autofree char *settings = record ? describe_settings (record) : NULL;
  g_autofree char *lineage = record ? describe_lineage (record) : NULL;

  gtk_widget_set_sensitive (self->detail_box, record != NULL);
  gtk_label_set_text (self->prompt_label, record ? record->prompt : "");
  gtk_label_set_text (self->negative_label,
                      record && record->negative_prompt[0] ? record->negative_prompt : "—");
  gtk_label_set_text (self->settings_label, settings ? settings : "");
  gtk_label_set_text (self->lineage_label, lineage ? lineage : "");
  gtk_button_set_icon_name (self->favourite_button, record && record->favourite
                                                    ? "starred-symbolic" : "non-starred-symbolic");
  update_actions (self);
}

static void
on_shown_record (HbHistoryItem *item, GParamSpec *pspec, HbGalleryView *self)
{
  const HbGenerationRecord *record = hb_history_item_get_record (item);
  gboolean first = gtk_widget_get_sensitive (self->detail_box) == FALSE;

  update_detail (self);
  if (first)
    load_picture (self, record);
}

static void
show_item (HbGalleryView *self, HbHistoryItem *item)
{
  if (self->shown == item)
    return;
  if (self->shown != NULL)
    g_signal_handlers_disconnect_by_func (self->shown, on_shown_record, self);
  g_set_object (&self->shown, item);
  if (item != NULL)
    g_signal_connect_object (item, "notify::record", G_CALLBACK (on_shown_record), self, 0);
  update_detail (self);
  load_picture (self, item ? hb_history_item_get_record (item) : NULL);
}

static void
on_selection_changed (GtkSelectionModel *model, guint position, guint n_items, HbGalleryView *self)
{
  g_autoptr(GtkBitset) selected = gtk_selection_model_get_selection (model);
  g_autoptr(HbHistoryItem) item = NULL;

  if (!gtk_bitset_is_empty (selected))
    item = g_list_model_get_item (G_LIST_MODEL (model), gtk_bitset_get_minimum (selected));
  show_item (self, item);
}

/* Removed items leave the selection without a "selection-changed": a
 * deleted picture must not stay in the detail pane. */
static void
on_selection_items_changed (GtkSelectionModel *model, guint position, guint removed, guint added,
                            HbGalleryView *self)
{
  on_selection_changed (model, position, added, self);
}

/* ---- filters ---------------------------------------------------------------- */

static gint64
date_filter_start (guint choice)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) start = NULL;

  switch (choice)
    {
    case 1:
      start = g_date_time_new_local (g_date_time_get_year (now), g_date_time_get_month (now),
                                     g_date_time_get_day_of_month (now), 0, 0, 0);
      break;
    case 2:
      start = g_date_time_add_days (now, -7);
      break;
    case 3:
      start = g_date_time_add_days (now, -30);
      break;
    case 4:
      start = g_date_time_new_local (g_date_time_get_year (now), 1, 1, 0, 0, 0);
      break;
    default:
      return 0;
    }
  return g_date_time_to_unix (start) * G_USEC_PER_SEC;
}

static gboolean
filters_active (HbGalleryView *self)
{
  return gtk_editable_get_text (GTK_EDITABLE (self->search_entry))[0] != '\0'
         || gtk_toggle_button_get_active (self->favourites_button)
         || gtk_drop_down_get_selected (self->model_dropdown) > 0
         || gtk_drop_down_get_selected (self->date_dropdown) > 0;
}

static void
on_filters_changed (HbGalleryView *self)
{
  HbHistoryQuery query = { NULL };
  guint model = gtk_drop_down_get_selected (self->model_dropdown);

  if (self->model == NULL)
    return;
  query.text = gtk_editable_get_text (GTK_EDITABLE (self->search_entry));
  query.favourites_only = gtk_toggle_button_get_active (self->favourites_button);
  if (model > 0 && model != GTK_INVALID_LIST_POSITION)
    query.model_name = gtk_string_list_get_string (self->model_names, model);
  query.from_us = date_filter_start (gtk_drop_down_get_selected (self->date_dropdown));
  hb_history_model_set_query (self->model, &query);
}

static void
update_empty_state (HbGalleryView *self)
{
  gboolean empty = g_list_model_get_n_items (G_LIST_MODEL (self->model)) == 0;

  if (hb_history_model_get_loading (self->model))
    return;
  if (empty && filters_active (self))
    {
      adw_status_page_set_title (self->empty_page, _("No Matches"));
      adw_status_page_set_description (self->empty_page, _("Try other words or fewer filters."));
    }
  else if (empty)
    {
      adw_status_page_set_title (self->empty_page, _("No Pictures Yet"));
      adw_status_page_set_description (self->empty_page,
                                       _("Every picture you generate is kept here, with its parameters."));
    }
  gtk_stack_set_visible_child_name (self->grid_stack, empty ? "empty" : "grid");
}

static void
refresh_model_names (HbGalleryView *self)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) names = hb_history_store_list_models (self->store, &error);
  guint selected = gtk_drop_down_get_selected (self->model_dropdown);
  g_autofree char *current = NULL;
  guint keep = 0;

  if (names == NULL)
    {
      g_warning ("Could not list the history's models: %s", error->message);
      return;
    }
  if (selected > 0 && selected != GTK_INVALID_LIST_POSITION)
    current = g_strdup (gtk_string_list_get_string (self->model_names, selected));
  for (guint i = 0; names[i] != NULL; i++)
    if (g_strcmp0 (names[i], current) == 0)
      keep = i + 1;
  /* Unchanged list: leave the dropdown alone, it would re-run the query. */
  if (g_list_model_get_n_items (G_LIST_MODEL (self->model_names)) == g_strv_length (names) + 1)
    {
      gboolean same = TRUE;

      for (guint i = 0; names[i] != NULL && same; i++)
        same = g_str_equal (names[i], gtk_string_list_get_string (self->model_names, i + 1));
      if (same)
        return;
    }
  g_signal_handlers_block_by_func (self->model_dropdown, on_filters_changed, self);
  gtk_string_list_splice (self->model_names, 1,
                          g_list_model_get_n_items (G_LIST_MODEL (self->model_names)) - 1,
                          (const char * const *) names);
  gtk_drop_down_set_selected (self->model_dropdown, keep);
  g_signal_handlers_unblock_by_func (self->model_dropdown, on_filters_changed, self);
  if (current != NULL && keep == 0)
    on_filters_changed (self);
}

/* ---- actions ------------------------------------------------------------------ */

static const HbGenerationRecord *
shown_record (HbGalleryView *self)
{
  return self->shown ? hb_history_item_get_record (self->shown) : NULL;
}

static GArray *
selected_ids (HbGalleryView *self)
{
  g_autoptr(GtkBitset) selected = gtk_selection_model_get_selection (GTK_SELECTION_MODEL (self->selection));
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  GtkBitsetIter iter;
  guint position;

  if (gtk_bitset_iter_init_first (&iter, selected, &position))
    do
      {
        g_autoptr(HbHistoryItem) item = g_list_model_get_item (G_LIST_MODEL (self->model), position);
        gint64 id = hb_history_item_get_id (item);

        g_array_append_val (ids, id);
      }
    while (gtk_bitset_iter_next (&iter, &position));
  return ids;
}

static void
on_grid_activate (HbGalleryView *self, guint position)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "gallery.reuse", NULL);
}

static void
reuse_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  HbGalleryView *self = HB_GALLERY_VIEW (widget);
  const HbGenerationRecord *record = shown_record (self);

  if (record != NULL)
    g_signal_emit (self, signals[REUSE_PARAMETERS], 0, record);
}

static void
send_to_canvas_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  HbGalleryView *self = HB_GALLERY_VIEW (widget);
  const HbGenerationRecord *record = shown_record (self);
  g_autofree char *path = NULL;

  if (record == NULL)
    return;
  path = hb_history_store_resolve_path (self->store, record->image_path);
  g_signal_emit (self, signals[SEND_TO_CANVAS], 0, record, path);
}

static void
toggle_favourite_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  HbGalleryView *self = HB_GALLERY_VIEW (widget);
  const HbGenerationRecord *record = shown_record (self);

  if (record != NULL)
    hb_history_store_set_favourite_async (self->store, record->id, !record->favourite, NULL,
                                          on_store_done, g_object_ref (self));
}

static void
copy_prompt_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  HbGalleryView *self = HB_GALLERY_VIEW (widget);
  const HbGenerationRecord *record = shown_record (self);

  if (record == NULL)
    return;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), record->prompt);
  show_message (self, _("Prompt copied"));
}

static void
on_folder_opened (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(HbGalleryView) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error))
    show_error (self, _("The folder could not be opened"), error);
}

/* GtkFileLauncher, which can also select the file, needs GTK 4.10. */
static void
open_folder_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  HbGalleryView *self = HB_GALLERY_VIEW (widget);
  const HbGenerationRecord *record = shown_record (self);
  g_autofree char *path = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *uri = NULL;

  if (record == NULL)
    return;
  path = hb_history_store_resolve_path (self->store, record->image_path);
  folder = g_path_get_dirname (path);
  uri = g_filename_to_uri (folder, NULL, NULL);
  g_app_info_launch_default_for_uri_async (uri, NULL, NULL, on_folder_opened, g_object_ref (self));
}

typedef struct {
  HbGalleryView *view;
  GArray        *ids;
} ExportRequest;

static void
export_request_free (ExportRequest *request)
{
  g_object_unref (request->view);
  g_array_unref (request->ids);
  g_free (request);
}

static void
on_exported (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ExportRequest *request = user_data;
  g_autoptr(GError) error = NULL;

  if (!hb_history_store_finish (HB_HISTORY_STORE (source), result, &error))
    show_error (request->view, _("Export failed"), error);
  else
    {
      g_autofree char *message = g_strdup_printf (ngettext ("%u picture exported",
                                                            "%u pictures exported",
                                                            request->ids->len),
                                                  request->ids->len);
      show_message (request->view, message);
    }
  export_request_free (request);
}

static void
on_export_folder_chosen (GtkNativeDialog *dialog, int response, gpointer user_data)
{
  ExportRequest *request = user_data;
  g_autoptr(GFile) folder = NULL;
  g_autofree char *path = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  path = folder ? g_file_get_path (folder) : NULL;
  g_object_unref (dialog);
  if (path == NULL)
    {
      export_request_free (request);
      return;
    }
  hb_history_store_export_async (request->view->store, (gint64 *) request->ids->data,
                                 request->ids->len, path, NULL, on_exported, request);
}

static void
export_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  HbGalleryView *self = HB_GALLERY_VIEW (widget);
  ExportRequest *request = g_new0 (ExportRequest, 1);
  GtkFileChooserNative *chooser;

  request->view = g_object_ref (self);
  request->ids = selected_ids (self);
  chooser = gtk_file_chooser_native_new (_("Export to Folder"),
                                         GTK_WINDOW (gtk_widget_get_root (widget)),
                                         GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                         _("_Export"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (on_export_folder_chosen), request);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
delete_undo_free (gpointer data, GClosure *closure)
{
  DeleteUndo *undo = data;

  g_weak_ref_clear (&undo->view);
  g_object_unref (undo->store);
  g_array_unref (undo->ids);
  g_free (undo);
}

static void
undo_delete (DeleteUndo *undo)
{
  g_autoptr(HbGalleryView) self = g_weak_ref_get (&undo->view);

  if (undo->undone)
    return;
  undo->undone = TRUE;
  hb_history_store_restore_async (undo->store, (gint64 *) undo->ids->data, undo->ids->len, NULL,
                                  self ? on_store_done : NULL, self ? g_object_ref (self) : NULL);
}

static void
on_undo_clicked (AdwToast *toast, DeleteUndo *undo)
{
  undo_delete (undo);
}

/* The undo time is over: the files and rows go for good. Should the app
 * quit first, the next opening of the store finishes the job. */
static void
on_delete_toast_dismissed (AdwToast *toast, DeleteUndo *undo)
{
  g_autoptr(HbGalleryView) self = g_weak_ref_get (&undo->view);

  if (self != NULL && self->last_delete == undo)
    {
      self->last_delete = NULL;
      update_actions (self);
    }
  if (!undo->undone)
    hb_history_store_purge_async (undo->store, (gint64 *) undo->ids->data, undo->ids->len, NULL,
                                  NULL, NULL);
}

static void
delete_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  HbGalleryView *self = HB_GALLERY_VIEW (widget);
  DeleteUndo *undo = g_new0 (DeleteUndo, 1);
  g_autofree char *title = NULL;

  undo->ids = selected_ids (self);
  if (undo->ids->len == 0)
    {
      g_array_unref (undo->ids);
      g_free (undo);
      return;
    }
  g_weak_ref_init (&undo->view, self);
  undo->store = g_object_ref (self->store);
  hb_history_store_trash_async (self->store, (gint64 *) undo->ids->data, undo->ids->len, NULL,
                                on_store_done, g_object_ref (self));

  title = g_strdup_printf (ngettext ("%u picture deleted", "%u pictures deleted", undo->ids->len),
                           undo->ids->len);
  undo->toast = adw_toast_new (title);
  adw_toast_set_button_label (undo->toast, _("_Undo"));
  adw_toast_set_timeout (undo->toast, UNDO_SECONDS);
  adw_toast_set_priority (undo->toast, ADW_TOAST_PRIORITY_HIGH);
  g_signal_connect (undo->toast, "button-clicked", G_CALLBACK (on_undo_clicked), undo);
  g_signal_connect_data (undo->toast, "dismissed", G_CALLBACK (on_delete_toast_dismissed), undo,
                         delete_undo_free, 0);
  self->last_delete = undo;
  adw_toast_overlay_add_toast (self->toast_overlay, undo->toast);
  update_actions (self);
}

static void
undo_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  HbGalleryView *self = HB_GALLERY_VIEW (widget);
  DeleteUndo *undo = self->last_delete;

  if (undo == NULL)
    return;
  undo_delete (undo);
  adw_toast_dismiss (undo->toast);
}

static void
search_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  hb_gallery_view_focus_search (HB_GALLERY_VIEW (widget));
}

/* ---- GObject ---------------------------------------------------------------- */

static void
on_store_changed (HbGalleryView *self)
{
  refresh_model_names (self);
}

static void
hb_gallery_view_constructed (GObject *object)
{
  HbGalleryView *self = HB_GALLERY_VIEW (object);
  GtkListItemFactory *factory;

  G_OBJECT_CLASS (hb_gallery_view_parent_class)->constructed (object);
  g_return_if_fail (self->store != NULL);

  self->model = hb_history_model_new (self->store);
  self->selection = gtk_multi_selection_new (G_LIST_MODEL (g_object_ref (self->model)));
  g_signal_connect (self->selection, "selection-changed", G_CALLBACK (on_selection_changed), self);
  g_signal_connect (self->selection, "items-changed", G_CALLBACK (on_selection_items_changed), self);
  g_signal_connect_swapped (self->model, "items-changed", G_CALLBACK (update_empty_state), self);
  g_signal_connect_swapped (self->model, "notify::loading", G_CALLBACK (update_empty_state), self);
  self->store_changed_handler = g_signal_connect_swapped (self->store, "changed",
                                                          G_CALLBACK (on_store_changed), self);

  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (setup_tile), self);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_tile), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (unbind_tile), self);
  gtk_grid_view_set_factory (self->grid_view, factory);
  g_object_unref (factory);
  gtk_grid_view_set_model (self->grid_view, GTK_SELECTION_MODEL (self->selection));

  refresh_model_names (self);
  update_detail (self);
}

static void
hb_gallery_view_dispose (GObject *object)
{
  HbGalleryView *self = HB_GALLERY_VIEW (object);

  g_cancellable_cancel (self->picture_cancellable);
  g_clear_object (&self->picture_cancellable);
  if (self->shown != NULL)
    g_signal_handlers_disconnect_by_func (self->shown, on_shown_record, self);
  g_clear_object (&self->shown);
  if (self->store != NULL)
    g_clear_signal_handler (&self->store_changed_handler, self->store);
  g_clear_object (&self->selection);
  /* A load in flight keeps the model alive past this view: its "loading"
   * notification must not reach the view once it is gone. */
  if (self->model != NULL)
    g_signal_handlers_disconnect_by_data (self->model, self);
  g_clear_object (&self->model);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (hb_gallery_view_parent_class)->dispose (object);
}

static void
hb_gallery_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HbGalleryView *self = HB_GALLERY_VIEW (object);

  switch (prop_id)
    {
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hb_gallery_view_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  HbGalleryView *self = HB_GALLERY_VIEW (object);

  switch (prop_id)
    {
    case PROP_STORE:
      self->store = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hb_gallery_view_class_init (HbGalleryViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = hb_gallery_view_constructed;
  object_class->dispose = hb_gallery_view_dispose;
  object_class->get_property = hb_gallery_view_get_property;
  object_class->set_property = hb_gallery_view_set_property;

  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL, HB_TYPE_HISTORY_STORE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[REUSE_PARAMETERS] =
    g_signal_new ("reuse-parameters", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1,
                  HB_TYPE_GENERATION_RECORD | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SEND_TO_CANVAS] =
    g_signal_new ("send-to-canvas", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2,
                  HB_TYPE_GENERATION_RECORD | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/huabu/Huabu/hb-gallery-view.ui");
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, search_entry);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, favourites_button);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, model_dropdown);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, date_dropdown);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, grid_stack);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, grid_view);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, empty_page);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, detail_box);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, detail_picture);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, favourite_button);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, prompt_label);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, negative_label);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, settings_label);
  gtk_widget_class_bind_template_child (widget_class, HbGalleryView, lineage_label);
  gtk_widget_class_bind_template_callback (widget_class, on_filters_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_grid_activate);

  gtk_widget_class_install_action (widget_class, "gallery.reuse", NULL, reuse_action);
  gtk_widget_class_install_action (widget_class, "gallery.send-to-canvas", NULL, send_to_canvas_action);
  gtk_widget_class_install_action (widget_class, "gallery.toggle-favourite", NULL, toggle_favourite_action);
  gtk_widget_class_install_action (widget_class, "gallery.copy-prompt", NULL, copy_prompt_action);
  gtk_widget_class_install_action (widget_class, "gallery.open-folder", NULL, open_folder_action);
  gtk_widget_class_install_action (widget_class, "gallery.export", NULL, export_action);
  gtk_widget_class_install_action (widget_class, "gallery.delete", NULL, delete_action);
  gtk_widget_class_install_action (widget_class, "gallery.undo", NULL, undo_action);
  gtk_widget_class_install_action (widget_class, "gallery.search", NULL, search_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "gallery.delete", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK, "gallery.undo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK, "gallery.search", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK, "gallery.reuse", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_e, GDK_CONTROL_MASK,
                                       "gallery.send-to-canvas", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_d, GDK_CONTROL_MASK,
                                       "gallery.toggle-favourite", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_C, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "gallery.copy-prompt", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_E, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "gallery.export", NULL);
}

static void
hb_gallery_view_init (HbGalleryView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->model_names = gtk_string_list_new (NULL);
  gtk_string_list_append (self->model_names, _("All models"));
  gtk_drop_down_set_model (self->model_dropdown, G_LIST_MODEL (self->model_names));
  g_object_unref (self->model_names);
}

GtkWidget *
hb_gallery_view_new (HbHistoryStore *store)
{
  g_return_val_if_fail (HB_IS_HISTORY_STORE (store), NULL);
  return g_object_new (HB_TYPE_GALLERY_VIEW, "store", store, NULL);
}

HbHistoryStore *
hb_gallery_view_get_store (HbGalleryView *self)
{
  g_return_val_if_fail (HB_IS_GALLERY_VIEW (self), NULL);
  return self->store;
}

void
hb_gallery_view_search (HbGalleryView *self, const char *text)
{
  g_return_if_fail (HB_IS_GALLERY_VIEW (self));
  gtk_editable_set_text (GTK_EDITABLE (self->search_entry), text);
  on_filters_changed (self);
}

void
hb_gallery_view_focus_search (HbGalleryView *self)
{
  g_return_if_fail (HB_IS_GALLERY_VIEW (self));
  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

GListModel *
hb_gallery_view_get_model (HbGalleryView *self)
{
  g_return_val_if_fail (HB_IS_GALLERY_VIEW (self), NULL);
  return G_LIST_MODEL (self->model);
}

void
hb_gallery_view_select (HbGalleryView *self, guint position)
{
  g_return_if_fail (HB_IS_GALLERY_VIEW (self));
  gtk_selection_model_select_item (GTK_SELECTION_MODEL (self->selection), position, TRUE);
}
