/* test-models.c — the text encoder, UNet and VAE against PyTorch goldens
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * tests/golden/ holds a tiny random checkpoint of the SD 1.x family and
 * the outputs of the PyTorch reference (tests/reference/) for fixed
 * inputs. Each module runs on both backends: the plain-C reference and
 * Vulkan (lavapipe here), from the single-file and the diffusers layout.
 *
 * Tolerances: the goldens are fp32 computations from the checkpoint's
 * fp16 weights; the engine uses the same fp16 weights with fp32
 * accumulation, so only summation order differs: NMSE < 1e-6.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "huabu-engine.h"
#include "hb-checkpoint.h"
#include "hb-model-private.h"
#include "hb-safetensors.h"
#include "hb-vulkan.h"

#define NMSE_TOL 1e-6

typedef struct {
  const char *layout;   /* checkpoint path relative to tests/golden */
  const char *backend;  /* "reference" or "vulkan" */
  HbDType     matrices; /* fp16: used in place from the checkpoint's mapping */
} Case;

static HbSafetensors *io;

static char *
golden_path (const char *name)
{
  return g_build_filename (g_getenv ("HB_TEST_SRCDIR"), "golden", name, NULL);
}

/* A golden tensor as contiguous fp32 (or int32 for ids). */
static float *
golden (const char *name, int64_t *n)
{
  const HbStTensor *t = hb_safetensors_find (io, name);
  g_autoptr(GError) error = NULL;
  float *data;

  g_assert_nonnull (t);
  if (t->dtype == HB_ST_I32)
    {
      data = g_malloc (t->nbytes);
      memcpy (data, t->data, t->nbytes);
    }
  else
    {
      data = hb_st_tensor_convert (t, HB_DTYPE_F32, &error);
      g_assert_no_error (error);
    }
  *n = hb_st_tensor_nelements (t);
  return data;
}

/* NCHW (torch) -> NHWC (engine) and back. */
static float *
nchw_to_nhwc (const float *src, int64_t B, int64_t C, int64_t H, int64_t W)
{
  float *dst = g_new (float, B * C * H * W);

  for (int64_t b = 0; b < B; b++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t p = 0; p < H * W; p++)
        dst[(b * H * W + p) * C + c] = src[(b * C + c) * H * W + p];
  return dst;
}

static double
nmse (const float *a, const float *ref, int64_t n)
{
  double num = 0, den = 0;

  for (int64_t i = 0; i < n; i++)
    {
      double d = (double) a[i] - ref[i];
      num += d * d;
      den += (double) ref[i] * ref[i];
    }
  return den > 0 ? num / den : num;
}

typedef struct {
  HbBackend       *backend;
  HbVulkanDevice  *device;
  HbCheckpoint    *ckpt;
  HbWeights       *weights;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const Case *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = golden_path (c->layout);

  if (g_str_equal (c->backend, "reference"))
    f->backend = hb_backend_ref_new ();
  else
    {
      f->device = hb_vulkan_device_new (NULL, &error);
      g_assert_no_error (error);
      f->backend = hb_backend_vulkan_new (f->device, &error);
      g_assert_no_error (error);
    }
  f->ckpt = hb_checkpoint_open (path, &error);
  g_assert_no_error (error);
  /* The checkpoint is fp16 and the goldens were computed in fp32 from
   * those same values, so fp16 and fp32 matrices must agree alike. */
  f->weights = hb_weights_new (f->ckpt, c->matrices);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hb_backend_free (f->backend);
  hb_weights_free (f->weights);
  hb_checkpoint_free (f->ckpt);
  if (f->device)
    hb_vulkan_device_free (f->device);
}

static void
run_graph (Fixture *f, HbGraph *g, HbTensor **inputs, const void **data, int n_inputs,
           HbTensor *out, float *result)
{
  g_autoptr(GError) error = NULL;

  g_assert_null (hb_weights_error (f->weights));
  hb_backend_prepare (f->backend, g, &error);
  g_assert_no_error (error);
  /* What the engine does after every prepare: the backend has its copy. */
  hb_weights_trim (f->weights);
  for (int i = 0; i < n_inputs; i++)
    {
      hb_backend_set_input (f->backend, inputs[i], data[i],
                            hb_tensor_nelements (inputs[i]) * hb_dtype_size (inputs[i]->dtype), &error);
      g_assert_no_error (error);
    }
  hb_backend_compute (f->backend, g, &error);
  g_assert_no_error (error);
  hb_backend_get_output (f->backend, out, result, hb_tensor_nelements (out) * sizeof (float), &error);
  g_assert_no_error (error);
  hb_backend_release (f->backend, g);
}

static void
check_text (Fixture *f, int clip_skip, const char *golden_name)
{
  g_autoptr(GError) error = NULL;
  HbClipConfig cfg;
  HbTensor *ids, *hidden;
  int64_t n_ids, n_ref;
  g_autofree float *ids_data = golden ("text.ids", &n_ids);
  g_autofree float *ref = golden (golden_name, &n_ref);
  g_autoptr(HbGraph) g = NULL;
  g_autofree float *out = NULL;
  double e;

  hb_clip_config_read (f->weights, &cfg, &error);
  g_assert_no_error (error);
  g_assert_cmpint (cfg.layers, ==, 2);
  g_assert_cmpint (cfg.width, ==, 64);
  g = hb_clip_build (f->weights, &cfg, 1, clip_skip, &ids, &hidden);
  out = g_new (float, hb_tensor_nelements (hidden));
  g_assert_cmpint (hb_tensor_nelements (hidden), ==, n_ref);
  run_graph (f, g, &ids, (const void *[]) { ids_data }, 1, hidden, out);
  e = nmse (out, ref, n_ref);
  g_test_message ("text encoder (clip skip %d): NMSE %.3g", clip_skip, e);
  g_assert_cmpfloat (e, <, NMSE_TOL);
}

static void
test_text_encoder (Fixture *f, gconstpointer data)
{
  check_text (f, 1, "text.hidden");
  check_text (f, 2, "text.hidden_skip2");
}

static void
test_unet (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  HbUnetConfig cfg;
  HbTensor *x, *t, *ctx, *eps;
  int64_t nx, nt, nc, nr;
  g_autofree float *x_nchw = golden ("unet.x", &nx);
  g_autofree float *tsteps = golden ("unet.t", &nt);
  g_autofree float *context = golden ("unet.ctx", &nc);
  g_autofree float *ref_nchw = golden ("unet.out", &nr);
  g_autofree float *x_nhwc = nchw_to_nhwc (x_nchw, 2, 4, 8, 8);
  g_autofree float *ref = nchw_to_nhwc (ref_nchw, 2, 4, 8, 8);
  g_autofree float *out = g_new (float, nr);
  g_autoptr(HbGraph) g = NULL;
  double e;

  hb_unet_config_read (f->weights, &cfg, &error);
  g_assert_no_error (error);
  g_assert_cmpint (cfg.model_channels, ==, 32);
  g_assert_cmpint (cfg.context_dim, ==, 64);
  g_assert_cmpint (cfg.heads, ==, 2);
  g_assert_cmpint (cfg.n_levels, ==, 3);
  g = hb_unet_build (f->weights, &cfg, 2, 8, 8, 77, 0, &x, &t, &ctx, &eps);
  run_graph (f, g, (HbTensor *[]) { x, t, ctx }, (const void *[]) { x_nhwc, tsteps, context },
             3, eps, out);
  e = nmse (out, ref, nr);
  g_test_message ("UNet: NMSE %.3g", e);
  g_assert_cmpfloat (e, <, NMSE_TOL);

  /* As the engine runs it: the context's keys and values computed once by
   * their own graph, then read by the UNet graph as its input. */
  {
    int64_t width = hb_unet_context_kv_width (f->weights, &cfg);
    g_autoptr(HbGraph) cg = NULL;
    g_autofree float *kv = NULL;
    HbTensor *cin, *kvt;

    g_assert_cmpint (width, >, 0);
    cg = hb_unet_context_build (f->weights, &cfg, 2, 77, &cin, &kvt);
    g_assert_cmpint (kvt->shape[2], ==, width);
    kv = g_new (float, hb_tensor_nelements (kvt));
    run_graph (f, cg, &cin, (const void *[]) { context }, 1, kvt, kv);
    g_clear_pointer (&g, hb_graph_free);
    g = hb_unet_build (f->weights, &cfg, 2, 8, 8, 77, width, &x, &t, &ctx, &eps);
    g_assert_cmpint (ctx->shape[2], ==, width);
    run_graph (f, g, (HbTensor *[]) { x, t, ctx }, (const void *[]) { x_nhwc, tsteps, kv },
               3, eps, out);
    e = nmse (out, ref, nr);
    g_test_message ("UNet, keys and values of the context as input: NMSE %.3g", e);
    g_assert_cmpfloat (e, <, NMSE_TOL);
  }
}

static void
test_vae_decode (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  HbVaeConfig cfg;
  HbTensor *z, *image;
  int64_t nz, ni;
  g_autofree float *z_nchw = golden ("vae.z", &nz);
  g_autofree float *img_nchw = golden ("vae.image", &ni);
  g_autofree float *zs = nchw_to_nhwc (z_nchw, 1, 4, 8, 8);
  g_autofree float *ref = nchw_to_nhwc (img_nchw, 1, 3, 64, 64);
  g_autofree float *out = g_new (float, ni);
  g_autoptr(HbGraph) g = NULL;
  double e;

  hb_vae_config_read (f->weights, &cfg, &error);
  g_assert_no_error (error);
  g_assert_cmpint (cfg.n_levels, ==, 4);
  for (int64_t i = 0; i < nz; i++)
    zs[i] /= cfg.scale_factor;
  g = hb_vae_decode_build (f->weights, &cfg, 8, 8, &z, &image);
  run_graph (f, g, &z, (const void *[]) { zs }, 1, image, out);
  e = nmse (out, ref, ni);
  g_test_message ("VAE decode: NMSE %.3g", e);
  g_assert_cmpfloat (e, <, NMSE_TOL);
}

static void
test_vae_encode (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  HbVaeConfig cfg;
  HbTensor *image, *mean;
  int64_t ni, nm;
  g_autofree float *in_nchw = golden ("vae.enc_in", &ni);
  g_autofree float *mean_nchw = golden ("vae.enc_mean", &nm);
  g_autofree float *in = nchw_to_nhwc (in_nchw, 1, 3, 64, 64);
  g_autofree float *ref = nchw_to_nhwc (mean_nchw, 1, 4, 8, 8);
  g_autofree float *out = g_new (float, nm);
  g_autoptr(HbGraph) g = NULL;
  double e;

  hb_vae_config_read (f->weights, &cfg, &error);
  g_assert_no_error (error);
  g = hb_vae_encode_build (f->weights, &cfg, 64, 64, &image, &mean);
  run_graph (f, g, &image, (const void *[]) { in }, 1, mean, out);
  e = nmse (out, ref, nm);
  g_test_message ("VAE encode: NMSE %.3g", e);
  g_assert_cmpfloat (e, <, NMSE_TOL);
}

/* ------------------------------------------------- damaged checkpoints */

/* A copy of tiny-sd.safetensors in a temporary folder, with the header
 * entry of `key` changed by `edit` (the data area is kept byte for byte). */
static char *
write_edited (const char *dir, const char *key, void (*edit) (JsonObject *header, const char *key))
{
  g_autofree char *src = golden_path ("tiny-sd.safetensors");
  g_autofree char *contents = NULL;
  g_autofree char *json = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  char *path = g_build_filename (dir, "edited.safetensors", NULL);
  guint64 hlen, padded;
  gsize len;
  guint8 le[8];

  g_assert_true (g_file_get_contents (src, &contents, &len, &error));
  memcpy (&hlen, contents, 8);
  hlen = GUINT64_FROM_LE (hlen);
  g_assert_true (json_parser_load_from_data (parser, contents + 8, (gssize) hlen, &error));
  root = json_parser_steal_root (parser);
  g_assert_true (json_object_has_member (json_node_get_object (root), key));
  edit (json_node_get_object (root), key);
  json = json_to_string (root, FALSE);
  padded = (strlen (json) + 7) / 8 * 8;
  for (int i = 0; i < 8; i++)
    le[i] = (guint8) (padded >> (8 * i));
  g_byte_array_append (out, le, 8);
  g_byte_array_append (out, (const guint8 *) json, (guint) strlen (json));
  for (gsize i = strlen (json); i < padded; i++)
    g_byte_array_append (out, (const guint8 *) " ", 1);
  g_byte_array_append (out, (const guint8 *) contents + 8 + hlen, (guint) (len - 8 - hlen));
  g_assert_true (g_file_set_contents (path, (const char *) out->data, out->len, &error));
  return path;
}

static void
drop_tensor (JsonObject *header, const char *key)
{
  json_object_remove_member (header, key);
}

/* Same element count, other dimensions: the data-area checks pass, only
 * the model's architecture can tell. [A, B, ...] becomes [2A, B/2, ...]. */
static void
reshape_tensor (JsonObject *header, const char *key)
{
  JsonArray *shape = json_object_get_array_member (json_object_get_object_member (header, key), "shape");

  json_node_set_int (json_array_get_element (shape, 0), json_array_get_int_element (shape, 0) * 2);
  json_node_set_int (json_array_get_element (shape, 1), json_array_get_int_element (shape, 1) / 2);
}

/* One more element than the data holds: the reader refuses it. */
static void
grow_tensor (JsonObject *header, const char *key)
{
  JsonArray *shape = json_object_get_array_member (json_object_get_object_member (header, key), "shape");
  guint last = json_array_get_length (shape) - 1;

  json_node_set_int (json_array_get_element (shape, last), json_array_get_int_element (shape, last) + 1);
}

typedef struct {
  const char *key;
  void      (*edit) (JsonObject *header, const char *key);
} DamageCase;

/* Whatever is wrong with a tensor, loading or generating fails with an
 * error that names it, never a crash or a critical. */
static void
test_damaged (gconstpointer data)
{
  const DamageCase *c = data;
  g_autofree char *dir = g_dir_make_tmp ("huabu-damaged-XXXXXX", NULL);
  g_autofree char *path = write_edited (dir, c->key, c->edit);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbEngine) engine = hb_engine_new (NULL, &error);
  g_autoptr(HbModel) model = NULL;
  g_autoptr(HbImage) image = NULL;
  HbGenerateParams p;

  g_assert_no_error (error);
  model = hb_model_load (engine, path, &error);
  if (model != NULL)
    {
      hb_generate_params_init (&p);
      p.prompt = "a red circle";
      p.width = p.height = 64;
      p.steps = 1;
      image = hb_engine_generate (engine, model, &p, NULL, NULL, NULL, &error);
      g_assert_null (image);
    }
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, c->key));
  g_clear_pointer (&model, hb_model_free);
  g_unlink (path);
  g_rmdir (dir);
}

typedef struct {
  const char *key;
  const char *value;
} BadMeta;

static const BadMeta *bad_meta;

static void
set_bad_meta (JsonObject *header, const char *key)
{
  json_object_set_string_member (json_object_get_object_member (header, key),
                                 bad_meta->key, bad_meta->value);
}

/* GroupNorm groups come from the metadata (the tiny checkpoint has 16 in the
 * UNet and 8 in the VAE, which the goldens above check); a value that is not
 * a number, or that does not divide the channels, is refused by name. So are
 * coordinate planes the UNet's first convolution does not read. */
static void
test_bad_meta (gconstpointer data)
{
  g_autofree char *dir = g_dir_make_tmp ("huabu-groups-XXXXXX", NULL);
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(HbEngine) engine = hb_engine_new (NULL, &error);
  g_autoptr(HbModel) model = NULL;
  g_autoptr(HbImage) image = NULL;
  HbGenerateParams p;

  bad_meta = data;
  path = write_edited (dir, "__metadata__", set_bad_meta);
  g_assert_no_error (error);
  model = hb_model_load (engine, path, &error);
  if (model != NULL)
    {
      hb_generate_params_init (&p);
      p.prompt = "a red circle";
      p.width = p.height = 64;
      p.steps = 1;
      image = hb_engine_generate (engine, model, &p, NULL, NULL, NULL, &error);
      g_assert_null (image);
    }
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, bad_meta->key));
  g_clear_pointer (&model, hb_model_free);
  g_unlink (path);
  g_rmdir (dir);
}

/* A model's own guidance scale ("huabu.cfg_scale"), read from the header
 * alone and from the loaded model alike; 0 where there is none, or none that
 * makes sense. The built-in model names the one its figures were taken at. */
static void
test_recommended_cfg (void)
{
  static const BadMeta values[] = {
    { "huabu.cfg_scale", "4.5" }, { "huabu.cfg_scale", "lots" },
    { "huabu.cfg_scale", "0.5" }, { "huabu.cfg_scale", "4x" },
  };
  static const double expected[] = { 4.5, 0, 0, 0 };
  g_autofree char *tiny = golden_path ("tiny-sd.safetensors");
  g_autofree char *dir = g_dir_make_tmp ("huabu-cfg-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbEngine) engine = hb_engine_new (NULL, &error);
  g_autoptr(HbModel) model = NULL;
  double builtin;

  g_assert_no_error (error);
  g_assert_cmpfloat (hb_model_file_recommended_cfg (tiny), ==, 0);
  model = hb_model_load (engine, tiny, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (hb_model_get_recommended_cfg (model), ==, 0);
  g_clear_pointer (&model, hb_model_free);
  g_assert_cmpfloat (hb_model_file_recommended_cfg ("/nonexistent/model.safetensors"), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autofree char *path = NULL;

      bad_meta = &values[i];
      path = write_edited (dir, "__metadata__", set_bad_meta);
      g_assert_cmpfloat (hb_model_file_recommended_cfg (path), ==, expected[i]);
      model = hb_model_load (engine, path, &error);
      g_assert_no_error (error);
      g_assert_cmpfloat (hb_model_get_recommended_cfg (model), ==, expected[i]);
      g_clear_pointer (&model, hb_model_free);
      g_unlink (path);
    }
  g_rmdir (dir);

  builtin = hb_model_file_recommended_cfg (NULL);
  g_assert_cmpfloat (builtin, >=, 4);
  g_assert_cmpfloat (builtin, <=, 8);
  g_assert_cmpfloat (hb_model_file_recommended_cfg (""), ==, builtin);
}

/* A model's own sampler ("huabu.sampler"): known names only; none for
 * checkpoints that name none. The built-in model names one. */
static void
test_recommended_sampler (void)
{
  static const BadMeta values[] = {
    { "huabu.sampler", "Euler" }, { "huabu.sampler", "DPM++ 2M" },
    { "huabu.sampler", "Heun" }, { "huabu.sampler", "" },
  };
  static const int expected[] = { HB_SAMPLER_EULER, HB_SAMPLER_DPMPP_2M, -1, -1 };
  g_autofree char *tiny = golden_path ("tiny-sd.safetensors");
  g_autofree char *dir = g_dir_make_tmp ("huabu-sampler-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbEngine) engine = hb_engine_new (NULL, &error);
  g_autoptr(HbModel) model = NULL;
  HbSampler sampler = HB_SAMPLER_LCM;

  g_assert_no_error (error);
  g_assert_false (hb_model_file_recommended_sampler (tiny, &sampler));
  g_assert_false (hb_model_file_recommended_sampler ("/nonexistent/model.safetensors", &sampler));
  g_assert_cmpint (sampler, ==, HB_SAMPLER_LCM);
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autofree char *path = NULL;

      bad_meta = &values[i];
      path = write_edited (dir, "__metadata__", set_bad_meta);
      sampler = HB_SAMPLER_LCM;
      g_assert_cmpint (hb_model_file_recommended_sampler (path, &sampler), ==, expected[i] >= 0);
      g_assert_cmpint (sampler, ==, expected[i] >= 0 ? expected[i] : HB_SAMPLER_LCM);
      model = hb_model_load (engine, path, &error);
      g_assert_no_error (error);
      sampler = HB_SAMPLER_LCM;
      g_assert_cmpint (hb_model_get_recommended_sampler (model, &sampler), ==, expected[i] >= 0);
      g_assert_cmpint (sampler, ==, expected[i] >= 0 ? expected[i] : HB_SAMPLER_LCM);
      g_clear_pointer (&model, hb_model_free);
      g_unlink (path);
    }
  g_rmdir (dir);

  g_assert_true (hb_model_file_recommended_sampler (NULL, &sampler));
  g_assert_cmpint (sampler, ==, HB_SAMPLER_EULER);
}

int
main (int argc, char **argv)
{
  static const Case cases[] = {
    { "tiny-sd.safetensors", "reference", HB_DTYPE_F32 },
    { "tiny-sd.safetensors", "vulkan", HB_DTYPE_F32 },
    { "tiny-sd.safetensors", "vulkan", HB_DTYPE_F16 },
    { "tiny-diffusers", "reference", HB_DTYPE_F32 },
    { "tiny-diffusers", "vulkan", HB_DTYPE_F16 },
  };
  static const DamageCase damaged[] = {
    { "model.diffusion_model.input_blocks.1.0.in_layers.2.weight", drop_tensor },
    { "model.diffusion_model.input_blocks.1.0.out_layers.3.weight", drop_tensor },
    { "first_stage_model.decoder.mid.attn_1.k.weight", drop_tensor },
    { "model.diffusion_model.input_blocks.1.0.in_layers.2.weight", reshape_tensor },
    { "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight", reshape_tensor },
    { "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.ff.net.2.weight", reshape_tensor },
    { "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight", reshape_tensor },
    { "first_stage_model.decoder.up.1.block.0.conv1.weight", reshape_tensor },
    { "model.diffusion_model.out.2.weight", grow_tensor },
  };
  g_autofree char *io_path = golden_path ("tiny-io.safetensors");
  g_autofree char *tokenizer = g_build_filename (g_getenv ("HB_TEST_SRCDIR"), "..", "data", "models", NULL);
  g_autoptr(GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  /* The tiny checkpoint uses the built-in model's tokenizer. */
  g_setenv ("HUABU_CLIP_TOKENIZER", tokenizer, TRUE);
  io = hb_safetensors_open (io_path, &error);
  g_assert_no_error (error);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *c = &cases[i];
      const char *layout = strstr (c->layout, "diffusers") ? "diffusers" : "single-file";
      const char *dt = c->matrices == HB_DTYPE_F16 ? "f16" : "f32";
      g_autofree char *p1 = g_strdup_printf ("/huabu/models/%s/%s-%s/text-encoder", layout, c->backend, dt);
      g_autofree char *p2 = g_strdup_printf ("/huabu/models/%s/%s-%s/unet", layout, c->backend, dt);
      g_autofree char *p3 = g_strdup_printf ("/huabu/models/%s/%s-%s/vae-decode", layout, c->backend, dt);
      g_autofree char *p4 = g_strdup_printf ("/huabu/models/%s/%s-%s/vae-encode", layout, c->backend, dt);

      g_test_add (p1, Fixture, c, fixture_setup, test_text_encoder, fixture_teardown);
      g_test_add (p2, Fixture, c, fixture_setup, test_unet, fixture_teardown);
      g_test_add (p3, Fixture, c, fixture_setup, test_vae_decode, fixture_teardown);
      g_test_add (p4, Fixture, c, fixture_setup, test_vae_encode, fixture_teardown);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (damaged); i++)
    {
      const char *how = damaged[i].edit == drop_tensor ? "missing"
                        : damaged[i].edit == grow_tensor ? "truncated" : "mis-shaped";
      g_autofree char *name = g_strdup_printf ("/huabu/models/damaged/%s/%s", how, damaged[i].key);

      g_test_add_data_func (name, &damaged[i], test_damaged);
    }
  {
    static const BadMeta bad[] = {
      { "huabu.vae_norm_groups", "eight" },
      { "huabu.vae_norm_groups", "7" },
      { "huabu.unet_coord_channels", "3" },
      { "huabu.unet_coord_channels", "2" },  /* the tiny UNet reads 4 channels */
    };
    static const char *names[] = {
      "groups-not-a-number", "groups-not-dividing", "coords-unknown", "coords-not-read",
    };
    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autofree char *name = g_strdup_printf ("/huabu/models/damaged/%s", names[i]);
        g_test_add_data_func (name, &bad[i], test_bad_meta);
      }
  }
  g_test_add_func ("/huabu/models/recommended-cfg", test_recommended_cfg);
  g_test_add_func ("/huabu/models/recommended-sampler", test_recommended_sampler);
  return g_test_run ();
}
