/* hb-sidebar.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "hb-sidebar.h"

/* In the order of the sampler row's list; the names are the settings'
 * values (NULL-terminated for the binding mappings). */
static const char * const sampler_names[] = { "Euler", "Euler a", "DPM++ 2M", "DDIM", "LCM", NULL };
static const HbSampler sampler_values[] = {
  HB_SAMPLER_EULER, HB_SAMPLER_EULER_A, HB_SAMPLER_DPMPP_2M, HB_SAMPLER_DDIM, HB_SAMPLER_LCM
};
/* In the order of the scheduler row's list. */
static const char * const scheduler_names[] = { "discrete", "karras", NULL };
static const HbSchedule scheduler_values[] = { HB_SCHEDULE_DISCRETE, HB_SCHEDULE_KARRAS };

struct _HbSidebar
{
  GtkWidget       parent_instance;

  /* template widgets */
  GtkTextView    *prompt_view;
  GtkTextView    *negative_view;
  AdwComboRow    *model_row;
  AdwComboRow    *sampler_row;
  AdwComboRow    *scheduler_row;
  GtkSpinButton  *steps_spin;
  GtkSpinButton  *cfg_spin;
  GtkSpinButton  *seed_spin;
  GtkToggleButton *seed_lock_button;
  GtkSpinButton  *width_spin;
  GtkSpinButton  *height_spin;
  GtkSpinButton  *strength_spin;
  GtkSpinButton  *batch_spin;
  GtkButton      *generate_button;
  GtkWidget      *progress_box;
  GtkProgressBar *progress_bar;
  GtkLabel       *progress_label;

  /* owned */
  GSettings      *settings;
  GtkStringList  *model_names;
  GPtrArray      *model_paths;   /* parallel to model_names; "" = built-in */
  GtkNativeDialog *chooser;
  gboolean        syncing_model;
};

G_DEFINE_FINAL_TYPE (HbSidebar, hb_sidebar, GTK_TYPE_WIDGET)

static gboolean
index_from_string (GValue   *value,
                   GVariant *variant,
                   gpointer  user_data)
{
  const char * const *names = user_data;
  const char *str = g_variant_get_string (variant, NULL);

  for (guint i = 0; names[i] != NULL; i++)
    if (g_strcmp0 (names[i], str) == 0)
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  return FALSE;
}

static GVariant *
string_from_index (const GValue       *value,
                   const GVariantType *type,
                   gpointer            user_data)
{
  const char * const *names = user_data;
  guint i = g_value_get_uint (value);

  if (i >= g_strv_length ((char **) names))
    return NULL;
  return g_variant_new_string (names[i]);
}

/* ---- models ---------------------------------------------------------- */

static void
select_current_model (HbSidebar *self)
{
  g_autofree char *current = g_settings_get_string (self->settings, "model");

  self->syncing_model = TRUE;
  for (guint i = 0; i < self->model_paths->len; i++)
    if (g_strcmp0 (g_ptr_array_index (self->model_paths, i), current) == 0)
      {
        adw_combo_row_set_selected (self->model_row, i);
        break;
      }
  self->syncing_model = FALSE;
}

static void
reload_models (HbSidebar *self)
{
  g_auto(GStrv) paths = g_settings_get_strv (self->settings, "models");
  guint n_old = g_list_model_get_n_items (G_LIST_MODEL (self->model_names));
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_set_size (self->model_paths, 0);
  g_ptr_array_add (self->model_paths, g_strdup (""));
  g_ptr_array_add (names, g_strdup (_("Built-in")));
  for (guint i = 0; paths[i] != NULL; i++)
    {
      g_ptr_array_add (self->model_paths, g_strdup (paths[i]));
      g_ptr_array_add (names, g_path_get_basename (paths[i]));
    }
  g_ptr_array_add (names, NULL);

  self->syncing_model = TRUE;
  gtk_string_list_splice (self->model_names, 0, n_old, (const char * const *) names->pdata);
  self->syncing_model = FALSE;
  select_current_model (self);
}

/* Guidance belongs to a model: the built-in one was made for 4 and paints
 * blotches at SD's usual 7. Choosing a model sets the scale it names in its
 * metadata, or 7 where it names none; a scale changed by hand afterwards
 * stays until the next choice. */
static guint
index_of_sampler (HbSampler sampler)
{
  for (guint i = 0; i < G_N_ELEMENTS (sampler_values); i++)
    if (sampler_values[i] == sampler)
      return i;
  return 0;
}

/* The model's own guidance scale and sampler (its metadata), else SD's
 * usual ones; only those asked for. */
static void
apply_model_defaults (HbSidebar *self,
                      gboolean   cfg_too,
                      gboolean   sampler_too)
{
  g_autofree char *path = g_settings_get_string (self->settings, "model");
  double cfg;
  HbSampler sampler;
  gboolean has_sampler = hb_model_file_recommended (path, &cfg, &sampler);

  if (cfg_too)
    g_settings_set_double (self->settings, "cfg", cfg > 0 ? cfg : HB_DEFAULT_CFG);
  if (sampler_too && has_sampler)
    g_settings_set_string (self->settings, "sampler", sampler_names[index_of_sampler (sampler)]);
  else if (sampler_too)
    g_settings_reset (self->settings, "sampler");
}

static void
on_model_selected (HbSidebar *self)
{
  guint i = adw_combo_row_get_selected (self->model_row);

  if (self->syncing_model || self->settings == NULL || i >= self->model_paths->len)
    return;
  g_settings_set_string (self->settings, "model", g_ptr_array_index (self->model_paths, i));
  apply_model_defaults (self, TRUE, TRUE);
}

static void
add_model_path (HbSidebar  *self,
                const char *path)
{
  g_auto(GStrv) paths = g_settings_get_strv (self->settings, "models");

  if (!g_strv_contains ((const char * const *) paths, path))
    {
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_auto(GStrv) updated = NULL;

      g_strv_builder_addv (builder, (const char **) paths);
      g_strv_builder_add (builder, path);
      updated = g_strv_builder_end (builder);
      g_settings_set_strv (self->settings, "models", (const char * const *) updated);
    }
  g_settings_set_string (self->settings, "model", path);
  apply_model_defaults (self, TRUE, TRUE);
}

static void
on_chooser_response (GtkNativeDialog *dialog,
                     int              response,
                     HbSidebar       *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        add_model_path (self, path);
    }
  g_clear_object (&self->chooser);
}

static void
open_model_chooser (HbSidebar            *self,
                    GtkFileChooserAction  action)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkFileChooserNative *chooser;

  if (self->chooser != NULL)
    return;

  chooser = gtk_file_chooser_native_new (action == GTK_FILE_CHOOSER_ACTION_OPEN
                                           ? _("Add a Checkpoint File")
                                           : _("Add a Diffusers Folder"),
                                         GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                         action, _("_Add"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  if (action == GTK_FILE_CHOOSER_ACTION_OPEN)
    {
      g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

      gtk_file_filter_set_name (filter, _("Safetensors checkpoints"));
      gtk_file_filter_add_suffix (filter, "safetensors");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
    }
  g_signal_connect (chooser, "response", G_CALLBACK (on_chooser_response), self);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  gtk_native_dialog_show (self->chooser);
}

static void
add_model_file_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  open_model_chooser (HB_SIDEBAR (widget), GTK_FILE_CHOOSER_ACTION_OPEN);
}

static void
add_model_folder_action (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *parameter)
{
  open_model_chooser (HB_SIDEBAR (widget), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
}

/* ---- seed ------------------------------------------------------------ */

static void
update_seed_lock (HbSidebar *self)
{
  gboolean locked = gtk_toggle_button_get_active (self->seed_lock_button);

  gtk_button_set_icon_name (GTK_BUTTON (self->seed_lock_button),
                            locked ? "changes-prevent-symbolic" : "hb-dice-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->seed_lock_button),
                               locked ? _("Seed Kept: Same Noise Each Time")
                                      : _("A New Random Seed Each Time"));
}

/* ---- public ---------------------------------------------------------- */

static char *
dup_text (GtkTextView *view)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (view);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

char *
hb_sidebar_dup_prompt (HbSidebar *self)
{
  g_return_val_if_fail (HB_IS_SIDEBAR (self), NULL);
  return dup_text (self->prompt_view);
}

void
hb_sidebar_set_prompt (HbSidebar  *self,
                       const char *prompt)
{
  g_return_if_fail (HB_IS_SIDEBAR (self));
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->prompt_view), prompt, -1);
}

void
hb_sidebar_fill_request (HbSidebar           *self,
                         HbGenerationRequest *request,
                         gboolean             keep_seed)
{
  guint sampler, scheduler;
  g_autofree char *rng = NULL;

  g_return_if_fail (HB_IS_SIDEBAR (self));
  g_return_if_fail (self->settings != NULL);

  if (!keep_seed && !gtk_toggle_button_get_active (self->seed_lock_button))
    gtk_spin_button_set_value (self->seed_spin, g_random_int ());

  g_free (request->prompt);
  request->prompt = dup_text (self->prompt_view);
  g_free (request->negative_prompt);
  request->negative_prompt = dup_text (self->negative_view);
  g_free (request->model_path);
  request->model_path = g_settings_get_string (self->settings, "model");
  g_free (request->device);
  request->device = g_settings_get_string (self->settings, "device");

  sampler = MIN (adw_combo_row_get_selected (self->sampler_row), G_N_ELEMENTS (sampler_values) - 1);
  scheduler = MIN (adw_combo_row_get_selected (self->scheduler_row), G_N_ELEMENTS (scheduler_values) - 1);
  rng = g_settings_get_string (self->settings, "rng");

  request->params.sampler = sampler_values[sampler];
  request->params.schedule = scheduler_values[scheduler];
  request->params.rng = g_str_equal (rng, "cpu") ? HB_RNG_CPU : HB_RNG_PHILOX;
  request->params.clip_skip = g_settings_get_int (self->settings, "clip-skip");
  request->params.seed = (guint64) gtk_spin_button_get_value (self->seed_spin);
  request->params.steps = gtk_spin_button_get_value_as_int (self->steps_spin);
  request->params.cfg = (float) gtk_spin_button_get_value (self->cfg_spin);
  /* The UNet halves the size three times: keep both sides multiples of 8. */
  request->params.width = gtk_spin_button_get_value_as_int (self->width_spin) / 8 * 8;
  request->params.height = gtk_spin_button_get_value_as_int (self->height_spin) / 8 * 8;
  request->params.strength = (float) gtk_spin_button_get_value (self->strength_spin);
  request->batch_count = gtk_spin_button_get_value_as_int (self->batch_spin);
}

gboolean
hb_sidebar_apply_record (HbSidebar                *self,
                         const HbGenerationRecord *record,
                         GError                  **error)
{
  g_autoptr(HbGenerationRequest) current = hb_generation_request_new ();
  HbGenerateParams *params = &current->params;
  gboolean applied_all;

  g_return_val_if_fail (HB_IS_SIDEBAR (self), FALSE);
  g_return_val_if_fail (record != NULL, FALSE);
  g_return_val_if_fail (self->settings != NULL, FALSE);

  /* Start from what the sidebar holds, so what the record does not know
   * stays as the person left it. */
  hb_sidebar_fill_request (self, current, TRUE);
  hb_generation_request_seal (current);
  applied_all = hb_generation_record_apply_to_params (record, params, error);

  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->prompt_view), params->prompt, -1);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->negative_view), params->negative_prompt, -1);

  /* Other tools allow values outside the settings' ranges. */
  g_settings_set_int (self->settings, "steps", CLAMP (params->steps, 1, 150));
  g_settings_set_double (self->settings, "cfg", CLAMP (params->cfg, 1.0, 30.0));
  g_settings_set_int (self->settings, "width", CLAMP (params->width, 64, 2048) / 8 * 8);
  g_settings_set_int (self->settings, "height", CLAMP (params->height, 64, 2048) / 8 * 8);
  g_settings_set_double (self->settings, "strength", CLAMP (params->strength, 0.05, 1.0));
  g_settings_set_int (self->settings, "clip-skip", CLAMP (params->clip_skip, 1, 4));
  g_settings_set_string (self->settings, "sampler", sampler_names[index_of_sampler (params->sampler)]);
  g_settings_set_string (self->settings, "scheduler",
                         scheduler_names[params->schedule == HB_SCHEDULE_KARRAS ? 1 : 0]);
  g_settings_set_string (self->settings, "rng", params->rng == HB_RNG_CPU ? "cpu" : "philox");
  if (record->has_seed)
    {
      /* Reusing a picture's settings means its seed too: keep it. */
      g_settings_set_int64 (self->settings, "seed", (gint64) MIN (record->seed, G_MAXUINT32));
      g_settings_set_boolean (self->settings, "seed-locked", TRUE);
    }
  return applied_all;
}

void
hb_sidebar_set_running (HbSidebar *self,
                        gboolean   running)
{
  GtkWidget *button;

  g_return_if_fail (HB_IS_SIDEBAR (self));

  button = GTK_WIDGET (self->generate_button);
  gtk_button_set_label (self->generate_button, running ? _("_Cancel") : _("_Generate"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), running ? "win.cancel" : "win.generate");
  gtk_widget_set_tooltip_text (button, running ? _("Cancel (Escape)") : _("Generate (Ctrl+Enter)"));
  if (running)
    {
      gtk_widget_remove_css_class (button, "suggested-action");
      gtk_widget_add_css_class (button, "destructive-action");
      gtk_progress_bar_set_fraction (self->progress_bar, 0);
      gtk_label_set_text (self->progress_label, _("Loading the model…"));
    }
  else
    {
      gtk_widget_remove_css_class (button, "destructive-action");
      gtk_widget_add_css_class (button, "suggested-action");
    }
  gtk_widget_set_visible (self->progress_box, running);
}

void
hb_sidebar_set_progress (HbSidebar *self,
                         int        image_index,
                         int        n_images,
                         int        step,
                         int        n_steps,
                         double     elapsed)
{
  g_autofree char *text = NULL;
  g_autofree char *time = NULL;
  double done;

  g_return_if_fail (HB_IS_SIDEBAR (self));

  n_images = MAX (n_images, 1);
  n_steps = MAX (n_steps, 1);
  done = (image_index + (double) step / n_steps) / n_images;
  gtk_progress_bar_set_fraction (self->progress_bar, CLAMP (done, 0.0, 1.0));

  /* Translators: elapsed time in seconds, as in "4.2 s" */
  time = g_strdup_printf (_("%.1f s"), elapsed);
  if (n_images > 1)
    /* Translators: "Picture 2 of 4 · Step 5 of 20 · 4.2 s" */
    text = g_strdup_printf (_("Picture %d of %d · Step %d of %d · %s"),
                            image_index + 1, n_images, step, n_steps, time);
  else
    /* Translators: "Step 5 of 20 · 4.2 s" */
    text = g_strdup_printf (_("Step %d of %d · %s"), step, n_steps, time);
  gtk_label_set_text (self->progress_label, text);
}

const char *
hb_sidebar_get_progress_text (HbSidebar *self)
{
  g_return_val_if_fail (HB_IS_SIDEBAR (self), NULL);
  return gtk_label_get_text (self->progress_label);
}

void
hb_sidebar_set_settings (HbSidebar *self,
                         GSettings *settings)
{
  g_autoptr(GVariant) user_cfg = NULL;
  g_autoptr(GVariant) user_sampler = NULL;

  g_return_if_fail (HB_IS_SIDEBAR (self));
  g_return_if_fail (G_IS_SETTINGS (settings));
  g_return_if_fail (self->settings == NULL);

  self->settings = g_object_ref (settings);

  g_settings_bind (settings, "prompt", gtk_text_view_get_buffer (self->prompt_view), "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "negative-prompt", gtk_text_view_get_buffer (self->negative_view), "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "steps", self->steps_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "cfg", self->cfg_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "seed", self->seed_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "seed-locked", self->seed_lock_button, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "width", self->width_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "height", self->height_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "strength", self->strength_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "batch-count", self->batch_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (settings, "sampler", self->sampler_row, "selected", G_SETTINGS_BIND_DEFAULT,
                                index_from_string, string_from_index, (gpointer) sampler_names, NULL);
  g_settings_bind_with_mapping (settings, "scheduler", self->scheduler_row, "selected", G_SETTINGS_BIND_DEFAULT,
                                index_from_string, string_from_index, (gpointer) scheduler_names, NULL);

  g_signal_connect_object (settings, "changed::models", G_CALLBACK (reload_models), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "changed::model", G_CALLBACK (select_current_model), self, G_CONNECT_SWAPPED);
  reload_models (self);
  /* Until a scale or a sampler is set by hand, the model's own. */
  user_cfg = g_settings_get_user_value (settings, "cfg");
  user_sampler = g_settings_get_user_value (settings, "sampler");
  if (user_cfg == NULL || user_sampler == NULL)
    apply_model_defaults (self, user_cfg == NULL, user_sampler == NULL);
  update_seed_lock (self);
}

/* ---- GObject --------------------------------------------------------- */

static void
hb_sidebar_dispose (GObject *object)
{
  HbSidebar *self = HB_SIDEBAR (object);
  GtkWidget *child;

  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  gtk_widget_dispose_template (GTK_WIDGET (self), HB_TYPE_SIDEBAR);
  /* dispose_template only removes the children the class binds. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (hb_sidebar_parent_class)->dispose (object);
}

static void
hb_sidebar_finalize (GObject *object)
{
  HbSidebar *self = HB_SIDEBAR (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->model_names);
  g_clear_pointer (&self->model_paths, g_ptr_array_unref);

  G_OBJECT_CLASS (hb_sidebar_parent_class)->finalize (object);
}

static void
hb_sidebar_class_init (HbSidebarClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = hb_sidebar_dispose;
  object_class->finalize = hb_sidebar_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/huabu/Huabu/hb-sidebar.ui");
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, prompt_view);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, negative_view);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, model_row);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, sampler_row);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, scheduler_row);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, cfg_spin);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, seed_spin);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, seed_lock_button);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, width_spin);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, height_spin);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, strength_spin);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, batch_spin);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, generate_button);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, progress_box);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, HbSidebar, progress_label);

  gtk_widget_class_install_action (widget_class, "sidebar.add-model-file", NULL, add_model_file_action);
  gtk_widget_class_install_action (widget_class, "sidebar.add-model-folder", NULL, add_model_folder_action);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "hb-sidebar");
}

static void
hb_sidebar_init (HbSidebar *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  gtk_orientable_set_orientation (GTK_ORIENTABLE (gtk_widget_get_layout_manager (GTK_WIDGET (self))),
                                  GTK_ORIENTATION_VERTICAL);
  gtk_widget_add_css_class (GTK_WIDGET (self), "hb-sidebar");

  self->model_paths = g_ptr_array_new_with_free_func (g_free);
  self->model_names = gtk_string_list_new (NULL);
  adw_combo_row_set_model (self->model_row, G_LIST_MODEL (self->model_names));
  g_signal_connect_swapped (self->model_row, "notify::selected", G_CALLBACK (on_model_selected), self);
  g_signal_connect_swapped (self->seed_lock_button, "toggled", G_CALLBACK (update_seed_lock), self);
}
