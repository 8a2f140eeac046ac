/* hb-backend.c — dispatch to a backend's vtable
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "hb-backend.h"

G_DEFINE_QUARK (hb-engine-error-quark, hb_engine_error)

gboolean
hb_backend_prepare (HbBackend *be, HbGraph *g, GError **error)
{
  return be->klass->prepare (be, g, error);
}

gboolean
hb_backend_set_input (HbBackend *be, HbTensor *t, const void *data, gsize size, GError **error)
{
  g_return_val_if_fail (t->kind == HB_TENSOR_INPUT, FALSE);
  if (size != (gsize) hb_tensor_nelements (t) * hb_dtype_size (t->dtype))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_ARGUMENT,
                   "Input “%s” needs %" G_GSIZE_FORMAT " bytes but %" G_GSIZE_FORMAT " were given",
                   t->name, (gsize) hb_tensor_nelements (t) * hb_dtype_size (t->dtype), size);
      return FALSE;
    }
  return be->klass->set_input (be, t, data, size, error);
}

gboolean
hb_backend_compute (HbBackend *be, HbGraph *g, GError **error)
{
  return be->klass->compute (be, g, error);
}

gboolean
hb_backend_get_output (HbBackend *be, HbTensor *t, void *data, gsize size, GError **error)
{
  if (size != (gsize) hb_tensor_nelements (t) * hb_dtype_size (t->dtype))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_ARGUMENT,
                   "Output “%s” has %" G_GSIZE_FORMAT " bytes but %" G_GSIZE_FORMAT " were asked for",
                   t->name, (gsize) hb_tensor_nelements (t) * hb_dtype_size (t->dtype), size);
      return FALSE;
    }
  return be->klass->get_output (be, t, data, size, error);
}

void
hb_backend_release (HbBackend *be, HbGraph *g)
{
  be->klass->release (be, g);
}

void
hb_backend_free (HbBackend *be)
{
  if (be == NULL)
    return;
  be->klass->free (be);
}

const char *
hb_backend_name (HbBackend *be)
{
  return be->klass->name;
}
