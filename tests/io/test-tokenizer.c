/* test-tokenizer.c — CLIP BPE against recorded ids, weight syntax,
 * windows of 77, discovery
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "hb-tokenizer.h"
#include "hb-safetensors.h"
#include "hb-backend.h"

static char *
shared_path (const char *rel)
{
  const char *shared = g_getenv ("HB_SHARED_DIR");
  g_autofree char *path = NULL;

  if (shared == NULL)
    return NULL;
  path = g_build_filename (shared, rel, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS) ? g_steal_pointer (&path) : NULL;
}

/* The shared CLIP merges through HUABU_CLIP_TOKENIZER, as a user would
 * point at them; NULL (test skipped) without ../shared. */
static HbTokenizer *
load_clip (void)
{
  g_autofree char *dir = shared_path ("clip-vit-large-patch14");
  g_autoptr(GError) error = NULL;
  HbTokenizer *tok;

  if (dir == NULL)
    {
      g_test_skip ("needs ../shared/clip-vit-large-patch14 (HB_SHARED_DIR)");
      return NULL;
    }
  g_setenv ("HUABU_CLIP_TOKENIZER", dir, TRUE);
  tok = hb_tokenizer_load (NULL, NULL, &error);
  g_unsetenv ("HUABU_CLIP_TOKENIZER");
  g_assert_no_error (error);
  return tok;
}

static void
assert_ids (GArray *ids, const gint32 *want, guint n)
{
  if (ids->len != n || memcmp (ids->data, want, n * sizeof (gint32)) != 0)
    {
      g_autoptr(GString) got = g_string_new (NULL);

      for (guint i = 0; i < ids->len; i++)
        g_string_append_printf (got, " %d", g_array_index (ids, gint32, i));
      g_error ("got ids%s (%u), want %u", got->str, ids->len, n);
    }
}

/* Three shared vectors come from a tokenizer whose letters and
 * lower-casing are ASCII only: it splits "café" into "caf" + "é", leaves
 * "Ü" upper-case and does not split at "、". CLIP itself (simple_tokenizer
 * with the regex module, as Hugging Face's CLIPTokenizer and the web UIs
 * run it) treats them as Unicode letters and punctuation; these are its
 * ids, made with OpenAI's simple_tokenizer.py algorithm. */
static const struct {
  const char *text;
  gint32      ids[24];
  guint       n;
} clip_unicode_cases[] = {
  { "café crème brûlée naïve façade",
    { 15304, 1075, 12138, 614, 711, 127, 119, 75, 13489, 1097, 35689, 563, 778, 10067, 1928 },
    15 },
  { "Ünïcödé ÀÉÎÕÜ ñandú",
    { 6522, 77, 35689, 66, 7255, 67, 4166, 36149, 3459, 48704, 127, 113, 47177, 6445, 672,
      36019 }, 16 },
  { "富士山と桜、浮世絵",
    { 161, 107, 234, 161, 96, 104, 46096, 109, 34671, 162, 94, 506, 45262, 162, 113, 106,
      19759, 244, 37810, 369 }, 20 },
};

static void
test_vectors (void)
{
  g_autoptr(HbTokenizer) tok = load_clip ();
  g_autofree char *path = shared_path ("test-vectors/clip-tokens.json");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *root;
  JsonArray *cases;

  if (tok == NULL)
    return;
  g_assert_nonnull (path);
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (hb_tokenizer_bos (tok), ==, json_object_get_int_member (root, "bos"));
  g_assert_cmpint (hb_tokenizer_eos (tok), ==, json_object_get_int_member (root, "eos"));
  g_assert_cmpuint (hb_tokenizer_vocab_size (tok), ==, 49408);

  cases = json_object_get_array_member (root, "cases");
  g_assert_cmpuint (json_array_get_length (cases), >, 10);
  for (guint c = 0; c < json_array_get_length (cases); c++)
    {
      JsonObject *tc = json_array_get_object_element (cases, c);
      const char *text = json_object_get_string_member (tc, "text");
      JsonArray *want = json_object_get_array_member (tc, "ids");
      g_autoptr(GArray) ids = hb_tokenizer_tokenize (tok, text);
      g_autofree gint32 *w = g_new0 (gint32, json_array_get_length (want) + 1);

      gboolean replaced = FALSE;

      g_test_message ("%s", text);
      for (guint i = 0; i < G_N_ELEMENTS (clip_unicode_cases); i++)
        if (g_str_equal (text, clip_unicode_cases[i].text))
          {
            assert_ids (ids, clip_unicode_cases[i].ids, clip_unicode_cases[i].n);
            replaced = TRUE;
          }
      if (replaced)
        continue;
      for (guint i = 0; i < json_array_get_length (want); i++)
        w[i] = (gint32) json_array_get_int_element (want, i);
      assert_ids (ids, w, json_array_get_length (want));
    }
}

static void
test_windows (void)
{
  g_autoptr(HbTokenizer) tok = load_clip ();
  g_autoptr(HbTokens) t = NULL;
  const gint32 cat[] = { 320, 1125, 539, 320, 2368 };   /* a photo of a cat */

  if (tok == NULL)
    return;
  t = hb_tokenizer_encode (tok, "a photo of a cat");
  g_assert_cmpuint (t->n_chunks, ==, 1);
  g_assert_cmpuint (t->n_tokens, ==, 5);
  g_assert_cmpint (t->ids[0], ==, 49406);
  g_assert_cmpmem (t->ids + 1, sizeof cat, cat, sizeof cat);
  for (int i = 6; i < HB_CLIP_CONTEXT; i++)
    g_assert_cmpint (t->ids[i], ==, 49407);
  for (int i = 0; i < HB_CLIP_CONTEXT; i++)
    g_assert_cmpfloat (t->weights[i], ==, 1.0f);
  g_clear_pointer (&t, hb_tokens_free);

  /* empty: begin, end, padding */
  t = hb_tokenizer_encode (tok, "");
  g_assert_cmpuint (t->n_chunks, ==, 1);
  g_assert_cmpuint (t->n_tokens, ==, 0);
  g_assert_cmpint (t->ids[0], ==, 49406);
  g_assert_cmpint (t->ids[1], ==, 49407);
  g_assert_cmpint (t->ids[76], ==, 49407);
  g_clear_pointer (&t, hb_tokens_free);

  /* a configurable pad id goes after the end token */
  hb_tokenizer_set_pad (tok, 0);
  t = hb_tokenizer_encode (tok, "a photo of a cat");
  g_assert_cmpint (t->ids[6], ==, 49407);
  g_assert_cmpint (t->ids[7], ==, 0);
  g_assert_cmpint (t->ids[76], ==, 0);
  g_clear_pointer (&t, hb_tokens_free);
  hb_tokenizer_set_pad (tok, hb_tokenizer_eos (tok));
}

static void
test_long_prompt (void)
{
  g_autoptr(HbTokenizer) tok = load_clip ();
  g_autoptr(GString) prompt = g_string_new (NULL);
  g_autoptr(HbTokens) t = NULL;

  if (tok == NULL)
    return;
  /* 80 words of one token each ("cat" is 2368) */
  for (int i = 0; i < 80; i++)
    g_string_append (prompt, i == 0 ? "cat" : " cat");
  t = hb_tokenizer_encode (tok, prompt->str);
  g_assert_cmpuint (t->n_tokens, ==, 80);
  g_assert_cmpuint (t->n_chunks, ==, 2);
  g_assert_cmpint (t->ids[0], ==, 49406);
  g_assert_cmpint (t->ids[75], ==, 2368);
  g_assert_cmpint (t->ids[76], ==, 49407);
  g_assert_cmpint (t->ids[77], ==, 49406);
  for (int i = 1; i <= 5; i++)
    g_assert_cmpint (t->ids[77 + i], ==, 2368);
  g_assert_cmpint (t->ids[77 + 6], ==, 49407);
  g_assert_cmpint (t->ids[77 + 76], ==, 49407);
}

static void
test_huge_prompt (void)
{
  g_autoptr(HbTokenizer) tok = load_clip ();
  g_autoptr(GString) prompt = g_string_new (NULL);
  g_autoptr(HbTokens) t = NULL;
  g_autoptr(GArray) ids = NULL;
  gint64 start;
  double seconds;

  if (tok == NULL)
    return;
  for (int i = 0; prompt->len < 10000; i++)
    g_string_append_printf (prompt, "(word%d:1.2), 星空 %c ", i, 'a' + i % 26);
  start = g_get_monotonic_time ();
  t = hb_tokenizer_encode (tok, prompt->str);
  /* one 10 000-letter word is BPE's worst case */
  g_string_set_size (prompt, 0);
  for (int i = 0; i < 10000; i++)
    g_string_append_c (prompt, "abcdefghij"[(i * 7) % 10]);
  ids = hb_tokenizer_tokenize (tok, prompt->str);
  seconds = (g_get_monotonic_time () - start) / 1e6;
  g_test_message ("10 000-character prompts: %.3f s", seconds);
  g_assert_cmpuint (t->n_chunks, >, 20);
  g_assert_cmpuint (t->n_chunks, ==, (t->n_tokens + 74) / 75);
  g_assert_cmpuint (ids->len, >, 1000);
  g_assert_cmpfloat (seconds, <, 5.0);
}

static void
test_unicode (void)
{
  g_autoptr(HbTokenizer) tok = load_clip ();
  const char *texts[] = { "café", "cafe\xcc\x81", "月夜", "🐱", "&amp;", "a\xe3\x80\x80\tb",
                          "invalid \xff utf8" };
  const char *same[][2] = {
    { "café", "cafe\xcc\x81" },                                  /* NFC */
    { "salt &amp;amp; pepper", "salt & pepper" },                /* html.unescape twice */
    { "a\xe3\x80\x80\t\n b", "a b" },                            /* Unicode whitespace */
    /* ftfy's fixes: curly quotes, fullwidth ASCII, ligatures */
    { "don\xe2\x80\x99t \xe2\x80\x9c" "fine\xe2\x80\x9d", "don't \"fine\"" },
    { "\xef\xbc\xa3\xef\xbd\x81\xef\xbd\x94", "cat" },
    { "\xef\xac\x81sh", "fish" },
  };

  if (tok == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autoptr(GArray) ids = hb_tokenizer_tokenize (tok, texts[i]);

      g_assert_cmpuint (ids->len, >, 0);
      for (guint j = 0; j < ids->len; j++)
        g_assert_cmpint (g_array_index (ids, gint32, j), <, 49406);
    }
  /* Clean-up: each pair tokenizes the same. */
  for (guint i = 0; i < G_N_ELEMENTS (same); i++)
    {
      g_autoptr(GArray) a = hb_tokenizer_tokenize (tok, same[i][0]);
      g_autoptr(GArray) b = hb_tokenizer_tokenize (tok, same[i][1]);

      g_test_message ("%s", same[i][1]);
      g_assert_cmpmem (a->data, a->len * 4, b->data, b->len * 4);
    }
}

/* Weights of the prompt tokens of window 0. */
static void
assert_weights (HbTokenizer *tok, const char *prompt, const float *want, guint n)
{
  g_autoptr(HbTokens) t = hb_tokenizer_encode (tok, prompt);

  g_test_message ("%s", prompt);
  g_assert_cmpuint (t->n_tokens, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (t->weights[1 + i], want[i], 1e-5);
  g_assert_cmpfloat (t->weights[0], ==, 1.0f);
  g_assert_cmpfloat (t->weights[1 + n], ==, 1.0f);
}

static void
test_weights (void)
{
  g_autoptr(HbTokenizer) tok = load_clip ();
  const float s = 1.1f;

  if (tok == NULL)
    return;
  /* a photo of a cat: five one-token words */
  assert_weights (tok, "a (photo) of a cat", (float[]) { 1, s, 1, 1, 1 }, 5);
  assert_weights (tok, "a ((photo)) of [a] cat", (float[]) { 1, s * s, 1, 1 / s, 1 }, 5);
  assert_weights (tok, "a (photo:1.5) of a cat", (float[]) { 1, 1.5f, 1, 1, 1 }, 5);
  assert_weights (tok, "a (photo (of:0.5) a) cat", (float[]) { 1, s, s * 0.5f, s, 1 }, 5);
  assert_weights (tok, "a [[photo]] of a cat", (float[]) { 1, 1 / (s * s), 1, 1, 1 }, 5);
  /* unbalanced brackets reach to the end; stray closers are text */
  assert_weights (tok, "a (photo of a cat", (float[]) { 1, s, s, s, s }, 5);
  {
    g_autoptr(HbTokens) t = hb_tokenizer_encode (tok, "a photo) of a cat");
    g_autoptr(GArray) plain = hb_tokenizer_tokenize (tok, "a photo) of a cat");

    g_assert_cmpuint (t->n_tokens, ==, plain->len);
    g_assert_cmpmem (t->ids + 1, plain->len * 4, plain->data, plain->len * 4);
  }
  /* escaped brackets are literal text with weight 1 */
  {
    g_autoptr(HbTokens) t = hb_tokenizer_encode (tok, "\\(photo\\) \\[cat\\]");
    g_autoptr(GArray) plain = hb_tokenizer_tokenize (tok, "(photo) [cat]");

    g_assert_cmpuint (t->n_tokens, ==, plain->len);
    g_assert_cmpmem (t->ids + 1, plain->len * 4, plain->data, plain->len * 4);
    for (guint i = 0; i < plain->len; i++)
      g_assert_cmpfloat (t->weights[1 + i], ==, 1.0f);
  }
  /* weights ride along into the second window */
  {
    g_autoptr(GString) prompt = g_string_new (NULL);
    g_autoptr(HbTokens) t = NULL;

    for (int i = 0; i < 74; i++)
      g_string_append (prompt, "cat ");
    g_string_append (prompt, "(dog dog:1.3) cat");
    t = hb_tokenizer_encode (tok, prompt->str);
    g_assert_cmpuint (t->n_chunks, ==, 2);
    g_assert_cmpfloat_with_epsilon (t->weights[75], 1.3f, 1e-6);
    g_assert_cmpfloat_with_epsilon (t->weights[78], 1.3f, 1e-6);
    g_assert_cmpfloat (t->weights[79], ==, 1.0f);
    g_assert_cmpfloat (t->weights[77], ==, 1.0f);
  }
}

static void
write_file (const char *dir, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
}

/* A tiny vocab.json + merges.txt tokenizer: "ab" merges, "b" and "a" do
 * not merge further. */
static void
test_vocab_json_and_find (void)
{
  g_autofree char *root = g_dir_make_tmp ("hb-tok-XXXXXX", NULL);
  g_autofree char *model_dir = g_build_filename (root, "models", NULL);
  g_autofree char *tok_dir = g_build_filename (model_dir, "tokenizer", NULL);
  g_autofree char *model = g_build_filename (model_dir, "sd.safetensors", NULL);
  g_autofree char *empty_home = g_build_filename (root, "hf", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(HbTokenizer) tok = NULL;
  g_autoptr(GArray) ids = NULL;
  g_autofree char *found = NULL;
  const gint32 want[] = { 7, 3 };

  g_mkdir_with_parents (tok_dir, 0700);
  write_file (tok_dir, "vocab.json",
              "{\"a\":0,\"b\":1,\"a</w>\":2,\"b</w>\":3,\"ab\":4,\"ab</w>\":5,"
              "\"<|startoftext|>\":6,\"<|endoftext|>\":8,\"abb\":7}");
  write_file (tok_dir, "merges.txt", "#version: 0.2\na b\nab b\n");
  write_file (model_dir, "sd.safetensors", "");
  g_setenv ("HF_HOME", empty_home, TRUE);
  g_unsetenv ("HUABU_CLIP_TOKENIZER");
  g_unsetenv ("HF_HUB_CACHE");
  g_unsetenv ("HUGGINGFACE_HUB_CACHE");

  /* beside a single-file model, in tokenizer/ */
  found = hb_tokenizer_find (NULL, model, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, tok_dir);
  tok = hb_tokenizer_load (NULL, model, &error);
  g_assert_no_error (error);
  g_assert_cmpint (hb_tokenizer_bos (tok), ==, 6);
  g_assert_cmpint (hb_tokenizer_eos (tok), ==, 8);
  ids = hb_tokenizer_tokenize (tok, "ABBB");
  /* a b b b</w> -> ab b b</w> -> abb b</w> */
  assert_ids (ids, want, 2);

  /* invalid UTF-8 inside weight syntax (found by fuzz-prompt) reads as
   * U+FFFD, as everywhere else */
  {
    g_autoptr(HbTokens) bad = hb_tokenizer_encode (tok, "(oj:1.2\xff]a (phoo {a]`cat\xc3");
    g_autoptr(HbTokens) good = hb_tokenizer_encode (tok, "(oj:1.2\xef\xbf\xbd]a (phoo {a]`cat"
                                                         "\xef\xbf\xbd");

    g_assert_cmpuint (bad->n_tokens, ==, good->n_tokens);
    g_assert_cmpmem (bad->ids, HB_CLIP_CONTEXT * 4, good->ids, HB_CLIP_CONTEXT * 4);
    g_assert_cmpmem (bad->weights, HB_CLIP_CONTEXT * 4, good->weights, HB_CLIP_CONTEXT * 4);
  }

  /* the model's own tokenizer wins over the environment's */
  {
    g_autofree char *other = g_build_filename (root, "other", NULL);
    g_autofree char *own = NULL;

    g_mkdir_with_parents (other, 0700);
    write_file (other, "merges.txt", "#version: 0.2\na b\n");
    g_setenv ("HUABU_CLIP_TOKENIZER", other, TRUE);
    own = hb_tokenizer_find (NULL, model, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (own, ==, tok_dir);
    g_clear_pointer (&own, g_free);
    own = hb_tokenizer_find (NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (own, ==, other);
    g_unsetenv ("HUABU_CLIP_TOKENIZER");
  }

  /* an explicit file path means its folder */
  g_clear_pointer (&found, g_free);
  {
    g_autofree char *merges = g_build_filename (tok_dir, "merges.txt", NULL);

    found = hb_tokenizer_find (merges, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (found, ==, tok_dir);
  }

  /* nothing anywhere: the message says where it looked */
  g_clear_pointer (&found, g_free);
  found = hb_tokenizer_find (NULL, empty_home, &error);
  g_assert_null (found);
  g_assert_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "HUABU_CLIP_TOKENIZER"));
  g_assert_nonnull (strstr (error->message, "models--openai--clip-vit-large-patch14"));
  g_assert_nonnull (strstr (error->message, empty_home));
  g_clear_error (&error);

  /* the Hugging Face cache layout */
  {
    g_autofree char *snap = g_build_filename (empty_home, "hub",
                                              "models--openai--clip-vit-large-patch14",
                                              "snapshots", "0123abcd", NULL);

    g_mkdir_with_parents (snap, 0700);
    write_file (snap, "merges.txt", "#version: 0.2\na b\n");
    g_clear_pointer (&found, g_free);
    found = hb_tokenizer_find (NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (found, ==, snap);
  }

  /* a broken merges file is refused with its line */
  write_file (tok_dir, "merges.txt", "#version: 0.2\na b\nabc\n");
  g_clear_pointer (&tok, hb_tokenizer_free);
  tok = hb_tokenizer_new_from_dir (tok_dir, &error);
  g_assert_null (tok);
  g_assert_nonnull (strstr (error->message, "line 3"));
  g_clear_error (&error);

  g_unsetenv ("HF_HOME");
  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);

    g_assert_cmpint (system (cmd), ==, 0);
  }
}

/* The built-in model's tokenizer (vocab.json + merges.txt) against the
 * ids the PyTorch reference fed its text encoder (tests/golden). */
static void
test_golden_ids (void)
{
  const char *srcdir = g_getenv ("HB_TEST_SRCDIR");
  g_autofree char *tok_dir = NULL;
  g_autofree char *io_path = NULL;
  g_autofree char *pipe_path = NULL;
  g_autoptr(HbTokenizer) tok = NULL;
  g_autoptr(HbSafetensors) io = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  const char *fields[2][2] = { { "prompt", "text.ids" }, { "negative_prompt", "text.neg_ids" } };

  if (srcdir == NULL)
    {
      g_test_skip ("HB_TEST_SRCDIR is not set");
      return;
    }
  tok_dir = g_build_filename (srcdir, "golden", "tiny-diffusers", "tokenizer", NULL);
  io_path = g_build_filename (srcdir, "golden", "tiny-io.safetensors", NULL);
  pipe_path = g_build_filename (srcdir, "golden", "pipeline.json", NULL);
  tok = hb_tokenizer_new_from_dir (tok_dir, &error);
  g_assert_no_error (error);
  io = hb_safetensors_open (io_path, &error);
  g_assert_no_error (error);
  json_parser_load_from_file (parser, pipe_path, &error);
  g_assert_no_error (error);

  for (int i = 0; i < 2; i++)
    {
      const char *text = json_object_get_string_member (
        json_node_get_object (json_parser_get_root (parser)), fields[i][0]);
      const HbStTensor *want = hb_safetensors_find (io, fields[i][1]);
      g_autoptr(HbTokens) t = hb_tokenizer_encode (tok, text);

      g_assert_nonnull (want);
      g_assert_cmpint (want->dtype, ==, HB_ST_I32);
      g_assert_cmpuint (want->nbytes, ==, HB_CLIP_CONTEXT * sizeof (gint32));
      g_assert_cmpuint (t->n_chunks, ==, 1);
      g_assert_cmpmem (t->ids, HB_CLIP_CONTEXT * sizeof (gint32), want->data, want->nbytes);
    }
}

/* Every prompt the fuzzer kept gives well-formed windows (here with the
 * tiny model's tokenizer, so that it runs without ../shared). */
static void
test_fuzz_corpus (void)
{
  const char *srcdir = g_getenv ("HB_TEST_SRCDIR");
  g_autofree char *tok_dir = NULL;
  g_autofree char *corpus = NULL;
  g_autoptr(HbTokenizer) tok = NULL;
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GError) error = NULL;
  const char *name;
  guint n = 0;

  if (srcdir == NULL)
    {
      g_test_skip ("HB_TEST_SRCDIR is not set");
      return;
    }
  tok_dir = g_build_filename (srcdir, "golden", "tiny-diffusers", "tokenizer", NULL);
  corpus = g_build_filename (srcdir, "fuzz", "corpus-prompt", NULL);
  tok = hb_tokenizer_new_from_dir (tok_dir, &error);
  g_assert_no_error (error);
  dir = g_dir_open (corpus, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (corpus, name, NULL);
      g_autofree char *text = NULL;
      g_autoptr(HbTokens) t = NULL;

      g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
      t = hb_tokenizer_encode (tok, text);
      g_assert_cmpuint (t->n_chunks, ==, MAX (1, (t->n_tokens + 74) / 75));
      for (guint i = 0; i < t->n_chunks * HB_CLIP_CONTEXT; i++)
        {
          g_assert_cmpint (t->ids[i], >=, 0);
          g_assert_cmpint (t->ids[i], <, (gint32) hb_tokenizer_vocab_size (tok));
          g_assert_true (isfinite (t->weights[i]));
        }
      n++;
    }
  g_assert_cmpuint (n, >=, 10);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/huabu/tokenizer/clip-vectors", test_vectors);
  g_test_add_func ("/huabu/tokenizer/windows", test_windows);
  g_test_add_func ("/huabu/tokenizer/long-prompt", test_long_prompt);
  g_test_add_func ("/huabu/tokenizer/huge-prompt", test_huge_prompt);
  g_test_add_func ("/huabu/tokenizer/unicode", test_unicode);
  g_test_add_func ("/huabu/tokenizer/weights", test_weights);
  g_test_add_func ("/huabu/tokenizer/vocab-json-and-find", test_vocab_json_and_find);
  g_test_add_func ("/huabu/tokenizer/golden-ids", test_golden_ids);
  g_test_add_func ("/huabu/tokenizer/fuzz-corpus", test_fuzz_corpus);
  return g_test_run ();
}
