/* hb-rng.c — seeded standard-normal noise, bit-compatible with PyTorch
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Written from the behaviour of PyTorch's CPUGeneratorImpl / mt19937,
 * the CPU normal kernel (aten/src/ATen/native/cpu/DistributionTemplates.h),
 * TransformationHelper.h, and cuRAND's Philox4x32-10 with curand_normal4
 * as PyTorch's CUDA distribution kernels call it.
 */
#include "hb-rng.h"

#include <math.h>

#define MT_N 624
#define MT_M 397

typedef struct {
  guint32 state[MT_N];
  guint   next;
} Mt19937;

struct _HbRng {
  HbRngKind kind;
  guint64   seed;
  /* HB_RNG_CPU */
  Mt19937   mt;
  gboolean  has_cached_normal;   /* the sine half of the last scalar Box-Muller pair */
  double    cached_normal;
  /* HB_RNG_PHILOX: Philox blocks already used by earlier calls */
  guint64   philox_offset;
};

static void
mt_seed (Mt19937 *mt, guint32 seed)
{
  mt->state[0] = seed;
  for (guint i = 1; i < MT_N; i++)
    mt->state[i] = 1812433253u * (mt->state[i - 1] ^ (mt->state[i - 1] >> 30)) + i;
  mt->next = MT_N;
}

static guint32
mt_next (Mt19937 *mt)
{
  guint32 y;

  if (mt->next >= MT_N)
    {
      for (guint i = 0; i < MT_N; i++)
        {
          guint32 x = (mt->state[i] & 0x80000000u) | (mt->state[(i + 1) % MT_N] & 0x7fffffffu);

          mt->state[i] = mt->state[(i + MT_M) % MT_N] ^ (x >> 1) ^ ((x & 1u) ? 0x9908b0dfu : 0u);
        }
      mt->next = 0;
    }
  y = mt->state[mt->next++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

/* uniform_real_distribution<float>: 24 random bits of one 32-bit draw. */
static float
mt_uniform_float (Mt19937 *mt)
{
  return (float) ((double) (mt_next (mt) & 0xffffffu) / (double) (1u << 24));
}

/* uniform_real_distribution<double>: 53 bits of a 64-bit draw made of two
 * 32-bit draws, the first one high. */
static double
mt_uniform_double (Mt19937 *mt)
{
  guint64 hi = mt_next (mt);
  guint64 lo = mt_next (mt);
  guint64 bits = (hi << 32) | lo;

  return (double) (bits & ((G_GUINT64_CONSTANT (1) << 53) - 1)) /
         (double) (G_GUINT64_CONSTANT (1) << 53);
}

static void
box_muller_16 (float *data)
{
  for (int j = 0; j < 8; j++)
    {
      float u1 = 1.0f - data[j];
      float u2 = data[j + 8];
      float radius = sqrtf (-2.0f * logf (u1));
      double theta = 2.0 * G_PI * u2;

      data[j] = (float) (radius * cos (theta));
      data[j + 8] = (float) (radius * sin (theta));
    }
}

static void
cpu_randn_blocks (HbRng *rng, float *out, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = mt_uniform_float (&rng->mt);
  for (gsize i = 0; i + 16 <= n; i += 16)
    box_muller_16 (out + i);
  /* PyTorch redraws the last 16 values when n is not a multiple of 16,
   * overwriting part of the previous block. */
  if (n % 16 != 0)
    {
      float *tail = out + n - 16;

      for (int i = 0; i < 16; i++)
        tail[i] = mt_uniform_float (&rng->mt);
      box_muller_16 (tail);
    }
}

static double
cpu_normal_scalar (HbRng *rng)
{
  double u1, u2, r, theta;

  if (rng->has_cached_normal)
    {
      rng->has_cached_normal = FALSE;
      return rng->cached_normal;
    }
  u1 = mt_uniform_double (&rng->mt);
  u2 = mt_uniform_double (&rng->mt);
  r = sqrt (-2.0 * log1p (-u2));
  theta = 2.0 * G_PI * u1;
  rng->cached_normal = r * sin (theta);
  rng->has_cached_normal = TRUE;
  return r * cos (theta);
}

static void
cpu_randn (HbRng *rng, float *out, gsize n)
{
  if (n >= 16)
    cpu_randn_blocks (rng, out, n);
  else
    for (gsize i = 0; i < n; i++)
      out[i] = (float) cpu_normal_scalar (rng);
}

typedef struct {
  guint32 v[4];
} Philox4;

static Philox4
philox4x32_10 (Philox4 ctr, guint32 key0, guint32 key1)
{
  for (int round = 0; round < 10; round++)
    {
      guint64 p0 = (guint64) 0xD2511F53u * ctr.v[0];
      guint64 p1 = (guint64) 0xCD9E8D57u * ctr.v[2];
      Philox4 next = { {
        (guint32) (p1 >> 32) ^ ctr.v[1] ^ key0,
        (guint32) p1,
        (guint32) (p0 >> 32) ^ ctr.v[3] ^ key1,
        (guint32) p0,
      } };

      ctr = next;
      key0 += 0x9E3779B9u;
      key1 += 0xBB67AE85u;
    }
  return ctr;
}

/* cuRAND's _curand_box_muller, in float as on the device; the sine half
 * is the first of the pair. */
static float
philox_box_muller_sin (guint32 x, guint32 y)
{
  const float two_pow32_inv = 2.3283064e-10f;
  const float two_pow32_inv_2pi = 2.3283064e-10f * 6.2831855f;
  float u = (float) x * two_pow32_inv + two_pow32_inv / 2.0f;
  float v = (float) y * two_pow32_inv_2pi + two_pow32_inv_2pi / 2.0f;
  float s = sqrtf (-2.0f * logf (u));

  return sinf (v) * s;
}

/* Element i is the first normal of curand_normal4() in thread i, i.e.
 * subsequence i of the Philox stream at the generator's offset: what
 * PyTorch's grid-stride kernel does whenever the grid covers the tensor,
 * and what the web UIs fixed as the portable convention for every size.
 * Each call then moves the offset on by one Philox block (PyTorch's
 * increment of 4 32-bit values). */
static void
philox_randn (HbRng *rng, float *out, gsize n)
{
  guint32 key0 = (guint32) rng->seed;
  guint32 key1 = (guint32) (rng->seed >> 32);

  for (gsize i = 0; i < n; i++)
    {
      Philox4 ctr = { {
        (guint32) rng->philox_offset,
        (guint32) (rng->philox_offset >> 32),
        (guint32) i,
        (guint32) ((guint64) i >> 32),
      } };
      Philox4 r = philox4x32_10 (ctr, key0, key1);

      out[i] = philox_box_muller_sin (r.v[0], r.v[1]);
    }
  rng->philox_offset++;
}

HbRng *
hb_rng_new (HbRngKind kind, guint64 seed)
{
  HbRng *rng;

  g_return_val_if_fail (kind == HB_RNG_CPU || kind == HB_RNG_PHILOX, NULL);

  rng = g_new0 (HbRng, 1);
  rng->kind = kind;
  rng->seed = seed;
  /* PyTorch's mt19937 takes the low 32 bits of the seed. */
  mt_seed (&rng->mt, (guint32) seed);
  return rng;
}

void
hb_rng_free (HbRng *rng)
{
  g_free (rng);
}

void
hb_rng_randn (HbRng *rng, float *out, gsize n)
{
  g_return_if_fail (rng != NULL);
  g_return_if_fail (out != NULL || n == 0);

  if (n == 0)
    return;
  if (rng->kind == HB_RNG_CPU)
    cpu_randn (rng, out, n);
  else
    philox_randn (rng, out, n);
}
