// SPDX-License-Identifier: GPL-3.0-or-later
// Element-wise ops over up to 4 dimensions with arbitrary element strides:
// unary activations, scale/clamp, strided copy, add/mul with numpy
// broadcasting (a broadcast dimension has stride 0) and GEGLU (b is the
// gate half of the same tensor). The op is chosen by a -D define:
// OP_ADD, OP_MUL, OP_GEGLU, OP_GELU, OP_QUICK_GELU, OP_SILU, OP_SCALE,
// OP_COPY; the storage types by A_TYPE, B_TYPE, D_TYPE.
//
// The grid is (last dim / (4 * lanes a row), dim 2 / rows, dims 0 and 1):
// a workgroup walks `rows` (push constant) indices of dim 2, so a short
// last dimension (32 channels of a UNet level, a concat's column range)
// does not cost a workgroup per row: on llvmpipe each workgroup has a
// fixed cost that dwarfed the copy of a few dozen elements. The lanes of a
// workgroup are split over min(last dim, 64) lanes a row and 64 / that
// rows at a time, with one division per lane; nothing divides per element
// (vector integer division is scalarised on llvmpipe and was the whole
// cost). Each invocation handles 4 elements of a row, one lane-row apart,
// so neighbouring invocations touch neighbouring addresses.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activations.glsl"

#define PER_INVOCATION 4u
#define WG 64u

layout(local_size_x = 64) in;

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
  uint off_a, off_b, off_d, rows;  // rows: indices of dim 2 a workgroup
  vec4 scale;      // OP_SCALE: mul, add, lo, hi
} p;

void main()
{
  uint lpr = min(p.ne.w, WG);              // lanes a row
  uint rpp = WG / lpr;                     // rows a pass
  uint t = gl_LocalInvocationID.x;
  uint lane_row = t / lpr;
  uint i1 = gl_WorkGroupID.z % p.ne.y;
  uint i0 = gl_WorkGroupID.z / p.ne.y;
  uint r_end = min((gl_WorkGroupID.y + 1u) * p.rows, p.ne.z);
  uint w0 = gl_WorkGroupID.x * lpr * PER_INVOCATION + t % lpr;

  if (lane_row >= rpp)
    return;
  for (uint i2 = gl_WorkGroupID.y * p.rows + lane_row; i2 < r_end; i2 += rpp)
    {
      uint ia = p.off_a + i0 * p.sa.x + i1 * p.sa.y + i2 * p.sa.z;
      uint ib = p.off_b + i0 * p.sb.x + i1 * p.sb.y + i2 * p.sb.z;
      uint id = p.off_d + i0 * p.sd.x + i1 * p.sd.y + i2 * p.sd.z;

      for (uint k = 0u; k < PER_INVOCATION; k++)
        {
          uint w = w0 + k * lpr;
          if (w >= p.ne.w)
            break;
#if defined(OP_COPY)
          d[id + w * p.sd.w] = a[ia + w * p.sa.w];
#else
          float x = float(a[ia + w * p.sa.w]);
#if defined(OP_ADD)
          float y = x + float(b[ib + w * p.sb.w]);
#elif defined(OP_MUL)
          float y = x * float(b[ib + w * p.sb.w]);
#elif defined(OP_GEGLU)
          float y = x * hb_gelu(float(b[ib + w * p.sb.w]));
#elif defined(OP_GELU)
          float y = hb_gelu(x);
#elif defined(OP_QUICK_GELU)
          float y = hb_quick_gelu(x);
#elif defined(OP_SILU)
          float y = hb_silu(x);
#elif defined(OP_SCALE)
          float y = clamp(x * p.scale.x + p.scale.y, p.scale.z, p.scale.w);
#endif
          d[id + w * p.sd.w] = D_TYPE(y);
#endif
        }
    }
}
