// SPDX-License-Identifier: GPL-3.0-or-later
// Workgroup-wide sum and max through shared memory, for the row kernels
// (layer norm, group norm, softmax). REDUCE_SIZE is the workgroup size, a
// power of two. Every invocation must call these (they contain barriers).
#ifndef HB_REDUCE_GLSL
#define HB_REDUCE_GLSL

shared float hb_red[REDUCE_SIZE];

float hb_reduce_sum(float v)
{
  uint t = gl_LocalInvocationID.x;
  hb_red[t] = v;
  barrier();
  for (uint s = REDUCE_SIZE / 2u; s > 0u; s >>= 1u)
    {
      if (t < s)
        hb_red[t] += hb_red[t + s];
      barrier();
    }
  float r = hb_red[0];
  barrier();
  return r;
}

float hb_reduce_max(float v)
{
  uint t = gl_LocalInvocationID.x;
  hb_red[t] = v;
  barrier();
  for (uint s = REDUCE_SIZE / 2u; s > 0u; s >>= 1u)
    {
      if (t < s)
        hb_red[t] = max(hb_red[t], hb_red[t + s]);
      barrier();
    }
  float r = hb_red[0];
  barrier();
  return r;
}

#endif
