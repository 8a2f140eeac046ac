// SPDX-License-Identifier: GPL-3.0-or-later
// Nearest-neighbour 2x upsampling of channels-last images:
// [B, H, W, C] -> [B, 2H, 2W, C]. The dispatch covers output rows
// (image row y of image b is row b*2H + y) from row0 on, an even row; input
// row r serves output rows 2r and 2r + 1 of the dispatch.
//
// Grid: (input pixels of a row / PX, input rows of this dispatch). A
// workgroup reads PX pixels of one input row and writes each value to the
// four output places it fills, so llvmpipe pays its fixed cost per
// workgroup once per PX pixels, not once per output pixel (which made a
// 128x128x32 output cost 5 ms). Its 64 lanes are split over min(C, 64)
// lanes a pixel and 64 / that pixels at a time, with one division per lane.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#define WG 64u
#define PX 64u

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };

layout(push_constant) uniform Params {
  uint W, C, row0, unused;   // W: input pixels a row
  uint off_x, off_d;         // element offsets of input row row0/2 and output row row0
} p;

void main()
{
  uint lpp = min(p.C, WG);               // lanes a pixel
  uint ppp = WG / lpp;                   // pixels a pass
  uint t = gl_LocalInvocationID.x;
  uint r = gl_WorkGroupID.y;             // input row within the dispatch
  uint x_end = min((gl_WorkGroupID.x + 1u) * PX, p.W);
  uint c0 = t % lpp;
  uint out_row = 2u * p.W * p.C;         // elements of an output row

  if (t / lpp >= ppp)
    return;
  for (uint xi = gl_WorkGroupID.x * PX + t / lpp; xi < x_end; xi += ppp)
    {
      uint src = p.off_x + (r * p.W + xi) * p.C;
      uint dst = p.off_d + 2u * r * out_row + 2u * xi * p.C;

      for (uint c = c0; c < p.C; c += lpp)
        {
          float v = x[src + c];

          d[dst + c] = v;
          d[dst + p.C + c] = v;
          d[dst + out_row + c] = v;
          d[dst + out_row + p.C + c] = v;
        }
    }
}
