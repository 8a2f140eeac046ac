// SPDX-License-Identifier: GPL-3.0-or-later
// Sinusoidal timestep embedding, cosines first (flip_sin_to_cos):
// out[b, i] = cos(t_b f_i), out[b, half + i] = sin(t_b f_i),
// f_i = max_period^(-i / half). An odd last element is zero.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer T { float ts[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

layout(push_constant) uniform Params {
  uint dim, n, off_t, off_d;
  float log_max_period;
} p;

void main()
{
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n)
    return;
  uint b = i / p.dim;
  uint j = i % p.dim;
  uint half_dim = p.dim / 2u;
  float v = 0.0;
  if (j < 2u * half_dim)
    {
      uint k = j % half_dim;
      // Large timesteps (up to 1000) times f_0 = 1 need full precision in
      // the argument; fp32 matches the reference to ~1e-4 rad there.
      float arg = ts[p.off_t + b] * exp(-p.log_max_period * float(k) / float(half_dim));
      v = j < half_dim ? cos(arg) : sin(arg);
    }
  d[p.off_d + i] = v;
}
