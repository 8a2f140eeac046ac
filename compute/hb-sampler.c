/* hb-sampler.c — noise schedules and samplers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The formulas follow k-diffusion (Katherine Crowson), which is what the
 * popular web UIs run, so that a seed gives the same picture there and
 * here. Each sampler names its source below.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "hb-sampler.h"

static float model_sigmas[HB_TRAIN_STEPS];
static float log_sigmas[HB_TRAIN_STEPS];

static gpointer
init_sigmas (gpointer data)
{
  double ac = 1.0;
  double b0 = sqrt (0.00085), b1 = sqrt (0.012);

  for (int i = 0; i < HB_TRAIN_STEPS; i++)
    {
      double beta = b0 + (b1 - b0) * i / (HB_TRAIN_STEPS - 1);
      float acf;
      beta *= beta;
      ac *= 1.0 - beta;
      /* ldm keeps alphas_cumprod as float32; the sigmas derive from that. */
      acf = (float) ac;
      model_sigmas[i] = sqrtf ((1.0f - acf) / acf);
      log_sigmas[i] = logf (model_sigmas[i]);
    }
  return NULL;
}

const float *
hb_model_sigmas (void)
{
  static GOnce once = G_ONCE_INIT;

  g_once (&once, init_sigmas, NULL);
  return model_sigmas;
}

float
hb_sigma_to_t (float sigma)
{
  float ls = logf (sigma);
  int low = 0;
  float w;

  hb_model_sigmas ();
  for (int i = 0; i < HB_TRAIN_STEPS; i++)
    if (ls - log_sigmas[i] >= 0)
      low = i;
  low = MIN (low, HB_TRAIN_STEPS - 2);
  w = (log_sigmas[low] - ls) / (log_sigmas[low] - log_sigmas[low + 1]);
  w = CLAMP (w, 0.0f, 1.0f);
  return (1.0f - w) * low + w * (low + 1);
}

float
hb_t_to_sigma (float t)
{
  int low = (int) floorf (t), high = (int) ceilf (t);
  float w = t - floorf (t);

  hb_model_sigmas ();
  low = CLAMP (low, 0, HB_TRAIN_STEPS - 1);
  high = CLAMP (high, 0, HB_TRAIN_STEPS - 1);
  return expf ((1.0f - w) * log_sigmas[low] + w * log_sigmas[high]);
}

void
hb_sigmas_for (HbSampler sampler, HbSchedule schedule, int steps, float *sigmas)
{
  const float *ms = hb_model_sigmas ();

  if (schedule == HB_SCHEDULE_KARRAS)
    {
      /* Karras et al. (2022), rho = 7, between the model's extreme sigmas. */
      double rho = 7.0;
      double min_inv = pow (ms[0], 1.0 / rho), max_inv = pow (ms[HB_TRAIN_STEPS - 1], 1.0 / rho);

      for (int i = 0; i < steps; i++)
        {
          double ramp = steps > 1 ? (double) i / (steps - 1) : 0.0;
          sigmas[i] = (float) pow (max_inv + ramp * (min_inv - max_inv), rho);
        }
    }
  else if (sampler == HB_SAMPLER_DDIM)
    {
      /* diffusers' DDIMScheduler for SD 1.x: "leading" spacing, offset 1,
       * and the last step goes to alpha_bar[0] (set_alpha_to_one off). */
      int ratio = MAX (1, HB_TRAIN_STEPS / steps);

      for (int i = 0; i < steps; i++)
        sigmas[i] = ms[MIN ((steps - 1 - i) * ratio + 1, HB_TRAIN_STEPS - 1)];
      sigmas[steps] = ms[0];
      return;
    }
  else
    {
      /* k-diffusion's DiscreteSchedule.get_sigmas: t = linspace(999, 0, n). */
      for (int i = 0; i < steps; i++)
        {
          float t = steps > 1 ? (float) (HB_TRAIN_STEPS - 1) * (1.0f - (float) i / (steps - 1))
                              : (float) (HB_TRAIN_STEPS - 1);
          sigmas[i] = hb_t_to_sigma (t);
        }
    }
  sigmas[steps] = 0.0f;
}

gboolean
hb_sampler_run (HbSampler sampler, const float *sigmas, int n_steps,
                float *x, gsize n, const HbSamplerCallbacks *cb, GError **error)
{
  g_autofree float *denoised = g_new (float, n);
  g_autofree float *old_denoised = NULL;
  g_autofree float *noise = NULL;

  if (sampler == HB_SAMPLER_EULER_A || sampler == HB_SAMPLER_LCM)
    noise = g_new (float, n);
  if (sampler == HB_SAMPLER_DPMPP_2M)
    old_denoised = g_new (float, n);

  for (int i = 0; i < n_steps; i++)
    {
      float s = sigmas[i], s_next = sigmas[i + 1];

      if (!cb->denoise (cb->user, x, s, denoised, error))
        return FALSE;

      switch (sampler)
        {
        case HB_SAMPLER_EULER:
        case HB_SAMPLER_DDIM:
          /* sample_euler; deterministic DDIM is the same step in these
           * variables, on its own timestep spacing (hb_sigmas_for). */
          for (gsize j = 0; j < n; j++)
            x[j] = x[j] + (x[j] - denoised[j]) / s * (s_next - s);
          break;

        case HB_SAMPLER_EULER_A:
          {
            /* sample_euler_ancestral with eta 1 */
            float up = 0.f, down = s_next;
            if (s_next > 0)
              {
                up = fminf (s_next, sqrtf (s_next * s_next * (s * s - s_next * s_next) / (s * s)));
                down = sqrtf (s_next * s_next - up * up);
              }
            for (gsize j = 0; j < n; j++)
              x[j] = x[j] + (x[j] - denoised[j]) / s * (down - s);
            if (s_next > 0)
              {
                cb->noise (cb->user, noise);
                for (gsize j = 0; j < n; j++)
                  x[j] += noise[j] * up;
              }
          }
          break;

        case HB_SAMPLER_DPMPP_2M:
          {
            /* sample_dpmpp_2m: second-order multistep in log-sigma time. */
            double t = -log (s), t_next = s_next > 0 ? -log (s_next) : INFINITY;
            double h = t_next - t;
            double ratio = s_next / s;
            double em1 = s_next > 0 ? expm1 (-h) : -1.0;

            if (i == 0 || s_next == 0)
              for (gsize j = 0; j < n; j++)
                x[j] = (float) (ratio * x[j] - em1 * denoised[j]);
            else
              {
                double h_last = t - (-log (sigmas[i - 1]));
                double r = h_last / h;
                double a = 1.0 + 1.0 / (2.0 * r), b = 1.0 / (2.0 * r);
                for (gsize j = 0; j < n; j++)
                  x[j] = (float) (ratio * x[j] - em1 * (a * denoised[j] - b * old_denoised[j]));
              }
            memcpy (old_denoised, denoised, n * sizeof (float));
          }
          break;

        case HB_SAMPLER_LCM:
          /* sample_lcm: jump to the estimate, then re-noise to the next level. */
          memcpy (x, denoised, n * sizeof (float));
          if (s_next > 0)
            {
              cb->noise (cb->user, noise);
              for (gsize j = 0; j < n; j++)
                x[j] += noise[j] * s_next;
            }
          break;

        case HB_N_SAMPLERS:
        default:
          g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_ARGUMENT,
                       "Unknown sampler %d", sampler);
          return FALSE;
        }

      if (!cb->step_done (cb->user, i, n_steps, s_next, x, denoised, error))
        return FALSE;
    }
  return TRUE;
}
