/* hb-params.c — generation records as "parameters" text, JSON, ComfyUI JSON
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "hb-params.h"

G_DEFINE_BOXED_TYPE (HbGenerationRecord, hb_generation_record,
                     hb_generation_record_copy, hb_generation_record_free)

static void
hb_param_extra_free (gpointer data)
{
  HbParamExtra *extra = data;

  g_free (extra->key);
  g_free (extra->value);
  g_free (extra);
}

HbGenerationRecord *
hb_generation_record_new (void)
{
  HbGenerationRecord *record = g_new0 (HbGenerationRecord, 1);

  record->prompt = g_strdup ("");
  record->negative_prompt = g_strdup ("");
  record->cfg = -1;
  record->strength = -1;
  record->duration_s = -1;
  record->extras = g_ptr_array_new_with_free_func (hb_param_extra_free);
  return record;
}

HbGenerationRecord *
hb_generation_record_copy (const HbGenerationRecord *record)
{
  HbGenerationRecord *copy;

  g_return_val_if_fail (record != NULL, NULL);

  copy = g_new0 (HbGenerationRecord, 1);
  *copy = *record;
  copy->prompt = g_strdup (record->prompt);
  copy->negative_prompt = g_strdup (record->negative_prompt);
  copy->sampler = g_strdup (record->sampler);
  copy->schedule = g_strdup (record->schedule);
  copy->rng = g_strdup (record->rng);
  copy->model_name = g_strdup (record->model_name);
  copy->model_hash = g_strdup (record->model_hash);
  copy->parent_path = g_strdup (record->parent_path);
  copy->sketch_path = g_strdup (record->sketch_path);
  copy->mask_path = g_strdup (record->mask_path);
  copy->image_path = g_strdup (record->image_path);
  copy->extras = g_ptr_array_new_with_free_func (hb_param_extra_free);
  for (guint i = 0; i < record->extras->len; i++)
    {
      const HbParamExtra *extra = g_ptr_array_index (record->extras, i);

      hb_generation_record_set_extra (copy, extra->key, extra->value);
    }
  return copy;
}

void
hb_generation_record_free (HbGenerationRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->prompt);
  g_free (record->negative_prompt);
  g_free (record->sampler);
  g_free (record->schedule);
  g_free (record->rng);
  g_free (record->model_name);
  g_free (record->model_hash);
  g_free (record->parent_path);
  g_free (record->sketch_path);
  g_free (record->mask_path);
  g_free (record->image_path);
  g_ptr_array_unref (record->extras);
  g_free (record);
}

const char *
hb_generation_record_get_extra (const HbGenerationRecord *record,
                                const char               *key)
{
  for (guint i = 0; i < record->extras->len; i++)
    {
      const HbParamExtra *extra = g_ptr_array_index (record->extras, i);

      if (g_str_equal (extra->key, key))
        return extra->value;
    }
  return NULL;
}

void
hb_generation_record_set_extra (HbGenerationRecord *record,
                                const char         *key,
                                const char         *value)
{
  HbParamExtra *extra;

  for (guint i = 0; i < record->extras->len; i++)
    {
      extra = g_ptr_array_index (record->extras, i);
      if (g_str_equal (extra->key, key))
        {
          g_free (extra->value);
          extra->value = g_strdup (value);
          return;
        }
    }
  extra = g_new0 (HbParamExtra, 1);
  extra->key = g_strdup (key);
  extra->value = g_strdup (value);
  g_ptr_array_add (record->extras, extra);
}

static void
set_string (char **field, const char *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

HbGenerationRecord *
hb_generation_record_new_from_params (const HbGenerateParams *params,
                                      const char             *model_name,
                                      const char             *model_hash)
{
  HbGenerationRecord *record = hb_generation_record_new ();

  set_string (&record->prompt, params->prompt ? params->prompt : "");
  set_string (&record->negative_prompt, params->negative_prompt ? params->negative_prompt : "");
  record->steps = params->steps;
  record->sampler = g_strdup (hb_sampler_to_string (params->sampler));
  record->schedule = g_strdup (hb_schedule_to_string (params->schedule));
  record->cfg = params->cfg;
  record->has_seed = TRUE;
  record->seed = params->seed;
  /* Philox is every web UI's default, which they leave unwritten. */
  if (params->rng != HB_RNG_PHILOX)
    record->rng = g_strdup (hb_rng_to_string (params->rng));
  record->width = params->width;
  record->height = params->height;
  if (params->init != NULL)
    record->strength = params->strength;
  record->clip_skip = params->clip_skip;
  record->model_name = g_strdup (model_name);
  record->model_hash = g_strdup (model_hash);
  return record;
}

gboolean
hb_generation_record_apply_to_params (const HbGenerationRecord *record,
                                      HbGenerateParams         *params,
                                      GError                  **error)
{
  g_autoptr(GString) unknown = g_string_new (NULL);

  params->prompt = record->prompt;
  params->negative_prompt = record->negative_prompt;
  if (record->steps > 0)
    params->steps = record->steps;
  if (record->cfg >= 0)
    params->cfg = record->cfg;
  if (record->has_seed)
    params->seed = record->seed;
  if (record->width > 0 && record->height > 0)
    {
      params->width = record->width;
      params->height = record->height;
    }
  if (record->strength >= 0)
    params->strength = record->strength;
  if (record->clip_skip > 0)
    params->clip_skip = record->clip_skip;

  if (record->sampler != NULL && !hb_sampler_from_string (record->sampler, &params->sampler))
    g_string_append_printf (unknown, "“%s”", record->sampler);
  if (record->schedule != NULL && !hb_schedule_from_string (record->schedule, &params->schedule))
    g_string_append_printf (unknown, "%s“%s”", unknown->len ? ", " : "", record->schedule);
  if (record->rng == NULL)
    params->rng = HB_RNG_PHILOX;
  else if (!hb_rng_from_string (record->rng, &params->rng))
    g_string_append_printf (unknown, "%s“%s”", unknown->len ? ", " : "", record->rng);

  if (unknown->len > 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   _("Huabu cannot run %s; the other parameters were applied. "
                     "Pick a sampler, schedule and RNG that Huabu offers."),
                   unknown->str);
      return FALSE;
    }
  return TRUE;
}

/* ---- the "parameters" text ---------------------------------------------- */

/* The web UI writes a value JSON-quoted when it holds a separator. */
static void
append_value (GString *out, const char *value)
{
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *quoted = NULL;

  if (strpbrk (value, ",:\n\"") == NULL)
    {
      g_string_append (out, value);
      return;
    }
  node = json_node_new (JSON_NODE_VALUE);
  json_node_set_string (node, value);
  quoted = json_to_string (node, FALSE);
  g_string_append (out, quoted);
}

static void
append_pair (GString *out, const char *key, const char *value)
{
  if (out->len > 0)
    g_string_append (out, ", ");
  g_string_append_printf (out, "%s: ", key);
  append_value (out, value);
}

static char *
format_double (double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  return g_strdup (g_ascii_formatd (buf, sizeof buf, "%g", value));
}

char *
hb_generation_record_to_parameters (const HbGenerationRecord *record)
{
  g_autoptr(GString) text = g_string_new (record->prompt);
  g_autoptr(GString) line = g_string_new (NULL);
  char buf[64];

  if (record->negative_prompt[0] != '\0')
    g_string_append_printf (text, "\nNegative prompt: %s", record->negative_prompt);

  if (record->steps > 0)
    {
      g_snprintf (buf, sizeof buf, "%d", record->steps);
      append_pair (line, "Steps", buf);
    }
  if (record->sampler != NULL)
    append_pair (line, "Sampler", record->sampler);
  if (record->schedule != NULL)
    append_pair (line, "Schedule type", record->schedule);
  if (record->cfg >= 0)
    {
      g_autofree char *cfg = format_double (record->cfg);
      append_pair (line, "CFG scale", cfg);
    }
  if (record->has_seed)
    {
      g_snprintf (buf, sizeof buf, "%" G_GUINT64_FORMAT, record->seed);
      append_pair (line, "Seed", buf);
    }
  if (record->width > 0 && record->height > 0)
    {
      g_snprintf (buf, sizeof buf, "%dx%d", record->width, record->height);
      append_pair (line, "Size", buf);
    }
  if (record->model_hash != NULL)
    append_pair (line, "Model hash", record->model_hash);
  if (record->model_name != NULL)
    append_pair (line, "Model", record->model_name);
  if (record->strength >= 0)
    {
      g_autofree char *strength = format_double (record->strength);
      append_pair (line, "Denoising strength", strength);
    }
  if (record->clip_skip > 1)
    {
      g_snprintf (buf, sizeof buf, "%d", record->clip_skip);
      append_pair (line, "Clip skip", buf);
    }
  if (record->rng != NULL)
    append_pair (line, "RNG", record->rng);
  for (guint i = 0; i < record->extras->len; i++)
    {
      const HbParamExtra *extra = g_ptr_array_index (record->extras, i);

      append_pair (line, extra->key, extra->value);
    }

  if (line->len > 0)
    g_string_append_printf (text, "\n%s", line->str);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* The web UI's own pattern (modules/infotext_utils.py), so that whatever it
 * accepts, we accept: a key of word characters, spaces, '-' and '/', then a
 * JSON-quoted value or anything up to the next comma. */
static GRegex *
settings_regex (void)
{
  static GRegex *regex;

  if (g_once_init_enter (&regex))
    {
      GRegex *r = g_regex_new ("\\s*(\\w[\\w \\-/]+):\\s*(\"(?:\\\\.|[^\\\\\"])+\"|[^,]*)(?:,|$)",
                               G_REGEX_OPTIMIZE, 0, NULL);
      g_once_init_leave (&regex, r);
    }
  return regex;
}

static GPtrArray *
split_settings_line (const char *line)
{
  g_autoptr(GMatchInfo) match = NULL;
  GPtrArray *pairs = g_ptr_array_new_with_free_func (hb_param_extra_free);

  g_regex_match (settings_regex (), line, 0, &match);
  while (g_match_info_matches (match))
    {
      HbParamExtra *pair = g_new0 (HbParamExtra, 1);
      g_autofree char *key = g_match_info_fetch (match, 1);
      g_autofree char *value = g_match_info_fetch (match, 2);

      pair->key = g_strdup (g_strstrip (key));
      g_strchomp (value);
      if (value[0] == '"' && value[strlen (value) - 1] == '"' && strlen (value) >= 2)
        {
          g_autoptr(JsonNode) node = json_from_string (value, NULL);

          if (node != NULL && JSON_NODE_HOLDS_VALUE (node)
              && json_node_get_value_type (node) == G_TYPE_STRING)
            pair->value = g_strdup (json_node_get_string (node));
        }
      if (pair->value == NULL)
        pair->value = g_strdup (value);
      g_ptr_array_add (pairs, pair);
      g_match_info_next (match, NULL);
    }
  return pairs;
}

static gboolean
parse_int (const char *text, int *out)
{
  gint64 value;

  if (!g_ascii_string_to_signed (text, 10, 0, G_MAXINT, &value, NULL))
    return FALSE;
  *out = (int) value;
  return TRUE;
}

static gboolean
parse_double (const char *text, double *out)
{
  char *end = NULL;
  double value = g_ascii_strtod (text, &end);

  if (end == text || *end != '\0' || !isfinite (value) || value < 0)
    return FALSE;
  *out = value;
  return TRUE;
}

static gboolean
parse_size (const char *text, int *width, int *height)
{
  g_auto(GStrv) parts = g_strsplit (text, "x", 2);

  return g_strv_length (parts) == 2
         && parse_int (parts[0], width) && parse_int (parts[1], height);
}

/* Returns FALSE when the value does not fit the key, so it is kept as an
 * extra instead of being dropped. */
static gboolean
apply_setting (HbGenerationRecord *record, const char *key, const char *value)
{
  if (g_str_equal (key, "Steps"))
    return parse_int (value, &record->steps);
  if (g_str_equal (key, "Sampler"))
    return set_string (&record->sampler, value), TRUE;
  if (g_str_equal (key, "Schedule type"))
    return set_string (&record->schedule, value), TRUE;
  if (g_str_equal (key, "CFG scale"))
    return parse_double (value, &record->cfg);
  if (g_str_equal (key, "Seed"))
    return record->has_seed = g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64,
                                                          &record->seed, NULL);
  if (g_str_equal (key, "Size"))
    return parse_size (value, &record->width, &record->height);
  if (g_str_equal (key, "Model hash"))
    return set_string (&record->model_hash, value), TRUE;
  if (g_str_equal (key, "Model"))
    return set_string (&record->model_name, value), TRUE;
  if (g_str_equal (key, "Denoising strength"))
    return parse_double (value, &record->strength);
  if (g_str_equal (key, "Clip skip"))
    return parse_int (value, &record->clip_skip);
  if (g_str_equal (key, "RNG"))
    return set_string (&record->rng, value), TRUE;
  return FALSE;
}

/* Older web UI versions folded the schedule into the sampler name
 * ("DPM++ 2M Karras"); newer ones split it, and so do we. */
static void
split_sampler_schedule (HbGenerationRecord *record)
{
  static const char *const schedules[] = { "Karras", "Exponential" };

  if (record->sampler == NULL || record->schedule != NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (schedules); i++)
    {
      gsize len = strlen (record->sampler), slen = strlen (schedules[i]);

      if (len > slen + 1 && g_str_has_suffix (record->sampler, schedules[i])
          && record->sampler[len - slen - 1] == ' ')
        {
          record->schedule = g_strdup (schedules[i]);
          record->sampler[len - slen - 1] = '\0';
          return;
        }
    }
}

HbGenerationRecord *
hb_generation_record_from_parameters (const char *text)
{
  g_autoptr(HbGenerationRecord) record = hb_generation_record_new ();
  g_autoptr(GString) prompt = g_string_new (NULL);
  g_autoptr(GString) negative = g_string_new (NULL);
  g_autofree char *copy = g_strdup (text);
  g_auto(GStrv) lines = NULL;
  g_autoptr(GPtrArray) settings = NULL;
  guint n_lines;
  gboolean in_negative = FALSE;

  lines = g_strsplit (g_strstrip (copy), "\n", -1);
  n_lines = g_strv_length (lines);
  if (n_lines > 0)
    {
      settings = split_settings_line (lines[n_lines - 1]);
      /* A prompt line may contain "a: b" by chance; the settings line has
       * at least three pairs, as the web UI requires. */
      if (settings->len >= 3)
        n_lines--;
      else
        g_clear_pointer (&settings, g_ptr_array_unref);
    }

  for (guint i = 0; i < n_lines; i++)
    {
      char *line = g_strstrip (lines[i]);

      if (g_str_has_prefix (line, "Negative prompt:"))
        {
          in_negative = TRUE;
          line = g_strstrip (line + strlen ("Negative prompt:"));
        }
      if (in_negative)
        g_string_append_printf (negative, "%s%s", negative->len ? "\n" : "", line);
      else
        g_string_append_printf (prompt, "%s%s", prompt->len ? "\n" : "", line);
    }
  set_string (&record->prompt, prompt->str);
  set_string (&record->negative_prompt, negative->str);

  for (guint i = 0; settings != NULL && i < settings->len; i++)
    {
      const HbParamExtra *pair = g_ptr_array_index (settings, i);

      if (!apply_setting (record, pair->key, pair->value))
        hb_generation_record_set_extra (record, pair->key, pair->value);
    }
  split_sampler_schedule (record);
  return g_steal_pointer (&record);
}

/* ---- JSON ----------------------------------------------------------------- */

static void
add_string_member (JsonBuilder *builder, const char *name, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

char *
hb_generation_record_to_json (const HbGenerationRecord *record)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_int_value (builder, 1);
  add_string_member (builder, "prompt", record->prompt);
  add_string_member (builder, "negative_prompt", record->negative_prompt);
  if (record->steps > 0)
    {
      json_builder_set_member_name (builder, "steps");
      json_builder_add_int_value (builder, record->steps);
    }
  add_string_member (builder, "sampler", record->sampler);
  add_string_member (builder, "schedule", record->schedule);
  if (record->cfg >= 0)
    {
      json_builder_set_member_name (builder, "cfg");
      json_builder_add_double_value (builder, record->cfg);
    }
  if (record->has_seed)
    {
      /* JSON readers lose integers above 2^53; a string keeps every bit. */
      g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, record->seed);
      add_string_member (builder, "seed", seed);
    }
  add_string_member (builder, "rng", record->rng);
  if (record->width > 0 && record->height > 0)
    {
      json_builder_set_member_name (builder, "width");
      json_builder_add_int_value (builder, record->width);
      json_builder_set_member_name (builder, "height");
      json_builder_add_int_value (builder, record->height);
    }
  if (record->strength >= 0)
    {
      json_builder_set_member_name (builder, "strength");
      json_builder_add_double_value (builder, record->strength);
    }
  if (record->clip_skip > 0)
    {
      json_builder_set_member_name (builder, "clip_skip");
      json_builder_add_int_value (builder, record->clip_skip);
    }
  add_string_member (builder, "model_name", record->model_name);
  add_string_member (builder, "model_hash", record->model_hash);
  if (record->duration_s >= 0)
    {
      json_builder_set_member_name (builder, "duration_s");
      json_builder_add_double_value (builder, record->duration_s);
    }
  if (record->created_us != 0)
    {
      json_builder_set_member_name (builder, "created_us");
      json_builder_add_int_value (builder, record->created_us);
    }

  json_builder_set_member_name (builder, "lineage");
  json_builder_begin_object (builder);
  add_string_member (builder, "parent", record->parent_path);
  add_string_member (builder, "sketch", record->sketch_path);
  add_string_member (builder, "mask", record->mask_path);
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "extras");
  json_builder_begin_array (builder);
  for (guint i = 0; i < record->extras->len; i++)
    {
      const HbParamExtra *extra = g_ptr_array_index (record->extras, i);

      json_builder_begin_array (builder);
      json_builder_add_string_value (builder, extra->key);
      json_builder_add_string_value (builder, extra->value);
      json_builder_end_array (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/* Numbers may arrive as integers or doubles depending on the writer. */
static gboolean
member_number (JsonObject *object, const char *name, double *out)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
      *out = (double) json_node_get_int (node);
      return TRUE;
    case G_TYPE_DOUBLE:
      *out = json_node_get_double (node);
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
member_int (JsonObject *object, const char *name, int *out)
{
  double value;

  if (!member_number (object, name, &value) || value < 0 || value > G_MAXINT)
    return FALSE;
  *out = (int) value;
  return TRUE;
}

static const char *
member_string (JsonObject *object, const char *name)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonObject *
member_object (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static JsonNode *
parse_json_object (const char *json, const char *what, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(JsonNode) root = json_from_string (json, &local_error);

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("The %s metadata is not a JSON object (%s); the picture's "
                     "parameters cannot be read from it."),
                   what, local_error ? local_error->message : _("wrong type"));
      return NULL;
    }
  return g_steal_pointer (&root);
}

HbGenerationRecord *
hb_generation_record_from_json (const char *json, GError **error)
{
  g_autoptr(JsonNode) root = parse_json_object (json, "Huabu", error);
  g_autoptr(HbGenerationRecord) record = NULL;
  JsonObject *object, *lineage;
  JsonNode *extras;
  const char *seed;
  double number;

  if (root == NULL)
    return NULL;
  object = json_node_get_object (root);
  record = hb_generation_record_new ();
  if (member_string (object, "prompt"))
    set_string (&record->prompt, member_string (object, "prompt"));
  if (member_string (object, "negative_prompt"))
    set_string (&record->negative_prompt, member_string (object, "negative_prompt"));
  member_int (object, "steps", &record->steps);
  record->sampler = g_strdup (member_string (object, "sampler"));
  record->schedule = g_strdup (member_string (object, "schedule"));
  member_number (object, "cfg", &record->cfg);
  seed = member_string (object, "seed");
  if (seed != NULL)
    record->has_seed = g_ascii_string_to_unsigned (seed, 10, 0, G_MAXUINT64, &record->seed, NULL);
  record->rng = g_strdup (member_string (object, "rng"));
  member_int (object, "width", &record->width);
  member_int (object, "height", &record->height);
  member_number (object, "strength", &record->strength);
  member_int (object, "clip_skip", &record->clip_skip);
  record->model_name = g_strdup (member_string (object, "model_name"));
  record->model_hash = g_strdup (member_string (object, "model_hash"));
  member_number (object, "duration_s", &record->duration_s);
  if (member_number (object, "created_us", &number))
    record->created_us = (gint64) number;

  lineage = member_object (object, "lineage");
  record->parent_path = g_strdup (member_string (lineage, "parent"));
  record->sketch_path = g_strdup (member_string (lineage, "sketch"));
  record->mask_path = g_strdup (member_string (lineage, "mask"));

  extras = json_object_get_member (object, "extras");
  if (extras != NULL && JSON_NODE_HOLDS_ARRAY (extras))
    {
      JsonArray *array = json_node_get_array (extras);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *pair = json_array_get_element (array, i);
          JsonArray *kv;

          if (!JSON_NODE_HOLDS_ARRAY (pair))
            continue;
          kv = json_node_get_array (pair);
          if (json_array_get_length (kv) == 2
              && json_node_get_value_type (json_array_get_element (kv, 0)) == G_TYPE_STRING
              && json_node_get_value_type (json_array_get_element (kv, 1)) == G_TYPE_STRING)
            hb_generation_record_set_extra (record, json_array_get_string_element (kv, 0),
                                            json_array_get_string_element (kv, 1));
        }
    }
  return g_steal_pointer (&record);
}

/* ---- ComfyUI -------------------------------------------------------------- */

/* A ComfyUI input is a literal or a link [node-id, output-index]. */
static JsonObject *
comfy_linked_node (JsonObject *graph, JsonObject *inputs, const char *name)
{
  JsonNode *link = inputs ? json_object_get_member (inputs, name) : NULL;
  JsonArray *array;
  JsonNode *id;
  g_autofree char *key = NULL;

  if (link == NULL || !JSON_NODE_HOLDS_ARRAY (link))
    return NULL;
  array = json_node_get_array (link);
  if (json_array_get_length (array) < 1)
    return NULL;
  id = json_array_get_element (array, 0);
  if (!JSON_NODE_HOLDS_VALUE (id))
    return NULL;
  if (json_node_get_value_type (id) == G_TYPE_STRING)
    key = g_strdup (json_node_get_string (id));
  else if (json_node_get_value_type (id) == G_TYPE_INT64)
    key = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (id));
  else
    return NULL;
  return member_object (graph, key);
}

static const char *
comfy_text (JsonObject *graph, JsonObject *inputs, const char *name)
{
  JsonObject *node = comfy_linked_node (graph, inputs, name);
  const char *class_type = node ? member_string (node, "class_type") : NULL;

  if (class_type == NULL || strstr (class_type, "CLIPTextEncode") == NULL)
    return NULL;
  inputs = member_object (node, "inputs");
  return inputs ? member_string (inputs, "text") : NULL;
}

static const char *
comfy_sampler_name (const char *name)
{
  static const struct { const char *comfy, *ours; } names[] = {
    { "euler", "Euler" },
    { "euler_ancestral", "Euler a" },
    { "dpmpp_2m", "DPM++ 2M" },
    { "ddim", "DDIM" },
    { "lcm", "LCM" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_str_equal (name, names[i].comfy))
      return names[i].ours;
  return name;
}

static JsonObject *
comfy_find_sampler (JsonObject *graph)
{
  g_autoptr(GList) members = json_object_get_members (graph);

  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonObject *node = member_object (graph, l->data);
      const char *class_type = node ? member_string (node, "class_type") : NULL;

      if (class_type != NULL && g_str_has_prefix (class_type, "KSampler"))
        return node;
    }
  return NULL;
}

static const char *
comfy_find_checkpoint (JsonObject *graph)
{
  g_autoptr(GList) members = json_object_get_members (graph);

  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonObject *node = member_object (graph, l->data);
      const char *class_type = node ? member_string (node, "class_type") : NULL;
      JsonObject *inputs = node ? member_object (node, "inputs") : NULL;

      if (class_type != NULL && strstr (class_type, "CheckpointLoader") != NULL && inputs != NULL)
        return member_string (inputs, "ckpt_name");
    }
  return NULL;
}

HbGenerationRecord *
hb_generation_record_from_comfy (const char *json, GError **error)
{
  g_autoptr(JsonNode) root = parse_json_object (json, "ComfyUI", error);
  g_autoptr(HbGenerationRecord) record = NULL;
  JsonObject *graph, *sampler, *inputs, *latent, *latent_inputs;
  const char *text, *name;
  double number;

  if (root == NULL)
    return NULL;
  graph = json_node_get_object (root);
  sampler = comfy_find_sampler (graph);
  inputs = sampler ? member_object (sampler, "inputs") : NULL;
  if (inputs == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("The ComfyUI workflow has no KSampler node, so there are no "
                     "parameters to restore from it."));
      return NULL;
    }

  record = hb_generation_record_new ();
  if ((text = comfy_text (graph, inputs, "positive")) != NULL)
    set_string (&record->prompt, text);
  if ((text = comfy_text (graph, inputs, "negative")) != NULL)
    set_string (&record->negative_prompt, text);
  if (member_number (inputs, "seed", &number) || member_number (inputs, "noise_seed", &number))
    {
      record->has_seed = number >= 0;
      record->seed = (guint64) number;
    }
  member_int (inputs, "steps", &record->steps);
  member_number (inputs, "cfg", &record->cfg);
  if ((name = member_string (inputs, "sampler_name")) != NULL)
    record->sampler = g_strdup (comfy_sampler_name (name));
  if ((name = member_string (inputs, "scheduler")) != NULL && g_str_equal (name, "karras"))
    record->schedule = g_strdup ("Karras");
  if (member_number (inputs, "denoise", &number) && number < 1.0)
    record->strength = number;

  latent = comfy_linked_node (graph, inputs, "latent_image");
  latent_inputs = latent ? member_object (latent, "inputs") : NULL;
  if (latent_inputs != NULL)
    {
      member_int (latent_inputs, "width", &record->width);
      member_int (latent_inputs, "height", &record->height);
    }
  record->model_name = g_strdup (comfy_find_checkpoint (graph));
  return g_steal_pointer (&record);
}

HbGenerationRecord *
hb_generation_record_from_png_texts (GHashTable *texts, GError **error)
{
  const char *text;

  if ((text = g_hash_table_lookup (texts, HB_PNG_KEY_HUABU)) != NULL)
    {
      HbGenerationRecord *record = hb_generation_record_from_json (text, NULL);

      if (record != NULL)
        return record;
    }
  if ((text = g_hash_table_lookup (texts, HB_PNG_KEY_PARAMETERS)) != NULL)
    return hb_generation_record_from_parameters (text);
  if ((text = g_hash_table_lookup (texts, HB_PNG_KEY_COMFY)) != NULL)
    return hb_generation_record_from_comfy (text, error);

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
               _("The picture carries no generation parameters (no “parameters”, "
                 "“huabu” or ComfyUI “prompt” text)."));
  return NULL;
}
