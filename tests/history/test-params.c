/* test-params.c — parameters text, JSON and ComfyUI records
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>

#include "hb-params.h"

static char *
read_sample (const char *name)
{
  g_autofree char *path = g_build_filename (g_getenv ("HB_TEST_SRCDIR"), "history", "samples",
                                            name, NULL);
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static HbGenerationRecord *
parse_sample (const char *name)
{
  g_autofree char *text = read_sample (name);

  return hb_generation_record_from_parameters (text);
}

static void
test_basic (void)
{
  g_autoptr(HbGenerationRecord) r = parse_sample ("a1111-basic.txt");

  g_assert_cmpstr (r->prompt, ==, "masterpiece, best quality, a red cat sitting on a windowsill, (sunlight:1.2)");
  g_assert_cmpstr (r->negative_prompt, ==, "lowres, bad anatomy, blurry");
  g_assert_cmpint (r->steps, ==, 28);
  /* The old folded name is split into sampler and schedule. */
  g_assert_cmpstr (r->sampler, ==, "DPM++ 2M");
  g_assert_cmpstr (r->schedule, ==, "Karras");
  g_assert_cmpfloat_with_epsilon (r->cfg, 7.5, 1e-9);
  g_assert_true (r->has_seed);
  g_assert_cmpuint (r->seed, ==, 3862119414u);
  g_assert_cmpint (r->width, ==, 512);
  g_assert_cmpint (r->height, ==, 768);
  g_assert_cmpstr (r->model_hash, ==, "6ce0161689");
  g_assert_cmpstr (r->model_name, ==, "v1-5-pruned-emaonly");
  g_assert_cmpfloat (r->strength, <, 0);
  g_assert_cmpstr (hb_generation_record_get_extra (r, "Version"), ==, "v1.6.0");
  g_assert_cmpuint (r->extras->len, ==, 1);
}

static void
test_quoted (void)
{
  g_autoptr(HbGenerationRecord) r = parse_sample ("a1111-quoted.txt");

  g_assert_cmpstr (r->prompt, ==, "portrait of a woman, <lora:detail:0.6>\nsoft light, film grain");
  g_assert_cmpstr (r->negative_prompt, ==, "(worst quality:1.4),\nwatermark");
  g_assert_cmpstr (r->sampler, ==, "Euler a");
  g_assert_cmpstr (r->schedule, ==, "Automatic");
  g_assert_cmpfloat_with_epsilon (r->cfg, 7.0, 1e-9);
  g_assert_cmpuint (r->seed, ==, 42);
  g_assert_cmpstr (r->model_name, ==, "my, model");
  g_assert_cmpfloat_with_epsilon (r->strength, 0.45, 1e-9);
  g_assert_cmpint (r->clip_skip, ==, 2);
  g_assert_cmpstr (hb_generation_record_get_extra (r, "Lora hashes"), ==,
                   "detail: 0f1a2b3c4d5e, other: 123456");
  g_assert_cmpstr (hb_generation_record_get_extra (r, "TI hashes"), ==, "easynegative: c74b4e810b03");
  g_assert_cmpstr (hb_generation_record_get_extra (r, "Hires upscaler"), ==, "4x-UltraSharp");
  g_assert_cmpstr (hb_generation_record_get_extra (r, "Version"), ==, "v1.9.4");
  g_assert_cmpuint (r->extras->len, ==, 4);
}

static void
test_no_negative (void)
{
  g_autoptr(HbGenerationRecord) r = parse_sample ("no-negative.txt");

  g_assert_cmpstr (r->prompt, ==, "a lighthouse at dusk, oil painting");
  g_assert_cmpstr (r->negative_prompt, ==, "");
  g_assert_cmpint (r->steps, ==, 30);
  g_assert_cmpstr (r->sampler, ==, "Euler");
  g_assert_null (r->schedule);
  g_assert_cmpint (r->width, ==, 640);
  g_assert_cmpint (r->height, ==, 448);
  g_assert_null (r->model_name);
  g_assert_null (r->model_hash);
  g_assert_cmpint (r->clip_skip, ==, 0);
}

static void
test_prompt_only (void)
{
  g_autoptr(HbGenerationRecord) r = parse_sample ("prompt-only.txt");

  /* One "key: value" pair by chance is not a settings line. */
  g_assert_cmpstr (r->prompt, ==, "just a prompt with a colon: nothing else, really");
  g_assert_cmpint (r->steps, ==, 0);
  g_assert_false (r->has_seed);
  g_assert_cmpfloat (r->cfg, <, 0);
  g_assert_cmpuint (r->extras->len, ==, 0);
}

static void
test_cjk (void)
{
  g_autoptr(HbGenerationRecord) r = parse_sample ("cjk.txt");

  g_assert_cmpstr (r->prompt, ==, "一只红色的猫，坐在窗台上，水彩画");
  g_assert_cmpstr (r->negative_prompt, ==, "模糊, 低质量");
  g_assert_cmpstr (r->sampler, ==, "DDIM");
  g_assert_cmpstr (r->rng, ==, "CPU");
  g_assert_cmpstr (r->model_name, ==, "国风模型");
  g_assert_cmpuint (r->seed, ==, 12345);
}

static void
test_missing_fields (void)
{
  g_autoptr(HbGenerationRecord) r = parse_sample ("missing-fields.txt");

  g_assert_cmpstr (r->prompt, ==, "a castle in the clouds");
  g_assert_cmpstr (r->negative_prompt, ==, "");
  g_assert_cmpint (r->steps, ==, 12);
  g_assert_cmpuint (r->seed, ==, 77);
  g_assert_cmpstr (r->sampler, ==, "LCM");
  /* A value that does not fit its key is kept, not dropped or misread. */
  g_assert_cmpint (r->width, ==, 0);
  g_assert_cmpstr (hb_generation_record_get_extra (r, "Size"), ==, "notasize");
  g_assert_cmpstr (hb_generation_record_get_extra (r, "Steps2"), ==, "x");
  g_assert_cmpfloat (r->cfg, <, 0);
}

static void
assert_records_equal (const HbGenerationRecord *a, const HbGenerationRecord *b)
{
  g_assert_cmpstr (a->prompt, ==, b->prompt);
  g_assert_cmpstr (a->negative_prompt, ==, b->negative_prompt);
  g_assert_cmpint (a->steps, ==, b->steps);
  g_assert_cmpstr (a->sampler, ==, b->sampler);
  g_assert_cmpstr (a->schedule, ==, b->schedule);
  g_assert_cmpfloat_with_epsilon (a->cfg, b->cfg, 1e-9);
  g_assert_cmpint (a->has_seed, ==, b->has_seed);
  g_assert_cmpuint (a->seed, ==, b->seed);
  g_assert_cmpstr (a->rng, ==, b->rng);
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpfloat_with_epsilon (a->strength, b->strength, 1e-9);
  g_assert_cmpint (a->clip_skip, ==, b->clip_skip);
  g_assert_cmpstr (a->model_name, ==, b->model_name);
  g_assert_cmpstr (a->model_hash, ==, b->model_hash);
  g_assert_cmpuint (a->extras->len, ==, b->extras->len);
  for (guint i = 0; i < a->extras->len; i++)
    {
      const HbParamExtra *x = g_ptr_array_index (a->extras, i);
      const HbParamExtra *y = g_ptr_array_index (b->extras, i);

      g_assert_cmpstr (x->key, ==, y->key);
      g_assert_cmpstr (x->value, ==, y->value);
    }
}

/* Whatever we read, we write back so that we (and the web UI) read the same. */
static void
test_round_trip (void)
{
  static const char *const samples[] = {
    "a1111-basic.txt", "a1111-quoted.txt", "no-negative.txt", "cjk.txt", "missing-fields.txt",
  };

  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      g_autoptr(HbGenerationRecord) first = parse_sample (samples[i]);
      g_autofree char *text = hb_generation_record_to_parameters (first);
      g_autoptr(HbGenerationRecord) second = hb_generation_record_from_parameters (text);
      g_autofree char *json = hb_generation_record_to_json (first);
      g_autoptr(GError) error = NULL;
      g_autoptr(HbGenerationRecord) third = hb_generation_record_from_json (json, &error);

      g_test_message ("%s:\n%s", samples[i], text);
      assert_records_equal (first, second);
      g_assert_no_error (error);
      assert_records_equal (first, third);
    }
}

static void
test_format (void)
{
  g_autoptr(HbGenerationRecord) r = hb_generation_record_new ();
  g_autofree char *text = NULL;

  g_free (r->prompt);
  r->prompt = g_strdup ("a cat");
  g_free (r->negative_prompt);
  r->negative_prompt = g_strdup ("dog");
  r->steps = 20;
  r->sampler = g_strdup ("Euler a");
  r->schedule = g_strdup ("Karras");
  r->cfg = 7;
  r->has_seed = TRUE;
  r->seed = 42;
  r->width = r->height = 512;
  r->model_hash = g_strdup ("abcdef1234");
  r->model_name = g_strdup ("name");
  r->strength = 0.6;
  r->clip_skip = 2;
  hb_generation_record_set_extra (r, "Lora hashes", "a: 1, b: 2");
  text = hb_generation_record_to_parameters (r);
  g_assert_cmpstr (text, ==,
                   "a cat\nNegative prompt: dog\n"
                   "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, "
                   "Size: 512x512, Model hash: abcdef1234, Model: name, Denoising strength: 0.6, "
                   "Clip skip: 2, Lora hashes: \"a: 1, b: 2\"");
}

static void
test_json_lineage (void)
{
  g_autoptr(HbGenerationRecord) r = hb_generation_record_new ();
  g_autoptr(HbGenerationRecord) back = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;

  r->seed = G_MAXUINT64 - 5;
  r->has_seed = TRUE;
  r->parent_path = g_strdup ("pictures/2026/01/a.png");
  r->sketch_path = g_strdup ("sources/2026/01/a-sketch.png");
  r->mask_path = g_strdup ("sources/2026/01/a-mask.png");
  r->duration_s = 12.5;
  r->created_us = 1764000000123456;
  json = hb_generation_record_to_json (r);
  back = hb_generation_record_from_json (json, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->seed, ==, G_MAXUINT64 - 5);
  g_assert_cmpstr (back->parent_path, ==, r->parent_path);
  g_assert_cmpstr (back->sketch_path, ==, r->sketch_path);
  g_assert_cmpstr (back->mask_path, ==, r->mask_path);
  g_assert_cmpfloat_with_epsilon (back->duration_s, 12.5, 1e-9);
  g_assert_cmpint (back->created_us, ==, r->created_us);

  g_clear_pointer (&back, hb_generation_record_free);
  back = hb_generation_record_from_json ("[1, 2]", &error);
  g_assert_null (back);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_comfy (void)
{
  g_autofree char *json = read_sample ("comfy-prompt.json");
  g_autoptr(GError) error = NULL;
  g_autoptr(HbGenerationRecord) r = hb_generation_record_from_comfy (json, &error);
  g_autoptr(HbGenerationRecord) none = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (r->prompt, ==, "beautiful scenery nature glass bottle landscape, purple galaxy bottle,");
  g_assert_cmpstr (r->negative_prompt, ==, "text, watermark");
  g_assert_cmpuint (r->seed, ==, 156680208700286);
  g_assert_cmpint (r->steps, ==, 20);
  g_assert_cmpfloat_with_epsilon (r->cfg, 8.0, 1e-9);
  g_assert_cmpstr (r->sampler, ==, "Euler a");
  g_assert_cmpstr (r->schedule, ==, "Karras");
  g_assert_cmpfloat (r->strength, <, 0);
  g_assert_cmpint (r->width, ==, 512);
  g_assert_cmpint (r->height, ==, 640);
  g_assert_cmpstr (r->model_name, ==, "v1-5-pruned-emaonly.safetensors");

  none = hb_generation_record_from_comfy ("{\"1\": {\"class_type\": \"SaveImage\"}}", &error);
  g_assert_null (none);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
test_png_texts_preference (void)
{
  g_autoptr(GHashTable) texts = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(HbGenerationRecord) r = NULL;
  g_autoptr(GError) error = NULL;

  r = hb_generation_record_from_png_texts (texts, &error);
  g_assert_null (r);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_hash_table_insert (texts, (char *) "parameters", (char *) "from text\nSteps: 3, Seed: 4, CFG scale: 5");
  g_hash_table_insert (texts, (char *) "huabu", (char *) "{\"prompt\": \"from json\"}");
  r = hb_generation_record_from_png_texts (texts, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (r->prompt, ==, "from json");
  g_clear_pointer (&r, hb_generation_record_free);

  /* A damaged Huabu chunk falls back to the parameters text. */
  g_hash_table_insert (texts, (char *) "huabu", (char *) "{broken");
  r = hb_generation_record_from_png_texts (texts, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (r->prompt, ==, "from text");
  g_assert_cmpint (r->steps, ==, 3);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/history/params/basic", test_basic);
  g_test_add_func ("/huabu/history/params/quoted", test_quoted);
  g_test_add_func ("/huabu/history/params/no-negative", test_no_negative);
  g_test_add_func ("/huabu/history/params/prompt-only", test_prompt_only);
  g_test_add_func ("/huabu/history/params/cjk", test_cjk);
  g_test_add_func ("/huabu/history/params/missing-fields", test_missing_fields);
  g_test_add_func ("/huabu/history/params/round-trip", test_round_trip);
  g_test_add_func ("/huabu/history/params/format", test_format);
  g_test_add_func ("/huabu/history/params/json-lineage", test_json_lineage);
  g_test_add_func ("/huabu/history/params/comfy", test_comfy);
  g_test_add_func ("/huabu/history/params/png-texts", test_png_texts_preference);
  return g_test_run ();
}
