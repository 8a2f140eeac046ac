// SPDX-License-Identifier: GPL-3.0-or-later
// Nearest-neighbour 2x upsampling of channels-last images:
// [B, H, W, C] -> [B, 2H, 2W, C]. The dispatch covers output rows
// (image row y of image b is row b*2H + y) from row0 on; input row r/2
// serves output row r.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

// Grid: (C / 64, 2W, output rows of this dispatch), so only the channel
// varies within a workgroup and nothing divides per element.
layout(push_constant) uniform Params {
  uint W, C, row0, unused;
  uint off_x, off_d;      // element offsets of input row row0/2 and output row row0
} p;

void main()
{
  uint c = gl_GlobalInvocationID.x;
  if (c >= p.C)
    return;
  uint xo = gl_WorkGroupID.y;
  uint r = gl_WorkGroupID.z;
  uint in_row = (p.row0 + r) / 2u - p.row0 / 2u;
  d[p.off_d + (r * 2u * p.W + xo) * p.C + c] = x[p.off_x + (in_row * p.W + xo / 2u) * p.C + c];
}
