/* hb-application.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "hb-application.h"
#include "hb-preferences.h"
#include "hb-window.h"

struct _HbApplication
{
  AdwApplication  parent_instance;

  /* owned */
  GSettings      *settings;
  HbGeneration   *generation;
  HbHistoryStore *history;
  char           *history_notice;
};

G_DEFINE_FINAL_TYPE (HbApplication, hb_application, ADW_TYPE_APPLICATION)

GSettings *
hb_application_get_settings (HbApplication *self)
{
  g_return_val_if_fail (HB_IS_APPLICATION (self), NULL);
  return self->settings;
}

HbGeneration *
hb_application_get_generation (HbApplication *self)
{
  g_return_val_if_fail (HB_IS_APPLICATION (self), NULL);
  return self->generation;
}

HbHistoryStore *
hb_application_get_history (HbApplication *self)
{
  g_return_val_if_fail (HB_IS_APPLICATION (self), NULL);
  return self->history;
}

const char *
hb_application_get_history_notice (HbApplication *self)
{
  g_return_val_if_fail (HB_IS_APPLICATION (self), NULL);
  return self->history_notice;
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  GtkApplication *app = user_data;
  static const char *developers[] = { "The Huabu developers", NULL };

  adw_show_about_window (gtk_application_get_active_window (app),
                         "application-name", _("Huabu"),
                         "application-icon", APP_ID,
                         "developer-name", _("The Huabu developers"),
                         "version", PACKAGE_VERSION,
                         "website", "https://github.com/huabu/huabu",
                         "issue-url", "https://github.com/huabu/huabu/issues",
                         "developers", developers,
                         /* Translators: put your names here, one per line */
                         "translator-credits", _("translator-credits"),
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "comments", _("Sketch, and a diffusion model paints the picture while you watch."),
                         NULL);
}

static void
preferences_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  HbApplication *self = user_data;
  HbPreferences *preferences = hb_preferences_new (self->settings, self->generation);

  gtk_window_set_transient_for (GTK_WINDOW (preferences),
                                gtk_application_get_active_window (GTK_APPLICATION (self)));
  gtk_window_present (GTK_WINDOW (preferences));
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  GtkApplication *app = user_data;
  GList *windows;

  while ((windows = gtk_application_get_windows (app)) != NULL)
    gtk_window_destroy (windows->data);
}

static const GActionEntry app_actions[] = {
  { "about", about_action },
  { "preferences", preferences_action },
  { "quit", quit_action },
};

static void
hb_application_startup (GApplication *application)
{
  HbApplication *self = HB_APPLICATION (application);
  g_autoptr(GError) error = NULL;

  G_APPLICATION_CLASS (hb_application_parent_class)->startup (application);

  self->settings = g_settings_new (APP_ID);
  self->generation = hb_generation_new ();
  self->history = hb_history_store_open (NULL, &error);
  if (self->history == NULL)
    self->history_notice = g_strdup_printf (_("The history is not available, so pictures are not kept: %s"),
                                            error->message);
  else if (hb_history_store_get_notice (self->history) != NULL)
    self->history_notice = g_strdup (hb_history_store_get_notice (self->history));

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions), self);

  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", (const char *[]) { "<Control>q", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences", (const char *[]) { "<Control>comma", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.generate",
                                         (const char *[]) { "<Control>Return", "<Control>KP_Enter", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.zoom-fit", (const char *[]) { "<Control>0", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.export", (const char *[]) { "<Control>s", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.import", (const char *[]) { "<Control>o", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.toggle-sidebar", (const char *[]) { "F9", NULL });
}

static void
hb_application_activate (GApplication *application)
{
  HbApplication *self = HB_APPLICATION (application);
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    window = GTK_WINDOW (hb_window_new (self));
  gtk_window_present (window);
}

static void
hb_application_shutdown (GApplication *application)
{
  HbApplication *self = HB_APPLICATION (application);

  /* The worker uses the engine until its run ends: let it finish (within
   * a step of cancelling) before the process tears down under it. */
  hb_generation_cancel (self->generation);
  while (hb_generation_is_busy (self->generation))
    g_main_context_iteration (NULL, TRUE);

  G_APPLICATION_CLASS (hb_application_parent_class)->shutdown (application);
}

static void
hb_application_finalize (GObject *object)
{
  HbApplication *self = HB_APPLICATION (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->generation);
  g_clear_object (&self->history);
  g_clear_pointer (&self->history_notice, g_free);

  G_OBJECT_CLASS (hb_application_parent_class)->finalize (object);
}

static void
hb_application_class_init (HbApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = hb_application_finalize;
  app_class->startup = hb_application_startup;
  app_class->activate = hb_application_activate;
  app_class->shutdown = hb_application_shutdown;
}

static void
hb_application_init (HbApplication *self)
{
}

HbApplication *
hb_application_new (void)
{
  return g_object_new (HB_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/huabu/Huabu",
                       NULL);
}
