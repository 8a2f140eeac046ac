// SPDX-License-Identifier: GPL-3.0-or-later
// Group norm over channels-last [B, S, C] with optional fused SiLU: one
// pass over the group's S * C/G elements for its statistics, one for the
// normalised output. W_TYPE is the storage type of gamma and beta.
//
// One workgroup per (group, image). x is read through uniform texel views
// of VW = 1, 2 or 4 channels a texel (R32F, RG32F, RGBA32F: the widest that
// divides C/G), so a lane fetches a group's channels a vector at a time;
// llvmpipe compiles a storage-buffer load per lane and per component, a
// texel fetch per lane. VW and SILU are compile-time: llvmpipe runs both
// sides of a branch under a mask even where the condition is uniform, so a
// run-time width would pay for four stores per texel, and SiLU for its
// exp() when off. Lane t walks vector t % q (q = cg / VW vectors per
// position and group; lanes walk several when q > WG) of positions
// t / q, t / q + WG / q, ...: after one division per lane, every index is
// a running sum.
//
// The dispatch's rows (image positions, img * S + pos) may be spread over
// up to three chunks of P rows (texel views 0..2, storage bindings 3/6/7),
// so one image may be larger than maxStorageBufferRange (the VAE decoder's
// 128 channels at 512x512 are exactly 128 MiB). The loops run chunk by
// chunk with the chunk uniform over the workgroup, so no lane picks a
// binding per element. Unused chunk bindings repeat chunk 0.
//
// Statistics: each lane sums x - K and (x - K)^2 per component, K being
// the first value it reads of that channel (so the sums hold deviations of
// the size of the channel's spread, not of its mean), in blocks of 256
// positions; the per-lane means and M2 are then merged with Chan's
// formula, over components and over the workgroup. Means are relative to
// the group's first value Kg, and the output is ((x - Kg) - mean) * ...:
// a mean far larger than the spread keeps its low digits.
//
// llvmpipe ends a shader invocation's loops after 65535 iterations in all
// (gallivm's guard against endless loops): the recorder refuses shapes
// where a lane would walk more positions than that allows.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activations.glsl"

// WG_N lanes a workgroup: 256 on GPUs; 8 (one llvmpipe SIMD batch) on CPU
// devices, where every barrier switches between the workgroup's batches.
#ifndef WG_N
#define WG_N 256
#endif
#define WG uint(WG_N)
#define BLOCK 256u

#if VW == 4
#define VEC vec4
#define FETCH(X, i) texelFetch(X, i)
#elif VW == 2
#define VEC vec2
#define FETCH(X, i) texelFetch(X, i).xy
#else
#define VEC float
#define FETCH(X, i) texelFetch(X, i).x
#endif
layout(local_size_x = WG_N) in;

layout(binding = 8) uniform samplerBuffer X0;
layout(binding = 9) uniform samplerBuffer X1;
layout(binding = 10) uniform samplerBuffer X2;
layout(std430, binding = 1) readonly buffer G { W_TYPE gamma[]; };
layout(std430, binding = 2) readonly buffer Bt { W_TYPE beta[]; };
layout(std430, binding = 3) writeonly buffer D0 { float d0[]; };
layout(std430, binding = 6) writeonly buffer D1 { float d1[]; };
layout(std430, binding = 7) writeonly buffer D2 { float d2[]; };

layout(push_constant) uniform Params {
  uint S, C, cg, P;               // P: rows per chunk
  uint off_g, off_b, unused0, unused1;
  uvec4 off_x;                    // texel offset of each chunk's row 0
  uvec4 off_d;                    // element offset of each chunk's row 0
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
  float d = mb - ma;

  ma += d * f;
  m2a += m2b + d * d * na * f;
  na = n;
}

VEC fetch(uint k, int i)
{
  if (k == 0u)
    return FETCH(X0, i);
  if (k == 1u)
    return FETCH(X1, i);
  return FETCH(X2, i);
}

// Component c of a vector (a float is its own component 0).
float comp(VEC v, uint c)
{
#if VW == 1
  return v;
#else
  return v[c];
#endif
}

// The sums over cnt texels of X from texel i on, `di` apart.
#define SUMS(X)                                                         \
  for (uint b = 0u; b < cnt; b += BLOCK)                                \
    {                                                                   \
      VEC b1 = VEC(0.0), b2 = VEC(0.0);                                 \
      for (uint j = b; j < min(b + BLOCK, cnt); j++)                    \
        {                                                               \
          VEC v = FETCH(X, i) - K;                                      \
          b1 += v;                                                      \
          b2 += v * v;                                                  \
          i += di;                                                      \
        }                                                               \
      s1 += b1;                                                         \
      s2 += b2;                                                         \
    }

#if SILU
#define ACTIVATE(y) y = y / (1.0 + exp(-y))
#else
#define ACTIVATE(y)
#endif

#if VW == 1
#define STORE(D, o, y) D[o] = y
#elif VW == 2
#define STORE(D, o, y) D[o] = y.x; D[o + 1u] = y.y
#else
#define STORE(D, o, y) D[o] = y.x; D[o + 1u] = y.y; D[o + 2u] = y.z; D[o + 3u] = y.w
#endif

// Normalises cnt texels of X from texel i on into D from element o on.
#define APPLY(X, D)                                                     \
  for (uint j = 0u; j < cnt; j++)                                       \
    {                                                                   \
      VEC y = ((FETCH(X, i) - Kg) - mean) * a + bt;                     \
      ACTIVATE(y);                                                      \
      STORE(D, o, y);                                                   \
      i += di;                                                          \
      o += dout;                                                        \
    }

void main()
{
  uint g = gl_WorkGroupID.x;
  uint img = gl_WorkGroupID.y;
  uint t = gl_LocalInvocationID.x;
  uint q = p.cg / VW;                    // vectors of one position's group
  uint lanes = min(q, WG);               // lanes per position
  uint step = WG / lanes;                // positions advanced per round
  uint pos0 = t / lanes;
  uint v0 = t % lanes;
  bool working = pos0 < step;            // the last 256 % q lanes idle
  uint Cv = p.C / VW;                    // texels per row
  uint r_img = img * p.S;                // the image's first row
  uint r_end = r_img + p.S;
  int di = int(step * Cv);
  uint dout = step * p.C;
  // the group's first value: means are kept relative to it, so the mean
  // the output subtracts is not rounded to the precision of its size
  float Kg = comp(fetch(r_img / p.P, int(p.off_x[r_img / p.P] + (r_img % p.P) * Cv + g * q)), 0u);

  float n_l = 0.0, mean_l = 0.0, m2_l = 0.0;
  if (working)
    for (uint v = v0; v < q; v += lanes)
      {
        uint r_first = r_img + pos0;
        VEC K = VEC(0.0);
        VEC s1 = VEC(0.0), s2 = VEC(0.0);
        float n = 0.0;

        if (r_first < r_end)
          {
            uint k = r_first / p.P;
            K = fetch(k, int(p.off_x[k] + (r_first - k * p.P) * Cv + g * q + v));
          }
        for (uint k = 0u; k < 3u; k++)
          {
            uint lo = max(r_img, k * p.P), hi = min(r_end, (k + 1u) * p.P);
            if (lo >= hi)
              continue;
            uint r = r_first;
            if (r < lo)
              r += (lo - r + step - 1u) / step * step;
            uint cnt = r < hi ? (hi - r + step - 1u) / step : 0u;
            int i = int(p.off_x[k] + (r - k * p.P) * Cv + g * q + v);
            n += float(cnt);
            if (k == 0u)
              SUMS(X0)
            else if (k == 1u)
              SUMS(X1)
            else
              SUMS(X2)
          }
        for (uint c = 0u; c < VW; c++)
          {
            float m = (comp(K, c) - Kg) + comp(s1, c) / max(n, 1.0);
            float m2 = max(comp(s2, c) - comp(s1, c) * comp(s1, c) / max(n, 1.0), 0.0);
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
  float mean = s_mean[0];        // relative to Kg
  float inv = inversesqrt(s_m2[0] / s_n[0] + p.eps);

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
      for (uint k = 0u; k < 3u; k++)
        {
          uint lo = max(r_img, k * p.P), hi = min(r_end, (k + 1u) * p.P);
          if (lo >= hi)
            continue;
          uint r = r_img + pos0;
          if (r < lo)
            r += (lo - r + step - 1u) / step * step;
          uint cnt = r < hi ? (hi - r + step - 1u) / step : 0u;
          int i = int(p.off_x[k] + (r - k * p.P) * Cv + g * q + v);
          uint o = (r - k * p.P) * p.C + c0;
          if (k == 0u)
            {
              o += p.off_d.x;
              APPLY(X0, d0)
            }
          else if (k == 1u)
            {
              o += p.off_d.y;
              APPLY(X1, d1)
            }
          else
            {
              o += p.off_d.z;
              APPLY(X2, d2)
            }
        }
    }
}
