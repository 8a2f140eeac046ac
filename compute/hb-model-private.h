/* hb-model-private.h — what the model builders share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The text encoder, UNet and VAE are described as graphs (hb-graph.h) from
 * weights found by their CompVis/ldm key names. HbWeights converts each
 * checkpoint tensor once into the dtype the engine wants and keeps it, so
 * that the same host pointer is used by every graph and each backend
 * uploads it only once.
 */
#pragma once

#include "hb-graph.h"
#include "hb-backend.h"

G_BEGIN_DECLS

typedef struct _HbCheckpoint HbCheckpoint;
typedef struct _HbWeights HbWeights;

typedef enum {
  HB_WEIGHT_PLAIN,     /* biases, norms, embeddings: as stored, fp32 */
  HB_WEIGHT_MATRIX,    /* linear weight [N, K]: compute dtype */
  HB_WEIGHT_CONV,      /* conv weight, permuted to [Cout, KH, KW, Cin]: compute dtype */
} HbWeightRole;

HbWeights *hb_weights_new        (HbCheckpoint *ckpt, HbDType matrix_dtype);
void       hb_weights_free       (HbWeights *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbWeights, hb_weights_free)

gboolean   hb_weights_has        (HbWeights *w, const char *key);
/* Shape of a checkpoint tensor as stored (PyTorch layout); FALSE if absent. */
gboolean   hb_weights_shape      (HbWeights *w, const char *key, int *ndim, int64_t shape[4]);
/* A graph leaf for the tensor `key`. A conv weight stored as [C, C] (a
 * diffusers linear in place of a 1x1 conv) is accepted for HB_WEIGHT_CONV
 * and HB_WEIGHT_MATRIX alike. On a missing or malformed tensor, sets the
 * builder's error (first one wins) and returns a zero-filled stand-in so
 * that graph building can finish; the caller checks hb_weights_error(). */
HbTensor  *hb_weights_get        (HbWeights *w, HbGraph *g, const char *key, HbWeightRole role);
/* Several linear weights (or biases) concatenated along the output
 * dimension, e.g. to_q|to_k|to_v into one matmul. */
HbTensor  *hb_weights_get_cat    (HbWeights *w, HbGraph *g, const char *const *keys, guint n,
                                  HbWeightRole role);
/* A conv weight [Cout, KH, KW, cin] whose input channels beyond the
 * stored ones are zeros: for an input widened to a multiple of 4, which
 * the CPU-type kernels read as RGBA texels. */
HbTensor  *hb_weights_get_conv_padded (HbWeights *w, HbGraph *g, const char *key, int64_t cin);
GError    *hb_weights_error      (HbWeights *w);
/* Gives back the host memory of every weight converted so far, once the
 * backend holds its own copy (after hb_backend_prepare). A trimmed weight
 * is converted again if a later graph asks for it. */
void       hb_weights_trim       (HbWeights *w);
/* The same for the one weight whose leaf points at `data`, as soon as a
 * backend has its own copy: trimming weight by weight during an upload
 * keeps host copies and device copies from adding up. */
void       hb_weights_trim_data  (HbWeights *w, const void *data);
const char*hb_weights_metadata   (HbWeights *w, const char *key);
/* GroupNorm groups of `part` ("unet" or "vae"): metadata huabu.<part>_norm_groups
 * (diffusers: norm_num_groups), 32 by default as in SD 1.x; an error when it
 * is not a number or does not divide every one of `channels`. */
gboolean   hb_weights_norm_groups (HbWeights *w, const char *part, const int *channels, int n,
                                   int *groups, GError **error);
gsize      hb_weights_host_bytes (HbWeights *w);

/* --- architecture, read from names and shapes ------------------------- */

typedef struct {
  int width;          /* hidden size */
  int layers;
  int heads;
  int vocab;
  int positions;      /* 77 */
} HbClipConfig;

typedef struct {
  int in_channels;    /* 4 + coord_channels */
  int coord_channels; /* huabu.unet_coord_channels: 0, or 2 (x and y planes after the latent) */
  int out_channels;
  int model_channels;
  int context_dim;
  int heads;
  int n_input_blocks;
  int n_output_blocks;
  gboolean linear_proj;   /* proj_in/out are linear (SD 2 style) not 1x1 conv */
  gboolean v_prediction;
  int n_levels;
  int channel_mult[8];
  int num_res_blocks;
  int norm_groups;        /* GroupNorm groups (32 in SD 1.x) */
} HbUnetConfig;

typedef struct {
  int ch;
  int n_levels;
  int channel_mult[8];
  int num_res_blocks;
  int z_channels;
  float scale_factor;
  gboolean has_encoder;
  int norm_groups;        /* GroupNorm groups (32 in SD 1.x) */
} HbVaeConfig;

gboolean   hb_clip_config_read   (HbWeights *w, HbClipConfig *cfg, GError **error);
gboolean   hb_unet_config_read   (HbWeights *w, HbUnetConfig *cfg, GError **error);
gboolean   hb_vae_config_read    (HbWeights *w, HbVaeConfig *cfg, GError **error);

/* Graphs. Inputs and outputs are returned through the pointers.
 *  text:  ids I32 [B, 77] -> hidden [B, 77, width]; clip_skip >= 1
 *  unet:  x [B, h, w, hb_unet_x_channels] (the latent, then coordinate planes,
 *         then zeros), t [B], ctx [B, L, context_dim] -> eps [B, h, w, 4];
 *         with ctx_kv_width > 0, ctx is instead the context's keys and
 *         values [B, L, ctx_kv_width] as the context graph computes them
 *         (they do not change from step to step)
 *  context: ctx [B, L, context_dim] -> keys and values of every
 *         cross-attention [B, L, hb_unet_context_kv_width]
 *  decode: z [1, h, w, 4] (already divided by the scale factor) -> image [1, 8h, 8w, 3] in [-1, 1]
 *  encode: image [1, H, W, 3] in [-1, 1] -> mean [1, H/8, W/8, 4] (not yet scaled) */
HbGraph   *hb_clip_build         (HbWeights *w, const HbClipConfig *cfg, int batch, int clip_skip,
                                  HbTensor **ids, HbTensor **hidden);
HbGraph   *hb_unet_build         (HbWeights *w, const HbUnetConfig *cfg, int batch, int h, int wd,
                                  int ctx_len, int64_t ctx_kv_width, HbTensor **x, HbTensor **t,
                                  HbTensor **ctx, HbTensor **eps);
/* Width of the context graph's output; 0 where some cross-attention block
 * cannot join it (the UNet graph then reads the context itself). */
int64_t    hb_unet_context_kv_width (HbWeights *w, const HbUnetConfig *cfg);
HbGraph   *hb_unet_context_build (HbWeights *w, const HbUnetConfig *cfg, int batch, int ctx_len,
                                  HbTensor **ctx, HbTensor **kv);

/* Channels of the UNet's input x: in_channels rounded up to a multiple of
 * 4 (the CPU-type kernels read activations as RGBA texels). */
static inline int
hb_unet_x_channels (const HbUnetConfig *cfg)
{
  return (cfg->in_channels + 3) & ~3;
}
HbGraph   *hb_vae_decode_build   (HbWeights *w, const HbVaeConfig *cfg, int h, int wd,
                                  HbTensor **z, HbTensor **image);
HbGraph   *hb_vae_encode_build   (HbWeights *w, const HbVaeConfig *cfg, int h, int wd,
                                  HbTensor **image, HbTensor **mean);

G_END_DECLS
