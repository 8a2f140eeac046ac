/* hb-application.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The application owns what its windows share: the settings, the
 * generation worker (one engine per process) and the history store.
 */
#pragma once

#include <adwaita.h>

#include "hb-generation.h"
#include "hb-history-store.h"

G_BEGIN_DECLS

#define HB_TYPE_APPLICATION (hb_application_get_type ())
G_DECLARE_FINAL_TYPE (HbApplication, hb_application, HB, APPLICATION, AdwApplication)

HbApplication  *hb_application_new            (void);
GSettings      *hb_application_get_settings   (HbApplication *self);
HbGeneration   *hb_application_get_generation (HbApplication *self);
/* NULL when the history could not be opened; the window says why. */
HbHistoryStore *hb_application_get_history    (HbApplication *self);
/* Why the history could not be opened, or what opening repaired; or NULL. */
const char     *hb_application_get_history_notice (HbApplication *self);

G_END_DECLS
