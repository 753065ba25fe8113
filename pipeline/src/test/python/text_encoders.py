#!/usr/bin/env python3
"""FLUX.1's two text encoders as small self-contained PyTorch modules, for machines without transformers (the GPU
machine's peer, kernels/bench/pipeline_peer.py) and for the key layout of the random full-size files
(jmh/peers/make_full_size_pipeline.py):

  T5Encoder    transformers' T5EncoderModel for T5 v1.1 (gated-GELU feed-forward, RMS layer norms, no attention
               scaling, the relative position bias of block 0 shared by every block): last_hidden_state
  ClipText     transformers' CLIPTextModel (pre-LayerNorm blocks, quick-GELU, causal attention, final LayerNorm):
               last_hidden_state and pooler_output, the final state at the end token (with the legacy
               eos_token_id 2 of FLUX.1's config the first position of each row's largest id, else the first
               position holding eos_token_id)

Parameter names are transformers' (state dicts load with strict=True: T5's "shared.weight" and the encoder's
blocks; the tied "encoder.embed_tokens.weight" is not a parameter here, as FLUX.1's single T5 files leave it out;
CLIP's under "text_model."), and every parameter is a plain nn.Linear / nn.Embedding / nn.LayerNorm weight, so the
modules can be built on the meta device and loaded with assign=True. Attention is
F.scaled_dot_product_attention (T5: the position bias as an additive mask and scale 1; CLIP: is_causal).

    python3 pipeline/src/test/python/text_encoders.py

checks both against transformers (where it is installed) on tiny random configs on the CPU: the same parameter names
and shapes in the same order (so make_full_size_pipeline.py draws the same values as from transformers' modules), and the outputs within 3e-5 of each output's RMS in float32 (T5: 9e-6 seen, the float32 rounding of large
unscaled attention logits) and within 1e-10 in float64, so the math is the same, not only close (T5 also past the
128-token max_distance, where the buckets turn logarithmic; CLIP with both end-token rules). Weights are drawn with
standard deviation 0.3 and norm weights near 1: large activations on purpose.
"""
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn


# --- T5 v1.1 encoder -------------------------------------------------------------------------------------------
class T5Norm(nn.Module):
    """transformers' T5LayerNorm: RMS over the last axis in float32, no mean, no bias."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return self.weight * x


class T5Attention(nn.Module):
    def __init__(self, d_model, d_kv, heads, buckets, has_bias):
        super().__init__()
        inner = d_kv * heads
        self.heads, self.d_kv = heads, d_kv
        self.q = nn.Linear(d_model, inner, bias=False)
        self.k = nn.Linear(d_model, inner, bias=False)
        self.v = nn.Linear(d_model, inner, bias=False)
        self.o = nn.Linear(inner, d_model, bias=False)
        if has_bias:
            self.relative_attention_bias = nn.Embedding(buckets, heads)

    def forward(self, x, bias):
        b, l, _ = x.shape
        split = lambda t: t.view(b, l, self.heads, self.d_kv).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=1.0)
        return self.o(out.transpose(1, 2).reshape(b, l, self.heads * self.d_kv))


class T5AttentionLayer(nn.Module):
    def __init__(self, d_model, d_kv, heads, buckets, has_bias, eps):
        super().__init__()
        self.SelfAttention = T5Attention(d_model, d_kv, heads, buckets, has_bias)
        self.layer_norm = T5Norm(d_model, eps)

    def forward(self, x, bias):
        return x + self.SelfAttention(self.layer_norm(x), bias)


class T5GatedFeedForward(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.wi_0 = nn.Linear(d_model, d_ff, bias=False)
        self.wi_1 = nn.Linear(d_model, d_ff, bias=False)
        self.wo = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        h = F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x)  # gelu_new
        return self.wo(h.to(self.wo.weight.dtype))


class T5FeedForwardLayer(nn.Module):
    def __init__(self, d_model, d_ff, eps):
        super().__init__()
        self.DenseReluDense = T5GatedFeedForward(d_model, d_ff)
        self.layer_norm = T5Norm(d_model, eps)

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class T5Block(nn.Module):
    def __init__(self, d_model, d_kv, d_ff, heads, buckets, has_bias, eps):
        super().__init__()
        self.layer = nn.ModuleList([T5AttentionLayer(d_model, d_kv, heads, buckets, has_bias, eps), T5FeedForwardLayer(d_model, d_ff, eps)])

    def forward(self, x, bias):
        return self.layer[1](self.layer[0](x, bias))


def t5_relative_buckets(length, buckets, max_distance, device):
    """transformers' _relative_position_bucket, bidirectional: key position minus query position -> bucket."""
    rel = torch.arange(length, device=device)[None, :] - torch.arange(length, device=device)[:, None]
    half = buckets // 2
    out = (rel > 0).long() * half
    rel = rel.abs()
    max_exact = half // 2
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact) * (half - max_exact)).long()
    large = torch.minimum(large, torch.full_like(large, half - 1))
    return out + torch.where(rel < max_exact, rel, large)


class T5Encoder(nn.Module):
    """T5EncoderModel's encoder stack. config: vocab_size, d_model, d_kv, d_ff, num_layers, num_heads,
    relative_attention_num_buckets, relative_attention_max_distance, layer_norm_epsilon (transformers' names)."""

    def __init__(self, config):
        super().__init__()
        c = dict(relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6) | dict(config)
        self.config = c
        self.shared = nn.Embedding(c["vocab_size"], c["d_model"])
        self.encoder = nn.Module()
        self.encoder.block = nn.ModuleList([T5Block(c["d_model"], c["d_kv"], c["d_ff"], c["num_heads"], c["relative_attention_num_buckets"], i == 0,
                                                    c["layer_norm_epsilon"]) for i in range(c["num_layers"])])
        self.encoder.final_layer_norm = T5Norm(c["d_model"], c["layer_norm_epsilon"])

    def forward(self, ids):
        """ids [B, L] -> last_hidden_state [B, L, d_model]."""
        x = self.shared(ids)
        rab = self.encoder.block[0].layer[0].SelfAttention.relative_attention_bias
        buckets = t5_relative_buckets(ids.shape[1], self.config["relative_attention_num_buckets"], self.config["relative_attention_max_distance"],
                                      ids.device)
        bias = rab(buckets).permute(2, 0, 1)[None]  # [1, H, L, L]
        for block in self.encoder.block:
            x = block(x, bias)
        return self.encoder.final_layer_norm(x)


# --- CLIP text tower -------------------------------------------------------------------------------------------
LEGACY_EOS_TOKEN_ID = 2


class ClipAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))  # transformers' order

    def forward(self, x):
        b, l, d = x.shape
        split = lambda t: t.view(b, l, self.heads, d // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)), is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(b, l, d))


class ClipMlp(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, inner), nn.Linear(inner, d)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class ClipLayer(nn.Module):
    def __init__(self, d, inner, heads, eps):
        super().__init__()
        self.self_attn = ClipAttention(d, heads)
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.mlp = ClipMlp(d, inner)
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class ClipText(nn.Module):
    """CLIPTextModel. config: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
    max_position_embeddings, layer_norm_eps, eos_token_id (transformers' names; quick_gelu)."""

    def __init__(self, config):
        super().__init__()
        c = dict(layer_norm_eps=1e-5, eos_token_id=LEGACY_EOS_TOKEN_ID) | dict(config)
        self.config = c
        d = c["hidden_size"]
        self.text_model = nn.Module()
        self.text_model.embeddings = nn.Module()
        self.text_model.embeddings.token_embedding = nn.Embedding(c["vocab_size"], d)
        self.text_model.embeddings.position_embedding = nn.Embedding(c["max_position_embeddings"], d)
        self.text_model.encoder = nn.Module()
        self.text_model.encoder.layers = nn.ModuleList([ClipLayer(d, c["intermediate_size"], c["num_attention_heads"], c["layer_norm_eps"])
                                                        for _ in range(c["num_hidden_layers"])])
        self.text_model.final_layer_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, ids):
        """ids [B, L] -> (last_hidden_state [B, L, d], pooler_output [B, d])."""
        tm = self.text_model
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding(torch.arange(ids.shape[1], device=ids.device))[None]
        for layer in tm.encoder.layers:
            x = layer(x)
        x = tm.final_layer_norm(x)
        eos = self.config["eos_token_id"]
        end = ids.argmax(-1) if eos == LEGACY_EOS_TOKEN_ID else (ids == eos).int().argmax(-1)
        return x, x[torch.arange(x.shape[0], device=x.device), end]


# --- the check against transformers --------------------------------------------------------------------------------
def _randomize(module, gen):
    """Every parameter random (norm weights near 1), so that no part can be silently skipped."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


def _rel(a, b):
    return ((a - b).abs().max() / b.pow(2).mean().sqrt()).item()


def check(bound=3e-5, bound64=1e-10):
    try:
        from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel
    except ImportError as e:
        print(f"transformers not installed ({e}): nothing to check against")
        return False
    torch.set_grad_enabled(False)
    gen = torch.Generator().manual_seed(18)
    worst = {torch.float32: 0.0, torch.float64: 0.0}
    t5c = dict(vocab_size=300, d_model=48, d_kv=12, d_ff=80, num_layers=3, num_heads=4, relative_attention_num_buckets=32,
               relative_attention_max_distance=128)
    hf = T5EncoderModel(T5Config(**t5c, feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
                                 dropout_rate=0.0)).eval()
    _randomize(hf, gen)
    ours = T5Encoder(t5c).eval()
    theirs = {k: v for k, v in hf.state_dict().items() if k != "encoder.embed_tokens.weight"}
    assert [(k, tuple(v.shape)) for k, v in theirs.items()] == [(k, tuple(v.shape)) for k, v in ours.state_dict().items()], "T5 names"
    ours.load_state_dict(theirs, strict=True)
    for length in (20, 300):  # 300: offsets past max_distance 128 (the logarithmic buckets and their clamp)
        ids = torch.randint(0, t5c["vocab_size"], (2, length), generator=gen)
        for dt in worst:
            hf.to(dt), ours.to(dt)
            e = _rel(ours(ids), hf(input_ids=ids).last_hidden_state)
            worst[dt] = max(worst[dt], e)
            print(f"T5 {length} tokens, {dt}: max |diff| / RMS = {e:.2e}")
    for eos in (LEGACY_EOS_TOKEN_ID, 299):
        cc = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                  eos_token_id=eos)
        hf = CLIPTextModel(CLIPTextConfig(**cc, hidden_act="quick_gelu", bos_token_id=298, pad_token_id=1, projection_dim=64)).eval()
        _randomize(hf, gen)
        ours = ClipText(cc).eval()
        theirs = {k if k.startswith("text_model.") else "text_model." + k: v for k, v in hf.state_dict().items() if not k.endswith("position_ids")}
        assert [(k, tuple(v.shape)) for k, v in theirs.items()] == [(k, tuple(v.shape)) for k, v in ours.state_dict().items()], "CLIP names"
        ours.load_state_dict(theirs, strict=True)
        ids = torch.randint(3, 290, (3, 77), generator=gen)
        ids[:, 0] = 298
        for row, end in enumerate((5, 40, 76)):  # an end token, then padding with the end token (FLUX.1's CLIP tokenizer)
            ids[row, end:] = 299
        for dt in worst:
            hf.to(dt), ours.to(dt)
            got_h, got_p = ours(ids)
            out = hf(input_ids=ids)
            for name, g, w in (("last_hidden_state", got_h, out.last_hidden_state), ("pooler_output", got_p, out.pooler_output)):
                e = _rel(g, w)
                worst[dt] = max(worst[dt], e)
                print(f"CLIP eos_token_id {eos} {name}, {dt}: max |diff| / RMS = {e:.2e}")
    print(f"worst: float32 {worst[torch.float32]:.2e} (bound {bound:.0e}), float64 {worst[torch.float64]:.2e} (bound {bound64:.0e})")
    assert worst[torch.float32] < bound and worst[torch.float64] < bound64, worst
    return True


if __name__ == "__main__":
    sys.exit(0 if check() else 1)
