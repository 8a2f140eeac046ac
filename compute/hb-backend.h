/* hb-backend.h — backends that run an HbGraph
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A backend is a small vtable with a context pointer (as in ggml). The
 * reference backend computes in plain C on the host and is the oracle of
 * the tests; the Vulkan backend is the production path.
 *
 * Life of a graph on a backend:
 *   hb_backend_prepare()     once: uploads weights it has not seen yet
 *                            (weights are shared between graphs and keyed
 *                            by host_data pointer), plans activation
 *                            memory, creates pipelines, records commands
 *   hb_backend_set_input()   per run, for each HB_TENSOR_INPUT
 *   hb_backend_compute()     runs every node
 *   hb_backend_get_output()  for each HB_TENSOR_OUTPUT
 *   hb_backend_release()     frees what prepare() made for this graph
 */
#pragma once

#include <gio/gio.h>
#include "hb-graph.h"

G_BEGIN_DECLS

#define HB_ENGINE_ERROR (hb_engine_error_quark ())
GQuark hb_engine_error_quark (void);

typedef enum {
  HB_ENGINE_ERROR_FAILED,
  HB_ENGINE_ERROR_NO_VULKAN,      /* no loader or no device */
  HB_ENGINE_ERROR_OUT_OF_MEMORY,  /* host or device memory */
  HB_ENGINE_ERROR_DEVICE,         /* a Vulkan call failed or the device was lost */
  HB_ENGINE_ERROR_INVALID_MODEL,  /* a checkpoint is malformed or not supported */
  HB_ENGINE_ERROR_INVALID_ARGUMENT,
  HB_ENGINE_ERROR_CANCELLED,
  HB_ENGINE_ERROR_NUMERIC,        /* NaN or Inf appeared */
} HbEngineError;

typedef struct _HbBackend HbBackend;

typedef struct {
  const char *name;
  gboolean (*prepare)     (HbBackend *be, HbGraph *g, GError **error);
  gboolean (*set_input)   (HbBackend *be, HbTensor *t, const void *data, gsize size, GError **error);
  gboolean (*compute)     (HbBackend *be, HbGraph *g, GError **error);
  gboolean (*get_output)  (HbBackend *be, HbTensor *t, void *data, gsize size, GError **error);
  void     (*release)     (HbBackend *be, HbGraph *g);
  void     (*free)        (HbBackend *be);
} HbBackendClass;

struct _HbBackend {
  const HbBackendClass *klass;
  gpointer              ctx;
};

/* Per-op timings of the last compute(), when the backend can measure them. */
typedef struct {
  HbOpType op;
  const char *name;   /* the node's name */
  double   ms;
  double   flops;
} HbOpTiming;

HbBackend *hb_backend_ref_new        (void);

gboolean   hb_backend_prepare        (HbBackend *be, HbGraph *g, GError **error);
gboolean   hb_backend_set_input      (HbBackend *be, HbTensor *t, const void *data, gsize size,
                                      GError **error);
gboolean   hb_backend_compute        (HbBackend *be, HbGraph *g, GError **error);
gboolean   hb_backend_get_output     (HbBackend *be, HbTensor *t, void *data, gsize size,
                                      GError **error);
void       hb_backend_release        (HbBackend *be, HbGraph *g);
void       hb_backend_free           (HbBackend *be);
const char*hb_backend_name           (HbBackend *be);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbBackend, hb_backend_free)

G_END_DECLS
