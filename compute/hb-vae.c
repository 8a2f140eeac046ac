/* hb-vae.c — the KL autoencoder (VAE) as graphs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * ldm's AutoencoderKL: encoder and decoder of ResNet blocks at each level,
 * a single-head attention block in the middle, 8x down/up sampling for 4
 * levels. Keys are under "first_stage_model.".
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "hb-model-private.h"

#define P "first_stage_model."

typedef struct {
  HbWeights         *w;
  HbGraph           *g;
  const HbVaeConfig *cfg;
} Vae;

static HbTensor *
W (Vae *v, HbWeightRole role, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static HbTensor *
W (Vae *v, HbWeightRole role, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *key = NULL;

  va_start (ap, fmt);
  key = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return hb_weights_get (v->w, v->g, key, role);
}

static gboolean
has (HbWeights *w, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
has (HbWeights *w, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *key = NULL;

  va_start (ap, fmt);
  key = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return hb_weights_has (w, key);
}

gboolean
hb_vae_config_read (HbWeights *w, HbVaeConfig *cfg, GError **error)
{
  int ndim;
  int64_t shape[4];
  const char *scale;

  memset (cfg, 0, sizeof *cfg);
  if (!hb_weights_shape (w, P "decoder.conv_in.weight", &ndim, shape) || ndim != 4)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "No VAE found: the tensor “" P "decoder.conv_in.weight” is missing. "
                   "Huabu needs a checkpoint that includes its VAE.");
      return FALSE;
    }
  cfg->z_channels = shape[1];
  while (has (w, P "decoder.up.%d.block.0.conv1.weight", cfg->n_levels))
    cfg->n_levels++;
  while (has (w, P "decoder.up.0.block.%d.conv1.weight", cfg->num_res_blocks))
    cfg->num_res_blocks++;
  cfg->num_res_blocks--;   /* the decoder has one more block per level than the encoder */
  if (!hb_weights_shape (w, P "decoder.conv_out.weight", &ndim, shape))
    cfg->n_levels = 0;
  cfg->ch = shape[1];
  for (int i = 0; i < cfg->n_levels && i < (int) G_N_ELEMENTS (cfg->channel_mult); i++)
    {
      g_autofree char *k = g_strdup_printf (P "decoder.up.%d.block.0.conv2.weight", i);
      hb_weights_shape (w, k, &ndim, shape);
      cfg->channel_mult[i] = shape[0] / MAX (cfg->ch, 1);
    }
  cfg->has_encoder = hb_weights_has (w, P "encoder.conv_in.weight");
  scale = hb_weights_metadata (w, "huabu.vae_scale_factor");
  cfg->scale_factor = scale ? (float) g_ascii_strtod (scale, NULL) : 0.18215f;
  if (cfg->n_levels < 1 || cfg->n_levels > (int) G_N_ELEMENTS (cfg->channel_mult)
      || cfg->num_res_blocks < 1 || cfg->z_channels != 4 || !(cfg->scale_factor > 0))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The VAE has %d levels, %d blocks per level and %d latent channels; Huabu "
                   "expects the Stable Diffusion 1.x autoencoder (4 latent channels).",
                   cfg->n_levels, cfg->num_res_blocks, cfg->z_channels);
      return FALSE;
    }
  {
    int channels[G_N_ELEMENTS (cfg->channel_mult)];
    for (int i = 0; i < cfg->n_levels; i++)
      channels[i] = cfg->ch * cfg->channel_mult[i];
    return hb_weights_norm_groups (w, "vae", channels, cfg->n_levels, &cfg->norm_groups, error);
  }
}

static HbTensor *
resnet (Vae *v, const char *p, HbTensor *x)
{
  HbGraph *g = v->g;
  HbTensor *h, *skip = x;

  h = hb_group_norm (g, x, W (v, HB_WEIGHT_PLAIN, "%snorm1.weight", p),
                     W (v, HB_WEIGHT_PLAIN, "%snorm1.bias", p), v->cfg->norm_groups, 1e-6f, TRUE);
  h = hb_conv2d (g, h, W (v, HB_WEIGHT_CONV, "%sconv1.weight", p),
                 W (v, HB_WEIGHT_PLAIN, "%sconv1.bias", p), 1, 1, NULL);
  h = hb_group_norm (g, h, W (v, HB_WEIGHT_PLAIN, "%snorm2.weight", p),
                     W (v, HB_WEIGHT_PLAIN, "%snorm2.bias", p), v->cfg->norm_groups, 1e-6f, TRUE);
  if (has (v->w, "%snin_shortcut.weight", p))
    skip = hb_conv2d (g, x, W (v, HB_WEIGHT_CONV, "%snin_shortcut.weight", p),
                      W (v, HB_WEIGHT_PLAIN, "%snin_shortcut.bias", p), 1, 0, NULL);
  return hb_conv2d (g, h, W (v, HB_WEIGHT_CONV, "%sconv2.weight", p),
                    W (v, HB_WEIGHT_PLAIN, "%sconv2.bias", p), 1, 1, skip);
}

static HbTensor *
attn_block (Vae *v, const char *p, HbTensor *x)
{
  HbGraph *g = v->g;
  int64_t B = x->shape[0], H = x->shape[1], Wd = x->shape[2], C = x->shape[3];
  int64_t seq[3] = { B, H * Wd, C };
  int64_t st[3] = { H * Wd * 3 * C, 3 * C, 1 };
  g_autofree char *kq = g_strdup_printf ("%sq.weight", p);
  g_autofree char *kk = g_strdup_printf ("%sk.weight", p);
  g_autofree char *kv = g_strdup_printf ("%sv.weight", p);
  g_autofree char *bq = g_strdup_printf ("%sq.bias", p);
  g_autofree char *bk = g_strdup_printf ("%sk.bias", p);
  g_autofree char *bv = g_strdup_printf ("%sv.bias", p);
  const char *wkeys[3] = { kq, kk, kv };
  const char *bkeys[3] = { bq, bk, bv };
  HbTensor *h, *qkv, *q, *k, *vv;

  h = hb_group_norm (g, x, W (v, HB_WEIGHT_PLAIN, "%snorm.weight", p),
                     W (v, HB_WEIGHT_PLAIN, "%snorm.bias", p), v->cfg->norm_groups, 1e-6f, FALSE);
  h = hb_reshape (g, h, 3, seq);
  qkv = hb_matmul (g, h, hb_weights_get_cat (v->w, g, wkeys, 3, HB_WEIGHT_MATRIX), TRUE,
                   hb_weights_get_cat (v->w, g, bkeys, 3, HB_WEIGHT_PLAIN), HB_ACT_NONE, NULL);
  q = hb_view (g, qkv, 3, seq, st, 0);
  k = hb_view (g, qkv, 3, seq, st, C);
  vv = hb_view (g, qkv, 3, seq, st, 2 * C);
  h = hb_attention (g, q, k, vv, 1, 1.0f / sqrtf ((float) C), FALSE);
  h = hb_matmul (g, h, W (v, HB_WEIGHT_MATRIX, "%sproj_out.weight", p), TRUE,
                 W (v, HB_WEIGHT_PLAIN, "%sproj_out.bias", p), HB_ACT_NONE,
                 hb_reshape (g, x, 3, seq));
  return hb_reshape (g, h, 4, x->shape);
}

static HbTensor *
mid_block (Vae *v, const char *part, HbTensor *x)
{
  g_autofree char *b1 = g_strdup_printf (P "%s.mid.block_1.", part);
  g_autofree char *a1 = g_strdup_printf (P "%s.mid.attn_1.", part);
  g_autofree char *b2 = g_strdup_printf (P "%s.mid.block_2.", part);

  x = resnet (v, b1, x);
  x = attn_block (v, a1, x);
  return resnet (v, b2, x);
}

HbGraph *
hb_vae_decode_build (HbWeights *w, const HbVaeConfig *cfg, int h, int wd,
                     HbTensor **z_out, HbTensor **image_out)
{
  HbGraph *g = hb_graph_new ();
  Vae v = { w, g, cfg };
  int64_t zs[4] = { 1, h, wd, cfg->z_channels };
  HbTensor *z, *x;

  z = hb_graph_input (g, "z", HB_DTYPE_F32, 4, zs);
  x = hb_conv2d (g, z, W (&v, HB_WEIGHT_CONV, P "post_quant_conv.weight"),
                 W (&v, HB_WEIGHT_PLAIN, P "post_quant_conv.bias"), 1, 0, NULL);
  x = hb_conv2d (g, x, W (&v, HB_WEIGHT_CONV, P "decoder.conv_in.weight"),
                 W (&v, HB_WEIGHT_PLAIN, P "decoder.conv_in.bias"), 1, 1, NULL);
  x = mid_block (&v, "decoder", x);
  for (int i = cfg->n_levels - 1; i >= 0; i--)
    {
      for (int j = 0; j <= cfg->num_res_blocks; j++)
        {
          g_autofree char *p = g_strdup_printf (P "decoder.up.%d.block.%d.", i, j);
          x = resnet (&v, p, x);
        }
      if (i != 0)
        {
          x = hb_upsample_nearest2x (g, x);
          x = hb_conv2d (g, x, W (&v, HB_WEIGHT_CONV, P "decoder.up.%d.upsample.conv.weight", i),
                         W (&v, HB_WEIGHT_PLAIN, P "decoder.up.%d.upsample.conv.bias", i),
                         1, 1, NULL);
        }
    }
  x = hb_group_norm (g, x, W (&v, HB_WEIGHT_PLAIN, P "decoder.norm_out.weight"),
                     W (&v, HB_WEIGHT_PLAIN, P "decoder.norm_out.bias"), cfg->norm_groups, 1e-6f, TRUE);
  x = hb_conv2d (g, x, W (&v, HB_WEIGHT_CONV, P "decoder.conv_out.weight"),
                 W (&v, HB_WEIGHT_PLAIN, P "decoder.conv_out.bias"), 1, 1, NULL);
  hb_graph_mark_output (g, x);
  *z_out = z;
  *image_out = x;
  return g;
}

HbGraph *
hb_vae_encode_build (HbWeights *w, const HbVaeConfig *cfg, int h, int wd,
                     HbTensor **image_out, HbTensor **mean_out)
{
  HbGraph *g = hb_graph_new ();
  Vae v = { w, g, cfg };
  int64_t is[4] = { 1, h, wd, 3 };
  HbTensor *img, *x;
  int64_t ms[4], st[4];

  img = hb_graph_input (g, "image", HB_DTYPE_F32, 4, is);
  x = hb_conv2d (g, img, W (&v, HB_WEIGHT_CONV, P "encoder.conv_in.weight"),
                 W (&v, HB_WEIGHT_PLAIN, P "encoder.conv_in.bias"), 1, 1, NULL);
  for (int i = 0; i < cfg->n_levels; i++)
    {
      for (int j = 0; j < cfg->num_res_blocks; j++)
        {
          g_autofree char *p = g_strdup_printf (P "encoder.down.%d.block.%d.", i, j);
          x = resnet (&v, p, x);
        }
      if (i != cfg->n_levels - 1)
        x = hb_conv2d_asym (g, x, W (&v, HB_WEIGHT_CONV, P "encoder.down.%d.downsample.conv.weight", i),
                            W (&v, HB_WEIGHT_PLAIN, P "encoder.down.%d.downsample.conv.bias", i),
                            2, 0, 1, NULL);
    }
  x = mid_block (&v, "encoder", x);
  x = hb_group_norm (g, x, W (&v, HB_WEIGHT_PLAIN, P "encoder.norm_out.weight"),
                     W (&v, HB_WEIGHT_PLAIN, P "encoder.norm_out.bias"), cfg->norm_groups, 1e-6f, TRUE);
  x = hb_conv2d (g, x, W (&v, HB_WEIGHT_CONV, P "encoder.conv_out.weight"),
                 W (&v, HB_WEIGHT_PLAIN, P "encoder.conv_out.bias"), 1, 1, NULL);
  x = hb_conv2d (g, x, W (&v, HB_WEIGHT_CONV, P "quant_conv.weight"),
                 W (&v, HB_WEIGHT_PLAIN, P "quant_conv.bias"), 1, 0, NULL);
  /* The posterior's mean is the first half of the channels. */
  memcpy (ms, x->shape, sizeof ms);
  ms[3] = cfg->z_channels;
  memcpy (st, x->stride, sizeof st);
  x = hb_copy (g, hb_view (g, x, 4, ms, st, 0));
  hb_graph_mark_output (g, x);
  *image_out = img;
  *mean_out = x;
  return g;
}
