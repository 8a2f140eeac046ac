/* test-kernels.c — kernel paths the VAE and UNet of the built-in model
 * take, at their sizes, on Vulkan against the reference backend
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The VAE decoder of the built-in model normalises with one group: up to
 * 128x128x32 values a group, which CPU devices split over workgroups in two
 * passes (statistics, then output). Tolerance as in test-vk-ops.c: the
 * kernel computes what the reference computes up to fp32 rounding.
 */

#include "config.h"

#include "../compute/hb-test-compare.h"

#define EXACT 1e-10

static void
use_cpu_kernels (void)
{
  hb_vulkan_device_set_cpu_kernels (hb_backend_vulkan_device (hb_test_vk_backend ()), TRUE);
}

static void
test_group_norm_one_group (void)
{
  static const struct { int64_t shape[4]; gboolean silu; } cases[] = {
    { { 1, 128, 128, 32 }, TRUE },  /* the decoder's last levels */
    { { 1, 64, 64, 64 }, FALSE },
    { { 2, 32, 32, 64 }, TRUE },    /* two images in one dispatch */
    { { 1, 77, 131, 12 }, TRUE },   /* parts that do not divide the positions */
    { { 1, 100, 90, 6 }, FALSE },   /* 2 channels a texel */
    { { 1, 150, 120, 3 }, TRUE },   /* 1 channel a texel */
  };

  use_cpu_kernels ();
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    for (int f16 = 0; f16 < 2; f16++)
      {
        g_autoptr(HbTestCase) tc = hb_test_case_new (20 + c);
        HbDType wt = f16 ? HB_DTYPE_F16 : HB_DTYPE_F32;
        HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 4, cases[c].shape, 3.0);
        HbTensor *g = hb_test_weight (tc, wt, 1, &cases[c].shape[3], 2.0);
        HbTensor *b = hb_test_weight (tc, wt, 1, &cases[c].shape[3], 2.0);
        HbTensor *y = hb_group_norm (tc->graph, x, g, b, 1, 1e-6f, cases[c].silu);

        g_assert_cmpfloat (hb_test_compare (tc, y), <=, EXACT);
      }
}

/* Values 200 +- 0.19 in one group of 128x128x32: a mean far larger than
 * the spread, which the partial sums must not lose to rounding. */
static void
test_group_norm_one_group_mean (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (30);
  int64_t shape[4] = { 1, 128, 128, 32 }, cshape[1] = { 32 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 4, shape, 3.0);
  HbTensor *xs, *g, *b;

  use_cpu_kernels ();
  xs = hb_scale (tc->graph, x, 0.0625f, 200.0f, -1e30f, 1e30f);
  g = hb_test_weight (tc, HB_DTYPE_F16, 1, cshape, 2.0);
  b = hb_test_weight (tc, HB_DTYPE_F16, 1, cshape, 2.0);
  g_assert_cmpfloat (hb_test_compare (tc, hb_group_norm (tc->graph, xs, g, b, 1, 1e-6f, TRUE)),
                     <=, EXACT);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/kernels/group-norm-one-group", test_group_norm_one_group);
  g_test_add_func ("/huabu/kernels/group-norm-one-group-mean", test_group_norm_one_group_mean);
  ret = g_test_run ();
  hb_test_vk_backend_free ();
  return ret;
}
