/* hb-gallery-view.h — the history as a searchable grid with a detail pane
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Self-contained: give it the store; it shows its own toasts (delete with
 * undo, export done, errors). The window listens to two signals:
 *
 *   "reuse-parameters" (HbGenerationRecord *record)
 *       put these parameters into the sidebar. Also on activating a tile
 *       (double click, Enter).
 *   "send-to-canvas"   (HbGenerationRecord *record, const char *image_path)
 *       load this picture onto the canvas as the sketch.
 *
 * Keyboard: arrows move in the grid, Ctrl+F searches, Delete deletes the
 * selection (Ctrl+Z or the toast's Undo brings it back), Ctrl+R reuses,
 * Ctrl+E sends to the canvas, Ctrl+D toggles the favourite, Ctrl+Shift+C
 * copies the prompt, Ctrl+Shift+E exports the selection.
 */
#pragma once

#include <adwaita.h>
#include "hb-history-store.h"

G_BEGIN_DECLS

#define HB_TYPE_GALLERY_VIEW (hb_gallery_view_get_type ())
G_DECLARE_FINAL_TYPE (HbGalleryView, hb_gallery_view, HB, GALLERY_VIEW, AdwBin)

GtkWidget      *hb_gallery_view_new          (HbHistoryStore *store);
HbHistoryStore *hb_gallery_view_get_store    (HbGalleryView  *self);
/* Puts text in the search entry (and so searches). */
void            hb_gallery_view_search       (HbGalleryView  *self,
                                              const char     *text);
void            hb_gallery_view_focus_search (HbGalleryView  *self);
/* The grid's model (of HbHistoryItem). */
GListModel     *hb_gallery_view_get_model    (HbGalleryView  *self);
/* Selects only the picture at position (0: the newest) and shows it. */
void            hb_gallery_view_select       (HbGalleryView  *self,
                                              guint           position);

G_END_DECLS
