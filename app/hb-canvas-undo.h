/* hb-canvas-undo.h — the canvas's undo stack
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A step is one user edit (a stroke, a fill, a clear, a resize). It keeps
 * only what changed: the rectangle a stroke touched, before and after, or a
 * whole layer when its size changed. The stack forgets its oldest steps
 * when it holds more than max_steps or max_bytes, so memory stays bounded.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One layer's pixels, rows packed (stride = width * bpp). */
typedef struct {
  int     width;
  int     height;
  int     bpp;
  guint8 *data;
} HbPixels;

HbPixels    *hb_pixels_new              (int width, int height, int bpp);
HbPixels    *hb_pixels_copy             (const HbPixels *pixels);
void         hb_pixels_free             (HbPixels *pixels);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbPixels, hb_pixels_free)

typedef struct _HbUndoStack HbUndoStack;

HbUndoStack *hb_undo_stack_new          (guint           max_steps,
                                         gsize           max_bytes);
void         hb_undo_stack_free         (HbUndoStack    *stack);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbUndoStack, hb_undo_stack_free)

/* A step is built from one or more changes between begin and end; begin
 * drops every step that could be redone. */
void         hb_undo_stack_begin        (HbUndoStack    *stack);
/* The rectangle x, y, w, h of layer changed from before to after (both the
 * layer's full pixels, same size). */
void         hb_undo_stack_add_region   (HbUndoStack    *stack,
                                         guint           layer,
                                         const HbPixels *before,
                                         const HbPixels *after,
                                         int             x,
                                         int             y,
                                         int             w,
                                         int             h);
/* The whole layer was replaced, possibly by one of another size. */
void         hb_undo_stack_add_replace  (HbUndoStack    *stack,
                                         guint           layer,
                                         const HbPixels *before,
                                         const HbPixels *after);
void         hb_undo_stack_end          (HbUndoStack    *stack);

/* layers is indexed by the layer numbers given above; a replaced layer is
 * swapped for a new HbPixels (the old one freed). */
gboolean     hb_undo_stack_undo         (HbUndoStack    *stack,
                                         HbPixels      **layers);
gboolean     hb_undo_stack_redo         (HbUndoStack    *stack,
                                         HbPixels      **layers);
gboolean     hb_undo_stack_can_undo     (HbUndoStack    *stack);
gboolean     hb_undo_stack_can_redo     (HbUndoStack    *stack);
guint        hb_undo_stack_get_n_steps  (HbUndoStack    *stack);
gsize        hb_undo_stack_get_n_bytes  (HbUndoStack    *stack);

G_END_DECLS
