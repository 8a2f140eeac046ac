/* hb-unet.c — the Stable Diffusion 1.x UNet as a graph
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Walks the checkpoint's blocks in the order ldm's UNetModel runs them,
 * deciding each block's kind from which keys exist and its channels from
 * the weights' shapes. So the same code builds SD 1.x (320 channels,
 * 4 levels, 2 res blocks) and the small built-in model.
 *
 * All keys are under "model.diffusion_model.".
 */

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hb-model-private.h"

#define P "model.diffusion_model."

typedef struct {
  HbWeights          *w;
  HbGraph            *g;
  const HbUnetConfig *cfg;
  int                 batch;
  /* Every res block's time-embedding projection, and every cross-attention
   * block's keys and values of the context, each computed by one matmul for
   * the whole UNet (they all read the same input): fewer, larger dispatches.
   * The tables map a block's prefix to its first column (+ 1). */
  HbTensor           *emb_all;       /* [B, sum of res blocks' Cout] */
  GHashTable         *emb_cols;
  HbTensor           *kv_all;        /* [B, Lc, sum of 2 C], k then v a block */
  GHashTable         *kv_cols;
} Unet;

static HbTensor *
W (Unet *u, HbWeightRole role, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static HbTensor *
W (Unet *u, HbWeightRole role, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *key = NULL;

  va_start (ap, fmt);
  key = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return hb_weights_get (u->w, u->g, key, role);
}

static gboolean
has (Unet *u, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
has (Unet *u, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *key = NULL;

  va_start (ap, fmt);
  key = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return hb_weights_has (u->w, key);
}

static int64_t
dim0 (HbWeights *w, const char *key)
{
  int ndim;
  int64_t shape[4];

  return hb_weights_shape (w, key, &ndim, shape) ? shape[0] : 0;
}

/* ResBlock: x [B,H,W,Cin] -> [B,H,W,Cout]. emb_silu is SiLU(time embedding). */
static HbTensor *
res_block (Unet *u, const char *p, HbTensor *x, HbTensor *emb_silu)
{
  HbGraph *g = u->g;
  int64_t cout;
  int64_t eshape[4];
  HbTensor *h, *e, *skip;
  g_autofree char *k = g_strdup_printf ("%sin_layers.2.weight", p);
  int col;

  cout = dim0 (u->w, k);
  h = hb_group_norm (g, x, W (u, HB_WEIGHT_PLAIN, "%sin_layers.0.weight", p),
                     W (u, HB_WEIGHT_PLAIN, "%sin_layers.0.bias", p), u->cfg->norm_groups, 1e-5f, TRUE);
  eshape[0] = u->batch;
  eshape[1] = 1;
  eshape[2] = 1;
  eshape[3] = cout;
  col = GPOINTER_TO_INT (g_hash_table_lookup (u->emb_cols, p)) - 1;
  if (col >= 0)
    {
      int64_t n = u->emb_all->shape[1];
      int64_t st[4] = { n, cout, cout, 1 };

      e = hb_view (g, u->emb_all, 4, eshape, st, col);
    }
  else
    {
      e = hb_linear (g, emb_silu, W (u, HB_WEIGHT_MATRIX, "%semb_layers.1.weight", p),
                     W (u, HB_WEIGHT_PLAIN, "%semb_layers.1.bias", p));
      e = hb_reshape (g, e, 4, eshape);
    }
  /* the time embedding, one vector per image, added by the conv itself */
  h = hb_conv2d (g, h, W (u, HB_WEIGHT_CONV, "%sin_layers.2.weight", p),
                 W (u, HB_WEIGHT_PLAIN, "%sin_layers.2.bias", p), 1, 1, e);
  h = hb_group_norm (g, h, W (u, HB_WEIGHT_PLAIN, "%sout_layers.0.weight", p),
                     W (u, HB_WEIGHT_PLAIN, "%sout_layers.0.bias", p), u->cfg->norm_groups, 1e-5f, TRUE);
  if (has (u, "%sskip_connection.weight", p))
    skip = hb_conv2d (g, x, W (u, HB_WEIGHT_CONV, "%sskip_connection.weight", p),
                      W (u, HB_WEIGHT_PLAIN, "%sskip_connection.bias", p), 1, 0, NULL);
  else
    skip = x;
  return hb_conv2d (g, h, W (u, HB_WEIGHT_CONV, "%sout_layers.3.weight", p),
                    W (u, HB_WEIGHT_PLAIN, "%sout_layers.3.bias", p), 1, 1, skip);
}

/* x [B, L, C]; context [B, Lc, Cc] or NULL for self-attention. Returns
 * to_out(attn) + residual. q/k/v projections are fused into one matmul
 * where they read the same input. */
static HbTensor *
attention (Unet *u, const char *p, HbTensor *x, HbTensor *context, HbTensor *residual)
{
  HbGraph *g = u->g;
  int64_t C = x->shape[2], B = x->shape[0], L = x->shape[1];
  int64_t st[3];
  HbTensor *q, *k, *v, *o;

  if (context == NULL)
    {
      g_autofree char *kq = g_strdup_printf ("%sto_q.weight", p);
      g_autofree char *kk = g_strdup_printf ("%sto_k.weight", p);
      g_autofree char *kv = g_strdup_printf ("%sto_v.weight", p);
      const char *keys[3] = { kq, kk, kv };
      HbTensor *qkv = hb_matmul (g, x, hb_weights_get_cat (u->w, g, keys, 3, HB_WEIGHT_MATRIX),
                                 TRUE, NULL, HB_ACT_NONE, NULL);
      int64_t shape[3] = { B, L, C };

      st[0] = L * 3 * C;
      st[1] = 3 * C;
      st[2] = 1;
      q = hb_view (g, qkv, 3, shape, st, 0);
      k = hb_view (g, qkv, 3, shape, st, C);
      v = hb_view (g, qkv, 3, shape, st, 2 * C);
    }
  else
    {
      int64_t Lc = context->shape[1];
      int64_t shape[3] = { B, Lc, C };
      int col = GPOINTER_TO_INT (g_hash_table_lookup (u->kv_cols, p)) - 1;
      HbTensor *kvt = u->kv_all;

      if (col < 0)
        {
          g_autofree char *kk = g_strdup_printf ("%sto_k.weight", p);
          g_autofree char *kv = g_strdup_printf ("%sto_v.weight", p);
          const char *keys[2] = { kk, kv };

          kvt = hb_matmul (g, context, hb_weights_get_cat (u->w, g, keys, 2, HB_WEIGHT_MATRIX),
                           TRUE, NULL, HB_ACT_NONE, NULL);
          col = 0;
        }
      q = hb_linear (g, x, W (u, HB_WEIGHT_MATRIX, "%sto_q.weight", p), NULL);
      st[0] = Lc * kvt->shape[2];
      st[1] = kvt->shape[2];
      st[2] = 1;
      k = hb_view (g, kvt, 3, shape, st, col);
      v = hb_view (g, kvt, 3, shape, st, col + C);
    }
  o = hb_attention (g, q, k, v, u->cfg->heads, 1.0f / sqrtf ((float) C / u->cfg->heads), FALSE);
  return hb_matmul (g, o, W (u, HB_WEIGHT_MATRIX, "%sto_out.0.weight", p),
                    TRUE, W (u, HB_WEIGHT_PLAIN, "%sto_out.0.bias", p), HB_ACT_NONE, residual);
}

/* "<p>transformer_blocks.<i>." if the spatial transformer <p> has that
 * block, else NULL. */
static char *
transformer_block_prefix (Unet *u, const char *p, int i)
{
  if (!has (u, "%stransformer_blocks.%d.norm1.weight", p, i))
    return NULL;
  return g_strdup_printf ("%stransformer_blocks.%d.", p, i);
}

static HbTensor *
transformer_block (Unet *u, const char *p, HbTensor *x, HbTensor *context)
{
  HbGraph *g = u->g;
  g_autofree char *a1 = g_strdup_printf ("%sattn1.", p);
  g_autofree char *a2 = g_strdup_printf ("%sattn2.", p);
  HbTensor *h;

  h = hb_layer_norm (g, x, W (u, HB_WEIGHT_PLAIN, "%snorm1.weight", p),
                     W (u, HB_WEIGHT_PLAIN, "%snorm1.bias", p), 1e-5f);
  x = attention (u, a1, h, NULL, x);
  h = hb_layer_norm (g, x, W (u, HB_WEIGHT_PLAIN, "%snorm2.weight", p),
                     W (u, HB_WEIGHT_PLAIN, "%snorm2.bias", p), 1e-5f);
  x = attention (u, a2, h, context, x);
  h = hb_layer_norm (g, x, W (u, HB_WEIGHT_PLAIN, "%snorm3.weight", p),
                     W (u, HB_WEIGHT_PLAIN, "%snorm3.bias", p), 1e-5f);
  h = hb_linear (g, h, W (u, HB_WEIGHT_MATRIX, "%sff.net.0.proj.weight", p),
                 W (u, HB_WEIGHT_PLAIN, "%sff.net.0.proj.bias", p));
  h = hb_geglu (g, h);
  return hb_matmul (g, h, W (u, HB_WEIGHT_MATRIX, "%sff.net.2.weight", p), TRUE,
                    W (u, HB_WEIGHT_PLAIN, "%sff.net.2.bias", p), HB_ACT_NONE, x);
}

/* SpatialTransformer: x [B,H,W,C] -> same. */
static HbTensor *
spatial_transformer (Unet *u, const char *p, HbTensor *x, HbTensor *context)
{
  HbGraph *g = u->g;
  int64_t B = x->shape[0], H = x->shape[1], Wd = x->shape[2], C = x->shape[3];
  int64_t seq[3] = { B, H * Wd, C };
  HbTensor *h;

  h = hb_group_norm (g, x, W (u, HB_WEIGHT_PLAIN, "%snorm.weight", p),
                     W (u, HB_WEIGHT_PLAIN, "%snorm.bias", p), u->cfg->norm_groups, 1e-6f, FALSE);
  h = hb_reshape (g, h, 3, seq);
  h = hb_linear (g, h, W (u, HB_WEIGHT_MATRIX, "%sproj_in.weight", p),
                 W (u, HB_WEIGHT_PLAIN, "%sproj_in.bias", p));
  for (int i = 0;; i++)
    {
      g_autofree char *bp = transformer_block_prefix (u, p, i);

      if (bp == NULL)
        break;
      h = transformer_block (u, bp, h, context);
    }
  h = hb_matmul (g, h, W (u, HB_WEIGHT_MATRIX, "%sproj_out.weight", p), TRUE,
                 W (u, HB_WEIGHT_PLAIN, "%sproj_out.bias", p), HB_ACT_NONE,
                 hb_reshape (g, x, 3, seq));
  return hb_reshape (g, h, 4, x->shape);
}

static gboolean
has_key (HbWeights *w, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
has_key (HbWeights *w, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *key = NULL;

  va_start (ap, fmt);
  key = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return hb_weights_has (w, key);
}

gboolean
hb_unet_config_read (HbWeights *w, HbUnetConfig *cfg, GError **error)
{
  int ndim;
  int64_t shape[4];
  const char *heads, *pred, *coords;
  int res_in_level = 0;
  g_autofree char *attn_key = NULL;

  memset (cfg, 0, sizeof *cfg);
  if (!hb_weights_shape (w, P "input_blocks.0.0.weight", &ndim, shape) || ndim != 4)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "No UNet found: the tensor “" P "input_blocks.0.0.weight” is missing. "
                   "Huabu reads Stable Diffusion 1.x checkpoints and diffusers folders.");
      return FALSE;
    }
  cfg->model_channels = shape[0];
  cfg->in_channels = shape[1];
  cfg->out_channels = hb_weights_shape (w, P "out.2.weight", &ndim, shape) ? shape[0] : 4;
  coords = hb_weights_metadata (w, "huabu.unet_coord_channels");
  cfg->coord_channels = coords ? (int) g_ascii_strtoll (coords, NULL, 10) : 0;
  if (cfg->coord_channels != 0 && cfg->coord_channels != 2)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The model's metadata huabu.unet_coord_channels is “%s”; Huabu knows 0 "
                   "(a Stable Diffusion UNet) and 2 (x and y planes after the latent). "
                   "Remove the key or re-export the model.", coords);
      return FALSE;
    }
  if (cfg->in_channels != 4 + cfg->coord_channels || cfg->out_channels != 4)
    {
      if (cfg->coord_channels)
        g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                     "The model's metadata huabu.unet_coord_channels is 2, so its UNet should "
                     "read 6 channels (the latent and 2 coordinate planes) and write 4; it "
                     "reads %d and writes %d. Remove the key or re-export the model.",
                     cfg->in_channels, cfg->out_channels);
      else
        g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                     "The UNet reads %d and writes %d channels; Huabu runs text-to-image "
                     "Stable Diffusion 1.x UNets, which read and write 4 (inpainting "
                     "checkpoints, with 9 input channels, are not supported: use the "
                     "ordinary checkpoint with Huabu's own inpainting).",
                     cfg->in_channels, cfg->out_channels);
      return FALSE;
    }

  cfg->n_levels = 1;
  for (int i = 1;; i++)
    {
      if (has_key (w, P "input_blocks.%d.0.op.weight", i))
        {
          cfg->n_levels++;
          res_in_level = 0;
        }
      else if (has_key (w, P "input_blocks.%d.0.in_layers.2.weight", i))
        {
          g_autofree char *k = g_strdup_printf (P "input_blocks.%d.0.in_layers.2.weight", i);
          res_in_level++;
          if (cfg->n_levels == 1)
            cfg->num_res_blocks = res_in_level;
          if (cfg->n_levels <= (int) G_N_ELEMENTS (cfg->channel_mult))
            cfg->channel_mult[cfg->n_levels - 1] = hb_weights_shape (w, k, &ndim, shape)
                                                   ? shape[0] / cfg->model_channels : 0;
          if (attn_key == NULL && has_key (w, P "input_blocks.%d.1.transformer_blocks.0.attn2.to_k.weight", i))
            attn_key = g_strdup_printf (P "input_blocks.%d.1.", i);
        }
      else
        {
          cfg->n_input_blocks = i;
          break;
        }
    }
  while (has_key (w, P "output_blocks.%d.0.in_layers.0.weight", cfg->n_output_blocks))
    cfg->n_output_blocks++;
  if (attn_key == NULL && hb_weights_has (w, P "middle_block.1.transformer_blocks.0.attn2.to_k.weight"))
    attn_key = g_strdup (P "middle_block.1.");
  if (cfg->n_output_blocks > cfg->n_input_blocks)
    {
      /* The block after the last input block found is incomplete. */
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The UNet has %d output blocks but only %d input blocks: the tensor "
                   "“" P "input_blocks.%d.0.in_layers.2.weight” (or “" P "input_blocks.%d.0.op.weight” "
                   "for a downsampler) is missing. Huabu expects a Stable Diffusion 1.x UNet.",
                   cfg->n_output_blocks, cfg->n_input_blocks, cfg->n_input_blocks, cfg->n_input_blocks);
      return FALSE;
    }
  if (cfg->n_output_blocks < cfg->n_input_blocks)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The UNet has %d input blocks but only %d output blocks: the tensor "
                   "“" P "output_blocks.%d.0.in_layers.0.weight” is missing. "
                   "Huabu expects a Stable Diffusion 1.x UNet.",
                   cfg->n_input_blocks, cfg->n_output_blocks, cfg->n_output_blocks);
      return FALSE;
    }
  if (cfg->n_levels > (int) G_N_ELEMENTS (cfg->channel_mult) || attn_key == NULL)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The UNet has %d input blocks, %d output blocks and %s cross-attention; "
                   "Huabu expects a Stable Diffusion 1.x UNet, where they match and cross-attention exists.",
                   cfg->n_input_blocks, cfg->n_output_blocks, attn_key ? "has" : "no");
      return FALSE;
    }
  {
    g_autofree char *k = g_strconcat (attn_key, "transformer_blocks.0.attn2.to_k.weight", NULL);
    g_autofree char *pin = g_strconcat (attn_key, "proj_in.weight", NULL);
    hb_weights_shape (w, k, &ndim, shape);
    cfg->context_dim = shape[1];
    cfg->linear_proj = hb_weights_shape (w, pin, &ndim, shape) && ndim == 2;
  }
  heads = hb_weights_metadata (w, "huabu.unet_heads");
  cfg->heads = heads ? (int) g_ascii_strtoll (heads, NULL, 10) : 8;
  if (cfg->heads <= 0)
    cfg->heads = 8;
  pred = hb_weights_metadata (w, "huabu.prediction_type");
  cfg->v_prediction = pred != NULL && g_str_equal (pred, "v_prediction");
  {
    int channels[G_N_ELEMENTS (cfg->channel_mult)];
    for (int i = 0; i < cfg->n_levels; i++)
      channels[i] = cfg->model_channels * cfg->channel_mult[i];
    return hb_weights_norm_groups (w, "unet", channels, cfg->n_levels, &cfg->norm_groups, error);
  }
}

/* The UNet's blocks after conv_in, in the order ldm's UNetModel runs them:
 * each block's kind is decided from which keys exist. Graph building and
 * the shared projections' key collection both walk them with this. */
typedef enum {
  BLOCK_RES,           /* res block "...N.0." (or a middle block) */
  BLOCK_TRANSFORMER,   /* spatial transformer "...N.1." */
  BLOCK_DOWN,          /* strided conv "input_blocks.N.0.op." */
  BLOCK_UP,            /* nearest 2x + conv "output_blocks.N.M.conv." */
  BLOCK_SKIP_SAVE,     /* end of an input block: its output is a skip */
  BLOCK_SKIP_CONCAT,   /* start of an output block: concatenate a skip */
} BlockKind;

typedef void (*BlockFunc) (Unet *u, BlockKind kind, const char *prefix, gpointer data);

static void
walk_blocks (Unet *u, BlockFunc func, gpointer data)
{
  const HbUnetConfig *cfg = u->cfg;

  for (int i = 1; i < cfg->n_input_blocks; i++)
    {
      g_autofree char *p = g_strdup_printf (P "input_blocks.%d.", i);
      g_autofree char *rp = g_strdup_printf ("%s0.", p);
      g_autofree char *tp = g_strdup_printf ("%s1.", p);
      g_autofree char *op = g_strdup_printf ("%s0.op.", p);

      if (has (u, "%sweight", op))
        func (u, BLOCK_DOWN, op, data);
      else
        {
          func (u, BLOCK_RES, rp, data);
          if (has (u, "%snorm.weight", tp))
            func (u, BLOCK_TRANSFORMER, tp, data);
        }
      func (u, BLOCK_SKIP_SAVE, p, data);
    }
  func (u, BLOCK_RES, P "middle_block.0.", data);
  if (has (u, P "middle_block.1.norm.weight"))
    {
      func (u, BLOCK_TRANSFORMER, P "middle_block.1.", data);
      func (u, BLOCK_RES, P "middle_block.2.", data);
    }
  else
    func (u, BLOCK_RES, P "middle_block.1.", data);
  for (int i = 0; i < cfg->n_output_blocks; i++)
    {
      g_autofree char *p = g_strdup_printf (P "output_blocks.%d.", i);
      g_autofree char *rp = g_strdup_printf ("%s0.", p);
      g_autofree char *tp = g_strdup_printf ("%s1.", p);
      int next = 1;

      func (u, BLOCK_SKIP_CONCAT, p, data);
      func (u, BLOCK_RES, rp, data);
      if (has (u, "%snorm.weight", tp))
        {
          func (u, BLOCK_TRANSFORMER, tp, data);
          next = 2;
        }
      if (has (u, "%s%d.conv.weight", p, next))
        {
          g_autofree char *up = g_strdup_printf ("%s%d.conv.", p, next);
          func (u, BLOCK_UP, up, data);
        }
    }
}

typedef struct {
  GPtrArray *emb_w, *emb_b, *kv_w;   /* weight keys */
  int64_t    emb_n, kv_n;            /* columns so far */
  int        cross_blocks;           /* cross-attention blocks, shared or not */
} BlockKeys;

static void
collect_keys (Unet *u, BlockKind kind, const char *p, gpointer data)
{
  BlockKeys *bk = data;

  if (kind == BLOCK_RES)
    {
      g_autofree char *k = g_strdup_printf ("%semb_layers.1.weight", p);
      int64_t cout = dim0 (u->w, k);

      if (cout <= 0 || !has (u, "%semb_layers.1.bias", p))
        return;
      g_hash_table_insert (u->emb_cols, g_strdup (p), GINT_TO_POINTER ((int) bk->emb_n + 1));
      g_ptr_array_add (bk->emb_w, g_steal_pointer (&k));
      g_ptr_array_add (bk->emb_b, g_strdup_printf ("%semb_layers.1.bias", p));
      bk->emb_n += cout;
    }
  else if (kind == BLOCK_TRANSFORMER)
    for (int i = 0;; i++)
      {
        g_autofree char *bp = transformer_block_prefix (u, p, i);
        g_autofree char *a = NULL, *kk = NULL;
        int64_t c;

        if (bp == NULL)
          break;
        bk->cross_blocks++;
        a = g_strdup_printf ("%sattn2.", bp);
        kk = g_strdup_printf ("%sto_k.weight", a);
        c = dim0 (u->w, kk);
        if (c <= 0 || !has (u, "%sto_v.weight", a) || c % 4 != 0)
          continue;
        g_hash_table_insert (u->kv_cols, g_strdup (a), GINT_TO_POINTER ((int) bk->kv_n + 1));
        g_ptr_array_add (bk->kv_w, g_steal_pointer (&kk));
        g_ptr_array_add (bk->kv_w, g_strdup_printf ("%sto_v.weight", a));
        bk->kv_n += 2 * c;
      }
}

static void
block_keys_collect (Unet *u, BlockKeys *bk)
{
  bk->emb_w = g_ptr_array_new_with_free_func (g_free);
  bk->emb_b = g_ptr_array_new_with_free_func (g_free);
  bk->kv_w = g_ptr_array_new_with_free_func (g_free);
  bk->emb_n = bk->kv_n = 0;
  bk->cross_blocks = 0;
  walk_blocks (u, collect_keys, bk);
}

static void
block_keys_clear (BlockKeys *bk)
{
  g_ptr_array_unref (bk->emb_w);
  g_ptr_array_unref (bk->emb_b);
  g_ptr_array_unref (bk->kv_w);
}

/* The context's keys and values for every cross-attention block that
 * joins the shared matmul. */
static HbTensor *
context_kv (Unet *u, BlockKeys *bk, HbTensor *ctx)
{
  return hb_matmul (u->g, ctx,
                    hb_weights_get_cat (u->w, u->g, (const char *const *) bk->kv_w->pdata,
                                        bk->kv_w->len, HB_WEIGHT_MATRIX),
                    TRUE, NULL, HB_ACT_NONE, NULL);
}

/* One matmul for all time-embedding projections, one for all keys and
 * values of the context (unless the graph reads those as its input). A
 * model whose blocks do not fit (a weight missing) keeps those blocks' own
 * matmuls. */
static void
shared_projections (Unet *u, HbTensor *emb_silu, HbTensor *ctx, gboolean ctx_is_kv)
{
  BlockKeys bk;

  block_keys_collect (u, &bk);
  if (bk.emb_w->len > 0)
    u->emb_all = hb_matmul (u->g, emb_silu,
                            hb_weights_get_cat (u->w, u->g, (const char *const *) bk.emb_w->pdata,
                                                bk.emb_w->len, HB_WEIGHT_MATRIX),
                            TRUE,
                            hb_weights_get_cat (u->w, u->g, (const char *const *) bk.emb_b->pdata,
                                                bk.emb_b->len, HB_WEIGHT_PLAIN),
                            HB_ACT_NONE, NULL);
  if (ctx_is_kv)
    u->kv_all = ctx;
  else if (bk.kv_w->len > 0)
    u->kv_all = context_kv (u, &bk, ctx);
  block_keys_clear (&bk);
}

#define UNET_INIT(u, w, g, cfg, batch) \
  Unet u = { w, g, cfg, batch, NULL, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL), \
             NULL, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) }

static void
unet_clear (Unet *u)
{
  g_hash_table_unref (u->emb_cols);
  g_hash_table_unref (u->kv_cols);
}

int64_t
hb_unet_context_kv_width (HbWeights *w, const HbUnetConfig *cfg)
{
  UNET_INIT (u, w, NULL, cfg, 1);
  BlockKeys bk;
  int64_t width;

  block_keys_collect (&u, &bk);
  width = bk.kv_w->len > 0 && (guint) bk.cross_blocks * 2 == bk.kv_w->len ? bk.kv_n : 0;
  block_keys_clear (&bk);
  unet_clear (&u);
  return width;
}

HbGraph *
hb_unet_context_build (HbWeights *w, const HbUnetConfig *cfg, int batch, int ctx_len,
                       HbTensor **ctx_out, HbTensor **kv_out)
{
  HbGraph *g = hb_graph_new ();
  UNET_INIT (u, w, g, cfg, batch);
  int64_t cs[3] = { batch, ctx_len, cfg->context_dim };
  BlockKeys bk;
  HbTensor *ctx, *kv;

  ctx = hb_graph_input (g, "context", HB_DTYPE_F32, 3, cs);
  block_keys_collect (&u, &bk);
  kv = context_kv (&u, &bk, ctx);
  block_keys_clear (&bk);
  unet_clear (&u);
  hb_graph_mark_output (g, kv);
  *ctx_out = ctx;
  *kv_out = kv;
  return g;
}

typedef struct {
  HbTensor  *x, *emb_silu, *ctx;
  GPtrArray *skips;
} Builder;

static void
build_block (Unet *u, BlockKind kind, const char *p, gpointer data)
{
  Builder *b = data;
  HbGraph *g = u->g;

  switch (kind)
    {
    case BLOCK_RES:
      b->x = res_block (u, p, b->x, b->emb_silu);
      break;
    case BLOCK_TRANSFORMER:
      b->x = spatial_transformer (u, p, b->x, b->ctx);
      break;
    case BLOCK_DOWN:
      b->x = hb_conv2d (g, b->x, W (u, HB_WEIGHT_CONV, "%sweight", p),
                        W (u, HB_WEIGHT_PLAIN, "%sbias", p), 2, 1, NULL);
      break;
    case BLOCK_UP:
      b->x = hb_upsample_nearest2x (g, b->x);
      b->x = hb_conv2d (g, b->x, W (u, HB_WEIGHT_CONV, "%sweight", p),
                        W (u, HB_WEIGHT_PLAIN, "%sbias", p), 1, 1, NULL);
      break;
    case BLOCK_SKIP_SAVE:
      g_ptr_array_add (b->skips, b->x);
      break;
    case BLOCK_SKIP_CONCAT:
      b->x = hb_concat (g, b->x, g_ptr_array_steal_index (b->skips, b->skips->len - 1));
      break;
    default:
      g_return_if_reached ();
    }
}

HbGraph *
hb_unet_build (HbWeights *w, const HbUnetConfig *cfg, int batch, int h, int wd,
               int ctx_len, int64_t ctx_kv_width, HbTensor **x_out, HbTensor **t_out,
               HbTensor **ctx_out, HbTensor **eps_out)
{
  HbGraph *g = hb_graph_new ();
  UNET_INIT (u, w, g, cfg, batch);
  int64_t xs[4] = { batch, h, wd, hb_unet_x_channels (cfg) };
  int64_t ts[1] = { batch };
  int64_t cs[3] = { batch, ctx_len, ctx_kv_width > 0 ? ctx_kv_width : cfg->context_dim };
  HbTensor *x, *t, *ctx, *emb, *emb_silu, *w_in;
  Builder b;

  x = hb_graph_input (g, "x", HB_DTYPE_F32, 4, xs);
  t = hb_graph_input (g, "timestep", HB_DTYPE_F32, 1, ts);
  ctx = hb_graph_input (g, ctx_kv_width > 0 ? "context_kv" : "context", HB_DTYPE_F32, 3, cs);

  emb = hb_timestep_embed (g, t, cfg->model_channels, 10000.f);
  emb = hb_matmul (g, emb, W (&u, HB_WEIGHT_MATRIX, P "time_embed.0.weight"), TRUE,
                   W (&u, HB_WEIGHT_PLAIN, P "time_embed.0.bias"), HB_ACT_SILU, NULL);
  /* only SiLU(emb) is used: the last time_embed matmul applies it */
  emb_silu = hb_matmul (g, emb, W (&u, HB_WEIGHT_MATRIX, P "time_embed.2.weight"), TRUE,
                        W (&u, HB_WEIGHT_PLAIN, P "time_embed.2.bias"), HB_ACT_SILU, NULL);
  shared_projections (&u, emb_silu, ctx, ctx_kv_width > 0);

  if (xs[3] != cfg->in_channels)
    w_in = hb_weights_get_conv_padded (w, g, P "input_blocks.0.0.weight", xs[3]);
  else
    w_in = W (&u, HB_WEIGHT_CONV, P "input_blocks.0.0.weight");
  b.x = hb_conv2d (g, x, w_in, W (&u, HB_WEIGHT_PLAIN, P "input_blocks.0.0.bias"), 1, 1, NULL);
  b.emb_silu = emb_silu;
  b.ctx = ctx;
  b.skips = g_ptr_array_new ();
  g_ptr_array_add (b.skips, b.x);
  walk_blocks (&u, build_block, &b);
  x = b.x;
  g_ptr_array_unref (b.skips);
  unet_clear (&u);

  x = hb_group_norm (g, x, W (&u, HB_WEIGHT_PLAIN, P "out.0.weight"),
                     W (&u, HB_WEIGHT_PLAIN, P "out.0.bias"), cfg->norm_groups, 1e-5f, TRUE);
  x = hb_conv2d (g, x, W (&u, HB_WEIGHT_CONV, P "out.2.weight"),
                 W (&u, HB_WEIGHT_PLAIN, P "out.2.bias"), 1, 1, NULL);
  hb_graph_mark_output (g, x);

  *x_out = hb_graph_node (g, 0);
  *t_out = t;
  *ctx_out = ctx;
  *eps_out = x;
  return g;
}
