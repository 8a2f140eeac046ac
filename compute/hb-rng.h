/* hb-rng.h — seeded standard-normal noise, bit-compatible with PyTorch
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A seed only means the same picture in two tools when both draw the same
 * noise. These generators reproduce torch.randn():
 *  - HB_RNG_CPU: torch.manual_seed(seed); torch.randn(n) on the CPU
 *    (mt19937; Box-Muller over blocks of 16 float uniforms for n >= 16,
 *    the scalar double-precision path with its cached second value below).
 *  - HB_RNG_PHILOX: the same call on a CUDA device (Philox4x32-10, one
 *    subsequence per element, the counter advanced once per call), which
 *    is what the popular web UIs use for seeds. PyTorch gives exactly this
 *    while the GPU's grid has a thread per element (n up to about
 *    SMs x 2048: a 64x64x4 latent on any CUDA GPU, far larger on big
 *    ones); past that its draws depend on the GPU model, and this keeps
 *    the per-element convention.
 * Consecutive calls continue the stream as consecutive torch.randn() calls
 * would.
 */
#pragma once

#include <glib.h>
#include "huabu-engine.h"

G_BEGIN_DECLS

typedef struct _HbRng HbRng;

HbRng   *hb_rng_new    (HbRngKind kind, guint64 seed);
void     hb_rng_free   (HbRng *rng);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbRng, hb_rng_free)

/* Fills out[0..n) with the next n standard-normal draws. */
void     hb_rng_randn  (HbRng *rng, float *out, gsize n);

G_END_DECLS
