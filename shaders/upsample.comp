// SPDX-License-Identifier: GPL-3.0-or-later
// Nearest-neighbour 2x upsampling of channels-last images:
// [B, H, W, C] -> [B, 2H, 2W, C]. The dispatch covers output rows
// (image row y of image b is row b*2H + y) from row0 on; input row r/2
// serves output row r.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

layout(push_constant) uniform Params {
  uint W, C, row0, n;     // n: output elements of this dispatch
  uint off_x, off_d;      // element offsets of input row row0/2 and output row row0
} p;

void main()
{
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n)
    return;
  uint c = i % p.C;
  uint r = i / p.C;
  uint xo = r % (2u * p.W);
  uint row = p.row0 + r / (2u * p.W);
  uint in_row = row / 2u - p.row0 / 2u;
  d[p.off_d + i] = x[p.off_x + (in_row * p.W + xo / 2u) * p.C + c];
}
