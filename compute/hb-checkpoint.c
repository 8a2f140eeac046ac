/* hb-checkpoint.c — one view of a Stable Diffusion checkpoint, whatever
 * its layout
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The diffusers -> ldm names follow the well-known conversion table of
 * diffusers' convert_diffusers_to_original_stable_diffusion.py, with the
 * block counts read from the folder instead of fixed to SD 1.x's, so that
 * smaller models of the same shape convert too.
 */
#include "hb-checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "hb-backend.h"

#define UNET_PREFIX "model.diffusion_model."
#define VAE_PREFIX  "first_stage_model."
#define TEXT_PREFIX "cond_stage_model.transformer."

struct _HbCheckpoint {
  HbCheckpointLayout layout;
  char         *path;
  char         *name;
  GPtrArray    *files;         /* HbSafetensors */
  char         *unet_file;     /* the file that is hashed */
  char         *vae_file;
  char         *text_file;
  GStringChunk *keys;
  GArray       *tensors;       /* HbStTensor, name = ldm key */
  GHashTable   *by_key;        /* ldm key -> index + 1 */
  char         *prediction_type;
  GHashTable   *config_meta;   /* diffusers config.json values under huabu.* names */
  GMutex        hash_lock;
  char         *sha256;
};

static void
add_tensor (HbCheckpoint *ckpt, const HbStTensor *t, const char *key)
{
  HbStTensor copy = *t;

  copy.name = g_string_chunk_insert_const (ckpt->keys, key);
  /* The first one wins, as the first file read would in PyTorch. */
  if (g_hash_table_contains (ckpt->by_key, copy.name))
    return;
  g_array_append_val (ckpt->tensors, copy);
  g_hash_table_insert (ckpt->by_key, (gpointer) copy.name, GUINT_TO_POINTER (ckpt->tensors->len));
}

/* --- single file --------------------------------------------------------- */

/* Checkpoints saved by older transformers versions lack "text_model.". */
static const char *const old_text_prefixes[] = {
  TEXT_PREFIX "embeddings.",
  TEXT_PREFIX "encoder.",
  TEXT_PREFIX "final_layer_norm.",
};

static void
add_single_file (HbCheckpoint *ckpt, HbSafetensors *st)
{
  for (guint i = 0; i < hb_safetensors_n_tensors (st); i++)
    {
      const HbStTensor *t = hb_safetensors_nth (st, i);
      g_autofree char *fixed = NULL;

      for (guint p = 0; p < G_N_ELEMENTS (old_text_prefixes); p++)
        if (g_str_has_prefix (t->name, old_text_prefixes[p]))
          fixed = g_strconcat (TEXT_PREFIX "text_model.", t->name + strlen (TEXT_PREFIX), NULL);
      add_tensor (ckpt, t, fixed != NULL ? fixed : t->name);
    }
}

/* --- diffusers names ----------------------------------------------------- */

/* "<prefix>%u.<mid>%u." at the start of key: the two numbers and the rest
 * after the final dot. mid may be NULL for one number. */
static gboolean
match_indices (const char *key, const char *prefix, const char *mid,
               guint *a, guint *b, const char **rest)
{
  const char *p;
  char *end;

  if (!g_str_has_prefix (key, prefix))
    return FALSE;
  p = key + strlen (prefix);
  if (!g_ascii_isdigit (*p))
    return FALSE;
  *a = (guint) g_ascii_strtoull (p, &end, 10);
  if (*end != '.')
    return FALSE;
  p = end + 1;
  if (mid != NULL)
    {
      if (!g_str_has_prefix (p, mid))
        return FALSE;
      p += strlen (mid);
      if (!g_ascii_isdigit (*p))
        return FALSE;
      *b = (guint) g_ascii_strtoull (p, &end, 10);
      if (*end != '.')
        return FALSE;
      p = end + 1;
    }
  *rest = p;
  return TRUE;
}

static const char *
replace_prefix (const char *rest, const char *const (*table)[2], guint n, const char **tail)
{
  for (guint i = 0; i < n; i++)
    if (g_str_has_prefix (rest, table[i][0]))
      {
        *tail = rest + strlen (table[i][0]);
        return table[i][1];
      }
  *tail = rest;
  return "";
}

static const char *const unet_resnet_names[][2] = {
  { "norm1.", "in_layers.0." },
  { "conv1.", "in_layers.2." },
  { "norm2.", "out_layers.0." },
  { "conv2.", "out_layers.3." },
  { "time_emb_proj.", "emb_layers.1." },
  { "conv_shortcut.", "skip_connection." },
};

static const char *const unet_top_names[][2] = {
  { "time_embedding.linear_1.", "time_embed.0." },
  { "time_embedding.linear_2.", "time_embed.2." },
  { "conv_in.", "input_blocks.0.0." },
  { "conv_norm_out.", "out.0." },
  { "conv_out.", "out.2." },
};

typedef struct {
  guint    layers;           /* resnets per down block */
  guint64  up_has_attention; /* bit i: up_blocks.i has attentions */
} UnetLayout;

static UnetLayout
unet_layout (HbSafetensors *st)
{
  UnetLayout lay = { 0, 0 };

  for (guint i = 0; i < hb_safetensors_n_tensors (st); i++)
    {
      const char *name = hb_safetensors_nth (st, i)->name;
      const char *rest;
      guint a, b;

      if (match_indices (name, "down_blocks.", "resnets.", &a, &b, &rest) && a == 0)
        lay.layers = MAX (lay.layers, b + 1);
      if (match_indices (name, "up_blocks.", "attentions.", &a, &b, &rest) && a < 64)
        lay.up_has_attention |= G_GUINT64_CONSTANT (1) << a;
    }
  return lay;
}

static char *
unet_key (const char *key, const UnetLayout *lay)
{
  guint per_level = lay->layers + 1;
  const char *rest, *tail, *to;
  guint i, j;

  for (guint t = 0; t < G_N_ELEMENTS (unet_top_names); t++)
    if (g_str_has_prefix (key, unet_top_names[t][0]))
      return g_strconcat (UNET_PREFIX, unet_top_names[t][1],
                          key + strlen (unet_top_names[t][0]), NULL);

  if (match_indices (key, "down_blocks.", "resnets.", &i, &j, &rest))
    {
      to = replace_prefix (rest, unet_resnet_names, G_N_ELEMENTS (unet_resnet_names), &tail);
      return g_strdup_printf (UNET_PREFIX "input_blocks.%u.0.%s%s", i * per_level + j + 1, to, tail);
    }
  if (match_indices (key, "down_blocks.", "attentions.", &i, &j, &rest))
    return g_strdup_printf (UNET_PREFIX "input_blocks.%u.1.%s", i * per_level + j + 1, rest);
  if (match_indices (key, "down_blocks.", "downsamplers.", &i, &j, &rest) && j == 0 &&
      g_str_has_prefix (rest, "conv."))
    return g_strdup_printf (UNET_PREFIX "input_blocks.%u.0.op.%s", (i + 1) * per_level,
                            rest + strlen ("conv."));
  if (match_indices (key, "up_blocks.", "resnets.", &i, &j, &rest))
    {
      to = replace_prefix (rest, unet_resnet_names, G_N_ELEMENTS (unet_resnet_names), &tail);
      return g_strdup_printf (UNET_PREFIX "output_blocks.%u.0.%s%s", i * per_level + j, to, tail);
    }
  if (match_indices (key, "up_blocks.", "attentions.", &i, &j, &rest))
    return g_strdup_printf (UNET_PREFIX "output_blocks.%u.1.%s", i * per_level + j, rest);
  if (match_indices (key, "up_blocks.", "upsamplers.", &i, &j, &rest) && j == 0)
    {
      gboolean attn = i < 64 && (lay->up_has_attention & (G_GUINT64_CONSTANT (1) << i));

      return g_strdup_printf (UNET_PREFIX "output_blocks.%u.%u.%s", i * per_level + lay->layers,
                              attn ? 2 : 1, rest);
    }
  if (g_str_has_prefix (key, "mid_block.attentions.0."))
    return g_strconcat (UNET_PREFIX "middle_block.1.", key + strlen ("mid_block.attentions.0."),
                        NULL);
  if (match_indices (key, "mid_block.resnets.", NULL, &j, NULL, &rest))
    {
      to = replace_prefix (rest, unet_resnet_names, G_N_ELEMENTS (unet_resnet_names), &tail);
      return g_strdup_printf (UNET_PREFIX "middle_block.%u.%s%s", 2 * j, to, tail);
    }
  /* Not part of SD 1.x (e.g. class embeddings): kept under its own name. */
  return g_strconcat (UNET_PREFIX, key, NULL);
}

static const char *const vae_attention_names[][2] = {
  { "group_norm.", "norm." },
  { "query.", "q." },
  { "to_q.", "q." },
  { "key.", "k." },
  { "to_k.", "k." },
  { "value.", "v." },
  { "to_v.", "v." },
  { "proj_attn.", "proj_out." },
  { "to_out.0.", "proj_out." },
};

static const char *const vae_resnet_names[][2] = {
  { "conv_shortcut.", "nin_shortcut." },
};

static guint
vae_levels (HbSafetensors *st)
{
  guint n = 0;

  for (guint i = 0; i < hb_safetensors_n_tensors (st); i++)
    {
      const char *rest;
      guint a, b;

      if (match_indices (hb_safetensors_nth (st, i)->name, "decoder.up_blocks.", "resnets.",
                         &a, &b, &rest))
        n = MAX (n, a + 1);
    }
  return n;
}

static char *
vae_key (const char *key, guint levels)
{
  const char *side, *rest, *tail, *to;
  guint i, j;

  if (g_str_has_prefix (key, "encoder."))
    side = "encoder.";
  else if (g_str_has_prefix (key, "decoder."))
    side = "decoder.";
  else
    return g_strconcat (VAE_PREFIX, key, NULL);   /* quant_conv, post_quant_conv */
  key += strlen (side);

  if (match_indices (key, "down_blocks.", "resnets.", &i, &j, &rest))
    {
      to = replace_prefix (rest, vae_resnet_names, G_N_ELEMENTS (vae_resnet_names), &tail);
      return g_strdup_printf (VAE_PREFIX "%sdown.%u.block.%u.%s%s", side, i, j, to, tail);
    }
  if (match_indices (key, "down_blocks.", "downsamplers.", &i, &j, &rest) && j == 0)
    return g_strdup_printf (VAE_PREFIX "%sdown.%u.downsample.%s", side, i, rest);
  /* The decoder's up blocks are numbered from the top in diffusers and
   * from the bottom in ldm. */
  if (match_indices (key, "up_blocks.", "resnets.", &i, &j, &rest) && i < levels)
    {
      to = replace_prefix (rest, vae_resnet_names, G_N_ELEMENTS (vae_resnet_names), &tail);
      return g_strdup_printf (VAE_PREFIX "%sup.%u.block.%u.%s%s", side, levels - 1 - i, j, to,
                              tail);
    }
  if (match_indices (key, "up_blocks.", "upsamplers.", &i, &j, &rest) && j == 0 && i < levels)
    return g_strdup_printf (VAE_PREFIX "%sup.%u.upsample.%s", side, levels - 1 - i, rest);
  if (match_indices (key, "mid_block.resnets.", NULL, &j, NULL, &rest))
    {
      to = replace_prefix (rest, vae_resnet_names, G_N_ELEMENTS (vae_resnet_names), &tail);
      return g_strdup_printf (VAE_PREFIX "%smid.block_%u.%s%s", side, j + 1, to, tail);
    }
  if (g_str_has_prefix (key, "mid_block.attentions.0."))
    {
      to = replace_prefix (key + strlen ("mid_block.attentions.0."), vae_attention_names,
                           G_N_ELEMENTS (vae_attention_names), &tail);
      return g_strdup_printf (VAE_PREFIX "%smid.attn_1.%s%s", side, to, tail);
    }
  if (g_str_has_prefix (key, "conv_norm_out."))
    return g_strdup_printf (VAE_PREFIX "%snorm_out.%s", side, key + strlen ("conv_norm_out."));
  return g_strconcat (VAE_PREFIX, side, key, NULL);
}

/* --- opening ------------------------------------------------------------- */

static gboolean
is_pickle_name (const char *path)
{
  static const char *const exts[] = { ".ckpt", ".pt", ".pth", ".bin", ".pkl" };
  g_autofree char *lower = g_ascii_strdown (path, -1);

  for (guint i = 0; i < G_N_ELEMENTS (exts); i++)
    if (g_str_has_suffix (lower, exts[i]))
      return TRUE;
  return FALSE;
}

/* torch.save() writes a zip archive (new) or a bare pickle (old). */
static gboolean
looks_like_pickle (const char *path)
{
  guint8 head[4] = { 0 };
  FILE *f = fopen (path, "rb");
  size_t n;

  if (f == NULL)
    return FALSE;
  n = fread (head, 1, sizeof head, f);
  fclose (f);
  return (n == 4 && memcmp (head, "PK\x03\x04", 4) == 0) ||
         (n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5);
}

static void
set_pickle_error (GError **error, const char *path)
{
  g_autofree char *name = g_filename_display_basename (path);

  g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
               "%s is a PyTorch pickle checkpoint. Huabu does not load pickles because "
               "loading one can run any code hidden inside it. Convert it to "
               ".safetensors first (for example with diffusers' "
               "scripts/convert_original_stable_diffusion_to_diffusers.py "
               "--to_safetensors, or any \"ckpt to safetensors\" converter), or "
               "download the .safetensors version of the model.", name);
}

static HbSafetensors *
open_file (const char *path, GError **error)
{
  if (looks_like_pickle (path))
    {
      set_pickle_error (error, path);
      return NULL;
    }
  return hb_safetensors_open (path, error);
}

/* dir/sub/base.safetensors or dir/sub/base.fp16.safetensors; refuses a
 * folder that only has the pickle (.bin) weights. */
static char *
find_part (const char *dir, const char *sub, const char *base, GError **error)
{
  static const char *const suffixes[] = { ".safetensors", ".fp16.safetensors" };
  g_autofree char *bin = NULL;
  g_autofree char *display = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *file = g_strconcat (base, suffixes[i], NULL);
      g_autofree char *path = g_build_filename (dir, sub, file, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&path);
    }
  {
    g_autofree char *file = g_strconcat (base, ".bin", NULL);

    bin = g_build_filename (dir, sub, file, NULL);
  }
  if (g_file_test (bin, G_FILE_TEST_IS_REGULAR))
    {
      set_pickle_error (error, bin);
      return NULL;
    }
  display = g_filename_display_name (dir);
  g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
               "%s looks like a diffusers model folder but has no %s/%s.safetensors; "
               "download the complete model folder again", display, sub, base);
  return NULL;
}

static void
read_scheduler_config (HbCheckpoint *ckpt, const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "scheduler", "scheduler_config.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  const char *type;

  if (!json_parser_load_from_file (parser, path, NULL))
    return;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  type = json_object_get_string_member_with_default (json_node_get_object (root),
                                                     "prediction_type", NULL);
  if (type != NULL)
    ckpt->prediction_type = g_strdup (type);
}

static JsonObject *
load_config (JsonParser *parser, const char *dir, const char *sub, const char *file)
{
  g_autofree char *path = g_build_filename (dir, sub, file, NULL);
  JsonNode *root;

  if (!json_parser_load_from_file (parser, path, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  return root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
}

/* A number from a config: an int, a float, or the first of an array
 * (diffusers' attention_head_dim may be a per-block list). */
static char *
config_number (JsonObject *obj, const char *member)
{
  JsonNode *node = obj ? json_object_get_member (obj, member) : NULL;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node) && json_array_get_length (json_node_get_array (node)) > 0)
    node = json_array_get_element (json_node_get_array (node), 0);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
    return g_strdup (g_ascii_dtostr (buf, sizeof buf, json_node_get_double (node)));
  return NULL;
}

/* What a single-file checkpoint would carry in its metadata, a diffusers
 * folder keeps in its config files: the heads and GroupNorm groups (not
 * visible in shapes) and the VAE's scale factor. */
static void
read_model_configs (HbCheckpoint *ckpt, const char *dir)
{
  static const struct { const char *sub, *file, *member, *key; } items[] = {
    { "text_encoder", "config.json", "num_attention_heads", "huabu.text_heads" },
    { "unet", "config.json", "attention_head_dim", "huabu.unet_heads" },
    { "vae", "config.json", "scaling_factor", "huabu.vae_scale_factor" },
    { "unet", "config.json", "norm_num_groups", "huabu.unet_norm_groups" },
    { "vae", "config.json", "norm_num_groups", "huabu.vae_norm_groups" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (items); i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      char *value = config_number (load_config (parser, dir, items[i].sub, items[i].file),
                                   items[i].member);
      if (value != NULL)
        g_hash_table_insert (ckpt->config_meta, (gpointer) items[i].key, value);
    }
}

static gboolean
open_diffusers (HbCheckpoint *ckpt, const char *dir, GError **error)
{
  static const struct { const char *sub, *base; } parts[] = {
    { "unet", "diffusion_pytorch_model" },
    { "vae", "diffusion_pytorch_model" },
    { "text_encoder", "model" },
  };
  char **slots[] = { &ckpt->unet_file, &ckpt->vae_file, &ckpt->text_file };

  for (guint p = 0; p < G_N_ELEMENTS (parts); p++)
    {
      HbSafetensors *st;

      *slots[p] = find_part (dir, parts[p].sub, parts[p].base, error);
      if (*slots[p] == NULL)
        return FALSE;
      st = open_file (*slots[p], error);
      if (st == NULL)
        return FALSE;
      g_ptr_array_add (ckpt->files, st);
    }

  {
    HbSafetensors *unet = ckpt->files->pdata[0];
    HbSafetensors *vae = ckpt->files->pdata[1];
    HbSafetensors *text = ckpt->files->pdata[2];
    UnetLayout lay = unet_layout (unet);
    guint levels = vae_levels (vae);

    for (guint i = 0; i < hb_safetensors_n_tensors (unet); i++)
      {
        g_autofree char *key = unet_key (hb_safetensors_nth (unet, i)->name, &lay);

        add_tensor (ckpt, hb_safetensors_nth (unet, i), key);
      }
    for (guint i = 0; i < hb_safetensors_n_tensors (vae); i++)
      {
        g_autofree char *key = vae_key (hb_safetensors_nth (vae, i)->name, levels);

        add_tensor (ckpt, hb_safetensors_nth (vae, i), key);
      }
    for (guint i = 0; i < hb_safetensors_n_tensors (text); i++)
      {
        g_autofree char *key = g_strconcat (TEXT_PREFIX, hb_safetensors_nth (text, i)->name, NULL);

        add_tensor (ckpt, hb_safetensors_nth (text, i), key);
      }
  }
  read_scheduler_config (ckpt, dir);
  read_model_configs (ckpt, dir);
  return TRUE;
}

static char *
model_name (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  char *dot = strrchr (base, '.');

  if (dot != NULL && dot != base && !g_file_test (path, G_FILE_TEST_IS_DIR))
    *dot = '\0';
  return g_filename_display_name (base);
}

/* The folder of a diffusers model when path is one of its weight files
 * (people pick unet/diffusion_pytorch_model.safetensors in a file
 * chooser), else NULL. */
static char *
diffusers_root_of (const char *path)
{
  g_autofree char *part_dir = g_path_get_dirname (path);
  g_autofree char *root = g_path_get_dirname (part_dir);
  g_autofree char *index = g_build_filename (root, "model_index.json", NULL);
  g_autofree char *base = g_path_get_basename (path);

  if ((g_str_has_prefix (base, "diffusion_pytorch_model.") || g_str_has_prefix (base, "model.")) &&
      g_file_test (index, G_FILE_TEST_IS_REGULAR))
    return g_steal_pointer (&root);
  return NULL;
}

/* Where single files and diffusers exports record v-prediction. */
static const char *const prediction_keys[] = {
  "modelspec.prediction_type",
  "huabu.prediction_type",
  "prediction_type",
};

HbCheckpoint *
hb_checkpoint_open (const char *path, GError **error)
{
  g_autoptr(HbCheckpoint) ckpt = NULL;
  g_autofree char *root = NULL;
  const char *meta_type;

  g_return_val_if_fail (path != NULL, NULL);

  ckpt = g_new0 (HbCheckpoint, 1);
  g_mutex_init (&ckpt->hash_lock);
  ckpt->path = g_strdup (path);
  ckpt->name = model_name (path);
  ckpt->files = g_ptr_array_new_with_free_func ((GDestroyNotify) hb_safetensors_free);
  ckpt->keys = g_string_chunk_new (16384);
  ckpt->tensors = g_array_new (FALSE, FALSE, sizeof (HbStTensor));
  ckpt->by_key = g_hash_table_new (g_str_hash, g_str_equal);
  ckpt->config_meta = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    root = diffusers_root_of (path);
  if (root != NULL || g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      ckpt->layout = HB_CHECKPOINT_DIFFUSERS;
      if (root != NULL)
        {
          g_free (ckpt->name);
          ckpt->name = model_name (root);
        }
      if (!open_diffusers (ckpt, root != NULL ? root : path, error))
        return NULL;
    }
  else
    {
      HbSafetensors *st;

      if (is_pickle_name (path) && g_file_test (path, G_FILE_TEST_EXISTS))
        {
          set_pickle_error (error, path);
          return NULL;
        }
      ckpt->layout = HB_CHECKPOINT_SINGLE_FILE;
      st = open_file (path, error);
      if (st == NULL)
        return NULL;
      g_ptr_array_add (ckpt->files, st);
      ckpt->unet_file = g_strdup (path);
      ckpt->vae_file = g_strdup (path);
      ckpt->text_file = g_strdup (path);
      add_single_file (ckpt, st);
    }

  for (guint i = 0; i < G_N_ELEMENTS (prediction_keys) && ckpt->prediction_type == NULL; i++)
    {
      meta_type = hb_checkpoint_get_metadata (ckpt, prediction_keys[i]);
      if (meta_type != NULL)
        ckpt->prediction_type = g_strdup (g_str_equal (meta_type, "v") ? "v_prediction"
                                                                       : meta_type);
    }
  if (ckpt->prediction_type == NULL)
    ckpt->prediction_type = g_strdup ("epsilon");
  return g_steal_pointer (&ckpt);
}

void
hb_checkpoint_free (HbCheckpoint *ckpt)
{
  if (ckpt == NULL)
    return;
  g_hash_table_unref (ckpt->by_key);
  g_hash_table_unref (ckpt->config_meta);
  g_array_unref (ckpt->tensors);
  g_string_chunk_free (ckpt->keys);
  g_ptr_array_unref (ckpt->files);
  g_mutex_clear (&ckpt->hash_lock);
  g_free (ckpt->sha256);
  g_free (ckpt->prediction_type);
  g_free (ckpt->unet_file);
  g_free (ckpt->vae_file);
  g_free (ckpt->text_file);
  g_free (ckpt->name);
  g_free (ckpt->path);
  g_free (ckpt);
}

HbCheckpointLayout
hb_checkpoint_get_layout (HbCheckpoint *ckpt)
{
  return ckpt->layout;
}

const char *
hb_checkpoint_get_path (HbCheckpoint *ckpt)
{
  return ckpt->path;
}

const char *
hb_checkpoint_get_name (HbCheckpoint *ckpt)
{
  return ckpt->name;
}

const HbStTensor *
hb_checkpoint_find (HbCheckpoint *ckpt, const char *key)
{
  guint i;

  g_return_val_if_fail (ckpt != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);

  i = GPOINTER_TO_UINT (g_hash_table_lookup (ckpt->by_key, key));
  return i == 0 ? NULL : &g_array_index (ckpt->tensors, HbStTensor, i - 1);
}

const char *
hb_checkpoint_file_for_key (HbCheckpoint *ckpt, const char *key)
{
  if (g_str_has_prefix (key, VAE_PREFIX))
    return ckpt->vae_file;
  if (g_str_has_prefix (key, TEXT_PREFIX))
    return ckpt->text_file;
  return ckpt->unet_file;
}

const HbStTensor *
hb_checkpoint_get (HbCheckpoint *ckpt, const char *key, GError **error)
{
  const HbStTensor *t = hb_checkpoint_find (ckpt, key);

  if (t == NULL)
    {
      g_autofree char *file = g_filename_display_name (hb_checkpoint_file_for_key (ckpt, key));

      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "%s: the tensor '%s' is missing; the file is incomplete or not a "
                   "Stable Diffusion 1.x model", file, key);
    }
  return t;
}

guint
hb_checkpoint_n_tensors (HbCheckpoint *ckpt)
{
  return ckpt->tensors->len;
}

const HbStTensor *
hb_checkpoint_nth (HbCheckpoint *ckpt, guint i)
{
  g_return_val_if_fail (i < ckpt->tensors->len, NULL);
  return &g_array_index (ckpt->tensors, HbStTensor, i);
}

const char *
hb_checkpoint_get_metadata (HbCheckpoint *ckpt, const char *key)
{
  for (guint i = 0; i < ckpt->files->len; i++)
    {
      const char *v = hb_safetensors_get_metadata (ckpt->files->pdata[i], key);

      if (v != NULL)
        return v;
    }
  return g_hash_table_lookup (ckpt->config_meta, key);
}

const char *
hb_checkpoint_get_prediction_type (HbCheckpoint *ckpt)
{
  return ckpt->prediction_type;
}

gboolean
hb_checkpoint_is_v_prediction (HbCheckpoint *ckpt)
{
  return g_str_equal (ckpt->prediction_type, "v_prediction");
}

static char *
sha256_file (const char *path, GError **error)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buf = g_malloc (1 << 22);
  FILE *f = fopen (path, "rb");
  size_t n;

  if (f == NULL)
    {
      g_autofree char *name = g_filename_display_name (path);

      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "Cannot read %s to compute its hash: %s", name, g_strerror (errno));
      return NULL;
    }
  while ((n = fread (buf, 1, 1 << 22, f)) > 0)
    g_checksum_update (sum, buf, n);
  if (ferror (f))
    {
      g_autofree char *name = g_filename_display_name (path);

      fclose (f);
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "Reading %s to compute its hash failed; check the disk", name);
      return NULL;
    }
  fclose (f);
  return g_strdup (g_checksum_get_string (sum));
}

char *
hb_checkpoint_get_sha256 (HbCheckpoint *ckpt, GError **error)
{
  char *result;

  g_return_val_if_fail (ckpt != NULL, NULL);

  g_mutex_lock (&ckpt->hash_lock);
  if (ckpt->sha256 == NULL)
    ckpt->sha256 = sha256_file (ckpt->unet_file, error);
  result = g_strdup (ckpt->sha256);
  g_mutex_unlock (&ckpt->hash_lock);
  return result;
}

char *
hb_checkpoint_get_hash (HbCheckpoint *ckpt, GError **error)
{
  g_autofree char *full = hb_checkpoint_get_sha256 (ckpt, error);

  return full == NULL ? NULL : g_strndup (full, 10);
}
