/* hb-preferences.h — the preferences window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "hb-generation.h"

G_BEGIN_DECLS

#define HB_TYPE_PREFERENCES (hb_preferences_get_type ())
G_DECLARE_FINAL_TYPE (HbPreferences, hb_preferences, HB, PREFERENCES, AdwPreferencesWindow)

HbPreferences *hb_preferences_new (GSettings    *settings,
                                   HbGeneration *generation);

G_END_DECLS
