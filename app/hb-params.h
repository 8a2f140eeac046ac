/* hb-params.h — every parameter of one generation, as text and as JSON
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A generation record travels in three shapes: the "parameters" text that
 * other tools write into their PNGs (the AUTOMATIC1111 web UI convention),
 * a JSON object with everything including lineage (Huabu's own "huabu"
 * chunk), and a row of the history database. Values are kept as the text
 * other tools wrote them (a sampler Huabu does not have stays readable), so
 * nothing read from a foreign PNG is lost when it is written back.
 */
#pragma once

#include <glib-object.h>
#include "huabu-engine.h"

G_BEGIN_DECLS

/* PNG text chunk keywords. */
#define HB_PNG_KEY_PARAMETERS "parameters"
#define HB_PNG_KEY_HUABU      "huabu"
#define HB_PNG_KEY_COMFY      "prompt"

typedef struct {
  char *key;
  char *value;
} HbParamExtra;

typedef struct {
  gint64     id;               /* history row id; 0 when not stored */
  char      *prompt;           /* never NULL */
  char      *negative_prompt;  /* never NULL; "" when there is none */
  int        steps;            /* 0: unknown */
  char      *sampler;          /* "Euler a"; NULL: unknown */
  char      *schedule;         /* "Karras"; NULL: unknown or the sampler's default */
  double     cfg;              /* < 0: unknown */
  gboolean   has_seed;
  guint64    seed;
  char      *rng;              /* NULL: the default (Philox, the web UIs' convention) */
  int        width;            /* 0: unknown */
  int        height;
  double     strength;         /* img2img denoising strength; < 0: not img2img */
  int        clip_skip;        /* 0: unknown, 1: last layer */
  char      *model_name;
  char      *model_hash;
  double     duration_s;       /* generation time; < 0: unknown */
  gint64     created_us;       /* wall-clock time (µs since the epoch); 0: unknown */
  gboolean   favourite;
  /* Lineage. Paths are relative to the history folder for stored
   * pictures, absolute otherwise. */
  gint64     parent_id;        /* 0: none */
  char      *parent_path;      /* the parent picture; survives a rebuild, ids do not */
  char      *sketch_path;
  char      *mask_path;
  char      *image_path;
  /* Keys of the parameters line that Huabu does not interpret, in order. */
  GPtrArray *extras;           /* of HbParamExtra */
} HbGenerationRecord;

#define HB_TYPE_GENERATION_RECORD (hb_generation_record_get_type ())
GType               hb_generation_record_get_type    (void) G_GNUC_CONST;

HbGenerationRecord *hb_generation_record_new         (void);
HbGenerationRecord *hb_generation_record_copy        (const HbGenerationRecord *record);
void                hb_generation_record_free        (HbGenerationRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbGenerationRecord, hb_generation_record_free)

const char         *hb_generation_record_get_extra   (const HbGenerationRecord *record,
                                                      const char               *key);
void                hb_generation_record_set_extra   (HbGenerationRecord       *record,
                                                      const char               *key,
                                                      const char               *value);

/* From an engine request (what the app and huabu-cli generate with). */
HbGenerationRecord *hb_generation_record_new_from_params (const HbGenerateParams *params,
                                                          const char             *model_name,
                                                          const char             *model_hash);
/* Fills params from the record, leaving fields the record does not know
 * alone. The strings point into the record. Returns FALSE, with a message
 * naming the value, when a sampler/schedule/RNG is one Huabu cannot run;
 * everything else is still applied. */
gboolean            hb_generation_record_apply_to_params (const HbGenerationRecord *record,
                                                          HbGenerateParams         *params,
                                                          GError                  **error);

/* The "parameters" text: prompt, "Negative prompt: ..." line, then the
 * "Steps: 20, Sampler: Euler a, ..." line with only the values known. */
char               *hb_generation_record_to_parameters   (const HbGenerationRecord *record);
/* Never fails: a text without a recognisable settings line is all prompt. */
HbGenerationRecord *hb_generation_record_from_parameters (const char *text);

char               *hb_generation_record_to_json         (const HbGenerationRecord *record);
HbGenerationRecord *hb_generation_record_from_json       (const char *json, GError **error);

/* ComfyUI's API-format "prompt" chunk, best effort: the first KSampler's
 * seed/steps/cfg/sampler/scheduler/denoise and the CLIPTextEncode texts
 * wired to its positive and negative inputs. */
HbGenerationRecord *hb_generation_record_from_comfy      (const char *json, GError **error);

/* From a PNG's text chunks (keyword -> UTF-8 text): Huabu's JSON if there,
 * else "parameters", else ComfyUI's "prompt". NULL with an error when none
 * of them is present or readable. */
HbGenerationRecord *hb_generation_record_from_png_texts  (GHashTable *texts, GError **error);

G_END_DECLS
