/* hb-vk-ops-misc.c — recording of every op but matmul, conv2d, attention
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Element-wise ops share one shader (eltwise.comp) that walks a 4D index
 * space with per-operand strides; a tensor larger than one storage binding
 * is split along its outermost non-trivial dimension into chunks that each
 * bind a sub-range. Row ops (norms, softmax) split over rows the same way.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "hb-vk-private.h"

/* eltwise.comp: 64 lanes a workgroup, 4 elements of a row each */
#define ELT_LANES 64
#define ELT_PER_LANE 4
/* On a CPU device, a workgroup walks rows of an innermost dimension shorter
 * than its lanes until it has about this many elements (llvmpipe pays a
 * fixed cost per workgroup), while the dispatch keeps some workgroups for
 * each thread. */
#define ELT_CPU_GROUP_ELEMS 2048
#define ELT_CPU_MIN_GROUPS  8

/* One operand of an element-wise dispatch: which tensor, the element of it
 * at index (0,0,0,0), and its strides over the 4D index space (0 where it
 * is broadcast). */
typedef struct {
  HbTensor *t;
  int64_t   first;
  int64_t   stride[4];
} EltOperand;

typedef struct {
  guint32 ne[4];
  guint32 sa[4];
  guint32 sb[4];
  guint32 sd[4];
  guint32 off_a, off_b, off_d, rows;
  float   scale[4];
} EltPush;

/* Indices of dim 2 each workgroup of an element-wise dispatch walks. */
static guint32
elt_rows_per_group (HbVkCtx *ctx, const guint32 ne[4])
{
  int64_t lpr = MIN (ne[3], ELT_LANES), rpp = ELT_LANES / MAX (lpr, 1);
  int64_t row_elems = MIN (ne[3], lpr * ELT_PER_LANE);
  int64_t others = (int64_t) hb_vk_div_up (ne[3], MAX (lpr, 1) * ELT_PER_LANE) * ne[0] * ne[1];
  int64_t rows;

  /* rows of 64 or more keep a workgroup each: walking several measured
   * slower there (GEGLU of 2x256x128) */
  if (!hb_vk_device_info_is_cpu (hb_vk_ctx_device_info (ctx)) || row_elems == 0
      || ne[3] >= ELT_LANES)
    return 1;
  rows = MAX (1, ELT_CPU_GROUP_ELEMS / row_elems);
  /* leave at least ELT_CPU_MIN_GROUPS workgroups where there are rows for them */
  rows = MIN (rows, MAX (1, ne[2] * others / ELT_CPU_MIN_GROUPS));
  /* whole passes of the workgroup's rows */
  rows = (rows + rpp - 1) / rpp * rpp;
  return (guint32) MIN (rows, MAX (ne[2], 1));
}

/* Declared in hb-vk-private.h: a node the recorders cannot run. */
gboolean
hb_vk_unsupported (HbTensor *node, const char *why, GError **error)
{
  g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_FAILED,
               "The Vulkan backend cannot run %s “%s”: %s. This is a bug in the model code; "
               "please report it.", hb_op_name (node->op), node->name, why);
  return FALSE;
}

/* Pads a tensor's shape and strides to 4 dimensions, outermost first. */
static void
shape4 (const HbTensor *t, int64_t shape[4], int64_t stride[4])
{
  int pad = 4 - t->ndim;

  for (int d = 0; d < 4; d++)
    {
      shape[d] = d < pad ? 1 : t->shape[d - pad];
      stride[d] = d < pad ? 0 : t->stride[d - pad];
    }
}

static void
operand_init (EltOperand *op, HbTensor *t)
{
  int64_t shape[4];

  op->t = t;
  op->first = 0;
  shape4 (t, shape, op->stride);
}

/* Elements an operand touches in the dims inside `dim`, plus one. */
static int64_t
inner_extent (const EltOperand *op, const int64_t shape[4], int dim)
{
  int64_t e = 1;

  for (int d = dim + 1; d < 4; d++)
    e += (shape[d] - 1) * op->stride[d];
  return e;
}

static gboolean
bind_chunk (HbVkCtx *ctx, guint binding, const EltOperand *op, const int64_t shape[4], int dim,
            int64_t r0, int64_t rows, HbVkAccess access, guint32 *off, GError **error)
{
  int64_t first = op->first + r0 * op->stride[dim];
  int64_t count = (rows - 1) * op->stride[dim] + inner_extent (op, shape, dim);

  return hb_vk_bind_storage (ctx, binding, op->t, first, count, access, off, error);
}

static int64_t
rows_per_chunk (HbVkCtx *ctx, const EltOperand *op, const int64_t shape[4], int dim)
{
  int64_t esize = (int64_t) hb_dtype_size (op->t->dtype);
  int64_t usable = hb_vk_rows_per_binding (ctx, esize);
  int64_t inner = inner_extent (op, shape, dim);

  if (inner > usable)
    return 0;
  if (op->stride[dim] == 0)
    return G_MAXINT64;
  return (usable - inner) / op->stride[dim] + 1;
}

/* Merges neighbouring dimensions that every operand walks contiguously
 * and drops size-1 ones, so the innermost dimension the shader loops over
 * is as long as possible (a contiguous tensor becomes one long row). */
static void
collapse (int64_t shape[4], EltOperand **ops, guint n_ops)
{
  int64_t out_shape[4] = { 1, 1, 1, 1 };
  int64_t out_stride[3][4] = { { 0 } };
  int n = 0;

  for (int d = 0; d < 4; d++)
    {
      gboolean merge = n > 0;

      if (shape[d] == 1)
        continue;
      for (guint o = 0; o < n_ops && merge; o++)
        merge = ops[o]->stride[d] * shape[d] == out_stride[o][n - 1];
      if (merge)
        {
          out_shape[n - 1] *= shape[d];
          for (guint o = 0; o < n_ops; o++)
            out_stride[o][n - 1] = ops[o]->stride[d];
          continue;
        }
      out_shape[n] = shape[d];
      for (guint o = 0; o < n_ops; o++)
        out_stride[o][n] = ops[o]->stride[d];
      n++;
    }
  /* right-align: the shader's innermost dimension is the last */
  for (int d = 0; d < 4; d++)
    {
      int src = d - (4 - n);

      shape[d] = src >= 0 ? out_shape[src] : 1;
      for (guint o = 0; o < n_ops; o++)
        ops[o]->stride[d] = src >= 0 ? out_stride[o][src] : 0;
    }
}

/* Records c = op(a, b) over `shape_in`, as many dispatches as the binding
 * limits need. b may be NULL for unary ops. */
static gboolean
record_eltwise (HbVkCtx *ctx, HbTensor *node, const char *variant, const int64_t shape_in[4],
                const EltOperand *a_in, const EltOperand *b_in, const EltOperand *d_in,
                const float scale[4], GError **error)
{
  EltOperand a = *a_in, b = b_in != NULL ? *b_in : *a_in, d = *d_in;
  EltOperand *ops[3] = { &a, &d, &b };
  guint n_ops = b_in != NULL ? 3 : 2;
  EltPush push = { 0 };
  int64_t shape[4];
  int dim = 0;
  int64_t rows_per = G_MAXINT64, lanes;

  memcpy (shape, shape_in, sizeof shape);
  collapse (shape, ops, n_ops);
  while (dim < 3 && shape[dim] == 1)
    dim++;
  for (guint o = 0; o < n_ops; o++)
    rows_per = MIN (rows_per, rows_per_chunk (ctx, ops[o], shape, dim));
  if (rows_per <= 0)
    return hb_vk_unsupported (node, "one slice of it is larger than a storage binding of this device",
                        error);

  for (int k = 0; k < 4; k++)
    {
      push.ne[k] = (guint32) shape[k];
      push.sa[k] = (guint32) a.stride[k];
      push.sb[k] = b_in != NULL ? (guint32) b.stride[k] : 0;
      push.sd[k] = (guint32) d.stride[k];
    }
  if (scale != NULL)
    memcpy (push.scale, scale, sizeof push.scale);

  for (int64_t r0 = 0; r0 < shape[dim]; r0 += rows_per)
    {
      int64_t rows = MIN (rows_per, shape[dim] - r0);

      push.ne[dim] = (guint32) rows;
      if (!hb_vk_begin (ctx, variant, error)
          || !bind_chunk (ctx, 0, &a, shape, dim, r0, rows, HB_VK_READ, &push.off_a, error)
          || (b_in != NULL && !bind_chunk (ctx, 1, &b, shape, dim, r0, rows, HB_VK_READ, &push.off_b, error))
          || !bind_chunk (ctx, 2, &d, shape, dim, r0, rows, HB_VK_WRITE, &push.off_d, error))
        return FALSE;
      push.rows = elt_rows_per_group (ctx, push.ne);
      hb_vk_push (ctx, &push, sizeof push);
      lanes = MAX (1, MIN (push.ne[3], ELT_LANES));
      if (!hb_vk_dispatch (ctx, hb_vk_div_up (push.ne[3], lanes * ELT_PER_LANE),
                           hb_vk_div_up (push.ne[2], push.rows), push.ne[0] * push.ne[1], error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
require_f32 (HbTensor *node, HbTensor *t, GError **error)
{
  if (t->dtype != HB_DTYPE_F32)
    return hb_vk_unsupported (node, "its input is not fp32", error);
  return TRUE;
}

gboolean
hb_vk_record_unary (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  EltOperand a, d;
  int64_t shape[4], unused[4];
  const char *variant;

  switch (node->op)
    {
    case HB_OP_GELU:       variant = "gelu_f32"; break;
    case HB_OP_QUICK_GELU: variant = "quick_gelu_f32"; break;
    case HB_OP_SILU:       variant = "silu_f32"; break;
    case HB_OP_SCALE:      variant = "scale_f32"; break;
    case HB_OP_NONE: case HB_OP_VIEW: case HB_OP_COPY: case HB_OP_MATMUL: case HB_OP_CONV2D:
    case HB_OP_GROUP_NORM: case HB_OP_LAYER_NORM: case HB_OP_ATTENTION: case HB_OP_GEGLU:
    case HB_OP_ADD: case HB_OP_MUL: case HB_OP_UPSAMPLE_NEAREST2X: case HB_OP_CONCAT:
    case HB_OP_TIMESTEP_EMBED: case HB_OP_SOFTMAX: case HB_OP_GET_ROWS: case HB_OP_LATENT_RGB:
    case HB_N_OPS:
    default:
      return hb_vk_unsupported (node, "it is not a unary op", error);
    }
  if (!require_f32 (node, node->src[0], error))
    return FALSE;
  shape4 (node, shape, unused);
  operand_init (&a, node->src[0]);
  operand_init (&d, node);
  return record_eltwise (ctx, node, variant, shape, &a, NULL, &d,
                         node->op == HB_OP_SCALE ? node->fparams : NULL, error);
}

gboolean
hb_vk_record_binary (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *tb = node->src[1];
  EltOperand a, b, d;
  int64_t shape[4], unused[4];
  int pad = 4 - tb->ndim;
  gboolean add = node->op == HB_OP_ADD;
  const char *variant;

  if (!require_f32 (node, node->src[0], error))
    return FALSE;
  if (tb->dtype == HB_DTYPE_F32)
    variant = add ? "add_f32" : "mul_f32";
  else if (tb->dtype == HB_DTYPE_F16)
    variant = add ? "add_f16" : "mul_f16";
  else
    return hb_vk_unsupported (node, "its second operand is neither fp32 nor fp16", error);

  shape4 (node, shape, unused);
  operand_init (&a, node->src[0]);
  operand_init (&d, node);
  b.t = tb;
  b.first = 0;
  /* numpy broadcasting: b's dims align to the right; size-1 dims repeat */
  for (int k = 0; k < 4; k++)
    b.stride[k] = k < pad || tb->shape[k - pad] == 1 ? 0 : tb->stride[k - pad];
  return record_eltwise (ctx, node, variant, shape, &a, &b, &d, NULL, error);
}

gboolean
hb_vk_record_geglu (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *x = node->src[0];
  EltOperand a, b, d;
  int64_t shape[4], unused[4];

  if (!require_f32 (node, x, error))
    return FALSE;
  shape4 (node, shape, unused);
  operand_init (&a, x);
  operand_init (&b, x);
  /* the gate is the second half of the last dimension */
  b.first = node->shape[node->ndim - 1] * x->stride[x->ndim - 1];
  operand_init (&d, node);
  return record_eltwise (ctx, node, "geglu_f32", shape, &a, &b, &d, NULL, error);
}

static const char *
copy_variant (HbDType dtype)
{
  return hb_dtype_size (dtype) == 2 ? "copy_b16" : "copy_b32";
}

gboolean
hb_vk_record_copy (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  EltOperand a, d;
  int64_t shape[4], unused[4];

  if (node->src[0]->dtype != node->dtype)
    return hb_vk_unsupported (node, "it would change the data type", error);
  shape4 (node, shape, unused);
  operand_init (&a, node->src[0]);
  operand_init (&d, node);
  return record_eltwise (ctx, node, copy_variant (node->dtype), shape, &a, NULL, &d, NULL, error);
}

/* Concatenation is two strided copies into the two column ranges. */
gboolean
hb_vk_record_concat (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  for (int s = 0; s < 2; s++)
    {
      HbTensor *src = node->src[s];
      EltOperand a, d;
      int64_t shape[4], unused[4];

      if (src->dtype != node->dtype)
        return hb_vk_unsupported (node, "its inputs differ in data type", error);
      shape4 (src, shape, unused);
      operand_init (&a, src);
      operand_init (&d, node);
      d.first = s == 0 ? 0 : node->src[0]->shape[node->ndim - 1];
      if (!record_eltwise (ctx, node, copy_variant (node->dtype), shape, &a, NULL, &d, NULL, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
require_contiguous (HbTensor *node, HbTensor *t, GError **error)
{
  if (!hb_tensor_is_contiguous (t))
    return hb_vk_unsupported (node, "its input is not contiguous (add hb_copy())", error);
  return TRUE;
}

/* For row kernels: how many rows of `row_elems` fp32 fit in one binding. */
static gboolean
row_chunk (HbVkCtx *ctx, HbTensor *node, int64_t row_elems, int64_t *rows_per, GError **error)
{
  *rows_per = hb_vk_rows_per_binding (ctx, row_elems * (int64_t) sizeof (float));
  if (*rows_per <= 0)
    return hb_vk_unsupported (node, "one row of it is larger than a storage binding of this device", error);
  return TRUE;
}

static const char *
weight_variant (HbTensor *node, const char *f32, const char *f16, GError **error)
{
  HbTensor *gamma = node->src[1], *beta = node->src[2];

  if (gamma->dtype != beta->dtype || !hb_tensor_is_contiguous (gamma) || !hb_tensor_is_contiguous (beta))
    {
      hb_vk_unsupported (node, "its scale and shift differ in type or are not contiguous", error);
      return NULL;
    }
  if (gamma->dtype == HB_DTYPE_F32)
    return f32;
  if (gamma->dtype == HB_DTYPE_F16)
    return f16;
  hb_vk_unsupported (node, "its scale and shift are neither fp32 nor fp16", error);
  return NULL;
}

gboolean
hb_vk_record_layer_norm (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *x = node->src[0];
  int64_t C = node->shape[node->ndim - 1];
  int64_t rows = hb_tensor_nelements (node) / C;
  gboolean cpu = hb_vk_device_info_is_cpu (hb_vk_ctx_device_info (ctx));
  const char *variant = cpu ? weight_variant (node, "layer_norm_cpu_f32", "layer_norm_cpu_f16", error)
                            : weight_variant (node, "layer_norm_f32", "layer_norm_f16", error);
  struct { guint32 C, off_x, off_g, off_b, off_d; float eps; guint32 rows; } push = { .C = (guint32) C };
  int64_t rows_per;

  if (variant == NULL || !require_f32 (node, x, error) || !require_contiguous (node, x, error)
      || !row_chunk (ctx, node, C, &rows_per, error))
    return FALSE;
  push.eps = node->fparams[HB_NORM_EPS];
  for (int64_t r0 = 0; r0 < rows; r0 += rows_per)
    {
      int64_t n = MIN (rows_per, rows - r0);

      if (!hb_vk_begin (ctx, variant, error)
          || !hb_vk_bind_storage (ctx, 0, x, r0 * C, n * C, HB_VK_READ, &push.off_x, error)
          || !hb_vk_bind_storage (ctx, 1, node->src[1], 0, -1, HB_VK_READ, &push.off_g, error)
          || !hb_vk_bind_storage (ctx, 2, node->src[2], 0, -1, HB_VK_READ, &push.off_b, error)
          || !hb_vk_bind_storage (ctx, 3, node, r0 * C, n * C, HB_VK_WRITE, &push.off_d, error))
        return FALSE;
      push.rows = (guint32) n;
      hb_vk_push (ctx, &push, sizeof push);
      if (!hb_vk_dispatch (ctx, cpu ? hb_vk_div_up (n, 64) : (guint32) n, 1, 1, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
hb_vk_record_softmax (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *x = node->src[0];
  int64_t C = node->shape[node->ndim - 1];
  int64_t rows = hb_tensor_nelements (node) / C;
  gboolean cpu = hb_vk_device_info_is_cpu (hb_vk_ctx_device_info (ctx));
  struct { guint32 C, off_x, off_d, rows; } push = { .C = (guint32) C };
  int64_t rows_per;

  if (!require_f32 (node, x, error) || !require_contiguous (node, x, error)
      || !row_chunk (ctx, node, C, &rows_per, error))
    return FALSE;
  for (int64_t r0 = 0; r0 < rows; r0 += rows_per)
    {
      int64_t n = MIN (rows_per, rows - r0);

      push.rows = (guint32) n;
      if (!hb_vk_begin (ctx, cpu ? "softmax_cpu_f32" : "softmax_f32", error)
          || !hb_vk_bind_storage (ctx, 0, x, r0 * C, n * C, HB_VK_READ, &push.off_x, error)
          || !hb_vk_bind_storage (ctx, 3, node, r0 * C, n * C, HB_VK_WRITE, &push.off_d, error))
        return FALSE;
      hb_vk_push (ctx, &push, sizeof push);
      if (!hb_vk_dispatch (ctx, cpu ? hb_vk_div_up (n, 64) : (guint32) n, 1, 1, error))
        return FALSE;
    }
  return TRUE;
}

#define GN_CHUNKS 3
#define GN_WG     256
#define GN_WG_CPU 8

typedef struct {
  guint32 S, C, cg, P;
  guint32 off_g, off_b, unused[2];
  guint32 off_x[4];
  guint32 off_d[4];
  float   eps;
} GroupNormPush;

static VkFormat
group_norm_format (guint vw)
{
  return vw == 4 ? VK_FORMAT_R32G32B32A32_SFLOAT
         : vw == 2 ? VK_FORMAT_R32G32_SFLOAT : VK_FORMAT_R32_SFLOAT;
}

/* One dispatch over `n_img` images starting at image b0, their rows bound
 * in chunks of P rows (the shader's texel views 0/1/2 and storage
 * bindings 3/6/7). */
static gboolean
group_norm_dispatch (HbVkCtx *ctx, HbTensor *node, const char *variant, guint vw,
                     GroupNormPush *push, int64_t b0, int64_t n_img, int64_t P, GError **error)
{
  static const guint d_binding[GN_CHUNKS] = { 3, 6, 7 };
  HbTensor *x = node->src[0];
  int64_t C = push->C, rows = n_img * push->S;
  int64_t first = b0 * push->S * C;
  int G = node->iparams[HB_NORM_GROUPS];

  push->P = (guint32) P;
  if (!hb_vk_begin (ctx, variant, error)
      || !hb_vk_bind_storage (ctx, 1, node->src[1], 0, -1, HB_VK_READ, &push->off_g, error)
      || !hb_vk_bind_storage (ctx, 2, node->src[2], 0, -1, HB_VK_READ, &push->off_b, error))
    return FALSE;
  for (int k = 0; k < GN_CHUNKS; k++)
    {
      /* bindings past the last chunk repeat chunk 0: the shader names them */
      int64_t r = k * P < rows ? k * P : 0;
      int64_t n = MIN (P, rows - r);

      if (!hb_vk_bind_texel (ctx, k, x, group_norm_format (vw), first + r * C, n * C,
                             &push->off_x[k], error)
          || !hb_vk_bind_storage (ctx, d_binding[k], node, first + r * C, n * C, HB_VK_WRITE,
                                  &push->off_d[k], error))
        return FALSE;
    }
  hb_vk_push (ctx, push, sizeof *push);
  return hb_vk_dispatch (ctx, (guint32) G, (guint32) n_img, 1, error);
}

/* Large groups on CPU devices: group_norm_split.comp, one workgroup per
 * part of about GN_SPLIT_ELEMS values of a group, statistics and output in
 * two dispatches. */
#define GN_SPLIT_ELEMS     16384
#define GN_SPLIT_MAX_PARTS 256

typedef struct {
  guint32 S, C, cg, G;
  guint32 NP, PP, off_g, off_b;
  guint32 off_x, off_d, off_p, unused;
  float   eps;
} GroupNormSplitPush;

/* Parts to split each group of S positions of cg channels into; 1 where
 * one workgroup is as good. */
static int64_t
group_norm_parts (int64_t S, int64_t cg)
{
  int64_t np = (S * cg + GN_SPLIT_ELEMS - 1) / GN_SPLIT_ELEMS;

  return MIN (MIN (np, S), GN_SPLIT_MAX_PARTS);
}

/* Both passes over images [0, B), imgs_per of them a dispatch (whole images
 * in one binding each). */
static gboolean
group_norm_split (HbVkCtx *ctx, HbTensor *node, const char *wtype, guint vw, int64_t B,
                  int64_t S, int64_t C, int64_t np, int64_t imgs_per, GError **error)
{
  HbTensor *x = node->src[0];
  int G = node->iparams[HB_NORM_GROUPS];
  g_autofree char *stats = g_strdup_printf ("group_norm_split_stats_v%u", vw);
  g_autofree char *apply = g_strdup_printf ("group_norm_split_apply_%s_v%u%s", wtype, vw,
                                            node->iparams[HB_NORM_SILU] ? "_silu" : "");
  GroupNormSplitPush push = {
    .S = (guint32) S, .C = (guint32) C, .cg = (guint32) (C / G), .G = (guint32) G,
    .NP = (guint32) np, .PP = (guint32) ((S + np - 1) / np),
    .eps = node->fparams[HB_NORM_EPS],
  };
  HbVkAlloc partials;

  if (!hb_vk_scratch_new (ctx, (VkDeviceSize) B * G * np * 4 * sizeof (float), &partials, error))
    return FALSE;
  for (int64_t b0 = 0; b0 < B; b0 += imgs_per)
    {
      int64_t n = MIN (imgs_per, B - b0);

      push.off_p = (guint32) (b0 * G * np * 4);
      for (int pass = 0; pass < 2; pass++)
        {
          if (!hb_vk_begin (ctx, pass == 0 ? stats : apply, error)
              || !hb_vk_bind_texel (ctx, 0, x, group_norm_format (vw), b0 * S * C, n * S * C,
                                    &push.off_x, error)
              || !hb_vk_bind_storage (ctx, 1, node->src[1], 0, -1, HB_VK_READ, &push.off_g, error)
              || !hb_vk_bind_storage (ctx, 2, node->src[2], 0, -1, HB_VK_READ, &push.off_b, error))
            return FALSE;
          /* the statistics pass writes no output but the shader names it */
          if (!hb_vk_bind_storage (ctx, 3, node, b0 * S * C, n * S * C,
                                   pass == 0 ? HB_VK_READ : HB_VK_WRITE, &push.off_d, error))
            return FALSE;
          hb_vk_bind_scratch (ctx, 4, &partials, pass == 0 ? HB_VK_WRITE : HB_VK_READ);
          hb_vk_push (ctx, &push, sizeof push);
          if (!hb_vk_dispatch (ctx, (guint32) G, (guint32) n, (guint32) np, error))
            return FALSE;
        }
    }
  return TRUE;
}

/* Loop iterations of one lane (both passes) with wg lanes a workgroup and
 * q texels of a group per position: llvmpipe stops loops after 65535. */
static int64_t
group_norm_walk (int64_t S, int64_t q, int64_t wg)
{
  int64_t lanes = MIN (q, wg);

  return 2 * ((S + wg / lanes - 1) / (wg / lanes) + 3) * ((q + lanes - 1) / lanes);
}

gboolean
hb_vk_record_group_norm (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  const HbVkDeviceInfo *info = hb_vk_ctx_device_info (ctx);
  HbTensor *x = node->src[0];
  int64_t C = node->shape[node->ndim - 1];
  int64_t B = node->ndim == 1 ? 1 : node->shape[0];
  int64_t S = hb_tensor_nelements (node) / (B * C);
  int G = node->iparams[HB_NORM_GROUPS];
  const char *wtype = weight_variant (node, "f32", "f16", error);
  g_autofree char *variant = NULL;
  GroupNormPush push = { 0 };
  int64_t rows_per, cg, q, texel_rows;
  guint vw, wg;

  if (wtype == NULL || !require_f32 (node, x, error) || !require_contiguous (node, x, error)
      || !row_chunk (ctx, node, C, &rows_per, error))
    return FALSE;
  if (G <= 0 || C % G != 0)
    return hb_vk_unsupported (node, "its channels do not divide into the groups", error);
  cg = C / G;
  /* the widest texel that divides a group and on whose boundaries x starts */
  vw = cg % 4 == 0 && x->view_offset % 4 == 0 ? 4 : cg % 2 == 0 && x->view_offset % 2 == 0 ? 2 : 1;
  /* a texel view of a chunk must stay within the device's texel limit too */
  texel_rows = ((int64_t) info->max_texel_buffer_elements - 16) * vw / C;
  if (texel_rows <= 0)
    return hb_vk_unsupported (node, "one row of it is larger than a texel view of this device", error);
  rows_per = MIN (rows_per, texel_rows);
  /* On a CPU device, 8 lanes (one llvmpipe SIMD batch) a workgroup, where
   * a lane's walk stays within llvmpipe's loop limit: a barrier switches
   * between all of a workgroup's batches, and with 256 lanes the reduction's
   * barriers cost more than a small group's arithmetic (3.2 ms against
   * 0.x ms for a 16x16x64 group norm). */
  q = cg / vw;
  if (hb_vk_device_info_is_cpu (info) && rows_per >= S && group_norm_parts (S, cg) > 1)
    return group_norm_split (ctx, node, wtype, vw, B, S, C, group_norm_parts (S, cg),
                             rows_per / S, error);
  wg = hb_vk_device_info_is_cpu (info) && group_norm_walk (S, q, GN_WG_CPU) <= 60000
       ? GN_WG_CPU : GN_WG;
  if (hb_vk_device_info_is_cpu (info) && group_norm_walk (S, q, wg) > 60000)
    return hb_vk_unsupported (node, "one of its groups is too large for one workgroup on this device", error);

  variant = g_strdup_printf ("group_norm_%s_v%u%s%s", wtype, vw,
                             node->iparams[HB_NORM_SILU] ? "_silu" : "",
                             wg == GN_WG_CPU ? "_w8" : "");
  push.S = (guint32) S;
  push.C = (guint32) C;
  push.cg = (guint32) cg;
  push.eps = node->fparams[HB_NORM_EPS];

  if (rows_per >= S)
    {
      /* whole images per binding: as many per dispatch as fit */
      int64_t imgs_per = rows_per / S;

      for (int64_t b0 = 0; b0 < B; b0 += imgs_per)
        {
          int64_t n = MIN (imgs_per, B - b0);

          if (!group_norm_dispatch (ctx, node, variant, vw, &push, b0, n, n * S, error))
            return FALSE;
        }
      return TRUE;
    }
  if ((S + rows_per - 1) / rows_per > GN_CHUNKS)
    return hb_vk_unsupported (node, "one image of it is larger than three storage bindings", error);
  for (int64_t b0 = 0; b0 < B; b0++)
    if (!group_norm_dispatch (ctx, node, variant, vw, &push, b0, 1, rows_per, error))
      return FALSE;
  return TRUE;
}

/* upsample.comp: input pixels a workgroup */
#define UPSAMPLE_PX 64

gboolean
hb_vk_record_upsample (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *x = node->src[0];
  int64_t Wo = node->shape[2], C = node->shape[3];
  int64_t rows = node->shape[0] * node->shape[1];   /* output image rows, all images */
  int64_t out_row = Wo * C;
  int64_t in_row = out_row / 2;
  struct { guint32 W, C, row0, unused, off_x, off_d; } push = { .W = (guint32) (Wo / 2), .C = (guint32) C };
  int64_t rows_per;

  if (node->ndim != 4 || !require_f32 (node, x, error) || !require_contiguous (node, x, error)
      || !row_chunk (ctx, node, out_row, &rows_per, error))
    return FALSE;
  /* chunks start on even output rows so input rows are not split */
  rows_per = rows_per & ~(int64_t) 1;
  if (rows_per == 0)
    return hb_vk_unsupported (node, "two rows of it are larger than a storage binding of this device", error);
  for (int64_t r0 = 0; r0 < rows; r0 += rows_per)
    {
      int64_t n = MIN (rows_per, rows - r0);

      push.row0 = (guint32) r0;
      if (!hb_vk_begin (ctx, "upsample_f32", error)
          || !hb_vk_bind_storage (ctx, 0, x, r0 / 2 * in_row, (n + 1) / 2 * in_row, HB_VK_READ,
                                  &push.off_x, error)
          || !hb_vk_bind_storage (ctx, 3, node, r0 * out_row, n * out_row, HB_VK_WRITE, &push.off_d, error))
        return FALSE;
      hb_vk_push (ctx, &push, sizeof push);
      if (!hb_vk_dispatch (ctx, hb_vk_div_up (Wo / 2, UPSAMPLE_PX), (guint32) (n / 2), 1, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
hb_vk_record_timestep (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *t = node->src[0];
  struct { guint32 dim, n, off_t, off_d; float log_max_period; } push = {
    .dim = (guint32) node->iparams[HB_TEMB_DIM],
    .n = (guint32) hb_tensor_nelements (node),
    .log_max_period = logf (node->fparams[HB_TEMB_MAX_PERIOD]),
  };

  if (!require_f32 (node, t, error) || !require_contiguous (node, t, error))
    return FALSE;
  if (!hb_vk_begin (ctx, "timestep_f32", error)
      || !hb_vk_bind_storage (ctx, 0, t, 0, -1, HB_VK_READ, &push.off_t, error)
      || !hb_vk_bind_storage (ctx, 3, node, 0, -1, HB_VK_WRITE, &push.off_d, error))
    return FALSE;
  hb_vk_push (ctx, &push, sizeof push);
  return hb_vk_dispatch (ctx, hb_vk_div_up (push.n, 64), 1, 1, error);
}

/* A table larger than one binding (CLIP's 49408 x 768 fp32 is 145 MiB) is
 * bound in slices of rows; each slice's dispatch fills the rows whose id
 * falls in it. */
gboolean
hb_vk_record_get_rows (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *table = node->src[0], *ids = node->src[1];
  int64_t V = table->shape[0], C = table->shape[1];
  int64_t rs = table->stride[0], cs = table->stride[1];
  int64_t row_span = (C - 1) * cs + 1;
  const char *variant;
  struct {
    guint32 C, n, V, v0, v1, row_stride, col_stride, off_t, off_i, off_d;
  } push = {
    .C = (guint32) C, .n = (guint32) hb_tensor_nelements (node), .V = (guint32) V,
    .row_stride = (guint32) rs, .col_stride = (guint32) cs,
  };
  int64_t rows_per;

  if (table->dtype == HB_DTYPE_F32)
    variant = "get_rows_f32";
  else if (table->dtype == HB_DTYPE_F16)
    variant = "get_rows_f16";
  else
    return hb_vk_unsupported (node, "its table is neither fp32 nor fp16", error);
  if (ids->dtype != HB_DTYPE_I32 || !require_contiguous (node, ids, error))
    return hb_vk_unsupported (node, "its ids are not contiguous int32", error);
  rows_per = rs > 0 ? (hb_vk_rows_per_binding (ctx, (int64_t) hb_dtype_size (table->dtype))
                       - row_span) / rs + 1
                    : V;
  if (rows_per <= 0)
    return hb_vk_unsupported (node, "one row of its table is larger than a storage binding", error);
  for (int64_t v0 = 0; v0 < V; v0 += rows_per)
    {
      int64_t n = MIN (rows_per, V - v0);

      push.v0 = (guint32) v0;
      push.v1 = (guint32) (v0 + n);
      if (!hb_vk_begin (ctx, variant, error)
          || !hb_vk_bind_storage (ctx, 0, table, v0 * rs, (n - 1) * rs + row_span, HB_VK_READ,
                                  &push.off_t, error)
          || !hb_vk_bind_storage (ctx, 1, ids, 0, -1, HB_VK_READ, &push.off_i, error)
          || !hb_vk_bind_storage (ctx, 3, node, 0, -1, HB_VK_WRITE, &push.off_d, error))
        return FALSE;
      hb_vk_push (ctx, &push, sizeof push);
      if (!hb_vk_dispatch (ctx, hb_vk_div_up (C, 256), (guint32) node->shape[0], 1, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
hb_vk_record_latent_rgb (HbVkCtx *ctx, HbTensor *node, GError **error)
{
  HbTensor *l = node->src[0];
  const float *M = node->fparams, *bias = node->fparams + 12;
  int64_t pixels = hb_tensor_nelements (node);
  struct {
    float m[3][4];
    float bias[4];
    guint32 n, off_l, off_d;
  } push;
  guint32 off_l;
  int64_t per;

  if (!require_f32 (node, l, error) || !require_contiguous (node, l, error)
      || !row_chunk (ctx, node, 4, &per, error))
    return FALSE;
  if (l->view_offset % 4 != 0)
    return hb_vk_unsupported (node, "its latents do not start on a pixel boundary", error);
  for (int c = 0; c < 3; c++)
    {
      for (int j = 0; j < 4; j++)
        push.m[c][j] = M[j * 3 + c];
      push.bias[c] = bias[c];
    }
  push.bias[3] = 0;
  for (int64_t p0 = 0; p0 < pixels; p0 += per)
    {
      int64_t n = MIN (per, pixels - p0);

      push.n = (guint32) n;
      if (!hb_vk_begin (ctx, "latent_rgb_f32", error)
          || !hb_vk_bind_storage (ctx, 0, l, p0 * 4, n * 4, HB_VK_READ, &off_l, error)
          || !hb_vk_bind_storage (ctx, 3, node, p0, n, HB_VK_WRITE, &push.off_d, error))
        return FALSE;
      push.off_l = off_l / 4;
      hb_vk_push (ctx, &push, sizeof push);
      if (!hb_vk_dispatch (ctx, hb_vk_div_up (n, 64), 1, 1, error))
        return FALSE;
    }
  return TRUE;
}
