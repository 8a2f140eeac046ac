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

void
hb_test_screenshot (GtkWidget  *widget,
                    const char *name)
{
  const char *dir = g_getenv ("HB_TEST_OUTPUT");
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GtkSnapshot) snapshot = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *file = NULL;
  g_autofree char *path = NULL;
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  GskRenderer *renderer;

  if (dir == NULL)
    return;
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);

  hb_test_settle (0.2);
  paintable = gtk_widget_paintable_new (widget);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  g_assert_nonnull (node);

  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  file = g_strconcat (name, ".png", NULL);
  path = g_build_filename (dir, file, NULL);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);
}
