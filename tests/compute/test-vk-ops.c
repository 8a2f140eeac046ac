/* test-vk-ops.c — every non-matmul kernel on Vulkan against the reference
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Tolerances (normalised MSE): 1e-10 where the kernel computes what the
 * reference computes up to fp32 rounding (copies, element-wise ops, norms,
 * fp16 weights included: fp16 -> fp32 is exact on both sides); 1e-7 for the
 * timestep embedding, whose arguments reach 1000 rad where one fp32 ulp of
 * the argument is 6e-5; latent->RGB bytes may differ by one rounding step.
 */

#include "config.h"

#include <string.h>

#include "hb-test-compare.h"

#define EXACT 1e-10

static void
check (HbTestCase *tc, HbTensor *out, double tol)
{
  double err = hb_test_compare (tc, out);

  g_assert_cmpfloat (err, <=, tol);
}

static void
test_unary (void)
{
  static const HbOpType ops[] = { HB_OP_GELU, HB_OP_QUICK_GELU, HB_OP_SILU };
  static const int64_t shapes[][4] = { { 3, 7, 33, 1 }, { 2, 5, 11, 13 }, { 1, 1, 1, 4099 } };

  for (guint o = 0; o < G_N_ELEMENTS (ops); o++)
    for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
      {
        g_autoptr(HbTestCase) tc = hb_test_case_new (o * 10 + s);
        HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 4, shapes[s], 6.0);

        check (tc, hb_unary (tc->graph, ops[o], x), EXACT);
      }
}

/* A transposed view exercises the strided path of the element-wise shader. */
static void
test_unary_strided (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (3);
  int64_t shape[2] = { 37, 19 }, tshape[2] = { 19, 37 }, tstride[2] = { 1, 19 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 2, shape, 4.0);
  HbTensor *xt = hb_view (tc->graph, x, 2, tshape, tstride, 0);

  check (tc, hb_unary (tc->graph, HB_OP_SILU, xt), EXACT);
}

static void
test_scale (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (4);
  int64_t shape[2] = { 1000, 17 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 2, shape, 3.0);

  check (tc, hb_scale (tc->graph, x, 1.5f, 0.25f, -2.0f, 2.5f), EXACT);
}

static void
test_binary (void)
{
  static const struct { int nb; int64_t b[4]; HbDType dt; } cases[] = {
    { 1, { 320 }, HB_DTYPE_F32 },                  /* bias over channels */
    { 4, { 2, 1, 1, 320 }, HB_DTYPE_F32 },         /* per image and channel (timestep) */
    { 4, { 2, 9, 7, 320 }, HB_DTYPE_F32 },         /* same shape, batched */
    { 1, { 320 }, HB_DTYPE_F16 },                  /* fp16 weight */
    { 3, { 9, 1, 320 }, HB_DTYPE_F16 },            /* broadcast in the middle */
    { 4, { 1, 9, 1, 1 }, HB_DTYPE_F32 },
  };
  int64_t shape[4] = { 2, 9, 7, 320 };

  for (int add = 0; add < 2; add++)
    for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
      {
        g_autoptr(HbTestCase) tc = hb_test_case_new (c);
        HbTensor *a = hb_test_input (tc, HB_DTYPE_F32, 4, shape, 2.0);
        HbTensor *b = cases[c].dt == HB_DTYPE_F16
                      ? hb_test_weight (tc, HB_DTYPE_F16, cases[c].nb, cases[c].b, 2.0)
                      : hb_test_input (tc, HB_DTYPE_F32, cases[c].nb, cases[c].b, 2.0);

        check (tc, add ? hb_add (tc->graph, a, b) : hb_mul (tc->graph, a, b), EXACT);
      }
}

/* 40000 x 1024 fp32 is 156 MiB: more than lavapipe's 128 MiB binding. */
static void
test_big_add_scale (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (5);
  int64_t shape[2] = { 40000, 1024 }, bshape[1] = { 1024 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 2, shape, 1.0);
  HbTensor *b = hb_test_input (tc, HB_DTYPE_F32, 1, bshape, 1.0);
  HbTensor *y = hb_add (tc->graph, x, b);

  check (tc, hb_scale (tc->graph, y, 0.5f, 1.0f, -1e30f, 1e30f), EXACT);
}

static void
test_geglu (void)
{
  static const int64_t shapes[][3] = { { 2, 77, 80 }, { 3, 5, 26 }, { 1, 4096, 2560 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      g_autoptr(HbTestCase) tc = hb_test_case_new (s);
      HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 3, shapes[s], 3.0);

      check (tc, hb_geglu (tc->graph, x), EXACT);
    }
}

static void
test_copy (void)
{
  int64_t shape[3] = { 5, 7, 13 }, pshape[3] = { 13, 5, 7 }, pstride[3] = { 1, 91, 13 };

  for (int f16 = 0; f16 < 2; f16++)
    {
      g_autoptr(HbTestCase) tc = hb_test_case_new (6);
      HbTensor *x = f16 ? hb_test_weight (tc, HB_DTYPE_F16, 3, shape, 2.0)
                        : hb_test_input (tc, HB_DTYPE_F32, 3, shape, 2.0);
      HbTensor *xp = hb_view (tc->graph, x, 3, pshape, pstride, 0);
      HbTensor *c = hb_copy (tc->graph, xp);

      /* the comparison reads fp32; an fp16 copy goes through a multiply by 1 */
      if (f16)
        {
          int64_t one_shape[1] = { 1 };
          static const float one = 1.0f;
          HbTensor *w = hb_graph_weight (tc->graph, "one", HB_DTYPE_F32, 1, one_shape, &one);
          int64_t fshape[3] = { 13, 5, 7 };
          HbTensor *o = hb_test_input (tc, HB_DTYPE_F32, 3, fshape, 1.0);
          c = hb_add (tc->graph, hb_mul (tc->graph, o, w), c);
        }
      check (tc, c, EXACT);
    }
}

static void
test_concat (void)
{
  int64_t sa[4] = { 2, 8, 9, 5 }, sb[4] = { 2, 8, 9, 7 };
  g_autoptr(HbTestCase) tc = hb_test_case_new (7);
  HbTensor *a = hb_test_input (tc, HB_DTYPE_F32, 4, sa, 2.0);
  HbTensor *b = hb_test_input (tc, HB_DTYPE_F32, 4, sb, 2.0);

  check (tc, hb_concat (tc->graph, a, b), EXACT);
}

static void
test_upsample (void)
{
  static const int64_t shapes[][4] = { { 2, 5, 7, 3 }, { 1, 4, 4, 320 }, { 1, 32, 32, 1280 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      g_autoptr(HbTestCase) tc = hb_test_case_new (s);
      HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 4, shapes[s], 2.0);

      check (tc, hb_upsample_nearest2x (tc->graph, x), EXACT);
    }
}

static void
test_layer_norm (void)
{
  static const int64_t shapes[][3] = { { 2, 77, 768 }, { 3, 5, 33 }, { 1, 1, 7 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int f16 = 0; f16 < 2; f16++)
      {
        g_autoptr(HbTestCase) tc = hb_test_case_new (s);
        HbDType wt = f16 ? HB_DTYPE_F16 : HB_DTYPE_F32;
        HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 3, shapes[s], 3.0);
        HbTensor *g = hb_test_weight (tc, wt, 1, &shapes[s][2], 2.0);
        HbTensor *b = hb_test_weight (tc, wt, 1, &shapes[s][2], 2.0);

        check (tc, hb_layer_norm (tc->graph, x, g, b, 1e-5f), EXACT);
      }
}

/* The kernel reads a group 4, 2 or 1 channels at a time (the widest that
 * divides C/G), with C/G / that many lanes a position: cases for each
 * width, for one channel a group, for groups wider than the workgroup's
 * 256 lanes, and for positions that do not fill the last round of lanes. */
static void
test_group_norm (void)
{
  static const struct { int64_t shape[4]; int groups; } cases[] = {
    { { 2, 16, 16, 320 }, 32 },     /* 10 channels a group: 2 at a time */
    { { 1, 7, 9, 64 }, 32 },
    { { 3, 5, 3, 12 }, 4 },         /* 3 channels: 1 at a time */
    { { 2, 3, 7, 256 }, 32 },       /* 8 channels: 4 at a time, 64 lanes a position */
    { { 1, 13, 11, 24 }, 24 },      /* one channel a group */
    { { 1, 5, 9, 1040 }, 2 },       /* 520 channels: 130 lanes, one round of 1 position */
    { { 2, 3, 5, 514 }, 2 },        /* 257 channels: lanes walk 2 channels each */
    { { 1, 1, 1, 40 }, 4 },         /* one position */
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    for (int variant = 0; variant < 4; variant++)
      {
        g_autoptr(HbTestCase) tc = hb_test_case_new (c);
        HbDType wt = variant & 1 ? HB_DTYPE_F16 : HB_DTYPE_F32;
        HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 4, cases[c].shape, 3.0);
        HbTensor *g = hb_test_weight (tc, wt, 1, &cases[c].shape[3], 2.0);
        HbTensor *b = hb_test_weight (tc, wt, 1, &cases[c].shape[3], 2.0);

        check (tc, hb_group_norm (tc->graph, x, g, b, cases[c].groups, 1e-6f, variant >> 1), EXACT);
      }
}

/* An input that starts two elements into its storage is read 2 channels
 * at a time though its groups have 4. */
static void
test_group_norm_offset (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (13);
  int64_t flat[1] = { 2 + 2 * 37 * 16 }, shape[3] = { 2, 37, 16 }, stride[3] = { 37 * 16, 16, 1 };
  int64_t cshape[1] = { 16 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 1, flat, 3.0);
  HbTensor *xv = hb_view (tc->graph, x, 3, shape, stride, 2);
  HbTensor *g = hb_test_weight (tc, HB_DTYPE_F32, 1, cshape, 2.0);
  HbTensor *b = hb_test_weight (tc, HB_DTYPE_F32, 1, cshape, 2.0);

  check (tc, hb_group_norm (tc->graph, xv, g, b, 4, 1e-5f, TRUE), EXACT);
}

/* Values 200 +- 0.19 (the power-of-two scale keeps them the same on both
 * backends): a mean far larger than the spread, which sums of
 * the values themselves lose to rounding. */
static void
test_group_norm_mean (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (14);
  int64_t shape[4] = { 1, 64, 64, 320 }, cshape[1] = { 320 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 4, shape, 3.0);
  HbTensor *xs = hb_scale (tc->graph, x, 0.0625f, 200.0f, -1e30f, 1e30f);
  HbTensor *g = hb_test_weight (tc, HB_DTYPE_F16, 1, cshape, 2.0);
  HbTensor *b = hb_test_weight (tc, HB_DTYPE_F16, 1, cshape, 2.0);

  check (tc, hb_group_norm (tc->graph, xs, g, b, 32, 1e-6f, TRUE), EXACT);
}

/* One image of 300000 x 128 fp32 (146 MiB) spans two storage bindings. */
static void
test_group_norm_big (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (12);
  int64_t shape[3] = { 1, 300000, 128 }, cshape[1] = { 128 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 3, shape, 3.0);
  HbTensor *g = hb_test_weight (tc, HB_DTYPE_F16, 1, cshape, 2.0);
  HbTensor *b = hb_test_weight (tc, HB_DTYPE_F16, 1, cshape, 2.0);

  check (tc, hb_group_norm (tc->graph, x, g, b, 32, 1e-6f, TRUE), EXACT);
}

static void
test_softmax (void)
{
  static const int64_t shapes[][3] = { { 2, 8, 77 }, { 1, 5, 1000 }, { 3, 1, 1 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      g_autoptr(HbTestCase) tc = hb_test_case_new (s);
      HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 3, shapes[s], 20.0);

      check (tc, hb_softmax (tc->graph, x), EXACT);
    }
}

static void
test_timestep (void)
{
  static const int dims[] = { 320, 6 };

  for (guint d = 0; d < G_N_ELEMENTS (dims); d++)
    {
      g_autoptr(HbTestCase) tc = hb_test_case_new (d);
      int64_t shape[1] = { 3 };
      HbTensor *t = hb_test_input (tc, HB_DTYPE_F32, 1, shape, 1000.0);

      check (tc, hb_timestep_embed (tc->graph, t, dims[d], 10000.0f), 1e-7);
    }
}

static void
test_get_rows (void)
{
  for (int f16 = 0; f16 < 2; f16++)
    {
      g_autoptr(HbTestCase) tc = hb_test_case_new (f16);
      int64_t tshape[2] = { 100, 33 }, ishape[1] = { 17 };
      HbTensor *table = hb_test_weight (tc, f16 ? HB_DTYPE_F16 : HB_DTYPE_F32, 2, tshape, 2.0);
      HbTensor *ids = hb_test_input (tc, HB_DTYPE_I32, 1, ishape, 100);

      check (tc, hb_get_rows (tc->graph, table, ids), EXACT);
    }
}

/* CLIP's token embedding: 49408 x 768 fp32 = 145 MiB, over lavapipe's
 * 128 MiB binding. Ids are drawn over the whole table, so both slices
 * contribute. */
static void
test_get_rows_big (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (9);
  int64_t tshape[2] = { 49408, 768 }, ishape[1] = { 77 };
  HbTensor *table = hb_test_weight (tc, HB_DTYPE_F32, 2, tshape, 1.0);
  HbTensor *ids = hb_test_input (tc, HB_DTYPE_I32, 1, ishape, 49408);

  ((int32_t *) g_ptr_array_index (tc->data, 0))[0] = 49407;
  check (tc, hb_get_rows (tc->graph, table, ids), EXACT);
}

static void
test_latent_rgb (void)
{
  static const float m[12] = { 0.298f, 0.207f, 0.208f, 0.187f, 0.286f, 0.173f,
                               -0.158f, 0.189f, 0.264f, -0.184f, -0.271f, -0.473f };
  static const float bias[3] = { 0.1f, -0.05f, 0.02f };
  int64_t shape[4] = { 2, 9, 11, 4 };
  g_autoptr(HbTestCase) tc = hb_test_case_new (10);
  HbTensor *l = hb_test_input (tc, HB_DTYPE_F32, 4, shape, 4.0);

  check (tc, hb_latent_rgb (tc->graph, l, m, bias), 1.0);
}

/* Many small ops whose intermediates share arena memory: wrong liveness
 * or a missing write-after-read barrier shows up as wrong values. */
static void
test_chain (void)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (11);
  int64_t shape[3] = { 2, 33, 64 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 3, shape, 2.0);
  HbTensor *y = x;

  for (int i = 0; i < 12; i++)
    {
      HbTensor *a = hb_unary (tc->graph, i % 2 ? HB_OP_SILU : HB_OP_GELU, y);
      HbTensor *b = hb_scale (tc->graph, y, 0.5f, 0.1f, -4.0f, 4.0f);
      y = hb_add (tc->graph, a, hb_mul (tc->graph, b, x));
    }
  check (tc, hb_softmax (tc->graph, y), EXACT);
}

typedef struct {
  const char *name;
  GTestFunc   func;
} OpTest;

static const OpTest op_tests[] = {
  { "unary", test_unary },
  { "unary-strided", test_unary_strided },
  { "scale", test_scale },
  { "binary", test_binary },
  { "big-add-scale", test_big_add_scale },
  { "geglu", test_geglu },
  { "copy", test_copy },
  { "concat", test_concat },
  { "upsample", test_upsample },
  { "layer-norm", test_layer_norm },
  { "group-norm", test_group_norm },
  { "group-norm-offset", test_group_norm_offset },
  { "group-norm-mean", test_group_norm_mean },
  { "group-norm-big", test_group_norm_big },
  { "softmax", test_softmax },
  { "timestep", test_timestep },
  { "get-rows", test_get_rows },
  { "get-rows-big", test_get_rows_big },
  { "latent-rgb", test_latent_rgb },
  { "chain", test_chain },
};

/* Both kernel families run on whatever device there is: the GPU family
 * (workgroup reductions) is correct on lavapipe too, just slower. */
static void
run_family (gconstpointer data)
{
  const OpTest *t = data;
  HbVulkanDevice *dev = hb_backend_vulkan_device (hb_test_vk_backend ());
  gboolean cpu = strstr (g_test_get_path (), "/cpu/") != NULL;

  hb_vulkan_device_set_cpu_kernels (dev, cpu);
  t->func ();
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  for (guint f = 0; f < 2; f++)
    for (guint i = 0; i < G_N_ELEMENTS (op_tests); i++)
      {
        /* the element-wise split is the same code in both families */
        g_autofree char *path = NULL;

        if (f == 1 && (g_str_equal (op_tests[i].name, "big-add-scale")
                       || g_str_equal (op_tests[i].name, "get-rows-big")))
          continue;
        path = g_strdup_printf ("/huabu/vk/%s/%s", f == 0 ? "cpu" : "gpu", op_tests[i].name);
        g_test_add_data_func (path, &op_tests[i], run_family);
      }
  ret = g_test_run ();
  hb_test_vk_backend_free ();
  return ret;
}
