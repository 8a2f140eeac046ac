// SPDX-License-Identifier: GPL-3.0-or-later
// Matmul for GPUs: shared-memory tiles (matmul_gpu.glsl). Any strides and
// sizes; B is fp32, or fp16 with -DB_F16. Bias, activation and residual
// are applied as in matmul_common.glsl.
#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "matmul_common.glsl"

layout(std430, binding = 2) readonly buffer A { float a[]; };
#if B_F16
layout(std430, binding = 3) readonly buffer B { float16_t b[]; };
#else
layout(std430, binding = 3) readonly buffer B { float b[]; };
#endif

float load_a(uint batch, uint m, uint k)
{
  if (m >= p.M || k >= p.K)
    return 0.0;
  return a[p.a_base + int(batch * p.a_batch + m * p.a_sm + k * p.a_sk)];
}

float load_b(uint batch, uint k, uint n)
{
  if (k >= p.K || n >= p.N)
    return 0.0;
  return float(b[p.b_base + int(batch * p.b_batch + k * p.b_sk + n * p.b_sn)]);
}

void store_c(uint batch, uint m, uint n, float v)
{
  hb_store(batch, m, n, v);
}

#include "matmul_gpu.glsl"
