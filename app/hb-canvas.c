/* hb-canvas.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "hb-canvas.h"
#include "hb-canvas-undo.h"

#define DEFAULT_SIZE      128
#define FIT_MARGIN        24.0
#define MIN_ZOOM          0.05
#define MAX_ZOOM          64.0
#define UNDO_MAX_STEPS    200
#define UNDO_MAX_BYTES    (256u << 20)
#define FILL_TOLERANCE    32
#define MASK_TINT_ALPHA   0.45

enum {
  LAYER_SKETCH,
  LAYER_MASK,
  N_LAYERS
};

struct _HbCanvas
{
  GtkWidget    parent_instance;

  /* owned */
  HbPixels    *layers[N_LAYERS];
  HbImage     *result;
  HbUndoStack *undo;
  GdkTexture  *sketch_texture;
  GdkTexture  *mask_texture;
  GdkTexture  *result_texture;

  /* the stroke in progress */
  HbPixels    *stroke_before;
  float       *stroke_coverage;
  guint        stroke_layer;
  int          dirty_x0, dirty_y0, dirty_x1, dirty_y1;
  double       last_x, last_y, last_pressure;
  double       distance_left;
  gboolean     stroking;

  /* view */
  double       zoom;
  double       offset_x;
  double       offset_y;
  gboolean     fit;
  double       pointer_x;
  double       pointer_y;
  double       pan_start_x;
  double       pan_start_y;
  double       zoom_gesture_start;

  HbTool       tool;
  double       brush_size;
  double       opacity;
  GdkRGBA      color;
};

G_DEFINE_FINAL_TYPE (HbCanvas, hb_canvas, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_TOOL,
  PROP_BRUSH_SIZE,
  PROP_OPACITY,
  PROP_COLOR,
  PROP_CAN_UNDO,
  PROP_CAN_REDO,
  PROP_HAS_RESULT,
  PROP_CANVAS_WIDTH,
  PROP_CANVAS_HEIGHT,
  N_PROPS
};

enum {
  STROKE_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

GType
hb_tool_get_type (void)
{
  static gsize type_id;

  if (g_once_init_enter (&type_id))
    {
      static const GEnumValue values[] = {
        { HB_TOOL_BRUSH, "HB_TOOL_BRUSH", "brush" },
        { HB_TOOL_ERASER, "HB_TOOL_ERASER", "eraser" },
        { HB_TOOL_FILL, "HB_TOOL_FILL", "fill" },
        { HB_TOOL_PICKER, "HB_TOOL_PICKER", "picker" },
        { HB_TOOL_MASK, "HB_TOOL_MASK", "mask" },
        { HB_TOOL_MASK_ERASER, "HB_TOOL_MASK_ERASER", "mask-eraser" },
        { 0, NULL, NULL }
      };
      GType id = g_enum_register_static (g_intern_static_string ("HbTool"), values);

      g_once_init_leave (&type_id, id);
    }
  return type_id;
}

/* ---- textures -------------------------------------------------------- */

static GdkTexture *
texture_from_rgba (const guint8 *rgba,
                   int           width,
                   int           height)
{
  g_autoptr(GBytes) bytes = g_bytes_new (rgba, (gsize) width * height * 4);

  return gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8A8, bytes, (gsize) width * 4);
}

static void
invalidate_sketch (HbCanvas *self)
{
  g_clear_object (&self->sketch_texture);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
invalidate_mask (HbCanvas *self)
{
  g_clear_object (&self->mask_texture);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static GdkTexture *
ensure_sketch_texture (HbCanvas *self)
{
  HbPixels *sketch = self->layers[LAYER_SKETCH];

  if (self->sketch_texture == NULL)
    self->sketch_texture = texture_from_rgba (sketch->data, sketch->width, sketch->height);
  return self->sketch_texture;
}

static gboolean
mask_is_empty (HbCanvas *self)
{
  HbPixels *mask = self->layers[LAYER_MASK];
  gsize n = (gsize) mask->width * mask->height;

  for (gsize i = 0; i < n; i++)
    if (mask->data[i] != 0)
      return FALSE;
  return TRUE;
}

/* NULL when nothing is masked, so an unused mask costs nothing to draw. */
static GdkTexture *
ensure_mask_texture (HbCanvas *self)
{
  HbPixels *mask = self->layers[LAYER_MASK];
  g_autofree guint8 *tint = NULL;
  gsize n = (gsize) mask->width * mask->height;

  if (self->mask_texture != NULL || mask_is_empty (self))
    return self->mask_texture;

  /* A warm red reads as "this will change" on both light and dark sketches. */
  tint = g_malloc (n * 4);
  for (gsize i = 0; i < n; i++)
    {
      tint[i * 4 + 0] = 0xe0;
      tint[i * 4 + 1] = 0x1b;
      tint[i * 4 + 2] = 0x24;
      tint[i * 4 + 3] = (guint8) (mask->data[i] * MASK_TINT_ALPHA);
    }
  self->mask_texture = texture_from_rgba (tint, mask->width, mask->height);
  return self->mask_texture;
}

/* ---- view ------------------------------------------------------------ */

static void
update_fit (HbCanvas *self)
{
  HbPixels *sketch = self->layers[LAYER_SKETCH];
  double w = gtk_widget_get_width (GTK_WIDGET (self));
  double h = gtk_widget_get_height (GTK_WIDGET (self));
  double zx, zy;

  if (w <= 0 || h <= 0)
    return;

  zx = MAX (w - 2 * FIT_MARGIN, 1) / sketch->width;
  zy = MAX (h - 2 * FIT_MARGIN, 1) / sketch->height;
  self->zoom = CLAMP (MIN (zx, zy), MIN_ZOOM, MAX_ZOOM);
  self->offset_x = round ((w - sketch->width * self->zoom) / 2);
  self->offset_y = round ((h - sketch->height * self->zoom) / 2);
}

static void
widget_to_canvas (HbCanvas *self,
                  double    wx,
                  double    wy,
                  double   *cx,
                  double   *cy)
{
  *cx = (wx - self->offset_x) / self->zoom;
  *cy = (wy - self->offset_y) / self->zoom;
}

static void
zoom_around (HbCanvas *self,
             double    new_zoom,
             double    wx,
             double    wy)
{
  double cx, cy;

  new_zoom = CLAMP (new_zoom, MIN_ZOOM, MAX_ZOOM);
  widget_to_canvas (self, wx, wy, &cx, &cy);
  self->zoom = new_zoom;
  self->offset_x = wx - cx * new_zoom;
  self->offset_y = wy - cy * new_zoom;
  self->fit = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

double
hb_canvas_get_zoom (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), 1.0);
  return self->zoom;
}

void
hb_canvas_zoom_by (HbCanvas *self,
                   double    factor)
{
  g_return_if_fail (HB_IS_CANVAS (self));
  zoom_around (self, self->zoom * factor,
               gtk_widget_get_width (GTK_WIDGET (self)) / 2.0,
               gtk_widget_get_height (GTK_WIDGET (self)) / 2.0);
}

void
hb_canvas_zoom_to_fit (HbCanvas *self)
{
  g_return_if_fail (HB_IS_CANVAS (self));
  self->fit = TRUE;
  update_fit (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* ---- undo bookkeeping ------------------------------------------------ */

static void
notify_undo_state (HbCanvas *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNDO]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_REDO]);
}

static void
record_full_region (HbCanvas       *self,
                    guint           layer,
                    const HbPixels *before)
{
  HbPixels *after = self->layers[layer];

  hb_undo_stack_add_region (self->undo, layer, before, after, 0, 0, after->width, after->height);
}

/* ---- painting -------------------------------------------------------- */

static inline float
smoothstep (float edge0,
            float edge1,
            float x)
{
  float t = CLAMP ((x - edge0) / (edge1 - edge0), 0.0f, 1.0f);

  return t * t * (3.0f - 2.0f * t);
}

static gboolean
tool_paints_mask (HbTool tool)
{
  return tool == HB_TOOL_MASK || tool == HB_TOOL_MASK_ERASER;
}

/* Blends the stroke colour over the pixels as they were when the stroke
 * began, by the stroke's coverage. Working from the untouched copy keeps
 * overlapping dabs from darkening a half-opaque stroke. */
static void
composite_stroke_pixel (HbCanvas *self,
                        gsize     i)
{
  HbPixels *layer = self->layers[self->stroke_layer];
  const guint8 *src = self->stroke_before->data;
  float coverage = self->stroke_coverage[i];

  if (self->stroke_layer == LAYER_MASK)
    {
      float target = self->tool == HB_TOOL_MASK ? 255.0f : 0.0f;

      layer->data[i] = (guint8) lrintf (src[i] + (target - src[i]) * coverage);
    }
  else
    {
      float a = coverage * (float) self->opacity;
      float rgb[3];

      if (self->tool == HB_TOOL_ERASER)
        rgb[0] = rgb[1] = rgb[2] = 255.0f;
      else
        {
          rgb[0] = (float) self->color.red * 255.0f;
          rgb[1] = (float) self->color.green * 255.0f;
          rgb[2] = (float) self->color.blue * 255.0f;
        }
      for (int c = 0; c < 3; c++)
        layer->data[i * 4 + c] = (guint8) lrintf (src[i * 4 + c] + (rgb[c] - src[i * 4 + c]) * a);
      layer->data[i * 4 + 3] = 255;
    }
}

static void
stamp_dab (HbCanvas *self,
           double    cx,
           double    cy,
           double    pressure)
{
  HbPixels *layer = self->layers[self->stroke_layer];
  float radius = (float) MAX (self->brush_size * CLAMP (pressure, 0.05, 1.0) / 2.0, 0.5);
  int x0 = MAX ((int) floor (cx - radius - 1), 0);
  int y0 = MAX ((int) floor (cy - radius - 1), 0);
  int x1 = MIN ((int) ceil (cx + radius + 1), layer->width - 1);
  int y1 = MIN ((int) ceil (cy + radius + 1), layer->height - 1);

  if (x0 > x1 || y0 > y1)
    return;

  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++)
      {
        float dx = (float) (x + 0.5 - cx);
        float dy = (float) (y + 0.5 - cy);
        float d = sqrtf (dx * dx + dy * dy);
        gsize i = (gsize) y * layer->width + x;
        float alpha;

        /* Small brushes antialias by pixel coverage; larger ones get a soft rim. */
        if (radius < 1.5f)
          alpha = CLAMP (radius + 0.5f - d, 0.0f, 1.0f);
        else
          alpha = 1.0f - smoothstep (radius * 0.6f, radius, d);

        if (alpha > self->stroke_coverage[i])
          {
            self->stroke_coverage[i] = alpha;
            composite_stroke_pixel (self, i);
          }
      }

  self->dirty_x0 = MIN (self->dirty_x0, x0);
  self->dirty_y0 = MIN (self->dirty_y0, y0);
  self->dirty_x1 = MAX (self->dirty_x1, x1);
  self->dirty_y1 = MAX (self->dirty_y1, y1);
}

static void
invalidate_layer (HbCanvas *self,
                  guint     layer)
{
  if (layer == LAYER_SKETCH)
    invalidate_sketch (self);
  else
    invalidate_mask (self);
}

void
hb_canvas_stroke_begin (HbCanvas *self,
                        double    x,
                        double    y,
                        double    pressure)
{
  HbPixels *layer;

  g_return_if_fail (HB_IS_CANVAS (self));

  if (self->stroking)
    hb_canvas_stroke_end (self);
  if (self->tool == HB_TOOL_FILL || self->tool == HB_TOOL_PICKER)
    return;

  self->stroke_layer = tool_paints_mask (self->tool) ? LAYER_MASK : LAYER_SKETCH;
  layer = self->layers[self->stroke_layer];
  self->stroke_before = hb_pixels_copy (layer);
  self->stroke_coverage = g_new0 (float, (gsize) layer->width * layer->height);
  self->dirty_x0 = self->dirty_y0 = G_MAXINT;
  self->dirty_x1 = self->dirty_y1 = G_MININT;
  self->last_x = x;
  self->last_y = y;
  self->last_pressure = pressure;
  self->distance_left = 0;
  self->stroking = TRUE;

  stamp_dab (self, x, y, pressure);
  invalidate_layer (self, self->stroke_layer);
}

void
hb_canvas_stroke_to (HbCanvas *self,
                     double    x,
                     double    y,
                     double    pressure)
{
  double dx, dy, length, spacing, t;

  g_return_if_fail (HB_IS_CANVAS (self));

  if (!self->stroking)
    return;

  /* Pointer events arrive far apart on fast strokes: lay dabs along the
   * segment at a fraction of the brush size so the line stays smooth. */
  dx = x - self->last_x;
  dy = y - self->last_y;
  length = sqrt (dx * dx + dy * dy);
  spacing = MAX (self->brush_size * 0.12, 0.5);
  t = spacing - self->distance_left;
  while (t <= length)
    {
      double f = length > 0 ? t / length : 1.0;

      stamp_dab (self,
                 self->last_x + dx * f,
                 self->last_y + dy * f,
                 self->last_pressure + (pressure - self->last_pressure) * f);
      t += spacing;
    }
  self->distance_left = length - (t - spacing);
  self->last_x = x;
  self->last_y = y;
  self->last_pressure = pressure;
  invalidate_layer (self, self->stroke_layer);
}

void
hb_canvas_stroke_end (HbCanvas *self)
{
  g_return_if_fail (HB_IS_CANVAS (self));

  if (!self->stroking)
    return;

  self->stroking = FALSE;
  if (self->dirty_x1 >= self->dirty_x0)
    {
      hb_undo_stack_begin (self->undo);
      hb_undo_stack_add_region (self->undo, self->stroke_layer,
                                self->stroke_before, self->layers[self->stroke_layer],
                                self->dirty_x0, self->dirty_y0,
                                self->dirty_x1 - self->dirty_x0 + 1,
                                self->dirty_y1 - self->dirty_y0 + 1);
      hb_undo_stack_end (self->undo);
      notify_undo_state (self);
    }
  g_clear_pointer (&self->stroke_before, hb_pixels_free);
  g_clear_pointer (&self->stroke_coverage, g_free);
  gtk_widget_queue_draw (GTK_WIDGET (self));

  g_signal_emit (self, signals[STROKE_FINISHED], 0);
}

static gboolean
color_close (const guint8 *a,
             const guint8 *b)
{
  return ABS (a[0] - b[0]) <= FILL_TOLERANCE &&
         ABS (a[1] - b[1]) <= FILL_TOLERANCE &&
         ABS (a[2] - b[2]) <= FILL_TOLERANCE;
}

void
hb_canvas_fill (HbCanvas *self,
                int       x,
                int       y)
{
  HbPixels *sketch;
  g_autoptr(HbPixels) before = NULL;
  g_autofree guint8 *visited = NULL;
  g_autoptr(GArray) todo = NULL;
  guint8 target[4];
  float a, rgb[3];
  int x0, y0, x1, y1;

  g_return_if_fail (HB_IS_CANVAS (self));

  sketch = self->layers[LAYER_SKETCH];
  if (x < 0 || y < 0 || x >= sketch->width || y >= sketch->height)
    return;

  before = hb_pixels_copy (sketch);
  visited = g_malloc0 ((gsize) sketch->width * sketch->height);
  todo = g_array_new (FALSE, FALSE, sizeof (int) * 2);
  memcpy (target, sketch->data + ((gsize) y * sketch->width + x) * 4, 4);
  a = (float) self->opacity;
  rgb[0] = (float) self->color.red * 255.0f;
  rgb[1] = (float) self->color.green * 255.0f;
  rgb[2] = (float) self->color.blue * 255.0f;
  x0 = x1 = x;
  y0 = y1 = y;

  g_array_append_vals (todo, (int[2]) { x, y }, 1);
  /* Scanline fill: each popped seed fills its whole run, then seeds the rows
   * above and below, so the queue stays short on big areas. */
  while (todo->len > 0)
    {
      int *p = &g_array_index (todo, int, (todo->len - 1) * 2);
      int px = p[0], py = p[1], left, right;

      g_array_set_size (todo, todo->len - 1);
      if (visited[(gsize) py * sketch->width + px] ||
          !color_close (before->data + ((gsize) py * sketch->width + px) * 4, target))
        continue;

      left = px;
      while (left > 0 && !visited[(gsize) py * sketch->width + left - 1] &&
             color_close (before->data + ((gsize) py * sketch->width + left - 1) * 4, target))
        left--;
      right = px;
      while (right < sketch->width - 1 && !visited[(gsize) py * sketch->width + right + 1] &&
             color_close (before->data + ((gsize) py * sketch->width + right + 1) * 4, target))
        right++;

      for (int i = left; i <= right; i++)
        {
          gsize k = (gsize) py * sketch->width + i;

          visited[k] = 1;
          for (int c = 0; c < 3; c++)
            sketch->data[k * 4 + c] = (guint8) lrintf (before->data[k * 4 + c] + (rgb[c] - before->data[k * 4 + c]) * a);
          sketch->data[k * 4 + 3] = 255;
          if (py > 0 && !visited[k - sketch->width])
            g_array_append_vals (todo, (int[2]) { i, py - 1 }, 1);
          if (py < sketch->height - 1 && !visited[k + sketch->width])
            g_array_append_vals (todo, (int[2]) { i, py + 1 }, 1);
        }
      x0 = MIN (x0, left);
      x1 = MAX (x1, right);
      y0 = MIN (y0, py);
      y1 = MAX (y1, py);
    }

  hb_undo_stack_begin (self->undo);
  hb_undo_stack_add_region (self->undo, LAYER_SKETCH, before, sketch, x0, y0, x1 - x0 + 1, y1 - y0 + 1);
  hb_undo_stack_end (self->undo);
  notify_undo_state (self);
  invalidate_sketch (self);
}

void
hb_canvas_pick_color (HbCanvas *self,
                      int       x,
                      int       y)
{
  const guint8 *p;
  GdkRGBA color;
  int w, h;

  g_return_if_fail (HB_IS_CANVAS (self));

  /* Pick what the person sees: the result when one is shown. */
  if (self->result != NULL)
    {
      w = self->result->width;
      h = self->result->height;
      x = x * w / self->layers[LAYER_SKETCH]->width;
      y = y * h / self->layers[LAYER_SKETCH]->height;
      if (x < 0 || y < 0 || x >= w || y >= h)
        return;
      p = self->result->rgba + ((gsize) y * w + x) * 4;
    }
  else
    {
      HbPixels *sketch = self->layers[LAYER_SKETCH];

      if (x < 0 || y < 0 || x >= sketch->width || y >= sketch->height)
        return;
      p = sketch->data + ((gsize) y * sketch->width + x) * 4;
    }

  color.red = p[0] / 255.0f;
  color.green = p[1] / 255.0f;
  color.blue = p[2] / 255.0f;
  color.alpha = 1.0f;
  hb_canvas_set_color (self, &color);
}

static void
fill_white (HbPixels *sketch)
{
  memset (sketch->data, 0xff, (gsize) sketch->width * sketch->height * 4);
}

void
hb_canvas_clear (HbCanvas *self)
{
  g_autoptr(HbPixels) sketch_before = NULL;
  g_autoptr(HbPixels) mask_before = NULL;

  g_return_if_fail (HB_IS_CANVAS (self));

  sketch_before = hb_pixels_copy (self->layers[LAYER_SKETCH]);
  mask_before = hb_pixels_copy (self->layers[LAYER_MASK]);
  fill_white (self->layers[LAYER_SKETCH]);
  memset (self->layers[LAYER_MASK]->data, 0,
          (gsize) self->layers[LAYER_MASK]->width * self->layers[LAYER_MASK]->height);

  hb_undo_stack_begin (self->undo);
  record_full_region (self, LAYER_SKETCH, sketch_before);
  record_full_region (self, LAYER_MASK, mask_before);
  hb_undo_stack_end (self->undo);
  notify_undo_state (self);
  invalidate_sketch (self);
  invalidate_mask (self);
}

static void
after_undo_or_redo (HbCanvas *self)
{
  invalidate_sketch (self);
  invalidate_mask (self);
  notify_undo_state (self);
  /* A resize may have been undone: the canvas size follows the layers. */
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CANVAS_WIDTH]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CANVAS_HEIGHT]);
  if (self->fit)
    update_fit (self);
}

gboolean
hb_canvas_undo (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), FALSE);

  if (self->stroking)
    hb_canvas_stroke_end (self);
  if (!hb_undo_stack_undo (self->undo, self->layers))
    return FALSE;
  after_undo_or_redo (self);
  return TRUE;
}

gboolean
hb_canvas_redo (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), FALSE);

  if (self->stroking)
    return FALSE;
  if (!hb_undo_stack_redo (self->undo, self->layers))
    return FALSE;
  after_undo_or_redo (self);
  return TRUE;
}

gboolean
hb_canvas_can_undo (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), FALSE);
  return hb_undo_stack_can_undo (self->undo);
}

gboolean
hb_canvas_can_redo (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), FALSE);
  return hb_undo_stack_can_redo (self->undo);
}

/* ---- resampling ------------------------------------------------------ */

/* Bilinear resample of packed 8-bit pixels; used for size changes, imports
 * and results whose size differs from the canvas. */
static void
resample (const guint8 *src,
          int           sw,
          int           sh,
          guint8       *dst,
          int           dw,
          int           dh,
          int           bpp)
{
  for (int y = 0; y < dh; y++)
    {
      double fy = CLAMP ((y + 0.5) * sh / dh - 0.5, 0, sh - 1);
      int y0 = (int) fy, y1 = MIN (y0 + 1, sh - 1);
      double wy = fy - y0;

      for (int x = 0; x < dw; x++)
        {
          double fx = CLAMP ((x + 0.5) * sw / dw - 0.5, 0, sw - 1);
          int x0 = (int) fx, x1 = MIN (x0 + 1, sw - 1);
          double wx = fx - x0;

          for (int c = 0; c < bpp; c++)
            {
              double top = src[((gsize) y0 * sw + x0) * bpp + c] * (1 - wx) + src[((gsize) y0 * sw + x1) * bpp + c] * wx;
              double bottom = src[((gsize) y1 * sw + x0) * bpp + c] * (1 - wx) + src[((gsize) y1 * sw + x1) * bpp + c] * wx;

              dst[((gsize) y * dw + x) * bpp + c] = (guint8) lrint (top * (1 - wy) + bottom * wy);
            }
        }
    }
}

static HbPixels *
pixels_resampled (const HbPixels *src,
                  int             width,
                  int             height)
{
  HbPixels *dst = hb_pixels_new (width, height, src->bpp);

  resample (src->data, src->width, src->height, dst->data, width, height, src->bpp);
  return dst;
}

void
hb_canvas_reset (HbCanvas *self,
                 int       width,
                 int       height)
{
  g_return_if_fail (HB_IS_CANVAS (self));
  g_return_if_fail (width > 0 && height > 0);

  if (self->stroking)
    hb_canvas_stroke_end (self);
  hb_pixels_free (self->layers[LAYER_SKETCH]);
  hb_pixels_free (self->layers[LAYER_MASK]);
  self->layers[LAYER_SKETCH] = hb_pixels_new (width, height, 4);
  self->layers[LAYER_MASK] = hb_pixels_new (width, height, 1);
  fill_white (self->layers[LAYER_SKETCH]);
  hb_undo_stack_free (self->undo);
  self->undo = hb_undo_stack_new (UNDO_MAX_STEPS, UNDO_MAX_BYTES);
  hb_canvas_discard_result (self);
  after_undo_or_redo (self);
}

int
hb_canvas_get_canvas_width (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), 0);
  return self->layers[LAYER_SKETCH]->width;
}

int
hb_canvas_get_canvas_height (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), 0);
  return self->layers[LAYER_SKETCH]->height;
}

void
hb_canvas_set_canvas_size (HbCanvas *self,
                           int       width,
                           int       height)
{
  g_return_if_fail (HB_IS_CANVAS (self));
  g_return_if_fail (width > 0 && height > 0);

  if (width == hb_canvas_get_canvas_width (self) && height == hb_canvas_get_canvas_height (self))
    return;

  if (self->stroking)
    hb_canvas_stroke_end (self);

  hb_undo_stack_begin (self->undo);
  for (guint layer = 0; layer < N_LAYERS; layer++)
    {
      HbPixels *before = self->layers[layer];

      self->layers[layer] = pixels_resampled (before, width, height);
      hb_undo_stack_add_replace (self->undo, layer, before, self->layers[layer]);
      hb_pixels_free (before);
    }
  hb_undo_stack_end (self->undo);

  after_undo_or_redo (self);
}

/* ---- sketch, mask and result ----------------------------------------- */

const guint8 *
hb_canvas_get_sketch_pixels (HbCanvas *self,
                             int      *width,
                             int      *height)
{
  HbPixels *sketch;

  g_return_val_if_fail (HB_IS_CANVAS (self), NULL);

  sketch = self->layers[LAYER_SKETCH];
  if (width != NULL)
    *width = sketch->width;
  if (height != NULL)
    *height = sketch->height;
  return sketch->data;
}

gboolean
hb_canvas_sketch_is_blank (HbCanvas *self)
{
  HbPixels *sketch;
  gsize n;

  g_return_val_if_fail (HB_IS_CANVAS (self), TRUE);

  sketch = self->layers[LAYER_SKETCH];
  n = (gsize) sketch->width * sketch->height * 4;
  for (gsize i = 0; i < n; i++)
    if (sketch->data[i] != 0xff)
      return FALSE;
  return TRUE;
}

HbImage *
hb_canvas_copy_sketch (HbCanvas *self)
{
  HbPixels *sketch;
  HbImage *image;

  g_return_val_if_fail (HB_IS_CANVAS (self), NULL);

  sketch = self->layers[LAYER_SKETCH];
  image = hb_image_new (sketch->width, sketch->height);
  memcpy (image->rgba, sketch->data, (gsize) sketch->width * sketch->height * 4);
  return image;
}

HbImage *
hb_canvas_copy_mask (HbCanvas *self)
{
  HbPixels *mask;
  HbImage *image;
  gsize n;

  g_return_val_if_fail (HB_IS_CANVAS (self), NULL);

  if (mask_is_empty (self))
    return NULL;

  mask = self->layers[LAYER_MASK];
  n = (gsize) mask->width * mask->height;
  image = hb_image_new (mask->width, mask->height);
  for (gsize i = 0; i < n; i++)
    {
      image->rgba[i * 4 + 0] = mask->data[i];
      image->rgba[i * 4 + 1] = mask->data[i];
      image->rgba[i * 4 + 2] = mask->data[i];
      image->rgba[i * 4 + 3] = 255;
    }
  return image;
}

void
hb_canvas_show_result (HbCanvas      *self,
                       const HbImage *image)
{
  gboolean had_result;

  g_return_if_fail (HB_IS_CANVAS (self));
  g_return_if_fail (image != NULL);

  had_result = self->result != NULL;
  g_clear_pointer (&self->result, hb_image_free);
  g_clear_object (&self->result_texture);
  self->result = hb_image_copy (image);
  self->result_texture = texture_from_rgba (image->rgba, image->width, image->height);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  if (!had_result)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_RESULT]);
}

gboolean
hb_canvas_has_result (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), FALSE);
  return self->result != NULL;
}

void
hb_canvas_discard_result (HbCanvas *self)
{
  g_return_if_fail (HB_IS_CANVAS (self));

  if (self->result == NULL)
    return;
  g_clear_pointer (&self->result, hb_image_free);
  g_clear_object (&self->result_texture);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_RESULT]);
}

/* Replaces the sketch with rgba (any size, composited over white), as one
 * undoable step. */
static void
replace_sketch (HbCanvas     *self,
                const guint8 *rgba,
                int           width,
                int           height)
{
  HbPixels *sketch = self->layers[LAYER_SKETCH];
  g_autoptr(HbPixels) before = hb_pixels_copy (sketch);
  g_autofree guint8 *scaled = g_malloc ((gsize) sketch->width * sketch->height * 4);
  gsize n = (gsize) sketch->width * sketch->height;

  resample (rgba, width, height, scaled, sketch->width, sketch->height, 4);
  for (gsize i = 0; i < n; i++)
    {
      float a = scaled[i * 4 + 3] / 255.0f;

      for (int c = 0; c < 3; c++)
        sketch->data[i * 4 + c] = (guint8) lrintf (scaled[i * 4 + c] * a + 255.0f * (1 - a));
      sketch->data[i * 4 + 3] = 255;
    }

  hb_undo_stack_begin (self->undo);
  record_full_region (self, LAYER_SKETCH, before);
  hb_undo_stack_end (self->undo);
  notify_undo_state (self);
  invalidate_sketch (self);
}

void
hb_canvas_keep_result (HbCanvas *self)
{
  g_autoptr(HbImage) result = NULL;

  g_return_if_fail (HB_IS_CANVAS (self));

  if (self->result == NULL)
    return;
  result = g_steal_pointer (&self->result);
  g_clear_object (&self->result_texture);
  replace_sketch (self, result->rgba, result->width, result->height);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_RESULT]);
}

void
hb_canvas_import_texture (HbCanvas   *self,
                          GdkTexture *texture)
{
  int tw, th, cw, ch, fw, fh;
  g_autofree guint8 *argb = NULL;
  g_autofree guint8 *rgba = NULL;
  g_autofree guint8 *placed = NULL;
  double scale;
  int ox, oy;

  g_return_if_fail (HB_IS_CANVAS (self));
  g_return_if_fail (GDK_IS_TEXTURE (texture));

  tw = gdk_texture_get_width (texture);
  th = gdk_texture_get_height (texture);
  cw = hb_canvas_get_canvas_width (self);
  ch = hb_canvas_get_canvas_height (self);

  /* gdk_texture_download() gives premultiplied BGRA in native order (cairo's
   * ARGB32); GdkTextureDownloader, which can convert, is GTK 4.10. */
  argb = g_malloc ((gsize) tw * th * 4);
  gdk_texture_download (texture, argb, (gsize) tw * 4);
  rgba = g_malloc ((gsize) tw * th * 4);
  for (gsize i = 0; i < (gsize) tw * th; i++)
    {
      guint32 px;
      guint8 a;

      memcpy (&px, argb + i * 4, 4);
      a = px >> 24;
      rgba[i * 4 + 0] = a ? (guint8) MIN (255, ((px >> 16) & 0xff) * 255 / a) : 0;
      rgba[i * 4 + 1] = a ? (guint8) MIN (255, ((px >> 8) & 0xff) * 255 / a) : 0;
      rgba[i * 4 + 2] = a ? (guint8) MIN (255, (px & 0xff) * 255 / a) : 0;
      rgba[i * 4 + 3] = a;
    }

  /* Fit inside the canvas, keeping the picture's proportions. */
  scale = MIN ((double) cw / tw, (double) ch / th);
  fw = MAX (1, (int) lrint (tw * scale));
  fh = MAX (1, (int) lrint (th * scale));
  ox = (cw - fw) / 2;
  oy = (ch - fh) / 2;
  placed = g_malloc0 ((gsize) cw * ch * 4);
  {
    g_autofree guint8 *fitted = g_malloc ((gsize) fw * fh * 4);

    resample (rgba, tw, th, fitted, fw, fh, 4);
    for (int y = 0; y < fh; y++)
      memcpy (placed + (((gsize) (y + oy) * cw) + ox) * 4, fitted + (gsize) y * fw * 4, (gsize) fw * 4);
  }
  replace_sketch (self, placed, cw, ch);
}

HbImage *
hb_canvas_copy_visible (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), NULL);

  if (self->result != NULL)
    return hb_image_copy (self->result);
  return hb_canvas_copy_sketch (self);
}

/* ---- properties ------------------------------------------------------ */

HbTool
hb_canvas_get_tool (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), HB_TOOL_BRUSH);
  return self->tool;
}

void
hb_canvas_set_tool (HbCanvas *self,
                    HbTool    tool)
{
  g_return_if_fail (HB_IS_CANVAS (self));

  if (self->tool == tool)
    return;
  if (self->stroking)
    hb_canvas_stroke_end (self);
  self->tool = tool;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOOL]);
}

double
hb_canvas_get_brush_size (HbCanvas *self)
{
  g_return_val_if_fail (HB_IS_CANVAS (self), 1.0);
  return self->brush_size;
}

void
hb_canvas_set_brush_size (HbCanvas *self,
                          double    size)
{
  g_return_if_fail (HB_IS_CANVAS (self));

  size = CLAMP (size, 1.0, 256.0);
  if (self->brush_size == size)
    return;
  self->brush_size = size;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BRUSH_SIZE]);
}

static void
set_opacity (HbCanvas *self,
             double    opacity)
{
  opacity = CLAMP (opacity, 0.01, 1.0);
  if (self->opacity == opacity)
    return;
  self->opacity = opacity;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OPACITY]);
}

void
hb_canvas_get_color (HbCanvas *self,
                     GdkRGBA  *color)
{
  g_return_if_fail (HB_IS_CANVAS (self));
  *color = self->color;
}

void
hb_canvas_set_color (HbCanvas      *self,
                     const GdkRGBA *color)
{
  g_return_if_fail (HB_IS_CANVAS (self));
  g_return_if_fail (color != NULL);

  if (gdk_rgba_equal (&self->color, color))
    return;
  self->color = *color;
  self->color.alpha = 1.0f;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLOR]);
}

/* ---- input ----------------------------------------------------------- */

static void
pointer_action_begin (HbCanvas *self,
                      double    wx,
                      double    wy,
                      double    pressure)
{
  double cx, cy;

  widget_to_canvas (self, wx, wy, &cx, &cy);
  switch (self->tool)
    {
    case HB_TOOL_FILL:
      hb_canvas_fill (self, (int) floor (cx), (int) floor (cy));
      g_signal_emit (self, signals[STROKE_FINISHED], 0);
      break;
    case HB_TOOL_PICKER:
      hb_canvas_pick_color (self, (int) floor (cx), (int) floor (cy));
      break;
    case HB_TOOL_BRUSH:
    case HB_TOOL_ERASER:
    case HB_TOOL_MASK:
    case HB_TOOL_MASK_ERASER:
    default:
      hb_canvas_stroke_begin (self, cx, cy, pressure);
      break;
    }
}

static void
pointer_action_update (HbCanvas *self,
                       double    wx,
                       double    wy,
                       double    pressure)
{
  double cx, cy;

  widget_to_canvas (self, wx, wy, &cx, &cy);
  if (self->tool == HB_TOOL_PICKER)
    hb_canvas_pick_color (self, (int) floor (cx), (int) floor (cy));
  else
    hb_canvas_stroke_to (self, cx, cy, pressure);
}

static double
stylus_pressure (GtkGestureStylus *stylus)
{
  double pressure;

  if (gtk_gesture_stylus_get_axis (stylus, GDK_AXIS_PRESSURE, &pressure))
    return pressure;
  return 1.0;
}

static void
on_stylus_down (GtkGestureStylus *stylus,
                double            x,
                double            y,
                HbCanvas         *self)
{
  gtk_gesture_set_state (GTK_GESTURE (stylus), GTK_EVENT_SEQUENCE_CLAIMED);
  pointer_action_begin (self, x, y, stylus_pressure (stylus));
}

static void
on_stylus_motion (GtkGestureStylus *stylus,
                  double            x,
                  double            y,
                  HbCanvas         *self)
{
  guint n_backlog = 0;
  g_autofree GdkTimeCoord *backlog = NULL;

  if (!self->stroking && self->tool != HB_TOOL_PICKER)
    return;

  /* The backlog holds the positions the tablet reported between frames:
   * using them keeps quick curves round instead of polygonal. */
  if (gtk_gesture_stylus_get_backlog (stylus, &backlog, &n_backlog))
    {
      double ox = 0, oy = 0;
      GtkNative *native = gtk_widget_get_native (GTK_WIDGET (self));
      graphene_point_t origin;

      if (native != NULL &&
          gtk_widget_compute_point (GTK_WIDGET (native), GTK_WIDGET (self),
                                    &GRAPHENE_POINT_INIT (0, 0), &origin))
        {
          double sx, sy;

          gtk_native_get_surface_transform (native, &sx, &sy);
          ox = origin.x - sx;
          oy = origin.y - sy;
        }
      for (guint i = 0; i < n_backlog; i++)
        {
          double pressure = (backlog[i].flags & GDK_AXIS_FLAG_PRESSURE) ? backlog[i].axes[GDK_AXIS_PRESSURE] : 1.0;

          pointer_action_update (self,
                                 backlog[i].axes[GDK_AXIS_X] + ox,
                                 backlog[i].axes[GDK_AXIS_Y] + oy,
                                 pressure);
        }
    }
  pointer_action_update (self, x, y, stylus_pressure (stylus));
}

static void
on_stylus_up (GtkGestureStylus *stylus,
              double            x,
              double            y,
              HbCanvas         *self)
{
  if (self->stroking)
    hb_canvas_stroke_end (self);
}

static gboolean
event_is_from_pen (GtkGesture *gesture)
{
  GdkEvent *event = gtk_event_controller_get_current_event (GTK_EVENT_CONTROLLER (gesture));

  return event != NULL && gdk_event_get_device_tool (event) != NULL;
}

static void
on_draw_begin (GtkGestureDrag *drag,
               double          x,
               double          y,
               HbCanvas       *self)
{
  /* Pens go through the stylus gesture, which knows their pressure. */
  if (event_is_from_pen (GTK_GESTURE (drag)))
    {
      gtk_gesture_set_state (GTK_GESTURE (drag), GTK_EVENT_SEQUENCE_DENIED);
      return;
    }
  gtk_gesture_set_state (GTK_GESTURE (drag), GTK_EVENT_SEQUENCE_CLAIMED);
  gtk_widget_grab_focus (GTK_WIDGET (self));
  pointer_action_begin (self, x, y, 1.0);
}

static void
on_draw_update (GtkGestureDrag *drag,
                double          dx,
                double          dy,
                HbCanvas       *self)
{
  double sx, sy;

  gtk_gesture_drag_get_start_point (drag, &sx, &sy);
  pointer_action_update (self, sx + dx, sy + dy, 1.0);
}

static void
on_draw_end (GtkGestureDrag *drag,
             double          dx,
             double          dy,
             HbCanvas       *self)
{
  if (self->stroking)
    hb_canvas_stroke_end (self);
}

static void
on_pan_begin (GtkGestureDrag *drag,
              double          x,
              double          y,
              HbCanvas       *self)
{
  self->pan_start_x = self->offset_x;
  self->pan_start_y = self->offset_y;
  self->fit = FALSE;
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "grabbing");
}

static void
on_pan_update (GtkGestureDrag *drag,
               double          dx,
               double          dy,
               HbCanvas       *self)
{
  self->offset_x = self->pan_start_x + dx;
  self->offset_y = self->pan_start_y + dy;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_pan_end (GtkGestureDrag *drag,
            double          dx,
            double          dy,
            HbCanvas       *self)
{
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "crosshair");
}

static gboolean
on_scroll (GtkEventControllerScroll *scroll,
           double                    dx,
           double                    dy,
           HbCanvas                 *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (scroll));

  if (state & GDK_CONTROL_MASK)
    {
      zoom_around (self, self->zoom * pow (1.15, -dy), self->pointer_x, self->pointer_y);
    }
  else
    {
      double step = gtk_event_controller_scroll_get_unit (scroll) == GDK_SCROLL_UNIT_WHEEL ? 40.0 : 1.0;

      if (state & GDK_SHIFT_MASK)
        {
          double t = dx;

          dx = dy;
          dy = t;
        }
      self->offset_x -= dx * step;
      self->offset_y -= dy * step;
      self->fit = FALSE;
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
  return TRUE;
}

static void
on_motion (GtkEventControllerMotion *motion,
           double                    x,
           double                    y,
           HbCanvas                 *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
  /* The brush ring follows the pointer. */
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_zoom_begin (GtkGesture       *gesture,
               GdkEventSequence *sequence,
               HbCanvas         *self)
{
  self->zoom_gesture_start = self->zoom;
}

static void
on_zoom_scale_changed (GtkGestureZoom *gesture,
                       double          scale,
                       HbCanvas       *self)
{
  double cx, cy;

  gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &cx, &cy);
  zoom_around (self, self->zoom_gesture_start * scale, cx, cy);
}

static gboolean
on_drop (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         HbCanvas      *self)
{
  if (G_VALUE_HOLDS (value, GDK_TYPE_TEXTURE))
    {
      hb_canvas_import_texture (self, g_value_get_object (value));
      return TRUE;
    }
  if (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    {
      GSList *files = g_value_get_boxed (value);
      g_autoptr(GdkTexture) texture = NULL;
      g_autoptr(GError) error = NULL;

      if (files == NULL)
        return FALSE;
      texture = gdk_texture_new_from_file (files->data, &error);
      if (texture == NULL)
        {
          g_autofree char *name = g_file_get_basename (files->data);
          g_autofree char *message = g_strdup_printf (_("“%s” is not a picture Huabu can open. Try a PNG or JPEG file."), name);

          gtk_widget_activate_action (GTK_WIDGET (self), "win.show-message", "s", message);
          return FALSE;
        }
      hb_canvas_import_texture (self, texture);
      return TRUE;
    }
  return FALSE;
}

/* ---- GtkWidget ------------------------------------------------------- */

static void
hb_canvas_size_allocate (GtkWidget *widget,
                         int        width,
                         int        height,
                         int        baseline)
{
  HbCanvas *self = HB_CANVAS (widget);

  if (self->fit)
    update_fit (self);
}

static void
hb_canvas_snapshot (GtkWidget   *widget,
                    GtkSnapshot *snapshot)
{
  HbCanvas *self = HB_CANVAS (widget);
  HbPixels *sketch = self->layers[LAYER_SKETCH];
  graphene_rect_t bounds;
  GskRoundedRect outline;
  GdkTexture *mask;

  graphene_rect_init (&bounds, self->offset_x, self->offset_y,
                      sketch->width * self->zoom, sketch->height * self->zoom);
  gsk_rounded_rect_init_from_rect (&outline, &bounds, 0);

  gtk_snapshot_append_outset_shadow (snapshot, &outline,
                                     &(GdkRGBA) { 0, 0, 0, 0.25f }, 0, 2, 0, 8);
  gtk_snapshot_append_texture (snapshot, ensure_sketch_texture (self), &bounds);

  /* While the pen is down the person needs to see the sketch, not the picture over it. */
  if (self->result_texture != NULL && !self->stroking)
    gtk_snapshot_append_texture (snapshot, self->result_texture, &bounds);

  mask = ensure_mask_texture (self);
  if (mask != NULL)
    gtk_snapshot_append_texture (snapshot, mask, &bounds);

  /* A ring the size of the brush, under the pointer, for painting tools. */
  if (self->tool != HB_TOOL_FILL && self->tool != HB_TOOL_PICKER &&
      gtk_widget_get_state_flags (widget) & GTK_STATE_FLAG_PRELIGHT)
    {
      double r = MAX (self->brush_size * self->zoom / 2, 2);
      GskRoundedRect ring;
      const GdkRGBA dark = { 0, 0, 0, 0.6f };
      const GdkRGBA light = { 1, 1, 1, 0.8f };

      gsk_rounded_rect_init_from_rect (&ring,
                                       &GRAPHENE_RECT_INIT (self->pointer_x - r, self->pointer_y - r, 2 * r, 2 * r),
                                       r);
      gtk_snapshot_append_border (snapshot, &ring,
                                  (float[4]) { 1, 1, 1, 1 },
                                  (GdkRGBA[4]) { dark, dark, dark, dark });
      gsk_rounded_rect_shrink (&ring, 1, 1, 1, 1);
      gtk_snapshot_append_border (snapshot, &ring,
                                  (float[4]) { 1, 1, 1, 1 },
                                  (GdkRGBA[4]) { light, light, light, light });
    }
}

static void
hb_canvas_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  HbCanvas *self = HB_CANVAS (object);

  switch (prop_id)
    {
    case PROP_TOOL:
      g_value_set_enum (value, self->tool);
      break;
    case PROP_BRUSH_SIZE:
      g_value_set_double (value, self->brush_size);
      break;
    case PROP_OPACITY:
      g_value_set_double (value, self->opacity);
      break;
    case PROP_COLOR:
      g_value_set_boxed (value, &self->color);
      break;
    case PROP_CAN_UNDO:
      g_value_set_boolean (value, hb_canvas_can_undo (self));
      break;
    case PROP_CAN_REDO:
      g_value_set_boolean (value, hb_canvas_can_redo (self));
      break;
    case PROP_HAS_RESULT:
      g_value_set_boolean (value, self->result != NULL);
      break;
    case PROP_CANVAS_WIDTH:
      g_value_set_int (value, hb_canvas_get_canvas_width (self));
      break;
    case PROP_CANVAS_HEIGHT:
      g_value_set_int (value, hb_canvas_get_canvas_height (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hb_canvas_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  HbCanvas *self = HB_CANVAS (object);

  switch (prop_id)
    {
    case PROP_TOOL:
      hb_canvas_set_tool (self, g_value_get_enum (value));
      break;
    case PROP_BRUSH_SIZE:
      hb_canvas_set_brush_size (self, g_value_get_double (value));
      break;
    case PROP_OPACITY:
      set_opacity (self, g_value_get_double (value));
      break;
    case PROP_COLOR:
      if (g_value_get_boxed (value) != NULL)
        hb_canvas_set_color (self, g_value_get_boxed (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hb_canvas_finalize (GObject *object)
{
  HbCanvas *self = HB_CANVAS (object);

  for (guint i = 0; i < N_LAYERS; i++)
    g_clear_pointer (&self->layers[i], hb_pixels_free);
  g_clear_pointer (&self->result, hb_image_free);
  g_clear_pointer (&self->undo, hb_undo_stack_free);
  g_clear_pointer (&self->stroke_before, hb_pixels_free);
  g_clear_pointer (&self->stroke_coverage, g_free);
  g_clear_object (&self->sketch_texture);
  g_clear_object (&self->mask_texture);
  g_clear_object (&self->result_texture);

  G_OBJECT_CLASS (hb_canvas_parent_class)->finalize (object);
}

static void
hb_canvas_class_init (HbCanvasClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = hb_canvas_finalize;
  object_class->get_property = hb_canvas_get_property;
  object_class->set_property = hb_canvas_set_property;

  widget_class->snapshot = hb_canvas_snapshot;
  widget_class->size_allocate = hb_canvas_size_allocate;

  properties[PROP_TOOL] =
    g_param_spec_enum ("tool", NULL, NULL, HB_TYPE_TOOL, HB_TOOL_BRUSH,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BRUSH_SIZE] =
    g_param_spec_double ("brush-size", NULL, NULL, 1, 256, 8,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_OPACITY] =
    g_param_spec_double ("opacity", NULL, NULL, 0.01, 1, 1,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COLOR] =
    g_param_spec_boxed ("color", NULL, NULL, GDK_TYPE_RGBA,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_UNDO] =
    g_param_spec_boolean ("can-undo", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_REDO] =
    g_param_spec_boolean ("can-redo", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_HAS_RESULT] =
    g_param_spec_boolean ("has-result", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CANVAS_WIDTH] =
    g_param_spec_int ("canvas-width", NULL, NULL, 1, G_MAXINT, DEFAULT_SIZE,
                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CANVAS_HEIGHT] =
    g_param_spec_int ("canvas-height", NULL, NULL, 1, G_MAXINT, DEFAULT_SIZE,
                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Emitted when a stroke or fill is finished: live mode starts a run. */
  signals[STROKE_FINISHED] =
    g_signal_new ("stroke-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_css_name (widget_class, "hb-canvas");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
hb_canvas_init (HbCanvas *self)
{
  GtkGesture *stylus, *draw, *pan, *zoom;
  GtkEventController *scroll, *motion;
  GtkDropTarget *drop;

  self->layers[LAYER_SKETCH] = hb_pixels_new (DEFAULT_SIZE, DEFAULT_SIZE, 4);
  self->layers[LAYER_MASK] = hb_pixels_new (DEFAULT_SIZE, DEFAULT_SIZE, 1);
  fill_white (self->layers[LAYER_SKETCH]);
  self->undo = hb_undo_stack_new (UNDO_MAX_STEPS, UNDO_MAX_BYTES);
  self->zoom = 1.0;
  self->fit = TRUE;
  self->tool = HB_TOOL_BRUSH;
  self->brush_size = 8;
  self->opacity = 1.0;
  self->color = (GdkRGBA) { 0.11f, 0.44f, 0.85f, 1.0f };

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "crosshair");
  gtk_widget_add_css_class (GTK_WIDGET (self), "hb-canvas-area");

  stylus = gtk_gesture_stylus_new ();
  g_signal_connect (stylus, "down", G_CALLBACK (on_stylus_down), self);
  g_signal_connect (stylus, "motion", G_CALLBACK (on_stylus_motion), self);
  g_signal_connect (stylus, "up", G_CALLBACK (on_stylus_up), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (stylus));

  draw = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (draw), GDK_BUTTON_PRIMARY);
  g_signal_connect (draw, "drag-begin", G_CALLBACK (on_draw_begin), self);
  g_signal_connect (draw, "drag-update", G_CALLBACK (on_draw_update), self);
  g_signal_connect (draw, "drag-end", G_CALLBACK (on_draw_end), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (draw));

  pan = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (pan), GDK_BUTTON_MIDDLE);
  g_signal_connect (pan, "drag-begin", G_CALLBACK (on_pan_begin), self);
  g_signal_connect (pan, "drag-update", G_CALLBACK (on_pan_update), self);
  g_signal_connect (pan, "drag-end", G_CALLBACK (on_pan_end), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (pan));

  zoom = gtk_gesture_zoom_new ();
  g_signal_connect (zoom, "begin", G_CALLBACK (on_zoom_begin), self);
  g_signal_connect (zoom, "scale-changed", G_CALLBACK (on_zoom_scale_changed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (zoom));

  scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);
  g_signal_connect (scroll, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (GTK_WIDGET (self), scroll);

  motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect_swapped (motion, "leave", G_CALLBACK (gtk_widget_queue_draw), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  drop = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  gtk_drop_target_set_gtypes (drop, (GType[2]) { GDK_TYPE_TEXTURE, GDK_TYPE_FILE_LIST }, 2);
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
}

GtkWidget *
hb_canvas_new (void)
{
  return g_object_new (HB_TYPE_CANVAS, NULL);
}
