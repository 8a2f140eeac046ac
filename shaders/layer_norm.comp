// SPDX-License-Identifier: GPL-3.0-or-later
// Layer norm over the last dimension, two passes (mean, then the variance
// around it) as the reference computes it. W_TYPE is the storage type of
// gamma and beta (float or float16_t).
//
// GPUs: one workgroup per row, reduced through shared memory. With
// ROW_PER_INVOCATION (CPU-type devices) each invocation owns a row:
// llvmpipe runs a workgroup's barriers as coroutine switches, so a
// reduction without them is several times faster there.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
#ifndef ROW_PER_INVOCATION
#define REDUCE_SIZE 64u
#include "reduce.glsl"
#endif

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { W_TYPE gamma[]; };
layout(std430, binding = 2) readonly buffer Bt { W_TYPE beta[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

layout(push_constant) uniform Params {
  uint C, off_x, off_g, off_b, off_d;
  float eps;
  uint rows;
} p;

#ifdef ROW_PER_INVOCATION
void main()
{
  uint row = gl_GlobalInvocationID.x;
  if (row >= p.rows)
    return;
  uint bx = p.off_x + row * p.C;
  uint bd = p.off_d + row * p.C;

  float s = 0.0;
  for (uint c = 0u; c < p.C; c++)
    s += x[bx + c];
  float mean = s / float(p.C);
  float q = 0.0;
  for (uint c = 0u; c < p.C; c++)
    {
      float v = x[bx + c] - mean;
      q += v * v;
    }
  float inv = inversesqrt(q / float(p.C) + p.eps);
  for (uint c = 0u; c < p.C; c++)
    d[bd + c] = (x[bx + c] - mean) * inv * float(gamma[p.off_g + c]) + float(beta[p.off_b + c]);
}
#else

void main()
{
  uint row = gl_WorkGroupID.x;
  uint t = gl_LocalInvocationID.x;
  uint bx = p.off_x + row * p.C;
  uint bd = p.off_d + row * p.C;

  float s = 0.0;
  for (uint c = t; c < p.C; c += REDUCE_SIZE)
    s += x[bx + c];
  float mean = hb_reduce_sum(s) / float(p.C);

  float q = 0.0;
  for (uint c = t; c < p.C; c += REDUCE_SIZE)
    {
      float v = x[bx + c] - mean;
      q += v * v;
    }
  float inv = inversesqrt(hb_reduce_sum(q) / float(p.C) + p.eps);

  for (uint c = t; c < p.C; c += REDUCE_SIZE)
    d[bd + c] = (x[bx + c] - mean) * inv * float(gamma[p.off_g + c]) + float(beta[p.off_b + c]);
}
#endif
