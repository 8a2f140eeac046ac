/* bench-history.c — the history at 100 000 generations
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Not a test: prints how long opening, counting, paging through and
 * searching a large history takes. Rows are inserted straight into SQLite
 * (writing 100 000 real pictures would take hours); each gets an empty
 * file in pictures/ so the start-up scan has its real work to do.
 *
 * With a display it then measures the gallery widget itself (HbGalleryView
 * in a window): the time to open it until the first screen of thumbnails
 * is painted, search latency as the person sees it, and every frame while
 * the grid is scrolled from the top to the bottom.
 *
 *   xvfb-run -a -s "-screen 0 1400x900x24" bench-history [N_ROWS]
 *
 *   HB_BENCH_KEEP=1          keep the folder to look at
 *   HB_BENCH_NO_SEARCH=1     skip the store-level searches
 *   HB_BENCH_NO_GUI=1        skip the gallery
 *   HB_BENCH_SCROLL_PAGES=N  pages scrolled per frame (default 2)
 */
#include "config.h"

#include <adwaita.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "hb-gallery-view.h"
#include "hb-history-model.h"
#include "hb-history-store.h"
#include "hb-history-store-private.h"
#include "hb-png.h"

static const char *const words[] = {
  "red", "blue", "green", "golden", "cat", "dog", "castle", "forest", "lighthouse", "dusk",
  "portrait", "woman", "old man", "city", "night", "rain", "masterpiece", "best quality",
  "(best quality:1.2)", "oil painting", "watercolor", "一只", "红色的猫", "窗台", "水彩画",
  "山水", "城市", "夜景", "cinematic lighting", "8k", "highly detailed", "sunset", "ocean",
  "mountain", "dragon", "robot", "cyberpunk", "anime", "photo", "sketch", "flowers",
  "<lora:detail:0.6>", "bokeh", "snow", "desert", "spaceship", "library", "tea house",
};
static const char *const negatives[] = {
  "lowres", "bad anatomy", "blurry", "watermark", "text", "(worst quality:1.4)", "jpeg artifacts",
  "模糊", "低质量", "extra fingers", "cropped",
};

static const char *const queries[] = {
  "cat", "红色的猫", "猫", "lighthouse dusk", "(best quality:1.2)", "spaceship library",
  "watermark", "cyberpunk city night", "窗台 水彩画", "zebra",
};

static double
ms_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / 1000.0;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static char *
random_text (GRand *rand, const char *const *vocabulary, guint n_vocabulary, int min, int max)
{
  GString *text = g_string_new (NULL);
  int n = g_rand_int_range (rand, min, max + 1);

  for (int i = 0; i < n; i++)
    g_string_append_printf (text, "%s%s", i ? ", " : "",
                            vocabulary[g_rand_int_range (rand, 0, n_vocabulary)]);
  return g_string_free (text, FALSE);
}

static void
fill (const char *folder, int n_rows)
{
  g_autofree char *db_path = g_build_filename (folder, "history.db", NULL);
  g_autofree char *pictures = g_build_filename (folder, "pictures", "bench", NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  g_autoptr(HbImage) image = hb_image_new (64, 64);
  g_autoptr(GBytes) thumbnail = NULL;
  sqlite3 *db;
  sqlite3_stmt *stmt, *thumb_stmt;
  gint64 now = g_get_real_time ();

  for (int i = 0; i < 64 * 64 * 4; i++)
    image->rgba[i] = (guint8) (i % 251);
  thumbnail = hb_png_encode (image, NULL);
  g_mkdir_with_parents (pictures, 0755);

  g_assert (sqlite3_open (db_path, &db) == SQLITE_OK);
  hb_history_register_functions (db);
  sqlite3_exec (db, "BEGIN", NULL, NULL, NULL);
  g_assert (sqlite3_prepare_v2 (db,
                                "INSERT INTO generations (created, prompt, negative_prompt, model_name,"
                                " sampler, steps, cfg, seed, width, height, image_path)"
                                " VALUES (?, ?, ?, 'v1-5', 'Euler a', 20, 7, ?, 512, 512, ?)",
                                -1, &stmt, NULL) == SQLITE_OK);
  g_assert (sqlite3_prepare_v2 (db, "INSERT INTO thumbnails (id, png) VALUES (last_insert_rowid (), ?)",
                                -1, &thumb_stmt, NULL) == SQLITE_OK);
  for (int i = 0; i < n_rows; i++)
    {
      g_autofree char *prompt = random_text (rand, words, G_N_ELEMENTS (words), 8, 20);
      g_autofree char *negative = random_text (rand, negatives, G_N_ELEMENTS (negatives), 2, 6);
      g_autofree char *relative = g_strdup_printf ("pictures/bench/%07d.png", i);
      g_autofree char *path = g_build_filename (folder, relative, NULL);

      sqlite3_bind_int64 (stmt, 1, now - (gint64) (n_rows - i) * 60 * G_USEC_PER_SEC);
      sqlite3_bind_text (stmt, 2, prompt, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 3, negative, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 4, i);
      sqlite3_bind_text (stmt, 5, relative, -1, SQLITE_STATIC);
      g_assert (sqlite3_step (stmt) == SQLITE_DONE);
      sqlite3_reset (stmt);
      sqlite3_bind_blob (thumb_stmt, 1, g_bytes_get_data (thumbnail, NULL),
                         (int) g_bytes_get_size (thumbnail), SQLITE_STATIC);
      g_assert (sqlite3_step (thumb_stmt) == SQLITE_DONE);
      sqlite3_reset (thumb_stmt);
      g_file_set_contents (path, "", 0, NULL);
    }
  sqlite3_finalize (stmt);
  sqlite3_finalize (thumb_stmt);
  sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
  sqlite3_close (db);
  printf ("thumbnail blob: %zu bytes per row\n", g_bytes_get_size (thumbnail));
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

/* ---- the gallery ------------------------------------------------------- */

/* What HbGalleryView keeps on an item once its thumbnail is decoded. */
#define TEXTURE_KEY "hb-gallery-texture"

typedef struct {
  GtkWidget     *window;
  HbGalleryView *view;
  GListModel    *model;
  GtkAdjustment *vadjustment;
  guint          n_paints;
  gint64         frame_start;   /* start of the frame being made, 0: idle */
  gint64         last_paint;
  GArray        *intervals;     /* ms from one painted frame to the next */
  GArray        *work;          /* ms from a frame's start to its paint */
  gint64         answered;      /* the model got the store's answer */
  gint64         changed;       /* the model and the grid took it */
  double         step;
  gboolean       scrolling;
  gboolean       done;
} Gallery;

static void
on_before_paint (GdkFrameClock *clock, Gallery *g)
{
  if (g->frame_start == 0)
    g->frame_start = g_get_monotonic_time ();
}

static void
on_update (GdkFrameClock *clock, Gallery *g)
{
  g->frame_start = g_get_monotonic_time ();
}

static void
on_after_paint (GdkFrameClock *clock, Gallery *g)
{
  gint64 now = g_get_monotonic_time ();

  if (g->scrolling)
    {
      double interval = (now - g->last_paint) / 1000.0;
      double work = (now - g->frame_start) / 1000.0;

      g_array_append_val (g->intervals, interval);
      g_array_append_val (g->work, work);
    }
  g->last_paint = now;
  g->frame_start = 0;
  g->n_paints++;
}

static void
on_loading (GObject *model, GParamSpec *pspec, Gallery *g)
{
  if (!hb_history_model_get_loading (HB_HISTORY_MODEL (model)) && g->answered == 0)
    g->answered = g_get_monotonic_time ();
}

/* Connected after the selection model: runs once the grid has handled it. */
static void
on_items_changed (GListModel *model, guint position, guint removed, guint added, Gallery *g)
{
  if (g->changed == 0)
    g->changed = g_get_monotonic_time ();
}

static GtkWidget *
find_widget (GtkWidget *widget, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

typedef gboolean (*Condition) (Gallery *g);

static gboolean
wait_until (Gallery *g, Condition condition, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (!condition (g))
    {
      if (g_get_monotonic_time () > end)
        return FALSE;
      g_main_context_iteration (NULL, TRUE);
    }
  return TRUE;
}

static gboolean
model_loaded (Gallery *g)
{
  return !hb_history_model_get_loading (HB_HISTORY_MODEL (g->model))
         && g_list_model_get_n_items (g->model) > 0;
}

static gboolean
model_answered (Gallery *g)
{
  return !hb_history_model_get_loading (HB_HISTORY_MODEL (g->model));
}

/* The tiles of the first screen: those the grid made so far, in order. */
static guint first_screen;

static gboolean
first_screen_decoded (Gallery *g)
{
  for (guint i = 0; i < first_screen; i++)
    {
      g_autoptr(GObject) item = g_list_model_get_item (g->model, i);

      if (item == NULL || g_object_get_data (item, TEXTURE_KEY) == NULL)
        return FALSE;
    }
  return TRUE;
}

static guint paint_mark;

static gboolean
painted_since_mark (Gallery *g)
{
  return g->n_paints > paint_mark;
}

static void
wait_for_paint (Gallery *g)
{
  paint_mark = g->n_paints;
  gtk_widget_queue_draw (g->window);
  wait_until (g, painted_since_mark, 10);
}

static gboolean
scroll_tick (GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  Gallery *g = data;
  double value = gtk_adjustment_get_value (g->vadjustment);
  double end = gtk_adjustment_get_upper (g->vadjustment) - gtk_adjustment_get_page_size (g->vadjustment);

  if (value >= end)
    {
      g->done = TRUE;
      return G_SOURCE_REMOVE;
    }
  gtk_adjustment_set_value (g->vadjustment, MIN (value + g->step, end));
  return G_SOURCE_CONTINUE;
}

static gboolean
scroll_done (Gallery *g)
{
  return g->done;
}

static void
print_frames (const char *what, GArray *ms)
{
  guint over = 0;

  for (guint i = 0; i < ms->len; i++)
    over += g_array_index (ms, double, i) > 50;
  g_array_sort (ms, compare_doubles);
  printf ("  %-34s median %6.2f ms, p99 %6.2f ms, worst %6.2f ms, %u of %u over 50 ms\n", what,
          g_array_index (ms, double, ms->len / 2), g_array_index (ms, double, ms->len * 99 / 100),
          g_array_index (ms, double, ms->len - 1), over, ms->len);
}

static void
print_times (const char *what, GArray *ms)
{
  g_array_sort (ms, compare_doubles);
  printf ("  %-34s median %7.2f ms, worst %7.2f ms\n", what,
          g_array_index (ms, double, ms->len / 2), g_array_index (ms, double, ms->len - 1));
}

static void
bench_gallery (HbHistoryStore *store, guint n_rows)
{
  Gallery g = { 0 };
  GdkFrameClock *clock;
  GtkWidget *grid;
  g_autoptr(GArray) searches = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) painted = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) answers = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (double));
  const char *pages = g_getenv ("HB_BENCH_SCROLL_PAGES");
  gint64 start, scroll_start;
  double model_ms;

  g.intervals = g_array_new (FALSE, FALSE, sizeof (double));
  g.work = g_array_new (FALSE, FALSE, sizeof (double));

  printf ("gallery (HbGalleryView in a 1280x800 window, GSK_RENDERER=%s):\n",
          g_getenv ("GSK_RENDERER") ? g_getenv ("GSK_RENDERER") : "default");
  /* Open: from creating the widget to the first screen of thumbnails on
   * screen. */
  start = g_get_monotonic_time ();
  g.window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (g.window), 1280, 800);
  g.view = HB_GALLERY_VIEW (hb_gallery_view_new (store));
  g.model = hb_gallery_view_get_model (g.view);
  gtk_window_set_child (GTK_WINDOW (g.window), GTK_WIDGET (g.view));
  gtk_window_present (GTK_WINDOW (g.window));
  g_assert (wait_until (&g, model_loaded, 60));
  model_ms = ms_since (start);
  g_assert_cmpuint (g_list_model_get_n_items (g.model), ==, n_rows);

  clock = gtk_widget_get_frame_clock (g.window);
  g_assert (clock != NULL);
  g_signal_connect (clock, "update", G_CALLBACK (on_update), &g);
  g_signal_connect (clock, "before-paint", G_CALLBACK (on_before_paint), &g);
  g_signal_connect (clock, "after-paint", G_CALLBACK (on_after_paint), &g);
  wait_for_paint (&g);

  /* The grid has made tiles for what it shows: count the visible ones. */
  grid = find_widget (g.window, GTK_TYPE_GRID_VIEW);
  g_assert (grid != NULL);
  g.vadjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (grid));
  {
    int columns = MAX (1, gtk_widget_get_width (grid) / 166);
    int rows = (int) ceil (gtk_adjustment_get_page_size (g.vadjustment) / 166.0);

    first_screen = MIN (n_rows, (guint) (columns * rows));
  }
  g_assert (wait_until (&g, first_screen_decoded, 60));
  wait_for_paint (&g);
  printf ("  open: ids of all %u in the model %.1f ms; first screen (%u thumbnails) painted %.1f ms\n",
          n_rows, model_ms, first_screen, ms_since (start));

  /* Search as typed: from the text to the store's answer reaching the
   * model, to the model and grid having taken it, to the frame showing
   * them. The entry's own late report of the same text is a cheap
   * refresh; let it pass before the next query. */
  g_signal_connect (g.model, "notify::loading", G_CALLBACK (on_loading), &g);
  g_signal_connect (g.model, "items-changed", G_CALLBACK (on_items_changed), &g);
  for (int round = 0; round < 3; round++)
    for (guint q = 0; q < G_N_ELEMENTS (queries); q++)
      {
        double ms;

        g.answered = g.changed = 0;
        start = g_get_monotonic_time ();
        hb_gallery_view_search (g.view, queries[q]);
        g_assert (wait_until (&g, model_answered, 10));
        ms = ms_since (start);
        g_array_append_val (searches, ms);
        ms = (g.answered - start) / 1000.0;
        g_array_append_val (answers, ms);
        ms = g.changed ? (g.changed - start) / 1000.0 : ms;
        g_array_append_val (changes, ms);
        wait_for_paint (&g);
        ms = ms_since (start);
        g_array_append_val (painted, ms);
        start = g_get_monotonic_time ();
        while (ms_since (start) < 250)
          g_main_context_iteration (NULL, FALSE);
      }
  g_signal_handlers_disconnect_by_data (g.model, &g);
  printf ("  search as typed (%u queries x 3):\n", (guint) G_N_ELEMENTS (queries));
  print_times ("store's answer in the model:", answers);
  print_times ("model and grid updated:", changes);
  print_times ("main loop free again:", searches);
  print_times ("painted:", painted);

  /* Scroll everything, top to bottom, some pages per frame. */
  hb_gallery_view_search (g.view, "");
  g_assert (wait_until (&g, model_loaded, 60));
  start = g_get_monotonic_time ();
  while (ms_since (start) < 500)
    g_main_context_iteration (NULL, FALSE);
  gtk_adjustment_set_value (g.vadjustment, 0);
  wait_for_paint (&g);
  g.step = gtk_adjustment_get_page_size (g.vadjustment) * (pages ? g_ascii_strtod (pages, NULL) : 2);
  g.scrolling = TRUE;
  g.last_paint = g_get_monotonic_time ();
  scroll_start = g.last_paint;
  gtk_widget_add_tick_callback (grid, scroll_tick, &g, NULL);
  g_assert (wait_until (&g, scroll_done, 1200));
  wait_for_paint (&g);
  g.scrolling = FALSE;
  printf ("  scroll top to bottom: %.0f px in %u frames (%.1f pages per frame), %.1f s\n",
          gtk_adjustment_get_upper (g.vadjustment), g.intervals->len, g.step / gtk_adjustment_get_page_size (g.vadjustment),
          ms_since (scroll_start) / 1000);
  print_frames ("time between painted frames:", g.intervals);
  print_frames ("time to make a frame:", g.work);

  g_signal_handlers_disconnect_by_data (clock, &g);
  gtk_window_destroy (GTK_WINDOW (g.window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_array_unref (g.intervals);
  g_array_unref (g.work);
}

int
main (int argc, char **argv)
{
  int n_rows = argc > 1 ? atoi (argv[1]) : 100000;
  g_autofree char *folder = g_dir_make_tmp ("hb-bench-history-XXXXXX", NULL);
  g_autoptr(HbHistoryStore) store = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) latencies = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) all_ids = NULL;
  HbHistoryQuery all = { NULL };
  double worst_page = 0, total_pages = 0;
  guint n = 0, n_pages = 0;
  gint64 start;

  store = hb_history_store_open (folder, &error);
  g_assert_no_error (error);
  g_clear_object (&store);

  start = g_get_monotonic_time ();
  fill (folder, n_rows);
  printf ("fill %d rows (+ empty files): %.0f ms\n", n_rows, ms_since (start));

  start = g_get_monotonic_time ();
  store = hb_history_store_open (folder, &error);
  g_assert_no_error (error);
  printf ("open (first, builds nothing new): %.1f ms\n", ms_since (start));
  g_clear_object (&store);

  start = g_get_monotonic_time ();
  store = hb_history_store_open (folder, &error);
  g_assert_no_error (error);
  printf ("open (quick_check, migrations, purge, scan of %d files): %.1f ms\n", n_rows,
          ms_since (start));

  start = g_get_monotonic_time ();
  hb_history_store_count (store, &all, &n, &error);
  g_assert_no_error (error);
  printf ("count all: %u rows in %.2f ms\n", n, ms_since (start));

  /* What the gallery does when scrolled from top to bottom: all ids once,
   * then records a page at a time. */
  start = g_get_monotonic_time ();
  all_ids = hb_history_store_query_ids (store, &all, &error);
  g_assert_no_error (error);
  printf ("all ids, newest first: %u in %.2f ms\n", all_ids->len, ms_since (start));
  for (guint offset = 0; offset < all_ids->len; offset += 100)
    {
      g_autoptr(GPtrArray) page = NULL;
      double ms;

      start = g_get_monotonic_time ();
      page = hb_history_store_get_many (store, &g_array_index (all_ids, gint64, offset),
                                        MIN (100, all_ids->len - offset), &error);
      ms = ms_since (start);
      g_assert_no_error (error);
      worst_page = MAX (worst_page, ms);
      total_pages += ms;
      n_pages++;
    }
  printf ("records, pages of 100, top to bottom: mean %.2f ms, worst %.2f ms (%u pages)\n",
          total_pages / n_pages, worst_page, n_pages);
  worst_page = total_pages = 0;
  for (guint offset = 0; offset < n; offset += 5000)
    {
      g_autoptr(GPtrArray) page = NULL;
      double ms;

      start = g_get_monotonic_time ();
      page = hb_history_store_query (store, &all, offset, 100, &error);
      ms = ms_since (start);
      g_assert_no_error (error);
      worst_page = MAX (worst_page, ms);
    }
  printf ("query with OFFSET (huabu-cli list): worst %.2f ms\n", worst_page);

  for (guint q = 0; q < G_N_ELEMENTS (queries) && g_getenv ("HB_BENCH_NO_SEARCH") == NULL; q++)
    {
      HbHistoryQuery query = { queries[q] };
      g_autoptr(GArray) these = g_array_new (FALSE, FALSE, sizeof (double));
      guint found = 0;

      for (int round = 0; round < 9; round++)
        {
          g_autoptr(GPtrArray) page = NULL;
          double ms;

          g_autoptr(GArray) ids = NULL;

          /* What the gallery does: every matching id, then the first page. */
          start = g_get_monotonic_time ();
          ids = hb_history_store_query_ids (store, &query, &error);
          g_assert_no_error (error);
          page = hb_history_store_get_many (store, (gint64 *) ids->data, MIN (ids->len, 100), &error);
          ms = ms_since (start);
          found = ids->len;
          g_assert_no_error (error);
          g_array_append_val (these, ms);
          g_array_append_val (latencies, ms);
        }
      g_array_sort (these, compare_doubles);
      printf ("search %-22s %6u hits, median %.2f ms (all ids + first 100 records)\n", queries[q], found,
              g_array_index (these, double, these->len / 2));
    }
  g_array_sort (latencies, compare_doubles);
  if (latencies->len > 0)
    printf ("search over all queries: median %.2f ms, p90 %.2f ms, worst %.2f ms\n",
          g_array_index (latencies, double, latencies->len / 2),
          g_array_index (latencies, double, latencies->len * 9 / 10),
          g_array_index (latencies, double, latencies->len - 1));

  if (g_getenv ("HB_BENCH_NO_GUI") != NULL)
    ;
  else if (!gtk_init_check ())
    printf ("gallery: no display, not measured (run under xvfb-run)\n");
  else
    {
      adw_init ();
      bench_gallery (store, n);
    }

  g_clear_object (&store);
  if (g_getenv ("HB_BENCH_KEEP") != NULL)
    printf ("kept %s\n", folder);
  else
    remove_tree (folder);
  return 0;
}
