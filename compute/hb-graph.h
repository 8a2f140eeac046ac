/* hb-graph.h — tensors, ops and the graph that model code describes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Model code never computes: it records ops on tensors into an HbGraph.
 * A backend (the plain-C reference or Vulkan) then plans memory for the
 * graph once and runs it as often as needed with new inputs.
 *
 * Layout conventions, shared by every op and both backends:
 *  - Row-major; shape[0] is the outermost dimension; strides are in
 *    elements. A tensor has 1 to 4 dimensions.
 *  - Activations are channels-last: an image is [B, H, W, C], a token
 *    sequence is [B, L, C]. Linear layers therefore act on the last
 *    dimension without transposes.
 *  - Activations are fp32. Weights are fp32 or fp16.
 *  - Conv weights are [Cout, KH, KW, Cin] (permuted from PyTorch's
 *    [Cout, Cin, KH, KW] by the loader) so that both GEMM operands of the
 *    implicit GEMM are contiguous along K.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define HB_MAX_DIMS 4
#define HB_MAX_SRC  6

typedef enum {
  HB_DTYPE_F32,
  HB_DTYPE_F16,
  HB_DTYPE_I32,
  HB_DTYPE_U8X4,          /* packed RGBA8, one uint32 per pixel */
} HbDType;

typedef enum {
  HB_TENSOR_INTERMEDIATE, /* lives only while the graph runs; planner reuses memory */
  HB_TENSOR_WEIGHT,       /* constant; host data uploaded once per backend */
  HB_TENSOR_INPUT,        /* set with hb_backend_set_input() before each run */
  HB_TENSOR_OUTPUT,       /* kept after the run; read with hb_backend_get_output() */
} HbTensorKind;

typedef enum {
  HB_OP_NONE,             /* a leaf: weight or input */
  HB_OP_VIEW,             /* reinterprets src0's memory: other shape/strides/offset */
  HB_OP_COPY,             /* strided src0 -> contiguous dst (same element count) */
  HB_OP_MATMUL,           /* dst[b,m,n] = sum_k a[b,m,k] * B(k,n) (+ bias[n]) (+ residual) */
  HB_OP_CONV2D,           /* implicit GEMM over [B,H,W,Cin] with w [Cout,KH,KW,Cin] */
  HB_OP_GROUP_NORM,       /* over [B, HW, C], optional fused SiLU */
  HB_OP_LAYER_NORM,       /* over the last dimension */
  HB_OP_ATTENTION,        /* fused, online softmax; q [B,Lq,H*D], k/v [B,Lk,H*D] */
  HB_OP_GELU,
  HB_OP_QUICK_GELU,
  HB_OP_SILU,
  HB_OP_GEGLU,            /* [.., 2F] -> [.., F]: x[..., :F] * gelu(x[..., F:]) */
  HB_OP_ADD,              /* numpy broadcasting of src1 to src0's shape */
  HB_OP_MUL,
  HB_OP_UPSAMPLE_NEAREST2X, /* [B,H,W,C] -> [B,2H,2W,C] */
  HB_OP_CONCAT,           /* along the last dimension */
  HB_OP_TIMESTEP_EMBED,   /* t [B] -> [B, dim], cos half first (flip_sin_to_cos) */
  HB_OP_SOFTMAX,          /* along the last dimension */
  HB_OP_SCALE,            /* clamp(x * scale + bias, lo, hi) */
  HB_OP_GET_ROWS,         /* table [V, C], ids i32 [N] -> [N, C] */
  HB_OP_LATENT_RGB,       /* [B,h,w,4] -> U8X4 [B,h,w] with a 4x3 matrix + bias */
  HB_N_OPS
} HbOpType;

typedef struct _HbTensor HbTensor;
typedef struct _HbGraph  HbGraph;

struct _HbTensor {
  HbDType      dtype;
  HbTensorKind kind;
  int          ndim;
  int64_t      shape[HB_MAX_DIMS];
  int64_t      stride[HB_MAX_DIMS];   /* in elements */
  int64_t      view_offset;           /* in elements, into the storage of view_src */
  HbTensor    *view_src;              /* for HB_OP_VIEW: the tensor owning the memory */

  HbOpType     op;
  HbTensor    *src[HB_MAX_SRC];
  int32_t      iparams[8];
  float        fparams[16];

  const void  *host_data;   /* HB_TENSOR_WEIGHT: bytes in `dtype`, contiguous */
  char        *name;        /* for errors and profiles; checkpoint key for weights */
  guint        id;          /* index in the graph */
  gpointer     backend_data;
};

/* Parameters, by op (names of iparams/fparams slots). */
enum {
  /* HB_OP_MATMUL: src0 a, src1 b, src2 bias|NULL, src3 residual|NULL */
  HB_MATMUL_TRANS_B = 0,   /* 1: b is [N,K] (a linear weight), 0: b is [K,N] */
  HB_MATMUL_ACT = 1,       /* HbActivation applied before the residual add */
  /* HB_OP_CONV2D: src0 x, src1 w, src2 bias|NULL, src3 residual|NULL (the
   * output's shape, or [B, 1, 1, Cout]: added to each pixel of image B) */
  HB_CONV_STRIDE = 0,
  HB_CONV_PAD = 1,         /* zero padding before (top/left) */
  HB_CONV_PAD_END = 2,     /* zero padding after (bottom/right); Ho = (H + pad + pad_end - KH) / stride + 1 */
  /* HB_OP_GROUP_NORM: src0 x, src1 gamma, src2 beta */
  HB_NORM_GROUPS = 0,
  HB_NORM_SILU = 1,
  HB_NORM_EPS = 0,         /* fparams */
  /* HB_OP_ATTENTION: src0 q, src1 k, src2 v */
  HB_ATTN_HEADS = 0,
  HB_ATTN_CAUSAL = 1,
  HB_ATTN_SCALE = 0,       /* fparams */
  /* HB_OP_TIMESTEP_EMBED */
  HB_TEMB_DIM = 0,
  HB_TEMB_MAX_PERIOD = 0,  /* fparams */
  /* HB_OP_SCALE: fparams scale, bias, lo, hi */
  HB_SCALE_MUL = 0,
  HB_SCALE_ADD = 1,
  HB_SCALE_LO = 2,
  HB_SCALE_HI = 3,
  /* HB_OP_LATENT_RGB: fparams[0..11] the 4x3 matrix (row per latent
   * channel), fparams[12..14] bias; output rgb = clamp((l·M + b) * 0.5 + 0.5) */
};

typedef enum {
  HB_ACT_NONE,
  HB_ACT_GELU,
  HB_ACT_SILU,
  HB_ACT_QUICK_GELU,
} HbActivation;

HbGraph   *hb_graph_new              (void);
void       hb_graph_free             (HbGraph *graph);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbGraph, hb_graph_free)

guint      hb_graph_n_nodes          (HbGraph *graph);
/* Ops whose operands do not fit (a mis-shaped weight of a checkpoint) are
 * still added, so that model code can finish building, but the graph must
 * not be prepared: this says what did not fit, naming the weights, or is
 * NULL when everything fits. */
const char*hb_graph_get_shape_error  (HbGraph *graph);
HbTensor  *hb_graph_node             (HbGraph *graph, guint i);
/* Index of the last node reading the storage of node `id` (through views);
 * G_MAXUINT for weights, inputs and outputs, whose memory is never reused. */
guint      hb_graph_last_use         (HbGraph *graph, guint id);

/* Leaves. Weights keep a pointer to host_data (which must outlive every
 * backend that uploads it); the name is copied. */
HbTensor  *hb_graph_weight           (HbGraph *graph, const char *name, HbDType dtype,
                                      int ndim, const int64_t *shape, const void *host_data);
HbTensor  *hb_graph_input            (HbGraph *graph, const char *name, HbDType dtype,
                                      int ndim, const int64_t *shape);
void       hb_graph_mark_output      (HbGraph *graph, HbTensor *t);

/* Views and layout. */
HbTensor  *hb_reshape                (HbGraph *g, HbTensor *x, int ndim, const int64_t *shape);
HbTensor  *hb_view                   (HbGraph *g, HbTensor *x, int ndim, const int64_t *shape,
                                      const int64_t *stride, int64_t offset);
HbTensor  *hb_copy                   (HbGraph *g, HbTensor *x);

/* Ops. Each returns the new node; shapes are checked with g_return_val_if_fail
 * since a mismatch is a bug in model code, not bad user input. */
HbTensor  *hb_matmul                 (HbGraph *g, HbTensor *a, HbTensor *b, gboolean trans_b,
                                      HbTensor *bias, HbActivation act, HbTensor *residual);
HbTensor  *hb_linear                 (HbGraph *g, HbTensor *x, HbTensor *w, HbTensor *bias);
HbTensor  *hb_conv2d                 (HbGraph *g, HbTensor *x, HbTensor *w, HbTensor *bias,
                                      int stride, int pad, HbTensor *residual);
/* The VAE encoder's downsampling pads only the bottom and right edges. */
HbTensor  *hb_conv2d_asym            (HbGraph *g, HbTensor *x, HbTensor *w, HbTensor *bias,
                                      int stride, int pad, int pad_end, HbTensor *residual);
/* TRUE when conv node t's residual is one vector per image, not a picture. */
gboolean   hb_conv2d_residual_per_image (const HbTensor *t);
HbTensor  *hb_group_norm             (HbGraph *g, HbTensor *x, HbTensor *gamma, HbTensor *beta,
                                      int groups, float eps, gboolean silu);
HbTensor  *hb_layer_norm             (HbGraph *g, HbTensor *x, HbTensor *gamma, HbTensor *beta,
                                      float eps);
HbTensor  *hb_attention              (HbGraph *g, HbTensor *q, HbTensor *k, HbTensor *v,
                                      int heads, float scale, gboolean causal);
HbTensor  *hb_unary                  (HbGraph *g, HbOpType op, HbTensor *x);
HbTensor  *hb_geglu                  (HbGraph *g, HbTensor *x);
HbTensor  *hb_add                    (HbGraph *g, HbTensor *a, HbTensor *b);
HbTensor  *hb_mul                    (HbGraph *g, HbTensor *a, HbTensor *b);
HbTensor  *hb_upsample_nearest2x     (HbGraph *g, HbTensor *x);
HbTensor  *hb_concat                 (HbGraph *g, HbTensor *a, HbTensor *b);
HbTensor  *hb_timestep_embed         (HbGraph *g, HbTensor *t, int dim, float max_period);
HbTensor  *hb_softmax                (HbGraph *g, HbTensor *x);
HbTensor  *hb_scale                  (HbGraph *g, HbTensor *x, float mul, float add,
                                      float lo, float hi);
HbTensor  *hb_get_rows               (HbGraph *g, HbTensor *table, HbTensor *ids);
HbTensor  *hb_latent_rgb             (HbGraph *g, HbTensor *latent, const float matrix[12],
                                      const float bias[3]);

/* Helpers. */
int64_t    hb_tensor_nelements       (const HbTensor *t);
gsize      hb_dtype_size             (HbDType dtype);
gboolean   hb_tensor_is_contiguous   (const HbTensor *t);
const char*hb_op_name                (HbOpType op);
/* Floating-point operations of a node, for profiles and benchmarks. */
double     hb_tensor_flops           (const HbTensor *t);

/* fp16 <-> fp32 conversion on the host. */
uint16_t   hb_f32_to_f16             (float f);
float      hb_f16_to_f32             (uint16_t h);

G_END_DECLS
