/* fuzz-prompt.c — libFuzzer target for prompt parsing and CLIP BPE
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Any bytes typed or pasted as a prompt must give windows of valid ids,
 * never a crash. Uses the tokenizer in $HUABU_CLIP_TOKENIZER, else the
 * tiny model's from tests/golden.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hb-tokenizer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static HbTokenizer *
tokenizer (void)
{
  static HbTokenizer *tok;

  if (tok == NULL)
    {
      const char *dir = g_getenv ("HUABU_CLIP_TOKENIZER");

      tok = hb_tokenizer_new_from_dir (dir ? dir : HB_FUZZ_TOKENIZER_DIR, NULL);
      if (tok == NULL)
        abort ();
    }
  return tok;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  HbTokenizer *tok = tokenizer ();
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr(HbTokens) tokens = hb_tokenizer_encode (tok, text);
  guint vocab = hb_tokenizer_vocab_size (tok);

  if (tokens->n_chunks < 1 || tokens->n_chunks != MAX (1, (tokens->n_tokens + 74) / 75))
    abort ();
  for (guint i = 0; i < tokens->n_chunks * HB_CLIP_CONTEXT; i++)
    if (tokens->ids[i] < 0 || (guint) tokens->ids[i] >= vocab || !(tokens->weights[i] == tokens->weights[i]))
      abort ();
  return 0;
}
