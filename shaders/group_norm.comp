// SPDX-License-Identifier: GPL-3.0-or-later
// Group norm over channels-last [B, S, C] with optional fused SiLU. Two
// passes over the group's S * C/G elements (mean, then variance around
// it), then the normalised output. W_TYPE is the storage type of gamma
// and beta.
//
// The dispatch's rows (image positions, img * S + pos) may be spread over
// up to three storage bindings of P rows each, so one image may be larger
// than maxStorageBufferRange (the VAE decoder's 128 channels at 512x512 are
// exactly 128 MiB). Unused chunk bindings repeat chunk 0.
//
// One workgroup per (group, image); invocation t walks channel t % cg of
// positions t / cg, t / cg + 256 / cg, ... (groups wider than 256 channels:
// each lane also walks channels t, t + 256, ...). This is also the variant for
// CPU-type devices: llvmpipe ends a shader invocation's loops after 65535
// iterations in total (gallivm's guard against endless loops), so one
// invocation cannot walk a whole group of a large image; the loops over
// positions are further split in blocks for the same reason.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activations.glsl"

#define REDUCE_SIZE 256u
layout(local_size_x = 256) in;
#include "reduce.glsl"

#define BLOCK 1024u

layout(std430, binding = 0) readonly buffer X0 { float x0[]; };
layout(std430, binding = 4) readonly buffer X1 { float x1[]; };
layout(std430, binding = 5) readonly buffer X2 { float x2[]; };
layout(std430, binding = 1) readonly buffer G { W_TYPE gamma[]; };
layout(std430, binding = 2) readonly buffer Bt { W_TYPE beta[]; };
layout(std430, binding = 3) writeonly buffer D0 { float d0[]; };
layout(std430, binding = 6) writeonly buffer D1 { float d1[]; };
layout(std430, binding = 7) writeonly buffer D2 { float d2[]; };

layout(push_constant) uniform Params {
  uint S, C, cg, silu;
  uint off_g, off_b, P, unused;   // P: rows per chunk binding
  uvec4 off_x;                    // element offset of each chunk's row 0
  uvec4 off_d;
  float eps;
} p;

// i: element index within chunk k (row within the chunk * C + channel)
float load_x(uint k, uint i)
{
  if (k == 0u)
    return x0[p.off_x.x + i];
  if (k == 1u)
    return x1[p.off_x.y + i];
  return x2[p.off_x.z + i];
}

void store_d(uint k, uint i, float v)
{
  if (k == 0u)
    d0[p.off_d.x + i] = v;
  else if (k == 1u)
    d1[p.off_d.y + i] = v;
  else
    d2[p.off_d.z + i] = v;
}

void main()
{
  uint g = gl_WorkGroupID.x;
  uint img = gl_WorkGroupID.y;
  uint t = gl_LocalInvocationID.x;
  uint lanes = min(p.cg, REDUCE_SIZE);   // lanes per position
  uint step = REDUCE_SIZE / lanes;       // positions advanced per round
  uint pos0 = t / lanes;
  uint c0 = g * p.cg + t % lanes;        // first channel of this lane
  uint c1 = (g + 1u) * p.cg;
  bool working = pos0 < step;            // the last 256 % cg lanes idle
  uint r0 = img * p.S;
  float n = float(p.S * p.cg);

  float s = 0.0;
  if (working)
    for (uint pb = pos0; pb < p.S; pb += step * BLOCK)
      for (uint pos = pb; pos < min(pb + step * BLOCK, p.S); pos += step)
        {
          uint r = r0 + pos;
          for (uint c = c0; c < c1; c += lanes)
            s += load_x(r / p.P, (r % p.P) * p.C + c);
        }
  float mean = hb_reduce_sum(s) / n;

  float q = 0.0;
  if (working)
    for (uint pb = pos0; pb < p.S; pb += step * BLOCK)
      for (uint pos = pb; pos < min(pb + step * BLOCK, p.S); pos += step)
        {
          uint r = r0 + pos;
          for (uint c = c0; c < c1; c += lanes)
            {
              float v = load_x(r / p.P, (r % p.P) * p.C + c) - mean;
              q += v * v;
            }
        }
  float inv = inversesqrt(hb_reduce_sum(q) / n + p.eps);

  if (!working)
    return;
  for (uint c = c0; c < c1; c += lanes)
    {
      float gm = float(gamma[p.off_g + c]) * inv;
      float bt = float(beta[p.off_b + c]);
      for (uint pb = pos0; pb < p.S; pb += step * BLOCK)
        for (uint pos = pb; pos < min(pb + step * BLOCK, p.S); pos += step)
          {
            uint r = r0 + pos;
            uint k = r / p.P;
            uint i = (r % p.P) * p.C + c;
            float y = (load_x(k, i) - mean) * gm + bt;
            store_d(k, i, p.silu != 0u ? hb_silu(y) : y);
          }
    }
}
