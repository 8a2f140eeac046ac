// SPDX-License-Identifier: GPL-3.0-or-later
// Latent preview: [.., 4] latents -> packed RGBA8 through a 4x3 matrix and
// bias, rgb = clamp((l M + bias) * 0.5 + 0.5), alpha opaque; red in the
// lowest byte.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer L { vec4 lat[]; };
layout(std430, binding = 3) writeonly buffer D { uint d[]; };

layout(push_constant) uniform Params {
  vec4 m0, m1, m2;        // columns of M (R, G, B), one vec4 over the 4 latents
  vec4 bias;
  uint n, off_l, off_d;   // off_l in vec4s
} p;

uint to_byte(float v)
{
  return uint(floor(clamp(v * 0.5 + 0.5, 0.0, 1.0) * 255.0 + 0.5));
}

void main()
{
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n)
    return;
  vec4 l = lat[p.off_l + i];
  d[p.off_d + i] = to_byte(dot(l, p.m0) + p.bias.x)
                 | to_byte(dot(l, p.m1) + p.bias.y) << 8u
                 | to_byte(dot(l, p.m2) + p.bias.z) << 16u
                 | 0xff000000u;
}
