/* hb-weights.c — checkpoint tensors converted once, shared by all graphs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hb-checkpoint.h"
#include "hb-model-private.h"
#include "hb-safetensors.h"

/* Converted copies live in their own anonymous mappings so that
 * hb_weights_trim() can give their pages back while keeping the address
 * reserved: backends key uploaded weights by host pointer, and a freed
 * address handed to another tensor would alias. Tensors already in the
 * wanted dtype and layout are used in place, straight from the mapped
 * checkpoint. */
typedef struct {
  gpointer data;
  gsize    bytes;
  gboolean in_place;    /* points into the checkpoint's mapping */
  gboolean trimmed;     /* pages given back; reconvert before reuse */
  HbDType  dtype;
  int      ndim;
  int64_t  shape[4];
} Converted;

struct _HbWeights {
  HbCheckpoint *ckpt;
  HbDType       matrix_dtype;
  GHashTable   *cache;     /* "role:key" -> Converted* */
  GError       *error;
  gsize         host_bytes;
  GPtrArray    *retired;   /* Converted, trimmed and replaced */
  GHashTable   *by_data;   /* data pointer -> Converted* of the cache */
};

static gsize page_size;

static void
converted_free (gpointer data)
{
  Converted *c = data;

  if (!c->in_place && c->data != NULL)
    munmap (c->data, MAX (c->bytes, 1));
  g_free (c);
}

/* Moves a g_malloc'd conversion into its own mapping. */
static gboolean
own_mapping (Converted *c, gpointer heap)
{
  gpointer mem = mmap (NULL, MAX (c->bytes, 1), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (mem == MAP_FAILED)
    {
      g_free (heap);
      return FALSE;
    }
  memcpy (mem, heap, c->bytes);
  g_free (heap);
  c->data = mem;
  return TRUE;
}

/* Drops the resident pages of a read-only range of the mapped file; they
 * come back from the page cache if read again. */
static void
drop_pages (const void *start, gsize len)
{
  guintptr a = ((guintptr) start + page_size - 1) & ~(guintptr) (page_size - 1);
  guintptr b = ((guintptr) start + len) & ~(guintptr) (page_size - 1);

  if (b > a)
    madvise ((void *) a, b - a, MADV_DONTNEED);
}

/* A trimmed entry being replaced keeps its (empty) address range until the
 * end, so no later conversion can land at the same address. */
static void
retire (HbWeights *w, const char *ckey)
{
  gpointer old_key, old;

  if (g_hash_table_steal_extended (w->cache, ckey, &old_key, &old))
    {
      if (g_hash_table_lookup (w->by_data, ((Converted *) old)->data) == old)
        g_hash_table_remove (w->by_data, ((Converted *) old)->data);
      g_free (old_key);
      g_ptr_array_add (w->retired, old);
    }
}

static void
trim_one (HbWeights *w, Converted *c)
{
  if (c->in_place)
    drop_pages (c->data, c->bytes);
  else if (!c->trimmed)
    {
      madvise (c->data, MAX (c->bytes, 1), MADV_DONTNEED);
      c->trimmed = TRUE;
      w->host_bytes -= c->bytes;
    }
}

void
hb_weights_trim (HbWeights *w)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, w->cache);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    trim_one (w, value);
}

void
hb_weights_trim_data (HbWeights *w, const void *data)
{
  Converted *c = g_hash_table_lookup (w->by_data, data);

  if (c != NULL)
    trim_one (w, c);
}

static void
remember (HbWeights *w, char *ckey, Converted *c)
{
  g_hash_table_insert (w->cache, ckey, c);
  g_hash_table_insert (w->by_data, c->data, c);
}

HbWeights *
hb_weights_new (HbCheckpoint *ckpt, HbDType matrix_dtype)
{
  HbWeights *w = g_new0 (HbWeights, 1);

  w->ckpt = ckpt;
  w->matrix_dtype = matrix_dtype;
  if (page_size == 0)
    page_size = (gsize) sysconf (_SC_PAGESIZE);
  w->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, converted_free);
  w->retired = g_ptr_array_new_with_free_func (converted_free);
  w->by_data = g_hash_table_new (g_direct_hash, g_direct_equal);
  return w;
}

void
hb_weights_free (HbWeights *w)
{
  if (w == NULL)
    return;
  g_hash_table_unref (w->by_data);
  g_hash_table_unref (w->cache);
  g_ptr_array_unref (w->retired);
  g_clear_error (&w->error);
  g_free (w);
}

GError *
hb_weights_error (HbWeights *w)
{
  return w->error;
}

gsize
hb_weights_host_bytes (HbWeights *w)
{
  return w->host_bytes;
}

const char *
hb_weights_metadata (HbWeights *w, const char *key)
{
  return hb_checkpoint_get_metadata (w->ckpt, key);
}

gboolean
hb_weights_norm_groups (HbWeights *w, const char *part, const int *channels, int n,
                        int *groups, GError **error)
{
  g_autofree char *key = g_strdup_printf ("huabu.%s_norm_groups", part);
  const char *value = hb_weights_metadata (w, key);
  gint64 v = 32;

  if (value != NULL && !g_ascii_string_to_signed (value, 10, 1, 4096, &v, NULL))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "The model's metadata “%s” is “%s”; it must be a whole number of "
                   "GroupNorm groups (Stable Diffusion 1.x uses 32).", key, value);
      return FALSE;
    }
  for (int i = 0; i < n; i++)
    if (channels[i] % v != 0)
      {
        g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                     "The %s has a layer of %d channels, which GroupNorm cannot split into "
                     "%" G_GINT64_FORMAT " groups (metadata “%s”).",
                     g_str_equal (part, "vae") ? "VAE" : "UNet", channels[i], v, key);
        return FALSE;
      }
  *groups = (int) v;
  return TRUE;
}

gboolean
hb_weights_has (HbWeights *w, const char *key)
{
  return hb_checkpoint_find (w->ckpt, key) != NULL;
}

gboolean
hb_weights_shape (HbWeights *w, const char *key, int *ndim, int64_t shape[4])
{
  const HbStTensor *st = hb_checkpoint_find (w->ckpt, key);

  if (st == NULL || st->ndim > 4)
    return FALSE;
  *ndim = st->ndim;
  for (int i = 0; i < 4; i++)
    shape[i] = i < st->ndim ? st->shape[i] : 1;
  return TRUE;
}

static void
fail (HbWeights *w, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
fail (HbWeights *w, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  if (w->error != NULL)
    return;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  w->error = g_error_new (HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                          "%s: %s. The checkpoint is incomplete or not a Stable Diffusion 1.x "
                          "model; check that the file downloaded completely.",
                          hb_checkpoint_get_path (w->ckpt), msg);
}

/* Converts one tensor for `role`: conv weights to [Cout, KH, KW, Cin]
 * (a 2-D [C, C] stand-in for a 1x1 conv becomes [C, 1, 1, C]). */
static Converted *
convert (HbWeights *w, const char *key, HbWeightRole role)
{
  const HbStTensor *st = hb_checkpoint_find (w->ckpt, key);
  g_autoptr(GError) error = NULL;
  Converted *c;

  if (st == NULL)
    {
      fail (w, "tensor “%s” is missing", key);
      return NULL;
    }
  if (!hb_st_dtype_is_float (st->dtype) || st->ndim < 1 || st->ndim > 4)
    {
      fail (w, "tensor “%s” has dtype %s and %d dimensions, which the engine cannot use",
            key, hb_st_dtype_name (st->dtype), st->ndim);
      return NULL;
    }

  c = g_new0 (Converted, 1);
  c->dtype = role == HB_WEIGHT_PLAIN ? HB_DTYPE_F32 : w->matrix_dtype;
  if ((role != HB_WEIGHT_CONV || (st->ndim == 4 && st->shape[2] == 1 && st->shape[3] == 1))
      && st->ndim <= 2 + (role == HB_WEIGHT_CONV ? 2 : 0)
      && ((st->dtype == HB_ST_F16 && c->dtype == HB_DTYPE_F16)
          || (st->dtype == HB_ST_F32 && c->dtype == HB_DTYPE_F32)))
    {
      /* Same bytes as stored: use the mapping. A 1x1 conv's [Cout, Cin,
       * 1, 1] is already the engine's [Cout, 1, 1, Cin]. */
      c->in_place = TRUE;
      c->data = (gpointer) st->data;
    }
  if (c->in_place)
    {
      c->ndim = role == HB_WEIGHT_CONV ? 4 : (role == HB_WEIGHT_MATRIX && st->ndim == 4 ? 2 : st->ndim);
      for (int i = 0; i < 4; i++)
        c->shape[i] = 1;
      if (role == HB_WEIGHT_CONV)
        {
          c->shape[0] = st->shape[0];
          c->shape[3] = st->shape[1];
        }
      else if (c->ndim == 2)
        {
          c->shape[0] = st->shape[0];
          c->shape[1] = st->shape[1];
        }
      else
        for (int i = 0; i < st->ndim; i++)
          c->shape[i] = st->shape[i];
    }
  else if (role == HB_WEIGHT_CONV && st->ndim == 4)
    {
      c->data = hb_st_tensor_convert_conv (st, c->dtype, &error);
      c->ndim = 4;
      c->shape[0] = st->shape[0];
      c->shape[1] = st->shape[2];
      c->shape[2] = st->shape[3];
      c->shape[3] = st->shape[1];
    }
  else if (role == HB_WEIGHT_CONV && st->ndim == 2)
    {
      c->data = hb_st_tensor_convert (st, c->dtype, &error);
      c->ndim = 4;
      c->shape[0] = st->shape[0];
      c->shape[1] = 1;
      c->shape[2] = 1;
      c->shape[3] = st->shape[1];
    }
  else if (role == HB_WEIGHT_MATRIX && st->ndim == 4 && st->shape[2] == 1 && st->shape[3] == 1)
    {
      /* A 1x1 conv used as a linear layer (ldm's proj_in, VAE attention). */
      c->data = hb_st_tensor_convert (st, c->dtype, &error);
      c->ndim = 2;
      c->shape[0] = st->shape[0];
      c->shape[1] = st->shape[1];
      c->shape[2] = c->shape[3] = 1;
    }
  else
    {
      c->data = hb_st_tensor_convert (st, c->dtype, &error);
      c->ndim = st->ndim;
      for (int i = 0; i < 4; i++)
        c->shape[i] = i < st->ndim ? st->shape[i] : 1;
    }
  c->bytes = c->shape[0] * c->shape[1] * c->shape[2] * c->shape[3] * hb_dtype_size (c->dtype);
  if (c->data == NULL)
    {
      fail (w, "tensor “%s”: %s", key, error ? error->message : "cannot convert");
      converted_free (c);
      return NULL;
    }
  if (!c->in_place)
    {
      if (!own_mapping (c, c->data))
        {
          c->data = NULL;
          fail (w, "tensor “%s”: not enough memory to convert it", key);
          converted_free (c);
          return NULL;
        }
      drop_pages (st->data, st->nbytes);
      w->host_bytes += c->bytes;
    }
  return c;
}

/* A zero-filled conversion of `shape` in its own mapping, for a tensor
 * built from checkpoint tensors; NULL (and the builder's error) when out
 * of memory. */
static Converted *
converted_new_mapped (HbWeights *w, const char *key, HbDType dtype, int ndim,
                      const int64_t shape[4])
{
  Converted *c = g_new0 (Converted, 1);

  c->dtype = dtype;
  c->ndim = ndim;
  memcpy (c->shape, shape, sizeof c->shape);
  c->bytes = shape[0] * shape[1] * shape[2] * shape[3] * hb_dtype_size (dtype);
  c->data = mmap (NULL, MAX (c->bytes, 1), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (c->data == MAP_FAILED)
    {
      c->data = NULL;
      fail (w, "tensor “%s”: not enough memory to convert it", key);
      converted_free (c);
      return NULL;
    }
  return c;
}

static HbTensor *
leaf (HbGraph *g, const char *name, Converted *c)
{
  return hb_graph_weight (g, name, c->dtype, c->ndim, c->shape, c->data);
}

static HbTensor *
stand_in (HbGraph *g, const char *key)
{
  static const float zero[4] = { 0 };
  int64_t shape[1] = { 1 };

  return hb_graph_weight (g, key, HB_DTYPE_F32, 1, shape, zero);
}

HbTensor *
hb_weights_get (HbWeights *w, HbGraph *g, const char *key, HbWeightRole role)
{
  g_autofree char *ckey = g_strdup_printf ("%d:%s", role, key);
  Converted *c = g_hash_table_lookup (w->cache, ckey);

  if (c == NULL || c->trimmed)
    {
      c = convert (w, key, role);
      if (c == NULL)
        return stand_in (g, key);
      retire (w, ckey);
      remember (w, g_steal_pointer (&ckey), c);
    }
  return leaf (g, key, c);
}

HbTensor *
hb_weights_get_cat (HbWeights *w, HbGraph *g, const char *const *keys, guint n, HbWeightRole role)
{
  g_autoptr(GString) ckey = g_string_new (NULL);
  Converted *c;

  g_string_printf (ckey, "%d:", role);
  for (guint i = 0; i < n; i++)
    g_string_append_printf (ckey, "%s|", keys[i]);
  c = g_hash_table_lookup (w->cache, ckey->str);
  if (c == NULL || c->trimmed)
    {
      g_autofree Converted **parts = g_new0 (Converted *, MAX (n, 1));
      int64_t rows = 0, row_elems = -1;
      gsize esize;
      gsize off = 0;

      for (guint i = 0; i < n; i++)
        {
          int64_t re;
          parts[i] = convert (w, keys[i], role);
          if (parts[i] == NULL)
            {
              for (guint j = 0; j < i; j++)
                converted_free (parts[j]);
              return stand_in (g, keys[0]);
            }
          re = parts[i]->shape[1] * parts[i]->shape[2] * parts[i]->shape[3];
          if (row_elems >= 0 && re != row_elems)
            fail (w, "tensors “%s” and “%s” cannot be joined: their rows differ", keys[0], keys[i]);
          row_elems = re;
          rows += parts[i]->shape[0];
        }
      {
        int64_t shape[4];

        memcpy (shape, parts[0]->shape, sizeof shape);
        shape[0] = rows;
        c = converted_new_mapped (w, keys[0], parts[0]->dtype, parts[0]->ndim, shape);
      }
      esize = hb_dtype_size (parts[0]->dtype);
      for (guint i = 0; i < n; i++)
        {
          gsize bytes = parts[i]->shape[0] * row_elems * esize;
          if (c != NULL)
            memcpy ((guint8 *) c->data + off, parts[i]->data, bytes);
          off += bytes;
          if (parts[i]->in_place)
            drop_pages (parts[i]->data, parts[i]->bytes);
          else
            w->host_bytes -= bytes;
          converted_free (parts[i]);
        }
      if (c == NULL)
        return stand_in (g, keys[0]);
      w->host_bytes += off;
      retire (w, ckey->str);
      remember (w, g_strdup (ckey->str), c);
    }
  return leaf (g, keys[0], c);
}

HbTensor *
hb_weights_get_conv_padded (HbWeights *w, HbGraph *g, const char *key, int64_t cin)
{
  g_autofree char *ckey = g_strdup_printf ("%d:%" G_GINT64_FORMAT ":%s", HB_WEIGHT_CONV, cin, key);
  Converted *c = g_hash_table_lookup (w->cache, ckey);

  if (c == NULL || c->trimmed)
    {
      Converted *src = convert (w, key, HB_WEIGHT_CONV);
      int64_t pixels, have, shape[4];
      gsize esize;

      if (src == NULL)
        return stand_in (g, key);
      have = src->shape[3];
      if (have > cin)
        {
          fail (w, "tensor “%s” reads %" G_GINT64_FORMAT " channels, more than the %"
                G_GINT64_FORMAT " of its input", key, have, cin);
          converted_free (src);
          return stand_in (g, key);
        }
      memcpy (shape, src->shape, sizeof shape);
      shape[3] = cin;
      /* zero-filled: the added channels read nothing */
      c = converted_new_mapped (w, key, src->dtype, 4, shape);
      if (c == NULL)
        {
          converted_free (src);
          return stand_in (g, key);
        }
      esize = hb_dtype_size (c->dtype);
      pixels = src->shape[0] * src->shape[1] * src->shape[2];
      for (int64_t p = 0; p < pixels; p++)
        memcpy ((guint8 *) c->data + p * cin * esize, (const guint8 *) src->data + p * have * esize,
                have * esize);
      if (src->in_place)
        drop_pages (src->data, src->bytes);
      else
        w->host_bytes -= src->bytes;
      converted_free (src);
      w->host_bytes += c->bytes;
      retire (w, ckey);
      remember (w, g_steal_pointer (&ckey), c);
    }
  return leaf (g, key, c);
}
