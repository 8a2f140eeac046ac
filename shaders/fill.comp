// SPDX-License-Identifier: GPL-3.0-or-later
// Fill a float buffer with a constant; used to clear accumulators.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) writeonly buffer Dst { float dst[]; };
layout(push_constant) uniform Params { uint n; float value; } p;

void main()
{
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
  if (i < p.n)
    dst[i] = p.value;
}
