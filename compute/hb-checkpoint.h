/* hb-checkpoint.h — one view of a Stable Diffusion checkpoint, whatever
 * its layout
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A checkpoint is either a single-file SD 1.x .safetensors (keys
 * model.diffusion_model.*, first_stage_model.*,
 * cond_stage_model.transformer.text_model.*) or a diffusers folder
 * (unet/, vae/, text_encoder/, tokenizer/, scheduler/). Model code looks
 * tensors up by the single-file (CompVis/ldm) key names in both cases; a
 * diffusers folder's names are translated when it is opened.
 *
 * Shapes are as stored: a diffusers VAE keeps its mid-block attention
 * projections as linear [C, C] where the ldm checkpoint has 1x1 convs
 * [C, C, 1, 1].
 *
 * Pickle checkpoints (.ckpt, .pt, .pth, .bin) are refused: loading a
 * pickle can run arbitrary code.
 */
#pragma once

#include <glib.h>
#include "hb-safetensors.h"

G_BEGIN_DECLS

typedef struct _HbCheckpoint HbCheckpoint;

typedef enum {
  HB_CHECKPOINT_SINGLE_FILE,
  HB_CHECKPOINT_DIFFUSERS,
} HbCheckpointLayout;

/* path: a .safetensors file, a diffusers folder, or one of a diffusers
 * folder's weight files (which opens the whole folder). */
HbCheckpoint       *hb_checkpoint_open              (const char *path, GError **error);
void                hb_checkpoint_free              (HbCheckpoint *ckpt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbCheckpoint, hb_checkpoint_free)

HbCheckpointLayout  hb_checkpoint_get_layout        (HbCheckpoint *ckpt);
/* The path given to open(). */
const char         *hb_checkpoint_get_path          (HbCheckpoint *ckpt);
/* The file name without extension, or the folder's name. */
const char         *hb_checkpoint_get_name          (HbCheckpoint *ckpt);

/* A tensor by its ldm key ("model.diffusion_model.input_blocks.0.0.weight");
 * its name field is that key. NULL when absent. */
const HbStTensor   *hb_checkpoint_find              (HbCheckpoint *ckpt, const char *key);
/* The same, with an error naming the key and the file when absent. */
const HbStTensor   *hb_checkpoint_get               (HbCheckpoint *ckpt, const char *key,
                                                     GError **error);
/* The file a key is (or would be) read from. */
const char         *hb_checkpoint_file_for_key      (HbCheckpoint *ckpt, const char *key);
guint               hb_checkpoint_n_tensors         (HbCheckpoint *ckpt);
const HbStTensor   *hb_checkpoint_nth               (HbCheckpoint *ckpt, guint i);

/* A "__metadata__" value from the safetensors header(s), or NULL. */
const char         *hb_checkpoint_get_metadata      (HbCheckpoint *ckpt, const char *key);
/* "epsilon" or "v_prediction": from a diffusers scheduler config, or the
 * metadata (modelspec.prediction_type, huabu.prediction_type,
 * prediction_type); "epsilon" when none says. */
const char         *hb_checkpoint_get_prediction_type (HbCheckpoint *ckpt);
gboolean            hb_checkpoint_is_v_prediction   (HbCheckpoint *ckpt);

/* SHA-256 of the checkpoint file (a diffusers folder: its UNet file) in
 * hex, computed on the first call (reading the whole file: seconds for
 * 2 GB) and then remembered. Free with g_free. */
char               *hb_checkpoint_get_sha256        (HbCheckpoint *ckpt, GError **error);
/* Its first 10 hex digits: the web UIs' "model hash". */
char               *hb_checkpoint_get_hash          (HbCheckpoint *ckpt, GError **error);

G_END_DECLS
