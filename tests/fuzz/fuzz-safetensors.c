/* fuzz-safetensors.c — libFuzzer target for the safetensors reader
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Run: fuzz-safetensors -max_total_time=300 corpus-dir/
 * Any input must give either a reader whose tensors all lie inside the
 * input, or an error; never a crash or a read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hb-safetensors.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbSafetensors) st = NULL;
  /* An exact-size copy, so that AddressSanitizer sees any read past the end. */
  g_autofree uint8_t *copy = g_memdup2 (data, size);

  st = hb_safetensors_new_from_data (copy, size, "fuzz.safetensors", &error);
  if (st == NULL)
    {
      if (error == NULL || error->message[0] == '\0')
        abort ();
      return 0;
    }
  for (guint i = 0; i < hb_safetensors_n_tensors (st); i++)
    {
      const HbStTensor *t = hb_safetensors_nth (st, i);
      volatile guint8 sink = 0;

      if (t->data < copy || t->data + t->nbytes > copy + size)
        abort ();
      if (t->nbytes > 0)
        sink ^= t->data[0] ^ t->data[t->nbytes - 1];
      if (hb_st_dtype_is_float (t->dtype) && t->nbytes <= 1 << 20)
        {
          g_autofree float *f = hb_st_tensor_convert (t, HB_DTYPE_F32, NULL);
          g_autofree guint16 *h = t->ndim == 4 ? hb_st_tensor_convert_conv (t, HB_DTYPE_F16, NULL)
                                               : NULL;

          if (f == NULL || (t->ndim == 4 && h == NULL))
            abort ();
        }
      (void) sink;
    }
  return 0;
}
