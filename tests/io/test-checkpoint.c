/* test-checkpoint.c — single files and diffusers folders look the same
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "hb-checkpoint.h"
#include "hb-backend.h"

static char *
golden (const char *name)
{
  const char *srcdir = g_getenv ("HB_TEST_SRCDIR");

  return srcdir ? g_build_filename (srcdir, "golden", name, NULL) : NULL;
}

/* A golden checkpoint, or NULL (test skipped) without HB_TEST_SRCDIR. */
static HbCheckpoint *
open_golden (const char *name)
{
  g_autofree char *path = golden (name);
  g_autoptr(GError) error = NULL;
  HbCheckpoint *ckpt;

  if (path == NULL)
    {
      g_test_skip ("HB_TEST_SRCDIR is not set");
      return NULL;
    }
  ckpt = hb_checkpoint_open (path, &error);
  g_assert_no_error (error);
  return ckpt;
}

static void
assert_error_has (GError *error, const char *const *words)
{
  g_assert_nonnull (error);
  g_assert_true (error->domain == HB_ENGINE_ERROR);
  for (int i = 0; words[i] != NULL; i++)
    if (strstr (error->message, words[i]) == NULL)
      g_error ("message \"%s\" lacks \"%s\"", error->message, words[i]);
}

/* The tiny checkpoint exists as a single file and as a diffusers folder
 * with the same weights: after translation every key, dtype and byte
 * must agree, except the VAE attention's [C, C] for [C, C, 1, 1]. */
static void
test_same_weights (void)
{
  g_autoptr(HbCheckpoint) single = open_golden ("tiny-sd.safetensors");
  g_autoptr(HbCheckpoint) folder = NULL;
  guint n_linear_for_conv = 0;

  if (single == NULL)
    return;
  folder = open_golden ("tiny-diffusers");

  g_assert_cmpint (hb_checkpoint_get_layout (single), ==, HB_CHECKPOINT_SINGLE_FILE);
  g_assert_cmpint (hb_checkpoint_get_layout (folder), ==, HB_CHECKPOINT_DIFFUSERS);
  g_assert_cmpstr (hb_checkpoint_get_name (single), ==, "tiny-sd");
  g_assert_cmpstr (hb_checkpoint_get_name (folder), ==, "tiny-diffusers");
  g_assert_cmpuint (hb_checkpoint_n_tensors (single), >, 100);
  g_assert_cmpuint (hb_checkpoint_n_tensors (single), ==, hb_checkpoint_n_tensors (folder));

  for (guint i = 0; i < hb_checkpoint_n_tensors (single); i++)
    {
      const HbStTensor *a = hb_checkpoint_nth (single, i);
      const HbStTensor *b = hb_checkpoint_find (folder, a->name);

      if (b == NULL)
        g_error ("the diffusers folder has nothing under '%s'", a->name);
      g_assert_cmpstr (a->name, ==, b->name);
      g_assert_cmpint (a->dtype, ==, b->dtype);
      g_assert_cmpuint (a->nbytes, ==, b->nbytes);
      g_assert_true (memcmp (a->data, b->data, a->nbytes) == 0);
      if (a->ndim == 4 && b->ndim == 2)
        {
          g_assert_true (strstr (a->name, ".mid.attn_1.") != NULL);
          g_assert_cmpint (a->shape[2] * a->shape[3], ==, 1);
          n_linear_for_conv++;
        }
      else
        {
          g_assert_cmpint (a->ndim, ==, b->ndim);
          g_assert_cmpmem (a->shape, a->ndim * sizeof (int64_t), b->shape, b->ndim * sizeof (int64_t));
        }
    }
  /* q, k, v, proj_out in the encoder and the decoder */
  g_assert_cmpuint (n_linear_for_conv, ==, 8);

  g_assert_cmpstr (hb_checkpoint_get_prediction_type (folder), ==, "epsilon");
  g_assert_cmpstr (hb_checkpoint_get_prediction_type (single), ==, "epsilon");
  g_assert_false (hb_checkpoint_is_v_prediction (single));
  g_assert_cmpstr (hb_checkpoint_get_metadata (single, "huabu.vae_scale_factor"), ==, "0.18215");
  g_assert_null (hb_checkpoint_get_metadata (single, "no.such.key"));
}

/* Choosing the UNet file of a diffusers folder opens the folder. */
static void
test_part_file (void)
{
  g_autoptr(HbCheckpoint) ckpt = open_golden ("tiny-diffusers/unet/diffusion_pytorch_model.safetensors");

  if (ckpt == NULL)
    return;
  g_assert_cmpint (hb_checkpoint_get_layout (ckpt), ==, HB_CHECKPOINT_DIFFUSERS);
  g_assert_cmpstr (hb_checkpoint_get_name (ckpt), ==, "tiny-diffusers");
  g_assert_nonnull (hb_checkpoint_find (ckpt, "first_stage_model.decoder.conv_in.weight"));
  g_assert_nonnull (hb_checkpoint_find (ckpt, "model.diffusion_model.out.2.weight"));
}

static void
test_missing_tensor (void)
{
  g_autoptr(HbCheckpoint) folder = open_golden ("tiny-diffusers");
  g_autoptr(GError) error = NULL;

  if (folder == NULL)
    return;
  g_assert_nonnull (hb_checkpoint_get (folder, "model.diffusion_model.input_blocks.0.0.weight",
                                       &error));
  g_assert_no_error (error);
  g_assert_null (hb_checkpoint_get (folder, "first_stage_model.decoder.up.9.block.0.conv1.weight",
                                    &error));
  assert_error_has (error, (const char *[]) { "first_stage_model.decoder.up.9.block.0.conv1.weight",
                                              "vae", "diffusion_pytorch_model.safetensors",
                                              "missing", NULL });
}

static void
test_hash (void)
{
  g_autofree char *path = golden ("tiny-sd.safetensors");
  g_autoptr(HbCheckpoint) ckpt = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *want = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *again = NULL;
  g_autofree char *hash = NULL;
  gsize len;

  if (path == NULL)
    {
      g_test_skip ("HB_TEST_SRCDIR is not set");
      return;
    }
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  want = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
  ckpt = hb_checkpoint_open (path, &error);
  g_assert_no_error (error);
  sha = hb_checkpoint_get_sha256 (ckpt, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sha, ==, want);
  again = hb_checkpoint_get_sha256 (ckpt, &error);
  g_assert_cmpstr (again, ==, want);
  hash = hb_checkpoint_get_hash (ckpt, &error);
  g_assert_cmpuint (strlen (hash), ==, 10);
  g_assert_true (g_str_has_prefix (want, hash));
}

static void
write_bytes (const char *path, const void *data, gsize len)
{
  g_autofree char *dir = g_path_get_dirname (path);

  g_mkdir_with_parents (dir, 0700);
  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
}

/* A safetensors file of empty F32 tensors with these names, and the
 * metadata object `metadata` (JSON text) unless NULL. */
static void
write_names_meta (const char *path, const char *const *names, const char *metadata)
{
  g_autoptr(GString) header = g_string_new ("{");
  g_autoptr(GByteArray) file = g_byte_array_new ();
  guint8 len[8];

  if (metadata != NULL)
    g_string_append_printf (header, "\"__metadata__\":%s,", metadata);
  for (int i = 0; names[i] != NULL; i++)
    g_string_append_printf (header, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[0],"
                            "\"data_offsets\":[0,0]}", i ? "," : "", names[i]);
  g_string_append_c (header, '}');
  for (int i = 0; i < 8; i++)
    len[i] = (guint8) ((guint64) header->len >> (8 * i));
  g_byte_array_append (file, len, 8);
  g_byte_array_append (file, (const guint8 *) header->str, header->len);
  write_bytes (path, file->data, file->len);
}

static void
write_names (const char *path, const char *const *names)
{
  write_names_meta (path, names, NULL);
}

static char *
in_dir (const char *dir, const char *rel)
{
  return g_build_filename (dir, rel, NULL);
}

static void
remove_tree (const char *dir)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);

  g_assert_cmpint (system (cmd), ==, 0);
}

/* SD 1.5's own block numbering (2 resnets per level, 4 levels, no
 * attention in the last down and first up level), name by name. */
static void
test_sd15_names (void)
{
  static const char *const unet[] = {
    "conv_in.weight", "time_embedding.linear_2.bias", "conv_norm_out.weight", "conv_out.bias",
    "down_blocks.0.resnets.0.norm1.weight", "down_blocks.0.resnets.1.conv2.weight",
    "down_blocks.0.attentions.1.proj_in.weight", "down_blocks.1.downsamplers.0.conv.weight",
    "down_blocks.3.resnets.1.time_emb_proj.bias", "down_blocks.1.resnets.0.conv_shortcut.weight",
    "down_blocks.2.attentions.0.transformer_blocks.0.attn2.to_k.weight",
    "mid_block.resnets.1.norm1.weight", "mid_block.attentions.0.norm.bias",
    "up_blocks.0.resnets.2.conv1.weight", "up_blocks.0.upsamplers.0.conv.weight",
    "up_blocks.1.attentions.0.proj_out.bias", "up_blocks.1.upsamplers.0.conv.bias",
    "up_blocks.3.attentions.2.proj_out.weight", "up_blocks.3.resnets.2.conv_shortcut.bias",
    NULL };
  static const char *const unet_ldm[] = {
    "input_blocks.0.0.weight", "time_embed.2.bias", "out.0.weight", "out.2.bias",
    "input_blocks.1.0.in_layers.0.weight", "input_blocks.2.0.out_layers.3.weight",
    "input_blocks.2.1.proj_in.weight", "input_blocks.6.0.op.weight",
    "input_blocks.11.0.emb_layers.1.bias", "input_blocks.4.0.skip_connection.weight",
    "input_blocks.7.1.transformer_blocks.0.attn2.to_k.weight",
    "middle_block.2.in_layers.0.weight", "middle_block.1.norm.bias",
    "output_blocks.2.0.in_layers.2.weight", "output_blocks.2.1.conv.weight",
    "output_blocks.3.1.proj_out.bias", "output_blocks.5.2.conv.bias",
    "output_blocks.11.1.proj_out.weight", "output_blocks.11.0.skip_connection.bias",
  };
  static const char *const vae[] = {
    "encoder.down_blocks.0.resnets.1.norm2.weight", "encoder.down_blocks.2.downsamplers.0.conv.bias",
    "encoder.mid_block.attentions.0.to_q.weight", "encoder.conv_norm_out.bias",
    "decoder.up_blocks.0.resnets.2.conv1.weight", "decoder.up_blocks.0.upsamplers.0.conv.weight",
    "decoder.up_blocks.3.resnets.0.conv_shortcut.weight", "decoder.up_blocks.1.resnets.0.norm1.bias",
    "decoder.up_blocks.2.resnets.0.norm1.bias",
    "decoder.mid_block.attentions.0.group_norm.weight", "decoder.mid_block.attentions.0.proj_attn.bias",
    "decoder.mid_block.attentions.0.value.weight", "decoder.mid_block.resnets.0.conv1.weight",
    "quant_conv.weight", "decoder.conv_in.bias",
    NULL };
  static const char *const vae_ldm[] = {
    "encoder.down.0.block.1.norm2.weight", "encoder.down.2.downsample.conv.bias",
    "encoder.mid.attn_1.q.weight", "encoder.norm_out.bias",
    "decoder.up.3.block.2.conv1.weight", "decoder.up.3.upsample.conv.weight",
    "decoder.up.0.block.0.nin_shortcut.weight", "decoder.up.2.block.0.norm1.bias",
    "decoder.up.1.block.0.norm1.bias",
    "decoder.mid.attn_1.norm.weight", "decoder.mid.attn_1.proj_out.bias",
    "decoder.mid.attn_1.v.weight", "decoder.mid.block_1.conv1.weight",
    "quant_conv.weight", "decoder.conv_in.bias",
  };
  static const char *const text[] = { "text_model.embeddings.token_embedding.weight", NULL };
  g_autofree char *dir = g_dir_make_tmp ("hb-ckpt-XXXXXX", NULL);
  g_autofree char *unet_path = in_dir (dir, "unet/diffusion_pytorch_model.fp16.safetensors");
  g_autofree char *vae_path = in_dir (dir, "vae/diffusion_pytorch_model.safetensors");
  g_autofree char *text_path = in_dir (dir, "text_encoder/model.safetensors");
  g_autofree char *sched_path = in_dir (dir, "scheduler/scheduler_config.json");
  g_autoptr(HbCheckpoint) ckpt = NULL;
  g_autoptr(GError) error = NULL;
  const char *v_config = "{\"prediction_type\": \"v_prediction\"}";

  write_names (unet_path, unet);
  write_names (vae_path, vae);
  write_names (text_path, text);
  write_bytes (sched_path, v_config, strlen (v_config));

  ckpt = hb_checkpoint_open (dir, &error);
  g_assert_no_error (error);
  for (guint i = 0; unet[i] != NULL; i++)
    {
      g_autofree char *key = g_strconcat ("model.diffusion_model.", unet_ldm[i], NULL);

      if (hb_checkpoint_find (ckpt, key) == NULL)
        g_error ("%s did not become %s", unet[i], key);
    }
  for (guint i = 0; vae[i] != NULL; i++)
    {
      g_autofree char *key = g_strconcat ("first_stage_model.", vae_ldm[i], NULL);

      if (hb_checkpoint_find (ckpt, key) == NULL)
        g_error ("%s did not become %s", vae[i], key);
    }
  g_assert_nonnull (hb_checkpoint_find (ckpt, "cond_stage_model.transformer.text_model."
                                              "embeddings.token_embedding.weight"));
  g_assert_true (hb_checkpoint_is_v_prediction (ckpt));
  g_assert_cmpstr (hb_checkpoint_file_for_key (ckpt, "first_stage_model.quant_conv.weight"), ==,
                   vae_path);
  g_clear_pointer (&ckpt, hb_checkpoint_free);

  /* a folder missing a part names it */
  g_unlink (vae_path);
  ckpt = hb_checkpoint_open (dir, &error);
  g_assert_null (ckpt);
  assert_error_has (error, (const char *[]) { "vae/diffusion_pytorch_model.safetensors", NULL });
  g_clear_error (&error);

  /* ... and one with only pickle weights is refused as such */
  {
    g_autofree char *bin = in_dir (dir, "vae/diffusion_pytorch_model.bin");

    write_bytes (bin, "PK\x03\x04", 4);
  }
  ckpt = hb_checkpoint_open (dir, &error);
  g_assert_null (ckpt);
  assert_error_has (error, (const char *[]) { "diffusion_pytorch_model.bin", "pickle",
                                              ".safetensors", NULL });
  g_clear_error (&error);

  remove_tree (dir);
}

static void
test_single_file_quirks (void)
{
  static const char *const names[] = {
    "cond_stage_model.transformer.embeddings.position_embedding.weight",
    "cond_stage_model.transformer.encoder.layers.0.mlp.fc1.bias",
    "model.diffusion_model.input_blocks.0.0.weight",
    NULL };
  g_autofree char *dir = g_dir_make_tmp ("hb-ckpt-XXXXXX", NULL);
  g_autofree char *path = in_dir (dir, "old.safetensors");
  g_autofree char *ckpt_path = in_dir (dir, "model.ckpt");
  g_autofree char *disguised = in_dir (dir, "disguised.safetensors");
  g_autoptr(HbCheckpoint) ckpt = NULL;
  g_autoptr(GError) error = NULL;

  /* transformers' old names without "text_model." */
  write_names (path, names);
  ckpt = hb_checkpoint_open (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (hb_checkpoint_find (ckpt, "cond_stage_model.transformer.text_model."
                                              "embeddings.position_embedding.weight"));
  g_assert_nonnull (hb_checkpoint_find (ckpt, "cond_stage_model.transformer.text_model."
                                              "encoder.layers.0.mlp.fc1.bias"));
  g_assert_cmpstr (hb_checkpoint_get_prediction_type (ckpt), ==, "epsilon");
  g_clear_pointer (&ckpt, hb_checkpoint_free);

  /* v-prediction recorded in the metadata, as SAI's model spec does */
  write_names_meta (path, names, "{\"modelspec.prediction_type\":\"v\"}");
  ckpt = hb_checkpoint_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (hb_checkpoint_is_v_prediction (ckpt));
  g_clear_pointer (&ckpt, hb_checkpoint_free);

  /* pickles, by name and by content */
  write_bytes (ckpt_path, "\x80\x02}q\x00.", 6);
  ckpt = hb_checkpoint_open (ckpt_path, &error);
  g_assert_null (ckpt);
  assert_error_has (error, (const char *[]) { "model.ckpt", "pickle", "run", "Convert",
                                              ".safetensors", NULL });
  g_clear_error (&error);
  write_bytes (disguised, "PK\x03\x04rest of a zip", 17);
  ckpt = hb_checkpoint_open (disguised, &error);
  g_assert_null (ckpt);
  assert_error_has (error, (const char *[]) { "disguised.safetensors", "pickle", NULL });
  g_clear_error (&error);

  /* a file that is not there */
  ckpt = hb_checkpoint_open ("/nonexistent/model.safetensors", &error);
  g_assert_null (ckpt);
  assert_error_has (error, (const char *[]) { "model.safetensors", NULL });
  g_clear_error (&error);

  remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/checkpoint/same-weights", test_same_weights);
  g_test_add_func ("/huabu/checkpoint/part-file", test_part_file);
  g_test_add_func ("/huabu/checkpoint/missing-tensor", test_missing_tensor);
  g_test_add_func ("/huabu/checkpoint/hash", test_hash);
  g_test_add_func ("/huabu/checkpoint/sd15-names", test_sd15_names);
  g_test_add_func ("/huabu/checkpoint/single-file-quirks", test_single_file_quirks);
  return g_test_run ();
}
