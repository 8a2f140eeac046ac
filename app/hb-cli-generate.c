/* hb-cli-generate.c — huabu-cli generate, info and bench
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <json-glib/json-glib.h>

#include "huabu-engine.h"
#include "hb-cli-commands.h"
#include "hb-history-store.h"
#include "hb-params.h"
#include "hb-png.h"

static gboolean
parse_size (const char *s, int *w, int *h)
{
  char *end;

  *w = (int) g_ascii_strtoll (s, &end, 10);
  if (*end != 'x' && *end != 'X')
    return FALSE;
  *h = (int) g_ascii_strtoll (end + 1, &end, 10);
  return *end == '\0' && *w > 0 && *h > 0;
}

static void
print_error (const char *what, const GError *error)
{
  fprintf (stderr, "huabu-cli %s: %s\n", what, error->message);
}

/* Parses the options every model command shares; argv is consumed. */
static GOptionContext *
new_context (const char *summary, GOptionEntry *entries)
{
  GOptionContext *ctx = g_option_context_new (NULL);

  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, entries, NULL);
  return ctx;
}

static HbModel *
open_model (HbEngine *engine, const char *path, GError **error)
{
  g_autofree char *fallback = NULL;

  if (path == NULL)
    path = fallback = hb_default_model_path ();
  return hb_model_load (engine, path, error);
}

typedef struct {
  char   *preview_dir;
  gint64  started;
  int     last;
} CliProgress;

static gboolean
on_progress (int step, int n_steps, float sigma, const HbImage *preview, gpointer user_data)
{
  CliProgress *p = user_data;

  fprintf (stderr, "\rstep %d/%d  sigma %.3f  %.1f s", step, n_steps, sigma,
           (g_get_monotonic_time () - p->started) / 1e6);
  if (p->preview_dir != NULL)
    {
      g_autofree char *name = g_strdup_printf ("step-%03d.png", step);
      g_autofree char *path = g_build_filename (p->preview_dir, name, NULL);
      g_autoptr(GError) error = NULL;

      if (!hb_png_save (path, preview, NULL, 0, &error))
        fprintf (stderr, "\nhuabu-cli generate: cannot write a preview: %s\n", error->message);
    }
  p->last = step;
  return TRUE;
}

static void
print_log (const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
  fprintf (stderr, "%s\n", message);
}

/* Runs one generation and writes its PNG to `out` (huabu-<seed>.png when
 * NULL), with the parameters chunks; records it in the history when asked.
 * Says what went wrong on stderr and returns FALSE on failure. */
static gboolean
generate_one (HbEngine                 *engine,
              HbModel                  *model,
              const HbGenerateParams   *params,
              const char               *preview_dir,
              const char               *out,
              gboolean                  record_history,
              gboolean                  verbose)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbImage) image = NULL;
  g_autoptr(HbGenerationRecord) record = NULL;
  g_autofree char *parameters = NULL, *json = NULL, *fallback = NULL;
  CliProgress progress = { 0 };
  HbGenerateTimings tm;

  progress.preview_dir = (char *) preview_dir;
  progress.started = g_get_monotonic_time ();
  image = hb_engine_generate (engine, model, params, on_progress, &progress, NULL, &error);
  fprintf (stderr, "\n");
  if (image == NULL)
    {
      print_error ("generate", error);
      return FALSE;
    }
  hb_engine_get_timings (engine, &tm);

  record = hb_generation_record_new_from_params (params, hb_model_get_name (model),
                                                 hb_model_get_hash (model));
  record->duration_s = tm.total_ms / 1000.0;
  parameters = hb_generation_record_to_parameters (record);
  json = hb_generation_record_to_json (record);
  if (out == NULL)
    out = fallback = g_strdup_printf ("huabu-%" G_GUINT64_FORMAT ".png", params->seed);
  {
    HbPngText texts[2] = { { "parameters", parameters }, { "huabu", json } };
    if (!hb_png_save (out, image, texts, 2, &error))
      {
        print_error ("generate", error);
        return FALSE;
      }
  }
  printf ("%s\n", out);
  if (verbose)
    fprintf (stderr, "%s\n", parameters);
  fprintf (stderr, "%.1f s on %s (text %.0f ms, %d steps %.0f ms, decode %.0f ms)\n",
           tm.total_ms / 1000.0, hb_engine_device_name (engine),
           tm.text_ms, tm.steps_run, tm.sample_ms, tm.decode_ms);

  if (record_history)
    {
      g_autoptr(HbHistoryStore) store = hb_history_store_open (NULL, &error);
      if (store == NULL || hb_history_store_add (store, record, image, params->init,
                                                 params->mask, &error) == 0)
        {
          fprintf (stderr, "huabu-cli generate: the picture is saved as %s but could not be added "
                   "to the history: %s\n", out, error->message);
          return FALSE;
        }
    }
  return TRUE;
}

static const char *
member_string (JsonObject *o, const char *name, const char *fallback)
{
  JsonNode *n = json_object_get_member (o, name);

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
         ? json_node_get_string (n) : fallback;
}

/* Generates every entry of a JSON batch file into out_dir/NNNN.png: either
 * a list or an object with a "prompts" list (as data/models/heldout.json),
 * each entry an object with "prompt" and optional "negative", "seed",
 * "init" (a PNG, relative to the batch file) and "strength"; other
 * members are ignored. One engine and one model serve the whole batch. */
static int
generate_batch (HbEngine               *engine,
                HbModel                *model,
                const HbGenerateParams *defaults,
                const char             *batch,
                const char             *out_dir,
                gboolean                record_history)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *base = g_path_get_dirname (batch);
  JsonNode *root;
  JsonArray *entries = NULL;
  guint failed = 0, n;

  if (!json_parser_load_from_file (parser, batch, &error))
    {
      fprintf (stderr, "huabu-cli generate: cannot read the batch file %s: %s\n", batch, error->message);
      return 1;
    }
  root = json_parser_get_root (parser);
  if (JSON_NODE_HOLDS_ARRAY (root))
    entries = json_node_get_array (root);
  else if (JSON_NODE_HOLDS_OBJECT (root) && json_object_has_member (json_node_get_object (root), "prompts"))
    entries = json_object_get_array_member (json_node_get_object (root), "prompts");
  if (entries == NULL)
    {
      fprintf (stderr, "huabu-cli generate: the batch file %s holds neither a list nor an object "
               "with a \"prompts\" list; see huabu-cli generate --help.\n", batch);
      return 1;
    }
  if (out_dir == NULL)
    out_dir = ".";
  if (g_mkdir_with_parents (out_dir, 0755) != 0)
    {
      fprintf (stderr, "huabu-cli generate: cannot create “%s”: %s\n", out_dir, g_strerror (errno));
      return 1;
    }

  n = json_array_get_length (entries);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (entries, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      HbGenerateParams params = *defaults;
      g_autoptr(HbImage) init = NULL;
      g_autofree char *name = g_strdup_printf ("%04u.png", i);
      g_autofree char *out = g_build_filename (out_dir, name, NULL);
      const char *init_path;

      if (o == NULL || member_string (o, "prompt", NULL) == NULL)
        {
          fprintf (stderr, "huabu-cli generate: entry %u of %s has no \"prompt\"; skipped.\n", i, batch);
          failed++;
          continue;
        }
      params.prompt = member_string (o, "prompt", "");
      params.negative_prompt = member_string (o, "negative", defaults->negative_prompt);
      params.seed = json_object_has_member (o, "seed")
                    ? (guint64) json_object_get_int_member (o, "seed") : defaults->seed + i;
      if (json_object_has_member (o, "strength"))
        params.strength = (float) json_object_get_double_member (o, "strength");
      init_path = member_string (o, "init", NULL);
      if (init_path != NULL)
        {
          g_autofree char *path = g_path_is_absolute (init_path)
                                  ? g_strdup (init_path) : g_build_filename (base, init_path, NULL);
          g_autoptr(GError) load_error = NULL;

          init = hb_png_load (path, NULL, &load_error);
          if (init == NULL)
            {
              fprintf (stderr, "huabu-cli generate: entry %u: %s; skipped.\n", i, load_error->message);
              failed++;
              continue;
            }
          params.init = init;
        }
      fprintf (stderr, "[%u/%u] %s\n", i + 1, n, params.prompt);
      if (!generate_one (engine, model, &params, NULL, out, record_history, FALSE))
        failed++;
    }
  fprintf (stderr, "%u of %u pictures written to %s\n", n - failed, n, out_dir);
  return failed == 0 ? 0 : 1;
}

int
hb_cli_generate (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *prompt = NULL, *negative = NULL, *sampler = NULL;
  g_autofree char *scheduler = NULL, *size = NULL, *init_path = NULL, *mask_path = NULL;
  g_autofree char *rng = NULL, *preview_dir = NULL, *out = NULL, *device = NULL;
  g_autofree char *batch = NULL, *out_dir = NULL;
  gint64 seed = -1;
  int steps = 20, clip_skip = 1;
  double cfg = -1.0, strength = 0.75;
  gboolean no_history = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "Checkpoint (.safetensors) or diffusers folder; the built-in model by default", "PATH" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "What to paint", "TEXT" },
    { "negative", 'n', 0, G_OPTION_ARG_STRING, &negative, "What to avoid", "TEXT" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Seed (random when omitted)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Sampling steps (20)", "N" },
    { "cfg", 0, 0, G_OPTION_ARG_DOUBLE, &cfg, "Classifier-free guidance scale (the model's own, else 7)", "X" },
    { "sampler", 0, 0, G_OPTION_ARG_STRING, &sampler, "Euler, \"Euler a\", \"DPM++ 2M\", DDIM, LCM (default: the model's own, else Euler a)", "NAME" },
    { "scheduler", 0, 0, G_OPTION_ARG_STRING, &scheduler, "discrete (default) or karras", "NAME" },
    { "size", 0, 0, G_OPTION_ARG_STRING, &size, "Width x height, multiples of 8 (the model's native size by default)", "WxH" },
    { "init", 0, 0, G_OPTION_ARG_FILENAME, &init_path, "Start from this picture (img2img)", "PNG" },
    { "strength", 0, 0, G_OPTION_ARG_DOUBLE, &strength, "img2img: how much to repaint, 0–1 (0.75)", "X" },
    { "mask", 0, 0, G_OPTION_ARG_FILENAME, &mask_path, "Inpainting mask: white is repainted", "PNG" },
    { "clip-skip", 0, 0, G_OPTION_ARG_INT, &clip_skip, "Text encoder layers to skip at the end (1 = none)", "N" },
    { "rng", 0, 0, G_OPTION_ARG_STRING, &rng, "GPU (PyTorch CUDA Philox, default) or CPU (mt19937)", "NAME" },
    { "preview-dir", 0, 0, G_OPTION_ARG_FILENAME, &preview_dir, "Write each step's preview here", "DIR" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output PNG (huabu-<seed>.png by default)", "PNG" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "Vulkan device: index or part of its name", "DEV" },
    { "no-history", 0, 0, G_OPTION_ARG_NONE, &no_history, "Do not record this picture in the history", NULL },
    { "batch", 0, 0, G_OPTION_ARG_FILENAME, &batch, "Generate every entry of this JSON file (a list of {\"prompt\", \"negative\", \"seed\", \"init\", \"strength\"}) into --out-dir as NNNN.png", "JSON" },
    { "out-dir", 0, 0, G_OPTION_ARG_FILENAME, &out_dir, "Folder for --batch pictures (the current one by default)", "DIR" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = new_context ("Generate a picture from a prompt, or a batch of them.", entries);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbEngine) engine = NULL;
  g_autoptr(HbModel) model = NULL;
  g_autoptr(HbImage) init = NULL, mask = NULL;
  HbGenerateParams params;

  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      print_error ("generate", error);
      return 2;
    }
  g_log_set_handler ("Huabu-Engine", G_LOG_LEVEL_MESSAGE, print_log, NULL);
  hb_generate_params_init (&params);
  params.prompt = prompt ? prompt : "";
  params.negative_prompt = negative ? negative : "";
  params.seed = seed >= 0 ? (guint64) seed : g_random_int ();
  params.steps = steps;
  params.strength = (float) strength;
  params.clip_skip = clip_skip;
  if (sampler && !hb_sampler_from_string (sampler, &params.sampler))
    {
      fprintf (stderr, "huabu-cli generate: unknown sampler “%s”; use Euler, \"Euler a\", \"DPM++ 2M\", DDIM or LCM.\n", sampler);
      return 2;
    }
  if (scheduler && !hb_schedule_from_string (scheduler, &params.schedule))
    {
      fprintf (stderr, "huabu-cli generate: unknown scheduler “%s”; use discrete or karras.\n", scheduler);
      return 2;
    }
  if (rng && !hb_rng_from_string (rng, &params.rng))
    {
      fprintf (stderr, "huabu-cli generate: unknown random generator “%s”; use GPU or CPU.\n", rng);
      return 2;
    }
  if (size && !parse_size (size, &params.width, &params.height))
    {
      fprintf (stderr, "huabu-cli generate: “%s” is not a size; write it as 512x512.\n", size);
      return 2;
    }

  engine = hb_engine_new (device, &error);
  if (engine == NULL)
    {
      print_error ("generate", error);
      return 1;
    }
  model = open_model (engine, model_path, &error);
  if (model == NULL)
    {
      print_error ("generate", error);
      return 1;
    }
  if (cfg < 0)
    cfg = hb_model_get_recommended_cfg (model) > 0 ? hb_model_get_recommended_cfg (model)
                                                   : HB_DEFAULT_CFG;
  if (sampler == NULL)
    hb_model_get_recommended_sampler (model, &params.sampler);
  params.cfg = (float) cfg;
  if (size == NULL)
    hb_model_native_size (model, &params.width, &params.height);
  if (init_path != NULL)
    {
      init = hb_png_load (init_path, NULL, &error);
      if (init == NULL)
        {
          print_error ("generate", error);
          return 1;
        }
      params.init = init;
    }
  if (mask_path != NULL)
    {
      mask = hb_png_load (mask_path, NULL, &error);
      if (mask == NULL)
        {
          print_error ("generate", error);
          return 1;
        }
      params.mask = mask;
    }
  if (preview_dir != NULL && g_mkdir_with_parents (preview_dir, 0755) != 0)
    {
      fprintf (stderr, "huabu-cli generate: cannot create “%s”: %s\n", preview_dir, g_strerror (errno));
      return 1;
    }

  if (batch != NULL)
    return generate_batch (engine, model, &params, batch, out_dir, !no_history);
  return generate_one (engine, model, &params, preview_dir, out, !no_history, TRUE) ? 0 : 1;
}

int
hb_cli_info (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HbEngine) engine = NULL;
  g_autoptr(HbModel) model = NULL;
  g_autofree char *desc = NULL;

  if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
    {
      fprintf (stderr, "Usage: huabu-cli info [MODEL]\nPrints a checkpoint's architecture and parameter counts.\n");
      return 2;
    }
  /* Reading the architecture needs no GPU. */
  engine = hb_engine_new ("reference", &error);
  model = open_model (engine, argc == 2 ? argv[1] : NULL, &error);
  if (model == NULL)
    {
      print_error ("info", error);
      return 1;
    }
  desc = hb_model_describe (model);
  printf ("%sModel hash: %s\n", desc, hb_model_get_hash (model));
  return 0;
}

static double
peak_rss_mib (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

typedef struct {
  const char *op;
  double ms;
  double flops;
  int count;
} OpTotal;

static void
print_nodes (GArray *timings)
{
  printf ("\n  %-4s %-20s %-40s %8s %10s\n", "#", "op", "node", "ms", "GFLOP/s");
  for (guint i = 0; i < timings->len; i++)
    {
      HbOpTiming *t = &g_array_index (timings, HbOpTiming, i);
      printf ("  %-4u %-20s %-40s %8.3f %10.1f\n", i, hb_op_name (t->op), t->name ? t->name : "",
              t->ms, t->ms > 0 ? t->flops / (t->ms * 1e6) : 0.0);
    }
}

static void
print_profile (const char *what, GArray *timings, gboolean nodes)
{
  g_autoptr(GHashTable) totals = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autoptr(GList) values = NULL;
  double all = 0;

  for (guint i = 0; i < timings->len; i++)
    {
      HbOpTiming *t = &g_array_index (timings, HbOpTiming, i);
      const char *op = hb_op_name (t->op);
      OpTotal *ot = g_hash_table_lookup (totals, op);
      if (ot == NULL)
        {
          ot = g_new0 (OpTotal, 1);
          ot->op = op;
          g_hash_table_insert (totals, (gpointer) op, ot);
        }
      ot->ms += t->ms;
      ot->flops += t->flops;
      ot->count++;
      all += t->ms;
    }
  values = g_hash_table_get_values (totals);
  printf ("\nGPU time per op, %s (%u nodes timed):\n", what, timings->len);
  printf ("  %-20s %6s %10s %7s %10s\n", "op", "count", "ms", "share", "GFLOP/s");
  for (GList *l = values; l; l = l->next)
    {
      OpTotal *best = NULL;
      for (GList *k = values; k; k = k->next)
        if (k->data && (best == NULL || ((OpTotal *) k->data)->ms > best->ms))
          best = k->data;
      if (best == NULL)
        break;
      printf ("  %-20s %6d %10.1f %6.1f%% %10.1f\n", best->op, best->count, best->ms,
              all > 0 ? 100.0 * best->ms / all : 0.0,
              best->ms > 0 ? best->flops / (best->ms * 1e6) : 0.0);
      for (GList *k = values; k; k = k->next)
        if (k->data == best)
          k->data = NULL;
    }
  printf ("  %-20s %6s %10.1f\n", "total", "", all);
  if (nodes)
    print_nodes (timings);
}

static int
compare_total (gconstpointer a, gconstpointer b)
{
  double x = ((const HbGenerateTimings *) a)->total_ms, y = ((const HbGenerateTimings *) b)->total_ms;

  return (x > y) - (x < y);
}

int
hb_cli_bench (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *size = NULL, *device = NULL;
  int steps = 3;
  double cfg = 7.0;
  gboolean profile = TRUE, nodes = FALSE;
  int runs = 1;
  g_autoptr(GArray) all = NULL;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "Checkpoint or diffusers folder (built-in model by default)", "PATH" },
    { "size", 0, 0, G_OPTION_ARG_STRING, &size, "Picture size (the model's native size by default)", "WxH" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Sampling steps to time (3)", "N" },
    { "cfg", 0, 0, G_OPTION_ARG_DOUBLE, &cfg, "CFG scale (7: two UNet batches per step)", "X" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "Vulkan device: index or part of its name", "DEV" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Warm generations to time; the median is shown (1)", "N" },
    { "nodes", 0, 0, G_OPTION_ARG_NONE, &nodes, "Also list the GPU time of each node", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = new_context ("Time model loading, the text encoder, a sampling step and the VAE decoder.", entries);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbEngine) engine = NULL;
  g_autoptr(HbModel) model = NULL;
  g_autoptr(HbImage) image = NULL;
  g_autoptr(GArray) prof = NULL;
  HbGenerateParams params;
  HbGenerateTimings first, warm;
  gint64 t0;
  double load_ms;

  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      print_error ("bench", error);
      return 2;
    }
  engine = hb_engine_new (device, &error);
  if (engine == NULL)
    {
      print_error ("bench", error);
      return 1;
    }
  t0 = g_get_monotonic_time ();
  model = open_model (engine, model_path, &error);
  load_ms = (g_get_monotonic_time () - t0) / 1000.0;
  if (model == NULL)
    {
      print_error ("bench", error);
      return 1;
    }
  hb_generate_params_init (&params);
  params.prompt = "a large red circle in the top left on a white background";
  params.negative_prompt = "blurry";
  params.seed = 1;
  params.steps = steps;
  params.cfg = (float) cfg;
  params.sampler = HB_SAMPLER_EULER;
  hb_model_native_size (model, &params.width, &params.height);
  if (size && !parse_size (size, &params.width, &params.height))
    {
      fprintf (stderr, "huabu-cli bench: “%s” is not a size; write it as 512x512.\n", size);
      return 2;
    }

  printf ("device: %s\nmodel: %s, %dx%d, CFG %g, %d steps\n", hb_engine_device_name (engine),
          hb_model_get_name (model), params.width, params.height, cfg, steps);
  /* The first run builds graphs, compiles pipelines and uploads weights. */
  image = hb_engine_generate (engine, model, &params, NULL, NULL, NULL, &error);
  if (image == NULL)
    {
      print_error ("bench", error);
      return 1;
    }
  hb_engine_get_timings (engine, &first);
  /* Warm runs: the one with the median whole-generation time is shown
   * (this kind of shared machine varies by a third from run to run). */
  all = g_array_new (FALSE, FALSE, sizeof (HbGenerateTimings));
  for (int i = 0; i < MAX (runs, 1); i++)
    {
      HbGenerateTimings tm;

      g_clear_pointer (&image, hb_image_free);
      image = hb_engine_generate (engine, model, &params, NULL, NULL, NULL, &error);
      if (image == NULL)
        {
          print_error ("bench", error);
          return 1;
        }
      hb_engine_get_timings (engine, &tm);
      g_array_append_val (all, tm);
    }
  g_array_sort (all, compare_total);
  warm = g_array_index (all, HbGenerateTimings, all->len / 2);

  printf ("model load (map + check)   %10.1f ms\n", load_ms);
  printf ("first run (builds, uploads)%10.1f ms  (text %.0f, sampling %.0f, decode %.0f)\n", first.total_ms, first.text_ms, first.sample_ms, first.decode_ms);
  printf ("text encoder               %10.1f ms\n", warm.text_ms);
  printf ("sampling step              %10.1f ms  (mean of %d)\n", warm.sample_ms / MAX (1, warm.steps_run), warm.steps_run);
  printf ("VAE decode                 %10.1f ms\n", warm.decode_ms);
  printf ("whole generation           %10.1f ms\n", warm.total_ms);
  if (all->len > 1)
    printf ("  (the median of %u warm runs: %.1f to %.1f ms)\n", all->len,
            g_array_index (all, HbGenerateTimings, 0).total_ms,
            g_array_index (all, HbGenerateTimings, all->len - 1).total_ms);
  printf ("peak RSS                   %10.1f MiB\n", peak_rss_mib ());

  if (profile)
    {
      hb_engine_set_profiling (engine, TRUE);
      params.steps = 1;
      g_clear_pointer (&image, hb_image_free);
      /* Profiling applies to graphs prepared afterwards: use a new size key. */
      image = hb_engine_generate (engine, model, &params, NULL, NULL, NULL, &error);
      if (image == NULL)
        {
          print_error ("bench", error);
          return 1;
        }
      prof = hb_engine_get_unet_profile (engine);
      if (prof != NULL)
        print_profile (params.cfg != 1.0f ? "one UNet evaluation (one step: both CFG halves in one batch)"
                                          : "one UNet evaluation (one step)", prof, nodes);
      g_clear_pointer (&prof, g_array_unref);
      prof = hb_engine_get_decode_profile (engine);
      if (prof != NULL)
        print_profile ("VAE decode", prof, nodes);
    }
  return 0;
}
