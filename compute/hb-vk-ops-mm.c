/* hb-vk-ops-mm.c — recording of matmul, conv2d and fused attention
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each op has two kernel families behind it, picked by device type:
 *
 *  - CPU-type devices (lavapipe): big register tiles per invocation, inputs
 *    read through uniform texel buffers, no shared memory (LAVAPIPE.md has
 *    the measurements). These need 4-aligned rows along K; a shape that is
 *    not falls back to the GPU family, which takes anything.
 *  - GPUs: tiles staged through shared memory, plain storage buffers.
 *
 * HUABU_KERNELS=cpu or =gpu forces a family, so that the tests run both on
 * one machine. glslang 12 (Debian 12) cannot compile GL_KHR_cooperative_matrix,
 * so there is no cooperative-matrix variant yet; the shared-memory kernels
 * serve GPUs that offer VK_KHR_cooperative_matrix too.
 *
 * Tensors larger than one storage binding are split over rows of the
 * output, each dispatch binding only the slice it touches; the shaders take
 * a signed base per operand, so they never know about the split.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "hb-vk-private.h"

/* Tile sizes of the CPU-family shaders: outputs per workgroup along N and
 * M (matmul_cpu.comp, conv2d_cpu.comp: 8 invocations of 16x8 side by side;
 * the _n32 variants 4x2 of them, for outputs whose last 64 columns would
 * leave half the invocations idle), and queries per workgroup
 * (attention_cpu.comp: 8 invocations of 4; the d160 variant 8 of 2: with
 * 4, lavapipe took 2.5 minutes to compile it at its first use). */
#define CPU_MM_GROUP_N   64
#define CPU_MM_GROUP_M   16
#define CPU_MM_N32_N     32
#define CPU_MM_N32_M     32
#define CPU_ATTN_GROUP_Q 32
#define CPU_ATTN_D160_GROUP_Q 16
/* conv2d_cpu_3x3.comp: 8 invocations along a row of output pixels, each
 * CPU_CONV3_TM pixels down by CPU_CONV3_TN channels. */
#define CPU_CONV3_GROUP_X 8
#define CPU_CONV3_TM      8
#define CPU_CONV3_TN      4
#define CPU_CONV3_MIN_PIXELS 4096
/* GPU family: 64x64 output blocks (matmul_gpu.glsl), 64 queries per group. */
#define GPU_MM_BLOCK     64
#define GPU_ATTN_GROUP_Q 64
/* The largest head size any attention variant holds in registers. */
#define ATTN_MAX_D       512

#define FLAG_BIAS     1u
#define FLAG_RESIDUAL 2u
#define FLAG_RES_IMAGE 4u
#define ACT_SHIFT     4u

/* The push constants of matmul_common.glsl. */
typedef struct {
  guint32 M, N, K, flags;
  gint32  a_base; guint32 a_sm, a_sk, a_batch;
  gint32  b_base; guint32 b_sn, b_sk, b_batch;
  gint32  bias_base;
  gint32  d_base; guint32 d_row, d_batch;
  gint32  r_base; guint32 r_row, r_batch;
  guint32 m_begin;
  guint32 conv_h, conv_w, conv_cin;
  guint32 conv_ho, conv_wo;
  guint32 conv_geom;
  guint32 n_begin;
} MmPush;

/* The push constants of attention_common.glsl. */
typedef struct {
  guint32 Lq, Lk, D, causal;
  gint32  q_base; guint32 q_row, q_batch;
  gint32  k_base; guint32 k_row, k_batch;
  gint32  v_base; guint32 v_row, v_batch;
  gint32  o_base; guint32 o_row, o_batch;
  float   scale_log2;
} AttnPush;

G_STATIC_ASSERT (sizeof (MmPush) <= HB_VK_MAX_PUSH);
G_STATIC_ASSERT (sizeof (AttnPush) <= HB_VK_MAX_PUSH);

/* A tensor seen as [batch, rows, cols] with one stride per axis. */
typedef struct {
  int64_t batches, rows, cols;
  int64_t s_batch, s_row, s_col;
} Mat3;

static gboolean
use_cpu_family (HbVkCtx *ctx)
{
  const char *force = g_getenv ("HUABU_KERNELS");

  if (force != NULL && g_ascii_strcasecmp (force, "cpu") == 0)
    return TRUE;
  if (force != NULL && g_ascii_strcasecmp (force, "gpu") == 0)
    return FALSE;
  return hb_vk_device_info_is_cpu (hb_vk_ctx_device_info (ctx));
}

/* Views t as [batch, rows, cols]: the last two dimensions are rows and
 * columns (a 1-D tensor is one row), the leading ones must collapse into
 * one batch stride. A 2-D tensor has batch stride 0, so it broadcasts. */
static gboolean
mat3_from_tensor (const HbTensor *t, Mat3 *m)
{
  int nd = t->ndim;

  m->cols = t->shape[nd - 1];
  m->s_col = t->stride[nd - 1];
  m->rows = nd >= 2 ? t->shape[nd - 2] : 1;
  m->s_row = nd >= 2 ? t->stride[nd - 2] : 0;
  m->batches = 1;
  m->s_batch = 0;
  for (int d = nd - 3; d >= 0; d--)
    {
      if (t->shape[d] == 1)
        continue;
      if (m->batches > 1 && t->stride[d] != m->s_batch * m->batches)
        return FALSE;
      if (m->batches == 1)
        m->s_batch = t->stride[d];
      m->batches *= t->shape[d];
    }
  return TRUE;
}

static gboolean
is_aligned4 (int64_t v)
{
  return v % 4 == 0;
}

static VkFormat
rgba_format (HbDType dtype)
{
  return dtype == HB_DTYPE_F16 ? VK_FORMAT_R16G16B16A16_SFLOAT : VK_FORMAT_R32G32B32A32_SFLOAT;
}

static VkFormat
scalar_format (HbDType dtype)
{
  return dtype == HB_DTYPE_F16 ? VK_FORMAT_R16_SFLOAT : VK_FORMAT_R32_SFLOAT;
}

static gboolean
fits_binding (HbVkCtx *ctx, const HbTensor *t)
{
  return (VkDeviceSize) hb_vk_tensor_extent (t) * hb_dtype_size (t->dtype) + 256
         <= hb_vk_ctx_device_info (ctx)->max_storage_buffer_range;
}

static gboolean
bind_bias (HbVkCtx *ctx, HbTensor *node, HbTensor *bias, MmPush *push, GError **error)
{
  guint32 off;

  if (bias == NULL)
    return TRUE;
  if (!hb_tensor_is_contiguous (bias))
    return hb_vk_unsupported (node, "its bias is not contiguous", error);
  if (!hb_vk_bind_texel (ctx, 2, bias, scalar_format (bias->dtype), 0, -1, &off, error))
    return FALSE;
  push->bias_base = (gint32) off;
  push->flags |= FLAG_BIAS;
  return TRUE;
}

/* Strides of the residual as [batch, M, N]; the reference reads it in the
 * output's element order, so a contiguous one of any shape is fine. */
static gboolean
residual_layout (HbTensor *node, HbTensor *res, int64_t M, int64_t N, MmPush *push, GError **error)
{
  Mat3 r;

  if (hb_tensor_is_contiguous (res))
    {
      push->r_row = (guint32) N;
      push->r_batch = (guint32) (M * N);
      return TRUE;
    }
  if (res->ndim != node->ndim || memcmp (res->shape, node->shape, node->ndim * sizeof (int64_t)) != 0
      || !mat3_from_tensor (res, &r) || r.s_col != 1)
    return hb_vk_unsupported (node, "its residual is a strided view of another shape", error);
  push->r_row = (guint32) r.s_row;
  push->r_batch = (guint32) r.s_batch;
  return TRUE;
}

/* ---- matmul ------------------------------------------------------------ */

typedef struct {
  HbTensor *node, *a, *b, *res;
  Mat3      ma, mb;         /* a as [batch, M, K]; b as [batch, N, K] or [batch, K, N] */
  gboolean  trans_b;
  gboolean  cpu;
  int64_t   M, N, K, batches;
} MatmulJob;

static gboolean
matmul_cpu_ok (const MatmulJob *j)
{
  const Mat3 *a = &j->ma, *b = &j->mb;

  if (j->a->view_offset % 4 != 0 || j->b->view_offset % 4 != 0)
    return FALSE;
  if (a->s_col != 1 || !is_aligned4 (j->K) || !is_aligned4 (a->s_row) || !is_aligned4 (a->s_batch))
    return FALSE;
  if (b->s_col != 1 || !is_aligned4 (b->s_row) || !is_aligned4 (b->s_batch))
    return FALSE;
  /* B [K, N] is read 4 columns at a time */
  return j->trans_b || is_aligned4 (j->N);
}

/* The narrow (4x2 invocations) CPU variant covers N with less idle work. */
static gboolean
cpu_narrow (int64_t N)
{
  return N % CPU_MM_GROUP_N != 0 && N % CPU_MM_GROUP_N <= CPU_MM_N32_N;
}

static gboolean
cpu_dispatch (HbVkCtx *ctx, int64_t N, int64_t rows, guint32 nb, GError **error)
{
  if (cpu_narrow (N))
    return hb_vk_dispatch (ctx, hb_vk_div_up (N, CPU_MM_N32_N), hb_vk_div_up (rows, CPU_MM_N32_M),
                           nb, error);
  return hb_vk_dispatch (ctx, hb_vk_div_up (N, CPU_MM_GROUP_N), hb_vk_div_up (rows, CPU_MM_GROUP_M),
                         nb, error);
}

/* One dispatch over batches [bt, bt + nb) and rows [r0, r0 + rows). */
static gboolean
matmul_dispatch (HbVkCtx *ctx, const MatmulJob *j, MmPush push, int64_t bt, int64_t nb,
                 int64_t r0, int64_t rows, GError **error)
{
  const Mat3 *a = &j->ma, *b = &j->mb;
  int64_t a_first = bt * a->s_batch + r0 * a->s_row;
  int64_t d_first = (bt * j->M + r0) * j->N;
  int64_t d_count = ((nb - 1) * j->M + rows) * j->N;
  int64_t b_first = bt * b->s_batch;
  guint32 off;
  int unit = j->cpu ? 4 : 1;

  push.M = (guint32) rows;
  if (!hb_vk_bind_storage (ctx, 0, j->node, d_first, d_count, HB_VK_WRITE, &off, error))
    return FALSE;
  push.d_base = (gint32) off;
  if (j->res != NULL)
    {
      int64_t r_first = bt * push.r_batch + r0 * push.r_row;
      int64_t r_count = (nb - 1) * push.r_batch + (rows - 1) * push.r_row + j->N;

      if (!hb_vk_bind_storage (ctx, 1, j->res, r_first, r_count, HB_VK_READ, &off, error))
        return FALSE;
      push.r_base = (gint32) off;
    }

  if (j->cpu)
    {
      if (!hb_vk_bind_texel (ctx, 0, j->a, rgba_format (j->a->dtype), a_first,
                             (nb - 1) * a->s_batch + (rows - 1) * a->s_row + j->K, &off, error))
        return FALSE;
      push.a_base = (gint32) off;
      if (!hb_vk_bind_texel (ctx, 1, j->b, rgba_format (j->b->dtype), b_first, -1, &off, error))
        return FALSE;
      push.b_base = (gint32) off;
    }
  else
    {
      if (!hb_vk_bind_storage (ctx, 2, j->a, a_first,
                               (nb - 1) * a->s_batch + (rows - 1) * a->s_row
                               + (j->K - 1) * a->s_col + 1, HB_VK_READ, &off, error))
        return FALSE;
      push.a_base = (gint32) off;
      if (!hb_vk_bind_storage (ctx, 3, j->b, b_first, -1, HB_VK_READ, &off, error))
        return FALSE;
      push.b_base = (gint32) off;
    }

  push.a_sm = (guint32) (a->s_row / unit);
  push.a_sk = (guint32) (a->s_col);
  push.a_batch = (guint32) (a->s_batch / unit);
  push.b_batch = (guint32) (b->s_batch / unit);
  if (j->trans_b)
    {
      push.b_sn = (guint32) (b->s_row / unit);
      push.b_sk = (guint32) b->s_col;
    }
  else
    {
      push.b_sk = (guint32) (b->s_row / unit);
      push.b_sn = (guint32) b->s_col;
    }

  hb_vk_push (ctx, &push, sizeof push);
  if (j->cpu)
    return cpu_dispatch (ctx, j->N, rows, (guint32) nb, error);
  return hb_vk_dispatch (ctx, hb_vk_div_up (j->N, GPU_MM_BLOCK),
                         hb_vk_div_up (rows, GPU_MM_BLOCK), (guint32) nb, error);
}

gboolean
hb_vk_record_matmul (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  MatmulJob j = { node, node->src[0], node->src[1], node->src[3] };
  MmPush push = { 0 };
  const char *variant;
  int64_t rows_per;

  j.trans_b = node->iparams[HB_MATMUL_TRANS_B] != 0;
  if (!mat3_from_tensor (j.a, &j.ma) || !mat3_from_tensor (j.b, &j.mb))
    return hb_vk_unsupported (node, "an operand's batch dimensions are not evenly strided", error);
  j.M = j.ma.rows;
  j.K = j.ma.cols;
  j.N = node->shape[node->ndim - 1];
  j.batches = j.ma.batches;
  if (j.M == 0 || j.N == 0 || j.batches == 0)
    return TRUE;
  if (j.mb.batches == 1)
    j.mb.s_batch = 0;
  if (j.b->dtype != HB_DTYPE_F32 && j.b->dtype != HB_DTYPE_F16)
    return hb_vk_unsupported (node, "its weight is neither fp32 nor fp16", error);

  j.cpu = use_cpu_family (ctx) && matmul_cpu_ok (&j);
  if (j.cpu)
    variant = j.trans_b ? (cpu_narrow (j.N) ? "matmul_cpu_nt_n32" : "matmul_cpu_nt")
              : (cpu_narrow (j.N) ? "matmul_cpu_nn_n32" : "matmul_cpu_nn");
  else
    variant = j.b->dtype == HB_DTYPE_F16 ? "matmul_gpu_f16" : "matmul_gpu_f32";

  push.N = (guint32) j.N;
  push.K = (guint32) j.K;
  push.flags = (guint32) node->iparams[HB_MATMUL_ACT] << ACT_SHIFT;
  push.d_row = (guint32) j.N;
  push.d_batch = (guint32) (j.M * j.N);
  if (j.res != NULL)
    {
      if (!residual_layout (node, j.res, j.M, j.N, &push, error))
        return FALSE;
      push.flags |= FLAG_RESIDUAL;
    }

  if (!hb_vk_begin (ctx, variant, error))
    return FALSE;
  if (!bind_bias (ctx, node, node->src[2], &push, error))
    return FALSE;
  if (!j.cpu && !fits_binding (ctx, j.b))
    return hb_vk_unsupported (node, "its weight is larger than one storage binding", error);

  if (fits_binding (ctx, node) && (j.res == NULL || fits_binding (ctx, j.res))
      && (j.cpu || fits_binding (ctx, j.a)))
    return matmul_dispatch (ctx, &j, push, 0, j.batches, 0, j.M, error);

  /* Too big for one binding: one dispatch per slice of rows of one batch. */
  rows_per = hb_vk_rows_per_binding (ctx, j.N * 4);
  if (j.res != NULL)
    rows_per = MIN (rows_per, hb_vk_rows_per_binding (ctx, (int64_t) push.r_row * 4));
  if (!j.cpu)
    rows_per = MIN (rows_per, hb_vk_rows_per_binding (ctx, j.ma.s_row * 4 + j.K * j.ma.s_col * 4));
  /* keep slices on tile boundaries */
  rows_per = rows_per / GPU_MM_BLOCK * GPU_MM_BLOCK;
  if (rows_per <= 0)
    return hb_vk_unsupported (node, "one row of it is larger than a storage binding of this device",
                        error);
  for (int64_t bt = 0; bt < j.batches; bt++)
    for (int64_t r0 = 0; r0 < j.M; r0 += rows_per)
      if (!matmul_dispatch (ctx, &j, push, bt, 1, r0, MIN (rows_per, j.M - r0), error))
        return FALSE;
  return TRUE;
}

/* ---- conv2d ------------------------------------------------------------ */

typedef struct {
  HbTensor *node, *x, *w, *res;
  gboolean  res_per_image;  /* res is [B, 1, 1, Cout] (FLAG_RES_IMAGE) */
  gboolean  cpu;
  int64_t   B, H, W, Cin, Ho, Wo, Cout, KH, KW;
  int       stride, pad;
} ConvJob;

/* One dispatch over output rows [oy0, oy0 + nrows) of images [b0, b0 + nb):
 * whole images when nb > 1, else a slice of image b0. */
static gboolean
conv_dispatch (HbVkCtx *ctx, const ConvJob *j, MmPush push, int64_t b0, int64_t nb,
               int64_t oy0, int64_t nrows, GError **error)
{
  int64_t m_begin = (b0 * j->Ho + oy0) * j->Wo;
  int64_t M = ((nb - 1) * j->Ho + nrows) * j->Wo;
  int64_t iy_first = CLAMP (oy0 * j->stride - j->pad, 0, j->H - 1);
  int64_t iy_last = CLAMP ((oy0 + nrows - 1) * j->stride - j->pad + j->KH - 1, iy_first,
                           j->H - 1);
  int64_t x_first = (b0 * j->H + iy_first) * j->W * j->Cin;
  int64_t x_count = (((nb - 1) * j->H + iy_last - iy_first + 1) * j->W) * j->Cin;
  guint32 off;

  push.M = (guint32) M;
  push.m_begin = (guint32) m_begin;
  if (!hb_vk_bind_storage (ctx, 0, j->node, m_begin * j->Cout, M * j->Cout, HB_VK_WRITE, &off,
                           error))
    return FALSE;
  push.d_base = (gint32) (off - m_begin * j->Cout);
  if (j->res != NULL && j->res_per_image)
    {
      int64_t first = b0 * j->res->stride[0];

      if (!hb_vk_bind_storage (ctx, 1, j->res, first, (nb - 1) * j->res->stride[0] + j->Cout,
                               HB_VK_READ, &off, error))
        return FALSE;
      push.r_base = (gint32) off - (gint32) first;
    }
  else if (j->res != NULL)
    {
      if (!hb_vk_bind_storage (ctx, 1, j->res, m_begin * j->Cout, M * j->Cout, HB_VK_READ, &off,
                               error))
        return FALSE;
      push.r_base = (gint32) (off - m_begin * j->Cout);
    }
  if (j->cpu)
    {
      if (!hb_vk_bind_texel (ctx, 0, j->x, rgba_format (j->x->dtype), x_first, x_count, &off, error))
        return FALSE;
      push.a_base = (gint32) off - (gint32) (x_first / 4);
      if (!hb_vk_bind_texel (ctx, 1, j->w, rgba_format (j->w->dtype), 0, -1, &off, error))
        return FALSE;
      push.b_base = (gint32) off;
      push.b_sn = (guint32) (push.K / 4);
    }
  else
    {
      if (!hb_vk_bind_storage (ctx, 2, j->x, x_first, x_count, HB_VK_READ, &off, error))
        return FALSE;
      push.a_base = (gint32) off - (gint32) x_first;
      if (!hb_vk_bind_storage (ctx, 3, j->w, 0, -1, HB_VK_READ, &off, error))
        return FALSE;
      push.b_base = (gint32) off;
      push.b_sn = push.K;
    }

  hb_vk_push (ctx, &push, sizeof push);
  if (j->cpu)
    return cpu_dispatch (ctx, j->Cout, M, 1, error);
  return hb_vk_dispatch (ctx, hb_vk_div_up (j->Cout, GPU_MM_BLOCK),
                         hb_vk_div_up (M, GPU_MM_BLOCK), 1, error);
}

/* The 3x3 kernel with the input channel count fixed at compile time
 * (conv2d_cpu_3x3.comp), for same-size 3x3 convs with few output channels,
 * which leave most of the implicit-GEMM kernel's columns idle: it wins
 * there (32->32 at 128x128 twice as fast, 32->3 some 15 times), and loses
 * to it from 64 output channels on. It needs one dispatch per CPU_CONV3_TN
 * channels, so a small image is worth it only for very few channels. Only
 * 32 input channels are compiled in: the unrolled kernel takes lavapipe
 * about a second to compile, and twice that for 64. NULL where it does
 * not apply. */
static const char *
conv3x3_cpu_variant (HbVkCtx *ctx, const ConvJob *j, int pad_end)
{
  gboolean f16 = j->w->dtype == HB_DTYPE_F16;

  if (!j->cpu || j->KH != 3 || j->KW != 3 || j->stride != 1 || j->pad != 1 || pad_end != 1)
    return NULL;
  if (j->Cout > 32 || (j->Cout > 8 && j->B * j->Ho * j->Wo < CPU_CONV3_MIN_PIXELS))
    return NULL;
  if (!fits_binding (ctx, j->node) || !fits_binding (ctx, j->x) || !fits_binding (ctx, j->w)
      || (j->res != NULL && !fits_binding (ctx, j->res)))
    return NULL;
  if (j->Cin != 32)
    return NULL;
  return f16 ? "conv2d_cpu_3x3_c32_f16" : "conv2d_cpu_3x3_c32_f32";
}

/* One dispatch per block of CPU_CONV3_TN output channels. */
static gboolean
conv3x3_cpu_dispatch (HbVkCtx *ctx, const ConvJob *j, MmPush push, GError **error)
{
  guint32 off;

  push.M = (guint32) (j->B * j->Ho * j->Wo);
  if (!hb_vk_bind_storage (ctx, 0, j->node, 0, -1, HB_VK_WRITE, &off, error))
    return FALSE;
  push.d_base = (gint32) off;
  if (j->res != NULL)
    {
      if (!hb_vk_bind_storage (ctx, 1, j->res, 0, -1, HB_VK_READ, &off, error))
        return FALSE;
      push.r_base = (gint32) off;
    }
  if (!hb_vk_bind_texel (ctx, 0, j->x, rgba_format (j->x->dtype), 0, -1, &off, error))
    return FALSE;
  push.a_base = (gint32) off;
  if (!hb_vk_bind_storage (ctx, 3, j->w, 0, -1, HB_VK_READ, &off, error))
    return FALSE;
  push.b_base = (gint32) off;

  for (int64_t n0 = 0; n0 < j->Cout; n0 += CPU_CONV3_TN)
    {
      push.n_begin = (guint32) n0;
      hb_vk_push (ctx, &push, sizeof push);
      if (!hb_vk_dispatch (ctx, hb_vk_div_up (j->Wo, CPU_CONV3_GROUP_X),
                           (guint32) j->B * hb_vk_div_up (j->Ho, CPU_CONV3_TM), 1, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
hb_vk_record_conv2d (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  ConvJob j = { node, node->src[0], node->src[1], node->src[3] };
  MmPush push = { 0 };
  const char *variant, *variant3;
  int64_t rows_per;

  j.B = j.x->shape[0];
  j.H = j.x->shape[1];
  j.W = j.x->shape[2];
  j.Cin = j.x->shape[3];
  j.Cout = j.w->shape[0];
  j.KH = j.w->shape[1];
  j.KW = j.w->shape[2];
  j.Ho = node->shape[1];
  j.Wo = node->shape[2];
  j.stride = node->iparams[HB_CONV_STRIDE];
  j.pad = node->iparams[HB_CONV_PAD];
  if (j.B * j.Ho * j.Wo == 0 || j.Cout == 0)
    return TRUE;
  if (!hb_tensor_is_contiguous (j.x) || !hb_tensor_is_contiguous (j.w))
    return hb_vk_unsupported (node, "its input or weight is not contiguous", error);
  j.res_per_image = hb_conv2d_residual_per_image (node);
  if (j.res != NULL && (j.res_per_image ? j.res->stride[3] != 1 || j.res->stride[0] > G_MAXINT32
                                        : !hb_tensor_is_contiguous (j.res)))
    return hb_vk_unsupported (node, "its residual is not contiguous", error);
  if (j.KH > 255 || j.KW > 255 || j.stride > 255 || j.pad > 255 || j.pad < 0
      || j.H > G_MAXINT32 / 2 || j.W > G_MAXINT32 / 2)
    return hb_vk_unsupported (node, "its kernel, stride, padding or image size is out of range", error);
  if (j.w->dtype != HB_DTYPE_F32 && j.w->dtype != HB_DTYPE_F16)
    return hb_vk_unsupported (node, "its weight is neither fp32 nor fp16", error);

  j.cpu = use_cpu_family (ctx) && is_aligned4 (j.Cin) && j.x->view_offset % 4 == 0
          && j.w->view_offset % 4 == 0;
  variant3 = conv3x3_cpu_variant (ctx, &j, node->iparams[HB_CONV_PAD_END]);
  if (variant3 != NULL)
    variant = variant3;
  else if (j.cpu)
    variant = cpu_narrow (j.Cout) ? "conv2d_cpu_n32" : "conv2d_cpu";
  else
    variant = j.w->dtype == HB_DTYPE_F16 ? "conv2d_gpu_f16" : "conv2d_gpu_f32";

  push.N = (guint32) j.Cout;
  push.K = (guint32) (j.KH * j.KW * j.Cin);
  push.d_row = push.r_row = (guint32) j.Cout;
  push.conv_h = (guint32) j.H;
  push.conv_w = (guint32) j.W;
  push.conv_cin = (guint32) j.Cin;
  push.conv_ho = (guint32) j.Ho;
  push.conv_wo = (guint32) j.Wo;
  push.conv_geom = (guint32) (j.KH << 24 | j.KW << 16 | j.stride << 8 | j.pad);
  if (j.res != NULL)
    push.flags |= FLAG_RESIDUAL;
  if (j.res_per_image)
    {
      push.flags |= FLAG_RES_IMAGE;
      push.r_row = (guint32) j.res->stride[0];
    }

  if (!hb_vk_begin (ctx, variant, error))
    return FALSE;
  if (!bind_bias (ctx, node, node->src[2], &push, error))
    return FALSE;
  if (!j.cpu && !fits_binding (ctx, j.w))
    return hb_vk_unsupported (node, "its weight is larger than one storage binding", error);
  if (variant3 != NULL)
    return conv3x3_cpu_dispatch (ctx, &j, push, error);

  if (fits_binding (ctx, node) && fits_binding (ctx, j.x))
    return conv_dispatch (ctx, &j, push, 0, j.B, 0, j.Ho, error);

  /* Too big for one binding: slices of output rows, binding only the
   * input rows each slice reads. */
  rows_per = hb_vk_rows_per_binding (ctx, j.Wo * j.Cout * 4);
  rows_per = MIN (rows_per, (hb_vk_rows_per_binding (ctx, j.W * j.Cin * 4) - j.KH) / j.stride);
  if (rows_per <= 0)
    return hb_vk_unsupported (node, "one row of it is larger than a storage binding of this device",
                        error);
  for (int64_t b = 0; b < j.B; b++)
    for (int64_t oy = 0; oy < j.Ho; oy += rows_per)
      if (!conv_dispatch (ctx, &j, push, b, 1, oy, MIN (rows_per, j.Ho - oy), error))
        return FALSE;
  return TRUE;
}

/* ---- attention --------------------------------------------------------- */

/* The shader variant for head size D, and its queries per workgroup. */
static const char *
attention_variant (gboolean cpu, int64_t D, guint32 *group_q)
{
  *group_q = cpu ? CPU_ATTN_GROUP_Q : GPU_ATTN_GROUP_Q;
  if (D <= 64)
    return cpu ? "attention_cpu_d64" : "attention_gpu_d64";
  if (cpu && D <= 80)
    return "attention_cpu_d80";
  if (D <= 160)
    {
      if (cpu)
        *group_q = CPU_ATTN_D160_GROUP_Q;
      return cpu ? "attention_cpu_d160" : "attention_gpu_d160";
    }
  return cpu ? "attention_cpu_d512" : "attention_gpu_d512";
}

static gboolean
attention_cpu_ok (HbTensor *const qkv[3], int64_t D)
{
  if (!is_aligned4 (D))
    return FALSE;
  for (int i = 0; i < 3; i++)
    if (qkv[i]->view_offset % 4 != 0 || !is_aligned4 (qkv[i]->stride[0])
        || !is_aligned4 (qkv[i]->stride[1]))
      return FALSE;
  return TRUE;
}

gboolean
hb_vk_record_attention (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *qkv[3] = { node->src[0], node->src[1], node->src[2] };
  gint32 *bases[3];
  guint32 *rows[3], *batches[3];
  AttnPush push = { 0 };
  int64_t B = node->shape[0], Lq = node->shape[1], HD = node->shape[2];
  int64_t Lk = qkv[1]->shape[1];
  int H = node->iparams[HB_ATTN_HEADS];
  int64_t D = HD / H;
  gboolean cpu;
  int unit;
  guint32 off, group_q;

  if (B == 0 || Lq == 0 || Lk == 0)
    return TRUE;
  for (int i = 0; i < 3; i++)
    if (qkv[i]->dtype != HB_DTYPE_F32 || qkv[i]->stride[2] != 1)
      return hb_vk_unsupported (node, "q, k and v must be fp32 with contiguous heads", error);
  if (D > ATTN_MAX_D)
    return hb_vk_unsupported (node, "its heads are larger than 512", error);

  cpu = use_cpu_family (ctx) && attention_cpu_ok (qkv, D);
  unit = cpu ? 4 : 1;
  if (!hb_vk_begin (ctx, attention_variant (cpu, D, &group_q), error))
    return FALSE;
  if (!fits_binding (ctx, node))
    return hb_vk_unsupported (node, "its output is larger than one storage binding", error);

  bases[0] = &push.q_base, rows[0] = &push.q_row, batches[0] = &push.q_batch;
  bases[1] = &push.k_base, rows[1] = &push.k_row, batches[1] = &push.k_batch;
  bases[2] = &push.v_base, rows[2] = &push.v_row, batches[2] = &push.v_batch;
  for (int i = 0; i < 3; i++)
    {
      if (cpu)
        {
          if (!hb_vk_bind_texel (ctx, i, qkv[i], VK_FORMAT_R32G32B32A32_SFLOAT, 0, -1, &off,
                                 error))
            return FALSE;
        }
      else
        {
          if (!fits_binding (ctx, qkv[i]))
            return hb_vk_unsupported (node, "q, k or v is larger than one storage binding", error);
          if (!hb_vk_bind_storage (ctx, 2 + i, qkv[i], 0, -1, HB_VK_READ, &off, error))
            return FALSE;
        }
      *bases[i] = (gint32) off;
      *rows[i] = (guint32) (qkv[i]->stride[1] / unit);
      *batches[i] = (guint32) (qkv[i]->stride[0] / unit);
    }
  if (!hb_vk_bind_storage (ctx, 0, node, 0, -1, HB_VK_WRITE, &off, error))
    return FALSE;

  push.Lq = (guint32) Lq;
  push.Lk = (guint32) Lk;
  push.D = (guint32) D;
  push.causal = node->iparams[HB_ATTN_CAUSAL] != 0;
  push.o_base = (gint32) off;
  push.o_row = (guint32) HD;
  push.o_batch = (guint32) (Lq * HD);
  push.scale_log2 = node->fparams[HB_ATTN_SCALE] * (float) (1.0 / G_LN2);
  hb_vk_push (ctx, &push, sizeof push);
  return hb_vk_dispatch (ctx, hb_vk_div_up (Lq, group_q),
                         (guint32) H, (guint32) B, error);
}
