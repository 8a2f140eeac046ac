/* bench-history.c — the history store at 100 000 generations
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Not a test: prints how long opening, counting, paging through and
 * searching a large history takes. Rows are inserted straight into SQLite
 * (writing 100 000 real pictures would take hours); each gets an empty
 * file in pictures/ so the start-up scan has its real work to do.
 *
 *   bench-history [N_ROWS]     (HB_BENCH_KEEP=1 keeps the folder to look at)
 */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

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

  g_clear_object (&store);
  if (g_getenv ("HB_BENCH_KEEP") != NULL)
    printf ("kept %s\n", folder);
  else
    remove_tree (folder);
  return 0;
}
