/* hb-test-compare.c — run one graph on the reference and Vulkan backends
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "hb-test-compare.h"

static HbBackend *vk_backend;

HbTestCase *
hb_test_case_new (guint32 seed)
{
  HbTestCase *tc = g_new0 (HbTestCase, 1);

  tc->graph = hb_graph_new ();
  tc->inputs = g_ptr_array_new ();
  tc->data = g_ptr_array_new_with_free_func (g_free);
  tc->rand = g_rand_new_with_seed (seed);
  return tc;
}

void
hb_test_case_free (HbTestCase *tc)
{
  hb_graph_free (tc->graph);
  g_ptr_array_unref (tc->inputs);
  g_ptr_array_unref (tc->data);
  g_rand_free (tc->rand);
  g_free (tc);
}

static gpointer
random_data (HbTestCase *tc, HbDType dtype, int64_t n, double range)
{
  gsize esize = hb_dtype_size (dtype);
  guint8 *data = g_malloc (MAX (n, 1) * esize);

  for (int64_t i = 0; i < n; i++)
    switch (dtype)
      {
      case HB_DTYPE_F32:
        ((float *) data)[i] = (float) g_rand_double_range (tc->rand, -range, range);
        break;
      case HB_DTYPE_F16:
        ((uint16_t *) data)[i] = hb_f32_to_f16 ((float) g_rand_double_range (tc->rand, -range, range));
        break;
      case HB_DTYPE_I32:
        ((int32_t *) data)[i] = g_rand_int_range (tc->rand, 0, (gint32) range);
        break;
      case HB_DTYPE_U8X4:
      default:
        ((uint32_t *) data)[i] = g_rand_int (tc->rand);
        break;
      }
  return data;
}

static int64_t
count (int ndim, const int64_t *shape)
{
  int64_t n = 1;

  for (int d = 0; d < ndim; d++)
    n *= shape[d];
  return n;
}

HbTensor *
hb_test_input (HbTestCase *tc, HbDType dtype, int ndim, const int64_t *shape, double range)
{
  g_autofree char *name = g_strdup_printf ("in%u", tc->inputs->len);
  HbTensor *t = hb_graph_input (tc->graph, name, dtype, ndim, shape);

  g_ptr_array_add (tc->inputs, t);
  g_ptr_array_insert (tc->data, tc->inputs->len - 1, random_data (tc, dtype, count (ndim, shape), range));
  return t;
}

HbTensor *
hb_test_weight (HbTestCase *tc, HbDType dtype, int ndim, const int64_t *shape, double range)
{
  gpointer data = random_data (tc, dtype, count (ndim, shape), range);

  g_ptr_array_add (tc->data, data);
  return hb_graph_weight (tc->graph, "w", dtype, ndim, shape, data);
}

HbBackend *
hb_test_vk_backend (void)
{
  g_autoptr(GError) error = NULL;

  if (vk_backend == NULL)
    {
      vk_backend = hb_backend_vulkan_new (NULL, &error);
      g_assert_no_error (error);
    }
  return vk_backend;
}

void
hb_test_vk_backend_free (void)
{
  g_clear_pointer (&vk_backend, hb_backend_free);
}

static gpointer
run (HbBackend *be, HbTestCase *tc, HbTensor *out)
{
  g_autoptr(GError) error = NULL;
  gsize size = hb_tensor_nelements (out) * hb_dtype_size (out->dtype);
  gpointer result = g_malloc (size);

  hb_backend_prepare (be, tc->graph, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < tc->inputs->len; i++)
    {
      HbTensor *t = g_ptr_array_index (tc->inputs, i);
      hb_backend_set_input (be, t, g_ptr_array_index (tc->data, i),
                            hb_tensor_nelements (t) * hb_dtype_size (t->dtype), &error);
      g_assert_no_error (error);
    }
  hb_backend_compute (be, tc->graph, &error);
  g_assert_no_error (error);
  hb_backend_get_output (be, out, result, size, &error);
  g_assert_no_error (error);
  hb_backend_release (be, tc->graph);
  return result;
}

double
hb_test_compare (HbTestCase *tc, HbTensor *out)
{
  g_autoptr(HbBackend) ref = hb_backend_ref_new ();
  g_autofree gpointer want = NULL;
  g_autofree gpointer got = NULL;
  int64_t n = hb_tensor_nelements (out);
  double err = 0, norm = 0;

  hb_graph_mark_output (tc->graph, out);
  want = run (ref, tc, out);
  got = run (hb_test_vk_backend (), tc, out);

  if (out->dtype == HB_DTYPE_U8X4)
    {
      const guint8 *a = want, *b = got;
      for (int64_t i = 0; i < n * 4; i++)
        err = MAX (err, fabs ((double) a[i] - b[i]));
      g_test_message ("%s: largest byte difference %g", hb_op_name (out->op), err);
      return err;
    }
  g_assert_cmpint (out->dtype, ==, HB_DTYPE_F32);
  for (int64_t i = 0; i < n; i++)
    {
      double a = ((float *) want)[i], b = ((float *) got)[i];
      err += (b - a) * (b - a);
      norm += a * a;
    }
  /* NaN in the output must fail, so compare with a form NaN cannot pass */
  err = norm > 0 ? err / norm : err;
  g_test_message ("%s %s: normalised MSE %.3g over %" G_GINT64_FORMAT " values",
                  hb_op_name (out->op), out->name, err, n);
  return isnan (err) ? INFINITY : err;
}
