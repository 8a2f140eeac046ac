// SPDX-License-Identifier: GPL-3.0-or-later
// What both attention kernels share: push constants and the output binding.
// q, k, v may be strided views (slices of a fused QKV tensor): each has its
// own row and batch strides, in texels for the CPU family's texel views and
// in elements for the GPU family's storage buffers. *_base turns a logical
// index into one within the bound range.
#ifndef HB_ATTENTION_COMMON_GLSL
#define HB_ATTENTION_COMMON_GLSL

layout(std430, binding = 0) writeonly buffer Out { float o_out[]; };

layout(push_constant) uniform Params {
  uint Lq, Lk, D, causal;
  int q_base; uint q_row, q_batch;
  int k_base; uint k_row, k_batch;
  int v_base; uint v_row, v_batch;
  int o_base; uint o_row, o_batch;
  float scale_log2;   // softmax scale * log2(e): the kernels use exp2
} p;

#endif
