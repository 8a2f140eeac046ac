/* test-rng.c — torch.randn() reproduction against recorded PyTorch draws
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "hb-rng.h"
#include "hb-safetensors.h"

static JsonParser *
load_vectors (void)
{
  const char *shared = g_getenv ("HB_SHARED_DIR");
  g_autofree char *path = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error = NULL;

  if (shared == NULL)
    return NULL;
  path = g_build_filename (shared, "test-vectors", "rng.json", NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  parser = json_parser_new ();
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&parser);
}

static void
check_generator (const char *generator, HbRngKind kind)
{
  g_autoptr(JsonParser) parser = load_vectors ();
  JsonArray *cases;
  guint n_checked = 0;

  if (parser == NULL)
    {
      g_test_skip ("needs ../shared/test-vectors/rng.json (HB_SHARED_DIR)");
      return;
    }
  cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                        "cases");
  for (guint c = 0; c < json_array_get_length (cases); c++)
    {
      JsonObject *tc = json_array_get_object_element (cases, c);
      JsonArray *calls = json_object_get_array_member (tc, "calls");
      guint64 seed = (guint64) json_object_get_int_member (tc, "seed");
      gsize n = (gsize) json_object_get_int_member (tc, "n");
      g_autoptr(HbRng) rng = NULL;
      g_autofree float *out = g_new (float, n);

      if (!g_str_equal (json_object_get_string_member (tc, "generator"), generator))
        continue;
      rng = hb_rng_new (kind, seed);
      for (guint k = 0; k < json_array_get_length (calls); k++)
        {
          JsonArray *expected = json_array_get_array_element (calls, k);

          g_assert_cmpuint (json_array_get_length (expected), ==, n);
          hb_rng_randn (rng, out, n);
          for (gsize i = 0; i < n; i++)
            {
              double want = json_array_get_double_element (expected, i);

              if (fabs (out[i] - want) > 1e-5)
                g_error ("%s seed %" G_GUINT64_FORMAT " n %" G_GSIZE_FORMAT " call %u "
                         "element %" G_GSIZE_FORMAT ": got %.9g, want %.9g",
                         generator, seed, n, k, i, out[i], want);
            }
          n_checked++;
        }
    }
  g_assert_cmpuint (n_checked, >, 0);
}

static void
test_cpu (void)
{
  check_generator ("torch-cpu", HB_RNG_CPU);
}

static void
test_philox (void)
{
  check_generator ("torch-cuda-philox", HB_RNG_PHILOX);
}

/* Without the vectors: same seed, same stream; streams move on; the
 * draws look standard-normal. */
static void
test_properties (void)
{
  for (int kind = 0; kind < HB_N_RNGS; kind++)
    {
      g_autoptr(HbRng) a = hb_rng_new (kind, 1234);
      g_autoptr(HbRng) b = hb_rng_new (kind, 1234);
      g_autoptr(HbRng) c = hb_rng_new (kind, 1235);
      g_autofree float *x = g_new (float, 4096);
      g_autofree float *y = g_new (float, 4096);
      double sum = 0, sum2 = 0;

      hb_rng_randn (a, x, 4096);
      hb_rng_randn (b, y, 4096);
      g_assert_cmpmem (x, 4096 * sizeof (float), y, 4096 * sizeof (float));
      hb_rng_randn (a, y, 4096);
      g_assert_true (memcmp (x, y, 4096 * sizeof (float)) != 0);
      hb_rng_randn (c, y, 4096);
      g_assert_true (memcmp (x, y, 4096 * sizeof (float)) != 0);
      for (int i = 0; i < 4096; i++)
        {
          g_assert_true (isfinite (x[i]));
          sum += x[i];
          sum2 += (double) x[i] * x[i];
        }
      g_assert_cmpfloat (fabs (sum / 4096), <, 0.1);
      g_assert_cmpfloat (fabs (sum2 / 4096 - 1.0), <, 0.1);
    }
}

/* The draw the PyTorch reference started its golden generations from. */
static void
test_golden_noise (void)
{
  const char *srcdir = g_getenv ("HB_TEST_SRCDIR");
  g_autofree char *path = NULL;
  g_autoptr(HbSafetensors) io = NULL;
  g_autoptr(HbRng) rng = hb_rng_new (HB_RNG_CPU, 42);
  g_autoptr(GError) error = NULL;
  const HbStTensor *want;
  float got[256], w;

  if (srcdir == NULL)
    {
      g_test_skip ("HB_TEST_SRCDIR is not set");
      return;
    }
  path = g_build_filename (srcdir, "golden", "tiny-io.safetensors", NULL);
  io = hb_safetensors_open (path, &error);
  g_assert_no_error (error);
  want = hb_safetensors_find (io, "rng.seed42_first");
  g_assert_nonnull (want);
  g_assert_cmpuint (want->nbytes, ==, sizeof got);
  hb_rng_randn (rng, got, 256);
  for (int i = 0; i < 256; i++)
    {
      memcpy (&w, want->data + 4 * i, 4);
      g_assert_cmpfloat_with_epsilon (got[i], w, 1e-5);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/rng/torch-cpu", test_cpu);
  g_test_add_func ("/huabu/rng/torch-cuda-philox", test_philox);
  g_test_add_func ("/huabu/rng/properties", test_properties);
  g_test_add_func ("/huabu/rng/golden-noise", test_golden_noise);
  return g_test_run ();
}
