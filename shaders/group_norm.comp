// SPDX-License-Identifier: GPL-3.0-or-later
// Group norm over channels-last [B, S, C] with optional fused SiLU. Two
// passes over the group's S * C/G elements (mean, then variance around
// it), then the normalised output. W_TYPE is the storage type of gamma
// and beta.
//
// GPUs: one workgroup per (group, image); invocation t walks channel
// t % cg of positions t / cg, t / cg + 256 / cg, ... so no invocation
// divides per element. ROW_PER_INVOCATION (CPU-type devices): one
// invocation per (group, image), no barriers (see layer_norm.comp); sums
// over positions are compensated (Kahan), as a position count of 4096 or
// more would otherwise lose digits in fp32.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activations.glsl"

#ifdef ROW_PER_INVOCATION
layout(local_size_x = 8) in;
#else
#define REDUCE_SIZE 256u
layout(local_size_x = 256) in;
#include "reduce.glsl"
#endif

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { W_TYPE gamma[]; };
layout(std430, binding = 2) readonly buffer Bt { W_TYPE beta[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

layout(push_constant) uniform Params {
  uint S, C, cg, silu;
  uint off_x, off_g, off_b, off_d;
  float eps;
} p;

#ifdef ROW_PER_INVOCATION
// Compensated accumulation of v into (sum, c).
void kahan(inout float sum, inout float c, float v)
{
  float y = v - c;
  float t = sum + y;
  c = (t - sum) - y;
  sum = t;
}

void main()
{
  uint g = gl_GlobalInvocationID.x;
  uint img = gl_WorkGroupID.y;
  if (g * p.cg >= p.C)
    return;
  uint bx = p.off_x + img * p.S * p.C + g * p.cg;
  uint bd = p.off_d + img * p.S * p.C + g * p.cg;
  float n = float(p.S * p.cg);

  float s = 0.0, comp = 0.0;
  for (uint pos = 0u; pos < p.S * p.C; pos += p.C)
    {
      float row = 0.0;
      for (uint c = 0u; c < p.cg; c++)
        row += x[bx + pos + c];
      kahan(s, comp, row);
    }
  float mean = s / n;

  float q = 0.0;
  comp = 0.0;
  for (uint pos = 0u; pos < p.S * p.C; pos += p.C)
    {
      float row = 0.0;
      for (uint c = 0u; c < p.cg; c++)
        {
          float v = x[bx + pos + c] - mean;
          row += v * v;
        }
      kahan(q, comp, row);
    }
  float inv = inversesqrt(q / n + p.eps);

  for (uint pos = 0u; pos < p.S * p.C; pos += p.C)
    for (uint c = 0u; c < p.cg; c++)
      {
        uint ch = g * p.cg + c;
        float y = (x[bx + pos + c] - mean) * inv * float(gamma[p.off_g + ch]) + float(beta[p.off_b + ch]);
        d[bd + pos + c] = p.silu != 0u ? hb_silu(y) : y;
      }
}
#else
void main()
{
  uint g = gl_WorkGroupID.x;
  uint img = gl_WorkGroupID.y;
  uint t = gl_LocalInvocationID.x;
  uint c = t % p.cg;
  uint step = REDUCE_SIZE / p.cg;        // positions advanced per round
  uint pos0 = t / p.cg;
  bool working = pos0 < step;             // the last t % cg lanes idle
  uint c0 = g * p.cg;
  uint bx = p.off_x + img * p.S * p.C + c0 + c;
  uint bd = p.off_d + img * p.S * p.C + c0 + c;
  float n = float(p.S * p.cg);

  float s = 0.0;
  if (working)
    for (uint pos = pos0; pos < p.S; pos += step)
      s += x[bx + pos * p.C];
  float mean = hb_reduce_sum(s) / n;

  float q = 0.0;
  if (working)
    for (uint pos = pos0; pos < p.S; pos += step)
      {
        float v = x[bx + pos * p.C] - mean;
        q += v * v;
      }
  float inv = inversesqrt(hb_reduce_sum(q) / n + p.eps);

  if (!working)
    return;
  float gm = float(gamma[p.off_g + c0 + c]) * inv;
  float bt = float(beta[p.off_b + c0 + c]);
  for (uint pos = pos0; pos < p.S; pos += step)
    {
      float y = (x[bx + pos * p.C] - mean) * gm + bt;
      d[bd + pos * p.C] = p.silu != 0u ? hb_silu(y) : y;
    }
}
#endif
