/* hb-window.h — the main window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "hb-application.h"

G_BEGIN_DECLS

#define HB_TYPE_WINDOW (hb_window_get_type ())
G_DECLARE_FINAL_TYPE (HbWindow, hb_window, HB, WINDOW, AdwApplicationWindow)

HbWindow *hb_window_new (HbApplication *application);

G_END_DECLS
