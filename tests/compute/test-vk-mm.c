/* test-vk-mm.c — matmul, conv2d and attention on Vulkan against the reference
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Every case runs with both kernel families (HUABU_KERNELS=cpu, =gpu), so
 * lavapipe checks the GPU kernels too. Shapes are small and odd (not
 * multiples of any tile), and cover what sends a CPU-family op to the
 * generic kernel (K or Cin not a multiple of 4).
 *
 * Tolerances (normalised MSE): 1e-10 for matmul and conv2d, whose kernels
 * sum the same products as the reference in fp32 instead of double (fp16
 * weights are widened exactly on both sides), which leaves ~1e-13; GELU's
 * erf approximation (|error| < 1.5e-7) stays far below it too. 1e-9 for
 * attention, whose softmax goes through exp2 of prescaled scores.
 */

#include "config.h"

#include <math.h>

#include "hb-test-compare.h"

#define TOL_MM   1e-10
#define TOL_ATTN 1e-9

static void
check (HbTestCase *tc, HbTensor *out, double tol)
{
  double err = hb_test_compare (tc, out);

  g_assert_cmpfloat (err, <=, tol);
}

static void
use_family (gconstpointer family)
{
  g_setenv ("HUABU_KERNELS", family, TRUE);
}

typedef struct {
  int64_t      batch;      /* 0: a is 2-D */
  int64_t      M, K, N;
  gboolean     trans_b;
  gboolean     b_batched;
  HbDType      wtype;
  gboolean     bias;
  HbActivation act;
  gboolean     residual;
} MatmulCase;

static void
run_matmul_case (const MatmulCase *c, guint seed)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (seed);
  int64_t ashape[3] = { c->batch, c->M, c->K };
  int64_t bshape[3] = { c->batch, c->trans_b ? c->N : c->K, c->trans_b ? c->K : c->N };
  int nd = c->batch > 0 ? 3 : 2;
  HbTensor *a = hb_test_input (tc, HB_DTYPE_F32, nd, ashape + 3 - nd, 1.0);
  HbTensor *b = c->b_batched ? hb_test_input (tc, HB_DTYPE_F32, 3, bshape, 1.0)
                             : hb_test_weight (tc, c->wtype, 2, bshape + 1, 1.0);
  HbTensor *bias = c->bias ? hb_test_weight (tc, c->wtype, 1, &c->N, 1.0) : NULL;
  HbTensor *res = NULL;

  if (c->residual)
    {
      int64_t rshape[3] = { c->batch, c->M, c->N };
      res = hb_test_input (tc, HB_DTYPE_F32, nd, rshape + 3 - nd, 1.0);
    }
  check (tc, hb_matmul (tc->graph, a, b, c->trans_b, bias, c->act, res), TOL_MM);
}

static void
test_matmul (gconstpointer family)
{
  static const MatmulCase cases[] = {
    /* linear layers, odd M and N */
    { 0, 37, 52, 45, TRUE, FALSE, HB_DTYPE_F32, TRUE, HB_ACT_NONE, FALSE },
    { 0, 70, 64, 96, TRUE, FALSE, HB_DTYPE_F16, TRUE, HB_ACT_GELU, TRUE },
    { 0, 1, 128, 17, TRUE, FALSE, HB_DTYPE_F16, FALSE, HB_ACT_QUICK_GELU, FALSE },
    /* batched activations against one broadcast weight */
    { 3, 19, 24, 21, TRUE, FALSE, HB_DTYPE_F32, TRUE, HB_ACT_SILU, TRUE },
    /* both operands batched, b as [K, N] and as [N, K] */
    { 2, 17, 32, 36, FALSE, TRUE, HB_DTYPE_F32, FALSE, HB_ACT_NONE, FALSE },
    { 2, 33, 20, 9, TRUE, TRUE, HB_DTYPE_F32, FALSE, HB_ACT_NONE, TRUE },
    /* K and N that send the CPU family to the generic kernel */
    { 0, 29, 27, 31, TRUE, FALSE, HB_DTYPE_F16, TRUE, HB_ACT_NONE, FALSE },
    { 2, 13, 16, 30, FALSE, FALSE, HB_DTYPE_F32, TRUE, HB_ACT_NONE, TRUE },
  };

  use_family (family);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    run_matmul_case (&cases[i], i);
}

/* a as a column slice of a wider tensor: a strided row, as when a linear
 * layer reads half of a fused projection. */
static void
test_matmul_strided (gconstpointer family)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (11);
  int64_t wide[2] = { 41, 96 }, ashape[2] = { 41, 40 }, astride[2] = { 96, 1 };
  int64_t wshape[2] = { 23, 40 };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 2, wide, 1.0);
  HbTensor *a = hb_view (tc->graph, x, 2, ashape, astride, 48);
  HbTensor *w = hb_test_weight (tc, HB_DTYPE_F16, 2, wshape, 1.0);

  use_family (family);
  check (tc, hb_linear (tc->graph, a, w, NULL), TOL_MM);
}

/* 34000 x 1024 fp32 outputs are 133 MiB: more than lavapipe's 128 MiB
 * binding, so the kernel runs in slices of rows. */
static void
test_matmul_big (gconstpointer family)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (12);
  int64_t ashape[2] = { 34000, 8 }, wshape[2] = { 1024, 8 };
  HbTensor *a = hb_test_input (tc, HB_DTYPE_F32, 2, ashape, 1.0);
  HbTensor *w = hb_test_weight (tc, HB_DTYPE_F16, 2, wshape, 1.0);
  HbTensor *res = hb_test_input (tc, HB_DTYPE_F32, 2, (int64_t[2]) { 34000, 1024 }, 1.0);

  use_family (family);
  check (tc, hb_matmul (tc->graph, a, w, TRUE, NULL, HB_ACT_NONE, res), TOL_MM);
}

typedef struct {
  int64_t B, H, W, Cin, Cout, k;
  int     stride, pad, pad_end;
  HbDType wtype;
  gboolean bias, residual;
  gboolean res_per_image;  /* the residual is [B, 1, 1, Cout], a column slice of a wider tensor */
} ConvCase;

static void
run_conv_case (const ConvCase *c, guint seed)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (seed);
  int64_t xshape[4] = { c->B, c->H, c->W, c->Cin };
  int64_t wshape[4] = { c->Cout, c->k, c->k, c->Cin };
  HbTensor *x = hb_test_input (tc, HB_DTYPE_F32, 4, xshape, 1.0);
  HbTensor *w = hb_test_weight (tc, c->wtype, 4, wshape, 1.0);
  HbTensor *bias = c->bias ? hb_test_weight (tc, c->wtype, 1, &c->Cout, 1.0) : NULL;
  HbTensor *res = NULL;

  if (c->residual && c->res_per_image)
    {
      int64_t wide = c->Cout + 13;
      int64_t eshape[2] = { c->B, wide };
      int64_t rshape[4] = { c->B, 1, 1, c->Cout };
      int64_t rstride[4] = { wide, c->Cout, c->Cout, 1 };
      HbTensor *emb = hb_test_input (tc, HB_DTYPE_F32, 2, eshape, 1.0);

      res = hb_view (tc->graph, emb, 4, rshape, rstride, 5);
    }
  else if (c->residual)
    {
      int64_t rshape[4] = { c->B, (c->H + c->pad + c->pad_end - c->k) / c->stride + 1,
                            (c->W + c->pad + c->pad_end - c->k) / c->stride + 1, c->Cout };
      res = hb_test_input (tc, HB_DTYPE_F32, 4, rshape, 1.0);
    }
  check (tc, hb_conv2d_asym (tc->graph, x, w, bias, c->stride, c->pad, c->pad_end, res), TOL_MM);
}

static void
test_conv2d (gconstpointer family)
{
  static const ConvCase cases[] = {
    { 2, 9, 7, 8, 12, 3, 1, 1, 1, HB_DTYPE_F32, TRUE, FALSE },
    { 1, 10, 9, 16, 20, 3, 2, 0, 1, HB_DTYPE_F16, TRUE, FALSE },   /* VAE downsample */
    { 1, 11, 6, 12, 10, 3, 2, 1, 1, HB_DTYPE_F32, FALSE, TRUE },
    { 2, 5, 13, 12, 10, 1, 1, 0, 0, HB_DTYPE_F16, TRUE, TRUE },     /* 1x1 shortcut */
    { 1, 12, 10, 4, 33, 3, 1, 1, 1, HB_DTYPE_F16, TRUE, TRUE },     /* conv_in, 4 channels */
    { 1, 8, 11, 3, 8, 3, 1, 1, 1, HB_DTYPE_F32, TRUE, FALSE },      /* RGB in: generic kernel */
    { 1, 6, 6, 64, 72, 3, 1, 1, 1, HB_DTYPE_F16, TRUE, TRUE },
  };

  use_family (family);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    run_conv_case (&cases[i], i);
}

/* Same-size 3x3 convs with 32 input channels and at most 32 output
 * channels: on CPU devices the kernel compiled for 32 input channels
 * (conv2d_cpu_3x3.comp), which takes output channels in blocks of 4 (one
 * dispatch each), pixels in rows of 8 and columns of 8. Widths, heights and
 * channel counts are not all multiples of those; images are big enough for
 * the kernel to be chosen (4096 pixels) unless there are at most 8
 * channels. */
static void
test_conv2d_3x3 (gconstpointer family)
{
  static const ConvCase cases[] = {
    { 1, 67, 70, 32, 21, 3, 1, 1, 1, HB_DTYPE_F16, TRUE, TRUE },
    { 2, 40, 53, 32, 32, 3, 1, 1, 1, HB_DTYPE_F32, TRUE, FALSE },
    { 1, 70, 61, 32, 12, 3, 1, 1, 1, HB_DTYPE_F16, FALSE, TRUE },
    { 2, 9, 13, 32, 3, 3, 1, 1, 1, HB_DTYPE_F32, TRUE, FALSE },     /* conv_out to RGB */
    { 1, 17, 5, 32, 4, 3, 1, 1, 1, HB_DTYPE_F16, FALSE, TRUE },
    { 1, 1, 1, 32, 8, 3, 1, 1, 1, HB_DTYPE_F16, TRUE, FALSE },
  };

  use_family (family);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    run_conv_case (&cases[i], 40 + i);
}

/* A residual of one vector per image ([B, 1, 1, Cout], a res block's time
 * embedding), read as a column slice of a wider tensor as the UNet's
 * shared time-embedding matmul leaves it: through the generic, narrow and
 * 3x3 CPU kernels, and a 1x1 output. */
static void
test_conv2d_residual_per_image (gconstpointer family)
{
  static const ConvCase cases[] = {
    { 2, 9, 7, 8, 12, 3, 1, 1, 1, HB_DTYPE_F16, TRUE, TRUE, TRUE },
    { 2, 6, 5, 16, 72, 3, 1, 1, 1, HB_DTYPE_F32, TRUE, TRUE, TRUE },
    { 2, 70, 61, 32, 12, 3, 1, 1, 1, HB_DTYPE_F16, TRUE, TRUE, TRUE },
    { 3, 1, 1, 8, 20, 3, 1, 1, 1, HB_DTYPE_F32, FALSE, TRUE, TRUE },
  };

  use_family (family);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    run_conv_case (&cases[i], 60 + i);
}

/* 1 x 262 x 256 x 520 fp32 outputs are 133 MiB: slices of output rows,
 * each binding only the input rows it reads. */
static void
test_conv2d_big (gconstpointer family)
{
  static const ConvCase big = { 1, 262, 256, 4, 520, 3, 1, 1, 1, HB_DTYPE_F16, TRUE, FALSE };

  use_family (family);
  run_conv_case (&big, 13);
}

typedef struct {
  int64_t  B, Lq, Lk;
  int      heads;
  int64_t  D;
  gboolean causal;
} AttnCase;

static void
test_attention (gconstpointer family)
{
  static const AttnCase cases[] = {
    { 2, 37, 45, 2, 40, FALSE },
    { 1, 77, 77, 3, 64, TRUE },        /* text encoder */
    { 2, 50, 77, 1, 160, FALSE },      /* cross-attention to the prompt */
    { 1, 40, 33, 1, 512, FALSE },      /* VAE mid-block */
    { 1, 19, 19, 2, 80, TRUE },
    { 1, 9, 21, 3, 30, FALSE },        /* D % 4 != 0: the generic kernel */
  };

  use_family (family);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const AttnCase *c = &cases[i];
      g_autoptr(HbTestCase) tc = hb_test_case_new (i);
      int64_t HD = c->heads * c->D;
      int64_t qshape[3] = { c->B, c->Lq, HD }, kshape[3] = { c->B, c->Lk, HD };
      HbTensor *q = hb_test_input (tc, HB_DTYPE_F32, 3, qshape, 2.0);
      HbTensor *k = hb_test_input (tc, HB_DTYPE_F32, 3, kshape, 2.0);
      HbTensor *v = hb_test_input (tc, HB_DTYPE_F32, 3, kshape, 2.0);

      check (tc, hb_attention (tc->graph, q, k, v, c->heads, 1.0f / sqrtf ((float) c->D),
                               c->causal), TOL_ATTN);
    }
}

/* q, k and v as slices of one fused QKV projection [B, L, 3 * H * D]. */
static void
test_attention_fused_qkv (gconstpointer family)
{
  g_autoptr(HbTestCase) tc = hb_test_case_new (21);
  int64_t B = 2, L = 27, H = 2, D = 80, HD = H * D;
  int64_t shape[3] = { B, L, 3 * HD }, vshape[3] = { B, L, HD };
  int64_t vstride[3] = { L * 3 * HD, 3 * HD, 1 };
  HbTensor *qkv = hb_test_input (tc, HB_DTYPE_F32, 3, shape, 2.0);
  HbTensor *q = hb_view (tc->graph, qkv, 3, vshape, vstride, 0);
  HbTensor *k = hb_view (tc->graph, qkv, 3, vshape, vstride, HD);
  HbTensor *v = hb_view (tc->graph, qkv, 3, vshape, vstride, 2 * HD);

  use_family (family);
  check (tc, hb_attention (tc->graph, q, k, v, H, 1.0f / sqrtf ((float) D), FALSE), TOL_ATTN);
}

int
main (int argc, char **argv)
{
  static const char *families[] = { "cpu", "gpu" };
  int ret;

  g_test_init (&argc, &argv, NULL);
  for (guint f = 0; f < G_N_ELEMENTS (families); f++)
    {
      const char *fam = families[f];
      g_autofree char *p_mm = g_strdup_printf ("/huabu/vk/matmul/%s", fam);
      g_autofree char *p_mms = g_strdup_printf ("/huabu/vk/matmul-strided/%s", fam);
      g_autofree char *p_mmb = g_strdup_printf ("/huabu/vk/matmul-big/%s", fam);
      g_autofree char *p_conv = g_strdup_printf ("/huabu/vk/conv2d/%s", fam);
      g_autofree char *p_conv3 = g_strdup_printf ("/huabu/vk/conv2d-3x3/%s", fam);
      g_autofree char *p_convb = g_strdup_printf ("/huabu/vk/conv2d-big/%s", fam);
      g_autofree char *p_convr = g_strdup_printf ("/huabu/vk/conv2d-residual-per-image/%s", fam);
      g_autofree char *p_attn = g_strdup_printf ("/huabu/vk/attention/%s", fam);
      g_autofree char *p_qkv = g_strdup_printf ("/huabu/vk/attention-fused-qkv/%s", fam);

      g_test_add_data_func (p_mm, fam, test_matmul);
      g_test_add_data_func (p_mms, fam, test_matmul_strided);
      g_test_add_data_func (p_mmb, fam, test_matmul_big);
      g_test_add_data_func (p_conv, fam, test_conv2d);
      g_test_add_data_func (p_conv3, fam, test_conv2d_3x3);
      g_test_add_data_func (p_convb, fam, test_conv2d_big);
      g_test_add_data_func (p_convr, fam, test_conv2d_residual_per_image);
      g_test_add_data_func (p_attn, fam, test_attention);
      g_test_add_data_func (p_qkv, fam, test_attention_fused_qkv);
    }
  ret = g_test_run ();
  hb_test_vk_backend_free ();
  return ret;
}
