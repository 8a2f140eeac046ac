/* hb-tokenizer.h — CLIP's byte-level BPE and the prompt-weight syntax
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Turns a prompt into what the CLIP text encoder reads: windows of 77
 * token ids (begin, up to 75 tokens, end, padding) with a weight per
 * token. Artists' emphasis syntax follows the web UI convention:
 * "(word)" x1.1, "[word]" /1.1, "(word:1.4)", nesting multiplies, and
 * "\(" "\)" "\[" "\]" are literal brackets. A prompt longer than 75
 * tokens becomes several windows, which the model encodes one by one and
 * concatenates; nothing is cut off.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define HB_CLIP_CONTEXT    77   /* ids per window */
#define HB_CLIP_CHUNK      75   /* prompt tokens per window */

typedef struct _HbTokenizer HbTokenizer;

typedef struct {
  guint    n_chunks;     /* >= 1 */
  gint32  *ids;          /* n_chunks * HB_CLIP_CONTEXT */
  float   *weights;      /* n_chunks * HB_CLIP_CONTEXT; 1.0 for begin/end/padding */
  guint    n_tokens;     /* prompt tokens, without begin/end/padding */
} HbTokens;

/* dir holds merges.txt and optionally vocab.json; without vocab.json the
 * vocabulary is derived from the merges as CLIP does. */
HbTokenizer *hb_tokenizer_new_from_dir  (const char *dir, GError **error);
/* vocab_path may be NULL. */
HbTokenizer *hb_tokenizer_new_from_files (const char *vocab_path, const char *merges_path,
                                          GError **error);
void         hb_tokenizer_free          (HbTokenizer *tok);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbTokenizer, hb_tokenizer_free)

/* Where the tokenizer for a model lives, first match wins:
 * explicit_path (a folder, or a file inside it); the model's own (model_path
 * may be a diffusers folder or a single .safetensors file: its tokenizer/
 * folder, then its own folder); $HUABU_CLIP_TOKENIZER; then the Hugging
 * Face cache's openai/clip-vit-large-patch14 snapshots. A folder counts
 * when it holds merges.txt. Either argument may be NULL. Returns the
 * folder; the error lists every place looked at. */
char        *hb_tokenizer_find          (const char *explicit_path, const char *model_path,
                                         GError **error);
HbTokenizer *hb_tokenizer_load          (const char *explicit_path, const char *model_path,
                                         GError **error);

gint32       hb_tokenizer_bos           (HbTokenizer *tok);
gint32       hb_tokenizer_eos           (HbTokenizer *tok);
gint32       hb_tokenizer_pad           (HbTokenizer *tok);
/* SD 1.x pads with the end token (the default); SD 2.x with 0. */
void         hb_tokenizer_set_pad       (HbTokenizer *tok, gint32 pad_id);
guint        hb_tokenizer_vocab_size    (HbTokenizer *tok);

/* Plain BPE ids of text, without begin/end and without weight syntax. */
GArray      *hb_tokenizer_tokenize      (HbTokenizer *tok, const char *text);
/* The prompt with weight syntax, as the text encoder's input windows. */
HbTokens    *hb_tokenizer_encode        (HbTokenizer *tok, const char *prompt);
void         hb_tokens_free             (HbTokens *tokens);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbTokens, hb_tokens_free)

G_END_DECLS
