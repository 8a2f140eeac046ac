// SPDX-License-Identifier: GPL-3.0-or-later
// Matmul for CPU-type devices (lavapipe). Each invocation keeps a TM x TN
// tile of outputs in registers; A and B are read through uniform texel
// buffers, which llvmpipe turns into vector loads (storage-buffer loads
// from varying addresses are scalarised per lane), and neighbouring
// invocations along N read the same rows of A. No shared memory: on a CPU
// it only adds copies and barriers. See LAVAPIPE.md for the measurements.
//
// TRANS_B=1: B is [N, K] (a linear weight), TRANS_B=0: B is [K, N].
// Needs K % 4 == 0 (and N % 4 == 0 when TRANS_B=0) and 4-aligned rows;
// M and N edges are handled by clamped loads and masked stores so the
// inner loop has no bounds checks. fp16 B comes through an RGBA16F view,
// so one source serves both weight types.
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

layout(binding = 8) uniform samplerBuffer t_a;
layout(binding = 9) uniform samplerBuffer t_b;

void main()
{
  uint n0 = gl_GlobalInvocationID.x * TN;
  uint m0 = gl_GlobalInvocationID.y * TM;
  uint batch = gl_GlobalInvocationID.z;
  uint K4 = p.K / 4u;
  int arow[TM];

  if (n0 >= p.N || m0 >= p.M)
    return;

  [[unroll]] for (uint i = 0u; i < TM; i++)
    arow[i] = p.a_base + int(batch * p.a_batch + min(m0 + i, p.M - 1u) * p.a_sm);

#if TRANS_B
  int brow[TN];
  float acc[TM][TN];

  [[unroll]] for (uint j = 0u; j < TN; j++)
    brow[j] = p.b_base + int(batch * p.b_batch + min(n0 + j, p.N - 1u) * p.b_sn);
  [[unroll]] for (uint i = 0u; i < TM; i++)
    [[unroll]] for (uint j = 0u; j < TN; j++)
      acc[i][j] = 0.0;

  for (uint k = 0u; k < K4; k++)
    {
      vec4 a[TM], b[TN];

      [[unroll]] for (uint i = 0u; i < TM; i++)
        a[i] = texelFetch(t_a, arow[i] + int(k));
      [[unroll]] for (uint j = 0u; j < TN; j++)
        b[j] = texelFetch(t_b, brow[j] + int(k));
      [[unroll]] for (uint i = 0u; i < TM; i++)
        [[unroll]] for (uint j = 0u; j < TN; j++)
          acc[i][j] = fma(a[i].w, b[j].w, fma(a[i].z, b[j].z, fma(a[i].y, b[j].y, fma(a[i].x, b[j].x, acc[i][j]))));
    }

  [[unroll]] for (uint i = 0u; i < TM; i++)
    {
      int rrow = hb_res_row(batch, m0 + i);

      [[unroll]] for (uint j = 0u; j < TN; j++)
        if (m0 + i < p.M && n0 + j < p.N)
          hb_store_row(batch, m0 + i, n0 + j, acc[i][j], rrow);
    }
#else
  int bcol[TN / 4];
  vec4 acc[TM][TN / 4];

  [[unroll]] for (uint j = 0u; j < TN / 4u; j++)
    bcol[j] = p.b_base + int(batch * p.b_batch + min(n0 / 4u + j, p.N / 4u - 1u));
  [[unroll]] for (uint i = 0u; i < TM; i++)
    [[unroll]] for (uint j = 0u; j < TN / 4u; j++)
      acc[i][j] = vec4(0.0);

  for (uint k = 0u; k < K4; k++)
    {
      vec4 a[TM];

      [[unroll]] for (uint i = 0u; i < TM; i++)
        a[i] = texelFetch(t_a, arow[i] + int(k));
      [[unroll]] for (uint kk = 0u; kk < 4u; kk++)
        {
          vec4 b[TN / 4];

          [[unroll]] for (uint j = 0u; j < TN / 4u; j++)
            b[j] = texelFetch(t_b, bcol[j] + int((4u * k + kk) * p.b_sk));
          [[unroll]] for (uint i = 0u; i < TM; i++)
            [[unroll]] for (uint j = 0u; j < TN / 4u; j++)
              acc[i][j] += a[i][kk] * b[j];
        }
    }

  [[unroll]] for (uint i = 0u; i < TM; i++)
    {
      int rrow = hb_res_row(batch, m0 + i);

      [[unroll]] for (uint j = 0u; j < TN; j++)
        if (m0 + i < p.M && n0 + j < p.N)
          hb_store_row(batch, m0 + i, n0 + j, acc[i][j / 4u][j % 4u], rrow);
    }
#endif
}
