/* hb-canvas.h — the paint canvas
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Three layers: the sketch (opaque RGBA, starts white; the init image of
 * img2img), the result (a generated picture or preview shown over the
 * sketch until it is kept or discarded) and the inpainting mask (shown as a
 * tint). Every edit of the sketch or mask can be undone. Coordinates in
 * this API are canvas pixels unless a name says otherwise.
 */
#pragma once

#include <gtk/gtk.h>

#include "huabu-engine.h"

G_BEGIN_DECLS

typedef enum {
  HB_TOOL_BRUSH,
  HB_TOOL_ERASER,
  HB_TOOL_FILL,
  HB_TOOL_PICKER,
  HB_TOOL_MASK,
  HB_TOOL_MASK_ERASER,
} HbTool;

#define HB_TYPE_TOOL (hb_tool_get_type ())
GType hb_tool_get_type (void);

#define HB_TYPE_CANVAS (hb_canvas_get_type ())
G_DECLARE_FINAL_TYPE (HbCanvas, hb_canvas, HB, CANVAS, GtkWidget)

GtkWidget     *hb_canvas_new                (void);

/* A fresh white canvas of this size, with nothing to undo. */
void           hb_canvas_reset              (HbCanvas      *self,
                                             int            width,
                                             int            height);
int            hb_canvas_get_canvas_width   (HbCanvas      *self);
int            hb_canvas_get_canvas_height  (HbCanvas      *self);
/* Scales the sketch and mask to the new size; undoable. */
void           hb_canvas_set_canvas_size    (HbCanvas      *self,
                                             int            width,
                                             int            height);

HbTool         hb_canvas_get_tool           (HbCanvas      *self);
void           hb_canvas_set_tool           (HbCanvas      *self,
                                             HbTool         tool);
double         hb_canvas_get_brush_size     (HbCanvas      *self);
void           hb_canvas_set_brush_size     (HbCanvas      *self,
                                             double         size);
void           hb_canvas_get_color          (HbCanvas      *self,
                                             GdkRGBA       *color);
void           hb_canvas_set_color          (HbCanvas      *self,
                                             const GdkRGBA *color);

/* A stroke with the current tool; pressure in [0, 1] scales the dab. */
void           hb_canvas_stroke_begin       (HbCanvas      *self,
                                             double         x,
                                             double         y,
                                             double         pressure);
void           hb_canvas_stroke_to          (HbCanvas      *self,
                                             double         x,
                                             double         y,
                                             double         pressure);
void           hb_canvas_stroke_end         (HbCanvas      *self);
void           hb_canvas_fill               (HbCanvas      *self,
                                             int            x,
                                             int            y);
void           hb_canvas_pick_color         (HbCanvas      *self,
                                             int            x,
                                             int            y);
void           hb_canvas_clear              (HbCanvas      *self);
gboolean       hb_canvas_undo               (HbCanvas      *self);
gboolean       hb_canvas_redo               (HbCanvas      *self);
gboolean       hb_canvas_can_undo           (HbCanvas      *self);
gboolean       hb_canvas_can_redo           (HbCanvas      *self);

/* The sketch's RGBA bytes, rows packed; valid until the next edit. */
const guint8  *hb_canvas_get_sketch_pixels  (HbCanvas      *self,
                                             int           *width,
                                             int           *height);
gboolean       hb_canvas_sketch_is_blank    (HbCanvas      *self);
HbImage       *hb_canvas_copy_sketch        (HbCanvas      *self);
/* NULL when nothing is masked; white = repaint. */
HbImage       *hb_canvas_copy_mask          (HbCanvas      *self);

/* Shows image over the sketch, scaled to the canvas (previews are small). */
void           hb_canvas_show_result        (HbCanvas      *self,
                                             const HbImage *image);
gboolean       hb_canvas_has_result         (HbCanvas      *self);
/* The result becomes the sketch (undoable). */
void           hb_canvas_keep_result        (HbCanvas      *self);
void           hb_canvas_discard_result     (HbCanvas      *self);

/* Draws a picture onto the sketch, scaled to fit (undoable). */
void           hb_canvas_import_texture     (HbCanvas      *self,
                                             GdkTexture    *texture);
/* What the canvas shows: the result if any (at its own size), else the sketch. */
HbImage       *hb_canvas_copy_visible       (HbCanvas      *self);

double         hb_canvas_get_zoom           (HbCanvas      *self);
void           hb_canvas_zoom_by            (HbCanvas      *self,
                                             double         factor);
void           hb_canvas_zoom_to_fit        (HbCanvas      *self);

G_END_DECLS
