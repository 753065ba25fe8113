#!/usr/bin/env python3
"""Writes testdata/text/t5-reference-ids.json: what Python's transformers makes of every string of
testdata/text/corpus.json with each committed T5 Unigram model, for T5TokenizerReferenceTest (which runs with no
Python). Run from the repository root after train_t5_unigram.py:

    python3 pipeline/src/test/python/t5_reference_ids.py

Two tokenizers per model folder:
  slow  transformers' SentencePiece-backed tokenizer (SentencePieceBackend, legacy=True, </s> appended), which is
        what transformers 4's slow T5Tokenizer was and what FLUX.1's reference code (black-forest-labs/flux) calls;
        it reads spiece.model. Its ids are cross-checked against the sentencepiece library itself + [</s>].
  fast  transformers' T5Tokenizer (5.x: the tokenizers-backed class, T5TokenizerFast is its alias), which is what
        diffusers' FluxPipeline calls; it reads tokenizer.json.
Each is called as FLUX.1 calls it, tokenizer(text, truncation=True, max_length=256, padding="max_length"), and
unpadded, tokenizer(text).input_ids. Where slow and fast disagree the script says so on stderr and records both;
the Java test checks the spiece.model form against slow and the tokenizer.json form against fast.
"""
import json
import os
import sys

import sentencepiece as spm
from tokenizers import Tokenizer
from transformers import T5TokenizerFast
from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
TEXT = os.path.join(ROOT, "testdata", "text")
MODELS = ["t5-unigram", "t5-unigram-bytes"]
MAX_LENGTH = 256  # FLUX.1 [schnell]; the Java test also checks truncation at this length


def slow_tokenizer(folder):
    extra_ids = [f"<extra_id_{i}>" for i in range(99, -1, -1)]  # T5's order: <extra_id_0> gets the last id
    return SentencePieceBackend(
        vocab_file=os.path.join(folder, "spiece.model"),
        legacy=True,
        eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        additional_special_tokens=extra_ids,
        special_tokens_pattern="eos",
        model_max_length=512,
    )


def legacy_layout(folder):
    """The committed tokenizer.json rewritten in the older layout (the one transformers' generic SentencePiece
    converter still writes, and FLUX.1 folders saved by transformers 4 resemble): Precompiled, Strip(right),
    Replace(" {2,}" -> "▁") normalizers and a lone Metaspace with the pre-prepend_scheme key add_prefix_space.
    T5TokenizerReferenceTest makes the same rewrite, so this layout is checked without committing a third file."""
    layout = json.load(open(os.path.join(folder, "tokenizer.json"), encoding="utf-8"))
    layout["normalizer"] = {"type": "Sequence", "normalizers": [
        layout["normalizer"],
        {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]}
    layout["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}
    return Tokenizer.from_str(json.dumps(layout))


def main():
    corpus = json.load(open(os.path.join(TEXT, "corpus.json"), encoding="utf-8"))
    out = {"max_length": MAX_LENGTH, "corpus_size": len(corpus), "models": {}}
    for name in MODELS:
        folder = os.path.join(TEXT, name)
        slow = slow_tokenizer(folder)
        fast = T5TokenizerFast.from_pretrained(folder)
        legacy = legacy_layout(folder)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "spiece.model"))
        assert slow.convert_tokens_to_ids("<extra_id_0>") == fast.convert_tokens_to_ids("<extra_id_0>")
        entries = []
        disagreements = 0
        for index, text in enumerate(corpus):
            result = {}
            for kind, tok in (("slow", slow), ("fast", fast)):
                ids = tok(text).input_ids
                padded = tok(text, truncation=True, max_length=MAX_LENGTH, padding="max_length").input_ids
                assert len(padded) == MAX_LENGTH, (name, kind, index, len(padded))
                # The padded ids are stored without their trailing <pad> (0) run: the test pads back to MAX_LENGTH.
                trimmed = list(padded)
                while trimmed and trimmed[-1] == 0:
                    trimmed.pop()
                result[kind] = {"ids": ids, "padded": trimmed}
            if "<" not in text:  # no special-token text: the slow one must be plain sentencepiece + </s>
                assert result["slow"]["ids"] == sp.encode(text) + [1], (name, index, text)
            result["fast_legacy_layout"] = {"ids": legacy.encode(text).ids}
            slow_padded = result["slow"]["padded"]
            assert slow_padded == (result["slow"]["ids"][:-1][:MAX_LENGTH - 1] + [1])[:len(slow_padded)]
            if result["fast_legacy_layout"]["ids"] != result["fast"]["ids"]:
                print(f"{name} #{index} {text!r}: legacy layout {result['fast_legacy_layout']['ids'][:16]}"
                      f" fast {result['fast']['ids'][:16]}", file=sys.stderr)
            if result["slow"] != result["fast"]:
                disagreements += 1
                print(f"{name} #{index} {text!r}: slow {result['slow']['ids'][:16]} fast {result['fast']['ids'][:16]}"
                      f" pieces slow {slow.convert_ids_to_tokens(result['slow']['ids'][:16])}"
                      f" fast {fast.convert_ids_to_tokens(result['fast']['ids'][:16])}", file=sys.stderr)
            entries.append(result)
        print(f"{name}: slow == fast on {len(corpus) - disagreements}/{len(corpus)} corpus strings", file=sys.stderr)
        out["models"][name] = {"slow_equals_fast": len(corpus) - disagreements, "entries": entries}
    with open(os.path.join(TEXT, "t5-reference-ids.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
