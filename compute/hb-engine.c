/* hb-engine.c — prompt in, picture out
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The high-level generate call: tokenizer → text encoder → sampler loop
 * around the UNet with classifier-free guidance → VAE decoder, with
 * img2img (VAE encoder) and inpainting. Graphs are built once per shape
 * and kept, so a sampling step only writes the latent and re-submits.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "huabu-engine.h"
#include "hb-checkpoint.h"
#include "hb-model-private.h"
#include "hb-rng.h"
#include "hb-sampler.h"
#include "hb-tokenizer.h"
#include "hb-vulkan.h"

#define CTX_TOKENS 77

typedef struct {
  HbGraph  *graph;
  HbTensor *in[3];
  HbTensor *out;
  int       key[4];
  guint     epoch;
} CachedGraph;

struct _HbEngine {
  HbVulkanDevice *device;     /* NULL for the reference backend */
  HbBackend      *backend;
  char           *device_name;
  HbDType         matrix_dtype;
  GMutex          lock;       /* one generation at a time */
  HbGenerateTimings timings;
  gboolean        profiling;
  GArray         *unet_profile;
  GArray         *decode_profile;
  guint           epoch;      /* bumped when prepared graphs must be rebuilt */
};

struct _HbModel {
  HbEngine     *engine;
  char         *path;
  char         *name;
  char         *hash;
  HbCheckpoint *ckpt;
  HbWeights    *weights;
  HbTokenizer  *tokenizer;
  HbClipConfig  clip;
  HbUnetConfig  unet;
  HbVaeConfig   vae;
  float         rgb_matrix[12];
  float         rgb_bias[3];
  int64_t       kv_width;     /* hb_unet_context_kv_width: 0, or the context graph is used */
  CachedGraph   text, context, denoise, decode, encode, preview;
};

/* SD 1.5's latent→RGB factors (the web UIs' "approx cheap" preview). */
static const float sd15_rgb_matrix[12] = {
   0.3512f,  0.2297f,  0.3227f,
   0.3250f,  0.4974f,  0.2350f,
  -0.2829f,  0.1762f,  0.2721f,
  -0.2120f, -0.2616f, -0.7177f,
};

/* ---------------------------------------------------------------- images */

HbImage *
hb_image_new (int width, int height)
{
  HbImage *image;

  g_return_val_if_fail (width > 0 && height > 0, NULL);
  image = g_new0 (HbImage, 1);
  image->width = width;
  image->height = height;
  image->rgba = g_malloc0 ((gsize) width * height * 4);
  return image;
}

HbImage *
hb_image_copy (const HbImage *image)
{
  HbImage *copy = hb_image_new (image->width, image->height);

  memcpy (copy->rgba, image->rgba, (gsize) image->width * image->height * 4);
  return copy;
}

void
hb_image_free (HbImage *image)
{
  if (image == NULL)
    return;
  g_free (image->rgba);
  g_free (image);
}

/* Bilinear resampling of one channel-interleaved RGBA picture into
 * floats in [-1, 1] (or [0, 1] for masks), at the given size. */
static void
resample (const HbImage *src, int width, int height, int channel0, int nch,
          float scale, float bias, float *out)
{
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        float sx = ((float) x + 0.5f) * src->width / width - 0.5f;
        float sy = ((float) y + 0.5f) * src->height / height - 0.5f;
        int x0 = (int) floorf (sx), y0 = (int) floorf (sy);
        float fx = sx - x0, fy = sy - y0;

        for (int c = 0; c < nch; c++)
          {
            float v = 0;
            for (int dy = 0; dy <= 1; dy++)
              for (int dx = 0; dx <= 1; dx++)
                {
                  int xx = CLAMP (x0 + dx, 0, src->width - 1);
                  int yy = CLAMP (y0 + dy, 0, src->height - 1);
                  float wgt = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
                  v += wgt * src->rgba[((gsize) yy * src->width + xx) * 4 + channel0 + c];
                }
            out[((gsize) y * width + x) * nch + c] = v / 255.0f * scale + bias;
          }
      }
}

/* ------------------------------------------------------------- engine */

HbEngine *
hb_engine_new (const char *device, GError **error)
{
  g_autoptr(HbEngine) engine = g_new0 (HbEngine, 1);
  const char *env = g_getenv ("HUABU_DEVICE");

  g_mutex_init (&engine->lock);
  if (device == NULL)
    device = env;
  if (device != NULL && g_ascii_strcasecmp (device, "reference") == 0)
    {
      engine->backend = hb_backend_ref_new ();
      engine->device_name = g_strdup ("reference (plain C, for tests)");
      engine->matrix_dtype = HB_DTYPE_F32;
      return g_steal_pointer (&engine);
    }
  engine->device = hb_vulkan_device_new (device, error);
  if (engine->device == NULL)
    return NULL;
  engine->backend = hb_backend_vulkan_new (engine->device, error);
  if (engine->backend == NULL)
    return NULL;
  {
    const HbVkDeviceInfo *info = hb_vulkan_device_info (engine->device);
    engine->device_name = g_strdup (info->name);
    engine->matrix_dtype = info->has_fp16 && info->has_16bit_storage ? HB_DTYPE_F16 : HB_DTYPE_F32;
    if (g_strcmp0 (g_getenv ("HUABU_WEIGHTS"), "f32") == 0)
      engine->matrix_dtype = HB_DTYPE_F32;
  }
  return g_steal_pointer (&engine);
}

void
hb_engine_free (HbEngine *engine)
{
  if (engine == NULL)
    return;
  g_clear_pointer (&engine->backend, hb_backend_free);
  if (engine->device != NULL)
    hb_vulkan_device_save_pipeline_cache (engine->device, NULL);
  g_clear_pointer (&engine->device, hb_vulkan_device_free);
  g_clear_pointer (&engine->unet_profile, g_array_unref);
  g_clear_pointer (&engine->decode_profile, g_array_unref);
  g_free (engine->device_name);
  g_mutex_clear (&engine->lock);
  g_free (engine);
}

const char *
hb_engine_device_name (HbEngine *engine)
{
  return engine->device_name;
}

HbBackend *
hb_engine_backend (HbEngine *engine)
{
  return engine->backend;
}

void
hb_engine_get_timings (HbEngine *engine, HbGenerateTimings *timings)
{
  *timings = engine->timings;
}

void
hb_engine_set_profiling (HbEngine *engine, gboolean enable)
{
  engine->profiling = enable && engine->device != NULL;
  if (engine->device != NULL)
    hb_backend_vk_set_profiling (engine->backend, enable);
  /* Profiling is decided when a graph is recorded. */
  engine->epoch++;
}

GArray *
hb_engine_get_unet_profile (HbEngine *engine)
{
  return engine->unet_profile ? g_array_ref (engine->unet_profile) : NULL;
}

GArray *
hb_engine_get_decode_profile (HbEngine *engine)
{
  return engine->decode_profile ? g_array_ref (engine->decode_profile) : NULL;
}

char *
hb_default_model_path (void)
{
  const char *env = g_getenv ("HUABU_MODEL");
  g_autofree char *installed = g_build_filename (PKGDATADIR, "models", "huabu-shapes.safetensors", NULL);
  g_autofree char *source = g_build_filename (HB_SOURCE_MODELDIR, "huabu-shapes.safetensors", NULL);

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  if (g_file_test (installed, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&installed);
  return g_steal_pointer (&source);
}

/* -------------------------------------------------------------- model */

static void
cached_graph_clear (HbModel *model, CachedGraph *cg)
{
  if (cg->graph != NULL)
    {
      hb_backend_release (model->engine->backend, cg->graph);
      hb_graph_free (cg->graph);
    }
  memset (cg, 0, sizeof *cg);
}

void
hb_model_free (HbModel *model)
{
  if (model == NULL)
    return;
  cached_graph_clear (model, &model->text);
  cached_graph_clear (model, &model->context);
  cached_graph_clear (model, &model->denoise);
  cached_graph_clear (model, &model->decode);
  cached_graph_clear (model, &model->encode);
  cached_graph_clear (model, &model->preview);
  g_clear_pointer (&model->weights, hb_weights_free);
  g_clear_pointer (&model->tokenizer, hb_tokenizer_free);
  g_clear_pointer (&model->ckpt, hb_checkpoint_free);
  g_free (model->path);
  g_free (model->name);
  g_free (model->hash);
  g_free (model);
}

static void
read_preview_factors (HbModel *model)
{
  const char *s = hb_checkpoint_get_metadata (model->ckpt, "huabu.latent_rgb");
  g_auto(GStrv) parts = s ? g_strsplit_set (s, ", ", -1) : NULL;
  float v[15];
  int n = 0;

  for (int i = 0; parts != NULL && parts[i] != NULL && n < 15; i++)
    if (*parts[i] != '\0')
      v[n++] = (float) g_ascii_strtod (parts[i], NULL);
  if (n == 15)
    {
      memcpy (model->rgb_matrix, v, sizeof model->rgb_matrix);
      memcpy (model->rgb_bias, v + 12, sizeof model->rgb_bias);
    }
  else
    {
      memcpy (model->rgb_matrix, sd15_rgb_matrix, sizeof model->rgb_matrix);
      memset (model->rgb_bias, 0, sizeof model->rgb_bias);
    }
}

HbModel *
hb_model_load (HbEngine *engine, const char *path, GError **error)
{
  g_autoptr(HbModel) model = g_new0 (HbModel, 1);

  model->engine = engine;
  model->path = g_strdup (path);
  model->ckpt = hb_checkpoint_open (path, error);
  if (model->ckpt == NULL)
    return NULL;
  model->name = g_strdup (hb_checkpoint_get_name (model->ckpt));
  model->weights = hb_weights_new (model->ckpt, engine->matrix_dtype);
  if (!hb_clip_config_read (model->weights, &model->clip, error)
      || !hb_unet_config_read (model->weights, &model->unet, error)
      || !hb_vae_config_read (model->weights, &model->vae, error))
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  if (hb_checkpoint_is_v_prediction (model->ckpt))
    model->unet.v_prediction = TRUE;
  model->kv_width = hb_unet_context_kv_width (model->weights, &model->unet);
  model->tokenizer = hb_tokenizer_load (NULL, path, error);
  if (model->tokenizer == NULL)
    return NULL;
  {
    const char *pad = hb_checkpoint_get_metadata (model->ckpt, "huabu.pad_token");
    if (pad != NULL)
      hb_tokenizer_set_pad (model->tokenizer, (gint32) g_ascii_strtoll (pad, NULL, 10));
  }
  if ((int) hb_tokenizer_vocab_size (model->tokenizer) > model->clip.vocab)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "%s: the tokenizer found for it has %d tokens but the text encoder knows only %d; "
                   "the tokenizer belongs to another model. Put the model's own vocab.json and "
                   "merges.txt beside it.", path, hb_tokenizer_vocab_size (model->tokenizer),
                   model->clip.vocab);
      return NULL;
    }
  read_preview_factors (model);
  return g_steal_pointer (&model);
}

const char *
hb_model_get_name (HbModel *model)
{
  return model->name;
}

void
hb_model_native_size (HbModel *model, int *width, int *height)
{
  const char *res = hb_checkpoint_get_metadata (model->ckpt, "huabu.resolution");
  int v = res ? (int) g_ascii_strtoll (res, NULL, 10) : 0;

  if (v < 64 || v > 2048 || v % 8 != 0)
    v = 512;
  *width = *height = v;
}

static double
recommended_cfg (HbCheckpoint *ckpt)
{
  const char *s = hb_checkpoint_get_metadata (ckpt, "huabu.cfg_scale");
  char *end = NULL;
  double v = s ? g_ascii_strtod (s, &end) : 0.0;

  if (s == NULL || end == s || *end != '\0' || !(v >= 1.0 && v <= 30.0))
    return 0.0;
  return v;
}

double
hb_model_get_recommended_cfg (HbModel *model)
{
  return recommended_cfg (model->ckpt);
}

static gboolean
recommended_sampler (HbCheckpoint *ckpt,
                     HbSampler    *out)
{
  const char *s = hb_checkpoint_get_metadata (ckpt, "huabu.sampler");

  return s != NULL && hb_sampler_from_string (s, out);
}

gboolean
hb_model_get_recommended_sampler (HbModel   *model,
                                  HbSampler *out)
{
  return recommended_sampler (model->ckpt, out);
}

gboolean
hb_model_file_recommended (const char *path,
                           double     *cfg,
                           HbSampler  *sampler)
{
  g_autofree char *builtin = NULL;
  g_autoptr(HbCheckpoint) ckpt = NULL;

  if (path == NULL || *path == '\0')
    path = builtin = hb_default_model_path ();
  ckpt = hb_checkpoint_open (path, NULL);
  *cfg = ckpt ? recommended_cfg (ckpt) : 0.0;
  return ckpt != NULL && recommended_sampler (ckpt, sampler);
}

double
hb_model_file_recommended_cfg (const char *path)
{
  double cfg;
  HbSampler sampler;

  hb_model_file_recommended (path, &cfg, &sampler);
  return cfg;
}

gboolean
hb_model_file_recommended_sampler (const char *path,
                                   HbSampler  *out)
{
  double cfg;

  return hb_model_file_recommended (path, &cfg, out);
}

const char *
hb_model_get_hash (HbModel *model)
{
  if (model->hash == NULL)
    model->hash = hb_checkpoint_get_hash (model->ckpt, NULL);
  return model->hash ? model->hash : "";
}

static int64_t
count_params (HbCheckpoint *ckpt, const char *prefix)
{
  int64_t n = 0;

  for (guint i = 0; i < hb_checkpoint_n_tensors (ckpt); i++)
    {
      const HbStTensor *t = hb_checkpoint_nth (ckpt, i);
      if (g_str_has_prefix (t->name, prefix) && hb_st_dtype_is_float (t->dtype))
        n += hb_st_tensor_nelements (t);
    }
  return n;
}

char *
hb_model_describe (HbModel *model)
{
  GString *s = g_string_new (NULL);
  const HbUnetConfig *u = &model->unet;
  const HbVaeConfig *v = &model->vae;

  g_string_append_printf (s, "Model: %s\n", model->name);
  g_string_append_printf (s, "Text encoder: CLIP, %d layers, width %d, %d heads, vocabulary %d, "
                          "%.1fM parameters\n", model->clip.layers, model->clip.width,
                          model->clip.heads, model->clip.vocab,
                          count_params (model->ckpt, "cond_stage_model.") / 1e6);
  g_string_append_printf (s, "UNet: %d channels, multipliers", u->model_channels);
  for (int i = 0; i < u->n_levels; i++)
    g_string_append_printf (s, "%s%d", i ? "," : " ", u->channel_mult[i]);
  g_string_append_printf (s, ", %d res blocks per level, %d heads, context %d, %s, %s, "
                          "%.1fM parameters\n", u->num_res_blocks, u->heads, u->context_dim,
                          u->linear_proj ? "linear projections" : "1×1 conv projections",
                          u->v_prediction ? "v-prediction" : "ε-prediction",
                          count_params (model->ckpt, "model.diffusion_model.") / 1e6);
  g_string_append_printf (s, "VAE: %d channels, multipliers", v->ch);
  for (int i = 0; i < v->n_levels; i++)
    g_string_append_printf (s, "%s%d", i ? "," : " ", v->channel_mult[i]);
  g_string_append_printf (s, ", %d res blocks per level, scale factor %g, %s, %.1fM parameters\n",
                          v->num_res_blocks, v->scale_factor,
                          v->has_encoder ? "with encoder" : "decoder only",
                          count_params (model->ckpt, "first_stage_model.") / 1e6);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------- graphs */

typedef HbGraph *(*BuildFunc) (HbModel *model, const int key[4], CachedGraph *cg);

static void
weight_uploaded (const void *host_data, gpointer weights)
{
  hb_weights_trim_data (weights, host_data);
}

static gboolean
ensure_graph (HbModel *model, CachedGraph *cg, const int key[4], BuildFunc build, GError **error)
{
  GError *werr;
  gboolean ok;

  if (cg->graph != NULL && memcmp (cg->key, key, sizeof cg->key) == 0
      && cg->epoch == model->engine->epoch)
    return TRUE;
  cached_graph_clear (model, cg);
  cg->graph = build (model, key, cg);
  memcpy (cg->key, key, sizeof cg->key);
  cg->epoch = model->engine->epoch;
  werr = hb_weights_error (model->weights);
  if (werr != NULL)
    {
      g_propagate_error (error, g_error_copy (werr));
      cached_graph_clear (model, cg);
      return FALSE;
    }
  if (hb_graph_get_shape_error (cg->graph) != NULL)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "%s: %s. The checkpoint is damaged, or it is not a Stable Diffusion 1.x "
                   "model of a layout Huabu knows.",
                   hb_checkpoint_get_path (model->ckpt), hb_graph_get_shape_error (cg->graph));
      cached_graph_clear (model, cg);
      return FALSE;
    }
  /* On Vulkan, each host copy goes as soon as its upload is done, so the
   * peak is not host copies plus device copies of the whole model. */
  if (model->engine->device != NULL)
    hb_backend_vk_set_upload_notify (model->engine->backend,
                                     weight_uploaded, model->weights);
  ok = hb_backend_prepare (model->engine->backend, cg->graph, error);
  if (model->engine->device != NULL)
    hb_backend_vk_set_upload_notify (model->engine->backend, NULL, NULL);
  if (!ok)
    {
      cached_graph_clear (model, cg);
      return FALSE;
    }
  hb_weights_trim (model->weights);
  return TRUE;
}

static HbGraph *
build_text (HbModel *m, const int key[4], CachedGraph *cg)
{
  return hb_clip_build (m->weights, &m->clip, key[0], key[1], &cg->in[0], &cg->out);
}

static HbGraph *
build_context (HbModel *m, const int key[4], CachedGraph *cg)
{
  return hb_unet_context_build (m->weights, &m->unet, key[0], key[1], &cg->in[0], &cg->out);
}

static HbGraph *
build_denoise (HbModel *m, const int key[4], CachedGraph *cg)
{
  return hb_unet_build (m->weights, &m->unet, key[0], key[1], key[2], key[3], m->kv_width,
                        &cg->in[0], &cg->in[1], &cg->in[2], &cg->out);
}

static HbGraph *
build_decode (HbModel *m, const int key[4], CachedGraph *cg)
{
  return hb_vae_decode_build (m->weights, &m->vae, key[0], key[1], &cg->in[0], &cg->out);
}

static HbGraph *
build_encode (HbModel *m, const int key[4], CachedGraph *cg)
{
  return hb_vae_encode_build (m->weights, &m->vae, key[0], key[1], &cg->in[0], &cg->out);
}

static HbGraph *
build_preview (HbModel *m, const int key[4], CachedGraph *cg)
{
  HbGraph *g = hb_graph_new ();
  int64_t shape[4] = { 1, key[0], key[1], 4 };

  cg->in[0] = hb_graph_input (g, "latent", HB_DTYPE_F32, 4, shape);
  cg->out = hb_latent_rgb (g, cg->in[0], m->rgb_matrix, m->rgb_bias);
  hb_graph_mark_output (g, cg->out);
  return g;
}

static gsize
nbytes (HbTensor *t)
{
  return hb_tensor_nelements (t) * hb_dtype_size (t->dtype);
}

/* ------------------------------------------------------------- params */

void
hb_generate_params_init (HbGenerateParams *params)
{
  memset (params, 0, sizeof *params);
  params->prompt = "";
  params->negative_prompt = "";
  params->seed = 0;
  params->steps = 20;
  params->cfg = 7.0f;
  params->sampler = HB_SAMPLER_EULER_A;
  params->schedule = HB_SCHEDULE_DISCRETE;
  params->rng = HB_RNG_PHILOX;
  params->width = 512;
  params->height = 512;
  params->clip_skip = 1;
  params->strength = 0.75f;
}

static const char *sampler_names[HB_N_SAMPLERS] = {
  [HB_SAMPLER_EULER] = "Euler",
  [HB_SAMPLER_EULER_A] = "Euler a",
  [HB_SAMPLER_DPMPP_2M] = "DPM++ 2M",
  [HB_SAMPLER_DDIM] = "DDIM",
  [HB_SAMPLER_LCM] = "LCM",
};

static const char *schedule_names[HB_N_SCHEDULES] = {
  [HB_SCHEDULE_DISCRETE] = "Automatic",
  [HB_SCHEDULE_KARRAS] = "Karras",
};

static const char *rng_names[HB_N_RNGS] = {
  [HB_RNG_PHILOX] = "GPU",
  [HB_RNG_CPU] = "CPU",
};

static gboolean
name_lookup (const char *const *names, int n, const char *str, int *out, const char *const *aliases)
{
  for (int i = 0; i < n; i++)
    if (g_ascii_strcasecmp (str, names[i]) == 0 || (aliases && g_ascii_strcasecmp (str, aliases[i]) == 0))
      {
        *out = i;
        return TRUE;
      }
  return FALSE;
}

const char *
hb_sampler_to_string (HbSampler sampler)
{
  g_return_val_if_fail (sampler < HB_N_SAMPLERS, "?");
  return sampler_names[sampler];
}

gboolean
hb_sampler_from_string (const char *str, HbSampler *out)
{
  static const char *aliases[HB_N_SAMPLERS] = { "euler", "euler_a", "dpmpp_2m", "ddim", "lcm" };
  int v;

  if (!name_lookup (sampler_names, HB_N_SAMPLERS, str, &v, aliases))
    return FALSE;
  *out = v;
  return TRUE;
}

const char *
hb_schedule_to_string (HbSchedule schedule)
{
  g_return_val_if_fail (schedule < HB_N_SCHEDULES, "?");
  return schedule_names[schedule];
}

gboolean
hb_schedule_from_string (const char *str, HbSchedule *out)
{
  static const char *aliases[HB_N_SCHEDULES] = { "discrete", "karras" };
  int v;

  if (!name_lookup (schedule_names, HB_N_SCHEDULES, str, &v, aliases))
    return FALSE;
  *out = v;
  return TRUE;
}

const char *
hb_rng_to_string (HbRngKind rng)
{
  g_return_val_if_fail (rng < HB_N_RNGS, "?");
  return rng_names[rng];
}

gboolean
hb_rng_from_string (const char *str, HbRngKind *out)
{
  static const char *aliases[HB_N_RNGS] = { "philox", "mt19937" };
  int v;

  if (!name_lookup (rng_names, HB_N_RNGS, str, &v, aliases))
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean
check_params (HbModel *model, const HbGenerateParams *p, GError **error)
{
#define BAD(...) (g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_ARGUMENT, __VA_ARGS__), FALSE)
  if (p->width % 8 != 0 || p->height % 8 != 0)
    return BAD ("The size %d×%d is not a multiple of 8; the VAE works in 8×8 blocks. "
                "Try %d×%d.", p->width, p->height, MAX (8, p->width / 8 * 8), MAX (8, p->height / 8 * 8));
  if (p->width < 64 || p->height < 64 || p->width > 2048 || p->height > 2048)
    return BAD ("The size %d×%d is outside what Huabu supports (64 to 2048 pixels a side).",
                p->width, p->height);
  if (p->steps < 1 || p->steps > 500)
    return BAD ("%d steps is not a sensible number: use 1 to 500 (20–30 is usual).", p->steps);
  if (!(p->cfg >= 0.0f && p->cfg <= 50.0f))
    return BAD ("A CFG scale of %g is outside 0–50; 4–12 is usual.", p->cfg);
  if (p->sampler >= HB_N_SAMPLERS || p->schedule >= HB_N_SCHEDULES || p->rng >= HB_N_RNGS)
    return BAD ("Unknown sampler, schedule or random generator.");
  if (p->clip_skip < 1 || p->clip_skip > model->clip.layers)
    return BAD ("Clip skip %d is outside 1–%d for this model's text encoder.",
                p->clip_skip, model->clip.layers);
  if (p->init != NULL && !(p->strength > 0.0f && p->strength <= 1.0f))
    return BAD ("A strength of %g is outside (0, 1]: it is the share of the steps that repaint the "
                "starting picture.", p->strength);
  if (p->mask != NULL && p->init == NULL)
    return BAD ("A mask needs a starting picture to inpaint.");
  if (p->init != NULL && !model->vae.has_encoder)
    return BAD ("This checkpoint has no VAE encoder, so it cannot start from a picture.");
#undef BAD
  return TRUE;
}

/* ------------------------------------------------------------- generate */

typedef struct {
  HbModel                *model;
  const HbGenerateParams *params;
  HbProgressFunc          progress;
  gpointer                user_data;
  GCancellable           *cancellable;
  HbRng                  *rng;
  int                     h, w;           /* latent size */
  gsize                   n;              /* latent floats (one picture) */
  int                     batch;          /* 2 with guidance, else 1 */
  float                  *x_in;           /* [batch, h, w, in_channels] */
  int                     in_channels;    /* hb_unet_x_channels: 4, or 8 with coordinate planes */
  float                  *eps;
  float                  *nchw;
  /* img2img / inpainting */
  float                  *init_latent;
  float                  *init_noise;
  float                  *mask;           /* [h, w], 1 = repaint */
  int                     step_offset;
  int                     total_steps;
  HbImage                *preview;
} Run;

static gboolean
cancelled (Run *r, GError **error)
{
  if (g_cancellable_is_cancelled (r->cancellable))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_CANCELLED, "Generation cancelled");
      return TRUE;
    }
  return FALSE;
}

/* The RNG draws in PyTorch's NCHW order; the engine keeps latents NHWC. */
static void
run_noise (gpointer user, float *out)
{
  Run *r = user;
  gsize hw = (gsize) r->h * r->w;

  hb_rng_randn (r->rng, r->nchw, r->n);
  for (int c = 0; c < 4; c++)
    for (gsize p = 0; p < hw; p++)
      out[p * 4 + c] = r->nchw[c * hw + p];
}

static gboolean
all_finite (const float *v, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite (v[i]))
      return FALSE;
  return TRUE;
}

static gboolean
run_denoise (gpointer user, const float *x, float sigma, float *denoised, GError **error)
{
  Run *r = user;
  HbModel *m = r->model;
  CachedGraph *cg = &m->denoise;
  HbBackend *be = m->engine->backend;
  float c_in = 1.0f / sqrtf (sigma * sigma + 1.0f);
  float t[2];

  for (int b = 0; b < r->batch; b++)
    {
      float *dst = r->x_in + (gsize) b * r->h * r->w * r->in_channels;
      if (r->in_channels == 4)
        for (gsize i = 0; i < r->n; i++)
          dst[i] = x[i] * c_in;
      else
        /* The planes after the latent hold each pixel's x and y (centres,
         * -1 at the left/top edge to 1), as sd_reference.coord_planes;
         * the channels after them stay zero. */
        for (int py = 0; py < r->h; py++)
          for (int px = 0; px < r->w; px++)
            {
              gsize p = (gsize) py * r->w + px;
              float *o = dst + p * r->in_channels;
              for (int c = 0; c < 4; c++)
                o[c] = x[p * 4 + c] * c_in;
              o[4] = (px + 0.5f) * (2.0f / r->w) - 1.0f;
              o[5] = (py + 0.5f) * (2.0f / r->h) - 1.0f;
            }
      t[b] = hb_sigma_to_t (sigma);
    }
  if (!hb_backend_set_input (be, cg->in[0], r->x_in, nbytes (cg->in[0]), error)
      || !hb_backend_set_input (be, cg->in[1], t, nbytes (cg->in[1]), error)
      || !hb_backend_compute (be, cg->graph, error)
      || !hb_backend_get_output (be, cg->out, r->eps, nbytes (cg->out), error))
    return FALSE;
  if (m->engine->profiling)
    {
      g_clear_pointer (&m->engine->unet_profile, g_array_unref);
      m->engine->unet_profile = hb_backend_vk_get_timings (be);
    }

  for (gsize i = 0; i < r->n; i++)
    {
      /* batch 0 is the negative prompt, batch 1 the prompt */
      float e = r->batch == 2 ? r->eps[i] + r->params->cfg * (r->eps[r->n + i] - r->eps[i])
                              : r->eps[i];
      if (m->unet.v_prediction)
        denoised[i] = x[i] / (sigma * sigma + 1.0f) - e * sigma * c_in;
      else
        denoised[i] = x[i] - e * sigma;
    }
  return TRUE;
}

static gboolean
run_step_done (gpointer user, int step, int n_steps, float sigma_next,
               float *x, const float *denoised, GError **error)
{
  Run *r = user;
  HbModel *m = r->model;
  HbBackend *be = m->engine->backend;
  int shown = r->step_offset + step;

  if (!all_finite (x, r->n))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NUMERIC,
                   "Step %d of %d produced invalid numbers (NaN or infinity). The model's weights "
                   "may be damaged, or the CFG scale too high; try a lower CFG or another model.",
                   shown + 1, r->total_steps);
      return FALSE;
    }
  if (r->mask != NULL)
    for (gsize p = 0; p < (gsize) r->h * r->w; p++)
      for (int c = 0; c < 4; c++)
        {
          gsize i = p * 4 + c;
          float keep = r->init_latent[i] + r->init_noise[i] * sigma_next;
          x[i] = r->mask[p] * x[i] + (1.0f - r->mask[p]) * keep;
        }
  if (r->progress != NULL)
    {
      int key[4] = { r->h, r->w, 0, 0 };
      if (!ensure_graph (m, &m->preview, key, build_preview, error)
          || !hb_backend_set_input (be, m->preview.in[0], denoised, r->n * sizeof (float), error)
          || !hb_backend_compute (be, m->preview.graph, error)
          || !hb_backend_get_output (be, m->preview.out, r->preview->rgba, r->n, error))
        return FALSE;
      if (!r->progress (shown + 1, r->total_steps, sigma_next, r->preview, r->user_data))
        g_cancellable_cancel (r->cancellable);
    }
  return !cancelled (r, error);
}

/* Encodes prompt and negative prompt into one context per batch entry,
 * [batch, 77 * chunks, width], with emphasis weights applied as the web
 * UIs do (scale each token, then restore the original mean). */
static float *
encode_text (Run *r, int *ctx_len, GError **error)
{
  HbModel *m = r->model;
  HbBackend *be = m->engine->backend;
  const char *texts[2] = { r->params->negative_prompt ? r->params->negative_prompt : "",
                           r->params->prompt ? r->params->prompt : "" };
  g_autoptr(HbTokens) neg = NULL;
  g_autoptr(HbTokens) pos = NULL;
  HbTokens *toks[2] = { NULL, NULL };
  int first = r->batch == 2 ? 0 : 1;
  int chunks = 1, C = m->clip.width;
  float *ctx;

  for (int i = first; i < 2; i++)
    {
      toks[i] = hb_tokenizer_encode (m->tokenizer, texts[i]);
      if (i == 0)
        neg = toks[i];
      else
        pos = toks[i];
      chunks = MAX (chunks, (int) toks[i]->n_chunks);
    }
  *ctx_len = chunks * CTX_TOKENS;
  ctx = g_new (float, (gsize) r->batch * chunks * CTX_TOKENS * C);
  for (int i = first; i < 2; i++)
    {
      g_autofree int32_t *ids = g_new (int32_t, chunks * CTX_TOKENS);
      g_autofree float *weights = g_new (float, chunks * CTX_TOKENS);
      int key[4] = { chunks, r->params->clip_skip, 0, 0 };
      float *out = ctx + (gsize) (i - first) * chunks * CTX_TOKENS * C;
      gsize n = (gsize) chunks * CTX_TOKENS * C;
      double before = 0, after = 0;

      /* Pad the shorter prompt with empty chunks so both halves align. */
      for (int c = 0; c < chunks; c++)
        {
          HbTokens *t = toks[i];
          int src = MIN (c, (int) t->n_chunks - 1);
          gboolean empty = c >= (int) t->n_chunks;
          for (int k = 0; k < CTX_TOKENS; k++)
            {
              int idx = c * CTX_TOKENS + k;
              ids[idx] = empty ? (k == 0 ? hb_tokenizer_bos (m->tokenizer)
                                          : k == 1 ? hb_tokenizer_eos (m->tokenizer)
                                          : hb_tokenizer_pad (m->tokenizer))
                               : t->ids[src * CTX_TOKENS + k];
              weights[idx] = empty ? 1.0f : t->weights[src * CTX_TOKENS + k];
            }
        }
      if (!ensure_graph (m, &m->text, key, build_text, error)
          || !hb_backend_set_input (be, m->text.in[0], ids, chunks * CTX_TOKENS * sizeof (int32_t), error)
          || !hb_backend_compute (be, m->text.graph, error)
          || !hb_backend_get_output (be, m->text.out, out, n * sizeof (float), error))
        {
          g_free (ctx);
          return NULL;
        }
      for (gsize j = 0; j < n; j++)
        before += out[j];
      for (int tkn = 0; tkn < chunks * CTX_TOKENS; tkn++)
        for (int c = 0; c < C; c++)
          out[(gsize) tkn * C + c] *= weights[tkn];
      for (gsize j = 0; j < n; j++)
        after += out[j];
      if (after != 0.0 && before != after)
        for (gsize j = 0; j < n; j++)
          out[j] *= (float) (before / after);
    }
  return ctx;
}

static gboolean
encode_init (Run *r, GError **error)
{
  HbModel *m = r->model;
  HbBackend *be = m->engine->backend;
  const HbGenerateParams *p = r->params;
  int H = r->h * 8, W = r->w * 8;
  int key[4] = { H, W, 0, 0 };
  g_autofree float *pixels = g_new (float, (gsize) H * W * 3);

  if (p->init->width != W || p->init->height != H)
    g_message ("The starting picture is %d×%d; it was resized to %d×%d to match the output size.",
               p->init->width, p->init->height, W, H);
  resample (p->init, W, H, 0, 3, 2.0f, -1.0f, pixels);
  r->init_latent = g_new (float, r->n);
  if (!ensure_graph (m, &m->encode, key, build_encode, error)
      || !hb_backend_set_input (be, m->encode.in[0], pixels, (gsize) H * W * 3 * sizeof (float), error)
      || !hb_backend_compute (be, m->encode.graph, error)
      || !hb_backend_get_output (be, m->encode.out, r->init_latent, r->n * sizeof (float), error))
    return FALSE;
  for (gsize i = 0; i < r->n; i++)
    r->init_latent[i] *= m->vae.scale_factor;
  if (p->mask != NULL)
    {
      g_autofree float *full = g_new (float, (gsize) r->h * r->w);
      if (p->mask->width != W || p->mask->height != H)
        g_message ("The mask is %d×%d; it was resized to %d×%d.", p->mask->width, p->mask->height, W, H);
      /* Any colour channel marks the area to repaint; red is enough. */
      resample (p->mask, r->w, r->h, 0, 1, 1.0f, 0.0f, full);
      r->mask = g_steal_pointer (&full);
    }
  return TRUE;
}

static HbImage *
decode (Run *r, const float *x, GError **error)
{
  HbModel *m = r->model;
  HbBackend *be = m->engine->backend;
  int H = r->h * 8, W = r->w * 8;
  int key[4] = { r->h, r->w, 0, 0 };
  g_autofree float *z = g_new (float, r->n);
  g_autofree float *pixels = g_new (float, (gsize) H * W * 3);
  g_autoptr(HbImage) image = hb_image_new (W, H);

  for (gsize i = 0; i < r->n; i++)
    z[i] = x[i] / m->vae.scale_factor;
  if (!ensure_graph (m, &m->decode, key, build_decode, error)
      || !hb_backend_set_input (be, m->decode.in[0], z, r->n * sizeof (float), error)
      || !hb_backend_compute (be, m->decode.graph, error)
      || !hb_backend_get_output (be, m->decode.out, pixels, (gsize) H * W * 3 * sizeof (float), error))
    return NULL;
  if (m->engine->profiling)
    {
      g_clear_pointer (&m->engine->decode_profile, g_array_unref);
      m->engine->decode_profile = hb_backend_vk_get_timings (be);
    }
  if (!all_finite (pixels, (gsize) H * W * 3))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_NUMERIC,
                   "The VAE decoder produced invalid numbers (NaN or infinity); the model's VAE "
                   "may be damaged or need fp32 (set HUABU_WEIGHTS=f32).");
      return NULL;
    }
  for (gsize i = 0; i < (gsize) H * W; i++)
    {
      for (int c = 0; c < 3; c++)
        {
          float v = CLAMP ((pixels[i * 3 + c] + 1.0f) * 0.5f, 0.0f, 1.0f);
          image->rgba[i * 4 + c] = (guint8) lrintf (v * 255.0f);
        }
      image->rgba[i * 4 + 3] = 255;
    }
  return g_steal_pointer (&image);
}

static void
run_clear (Run *r)
{
  g_clear_pointer (&r->rng, hb_rng_free);
  g_free (r->x_in);
  g_free (r->eps);
  g_free (r->nchw);
  g_free (r->init_latent);
  g_free (r->init_noise);
  g_free (r->mask);
  hb_image_free (r->preview);
}

static HbImage *
generate_locked (HbEngine *engine, HbModel *model, const HbGenerateParams *params,
                 HbProgressFunc progress, gpointer user_data, GCancellable *cancellable,
                 GError **error)
{
  Run r = { 0 };
  g_autofree float *ctx = NULL;
  g_autofree float *x = NULL;
  g_autofree float *sigmas = NULL;
  const float *sched;
  int ctx_len = 0, n_run;
  HbSamplerCallbacks cb = { run_denoise, run_noise, run_step_done, &r };
  HbImage *image = NULL;
  HbGenerateTimings *tm = &engine->timings;
  gint64 t0 = g_get_monotonic_time (), t;

  memset (tm, 0, sizeof *tm);
  if (!check_params (model, params, error))
    return NULL;

  r.model = model;
  r.params = params;
  r.progress = progress;
  r.user_data = user_data;
  r.cancellable = cancellable;
  r.h = params->height / 8;
  r.w = params->width / 8;
  r.n = (gsize) r.h * r.w * 4;
  r.batch = params->cfg != 1.0f ? 2 : 1;
  r.rng = hb_rng_new (params->rng, params->seed);
  r.in_channels = hb_unet_x_channels (&model->unet);
  r.x_in = g_new0 (float, (gsize) r.h * r.w * r.in_channels * r.batch);
  r.eps = g_new (float, r.n * r.batch);
  r.nchw = g_new (float, r.n);
  r.preview = hb_image_new (r.w, r.h);

  ctx = encode_text (&r, &ctx_len, error);
  tm->text_ms = (g_get_monotonic_time () - t0) / 1000.0;
  if (ctx == NULL || cancelled (&r, error))
    goto out;
  if (model->kv_width > 0)
    {
      /* The keys and values of the context are the same at every step:
       * computed once here, they are the UNet graph's input. */
      int key[4] = { r.batch, ctx_len, 0, 0 };
      float *kv = g_new (float, (gsize) r.batch * ctx_len * model->kv_width);

      if (!ensure_graph (model, &model->context, key, build_context, error)
          || !hb_backend_set_input (engine->backend, model->context.in[0], ctx,
                                    nbytes (model->context.in[0]), error)
          || !hb_backend_compute (engine->backend, model->context.graph, error)
          || !hb_backend_get_output (engine->backend, model->context.out, kv,
                                     nbytes (model->context.out), error))
        {
          g_free (kv);
          goto out;
        }
      g_free (ctx);
      ctx = kv;
    }
  {
    int key[4] = { r.batch, r.h, r.w, ctx_len };
    if (!ensure_graph (model, &model->denoise, key, build_denoise, error)
        || !hb_backend_set_input (engine->backend, model->denoise.in[2], ctx,
                                  nbytes (model->denoise.in[2]), error))
      goto out;
  }
  t = g_get_monotonic_time ();
  if (params->init != NULL && !encode_init (&r, error))
    goto out;
  tm->init_ms = (g_get_monotonic_time () - t) / 1000.0;
  if (cancelled (&r, error))
    goto out;

  sigmas = g_new (float, params->steps + 1);
  hb_sigmas_for (params->sampler, params->schedule, params->steps, sigmas);
  sched = sigmas;
  n_run = params->steps;
  if (params->init != NULL)
    {
      /* As the web UIs: run the last int(strength * steps) + 1 sigmas. */
      int t_enc = (int) (MIN (params->strength, 0.999f) * params->steps);
      sched = sigmas + (params->steps - t_enc - 1);
      n_run = t_enc + 1;
    }
  r.step_offset = params->steps - n_run;
  r.total_steps = params->steps;

  x = g_new (float, r.n);
  run_noise (&r, x);
  if (params->init != NULL)
    {
      r.init_noise = g_memdup2 (x, r.n * sizeof (float));
      for (gsize i = 0; i < r.n; i++)
        x[i] = r.init_latent[i] + x[i] * sched[0];
    }
  else
    for (gsize i = 0; i < r.n; i++)
      x[i] *= sched[0];

  t = g_get_monotonic_time ();
  if (!hb_sampler_run (params->sampler, sched, n_run, x, r.n, &cb, error))
    goto out;
  tm->sample_ms = (g_get_monotonic_time () - t) / 1000.0;
  tm->steps_run = n_run;
  if (sched[n_run] > 0.0f)
    {
      /* DDIM ends at the schedule's first noise level, not 0: back to the
       * latent the VAE expects, x_ddpm = x * sqrt(alpha_bar). */
      float a = 1.0f / sqrtf (1.0f + sched[n_run] * sched[n_run]);
      for (gsize i = 0; i < r.n; i++)
        x[i] *= a;
    }
  if (cancelled (&r, error))
    goto out;
  t = g_get_monotonic_time ();
  image = decode (&r, x, error);
  tm->decode_ms = (g_get_monotonic_time () - t) / 1000.0;

out:
  tm->total_ms = (g_get_monotonic_time () - t0) / 1000.0;
  run_clear (&r);
  return image;
}

HbImage *
hb_engine_generate (HbEngine *engine, HbModel *model, const HbGenerateParams *params,
                    HbProgressFunc progress, gpointer user_data, GCancellable *cancellable,
                    GError **error)
{
  g_autoptr(GCancellable) own = NULL;
  HbImage *image;

  g_return_val_if_fail (model->engine == engine, NULL);
  if (cancellable == NULL)
    cancellable = own = g_cancellable_new ();
  g_mutex_lock (&engine->lock);
  image = generate_locked (engine, model, params, progress, user_data, cancellable, error);
  g_mutex_unlock (&engine->lock);
  return image;
}
