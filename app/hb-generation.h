/* hb-generation.h — runs the engine off the main thread
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One run at a time on a worker thread; the engine and the model are
 * loaded there on first use and kept for the next run. Every signal is
 * emitted on the main thread. A request submitted while a run is in flight
 * waits, and a newer one replaces it, so live painting never queues up.
 */
#pragma once

#include <gio/gio.h>

#include "huabu-engine.h"

G_BEGIN_DECLS

/* Everything one run needs, owned: the engine reads it on the worker. */
typedef struct {
  char             *model_path;   /* NULL or "": the built-in model */
  char             *device;       /* NULL or "": the engine's choice */
  char             *prompt;
  char             *negative_prompt;
  HbImage          *init;         /* img2img source, or NULL */
  HbImage          *mask;         /* inpainting mask, or NULL */
  HbGenerateParams  params;       /* prompts and images point into the above */
  int               batch_count;  /* pictures, seeds seed, seed+1, ... */
} HbGenerationRequest;

HbGenerationRequest *hb_generation_request_new  (void);
void                 hb_generation_request_free (HbGenerationRequest *request);
/* Points params at the request's own strings and images; call after
 * setting them and before submitting. */
void                 hb_generation_request_seal (HbGenerationRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbGenerationRequest, hb_generation_request_free)

#define HB_TYPE_GENERATION (hb_generation_get_type ())
G_DECLARE_FINAL_TYPE (HbGeneration, hb_generation, HB, GENERATION, GObject)

HbGeneration *hb_generation_new         (void);
/* Takes ownership of request. */
void          hb_generation_submit      (HbGeneration        *self,
                                         HbGenerationRequest *request);
/* Takes ownership of request. Starts the engine and loads the request's
 * model on the engine thread and runs one step at the request's size,
 * throwing the picture away, so that the pipelines are compiled before the
 * first generation. Emits nothing; a submit made meanwhile waits for it.
 * Does nothing while a run or another warm-up is in flight. */
void          hb_generation_warm_up     (HbGeneration        *self,
                                         HbGenerationRequest *request);
/* Stops the run (and any warm-up) in flight within one step and drops a
 * waiting request. */
void          hb_generation_cancel      (HbGeneration        *self);
gboolean      hb_generation_is_running  (HbGeneration        *self);
/* A run or a warm-up in flight: the engine thread is in use. */
gboolean      hb_generation_is_busy     (HbGeneration        *self);
/* NULL until a run started: the device and model of the latest run. */
const char   *hb_generation_get_device_name (HbGeneration    *self);
const char   *hb_generation_get_model_name  (HbGeneration    *self);
const char   *hb_generation_get_model_hash  (HbGeneration    *self);

G_END_DECLS
