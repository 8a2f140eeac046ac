/* hb-sampler.h — noise schedules and samplers (k-diffusion formulation)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Samplers work in k-diffusion's variables: x = x_ddpm / sqrt(alpha_bar),
 * noise level sigma = sqrt((1 - alpha_bar) / alpha_bar), and a denoiser
 * D(x, sigma) that estimates the clean latent. They are host code: a
 * latent is a few thousand floats, and the UNet behind the denoiser is
 * where the time goes.
 */
#pragma once

#include <glib.h>
#include "huabu-engine.h"

G_BEGIN_DECLS

#define HB_TRAIN_STEPS 1000

/* The model's 1000 sigmas from the scaled-linear beta schedule
 * (beta 0.00085 .. 0.012), ascending. */
const float *hb_model_sigmas        (void);
/* The DDPM timestep (fractional) of a noise level, by log-sigma
 * interpolation as k-diffusion's DiscreteSchedule.sigma_to_t. */
float        hb_sigma_to_t          (float sigma);
float        hb_t_to_sigma          (float t);

/* steps + 1 sigmas, descending, the last one 0 — except DDIM with the
 * discrete schedule, which uses diffusers' "leading" timestep spacing
 * (steps_offset 1) and ends at the smallest training sigma. */
void         hb_sigmas_for          (HbSampler sampler, HbSchedule schedule, int steps,
                                     float *sigmas);

typedef struct {
  /* D(x, sigma) -> denoised; all arrays of n floats. */
  gboolean (*denoise)   (gpointer user, const float *x, float sigma, float *denoised,
                         GError **error);
  /* n standard-normal draws, in the latent's layout. */
  void     (*noise)     (gpointer user, float *out);
  /* After step `step` (0-based) has produced x at sigma_next. May change x
   * (inpainting restores the unmasked area). FALSE stops with *error set. */
  gboolean (*step_done) (gpointer user, int step, int n_steps, float sigma_next,
                         float *x, const float *denoised, GError **error);
  gpointer user;
} HbSamplerCallbacks;

/* Runs `sampler` over sigmas[0..n_steps], updating x (n floats) in place. */
gboolean     hb_sampler_run         (HbSampler sampler, const float *sigmas, int n_steps,
                                     float *x, gsize n, const HbSamplerCallbacks *cb,
                                     GError **error);

G_END_DECLS
