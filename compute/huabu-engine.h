/* huabu-engine.h — the engine's public API
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The app, huabu-cli and the tests go through this header. Nothing here
 * knows about windows. All functions report problems through GError with
 * messages meant for the person using the program: what is wrong and what
 * to do about it.
 */
#pragma once

#include <gio/gio.h>
#include <stdint.h>

G_BEGIN_DECLS

#include "hb-backend.h"

typedef struct _HbEngine HbEngine;
typedef struct _HbModel  HbModel;

typedef enum {
  HB_SAMPLER_EULER,
  HB_SAMPLER_EULER_A,
  HB_SAMPLER_DPMPP_2M,
  HB_SAMPLER_DDIM,
  HB_SAMPLER_LCM,
  HB_N_SAMPLERS
} HbSampler;

typedef enum {
  HB_SCHEDULE_DISCRETE,
  HB_SCHEDULE_KARRAS,
  HB_N_SCHEDULES
} HbSchedule;

typedef enum {
  HB_RNG_PHILOX,   /* PyTorch's CUDA generator: the web UIs' convention */
  HB_RNG_CPU,      /* PyTorch's CPU generator (mt19937) */
  HB_N_RNGS
} HbRngKind;

/* An 8-bit RGBA picture, rows packed (stride = width * 4). */
typedef struct {
  int     width;
  int     height;
  guint8 *rgba;
} HbImage;

HbImage    *hb_image_new              (int width, int height);
HbImage    *hb_image_copy             (const HbImage *image);
void        hb_image_free             (HbImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbImage, hb_image_free)

typedef struct {
  const char    *prompt;
  const char    *negative_prompt;
  guint64        seed;
  int            steps;
  float          cfg;
  HbSampler      sampler;
  HbSchedule     schedule;
  HbRngKind      rng;
  int            width;
  int            height;
  int            clip_skip;      /* 1 = last layer (default) */
  const HbImage *init;           /* img2img source, or NULL */
  float          strength;       /* img2img: fraction of the schedule that is re-run */
  const HbImage *mask;           /* inpainting: white = repaint, or NULL */
} HbGenerateParams;

void        hb_generate_params_init   (HbGenerateParams *params);

/* Names as other tools write them ("Euler a", "DPM++ 2M", ...). */
const char *hb_sampler_to_string      (HbSampler sampler);
gboolean    hb_sampler_from_string    (const char *str, HbSampler *out);
const char *hb_schedule_to_string     (HbSchedule schedule);
gboolean    hb_schedule_from_string   (const char *str, HbSchedule *out);
const char *hb_rng_to_string          (HbRngKind rng);
gboolean    hb_rng_from_string        (const char *str, HbRngKind *out);

/* Called after each sampling step on the engine's thread. preview is the
 * current x0 estimate through the latent->RGB projection, at latent size
 * (width/8 x height/8). Return FALSE to stop (same as cancelling). */
typedef gboolean (*HbProgressFunc) (int             step,
                                    int             n_steps,
                                    float           sigma,
                                    const HbImage  *preview,
                                    gpointer        user_data);

/* device: NULL picks discrete GPU, then integrated, then CPU (lavapipe);
 * HUABU_DEVICE (an index or part of the name) overrides it. */
HbEngine   *hb_engine_new             (const char *device, GError **error);
void        hb_engine_free            (HbEngine *engine);
const char *hb_engine_device_name     (HbEngine *engine);
HbBackend  *hb_engine_backend         (HbEngine *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbEngine, hb_engine_free)

/* path: a single-file .safetensors checkpoint or a diffusers folder. */
HbModel    *hb_model_load             (HbEngine *engine, const char *path, GError **error);
void        hb_model_free             (HbModel *model);
const char *hb_model_get_name         (HbModel *model);
/* First 10 hex digits of the checkpoint file's SHA-256 (web UI convention). */
const char *hb_model_get_hash         (HbModel *model);
/* The size the model was trained at ("huabu.resolution" metadata; 512 for
 * Stable Diffusion 1.x). */
void        hb_model_native_size      (HbModel *model, int *width, int *height);
/* The classifier-free guidance scale the model was made and measured for
 * ("huabu.cfg_scale" metadata, 1–30), or 0 where it names none (Stable
 * Diffusion 1.x checkpoints: HB_DEFAULT_CFG is their usual). */
double      hb_model_get_recommended_cfg (HbModel *model);
/* The same from the checkpoint's header alone, without loading weights, for
 * a model chosen in a list; 0 also where path cannot be opened (loading it
 * reports why). NULL or "": the built-in model. */
double      hb_model_file_recommended_cfg (const char *path);
/* The sampler the model was made and measured for ("huabu.sampler"
 * metadata, a name as hb_sampler_from_string reads it): FALSE, and out
 * untouched, where it names none or none known. */
gboolean    hb_model_get_recommended_sampler (HbModel   *model,
                                              HbSampler *out);
/* The same from the header alone; NULL or "": the built-in model. */
gboolean    hb_model_file_recommended_sampler (const char *path,
                                               HbSampler  *out);
/* Both from one read of the header, for a model chosen in a list: cfg as
 * hb_model_file_recommended_cfg, the return value and sampler as
 * hb_model_file_recommended_sampler. */
gboolean    hb_model_file_recommended (const char *path,
                                       double     *cfg,
                                       HbSampler  *sampler);
#define HB_DEFAULT_CFG 7.0
/* Human-readable architecture and parameter counts. */
char       *hb_model_describe         (HbModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbModel, hb_model_free)

/* The model that ships with Huabu: an installed path, or the source tree's
 * data/models when run uninstalled. HUABU_MODEL overrides it. */
char       *hb_default_model_path     (void);

/* Where the time of the last generation went, in milliseconds. The first
 * generation at a size also builds graphs, compiles pipelines and uploads
 * weights, which lands in the stage that first needs them. */
typedef struct {
  double text_ms;        /* tokenizer + text encoder */
  double init_ms;        /* VAE encoder (img2img) */
  double sample_ms;      /* all sampling steps */
  int    steps_run;
  double decode_ms;      /* VAE decoder */
  double total_ms;
} HbGenerateTimings;

void        hb_engine_get_timings     (HbEngine *engine, HbGenerateTimings *timings);
/* With profiling on (Vulkan only), GPU time per op of the last UNet
 * evaluation: a GArray of HbOpTiming, or NULL. Free with g_array_unref. */
void        hb_engine_set_profiling   (HbEngine *engine, gboolean enable);
GArray     *hb_engine_get_unet_profile (HbEngine *engine);
/* The same for the last VAE decode. */
GArray     *hb_engine_get_decode_profile (HbEngine *engine);

HbImage    *hb_engine_generate        (HbEngine               *engine,
                                       HbModel                *model,
                                       const HbGenerateParams *params,
                                       HbProgressFunc          progress,
                                       gpointer                user_data,
                                       GCancellable           *cancellable,
                                       GError                **error);

G_END_DECLS
