// SPDX-License-Identifier: GPL-3.0-or-later
// What the matmul and conv2d kernels of both families share: the push
// constants, the binding numbers and the epilogue (bias, activation,
// residual) applied to each output before it is stored.
//
// Every *_base is the signed offset that turns a tensor's logical element
// (or texel) index into an index within the range bound for this dispatch,
// so a record function may bind only a slice of a large tensor without the
// shader knowing.
#ifndef HB_MATMUL_COMMON_GLSL
#define HB_MATMUL_COMMON_GLSL

#include "activations.glsl"

#define HB_FLAG_BIAS     1u
#define HB_FLAG_RESIDUAL 2u
#define HB_FLAG_RES_IMAGE 4u  // conv2d: the residual is one row per image, r_row apart
#define HB_ACT_SHIFT     4u

#define HB_ACT_NONE       0u
#define HB_ACT_GELU       1u
#define HB_ACT_SILU       2u
#define HB_ACT_QUICK_GELU 3u

layout(std430, binding = 0) writeonly buffer Dst { float dst[]; };
layout(std430, binding = 1) readonly buffer Res { float res[]; };
layout(binding = 10) uniform samplerBuffer t_bias;

// The GEMM view: dst[batch, m, n] = sum_k A(m, k) B(k, n). Strides are in
// elements for storage bindings and in texels (4 elements) for texel views.
layout(push_constant) uniform Params {
  uint M, N, K, flags;
  int a_base; uint a_sm, a_sk, a_batch;
  int b_base; uint b_sn, b_sk, b_batch;
  int bias_base;
  int d_base; uint d_row, d_batch;
  int r_base; uint r_row, r_batch;
  // conv2d only: the GEMM rows are output pixels m_begin .. m_begin + M - 1
  // of the flattened [B, Ho, Wo]; the input is [B, H, W, Cin].
  uint m_begin;
  uint conv_h, conv_w, conv_cin;
  uint conv_ho, conv_wo;
  uint conv_geom;    // KH << 24 | KW << 16 | stride << 8 | pad
  // conv2d_cpu_3x3.comp only: the first output channel of this dispatch
  uint n_begin;
} p;

float hb_activate(float x, uint act)
{
  if (act == HB_ACT_GELU)
    return hb_gelu(x);
  if (act == HB_ACT_SILU)
    return hb_silu(x);
  if (act == HB_ACT_QUICK_GELU)
    return hb_quick_gelu(x);
  return x;
}

// Where the residual of output row (batch, m) starts in res[]. Kernels
// that store a tile call it once per row: inlined per element, its
// division made lavapipe's compile twice as long.
int hb_res_row(uint batch, uint m)
{
  if ((p.flags & HB_FLAG_RES_IMAGE) != 0u)
    return p.r_base + int(m / (p.conv_ho * p.conv_wo) * p.r_row);
  return p.r_base + int(batch * p.r_batch + m * p.r_row);
}

// Applies bias, activation and residual (from res[res_row + n]) to output
// (batch, m, n) and stores it.
void hb_store_row(uint batch, uint m, uint n, float acc, int res_row)
{
  if ((p.flags & HB_FLAG_BIAS) != 0u)
    acc += texelFetch(t_bias, p.bias_base + int(n)).x;
  acc = hb_activate(acc, p.flags >> HB_ACT_SHIFT);
  if ((p.flags & HB_FLAG_RESIDUAL) != 0u)
    acc += res[res_row + int(n)];
  dst[p.d_base + int(batch * p.d_batch + m * p.d_row + n)] = acc;
}

void hb_store(uint batch, uint m, uint n, float acc)
{
  hb_store_row(batch, m, n, acc, hb_res_row(batch, m));
}

#endif
