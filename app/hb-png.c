/* hb-png.c — RGBA8 PNG files with text chunks, written atomically
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * libpng reports errors by longjmp()ing out of whatever it was doing. Each
 * entry point below keeps everything it must free in volatile locals set
 * up before setjmp(), so the jump back can release them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hb-png.h"

/* Refuse pictures whose RGBA buffer alone would pass 1 GiB. */
#define HB_PNG_MAX_SIDE 16384

typedef struct {
  char *message;
} PngErrorContext;

static void
png_error_cb (png_structp png, png_const_charp message)
{
  PngErrorContext *ctx = png_get_error_ptr (png);

  if (ctx->message == NULL)
    ctx->message = g_strdup (message);
  png_longjmp (png, 1);
}

static void
png_warning_cb (png_structp png, png_const_charp message)
{
  g_debug ("libpng: %s", message);
}

/* ---- writing ---------------------------------------------------------- */

typedef struct {
  FILE       *file;   /* one of file or buffer */
  GByteArray *buffer;
} PngSink;

static void
sink_write_cb (png_structp png, png_bytep data, png_size_t length)
{
  PngSink *sink = png_get_io_ptr (png);

  if (sink->buffer != NULL)
    g_byte_array_append (sink->buffer, data, length);
  else if (fwrite (data, 1, length, sink->file) != length)
    png_error (png, g_strerror (errno));
}

static void
sink_flush_cb (png_structp png)
{
}

/* tEXt must be Latin-1; returns NULL when the text does not fit it. */
static char *
to_latin1 (const char *text)
{
  return g_convert (text, -1, "ISO-8859-1", "UTF-8", NULL, NULL, NULL);
}

/* Only arguments, fixed before setjmp(), are used after the jump. */
static gboolean
write_png (PngSink        *sink,
           const HbImage  *image,
           png_bytep      *rows,
           png_text       *chunks,
           int             n_chunks,
           GError        **error)
{
  PngErrorContext ctx = { NULL };
  png_structp png;
  png_infop info;

  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, &ctx, png_error_cb, png_warning_cb);
  if (png == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _("Out of memory while starting to write a PNG."));
      return FALSE;
    }
  info = png_create_info_struct (png);
  if (info == NULL || setjmp (png_jmpbuf (png)))
    {
      png_destroy_write_struct (&png, &info);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("Could not write the PNG: %s. Check that the disk has room "
                     "and the folder is writable."),
                   ctx.message ? ctx.message : _("out of memory"));
      g_free (ctx.message);
      return FALSE;
    }

  png_set_write_fn (png, sink, sink_write_cb, sink_flush_cb);
  png_set_IHDR (png, info, image->width, image->height, 8, PNG_COLOR_TYPE_RGBA,
                PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (n_chunks > 0)
    png_set_text (png, info, chunks, n_chunks);
  png_write_info (png, info);
  png_write_image (png, rows);
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  return TRUE;
}

static gboolean
encode (const HbImage   *image,
        const HbPngText *texts,
        gsize            n_texts,
        PngSink         *sink,
        GError         **error)
{
  g_autofree png_bytep *rows = NULL;
  g_autofree png_text *chunks = NULL;
  g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func (g_free);

  if (image->width <= 0 || image->height <= 0
      || image->width > HB_PNG_MAX_SIDE || image->height > HB_PNG_MAX_SIDE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("Cannot save a %d×%d picture as PNG: each side must be "
                     "between 1 and %d pixels."),
                   image->width, image->height, HB_PNG_MAX_SIDE);
      return FALSE;
    }

  rows = g_new (png_bytep, image->height);
  for (int y = 0; y < image->height; y++)
    rows[y] = image->rgba + (gsize) y * image->width * 4;

  chunks = g_new0 (png_text, n_texts ? n_texts : 1);
  for (gsize i = 0; i < n_texts; i++)
    {
      char *latin1 = to_latin1 (texts[i].text);

      chunks[i].key = (png_charp) texts[i].key;
      if (latin1 != NULL)
        {
          g_ptr_array_add (owned, latin1);
          chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
          chunks[i].text = latin1;
          chunks[i].text_length = strlen (latin1);
        }
      else
        {
          chunks[i].compression = PNG_ITXT_COMPRESSION_NONE;
          chunks[i].text = (png_charp) texts[i].text;
          chunks[i].itxt_length = strlen (texts[i].text);
          chunks[i].lang = (png_charp) "";
          chunks[i].lang_key = (png_charp) "";
        }
    }
  return write_png (sink, image, rows, chunks, (int) n_texts, error);
}

GBytes *
hb_png_encode (const HbImage *image, GError **error)
{
  PngSink sink = { NULL, g_byte_array_new () };

  if (!encode (image, NULL, 0, &sink, error))
    {
      g_byte_array_unref (sink.buffer);
      return NULL;
    }
  return g_byte_array_free_to_bytes (sink.buffer);
}

static void
sync_folder (const char *folder)
{
  int fd = open (folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  /* Makes the rename itself durable; failure only weakens that. */
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

gboolean
hb_png_save (const char      *path,
             const HbImage   *image,
             const HbPngText *texts,
             gsize            n_texts,
             GError         **error)
{
  g_autofree char *folder = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.XXXXXX", folder, base);
  PngSink sink = { NULL, NULL };
  int fd, saved_errno;

  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Cannot create a file in “%s”: %s. Check that the folder "
                     "exists and is writable."),
                   folder, g_strerror (saved_errno));
      return FALSE;
    }
  sink.file = fdopen (fd, "wb");
  if (sink.file == NULL)
    {
      saved_errno = errno;
      close (fd);
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Cannot write “%s”: %s."), tmp, g_strerror (saved_errno));
      return FALSE;
    }

  if (!encode (image, texts, n_texts, &sink, error))
    {
      fclose (sink.file);
      g_unlink (tmp);
      g_prefix_error (error, "“%s”: ", path);
      return FALSE;
    }

  if (fflush (sink.file) != 0 || fsync (fileno (sink.file)) != 0)
    {
      saved_errno = errno;
      fclose (sink.file);
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Could not write “%s” to disk: %s. Check that the disk "
                     "has room."),
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  fclose (sink.file);

  if (g_rename (tmp, path) != 0)
    {
      saved_errno = errno;
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Could not move the new picture into place as “%s”: %s."),
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  sync_folder (folder);
  return TRUE;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct {
  const guint8 *data;
  gsize         length;
  gsize         position;
} PngSource;

static void
source_read_cb (png_structp png, png_bytep data, png_size_t length)
{
  PngSource *source = png_get_io_ptr (png);

  if (length > source->length - source->position)
    png_error (png, _("the file ends early (it is truncated)"));
  memcpy (data, source->data + source->position, length);
  source->position += length;
}

/* tEXt is Latin-1 by the standard, but some tools (ComfyUI among them)
 * write UTF-8 into it; valid UTF-8 is almost never intended Latin-1. */
static char *
text_chunk_to_utf8 (const png_text *chunk)
{
  const char *text = chunk->text ? chunk->text : "";
  gsize length = chunk->compression >= PNG_ITXT_COMPRESSION_NONE
                 ? chunk->itxt_length : chunk->text_length;
  char *converted;

  if (g_utf8_validate_len (text, length, NULL))
    return g_strndup (text, length);
  if (chunk->compression < PNG_ITXT_COMPRESSION_NONE)
    {
      converted = g_convert (text, length, "UTF-8", "ISO-8859-1", NULL, NULL, NULL);
      if (converted != NULL)
        return converted;
    }
  return g_utf8_make_valid (text, length);
}

static GHashTable *
collect_texts (png_structp png, png_infop info)
{
  GHashTable *texts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  png_textp chunks = NULL;
  int n = png_get_text (png, info, &chunks, NULL);

  for (int i = 0; i < n; i++)
    g_hash_table_replace (texts, g_strdup (chunks[i].key), text_chunk_to_utf8 (&chunks[i]));
  return texts;
}

static HbImage *
decode (const char  *name,
        const guint8 *data,
        gsize         length,
        GHashTable  **texts_out,
        GError      **error)
{
  PngErrorContext ctx = { NULL };
  PngSource source = { data, length, 0 };
  png_structp png;
  png_infop info;
  HbImage *volatile image = NULL;
  png_bytep *volatile rows = NULL;
  png_uint_32 width, height;
  int bit_depth, color_type;

  if (length < 8 || png_sig_cmp (data, 0, 8) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("“%s” is not a PNG file."), name);
      return NULL;
    }

  png = png_create_read_struct (PNG_LIBPNG_VER_STRING, &ctx, png_error_cb, png_warning_cb);
  if (png == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _("Out of memory while starting to read a PNG."));
      return NULL;
    }
  info = png_create_info_struct (png);
  if (info == NULL || setjmp (png_jmpbuf (png)))
    {
      png_destroy_read_struct (&png, &info, NULL);
      g_free (rows);
      if (image != NULL)
        hb_image_free (image);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("“%s” is damaged or incomplete: %s. Open it in an image "
                     "viewer to check it, or use another copy."),
                   name, ctx.message ? ctx.message : _("out of memory"));
      g_free (ctx.message);
      return NULL;
    }

  png_set_read_fn (png, &source, source_read_cb);
  png_set_user_limits (png, HB_PNG_MAX_SIDE, HB_PNG_MAX_SIDE);
  png_read_info (png, info);
  png_get_IHDR (png, info, &width, &height, &bit_depth, &color_type, NULL, NULL, NULL);

  png_set_expand (png);
  png_set_scale_16 (png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
    png_set_gray_to_rgb (png);
  if (!(color_type & PNG_COLOR_MASK_ALPHA) && !png_get_valid (png, info, PNG_INFO_tRNS))
    png_set_add_alpha (png, 0xff, PNG_FILLER_AFTER);
  png_set_interlace_handling (png);
  png_read_update_info (png, info);
  if (png_get_rowbytes (png, info) != (gsize) width * 4)
    png_error (png, _("its pixel format cannot be converted to RGBA"));

  image = hb_image_new ((int) width, (int) height);
  rows = g_new (png_bytep, height);
  for (png_uint_32 y = 0; y < height; y++)
    rows[y] = image->rgba + (gsize) y * width * 4;
  png_read_image (png, rows);
  png_read_end (png, info);

  if (texts_out != NULL)
    *texts_out = collect_texts (png, info);
  png_destroy_read_struct (&png, &info, NULL);
  g_free (rows);
  return image;
}

HbImage *
hb_png_decode (GBytes *bytes, GHashTable **texts_out, GError **error)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);

  return decode (_("The picture data"), data, length, texts_out, error);
}

HbImage *
hb_png_load (const char *path, GHashTable **texts_out, GError **error)
{
  g_autoptr(GMappedFile) file = NULL;
  g_autoptr(GError) local_error = NULL;

  file = g_mapped_file_new (path, FALSE, &local_error);
  if (file == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("Cannot open the picture: %s"), local_error->message);
      return NULL;
    }
  return decode (path, (const guint8 *) g_mapped_file_get_contents (file),
                 g_mapped_file_get_length (file), texts_out, error);
}

HbImage *
hb_image_scale_down (const HbImage *image, int max_side)
{
  int side = MAX (image->width, image->height);
  int width, height;
  HbImage *out;

  if (side <= max_side)
    return hb_image_copy (image);
  width = MAX (1, (int) ((gint64) image->width * max_side / side));
  height = MAX (1, (int) ((gint64) image->height * max_side / side));
  out = hb_image_new (width, height);

  for (int y = 0; y < height; y++)
    {
      int y0 = (int) ((gint64) y * image->height / height);
      int y1 = MAX (y0 + 1, (int) ((gint64) (y + 1) * image->height / height));

      for (int x = 0; x < width; x++)
        {
          int x0 = (int) ((gint64) x * image->width / width);
          int x1 = MAX (x0 + 1, (int) ((gint64) (x + 1) * image->width / width));
          guint sum[4] = { 0, 0, 0, 0 };
          guint count = (guint) ((y1 - y0) * (x1 - x0));

          for (int sy = y0; sy < y1; sy++)
            for (int sx = x0; sx < x1; sx++)
              {
                const guint8 *p = image->rgba + ((gsize) sy * image->width + sx) * 4;

                for (int c = 0; c < 4; c++)
                  sum[c] += p[c];
              }
          for (int c = 0; c < 4; c++)
            out->rgba[((gsize) y * width + x) * 4 + c] = (guint8) ((sum[c] + count / 2) / count);
        }
    }
  return out;
}
