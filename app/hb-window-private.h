/* hb-window-private.h — the window's parts, for the UI tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "hb-canvas.h"
#include "hb-gallery-view.h"
#include "hb-sidebar.h"
#include "hb-window.h"

G_BEGIN_DECLS

HbCanvas   *_hb_window_get_canvas         (HbWindow *self);
HbSidebar  *_hb_window_get_sidebar        (HbWindow *self);
/* The message shown for the last failed generation, or NULL. */
const char *_hb_window_get_error_message  (HbWindow *self);
/* The dialog showing it while it is open, or NULL. */
GtkWindow  *_hb_window_get_error_dialog   (HbWindow *self);
/* Microseconds from Generate to the first preview drawn; 0 until then. */
gint64      _hb_window_get_first_preview_us (HbWindow *self);
/* The history view; NULL when the history could not be opened. */
HbGalleryView *_hb_window_get_gallery     (HbWindow *self);
/* "canvas" or "history". */
const char *_hb_window_get_visible_view   (HbWindow *self);
/* What dropping or importing file does. */
gboolean    _hb_window_open_file          (HbWindow *self,
                                           GFile    *file);

G_END_DECLS
