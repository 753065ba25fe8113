#!/usr/bin/env python3
"""Reference token ids for ClipTokenizerReferenceTest: transformers' CLIP tokenizer run on testdata/text/corpus.json.

How to run (from the repository root; needs python3 with transformers and tokenizers, no network):

    bin/fetch-test-vocab                                   # puts the open_clip_torch wheel in .cache/test-vocab/
    python3 pipeline/src/test/python/clip_reference_ids.py           # rewrites testdata/text/clip-reference-ids.json
    python3 pipeline/src/test/python/clip_reference_ids.py --check   # only compares with the committed file

The CLIP vocabulary is not in git (licence and size): the script builds an openai/clip-vit-large-patch14 style
tokenizer/ folder (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json) in a temporary directory
from open_clip's bpe_simple_vocab_16e6.txt.gz, exactly as OpenAI's SimpleTokenizer derives its vocabulary, and loads
it with transformers. The Java test fixture (ClipVocabFixture) builds the same folder the same way.

Each corpus string is tokenized as FLUX.1's pipeline does it,
    tokenizer(text, padding="max_length", max_length=77, truncation=True)
and also without truncation or padding, tokenizer(text), for the unpadded ids.

transformers 5 has one CLIP tokenizer only (CLIPTokenizerFast is an alias of the tokenizers-backed CLIPTokenizer).
transformers 4 had a pure Python CLIPTokenizer beside CLIPTokenizerFast; when the script runs under transformers 4
(e.g. PYTHONPATH=/some/dir/with/transformers-4) it tokenizes with both and lists every string where they disagree.
The committed file comes from transformers 5 (the tokenizers-backed one); --check then tells whether another
implementation agrees with it.

Last cross-check (--check under transformers 4.57.6 / tokenizers 0.22.2, no ftfy installed):
  * CLIPTokenizerFast agrees on 268/268 corpus strings and 15/16 extras; it differs on "<|ENDOFTEXT|>!!" because
    transformers 4 registers the special tokens with normalized=True (matched after lower-casing), 5 with False.
  * the pure Python CLIPTokenizer agrees on 253/268: without ftfy it runs BERT's BasicTokenizer, which drops
    control/format characters (NUL, BEL, DEL, ZWSP, ZWJ, soft hyphen, BOM, U+FFFD, private use) and splits CJK
    ideographs into one word each, and its lower() makes a final sigma ς. Diffusers' FLUX pipelines load the class
    named CLIPTokenizer, i.e. that slow one under transformers 4 and the tokenizers-backed one under 5.
"""
import argparse
import gzip
import json
import os
import sys
import tempfile
import zipfile

WHEEL_NAME = "open_clip_torch-3.3.0-py3-none-any.whl"
BPE_ENTRY = "open_clip/bpe_simple_vocab_16e6.txt.gz"
MAX_LENGTH = 77
BOS, EOS = "<|startoftext|>", "<|endoftext|>"

# Edge cases the shared corpus does not cover (it is not ours to edit), kept as "extra_entries".
EXTRA_STRINGS = [
    "<|ENDOFTEXT|>!!",          # not the special token (case-sensitive, raw text) but CLIP's pattern literal
    "<|endoftext|>!!", "!!<|endoftext|>", "a<|startoftext|>b", "<|endoftext", "<|endoftext|><|startoftext|>",
    "ΣΑΣ ΟΔΟΣ",                 # lower case per code point: final sigma stays σ
    "İstanbul ǅ ẞ",             # multi-char and title-case lower-casing
    "cafe\u0301 vs café",       # NFC
    "x\u2028y\u00a0z\u3000w\u0085v\u180ez",  # Unicode whitespace (U+180E is not White_Space any more)
    "## #hashtag #### #:",      # merges.txt lines that start with '#'
    "don't DON'T it’s we'LL",   # contractions after lower-casing, typographic apostrophe
    "ⅷ ① x² ٣٤ 𝟘𝟙",             # \p{N} beyond ASCII digits, mathematical digits outside the BMP
    "ﬁne ＡＢＣ",                 # no NFKC: the ligature and full-width letters stay
    "a" * 300,                  # one long word: the merge loop must not be cubic
    "🏳️‍🌈 👍🏽 🇩🇪",                # variation selector, ZWJ, skin tone, regional indicators
]


def repo_root():
    here = os.path.dirname(os.path.abspath(__file__))
    while not os.path.isdir(os.path.join(here, "testdata")):
        parent = os.path.dirname(here)
        if parent == here:
            sys.exit("clip_reference_ids.py: no testdata/ folder above " + os.path.abspath(__file__))
        here = parent
    return here


def byte_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes get U+0100 upwards."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    # Vocabulary order is printable bytes first, then the others, as in OpenAI's bytes_to_unicode().
    return [table[b] for b in printable] + [table[b] for b in range(256) if b not in printable]


def build_tokenizer_folder(wheel, folder):
    with zipfile.ZipFile(wheel) as zf:
        lines = gzip.decompress(zf.read(BPE_ENTRY)).decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    symbols = byte_to_unicode()
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges] + [BOS, EOS]
    assert len(vocab) == 49408, len(vocab)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")

    def added(token):
        return {"content": token, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True,
                "__type": "AddedToken"}

    config = {"unk_token": added(EOS), "bos_token": added(BOS), "eos_token": added(EOS), "pad_token": EOS,
              "add_prefix_space": False, "errors": "replace", "do_lower_case": True,
              "model_max_length": MAX_LENGTH, "tokenizer_class": "CLIPTokenizer"}
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    with open(os.path.join(folder, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(special, f, indent=2)


def tokenize_all(tokenizer, corpus):
    out = []
    for text in corpus:
        ids = tokenizer(text)["input_ids"]
        padded = tokenizer(text, padding="max_length", max_length=MAX_LENGTH, truncation=True)["input_ids"]
        out.append({"text": text, "ids": list(ids), "padded": list(padded)})
    return out


def main():
    import transformers
    import tokenizers

    root = repo_root()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", default=os.path.join(root, ".cache", "test-vocab", WHEEL_NAME))
    parser.add_argument("--out", default=os.path.join(root, "testdata", "text", "clip-reference-ids.json"))
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args()
    if not os.path.isfile(args.wheel):
        sys.exit(f"{args.wheel}: missing; run bin/fetch-test-vocab first")
    with open(os.path.join(root, "testdata", "text", "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)

    transformers.logging.set_verbosity_error()  # over-length prompts warn once each; expected here
    with tempfile.TemporaryDirectory() as folder:
        build_tokenizer_folder(args.wheel, folder)
        fast = transformers.CLIPTokenizerFast.from_pretrained(folder)
        implementations = {type(fast).__module__ + "." + type(fast).__name__: fast}
        if transformers.CLIPTokenizer is not transformers.CLIPTokenizerFast:
            slow = transformers.CLIPTokenizer.from_pretrained(folder)
            implementations[type(slow).__module__ + "." + type(slow).__name__ + " (slow)"] = slow
        else:
            print(f"transformers {transformers.__version__}: CLIPTokenizer and CLIPTokenizerFast are one class "
                  f"({type(fast).__name__}, tokenizers backend); no separate slow tokenizer to compare")
        results = {name: tokenize_all(tok, corpus) for name, tok in implementations.items()}
        extras = {name: tokenize_all(tok, EXTRA_STRINGS) for name, tok in implementations.items()}

    names = list(results)
    entries = results[names[0]]
    for name in names[1:]:
        differing = [e["text"] for e, o in zip(extras[names[0]], extras[name]) if e != o]
        print(f"extra strings, {names[0]} vs {name}: {len(EXTRA_STRINGS) - len(differing)}/{len(EXTRA_STRINGS)} "
              f"agree; differing: {differing}")
    for other in names[1:]:
        differing = [i for i, (a, b) in enumerate(zip(entries, results[other])) if a != b]
        print(f"{names[0]} vs {other}: {len(corpus) - len(differing)}/{len(corpus)} strings agree")
        for i in differing:
            print(f"  [{i}] {corpus[i]!r}\n    {names[0]}: {entries[i]['ids']}\n    {other}: {results[other][i]['ids']}")

    if args.check:
        with open(args.out, encoding="utf-8") as f:
            committed_file = json.load(f)
        committed = committed_file["entries"]
        for name in names:
            differing = [i for i, (a, b) in enumerate(zip(committed, results[name])) if a != b]
            extra_differing = [e["text"] for e, o in zip(committed_file["extra_entries"], extras[name]) if e != o]
            print(f"{args.out} vs {name}: {len(corpus) - len(differing)}/{len(corpus)} strings agree, "
                  f"{len(EXTRA_STRINGS) - len(extra_differing)}/{len(EXTRA_STRINGS)} extra strings")
            for i in differing:
                print(f"  [{i}] {corpus[i]!r}\n    committed: {committed[i]['ids']}\n    {name}: {results[name][i]['ids']}")
        return

    header = {"generator": "pipeline/src/test/python/clip_reference_ids.py",
              "tokenizer": names[0], "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
              "vocabulary": f"{WHEEL_NAME}!{BPE_ENTRY}, openai/clip-vit-large-patch14 layout",
              "call": f'tokenizer(text, padding="max_length", max_length={MAX_LENGTH}, truncation=True)'}
    with open(args.out, "w", encoding="utf-8") as f:  # one entry a line: reviewable diffs
        f.write("{\n")
        for key, value in header.items():
            f.write(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
        f.write('  "entries": [\n')
        f.write(",\n".join("    " + json.dumps(e, ensure_ascii=True) for e in entries))
        f.write('\n  ],\n  "extra_entries": [\n')
        f.write(",\n".join("    " + json.dumps(e, ensure_ascii=True) for e in extras[names[0]]))
        f.write("\n  ]\n}\n")
    print(f"wrote {len(entries)} entries and {len(EXTRA_STRINGS)} extra entries to {os.path.relpath(args.out, root)}")


if __name__ == "__main__":
    main()
