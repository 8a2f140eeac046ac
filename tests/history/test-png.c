/* test-png.c — PNG writing/reading with text chunks; damaged files refused
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <png.h>
#include <string.h>

#include "hb-png.h"

static HbImage *
make_image (int width, int height)
{
  HbImage *image = hb_image_new (width, height);

  for (int i = 0; i < width * height * 4; i++)
    image->rgba[i] = (guint8) (i * 7 + i / 13);
  return image;
}

static char *
make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("hb-png-XXXXXX", &error);

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

/* The file and the folder hold nothing else after an atomic save. */
static void
test_round_trip (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "a.png", NULL);
  g_autoptr(HbImage) image = make_image (37, 21);
  g_autoptr(HbImage) back = NULL;
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) listing = NULL;
  const HbPngText chunks[] = {
    { "parameters", "café au lait\nSteps: 20, Sampler: Euler, CFG scale: 7" },
    { "huabu", "{\"prompt\": \"一只红色的猫\"}" },
  };

  g_assert_true (hb_png_save (path, image, chunks, G_N_ELEMENTS (chunks), &error));
  g_assert_no_error (error);

  back = hb_png_load (path, &texts, &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->width, ==, 37);
  g_assert_cmpint (back->height, ==, 21);
  g_assert_cmpmem (back->rgba, 37 * 21 * 4, image->rgba, 37 * 21 * 4);
  g_assert_cmpstr (g_hash_table_lookup (texts, "parameters"), ==, chunks[0].text);
  g_assert_cmpstr (g_hash_table_lookup (texts, "huabu"), ==, chunks[1].text);

  listing = g_dir_open (dir, 0, NULL);
  g_assert_cmpstr (g_dir_read_name (listing), ==, "a.png");
  g_assert_null (g_dir_read_name (listing));
  remove_tree (dir);
}

/* Latin-1 text goes in tEXt (what every reader understands), the rest in
 * iTXt; both must come back as the same UTF-8. */
static void
test_chunk_types (void)
{
  g_autoptr(HbImage) image = make_image (4, 4);
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "b.png", NULL);
  g_autofree char *data = NULL;
  gsize length;
  const HbPngText chunks[] = {
    { "parameters", "café" },
    { "huabu", "猫" },
  };

  g_assert_true (hb_png_save (path, image, chunks, 2, NULL));
  g_assert_true (g_file_get_contents (path, &data, &length, NULL));
  g_assert_nonnull (memmem (data, length, "tEXtparameters\0caf\xe9", 19));
  g_assert_nonnull (memmem (data, length, "iTXthuabu", 9));
  remove_tree (dir);
}

static void
test_encode_decode (void)
{
  g_autoptr(HbImage) image = make_image (300, 200);
  g_autoptr(HbImage) small = hb_image_scale_down (image, 64);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(HbImage) back = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (small->width, ==, 64);
  g_assert_cmpint (small->height, ==, 42);
  bytes = hb_png_encode (small, &error);
  g_assert_no_error (error);
  back = hb_png_decode (bytes, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (back->rgba, 64 * 42 * 4, small->rgba, 64 * 42 * 4);
}

/* A grey 16-bit PNG written by plain libpng must load as RGBA8. */
static void
test_convert_gray16 (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "gray.png", NULL);
  FILE *file = fopen (path, "wb");
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct (png);
  guint16 row[3];
  g_autoptr(HbImage) image = NULL;
  g_autoptr(GError) error = NULL;

  png_init_io (png, file);
  png_set_IHDR (png, info, 3, 2, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  png_set_swap (png);
  for (int pass = 0; pass < png_set_interlace_handling (png); pass++)
    for (int y = 0; y < 2; y++)
      {
        for (int x = 0; x < 3; x++)
          row[x] = (guint16) (y == 0 ? 0xffff : x * 0x7f7f);
        png_write_row (png, (png_bytep) row);
      }
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  fclose (file);

  image = hb_png_load (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 3);
  for (int x = 0; x < 3; x++)
    {
      const guint8 *top = image->rgba + x * 4, *bottom = image->rgba + (3 + x) * 4;

      g_assert_cmpint (top[0], ==, 255);
      g_assert_cmpint (top[3], ==, 255);
      g_assert_cmpint (bottom[0], ==, x * 0x7f);
      g_assert_cmpint (bottom[1], ==, bottom[2]);
      g_assert_cmpint (bottom[3], ==, 255);
    }
  remove_tree (dir);
}

static void
assert_refused (const char *path, const char *what)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbImage) image = hb_png_load (path, NULL, &error);

  g_assert_null (image);
  g_assert_nonnull (error);
  g_test_message ("%s: %s", what, error->message);
  g_assert_nonnull (strstr (error->message, path));
}

static void
test_truncated (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "whole.png", NULL);
  g_autofree char *cut = g_build_filename (dir, "cut.png", NULL);
  g_autoptr(HbImage) image = make_image (64, 64);
  g_autofree char *data = NULL;
  gsize length;
  const gsize cuts[] = { 4, 8, 40, 0 /* half */, 12 /* no IEND */ };

  g_assert_true (hb_png_save (path, image, NULL, 0, NULL));
  g_assert_true (g_file_get_contents (path, &data, &length, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      gsize keep = i == 3 ? length / 2 : i == 4 ? length - cuts[i] : cuts[i];

      g_assert_true (g_file_set_contents (cut, data, keep, NULL));
      assert_refused (cut, "truncated");
    }

  /* A flipped bit inside the image data fails its checksum. */
  data[length / 2] ^= 0x10;
  g_assert_true (g_file_set_contents (cut, data, length, NULL));
  assert_refused (cut, "corrupt");

  g_assert_true (g_file_set_contents (cut, "GIF89a not a png at all", -1, NULL));
  assert_refused (cut, "not a PNG");

  g_unlink (cut);
  assert_refused (cut, "missing");
  remove_tree (dir);
}

static void
test_save_refuses_bad_folder (void)
{
  g_autoptr(HbImage) image = make_image (2, 2);
  g_autoptr(GError) error = NULL;

  g_assert_false (hb_png_save ("/nonexistent-folder-for-huabu/a.png", image, NULL, 0, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "/nonexistent-folder-for-huabu"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/history/png/round-trip", test_round_trip);
  g_test_add_func ("/huabu/history/png/chunk-types", test_chunk_types);
  g_test_add_func ("/huabu/history/png/encode-decode", test_encode_decode);
  g_test_add_func ("/huabu/history/png/convert-gray16", test_convert_gray16);
  g_test_add_func ("/huabu/history/png/truncated", test_truncated);
  g_test_add_func ("/huabu/history/png/save-refuses-bad-folder", test_save_refuses_bad_folder);
  return g_test_run ();
}
