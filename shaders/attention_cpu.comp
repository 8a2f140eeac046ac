// SPDX-License-Identifier: GPL-3.0-or-later
// Fused attention for CPU-type devices (lavapipe), flash-attention style:
// one invocation holds QB queries of one head in registers and streams the
// keys and values through texel fetches, KB keys at a time, keeping a
// running max and sum (online softmax); the Lq x Lk score matrix never
// exists. Neighbouring invocations take neighbouring query blocks of the
// same head, so they fetch the same key and value rows.
//
// DMAX bounds the head size D (D % 4 == 0). With UNROLL_D the loops over D
// are unrolled (registers, no indexing); the DMAX=512 variant keeps them as
// loops so its code stays small.
#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attention_common.glsl"

#define D4MAX (DMAX / 4)
#ifndef QB
#define QB 4
#endif
#define KB 8

#if UNROLL_D
#define D_LOOP [[unroll]]
#else
#define D_LOOP [[dont_unroll]]
#endif

layout(local_size_x = 8, local_size_y = 1, local_size_z = 1) in;

layout(binding = 8) uniform samplerBuffer t_q;
layout(binding = 9) uniform samplerBuffer t_k;
layout(binding = 10) uniform samplerBuffer t_v;

void main()
{
  uint q0 = gl_GlobalInvocationID.x * QB;
  uint head = gl_GlobalInvocationID.y, batch = gl_GlobalInvocationID.z;
  uint D4 = p.D / 4u;
  int koff = p.k_base + int(batch * p.k_batch + head * D4);
  int voff = p.v_base + int(batch * p.v_batch + head * D4);
  // Keys past the last query's position are masked for every query here.
  uint kend = p.causal != 0u ? min(p.Lk, q0 + QB) : p.Lk;
  vec4 q[QB][D4MAX], o[QB][D4MAX];
  float mx[QB], sum[QB];

  if (q0 >= p.Lq)
    return;

  [[unroll]] for (uint i = 0u; i < QB; i++)
    {
      int row = p.q_base + int(batch * p.q_batch + min(q0 + i, p.Lq - 1u) * p.q_row + head * D4);

      D_LOOP for (uint d = 0u; d < D4MAX; d++)
        if (d < D4)
          {
            q[i][d] = texelFetch(t_q, row + int(d)) * p.scale_log2;
            o[i][d] = vec4(0.0);
          }
      mx[i] = -1.0 / 0.0;
      sum[i] = 0.0;
    }

  for (uint j0 = 0u; j0 < kend; j0 += KB)
    {
      float s[QB][KB];

      [[unroll]] for (uint jj = 0u; jj < KB; jj++)
        {
          int krow = koff + int(min(j0 + jj, p.Lk - 1u) * p.k_row);

          [[unroll]] for (uint i = 0u; i < QB; i++)
            s[i][jj] = 0.0;
          D_LOOP for (uint d = 0u; d < D4MAX; d++)
            if (d < D4)
              {
                vec4 kv = texelFetch(t_k, krow + int(d));

                [[unroll]] for (uint i = 0u; i < QB; i++)
                  s[i][jj] += dot(q[i][d], kv);
              }
        }

      [[unroll]] for (uint i = 0u; i < QB; i++)
        {
          float m = mx[i], corr;
          uint last = p.causal != 0u ? min(q0 + i, p.Lk - 1u) : p.Lk - 1u;

          [[unroll]] for (uint jj = 0u; jj < KB; jj++)
            {
              if (j0 + jj > last)
                s[i][jj] = -1.0 / 0.0;
              m = max(m, s[i][jj]);
            }
          // Key 0 is in the first block and never masked, so m is finite.
          corr = exp2(mx[i] - m);
          mx[i] = m;
          sum[i] *= corr;
          [[unroll]] for (uint jj = 0u; jj < KB; jj++)
            {
              s[i][jj] = exp2(s[i][jj] - m);
              sum[i] += s[i][jj];
            }
          D_LOOP for (uint d = 0u; d < D4MAX; d++)
            if (d < D4)
              o[i][d] *= corr;
        }

      [[unroll]] for (uint jj = 0u; jj < KB; jj++)
        {
          int vrow = voff + int(min(j0 + jj, p.Lk - 1u) * p.v_row);

          D_LOOP for (uint d = 0u; d < D4MAX; d++)
            if (d < D4)
              {
                vec4 vv = texelFetch(t_v, vrow + int(d));

                [[unroll]] for (uint i = 0u; i < QB; i++)
                  o[i][d] += s[i][jj] * vv;
              }
        }
    }

  [[unroll]] for (uint i = 0u; i < QB; i++)
    if (q0 + i < p.Lq)
      {
        int row = p.o_base + int(batch * p.o_batch + (q0 + i) * p.o_row + head * p.D);
        float inv = 1.0 / sum[i];

        D_LOOP for (uint d = 0u; d < D4MAX; d++)
          if (d < D4)
            {
              vec4 r = o[i][d] * inv;

              o_out[row + int(4u * d)] = r.x;
              o_out[row + int(4u * d) + 1] = r.y;
              o_out[row + int(4u * d) + 2] = r.z;
              o_out[row + int(4u * d) + 3] = r.w;
            }
      }
}
