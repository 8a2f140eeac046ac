/* test-canvas-undo.c — painting, undo and redo on the canvas
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <gtk/gtk.h>
#include <string.h>

#include "hb-canvas.h"
#include "hb-canvas-undo.h"
#include "hb-test-ui.h"

typedef struct {
  GtkWindow *window;
  HbCanvas  *canvas;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->window = GTK_WINDOW (gtk_window_new ());
  fixture->canvas = HB_CANVAS (hb_canvas_new ());
  gtk_window_set_default_size (fixture->window, 400, 400);
  gtk_window_set_child (fixture->window, GTK_WIDGET (fixture->canvas));
  hb_canvas_reset (fixture->canvas, 64, 48);
  gtk_window_present (fixture->window);
  hb_test_settle (0.1);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  gtk_window_destroy (fixture->window);
}

static guint8 *
dup_sketch (HbCanvas *canvas,
            gsize    *size)
{
  int w, h;
  const guint8 *pixels = hb_canvas_get_sketch_pixels (canvas, &w, &h);

  *size = (gsize) w * h * 4;
  return g_memdup2 (pixels, *size);
}

static gboolean
sketch_equals (HbCanvas     *canvas,
               const guint8 *expected,
               gsize         size)
{
  int w, h;
  const guint8 *pixels = hb_canvas_get_sketch_pixels (canvas, &w, &h);

  return (gsize) w * h * 4 == size && memcmp (pixels, expected, size) == 0;
}

static const guint8 *
pixel_at (HbCanvas *canvas,
          int       x,
          int       y)
{
  int w;
  const guint8 *pixels = hb_canvas_get_sketch_pixels (canvas, &w, NULL);

  return pixels + ((gsize) y * w + x) * 4;
}

static void
draw_line (HbCanvas *canvas,
           double    x0,
           double    y0,
           double    x1,
           double    y1)
{
  hb_canvas_stroke_begin (canvas, x0, y0, 1.0);
  for (int i = 1; i <= 8; i++)
    hb_canvas_stroke_to (canvas, x0 + (x1 - x0) * i / 8, y0 + (y1 - y0) * i / 8, 1.0);
  hb_canvas_stroke_end (canvas);
}

static void
test_stroke_undo_redo (Fixture       *fixture,
                       gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  GdkRGBA red = { 1, 0, 0, 1 };
  g_autofree guint8 *before = NULL;
  g_autofree guint8 *after = NULL;
  gsize size;

  g_assert_true (hb_canvas_sketch_is_blank (canvas));
  g_assert_false (hb_canvas_can_undo (canvas));
  before = dup_sketch (canvas, &size);

  hb_canvas_set_color (canvas, &red);
  hb_canvas_set_brush_size (canvas, 6);
  draw_line (canvas, 5, 24, 59, 24);

  /* The line is red along its middle, and the canvas is white far from it. */
  g_assert_cmpuint (pixel_at (canvas, 32, 24)[0], ==, 255);
  g_assert_cmpuint (pixel_at (canvas, 32, 24)[1], ==, 0);
  g_assert_cmpuint (pixel_at (canvas, 32, 5)[1], ==, 255);
  g_assert_false (hb_canvas_sketch_is_blank (canvas));
  g_assert_true (hb_canvas_can_undo (canvas));
  after = dup_sketch (canvas, &size);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "canvas-stroke");

  g_assert_true (hb_canvas_undo (canvas));
  g_assert_true (sketch_equals (canvas, before, size));
  g_assert_false (hb_canvas_can_undo (canvas));
  g_assert_true (hb_canvas_can_redo (canvas));

  g_assert_true (hb_canvas_redo (canvas));
  g_assert_true (sketch_equals (canvas, after, size));

  /* A new edit after an undo drops what could be redone. */
  g_assert_true (hb_canvas_undo (canvas));
  draw_line (canvas, 5, 5, 5, 40);
  g_assert_false (hb_canvas_can_redo (canvas));
}

static void
test_half_opaque_stroke_does_not_build_up (Fixture       *fixture,
                                           gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  GdkRGBA black = { 0, 0, 0, 1 };

  hb_canvas_set_color (canvas, &black);
  hb_canvas_set_brush_size (canvas, 10);
  g_object_set (canvas, "opacity", 0.5, NULL);
  /* Back and forth over the same spot: one stroke, one coat. */
  hb_canvas_stroke_begin (canvas, 20, 20, 1.0);
  for (int i = 0; i < 6; i++)
    hb_canvas_stroke_to (canvas, i % 2 ? 20 : 40, 20, 1.0);
  hb_canvas_stroke_end (canvas);

  g_assert_cmpint (ABS (pixel_at (canvas, 30, 20)[0] - 128), <=, 1);
}

static void
test_pressure_scales_dab (Fixture       *fixture,
                          gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  GdkRGBA black = { 0, 0, 0, 1 };

  hb_canvas_set_color (canvas, &black);
  hb_canvas_set_brush_size (canvas, 20);
  hb_canvas_stroke_begin (canvas, 16, 24, 0.1);
  hb_canvas_stroke_end (canvas);
  hb_canvas_stroke_begin (canvas, 48, 24, 1.0);
  hb_canvas_stroke_end (canvas);

  /* 4 px from the centre: outside a light dab (radius 1), inside a full one. */
  g_assert_cmpuint (pixel_at (canvas, 16 + 4, 24)[0], ==, 255);
  g_assert_cmpuint (pixel_at (canvas, 48 + 4, 24)[0], <, 2);
}

static void
test_eraser_fill_and_picker (Fixture       *fixture,
                             gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  GdkRGBA blue = { 0, 0, 1, 1 };
  GdkRGBA green = { 0, 1, 0, 1 };
  GdkRGBA picked;

  /* A closed blue box, then fill inside it with green. */
  hb_canvas_set_color (canvas, &blue);
  hb_canvas_set_brush_size (canvas, 2);
  draw_line (canvas, 10, 10, 30, 10);
  draw_line (canvas, 30, 10, 30, 30);
  draw_line (canvas, 30, 30, 10, 30);
  draw_line (canvas, 10, 30, 10, 10);
  hb_canvas_set_color (canvas, &green);
  hb_canvas_fill (canvas, 20, 20);
  g_assert_cmpuint (pixel_at (canvas, 20, 20)[1], ==, 255);
  g_assert_cmpuint (pixel_at (canvas, 20, 20)[0], ==, 0);
  /* Outside the box stays white. */
  g_assert_cmpuint (pixel_at (canvas, 50, 40)[0], ==, 255);

  hb_canvas_pick_color (canvas, 10, 20);
  hb_canvas_get_color (canvas, &picked);
  g_assert_cmpfloat (picked.blue, >, 0.9);
  g_assert_cmpfloat (picked.green, <, 0.1);

  hb_canvas_set_tool (canvas, HB_TOOL_ERASER);
  hb_canvas_set_brush_size (canvas, 8);
  draw_line (canvas, 15, 20, 25, 20);
  g_assert_cmpuint (pixel_at (canvas, 20, 20)[0], ==, 255);

  /* Undo the eraser and the fill. */
  g_assert_true (hb_canvas_undo (canvas));
  g_assert_cmpuint (pixel_at (canvas, 20, 20)[0], ==, 0);
  g_assert_true (hb_canvas_undo (canvas));
  g_assert_cmpuint (pixel_at (canvas, 20, 20)[0], ==, 255);
  g_assert_cmpuint (pixel_at (canvas, 20, 20)[1], ==, 255);
}

static void
test_mask (Fixture       *fixture,
           gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  g_autoptr(HbImage) mask = NULL;

  g_assert_null (hb_canvas_copy_mask (canvas));
  hb_canvas_set_tool (canvas, HB_TOOL_MASK);
  hb_canvas_set_brush_size (canvas, 8);
  draw_line (canvas, 10, 10, 40, 10);

  /* The mask is not part of the sketch. */
  g_assert_true (hb_canvas_sketch_is_blank (canvas));
  mask = hb_canvas_copy_mask (canvas);
  g_assert_nonnull (mask);
  g_assert_cmpuint (mask->rgba[(10 * mask->width + 25) * 4], ==, 255);
  g_assert_cmpuint (mask->rgba[(40 * mask->width + 25) * 4], ==, 0);
  hb_test_screenshot (GTK_WIDGET (fixture->window), "canvas-mask");

  hb_canvas_set_tool (canvas, HB_TOOL_MASK_ERASER);
  hb_canvas_set_brush_size (canvas, 40);
  draw_line (canvas, 0, 10, 60, 10);
  g_assert_null (hb_canvas_copy_mask (canvas));
  g_assert_true (hb_canvas_undo (canvas));
  g_assert_nonnull (hb_canvas_copy_mask (canvas));
}

static void
test_resize_and_clear_undo (Fixture       *fixture,
                            gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  g_autofree guint8 *drawn = NULL;
  gsize size;

  draw_line (canvas, 5, 5, 50, 40);
  drawn = dup_sketch (canvas, &size);

  hb_canvas_set_canvas_size (canvas, 96, 64);
  g_assert_cmpint (hb_canvas_get_canvas_width (canvas), ==, 96);
  g_assert_cmpint (hb_canvas_get_canvas_height (canvas), ==, 64);
  g_assert_false (hb_canvas_sketch_is_blank (canvas));

  hb_canvas_clear (canvas);
  g_assert_true (hb_canvas_sketch_is_blank (canvas));

  g_assert_true (hb_canvas_undo (canvas));
  g_assert_false (hb_canvas_sketch_is_blank (canvas));
  g_assert_true (hb_canvas_undo (canvas));
  g_assert_cmpint (hb_canvas_get_canvas_width (canvas), ==, 64);
  g_assert_true (sketch_equals (canvas, drawn, size));
}

static void
test_result_keep_and_discard (Fixture       *fixture,
                              gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  g_autoptr(HbImage) preview = hb_image_new (8, 6);

  /* A latent-sized preview, scaled up on keep. */
  memset (preview->rgba, 0, (gsize) 8 * 6 * 4);
  for (int i = 0; i < 8 * 6; i++)
    {
      preview->rgba[i * 4 + 2] = 200;
      preview->rgba[i * 4 + 3] = 255;
    }

  hb_canvas_show_result (canvas, preview);
  g_assert_true (hb_canvas_has_result (canvas));
  g_assert_true (hb_canvas_sketch_is_blank (canvas));
  hb_canvas_discard_result (canvas);
  g_assert_false (hb_canvas_has_result (canvas));
  g_assert_true (hb_canvas_sketch_is_blank (canvas));

  hb_canvas_show_result (canvas, preview);
  hb_canvas_keep_result (canvas);
  g_assert_false (hb_canvas_has_result (canvas));
  g_assert_cmpuint (pixel_at (canvas, 30, 20)[2], ==, 200);
  g_assert_cmpuint (pixel_at (canvas, 30, 20)[0], ==, 0);
  g_assert_true (hb_canvas_undo (canvas));
  g_assert_true (hb_canvas_sketch_is_blank (canvas));
}

static void
test_import_texture (Fixture       *fixture,
                     gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  guint8 rgba[4 * 4 * 4];
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  for (int i = 0; i < 16; i++)
    {
      rgba[i * 4 + 0] = 10;
      rgba[i * 4 + 1] = 200;
      rgba[i * 4 + 2] = 30;
      rgba[i * 4 + 3] = 255;
    }
  bytes = g_bytes_new (rgba, sizeof rgba);
  texture = gdk_memory_texture_new (4, 4, GDK_MEMORY_R8G8B8A8, bytes, 16);

  hb_canvas_import_texture (canvas, texture);
  /* A square picture fits the 64×48 canvas by height, centred. */
  g_assert_cmpuint (pixel_at (canvas, 32, 24)[1], ==, 200);
  g_assert_cmpuint (pixel_at (canvas, 32, 24)[0], ==, 10);
  g_assert_cmpuint (pixel_at (canvas, 2, 24)[1], ==, 255);
  g_assert_cmpuint (pixel_at (canvas, 2, 24)[0], ==, 255);
  g_assert_true (hb_canvas_undo (canvas));
  g_assert_true (hb_canvas_sketch_is_blank (canvas));
}

static void
test_hundred_steps (Fixture       *fixture,
                    gconstpointer  data)
{
  HbCanvas *canvas = fixture->canvas;
  g_autofree guint8 *blank = NULL;
  gsize size;
  int undone = 0;

  blank = dup_sketch (canvas, &size);
  hb_canvas_set_brush_size (canvas, 1);
  for (int i = 0; i < 120; i++)
    draw_line (canvas, i % 64, (i / 64) * 20, (i % 64) + 0.5, (i / 64) * 20 + 10);

  while (hb_canvas_undo (canvas))
    undone++;
  g_assert_cmpint (undone, ==, 120);
  g_assert_true (sketch_equals (canvas, blank, size));
}

static void
test_stack_memory_bound (void)
{
  g_autoptr(HbUndoStack) stack = hb_undo_stack_new (1000, 10000);
  g_autoptr(HbPixels) before = hb_pixels_new (50, 50, 1);
  g_autoptr(HbPixels) after = hb_pixels_new (50, 50, 1);

  memset (after->data, 7, 2500);
  /* Each step holds 2 × 2500 bytes: the bound keeps two. */
  for (int i = 0; i < 10; i++)
    {
      hb_undo_stack_begin (stack);
      hb_undo_stack_add_region (stack, 0, before, after, 0, 0, 50, 50);
      hb_undo_stack_end (stack);
    }
  g_assert_cmpuint (hb_undo_stack_get_n_steps (stack), ==, 2);
  g_assert_cmpuint (hb_undo_stack_get_n_bytes (stack), <=, 10000);

  /* One step bigger than the bound still stays, so it can be undone. */
  {
    g_autoptr(HbUndoStack) tiny = hb_undo_stack_new (1000, 10);
    HbPixels *layers[1] = { hb_pixels_copy (after) };

    hb_undo_stack_begin (tiny);
    hb_undo_stack_add_region (tiny, 0, before, after, 0, 0, 50, 50);
    hb_undo_stack_end (tiny);
    g_assert_true (hb_undo_stack_undo (tiny, layers));
    g_assert_cmpuint (layers[0]->data[1234], ==, 0);
    hb_pixels_free (layers[0]);
  }
}

int
main (int   argc,
      char *argv[])
{
  hb_test_init (&argc, &argv);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/huabu/ui/canvas/stroke-undo-redo", test_stroke_undo_redo);
  ADD ("/huabu/ui/canvas/opacity-one-coat", test_half_opaque_stroke_does_not_build_up);
  ADD ("/huabu/ui/canvas/pressure", test_pressure_scales_dab);
  ADD ("/huabu/ui/canvas/eraser-fill-picker", test_eraser_fill_and_picker);
  ADD ("/huabu/ui/canvas/mask", test_mask);
  ADD ("/huabu/ui/canvas/resize-clear-undo", test_resize_and_clear_undo);
  ADD ("/huabu/ui/canvas/result", test_result_keep_and_discard);
  ADD ("/huabu/ui/canvas/import", test_import_texture);
  ADD ("/huabu/ui/canvas/hundred-steps", test_hundred_steps);
#undef ADD
  g_test_add_func ("/huabu/ui/canvas/undo-memory-bound", test_stack_memory_bound);

  return g_test_run ();
}
