/* bench-generate.c — how the window feels while it generates
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Not a test: a measurement. Runs one generation from a prompt in the real
 * window (under xvfb-run) and prints the time from Generate to the first
 * preview on the canvas, the time to the finished picture, and the longest
 * gap between two frames of the window's frame clock meanwhile; the UI
 * must never stall for more than 50 ms. The model is the built-in one, or
 * HUABU_MODEL. The window first stays idle for `idle` seconds (0.5 by
 * default), as a user types a prompt: the engine warms up meanwhile
 * (HUABU_NO_WARM_UP=1 turns that off, for comparison).
 *
 *   xvfb-run -a ./tests/ui/bench-ui-generate [steps [idle]]
 */
#include "config.h"

#include <gtk/gtk.h>
#include <stdlib.h>

#include "hb-test-ui.h"
#include "hb-window-private.h"

typedef struct {
  int      steps;
  double   idle_s;
  gint64   last_frame_us;
  gint64   longest_gap_us;
  gint64   start_us;
  guint    n_frames;
  gboolean measuring;
  gboolean finished;
  GError  *error;
} Bench;

static gboolean
on_tick (GtkWidget     *widget,
         GdkFrameClock *clock,
         gpointer       data)
{
  Bench *bench = data;
  gint64 now = g_get_monotonic_time ();

  if (bench->measuring)
    {
      if (bench->last_frame_us != 0)
        {
          gint64 gap = now - bench->last_frame_us;

          if (gap > 50000)
            g_print ("  %.1f ms gap ending at %.3f s\n", gap / 1e3, (now - bench->start_us) / 1e6);
          bench->longest_gap_us = MAX (bench->longest_gap_us, gap);
        }
      bench->n_frames++;
    }
  bench->last_frame_us = now;
  return G_SOURCE_CONTINUE;
}

static void
on_finished (HbGeneration *generation,
             const GError *error,
             Bench        *bench)
{
  if (error != NULL)
    bench->error = g_error_copy (error);
  bench->finished = TRUE;
}

static void
on_progress (HbGeneration  *generation,
             int            image_index,
             int            n_images,
             int            step,
             int            n_steps,
             const HbImage *preview,
             Bench         *bench)
{
  g_print ("  step %d of %d at %.3f s\n", step, n_steps, (g_get_monotonic_time () - bench->start_us) / 1e6);
}

static gboolean
finished (gpointer data)
{
  return ((Bench *) data)->finished;
}

static void
run (HbApplication *app,
     gpointer       data)
{
  Bench *bench = data;
  HbWindow *window = hb_test_app_get_window (app);
  GSettings *settings = hb_application_get_settings (app);
  HbGeneration *generation = hb_application_get_generation (app);
  gint64 start;
  guint tick;

  g_settings_set_int (settings, "steps", bench->steps);
  g_settings_set_int (settings, "batch-count", 1);
  hb_sidebar_set_prompt (_hb_window_get_sidebar (window), "a lighthouse on a cliff at sunset");
  g_signal_connect (generation, "finished", G_CALLBACK (on_finished), bench);
  g_signal_connect (generation, "progress", G_CALLBACK (on_progress), bench);

  /* A tick callback keeps the frame clock running every frame, so a
   * blocked main loop shows up as a long gap. */
  tick = gtk_widget_add_tick_callback (GTK_WIDGET (window), on_tick, bench, NULL);
  hb_test_settle (bench->idle_s);

  start = bench->start_us = g_get_monotonic_time ();
  bench->measuring = TRUE;
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  if (!hb_test_wait_for (finished, bench, 3600))
    g_error ("the generation did not finish within an hour");
  bench->measuring = FALSE;
  gtk_widget_remove_tick_callback (GTK_WIDGET (window), tick);
  g_signal_handlers_disconnect_by_data (generation, bench);

  if (bench->error != NULL)
    {
      g_printerr ("generation failed: %s\n", bench->error->message);
      return;
    }
  g_print ("steps:                      %d (after %.1f s idle)\n", bench->steps, bench->idle_s);
  g_print ("Generate to first preview:  %.3f s\n", _hb_window_get_first_preview_us (window) / 1e6);
  g_print ("Generate to finished:       %.3f s\n", (g_get_monotonic_time () - start) / 1e6);
  g_print ("frames while generating:    %u\n", bench->n_frames);
  g_print ("longest frame-clock gap:    %.1f ms (bar: 50 ms) %s\n",
           bench->longest_gap_us / 1e3, bench->longest_gap_us <= 50000 ? "ok" : "TOO LONG");
}

int
main (int   argc,
      char *argv[])
{
  Bench bench = { 0 };

  hb_test_init (&argc, &argv);
  bench.steps = argc > 1 ? atoi (argv[1]) : 20;
  if (bench.steps < 1)
    bench.steps = 20;
  bench.idle_s = argc > 2 ? g_ascii_strtod (argv[2], NULL) : 0.5;
  if (!(bench.idle_s >= 0))
    bench.idle_s = 0.5;
  hb_test_run_app (run, &bench);
  if (bench.error != NULL)
    return 1;
  return 0;
}
