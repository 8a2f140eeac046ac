/* hb-canvas-undo.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "hb-canvas-undo.h"

typedef struct {
  guint     layer;
  gboolean  replace;
  /* region changes */
  int       x, y, w, h;
  guint8   *before_rect;
  guint8   *after_rect;
  /* whole-layer changes */
  HbPixels *before;
  HbPixels *after;
} HbChange;

typedef struct {
  GPtrArray *changes;   /* of HbChange */
  gsize      n_bytes;
} HbStep;

struct _HbUndoStack {
  GQueue  done;         /* of HbStep, newest at the tail */
  GQueue  undone;       /* of HbStep, next to redo at the tail */
  HbStep *building;
  guint   max_steps;
  gsize   max_bytes;
  gsize   n_bytes;
};

HbPixels *
hb_pixels_new (int width,
               int height,
               int bpp)
{
  HbPixels *pixels = g_new0 (HbPixels, 1);

  pixels->width = width;
  pixels->height = height;
  pixels->bpp = bpp;
  pixels->data = g_malloc0 ((gsize) width * height * bpp);
  return pixels;
}

HbPixels *
hb_pixels_copy (const HbPixels *pixels)
{
  HbPixels *copy = g_new0 (HbPixels, 1);

  *copy = *pixels;
  copy->data = g_memdup2 (pixels->data, (gsize) pixels->width * pixels->height * pixels->bpp);
  return copy;
}

void
hb_pixels_free (HbPixels *pixels)
{
  if (pixels == NULL)
    return;
  g_free (pixels->data);
  g_free (pixels);
}

static void
hb_change_free (gpointer data)
{
  HbChange *change = data;

  g_free (change->before_rect);
  g_free (change->after_rect);
  hb_pixels_free (change->before);
  hb_pixels_free (change->after);
  g_free (change);
}

static void
hb_step_free (gpointer data)
{
  HbStep *step = data;

  g_ptr_array_unref (step->changes);
  g_free (step);
}

static guint8 *
copy_rect (const HbPixels *pixels,
           int             x,
           int             y,
           int             w,
           int             h)
{
  gsize row = (gsize) w * pixels->bpp;
  guint8 *out = g_malloc (row * h);

  for (int j = 0; j < h; j++)
    memcpy (out + row * j,
            pixels->data + (((gsize) (y + j) * pixels->width) + x) * pixels->bpp,
            row);
  return out;
}

static void
paste_rect (HbPixels     *pixels,
            const guint8 *rect,
            int           x,
            int           y,
            int           w,
            int           h)
{
  gsize row = (gsize) w * pixels->bpp;

  for (int j = 0; j < h; j++)
    memcpy (pixels->data + (((gsize) (y + j) * pixels->width) + x) * pixels->bpp,
            rect + row * j,
            row);
}

HbUndoStack *
hb_undo_stack_new (guint max_steps,
                   gsize max_bytes)
{
  HbUndoStack *stack = g_new0 (HbUndoStack, 1);

  g_queue_init (&stack->done);
  g_queue_init (&stack->undone);
  stack->max_steps = MAX (max_steps, 1);
  stack->max_bytes = max_bytes;
  return stack;
}

void
hb_undo_stack_free (HbUndoStack *stack)
{
  if (stack == NULL)
    return;
  g_queue_clear_full (&stack->done, hb_step_free);
  g_queue_clear_full (&stack->undone, hb_step_free);
  g_clear_pointer (&stack->building, hb_step_free);
  g_free (stack);
}

static void
drop_redo_steps (HbUndoStack *stack)
{
  HbStep *step;

  while ((step = g_queue_pop_head (&stack->undone)) != NULL)
    {
      stack->n_bytes -= step->n_bytes;
      hb_step_free (step);
    }
}

void
hb_undo_stack_begin (HbUndoStack *stack)
{
  g_return_if_fail (stack->building == NULL);

  drop_redo_steps (stack);
  stack->building = g_new0 (HbStep, 1);
  stack->building->changes = g_ptr_array_new_with_free_func (hb_change_free);
}

void
hb_undo_stack_add_region (HbUndoStack    *stack,
                          guint           layer,
                          const HbPixels *before,
                          const HbPixels *after,
                          int             x,
                          int             y,
                          int             w,
                          int             h)
{
  HbChange *change;

  g_return_if_fail (stack->building != NULL);
  g_return_if_fail (before->width == after->width && before->height == after->height);

  x = CLAMP (x, 0, before->width);
  y = CLAMP (y, 0, before->height);
  w = CLAMP (w, 0, before->width - x);
  h = CLAMP (h, 0, before->height - y);
  if (w == 0 || h == 0)
    return;

  change = g_new0 (HbChange, 1);
  change->layer = layer;
  change->x = x;
  change->y = y;
  change->w = w;
  change->h = h;
  change->before_rect = copy_rect (before, x, y, w, h);
  change->after_rect = copy_rect (after, x, y, w, h);
  stack->building->n_bytes += 2 * (gsize) w * h * before->bpp;
  g_ptr_array_add (stack->building->changes, change);
}

void
hb_undo_stack_add_replace (HbUndoStack    *stack,
                           guint           layer,
                           const HbPixels *before,
                           const HbPixels *after)
{
  HbChange *change;

  g_return_if_fail (stack->building != NULL);

  change = g_new0 (HbChange, 1);
  change->layer = layer;
  change->replace = TRUE;
  change->before = hb_pixels_copy (before);
  change->after = hb_pixels_copy (after);
  stack->building->n_bytes += (gsize) before->width * before->height * before->bpp
                            + (gsize) after->width * after->height * after->bpp;
  g_ptr_array_add (stack->building->changes, change);
}

static void
trim (HbUndoStack *stack)
{
  /* The newest step always stays, however big, so the last edit can be undone. */
  while (stack->done.length > stack->max_steps ||
         (stack->n_bytes > stack->max_bytes && stack->done.length > 1))
    {
      HbStep *oldest = g_queue_pop_head (&stack->done);

      stack->n_bytes -= oldest->n_bytes;
      hb_step_free (oldest);
    }
}

void
hb_undo_stack_end (HbUndoStack *stack)
{
  HbStep *step;

  g_return_if_fail (stack->building != NULL);

  step = g_steal_pointer (&stack->building);
  if (step->changes->len == 0)
    {
      hb_step_free (step);
      return;
    }
  stack->n_bytes += step->n_bytes;
  g_queue_push_tail (&stack->done, step);
  trim (stack);
}

static void
apply_change (HbChange  *change,
              gboolean   forward,
              HbPixels **layers)
{
  if (change->replace)
    {
      hb_pixels_free (layers[change->layer]);
      layers[change->layer] = hb_pixels_copy (forward ? change->after : change->before);
    }
  else
    {
      paste_rect (layers[change->layer],
                  forward ? change->after_rect : change->before_rect,
                  change->x, change->y, change->w, change->h);
    }
}

gboolean
hb_undo_stack_undo (HbUndoStack  *stack,
                    HbPixels    **layers)
{
  HbStep *step = g_queue_pop_tail (&stack->done);

  if (step == NULL)
    return FALSE;

  /* Later changes in a step may sit on top of earlier ones: unwind backwards. */
  for (guint i = step->changes->len; i > 0; i--)
    apply_change (g_ptr_array_index (step->changes, i - 1), FALSE, layers);
  g_queue_push_tail (&stack->undone, step);
  return TRUE;
}

gboolean
hb_undo_stack_redo (HbUndoStack  *stack,
                    HbPixels    **layers)
{
  HbStep *step = g_queue_pop_tail (&stack->undone);

  if (step == NULL)
    return FALSE;

  for (guint i = 0; i < step->changes->len; i++)
    apply_change (g_ptr_array_index (step->changes, i), TRUE, layers);
  g_queue_push_tail (&stack->done, step);
  return TRUE;
}

gboolean
hb_undo_stack_can_undo (HbUndoStack *stack)
{
  return stack->done.length > 0;
}

gboolean
hb_undo_stack_can_redo (HbUndoStack *stack)
{
  return stack->undone.length > 0;
}

guint
hb_undo_stack_get_n_steps (HbUndoStack *stack)
{
  return stack->done.length;
}

gsize
hb_undo_stack_get_n_bytes (HbUndoStack *stack)
{
  return stack->n_bytes;
}
