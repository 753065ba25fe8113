"""Reference cases for the Java text encoders beyond the golden ones: other sizes, batch > 1, BF16/F16/F8_E4M3
weights, sharded checkpoints, CLIP's non-legacy end token. Each case is a folder like the golden ones
(config.json, weights as transformers saves them, inputs.safetensors with input_ids, outputs.safetensors),
computed by transformers' own T5EncoderModel / CLIPTextModel in float32 on CPU from random weights.

Weights stored in a narrow type are the reference's weights: the model computes with the stored values widened,
which is what untwist does with weights kept in their stored type. The outputs are computed in float64 (and
stored as float32) so that the reference's own rounding does not eat the tests' tolerance.

Run from the repository root (needs torch, transformers, safetensors):
    python3 pipeline/src/test/python/make_encoder_cases.py testdata/text-encoders
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

torch.backends.cuda.matmul.allow_tf32 = False
out_root = sys.argv[1]


def widen_(model, stored):
    """Rounds every parameter to its stored type and back, so the float32 model computes with the stored values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(stored[name].to(torch.float32))


def write_case(name, model, config, stored, ids, shard=False, files=None):
    files = stored if files is None else files
    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    widen_(model, stored)
    model.eval()
    with torch.no_grad():
        out32 = model(input_ids=ids)
        # The stored reference is computed in float64 from the same weights: float32 runs of these sharper
        # random models differ from it by up to ~1e-4 of the RMS, as much as the tolerance the tests allow.
        out = model.double()(input_ids=ids)
    out = type(out)(**{k: v.float() for k, v in out.items()})
    rms = out.last_hidden_state.pow(2).mean().sqrt().item()
    print(name, "float32 vs float64 run: max |diff| / RMS =", (out32.last_hidden_state - out.last_hidden_state).abs().max().item() / rms)
    config.save_pretrained(folder)
    if shard:  # two shards and a Hugging Face index, as sharded pipelines ship them
        names = sorted(files)
        half = len(names) // 2
        parts = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
        weight_map = {}
        for file, keys in parts.items():
            save_file({k: files[k].contiguous() for k in keys}, os.path.join(folder, file), metadata={"format": "pt"})
            weight_map.update({k: file for k in keys})
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=1)
    else:
        save_file({k: v.contiguous() for k, v in files.items()}, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    save_file({"input_ids": ids}, os.path.join(folder, "inputs.safetensors"))
    outputs = {"last_hidden_state": out.last_hidden_state.contiguous()}
    if getattr(out, "pooler_output", None) is not None:
        outputs["pooler_output"] = out.pooler_output.contiguous()
    save_file(outputs, os.path.join(folder, "outputs.safetensors"))
    print(name, tuple(ids.shape), {str(v.dtype) for v in files.values()})


def stored_as(model, matrix_dtype, vector_dtype):
    """The state dict as a checkpoint would store it: matrices (and tables) in one type, vectors in another."""
    sd = {}
    for k, v in model.state_dict().items():
        sd[k] = v.to(matrix_dtype if v.dim() >= 2 else vector_dtype)
    return sd


def t5_case(name, seed, vocab, d_model, d_kv, heads, d_ff, layers, buckets, max_distance, batch, length, matrix_dtype, vector_dtype,
            shard=False):
    torch.manual_seed(seed)
    config = T5Config(vocab_size=vocab, d_model=d_model, d_kv=d_kv, d_ff=d_ff, num_layers=layers, num_heads=heads,
                      relative_attention_num_buckets=buckets, relative_attention_max_distance=max_distance,
                      feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False, tie_word_embeddings=True)
    model = T5EncoderModel(config)
    with torch.no_grad():  # larger than the default init so that every layer matters
        for p in model.parameters():
            p.normal_(0, 0.3 if p.dim() == 1 else 0.1)
        for n, p in model.named_parameters():
            if "layer_norm" in n:
                p.add_(1.0)
    stored = stored_as(model, matrix_dtype, vector_dtype)
    files = {k: v.clone() for k, v in stored.items() if k != "encoder.embed_tokens.weight"}  # tied: stored once as shared.weight
    ids = torch.randint(2, vocab, (batch, length))
    for b in range(batch):  # end token then padding, at a different place per row
        end = length - 1 - 3 * b
        ids[b, end] = 1
        ids[b, end + 1:] = 0
    write_case(name, model, config, stored, ids, shard, files)


def clip_case(name, seed, vocab, hidden, heads, inter, layers, positions, act, eos, batch, length, matrix_dtype, vector_dtype, shard=False,
              prefix=""):
    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                            num_attention_heads=heads, max_position_embeddings=positions, hidden_act=act, eos_token_id=eos,
                            bos_token_id=0 if eos == 2 else vocab - 2, pad_token_id=1)
    model = CLIPTextModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3 if p.dim() == 1 else 0.1)
        for n, p in model.named_parameters():
            if "layer_norm" in n and n.endswith("weight"):
                p.add_(1.0)
    stored = stored_as(model, matrix_dtype, vector_dtype)
    stored.pop("text_model.embeddings.position_ids", None)
    end_id = vocab - 1 if eos == 2 else eos
    ids = torch.randint(3, vocab - 2, (batch, length))
    for b in range(batch):
        ids[b, 0] = vocab - 2
        end = length - 1 - 2 * b
        ids[b, end] = end_id
        ids[b, end + 1:] = end_id if eos == 2 else 1
    # transformers 5 saves CLIPTextModel keys without the "text_model." prefix that FLUX.1's checkpoints carry
    write_case(name, model, config, stored, ids, shard, {prefix + k: v for k, v in stored.items()})


t5_case("t5-wide-bf16", 11, vocab=333, d_model=96, d_kv=24, heads=6, d_ff=200, layers=3, buckets=32, max_distance=20,
        batch=3, length=40, matrix_dtype=torch.bfloat16, vector_dtype=torch.bfloat16)
t5_case("t5-fp8-sharded", 12, vocab=250, d_model=64, d_kv=16, heads=4, d_ff=128, layers=2, buckets=16, max_distance=64,
        batch=2, length=70, matrix_dtype=torch.float8_e4m3fn, vector_dtype=torch.float32, shard=True)
clip_case("clip-wide-bf16", 21, vocab=517, hidden=96, heads=6, inter=160, layers=3, positions=20, act="quick_gelu", eos=2,
          batch=3, length=20, matrix_dtype=torch.bfloat16, vector_dtype=torch.bfloat16, prefix="text_model.")
clip_case("clip-eos-f16-sharded", 22, vocab=211, hidden=48, heads=3, inter=80, layers=2, positions=12, act="gelu_new", eos=5,
          batch=2, length=12, matrix_dtype=torch.float16, vector_dtype=torch.float16, shard=True)
