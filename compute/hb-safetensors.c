/* hb-safetensors.c — validated, memory-mapped safetensors files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "hb-safetensors.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "hb-backend.h"

/* Real headers are a few hundred KiB even for SDXL; anything near this is
 * not a safetensors file and parsing it would only waste memory. */
#define HB_ST_MAX_HEADER (100u * 1024u * 1024u)

struct _HbSafetensors {
  GMappedFile  *mapped;        /* NULL for hb_safetensors_new_from_data() */
  char         *path;
  char         *display_name;
  GStringChunk *names;
  GArray       *tensors;       /* HbStTensor, header order */
  GHashTable   *by_name;       /* name -> index + 1 */
  GHashTable   *metadata;      /* char* -> char* */
};

static const struct {
  const char *name;
  gsize       size;
} dtype_info[] = {
  [HB_ST_F32]  = { "F32", 4 },
  [HB_ST_F16]  = { "F16", 2 },
  [HB_ST_BF16] = { "BF16", 2 },
  [HB_ST_F64]  = { "F64", 8 },
  [HB_ST_I64]  = { "I64", 8 },
  [HB_ST_I32]  = { "I32", 4 },
  [HB_ST_I16]  = { "I16", 2 },
  [HB_ST_I8]   = { "I8", 1 },
  [HB_ST_U8]   = { "U8", 1 },
  [HB_ST_BOOL] = { "BOOL", 1 },
};

const char *
hb_st_dtype_name (HbStDType dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtype_info), "?");
  return dtype_info[dtype].name;
}

gsize
hb_st_dtype_size (HbStDType dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtype_info), 0);
  return dtype_info[dtype].size;
}

gboolean
hb_st_dtype_is_float (HbStDType dtype)
{
  return dtype == HB_ST_F32 || dtype == HB_ST_F16 || dtype == HB_ST_BF16;
}

int64_t
hb_st_tensor_nelements (const HbStTensor *t)
{
  int64_t n = 1;

  for (int i = 0; i < t->ndim; i++)
    n *= t->shape[i];
  return n;
}

static gboolean
dtype_from_string (const char *s, HbStDType *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_info); i++)
    if (g_strcmp0 (s, dtype_info[i].name) == 0)
      {
        *out = (HbStDType) i;
        return TRUE;
      }
  return FALSE;
}

static gboolean
fail (GError **error, const char *file, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, const char *file, const char *fmt, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  va_start (args, fmt);
  msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL, "%s: %s", file, msg);
  return FALSE;
}

/* A JSON integer that is not negative; json-glib also stores 1.0 and
 * "1" as nodes, which the format does not allow. */
static gboolean
get_uint (JsonNode *node, guint64 *out)
{
  gint64 v;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static gboolean
parse_metadata (HbSafetensors *st, JsonNode *node, GError **error)
{
  JsonObject *obj;
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, st->display_name,
                 "the header's \"__metadata__\" is not a map of strings; "
                 "the file is damaged or was not written by a safetensors library");
  obj = json_node_get_object (node);
  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &key, &value))
    {
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        return fail (error, st->display_name,
                     "metadata entry '%s' is not a string; "
                     "the file is damaged or was not written by a safetensors library", key);
      g_hash_table_insert (st->metadata, g_strdup (key), g_strdup (json_node_get_string (value)));
    }
  return TRUE;
}

typedef struct {
  guint64 begin, end;
  guint   index;
} Range;

static int
compare_range (gconstpointer a, gconstpointer b)
{
  const Range *ra = a, *rb = b;

  if (ra->begin != rb->begin)
    return ra->begin < rb->begin ? -1 : 1;
  if (ra->end != rb->end)
    return ra->end < rb->end ? -1 : 1;
  return 0;
}

static gboolean
parse_tensor (HbSafetensors *st, const char *name, JsonNode *node,
              const guint8 *data, guint64 data_size, Range *range, GError **error)
{
  const char *file = st->display_name;
  JsonObject *obj;
  JsonNode *dtype_node, *shape_node, *offsets_node;
  JsonArray *shape, *offsets;
  HbStTensor t = { 0 };
  guint64 begin, end, nbytes;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, file, "the header entry for tensor '%s' is not an object; "
                 "the file is damaged", name);
  obj = json_node_get_object (node);
  dtype_node = json_object_get_member (obj, "dtype");
  shape_node = json_object_get_member (obj, "shape");
  offsets_node = json_object_get_member (obj, "data_offsets");
  if (dtype_node == NULL || shape_node == NULL || offsets_node == NULL)
    return fail (error, file, "tensor '%s' lacks one of \"dtype\", \"shape\" or "
                 "\"data_offsets\" in the header; the file is damaged", name);

  if (!JSON_NODE_HOLDS_VALUE (dtype_node) ||
      json_node_get_value_type (dtype_node) != G_TYPE_STRING)
    return fail (error, file, "tensor '%s' has a dtype that is not a string; "
                 "the file is damaged", name);
  if (!dtype_from_string (json_node_get_string (dtype_node), &t.dtype))
    return fail (error, file, "tensor '%s' has the unknown dtype '%s'; Huabu reads "
                 "F32, F16 and BF16 weights (and integer index tensors): convert the "
                 "model to fp16 or fp32", name, json_node_get_string (dtype_node));

  if (!JSON_NODE_HOLDS_ARRAY (shape_node))
    return fail (error, file, "tensor '%s' has a shape that is not a list; "
                 "the file is damaged", name);
  shape = json_node_get_array (shape_node);
  if (json_array_get_length (shape) > HB_ST_MAX_DIMS)
    return fail (error, file, "tensor '%s' has %u dimensions, more than the %d "
                 "this reader supports", name, json_array_get_length (shape), HB_ST_MAX_DIMS);
  t.ndim = (int) json_array_get_length (shape);

  /* Overflow-checked product: a hostile header must not wrap around to a
   * size that happens to match its byte range. */
  nbytes = dtype_info[t.dtype].size;
  for (int i = 0; i < t.ndim; i++)
    {
      guint64 dim;

      if (!get_uint (json_array_get_element (shape, i), &dim) || dim > G_MAXINT64)
        return fail (error, file, "tensor '%s' has a shape entry that is not a "
                     "non-negative integer; the file is damaged", name);
      t.shape[i] = (int64_t) dim;
      if (dim != 0 && nbytes > G_MAXUINT64 / dim)
        return fail (error, file, "tensor '%s' has an impossibly large shape; "
                     "the file is damaged", name);
      nbytes *= dim;
    }

  if (!JSON_NODE_HOLDS_ARRAY (offsets_node) ||
      json_array_get_length (json_node_get_array (offsets_node)) != 2)
    return fail (error, file, "tensor '%s' needs \"data_offsets\" as [begin, end]; "
                 "the file is damaged", name);
  offsets = json_node_get_array (offsets_node);
  if (!get_uint (json_array_get_element (offsets, 0), &begin) ||
      !get_uint (json_array_get_element (offsets, 1), &end))
    return fail (error, file, "tensor '%s' has data offsets that are not non-negative "
                 "integers; the file is damaged", name);
  if (end < begin)
    return fail (error, file, "tensor '%s' ends (byte %" G_GUINT64_FORMAT ") before "
                 "it begins (byte %" G_GUINT64_FORMAT "); the file is damaged",
                 name, end, begin);
  if (end > data_size)
    return fail (error, file, "tensor '%s' ends at byte %" G_GUINT64_FORMAT " of the "
                 "data but the file has only %" G_GUINT64_FORMAT " bytes of data; the "
                 "file is truncated — download or copy it again", name, end, data_size);
  if (end - begin != nbytes)
    return fail (error, file, "tensor '%s' has shape and dtype %s needing %"
                 G_GUINT64_FORMAT " bytes but its data range holds %" G_GUINT64_FORMAT
                 " bytes; the size does not match, the file is damaged",
                 name, dtype_info[t.dtype].name, nbytes, end - begin);

  t.name = name;
  t.data = data + begin;
  t.nbytes = (gsize) nbytes;
  range->begin = begin;
  range->end = end;
  range->index = st->tensors->len;
  g_array_append_val (st->tensors, t);
  return TRUE;
}

static gboolean
check_overlaps (HbSafetensors *st, Range *ranges, guint n, GError **error)
{
  qsort (ranges, n, sizeof (Range), compare_range);
  for (guint i = 1; i < n; i++)
    if (ranges[i].begin < ranges[i - 1].end)
      {
        const HbStTensor *a = &g_array_index (st->tensors, HbStTensor, ranges[i - 1].index);
        const HbStTensor *b = &g_array_index (st->tensors, HbStTensor, ranges[i].index);

        return fail (error, st->display_name, "the data of tensors '%s' and '%s' overlap "
                     "(bytes %" G_GUINT64_FORMAT "–%" G_GUINT64_FORMAT " and %"
                     G_GUINT64_FORMAT "–%" G_GUINT64_FORMAT "); the file is damaged",
                     a->name, b->name, ranges[i - 1].begin, ranges[i - 1].end,
                     ranges[i].begin, ranges[i].end);
      }
  return TRUE;
}

static gboolean
parse (HbSafetensors *st, const guint8 *contents, gsize size, GError **error)
{
  const char *file = st->display_name;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) json_error = NULL;
  g_autofree Range *ranges = NULL;
  JsonNode *root;
  g_autoptr(GList) members = NULL;
  JsonObject *obj;
  const char *key;
  JsonNode *value;
  guint64 header_len = 0;
  guint n = 0;

  if (size < 8)
    return fail (error, file, "the file is only %" G_GSIZE_FORMAT " bytes long, too "
                 "short to be a safetensors file; it is truncated — download or copy "
                 "it again", size);
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | contents[i];
  if (header_len > size - 8)
    return fail (error, file, "the header length says %" G_GUINT64_FORMAT " bytes but "
                 "the file has only %" G_GSIZE_FORMAT " bytes after it; the file is "
                 "truncated or not a safetensors file", header_len, size - 8);
  if (header_len > HB_ST_MAX_HEADER)
    return fail (error, file, "the header length of %" G_GUINT64_FORMAT " bytes is "
                 "larger than any real model needs (limit %u); this is not a "
                 "safetensors file", header_len, HB_ST_MAX_HEADER);
  if (header_len < 2)
    return fail (error, file, "the header is empty; this is not a safetensors file");
  if (!g_utf8_validate ((const char *) contents + 8, (gssize) header_len, NULL))
    return fail (error, file, "the header is not valid UTF-8 text; this is not a "
                 "safetensors file or it is damaged");

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, (const char *) contents + 8,
                                   (gssize) header_len, &json_error))
    return fail (error, file, "the header is not valid JSON (%s); the file is "
                 "damaged or not a safetensors file", json_error->message);
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return fail (error, file, "the JSON header is not an object; the file is damaged "
                 "or not a safetensors file");
  obj = json_node_get_object (root);

  ranges = g_new0 (Range, json_object_get_size (obj) + 1);
  /* get_members() keeps the header's order, the iterator does not. */
  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    {
      key = l->data;
      value = json_object_get_member (obj, key);
      if (g_str_equal (key, "__metadata__"))
        {
          if (!parse_metadata (st, value, error))
            return FALSE;
          continue;
        }
      /* Names must outlive the parser. */
      key = g_string_chunk_insert (st->names, key);
      if (!parse_tensor (st, key, value, contents + 8 + header_len,
                         size - 8 - header_len, &ranges[n], error))
        return FALSE;
      n++;
    }
  if (!check_overlaps (st, ranges, n, error))
    return FALSE;
  for (guint i = 0; i < st->tensors->len; i++)
    g_hash_table_insert (st->by_name, (gpointer) g_array_index (st->tensors, HbStTensor, i).name,
                         GUINT_TO_POINTER (i + 1));
  return TRUE;
}

static HbSafetensors *
safetensors_new (const char *path, const char *display_name)
{
  HbSafetensors *st = g_new0 (HbSafetensors, 1);

  st->path = g_strdup (path);
  st->display_name = g_strdup (display_name);
  st->names = g_string_chunk_new (4096);
  st->tensors = g_array_new (FALSE, TRUE, sizeof (HbStTensor));
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return st;
}

HbSafetensors *
hb_safetensors_new_from_data (const guint8 *data, gsize size, const char *display_name,
                              GError **error)
{
  g_autoptr(HbSafetensors) st = NULL;

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (display_name != NULL, NULL);

  st = safetensors_new (display_name, display_name);
  if (!parse (st, data, size, error))
    return NULL;
  return g_steal_pointer (&st);
}

HbSafetensors *
hb_safetensors_open (const char *path, GError **error)
{
  g_autoptr(HbSafetensors) st = NULL;
  g_autofree char *base = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  base = g_filename_display_basename (path);
  st = safetensors_new (path, base);
  st->mapped = g_mapped_file_new (path, FALSE, &local_error);
  if (st->mapped == NULL)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "Cannot read the model file: %s", local_error->message);
      return NULL;
    }
  if (!parse (st, (const guint8 *) g_mapped_file_get_contents (st->mapped),
              g_mapped_file_get_length (st->mapped), error))
    return NULL;
  return g_steal_pointer (&st);
}

void
hb_safetensors_free (HbSafetensors *st)
{
  if (st == NULL)
    return;
  g_hash_table_unref (st->metadata);
  g_hash_table_unref (st->by_name);
  g_array_unref (st->tensors);
  g_string_chunk_free (st->names);
  g_clear_pointer (&st->mapped, g_mapped_file_unref);
  g_free (st->display_name);
  g_free (st->path);
  g_free (st);
}

const char *
hb_safetensors_get_path (HbSafetensors *st)
{
  g_return_val_if_fail (st != NULL, NULL);
  return st->path;
}

const HbStTensor *
hb_safetensors_find (HbSafetensors *st, const char *name)
{
  guint i;

  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  i = GPOINTER_TO_UINT (g_hash_table_lookup (st->by_name, name));
  return i == 0 ? NULL : &g_array_index (st->tensors, HbStTensor, i - 1);
}

guint
hb_safetensors_n_tensors (HbSafetensors *st)
{
  g_return_val_if_fail (st != NULL, 0);
  return st->tensors->len;
}

const HbStTensor *
hb_safetensors_nth (HbSafetensors *st, guint i)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (i < st->tensors->len, NULL);
  return &g_array_index (st->tensors, HbStTensor, i);
}

const char *
hb_safetensors_get_metadata (HbSafetensors *st, const char *key)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  return g_hash_table_lookup (st->metadata, key);
}

const char **
hb_safetensors_get_metadata_keys (HbSafetensors *st)
{
  g_return_val_if_fail (st != NULL, NULL);
  return (const char **) g_hash_table_get_keys_as_array (st->metadata, NULL);
}

static float
bf16_to_f32 (guint16 b)
{
  guint32 bits = (guint32) b << 16;
  float f;

  memcpy (&f, &bits, sizeof f);
  return f;
}

/* Element i of a float tensor whose data may be unaligned. */
static float
read_float (const HbStTensor *t, gsize i)
{
  guint16 h;
  float f;

  switch (t->dtype)
    {
    case HB_ST_F32:
      memcpy (&f, t->data + 4 * i, 4);
      return f;
    case HB_ST_F16:
      memcpy (&h, t->data + 2 * i, 2);
      return hb_f16_to_f32 (h);
    case HB_ST_BF16:
      memcpy (&h, t->data + 2 * i, 2);
      return bf16_to_f32 (h);
    case HB_ST_F64:
    case HB_ST_I64:
    case HB_ST_I32:
    case HB_ST_I16:
    case HB_ST_I8:
    case HB_ST_U8:
    case HB_ST_BOOL:
    default:
      g_return_val_if_reached (0.0f);
    }
}

gpointer
hb_st_tensor_convert (const HbStTensor *t, HbDType dtype, GError **error)
{
  gsize n;
  gpointer out;

  g_return_val_if_fail (t != NULL, NULL);
  g_return_val_if_fail (dtype == HB_DTYPE_F32 || dtype == HB_DTYPE_F16, NULL);

  if (!hb_st_dtype_is_float (t->dtype))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "Tensor '%s' holds %s values where a weight in F32, F16 or BF16 "
                   "is needed; the checkpoint is not a supported model",
                   t->name, hb_st_dtype_name (t->dtype));
      return NULL;
    }

  n = t->nbytes / hb_st_dtype_size (t->dtype);
  out = g_try_malloc (MAX (n, 1) * (dtype == HB_DTYPE_F32 ? 4 : 2));
  if (out == NULL)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_OUT_OF_MEMORY,
                   "Not enough memory to load tensor '%s' (%" G_GSIZE_FORMAT " values); "
                   "close other programs or use a smaller model", t->name, n);
      return NULL;
    }

  if ((dtype == HB_DTYPE_F32 && t->dtype == HB_ST_F32) ||
      (dtype == HB_DTYPE_F16 && t->dtype == HB_ST_F16))
    memcpy (out, t->data, t->nbytes);
  else if (dtype == HB_DTYPE_F32)
    for (gsize i = 0; i < n; i++)
      ((float *) out)[i] = read_float (t, i);
  else
    for (gsize i = 0; i < n; i++)
      ((guint16 *) out)[i] = hb_f32_to_f16 (read_float (t, i));
  return out;
}

/* Typed copies: the generic byte loop costs seconds on SD's 300 M conv
 * weights. */
#define PERMUTE_LOOP(type)                                              \
  for (int64_t o = 0; o < cout; o++)                                    \
    for (int64_t k = 0; k < khw; k++)                                   \
      {                                                                 \
        const type *s = (const type *) src + o * cin * khw + k;         \
        type *d = (type *) dst + (o * khw + k) * cin;                   \
        for (int64_t i = 0; i < cin; i++)                               \
          d[i] = s[i * khw];                                            \
      }

void
hb_permute_oihw_to_ohwi (const void *src, void *dst, gsize elem_size,
                         int64_t cout, int64_t cin, int64_t kh, int64_t kw)
{
  int64_t khw = kh * kw;

  if (khw == 1)
    memcpy (dst, src, (gsize) (cout * cin) * elem_size);
  else if (elem_size == 2)
    PERMUTE_LOOP (guint16)
  else if (elem_size == 4)
    PERMUTE_LOOP (guint32)
  else
    for (int64_t o = 0; o < cout; o++)
      for (int64_t i = 0; i < cin; i++)
        for (int64_t k = 0; k < khw; k++)
          memcpy ((guint8 *) dst + ((o * khw + k) * cin + i) * elem_size,
                  (const guint8 *) src + ((o * cin + i) * khw + k) * elem_size, elem_size);
}

#undef PERMUTE_LOOP

gpointer
hb_st_tensor_convert_conv (const HbStTensor *t, HbDType dtype, GError **error)
{
  g_autofree guint8 *plain = NULL;
  const guint8 *src;
  guint8 *out;
  gsize size;

  g_return_val_if_fail (t != NULL, NULL);

  if (t->ndim != 4)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "Tensor '%s' should be a convolution weight with 4 dimensions but "
                   "has %d; the checkpoint is not a supported model", t->name, t->ndim);
      return NULL;
    }
  size = dtype == HB_DTYPE_F32 ? 4 : 2;
  /* Same dtype and aligned (the usual case: writers pad the header to 8
   * bytes): permute straight from the mapping, skipping a copy of what
   * is most of a UNet. */
  if (((dtype == HB_DTYPE_F32 && t->dtype == HB_ST_F32) ||
       (dtype == HB_DTYPE_F16 && t->dtype == HB_ST_F16)) &&
      (guintptr) t->data % size == 0)
    src = t->data;
  else
    {
      plain = hb_st_tensor_convert (t, dtype, error);
      if (plain == NULL)
        return NULL;
      src = plain;
    }
  out = g_try_malloc (MAX (t->nbytes / hb_st_dtype_size (t->dtype), 1) * size);
  if (out == NULL)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_OUT_OF_MEMORY,
                   "Not enough memory to load tensor '%s'; close other programs or use "
                   "a smaller model", t->name);
      return NULL;
    }
  hb_permute_oihw_to_ohwi (src, out, size, t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  return out;
}
