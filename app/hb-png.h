/* hb-png.h — RGBA8 PNG files with text chunks, written atomically
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "huabu-engine.h"

G_BEGIN_DECLS

typedef struct {
  const char *key;   /* 1-79 Latin-1 characters, e.g. "parameters" */
  const char *text;  /* UTF-8 */
} HbPngText;

/* Writes to a temporary file in the same folder, flushes it to disk and
 * renames it over path, so a crash leaves either the old file or the new
 * one, never half of one. A text that Latin-1 cannot hold goes in an iTXt
 * chunk (UTF-8), others in tEXt, as the web UIs do. */
gboolean  hb_png_save         (const char      *path,
                               const HbImage   *image,
                               const HbPngText *texts,
                               gsize            n_texts,
                               GError         **error);

/* The same PNG in memory (no text), e.g. for thumbnails. */
GBytes   *hb_png_encode       (const HbImage   *image,
                               GError         **error);

/* Any colour type and bit depth, converted to RGBA8. texts_out (optional)
 * receives keyword -> UTF-8 text of every tEXt/zTXt/iTXt chunk. Truncated
 * or corrupt files are refused with an error naming the file. */
HbImage  *hb_png_load         (const char      *path,
                               GHashTable     **texts_out,
                               GError         **error);
HbImage  *hb_png_decode       (GBytes          *bytes,
                               GHashTable     **texts_out,
                               GError         **error);

/* A copy scaled down (box filter) to fit max_side, or a plain copy if it
 * already fits. */
HbImage  *hb_image_scale_down (const HbImage   *image,
                               int              max_side);

G_END_DECLS
