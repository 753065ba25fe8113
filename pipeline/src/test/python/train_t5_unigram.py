#!/usr/bin/env python3
"""Trains the project's own small T5-style SentencePiece Unigram models (no real T5 vocabulary is committed).

Run from the repository root (needs sentencepiece, protobuf, transformers):

    python3 pipeline/src/test/python/train_t5_unigram.py

It writes, deterministically (fixed seed, single-threaded trainer), two folders laid out like a FLUX.1
pipeline's tokenizer_2/:

    testdata/text/t5-unigram/        plain T5 conventions (unknown characters become <unk>)
    testdata/text/t5-unigram-bytes/  the same, trained with byte_fallback=True (<0xNN> pieces)

each with spiece.model (the slow form) and tokenizer.json, tokenizer_config.json, special_tokens_map.json
(written by transformers' T5 tokenizer converted from spiece.model, i.e. the fast form).

T5's conventions reproduced: <pad> id 0, </s> id 1, <unk> id 2, no <s>; nmt_nfkc normalization (so the model
carries a precompiled charsmap), a dummy "▁" prefix, extra whitespace removed; and transformers' 100
<extra_id_N> sentinels appended after the SentencePiece vocabulary (extra_id_99 first, as T5 has them).

The training text is generated here (English-like image prompts, some accented words, a few other scripts,
digits and punctuation); it is NOT the test corpus testdata/text/corpus.json.
"""
import json
import os
import random
import shutil
import sys
import tempfile

import sentencepiece as spm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
OUT = os.path.join(ROOT, "testdata", "text")

SUBJECTS = """cat dog fox horse lighthouse castle city forest river mountain robot astronaut dragon knight
princess wizard ship train car bicycle garden flower rose tree house cabin village bridge tower market
street cafe library museum ocean beach island desert canyon waterfall lake bird owl eagle whale shark
butterfly bee spider tiger lion bear wolf rabbit deer elephant girl boy woman man child old fisherman
dancer musician painter chef soldier monk samurai ninja pirate queen king portrait landscape skyline
temple cathedral station airport spaceship planet moon star galaxy nebula cloud storm rainbow sunset
sunrise night morning winter summer autumn spring snow rain fog mist fire ice crystal stone glass""".split()
ADJECTIVES = """beautiful detailed highly intricate vibrant colorful dark bright soft warm cold ancient modern
futuristic cozy tiny huge giant small old young happy sad mysterious magical golden silver red blue green
yellow purple orange black white pink brown misty foggy snowy rainy sunny cinematic dramatic moody
minimalist surreal realistic photorealistic abstract geometric elegant rustic vintage retro neon glowing
shiny wooden metallic floating broken hidden quiet busy crowded empty lonely peaceful epic""".split()
STYLES = """oil painting|watercolor|digital art|concept art|pencil sketch|charcoal drawing|3D render|
pixel art|anime style|studio photo|film photograph|matte painting|illustration|poster|comic book style|
ukiyo-e print|low poly|isometric view|macro shot|wide angle|long exposure|bokeh|octane render|
unreal engine|trending on artstation|8k|4k|HDR|35mm|50mm lens|f/1.8|ISO 100""".replace("\n", "").split("|")
PREPOSITIONS = "in on under over near behind beside above through across at with without of by from".split()
CONNECTORS = ["and", "with", "while", "next to", "surrounded by", "in front of", "made of", "covered in"]
ACCENTED = """café naïve résumé crème brûlée façade Ångström Müller Straße São Paulo Zürich Málaga
señor niño piñata jalapeño über schön Köln Genève élève fiancée déjà vu coöperate Dvořák Kraków""".split()
OTHER_SCRIPTS = """Привет мир город река лес кот собака Москва Ελλάδα θάλασσα ήλιος γάτα 東京 日本 猫 山 川 花
こんにちは さくら ねこ 中文 你好 世界 한국 고양이 서울 שלום مرحبا""".split()
PUNCTUATION = [",", ".", "!", "?", ":", ";", "-", "(", ")", "'", '"', "/", "&", "%", "#", "@", "+", "="]


def number(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randrange(10))
    if kind == 1:
        return str(rng.randrange(1000))
    if kind == 2:
        return f"{rng.randrange(100)}.{rng.randrange(100)}"
    if kind == 3:
        return f"{rng.randrange(1900, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if kind == 4:
        return f"{rng.randrange(1, 100)}%"
    return f"${rng.randrange(1, 500)}.{rng.randrange(100):02d}"


def phrase(rng):
    words = []
    for _ in range(rng.randrange(1, 3)):
        words.append(rng.choice(ADJECTIVES))
    words.append(rng.choice(SUBJECTS))
    if rng.random() < 0.6:
        words += [rng.choice(PREPOSITIONS), "a" if rng.random() < 0.5 else "the", rng.choice(SUBJECTS)]
    return " ".join(words)


def prompt(rng):
    parts = [("a " if rng.random() < 0.5 else "") + phrase(rng)]
    for _ in range(rng.randrange(0, 3)):
        parts.append(rng.choice(CONNECTORS) + " " + phrase(rng))
    text = " ".join(parts)
    extras = []
    for _ in range(rng.randrange(0, 4)):
        extras.append(rng.choice(STYLES))
    if rng.random() < 0.3:
        extras.append(number(rng))
    if rng.random() < 0.25:
        extras.append(" ".join(rng.choice(ACCENTED) for _ in range(rng.randrange(1, 3))))
    if rng.random() < 0.1:
        extras.append(" ".join(rng.choice(OTHER_SCRIPTS) for _ in range(rng.randrange(1, 3))))
    if extras:
        text += ", " + ", ".join(extras)
    if rng.random() < 0.3:
        text += rng.choice(PUNCTUATION)
    if rng.random() < 0.2:
        text = text.capitalize()
    if rng.random() < 0.05:
        text = text.upper()
    return text


def write_training_text(path, lines=20000, seed=15):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            f.write(prompt(rng) + "\n")


def train(corpus, folder, vocab_size, byte_fallback):
    os.makedirs(folder, exist_ok=True)
    # The trainer spec inside spiece.model records the input and prefix paths: relative names keep the file the
    # same from run to run.
    workdir = os.getcwd()
    os.chdir(os.path.dirname(corpus))
    spm.SentencePieceTrainer.train(
        input=os.path.basename(corpus),
        model_prefix="spiece",
        model_type="unigram",
        vocab_size=vocab_size,
        character_coverage=0.9995,  # leaves the rarest characters out, so <unk> (or byte fallback) happens
        normalization_rule_name="nmt_nfkc",
        add_dummy_prefix=True,
        remove_extra_whitespaces=True,
        byte_fallback=byte_fallback,
        pad_id=0, pad_piece="<pad>",
        eos_id=1, eos_piece="</s>",
        unk_id=2, unk_piece="<unk>",
        bos_id=-1,
        num_threads=1,  # deterministic output
        minloglevel=2,
    )
    os.chdir(workdir)
    prefix = os.path.join(os.path.dirname(corpus), "spiece")
    shutil.move(prefix + ".model", os.path.join(folder, "spiece.model"))
    os.remove(prefix + ".vocab")
    return os.path.join(folder, "spiece.model")


def save_fast_form(spiece_model, folder):
    """What a FLUX.1 tokenizer_2/ holds besides spiece.model: transformers' own conversion of it.

    transformers 5 converts only through from_pretrained on a folder holding spiece.model and no tokenizer.json
    (the constructor's vocab_file= alone builds a placeholder vocabulary of 104 tokens).
    """
    from transformers import T5TokenizerFast

    with tempfile.TemporaryDirectory() as source, tempfile.TemporaryDirectory() as saved:
        shutil.copyfile(spiece_model, os.path.join(source, "spiece.model"))
        tokenizer = T5TokenizerFast.from_pretrained(source, extra_ids=100, model_max_length=512)
        pieces = spm.SentencePieceProcessor(model_file=spiece_model).get_piece_size()
        assert len(tokenizer) == pieces + 100, f"conversion gave {len(tokenizer)} tokens for {pieces} pieces + 100"
        tokenizer.save_pretrained(saved)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if os.path.exists(os.path.join(saved, name)):
                shutil.copyfile(os.path.join(saved, name), os.path.join(folder, name))
            elif name == "special_tokens_map.json":
                # transformers 5 no longer writes this file; FLUX.1 folders (saved by transformers 4) carry it.
                with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                    json.dump({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                               "additional_special_tokens": [f"<extra_id_{i}>" for i in range(100)]}, f, indent=2)
                    f.write("\n")
        print(f"{folder}: transformers wrote {sorted(os.listdir(saved))}, {len(tokenizer)} tokens")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "train.txt")
        write_training_text(corpus)
        for name, vocab_size, byte_fallback in (("t5-unigram", 1500, False), ("t5-unigram-bytes", 800, True)):
            folder = os.path.join(OUT, name)
            if os.path.isdir(folder):
                shutil.rmtree(folder)
            model = train(corpus, folder, vocab_size, byte_fallback)
            save_fast_form(model, folder)


if __name__ == "__main__":
    main()
