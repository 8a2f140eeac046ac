// SPDX-License-Identifier: GPL-3.0-or-later
// Fused attention for GPUs, flash-attention style: a workgroup of 64
// invocations takes 64 queries of one head, one query each; tiles of KT
// keys and values are staged in shared memory and every invocation keeps
// its own running max, sum and output row (online softmax), so the
// Lq x Lk score matrix never exists. DMAX bounds the head size D; KT is
// chosen so the two tiles fit in 32 KiB of shared memory.
#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attention_common.glsl"

#if DMAX <= 64
#define KT 32
#elif DMAX <= 160
#define KT 16
#else
#define KT 4
#endif

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 2) readonly buffer Q { float q_in[]; };
layout(std430, binding = 3) readonly buffer K { float k_in[]; };
layout(std430, binding = 4) readonly buffer V { float v_in[]; };

shared float s_k[KT][DMAX];
shared float s_v[KT][DMAX];

void main()
{
  uint qi = gl_GlobalInvocationID.x, tid = gl_LocalInvocationID.x;
  uint head = gl_WorkGroupID.y, batch = gl_WorkGroupID.z;
  uint D = p.D;
  uint qrow = min(qi, p.Lq - 1u);
  int koff = p.k_base + int(batch * p.k_batch + head * D);
  int voff = p.v_base + int(batch * p.v_batch + head * D);
  uint q_last = min(gl_WorkGroupID.x * 64u + 63u, p.Lq - 1u);
  uint kend = p.causal != 0u ? min(p.Lk, q_last + 1u) : p.Lk;
  uint last = p.causal != 0u ? min(qrow, p.Lk - 1u) : p.Lk - 1u;
  float q[DMAX], o[DMAX];
  float mx = -1.0 / 0.0, sum = 0.0;

  for (uint d = 0u; d < D; d++)
    {
      q[d] = q_in[p.q_base + int(batch * p.q_batch + qrow * p.q_row + head * D + d)] * p.scale_log2;
      o[d] = 0.0;
    }

  for (uint j0 = 0u; j0 < kend; j0 += KT)
    {
      float s[KT];
      float m = mx, corr;

      for (uint e = tid; e < KT * D; e += 64u)
        {
          uint jj = e / D, d = e % D;
          uint j = min(j0 + jj, p.Lk - 1u);

          s_k[jj][d] = k_in[koff + int(j * p.k_row + d)];
          s_v[jj][d] = v_in[voff + int(j * p.v_row + d)];
        }
      barrier();

      [[unroll]] for (uint jj = 0u; jj < KT; jj++)
        {
          float acc = 0.0;

          for (uint d = 0u; d < D; d++)
            acc = fma(q[d], s_k[jj][d], acc);
          s[jj] = j0 + jj > last ? -1.0 / 0.0 : acc;
          m = max(m, s[jj]);
        }
      // Key 0 is in the first tile and never masked, so m is finite.
      corr = exp2(mx - m);
      mx = m;
      sum *= corr;
      for (uint d = 0u; d < D; d++)
        o[d] *= corr;
      [[unroll]] for (uint jj = 0u; jj < KT; jj++)
        {
          float pj = exp2(s[jj] - m);

          sum += pj;
          for (uint d = 0u; d < D; d++)
            o[d] = fma(pj, s_v[jj][d], o[d]);
        }
      barrier();
    }

  if (qi < p.Lq)
    {
      int row = p.o_base + int(batch * p.o_batch + qi * p.o_row + head * D);

      for (uint d = 0u; d < D; d++)
        o_out[row + int(d)] = o[d] / sum;
    }
}
