// SPDX-License-Identifier: GPL-3.0-or-later
// Group norm over channels-last [B, S, C] for groups too large for one
// workgroup (the built-in model's VAE has one group: 128x128x32 values),
// in two dispatches, each with many workgroups, so every thread of a CPU
// device takes part. The single-workgroup kernel (group_norm.comp) ran
// one such group on one thread at 0.3 GFLOP/s.
//
//  STATS: workgroup (g, img, part) sums positions [part * PP, (part + 1) * PP)
//    of group g of image img and writes their count, mean and M2 to
//    partial[((img * G + g) * NP + part) * 4 ..].
//  APPLY: workgroup (g, img, part) merges the NP partials of its group
//    (the same order in every workgroup, so all agree bit for bit) and
//    normalises the same positions, with optional fused SiLU.
//
// x is read through uniform texel views of VW = 1, 2 or 4 channels a texel
// (as group_norm.comp, which explains the lane walk and the statistics:
// lanes sum deviations from their first value in blocks of 256 positions,
// merged with Chan's formula; means are relative to the group's first value
// Kg, so a mean far larger than the spread keeps its low digits). The
// dispatch binds whole images: one texel view, one output binding.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activations.glsl"

#ifndef WG_N
#define WG_N 8
#endif
#define WG uint(WG_N)
#define BLOCK 256u

#if VW == 4
#define VEC vec4
#define FETCH(i) texelFetch(X, i)
#elif VW == 2
#define VEC vec2
#define FETCH(i) texelFetch(X, i).xy
#else
#define VEC float
#define FETCH(i) texelFetch(X, i).x
#endif
layout(local_size_x = WG_N) in;

layout(binding = 8) uniform samplerBuffer X;
layout(std430, binding = 1) readonly buffer Gm { W_TYPE gamma[]; };
layout(std430, binding = 2) readonly buffer Bt { W_TYPE beta[]; };
layout(std430, binding = 3) writeonly buffer D { float d[]; };
#if STATS
layout(std430, binding = 4) writeonly buffer Part { float partial[]; };
#else
layout(std430, binding = 4) readonly buffer Part { float partial[]; };
#endif

layout(push_constant) uniform Params {
  uint S, C, cg, G;
  uint NP, PP, off_g, off_b;      // parts a group, positions a part
  uint off_x, off_d, off_p, unused;
  float eps;
} p;

shared float s_n[WG];
shared float s_mean[WG];
shared float s_m2[WG];

// Merges the statistics (nb, mb, m2b) of one set into those of another.
void chan(inout float na, inout float ma, inout float m2a, float nb, float mb, float m2b)
{
  float n = na + nb;
  float f = nb / max(n, 1.0);
  float dm = mb - ma;

  ma += dm * f;
  m2a += m2b + dm * dm * na * f;
  na = n;
}

float comp(VEC v, uint c)
{
#if VW == 1
  return v;
#else
  return v[c];
#endif
}

#if SILU
#define ACTIVATE(y) y = y / (1.0 + exp(-y))
#else
#define ACTIVATE(y)
#endif

#if VW == 1
#define STORE(o, y) d[o] = y
#elif VW == 2
#define STORE(o, y) d[o] = y.x; d[o + 1u] = y.y
#else
#define STORE(o, y) d[o] = y.x; d[o + 1u] = y.y; d[o + 2u] = y.z; d[o + 3u] = y.w
#endif

void main()
{
  uint g = gl_WorkGroupID.x;
  uint img = gl_WorkGroupID.y;
  uint part = gl_WorkGroupID.z;
  uint t = gl_LocalInvocationID.x;
  uint q = p.cg / VW;                    // vectors of one position's group
  uint lanes = min(q, WG);               // lanes per position
  uint step = WG / lanes;                // positions advanced per round
  uint pos0 = t / lanes;
  uint v0 = t % lanes;
  bool working = pos0 < step;
  uint Cv = p.C / VW;                    // texels per row
  uint r_img = img * p.S;                // the image's first row
  uint r_lo = r_img + part * p.PP;       // this part's rows
  uint r_hi = r_img + min((part + 1u) * p.PP, p.S);
  uint r_first = r_lo + pos0;
  uint cnt = r_first < r_hi ? (r_hi - r_first + step - 1u) / step : 0u;
  int di = int(step * Cv);
  uint pbase = p.off_p + (img * p.G + g) * p.NP * 4u;
  // the group's first value: means are kept relative to it
  float Kg = comp(FETCH(int(p.off_x + r_img * Cv + g * q)), 0u);

#if STATS
  float n_l = 0.0, mean_l = 0.0, m2_l = 0.0;
  if (working && cnt > 0u)
    for (uint v = v0; v < q; v += lanes)
      {
        int i0 = int(p.off_x + r_first * Cv + g * q + v);
        int i = i0;
        VEC K = FETCH(i0);
        VEC s1 = VEC(0.0), s2 = VEC(0.0);
        float n = float(cnt);

        for (uint b = 0u; b < cnt; b += BLOCK)
          {
            VEC b1 = VEC(0.0), b2 = VEC(0.0);
            for (uint j = b; j < min(b + BLOCK, cnt); j++)
              {
                VEC x = FETCH(i) - K;
                b1 += x;
                b2 += x * x;
                i += di;
              }
            s1 += b1;
            s2 += b2;
          }
        for (uint c = 0u; c < VW; c++)
          {
            float m = (comp(K, c) - Kg) + comp(s1, c) / n;
            float m2 = max(comp(s2, c) - comp(s1, c) * comp(s1, c) / n, 0.0);
            chan(n_l, mean_l, m2_l, n, m, m2);
          }
      }

  s_n[t] = n_l;
  s_mean[t] = mean_l;
  s_m2[t] = m2_l;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1u)
    {
      if (t < s)
        {
          float na = s_n[t], ma = s_mean[t], m2a = s_m2[t];
          chan(na, ma, m2a, s_n[t + s], s_mean[t + s], s_m2[t + s]);
          s_n[t] = na;
          s_mean[t] = ma;
          s_m2[t] = m2a;
        }
      barrier();
    }
  if (t == 0u)
    {
      uint o = pbase + part * 4u;
      partial[o] = s_n[0];
      partial[o + 1u] = s_mean[0];
      partial[o + 2u] = s_m2[0];
    }
#else
  float n_g = 0.0, mean = 0.0, m2_g = 0.0;
  for (uint k = 0u; k < p.NP; k++)
    chan(n_g, mean, m2_g, partial[pbase + k * 4u], partial[pbase + k * 4u + 1u],
         partial[pbase + k * 4u + 2u]);
  float inv = inversesqrt(m2_g / n_g + p.eps);
  uint dout = step * p.C;

  if (!working)
    return;
  for (uint v = v0; v < q; v += lanes)
    {
      uint c0 = g * p.cg + v * VW;       // the vector's first channel
#if VW == 1
      float a = float(gamma[p.off_g + c0]) * inv;
      float bt = float(beta[p.off_b + c0]);
#else
      VEC a, bt;
      for (uint c = 0u; c < VW; c++)
        {
          a[c] = float(gamma[p.off_g + c0 + c]) * inv;
          bt[c] = float(beta[p.off_b + c0 + c]);
        }
#endif
      int i = int(p.off_x + r_first * Cv + g * q + v);
      uint o = p.off_d + r_first * p.C + c0;

      for (uint j = 0u; j < cnt; j++)
        {
          VEC y = ((FETCH(i) - Kg) - mean) * a + bt;
          ACTIVATE(y);
          STORE(o, y);
          i += di;
          o += dout;
        }
    }
#endif
}
