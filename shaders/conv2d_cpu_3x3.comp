// SPDX-License-Identifier: GPL-3.0-or-later
// 3x3 conv, stride 1, padding 1, for CPU-type devices (lavapipe), with the
// input channel count CIN fixed at compile time: for layers with few
// output channels, where most columns of the implicit-GEMM kernel
// (conv2d_cpu.comp) would sit idle.
//
// The 8 invocations of a workgroup (one SIMD row on llvmpipe) are 8
// neighbouring output pixels of one row; each computes TM pixels down its
// column for TN output channels n_begin .. n_begin + TN - 1, one dispatch
// per block of channels (a channel past the last reads the last one's
// weights and is not stored). Each input texel is fetched once per column
// offset (kx) and used for all three rows (ky) it meets.
//
// Every loop is unrolled and nothing returns early, so every weight index
// is a constant plus push constants, read outside any control flow:
// llvmpipe then loads each weight once for all lanes instead of gathering
// it per lane. (With a runtime loop around the loads, the weights read
// from this storage buffer or from a uniform buffer alike, lavapipe
// gathered them per lane again and the kernel ran several times slower.)
// The price is code size: lavapipe takes about a second to compile it.
#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "matmul_common.glsl"

#ifndef TM
#define TM 8
#endif
#ifndef TN
#define TN 4
#endif

#define C4 (CIN / 4)

layout(local_size_x = 8, local_size_y = 1, local_size_z = 1) in;

layout(binding = 8) uniform samplerBuffer t_x;
layout(std430, binding = 3) readonly buffer Wt { W_TYPE w[]; };

void main()
{
  int H = int(p.conv_h), W = int(p.conv_w);
  uint tiles_y = (p.conv_ho + TM - 1u) / TM;
  uint b = gl_WorkGroupID.y / tiles_y;
  int ox = int(gl_GlobalInvocationID.x);
  int oy0 = int((gl_WorkGroupID.y % tiles_y) * TM);
  int img = p.a_base + int(b) * H * W * C4;
  int col[3];
  float col_ok[3];
  float acc[TM][TN];

  // Out-of-range pixels and padding read the nearest pixel and scale it by
  // 0; out-of-range pixels are not stored.
  [[unroll]] for (int kx = 0; kx < 3; kx++)
    {
      int ix = ox - 1 + kx, cx = clamp(ix, 0, W - 1);

      col[kx] = cx;
      col_ok[kx] = ix == cx ? 1.0 : 0.0;
    }
  [[unroll]] for (uint i = 0u; i < TM; i++)
    [[unroll]] for (uint j = 0u; j < TN; j++)
      acc[i][j] = 0.0;

  [[unroll]] for (int r = 0; r < TM + 2; r++)
    {
      int iy = oy0 - 1 + r, cy = clamp(iy, 0, H - 1);
      float row_ok = iy == cy ? 1.0 : 0.0;

      [[unroll]] for (int kx = 0; kx < 3; kx++)
        {
          int base = img + (cy * W + col[kx]) * C4;
          float ok = row_ok * col_ok[kx];

          [[unroll]] for (int c = 0; c < C4; c++)
            {
              vec4 a = texelFetch(t_x, base + c) * ok;

              [[unroll]] for (int ky = 0; ky < 3; ky++)
                {
                  int i = r - ky;

                  if (i < 0 || i >= TM)
                    continue;
                  [[unroll]] for (int j = 0; j < TN; j++)
                    {
                      int n = int(min(p.n_begin + uint(j), p.N - 1u));
                      int k = p.b_base + (n * 9 + ky * 3 + kx) * CIN + 4 * c;

                      acc[i][j] = fma(a.w, float(w[k + 3]), fma(a.z, float(w[k + 2]),
                                  fma(a.y, float(w[k + 1]), fma(a.x, float(w[k]), acc[i][j]))));
                    }
                }
            }
        }
    }

  [[unroll]] for (uint i = 0u; i < TM; i++)
    {
      uint oy = uint(oy0) + i;
      uint m = (b * p.conv_ho + oy) * p.conv_wo + uint(ox);
      int rrow = hb_res_row(0u, m);

      if (uint(ox) < p.conv_wo && oy < p.conv_ho)
        [[unroll]] for (uint j = 0u; j < TN; j++)
          if (p.n_begin + j < p.N)
            hb_store_row(0u, m, p.n_begin + j, acc[i][j], rrow);
    }
}
