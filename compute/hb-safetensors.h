/* hb-safetensors.h — validated, memory-mapped safetensors files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A safetensors file is an 8-byte little-endian header length, a JSON
 * header naming each tensor's dtype, shape and byte range, then the raw
 * data. hb_safetensors_open() checks all of it before anything reads a
 * byte of tensor data, so later code can trust every HbStTensor.
 *
 * Tensor data points into the mapping and is NOT aligned (the header
 * length is arbitrary): read it with memcpy or the conversion helpers.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include "hb-graph.h"

G_BEGIN_DECLS

#define HB_ST_MAX_DIMS 8

typedef enum {
  HB_ST_F32,
  HB_ST_F16,
  HB_ST_BF16,
  HB_ST_F64,
  HB_ST_I64,
  HB_ST_I32,
  HB_ST_I16,
  HB_ST_I8,
  HB_ST_U8,
  HB_ST_BOOL,
} HbStDType;

typedef struct {
  const char    *name;
  HbStDType      dtype;
  int            ndim;
  int64_t        shape[HB_ST_MAX_DIMS];
  const guint8  *data;     /* inside the mapping; unaligned */
  gsize          nbytes;
} HbStTensor;

typedef struct _HbSafetensors HbSafetensors;

HbSafetensors    *hb_safetensors_open          (const char *path, GError **error);
/* Validates a file already in memory; `data` must outlive the result.
 * `display_name` is the name used in error messages. */
HbSafetensors    *hb_safetensors_new_from_data (const guint8 *data, gsize size,
                                                const char *display_name, GError **error);
void              hb_safetensors_free          (HbSafetensors *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbSafetensors, hb_safetensors_free)

const char       *hb_safetensors_get_path      (HbSafetensors *st);
const HbStTensor *hb_safetensors_find          (HbSafetensors *st, const char *name);
guint             hb_safetensors_n_tensors     (HbSafetensors *st);
/* In header order. */
const HbStTensor *hb_safetensors_nth           (HbSafetensors *st, guint i);
/* A value of the header's "__metadata__" string map, or NULL. */
const char       *hb_safetensors_get_metadata  (HbSafetensors *st, const char *key);
/* The metadata keys (borrowed strings), NULL-terminated; free with g_free. */
const char      **hb_safetensors_get_metadata_keys (HbSafetensors *st);

const char       *hb_st_dtype_name             (HbStDType dtype);
gsize             hb_st_dtype_size             (HbStDType dtype);
/* TRUE for F32/F16/BF16: the dtypes that weights may have. */
gboolean          hb_st_dtype_is_float         (HbStDType dtype);
int64_t           hb_st_tensor_nelements       (const HbStTensor *t);

/* A freshly allocated contiguous copy of a float tensor (F32/F16/BF16)
 * in `dtype` (HB_DTYPE_F32 or HB_DTYPE_F16); free with g_free. */
gpointer          hb_st_tensor_convert         (const HbStTensor *t, HbDType dtype,
                                                GError **error);
/* The same for a conv weight: PyTorch's [Cout, Cin, KH, KW] becomes the
 * engine's [Cout, KH, KW, Cin] (see hb-graph.h). */
gpointer          hb_st_tensor_convert_conv    (const HbStTensor *t, HbDType dtype,
                                                GError **error);
/* [Cout, Cin, KH, KW] -> [Cout, KH, KW, Cin] for elements of `elem_size`
 * bytes; src and dst must not overlap. */
void              hb_permute_oihw_to_ohwi      (const void *src, void *dst, gsize elem_size,
                                                int64_t cout, int64_t cin,
                                                int64_t kh, int64_t kw);

G_END_DECLS
