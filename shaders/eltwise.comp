// SPDX-License-Identifier: GPL-3.0-or-later
// Element-wise ops over up to 4 dimensions with arbitrary element strides:
// unary activations, scale/clamp, strided copy, add/mul with numpy
// broadcasting (a broadcast dimension has stride 0) and GEGLU (b is the
// gate half of the same tensor). The op is chosen by a -D define:
// OP_ADD, OP_MUL, OP_GEGLU, OP_GELU, OP_QUICK_GELU, OP_SILU, OP_SCALE,
// OP_COPY; the storage types by A_TYPE, B_TYPE, D_TYPE.
//
// Invocation i handles elements i*4 .. i*4+3 of the dispatch's index
// space, so the 4D index is decoded once per 4 elements when the last
// dimension allows.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activations.glsl"

#define PER_INVOCATION 4u

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer A { A_TYPE a[]; };
#if defined(OP_ADD) || defined(OP_MUL) || defined(OP_GEGLU)
layout(std430, binding = 1) readonly buffer B { B_TYPE b[]; };
#endif
layout(std430, binding = 2) writeonly buffer D { D_TYPE d[]; };

layout(push_constant) uniform Params {
  uvec4 ne;        // shape, outermost first
  uvec4 sa;        // strides of a, b and d in elements
  uvec4 sb;
  uvec4 sd;
  uint off_a, off_b, off_d, n;
  vec4 scale;      // OP_SCALE: mul, add, lo, hi
} p;

void main()
{
  uint first = gl_GlobalInvocationID.x * PER_INVOCATION;
  if (first >= p.n)
    return;

  uint i3 = first % p.ne.w;
  uint r = first / p.ne.w;
  uint i2 = r % p.ne.z;
  r /= p.ne.z;
  uint i1 = r % p.ne.y;
  uint i0 = r / p.ne.y;

  uint ia = p.off_a + i0 * p.sa.x + i1 * p.sa.y + i2 * p.sa.z + i3 * p.sa.w;
  uint ib = p.off_b + i0 * p.sb.x + i1 * p.sb.y + i2 * p.sb.z + i3 * p.sb.w;
  uint id = p.off_d + i0 * p.sd.x + i1 * p.sd.y + i2 * p.sd.z + i3 * p.sd.w;

  for (uint k = 0u; k < PER_INVOCATION && first + k < p.n; k++)
    {
      if (k > 0u)
        {
          // step to the next element; carry into outer dims at a row end
          i3++;
          ia += p.sa.w; ib += p.sb.w; id += p.sd.w;
          if (i3 == p.ne.w)
            {
              uint e = first + k;
              i3 = 0u;
              r = e / p.ne.w;
              i2 = r % p.ne.z;
              r /= p.ne.z;
              i1 = r % p.ne.y;
              i0 = r / p.ne.y;
              ia = p.off_a + i0 * p.sa.x + i1 * p.sa.y + i2 * p.sa.z;
              ib = p.off_b + i0 * p.sb.x + i1 * p.sb.y + i2 * p.sb.z;
              id = p.off_d + i0 * p.sd.x + i1 * p.sd.y + i2 * p.sd.z;
            }
        }
#if defined(OP_COPY)
      d[id] = a[ia];
#else
      float x = float(a[ia]);
#if defined(OP_ADD)
      float y = x + float(b[ib]);
#elif defined(OP_MUL)
      float y = x * float(b[ib]);
#elif defined(OP_GEGLU)
      float y = x * hb_gelu(float(b[ib]));
#elif defined(OP_GELU)
      float y = hb_gelu(x);
#elif defined(OP_QUICK_GELU)
      float y = hb_quick_gelu(x);
#elif defined(OP_SILU)
      float y = hb_silu(x);
#elif defined(OP_SCALE)
      float y = clamp(x * p.scale.x + p.scale.y, p.scale.z, p.scale.w);
#endif
      d[id] = D_TYPE(y);
#endif
    }
}
