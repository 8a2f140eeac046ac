// SPDX-License-Identifier: GPL-3.0-or-later
// Group norm over channels-last [B, S, C] with optional fused SiLU: one
// workgroup per (group, image). Two passes over the group's S * C/G
// elements (mean, then variance around it), then the normalised output.
// W_TYPE is the storage type of gamma and beta.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activations.glsl"

#define REDUCE_SIZE 256u
layout(local_size_x = 256) in;
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { W_TYPE gamma[]; };
layout(std430, binding = 2) readonly buffer Bt { W_TYPE beta[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

layout(push_constant) uniform Params {
  uint S, C, cg, silu;
  uint off_x, off_g, off_b, off_d;
  float eps;
} p;

void main()
{
  uint g = gl_WorkGroupID.x;
  uint img = gl_WorkGroupID.y;
  uint t = gl_LocalInvocationID.x;
  uint n = p.S * p.cg;
  uint c0 = g * p.cg;
  uint bx = p.off_x + img * p.S * p.C + c0;
  uint bd = p.off_d + img * p.S * p.C + c0;

  float s = 0.0;
  for (uint j = t; j < n; j += REDUCE_SIZE)
    s += x[bx + (j / p.cg) * p.C + j % p.cg];
  float mean = hb_reduce_sum(s) / float(n);

  float q = 0.0;
  for (uint j = t; j < n; j += REDUCE_SIZE)
    {
      float v = x[bx + (j / p.cg) * p.C + j % p.cg] - mean;
      q += v * v;
    }
  float inv = inversesqrt(hb_reduce_sum(q) / float(n) + p.eps);

  for (uint j = t; j < n; j += REDUCE_SIZE)
    {
      uint pos = (j / p.cg) * p.C + j % p.cg;
      uint c = c0 + j % p.cg;
      float y = (x[bx + pos] - mean) * inv * float(gamma[p.off_g + c]) + float(beta[p.off_b + c]);
      d[bd + pos] = p.silu != 0u ? hb_silu(y) : y;
    }
}
