/* test-store.c — the history store: migrations, search, delete, recovery
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "hb-history-store.h"
#include "hb-history-store-private.h"
#include "hb-png.h"

static HbImage *
make_image (int width, int height, guint8 tint)
{
  HbImage *image = hb_image_new (width, height);

  for (int i = 0; i < width * height * 4; i++)
    image->rgba[i] = (guint8) (i * 3 + tint);
  return image;
}

static char *
make_folder (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("hb-history-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
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

static HbHistoryStore *
open_store (const char *folder)
{
  g_autoptr(GError) error = NULL;
  HbHistoryStore *store = hb_history_store_open (folder, &error);

  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

static gint64
add (HbHistoryStore *store, const char *prompt, const char *negative, guint64 seed)
{
  g_autoptr(HbGenerationRecord) record = hb_generation_record_new ();
  g_autoptr(HbImage) image = make_image (16, 16, (guint8) seed);
  g_autoptr(GError) error = NULL;
  gint64 id;

  g_free (record->prompt);
  record->prompt = g_strdup (prompt);
  g_free (record->negative_prompt);
  record->negative_prompt = g_strdup (negative);
  record->has_seed = TRUE;
  record->seed = seed;
  record->steps = 20;
  record->sampler = g_strdup ("Euler a");
  record->cfg = 7;
  record->width = record->height = 16;
  record->model_name = g_strdup ("tiny");
  id = hb_history_store_add (store, record, image, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (id, >, 0);
  g_assert_cmpint (record->id, ==, id);
  return id;
}

static guint
count (HbHistoryStore *store, const char *text)
{
  HbHistoryQuery query = { text };
  g_autoptr(GError) error = NULL;
  guint n = 0;

  g_assert_true (hb_history_store_count (store, &query, &n, &error));
  g_assert_no_error (error);
  return n;
}

static GPtrArray *
search (HbHistoryStore *store, const char *text)
{
  HbHistoryQuery query = { text };
  g_autoptr(GError) error = NULL;
  GPtrArray *records = hb_history_store_query (store, &query, 0, 100, &error);

  g_assert_no_error (error);
  return records;
}

static gboolean
exists (HbHistoryStore *store, const char *relative)
{
  g_autofree char *path = hb_history_store_resolve_path (store, relative);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static const char *
prompt_at (GPtrArray *records, guint i)
{
  return ((HbGenerationRecord *) g_ptr_array_index (records, i))->prompt;
}

/* A database at schema 1, with rows, reaches the current schema with the
 * rows intact, searchable and with the new columns' defaults. */
static void
test_migrations (void)
{
  g_autofree char *folder = make_folder ();
  g_autofree char *db_path = g_build_filename (folder, "history.db", NULL);
  g_autoptr(HbHistoryStore) store = NULL;
  g_autoptr(HbGenerationRecord) record = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GError) error = NULL;
  sqlite3 *db;
  sqlite3_stmt *stmt;

  g_assert_cmpuint (hb_history_n_migrations, >=, 3);
  g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, hb_history_migrations[0], NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db,
                                 "PRAGMA user_version = 1;"
                                 "INSERT INTO generations (created, prompt, negative_prompt, seed, steps,"
                                 " image_path) VALUES"
                                 " (1000, 'a lighthouse at dusk', 'blurry', 5, 20, 'pictures/a.png'),"
                                 " (2000, '一只红色的猫', '', 6, 20, 'pictures/b.png'),"
                                 " (3000, 'a green frog', 'red', 7, 20, 'pictures/c.png');",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  store = open_store (folder);
  g_assert_cmpuint (count (store, NULL), ==, 3);
  found = search (store, "红色的猫");
  g_assert_cmpuint (found->len, ==, 1);
  record = hb_history_store_get (store, ((HbGenerationRecord *) g_ptr_array_index (found, 0))->id,
                                 &error);
  g_assert_no_error (error);
  g_assert_cmpuint (record->seed, ==, 6);
  g_assert_false (record->favourite);
  g_assert_true (hb_history_store_set_favourite (store, record->id, TRUE, &error));
  g_assert_no_error (error);
  g_clear_object (&store);

  g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, hb_history_n_migrations);
  sqlite3_finalize (stmt);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count(*) FROM generations WHERE favourite = 1",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, 1);
  sqlite3_finalize (stmt);
  /* A schema newer than this build is refused, not "migrated". */
  g_assert_cmpint (sqlite3_exec (db, "PRAGMA user_version = 999", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  store = hb_history_store_open (folder, &error);
  g_assert_null (store);
  g_assert_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_NEWER);
  g_assert_true (g_file_test (db_path, G_FILE_TEST_EXISTS));
  remove_tree (folder);
}

static void
test_search (void)
{
  g_autofree char *folder = make_folder ();
  g_autoptr(HbHistoryStore) store = open_store (folder);
  g_autoptr(GPtrArray) found = NULL;
  HbHistoryQuery query = { NULL };
  g_autoptr(GError) error = NULL;

  add (store, "一只红色的猫，坐在窗台上", "", 1);
  add (store, "a red dog, (masterpiece:1.2), best quality", "cat", 2);
  add (store, "red red red barn, red sky", "", 3);
  add (store, "a quiet forest", "red, 猫", 4);
  add (store, "C++ & 50% off: \"quoted\" text", "", 5);

  found = search (store, "红色的猫");
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpstr (prompt_at (found, 0), ==, "一只红色的猫，坐在窗台上");
  g_clear_pointer (&found, g_ptr_array_unref);

  /* One CJK character is a word too short for trigrams. */
  found = search (store, "猫");
  g_assert_cmpuint (found->len, ==, 2);
  g_clear_pointer (&found, g_ptr_array_unref);

  found = search (store, "窗台");
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);
  /* A word matches as a prefix of a word, case aside. */
  found = search (store, "QUI");
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpstr (prompt_at (found, 0), ==, "a quiet forest");
  g_clear_pointer (&found, g_ptr_array_unref);

  found = search (store, "(masterpiece:1.2)");
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpstr (prompt_at (found, 0), ==, "a red dog, (masterpiece:1.2), best quality");
  g_clear_pointer (&found, g_ptr_array_unref);

  found = search (store, "50% off");
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = search (store, "\"quoted\"");
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = search (store, "C++");
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);
  /* "%" must not act as a wildcard. */
  found = search (store, "%");
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);

  /* Ranking: the prompt full of the word first, a negative-prompt-only
   * match last. */
  found = search (store, "red");
  g_assert_cmpuint (found->len, ==, 3);
  g_assert_cmpstr (prompt_at (found, 0), ==, "red red red barn, red sky");
  g_assert_cmpstr (prompt_at (found, 2), ==, "a quiet forest");
  g_clear_pointer (&found, g_ptr_array_unref);

  /* Several words: all must be there. */
  found = search (store, "red best");
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);
  g_assert_cmpuint (count (store, "red best"), ==, 1);
  g_assert_cmpuint (count (store, "nothing like this"), ==, 0);

  /* No text: newest first. */
  found = search (store, NULL);
  g_assert_cmpuint (found->len, ==, 5);
  g_assert_cmpstr (prompt_at (found, 0), ==, "C++ & 50% off: \"quoted\" text");
  g_clear_pointer (&found, g_ptr_array_unref);

  query.favourites_only = TRUE;
  found = hb_history_store_query (store, &query, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (found->len, ==, 0);
  remove_tree (folder);
}

static void
test_delete (void)
{
  g_autofree char *folder = make_folder ();
  g_autoptr(HbHistoryStore) store = open_store (folder);
  g_autoptr(HbGenerationRecord) record = hb_generation_record_new ();
  g_autoptr(HbGenerationRecord) child = hb_generation_record_new ();
  g_autoptr(HbGenerationRecord) got = NULL;
  g_autoptr(HbImage) image = make_image (8, 8, 1);
  g_autoptr(HbImage) sketch = make_image (8, 8, 2);
  g_autoptr(HbImage) mask = make_image (8, 8, 3);
  g_autoptr(GError) error = NULL;
  gint64 id, child_id, keep;

  keep = add (store, "keep me", "", 9);
  id = hb_history_store_add (store, record, image, sketch, mask, &error);
  g_assert_no_error (error);
  g_assert_true (exists (store, record->image_path));
  g_assert_true (exists (store, record->sketch_path));
  g_assert_true (exists (store, record->mask_path));
  child->parent_id = id;
  child_id = hb_history_store_add (store, child, image, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (child->parent_path, ==, record->image_path);

  g_assert_true (hb_history_store_delete (store, &id, 1, &error));
  g_assert_no_error (error);
  got = hb_history_store_get (store, id, &error);
  g_assert_null (got);
  g_assert_error (error, HB_HISTORY_ERROR, HB_HISTORY_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (exists (store, record->image_path));
  g_assert_false (exists (store, record->sketch_path));
  g_assert_false (exists (store, record->mask_path));
  g_assert_cmpuint (count (store, NULL), ==, 2);

  /* The child forgets its deleted parent. */
  got = hb_history_store_get (store, child_id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (got->parent_id, ==, 0);
  g_assert_null (got->parent_path);
  g_clear_pointer (&got, hb_generation_record_free);

  /* Undo: trash hides, restore brings back, files untouched meanwhile. */
  g_assert_true (hb_history_store_trash (store, &child_id, 1, &error));
  g_assert_cmpuint (count (store, NULL), ==, 1);
  g_assert_true (exists (store, child->image_path));
  g_assert_true (hb_history_store_restore (store, &child_id, 1, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count (store, NULL), ==, 2);

  /* Trashed and never restored: the next open finishes the delete, and
   * does not re-add the picture. */
  g_assert_true (hb_history_store_trash (store, &child_id, 1, &error));
  g_clear_object (&store);
  g_assert_true (g_file_test (folder, G_FILE_TEST_IS_DIR));
  store = open_store (folder);
  g_assert_cmpuint (count (store, NULL), ==, 1);
  g_assert_false (exists (store, child->image_path));
  got = hb_history_store_get (store, keep, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->prompt, ==, "keep me");
  remove_tree (folder);
}

static void
write_garbage (const char *path, gsize offset, gsize length)
{
  FILE *file = fopen (path, "r+b");

  g_assert_nonnull (file);
  fseek (file, (long) offset, SEEK_SET);
  for (gsize i = 0; i < length; i++)
    fputc ((int) ((i * 131 + 7) & 0xff), file);
  fclose (file);
}

static void
assert_moved_aside (const char *folder)
{
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  const char *name;
  gboolean found = FALSE;

  while ((name = g_dir_read_name (dir)) != NULL)
    found |= g_str_has_prefix (name, "history.db.corrupt-") && !g_str_has_suffix (name, "-wal")
             && !g_str_has_suffix (name, "-shm");
  g_assert_true (found);
}

static void
check_corrupt_rebuild (gsize offset, gsize length)
{
  g_autofree char *folder = make_folder ();
  g_autofree char *db_path = g_build_filename (folder, "history.db", NULL);
  g_autoptr(HbHistoryStore) store = open_store (folder);
  g_autoptr(HbGenerationRecord) parent = NULL;
  g_autoptr(HbGenerationRecord) child = hb_generation_record_new ();
  g_autoptr(HbImage) image = make_image (8, 8, 4);
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GError) error = NULL;
  gint64 parent_id;

  for (int i = 0; i < 40; i++)
    {
      g_autofree char *prompt = g_strdup_printf ("picture number %d, 第%d张", i, i);

      add (store, prompt, "", (guint64) i);
    }
  parent_id = add (store, "the parent", "", 100);
  g_assert_true (hb_history_store_set_favourite (store, parent_id, TRUE, &error));
  child->parent_id = parent_id;
  hb_history_store_add (store, child, image, image, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&store);

  write_garbage (db_path, offset, length);
  store = open_store (folder);
  g_assert_nonnull (hb_history_store_get_notice (store));
  g_test_message ("%s", hb_history_store_get_notice (store));
  g_assert_nonnull (strstr (hb_history_store_get_notice (store), "damaged"));
  assert_moved_aside (folder);

  g_assert_cmpuint (count (store, NULL), ==, 42);
  all = search (store, "第17张");
  g_assert_cmpuint (all->len, ==, 1);
  g_assert_cmpuint (((HbGenerationRecord *) g_ptr_array_index (all, 0))->seed, ==, 17);
  g_clear_pointer (&all, g_ptr_array_unref);

  /* Lineage survives although the ids were given anew. */
  all = search (store, NULL);
  g_assert_cmpstr (prompt_at (all, 0), ==, "");
  {
    HbGenerationRecord *rebuilt = g_ptr_array_index (all, 0);

    g_assert_nonnull (rebuilt->parent_path);
    g_assert_cmpint (rebuilt->parent_id, >, 0);
    g_assert_cmpstr (rebuilt->sketch_path, ==, child->sketch_path);
    parent = hb_history_store_get (store, rebuilt->parent_id, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (parent->prompt, ==, "the parent");
  }
  remove_tree (folder);
}

static void
test_corrupt_header (void)
{
  check_corrupt_rebuild (0, 4096);
}

static void
test_corrupt_pages (void)
{
  /* Page 1 (the schema) stays, the pages after it are garbage. */
  check_corrupt_rebuild (4096, 16384);
}

/* The child writes the PNG and is killed before the row is committed; the
 * next open must find the picture. */
static void
test_crash_reconcile (void)
{
  g_autofree char *folder = NULL;
  g_autoptr(HbHistoryStore) store = NULL;
  g_autoptr(GPtrArray) all = NULL;

  if (g_test_subprocess ())
    {
      store = open_store (g_getenv ("HB_TEST_HISTORY_FOLDER"));
      add (store, "written, never committed", "low quality", 2);
      g_assert_not_reached ();
    }

  folder = make_folder ();
  store = open_store (folder);
  add (store, "the one before", "", 1);
  g_clear_object (&store);
  /* Set here, while no store thread runs, for the child to inherit. */
  g_setenv ("HB_TEST_HISTORY_FOLDER", folder, TRUE);
  g_setenv (HB_HISTORY_CRASH_ENV, "1", TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv (HB_HISTORY_CRASH_ENV);
  g_test_trap_assert_failed ();

  store = open_store (folder);
  g_assert_nonnull (hb_history_store_get_notice (store));
  g_test_message ("%s", hb_history_store_get_notice (store));
  all = search (store, NULL);
  g_assert_cmpuint (all->len, ==, 2);
  g_assert_cmpstr (prompt_at (all, 0), ==, "written, never committed");
  g_assert_cmpstr (((HbGenerationRecord *) g_ptr_array_index (all, 0))->negative_prompt, ==,
                   "low quality");
  g_assert_cmpuint (((HbGenerationRecord *) g_ptr_array_index (all, 0))->seed, ==, 2);
  g_clear_pointer (&all, g_ptr_array_unref);
  g_clear_object (&store);

  /* Reconciled once; the next open has nothing to add. */
  store = open_store (folder);
  g_assert_null (hb_history_store_get_notice (store));
  g_assert_cmpuint (count (store, NULL), ==, 2);
  remove_tree (folder);
}

/* A PNG dropped into the folder by hand (another tool's) is picked up with
 * its parameters. */
static void
test_foreign_png (void)
{
  g_autofree char *folder = make_folder ();
  g_autofree char *pictures = g_build_filename (folder, "pictures", "imported", NULL);
  g_autofree char *path = g_build_filename (pictures, "other.png", NULL);
  g_autoptr(HbImage) image = make_image (8, 8, 5);
  g_autoptr(HbHistoryStore) store = NULL;
  g_autoptr(GPtrArray) all = NULL;
  const HbPngText text = {
    "parameters", "from another tool\nNegative prompt: ugly\n"
                  "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 5, Seed: 99, Size: 8x8"
  };
  HbGenerationRecord *record;

  g_assert_cmpint (g_mkdir_with_parents (pictures, 0755), ==, 0);
  g_assert_true (hb_png_save (path, image, &text, 1, NULL));
  store = open_store (folder);
  all = search (store, "another");
  g_assert_cmpuint (all->len, ==, 1);
  record = g_ptr_array_index (all, 0);
  g_assert_cmpstr (record->negative_prompt, ==, "ugly");
  g_assert_cmpstr (record->sampler, ==, "DPM++ 2M");
  g_assert_cmpstr (record->schedule, ==, "Karras");
  g_assert_cmpint (record->steps, ==, 30);
  g_assert_cmpstr (record->image_path, ==, "pictures/imported/other.png");
  remove_tree (folder);
}

static void
test_default_folder_and_export (void)
{
  g_autofree char *expected = g_build_filename (g_getenv ("XDG_DATA_HOME"), "huabu", NULL);
  g_autofree char *out = g_build_filename (g_getenv ("XDG_DATA_HOME"), "out", NULL);
  g_autofree char *exported = NULL;
  g_autoptr(HbHistoryStore) store = NULL;
  g_autoptr(HbGenerationRecord) record = NULL;
  g_autoptr(HbImage) image = NULL;
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(GBytes) thumbnail = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) models = NULL;
  gint64 id;

  /* main() pointed XDG_DATA_HOME at a temporary folder before GLib read it. */
  store = open_store (NULL);
  g_assert_cmpstr (hb_history_store_get_folder (store), ==, expected);
  id = add (store, "export me", "", 3);

  thumbnail = hb_history_store_get_thumbnail (store, id, &error);
  g_assert_no_error (error);
  image = hb_png_decode (thumbnail, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 16);
  g_clear_pointer (&image, hb_image_free);

  models = hb_history_store_list_models (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (models), ==, 1);
  g_assert_cmpstr (models[0], ==, "tiny");

  g_assert_true (hb_history_store_export (store, &id, 1, out, &error));
  g_assert_no_error (error);
  record = hb_history_store_get (store, id, &error);
  exported = g_build_filename (out, strrchr (record->image_path, '/') + 1, NULL);
  image = hb_png_load (exported, &texts, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (g_hash_table_lookup (texts, "parameters"), "export me"));
  g_assert_nonnull (g_hash_table_lookup (texts, "huabu"));

  /* Exporting again would overwrite: refused with the name. */
  g_assert_false (hb_history_store_export (store, &id, 1, out, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  g_assert_true (hb_history_store_set_favourite (store, id, TRUE, &error));
  g_assert_cmpint (hb_history_store_rebuild (store, &error), ==, 1);
  g_assert_no_error (error);
  g_clear_pointer (&record, hb_generation_record_free);
  {
    g_autoptr(GPtrArray) all = search (store, "export");

    g_assert_cmpuint (all->len, ==, 1);
    g_assert_true (((HbGenerationRecord *) g_ptr_array_index (all, 0))->favourite);
  }
  g_clear_object (&store);
  remove_tree (expected);
  remove_tree (out);
}

static void
on_added (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HbGenerationRecord **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = hb_history_store_add_finish (HB_HISTORY_STORE (source), result, &error);
  g_assert_no_error (error);
}

static void
on_changed (HbHistoryStore *store, gpointer user_data)
{
  (*(int *) user_data)++;
}

static void
test_async (void)
{
  g_autofree char *folder = make_folder ();
  g_autoptr(HbHistoryStore) store = open_store (folder);
  g_autoptr(HbGenerationRecord) record = hb_generation_record_new ();
  g_autoptr(HbImage) image = make_image (8, 8, 6);
  HbGenerationRecord *stored = NULL;
  int changed = 0;

  g_signal_connect (store, "changed", G_CALLBACK (on_changed), &changed);
  hb_history_store_add_async (store, record, image, NULL, NULL, NULL, on_added, &stored);
  while (stored == NULL || changed == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (stored->id, >, 0);
  g_assert_true (exists (store, stored->image_path));
  hb_generation_record_free (stored);
  remove_tree (folder);
}

int
main (int argc, char **argv)
{
  g_autofree char *data_home = make_folder ();
  int status;

  g_setenv ("XDG_DATA_HOME", data_home, TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/history/store/migrations", test_migrations);
  g_test_add_func ("/huabu/history/store/search", test_search);
  g_test_add_func ("/huabu/history/store/delete", test_delete);
  g_test_add_func ("/huabu/history/store/corrupt-header", test_corrupt_header);
  g_test_add_func ("/huabu/history/store/corrupt-pages", test_corrupt_pages);
  g_test_add_func ("/huabu/history/store/crash-reconcile", test_crash_reconcile);
  g_test_add_func ("/huabu/history/store/foreign-png", test_foreign_png);
  g_test_add_func ("/huabu/history/store/default-folder-export", test_default_folder_and_export);
  g_test_add_func ("/huabu/history/store/async", test_async);
  status = g_test_run ();
  remove_tree (data_home);
  return status;
}
