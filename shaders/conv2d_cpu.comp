// SPDX-License-Identifier: GPL-3.0-or-later
// conv2d as an implicit GEMM for CPU-type devices (lavapipe): rows are
// output pixels, columns output channels, K = KH*KW*Cin. The same register
// tiling and texel-buffer reads as matmul_cpu.comp; the filter taps are the
// outer loop so that the padding checks run once per tap and pixel, and the
// inner loop over Cin (4 channels per texel) is as plain as a matmul's.
// Needs Cin % 4 == 0; conv2d_gpu.comp serves any other shape.
#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "matmul_common.glsl"

#ifndef TM
#define TM 16
#endif
#ifndef TN
#define TN 8
#endif
#ifndef LX
#define LX 8
#endif
#ifndef LY
#define LY 1
#endif

layout(local_size_x = LX, local_size_y = LY, local_size_z = 1) in;

layout(binding = 8) uniform samplerBuffer t_x;
layout(binding = 9) uniform samplerBuffer t_w;

void main()
{
  uint n0 = gl_GlobalInvocationID.x * TN;
  uint m0 = gl_GlobalInvocationID.y * TM;
  uint kh = p.conv_geom >> 24, kw = (p.conv_geom >> 16) & 0xffu;
  int stride = int((p.conv_geom >> 8) & 0xffu), pad = int(p.conv_geom & 0xffu);
  int H = int(p.conv_h), W = int(p.conv_w);
  uint C4 = p.conv_cin / 4u;
  int img[TM], iy0[TM], ix0[TM], wrow[TN];
  float acc[TM][TN];

  if (n0 >= p.N || m0 >= p.M)
    return;

  [[unroll]] for (uint i = 0u; i < TM; i++)
    {
      uint m = p.m_begin + min(m0 + i, p.M - 1u);
      uint ox = m % p.conv_wo, t = m / p.conv_wo;
      uint oy = t % p.conv_ho, b = t / p.conv_ho;

      img[i] = p.a_base + int(b) * H * W * int(C4);
      iy0[i] = int(oy) * stride - pad;
      ix0[i] = int(ox) * stride - pad;
    }
  [[unroll]] for (uint j = 0u; j < TN; j++)
    wrow[j] = p.b_base + int(min(n0 + j, p.N - 1u) * p.b_sn);
  [[unroll]] for (uint i = 0u; i < TM; i++)
    [[unroll]] for (uint j = 0u; j < TN; j++)
      acc[i][j] = 0.0;

  for (uint ky = 0u; ky < kh; ky++)
    for (uint kx = 0u; kx < kw; kx++)
      {
        int xrow[TM];
        float valid[TM];
        int wtap = int((ky * kw + kx) * C4);

        // A padded tap reads the nearest pixel (which lies in the rows bound
        // for this dispatch) and scales it by 0.
        [[unroll]] for (uint i = 0u; i < TM; i++)
          {
            int iy = iy0[i] + int(ky), ix = ix0[i] + int(kx);
            int cy = clamp(iy, 0, H - 1), cx = clamp(ix, 0, W - 1);

            valid[i] = iy == cy && ix == cx ? 1.0 : 0.0;
            xrow[i] = img[i] + (cy * W + cx) * int(C4);
          }

        for (uint c = 0u; c < C4; c++)
          {
            vec4 a[TM], b[TN];

            [[unroll]] for (uint i = 0u; i < TM; i++)
              a[i] = texelFetch(t_x, xrow[i] + int(c)) * valid[i];
            [[unroll]] for (uint j = 0u; j < TN; j++)
              b[j] = texelFetch(t_w, wrow[j] + wtap + int(c));
            [[unroll]] for (uint i = 0u; i < TM; i++)
              [[unroll]] for (uint j = 0u; j < TN; j++)
                acc[i][j] = fma(a[i].w, b[j].w, fma(a[i].z, b[j].z,
                            fma(a[i].y, b[j].y, fma(a[i].x, b[j].x, acc[i][j]))));
          }
      }

  [[unroll]] for (uint i = 0u; i < TM; i++)
    {
      int rrow = hb_res_row(0u, p.m_begin + m0 + i);

      [[unroll]] for (uint j = 0u; j < TN; j++)
        if (m0 + i < p.M && n0 + j < p.N)
          hb_store_row(0u, p.m_begin + m0 + i, n0 + j, acc[i][j], rrow);
    }
}
