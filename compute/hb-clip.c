/* hb-clip.c — the CLIP text encoder as a graph
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * CLIP ViT-L/14's text transformer (and smaller ones of the same shape):
 * token + position embeddings, pre-LN blocks with causal self-attention and
 * a quick-GELU MLP, final layer norm. Keys are under
 * "cond_stage_model.transformer.text_model.".
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "hb-model-private.h"

#define P "cond_stage_model.transformer.text_model."

gboolean
hb_clip_config_read (HbWeights *w, HbClipConfig *cfg, GError **error)
{
  int ndim;
  int64_t shape[4];
  const char *heads;

  memset (cfg, 0, sizeof *cfg);
  if (!hb_weights_shape (w, P "embeddings.token_embedding.weight", &ndim, shape) || ndim != 2)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "No text encoder found: the tensor “" P "embeddings.token_embedding.weight” "
                   "is missing. Huabu reads Stable Diffusion 1.x checkpoints, which contain "
                   "the CLIP text encoder.");
      return FALSE;
    }
  cfg->vocab = shape[0];
  cfg->width = shape[1];
  cfg->positions = hb_weights_shape (w, P "embeddings.position_embedding.weight", &ndim, shape)
                   ? shape[0] : 77;
  while (TRUE)
    {
      g_autofree char *k = g_strdup_printf (P "encoder.layers.%d.layer_norm1.weight", cfg->layers);
      if (!hb_weights_has (w, k))
        break;
      cfg->layers++;
    }
  heads = hb_weights_metadata (w, "huabu.text_heads");
  cfg->heads = heads ? (int) g_ascii_strtoll (heads, NULL, 10) : MAX (1, cfg->width / 64);
  if (cfg->layers == 0 || cfg->heads <= 0 || cfg->width % cfg->heads != 0 || cfg->positions < 77)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The text encoder has %d layers, width %d, %d heads and %d positions; "
                   "Huabu needs at least one layer, a width divisible by the heads and 77 positions.",
                   cfg->layers, cfg->width, cfg->heads, cfg->positions);
      return FALSE;
    }
  return TRUE;
}

static HbTensor *
Wk (HbWeights *w, HbGraph *g, HbWeightRole role, int layer, const char *name)
{
  g_autofree char *key = g_strdup_printf (P "encoder.layers.%d.%s", layer, name);

  return hb_weights_get (w, g, key, role);
}

HbGraph *
hb_clip_build (HbWeights *w, const HbClipConfig *cfg, int batch, int clip_skip,
               HbTensor **ids_out, HbTensor **hidden_out)
{
  HbGraph *g = hb_graph_new ();
  int64_t C = cfg->width, L = 77;
  int64_t ids_shape[1] = { batch * L };
  int64_t seq[3] = { batch, L, C };
  int64_t pos_shape[2] = { L, C };
  int64_t pos_stride[2] = { C, 1 };
  int n_layers = CLAMP (cfg->layers - (clip_skip - 1), 1, cfg->layers);
  HbTensor *ids, *x, *pos;

  ids = hb_graph_input (g, "ids", HB_DTYPE_I32, 1, ids_shape);
  x = hb_get_rows (g, hb_weights_get (w, g, P "embeddings.token_embedding.weight", HB_WEIGHT_PLAIN), ids);
  x = hb_reshape (g, x, 3, seq);
  pos = hb_weights_get (w, g, P "embeddings.position_embedding.weight", HB_WEIGHT_PLAIN);
  pos = hb_view (g, pos, 2, pos_shape, pos_stride, 0);
  x = hb_add (g, x, pos);

  for (int l = 0; l < n_layers; l++)
    {
      g_autofree char *kq = g_strdup_printf (P "encoder.layers.%d.self_attn.q_proj.weight", l);
      g_autofree char *kk = g_strdup_printf (P "encoder.layers.%d.self_attn.k_proj.weight", l);
      g_autofree char *kv = g_strdup_printf (P "encoder.layers.%d.self_attn.v_proj.weight", l);
      g_autofree char *bq = g_strdup_printf (P "encoder.layers.%d.self_attn.q_proj.bias", l);
      g_autofree char *bk = g_strdup_printf (P "encoder.layers.%d.self_attn.k_proj.bias", l);
      g_autofree char *bv = g_strdup_printf (P "encoder.layers.%d.self_attn.v_proj.bias", l);
      const char *wkeys[3] = { kq, kk, kv };
      const char *bkeys[3] = { bq, bk, bv };
      int64_t st[3] = { L * 3 * C, 3 * C, 1 };
      HbTensor *h, *qkv, *q, *k, *v;

      h = hb_layer_norm (g, x, Wk (w, g, HB_WEIGHT_PLAIN, l, "layer_norm1.weight"),
                         Wk (w, g, HB_WEIGHT_PLAIN, l, "layer_norm1.bias"), 1e-5f);
      qkv = hb_matmul (g, h, hb_weights_get_cat (w, g, wkeys, 3, HB_WEIGHT_MATRIX), TRUE,
                       hb_weights_get_cat (w, g, bkeys, 3, HB_WEIGHT_PLAIN), HB_ACT_NONE, NULL);
      q = hb_view (g, qkv, 3, seq, st, 0);
      k = hb_view (g, qkv, 3, seq, st, C);
      v = hb_view (g, qkv, 3, seq, st, 2 * C);
      h = hb_attention (g, q, k, v, cfg->heads, 1.0f / sqrtf ((float) C / cfg->heads), TRUE);
      x = hb_matmul (g, h, Wk (w, g, HB_WEIGHT_MATRIX, l, "self_attn.out_proj.weight"), TRUE,
                     Wk (w, g, HB_WEIGHT_PLAIN, l, "self_attn.out_proj.bias"), HB_ACT_NONE, x);

      h = hb_layer_norm (g, x, Wk (w, g, HB_WEIGHT_PLAIN, l, "layer_norm2.weight"),
                         Wk (w, g, HB_WEIGHT_PLAIN, l, "layer_norm2.bias"), 1e-5f);
      h = hb_matmul (g, h, Wk (w, g, HB_WEIGHT_MATRIX, l, "mlp.fc1.weight"), TRUE,
                     Wk (w, g, HB_WEIGHT_PLAIN, l, "mlp.fc1.bias"), HB_ACT_QUICK_GELU, NULL);
      x = hb_matmul (g, h, Wk (w, g, HB_WEIGHT_MATRIX, l, "mlp.fc2.weight"), TRUE,
                     Wk (w, g, HB_WEIGHT_PLAIN, l, "mlp.fc2.bias"), HB_ACT_NONE, x);
    }
  x = hb_layer_norm (g, x, hb_weights_get (w, g, P "final_layer_norm.weight", HB_WEIGHT_PLAIN),
                     hb_weights_get (w, g, P "final_layer_norm.bias", HB_WEIGHT_PLAIN), 1e-5f);
  hb_graph_mark_output (g, x);
  *ids_out = ids;
  *hidden_out = x;
  return g;
}
