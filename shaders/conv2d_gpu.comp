// SPDX-License-Identifier: GPL-3.0-or-later
// conv2d for GPUs, and for any Cin on every device: the implicit GEMM of
// conv2d_cpu.comp with im2col done while filling the shared-memory tiles of
// matmul_gpu.glsl. W is fp32, or fp16 with -DW_F16.
#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "matmul_common.glsl"

layout(std430, binding = 2) readonly buffer X { float x[]; };
#if W_F16
layout(std430, binding = 3) readonly buffer Wt { float16_t w[]; };
#else
layout(std430, binding = 3) readonly buffer Wt { float w[]; };
#endif

float load_a(uint batch, uint m, uint k)
{
  uint kw = (p.conv_geom >> 16) & 0xffu;
  int stride = int((p.conv_geom >> 8) & 0xffu), pad = int(p.conv_geom & 0xffu);
  uint c, tap, pix, ox, oy, b;
  int iy, ix;

  if (m >= p.M || k >= p.K)
    return 0.0;
  c = k % p.conv_cin;
  tap = k / p.conv_cin;
  pix = p.m_begin + m;
  ox = pix % p.conv_wo;
  oy = (pix / p.conv_wo) % p.conv_ho;
  b = pix / (p.conv_wo * p.conv_ho);
  iy = int(oy) * stride - pad + int(tap / kw);
  ix = int(ox) * stride - pad + int(tap % kw);
  if (iy < 0 || iy >= int(p.conv_h) || ix < 0 || ix >= int(p.conv_w))
    return 0.0;
  return x[p.a_base + ((int(b) * int(p.conv_h) + iy) * int(p.conv_w) + ix) * int(p.conv_cin) + int(c)];
}

float load_b(uint batch, uint k, uint n)
{
  if (k >= p.K || n >= p.N)
    return 0.0;
  return float(w[p.b_base + int(n * p.b_sn + k)]);
}

void store_c(uint batch, uint m, uint n, float v)
{
  hb_store(0u, p.m_begin + m, n, v);
}

#include "matmul_gpu.glsl"
