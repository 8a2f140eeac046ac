/* test-pipeline.c — prompt to picture, against the PyTorch reference
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Whole generations with the tiny golden checkpoint and PyTorch's CPU
 * generator, every sampler and schedule, and img2img; the pictures must
 * match the reference's at PSNR >= 35 dB. Plus the engine's refusals of
 * bad parameters.
 */

#include "config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "huabu-engine.h"
#include "hb-png.h"

static HbEngine *engine;
static HbModel *model;
static JsonObject *pipeline;

static char *
golden_path (const char *name)
{
  return g_build_filename (g_getenv ("HB_TEST_SRCDIR"), "golden", name, NULL);
}

static double
psnr (const HbImage *a, const HbImage *b)
{
  double se = 0;
  gsize n = 0;

  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  for (gsize i = 0; i < (gsize) a->width * a->height; i++)
    for (int c = 0; c < 3; c++, n++)
      {
        double d = (double) a->rgba[i * 4 + c] - b->rgba[i * 4 + c];
        se += d * d;
      }
  return se == 0 ? INFINITY : 10.0 * log10 (255.0 * 255.0 / (se / n));
}

typedef struct {
  int previews;
  int last_step;
} Progress;

static gboolean
on_progress (int step, int n_steps, float sigma, const HbImage *preview, gpointer user_data)
{
  Progress *p = user_data;

  g_assert_cmpint (step, >, p->last_step);
  g_assert_cmpint (step, <=, n_steps);
  g_assert_cmpint (preview->width, ==, 8);
  p->previews++;
  p->last_step = step;
  return TRUE;
}

static void
base_params (HbGenerateParams *p)
{
  hb_generate_params_init (p);
  p->prompt = json_object_get_string_member (pipeline, "prompt");
  p->negative_prompt = json_object_get_string_member (pipeline, "negative_prompt");
  p->seed = json_object_get_int_member (pipeline, "seed");
  p->steps = json_object_get_int_member (pipeline, "steps");
  p->cfg = json_object_get_double_member (pipeline, "cfg");
  p->width = json_object_get_int_member (pipeline, "width");
  p->height = json_object_get_int_member (pipeline, "height");
  p->clip_skip = json_object_get_int_member (pipeline, "clip_skip");
  p->rng = HB_RNG_CPU;
}

static void
test_run (gconstpointer data)
{
  JsonObject *run = (JsonObject *) data;
  g_autoptr(GError) error = NULL;
  g_autofree char *ref_path = golden_path (json_object_get_string_member (run, "png"));
  g_autoptr(HbImage) ref = hb_png_load (ref_path, NULL, &error);
  g_autoptr(HbImage) init = NULL;
  g_autoptr(HbImage) image = NULL;
  g_autoptr(HbModel) own_model = NULL;
  HbGenerateParams p;
  Progress progress = { 0, 0 };
  double q;

  g_assert_no_error (error);
  if (json_object_has_member (run, "model"))
    {
      /* A run on another checkpoint than the pipeline's. */
      g_autofree char *path = golden_path (json_object_get_string_member (run, "model"));
      own_model = hb_model_load (engine, path, &error);
      g_assert_no_error (error);
    }
  base_params (&p);
  g_assert_true (hb_sampler_from_string (json_object_get_string_member (run, "sampler"), &p.sampler));
  g_assert_true (hb_schedule_from_string (json_object_get_string_member (run, "schedule"), &p.schedule));
  if (json_object_has_member (run, "init"))
    {
      g_autofree char *init_path = golden_path (json_object_get_string_member (run, "init"));
      init = hb_png_load (init_path, NULL, &error);
      g_assert_no_error (error);
      p.init = init;
      p.strength = json_object_get_double_member (run, "strength");
    }
  image = hb_engine_generate (engine, own_model ? own_model : model, &p, on_progress, &progress,
                              NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (progress.last_step, ==, p.steps);
  q = psnr (image, ref);
  g_test_message ("%s: PSNR %.1f dB over %d previews", json_object_get_string_member (run, "name"),
                  q, progress.previews);
  g_assert_cmpfloat (q, >=, 35.0);
}

static HbImage *
generate_ok (HbGenerateParams *p)
{
  g_autoptr(GError) error = NULL;
  HbImage *image = hb_engine_generate (engine, model, p, NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  return image;
}

/* A black mask repaints nothing: whatever the seed, the result is the
 * starting picture through the VAE. A white mask repaints everything:
 * the same as img2img. */
static void
test_inpaint (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *init_path = golden_path ("init-64.png");
  g_autoptr(HbImage) init = hb_png_load (init_path, NULL, &error);
  g_autoptr(HbImage) black = NULL, white = NULL;
  g_autoptr(HbImage) a = NULL, b = NULL, c = NULL, d = NULL;
  HbGenerateParams p;

  g_assert_no_error (error);
  black = hb_image_new (init->width, init->height);
  white = hb_image_new (init->width, init->height);
  memset (white->rgba, 255, (gsize) init->width * init->height * 4);
  base_params (&p);
  p.init = init;
  p.strength = 0.8f;
  p.steps = 6;
  p.mask = black;
  a = generate_ok (&p);
  p.seed = 7;
  b = generate_ok (&p);
  g_assert_cmpfloat (psnr (a, b), ==, INFINITY);
  p.mask = white;
  c = generate_ok (&p);
  p.mask = NULL;
  d = generate_ok (&p);
  g_assert_cmpfloat (psnr (c, d), ==, INFINITY);
  g_assert_cmpfloat (psnr (a, c), <, 30.0);
}

static void
expect_refusal (HbGenerateParams *p, const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbImage) image = hb_engine_generate (engine, model, p, NULL, NULL, NULL, &error);

  g_assert_null (image);
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, words));
}

static void
test_bad_params (void)
{
  HbGenerateParams p;

  base_params (&p);
  p.width = 70;
  expect_refusal (&p, "multiple of 8");
  base_params (&p);
  p.steps = 100000;
  expect_refusal (&p, "steps");
  base_params (&p);
  p.cfg = 1e9f;
  expect_refusal (&p, "CFG");
  base_params (&p);
  p.cfg = NAN;
  expect_refusal (&p, "CFG");
  base_params (&p);
  p.cfg = -1.0f;
  expect_refusal (&p, "CFG");
  base_params (&p);
  p.steps = 0;
  expect_refusal (&p, "steps");
  base_params (&p);
  p.steps = -3;
  expect_refusal (&p, "steps");
  base_params (&p);
  p.height = 63;
  expect_refusal (&p, "multiple of 8");
  base_params (&p);
  p.width = p.height = 8;
  expect_refusal (&p, "64 to 2048");
  base_params (&p);
  p.width = 4096;
  expect_refusal (&p, "64 to 2048");
}

/* A starting picture of another size is resized to the output size, and
 * the engine says so. A 2x pixel-replicated copy resizes back to exactly
 * the original (bilinear samples fall between identical pixels), so the
 * result must equal the one from the original. */
static void
test_init_resized (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *init_path = golden_path ("init-64.png");
  g_autoptr(HbImage) init = hb_png_load (init_path, NULL, &error);
  g_autoptr(HbImage) big = NULL;
  g_autoptr(HbImage) a = NULL, b = NULL;
  HbGenerateParams p;

  g_assert_no_error (error);
  big = hb_image_new (init->width * 2, init->height * 2);
  for (int y = 0; y < big->height; y++)
    for (int x = 0; x < big->width; x++)
      memcpy (big->rgba + ((gsize) y * big->width + x) * 4,
              init->rgba + ((gsize) (y / 2) * init->width + x / 2) * 4, 4);
  base_params (&p);
  g_assert_cmpint (p.width, ==, init->width);
  g_assert_cmpint (p.height, ==, init->height);
  p.strength = 0.6f;
  p.steps = 3;
  p.init = init;
  a = hb_engine_generate (engine, model, &p, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  p.init = big;
  g_test_expect_message ("Huabu-Engine", G_LOG_LEVEL_MESSAGE,
                         "The starting picture is 128×128; it was resized to 64×64*");
  b = hb_engine_generate (engine, model, &p, NULL, NULL, NULL, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpint (b->width, ==, p.width);
  g_assert_cmpint (b->height, ==, p.height);
  g_assert_cmpfloat (psnr (a, b), ==, INFINITY);
}

static gboolean
cancel_at_step_2 (int step, int n_steps, float sigma, const HbImage *preview, gpointer user_data)
{
  int *calls = user_data;

  (*calls)++;
  return step < 2;
}

static void
test_cancel (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbImage) image = NULL;
  HbGenerateParams p;
  int calls = 0;

  base_params (&p);
  image = hb_engine_generate (engine, model, &p, cancel_at_step_2, &calls, NULL, &error);
  g_assert_null (image);
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_CANCELLED);
  g_assert_cmpint (calls, ==, 2);
}

static void
test_long_prompt (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbImage) image = NULL;
  g_autoptr(GString) prompt = g_string_new (NULL);
  HbGenerateParams p;

  while (prompt->len < 10000)
    g_string_append (prompt, "a large red circle, a small (blue square:1.3), ");
  base_params (&p);
  p.prompt = prompt->str;
  p.steps = 2;
  image = hb_engine_generate (engine, model, &p, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (image);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *json_path = golden_path ("pipeline.json");
  g_autofree char *ckpt = golden_path ("tiny-sd.safetensors");
  g_autofree char *tokenizer = g_build_filename (g_getenv ("HB_TEST_SRCDIR"), "..", "data", "models", NULL);
  JsonArray *runs;

  g_test_init (&argc, &argv, NULL);
  /* The tiny checkpoint uses the built-in model's tokenizer. */
  g_setenv ("HUABU_CLIP_TOKENIZER", tokenizer, TRUE);
  g_setenv ("HUABU_WEIGHTS", "f32", TRUE);
  json_parser_load_from_file (parser, json_path, &error);
  g_assert_no_error (error);
  pipeline = json_node_get_object (json_parser_get_root (parser));
  engine = hb_engine_new (NULL, &error);
  g_assert_no_error (error);
  model = hb_model_load (engine, ckpt, &error);
  g_assert_no_error (error);

  runs = json_object_get_array_member (pipeline, "runs");
  for (guint i = 0; i < json_array_get_length (runs); i++)
    {
      JsonObject *run = json_array_get_object_element (runs, i);
      g_autofree char *path = g_strdup_printf ("/huabu/pipeline/%s",
                                               json_object_get_string_member (run, "name"));
      g_test_add_data_func (path, run, test_run);
    }
  g_test_add_func ("/huabu/pipeline/bad-params", test_bad_params);
  g_test_add_func ("/huabu/pipeline/cancel", test_cancel);
  g_test_add_func ("/huabu/pipeline/inpaint", test_inpaint);
  g_test_add_func ("/huabu/pipeline/init-resized", test_init_resized);
  g_test_add_func ("/huabu/pipeline/long-prompt", test_long_prompt);
  {
    int status = g_test_run ();
    hb_model_free (model);
    hb_engine_free (engine);
    return status;
  }
}
