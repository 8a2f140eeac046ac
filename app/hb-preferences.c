/* hb-preferences.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "hb-preferences.h"

/* In the order of the noise generator row's list. */
static const char * const rng_names[] = { "philox", "cpu", NULL };

struct _HbPreferences
{
  AdwPreferencesWindow  parent_instance;

  /* template widgets */
  AdwEntryRow          *device_row;
  GtkLabel             *device_label;
  AdwComboRow          *rng_row;
  GtkSpinButton        *clip_skip_spin;

  /* owned */
  GSettings            *settings;
};

G_DEFINE_FINAL_TYPE (HbPreferences, hb_preferences, ADW_TYPE_PREFERENCES_WINDOW)

static gboolean
index_from_string (GValue   *value,
                   GVariant *variant,
                   gpointer  user_data)
{
  const char *str = g_variant_get_string (variant, NULL);

  for (guint i = 0; rng_names[i] != NULL; i++)
    if (g_str_equal (rng_names[i], str))
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
  guint i = g_value_get_uint (value);

  if (i >= G_N_ELEMENTS (rng_names) - 1)
    return NULL;
  return g_variant_new_string (rng_names[i]);
}

static void
on_device_apply (HbPreferences *self)
{
  g_settings_set_string (self->settings, "device", gtk_editable_get_text (GTK_EDITABLE (self->device_row)));
}

static void
hb_preferences_finalize (GObject *object)
{
  HbPreferences *self = HB_PREFERENCES (object);

  g_clear_object (&self->settings);

  G_OBJECT_CLASS (hb_preferences_parent_class)->finalize (object);
}

static void
hb_preferences_class_init (HbPreferencesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = hb_preferences_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/huabu/Huabu/hb-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, HbPreferences, device_row);
  gtk_widget_class_bind_template_child (widget_class, HbPreferences, device_label);
  gtk_widget_class_bind_template_child (widget_class, HbPreferences, rng_row);
  gtk_widget_class_bind_template_child (widget_class, HbPreferences, clip_skip_spin);
  gtk_widget_class_bind_template_callback (widget_class, on_device_apply);
}

static void
hb_preferences_init (HbPreferences *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

HbPreferences *
hb_preferences_new (GSettings    *settings,
                    HbGeneration *generation)
{
  HbPreferences *self = g_object_new (HB_TYPE_PREFERENCES, NULL);
  g_autofree char *device = g_settings_get_string (settings, "device");
  const char *in_use = hb_generation_get_device_name (generation);

  self->settings = g_object_ref (settings);
  gtk_editable_set_text (GTK_EDITABLE (self->device_row), device);
  gtk_label_set_text (self->device_label, in_use != NULL ? in_use : _("Chosen at the first generation"));
  g_settings_bind_with_mapping (settings, "rng", self->rng_row, "selected", G_SETTINGS_BIND_DEFAULT,
                                index_from_string, string_from_index, NULL, NULL);
  g_settings_bind (settings, "clip-skip", self->clip_skip_spin, "value", G_SETTINGS_BIND_DEFAULT);
  return self;
}
