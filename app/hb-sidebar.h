/* hb-sidebar.h — the prompt sidebar
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Prompt, negative prompt, model and sampling settings, each bound to
 * GSettings so the last values come back next time; the Generate/Cancel
 * button and the progress of the run in flight.
 */
#pragma once

#include <gtk/gtk.h>

#include "hb-generation.h"
#include "hb-params.h"

G_BEGIN_DECLS

#define HB_TYPE_SIDEBAR (hb_sidebar_get_type ())
G_DECLARE_FINAL_TYPE (HbSidebar, hb_sidebar, HB, SIDEBAR, GtkWidget)

/* settings: an io.github.huabu.Huabu GSettings. */
void        hb_sidebar_set_settings      (HbSidebar           *self,
                                          GSettings           *settings);
/* Fills prompt, model and sampling fields. With a free (unlocked) seed a
 * new one is drawn and shown first, unless keep_seed. */
void        hb_sidebar_fill_request      (HbSidebar           *self,
                                          HbGenerationRequest *request,
                                          gboolean             keep_seed);
/* Puts a stored generation's prompt and settings into the sidebar (and so
 * into GSettings), keeping its seed. Values Huabu cannot use (a sampler it
 * lacks) are left as they were and named in the error; the rest is applied
 * either way. */
gboolean    hb_sidebar_apply_record      (HbSidebar                *self,
                                          const HbGenerationRecord *record,
                                          GError                  **error);
void        hb_sidebar_set_prompt        (HbSidebar           *self,
                                          const char          *prompt);
char       *hb_sidebar_dup_prompt        (HbSidebar           *self);

void        hb_sidebar_set_running       (HbSidebar           *self,
                                          gboolean             running);
/* step 0 means the model is loading. */
void        hb_sidebar_set_progress      (HbSidebar           *self,
                                          int                  image_index,
                                          int                  n_images,
                                          int                  step,
                                          int                  n_steps,
                                          double               elapsed);
const char *hb_sidebar_get_progress_text (HbSidebar           *self);

G_END_DECLS
