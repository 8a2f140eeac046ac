// SPDX-License-Identifier: GPL-3.0-or-later
// Softmax over the last dimension: one workgroup per row; the row maximum
// is subtracted first so exp never overflows.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#define REDUCE_SIZE 64u
layout(local_size_x = 64) in;
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

layout(push_constant) uniform Params {
  uint C, off_x, off_d;
} p;

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
