/* hb-graph.c — building the op graph
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "hb-graph.h"

struct _HbGraph {
  GPtrArray *nodes;     /* HbTensor*, in creation order = a valid execution order */
  guint     *last_use;  /* computed lazily */
  gboolean   last_use_valid;
  char      *shape_error; /* the first operands that did not fit, or NULL */
};

static void
tensor_free (gpointer data)
{
  HbTensor *t = data;

  g_free (t->name);
  g_free (t);
}

HbGraph *
hb_graph_new (void)
{
  HbGraph *g = g_new0 (HbGraph, 1);

  g->nodes = g_ptr_array_new_with_free_func (tensor_free);
  return g;
}

void
hb_graph_free (HbGraph *graph)
{
  if (graph == NULL)
    return;
  g_ptr_array_unref (graph->nodes);
  g_free (graph->last_use);
  g_free (graph->shape_error);
  g_free (graph);
}

guint
hb_graph_n_nodes (HbGraph *graph)
{
  return graph->nodes->len;
}

HbTensor *
hb_graph_node (HbGraph *graph, guint i)
{
  g_return_val_if_fail (i < graph->nodes->len, NULL);
  return g_ptr_array_index (graph->nodes, i);
}

gsize
hb_dtype_size (HbDType dtype)
{
  switch (dtype)
    {
    case HB_DTYPE_F16:
      return 2;
    case HB_DTYPE_F32:
    case HB_DTYPE_I32:
    case HB_DTYPE_U8X4:
      return 4;
    default:
      g_return_val_if_reached (4);
    }
}

int64_t
hb_tensor_nelements (const HbTensor *t)
{
  int64_t n = 1;

  for (int i = 0; i < t->ndim; i++)
    n *= t->shape[i];
  return n;
}

static void
set_contiguous_strides (HbTensor *t)
{
  int64_t s = 1;

  for (int i = t->ndim - 1; i >= 0; i--)
    {
      t->stride[i] = s;
      s *= t->shape[i];
    }
}

gboolean
hb_tensor_is_contiguous (const HbTensor *t)
{
  int64_t s = 1;

  for (int i = t->ndim - 1; i >= 0; i--)
    {
      if (t->shape[i] != 1 && t->stride[i] != s)
        return FALSE;
      s *= t->shape[i];
    }
  return TRUE;
}

static HbTensor *
new_node (HbGraph *g, HbOpType op, HbDType dtype, int ndim, const int64_t *shape)
{
  HbTensor *t = g_new0 (HbTensor, 1);

  g_assert (ndim >= 1 && ndim <= HB_MAX_DIMS);
  t->op = op;
  t->dtype = dtype;
  t->kind = HB_TENSOR_INTERMEDIATE;
  t->ndim = ndim;
  memcpy (t->shape, shape, sizeof (int64_t) * ndim);
  for (int i = ndim; i < HB_MAX_DIMS; i++)
    t->shape[i] = 1;
  set_contiguous_strides (t);
  t->id = g->nodes->len;
  g_ptr_array_add (g->nodes, t);
  g->last_use_valid = FALSE;
  return t;
}

static HbTensor *
new_like (HbGraph *g, HbOpType op, HbTensor *x)
{
  return new_node (g, op, HB_DTYPE_F32, x->ndim, x->shape);
}

static void
set_name (HbTensor *t, const char *fmt_prefix, const char *name)
{
  g_free (t->name);
  t->name = name ? g_strdup (name) : g_strdup_printf ("%s#%u", fmt_prefix, t->id);
}

HbTensor *
hb_graph_weight (HbGraph *graph, const char *name, HbDType dtype,
                 int ndim, const int64_t *shape, const void *host_data)
{
  HbTensor *t = new_node (graph, HB_OP_NONE, dtype, ndim, shape);

  t->kind = HB_TENSOR_WEIGHT;
  t->host_data = host_data;
  set_name (t, "weight", name);
  return t;
}

HbTensor *
hb_graph_input (HbGraph *graph, const char *name, HbDType dtype,
                int ndim, const int64_t *shape)
{
  HbTensor *t = new_node (graph, HB_OP_NONE, dtype, ndim, shape);

  t->kind = HB_TENSOR_INPUT;
  set_name (t, "input", name);
  return t;
}

void
hb_graph_mark_output (HbGraph *graph, HbTensor *t)
{
  g_return_if_fail (t->kind == HB_TENSOR_INTERMEDIATE || t->kind == HB_TENSOR_OUTPUT);
  g_return_if_fail (t->op != HB_OP_VIEW);
  t->kind = HB_TENSOR_OUTPUT;
  graph->last_use_valid = FALSE;
}

static HbTensor *
storage_root (HbTensor *t)
{
  while (t->op == HB_OP_VIEW)
    t = t->view_src;
  return t;
}

/* The index of the last node that reads the storage of node `id`, so a
 * planner can hand its memory to later nodes. Inputs, weights and outputs
 * are never reused: their value matters outside the run. */
guint
hb_graph_last_use (HbGraph *graph, guint id)
{
  if (!graph->last_use_valid)
    {
      guint n = graph->nodes->len;

      g_free (graph->last_use);
      graph->last_use = g_new (guint, n);
      for (guint i = 0; i < n; i++)
        graph->last_use[i] = i;
      for (guint i = 0; i < n; i++)
        {
          HbTensor *t = g_ptr_array_index (graph->nodes, i);

          if (t->op == HB_OP_VIEW)
            {
              HbTensor *root = storage_root (t);
              graph->last_use[root->id] = MAX (graph->last_use[root->id], i);
            }
          for (int s = 0; s < HB_MAX_SRC; s++)
            if (t->src[s] != NULL)
              {
                HbTensor *root = storage_root (t->src[s]);
                graph->last_use[root->id] = MAX (graph->last_use[root->id], i);
              }
        }
      for (guint i = 0; i < n; i++)
        {
          HbTensor *t = g_ptr_array_index (graph->nodes, i);
          if (t->kind != HB_TENSOR_INTERMEDIATE)
            graph->last_use[i] = G_MAXUINT;
        }
      graph->last_use_valid = TRUE;
    }
  g_return_val_if_fail (id < graph->nodes->len, G_MAXUINT);
  return graph->last_use[id];
}

static int64_t
last_dim (const HbTensor *t)
{
  return t->shape[t->ndim - 1];
}

const char *
hb_graph_get_shape_error (HbGraph *graph)
{
  return graph->shape_error;
}

/* The weight that set the width (last dimension) of t: t itself for a
 * leaf, else the weight of the nearest matmul or conv it comes from. */
static const HbTensor *
width_source (const HbTensor *t)
{
  for (int hops = 0; t != NULL && hops < 256; hops++)
    {
      if (t->op == HB_OP_NONE)
        return t->kind == HB_TENSOR_WEIGHT ? t : NULL;
      if ((t->op == HB_OP_MATMUL || t->op == HB_OP_CONV2D) && t->src[1] != NULL
          && t->src[1]->op == HB_OP_NONE && t->src[1]->kind == HB_TENSOR_WEIGHT)
        return t->src[1];
      t = t->op == HB_OP_VIEW ? t->view_src : t->src[0];
    }
  return NULL;
}

/* A conv weight is held as [Cout, KH, KW, Cin] but written in checkpoints
 * as [Cout, Cin, KH, KW]: say it the checkpoint's way. Activations are
 * NHWC. */
static char *
shape_string (const HbTensor *t)
{
  static const int conv_order[4] = { 0, 3, 1, 2 };
  gboolean conv = t->kind == HB_TENSOR_WEIGHT && t->ndim == 4;
  GString *s = g_string_new (t->kind == HB_TENSOR_WEIGHT ? "[" : t->ndim == 4 ? "NHWC [" : "[");

  for (int i = 0; i < t->ndim; i++)
    g_string_append_printf (s, "%s%" PRId64, i ? ", " : "", t->shape[conv ? conv_order[i] : i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Records that operands of a node do not fit, in words that name the
 * weights involved (the checkpoint keys), and returns ok. The node is still
 * built with a plausible shape so that model code can finish the graph;
 * the graph must not be run (callers check hb_graph_get_shape_error). Only
 * the first problem is kept: later ones usually follow from it. */
static gboolean
fits (HbGraph *g, gboolean ok, const HbTensor *x, const HbTensor *w, const char *fmt, ...)
  G_GNUC_PRINTF (5, 6);

static gboolean
fits (HbGraph *g, gboolean ok, const HbTensor *x, const HbTensor *w, const char *fmt, ...)
{
  const HbTensor *src;
  g_autofree char *what = NULL;
  g_autofree char *wshape = NULL;
  g_autofree char *xshape = NULL;
  GString *msg;
  va_list ap;

  if (ok || g->shape_error != NULL)
    return ok;
  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  msg = g_string_new (NULL);
  if (w != NULL && w->kind == HB_TENSOR_WEIGHT)
    {
      wshape = shape_string (w);
      g_string_append_printf (msg, "the tensor “%s” (%s) does not fit: %s", w->name, wshape, what);
    }
  else
    g_string_append_printf (msg, "%s", what);
  src = x != NULL ? width_source (x) : NULL;
  if (x != NULL && src != NULL && src != w)
    {
      xshape = shape_string (x);
      g_string_append_printf (msg, "; its input %s comes from “%s”, one of the two is mis-shaped",
                              xshape, src->name);
    }
  g->shape_error = g_string_free (msg, FALSE);
  return FALSE;
}

HbTensor *
hb_view (HbGraph *g, HbTensor *x, int ndim, const int64_t *shape,
         const int64_t *stride, int64_t offset)
{
  HbTensor *root = storage_root (x);
  HbTensor *t = new_node (g, HB_OP_VIEW, x->dtype, ndim, shape);

  memcpy (t->stride, stride, sizeof (int64_t) * ndim);
  t->view_src = root;
  t->view_offset = x->view_offset + offset;
  t->src[0] = x;
  t->kind = HB_TENSOR_INTERMEDIATE;
  set_name (t, "view", NULL);
  return t;
}

HbTensor *
hb_reshape (HbGraph *g, HbTensor *x, int ndim, const int64_t *shape)
{
  HbTensor tmp = { .ndim = ndim };

  memcpy (tmp.shape, shape, sizeof (int64_t) * ndim);
  g_return_val_if_fail (hb_tensor_is_contiguous (x), NULL);
  fits (g, hb_tensor_nelements (&tmp) == hb_tensor_nelements (x), x, width_source (x),
        "it gives %" PRId64 " values where %" PRId64 " are needed",
        hb_tensor_nelements (x), hb_tensor_nelements (&tmp));
  set_contiguous_strides (&tmp);
  return hb_view (g, x, ndim, shape, tmp.stride, 0);
}

HbTensor *
hb_copy (HbGraph *g, HbTensor *x)
{
  HbTensor *t = new_node (g, HB_OP_COPY, x->dtype, x->ndim, x->shape);

  t->src[0] = x;
  set_name (t, "copy", NULL);
  return t;
}


HbTensor *
hb_matmul (HbGraph *g, HbTensor *a, HbTensor *b, gboolean trans_b,
           HbTensor *bias, HbActivation act, HbTensor *residual)
{
  int64_t k = last_dim (a);
  int64_t n, kb;
  int64_t shape[HB_MAX_DIMS];
  HbTensor *t;

  g_return_val_if_fail (a->dtype == HB_DTYPE_F32, NULL);
  if (!fits (g, b->ndim == 2 || (b->ndim > 2 && b->kind != HB_TENSOR_WEIGHT), NULL, b,
             "a weight matrix must have two dimensions"))
    {
      n = b->shape[0];
      kb = k;
    }
  else
    {
      n = trans_b ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
      kb = trans_b ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2];
    }
  fits (g, k == kb, a, b, "it takes %" PRId64 " input features but gets %" PRId64, kb, k);
  if (b->ndim > 2 && b->kind != HB_TENSOR_WEIGHT)
    {
      /* batched b: its leading dims must match a's */
      g_return_val_if_fail (b->ndim == a->ndim, NULL);
      for (int i = 0; i < b->ndim - 2; i++)
        g_return_val_if_fail (b->shape[i] == a->shape[i], NULL);
    }
  fits (g, bias == NULL || hb_tensor_nelements (bias) == n, NULL, bias,
        "%" PRId64 " bias values for %" PRId64 " outputs (of “%s”)",
        bias ? hb_tensor_nelements (bias) : 0, n, b->name);

  memcpy (shape, a->shape, sizeof shape);
  shape[a->ndim - 1] = n;
  t = new_node (g, HB_OP_MATMUL, HB_DTYPE_F32, a->ndim, shape);
  if (residual != NULL)
    fits (g, hb_tensor_nelements (residual) == hb_tensor_nelements (t), residual, b,
          "its %" PRId64 " outputs per row cannot be added to the residual connection",
          n);
  t->src[0] = a;
  t->src[1] = b;
  t->src[2] = bias;
  t->src[3] = residual;
  t->iparams[HB_MATMUL_TRANS_B] = trans_b ? 1 : 0;
  t->iparams[HB_MATMUL_ACT] = act;
  set_name (t, "matmul", NULL);
  return t;
}

HbTensor *
hb_linear (HbGraph *g, HbTensor *x, HbTensor *w, HbTensor *bias)
{
  return hb_matmul (g, x, w, TRUE, bias, HB_ACT_NONE, NULL);
}

HbTensor *
hb_conv2d_asym (HbGraph *g, HbTensor *x, HbTensor *w, HbTensor *bias,
                int stride, int pad, int pad_end, HbTensor *residual)
{
  int64_t shape[4];
  HbTensor *t;

  g_return_val_if_fail (x->ndim == 4, NULL);
  g_return_val_if_fail (stride >= 1, NULL);
  if (fits (g, w->ndim == 4, NULL, w, "a convolution kernel must have four dimensions"))
    fits (g, w->shape[3] == x->shape[3], x, w,
          "as a convolution it takes %" PRId64 " input channels but gets %" PRId64,
          w->shape[3], x->shape[3]);
  shape[0] = x->shape[0];
  shape[1] = MAX ((x->shape[1] + pad + pad_end - w->shape[1]) / stride + 1, 1);
  shape[2] = MAX ((x->shape[2] + pad + pad_end - w->shape[2]) / stride + 1, 1);
  shape[3] = w->shape[0];
  fits (g, bias == NULL || hb_tensor_nelements (bias) == shape[3], NULL, bias,
        "%" PRId64 " bias values for %" PRId64 " output channels (of “%s”)",
        bias ? hb_tensor_nelements (bias) : 0, shape[3], w->name);
  t = new_node (g, HB_OP_CONV2D, HB_DTYPE_F32, 4, shape);
  /* The residual is the output's shape, or one vector per image
   * [B, 1, 1, Cout] added to every pixel (a res block's time embedding). */
  if (residual != NULL)
    fits (g, hb_tensor_nelements (residual) == hb_tensor_nelements (t)
             || (residual->ndim == 4 && residual->shape[0] == shape[0] && residual->shape[1] == 1
                 && residual->shape[2] == 1 && residual->shape[3] == shape[3]),
          residual, w,
          "its %" PRId64 " output channels cannot be added to the residual connection",
          shape[3]);
  t->src[0] = x;
  t->src[1] = w;
  t->src[2] = bias;
  t->src[3] = residual;
  t->iparams[HB_CONV_STRIDE] = stride;
  t->iparams[HB_CONV_PAD] = pad;
  t->iparams[HB_CONV_PAD_END] = pad_end;
  set_name (t, "conv2d", NULL);
  return t;
}

gboolean
hb_conv2d_residual_per_image (const HbTensor *t)
{
  const HbTensor *r = t->src[3];

  return t->op == HB_OP_CONV2D && r != NULL && r->ndim == 4 && r->shape[1] == 1
         && r->shape[2] == 1;
}

HbTensor *
hb_conv2d (HbGraph *g, HbTensor *x, HbTensor *w, HbTensor *bias,
           int stride, int pad, HbTensor *residual)
{
  return hb_conv2d_asym (g, x, w, bias, stride, pad, pad, residual);
}

HbTensor *
hb_group_norm (HbGraph *g, HbTensor *x, HbTensor *gamma, HbTensor *beta,
               int groups, float eps, gboolean silu)
{
  HbTensor *t;

  g_return_val_if_fail (groups > 0, NULL);
  fits (g, last_dim (x) % groups == 0, x, NULL,
        "%" PRId64 " channels cannot be split into %d groups for a group norm", last_dim (x), groups);
  fits (g, hb_tensor_nelements (gamma) == last_dim (x), x, gamma,
        "it has %" PRId64 " values for %" PRId64 " channels", hb_tensor_nelements (gamma), last_dim (x));
  fits (g, hb_tensor_nelements (beta) == last_dim (x), x, beta,
        "it has %" PRId64 " values for %" PRId64 " channels", hb_tensor_nelements (beta), last_dim (x));
  t = new_like (g, HB_OP_GROUP_NORM, x);
  t->src[0] = x;
  t->src[1] = gamma;
  t->src[2] = beta;
  t->iparams[HB_NORM_GROUPS] = groups;
  t->iparams[HB_NORM_SILU] = silu ? 1 : 0;
  t->fparams[HB_NORM_EPS] = eps;
  set_name (t, "group_norm", NULL);
  return t;
}

HbTensor *
hb_layer_norm (HbGraph *g, HbTensor *x, HbTensor *gamma, HbTensor *beta, float eps)
{
  HbTensor *t;

  fits (g, hb_tensor_nelements (gamma) == last_dim (x), x, gamma,
        "it has %" PRId64 " values for %" PRId64 " features", hb_tensor_nelements (gamma), last_dim (x));
  fits (g, hb_tensor_nelements (beta) == last_dim (x), x, beta,
        "it has %" PRId64 " values for %" PRId64 " features", hb_tensor_nelements (beta), last_dim (x));
  t = new_like (g, HB_OP_LAYER_NORM, x);
  t->src[0] = x;
  t->src[1] = gamma;
  t->src[2] = beta;
  t->fparams[HB_NORM_EPS] = eps;
  set_name (t, "layer_norm", NULL);
  return t;
}

HbTensor *
hb_attention (HbGraph *g, HbTensor *q, HbTensor *k, HbTensor *v,
              int heads, float scale, gboolean causal)
{
  int64_t shape[3];
  HbTensor *t;

  g_return_val_if_fail (q->ndim == 3 && k->ndim == 3 && v->ndim == 3, NULL);
  g_return_val_if_fail (q->shape[0] == k->shape[0] && k->shape[0] == v->shape[0], NULL);
  g_return_val_if_fail (k->shape[1] == v->shape[1], NULL);
  g_return_val_if_fail (heads > 0, NULL);
  g_return_val_if_fail (!causal || q->shape[1] == k->shape[1], NULL);
  fits (g, q->shape[2] == k->shape[2] && k->shape[2] == v->shape[2], k, width_source (q),
        "attention queries have %" PRId64 " features but keys %" PRId64 " and values %" PRId64,
        q->shape[2], k->shape[2], v->shape[2]);
  fits (g, q->shape[2] % heads == 0, q, width_source (q),
        "%" PRId64 " features cannot be split into %d attention heads", q->shape[2], heads);
  shape[0] = q->shape[0];
  shape[1] = q->shape[1];
  shape[2] = q->shape[2];
  t = new_node (g, HB_OP_ATTENTION, HB_DTYPE_F32, 3, shape);
  t->src[0] = q;
  t->src[1] = k;
  t->src[2] = v;
  t->iparams[HB_ATTN_HEADS] = heads;
  t->iparams[HB_ATTN_CAUSAL] = causal ? 1 : 0;
  t->fparams[HB_ATTN_SCALE] = scale;
  set_name (t, "attention", NULL);
  return t;
}

HbTensor *
hb_unary (HbGraph *g, HbOpType op, HbTensor *x)
{
  HbTensor *t;

  g_return_val_if_fail (op == HB_OP_GELU || op == HB_OP_QUICK_GELU || op == HB_OP_SILU, NULL);
  t = new_like (g, op, x);
  t->src[0] = x;
  set_name (t, hb_op_name (op), NULL);
  return t;
}

HbTensor *
hb_geglu (HbGraph *g, HbTensor *x)
{
  int64_t shape[HB_MAX_DIMS];
  HbTensor *t;

  fits (g, last_dim (x) % 2 == 0, x, width_source (x),
        "GEGLU needs an even number of features, not %" PRId64, last_dim (x));
  memcpy (shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = MAX (shape[x->ndim - 1] / 2, 1);
  t = new_node (g, HB_OP_GEGLU, HB_DTYPE_F32, x->ndim, shape);
  t->src[0] = x;
  set_name (t, "geglu", NULL);
  return t;
}

static gboolean
broadcastable (const HbTensor *a, const HbTensor *b)
{
  if (b->ndim > a->ndim)
    return FALSE;
  for (int i = 0; i < b->ndim; i++)
    {
      int64_t db = b->shape[b->ndim - 1 - i];
      int64_t da = a->shape[a->ndim - 1 - i];
      if (db != da && db != 1)
        return FALSE;
    }
  return TRUE;
}

static HbTensor *
binary (HbGraph *g, HbOpType op, HbTensor *a, HbTensor *b)
{
  HbTensor *t;

  if (!broadcastable (a, b))
    {
      g_autofree char *as = shape_string (a);
      g_autofree char *bs = shape_string (b);
      const HbTensor *wa = width_source (a), *wb = width_source (b);

      fits (g, FALSE, NULL, NULL, "%s of %s and %s: the shapes do not fit (from “%s” and “%s”)",
            hb_op_name (op), as, bs, wa ? wa->name : "an input", wb ? wb->name : "an input");
    }
  t = new_like (g, op, a);
  t->src[0] = a;
  t->src[1] = b;
  set_name (t, hb_op_name (op), NULL);
  return t;
}

HbTensor *
hb_add (HbGraph *g, HbTensor *a, HbTensor *b)
{
  return binary (g, HB_OP_ADD, a, b);
}

HbTensor *
hb_mul (HbGraph *g, HbTensor *a, HbTensor *b)
{
  return binary (g, HB_OP_MUL, a, b);
}

HbTensor *
hb_upsample_nearest2x (HbGraph *g, HbTensor *x)
{
  int64_t shape[4];
  HbTensor *t;

  g_return_val_if_fail (x->ndim == 4, NULL);
  shape[0] = x->shape[0];
  shape[1] = x->shape[1] * 2;
  shape[2] = x->shape[2] * 2;
  shape[3] = x->shape[3];
  t = new_node (g, HB_OP_UPSAMPLE_NEAREST2X, HB_DTYPE_F32, 4, shape);
  t->src[0] = x;
  set_name (t, "upsample", NULL);
  return t;
}

HbTensor *
hb_concat (HbGraph *g, HbTensor *a, HbTensor *b)
{
  int64_t shape[HB_MAX_DIMS];
  HbTensor *t;

  g_return_val_if_fail (a->ndim == b->ndim, NULL);
  for (int i = 0; i < a->ndim - 1; i++)
    if (a->shape[i] != b->shape[i])
      {
        g_autofree char *as = shape_string (a);
        g_autofree char *bs = shape_string (b);
        const HbTensor *wa = width_source (a), *wb = width_source (b);

        fits (g, FALSE, NULL, NULL, "concat of %s and %s: the shapes do not fit (from “%s” and “%s”)",
              as, bs, wa ? wa->name : "an input", wb ? wb->name : "an input");
        break;
      }
  memcpy (shape, a->shape, sizeof shape);
  shape[a->ndim - 1] += last_dim (b);
  t = new_node (g, HB_OP_CONCAT, HB_DTYPE_F32, a->ndim, shape);
  t->src[0] = a;
  t->src[1] = b;
  set_name (t, "concat", NULL);
  return t;
}

HbTensor *
hb_timestep_embed (HbGraph *g, HbTensor *tsteps, int dim, float max_period)
{
  int64_t shape[2] = { hb_tensor_nelements (tsteps), dim };
  HbTensor *t;

  g_return_val_if_fail (dim % 2 == 0, NULL);
  t = new_node (g, HB_OP_TIMESTEP_EMBED, HB_DTYPE_F32, 2, shape);
  t->src[0] = tsteps;
  t->iparams[HB_TEMB_DIM] = dim;
  t->fparams[HB_TEMB_MAX_PERIOD] = max_period;
  set_name (t, "timestep_embed", NULL);
  return t;
}

HbTensor *
hb_softmax (HbGraph *g, HbTensor *x)
{
  HbTensor *t = new_like (g, HB_OP_SOFTMAX, x);

  t->src[0] = x;
  set_name (t, "softmax", NULL);
  return t;
}

HbTensor *
hb_scale (HbGraph *g, HbTensor *x, float mul, float add, float lo, float hi)
{
  HbTensor *t = new_like (g, HB_OP_SCALE, x);

  t->src[0] = x;
  t->fparams[HB_SCALE_MUL] = mul;
  t->fparams[HB_SCALE_ADD] = add;
  t->fparams[HB_SCALE_LO] = lo;
  t->fparams[HB_SCALE_HI] = hi;
  set_name (t, "scale", NULL);
  return t;
}

HbTensor *
hb_get_rows (HbGraph *g, HbTensor *table, HbTensor *ids)
{
  int64_t shape[2] = { hb_tensor_nelements (ids), last_dim (table) };
  HbTensor *t;

  g_return_val_if_fail (ids->dtype == HB_DTYPE_I32, NULL);
  fits (g, table->ndim == 2, NULL, table, "an embedding table must have two dimensions");
  t = new_node (g, HB_OP_GET_ROWS, HB_DTYPE_F32, 2, shape);
  t->src[0] = table;
  t->src[1] = ids;
  set_name (t, "get_rows", NULL);
  return t;
}

HbTensor *
hb_latent_rgb (HbGraph *g, HbTensor *latent, const float matrix[12], const float bias[3])
{
  HbTensor *t;

  g_return_val_if_fail (latent->ndim == 4 && latent->shape[3] == 4, NULL);
  t = new_node (g, HB_OP_LATENT_RGB, HB_DTYPE_U8X4, 3, latent->shape);
  t->src[0] = latent;
  memcpy (t->fparams, matrix, 12 * sizeof (float));
  memcpy (t->fparams + 12, bias, 3 * sizeof (float));
  set_name (t, "latent_rgb", NULL);
  return t;
}

const char *
hb_op_name (HbOpType op)
{
  static const char *names[HB_N_OPS] = {
    [HB_OP_NONE] = "leaf",
    [HB_OP_VIEW] = "view",
    [HB_OP_COPY] = "copy",
    [HB_OP_MATMUL] = "matmul",
    [HB_OP_CONV2D] = "conv2d",
    [HB_OP_GROUP_NORM] = "group_norm",
    [HB_OP_LAYER_NORM] = "layer_norm",
    [HB_OP_ATTENTION] = "attention",
    [HB_OP_GELU] = "gelu",
    [HB_OP_QUICK_GELU] = "quick_gelu",
    [HB_OP_SILU] = "silu",
    [HB_OP_GEGLU] = "geglu",
    [HB_OP_ADD] = "add",
    [HB_OP_MUL] = "mul",
    [HB_OP_UPSAMPLE_NEAREST2X] = "upsample_nearest2x",
    [HB_OP_CONCAT] = "concat",
    [HB_OP_TIMESTEP_EMBED] = "timestep_embed",
    [HB_OP_SOFTMAX] = "softmax",
    [HB_OP_SCALE] = "scale",
    [HB_OP_GET_ROWS] = "get_rows",
    [HB_OP_LATENT_RGB] = "latent_rgb",
  };

  g_return_val_if_fail (op < HB_N_OPS, "?");
  return names[op];
}

double
hb_tensor_flops (const HbTensor *t)
{
  double n = (double) hb_tensor_nelements (t);

  switch (t->op)
    {
    case HB_OP_MATMUL:
      return 2.0 * n * (double) last_dim (t->src[0]);
    case HB_OP_CONV2D:
      return 2.0 * n * (double) (t->src[1]->shape[1] * t->src[1]->shape[2] * t->src[1]->shape[3]);
    case HB_OP_ATTENTION:
      /* QK^T and PV: 2 * 2 * Lq * Lk * (H*D) per batch */
      return 4.0 * n * (double) t->src[1]->shape[1];
    case HB_OP_NONE:
    case HB_OP_VIEW:
      return 0.0;
    case HB_OP_COPY:
    case HB_OP_GROUP_NORM:
    case HB_OP_LAYER_NORM:
    case HB_OP_GELU:
    case HB_OP_QUICK_GELU:
    case HB_OP_SILU:
    case HB_OP_GEGLU:
    case HB_OP_ADD:
    case HB_OP_MUL:
    case HB_OP_UPSAMPLE_NEAREST2X:
    case HB_OP_CONCAT:
    case HB_OP_TIMESTEP_EMBED:
    case HB_OP_SOFTMAX:
    case HB_OP_SCALE:
    case HB_OP_GET_ROWS:
    case HB_OP_LATENT_RGB:
    case HB_N_OPS:
    default:
      return n;
    }
}

/* IEEE half conversion with round-to-nearest-even, as the GPU does. */
uint16_t
hb_f32_to_f16 (float f)
{
  union { float f; uint32_t u; } v = { f };
  uint32_t x = v.u;
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = (int32_t) ((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;

  if (((x >> 23) & 0xff) == 0xff)
    return (uint16_t) (sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31)
    return (uint16_t) (sign | 0x7c00u);
  if (exp <= 0)
    {
      uint32_t shift;
      uint32_t m, r;

      if (exp < -10)
        return (uint16_t) sign;
      m = mant | 0x800000u;
      shift = (uint32_t) (14 - exp);
      r = m >> shift;
      if ((m >> (shift - 1)) & 1u && ((m & ((1u << (shift - 1)) - 1)) || (r & 1u)))
        r++;
      return (uint16_t) (sign | r);
    }
  {
    uint32_t h = sign | ((uint32_t) exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
      h++;
    return (uint16_t) h;
  }
}

float
hb_f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  union { uint32_t u; float f; } v;

  if (exp == 0)
    {
      float m = ldexpf ((float) mant, -24);
      return sign ? -m : m;
    }
  if (exp == 31)
    v.u = sign | 0x7f800000u | (mant << 13);
  else
    v.u = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  return v.f;
}
