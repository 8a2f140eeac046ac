// SPDX-License-Identifier: GPL-3.0-or-later
// Softmax over the last dimension; the row maximum is subtracted first so
// exp never overflows. GPUs: one workgroup per row. ROW_PER_INVOCATION
// (CPU-type devices): one invocation per row, no barriers (see
// layer_norm.comp).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
#ifndef ROW_PER_INVOCATION
#define REDUCE_SIZE 64u
#include "reduce.glsl"
#endif

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

layout(push_constant) uniform Params {
  uint C, off_x, off_d, rows;
} p;

#ifdef ROW_PER_INVOCATION
void main()
{
  uint row = gl_GlobalInvocationID.x;
  if (row >= p.rows)
    return;
  uint bx = p.off_x + row * p.C;
  uint bd = p.off_d + row * p.C;

  float m = -1.0 / 0.0;
  for (uint c = 0u; c < p.C; c++)
    m = max(m, x[bx + c]);
  float s = 0.0;
  for (uint c = 0u; c < p.C; c++)
    s += exp(x[bx + c] - m);
  float inv = 1.0 / s;
  for (uint c = 0u; c < p.C; c++)
    d[bd + c] = exp(x[bx + c] - m) * inv;
}
#else

void main()
{
  uint row = gl_WorkGroupID.x;
  uint t = gl_LocalInvocationID.x;
  uint bx = p.off_x + row * p.C;
  uint bd = p.off_d + row * p.C;

  float m = -1.0 / 0.0;
  for (uint c = t; c < p.C; c += REDUCE_SIZE)
    m = max(m, x[bx + c]);
  m = hb_reduce_max(m);

  float s = 0.0;
  for (uint c = t; c < p.C; c += REDUCE_SIZE)
    s += exp(x[bx + c] - m);
  float inv = 1.0 / hb_reduce_sum(s);

  for (uint c = t; c < p.C; c += REDUCE_SIZE)
    d[bd + c] = exp(x[bx + c] - m) * inv;
}
#endif
