# SPDX-License-Identifier: GPL-3.0-or-later
"""Trains the built-in model's tiny CLIP-style byte-level BPE on the captions.

Output is in OpenAI CLIP's format so any CLIP tokenizer (Huabu's C one
included) reads it unchanged:
  merges.txt  '#version: 0.2' then one merge 'a b' per line, in rank order
  vocab.json  the 256 byte characters, the same with '</w>', one token per
              merge, then <|startoftext|> and <|endoftext|> (CLIP's order)
Words are split with CLIP's pattern and mapped through the byte->unicode
table; the last symbol of a word carries '</w>'.

Usage: python3 bpe_train.py OUTDIR
"""

import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "reference"))

import shapes_dataset  # noqa: E402
from sd_reference import _CLIP_PAT, bytes_to_unicode, vocab_from_merges  # noqa: E402


def word_counts(texts):
    enc = bytes_to_unicode()
    counts = collections.Counter()
    for text in texts:
        for piece in _CLIP_PAT.findall(" ".join(text.split()).lower()):
            counts["".join(enc[b] for b in piece.encode("utf-8"))] += 1
    return counts


def train(counts, max_merges=2000):
    """Greedy BPE: repeatedly merge the most frequent adjacent pair (ties:
    the lexicographically smallest pair, so the result is deterministic)
    until every word is one symbol or max_merges is reached."""
    words = {w: list(w[:-1]) + [w[-1] + "</w>"] for w in counts}
    merges = []
    while len(merges) < max_merges:
        pairs = collections.Counter()
        for w, syms in words.items():
            for p in zip(syms, syms[1:]):
                pairs[p] += counts[w]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w, syms in words.items():
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == best:
                    out.append(syms[i] + syms[i + 1])
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[w] = out
    return merges


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    texts = shapes_dataset.all_caption_words()
    texts += [p["prompt"] for p in shapes_dataset.heldout_prompts()]
    merges = train(word_counts(texts))
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.writelines(f"{a} {b}\n" for a, b in merges)
    vocab = vocab_from_merges(merges)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    print(f"{len(merges)} merges, vocabulary of {len(vocab)}")


if __name__ == "__main__":
    main()
