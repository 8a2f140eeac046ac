/* hb-test-ui.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <gtk/gtk.h>
#include <stdlib.h>

#include "hb-test-ui.h"

static char *data_home;

static void
remove_data_home (void)
{
  g_autofree char *command = NULL;

  if (data_home == NULL)
    return;
  command = g_strdup_printf ("rm -rf '%s'", data_home);
  if (system (command) != 0)
    g_printerr ("could not remove %s\n", data_home);
}

void
hb_test_init (int    *argc,
              char ***argv)
{
  g_autoptr(GError) error = NULL;

  g_test_init (argc, argv, NULL);
  data_home = g_dir_make_tmp ("huabu-ui-test-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("XDG_DATA_HOME", data_home, TRUE);
  atexit (remove_data_home);
  if (!gtk_init_check ())
    {
      /* 77: meson's "skipped". */
      g_printerr ("No display: run the UI tests under xvfb-run.\n");
      exit (77);
    }
}

gboolean
hb_test_wait_for (HbTestCondition condition,
                  gpointer        data,
                  double          timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (!condition (data))
    {
      if (g_get_monotonic_time () > end)
        return FALSE;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  return TRUE;
}

void
hb_test_settle (double seconds)
{
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);

  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

static gboolean
window_is_mapped (gpointer data)
{
  GtkApplication *app = data;
  GtkWindow *window = gtk_application_get_active_window (app);

  return window != NULL && gtk_widget_get_mapped (GTK_WIDGET (window));
}

typedef struct {
  HbTestAppFunc func;
  gpointer      data;
} RunApp;

static void
on_activate (GApplication *app,
             RunApp       *run)
{
  g_assert_true (hb_test_wait_for (window_is_mapped, app, 20));
  hb_test_settle (0.3);
  run->func (HB_APPLICATION (app), run->data);
  g_action_group_activate_action (G_ACTION_GROUP (app), "quit", NULL);
}

void
hb_test_run_app (HbTestAppFunc func,
                 gpointer      data)
{
  g_autoptr(HbApplication) app = hb_application_new ();
  RunApp run = { func, data };
  char *argv[] = { (char *) "huabu-test", NULL };

  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_signal_connect_after (app, "activate", G_CALLBACK (on_activate), &run);
  g_assert_cmpint (g_application_run (G_APPLICATION (app), 1, argv), ==, 0);
}

HbWindow *
hb_test_app_get_window (HbApplication *app)
{
  return HB_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
}

static void
save_node (GtkWidget     *widget,
           GskRenderNode *node,
           int            width,
           int            height,
           const char    *name)
{
  const char *dir = g_getenv ("HB_TEST_OUTPUT");
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *file = NULL;
  g_autofree char *path = NULL;
  GskRenderer *renderer;

  g_assert_nonnull (node);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  file = g_strconcat (name, ".png", NULL);
  path = g_build_filename (dir, file, NULL);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);
}

/* The widget's picture as a render node. A widget whose allocation is
 * being redone (a label changing while a generation runs) draws nothing
 * until the next layout, so try again over the next frames. */
static GskRenderNode *
widget_node (GtkWidget *widget)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  GskRenderNode *node = NULL;

  while (node == NULL && g_get_monotonic_time () < end)
    {
      g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (widget);
      g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();

      gdk_paintable_snapshot (paintable, snapshot,
                              gtk_widget_get_width (widget), gtk_widget_get_height (widget));
      node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
      if (node == NULL)
        hb_test_settle (0.02);
    }
  g_assert_nonnull (node);
  return node;
}

void
hb_test_screenshot (GtkWidget  *widget,
                    const char *name)
{
  g_autoptr(GskRenderNode) node = NULL;

  if (g_getenv ("HB_TEST_OUTPUT") == NULL)
    return;

  hb_test_settle (0.2);
  node = widget_node (widget);
  save_node (widget, node, gtk_widget_get_width (widget), gtk_widget_get_height (widget), name);
}

/* Where popover's own origin lies in window's: the popup surface's place
 * beside its parent surface, corrected for what each surface draws around
 * its widget (shadows, the popover's arrow). */
static void
popover_origin (GtkWidget *window,
                GtkWidget *popover,
                double    *x,
                double    *y)
{
  GdkSurface *surface = gtk_native_get_surface (GTK_NATIVE (popover));
  GdkSurface *parent = gtk_native_get_surface (GTK_NATIVE (window));
  double window_dx, window_dy, popover_dx, popover_dy;

  g_assert_true (GDK_IS_POPUP (surface));
  g_assert_true (gdk_popup_get_parent (GDK_POPUP (surface)) == parent);
  gtk_native_get_surface_transform (GTK_NATIVE (window), &window_dx, &window_dy);
  gtk_native_get_surface_transform (GTK_NATIVE (popover), &popover_dx, &popover_dy);
  *x = gdk_popup_get_position_x (GDK_POPUP (surface)) + popover_dx - window_dx;
  *y = gdk_popup_get_position_y (GDK_POPUP (surface)) + popover_dy - window_dy;
}

void
hb_test_screenshot_with_popover (GtkWidget  *window,
                                 GtkWidget  *popover,
                                 const char *name)
{
  g_autoptr(GskRenderNode) window_node = NULL;
  g_autoptr(GskRenderNode) popover_node = NULL;
  g_autoptr(GtkSnapshot) snapshot = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  double x, y;

  if (g_getenv ("HB_TEST_OUTPUT") == NULL)
    return;

  hb_test_settle (0.2);
  g_assert_true (gtk_widget_get_mapped (popover));
  popover_origin (window, popover, &x, &y);
  window_node = widget_node (window);
  popover_node = widget_node (popover);
  snapshot = gtk_snapshot_new ();
  gtk_snapshot_append_node (snapshot, window_node);
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (x, y));
  gtk_snapshot_append_node (snapshot, popover_node);
  gtk_snapshot_restore (snapshot);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  save_node (window, node, gtk_widget_get_width (window), gtk_widget_get_height (window), name);
}

/* The memory settings backend lives as long as the process: each test
 * leaves the next one the defaults. */
void
hb_test_reset_settings (GSettings *settings)
{
  g_autoptr(GSettingsSchema) schema = NULL;
  g_auto(GStrv) keys = NULL;

  g_object_get (settings, "settings-schema", &schema, NULL);
  keys = g_settings_schema_list_keys (schema);
  for (guint i = 0; keys[i] != NULL; i++)
    g_settings_reset (settings, keys[i]);
}
