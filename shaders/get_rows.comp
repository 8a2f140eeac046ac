// SPDX-License-Identifier: GPL-3.0-or-later
// Embedding gather: out[r, :] = table[clamp(ids[r]), :]. A table larger
// than one storage binding is bound in slices of rows; each dispatch
// writes only the output rows whose id falls in its slice [v0, v1).
// T_TYPE is the table's storage type.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer Tab { T_TYPE table[]; };
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

// Grid: (C / 256, rows).
layout(push_constant) uniform Params {
  uint C, n, V, v0, v1;
  uint row_stride, col_stride;
  uint off_t, off_i, off_d;
} p;

void main()
{
  uint c = gl_GlobalInvocationID.x;
  uint r = gl_WorkGroupID.y;
  if (c >= p.C)
    return;
  uint v = uint(clamp(ids[p.off_i + r], 0, int(p.V) - 1));
  if (v < p.v0 || v >= p.v1)
    return;
  d[p.off_d + r * p.C + c] = float(table[p.off_t + (v - p.v0) * p.row_stride + c * p.col_stride]);
}
