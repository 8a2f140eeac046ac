/* hb-backend-ref.c — the plain-C reference backend
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The oracle for every kernel test: each op written the obvious way, in
 * double precision where it costs nothing, with no attempt at speed. Every
 * source is first gathered into a contiguous fp32 array (views, strides and
 * fp16 handled once, in gather()), so each op reads like its formula.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "hb-backend.h"

typedef struct {
  GHashTable *storage;  /* HbTensor* (storage root) -> guint8* bytes */
} RefCtx;

static HbTensor *
storage_root (HbTensor *t)
{
  while (t->op == HB_OP_VIEW)
    t = t->view_src;
  return t;
}

static guint8 *
storage_of (RefCtx *ctx, HbTensor *t)
{
  return g_hash_table_lookup (ctx->storage, storage_root (t));
}

static float
load_elem (const guint8 *base, HbDType dtype, int64_t idx)
{
  switch (dtype)
    {
    case HB_DTYPE_F32:
      return ((const float *) base)[idx];
    case HB_DTYPE_F16:
      return hb_f16_to_f32 (((const uint16_t *) base)[idx]);
    case HB_DTYPE_I32:
      return (float) ((const int32_t *) base)[idx];
    case HB_DTYPE_U8X4:
    default:
      g_return_val_if_reached (0.f);
    }
}

/* A contiguous fp32 copy of any tensor (view, strided, fp16). */
static float *
gather (RefCtx *ctx, HbTensor *t)
{
  const guint8 *base = storage_of (ctx, t);
  int64_t n = hb_tensor_nelements (t);
  float *out = g_new (float, n);
  int64_t idx[HB_MAX_DIMS] = { 0 };

  g_assert (base != NULL);
  for (int64_t i = 0; i < n; i++)
    {
      int64_t off = t->view_offset;

      for (int d = 0; d < t->ndim; d++)
        off += idx[d] * t->stride[d];
      out[i] = load_elem (base, storage_root (t)->dtype, off);
      for (int d = t->ndim - 1; d >= 0; d--)
        {
          if (++idx[d] < t->shape[d])
            break;
          idx[d] = 0;
        }
    }
  return out;
}

static int32_t *
gather_ids (RefCtx *ctx, HbTensor *t)
{
  const int32_t *base = (const int32_t *) storage_of (ctx, t);
  int64_t n = hb_tensor_nelements (t);
  int32_t *out = g_new (int32_t, n);

  g_assert (hb_tensor_is_contiguous (t));
  memcpy (out, base + t->view_offset, n * sizeof (int32_t));
  return out;
}

static double
gelu (double x)
{
  return 0.5 * x * (1.0 + erf (x / G_SQRT2));
}

static double
sigmoid (double x)
{
  return 1.0 / (1.0 + exp (-x));
}

static double
activate (double x, HbActivation act)
{
  switch (act)
    {
    case HB_ACT_GELU:
      return gelu (x);
    case HB_ACT_SILU:
      return x * sigmoid (x);
    case HB_ACT_QUICK_GELU:
      return x * sigmoid (1.702 * x);
    case HB_ACT_NONE:
    default:
      return x;
    }
}

static void
op_matmul (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *a = gather (ctx, t->src[0]);
  g_autofree float *b = gather (ctx, t->src[1]);
  g_autofree float *bias = t->src[2] ? gather (ctx, t->src[2]) : NULL;
  g_autofree float *res = t->src[3] ? gather (ctx, t->src[3]) : NULL;
  gboolean trans_b = t->iparams[HB_MATMUL_TRANS_B];
  HbActivation act = t->iparams[HB_MATMUL_ACT];
  HbTensor *ta = t->src[0], *tb = t->src[1];
  int64_t K = ta->shape[ta->ndim - 1];
  int64_t M = ta->ndim >= 2 ? ta->shape[ta->ndim - 2] : 1;
  int64_t N = t->shape[t->ndim - 1];
  int64_t batches = hb_tensor_nelements (ta) / (M * K);
  gboolean b_batched = tb->ndim > 2;

  for (int64_t bt = 0; bt < batches; bt++)
    {
      const float *A = a + bt * M * K;
      const float *B = b + (b_batched ? bt * K * N : 0);
      float *C = dst + bt * M * N;

      for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++)
          {
            double acc = bias ? bias[n] : 0.0;
            for (int64_t k = 0; k < K; k++)
              acc += (double) A[m * K + k] * (trans_b ? B[n * K + k] : B[k * N + n]);
            acc = activate (acc, act);
            if (res)
              acc += res[bt * M * N + m * N + n];
            C[m * N + n] = (float) acc;
          }
    }
}

static void
op_conv2d (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *x = gather (ctx, t->src[0]);
  g_autofree float *w = gather (ctx, t->src[1]);
  g_autofree float *bias = t->src[2] ? gather (ctx, t->src[2]) : NULL;
  g_autofree float *res = t->src[3] ? gather (ctx, t->src[3]) : NULL;
  HbTensor *tx = t->src[0], *tw = t->src[1];
  int64_t B = tx->shape[0], H = tx->shape[1], W = tx->shape[2], Ci = tx->shape[3];
  int64_t Co = tw->shape[0], KH = tw->shape[1], KW = tw->shape[2];
  int64_t Ho = t->shape[1], Wo = t->shape[2];
  int stride = t->iparams[HB_CONV_STRIDE], pad = t->iparams[HB_CONV_PAD];
  gboolean res_per_image = res != NULL && hb_conv2d_residual_per_image (t);

  for (int64_t b = 0; b < B; b++)
    for (int64_t oy = 0; oy < Ho; oy++)
      for (int64_t ox = 0; ox < Wo; ox++)
        for (int64_t co = 0; co < Co; co++)
          {
            double acc = bias ? bias[co] : 0.0;
            int64_t o;

            for (int64_t ky = 0; ky < KH; ky++)
              {
                int64_t iy = oy * stride + ky - pad;
                if (iy < 0 || iy >= H)
                  continue;
                for (int64_t kx = 0; kx < KW; kx++)
                  {
                    int64_t ix = ox * stride + kx - pad;
                    const float *xp, *wp;
                    if (ix < 0 || ix >= W)
                      continue;
                    xp = x + ((b * H + iy) * W + ix) * Ci;
                    wp = w + ((co * KH + ky) * KW + kx) * Ci;
                    for (int64_t ci = 0; ci < Ci; ci++)
                      acc += (double) xp[ci] * wp[ci];
                  }
              }
            o = ((b * Ho + oy) * Wo + ox) * Co + co;
            if (res)
              acc += res[res_per_image ? b * Co + co : o];
            dst[o] = (float) acc;
          }
}

static void
op_group_norm (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *x = gather (ctx, t->src[0]);
  g_autofree float *gamma = gather (ctx, t->src[1]);
  g_autofree float *beta = gather (ctx, t->src[2]);
  int64_t C = t->shape[t->ndim - 1];
  int64_t B = t->shape[0];
  int64_t S = hb_tensor_nelements (t) / (B * C);
  int G = t->iparams[HB_NORM_GROUPS];
  int64_t cg = C / G;
  double eps = t->fparams[HB_NORM_EPS];
  gboolean silu = t->iparams[HB_NORM_SILU];

  if (t->ndim == 1)
    S = 1, B = 1;
  for (int64_t b = 0; b < B; b++)
    for (int g = 0; g < G; g++)
      {
        double sum = 0, sq = 0, mean, var, inv;
        int64_t cnt = S * cg;

        for (int64_t s = 0; s < S; s++)
          for (int64_t c = g * cg; c < (g + 1) * cg; c++)
            sum += x[(b * S + s) * C + c];
        mean = sum / cnt;
        for (int64_t s = 0; s < S; s++)
          for (int64_t c = g * cg; c < (g + 1) * cg; c++)
            {
              double d = x[(b * S + s) * C + c] - mean;
              sq += d * d;
            }
        var = sq / cnt;
        inv = 1.0 / sqrt (var + eps);
        for (int64_t s = 0; s < S; s++)
          for (int64_t c = g * cg; c < (g + 1) * cg; c++)
            {
              int64_t i = (b * S + s) * C + c;
              double y = (x[i] - mean) * inv * gamma[c] + beta[c];
              dst[i] = (float) (silu ? y * sigmoid (y) : y);
            }
      }
}

static void
op_layer_norm (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *x = gather (ctx, t->src[0]);
  g_autofree float *gamma = gather (ctx, t->src[1]);
  g_autofree float *beta = gather (ctx, t->src[2]);
  int64_t C = t->shape[t->ndim - 1];
  int64_t rows = hb_tensor_nelements (t) / C;
  double eps = t->fparams[HB_NORM_EPS];

  for (int64_t r = 0; r < rows; r++)
    {
      const float *xr = x + r * C;
      double sum = 0, sq = 0, mean, inv;

      for (int64_t c = 0; c < C; c++)
        sum += xr[c];
      mean = sum / C;
      for (int64_t c = 0; c < C; c++)
        sq += (xr[c] - mean) * (xr[c] - mean);
      inv = 1.0 / sqrt (sq / C + eps);
      for (int64_t c = 0; c < C; c++)
        dst[r * C + c] = (float) ((xr[c] - mean) * inv * gamma[c] + beta[c]);
    }
}

static void
op_attention (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *q = gather (ctx, t->src[0]);
  g_autofree float *k = gather (ctx, t->src[1]);
  g_autofree float *v = gather (ctx, t->src[2]);
  int64_t B = t->shape[0], Lq = t->shape[1], HD = t->shape[2];
  int64_t Lk = t->src[1]->shape[1];
  int H = t->iparams[HB_ATTN_HEADS];
  int64_t D = HD / H;
  gboolean causal = t->iparams[HB_ATTN_CAUSAL];
  double scale = t->fparams[HB_ATTN_SCALE];
  g_autofree double *p = g_new (double, Lk);

  for (int64_t b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int64_t i = 0; i < Lq; i++)
        {
          const float *qi = q + (b * Lq + i) * HD + h * D;
          double mx = -INFINITY, sum = 0;
          int64_t nk = causal ? i + 1 : Lk;

          for (int64_t j = 0; j < nk; j++)
            {
              const float *kj = k + (b * Lk + j) * HD + h * D;
              double s = 0;
              for (int64_t d = 0; d < D; d++)
                s += (double) qi[d] * kj[d];
              p[j] = s * scale;
              mx = MAX (mx, p[j]);
            }
          for (int64_t j = 0; j < nk; j++)
            {
              p[j] = exp (p[j] - mx);
              sum += p[j];
            }
          for (int64_t d = 0; d < D; d++)
            {
              double acc = 0;
              for (int64_t j = 0; j < nk; j++)
                acc += p[j] * v[(b * Lk + j) * HD + h * D + d];
              dst[(b * Lq + i) * HD + h * D + d] = (float) (acc / sum);
            }
        }
}

static void
op_broadcast_binary (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *a = gather (ctx, t->src[0]);
  g_autofree float *b = gather (ctx, t->src[1]);
  HbTensor *tb = t->src[1];
  int64_t n = hb_tensor_nelements (t);
  int64_t idx[HB_MAX_DIMS] = { 0 };
  int64_t bstride[HB_MAX_DIMS] = { 0 };
  int64_t s = 1;
  int off = t->ndim - tb->ndim;

  /* Strides of b in a's index space; 0 where b broadcasts. */
  for (int d = tb->ndim - 1; d >= 0; d--)
    {
      bstride[d + off] = tb->shape[d] == 1 ? 0 : s;
      s *= tb->shape[d];
    }
  for (int64_t i = 0; i < n; i++)
    {
      int64_t bi = 0;
      for (int d = 0; d < t->ndim; d++)
        bi += idx[d] * bstride[d];
      dst[i] = t->op == HB_OP_ADD ? a[i] + b[bi] : a[i] * b[bi];
      for (int d = t->ndim - 1; d >= 0; d--)
        {
          if (++idx[d] < t->shape[d])
            break;
          idx[d] = 0;
        }
    }
}

static void
op_unary (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *x = gather (ctx, t->src[0]);
  int64_t n = hb_tensor_nelements (t);
  HbActivation act = t->op == HB_OP_GELU ? HB_ACT_GELU
                   : t->op == HB_OP_SILU ? HB_ACT_SILU : HB_ACT_QUICK_GELU;

  for (int64_t i = 0; i < n; i++)
    dst[i] = (float) activate (x[i], act);
}

static void
op_geglu (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *x = gather (ctx, t->src[0]);
  int64_t F = t->shape[t->ndim - 1];
  int64_t rows = hb_tensor_nelements (t) / F;

  for (int64_t r = 0; r < rows; r++)
    for (int64_t f = 0; f < F; f++)
      dst[r * F + f] = (float) (x[r * 2 * F + f] * gelu (x[r * 2 * F + F + f]));
}

static void
op_upsample (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *x = gather (ctx, t->src[0]);
  int64_t B = t->shape[0], Ho = t->shape[1], Wo = t->shape[2], C = t->shape[3];

  for (int64_t b = 0; b < B; b++)
    for (int64_t y = 0; y < Ho; y++)
      for (int64_t xx = 0; xx < Wo; xx++)
        memcpy (dst + ((b * Ho + y) * Wo + xx) * C,
                x + ((b * (Ho / 2) + y / 2) * (Wo / 2) + xx / 2) * C, C * sizeof (float));
}

static void
op_concat (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *a = gather (ctx, t->src[0]);
  g_autofree float *b = gather (ctx, t->src[1]);
  int64_t Ca = t->src[0]->shape[t->ndim - 1];
  int64_t Cb = t->src[1]->shape[t->ndim - 1];
  int64_t rows = hb_tensor_nelements (t) / (Ca + Cb);

  for (int64_t r = 0; r < rows; r++)
    {
      memcpy (dst + r * (Ca + Cb), a + r * Ca, Ca * sizeof (float));
      memcpy (dst + r * (Ca + Cb) + Ca, b + r * Cb, Cb * sizeof (float));
    }
}

static void
op_timestep_embed (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *ts = gather (ctx, t->src[0]);
  int64_t B = t->shape[0];
  int dim = t->iparams[HB_TEMB_DIM];
  int half = dim / 2;
  double max_period = t->fparams[HB_TEMB_MAX_PERIOD];

  for (int64_t b = 0; b < B; b++)
    for (int i = 0; i < half; i++)
      {
        double freq = exp (-log (max_period) * i / half);
        double arg = ts[b] * freq;
        dst[b * dim + i] = (float) cos (arg);
        dst[b * dim + half + i] = (float) sin (arg);
      }
}

static void
op_softmax (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *x = gather (ctx, t->src[0]);
  int64_t C = t->shape[t->ndim - 1];
  int64_t rows = hb_tensor_nelements (t) / C;

  for (int64_t r = 0; r < rows; r++)
    {
      double mx = -INFINITY, sum = 0;
      for (int64_t c = 0; c < C; c++)
        mx = MAX (mx, x[r * C + c]);
      for (int64_t c = 0; c < C; c++)
        sum += exp (x[r * C + c] - mx);
      for (int64_t c = 0; c < C; c++)
        dst[r * C + c] = (float) (exp (x[r * C + c] - mx) / sum);
    }
}

static void
op_scale (RefCtx *ctx, HbTensor *t, float *dst)
{
  g_autofree float *x = gather (ctx, t->src[0]);
  int64_t n = hb_tensor_nelements (t);
  const float *p = t->fparams;

  for (int64_t i = 0; i < n; i++)
    dst[i] = CLAMP (x[i] * p[HB_SCALE_MUL] + p[HB_SCALE_ADD], p[HB_SCALE_LO], p[HB_SCALE_HI]);
}

static void
op_get_rows (RefCtx *ctx, HbTensor *t, float *dst)
{
  HbTensor *table = t->src[0];
  g_autofree int32_t *ids = gather_ids (ctx, t->src[1]);
  const guint8 *base = storage_of (ctx, table);
  int64_t C = table->shape[1], V = table->shape[0];

  for (int64_t r = 0; r < t->shape[0]; r++)
    {
      int64_t row = CLAMP (ids[r], 0, V - 1);
      for (int64_t c = 0; c < C; c++)
        dst[r * C + c] = load_elem (base, storage_root (table)->dtype,
                                    table->view_offset + row * table->stride[0] + c * table->stride[1]);
    }
}

static void
op_latent_rgb (RefCtx *ctx, HbTensor *t, uint32_t *dst)
{
  g_autofree float *l = gather (ctx, t->src[0]);
  int64_t n = hb_tensor_nelements (t);
  const float *M = t->fparams, *bias = t->fparams + 12;

  for (int64_t i = 0; i < n; i++)
    {
      uint32_t px = 0xff000000u;
      for (int c = 0; c < 3; c++)
        {
          double v = bias[c];
          for (int j = 0; j < 4; j++)
            v += l[i * 4 + j] * M[j * 3 + c];
          v = CLAMP (v * 0.5 + 0.5, 0.0, 1.0);
          px |= (uint32_t) lround (v * 255.0) << (8 * c);
        }
      dst[i] = px;
    }
}

static gboolean
ref_prepare (HbBackend *be, HbGraph *g, GError **error)
{
  RefCtx *ctx = be->ctx;

  for (guint i = 0; i < hb_graph_n_nodes (g); i++)
    {
      HbTensor *t = hb_graph_node (g, i);
      gsize size = hb_tensor_nelements (t) * hb_dtype_size (t->dtype);
      guint8 *mem;

      if (t->op == HB_OP_VIEW || g_hash_table_contains (ctx->storage, t))
        continue;
      mem = g_try_malloc0 (MAX (size, 1));
      if (mem == NULL)
        {
          g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_OUT_OF_MEMORY,
                       "Not enough memory for “%s” (%" G_GSIZE_FORMAT " bytes)", t->name, size);
          return FALSE;
        }
      if (t->kind == HB_TENSOR_WEIGHT)
        memcpy (mem, t->host_data, size);
      g_hash_table_insert (ctx->storage, t, mem);
    }
  return TRUE;
}

static gboolean
ref_set_input (HbBackend *be, HbTensor *t, const void *data, gsize size, GError **error)
{
  RefCtx *ctx = be->ctx;
  guint8 *mem = g_hash_table_lookup (ctx->storage, t);

  g_return_val_if_fail (mem != NULL, FALSE);
  memcpy (mem, data, size);
  return TRUE;
}

static gboolean
ref_compute (HbBackend *be, HbGraph *g, GError **error)
{
  RefCtx *ctx = be->ctx;

  for (guint i = 0; i < hb_graph_n_nodes (g); i++)
    {
      HbTensor *t = hb_graph_node (g, i);
      void *dst = g_hash_table_lookup (ctx->storage, t);

      switch (t->op)
        {
        case HB_OP_NONE:
        case HB_OP_VIEW:
          break;
        case HB_OP_COPY:
          {
            g_autofree float *x = gather (ctx, t->src[0]);
            if (t->dtype == HB_DTYPE_F16)
              for (int64_t j = 0; j < hb_tensor_nelements (t); j++)
                ((uint16_t *) dst)[j] = hb_f32_to_f16 (x[j]);
            else
              memcpy (dst, x, hb_tensor_nelements (t) * sizeof (float));
          }
          break;
        case HB_OP_MATMUL:
          op_matmul (ctx, t, dst);
          break;
        case HB_OP_CONV2D:
          op_conv2d (ctx, t, dst);
          break;
        case HB_OP_GROUP_NORM:
          op_group_norm (ctx, t, dst);
          break;
        case HB_OP_LAYER_NORM:
          op_layer_norm (ctx, t, dst);
          break;
        case HB_OP_ATTENTION:
          op_attention (ctx, t, dst);
          break;
        case HB_OP_GELU:
        case HB_OP_QUICK_GELU:
        case HB_OP_SILU:
          op_unary (ctx, t, dst);
          break;
        case HB_OP_GEGLU:
          op_geglu (ctx, t, dst);
          break;
        case HB_OP_ADD:
        case HB_OP_MUL:
          op_broadcast_binary (ctx, t, dst);
          break;
        case HB_OP_UPSAMPLE_NEAREST2X:
          op_upsample (ctx, t, dst);
          break;
        case HB_OP_CONCAT:
          op_concat (ctx, t, dst);
          break;
        case HB_OP_TIMESTEP_EMBED:
          op_timestep_embed (ctx, t, dst);
          break;
        case HB_OP_SOFTMAX:
          op_softmax (ctx, t, dst);
          break;
        case HB_OP_SCALE:
          op_scale (ctx, t, dst);
          break;
        case HB_OP_GET_ROWS:
          op_get_rows (ctx, t, dst);
          break;
        case HB_OP_LATENT_RGB:
          op_latent_rgb (ctx, t, dst);
          break;
        case HB_N_OPS:
        default:
          g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED,
                       "The reference backend cannot run op %d", t->op);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
ref_get_output (HbBackend *be, HbTensor *t, void *data, gsize size, GError **error)
{
  RefCtx *ctx = be->ctx;
  const guint8 *mem = g_hash_table_lookup (ctx->storage, t);

  g_return_val_if_fail (mem != NULL, FALSE);
  memcpy (data, mem, size);
  return TRUE;
}

static void
ref_release (HbBackend *be, HbGraph *g)
{
  RefCtx *ctx = be->ctx;

  for (guint i = 0; i < hb_graph_n_nodes (g); i++)
    g_hash_table_remove (ctx->storage, hb_graph_node (g, i));
}

static void
ref_free (HbBackend *be)
{
  RefCtx *ctx = be->ctx;

  g_hash_table_unref (ctx->storage);
  g_free (ctx);
  g_free (be);
}

static const HbBackendClass ref_class = {
  .name = "reference",
  .prepare = ref_prepare,
  .set_input = ref_set_input,
  .compute = ref_compute,
  .get_output = ref_get_output,
  .release = ref_release,
  .free = ref_free,
};

HbBackend *
hb_backend_ref_new (void)
{
  HbBackend *be = g_new0 (HbBackend, 1);
  RefCtx *ctx = g_new0 (RefCtx, 1);

  ctx->storage = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  be->klass = &ref_class;
  be->ctx = ctx;
  return be;
}
