/* hb-cli-bench-ops.c — huabu-cli bench-ops: kernel speed on SD 1.5 shapes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each kernel runs alone in a one-node graph on the Vulkan backend with GPU
 * timestamps; the table shows the median of several runs, as GFLOP/s for
 * compute-bound kernels and GB/s for memory-bound ones. On a CPU-type
 * device, OpenBLAS sgemm on the same matmul shapes (2 threads, the cores
 * lavapipe uses here) stands beside it as the practical limit of the CPU;
 * for a 3x3 conv, on the GEMM it amounts to after im2col.
 */

#include "config.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "hb-cli-commands.h"
#include "hb-vulkan.h"

typedef enum {
  BENCH_LINEAR,
  BENCH_CONV3X3,
  BENCH_ATTENTION,
  BENCH_GROUP_NORM,
  BENCH_LAYER_NORM,
  BENCH_GEGLU,
  BENCH_SILU,
  BENCH_ADD,
  BENCH_UPSAMPLE,
  BENCH_CONCAT,
} BenchKind;

typedef struct {
  BenchKind   kind;
  const char *label;
  int64_t     d[4];   /* linear: M K N; conv: H W Cin Cout; attention: Lq Lk heads D;
                       * layer norm, GEGLU: rows C (GEGLU: C outputs from 2C inputs);
                       * others: H W C */
} BenchSpec;

static const BenchSpec benches[] = {
  { BENCH_LINEAR,     "linear 4096x320x320",        { 4096, 320, 320 } },
  { BENCH_LINEAR,     "linear 1024x640x2560",       { 1024, 640, 2560 } },
  { BENCH_CONV3X3,    "conv3x3 320->320 @64x64",    { 64, 64, 320, 320 } },
  { BENCH_CONV3X3,    "conv3x3 640->640 @32x32",    { 32, 32, 640, 640 } },
  /* the decoder of the built-in model (huabu-shapes), 128x128 images */
  { BENCH_CONV3X3,    "conv3x3 32->32 @128x128",    { 128, 128, 32, 32 } },
  { BENCH_CONV3X3,    "conv3x3 64->64 @64x64",      { 64, 64, 64, 64 } },
  { BENCH_CONV3X3,    "conv3x3 64->32 @64x64",      { 64, 64, 64, 32 } },
  { BENCH_CONV3X3,    "conv3x3 64->64 @32x32",      { 32, 32, 64, 64 } },
  { BENCH_CONV3X3,    "conv3x3 32->3 @128x128",     { 128, 128, 32, 3 } },
  { BENCH_ATTENTION,  "attention 4096q 77k 8x40",   { 4096, 77, 8, 40 } },
  { BENCH_ATTENTION,  "attention 4096q 4096k 8x40", { 4096, 4096, 8, 40 } },
  { BENCH_ATTENTION,  "attention 1024q 1024k 8x80", { 1024, 1024, 8, 80 } },
  { BENCH_ATTENTION,  "attention 256q 256k 8x160",  { 256, 256, 8, 160 } },
  { BENCH_GROUP_NORM, "group_norm+silu 64x64x320",  { 64, 64, 320 } },
  { BENCH_LAYER_NORM, "layer_norm 4096x320",        { 4096, 320 } },
  { BENCH_GEGLU,      "geglu 4096x2560->1280",      { 4096, 1280 } },
  { BENCH_SILU,       "silu 64x64x320",             { 64, 64, 320 } },
  { BENCH_ADD,        "add 64x64x320",              { 64, 64, 320 } },
  { BENCH_UPSAMPLE,   "upsample2x 32x32x640",       { 32, 32, 640 } },
  { BENCH_CONCAT,     "concat 64x64x(320+320)",     { 64, 64, 320 } },
};

/* Host buffers of the weights and inputs of one benchmark graph; weights
 * must outlive the backend's use of them. */
typedef struct {
  HbGraph   *graph;
  HbTensor  *node;
  GPtrArray *inputs;
  GPtrArray *buffers;
} BenchGraph;

static void
bench_graph_clear (BenchGraph *bg)
{
  g_clear_pointer (&bg->graph, hb_graph_free);
  g_clear_pointer (&bg->inputs, g_ptr_array_unref);
  g_clear_pointer (&bg->buffers, g_ptr_array_unref);
}

static gpointer
random_data (BenchGraph *bg, HbDType dtype, int64_t n, GRand *rand)
{
  gpointer data = g_malloc ((gsize) n * hb_dtype_size (dtype));

  for (int64_t i = 0; i < n; i++)
    {
      float v = (float) g_rand_double_range (rand, -1.0, 1.0);

      if (dtype == HB_DTYPE_F16)
        ((uint16_t *) data)[i] = hb_f32_to_f16 (v);
      else
        ((float *) data)[i] = v;
    }
  g_ptr_array_add (bg->buffers, data);
  return data;
}

static HbTensor *
weight (BenchGraph *bg, const char *name, int ndim, const int64_t *shape, GRand *rand)
{
  int64_t n = 1;

  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  return hb_graph_weight (bg->graph, name, HB_DTYPE_F16, ndim, shape,
                          random_data (bg, HB_DTYPE_F16, n, rand));
}

static HbTensor *
input (BenchGraph *bg, const char *name, int ndim, const int64_t *shape)
{
  HbTensor *t = hb_graph_input (bg->graph, name, HB_DTYPE_F32, ndim, shape);

  g_ptr_array_add (bg->inputs, t);
  return t;
}

/* Builds the graph of one benchmark: SD 1.5 weights are fp16. */
static void
bench_graph_init (BenchGraph *bg, const BenchSpec *s, GRand *rand)
{
  const int64_t *d = s->d;

  bg->graph = hb_graph_new ();
  bg->inputs = g_ptr_array_new ();
  bg->buffers = g_ptr_array_new_with_free_func (g_free);

  switch (s->kind)
    {
    case BENCH_LINEAR:
      {
        int64_t xs[2] = { d[0], d[1] }, ws[2] = { d[2], d[1] };
        HbTensor *x = input (bg, "x", 2, xs);

        bg->node = hb_linear (bg->graph, x, weight (bg, "w", 2, ws, rand),
                              weight (bg, "b", 1, &d[2], rand));
        break;
      }
    case BENCH_CONV3X3:
      {
        int64_t xs[4] = { 1, d[0], d[1], d[2] }, ws[4] = { d[3], 3, 3, d[2] };
        HbTensor *x = input (bg, "x", 4, xs);

        bg->node = hb_conv2d (bg->graph, x, weight (bg, "w", 4, ws, rand),
                              weight (bg, "b", 1, &d[3], rand), 1, 1, NULL);
        break;
      }
    case BENCH_ATTENTION:
      {
        int64_t qs[3] = { 1, d[0], d[2] * d[3] }, ks[3] = { 1, d[1], d[2] * d[3] };
        HbTensor *q = input (bg, "q", 3, qs);
        HbTensor *k = input (bg, "k", 3, ks);
        HbTensor *v = input (bg, "v", 3, ks);

        bg->node = hb_attention (bg->graph, q, k, v, (int) d[2], 1.0f / sqrtf ((float) d[3]),
                                 FALSE);
        break;
      }
    case BENCH_GROUP_NORM:
      {
        int64_t xs[4] = { 1, d[0], d[1], d[2] };
        HbTensor *x = input (bg, "x", 4, xs);

        bg->node = hb_group_norm (bg->graph, x, weight (bg, "gamma", 1, &d[2], rand),
                                  weight (bg, "beta", 1, &d[2], rand), 32, 1e-5f, TRUE);
        break;
      }
    case BENCH_LAYER_NORM:
      {
        int64_t xs[3] = { 1, d[0], d[1] };
        HbTensor *x = input (bg, "x", 3, xs);

        bg->node = hb_layer_norm (bg->graph, x, weight (bg, "gamma", 1, &d[1], rand),
                                  weight (bg, "beta", 1, &d[1], rand), 1e-5f);
        break;
      }
    case BENCH_GEGLU:
      {
        int64_t xs[3] = { 1, d[0], 2 * d[1] };

        bg->node = hb_geglu (bg->graph, input (bg, "x", 3, xs));
        break;
      }
    case BENCH_SILU:
      {
        int64_t xs[4] = { 1, d[0], d[1], d[2] };

        bg->node = hb_unary (bg->graph, HB_OP_SILU, input (bg, "x", 4, xs));
        break;
      }
    case BENCH_UPSAMPLE:
      {
        int64_t xs[4] = { 1, d[0], d[1], d[2] };

        bg->node = hb_upsample_nearest2x (bg->graph, input (bg, "x", 4, xs));
        break;
      }
    case BENCH_CONCAT:
      {
        int64_t xs[4] = { 1, d[0], d[1], d[2] };
        HbTensor *a = input (bg, "a", 4, xs);
        HbTensor *b = input (bg, "b", 4, xs);

        bg->node = hb_concat (bg->graph, a, b);
        break;
      }
    case BENCH_ADD:
    default:
      {
        int64_t xs[4] = { 1, d[0], d[1], d[2] };
        HbTensor *a = input (bg, "a", 4, xs);
        HbTensor *b = input (bg, "b", 4, xs);

        bg->node = hb_add (bg->graph, a, b);
        break;
      }
    }
  hb_graph_mark_output (bg->graph, bg->node);
}

/* Bytes a memory-bound kernel must move at least: its fp32 inputs read
 * once and its output written once (group norm reads its input twice, but
 * only the minimum is counted). */
static double
bench_bytes (const BenchGraph *bg)
{
  double n = (double) hb_tensor_nelements (bg->node) * 4.0;

  for (guint i = 0; i < bg->inputs->len; i++)
    n += (double) hb_tensor_nelements (g_ptr_array_index (bg->inputs, i)) * 4.0;
  return n;
}

static gboolean
is_memory_bound (BenchKind kind)
{
  return kind != BENCH_LINEAR && kind != BENCH_CONV3X3 && kind != BENCH_ATTENTION;
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof *v, (GCompareFunc) cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* GPU time of bg's node in the last compute(), in ms. */
static gboolean
node_ms (HbBackend *be, const BenchGraph *bg, double *ms, GError **error)
{
  g_autoptr(GArray) timings = hb_backend_vk_get_timings (be);

  if (timings != NULL)
    for (guint i = 0; i < timings->len; i++)
      {
        const HbOpTiming *t = &g_array_index (timings, HbOpTiming, i);

        if (t->op == bg->node->op)
          {
            *ms = t->ms;
            return TRUE;
          }
      }
  g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_DEVICE,
               "The device gave no timestamps for %s; it cannot be benchmarked.",
               hb_op_name (bg->node->op));
  return FALSE;
}

/* Median GPU milliseconds of `runs` runs after one warm-up run (which
 * compiles the pipelines). */
static gboolean
time_bench (HbBackend *be, const BenchSpec *s, int runs, BenchGraph *bg, double *ms,
            GError **error)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (1);
  g_autofree double *samples = g_new (double, runs);

  bench_graph_init (bg, s, rand);
  if (!hb_backend_prepare (be, bg->graph, error))
    return FALSE;
  for (guint i = 0; i < bg->inputs->len; i++)
    {
      HbTensor *t = g_ptr_array_index (bg->inputs, i);
      int64_t n = hb_tensor_nelements (t);
      gpointer data = random_data (bg, HB_DTYPE_F32, n, rand);

      if (!hb_backend_set_input (be, t, data, (gsize) n * 4, error))
        return FALSE;
    }
  for (int r = -1; r < runs; r++)
    {
      if (!hb_backend_compute (be, bg->graph, error))
        return FALSE;
      if (r >= 0 && !node_ms (be, bg, &samples[r], error))
        return FALSE;
    }
  hb_backend_release (be, bg->graph);
  *ms = median (samples, runs);
  return TRUE;
}

#if HAVE_OPENBLAS
/* OpenBLAS GFLOP/s on the matmul of a linear benchmark, or on the GEMM a
 * 3x3 conv amounts to after im2col (M = H·W, K = 9·Cin, N = Cout; the
 * im2col itself is not timed, so this is the most OpenBLAS could do),
 * median of runs. */
static double
openblas_gflops (const BenchSpec *s, int runs)
{
  gboolean conv = s->kind == BENCH_CONV3X3;
  int M = (int) (conv ? s->d[0] * s->d[1] : s->d[0]);
  int K = (int) (conv ? 9 * s->d[2] : s->d[1]);
  int N = (int) (conv ? s->d[3] : s->d[2]);
  g_autofree float *a = g_new (float, (gsize) M * K);
  g_autofree float *b = g_new (float, (gsize) N * K);
  g_autofree float *c = g_new0 (float, (gsize) M * N);
  g_autofree double *samples = g_new (double, runs);

  for (gsize i = 0; i < (gsize) M * K; i++)
    a[i] = (float) (i % 7) * 0.1f;
  for (gsize i = 0; i < (gsize) N * K; i++)
    b[i] = (float) (i % 5) * 0.1f;
  openblas_set_num_threads (2);
  for (int r = -1; r < runs; r++)
    {
      gint64 t0 = g_get_monotonic_time ();

      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f,
                   c, N);
      if (r >= 0)
        samples[r] = (double) (g_get_monotonic_time () - t0) / 1000.0;
    }
  return 2.0 * M * N * K / (median (samples, runs) * 1e6);
}
#endif

int
hb_cli_bench_ops (int argc, char **argv)
{
  g_autofree char *device = NULL;
  g_autofree char *only = NULL;
  int runs = 5;
  GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device,
      "The Vulkan device: an index or part of its name (default: the best one)", "DEVICE" },
    { "runs", 'n', 0, G_OPTION_ARG_INT, &runs, "Timed runs per kernel; the median is shown (5)",
      "N" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only, "Run only kernels whose label contains TEXT",
      "TEXT" },
    { NULL }
  };
  g_autoptr(GOptionContext) octx = g_option_context_new ("— time each kernel on SD 1.5 shapes");
  g_autoptr(GError) error = NULL;
  g_autoptr(HbVulkanDevice) dev = NULL;
  g_autoptr(HbBackend) be = NULL;
  const HbVkDeviceInfo *info;
  gboolean cpu_device;
  const char *family;

  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error))
    {
      fprintf (stderr, "huabu-cli bench-ops: %s\n", error->message);
      return 2;
    }
  if (runs < 1 || runs > 1000)
    {
      fprintf (stderr, "huabu-cli bench-ops: --runs must be between 1 and 1000.\n");
      return 2;
    }

  dev = hb_vulkan_device_new (device, &error);
  if (dev == NULL || (be = hb_backend_vulkan_new (dev, &error)) == NULL)
    {
      fprintf (stderr, "huabu-cli bench-ops: %s\n", error->message);
      return 1;
    }
  info = hb_vulkan_device_info (dev);
  if (!info->has_timestamps)
    {
      fprintf (stderr, "huabu-cli bench-ops: %s cannot time its work (no timestamp queries), "
               "so it cannot be benchmarked.\n", info->name);
      return 1;
    }
  hb_backend_vk_set_profiling (be, TRUE);
  cpu_device = hb_vk_device_info_is_cpu (info);
  family = g_getenv ("HUABU_KERNELS");
  if (family == NULL || *family == '\0')
    family = cpu_device ? "cpu" : "gpu";

  printf ("Device: %s (%s, %s); kernels: %s family; median of %d runs\n\n", info->name,
          hb_vk_device_type_name (info->type), info->driver_name, family, runs);
  printf ("%-28s %10s %15s", "kernel", "ms", "rate");
#if HAVE_OPENBLAS
  if (cpu_device)
    printf (" %21s", "OpenBLAS sgemm, 2 thr");
#endif
  printf ("\n");

  for (gsize i = 0; i < G_N_ELEMENTS (benches); i++)
    {
      const BenchSpec *s = &benches[i];
      BenchGraph bg = { 0 };
      double ms;

      if (only != NULL && strstr (s->label, only) == NULL)
        continue;
      if (!time_bench (be, s, runs, &bg, &ms, &error))
        {
          fprintf (stderr, "huabu-cli bench-ops: %s: %s\n", s->label, error->message);
          bench_graph_clear (&bg);
          return 1;
        }
      if (is_memory_bound (s->kind))
        printf ("%-28s %10.3f %10.1f GB/s", s->label, ms, bench_bytes (&bg) / (ms * 1e6));
      else
        printf ("%-28s %10.3f %7.1f GFLOP/s", s->label, ms,
                hb_tensor_flops (bg.node) / (ms * 1e6));
#if HAVE_OPENBLAS
      if (cpu_device && (s->kind == BENCH_LINEAR || s->kind == BENCH_CONV3X3))
        printf (" %13.1f GFLOP/s", openblas_gflops (s, runs));
#endif
      printf ("\n");
      fflush (stdout);
      bench_graph_clear (&bg);
    }
  return 0;
}
