// SPDX-License-Identifier: GPL-3.0-or-later
// Activation functions, written as the reference backend defines them.
#ifndef HB_ACTIVATIONS_GLSL
#define HB_ACTIVATIONS_GLSL

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): GLSL has no erf and
// the reference GELU is the exact erf form (PyTorch's default), not the
// tanh approximation.
float hb_erf(float x)
{
  float t = 1.0 / (1.0 + 0.3275911 * abs(x));
  float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t
                    - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return sign(x) * y;
}

float hb_gelu(float x)
{
  return 0.5 * x * (1.0 + hb_erf(x * 0.70710678118654752));
}

// exp(-x) overflows to +inf for x < -88, and x / inf is the right limit 0.
float hb_silu(float x)
{
  return x / (1.0 + exp(-x));
}

float hb_quick_gelu(float x)
{
  return x / (1.0 + exp(-1.702 * x));
}

#endif
