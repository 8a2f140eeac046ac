/* hb-tokenizer.c — CLIP's byte-level BPE and the prompt-weight syntax
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Follows OpenAI CLIP's simple_tokenizer.py (clean-up, split, byte
 * encoding, BPE with "</w>" word ends) and the web UI's
 * parse_prompt_attention() for weights.
 */
#include "hb-tokenizer.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "hb-backend.h"

/* CLIP's vocabulary: 256 byte symbols, the same with "</w>", its first
 * 49152 - 256 - 2 merges, then the two special tokens. */
#define CLIP_N_MERGES (49152 - 256 - 2)
#define CLIP_SPLIT_PATTERN \
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"
/* The web UI's re_attention: escapes, brackets, ":weight)", plain text. */
#define ATTENTION_PATTERN \
  "\\\\\\(|\\\\\\)|\\\\\\[|\\\\]|\\\\\\\\|\\\\|\\(|\\[|" \
  ":\\s*([+-]?[.\\d]+)\\s*\\)|\\)|]|[^\\\\()\\[\\]:]+|:"
#define EMPHASIS_UP   1.1f
#define HB_BPE_CACHE_MAX 50000

struct _HbTokenizer {
  GHashTable *vocab;        /* symbol string -> id + 1 */
  GHashTable *ranks;        /* "first second" -> rank + 1 */
  char       *byte_symbol[256];
  GRegex     *split;
  GRegex     *spaces;
  GRegex     *attention;
  gint32      bos, eos, pad;
  guint       vocab_size;
  /* BPE is the slow part; words repeat, so remember them. The worker
   * thread and the GUI may tokenize at the same time. */
  GMutex      cache_lock;
  GHashTable *cache;        /* byte-encoded word -> GArray of gint32 */
};

/* GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the
 * rest are moved to U+0100 and up, so every byte has a visible symbol. */
static void
init_byte_symbols (HbTokenizer *tok, guint order[256])
{
  gboolean direct[256] = { FALSE };
  guint n = 0, extra = 0;

  for (guint b = '!'; b <= '~'; b++)
    direct[b] = TRUE;
  for (guint b = 0xA1; b <= 0xAC; b++)
    direct[b] = TRUE;
  for (guint b = 0xAE; b <= 0xFF; b++)
    direct[b] = TRUE;

  for (guint b = 0; b < 256; b++)
    if (direct[b])
      {
        char buf[8] = { 0 };

        g_unichar_to_utf8 (b, buf);
        tok->byte_symbol[b] = g_strdup (buf);
        order[n++] = b;
      }
  for (guint b = 0; b < 256; b++)
    if (!direct[b])
      {
        char buf[8] = { 0 };

        g_unichar_to_utf8 (256 + extra++, buf);
        tok->byte_symbol[b] = g_strdup (buf);
        order[n++] = b;
      }
}

static void
vocab_add (HbTokenizer *tok, const char *symbol, gint32 id)
{
  g_hash_table_insert (tok->vocab, g_strdup (symbol), GINT_TO_POINTER (id + 1));
  tok->vocab_size = MAX (tok->vocab_size, (guint) id + 1);
}

static gboolean
vocab_lookup (HbTokenizer *tok, const char *symbol, gint32 *id)
{
  gpointer v = g_hash_table_lookup (tok->vocab, symbol);

  if (v == NULL)
    return FALSE;
  *id = GPOINTER_TO_INT (v) - 1;
  return TRUE;
}

static gboolean
load_vocab_json (HbTokenizer *tok, const char *path, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local_error = NULL;
  g_autofree char *name = g_filename_display_name (path);
  g_autoptr(GList) members = NULL;
  JsonNode *root;
  JsonObject *obj;

  if (!json_parser_load_from_mapped_file (parser, path, &local_error))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "%s: cannot read the tokenizer vocabulary (%s); restore the file "
                   "from the model's download", name, local_error->message);
      return FALSE;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "%s: the tokenizer vocabulary is not a JSON object of token ids; "
                   "restore the file from the model's download", name);
      return FALSE;
    }
  obj = json_node_get_object (root);
  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (obj, l->data);

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
          json_node_get_int (node) < 0 || json_node_get_int (node) >= G_MAXINT32)
        {
          g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                       "%s: the entry for token '%s' is not a token id; restore the file "
                       "from the model's download", name, (const char *) l->data);
          return FALSE;
        }
      vocab_add (tok, l->data, (gint32) json_node_get_int (node));
    }
  return TRUE;
}

static gboolean
load_merges (HbTokenizer *tok, const char *path, gboolean derive_vocab, GError **error)
{
  g_autofree char *contents = NULL;
  g_autofree char *name = g_filename_display_name (path);
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) lines = NULL;
  guint rank = 0;
  gint32 next_id = 512;

  if (!g_file_get_contents (path, &contents, NULL, &local_error))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "Cannot read the tokenizer merges: %s", local_error->message);
      return FALSE;
    }
  if (!g_utf8_validate (contents, -1, NULL))
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "%s: the tokenizer merges are not UTF-8 text; restore the file from "
                   "the model's download", name);
      return FALSE;
    }
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strchomp (lines[i]);
      char *space;

      if (line[0] == '\0' || (i == 0 && g_str_has_prefix (line, "#version")))
        continue;
      if (derive_vocab && rank == CLIP_N_MERGES)
        break;
      space = strchr (line, ' ');
      if (space == NULL || space == line || space[1] == '\0' || strchr (space + 1, ' ') != NULL)
        {
          g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                       "%s: line %u is not a merge of two symbols (\"%s\"); restore the "
                       "file from the model's download", name, i + 1, line);
          return FALSE;
        }
      g_hash_table_insert (tok->ranks, g_strdup (line), GUINT_TO_POINTER (++rank));
      if (derive_vocab)
        {
          g_autofree char *merged = NULL;

          *space = '\0';
          merged = g_strconcat (line, space + 1, NULL);
          vocab_add (tok, merged, next_id++);
        }
    }
  if (rank == 0)
    {
      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "%s: the tokenizer merges file holds no merges; restore the file "
                   "from the model's download", name);
      return FALSE;
    }
  return TRUE;
}

static void
derive_base_vocab (HbTokenizer *tok, const guint order[256])
{
  for (guint i = 0; i < 256; i++)
    {
      g_autofree char *with_end = g_strconcat (tok->byte_symbol[order[i]], "</w>", NULL);

      vocab_add (tok, tok->byte_symbol[order[i]], (gint32) i);
      vocab_add (tok, with_end, (gint32) (256 + i));
    }
}

HbTokenizer *
hb_tokenizer_new_from_files (const char *vocab_path, const char *merges_path, GError **error)
{
  g_autoptr(HbTokenizer) tok = NULL;
  guint order[256];
  gint32 id;

  g_return_val_if_fail (merges_path != NULL, NULL);

  tok = g_new0 (HbTokenizer, 1);
  g_mutex_init (&tok->cache_lock);
  tok->vocab = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  tok->ranks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  tok->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) g_array_unref);
  init_byte_symbols (tok, order);
  /* Unicode-aware \s, \p{L}, \p{N} need PCRE's UCP; GRegex sets it. */
  tok->split = g_regex_new (CLIP_SPLIT_PATTERN, G_REGEX_OPTIMIZE, 0, NULL);
  tok->spaces = g_regex_new ("\\s+", G_REGEX_OPTIMIZE, 0, NULL);
  tok->attention = g_regex_new (ATTENTION_PATTERN, G_REGEX_OPTIMIZE, 0, NULL);
  g_assert (tok->split != NULL && tok->spaces != NULL && tok->attention != NULL);

  if (vocab_path != NULL)
    {
      if (!load_vocab_json (tok, vocab_path, error) ||
          !load_merges (tok, merges_path, FALSE, error))
        return NULL;
    }
  else
    {
      derive_base_vocab (tok, order);
      if (!load_merges (tok, merges_path, TRUE, error))
        return NULL;
      vocab_add (tok, "<|startoftext|>", (gint32) tok->vocab_size);
      vocab_add (tok, "<|endoftext|>", (gint32) tok->vocab_size);
    }

  if (!vocab_lookup (tok, "<|startoftext|>", &tok->bos) ||
      !vocab_lookup (tok, "<|endoftext|>", &tok->eos))
    {
      g_autofree char *name = g_filename_display_name (vocab_path);

      g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
                   "%s: the vocabulary lacks CLIP's <|startoftext|> and <|endoftext|> "
                   "tokens; this is not a CLIP tokenizer", name);
      return NULL;
    }
  tok->pad = tok->eos;
  /* The special tokens are never split. */
  for (int i = 0; i < 2; i++)
    {
      GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));

      id = i == 0 ? tok->bos : tok->eos;
      g_array_append_val (ids, id);
      g_hash_table_insert (tok->cache, g_strdup (i == 0 ? "<|startoftext|>" : "<|endoftext|>"),
                           ids);
    }
  return g_steal_pointer (&tok);
}

HbTokenizer *
hb_tokenizer_new_from_dir (const char *dir, GError **error)
{
  g_autofree char *vocab = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges = g_build_filename (dir, "merges.txt", NULL);

  return hb_tokenizer_new_from_files (g_file_test (vocab, G_FILE_TEST_IS_REGULAR) ? vocab : NULL,
                                      merges, error);
}

void
hb_tokenizer_free (HbTokenizer *tok)
{
  if (tok == NULL)
    return;
  g_clear_pointer (&tok->cache, g_hash_table_unref);
  g_mutex_clear (&tok->cache_lock);
  g_clear_pointer (&tok->split, g_regex_unref);
  g_clear_pointer (&tok->spaces, g_regex_unref);
  g_clear_pointer (&tok->attention, g_regex_unref);
  g_clear_pointer (&tok->vocab, g_hash_table_unref);
  g_clear_pointer (&tok->ranks, g_hash_table_unref);
  for (int i = 0; i < 256; i++)
    g_free (tok->byte_symbol[i]);
  g_free (tok);
}

gint32
hb_tokenizer_bos (HbTokenizer *tok)
{
  return tok->bos;
}

gint32
hb_tokenizer_eos (HbTokenizer *tok)
{
  return tok->eos;
}

gint32
hb_tokenizer_pad (HbTokenizer *tok)
{
  return tok->pad;
}

void
hb_tokenizer_set_pad (HbTokenizer *tok, gint32 pad_id)
{
  g_return_if_fail (pad_id >= 0 && (guint) pad_id < tok->vocab_size);
  tok->pad = pad_id;
}

guint
hb_tokenizer_vocab_size (HbTokenizer *tok)
{
  return tok->vocab_size;
}

/* --- discovery ----------------------------------------------------------- */

static gboolean
try_dir (const char *dir, GPtrArray *looked)
{
  g_autofree char *merges = g_build_filename (dir, "merges.txt", NULL);

  g_ptr_array_add (looked, g_strdup (dir));
  return g_file_test (merges, G_FILE_TEST_IS_REGULAR);
}

/* A folder, or the folder of a file inside it. */
static char *
as_dir (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    return g_strdup (path);
  return g_path_get_dirname (path);
}

static char *
find_in_hf_cache (GPtrArray *looked)
{
  const char *hub = g_getenv ("HF_HUB_CACHE");
  g_autofree char *hub_dir = NULL;
  g_autofree char *snapshots = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (hub == NULL)
    hub = g_getenv ("HUGGINGFACE_HUB_CACHE");
  if (hub != NULL)
    hub_dir = g_strdup (hub);
  else if (g_getenv ("HF_HOME") != NULL)
    hub_dir = g_build_filename (g_getenv ("HF_HOME"), "hub", NULL);
  else
    hub_dir = g_build_filename (g_get_home_dir (), ".cache", "huggingface", "hub", NULL);
  snapshots = g_build_filename (hub_dir, "models--openai--clip-vit-large-patch14",
                                "snapshots", NULL);
  g_ptr_array_add (looked, g_build_filename (snapshots, "*", NULL));
  dir = g_dir_open (snapshots, 0, NULL);
  if (dir == NULL)
    return NULL;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *snap = g_build_filename (snapshots, name, NULL);
      g_autofree char *merges = g_build_filename (snap, "merges.txt", NULL);

      if (g_file_test (merges, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&snap);
    }
  return NULL;
}

char *
hb_tokenizer_find (const char *explicit_path, const char *model_path, GError **error)
{
  g_autoptr(GPtrArray) looked = g_ptr_array_new_with_free_func (g_free);
  const char *env = g_getenv ("HUABU_CLIP_TOKENIZER");
  g_autoptr(GString) list = NULL;
  char *found;

  if (explicit_path != NULL && explicit_path[0] != '\0')
    {
      g_autofree char *dir = as_dir (explicit_path);

      if (try_dir (dir, looked))
        return g_steal_pointer (&dir);
    }
  if (model_path != NULL)
    {
      g_autofree char *base = g_file_test (model_path, G_FILE_TEST_IS_DIR)
                              ? g_strdup (model_path) : g_path_get_dirname (model_path);
      g_autofree char *sub = g_build_filename (base, "tokenizer", NULL);

      if (try_dir (sub, looked))
        return g_steal_pointer (&sub);
      if (try_dir (base, looked))
        return g_steal_pointer (&base);
    }
  /* The environment is a fallback for every model, so a model's own
   * tokenizer beside it wins. */
  if (env != NULL && env[0] != '\0')
    {
      g_autofree char *dir = as_dir (env);

      if (try_dir (dir, looked))
        return g_steal_pointer (&dir);
    }
  found = find_in_hf_cache (looked);
  if (found != NULL)
    return found;

  list = g_string_new (NULL);
  for (guint i = 0; i < looked->len; i++)
    g_string_append_printf (list, "\n  %s", (const char *) looked->pdata[i]);
  g_set_error (error, HB_ENGINE_ERROR, HB_ENGINE_ERROR_INVALID_MODEL,
               "No CLIP tokenizer found (a folder with merges.txt, and optionally "
               "vocab.json, from openai/clip-vit-large-patch14). Put one in a "
               "\"tokenizer\" folder beside the model, or set HUABU_CLIP_TOKENIZER to "
               "its folder. Looked in:%s", list->str);
  return NULL;
}

HbTokenizer *
hb_tokenizer_load (const char *explicit_path, const char *model_path, GError **error)
{
  g_autofree char *dir = hb_tokenizer_find (explicit_path, model_path, error);

  return dir == NULL ? NULL : hb_tokenizer_new_from_dir (dir, error);
}

/* --- text to ids ------------------------------------------------------- */

/* html.unescape() for the entities prompts actually contain. */
static char *
html_unescape (const char *text)
{
  static const struct { const char *name; const char *text; } entities[] = {
    { "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" }, { "quot;", "\"" },
    { "apos;", "'" }, { "nbsp;", "\xc2\xa0" },
  };
  GString *out = g_string_sized_new (strlen (text));

  for (const char *p = text; *p != '\0';)
    {
      gboolean done = FALSE;

      if (*p == '&')
        {
          for (guint i = 0; i < G_N_ELEMENTS (entities) && !done; i++)
            if (g_str_has_prefix (p + 1, entities[i].name))
              {
                g_string_append (out, entities[i].text);
                p += 1 + strlen (entities[i].name);
                done = TRUE;
              }
          if (!done && p[1] == '#')
            {
              gboolean hex = p[2] == 'x' || p[2] == 'X';
              const char *digits = p + (hex ? 3 : 2);
              char *end = NULL;
              guint64 cp = g_ascii_strtoull (digits, &end, hex ? 16 : 10);

              if (end != digits && end - digits <= 8 && *end == ';' &&
                  cp > 0 && cp <= 0x10FFFF && g_unichar_validate ((gunichar) cp))
                {
                  g_string_append_unichar (out, (gunichar) cp);
                  p = end + 1;
                  done = TRUE;
                }
            }
        }
      if (!done)
        g_string_append_c (out, *p++);
    }
  return g_string_free (out, FALSE);
}

/* The parts of ftfy.fix_text() that change what prompts tokenize to:
 * curly quotes from word processors, fullwidth ASCII from CJK input
 * methods, and Latin ligatures. */
static char *
fix_text (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == 0x2018 || c == 0x2019 || c == 0x201A || c == 0x201B)
        g_string_append_c (out, '\'');
      else if (c == 0x201C || c == 0x201D || c == 0x201E || c == 0x201F)
        g_string_append_c (out, '"');
      else if (c >= 0xFF01 && c <= 0xFF5E)
        g_string_append_c (out, (char) (c - 0xFF01 + 0x21));
      else if (c == 0x3000)
        g_string_append_c (out, ' ');
      else if (c >= 0xFB00 && c <= 0xFB06)
        {
          static const char *const ligatures[] = { "ff", "fi", "fl", "ffi", "ffl", "st", "st" };

          g_string_append (out, ligatures[c - 0xFB00]);
        }
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

/* CLIP's basic_clean + whitespace_clean + lower(). ftfy is not available
 * in C: NFC normalisation and fix_text() above stand in for it. */
static char *
clean_text (HbTokenizer *tok, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  g_autofree char *nfc = g_utf8_normalize (valid, -1, G_NORMALIZE_NFC);
  g_autofree char *fixed = fix_text (nfc);
  g_autofree char *once = html_unescape (fixed);
  g_autofree char *twice = html_unescape (once);
  g_autofree char *collapsed = g_regex_replace_literal (tok->spaces, twice, -1, 0, " ", 0, NULL);

  g_strstrip (collapsed);
  return g_utf8_strdown (collapsed, -1);
}

static guint
pair_rank (HbTokenizer *tok, GPtrArray *word, guint i)
{
  g_autofree char *key = g_strconcat (word->pdata[i], " ", word->pdata[i + 1], NULL);
  guint rank = GPOINTER_TO_UINT (g_hash_table_lookup (tok->ranks, key));

  return rank == 0 ? G_MAXUINT : rank;
}

/* Merges the lowest-ranked adjacent pair, every occurrence left to right,
 * until no pair is in the table (CLIP's bpe()). Pair ranks are kept per
 * position and only recomputed next to a merge, so that one very long
 * word stays fast. */
static void
bpe_word (HbTokenizer *tok, const char *encoded, GArray *ids)
{
  g_autoptr(GPtrArray) word = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) ranks = g_array_new (FALSE, FALSE, sizeof (guint));
  char *last;

  for (const char *p = encoded; *p != '\0'; p = g_utf8_next_char (p))
    g_ptr_array_add (word, g_strndup (p, g_utf8_next_char (p) - p));
  if (word->len == 0)
    return;
  last = word->pdata[word->len - 1];
  word->pdata[word->len - 1] = g_strconcat (last, "</w>", NULL);
  g_free (last);

  for (guint i = 0; i + 1 < word->len; i++)
    {
      guint rank = pair_rank (tok, word, i);

      g_array_append_val (ranks, rank);
    }

  /* A merged symbol never forms the merged pair again with a neighbour
   * (that would need an empty symbol), so one left-to-right sweep per
   * rank does what CLIP's pass over the old word does. */
  while (word->len > 1)
    {
      guint best = G_MAXUINT;

      for (guint i = 0; i < ranks->len; i++)
        best = MIN (best, g_array_index (ranks, guint, i));
      if (best == G_MAXUINT)
        break;
      for (guint i = 0; i < ranks->len; i++)
        {
          char *merged;

          if (g_array_index (ranks, guint, i) != best)
            continue;
          merged = g_strconcat (word->pdata[i], word->pdata[i + 1], NULL);
          g_free (word->pdata[i]);
          word->pdata[i] = merged;
          g_ptr_array_remove_index (word, i + 1);
          g_array_remove_index (ranks, i);
          if (i > 0)
            g_array_index (ranks, guint, i - 1) = pair_rank (tok, word, i - 1);
          if (i < ranks->len)
            g_array_index (ranks, guint, i) = pair_rank (tok, word, i);
        }
    }

  for (guint i = 0; i < word->len; i++)
    {
      gint32 id;

      /* Only a vocab.json that does not match its merges lacks a symbol;
       * CLIP's tokenizer maps unknown symbols to the end token. */
      if (!vocab_lookup (tok, word->pdata[i], &id))
        id = tok->eos;
      g_array_append_val (ids, id);
    }
}

static gboolean
is_not_special (gpointer key, gpointer value, gpointer user_data)
{
  return !g_str_has_prefix (key, "<|");
}

static void
tokenize_word (HbTokenizer *tok, const char *word, gsize len, GArray *out)
{
  g_autoptr(GString) encoded = g_string_sized_new (len * 2);
  GArray *ids;

  for (gsize i = 0; i < len; i++)
    g_string_append (encoded, tok->byte_symbol[(guint8) word[i]]);

  g_mutex_lock (&tok->cache_lock);
  ids = g_hash_table_lookup (tok->cache, encoded->str);
  if (ids == NULL)
    {
      /* Prompts reuse a few thousand words; pasted junk must not grow the
       * cache for the life of the program. */
      if (g_hash_table_size (tok->cache) >= HB_BPE_CACHE_MAX)
        g_hash_table_foreach_remove (tok->cache, is_not_special, NULL);
      ids = g_array_new (FALSE, FALSE, sizeof (gint32));
      bpe_word (tok, encoded->str, ids);
      g_hash_table_insert (tok->cache, g_strdup (encoded->str), ids);
    }
  g_array_append_vals (out, ids->data, ids->len);
  g_mutex_unlock (&tok->cache_lock);
}

static void
tokenize_into (HbTokenizer *tok, const char *text, GArray *out)
{
  g_autofree char *clean = clean_text (tok, text);
  g_autoptr(GMatchInfo) match = NULL;

  g_regex_match (tok->split, clean, 0, &match);
  while (g_match_info_matches (match))
    {
      int start, end;

      if (g_match_info_fetch_pos (match, 0, &start, &end) && end > start)
        tokenize_word (tok, clean + start, (gsize) (end - start), out);
      g_match_info_next (match, NULL);
    }
}

GArray *
hb_tokenizer_tokenize (HbTokenizer *tok, const char *text)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));

  g_return_val_if_fail (tok != NULL, ids);
  g_return_val_if_fail (text != NULL, ids);

  tokenize_into (tok, text, ids);
  return ids;
}

/* --- prompt weights ------------------------------------------------------ */

typedef struct {
  char  *text;
  float  weight;
} Segment;

static void
segment_clear (gpointer p)
{
  g_free (((Segment *) p)->text);
}

static void
multiply_from (GArray *segments, guint start, float factor)
{
  for (guint i = start; i < segments->len; i++)
    g_array_index (segments, Segment, i).weight *= factor;
}

static void
add_segment (GArray *segments, const char *text, gsize len)
{
  Segment seg = { g_strndup (text, len), 1.0f };

  g_array_append_val (segments, seg);
}

/* The web UI's parse_prompt_attention(): the same token alternatives and
 * the same handling of unbalanced brackets (they apply to the end). */
static GArray *
parse_weights (HbTokenizer *tok, const char *prompt)
{
  GArray *segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  g_autoptr(GArray) round = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GArray) square = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GMatchInfo) match = NULL;

  g_array_set_clear_func (segments, segment_clear);
  g_regex_match (tok->attention, prompt, 0, &match);
  while (g_match_info_matches (match))
    {
      int start, end, wstart = -1, wend = -1;
      const char *text;
      gsize len;

      g_match_info_fetch_pos (match, 0, &start, &end);
      g_match_info_fetch_pos (match, 1, &wstart, &wend);
      text = prompt + start;
      len = (gsize) (end - start);

      if (text[0] == '\\')
        add_segment (segments, text + 1, len - 1);
      else if (text[0] == '(')
        g_array_append_val (round, segments->len);
      else if (text[0] == '[')
        g_array_append_val (square, segments->len);
      else if (wstart >= 0 && round->len > 0)
        {
          g_autofree char *num = g_strndup (prompt + wstart, (gsize) (wend - wstart));
          char *num_end = NULL;
          double w = g_ascii_strtod (num, &num_end);

          if (num_end == num)
            add_segment (segments, text, len);
          else
            {
              multiply_from (segments, g_array_index (round, guint, round->len - 1), (float) w);
              g_array_set_size (round, round->len - 1);
            }
        }
      else if (text[0] == ')' && round->len > 0)
        {
          multiply_from (segments, g_array_index (round, guint, round->len - 1), EMPHASIS_UP);
          g_array_set_size (round, round->len - 1);
        }
      else if (text[0] == ']' && square->len > 0)
        {
          multiply_from (segments, g_array_index (square, guint, square->len - 1),
                         1.0f / EMPHASIS_UP);
          g_array_set_size (square, square->len - 1);
        }
      else
        add_segment (segments, text, len);
      g_match_info_next (match, NULL);
    }
  for (guint i = 0; i < round->len; i++)
    multiply_from (segments, g_array_index (round, guint, i), EMPHASIS_UP);
  for (guint i = 0; i < square->len; i++)
    multiply_from (segments, g_array_index (square, guint, i), 1.0f / EMPHASIS_UP);

  /* Neighbours with the same weight are one piece of text: "a" "b" must
   * tokenize like "ab". */
  for (guint i = 0; i + 1 < segments->len;)
    {
      Segment *a = &g_array_index (segments, Segment, i);
      Segment *b = &g_array_index (segments, Segment, i + 1);

      if (a->weight == b->weight)
        {
          char *joined = g_strconcat (a->text, b->text, NULL);

          g_free (a->text);
          a->text = joined;
          g_array_remove_index (segments, i + 1);
        }
      else
        i++;
    }
  return segments;
}

HbTokens *
hb_tokenizer_encode (HbTokenizer *tok, const char *prompt)
{
  g_autoptr(GArray) segments = NULL;
  g_autofree char *valid = NULL;
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr(GArray) weights = g_array_new (FALSE, FALSE, sizeof (float));
  HbTokens *tokens;

  g_return_val_if_fail (tok != NULL, NULL);
  g_return_val_if_fail (prompt != NULL, NULL);

  /* GRegex does not check its subject: invalid UTF-8 would make it read
   * past the end. */
  valid = g_utf8_make_valid (prompt, -1);
  segments = parse_weights (tok, valid);
  for (guint i = 0; i < segments->len; i++)
    {
      const Segment *seg = &g_array_index (segments, Segment, i);
      guint before = ids->len;

      tokenize_into (tok, seg->text, ids);
      for (guint j = before; j < ids->len; j++)
        g_array_append_val (weights, seg->weight);
    }

  tokens = g_new0 (HbTokens, 1);
  tokens->n_tokens = ids->len;
  tokens->n_chunks = MAX (1, (ids->len + HB_CLIP_CHUNK - 1) / HB_CLIP_CHUNK);
  tokens->ids = g_new (gint32, tokens->n_chunks * HB_CLIP_CONTEXT);
  tokens->weights = g_new (float, tokens->n_chunks * HB_CLIP_CONTEXT);
  for (guint c = 0; c < tokens->n_chunks; c++)
    {
      gint32 *cid = tokens->ids + c * HB_CLIP_CONTEXT;
      float *cw = tokens->weights + c * HB_CLIP_CONTEXT;
      guint first = c * HB_CLIP_CHUNK;
      guint n = MIN (HB_CLIP_CHUNK, ids->len - MIN (first, ids->len));

      cid[0] = tok->bos;
      if (n > 0)
        memcpy (cid + 1, &g_array_index (ids, gint32, first), n * sizeof (gint32));
      cid[1 + n] = tok->eos;
      for (guint j = 2 + n; j < HB_CLIP_CONTEXT; j++)
        cid[j] = tok->pad;
      for (guint j = 0; j < HB_CLIP_CONTEXT; j++)
        cw[j] = j >= 1 && j <= n ? g_array_index (weights, float, first + j - 1) : 1.0f;
    }
  return tokens;
}

void
hb_tokens_free (HbTokens *tokens)
{
  if (tokens == NULL)
    return;
  g_free (tokens->ids);
  g_free (tokens->weights);
  g_free (tokens);
}
